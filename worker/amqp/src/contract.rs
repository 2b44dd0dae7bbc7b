//! The message contract with the SMTP edges and the delivery side: which
//! AMQP headers carry the envelope in, and which carry the verdict out.
//! README, "AMQP message contract", documents the same names; they are an
//! API and do not change.

use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use mailsift_core::text::clip;
use mailsift_core::{Envelope, Route, Verdict};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// Input: connecting client IP (string).
pub const PEER_IP: &str = "x-envelope-peer-ip";
/// Input: HELO/EHLO name (string).
pub const HELO: &str = "x-envelope-helo";
/// Input: MAIL FROM (string; empty = null sender).
pub const MAIL_FROM: &str = "x-envelope-mail-from";
/// Input: RCPT TO (array of strings; a comma-separated string is accepted).
pub const RCPT_TO: &str = "x-envelope-rcpt-to";
/// Input: STARTTLS used (bool; "true"/"false" accepted).
pub const TLS: &str = "x-envelope-tls";
/// Input: receipt time, Unix seconds (timestamp or integer).
pub const RECEIVED_AT: &str = "x-envelope-received-at";
/// Input: the edge's queue id (string).
pub const QUEUE_ID: &str = "x-edge-queue-id";
/// Input, optional: when the edge published, Unix milliseconds (carried
/// through to the output; latency measurements use it).
pub const PUBLISHED_AT_MS: &str = "x-edge-published-at-ms";

/// Output: the disposition word.
pub const DISPOSITION: &str = "x-mailsift-disposition";
/// Output: `deliver`, `quarantine` or `detect-only`.
pub const ROUTE: &str = "x-mailsift-route";
/// Output: the chosen disposition's score (double).
pub const SCORE: &str = "x-mailsift-score";
/// Output: rule ids with weight (array of strings).
pub const RULES: &str = "x-mailsift-rules";
/// Output: the recipient domain whose policy applied (`*` = default).
pub const DOMAIN: &str = "x-mailsift-domain";
/// Output: delivery region.
pub const REGION: &str = "x-mailsift-region";
/// Output: the message's Message-ID header.
pub const MESSAGE_ID: &str = "x-mailsift-message-id";
/// Output: stable id of this input (also the AMQP `message_id` property):
/// consumers de-duplicate on it.
pub const ID: &str = "x-mailsift-id";
/// Output: why the message could not be classified normally.
pub const ERROR: &str = "x-mailsift-error";
/// Output: set when an already-stamped message was passed through (loop prevention).
pub const PASSTHROUGH: &str = "x-mailsift-passthrough";
/// Output: why the verdict is incomplete (a DNS failure in authentication).
pub const INCOMPLETE: &str = "x-mailsift-incomplete";
/// Retry input: how many times this input was requeued after a DNS failure
/// (set by the worker on what it puts in the retry queue).
pub const ATTEMPT: &str = "x-mailsift-attempt";

/// Header a quorum queue sets on a redelivery: earlier deliveries.
pub const DELIVERY_COUNT: &str = "x-delivery-count";

/// Earlier deliveries of an input by the broker (0 for the first).
pub fn delivery_count(headers: Option<&FieldTable>) -> u32 {
    headers
        .and_then(|h| h.inner().get(DELIVERY_COUNT))
        .and_then(value_int)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// When the edge published an input (Unix milliseconds), if it said.
pub fn published_at_ms(headers: Option<&FieldTable>) -> Option<i64> {
    headers
        .and_then(|h| h.inner().get(PUBLISHED_AT_MS))
        .and_then(value_int)
}

/// Earlier tries of this input (0 for a fresh one).
pub fn attempt(headers: Option<&FieldTable>) -> u32 {
    headers
        .and_then(|h| h.inner().get(ATTEMPT))
        .and_then(value_int)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// `headers` with the attempt counter set to `n`.
pub fn with_attempt(headers: Option<&FieldTable>, n: u32) -> FieldTable {
    let mut t = headers.cloned().unwrap_or_default();
    t.insert(ATTEMPT.into(), AMQPValue::LongLongInt(i64::from(n)));
    t
}

/// Reads the envelope from input headers. Missing fields stay `None` (the
/// engine derives them from the message); malformed ones are noted.
pub fn envelope_from_headers(headers: Option<&FieldTable>) -> Envelope {
    let mut env = Envelope::default();
    let Some(headers) = headers else {
        env.notes
            .push("no envelope headers on the AMQP message".into());
        return env;
    };
    let table = headers.inner();
    let text = |name: &str| -> Option<String> { table.get(name).and_then(value_text) };
    if let Some(v) = text(PEER_IP) {
        match v.trim().trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => env.peer_ip = Some(ip),
            Err(_) => env
                .notes
                .push(format!("{PEER_IP} `{}` is not an IP address", clip(&v, 60))),
        }
    }
    env.helo = text(HELO).filter(|h| !h.trim().is_empty());
    env.mail_from = text(MAIL_FROM).map(|m| m.trim().trim_matches(['<', '>']).to_string());
    match table.get(RCPT_TO) {
        Some(AMQPValue::FieldArray(items)) => {
            env.rcpt_to = items
                .as_slice()
                .iter()
                .filter_map(value_text)
                .map(|r| r.trim().trim_matches(['<', '>']).to_ascii_lowercase())
                .filter(|r| !r.is_empty())
                .collect();
        }
        Some(other) => match value_text(other) {
            Some(list) => {
                env.rcpt_to = list
                    .split(',')
                    .map(|r| r.trim().trim_matches(['<', '>']).to_ascii_lowercase())
                    .filter(|r| !r.is_empty())
                    .collect()
            }
            None => env.notes.push(format!("{RCPT_TO} has an unusable type")),
        },
        None => {}
    }
    match table.get(TLS) {
        Some(AMQPValue::Boolean(b)) => env.tls = Some(*b),
        Some(other) => match value_text(other).as_deref().map(str::trim) {
            Some("true" | "1" | "yes") => env.tls = Some(true),
            Some("false" | "0" | "no") => env.tls = Some(false),
            _ => env.notes.push(format!("{TLS} is not a boolean")),
        },
        None => {}
    }
    match table.get(RECEIVED_AT) {
        Some(AMQPValue::Timestamp(t)) => env.received_at = i64::try_from(*t).ok(),
        Some(v) => match value_int(v) {
            Some(t) if t > 0 => env.received_at = Some(t),
            _ => env.notes.push(format!("{RECEIVED_AT} is not Unix seconds")),
        },
        None => {}
    }
    env.queue_id = text(QUEUE_ID).filter(|q| !q.trim().is_empty());
    env.retries = attempt(Some(headers));
    env
}

/// Writes an envelope as input headers (what `mailsift enqueue` and the
/// tests publish, and what the edges should).
pub fn envelope_to_headers(env: &Envelope, headers: &mut FieldTable) {
    let mut put = |k: &str, v: AMQPValue| {
        headers.insert(ShortString::from(k), v);
    };
    if let Some(ip) = env.peer_ip {
        put(PEER_IP, long(&ip.to_string()));
    }
    if let Some(h) = &env.helo {
        put(HELO, long(h));
    }
    if let Some(m) = &env.mail_from {
        put(MAIL_FROM, long(m));
    }
    if !env.rcpt_to.is_empty() {
        let items: Vec<AMQPValue> = env.rcpt_to.iter().map(|r| long(r)).collect();
        put(RCPT_TO, AMQPValue::FieldArray(FieldArray::from(items)));
    }
    if let Some(t) = env.tls {
        put(TLS, AMQPValue::Boolean(t));
    }
    if let Some(t) = env.received_at.and_then(|t| u64::try_from(t).ok()) {
        put(RECEIVED_AT, AMQPValue::Timestamp(t));
    }
    if let Some(q) = &env.queue_id {
        put(QUEUE_ID, long(q));
    }
    if env.retries > 0 {
        put(ATTEMPT, AMQPValue::LongLongInt(i64::from(env.retries)));
    }
}

/// The stable id of an input: the same bytes with the same envelope always
/// give the same id, so a redelivered input's output can be recognised.
/// Hashes the parsed envelope in a fixed text form (not the AMQP encoding),
/// so the id survives client-library upgrades and header type variations.
pub fn stable_id(body: &[u8], envelope: &Envelope) -> String {
    let mut h = Sha256::new();
    h.update(body);
    let fields = [
        envelope.peer_ip.map(|ip| ip.to_string()),
        envelope.mail_from.clone(),
        Some(envelope.rcpt_to.join(",")),
        envelope.queue_id.clone(),
        envelope.received_at.map(|t| t.to_string()),
    ];
    for field in fields {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        let f = field.unwrap_or_default();
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Output headers for a verdict: the input headers (envelope, edge ids)
/// carried through, plus ours.
pub fn output_headers(input: Option<&FieldTable>, verdict: &Verdict, id: &str) -> FieldTable {
    let mut t = input.cloned().unwrap_or_default();
    // Never pass through someone else's claim of our verdict.
    let forged: Vec<ShortString> = t
        .inner()
        .keys()
        .filter(|k| k.as_str().to_ascii_lowercase().starts_with("x-mailsift-"))
        .cloned()
        .collect();
    let mut clean = FieldTable::default();
    for (k, v) in t.inner() {
        if !forged.contains(k) {
            clean.insert(k.clone(), v.clone());
        }
    }
    t = clean;
    t.insert(DISPOSITION.into(), long(verdict.disposition.as_str()));
    t.insert(ROUTE.into(), long(verdict.route.as_str()));
    t.insert(
        SCORE.into(),
        AMQPValue::Double((verdict.score * 100.0).round() / 100.0),
    );
    let rules: Vec<AMQPValue> = verdict.reasons().into_iter().map(long).collect();
    t.insert(RULES.into(), AMQPValue::FieldArray(FieldArray::from(rules)));
    t.insert(DOMAIN.into(), long(&verdict.policy_domain));
    t.insert(REGION.into(), long(&verdict.region));
    if let Some(m) = &verdict.message_id {
        t.insert(MESSAGE_ID.into(), long(m));
    }
    t.insert(ID.into(), long(id));
    if let Some(e) = &verdict.error {
        t.insert(ERROR.into(), long(e));
    }
    if verdict.passthrough {
        t.insert(PASSTHROUGH.into(), AMQPValue::Boolean(true));
    }
    if let Some(why) = &verdict.incomplete {
        t.insert(INCOMPLETE.into(), long(why));
    }
    t
}

/// An output header as text (consumers of outputs read the verdict with
/// these: the quarantine console, delivery).
pub fn header_text(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    headers
        .and_then(|h| h.inner().get(name))
        .and_then(value_text)
}

/// An output header holding a list of strings (e.g. [`RULES`]).
pub fn header_list(headers: Option<&FieldTable>, name: &str) -> Vec<String> {
    match headers.and_then(|h| h.inner().get(name)) {
        Some(AMQPValue::FieldArray(items)) => {
            items.as_slice().iter().filter_map(value_text).collect()
        }
        Some(other) => value_text(other).into_iter().collect(),
        None => Vec::new(),
    }
}

/// An output header holding a number (e.g. [`SCORE`]).
pub fn header_number(headers: Option<&FieldTable>, name: &str) -> Option<f64> {
    match headers.and_then(|h| h.inner().get(name))? {
        AMQPValue::Double(d) => Some(*d),
        AMQPValue::Float(f) => Some(f64::from(*f)),
        other => value_int(other)
            .map(|i| i as f64)
            .or_else(|| value_text(other)?.trim().parse().ok()),
    }
}

/// Which exchange (by role) and routing key a verdict goes to.
pub fn destination(verdict: &Verdict) -> (Destination, String) {
    let region = &verdict.region;
    match verdict.route {
        Route::Deliver => (Destination::Deliver, format!("deliver.{region}")),
        Route::Quarantine => (Destination::Quarantine, format!("quarantine.{region}")),
        Route::DetectOnly => (Destination::Verdicts, format!("verdict.{region}")),
        Route::Requeue => (Destination::Retry, "retry".to_string()),
    }
}

/// The output exchanges by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Stamped messages to deliver.
    Deliver,
    /// Stamped messages to hold.
    Quarantine,
    /// Verdicts only (journal mode).
    Verdicts,
    /// The unmodified input, to be classified again after a delay.
    Retry,
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// A header value as text, when it is text.
fn value_text(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        AMQPValue::ByteArray(b) => Some(String::from_utf8_lossy(b.as_slice()).into_owned()),
        _ => None,
    }
}

fn value_int(v: &AMQPValue) -> Option<i64> {
    match v {
        AMQPValue::LongLongInt(i) => Some(*i),
        AMQPValue::LongInt(i) => Some(i64::from(*i)),
        AMQPValue::LongUInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortUInt(i) => Some(i64::from(*i)),
        AMQPValue::Timestamp(t) => i64::try_from(*t).ok(),
        other => value_text(other).and_then(|s| s.trim().parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip() {
        let env = Envelope {
            peer_ip: Some("203.0.113.9".parse().unwrap()),
            helo: Some("mail.example.org".into()),
            mail_from: Some("a@example.org".into()),
            rcpt_to: vec!["b@contoso.com".into(), "c@fabrikam.com".into()],
            tls: Some(true),
            received_at: Some(1_700_000_000),
            queue_id: Some("4Q1x".into()),
            retries: 2,
            notes: Vec::new(),
        };
        let mut t = FieldTable::default();
        envelope_to_headers(&env, &mut t);
        assert_eq!(envelope_from_headers(Some(&t)), env);
    }

    #[test]
    fn malformed_fields_are_noted_not_fatal() {
        let mut t = FieldTable::default();
        t.insert(PEER_IP.into(), long("not-an-ip"));
        t.insert(RCPT_TO.into(), long("<x@contoso.com>, y@contoso.com"));
        t.insert(TLS.into(), long("maybe"));
        t.insert(RECEIVED_AT.into(), long("yesterday"));
        let env = envelope_from_headers(Some(&t));
        assert_eq!(env.peer_ip, None);
        assert_eq!(env.rcpt_to, vec!["x@contoso.com", "y@contoso.com"]);
        assert_eq!(env.notes.len(), 3, "{:?}", env.notes);
        assert_eq!(envelope_from_headers(None).notes.len(), 1);
    }

    #[test]
    fn stable_ids() {
        let env = Envelope {
            queue_id: Some("A".into()),
            ..Envelope::default()
        };
        assert_eq!(stable_id(b"x", &env), stable_id(b"x", &env));
        assert_ne!(stable_id(b"x", &env), stable_id(b"x", &Envelope::default()));
        assert_eq!(stable_id(b"x", &env).len(), 32);
        // The same envelope sent as a comma string or an array: the same id.
        let mut as_array = FieldTable::default();
        envelope_to_headers(
            &Envelope {
                rcpt_to: vec!["a@b.c".into(), "d@e.f".into()],
                ..Envelope::default()
            },
            &mut as_array,
        );
        let mut as_text = FieldTable::default();
        as_text.insert(RCPT_TO.into(), long("a@b.c, d@e.f"));
        assert_eq!(
            stable_id(b"x", &envelope_from_headers(Some(&as_array))),
            stable_id(b"x", &envelope_from_headers(Some(&as_text)))
        );
    }
}
