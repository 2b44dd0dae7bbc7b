//! A verdict: what the decision pass ([`crate::decide`]) made of one
//! message, with everything an analyst needs to see why.

use crate::authres::AuthResults;
use crate::envelope::{Direction, Envelope};
use crate::finding::{Disposition, Finding};
use crate::relay::Origin;
use crate::rules::Mode;
use serde::Serialize;
use std::collections::BTreeMap;

/// What happens to the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// Deliver to the domain's delivery target.
    Deliver,
    /// Hold in quarantine.
    Quarantine,
    /// Journal mode: record the verdict only; never deliver or quarantine.
    DetectOnly,
    /// Authentication hit a DNS failure and the domain says try again later.
    Requeue,
}

impl Route {
    /// The kebab-case word (`deliver`, `quarantine`, `detect-only`).
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Deliver => "deliver",
            Route::Quarantine => "quarantine",
            Route::DetectOnly => "detect-only",
            Route::Requeue => "requeue",
        }
    }
}

/// The outcome for one message.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// Exactly one of the six words.
    pub disposition: Disposition,
    /// Deliver, quarantine or detect-only.
    pub route: Route,
    /// Score of the chosen disposition (of the highest one for NONE).
    pub score: f64,
    /// Every non-zero per-disposition score.
    pub scores: BTreeMap<Disposition, f64>,
    /// Bulk level 0–9 (the BULK score, rounded and clamped).
    pub bulk_level: u8,
    /// Everything the checks found, in check order.
    pub findings: Vec<Finding>,
    /// The origin IP and why, when known.
    pub origin: Option<Origin>,
    /// The policy applied (`*` = default).
    pub policy_domain: String,
    /// That policy's mode.
    pub mode: Mode,
    /// Delivery region.
    pub region: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Message-ID of the (original) message.
    pub message_id: Option<String>,
    /// The envelope, completed from headers where it had gaps.
    pub envelope: Envelope,
    /// The input was a journal report that we unwrapped.
    pub journal: bool,
    /// Already stamped by this gateway and passed through (loop prevention).
    pub passthrough: bool,
    /// Why the message could not be classified normally, if it could not.
    pub error: Option<String>,
    /// Sender authentication results, when authentication ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthResults>,
    /// Why the verdict is incomplete (a DNS failure during authentication).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

impl Verdict {
    /// Ids of the findings that carry weight, in order, without repeats.
    pub fn reasons(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for f in &self.findings {
            if f.weight != 0.0 && !ids.contains(&f.rule.as_str()) {
                ids.push(&f.rule);
            }
        }
        ids
    }
}
