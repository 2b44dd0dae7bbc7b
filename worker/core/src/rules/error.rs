//! Errors from loading rule and policy files: always file, line and what to fix.

use std::path::{Path, PathBuf};

/// A rule or policy file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The file could not be read.
    #[error("{}: cannot read rules file: {source} (is --rules pointing at the rules directory?)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The trained model given with the rules cannot be used.
    #[error("{}: {source}", path.display())]
    Model {
        /// The model file.
        path: PathBuf,
        /// Why.
        source: crate::model::ModelError,
    },
    /// The file is not valid, at a known position.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and, where possible, what to do.
        message: String,
    },
}

impl RulesError {
    /// An error at byte offset `at` of `source` (the file's text).
    pub fn at(path: &Path, source: &str, at: usize, message: impl Into<String>) -> RulesError {
        let (line, column) = line_col(source, at);
        RulesError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// Wraps a TOML syntax or type error with its position.
    pub fn toml(path: &Path, source: &str, err: &toml::de::Error) -> RulesError {
        let at = err.span().map(|s| s.start).unwrap_or(0);
        RulesError::at(path, source, at, err.message().trim().to_string())
    }
}

/// 1-based line and column of a byte offset.
fn line_col(source: &str, at: usize) -> (usize, usize) {
    let at = at.min(source.len());
    let before = &source.as_bytes()[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|p| p + 1)
        .unwrap_or(0);
    (line, at - line_start + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
