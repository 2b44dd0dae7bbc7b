//! One type per thing that happens. `emit` writes the event's log line and
//! updates its metrics: the two are defined together, here and nowhere
//! else. Log lines never carry a message body or a credential.

use crate::metrics::{MessageLabels, Name, Outcome, Version};
use crate::Telemetry;
use std::time::{SystemTime, UNIX_EPOCH};

/// A message got its verdict.
pub struct MessageClassified<'a> {
    /// The stable id (`x-mailsift-id`).
    pub id: &'a str,
    /// The policy domain (`*` for the default policy).
    pub domain: &'a str,
    /// The disposition word.
    pub disposition: &'static str,
    /// The route word.
    pub route: &'static str,
    /// The chosen disposition's score.
    pub score: f64,
    /// Classification time (parse to verdict).
    pub seconds: f64,
    /// Time of each check, when measured.
    pub checks: &'a [(&'static str, f64)],
}

impl MessageClassified<'_> {
    /// Logs and counts it.
    pub fn emit(&self, t: &Telemetry) {
        tracing::info!(
            id = self.id,
            domain = self.domain,
            disposition = self.disposition,
            route = self.route,
            score = self.score,
            latency_ms = self.seconds * 1000.0,
            "classified"
        );
        let m = &t.metrics;
        let domain = if self.domain == "*" {
            "default"
        } else {
            self.domain
        };
        m.messages
            .get_or_create(&MessageLabels {
                disposition: self.disposition,
                route: self.route,
                domain: domain.to_string(),
            })
            .inc();
        m.classification_seconds.observe(self.seconds);
        for (name, secs) in self.checks {
            m.check_seconds.get_or_create(&Name { name }).observe(*secs);
        }
    }
}

/// Every output of an input was confirmed, and the input acknowledged.
pub struct InputDone {
    /// Outputs confirmed.
    pub outputs: usize,
    /// Edge publish to confirmation, when the edge stamped its publish time.
    pub end_to_end_seconds: Option<f64>,
}

impl InputDone {
    /// Counts it (the verdict was logged already).
    pub fn emit(&self, t: &Telemetry) {
        t.metrics.publish_confirms.inc_by(self.outputs as u64);
        if let Some(s) = self.end_to_end_seconds {
            t.metrics.end_to_end_seconds.observe(s);
        }
    }
}

/// An output was not confirmed (nack or unroutable); its input goes back.
pub struct OutputRefused<'a> {
    /// `nack` or `returned`.
    pub reason: &'static str,
    /// What the broker said.
    pub error: &'a str,
}

impl OutputRefused<'_> {
    /// Logs and counts it.
    pub fn emit(&self, t: &Telemetry) {
        tracing::warn!(
            reason = self.reason,
            error = self.error,
            "output not confirmed; requeueing the input"
        );
        t.metrics
            .publish_failures
            .get_or_create(&Name { name: self.reason })
            .inc();
    }
}

/// The broker delivered an input again (after a crash or a requeue).
pub struct InputRedelivered;

impl InputRedelivered {
    /// Counts it.
    pub fn emit(&self, t: &Telemetry) {
        t.metrics.redeliveries.inc();
    }
}

/// An input was given back to its queue.
pub struct InputRequeued {
    /// It was on its last allowed delivery: the broker dead-letters it.
    pub dead_lettered: bool,
}

impl InputRequeued {
    /// Logs and counts it.
    pub fn emit(&self, t: &Telemetry) {
        t.metrics.requeued.inc();
        if self.dead_lettered {
            tracing::error!("input requeued on its last allowed delivery: dead-lettered");
            t.metrics.dead_lettered.inc();
        }
    }
}

/// An input went to the retry queue after a DNS failure.
pub struct RetryScheduled<'a> {
    /// The stable id.
    pub id: &'a str,
    /// The attempt it will be.
    pub attempt: u32,
}

impl RetryScheduled<'_> {
    /// Logs and counts it.
    pub fn emit(&self, t: &Telemetry) {
        tracing::info!(
            id = self.id,
            attempt = self.attempt,
            "DNS failed: retrying later"
        );
        t.metrics.requeued_for_dns.inc();
    }
}

/// An input started or finished processing.
pub struct InFlight(pub i64);

impl InFlight {
    /// Moves the gauge.
    pub fn emit(&self, t: &Telemetry) {
        t.metrics.in_flight.inc_by(self.0);
    }
}

/// Connected to the broker.
pub struct BrokerConnected<'a> {
    /// The URL without its password.
    pub broker: &'a str,
    /// Queues consumed, or the queue published to.
    pub queues: &'a str,
    /// Prefetch when consuming; `None` for a publisher (the SMTP edge).
    pub prefetch: Option<u16>,
}

impl BrokerConnected<'_> {
    /// Logs it and marks the process connected.
    pub fn emit(&self, t: &Telemetry) {
        match self.prefetch {
            Some(prefetch) => tracing::info!(
                broker = self.broker,
                queues = self.queues,
                prefetch,
                "consuming"
            ),
            None => tracing::info!(broker = self.broker, queue = self.queues, "publishing"),
        }
        t.metrics.broker_connected.set(1);
        t.health.set_broker(true);
    }
}

/// The broker connection ended.
pub struct BrokerLost<'a> {
    /// Why.
    pub error: &'a str,
    /// The next attempt's delay.
    pub retry_in_ms: u128,
}

impl BrokerLost<'_> {
    /// Logs it and marks the process not connected.
    pub fn emit(&self, t: &Telemetry) {
        tracing::warn!(
            error = self.error,
            retry_in_ms = self.retry_in_ms as u64,
            "broker session ended; reconnecting"
        );
        t.metrics.broker_connected.set(0);
        t.health.set_broker(false);
    }
}

/// A DNS question, answered from the caches or sent out.
pub struct DnsLookup {
    /// Record type (`txt`, `mx`, `a`, `aaaa`, `ptr`).
    pub kind: &'static str,
    /// Answered from the caches.
    pub cached: bool,
}

impl DnsLookup {
    /// Counts it (too frequent to log).
    pub fn emit(&self, t: &Telemetry) {
        let family = if self.cached {
            &t.metrics.dns_cache_hits
        } else {
            &t.metrics.dns_lookups
        };
        family.get_or_create(&Name { name: self.kind }).inc();
    }
}

/// A DNS lookup timed out or failed temporarily.
pub struct DnsFailed {
    /// `spf`, `dkim`, `dmarc` or `deadline`.
    pub protocol: &'static str,
}

impl DnsFailed {
    /// Counts it (the verdict says which lookups failed).
    pub fn emit(&self, t: &Telemetry) {
        t.metrics
            .dns_failures
            .get_or_create(&Name {
                name: self.protocol,
            })
            .inc();
    }
}

/// Rules were (re)loaded and are in use.
pub struct RulesLoaded<'a> {
    /// Short content hash.
    pub version: &'a str,
    /// Previous version, on a reload.
    pub previous: Option<&'a str>,
    /// Where from.
    pub dir: &'a str,
}

impl RulesLoaded<'_> {
    /// Logs it, publishes the version and marks the rules loaded.
    pub fn emit(&self, t: &Telemetry) {
        let m = &t.metrics;
        match self.previous {
            Some(previous) => {
                tracing::info!(
                    version = self.version,
                    previous,
                    dir = self.dir,
                    "rules reloaded"
                );
                m.rules_info.remove(&Version {
                    version: previous.to_string(),
                });
                m.rules_reloads
                    .get_or_create(&Outcome { result: "ok" })
                    .inc();
            }
            None => tracing::info!(version = self.version, dir = self.dir, "rules loaded"),
        }
        m.rules_info
            .get_or_create(&Version {
                version: self.version.to_string(),
            })
            .set(1);
        m.rules_last_reload.set(unix_now());
        m.rules_last_reload_success.set(1);
        t.health.set_rules_loaded();
    }
}

/// A reload was refused: the old rules stay in use.
pub struct RulesReloadRefused<'a> {
    /// Why, with file and line.
    pub error: &'a str,
    /// The version that stays in use.
    pub kept: &'a str,
}

impl RulesReloadRefused<'_> {
    /// Logs and counts it.
    pub fn emit(&self, t: &Telemetry) {
        tracing::error!(
            error = self.error,
            kept = self.kept,
            "rules reload refused; keeping the rules in use"
        );
        let m = &t.metrics;
        m.rules_reloads
            .get_or_create(&Outcome { result: "error" })
            .inc();
        m.rules_last_reload.set(unix_now());
        m.rules_last_reload_success.set(0);
    }
}

/// A shutdown began.
pub struct ShuttingDown<'a> {
    /// Why (the signal).
    pub reason: &'a str,
}

impl ShuttingDown<'_> {
    /// Logs it and turns readiness off.
    pub fn emit(&self, t: &Telemetry) {
        tracing::info!(reason = self.reason, "shutting down");
        t.health.set_stopping();
    }
}

/// An SMTP connection was accepted or refused at connect.
pub struct SmtpConnection<'a> {
    /// The peer.
    pub peer: &'a str,
    /// Refused, and why.
    pub refused: Option<&'a str>,
}

impl SmtpConnection<'_> {
    /// Logs a refusal and counts it.
    pub fn emit(&self, t: &Telemetry) {
        let name = match self.refused {
            Some(why) => {
                tracing::info!(peer = self.peer, reason = why, "SMTP connection refused");
                "refused"
            }
            None => "accepted",
        };
        t.metrics
            .smtp_connections
            .get_or_create(&Name { name })
            .inc();
    }
}

/// An SMTP session opened (+1) or ended (-1).
pub struct SmtpSession(pub i64);

impl SmtpSession {
    /// Moves the gauge.
    pub fn emit(&self, t: &Telemetry) {
        t.metrics.smtp_sessions.inc_by(self.0);
    }
}

/// The edge refused a command (relaying, lockdown, size, loop, ...).
pub struct SmtpRefused<'a> {
    /// The peer.
    pub peer: &'a str,
    /// Short reason (`relay_denied`, `lockdown`, `too_big`, ...).
    pub reason: &'static str,
    /// The reply sent.
    pub reply: &'a str,
}

impl SmtpRefused<'_> {
    /// Logs and counts it.
    pub fn emit(&self, t: &Telemetry) {
        tracing::info!(
            peer = self.peer,
            reason = self.reason,
            reply = self.reply,
            "SMTP refused"
        );
        t.metrics
            .smtp_refusals
            .get_or_create(&Name { name: self.reason })
            .inc();
    }
}

/// A message reached the end of data at the edge.
pub struct SmtpMessage<'a> {
    /// The edge's queue id.
    pub queue_id: &'a str,
    /// The peer.
    pub peer: &'a str,
    /// Size in bytes.
    pub bytes: usize,
    /// Recipients.
    pub recipients: usize,
    /// `queued` (250 after the broker's confirm), `tempfail` (451) or
    /// `refused` (5xx).
    pub outcome: &'static str,
    /// End of data to the broker's answer.
    pub seconds: f64,
}

impl SmtpMessage<'_> {
    /// Logs and counts it.
    pub fn emit(&self, t: &Telemetry) {
        tracing::info!(
            queue_id = self.queue_id,
            peer = self.peer,
            bytes = self.bytes,
            recipients = self.recipients,
            outcome = self.outcome,
            latency_ms = self.seconds * 1000.0,
            "SMTP message"
        );
        let m = &t.metrics;
        m.smtp_messages
            .get_or_create(&Name { name: self.outcome })
            .inc();
        if self.outcome == "queued" {
            m.smtp_queue_seconds.observe(self.seconds);
        }
    }
}

/// Delivery of one message (or what was left of it) to its next hop.
pub struct Delivered<'a> {
    /// The stable id.
    pub id: &'a str,
    /// Where to.
    pub next_hop: &'a str,
    /// Recipients accepted.
    pub delivered: usize,
    /// Recipients to try again later.
    pub deferred: usize,
    /// Recipients refused for good (a DSN goes to the sender).
    pub bounced: usize,
    /// Recipients given up on without a DSN (dead-lettered).
    pub dead_lettered: usize,
    /// The transaction's time.
    pub seconds: f64,
    /// The last reply or error, when not all were delivered.
    pub detail: &'a str,
}

impl Delivered<'_> {
    /// Logs and counts it.
    pub fn emit(&self, t: &Telemetry) {
        tracing::info!(
            id = self.id,
            next_hop = self.next_hop,
            delivered = self.delivered,
            deferred = self.deferred,
            bounced = self.bounced,
            dead_lettered = self.dead_lettered,
            latency_ms = self.seconds * 1000.0,
            detail = self.detail,
            "delivery"
        );
        let m = &t.metrics;
        for (name, n) in [
            ("delivered", self.delivered),
            ("deferred", self.deferred),
            ("bounced", self.bounced),
            ("dead_lettered", self.dead_lettered),
        ] {
            if n > 0 {
                m.deliveries.get_or_create(&Name { name }).inc_by(n as u64);
            }
        }
        m.delivery_seconds.observe(self.seconds);
    }
}

/// A message already delivered arrived again (at-least-once upstream) and
/// was not sent twice.
pub struct DuplicateSkipped<'a> {
    /// The stable id.
    pub id: &'a str,
}

impl DuplicateSkipped<'_> {
    /// Logs and counts it.
    pub fn emit(&self, t: &Telemetry) {
        tracing::info!(id = self.id, "already delivered: skipped");
        t.metrics
            .deliveries
            .get_or_create(&Name { name: "duplicate" })
            .inc();
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Something the quarantine console did to a held message.
pub struct QuarantineEvent<'a> {
    /// `stored`, `duplicate`, `store_failed`, `released`, `deleted`,
    /// `downloaded` or `purged`.
    pub name: &'static str,
    /// How many messages (a purge batch or a bulk release counts each).
    pub count: u64,
    /// The console's message id, or the mailsift id, when about one.
    pub id: &'a str,
    /// The policy domain, when about one message.
    pub domain: &'a str,
    /// Who did it (the token's name), when a person did.
    pub actor: &'a str,
}

impl QuarantineEvent<'_> {
    /// Logs and counts it.
    pub fn emit(&self, t: &Telemetry) {
        tracing::info!(
            event = self.name,
            count = self.count,
            id = self.id,
            domain = self.domain,
            actor = self.actor,
            "quarantine"
        );
        t.metrics
            .quarantine
            .get_or_create(&Name { name: self.name })
            .inc_by(self.count);
    }
}
