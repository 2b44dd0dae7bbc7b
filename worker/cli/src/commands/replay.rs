//! `mailsift replay`: a corpus through the engine, summarised.

use crate::args::{DnsArgs, Format, RulesArgs};
use crate::progress::spinner;
use anyhow::{bail, Context as _, Result};
use mailsift_auth::zone::Zone;
use mailsift_auth::BlockingAuthenticator;
use mailsift_core::{Engine, Verdict};
use mailsift_corpus::{HtmlReport, Item, Labels, Record, Summary};
use rayon::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

/// Classify a corpus (.eml directories, mbox files, maildirs) and summarise.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Directories, mbox files, maildirs or single messages.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    rules: RulesArgs,
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
    /// Also classify every message with the rules in this directory and
    /// report what changes: a from -> to table, the changed messages with
    /// the rules that differ, and per label what was gained and lost.
    #[arg(long)]
    compare_rules: Option<PathBuf>,
    /// Also classify every message with this trained model (instead of
    /// --model; with --compare-rules, on those rules) and report what
    /// changes, as --compare-rules does.
    #[arg(long, value_name = "FILE")]
    compare_model: Option<PathBuf>,
    /// Write a self-contained HTML report here (counts, confusion heat
    /// map, score histograms, top rules, model calibration, domains,
    /// slowest messages; open it in any browser).
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
}

/// What every replay thread shares.
struct Run<'a> {
    engine: &'a Engine,
    /// The other rules or model of `--compare-rules` / `--compare-model`.
    compare: Option<&'a Engine>,
    auth: Option<&'a BlockingAuthenticator>,
    labels: Option<&'a Labels>,
    recorded: Mutex<Zone>,
    out: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
    /// `--report`'s data.
    report: Option<Mutex<HtmlReport>>,
    write_error: Mutex<Option<std::io::Error>>,
}

impl Run<'_> {
    /// Classifies one message (authenticating it first when asked to),
    /// writes its record and adds it to the thread's summary.
    fn add(&self, mut summary: Summary, item: Item) -> Summary {
        let label = self.labels.and_then(|l| l.get(&item.name));
        let line = match item.bytes {
            Ok(raw) => {
                let other = self.compare.map(|b| (b, raw.clone()));
                let started = Instant::now();
                let verdict = self.classify(raw);
                if let Some(Ok(mut report)) = self.report.as_ref().map(Mutex::lock) {
                    let micros = started.elapsed().as_micros() as u64;
                    report.add(&item.name, &verdict, label, micros);
                }
                if let Some((b, raw)) = other {
                    // Both sides without authentication; without it the
                    // replayed verdict already is that.
                    let theirs = b.classify(&raw, None);
                    let unauthenticated;
                    let mine = match self.auth {
                        None => &verdict,
                        Some(_) => {
                            unauthenticated = self.engine.classify(&raw, None);
                            &unauthenticated
                        }
                    };
                    summary
                        .comparison
                        .get_or_insert_with(Default::default)
                        .add(&item.name, label, mine, &theirs);
                }
                summary.add(&item.name, &verdict, label);
                self.out.as_ref().map(|_| {
                    serde_json::to_string(&Record::classified(&item.name, &verdict, label))
                })
            }
            Err(e) => {
                if let Some(Ok(mut report)) = self.report.as_ref().map(Mutex::lock) {
                    report.add_error();
                }
                summary.add_error(&item.name, &e);
                self.out
                    .as_ref()
                    .map(|_| serde_json::to_string(&Record::unreadable(&item.name, &e, label)))
            }
        };
        if let (Some(out), Some(Ok(line))) = (&self.out, line) {
            if let Ok(mut w) = out.lock() {
                if let Err(e) = writeln!(w, "{line}") {
                    if let Ok(mut slot) = self.write_error.lock() {
                        slot.get_or_insert(e);
                    }
                }
            }
        }
        summary
    }

    fn classify(&self, raw: Vec<u8>) -> Verdict {
        let prepared = self.engine.prepare(self.engine.parse(raw), None);
        let results = match (self.auth, prepared.auth_subject()) {
            (Some(a), Some(subject)) => {
                let (results, zone) = a.authenticate(&subject);
                if let (Some(zone), Ok(mut all)) = (zone, self.recorded.lock()) {
                    all.merge(zone);
                }
                Some(results)
            }
            _ => None,
        };
        prepared.classify(results.as_ref())
    }
}

pub fn run(args: ReplayArgs) -> Result<()> {
    let engine = args.rules.engine()?;
    let (auth, auth_mode) = args.dns.blocking(&engine)?;
    let labels = match &args.labels {
        Some(p) => Some(Labels::load(p)?),
        None => None,
    };
    for p in &args.paths {
        if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        }
    }
    let (pool, threads) = crate::args::thread_pool(args.threads)?;
    let out = match &args.out {
        Some(p) => Some(Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ))),
        None => None,
    };
    let compare = if args.compare_rules.is_some() || args.compare_model.is_some() {
        let dir = args
            .compare_rules
            .clone()
            .unwrap_or_else(|| args.rules.dir());
        let model = args
            .compare_model
            .as_deref()
            .or(args.rules.model.as_deref());
        Some(
            Engine::load_with_model(&dir, model)
                .map_err(|e| anyhow::anyhow!("unusable rules in {}: {e}", dir.display()))?,
        )
    } else {
        None
    };
    let run = Run {
        engine: &engine,
        compare: compare.as_ref(),
        auth: auth.as_ref(),
        labels: labels.as_ref(),
        recorded: Mutex::new(Zone::new()),
        out,
        report: args.report.as_ref().map(|_| Mutex::new(HtmlReport::new())),
        write_error: Mutex::new(None),
    };
    let progress = spinner("messages");
    let max_bytes = engine.rules().engine.limits.max_message_bytes;
    let started = Instant::now();
    let with_labels = labels.is_some();
    let skipped = mailsift_corpus::Skipped::new();
    let mut summary = pool.install(|| {
        mailsift_corpus::messages(args.paths.clone(), max_bytes, &skipped)
            .par_bridge()
            .fold(
                || Summary::new(with_labels),
                |summary, item| {
                    let summary = run.add(summary, item);
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
    if let Some(out) = run.out {
        let mut w = out
            .into_inner()
            .map_err(|_| anyhow::anyhow!("output writer poisoned"))?;
        w.flush().context("writing --out")?;
    }
    if let Some(e) = run.write_error.into_inner().ok().flatten() {
        return Err(e).context("writing --out");
    }
    if let Some(path) = &args.dns.record_dns {
        let zone = run
            .recorded
            .into_inner()
            .map_err(|_| anyhow::anyhow!("DNS recording poisoned"))?;
        std::fs::write(path, zone.to_yaml())
            .with_context(|| format!("cannot write --record-dns {}", path.display()))?;
    }
    if let (Some(path), Some(report)) = (&args.report, run.report) {
        let report = report
            .into_inner()
            .map_err(|_| anyhow::anyhow!("report poisoned"))?;
        let title = format!(
            "mailsift replay of {} (rules {})",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            engine.rules().version
        );
        std::fs::write(path, report.render(&title))
            .with_context(|| format!("cannot write --report {}", path.display()))?;
    }
    summary.add_skipped(skipped.list());
    if let Some(c) = &mut summary.comparison {
        c.finish();
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
