//! `mailsift corpus add`: bring a misclassified message into the project
//! corpus with its label and golden verdict.

use crate::args::RulesArgs;
use anyhow::{Context, Result};
use std::io::Read;
use std::path::PathBuf;

/// Work on a labelled corpus.
#[derive(clap::Args)]
pub struct CorpusCmd {
    #[command(subcommand)]
    action: CorpusAction,
}

#[derive(clap::Subcommand)]
enum CorpusAction {
    /// Copy a message into the corpus with its label, append it to
    /// labels.csv and record its verdict today as its golden file.
    Add(AddArgs),
}

#[derive(clap::Args)]
struct AddArgs {
    /// The message (`-` reads standard input).
    message: PathBuf,
    /// What it should be: MALICIOUS, SPOOF, SPAM, SUSPICIOUS, BULK, NONE (or spam/ham).
    #[arg(long)]
    label: String,
    /// The corpus directory (holds labels.csv and golden/).
    #[arg(long, default_value = "corpus")]
    corpus: PathBuf,
    /// A short name for the file (default: the message's file name).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    rules: RulesArgs,
}

pub fn run(cmd: CorpusCmd) -> Result<()> {
    match cmd.action {
        CorpusAction::Add(args) => add(args),
    }
}

fn add(args: AddArgs) -> Result<()> {
    let engine = args.rules.engine()?;
    let raw = if args.message.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        buf
    } else {
        std::fs::read(&args.message)
            .with_context(|| format!("cannot read {}", args.message.display()))?
    };
    let hint = args.name.clone().unwrap_or_else(|| {
        args.message
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let added = mailsift_corpus::add::add(&args.corpus, &raw, &args.label, &hint, &engine)?;
    let today = added.disposition.as_str();
    println!(
        "added {} as {} (today: {today}); its golden verdict is in {}",
        args.corpus.join(&added.path).display(),
        args.label,
        args.corpus
            .join("golden")
            .join(format!("{}.json", added.path))
            .display()
    );
    if !mailsift_corpus::Label::parse(&args.label).is_some_and(|l| l.accepts(added.disposition)) {
        println!("today's verdict does not match the label: the corpus accuracy test will show it until the rules do");
    }
    Ok(())
}
