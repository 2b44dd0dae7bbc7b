//! Platt scaling: fits `p = 1 / (1 + exp(-(a·s + b)))` to cross-validated
//! raw scores, so the probability the check reports means what it says on
//! mail the model did not learn from. Newton's method on the log loss, with
//! Platt's smoothed targets.

use mailsift_core::model::Calibration;

/// Fits a calibration to `(raw score, is spam)` pairs.
pub fn platt(scored: &[(f64, bool)]) -> Calibration {
    let positives = scored.iter().filter(|(_, y)| *y).count() as f64;
    let negatives = scored.len() as f64 - positives;
    let hi = (positives + 1.0) / (positives + 2.0);
    let lo = 1.0 / (negatives + 2.0);
    let (mut a, mut b) = (1.0f64, 0.0f64);
    for _ in 0..100 {
        // Gradient and Hessian of the log loss in (a, b).
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for &(s, y) in scored {
            let t = if y { hi } else { lo };
            let p = 1.0 / (1.0 + (-(a * s + b)).exp());
            let d = p - t;
            let w = (p * (1.0 - p)).max(1e-12);
            ga += d * s;
            gb += d;
            haa += w * s * s;
            hab += w * s;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() < 1e-9 && db.abs() < 1e-9 {
            break;
        }
    }
    if !(a.is_finite() && b.is_finite()) || a <= 0.0 {
        // Scores that do not separate: keep the raw logistic.
        return Calibration { a: 1.0, b: 0.0 };
    }
    Calibration { a, b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overconfident_scores_are_tempered() {
        // Raw scores twice too large: the fitted slope is about a half.
        let mut scored = Vec::new();
        for i in 0..2000 {
            let s = (i as f64 / 2000.0) * 8.0 - 4.0;
            let p_true = 1.0 / (1.0 + (-s / 2.0).exp());
            // Deterministic labels in proportion to p_true.
            let spam = ((i * 7919) % 1000) as f64 / 1000.0 < p_true;
            scored.push((s, spam));
        }
        let c = platt(&scored);
        assert!((c.a - 0.5).abs() < 0.15, "{c:?}");
        assert!(c.b.abs() < 0.3, "{c:?}");
    }
}
