//! Header sanity: the fields every real MTA and MUA writes, dates, Received
//! chain consistency, ratware signatures, RFC 2047 abuse, recipient counts.

use super::{Check, Context, Findings};
use crate::finding::Finding;
use crate::text::clip;

/// Registration.
pub const CHECK: Check = Check {
    name: "headers",
    run,
    rules: RULES,
};

crate::rules! {
    HDR_MISSING_DATE: Spam, 1.5, "no Date header";
    HDR_MALFORMED_DATE: Spam, 3.0, "Date header present but not an RFC 5322 date";
    HDR_DATE_FUTURE: Spam, 2.0, "Date is well after the message was received";
    HDR_DATE_PAST: Spam, 1.0, "Date is well before the message was received";
    HDR_MISSING_MESSAGE_ID: Spam, 1.5, "no Message-ID header";
    HDR_MALFORMED_MESSAGE_ID: Spam, 2.0, "Message-ID is not <left@right>";
    HDR_MISSING_FROM: Spam, 2.5, "no From header";
    HDR_MALFORMED_FROM: Spam, 2.0, "From header without a usable address";
    HDR_MULTIPLE_FROM: Spam, 3.0, "more than one From header";
    HDR_FROM_BROKEN_MAILBOX: Suspicious, 3.0, "From written so that filters and mail clients read different senders (name-only entries, an address outside its mailbox, a quoted address, several mailboxes)";
    HDR_FROM_INVALID_DOMAIN: Suspicious, 4.0, "From domain that cannot exist (no top-level domain, illegal characters)";
    HDR_FROM_DISGUISED: Malicious, 5.0, "From domain in look-alike Unicode letters, or invisible characters in the sender's name";
    HDR_RECEIVED_UNPARSEABLE: Spam, 1.0, "a Received header that does not parse";
    HDR_RECEIVED_FORGED: Spam, 2.0, "Received chain dates run backwards";
    HDR_RATWARE: Spam, 3.5, "X-Mailer/User-Agent of known bulk-mailing software";
    HDR_ENCODED_WORD_ABUSE: Spam, 1.5, "RFC 2047 encoding used to hide plain ASCII or an address";
    HDR_TOO_MANY_RECIPIENTS: Spam, 2.0, "too many To/Cc addresses";
    HDR_NO_VISIBLE_RECIPIENT: Spam, 0.8, "no To/Cc address (undisclosed recipients)";
    HDR_SUBJECT_SHOUTING: Spam, 2.0, "subject mostly capitals or exclamation marks";
    HDR_MISSING_MIME_VERSION: Spam, 0.5, "MIME body without MIME-Version";
    HDR_SUBJECT_ADV: Spam, 3.0, "subject marked as an advertisement (ADV:)";
    HDR_SUBJECT_TRACKING_TAG: Spam, 3.0, "subject padded with spaces before a tracking token";
    HDR_FROM_DIGITS: Spam, 1.2, "From local part is letters followed by a run of digits";
    HDR_RECIPIENT_IN_SUBJECT: Suspicious, 3.5, "subject or sender name carries the recipient's address or user name (mass-personalised bait)";
    HDR_SUBJECT_UNDERSCORES: Spam, 2.5, "subject words joined by underscores to slip past filters (_Save_71%_Today_)";
    HDR_FROM_IS_RECIPIENT: Suspicious, 1.0, "From is the recipient's own address, sent from outside";
    HDR_FROM_NAME_EMOJI: Spam, 2.5, "pictographs or trademark signs in the sender's name";
    HDR_FORGED_MUA: Suspicious, 5.0, "mail client retired long before the message's date (forged X-Mailer)";
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let msg = ctx.message;
    let limits = &ctx.rules.engine.limits;

    // Date
    match (msg.header_raw("Date"), msg.date()) {
        (None, _) => f.add(HDR_MISSING_DATE, "no Date header"),
        (Some(raw), None) => f.add(
            HDR_MALFORMED_DATE,
            format!("Date: {}", clip(raw.trim(), 80)),
        ),
        (Some(_), Some(date)) => {
            if let Some(received) = ctx.envelope.received_at {
                let ahead = date - received;
                if ahead > limits.date_future_seconds {
                    f.add(
                        HDR_DATE_FUTURE,
                        format!("Date is {} after receipt", duration(ahead)),
                    );
                } else if -ahead > limits.date_past_seconds {
                    f.add(
                        HDR_DATE_PAST,
                        format!("Date is {} before receipt", duration(-ahead)),
                    );
                }
            }
        }
    }

    // Message-ID
    match msg.header_raw("Message-ID") {
        None => f.add(HDR_MISSING_MESSAGE_ID, "no Message-ID header"),
        Some(raw) => {
            let id = raw.trim();
            let inner = id.strip_prefix('<').and_then(|s| s.strip_suffix('>'));
            if !inner.is_some_and(|i| {
                i.split_once('@')
                    .is_some_and(|(l, r)| !l.is_empty() && !r.is_empty())
                    && !i.contains(char::is_whitespace)
            }) {
                f.add(
                    HDR_MALFORMED_MESSAGE_ID,
                    format!("Message-ID: {}", clip(id, 80)),
                );
            }
        }
    }

    // From
    match msg.header_count("From") {
        0 => f.add(HDR_MISSING_FROM, "no From header"),
        1 => {}
        n => f.add(HDR_MULTIPLE_FROM, format!("{n} From headers")),
    }
    if msg.header_count("From") > 0 && ctx.author.domain.is_none() {
        f.add(
            HDR_MALFORMED_FROM,
            format!(
                "From: {}",
                clip(msg.header_raw("From").unwrap_or("").trim(), 80)
            ),
        );
    }
    from_anomalies(ctx, &mut f);

    // Received chain
    if let Some(bad) = ctx.hops.iter().find(|h| !h.parsed) {
        f.add(
            HDR_RECEIVED_UNPARSEABLE,
            format!("Received: {}", clip(&bad.raw, 120)),
        );
    }
    // Each hop is written after the one below it; a lower hop dated more
    // than a day later than its parent is made up.
    for pair in ctx.hops.windows(2) {
        if let (Some(upper), Some(lower)) = (pair[0].date, pair[1].date) {
            if lower - upper > 86_400 {
                f.add(
                    HDR_RECEIVED_FORGED,
                    format!(
                        "hop `{}` is dated {} after the hop that received it",
                        clip(&pair[1].raw, 80),
                        duration(lower - upper)
                    ),
                );
                break;
            }
        }
    }

    // Mailer signatures
    for name in ["X-Mailer", "User-Agent", "X-Mailer-Version"] {
        if let Some(value) = msg.header_raw(name) {
            if let Some(m) = ctx.rules.lists.ratware_mailers.find(value) {
                f.add(
                    HDR_RATWARE,
                    format!(
                        "{name}: {} (matches `{}`)",
                        clip(value.trim(), 80),
                        ctx.rules.lists.ratware_patterns[m.pattern().as_usize()]
                    ),
                );
                break;
            }
        }
    }

    // A mailer that stopped shipping years before the Date is a costume.
    if let (Some(mailer), Some(date)) = (msg.header_raw("X-Mailer"), msg.date()) {
        let retired = RETIRED_MAILERS
            .iter()
            .find(|(name, _)| mailer.contains(name))
            .filter(|(_, last)| date > *last + 3 * 365 * 86_400);
        if retired.is_some() {
            f.add(
                HDR_FORGED_MUA,
                format!(
                    "X-Mailer {} on mail dated {}",
                    clip(mailer.trim(), 60),
                    year_of(date)
                ),
            );
        }
    }

    // Encoded-word abuse
    if let Some(evidence) = encoded_word_abuse(ctx) {
        f.add(HDR_ENCODED_WORD_ABUSE, evidence);
    }

    // Recipients
    let visible = msg.to_and_cc();
    if visible.len() > limits.max_recipients {
        f.add(
            HDR_TOO_MANY_RECIPIENTS,
            format!(
                "{} To/Cc addresses (limit {})",
                visible.len(),
                limits.max_recipients
            ),
        );
    } else if !visible.iter().any(|m| m.address.is_some()) {
        f.add(
            HDR_NO_VISIBLE_RECIPIENT,
            format!(
                "To: {}",
                clip(msg.header_raw("To").unwrap_or("(absent)").trim(), 60)
            ),
        );
    }

    // Subject shouting
    if let Some(subject) = msg.subject() {
        let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
        let upper = letters.iter().filter(|c| c.is_uppercase()).count();
        let bangs = subject.matches('!').count();
        if (letters.len() >= 12 && upper * 10 >= letters.len() * 8) || bangs >= 3 {
            f.add(
                HDR_SUBJECT_SHOUTING,
                format!("Subject: {}", clip(subject, 80)),
            );
        }
    }

    recipient_bait(ctx, &mut f);

    if let Some(subject) = msg.subject() {
        let t = subject.trim_start().to_ascii_uppercase();
        if t.starts_with("ADV:")
            || t.starts_with("ADV ")
            || t.starts_with("[ADV]")
            || t.starts_with("ADV-")
        {
            f.add(HDR_SUBJECT_ADV, format!("Subject: {}", clip(subject, 80)));
        }
        // Bulk tools pad the subject so the per-recipient token they append
        // scrolls out of view: "Save now!            qkdjtq".
        let trimmed = subject.trim_end();
        let tail_start = trimmed
            .char_indices()
            .rfind(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let gap = trimmed[..tail_start]
            .chars()
            .rev()
            .take_while(|c| c.is_whitespace())
            .count();
        if gap >= 5 && tail_start < trimmed.len() && tail_start > gap {
            let tail = &trimmed[tail_start..];
            {
                f.add(
                    HDR_SUBJECT_TRACKING_TAG,
                    format!("Subject ends `{}`", clip(tail, 30)),
                );
            }
        }
    }
    if let Some(local) = ctx
        .author
        .address
        .as_deref()
        .and_then(|a| a.rsplit_once('@'))
        .map(|(l, _)| l)
    {
        let digits = local
            .bytes()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let letters = &local[..local.len() - digits];
        if digits >= 3 && letters.len() >= 3 && letters.bytes().all(|b| b.is_ascii_alphabetic()) {
            f.add(HDR_FROM_DIGITS, format!("From local part `{local}`"));
        }
    }

    // MIME without MIME-Version
    let ct = msg.header_raw("Content-Type").unwrap_or("");
    if ct.to_ascii_lowercase().contains("multipart/") && msg.header_raw("MIME-Version").is_none() {
        f.add(
            HDR_MISSING_MIME_VERSION,
            "multipart Content-Type without MIME-Version",
        );
    }
    f.into_vec()
}

/// The recipient's own address in the subject or the sender's name, a
/// subject written with underscores, and mail "from" the recipient.
fn recipient_bait(ctx: &Context<'_>, f: &mut Findings<'_>) {
    let subject = ctx.message.subject().unwrap_or("");
    let lower_subject = subject.to_lowercase();
    let name = ctx.author.name_or_empty().to_lowercase();
    let recipients: Vec<String> = ctx
        .envelope
        .rcpt_to
        .iter()
        .map(|r| r.to_ascii_lowercase())
        .collect();
    // Calendar invitations name the invitee in the subject by design.
    let invitation = ctx.parts.iter().any(|p| p.content_type == "text/calendar");
    for r in recipients.iter().filter(|_| !invitation) {
        let local = r.split('@').next().unwrap_or("");
        // A user name is bait only when it is no ordinary word: people's
        // first names are fine in a greeting, `jdoe77` or `rodrigo-f-p` is
        // a mailing tool filling in the address.
        let distinctive = local.len() >= 5 && local.chars().any(|c| !c.is_alphabetic());
        let found = [(&lower_subject, "subject"), (&name, "sender name")]
            .into_iter()
            .find(|(text, _)| text.contains(r.as_str()) || (distinctive && text.contains(local)));
        if let Some((_, place)) = found {
            f.add(
                HDR_RECIPIENT_IN_SUBJECT,
                format!(
                    "the {place} carries the recipient {r}: {}",
                    clip(if place == "subject" { subject } else { &name }, 80)
                ),
            );
            break;
        }
    }
    let name = ctx.author.name_or_empty();
    if let Some(c) = name.chars().find(|c| is_pictograph(*c)) {
        f.add(
            HDR_FROM_NAME_EMOJI,
            format!("sender name `{}` ({c})", clip(name, 60)),
        );
    }
    let words: Vec<&str> = subject
        .split('_')
        .filter(|w| !w.trim().is_empty())
        .collect();
    if words.len() >= 4
        && subject.matches('_').count() >= 3
        && subject.split_whitespace().count() <= 2
    {
        f.add(
            HDR_SUBJECT_UNDERSCORES,
            format!("Subject: {}", clip(subject, 80)),
        );
    }
    if let Some(from) = ctx.author.address.as_deref().map(str::to_ascii_lowercase) {
        let inside = ctx.origin.ip.is_some_and(|ip| {
            ctx.policy.authorized_senders.contains(ip) || ctx.policy.outbound_relays.contains(ip)
        });
        if ctx.direction == crate::envelope::Direction::Inbound
            && !inside
            && recipients.len() == 1
            && recipients[0] == from
        {
            f.add(
                HDR_FROM_IS_RECIPIENT,
                format!("From {from} is the recipient"),
            );
        }
    }
}

/// Emoji, pictographs and the ®/™ signs: ornaments a person's or a
/// company's mail account does not carry in its name.
fn is_pictograph(c: char) -> bool {
    matches!(c,
        '\u{00AE}' | '\u{2122}' | '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}'
        | '\u{1F000}'..='\u{1FAFF}')
}

/// What [`crate::author::Author`] found wrong with From, as findings.
fn from_anomalies(ctx: &Context<'_>, f: &mut Findings<'_>) {
    use crate::author::FromAnomaly::*;
    let raw = clip(ctx.message.header_raw("From").unwrap_or("").trim(), 100);
    let mut broken = Vec::new();
    let mut invalid = Vec::new();
    let mut disguised = Vec::new();
    for a in &ctx.author.anomalies {
        match a {
            NameOnlyEntries
            | AddressOutsideMailbox
            | QuotedAddress
            | SeveralMailboxes(_)
            | RouteAddress => broken.push(a.to_string()),
            DomainWithoutTld | DomainIllegalCharacters => invalid.push(a.to_string()),
            DomainCompatibilityForms | HiddenMarksInName => disguised.push(a.to_string()),
            // Reported by HDR_MISSING_FROM / HDR_MULTIPLE_FROM; `<>` and a
            // bare `MAILER-DAEMON` are how MTAs sign bounces.
            Missing { .. } | SeveralHeaders(_) | EmptyAddress | NoDomain => {}
        }
    }
    if !broken.is_empty() {
        f.add(
            HDR_FROM_BROKEN_MAILBOX,
            format!("{}: From: {raw}", broken.join("; ")),
        );
    }
    if !invalid.is_empty() {
        f.add(
            HDR_FROM_INVALID_DOMAIN,
            format!(
                "{}: {}",
                invalid.join("; "),
                ctx.author.address.as_deref().unwrap_or(&raw)
            ),
        );
    }
    if !disguised.is_empty() {
        f.add(
            HDR_FROM_DISGUISED,
            format!("{}: From: {raw}", disguised.join("; ")),
        );
    }
}

/// Mail clients and the Unix time of their last release (roughly).
const RETIRED_MAILERS: &[(&str, i64)] = &[
    ("Outlook Express", 1_230_768_000),   // 2009
    ("Windows Mail 6.0", 1_262_304_000),  // 2010
    ("Windows Live Mail", 1_483_228_800), // 2017
    ("Eudora", 1_167_609_600),            // 2007
    ("Netscape", 1_199_145_600),          // 2008
];

fn year_of(ts: i64) -> i64 {
    1970 + ts.div_euclid(31_556_952)
}

/// Encoded words that decode to plain ASCII (nothing to encode: hiding from
/// filters), or a From display name hiding an address.
fn encoded_word_abuse(ctx: &Context<'_>) -> Option<String> {
    let msg = ctx.message;
    let raw_subject = msg.header_raw("Subject").unwrap_or("");
    if raw_subject.contains("=?") {
        if let Some(decoded) = msg.subject() {
            let words = decoded.split_whitespace().count();
            if decoded.is_ascii() && words >= 2 && !decoded.contains("=?") {
                return Some(format!(
                    "Subject is RFC 2047 encoded but decodes to plain ASCII: {}",
                    clip(decoded, 80)
                ));
            }
        }
    }
    let raw_from = msg.header_raw("From").unwrap_or("");
    if raw_from.contains("=?") {
        if let Some(name) = ctx.author.name.as_deref().filter(|n| n.contains('@')) {
            return Some(format!(
                "From display name is encoded and hides an address: {}",
                clip(name, 80)
            ));
        }
    }
    let charsets: std::collections::BTreeSet<String> = raw_subject
        .split("=?")
        .skip(1)
        .filter_map(|w| w.split('?').next())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if charsets.len() >= 3 {
        return Some(format!(
            "Subject mixes {} charsets: {}",
            charsets.len(),
            charsets.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    None
}

fn duration(seconds: i64) -> String {
    match seconds {
        s if s >= 86_400 => format!("{} days", s / 86_400),
        s if s >= 3_600 => format!("{} hours", s / 3_600),
        s => format!("{} minutes", s / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{ids, run};
    use crate::envelope::Envelope;

    fn msg(headers: &str) -> String {
        format!(
            "Received: from a.example (a.example [64.1.2.3]) by mx.contoso.com; Tue, 12 Mar 2024 10:15:02 +0000\r\n{headers}\r\nhello\r\n"
        )
    }

    #[test]
    fn clean_headers_find_nothing() {
        let f = run(
            &CHECK,
            &msg("From: a@a.example\r\nTo: b@contoso.com\r\nDate: Tue, 12 Mar 2024 10:14:00 +0000\r\nMessage-ID: <1@a.example>\r\nSubject: Lunch\r\n"),
            Envelope::default(),
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn missing_and_broken_fields() {
        let f = run(
            &CHECK,
            &msg("From: nobody\r\nFrom: x@y.example\r\nTo: undisclosed-recipients:;\r\nDate: yesterday\r\nMessage-ID: 12345\r\nSubject: FREE MONEY FOR EVERYONE!!!\r\nX-Mailer: The Bat! (v1.52f) Business\r\n"),
            Envelope::default(),
        );
        let ids = ids(&f);
        for want in [
            "HDR_MALFORMED_DATE",
            "HDR_MALFORMED_MESSAGE_ID",
            "HDR_MULTIPLE_FROM",
            "HDR_MALFORMED_FROM",
            "HDR_NO_VISIBLE_RECIPIENT",
            "HDR_SUBJECT_SHOUTING",
            "HDR_RATWARE",
        ] {
            assert!(ids.contains(&want), "{want} missing from {ids:?}");
        }
    }

    #[test]
    fn dates_relative_to_receipt() {
        let future = run(
            &CHECK,
            &msg("From: a@a.example\r\nTo: b@contoso.com\r\nDate: Tue, 19 Mar 2024 10:14:00 +0000\r\nMessage-ID: <1@a.example>\r\n"),
            Envelope::default(),
        );
        assert!(ids(&future).contains(&"HDR_DATE_FUTURE"));
        let past = run(
            &CHECK,
            &msg("From: a@a.example\r\nTo: b@contoso.com\r\nDate: Tue, 12 Mar 2019 10:14:00 +0000\r\nMessage-ID: <1@a.example>\r\n"),
            Envelope::default(),
        );
        assert!(ids(&past).contains(&"HDR_DATE_PAST"));
    }

    #[test]
    fn encoded_ascii_subject() {
        let f = run(
            &CHECK,
            &msg("From: a@a.example\r\nTo: b@contoso.com\r\nDate: Tue, 12 Mar 2024 10:14:00 +0000\r\nMessage-ID: <1@a.example>\r\nSubject: =?utf-8?B?Q2hlYXAgbWVkcyBoZXJl?=\r\n"),
            Envelope::default(),
        );
        assert!(ids(&f).contains(&"HDR_ENCODED_WORD_ABUSE"), "{f:?}");
    }
}
