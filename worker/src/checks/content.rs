//! Content: the weighted phrase lists of `rules/phrases.toml` over subject and
//! body text, plus text tricks (mixed-script words, HTML-only bodies).

use super::{rule, Check, Context, Findings, RuleSpec};
use crate::finding::Disposition::Spam;
use crate::finding::Finding;
use unicode_security::MixedScript;

/// Registration.
pub const CHECK: Check = Check {
    name: "content",
    run,
    rules: RULES,
};

/// Rules this check reports (phrase lists add their own ids at load).
pub const RULES: &[RuleSpec] = &[
    rule("CT_MIXED_SCRIPT_WORDS", Spam, 2.5, "words mixing scripts (Latin with Cyrillic/Greek look-alikes) to dodge filters"),
    rule("CT_HTML_ONLY", Spam, 0.5, "HTML body without a plain-text alternative"),
    rule("CT_EMPTY_BODY", Spam, 1.0, "no body text, no attachment"),
];

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let text = &ctx.content.text;
    for list in &ctx.rules.phrases {
        if let Some(hits) = list.scan(text) {
            let shown: Vec<&str> = hits.phrases.iter().take(8).copied().collect();
            let more = hits.phrases.len().saturating_sub(shown.len());
            let mut evidence = format!("\"{}\"", shown.join("\", \""));
            if more > 0 {
                evidence.push_str(&format!(" and {more} more"));
            }
            f.add_scaled(&list.id, hits.weight, evidence);
        }
    }
    let mixed: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 4 && !w.is_ascii())
        .filter(|w| w.chars().any(|c| c.is_ascii_alphabetic()))
        .filter(|w| !w.is_single_script())
        .take(5)
        .collect();
    if !mixed.is_empty() {
        f.add("CT_MIXED_SCRIPT_WORDS", format!("words: {}", mixed.join(", ")));
    }
    if ctx.content.has_html && !ctx.content.has_text {
        f.add("CT_HTML_ONLY", "text/html without text/plain");
    }
    let has_attachment = ctx
        .parts
        .iter()
        .any(|p| p.kind == crate::message::PartKind::Attachment);
    let subject_len = ctx.message.subject().map_or(0, str::len);
    if text.trim().len() <= subject_len && !has_attachment {
        f.add("CT_EMPTY_BODY", "no body text and no attachment");
    }
    f.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{ids, run};
    use crate::envelope::Envelope;

    #[test]
    fn phrases_and_tricks() {
        let m = "From: a@b.example\r\nTo: c@contoso.com\r\nSubject: Account notice\r\nContent-Type: text/html\r\n\r\n<p>Please verify your account now. Buy v\u{0456}agra ch\u{0435}ap</p>\r\n";
        let f = run(&CHECK, m, Envelope::default());
        let ids = ids(&f);
        assert!(ids.contains(&"CT_MIXED_SCRIPT_WORDS"), "{ids:?}");
        assert!(ids.contains(&"CT_HTML_ONLY"), "{ids:?}");
        assert!(ids.iter().any(|i| i.starts_with("PH_")), "{ids:?}");
    }
}
