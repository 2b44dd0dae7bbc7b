//! The worker: classify each input on a bounded CPU pool, publish its
//! outputs with confirms, and acknowledge the input only once they are
//! confirmed.
//!
//! At-least-once: a crash or a lost connection can publish an output twice
//! but never lose one. Outputs carry `x-mailsift-id` (also the AMQP
//! `message_id`), a hash of the input and its envelope; consumers
//! de-duplicate on it.

use crate::outputs::{self, Group};
use crate::publisher::{Output, PublishError, Publisher};
use crate::session::{Consumer, Handler, SessionConfig, Settle, Stats};
use crate::topology::Topology;
use arc_swap::ArcSwap;
use lapin::message::Delivery;
use lapin::types::FieldTable;
use mailsift_auth::zone::Zone;
use mailsift_auth::{AuthResults, Authenticator};
use mailsift_core::{Engine, Prepared, Route};
use mailsift_telemetry::events::{MessageClassified, OutputRefused, RetryScheduled};
use mailsift_telemetry::Telemetry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// The engine in use, swapped whole when the rules are reloaded. Each
/// message is classified on the engine it started with.
pub type SharedEngine = Arc<ArcSwap<Engine>>;

/// Worker settings.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// `amqp://` or `amqps://` URL (never logged as is).
    pub amqp_url: String,
    /// Queue and exchange names.
    pub topology: Topology,
    /// Unacked deliveries in flight (backpressure).
    pub prefetch: u16,
    /// How long a shutdown may take to finish in-flight work.
    pub grace: Duration,
    /// Journal mode: send the stamped message with the verdict (default: verdict JSON only).
    pub journal_include_body: bool,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
    /// Write the DNS answers each verdict used to `<dir>/<x-mailsift-id>.yml`
    /// (replay them with `mailsift check --dns FILE`).
    pub record_dns: Option<PathBuf>,
}

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The CPU pool could not start.
    #[error("cannot start the classification pool: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
}

/// The worker: a [`Consumer`] of the input queue with the classification
/// handler.
pub struct Worker {
    session: SessionConfig,
    topology: Arc<Topology>,
    classifier: Arc<Classifier>,
    stats: Arc<Stats>,
}

impl Worker {
    /// A worker classifying on `threads` CPU threads with the engine in
    /// `engine`, counting into a fresh [`Telemetry`] until given one
    /// ([`Worker::with_telemetry`]).
    pub fn new(
        cfg: WorkerConfig,
        engine: SharedEngine,
        threads: usize,
    ) -> Result<Worker, WorkerError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("classify-{i}"))
            .build()?;
        let topology = Arc::new(cfg.topology.clone());
        let classifier = Classifier {
            engine,
            telemetry: Telemetry::new(),
            auth: None,
            pool: Arc::new(pool),
            topology: topology.clone(),
            journal_include_body: cfg.journal_include_body,
            record_dns: cfg.record_dns,
        };
        let session = SessionConfig {
            amqp_url: cfg.amqp_url,
            queues: vec![cfg.topology.input_queue.clone()],
            prefetch: cfg.prefetch,
            grace: cfg.grace,
            max_backoff: cfg.max_backoff,
        };
        Ok(Worker {
            session,
            topology,
            classifier: Arc::new(classifier),
            stats: Arc::default(),
        })
    }

    /// Runs sender authentication (SPF, DKIM, DMARC, ARC) with `auth`
    /// before classifying; without it the `auth` check is silent.
    pub fn with_authenticator(mut self, auth: Arc<Authenticator>) -> Worker {
        Arc::make_mut(&mut self.classifier).auth = Some(auth);
        self
    }

    /// Counts into `telemetry` (shared with the HTTP endpoints).
    pub fn with_telemetry(mut self, telemetry: Arc<Telemetry>) -> Worker {
        Arc::make_mut(&mut self.classifier).telemetry = telemetry;
        self
    }

    /// The counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Runs until `shutdown` turns true (see [`Consumer::run`]).
    pub async fn run(&self, shutdown: watch::Receiver<bool>) {
        Consumer::new(
            self.session.clone(),
            self.topology.clone(),
            self.classifier.clone(),
            self.stats.clone(),
            self.classifier.telemetry.clone(),
        )
        .run(shutdown)
        .await
    }
}

/// The classification handler.
#[derive(Clone)]
struct Classifier {
    engine: SharedEngine,
    telemetry: Arc<Telemetry>,
    auth: Option<Arc<Authenticator>>,
    pool: Arc<rayon::ThreadPool>,
    topology: Arc<Topology>,
    journal_include_body: bool,
    record_dns: Option<PathBuf>,
}

impl Handler for Classifier {
    async fn handle(&self, mut delivery: Delivery, out: &Publisher) -> lapin::Result<Settle> {
        let headers = delivery.properties.headers().clone();
        let body = std::mem::take(&mut delivery.data);
        let Some(outputs) = self.outputs(body, headers).await else {
            return Ok(Settle::Requeue);
        };
        match out.send_all(&outputs).await {
            Ok(()) => Ok(Settle::Ack {
                outputs: outputs.len(),
            }),
            Err(PublishError::Broker(e)) => Err(e),
            Err(e) => {
                OutputRefused {
                    reason: e.reason(),
                    error: &e.to_string(),
                }
                .emit(&self.telemetry);
                Ok(Settle::Requeue)
            }
        }
    }
}

/// An input's groups, each prepared, and the time the parse and planning
/// took (counted in each group's classification time).
type Planned = (Vec<(Group, Prepared)>, Duration);

impl Classifier {
    /// Parses the input once and plans its outputs (one per recipient
    /// policy group) on the pool, authenticates each group's message on the
    /// async side (DNS), then classifies and encodes on the pool. `None`
    /// when a pool task died outside the engine's own guard: the caller
    /// requeues and the delivery limit decides.
    async fn outputs(&self, body: Vec<u8>, headers: Option<FieldTable>) -> Option<Vec<Output>> {
        // The rules in use now; a reload does not change this message.
        let engine = self.engine.load_full();
        let plan = move || -> Planned {
            let started = Instant::now();
            let parsed = engine.parse(body);
            let groups = outputs::plan(&parsed, headers, engine.rules())
                .into_iter()
                .map(|group| {
                    let prepared = engine.prepare(parsed.clone(), Some(&group.envelope));
                    (group, prepared)
                })
                .collect();
            (groups, started.elapsed())
        };
        let this = self.clone();
        let Some(auth) = self.auth.clone() else {
            // No authentication: one trip to the pool.
            return self
                .on_pool(move || {
                    let (groups, planning) = plan();
                    groups
                        .iter()
                        .map(|(g, p)| this.encode(g, p, None, planning))
                        .collect()
                })
                .await;
        };
        let (groups, planning) = self.on_pool(plan).await?;
        let mut results = Vec::with_capacity(groups.len());
        for (group, prepared) in &groups {
            results.push(self.authenticate(&auth, group, prepared).await);
        }
        self.on_pool(move || {
            groups
                .iter()
                .zip(&results)
                .map(|((g, p), r)| this.encode(g, p, r.as_ref(), planning))
                .collect()
        })
        .await
    }

    /// Authenticates one group's message, recording the DNS it used when
    /// asked to; `None` for a message that cannot be scanned.
    async fn authenticate(
        &self,
        auth: &Authenticator,
        group: &Group,
        prepared: &Prepared,
    ) -> Option<AuthResults> {
        let subject = prepared.auth_subject()?;
        let (results, zone) = auth
            .authenticate_recording(&subject, self.record_dns.is_some())
            .await;
        if let (Some(dir), Some(zone)) = (&self.record_dns, zone) {
            // File I/O off the async threads, done before the output goes.
            let (dir, id) = (dir.clone(), group.id.clone());
            let _ = tokio::task::spawn_blocking(move || write_recording(&dir, &id, &zone)).await;
        }
        Some(results)
    }

    /// Classifies one group, says so, and encodes its output.
    fn encode(
        &self,
        group: &Group,
        prepared: &Prepared,
        auth: Option<&AuthResults>,
        planning: Duration,
    ) -> Output {
        let started = Instant::now();
        let (verdict, checks) = prepared.classify_timed(auth);
        MessageClassified {
            id: &group.id,
            domain: &verdict.policy_domain,
            disposition: verdict.disposition.as_str(),
            route: verdict.route.as_str(),
            score: verdict.score,
            seconds: (started.elapsed() + planning).as_secs_f64(),
            checks: &checks,
        }
        .emit(&self.telemetry);
        if verdict.route == Route::Requeue {
            RetryScheduled {
                id: &group.id,
                attempt: group.envelope.retries.saturating_add(2),
            }
            .emit(&self.telemetry);
        }
        outputs::encode(
            &verdict,
            group,
            prepared.parsed(),
            prepared.rules(),
            &self.topology,
            self.journal_include_body,
        )
    }

    /// Runs `f` on the CPU pool. `None` means the task died outside the
    /// engine's own panic guard.
    async fn on_pool<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.pool.spawn(move || {
            // Planning and stamping read input outside the engine's own
            // guard; a panic there must cost this message a requeue, not
            // the process (rayon aborts on an unhandled panic in a task).
            if let Ok(out) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                let _ = tx.send(out);
            }
        });
        rx.await.ok()
    }
}

/// Writes one verdict's DNS; a failure is logged, never fatal.
fn write_recording(dir: &Path, id: &str, zone: &Zone) {
    let path = dir.join(format!("{id}.yml"));
    if let Err(e) = std::fs::write(&path, zone.to_yaml()) {
        tracing::warn!(path = %path.display(), error = %e, "cannot record DNS answers");
    }
}
