//! Attachments: dangerous and double extensions, declared type versus the
//! bytes, macro-enabled Office files, encrypted archives and what archives
//! hold, HTML attachments that collect credentials.

use super::{Check, Context, Findings};
use crate::finding::Finding;
use crate::message::{Part, PartKind};

/// Registration.
pub const CHECK: Check = Check {
    name: "attachments",
    run,
    rules: RULES,
};

crate::rules! {
    ATT_DANGEROUS_EXT: Malicious, 10.0, "executable, script, shortcut or disk-image attachment";
    ATT_DOUBLE_EXT: Malicious, 6.0, "document-looking name hiding a dangerous extension (invoice.pdf.exe)";
    ATT_HIDDEN_EXECUTABLE: Malicious, 10.0, "executable bytes under a harmless name or type";
    ATT_TYPE_MISMATCH: Suspicious, 4.0, "declared type or extension disagrees with the bytes";
    ATT_MACRO_OFFICE: Malicious, 10.0, "macro-enabled Office document";
    ATT_ENCRYPTED_ARCHIVE: Suspicious, 5.0, "password-protected archive (contents cannot be scanned)";
    ATT_ENCRYPTED_ARCHIVE_PASSWORD: Malicious, 5.0, "encrypted archive with its password in the message";
    ATT_ARCHIVE_DANGEROUS: Malicious, 10.0, "archive containing an executable or script";
    ATT_HTML_ATTACHMENT: Suspicious, 5.0, "HTML file attached";
    ATT_HTML_CREDENTIAL_FORM: Malicious, 10.0, "attached HTML page with a password form";
}

/// Archive entries listed at most (a zip bomb's directory is not our problem).
const MAX_ZIP_ENTRIES: usize = 2_000;

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let lists = &ctx.rules.lists;
    for part in ctx.parts.iter().filter(|p| p.kind == PartKind::Attachment) {
        let name = part.filename.unwrap_or("").trim().trim_end_matches('.');
        let lower = name.to_ascii_lowercase();
        let ext = extension(&lower);
        let kind = infer::get(part.data);
        let magic = kind.map(|k| k.mime_type()).unwrap_or("");
        let shown = if name.is_empty() {
            format!("({})", part.content_type)
        } else {
            name.to_string()
        };

        if let Some(ext) = ext {
            if lists.dangerous_extensions.contains(ext) {
                f.add(ATT_DANGEROUS_EXT, format!("{shown} (.{ext})"));
                if let Some(prev) = extension(&lower[..lower.len() - ext.len() - 1]) {
                    if lists.decoy_extensions.contains(prev) {
                        f.add(ATT_DOUBLE_EXT, format!("{shown}: .{prev} then .{ext}"));
                    }
                }
            }
            if lists.macro_extensions.contains(ext) {
                f.add(ATT_MACRO_OFFICE, format!("{shown} (.{ext})"));
            }
        }
        let executable = is_executable(part.data);
        if executable && !ext.is_some_and(|e| lists.dangerous_extensions.contains(e)) {
            f.add(
                ATT_HIDDEN_EXECUTABLE,
                format!(
                    "{shown} declared {} but starts like an executable",
                    part.content_type
                ),
            );
        } else if let Some(why) = type_mismatch(part, ext, magic) {
            f.add(ATT_TYPE_MISMATCH, format!("{shown}: {why}"));
        }
        if part.data.starts_with(b"PK\x03\x04")
            || ext.is_some_and(|e| lists.archive_extensions.contains(e))
        {
            if let Some(entries) = zip_entries(part.data) {
                let encrypted = entries.iter().any(|e| e.encrypted);
                if encrypted {
                    f.add(
                        ATT_ENCRYPTED_ARCHIVE,
                        format!(
                            "{shown}: {} encrypted entries",
                            entries.iter().filter(|e| e.encrypted).count()
                        ),
                    );
                    let text = ctx.content.text.to_ascii_lowercase();
                    if [
                        "password",
                        "passcode",
                        "pwd:",
                        "kennwort",
                        "mot de passe",
                        "contraseña",
                    ]
                    .iter()
                    .any(|w| text.contains(w))
                    {
                        f.add(
                            ATT_ENCRYPTED_ARCHIVE_PASSWORD,
                            format!("{shown}: the message body mentions a password"),
                        );
                    }
                }
                if let Some(bad) = entries.iter().find(|e| {
                    extension(&e.name.to_ascii_lowercase())
                        .is_some_and(|x| lists.dangerous_extensions.contains(x))
                }) {
                    f.add(
                        ATT_ARCHIVE_DANGEROUS,
                        format!("{shown} contains {}", bad.name),
                    );
                }
                if entries.iter().any(|e| {
                    e.name.eq_ignore_ascii_case("word/vbaProject.bin")
                        || e.name.ends_with("/vbaProject.bin")
                }) && !f.has(ATT_MACRO_OFFICE)
                {
                    f.add(ATT_MACRO_OFFICE, format!("{shown} contains vbaProject.bin"));
                }
            }
        }
        if is_ole(part.data)
            && contains_utf16(part.data, "_VBA_PROJECT")
            && !f.has(ATT_MACRO_OFFICE)
        {
            f.add(
                ATT_MACRO_OFFICE,
                format!("{shown}: OLE document with a VBA project"),
            );
        }
        let is_html = part.content_type == "text/html"
            || matches!(ext, Some("html" | "htm" | "shtml" | "xhtml"));
        if is_html {
            let text = part
                .text
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(part.data).into_owned());
            let doc = crate::html::scan(&text, ctx.rules.engine.limits.max_text_bytes);
            if doc.password_inputs > 0 {
                f.add(
                    ATT_HTML_CREDENTIAL_FORM,
                    format!("{shown} has {} password field(s)", doc.password_inputs),
                );
            } else if !f.has(ATT_HTML_ATTACHMENT) {
                f.add(ATT_HTML_ATTACHMENT, shown.clone());
            }
        }
    }
    f.into_vec()
}

/// The last extension of a file name, if it has one.
fn extension(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty()
        && !ext.is_empty()
        && ext.len() <= 8
        && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then_some(ext)
}

fn is_executable(data: &[u8]) -> bool {
    data.starts_with(b"MZ") && data.len() >= 64 || data.starts_with(b"\x7fELF")
}

fn is_ole(data: &[u8]) -> bool {
    data.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
}

fn contains_utf16(data: &[u8], needle: &str) -> bool {
    let pattern: Vec<u8> = needle.bytes().flat_map(|b| [b, 0]).collect();
    memchr::memmem::find(data, &pattern).is_some()
}

/// Declared extension/type versus detected content, for the families that matter.
fn type_mismatch(part: &Part<'_>, ext: Option<&str>, magic: &str) -> Option<String> {
    if magic.is_empty() {
        return None;
    }
    let expects: &[&str] = match ext? {
        "pdf" => &["application/pdf"],
        "jpg" | "jpeg" => &["image/jpeg"],
        "png" => &["image/png"],
        "gif" => &["image/gif"],
        "zip" => &["application/zip"],
        "docx" | "xlsx" | "pptx" | "docm" | "xlsm" | "pptm" => &[
            "application/zip",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ],
        "doc" | "xls" | "ppt" => &[
            "application/x-ole-storage",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
        ],
        _ => return None,
    };
    (!expects.contains(&magic)).then(|| {
        format!(
            "named .{} (declared {}) but the bytes are {magic}",
            ext.unwrap_or(""),
            part.content_type
        )
    })
}

/// One entry of a ZIP central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Stored file name.
    pub name: String,
    /// Encryption flag (general purpose bit 0).
    pub encrypted: bool,
}

/// Lists a ZIP's entries from its central directory, falling back to local
/// headers; bounded, and `None` when it is not a ZIP at all.
pub fn zip_entries(data: &[u8]) -> Option<Vec<ZipEntry>> {
    let u16_at = |i: usize| {
        data.get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |i: usize| {
        data.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let tail_start = data.len().saturating_sub(65_557);
    let eocd = memchr::memmem::rfind(&data[tail_start..], b"PK\x05\x06").map(|p| tail_start + p);
    let mut entries = Vec::new();
    if let Some(eocd) = eocd {
        let count = u16_at(eocd + 10)?;
        let mut at = u32_at(eocd + 16)?;
        for _ in 0..count.min(MAX_ZIP_ENTRIES) {
            if data.get(at..at + 4)? != b"PK\x01\x02" {
                break;
            }
            let flags = u16_at(at + 8)?;
            let name_len = u16_at(at + 28)?;
            let extra = u16_at(at + 30)?;
            let comment = u16_at(at + 32)?;
            let name = data.get(at + 46..at + 46 + name_len)?;
            entries.push(ZipEntry {
                name: String::from_utf8_lossy(name).into_owned(),
                encrypted: flags & 1 == 1,
            });
            at += 46 + name_len + extra + comment;
        }
        if !entries.is_empty() {
            return Some(entries);
        }
    }
    // Truncated or directory-less: walk local file headers.
    let mut at = 0;
    while entries.len() < MAX_ZIP_ENTRIES {
        let Some(p) = memchr::memmem::find(&data[at..], b"PK\x03\x04") else {
            break;
        };
        let h = at + p;
        let (Some(flags), Some(name_len)) = (u16_at(h + 6), u16_at(h + 26)) else {
            break;
        };
        let Some(name) = data.get(h + 30..h + 30 + name_len) else {
            break;
        };
        entries.push(ZipEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            encrypted: flags & 1 == 1,
        });
        at = h + 30 + name_len;
    }
    (!entries.is_empty()).then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{ids, run};
    use crate::envelope::Envelope;

    /// A stored (uncompressed) one-entry zip, optionally flagged encrypted.
    pub(crate) fn tiny_zip(name: &str, encrypted: bool) -> Vec<u8> {
        let flags: u16 = if encrypted { 1 } else { 0 };
        let n = name.len() as u16;
        let mut z = Vec::new();
        z.extend_from_slice(b"PK\x03\x04\x14\x00");
        z.extend_from_slice(&flags.to_le_bytes());
        z.extend_from_slice(&[0; 18]);
        z.extend_from_slice(&n.to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z.extend_from_slice(name.as_bytes());
        let cd = z.len() as u32;
        z.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00");
        z.extend_from_slice(&flags.to_le_bytes());
        z.extend_from_slice(&[0; 18]);
        z.extend_from_slice(&n.to_le_bytes());
        z.extend_from_slice(&[0; 16]);
        z.extend_from_slice(name.as_bytes());
        let cd_len = z.len() as u32 - cd;
        z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
        z.extend_from_slice(&cd_len.to_le_bytes());
        z.extend_from_slice(&cd.to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z
    }

    fn b64(data: &[u8]) -> String {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in data.chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            for i in 0..4 {
                if i <= c.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn with_attachment(name: &str, ctype: &str, data: &[u8], body: &str) -> String {
        format!(
            "From: a@b.example\r\nTo: c@contoso.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n{body}\r\n--XX\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--XX--\r\n",
            b64(data)
        )
    }

    #[test]
    fn zip_listing() {
        let z = tiny_zip("a.exe", true);
        assert_eq!(
            zip_entries(&z),
            Some(vec![ZipEntry {
                name: "a.exe".into(),
                encrypted: true
            }])
        );
        assert_eq!(zip_entries(b"not a zip"), None);
        assert!(zip_entries(&z[..20]).is_none() || zip_entries(&z[..20]).is_some());
    }

    #[test]
    fn double_extension_and_hidden_exe() {
        let mut exe = b"MZ".to_vec();
        exe.resize(128, 0);
        let f = run(
            &CHECK,
            &with_attachment("invoice.pdf.exe", "application/pdf", &exe, "hi"),
            Envelope::default(),
        );
        let ids = ids(&f);
        assert!(
            ids.contains(&"ATT_DANGEROUS_EXT") && ids.contains(&"ATT_DOUBLE_EXT"),
            "{ids:?}"
        );
        let f = run(
            &CHECK,
            &with_attachment("scan.pdf", "application/pdf", &exe, "hi"),
            Envelope::default(),
        );
        assert_eq!(
            super::super::testing::ids(&f),
            vec!["ATT_HIDDEN_EXECUTABLE"]
        );
    }

    #[test]
    fn encrypted_archive_with_password() {
        let z = tiny_zip("doc.js", true);
        let f = run(
            &CHECK,
            &with_attachment("files.zip", "application/zip", &z, "Password: 1234"),
            Envelope::default(),
        );
        let ids = ids(&f);
        for want in [
            "ATT_ENCRYPTED_ARCHIVE",
            "ATT_ENCRYPTED_ARCHIVE_PASSWORD",
            "ATT_ARCHIVE_DANGEROUS",
        ] {
            assert!(ids.contains(&want), "{want} missing from {ids:?}");
        }
    }

    #[test]
    fn macro_docm_and_real_pdf() {
        let z = tiny_zip("word/vbaProject.bin", false);
        let f = run(
            &CHECK,
            &with_attachment(
                "q.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                &z,
                "hi",
            ),
            Envelope::default(),
        );
        assert!(ids(&f).contains(&"ATT_MACRO_OFFICE"), "{f:?}");
        let f = run(
            &CHECK,
            &with_attachment("r.pdf", "application/pdf", b"%PDF-1.7\n%....\n", "hi"),
            Envelope::default(),
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
