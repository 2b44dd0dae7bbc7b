//! Publishing inputs as an SMTP edge does: the raw message with its
//! envelope in the contract's headers, persistent, mandatory, confirmed.

use crate::contract;
use crate::publisher::{Output, Pending, Publisher};
use crate::topology::Topology;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use mailsift_core::Envelope;
use std::time::{SystemTime, UNIX_EPOCH};

/// A confirming publisher to the input queue, on its own connection.
pub struct InputPublisher {
    conn: Connection,
    publisher: Publisher,
    queue: String,
}

impl InputPublisher {
    /// Connects, enables confirms and declares the topology.
    pub async fn connect(url: &str, topology: &Topology) -> lapin::Result<InputPublisher> {
        let conn = Connection::connect(url, ConnectionProperties::default()).await?;
        let publisher = Publisher::open(&conn).await?;
        topology.declare(publisher.channel()).await?;
        Ok(InputPublisher {
            conn,
            publisher,
            queue: topology.input_queue.clone(),
        })
    }

    /// Publishes one message with its envelope (and the publish time in
    /// `x-edge-published-at-ms`); await the result's
    /// [`Pending::confirmed`] before telling the sender it is accepted.
    pub async fn publish(&self, body: Vec<u8>, envelope: &Envelope) -> lapin::Result<Pending> {
        let mut headers = FieldTable::default();
        contract::envelope_to_headers(envelope, &mut headers);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        headers.insert(
            contract::PUBLISHED_AT_MS.into(),
            AMQPValue::LongLongInt(now_ms),
        );
        self.publisher
            .send(&Output {
                exchange: String::new(),
                routing_key: self.queue.clone(),
                body,
                properties: BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("message/rfc822".into())
                    .with_headers(headers),
            })
            .await
    }

    /// True while the connection is usable.
    pub fn is_connected(&self) -> bool {
        self.conn.status().connected()
    }

    /// Closes the channel and connection.
    pub async fn close(self) {
        self.publisher.close().await;
        let _ = self.conn.close(200, "done".into()).await;
    }
}
