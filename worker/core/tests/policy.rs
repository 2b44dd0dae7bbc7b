//! Policy behaviour end to end: modes, routes, allow tiers, spoof pairs,
//! outbound relaying and loop prevention, on the shipped example policy
//! (contoso.com mx, fabrikam.com gateway, tailspintoys.com journal).

use mailsift_core::{Direction, Disposition, Engine, Envelope, Route, Verdict};
use mailsift_testkit::{engine, root, rules_copy};

const SPAMMY: &str = "Buy cheap viagra and cialis from our online pharmacy, no prescription! \
100% free shipping, act now, limited time offer, click here. Lose weight fast with diet pills.";

fn message(from: &str, to: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "Received: from mail.sender.example (mail.sender.example [64.0.0.10]) by mx1.contoso.com with ESMTPS id 1; Tue, 12 Mar 2024 10:15:02 +0000\r\n\
From: {from}\r\nTo: {to}\r\nSubject: Hello\r\nDate: Tue, 12 Mar 2024 10:14:00 +0000\r\nMessage-ID: <m1@sender.example>\r\n{extra_headers}\r\n{body}\r\n"
    )
    .into_bytes()
}

fn envelope(peer: &str, mail_from: &str, rcpt: &str) -> Envelope {
    Envelope {
        peer_ip: Some(peer.parse().expect("ip")),
        helo: Some("mail.sender.example".into()),
        mail_from: Some(mail_from.into()),
        rcpt_to: vec![rcpt.into()],
        tls: Some(true),
        received_at: Some(1_710_238_502),
        queue_id: Some("Q1".into()),
        ..Envelope::default()
    }
}

fn classify(raw: &[u8], env: &Envelope) -> Verdict {
    engine().classify(raw, Some(env))
}

fn has(v: &Verdict, rule: &str) -> bool {
    v.findings.iter().any(|f| f.rule == rule)
}

#[test]
fn mx_always_quarantines_spam() {
    let raw = message("deals@pills.example", "bob@contoso.com", "", SPAMMY);
    let v = classify(
        &raw,
        &envelope("64.0.0.10", "deals@pills.example", "bob@contoso.com"),
    );
    assert_eq!(v.disposition, Disposition::Spam, "{:?}", v.findings);
    assert_eq!(v.route, Route::Quarantine);
    assert_eq!(v.policy_domain, "contoso.com");
}

#[test]
fn mx_policy_that_turns_off_spam_quarantine_is_refused() {
    let dir = rules_copy("mx-refused");
    let policy = std::fs::read_to_string(dir.join("policy.toml")).expect("policy");
    let changed = policy.replacen(
        "quarantine = [\"MALICIOUS\", \"SPAM\", \"SPOOF\"]",
        "quarantine = [\"MALICIOUS\", \"SPOOF\"]",
        1,
    );
    assert_ne!(policy, changed, "fixture edit did not apply");
    std::fs::write(dir.join("policy.toml"), &changed).expect("write");
    let err = Engine::load(&dir).expect_err("must be refused").to_string();
    let line = changed
        .lines()
        .position(|l| l.starts_with("quarantine = [\"MALICIOUS\", \"SPOOF\"]"))
        .expect("line")
        + 1;
    assert!(err.contains(&format!("policy.toml:{line}:")), "{err}");
    assert!(
        err.contains("always quarantines MALICIOUS and SPAM"),
        "{err}"
    );
}

#[test]
fn journal_mode_is_detect_only() {
    let raw = message("deals@pills.example", "eve@tailspintoys.com", "", SPAMMY);
    let v = classify(
        &raw,
        &envelope("64.0.0.10", "deals@pills.example", "eve@tailspintoys.com"),
    );
    assert_eq!(v.disposition, Disposition::Spam);
    assert_eq!(
        v.route,
        Route::DetectOnly,
        "journal mode never delivers or quarantines"
    );
}

#[test]
fn journal_report_is_unwrapped_with_its_envelope() {
    let raw =
        std::fs::read(root().join("corpus/journal/02-malicious-docusign-r2.eml")).expect("fixture");
    let v = engine().classify(&raw, None);
    assert!(v.journal);
    assert!(has(&v, "INFO_JOURNAL_UNWRAPPED"));
    assert_eq!(v.route, Route::DetectOnly);
    assert_eq!(v.disposition, Disposition::Malicious);
    assert!(
        v.envelope
            .rcpt_to
            .iter()
            .all(|r| r.ends_with("@tailspintoys.com")),
        "{:?}",
        v.envelope.rcpt_to
    );
}

#[test]
fn malformed_journal_report_is_bad_input() {
    let raw = std::fs::read(root().join("corpus/bad/journal-malformed.eml")).expect("fixture");
    let v = engine().classify(&raw, None);
    assert!(v.error.is_some());
    assert!(has(&v, "JOURNAL_MALFORMED"));
    assert_ne!(v.route, Route::Deliver);
}

#[test]
fn gateway_mode_skips_the_office365_hop() {
    let raw = format!(
        "Received: from EUR05-AM6-obe.outbound.protection.outlook.com (mail-am6eur05on2110.outbound.protection.outlook.com [40.107.22.110]) by gw1.fabrikam.com; Tue, 12 Mar 2024 10:15:04 +0000\r\n\
Received: from bad.example (unknown [185.100.87.3]) by AM6EUR05FT001.mail.protection.outlook.com; Tue, 12 Mar 2024 10:15:02 +0000\r\n\
From: deals@pills.example\r\nTo: ann@fabrikam.com\r\nSubject: Hi\r\nDate: Tue, 12 Mar 2024 10:14:00 +0000\r\nMessage-ID: <x@pills.example>\r\n\r\n{SPAMMY}\r\n"
    );
    let v = engine().classify(raw.as_bytes(), None);
    assert_eq!(v.policy_domain, "fabrikam.com");
    let origin = v.origin.as_ref().expect("origin");
    assert_eq!(
        origin.ip,
        Some("185.100.87.3".parse().expect("ip")),
        "{}",
        origin.reason
    );
    assert!(
        origin.reason.contains("skipped 1 configured hop"),
        "{}",
        origin.reason
    );
    assert_eq!(v.route, Route::Quarantine);
    assert_eq!(v.region, "eu");
}

#[test]
fn trusted_sender_skips_checks_only_when_aligned() {
    let raw = message("payroll@adp-partner.com", "bob@contoso.com", "", SPAMMY);
    let v = classify(
        &raw,
        &envelope("64.0.0.10", "bounces@adp-partner.com", "bob@contoso.com"),
    );
    assert_eq!(v.disposition, Disposition::None);
    assert!(has(&v, "ALLOW_TRUSTED_SENDER"));
    // Forged visible From with a foreign envelope sender: not trusted.
    let v = classify(
        &raw,
        &envelope("64.0.0.10", "x@pills.example", "bob@contoso.com"),
    );
    assert!(!has(&v, "ALLOW_TRUSTED_SENDER"));
    assert_eq!(v.disposition, Disposition::Spam);
}

#[test]
fn acceptable_sender_is_exempt_from_spam_bulk_spoof_only() {
    let raw = message(
        "news@newsletters.contoso-partners.com",
        "bob@contoso.com",
        "List-Unsubscribe: <https://x.example/u>\r\nPrecedence: bulk\r\n",
        SPAMMY,
    );
    let v = classify(
        &raw,
        &envelope(
            "64.0.0.10",
            "b@newsletters.contoso-partners.com",
            "bob@contoso.com",
        ),
    );
    assert!(has(&v, "ALLOW_ACCEPTABLE_SENDER"));
    assert_eq!(v.disposition, Disposition::None, "{:?}", v.scores);
    // ... but not from MALICIOUS.
    let phish = "Your mailbox is full. Verify your account within 24 hours or your account will be suspended: \
<a href=\"http://45.61.12.8/login\">https://login.microsoftonline.com</a>";
    let raw = message(
        "news@newsletters.contoso-partners.com",
        "bob@contoso.com",
        "Content-Type: text/html\r\n",
        &format!("<p>{phish}</p><form action=\"http://45.61.12.8/p\"><input type=password></form>"),
    );
    let v = classify(
        &raw,
        &envelope(
            "64.0.0.10",
            "b@newsletters.contoso-partners.com",
            "bob@contoso.com",
        ),
    );
    assert_eq!(v.disposition, Disposition::Malicious, "{:?}", v.findings);
}

#[test]
fn exempt_recipient_gets_everything() {
    let raw = message("deals@pills.example", "abuse@contoso.com", "", SPAMMY);
    let v = classify(
        &raw,
        &envelope("64.0.0.10", "deals@pills.example", "abuse@contoso.com"),
    );
    assert!(has(&v, "ALLOW_EXEMPT_RECIPIENT"));
    assert_eq!(v.route, Route::Deliver);
}

#[test]
fn blocked_sender_is_malicious() {
    let raw = message(
        "sales@known-bad-vendor.biz",
        "bob@contoso.com",
        "",
        "Please see our catalogue.",
    );
    let v = classify(
        &raw,
        &envelope("64.0.0.10", "sales@known-bad-vendor.biz", "bob@contoso.com"),
    );
    assert_eq!(v.disposition, Disposition::Malicious);
    assert_eq!(v.route, Route::Quarantine);
}

#[test]
fn spoof_allow_pair_suppresses_only_its_range() {
    let raw = message(
        "marketing@contoso.com",
        "bob@contoso.com",
        "",
        "Our spring update.",
    );
    let allowed = classify(
        &raw,
        &envelope("149.72.1.2", "bounces@sendgrid.net", "bob@contoso.com"),
    );
    assert_ne!(
        allowed.disposition,
        Disposition::Spoof,
        "{:?}",
        allowed.findings
    );
    assert!(has(&allowed, "INFO_SPOOF_ALLOWED"));
    let outside = classify(
        &raw,
        &envelope("91.200.12.1", "marketing@contoso.com", "bob@contoso.com"),
    );
    assert_eq!(
        outside.disposition,
        Disposition::Spoof,
        "{:?}",
        outside.findings
    );
    assert!(has(&outside, "SPOOF_PROTECTED_DOMAIN_UNAUTHORIZED"));
}

#[test]
fn outbound_relay_only_for_the_tenants_domains() {
    // contoso's outbound relay (20.45.67.80/29) relaying contoso mail: fine.
    let raw = message(
        "bob@contoso.com",
        "someone@example.org",
        "",
        "Minutes attached.",
    );
    let ok = classify(
        &raw,
        &envelope("20.45.67.81", "bob@contoso.com", "someone@example.org"),
    );
    assert_eq!(ok.direction, Direction::Outbound);
    assert_eq!(ok.route, Route::Deliver, "{:?}", ok.findings);
    // Sending as gmail.com through the customer: SPOOF, never delivered.
    let raw = message("someone@gmail.com", "victim@example.org", "", "Hi");
    let relay = classify(
        &raw,
        &envelope("20.45.67.81", "someone@gmail.com", "victim@example.org"),
    );
    assert_eq!(relay.disposition, Disposition::Spoof);
    assert_eq!(relay.route, Route::Quarantine);
    assert!(has(&relay, "OUTBOUND_FOREIGN_SENDER"));
    // Null sender through the relay: the same.
    let null = classify(&raw, &envelope("20.45.67.81", "", "victim@example.org"));
    assert_eq!(null.route, Route::Quarantine);
}

#[test]
fn own_stamp_from_own_mta_is_passed_through_not_elsewhere() {
    let raw = message(
        "deals@pills.example",
        "bob@contoso.com",
        "X-Mailsift-Disposition: BULK\r\n",
        SPAMMY,
    );
    let looped = classify(
        &raw,
        &envelope("192.0.2.10", "deals@pills.example", "bob@contoso.com"),
    );
    assert!(looped.passthrough);
    assert_eq!(looped.disposition, Disposition::Bulk);
    // The same forged stamp from anywhere else is ignored and reclassified.
    let forged = classify(
        &raw,
        &envelope("64.0.0.10", "deals@pills.example", "bob@contoso.com"),
    );
    assert!(!forged.passthrough);
    assert_eq!(forged.disposition, Disposition::Spam);
}

#[test]
fn unlisted_recipients_get_the_default_policy() {
    let raw = message("a@b.example", "x@unlisted.example", "", "hello there");
    let v = classify(
        &raw,
        &envelope("64.0.0.10", "a@b.example", "x@unlisted.example"),
    );
    assert_eq!(v.policy_domain, "*");
    assert_eq!(v.route, Route::Deliver);
}
