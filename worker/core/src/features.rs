//! The tokens the learned classifier ([`crate::model`]) weighs, drawn from
//! what the checks already extracted: the subject, the decoded text of
//! every body part (HTML as its visible text), link hosts and paths, and
//! the shape of the headers and MIME structure.
//!
//! Any language and charset: mail-parser has decoded the text to Unicode;
//! words are runs of letters and digits in any script, lower-cased; runs in
//! scripts written without spaces (Chinese, Japanese, Thai) become
//! overlapping character pairs, and a run too long to be a word is
//! `#long`. Word pairs one and two apart (rspamd's OSB idea, trimmed)
//! catch phrases. Each word is hashed once; its tokens combine that hash. Digits become `0`, so prices and reference numbers
//! generalise.
//!
//! Bounded: at most [`MAX_WORDS`] words of text, [`MAX_LINKS`] links and
//! [`MAX_HEADERS`] header names per message.
//!
//! Changing what is drawn here changes what a weight means: bump
//! [`crate::model::FEATURES_VERSION`] so old models are refused.

use crate::checks::Context;
use crate::content::LinkSource;
use crate::domain::org_domain;
use crate::model::{combine, part_hash, token_hash};
use crate::url::Host;

/// Words of text drawn per message.
pub const MAX_WORDS: usize = 1_000;
/// Links drawn per message.
pub const MAX_LINKS: usize = 40;
/// Header names drawn per message.
pub const MAX_HEADERS: usize = 80;
/// A longer run of letters is not a word.
const MAX_WORD_CHARS: usize = 24;
/// Character pairs drawn from one unspaced run.
const MAX_PAIRS_PER_RUN: usize = 64;

/// A token: the parts it is made of (`["p:", "claim", " ", "your"]`,
/// joined into a string only when it becomes evidence) and its hash,
/// [`token_hash`] of the parts, which the model indexes by.
pub struct Token<'a> {
    /// [`token_hash`] of `parts`.
    pub hash: u64,
    /// The parts, in order.
    pub parts: &'a [&'a str],
}

impl<'a> Token<'a> {
    /// A token from its parts, hashed.
    pub fn new(parts: &'a [&'a str]) -> Token<'a> {
        Token {
            hash: token_hash(parts),
            parts,
        }
    }
}

/// Calls `sink` with every token of the message (repeats included; the
/// model counts each once).
pub fn tokens(ctx: &Context<'_>, sink: &mut impl FnMut(&Token<'_>)) {
    if let Some(subject) = ctx.message.subject() {
        let mut buf = String::new();
        words(subject, 200, &mut buf, &mut |w| {
            sink(&Token::new(&["s:", w.as_str()]))
        });
    }
    text_tokens(&ctx.content.text, sink);
    links(ctx, &mut |p, v| sink(&Token::new(&[p, v])));
    shape(ctx, &mut |p, v| sink(&Token::new(&[p, v])));
}

/// Unigrams and the pairs one and two words apart. Each word is hashed
/// once; its three tokens combine that hash with the prefixes' and the
/// previous words' (the same values [`token_hash`] gives their parts).
fn text_tokens(text: &str, sink: &mut impl FnMut(&Token<'_>)) {
    let unigram = combine(0, part_hash("w:"));
    let pair = combine(0, part_hash("p:"));
    let skip = combine(0, part_hash("q:"));
    let space = part_hash(" ");
    // The two previous words, most recent first.
    let mut recent: [Previous<'_>; 2] = Default::default();
    let mut buf = String::new();
    words(text, MAX_WORDS, &mut buf, &mut |word| {
        let w = word.as_str();
        let h = part_hash(w);
        sink(&Token {
            hash: combine(unigram, h),
            parts: &["w:", w],
        });
        let [one, two] = &recent;
        if let Some(one_word) = one.word() {
            sink(&Token {
                hash: combine(combine(combine(pair, one.hash), space), h),
                parts: &["p:", one_word, " ", w],
            });
        }
        if let Some(two_word) = two.word() {
            sink(&Token {
                hash: combine(combine(combine(skip, two.hash), space), h),
                parts: &["q:", two_word, " ", w],
            });
        }
        recent.swap(0, 1);
        recent[0].set(word, h);
    });
}

/// One of the previous words: a slice of the text when the word is
/// written there as it is, else a copy (kept for the word pairs). Words
/// are never empty, so an empty copy and no slice mean no word yet.
#[derive(Default)]
struct Previous<'t> {
    in_text: Option<&'t str>,
    copy: String,
    hash: u64,
}

impl<'t> Previous<'t> {
    fn word(&self) -> Option<&str> {
        self.in_text
            .or_else(|| (!self.copy.is_empty()).then_some(self.copy.as_str()))
    }

    fn set(&mut self, word: Word<'t, '_>, hash: u64) {
        match word {
            Word::InText(w) => self.in_text = Some(w),
            Word::Normalised(w) => {
                self.in_text = None;
                self.copy.clear();
                self.copy.push_str(w);
            }
        }
        self.hash = hash;
    }
}

/// A normalised word: a slice of the text when it needed no change (most
/// words), else the scratch buffer's contents.
#[derive(Clone, Copy)]
enum Word<'t, 'b> {
    InText(&'t str),
    Normalised(&'b str),
}

impl Word<'_, '_> {
    fn as_str(&self) -> &str {
        match self {
            Word::InText(w) | Word::Normalised(w) => w,
        }
    }
}

/// What a byte of text is, for [`words`]: a separator, an ASCII lower-case
/// letter, upper-case letter or digit, or part of a wider character.
const SEPARATOR: u8 = 0;
const LOWER: u8 = 1;
const UPPER: u8 = 2;
const WIDE: u8 = 4;
const DIGIT: u8 = 8;

static CLASS: [u8; 256] = {
    let mut t = [SEPARATOR; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c >= 0x80 {
            WIDE
        } else if c.is_ascii_lowercase() {
            LOWER
        } else if c.is_ascii_uppercase() {
            UPPER
        } else if c.is_ascii_digit() {
            DIGIT
        } else {
            SEPARATOR
        };
        b += 1;
    }
    t
};

/// Splits `text` into normalised words, at most `limit` of them (`buf` is
/// scratch space for words that need normalising).
fn words<'t>(text: &'t str, limit: usize, buf: &mut String, sink: &mut impl FnMut(Word<'t, '_>)) {
    let bytes = text.as_bytes();
    // (letter or digit, width) of the wider character at `i`. ASCII (most
    // text) is judged from the table: this sees every character of every
    // message.
    let wide = |i: usize| -> (bool, usize) {
        match text.get(i..).and_then(|rest| rest.chars().next()) {
            Some(c) => (c.is_alphanumeric(), c.len_utf8()),
            None => (false, 1),
        }
    };
    let mut count = 0;
    let mut i = 0;
    while i < bytes.len() {
        match CLASS[usize::from(bytes[i])] {
            SEPARATOR => {
                i += 1;
                continue;
            }
            WIDE => {
                let (alnum, width) = wide(i);
                if !alnum {
                    i += width;
                    continue;
                }
            }
            _ => {}
        }
        // A word starts here; `kinds` gathers the classes of its bytes.
        let start = i;
        let mut kinds = 0;
        while i < bytes.len() {
            let class = CLASS[usize::from(bytes[i])];
            if class == WIDE {
                let (alnum, width) = wide(i);
                if !alnum {
                    break;
                }
                kinds |= WIDE;
                i += width;
            } else if class == SEPARATOR {
                break;
            } else {
                kinds |= class;
                i += 1;
            }
        }
        count += word(&text[start..i], kinds, buf, sink);
        if count >= limit {
            return;
        }
    }
}

/// Sends one run of letters and digits (whose byte classes are `kinds`)
/// as tokens; returns how many.
fn word<'t>(w: &'t str, kinds: u8, buf: &mut String, sink: &mut impl FnMut(Word<'t, '_>)) -> usize {
    if kinds & WIDE == 0 {
        // ASCII, the common case: no copy when already lower case.
        if w.len() < 2 {
            return 0;
        }
        if w.len() > MAX_WORD_CHARS {
            sink(Word::InText("#long"));
        } else if kinds == LOWER {
            sink(Word::InText(w));
        } else if kinds & DIGIT == 0 {
            buf.clear();
            buf.push_str(w);
            buf.make_ascii_lowercase();
            sink(Word::Normalised(buf));
        } else {
            // Lower case, digits as `0`, in one pass into the reused buffer.
            buf.clear();
            buf.extend(w.bytes().map(|b| match b {
                b'0'..=b'9' => '0',
                _ => char::from(b.to_ascii_lowercase()),
            }));
            sink(Word::Normalised(buf));
        }
        return 1;
    }
    let chars = w.chars().count();
    if chars < 2 {
        return 0;
    }
    if w.chars().any(unspaced) {
        // A script written without spaces: overlapping pairs of
        // characters, as written.
        let mut sent = 0;
        let mut previous: Option<usize> = None;
        for (at, c) in w.char_indices() {
            if let Some(p) = previous {
                sink(Word::InText(&w[p..at + c.len_utf8()]));
                sent += 1;
                if sent == MAX_PAIRS_PER_RUN {
                    break;
                }
            }
            previous = Some(at);
        }
        return sent;
    }
    if chars > MAX_WORD_CHARS {
        sink(Word::InText("#long"));
        return 1;
    }
    buf.clear();
    for c in w.chars() {
        if c.is_numeric() {
            buf.push('0');
        } else {
            buf.extend(c.to_lowercase());
        }
    }
    sink(Word::Normalised(buf));
    1
}

/// Letters of scripts written without spaces between words (Han, kana,
/// Thai, Lao, Khmer, Myanmar).
fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF
        | 0x0E00..=0x0EFF | 0x1780..=0x17FF | 0x1000..=0x109F)
}

/// Hosts, organisation domains, top-level domains and first path segments
/// of the links, and where links were found.
fn links(ctx: &Context<'_>, emit: &mut dyn FnMut(&str, &str)) {
    for link in ctx.content.links.iter().take(MAX_LINKS) {
        emit("us:", &link.url.scheme);
        emit(
            "ul:",
            match link.source {
                LinkSource::Text => "text",
                LinkSource::Html => "html",
                LinkSource::Carried => "carried",
                LinkSource::Pdf => "pdf",
                LinkSource::Qr => "qr",
                LinkSource::HtmlAttachment => "attachment",
            },
        );
        match &link.url.host {
            Some(Host::Domain(d)) => {
                emit("uh:", d);
                emit("ud:", org_domain(d));
                if let Some(tld) = d.rsplit('.').next() {
                    emit("ut:", tld);
                }
            }
            Some(Host::Ip(_)) => emit("uh:", "#ip"),
            None => emit("uh:", "#none"),
        }
        let path = link.url.path_and_query();
        let first = path
            .trim_start_matches('/')
            .split(['/', '?', '#', '&', '='])
            .next()
            .unwrap_or("");
        if !first.is_empty() && first.len() <= 40 {
            let shaped: String = first
                .chars()
                .map(|c| {
                    if c.is_ascii_digit() {
                        '0'
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            emit("up:", &shaped);
        }
    }
    emit("nl:", bucket(ctx.content.links.len(), &[0, 1, 3, 10, 30]));
}

/// Header names, the mailer, MIME structure, charsets, attachment types
/// and a few sizes, in buckets.
fn shape(ctx: &Context<'_>, emit: &mut dyn FnMut(&str, &str)) {
    let mut name = String::new();
    for (header, value) in ctx.message.headers().take(MAX_HEADERS) {
        name.clear();
        name.push_str(header);
        name.make_ascii_lowercase();
        emit("hn:", &name);
        if name == "x-mailer" || name == "user-agent" {
            let mailer: String = value
                .trim()
                .split(|c: char| c.is_whitespace() || c == '/' || c == '(')
                .next()
                .unwrap_or("")
                .chars()
                .take(30)
                .flat_map(char::to_lowercase)
                .collect();
            emit("hx:", &mailer);
        }
    }
    for part in ctx.parts.iter().take(20) {
        emit("pt:", &part.content_type);
        if let Some(cs) = &part.charset {
            emit("cs:", cs);
        }
        if let Some(ext) = part
            .filename
            .and_then(|f| f.rsplit_once('.'))
            .map(|(_, e)| e)
        {
            if ext.len() <= 8 {
                emit("pa:", &ext.to_ascii_lowercase());
            }
        }
        if part.encoding_problem {
            emit("pe:", "encoding");
        }
    }
    emit(
        "body:",
        match (ctx.content.has_text, ctx.content.has_html) {
            (true, true) => "both",
            (true, false) => "text",
            (false, true) => "html",
            (false, false) => "none",
        },
    );
    emit("im:", bucket(ctx.content.images, &[0, 1, 3, 10]));
    emit("hid:", bucket(ctx.content.hidden_elements, &[0, 1, 5]));
    emit(
        "tl:",
        bucket(ctx.content.text.len(), &[0, 200, 1_000, 5_000, 20_000]),
    );
    let author = ctx.author;
    emit(
        "fn:",
        if author.name.is_some() {
            "named"
        } else {
            "bare"
        },
    );
    if let Some(tld) = author.domain.as_deref().and_then(|d| d.rsplit('.').next()) {
        emit("ft:", tld);
    }
    if let Some(domain) = author.domain.as_deref() {
        emit("fd:", org_domain(domain));
    }
    let mid = ctx
        .message
        .message_id()
        .and_then(|m| m.rsplit_once('@'))
        .map(|(_, d)| d.trim_end_matches('>').to_ascii_lowercase());
    emit(
        "mid:",
        match (&mid, author.domain.as_deref()) {
            (None, _) => "none",
            (Some(m), Some(f)) if org_domain(m) == org_domain(f) => "same",
            _ => "other",
        },
    );
    if let Some(subject) = ctx.message.subject() {
        let letters = subject.chars().filter(|c| c.is_alphabetic()).count();
        let upper = subject.chars().filter(|c| c.is_uppercase()).count();
        let caps = if letters >= 8 && upper * 10 >= letters * 7 {
            "shout"
        } else {
            "calm"
        };
        emit("sc:", caps);
        emit(
            "sl:",
            bucket(subject.chars().count(), &[0, 10, 30, 60, 100]),
        );
    } else {
        emit("sl:", "missing");
    }
}

/// The name of the bucket `n` falls in, given ascending lower bounds.
fn bucket(n: usize, bounds: &[usize]) -> &'static str {
    const NAMES: [&str; 8] = ["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"];
    let i = bounds.iter().rposition(|&b| n >= b).unwrap_or(0);
    NAMES[i.min(NAMES.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::engine;
    use crate::envelope::Envelope;

    fn all(raw: &str) -> Vec<String> {
        engine()
            .with_context(raw.as_bytes(), Envelope::default(), |ctx| {
                let mut out = Vec::new();
                tokens(ctx, &mut |t| {
                    assert_eq!(t.hash, token_hash(t.parts), "{:?}", t.parts);
                    out.push(t.parts.concat())
                });
                out
            })
            .expect("a message")
    }

    #[test]
    fn draws_words_pairs_links_and_shape() {
        let t = all(
            "From: Shop <news@shop.example>\r\nTo: a@b.example\r\nSubject: WIN a PRIZE 2024\r\n\
             X-Mailer: PHPMailer 6.0\r\n\r\nClaim your prize at https://prize.example.net/claim?id=42 now\r\n",
        );
        for expected in [
            "s:win",
            "s:0000",
            "w:claim",
            "p:claim your",
            "q:claim prize",
            "uh:prize.example.net",
            "ud:example.net",
            "up:claim",
            "hn:x-mailer",
            "hx:phpmailer",
            "body:text",
            "fd:shop.example",
        ] {
            assert!(
                t.iter().any(|x| x == expected),
                "{expected} missing from {t:?}"
            );
        }
    }

    #[test]
    fn unspaced_scripts_become_character_pairs() {
        let t = all(
            "From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
                     お客様のアカウントが一時的に停止されました。確認してください\r\n",
        );
        assert!(t.iter().any(|x| x == "w:停止"), "{t:?}");
    }

    /// The plain definition of [`words`]: runs of letters and digits,
    /// judged a character at a time.
    fn plain_words(text: &str, limit: usize) -> Vec<String> {
        let mut out = Vec::new();
        for run in text.split(|c: char| !c.is_alphanumeric()) {
            let chars: Vec<char> = run.chars().collect();
            if chars.len() < 2 {
                continue;
            }
            if chars.iter().any(|&c| unspaced(c)) {
                let pairs = chars.windows(2).take(MAX_PAIRS_PER_RUN);
                out.extend(pairs.map(|p| p.iter().collect::<String>()));
            } else if chars.len() > MAX_WORD_CHARS {
                out.push("#long".to_string());
            } else {
                out.push(
                    chars
                        .iter()
                        .flat_map(|&c| {
                            let folded: Vec<char> = if c.is_numeric() {
                                vec!['0']
                            } else {
                                c.to_lowercase().collect()
                            };
                            folded
                        })
                        .collect(),
                );
            }
            if out.len() >= limit {
                break;
            }
        }
        out
    }

    #[test]
    fn words_match_the_plain_definition() {
        // Every kind of character the scanner tells apart: lower, upper,
        // digits, ASCII punctuation, accented letters, non-ASCII digits and
        // spaces, symbols, and scripts written without spaces.
        let alphabet: Vec<char> = "abzAZ09 .,-_\n\té\u{c9}\u{df}\u{130}\u{663}\u{a0}\u{2003}\u{201c}\u{1f600}\u{4e2d}\u{6587}\u{30a2}\u{e01}\u{440}\u{416}"
            .chars()
            .collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut cases: Vec<String> = [
            "",
            "a",
            "Hello, World! 2024",
            "schön GRÜSSE İstanbul ١٢٣ x",
            "お客様のアカウント abc",
            &"verylongword".repeat(3),
            &"ä".repeat(30),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            cases.push(
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect(),
            );
        }
        for text in &cases {
            for limit in [3, 1_000] {
                let mut got = Vec::new();
                words(text, limit, &mut String::new(), &mut |w| {
                    got.push(w.as_str().to_string())
                });
                assert_eq!(got, plain_words(text, limit), "{text:?} limit {limit}");
            }
        }
    }

    #[test]
    fn words_are_bounded() {
        let body = "word ".repeat(50_000);
        let t = all(&format!(
            "From: a@b.example\r\nSubject: x\r\n\r\n{body}\r\n"
        ));
        let words = t.iter().filter(|x| x.starts_with("w:")).count();
        assert!(words <= MAX_WORDS, "{words}");
    }
}
