//! `mailsift enqueue`: publish stored messages to the input queue with
//! publisher confirms, the way an SMTP edge does.

use super::contract;
use super::topology::Topology;
use crate::corpus::Item;
use crate::envelope::Envelope;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::time::{SystemTime, UNIX_EPOCH};

/// What an enqueue run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnqueueReport {
    /// Messages the broker confirmed.
    pub confirmed: u64,
    /// Messages the broker refused (nack).
    pub refused: u64,
    /// Sources that could not be read: (name, error).
    pub unreadable: Vec<(String, String)>,
}

/// A confirming publisher to the input queue, as an SMTP edge holds one.
pub struct Publisher {
    conn: Connection,
    channel: lapin::Channel,
    queue: String,
}

impl Publisher {
    /// Connects, enables confirms and declares the topology.
    pub async fn connect(url: &str, topology: &Topology) -> lapin::Result<Publisher> {
        let conn = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        topology.declare(&channel).await?;
        Ok(Publisher {
            conn,
            channel,
            queue: topology.input_queue.clone(),
        })
    }

    /// Publishes one message with its envelope (and the publish time in
    /// `x-edge-published-at-ms`); the returned future resolves on the confirm.
    pub async fn publish(
        &self,
        body: &[u8],
        envelope: &Envelope,
    ) -> lapin::Result<lapin::PublisherConfirm> {
        let mut headers = FieldTable::default();
        contract::envelope_to_headers(envelope, &mut headers);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        headers.insert(
            contract::PUBLISHED_AT_MS.into(),
            AMQPValue::LongLongInt(now_ms),
        );
        self.channel
            .basic_publish(
                "".into(),
                self.queue.as_str().into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("message/rfc822".into())
                    .with_headers(headers),
            )
            .await
    }

    /// Closes the channel and connection.
    pub async fn close(self) {
        let _ = self.channel.close(200, "done".into()).await;
        let _ = self.conn.close(200, "done".into()).await;
    }
}

/// Publishes every item to the input queue. `envelope` is the template for
/// every message (fields left empty are derived by the worker); each message
/// also gets `x-edge-queue-id` = its name. At most `window` confirms are
/// awaited at once. `on_confirm` runs per confirmed message (progress bars).
pub async fn enqueue(
    url: &str,
    topology: &Topology,
    items: impl Iterator<Item = Item>,
    envelope: &Envelope,
    window: usize,
    mut on_confirm: impl FnMut(),
) -> lapin::Result<EnqueueReport> {
    let publisher = Publisher::connect(url, topology).await?;
    let mut report = EnqueueReport::default();
    let mut pending = FuturesUnordered::new();
    for item in items {
        let body = match item.bytes {
            Ok(b) => b,
            Err(e) => {
                report.unreadable.push((item.name, e));
                continue;
            }
        };
        let mut env = envelope.clone();
        env.queue_id = Some(item.name.clone());
        pending.push(publisher.publish(&body, &env).await?);
        while pending.len() >= window.max(1) {
            settle(pending.next().await, &mut report, &mut on_confirm)?;
        }
    }
    while let Some(c) = pending.next().await {
        settle(Some(c), &mut report, &mut on_confirm)?;
    }
    publisher.close().await;
    Ok(report)
}

fn settle(
    confirm: Option<lapin::Result<lapin::Confirmation>>,
    report: &mut EnqueueReport,
    on_confirm: &mut impl FnMut(),
) -> lapin::Result<()> {
    match confirm {
        Some(Ok(c)) if c.is_ack() => {
            report.confirmed += 1;
            on_confirm();
        }
        Some(Ok(_)) => report.refused += 1,
        Some(Err(e)) => return Err(e),
        None => {}
    }
    Ok(())
}
