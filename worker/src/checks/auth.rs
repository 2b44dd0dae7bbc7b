//! Sender authentication results (SPF, DKIM, DMARC, ARC) as findings.
//!
//! The results come from the edge ([`crate::auth`]); without them (replay
//! without `--dns`) this check reports nothing. The spoof decision:
//! - DMARC fail under `p=reject` or `p=quarantine` is SPOOF on its own;
//! - DMARC fail under `p=none`, or no DMARC record at all, is an implicit
//!   spoof score built from SPF and DKIM failures, From vs envelope
//!   alignment (the `spoof` check) and whether the From domain is one we
//!   protect;
//! - an ARC chain sealed by a trusted forwarder that recorded a pass before
//!   forwarding excuses a DMARC failure the forwarder caused;
//! - spoof allow pairs (domain, range) excuse it too.

use super::{rule, Check, Context, Findings, RuleSpec};
use crate::auth::{AuthResult, AuthResults, DmarcPolicy};
use crate::finding::Disposition::{None as Info, Spoof, Suspicious};
use crate::finding::Finding;
use crate::message::address_domain;
use crate::url::org_domain;
use crate::verdict::Direction;

/// Registration.
pub const CHECK: Check = Check {
    name: "auth",
    run,
    rules: RULES,
};

/// Rules this check reports.
pub const RULES: &[RuleSpec] = &[
    rule("AUTH_DMARC_REJECT", Spoof, 10.0, "DMARC fails and the From domain's policy is p=reject"),
    rule("AUTH_DMARC_QUARANTINE", Spoof, 8.0, "DMARC fails and the From domain's policy is p=quarantine"),
    rule("AUTH_DMARC_FAIL_NONE", Spoof, 3.0, "DMARC fails; the From domain only monitors (p=none)"),
    rule("AUTH_NO_DMARC_UNAUTHENTICATED", Spoof, 2.0, "no DMARC record, and neither SPF nor DKIM authenticates the From domain"),
    rule("AUTH_SPF_FAIL", Spoof, 3.0, "SPF fail: the origin IP is not authorized for the MAIL FROM domain"),
    rule("AUTH_SPF_SOFTFAIL", Spoof, 1.0, "SPF softfail (~all) for the MAIL FROM domain"),
    rule("AUTH_SPF_PERMERROR", Suspicious, 0.5, "the MAIL FROM domain's SPF record is broken"),
    rule("AUTH_DKIM_FAIL", Spoof, 1.5, "a DKIM signature does not verify (altered or forged)"),
    rule("AUTH_PROTECTED_DOMAIN_FAIL", Spoof, 6.0, "mail claims one of our protected domains and does not authenticate"),
    rule("AUTH_ARC_FAIL", Suspicious, 0.5, "the ARC chain is broken"),
    rule("AUTH_ARC_OVERRIDE", Info, 0.0, "DMARC failed after a trusted forwarder, whose ARC seal records a pass: the failure is excused"),
    rule("AUTH_PASS", Info, 0.0, "the From domain authenticated (DMARC, or aligned SPF/DKIM)"),
    rule("AUTH_TEMPERROR", Info, 0.0, "a DNS failure left authentication unknown: the verdict is incomplete"),
    rule("AUTH_ALLOW_UNAUTHENTICATED", Spoof, 4.0, "the sender is on an allow list but does not authenticate: the entry is ignored"),
];

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let Some(auth) = ctx.auth else {
        return f.into_vec();
    };
    if let Some(why) = &auth.skipped {
        if auth.incomplete() {
            f.add("AUTH_TEMPERROR", why.clone());
        }
        return f.into_vec();
    }
    if auth.incomplete() {
        f.add(
            "AUTH_TEMPERROR",
            format!("DNS failed for {}", auth.temp_failures.join(", ")),
        );
    }
    // Outbound mail is the tenant's own; authentication is for inbound.
    if ctx.direction == Direction::Outbound {
        return f.into_vec();
    }

    let from_domain = ctx
        .message
        .from()
        .into_iter()
        .next()
        .and_then(|m| m.address)
        .and_then(|a| address_domain(&a).map(str::to_ascii_lowercase));
    let spoof_allowed = match (from_domain.as_deref(), ctx.origin.ip) {
        (Some(d), Some(ip)) => {
            ctx.policy.spoof_allowed(d, ip).is_some()
                || ctx.policy.spoof_allowed(org_domain(d), ip).is_some()
                || ctx
                    .rules
                    .policy
                    .for_domain(d)
                    .is_some_and(|p| p.spoof_allowed(org_domain(d), ip).is_some())
        }
        _ => false,
    };

    if auth.from_authenticated() {
        f.add("AUTH_PASS", pass_evidence(auth));
        return f.into_vec();
    }
    if spoof_allowed {
        // The spoof check reports INFO_SPOOF_ALLOWED with the pair.
        return f.into_vec();
    }
    if let Some(evidence) = arc_override(ctx, auth) {
        f.add("AUTH_ARC_OVERRIDE", evidence);
        return f.into_vec();
    }

    let dmarc = &auth.dmarc;
    match (dmarc.result, dmarc.policy) {
        (AuthResult::Fail, DmarcPolicy::Reject) => {
            f.add("AUTH_DMARC_REJECT", dmarc_evidence(auth));
        }
        (AuthResult::Fail, DmarcPolicy::Quarantine) => {
            f.add("AUTH_DMARC_QUARANTINE", dmarc_evidence(auth));
        }
        (AuthResult::Fail, _) => f.add("AUTH_DMARC_FAIL_NONE", dmarc_evidence(auth)),
        // Without DMARC, "unauthenticated" needs SPF to have answered.
        (AuthResult::None, _) if from_domain.is_some() && !auth.incomplete() => f.add(
            "AUTH_NO_DMARC_UNAUTHENTICATED",
            format!(
                "{} publishes no DMARC record; SPF {} for {}, no aligned DKIM pass",
                from_domain.as_deref().unwrap_or(""),
                auth.spf.result.as_str(),
                display(&auth.spf.domain)
            ),
        ),
        _ => {}
    }
    match auth.spf.result {
        AuthResult::Fail => f.add("AUTH_SPF_FAIL", spf_evidence(auth)),
        AuthResult::SoftFail => f.add("AUTH_SPF_SOFTFAIL", spf_evidence(auth)),
        AuthResult::PermError => f.add("AUTH_SPF_PERMERROR", spf_evidence(auth)),
        _ => {}
    }
    let bad: Vec<String> = auth
        .dkim
        .iter()
        .filter(|d| matches!(d.result, AuthResult::Fail | AuthResult::PermError))
        .map(|d| {
            format!(
                "d={} s={}: {}",
                d.domain,
                d.selector,
                d.reason.as_deref().unwrap_or(d.result.as_str())
            )
        })
        .collect();
    if !bad.is_empty() {
        f.add("AUTH_DKIM_FAIL", bad.join("; "));
    }
    if auth.arc.result == AuthResult::Fail || auth.arc.result == AuthResult::PermError {
        f.add(
            "AUTH_ARC_FAIL",
            auth.arc
                .reason
                .clone()
                .unwrap_or_else(|| "chain invalid".into()),
        );
    }

    // Our own domains: unauthenticated mail claiming them is spoofing,
    // unless it comes from one of the domain's authorized ranges.
    if let Some(domain) = from_domain.as_deref() {
        let org = org_domain(domain);
        let protected = ctx.rules.protected.iter().find(|p| p.org == org);
        if let Some(p) = protected {
            let authorized = match (ctx.rules.policy.for_domain(&p.domain), ctx.origin.ip) {
                (Some(policy), Some(ip)) => policy.authorized_senders.contains(ip),
                _ => false,
            };
            let unknown = dmarc.result == AuthResult::TempError;
            if !authorized && !unknown {
                f.add(
                    "AUTH_PROTECTED_DOMAIN_FAIL",
                    format!(
                        "From {domain} (protected {}) from {}: DMARC {}, SPF {}",
                        p.domain,
                        ctx.origin
                            .ip
                            .map(|i| i.to_string())
                            .unwrap_or_else(|| "an unknown origin".into()),
                        dmarc.result.as_str(),
                        auth.spf.result.as_str()
                    ),
                );
            }
        }
    }
    f.into_vec()
}

/// A trusted sealer's first ARC-Authentication-Results say the message
/// authenticated for the From domain before it was forwarded.
fn arc_override(ctx: &Context<'_>, auth: &AuthResults) -> Option<String> {
    if auth.arc.result != AuthResult::Pass || auth.dmarc.result != AuthResult::Fail {
        return None;
    }
    let sealer = auth.arc.sealer.as_deref()?;
    let trusted = &ctx.rules.lists.trusted_arc_sealers;
    if !trusted.contains(sealer) {
        return None;
    }
    let first = auth.arc.first_results.as_deref()?.to_ascii_lowercase();
    let from_org = org_domain(&auth.dmarc.domain).to_string();
    let vouched = first.contains("dmarc=pass")
        || first.split(';').any(|r| {
            r.contains("dkim=pass")
                && r.split_whitespace().any(|t| {
                    t.strip_prefix("header.d=")
                        .is_some_and(|d| org_domain(d) == from_org)
                })
        });
    vouched.then(|| {
        format!(
            "DMARC for {} failed after {} ARC set(s); trusted sealer {sealer} recorded: {}",
            auth.dmarc.domain,
            auth.arc.sets,
            first.chars().take(160).collect::<String>()
        )
    })
}

fn display(s: &str) -> &str {
    if s.is_empty() {
        "(no identity)"
    } else {
        s
    }
}

fn spf_evidence(auth: &AuthResults) -> String {
    format!(
        "SPF {} for {} ({}) from {}",
        auth.spf.result.as_str(),
        display(&auth.spf.domain),
        auth.spf.identity,
        auth.spf
            .ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "?".into())
    )
}

fn dmarc_evidence(auth: &AuthResults) -> String {
    let dkim: Vec<String> = auth
        .dkim
        .iter()
        .map(|d| format!("dkim={} d={}", d.result.as_str(), d.domain))
        .collect();
    format!(
        "DMARC fail for {} (p={}): spf={} for {}, {}",
        auth.dmarc.domain,
        policy_word(auth.dmarc.policy),
        auth.spf.result.as_str(),
        display(&auth.spf.domain),
        if dkim.is_empty() {
            "no DKIM signature".to_string()
        } else {
            dkim.join(", ")
        }
    )
}

fn pass_evidence(auth: &AuthResults) -> String {
    let mut how = Vec::new();
    if auth.dmarc.spf_aligned {
        how.push(format!("SPF pass for {}", auth.spf.domain));
    }
    if auth.dmarc.dkim_aligned {
        for d in auth.dkim.iter().filter(|d| d.result == AuthResult::Pass) {
            how.push(format!("DKIM pass d={}", d.domain));
        }
    }
    format!(
        "{} (DMARC {}, p={}): {}",
        auth.dmarc.domain,
        auth.dmarc.result.as_str(),
        policy_word(auth.dmarc.policy),
        how.join(", ")
    )
}

/// The policy as DMARC writes it (`absent` when there is no record).
pub fn policy_word(p: DmarcPolicy) -> &'static str {
    match p {
        DmarcPolicy::Absent => "absent",
        DmarcPolicy::None => "none",
        DmarcPolicy::Quarantine => "quarantine",
        DmarcPolicy::Reject => "reject",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthResult, DmarcCheck};
    use crate::checks::testing::{engine, ids};
    use crate::envelope::Envelope;

    /// A DMARC failure for `from_domain` under p=reject, SPF fail.
    fn dmarc_reject_fail(from_domain: &str) -> AuthResults {
        let mut a = AuthResults::default();
        a.spf.result = AuthResult::Fail;
        a.spf.domain = from_domain.into();
        a.spf.identity = "mailfrom".into();
        a.dmarc = DmarcCheck {
            result: AuthResult::Fail,
            domain: from_domain.into(),
            policy: DmarcPolicy::Reject,
            spf_aligned: false,
            dkim_aligned: false,
        };
        a
    }

    fn classify(raw: &str, peer: &str, auth: &AuthResults) -> crate::Verdict {
        let env = Envelope {
            peer_ip: Some(peer.parse().unwrap()),
            mail_from: Some("x@bank.example".into()),
            rcpt_to: vec!["pat@contoso.com".into()],
            ..Envelope::default()
        };
        engine().classify_with_auth(raw.as_bytes(), Some(&env), Some(auth))
    }

    const MSG: &str =
        "From: Bank <x@bank.example>\r\nTo: pat@contoso.com\r\nSubject: notice\r\n\r\nhello\r\n";

    #[test]
    fn dmarc_reject_failure_is_spoof() {
        let v = classify(MSG, "64.0.0.9", &dmarc_reject_fail("bank.example"));
        assert_eq!(v.disposition, crate::Disposition::Spoof);
        assert!(ids(&v.findings).contains(&"AUTH_DMARC_REJECT"));
    }

    #[test]
    fn an_untrusted_arc_sealer_does_not_excuse_dmarc() {
        let mut a = dmarc_reject_fail("bank.example");
        a.arc.result = AuthResult::Pass;
        a.arc.sets = 1;
        a.arc.sealer = Some("random-forwarder.example".into());
        a.arc.first_results = Some("i=1; x; dmarc=pass header.from=bank.example".into());
        let v = classify(MSG, "64.0.0.9", &a);
        assert_eq!(v.disposition, crate::Disposition::Spoof);
        // The same chain sealed by a trusted list is excused.
        a.arc.sealer = Some("lists.example.org".into());
        let v = classify(MSG, "64.0.0.9", &a);
        assert!(
            ids(&v.findings).contains(&"AUTH_ARC_OVERRIDE"),
            "{:?}",
            ids(&v.findings)
        );
        assert_ne!(v.disposition, crate::Disposition::Spoof);
    }

    #[test]
    fn spoof_allow_pair_excuses_authentication_failures() {
        // contoso.com may be sent from 149.72.0.0/16 (SendGrid) per policy.toml.
        let raw = "From: News <news@contoso.com>\r\nTo: pat@contoso.com\r\nSubject: newsletter\r\n\r\nhello\r\n";
        let v = classify(raw, "149.72.10.10", &dmarc_reject_fail("contoso.com"));
        let found = ids(&v.findings);
        assert!(
            !found.iter().any(|id| id.starts_with("AUTH_DMARC")),
            "{found:?}"
        );
        assert!(found.contains(&"INFO_SPOOF_ALLOWED"), "{found:?}");
    }

    #[test]
    fn without_results_the_check_is_silent_and_dns_failures_are_reported() {
        let v = engine().classify(MSG.as_bytes(), None);
        assert!(!ids(&v.findings).iter().any(|id| id.starts_with("AUTH_")));
        let mut a = AuthResults::default();
        a.spf.result = AuthResult::TempError;
        a.temp_failures.push("spf (bank.example)".into());
        let v = classify(MSG, "64.0.0.9", &a);
        assert!(ids(&v.findings).contains(&"AUTH_TEMPERROR"));
        assert!(v.incomplete.is_some());
        assert_eq!(
            v.route,
            crate::Route::Requeue,
            "contoso.com: dns_failure = requeue; {:?} {:?}",
            v.disposition,
            ids(&v.findings)
        );
    }
}
