//! Golden tests: every labelled message of the project corpus against its
//! recorded verdict in `corpus/golden/` (JSON), so behaviour changes show up
//! in review. `MAILSIFT_BLESS=1 cargo test --release --test golden` rewrites
//! the files after an intended change.

use mailsift_core::{Disposition, Engine};
use mailsift_testkit::Label;
use mailsift_testkit::{corpus_messages, engine, root};

use mailsift_corpus::golden::verdict_json;

#[test]
fn corpus_matches_golden_verdicts() {
    let bless = std::env::var_os("MAILSIFT_BLESS").is_some();
    let mut diffs = Vec::new();
    for (rel, _, raw) in corpus_messages() {
        let golden = root().join("corpus/golden").join(format!("{rel}.json"));
        let actual = verdict_json(engine(), &raw);
        if bless {
            std::fs::create_dir_all(golden.parent().expect("parent")).expect("mkdir");
            std::fs::write(&golden, mailsift_corpus::golden::to_file_text(&actual))
                .expect("write golden");
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

/// The bar: ≥ 95 % exactly right, and no NONE/BULK message comes out
/// MALICIOUS or SPAM.
#[test]
fn corpus_accuracy_bar() {
    let mut right = 0;
    let mut total = 0;
    let mut wrong = Vec::new();
    for (rel, label, raw) in corpus_messages() {
        let d = engine().classify(&raw, None).disposition;
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
    for (_, label, _) in corpus_messages() {
        *counts.entry(label.name()).or_insert(0) += 1;
    }
    for d in Disposition::ALL {
        let n = counts.get(d.as_str()).copied().unwrap_or(0);
        assert!(n >= 10, "{d} has {n} labelled messages, want ≥ 10");
    }
}

/// Whole verdicts (every finding and its evidence, in order) do not depend
/// on hash-map order, thread or message order: two separately loaded
/// engines (each map with its own random hash keys), one walking the
/// corpus backwards on another thread, agree on every message.
#[test]
fn verdicts_do_not_depend_on_hashing_threads_or_order() {
    let messages = corpus_messages();
    let load = || Engine::load(&root().join("rules")).unwrap_or_else(|e| panic!("{e}"));
    let forward: Vec<String> = {
        let engine = load();
        messages
            .iter()
            .map(|(_, _, raw)| serde_json::to_string(&engine.classify(raw, None)).expect("json"))
            .collect()
    };
    let backward: Vec<String> = std::thread::scope(|s| {
        s.spawn(|| {
            let engine = load();
            let mut out: Vec<String> = messages
                .iter()
                .rev()
                .map(|(_, _, raw)| {
                    serde_json::to_string(&engine.classify(raw, None)).expect("json")
                })
                .collect();
            out.reverse();
            out
        })
        .join()
        .expect("thread")
    });
    for ((rel, _, _), (a, b)) in messages.iter().zip(forward.iter().zip(&backward)) {
        assert_eq!(
            a, b,
            "{rel}: the verdict depends on something it should not"
        );
    }
}
