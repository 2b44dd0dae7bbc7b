//! Two rule sets on the same corpus (`replay --compare-rules`): which
//! messages changed disposition, from what to what, with the findings
//! that differ, and what each label gained or lost.

use crate::labels::Label;
use mailsift_core::Verdict;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Changed messages kept in full (the counts cover every one).
const MAX_CHANGES: usize = 10_000;

/// One message whose disposition differs between the two rule sets.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// The message's name.
    pub name: String,
    /// Its label, when labels were given.
    pub label: Option<String>,
    /// Disposition with the replayed rules.
    pub from: String,
    /// Disposition with the compared rules.
    pub to: String,
    /// Rules only the compared set reports.
    pub added: Vec<String>,
    /// Rules only the replayed set reports.
    pub removed: Vec<String>,
}

/// The comparison of a whole replay.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Comparison {
    /// Messages compared.
    pub messages: u64,
    /// Messages whose disposition changed.
    pub changed: u64,
    /// "FROM -> TO" → messages (changed ones only).
    pub transitions: BTreeMap<String, u64>,
    /// Per label: messages that became right (`gained`) or wrong (`lost`).
    pub labels: BTreeMap<String, GainLoss>,
    /// The changed messages, sorted by name (the first 10,000).
    pub changes: Vec<Change>,
}

/// What one label gained and lost.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct GainLoss {
    /// Wrong with the replayed rules, right with the compared ones.
    pub gained: u64,
    /// Right with the replayed rules, wrong with the compared ones.
    pub lost: u64,
}

impl Comparison {
    /// Adds one message's two verdicts.
    pub fn add(&mut self, name: &str, label: Option<Label>, a: &Verdict, b: &Verdict) {
        self.messages += 1;
        if a.disposition == b.disposition {
            return;
        }
        self.changed += 1;
        let (from, to) = (a.disposition.as_str(), b.disposition.as_str());
        *self
            .transitions
            .entry(format!("{from} -> {to}"))
            .or_default() += 1;
        if let Some(l) = label {
            let entry = self.labels.entry(l.name()).or_default();
            match (l.accepts(a.disposition), l.accepts(b.disposition)) {
                (false, true) => entry.gained += 1,
                (true, false) => entry.lost += 1,
                _ => {}
            }
        }
        if self.changes.len() < MAX_CHANGES {
            let (ra, rb) = (a.reasons(), b.reasons());
            self.changes.push(Change {
                name: name.to_string(),
                label: label.map(|l| l.name()),
                from: from.to_string(),
                to: to.to_string(),
                added: rb
                    .iter()
                    .filter(|r| !ra.contains(r))
                    .map(|r| r.to_string())
                    .collect(),
                removed: ra
                    .iter()
                    .filter(|r| !rb.contains(r))
                    .map(|r| r.to_string())
                    .collect(),
            });
        }
    }

    /// Folds another thread's comparison into this one.
    pub fn merge(&mut self, other: Comparison) {
        self.messages += other.messages;
        self.changed += other.changed;
        for (k, v) in other.transitions {
            *self.transitions.entry(k).or_default() += v;
        }
        for (k, v) in other.labels {
            let e = self.labels.entry(k).or_default();
            e.gained += v.gained;
            e.lost += v.lost;
        }
        let room = MAX_CHANGES.saturating_sub(self.changes.len());
        self.changes.extend(other.changes.into_iter().take(room));
    }

    /// Sorts the changed messages by name (threads finish in any order).
    pub fn finish(&mut self) {
        self.changes.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// The comparison for people: the transitions, gain and loss per label,
    /// and the first 100 changed messages with the rules that differ.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\ncompared with the other rules or model: {} of {} messages changed disposition",
            self.changed, self.messages
        );
        for (t, n) in &self.transitions {
            let _ = writeln!(s, "  {t:<26} {n:>7}");
        }
        if !self.labels.is_empty() {
            let _ = writeln!(s, "per label (gained = now right, lost = now wrong):");
            for (l, g) in &self.labels {
                let _ = writeln!(s, "  {l:<12} gained {:>6}  lost {:>6}", g.gained, g.lost);
            }
        }
        for c in self.changes.iter().take(100) {
            let label = c
                .label
                .as_deref()
                .map(|l| format!(" [{l}]"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {}{label}: {} -> {}  +{:?} -{:?}",
                c.name, c.from, c.to, c.added, c.removed
            );
        }
        if self.changes.len() > 100 {
            let _ = writeln!(
                s,
                "  ... and {} more (--format json lists them)",
                self.changed - 100
            );
        }
        s
    }
}
