//! A labelled corpus as the learner sees it: each message's distinct token
//! hashes and whether it is spam.

use crate::ftrl::Example;
use mailsift_core::model::slot;
use mailsift_core::{features, Engine, Envelope};
use mailsift_corpus::{Labels, Skipped};
use rayon::prelude::*;
use std::path::PathBuf;

/// Why training cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Too few messages of a class for the folds.
    #[error("{spam} spam and {ham} legitimate messages labelled: need at least {folds} of each (one per fold); check --labels")]
    TooFew {
        /// Spam messages.
        spam: usize,
        /// Legitimate messages.
        ham: usize,
        /// Folds asked for.
        folds: usize,
    },
    /// The trained weights do not make a model (a bug).
    #[error("cannot build the model: {0}")]
    Model(mailsift_core::ModelError),
}

/// The labelled messages of a corpus, in a stable order.
pub struct Examples {
    /// The examples.
    pub list: Vec<Example>,
    /// Each example's name (path, or `file.mbox#N`).
    pub names: Vec<String>,
    /// Messages read that have no label.
    pub unlabelled: usize,
    /// Messages that could not be read or are not messages, with why.
    pub unreadable: Vec<(String, String)>,
    /// Files skipped by the walk, with why.
    pub skipped: Vec<(String, String)>,
}

impl Examples {
    /// Reads every message under `paths` that `labels` names and draws its
    /// tokens, hashed into `2^bits` slots (in parallel on the current
    /// rayon pool; the order is the corpus order whatever the threads).
    pub fn load(paths: &[PathBuf], labels: &Labels, engine: &Engine, bits: u8) -> Examples {
        let max_bytes = engine.rules().engine.limits.max_message_bytes;
        let skipped = Skipped::new();
        // Streamed: one message's bytes at a time per thread, only the
        // token hashes kept.
        let mut drawn: Vec<(usize, String, Result<Option<Example>, String>)> =
            mailsift_corpus::messages(paths.to_vec(), max_bytes, &skipped)
                .enumerate()
                .par_bridge()
                .map(|(i, item)| {
                    let result = match (labels.get(&item.name), item.bytes) {
                        (None, _) => Ok(None),
                        (Some(_), Err(e)) => Err(e),
                        (Some(label), Ok(raw)) => draw(engine, &raw, bits).map(|features| {
                            Some(Example {
                                features,
                                spam: label.is_spam(),
                            })
                        }),
                    };
                    (i, item.name, result)
                })
                .collect();
        drawn.sort_by_key(|(i, _, _)| *i);
        let mut examples = Examples {
            list: Vec::new(),
            names: Vec::new(),
            unlabelled: 0,
            unreadable: Vec::new(),
            skipped: skipped.list(),
        };
        for (_, name, result) in drawn {
            match result {
                Ok(Some(example)) => {
                    examples.list.push(example);
                    examples.names.push(name);
                }
                Ok(None) => examples.unlabelled += 1,
                Err(why) => examples.unreadable.push((name, why)),
            }
        }
        examples
    }

    /// Spam and legitimate examples.
    pub fn counts(&self) -> (usize, usize) {
        let spam = self.list.iter().filter(|e| e.spam).count();
        (spam, self.list.len() - spam)
    }
}

/// One message's distinct token hashes, sorted.
pub fn draw(engine: &Engine, raw: &[u8], bits: u8) -> Result<Vec<u32>, String> {
    engine
        .with_context(raw, Envelope::default(), |ctx| {
            let mut out = Vec::new();
            features::tokens(ctx, &mut |t| out.push(slot(t.hash, bits)));
            out.sort_unstable();
            out.dedup();
            out
        })
        .ok_or_else(|| "not an RFC 5322 message".to_string())
}
