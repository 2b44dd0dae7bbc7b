//! Dispositions and the findings that checks report.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The six verdict words stamped on every message.
///
/// These exact words are an API: Exchange transport rules match on them, so
/// they never change. The declaration order is the precedence used when
/// several dispositions reach their threshold (first wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Disposition {
    /// Malware, credential phishing, fraud, blocked senders.
    Malicious,
    /// Impersonation of a sender or of a protected domain.
    Spoof,
    /// Unsolicited junk.
    Spam,
    /// Risky signals without a clear payload.
    Suspicious,
    /// Legitimate bulk mail (newsletters, marketing).
    Bulk,
    /// Nothing found.
    None,
}

impl Disposition {
    /// All dispositions, in precedence order.
    pub const ALL: [Disposition; 6] = [
        Disposition::Malicious,
        Disposition::Spoof,
        Disposition::Spam,
        Disposition::Suspicious,
        Disposition::Bulk,
        Disposition::None,
    ];

    /// The stamped word (`MALICIOUS`, `SPOOF`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Malicious => "MALICIOUS",
            Disposition::Spoof => "SPOOF",
            Disposition::Spam => "SPAM",
            Disposition::Suspicious => "SUSPICIOUS",
            Disposition::Bulk => "BULK",
            Disposition::None => "NONE",
        }
    }

    /// Parses a stamped word, ignoring ASCII case.
    pub fn parse(word: &str) -> Option<Disposition> {
        Disposition::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(word.trim()))
    }

    /// Index into per-disposition arrays (precedence order).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One observation made by a check: which rule fired, what it points to, how
/// much it weighs, and the evidence a human needs to agree or disagree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule id, e.g. `HDR_MISSING_DATE`.
    pub rule: String,
    /// The disposition this finding's weight adds to.
    pub disposition: Disposition,
    /// Weight from the rules (shipped default or `rules/scores.toml`).
    pub weight: f64,
    /// Human-readable evidence: what was seen, where.
    pub evidence: String,
}
