//! Content: the weighted phrase lists of `rules/phrases.toml` over subject and
//! body text, plus text tricks (mixed-script words, HTML-only bodies).

use super::{Check, Context, Findings};
use crate::finding::Finding;
use unicode_security::MixedScript;

/// Registration.
pub const CHECK: Check = Check {
    name: "content",
    run,
    rules: RULES,
};

crate::rules! {
    CT_MIXED_SCRIPT_WORDS: Spam, 2.5, "words mixing scripts (Latin with Cyrillic/Greek look-alikes) to dodge filters";
    CT_HTML_ONLY: Spam, 0.5, "HTML body without a plain-text alternative";
    CT_EMPTY_BODY: Spam, 1.0, "no body text, no attachment";
    CT_EXCLAMATIONS: Spam, 1.0, "ten or more exclamation marks";
    CT_SHOUTING_LINES: Spam, 1.0, "three or more long lines in capitals";
    CT_MONEY_AMOUNTS: Spam, 0.5, "three or more different money amounts";
    CT_HTML_SHOUTING: Spam, 0.5, "big fonts or centred text in HTML";
    CT_HIDDEN_TEXT: Spam, 1.5, "invisible HTML text (font-size 0/1px, display:none) to fool filters";
    CT_IMAGE_MOSTLY: Spam, 3.0, "HTML that is an image with next to no text";
    CT_FLAGGED_CHARSET: Spam, 1.5, "body in a charset listed in lists.toml flagged_charsets";
    CT_CRYPTO_ADDRESS: Suspicious, 1.0, "a cryptocurrency wallet address in the text (where extortion and investment scams want the money)";
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let text = &ctx.content.text;
    let folded = crate::rules::phrases::scan_form(text);
    for (list, hits) in ctx.rules.phrases.scan(&folded) {
        let shown: Vec<&str> = hits.phrases.iter().take(8).copied().collect();
        let more = hits.phrases.len().saturating_sub(shown.len());
        let mut evidence = format!("\"{}\"", shown.join("\", \""));
        if more > 0 {
            evidence.push_str(&format!(" and {more} more"));
        }
        f.add_named(&list.id, hits.weight, evidence);
    }
    let mixed: Vec<&str> = if text.is_ascii() { "" } else { text.as_str() }
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 4 && !w.is_ascii())
        .filter(|w| w.chars().any(|c| c.is_ascii_alphabetic()))
        .filter(|w| !w.is_single_script())
        .take(5)
        .collect();
    if !mixed.is_empty() {
        f.add(
            CT_MIXED_SCRIPT_WORDS,
            format!("words: {}", mixed.join(", ")),
        );
    }
    if let Some(address) = crypto_address(text) {
        f.add(CT_CRYPTO_ADDRESS, format!("wallet address {address}"));
    }
    let bangs = memchr::memchr_iter(b'!', text.as_bytes()).count();
    if bangs >= 10 {
        f.add(CT_EXCLAMATIONS, format!("{bangs} exclamation marks"));
    }
    let shouting = shouting_runs(text);
    if shouting >= 3 {
        f.add(
            CT_SHOUTING_LINES,
            format!("{shouting} long runs in capitals"),
        );
    }
    let amounts = money_amounts(text);
    if amounts.len() >= 3 {
        f.add(
            CT_MONEY_AMOUNTS,
            format!(
                "amounts: {}",
                amounts.into_iter().take(5).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    if ctx.content.shouting_tags > 0 {
        f.add(
            CT_HTML_SHOUTING,
            format!("{} big-font/center tags", ctx.content.shouting_tags),
        );
    }
    if ctx.content.hidden_elements > 0 && !ctx.content.has_text {
        f.add(
            CT_HIDDEN_TEXT,
            format!("{} invisible elements", ctx.content.hidden_elements),
        );
    }
    if ctx.content.has_html
        && !ctx.content.has_text
        && ctx.content.images > 0
        && ctx.content.html_text_len < 300
    {
        f.add(
            CT_IMAGE_MOSTLY,
            format!(
                "{} image(s), {} characters of text",
                ctx.content.images, ctx.content.html_text_len
            ),
        );
    }
    if let Some(cs) = ctx
        .parts
        .iter()
        .filter(|p| p.kind != crate::message::PartKind::Attachment)
        .filter_map(|p| p.charset.as_deref())
        .find(|cs| ctx.rules.lists.flagged_charsets.contains(*cs))
    {
        f.add(CT_FLAGGED_CHARSET, format!("charset {cs}"));
    }
    if ctx.content.has_html && !ctx.content.has_text {
        f.add(CT_HTML_ONLY, "text/html without text/plain");
    }
    let has_attachment = ctx
        .parts
        .iter()
        .any(|p| p.kind == crate::message::PartKind::Attachment);
    let subject_len = ctx.message.subject().map_or(0, str::len);
    if text.trim().len() <= subject_len && !has_attachment {
        f.add(CT_EMPTY_BODY, "no body text and no attachment");
    }
    f.into_vec()
}

/// A Bitcoin (legacy or bech32) or Ethereum address: the shapes, not the
/// checksums, with enough mixing of letters and digits that ordinary
/// words and tracking ids do not pass.
fn crypto_address(text: &str) -> Option<&str> {
    // Words of ASCII letters and digits only, so each is valid UTF-8; the
    // cheap length and prefix tests come first (this runs over every text).
    ascii_words(text.as_bytes())
        .filter(|w| (26..=62).contains(&w.len()) && matches!(w[0], b'b' | b'1' | b'3' | b'0'))
        .find(|w| {
            let len = w.len();
            let count = |f: fn(&u8) -> bool| w.iter().filter(|b| f(b)).count();
            let bech32 = w.starts_with(b"bc1")
                && len >= 42
                && count(u8::is_ascii_digit) >= 5
                && w[3..]
                    .iter()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
            let base58 = (w[0] == b'1' || w[0] == b'3')
                && len <= 35
                && count(u8::is_ascii_lowercase) >= 4
                && count(u8::is_ascii_uppercase) >= 4
                && count(u8::is_ascii_digit) >= 2
                && !w.iter().any(|b| matches!(b, b'0' | b'O' | b'I' | b'l'));
            let ethereum =
                w.starts_with(b"0x") && len == 42 && w[2..].iter().all(u8::is_ascii_hexdigit);
            bech32 || base58 || ethereum
        })
        .and_then(|w| std::str::from_utf8(w).ok())
}

/// The runs of ASCII letters and digits in `bytes` (a plain loop: this
/// scans every text, and the generic `split` costs twice as much here).
fn ascii_words(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at
            + bytes
                .get(at..)?
                .iter()
                .position(u8::is_ascii_alphanumeric)?;
        let len = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .unwrap_or(bytes.len() - start);
        at = start + len;
        Some(&bytes[start..at])
    })
}

/// Runs of 20+ characters with at least 12 letters, all capitals (sentence-level shouting).
fn shouting_runs(text: &str) -> usize {
    // Split on the (ASCII) sentence ends byte-wise, so every chunk is still
    // text; the cheapest test first: most sentences have a lower-case
    // letter early.
    let mut runs = 0;
    let mut start = 0;
    let ends = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| matches!(b, b'.' | b'!' | b'?' | b'\n'));
    for end in ends.map(|(i, _)| i).chain([text.len()]) {
        let chunk = &text[start..end];
        start = end + 1;
        let lower = match chunk.is_ascii() {
            true => chunk.bytes().any(|b| b.is_ascii_lowercase()),
            false => chunk.chars().any(char::is_lowercase),
        };
        if chunk.len() >= 20 && !lower && chunk.chars().filter(|c| c.is_alphabetic()).count() >= 12
        {
            runs += 1;
        }
    }
    runs
}

/// Distinct `$12`, `$1,000.00`, `US$ 5` amounts.
fn money_amounts(text: &str) -> std::collections::BTreeSet<&str> {
    let mut out = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('$') {
        let mut j = i + 1;
        while j < bytes.len() && bytes[j] == b' ' && j < i + 2 {
            j += 1;
        }
        let start = j;
        while j < bytes.len()
            && (bytes[j].is_ascii_digit() || ((bytes[j] == b',' || bytes[j] == b'.') && j > start))
        {
            j += 1;
        }
        if j > start && bytes[start].is_ascii_digit() {
            out.insert(text[i..j].trim_end_matches(['.', ',']));
        }
        if out.len() >= 20 {
            break;
        }
    }
    out
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

    #[test]
    fn wallet_addresses() {
        for (text, want) in [
            (
                "send to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT now",
                Some("1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
            ),
            (
                "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                Some("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
            ),
            (
                "0x52908400098527886E0F7030069857D2E4169EE7",
                Some("0x52908400098527886E0F7030069857D2E4169EE7"),
            ),
            ("order 1234567890123456789012345678 shipped", None),
            ("tracking 3abcdefghijkmnopqrstuvwxyzab", None),
            ("the word bc1 alone", None),
        ] {
            assert_eq!(crypto_address(text), want, "{text}");
        }
    }

    #[test]
    fn shouting_runs_as_the_plain_definition_counts_them() {
        let plain = |text: &str| {
            text.split(['.', '!', '?', '\n'])
                .filter(|chunk| {
                    let letters = chunk.chars().filter(|c| c.is_alphabetic()).count();
                    chunk.len() >= 20 && letters >= 12 && !chunk.chars().any(char::is_lowercase)
                })
                .count()
        };
        for text in [
            "",
            "!!!",
            "THIS IS A VERY LOUD SENTENCE. quiet one. ANOTHER LOUD LINE HERE!",
            "ÜBERWEISUNG SOFORT AUSFÜHREN BITTE\nJETZT KONTO BESTÄTIGEN!?ok",
            "ЗАБЛОКИРОВАН АККАУНТ ПОДТВЕРДИТЕ. ВАШ АККАУНТ БУДЕТ УДАЛЁН",
            "MIXED CASE LINE WITH ONE é LOWER LETTER.NO LOWER CASE 123 HERE AT ALL",
            "1234567890 1234567890 1234567890 ABCDEFGHIJKL.",
        ] {
            assert_eq!(shouting_runs(text), plain(text), "{text:?}");
        }
    }

    #[test]
    fn shouting_and_money() {
        assert_eq!(
            shouting_runs("THIS IS A VERY LOUD SENTENCE. quiet one. ANOTHER LOUD LINE HERE!"),
            2
        );
        let m = money_amounts("only $19.95, was $ 40, save $1,000. Not $ or $x");
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            vec!["$ 40", "$1,000", "$19.95"]
        );
    }
}
