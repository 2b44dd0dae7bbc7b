//! K-fold cross-validation: every message scored by a model that did not
//! learn from it. Those out-of-fold scores fit the calibration and choose
//! the thresholds the `model` check reports at, and the per-fold figures
//! at those thresholds show how far the model can be trusted.

use crate::calibrate::platt;
use crate::examples::Examples;
use crate::ftrl::{Ftrl, Settings};
use crate::rng::SplitMix;
use mailsift_core::model::{Calibration, Thresholds};
use rayon::prelude::*;
use std::fmt;

/// Legitimate mail the model may rate `MODEL_SPAM` (out of fold).
pub const SPAM_FALSE_POSITIVES: f64 = 0.01;
/// Legitimate mail the model may rate `MODEL_SPAM_CONFIDENT`.
pub const CONFIDENT_FALSE_POSITIVES: f64 = 0.001;
/// Spam the model may rate `MODEL_HAM`.
pub const HAM_MISSES: f64 = 0.01;

/// Figures at the chosen thresholds, for one fold or all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FoldFigures {
    /// Spam and legitimate messages scored.
    pub spam: usize,
    /// Legitimate messages scored.
    pub ham: usize,
    /// Spam at or above the `spam` threshold.
    pub spam_caught: usize,
    /// Legitimate mail at or above the `spam` threshold.
    pub ham_flagged: usize,
    /// Spam at or above the `confident` threshold.
    pub spam_confident: usize,
    /// Legitimate mail at or above the `confident` threshold.
    pub ham_confident: usize,
    /// Legitimate mail at or below the `ham` threshold.
    pub ham_cleared: usize,
    /// Spam at or below the `ham` threshold.
    pub spam_cleared: usize,
}

impl FoldFigures {
    fn add(&mut self, p: f64, spam: bool, t: &Thresholds) {
        if spam {
            self.spam += 1;
            self.spam_caught += usize::from(p >= t.spam);
            self.spam_confident += usize::from(p >= t.confident);
            self.spam_cleared += usize::from(p <= t.ham);
        } else {
            self.ham += 1;
            self.ham_flagged += usize::from(p >= t.spam);
            self.ham_confident += usize::from(p >= t.confident);
            self.ham_cleared += usize::from(p <= t.ham);
        }
    }
}

/// The outcome of cross-validation.
#[derive(Clone, Debug)]
pub struct CrossValidation {
    /// Folds.
    pub k: usize,
    /// Calibration fitted on the out-of-fold scores.
    pub calibration: Calibration,
    /// Thresholds chosen on the calibrated out-of-fold probabilities.
    pub thresholds: Thresholds,
    /// Per fold, then all folds together.
    pub folds: Vec<FoldFigures>,
    /// All folds.
    pub overall: FoldFigures,
    /// Each example's out-of-fold calibrated probability.
    pub probabilities: Vec<f64>,
}

/// The fold of each item, stratified by class (`spam[i]`), assigned by a
/// seeded shuffle: every fold holds its share of each class.
pub fn assign_folds(spam: &[bool], k: usize, seed: u64) -> Vec<usize> {
    let mut fold_of = vec![0usize; spam.len()];
    let mut rng = SplitMix::new(seed ^ 0x5eed_f01d);
    for class in [true, false] {
        let mut members: Vec<usize> = (0..spam.len()).filter(|&i| spam[i] == class).collect();
        rng.shuffle(&mut members);
        for (rank, i) in members.into_iter().enumerate() {
            fold_of[i] = rank % k.max(1);
        }
    }
    fold_of
}

/// Scores every example with a model trained on the other folds.
pub fn cross_validate(
    examples: &Examples,
    settings: Settings,
    seed: u64,
    k: usize,
) -> CrossValidation {
    let n = examples.list.len();
    let spam: Vec<bool> = examples.list.iter().map(|e| e.spam).collect();
    let fold_of = assign_folds(&spam, k, seed);
    let scored: Vec<Vec<(usize, f64)>> = (0..k)
        .into_par_iter()
        .map(|fold| {
            let train: Vec<usize> = (0..n).filter(|&i| fold_of[i] != fold).collect();
            let mut learner = Ftrl::new(settings);
            learner.fit(
                &examples.list,
                &train,
                &mut SplitMix::new(seed.wrapping_add(fold as u64 + 1)),
            );
            (0..n)
                .filter(|&i| fold_of[i] == fold)
                .map(|i| (i, learner.score(&examples.list[i].features)))
                .collect()
        })
        .collect();
    let mut raw = vec![0f64; n];
    for (i, s) in scored.into_iter().flatten() {
        raw[i] = s;
    }
    let pairs: Vec<(f64, bool)> = raw
        .iter()
        .zip(&examples.list)
        .map(|(s, e)| (*s, e.spam))
        .collect();
    let calibration = platt(&pairs);
    let probabilities: Vec<f64> = raw.iter().map(|s| calibration.probability(*s)).collect();
    let thresholds = choose_thresholds(&probabilities, examples);
    let mut folds = vec![FoldFigures::default(); k];
    let mut overall = FoldFigures::default();
    for (i, p) in probabilities.iter().enumerate() {
        let spam = examples.list[i].spam;
        folds[fold_of[i]].add(*p, spam, &thresholds);
        overall.add(*p, spam, &thresholds);
    }
    CrossValidation {
        k,
        calibration,
        thresholds,
        folds,
        overall,
        probabilities,
    }
}

/// The thresholds that keep out-of-fold false positives (and cleared
/// spam) within the targets above.
fn choose_thresholds(probabilities: &[f64], examples: &Examples) -> Thresholds {
    let mut ham: Vec<f64> = Vec::new();
    let mut spam: Vec<f64> = Vec::new();
    for (p, e) in probabilities.iter().zip(&examples.list) {
        if e.spam {
            spam.push(*p)
        } else {
            ham.push(*p)
        }
    }
    ham.sort_by(|a, b| b.total_cmp(a)); // highest first
    spam.sort_by(f64::total_cmp); // lowest first
                                  // Just above the legitimate message at the allowed rank: at most that
                                  // share of legitimate mail reaches the threshold.
    let above = |share: f64| {
        let rank = (share * ham.len() as f64).floor() as usize;
        ham.get(rank).map_or(0.5, |p| next_up(*p))
    };
    let spam_at = above(SPAM_FALSE_POSITIVES).clamp(0.5, 0.999_999);
    let confident = above(CONFIDENT_FALSE_POSITIVES).clamp(spam_at, 0.999_999);
    let rank = (HAM_MISSES * spam.len() as f64).floor() as usize;
    let ham_at = spam
        .get(rank)
        .map_or(0.0, |p| next_down(*p))
        .clamp(0.0, 0.4)
        .min(next_down(spam_at));
    Thresholds {
        ham: ham_at,
        spam: spam_at,
        confident,
    }
}

fn next_up(p: f64) -> f64 {
    p + (1.0 - p) * 1e-6 + 1e-12
}

fn next_down(p: f64) -> f64 {
    p - p * 1e-6 - 1e-12
}

fn pct(n: usize, of: usize) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{:.2}%", 100.0 * n as f64 / of as f64)
    }
}

impl fmt::Display for CrossValidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.thresholds;
        writeln!(
            f,
            "{}-fold cross-validation (out-of-fold, calibrated): thresholds ham ≤ {:.4}, spam ≥ {:.4}, confident ≥ {:.4}",
            self.k, t.ham, t.spam, t.confident
        )?;
        writeln!(
            f,
            "  {:<8} {:>6} {:>6} {:>13} {:>10} {:>13} {:>10} {:>12} {:>12}",
            "fold",
            "spam",
            "ham",
            "spam recall",
            "ham FP",
            "conf. recall",
            "conf. FP",
            "ham cleared",
            "spam cleared"
        )?;
        let rows = self
            .folds
            .iter()
            .enumerate()
            .map(|(i, r)| ((i + 1).to_string(), r))
            .chain(std::iter::once(("all".to_string(), &self.overall)));
        for (name, r) in rows {
            writeln!(
                f,
                "  {:<8} {:>6} {:>6} {:>13} {:>10} {:>13} {:>10} {:>12} {:>12}",
                name,
                r.spam,
                r.ham,
                pct(r.spam_caught, r.spam),
                pct(r.ham_flagged, r.ham),
                pct(r.spam_confident, r.spam),
                pct(r.ham_confident, r.ham),
                pct(r.ham_cleared, r.ham),
                pct(r.spam_cleared, r.spam),
            )?;
        }
        Ok(())
    }
}
