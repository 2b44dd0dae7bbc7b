//! Golden verdicts: what a labelled corpus message got when it was
//! recorded (`corpus/golden/<path>.json`), so a change in behaviour shows
//! up in review. The golden test and `mailsift corpus add` write the same
//! form.

use mailsift_core::Engine;
use serde_json::json;

/// The recorded form of a message's verdict (no authentication: the
/// project corpus is judged on its content and headers).
pub fn verdict_json(engine: &Engine, raw: &[u8]) -> serde_json::Value {
    let v = engine.classify(raw, None);
    json!({
        "disposition": v.disposition,
        "route": v.route,
        "policy_domain": v.policy_domain,
        "bulk_level": v.bulk_level,
        "scores": v.scores,
        "reasons": v.reasons(),
        "origin_ip": v.origin.as_ref().and_then(|o| o.ip),
    })
}

/// The file text of a golden verdict.
pub fn to_file_text(verdict: &serde_json::Value) -> String {
    serde_json::to_string_pretty(verdict).unwrap_or_default() + "\n"
}
