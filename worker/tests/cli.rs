//! The `mailsift` binary: exit codes, output formats, sources.

mod common;

use std::process::{Command, Output};

fn mailsift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailsift"))
        .args(args)
        .current_dir(common::root())
        .output()
        .expect("run mailsift")
}

#[test]
fn replay_corpus_json_summary_has_the_contract_fields() {
    let out = mailsift(&[
        "replay",
        "corpus/malicious",
        "corpus/none",
        "--labels",
        "corpus/labels.csv",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for key in [
        "messages",
        "seconds",
        "messages_per_second",
        "dispositions",
        "rules",
        "errors",
        "confusion",
    ] {
        assert!(s.get(key).is_some(), "missing {key}: {s}");
    }
    assert_eq!(s["errors"], 0);
    assert!(
        s["confusion"]["MALICIOUS"]["MALICIOUS"]
            .as_u64()
            .unwrap_or(0)
            >= 15,
        "{s}"
    );
}

#[test]
fn replay_writes_one_json_line_per_message() {
    let dir = common::tempdir("jsonl");
    let out_file = dir.join("out.jsonl");
    let out = mailsift(&[
        "replay",
        "corpus/spam",
        "--out",
        out_file.to_str().expect("path"),
        "--threads",
        "1",
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&out_file).expect("jsonl");
    let n = std::fs::read_dir(common::root().join("corpus/spam"))
        .expect("dir")
        .count();
    assert_eq!(text.lines().count(), n);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("line JSON");
        for key in [
            "path",
            "message_id",
            "disposition",
            "route",
            "score",
            "rules",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {v}");
        }
    }
}

#[test]
fn replay_reads_mbox_and_maildir() {
    let dir = common::tempdir("sources");
    let a = std::fs::read(common::root().join("corpus/spam/01-pharma-thebat.eml")).expect("a");
    let b =
        std::fs::read(common::root().join("corpus/none/01-internal-team-lunch.eml")).expect("b");
    let mut mbox = Vec::new();
    for m in [&a, &b] {
        mbox.extend_from_slice(b"From sender@example.org Tue Mar 12 10:15:02 2024\n");
        mbox.extend_from_slice(m);
        mbox.extend_from_slice(b"\n");
    }
    std::fs::write(dir.join("box.mbox"), mbox).expect("mbox");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join("md").join(sub)).expect("maildir");
    }
    std::fs::write(dir.join("md/cur/1700000000.1.host:2,S"), &a).expect("md msg");
    std::fs::write(dir.join("md/new/1700000001.2.host"), &b).expect("md msg");
    let out = mailsift(&["replay", dir.to_str().expect("path"), "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(s["messages"], 4, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
}

#[test]
fn check_shows_findings_and_stamps() {
    let out = mailsift(&["check", "corpus/malicious/01-invoice-pdf-exe.eml"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("disposition: MALICIOUS"), "{text}");
    assert!(text.contains("ATT_DOUBLE_EXT"), "{text}");
    let out = mailsift(&[
        "check",
        "corpus/malicious/01-invoice-pdf-exe.eml",
        "--stamp",
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("X-Mailsift-Disposition: MALICIOUS"));
    let out = mailsift(&[
        "check",
        "corpus/none/01-internal-team-lunch.eml",
        "--format",
        "json",
        "--peer-ip",
        "91.200.1.1",
        "--mail-from",
        "ceo@contoso.com",
        "--rcpt",
        "bob@contoso.com",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON verdict");
    assert_eq!(v["envelope"]["peer_ip"], "91.200.1.1");
    // Internal-looking mail claiming contoso.com from outside its ranges.
    assert_eq!(v["disposition"], "SPOOF", "{v}");
}

#[test]
fn broken_rules_fail_at_start_with_file_and_line() {
    let dir = common::rules_copy("broken");
    std::fs::write(
        dir.join("engine.toml"),
        "[thresholds]\nMALICIOUS = 10.0\nSPAM = \"high\"\n",
    )
    .expect("write");
    let out = mailsift(&[
        "replay",
        "corpus/spam",
        "--rules",
        dir.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("engine.toml:3:"), "{err}");
}

#[test]
fn usage_errors_are_non_zero() {
    assert!(!mailsift(&["replay"]).status.success());
    assert!(!mailsift(&["replay", "no/such/dir"]).status.success());
    assert!(!mailsift(&["frobnicate"]).status.success());
}

#[test]
fn rules_lists_every_id() {
    let out = mailsift(&["rules"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for id in [
        "HDR_MISSING_DATE",
        "SPOOF_LOOKALIKE_DOMAIN",
        "PH_PHISH_CREDENTIALS",
        "COMBO_CREDENTIAL_PHISH",
        "BULK_ESP",
    ] {
        assert!(text.contains(id), "{id} missing");
    }
}
