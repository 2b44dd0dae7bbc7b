//! Rule and policy files: loaded from a directory, validated, compiled once.
//!
//! A [`Rules`] value is immutable. To change rules, load a new one and swap
//! the whole `Arc<Rules>`; nothing is patched in place.
//!
//! | file | what |
//! |---|---|
//! | `engine.toml` | thresholds, stamping, limits, parallelism |
//! | `scores.toml` | weight/disposition overrides per rule id |
//! | `policy.toml` | per-domain policy ([`policy`]) |
//! | `lists.toml` | free-mail, shorteners, hosting, extensions, ratware, ESPs |
//! | `phrases.toml` | weighted phrase lists ([`phrases`]) |
//! | `phrases.<language>.toml` | more phrases for those lists, one file per language |
//! | `brands.toml` | brands: the names that claim them, their own domains ([`brands`]) |
//! | `ip.toml` | global allow and block CIDR lists |
//! | `combos.toml` | combination rules: findings that together mean more ([`combos`]) |

pub mod brands;
pub mod combos;
mod error;
pub mod phrases;
pub mod policy;

pub use brands::{Brand, BrandClaim, Brands};
pub use combos::Combo;
pub use error::RulesError;
pub use phrases::{PhraseList, Phrases};
pub use policy::{DeliveryTls, DnsFailure, DomainPolicy, Mode, PolicySet, SenderList};

use crate::finding::{Disposition, Finding, Rule};
use crate::ipset::IpSet;
use crate::model::Model;
use aho_corasick::AhoCorasick;
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

/// Weight and disposition of one rule id.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Score {
    /// Where the weight goes.
    pub disposition: Disposition,
    /// How much one hit weighs (checks may scale it, e.g. phrase lists).
    pub weight: f64,
    /// What the rule means.
    pub description: String,
}

/// Stamping settings (`[stamp]` in engine.toml).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StampConfig {
    /// Header prefix, e.g. `X-Mailsift-`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Also stamp `X-Area1Security-Disposition` for Area 1 transport rules.
    #[serde(default)]
    pub area1_compat: bool,
    /// authserv-id of our `Authentication-Results` (from `policy.toml`'s
    /// `[gateway]`; filled in at load).
    #[serde(skip)]
    pub authserv_id: String,
}

fn default_prefix() -> String {
    "X-Mailsift-".into()
}

/// Size and count limits (`[limits]`): what keeps hostile input bounded.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Larger messages get an error verdict instead of being parsed.
    pub max_message_bytes: usize,
    /// Text scanned for phrases and URLs, per message.
    pub max_text_bytes: usize,
    /// URLs analysed per message.
    pub max_urls: usize,
    /// To + Cc addresses before `HDR_TOO_MANY_RECIPIENTS`.
    pub max_recipients: usize,
    /// Date header this far after receipt is "in the future".
    pub date_future_seconds: i64,
    /// Date header this far before receipt is "in the past".
    pub date_past_seconds: i64,
}

/// `[parallel]`: how one message's checks are split.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParallelConfig {
    /// Run one message's checks in parallel only above this size; below it the
    /// fork/join overhead costs more than it saves (see README, benchmarks).
    pub checks_in_parallel_above_bytes: usize,
}

/// `engine.toml`.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Per-disposition thresholds, indexed by [`Disposition::index`].
    pub thresholds: [f64; 6],
    /// `spill[from][to]`: share of `from`'s score also counted for `to`.
    pub spill: [[f64; 6]; 6],
    /// Stamping.
    pub stamp: StampConfig,
    /// Limits.
    pub limits: Limits,
    /// Parallelism.
    pub parallel: ParallelConfig,
    /// Mixed evidence: when no disposition reaches its threshold, raw
    /// MALICIOUS + SPOOF + SPAM + SUSPICIOUS evidence adding up to this
    /// makes the message SUSPICIOUS (`[mixed] suspicious`; none: off).
    pub mixed_suspicious: Option<f64>,
}

/// `[mixed]` in engine.toml.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MixedConfig {
    suspicious: f64,
}

/// A set of domain names; a name matches itself and its subdomains.
#[derive(Clone, Debug, Default)]
pub struct DomainSet(HashSet<String>);

impl DomainSet {
    /// The listed domain that `host` is or is under.
    pub fn matching<'a>(&'a self, host: &str) -> Option<&'a str> {
        crate::domain::ancestors(host).find_map(|d| self.0.get(d).map(String::as_str))
    }

    /// True when `host` is a listed domain or under one.
    pub fn contains(&self, host: &str) -> bool {
        self.matching(host).is_some()
    }
}

/// Open redirectors: `host/path` prefixes (`google.*/url`), where `*`
/// stands for any public suffix of that name.
#[derive(Clone, Debug, Default)]
pub struct Redirectors(Vec<(String, String)>);

impl Redirectors {
    /// The entry a link with this host and path matches, as written.
    pub fn matching(&self, host: &str, path: &str) -> Option<String> {
        let host = host.to_ascii_lowercase();
        let org = crate::domain::org_domain(&host);
        let label = org.split('.').next().unwrap_or("");
        let path = path.to_ascii_lowercase();
        self.0.iter().find_map(|(h, p)| {
            let host_ok = match h.strip_suffix(".*") {
                Some(name) => label == name,
                None => host
                    .strip_suffix(h.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.ends_with('.')),
            };
            (host_ok && path.starts_with(p.as_str())).then(|| format!("{h}{p}"))
        })
    }

    fn parse(entries: Vec<String>) -> Redirectors {
        Redirectors(
            entries
                .into_iter()
                .map(|e| {
                    let e = e.trim().to_ascii_lowercase();
                    match e.find('/') {
                        Some(i) => (e[..i].to_string(), e[i..].to_string()),
                        None => (e, "/".to_string()),
                    }
                })
                .collect(),
        )
    }
}

/// `lists.toml`, compiled.
#[derive(Clone, Debug)]
pub struct Lists {
    /// Free-mail providers.
    pub freemail: DomainSet,
    /// URL shorteners.
    pub url_shorteners: DomainSet,
    /// Free web/site hosting often used for phishing pages.
    pub free_hosting: DomainSet,
    /// URL domains that are always bad.
    pub blocked_url_domains: DomainSet,
    /// Case-insensitive substrings of X-Mailer / User-Agent used by ratware.
    pub ratware_mailers: AhoCorasick,
    /// The patterns of `ratware_mailers`, for evidence.
    pub ratware_patterns: Vec<String>,
    /// Case-insensitive substrings of X-Mailer that name an email service provider.
    pub esp_mailers: AhoCorasick,
    /// Header names that identify an email service provider.
    pub esp_headers: Vec<String>,
    /// Executable/script/container extensions.
    pub dangerous_extensions: HashSet<String>,
    /// Archive extensions.
    pub archive_extensions: HashSet<String>,
    /// Macro-enabled Office extensions.
    pub macro_extensions: HashSet<String>,
    /// Extensions of documents and images that attackers put before a dangerous one.
    pub decoy_extensions: HashSet<String>,
    /// Body charsets scored `CT_FLAGGED_CHARSET` (set to your users' locales).
    pub flagged_charsets: HashSet<String>,
    /// Hosts that forward to a URL given in the link (`google.com/url?q=`):
    /// a redirector's own domain says nothing about where the link goes.
    pub redirectors: Redirectors,
    /// Link-protection services that wrap every link of a message
    /// (Proofpoint, Mimecast, Safe Links): the wrapped URL is the real one.
    pub link_rewriters: DomainSet,
    /// Platforms that give anyone a sending address under their domain
    /// (`<project>.firebaseapp.com`, `<tenant>.onmicrosoft.com`): mail from
    /// them names a sender no one vouches for.
    pub sender_platforms: DomainSet,
    /// Forwarders and mailing lists whose ARC seal we believe: when DMARC
    /// fails only because they modified the message, their record of the
    /// original authentication counts.
    pub trusted_arc_sealers: DomainSet,
}

/// `ip.toml`, compiled.
#[derive(Clone, Debug, Default)]
pub struct IpLists {
    /// Origin IPs exempt from SPAM and BULK.
    pub allow: IpSet,
    /// Origin IPs that are blocked (`IP_BLOCKLISTED`).
    pub block: IpSet,
}

/// A protected domain prepared for lookalike comparison.
#[derive(Clone, Debug)]
pub struct ProtectedDomain {
    /// The domain, e.g. `contoso.com`.
    pub domain: String,
    /// Its organisational (registrable) domain.
    pub org: String,
    /// Its registrable label without the public suffix, e.g. `contoso`.
    pub label: String,
    /// Confusable skeleton of `label`.
    pub skeleton: String,
}

/// Everything the engine needs, compiled once.
#[derive(Debug)]
pub struct Rules {
    /// Where the rules were loaded from.
    pub dir: PathBuf,
    /// Short content hash of the rule files ([`fingerprint`]): the same
    /// files give the same version on every pod.
    pub version: String,
    /// engine.toml.
    pub engine: EngineConfig,
    /// policy.toml.
    pub policy: PolicySet,
    /// lists.toml.
    pub lists: Lists,
    /// phrases.toml and phrases.<language>.toml.
    pub phrases: Phrases,
    /// brands.toml.
    pub brands: Brands,
    /// ip.toml.
    pub ip: IpLists,
    /// Protected domains for lookalike checks.
    pub protected: Vec<ProtectedDomain>,
    /// Combination rules applied by the scoring pass (combos.toml).
    pub combos: Vec<Combo>,
    /// The trained content classifier loaded with the rules (`--model`),
    /// weighed by the `model` check.
    pub model: Option<Arc<Model>>,
    scores: HashMap<String, Score>,
}

impl Rules {
    /// The shipped rules directory: `$MAILSIFT_RULES`, else `rules/` in the
    /// current directory or any parent (so `cargo run` works from the repo),
    /// else the directory the crate was built from.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("MAILSIFT_RULES") {
            return PathBuf::from(dir);
        }
        if let Ok(cwd) = std::env::current_dir() {
            for dir in cwd.ancestors() {
                let candidate = dir.join("rules");
                if candidate.join("engine.toml").is_file() {
                    return candidate;
                }
            }
        }
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
    }

    /// Loads and compiles every rule file in `dir`. `catalogue` is every
    /// built-in rule with its default score (the engine's
    /// [`crate::engine::catalogue`]); ids in the files must be among them
    /// or defined by the files themselves (phrase lists, combinations).
    pub fn load(dir: &Path, catalogue: &[Rule]) -> Result<Rules, RulesError> {
        let sources = Sources::read(dir)?;
        let engine_path = dir.join("engine.toml");
        let engine = parse_engine(&engine_path, sources.text("engine.toml"))?;

        let policy_path = dir.join("policy.toml");
        let policy = PolicySet::parse(&policy_path, sources.text("policy.toml"))?;
        let mut engine = engine;
        engine.stamp.authserv_id = policy.gateway.authserv_id.clone();

        let lists_path = dir.join("lists.toml");
        let lists = parse_lists(&lists_path, sources.text("lists.toml"))?;

        let phrases_path = dir.join("phrases.toml");
        let phrases_src = sources.text("phrases.toml");
        let phrases = phrases::parse(&phrases_path, phrases_src, &sources.phrase_files)?;

        let brands = brands::parse(&dir.join("brands.toml"), sources.text("brands.toml"))?;

        let ip_path = dir.join("ip.toml");
        let ip = parse_ip(&ip_path, sources.text("ip.toml"))?;

        let mut scores: HashMap<String, Score> = catalogue
            .iter()
            .map(|spec| {
                (
                    spec.id.to_string(),
                    Score {
                        disposition: spec.disposition,
                        weight: spec.weight,
                        description: spec.description.to_string(),
                    },
                )
            })
            .collect();
        for list in &phrases.lists {
            if scores.contains_key(&list.id) {
                let at = phrases_src.find(&format!("[{}]", list.id)).unwrap_or(0);
                return Err(RulesError::at(
                    &phrases_path,
                    phrases_src,
                    at,
                    format!("phrase list id `{}` is already a built-in rule id", list.id),
                ));
            }
            scores.insert(
                list.id.clone(),
                Score {
                    disposition: list.disposition,
                    weight: 1.0,
                    description: list.description.clone(),
                },
            );
        }
        let scores_path = dir.join("scores.toml");
        if let Some(src) = sources.optional("scores.toml") {
            apply_score_overrides(&scores_path, src, &mut scores)?;
        }

        let combos_path = dir.join("combos.toml");
        let combos = combos::parse(&combos_path, sources.text("combos.toml"), &mut scores)?;

        let protected = policy
            .domains()
            .map(|p| protected_domain(&p.domain))
            .collect();
        Ok(Rules {
            dir: dir.to_path_buf(),
            version: sources.version,
            engine,
            policy,
            lists,
            phrases,
            brands,
            ip,
            protected,
            combos,
            model: None,
            scores,
        })
    }

    /// Weight and disposition of a rule id.
    pub fn score(&self, id: &str) -> Option<&Score> {
        self.scores.get(id)
    }

    /// A finding for a built-in `rule` with its configured weight times
    /// `factor`. Rules missing from the catalogue the rules were loaded
    /// with keep their built-in default.
    pub fn finding(&self, rule: Rule, factor: f64, evidence: impl Into<String>) -> Finding {
        let (disposition, weight) = match self.score(rule.id) {
            Some(s) => (s.disposition, s.weight),
            None => (rule.disposition, rule.weight),
        };
        Finding {
            rule: rule.id.to_string(),
            disposition,
            weight: weight * factor,
            evidence: evidence.into(),
        }
    }

    /// A finding for a rule the rule files define (a phrase list or a
    /// combination), whose id was checked when they were loaded; an
    /// unknown id weighs nothing rather than taking a message down.
    pub fn finding_named(&self, id: &str, factor: f64, evidence: impl Into<String>) -> Finding {
        let (disposition, weight) = self
            .score(id)
            .map_or((Disposition::None, 0.0), |s| (s.disposition, s.weight));
        Finding {
            rule: id.to_string(),
            disposition,
            weight: weight * factor,
            evidence: evidence.into(),
        }
    }

    /// Every rule id with its effective score, sorted by id.
    pub fn scores(&self) -> BTreeMap<&str, &Score> {
        self.scores.iter().map(|(k, v)| (k.as_str(), v)).collect()
    }

    /// The threshold of a disposition.
    pub fn threshold(&self, d: Disposition) -> f64 {
        self.engine.thresholds[d.index()]
    }
}

/// The registrable label and its skeleton, for lookalike comparison.
pub fn protected_domain(domain: &str) -> ProtectedDomain {
    let registrable = psl::domain_str(domain).unwrap_or(domain);
    let label = registrable
        .split('.')
        .next()
        .unwrap_or(registrable)
        .to_string();
    ProtectedDomain {
        domain: domain.to_string(),
        org: registrable.to_ascii_lowercase(),
        skeleton: confusable_skeleton(&label),
        label,
    }
}

/// UTS #39 skeleton plus the common ASCII look-alikes (`rn`→`m`, `0`→`o`,
/// `1`/`l`→`l`, `vv`→`w`), lower case: equal skeletons look the same.
pub fn confusable_skeleton(s: &str) -> String {
    ascii_skeleton(s).unwrap_or_else(|| unicode_skeleton(s))
}

/// [`confusable_skeleton`] the general way.
fn unicode_skeleton(s: &str) -> String {
    let lower = s.to_lowercase();
    let sk: String = unicode_security::skeleton(&lower)
        .collect::<String>()
        .to_lowercase();
    sk.replace("rn", "m")
        .replace("vv", "w")
        .replace('0', "o")
        .replace(['1', 'i', '|'], "l")
        .replace('5', "s")
        .replace('3', "e")
        .replace('-', "")
}

/// [`confusable_skeleton`] of an ASCII name, in one pass: each character's
/// UTS #39 skeleton from a table (skeletons of ASCII are per character),
/// then the look-alike replacements in the order `unicode_skeleton` makes
/// them (`rn` and `vv` cannot overlap, and `-` goes last, so `r-n` stays
/// `rn`). `None` when the name is not ASCII or a skeleton is not.
fn ascii_skeleton(s: &str) -> Option<String> {
    static TABLE: std::sync::LazyLock<Vec<Option<String>>> = std::sync::LazyLock::new(|| {
        (0u8..128)
            .map(|b| {
                let c = char::from(b).to_ascii_lowercase();
                let sk = unicode_security::skeleton(&c.to_string())
                    .collect::<String>()
                    .to_lowercase();
                sk.is_ascii().then_some(sk)
            })
            .collect()
    });
    if !s.is_ascii() {
        return None;
    }
    let mut sk = String::with_capacity(s.len());
    for b in s.bytes() {
        sk.push_str(TABLE[usize::from(b)].as_deref()?);
    }
    let bytes = sk.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let pair = (bytes[i], bytes.get(i + 1).copied());
        match pair {
            (b'r', Some(b'n')) => out.push('m'),
            (b'v', Some(b'v')) => out.push('w'),
            (b'0', _) => out.push('o'),
            (b'1' | b'i' | b'|', _) => out.push('l'),
            (b'5', _) => out.push('s'),
            (b'3', _) => out.push('e'),
            (b'-', _) => {}
            (b, _) => out.push(char::from(b)),
        }
        i += if matches!(pair, (b'r', Some(b'n')) | (b'v', Some(b'v'))) {
            2
        } else {
            1
        };
    }
    Some(out)
}

/// The rule files of a directory, and whether each must exist.
const FILES: &[(&str, bool)] = &[
    ("engine.toml", true),
    ("policy.toml", true),
    ("lists.toml", true),
    ("phrases.toml", true),
    ("brands.toml", true),
    ("ip.toml", true),
    ("scores.toml", false),
    ("combos.toml", true),
];

/// The rule files' text, read once, and the version of the set.
struct Sources {
    texts: HashMap<&'static str, String>,
    /// `phrases.<language>.toml`, sorted by name: (path, text).
    phrase_files: Vec<(PathBuf, String)>,
    version: String,
}

/// Per-language phrase files are `phrases.<language>.toml` beside
/// `phrases.toml` (one flat folder, so the rules fit a Kubernetes ConfigMap).
fn is_phrase_file(name: &str) -> bool {
    name.strip_prefix("phrases.")
        .and_then(|rest| rest.strip_suffix(".toml"))
        .is_some_and(|lang| !lang.is_empty() && !lang.contains('.'))
}

impl Sources {
    fn read(dir: &Path) -> Result<Sources, RulesError> {
        use sha2::{Digest, Sha256};
        let mut texts = HashMap::new();
        let mut hash = Sha256::new();
        for &(name, required) in FILES {
            let path = dir.join(name);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(RulesError::Read { path, source }),
            };
            hash.update(name.as_bytes());
            hash.update((text.len() as u64).to_le_bytes());
            hash.update(text.as_bytes());
            texts.insert(name, text);
        }
        let mut phrase_files = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|source| RulesError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(is_phrase_file)
            })
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| RulesError::Read {
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            hash.update(name.as_bytes());
            hash.update((text.len() as u64).to_le_bytes());
            hash.update(text.as_bytes());
            phrase_files.push((path, text));
        }
        let version = hash.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Sources {
            texts,
            phrase_files,
            version,
        })
    }

    fn text(&self, name: &str) -> &str {
        self.texts.get(name).map_or("", String::as_str)
    }

    fn optional(&self, name: &str) -> Option<&str> {
        self.texts.get(name).map(String::as_str)
    }
}

/// The version the rules in `dir` would load as: a short content hash of
/// the rule files, cheap to compute (a reload watcher polls it).
pub fn fingerprint(dir: &Path) -> Result<String, RulesError> {
    Ok(Sources::read(dir)?.version)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineFile {
    thresholds: Spanned<BTreeMap<Disposition, f64>>,
    #[serde(default)]
    spill: BTreeMap<Disposition, Spanned<BTreeMap<Disposition, f64>>>,
    #[serde(default)]
    stamp: Option<StampConfig>,
    limits: Limits,
    parallel: ParallelConfig,
    #[serde(default)]
    mixed: Option<MixedConfig>,
}

fn parse_engine(path: &Path, src: &str) -> Result<EngineConfig, RulesError> {
    let f: EngineFile = toml::from_str(src).map_err(|e| RulesError::toml(path, src, &e))?;
    let at = f.thresholds.span().start;
    let mut thresholds = [f64::INFINITY; 6];
    for d in Disposition::ALL {
        if d == Disposition::None {
            continue;
        }
        match f.thresholds.get_ref().get(&d) {
            Some(&t) if t > 0.0 && t.is_finite() => thresholds[d.index()] = t,
            Some(t) => {
                return Err(RulesError::at(
                    path,
                    src,
                    at,
                    format!("threshold for {d} must be a positive number, not {t}"),
                ))
            }
            None => {
                return Err(RulesError::at(
                    path,
                    src,
                    at,
                    format!("[thresholds] is missing {d}"),
                ))
            }
        }
    }
    if f.thresholds.get_ref().contains_key(&Disposition::None) {
        return Err(RulesError::at(
            path,
            src,
            at,
            "NONE has no threshold: it is what is left when nothing else reaches one",
        ));
    }
    let mut spill = [[0f64; 6]; 6];
    for (from, tos) in &f.spill {
        for (to, share) in tos.get_ref() {
            if from.index() >= to.index()
                || *to == Disposition::None
                || !(0.0..=1.0).contains(share)
            {
                return Err(RulesError::at(
                    path,
                    src,
                    tos.span().start,
                    format!(
                        "[spill] {from} -> {to} = {share}: spill goes from a disposition to a \
                         later one in precedence order (not NONE), with a share between 0 and 1"
                    ),
                ));
            }
            spill[from.index()][to.index()] = *share;
        }
    }
    let stamp = f.stamp.unwrap_or(StampConfig {
        prefix: default_prefix(),
        area1_compat: false,
        authserv_id: String::new(),
    });
    if !stamp.prefix.ends_with('-')
        || !stamp
            .prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(RulesError::at(
            path,
            src,
            0,
            format!(
                "[stamp] prefix `{}` must be letters, digits and dashes ending in `-`, e.g. `X-Mailsift-`",
                stamp.prefix
            ),
        ));
    }
    if let Some(m) = &f.mixed {
        if !(m.suspicious > 0.0 && m.suspicious.is_finite()) {
            return Err(RulesError::at(
                path,
                src,
                src.find("[mixed]").unwrap_or(0),
                "[mixed] suspicious must be a positive number",
            ));
        }
    }
    Ok(EngineConfig {
        thresholds,
        spill,
        stamp,
        limits: f.limits,
        parallel: f.parallel,
        mixed_suspicious: f.mixed.map(|m| m.suspicious),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreOverride {
    weight: Option<f64>,
    disposition: Option<Disposition>,
}

fn apply_score_overrides(
    path: &Path,
    src: &str,
    scores: &mut HashMap<String, Score>,
) -> Result<(), RulesError> {
    let table: BTreeMap<Spanned<String>, ScoreOverride> =
        toml::from_str(src).map_err(|e| RulesError::toml(path, src, &e))?;
    for (id, o) in table {
        let Some(score) = scores.get_mut(id.get_ref()) else {
            return Err(RulesError::at(
                path,
                src,
                id.span().start,
                format!(
                    "unknown rule id `{}`; `mailsift rules` lists the known ids",
                    id.get_ref()
                ),
            ));
        };
        if let Some(w) = o.weight {
            if !w.is_finite() {
                return Err(RulesError::at(
                    path,
                    src,
                    id.span().start,
                    "weight must be finite",
                ));
            }
            score.weight = w;
        }
        if let Some(d) = o.disposition {
            score.disposition = d;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListsFile {
    freemail: Vec<String>,
    url_shorteners: Vec<String>,
    free_hosting: Vec<String>,
    blocked_url_domains: Vec<String>,
    ratware_mailers: Vec<String>,
    esp_mailers: Vec<String>,
    esp_headers: Vec<String>,
    dangerous_extensions: Vec<String>,
    archive_extensions: Vec<String>,
    macro_extensions: Vec<String>,
    decoy_extensions: Vec<String>,
    flagged_charsets: Vec<String>,
    #[serde(default)]
    trusted_arc_sealers: Vec<String>,
    #[serde(default)]
    redirectors: Vec<String>,
    #[serde(default)]
    link_rewriters: Vec<String>,
    #[serde(default)]
    sender_platforms: Vec<String>,
}

fn parse_lists(path: &Path, src: &str) -> Result<Lists, RulesError> {
    let f: ListsFile = toml::from_str(src).map_err(|e| RulesError::toml(path, src, &e))?;
    let domains = |v: Vec<String>| {
        DomainSet(
            v.into_iter()
                .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        )
    };
    let exts = |v: Vec<String>| -> HashSet<String> {
        v.into_iter()
            .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
            .collect()
    };
    let substrings = |what: &str, patterns: &[String]| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(patterns)
            .map_err(|e| {
                RulesError::at(
                    path,
                    src,
                    src.find(what).unwrap_or(0),
                    format!("{what}: {e}"),
                )
            })
    };
    let ratware_mailers = substrings("ratware_mailers", &f.ratware_mailers)?;
    let esp_mailers = substrings("esp_mailers", &f.esp_mailers)?;
    Ok(Lists {
        freemail: domains(f.freemail),
        url_shorteners: domains(f.url_shorteners),
        free_hosting: domains(f.free_hosting),
        blocked_url_domains: domains(f.blocked_url_domains),
        ratware_mailers,
        ratware_patterns: f.ratware_mailers,
        esp_mailers,
        esp_headers: f.esp_headers,
        trusted_arc_sealers: domains(f.trusted_arc_sealers),
        dangerous_extensions: exts(f.dangerous_extensions),
        archive_extensions: exts(f.archive_extensions),
        macro_extensions: exts(f.macro_extensions),
        decoy_extensions: exts(f.decoy_extensions),
        flagged_charsets: f
            .flagged_charsets
            .into_iter()
            .map(|c| c.trim().to_ascii_lowercase())
            .collect(),
        redirectors: Redirectors::parse(f.redirectors),
        link_rewriters: domains(f.link_rewriters),
        sender_platforms: domains(f.sender_platforms),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IpFile {
    #[serde(default)]
    allow: Vec<IpNet>,
    #[serde(default)]
    block: Vec<IpNet>,
}

fn parse_ip(path: &Path, src: &str) -> Result<IpLists, RulesError> {
    let f: IpFile = toml::from_str(src).map_err(|e| RulesError::toml(path, src, &e))?;
    Ok(IpLists {
        allow: IpSet::from_nets(&f.allow),
        block: IpSet::from_nets(&f.block),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_skeleton_is_the_unicode_one() {
        // Every printable ASCII character alone: where the fast path
        // answers (a few skeletons are not ASCII: `%` is `°/₀`), it agrees.
        for b in 32u8..127 {
            let name = char::from(b).to_string();
            if let Some(fast) = ascii_skeleton(&name) {
                assert_eq!(fast, unicode_skeleton(&name), "{name:?}");
            }
            assert_eq!(
                confusable_skeleton(&name),
                unicode_skeleton(&name),
                "{name:?}"
            );
        }
        // Every name of up to 4 characters over the letters the look-alike
        // replacements touch: the fast path answers, the same.
        let alphabet: Vec<char> = "rnvmw01il|53-aoI".chars().collect();
        let mut names = Vec::new();
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            frontier = frontier
                .iter()
                .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                .collect();
            names.extend(frontier.iter().cloned());
        }
        names.extend(
            [
                "paypal",
                "rnicros0ft",
                "vvells-fargo",
                "amaz0n-1ogin",
                "C0INBASE",
            ]
            .map(String::from),
        );
        for name in &names {
            assert_eq!(
                ascii_skeleton(name).as_deref(),
                Some(unicode_skeleton(name).as_str()),
                "{name:?}"
            );
        }
        assert_eq!(ascii_skeleton("соntoso"), None);
    }

    #[test]
    fn skeletons_catch_ascii_lookalikes() {
        assert_eq!(
            confusable_skeleton("c0ntoso"),
            confusable_skeleton("contoso")
        );
        assert_eq!(
            confusable_skeleton("rnicrosoft"),
            confusable_skeleton("microsoft")
        );
        assert_eq!(
            confusable_skeleton("соntoso"),
            confusable_skeleton("contoso")
        );
    }

    #[test]
    fn protected_label() {
        let p = protected_domain("mail.contoso.co.uk");
        assert_eq!(p.label, "contoso");
    }

    #[test]
    fn domain_set_matches_parents() {
        let s = DomainSet(["bit.ly".to_string()].into_iter().collect());
        assert!(s.contains("bit.ly"));
        assert!(s.contains("x.bit.ly"));
        assert!(!s.contains("notbit.ly"));
    }

    #[test]
    fn shipped_rules_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
        let rules =
            Rules::load(&dir, &crate::engine::catalogue()).unwrap_or_else(|e| panic!("{e}"));
        assert!(rules.score("HDR_MISSING_DATE").is_some());
    }
}
