//! The `mailsift` binary: exit codes, output formats, sources.

use mailsift_testkit::{root, rules_copy, tempdir};
use std::process::{Command, Output};

fn mailsift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailsift"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run mailsift")
}

/// Runs a command that must succeed and print one JSON document.
fn json_of(args: &[&str]) -> serde_json::Value {
    let out = mailsift(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn replay_corpus_json_summary_has_the_contract_fields() {
    let s = json_of(&[
        "replay",
        "corpus/malicious",
        "corpus/none",
        "--labels",
        "corpus/labels.csv",
        "--format",
        "json",
    ]);
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
    let dir = tempdir("jsonl");
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
    let n = std::fs::read_dir(root().join("corpus/spam"))
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
    let dir = tempdir("sources");
    let a = std::fs::read(root().join("corpus/spam/01-pharma-thebat.eml")).expect("a");
    let b = std::fs::read(root().join("corpus/none/01-internal-team-lunch.eml")).expect("b");
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
    let s = json_of(&["replay", dir.to_str().expect("path"), "--format", "json"]);
    assert_eq!(s["messages"], 4, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
}

/// Messages without an extension (SpamAssassin's corpora, MH folders) are
/// read, labelled by path; files that are no messages are reported as
/// skipped with why, in the text and the JSON summary.
#[test]
fn replay_reads_extensionless_messages_and_reports_skipped_files() {
    let dir = tempdir("extensionless");
    let spam = std::fs::read(root().join("corpus/spam/01-pharma-thebat.eml")).expect("spam");
    let mut with_from_line = b"From sender@example.org Tue Mar 12 10:15:02 2002\n".to_vec();
    with_from_line.extend_from_slice(&spam);
    std::fs::write(
        dir.join("00001.7848dde101aa985090474a91ec93fcf0"),
        &with_from_line,
    )
    .expect("sa");
    std::fs::create_dir_all(dir.join("inbox")).expect("mh");
    std::fs::write(dir.join("inbox/17"), &spam).expect("mh msg");
    std::fs::write(dir.join("README.txt"), "how this corpus was made\n").expect("readme");
    std::fs::write(
        dir.join("labels.csv"),
        "path,label\n00001.7848dde101aa985090474a91ec93fcf0,SPAM\ninbox/17,SPAM\n",
    )
    .expect("labels");
    let labels = dir.join("labels.csv");
    let d = dir.to_str().expect("path");
    let s = json_of(&[
        "replay",
        d,
        "--labels",
        labels.to_str().expect("path"),
        "--format",
        "json",
    ]);
    assert_eq!(s["messages"], 2, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
    assert_eq!(s["unlabelled"], 0, "both are found under their labels: {s}");
    assert_eq!(s["skipped"], 2, "{s}");
    let skipped = s["skipped_samples"].to_string();
    assert!(
        skipped.contains("README.txt") && skipped.contains("labels.csv"),
        "{skipped}"
    );
    assert!(
        skipped.contains("does not start with a header field"),
        "{skipped}"
    );
    let text = mailsift(&["replay", d]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("skipped 2 files that are not messages:"),
        "{text}"
    );
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
    let dir = rules_copy("broken");
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

/// Live DNS recorded by `check`/`replay --record-dns`, replayed with
/// `--dns`, gives the same verdicts: the recording holds every answer the
/// verdicts used. The "live" server here is the fixtures' zone on loopback.
#[test]
fn recorded_dns_replays_live_verdicts_exactly() {
    use mailsift_auth::zone::Zone;
    use mailsift_auth::zone_server::ZoneServer;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let zone = Zone::load(&root().join("corpus/auth/dns.yml")).expect("zone");
    let server = runtime
        .block_on(ZoneServer::start(std::sync::Arc::new(zone)))
        .expect("server");
    let dir = tempdir("record-dns");
    let recording = dir.join("recorded.yml");
    let live_out = dir.join("live.jsonl");
    let replay_out = dir.join("replayed.jsonl");
    let server_addr = server.addr().to_string();
    let live = mailsift(&[
        "replay",
        "corpus/auth",
        "--live-dns",
        "--dns-server",
        &server_addr,
        "--dns-timeout-ms",
        "100",
        "--record-dns",
        recording.to_str().expect("path"),
        "--out",
        live_out.to_str().expect("path"),
    ]);
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    drop(server);
    let replayed = mailsift(&[
        "replay",
        "corpus/auth",
        "--dns",
        recording.to_str().expect("path"),
        "--out",
        replay_out.to_str().expect("path"),
    ]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let verdicts = |p: &std::path::Path| {
        let mut v: Vec<(String, String, String)> = std::fs::read_to_string(p)
            .expect("jsonl")
            .lines()
            .map(|l| {
                let j: serde_json::Value = serde_json::from_str(l).expect("json line");
                (
                    j["path"].as_str().unwrap_or_default().to_string(),
                    j["disposition"].as_str().unwrap_or_default().to_string(),
                    j["rules"].to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let (a, b) = (verdicts(&live_out), verdicts(&replay_out));
    assert_eq!(a.len(), 12);
    assert_eq!(a, b, "replay from the recording differs from the live run");
    let recorded = Zone::load(&recording).expect("recording loads");
    assert!(recorded.len() >= 10, "{} names recorded", recorded.len());
    let text = std::fs::read_to_string(&recording).expect("recording");
    assert!(
        text.contains("TIMEOUT"),
        "the slow domain is recorded as a timeout"
    );
}

#[test]
fn check_with_recorded_dns_shows_and_stamps_authentication() {
    let out = mailsift(&[
        "check",
        "corpus/auth/10-partner-forged.eml",
        "--dns",
        "corpus/auth/dns.yml",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("disposition: SPOOF"), "{text}");
    assert!(text.contains("AUTH_ALLOW_UNAUTHENTICATED"), "{text}");
    assert!(
        text.contains("dmarc=fail (p=reject) header.from=adp-partner.com"),
        "{text}"
    );
    let stamped = mailsift(&[
        "check",
        "corpus/auth/01-aligned-pass.eml",
        "--dns",
        "corpus/auth/dns.yml",
        "--stamp",
    ]);
    let text = String::from_utf8_lossy(&stamped.stdout);
    assert!(
        text.contains("Authentication-Results: mailsift.local;\r\n\tspf=pass"),
        "{text:.600}"
    );
    let bad = mailsift(&[
        "check",
        "corpus/auth/01-aligned-pass.eml",
        "--dns",
        "no/such/zone.yml",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no/such/zone.yml"));
}

/// `corpus add` copies the message under its label with the next number,
/// lists it in labels.csv, records today's verdict as its golden file, and
/// refuses the same message twice or a label that is no disposition.
#[test]
fn corpus_add_brings_a_message_in_with_label_and_golden_verdict() {
    let corpus = tempdir("corpus-add");
    std::fs::create_dir_all(corpus.join("spam")).expect("dir");
    std::fs::write(corpus.join("spam/07-old.eml"), "Subject: old\n\nx\n").expect("old");
    std::fs::write(
        corpus.join("labels.csv"),
        "path,label\nspam/07-old.eml,SPAM",
    )
    .expect("labels");
    let message = root().join("corpus/spam/01-pharma-thebat.eml");
    let c = corpus.to_str().expect("path");
    let m = message.to_str().expect("path");
    let out = mailsift(&[
        "corpus",
        "add",
        m,
        "--label",
        "SPAM",
        "--corpus",
        c,
        "--name",
        "Pharma, again",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added = corpus.join("spam/08-pharma-again.eml");
    assert_eq!(
        std::fs::read(&added).expect("copied"),
        std::fs::read(&message).expect("original")
    );
    let labels = std::fs::read_to_string(corpus.join("labels.csv")).expect("labels");
    assert_eq!(
        labels,
        "path,label\nspam/07-old.eml,SPAM\nspam/08-pharma-again.eml,SPAM\n"
    );
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(corpus.join("golden/spam/08-pharma-again.eml.json"))
            .expect("golden"),
    )
    .expect("JSON");
    assert_eq!(golden["disposition"], "SPAM", "{golden}");
    assert!(
        golden["reasons"].as_array().is_some_and(|r| !r.is_empty()),
        "{golden}"
    );
    let again = mailsift(&["corpus", "add", m, "--label", "SPAM", "--corpus", c]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr)
        .contains("already in the corpus as spam/08-pharma-again.eml"));
    let bad = mailsift(&["corpus", "add", m, "--label", "JUNK", "--corpus", c]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown label `JUNK`"));
}

/// `--compare-rules`: with a SPAM threshold no message reaches, the spam
/// fixtures change, the table and the per-label loss say so, and each
/// changed message is listed with its own from and to.
#[test]
fn replay_compares_two_rule_sets() {
    let other = rules_copy("compare-rules");
    let engine_toml = std::fs::read_to_string(other.join("engine.toml")).expect("engine.toml");
    std::fs::write(
        other.join("engine.toml"),
        engine_toml.replacen("SPAM = 5.0", "SPAM = 500.0", 1),
    )
    .expect("write");
    let s = json_of(&[
        "replay",
        "corpus/spam",
        "--labels",
        "corpus/labels.csv",
        "--compare-rules",
        other.to_str().expect("path"),
        "--format",
        "json",
    ]);
    let c = &s["comparison"];
    let spam = s["dispositions"]["SPAM"].as_u64().expect("SPAM count");
    assert_eq!(c["messages"], s["messages"], "{c}");
    assert_eq!(
        c["changed"].as_u64(),
        Some(spam),
        "every SPAM verdict changes: {c}"
    );
    assert!(
        c["transitions"]
            .as_object()
            .expect("table")
            .keys()
            .all(|k| k.starts_with("SPAM -> ")),
        "{c}"
    );
    assert_eq!(c["labels"]["SPAM"]["lost"].as_u64(), Some(spam), "{c}");
    assert_eq!(c["labels"]["SPAM"]["gained"], 0, "{c}");
    let changes = c["changes"].as_array().expect("changes");
    assert_eq!(changes.len() as u64, spam);
    assert!(
        changes
            .iter()
            .all(|ch| ch["from"] == "SPAM" && ch["to"] != "SPAM"),
        "{c}"
    );
    let text = mailsift(&[
        "replay",
        "corpus/spam",
        "--compare-rules",
        other.to_str().expect("path"),
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    let total = s["messages"].as_u64().expect("messages");
    assert!(
        text.contains(&format!("{spam} of {total} messages changed disposition")),
        "{text}"
    );
}
