//! The industry's test strings, so an administrator can check a filter
//! end to end without real malware or spam: EICAR (an antivirus test
//! file, eicar.org) and GTUBE (the Generic Test for Unsolicited Bulk
//! Email, as SpamAssassin and rspamd define it).

/// The EICAR test file's 68 bytes.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The GTUBE string.
pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// True when `data` is the EICAR test file: the string at the start,
/// followed by nothing but whitespace, 128 bytes at most (eicar.org's
/// definition, which antivirus engines follow).
pub fn is_eicar(data: &[u8]) -> bool {
    let data = trim_start(data);
    data.len() <= 128
        && data.starts_with(EICAR)
        && data[EICAR.len()..]
            .iter()
            .all(|b| b.is_ascii_whitespace() || *b == 0x1a)
}

/// True when the text holds GTUBE anywhere.
pub fn has_gtube(text: &str) -> bool {
    text.contains(GTUBE)
}

fn trim_start(data: &[u8]) -> &[u8] {
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    &data[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_strings() {
        assert!(is_eicar(EICAR));
        assert!(is_eicar(&[EICAR, b"\r\n"].concat()));
        assert!(!is_eicar(&[b"prefix ".as_slice(), EICAR].concat()));
        assert!(!is_eicar(&[EICAR, b" and more text"].concat()));
        assert!(has_gtube(&format!("body {GTUBE} body")));
        assert!(!has_gtube("XJS*C4JDBQADN1"));
    }
}
