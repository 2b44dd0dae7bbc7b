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

use super::{Check, Context, Findings};
use crate::authres::{AuthResult, AuthResults, DmarcPolicy};
use crate::domain::org_domain;
use crate::envelope::Direction;
use crate::finding::Finding;
use crate::message::address_domain;

/// Registration.
pub const CHECK: Check = Check {
    name: "auth",
    run,
    rules: RULES,
};

crate::rules! {
    AUTH_DMARC_REJECT: Spoof, 10.0, "DMARC fails and the From domain's policy is p=reject";
    AUTH_DMARC_QUARANTINE: Spoof, 8.0, "DMARC fails and the From domain's policy is p=quarantine";
    AUTH_DMARC_FAIL_NONE: Spoof, 3.0, "DMARC fails; the From domain only monitors (p=none)";
    AUTH_NO_DMARC_UNAUTHENTICATED: Spoof, 2.0, "no DMARC record, and neither SPF nor DKIM authenticates the From domain";
    AUTH_SPF_FAIL: Spoof, 3.0, "SPF fail: the origin IP is not authorized for the MAIL FROM domain";
    AUTH_SPF_SOFTFAIL: Spoof, 1.0, "SPF softfail (~all) for the MAIL FROM domain";
    AUTH_SPF_PERMERROR: Suspicious, 0.5, "the MAIL FROM domain's SPF record is broken";
    AUTH_DKIM_FAIL: Spoof, 1.5, "a DKIM signature does not verify (altered or forged)";
    AUTH_PROTECTED_DOMAIN_FAIL: Spoof, 6.0, "mail claims one of our protected domains and does not authenticate";
    AUTH_ARC_FAIL: Suspicious, 0.5, "the ARC chain is broken";
    AUTH_ARC_OVERRIDE: None, 0.0, "DMARC failed after a trusted forwarder, whose ARC seal records a pass: the failure is excused";
    AUTH_PASS: None, 0.0, "the From domain authenticated (DMARC, or aligned SPF/DKIM)";
    AUTH_TEMPERROR: None, 0.0, "a DNS failure left authentication unknown: the verdict is incomplete";
    AUTH_MULTIPLE_AUTHOR_DOMAINS: Spoof, 6.0, "From lists addresses of several domains, which DMARC cannot judge (a way around it)";
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let Some(auth) = ctx.auth else {
        return f.into_vec();
    };
    if let Some(why) = &auth.skipped {
        if auth.incomplete() {
            f.add(AUTH_TEMPERROR, why.clone());
        }
        return f.into_vec();
    }
    if auth.incomplete() {
        f.add(
            AUTH_TEMPERROR,
            format!("DNS failed for {}", auth.temp_failures.join(", ")),
        );
    }
    // Outbound mail is the tenant's own; authentication is for inbound.
    if ctx.direction == Direction::Outbound {
        return f.into_vec();
    }

    let from_domain = ctx.author.domain.clone();
    let spoof_allowed = from_domain
        .as_deref()
        .is_some_and(|d| ctx.spoof_allowed(d).is_some());

    let author_domains: std::collections::BTreeSet<String> = ctx
        .message
        .from()
        .into_iter()
        .filter_map(|m| m.address)
        .filter_map(|a| address_domain(&a).map(|d| org_domain(&d.to_ascii_lowercase()).to_string()))
        .collect();
    if author_domains.len() > 1 {
        f.add(
            AUTH_MULTIPLE_AUTHOR_DOMAINS,
            author_domains.into_iter().collect::<Vec<_>>().join(", "),
        );
    }

    if auth.from_authenticated() {
        f.add(AUTH_PASS, pass_evidence(auth));
        return f.into_vec();
    }
    if spoof_allowed {
        // The spoof check reports INFO_SPOOF_ALLOWED with the pair.
        return f.into_vec();
    }
    if let Some(evidence) = arc_override(ctx, auth) {
        f.add(AUTH_ARC_OVERRIDE, evidence);
        return f.into_vec();
    }

    let dmarc = &auth.dmarc;
    match (dmarc.result, dmarc.policy) {
        (AuthResult::Fail, DmarcPolicy::Reject) => {
            f.add(AUTH_DMARC_REJECT, dmarc_evidence(auth));
        }
        (AuthResult::Fail, DmarcPolicy::Quarantine) => {
            f.add(AUTH_DMARC_QUARANTINE, dmarc_evidence(auth));
        }
        (AuthResult::Fail, _) => f.add(AUTH_DMARC_FAIL_NONE, dmarc_evidence(auth)),
        // Without DMARC, "unauthenticated" needs SPF to have answered.
        (AuthResult::None, _) if from_domain.is_some() && !auth.incomplete() => f.add(
            AUTH_NO_DMARC_UNAUTHENTICATED,
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
        AuthResult::Fail => f.add(AUTH_SPF_FAIL, spf_evidence(auth)),
        AuthResult::SoftFail => f.add(AUTH_SPF_SOFTFAIL, spf_evidence(auth)),
        AuthResult::PermError => f.add(AUTH_SPF_PERMERROR, spf_evidence(auth)),
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
        f.add(AUTH_DKIM_FAIL, bad.join("; "));
    }
    if auth.arc.result == AuthResult::Fail || auth.arc.result == AuthResult::PermError {
        f.add(
            AUTH_ARC_FAIL,
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
                    AUTH_PROTECTED_DOMAIN_FAIL,
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

/// Every sealer in the ARC chain is trusted, and the first of them (the one
/// that received the message before anyone modified it) recorded in its
/// ARC-Authentication-Results a DMARC pass for this From domain, or a DKIM
/// pass aligned with it. An untrusted sealer anywhere in the chain could
/// have written what the later ones vouch for, so it voids the override.
fn arc_override(ctx: &Context<'_>, auth: &AuthResults) -> Option<String> {
    if auth.arc.result != AuthResult::Pass || auth.dmarc.result != AuthResult::Fail {
        return None;
    }
    let trusted = &ctx.rules.lists.trusted_arc_sealers;
    if auth.arc.sealers.is_empty() || !auth.arc.sealers.iter().all(|s| trusted.contains(s)) {
        return None;
    }
    let first = auth.arc.first_results.as_deref()?;
    let from = auth.dmarc.domain.as_str();
    let vouched = results_entries(first).into_iter().any(|e| {
        e.result == "pass"
            && match e.method.as_str() {
                "dmarc" => e
                    .props
                    .iter()
                    .any(|(k, v)| k == "header.from" && v.eq_ignore_ascii_case(from)),
                "dkim" => e
                    .props
                    .iter()
                    .any(|(k, v)| k == "header.d" && org_domain(v) == org_domain(from)),
                _ => false,
            }
    });
    vouched.then(|| {
        format!(
            "DMARC for {from} failed after {} ARC set(s) sealed by {}; the first recorded a pass: {}",
            auth.arc.sets,
            auth.arc.sealers.join(", "),
            first.chars().take(160).collect::<String>()
        )
    })
}

/// The `method=result prop=value ...` entries of an (ARC-)Authentication-
/// Results value, with comments removed; the leading `i=` and authserv-id
/// are skipped.
/// One `method=result prop=value ...` entry, lower-cased.
struct ResultEntry {
    method: String,
    result: String,
    props: Vec<(String, String)>,
}

fn results_entries(value: &str) -> Vec<ResultEntry> {
    let uncommented = crate::authres::without_comments(value);
    uncommented
        .split(';')
        .filter_map(|entry| {
            let mut words = entry.split_whitespace();
            let (method, result) = words.next()?.split_once('=')?;
            let props = words
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.trim_matches('"').to_ascii_lowercase(),
                    )
                })
                .collect();
            Some(ResultEntry {
                method: method.to_ascii_lowercase(),
                result: result.to_ascii_lowercase(),
                props,
            })
        })
        .collect()
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
        auth.dmarc.policy.as_str(),
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
        auth.dmarc.policy.as_str(),
        how.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authres::{AuthResult, DmarcCheck};
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
        a.arc.sealers = vec!["random-forwarder.example".into()];
        a.arc.first_results = Some("i=1; x; dmarc=pass header.from=bank.example".into());
        let v = classify(MSG, "64.0.0.9", &a);
        assert_eq!(v.disposition, crate::Disposition::Spoof);
        // The same chain sealed by a trusted list is excused ...
        a.arc.sealer = Some("lists.example.org".into());
        a.arc.sealers = vec!["lists.example.org".into()];
        let v = classify(MSG, "64.0.0.9", &a);
        assert!(
            ids(&v.findings).contains(&"AUTH_ARC_OVERRIDE"),
            "{:?}",
            ids(&v.findings)
        );
        assert_ne!(v.disposition, crate::Disposition::Spoof);
        // ... but not when an untrusted set comes first (it wrote the
        // "pass" the trusted sealer then carried along) ...
        a.arc.sealers = vec!["attacker.example".into(), "lists.example.org".into()];
        let v = classify(MSG, "64.0.0.9", &a);
        assert_eq!(v.disposition, crate::Disposition::Spoof);
        // ... nor when the recorded pass is for another domain or only
        // looks like one.
        a.arc.sealers = vec!["lists.example.org".into()];
        a.arc.first_results = Some(
            "i=1; lists.example.org; spf=pass smtp.mailfrom=dmarc=pass@evil.example; \
             dmarc=pass header.from=evil.example"
                .into(),
        );
        let v = classify(MSG, "64.0.0.9", &a);
        assert_eq!(v.disposition, crate::Disposition::Spoof);
    }

    #[test]
    fn several_author_domains_cannot_dodge_dmarc() {
        let raw = "From: ceo@bank.example, x@evil.example\r\nTo: pat@contoso.com\r\nSubject: s\r\n\r\nhi\r\n";
        let a = AuthResults::default(); // mail-auth skips DMARC: empty domain
        let v = classify(raw, "64.0.0.9", &a);
        assert!(ids(&v.findings).contains(&"AUTH_MULTIPLE_AUTHOR_DOMAINS"));
        assert_eq!(v.disposition, crate::Disposition::Spoof);
        assert!(!a.from_authenticated());
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
