//! The `mailsift` command: analyst tools over the classification engine.

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use mailsift::corpus;
use mailsift::report::{Labels, Record, Summary};
use mailsift::{stamp, Engine, Envelope, Rules};
use rayon::prelude::*;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "mailsift",
    version,
    about = "Email security classification: check, replay and (later) the AMQP worker"
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
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the stamped message to standard output instead of the report.
    #[arg(long)]
    stamp: bool,
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
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check(args),
        Command::Replay(args) => replay(args),
        Command::Rules { rules } => list_rules(rules),
    };
    if let Err(e) = result {
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
    let mut rcpt_to = args.rcpt;
    if rcpt_to.is_empty() {
        if let Some(d) = &args.domain {
            rcpt_to.push(format!("postmaster@{d}"));
        }
    }
    let envelope = Envelope {
        peer_ip: args.peer_ip,
        helo: args.helo,
        mail_from: args.mail_from,
        rcpt_to,
        ..Envelope::default()
    };
    let verdict = engine.classify(&raw, Some(&envelope));
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
    let progress = indicatif::ProgressBar::new_spinner();
    progress.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} messages  {per_sec}  {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
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
                            let verdict = engine.classify(raw, None);
                            summary.add(&item.name, &verdict, label);
                            out.as_ref().map(|_| {
                                serde_json::to_string(&Record {
                                    path: &item.name,
                                    message_id: verdict.message_id.as_deref(),
                                    disposition: Some(verdict.disposition),
                                    route: Some(verdict.route.as_str()),
                                    score: Some(verdict.score),
                                    scores: Some(&verdict.scores),
                                    rules: verdict.reasons(),
                                    label: label.map(|l| l.name()),
                                    error: verdict.error.as_deref(),
                                })
                            })
                        }
                        Err(e) => {
                            summary.add_error(&item.name, e);
                            out.as_ref().map(|_| {
                                serde_json::to_string(&Record {
                                    path: &item.name,
                                    message_id: None,
                                    disposition: None,
                                    route: None,
                                    score: None,
                                    scores: None,
                                    rules: Vec::new(),
                                    label: label.map(|l| l.name()),
                                    error: Some(e),
                                })
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
    summary.finish(started.elapsed().as_secs_f64(), threads);
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
