//! The worker: consume, classify on a bounded CPU pool, publish with
//! confirms, and ack the input only once its output is confirmed.
//!
//! At-least-once: an input is acked after the broker confirmed its output,
//! so a crash or a lost connection can publish an output twice but never
//! lose one. Outputs carry `x-mailsift-id` (also the AMQP `message_id`), a
//! hash of the input and its envelope; consumers de-duplicate on it.

use super::contract::{self, Destination};
use super::topology::Topology;
use crate::auth::{AuthResults, AuthSubject, Authenticator};
use crate::engine::Engine;
use crate::envelope::Envelope;
use crate::stamp;
use crate::verdict::Route;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

/// What the worker does with each input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Classify, stamp and route by policy (production).
    Classify,
    /// Relay the input unchanged to the first region's delivery queue: the
    /// broker's bare ceiling, for benchmarks.
    Bare,
}

/// Worker settings.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// `amqp://` or `amqps://` URL (never logged as is: see [`redact`]).
    pub amqp_url: String,
    /// Queue and exchange names.
    pub topology: Topology,
    /// Unacked deliveries in flight (backpressure).
    pub prefetch: u16,
    /// How long a shutdown may take to finish in-flight work.
    pub grace: Duration,
    /// Journal mode: send the stamped message with the verdict (default: verdict JSON only).
    pub journal_include_body: bool,
    /// Classify, or relay bare.
    pub mode: Mode,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
    /// Write the DNS answers each verdict used to `<dir>/<x-mailsift-id>.yml`
    /// (replay them with `mailsift check --dns FILE`).
    pub record_dns: Option<PathBuf>,
}

/// Why the worker stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The CPU pool could not start.
    #[error("cannot start the classification pool: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
}

/// Counters, readable while the worker runs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Inputs whose output was confirmed and which were then acked.
    pub acked: AtomicU64,
    /// Inputs nacked back to the queue (output nacked, internal failure).
    pub requeued: AtomicU64,
    /// Broker connections opened (1 + reconnects).
    pub connections: AtomicU64,
}

/// A running worker's shared state.
pub struct Worker {
    cfg: WorkerConfig,
    engine: Arc<Engine>,
    auth: Option<Arc<Authenticator>>,
    pool: Arc<rayon::ThreadPool>,
    stats: Arc<Stats>,
    /// Shared by every message task (built once, not per delivery).
    topology: Arc<Topology>,
    record_dns: Option<Arc<PathBuf>>,
}

/// How a broker session ended.
enum SessionEnd {
    /// Shutdown requested and everything in flight settled (or grace ran out).
    Shutdown,
}

impl Worker {
    /// A worker classifying on `threads` CPU threads.
    pub fn new(
        mut cfg: WorkerConfig,
        engine: Arc<Engine>,
        threads: usize,
    ) -> Result<Worker, WorkerError> {
        // Prefetch 0 means "unlimited" to the broker: memory would be unbounded.
        cfg.prefetch = cfg.prefetch.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("classify-{i}"))
            .build()?;
        Ok(Worker {
            topology: Arc::new(cfg.topology.clone()),
            record_dns: cfg.record_dns.clone().map(Arc::new),
            cfg,
            engine,
            auth: None,
            pool: Arc::new(pool),
            stats: Arc::new(Stats::default()),
        })
    }

    /// Runs sender authentication (SPF, DKIM, DMARC, ARC) with `auth`
    /// before classifying; without it the `auth` check is silent.
    pub fn with_authenticator(mut self, auth: Arc<Authenticator>) -> Worker {
        self.auth = Some(auth);
        self
    }

    /// The counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
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
                    tracing::warn!(error = %e, retry_in = ?backoff, "broker session ended; reconnecting");
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
        self.stats.connections.fetch_add(1, Ordering::Relaxed);
        let out = conn.create_channel().await?;
        out.confirm_select(ConfirmSelectOptions::default()).await?;
        self.cfg.topology.declare(&out).await?;
        let input = conn.create_channel().await?;
        input
            .basic_qos(self.cfg.prefetch, BasicQosOptions::default())
            .await?;
        let tag = format!(
            "mailsift-{}-{}",
            std::process::id(),
            self.stats.connections.load(Ordering::Relaxed)
        );
        let mut consumer = input
            .basic_consume(
                self.cfg.topology.input_queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(
            broker = %redact(&self.cfg.amqp_url),
            queue = %self.cfg.topology.input_queue,
            prefetch = self.cfg.prefetch,
            "consuming"
        );
        let mut in_flight: JoinSet<lapin::Result<()>> = JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        return self.drain(conn, input, consumer, tag, out, in_flight).await;
                    }
                }
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => {
                        in_flight.spawn(handle(delivery, out.clone(), self.shared()));
                    }
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

    /// Stop consuming, finish and confirm what is in flight, ack, close.
    async fn drain(
        &self,
        conn: Connection,
        input: Channel,
        mut consumer: lapin::Consumer,
        tag: String,
        out: Channel,
        mut in_flight: JoinSet<lapin::Result<()>>,
    ) -> lapin::Result<SessionEnd> {
        tracing::info!(in_flight = in_flight.len(), grace = ?self.cfg.grace, "shutting down: no new deliveries");
        let deadline = tokio::time::Instant::now() + self.cfg.grace;
        input
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await?;
        // Deliveries already on their way to us are finished too, not dropped.
        let settle = async {
            while let Some(next) = consumer.next().await {
                match next {
                    Ok(delivery) => {
                        in_flight.spawn(handle(delivery, out.clone(), self.shared()));
                    }
                    Err(_) => break,
                }
            }
            while in_flight.join_next().await.is_some() {}
        };
        if tokio::time::timeout_at(deadline, settle).await.is_err() {
            tracing::warn!(
                "grace period over: closing with work in flight (the broker redelivers it)"
            );
        }
        let _ = input.close(200, "shutdown".into()).await;
        let _ = out.close(200, "shutdown".into()).await;
        let _ = conn.close(200, "shutdown".into()).await;
        tracing::info!(
            acked = self.stats.acked.load(Ordering::Relaxed),
            "stopped cleanly"
        );
        Ok(SessionEnd::Shutdown)
    }

    fn shared(&self) -> Shared {
        Shared {
            engine: self.engine.clone(),
            auth: self.auth.clone(),
            record_dns: self.record_dns.clone(),
            pool: self.pool.clone(),
            stats: self.stats.clone(),
            topology: self.topology.clone(),
            journal_include_body: self.cfg.journal_include_body,
            mode: self.cfg.mode,
        }
    }
}

/// What one message task needs.
struct Shared {
    engine: Arc<Engine>,
    auth: Option<Arc<Authenticator>>,
    record_dns: Option<Arc<PathBuf>>,
    pool: Arc<rayon::ThreadPool>,
    stats: Arc<Stats>,
    topology: Arc<Topology>,
    journal_include_body: bool,
    mode: Mode,
}

/// An output ready to publish.
struct Output {
    exchange: String,
    routing_key: String,
    body: Vec<u8>,
    properties: BasicProperties,
}

/// One input: classify off the async threads, publish, await the confirm,
/// then ack. Returns an error only when the channel is unusable.
async fn handle(mut delivery: Delivery, out: Channel, shared: Shared) -> lapin::Result<()> {
    let headers = delivery.properties.headers().clone();
    let body = std::mem::take(&mut delivery.data);
    let outputs = match shared.mode {
        Mode::Bare => Some(vec![bare_output(body, headers, &shared.topology)]),
        Mode::Classify => classify_input(body, headers, &shared).await,
    };
    let Some(outputs) = outputs else {
        return requeue(&delivery, &shared).await;
    };
    // Publish every output, then await all their confirms together.
    let mut confirms = Vec::with_capacity(outputs.len());
    for output in &outputs {
        confirms.push(
            out.basic_publish(
                output.exchange.as_str().into(),
                output.routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &output.body,
                output.properties.clone(),
            )
            .await?,
        );
    }
    let mut all_routed = true;
    for (confirm, output) in confirms.into_iter().zip(&outputs) {
        let confirm = confirm.await?;
        // Unroutable (no queue bound for that key) comes back as a returned
        // message: not delivered anywhere, so the input is not acked.
        if !(confirm.is_ack() && confirm.take_message().is_none()) {
            tracing::warn!(exchange = %output.exchange, key = %output.routing_key, "output not confirmed or unroutable; requeueing the input");
            all_routed = false;
        }
    }
    if !all_routed {
        return requeue(&delivery, &shared).await;
    }
    delivery.ack(BasicAckOptions::default()).await?;
    shared.stats.acked.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

async fn requeue(delivery: &Delivery, shared: &Shared) -> lapin::Result<()> {
    shared.stats.requeued.fetch_add(1, Ordering::Relaxed);
    delivery
        .nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        })
        .await?;
    Ok(())
}

/// Runs `f` on the CPU pool. `None` means the pool task died outside the
/// engine's own panic guard: the caller requeues and the delivery limit
/// decides.
async fn on_pool<T: Send + 'static>(
    shared: &Shared,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    shared.pool.spawn(move || {
        // Planning and stamping read input outside the engine's own guard;
        // a panic there must cost this message a requeue, not the process
        // (rayon aborts on an unhandled panic in a spawned task).
        if let Ok(out) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            let _ = tx.send(out);
        }
    });
    rx.await.ok()
}

/// Plans the outputs (one per recipient policy group), authenticates each
/// group's message on the async side (DNS), then classifies and stamps on
/// the pool.
async fn classify_input(
    body: Vec<u8>,
    headers: Option<FieldTable>,
    shared: &Shared,
) -> Option<Vec<Output>> {
    let engine = shared.engine.clone();
    let topology = shared.topology.clone();
    let include_body = shared.journal_include_body;
    let Some(auth) = shared.auth.clone() else {
        // No authentication: plan and classify in one trip to the pool.
        return on_pool(shared, move || {
            plan(&engine, &body, headers, false)
                .iter()
                .map(|g| one_output(&engine, &topology, &body, g, None, include_body))
                .collect()
        })
        .await;
    };
    let body = Arc::new(body);
    let (e, b) = (engine.clone(), body.clone());
    let groups = on_pool(shared, move || plan(&e, &b, headers, true)).await?;
    let mut auth_results = Vec::with_capacity(groups.len());
    for g in &groups {
        let Some(subject) = &g.subject else {
            auth_results.push(None);
            continue;
        };
        let (results, zone) = auth
            .authenticate_recording(subject, shared.record_dns.is_some())
            .await;
        if let (Some(dir), Some(zone)) = (&shared.record_dns, zone) {
            // File I/O off the async threads, done before the output goes.
            let (dir, id) = (dir.clone(), g.id.clone());
            let _ = tokio::task::spawn_blocking(move || write_recording(&dir, &id, &zone)).await;
        }
        auth_results.push(Some(results));
    }
    on_pool(shared, move || {
        groups
            .iter()
            .zip(&auth_results)
            .map(|(g, r)| one_output(&engine, &topology, &body, g, r.as_ref(), include_body))
            .collect()
    })
    .await
}

/// Writes one verdict's DNS; a failure is logged, never fatal.
fn write_recording(dir: &std::path::Path, id: &str, zone: &crate::auth::zone::Zone) {
    let path = dir.join(format!("{id}.yml"));
    if let Err(e) = std::fs::write(&path, zone.to_yaml()) {
        tracing::warn!(path = %path.display(), error = %e, "cannot record DNS answers");
    }
}

/// One output to produce for an input: the recipients of one policy group.
struct Group {
    envelope: Envelope,
    headers: Option<FieldTable>,
    id: String,
    subject: Option<AuthSubject<'static>>,
}

/// Splits an input by recipient policy group: a message for contoso.com
/// (us) and fabrikam.com (eu) is judged under each domain's policy and
/// delivered to each region with only that domain's recipients.
fn plan(engine: &Engine, body: &[u8], headers: Option<FieldTable>, auth: bool) -> Vec<Group> {
    let envelope = contract::envelope_from_headers(headers.as_ref());
    let id = contract::stable_id(body, &envelope);
    let subject = |env: &Envelope| {
        auth.then(|| {
            engine
                .auth_subject(body, Some(env))
                .map(AuthSubject::into_owned)
        })
        .flatten()
    };
    let groups = engine.rules().policy.group_recipients(&envelope.rcpt_to);
    if groups.len() <= 1 {
        return vec![Group {
            subject: subject(&envelope),
            envelope,
            headers,
            id,
        }];
    }
    groups
        .iter()
        .enumerate()
        .map(|(n, (_, rcpts))| {
            let mut env = envelope.clone();
            env.rcpt_to = rcpts.iter().map(|r| r.to_string()).collect();
            let mut h = headers.clone().unwrap_or_default();
            contract::envelope_to_headers(&env, &mut h);
            Group {
                subject: subject(&env),
                envelope: env,
                headers: Some(h),
                id: format!("{id}-{n}"),
            }
        })
        .collect()
}

fn one_output(
    engine: &Engine,
    topology: &Topology,
    body: &[u8],
    group: &Group,
    auth: Option<&AuthResults>,
    journal_include_body: bool,
) -> Output {
    let headers = group.headers.as_ref();
    let mut verdict = engine.classify_with_auth(body, Some(&group.envelope), auth);
    if verdict.route == Route::Requeue {
        let attempt = contract::attempt(headers) + 1;
        let gateway = &engine.rules().policy.gateway;
        if attempt < gateway.requeue_attempts {
            // The unchanged input (this group's recipients only) waits in
            // the retry queue and comes back to the input queue later.
            return Output {
                exchange: String::new(),
                routing_key: topology.retry_queue.clone(),
                body: body.to_vec(),
                properties: properties(
                    contract::with_attempt(headers, attempt),
                    &group.id,
                    "message/rfc822",
                ),
            };
        }
        verdict.route = Route::Quarantine;
        verdict.incomplete = Some(format!(
            "{}; still failing after {attempt} attempts: quarantined",
            verdict.incomplete.as_deref().unwrap_or("DNS failure")
        ));
    }
    let out_headers = contract::output_headers(headers, &verdict, &group.id);
    let (dest, routing_key) = contract::destination(&verdict);
    let exchange = match dest {
        Destination::Deliver => &topology.deliver_exchange,
        Destination::Quarantine => &topology.quarantine_exchange,
        Destination::Verdicts => &topology.verdicts_exchange,
        // Handled above; kept total for the compiler.
        Destination::Retry => &topology.quarantine_exchange,
    }
    .clone();
    let (body, content_type) = if dest == Destination::Verdicts && !journal_include_body {
        (
            serde_json::to_vec(&verdict).unwrap_or_default(),
            "application/json",
        )
    } else {
        (
            stamp::stamp(body, &verdict, &engine.rules().engine.stamp),
            "message/rfc822",
        )
    };
    Output {
        exchange,
        routing_key,
        body,
        properties: properties(out_headers, &group.id, content_type),
    }
}

fn bare_output(body: Vec<u8>, headers: Option<FieldTable>, topology: &Topology) -> Output {
    let id = contract::stable_id(&body, &contract::envelope_from_headers(headers.as_ref()));
    let region = topology.regions.first().map(String::as_str).unwrap_or("us");
    Output {
        exchange: topology.deliver_exchange.clone(),
        routing_key: format!("deliver.{region}"),
        properties: properties(headers.unwrap_or_default(), &id, "message/rfc822"),
        body,
    }
}

fn properties(headers: FieldTable, id: &str, content_type: &str) -> BasicProperties {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(content_type.into())
        .with_message_id(id.into())
        .with_timestamp(now)
        .with_headers(headers)
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
