//! A small, bounded HTML scanner: visible text, anchors (href + text) and
//! forms (action + password inputs). Linear in the input, never recursive.
//!
//! A full HTML5 parser would build a DOM we do not need; mail HTML is often
//! broken anyway, and all we want is what a reader sees and where links go.

/// An `<a href>` with the text a reader sees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Anchor {
    /// The href, entity-decoded and trimmed.
    pub href: String,
    /// Visible text inside the anchor, whitespace-folded.
    pub text: String,
}

/// A `<form>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    /// The action URL, if any.
    pub action: Option<String>,
    /// Whether it has an `<input type=password>`.
    pub password: bool,
}

/// What the scanner extracted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HtmlDoc {
    /// Visible text, whitespace-folded.
    pub text: String,
    /// Anchors in document order.
    pub anchors: Vec<Anchor>,
    /// Forms in document order.
    pub forms: Vec<Form>,
    /// `<input type=password>` outside any form counts too.
    pub password_inputs: usize,
    /// `<font size>` of 5+ (or +3 and more) and `<center>` tags: shouting markup.
    pub shouting_tags: usize,
    /// `<img>` tags.
    pub images: usize,
    /// Elements styled invisible (display:none, visibility:hidden, font-size 0/1px).
    pub hidden_elements: usize,
    /// `<meta http-equiv="refresh">` destination, if any.
    pub refresh: Option<String>,
    /// `<script>` elements.
    pub scripts: usize,
    /// What the scripts do that pages built to evade scanners do: decode
    /// a payload (`atob`, `unescape`, `fromCharCode`), write it into the
    /// page, evaluate it, or send the browser elsewhere. Each named once.
    pub script_signals: Vec<&'static str>,
}

/// Script calls that rebuild or move a page, with how they are named in
/// evidence.
const SCRIPT_SIGNALS: &[(&str, &str)] = &[
    ("atob(", "atob"),
    ("unescape(", "unescape"),
    ("fromcharcode", "String.fromCharCode"),
    ("document.write", "document.write"),
    ("eval(", "eval"),
    ("window.location", "window.location"),
    ("location.href", "location.href"),
    ("location.replace", "location.replace"),
    (".innerhtml", "innerHTML"),
    ("fetch(", "fetch"),
    ("xmlhttprequest", "XMLHttpRequest"),
    ("decodeuricomponent", "decodeURIComponent"),
    ("new blob", "new Blob"),
    ("createobjecturl", "URL.createObjectURL"),
    ("mssaveoropenblob", "msSaveOrOpenBlob"),
];

/// Scans at most `limit` bytes of `html`.
pub fn scan(html: &str, limit: usize) -> HtmlDoc {
    let html = crate::text::truncate(html, limit);
    let bytes = html.as_bytes();
    let mut doc = HtmlDoc::default();
    let mut anchor: Option<Anchor> = None;
    let mut form: Option<Form> = None;
    let mut i = 0;
    let mut text_start = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                push_text(&mut doc, &mut anchor, &html[text_start..i]);
                i = tag(html, i, &mut doc, &mut anchor, &mut form);
                text_start = i;
            }
            _ => i += 1,
        }
    }
    push_text(&mut doc, &mut anchor, &html[text_start..]);
    if let Some(a) = anchor.take() {
        doc.anchors.push(finish_anchor(a));
    }
    if let Some(f) = form.take() {
        doc.forms.push(f);
    }
    doc.text = fold_whitespace(&doc.text);
    doc
}

fn push_text(doc: &mut HtmlDoc, anchor: &mut Option<Anchor>, raw: &str) {
    if raw.is_empty() {
        return;
    }
    let text = decode_entities(raw);
    doc.text.push_str(&text);
    if let Some(a) = anchor {
        a.text.push_str(&text);
    }
}

fn finish_anchor(mut a: Anchor) -> Anchor {
    a.text = fold_whitespace(&a.text);
    a
}

/// Handles the tag starting at `start` (a `<`); returns the index after it.
fn tag(
    html: &str,
    start: usize,
    doc: &mut HtmlDoc,
    anchor: &mut Option<Anchor>,
    form: &mut Option<Form>,
) -> usize {
    let bytes = html.as_bytes();
    let rest = &html[start..];
    if rest.starts_with("<!--") {
        return match rest.find("-->") {
            Some(p) => start + p + 3,
            None => html.len(),
        };
    }
    let mut i = start + 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric()) {
        i += 1;
    }
    if i == name_start {
        // A lone `<` in text: keep it as text.
        doc.text.push('<');
        return start + 1;
    }
    let name = html[name_start..i].to_ascii_lowercase();
    let (attrs, end) = attributes(html, i);
    if !closing && (name == "script" || name == "style") {
        let close = format!("</{name}");
        let lower_rest = &html[end..];
        let body_end = find_ascii_ci(lower_rest, &close).map_or(html.len(), |p| end + p);
        if name == "script" {
            doc.scripts += 1;
            let body = html[end..body_end].to_ascii_lowercase();
            for (needle, shown) in SCRIPT_SIGNALS {
                if body.contains(needle) && !doc.script_signals.contains(shown) {
                    doc.script_signals.push(shown);
                }
            }
        }
        return match find_ascii_ci(lower_rest, &close) {
            Some(p) => {
                let after = end + p;
                match html[after..].find('>') {
                    Some(q) => after + q + 1,
                    None => html.len(),
                }
            }
            None => html.len(),
        };
    }
    match (name.as_str(), closing) {
        ("a", false) => {
            if let Some(a) = anchor.take() {
                doc.anchors.push(finish_anchor(a));
            }
            if let Some(href) = attr(&attrs, "href") {
                *anchor = Some(Anchor {
                    href: decode_entities(href.trim()),
                    text: String::new(),
                });
            }
        }
        ("a", true) => {
            if let Some(a) = anchor.take() {
                doc.anchors.push(finish_anchor(a));
            }
        }
        // Image maps: a clickable region is a link like any other.
        ("area", false) => {
            if let Some(href) = attr(&attrs, "href") {
                doc.anchors.push(Anchor {
                    href: decode_entities(href.trim()),
                    text: fold_whitespace(&decode_entities(attr(&attrs, "alt").unwrap_or(""))),
                });
            }
        }
        ("meta", false)
            if attr(&attrs, "http-equiv")
                .is_some_and(|h| h.trim().eq_ignore_ascii_case("refresh")) =>
        {
            let content = decode_entities(attr(&attrs, "content").unwrap_or(""));
            let lower = content.to_ascii_lowercase();
            if let Some(p) = lower.find("url=") {
                let target = content[p + 4..]
                    .trim()
                    .trim_matches(|c| c == '\'' || c == '"');
                doc.refresh = Some(target.to_string());
            }
        }
        ("form", false) => {
            if let Some(f) = form.take() {
                doc.forms.push(f);
            }
            *form = Some(Form {
                action: attr(&attrs, "action").map(|a| decode_entities(a.trim())),
                password: false,
            });
        }
        ("form", true) => {
            if let Some(f) = form.take() {
                doc.forms.push(f);
            }
        }
        ("center", false) => doc.shouting_tags += 1,
        ("font", false) => {
            let size = attr(&attrs, "size").unwrap_or("").trim();
            let big = match size.strip_prefix('+') {
                Some(rel) => rel.parse::<u8>().is_ok_and(|n| n >= 3),
                None => size.parse::<u8>().is_ok_and(|n| n >= 5),
            };
            if big {
                doc.shouting_tags += 1;
            }
        }
        ("input", false)
            if attr(&attrs, "type").is_some_and(|t| t.trim().eq_ignore_ascii_case("password")) =>
        {
            doc.password_inputs += 1;
            if let Some(f) = form {
                f.password = true;
            }
        }
        _ => {}
    }
    if matches!(
        name.as_str(),
        "br" | "p" | "div" | "td" | "tr" | "li" | "table" | "h1" | "h2" | "h3" | "title" | "img"
    ) {
        doc.text.push(' ');
        if let Some(a) = anchor {
            a.text.push(' ');
        }
    }
    if !closing {
        if let Some(style) = attr(&attrs, "style") {
            let style: String = style
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_lowercase();
            if style.contains("display:none")
                || style.contains("visibility:hidden")
                || style.contains("font-size:0")
                || style.contains("font-size:1px")
            {
                doc.hidden_elements += 1;
            }
        }
    }
    if name == "img" && !closing {
        doc.images += 1;
    }
    if name == "img" {
        if let (Some(a), Some(alt)) = (anchor.as_mut(), attr(&attrs, "alt")) {
            a.text.push_str(&decode_entities(alt));
        }
    }
    end
}

/// Parses attributes from `i` to the closing `>`; returns them and the index after `>`.
fn attributes(html: &str, mut i: usize) -> (Vec<(String, &str)>, usize) {
    let bytes = html.as_bytes();
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (attrs, bytes.len());
        }
        if bytes[i] == b'>' {
            return (attrs, i + 1);
        }
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b' ' | b'\t' | b'\r' | b'\n' | b'/')
        {
            i += 1;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            attrs.push((name, ""));
            if i == name_start {
                i += 1; // a stray byte: move on
            }
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let v_start = i + 1;
                match memchr::memchr(q, &bytes[v_start..]) {
                    Some(len) => {
                        i = v_start + len + 1;
                        &html[v_start..v_start + len]
                    }
                    None => {
                        i = bytes.len();
                        &html[v_start..]
                    }
                }
            }
            _ => {
                let v_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                &html[v_start..i]
            }
        };
        attrs.push((name, value));
    }
}

fn attr<'a>(attrs: &[(String, &'a str)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.as_bytes();
    hay.as_bytes()
        .windows(n.len())
        .position(|w| w.eq_ignore_ascii_case(n))
}

/// Decodes the common named entities and numeric references.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest.as_bytes()[..rest.len().min(12)]
            .iter()
            .position(|&b| b == b';');
        let decoded = semi.and_then(|semi| {
            let ent = &rest[1..semi];
            let ch = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                    u32::from_str_radix(&ent[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if ent.starts_with('#') => ent[1..].parse::<u32>().ok().and_then(char::from_u32),
                _ => None,
            };
            ch.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Collapses whitespace runs (including NBSP and zero-width characters) to one space.
pub fn fold_whitespace(s: &str) -> String {
    if s.is_ascii() {
        return fold_ascii_whitespace(s);
    }
    let mut out = String::with_capacity(s.len());
    let space = |c: char| c.is_whitespace() || matches!(c, '\u{200b}' | '\u{200c}' | '\u{feff}');
    for word in s.split(space).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn is_ascii_space(b: u8) -> bool {
    b.is_ascii_whitespace() || b == 0x0b
}

/// The ASCII path of [`fold_whitespace`] (most text and every header).
/// Text is mostly words with single spaces between them, which stay as
/// they are: only irregular whitespace ends a run copied whole, and the
/// spaces are found eight bytes at a time (every ASCII whitespace byte is
/// at most `b' '`).
fn fold_ascii_whitespace(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let skip_spaces = |mut i: usize| {
        while i < bytes.len() && is_ascii_space(bytes[i]) {
            i += 1;
        }
        i
    };
    let mut i = skip_spaces(0);
    let mut run = i;
    while i < bytes.len() {
        i = next_control_or_space(bytes, i);
        let Some(&b) = bytes.get(i) else { break };
        let single_space = b == b' ' && bytes.get(i + 1).is_some_and(|&n| !is_ascii_space(n));
        if single_space || !is_ascii_space(b) {
            i += 1;
            continue;
        }
        out.push_str(&s[run..i]);
        i = skip_spaces(i);
        if i < bytes.len() {
            out.push(' ');
        }
        run = i;
    }
    out.push_str(&s[run..]);
    out
}

/// The first index at or after `i` of an ASCII byte `<= b' '`, or the
/// length. `bytes` must be ASCII: then a byte is below 0x21 exactly when
/// subtracting 0x21 from it borrows, which eight lanes test at once (a
/// borrow can only mark later lanes, so the first mark is right).
fn next_control_or_space(bytes: &[u8], mut i: usize) -> usize {
    const LANES: u64 = 0x0101_0101_0101_0101;
    while let Some(chunk) = bytes.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        let x = u64::from_le_bytes(*chunk);
        let low = x.wrapping_sub(LANES * 0x21) & !x & (LANES * 0x80);
        if low != 0 {
            return i + (low.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && bytes[i] > b' ' {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_paths_agree() {
        for s in ["  a \t b\r\n\nc  ", "x", "", "\u{a0}a\u{200b}b  c"] {
            let slow: String = s
                .split(|c: char| c.is_whitespace() || c == '\u{200b}')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            assert_eq!(fold_whitespace(s), slow, "{s:?}");
        }
    }

    #[test]
    fn eight_bytes_at_a_time_folds_as_one_at_a_time() {
        // Every string of up to 6 bytes over words, each kind of ASCII
        // whitespace and a control byte that is no whitespace, alone and
        // at every offset inside longer text (across the 8-byte lanes).
        let alphabet = ['a', ' ', '\t', '\n', '\r', '\x0b', '\x0c', '\x01', '~'];
        let mut frontier = vec![String::new()];
        for _ in 0..6 {
            frontier = frontier
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            for s in &frontier {
                for text in [
                    s.clone(),
                    format!("longer word{s}s around it  "),
                    format!("{s}x{s}"),
                ] {
                    let slow = text
                        .split(|c: char| c.is_ascii_whitespace() || c == '\x0b')
                        .filter(|w| !w.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    assert_eq!(fold_ascii_whitespace(&text), slow, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn anchors_forms_and_text() {
        let doc = scan(
            r#"<html><style>p{}</style><p>Hello&nbsp;<b>you</b></p>
            <a href="http://evil.example/x?a=1&amp;b=2">https://www.paypal.com</a>
            <form action='https://evil.example/post'><input type=password name=p></form>
            <script>var x = "<a href=nope>"; document.write(atob(x));</script>tail
            <map><area shape="rect" href="https://map.example/go" alt="Open"></map>
            <meta http-equiv="Refresh" content="0; URL='https://next.example/p'">"#,
            1 << 20,
        );
        assert_eq!(doc.anchors.len(), 2);
        assert_eq!(doc.anchors[0].href, "http://evil.example/x?a=1&b=2");
        assert!(doc
            .anchors
            .iter()
            .any(|a| a.href == "https://map.example/go" && a.text == "Open"));
        assert_eq!(doc.refresh.as_deref(), Some("https://next.example/p"));
        assert_eq!(doc.scripts, 1);
        assert_eq!(doc.script_signals, vec!["atob", "document.write"]);
        assert_eq!(doc.anchors[0].text, "https://www.paypal.com");
        assert_eq!(doc.forms.len(), 1);
        assert!(doc.forms[0].password);
        assert!(doc.text.starts_with("Hello you"), "{}", doc.text);
        assert!(doc.text.ends_with("tail"));
        assert!(!doc.text.contains("nope"));
    }

    #[test]
    fn broken_html_terminates() {
        for s in [
            "<a href=\"x",
            "<",
            "<<<>>>",
            "<!-- never closed",
            "<script>",
            "&#99999999;",
            "<a\u{e9}>",
            "&nbsp; 01 \u{201c}51\u{201d}",
            "&\u{8cfc}\u{8cb7}\u{9999};",
        ] {
            let _ = scan(s, 1 << 20);
        }
        let doc = scan("é<p>ü", 3);
        assert_eq!(doc.text, "é<");
        let doc = scan("é<p>ü", 1);
        assert_eq!(doc.text, "");
    }
}
