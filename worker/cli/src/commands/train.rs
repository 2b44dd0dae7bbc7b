//! `mailsift train`: the content classifier trained on a labelled corpus.

use crate::args::RulesArgs;
use anyhow::{bail, Context as _, Result};
use mailsift_corpus::Labels;
use mailsift_train::{Examples, Settings};
use std::path::PathBuf;
use std::time::Instant;

/// Train the content classifier on labelled mail and write the model file.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Directories, mbox files, maildirs or single messages.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// `path,label` CSV: spam/ham or dispositions (anything but NONE and
    /// BULK is spam). Messages without a label are not trained on.
    #[arg(long)]
    labels: PathBuf,
    /// Where to write the model (written aside, then renamed into place).
    #[arg(long)]
    out: PathBuf,
    /// Folds of the cross-validation that calibrates the model; with
    /// --cv the per-fold recall and false positives are printed.
    #[arg(long, value_name = "K")]
    cv: Option<usize>,
    /// Seed of the shuffles: the same corpus and seed give the same model.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Hash bits: 2^bits weights (10–24).
    #[arg(long, default_value_t = Settings::default().bits)]
    bits: u8,
    /// Passes over the corpus.
    #[arg(long, default_value_t = Settings::default().epochs)]
    epochs: usize,
    /// The rules whose parsing and limits the features use.
    #[command(flatten)]
    rules: RulesArgs,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let folds = args.cv.unwrap_or(5);
    if !(2..=20).contains(&folds) {
        bail!("--cv {folds}: use 2 to 20 folds");
    }
    if !(10..=24).contains(&args.bits) {
        bail!("--bits {}: use 10 to 24", args.bits);
    }
    let engine = args.rules.engine_without_model()?;
    let labels = Labels::load(&args.labels)?;
    let (pool, _) = crate::args::thread_pool(args.threads)?;
    let settings = Settings {
        bits: args.bits,
        epochs: args.epochs.max(1),
        ..Settings::default()
    };
    let started = Instant::now();
    let examples = pool.install(|| Examples::load(&args.paths, &labels, &engine, settings.bits));
    let drawn = started.elapsed();
    let (spam, ham) = examples.counts();
    println!(
        "read {} labelled messages ({spam} spam, {ham} legitimate) in {:.1}s; {} without a label, {} unreadable, {} files skipped",
        examples.list.len(),
        drawn.as_secs_f64(),
        examples.unlabelled,
        examples.unreadable.len(),
        examples.skipped.len()
    );
    for (name, why) in examples.unreadable.iter().take(10) {
        println!("  unreadable: {name}: {why}");
    }
    let learning = Instant::now();
    let trained = pool.install(|| mailsift_train::train(&examples, settings, args.seed, folds))?;
    let bytes = trained.model.to_bytes();
    let aside = args.out.with_extension("partial");
    std::fs::write(&aside, &bytes).with_context(|| format!("cannot write {}", aside.display()))?;
    std::fs::rename(&aside, &args.out)
        .with_context(|| format!("cannot move the model into {}", args.out.display()))?;
    println!(
        "trained in {:.1}s ({settings}, seed {}): model {} with {} non-zero weights, {} bytes, written to {}",
        learning.elapsed().as_secs_f64(),
        args.seed,
        trained.model.version(),
        trained.model.nonzero_weights(),
        bytes.len(),
        args.out.display()
    );
    let t = trained.model.meta.thresholds;
    println!(
        "reports MODEL_SPAM at p ≥ {:.4}, MODEL_SPAM_CONFIDENT at p ≥ {:.4}, MODEL_HAM at p ≤ {:.4}",
        t.spam, t.confident, t.ham
    );
    if args.cv.is_some() {
        print!("{}", trained.cv);
    }
    Ok(())
}
