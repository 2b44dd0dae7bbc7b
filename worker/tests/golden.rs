//! Golden tests: every labelled message of the project corpus against its
//! recorded verdict in `corpus/golden/` (JSON), so behaviour changes show up
//! in review. `MAILSIFT_BLESS=1 cargo test --release --test golden` rewrites
//! the files after an intended change.

mod common;

use mailsift::report::Label;
use mailsift::Disposition;
use serde_json::json;
use std::path::Path;

fn labelled() -> Vec<(String, String)> {
    let csv = std::fs::read_to_string(common::root().join("corpus/labels.csv"))
        .expect("corpus/labels.csv");
    csv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (p, label) = l.split_once(',').expect("path,label");
            (p.to_string(), label.trim().to_string())
        })
        .collect()
}

fn verdict_json(path: &Path) -> serde_json::Value {
    let raw = std::fs::read(path).expect("read message");
    let v = common::engine().classify(&raw, None);
    json!({
        "disposition": v.disposition,
        "route": v.route,
        "policy_domain": v.policy_domain,
        "bulk_level": v.bulk_level,
        "scores": v.scores,
        "reasons": v.reasons(),
        "origin_ip": v.origin.as_ref().and_then(|o| o.ip),
    })
}

#[test]
fn corpus_matches_golden_verdicts() {
    let bless = std::env::var_os("MAILSIFT_BLESS").is_some();
    let mut diffs = Vec::new();
    for (rel, _) in labelled() {
        let message = common::root().join("corpus").join(&rel);
        let golden = common::root()
            .join("corpus/golden")
            .join(format!("{rel}.json"));
        let actual = verdict_json(&message);
        if bless {
            std::fs::create_dir_all(golden.parent().expect("parent")).expect("mkdir");
            let text = serde_json::to_string_pretty(&actual).expect("json") + "\n";
            std::fs::write(&golden, text).expect("write golden");
            continue;
        }
        let expected: serde_json::Value = match std::fs::read_to_string(&golden) {
            Ok(t) => serde_json::from_str(&t).expect("golden JSON"),
            Err(_) => {
                diffs.push(format!("{rel}: no golden file (run with MAILSIFT_BLESS=1)"));
                continue;
            }
        };
        if expected != actual {
            diffs.push(format!(
                "{rel}:\n  expected {expected}\n  actual   {actual}"
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} golden verdicts changed:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// The bar: ≥ 95 % exactly right, and no NONE/BULK message comes
/// out MALICIOUS or SPAM.
#[test]
fn corpus_accuracy_bar() {
    let mut right = 0;
    let mut total = 0;
    let mut wrong = Vec::new();
    for (rel, label) in labelled() {
        let label = Label::parse(&label).unwrap_or_else(|| panic!("bad label {label}"));
        let raw = std::fs::read(common::root().join("corpus").join(&rel)).expect("read");
        let d = common::engine().classify(&raw, None).disposition;
        total += 1;
        if label.accepts(d) {
            right += 1;
        } else {
            wrong.push(format!("{rel}: {} → {d}", label.name()));
        }
        if matches!(label, Label::Exact(Disposition::None | Disposition::Bulk)) {
            assert!(
                !matches!(d, Disposition::Malicious | Disposition::Spam),
                "{rel} is {} but came out {d}",
                label.name()
            );
        }
    }
    assert!(total >= 60, "corpus has only {total} labelled messages");
    assert!(
        right * 100 >= total * 95,
        "{right}/{total} right; wrong:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_class_has_ten_messages() {
    let mut counts = std::collections::BTreeMap::new();
    for (_, label) in labelled() {
        *counts.entry(label).or_insert(0) += 1;
    }
    for d in Disposition::ALL {
        let n = counts.get(d.as_str()).copied().unwrap_or(0);
        assert!(n >= 10, "{d} has {n} labelled messages, want ≥ 10");
    }
}

#[test]
fn same_message_same_verdict() {
    for (rel, _) in labelled().into_iter().take(20) {
        let path = common::root().join("corpus").join(&rel);
        assert_eq!(verdict_json(&path), verdict_json(&path), "{rel}");
    }
}
