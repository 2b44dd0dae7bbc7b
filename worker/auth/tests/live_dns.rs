//! The live DNS path against a real DNS server (dnsmasq, see
//! `mailsift_testkit::dnsmasq`): the authenticator (hickory through
//! mail-auth, our caches) gets the fixtures' results from a real server,
//! and a timeout is a bounded temperror, not a stall.

use mailsift_auth::dns::DnsConfig;
use mailsift_auth::{AuthResult, Authenticator};
use mailsift_core::{Disposition, Route};
use mailsift_testkit::{dnsmasq, engine, root};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("corpus/auth").join(name)).expect("fixture")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticator_against_a_real_dns_server() {
    let dns = dnsmasq::start();
    let cfg = DnsConfig {
        servers: vec![dns.addr],
        timeout: Duration::from_millis(400),
        attempts: 1,
        ..DnsConfig::default()
    };
    let auth = Authenticator::live(&cfg, "mailsift.test").expect("resolver");
    let engine = engine();

    let raw = fixture("01-aligned-pass.eml");
    let prepared = engine.prepare(engine.parse(raw), None);
    let subject = prepared.auth_subject().expect("subject");
    let r = auth.authenticate(&subject).await;
    assert_eq!(r.spf.result, AuthResult::Pass, "{r:?}");
    assert_eq!(
        r.dkim.first().map(|d| d.result),
        Some(AuthResult::Pass),
        "{r:?}"
    );
    assert_eq!(r.dmarc.result, AuthResult::Pass, "{r:?}");
    assert!(!auth.caches().is_empty(), "answers are cached");

    let raw = fixture("04-dmarc-reject-fail.eml");
    let prepared = engine.prepare(engine.parse(raw), None);
    let subject = prepared.auth_subject().expect("subject");
    let r = auth.authenticate(&subject).await;
    assert_eq!(r.spf.result, AuthResult::Fail, "{r:?}");
    assert_eq!(r.dmarc.result, AuthResult::Fail, "{r:?}");
    let v = prepared.classify(Some(&r));
    assert_eq!(v.disposition, Disposition::Spoof);

    // A server that never answers: temperror within the deadline.
    let raw = fixture("12-dns-timeout.eml");
    let prepared = engine.prepare(engine.parse(raw), None);
    let subject = prepared.auth_subject().expect("subject");
    let started = Instant::now();
    let r = auth.authenticate(&subject).await;
    let took = started.elapsed();
    assert_eq!(r.spf.result, AuthResult::TempError, "{r:?}");
    assert!(r.incomplete(), "{r:?}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let v = prepared.classify(Some(&r));
    assert!(v.incomplete.is_some());
    assert_eq!(v.route, Route::Requeue, "contoso.com requeues");
}
