//! Shared helpers for mailsift's tests: the repository's paths, temporary
//! directories, the shipped engine, the labelled project corpus, and
//! (in [`broker`]) throwaway RabbitMQ virtual hosts.
//!
//! Shared data a test needs is required, never skipped: a missing data set
//! fails the test with what to run to get it.
#![forbid(unsafe_code)]

pub mod broker;
pub mod dnsmasq;
pub mod hostile;
pub mod http;
pub mod postfix;
pub mod postgres;
pub mod smtp;
pub mod webdriver;

use mailsift_core::Engine;
pub use mailsift_corpus::{Label, Labels};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `path` under the repository root, which must exist: a test that needs
/// data fails with `how` (what to run to get it) rather than passing
/// without it.
pub fn require(path: &str, how: &str) -> PathBuf {
    let p = root().join(path);
    assert!(p.exists(), "{} is missing: {how}", p.display());
    p
}

/// An engine on the shipped rules, loaded once per test binary.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::load(&root().join("rules")).unwrap_or_else(|e| panic!("{e}")))
}

/// The project corpus's labels (`corpus/labels.csv`).
pub fn corpus_labels() -> Labels {
    Labels::load(&root().join("corpus/labels.csv")).unwrap_or_else(|e| panic!("{e}"))
}

/// Every labelled project-corpus message, in `labels.csv` order: (path
/// relative to `corpus/`, label, bytes).
pub fn corpus_messages() -> Vec<(String, Label, Vec<u8>)> {
    let corpus = root().join("corpus");
    corpus_labels()
        .iter()
        .map(|(path, label)| {
            let rel = path
                .strip_prefix(&corpus)
                .unwrap_or(path)
                .display()
                .to_string();
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (rel, label, bytes)
        })
        .collect()
}

/// A fresh temporary directory for one test.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailsift-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Copies the shipped rules into a temp dir so a test can change one file.
pub fn rules_copy(name: &str) -> PathBuf {
    let dir = tempdir(name);
    for entry in std::fs::read_dir(root().join("rules")).expect("rules dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy rule file");
    }
    dir
}

/// Every regular file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
