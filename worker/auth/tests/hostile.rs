//! The sender-authentication path (mail-auth reading our parse, DKIM over
//! every body, ARC) on every hostile input, with an empty recorded zone:
//! results or "skipped", never a panic; every input counted.

use mailsift_auth::dns::DnsConfig;
use mailsift_auth::zone::Zone;
use mailsift_auth::{BlockingAuthenticator, INTERNAL_ERROR};
use mailsift_testkit::{engine, files_under, hostile, require};

#[test]
fn authentication_survives_every_hostile_input() {
    let engine = engine();
    let auth = BlockingAuthenticator::recorded(Zone::new(), &DnsConfig::default(), "mailsift.test")
        .expect("authenticator");
    let mut inputs: Vec<(String, Vec<u8>)> = hostile::cases()
        .into_iter()
        .map(|c| (c.name.to_string(), c.bytes))
        .collect();
    for dir in ["../shared/robustness", "corpus/bad"] {
        for path in files_under(&require(dir, "shared data and regression inputs")) {
            let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            inputs.push((path.display().to_string(), raw));
        }
    }
    assert!(inputs.len() >= 100, "only {} inputs", inputs.len());
    let mut authenticated = 0;
    for (name, raw) in inputs {
        let prepared = engine.prepare(engine.parse(raw), None);
        let results = prepared.auth_subject().map(|subject| {
            authenticated += 1;
            auth.authenticate(&subject).0
        });
        if let Some(r) = &results {
            assert_ne!(
                r.skipped.as_deref(),
                Some(INTERNAL_ERROR),
                "{name}: authentication panicked"
            );
        }
        let v = prepared.classify(results.as_ref());
        assert!(
            !v.findings.iter().any(|f| f.rule == "ENGINE_INTERNAL_ERROR"),
            "{name}: {:?}",
            v.error
        );
        // Only what cannot be scanned goes without authentication.
        assert_eq!(results.is_none(), v.error.is_some(), "{name}");
    }
    assert!(
        authenticated >= 90,
        "only {authenticated} inputs authenticated"
    );
}
