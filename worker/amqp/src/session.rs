//! Consuming: connect, declare the topology, consume with a prefetch, hand
//! each delivery to a [`Handler`] in its own task, settle it (ack or
//! requeue) once the handler is done, drain on shutdown and reconnect with
//! backoff when the broker goes away. Every consumer of the product (the
//! worker, delivery, the quarantine store) runs on this loop.

use crate::contract;
use crate::publisher::Publisher;
use crate::topology::Topology;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use mailsift_telemetry::events::{
    BrokerConnected, BrokerLost, InFlight, InputDone, InputRedelivered, InputRequeued,
};
use mailsift_telemetry::Telemetry;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What to do with an input once its handler is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Done (its outputs are confirmed): acknowledge it.
    Ack {
        /// How many outputs were confirmed for it.
        outputs: usize,
    },
    /// Not done: give it back to the queue (the delivery limit decides when
    /// it is dead-lettered).
    Requeue,
}

/// Processes one delivery at a time (many run concurrently, up to the
/// prefetch).
pub trait Handler: Send + Sync + 'static {
    /// Handles `delivery`, publishing through `out` what it produces.
    /// `Err` means the channel is unusable: the session reconnects and the
    /// broker redelivers what was not acknowledged.
    fn handle(
        &self,
        delivery: Delivery,
        out: &Publisher,
    ) -> impl Future<Output = lapin::Result<Settle>> + Send;
}

/// Where and how to consume.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// `amqp://` or `amqps://` URL (never logged as is: see [`redact`]).
    pub amqp_url: String,
    /// Queues consumed.
    pub queues: Vec<String>,
    /// Unacked deliveries in flight (backpressure).
    pub prefetch: u16,
    /// How long a shutdown may take to finish in-flight work.
    pub grace: Duration,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
}

/// Counters, readable while a consumer runs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Inputs acknowledged after their handler finished.
    pub acked: AtomicU64,
    /// Inputs given back to the queue.
    pub requeued: AtomicU64,
    /// Broker connections opened (1 + reconnects).
    pub connections: AtomicU64,
}

/// A consumer: a handler on a set of queues.
pub struct Consumer<H> {
    cfg: SessionConfig,
    topology: Arc<Topology>,
    handler: Arc<H>,
    stats: Arc<Stats>,
    telemetry: Arc<Telemetry>,
}

/// Why a session ended.
enum SessionEnd {
    /// Shutdown requested and everything in flight settled (or grace ran out).
    Shutdown,
}

impl<H: Handler> Consumer<H> {
    /// A consumer that declares `topology`, consumes `cfg.queues` with
    /// `handler` and counts into `stats`.
    pub fn new(
        mut cfg: SessionConfig,
        topology: Arc<Topology>,
        handler: Arc<H>,
        stats: Arc<Stats>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        // Prefetch 0 means "unlimited" to the broker: memory would be unbounded.
        cfg.prefetch = cfg.prefetch.max(1);
        Consumer {
            cfg,
            topology,
            handler,
            stats,
            telemetry,
        }
    }

    /// Runs until `shutdown` turns true, reconnecting with backoff whenever
    /// the broker goes away. Returns once in-flight work is settled or the
    /// grace period is over.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.session(&mut shutdown).await {
                Ok(SessionEnd::Shutdown) => return,
                Err(e) => {
                    BrokerLost {
                        error: &e.to_string(),
                        retry_in_ms: backoff.as_millis(),
                    }
                    .emit(&self.telemetry);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(self.cfg.max_backoff);
                }
            }
        }
    }

    async fn session(&self, shutdown: &mut watch::Receiver<bool>) -> lapin::Result<SessionEnd> {
        let conn = Connection::connect(&self.cfg.amqp_url, ConnectionProperties::default()).await?;
        let n = self.stats.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let out = Publisher::open(&conn).await?;
        self.topology.declare(out.channel()).await?;
        let input = conn.create_channel().await?;
        input
            .basic_qos(self.cfg.prefetch, BasicQosOptions::default())
            .await?;
        let mut consumers = Vec::with_capacity(self.cfg.queues.len());
        let mut tags = Vec::with_capacity(self.cfg.queues.len());
        for (i, queue) in self.cfg.queues.iter().enumerate() {
            let tag = format!("mailsift-{}-{n}-{i}", std::process::id());
            consumers.push(
                input
                    .basic_consume(
                        queue.as_str().into(),
                        tag.as_str().into(),
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await?,
            );
            tags.push(tag);
        }
        let mut deliveries = futures_util::stream::select_all(consumers);
        BrokerConnected {
            broker: &redact(&self.cfg.amqp_url),
            queues: &self.cfg.queues.join(", "),
            prefetch: Some(self.cfg.prefetch),
        }
        .emit(&self.telemetry);
        let mut in_flight: JoinSet<lapin::Result<()>> = JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        tracing::info!(in_flight = in_flight.len(), grace = ?self.cfg.grace, "shutting down: no new deliveries");
                        let deadline = tokio::time::Instant::now() + self.cfg.grace;
                        for tag in &tags {
                            input.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await?;
                        }
                        // Deliveries already on their way to us are finished too, not dropped.
                        let settle = async {
                            while let Some(Ok(delivery)) = deliveries.next().await {
                                self.spawn(&mut in_flight, delivery, &out);
                            }
                            while in_flight.join_next().await.is_some() {}
                        };
                        if tokio::time::timeout_at(deadline, settle).await.is_err() {
                            tracing::warn!("grace period over: closing with work in flight (the broker redelivers it)");
                        }
                        let _ = input.close(200, "shutdown".into()).await;
                        out.close().await;
                        let _ = conn.close(200, "shutdown".into()).await;
                        self.telemetry.health.set_broker(false);
                        tracing::info!(acked = self.stats.acked.load(Ordering::Relaxed), "stopped cleanly");
                        return Ok(SessionEnd::Shutdown);
                    }
                }
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => self.spawn(&mut in_flight, delivery, &out),
                    Some(Err(e)) => return Err(e),
                    None => return Err(lapin::Error::from(lapin::ErrorKind::InvalidChannelState(
                        lapin::ChannelState::Closed,
                        "consumer cancelled by the broker",
                    ))),
                },
                Some(done) = in_flight.join_next() => {
                    match done {
                        Ok(Ok(())) => {}
                        // The channel broke under a publish or an ack: the
                        // unacked inputs come back after reconnecting.
                        Ok(Err(e)) => return Err(e),
                        // A task that died holds its delivery unacked: start a
                        // new session so the broker redelivers it.
                        Err(join) => {
                            tracing::error!(error = %join, "message task failed; reconnecting");
                            return Err(lapin::Error::from(lapin::ErrorKind::InvalidChannelState(
                                lapin::ChannelState::Closed,
                                "a message task failed",
                            )));
                        }
                    }
                }
            }
        }
    }

    /// One task per delivery: the handler, then the ack or requeue.
    fn spawn(
        &self,
        in_flight: &mut JoinSet<lapin::Result<()>>,
        delivery: Delivery,
        out: &Publisher,
    ) {
        let (handler, stats, out) = (self.handler.clone(), self.stats.clone(), out.clone());
        let telemetry = self.telemetry.clone();
        let delivery_limit = self.topology.delivery_limit;
        in_flight.spawn(async move {
            let t = &*telemetry;
            let _counted = InFlightGuard::new(t);
            let acker = delivery.acker.clone();
            let headers = delivery.properties.headers().as_ref();
            let published_ms = contract::published_at_ms(headers);
            let deliveries = contract::delivery_count(headers).saturating_add(1);
            if delivery.redelivered {
                InputRedelivered.emit(t);
            }
            match handler.handle(delivery, &out).await? {
                Settle::Ack { outputs } => {
                    acker.ack(BasicAckOptions::default()).await?;
                    stats.acked.fetch_add(1, Ordering::Relaxed);
                    InputDone {
                        outputs,
                        end_to_end_seconds: published_ms.map(seconds_since),
                    }
                    .emit(t);
                }
                Settle::Requeue => {
                    stats.requeued.fetch_add(1, Ordering::Relaxed);
                    InputRequeued {
                        dead_lettered: deliveries >= delivery_limit,
                    }
                    .emit(t);
                    acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await?;
                }
            }
            Ok(())
        });
    }
}

/// Counts an input in flight for as long as it lives.
struct InFlightGuard<'a>(&'a Telemetry);

impl<'a> InFlightGuard<'a> {
    fn new(t: &'a Telemetry) -> Self {
        InFlight(1).emit(t);
        InFlightGuard(t)
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        InFlight(-1).emit(self.0);
    }
}

/// Seconds from a Unix time in milliseconds to now (0 if in the future).
fn seconds_since(ms: i64) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    (now - ms).max(0) as f64 / 1000.0
}

/// The URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact("amqps://svc:s3cr3t@rabbit:5671/prod"),
            "amqps://svc:***@rabbit:5671/prod"
        );
        assert_eq!(
            redact("amqp://127.0.0.1:5672/%2f"),
            "amqp://127.0.0.1:5672/%2f"
        );
        assert!(!redact("amqp://a:p%40ss@h/v").contains("p%40ss"));
    }
}
