//! Bulk mail: list and ESP signatures. The BULK score is the bulk level 0–9.

use super::{Check, Context, Findings};
use crate::finding::Finding;

/// Registration.
pub const CHECK: Check = Check {
    name: "bulk",
    run,
    rules: RULES,
};

crate::rules! {
    BULK_LIST_UNSUBSCRIBE: Bulk, 2.0, "List-Unsubscribe header";
    BULK_ONE_CLICK: Bulk, 1.0, "RFC 8058 one-click unsubscribe";
    BULK_PRECEDENCE: Bulk, 2.0, "Precedence: bulk, list or junk";
    BULK_FEEDBACK_ID: Bulk, 1.5, "Feedback-ID (large-sender complaint loop)";
    BULK_ESP: Bulk, 2.5, "email service provider signature header";
    BULK_LIST_ID: Bulk, 1.0, "List-Id header (mailing list)";
    BULK_AUTO_SUBMITTED: Bulk, 0.5, "Auto-Submitted: auto-generated";
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let msg = ctx.message;
    if let Some(v) = msg.header_raw("List-Unsubscribe") {
        f.add(
            BULK_LIST_UNSUBSCRIBE,
            format!("List-Unsubscribe: {}", crate::text::clip(v.trim(), 80)),
        );
        if msg.header_raw("List-Unsubscribe-Post").is_some_and(|p| {
            p.to_ascii_lowercase()
                .contains("list-unsubscribe=one-click")
        }) {
            f.add(
                BULK_ONE_CLICK,
                "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            );
        }
    }
    if let Some(p) = msg.header_raw("Precedence") {
        let p = p.trim().to_ascii_lowercase();
        if matches!(p.as_str(), "bulk" | "list" | "junk") {
            f.add(BULK_PRECEDENCE, format!("Precedence: {p}"));
        }
    }
    if let Some(v) = msg.header_raw("Feedback-ID") {
        f.add(
            BULK_FEEDBACK_ID,
            format!("Feedback-ID: {}", crate::text::clip(v.trim(), 60)),
        );
    }
    if let Some(name) = ctx
        .rules
        .lists
        .esp_headers
        .iter()
        .find(|h| msg.header_raw(h).is_some())
    {
        f.add(BULK_ESP, format!("{name} header"));
    } else if let Some(m) = msg
        .header_raw("X-Mailer")
        .filter(|m| ctx.rules.lists.esp_mailers.is_match(m))
    {
        f.add(BULK_ESP, format!("X-Mailer: {}", m.trim()));
    }
    if let Some(v) = msg.header_raw("List-Id") {
        f.add(
            BULK_LIST_ID,
            format!("List-Id: {}", crate::text::clip(v.trim(), 60)),
        );
    }
    if msg
        .header_raw("Auto-Submitted")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("auto-generated"))
    {
        f.add(BULK_AUTO_SUBMITTED, "Auto-Submitted: auto-generated");
    }
    f.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{ids, run};
    use crate::envelope::Envelope;

    #[test]
    fn newsletter_signals() {
        let m = "From: news@brand.example\r\nTo: a@contoso.com\r\nSubject: Deals\r\nList-Unsubscribe: <https://brand.example/u>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nPrecedence: bulk\r\nFeedback-ID: 1:2:3:esp\r\nX-SG-EID: abc\r\n\r\nhi\r\n";
        let f = run(&CHECK, m, Envelope::default());
        assert_eq!(
            ids(&f),
            vec![
                "BULK_LIST_UNSUBSCRIBE",
                "BULK_ONE_CLICK",
                "BULK_PRECEDENCE",
                "BULK_FEEDBACK_ID",
                "BULK_ESP"
            ]
        );
        let total: f64 = f.iter().map(|x| x.weight).sum();
        assert!(total >= 5.0);
    }
}
