//! Combination rules (`rules/combos.toml`): when certain findings occur
//! together they mean more than their sum (a credential lure *and* a link
//! that hides its destination is phishing). Applied once, in the scoring
//! pass, after every check has run; checks stay independent.
//!
//! ```toml
//! [COMBO_CREDENTIAL_PHISH]
//! disposition = "MALICIOUS"
//! weight = 6.0
//! description = "credential lure with a deceptive link"
//! all = ["PH_PHISH_CREDENTIALS"]          # every one of these
//! any = ["URL_FREE_HOSTING", "URL_IP_LITERAL"]  # and at least one of these
//! ```
//!
//! `any_of = [["A", "B"], ["C", "D"]]` asks for one of each group (a lure
//! of any kind *and* a deceptive link of any kind); `all` may then be left
//! out. `min_weight = 2.5` counts only findings that weigh at least that
//! (a phrase list that matched one weak word is no lure).

use super::error::RulesError;
use super::Score;
use crate::finding::Disposition;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use toml::Spanned;

/// One compiled combination rule.
#[derive(Clone, Debug)]
pub struct Combo {
    /// Rule id reported when it fires.
    pub id: String,
    /// Every one of these rule ids must have fired.
    pub all: Vec<String>,
    /// At least one of these must have fired (ignored when empty).
    pub any: Vec<String>,
    /// At least one of each group must have fired.
    pub any_of: Vec<Vec<String>>,
    /// A finding counts as fired for this combo only when it weighs at
    /// least this much (a phrase list that matched one weak word is not
    /// a lure).
    pub min_weight: f64,
}

impl Combo {
    /// Whether the combo fires for the given fired rule ids; returns the
    /// ids that made it fire, for evidence.
    pub fn matches<'a>(&'a self, fired: &dyn Fn(&str) -> bool) -> Option<Vec<&'a str>> {
        if !self.all.iter().all(|id| fired(id)) {
            return None;
        }
        let mut why: Vec<&str> = self.all.iter().map(String::as_str).collect();
        if !self.any.is_empty() {
            why.push(self.any.iter().find(|id| fired(id))?);
        }
        for group in &self.any_of {
            why.push(group.iter().find(|id| fired(id))?);
        }
        Some(why)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComboFile {
    disposition: Disposition,
    weight: f64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    all: Vec<Spanned<String>>,
    #[serde(default)]
    any: Vec<Spanned<String>>,
    #[serde(default)]
    any_of: Vec<Vec<Spanned<String>>>,
    #[serde(default)]
    min_weight: f64,
}

/// Parses `combos.toml`, checks every referenced id exists, and registers
/// each combo's score.
pub fn parse(
    path: &Path,
    src: &str,
    scores: &mut HashMap<String, Score>,
) -> Result<Vec<Combo>, RulesError> {
    let file: BTreeMap<Spanned<String>, ComboFile> =
        toml::from_str(src).map_err(|e| RulesError::toml(path, src, &e))?;
    let mut combos = Vec::with_capacity(file.len());
    for (id, c) in file {
        if scores.contains_key(id.get_ref()) {
            return Err(RulesError::at(
                path,
                src,
                id.span().start,
                format!("combo id `{}` is already a rule id", id.get_ref()),
            ));
        }
        if c.all.is_empty() && c.any_of.is_empty() || c.any_of.iter().any(Vec::is_empty) {
            return Err(RulesError::at(
                path,
                src,
                id.span().start,
                "a combo needs ids in `all` or groups in `any_of` (and no empty group)",
            ));
        }
        for r in c
            .all
            .iter()
            .chain(c.any.iter())
            .chain(c.any_of.iter().flatten())
        {
            if !scores.contains_key(r.get_ref()) {
                return Err(RulesError::at(
                    path,
                    src,
                    r.span().start,
                    format!(
                        "unknown rule id `{}`; `mailsift rules` lists the known ids",
                        r.get_ref()
                    ),
                ));
            }
        }
        scores.insert(
            id.get_ref().clone(),
            Score {
                disposition: c.disposition,
                weight: c.weight,
                description: c.description,
            },
        );
        combos.push(Combo {
            id: id.into_inner(),
            all: c.all.into_iter().map(Spanned::into_inner).collect(),
            any: c.any.into_iter().map(Spanned::into_inner).collect(),
            any_of: c
                .any_of
                .into_iter()
                .map(|g| g.into_iter().map(Spanned::into_inner).collect())
                .collect(),
            min_weight: c.min_weight,
        });
    }
    Ok(combos)
}
