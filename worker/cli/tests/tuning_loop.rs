//! The analyst's tuning loop through the binary: train, use and compare a
//! model, refuse a broken one, and the HTML report rendered in Chromium.

use mailsift_testkit::{require, root, tempdir};
use std::path::Path;
use std::process::{Command, Output};

fn mailsift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailsift"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run mailsift")
}

fn ok(args: &[&str]) -> String {
    let out = mailsift(args);
    assert!(
        out.status.success(),
        "mailsift {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The project corpus's labelled folders (not `corpus/public` or
/// `corpus/holdout`, which may be installed beside them).
const LABELLED: [&str; 6] = [
    "corpus/malicious",
    "corpus/spoof",
    "corpus/spam",
    "corpus/suspicious",
    "corpus/bulk",
    "corpus/none",
];

/// `command`, the labelled folders with their labels, then `rest`.
fn labelled_args<'a>(command: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![command];
    args.extend(LABELLED);
    args.extend(["--labels", "corpus/labels.csv"]);
    args.extend(rest);
    args
}

/// Trains on the project corpus (its dispositions: anything but NONE and
/// BULK is spam).
fn train(out: &Path, seed: &str) -> String {
    let out = out.to_str().expect("path");
    let rest = ["--out", out, "--cv", "3", "--seed", seed, "--bits", "16"];
    ok(&labelled_args("train", &rest))
}

#[test]
fn training_is_deterministic_and_prints_cross_validation() {
    let dir = tempdir("train-determinism");
    let (a, b, c) = (
        dir.join("a.model"),
        dir.join("b.model"),
        dir.join("c.model"),
    );
    let printed = train(&a, "7");
    train(&b, "7");
    train(&c, "8");
    let (a, b, c) = (
        std::fs::read(&a).expect("a"),
        std::fs::read(&b).expect("b"),
        std::fs::read(&c).expect("c"),
    );
    assert_eq!(a, b, "the same corpus and seed give the same model");
    assert_ne!(a, c, "another seed shuffles differently");
    assert!(printed.contains("3-fold cross-validation"), "{printed}");
    for row in ["\n  1 ", "\n  2 ", "\n  3 ", "\n  all "] {
        assert!(printed.contains(row), "no fold row {row:?} in {printed}");
    }
    assert!(
        printed.contains("spam recall") && printed.contains("ham FP"),
        "{printed}"
    );
    assert!(printed.contains("(68 spam, 33 legitimate)"), "{printed}");
    assert!(printed.contains(" 0 without a label"), "{printed}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_model_adds_its_evidence_and_a_broken_one_is_refused() {
    let dir = tempdir("train-use");
    let model = dir.join("m.model");
    train(&model, "1");
    let m = model.to_str().expect("path");
    let shown = ok(&["check", "corpus/spam/01-pharma-thebat.eml", "--model", m]);
    assert!(shown.contains("MODEL_"), "{shown}");
    assert!(shown.contains("p(spam) = "), "{shown}");
    assert!(shown.contains("weighed most: "), "{shown}");

    let good = std::fs::read(&model).expect("model");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "flipped",
            {
                let mut b = good.clone();
                let at = b.len() / 2;
                b[at] ^= 0x40;
                b
            },
            "corrupt",
        ),
        ("truncated", good[..good.len() / 3].to_vec(), "corrupt"),
        (
            "not-a-model",
            b"path,label\n".to_vec(),
            "not a mailsift model",
        ),
        (
            "future",
            {
                let mut b = good.clone();
                b[15] = 2;
                b
            },
            "retrain",
        ),
    ];
    for (name, bytes, expected) in cases {
        let bad = dir.join(format!("{name}.model"));
        std::fs::write(&bad, bytes).expect("write");
        let out = mailsift(&[
            "check",
            "corpus/spam/01-pharma-thebat.eml",
            "--model",
            bad.to_str().expect("path"),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: accepted");
        assert!(err.contains(expected), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}.model")),
            "{name}: names the file: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn compare_model_reports_what_a_model_changes() {
    // A model trained on the 2002 public corpus disagrees with the rules on
    // today's project corpus: what it changes is listed.
    let public = require("corpus/public", "scripts/fetch-public-corpus.sh");
    let dir = tempdir("train-compare");
    let model = dir.join("m.model");
    let labels = public.join("labels.csv");
    ok(&[
        "train",
        public.to_str().expect("path"),
        "--labels",
        labels.to_str().expect("path"),
        "--out",
        model.to_str().expect("path"),
    ]);
    let out = ok(&[
        "replay",
        "corpus/spam",
        "corpus/none",
        "corpus/bulk",
        "--labels",
        "corpus/labels.csv",
        "--compare-model",
        model.to_str().expect("path"),
        "--format",
        "json",
    ]);
    let summary: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let comparison = &summary["comparison"];
    assert!(comparison.is_object(), "{summary}");
    assert_eq!(
        comparison["messages"],
        summary["messages"].as_u64().unwrap_or(0) - summary["errors"].as_u64().unwrap_or(0),
        "every readable message compared: {summary}"
    );
    let changed = comparison["changed"].as_u64().expect("changed");
    let changes = comparison["changes"].as_array().expect("changes");
    assert_eq!(changes.len() as u64, changed, "{comparison}");
    assert!(
        changed > 0,
        "a model trained on this corpus changes some verdicts: {comparison}"
    );
    for change in changes {
        assert!(
            change["added"].to_string().contains("MODEL_")
                || change["removed"].to_string().contains("MODEL_"),
            "a changed message names the model's findings: {change}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_html_report_renders_in_chromium() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("Chromium is needed for this test: scripts/test.sh installs Debian's `chromium`");
    let dir = tempdir("report");
    let model = dir.join("m.model");
    train(&model, "1");
    let report = dir.join("report.html");
    let rest = [
        "--model",
        model.to_str().expect("path"),
        "--report",
        report.to_str().expect("path"),
    ];
    ok(&labelled_args("replay", &rest));
    let html = std::fs::read_to_string(&report).expect("report");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network"
    );
    let page = format!("file://{}", report.display());
    let headless = |extra: &[&str], url: &str| {
        let out = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--window-size=1280,2000",
            ])
            .args(extra)
            .arg(url)
            .output()
            .expect("run chromium");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    // The DOM after the page's script ran: every section, the heat map's
    // links, charts, and the cell the link points at opened.
    let opened = format!("{page}#cell-SPAM-SPAM");
    let dom = String::from_utf8_lossy(&headless(&["--dump-dom"], &opened).stdout).into_owned();
    for expected in [
        "id=\"dispositions\"",
        "id=\"confusion\"",
        "class=\"heat\"",
        "href=\"#cell-SPAM-SPAM\"",
        "id=\"scores\"",
        "class=\"histogram\"",
        "id=\"rules\"",
        "id=\"calibration\"",
        "<circle",
        "id=\"domains\"",
        "id=\"slowest\"",
        "<details id=\"cell-SPAM-SPAM\" open=\"\">",
        "corpus/spam/01-pharma-thebat.eml",
    ] {
        assert!(
            dom.contains(expected),
            "{expected} not in the rendered page"
        );
    }
    let shot = dir.join("report.png");
    headless(&[&format!("--screenshot={}", shot.display())], &page);
    let png = std::fs::read(&shot).expect("screenshot");
    // A blank page compresses to a few kilobytes; the drawn top of this
    // one (title, bars, heat map, histograms) to about a hundred.
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 30_000,
        "the page is drawn ({} bytes)",
        png.len()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tune_writes_a_proposal_beside_the_live_rules_and_never_over_them() {
    let dir = tempdir("tune");
    let out = dir.join("proposal");
    let live_scores = std::fs::read(root().join("rules/scores.toml")).expect("live scores");
    let rest = [
        "--max-fp",
        "0%",
        "--folds",
        "3",
        "--out",
        out.to_str().expect("path"),
    ];
    let args = labelled_args("tune", &rest);
    let printed = ok(&args);
    for row in [
        "live rules",
        "proposal",
        "cross-validated",
        "spam flagged (recall)",
        "legitimate flagged (FP)",
    ] {
        assert!(printed.contains(row), "{row} missing: {printed}");
    }
    let proposed = std::fs::read_to_string(out.join("scores.toml")).expect("proposal");
    assert!(
        proposed.starts_with("# Proposed by `mailsift tune`"),
        "{proposed}"
    );
    // The proposal is a rules directory the engine loads.
    ok(&["rules", "--rules", out.to_str().expect("path")]);
    assert_eq!(
        std::fs::read(root().join("rules/scores.toml")).expect("live scores"),
        live_scores,
        "the live rules are untouched"
    );
    let again = mailsift(&args);
    assert!(!again.status.success(), "an existing --out is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let bad = mailsift(&[
        "tune",
        "corpus/spam",
        "--labels",
        "corpus/labels.csv",
        "--max-fp",
        "5 percent",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--max-fp"));
    let _ = std::fs::remove_dir_all(dir);
}
