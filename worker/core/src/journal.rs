//! Exchange journal reports: unwrap the original message and take the
//! envelope from the report.
//!
//! A report (header `X-MS-Journal-Report`) is `multipart/mixed`: the first
//! text part lists `Sender:`, `Subject:`, `Message-Id:` and one line per
//! recipient (`To:`, `Cc:`, `Bcc:`, `Recipient:`), where distribution-list
//! members appear as `To: dl@x, Expanded: member@x` and forwards as
//! `Forwarded: addr`; the attached `message/rfc822` part is the original.

use crate::envelope::Envelope;
use crate::message::{address_domain, ParsedMessage, PartKind};

/// Most recipients we take from one report (large DLs are expanded in full).
const MAX_RECIPIENTS: usize = 10_000;

/// Why a journal report cannot be used.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum JournalError {
    /// No first text part with the envelope.
    #[error("journal report has no envelope text part")]
    NoEnvelope,
    /// No `message/rfc822` part.
    #[error("journal report has no attached original (message/rfc822)")]
    NoOriginal,
    /// The envelope part lists no recipient.
    #[error("journal report envelope lists no recipient")]
    NoRecipients,
}

/// An unwrapped journal report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalReport {
    /// The envelope the report describes.
    pub envelope: Envelope,
    /// Message-Id from the report, if any.
    pub message_id: Option<String>,
    /// The original message, raw.
    pub original: Vec<u8>,
}

/// True when the message is an Exchange journal report.
pub fn is_report(msg: &ParsedMessage<'_>) -> bool {
    msg.header_raw("X-MS-Journal-Report").is_some()
}

/// Unwraps a journal report.
pub fn unwrap(msg: &ParsedMessage<'_>) -> Result<JournalReport, JournalError> {
    let parts = msg.parts();
    let envelope_text = parts
        .iter()
        .find(|p| p.depth == 0 && p.kind == PartKind::Text)
        .and_then(|p| p.text)
        .ok_or(JournalError::NoEnvelope)?;
    let original = parts
        .iter()
        .find(|p| p.depth == 0 && p.content_type == "message/rfc822")
        .map(|p| p.data.to_vec())
        .ok_or(JournalError::NoOriginal)?;
    let mut envelope = Envelope::default();
    let mut message_id = None;
    for line in envelope_text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "sender" => envelope.mail_from = Some(clean(value)),
            "message-id" => message_id = Some(value.trim_matches(['<', '>']).to_string()),
            "to" | "cc" | "bcc" | "recipient" => {
                for token in value.split(',') {
                    let addr = match token.split_once(':') {
                        Some((k, v))
                            if k.trim().eq_ignore_ascii_case("expanded")
                                || k.trim().eq_ignore_ascii_case("forwarded") =>
                        {
                            clean(v)
                        }
                        Some(_) => continue,
                        None => clean(token),
                    };
                    if address_domain(&addr).is_some()
                        && !envelope.rcpt_to.contains(&addr)
                        && envelope.rcpt_to.len() < MAX_RECIPIENTS
                    {
                        envelope.rcpt_to.push(addr);
                    }
                }
            }
            _ => {}
        }
    }
    if envelope.rcpt_to.is_empty() {
        return Err(JournalError::NoRecipients);
    }
    Ok(JournalReport {
        envelope,
        message_id,
        original,
    })
}

fn clean(s: &str) -> String {
    s.trim()
        .trim_matches(['<', '>'])
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "From: Microsoft Exchange <journal@tailspintoys.com>\r\n\
To: archive@tailspintoys.com\r\nSubject: q\r\nX-MS-Journal-Report: \r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
Sender: Alice@Example.org\r\nSubject: hi\r\nMessage-Id: <m1@example.org>\r\nTo: bob@tailspintoys.com\r\n\
To: sales@tailspintoys.com, Expanded: carol@tailspintoys.com\r\nBcc: erin@tailspintoys.com\r\n\r\n\
--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: alice@example.org\r\nTo: bob@tailspintoys.com\r\n\
Subject: hi\r\n\r\nbody\r\n--b--\r\n";

    #[test]
    fn unwraps_envelope_and_original() {
        let msg = ParsedMessage::parse(REPORT.as_bytes()).unwrap();
        assert!(is_report(&msg));
        let r = unwrap(&msg).unwrap();
        assert_eq!(r.envelope.mail_from.as_deref(), Some("alice@example.org"));
        assert_eq!(
            r.envelope.rcpt_to,
            vec![
                "bob@tailspintoys.com",
                "sales@tailspintoys.com",
                "carol@tailspintoys.com",
                "erin@tailspintoys.com"
            ]
        );
        assert_eq!(r.message_id.as_deref(), Some("m1@example.org"));
        let inner = ParsedMessage::parse(&r.original).unwrap();
        assert_eq!(inner.subject(), Some("hi"));
    }

    #[test]
    fn malformed_report_is_an_error() {
        let broken = REPORT.replace("Content-Type: message/rfc822", "Content-Type: text/plain");
        let msg = ParsedMessage::parse(broken.as_bytes()).unwrap();
        assert_eq!(unwrap(&msg), Err(JournalError::NoOriginal));
    }
}
