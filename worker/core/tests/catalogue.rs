//! The rule catalogue: rule ids are constants (a typo does not compile),
//! unique, `AREA_WHAT` in upper snake case, and documented; the ids the rule
//! files define (phrase lists, combinations) are checked when they load.

use mailsift_core::engine::catalogue;
use std::collections::HashSet;

#[test]
fn rule_ids_are_unique_named_and_described() {
    let rules = catalogue();
    assert!(rules.len() > 80, "only {} rules", rules.len());
    let mut seen = HashSet::new();
    for r in &rules {
        assert!(seen.insert(r.id), "rule `{}` is declared twice", r.id);
        assert!(
            r.id.contains('_')
                && r.id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
            "rule `{}` is not AREA_WHAT in upper snake case",
            r.id
        );
        assert!(
            !r.description.is_empty(),
            "rule `{}` has no description",
            r.id
        );
        assert!(r.weight.is_finite(), "rule `{}` has no finite weight", r.id);
    }
}

#[test]
fn every_built_in_rule_has_its_score_in_loaded_rules() {
    let rules = mailsift_testkit::engine().rules();
    for r in catalogue() {
        assert!(
            rules.score(r.id).is_some(),
            "rule `{}` missing after load",
            r.id
        );
    }
}

#[test]
fn an_unknown_id_in_the_rule_files_is_a_load_error_with_its_line() {
    let dir = mailsift_testkit::rules_copy("unknown-id");
    let scores = std::fs::read_to_string(dir.join("scores.toml")).expect("scores.toml");
    std::fs::write(
        dir.join("scores.toml"),
        format!("{scores}\n[HDR_MISSNG_DATE]\nweight = 2.0\n"),
    )
    .expect("write");
    let err = mailsift_core::Engine::load(&dir)
        .expect_err("a mistyped rule id must not load")
        .to_string();
    assert!(err.contains("scores.toml:"), "{err}");
    assert!(err.contains("unknown rule id `HDR_MISSNG_DATE`"), "{err}");
}
