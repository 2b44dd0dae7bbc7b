//! Weighted phrase lists (`rules/phrases.toml` and the per-language files),
//! all searched in one pass by one Aho-Corasick automaton built at load.
//!
//! ```toml
//! [CT_PHISH_CREDENTIALS]
//! disposition = "MALICIOUS"
//! description = "asks the reader to re-enter credentials"
//! cap = 8.0                      # most the list can add to one message
//! [CT_PHISH_CREDENTIALS.phrases]
//! "verify your account" = 2.5
//! ```
//!
//! Files `rules/phrases.<language>.toml` add phrases to the lists defined
//! here, without their settings:
//!
//! ```toml
//! # rules/phrases.pt.toml
//! [CT_PHISH_CREDENTIALS]
//! "confirme seus dados" = 2.0
//! ```
//!
//! Phrases and text are compared in [`crate::fold::fold`] form: case,
//! accents and curly apostrophes do not matter.

use super::error::RulesError;
use crate::finding::Disposition;
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
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
    phrases: Vec<String>,
    weights: Vec<f64>,
}

/// Every phrase list, and one automaton over all their phrases: a text is
/// read once however many lists and languages there are.
#[derive(Clone, Debug)]
pub struct Phrases {
    /// The lists, in file order.
    pub lists: Vec<PhraseList>,
    automaton: AhoCorasick,
    /// For each pattern of the automaton: (list, phrase within the list).
    owners: Vec<(usize, usize)>,
}

/// What a list found in a text.
#[derive(Clone, Debug, PartialEq)]
pub struct PhraseHits<'a> {
    /// Sum of the weights of distinct phrases found, capped.
    pub weight: f64,
    /// The distinct phrases found, in pattern order.
    pub phrases: Vec<&'a str>,
}

impl Phrases {
    /// Scans `text` for whole-word occurrences of every list's phrases, in
    /// one pass; each phrase counts once however often it appears,
    /// overlapping phrases all count ("urgent wire" does not hide "wire
    /// transfer"), and of a list's phrases starting at the same word only
    /// the longest. Returns the lists that matched, in file order. `text`
    /// must already be folded (see [`scan_form`]): the automaton is built
    /// folded and case-sensitive, which searches about twice as fast.
    pub fn scan(&self, text: &str) -> Vec<(&PhraseList, PhraseHits<'_>)> {
        let bytes = text.as_bytes();
        // Whole-word matches as (list, start, end, pattern). Where phrases
        // of one list start at the same place, only the longest counts:
        // "free shipping" is one phrase, not also "free".
        let mut matches: Vec<(usize, usize, usize, usize)> = Vec::new();
        for m in self.automaton.find_overlapping_iter(text) {
            let before = m.start().checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(m.end()).copied();
            if !(before.is_some_and(is_word_byte) || after.is_some_and(is_word_byte)) {
                let pattern = m.pattern().as_usize();
                matches.push((self.owners[pattern].0, m.start(), m.end(), pattern));
            }
        }
        matches.sort_unstable_by(|a, b| (a.0, a.1, b.2).cmp(&(b.0, b.1, a.2)));
        matches.dedup_by(|later, first| later.0 == first.0 && later.1 == first.1);
        // Distinct patterns in pattern order (the order of `owners`), without
        // walking every pattern of every list for each message.
        let mut patterns: Vec<usize> = matches.into_iter().map(|m| m.3).collect();
        patterns.sort_unstable();
        patterns.dedup();
        let mut found: Vec<Option<PhraseHits<'_>>> = vec![None; self.lists.len()];
        for pattern in patterns {
            let (list, phrase) = self.owners[pattern];
            let l = &self.lists[list];
            let hits = found[list].get_or_insert_with(|| PhraseHits {
                weight: 0.0,
                phrases: Vec::new(),
            });
            hits.weight += l.weights[phrase];
            hits.phrases.push(l.phrases[phrase].as_str());
        }
        self.lists
            .iter()
            .zip(found)
            .filter_map(|(l, hits)| {
                hits.map(|mut h| {
                    h.weight = h.weight.min(l.cap);
                    (l, h)
                })
            })
            .collect()
    }
}

/// The form of a text that [`Phrases::scan`] expects.
pub fn scan_form(text: &str) -> std::borrow::Cow<'_, str> {
    crate::fold::fold(text)
}

/// A phrase as it is matched: folded, single spaces.
fn phrase_form(phrase: &str) -> String {
    crate::fold::fold(phrase)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
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
    #[serde(default)]
    phrases: BTreeMap<String, f64>,
}

/// Parses `phrases.toml` and the per-language files that add phrases to its
/// lists, and compiles every list.
pub fn parse(path: &Path, src: &str, extra: &[(PathBuf, String)]) -> Result<Phrases, RulesError> {
    let file: BTreeMap<Spanned<String>, Spanned<ListFile>> =
        toml::from_str(src).map_err(|e| RulesError::toml(path, src, &e))?;
    // (id, settings, phrases with weights, where each phrase came from)
    struct Draft {
        id: String,
        disposition: Disposition,
        description: String,
        cap: f64,
        phrases: Vec<(String, f64)>,
        seen: HashMap<String, String>,
    }
    let mut drafts: Vec<Draft> = Vec::with_capacity(file.len());
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
        if list.disposition == Disposition::None {
            return Err(RulesError::at(
                path,
                src,
                at,
                "a phrase list cannot point to NONE",
            ));
        }
        if list.cap.is_nan() || list.cap <= 0.0 {
            return Err(RulesError::at(
                path,
                src,
                at,
                format!("list `{}` needs a positive cap", id.get_ref()),
            ));
        }
        let mut draft = Draft {
            id: id.into_inner(),
            disposition: list.disposition,
            description: list.description,
            cap: list.cap,
            phrases: Vec::new(),
            seen: HashMap::new(),
        };
        for (phrase, weight) in list.phrases {
            add_phrase(
                &mut draft.phrases,
                &mut draft.seen,
                &phrase,
                weight,
                "phrases.toml",
            )
            .map_err(|why| RulesError::at(path, src, at, why))?;
        }
        drafts.push(draft);
    }
    for (extra_path, extra_src) in extra {
        let file: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, f64>> =
            toml::from_str(extra_src).map_err(|e| RulesError::toml(extra_path, extra_src, &e))?;
        let name = extra_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (id, phrases) in file {
            let Some(draft) = drafts.iter_mut().find(|d| d.id == *id.get_ref()) else {
                return Err(RulesError::at(
                    extra_path,
                    extra_src,
                    id.span().start,
                    format!(
                        "no phrase list `{}` in phrases.toml: define it there (disposition, cap) first",
                        id.get_ref()
                    ),
                ));
            };
            for (phrase, weight) in phrases {
                add_phrase(
                    &mut draft.phrases,
                    &mut draft.seen,
                    phrase.get_ref(),
                    weight,
                    &name,
                )
                .map_err(|why| RulesError::at(extra_path, extra_src, phrase.span().start, why))?;
            }
        }
    }
    let mut lists = Vec::with_capacity(drafts.len());
    let mut patterns = Vec::new();
    let mut owners = Vec::new();
    for d in drafts {
        if d.phrases.is_empty() {
            return Err(RulesError::at(
                path,
                src,
                src.find(&format!("[{}]", d.id)).unwrap_or(0),
                format!("list `{}` has no phrases", d.id),
            ));
        }
        let (phrases, weights): (Vec<String>, Vec<f64>) = d.phrases.into_iter().unzip();
        for (i, phrase) in phrases.iter().enumerate() {
            patterns.push(phrase.clone());
            owners.push((lists.len(), i));
        }
        lists.push(PhraseList {
            id: d.id,
            disposition: d.disposition,
            description: d.description,
            cap: d.cap,
            phrases,
            weights,
        });
    }
    let automaton = AhoCorasick::builder()
        // Standard semantics: every overlapping occurrence is reported.
        .match_kind(MatchKind::Standard)
        // The contiguous NFA: 0.3 MB against the DFA's 4.9 MB for the
        // shipped lists, built in a fraction of the time (every start and
        // reload), and searched as fast once the DFA no longer fits in the
        // caches it shares with the broker and the other checks.
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .build(&patterns)
        .map_err(|e| RulesError::at(path, src, 0, format!("phrase lists: {e}")))?;
    Ok(Phrases {
        lists,
        automaton,
        owners,
    })
}

/// Adds one phrase to a list under construction; the same phrase (after
/// folding) twice in a list is an error naming the first file.
fn add_phrase(
    phrases: &mut Vec<(String, f64)>,
    seen: &mut HashMap<String, String>,
    phrase: &str,
    weight: f64,
    file: &str,
) -> Result<(), String> {
    let form = phrase_form(phrase);
    if form.is_empty() {
        return Err(format!("empty phrase `{phrase}`"));
    }
    if !weight.is_finite() || weight <= 0.0 {
        return Err(format!(
            "phrase `{phrase}`: the weight must be a positive number, not {weight}"
        ));
    }
    if let Some(first) = seen.insert(form.clone(), file.to_string()) {
        return Err(format!(
            "phrase `{phrase}` is already in this list (in {first})"
        ));
    }
    phrases.push((form, weight));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Phrases {
        parse(
            Path::new("p.toml"),
            "[X]\ndisposition = \"SPAM\"\ncap = 3.0\n[X.phrases]\n\"act now\" = 2.0\n\"free\" = 1.5\n\"viagra\" = 2.0\n",
            &[],
        )
        .unwrap()
    }

    /// What the first list found.
    fn first<'a>(p: &'a Phrases, text: &str) -> Option<PhraseHits<'a>> {
        p.scan(text).into_iter().next().map(|(_, h)| h)
    }

    #[test]
    fn whole_words_once_each_capped() {
        let l = list();
        let hits = first(&l, &scan_form("ACT NOW! Totally FREE, free, free")).unwrap();
        assert_eq!(hits.phrases, vec!["act now", "free"]);
        assert_eq!(hits.weight, 3.0);
        assert!(first(&l, "in fact nowhere freely").is_none());
    }

    #[test]
    fn overlapping_phrases_both_count() {
        let l = parse(
            Path::new("p.toml"),
            "[X]\ndisposition = \"SPAM\"\ncap = 9.0\n[X.phrases]\n\"urgent wire\" = 1.0\n\"wire transfer\" = 2.0\n",
            &[],
        )
        .unwrap();
        let hits = first(&l, "please send an urgent wire transfer today").unwrap();
        assert_eq!(hits.phrases, vec!["urgent wire", "wire transfer"]);
        assert_eq!(hits.weight, 3.0);
    }

    #[test]
    fn bad_id_has_position() {
        let err = parse(
            Path::new("p.toml"),
            "[lower]\ndisposition = \"SPAM\"\ncap = 1.0\nphrases = {a = 1.0}\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("p.toml:1:"), "{err}");
    }

    #[test]
    fn language_files_add_folded_phrases() {
        let base = "[X]\ndisposition = \"SPAM\"\ncap = 9.0\n[X.phrases]\n\"act now\" = 1.0\n";
        let pt = (
            PathBuf::from("phrases.pt.toml"),
            "[X]\n\"Regularize sua SITUAÇÃO\" = 2.0\n".to_string(),
        );
        let l = parse(Path::new("p.toml"), base, std::slice::from_ref(&pt)).unwrap();
        let hits = first(&l, &scan_form("Por favor, regularize sua situacao hoje")).unwrap();
        assert_eq!(hits.phrases, vec!["regularize sua situacao"]);
        let hits = first(&l, &scan_form("REGULARIZE SUA SITUAÇÃO")).unwrap();
        assert_eq!(hits.weight, 2.0);
        // A list the base file does not define, and a phrase twice.
        let unknown = (
            PathBuf::from("phrases.de.toml"),
            "[Y]\n\"a\" = 1.0\n".to_string(),
        );
        let err = parse(Path::new("p.toml"), base, &[unknown])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("phrases.de.toml:1:") && err.contains("define it there"),
            "{err}"
        );
        let twice = (
            PathBuf::from("phrases.en.toml"),
            "[X]\n\"ACT  now\" = 1.0\n".to_string(),
        );
        let err = parse(Path::new("p.toml"), base, &[twice])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("already in this list (in phrases.toml)"),
            "{err}"
        );
    }

    #[test]
    fn one_pass_reports_each_list() {
        let p = parse(
            Path::new("p.toml"),
            "[A]\ndisposition = \"SPAM\"\ncap = 9.0\n[A.phrases]\n\"gift card\" = 1.0\n\"gift\" = 0.2\n\"card\" = 0.5\n\
             [B]\ndisposition = \"SUSPICIOUS\"\ncap = 9.0\n[B.phrases]\n\"gift card\" = 2.0\n",
            &[],
        )
        .unwrap();
        let found: Vec<(&str, f64)> = p
            .scan("buy a gift card now")
            .into_iter()
            .map(|(l, h)| (l.id.as_str(), h.weight))
            .collect();
        assert_eq!(found, vec![("A", 1.5), ("B", 2.0)]);
    }
}
