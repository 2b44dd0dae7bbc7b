//! What the console keeps of one quarantine output: the original message
//! (our stamp removed), the worker's verdict from the output's headers, the
//! findings with their evidence, and what the list shows.

use lapin::types::FieldTable;
use mailsift_amqp::contract;
use mailsift_core::message::ParsedMessage;
use mailsift_core::text::clip;
use mailsift_core::{stamp, Engine, Envelope};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest list field kept (sender, recipients, subject): the list shows a
/// line, the detail view shows the whole message.
const MAX_FIELD: usize = 998;

/// One held message, ready to store.
#[derive(Clone, Debug)]
pub struct Held {
    /// The worker's stable id: duplicates of one output share it.
    pub mailsift_id: String,
    /// The policy domain (`*` for the default policy).
    pub domain: String,
    /// The delivery region.
    pub region: String,
    /// One of the six words.
    pub disposition: String,
    /// The worker's score for it.
    pub score: f64,
    /// The From header as a mail client shows it.
    pub header_from: String,
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients, comma-separated.
    pub rcpt_to: String,
    /// The decoded subject.
    pub subject: String,
    /// The Message-ID header.
    pub message_id: Option<String>,
    /// When the edge received it (Unix seconds).
    pub received: i64,
    /// Days to keep it (the domain's retention).
    pub retention_days: u32,
    /// A journal-mode domain: the verdict only, never the body.
    pub journal: bool,
    /// Size of the original message in bytes.
    pub size: i32,
    /// Verdict, envelope and findings as JSON (see [`Held::from_output`]).
    pub verdict: Value,
    /// The original message; `None` for journal-mode domains.
    pub raw: Option<Vec<u8>>,
}

impl Held {
    /// Reads one output of the worker (a quarantined message, or a journal
    /// verdict), with the rules of this console: the policy says how long to
    /// keep the domain's mail; the engine
    /// explains the verdict with evidence (the worker's own rule list is
    /// kept alongside, and its disposition and score are what count).
    pub fn from_output(
        headers: Option<&FieldTable>,
        body: &[u8],
        content_type: Option<&str>,
        engine: &Engine,
    ) -> Held {
        let rules = engine.rules();
        let text = |name| contract::header_text(headers, name);
        let envelope = contract::envelope_from_headers(headers);
        let verdict_json = content_type == Some("application/json");
        let sent: Value = if verdict_json {
            serde_json::from_slice(body).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let domain = text(contract::DOMAIN)
            .or_else(|| sent["policy_domain"].as_str().map(str::to_string))
            .unwrap_or_else(|| "*".into());
        let policy = rules.policy.named(&domain);
        let region = text(contract::REGION)
            .or_else(|| sent["region"].as_str().map(str::to_string))
            .unwrap_or_else(|| policy.region.clone());
        let disposition = text(contract::DISPOSITION)
            .or_else(|| sent["disposition"].as_str().map(str::to_string))
            .unwrap_or_else(|| "NONE".into());
        let score = contract::header_number(headers, contract::SCORE)
            .or_else(|| sent["score"].as_f64())
            .unwrap_or(0.0);
        // What the worker did decides, not this console's policy (which may
        // be newer): a held message always keeps its body.
        let journal = verdict_json || text(contract::ROUTE).as_deref() == Some("detect-only");
        let mailsift_id = text(contract::ID)
            .filter(|id| !id.trim().is_empty())
            .unwrap_or_else(|| contract::stable_id(body, &envelope));
        // A receipt time the database cannot hold (or from the future) is
        // replaced by now.
        let now = now();
        let received = envelope
            .received_at
            .filter(|t| (0..=now + 86_400).contains(t))
            .unwrap_or(now);

        let (original, shown, findings, auth) = if verdict_json {
            let shown = Shown {
                message_id: sent["message_id"].as_str().map(str::to_string),
                ..Shown::default()
            };
            (
                Vec::new(),
                shown,
                sent["findings"].clone(),
                sent["auth"].clone(),
            )
        } else {
            let cfg = &rules.engine.stamp;
            let original = stamp::unstamp(body, cfg);
            // The header block is enough for what the list shows; the body
            // is parsed once, by the classification below.
            let shown = Shown::read(&body[..stamp::header_block_end(body)], cfg);
            let explained = engine.classify(&original, Some(&envelope));
            let findings = serde_json::to_value(&explained.findings).unwrap_or(Value::Null);
            let auth = shown
                .authentication_results
                .clone()
                .map_or(Value::Null, Value::String);
            (original, shown, findings, auth)
        };
        let mut verdict = json!({
            "disposition": disposition,
            "score": score,
            "route": text(contract::ROUTE),
            "rules": contract::header_list(headers, contract::RULES),
            "findings": findings,
            "authentication": auth,
            "envelope": envelope,
            "error": text(contract::ERROR),
            "incomplete": text(contract::INCOMPLETE),
            "explained_by": rules.version,
        });
        without_nul(&mut verdict);
        Held {
            mailsift_id: field(&mailsift_id, 200),
            domain: field(&domain, 255),
            region: field(&region, 64),
            disposition: field(&disposition, 16),
            score: if score.is_finite() { score } else { 0.0 },
            header_from: field(&shown.from, MAX_FIELD),
            mail_from: field(envelope.mail_from.as_deref().unwrap_or(""), MAX_FIELD),
            rcpt_to: field(&envelope.rcpt_to.join(", "), MAX_FIELD),
            subject: field(&shown.subject, MAX_FIELD),
            message_id: shown.message_id.map(|m| field(&m, MAX_FIELD)),
            received,
            retention_days: policy.quarantine_retention_days,
            journal,
            size: i32::try_from(original.len()).unwrap_or(i32::MAX),
            verdict,
            raw: (!journal).then_some(original),
        }
    }

    /// The envelope stored with the verdict (release sends to it).
    pub fn envelope(verdict: &Value) -> Envelope {
        serde_json::from_value(verdict["envelope"].clone()).unwrap_or_default()
    }
}

/// A text column's value: at most `max` bytes, and no NUL, which
/// PostgreSQL text cannot hold (a message that has one would otherwise
/// fail to store on every delivery).
fn field(s: &str, max: usize) -> String {
    clip(s, max).replace('\0', "\u{fffd}")
}

/// Replaces NUL in every string of `v` (JSONB cannot hold `\u0000`).
fn without_nul(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{fffd}"),
        Value::Array(items) => items.iter_mut().for_each(without_nul),
        Value::Object(map) => map.values_mut().for_each(without_nul),
        _ => {}
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What a mail client shows of a message's headers.
#[derive(Default)]
struct Shown {
    from: String,
    subject: String,
    message_id: Option<String>,
    authentication_results: Option<String>,
}

impl Shown {
    fn read(stamped: &[u8], cfg: &mailsift_core::rules::StampConfig) -> Shown {
        let Ok(msg) = ParsedMessage::parse(stamped) else {
            return Shown::default();
        };
        let from = msg
            .from()
            .iter()
            .map(|m| match (&m.name, &m.address) {
                (Some(n), Some(a)) => format!("{n} <{a}>"),
                (None, Some(a)) => a.clone(),
                (Some(n), None) => n.clone(),
                (None, None) => String::new(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let authentication_results = msg
            .headers()
            .find(|(name, value)| {
                name.eq_ignore_ascii_case("Authentication-Results")
                    && stamp::is_our_field(name.as_bytes(), value.as_bytes(), cfg)
            })
            .map(|(_, value)| value.split_whitespace().collect::<Vec<_>>().join(" "));
        Shown {
            from,
            subject: msg.subject().unwrap_or("").to_string(),
            message_id: msg.message_id().map(str::to_string),
            authentication_results,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{AMQPValue, LongString};

    fn headers(pairs: &[(&str, &str)]) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert(
                (*k).into(),
                AMQPValue::LongString(LongString::from(v.as_bytes().to_vec())),
            );
        }
        t
    }

    fn engine() -> Engine {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
        Engine::load(&dir).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_held_message_keeps_its_original_bytes_and_the_workers_verdict() {
        let engine = engine();
        let original = b"From: Ann <ann@example.net>\r\nSubject: hello\0there\r\n\r\nbody\r\n";
        let mut stamped = b"X-Mailsift-Disposition: SPAM\r\n".to_vec();
        stamped.extend_from_slice(original);
        let h = headers(&[
            (contract::DISPOSITION, "SPAM"),
            (contract::ROUTE, "quarantine"),
            (contract::DOMAIN, "tailspintoys.com"),
            (contract::REGION, "us"),
            (contract::ID, "abc"),
            (contract::RECEIVED_AT, "99999999999999"),
        ]);
        let held = Held::from_output(Some(&h), &stamped, Some("message/rfc822"), &engine);
        // A journal-mode domain by this console's policy, but the worker
        // held it: the body is kept.
        assert!(!held.journal);
        assert_eq!(held.raw.as_deref(), Some(&original[..]));
        assert_eq!(held.disposition, "SPAM");
        assert_eq!(held.mailsift_id, "abc");
        assert!(!held.subject.contains('\0'), "{}", held.subject);
        assert!(
            held.received <= now() + 1,
            "an impossible receipt time is replaced"
        );
        assert_eq!(held.header_from, "Ann <ann@example.net>");
    }

    #[test]
    fn the_header_block_ends_at_the_first_blank_line() {
        for (raw, block) in [
            (
                &b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\n"[..],
                &b"A: 1\r\nB: 2\r\n\r\n"[..],
            ),
            (b"A: 1\n\nbody", b"A: 1\n\n"),
            (b"A: 1\nB: 2", b"A: 1\nB: 2"),
            (b"", b""),
        ] {
            assert_eq!(&raw[..stamp::header_block_end(raw)], block);
        }
    }

    #[test]
    fn a_journal_verdict_keeps_no_body() {
        let engine = engine();
        let verdict = br#"{"disposition":"SPAM","score":7.5,"policy_domain":"tailspintoys.com","region":"us","findings":[{"rule":"X","evidence":"a\u0000b"}]}"#;
        let h = headers(&[(contract::ROUTE, "detect-only"), (contract::ID, "j1")]);
        let held = Held::from_output(Some(&h), verdict, Some("application/json"), &engine);
        assert!(held.journal);
        assert!(held.raw.is_none());
        assert_eq!(held.domain, "tailspintoys.com");
        assert_eq!(held.score, 7.5);
        assert_eq!(held.verdict["findings"][0]["evidence"], "a\u{fffd}b");
    }
}
