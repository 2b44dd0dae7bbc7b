//! The `mailsift` command: analyst tools over the classification engine.

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use mailsift::auth::dns::DnsConfig;
use mailsift::auth::zone::Zone;
use mailsift::auth::{Authenticator, BlockingAuthenticator};
use mailsift::corpus;
use mailsift::report::{Labels, Record, Summary};
use mailsift::{stamp, Engine, Envelope, Rules};
use rayon::prelude::*;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

mod bench;

#[derive(Parser)]
#[command(
    name = "mailsift",
    version,
    about = "Email security classification: check and replay stored mail, run the AMQP worker pool"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify one message and show every finding with its evidence.
    Check(CheckArgs),
    /// Classify a corpus (.eml directories, mbox files, maildirs) and summarise.
    Replay(ReplayArgs),
    /// Consume the input queue, classify, publish to delivery/quarantine/verdicts.
    Worker(WorkerArgs),
    /// Publish .eml / mbox / maildir messages to the input queue with confirms.
    Enqueue(EnqueueArgs),
    /// Print the broker topology as a RabbitMQ definitions file.
    Topology {
        /// Virtual host to write into the definitions.
        #[arg(long, default_value = "/")]
        vhost: String,
        #[command(flatten)]
        names: TopologyArgs,
        /// Rules directory (its policy file lists the regions).
        #[arg(long, env = "MAILSIFT_RULES")]
        rules: Option<PathBuf>,
    },
    /// Measure end-to-end throughput and latency through the broker.
    BenchAmqp(bench::BenchArgs),
    /// List every rule id with its effective disposition, weight and meaning.
    Rules {
        /// Rules directory (default: the shipped rules/).
        #[arg(long, env = "MAILSIFT_RULES")]
        rules: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// The SMTP envelope as flags (fields left out are derived from headers).
#[derive(clap::Args)]
struct EnvelopeArgs {
    /// Connecting IP as the SMTP edge saw it.
    #[arg(long)]
    peer_ip: Option<IpAddr>,
    /// HELO/EHLO name.
    #[arg(long)]
    helo: Option<String>,
    /// Envelope MAIL FROM (empty string = null sender).
    #[arg(long)]
    mail_from: Option<String>,
    /// Envelope RCPT TO (repeatable).
    #[arg(long)]
    rcpt: Vec<String>,
}

impl EnvelopeArgs {
    fn envelope(self) -> Envelope {
        Envelope {
            peer_ip: self.peer_ip,
            helo: self.helo,
            mail_from: self.mail_from,
            rcpt_to: self.rcpt,
            ..Envelope::default()
        }
    }
}

/// Sender authentication's DNS (SPF, DKIM, DMARC, ARC).
#[derive(clap::Args, Clone, Default)]
struct DnsArgs {
    /// Authenticate with recorded DNS only (YAML in the RFC 7208 test
    /// suite's `zonedata` form); a name not in the file does not exist.
    #[arg(long, value_name = "FILE", env = "MAILSIFT_DNS_FILE")]
    dns: Option<PathBuf>,
    /// Authenticate with live DNS (check and replay; the worker does unless
    /// given --dns or --no-auth). Old corpora judged against today's DNS
    /// get today's answers: record once with --record-dns, replay with --dns.
    #[arg(long, conflicts_with = "dns")]
    live_dns: bool,
    /// Nameservers for live DNS, IP or IP:PORT, comma-separated (default:
    /// the system's resolv.conf).
    #[arg(
        long = "dns-server",
        env = "MAILSIFT_DNS_SERVERS",
        value_delimiter = ','
    )]
    dns_servers: Vec<String>,
    /// Deadline of one DNS query attempt, in milliseconds.
    #[arg(long, env = "MAILSIFT_DNS_TIMEOUT_MS", default_value_t = 2000)]
    dns_timeout_ms: u64,
    /// Attempts per DNS query before it counts as a temporary failure.
    #[arg(long, env = "MAILSIFT_DNS_ATTEMPTS", default_value_t = 2)]
    dns_attempts: usize,
    /// Entries per DNS cache (TXT, MX, A, AAAA, PTR each).
    #[arg(long, env = "MAILSIFT_DNS_CACHE_ENTRIES", default_value_t = 50_000)]
    dns_cache_entries: u64,
    /// Record the live DNS answers verdicts used, for exact replay with
    /// --dns: check and replay write one zone file here; the worker writes
    /// `<x-mailsift-id>.yml` per message into this directory.
    #[arg(long, value_name = "PATH", env = "MAILSIFT_RECORD_DNS")]
    record_dns: Option<PathBuf>,
}

impl DnsArgs {
    fn config(&self) -> Result<DnsConfig> {
        let servers = self
            .dns_servers
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<std::net::SocketAddr>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
                    .with_context(|| format!("--dns-server `{s}` is not IP or IP:PORT"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DnsConfig {
            servers,
            timeout: std::time::Duration::from_millis(self.dns_timeout_ms.max(1)),
            attempts: self.dns_attempts.max(1),
            cache_entries: self.dns_cache_entries.max(1),
            ..DnsConfig::default()
        })
    }

    fn load_zone(&self) -> Result<Option<Zone>> {
        self.dns
            .as_ref()
            .map(|p| Zone::load(p).with_context(|| "cannot use --dns"))
            .transpose()
    }

    /// The authenticator for check and replay, and how it was chosen.
    fn blocking(&self, engine: &Engine) -> Result<(Option<BlockingAuthenticator>, String)> {
        let cfg = self.config()?;
        let host = &engine.rules().policy.gateway.authserv_id;
        if let Some(zone) = self.load_zone()? {
            if self.record_dns.is_some() {
                bail!("--record-dns records live DNS; it cannot be used with --dns");
            }
            let what = format!(
                "recorded DNS from {} ({} names)",
                self.dns.as_deref().unwrap_or(Path::new("?")).display(),
                zone.len()
            );
            return Ok((
                Some(BlockingAuthenticator::recorded(zone, &cfg, host)?),
                what,
            ));
        }
        if self.live_dns {
            let a = BlockingAuthenticator::live(&cfg, host, self.record_dns.is_some())?;
            return Ok((Some(a), "live DNS".into()));
        }
        if self.record_dns.is_some() {
            bail!("--record-dns needs --live-dns");
        }
        Ok((None, "off (give --dns FILE or --live-dns)".into()))
    }
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The message (.eml); `-` reads standard input.
    file: PathBuf,
    /// Rules directory (default: the shipped rules/).
    #[arg(long, env = "MAILSIFT_RULES")]
    rules: Option<PathBuf>,
    /// Recipient domain to apply (adds RCPT TO postmaster@DOMAIN if no --rcpt).
    #[arg(long)]
    domain: Option<String>,
    #[command(flatten)]
    envelope: EnvelopeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the stamped message to standard output instead of the report.
    #[arg(long)]
    stamp: bool,
    #[command(flatten)]
    dns: DnsArgs,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Directories, mbox files, maildirs or single messages.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Rules directory (default: the shipped rules/).
    #[arg(long, env = "MAILSIFT_RULES")]
    rules: Option<PathBuf>,
    /// `path,label` CSV (paths relative to the CSV's folder).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Summary format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write one JSON line per message here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    dns: DnsArgs,
}

/// Queue and exchange names (defaults in `mailsift::amqp::Topology`).
#[derive(clap::Args, Clone)]
struct TopologyArgs {
    /// Prefix for every queue and exchange name.
    #[arg(long, env = "MAILSIFT_NAME_PREFIX", default_value = "")]
    name_prefix: String,
    /// Input quorum queue.
    #[arg(long, env = "MAILSIFT_INPUT_QUEUE")]
    input_queue: Option<String>,
    /// Delivery topic exchange (routing key `deliver.<region>`).
    #[arg(long, env = "MAILSIFT_DELIVER_EXCHANGE")]
    deliver_exchange: Option<String>,
    /// Quarantine topic exchange (routing key `quarantine.<region>`).
    #[arg(long, env = "MAILSIFT_QUARANTINE_EXCHANGE")]
    quarantine_exchange: Option<String>,
    /// Verdicts topic exchange for journal mode (routing key `verdict.<region>`).
    #[arg(long, env = "MAILSIFT_VERDICTS_EXCHANGE")]
    verdicts_exchange: Option<String>,
    /// Dead-letter exchange for inputs past the delivery limit.
    #[arg(long, env = "MAILSIFT_DEAD_LETTER_EXCHANGE")]
    dead_letter_exchange: Option<String>,
    /// Deliveries of one input before it is dead-lettered.
    #[arg(long, env = "MAILSIFT_DELIVERY_LIMIT", default_value_t = 5)]
    delivery_limit: u32,
}

impl TopologyArgs {
    fn topology(&self, rules: &Rules) -> mailsift::amqp::Topology {
        let mut t = mailsift::amqp::Topology::with_regions(rules.policy.regions());
        let set = |field: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                *field = v.clone();
            }
        };
        set(&mut t.input_queue, &self.input_queue);
        set(&mut t.deliver_exchange, &self.deliver_exchange);
        set(&mut t.quarantine_exchange, &self.quarantine_exchange);
        set(&mut t.verdicts_exchange, &self.verdicts_exchange);
        set(&mut t.dead_letter_exchange, &self.dead_letter_exchange);
        t.delivery_limit = self.delivery_limit;
        t.retry_delay_ms = rules.policy.gateway.requeue_delay.as_millis() as u64;
        t.prefixed(&self.name_prefix)
    }
}

/// Where the broker is.
#[derive(clap::Args)]
struct BrokerArgs {
    /// Broker URL (amqp:// or amqps://). Never logged with its password.
    #[arg(
        long,
        env = "MAILSIFT_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub(crate) amqp_url: String,
}

#[derive(clap::Args)]
struct WorkerArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// Rules directory (default: the shipped rules/).
    #[arg(long, env = "MAILSIFT_RULES")]
    rules: Option<PathBuf>,
    #[command(flatten)]
    names: TopologyArgs,
    /// Unacknowledged deliveries in flight (backpressure; memory ≈ prefetch × message size).
    #[arg(long, env = "MAILSIFT_PREFETCH", default_value_t = 256)]
    prefetch: u16,
    /// Classification threads (default: all cores).
    #[arg(long, env = "MAILSIFT_THREADS")]
    threads: Option<usize>,
    /// Seconds to finish in-flight work after SIGTERM/SIGINT.
    #[arg(long, env = "MAILSIFT_GRACE_SECONDS", default_value_t = 25)]
    grace_period: u64,
    /// Journal mode: publish the stamped message with the verdict, not the verdict JSON alone.
    #[arg(long, env = "MAILSIFT_JOURNAL_INCLUDE_BODY")]
    journal_include_body: bool,
    #[command(flatten)]
    dns: DnsArgs,
    /// Do not authenticate senders (no DNS at all; the auth check is silent).
    #[arg(long, env = "MAILSIFT_NO_AUTH", conflicts_with = "dns")]
    no_auth: bool,
}

#[derive(clap::Args)]
struct EnqueueArgs {
    /// Directories, mbox files, maildirs or single messages.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    broker: BrokerArgs,
    /// Rules directory (its policy file lists the regions for the topology).
    #[arg(long, env = "MAILSIFT_RULES")]
    rules: Option<PathBuf>,
    #[command(flatten)]
    names: TopologyArgs,
    #[command(flatten)]
    envelope: EnvelopeArgs,
    /// Publisher confirms awaited at once.
    #[arg(long, default_value_t = 512)]
    window: usize,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check(args),
        Command::Replay(args) => replay(args),
        Command::Worker(args) => worker(args),
        Command::Enqueue(args) => enqueue(args),
        Command::Topology {
            vhost,
            names,
            rules,
        } => topology(vhost, names, rules),
        Command::BenchAmqp(args) => bench::run(args),
        Command::Rules { rules } => list_rules(rules),
    };
    if let Err(e) = result {
        // `mailsift replay ... | head` closing the pipe early is not an error.
        let broken_pipe = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if broken_pipe {
            return;
        }
        eprintln!("mailsift: {e:#}");
        std::process::exit(2);
    }
}

fn load_engine(dir: Option<PathBuf>) -> Result<Engine> {
    let dir = dir.unwrap_or_else(Rules::default_dir);
    let rules =
        Rules::load(&dir).with_context(|| format!("unusable rules in {}", dir.display()))?;
    Ok(Engine::new(Arc::new(rules)))
}

fn check(args: CheckArgs) -> Result<()> {
    let engine = load_engine(args.rules)?;
    let raw = if args.file == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .context("reading standard input")?;
        buf
    } else {
        std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let mut envelope = args.envelope.envelope();
    if envelope.rcpt_to.is_empty() {
        if let Some(d) = &args.domain {
            envelope.rcpt_to.push(format!("postmaster@{d}"));
        }
    }
    let (auth, _) = args.dns.blocking(&engine)?;
    let (results, zone) = match &auth {
        Some(a) => a.authenticate(&engine, &raw, Some(&envelope)),
        None => (None, None),
    };
    if let (Some(path), Some(zone)) = (&args.dns.record_dns, zone) {
        std::fs::write(path, zone.to_yaml())
            .with_context(|| format!("cannot write --record-dns {}", path.display()))?;
    }
    let verdict = engine.classify_with_auth(&raw, Some(&envelope), results.as_ref());
    let mut out = std::io::stdout().lock();
    if args.stamp {
        out.write_all(&stamp::stamp(&raw, &verdict, &engine.rules().engine.stamp))?;
        return Ok(());
    }
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &verdict)?;
            writeln!(out)?;
        }
        Format::Text => {
            writeln!(out, "disposition: {}", verdict.disposition)?;
            writeln!(out, "route:       {}", verdict.route.as_str())?;
            writeln!(out, "score:       {:.2}", verdict.score)?;
            let scores: Vec<String> = verdict
                .scores
                .iter()
                .map(|(d, s)| format!("{d}={s:.2}"))
                .collect();
            writeln!(out, "scores:      {}", scores.join(" "))?;
            writeln!(out, "bulk level:  {}", verdict.bulk_level)?;
            writeln!(
                out,
                "policy:      {} ({}, region {}, {:?})",
                verdict.policy_domain,
                verdict.mode.as_str(),
                verdict.region,
                verdict.direction
            )?;
            if let Some(o) = verdict.origin.as_ref().filter(|o| o.ip.is_some()) {
                writeln!(
                    out,
                    "origin:      {} ({})",
                    o.ip.map(|i| i.to_string()).unwrap_or_default(),
                    o.reason
                )?;
            }
            if let Some(e) = &verdict.error {
                writeln!(out, "error:       {e}")?;
            }
            if let Some(i) = &verdict.incomplete {
                writeln!(out, "incomplete:  {i}")?;
            }
            if let Some(a) = &verdict.auth {
                writeln!(
                    out,
                    "auth:        {}",
                    stamp::authentication_results(a, &engine.rules().engine.stamp.authserv_id)
                        .trim_start_matches("Authentication-Results: ")
                        .replace("\r\n\t", " ")
                )?;
            }
            writeln!(out, "findings:")?;
            for f in &verdict.findings {
                writeln!(
                    out,
                    "  {:+6.2} {:<10} {:<34} {}",
                    f.weight,
                    f.disposition.as_str(),
                    f.rule,
                    f.evidence
                )?;
            }
        }
    }
    Ok(())
}

fn replay(args: ReplayArgs) -> Result<()> {
    let engine = load_engine(args.rules)?;
    let (auth, auth_mode) = args.dns.blocking(&engine)?;
    let recorded: Mutex<Zone> = Mutex::new(Zone::new());
    let labels = match &args.labels {
        Some(p) => Some(Labels::load(p)?),
        None => None,
    };
    for p in &args.paths {
        if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        }
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .context("starting worker threads")?;
    let out = match &args.out {
        Some(p) => Some(Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ))),
        None => None,
    };
    let progress = spinner("messages");
    let max_bytes = engine.rules().engine.limits.max_message_bytes;
    let started = Instant::now();
    let write_error: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let with_labels = labels.is_some();
    let mut summary = pool.install(|| {
        corpus::messages(args.paths.clone(), max_bytes)
            .par_bridge()
            .fold(
                || Summary::new(with_labels),
                |mut summary, item| {
                    let label = labels.as_ref().and_then(|l| l.get(&item.name));
                    let record_line = match &item.bytes {
                        Ok(raw) => {
                            let (results, zone) = match &auth {
                                Some(a) => a.authenticate(&engine, raw, None),
                                None => (None, None),
                            };
                            if let (Some(zone), Ok(mut all)) = (zone, recorded.lock()) {
                                all.merge(zone);
                            }
                            let verdict = engine.classify_with_auth(raw, None, results.as_ref());
                            summary.add(&item.name, &verdict, label);
                            out.as_ref().map(|_| {
                                serde_json::to_string(&Record::classified(
                                    &item.name, &verdict, label,
                                ))
                            })
                        }
                        Err(e) => {
                            summary.add_error(&item.name, e);
                            out.as_ref().map(|_| {
                                serde_json::to_string(&Record::unreadable(&item.name, e, label))
                            })
                        }
                    };
                    if let (Some(out), Some(Ok(line))) = (&out, record_line) {
                        if let Ok(mut w) = out.lock() {
                            if let Err(e) = writeln!(w, "{line}") {
                                if let Ok(mut slot) = write_error.lock() {
                                    slot.get_or_insert(e);
                                }
                            }
                        }
                    }
                    progress.inc(1);
                    summary
                },
            )
            .reduce(
                || Summary::new(with_labels),
                |mut a, b| {
                    a.merge(b);
                    a
                },
            )
    });
    progress.finish_and_clear();
    if let Some(out) = out {
        let mut w = out
            .into_inner()
            .map_err(|_| anyhow::anyhow!("output writer poisoned"))?;
        w.flush().context("writing --out")?;
    }
    if let Some(e) = write_error.into_inner().ok().flatten() {
        return Err(e).context("writing --out");
    }
    if let Some(path) = &args.dns.record_dns {
        let zone = recorded
            .into_inner()
            .map_err(|_| anyhow::anyhow!("DNS recording poisoned"))?;
        std::fs::write(path, zone.to_yaml())
            .with_context(|| format!("cannot write --record-dns {}", path.display()))?;
    }
    summary.finish(started.elapsed().as_secs_f64(), threads);
    summary.authentication = auth_mode;
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer(&mut stdout, &summary)?;
            writeln!(stdout)?;
        }
        Format::Text => write!(stdout, "{}", summary.to_text())?,
    }
    Ok(())
}

/// A progress spinner on stderr, drawn only on a terminal.
fn spinner(what: &str) -> indicatif::ProgressBar {
    let progress = indicatif::ProgressBar::new_spinner();
    progress.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {{pos}} {what}  {{per_sec}}  {{elapsed}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    progress
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn worker(args: WorkerArgs) -> Result<()> {
    init_logging();
    let engine = Arc::new(load_engine(args.rules)?);
    let cfg = mailsift::amqp::WorkerConfig {
        amqp_url: args.broker.amqp_url,
        topology: args.names.topology(engine.rules()),
        prefetch: args.prefetch.max(1),
        grace: std::time::Duration::from_secs(args.grace_period),
        journal_include_body: args.journal_include_body,
        mode: mailsift::amqp::Mode::Classify,
        max_backoff: std::time::Duration::from_secs(5),
        record_dns: args.dns.record_dns.clone(),
    };
    if let Some(dir) = &cfg.record_dns {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --record-dns {}", dir.display()))?;
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if args.no_auth
        && (args.dns.record_dns.is_some() || args.dns.live_dns || !args.dns.dns_servers.is_empty())
    {
        bail!("--no-auth turns DNS off; drop --record-dns, --live-dns and --dns-server");
    }
    if args.dns.dns.is_some() && args.dns.record_dns.is_some() {
        bail!("--record-dns records live DNS; it cannot be used with --dns");
    }
    let dns_cfg = args.dns.config()?;
    let zone = args.dns.load_zone()?;
    let host = engine.rules().policy.gateway.authserv_id.clone();
    let mut worker = mailsift::amqp::Worker::new(cfg, engine, threads)?;
    let runtime = runtime()?;
    if !args.no_auth {
        let auth = runtime.block_on(async {
            match zone {
                Some(zone) => Authenticator::recorded(zone, &dns_cfg, &host).await,
                None => Authenticator::live(&dns_cfg, &host),
            }
        })?;
        worker = worker.with_authenticator(Arc::new(auth));
    }
    runtime.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_termination().await;
            tracing::info!("termination signal received");
            let _ = tx.send(true);
        });
        worker.run(rx).await;
    });
    Ok(())
}

/// SIGTERM (Kubernetes) or SIGINT (a terminal).
async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn enqueue(args: EnqueueArgs) -> Result<()> {
    let rules = load_engine(args.rules)?;
    let topology = args.names.topology(rules.rules());
    let envelope = args.envelope.envelope();
    let progress = spinner("confirmed");
    let max_bytes = rules.rules().engine.limits.max_message_bytes;
    let items = corpus::messages(args.paths, max_bytes);
    let started = Instant::now();
    let report = runtime()?
        .block_on(mailsift::amqp::enqueue::enqueue(
            &args.broker.amqp_url,
            &topology,
            items,
            &envelope,
            args.window,
            || progress.inc(1),
        ))
        .with_context(|| {
            format!(
                "publishing to {}",
                mailsift::amqp::worker::redact(&args.broker.amqp_url)
            )
        })?;
    progress.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} confirmed, {} refused, {} unreadable in {:.2} s ({:.0} messages/s) to {}",
        report.confirmed,
        report.refused,
        report.unreadable.len(),
        secs,
        report.confirmed as f64 / secs.max(1e-9),
        topology.input_queue
    );
    for (name, e) in &report.unreadable {
        eprintln!("  {name}: {e}");
    }
    if report.refused > 0 {
        bail!("the broker refused {} messages", report.refused);
    }
    Ok(())
}

fn topology(vhost: String, names: TopologyArgs, rules: Option<PathBuf>) -> Result<()> {
    let engine = load_engine(rules)?;
    let defs = names.topology(engine.rules()).definitions(&vhost);
    println!("{}", serde_json::to_string_pretty(&defs)?);
    Ok(())
}

fn list_rules(dir: Option<PathBuf>) -> Result<()> {
    let engine = load_engine(dir)?;
    let mut out = std::io::stdout().lock();
    for (id, s) in engine.rules().scores() {
        writeln!(
            out,
            "{id:<38} {:<10} {:>6.2}  {}",
            s.disposition.as_str(),
            s.weight,
            s.description
        )?;
    }
    Ok(())
}
