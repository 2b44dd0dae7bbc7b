//! Hostile and malformed input: every message gets a verdict or a clear
//! per-message error; nothing panics, hangs or aborts. Every input is
//! counted and asserted.

use mailsift_core::{Route, Verdict};
use mailsift_testkit::hostile::{self, Expect};
use mailsift_testkit::{engine, files_under, require};

/// Panics are caught by the engine and turned into ENGINE_INTERNAL_ERROR
/// verdicts; here that would hide a bug, so it fails the test.
fn classify_cleanly(name: &str, raw: &[u8]) -> Verdict {
    let v = engine().classify(raw, None);
    assert!(
        !v.findings.iter().any(|f| f.rule == "ENGINE_INTERNAL_ERROR"),
        "{name}: engine caught a panic: {:?}",
        v.error
    );
    v
}

#[test]
fn shared_robustness_corpus() {
    let dir = require(
        "../shared/robustness",
        "the shared data sets sit beside the project root",
    );
    let messages: Vec<_> = files_under(&dir)
        .into_iter()
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("eml" | "msg")))
        .collect();
    assert!(
        messages.len() >= 100,
        "only {} messages found",
        messages.len()
    );
    for path in &messages {
        let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        classify_cleanly(&path.display().to_string(), &raw);
    }
}

/// Inputs that once broke something (fuzzer finds, malformed reports).
#[test]
fn regression_inputs_in_corpus_bad() {
    let files = files_under(&require("corpus/bad", "part of the repository"));
    assert!(files.len() >= 2);
    for path in &files {
        let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let v = classify_cleanly(&path.display().to_string(), &raw);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("journal-malformed") {
            assert!(
                v.error.is_some() && v.journal,
                "{name}: a broken journal report"
            );
            assert_eq!(
                v.route,
                Route::DetectOnly,
                "{name}: journal mode never delivers"
            );
        }
    }
}

#[test]
fn engine_gives_every_hostile_input_its_verdict() {
    let cases = hostile::cases();
    assert_eq!(cases.len(), 12);
    for case in &cases {
        let v = classify_cleanly(case.name, &case.bytes);
        match case.expect {
            Expect::Unscannable => {
                assert!(
                    v.error.is_some(),
                    "{}: should be an error verdict",
                    case.name
                );
                assert_eq!(
                    v.route,
                    Route::Quarantine,
                    "{}: unscannable input is held",
                    case.name
                );
            }
            Expect::Scanned => {
                assert!(v.error.is_none(), "{}: {:?}", case.name, v.error);
                assert!(
                    v.origin.is_some(),
                    "{}: scanned messages have an origin",
                    case.name
                );
            }
        }
    }
}
