//! The brand list (`rules/brands.toml`): the names that claim a brand and
//! the domains that are its own. Phishing claims a brand (in the sender's
//! name, a link's host name) from somewhere that is not the brand's; the
//! list is data an operator extends (their bank, their carrier, their
//! authority), documented in the file itself.
//!
//! ```toml
//! [paypal]
//! names = ["paypal"]              # distinctive: display names and link hosts
//! weak_names = []                 # ambiguous words: only a display name of that word alone
//! domains = ["paypal.com", "paypal.me"]
//! category = "payment"
//! region = "global"
//! ```

use super::error::RulesError;
use crate::fold::{brand_form, fold};
use aho_corasick::{AhoCorasick, MatchKind};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use toml::Spanned;

/// One brand.
#[derive(Clone, Debug)]
pub struct Brand {
    /// The table key, e.g. `paypal`.
    pub id: String,
    /// The first name, for evidence ("names PayPal").
    pub name: String,
    /// Its own registrable domains (a subdomain counts as the domain).
    pub domains: HashSet<String>,
    /// `bank`, `parcel`, ...
    pub category: String,
}

impl Brand {
    /// True when `domain` is one of the brand's own domains or under one.
    pub fn owns(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let owned = crate::domain::ancestors(&domain).any(|d| self.domains.contains(d));
        owned
    }
}

/// A brand named in a text.
#[derive(Clone, Copy, Debug)]
pub struct BrandClaim<'a> {
    /// The brand.
    pub brand: &'a Brand,
    /// Written so that it only reads as the brand after folding look-alike
    /// letters, spacing or invisible characters: no brand writes its own
    /// name that way.
    pub obfuscated: bool,
}

/// `brands.toml`, compiled.
#[derive(Clone, Debug, Default)]
pub struct Brands {
    brands: Vec<Brand>,
    /// Distinctive names in [`brand_form`], for display names and subjects.
    names: Option<AhoCorasick>,
    /// Per pattern of `names`: (brand index, the name in plain folded form).
    name_owner: Vec<(usize, String)>,
    /// Ambiguous names in [`brand_form`] → brand index.
    weak: HashMap<String, usize>,
    /// Distinctive names of five letters or more, without spaces, for
    /// link host names (`paypal-support.com`).
    host_names: Option<AhoCorasick>,
    host_owner: Vec<usize>,
    /// Every brand domain → brand index.
    by_domain: HashMap<String, usize>,
    /// [`SERVICE_WORDS`] in [`brand_form`].
    service_words: HashSet<String>,
}

/// Words that a brand's own sender name adds to a weak name
/// ("Orange Service Client", "UPS Notifications").
const SERVICE_WORDS: &[&str] = &[
    "support",
    "security",
    "team",
    "service",
    "services",
    "notification",
    "notifications",
    "no reply",
    "noreply",
    "no-reply",
    "account",
    "accounts",
    "customer",
    "customers",
    "care",
    "info",
    "alert",
    "alerts",
    "billing",
    "help",
    "helpdesk",
    "official",
    "online",
    "center",
    "centre",
    "client",
    "clients",
    "kundenservice",
    "servicio",
    "atendimento",
    "sac",
    "de",
    "do",
    "da",
    "du",
    "la",
    "le",
    "el",
    "the",
    "express",
    "delivery",
    "mail",
    "news",
    "rewards",
    "premium",
    "bank",
    "banco",
    "banque",
    "store",
    "shop",
];

impl Brands {
    /// Every brand.
    pub fn iter(&self) -> impl Iterator<Item = &Brand> {
        self.brands.iter()
    }

    /// How many brands.
    pub fn len(&self) -> usize {
        self.brands.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.brands.is_empty()
    }

    /// The brand that owns `domain` (or a parent of it), if any.
    pub fn owner_of(&self, domain: &str) -> Option<&Brand> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let index = crate::domain::ancestors(&domain).find_map(|d| self.by_domain.get(d).copied());
        index.map(|i| &self.brands[i])
    }

    /// The brand a display name (or subject) claims: a distinctive name as
    /// whole words anywhere in it, or a weak name as the whole of it (with
    /// service words around). Look-alike letters, spacing and invisible
    /// characters are seen through.
    pub fn claimed_in(&self, text: &str) -> Option<BrandClaim<'_>> {
        if text.is_empty() {
            return None;
        }
        let form = brand_form(text);
        if let Some(names) = &self.names {
            let padded = format!(" {form} ");
            // Overlapping: "citi" must not hide "citibank".
            for m in names.find_overlapping_iter(padded.as_str()) {
                let bytes = padded.as_bytes();
                if bytes[m.start() - 1] != b' ' || bytes.get(m.end()) != Some(&b' ') {
                    continue;
                }
                let (i, plain_name) = &self.name_owner[m.pattern().as_usize()];
                let plain = format!(" {} ", plain_form(text));
                return Some(BrandClaim {
                    brand: &self.brands[*i],
                    obfuscated: !plain.contains(&format!(" {plain_name} ")),
                });
            }
        }
        let core: Vec<&str> = form
            .split(' ')
            .filter(|w| !w.is_empty() && !self.service_words.contains(*w))
            .collect();
        if core.is_empty() || core.len() > 3 {
            return None;
        }
        let core = core.join(" ");
        self.weak.get(&core).map(|&i| BrandClaim {
            brand: &self.brands[i],
            obfuscated: false,
        })
    }

    /// Brands whose distinctive name is part of a link's host name
    /// (`paypal-support.com`, `www.paypal.com.x.cn`), other than their own
    /// domains.
    pub fn named_in_host<'a>(&'a self, host: &str) -> Vec<&'a Brand> {
        let Some(ac) = &self.host_names else {
            return Vec::new();
        };
        let host = host.to_ascii_lowercase();
        if self.owner_of(&host).is_some() {
            return Vec::new();
        }
        let mut out: Vec<&Brand> = Vec::new();
        for m in ac.find_overlapping_iter(host.as_str()) {
            let b = &self.brands[self.host_owner[m.pattern().as_usize()]];
            if !out.iter().any(|o| o.id == b.id) {
                out.push(b);
            }
        }
        out
    }
}

/// Folded, letters and digits only, single spaces: how a name reads
/// without any disguise removed (an invisible character splits a word).
fn plain_form(text: &str) -> String {
    let visible: String = text
        .chars()
        .map(|c| if crate::fold::is_invisible(c) { ' ' } else { c })
        .collect();
    fold(&visible)
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BrandFile {
    names: Vec<String>,
    #[serde(default)]
    weak_names: Vec<String>,
    domains: Vec<String>,
    #[serde(default)]
    category: String,
    #[serde(default)]
    #[allow(dead_code)]
    region: String,
}

/// Parses and compiles `brands.toml`.
pub fn parse(path: &Path, src: &str) -> Result<Brands, RulesError> {
    let file: BTreeMap<String, Spanned<BrandFile>> =
        toml::from_str(src).map_err(|e| RulesError::toml(path, src, &e))?;
    let mut brands = Vec::with_capacity(file.len());
    let mut patterns: Vec<String> = Vec::new();
    let mut name_owner = Vec::new();
    let mut weak = HashMap::new();
    let mut host_patterns: Vec<String> = Vec::new();
    let mut host_owner = Vec::new();
    let mut by_domain = HashMap::new();
    let mut seen_names: HashMap<String, String> = HashMap::new();
    for (id, spanned) in file {
        let at = spanned.span().start;
        let b = spanned.into_inner();
        if b.domains.is_empty() || (b.names.is_empty() && b.weak_names.is_empty()) {
            return Err(RulesError::at(
                path,
                src,
                at,
                format!("brand `{id}` needs at least one name and one of its own domains"),
            ));
        }
        let index = brands.len();
        for name in b.names.iter().chain(&b.weak_names) {
            let form = brand_form(name);
            if form.is_empty() {
                return Err(RulesError::at(
                    path,
                    src,
                    at,
                    format!("brand `{id}`: empty name `{name}`"),
                ));
            }
            if let Some(other) = seen_names.insert(form.clone(), id.clone()) {
                if other != id {
                    return Err(RulesError::at(
                        path,
                        src,
                        at,
                        format!("brand `{id}`: the name `{name}` is already brand `{other}`'s"),
                    ));
                }
            }
        }
        for name in &b.names {
            let form = brand_form(name);
            let compact: String = form.chars().filter(|c| *c != ' ').collect();
            patterns.push(form);
            name_owner.push((index, plain_form(name)));
            // Host names: distinctive enough to be a label part.
            if compact.chars().count() >= 5 && compact.is_ascii() {
                host_patterns.push(
                    fold(name)
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .collect(),
                );
                host_owner.push(index);
            }
        }
        for name in &b.weak_names {
            weak.insert(brand_form(name), index);
        }
        let mut domains = HashSet::new();
        for d in &b.domains {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            if d.is_empty() || !d.contains('.') || d.contains(['/', ' ', '@']) {
                return Err(RulesError::at(
                    path,
                    src,
                    at,
                    format!("brand `{id}`: `{d}` is not a domain name"),
                ));
            }
            by_domain.insert(d.clone(), index);
            domains.insert(d);
        }
        brands.push(Brand {
            name: b
                .names
                .first()
                .or(b.weak_names.first())
                .cloned()
                .unwrap_or_default(),
            id,
            domains,
            category: b.category,
        });
    }
    let build = |patterns: &[String]| -> Result<Option<AhoCorasick>, RulesError> {
        if patterns.is_empty() {
            return Ok(None);
        }
        AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(patterns)
            .map(Some)
            .map_err(|e| RulesError::at(path, src, 0, e.to_string()))
    };
    Ok(Brands {
        names: build(&patterns)?,
        name_owner,
        weak,
        host_names: build(&host_patterns)?,
        host_owner,
        by_domain,
        brands,
        service_words: SERVICE_WORDS.iter().map(|w| brand_form(w)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
[paypal]
names = ["paypal"]
domains = ["paypal.com", "paypal.de"]
category = "payment"
[coinbase]
names = ["coinbase"]
domains = ["coinbase.com"]
[bofa]
names = ["bank of america"]
domains = ["bankofamerica.com"]
[ups]
names = []
weak_names = ["ups"]
domains = ["ups.com"]
[icloud]
names = ["icloud"]
weak_names = ["apple"]
domains = ["apple.com", "icloud.com"]
"#;

    fn brands() -> Brands {
        parse(Path::new("brands.toml"), SRC).expect("parses")
    }

    #[test]
    fn claims_in_display_names() {
        let b = brands();
        // (display name, brand id or "", obfuscated)
        for (name, want, obfuscated) in [
            ("PayPal", "paypal", false),
            ("PayPal Service", "paypal", false),
            ("Service PAYPAL", "paypal", false),
            ("C o i n b a s e", "coinbase", true),
            ("Coinbase Support", "coinbase", false),
            ("lCIoud", "icloud", true),
            ("Pay\u{200B}Pal", "paypal", true),
            ("Bank of America Alerts", "bofa", false),
            ("UPS", "ups", false),
            ("UPS Notifications", "ups", false),
            ("Apple", "icloud", false),
            ("Cups and saucers", "", false),
            ("John Apple Seed", "", false),
            ("Paypalooza", "", false),
            ("", "", false),
        ] {
            let got = b.claimed_in(name);
            assert_eq!(got.map_or("", |c| c.brand.id.as_str()), want, "{name}");
            if let Some(c) = got {
                assert_eq!(c.obfuscated, obfuscated, "{name}");
            }
        }
    }

    #[test]
    fn hosts_and_ownership() {
        let b = brands();
        let ids = |h: &str| {
            b.named_in_host(h)
                .iter()
                .map(|x| x.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("paypal-support.com"), vec!["paypal"]);
        assert_eq!(ids("www.paypal.com.x.cn"), vec!["paypal"]);
        assert!(ids("www.paypal.com").is_empty());
        assert!(ids("mail.paypal.de").is_empty());
        assert!(ids("example.org").is_empty());
        assert_eq!(
            b.owner_of("email.paypal.com").map(|x| x.id.as_str()),
            Some("paypal")
        );
        assert!(b.owner_of("paypal.com.evil.example").is_none());
    }

    #[test]
    fn a_name_belongs_to_one_brand() {
        let err = parse(
            Path::new("brands.toml"),
            "[a]\nnames = [\"acme\"]\ndomains = [\"acme.com\"]\n[b]\nnames = [\"ACME\"]\ndomains = [\"acme.org\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("already brand `a`"), "{err}");
    }
}
