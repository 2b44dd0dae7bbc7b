//! Spoofing and impersonation without cryptographic authentication (SPF,
//! DKIM, DMARC and ARC are a separate check): header From vs envelope,
//! Reply-To diversions, display-name tricks, VIP names, lookalike domains,
//! and protected domains claimed from outside their authorized ranges.

use super::{Check, Context, Findings};
use crate::domain::org_domain;
use crate::envelope::Direction;
use crate::finding::Finding;
use crate::rules::{confusable_skeleton, policy::normalize_name, ProtectedDomain};

/// Registration.
pub const CHECK: Check = Check {
    name: "spoof",
    run,
    rules: RULES,
};

crate::rules! {
    SPOOF_FROM_ENVELOPE_MISMATCH: Spoof, 1.0, "header From and envelope MAIL FROM are different organisations";
    SPOOF_REPLY_TO_FREEMAIL: Suspicious, 5.0, "Reply-To diverts answers to a free-mail account of another organisation";
    SPOOF_REPLY_TO_OTHER_DOMAIN: Suspicious, 1.0, "Reply-To is another organisation";
    SPOOF_DISPLAY_NAME_ADDRESS: Spoof, 6.0, "display name shows an address of another domain";
    SPOOF_VIP_DISPLAY_NAME: Spoof, 6.0, "display name of a protected VIP, sent from outside";
    SPOOF_LOOKALIKE_DOMAIN: Spoof, 6.0, "sender domain looks like a protected domain";
    SPOOF_PROTECTED_DOMAIN_UNAUTHORIZED: Spoof, 8.0, "header From claims a protected domain from outside its authorized sender ranges";
    SPOOF_ENVELOPE_PROTECTED_DOMAIN: Spoof, 3.0, "MAIL FROM claims a protected domain from outside its authorized sender ranges";
    SPOOF_FREEMAIL_ORG_NAME: Spoof, 2.0, "free-mail sender using a protected organisation's name";
    SENDER_FREEMAIL: None, 3.0, "sent from a free-mail account (weighs nothing alone; combinations use it)";
    INFO_SPOOF_ALLOWED: None, 0.0, "a spoof allow pair (domain, range) matched";
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let author = ctx.author;
    let from_addr = author.address.clone();
    let from_domain = author.domain.clone();
    let from_org = from_domain.as_deref().map(org_domain).map(str::to_string);
    let mail_from_domain = ctx.envelope.mail_from_domain().map(str::to_string);

    // Spoof allow pairs suppress this whole check for (domain, range).
    if let Some(domain) = from_domain.as_deref() {
        if let Some(net) = ctx.spoof_allowed(domain) {
            f.add(
                INFO_SPOOF_ALLOWED,
                format!(
                    "{domain} may send from {net} ({})",
                    ctx.origin.ip.map(|i| i.to_string()).unwrap_or_default()
                ),
            );
            return f.into_vec();
        }
    }

    if let Some(d) = from_domain
        .as_deref()
        .filter(|d| ctx.rules.lists.freemail.contains(d))
    {
        f.add(
            SENDER_FREEMAIL,
            format!("From {} on {d}", from_addr.as_deref().unwrap_or("")),
        );
    }
    // Mailing lists re-send with their own envelope and often their own
    // Reply-To: neither says anything about the author.
    let list_mail = ctx.message.header_raw("List-Id").is_some();
    // From vs MAIL FROM
    if let (false, Some(fo), Some(mf)) =
        (list_mail, from_org.as_deref(), mail_from_domain.as_deref())
    {
        if !org_domain(mf).eq_ignore_ascii_case(fo) {
            f.add(
                SPOOF_FROM_ENVELOPE_MISMATCH,
                format!("From domain {fo}, MAIL FROM domain {}", org_domain(mf)),
            );
        }
    }

    // Reply-To (not for a list that rewrote From to itself: there the
    // author is in Reply-To by design)
    let replies = if author.list.is_some() {
        Vec::new()
    } else {
        ctx.message.reply_to()
    };
    for rt in replies {
        let Some(rt_domain) = rt.domain() else {
            continue;
        };
        let rt_org = org_domain(rt_domain);
        if from_org
            .as_deref()
            .is_some_and(|fo| fo.eq_ignore_ascii_case(rt_org))
        {
            continue;
        }
        let evidence = format!(
            "Reply-To {} vs From {}",
            rt.address.as_deref().unwrap_or(""),
            from_addr.as_deref().unwrap_or("(none)")
        );
        if ctx.rules.lists.freemail.contains(rt_domain) {
            f.add(SPOOF_REPLY_TO_FREEMAIL, evidence);
        } else if !list_mail {
            f.add(SPOOF_REPLY_TO_OTHER_DOMAIN, evidence);
        }
        break;
    }

    // Display name tricks (brands are the brand check's)
    if let Some(fo) = from_org.as_deref() {
        if let Some(name) = &author.name {
            if let Some(shown) = address_in(name) {
                if !org_domain(shown).eq_ignore_ascii_case(fo) {
                    f.add(
                        SPOOF_DISPLAY_NAME_ADDRESS,
                        format!("display name `{name}` shows {shown}, sent from {fo}"),
                    );
                }
            }
            let from_inside = ctx
                .rules
                .policy
                .for_domain(fo)
                .is_some_and(|p| p.domain == ctx.policy.domain);
            if !from_inside {
                let normalized = normalize_name(name);
                if let Some(vip) = ctx
                    .policy
                    .vip_names
                    .iter()
                    .find(|v| name_matches(&normalized, v))
                {
                    f.add(
                        SPOOF_VIP_DISPLAY_NAME,
                        format!(
                            "display name `{name}` matches VIP `{vip}` of {}, sent from {fo}",
                            ctx.policy.domain
                        ),
                    );
                }
                if ctx.rules.lists.freemail.contains(fo) {
                    let org = ctx.policy.domain.split('.').next().unwrap_or("");
                    if org.len() >= 4 && normalized.split(' ').any(|w| w == org) {
                        f.add(
                            SPOOF_FREEMAIL_ORG_NAME,
                            format!("free-mail {fo} sender named `{name}`"),
                        );
                    }
                }
            }
        }
    }

    // Lookalikes of protected domains
    let reply_to_domains: Vec<String> = ctx
        .message
        .reply_to()
        .iter()
        .filter_map(|m| m.domain().map(str::to_string))
        .collect();
    let candidates = from_domain
        .iter()
        .map(|d| ("From", d.as_str()))
        .chain(mail_from_domain.iter().map(|d| ("MAIL FROM", d.as_str())))
        .chain(reply_to_domains.iter().map(|d| ("Reply-To", d.as_str())));
    let mut judged: Vec<&str> = Vec::new();
    for (what, domain) in candidates {
        // From and MAIL FROM are usually the same domain: judge it once.
        if judged.contains(&domain) {
            continue;
        }
        judged.push(domain);
        if let Some((p, how)) = lookalike(domain, &ctx.rules.protected) {
            f.add(
                SPOOF_LOOKALIKE_DOMAIN,
                format!("{what} domain {domain} looks like {} ({how})", p.domain),
            );
            break;
        }
    }

    // A protected domain claimed from outside its authorized ranges (unless
    // it authenticated: DKIM-signed mail from the domain's own ESP is not
    // spoofing even from a range nobody listed).
    let authenticated = ctx.auth.is_some_and(|a| a.from_authenticated());
    if ctx.direction == Direction::Inbound && !authenticated {
        if let Some(ip) = ctx.origin.ip {
            let claimed = from_domain
                .iter()
                .map(|d| ("From", d.as_str()))
                .chain(mail_from_domain.iter().map(|d| ("MAIL FROM", d.as_str())));
            for (what, domain) in claimed {
                let Some(owner) = ctx.rules.policy.for_domain(domain) else {
                    continue;
                };
                if owner.authorized_senders.is_empty()
                    || owner.authorized_senders.contains(ip)
                    || owner.outbound_relays.contains(ip)
                {
                    continue;
                }
                let rule = if what == "From" {
                    SPOOF_PROTECTED_DOMAIN_UNAUTHORIZED
                } else {
                    SPOOF_ENVELOPE_PROTECTED_DOMAIN
                };
                f.add(
                    rule,
                    format!(
                        "{what} claims {domain} (protected: {}) but origin {ip} is outside its authorized senders",
                        owner.domain
                    ),
                );
                break;
            }
        }
    }
    f.into_vec()
}

/// `name` normalised equals the VIP, contains it as words, or has the same
/// words in another order ("Bowen, Megan").
fn name_matches(normalized: &str, vip: &str) -> bool {
    if normalized == vip || format!(" {normalized} ").contains(&format!(" {vip} ")) {
        return true;
    }
    let mut a: Vec<&str> = normalized.split(' ').collect();
    let mut b: Vec<&str> = vip.split(' ').collect();
    a.sort_unstable();
    b.sort_unstable();
    a.len() > 1 && a == b
}

/// The domain of an address written inside a display name, if any.
fn address_in(name: &str) -> Option<&str> {
    name.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | '"' | '\'' | ','))
        .filter(|t| t.contains('@'))
        .find_map(crate::message::address_domain)
        .filter(|d| d.contains('.'))
}

/// Whether `domain` imitates a protected domain, and how.
pub fn lookalike<'p>(
    domain: &str,
    protected: &'p [ProtectedDomain],
) -> Option<(&'p ProtectedDomain, &'static str)> {
    let unicode = if domain.contains("xn--") {
        idna::domain_to_unicode(domain).0
    } else {
        domain.to_lowercase()
    };
    let org = org_domain(&unicode);
    if protected.iter().any(|p| org.eq_ignore_ascii_case(&p.org)) {
        return None;
    }
    let label = org.split('.').next().unwrap_or(org);
    let skeleton = confusable_skeleton(label);
    for p in protected {
        if p.label.len() < 4 {
            continue;
        }
        if label != p.label && skeleton == p.skeleton {
            let how = if domain.contains("xn--") || !label.is_ascii() {
                "homoglyph (punycode/Unicode)"
            } else {
                "confusable characters"
            };
            return Some((p, how));
        }
        if label == p.label {
            return Some((p, "same name under another suffix"));
        }
        let allowed = if p.label.len() >= 9 { 2 } else { 1 };
        if within_edits(label, &p.label, allowed) {
            return Some((p, "one or two characters off"));
        }
        if label.contains(&p.label) {
            return Some((p, "protected name embedded"));
        }
    }
    None
}

/// Whether the Damerau–Levenshtein distance of `a` and `b` is at most
/// `allowed`. Two lower bounds of it rule out most pairs before the
/// distance matrix is built: the difference in length and, for ASCII, the
/// bag distance (an edit changes the characters one side has and the
/// other lacks by at most one; a transposition not at all).
fn within_edits(a: &str, b: &str, allowed: usize) -> bool {
    if a.chars().count().abs_diff(b.chars().count()) > allowed {
        return false;
    }
    if a.is_ascii() && b.is_ascii() {
        let mut counts = [0i32; 128];
        for &c in a.as_bytes() {
            counts[usize::from(c)] += 1;
        }
        for &c in b.as_bytes() {
            counts[usize::from(c)] -= 1;
        }
        let only_a: i32 = counts.iter().filter(|n| **n > 0).sum();
        let only_b: i32 = -counts.iter().filter(|n| **n < 0).sum::<i32>();
        if only_a.max(only_b) as usize > allowed {
            return false;
        }
    }
    strsim::damerau_levenshtein(a, b) <= allowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{engine, ids, run};
    use crate::envelope::Envelope;

    fn env(ip: &str, mail_from: &str) -> Envelope {
        Envelope {
            peer_ip: Some(ip.parse().unwrap()),
            mail_from: Some(mail_from.into()),
            rcpt_to: vec!["alex@contoso.com".into()],
            ..Envelope::default()
        }
    }

    fn msg(from: &str, extra: &str) -> String {
        format!("From: {from}\r\nTo: alex@contoso.com\r\nSubject: hi\r\n{extra}\r\nbody\r\n")
    }

    #[test]
    fn edit_distance_bounds_agree_with_the_distance() {
        let names = [
            "paypal",
            "paypa1",
            "paypall",
            "papyal",
            "pyapal",
            "microsoft",
            "rnicrosoft",
            "micros0ftt",
            "mircosoft",
            "contoso",
            "cnotoso",
            "",
            "a",
            "ab",
            "ba",
            "abc",
            "xyz",
            "соntoso",
            "contosо",
            "wellsfargo",
            "wellsfarg",
            "wellsfargoo",
            "vvellsfargo",
        ];
        for a in names {
            for b in names {
                for allowed in 0..=3 {
                    assert_eq!(
                        within_edits(a, b, allowed),
                        strsim::damerau_levenshtein(a, b) <= allowed,
                        "{a:?} {b:?} {allowed}"
                    );
                }
            }
        }
    }

    #[test]
    fn lookalikes() {
        let p = &engine().rules().protected;
        for d in [
            "c0ntoso.com",
            "contosso.com",
            "contoso-secure.com",
            "xn--cntoso-3hf.com",
            "contoso.co",
            "rnicrosoft.com",
        ] {
            let hit = lookalike(d, p);
            if d == "rnicrosoft.com" {
                assert!(hit.is_none(), "{d}");
            } else {
                assert!(hit.is_some(), "{d}");
            }
        }
        assert!(lookalike("contoso.com", p).is_none());
        assert!(lookalike("mail.contoso.com", p).is_none());
        assert!(lookalike("example.org", p).is_none());
    }

    #[test]
    fn own_domain_from_outside() {
        let f = run(
            &CHECK,
            &msg("it@contoso.com", ""),
            env("91.200.1.1", "it@contoso.com"),
        );
        assert!(
            ids(&f).contains(&"SPOOF_PROTECTED_DOMAIN_UNAUTHORIZED"),
            "{f:?}"
        );
        let f = run(
            &CHECK,
            &msg("it@contoso.com", ""),
            env("40.107.5.5", "it@contoso.com"),
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn spoof_allow_pair_suppresses() {
        let f = run(
            &CHECK,
            &msg("news@contoso.com", ""),
            env("149.72.10.10", "bounce@sendgrid.net"),
        );
        assert_eq!(ids(&f), vec!["INFO_SPOOF_ALLOWED"]);
    }

    #[test]
    fn vip_and_display_name_tricks() {
        let f = run(
            &CHECK,
            &msg(
                "\"Megan Bowen\" <megan.bowen.ceo@gmail.com>",
                "Reply-To: boss@outlook.com\r\n",
            ),
            env("209.85.1.1", "megan.bowen.ceo@gmail.com"),
        );
        let ids = ids(&f);
        assert!(ids.contains(&"SPOOF_VIP_DISPLAY_NAME"), "{ids:?}");
        assert!(ids.contains(&"SPOOF_REPLY_TO_FREEMAIL"), "{ids:?}");
        let f = run(
            &CHECK,
            &msg("\"it@contoso.com\" <x@evil.example>", ""),
            env("5.5.5.5", "x@evil.example"),
        );
        assert!(super::super::testing::ids(&f).contains(&"SPOOF_DISPLAY_NAME_ADDRESS"));
    }

    #[test]
    fn names() {
        assert!(name_matches("bowen megan", "megan bowen"));
        assert!(name_matches("megan bowen ceo", "megan bowen"));
        assert!(!name_matches("megan", "megan bowen"));
    }
}
