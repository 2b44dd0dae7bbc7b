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

/// Bombs, cycles and lies inside attachments (ZIP, PDF, PNG, JPEG, HTML):
/// each message gets its normal verdict, and the attachment checks stay
/// within their bounds instead of hanging. The watchdog is far above any
/// honest cost; it turns a hang into a failure that names the input.
#[test]
fn hostile_attachments_get_their_verdicts() {
    let cases = hostile::attachment_cases();
    assert_eq!(cases.len(), 16);
    for case in cases {
        let (done, wait) = std::sync::mpsc::channel();
        let name = case.name;
        std::thread::spawn(move || {
            let v = classify_cleanly(case.name, &case.bytes);
            let _ = done.send(v);
        });
        let v = wait
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("{name}: no verdict within 120 s"));
        assert!(v.error.is_none(), "{name}: {:?}", v.error);
        eprintln!(
            "{name}: {} bytes {:?}",
            0,
            v.findings
                .iter()
                .map(|f| format!("{} {}", f.rule, f.evidence))
                .collect::<Vec<_>>()
        );
        // Where the format still says something, the check still says it.
        let expected = match name {
            "att-zip-nested.eml" => Some("ATT_NESTED_ARCHIVE"),
            "att-zip-lying-sizes.eml" => Some("ATT_ARCHIVE_DANGEROUS"),
            "att-html-deep.eml" => Some("ATT_HTML_ATTACHMENT"),
            _ => None,
        };
        if let Some(rule) = expected {
            assert!(
                v.findings.iter().any(|f| f.rule == rule),
                "{name}: expected {rule}: {:?}",
                v.findings
                    .iter()
                    .map(|f| f.rule.to_string())
                    .collect::<Vec<_>>()
            );
        }
    }
}
