//! `mailsift corpus add`: a message an analyst found misclassified joins
//! the project corpus with its label and its golden verdict, so every later
//! change is checked against it.

use crate::golden;
use crate::labels::Label;
use mailsift_core::{Disposition, Engine};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a message could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The label is no disposition word or two-class label.
    #[error("unknown label `{0}`: use a disposition (MALICIOUS, SPOOF, SPAM, SUSPICIOUS, BULK, NONE) or spam/ham")]
    Label(String),
    /// The bytes are not a message the engine can scan.
    #[error("not a message mailsift can scan: {0}")]
    NotAMessage(String),
    /// The same bytes are already in the corpus.
    #[error("already in the corpus as {0}")]
    Duplicate(String),
    /// Reading or writing the corpus failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// What `add` did.
#[derive(Debug)]
pub struct Added {
    /// The message's path inside the corpus (`spam/16-x.eml`).
    pub path: String,
    /// Its disposition today.
    pub disposition: Disposition,
    /// Its verdict today, as recorded in its golden file.
    pub verdict: serde_json::Value,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AddError + '_ {
    move |source| AddError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Copies `raw` into `corpus/<label>/NN-<slug>.eml` (the next number in
/// that folder), appends it to `corpus/labels.csv` and records its verdict
/// under `corpus/golden/`. Refuses a message already listed in the labels.
pub fn add(
    corpus: &Path,
    raw: &[u8],
    label: &str,
    name_hint: &str,
    engine: &Engine,
) -> Result<Added, AddError> {
    if Label::parse(label).is_none() {
        return Err(AddError::Label(label.to_string()));
    }
    let verdict = engine.classify(raw, None);
    if let Some(e) = verdict.error.as_ref().filter(|_| verdict.origin.is_none()) {
        return Err(AddError::NotAMessage(e.clone()));
    }
    let labels_path = corpus.join("labels.csv");
    let listed = match std::fs::read_to_string(&labels_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(&labels_path)(e)),
    };
    for line in listed.lines().skip(1) {
        let Some((rel, _)) = line.split_once(',') else {
            continue;
        };
        if std::fs::read(corpus.join(rel)).is_ok_and(|existing| existing == raw) {
            return Err(AddError::Duplicate(rel.to_string()));
        }
    }
    let folder = label.to_ascii_lowercase();
    let dir = corpus.join(&folder);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let next = std::fs::read_dir(&dir)
        .map_err(io(&dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.split('-').next().and_then(|n| n.parse::<u32>().ok())
        })
        .max()
        .unwrap_or(0)
        + 1;
    let rel = format!("{folder}/{next:02}-{}.eml", slug(name_hint));
    let path = corpus.join(&rel);
    std::fs::write(&path, raw).map_err(io(&path))?;
    let mut labels = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&labels_path)
        .map_err(io(&labels_path))?;
    let mut line = String::new();
    if listed.is_empty() {
        line.push_str("path,label\n");
    } else if !listed.ends_with('\n') {
        line.push('\n');
    }
    line.push_str(&format!("{rel},{label}\n"));
    labels
        .write_all(line.as_bytes())
        .map_err(io(&labels_path))?;
    let disposition = verdict.disposition;
    let verdict = golden::verdict_json(engine, raw);
    let golden_path = corpus.join("golden").join(format!("{rel}.json"));
    if let Some(parent) = golden_path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(&golden_path, golden::to_file_text(&verdict)).map_err(io(&golden_path))?;
    Ok(Added {
        path: rel,
        disposition,
        verdict,
    })
}

/// A file-name slug: lower-case letters, digits and single dashes, at most
/// 48 characters, `message` when nothing is left.
fn slug(hint: &str) -> String {
    let mut out = String::new();
    for c in hint.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 48 {
            break;
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "message".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for (hint, want) in [
            ("Invoice 2025 (copy).eml", "invoice-2025-copy-eml"),
            ("--", "message"),
            ("ÜBER größe", "ber-gr-e"),
        ] {
            assert_eq!(slug(hint), want, "{hint}");
        }
    }
}
