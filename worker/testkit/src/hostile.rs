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
    let mut cases = cases();
    cases.extend(attachment_cases());
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

/// A message carrying one attachment, base64-encoded.
pub fn with_attachment(name: &str, content_type: &str, data: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "From: a@b.example\r\nTo: c@contoso.com\r\nSubject: see attached\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"A\"\r\n\r\n--A\r\nContent-Type: text/plain\r\n\r\nplease open\r\n\
--A\r\nContent-Type: {content_type}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    for chunk in data.chunks(57) {
        m.extend_from_slice(base64(chunk).as_bytes());
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--A--\r\n");
    m
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A one-entry ZIP; `declared` overrides the sizes written in its headers
/// (a bomb lies about them).
pub fn zip(name: &str, data: &[u8], deflate: bool, declared: Option<u32>) -> Vec<u8> {
    let body = if deflate {
        miniz_oxide::deflate::compress_to_vec(data, 9)
    } else {
        data.to_vec()
    };
    let method: u16 = if deflate { 8 } else { 0 };
    let csize = declared.unwrap_or(body.len() as u32);
    let usize_ = declared.unwrap_or(data.len() as u32);
    let n = name.len() as u16;
    let mut z = Vec::new();
    z.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00");
    z.extend_from_slice(&method.to_le_bytes());
    z.extend_from_slice(&[0; 8]); // time, date, crc
    z.extend_from_slice(&csize.to_le_bytes());
    z.extend_from_slice(&usize_.to_le_bytes());
    z.extend_from_slice(&n.to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(&body);
    let cd = z.len() as u32;
    z.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00");
    z.extend_from_slice(&method.to_le_bytes());
    z.extend_from_slice(&[0; 8]);
    z.extend_from_slice(&csize.to_le_bytes());
    z.extend_from_slice(&usize_.to_le_bytes());
    z.extend_from_slice(&n.to_le_bytes());
    z.extend_from_slice(&[0; 16]); // extra, comment, disk, attrs, local offset 0
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() as u32 - cd;
    z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd.to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z
}

/// A ZIP whose directory promises 65,535 entries, all pointing at one
/// local header (overlapping entries, as in the "better zip bomb").
fn zip_overlapping(entries: u16) -> Vec<u8> {
    let one = zip("a.txt", &vec![b'a'; 1 << 20], true, None);
    let cd = one.windows(4).position(|w| w == b"PK\x01\x02").unwrap_or(0);
    let eocd = one.windows(4).position(|w| w == b"PK\x05\x06").unwrap_or(0);
    let record = one[cd..eocd].to_vec();
    let mut z = one[..cd].to_vec();
    let start = z.len() as u32;
    for _ in 0..entries {
        z.extend_from_slice(&record);
    }
    let len = z.len() as u32 - start;
    z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    z.extend_from_slice(&entries.to_le_bytes());
    z.extend_from_slice(&entries.to_le_bytes());
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&start.to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z
}

/// Archives inside archives, `depth` deep, around 64 MiB of zeros.
fn zip_nested(depth: usize) -> Vec<u8> {
    let mut inner = zip("zeros.bin", &vec![0; 64 << 20], true, None);
    for level in 0..depth {
        inner = zip(&format!("level{level}.zip"), &inner, true, None);
    }
    inner
}

/// A PDF with `body` as its only object, and a cross-reference table that
/// points at it.
fn pdf_with(body: &[u8]) -> Vec<u8> {
    let mut p = b"%PDF-1.7\n".to_vec();
    let offset = p.len();
    p.extend_from_slice(b"1 0 obj\n");
    p.extend_from_slice(body);
    p.extend_from_slice(b"\nendobj\n");
    let xref = p.len();
    p.extend_from_slice(format!("xref\n0 2\n0000000000 65535 f \n{offset:010} 00000 n \ntrailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    p
}

/// A page tree whose pages are their own parents' parents (a cycle), and
/// a trailer whose previous cross-reference section is itself.
fn pdf_cycles() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
        "<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
        "<< /Type /Pages /Kids [2 0 R 3 0 R] /Parent 2 0 R /Count 1 >>",
        "<< /S /URI /URI (https://cycle.example/) /Next 4 0 R >>",
    ];
    let mut p = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(p.len());
        p.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = p.len();
    p.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        p.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    p.extend_from_slice(
        format!("trailer\n<< /Size 5 /Root 1 0 R /Prev {xref} >>\nstartxref\n{xref}\n%%EOF\n")
            .as_bytes(),
    );
    p
}

/// A PDF with a stream that inflates to 256 MiB of zeros.
fn pdf_flate_bomb() -> Vec<u8> {
    let zeros = vec![0u8; 256 << 20];
    let packed = miniz_oxide::deflate::compress_to_vec_zlib(&zeros, 9);
    let mut body = format!(
        "<< /Length {} /Filter /FlateDecode >>\nstream\n",
        packed.len()
    )
    .into_bytes();
    body.extend_from_slice(&packed);
    body.extend_from_slice(b"\nendstream");
    pdf_with(&body)
}

/// PNG chunk with its CRC.
fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc_input);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A grey PNG of `width` x `height`; the pixel data is `pixels(x, y)`,
/// or, for `None`, just enough bytes to start decoding (a header that
/// promises far more than the file holds).
fn png(width: u32, height: u32, pixels: Option<&dyn Fn(u32, u32) -> u8>) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale
    png_chunk(&mut out, b"IHDR", &ihdr);
    let raw: Vec<u8> = match pixels {
        Some(f) => (0..height)
            .flat_map(|y| std::iter::once(0).chain((0..width).map(move |x| f(x, y))))
            .collect(),
        None => vec![0; 1 << 16],
    };
    png_chunk(
        &mut out,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6),
    );
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// Hostile attachments: bombs, cycles and lies in the formats the
/// attachment checks open (ZIP, PDF, images, HTML). Each must get a
/// normal verdict, within the checks' size, depth and time bounds.
pub fn attachment_cases() -> Vec<Case> {
    let case = |name, bytes| Case {
        name,
        bytes,
        expect: Expect::Scanned,
    };
    let finder_grid = |x: u32, y: u32| {
        // Repeated 7x7 finder-pattern look-alikes: worst case for QR
        // detection, which pairs every candidate with every other.
        let (cx, cy) = (x % 9, y % 9);
        if cx > 6 || cy > 6 {
            return 255;
        }
        let from_edge = cx.min(cy).min(6 - cx).min(6 - cy);
        if from_edge == 1 {
            255
        } else {
            0
        }
    };
    let noise =
        |x: u32, y: u32| ((x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 7) as u8;
    let nested_html = {
        let mut h = String::from("<html><body>");
        h.push_str(&"<div><form action=\"http://x.example/\">".repeat(100_000));
        h.push_str("<script>document.write(atob('PGgxPg=='))</script>");
        h.into_bytes()
    };
    vec![
        case(
            "att-zip-bomb.eml",
            with_attachment(
                "bomb.zip",
                "application/zip",
                &zip("zeros.bin", &vec![0; 256 << 20], true, None),
            ),
        ),
        case(
            "att-zip-nested.eml",
            with_attachment("nested.zip", "application/zip", &zip_nested(6)),
        ),
        case(
            "att-zip-overlapping.eml",
            with_attachment("overlap.zip", "application/zip", &zip_overlapping(u16::MAX)),
        ),
        case(
            "att-zip-lying-sizes.eml",
            with_attachment(
                "liar.zip",
                "application/zip",
                &zip("a.exe", b"MZ tiny", false, Some(u32::MAX)),
            ),
        ),
        case(
            "att-docx-broken.eml",
            with_attachment(
                "report.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                &zip(
                    "word/vbaProject.bin",
                    &[0xD0, 0xCF, 0x11],
                    false,
                    Some(u32::MAX - 1),
                ),
            ),
        ),
        case(
            "att-pdf-nested-arrays.eml",
            with_attachment(
                "deep.pdf",
                "application/pdf",
                &pdf_with(&[b"[".repeat(500_000), b"]".repeat(500_000)].concat()),
            ),
        ),
        case(
            "att-pdf-nested-dicts.eml",
            with_attachment(
                "dicts.pdf",
                "application/pdf",
                &pdf_with("<< /A ".repeat(200_000).as_bytes()),
            ),
        ),
        case(
            "att-pdf-cycles.eml",
            with_attachment("cycles.pdf", "application/pdf", &pdf_cycles()),
        ),
        case(
            "att-pdf-flate-bomb.eml",
            with_attachment("bomb.pdf", "application/pdf", &pdf_flate_bomb()),
        ),
        case(
            "att-pdf-many-objects.eml",
            with_attachment(
                "many.pdf",
                "application/pdf",
                &pdf_with(
                    "<< /URI (http://a.example/) >>\nendobj\n1 0 obj "
                        .repeat(200_000)
                        .as_bytes(),
                ),
            ),
        ),
        case(
            "att-png-huge-dimensions.eml",
            with_attachment("huge.png", "image/png", &png(1_000_000, 1_000_000, None)),
        ),
        case(
            "att-png-finder-grid.eml",
            with_attachment(
                "grid.png",
                "image/png",
                &png(1200, 1200, Some(&finder_grid)),
            ),
        ),
        case(
            "att-png-noise.eml",
            with_attachment("noise.png", "image/png", &png(2000, 2000, Some(&noise))),
        ),
        case(
            "att-png-truncated.eml",
            with_attachment("cut.png", "image/png", &png(600, 600, Some(&noise))[..4000]),
        ),
        case(
            "att-jpeg-garbage.eml",
            with_attachment(
                "photo.jpg",
                "image/jpeg",
                &[
                    b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00".as_slice(),
                    &[0xFF; 100_000],
                ]
                .concat(),
            ),
        ),
        case(
            "att-html-deep.eml",
            with_attachment("page.html", "text/html", &nested_html),
        ),
    ]
}
