//! The SMTP envelope: what the edge saw, as opposed to what headers claim.

use crate::message::{address_domain, Hop, ParsedMessage};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Inbound to a protected domain, or outbound from a tenant's own relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the Internet to us.
    Inbound,
    /// From a tenant's configured outbound relays.
    Outbound,
}

/// What the SMTP edge saw for one message. Every field is optional: replay of
/// plain `.eml` files has none, and [`Envelope::complete_from_headers`] fills
/// in what headers allow, saying so in evidence.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The connecting client's IP.
    pub peer_ip: Option<IpAddr>,
    /// HELO/EHLO name.
    pub helo: Option<String>,
    /// MAIL FROM address; `Some("")` is the null sender `<>`.
    pub mail_from: Option<String>,
    /// RCPT TO addresses.
    #[serde(default)]
    pub rcpt_to: Vec<String>,
    /// Whether the session used STARTTLS.
    pub tls: Option<bool>,
    /// When the edge received the message (Unix seconds).
    pub received_at: Option<i64>,
    /// The edge's queue id, for tracing.
    pub queue_id: Option<String>,
    /// Earlier tries of this input that ended in the retry queue after a
    /// DNS failure (the broker edge counts them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// What the edge sent that could not be used (malformed fields), for
    /// evidence. The engine adds these to `INFO_ENVELOPE_DERIVED`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Envelope {
    /// The MAIL FROM domain, if MAIL FROM is a non-null address.
    pub fn mail_from_domain(&self) -> Option<&str> {
        self.mail_from.as_deref().and_then(address_domain)
    }

    /// True for the null sender `<>` (bounces, auto-replies).
    pub fn is_null_sender(&self) -> bool {
        self.mail_from
            .as_deref()
            .is_some_and(|m| m.trim().is_empty())
    }

    /// Fills missing fields from the message's headers and returns one note
    /// per derived field, for evidence. Given fields are never overwritten.
    pub fn complete_from_headers(&mut self, msg: &ParsedMessage<'_>, hops: &[Hop]) -> Vec<String> {
        let mut notes = std::mem::take(&mut self.notes);
        let top = hops.first();
        if self.peer_ip.is_none() {
            if let Some(ip) = top.and_then(|h| h.from_ip) {
                self.peer_ip = Some(ip);
                notes.push(format!(
                    "peer IP {ip} taken from the topmost Received header"
                ));
            }
        }
        if self.helo.is_none() {
            if let Some(helo) = top.and_then(|h| h.helo.clone()) {
                notes.push(format!(
                    "HELO `{helo}` taken from the topmost Received header"
                ));
                self.helo = Some(helo);
            }
        }
        if self.tls.is_none() {
            if let Some(hop) = top {
                self.tls = Some(hop.tls);
            }
        }
        if self.mail_from.is_none() {
            if let Some(rp) = msg.return_path() {
                notes.push(format!("MAIL FROM <{rp}> taken from Return-Path"));
                self.mail_from = Some(rp);
            }
        }
        if self.rcpt_to.is_empty() {
            let delivered: Vec<String> = msg
                .headers()
                .filter(|(n, _)| {
                    n.eq_ignore_ascii_case("Delivered-To")
                        || n.eq_ignore_ascii_case("X-Original-To")
                })
                .map(|(_, v)| v.trim().trim_matches(['<', '>']).to_ascii_lowercase())
                .filter(|v| address_domain(v).is_some())
                .collect();
            let (source, mut rcpts) = if delivered.is_empty() {
                let to: Vec<String> = msg
                    .to_and_cc()
                    .into_iter()
                    .filter_map(|m| m.address.map(|a| a.to_ascii_lowercase()))
                    .collect();
                ("To/Cc", to)
            } else {
                ("Delivered-To/X-Original-To", delivered)
            };
            rcpts.dedup();
            if !rcpts.is_empty() {
                notes.push(format!("RCPT TO taken from {source}: {}", rcpts.join(", ")));
                self.rcpt_to = rcpts;
            }
        }
        if self.received_at.is_none() {
            if let Some(t) = top.and_then(|h| h.date) {
                self.received_at = Some(t);
                notes.push("receipt time taken from the topmost Received header".into());
            } else if let Some(t) = msg.date() {
                self.received_at = Some(t);
                notes.push("receipt time taken from the Date header (no dated Received)".into());
            }
        }
        notes
    }
}
