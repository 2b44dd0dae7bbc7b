//! `mailsift replay` on hostile input: a per-message error for what
//! cannot be read or scanned, a verdict for the rest, exit status zero.

use mailsift_testkit::{hostile, root};
use std::process::Command;

#[test]
fn replay_reports_errors_per_message_and_exits_zero() {
    let (dir, count) = hostile::write_dir("replay");
    let out = Command::new(env!("CARGO_BIN_EXE_mailsift"))
        .args(["replay", "--format", "json", "--threads", "2"])
        .arg(&dir)
        .current_dir(root())
        .output()
        .expect("run mailsift");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(summary["messages"], count as u64, "{summary}");
    // empty, binary, not-email are error verdicts; the dangling link cannot be read.
    assert_eq!(summary["errors"], 4, "{summary}");
    let samples = summary["error_samples"].to_string();
    assert!(
        samples.contains("dangling.eml") && samples.contains("cannot read"),
        "{samples}"
    );
}
