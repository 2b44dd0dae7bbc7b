//! Links: where they really go versus what they show, IP-literal and
//! homoglyph hosts, shorteners, open redirectors, free hosting, blocked
//! domains, and HTML forms that collect passwords. Links carried by
//! redirectors and link wrappers, and links in PDFs, QR codes and attached
//! pages, are judged like the body's own (see [`crate::content`]).

use super::{Check, Context, Findings};
use crate::content::{Link, LinkSource};
use crate::domain::org_domain;
use crate::finding::Finding;
use crate::text::clip;
use crate::url::{host_shown, Host};
use std::net::IpAddr;
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
    URL_REDIRECTOR: Suspicious, 3.0, "link through an open redirector to another site (google.com/url, bing.com/ck)";
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
            // A private or documentation address reaches nothing outside
            // the sender's network: it is an example in a text, not a
            // phishing page.
            Some(Host::Ip(ip))
                if url.scheme.starts_with("http") && is_public(*ip) && !f.has(URL_IP_LITERAL) =>
            {
                f.add(
                    URL_IP_LITERAL,
                    format!("{} (host {ip}){}", clip(&url.raw, 100), source(link)),
                );
            }
            Some(Host::Domain(host)) => {
                if let Some(text) = &link.anchor_text {
                    if let Some(Host::Domain(shown)) =
                        host_shown(text).filter(|_| !names_a_file(text))
                    {
                        // A link wrapper's destination is where the link goes.
                        let goes_to = if lists.link_rewriters.contains(host) {
                            url.embedded_target().and_then(|t| {
                                crate::url::Url::parse(&t).domain().map(str::to_string)
                            })
                        } else {
                            Some(host.clone())
                        };
                        if let Some(goes_to) = goes_to {
                            let (a, b) = (org_domain(&shown), org_domain(&goes_to));
                            if !a.eq_ignore_ascii_case(b) && !f.has(URL_TEXT_HREF_MISMATCH) {
                                f.add(
                                    URL_TEXT_HREF_MISMATCH,
                                    format!("text shows {shown}, link goes to {goes_to}"),
                                );
                            }
                        }
                    }
                }
                if !f.has(URL_REDIRECTOR) {
                    if let Some(entry) = lists.redirectors.matching(host, url.path_and_query()) {
                        if let Some(to) = url
                            .embedded_target()
                            .and_then(|t| crate::url::Url::parse(&t).domain().map(str::to_string))
                            .filter(|to| !org_domain(to).eq_ignore_ascii_case(org_domain(host)))
                        {
                            f.add(
                                URL_REDIRECTOR,
                                format!("via {entry} to {to}{}", source(link)),
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
                        f.add(
                            URL_SHORTENER,
                            format!("{} via {d}{}", clip(&url.raw, 100), source(link)),
                        );
                    }
                }
                if let Some(d) = lists.free_hosting.matching(host) {
                    if !f.has(URL_FREE_HOSTING) {
                        f.add(
                            URL_FREE_HOSTING,
                            format!("{} on {d}{}", clip(&url.raw, 100), source(link)),
                        );
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

/// Where a link was found, for evidence (nothing for the body's own).
fn source(link: &Link) -> String {
    let via = link.via.as_deref().unwrap_or("");
    match link.source {
        LinkSource::Text | LinkSource::Html => String::new(),
        LinkSource::Carried => format!(" (carried by a {via} link)"),
        LinkSource::Pdf => format!(" (in the PDF {via})"),
        LinkSource::Qr => format!(" (QR code in {via})"),
        LinkSource::HtmlAttachment => format!(" (in the attached page {via})"),
    }
}

/// True for addresses reachable from the Internet: not private, loopback,
/// link-local, shared, benchmarking or documentation ranges.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && c == 0)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Link text that is a file name, not a domain: `detector.sv`,
/// `x4xx_ctrl.py`, `logs.zip` (their extensions are also country codes).
fn names_a_file(text: &str) -> bool {
    let t = text.trim();
    // A path or a scheme makes it a URL; a bare name with an underscore
    // (not legal in host names) or a source-file extension is a file name.
    // Not `.pl`: Polish shops and banks are phished, `allegro.pl` is a domain.
    if t.contains("://") || t.contains('/') || t.to_ascii_lowercase().starts_with("www.") {
        return false;
    }
    let ext = t.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    t.contains('_')
        || matches!(
            ext.as_str(),
            "py" | "sv"
                | "zip"
                | "rs"
                | "sh"
                | "md"
                | "so"
                | "js"
                | "ts"
                | "c"
                | "h"
                | "cc"
                | "go"
                | "rb"
                | "mov"
                | "tar"
                | "gz"
                | "txt"
                | "log"
                | "cfg"
                | "yml"
                | "yaml"
                | "json"
                | "exe"
                | "bin"
                | "img"
                | "iso"
                | "pdf"
                | "doc"
                | "docx"
                | "xls"
                | "xlsx"
                | "csv"
                | "png"
                | "jpg"
                | "gif"
                | "html"
                | "htm"
                | "vhd"
                | "patch"
                | "diff"
        )
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
    fn carried_and_hidden_destinations() {
        let f = run(
            &CHECK,
            &html(
                r##"<a href="https://www.google.com/url?q=https://evil-login.web.app/p">x</a>
            <img usemap="#m"><map name="m"><area href="http://45.61.12.8/p" alt="Pay"></map>"##,
            ),
            Envelope::default(),
        );
        let ids = ids(&f);
        for want in ["URL_REDIRECTOR", "URL_FREE_HOSTING", "URL_IP_LITERAL"] {
            assert!(ids.contains(&want), "{want} missing from {ids:?}");
        }
    }

    #[test]
    fn examples_files_and_wrapped_links_are_not_tricks() {
        let f = run(
            &CHECK,
            &html(
                r#"Use http://192.168.10.1/admin or http://10.10.0.100:8080/ and http://198.18.0.2/.
            See <a href="https://github.com/org/repo/blob/main/x4xx_rfdc_ctrl.py">x4xx_rfdc_ctrl.py</a>
            and <a href="https://git.example.org/detector.sv">detector.sv</a>.
            <a href="https://urldefense.com/v3/__https://www.example.org/a__;!!x$">www.example.org</a>
            <a href="https://eu1.protect.mimecast.com/s/abc">www.example.org</a>"#,
            ),
            Envelope::default(),
        );
        assert!(f.is_empty(), "{f:?}");
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
