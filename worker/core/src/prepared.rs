//! A parsed message under one envelope: what the engine establishes before
//! the checks run (completed envelope, recipient policy, direction, origin
//! IP), what sender authentication needs from it, and its classification.

use crate::author::Author;
use crate::authres::{AuthResults, AuthSubject};
use crate::checks::{self, Context};
use crate::content::Content;
use crate::decide::{self, Facts, Standing};
use crate::domain::org_domain;
use crate::engine::{
    ALLOW_ACCEPTABLE_SENDER, ALLOW_EXEMPT_RECIPIENT, ALLOW_IP, ALLOW_TRUSTED_SENDER,
    AUTH_ALLOW_UNAUTHENTICATED, ENGINE_INTERNAL_ERROR, INFO_ENVELOPE_DERIVED,
    INFO_JOURNAL_UNWRAPPED, INFO_ORIGIN_IP, LOOP_ALREADY_STAMPED, OUTBOUND_FOREIGN_SENDER,
};
use crate::envelope::{Direction, Envelope};
use crate::finding::{Disposition, Finding, Rule};
use crate::message::{address_domain, Hop, ParsedMessage};
use crate::parsed::{panic_text, Parsed};
use crate::relay::{self, Origin};
use crate::rules::{DomainPolicy, PolicySet, Rules, SenderList};
use crate::stamp;
use crate::verdict::Verdict;
use rayon::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

/// How long each check took on one message: `(check name, seconds)`.
pub type CheckTimes = Vec<(&'static str, f64)>;

/// A message ready to classify under one envelope, on the rules it was
/// prepared with (a rules reload does not change a message in flight).
pub struct Prepared {
    parsed: Arc<Parsed>,
    rules: Arc<Rules>,
    /// The envelope as the edge gave it (error verdicts keep it as is).
    given: Envelope,
    /// `None` when the message cannot be scanned.
    facts: Option<MessageFacts>,
    /// Resolving the facts hit a bug (a panic), and its message.
    failed: Option<String>,
}

/// Per-message facts resolved before the checks run.
struct MessageFacts {
    envelope: Envelope,
    notes: Vec<String>,
    hops: Vec<Hop>,
    /// The name of the policy that applies (`*` for the default).
    policy: String,
    direction: Direction,
    outbound_violation: Option<String>,
    origin: Origin,
    /// The sender as a mail client shows it.
    author: Author,
}

impl Prepared {
    /// Resolves envelope, policy, direction and origin. Never panics: a
    /// bug on the way makes the message unscannable, with the reason.
    pub(crate) fn new(parsed: Arc<Parsed>, rules: Arc<Rules>, envelope: Option<&Envelope>) -> Self {
        let given = envelope.cloned().unwrap_or_default();
        let mut prepared = Prepared {
            parsed,
            rules,
            given,
            facts: None,
            failed: None,
        };
        if let Some(msg) = prepared.parsed.message() {
            let envelope = prepared.envelope_to_complete();
            match catch_unwind(AssertUnwindSafe(|| {
                MessageFacts::resolve(msg, envelope, &prepared.rules)
            })) {
                Ok(facts) => prepared.facts = Some(facts),
                Err(panic) => prepared.failed = Some(panic_text(&*panic)),
            }
        }
        prepared
    }

    /// The envelope to complete from headers: a journal report's own
    /// envelope, with what only the edge can know kept as the edge saw it.
    fn envelope_to_complete(&self) -> Envelope {
        match &self.parsed.journal {
            Some(journal) => Envelope {
                received_at: self.given.received_at,
                queue_id: self.given.queue_id.clone(),
                retries: self.given.retries,
                ..journal.envelope.clone()
            },
            None => self.given.clone(),
        }
    }

    /// The parse this was prepared from.
    pub fn parsed(&self) -> &Arc<Parsed> {
        &self.parsed
    }

    /// The rules this message is judged on.
    pub fn rules(&self) -> &Arc<Rules> {
        &self.rules
    }

    /// What sender authentication needs: the message (the original, for a
    /// journal report), the origin IP the relay-hop logic chose under the
    /// recipient domain's policy, that hop's HELO and the MAIL FROM.
    /// `None` for what cannot be scanned (not email, too large, a broken
    /// journal report), which is judged without authentication.
    pub fn auth_subject(&self) -> Option<AuthSubject<'_>> {
        let facts = self.facts.as_ref()?;
        let message = self.parsed.message()?;
        let helo = match facts.origin.hop {
            Some(i) => facts.hops.get(i).and_then(|h| h.helo.as_deref()),
            None => facts.envelope.helo.as_deref(),
        };
        Some(AuthSubject {
            message,
            ip: facts.origin.ip,
            helo,
            mail_from: facts.envelope.mail_from.as_deref(),
        })
    }

    /// Classifies the message with the sender authentication results the
    /// edge obtained for it (`None`: not authenticated, and the `auth`
    /// check is silent).
    ///
    /// Never panics: a bug in a check is caught here and turned into an
    /// error verdict (SUSPICIOUS, quarantined) instead of taking the caller
    /// down or losing the message.
    pub fn classify(&self, auth: Option<&AuthResults>) -> Verdict {
        self.classify_measuring(auth, None)
    }

    /// [`Prepared::classify`], also measuring each check (for metrics; the
    /// clock never influences the verdict): `(check name, seconds)`.
    pub fn classify_timed(&self, auth: Option<&AuthResults>) -> (Verdict, CheckTimes) {
        let mut times = CheckTimes::new();
        let verdict = self.classify_measuring(auth, Some(&mut times));
        (verdict, times)
    }

    fn classify_measuring(
        &self,
        auth: Option<&AuthResults>,
        times: Option<&mut CheckTimes>,
    ) -> Verdict {
        let failed = match &self.failed {
            Some(what) => what.clone(),
            None => match catch_unwind(AssertUnwindSafe(|| self.classify_unguarded(auth, times))) {
                Ok(verdict) => return verdict,
                Err(panic) => panic_text(&*panic),
            },
        };
        let why = format!("internal error while classifying: {failed}");
        let finding = self.finding(ENGINE_INTERNAL_ERROR, why.clone());
        self.error_verdict(self.given.clone(), false, vec![finding], why)
    }

    fn classify_unguarded(
        &self,
        auth: Option<&AuthResults>,
        times: Option<&mut CheckTimes>,
    ) -> Verdict {
        let rules = &*self.rules;
        let mut findings = Vec::new();
        if let Some(journal) = &self.parsed.journal {
            findings.push(self.finding(INFO_JOURNAL_UNWRAPPED, journal.evidence.clone()));
        }
        let (Some(msg), Some(facts)) = (self.parsed.message(), &self.facts) else {
            let problem = self
                .parsed
                .problem()
                .expect("unparsed messages have a problem");
            findings.push(self.finding(problem.rule, problem.why.clone()));
            let journal = self.parsed.is_journal();
            let envelope = match journal {
                true => self.envelope_to_complete(),
                false => self.given.clone(),
            };
            return self.error_verdict(envelope, journal, findings, problem.why.clone());
        };
        let policy = rules.policy.named(&facts.policy);
        if !facts.notes.is_empty() {
            findings.push(self.finding(INFO_ENVELOPE_DERIVED, facts.notes.join("; ")));
        }
        if facts.origin.ip.is_some() {
            findings.push(self.finding(INFO_ORIGIN_IP, facts.origin.reason.clone()));
        }
        let mut exempt = Vec::new();
        let standing = match self.standing(msg, facts, policy, auth, &mut findings) {
            Some(standing) => standing,
            None => {
                findings.extend(self.run_checks(msg, facts, policy, auth, times));
                // Acceptable senders and allow-listed IPs: scanned, but
                // some dispositions may not win.
                match sender_match(facts, &policy.acceptable_senders, auth) {
                    SenderMatch::Allowed(m) => {
                        findings.push(self.finding(ALLOW_ACCEPTABLE_SENDER, m));
                        exempt.extend([Disposition::Spam, Disposition::Bulk, Disposition::Spoof]);
                    }
                    SenderMatch::Unauthenticated(m) => {
                        findings.push(self.finding(AUTH_ALLOW_UNAUTHENTICATED, m));
                    }
                    SenderMatch::No => {}
                }
                if let Some(net) = facts.origin.ip.and_then(|ip| rules.ip.allow.find(ip)) {
                    findings
                        .push(self.finding(ALLOW_IP, format!("origin IP in allow-listed {net}")));
                    exempt.extend([Disposition::Spam, Disposition::Bulk]);
                }
                Standing::Scanned { exempt: &exempt }
            }
        };
        let decision = decide::decide(
            &mut findings,
            rules,
            &Facts {
                policy,
                journal: self.parsed.journal.is_some(),
                standing,
                dns_failures: auth
                    .filter(|a| a.incomplete())
                    .map(|a| &a.temp_failures[..]),
                retries: facts.envelope.retries,
            },
        );
        Verdict {
            origin: Some(facts.origin.clone()),
            direction: facts.direction,
            message_id: msg.message_id().map(str::to_string),
            passthrough: matches!(standing, Standing::Passthrough(_)),
            auth: auth.cloned(),
            ..verdict(
                decision,
                findings,
                policy,
                facts.envelope.clone(),
                self.parsed.journal.is_some(),
            )
        }
    }

    /// What is settled before the checks: our own stamp coming back (loop),
    /// outbound relay abuse, and the allow tiers that skip every check.
    /// `None`: the message is to be scanned.
    fn standing(
        &self,
        msg: &ParsedMessage<'_>,
        facts: &MessageFacts,
        policy: &DomainPolicy,
        auth: Option<&AuthResults>,
        findings: &mut Vec<Finding>,
    ) -> Option<Standing<'static>> {
        let rules = &*self.rules;
        // Loop prevention: our own MTA handing back mail we already stamped.
        let peer = facts.envelope.peer_ip;
        if let Some(stamped) = peer
            .filter(|ip| rules.policy.gateway.own_ips.contains(*ip))
            .and_then(|_| stamp::read_disposition(msg, &rules.engine.stamp.prefix))
        {
            findings.push(self.finding(
                LOOP_ALREADY_STAMPED,
                format!(
                    "from this gateway's own address {}; carries {}Disposition: {stamped}",
                    peer.map(|i| i.to_string()).unwrap_or_default(),
                    rules.engine.stamp.prefix
                ),
            ));
            return Some(Standing::Passthrough(stamped));
        }
        // Outbound: the tenant may only send as its own domains.
        if let Some(reason) = &facts.outbound_violation {
            findings.push(self.finding(OUTBOUND_FOREIGN_SENDER, reason.clone()));
            return Some(Standing::OutboundViolation);
        }
        let rcpts = &facts.envelope.rcpt_to;
        if !rcpts.is_empty()
            && rcpts
                .iter()
                .all(|r| policy.exempt_recipients.contains(&r.to_ascii_lowercase()))
        {
            findings.push(self.finding(
                ALLOW_EXEMPT_RECIPIENT,
                format!("exempt recipient(s): {}", rcpts.join(", ")),
            ));
            return Some(Standing::Allowed);
        }
        match sender_match(facts, &policy.trusted_senders, auth) {
            SenderMatch::Allowed(m) => {
                findings.push(self.finding(ALLOW_TRUSTED_SENDER, m));
                Some(Standing::Allowed)
            }
            SenderMatch::Unauthenticated(m) => {
                findings.push(self.finding(AUTH_ALLOW_UNAUTHENTICATED, m));
                None
            }
            SenderMatch::No => None,
        }
    }

    /// Runs every check. One message's checks run in parallel only when it
    /// is big enough for the fork/join to pay off (and are not timed then).
    fn run_checks(
        &self,
        msg: &ParsedMessage<'_>,
        facts: &MessageFacts,
        policy: &DomainPolicy,
        auth: Option<&AuthResults>,
        mut times: Option<&mut CheckTimes>,
    ) -> Vec<Finding> {
        self.with_context_of(msg, facts, policy, auth, |ctx| {
            let parallel =
                msg.raw().len() > self.rules.engine.parallel.checks_in_parallel_above_bytes;
            let per_check: Vec<Vec<Finding>> = if parallel {
                checks::CHECKS.par_iter().map(|c| (c.run)(ctx)).collect()
            } else {
                checks::CHECKS
                    .iter()
                    .map(|c| match times.as_deref_mut() {
                        Some(times) => {
                            let started = Instant::now();
                            let found = (c.run)(ctx);
                            times.push((c.name, started.elapsed().as_secs_f64()));
                            found
                        }
                        None => (c.run)(ctx),
                    })
                    .collect()
            };
            per_check.into_iter().flatten().collect()
        })
    }

    /// The context the checks see, handed to `f`; `None` when the message
    /// cannot be scanned. For tests and benchmarks that look at one stage.
    pub fn with_context<R>(
        &self,
        auth: Option<&AuthResults>,
        f: impl FnOnce(&Context<'_>) -> R,
    ) -> Option<R> {
        let msg = self.parsed.message()?;
        let facts = self.facts.as_ref()?;
        let policy = self.rules.policy.named(&facts.policy);
        Some(self.with_context_of(msg, facts, policy, auth, f))
    }

    fn with_context_of<R>(
        &self,
        msg: &ParsedMessage<'_>,
        facts: &MessageFacts,
        policy: &DomainPolicy,
        auth: Option<&AuthResults>,
        f: impl FnOnce(&Context<'_>) -> R,
    ) -> R {
        let parts = msg.parts();
        let content = Content::extract(msg, &parts, &self.rules);
        f(&Context {
            message: msg,
            parts: &parts,
            envelope: &facts.envelope,
            origin: &facts.origin,
            hops: &facts.hops,
            policy,
            rules: &self.rules,
            content: &content,
            direction: facts.direction,
            author: &facts.author,
            auth,
        })
    }

    fn finding(&self, rule: Rule, evidence: impl Into<String>) -> Finding {
        self.rules.finding(rule, 1.0, evidence)
    }

    /// The verdict for a message that could not be scanned.
    fn error_verdict(
        &self,
        envelope: Envelope,
        journal: bool,
        mut findings: Vec<Finding>,
        error: String,
    ) -> Verdict {
        let policy = self.rules.policy.for_recipients(&envelope.rcpt_to);
        let decision = decide::decide(
            &mut findings,
            &self.rules,
            &Facts {
                policy,
                journal,
                standing: Standing::Unscannable,
                dns_failures: None,
                retries: envelope.retries,
            },
        );
        Verdict {
            error: Some(error),
            ..verdict(decision, findings, policy, envelope, journal)
        }
    }
}

/// The one place a verdict is put together: the decision, the findings
/// behind it and the policy it applied; what is known about the message
/// besides is filled in by the caller.
fn verdict(
    decision: decide::Decision,
    findings: Vec<Finding>,
    policy: &DomainPolicy,
    envelope: Envelope,
    journal: bool,
) -> Verdict {
    Verdict {
        disposition: decision.disposition,
        route: decision.route,
        score: decision.score,
        scores: decision.score_map(),
        bulk_level: decision.bulk_level,
        incomplete: decision.incomplete,
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
        error: None,
        auth: None,
    }
}

impl MessageFacts {
    fn resolve(msg: &ParsedMessage<'_>, mut envelope: Envelope, rules: &Rules) -> MessageFacts {
        let hops = msg.received();
        let author = Author::of(msg);
        let peer_given = envelope.peer_ip.is_some();
        let notes = envelope.complete_from_headers(msg, &hops);

        // Outbound when the connecting peer is a tenant's own relay.
        let tenant = envelope
            .peer_ip
            .and_then(|ip| rules.policy.outbound_tenant(ip));
        let (direction, policy, outbound_violation) = match tenant {
            Some(tenant_domains) => {
                let from_domain = author.domain.clone();
                let owned = |d: &str| PolicySet::owns(tenant_domains, d);
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
            None => (
                Direction::Inbound,
                rules.policy.for_recipients(&envelope.rcpt_to),
                None,
            ),
        };
        let origin = relay::trace(
            envelope.peer_ip,
            peer_given,
            &hops,
            policy,
            &rules.policy.gateway,
        );
        MessageFacts {
            envelope,
            notes,
            hops,
            policy: policy.domain.clone(),
            direction,
            outbound_violation,
            origin,
            author,
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

/// Matches a sender list. IP entries match the origin IP. Address and
/// domain entries need proof that the From is genuine, so a forged visible
/// From does not get through: with authentication results, the From domain
/// must authenticate (DMARC pass, or aligned SPF/DKIM where it publishes no
/// DMARC); without them (replay without DNS), header From and envelope MAIL
/// FROM must at least agree.
fn sender_match(
    facts: &MessageFacts,
    list: &SenderList,
    auth: Option<&AuthResults>,
) -> SenderMatch {
    if list.is_empty() {
        return SenderMatch::No;
    }
    if let Some(m) = facts.origin.ip.and_then(|ip| list.match_ip(ip)) {
        return SenderMatch::Allowed(format!("origin IP matches {m}"));
    }
    let Some(from) = facts.author.address.clone() else {
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
            facts
                .origin
                .ip
                .map(|ip| format!(" from {ip}"))
                .unwrap_or_default()
        )),
        None => {
            let aligned = address_domain(&from).is_some_and(|d| {
                facts
                    .envelope
                    .mail_from_domain()
                    .is_some_and(|mf| org_domain(mf).eq_ignore_ascii_case(org_domain(d)))
            });
            if aligned {
                SenderMatch::Allowed(format!("From {from} matches {hit}, aligned with MAIL FROM"))
            } else {
                SenderMatch::No
            }
        }
    }
}
