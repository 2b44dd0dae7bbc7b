//! Weight and threshold fitting (`mailsift tune`), as SpamAssassin's
//! rescoring and `rspamadm rescore` do: the findings of every labelled
//! message are recorded once, then a coordinate search over each SPAM and
//! SUSPICIOUS rule's weight and those two thresholds maximises spam recall
//! while legitimate mail flagged (anything but NONE or BULK) stays under a
//! cap. Candidates are scored with the engine's own scoring step
//! ([`mailsift_core::decide::score_sums`]).
//!
//! Cross-validation measures the procedure, not the fit: each fold is
//! judged by weights fitted on the other folds. MALICIOUS and SPOOF rules
//! are left alone: they name proof, not a trade-off.

use crate::cv::assign_folds;
use mailsift_core::decide::score_sums;
use mailsift_core::rules::EngineConfig;
use mailsift_core::{Disposition, Rules, Verdict};
use std::collections::BTreeMap;

/// Weight multipliers tried for each rule.
const MULTIPLIERS: [f64; 9] = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0];
/// Thresholds tried for SPAM and SUSPICIOUS.
const THRESHOLDS: [f64; 7] = [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0];
/// A rule is tuned only if it fired on at least this many messages.
const MIN_HITS: usize = 3;
/// Coordinate passes at most.
const PASSES: usize = 4;

/// One labelled message's findings, as the tuner scores them.
#[derive(Clone, Debug)]
struct Scored {
    spam: bool,
    /// Tunable findings: (rule, factor = finding weight / rule weight).
    terms: Vec<(usize, f64)>,
    /// The other findings' per-disposition sums.
    fixed_raw: [f64; 6],
    /// Set when the verdict was not decided by weights (an allow tier, an
    /// unscannable message): the disposition it keeps.
    pinned: Option<Disposition>,
}

/// A candidate: a weight per tunable rule and the two thresholds.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Weight per tunable rule, in [`Tuner::rules`] order.
    pub weights: Vec<f64>,
    /// The SPAM threshold.
    pub spam_threshold: f64,
    /// The SUSPICIOUS threshold.
    pub suspicious_threshold: f64,
}

/// Counts of one evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Spam messages.
    pub spam: usize,
    /// Spam flagged (anything but NONE or BULK).
    pub spam_flagged: usize,
    /// Spam quarantine-grade (MALICIOUS or SPAM).
    pub spam_quarantined: usize,
    /// Legitimate messages.
    pub ham: usize,
    /// Legitimate mail flagged.
    pub ham_flagged: usize,
    /// Legitimate mail quarantine-grade.
    pub ham_quarantined: usize,
}

impl Outcome {
    /// Counts one message judged `d`.
    pub fn add(&mut self, d: Disposition, spam: bool) {
        let flagged = !matches!(d, Disposition::None | Disposition::Bulk);
        let quarantined = matches!(d, Disposition::Malicious | Disposition::Spam);
        if spam {
            self.spam += 1;
            self.spam_flagged += usize::from(flagged);
            self.spam_quarantined += usize::from(quarantined);
        } else {
            self.ham += 1;
            self.ham_flagged += usize::from(flagged);
            self.ham_quarantined += usize::from(quarantined);
        }
    }

    /// Spam flagged / spam.
    pub fn recall(&self) -> f64 {
        self.spam_flagged as f64 / self.spam.max(1) as f64
    }

    /// Legitimate flagged / legitimate.
    pub fn false_positives(&self) -> f64 {
        self.ham_flagged as f64 / self.ham.max(1) as f64
    }

    fn merge(&mut self, o: Outcome) {
        self.spam += o.spam;
        self.spam_flagged += o.spam_flagged;
        self.spam_quarantined += o.spam_quarantined;
        self.ham += o.ham;
        self.ham_flagged += o.ham_flagged;
        self.ham_quarantined += o.ham_quarantined;
    }
}

/// The recorded corpus and what may be tuned.
pub struct Tuner {
    /// Tunable rule ids.
    pub rules: Vec<String>,
    /// Their disposition.
    dispositions: Vec<Disposition>,
    /// The rules' weights today.
    pub current: Candidate,
    engine: EngineConfig,
    messages: Vec<Scored>,
}

/// The fit and how it did.
pub struct Tuned {
    /// The proposed weights and thresholds.
    pub proposal: Candidate,
    /// The current weights, cross-validated on the same folds (nothing is
    /// fitted, so this is the corpus as it is).
    pub before: Outcome,
    /// The procedure, cross-validated: each fold judged by a fit on the
    /// others.
    pub after_cv: Outcome,
    /// The proposal on the whole corpus it was fitted on.
    pub after_fit: Outcome,
}

impl Tuner {
    /// Records each labelled verdict's findings under `rules` (the rules
    /// that produced them). `labelled` holds (verdict, is spam).
    pub fn new(rules: &Rules, labelled: &[(Verdict, bool)]) -> Tuner {
        let mut hits: BTreeMap<&str, usize> = BTreeMap::new();
        for (verdict, _) in labelled {
            for f in &verdict.findings {
                *hits.entry(f.rule.as_str()).or_default() += 1;
            }
        }
        let tunable: Vec<(String, Disposition, f64)> = hits
            .iter()
            .filter(|(_, n)| **n >= MIN_HITS)
            .filter_map(|(id, _)| rules.score(id).map(|s| (*id, s)))
            .filter(|(_, s)| {
                s.weight > 0.0
                    && matches!(s.disposition, Disposition::Spam | Disposition::Suspicious)
            })
            .map(|(id, s)| (id.to_string(), s.disposition, s.weight))
            .collect();
        let index: BTreeMap<&str, usize> = tunable
            .iter()
            .enumerate()
            .map(|(i, (id, _, _))| (id.as_str(), i))
            .collect();
        let current = Candidate {
            weights: tunable.iter().map(|t| t.2).collect(),
            spam_threshold: rules.threshold(Disposition::Spam),
            suspicious_threshold: rules.threshold(Disposition::Suspicious),
        };
        let mut tuner = Tuner {
            rules: tunable.iter().map(|t| t.0.clone()).collect(),
            dispositions: tunable.iter().map(|t| t.1).collect(),
            current,
            engine: rules.engine.clone(),
            messages: Vec::with_capacity(labelled.len()),
        };
        let engine = tuner.engine_for(&tuner.current);
        for (verdict, spam) in labelled {
            let mut scored = Scored {
                spam: *spam,
                terms: Vec::new(),
                fixed_raw: [0.0; 6],
                pinned: None,
            };
            for f in &verdict.findings {
                match index.get(f.rule.as_str()) {
                    Some(&i) if f.disposition == tuner.dispositions[i] => {
                        scored.terms.push((i, f.weight / tuner.current.weights[i]));
                    }
                    _ => scored.fixed_raw[f.disposition.index()] += f.weight,
                }
            }
            // A verdict the weights did not decide keeps its disposition.
            if tuner.judge(&scored, &tuner.current, &engine) != verdict.disposition {
                scored.pinned = Some(verdict.disposition);
            }
            tuner.messages.push(scored);
        }
        tuner
    }

    /// Labelled messages recorded.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The engine configuration with a candidate's thresholds.
    fn engine_for(&self, c: &Candidate) -> EngineConfig {
        let mut engine = self.engine.clone();
        engine.thresholds[Disposition::Spam.index()] = c.spam_threshold;
        engine.thresholds[Disposition::Suspicious.index()] = c.suspicious_threshold;
        engine
    }

    fn judge(&self, m: &Scored, c: &Candidate, engine: &EngineConfig) -> Disposition {
        if let Some(d) = m.pinned {
            return d;
        }
        let mut raw = m.fixed_raw;
        for &(rule, factor) in &m.terms {
            raw[self.dispositions[rule].index()] += c.weights[rule] * factor;
        }
        score_sums(raw, engine, &[]).0
    }

    /// Evaluates a candidate on the messages in `members`.
    pub fn evaluate(&self, c: &Candidate, members: &[usize]) -> Outcome {
        let engine = self.engine_for(c);
        let mut o = Outcome::default();
        for &i in members {
            let m = &self.messages[i];
            o.add(self.judge(m, c, &engine), m.spam);
        }
        o
    }

    /// Coordinate search from the current weights on `members`.
    fn fit(&self, members: &[usize], max_fp: f64) -> Candidate {
        // Under the cap: more recall, then fewer flagged legitimate
        // messages. Over it: fewer flagged legitimate messages first.
        let objective = |o: &Outcome| {
            let within = o.false_positives() <= max_fp;
            (
                u8::from(within),
                if within {
                    o.spam_flagged as i64
                } else {
                    -(o.ham_flagged as i64)
                },
                -(o.ham_flagged as i64),
            )
        };
        let mut best = self.current.clone();
        let mut best_score = objective(&self.evaluate(&best, members));
        let mut order: Vec<usize> = (0..self.rules.len()).collect();
        // Most-hit rules first: they move the most messages.
        let hits = |r: usize| {
            members
                .iter()
                .filter(|&&i| self.messages[i].terms.iter().any(|t| t.0 == r))
                .count()
        };
        order.sort_by_key(|&r| std::cmp::Reverse(hits(r)));
        for _ in 0..PASSES {
            let mut improved = false;
            for which in 0..2 {
                for t in THRESHOLDS {
                    let mut c = best.clone();
                    if which == 0 {
                        c.spam_threshold = t;
                    } else {
                        c.suspicious_threshold = t;
                    }
                    let s = objective(&self.evaluate(&c, members));
                    if s > best_score {
                        (best, best_score, improved) = (c, s, true);
                    }
                }
            }
            for &r in &order {
                for m in MULTIPLIERS {
                    let mut c = best.clone();
                    c.weights[r] = self.current.weights[r] * m;
                    let s = objective(&self.evaluate(&c, members));
                    if s > best_score {
                        (best, best_score, improved) = (c, s, true);
                    }
                }
            }
            if !improved {
                break;
            }
        }
        best
    }

    /// Cross-validates the search on `k` folds, then fits on everything.
    pub fn tune(&self, max_fp: f64, k: usize, seed: u64) -> Tuned {
        let spam: Vec<bool> = self.messages.iter().map(|m| m.spam).collect();
        let fold_of = assign_folds(&spam, k, seed);
        let mut before = Outcome::default();
        let mut after_cv = Outcome::default();
        for fold in 0..k {
            let (held, rest): (Vec<usize>, Vec<usize>) =
                (0..self.messages.len()).partition(|&i| fold_of[i] == fold);
            let fitted = self.fit(&rest, max_fp);
            after_cv.merge(self.evaluate(&fitted, &held));
            before.merge(self.evaluate(&self.current, &held));
        }
        let everything: Vec<usize> = (0..self.messages.len()).collect();
        let proposal = self.fit(&everything, max_fp);
        let after_fit = self.evaluate(&proposal, &everything);
        Tuned {
            proposal,
            before,
            after_cv,
            after_fit,
        }
    }

    /// The rules whose weight the proposal changes: (id, before, after).
    pub fn changes<'a>(&'a self, c: &'a Candidate) -> impl Iterator<Item = (&'a str, f64, f64)> {
        self.rules
            .iter()
            .enumerate()
            .filter(move |(i, _)| (c.weights[*i] - self.current.weights[*i]).abs() > 1e-9)
            .map(move |(i, id)| (id.as_str(), self.current.weights[i], c.weights[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule A (SPAM, 3) hits every spam, rule B (SPAM, 3) half the spam
    /// and every legitimate message: today half the spam is missed.
    fn tuner() -> Tuner {
        let term = |rule: usize| (rule, 1.0);
        let message = |spam: bool, terms: Vec<(usize, f64)>| Scored {
            spam,
            terms,
            fixed_raw: [0.0; 6],
            pinned: None,
        };
        let mut messages = Vec::new();
        for _ in 0..10 {
            messages.push(message(true, vec![term(0), term(1)]));
            messages.push(message(true, vec![term(0)]));
            messages.push(message(false, vec![term(1)]));
        }
        Tuner {
            rules: vec!["A".into(), "B".into()],
            dispositions: vec![Disposition::Spam, Disposition::Spam],
            current: Candidate {
                weights: vec![3.0, 3.0],
                spam_threshold: 5.0,
                suspicious_threshold: 5.0,
            },
            engine: mailsift_testkit::engine().rules().engine.clone(),
            messages,
        }
    }

    #[test]
    fn raises_recall_without_crossing_the_false_positive_cap() {
        let t = tuner();
        let all: Vec<usize> = (0..t.len()).collect();
        let today = t.evaluate(&t.current, &all);
        assert_eq!((today.spam_flagged, today.ham_flagged), (10, 0));
        for cap in [0.0, 0.005, 0.2] {
            let tuned = t.tune(cap, 5, 1);
            let o = tuned.after_fit;
            assert_eq!(o.spam_flagged, 20, "cap {cap}: every spam caught: {o:?}");
            assert_eq!(
                o.ham_flagged, 0,
                "cap {cap}: no legitimate mail flagged: {o:?}"
            );
            assert!(
                tuned.after_cv.false_positives() <= cap + 1e-9,
                "{:?}",
                tuned.after_cv
            );
            let changed: Vec<&str> = t.changes(&tuned.proposal).map(|c| c.0).collect();
            assert!(
                changed.contains(&"A"),
                "A is the rule to trust more: {changed:?}"
            );
        }
    }

    #[test]
    fn an_impossible_cap_still_flags_less_legitimate_mail() {
        let mut t = tuner();
        // Legitimate mail that B alone already quarantines today.
        for m in t.messages.iter_mut().filter(|m| !m.spam) {
            m.terms.push((1, 1.0));
        }
        let all: Vec<usize> = (0..t.len()).collect();
        assert_eq!(t.evaluate(&t.current, &all).ham_flagged, 10);
        let o = t.tune(0.0, 5, 1).after_fit;
        assert_eq!(o.ham_flagged, 0, "B loses its weight: {o:?}");
    }
}
