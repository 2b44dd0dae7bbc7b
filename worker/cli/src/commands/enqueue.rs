//! `mailsift enqueue`: stored mail onto the input queue, as an edge would.

use crate::args::{BrokerArgs, EnvelopeArgs, RulesArgs, TopologyArgs};
use crate::progress::spinner;
use crate::service;
use anyhow::{bail, Context as _, Result};
use mailsift_amqp::redact;
use std::path::PathBuf;
use std::time::Instant;

/// Publish .eml / mbox / maildir messages to the input queue with confirms.
#[derive(clap::Args)]
pub struct EnqueueArgs {
    /// Directories, mbox files, maildirs or single messages.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    broker: BrokerArgs,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    names: TopologyArgs,
    #[command(flatten)]
    envelope: EnvelopeArgs,
    /// Publisher confirms awaited at once.
    #[arg(long, default_value_t = 512)]
    window: usize,
}

pub fn run(args: EnqueueArgs) -> Result<()> {
    let engine = args.rules.engine()?;
    let topology = args.names.topology(engine.rules());
    let envelope = args.envelope.envelope();
    let progress = spinner("confirmed");
    let max_bytes = engine.rules().engine.limits.max_message_bytes;
    let skipped = mailsift_corpus::Skipped::new();
    let items =
        mailsift_corpus::messages(args.paths, max_bytes, &skipped).map(|i| (i.name, i.bytes));
    let started = Instant::now();
    let report = service::runtime()?
        .block_on(mailsift_amqp::enqueue::enqueue(
            &args.broker.amqp_url,
            &topology,
            items,
            &envelope,
            args.window,
            || progress.inc(1),
        ))
        .with_context(|| format!("publishing to {}", redact(&args.broker.amqp_url)))?;
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
    let skipped = skipped.list();
    if !skipped.is_empty() {
        eprintln!("skipped {} files that are not messages:", skipped.len());
        for (name, why) in &skipped {
            eprintln!("  {name}: {why}");
        }
    }
    if report.refused > 0 {
        bail!("the broker refused {} messages", report.refused);
    }
    Ok(())
}
