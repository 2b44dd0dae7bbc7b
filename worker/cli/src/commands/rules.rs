//! `mailsift rules`: every rule id with its effective score.

use crate::args::RulesArgs;
use anyhow::Result;
use std::io::Write;

/// List every rule id with its effective disposition, weight and meaning.
#[derive(clap::Args)]
pub struct RulesCmd {
    #[command(flatten)]
    rules: RulesArgs,
}

pub fn run(args: RulesCmd) -> Result<()> {
    let engine = args.rules.engine()?;
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
