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
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    topology.declare(&channel).await?;
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
        let mut headers = FieldTable::default();
        let mut env = envelope.clone();
        env.queue_id = Some(item.name.clone());
        contract::envelope_to_headers(&env, &mut headers);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        headers.insert(
            contract::PUBLISHED_AT_MS.into(),
            AMQPValue::LongLongInt(now_ms),
        );
        let confirm = channel
            .basic_publish(
                "".into(),
                topology.input_queue.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("message/rfc822".into())
                    .with_headers(headers),
            )
            .await?;
        pending.push(confirm);
        while pending.len() >= window.max(1) {
            settle(pending.next().await, &mut report, &mut on_confirm)?;
        }
    }
    while let Some(c) = pending.next().await {
        settle(Some(c), &mut report, &mut on_confirm)?;
    }
    let _ = channel.close(200, "done".into()).await;
    let _ = conn.close(200, "done".into()).await;
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
