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

/// A rule a check can report, with its shipped default score.
#[derive(Debug, PartialEq)]
pub struct RuleSpec {
    /// Stable id, `AREA_WHAT` in upper snake case.
    pub id: &'static str,
    /// Default disposition.
    pub disposition: Disposition,
    /// Default weight.
    pub weight: f64,
    /// What it means, for `mailsift rules` and the README.
    pub description: &'static str,
}

/// A built-in rule, named by its constant: a mistyped rule is a compile
/// error, never a finding that silently weighs nothing.
pub type Rule = &'static RuleSpec;

/// Declares a module's rules: one constant per rule, named as its id, and
/// `RULES`, the module's table for the catalogue.
///
/// ```
/// mod checks {
///     mailsift_core::rules! {
///         /// A rule for the example.
///         EX_SOMETHING: Spam, 1.5, "something looked off";
///     }
/// }
/// assert_eq!(checks::EX_SOMETHING.id, "EX_SOMETHING");
/// assert_eq!(checks::RULES.len(), 1);
/// ```
#[macro_export]
macro_rules! rules {
    ($( $(#[$meta:meta])* $id:ident : $disposition:ident, $weight:expr, $description:expr; )*) => {
        $(
            $(#[$meta])*
            #[doc = $description]
            pub const $id: $crate::finding::Rule = &$crate::finding::RuleSpec {
                id: stringify!($id),
                disposition: $crate::finding::Disposition::$disposition,
                weight: $weight,
                description: $description,
            };
        )*
        /// Every rule this module reports.
        pub const RULES: &[$crate::finding::Rule] = &[$($id),*];
    };
}
