//! A learned content classifier: logistic regression over hashed features
//! (the tokens [`crate::features`] draws from a message), as written by
//! `mailsift train` and read by the `model` check.
//!
//! The file is versioned and checksummed: a corrupt file, a file from
//! another format version or one whose features this build draws
//! differently is refused with a clear error, and the caller keeps what it
//! had. Layout (little-endian):
//!
//! | bytes | what |
//! |---|---|
//! | 15 | magic `MAILSIFT-MODEL\n` |
//! | 4 | format version ([`FORMAT_VERSION`]) |
//! | 4 + n | header length, then the header as JSON ([`ModelMeta`]) |
//! | 4 + 8k | count of non-zero weights, then k × (index u32, weight f32) |
//! | 32 | SHA-256 of everything before it |

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use crate::features::Token;
use std::cell::RefCell;

/// The file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// How [`crate::features`] draws tokens; a model trained on other features
/// would weigh the wrong tokens, so it is refused.
pub const FEATURES_VERSION: u32 = 2;

const MAGIC: &[u8] = b"MAILSIFT-MODEL\n";

/// Larger files are refused before they are read whole.
pub const MAX_MODEL_BYTES: u64 = 256 * 1024 * 1024;

/// Hash bits allowed in a model (2^bits weights in memory).
const BITS: std::ops::RangeInclusive<u8> = 10..=24;

/// A model file that cannot be used, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("{}: cannot read the model: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not a model file at all.
    #[error(
        "not a mailsift model (no `MAILSIFT-MODEL` magic): pass a file written by `mailsift train`"
    )]
    NotAModel,
    /// Written by a build with another file format.
    #[error("model file format {found}, this build reads format {FORMAT_VERSION}: retrain with this build's `mailsift train`")]
    Format {
        /// The file's format version.
        found: u32,
    },
    /// The bytes do not match their checksum.
    #[error("the model is corrupt (checksum mismatch or truncated): copy it again or retrain")]
    Corrupt,
    /// Trained on features this build draws differently.
    #[error("the model was trained on features version {found}, this build draws version {FEATURES_VERSION}: retrain with this build's `mailsift train`")]
    Features {
        /// The model's features version.
        found: u32,
    },
    /// Well-formed but holding values no trainer writes.
    #[error("the model is invalid: {0}")]
    Invalid(String),
}

/// Logistic calibration of the raw score: `p = 1 / (1 + exp(-(a·s + b)))`,
/// fitted on cross-validated scores (Platt scaling).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Slope.
    pub a: f64,
    /// Intercept.
    pub b: f64,
}

impl Calibration {
    /// The calibrated probability of a raw score.
    pub fn probability(&self, score: f64) -> f64 {
        1.0 / (1.0 + (-(self.a * score + self.b)).exp())
    }
}

/// Probabilities at which the `model` check reports, chosen by the trainer
/// on cross-validated scores.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// At or below: clearly legitimate (`MODEL_HAM`).
    pub ham: f64,
    /// At or above: likely spam (`MODEL_SPAM`).
    pub spam: f64,
    /// At or above: very likely spam (`MODEL_SPAM_CONFIDENT`, on top).
    pub confident: f64,
}

/// What the trainer saw and chose, stored in the file's header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Features version the weights belong to.
    pub features_version: u32,
    /// Hash bits: 2^bits weights.
    pub bits: u8,
    /// The bias (intercept) of the raw score.
    pub bias: f64,
    /// Raw score → probability.
    pub calibration: Calibration,
    /// Where the check reports.
    pub thresholds: Thresholds,
    /// Spam messages trained on.
    pub spam_messages: usize,
    /// Legitimate messages trained on.
    pub ham_messages: usize,
    /// The training settings, for the record (`alpha=… beta=…`).
    pub settings: String,
}

impl ModelMeta {
    /// A header for a model built by hand rather than trained (tests,
    /// benchmarks): no bias, the raw score as the probability's log-odds,
    /// reporting at 0.1 / 0.9 / 0.99.
    pub fn hand_built(bits: u8) -> ModelMeta {
        ModelMeta {
            features_version: FEATURES_VERSION,
            bits,
            bias: 0.0,
            calibration: Calibration { a: 1.0, b: 0.0 },
            thresholds: Thresholds {
                ham: 0.1,
                spam: 0.9,
                confident: 0.99,
            },
            spam_messages: 0,
            ham_messages: 0,
            settings: "built by hand".into(),
        }
    }
}

/// A loaded model: dense weights, ready to score.
#[derive(Clone, PartialEq)]
pub struct Model {
    /// Header.
    pub meta: ModelMeta,
    weights: Vec<f32>,
    /// SHA-256 of the file, hex: the model's version.
    checksum: String,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("version", &self.version())
            .field("meta", &self.meta)
            .field("nonzero_weights", &self.nonzero_weights())
            .finish()
    }
}

/// A message's score under the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Calibrated spam probability.
    pub probability: f64,
    /// Raw score (log-odds before calibration).
    pub score: f64,
    /// The tokens that weighed most, heaviest first, with their weights.
    pub top: Vec<(String, f32)>,
}

/// Tokens kept as evidence per prediction.
const TOP_TOKENS: usize = 6;

/// The index of a token, given as its parts, among 2^bits weights:
/// [`slot`] of [`token_hash`].
pub fn token_index(parts: &[&str], bits: u8) -> u32 {
    slot(token_hash(parts), bits)
}

/// A token's hash: its parts' [`part_hash`]es, in order, through
/// [`combine`]. Written out here because the index is part of the file
/// format and must never change with a dependency's version; per part,
/// so a word's hash is computed once and reused by every token that
/// contains it (the text's word pairs, [`crate::features`]).
pub fn token_hash(parts: &[&str]) -> u64 {
    parts.iter().fold(0, |h, p| combine(h, part_hash(p)))
}

/// Mixes `x` into `h`: rotate, xor, multiply by FxHash's constant.
#[inline]
pub fn combine(h: u64, x: u64) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    (h.rotate_left(5) ^ x).wrapping_mul(K)
}

/// One part's hash: its bytes eight at a time, the last up-to-seven bytes
/// read as two overlapping words (or three sampled bytes when fewer than
/// four), then the length, which makes the overlap unambiguous. No loop
/// over single bytes: this runs for every word of every message.
#[inline]
pub fn part_hash(part: &str) -> u64 {
    let bytes = part.as_bytes();
    let mut h = 0u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = combine(h, u64::from_le_bytes(word));
    }
    let rest = chunks.remainder();
    let n = rest.len();
    let tail = match rest {
        [] => 0,
        [a, ..] if n < 4 => {
            u64::from(*a) | u64::from(rest[n / 2]) << 8 | u64::from(rest[n - 1]) << 16
        }
        _ => {
            let (mut head, mut end) = ([0u8; 4], [0u8; 4]);
            head.copy_from_slice(&rest[..4]);
            end.copy_from_slice(&rest[n - 4..]);
            u64::from(u32::from_le_bytes(head)) | u64::from(u32::from_le_bytes(end)) << 32
        }
    };
    combine(combine(h, tail), bytes.len() as u64)
}

/// A hash's slot among 2^bits weights: folded to 32 bits, masked.
#[inline]
pub fn slot(hash: u64, bits: u8) -> u32 {
    ((hash ^ (hash >> 32)) as u32) & ((1u32 << bits) - 1)
}

impl Model {
    /// A model from trained weights (`weights.len()` must be `2^meta.bits`).
    pub fn new(meta: ModelMeta, weights: Vec<f32>) -> Result<Model, ModelError> {
        if !BITS.contains(&meta.bits) || weights.len() != 1usize << meta.bits {
            return Err(ModelError::Invalid(format!(
                "{} weights for {} hash bits",
                weights.len(),
                meta.bits
            )));
        }
        let mut model = Model {
            meta,
            weights,
            checksum: String::new(),
        };
        let bytes = model.to_bytes();
        model.checksum = hex(&bytes[bytes.len() - 32..]);
        Ok(model)
    }

    /// Reads and checks a model file.
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let read = |source| ModelError::Read {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_MODEL_BYTES {
            return Err(ModelError::Invalid(format!(
                "{len} bytes, more than the {MAX_MODEL_BYTES} a model may have"
            )));
        }
        Model::from_bytes(&std::fs::read(path).map_err(read)?)
    }

    /// The version a model file would load as (its stored checksum), read
    /// cheaply for a reload watcher; the file is fully checked on load.
    pub fn fingerprint(path: &Path) -> Result<String, ModelError> {
        use std::io::{Read, Seek, SeekFrom};
        let read = |source| ModelError::Read {
            path: path.to_path_buf(),
            source,
        };
        // Only the stored checksum: polled, so never the whole file.
        let mut file = std::fs::File::open(path).map_err(read)?;
        let len = file.metadata().map_err(read)?.len();
        if len < 32 {
            return Err(ModelError::Corrupt);
        }
        file.seek(SeekFrom::Start(len - 32)).map_err(read)?;
        let mut sum = [0u8; 32];
        file.read_exact(&mut sum).map_err(read)?;
        Ok(hex(&sum)[..12].to_string())
    }

    /// Parses and checks a model file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(ModelError::NotAModel)?;
        let mut r = Reader(rest);
        let format = r.u32().ok_or(ModelError::Corrupt)?;
        if format != FORMAT_VERSION {
            return Err(ModelError::Format { found: format });
        }
        if bytes.len() < MAGIC.len() + 4 + 32 {
            return Err(ModelError::Corrupt);
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err(ModelError::Corrupt);
        }
        let mut r = Reader(&body[MAGIC.len() + 4..]);
        let header_len = r.u32().ok_or(ModelError::Corrupt)? as usize;
        let header = r.take(header_len).ok_or(ModelError::Corrupt)?;
        let meta: ModelMeta = serde_json::from_slice(header)
            .map_err(|e| ModelError::Invalid(format!("header: {e}")))?;
        if meta.features_version != FEATURES_VERSION {
            return Err(ModelError::Features {
                found: meta.features_version,
            });
        }
        if !BITS.contains(&meta.bits) {
            return Err(ModelError::Invalid(format!(
                "{} hash bits (a model has {}–{})",
                meta.bits,
                BITS.start(),
                BITS.end()
            )));
        }
        let numbers = [
            meta.bias,
            meta.calibration.a,
            meta.calibration.b,
            meta.thresholds.ham,
            meta.thresholds.spam,
            meta.thresholds.confident,
        ];
        if numbers.iter().any(|n| !n.is_finite()) {
            return Err(ModelError::Invalid(
                "a number in the header is not finite".into(),
            ));
        }
        let size = 1usize << meta.bits;
        let count = r.u32().ok_or(ModelError::Corrupt)? as usize;
        if count > size {
            return Err(ModelError::Invalid(format!(
                "{count} weights for {size} slots"
            )));
        }
        let mut weights = vec![0f32; size];
        for _ in 0..count {
            let index = r.u32().ok_or(ModelError::Corrupt)? as usize;
            let weight = f32::from_bits(r.u32().ok_or(ModelError::Corrupt)?);
            match weights.get_mut(index) {
                Some(slot) if weight.is_finite() => *slot = weight,
                _ => {
                    return Err(ModelError::Invalid(format!(
                        "weight {weight} at slot {index} of {size}"
                    )))
                }
            }
        }
        if !r.0.is_empty() {
            return Err(ModelError::Invalid("bytes after the weights".into()));
        }
        Ok(Model {
            meta,
            weights,
            checksum: hex(sum),
        })
    }

    /// The file's bytes (only non-zero weights are stored).
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.meta).unwrap_or_default();
        let nonzero: Vec<(u32, f32)> = self
            .weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0.0)
            .map(|(i, w)| (i as u32, *w))
            .collect();
        let mut out = Vec::with_capacity(MAGIC.len() + 12 + header.len() + nonzero.len() * 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(nonzero.len() as u32).to_le_bytes());
        for (i, w) in nonzero {
            out.extend_from_slice(&i.to_le_bytes());
            out.extend_from_slice(&w.to_bits().to_le_bytes());
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// The model's version: the first 12 hex digits of its checksum.
    pub fn version(&self) -> &str {
        &self.checksum[..12]
    }

    /// Non-zero weights.
    pub fn nonzero_weights(&self) -> usize {
        self.weights.iter().filter(|w| **w != 0.0).count()
    }

    /// The weight of one token, given as its parts.
    pub fn weight(&self, token: &[&str]) -> f32 {
        self.weights[token_index(token, self.meta.bits) as usize]
    }

    /// Scores a message's tokens (each counted once, whatever its
    /// repeats), keeping the heaviest as evidence.
    pub fn predict<'t>(&self, tokens: impl IntoIterator<Item = &'t [&'t str]>) -> Prediction {
        let mut scorer = self.scorer();
        for parts in tokens {
            scorer.add(&Token::new(parts));
        }
        scorer.finish()
    }

    /// A scorer to feed tokens one by one (no list of them is built).
    pub fn scorer(&self) -> Scorer<'_> {
        Scorer {
            weights: &self.weights,
            bits: self.meta.bits,
            calibration: self.meta.calibration,
            seen: SlotSet::for_slots(self.weights.len()),
            score: self.meta.bias,
            top: Vec::with_capacity(TOP_TOKENS + 1),
            entry: 0.0,
            spare: String::new(),
        }
    }
}

/// Sums the weights of one message's tokens.
pub struct Scorer<'m> {
    weights: &'m [f32],
    bits: u8,
    calibration: Calibration,
    /// Slots already counted: a repeated token counts once.
    seen: SlotSet,
    score: f64,
    /// The heaviest tokens so far: (slot, token, weight), heaviest first.
    top: Vec<(u32, String, f32)>,
    /// What a weight must exceed (in magnitude) to enter `top`: zero until
    /// it is full, then its lightest.
    entry: f32,
    /// The string of the last token pushed out of `top`, kept for the
    /// next one that enters (no allocation per change of the evidence).
    spare: String,
}

impl Scorer<'_> {
    /// Adds a token (a repeat adds nothing). Cheap on purpose: its hash is
    /// given, and no string is built unless it enters the evidence.
    #[inline]
    pub fn add(&mut self, token: &Token<'_>) {
        let index = slot(token.hash, self.bits);
        // The set first: it is small enough to stay in the first-level
        // cache, and a repeat then never reads the larger weight table.
        if !self.seen.insert(index) {
            return;
        }
        let w = self.weights.get(index as usize).copied().unwrap_or(0.0);
        if w == 0.0 {
            return;
        }
        self.score += f64::from(w);
        if w.abs() > self.entry {
            self.enter(index, token, w);
        }
    }

    /// Puts a token among the heaviest.
    #[cold]
    fn enter(&mut self, index: u32, token: &Token<'_>, w: f32) {
        let at = self.top.partition_point(|t| t.2.abs() >= w.abs());
        let mut text = std::mem::take(&mut self.spare);
        text.clear();
        token.parts.iter().for_each(|p| text.push_str(p));
        self.top.insert(at, (index, text, w));
        if self.top.len() > TOP_TOKENS {
            if let Some((_, out, _)) = self.top.pop() {
                self.spare = out;
            }
        }
        if self.top.len() == TOP_TOKENS {
            self.entry = self.top.last().map_or(0.0, |t| t.2.abs());
        }
    }

    /// The prediction.
    pub fn finish(self) -> Prediction {
        Prediction {
            probability: self.calibration.probability(self.score),
            score: self.score,
            top: self.top.into_iter().map(|(_, t, w)| (t, w)).collect(),
        }
    }
}

thread_local! {
    /// Each thread's slot stores, lent to one scorer at a time and given
    /// back cleared: a message's set is not allocated and zeroed anew.
    static SLOT_STORES: RefCell<Vec<SlotStore>> = const { RefCell::new(Vec::new()) };
}

/// A set of weight slots: one bit per slot (8 KB at the default 2^16
/// weights, so it stays in the first-level cache; 2 MB at the largest,
/// 2^24: a size set by the model, never by the message): a test and a set
/// per token, no hashing, no probing, no growth. Its store is borrowed
/// from the thread and given back on drop with only the words it touched
/// cleared, so a message costs what it inserts, whatever the model's size.
pub struct SlotSet {
    store: SlotStore,
}

/// The bits of a [`SlotSet`] and the slots inserted since it was clear.
#[derive(Default)]
struct SlotStore {
    bits: Vec<u64>,
    inserted: Vec<u32>,
}

impl SlotSet {
    /// An empty set for slots below `slots`.
    pub fn for_slots(slots: usize) -> SlotSet {
        let words = slots.div_ceil(64);
        let lent = SLOT_STORES.with(|stores| {
            let mut stores = stores.try_borrow_mut().ok()?;
            let at = stores.iter().position(|s| s.bits.len() == words)?;
            Some(stores.swap_remove(at))
        });
        SlotSet {
            store: lent.unwrap_or_else(|| SlotStore {
                bits: vec![0; words],
                inserted: Vec::new(),
            }),
        }
    }

    /// Adds `slot`; false if it was there (or is out of range, which a
    /// slot from [`slot`] never is).
    #[inline]
    pub fn insert(&mut self, slot: u32) -> bool {
        let Some(word) = self.store.bits.get_mut(slot as usize / 64) else {
            return false;
        };
        let mask = 1u64 << (slot % 64);
        if *word & mask != 0 {
            return false;
        }
        *word |= mask;
        self.store.inserted.push(slot);
        true
    }
}

impl Drop for SlotSet {
    fn drop(&mut self) {
        let mut store = std::mem::take(&mut self.store);
        for slot in store.inserted.drain(..) {
            if let Some(word) = store.bits.get_mut(slot as usize / 64) {
                *word = 0;
            }
        }
        // A thread keeps a few: one per model size in use.
        let _ = SLOT_STORES.try_with(|stores| {
            if let Ok(mut stores) = stores.try_borrow_mut() {
                if stores.len() < 4 {
                    stores.push(store);
                }
            }
        });
    }
}

/// A cursor over little-endian fields.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        let meta = ModelMeta {
            bias: -1.0,
            ..ModelMeta::hand_built(12)
        };
        let mut weights = vec![0f32; 1 << 12];
        weights[token_index(&["w:", "viagra"], 12) as usize] = 3.0;
        weights[token_index(&["w:", "meeting"], 12) as usize] = -2.0;
        Model::new(meta, weights).expect("model")
    }

    #[test]
    fn round_trip_keeps_weights_and_version() {
        let m = model();
        let back = Model::from_bytes(&m.to_bytes()).expect("reads back");
        assert_eq!(back, m);
        assert_eq!(back.version(), m.version());
        assert_eq!(back.nonzero_weights(), 2);
    }

    #[test]
    fn prediction_counts_each_token_once_and_names_the_heaviest() {
        let m = model();
        let p = m.predict([
            &["w:", "viagra"][..],
            &["w:", "viagra"],
            &["w:", "meeting"],
            &["w:", "unknown"],
        ]);
        assert!((p.score - 0.0).abs() < 1e-9, "{p:?}");
        assert!((p.probability - 0.5).abs() < 1e-9);
        assert_eq!(p.top[0], ("w:viagra".to_string(), 3.0));
        assert_eq!(p.top[1], ("w:meeting".to_string(), -2.0));
    }

    #[test]
    fn slot_set_counts_each_slot_once() {
        let mut set = SlotSet::for_slots(1 << 20);
        for round in 0..2 {
            for slot in (0..5_000u32).map(|i| i * 7919 % (1 << 20)) {
                assert_eq!(set.insert(slot), round == 0, "slot {slot} round {round}");
            }
        }
        assert!(!set.insert(1 << 20), "out of range");
        drop(set);
        // The thread's store comes back clear.
        let mut again = SlotSet::for_slots(1 << 20);
        for slot in (0..5_000u32).map(|i| i * 7919 % (1 << 20)) {
            assert!(again.insert(slot), "slot {slot} still set");
        }
    }

    #[test]
    fn damaged_files_are_refused_with_the_reason() {
        let good = model().to_bytes();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty", Vec::new(), "not a mailsift model"),
            (
                "other file",
                b"From: a@b\r\n\r\nhi".to_vec(),
                "not a mailsift model",
            ),
            ("truncated", good[..good.len() - 10].to_vec(), "corrupt"),
            (
                "one bit flipped",
                {
                    let mut b = good.clone();
                    let at = b.len() / 2;
                    b[at] ^= 1;
                    b
                },
                "corrupt",
            ),
            (
                "newer format",
                {
                    let mut b = good.clone();
                    b[MAGIC.len()] = 9;
                    b
                },
                "format 9",
            ),
        ];
        for (name, bytes, expected) in cases {
            let err = Model::from_bytes(&bytes).expect_err(name).to_string();
            assert!(err.contains(expected), "{name}: {err}");
        }
    }

    #[test]
    fn other_features_version_is_refused() {
        let mut m = model();
        m.meta.features_version = FEATURES_VERSION + 1;
        let err = Model::from_bytes(&m.to_bytes()).expect_err("refused");
        assert!(err.to_string().contains("retrain"), "{err}");
    }

    const EXPECTED_W_VIAGRA: u32 = 1_023_996;

    #[test]
    fn feature_index_is_stable() {
        // Part of the file format: changing it silently breaks every model.
        // (Checked against an independent implementation of the same mix,
        // in Python: features version 2.)
        assert_eq!(token_index(&["w:", "viagra"], 20), EXPECTED_W_VIAGRA);
        assert_eq!(token_index(&["w:", "a longer word here!"], 20), 383_781);
        assert_ne!(
            token_index(&["w:", "viagra"], 20),
            token_index(&["w:v", "iagra"], 20),
            "parts are delimited"
        );
    }

    #[test]
    fn part_hashes_tell_every_length_and_byte_apart() {
        // Every string of up to 9 letters over {a, b, c}, and of 10 to 17
        // with one letter changed: the tail reading (sampled bytes,
        // overlapping words) must lose nothing.
        let mut strings = vec![String::new()];
        for len in 1..=9u32 {
            for k in 0..3usize.pow(len) {
                strings.push(
                    (0..len)
                        .map(|i| char::from(b'a' + ((k / 3usize.pow(i)) % 3) as u8))
                        .collect(),
                );
            }
        }
        for len in 10..=17 {
            for at in 0..len {
                let mut s = vec![b'a'; len];
                s[at] = b'b';
                strings.push(String::from_utf8(s).expect("ascii"));
            }
        }
        let mut seen = std::collections::HashMap::new();
        for s in &strings {
            if let Some(other) = seen.insert(part_hash(s), s.clone()) {
                panic!("{other:?} and {s:?} hash alike");
            }
        }
    }
}
