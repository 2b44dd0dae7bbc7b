//! URL extraction and host parsing.

use linkify::{LinkFinder, LinkKind};
use std::net::{IpAddr, Ipv4Addr};

/// Where a URL's host points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A domain name, lower case, without trailing dot, punycode as written.
    Domain(String),
    /// An IP literal (dotted, decimal, hex or bracketed IPv6).
    Ip(IpAddr),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A parsed link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// As found (entity-decoded for HTML).
    pub raw: String,
    /// Lower-case scheme, `http` assumed for `www.` links.
    pub scheme: String,
    /// The host, if the URL has one.
    pub host: Option<Host>,
    /// `user@host` form: the part before `@` is what a reader notices.
    pub userinfo: Option<String>,
}

impl Url {
    /// Parses a URL leniently; never fails (a host-less URL has `host: None`).
    pub fn parse(raw: &str) -> Url {
        let raw = raw.trim();
        let (scheme, rest) = match raw.find("://") {
            Some(p)
                if p > 0
                    && raw[..p].bytes().all(|b| {
                        b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.'
                    }) =>
            {
                (raw[..p].to_ascii_lowercase(), &raw[p + 3..])
            }
            _ => match raw.split_once(':') {
                Some((s, _))
                    if s.eq_ignore_ascii_case("mailto")
                        || s.eq_ignore_ascii_case("tel")
                        || s.eq_ignore_ascii_case("data")
                        || s.eq_ignore_ascii_case("javascript") =>
                {
                    return Url {
                        raw: raw.to_string(),
                        scheme: s.to_ascii_lowercase(),
                        host: None,
                        userinfo: None,
                    };
                }
                _ => ("http".to_string(), raw),
            },
        };
        let authority_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(authority[..at].to_string()), &authority[at + 1..]),
            None => (None, authority),
        };
        let host = parse_host(hostport);
        Url {
            raw: raw.to_string(),
            scheme,
            host,
            userinfo,
        }
    }

    /// The host as a domain, if it is one.
    pub fn domain(&self) -> Option<&str> {
        match &self.host {
            Some(Host::Domain(d)) => Some(d),
            _ => None,
        }
    }

    /// Path, query and fragment: everything after the host (`/` at least
    /// when there is anything).
    pub fn path_and_query(&self) -> &str {
        let rest = match self.raw.find("://") {
            Some(p) => &self.raw[p + 3..],
            None => return "",
        };
        match rest.find(['/', '?', '#', '\\']) {
            Some(p) => &rest[p..],
            None => "",
        }
    }

    /// The destination a redirector or a link-protection wrapper carries in
    /// this URL, decoded: `google.com/url?q=`, `bing.com/ck/a?u=a1<base64>`,
    /// Proofpoint's `urldefense` v2 and v3, Safe Links' `url=`,
    /// `/amp/s/host/path`. `None` when nothing URL-like is carried.
    pub fn embedded_target(&self) -> Option<String> {
        let rest = self.path_and_query();
        if rest.is_empty() {
            return None;
        }
        // Proofpoint v3: /v3/__https://target__;!!...
        if let Some(p) = rest.find("/v3/__") {
            let inner = &rest[p + 6..];
            let end = inner.find("__;").unwrap_or(inner.len());
            return looks_like_url(&inner[..end]);
        }
        // Google AMP: /amp/s/host/path
        if let Some(p) = rest.find("/amp/s/") {
            return looks_like_url(&format!("https://{}", &rest[p + 7..]));
        }
        let query = rest.split_once('?').map(|(_, q)| q)?;
        for pair in query.split('&') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            if !TARGET_PARAMS.contains(&name.as_str()) {
                continue;
            }
            // Bing: u=a1 + base64url of the destination.
            if name == "u" {
                if let Some(b64) = value.strip_prefix("a1") {
                    if let Some(url) =
                        base64url(b64).and_then(|b| looks_like_url(&String::from_utf8_lossy(&b)))
                    {
                        return Some(url);
                    }
                }
                // Proofpoint v2: u=https-3A__host_path ('-' for '%', '_' for '/').
                if value.starts_with("http") && value.contains("-3A__") {
                    let v2 = value.replace('-', "%").replace('_', "/");
                    if let Some(url) = looks_like_url(&percent_decode(&v2)) {
                        return Some(url);
                    }
                }
            }
            if let Some(url) = looks_like_url(&percent_decode(value)) {
                return Some(url);
            }
        }
        None
    }
}

/// Query parameters that carry a destination URL.
const TARGET_PARAMS: &[&str] = &[
    "q",
    "url",
    "u",
    "target",
    "dest",
    "destination",
    "redirect",
    "redirect_uri",
    "redirect_url",
    "r",
    "to",
    "link",
    "goto",
    "next",
    "continue",
    "return",
    "returnurl",
    "out",
    "adurl",
];

/// `s` if it starts like a web address (scheme or `www.`), trimmed.
fn looks_like_url(s: &str) -> Option<String> {
    let s = s.trim();
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://") || starts_with_www(s))
        .then(|| s.chars().take(2000).collect())
}

/// Percent-decoding (`+` stays `+`); bytes that are not valid UTF-8 are
/// replaced.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Base64 (standard or URL alphabet, padding optional); `None` on any
/// other character.
fn base64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn parse_host(hostport: &str) -> Option<Host> {
    if let Some(v6) = hostport.strip_prefix('[') {
        let end = v6.find(']')?;
        return v6[..end].parse::<IpAddr>().ok().map(Host::Ip);
    }
    let host = match hostport.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => hostport,
    };
    // Browsers read the ideographic and full-width full stops as dots.
    let host = host
        .replace(['\u{3002}', '\u{FF0E}', '\u{FF61}'], ".")
        .trim_end_matches('.')
        .to_lowercase();
    if host.is_empty() {
        return None;
    }
    if let Some(ip) = ip_literal(&host) {
        return Some(Host::Ip(ip));
    }
    Some(Host::Domain(host))
}

/// Dotted quad, a single decimal or hex number, or dotted hex/octal parts:
/// browsers accept them all, so phishers use them all.
fn ip_literal(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(ip));
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let nums: Option<Vec<u64>> = parts.iter().map(|p| parse_ip_part(p)).collect();
    let nums = nums?;
    let (last, head) = nums.split_last()?;
    if head.iter().any(|&n| n > 255) {
        return None;
    }
    let tail_bits = 8 * (4 - head.len() as u32);
    if tail_bits < 64 && *last >= (1u64 << tail_bits) {
        return None;
    }
    let mut v: u64 = 0;
    for (i, n) in head.iter().enumerate() {
        v |= n << (24 - 8 * i as u32);
    }
    v |= last;
    Some(IpAddr::V4(Ipv4Addr::from(v as u32)))
}

fn parse_ip_part(p: &str) -> Option<u64> {
    if p.is_empty() || p.len() > 12 {
        return None;
    }
    if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    if p.len() > 1 && p.starts_with('0') {
        return u64::from_str_radix(&p[1..], 8).ok();
    }
    if p.bytes().all(|b| b.is_ascii_digit()) {
        return p.parse().ok();
    }
    None
}

/// URLs in plain text: with a scheme, or starting `www.`.
pub fn find_in_text(text: &str, limit: usize) -> Vec<String> {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]).url_must_have_scheme(false);
    finder
        .links(text)
        .map(|l| l.as_str())
        .filter(|s| s.contains("://") || starts_with_www(s))
        .take(limit)
        .map(str::to_string)
        .collect()
}

fn starts_with_www(s: &str) -> bool {
    s.len() > 4 && s.as_bytes()[..4].eq_ignore_ascii_case(b"www.")
}

/// If `text` (an anchor's visible text) reads as a URL or a bare domain, its host.
pub fn host_shown(text: &str) -> Option<Host> {
    let t = text
        .trim()
        .trim_matches(|c: char| c == '<' || c == '>' || c == '"' || c == '\'');
    if t.is_empty() || t.contains(char::is_whitespace) || !t.contains('.') {
        return None;
    }
    let looks_like_url = t.contains("://") || starts_with_www(t);
    let looks_like_domain = {
        let host = t.split('/').next().unwrap_or(t);
        let tld = host.rsplit('.').next().unwrap_or("");
        tld.len() >= 2
            && tld.chars().all(|c| c.is_alphabetic())
            && host.split('.').all(|l| !l.is_empty())
            && !host.contains('@')
    };
    if !(looks_like_url || looks_like_domain) {
        return None;
    }
    Url::parse(t).host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let u = Url::parse("HTTPS://User@Login.Example.COM:8443/path?q");
        assert_eq!(u.scheme, "https");
        assert_eq!(u.host, Some(Host::Domain("login.example.com".into())));
        assert_eq!(u.userinfo.as_deref(), Some("User"));
        assert_eq!(
            Url::parse("http://[2001:db8::1]/").host,
            Some(Host::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            Url::parse("http://3232235777/").host,
            Some(Host::Ip("192.168.1.1".parse().unwrap()))
        );
        assert_eq!(
            Url::parse("http://0xC0.0xA8.1.1/").host,
            Some(Host::Ip("192.168.1.1".parse().unwrap()))
        );
        assert_eq!(Url::parse("mailto:a@b.c").host, None);
        assert_eq!(
            Url::parse("http://www.paypal.com.evil.tk").domain(),
            Some("www.paypal.com.evil.tk")
        );
    }

    #[test]
    fn carried_destinations() {
        for (link, want) in [
            ("https://www.google.com/url?sa=t&url=https%3A%2F%2Fevil.example%2Flogin&usg=x", Some("https://evil.example/login")),
            ("https://www.bing.com/ck/a?!&&p=abc&u=a1aHR0cHM6Ly9ldmlsLmV4YW1wbGUvcA&ntb=1", Some("https://evil.example/p")),
            ("https://urldefense.proofpoint.com/v2/url?u=https-3A__www.example.org_page&d=x", Some("https://www.example.org/page")),
            ("https://urldefense.com/v3/__https://www.example.org/a__;!!abc$", Some("https://www.example.org/a")),
            ("https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fcontoso.com%2F&data=1", Some("https://contoso.com/")),
            ("https://www.google.com/amp/s/evil.example/p", Some("https://evil.example/p")),
            ("https://www.example.org/page?id=3", None),
            ("https://www.example.org", None),
        ] {
            assert_eq!(Url::parse(link).embedded_target().as_deref(), want, "{link}");
        }
    }

    #[test]
    fn text_links() {
        let found = find_in_text("see https://a.example/x and www.b.example, not c.txt", 10);
        assert_eq!(found, vec!["https://a.example/x", "www.b.example"]);
    }

    #[test]
    fn shown_hosts() {
        assert_eq!(
            host_shown("www.paypal.com"),
            Some(Host::Domain("www.paypal.com".into()))
        );
        assert_eq!(host_shown("Click here"), None);
        assert_eq!(host_shown("Version 2.0"), None);
    }
}
