//! Links: where they really go versus what they show, IP-literal and
//! homoglyph hosts, shorteners, free hosting, blocked domains, and HTML forms
//! that collect passwords.

use super::{Check, Context, Findings};
use crate::domain::org_domain;
use crate::finding::Finding;
use crate::text::clip;
use crate::url::{host_shown, Host};
use unicode_security::MixedScript;

/// Registration.
pub const CHECK: Check = Check {
    name: "urls",
    run,
    rules: RULES,
};

crate::rules! {
    URL_TEXT_HREF_MISMATCH: Suspicious, 5.0, "link text shows one domain, the link goes to another";
    URL_IP_LITERAL: Suspicious, 5.0, "link to a bare IP address";
    URL_PUNYCODE_HOST: Suspicious, 2.0, "link host in punycode (xn--)";
    URL_MIXED_SCRIPT_HOST: Malicious, 5.0, "link host mixes scripts (homoglyph attack)";
    URL_SHORTENER: Suspicious, 5.0, "link through a URL shortener";
    URL_FREE_HOSTING: Suspicious, 3.0, "link to free web hosting often used for phishing pages";
    URL_BLOCKED_DOMAIN: Malicious, 10.0, "link to a block-listed domain";
    URL_USERINFO_TRICK: Malicious, 5.0, "link with a domain-like user part before @";
    URL_LOOKALIKE_DOMAIN: Malicious, 5.0, "link host looks like a protected domain";
    URL_FORM_PASSWORD: Malicious, 7.0, "HTML form asking for a password inside the message";
    URL_FORM_EXTERNAL: Suspicious, 5.0, "HTML form posting to an external site";
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let lists = &ctx.rules.lists;
    let mut compared = std::collections::HashSet::new();
    for link in &ctx.content.links {
        let url = &link.url;
        match &url.host {
            Some(Host::Ip(ip)) if url.scheme.starts_with("http") && !f.has(URL_IP_LITERAL) => {
                f.add(
                    URL_IP_LITERAL,
                    format!("{} (host {ip})", clip(&url.raw, 100)),
                );
            }
            Some(Host::Domain(host)) => {
                if let Some(text) = &link.anchor_text {
                    if let Some(Host::Domain(shown)) = host_shown(text) {
                        let (a, b) = (org_domain(&shown), org_domain(host));
                        if !a.eq_ignore_ascii_case(b) && !f.has(URL_TEXT_HREF_MISMATCH) {
                            f.add(
                                URL_TEXT_HREF_MISMATCH,
                                format!("text shows {shown}, link goes to {host}"),
                            );
                        }
                    }
                }
                if host.split('.').any(|l| l.starts_with("xn--")) && !f.has(URL_PUNYCODE_HOST) {
                    f.add(URL_PUNYCODE_HOST, format!("host {host}"));
                }
                let unicode = if host.contains("xn--") {
                    idna::domain_to_unicode(host).0
                } else {
                    host.clone()
                };
                if !unicode.is_ascii()
                    && unicode.split('.').any(|l| !l.is_single_script())
                    && !f.has(URL_MIXED_SCRIPT_HOST)
                {
                    f.add(URL_MIXED_SCRIPT_HOST, format!("host {host} = {unicode}"));
                }
                if let Some(d) = lists.blocked_url_domains.matching(host) {
                    if !f.has(URL_BLOCKED_DOMAIN) {
                        f.add(
                            URL_BLOCKED_DOMAIN,
                            format!("{} (listed {d})", clip(&url.raw, 100)),
                        );
                    }
                }
                if let Some(d) = lists.url_shorteners.matching(host) {
                    if !f.has(URL_SHORTENER) {
                        f.add(URL_SHORTENER, format!("{} via {d}", clip(&url.raw, 100)));
                    }
                }
                if let Some(d) = lists.free_hosting.matching(host) {
                    if !f.has(URL_FREE_HOSTING) {
                        f.add(URL_FREE_HOSTING, format!("{} on {d}", clip(&url.raw, 100)));
                    }
                }
                // Links mostly share a few domains: compare each organisation once.
                if !f.has(URL_LOOKALIKE_DOMAIN) && compared.insert(org_domain(host)) {
                    if let Some((p, how)) = super::spoof::lookalike(host, &ctx.rules.protected) {
                        f.add(
                            URL_LOOKALIKE_DOMAIN,
                            format!("link host {host} looks like {} ({how})", p.domain),
                        );
                    }
                }
            }
            _ => {}
        }
        if let Some(user) = &url.userinfo {
            if user.contains('.') && !f.has(URL_USERINFO_TRICK) {
                f.add(
                    URL_USERINFO_TRICK,
                    format!("{} shows `{user}` before @", clip(&url.raw, 100)),
                );
            }
        }
    }
    for form in &ctx.content.forms {
        if form.password && !f.has(URL_FORM_PASSWORD) {
            f.add(
                URL_FORM_PASSWORD,
                format!(
                    "form with a password field posting to {}",
                    form.action.as_deref().unwrap_or("(no action)")
                ),
            );
        }
        if let Some(action) = &form.action {
            if action.contains("://") && !f.has(URL_FORM_EXTERNAL) {
                f.add(
                    URL_FORM_EXTERNAL,
                    format!("form posts to {}", clip(action, 100)),
                );
            }
        }
    }
    if ctx.content.forms.is_empty() && ctx.content.password_inputs > 0 && !f.has(URL_FORM_PASSWORD)
    {
        f.add(URL_FORM_PASSWORD, "password input outside a form");
    }
    f.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{ids, run};
    use crate::envelope::Envelope;

    fn html(body: &str) -> String {
        format!("From: a@b.example\r\nTo: c@contoso.com\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n{body}\r\n")
    }

    #[test]
    fn link_tricks() {
        let f = run(
            &CHECK,
            &html(
                r#"<a href="http://login.evil.example/x">https://www.paypal.com/signin</a>
            <a href="http://45.61.12.8/login">here</a> <a href="https://bit.ly/3xYz">s</a>
            <a href="https://contoso-login.web.app/">sso</a> <a href="http://www.paypal.com@evil.example/">p</a>
            <form action="https://evil.example/p"><input type="password"></form>"#,
            ),
            Envelope::default(),
        );
        let ids = ids(&f);
        for want in [
            "URL_TEXT_HREF_MISMATCH",
            "URL_IP_LITERAL",
            "URL_SHORTENER",
            "URL_FREE_HOSTING",
            "URL_USERINFO_TRICK",
            "URL_FORM_PASSWORD",
            "URL_FORM_EXTERNAL",
            "URL_LOOKALIKE_DOMAIN",
        ] {
            assert!(ids.contains(&want), "{want} missing from {ids:?}");
        }
    }

    #[test]
    fn honest_links_are_fine() {
        let f = run(
            &CHECK,
            &html(
                r#"<a href="https://www.contoso.com/news">www.contoso.com</a> <a href="https://docs.example.org/">Docs</a>"#,
            ),
            Envelope::default(),
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
