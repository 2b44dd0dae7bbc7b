//! The `mailsift` command: one subcommand per file in `commands/`.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

mod args;
mod commands;
mod proc_stat;
mod progress;
mod service;

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
    Check(commands::check::CheckArgs),
    /// Classify a corpus (.eml directories, mbox files, maildirs) and summarise.
    Replay(commands::replay::ReplayArgs),
    /// Consume the input queue, classify, publish to delivery/quarantine/verdicts.
    Worker(commands::worker::WorkerArgs),
    /// Publish .eml / mbox / maildir messages to the input queue with confirms.
    Enqueue(commands::enqueue::EnqueueArgs),
    /// Accept mail over SMTP for the policy's domains and queue it for the pool.
    Edge(commands::edge::EdgeArgs),
    /// Relay delivered mail from the delivery queues to each domain's mail server.
    Deliver(commands::deliver::DeliverArgs),
    /// Print the broker topology as a RabbitMQ definitions file.
    Topology(commands::topology::TopologyCmd),
    /// Measure end-to-end throughput and latency through the broker.
    BenchAmqp(commands::bench_amqp::BenchArgs),
    /// bench-amqp's bare relay: consume, publish unchanged, acknowledge.
    #[command(hide = true)]
    BenchRelay(commands::bench_amqp::RelayArgs),
    /// Measure the quarantine console: messages/s stored, list latency at a million rows.
    BenchQuarantine(commands::bench_quarantine::BenchQuarantineArgs),
    /// List every rule id with its effective disposition, weight and meaning.
    Rules(commands::rules::RulesCmd),
    /// Train the content classifier on labelled mail (use it with --model).
    Train(commands::train::TrainArgs),
    /// Fit rule weights and thresholds to labelled mail under a false-positive cap.
    Tune(commands::tune::TuneArgs),
    /// The quarantine console: keep held mail, let administrators review and release it.
    Quarantine(commands::quarantine::QuarantineCmd),
    /// Work on a labelled corpus (`corpus add`: a misclassified message joins it).
    Corpus(commands::corpus::CorpusCmd),
}

fn main() {
    let result = match Cli::parse().command {
        Command::Check(args) => commands::check::run(args),
        Command::Replay(args) => commands::replay::run(args),
        Command::Worker(args) => commands::worker::run(args),
        Command::Enqueue(args) => commands::enqueue::run(args),
        Command::Edge(args) => commands::edge::run(args),
        Command::Deliver(args) => commands::deliver::run(args),
        Command::Topology(args) => commands::topology::run(args),
        Command::BenchAmqp(args) => commands::bench_amqp::run(args),
        Command::BenchRelay(args) => commands::bench_amqp::relay(args),
        Command::BenchQuarantine(args) => commands::bench_quarantine::run(args),
        Command::Corpus(args) => commands::corpus::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Tune(args) => commands::tune::run(args),
        Command::Rules(args) => commands::rules::run(args),
        Command::Quarantine(args) => commands::quarantine::run(args),
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
