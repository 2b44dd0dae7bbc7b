//! Looking inside attachments, once per message: PDFs (links, scripts,
//! launch actions), images (QR codes), archives (entries, archives inside
//! archives, test files), attached HTML pages (forms, redirects, scripts
//! that rebuild the page) and Office encryption. The checks read these
//! facts; nothing here decides anything. Every step is bounded in bytes,
//! entries, depth and images (see each module's limits).

pub mod pdf;
pub mod qr;
pub mod signatures;
pub mod zip;

use crate::html::{self, HtmlDoc};
use crate::message::{Part, PartKind};
pub use pdf::PdfFacts;
pub use zip::ZipEntry;

/// Attachments looked into per message.
const MAX_ATTACHMENTS: usize = 20;
/// Images decoded for QR codes per message, attached or inside PDFs: the
/// decoder is the costly part of attachment analysis.
const MAX_QR_IMAGES: usize = 6;
/// Bytes inflated from archives per message, all attachments and nesting
/// levels together.
const MAX_INFLATED_BYTES: usize = 16 << 20;

/// What one message may still spend on the costly parts of attachment
/// analysis.
struct Budget {
    /// Images left to decode for QR codes.
    qr_images: usize,
    /// Archive bytes left to inflate.
    inflate: usize,
}
/// Archives inside archives followed this deep.
const MAX_ARCHIVE_DEPTH: usize = 2;

/// What one attachment holds.
#[derive(Clone, Debug, Default)]
pub struct Attachment {
    /// The file name as shown (or the content type in parentheses).
    pub name: String,
    /// A PDF's facts.
    pub pdf: Option<PdfFacts>,
    /// Texts of QR codes in the attachment (an image, or a PDF's images).
    pub qr_codes: Vec<String>,
    /// An archive's entries (the first level).
    pub archive: Option<Vec<ZipEntry>>,
    /// Names of archives found inside this archive, with their path.
    pub nested_archives: Vec<String>,
    /// Entries of inner archives (path/name), for dangerous-file checks.
    pub inner_entries: Vec<String>,
    /// The EICAR test file: the attachment itself or an entry (path).
    pub eicar: Option<String>,
    /// An attached HTML page, scanned.
    pub html: Option<HtmlDoc>,
    /// An Office document encrypted with a password (OLE `EncryptedPackage`).
    pub encrypted_office: bool,
}

/// Looks into every attachment of a message (bounded).
pub fn attachments(parts: &[Part<'_>], max_text_bytes: usize) -> Vec<Attachment> {
    let mut budget = Budget {
        qr_images: MAX_QR_IMAGES,
        inflate: MAX_INFLATED_BYTES,
    };
    parts
        .iter()
        .filter(|p| p.kind == PartKind::Attachment)
        .take(MAX_ATTACHMENTS)
        .map(|p| attachment(p, max_text_bytes, &mut budget))
        .collect()
}

/// Looks into one attachment, spending from the message's `budget`.
fn attachment(part: &Part<'_>, max_text_bytes: usize, budget: &mut Budget) -> Attachment {
    let name = part.filename.unwrap_or("").trim();
    let lower = name.to_ascii_lowercase();
    let mut a = Attachment {
        name: if name.is_empty() {
            format!("({})", part.content_type)
        } else {
            name.to_string()
        },
        ..Attachment::default()
    };
    let data = part.data;
    if signatures::is_eicar(data) {
        a.eicar = Some(a.name.clone());
    }
    if data.starts_with(b"%PDF")
        || part.content_type == "application/pdf"
        || lower.ends_with(".pdf")
    {
        if memchr::memmem::find(&data[..data.len().min(1024)], b"%PDF").is_some() {
            let facts = pdf::inspect(data, budget.qr_images.min(3));
            budget.qr_images = budget.qr_images.saturating_sub(facts.qr_images_decoded);
            a.qr_codes.extend(facts.qr_codes.iter().cloned());
            a.pdf = Some(facts);
        }
    } else if (part.content_type.starts_with("image/") || is_image(data)) && budget.qr_images > 0 {
        budget.qr_images -= 1;
        a.qr_codes = qr::decode(data);
    }
    // By its bytes, or by its name: a byte in front of the first header
    // must not hide an archive (the directory is found from the end).
    if data.starts_with(b"PK\x03\x04")
        || data.starts_with(b"PK\x05\x06")
        || extension(&lower) == Some("zip")
    {
        if let Some(list) = zip::entries(data) {
            look_inside(data, &list, "", 1, &mut a, &mut budget.inflate);
            a.archive = Some(list);
        }
    }
    if is_ole(data) && contains_utf16(data, "EncryptedPackage") {
        a.encrypted_office = true;
    }
    let is_html = part.content_type == "text/html"
        || matches!(
            extension(&lower),
            Some("html" | "htm" | "shtml" | "xhtml" | "svg")
        );
    if is_html {
        let text = part
            .text
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(data).into_owned());
        a.html = Some(html::scan(&text, max_text_bytes));
    }
    a
}

/// Reads an archive's readable entries: test files, and archives inside it
/// (followed to `MAX_ARCHIVE_DEPTH`).
fn look_inside(
    data: &[u8],
    list: &[ZipEntry],
    path: &str,
    depth: usize,
    a: &mut Attachment,
    budget: &mut usize,
) {
    for (name, bytes) in zip::readable(data, list, budget) {
        let full = format!("{path}{name}");
        if a.eicar.is_none() && signatures::is_eicar(&bytes) {
            a.eicar = Some(format!("{}: {full}", a.name));
        }
        if bytes.starts_with(b"PK\x03\x04") {
            // Office documents embed their charts and sheets as packages.
            if !full.contains("embeddings/") {
                a.nested_archives.push(full.clone());
            }
            if depth < MAX_ARCHIVE_DEPTH {
                if let Some(inner) = zip::entries(&bytes) {
                    a.inner_entries
                        .extend(inner.iter().take(200).map(|e| format!("{full}/{}", e.name)));
                    look_inside(&bytes, &inner, &format!("{full}/"), depth + 1, a, budget);
                }
            }
        }
    }
}

/// The last extension of a file name, if it has one.
pub fn extension(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty()
        && !ext.is_empty()
        && ext.len() <= 8
        && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then_some(ext)
}

fn is_image(data: &[u8]) -> bool {
    data.starts_with(b"\x89PNG")
        || data.starts_with(&[0xFF, 0xD8, 0xFF])
        || data.starts_with(b"GIF8")
}

/// An OLE compound file (legacy Office, and encrypted OOXML).
pub fn is_ole(data: &[u8]) -> bool {
    data.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
}

/// `needle` written in UTF-16LE somewhere in `data` (OLE stream names).
pub fn contains_utf16(data: &[u8], needle: &str) -> bool {
    let pattern: Vec<u8> = needle.bytes().flat_map(|b| [b, 0]).collect();
    memchr::memmem::find(data, &pattern).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        Budget {
            qr_images: MAX_QR_IMAGES,
            inflate: MAX_INFLATED_BYTES,
        }
    }

    fn part<'a>(name: &'a str, ctype: &str, data: &'a [u8]) -> Part<'a> {
        Part {
            kind: PartKind::Attachment,
            content_type: ctype.into(),
            charset: None,
            filename: Some(name),
            data,
            text: None,
            depth: 0,
            encoding_problem: false,
        }
    }

    #[test]
    fn eicar_plain_zipped_and_nested() {
        let plain = attachment(
            &part("eicar.com", "application/octet-stream", signatures::EICAR),
            1000,
            &mut budget(),
        );
        assert_eq!(plain.eicar.as_deref(), Some("eicar.com"));
        let zipped = zip::tests::stored_zip("eicar.com", signatures::EICAR, false);
        let a = attachment(
            &part("eicar.zip", "application/zip", &zipped),
            1000,
            &mut budget(),
        );
        assert_eq!(a.eicar.as_deref(), Some("eicar.zip: eicar.com"));
        let nested = zip::tests::stored_zip("inner.zip", &zipped, false);
        let a = attachment(
            &part("outer.zip", "application/zip", &nested),
            1000,
            &mut budget(),
        );
        assert_eq!(a.eicar.as_deref(), Some("outer.zip: inner.zip/eicar.com"));
        assert_eq!(a.nested_archives, vec!["inner.zip"]);
        assert_eq!(a.inner_entries, vec!["inner.zip/eicar.com"]);
        // With the message's inflation budget spent, archives stay closed.
        let mut spent = Budget {
            qr_images: 0,
            inflate: 0,
        };
        let a = attachment(
            &part("outer.zip", "application/zip", &nested),
            1000,
            &mut spent,
        );
        assert_eq!(a.eicar, None);
        assert!(a.nested_archives.is_empty());
        assert!(a.inner_entries.is_empty());
    }

    #[test]
    fn images_pdfs_and_html() {
        let a = attachment(
            &part("scan.png", "image/png", qr::tests::QR_PNG),
            1000,
            &mut budget(),
        );
        assert_eq!(a.qr_codes, vec!["https://qr.example/login"]);
        let doc = pdf::tests::pdf("https://pdf.example/x", false, Some(&pdf::tests::qr_jpeg()));
        let a = attachment(
            &part("invoice.pdf", "application/pdf", &doc),
            1000,
            &mut budget(),
        );
        assert_eq!(
            a.pdf.as_ref().map(|p| p.links.clone()),
            Some(vec!["https://pdf.example/x".to_string()])
        );
        assert_eq!(a.qr_codes, vec!["https://qr.example/login"]);
        let page = b"<html><meta http-equiv=refresh content='0;url=https://x.example/'></html>";
        let a = attachment(
            &part("Invoice.html", "text/html", page),
            1000,
            &mut budget(),
        );
        assert_eq!(
            a.html.and_then(|h| h.refresh).as_deref(),
            Some("https://x.example/")
        );
    }
}
