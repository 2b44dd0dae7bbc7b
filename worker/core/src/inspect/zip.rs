//! ZIP archives (and OOXML documents, which are ZIPs): the entry list from
//! the central directory (falling back to local headers when it is
//! missing), and the first bytes of small entries, inflated within a
//! budget, so test files and archives inside archives can be seen.

/// Entries listed at most (a zip bomb's directory is not our problem).
pub const MAX_ZIP_ENTRIES: usize = 2_000;
/// Bytes of one entry inflated at most.
const MAX_ENTRY_BYTES: usize = 1 << 20;
/// Entries whose contents are read at most.
const MAX_READ_ENTRIES: usize = 20;

/// One entry of a ZIP directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Stored file name.
    pub name: String,
    /// Encryption flag (general purpose bit 0).
    pub encrypted: bool,
    /// Compression method (0 stored, 8 deflate).
    pub method: u16,
    /// Compressed size as the directory says.
    pub compressed_size: usize,
    /// Offset of the entry's local header.
    pub local_offset: usize,
}

fn u16_at(data: &[u8], i: usize) -> Option<usize> {
    data.get(i..i + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
}

fn u32_at(data: &[u8], i: usize) -> Option<usize> {
    data.get(i..i + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Lists a ZIP's entries from its central directory, falling back to local
/// headers; bounded, and `None` when it is not a ZIP at all.
pub fn entries(data: &[u8]) -> Option<Vec<ZipEntry>> {
    let tail_start = data.len().saturating_sub(65_557);
    let eocd = memchr::memmem::rfind(&data[tail_start..], b"PK\x05\x06").map(|p| tail_start + p);
    let mut entries = Vec::new();
    if let Some(eocd) = eocd {
        let count = u16_at(data, eocd + 10).unwrap_or(0);
        let mut at = u32_at(data, eocd + 16).unwrap_or(0);
        // A damaged directory (a ZIP64 placeholder offset, a bogus or cut
        // record) ends the walk; the local headers below still list it.
        let mut walk = || -> Option<()> {
            for _ in 0..count.min(MAX_ZIP_ENTRIES) {
                if data.get(at..at + 4)? != b"PK\x01\x02" {
                    break;
                }
                let flags = u16_at(data, at + 8)?;
                let method = u16_at(data, at + 10)? as u16;
                let compressed_size = u32_at(data, at + 20)?;
                let name_len = u16_at(data, at + 28)?;
                let extra = u16_at(data, at + 30)?;
                let comment = u16_at(data, at + 32)?;
                let local_offset = u32_at(data, at + 42)?;
                let name = data.get(at + 46..at + 46 + name_len)?;
                entries.push(ZipEntry {
                    name: String::from_utf8_lossy(name).into_owned(),
                    encrypted: flags & 1 == 1,
                    method,
                    compressed_size,
                    local_offset,
                });
                at += 46 + name_len + extra + comment;
            }
            Some(())
        };
        let _ = walk();
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
        let (Some(flags), Some(method), Some(size), Some(name_len)) = (
            u16_at(data, h + 6),
            u16_at(data, h + 8),
            u32_at(data, h + 18),
            u16_at(data, h + 26),
        ) else {
            break;
        };
        let Some(name) = data.get(h + 30..h + 30 + name_len) else {
            break;
        };
        entries.push(ZipEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            encrypted: flags & 1 == 1,
            method: method as u16,
            compressed_size: size,
            local_offset: h,
        });
        at = h + 30 + name_len;
    }
    (!entries.is_empty()).then_some(entries)
}

/// The contents of an entry, up to `MAX_ENTRY_BYTES` or `limit` bytes,
/// whichever is less; `None` when it is encrypted, uses another
/// compression method, or is damaged.
pub fn read(data: &[u8], entry: &ZipEntry, limit: usize) -> Option<Vec<u8>> {
    let limit = limit.min(MAX_ENTRY_BYTES);
    if entry.encrypted {
        return None;
    }
    let h = entry.local_offset;
    if data.get(h..h + 4)? != b"PK\x03\x04" {
        return None;
    }
    let start = h + 30 + u16_at(data, h + 26)? + u16_at(data, h + 28)?;
    // Streamed entries may leave the size to the directory only.
    let size = match entry.compressed_size {
        0 => data.len().saturating_sub(start),
        n => n,
    };
    let body = data.get(start..start.saturating_add(size).min(data.len()))?;
    match entry.method {
        0 => Some(body[..body.len().min(limit)].to_vec()),
        8 => match miniz_oxide::inflate::decompress_to_vec_with_limit(body, limit) {
            Ok(v) => Some(v),
            // Over the budget: the first part is what matters here.
            Err(e) if !e.output.is_empty() => Some(e.output),
            Err(_) => None,
        },
        _ => None,
    }
}

/// The contents of the first entries that can be read, with their names,
/// taking what they inflate to from `budget` (bytes left for the whole
/// message: overlapping entries make a few KB inflate without end).
pub fn readable(data: &[u8], list: &[ZipEntry], budget: &mut usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in list
        .iter()
        .filter(|e| !e.name.ends_with('/'))
        .take(MAX_READ_ENTRIES)
    {
        if *budget == 0 {
            break;
        }
        if let Some(bytes) = read(data, e, *budget) {
            *budget = budget.saturating_sub(bytes.len().max(1));
            out.push((e.name.clone(), bytes));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stored (uncompressed) one-entry zip holding `content`, optionally
    /// flagged encrypted.
    pub fn stored_zip(name: &str, content: &[u8], encrypted: bool) -> Vec<u8> {
        let flags: u16 = if encrypted { 1 } else { 0 };
        let n = name.len() as u16;
        let size = (content.len() as u32).to_le_bytes();
        let mut z = Vec::new();
        z.extend_from_slice(b"PK\x03\x04\x14\x00");
        z.extend_from_slice(&flags.to_le_bytes());
        z.extend_from_slice(&[0; 10]); // method 0, time, date, crc
        z.extend_from_slice(&size);
        z.extend_from_slice(&size);
        z.extend_from_slice(&n.to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z.extend_from_slice(name.as_bytes());
        z.extend_from_slice(content);
        let cd = z.len() as u32;
        z.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00");
        z.extend_from_slice(&flags.to_le_bytes());
        z.extend_from_slice(&[0; 10]);
        z.extend_from_slice(&size);
        z.extend_from_slice(&size);
        z.extend_from_slice(&n.to_le_bytes());
        z.extend_from_slice(&[0; 12]);
        z.extend_from_slice(&[0; 4]); // local header offset 0
        z.extend_from_slice(name.as_bytes());
        let cd_len = z.len() as u32 - cd;
        z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
        z.extend_from_slice(&cd_len.to_le_bytes());
        z.extend_from_slice(&cd.to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z
    }

    #[test]
    fn lists_and_reads_entries() {
        let z = stored_zip("a.exe", b"MZ....", true);
        let list = entries(&z).expect("a zip");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "a.exe");
        assert!(list[0].encrypted);
        assert_eq!(
            read(&z, &list[0], 100),
            None,
            "encrypted entries are not read"
        );
        let z = stored_zip("eicar.com", b"hello", false);
        let list = entries(&z).expect("a zip");
        let mut budget = 100;
        assert_eq!(
            readable(&z, &list, &mut budget),
            vec![("eicar.com".to_string(), b"hello".to_vec())]
        );
        assert_eq!(budget, 95);
        assert_eq!(
            readable(&z, &list, &mut 0),
            vec![],
            "no budget left, nothing read"
        );
        assert_eq!(entries(b"not a zip"), None);
        // Damaged: every prefix either lists or refuses, never panics.
        for cut in 0..z.len() {
            if let Some(list) = entries(&z[..cut]) {
                let _ = readable(&z[..cut], &list, &mut 1000);
            }
        }
    }

    #[test]
    fn deflated_entries_are_inflated() {
        let content = b"deflated content, deflated content, deflated content".repeat(10);
        let packed = miniz_oxide::deflate::compress_to_vec(&content, 6);
        let mut z = stored_zip("x.txt", &packed, false);
        // Switch the method to deflate in both headers.
        z[8] = 8;
        let cd = memchr::memmem::find(&z, b"PK\x01\x02").expect("cd");
        z[cd + 10] = 8;
        let list = entries(&z).expect("zip");
        assert_eq!(read(&z, &list[0], 1 << 20).as_deref(), Some(&content[..]));
        assert_eq!(
            read(&z, &list[0], 10).as_deref(),
            Some(&content[..10]),
            "the limit holds"
        );
    }
}
