//! The worker: classify each input on a bounded CPU pool, publish its
//! outputs with confirms, and acknowledge the input only once they are
//! confirmed.
//!
//! At-least-once: a crash or a lost connection can publish an output twice
//! but never lose one. Outputs carry `x-mailsift-id` (also the AMQP
//! `message_id`), a hash of the input and its envelope; consumers
//! de-duplicate on it.

use crate::outputs::{self, Group};
use crate::publisher::Publisher;
use crate::session::{Consumer, Handler, SessionConfig, Settle, Stats};
use crate::topology::Topology;
use lapin::message::Delivery;
use lapin::types::FieldTable;
use mailsift_auth::zone::Zone;
use mailsift_auth::{AuthResults, Authenticator};
use mailsift_core::{Engine, Prepared};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

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
    /// A worker classifying on `threads` CPU threads.
    pub fn new(
        cfg: WorkerConfig,
        engine: Arc<Engine>,
        threads: usize,
    ) -> Result<Worker, WorkerError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("classify-{i}"))
            .build()?;
        let topology = Arc::new(cfg.topology.clone());
        let classifier = Classifier {
            engine,
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
        )
        .run(shutdown)
        .await
    }
}

/// The classification handler.
#[derive(Clone)]
struct Classifier {
    engine: Arc<Engine>,
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
            Ok(()) => Ok(Settle::Ack),
            Err(crate::PublishError::Broker(e)) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "output not confirmed; requeueing the input");
                Ok(Settle::Requeue)
            }
        }
    }
}

impl Classifier {
    /// Parses the input once and plans its outputs (one per recipient
    /// policy group) on the pool, authenticates each group's message on the
    /// async side (DNS), then classifies and encodes on the pool. `None`
    /// when a pool task died outside the engine's own guard: the caller
    /// requeues and the delivery limit decides.
    async fn outputs(
        &self,
        body: Vec<u8>,
        headers: Option<FieldTable>,
    ) -> Option<Vec<crate::Output>> {
        let engine = self.engine.clone();
        let prepare = move || {
            let parsed = engine.parse(body);
            outputs::plan(&parsed, headers, engine.rules())
                .into_iter()
                .map(|group| {
                    let prepared = engine.prepare(parsed.clone(), Some(&group.envelope));
                    (group, prepared)
                })
                .collect::<Vec<(Group, Prepared)>>()
        };
        let Some(auth) = self.auth.clone() else {
            // No authentication: one trip to the pool.
            let this = self.clone();
            return self
                .on_pool(move || {
                    prepare()
                        .iter()
                        .map(|(g, p)| this.encode(g, p, None))
                        .collect()
                })
                .await;
        };
        let groups = self.on_pool(prepare).await?;
        let mut results = Vec::with_capacity(groups.len());
        for (group, prepared) in &groups {
            results.push(self.authenticate(&auth, group, prepared).await);
        }
        let this = self.clone();
        self.on_pool(move || {
            groups
                .iter()
                .zip(&results)
                .map(|((g, p), r)| this.encode(g, p, r.as_ref()))
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

    /// Classifies one group and encodes its output.
    fn encode(
        &self,
        group: &Group,
        prepared: &Prepared,
        auth: Option<&AuthResults>,
    ) -> crate::Output {
        let verdict = prepared.classify(auth);
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
