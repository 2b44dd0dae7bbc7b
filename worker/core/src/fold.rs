//! Folding text to the form lists are matched in: lower case, accents and
//! compatibility forms removed, curly apostrophes straightened, invisible
//! characters dropped. Phrase lists and brand names are folded the same way
//! when the rules load, so "SITUAÇÃO", "situação" and "situacao" all match
//! one phrase, and `𝐚𝐨𝐤.𝐝𝐞` reads as `aok.de`.

use std::borrow::Cow;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// The folded form of `text`. ASCII text is only lower-cased (the common,
/// fast case); anything else goes character by character.
pub fn fold(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Owned(text.to_ascii_lowercase());
        }
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_folded(c, &mut out);
    }
    Cow::Owned(out)
}

/// Appends the folded form of one character.
fn push_folded(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    match c {
        '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{2032}' | '\u{00B4}' | '`' => out.push('\''),
        'ß' | 'ẞ' => out.push_str("ss"),
        c if is_invisible(c) => {}
        c => decompose_compatible(c, |d| {
            if !is_combining_mark(d) {
                for l in d.to_lowercase() {
                    out.push(l);
                }
            }
        }),
    }
}

/// Characters that render as nothing: zero-width spaces and joiners, the
/// soft hyphen, bidi controls, variation selectors, tag characters. Senders
/// put them inside words to break filters' matching.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{E0000}'..='\u{E0FFF}')
}

/// True when `text` holds characters that [`fold`] drops as invisible or
/// strips as combining marks inside a Latin word: a name written that way
/// is hiding from filters, no one types it.
pub fn has_hidden_marks(text: &str) -> bool {
    let mut prev_latin = false;
    for c in text.chars() {
        if is_invisible(c) || (prev_latin && is_combining_mark(c) && !is_latin_accent(c)) {
            return true;
        }
        if !is_combining_mark(c) {
            prev_latin = c.is_ascii_alphabetic();
        }
    }
    false
}

/// Combining marks that Latin languages really write decomposed (acute,
/// grave, circumflex, tilde, diaeresis, cedilla, ring...).
fn is_latin_accent(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{0308}' | '\u{030A}' | '\u{030B}' | '\u{030C}' | '\u{0327}' | '\u{0328}'
    )
}

/// The form brand names are compared in: [`fold`], then Unicode confusables
/// mapped to their Latin look-alikes (UTS #39 skeleton), the digits and
/// letters people swap (`1`/`i`/`l`/`|`, `0`/`o`, `rn`/`m`) made equal,
/// runs of single letters joined ("C o i n b a s e", "N.E.T.F.L.I.X"), and
/// everything that is not a letter or digit turned into one space.
pub fn brand_form(text: &str) -> String {
    let folded = fold(text);
    let skeleton: String = if folded.is_ascii() {
        folded.into_owned()
    } else {
        unicode_security::skeleton(&folded)
            .collect::<String>()
            .to_lowercase()
    };
    let mapped: String = skeleton
        .chars()
        .map(|c| match c {
            '1' | 'i' | '|' | '!' => 'l',
            '0' => 'o',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect();
    let mapped = mapped.replace("rn", "m").replace("vv", "w");
    join_spaced_letters(&mapped)
}

/// "c o i n b a s e" → "coinbase": three or more one-letter words in a row
/// are one word spelled out.
fn join_spaced_letters(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let run = words[i..]
            .iter()
            .take_while(|w| w.chars().count() == 1)
            .count();
        if run >= 3 {
            out.push(words[i..i + run].concat());
            i += run;
        } else {
            out.push(words[i].to_string());
            i += 1;
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_accents_and_forms() {
        for (input, want) in [
            ("Regularize SUA SITUAÇÃO", "regularize sua situacao"),
            ("Straße", "strasse"),
            ("wasn\u{2019}t", "wasn't"),
            ("𝐚𝐨𝐤.𝐝𝐞", "aok.de"),
            ("Pay\u{200B}Pal", "paypal"),
            ("ÉCHÉANCE", "echeance"),
            ("plain ascii", "plain ascii"),
        ] {
            assert_eq!(fold(input), want, "{input}");
        }
    }

    #[test]
    fn brand_forms_see_through_disguises() {
        for (input, want) in [
            ("C o i n b a s e", "colnbase"),
            ("Coinbase", "colnbase"),
            ("N.E.T.F.L.I.X", "netfllx"),
            ("lCIoud", "lcloud"),
            ("iCloud", "lcloud"),
            ("Αmazοn.fr", "amazon fr"),
            ("Rnicrosoft", "mlcrosoft"),
            ("Microsoft", "mlcrosoft"),
            ("Bank of America", "bank of amerlca"),
        ] {
            assert_eq!(brand_form(input), want, "{input}");
        }
    }

    #[test]
    fn hidden_marks() {
        assert!(has_hidden_marks("Pay\u{200B}Pal"));
        assert!(has_hidden_marks("A\u{0737}m\u{0737}azon"));
        assert!(!has_hidden_marks("Café Müller"));
        assert!(!has_hidden_marks("Cafe\u{0301}"));
    }
}
