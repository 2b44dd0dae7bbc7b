//! The ValiMail ARC validation suite (`../shared/conformance/arc`) through
//! our authenticator: each scenario's DKIM keys become a recorded zone, each
//! message goes through `Authenticator::authenticate` like any other, and
//! the chain-validation result (`cv`) must match.

mod common;

use common::{assert_only_known_failures, text};
use mailsift_auth::dns::DnsConfig;
use mailsift_auth::zone::{documents, Record, Zone};
use mailsift_auth::{AuthResult, AuthSubject, Authenticator};
use mailsift_core::message::ParsedMessage;
use serde_yaml_ng::Value;

const SUITE: &str = "../shared/conformance/arc/arc-draft-validation-tests.yml";

const TAGS: &str = "mail-auth 0.13's ARC tag parser is lenient: it accepts a missing a= (defaulting the algorithm), duplicate or upper-case tag names, invalid tag keys and a stray semicolon, which the suite requires to fail the chain";
const AMS_DEFAULTS: &str = "mail-auth 0.13 requires c= and a non-empty h= in ARC-Message-Signature, where the suite (following DKIM's defaults) expects c= to default to simple/simple and an empty h= to still verify";

/// Tests mail-auth 0.13 answers differently, and why (checked against the
/// suite's messages and mail-auth's parser).
const KNOWN: &[(&str, &str)] = &[
    ("ams_fields_a_na", TAGS),
    ("as_fields_a_na", TAGS),
    ("as_format_inv_tag_key", TAGS),
    ("as_format_tags_dup", TAGS),
    ("as_format_tags_key_case", TAGS),
    ("as_format_tags_sc", TAGS),
    ("ams_fields_c_na", AMS_DEFAULTS),
    ("ams_fields_h_empty", AMS_DEFAULTS),
];

/// The suite names one test twice (`as_fields_b_head_case`); YAML mappings
/// may not repeat keys, so later twins get a `#2` suffix.
fn dedup_test_names(yaml: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        if line == "---" {
            seen.clear();
        }
        let is_test_key =
            line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':');
        if is_test_key && !seen.insert(line.trim_end().to_string()) {
            out.push_str(line.trim_end().trim_end_matches(':'));
            out.push_str("#2:\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arc_validation_suite() {
    let path = mailsift_testkit::require(SUITE, "the suite ships in ../shared");
    let yaml = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the suite ships in ../shared)", path.display()));
    let (mut total, mut passed, mut unjudged) = (0, 0, 0);
    let mut failures = Vec::new();
    for doc in documents(&dedup_test_names(&yaml)).expect("suite parses") {
        let mut zone = Zone::new();
        if let Some(Value::Mapping(records)) = doc.get("txt-records") {
            for (name, value) in records {
                zone.add(&text(Some(name)), Record::Txt(vec![text(Some(value))]));
            }
        }
        let auth = Authenticator::recorded(zone, &DnsConfig::default(), "mailsift.test")
            .await
            .expect("zone server starts");
        let Some(Value::Mapping(tests)) = doc.get("tests") else {
            continue;
        };
        for (name, t) in tests {
            let name = text(Some(name));
            let expected = text(t.get("cv"));
            if expected.is_empty() {
                unjudged += 1;
                continue;
            }
            let message = text(t.get("message")).replace('\n', "\r\n") + "\r\n";
            let got = match ParsedMessage::parse(message.as_bytes()) {
                Ok(parsed) => {
                    let subject = AuthSubject {
                        message: &parsed,
                        ip: None,
                        helo: None,
                        mail_from: None,
                    };
                    auth.authenticate(&subject).await.arc.result
                }
                // Not a message at all: nothing to validate.
                Err(_) => AuthResult::None,
            };
            let ok = match expected.as_str() {
                "Pass" => got == AuthResult::Pass,
                "None" => got == AuthResult::None,
                _ => !matches!(got, AuthResult::Pass | AuthResult::None),
            };
            total += 1;
            if ok {
                passed += 1;
            } else {
                failures.push(format!("{name}: got {}, expected {expected}", got.as_str()));
            }
        }
    }
    eprintln!("({unjudged} ARC tests have no expected cv)");
    assert_only_known_failures("ARC validation suite", passed, total, &failures, KNOWN);
    assert!(total >= 160, "suite has {total} judged tests");
}
