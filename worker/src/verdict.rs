//! The one scoring pass: findings → per-disposition scores → one disposition
//! → a route from the recipient domain's policy.

use crate::envelope::Envelope;
use crate::finding::{Disposition, Finding};
use crate::relay::Origin;
use crate::rules::{DomainPolicy, Mode, Rules};
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

/// Inbound to a protected domain, or outbound from a tenant's own relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the Internet to us.
    Inbound,
    /// From a tenant's configured outbound relays.
    Outbound,
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
    pub auth: Option<crate::auth::AuthResults>,
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

/// Per-disposition sums and the chosen disposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Scoring {
    /// Sums indexed by [`Disposition::index`].
    pub scores: [f64; 6],
    /// The winner.
    pub disposition: Disposition,
}

/// Adds a finding for every combination rule whose ingredients fired.
pub fn apply_combos(findings: &mut Vec<Finding>, rules: &Rules) {
    let mut added = Vec::new();
    for combo in &rules.combos {
        let fired = |id: &str| findings.iter().any(|f| f.rule == id && f.weight != 0.0);
        if let Some(why) = combo.matches(&fired) {
            added.push(rules.finding(&combo.id, 1.0, format!("together: {}", why.join(" + "))));
        }
    }
    findings.extend(added);
}

/// Sums findings per disposition, adds the configured spill, and picks the
/// first disposition, in precedence order, whose score reaches its threshold. Dispositions in
/// `exempt` (allow tiers) never win.
pub fn score(findings: &[Finding], rules: &Rules, exempt: &[Disposition]) -> Scoring {
    let mut raw = [0f64; 6];
    for f in findings {
        raw[f.disposition.index()] += f.weight;
    }
    // Evidence for a stronger disposition also counts, scaled, towards
    // weaker ones (a half-proven phish is at least suspicious).
    let mut scores = raw;
    for from in Disposition::ALL {
        for to in Disposition::ALL {
            let share = rules.engine.spill[from.index()][to.index()];
            if share > 0.0 && raw[from.index()] > 0.0 {
                scores[to.index()] += raw[from.index()] * share;
            }
        }
    }
    let disposition = Disposition::ALL
        .into_iter()
        .filter(|d| *d != Disposition::None && !exempt.contains(d))
        .find(|d| scores[d.index()] >= rules.threshold(*d))
        .unwrap_or(Disposition::None);
    Scoring {
        scores,
        disposition,
    }
}

/// Where the message goes. `force_quarantine` is for mail that must never be
/// delivered whatever the policy says (unscannable input, relay abuse).
pub fn route(
    disposition: Disposition,
    policy: &DomainPolicy,
    journal: bool,
    force_quarantine: bool,
) -> Route {
    if journal || policy.mode == Mode::Journal {
        Route::DetectOnly
    } else if force_quarantine || policy.quarantines(disposition) {
        Route::Quarantine
    } else {
        Route::Deliver
    }
}

/// Bulk level 0–9 from the BULK score.
pub fn bulk_level(scores: &[f64; 6]) -> u8 {
    scores[Disposition::Bulk.index()].round().clamp(0.0, 9.0) as u8
}

/// Non-zero scores as a map, rounded to 2 decimals for stable output.
pub fn score_map(scores: &[f64; 6]) -> BTreeMap<Disposition, f64> {
    Disposition::ALL
        .into_iter()
        .filter(|d| scores[d.index()] != 0.0)
        .map(|d| (d, (scores[d.index()] * 100.0).round() / 100.0))
        .collect()
}
