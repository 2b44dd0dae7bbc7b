//! FTRL-proximal logistic regression (McMahan et al., "Ad Click Prediction:
//! a View from the Trenches", 2013): per-coordinate learning rates and L1
//! that keeps most of the 2^bits weights at exactly zero, so the model
//! file stays small. Each example is a set of weight indices (binary
//! features) and a label.

use crate::rng::SplitMix;

/// Learning settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Hash bits: 2^bits weights.
    pub bits: u8,
    /// Learning rate scale.
    pub alpha: f64,
    /// Learning rate smoothing.
    pub beta: f64,
    /// L1 strength (sparsity).
    pub l1: f64,
    /// L2 strength.
    pub l2: f64,
    /// Passes over the examples, each in a new seeded order.
    pub epochs: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            bits: 16,
            alpha: 0.2,
            beta: 1.0,
            l1: 0.05,
            l2: 0.1,
            epochs: 6,
        }
    }
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ftrl bits={} alpha={} beta={} l1={} l2={} epochs={}",
            self.bits, self.alpha, self.beta, self.l1, self.l2, self.epochs
        )
    }
}

/// One labelled message as the learner sees it.
#[derive(Clone, Debug)]
pub struct Example {
    /// Distinct weight indices of its tokens, sorted.
    pub features: Vec<u32>,
    /// Spam (true) or legitimate.
    pub spam: bool,
}

/// A learner's state: `z` and `n` per coordinate, the bias last.
pub struct Ftrl {
    settings: Settings,
    z: Vec<f64>,
    n: Vec<f64>,
}

impl Ftrl {
    /// A fresh learner.
    pub fn new(settings: Settings) -> Ftrl {
        let size = (1usize << settings.bits) + 1;
        Ftrl {
            settings,
            z: vec![0.0; size],
            n: vec![0.0; size],
        }
    }

    fn bias_index(&self) -> usize {
        self.z.len() - 1
    }

    /// The current weight of coordinate `i` (closed form of the FTRL step).
    fn weight(&self, i: usize) -> f64 {
        let s = &self.settings;
        // The bias is not sparsified.
        let l1 = if i == self.bias_index() { 0.0 } else { s.l1 };
        let z = self.z[i];
        if z.abs() <= l1 {
            return 0.0;
        }
        -(z - z.signum() * l1) / ((s.beta + self.n[i].sqrt()) / s.alpha + s.l2)
    }

    /// The raw score (log-odds) of an example.
    pub fn score(&self, features: &[u32]) -> f64 {
        features
            .iter()
            .map(|&i| self.weight(i as usize))
            .sum::<f64>()
            + self.weight(self.bias_index())
    }

    /// Learns from `examples` (indices into `all`) for the configured
    /// epochs, shuffling each epoch with `rng`.
    pub fn fit(&mut self, all: &[Example], examples: &[usize], rng: &mut SplitMix) {
        let mut order = examples.to_vec();
        for _ in 0..self.settings.epochs {
            rng.shuffle(&mut order);
            for &e in &order {
                self.update(&all[e]);
            }
        }
    }

    fn update(&mut self, example: &Example) {
        let p = sigmoid(self.score(&example.features));
        let g = p - if example.spam { 1.0 } else { 0.0 };
        let bias = self.bias_index();
        for i in example
            .features
            .iter()
            .map(|&i| i as usize)
            .chain(std::iter::once(bias))
        {
            let w = self.weight(i);
            let n = self.n[i];
            let sigma = ((n + g * g).sqrt() - n.sqrt()) / self.settings.alpha;
            self.z[i] += g - sigma * w;
            self.n[i] = n + g * g;
        }
    }

    /// The learned weights (2^bits of them) and the bias.
    pub fn weights(&self) -> (Vec<f32>, f64) {
        let weights = (0..self.bias_index())
            .map(|i| self.weight(i) as f32)
            .collect();
        (weights, self.weight(self.bias_index()))
    }
}

/// The logistic function.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_toy_problem() {
        let all: Vec<Example> = (0..200)
            .map(|i| Example {
                features: if i % 2 == 0 { vec![1, 7] } else { vec![2, 7] },
                spam: i % 2 == 0,
            })
            .collect();
        let mut learner = Ftrl::new(Settings {
            bits: 10,
            ..Settings::default()
        });
        let idx: Vec<usize> = (0..all.len()).collect();
        learner.fit(&all, &idx, &mut SplitMix::new(1));
        assert!(learner.score(&[1, 7]) > 1.0);
        assert!(learner.score(&[2, 7]) < -1.0);
        let (w, _) = learner.weights();
        assert_eq!(w.len(), 1024);
        assert_eq!(w[500], 0.0, "an unseen coordinate stays zero");
    }
}
