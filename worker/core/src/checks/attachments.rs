//! Attachments: dangerous and double extensions, declared type versus the
//! bytes, macro-enabled and encrypted Office files, archives (encrypted,
//! nested, what they hold), PDFs (scripts, launch actions, a lone link),
//! QR codes, and attached HTML pages that collect credentials, redirect or
//! rebuild themselves from encoded script. What the attachments hold was
//! read once ([`crate::inspect`]); this module judges it.

use super::{Check, Context, Findings};
use crate::finding::Finding;
use crate::inspect::{contains_utf16, extension, is_ole, Attachment};
use crate::message::{Part, PartKind};
use crate::text::clip;

/// Registration.
pub const CHECK: Check = Check {
    name: "attachments",
    run,
    rules: RULES,
};

crate::rules! {
    ATT_DANGEROUS_EXT: Malicious, 10.0, "executable, script, shortcut, disk-image or configuration-profile attachment";
    ATT_DOUBLE_EXT: Malicious, 6.0, "document-looking name hiding a dangerous extension (invoice.pdf.exe)";
    ATT_HIDDEN_EXECUTABLE: Malicious, 10.0, "executable bytes under a harmless name or type";
    ATT_TYPE_MISMATCH: Suspicious, 4.0, "declared type or extension disagrees with the bytes";
    ATT_MACRO_OFFICE: Malicious, 10.0, "macro-enabled Office document";
    ATT_ENCRYPTED_OFFICE: Suspicious, 4.0, "password-protected Office document (contents cannot be scanned)";
    ATT_ENCRYPTED_ARCHIVE: Suspicious, 5.0, "password-protected archive (contents cannot be scanned)";
    ATT_ENCRYPTED_ARCHIVE_PASSWORD: Malicious, 5.0, "encrypted archive with its password in the message";
    ATT_ARCHIVE_DANGEROUS: Malicious, 10.0, "archive containing an executable or script";
    ATT_NESTED_ARCHIVE: Suspicious, 3.0, "archive inside an archive (a way past scanners that look one level deep)";
    ATT_HTML_ATTACHMENT: Suspicious, 5.0, "HTML file attached";
    ATT_HTML_CREDENTIAL_FORM: Malicious, 10.0, "attached HTML page with a password form";
    ATT_HTML_REDIRECT: Malicious, 5.0, "attached HTML page that sends the browser elsewhere (meta refresh, script)";
    ATT_HTML_SMUGGLING: Malicious, 10.0, "attached HTML page whose script decodes and writes its own content (HTML smuggling)";
    ATT_PDF_JAVASCRIPT: Malicious, 5.0, "PDF with JavaScript";
    ATT_PDF_LAUNCH: Malicious, 10.0, "PDF with a launch action (runs a program or opens a file)";
    ATT_PDF_EMBEDDED_FILE: Suspicious, 3.0, "PDF with files embedded in it";
    ATT_PDF_LINK_LURE: Suspicious, 4.0, "short PDF whose point is a link, sent with next to no text";
    ATT_QR_CODE_LINK: Suspicious, 4.0, "QR code leading to a web page (quishing: a link text filters cannot see)";
}

/// A message body shorter than this (visible characters) is "next to no
/// text" for a PDF that carries the real content.
const SHORT_BODY: usize = 300;

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let lists = &ctx.rules.lists;
    // Bounces carry the original message's attachments; the report is not
    // the sender's choice of file. Only a report from a mail system counts:
    // anyone can label a message multipart/report.
    let from_mail_system = ctx.envelope.is_null_sender()
        || ctx.author.address.as_deref().is_some_and(|a| {
            let local = a.split('@').next().unwrap_or("").to_ascii_lowercase();
            matches!(
                local.as_str(),
                "postmaster" | "mailer-daemon" | "mail-daemon"
            )
        });
    let is_bounce = from_mail_system
        && ctx
            .message
            .header_raw("Content-Type")
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("multipart/report"));
    let attachments = ctx.parts.iter().filter(|p| p.kind == PartKind::Attachment);
    for (i, part) in attachments.enumerate() {
        let facts = ctx.content.attachments.get(i);
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
        if let Some(facts) = facts {
            archive(ctx, &mut f, &shown, facts);
            pdf(ctx, &mut f, &shown, facts);
            if !is_bounce {
                html_page(&mut f, &shown, facts);
            }
            if facts.encrypted_office && !f.has(ATT_ENCRYPTED_OFFICE) {
                f.add(
                    ATT_ENCRYPTED_OFFICE,
                    format!("{shown}: an encrypted Office package"),
                );
            }
            if let Some(code) = facts.qr_codes.iter().find(|c| c.contains("://")) {
                if !f.has(ATT_QR_CODE_LINK) {
                    f.add(
                        ATT_QR_CODE_LINK,
                        format!("{shown}: QR code to {}", clip(code, 100)),
                    );
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
    }
    f.into_vec()
}

fn archive(ctx: &Context<'_>, f: &mut Findings<'_>, shown: &str, facts: &Attachment) {
    let lists = &ctx.rules.lists;
    let Some(entries) = &facts.archive else {
        return;
    };
    let encrypted = entries.iter().filter(|e| e.encrypted).count();
    if encrypted > 0 {
        f.add(
            ATT_ENCRYPTED_ARCHIVE,
            format!("{shown}: {encrypted} encrypted entries"),
        );
        let text = ctx.content.text.to_ascii_lowercase();
        if [
            "password",
            "passcode",
            "pwd:",
            "kennwort",
            "passwort",
            "mot de passe",
            "contraseña",
            "senha",
            "wachtwoord",
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
    let dangerous = |name: &str| {
        extension(&name.to_ascii_lowercase())
            .is_some_and(|x| lists.dangerous_extensions.contains(x))
    };
    let bad = entries
        .iter()
        .map(|e| e.name.as_str())
        .chain(facts.inner_entries.iter().map(String::as_str))
        .find(|n| dangerous(n));
    if let Some(bad) = bad {
        f.add(ATT_ARCHIVE_DANGEROUS, format!("{shown} contains {bad}"));
    }
    if let Some(inner) = facts.nested_archives.first() {
        f.add(
            ATT_NESTED_ARCHIVE,
            format!("{shown} contains the archive {inner}"),
        );
    }
    if entries.iter().any(|e| {
        e.name.eq_ignore_ascii_case("word/vbaProject.bin") || e.name.ends_with("/vbaProject.bin")
    }) && !f.has(ATT_MACRO_OFFICE)
    {
        f.add(ATT_MACRO_OFFICE, format!("{shown} contains vbaProject.bin"));
    }
}

fn pdf(ctx: &Context<'_>, f: &mut Findings<'_>, shown: &str, facts: &Attachment) {
    let Some(pdf) = &facts.pdf else {
        return;
    };
    if pdf.launch {
        f.add(ATT_PDF_LAUNCH, format!("{shown}: a /Launch action"));
    }
    if pdf.javascript && !f.has(ATT_PDF_JAVASCRIPT) {
        f.add(ATT_PDF_JAVASCRIPT, format!("{shown}: JavaScript"));
    }
    if pdf.embedded_files > 0 && !f.has(ATT_PDF_EMBEDDED_FILE) {
        f.add(
            ATT_PDF_EMBEDDED_FILE,
            format!("{shown}: {} embedded file(s)", pdf.embedded_files),
        );
    }
    let body = ctx.content.plain_text_len.max(ctx.content.html_text_len);
    let web_links = pdf.links.iter().filter(|l| l.contains("://")).count();
    if (1..=3).contains(&web_links)
        && pdf.pages <= 2
        && body < SHORT_BODY
        && !f.has(ATT_PDF_LINK_LURE)
    {
        f.add(
            ATT_PDF_LINK_LURE,
            format!(
                "{shown}: {} page(s), links to {}; the message itself has {body} characters",
                pdf.pages,
                clip(&pdf.links[0], 100)
            ),
        );
    }
}

fn html_page(f: &mut Findings<'_>, shown: &str, facts: &Attachment) {
    let Some(doc) = &facts.html else {
        return;
    };
    if doc.password_inputs > 0 {
        f.add(
            ATT_HTML_CREDENTIAL_FORM,
            format!("{shown} has {} password field(s)", doc.password_inputs),
        );
    }
    let decodes = doc.script_signals.iter().any(|s| {
        matches!(
            *s,
            "atob" | "unescape" | "String.fromCharCode" | "decodeURIComponent"
        )
    });
    let writes = doc
        .script_signals
        .iter()
        .any(|s| matches!(*s, "document.write" | "innerHTML" | "eval"));
    // Or hands the decoded bytes to the browser as a file to save.
    let drops_file = doc
        .script_signals
        .iter()
        .any(|s| matches!(*s, "URL.createObjectURL" | "msSaveOrOpenBlob"))
        && doc.script_signals.contains(&"new Blob");
    if decodes && (writes || drops_file) {
        f.add(
            ATT_HTML_SMUGGLING,
            format!("{shown}: script uses {}", doc.script_signals.join(", ")),
        );
    }
    let moves = doc
        .script_signals
        .iter()
        .any(|s| matches!(*s, "window.location" | "location.href" | "location.replace"));
    if let Some(target) = &doc.refresh {
        f.add(
            ATT_HTML_REDIRECT,
            format!("{shown}: meta refresh to {}", clip(target, 100)),
        );
    } else if moves {
        f.add(
            ATT_HTML_REDIRECT,
            format!("{shown}: script sends the browser elsewhere"),
        );
    }
    if !f.has(ATT_HTML_ATTACHMENT) {
        f.add(ATT_HTML_ATTACHMENT, shown.to_string());
    }
}

fn is_executable(data: &[u8]) -> bool {
    data.starts_with(b"MZ") && data.len() >= 64 || data.starts_with(b"\x7fELF")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{ids, run};
    use crate::envelope::Envelope;

    fn tiny_zip(name: &str, encrypted: bool) -> Vec<u8> {
        crate::inspect::zip::tests::stored_zip(name, b"", encrypted)
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

    /// A bounce carries the original's attachments and is not judged on
    /// them; a message that only calls itself a report is.
    #[test]
    fn only_a_mail_systems_report_is_excused_its_html() {
        let page = b"<form action=\"https://x.example/\"><input type=\"password\"></form>";
        let report = |from: &str| {
            with_attachment("login.html", "text/html", page, "delivery failed")
                .replace("From: a@b.example", &format!("From: {from}"))
                .replace(
                    "multipart/mixed",
                    "multipart/report; report-type=delivery-status",
                )
        };
        let forged = run(&CHECK, &report("alerts@b.example"), Envelope::default());
        assert!(
            ids(&forged).contains(&"ATT_HTML_CREDENTIAL_FORM"),
            "{:?}",
            ids(&forged)
        );
        let bounce = run(&CHECK, &report("postmaster@b.example"), Envelope::default());
        assert!(
            !ids(&bounce).contains(&"ATT_HTML_CREDENTIAL_FORM"),
            "{:?}",
            ids(&bounce)
        );
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
