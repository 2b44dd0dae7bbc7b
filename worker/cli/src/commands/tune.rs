//! `mailsift tune`: rule weights and thresholds fitted to a labelled
//! corpus under a false-positive cap, written as a proposal rules
//! directory (never over the live rules).

use crate::args::RulesArgs;
use anyhow::{bail, Context as _, Result};
use mailsift_core::{Engine, Verdict};
use mailsift_corpus::Labels;
use mailsift_train::tune::{Candidate, Outcome, Tuner};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Fit rule weights and thresholds to a labelled corpus under a
/// false-positive cap; write the proposal as a new rules directory.
#[derive(clap::Args)]
pub struct TuneArgs {
    /// Directories, mbox files, maildirs or single messages.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// `path,label` CSV: spam/ham or dispositions.
    #[arg(long)]
    labels: PathBuf,
    /// Legitimate mail that may be flagged (anything but NONE or BULK),
    /// as a share: `0.5%` or `0.005`.
    #[arg(long, default_value = "0.5%")]
    max_fp: String,
    /// Where to write the proposed rules (a new directory; the live rules
    /// are never written).
    #[arg(long, default_value = "rules-proposal")]
    out: PathBuf,
    /// Folds of the cross-validation that measures the fitting.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Seed of the fold assignment.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    rules: RulesArgs,
}

fn parse_share(s: &str) -> Result<f64> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .with_context(|| format!("--max-fp `{s}`: give a share such as 0.5% or 0.005"))?;
    if !(0.0..=1.0).contains(&v) {
        bail!("--max-fp `{s}`: a share between 0% and 100%");
    }
    Ok(v)
}

/// Every labelled message's verdict under `engine` and whether it is
/// spam, in corpus order.
fn labelled_verdicts(engine: &Engine, paths: &[PathBuf], labels: &Labels) -> Vec<(Verdict, bool)> {
    let max = engine.rules().engine.limits.max_message_bytes;
    let skipped = mailsift_corpus::Skipped::new();
    let mut out: Vec<(usize, Verdict, bool)> =
        mailsift_corpus::messages(paths.to_vec(), max, &skipped)
            .enumerate()
            .par_bridge()
            .filter_map(|(i, item)| {
                let label = labels.get(&item.name)?;
                let raw = item.bytes.ok()?;
                Some((i, engine.classify(&raw, None), label.is_spam()))
            })
            .collect();
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, v, s)| (v, s)).collect()
}

/// Picks (count, of) from an outcome, for one row of the table.
type Share = fn(&Outcome) -> (usize, usize);

/// Counts of real verdicts.
fn outcome(verdicts: &[(Verdict, bool)]) -> Outcome {
    let mut o = Outcome::default();
    for (v, spam) in verdicts {
        o.add(v.disposition, *spam);
    }
    o
}

fn pct(n: usize, of: usize) -> String {
    format!("{:.2}% ({n}/{of})", 100.0 * n as f64 / of.max(1) as f64)
}

/// Writes the proposal: the rules directory copied, scores.toml with the
/// new weights, engine.toml with the new thresholds.
fn write_proposal(
    from: &Path,
    to: &Path,
    tuner: &Tuner,
    c: &Candidate,
    header: &str,
) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))?
    {
        let path = entry?.path();
        if path.is_file() {
            if let Some(name) = path.file_name() {
                std::fs::copy(&path, to.join(name))
                    .with_context(|| format!("cannot copy {}", path.display()))?;
            }
        }
    }
    let scores_path = from.join("scores.toml");
    let mut scores: toml::Table = match std::fs::read_to_string(&scores_path) {
        Ok(text) => text
            .parse()
            .with_context(|| format!("cannot parse {}", scores_path.display()))?,
        Err(_) => toml::Table::new(),
    };
    for (id, _, after) in tuner.changes(c) {
        let entry = scores
            .entry(id.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = entry {
            t.insert(
                "weight".into(),
                toml::Value::Float((after * 1000.0).round() / 1000.0),
            );
        }
    }
    let body = toml::to_string(&scores).context("cannot write scores.toml")?;
    std::fs::write(to.join("scores.toml"), format!("{header}\n{body}"))?;
    let engine_path = to.join("engine.toml");
    let engine = std::fs::read_to_string(&engine_path)?;
    let mut in_thresholds = false;
    let mut lines = Vec::new();
    for line in engine.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_thresholds = trimmed.starts_with("[thresholds]");
        }
        let key = trimmed.split('=').next().unwrap_or("").trim();
        lines.push(match (in_thresholds, key) {
            (true, "SPAM") => format!("SPAM = {:.1}", c.spam_threshold),
            (true, "SUSPICIOUS") => format!("SUSPICIOUS = {:.1}", c.suspicious_threshold),
            _ => line.to_string(),
        });
    }
    std::fs::write(&engine_path, lines.join("\n") + "\n")?;
    Ok(())
}

pub fn run(args: TuneArgs) -> Result<()> {
    let max_fp = parse_share(&args.max_fp)?;
    if !(2..=20).contains(&args.folds) {
        bail!("--folds {}: use 2 to 20", args.folds);
    }
    let dir = args.rules.dir();
    if args.out.exists() {
        bail!(
            "{} exists: give --out a new directory (the proposal never overwrites rules)",
            args.out.display()
        );
    }
    let engine = args.rules.engine()?;
    let labels = Labels::load(&args.labels)?;
    let before = labelled_verdicts(&engine, &args.paths, &labels);
    if before.is_empty() {
        bail!("no labelled message found under the paths given: check --labels");
    }
    let tuner = Tuner::new(engine.rules(), &before);
    let tuned = tuner.tune(max_fp, args.folds, args.seed);
    let changes: Vec<(&str, f64, f64)> = tuner.changes(&tuned.proposal).collect();
    let header = format!(
        "# Proposed by `mailsift tune` (max-fp {:.3}%, {} folds, seed {}) from {} labelled messages.\n\
         # Review with `mailsift replay ... --compare-rules {}` before copying anything into the live rules.",
        100.0 * max_fp,
        args.folds,
        args.seed,
        before.len(),
        args.out.display()
    );
    write_proposal(&dir, &args.out, &tuner, &tuned.proposal, &header)?;
    // The proposal through the real engine, not the tuner's model of it.
    let proposed =
        Engine::load_with_model(&args.out, args.rules.model.as_deref()).with_context(|| {
            format!(
                "the proposal in {} does not load (a bug)",
                args.out.display()
            )
        })?;
    let after = labelled_verdicts(&proposed, &args.paths, &labels);
    let (now, then) = (outcome(&before), outcome(&after));
    println!(
        "{} labelled messages ({} spam, {} legitimate); {} rules tunable, {} changed; thresholds SPAM {} → {}, SUSPICIOUS {} → {}",
        before.len(),
        now.spam,
        now.ham,
        tuner.rules.len(),
        changes.len(),
        tuner.current.spam_threshold,
        tuned.proposal.spam_threshold,
        tuner.current.suspicious_threshold,
        tuned.proposal.suspicious_threshold
    );
    println!(
        "{:<28} {:>22} {:>22} {:>22}",
        "", "live rules", "proposal", "cross-validated"
    );
    let rows: [(&str, Share); 4] = [
        ("spam flagged (recall)", |o| (o.spam_flagged, o.spam)),
        ("spam quarantined", |o| (o.spam_quarantined, o.spam)),
        ("legitimate flagged (FP)", |o| (o.ham_flagged, o.ham)),
        ("legitimate quarantined", |o| (o.ham_quarantined, o.ham)),
    ];
    for (name, of) in rows {
        let (a, b, c) = (of(&now), of(&then), of(&tuned.after_cv));
        println!(
            "{name:<28} {:>22} {:>22} {:>22}",
            pct(a.0, a.1),
            pct(b.0, b.1),
            pct(c.0, c.1)
        );
    }
    println!("(cross-validated: each fold judged by weights fitted on the others; the false-positive cap is {:.3}%)", 100.0 * max_fp);
    for (id, from, to) in &changes {
        println!("  {id:<36} {from:>6.2} → {to:.2}");
    }
    println!(
        "proposal written to {} (live rules in {} untouched)",
        args.out.display(),
        dir.display()
    );
    Ok(())
}
