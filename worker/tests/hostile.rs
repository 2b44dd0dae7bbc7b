//! Hostile and malformed input: every message gets a verdict or a clear
//! per-message error; nothing panics, hangs or aborts the run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Panics are caught by the engine and turned into ENGINE_INTERNAL_ERROR
/// verdicts; here that would hide a bug, so it fails the test.
fn classify_cleanly(name: &str, raw: &[u8]) -> mailsift::Verdict {
    let v = common::engine().classify(raw, None);
    assert!(
        !v.findings.iter().any(|f| f.rule == "ENGINE_INTERNAL_ERROR"),
        "{name}: engine caught a panic: {:?}",
        v.error
    );
    v
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn shared_robustness_corpus() {
    let dir = common::root().join("../shared/robustness");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but {} is missing",
            dir.display()
        );
        panic!(
            "{} is missing: the shared data sets sit beside the project root",
            dir.display()
        );
    }
    let mut files = Vec::new();
    files_under(&dir, &mut files);
    let messages: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("eml" | "msg")))
        .collect();
    assert!(
        messages.len() >= 100,
        "only {} messages found",
        messages.len()
    );
    let mut verdicts = 0;
    for path in &messages {
        let raw = std::fs::read(path).expect("read");
        classify_cleanly(&path.display().to_string(), &raw);
        verdicts += 1;
    }
    assert_eq!(verdicts, messages.len());
}

/// Inputs that once broke something (fuzzer finds, malformed reports).
#[test]
fn regression_inputs_in_corpus_bad() {
    let dir = common::root().join("corpus/bad");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus/bad") {
        let path = entry.expect("entry").path();
        let raw = std::fs::read(&path).expect("read");
        classify_cleanly(&path.display().to_string(), &raw);
        n += 1;
    }
    assert!(n >= 2);
}

fn nested_multipart(depth: usize) -> Vec<u8> {
    let mut m = String::from(
        "From: a@b.example\r\nTo: c@contoso.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n",
    );
    for i in 0..depth {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    m.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
    for i in (0..depth).rev() {
        m.push_str(&format!("--b{i}--\r\n"));
    }
    m.into_bytes()
}

fn many_parts(n: usize) -> Vec<u8> {
    let mut m = b"From: a@b.example\r\nTo: c@contoso.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"P\"\r\n\r\n".to_vec();
    for i in 0..n {
        m.extend_from_slice(
            format!(
                "--P\r\nContent-Type: application/octet-stream; name=\"f{i}.bin\"\r\n\r\nx\r\n"
            )
            .as_bytes(),
        );
    }
    m.extend_from_slice(b"--P--\r\n");
    m
}

fn big_attachment(bytes: usize) -> Vec<u8> {
    let mut m = b"From: a@b.example\r\nTo: c@contoso.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--X\r\nContent-Type: application/octet-stream; name=\"blob.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
    while m.len() < bytes {
        m.extend_from_slice(line);
    }
    m.extend_from_slice(b"--X--\r\n");
    m
}

/// Inputs the issue names, written to a directory.
fn hostile_dir(name: &str) -> (PathBuf, usize) {
    let dir = common::tempdir(name);
    let mut huge_header = b"From: a@b.example\r\nTo: c@contoso.com\r\nSubject: ".to_vec();
    huge_header.extend(std::iter::repeat_n(b'x', 1 << 20));
    huge_header.extend_from_slice(b"\r\nX-Many: 1\r\n\r\nbody\r\n");
    let mut many_received = Vec::new();
    for i in 0..20_000 {
        many_received.extend_from_slice(
            format!(
                "Received: from h{i} (h{i} [10.0.{}.{}]) by x; Tue, 12 Mar 2024 10:15:02 +0000\r\n",
                i % 250,
                i % 200
            )
            .as_bytes(),
        );
    }
    many_received.extend_from_slice(b"From: a@b.example\r\n\r\nbody\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.eml", Vec::new()),
        ("binary.eml", (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()),
        ("not-email.eml", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec()),
        ("nul-bytes.eml", b"From: a@b.example\r\nTo: c@contoso.com\r\nSubject: nul\0here\r\n\r\nbody \0\0\0 with NULs\r\n".to_vec()),
        ("invalid-utf8.eml", b"From: \xff\xfe <a@b.example>\r\nTo: c@contoso.com\r\nSubject: caf\xe9 \xc3\x28\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<a href=\"http://\xe9x.example/\">\xf0\x28\x8c\x28</a>\r\n".to_vec()),
        ("truncated.eml", {
            let mut m = big_attachment(10_000);
            m.truncate(5_000);
            m
        }),
        ("truncated-header.eml", b"From: a@b.example\r\nTo: c@contoso.com\r\nSubject: cut mid-hea".to_vec()),
        ("deep-mime.eml", nested_multipart(1_000)),
        ("huge-header.eml", huge_header),
        ("many-received.eml", many_received),
        ("many-parts.eml", many_parts(100_000)),
        ("fifty-mb.eml", big_attachment(50 << 20)),
    ];
    let n = cases.len();
    for (name, bytes) in cases {
        std::fs::write(dir.join(name), bytes).expect("write case");
    }
    // Unreadable: a link to nowhere.
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        "/nonexistent/mailsift/message.eml",
        dir.join("dangling.eml"),
    )
    .expect("symlink");
    (dir, n + 1)
}

#[test]
fn engine_gives_every_hostile_input_a_verdict() {
    let (dir, _) = hostile_dir("engine");
    for entry in std::fs::read_dir(&dir).expect("dir") {
        let path = entry.expect("entry").path();
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        let v = classify_cleanly(&path.display().to_string(), &raw);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        match name {
            "empty.eml" | "binary.eml" | "not-email.eml" => {
                assert!(v.error.is_some(), "{name} should be an error verdict");
                assert_eq!(
                    v.route,
                    mailsift::Route::Quarantine,
                    "{name}: unscannable input is held"
                );
            }
            "fifty-mb.eml" | "deep-mime.eml" | "huge-header.eml" | "nul-bytes.eml"
            | "invalid-utf8.eml" => {
                assert!(v.error.is_none(), "{name}: {:?}", v.error);
            }
            _ => {}
        }
    }
}

/// The sender-authentication path (mail-auth parsing, DKIM over every
/// body, ARC) on every hostile input, with an empty recorded zone: results
/// or "skipped", never a panic.
#[test]
fn authentication_survives_every_hostile_input() {
    let engine = common::engine();
    let auth = mailsift::auth::BlockingAuthenticator::recorded(
        mailsift::auth::zone::Zone::new(),
        &mailsift::auth::dns::DnsConfig::default(),
        "mailsift.test",
    )
    .expect("authenticator");
    let (dir, _) = hostile_dir("auth");
    let mut paths = Vec::new();
    files_under(&dir, &mut paths);
    let shared = common::root().join("../shared/robustness");
    if shared.is_dir() {
        files_under(&shared, &mut paths);
    }
    files_under(&common::root().join("corpus/bad"), &mut paths);
    let mut n = 0;
    for path in paths {
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        let (results, _) = auth.authenticate(engine, &raw, None);
        if let Some(r) = &results {
            assert_ne!(
                r.skipped.as_deref(),
                Some(mailsift::auth::INTERNAL_ERROR),
                "{}: authentication panicked",
                path.display()
            );
        }
        let v = engine.classify_with_auth(&raw, None, results.as_ref());
        assert!(
            !v.findings.iter().any(|f| f.rule == "ENGINE_INTERNAL_ERROR"),
            "{}: {:?}",
            path.display(),
            v.error
        );
        n += 1;
    }
    assert!(n >= 100, "only {n} inputs");
}

#[test]
fn replay_reports_errors_per_message_and_exits_zero() {
    let (dir, count) = hostile_dir("replay");
    let out = Command::new(env!("CARGO_BIN_EXE_mailsift"))
        .args(["replay", "--format", "json", "--threads", "2"])
        .arg(&dir)
        .current_dir(common::root())
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
