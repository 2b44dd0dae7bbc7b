//! mailsift-train: the content classifier's trainer.
//!
//! A labelled corpus in, a model file out ([`mailsift_core::model`]):
//! every message's tokens ([`mailsift_core::features`], the same code the
//! `model` check runs), FTRL-proximal logistic regression over their
//! hashes ([`ftrl`]), Platt calibration and report thresholds fitted on
//! K-fold out-of-fold scores ([`calibrate`], [`cv`]). [`tune`] fits rule
//! weights and thresholds under a false-positive cap. Deterministic: the
//! same corpus, settings and seed give the same bytes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod calibrate;
pub mod cv;
pub mod examples;
pub mod ftrl;
pub mod rng;
pub mod tune;

pub use cv::CrossValidation;
pub use examples::{Examples, TrainError};
pub use ftrl::Settings;

use mailsift_core::model::{ModelMeta, FEATURES_VERSION};
use mailsift_core::Model;
use rng::SplitMix;

/// A trained model and how it did under cross-validation.
pub struct Trained {
    /// The model, calibrated, with its report thresholds.
    pub model: Model,
    /// Out-of-fold figures at the model's thresholds.
    pub cv: CrossValidation,
}

/// Trains on every example, calibrating on `folds`-fold out-of-fold
/// scores (at least 2 folds).
pub fn train(
    examples: &Examples,
    settings: Settings,
    seed: u64,
    folds: usize,
) -> Result<Trained, TrainError> {
    let (spam, ham) = examples.counts();
    if spam < folds || ham < folds {
        return Err(TrainError::TooFew { spam, ham, folds });
    }
    let cv = cv::cross_validate(examples, settings, seed, folds.max(2));
    let mut learner = ftrl::Ftrl::new(settings);
    let everything: Vec<usize> = (0..examples.list.len()).collect();
    learner.fit(&examples.list, &everything, &mut SplitMix::new(seed));
    let (weights, bias) = learner.weights();
    let meta = ModelMeta {
        features_version: FEATURES_VERSION,
        bits: settings.bits,
        bias,
        calibration: cv.calibration,
        thresholds: cv.thresholds,
        spam_messages: spam,
        ham_messages: ham,
        settings: format!("{settings} seed={seed} folds={}", folds.max(2)),
    };
    let model = Model::new(meta, weights).map_err(TrainError::Model)?;
    Ok(Trained { model, cv })
}
