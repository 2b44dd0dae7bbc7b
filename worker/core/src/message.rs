//! Our view of a parsed message: the one module that talks to `mail-parser`.
//!
//! Checks never see `mail_parser` types, so upgrading or replacing the parser
//! touches this file only.

use mail_parser::{Address, HeaderName, HeaderValue, MessageParser, MimeHeaders, PartType};
use std::borrow::Cow;
use std::net::IpAddr;

/// How deep we follow `message/rfc822` parts (mail-parser itself stops at 3).
const MAX_NESTED_MESSAGES: usize = 3;

/// Why a byte string is not a message we can classify.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// No RFC 5322 header fields at the start of the input.
    #[error("not an RFC 5322 message: no header fields found")]
    NotEmail,
    /// The input is empty.
    #[error("empty message")]
    Empty,
}

/// A mailbox from an address header: display name and address, both as the
/// parser decoded them (RFC 2047 words decoded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mailbox {
    /// Display name, if any.
    pub name: Option<String>,
    /// `local@domain`, if any (lower-cased domain part).
    pub address: Option<String>,
}

impl Mailbox {
    /// The domain part of the address, lower case, without a trailing dot.
    pub fn domain(&self) -> Option<&str> {
        self.address.as_deref().and_then(address_domain)
    }
}

/// The domain of `local@domain` (also accepts `<local@domain>`).
pub fn address_domain(address: &str) -> Option<&str> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (_, domain) = address.rsplit_once('@')?;
    let domain = domain.trim_end_matches('.');
    (!domain.is_empty()).then_some(domain)
}

/// Splits an mbox `From ` separator line, which is not part of the
/// message, from the message: `(separator line, message)`.
pub fn split_mbox_line(raw: &[u8]) -> (&[u8], &[u8]) {
    if raw.starts_with(b"From ") {
        if let Some(nl) = memchr::memchr(b'\n', raw) {
            return raw.split_at(nl + 1);
        }
    }
    (&[], raw)
}

/// The message without a leading mbox `From ` separator line.
pub fn without_mbox_line(raw: &[u8]) -> &[u8] {
    split_mbox_line(raw).1
}

/// A Unix time as an RFC 5322 date (`Tue, 12 Mar 2024 10:15:00 +0000`),
/// for the headers an edge writes.
pub fn rfc5322_date(unix_seconds: i64) -> String {
    mail_parser::DateTime::from_timestamp(unix_seconds).to_rfc822()
}

/// One `Received:` header, top (newest) first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hop {
    /// The connecting client's IP as the receiving MTA recorded it.
    pub from_ip: Option<IpAddr>,
    /// The HELO/EHLO name the client gave.
    pub helo: Option<String>,
    /// The reverse-DNS name the receiving MTA recorded.
    pub rdns: Option<String>,
    /// The timestamp (Unix seconds), if it parsed.
    pub date: Option<i64>,
    /// `with ESMTPS`/`ESMTPSA`/a TLS version was recorded.
    pub tls: bool,
    /// Whether the header parsed at all (qmail's `(qmail 1 invoked by uid 0); date` counts).
    pub parsed: bool,
    /// The raw header value, unfolded and shortened for evidence.
    pub raw: String,
}

/// What a MIME leaf part is to the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartKind {
    /// A text/plain body part.
    Text,
    /// A text/html body part.
    Html,
    /// Anything sent as an attachment (including text and HTML files).
    Attachment,
}

/// A leaf MIME part, decoded.
#[derive(Clone, Debug)]
pub struct Part<'a> {
    /// Body or attachment.
    pub kind: PartKind,
    /// Declared `type/subtype`, lower case (`application/octet-stream` if absent).
    pub content_type: String,
    /// Declared charset, lower case.
    pub charset: Option<String>,
    /// File name from Content-Disposition or Content-Type `name=`.
    pub filename: Option<&'a str>,
    /// Decoded bytes.
    pub data: &'a [u8],
    /// Decoded text for text parts.
    pub text: Option<&'a str>,
    /// 0 for the top message, 1 inside an attached message, ...
    pub depth: usize,
    /// The part could not be decoded cleanly (bad base64, charset...).
    pub encoding_problem: bool,
}

/// A parsed message. Borrows the raw bytes; cheap accessors on top.
pub struct ParsedMessage<'x> {
    raw: &'x [u8],
    inner: mail_parser::Message<'x>,
    /// Top-level (name, raw value) pairs, sliced once: checks ask for
    /// headers by name many times per message.
    headers: Vec<(Cow<'x, str>, Cow<'x, str>)>,
}

impl<'x> ParsedMessage<'x> {
    /// Parses raw RFC 5322 bytes. Never panics; fails only when the input has
    /// no header fields at all.
    pub fn parse(raw: &'x [u8]) -> Result<Self, ParseError> {
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ParseError::Empty);
        }
        if !starts_with_header_field(raw) {
            return Err(ParseError::NotEmail);
        }
        let inner = MessageParser::default()
            .parse(raw)
            .ok_or(ParseError::NotEmail)?;
        if inner.parts.is_empty() || inner.parts[0].headers.is_empty() {
            return Err(ParseError::NotEmail);
        }
        let headers = inner.parts[0]
            .headers
            .iter()
            .map(|h| {
                // One entry per parsed header, so indices line up with
                // mail-parser's list. Lossy, not skipped: a From with one
                // bad byte is still a From.
                let field = raw
                    .get(h.offset_field as usize..h.offset_start as usize)
                    .unwrap_or_default();
                let name = match memchr::memchr(b':', field) {
                    Some(colon) => lossy(trim_bytes(&field[..colon])),
                    None => Cow::Owned(h.name.as_str().to_string()),
                };
                let value = raw
                    .get(h.offset_start as usize..h.offset_end as usize)
                    .unwrap_or_default();
                (name, lossy(value))
            })
            .collect();
        Ok(ParsedMessage {
            raw,
            inner,
            headers,
        })
    }

    /// The raw bytes this message was parsed from.
    pub fn raw(&self) -> &'x [u8] {
        self.raw
    }

    /// mail-parser's own view, for the authentication edge: mail-auth reads
    /// the same parse instead of parsing the message again. Checks use the
    /// accessors of this type instead.
    pub fn mail_parser(&self) -> &mail_parser::Message<'x> {
        &self.inner
    }

    /// Top-level header fields as (name, raw value), in order. Invalid
    /// UTF-8 is replaced, never dropped.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// How many top-level headers carry this name (ASCII case-insensitive).
    pub fn header_count(&self, name: &str) -> usize {
        self.headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// The first top-level header with this name, raw (unfolding not applied).
    pub fn header_raw(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Mailboxes of the first From header (the one mail clients show).
    pub fn from(&self) -> Vec<Mailbox> {
        mailboxes(self.first_address(HeaderName::From))
    }

    /// Mailboxes of the first Sender header.
    pub fn sender(&self) -> Vec<Mailbox> {
        mailboxes(self.first_address(HeaderName::Sender))
    }

    /// Mailboxes of the first Reply-To header.
    pub fn reply_to(&self) -> Vec<Mailbox> {
        mailboxes(self.first_address(HeaderName::ReplyTo))
    }

    /// mail-parser's accessors return the *last* occurrence; we want the first.
    fn first_address(&self, name: HeaderName<'_>) -> Option<&Address<'x>> {
        self.inner.parts[0]
            .headers
            .iter()
            .find(|h| h.name == name)
            .and_then(|h| h.value.as_address())
    }

    /// Mailboxes of every To and Cc header.
    pub fn to_and_cc(&self) -> Vec<Mailbox> {
        self.inner
            .all_to()
            .chain(self.inner.all_cc())
            .flat_map(|a| mailboxes(Some(a)))
            .collect()
    }

    /// The decoded Subject.
    pub fn subject(&self) -> Option<&str> {
        self.inner.subject()
    }

    /// The Date header as Unix seconds; `None` if missing or unparseable.
    pub fn date(&self) -> Option<i64> {
        self.inner
            .date()
            .filter(|d| d.is_valid())
            .map(|d| d.to_timestamp())
    }

    /// The Message-ID without angle brackets.
    pub fn message_id(&self) -> Option<&str> {
        self.inner.message_id()
    }

    /// The Return-Path address (empty string for the null sender `<>`).
    pub fn return_path(&self) -> Option<String> {
        let raw = self.header_raw("Return-Path")?;
        let addr = raw.trim().trim_start_matches('<');
        let addr = addr.split('>').next().unwrap_or("").trim();
        Some(addr.to_string())
    }

    /// Received headers, newest first.
    pub fn received(&self) -> Vec<Hop> {
        self.inner.parts[0]
            .headers
            .iter()
            .zip(&self.headers)
            .filter(|(h, _)| h.name == HeaderName::Received)
            .map(|(h, (_, raw))| hop(&h.value, raw))
            .collect()
    }

    /// Every leaf part, depth-first, following attached messages up to a
    /// fixed depth. Attached messages are reported as attachments too.
    pub fn parts(&self) -> Vec<Part<'_>> {
        let mut out = Vec::new();
        collect_parts(&self.inner, 0, &mut out);
        out
    }
}

/// True when the input starts like a header block: `Name:` with a printable
/// ASCII name, or an mbox `From ` line followed by one.
fn starts_with_header_field(raw: &[u8]) -> bool {
    let raw = without_mbox_line(raw);
    let line_end = memchr::memchr(b'\n', raw).unwrap_or(raw.len());
    let line = &raw[..line_end.min(1000)];
    match memchr::memchr(b':', line) {
        Some(colon) if colon > 0 => line[..colon]
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b':'),
        _ => false,
    }
}

fn trim_bytes(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &b[start..end]
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .map(|a| Mailbox {
            name: a
                .name()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            address: a.address().map(normalize_address),
        })
        .collect()
}

/// Lower-cases the domain part only (local parts are case-sensitive in theory).
fn normalize_address(addr: &str) -> String {
    let addr = addr.trim();
    match addr.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => addr.to_string(),
    }
}

/// `bytes` as text, invalid sequences replaced; borrowed when valid (checked
/// with the fast validator first: almost every header is).
fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

fn hop(value: &HeaderValue<'_>, raw: &str) -> Hop {
    let mut raw = crate::html::fold_whitespace(crate::text::truncate(raw, 600));
    if let Some((end, _)) = raw.char_indices().nth(300) {
        raw.truncate(end);
    }
    let Some(r) = value.as_received() else {
        return Hop {
            raw,
            ..Hop::default()
        };
    };
    let host = |h: &Option<mail_parser::Host<'_>>| {
        h.as_ref().map(|h| match h {
            mail_parser::Host::Name(n) => n.to_ascii_lowercase(),
            mail_parser::Host::IpAddr(ip) => ip.to_string(),
        })
    };
    let from_ip = r.from_ip.or(match &r.from {
        Some(mail_parser::Host::IpAddr(ip)) => Some(*ip),
        _ => None,
    });
    let tls = r.tls_version.is_some()
        || matches!(
            r.with,
            Some(mail_parser::Protocol::ESMTPS | mail_parser::Protocol::ESMTPSA)
        );
    Hop {
        from_ip,
        helo: host(&r.helo).or_else(|| host(&r.from)),
        // Postfix and others write `(unknown [ip])` when reverse DNS fails;
        // `unknown` is no domain token to mail-parser, so look for it here.
        rdns: r
            .from_iprev
            .as_ref()
            .map(|s| s.to_ascii_lowercase())
            .or_else(|| {
                raw.as_bytes()
                    .windows(b"(unknown [".len())
                    .any(|w| w.eq_ignore_ascii_case(b"(unknown ["))
                    .then(|| "unknown".to_string())
            }),
        date: r
            .date
            .as_ref()
            .filter(|d| d.is_valid())
            .map(|d| d.to_timestamp()),
        tls,
        parsed: true,
        raw,
    }
}

fn collect_parts<'a>(msg: &'a mail_parser::Message<'_>, depth: usize, out: &mut Vec<Part<'a>>) {
    for (id, part) in msg.parts.iter().enumerate() {
        let id = id as u32;
        // Sorted by construction; binary search keeps 100k-part messages linear-ish.
        let is_attachment = msg.attachments.binary_search(&id).is_ok();
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
                None => ct.ctype().to_ascii_lowercase(),
            })
            .unwrap_or_default();
        let filename = part.attachment_name();
        let charset = part
            .content_type()
            .and_then(|ct| ct.attribute("charset"))
            .map(|c| c.trim().to_ascii_lowercase());
        let (kind, text) = match &part.body {
            PartType::Multipart(_) => continue,
            PartType::Text(t) if !is_attachment => (PartKind::Text, Some(t.as_ref())),
            PartType::Html(t) if !is_attachment => (PartKind::Html, Some(t.as_ref())),
            PartType::Text(t) | PartType::Html(t) => (PartKind::Attachment, Some(t.as_ref())),
            PartType::Binary(_) | PartType::InlineBinary(_) => (PartKind::Attachment, None),
            PartType::Message(nested) => {
                out.push(Part {
                    kind: PartKind::Attachment,
                    content_type: if content_type.is_empty() {
                        "message/rfc822".into()
                    } else {
                        content_type
                    },
                    filename,
                    charset: None,
                    data: nested.raw_message(),
                    text: None,
                    depth,
                    encoding_problem: part.is_encoding_problem,
                });
                if depth + 1 < MAX_NESTED_MESSAGES {
                    collect_parts(nested, depth + 1, out);
                }
                continue;
            }
        };
        let content_type = if content_type.is_empty() {
            match kind {
                PartKind::Text => "text/plain".into(),
                PartKind::Html => "text/html".into(),
                PartKind::Attachment => "application/octet-stream".into(),
            }
        } else {
            content_type
        };
        out.push(Part {
            kind,
            content_type,
            charset,
            filename,
            data: part.contents(),
            text,
            depth,
            encoding_problem: part.is_encoding_problem,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] = b"Received: from mail.example.org (mail.example.org [198.51.100.7])\r\n\tby mx.contoso.com with ESMTPS id 1; Tue, 12 Mar 2024 10:15:02 +0000\r\nFrom: \"Alice\" <alice@Example.ORG>\r\nTo: bob@contoso.com\r\nSubject: hi\r\nDate: Tue, 12 Mar 2024 10:15:00 +0000\r\nMessage-ID: <a@b>\r\nReturn-Path: <bounce@example.org>\r\n\r\nhello\r\n";

    #[test]
    fn parses_addresses_and_hops() {
        let m = ParsedMessage::parse(SIMPLE).expect("parses");
        let from = m.from();
        assert_eq!(from[0].address.as_deref(), Some("alice@example.org"));
        assert_eq!(from[0].name.as_deref(), Some("Alice"));
        let hops = m.received();
        assert_eq!(hops.len(), 1);
        assert_eq!(hops[0].from_ip, Some("198.51.100.7".parse().unwrap()));
        assert!(hops[0].tls);
        assert_eq!(m.return_path().as_deref(), Some("bounce@example.org"));
        assert_eq!(m.message_id(), Some("a@b"));
        assert!(m.date().is_some());
    }

    #[test]
    fn rejects_non_email() {
        assert_eq!(
            ParsedMessage::parse(b"\x00\x01\x02 binary").err(),
            Some(ParseError::NotEmail)
        );
        assert_eq!(
            ParsedMessage::parse(b"  \r\n").err(),
            Some(ParseError::Empty)
        );
    }
}
