//! Weighted phrase lists (`rules/phrases.toml`), one Aho-Corasick automaton
//! per list, built once at load.
//!
//! ```toml
//! [CT_PHISH_CREDENTIALS]
//! disposition = "MALICIOUS"
//! description = "asks the reader to re-enter credentials"
//! cap = 8.0                      # most the list can add to one message
//! [CT_PHISH_CREDENTIALS.phrases]
//! "verify your account" = 2.5
//! ```

use super::error::RulesError;
use crate::finding::Disposition;
use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// One compiled phrase list.
#[derive(Clone, Debug)]
pub struct PhraseList {
    /// Rule id reported when the list matches.
    pub id: String,
    /// Where its weight goes.
    pub disposition: Disposition,
    /// What the list is about.
    pub description: String,
    /// Most the list adds to one message.
    pub cap: f64,
    automaton: AhoCorasick,
    phrases: Vec<String>,
    weights: Vec<f64>,
}

/// What a list found in a text.
#[derive(Clone, Debug, PartialEq)]
pub struct PhraseHits<'a> {
    /// Sum of the weights of distinct phrases found, capped.
    pub weight: f64,
    /// The distinct phrases found, in pattern order.
    pub phrases: Vec<&'a str>,
}

impl PhraseList {
    /// Scans `text` for whole-word, case-insensitive occurrences; each phrase
    /// counts once however often it appears. `text` must already be ASCII
    /// lower-cased (see [`lowercase_for_scan`]): the automata are built
    /// lower-case and case-sensitive, which searches about twice as fast.
    pub fn scan(&self, text: &str) -> Option<PhraseHits<'_>> {
        let mut seen = vec![false; self.phrases.len()];
        let bytes = text.as_bytes();
        // Leftmost-longest with the automaton's prefilter (fast), then
        // restart one byte after each match start so overlapping phrases
        // count too: "urgent wire" must not hide "wire transfer".
        let mut at = 0;
        while at < text.len() {
            let Some(m) = self.automaton.find(Input::new(text).range(at..)) else {
                break;
            };
            let before = m.start().checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(m.end()).copied();
            if !(before.is_some_and(is_word_byte) || after.is_some_and(is_word_byte)) {
                seen[m.pattern().as_usize()] = true;
            }
            at = m.start() + 1;
        }
        let mut weight = 0.0;
        let mut phrases = Vec::new();
        for (i, hit) in seen.iter().enumerate() {
            if *hit {
                weight += self.weights[i];
                phrases.push(self.phrases[i].as_str());
            }
        }
        (!phrases.is_empty()).then(|| PhraseHits {
            weight: weight.min(self.cap),
            phrases,
        })
    }
}

/// The form of a text that [`PhraseList::scan`] expects.
pub fn lowercase_for_scan(text: &str) -> String {
    text.to_ascii_lowercase()
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListFile {
    disposition: Disposition,
    #[serde(default)]
    description: String,
    cap: f64,
    phrases: BTreeMap<String, f64>,
}

/// Parses and compiles `phrases.toml`.
pub fn parse(path: &Path, src: &str) -> Result<Vec<PhraseList>, RulesError> {
    let file: BTreeMap<Spanned<String>, Spanned<ListFile>> =
        toml::from_str(src).map_err(|e| RulesError::toml(path, src, &e))?;
    let mut out = Vec::with_capacity(file.len());
    for (id, list) in file {
        let at = list.span().start;
        let list = list.into_inner();
        let id_ok = id
            .get_ref()
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !id_ok {
            return Err(RulesError::at(
                path,
                src,
                id.span().start,
                format!("list id `{}` must be UPPER_SNAKE_CASE", id.get_ref()),
            ));
        }
        if list.disposition == crate::finding::Disposition::None {
            return Err(RulesError::at(
                path,
                src,
                at,
                "a phrase list cannot point to NONE",
            ));
        }
        if list.phrases.is_empty() || list.cap.is_nan() || list.cap <= 0.0 {
            return Err(RulesError::at(
                path,
                src,
                at,
                format!("list `{}` needs phrases and a positive cap", id.get_ref()),
            ));
        }
        let (phrases, weights): (Vec<String>, Vec<f64>) = list
            .phrases
            .into_iter()
            .map(|(p, w)| {
                let folded = p.split_whitespace().collect::<Vec<_>>().join(" ");
                (folded.to_ascii_lowercase(), w)
            })
            .unzip();
        if let Some(p) = phrases.iter().find(|p| p.is_empty()) {
            return Err(RulesError::at(path, src, at, format!("empty phrase `{p}`")));
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            // A DFA costs memory once at load and is the fastest to search.
            .kind(Some(AhoCorasickKind::DFA))
            .build(&phrases)
            .map_err(|e| RulesError::at(path, src, at, e.to_string()))?;
        out.push(PhraseList {
            id: id.into_inner(),
            disposition: list.disposition,
            description: list.description,
            cap: list.cap,
            automaton,
            phrases,
            weights,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> PhraseList {
        parse(
            Path::new("p.toml"),
            "[X]\ndisposition = \"SPAM\"\ncap = 3.0\n[X.phrases]\n\"act now\" = 2.0\n\"free\" = 1.5\n\"viagra\" = 2.0\n",
        )
        .unwrap()
        .remove(0)
    }

    #[test]
    fn whole_words_once_each_capped() {
        let l = list();
        let hits = l
            .scan(&lowercase_for_scan("ACT NOW! Totally FREE, free, free"))
            .unwrap();
        assert_eq!(hits.phrases, vec!["act now", "free"]);
        assert_eq!(hits.weight, 3.0);
        assert!(l.scan("in fact nowhere freely").is_none());
    }

    #[test]
    fn overlapping_phrases_both_count() {
        let l = parse(
            Path::new("p.toml"),
            "[X]\ndisposition = \"SPAM\"\ncap = 9.0\n[X.phrases]\n\"urgent wire\" = 1.0\n\"wire transfer\" = 2.0\n",
        )
        .unwrap()
        .remove(0);
        let hits = l.scan("please send an urgent wire transfer today").unwrap();
        assert_eq!(hits.phrases, vec!["urgent wire", "wire transfer"]);
        assert_eq!(hits.weight, 3.0);
    }

    #[test]
    fn bad_id_has_position() {
        let err = parse(
            Path::new("p.toml"),
            "[lower]\ndisposition = \"SPAM\"\ncap = 1.0\nphrases = {a = 1.0}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("p.toml:1:"), "{err}");
    }
}
