//! Brand impersonation: a brand named in the sender's name or the subject
//! (through look-alike letters, spacing and invisible characters) on mail
//! that is not from the brand, link hosts that carry the claimed brand's
//! name or embed a brand's own domain, and senders on platforms where
//! anyone gets an address. The brands are `rules/brands.toml`.

use super::{Check, Context, Findings};
use crate::domain::org_domain;
use crate::finding::Finding;
use crate::rules::{Brand, BrandClaim};
use crate::text::clip;
use crate::url::Host;

/// Registration.
pub const CHECK: Check = Check {
    name: "brand",
    run,
    rules: RULES,
};

crate::rules! {
    SPOOF_BRAND_DISPLAY_NAME: Malicious, 4.0, "display name of a well-known brand on mail from a domain that is not the brand's";
    BRAND_OBFUSCATED: Malicious, 6.0, "a brand name written with look-alike letters, spacing or invisible characters (no brand writes its name that way)";
    BRAND_SUBJECT_OFF_DOMAIN: Suspicious, 1.5, "subject names a brand; the sender is not the brand";
    BRAND_LINKS_OFF_BRAND: Suspicious, 1.5, "claims a brand in the sender's name, yet no link goes to the brand";
    URL_BRAND_COMBOSQUAT: Malicious, 6.0, "a link host carries the name of the brand the message claims, on someone else's domain";
    URL_BRAND_DOMAIN_EMBEDDED: Malicious, 6.0, "a link host embeds a brand's own domain under another domain (www.paypal.com.example.cn)";
    SENDER_PLATFORM_ADDRESS: Suspicious, 5.0, "sent from an address anyone can create on a hosting platform (firebaseapp.com, onmicrosoft.com)";
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let brands = &ctx.rules.brands;
    let sender_domain = ctx.author.domain.as_deref();
    // A brand's own mail: From in its domains, or DKIM-authenticated by them.
    let sent_by = |b: &Brand| {
        sender_domain.is_some_and(|d| b.owns(d))
            || ctx.auth.is_some_and(|a| {
                a.dkim
                    .iter()
                    .any(|k| k.result == crate::authres::AuthResult::Pass && b.owns(&k.domain))
            })
    };
    let shown_from = sender_domain.unwrap_or("(no domain)");

    let name = ctx.author.name_or_empty();
    let in_name = brands.claimed_in(name).filter(|c| !sent_by(c.brand));
    let subject = ctx.message.subject().unwrap_or("");
    let in_subject = brands.claimed_in(subject).filter(|c| !sent_by(c.brand));

    if let Some(claim) = in_name {
        f.add(
            SPOOF_BRAND_DISPLAY_NAME,
            format!(
                "display name `{}` names {}, sent from {shown_from}",
                clip(name, 60),
                claim.brand.name
            ),
        );
    }
    if let Some((claim, where_)) = in_name
        .map(|c| (c, "display name"))
        .filter(|(c, _)| c.obfuscated)
        .or_else(|| {
            in_subject
                .map(|c| (c, "subject"))
                .filter(|(c, _)| c.obfuscated)
        })
    {
        let text = if where_ == "subject" { subject } else { name };
        f.add(
            BRAND_OBFUSCATED,
            format!(
                "{where_} `{}` reads as {}",
                clip(text, 60),
                claim.brand.name
            ),
        );
    }
    if let (Some(claim), None) = (in_subject, in_name) {
        f.add(
            BRAND_SUBJECT_OFF_DOMAIN,
            format!(
                "subject `{}` names {}, sent from {shown_from}",
                clip(subject, 60),
                claim.brand.name
            ),
        );
    }

    // Links: the claimed brand's name on another domain; any brand's own
    // domain embedded under another.
    let claimed: Vec<BrandClaim<'_>> = in_name.into_iter().chain(in_subject).collect();
    let mut any_link = false;
    let mut to_brand = false;
    for link in &ctx.content.links {
        let Some(Host::Domain(host)) = &link.url.host else {
            continue;
        };
        any_link = true;
        if claimed
            .iter()
            .any(|c| c.brand.owns(host) || same_name_domain(c.brand, host))
        {
            to_brand = true;
        }
        if !f.has(URL_BRAND_COMBOSQUAT) {
            if let Some(b) = brands
                .named_in_host(host)
                .into_iter()
                .filter(|b| !same_name_domain(b, host))
                .find(|b| claimed.iter().any(|c| c.brand.id == b.id))
            {
                f.add(
                    URL_BRAND_COMBOSQUAT,
                    format!(
                        "{} carries {}'s name on {}",
                        clip(&link.url.raw, 100),
                        b.name,
                        org_domain(host)
                    ),
                );
            }
        }
        if !f.has(URL_BRAND_DOMAIN_EMBEDDED) {
            if let Some((b, embedded)) = embedded_brand_domain(ctx, host) {
                f.add(
                    URL_BRAND_DOMAIN_EMBEDDED,
                    format!(
                        "host {host} embeds {embedded} ({}) under {}",
                        b.name,
                        org_domain(host)
                    ),
                );
            }
        }
    }
    if let Some(claim) = in_name {
        if any_link && !to_brand {
            f.add(
                BRAND_LINKS_OFF_BRAND,
                format!(
                    "names {}; none of the links goes to its domains",
                    claim.brand.name
                ),
            );
        }
    }

    // Bounces come from the platform's own postmaster (Exchange Online
    // sends its reports as postmaster@tenant.onmicrosoft.com).
    let system_sender = ctx.author.address.as_deref().is_some_and(|a| {
        let local = a.split('@').next().unwrap_or("").to_ascii_lowercase();
        local == "postmaster" || local == "mailer-daemon"
    });
    let bounce = ctx.envelope.is_null_sender() || system_sender;
    if let Some(d) = sender_domain
        .filter(|_| !bounce)
        .and_then(|d| ctx.rules.lists.sender_platforms.matching(d))
    {
        f.add(
            SENDER_PLATFORM_ADDRESS,
            format!(
                "From {} on {d}",
                ctx.author.address.as_deref().unwrap_or("")
            ),
        );
    }
    f.into_vec()
}

/// The host's registrable name is exactly the brand's name under some
/// suffix (`tesco.ie` for Tesco): most likely a country site the list does
/// not know, not a lookalike.
fn same_name_domain(brand: &Brand, host: &str) -> bool {
    let org = org_domain(host);
    let label = org.split('.').next().unwrap_or("");
    let name: String = brand
        .name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    label.eq_ignore_ascii_case(&name)
}

/// A brand's own domain written as labels of a host under another
/// registrable domain: `www.paypal.com.secure-x.cn` embeds `paypal.com`.
fn embedded_brand_domain<'r>(ctx: &Context<'r>, host: &str) -> Option<(&'r Brand, String)> {
    let host = host.to_ascii_lowercase();
    let registrable = org_domain(&host);
    let prefix = host.strip_suffix(registrable)?.trim_end_matches('.');
    let labels: Vec<&str> = prefix.split('.').filter(|l| !l.is_empty()).collect();
    for i in 0..labels.len() {
        for j in i + 1..labels.len() {
            let candidate = labels[i..=j].join(".");
            if let Some(b) = ctx.rules.brands.owner_of(&candidate) {
                // Only a whole listed domain counts, not a parent of one.
                if b.domains.contains(&candidate) {
                    return Some((b, candidate));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{ids, run};
    use crate::envelope::Envelope;

    fn msg(from: &str, subject: &str, body: &str) -> String {
        format!(
            "From: {from}\r\nTo: bob@contoso.com\r\nSubject: {subject}\r\nContent-Type: text/html\r\n\r\n{body}\r\n"
        )
    }

    /// From, Subject, body, rules expected, rules not expected.
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    );

    #[test]
    fn brand_claims_and_their_links() {
        let table: &[Case] = &[
            (
                "PayPal <service@pp-alerts.example>",
                "Your account",
                r#"<a href="https://paypal-secure-login.example/x">Log in</a>"#,
                &[
                    "SPOOF_BRAND_DISPLAY_NAME",
                    "URL_BRAND_COMBOSQUAT",
                    "BRAND_LINKS_OFF_BRAND",
                ],
                &["BRAND_OBFUSCATED"],
            ),
            (
                "PayPal <service@paypal.com>",
                "Your receipt",
                r#"<a href="https://www.paypal.com/activity">Activity</a>"#,
                &[],
                &["SPOOF_BRAND_DISPLAY_NAME", "BRAND_LINKS_OFF_BRAND"],
            ),
            (
                "\"C o i n b a s e\" <alerts@cb-wallet.example>",
                "Action needed",
                "",
                &["SPOOF_BRAND_DISPLAY_NAME", "BRAND_OBFUSCATED"],
                &[],
            ),
            (
                "Support <help@shop.example>",
                "Your PayPal payment failed",
                r#"<a href="https://www.paypal.com.verify-id.example/">fix</a>"#,
                &[
                    "BRAND_SUBJECT_OFF_DOMAIN",
                    "URL_BRAND_DOMAIN_EMBEDDED",
                    "URL_BRAND_COMBOSQUAT",
                ],
                &["SPOOF_BRAND_DISPLAY_NAME"],
            ),
            (
                "Newsletter <news@shop.example>",
                "Spring sale",
                r#"<a href="https://shop.example/pay-with-paypal">Pay with PayPal</a>"#,
                &[],
                &[
                    "SPOOF_BRAND_DISPLAY_NAME",
                    "URL_BRAND_COMBOSQUAT",
                    "BRAND_SUBJECT_OFF_DOMAIN",
                ],
            ),
            (
                "Account <noreply@my-project-1234.firebaseapp.com>",
                "Reset",
                "",
                &["SENDER_PLATFORM_ADDRESS"],
                &[],
            ),
        ];
        let mut wrong = Vec::new();
        for (from, subject, body, want, not) in table {
            let found = run(&CHECK, &msg(from, subject, body), Envelope::default());
            let got = ids(&found);
            for w in *want {
                if !got.contains(w) {
                    wrong.push(format!("{from} / {subject}: {w} missing from {got:?}"));
                }
            }
            for n in *not {
                if got.contains(n) {
                    wrong.push(format!("{from} / {subject}: {n} not expected in {got:?}"));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
