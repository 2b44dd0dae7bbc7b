//! `mailsift bench-amqp`: what the worker costs on top of the broker, in
//! CPU per message and in throughput, next to the same broker's bare relay
//! measured the same way in the same run.
//!
//! Phases, each on fresh queues named `bench-<pid>-<phase>-…`:
//! 1. **bare**: N messages pre-published; a relay process (`mailsift
//!    bench-relay`: consume → publish unchanged with confirms → ack, no
//!    classification) drains them.
//! 2. **classify**: the same N messages through a real `mailsift worker
//!    --no-auth` process.
//! 3. **latency**: messages published at half the classify rate through a
//!    worker; latency is from the edge's publish (header
//!    `x-edge-published-at-ms`) to the output arriving at a consumer of the
//!    output queues (just after its confirm).
//!
//! CPU is read from `/proc/<pid>/stat` of the consumer process and of the
//! broker between a phase's first and last output (start-up is not
//! counted), and set against `mailsift replay --threads 1` on the same
//! messages (a child process; its CPU once waited for). The load generator
//! and the output consumer run in this process; with `--pin` the broker and
//! this process share CPU 0, and the consumers and replay have CPU 1.

use crate::args::{BrokerArgs, RulesArgs, TopologyArgs};
use crate::proc_stat;
use crate::service;
use anyhow::{Context as _, Result};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use mailsift_amqp::input::InputPublisher;
use mailsift_amqp::relay::Relay;
use mailsift_amqp::{contract, Consumer, SessionConfig, Topology};
use mailsift_core::{Engine, Envelope};
use mailsift_telemetry::Telemetry;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
    /// The broker's process id, to read its CPU time (default: the node
    /// `rabbitmqctl status` reports on this machine).
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Rounds of (replay, bare, classify); figures are the medians,
    /// and the ratios medians of each round's ratio (this machine is noisy).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Pin the broker and this load generator to CPU 0 and the measured
    /// consumer to CPU 1 (`taskset`; the broker's affinity is restored).
    #[arg(long)]
    pin: bool,
    #[command(flatten)]
    rules: RulesArgs,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

/// `mailsift bench-relay`: the bare phase's consumer, in a process of its
/// own so that its CPU time can be read.
#[derive(clap::Args)]
pub struct RelayArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    names: TopologyArgs,
    /// Unacked deliveries in flight.
    #[arg(long, default_value_t = 256)]
    prefetch: u16,
}

/// Runs the bare relay until SIGTERM.
pub fn relay(args: RelayArgs) -> Result<()> {
    let engine = args.rules.engine_without_model()?;
    let topology = Arc::new(args.names.topology(engine.rules()));
    service::runtime()?.block_on(async {
        let telemetry = Telemetry::new();
        let shutdown = service::shutdown_on_signal(telemetry.clone());
        let session = SessionConfig {
            amqp_url: args.broker.amqp_url.clone(),
            queues: vec![topology.input_queue.clone()],
            prefetch: args.prefetch,
            grace: Duration::from_secs(30),
            max_backoff: Duration::from_secs(1),
        };
        let relay = Arc::new(Relay::new(topology.clone()));
        Consumer::new(session, topology, relay, Arc::default(), telemetry)
            .run(shutdown)
            .await;
        Ok(())
    })
}

/// What a throughput phase measured between its first and its last output.
struct Phase {
    messages: usize,
    seconds: f64,
    consumer_cpu: Option<f64>,
    broker_cpu: Option<f64>,
    consumer_peak_rss_kb: Option<u64>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds.max(1e-9)
    }

    fn consumer_us(&self) -> Option<f64> {
        self.consumer_cpu
            .map(|s| s * 1e6 / self.messages.max(1) as f64)
    }

    fn broker_us(&self) -> Option<f64> {
        self.broker_cpu
            .map(|s| s * 1e6 / self.messages.max(1) as f64)
    }
}

pub fn run(args: BenchArgs) -> Result<()> {
    let engine = Arc::new(args.rules.engine()?);
    let (source, bodies) = crate::args::bench_bodies(args.corpus.as_deref())?;
    let avg = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let broker = args.broker_pid.or_else(proc_stat::rabbitmq_pid);
    let _pinned = match (args.pin, broker) {
        (false, _) => None,
        (true, Some(pid)) => Some(Pinned::apply(pid)?),
        (true, None) => anyhow::bail!("--pin needs the broker's process: give --broker-pid"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut rounds = Vec::new();
        for _ in 0..args.rounds.max(1) {
            rounds.push(Round {
                replay_us: replay_cpu_us(&args, &source, bodies.len())?,
                bare: throughput(&args, &engine, &bodies, Mode::Bare, threads, broker).await?,
                full: throughput(&args, &engine, &bodies, Mode::Classify, threads, broker).await?,
            });
        }
        let median_rate = |f: fn(&Round) -> f64| median(rounds.iter().map(f).map(Some)).unwrap_or(0.0);
        let (bare_rate, full_rate) = (median_rate(|r| r.bare.rate()), median_rate(|r| r.full.rate()));
        let replay_us = median(rounds.iter().map(|r| r.replay_us));
        let bare = Summary::of(rounds.iter().map(|r| &r.bare));
        let full = Summary::of(rounds.iter().map(|r| &r.full));
        let worker_ratios: Vec<Option<f64>> = rounds
            .iter()
            .map(|r| r.full.consumer_us().zip(r.replay_us).map(|(w, e)| w / e))
            .collect();
        let broker_ratios: Vec<Option<f64>> = rounds
            .iter()
            .map(|r| r.full.broker_us().zip(r.bare.broker_us()).map(|(f, b)| f / b))
            .collect();
        let worker_ratio = median(worker_ratios.iter().copied());
        let broker_ratio = median(broker_ratios.iter().copied());
        let target = full_rate / 2.0;
        let (p50, p99, n) = latency(&args, &engine, &bodies, target, threads).await?;
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "messages": args.messages, "avg_message_bytes": avg, "prefetch": args.prefetch,
                    "threads": threads, "pinned": args.pin, "rounds": rounds.len(),
                    "replay_cpu_us_per_message": replay_us,
                    "bare_messages_per_second": bare_rate,
                    "bare_relay_cpu_us_per_message": bare.consumer_us,
                    "bare_broker_cpu_us_per_message": bare.broker_us,
                    "bare_relay_peak_rss_kb": bare.peak_rss_kb,
                    "classify_messages_per_second": full_rate, "ratio": full_rate / bare_rate,
                    "worker_cpu_us_per_message": full.consumer_us,
                    "classify_broker_cpu_us_per_message": full.broker_us,
                    "worker_peak_rss_kb": full.peak_rss_kb,
                    "worker_cpu_vs_replay": worker_ratio,
                    "worker_cpu_vs_replay_per_round": worker_ratios,
                    "broker_cpu_classify_vs_bare": broker_ratio,
                    "broker_cpu_classify_vs_bare_per_round": broker_ratios,
                    "latency_rate": target, "latency_messages": n, "p50_ms": p50, "p99_ms": p99,
                })
            );
            return Ok::<(), anyhow::Error>(());
        }
        let us = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.0} µs"));
        let mib = |v: Option<u64>| v.map_or("—".to_string(), |kb| format!("{} MiB", kb / 1024));
        let times = |v: Option<f64>| v.map_or("not measured".to_string(), |v| format!("{v:.2}×"));
        let each = |v: &[Option<f64>]| v.iter().map(|r| times(*r)).collect::<Vec<_>>().join(", ");
        println!("corpus {} ({} messages, {avg} bytes average), {} per phase, {} round(s) (medians), prefetch {}, {threads} classification threads{}",
            source.display(), bodies.len(), args.messages, rounds.len(), args.prefetch,
            if args.pin { "; broker and load generator on CPU 0, consumer on CPU 1" } else { "" });
        println!("mailsift replay --threads 1 (same messages): {} CPU per message", us(replay_us));
        println!("{:<36} {:>12} {:>18} {:>16} {:>14}", "phase", "messages/s", "consumer CPU/msg", "broker CPU/msg", "consumer RSS");
        for (name, rate, p) in [("bare relay (consume → publish → ack)", bare_rate, &bare), ("worker (classify)", full_rate, &full)] {
            println!("{name:<36} {rate:>12.0} {:>18} {:>16} {:>14}", us(p.consumer_us), us(p.broker_us), mib(p.peak_rss_kb));
        }
        println!("end to end with classification: {:.0} % of the bare rate", 100.0 * full_rate / bare_rate);
        println!("worker CPU ÷ replay: {} (target ≤ 1.30×; rounds: {})", times(worker_ratio), each(&worker_ratios));
        println!("broker CPU with the worker ÷ with the bare relay: {} (target ≤ 1.15×; rounds: {})", times(broker_ratio), each(&broker_ratios));
        if broker.is_none() {
            println!("broker CPU not measured: its process is not on this machine or not found (give --broker-pid)");
        }
        println!("latency at {target:.0} messages/s ({n} messages): p50 {p50:.1} ms, p99 {p99:.1} ms (edge publish → output delivered)");
        Ok(())
    })
}

/// One round's measurements.
struct Round {
    replay_us: Option<f64>,
    bare: Phase,
    full: Phase,
}

/// A phase's medians over the rounds (the peak RSS: the highest).
struct Summary {
    consumer_us: Option<f64>,
    broker_us: Option<f64>,
    peak_rss_kb: Option<u64>,
}

impl Summary {
    fn of<'a>(phases: impl Iterator<Item = &'a Phase> + Clone) -> Summary {
        Summary {
            consumer_us: median(phases.clone().map(Phase::consumer_us)),
            broker_us: median(phases.clone().map(Phase::broker_us)),
            peak_rss_kb: phases.filter_map(|p| p.consumer_peak_rss_kb).max(),
        }
    }
}

/// The median of the values present (the mean of the middle two for an
/// even count); `None` when there is none.
fn median(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let mut v: Vec<f64> = values.flatten().collect();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[mid]),
        _ => Some((v[mid - 1] + v[mid]) / 2.0),
    }
}

/// CPU per message, in µs, of `mailsift replay SOURCE --threads 1` (a
/// child process, on the consumer's CPU with `--pin`) over at least
/// `--messages` messages: the corpus given as often as needed.
fn replay_cpu_us(args: &BenchArgs, source: &Path, corpus_messages: usize) -> Result<Option<f64>> {
    let times = args.messages.div_ceil(corpus_messages.max(1)).max(1);
    let mut cmd = consumer_command(args)?;
    cmd.arg("replay")
        .args(std::iter::repeat_n(source, times))
        .args(["--threads", "1", "--format", "json"]);
    if let Some(rules) = &args.rules.rules {
        cmd.arg("--rules").arg(rules);
    }
    if let Some(model) = &args.rules.model {
        cmd.arg("--model").arg(model);
    }
    let before = proc_stat::waited_children_cpu_seconds();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("cannot run mailsift replay")?;
    anyhow::ensure!(
        status.success(),
        "mailsift replay {} failed ({status})",
        source.display()
    );
    let after = proc_stat::waited_children_cpu_seconds();
    let messages = (times * corpus_messages).max(1) as f64;
    Ok(before.zip(after).map(|(b, a)| (a - b) * 1e6 / messages))
}

/// This program, under `taskset -c 1` with `--pin`.
fn consumer_command(args: &BenchArgs) -> Result<Command> {
    let exe = std::env::current_exe().context("cannot find this program to start the consumer")?;
    Ok(match args.pin {
        true => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", "1"]).arg(&exe);
            taskset
        }
        false => Command::new(&exe),
    })
}

/// CPU affinity set with `taskset` for the run; the broker's is restored
/// when dropped.
struct Pinned {
    broker: u32,
    broker_mask: String,
}

impl Pinned {
    fn apply(broker: u32) -> Result<Pinned> {
        let out = Command::new("taskset")
            .args(["-p", &broker.to_string()])
            .output()
            .context("--pin runs taskset (util-linux)")?;
        // "pid 3003's current affinity mask: 3"
        let broker_mask = String::from_utf8_lossy(&out.stdout)
            .rsplit(':')
            .next()
            .map(str::trim)
            .filter(|m| out.status.success() && !m.is_empty())
            .with_context(|| format!("cannot read the affinity of the broker (pid {broker})"))?
            .to_string();
        taskset(&["-a", "-p", "-c", "0", &broker.to_string()])?;
        let pinned = Pinned {
            broker,
            broker_mask,
        };
        taskset(&["-a", "-p", "-c", "0", &std::process::id().to_string()])?;
        Ok(pinned)
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = taskset(&["-a", "-p", &self.broker_mask, &self.broker.to_string()]);
    }
}

fn taskset(args: &[&str]) -> Result<()> {
    let status = Command::new("taskset")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .context("--pin runs taskset (util-linux)")?;
    anyhow::ensure!(status.success(), "taskset {} failed", args.join(" "));
    Ok(())
}

/// The phase's queues and exchanges, named as `mailsift worker
/// --name-prefix PREFIX` names them, and the prefix.
fn topology(engine: &Engine, phase: &str) -> Result<(Topology, String)> {
    let prefix = format!("bench-{}-{phase}-", std::process::id());
    let names = TopologyArgs::parse_prefixed(&prefix)?;
    Ok((names.topology(engine.rules()), prefix))
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

/// The phase's consumer: a child process of this program, its log in a
/// file (shown when it fails). Killed if dropped before [`Self::stop`].
struct ConsumerProcess {
    child: std::process::Child,
    log: PathBuf,
}

impl ConsumerProcess {
    fn spawn(args: &BenchArgs, mode: Mode, prefix: &str, threads: usize) -> Result<Self> {
        let mut cmd = consumer_command(args)?;
        match mode {
            Mode::Bare => cmd.arg("bench-relay"),
            Mode::Classify => cmd.args(["worker", "--no-auth", "--threads", &threads.to_string()]),
        };
        cmd.args([
            "--name-prefix",
            prefix,
            "--prefetch",
            &args.prefetch.to_string(),
        ])
        .arg("--amqp-url")
        .arg(&args.broker.amqp_url);
        if let Some(rules) = &args.rules.rules {
            cmd.arg("--rules").arg(rules);
        }
        if let (Mode::Classify, Some(model)) = (mode, &args.rules.model) {
            cmd.arg("--model").arg(model);
        }
        let log = std::env::temp_dir().join(format!("{prefix}consumer.log"));
        let file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = cmd
            .env_remove("MAILSIFT_HTTP_ADDR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .context("cannot start the consumer")?;
        Ok(ConsumerProcess { child, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What went wrong, for an error: its exit and its log's last lines.
    fn failure(&mut self) -> String {
        let exit = match self.child.try_wait() {
            Ok(Some(status)) => format!("the consumer exited ({status})"),
            _ => "the consumer is still running".to_string(),
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{exit}; its log ({}) ends:\n{}",
            self.log.display(),
            tail.join("\n")
        )
    }

    /// SIGTERM (it drains what is in flight), then a kill after 30 s.
    async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Drop for ConsumerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The processes whose CPU a phase reads.
#[derive(Clone, Copy)]
struct Pids {
    consumer: u32,
    broker: Option<u32>,
}

/// CPU seconds of each process at one moment.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    consumer: Option<f64>,
    broker: Option<f64>,
}

impl Sample {
    fn now(pids: Pids) -> Sample {
        Sample {
            at: Instant::now(),
            consumer: proc_stat::process_cpu_seconds(pids.consumer),
            broker: pids.broker.and_then(proc_stat::process_cpu_seconds),
        }
    }
}

async fn throughput(
    args: &BenchArgs,
    engine: &Arc<Engine>,
    bodies: &[Vec<u8>],
    mode: Mode,
    threads: usize,
    broker: Option<u32>,
) -> Result<Phase> {
    let (t, prefix) = topology(engine, mode.name())?;
    mailsift_amqp::enqueue::enqueue(
        &args.broker.amqp_url,
        &t,
        items(bodies, args.messages),
        &Envelope::default(),
        1024,
        || {},
    )
    .await?;
    let mut consumer = ConsumerProcess::spawn(args, mode, &prefix, threads)?;
    let pids = Pids {
        consumer: consumer.pid(),
        broker,
    };
    let counted = count_outputs(&args.broker.amqp_url, &t, args.messages, Some(pids)).await;
    let peak = proc_stat::peak_rss_kb(consumer.pid());
    let counted = match counted {
        Ok(c) => c,
        Err(e) => {
            let why = consumer.failure();
            cleanup(&args.broker.amqp_url, &t).await;
            return Err(e.context(why));
        }
    };
    consumer.stop().await;
    cleanup(&args.broker.amqp_url, &t).await;
    let (Some(first), Some(last)) = (counted.first, counted.last) else {
        anyhow::bail!("the {} phase produced no output", mode.name());
    };
    let cpu = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
    Ok(Phase {
        // From the first output to the last: the first one's cost is start-up.
        messages: counted.seen.saturating_sub(1).max(1),
        seconds: (last.at - first.at).as_secs_f64(),
        consumer_cpu: cpu(first.consumer, last.consumer),
        broker_cpu: cpu(first.broker, last.broker),
        consumer_peak_rss_kb: peak,
    })
}

async fn latency(
    args: &BenchArgs,
    engine: &Arc<Engine>,
    bodies: &[Vec<u8>],
    rate: f64,
    threads: usize,
) -> Result<(f64, f64, usize)> {
    let (t, prefix) = topology(engine, "latency")?;
    let n = ((rate * args.latency_seconds as f64) as usize).max(100);
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
    let mut consumer = ConsumerProcess::spawn(args, Mode::Classify, &prefix, threads)?;
    if let Err(e) = wait_for_consumer(&args.broker.amqp_url, &t.input_queue).await {
        let why = consumer.failure();
        cleanup(&args.broker.amqp_url, &t).await;
        return Err(e.context(why));
    }
    let counter = count_outputs(&args.broker.amqp_url, &t, n, None);
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
    let counted = counter.await;
    let published = publishing.await;
    // Read before `stop` removes the consumer's log.
    let failure = counted.is_err().then(|| consumer.failure());
    consumer.stop().await;
    cleanup(&args.broker.amqp_url, &t).await;
    let mut lat = counted.context(failure.unwrap_or_default())?.latencies;
    published??;
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Ok((pct(0.50), pct(0.99), lat.len()))
}

/// Waits until `queue` has a consumer (the process started up), at most 60 s.
async fn wait_for_consumer(url: &str, queue: &str) -> Result<()> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let result = loop {
        let ch = conn.create_channel().await?;
        let q = ch
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let _ = ch.close(200, "done".into()).await;
        if q.consumer_count() > 0 {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!("no consumer on {queue} after 60 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = conn.close(200, "done".into()).await;
    result
}

/// What the output consumer saw.
struct Counted {
    seen: usize,
    /// CPU at the first and the last output (with `pids`).
    first: Option<Sample>,
    last: Option<Sample>,
    /// Each output's edge-publish-to-arrival time, ms.
    latencies: Vec<f64>,
}

/// Consumes the output queues until `n` outputs arrived, sampling the CPU
/// of `pids` at the first and the last.
async fn count_outputs(url: &str, t: &Topology, n: usize, pids: Option<Pids>) -> Result<Counted> {
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
    let mut counted = Counted {
        seen: 0,
        first: None,
        last: None,
        latencies: Vec::new(),
    };
    while counted.seen < n {
        match tokio::time::timeout(Duration::from_secs(120), all.next()).await {
            Ok(Some(Ok(d))) => {
                counted.seen += 1;
                if counted.seen == 1 || counted.seen == n {
                    let sample = pids.map(Sample::now);
                    if counted.seen == 1 {
                        counted.first = sample;
                    }
                    counted.last = sample;
                }
                if let Some(sent) = contract::published_at_ms(d.properties.headers().as_ref()) {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    counted.latencies.push((now - sent) as f64);
                }
            }
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => break,
            Err(_) => anyhow::bail!("no output for 120 s after {} of {n}", counted.seen),
        }
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(counted)
}

async fn cleanup(url: &str, t: &Topology) {
    let Ok(conn) = Connection::connect(url, ConnectionProperties::default()).await else {
        return;
    };
    // Everything the topology declares, the per-region delay queues included.
    let plan = t.plan();
    for q in plan.queues {
        // Quorum queue deletion can fail right after heavy traffic on 3.10: retry.
        for _ in 0..5 {
            let Ok(ch) = conn.create_channel().await else {
                break;
            };
            if ch
                .queue_delete(q.name.as_str().into(), QueueDeleteOptions::default())
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for (e, _) in plan.exchanges {
        if let Ok(ch) = conn.create_channel().await {
            let _ = ch
                .exchange_delete(e.as_str().into(), Default::default())
                .await;
        }
    }
    let _ = conn.close(200, "done".into()).await;
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians_skip_what_was_not_measured() {
        let cases: &[(&[Option<f64>], Option<f64>)] = &[
            (&[], None),
            (&[None, None], None),
            (&[Some(3.0)], Some(3.0)),
            (&[Some(3.0), Some(1.0), Some(2.0)], Some(2.0)),
            (
                &[Some(4.0), None, Some(1.0), Some(2.0), Some(3.0)],
                Some(2.5),
            ),
        ];
        for (values, want) in cases {
            assert_eq!(median(values.iter().copied()), *want, "{values:?}");
        }
    }
}
