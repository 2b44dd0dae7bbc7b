//! `mailsift bench-amqp`: end-to-end throughput and latency through a real
//! broker, next to the same broker's bare ceiling measured the same way in
//! the same run.
//!
//! Phases, each on fresh queues named `bench-<pid>-…`:
//! 1. **bare ceiling**: N messages pre-published; the worker in relay mode
//!    (consume → publish with confirms → ack, no classification) drains them.
//! 2. **classify**: the same N messages through the real pipeline.
//! 3. **latency**: messages published at half the classify rate; latency is
//!    from the edge's publish (header `x-edge-published-at-ms`) to the output
//!    arriving at a consumer of the output queues (just after its confirm).
//!
//! The load generator, the consumers and the worker share this machine.

use crate::args::{BrokerArgs, RulesArgs};
use anyhow::Result;
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use mailsift_amqp::input::InputPublisher;
use mailsift_amqp::relay::Relay;
use mailsift_amqp::{contract, Consumer, SessionConfig, Topology, Worker, WorkerConfig};
use mailsift_core::{Engine, Envelope};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// Messages per throughput phase.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Corpus to draw messages from (default: corpus/public, else corpus/).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Worker prefetch.
    #[arg(long, default_value_t = 256)]
    prefetch: u16,
    /// Classification threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 10)]
    latency_seconds: u64,
    #[command(flatten)]
    rules: RulesArgs,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

struct Phase {
    messages: usize,
    seconds: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds.max(1e-9)
    }
}

pub fn run(args: BenchArgs) -> Result<()> {
    let engine = Arc::new(args.rules.engine()?);
    let (source, bodies) = crate::args::bench_bodies(args.corpus.as_deref())?;
    let avg = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let bare = throughput(&args, &engine, &bodies, Mode::Bare, threads).await?;
        let full = throughput(&args, &engine, &bodies, Mode::Classify, threads).await?;
        let target = full.rate() / 2.0;
        let (p50, p99, n) = latency(&args, &engine, &bodies, target, threads).await?;
        let hwm = peak_rss_kb();
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "messages": args.messages, "avg_message_bytes": avg, "prefetch": args.prefetch,
                    "threads": threads, "bare_messages_per_second": bare.rate(),
                    "classify_messages_per_second": full.rate(), "ratio": full.rate() / bare.rate(),
                    "latency_rate": target, "latency_messages": n, "p50_ms": p50, "p99_ms": p99,
                    "peak_rss_kb": hwm,
                })
            );
        } else {
            println!("corpus {} ({} messages, {avg} bytes average), {} per phase, prefetch {}, {threads} classification threads",
                source.display(), bodies.len(), args.messages, args.prefetch);
            println!("bare ceiling (consume → publish+confirm → ack): {:>8.0} messages/s", bare.rate());
            println!("end to end with classification:                 {:>8.0} messages/s  ({:.0} % of bare)", full.rate(), 100.0 * full.rate() / bare.rate());
            println!("latency at {target:.0} messages/s ({n} messages): p50 {p50:.1} ms, p99 {p99:.1} ms (edge publish → output delivered)");
            println!("peak RSS of this process (worker + load generator): {} MiB", hwm / 1024);
        }
        Ok::<(), anyhow::Error>(())
    })
}

fn topology(engine: &Engine, phase: &str) -> Topology {
    Topology::with_regions(engine.rules().policy.regions())
        .prefixed(&format!("bench-{}-{phase}-", std::process::id()))
}

fn items(
    bodies: &[Vec<u8>],
    n: usize,
) -> impl Iterator<Item = (String, Result<Vec<u8>, String>)> + '_ {
    (0..n).map(move |i| (format!("bench-{i}"), Ok(bodies[i % bodies.len()].clone())))
}

/// What the phase's consumer does with each input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Relay unchanged (the broker's bare ceiling).
    Bare,
    /// The real worker.
    Classify,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::Classify => "classify",
        }
    }
}

/// Runs the phase's consumer until `stop` turns true.
async fn consume(
    args: &BenchArgs,
    engine: &Arc<Engine>,
    t: &Topology,
    mode: Mode,
    threads: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>> {
    let cfg = WorkerConfig {
        amqp_url: args.broker.amqp_url.clone(),
        topology: t.clone(),
        prefetch: args.prefetch,
        grace: Duration::from_secs(30),
        journal_include_body: false,
        max_backoff: Duration::from_secs(1),
        record_dns: None,
    };
    Ok(match mode {
        Mode::Classify => {
            let shared = Arc::new(arc_swap::ArcSwap::from(engine.clone()));
            let w = Worker::new(cfg, shared, threads)?;
            tokio::spawn(async move { w.run(stop).await })
        }
        Mode::Bare => {
            let topology = Arc::new(t.clone());
            let session = SessionConfig {
                amqp_url: cfg.amqp_url,
                queues: vec![t.input_queue.clone()],
                prefetch: cfg.prefetch,
                grace: cfg.grace,
                max_backoff: cfg.max_backoff,
            };
            let relay = Consumer::new(
                session,
                topology.clone(),
                Arc::new(Relay::new(topology)),
                Arc::default(),
                mailsift_telemetry::Telemetry::new(),
            );
            tokio::spawn(async move { relay.run(stop).await })
        }
    })
}

async fn throughput(
    args: &BenchArgs,
    engine: &Arc<Engine>,
    bodies: &[Vec<u8>],
    mode: Mode,
    threads: usize,
) -> Result<Phase> {
    let t = topology(engine, mode.name());
    mailsift_amqp::enqueue::enqueue(
        &args.broker.amqp_url,
        &t,
        items(bodies, args.messages),
        &Envelope::default(),
        1024,
        || {},
    )
    .await?;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let counter = count_outputs(&args.broker.amqp_url, &t, args.messages, None);
    let started = Instant::now();
    let running = consume(args, engine, &t, mode, threads, rx).await?;
    let (n, _) = counter.await?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = running.await;
    cleanup(&args.broker.amqp_url, &t).await;
    Ok(Phase {
        messages: n,
        seconds,
    })
}

async fn latency(
    args: &BenchArgs,
    engine: &Arc<Engine>,
    bodies: &[Vec<u8>],
    rate: f64,
    threads: usize,
) -> Result<(f64, f64, usize)> {
    let t = topology(engine, "latency");
    let n = ((rate * args.latency_seconds as f64) as usize).max(100);
    let (stop, rx) = tokio::sync::watch::channel(false);
    // Declare before anything publishes.
    mailsift_amqp::enqueue::enqueue(
        &args.broker.amqp_url,
        &t,
        std::iter::empty(),
        &Envelope::default(),
        1,
        || {},
    )
    .await?;
    let running = consume(args, engine, &t, Mode::Classify, threads, rx).await?;
    let counter = count_outputs(&args.broker.amqp_url, &t, n, Some(()));
    // Publish in 2 ms ticks at the target rate, over one connection as an
    // edge would, awaiting each tick's confirms.
    let per_tick = rate / 500.0;
    let publisher = InputPublisher::connect(&args.broker.amqp_url, &t).await?;
    let owned: Vec<Vec<u8>> = bodies.to_vec();
    let publishing = tokio::spawn(async move {
        let mut sent = 0usize;
        let mut owed = 0.0f64;
        let mut tick = tokio::time::interval(Duration::from_millis(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while sent < n {
            tick.tick().await;
            owed += per_tick;
            let batch = (owed as usize).min(n - sent);
            owed -= batch as f64;
            let mut confirms = Vec::with_capacity(batch);
            for i in sent..sent + batch {
                let env = Envelope {
                    queue_id: Some(format!("lat-{i}")),
                    ..Envelope::default()
                };
                confirms.push(
                    publisher
                        .publish(owned[i % owned.len()].clone(), &env)
                        .await?,
                );
            }
            for c in confirms {
                c.confirmed().await?;
            }
            sent += batch;
        }
        publisher.close().await;
        Ok::<(), mailsift_amqp::PublishError>(())
    });
    let (_, mut lat) = counter.await?;
    publishing.await??;
    let _ = stop.send(true);
    let _ = running.await;
    cleanup(&args.broker.amqp_url, &t).await;
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Ok((pct(0.50), pct(0.99), lat.len()))
}

/// Consumes the output queues until `n` outputs arrived; with `latencies`,
/// also returns each output's edge-publish-to-arrival time in ms.
async fn count_outputs(
    url: &str,
    t: &Topology,
    n: usize,
    latencies: Option<()>,
) -> Result<(usize, Vec<f64>)> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    ch.basic_qos(2000, BasicQosOptions::default()).await?;
    let mut streams = Vec::new();
    // The queues exist: every phase declares the topology before it starts.
    for q in t.output_queues() {
        let opts = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        streams.push(
            ch.basic_consume(
                q.as_str().into(),
                format!("bench-{q}").as_str().into(),
                opts,
                FieldTable::default(),
            )
            .await?,
        );
    }
    let mut all = futures_util::stream::select_all(streams);
    let mut seen = 0;
    let mut lat = Vec::new();
    while seen < n {
        match tokio::time::timeout(Duration::from_secs(120), all.next()).await {
            Ok(Some(Ok(d))) => {
                seen += 1;
                if latencies.is_some() {
                    let sent = d.properties.headers().as_ref().and_then(|h| {
                        match h.inner().get(contract::PUBLISHED_AT_MS) {
                            Some(AMQPValue::LongLongInt(ms)) => Some(*ms),
                            _ => None,
                        }
                    });
                    if let Some(sent) = sent {
                        let now = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis() as i64);
                        lat.push((now - sent) as f64);
                    }
                }
            }
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => break,
            Err(_) => anyhow::bail!("no output for 120 s after {seen} of {n}"),
        }
    }
    let _ = conn.close(200, "done".into()).await;
    Ok((seen, lat))
}

async fn cleanup(url: &str, t: &Topology) {
    let Ok(conn) = Connection::connect(url, ConnectionProperties::default()).await else {
        return;
    };
    let mut queues = t.output_queues();
    queues.push(t.input_queue.clone());
    queues.push(t.dead_letter_queue.clone());
    queues.push(t.retry_queue.clone());
    for q in queues {
        // Quorum queue deletion can fail right after heavy traffic on 3.10: retry.
        for _ in 0..5 {
            let Ok(ch) = conn.create_channel().await else {
                break;
            };
            if ch
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for e in [
        &t.deliver_exchange,
        &t.quarantine_exchange,
        &t.verdicts_exchange,
        &t.dead_letter_exchange,
    ] {
        if let Ok(ch) = conn.create_channel().await {
            let _ = ch
                .exchange_delete(e.as_str().into(), Default::default())
                .await;
        }
    }
    let _ = conn.close(200, "done".into()).await;
}

/// Peak resident set size of this process (Linux), in KiB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
