//! `mailsift check`: one message, every finding with its evidence.

use crate::args::{DnsArgs, EnvelopeArgs, Format, RulesArgs};
use anyhow::{Context as _, Result};
use mailsift_core::{stamp, Verdict};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Classify one message and show every finding with its evidence.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The message (.eml); `-` reads standard input.
    file: PathBuf,
    #[command(flatten)]
    rules: RulesArgs,
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

pub fn run(args: CheckArgs) -> Result<()> {
    let engine = args.rules.engine()?;
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
    let prepared = engine.prepare(engine.parse(raw), Some(&envelope));
    let (results, zone) = match (&auth, prepared.auth_subject()) {
        (Some(a), Some(subject)) => {
            let (results, zone) = a.authenticate(&subject);
            (Some(results), zone)
        }
        _ => (None, None),
    };
    if let (Some(path), Some(zone)) = (&args.dns.record_dns, zone) {
        std::fs::write(path, zone.to_yaml())
            .with_context(|| format!("cannot write --record-dns {}", path.display()))?;
    }
    let verdict = prepared.classify(results.as_ref());
    let mut out = std::io::stdout().lock();
    if args.stamp {
        let stamped = stamp::stamp(
            prepared.parsed().raw(),
            &verdict,
            &engine.rules().engine.stamp,
        );
        out.write_all(&stamped)?;
        return Ok(());
    }
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &verdict)?;
            writeln!(out)?;
        }
        Format::Text => write_text(&mut out, &verdict, &engine.rules().engine.stamp.authserv_id)?,
    }
    Ok(())
}

/// The verdict for people: disposition, route, scores, policy, origin,
/// authentication, then every finding with its weight and evidence.
fn write_text(out: &mut impl Write, verdict: &Verdict, authserv_id: &str) -> std::io::Result<()> {
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
            stamp::authentication_results(a, authserv_id)
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
    Ok(())
}
