//! Recorded DNS: a zone in the `zonedata` form of the RFC 7208 test suite.
//!
//! ```yaml
//! example.com:
//!   - TXT: "v=spf1 ip4:192.0.2.0/24 -all"
//!   - MX: [10, mx.example.com]
//! mx.example.com:
//!   - A: 192.0.2.1
//! slow.example.net:
//!   - TIMEOUT
//! ```
//!
//! A name that is not in the zone does not exist (NXDOMAIN); a listed name
//! without records of the asked type answers NODATA, or times out if it lists
//! `TIMEOUT`. As the suite's drivers do, an `SPF` record also answers TXT
//! queries unless the name has TXT records of its own (`TXT: NONE` = none).
//! Replay answers only from a zone; the worker can record one per message.

use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// A problem in a zone file, with the name it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    /// The file could not be read.
    #[error("cannot read DNS zone file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not YAML, or not a mapping of names to record lists.
    #[error("DNS zone file {path} is not valid zone YAML: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A record that cannot be understood.
    #[error("DNS zone entry for `{name}`: {reason} (expected e.g. `- TXT: \"v=spf1 -all\"`, `- A: 192.0.2.1`, `- MX: [10, mx.example.com]` or `- TIMEOUT`)")]
    Record {
        /// The owner name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// The record types a zone holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    /// TXT (SPF, DKIM keys, DMARC policies).
    Txt,
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Mail exchanger.
    Mx,
    /// Reverse pointer.
    Ptr,
    /// Alias.
    Cname,
}

impl RecordType {
    /// The lower-case type name (`txt`, `a`, ...), for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Txt => "txt",
            RecordType::A => "a",
            RecordType::Aaaa => "aaaa",
            RecordType::Mx => "mx",
            RecordType::Ptr => "ptr",
            RecordType::Cname => "cname",
        }
    }
}

/// One resource record's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// TXT: its character-strings, joined by the reader.
    Txt(Vec<String>),
    /// A.
    A(Ipv4Addr),
    /// AAAA.
    Aaaa(Ipv6Addr),
    /// MX: preference and exchange.
    Mx(u16, String),
    /// PTR target.
    Ptr(String),
    /// CNAME target.
    Cname(String),
}

impl Record {
    /// The record's type.
    pub fn record_type(&self) -> RecordType {
        match self {
            Record::Txt(_) => RecordType::Txt,
            Record::A(_) => RecordType::A,
            Record::Aaaa(_) => RecordType::Aaaa,
            Record::Mx(..) => RecordType::Mx,
            Record::Ptr(_) => RecordType::Ptr,
            Record::Cname(_) => RecordType::Cname,
        }
    }
}

/// Everything a zone says about one name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameData {
    /// Records, in file order (`SPF` entries excluded).
    pub records: Vec<Record>,
    /// `SPF` (type 99) entries; they answer TXT queries when there are no
    /// TXT records and no `TXT: NONE`.
    pub spf: Vec<Vec<String>>,
    /// `TXT: NONE`: the name has no TXT records even if it has `SPF` ones.
    pub txt_none: bool,
    /// `TIMEOUT`: queries with no records of their type time out.
    pub timeout: bool,
}

/// The answer to one query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Records (a CNAME chain first, if one was followed), with owner names.
    Records(Vec<(String, Record)>),
    /// The name exists but has no records of this type.
    NoData,
    /// The name does not exist.
    NxDomain,
    /// No answer at all: the resolver times out.
    Timeout,
}

/// A set of recorded DNS answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Zone {
    names: BTreeMap<String, NameData>,
}

/// Lower case, no trailing dot: how names are keyed.
pub fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    /// An empty zone: every name is NXDOMAIN.
    pub fn new() -> Zone {
        Zone::default()
    }

    /// Loads a zone file.
    pub fn load(path: &Path) -> Result<Zone, ZoneError> {
        let text = std::fs::read(path).map_err(|source| ZoneError::Read {
            path: path.display().to_string(),
            source,
        })?;
        // Recorded zones may hold 8-bit TXT data; YAML wants UTF-8.
        let text = String::from_utf8_lossy(&text);
        Zone::parse(&text).map_err(|e| match e {
            ZoneError::Syntax { reason, .. } => ZoneError::Syntax {
                path: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Parses zone YAML: a mapping of names to record lists, or a document
    /// with such a mapping under `zonedata` (a test-suite scenario).
    pub fn parse(yaml: &str) -> Result<Zone, ZoneError> {
        let value: Value = serde_yaml_ng::from_str(yaml).map_err(|e| ZoneError::Syntax {
            path: "(text)".into(),
            reason: e.to_string(),
        })?;
        Zone::from_value(&value)
    }

    /// Builds a zone from parsed YAML (see [`Zone::parse`]).
    pub fn from_value(value: &Value) -> Result<Zone, ZoneError> {
        let syntax = |reason: &str| ZoneError::Syntax {
            path: "(text)".into(),
            reason: reason.into(),
        };
        let map = match value {
            Value::Null => return Ok(Zone::new()),
            Value::Mapping(m) => match m.get("zonedata") {
                Some(Value::Mapping(inner)) => inner,
                Some(_) => return Err(syntax("`zonedata` must be a mapping")),
                None => m,
            },
            _ => return Err(syntax("the top level must be a mapping of names")),
        };
        let mut zone = Zone::new();
        for (name, entries) in map {
            let name = scalar_text(name).ok_or_else(|| syntax("a name is not a string"))?;
            let data = zone.names.entry(normalize_name(&name)).or_default();
            let entries = match entries {
                Value::Sequence(s) => s.as_slice(),
                Value::Null => &[],
                _ => {
                    return Err(ZoneError::Record {
                        name,
                        reason: "records must be a list".into(),
                    })
                }
            };
            for entry in entries {
                parse_entry(&name, entry, data)?;
            }
        }
        Ok(zone)
    }

    /// Answers a query the way the recorded server would.
    pub fn lookup(&self, name: &str, qtype: RecordType) -> Answer {
        let mut owner = normalize_name(name);
        let mut chain = Vec::new();
        // Bounded: a CNAME loop ends as the last name's answer.
        for _ in 0..8 {
            let Some(data) = self.names.get(&owner) else {
                return if chain.is_empty() {
                    Answer::NxDomain
                } else {
                    Answer::Records(chain)
                };
            };
            let found: Vec<Record> = if qtype == RecordType::Txt {
                let txt: Vec<Record> = data
                    .records
                    .iter()
                    .filter(|r| r.record_type() == RecordType::Txt)
                    .cloned()
                    .collect();
                if txt.is_empty() && !data.txt_none {
                    data.spf.iter().cloned().map(Record::Txt).collect()
                } else {
                    txt
                }
            } else {
                data.records
                    .iter()
                    .filter(|r| r.record_type() == qtype)
                    .cloned()
                    .collect()
            };
            if !found.is_empty() {
                chain.extend(found.into_iter().map(|r| (owner.clone(), r)));
                return Answer::Records(chain);
            }
            if qtype != RecordType::Cname {
                if let Some(Record::Cname(target)) = data
                    .records
                    .iter()
                    .find(|r| r.record_type() == RecordType::Cname)
                {
                    chain.push((owner.clone(), Record::Cname(target.clone())));
                    owner = normalize_name(target);
                    continue;
                }
            }
            if data.timeout {
                return Answer::Timeout;
            }
            return if chain.is_empty() {
                Answer::NoData
            } else {
                Answer::Records(chain)
            };
        }
        Answer::Records(chain)
    }

    /// True if the zone has no names.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Records that `name` exists (so a missing type answers NODATA).
    pub fn add_name(&mut self, name: &str) {
        self.names.entry(normalize_name(name)).or_default();
    }

    /// Adds a record, once.
    pub fn add(&mut self, name: &str, record: Record) {
        let data = self.names.entry(normalize_name(name)).or_default();
        if !data.records.contains(&record) {
            data.records.push(record);
        }
    }

    /// Marks `name` as timing out for types it has no records of.
    pub fn add_timeout(&mut self, name: &str) {
        self.names.entry(normalize_name(name)).or_default().timeout = true;
    }

    /// Marks `name` as having no TXT records (overrides `SPF` entries).
    pub fn add_txt_none(&mut self, name: &str) {
        self.names.entry(normalize_name(name)).or_default().txt_none = true;
    }

    /// Adds everything `other` knows (a corpus recording is the union of its
    /// messages' recordings).
    pub fn merge(&mut self, other: Zone) {
        for (name, data) in other.names {
            let mine = self.names.entry(name).or_default();
            for r in data.records {
                if !mine.records.contains(&r) {
                    mine.records.push(r);
                }
            }
            for s in data.spf {
                if !mine.spf.contains(&s) {
                    mine.spf.push(s);
                }
            }
            mine.txt_none |= data.txt_none;
            mine.timeout |= data.timeout;
        }
    }

    /// Writes the zone as YAML in the same form [`Zone::parse`] reads.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        for (name, data) in &self.names {
            let _ = writeln!(out, "{}:", yaml_string(name));
            if data.records.is_empty() && data.spf.is_empty() && !data.timeout && !data.txt_none {
                out.push_str("  []\n");
                continue;
            }
            for r in &data.records {
                let line = match r {
                    Record::Txt(strings) => format!("TXT: {}", yaml_strings(strings)),
                    Record::A(ip) => format!("A: {ip}"),
                    Record::Aaaa(ip) => format!("AAAA: {}", yaml_string(&ip.to_string())),
                    Record::Mx(pref, host) => format!("MX: [{pref}, {}]", yaml_string(host)),
                    Record::Ptr(host) => format!("PTR: {}", yaml_string(host)),
                    Record::Cname(host) => format!("CNAME: {}", yaml_string(host)),
                };
                let _ = writeln!(out, "  - {line}");
            }
            for s in &data.spf {
                let _ = writeln!(out, "  - SPF: {}", yaml_strings(s));
            }
            if data.txt_none {
                out.push_str("  - TXT: NONE\n");
            }
            if data.timeout {
                out.push_str("  - TIMEOUT\n");
            }
        }
        out
    }
}

fn parse_entry(name: &str, entry: &Value, data: &mut NameData) -> Result<(), ZoneError> {
    let err = |reason: String| ZoneError::Record {
        name: name.to_string(),
        reason,
    };
    match entry {
        Value::String(s) if s == "TIMEOUT" => {
            data.timeout = true;
            Ok(())
        }
        Value::Mapping(m) if m.len() == 1 => {
            let Some((k, v)) = m.iter().next() else {
                return Err(err("empty record".into()));
            };
            let kind = scalar_text(k).ok_or_else(|| err("record type is not a string".into()))?;
            match kind.to_ascii_uppercase().as_str() {
                "TXT" => {
                    if matches!(v, Value::String(s) if s == "NONE") {
                        data.txt_none = true;
                    } else {
                        data.records.push(Record::Txt(strings(v).map_err(err)?));
                    }
                }
                "SPF" => data.spf.push(strings(v).map_err(err)?),
                "A" => data.records.push(Record::A(ip(v).map_err(err)?)),
                "AAAA" => data.records.push(Record::Aaaa(ip(v).map_err(err)?)),
                "MX" => data.records.push(mx(v).map_err(err)?),
                "PTR" => data.records.push(Record::Ptr(host(v).map_err(err)?)),
                "CNAME" => data.records.push(Record::Cname(host(v).map_err(err)?)),
                other => return Err(err(format!("unknown record type `{other}`"))),
            }
            Ok(())
        }
        other => Err(err(format!("cannot read record {other:?}"))),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A TXT value: one string, or a list of character-strings.
fn strings(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Sequence(items) => items
            .iter()
            .map(|i| scalar_text(i).ok_or_else(|| format!("TXT piece {i:?} is not a string")))
            .collect(),
        Value::Null => Ok(vec![String::new()]),
        other => scalar_text(other)
            .map(|s| vec![s])
            .ok_or_else(|| format!("TXT value {other:?} is not a string")),
    }
}

fn ip<T: std::str::FromStr>(v: &Value) -> Result<T, String> {
    let text = scalar_text(v).ok_or_else(|| format!("address {v:?} is not a string"))?;
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an address of this type"))
}

fn host(v: &Value) -> Result<String, String> {
    scalar_text(v)
        .map(|s| normalize_name(&s))
        .ok_or_else(|| format!("host name {v:?} is not a string"))
}

fn mx(v: &Value) -> Result<Record, String> {
    let Value::Sequence(items) = v else {
        return Err("MX must be [preference, exchange]".into());
    };
    let [pref, exchange] = items.as_slice() else {
        return Err("MX must be [preference, exchange]".into());
    };
    let pref = match pref {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
    .ok_or_else(|| format!("MX preference {pref:?} is not 0–65535"))?;
    Ok(Record::Mx(pref, host(exchange)?))
}

fn yaml_string(s: &str) -> String {
    // Quote always, escape what YAML double-quoted strings need.
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn yaml_strings(strings: &[String]) -> String {
    match strings {
        [one] => yaml_string(one),
        many => format!(
            "[{}]",
            many.iter()
                .map(|s| yaml_string(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Parses every `zonedata` of a multi-document YAML file (a test suite).
pub fn documents(yaml: &str) -> Result<Vec<Value>, ZoneError> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| {
            Value::deserialize(doc).map_err(|e| ZoneError::Syntax {
                path: "(text)".into(),
                reason: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = r#"
example.com:
  - TXT: "v=spf1 mx -all"
  - MX: [10, mx.example.com]
mx.example.com:
  - A: 192.0.2.1
  - AAAA: "2001:db8::1"
both.example.net:
  - SPF: v=spf1 -all
spfonly.example.net:
  - SPF: v=spf1 -all
  - TXT: NONE
slow.example.net:
  - TXT: "v=spf1 -all"
  - TIMEOUT
alias.example.org:
  - CNAME: example.com
empty.example.org: []
split.example.org:
  - TXT: ["v=spf1 ", "-all"]
"#;

    #[test]
    fn answers_like_the_suite_drivers() {
        let z = Zone::parse(ZONE).unwrap();
        assert_eq!(
            z.lookup("Example.COM.", RecordType::Txt),
            Answer::Records(vec![(
                "example.com".into(),
                Record::Txt(vec!["v=spf1 mx -all".into()])
            )])
        );
        assert_eq!(z.lookup("nope.example", RecordType::A), Answer::NxDomain);
        assert_eq!(z.lookup("example.com", RecordType::A), Answer::NoData);
        assert_eq!(
            z.lookup("both.example.net", RecordType::Txt),
            Answer::Records(vec![(
                "both.example.net".into(),
                Record::Txt(vec!["v=spf1 -all".into()])
            )])
        );
        assert_eq!(
            z.lookup("spfonly.example.net", RecordType::Txt),
            Answer::NoData
        );
        assert!(matches!(
            z.lookup("slow.example.net", RecordType::Txt),
            Answer::Records(_)
        ));
        assert_eq!(z.lookup("slow.example.net", RecordType::A), Answer::Timeout);
        assert_eq!(
            z.lookup("empty.example.org", RecordType::Txt),
            Answer::NoData
        );
        let Answer::Records(chain) = z.lookup("alias.example.org", RecordType::Mx) else {
            panic!("CNAME not followed");
        };
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1].1, Record::Mx(10, "mx.example.com".into()));
    }

    #[test]
    fn round_trips_through_yaml() {
        let z = Zone::parse(ZONE).unwrap();
        let again = Zone::parse(&z.to_yaml()).unwrap();
        assert_eq!(z, again);
    }

    #[test]
    fn reads_a_suite_scenario_and_rejects_nonsense() {
        let z = Zone::parse("zonedata:\n  a.example:\n    - A: 192.0.2.9\n").unwrap();
        assert_eq!(z.len(), 1);
        let e = Zone::parse("a.example:\n  - BOGUS: 1\n").unwrap_err();
        assert!(e.to_string().contains("unknown record type `BOGUS`"), "{e}");
        let e = Zone::parse("a.example:\n  - A: not-an-ip\n").unwrap_err();
        assert!(e.to_string().contains("a.example"), "{e}");
        assert!(Zone::parse("- just a list").is_err());
        assert!(Zone::parse("").unwrap().is_empty());
    }
}
