//! `mailsift deliver`: takes stamped messages off the delivery queues and
//! relays each to its domain's `delivery_target` (or a smarthost). The
//! input is acknowledged only after the next hop accepted every recipient,
//! or what it did not accept was handled: deferred recipients go to the
//! region's retry queue (exponential backoff, up to a limit), refused ones
//! get a delivery-status notification to the sender or go to the
//! dead-letter queue.

use crate::client::{NextHop, Outcome, Relay};
use crate::dsn::{self, Failed};
use crate::recent::Recent;
use arc_swap::ArcSwap;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, LongString};
use mailsift_amqp::outputs::properties;
use mailsift_amqp::session::Handler;
use mailsift_amqp::{contract, Output, PublishError, Publisher, Settle, Topology};
use mailsift_core::rules::DeliveryTls;
use mailsift_core::{Engine, Envelope};
use mailsift_telemetry::events::{Delivered, DuplicateSkipped};
use mailsift_telemetry::Telemetry;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Header: delivery attempts so far.
pub const DELIVER_ATTEMPT: &str = "x-mailsift-deliver-attempt";
/// Header: not to be tried before this Unix time (milliseconds).
pub const NOT_BEFORE: &str = "x-mailsift-not-before";
/// Header: why a message was dead-lettered by delivery.
pub const DELIVERY_ERROR: &str = "x-mailsift-delivery-error";

/// What happens to recipients refused for good.
#[derive(Clone, Debug)]
pub enum OnPermanentFailure {
    /// A delivery-status notification to the sender, through this relay
    /// (an MTA that reaches the Internet); the message is dead-lettered
    /// when the report itself cannot be sent, and for the null sender.
    Dsn(NextHop),
    /// The message goes to the dead-letter queue with the reason.
    DeadLetter,
}

/// Delivery settings.
#[derive(Clone, Debug)]
pub struct DeliverConfig {
    /// EHLO name (and the DSN's Reporting-MTA).
    pub hostname: String,
    /// Every message to this next hop instead of the domain's
    /// `delivery_target` (a Postfix re-injection port, a test sink), with
    /// its own TLS requirement (the MTA behind it applies the domain's).
    pub smarthost: Option<(NextHop, DeliveryTls)>,
    /// Refused recipients.
    pub on_permanent: OnPermanentFailure,
    /// Attempts before a deferred recipient is given up on.
    pub max_attempts: u32,
    /// The first retry's wait; each next one doubles, up to `retry_max`.
    pub retry_base: Duration,
    /// The longest wait between attempts.
    pub retry_max: Duration,
    /// Queue and exchange names.
    pub topology: Topology,
}

/// The delivery handler.
pub struct Deliverer {
    cfg: DeliverConfig,
    engine: Arc<ArcSwap<Engine>>,
    relay: Relay,
    recent: Recent,
    telemetry: Arc<Telemetry>,
}

impl Deliverer {
    /// A handler relaying with `relay`, judging domains by the policy of
    /// `engine`.
    pub fn new(
        cfg: DeliverConfig,
        engine: Arc<ArcSwap<Engine>>,
        relay: Relay,
        telemetry: Arc<Telemetry>,
    ) -> Deliverer {
        Deliverer {
            cfg,
            engine,
            relay,
            recent: Recent::new(100_000),
            telemetry,
        }
    }

    /// The relay (for tests and metrics).
    pub fn relay(&self) -> &Relay {
        &self.relay
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn header_int(headers: Option<&FieldTable>, name: &str) -> Option<i64> {
    match headers?.inner().get(name)? {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.trim().parse().ok(),
        _ => None,
    }
}

impl Handler for Deliverer {
    async fn handle(&self, mut delivery: Delivery, out: &Publisher) -> lapin::Result<Settle> {
        let headers = delivery.properties.headers().clone();
        let body = std::mem::take(&mut delivery.data);
        let region = delivery
            .routing_key
            .as_str()
            .strip_prefix("deliver.")
            .map(str::to_string)
            .or_else(|| contract::header_text(headers.as_ref(), contract::REGION))
            .unwrap_or_default();
        // Still waiting out its backoff: back to the retry queue.
        if header_int(headers.as_ref(), NOT_BEFORE).is_some_and(|t| t > now_ms()) {
            let output = Output {
                exchange: String::new(),
                routing_key: self.cfg.topology.deliver_delay_queue(&region),
                body,
                properties: delivery.properties.clone(),
            };
            return settle(
                out.send_all(std::slice::from_ref(&output)).await,
                1,
                &self.telemetry,
            );
        }
        let outputs = self.deliver(body, headers, &region).await;
        let n = outputs.len();
        settle(out.send_all(&outputs).await, n, &self.telemetry)
    }
}

/// Ack once what delivery publishes is confirmed; requeue otherwise.
fn settle(
    result: Result<(), PublishError>,
    outputs: usize,
    t: &Telemetry,
) -> lapin::Result<Settle> {
    match result {
        Ok(()) => Ok(Settle::Ack { outputs }),
        Err(PublishError::Broker(e)) => Err(e),
        Err(e) => {
            mailsift_telemetry::events::OutputRefused {
                reason: e.reason(),
                error: &e.to_string(),
            }
            .emit(t);
            Ok(Settle::Requeue)
        }
    }
}

impl Deliverer {
    /// One delivery attempt; returns what must be published (retry,
    /// dead-letter) before the input is acknowledged.
    async fn deliver(
        &self,
        body: Vec<u8>,
        headers: Option<FieldTable>,
        region: &str,
    ) -> Vec<Output> {
        let started = Instant::now();
        let envelope = contract::envelope_from_headers(headers.as_ref());
        let id = contract::header_text(headers.as_ref(), contract::ID)
            .unwrap_or_else(|| contract::stable_id(&body, &envelope));
        let attempt = header_int(headers.as_ref(), DELIVER_ATTEMPT)
            .unwrap_or(0)
            .max(0) as u32;
        // Recipients a repeat of this message already reached are skipped.
        let recipients: Vec<String> = envelope
            .rcpt_to
            .iter()
            .filter(|r| !self.recent.contains(&id, r))
            .cloned()
            .collect();
        if recipients.is_empty() {
            DuplicateSkipped { id: &id }.emit(&self.telemetry);
            return Vec::new();
        }
        let engine = self.engine.load();
        let domain = contract::header_text(headers.as_ref(), contract::DOMAIN).unwrap_or_default();
        let policy = match engine.rules().policy.for_domain(&domain) {
            Some(p) => p,
            None => engine.rules().policy.for_recipients(&recipients),
        };
        let (hop, tls) = match &self.cfg.smarthost {
            Some((h, tls)) => (Ok(h.clone()), *tls),
            None => {
                let hop = match &policy.delivery_target {
                    Some(t) => t.parse::<NextHop>(),
                    None => Err(format!(
                        "no delivery_target for {} in the policy (and no --smarthost)",
                        policy.domain
                    )),
                };
                (hop, policy.delivery_tls)
            }
        };
        let sender = envelope.mail_from.clone().unwrap_or_default();
        let outcomes = match &hop {
            Ok(hop) => self.relay.send(hop, tls, &sender, &recipients, &body).await,
            Err(why) => vec![Outcome::Permanent(why.clone()); recipients.len()],
        };
        let hop_name = hop.as_ref().map_or_else(|e| e.clone(), ToString::to_string);
        let mut delivered = 0;
        let mut deferred: Vec<(String, String)> = Vec::new();
        let mut refused: Vec<(String, String)> = Vec::new();
        for (rcpt, outcome) in recipients.iter().zip(outcomes) {
            match outcome {
                Outcome::Delivered => {
                    self.recent.insert(&id, rcpt);
                    delivered += 1;
                }
                Outcome::Temporary(why) => deferred.push((rcpt.clone(), why)),
                Outcome::Permanent(why) => refused.push((rcpt.clone(), why)),
            }
        }
        let mut outputs = Vec::new();
        if !deferred.is_empty() {
            if attempt + 1 < self.cfg.max_attempts {
                outputs.push(self.retry(
                    &body,
                    headers.as_ref(),
                    &envelope,
                    &deferred,
                    attempt + 1,
                    region,
                ));
            } else {
                let tries = attempt + 1;
                refused.extend(
                    deferred.drain(..).map(|(r, why)| {
                        (r, format!("gave up after {tries} attempts; last: {why}"))
                    }),
                );
            }
        }
        let mut bounced = 0;
        let mut dead = 0;
        if !refused.is_empty() {
            // A missing or broken delivery_target is our configuration
            // error, not the recipient's refusal: the message is kept
            // (dead-lettered) for the operator, never bounced.
            let report_sent = match &self.cfg.on_permanent {
                OnPermanentFailure::Dsn(relay)
                    if hop.is_ok() && !envelope.is_null_sender() && !sender.is_empty() =>
                {
                    self.send_report(relay, &id, &sender, &hop_name, &refused, &envelope, &body)
                        .await
                }
                _ => false,
            };
            if report_sent {
                bounced = refused.len();
            } else {
                dead = refused.len();
                outputs.push(self.dead_letter(&body, headers.as_ref(), &envelope, &refused));
            }
        }
        let detail = deferred
            .first()
            .or(refused.first())
            .map(|(r, why)| format!("{r}: {why}"))
            .unwrap_or_default();
        Delivered {
            id: &id,
            next_hop: &hop_name,
            delivered,
            deferred: deferred.len(),
            bounced,
            dead_lettered: dead,
            seconds: started.elapsed().as_secs_f64(),
            detail: &detail,
        }
        .emit(&self.telemetry);
        outputs
    }

    /// The message again, for the deferred recipients only, after a wait
    /// that doubles with each attempt.
    fn retry(
        &self,
        body: &[u8],
        headers: Option<&FieldTable>,
        envelope: &Envelope,
        deferred: &[(String, String)],
        attempt: u32,
        region: &str,
    ) -> Output {
        let wait = self
            .cfg
            .retry_base
            .saturating_mul(1u32 << (attempt - 1).min(20))
            .min(self.cfg.retry_max);
        let mut h = headers.cloned().unwrap_or_default();
        let env = Envelope {
            rcpt_to: deferred.iter().map(|(r, _)| r.clone()).collect(),
            ..envelope.clone()
        };
        contract::envelope_to_headers(&env, &mut h);
        h.insert(
            DELIVER_ATTEMPT.into(),
            AMQPValue::LongLongInt(i64::from(attempt)),
        );
        h.insert(
            NOT_BEFORE.into(),
            AMQPValue::LongLongInt(now_ms() + wait.as_millis() as i64),
        );
        let id = contract::header_text(headers, contract::ID).unwrap_or_default();
        Output {
            exchange: String::new(),
            routing_key: self.cfg.topology.deliver_delay_queue(region),
            body: body.to_vec(),
            properties: properties(h, &id, "message/rfc822"),
        }
    }

    /// The message to the dead-letter exchange, with why.
    fn dead_letter(
        &self,
        body: &[u8],
        headers: Option<&FieldTable>,
        envelope: &Envelope,
        refused: &[(String, String)],
    ) -> Output {
        let mut h = headers.cloned().unwrap_or_default();
        let env = Envelope {
            rcpt_to: refused.iter().map(|(r, _)| r.clone()).collect(),
            ..envelope.clone()
        };
        contract::envelope_to_headers(&env, &mut h);
        let why: Vec<String> = refused.iter().map(|(r, w)| format!("{r}: {w}")).collect();
        h.insert(
            DELIVERY_ERROR.into(),
            AMQPValue::LongString(LongString::from(why.join("; ").into_bytes())),
        );
        let id = contract::header_text(headers, contract::ID).unwrap_or_default();
        Output {
            exchange: self.cfg.topology.dead_letter_exchange.clone(),
            routing_key: String::new(),
            body: body.to_vec(),
            properties: properties(h, &id, "message/rfc822"),
        }
    }

    /// Sends the delivery-status notification; `false` if it could not be.
    #[allow(clippy::too_many_arguments)]
    async fn send_report(
        &self,
        relay: &NextHop,
        id: &str,
        sender: &str,
        remote: &str,
        refused: &[(String, String)],
        envelope: &Envelope,
        original: &[u8],
    ) -> bool {
        let failed: Vec<Failed<'_>> = refused
            .iter()
            .map(|(r, why)| Failed {
                recipient: r,
                diagnostic: why,
            })
            .collect();
        let now = now_ms() / 1000;
        let report = dsn::report(&dsn::Report {
            reporting_mta: &self.cfg.hostname,
            remote_mta: remote,
            sender,
            id,
            arrival: envelope.received_at.unwrap_or(now),
            now,
            failed: &failed,
            original,
        });
        let outcome = self
            .relay
            .send(
                relay,
                DeliveryTls::Opportunistic,
                "",
                &[sender.to_string()],
                &report,
            )
            .await;
        matches!(outcome.first(), Some(Outcome::Delivered))
    }
}
