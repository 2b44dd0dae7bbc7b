//! Sender authentication results (SPF, DKIM, DMARC, ARC) as plain data.
//!
//! Authentication needs DNS, so it runs at the edge (`mailsift-auth`); the
//! edge hands these results to the engine the way it hands the envelope, and
//! the `auth` check turns them into findings.

use crate::message::ParsedMessage;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One protocol's outcome, in RFC 8601 words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthResult {
    /// Authenticated.
    Pass,
    /// Explicitly not authorized / signature did not verify.
    Fail,
    /// SPF `~all`: weak fail.
    SoftFail,
    /// No assertion.
    Neutral,
    /// Nothing to evaluate (no record, no signature).
    #[default]
    None,
    /// A transient (DNS) failure: the answer is unknown.
    TempError,
    /// A permanent error in the published records.
    PermError,
}

impl AuthResult {
    /// The RFC 8601 word.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthResult::Pass => "pass",
            AuthResult::Fail => "fail",
            AuthResult::SoftFail => "softfail",
            AuthResult::Neutral => "neutral",
            AuthResult::None => "none",
            AuthResult::TempError => "temperror",
            AuthResult::PermError => "permerror",
        }
    }
}

/// A DMARC policy (`p=`, or `sp=`/`np=` where they apply).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmarcPolicy {
    /// No DMARC record.
    #[default]
    Absent,
    /// `p=none`: monitor only.
    None,
    /// `p=quarantine`.
    Quarantine,
    /// `p=reject`.
    Reject,
}

impl DmarcPolicy {
    /// The policy as DMARC writes it (`absent` when there is no record).
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcPolicy::Absent => "absent",
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        }
    }
}

/// SPF for the MAIL FROM identity (the HELO identity for the null sender).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpfCheck {
    /// The result.
    pub result: AuthResult,
    /// The domain checked.
    pub domain: String,
    /// `mailfrom` or `helo`.
    pub identity: String,
    /// The address checked (the origin IP).
    pub ip: Option<IpAddr>,
}

/// One DKIM signature's verification.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimCheck {
    /// The result.
    pub result: AuthResult,
    /// Signing domain `d=`.
    pub domain: String,
    /// Selector `s=`.
    pub selector: String,
    /// Why it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// ARC chain validation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArcCheck {
    /// `pass` (chain valid), `fail`, or `none` (no ARC sets).
    pub result: AuthResult,
    /// ARC sets in the chain.
    pub sets: u32,
    /// Domain of the newest ARC-Seal (the last forwarder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealer: Option<String>,
    /// Every sealing domain, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sealers: Vec<String>,
    /// The first forwarder's ARC-Authentication-Results, as recorded by it
    /// (what authentication looked like before forwarding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_results: Option<String>,
    /// Why it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// DMARC for the header From domain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmarcCheck {
    /// `pass`, `fail`, `none` (no record), `temperror` or `permerror`.
    pub result: AuthResult,
    /// The header From domain.
    pub domain: String,
    /// The policy that applies to that domain.
    pub policy: DmarcPolicy,
    /// SPF passed for a domain aligned with From.
    pub spf_aligned: bool,
    /// A DKIM signature of a domain aligned with From passed.
    pub dkim_aligned: bool,
}

/// Everything sender authentication found for one message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResults {
    /// SPF.
    pub spf: SpfCheck,
    /// DKIM, one entry per signature.
    pub dkim: Vec<DkimCheck>,
    /// ARC.
    pub arc: ArcCheck,
    /// DMARC.
    pub dmarc: DmarcCheck,
    /// Lookups that failed transiently (timeouts, SERVFAIL), by protocol.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub temp_failures: Vec<String>,
    /// Set when authentication could not run at all, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl AuthResults {
    /// Results for a message that could not be authenticated at all.
    pub fn skipped(why: impl Into<String>) -> AuthResults {
        AuthResults {
            skipped: Some(why.into()),
            ..AuthResults::default()
        }
    }

    /// True if a DNS failure left a result unknown: the verdict is
    /// incomplete and the domain's `on_dns_failure` applies.
    pub fn incomplete(&self) -> bool {
        !self.temp_failures.is_empty()
    }

    /// True if the sender's From domain authenticated: DMARC pass, or, where
    /// the domain publishes no DMARC record, an SPF or DKIM pass aligned
    /// with it.
    pub fn from_authenticated(&self) -> bool {
        // mail-auth leaves the domain empty when it cannot apply DMARC (a
        // From listing several domains): that authenticates nothing.
        if self.skipped.is_some() || self.dmarc.domain.is_empty() {
            return false;
        }
        match self.dmarc.result {
            AuthResult::Pass => true,
            AuthResult::None => self.dmarc.spf_aligned || self.dmarc.dkim_aligned,
            _ => false,
        }
    }
}

/// What sender authentication needs for one message: the message (the
/// original, for a journal report) in its one parse, the origin IP the
/// relay-hop logic chose, that hop's HELO and the MAIL FROM. Built by
/// [`crate::Prepared::auth_subject`].
#[derive(Clone, Copy)]
pub struct AuthSubject<'a> {
    /// The message, parsed once and shared with classification.
    pub message: &'a ParsedMessage<'a>,
    /// The origin IP the relay-hop logic chose.
    pub ip: Option<IpAddr>,
    /// HELO name of the origin hop.
    pub helo: Option<&'a str>,
    /// MAIL FROM (`""` for the null sender).
    pub mail_from: Option<&'a str>,
}

/// `value` with its RFC 5322 comments (nested parentheses) blanked out, as
/// needed before reading an (ARC-)Authentication-Results value.
pub fn without_comments(value: &str) -> String {
    let mut depth = 0usize;
    value
        .chars()
        .map(|c| match c {
            '(' => {
                depth += 1;
                ' '
            }
            ')' => {
                depth = depth.saturating_sub(1);
                ' '
            }
            _ if depth > 0 => ' ',
            c => c,
        })
        .collect()
}
