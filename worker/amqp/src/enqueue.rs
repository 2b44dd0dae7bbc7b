//! `mailsift enqueue`: publish stored messages to the input queue with
//! publisher confirms, the way an SMTP edge does.

use crate::input::InputPublisher;
use crate::publisher::PublishError;
use crate::topology::Topology;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use mailsift_core::Envelope;

/// What an enqueue run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnqueueReport {
    /// Messages the broker confirmed.
    pub confirmed: u64,
    /// Messages the broker refused (nack) or returned (no input queue).
    pub refused: u64,
    /// Sources that could not be read: (name, error).
    pub unreadable: Vec<(String, String)>,
}

/// Publishes every `(name, bytes)` to the input queue. `envelope` is the
/// template for every message (fields left empty are derived by the
/// worker); each message also gets `x-edge-queue-id` = its name. At most
/// `window` confirms are awaited at once. `on_confirm` runs per confirmed
/// message (progress bars).
pub async fn enqueue(
    url: &str,
    topology: &Topology,
    items: impl Iterator<Item = (String, Result<Vec<u8>, String>)>,
    envelope: &Envelope,
    window: usize,
    mut on_confirm: impl FnMut(),
) -> lapin::Result<EnqueueReport> {
    let publisher = InputPublisher::connect(url, topology).await?;
    let mut report = EnqueueReport::default();
    let mut pending = FuturesUnordered::new();
    for (name, bytes) in items {
        let body = match bytes {
            Ok(b) => b,
            Err(e) => {
                report.unreadable.push((name, e));
                continue;
            }
        };
        let mut env = envelope.clone();
        env.queue_id = Some(name);
        pending.push(publisher.publish(body, &env).await?.confirmed());
        while pending.len() >= window.max(1) {
            if let Some(c) = pending.next().await {
                settle(c, &mut report, &mut on_confirm)?;
            }
        }
    }
    while let Some(c) = pending.next().await {
        settle(c, &mut report, &mut on_confirm)?;
    }
    publisher.close().await;
    Ok(report)
}

fn settle(
    confirm: Result<(), PublishError>,
    report: &mut EnqueueReport,
    on_confirm: &mut impl FnMut(),
) -> lapin::Result<()> {
    match confirm {
        Ok(()) => {
            report.confirmed += 1;
            on_confirm();
        }
        Err(PublishError::Broker(e)) => return Err(e),
        Err(_) => report.refused += 1,
    }
    Ok(())
}
