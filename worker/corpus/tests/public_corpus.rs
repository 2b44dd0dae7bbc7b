//! The tuning-set targets from the issue, checked on every test run:
//! on the SpamAssassin public corpus (`spam` and `easy_ham` groups, installed
//! by `scripts/fetch-public-corpus.sh`), spam recall (spam not NONE/BULK)
//! ≥ 70 % with ham quarantine false positives (MALICIOUS or SPAM) ≤ 1 %.
//!
//! Not a timing test: speed is measured by `benches/` and `mailsift replay`.

use mailsift_core::Disposition;
use mailsift_corpus::{Label, Labels};
use mailsift_testkit::{engine, require};

#[test]
fn tuning_set_recall_and_false_positives() {
    // The test command installs it; a run without it fails, never skips.
    let dir = require(
        "corpus/public/labels.csv",
        "run scripts/fetch-public-corpus.sh",
    )
    .parent()
    .expect("corpus/public")
    .to_path_buf();
    let labels = Labels::load(&dir.join("labels.csv")).expect("labels");
    let (mut spam, mut caught, mut ham, mut ham_fp, mut errors) = (0u32, 0u32, 0u32, 0u32, 0u32);
    let skipped = mailsift_corpus::Skipped::new();
    for item in mailsift_corpus::messages(vec![dir.clone()], 64 << 20, &skipped) {
        let Ok(raw) = item.bytes else {
            errors += 1;
            continue;
        };
        let d = engine().classify(&raw, None).disposition;
        match labels.get(&item.name) {
            Some(Label::Spam) => {
                spam += 1;
                caught += Label::Spam.accepts(d) as u32;
            }
            Some(Label::Ham) => {
                ham += 1;
                ham_fp += matches!(d, Disposition::Malicious | Disposition::Spam) as u32;
            }
            other => panic!("{}: unexpected label {other:?}", item.name),
        }
    }
    assert_eq!(errors, 0);
    // Every file but the labels is a message (SpamAssassin's own files
    // start with an mbox `From ` line); nothing else is passed over.
    let skipped: Vec<String> = skipped.list().into_iter().map(|(p, _)| p).collect();
    assert!(
        skipped.len() == 1 && skipped[0].ends_with("labels.csv"),
        "{skipped:?}"
    );
    assert!(
        spam >= 400 && ham >= 2000,
        "corpus looks incomplete: {spam} spam, {ham} ham"
    );
    let recall = caught as f64 / spam as f64;
    let fp = ham_fp as f64 / ham as f64;
    eprintln!(
        "spam recall {:.1}% ({caught}/{spam}), ham FP {:.2}% ({ham_fp}/{ham})",
        recall * 100.0,
        fp * 100.0
    );
    assert!(recall >= 0.70, "spam recall {:.1}% < 70%", recall * 100.0);
    assert!(fp <= 0.01, "ham quarantine FP {:.2}% > 1%", fp * 100.0);
}
