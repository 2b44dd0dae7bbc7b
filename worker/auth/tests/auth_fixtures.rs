//! Sender-authentication fixtures: `corpus/auth/*.eml` with recorded DNS in
//! `corpus/auth/dns.yml`, judged through the same path as `mailsift replay
//! corpus/auth --dns corpus/auth/dns.yml`. Each fixture's disposition must
//! match `corpus/auth/labels.csv`, and its whole outcome (route, SPF, DKIM,
//! DMARC, ARC, rules) must match `corpus/auth/golden/<name>.json`
//! (`MAILSIFT_BLESS=1` re-records the golden files; review the diff).
//!
//! The messages are signed for real (Ed25519 DKIM and ARC) by `make`
//! below: `MAILSIFT_MAKE_AUTH_FIXTURES=1 cargo test --release --test
//! auth_fixtures make_fixtures` regenerates them from the templates here.

use mail_auth::arc::ArcSealer;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults};
use mailsift_auth::dns::{resolver, DnsConfig};
use mailsift_auth::zone::Zone;
use mailsift_auth::zone_server::ZoneServer;
use mailsift_auth::BlockingAuthenticator;
use mailsift_testkit::{engine, root, Labels};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

fn dir() -> PathBuf {
    root().join("corpus/auth")
}

/// The fixtures' signing key: a fixed Ed25519 seed in PKCS#8 v1 form. Test
/// material only; its public half is in `corpus/auth/dns.yml`.
fn key() -> Ed25519Key {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(b"mailsift auth fixtures seed 0001");
    Ed25519Key::from_pkcs8_maybe_unchecked_der(&der).expect("fixture key")
}

struct Fixture {
    name: &'static str,
    helo: &'static str,
    ip: &'static str,
    mail_from: &'static str,
    /// Header block after Received/Return-Path, then body.
    message: &'static str,
    /// Sign with DKIM for this domain (selector `s1`).
    dkim: Option<&'static str>,
}

const TO: &str = "To: Pat Doe <pat.doe@contoso.com>\r\n";

fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture {
            name: "01-aligned-pass",
            helo: "out1.shop.example",
            ip: "192.0.2.10",
            mail_from: "bounce@shop.example",
            message: "From: Shop Example <news@shop.example>\r\nSubject: Your order 10442 has shipped\r\nDate: Mon, 16 Nov 2026 09:12:00 +0000\r\nMessage-ID: <order-10442@shop.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello Pat,\r\n\r\nYour order 10442 left our warehouse today. It should arrive on Thursday.\r\n\r\nThank you for shopping with us.\r\n",
            dkim: Some("shop.example"),
        },
        Fixture {
            name: "02-spf-only-aligned",
            helo: "mail.partner.example",
            ip: "198.51.100.5",
            mail_from: "alice@partner.example",
            message: "From: Alice Martin <alice@partner.example>\r\nSubject: Agenda for Thursday\r\nDate: Mon, 16 Nov 2026 10:02:00 +0000\r\nMessage-ID: <agenda-1@partner.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi Pat,\r\n\r\nHere is the agenda for Thursday: budget review, then the roadmap.\r\n\r\nAlice\r\n",
            dkim: None,
        },
        Fixture {
            name: "03-forwarder-arc",
            helo: "mx.lists.example.org",
            ip: "192.0.2.200",
            mail_from: "team-bounces@lists.example.org",
            // Signed by shop.example, then the list tags the subject and adds
            // a footer (breaking DKIM) and ARC-seals what it verified.
            message: "From: Bob Stone <bob@shop.example>\r\nSubject: Release notes for 4.2\r\nDate: Mon, 16 Nov 2026 11:30:00 +0000\r\nMessage-ID: <relnotes-42@shop.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi team,\r\n\r\nRelease 4.2 is out. The notes are in the usual place.\r\n\r\nBob\r\n",
            dkim: Some("shop.example"),
        },
        Fixture {
            name: "04-dmarc-reject-fail",
            helo: "vps-3321.hosting.example",
            ip: "203.0.113.66",
            mail_from: "security@bank.example",
            message: "From: Bank Example Security <security@bank.example>\r\nSubject: Account notice\r\nDate: Mon, 16 Nov 2026 12:00:00 +0000\r\nMessage-ID: <n-8812@vps-3321.hosting.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDear customer,\r\n\r\nA notice about your account is available. Please review it at your convenience.\r\n",
            dkim: None,
        },
        Fixture {
            name: "05-dmarc-none-fail",
            helo: "vps-77.hosting.example",
            ip: "203.0.113.70",
            mail_from: "hr@monitor.example",
            message: "From: HR Team <hr@monitor.example>\r\nSubject: Updated holiday calendar\r\nDate: Mon, 16 Nov 2026 12:30:00 +0000\r\nMessage-ID: <cal-2027@vps-77.hosting.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nThe holiday calendar for next year has been updated.\r\n",
            dkim: None,
        },
        Fixture {
            name: "06-no-dmarc",
            helo: "mail.nodmarc.example",
            ip: "203.0.113.80",
            mail_from: "info@nodmarc.example",
            message: "From: Nodmarc Info <info@nodmarc.example>\r\nSubject: Meeting room change\r\nDate: Mon, 16 Nov 2026 13:00:00 +0000\r\nMessage-ID: <room-5@nodmarc.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi Pat,\r\n\r\nTomorrow's meeting moves to room 5.\r\n",
            dkim: None,
        },
        Fixture {
            name: "07-own-domain-spoof",
            helo: "smtp.vps-90.example",
            ip: "203.0.113.90",
            mail_from: "payroll@contoso.com",
            message: "From: Contoso Payroll <payroll@contoso.com>\r\nSubject: Payslip correction\r\nDate: Mon, 16 Nov 2026 14:00:00 +0000\r\nMessage-ID: <ps-77@smtp.vps-90.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nA correction to your payslip is attached to your profile. Reply to confirm your details.\r\n",
            dkim: None,
        },
        Fixture {
            name: "08-exec-display-name",
            helo: "mail-sor-f41.google.com",
            ip: "209.85.220.41",
            mail_from: "megan.bowen.office@gmail.com",
            message: "From: Megan Bowen <megan.bowen.office@gmail.com>\r\nSubject: Quick favour\r\nDate: Mon, 16 Nov 2026 15:00:00 +0000\r\nMessage-ID: <CAF=x1@mail.gmail.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPat, are you at your desk? I need a quick favour before my next meeting.\r\n\r\nMegan\r\n",
            dkim: None,
        },
        Fixture {
            name: "09-lookalike-domain",
            helo: "mail.contos0.com",
            ip: "203.0.113.40",
            mail_from: "billing@contos0.com",
            message: "From: Contoso Billing <billing@contos0.com>\r\nSubject: Updated invoice\r\nDate: Mon, 16 Nov 2026 15:30:00 +0000\r\nMessage-ID: <inv-3@contos0.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi Pat,\r\n\r\nPlease find the updated invoice in your portal and confirm receipt.\r\n",
            dkim: None,
        },
        Fixture {
            name: "10-partner-forged",
            helo: "relay.vps-9.example",
            ip: "203.0.113.9",
            mail_from: "payroll@adp-partner.com",
            message: "From: ADP Payroll <payroll@adp-partner.com>\r\nSubject: Payroll file for November\r\nDate: Mon, 16 Nov 2026 16:00:00 +0000\r\nMessage-ID: <pf-11@relay.vps-9.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nThe payroll file for November is ready for your review.\r\n",
            dkim: None,
        },
        Fixture {
            name: "11-partner-genuine",
            helo: "out.adp-partner.com",
            ip: "198.51.100.130",
            mail_from: "payroll@adp-partner.com",
            message: "From: ADP Payroll <payroll@adp-partner.com>\r\nSubject: Payroll file for November\r\nDate: Mon, 16 Nov 2026 16:05:00 +0000\r\nMessage-ID: <pf-12@adp-partner.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nThe payroll file for November is ready for your review.\r\n",
            dkim: Some("adp-partner.com"),
        },
        Fixture {
            name: "12-dns-timeout",
            helo: "mail.slow.example",
            ip: "203.0.113.50",
            mail_from: "alerts@slow.example",
            message: "From: Slow Alerts <alerts@slow.example>\r\nSubject: Weekly report\r\nDate: Mon, 16 Nov 2026 17:00:00 +0000\r\nMessage-ID: <wr-1@slow.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe weekly report is ready.\r\n",
            dkim: None,
        },
    ]
}

fn sign(domain: &str, message: &str) -> String {
    let sig = DkimSigner::from_key(key())
        .domain(domain)
        .selector("s1")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(message.as_bytes())
        .expect("DKIM signing");
    format!("{}{message}", sig.to_header())
}

/// What the mailing list does in fixture 03: verify, modify, seal.
async fn list_forward(original: &str) -> String {
    let zone = Zone::load(&dir().join("dns.yml")).expect("dns.yml");
    let server = ZoneServer::start(Arc::new(zone))
        .await
        .expect("zone server");
    let auth = resolver(&DnsConfig {
        servers: vec![server.addr()],
        ..DnsConfig::default()
    })
    .expect("resolver");
    // As received by the list from shop.example's own server.
    let msg = AuthenticatedMessage::parse(original.as_bytes()).expect("parse");
    let dkim = auth.verify_dkim(&msg).await;
    let ip = "192.0.2.10".parse().expect("ip");
    let spf = auth
        .verify_spf(SpfParameters::verify_mail_from(
            ip,
            "out1.shop.example",
            "lists.example.org",
            "bob@shop.example",
        ))
        .await;
    let dmarc = auth
        .verify_dmarc(DmarcParameters::new(&msg, &dkim, "shop.example", &spf))
        .await;
    let arc = auth.verify_arc(&msg).await;
    // The list's changes: subject tag and footer.
    let modified = original
        .replace("Subject: Release", "Subject: [team] Release")
        .replace(
            "Bob\r\n",
            "Bob\r\n\r\n--\r\nteam mailing list - https://lists.example.org/team\r\n",
        );
    let modified_msg = AuthenticatedMessage::parse(modified.as_bytes()).expect("parse");
    let results = AuthenticationResults::new("lists.example.org")
        .with_dkim_results(&dkim, "bob@shop.example")
        .with_spf_mailfrom_result(&spf, ip, "bob@shop.example", "out1.shop.example")
        .with_dmarc_result(&dmarc);
    let set = ArcSealer::from_key(key())
        .domain("lists.example.org")
        .selector("s1")
        .headers(["From", "To", "Subject", "DKIM-Signature"])
        .seal(&modified_msg, &results, &arc)
        .expect("ARC seal");
    format!("{}{modified}", set.to_header())
}

fn envelope_headers(f: &Fixture) -> String {
    format!(
        "Return-Path: <{}>\r\nReceived: from {} ({} [{}])\r\n\tby mx1.contoso.com with ESMTPS id {}\r\n\tfor <pat.doe@contoso.com>; Mon, 16 Nov 2026 18:00:00 +0000\r\n",
        f.mail_from,
        f.helo,
        f.helo,
        f.ip,
        f.name.replace('-', "")
    )
}

/// Regenerates `corpus/auth/*.eml` (run on purpose; signatures carry a
/// timestamp, so the bytes change each time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn make_fixtures() {
    if std::env::var_os("MAILSIFT_MAKE_AUTH_FIXTURES").is_none() {
        return;
    }
    for f in fixtures() {
        let headers_and_body = format!("{TO}{}", f.message);
        let mut message = match f.dkim {
            Some(d) => sign(d, &headers_and_body),
            None => headers_and_body,
        };
        if f.name == "03-forwarder-arc" {
            message = list_forward(&message).await;
        }
        let full = format!("{}{message}", envelope_headers(&f));
        std::fs::write(dir().join(format!("{}.eml", f.name)), full).expect("write fixture");
    }
}

#[test]
fn fixtures_match_labels_and_golden_outcomes() {
    let engine = engine();
    let zone = Zone::load(&dir().join("dns.yml")).expect("corpus/auth/dns.yml");
    let auth = BlockingAuthenticator::recorded(
        zone,
        &DnsConfig {
            timeout: std::time::Duration::from_millis(300),
            ..DnsConfig::default()
        },
        "mailsift.test",
    )
    .expect("authenticator");
    let labels = Labels::load(&dir().join("labels.csv")).unwrap_or_else(|e| panic!("{e}"));
    let bless = std::env::var_os("MAILSIFT_BLESS").is_some();
    let mut problems = Vec::new();
    let mut count = 0;
    for (path, label) in labels.iter() {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .expect("file name");
        let raw = std::fs::read(path).expect("fixture");
        let prepared = engine.prepare(engine.parse(raw), None);
        let subject = prepared.auth_subject().expect("fixture is authenticated");
        let (results, _) = auth.authenticate(&subject);
        let verdict = prepared.classify(Some(&results));
        count += 1;
        if !label.accepts(verdict.disposition) {
            problems.push(format!(
                "{file}: {} (label {}); rules {:?}",
                verdict.disposition,
                label.name(),
                verdict.reasons()
            ));
        }
        let outcome = json!({
            "disposition": verdict.disposition.as_str(),
            "route": verdict.route.as_str(),
            "incomplete": verdict.incomplete.is_some(),
            "spf": format!("{} {}", results.spf.result.as_str(), results.spf.domain),
            "dkim": results.dkim.iter().map(|d| format!("{} {}", d.result.as_str(), d.domain)).collect::<Vec<_>>(),
            "dmarc": format!("{} {} p={:?}", results.dmarc.result.as_str(), results.dmarc.domain, results.dmarc.policy),
            "arc": format!("{} sets={}", results.arc.result.as_str(), results.arc.sets),
            "rules": verdict.reasons(),
            "info": verdict.findings.iter().filter(|f| f.weight == 0.0).map(|f| f.rule.as_str()).collect::<Vec<_>>(),
        });
        let golden = dir().join("golden").join(file.replace(".eml", ".json"));
        let text = serde_json::to_string_pretty(&outcome).expect("json") + "\n";
        if bless {
            std::fs::create_dir_all(golden.parent().expect("dir")).expect("mkdir");
            std::fs::write(&golden, &text).expect("bless");
        } else {
            let want = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
                panic!("{} missing: run with MAILSIFT_BLESS=1", golden.display())
            });
            if want != text {
                problems.push(format!("{file}: outcome changed:\n{text}\nwas:\n{want}"));
            }
        }
    }
    assert!(count >= 12, "only {count} fixtures");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
