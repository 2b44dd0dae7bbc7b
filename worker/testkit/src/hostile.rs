//! Hostile and malformed inputs the issue names, each with what must come
//! of it: shared by the engine, authentication and replay tests so all
//! three face the same inputs.

use std::path::PathBuf;

/// What an input must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Not a message: an error verdict, quarantined.
    Unscannable,
    /// A message, however broken: a normal verdict.
    Scanned,
}

/// One hostile input.
pub struct Case {
    /// File name.
    pub name: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// What it must get.
    pub expect: Expect,
}

fn nested_multipart(depth: usize) -> Vec<u8> {
    let mut m = String::from(
        "From: a@b.example\r\nTo: c@contoso.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n",
    );
    for i in 0..depth {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    m.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
    for i in (0..depth).rev() {
        m.push_str(&format!("--b{i}--\r\n"));
    }
    m.into_bytes()
}

fn many_parts(n: usize) -> Vec<u8> {
    let mut m = b"From: a@b.example\r\nTo: c@contoso.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"P\"\r\n\r\n".to_vec();
    for i in 0..n {
        m.extend_from_slice(
            format!(
                "--P\r\nContent-Type: application/octet-stream; name=\"f{i}.bin\"\r\n\r\nx\r\n"
            )
            .as_bytes(),
        );
    }
    m.extend_from_slice(b"--P--\r\n");
    m
}

fn big_attachment(bytes: usize) -> Vec<u8> {
    let mut m = b"From: a@b.example\r\nTo: c@contoso.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--X\r\nContent-Type: application/octet-stream; name=\"blob.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
    while m.len() < bytes {
        m.extend_from_slice(line);
    }
    m.extend_from_slice(b"--X--\r\n");
    m
}

/// Every hostile input.
pub fn cases() -> Vec<Case> {
    use Expect::{Scanned, Unscannable};
    let mut huge_header = b"From: a@b.example\r\nTo: c@contoso.com\r\nSubject: ".to_vec();
    huge_header.extend(std::iter::repeat_n(b'x', 1 << 20));
    huge_header.extend_from_slice(b"\r\nX-Many: 1\r\n\r\nbody\r\n");
    let mut many_received = Vec::new();
    for i in 0..20_000 {
        many_received.extend_from_slice(
            format!(
                "Received: from h{i} (h{i} [10.0.{}.{}]) by x; Tue, 12 Mar 2024 10:15:02 +0000\r\n",
                i % 250,
                i % 200
            )
            .as_bytes(),
        );
    }
    many_received.extend_from_slice(b"From: a@b.example\r\n\r\nbody\r\n");
    let mut truncated = big_attachment(10_000);
    truncated.truncate(5_000);
    let case = |name, bytes, expect| Case {
        name,
        bytes,
        expect,
    };
    vec![
        case("empty.eml", Vec::new(), Unscannable),
        case("binary.eml", (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect(), Unscannable),
        case("not-email.eml", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec(), Unscannable),
        case("nul-bytes.eml", b"From: a@b.example\r\nTo: c@contoso.com\r\nSubject: nul\0here\r\n\r\nbody \0\0\0 with NULs\r\n".to_vec(), Scanned),
        case("invalid-utf8.eml", b"From: \xff\xfe <a@b.example>\r\nTo: c@contoso.com\r\nSubject: caf\xe9 \xc3\x28\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<a href=\"http://\xe9x.example/\">\xf0\x28\x8c\x28</a>\r\n".to_vec(), Scanned),
        case("truncated.eml", truncated, Scanned),
        case("truncated-header.eml", b"From: a@b.example\r\nTo: c@contoso.com\r\nSubject: cut mid-hea".to_vec(), Scanned),
        case("deep-mime.eml", nested_multipart(1_000), Scanned),
        case("huge-header.eml", huge_header, Scanned),
        case("many-received.eml", many_received, Scanned),
        case("many-parts.eml", many_parts(100_000), Scanned),
        case("fifty-mb.eml", big_attachment(50 << 20), Scanned),
    ]
}

/// Writes every case into a fresh directory, plus `dangling.eml`, a link
/// to nowhere that cannot be read. Returns the directory and how many
/// entries it has.
pub fn write_dir(name: &str) -> (PathBuf, usize) {
    let dir = crate::tempdir(name);
    let cases = cases();
    let n = cases.len();
    for case in cases {
        std::fs::write(dir.join(case.name), case.bytes).expect("write case");
    }
    std::os::unix::fs::symlink(
        "/nonexistent/mailsift/message.eml",
        dir.join("dangling.eml"),
    )
    .expect("symlink");
    (dir, n + 1)
}
