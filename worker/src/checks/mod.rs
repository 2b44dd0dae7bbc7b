//! The checks: one module per analysis, each a pure function of a
//! [`Context`] that returns [`Finding`]s with evidence.
//!
//! Adding a check = one module with a `CHECK` constant + one line in [`CHECKS`].
//! A check never decides a disposition; it reports rule ids, and weights come
//! from the rules (defaults in each module's `RULES`, overrides in
//! `rules/scores.toml`).

pub mod attachments;
pub mod auth;
pub mod bulk;
pub mod content;
pub mod headers;
pub mod ip;
pub mod sender;
pub mod spoof;
pub mod urls;

use crate::envelope::Envelope;
use crate::finding::{Disposition, Finding};
use crate::html;
use crate::message::{ParsedMessage, Part, PartKind};
use crate::relay::Origin;
use crate::rules::{DomainPolicy, Rules};
use crate::url::{self, Url};

/// A rule a check can report, with its shipped default score.
#[derive(Clone, Copy, Debug)]
pub struct RuleSpec {
    /// Stable id, `AREA_WHAT` in upper snake case.
    pub id: &'static str,
    /// Default disposition.
    pub disposition: Disposition,
    /// Default weight.
    pub weight: f64,
    /// What it means, for `mailsift rules` and the README.
    pub description: &'static str,
}

/// A registered check.
#[derive(Clone, Copy)]
pub struct Check {
    /// Short name (`headers`, `urls`, ...).
    pub name: &'static str,
    /// The analysis.
    pub run: fn(&Context<'_>) -> Vec<Finding>,
    /// The rules it can report.
    pub rules: &'static [RuleSpec],
}

/// Every check, in the order findings are listed.
pub const CHECKS: &[Check] = &[
    headers::CHECK,
    ip::CHECK,
    sender::CHECK,
    spoof::CHECK,
    auth::CHECK,
    content::CHECK,
    urls::CHECK,
    attachments::CHECK,
    bulk::CHECK,
];

/// Every built-in rule: the checks' rules plus the engine's own.
pub fn catalogue() -> impl Iterator<Item = &'static RuleSpec> {
    CHECKS
        .iter()
        .flat_map(|c| c.rules.iter())
        .chain(crate::engine::RULES.iter())
}

/// A link found in the message, with where it came from.
#[derive(Clone, Debug)]
pub struct Link {
    /// The parsed URL.
    pub url: Url,
    /// The anchor's visible text, for HTML links.
    pub anchor_text: Option<String>,
}

/// Text and links extracted once per message and shared by the checks.
#[derive(Clone, Debug, Default)]
pub struct Content {
    /// Subject + text parts + visible HTML text, whitespace-folded, bounded.
    pub text: String,
    /// Distinct links, bounded.
    pub links: Vec<Link>,
    /// HTML forms.
    pub forms: Vec<html::Form>,
    /// Password inputs anywhere in HTML bodies.
    pub password_inputs: usize,
    /// Big-font and `<center>` tags in HTML bodies.
    pub shouting_tags: usize,
    /// `<img>` tags in HTML bodies.
    pub images: usize,
    /// Invisible elements in HTML bodies.
    pub hidden_elements: usize,
    /// Visible text length of the HTML bodies.
    pub html_text_len: usize,
    /// Whether any HTML body part exists.
    pub has_html: bool,
    /// Whether any plain-text body part exists.
    pub has_text: bool,
}

impl Content {
    /// Extracts text and links from the body parts (not attachments).
    pub fn extract(msg: &ParsedMessage<'_>, parts: &[Part<'_>], rules: &Rules) -> Content {
        let limits = &rules.engine.limits;
        let mut c = Content::default();
        let mut seen = std::collections::HashSet::new();
        if let Some(s) = msg.subject() {
            c.text.push_str(&html::fold_whitespace(s));
        }
        for part in parts.iter().filter(|p| p.depth == 0) {
            let Some(body) = part.text else { continue };
            let budget = limits.max_text_bytes.saturating_sub(c.text.len());
            if budget == 0 {
                break;
            }
            match part.kind {
                PartKind::Text => {
                    c.has_text = true;
                    let body = truncate(body, budget);
                    c.text.push(' ');
                    c.text.push_str(&html::fold_whitespace(body));
                    for raw in url::find_in_text(body, limits.max_urls) {
                        if c.links.len() < limits.max_urls
                            && seen.insert((raw.clone(), String::new()))
                        {
                            c.links.push(Link {
                                url: Url::parse(&raw),
                                anchor_text: None,
                            });
                        }
                    }
                }
                PartKind::Html => {
                    c.has_html = true;
                    let doc = html::scan(body, budget);
                    c.text.push(' ');
                    c.text.push_str(&doc.text);
                    for a in doc.anchors {
                        // Keyed with the anchor text: the same URL shown as
                        // another domain in HTML must not hide behind its
                        // plain-text twin.
                        if c.links.len() < limits.max_urls
                            && seen.insert((a.href.clone(), a.text.clone()))
                        {
                            c.links.push(Link {
                                url: Url::parse(&a.href),
                                anchor_text: Some(a.text),
                            });
                        } else if c.links.len() >= limits.max_urls {
                            break;
                        }
                    }
                    c.forms.extend(doc.forms);
                    c.password_inputs += doc.password_inputs;
                    c.shouting_tags += doc.shouting_tags;
                    c.images += doc.images;
                    c.hidden_elements += doc.hidden_elements;
                    c.html_text_len += doc.text.len();
                }
                PartKind::Attachment => {}
            }
        }
        c
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

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
    pub hops: &'a [crate::message::Hop],
    /// The recipient domain's policy.
    pub policy: &'a DomainPolicy,
    /// Compiled rules.
    pub rules: &'a Rules,
    /// Extracted text and links.
    pub content: &'a Content,
    /// Inbound or outbound.
    pub direction: crate::verdict::Direction,
    /// Sender authentication results, when the edge ran it.
    pub auth: Option<&'a crate::auth::AuthResults>,
}

impl Context<'_> {
    /// The spoof allow pair (range) that lets the origin IP send as
    /// `domain`: listed for the domain or its organisation, under the
    /// recipient's policy or the claimed domain's own.
    pub fn spoof_allowed(&self, domain: &str) -> Option<ipnet::IpNet> {
        let ip = self.origin.ip?;
        let org = crate::url::org_domain(domain);
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
    pub fn add(&mut self, rule: &str, evidence: impl Into<String>) {
        self.add_scaled(rule, 1.0, evidence);
    }

    /// Reports `rule` with its configured weight times `factor` (e.g. the
    /// summed weights of the phrases a list matched).
    pub fn add_scaled(&mut self, rule: &str, factor: f64, evidence: impl Into<String>) {
        self.list.push(self.rules.finding(rule, factor, evidence));
    }

    /// True if `rule` was already reported.
    pub fn has(&self, rule: &str) -> bool {
        self.list.iter().any(|f| f.rule == rule)
    }

    /// The findings.
    pub fn into_vec(self) -> Vec<Finding> {
        self.list
    }
}

/// Shorthand for a [`RuleSpec`] in the modules' `RULES` tables.
pub(crate) const fn rule(
    id: &'static str,
    disposition: Disposition,
    weight: f64,
    description: &'static str,
) -> RuleSpec {
    RuleSpec {
        id,
        disposition,
        weight,
        description,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the checks' unit tests: run one check on a message.
    use super::*;
    use crate::engine::Engine;
    use std::sync::{Arc, OnceLock};

    /// An engine on the shipped rules, built once per test binary.
    pub fn engine() -> &'static Engine {
        static ENGINE: OnceLock<Engine> = OnceLock::new();
        ENGINE.get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
            Engine::new(Arc::new(
                Rules::load(&dir).unwrap_or_else(|e| panic!("{e}")),
            ))
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
