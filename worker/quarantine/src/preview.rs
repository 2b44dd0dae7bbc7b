//! A safe preview of a held message: its header fields and its text, with
//! HTML reduced to text and links listed as text. Nothing here is ever
//! rendered as HTML, so nothing in a hostile message can run, load or be
//! clicked.

use mailsift_core::html;
use mailsift_core::message::{ParsedMessage, PartKind};
use mailsift_core::text::truncate;
use serde::Serialize;

/// Header fields shown at most.
const MAX_HEADERS: usize = 200;
/// Bytes of one header value shown at most.
const MAX_HEADER_VALUE: usize = 2000;
/// Bytes of text shown at most (the download has the rest).
pub const MAX_TEXT: usize = 64 * 1024;
/// Links listed at most.
const MAX_LINKS: usize = 200;

/// What the preview shows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Preview {
    /// Top-level header fields in order, (name, value).
    pub headers: Vec<(String, String)>,
    /// The text of the body parts (HTML as text), at most [`MAX_TEXT`].
    pub text: String,
    /// Link targets found in HTML parts, as text.
    pub links: Vec<String>,
    /// Attachments: (file name, content type, bytes).
    pub attachments: Vec<(String, String, usize)>,
    /// Why there is nothing to show, when there is not.
    pub note: Option<String>,
}

/// The preview of `raw`.
pub fn preview(raw: &[u8]) -> Preview {
    let msg = match ParsedMessage::parse(raw) {
        Ok(m) => m,
        Err(e) => {
            return Preview {
                note: Some(format!("the message could not be parsed: {e}")),
                ..Preview::default()
            }
        }
    };
    let headers = msg
        .headers()
        .take(MAX_HEADERS)
        .map(|(n, v)| {
            (
                n.to_string(),
                truncate(v.trim(), MAX_HEADER_VALUE).to_string(),
            )
        })
        .collect();
    let mut text = String::new();
    let mut links = Vec::new();
    let mut attachments = Vec::new();
    for part in msg.parts() {
        let room = MAX_TEXT.saturating_sub(text.len());
        match (part.kind, part.text) {
            (PartKind::Text, Some(t)) if room > 0 => {
                push_section(&mut text, truncate(t, room));
            }
            (PartKind::Html, Some(t)) if room > 0 => {
                let doc = html::scan(t, MAX_TEXT * 4);
                push_section(&mut text, truncate(&doc.text, room));
                for a in doc.anchors {
                    if links.len() < MAX_LINKS {
                        links.push(truncate(&a.href, MAX_HEADER_VALUE).to_string());
                    }
                }
            }
            (PartKind::Attachment, _) => attachments.push((
                part.filename.unwrap_or("(no name)").to_string(),
                part.content_type.clone(),
                part.data.len(),
            )),
            _ => {}
        }
    }
    links.dedup();
    Preview {
        headers,
        text,
        links,
        attachments,
        note: None,
    }
}

/// [`preview`] on the blocking pool: parsing a large message is CPU work
/// that must not hold up the server's other requests.
pub async fn preview_off_thread(raw: Vec<u8>) -> Preview {
    tokio::task::spawn_blocking(move || preview(&raw))
        .await
        .unwrap_or_else(|e| Preview {
            note: Some(format!("the preview could not be made: {e}")),
            ..Preview::default()
        })
}

fn push_section(text: &mut String, part: &str) {
    if !text.is_empty() {
        text.push_str("\n\n----\n\n");
    }
    text.push_str(part);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_text_and_links_become_text() {
        let raw = b"From: a@example.com\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n\
            <html><body onload=\"alert(1)\"><script>alert(2)</script>\
            <p>Your <b>account</b> is locked</p><a href=\"https://evil.example/x\">Unlock</a>\
            <img src=\"https://tracker.example/p.gif\"></body></html>\r\n";
        let p = preview(raw);
        assert!(p.text.contains("Your account is locked"), "{}", p.text);
        assert!(!p.text.contains('<'), "{}", p.text);
        assert_eq!(p.links, vec!["https://evil.example/x"]);
        assert!(p.headers.iter().any(|(n, v)| n == "Subject" && v == "s"));
    }

    #[test]
    fn garbage_gets_a_note_not_a_panic() {
        for raw in [&b""[..], b"\r\n\r\n", b"\xff\xfe\x00"] {
            let p = preview(raw);
            assert!(p.note.is_some() || p.text.is_empty(), "{raw:?}");
        }
    }
}
