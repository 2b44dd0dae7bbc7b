//! `mailsift topology`: the broker topology as a RabbitMQ definitions file.

use crate::args::{RulesArgs, TopologyArgs};
use anyhow::Result;

/// Print the broker topology as a RabbitMQ definitions file.
#[derive(clap::Args)]
pub struct TopologyCmd {
    /// Virtual host to write into the definitions.
    #[arg(long, default_value = "/")]
    vhost: String,
    #[command(flatten)]
    names: TopologyArgs,
    #[command(flatten)]
    rules: RulesArgs,
}

pub fn run(args: TopologyCmd) -> Result<()> {
    let engine = args.rules.engine()?;
    let defs = args.names.topology(engine.rules()).definitions(&args.vhost);
    println!("{}", serde_json::to_string_pretty(&defs)?);
    Ok(())
}
