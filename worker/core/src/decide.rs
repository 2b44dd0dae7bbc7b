//! The decision pass: the one place where findings, the recipient domain's
//! policy and what the engine established about the message (allow tiers,
//! loop, outbound relay abuse, unscannable input, incomplete
//! authentication and its retries) become a disposition, a route and a bulk
//! level. Checks only report findings; nothing else decides.

use crate::finding::{Disposition, Finding};
use crate::rules::{DnsFailure, DomainPolicy, EngineConfig, Mode, Rules};
use crate::verdict::Route;
use std::collections::BTreeMap;

/// What the engine established before scoring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing<'a> {
    /// Scanned by every check. Dispositions an allow tier exempts
    /// (acceptable sender, allow-listed origin IP) never win.
    Scanned {
        /// Dispositions that may not win.
        exempt: &'a [Disposition],
    },
    /// An allow tier skipped every check (trusted sender, exempt recipients).
    Allowed,
    /// Our own MTA handed back mail we already stamped with this
    /// disposition (loop prevention): passed through, not judged again.
    Passthrough(Disposition),
    /// A tenant's outbound relay sent as a domain the tenant does not own:
    /// never delivered.
    OutboundViolation,
    /// Not email, too large, a broken journal report or an internal error:
    /// never delivered.
    Unscannable,
}

/// Everything besides the findings that the decision depends on.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// The recipient domain's policy.
    pub policy: &'a DomainPolicy,
    /// The input was an Exchange journal report (detect only).
    pub journal: bool,
    /// What the engine established.
    pub standing: Standing<'a>,
    /// Lookups that failed transiently during sender authentication; the
    /// verdict is incomplete when this is `Some`.
    pub dns_failures: Option<&'a [String]>,
    /// Earlier tries of this input that ended in the retry queue.
    pub retries: u32,
}

/// The outcome of the decision pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Exactly one of the six words.
    pub disposition: Disposition,
    /// What happens to the message.
    pub route: Route,
    /// Score of the chosen disposition (of the highest one for NONE).
    pub score: f64,
    /// Per-disposition scores, indexed by [`Disposition::index`].
    pub scores: [f64; 6],
    /// Bulk level 0–9 (the BULK score, rounded and clamped).
    pub bulk_level: u8,
    /// Why the verdict is incomplete, and what was done about it.
    pub incomplete: Option<String>,
}

impl Decision {
    /// Non-zero scores as a map, rounded to 2 decimals for stable output.
    pub fn score_map(&self) -> BTreeMap<Disposition, f64> {
        Disposition::ALL
            .into_iter()
            .filter(|d| self.scores[d.index()] != 0.0)
            .map(|d| (d, (self.scores[d.index()] * 100.0).round() / 100.0))
            .collect()
    }
}

/// Decides one message. Combination rules are applied to `findings` first
/// (their findings are added), for scanned messages only.
pub fn decide(findings: &mut Vec<Finding>, rules: &Rules, facts: &Facts<'_>) -> Decision {
    let policy = facts.policy;
    let detect_only = facts.journal || policy.mode == Mode::Journal;
    let (disposition, scores, never_deliver) = match facts.standing {
        Standing::Scanned { exempt } => {
            apply_combos(findings, rules);
            let (d, s) = score(findings, rules, exempt);
            (d, s, false)
        }
        Standing::Allowed => (Disposition::None, [0.0; 6], false),
        Standing::Passthrough(stamped) => (stamped, [0.0; 6], false),
        Standing::OutboundViolation | Standing::Unscannable => {
            let (d, s) = score(findings, rules, &[]);
            (d, s, true)
        }
    };
    // A message passed through keeps the route its stamp had: delivered.
    let passthrough = matches!(facts.standing, Standing::Passthrough(_));
    let mut route = if detect_only {
        Route::DetectOnly
    } else if passthrough {
        Route::Deliver
    } else if never_deliver || policy.quarantines(disposition) {
        Route::Quarantine
    } else {
        Route::Deliver
    };
    // Authentication never ran on unscannable input, so it cannot be incomplete.
    let dns_failures = facts
        .dns_failures
        .filter(|_| facts.standing != Standing::Unscannable);
    let mut incomplete = dns_failures.map(|failures| {
        format!(
            "DNS failed during sender authentication ({}); dns_failure = {}",
            failures.join(", "),
            policy.dns_failure.as_str()
        )
    });
    if route == Route::Deliver && !passthrough {
        if let Some(why) = incomplete.as_mut() {
            route = match policy.dns_failure {
                DnsFailure::Deliver => Route::Deliver,
                DnsFailure::Quarantine => Route::Quarantine,
                DnsFailure::Requeue => {
                    let attempt = facts.retries.saturating_add(1);
                    if attempt < rules.policy.gateway.requeue_attempts {
                        Route::Requeue
                    } else {
                        why.push_str(&format!(
                            "; still failing after {attempt} attempts: quarantined"
                        ));
                        Route::Quarantine
                    }
                }
            };
        }
    }
    Decision {
        disposition,
        route,
        score: if disposition == Disposition::None {
            scores.iter().cloned().fold(0.0, f64::max)
        } else {
            scores[disposition.index()]
        },
        scores,
        bulk_level: scores[Disposition::Bulk.index()].round().clamp(0.0, 9.0) as u8,
        incomplete,
    }
}

/// Adds a finding for every combination rule whose ingredients fired.
fn apply_combos(findings: &mut Vec<Finding>, rules: &Rules) {
    let mut added = Vec::new();
    for combo in &rules.combos {
        let fired = |id: &str| {
            let weight: f64 = findings
                .iter()
                .filter(|f| f.rule == id)
                .map(|f| f.weight)
                .sum();
            weight != 0.0 && weight >= combo.min_weight
        };
        if let Some(why) = combo.matches(&fired) {
            added.push(rules.finding_named(
                &combo.id,
                1.0,
                format!("together: {}", why.join(" + ")),
            ));
        }
    }
    findings.extend(added);
}

/// Sums findings per disposition, adds the configured spill, and picks the
/// first disposition, in precedence order, whose score reaches its
/// threshold. Dispositions in `exempt` never win.
fn score(findings: &[Finding], rules: &Rules, exempt: &[Disposition]) -> (Disposition, [f64; 6]) {
    let mut raw = [0f64; 6];
    for f in findings {
        raw[f.disposition.index()] += f.weight;
    }
    score_sums(raw, &rules.engine, exempt)
}

/// The scoring step on per-disposition sums of finding weights, under an
/// engine configuration (thresholds, spill, mixed evidence). Public so the
/// weight tuner scores candidate weights exactly as the engine would.
pub fn score_sums(
    raw: [f64; 6],
    engine: &EngineConfig,
    exempt: &[Disposition],
) -> (Disposition, [f64; 6]) {
    // Evidence for a stronger disposition also counts, scaled, towards
    // weaker ones (a half-proven phish is at least suspicious). Evidence for
    // an exempt disposition spills nowhere: an exemption would be hollow if
    // an acceptable sender's spam signals could add up to SUSPICIOUS.
    let mut scores = raw;
    for from in Disposition::ALL.into_iter().filter(|d| !exempt.contains(d)) {
        for to in Disposition::ALL {
            let share = engine.spill[from.index()][to.index()];
            if share > 0.0 && raw[from.index()] > 0.0 {
                scores[to.index()] += raw[from.index()] * share;
            }
        }
    }
    let allowed = |d: &Disposition| *d != Disposition::None && !exempt.contains(d);
    let mut disposition = Disposition::ALL
        .into_iter()
        .filter(allowed)
        .find(|d| scores[d.index()] >= engine.thresholds[d.index()])
        .unwrap_or(Disposition::None);
    // Evidence of several kinds, none enough alone (a disguised sender, an
    // offer, a hidden link), still adds up to a message nobody should
    // trust: at least SUSPICIOUS, ahead of BULK.
    if let Some(mixed) = engine.mixed_suspicious {
        let weaker = disposition == Disposition::None || disposition == Disposition::Bulk;
        let evidence: f64 = [
            Disposition::Malicious,
            Disposition::Spoof,
            Disposition::Spam,
            Disposition::Suspicious,
        ]
        .iter()
        .filter(|d| !exempt.contains(d))
        .map(|d| raw[d.index()])
        .sum();
        if weaker && evidence >= mixed && allowed(&Disposition::Suspicious) {
            disposition = Disposition::Suspicious;
            scores[Disposition::Suspicious.index()] =
                scores[Disposition::Suspicious.index()].max(evidence);
        }
    }
    (disposition, scores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::PolicySet;
    use std::path::Path;
    use std::sync::OnceLock;
    use Disposition::{Bulk, Malicious, Spam, Spoof, Suspicious};

    /// The check tests' rules (thresholds MALICIOUS 10, SPOOF 6, SPAM 5,
    /// SUSPICIOUS 5, BULK 5; spill MALICIOUS → SPAM 0.5 / SUSPICIOUS 0.7,
    /// SPOOF → SUSPICIOUS 0.5) with a policy of one domain per case.
    fn rules() -> &'static Rules {
        static RULES: OnceLock<Rules> = OnceLock::new();
        RULES.get_or_init(|| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rules");
            let mut rules =
                Rules::load(&dir, &crate::engine::catalogue()).unwrap_or_else(|e| panic!("{e}"));
            rules.policy = PolicySet::parse(
                Path::new("policy.toml"),
                r#"
[gateway]
requeue_attempts = 3
[default]
mode = "mx"
[domains."mx.test"]
mode = "mx"
quarantine = ["MALICIOUS", "SPAM", "SPOOF"]
dns_failure = "requeue"
[domains."deliver.test"]
mode = "gateway"
quarantine = ["MALICIOUS"]
dns_failure = "deliver"
[domains."hold.test"]
mode = "gateway"
quarantine = ["MALICIOUS"]
dns_failure = "quarantine"
[domains."journal.test"]
mode = "journal"
"#,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            rules
        })
    }

    fn finding(d: Disposition, weight: f64) -> Finding {
        Finding {
            rule: format!("TEST_{d}"),
            disposition: d,
            weight,
            evidence: String::new(),
        }
    }

    /// One row: findings and facts in, what must come out.
    struct Case {
        name: &'static str,
        findings: &'static [(Disposition, f64)],
        domain: &'static str,
        standing: Standing<'static>,
        journal: bool,
        dns_failed: bool,
        retries: u32,
        disposition: Disposition,
        route: Route,
        bulk_level: u8,
        incomplete: Option<&'static str>,
    }

    const SCANNED: Standing<'static> = Standing::Scanned { exempt: &[] };

    fn case(name: &'static str) -> Case {
        Case {
            name,
            findings: &[],
            domain: "mx.test",
            standing: SCANNED,
            journal: false,
            dns_failed: false,
            retries: 0,
            disposition: Disposition::None,
            route: Route::Deliver,
            bulk_level: 0,
            incomplete: None,
        }
    }

    #[test]
    fn decision_table() {
        let cases = [
            case("nothing found is NONE, delivered"),
            Case {
                findings: &[(Malicious, 10.0), (Spam, 6.0)],
                disposition: Malicious,
                route: Route::Quarantine,
                ..case("precedence: MALICIOUS before SPAM")
            },
            Case {
                findings: &[(Spoof, 6.0), (Spam, 9.0)],
                disposition: Spoof,
                route: Route::Quarantine,
                ..case("precedence: SPOOF before SPAM, whatever the sums")
            },
            Case {
                findings: &[(Malicious, 8.0)],
                disposition: Suspicious,
                route: Route::Deliver,
                ..case("spill: a half-proven phish (8 × 0.7) is SUSPICIOUS")
            },
            Case {
                findings: &[(Malicious, 9.0), (Spam, 1.0)],
                disposition: Spam,
                route: Route::Quarantine,
                ..case("spill: 9 × 0.5 + 1 reaches SPAM")
            },
            Case {
                findings: &[(Spam, 7.0), (Bulk, 6.4)],
                standing: Standing::Scanned {
                    exempt: &[Spam, Bulk],
                },
                bulk_level: 6,
                ..case("exemption: an allow-listed IP cannot be SPAM or BULK")
            },
            Case {
                findings: &[(Bulk, 6.4)],
                disposition: Bulk,
                bulk_level: 6,
                ..case("BULK score is the bulk level")
            },
            Case {
                findings: &[(Bulk, 40.0)],
                disposition: Bulk,
                bulk_level: 9,
                ..case("bulk level is clamped to 9")
            },
            Case {
                findings: &[(Suspicious, 5.0)],
                disposition: Suspicious,
                ..case("a disposition the domain does not quarantine is delivered")
            },
            Case {
                findings: &[(Spam, 5.0)],
                domain: "deliver.test",
                disposition: Spam,
                ..case("gateway mode without SPAM in quarantine delivers SPAM")
            },
            Case {
                findings: &[(Malicious, 20.0)],
                domain: "journal.test",
                disposition: Malicious,
                route: Route::DetectOnly,
                ..case("journal mode is detect-only, even for MALICIOUS")
            },
            Case {
                findings: &[(Malicious, 20.0)],
                journal: true,
                disposition: Malicious,
                route: Route::DetectOnly,
                ..case("an unwrapped journal report is detect-only under any policy")
            },
            Case {
                findings: &[(Suspicious, 10.0)],
                standing: Standing::Unscannable,
                dns_failed: true,
                disposition: Suspicious,
                route: Route::Quarantine,
                ..case("unscannable input is quarantined; DNS never ran on it")
            },
            Case {
                findings: &[(Suspicious, 10.0)],
                domain: "journal.test",
                standing: Standing::Unscannable,
                disposition: Suspicious,
                route: Route::DetectOnly,
                ..case("unscannable input in journal mode stays detect-only")
            },
            Case {
                findings: &[(Spoof, 100.0)],
                domain: "deliver.test",
                standing: Standing::OutboundViolation,
                disposition: Spoof,
                route: Route::Quarantine,
                ..case("outbound relay abuse is quarantined whatever the policy")
            },
            Case {
                findings: &[(Spam, 100.0), (Bulk, 9.0)],
                standing: Standing::Allowed,
                ..case("a trusted sender or exempt recipient is NONE, scores zero")
            },
            Case {
                findings: &[(Spam, 100.0)],
                standing: Standing::Passthrough(Spam),
                disposition: Spam,
                ..case("loop: our own stamp passes through, delivered")
            },
            Case {
                standing: Standing::Passthrough(Spam),
                domain: "journal.test",
                disposition: Spam,
                route: Route::DetectOnly,
                ..case("loop in journal mode stays detect-only")
            },
            Case {
                standing: Standing::Passthrough(Bulk),
                dns_failed: true,
                disposition: Bulk,
                incomplete: Some("dns_failure = requeue"),
                ..case("loop: a DNS failure does not change a passed-through route")
            },
            Case {
                domain: "deliver.test",
                dns_failed: true,
                incomplete: Some(
                    "DNS failed during sender authentication (spf (a.test)); dns_failure = deliver",
                ),
                ..case("incomplete, dns_failure = deliver: delivered, marked")
            },
            Case {
                domain: "hold.test",
                dns_failed: true,
                route: Route::Quarantine,
                incomplete: Some("dns_failure = quarantine"),
                ..case("incomplete, dns_failure = quarantine: held")
            },
            Case {
                dns_failed: true,
                route: Route::Requeue,
                incomplete: Some("dns_failure = requeue"),
                ..case("incomplete, dns_failure = requeue: tried again later")
            },
            Case {
                dns_failed: true,
                retries: 1,
                route: Route::Requeue,
                incomplete: Some("dns_failure = requeue"),
                ..case("second try still requeues (3 attempts)")
            },
            Case {
                dns_failed: true,
                retries: 2,
                route: Route::Quarantine,
                incomplete: Some("; still failing after 3 attempts: quarantined"),
                ..case("retries exhausted: quarantined, and said why")
            },
            Case {
                findings: &[(Spoof, 6.0)],
                dns_failed: true,
                disposition: Spoof,
                route: Route::Quarantine,
                incomplete: Some("dns_failure = requeue"),
                ..case("a quarantined disposition is held, not retried")
            },
        ];
        let failures = ["spf (a.test)".to_string()];
        for c in cases {
            let mut findings: Vec<Finding> =
                c.findings.iter().map(|(d, w)| finding(*d, *w)).collect();
            let decision = decide(
                &mut findings,
                rules(),
                &Facts {
                    policy: rules().policy.named(c.domain),
                    journal: c.journal,
                    standing: c.standing,
                    dns_failures: c.dns_failed.then_some(&failures[..]),
                    retries: c.retries,
                },
            );
            assert_eq!(decision.disposition, c.disposition, "{}", c.name);
            assert_eq!(decision.route, c.route, "{}", c.name);
            assert_eq!(decision.bulk_level, c.bulk_level, "{}", c.name);
            match (c.incomplete, &decision.incomplete) {
                (None, None) => {}
                (Some(want), Some(got)) => assert!(got.contains(want), "{}: {got}", c.name),
                (want, got) => panic!("{}: incomplete {got:?}, want {want:?}", c.name),
            }
            if matches!(c.standing, Standing::Allowed | Standing::Passthrough(_)) {
                assert_eq!(decision.scores, [0.0; 6], "{}", c.name);
            }
        }
    }

    #[test]
    fn score_of_none_is_the_highest_score() {
        let mut findings = vec![finding(Spam, 3.0), finding(Suspicious, 4.0)];
        let d = decide(
            &mut findings,
            rules(),
            &Facts {
                policy: rules().policy.named("mx.test"),
                journal: false,
                standing: SCANNED,
                dns_failures: None,
                retries: 0,
            },
        );
        assert_eq!(d.disposition, Disposition::None);
        assert_eq!(d.score, 4.0);
        assert_eq!(d.score_map().len(), 2);
    }

    #[test]
    fn combinations_add_their_finding_when_scanned_only() {
        let lure = || Finding {
            rule: "PH_PHISH_CREDENTIALS".into(),
            disposition: Spam,
            weight: 2.0,
            evidence: String::new(),
        };
        let link = || Finding {
            rule: "URL_SHORTENER".into(),
            disposition: Suspicious,
            weight: 1.0,
            evidence: String::new(),
        };
        let facts = |standing| Facts {
            policy: rules().policy.named("mx.test"),
            journal: false,
            standing,
            dns_failures: None,
            retries: 0,
        };
        let mut scanned = vec![lure(), link()];
        decide(&mut scanned, rules(), &facts(SCANNED));
        assert!(scanned.iter().any(|f| f.rule == "COMBO_CREDENTIAL_PHISH"));
        let mut allowed = vec![lure(), link()];
        decide(&mut allowed, rules(), &facts(Standing::Allowed));
        assert_eq!(allowed.len(), 2);
    }
}
