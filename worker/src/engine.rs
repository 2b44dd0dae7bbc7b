//! The classification core: raw bytes + envelope + rules in, verdict out.
//!
//! Pure and synchronous: no I/O, no clock, no randomness. The same message
//! with the same envelope and rules always gets the same verdict. (Without an
//! envelope, "now" is the receipt time taken from the headers, never the
//! wall clock, so replaying an old corpus is reproducible.)

use crate::auth::{AuthResults, AuthSubject};
use crate::checks::{self, rule, Check, Content, Context, RuleSpec};
use crate::envelope::Envelope;
use crate::finding::{Disposition, Finding};
use crate::journal;
use crate::message::{address_domain, ParsedMessage};
use crate::relay::{self, Origin};
use crate::rules::{DnsFailure, DomainPolicy, Mode, Rules};
use crate::stamp;
use crate::url::org_domain;
use crate::verdict::{self, Direction, Route, Verdict};
use rayon::prelude::*;
use std::borrow::Cow;
use std::sync::Arc;

use Disposition::{None as Info, Spoof, Suspicious};

/// Rules the engine itself reports (not tied to one check).
pub const RULES: &[RuleSpec] = &[
    rule("MSG_NOT_EMAIL", Suspicious, 10.0, "input is not an RFC 5322 message"),
    rule("MSG_TOO_LARGE", Suspicious, 10.0, "message exceeds limits.max_message_bytes and was not scanned"),
    rule("ENGINE_INTERNAL_ERROR", Suspicious, 10.0, "a check failed on this message (a bug): quarantined for review"),
    rule("JOURNAL_MALFORMED", Suspicious, 10.0, "journal report without a usable envelope or original"),
    rule("OUTBOUND_FOREIGN_SENDER", Spoof, 100.0, "a tenant's outbound relay sent mail as a domain the tenant does not own (open-relay attempt)"),
    rule("INFO_ENVELOPE_DERIVED", Info, 0.0, "envelope fields were derived from headers"),
    rule("INFO_ORIGIN_IP", Info, 0.0, "which IP was taken as the origin, and why"),
    rule("INFO_JOURNAL_UNWRAPPED", Info, 0.0, "an Exchange journal report was unwrapped"),
    rule("ALLOW_TRUSTED_SENDER", Info, 0.0, "trusted sender: no checks run"),
    rule("ALLOW_EXEMPT_RECIPIENT", Info, 0.0, "every recipient is exempt: no checks run"),
    rule("ALLOW_ACCEPTABLE_SENDER", Info, 0.0, "acceptable sender: exempt from SPAM, BULK and SPOOF"),
    rule("ALLOW_IP", Info, 0.0, "origin IP on the allow list: exempt from SPAM and BULK"),
    rule("AUTH_ALLOW_UNAUTHENTICATED", Spoof, 4.0, "the sender is on an allow list but does not authenticate: the entry is ignored"),
    rule("LOOP_ALREADY_STAMPED", Info, 0.0, "stamped by this gateway and sent back by its own MTA: not classified again"),
];

/// The classifier: holds compiled rules, shared and immutable.
#[derive(Clone, Debug)]
pub struct Engine {
    rules: Arc<Rules>,
}

impl Engine {
    /// An engine over compiled rules.
    pub fn new(rules: Arc<Rules>) -> Engine {
        Engine { rules }
    }

    /// The rules in use.
    pub fn rules(&self) -> &Arc<Rules> {
        &self.rules
    }

    /// Classifies one message. `envelope` is what the SMTP edge saw; `None`
    /// (or gaps in it) are filled from headers and said so in the evidence.
    ///
    /// Never panics: a bug in a check is caught here and turned into an
    /// error verdict (SUSPICIOUS, quarantined) instead of taking the caller
    /// down or losing the message.
    pub fn classify(&self, raw: &[u8], envelope: Option<&Envelope>) -> Verdict {
        self.classify_with_auth(raw, envelope, None)
    }

    /// Classifies one message with the sender authentication results the
    /// edge obtained for it (see [`Engine::auth_subject`]); `None` = not
    /// authenticated (replay without DNS), and the `auth` check is silent.
    pub fn classify_with_auth(
        &self,
        raw: &[u8],
        envelope: Option<&Envelope>,
        auth: Option<&AuthResults>,
    ) -> Verdict {
        let envelope = envelope.cloned().unwrap_or_default();
        let run = || {
            self.classify_inner(
                strip_mbox_line(raw),
                envelope.clone(),
                false,
                Vec::new(),
                auth,
            )
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            Ok(verdict) => verdict,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                let reason = format!("internal error while classifying: {what}");
                let findings = vec![self.finding("ENGINE_INTERNAL_ERROR", reason.clone())];
                self.error_verdict(envelope, false, findings, reason)
            }
        }
    }

    /// What sender authentication needs for this message: the message
    /// itself (the original, for a journal report), the origin IP chosen by
    /// the relay-hop logic under the recipient domain's policy, that hop's
    /// HELO and MAIL FROM. `None` when the bytes are not a message we
    /// would classify (over the size limit, not email, a broken journal
    /// report), which get an error verdict without authentication.
    pub fn auth_subject<'a>(
        &self,
        raw: &'a [u8],
        envelope: Option<&Envelope>,
    ) -> Option<AuthSubject<'a>> {
        let raw = strip_mbox_line(raw);
        if raw.len() > self.rules.engine.limits.max_message_bytes {
            return None;
        }
        let msg = ParsedMessage::parse(raw).ok()?;
        let envelope = envelope.cloned().unwrap_or_default();
        if !journal::is_report(&msg) {
            return Some(self.subject_of(&msg, raw, envelope));
        }
        // One level, as classification unwraps one: a report inside a
        // report is the original as far as both are concerned.
        let report = journal::unwrap(&msg).ok()?;
        let original = strip_mbox_line(&report.original);
        let inner = ParsedMessage::parse(original).ok()?;
        let subject = self.subject_of(&inner, original, report.envelope.clone());
        Some(AuthSubject {
            message: Cow::Owned(original.to_vec()),
            ip: subject.ip,
            helo: subject.helo,
            mail_from: subject.mail_from,
        })
    }

    /// The subject of a parsed, non-journal message.
    fn subject_of<'a>(
        &self,
        msg: &ParsedMessage<'_>,
        raw: &'a [u8],
        envelope: Envelope,
    ) -> AuthSubject<'a> {
        let prepared = self.prepare(msg, envelope);
        let helo = match prepared.origin.hop {
            Some(i) => prepared.hops.get(i).and_then(|h| h.helo.clone()),
            None => prepared.envelope.helo.clone(),
        };
        AuthSubject {
            message: Cow::Borrowed(raw),
            ip: prepared.origin.ip,
            helo,
            mail_from: prepared.envelope.mail_from.clone(),
        }
    }

    /// Runs a single check as `classify` would, for unit tests.
    pub fn run_single_check(&self, check: &Check, raw: &[u8], envelope: Envelope) -> Vec<Finding> {
        self.with_context(raw, envelope, |ctx| (check.run)(ctx))
            .unwrap_or_default()
    }

    /// Builds the context the checks see (parse, envelope, origin, content)
    /// and hands it to `f`; `None` if the bytes are not a message. For
    /// tests and benchmarks that look at one stage at a time.
    pub fn with_context<R>(
        &self,
        raw: &[u8],
        envelope: Envelope,
        f: impl FnOnce(&Context<'_>) -> R,
    ) -> Option<R> {
        let msg = ParsedMessage::parse(strip_mbox_line(raw)).ok()?;
        let prepared = self.prepare(&msg, envelope);
        let parts = msg.parts();
        let content = Content::extract(&msg, &parts, &self.rules);
        let ctx = prepared.context(&msg, &parts, &content, &self.rules, None);
        Some(f(&ctx))
    }

    fn classify_inner(
        &self,
        raw: &[u8],
        envelope: Envelope,
        journal: bool,
        mut findings: Vec<Finding>,
        auth: Option<&AuthResults>,
    ) -> Verdict {
        let rules = &*self.rules;
        if raw.len() > rules.engine.limits.max_message_bytes {
            let reason = format!(
                "{} bytes is over limits.max_message_bytes = {}",
                raw.len(),
                rules.engine.limits.max_message_bytes
            );
            findings.push(self.finding("MSG_TOO_LARGE", reason.clone()));
            return self.error_verdict(envelope, journal, findings, reason);
        }
        let msg = match ParsedMessage::parse(raw) {
            Ok(m) => m,
            Err(e) => {
                findings.push(self.finding("MSG_NOT_EMAIL", e.to_string()));
                return self.error_verdict(envelope, journal, findings, e.to_string());
            }
        };
        if !journal && journal::is_report(&msg) {
            return match journal::unwrap(&msg) {
                Ok(report) => {
                    let mut env = report.envelope;
                    // Edge facts the report cannot know stay as the edge saw them.
                    env.received_at = envelope.received_at;
                    env.queue_id = envelope.queue_id;
                    findings.push(self.finding(
                        "INFO_JOURNAL_UNWRAPPED",
                        format!(
                            "journal report from {}; original sender {}, recipients {}",
                            msg.from()
                                .first()
                                .and_then(|m| m.address.clone())
                                .unwrap_or_default(),
                            env.mail_from.as_deref().unwrap_or("?"),
                            env.rcpt_to.join(", ")
                        ),
                    ));
                    self.classify_inner(
                        strip_mbox_line(&report.original),
                        env,
                        true,
                        findings,
                        auth,
                    )
                }
                Err(e) => {
                    findings.push(self.finding("JOURNAL_MALFORMED", e.to_string()));
                    self.error_verdict(envelope, true, findings, e.to_string())
                }
            };
        }

        let prepared = self.prepare(&msg, envelope);
        let policy = prepared.policy;
        if !prepared.notes.is_empty() {
            findings.push(self.finding("INFO_ENVELOPE_DERIVED", prepared.notes.join("; ")));
        }
        if prepared.origin.ip.is_some() {
            findings.push(self.finding("INFO_ORIGIN_IP", prepared.origin.reason.clone()));
        }
        let incomplete = auth.filter(|a| a.incomplete()).map(|a| {
            format!(
                "DNS failed during sender authentication ({}); dns_failure = {}",
                a.temp_failures.join(", "),
                match policy.dns_failure {
                    DnsFailure::Deliver => "deliver",
                    DnsFailure::Quarantine => "quarantine",
                    DnsFailure::Requeue => "requeue",
                }
            )
        });
        let base = |findings: Vec<Finding>,
                    disposition: Disposition,
                    scores: [f64; 6],
                    force_quarantine: bool| Verdict {
            disposition,
            route: match verdict::route(disposition, policy, journal, force_quarantine) {
                Route::Deliver if incomplete.is_some() => match policy.dns_failure {
                    DnsFailure::Deliver => Route::Deliver,
                    DnsFailure::Quarantine => Route::Quarantine,
                    DnsFailure::Requeue => Route::Requeue,
                },
                route => route,
            },
            score: if disposition == Disposition::None {
                scores.iter().cloned().fold(0.0, f64::max)
            } else {
                scores[disposition.index()]
            },
            scores: verdict::score_map(&scores),
            bulk_level: verdict::bulk_level(&scores),
            findings,
            origin: Some(prepared.origin.clone()),
            policy_domain: policy.domain.clone(),
            mode: policy.mode,
            region: policy.region.clone(),
            direction: prepared.direction,
            message_id: msg.message_id().map(str::to_string),
            envelope: prepared.envelope.clone(),
            journal,
            passthrough: false,
            error: None,
            auth: auth.cloned(),
            incomplete: incomplete.clone(),
        };

        // Loop prevention: our own MTA handing back mail we already stamped.
        if let Some(stamped) = self.own_stamp(&msg, &prepared) {
            findings.push(self.finding(
                "LOOP_ALREADY_STAMPED",
                format!(
                    "from this gateway's own address {}; carries {}Disposition: {stamped}",
                    prepared.envelope.peer_ip.map(|i| i.to_string()).unwrap_or_default(),
                    rules.engine.stamp.prefix
                ),
            ));
            let mut v = base(findings, stamped, [0.0; 6], false);
            v.route = if journal || policy.mode == Mode::Journal {
                Route::DetectOnly
            } else {
                Route::Deliver
            };
            v.passthrough = true;
            return v;
        }

        // Outbound: the tenant may only send as its own domains.
        if let Some(reason) = prepared.outbound_violation.as_ref() {
            findings.push(self.finding("OUTBOUND_FOREIGN_SENDER", reason.clone()));
            let scoring = verdict::score(&findings, rules, &[]);
            return base(findings, scoring.disposition, scoring.scores, true);
        }

        // Allow tiers that skip every check.
        if let Some(evidence) = self.exempt_recipients(&prepared) {
            findings.push(self.finding("ALLOW_EXEMPT_RECIPIENT", evidence));
            return base(findings, Disposition::None, [0.0; 6], false);
        }
        match self.sender_match(&msg, &prepared, &policy.trusted_senders, auth) {
            SenderMatch::Allowed(m) => {
                findings.push(self.finding("ALLOW_TRUSTED_SENDER", m));
                return base(findings, Disposition::None, [0.0; 6], false);
            }
            SenderMatch::Unauthenticated(m) => {
                findings.push(self.finding("AUTH_ALLOW_UNAUTHENTICATED", m));
            }
            SenderMatch::No => {}
        }

        let parts = msg.parts();
        let content = Content::extract(&msg, &parts, rules);
        let ctx = prepared.context(&msg, &parts, &content, rules, auth);
        let per_check: Vec<Vec<Finding>> =
            if raw.len() > rules.engine.parallel.checks_in_parallel_above_bytes {
                checks::CHECKS.par_iter().map(|c| (c.run)(&ctx)).collect()
            } else {
                checks::CHECKS.iter().map(|c| (c.run)(&ctx)).collect()
            };
        findings.extend(per_check.into_iter().flatten());

        let mut exempt = Vec::new();
        match self.sender_match(&msg, &prepared, &policy.acceptable_senders, auth) {
            SenderMatch::Allowed(m) => {
                findings.push(self.finding("ALLOW_ACCEPTABLE_SENDER", m));
                exempt.extend([Disposition::Spam, Disposition::Bulk, Disposition::Spoof]);
            }
            SenderMatch::Unauthenticated(m) => {
                findings.push(self.finding("AUTH_ALLOW_UNAUTHENTICATED", m));
            }
            SenderMatch::No => {}
        }
        if let Some(net) = prepared.origin.ip.and_then(|ip| rules.ip.allow.find(ip)) {
            findings.push(self.finding("ALLOW_IP", format!("origin IP in allow-listed {net}")));
            exempt.extend([Disposition::Spam, Disposition::Bulk]);
        }
        verdict::apply_combos(&mut findings, rules);
        let scoring = verdict::score(&findings, rules, &exempt);
        base(findings, scoring.disposition, scoring.scores, false)
    }

    fn finding(&self, rule: &str, evidence: impl Into<String>) -> Finding {
        self.rules.finding(rule, 1.0, evidence)
    }

    fn error_verdict(
        &self,
        envelope: Envelope,
        journal: bool,
        findings: Vec<Finding>,
        error: String,
    ) -> Verdict {
        let rules = &*self.rules;
        let policy = rules.policy.for_recipients(&envelope.rcpt_to);
        let scoring = verdict::score(&findings, rules, &[]);
        Verdict {
            disposition: scoring.disposition,
            route: verdict::route(scoring.disposition, policy, journal, true),
            score: scoring.scores[scoring.disposition.index()],
            scores: verdict::score_map(&scoring.scores),
            bulk_level: 0,
            findings,
            origin: None,
            policy_domain: policy.domain.clone(),
            mode: policy.mode,
            region: policy.region.clone(),
            direction: Direction::Inbound,
            message_id: None,
            envelope,
            journal,
            passthrough: false,
            error: Some(error),
            auth: None,
            incomplete: None,
        }
    }

    /// Resolves envelope, policy, direction and origin for a parsed message.
    fn prepare<'r>(&'r self, msg: &ParsedMessage<'_>, mut envelope: Envelope) -> Prepared<'r> {
        let rules = &*self.rules;
        let hops = msg.received();
        let peer_given = envelope.peer_ip.is_some();
        let notes = envelope.complete_from_headers(msg, &hops);

        // Outbound when the connecting peer is a tenant's own relay.
        let tenant = envelope
            .peer_ip
            .and_then(|ip| rules.policy.outbound_tenant(ip));
        let (direction, policy, outbound_violation) = match tenant {
            Some(tenant_domains) => {
                let from_domain = msg
                    .from()
                    .first()
                    .and_then(|m| m.domain().map(str::to_string));
                let owned = |d: &str| {
                    tenant_domains
                        .iter()
                        .any(|t| d == t || d.ends_with(&format!(".{t}")))
                };
                let violation = if envelope.is_null_sender() {
                    Some("null sender <> through the outbound relay".to_string())
                } else {
                    match (envelope.mail_from_domain(), from_domain.as_deref()) {
                        (Some(mf), Some(fd)) if owned(mf) && owned(fd) => None,
                        (mf, fd) => Some(format!(
                            "outbound relay {} serves {}; MAIL FROM domain {}, From domain {}",
                            envelope.peer_ip.map(|i| i.to_string()).unwrap_or_default(),
                            tenant_domains.join(", "),
                            mf.unwrap_or("(none)"),
                            fd.unwrap_or("(none)")
                        )),
                    }
                };
                let policy = rules
                    .policy
                    .for_domain(&tenant_domains[0])
                    .unwrap_or(&rules.policy.default);
                (Direction::Outbound, policy, violation)
            }
            None => {
                let policy = rules.policy.for_recipients(&envelope.rcpt_to);
                (Direction::Inbound, policy, None)
            }
        };
        let origin = relay::trace(
            envelope.peer_ip,
            peer_given,
            &hops,
            policy,
            &rules.policy.gateway,
        );
        Prepared {
            envelope,
            notes,
            hops,
            policy,
            direction,
            outbound_violation,
            origin,
        }
    }

    /// Our disposition stamp, when the message comes from our own MTA.
    fn own_stamp(&self, msg: &ParsedMessage<'_>, p: &Prepared<'_>) -> Option<Disposition> {
        let peer = p.envelope.peer_ip?;
        if !self.rules.policy.gateway.own_ips.contains(peer) {
            return None;
        }
        stamp::read_disposition(msg, &self.rules.engine.stamp.prefix)
    }

    fn exempt_recipients(&self, p: &Prepared<'_>) -> Option<String> {
        let rcpts = &p.envelope.rcpt_to;
        let all_exempt = !rcpts.is_empty()
            && rcpts
                .iter()
                .all(|r| p.policy.exempt_recipients.contains(&r.to_ascii_lowercase()));
        all_exempt.then(|| format!("exempt recipient(s): {}", rcpts.join(", ")))
    }

    /// Matches a sender list. IP entries match the origin IP. Address and
    /// domain entries need proof that the From is genuine, so a forged
    /// visible From does not get through: with authentication results, the
    /// From domain must authenticate (DMARC pass, or aligned SPF/DKIM where
    /// it publishes no DMARC); without them (replay without DNS), header
    /// From and envelope MAIL FROM must at least agree.
    fn sender_match(
        &self,
        msg: &ParsedMessage<'_>,
        p: &Prepared<'_>,
        list: &crate::rules::SenderList,
        auth: Option<&AuthResults>,
    ) -> SenderMatch {
        if list.is_empty() {
            return SenderMatch::No;
        }
        if let Some(m) = p.origin.ip.and_then(|ip| list.match_ip(ip)) {
            return SenderMatch::Allowed(format!("origin IP matches {m}"));
        }
        let Some(from) = msg.from().into_iter().next().and_then(|m| m.address) else {
            return SenderMatch::No;
        };
        let Some(hit) = list.match_address(&from) else {
            return SenderMatch::No;
        };
        // Once authentication was attempted, only its result counts: a run
        // that did not complete (DNS, deadline) proves nothing.
        match auth {
            Some(a) if a.from_authenticated() => SenderMatch::Allowed(format!(
                "From {from} matches {hit} and authenticates (DMARC {})",
                a.dmarc.result.as_str()
            )),
            Some(a) => SenderMatch::Unauthenticated(format!(
                "From {from} matches {hit} but does not authenticate: {}DMARC {}, SPF {}{}",
                a.skipped
                    .as_deref()
                    .map(|why| format!("{why}; "))
                    .unwrap_or_default(),
                a.dmarc.result.as_str(),
                a.spf.result.as_str(),
                p.origin
                    .ip
                    .map(|ip| format!(" from {ip}"))
                    .unwrap_or_default()
            )),
            None => {
                let aligned = address_domain(&from).is_some_and(|d| {
                    p.envelope
                        .mail_from_domain()
                        .is_some_and(|mf| org_domain(mf).eq_ignore_ascii_case(org_domain(d)))
                });
                if aligned {
                    SenderMatch::Allowed(format!(
                        "From {from} matches {hit}, aligned with MAIL FROM"
                    ))
                } else {
                    SenderMatch::No
                }
            }
        }
    }
}

/// The outcome of matching a sender allow list.
enum SenderMatch {
    /// On the list, with proof; the evidence.
    Allowed(String),
    /// On the list by From, but the From did not authenticate; the evidence.
    Unauthenticated(String),
    /// Not on the list.
    No,
}

/// Per-message facts resolved before the checks run.
struct Prepared<'r> {
    envelope: Envelope,
    notes: Vec<String>,
    hops: Vec<crate::message::Hop>,
    policy: &'r DomainPolicy,
    direction: Direction,
    outbound_violation: Option<String>,
    origin: Origin,
}

impl<'r> Prepared<'r> {
    fn context<'a>(
        &'a self,
        msg: &'a ParsedMessage<'a>,
        parts: &'a [crate::message::Part<'a>],
        content: &'a Content,
        rules: &'a Rules,
        auth: Option<&'a AuthResults>,
    ) -> Context<'a> {
        Context {
            message: msg,
            parts,
            envelope: &self.envelope,
            origin: &self.origin,
            hops: &self.hops,
            policy: self.policy,
            rules,
            content,
            direction: self.direction,
            auth,
        }
    }
}

/// Skips an mbox `From ` separator line, which is not part of the message.
fn strip_mbox_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        if let Some(nl) = memchr::memchr(b'\n', raw) {
            return &raw[nl + 1..];
        }
    }
    raw
}
