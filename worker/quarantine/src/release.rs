//! Releasing: the original message, stamped as released by whom and when,
//! published to the delivery exchange for its region with publisher
//! confirms. Delivery takes it from there as it does any delivered mail.

use crate::record::Held;
use crate::store::Releasable;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Connection, ConnectionProperties};
use mailsift_amqp::outputs::properties;
use mailsift_amqp::{contract, Output, PublishError, Publisher, Topology};
use mailsift_core::stamp;
use tokio::sync::Mutex;

/// AMQP header on a released message: who released it.
pub const RELEASED_BY: &str = "x-mailsift-released-by";
/// AMQP header on a released message: when (RFC 3339).
pub const RELEASED_AT: &str = "x-mailsift-released-at";

/// Why a release could not be published.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// No connection to the broker.
    #[error("cannot reach the broker: {0}")]
    Connect(lapin::Error),
    /// The broker refused or returned the message.
    #[error("the broker did not confirm the release: {0}")]
    Publish(PublishError),
    /// No confirm in time.
    #[error("the broker did not confirm the release within {} s", TIMEOUT.as_secs())]
    Timeout,
}

/// The longest a release waits for the broker (connecting included).
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Publishes releases over one connection, opened when first needed and
/// opened again after it broke.
pub struct Releaser {
    amqp_url: String,
    topology: Topology,
    prefix: String,
    channel: Mutex<Option<(Connection, Publisher)>>,
}

impl Releaser {
    /// Releases to `topology`'s delivery exchange; `prefix` is the stamp
    /// prefix (`X-Mailsift-`) of the released-by header.
    pub fn new(amqp_url: &str, topology: Topology, prefix: &str) -> Releaser {
        Releaser {
            amqp_url: amqp_url.to_string(),
            topology,
            prefix: prefix.to_string(),
            channel: Mutex::new(None),
        }
    }

    /// Publishes `item` and waits for the broker's confirm, within
    /// [`TIMEOUT`] (a release holds a database row lock meanwhile).
    pub async fn publish(&self, item: &Releasable) -> Result<(), ReleaseError> {
        match tokio::time::timeout(TIMEOUT, self.publish_unbounded(item)).await {
            Ok(done) => done,
            Err(_) => {
                // The channel may be wedged: start afresh next time.
                *self.channel.lock().await = None;
                Err(ReleaseError::Timeout)
            }
        }
    }

    async fn publish_unbounded(&self, item: &Releasable) -> Result<(), ReleaseError> {
        let output = released_output(item, &self.prefix, &self.topology);
        let mut slot = self.channel.lock().await;
        let (_, publisher) = match slot.take().filter(|(c, _)| c.status().connected()) {
            Some(open) => slot.insert(open),
            None => {
                let conn = Connection::connect(&self.amqp_url, ConnectionProperties::default())
                    .await
                    .map_err(ReleaseError::Connect)?;
                let publisher = Publisher::open(&conn)
                    .await
                    .map_err(ReleaseError::Connect)?;
                slot.insert((conn, publisher))
            }
        };
        let sent = publisher.send_all(std::slice::from_ref(&output)).await;
        if let Err(PublishError::Broker(_)) = &sent {
            // The channel is gone: the next release reconnects.
            *slot = None;
        }
        sent.map_err(ReleaseError::Publish)
    }
}

/// The message a release publishes: our released-by header first, then
/// the original bytes; the AMQP headers carry the original envelope, so it
/// goes to the recipients it was held for.
pub fn released_output(item: &Releasable, prefix: &str, topology: &Topology) -> Output {
    let at = item.at.as_str();
    // A token name must not smuggle a header line or make one too long.
    let by: String = item.by.chars().take(100).collect();
    let line = format!(
        "{prefix}Released: by {} at {at}; held as {}",
        stamp::sanitize(&by),
        stamp::sanitize(&item.disposition)
    );
    let body = stamp::prepend(&item.raw, &[line]);

    let envelope = Held::envelope(&item.verdict);
    let mut headers = FieldTable::default();
    contract::envelope_to_headers(&envelope, &mut headers);
    let text = |s: &str| AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()));
    // A release is a new output of its own: delivery de-duplicates on the id,
    // so a release repeated after a crash is delivered once.
    let id = format!("{}-released", item.mailsift_id);
    for (k, v) in [
        (contract::DISPOSITION, item.disposition.as_str()),
        (contract::ROUTE, "deliver"),
        (contract::DOMAIN, item.domain.as_str()),
        (contract::REGION, item.region.as_str()),
        (contract::ID, id.as_str()),
        (RELEASED_BY, item.by.as_str()),
        (RELEASED_AT, at),
    ] {
        headers.insert(k.into(), text(v));
    }
    Output {
        exchange: topology.deliver_exchange.clone(),
        routing_key: format!("deliver.{}", item.region),
        body,
        properties: properties(headers, &id, "message/rfc822"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(raw: &[u8], by: &str) -> Releasable {
        Releasable {
            id: 7,
            mailsift_id: "abc".into(),
            domain: "contoso.com".into(),
            region: "eu".into(),
            disposition: "SPAM".into(),
            verdict: json!({"envelope": {"mail_from": "a@example.com", "rcpt_to": ["bob@contoso.com"]}}),
            raw: raw.to_vec(),
            by: by.into(),
            at: "2026-12-07T10:00:00Z".into(),
        }
    }

    #[test]
    fn a_release_goes_to_its_region_with_its_envelope_and_a_stamp() {
        let t = Topology::with_regions(vec!["us".into(), "eu".into()]);
        let out = released_output(
            &item(
                b"From: a@example.com\nSubject: s\n\nbody\n",
                "ann\r\nX-Evil: 1",
            ),
            "X-Mailsift-",
            &t,
        );
        assert_eq!(out.exchange, t.deliver_exchange);
        assert_eq!(out.routing_key, "deliver.eu");
        let body = String::from_utf8(out.body).expect("text");
        assert_eq!(
            body,
            "X-Mailsift-Released: by ann??X-Evil: 1 at 2026-12-07T10:00:00Z; held as SPAM\n\
             From: a@example.com\nSubject: s\n\nbody\n"
        );
        let headers = out.properties.headers().clone();
        let env = contract::envelope_from_headers(headers.as_ref());
        assert_eq!(env.rcpt_to, vec!["bob@contoso.com"]);
        assert_eq!(
            contract::header_text(headers.as_ref(), contract::ID).as_deref(),
            Some("abc-released")
        );
        assert_eq!(
            contract::header_text(headers.as_ref(), RELEASED_BY).as_deref(),
            Some("ann\r\nX-Evil: 1"),
            "AMQP headers are not mail headers: kept as is"
        );
    }
}
