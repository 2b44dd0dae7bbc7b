//! PDF attachments: the links a reader can click (`/URI` actions, link
//! annotations), what runs when the file opens (JavaScript, launch
//! actions), embedded files, and QR codes in its JPEG images. Parsed with
//! `lopdf`, bounded in size, decompression and images looked at; a PDF
//! that does not parse is reported as such, never a failure of the whole
//! message.

use lopdf::{Document, LoadOptions, Object};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// PDFs larger than this are not parsed.
pub const MAX_PDF_BYTES: usize = 10 << 20;
/// Most a single stream may decompress to while loading.
const MAX_DECOMPRESSED: usize = 16 << 20;
/// Objects looked at.
const MAX_OBJECTS: usize = 50_000;
/// Links kept.
const MAX_LINKS: usize = 50;
/// How deep into nested dictionaries and arrays of one object actions are
/// looked for (`/Annots [<< /A << /S /URI ... >> >>]` is three).
const MAX_NESTING: usize = 8;

/// What a PDF holds that matters to a mail filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PdfFacts {
    /// URLs of link actions and annotations, as written.
    pub links: Vec<String>,
    /// Texts of QR codes in its images.
    pub qr_codes: Vec<String>,
    /// JavaScript anywhere (`/JS`, `/JavaScript`).
    pub javascript: bool,
    /// A launch action (runs a program or opens a file).
    pub launch: bool,
    /// Files embedded in the PDF.
    pub embedded_files: usize,
    /// Pages.
    pub pages: usize,
    /// JPEG images decoded in search of QR codes.
    pub qr_images_decoded: usize,
    /// Encrypted (its contents cannot be read without a password).
    pub encrypted: bool,
    /// Why the file could not be parsed, when it could not.
    pub unreadable: Option<String>,
}

/// Looks into a PDF's bytes, decoding at most `qr_images` of its JPEG
/// images for QR codes.
pub fn inspect(bytes: &[u8], qr_images: usize) -> PdfFacts {
    if bytes.len() > MAX_PDF_BYTES {
        return PdfFacts {
            unreadable: Some(format!(
                "larger than {} MiB: not parsed",
                MAX_PDF_BYTES >> 20
            )),
            ..PdfFacts::default()
        };
    }
    // lopdf is a big parser fed hostile bytes: a bug in it costs this
    // attachment its analysis, not the message its verdict.
    match catch_unwind(AssertUnwindSafe(|| inspect_unguarded(bytes, qr_images))) {
        Ok(facts) => facts,
        Err(_) => PdfFacts {
            unreadable: Some("the PDF parser failed on this file".into()),
            ..PdfFacts::default()
        },
    }
}

fn inspect_unguarded(bytes: &[u8], qr_images: usize) -> PdfFacts {
    let mut facts = PdfFacts::default();
    let options = LoadOptions {
        max_decompressed_size: Some(MAX_DECOMPRESSED),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(doc) => doc,
        Err(e) => {
            // Raw fallback: a PDF too broken for the parser still shows
            // its actions as text.
            raw_scan(bytes, &mut facts);
            facts.unreadable = Some(format!("does not parse: {e}"));
            return facts;
        }
    };
    facts.encrypted = doc.is_encrypted();
    facts.pages = doc.get_pages().len();
    let mut images = 0;
    for object in doc.objects.values().take(MAX_OBJECTS) {
        let dict = match object {
            Object::Dictionary(d) => d,
            Object::Stream(s) => {
                let is_jpeg = s
                    .dict
                    .get(b"Subtype")
                    .and_then(Object::as_name)
                    .is_ok_and(|n| n == b"Image")
                    && filter_is(&s.dict, b"DCTDecode");
                if is_jpeg && images < qr_images {
                    images += 1;
                    facts.qr_codes.extend(super::qr::decode(&s.content));
                }
                &s.dict
            }
            _ => continue,
        };
        walk(&doc, dict, 0, &mut facts);
    }
    facts.qr_images_decoded = images;
    facts
}

/// Records the actions and links of one dictionary, and of the
/// dictionaries and arrays written inside it (Word writes link actions
/// inline in the annotation), to `MAX_NESTING` levels.
fn walk(doc: &Document, dict: &lopdf::Dictionary, depth: usize, facts: &mut PdfFacts) {
    for (key, value) in dict.iter() {
        match key.as_slice() {
            b"URI" => {
                if let Some(uri) = text_of(doc, value) {
                    if facts.links.len() < MAX_LINKS && !facts.links.contains(&uri) {
                        facts.links.push(uri);
                    }
                }
            }
            b"JS" | b"JavaScript" => facts.javascript = true,
            b"S" if value.as_name().is_ok_and(|n| n == b"Launch") => facts.launch = true,
            b"EmbeddedFile" => facts.embedded_files += 1,
            _ => {}
        }
        if depth < MAX_NESTING {
            walk_value(doc, value, depth + 1, facts);
        }
    }
}

fn walk_value(doc: &Document, value: &Object, depth: usize, facts: &mut PdfFacts) {
    match value {
        Object::Dictionary(d) => walk(doc, d, depth, facts),
        Object::Array(items) if depth < MAX_NESTING => {
            for item in items.iter().take(MAX_OBJECTS) {
                walk_value(doc, item, depth + 1, facts);
            }
        }
        _ => {}
    }
}

/// The stream's filter is (or includes) `name`.
fn filter_is(dict: &lopdf::Dictionary, name: &[u8]) -> bool {
    match dict.get(b"Filter") {
        Ok(Object::Name(n)) => n == name,
        Ok(Object::Array(a)) => a.iter().any(|o| o.as_name().is_ok_and(|n| n == name)),
        _ => false,
    }
}

/// A string value, following one reference.
fn text_of(doc: &Document, value: &Object) -> Option<String> {
    let value = match value {
        Object::Reference(id) => doc.get_object(*id).ok()?,
        v => v,
    };
    let bytes = value.as_str().ok()?;
    let text: String = String::from_utf8_lossy(bytes).chars().take(2000).collect();
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// What a text scan of the raw bytes shows when the parser gives up.
fn raw_scan(bytes: &[u8], facts: &mut PdfFacts) {
    let has = |needle: &[u8]| memchr::memmem::find(bytes, needle).is_some();
    facts.javascript = has(b"/JavaScript") || has(b"/JS");
    facts.launch = has(b"/Launch");
    for at in memchr::memmem::find_iter(bytes, b"/URI").take(MAX_LINKS) {
        let rest = &bytes[at + 4..bytes.len().min(at + 2004)];
        let Some(open) = rest.iter().position(|&b| b == b'(') else {
            continue;
        };
        if rest[..open].iter().any(|b| !b.is_ascii_whitespace()) {
            continue;
        }
        let body = &rest[open + 1..];
        let end = body.iter().position(|&b| b == b')').unwrap_or(body.len());
        let uri = String::from_utf8_lossy(&body[..end]).trim().to_string();
        if !uri.is_empty() && !facts.links.contains(&uri) {
            facts.links.push(uri);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lopdf::{dictionary, Stream};

    /// A one-page PDF with a link annotation to `link`, optionally
    /// JavaScript, and optionally a JPEG image.
    pub fn pdf(link: &str, javascript: bool, jpeg: Option<&[u8]>) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let action =
            doc.add_object(dictionary! { "S" => "URI", "URI" => Object::string_literal(link) });
        let annot = doc.add_object(dictionary! {
            "Type" => "Annot", "Subtype" => "Link", "Rect" => vec![0.into(), 0.into(), 100.into(), 100.into()],
            "A" => action,
        });
        let mut resources = dictionary! {};
        if let Some(jpeg) = jpeg {
            let image = doc.add_object(Stream::new(
                dictionary! { "Type" => "XObject", "Subtype" => "Image", "Filter" => "DCTDecode",
                    "Width" => 100, "Height" => 100, "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
                jpeg.to_vec(),
            ));
            resources.set("XObject", dictionary! { "Im1" => image });
        }
        let content = doc.add_object(Stream::new(dictionary! {}, b"BT ET".to_vec()));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content,
            "Annots" => vec![annot.into()], "Resources" => resources,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
            ),
        );
        let mut catalog = dictionary! { "Type" => "Catalog", "Pages" => pages_id };
        if javascript {
            let js = doc.add_object(
                dictionary! { "S" => "JavaScript", "JS" => Object::string_literal("app.alert(1)") },
            );
            catalog.set("OpenAction", js);
        }
        let catalog_id = doc.add_object(catalog);
        doc.trailer.set("Root", catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).expect("pdf");
        out
    }

    /// The test QR code as a JPEG.
    pub fn qr_jpeg() -> Vec<u8> {
        let img = image::load_from_memory(super::super::qr::tests::QR_PNG).expect("png");
        let img = img
            .resize(400, 400, image::imageops::FilterType::Nearest)
            .to_luma8();
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .expect("jpeg");
        out
    }

    #[test]
    fn links_scripts_and_qr_codes() {
        let facts = inspect(
            &pdf("https://pdf-link.example/login", true, Some(&qr_jpeg())),
            3,
        );
        assert_eq!(facts.links, vec!["https://pdf-link.example/login"]);
        assert!(facts.javascript);
        assert!(!facts.launch);
        assert_eq!(facts.pages, 1);
        assert_eq!(facts.qr_codes, vec!["https://qr.example/login"]);
        assert_eq!(facts.unreadable, None);
    }

    #[test]
    fn broken_pdfs_are_reported_not_fatal() {
        let whole = pdf("https://pdf-link.example/x", false, None);
        for cut in [10, whole.len() / 3, whole.len() / 2, whole.len() - 5] {
            let _ = inspect(&whole[..cut], 3);
        }
        let facts = inspect(b"%PDF-1.4\n1 0 obj << /S /Launch /F (cmd.exe) >> endobj\n2 0 obj << /URI (http://raw.example/) >> endobj\n", 3);
        assert!(facts.launch);
        assert!(
            facts.links.iter().any(|l| l == "http://raw.example/"),
            "{facts:?}"
        );
        assert!(inspect(b"garbage", 3).unreadable.is_some());
    }
}
