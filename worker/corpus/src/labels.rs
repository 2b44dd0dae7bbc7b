//! Labels: what each message of a corpus is expected to be (`labels.csv`).

use mailsift_core::Disposition;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a message was expected to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Label {
    /// Exactly this disposition.
    Exact(Disposition),
    /// Anything but NONE or BULK.
    Spam,
    /// NONE or BULK.
    Ham,
}

impl Label {
    /// Parses a disposition word (`SPAM` is exactly SPAM) or lower-case
    /// `spam` / `ham` (the two-class labels of public corpora).
    pub fn parse(s: &str) -> Option<Label> {
        match s.trim() {
            "spam" => Some(Label::Spam),
            "ham" | "Ham" | "HAM" => Some(Label::Ham),
            other => Disposition::parse(other).map(Label::Exact),
        }
    }

    /// The label as written in reports.
    pub fn name(&self) -> String {
        match self {
            Label::Exact(d) => d.as_str().to_string(),
            Label::Spam => "spam".into(),
            Label::Ham => "ham".into(),
        }
    }

    /// Whether the label means unwanted mail (anything but NONE or BULK
    /// is expected): the two classes a learner or a tuner works with.
    pub fn is_spam(&self) -> bool {
        !(self.accepts(Disposition::None) || self.accepts(Disposition::Bulk))
    }

    /// Whether a disposition satisfies this label.
    pub fn accepts(&self, d: Disposition) -> bool {
        match self {
            Label::Exact(e) => *e == d,
            Label::Spam => !matches!(d, Disposition::None | Disposition::Bulk),
            Label::Ham => matches!(d, Disposition::None | Disposition::Bulk),
        }
    }
}

/// Why a labels file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    /// Unreadable file.
    #[error("{}: cannot read labels: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A bad line.
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Labels keyed by canonical path (and `#N` for mbox members).
#[derive(Debug, Default)]
pub struct Labels {
    by_key: HashMap<String, Label>,
    /// (path as written joined to the CSV's folder, label), in file order.
    entries: Vec<(PathBuf, Label)>,
}

impl Labels {
    /// Loads a `path,label` CSV; paths are relative to the CSV's folder.
    pub fn load(path: &Path) -> Result<Labels, LabelsError> {
        let base = path.parent().unwrap_or(Path::new("."));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(|e| match e.into_kind() {
                csv::ErrorKind::Io(source) => LabelsError::Read {
                    path: path.to_path_buf(),
                    source,
                },
                other => LabelsError::Invalid {
                    path: path.to_path_buf(),
                    line: 1,
                    message: format!("{other:?}"),
                },
            })?;
        let mut labels = Labels::default();
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let invalid = |message: String| LabelsError::Invalid {
                path: path.to_path_buf(),
                line,
                message,
            };
            let record = record.map_err(|e| invalid(e.to_string()))?;
            let (Some(p), Some(l)) = (record.get(0), record.get(1)) else {
                return Err(invalid("expected `path,label`".into()));
            };
            let label = Label::parse(l).ok_or_else(|| {
                invalid(format!(
                    "label `{l}` is not one of MALICIOUS, SPOOF, SPAM, SUSPICIOUS, BULK, NONE, spam, ham"
                ))
            })?;
            let path = base.join(p);
            labels
                .by_key
                .insert(key(&path.display().to_string()), label);
            labels.entries.push((path, label));
        }
        Ok(labels)
    }

    /// The label of a message named as the replay names it.
    pub fn get(&self, name: &str) -> Option<Label> {
        self.by_key.get(&key(name)).copied()
    }

    /// Every labelled message in the file's order: (path, label).
    pub fn iter(&self) -> impl Iterator<Item = (&Path, Label)> {
        self.entries.iter().map(|(p, l)| (p.as_path(), *l))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when no labels were loaded.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// Canonical form of a message name: absolute path, plus `#N` if any.
fn key(name: &str) -> String {
    let (file, member) = match name.rsplit_once('#') {
        Some((f, m)) if m.bytes().all(|b| b.is_ascii_digit()) && !m.is_empty() => (f, Some(m)),
        _ => (name, None),
    };
    let canonical = std::fs::canonicalize(file)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| file.to_string());
    match member {
        Some(m) => format!("{canonical}#{m}"),
        None => canonical,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spam_is_every_label_but_none_bulk_and_ham() {
        for (word, spam) in [
            ("spam", true),
            ("ham", false),
            ("MALICIOUS", true),
            ("SPOOF", true),
            ("SPAM", true),
            ("SUSPICIOUS", true),
            ("BULK", false),
            ("NONE", false),
        ] {
            let label = Label::parse(word).expect(word);
            assert_eq!(label.is_spam(), spam, "{word}");
        }
    }

    #[test]
    fn labels_semantics() {
        assert!(Label::Spam.accepts(Disposition::Suspicious));
        assert!(!Label::Spam.accepts(Disposition::Bulk));
        assert!(Label::Ham.accepts(Disposition::Bulk));
        assert!(!Label::Ham.accepts(Disposition::Spoof));
        assert_eq!(
            Label::parse("malicious"),
            Some(Label::Exact(Disposition::Malicious))
        );
        assert_eq!(Label::parse("SPAM"), Some(Label::Exact(Disposition::Spam)));
        assert_eq!(Label::parse("spam"), Some(Label::Spam));
        assert_eq!(Label::parse("junk"), None);
    }

    #[test]
    fn bad_label_line_is_reported() {
        let dir = std::env::temp_dir().join(format!("mailsift-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("labels.csv");
        std::fs::write(&p, "path,label\na.eml,SPAM\nb.eml,JUNK\n").unwrap();
        let err = Labels::load(&p).unwrap_err().to_string();
        assert!(err.ends_with(":3: label `JUNK` is not one of MALICIOUS, SPOOF, SPAM, SUSPICIOUS, BULK, NONE, spam, ham"), "{err}");
    }
}
