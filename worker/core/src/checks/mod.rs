//! The checks: one module per analysis, each a pure function of a
//! [`Context`] that returns [`Finding`]s with evidence.
//!
//! Adding a check = one module with a `CHECK` constant + one line in [`CHECKS`].
//! A check never decides a disposition; it reports rule ids, and weights come
//! from the rules (defaults in each module's `RULES`, overrides in
//! `rules/scores.toml`).

pub mod attachments;
pub mod auth;
pub mod brand;
pub mod bulk;
pub mod content;
pub mod headers;
pub mod ip;
pub mod model;
pub mod sender;
pub mod spoof;
pub mod testfiles;
pub mod upstream;
pub mod urls;

use crate::author::Author;
use crate::authres::AuthResults;
use crate::content::Content;
use crate::envelope::{Direction, Envelope};
use crate::finding::{Finding, Rule};
use crate::message::{Hop, ParsedMessage, Part};
use crate::relay::Origin;
use crate::rules::{DomainPolicy, Rules};

/// A registered check.
#[derive(Clone, Copy)]
pub struct Check {
    /// Short name (`headers`, `urls`, ...).
    pub name: &'static str,
    /// The analysis.
    pub run: fn(&Context<'_>) -> Vec<Finding>,
    /// The rules it can report.
    pub rules: &'static [Rule],
}

/// Every check, in the order findings are listed.
pub const CHECKS: &[Check] = &[
    headers::CHECK,
    ip::CHECK,
    sender::CHECK,
    spoof::CHECK,
    brand::CHECK,
    auth::CHECK,
    upstream::CHECK,
    content::CHECK,
    urls::CHECK,
    attachments::CHECK,
    testfiles::CHECK,
    bulk::CHECK,
    model::CHECK,
];

/// Everything a check may look at. Built once per message by the engine.
pub struct Context<'a> {
    /// The parsed message.
    pub message: &'a ParsedMessage<'a>,
    /// Its leaf parts.
    pub parts: &'a [Part<'a>],
    /// Envelope, completed from headers where needed.
    pub envelope: &'a Envelope,
    /// The origin IP and why.
    pub origin: &'a Origin,
    /// Received hops, newest first.
    pub hops: &'a [Hop],
    /// The recipient domain's policy.
    pub policy: &'a DomainPolicy,
    /// Compiled rules.
    pub rules: &'a Rules,
    /// Extracted text and links.
    pub content: &'a Content,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The sender as a mail client shows it (read from From, tolerating
    /// what phishers do to it).
    pub author: &'a Author,
    /// Sender authentication results, when the edge ran it.
    pub auth: Option<&'a AuthResults>,
}

impl Context<'_> {
    /// The spoof allow pair (range) that lets the origin IP send as
    /// `domain`: listed for the domain or its organisation, under the
    /// recipient's policy or the claimed domain's own.
    pub fn spoof_allowed(&self, domain: &str) -> Option<ipnet::IpNet> {
        let ip = self.origin.ip?;
        let org = crate::domain::org_domain(domain);
        self.policy
            .spoof_allowed(domain, ip)
            .or_else(|| self.policy.spoof_allowed(org, ip))
            .or_else(|| {
                self.rules
                    .policy
                    .for_domain(domain)
                    .and_then(|p| p.spoof_allowed(org, ip))
            })
    }
}

/// Collects findings for one check, looking scores up in the rules.
pub struct Findings<'r> {
    rules: &'r Rules,
    list: Vec<Finding>,
}

impl<'r> Findings<'r> {
    /// An empty collector.
    pub fn new(rules: &'r Rules) -> Self {
        Findings {
            rules,
            list: Vec::new(),
        }
    }

    /// Reports `rule` with its configured weight.
    pub fn add(&mut self, rule: Rule, evidence: impl Into<String>) {
        self.add_scaled(rule, 1.0, evidence);
    }

    /// Reports `rule` with its configured weight times `factor` (e.g. the
    /// summed weights of the phrases a list matched).
    pub fn add_scaled(&mut self, rule: Rule, factor: f64, evidence: impl Into<String>) {
        self.list.push(self.rules.finding(rule, factor, evidence));
    }

    /// Reports a rule defined in the rule files (a phrase list), with its
    /// configured weight times `factor`. Such ids were checked at load.
    pub fn add_named(&mut self, id: &str, factor: f64, evidence: impl Into<String>) {
        self.list
            .push(self.rules.finding_named(id, factor, evidence));
    }

    /// True if `rule` was already reported.
    pub fn has(&self, rule: Rule) -> bool {
        self.list.iter().any(|f| f.rule == rule.id)
    }

    /// The findings.
    pub fn into_vec(self) -> Vec<Finding> {
        self.list
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the checks' unit tests: run one check on a message.
    use super::*;
    use crate::engine::Engine;
    use std::sync::OnceLock;

    /// An engine on the check tests' own rules (`testdata/rules`), built
    /// once per test binary: editing the shipped example policy must not
    /// break unit tests of unrelated checks.
    pub fn engine() -> &'static Engine {
        static ENGINE: OnceLock<Engine> = OnceLock::new();
        ENGINE.get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rules");
            Engine::load(&dir).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    /// Runs `check` alone on `raw`, with an envelope completed from headers.
    pub fn run(check: &Check, raw: &str, envelope: Envelope) -> Vec<Finding> {
        engine().run_single_check(check, raw.as_bytes(), envelope)
    }

    /// Rule ids of the findings.
    pub fn ids(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.rule.as_str()).collect()
    }
}
