//! Shared helpers for the integration tests.
#![allow(dead_code)]

use mailsift::{Engine, Rules};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An engine on the shipped rules, loaded once per test binary.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let rules = Rules::load(&root().join("rules")).unwrap_or_else(|e| panic!("{e}"));
        Engine::new(Arc::new(rules))
    })
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
