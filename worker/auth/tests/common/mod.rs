//! Helpers for the conformance-suite tests (RFC 7208 SPF, ARC): YAML
//! scalars, and the rule that every failing suite test has a written reason.

use serde_yaml_ng::Value;

/// A YAML scalar as trimmed text ("" for anything else).
pub fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Prints the tally, then fails if a suite test fails without being listed
/// in `known` (name, reason), or if a listed one passes now (the list must
/// stay true). Failures are `"<name>: got …, expected …"`.
pub fn assert_only_known_failures(
    suite: &str,
    passed: usize,
    total: usize,
    failures: &[String],
    known: &[(&str, &str)],
) {
    eprintln!("{suite}: {passed}/{total} pass");
    for f in failures {
        eprintln!("  {f}");
    }
    let listed = |name: &str, f: &str| f.starts_with(&format!("{name}:"));
    let unexplained: Vec<&String> = failures
        .iter()
        .filter(|f| !known.iter().any(|(n, _)| listed(n, f)))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} {suite} tests fail without a written reason: {unexplained:#?}",
        unexplained.len()
    );
    let stale: Vec<&str> = known
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !failures.iter().any(|f| listed(n, f)))
        .collect();
    assert!(
        stale.is_empty(),
        "listed as failing but pass now: {stale:?}"
    );
}
