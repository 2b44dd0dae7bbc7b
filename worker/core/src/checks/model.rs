//! The learned content classifier, when the operator loaded one
//! (`--model`): its calibrated spam probability becomes findings the one
//! decision pass weighs with the rules.
//!
//! Agreement is what quarantines mail. The model alone never makes a
//! message SPAM: `MODEL_SPAM` weighs towards SUSPICIOUS, so a message only
//! the model dislikes is flagged for a look, not held. Unless the model is
//! sure (`MODEL_SPAM_CONFIDENT`, which adds nothing by default), rule-only
//! spam evidence counts less: `MODEL_NOT_SPAM` and, when the model is sure
//! the message is legitimate, `MODEL_HAM` take weight off SPAM, so a
//! newsletter's marketing phrases alone do not quarantine it either.
//! Neither touches MALICIOUS or SPOOF. The thresholds come with the model,
//! chosen by `mailsift train` on cross-validated scores.

use super::{Check, Context, Findings};
use crate::features;
use crate::finding::Finding;

crate::rules! {
    MODEL_SPAM: Suspicious, 5.0, "the trained content classifier rates the message likely spam";
    MODEL_SPAM_CONFIDENT: Spam, 0.0, "the trained content classifier is sure the message is spam: rule evidence counts in full";
    MODEL_NOT_SPAM: Spam, -2.0, "the trained content classifier is not sure the message is spam: rule-only spam evidence counts less";
    MODEL_HAM: Spam, -3.0, "the trained content classifier is sure the message is legitimate (adds to MODEL_NOT_SPAM)";
}

/// The check.
pub const CHECK: Check = Check {
    name: "model",
    run,
    rules: RULES,
};

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Findings::new(ctx.rules);
    let Some(model) = ctx.rules.model.as_deref() else {
        return out.into_vec();
    };
    let mut scorer = model.scorer();
    features::tokens(ctx, &mut |t| scorer.add(t));
    let prediction = scorer.finish();
    let p = prediction.probability;
    let t = model.meta.thresholds;
    // Built once; numbers through integer formatting (float formatting
    // would cost more than scoring a short message).
    let mut weighed = String::with_capacity(160);
    for (i, (token, w)) in prediction.top.iter().enumerate() {
        if i > 0 {
            weighed.push_str(", ");
        }
        weighed.push_str(token);
        weighed.push(' ');
        if *w >= 0.0 {
            weighed.push('+');
        }
        push_fixed(&mut weighed, f64::from(*w), 2);
    }
    let evidence = |at: f64| {
        let mut e = String::with_capacity(weighed.len() + 80);
        e.push_str("p(spam) = ");
        push_fixed(&mut e, p, 3);
        e.push_str(" (reported at ");
        push_fixed(&mut e, at, 3);
        e.push_str("; model ");
        e.push_str(model.version());
        e.push_str("); weighed most: ");
        e.push_str(&weighed);
        e
    };
    if p >= t.spam {
        out.add(MODEL_SPAM, evidence(t.spam));
    }
    if p >= t.confident {
        out.add(MODEL_SPAM_CONFIDENT, evidence(t.confident));
    } else {
        out.add(MODEL_NOT_SPAM, evidence(t.confident));
    }
    if p <= t.ham {
        out.add(MODEL_HAM, evidence(t.ham));
    }
    out.into_vec()
}

/// Appends `x` with `decimals` digits after the point (rounded half away
/// from zero), as `format!("{x:.N}")` would for the values shown here.
fn push_fixed(out: &mut String, x: f64, decimals: u32) {
    use std::fmt::Write as _;
    let scale = 10i64.pow(decimals);
    let scaled = (x * scale as f64).round();
    if !scaled.is_finite() || scaled.abs() >= 1e15 {
        let _ = write!(out, "{x:.*}", decimals as usize);
        return;
    }
    let n = scaled as i64;
    if n < 0 {
        out.push('-');
    }
    let n = n.unsigned_abs();
    let scale = scale.unsigned_abs();
    let mut digits = itoa::Buffer::new();
    out.push_str(digits.format(n / scale));
    out.push('.');
    let fraction = digits.format(n % scale);
    for _ in fraction.len()..decimals as usize {
        out.push('0');
    }
    out.push_str(fraction);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{token_index, Model, ModelMeta, Thresholds};
    use crate::{Engine, Envelope, Rules};
    use std::sync::Arc;

    /// The check tests' rules with a tiny model: `viagra` is spam,
    /// `meeting` is legitimate.
    fn engine_with_model() -> Engine {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rules");
        let mut rules = Rules::load(&dir, &crate::engine::catalogue()).expect("rules");
        let bits = 12;
        let mut weights = vec![0f32; 1 << bits];
        weights[token_index(&["w:", "viagra"], bits) as usize] = 6.0;
        weights[token_index(&["w:", "meeting"], bits) as usize] = -6.0;
        let meta = ModelMeta {
            thresholds: Thresholds {
                ham: 0.05,
                spam: 0.9,
                confident: 0.99,
            },
            ..ModelMeta::hand_built(bits)
        };
        rules.model = Some(Arc::new(Model::new(meta, weights).expect("model")));
        Engine::new(Arc::new(rules))
    }

    fn run(engine: &Engine, body: &str) -> Vec<Finding> {
        let raw = format!("From: a@b.example\r\nTo: c@d.example\r\nSubject: x\r\n\r\n{body}\r\n");
        engine.run_single_check(&CHECK, raw.as_bytes(), Envelope::default())
    }

    #[test]
    fn fixed_point_numbers_read_like_float_formatting() {
        for (x, d, shown) in [
            (0.5, 3, "0.500"),
            (0.9734, 3, "0.973"),
            (1.0, 3, "1.000"),
            (0.0, 3, "0.000"),
            (3.456, 2, "3.46"),
            (-2.004, 2, "-2.00"),
            (-0.126, 2, "-0.13"),
            (12.5, 2, "12.50"),
            (1234.5, 2, "1234.50"),
            (0.05, 3, "0.050"),
            (0.001, 3, "0.001"),
        ] {
            let mut s = String::new();
            push_fixed(&mut s, x, d);
            assert_eq!(s, shown, "{x}");
        }
    }

    #[test]
    fn reports_by_the_models_thresholds_with_the_weighing_tokens() {
        let engine = engine_with_model();
        let cases: &[(&str, &[&str])] = &[
            ("cheap viagra", &["MODEL_SPAM", "MODEL_SPAM_CONFIDENT"]),
            ("team meeting", &["MODEL_NOT_SPAM", "MODEL_HAM"]),
            ("hello there", &["MODEL_NOT_SPAM"]),
        ];
        for (body, expected) in cases {
            let findings = run(&engine, body);
            let ids: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
            assert_eq!(&ids, expected, "{body}");
        }
        let spam = run(&engine, "cheap viagra");
        assert!(
            spam[0].evidence.starts_with("p(spam) = 0.99"),
            "{}",
            spam[0].evidence
        );
        assert!(
            spam[0].evidence.contains("w:viagra +6.00"),
            "{}",
            spam[0].evidence
        );
    }

    #[test]
    fn alone_it_flags_but_never_quarantines() {
        let engine = engine_with_model();
        let raw = b"From: a@b.example\r\nTo: c@d.example\r\nSubject: x\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@b.example>\r\n\r\nviagra\r\n";
        let v = engine.classify(raw, None);
        assert_eq!(
            v.disposition,
            crate::Disposition::Suspicious,
            "{:?}",
            v.findings
        );
    }

    #[test]
    fn without_a_model_it_is_silent() {
        let findings = crate::checks::testing::run(
            &CHECK,
            "From: a@b.example\r\n\r\nviagra\r\n",
            Envelope::default(),
        );
        assert!(findings.is_empty());
    }
}
