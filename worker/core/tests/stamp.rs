//! Stamping: our headers on top, forged ones removed, every other byte
//! identical.

use mailsift_core::stamp::{header_lines, stamp};
use mailsift_core::{Envelope, Verdict};
use mailsift_testkit::{corpus_messages, engine, root};

fn stamped(raw: &[u8]) -> (Vec<u8>, Verdict) {
    let engine = engine();
    let v = engine.classify(raw, Some(&Envelope::default()));
    (stamp(raw, &v, &engine.rules().engine.stamp), v)
}

/// Splits the stamped output into our prepended lines and the rest.
fn split_ours(out: &[u8], n_lines: usize) -> (&[u8], &[u8]) {
    let mut at = 0;
    let mut lines = 0;
    while lines < n_lines {
        let nl = out[at..].iter().position(|&b| b == b'\n').expect("line") + at + 1;
        // folded continuation lines belong to the previous header
        at = nl;
        if !matches!(out.get(at), Some(b' ' | b'\t')) {
            lines += 1;
        }
    }
    out.split_at(at)
}

#[test]
fn every_corpus_message_keeps_its_bytes() {
    let engine = engine();
    for (rel, _, raw) in corpus_messages() {
        let (out, v) = stamped(&raw);
        let ours = header_lines(&v, &engine.rules().engine.stamp).len();
        let (head, rest) = split_ours(&out, ours);
        assert_eq!(
            rest,
            &raw[..],
            "{rel}: bytes after our headers differ from the original"
        );
        let head = String::from_utf8(head.to_vec()).expect("ASCII headers");
        assert!(
            head.starts_with(&format!("X-Mailsift-Disposition: {}\n", v.disposition)),
            "{rel}: {head}"
        );
        assert!(
            head.contains(&format!("X-Area1Security-Disposition: {}\n", v.disposition)),
            "{rel}: {head}"
        );
    }
}

#[test]
fn crlf_messages_get_crlf_headers() {
    let raw = b"From: a@b.example\r\nTo: c@contoso.com\r\nSubject: s\r\n\r\nbody\r\n";
    let (out, _) = stamped(raw);
    let text = String::from_utf8(out.clone()).expect("utf8");
    assert!(
        text.starts_with("X-Mailsift-Disposition: NONE\r\n"),
        "{text}"
    );
    assert!(out.ends_with(raw), "original bytes follow our headers");
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "no bare LF introduced"
    );
}

#[test]
fn forged_stamps_are_removed_and_nothing_else() {
    let raw = b"Received: from x (x [64.0.0.1]) by mx; Tue, 12 Mar 2024 10:15:02 +0000\r\n\
X-Mailsift-Disposition: NONE\r\n\
X-Mailsift-Reasons: none,\r\n\tstill-none\r\n\
x-mailsift-score: 0\r\n\
X-Area1Security-Disposition: NONE\r\n\
From: a@b.example\r\nTo: c@contoso.com\r\nSubject: s\r\n\r\n\
X-Mailsift-Disposition: NONE (in the body, untouched)\r\n";
    let (out, v) = stamped(raw);
    let text = String::from_utf8(out).expect("utf8");
    assert_eq!(
        text.matches("X-Mailsift-Disposition:").count(),
        2,
        "ours + the body line: {text}"
    );
    assert!(!text.contains("still-none"));
    assert!(!text
        .to_ascii_lowercase()
        .contains("x-mailsift-score: 0\r\n"));
    assert_eq!(text.matches("X-Area1Security-Disposition:").count(), 1);
    let expected_rest = "Received: from x (x [64.0.0.1]) by mx; Tue, 12 Mar 2024 10:15:02 +0000\r\nFrom: a@b.example\r\nTo: c@contoso.com\r\nSubject: s\r\n\r\nX-Mailsift-Disposition: NONE (in the body, untouched)\r\n";
    assert!(text.ends_with(expected_rest), "{text}");
    assert!(text.starts_with(&format!("X-Mailsift-Disposition: {}\r\n", v.disposition)));
}

#[test]
fn origin_ip_and_reasons_are_stamped() {
    let raw =
        std::fs::read(root().join("corpus/malicious/01-invoice-pdf-exe.eml")).expect("fixture");
    let (out, v) = stamped(&raw);
    let text = String::from_utf8_lossy(&out);
    let ip = v.origin.as_ref().and_then(|o| o.ip).expect("origin");
    assert!(
        text.contains(&format!("X-Mailsift-Origin-IP: {ip} (")),
        "{text}"
    );
    assert!(text.contains("X-Mailsift-Reasons: "));
    assert!(text.contains("ATT_DANGEROUS_EXT"));
    assert!(text.contains("X-Mailsift-Route: quarantine"));
}
