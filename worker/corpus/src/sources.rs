//! Replay sources: directories (recursive), mbox files and maildirs, read
//! lazily one message at a time so memory stays flat. In a directory every
//! regular file that looks like a message is read, whatever its name
//! (SpamAssassin's corpora and MH folders have no extensions); the others
//! are reported as skipped, with why, never dropped silently.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Files a directory walk passed over, each with why: shared with the
/// iterator, read once it is done.
#[derive(Clone, Debug, Default)]
pub struct Skipped(Arc<Mutex<Vec<(String, String)>>>);

impl Skipped {
    /// A new, empty record.
    pub fn new() -> Skipped {
        Skipped::default()
    }

    /// The files skipped so far, `(path, why)`, in walk order.
    pub fn list(&self) -> Vec<(String, String)> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn push(&self, path: &Path, why: &str) {
        if let Ok(mut l) = self.0.lock() {
            l.push((path.display().to_string(), why.to_string()));
        }
    }
}

/// One message from a source, or why it could not be read.
#[derive(Debug)]
pub struct Item {
    /// Where it came from: a file path, or `file.mbox#N` (1-based).
    pub name: String,
    /// The raw bytes, or a per-message error.
    pub bytes: Result<Vec<u8>, String>,
}

/// Iterates every message under `paths`, in a stable order.
///
/// - a directory, recursively: `.eml` files and the `cur/` and `new/` files
///   of maildirs (always messages), `.mbox`/`.mbx` files (mboxes), and every
///   other regular file that starts like a message (a header block) or an
///   mbox (a `From ` line); the rest go to `skipped` with the reason;
/// - a file named `.mbox`/`.mbx`, or any non-`.eml` file starting with
///   `From `: an mbox;
/// - any other file named on its own: one message.
///
/// Messages over `max_bytes` are reported as errors without being held in memory.
pub fn messages(
    paths: Vec<PathBuf>,
    max_bytes: usize,
    skipped: &Skipped,
) -> impl Iterator<Item = Item> + Send {
    let max_bytes = max_bytes.max(1);
    let skipped = skipped.clone();
    paths
        .into_iter()
        .flat_map(move |p| expand(&p, max_bytes, &skipped))
}

fn expand(
    path: &Path,
    max_bytes: usize,
    skipped: &Skipped,
) -> Box<dyn Iterator<Item = Item> + Send> {
    let skipped = skipped.clone();
    if path.is_dir() {
        let walker = walkdir::WalkDir::new(path)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter();
        Box::new(
            walker.flat_map(move |entry| -> Box<dyn Iterator<Item = Item> + Send> {
                match entry {
                    Err(e) => Box::new(std::iter::once(Item {
                        name: e
                            .path()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        bytes: Err(format!("cannot read: {e}")),
                    })),
                    // Links are not followed into directories, but a linked
                    // message is read (and a dangling one reported).
                    Ok(e) if e.file_type().is_file() || e.file_type().is_symlink() => {
                        let p = e.path();
                        match kind(p) {
                            Ok(Kind::Mbox) => Box::new(mbox(p, max_bytes, false)),
                            Ok(Kind::FromLines) => Box::new(mbox(p, max_bytes, true)),
                            Ok(Kind::Single) => Box::new(std::iter::once(single(p, max_bytes))),
                            Err(why) => {
                                skipped.push(p, &why);
                                Box::new(std::iter::empty())
                            }
                        }
                    }
                    Ok(_) => Box::new(std::iter::empty()),
                }
            }),
        )
    } else if looks_like_mbox(path) {
        Box::new(mbox(path, max_bytes, false))
    } else {
        Box::new(std::iter::once(single(path, max_bytes)))
    }
}

enum Kind {
    /// One message.
    Single,
    /// An mbox by its name: members are `file#N`.
    Mbox,
    /// A file of any name that starts with a `From ` line: one message
    /// saved with its separator (SpamAssassin's corpora), named by its
    /// path, or several, named like an mbox's.
    FromLines,
}

/// What a file found while walking a directory is, or why it is not read.
fn kind(path: &Path) -> Result<Kind, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("eml") => return Ok(Kind::Single),
        Some("mbox" | "mbx") => return Ok(Kind::Mbox),
        _ => {}
    }
    let in_maildir = path.parent().is_some_and(|parent| {
        matches!(
            parent.file_name().and_then(|n| n.to_str()),
            Some("cur" | "new")
        ) && parent
            .parent()
            .is_some_and(|md| md.join("cur").is_dir() && md.join("new").is_dir())
    });
    if in_maildir {
        return Ok(Kind::Single);
    }
    let in_maildir_tmp = path.parent().is_some_and(|parent| {
        parent.file_name().and_then(|n| n.to_str()) == Some("tmp")
            && parent
                .parent()
                .is_some_and(|md| md.join("cur").is_dir() && md.join("new").is_dir())
    });
    if in_maildir_tmp {
        return Err("in a maildir's tmp/ (a delivery still being written)".into());
    }
    // Anything else is judged by how it starts.
    let mut head = Vec::with_capacity(HEAD_BYTES);
    File::open(path)
        .and_then(|f| f.take(HEAD_BYTES as u64).read_to_end(&mut head))
        .map_err(|e| format!("cannot read: {e}"))?;
    sniff(&head)
}

/// Bytes read to decide whether a file is a message.
const HEAD_BYTES: usize = 4096;

/// A message starts with a header field (`Name: value`, the name printable
/// ASCII without spaces), an mbox with a `From ` line.
fn sniff(head: &[u8]) -> Result<Kind, String> {
    if head.is_empty() {
        return Err("empty file".into());
    }
    if head.starts_with(b"From ") {
        return Ok(Kind::FromLines);
    }
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = &head[..line_end];
    match line.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 && line[..colon].iter().all(|b| b.is_ascii_graphic()) => {
            Ok(Kind::Single)
        }
        _ if head.contains(&0) => Err("binary data, not a message".into()),
        _ => Err("does not start with a header field or an mbox `From ` line".into()),
    }
}

fn looks_like_mbox(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("mbox" | "mbx") => true,
        Some("eml") => false,
        _ => {
            let mut head = [0u8; 5];
            File::open(path)
                .and_then(|mut f| f.read_exact(&mut head))
                .is_ok_and(|_| &head == b"From ")
        }
    }
}

fn single(path: &Path, max_bytes: usize) -> Item {
    let name = path.display().to_string();
    let bytes = (|| {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
        if meta.len() > max_bytes as u64 {
            return Err(format!(
                "{} bytes is over the {max_bytes}-byte message limit",
                meta.len()
            ));
        }
        std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
    })();
    Item { name, bytes }
}

/// Splits an mbox on `From ` lines, undoing `>From ` quoting (mboxrd), at
/// most two messages in memory at a time and none larger than `max_bytes`.
/// With `lone_by_path`, a file holding a single message names it by the
/// file's path (it is a saved message, not a mailbox); members are
/// `file#N` otherwise.
fn mbox(path: &Path, max_bytes: usize, lone_by_path: bool) -> impl Iterator<Item = Item> + Send {
    let display = path.display().to_string();
    let reader = File::open(path).map(BufReader::new);
    let mut state = match reader {
        Ok(r) => Ok(MboxReader {
            reader: r,
            pending: None,
            index: 0,
            done: false,
        }),
        Err(e) => Err(Some(format!("cannot read: {e}"))),
    };
    // One message read ahead, to know whether the first is alone.
    let mut ahead: Option<(usize, Result<Vec<u8>, String>)> = None;
    let mut first = lone_by_path;
    std::iter::from_fn(move || match &mut state {
        Err(e) => e.take().map(|e| Item {
            name: display.clone(),
            bytes: Err(e),
        }),
        Ok(r) => {
            let (i, bytes) = ahead.take().or_else(|| r.next_message(max_bytes))?;
            if std::mem::take(&mut first) {
                ahead = r.next_message(max_bytes);
                if ahead.is_none() {
                    return Some(Item {
                        name: display.clone(),
                        bytes,
                    });
                }
            }
            Some(Item {
                name: format!("{display}#{i}"),
                bytes,
            })
        }
    })
}

struct MboxReader {
    reader: BufReader<File>,
    /// The `From ` line that starts the next message, once seen.
    pending: Option<Vec<u8>>,
    index: usize,
    done: bool,
}

impl MboxReader {
    fn next_message(&mut self, max_bytes: usize) -> Option<(usize, Result<Vec<u8>, String>)> {
        if self.done {
            return None;
        }
        let mut body = Vec::new();
        let mut line = Vec::with_capacity(256);
        let mut too_big = false;
        let mut started = self.pending.take().is_some();
        loop {
            line.clear();
            match self.reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    self.index += 1;
                    return Some((self.index, Err(format!("cannot read: {e}"))));
                }
            }
            if line.starts_with(b"From ") {
                if started {
                    self.pending = Some(line.clone());
                    break;
                }
                started = true;
                continue;
            }
            if !started {
                continue; // garbage before the first separator
            }
            let unquoted = match line.iter().position(|&b| b != b'>') {
                Some(i) if i > 0 && line[i..].starts_with(b"From ") => &line[1..],
                _ => &line[..],
            };
            if body.len() + unquoted.len() > max_bytes {
                too_big = true;
                body.clear();
                body.shrink_to_fit();
            } else if !too_big {
                body.extend_from_slice(unquoted);
            }
        }
        if !started {
            return None;
        }
        self.index += 1;
        if too_big {
            return Some((
                self.index,
                Err(format!(
                    "message is over the {max_bytes}-byte message limit"
                )),
            ));
        }
        Some((self.index, Ok(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mailsift-corpus-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn mbox_split_and_unquote() {
        let dir = tmp("mbox");
        let p = dir.join("a.mbox");
        std::fs::write(&p, "From a@b Mon Jan 1 00:00:00 2024\nSubject: 1\n\n>From here\n\nFrom c@d Mon Jan 1 00:00:00 2024\nSubject: 2\n\nx\n").unwrap();
        let items: Vec<Item> = messages(vec![p], 1 << 20, &Skipped::new()).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].name.ends_with("a.mbox#1"));
        assert_eq!(
            items[0].bytes.as_ref().unwrap(),
            b"Subject: 1\n\nFrom here\n\n"
        );
        assert_eq!(items[1].bytes.as_ref().unwrap(), b"Subject: 2\n\nx\n");
    }

    #[test]
    fn directories_maildirs_and_limits() {
        let dir = tmp("dir");
        std::fs::create_dir_all(dir.join("md/cur")).unwrap();
        std::fs::create_dir_all(dir.join("md/new")).unwrap();
        std::fs::create_dir_all(dir.join("md/tmp")).unwrap();
        std::fs::write(dir.join("md/cur/1:2,S"), "Subject: a\n\nb\n").unwrap();
        std::fs::write(dir.join("md/tmp/ignored"), "Subject: a\n\nb\n").unwrap();
        std::fs::write(dir.join("x.eml"), "Subject: a\n\nb\n").unwrap();
        std::fs::write(dir.join("big.eml"), vec![b'a'; 100]).unwrap();
        std::fs::write(dir.join("labels.csv"), "path,label\n").unwrap();
        // Extension-less messages (SpamAssassin, MH), with or without a
        // `From ` line, and files that are no messages.
        std::fs::write(
            dir.join("00001.7848dde1"),
            "From a@b Mon Jan 1 00:00:00 2002\nSubject: c\n\nd\n",
        )
        .unwrap();
        std::fs::write(dir.join("17"), "Return-Path: <a@b>\nSubject: e\n\nf\n").unwrap();
        std::fs::write(
            dir.join("two"),
            "From a@b Mon Jan 1 00:00:00 2002\nSubject: 1\n\nx\n\nFrom c@d Mon Jan 1 00:00:00 2002\nSubject: 2\n\ny\n",
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "just some notes\n").unwrap();
        std::fs::write(dir.join("empty"), "").unwrap();
        std::fs::write(dir.join("blob.bin"), [0u8, 1, 2, 3]).unwrap();
        let skipped = Skipped::new();
        let items: Vec<Item> = messages(vec![dir.clone()], 50, &skipped).collect();
        let names: Vec<String> = items
            .iter()
            .map(|i| i.name.replace(&dir.display().to_string(), ""))
            .collect();
        assert_eq!(
            names,
            vec![
                "/00001.7848dde1",
                "/17",
                "/big.eml",
                "/md/cur/1:2,S",
                "/two#1",
                "/two#2",
                "/x.eml"
            ]
        );
        assert_eq!(
            items[0].bytes.as_deref().ok(),
            Some(&b"Subject: c\n\nd\n"[..])
        );
        assert!(items[0].bytes.is_ok() && items[1].bytes.is_ok());
        assert!(items[2].bytes.is_err(), "big.eml is over the limit");
        let skipped: Vec<(String, String)> = skipped
            .list()
            .into_iter()
            .map(|(p, why)| (p.replace(&dir.display().to_string(), ""), why))
            .collect();
        let expect = [
            ("/blob.bin", "binary data, not a message"),
            ("/empty", "empty file"),
            (
                "/labels.csv",
                "does not start with a header field or an mbox `From ` line",
            ),
            (
                "/md/tmp/ignored",
                "in a maildir's tmp/ (a delivery still being written)",
            ),
            (
                "/notes.txt",
                "does not start with a header field or an mbox `From ` line",
            ),
        ];
        assert_eq!(
            skipped,
            expect
                .iter()
                .map(|(p, w)| (p.to_string(), w.to_string()))
                .collect::<Vec<_>>()
        );
        let missing: Vec<Item> =
            messages(vec![dir.join("nope.eml")], 50, &Skipped::new()).collect();
        assert!(missing[0]
            .bytes
            .as_ref()
            .unwrap_err()
            .contains("cannot read"));
    }
}
