//! Stamping: prepend our headers to the raw bytes, leaving every other byte
//! as it was, after removing any incoming header that carries our prefix (a
//! sender can forge `X-Mailsift-Disposition: NONE`) and any
//! `Authentication-Results` claiming our authserv-id (RFC 8601 section 5).
//!
//! The header contract (README, "Header contract") is an API: downstream
//! Exchange transport rules match these names and words exactly.

use crate::authres::{AuthResult, AuthResults};
use crate::finding::Disposition;
use crate::message::{split_mbox_line, ParsedMessage};
use crate::rules::StampConfig;
use crate::verdict::Verdict;

/// The Area 1 header stamped in compatibility mode.
pub const AREA1_HEADER: &str = "X-Area1Security-Disposition";

/// The disposition in our `<prefix>Disposition` header, if present and valid.
pub fn read_disposition(msg: &ParsedMessage<'_>, prefix: &str) -> Option<Disposition> {
    let name = format!("{prefix}Disposition");
    msg.header_raw(&name).and_then(Disposition::parse)
}

/// Our header lines for a verdict, in order, without line endings.
pub fn header_lines(verdict: &Verdict, cfg: &StampConfig) -> Vec<String> {
    let p = &cfg.prefix;
    let mut lines = vec![format!("{p}Disposition: {}", verdict.disposition)];
    if cfg.area1_compat {
        lines.push(format!("{AREA1_HEADER}: {}", verdict.disposition));
    }
    let reasons = verdict.reasons();
    lines.push(fold(
        &format!("{p}Reasons: "),
        &if reasons.is_empty() {
            vec!["none"]
        } else {
            reasons
        },
    ));
    lines.push(format!("{p}Score: {:.2}", verdict.score));
    lines.push(format!("{p}Bulk-Level: {}", verdict.bulk_level));
    if let Some(origin) = &verdict.origin {
        if let Some(ip) = origin.ip {
            lines.push(format!("{p}Origin-IP: {ip} ({})", sanitize(&origin.reason)));
        }
    }
    lines.push(format!("{p}Route: {}", verdict.route.as_str()));
    if let Some(why) = &verdict.incomplete {
        lines.push(format!("{p}Incomplete: {}", sanitize(why)));
    }
    if let Some(auth) = &verdict.auth {
        lines.push(authentication_results(auth, &cfg.authserv_id));
    }
    lines
}

/// Our RFC 8601 `Authentication-Results` header (without line ending).
pub fn authentication_results(auth: &AuthResults, authserv_id: &str) -> String {
    let mut items: Vec<String> = Vec::new();
    if let Some(why) = &auth.skipped {
        items.push(format!("none ({})", comment(why)));
    } else {
        let spf_prop = if auth.spf.identity == "helo" {
            "smtp.helo"
        } else {
            "smtp.mailfrom"
        };
        let spf_ip = auth
            .spf
            .ip
            .map(|ip| format!(" (origin {ip})"))
            .unwrap_or_default();
        if auth.spf.domain.is_empty() {
            items.push("spf=none".into());
        } else {
            items.push(format!(
                "spf={}{spf_ip} {spf_prop}={}",
                auth.spf.result.as_str(),
                sanitize(&auth.spf.domain)
            ));
        }
        if auth.dkim.is_empty() {
            items.push("dkim=none".into());
        }
        for d in &auth.dkim {
            let why = d
                .reason
                .as_deref()
                .filter(|_| d.result != AuthResult::Pass)
                .map(|r| format!(" ({})", comment(r)))
                .unwrap_or_default();
            items.push(format!(
                "dkim={}{why} header.d={} header.s={}",
                d.result.as_str(),
                sanitize(&d.domain),
                sanitize(&d.selector)
            ));
        }
        items.push(match auth.arc.result {
            AuthResult::None => "arc=none".into(),
            r => format!(
                "arc={} ({} set(s){})",
                r.as_str(),
                auth.arc.sets,
                auth.arc
                    .sealer
                    .as_deref()
                    .map(|s| format!(", sealed by {}", comment(s)))
                    .unwrap_or_default()
            ),
        });
        let policy = auth.dmarc.policy.as_str();
        if auth.dmarc.domain.is_empty() {
            items.push("dmarc=none".into());
        } else {
            items.push(format!(
                "dmarc={} (p={policy}) header.from={}",
                auth.dmarc.result.as_str(),
                sanitize(&auth.dmarc.domain)
            ));
        }
    }
    let mut out = format!("Authentication-Results: {}", sanitize(authserv_id));
    for item in items {
        out.push_str(";\r\n\t");
        out.push_str(&item);
    }
    out
}

/// Text safe inside an RFC 8601 comment.
fn comment(s: &str) -> String {
    sanitize(s).replace(['(', ')', '\\'], "")
}

/// True for an `Authentication-Results` field that claims our authserv-id
/// (a forgery unless we wrote it, and we write ours fresh). The whole
/// value counts: folding or a comment before the id must not hide it.
fn claims_our_authserv_id(name: &[u8], value: &[u8], authserv_id: &str) -> bool {
    if authserv_id.is_empty() || !name.eq_ignore_ascii_case(b"Authentication-Results") {
        return false;
    }
    let value = String::from_utf8_lossy(value);
    // Blank out comments, then take the first word: the authserv-id.
    let uncommented = crate::authres::without_comments(&value);
    let id = uncommented
        .split(|c: char| c == ';' || c.is_whitespace())
        .find(|w| !w.is_empty())
        .unwrap_or("");
    id.eq_ignore_ascii_case(authserv_id)
}

/// Folds comma-separated items onto continuation lines at about 76 columns.
fn fold(head: &str, items: &[&str]) -> String {
    let mut out = head.to_string();
    let mut col = head.len();
    for (i, item) in items.iter().enumerate() {
        let item = sanitize(item);
        let sep = if i == 0 { "" } else { ", " };
        if i > 0 && col + sep.len() + item.len() > 76 {
            out.push_str(",\r\n\t");
            col = 1;
        } else {
            out.push_str(sep);
            col += sep.len();
        }
        out.push_str(&item);
        col += item.len();
    }
    out
}

/// Printable ASCII only: header values must not smuggle CR/LF or 8-bit.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Returns `raw` with every header named `<prefix>*` (and, in Area 1
/// compatibility mode, `X-Area1Security-Disposition`) removed from the top
/// header block and our headers prepended. All other bytes are unchanged.
/// An mbox `From ` line, if present, stays first.
pub fn stamp(raw: &[u8], verdict: &Verdict, cfg: &StampConfig) -> Vec<u8> {
    fields_first(raw, &header_lines(verdict, cfg), |n, v| {
        is_our_field(n, v, cfg)
    })
}

/// Returns `raw` with header `lines` (without line endings; printable
/// ASCII, see [`sanitize`]) put first, in the message's own line ending.
/// Every other byte stays; an mbox `From ` line stays first. The quarantine
/// console stamps released mail with it.
pub fn prepend(raw: &[u8], lines: &[String]) -> Vec<u8> {
    fields_first(raw, lines, |_, _| false)
}

/// `lines` first, then `raw` without the fields `strip` names.
fn fields_first(raw: &[u8], lines: &[String], strip: impl Fn(&[u8], &[u8]) -> bool) -> Vec<u8> {
    let (from_line, message) = split_mbox_line(raw);
    let eol = if uses_crlf(message) { "\r\n" } else { "\n" };
    let mut out = Vec::with_capacity(raw.len() + 512);
    out.extend_from_slice(from_line);
    for line in lines {
        // Folded lines use the message's own line ending too.
        out.extend_from_slice(line.replace("\r\n", eol).as_bytes());
        out.extend_from_slice(eol.as_bytes());
    }
    out.extend_from_slice(&without_fields(message, strip));
    out
}

/// `raw` without the fields [`stamp`] writes: the message as it was before
/// we stamped it (less any field forging our names, which stamping already
/// dropped). The quarantine keeps this as the original to download and
/// release. An mbox `From ` line stays first.
pub fn unstamp(raw: &[u8], cfg: &StampConfig) -> Vec<u8> {
    let (from_line, message) = split_mbox_line(raw);
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(from_line);
    out.extend_from_slice(&without_fields(message, |n, v| is_our_field(n, v, cfg)));
    out
}

/// True for a header field (name, raw value) that is ours to write: our
/// prefix, the Area 1 header in compatibility mode, or an
/// `Authentication-Results` naming our authserv-id.
pub fn is_our_field(name: &[u8], value: &[u8], cfg: &StampConfig) -> bool {
    starts_with_ci(name, cfg.prefix.as_bytes())
        || (cfg.area1_compat && name.eq_ignore_ascii_case(AREA1_HEADER.as_bytes()))
        || claims_our_authserv_id(name, value, &cfg.authserv_id)
}

/// Removes header fields whose name matches `strip` from the top header block.
pub fn without_headers(message: &[u8], strip: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    without_fields(message, |name, _| strip(name))
}

/// Removes header fields for which `strip(name, whole value)` is true from
/// the top header block (the value with its continuation lines); every
/// other byte stays.
fn without_fields(message: &[u8], strip: impl Fn(&[u8], &[u8]) -> bool) -> Vec<u8> {
    let header_end = header_block_end(message);
    let mut out = Vec::with_capacity(message.len());
    let mut i = 0;
    while i < header_end {
        // One field: its first line and every continuation line.
        let mut end = line_end(message, i, header_end);
        while end < header_end && matches!(message.get(end), Some(b' ' | b'\t')) {
            end = line_end(message, end, header_end);
        }
        let field = &message[i..end];
        let drop = match memchr::memchr(b':', field) {
            // A stray continuation line before any field has no colon
            // worth reading as a name; keep it.
            Some(colon) if !matches!(field.first(), Some(b' ' | b'\t')) => {
                strip(trim_ascii_end(&field[..colon]), &field[colon + 1..])
            }
            _ => false,
        };
        if !drop {
            out.extend_from_slice(field);
        }
        i = end;
    }
    out.extend_from_slice(&message[header_end..]);
    out
}

/// The offset just past the line starting at `i` (bounded by `limit`).
fn line_end(message: &[u8], i: usize, limit: usize) -> usize {
    memchr::memchr(b'\n', &message[i..limit])
        .map(|p| i + p + 1)
        .unwrap_or(limit)
}

/// Offset just after the blank line ending the header block (or the end).
pub fn header_block_end(message: &[u8]) -> usize {
    let mut i = 0;
    while i < message.len() {
        let rest = &message[i..];
        if rest.starts_with(b"\r\n") {
            return i + 2;
        }
        if rest.starts_with(b"\n") {
            return i + 1;
        }
        match memchr::memchr(b'\n', rest) {
            Some(p) => i += p + 1,
            None => return message.len(),
        }
    }
    message.len()
}

fn uses_crlf(message: &[u8]) -> bool {
    match memchr::memchr(b'\n', message) {
        Some(p) => p > 0 && message[p - 1] == b'\r',
        None => true,
    }
}

fn starts_with_ci(name: &[u8], prefix: &[u8]) -> bool {
    name.len() >= prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn trim_ascii_end(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    &b[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstamp_gives_back_the_message_before_stamping() {
        let (verdict, cfg) = authenticated_verdict();
        let original = b"From: a@shop.example\r\nAuthentication-Results: mx.example; spf=pass\r\nSubject: s\r\n\r\nX-Mailsift-Score: body stays\r\n";
        let stamped = stamp(original, &verdict, &cfg);
        assert_ne!(stamped, original.to_vec());
        assert_eq!(unstamp(&stamped, &cfg), original.to_vec());
    }

    #[test]
    fn removes_only_prefixed_fields_keeping_other_bytes() {
        let msg = b"Received: a\r\nX-Mailsift-Disposition: NONE\r\nX-MAILSIFT-Reasons: x,\r\n\ty\r\nSubject: s\r\n\r\nX-Mailsift-Disposition: body stays\r\n";
        let out = without_headers(msg, |n| starts_with_ci(n, b"X-Mailsift-"));
        assert_eq!(
            out,
            b"Received: a\r\nSubject: s\r\n\r\nX-Mailsift-Disposition: body stays\r\n".to_vec()
        );
    }

    #[test]
    fn no_body_separator() {
        let out = without_headers(b"A: 1\nX-Mailsift-Z: 2\n", |n| n == b"X-Mailsift-Z");
        assert_eq!(out, b"A: 1\n".to_vec());
    }

    fn authenticated_verdict() -> (Verdict, StampConfig) {
        use crate::authres::{AuthResult, DkimCheck};
        let engine = crate::checks::testing::engine();
        let raw = b"From: a@shop.example\r\nSubject: s\r\n\r\nbody\r\n";
        let mut auth = AuthResults::default();
        auth.spf.result = AuthResult::Pass;
        auth.spf.domain = "shop.example".into();
        auth.spf.identity = "mailfrom".into();
        auth.dkim.push(DkimCheck {
            result: AuthResult::Fail,
            domain: "shop.example".into(),
            selector: "s1".into(),
            reason: Some("body hash (mismatch)".into()),
        });
        auth.dmarc.result = AuthResult::Pass;
        auth.dmarc.domain = "shop.example".into();
        let v = engine.classify_with_auth(raw, None, Some(&auth));
        (v, engine.rules().engine.stamp.clone())
    }

    #[test]
    fn authentication_results_are_stamped_and_forgeries_of_ours_removed() {
        let (v, cfg) = authenticated_verdict();
        assert_eq!(cfg.authserv_id, "mailsift.local");
        let raw = b"Authentication-Results: MailSift.Local; dmarc=pass\r\n\theader.from=bank.example\r\nAuthentication-Results: mx.google.com; spf=pass\r\nFrom: a@shop.example\r\n\r\nbody\r\n";
        let out = String::from_utf8(stamp(raw, &v, &cfg)).unwrap();
        assert!(!out.contains("bank.example"), "forged A-R kept:\n{out}");
        assert!(out.contains("Authentication-Results: mx.google.com; spf=pass\r\n"));
        let ours = out
            .split("\r\n")
            .skip_while(|l| !l.starts_with("Authentication-Results: mailsift.local"))
            .take_while(|l| !l.starts_with("Authentication-Results: mx.google.com"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(ours.contains("spf=pass"), "{ours}");
        assert!(ours.contains("smtp.mailfrom=shop.example"), "{ours}");
        assert!(
            ours.contains("dkim=fail (body hash mismatch) header.d=shop.example header.s=s1"),
            "{ours}"
        );
        assert!(
            ours.contains("dmarc=pass (p=absent) header.from=shop.example"),
            "{ours}"
        );
        assert!(ours.contains("arc=none"), "{ours}");
    }

    #[test]
    fn a_forged_results_header_of_ours_goes_even_without_authentication() {
        // Downstream rules may trust our authserv-id (RFC 8601 section 5).
        let engine = crate::checks::testing::engine();
        let raw =
            b"Authentication-Results: mailsift.local; dmarc=pass\r\nFrom: a@b.example\r\n\r\nx\r\n";
        let v = engine.classify(raw, None);
        let out = stamp(raw, &v, &engine.rules().engine.stamp);
        assert!(out.ends_with(b"From: a@b.example\r\n\r\nx\r\n"));
        assert!(!String::from_utf8_lossy(&out).contains("dmarc=pass"));
    }

    #[test]
    fn forged_results_hidden_by_folding_or_comments_are_removed() {
        let engine = crate::checks::testing::engine();
        let cfg = &engine.rules().engine.stamp;
        for forged in [
            "Authentication-Results:\r\n mailsift.local; dmarc=pass\r\n",
            "Authentication-Results: (trust me) mailsift.local; dmarc=pass\r\n",
            "Authentication-Results: MAILSIFT.LOCAL;dmarc=pass\r\n",
        ] {
            let raw = format!("{forged}From: a@b.example\r\n\r\nx\r\n");
            let v = engine.classify(raw.as_bytes(), None);
            let out = String::from_utf8(stamp(raw.as_bytes(), &v, cfg)).unwrap();
            assert!(!out.contains("dmarc=pass"), "kept {forged:?}:\n{out}");
            assert!(out.ends_with("From: a@b.example\r\n\r\nx\r\n"));
        }
        let other = "Authentication-Results: mx.mailsift.local.example; spf=pass\r\nFrom: a@b.example\r\n\r\nx\r\n";
        let v = engine.classify(other.as_bytes(), None);
        assert!(stamp(other.as_bytes(), &v, cfg).ends_with(other.as_bytes()));
    }

    #[test]
    fn folding() {
        let items: Vec<&str> = vec!["HDR_MISSING_DATE_AND_SOMETHING"; 5];
        let f = fold("X-Mailsift-Reasons: ", &items);
        assert!(f.lines().all(|l| l.len() <= 78), "{f}");
        assert!(f.contains("\r\n\t"));
    }
}
