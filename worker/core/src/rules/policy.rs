//! Per-domain policy (`rules/policy.toml`): deployment mode, relay hops,
//! trusted and authorized ranges, quarantine set, allow tiers, block lists.

use super::error::RulesError;
use crate::finding::Disposition;
use crate::ipset::{IpMap, IpSet};
use crate::message::address_domain;
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use toml::Spanned;

/// What happens to a message whose authentication hit a DNS failure
/// (temperror): its verdict is incomplete either way, and says so.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsFailure {
    /// Route on the verdict as scored without the missing results.
    Deliver,
    /// Quarantine it.
    Quarantine,
    /// Try again later (the worker delays and retries it; after
    /// `gateway.requeue_attempts` tries it is quarantined). The default:
    /// DNS failures are usually brief.
    #[default]
    Requeue,
}

impl DnsFailure {
    /// The word as written in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsFailure::Deliver => "deliver",
            DnsFailure::Quarantine => "quarantine",
            DnsFailure::Requeue => "requeue",
        }
    }
}

/// How delivery uses TLS towards a domain's next hop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryTls {
    /// STARTTLS whenever the next hop offers it, any certificate (what
    /// mail servers do between each other); plain text otherwise.
    #[default]
    Opportunistic,
    /// STARTTLS or no delivery (any certificate): a next hop that does not
    /// offer it is a temporary failure.
    Required,
    /// STARTTLS with a certificate valid for the next hop's name.
    Verify,
}

/// How a domain's mail reaches us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// We are the domain's MX: inline, we deliver or quarantine.
    Mx,
    /// Exchange journal reports: detect only, never deliver or quarantine.
    Journal,
    /// Hooked into Office 365 by a transport rule; mail arrives via EOP.
    Gateway,
}

impl Mode {
    /// Lower-case name as written in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Mx => "mx",
            Mode::Journal => "journal",
            Mode::Gateway => "gateway",
        }
    }
}

/// Addresses, domains and IP blocks that identify senders (allow and block tiers).
#[derive(Clone, Debug, Default)]
pub struct SenderList {
    addresses: HashSet<String>,
    domains: HashSet<String>,
    ips: IpSet,
}

/// Which entry of a [`SenderList`] matched, for evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderMatch {
    /// A full address matched.
    Address(String),
    /// A domain (or a parent of it) matched.
    Domain(String),
    /// The origin IP is in this block.
    Ip(IpNet),
}

impl std::fmt::Display for SenderMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SenderMatch::Address(a) => write!(f, "address {a}"),
            SenderMatch::Domain(d) => write!(f, "domain {d}"),
            SenderMatch::Ip(n) => write!(f, "IP range {n}"),
        }
    }
}

impl SenderList {
    /// True when the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.domains.is_empty() && self.ips.is_empty()
    }

    /// Matches an address (`local@domain`) against address and domain entries.
    pub fn match_address(&self, address: &str) -> Option<SenderMatch> {
        let lower = address.trim().to_ascii_lowercase();
        if self.addresses.contains(&lower) {
            return Some(SenderMatch::Address(lower));
        }
        let domain = address_domain(&lower)?;
        self.match_domain(domain)
    }

    /// Matches a domain or any parent of it against domain entries.
    pub fn match_domain(&self, domain: &str) -> Option<SenderMatch> {
        let domain = domain.to_ascii_lowercase();
        let hit = crate::domain::ancestors(&domain)
            .find(|d| self.domains.contains(*d))
            .map(|d| SenderMatch::Domain(d.to_string()));
        hit
    }

    /// Matches an IP against the IP entries.
    pub fn match_ip(&self, ip: IpAddr) -> Option<SenderMatch> {
        self.ips.find(ip).map(SenderMatch::Ip)
    }

    fn parse(
        path: &Path,
        src: &str,
        entries: &[Spanned<String>],
        what: &str,
    ) -> Result<SenderList, RulesError> {
        let mut list = SenderList::default();
        for entry in entries {
            let value = entry.get_ref().trim().to_ascii_lowercase();
            if let Ok(net) = value.parse::<IpNet>() {
                list.ips.insert(net, ());
            } else if let Ok(ip) = value.parse::<IpAddr>() {
                list.ips.insert(IpNet::from(ip), ());
            } else if value.contains('@') && address_domain(&value).is_some() {
                list.addresses.insert(value);
            } else if is_domain_name(&value) {
                list.domains.insert(value);
            } else {
                return Err(RulesError::at(
                    path,
                    src,
                    entry.span().start,
                    format!("{what}: `{value}` is not an address, a domain, an IP or a CIDR block"),
                ));
            }
        }
        Ok(list)
    }
}

fn is_domain_name(s: &str) -> bool {
    s.contains('.')
        && !s.starts_with('.')
        && !s.ends_with('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The compiled policy of one protected domain (or of the default).
#[derive(Clone, Debug)]
pub struct DomainPolicy {
    /// The domain, or `*` for the default policy.
    pub domain: String,
    /// Deployment mode.
    pub mode: Mode,
    /// Received hops to skip before looking for the original connecting IP.
    pub hops: usize,
    /// Relays whose Received hops are skipped (e.g. EOP in gateway mode).
    pub trusted_relays: IpSet,
    /// Ranges allowed to send mail as this domain (empty = not configured).
    pub authorized_senders: IpSet,
    /// The tenant's own outbound relays: mail from them is outbound.
    pub outbound_relays: IpSet,
    /// Dispositions this domain quarantines.
    pub quarantine: Vec<Disposition>,
    /// Where delivered mail goes (next hop, `host` or `host:port`), if configured.
    pub delivery_target: Option<String>,
    /// TLS towards the next hop.
    pub delivery_tls: DeliveryTls,
    /// The inbound connector lockdown: when not empty, the SMTP edge
    /// accepts mail for this domain only from these ranges.
    pub accept_from: IpSet,
    /// authserv-ids of the upstream gateways whose `Authentication-Results`
    /// are believed (behind Office 365: `office365`, for Exchange Online's
    /// header that names none), lower case. Only headers added after the
    /// origin hop, by the trusted relays, count.
    pub upstream_authserv_ids: Vec<String>,
    /// Delivery region (`us`, `eu`, ...): picks the delivery queue.
    pub region: String,
    /// VIP display names, normalised (lower case, single spaces).
    pub vip_names: Vec<String>,
    /// Trusted senders: no checks at all.
    pub trusted_senders: SenderList,
    /// Acceptable senders: exempt from SPAM, BULK and SPOOF.
    pub acceptable_senders: SenderList,
    /// Recipients exempt from all detections (lower-case addresses).
    pub exempt_recipients: HashSet<String>,
    /// Blocked senders: MALICIOUS.
    pub blocked_senders: SenderList,
    /// Spoof allow pairs: domain → ranges that may send as it.
    pub spoof_allow: HashMap<String, IpSet>,
    /// What to do when authentication hit a DNS failure.
    pub dns_failure: DnsFailure,
    /// Days the quarantine console keeps this domain's held mail.
    pub quarantine_retention_days: u32,
}

impl DomainPolicy {
    /// True when this disposition is quarantined for the domain.
    pub fn quarantines(&self, d: Disposition) -> bool {
        self.quarantine.contains(&d)
    }

    /// The spoof allow range that lets `ip` send as `domain`, if any.
    pub fn spoof_allowed(&self, domain: &str, ip: IpAddr) -> Option<IpNet> {
        self.spoof_allow.get(domain).and_then(|set| set.find(ip))
    }
}

/// Gateway-wide settings.
#[derive(Clone, Debug)]
pub struct Gateway {
    /// This gateway's own MTAs (loop prevention).
    pub own_ips: IpSet,
    /// authserv-id for Authentication-Results.
    pub authserv_id: String,
    /// Delay before a `dns_failure = "requeue"` message is tried again.
    pub requeue_delay: std::time::Duration,
    /// Tries before a requeued message is quarantined instead.
    pub requeue_attempts: u32,
}

/// All domain policies plus the default.
#[derive(Clone, Debug)]
pub struct PolicySet {
    /// Gateway-wide settings.
    pub gateway: Gateway,
    /// Policy for recipients outside every listed domain.
    pub default: DomainPolicy,
    domains: BTreeMap<String, DomainPolicy>,
    /// Every outbound relay of every domain → the domains it may send for.
    outbound: IpMap<Vec<String>>,
}

impl PolicySet {
    /// The policy for a recipient address (its domain or a parent domain).
    pub fn for_recipient(&self, address: &str) -> Option<&DomainPolicy> {
        self.for_domain(address_domain(address)?)
    }

    /// The policy of the first recipient whose domain is listed, else the
    /// default: the policy a whole message is judged under.
    pub fn for_recipients(&self, rcpts: &[String]) -> &DomainPolicy {
        rcpts
            .iter()
            .find_map(|r| self.for_recipient(r))
            .unwrap_or(&self.default)
    }

    /// The policy of a listed domain or of a parent of it.
    pub fn for_domain(&self, domain: &str) -> Option<&DomainPolicy> {
        let domain = domain.to_ascii_lowercase();
        let policy = crate::domain::ancestors(&domain).find_map(|d| self.domains.get(d));
        policy
    }

    /// The policy named `domain` exactly as a verdict names it (`*` or
    /// another name not listed is the default).
    pub fn named(&self, domain: &str) -> &DomainPolicy {
        self.domains.get(domain).unwrap_or(&self.default)
    }

    /// True when `domain` is one of `tenant`'s domains or under one.
    pub fn owns(tenant: &[String], domain: &str) -> bool {
        tenant.iter().any(|t| crate::domain::is_within(domain, t))
    }

    /// Recipients grouped by the policy that applies to them (a listed
    /// domain or the default `*`), in order of first appearance. A message
    /// for several groups is classified and delivered once per group, so
    /// each domain gets its own policy and region.
    pub fn group_recipients<'r>(&self, rcpts: &'r [String]) -> Vec<(&str, Vec<&'r str>)> {
        let mut groups: Vec<(&str, Vec<&'r str>)> = Vec::new();
        for r in rcpts {
            let domain = self.for_recipient(r).map_or("*", |p| p.domain.as_str());
            match groups.iter_mut().find(|(d, _)| *d == domain) {
                Some((_, list)) => list.push(r),
                None => groups.push((domain, vec![r])),
            }
        }
        groups
    }

    /// Every delivery region in use (default and listed domains), sorted.
    pub fn regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = std::iter::once(self.default.region.clone())
            .chain(self.domains.values().map(|d| d.region.clone()))
            .collect();
        regions.sort();
        regions.dedup();
        regions
    }

    /// Listed (protected) domains.
    pub fn domains(&self) -> impl Iterator<Item = &DomainPolicy> {
        self.domains.values()
    }

    /// The domains whose outbound relays include `ip`, if any.
    pub fn outbound_tenant(&self, ip: IpAddr) -> Option<&[String]> {
        self.outbound.lookup(ip).map(|(_, d)| d.as_slice())
    }

    /// Parses and validates `policy.toml`.
    pub fn parse(path: &Path, src: &str) -> Result<PolicySet, RulesError> {
        let file: PolicyFile = toml::from_str(src).map_err(|e| RulesError::toml(path, src, &e))?;
        // Our Authentication-Results carry it, and forged ones bearing it
        // are removed: it must be one non-empty token.
        let id = &file.gateway.authserv_id;
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b';' && b != b'(')
        {
            let at = src.find("authserv_id").unwrap_or(0);
            return Err(RulesError::at(
                path,
                src,
                at,
                format!("[gateway] authserv_id `{id}` must be one word such as `mx.example.com`"),
            ));
        }
        let gateway = Gateway {
            own_ips: IpSet::from_nets(&file.gateway.own_ips),
            authserv_id: file.gateway.authserv_id,
            requeue_delay: std::time::Duration::from_secs(file.gateway.requeue_delay_seconds),
            requeue_attempts: file.gateway.requeue_attempts.max(1),
        };
        let default = compile_domain(path, src, "*", &file.default)?;
        let mut domains = BTreeMap::new();
        let mut outbound: IpMap<Vec<String>> = IpMap::default();
        let mut outbound_nets: BTreeMap<IpNet, Vec<String>> = BTreeMap::new();
        for (name, spec) in &file.domains {
            let name = name.to_ascii_lowercase();
            if !is_domain_name(&name) {
                return Err(RulesError::at(
                    path,
                    src,
                    spec.span().start,
                    format!("`{name}` is not a domain name"),
                ));
            }
            for net in &spec.get_ref().outbound_relays {
                outbound_nets
                    .entry(net.trunc())
                    .or_default()
                    .push(name.clone());
            }
            domains.insert(name.clone(), compile_domain(path, src, &name, spec)?);
        }
        for (net, ds) in outbound_nets {
            outbound.insert(net, ds);
        }
        Ok(PolicySet {
            gateway,
            default,
            domains,
            outbound,
        })
    }
}

fn compile_domain(
    path: &Path,
    src: &str,
    name: &str,
    spec: &Spanned<DomainFile>,
) -> Result<DomainPolicy, RulesError> {
    let at = spec.span().start;
    let f = spec.get_ref();
    let err = |at: usize, msg: String| RulesError::at(path, src, at, msg);
    let mut quarantine: Vec<Disposition> = match &f.quarantine {
        Some(q) => q.get_ref().clone(),
        None if f.mode == Mode::Journal => Vec::new(),
        None => vec![Disposition::Malicious, Disposition::Spam],
    };
    let q_at = f.quarantine.as_ref().map(|q| q.span().start).unwrap_or(at);
    if quarantine.contains(&Disposition::None) {
        return Err(err(
            q_at,
            format!("domain `{name}`: NONE cannot be quarantined"),
        ));
    }
    match f.mode {
        Mode::Mx => {
            for must in [Disposition::Malicious, Disposition::Spam] {
                if !quarantine.contains(&must) {
                    return Err(err(
                        q_at,
                        format!(
                            "domain `{name}`: mode \"mx\" always quarantines MALICIOUS and SPAM; \
                             add \"{must}\" to quarantine (it cannot be turned off in mx mode)"
                        ),
                    ));
                }
            }
        }
        Mode::Journal if !quarantine.is_empty() => {
            return Err(err(
                q_at,
                format!(
                    "domain `{name}`: mode \"journal\" is detect-only and never quarantines; \
                     remove `quarantine`"
                ),
            ));
        }
        _ => {}
    }
    quarantine.sort();
    quarantine.dedup();
    let mut spoof_allow: HashMap<String, IpSet> = HashMap::new();
    for pair in &f.spoof_allow {
        let domain = pair.get_ref().domain.to_ascii_lowercase();
        if !is_domain_name(&domain) {
            return Err(err(
                pair.span().start,
                format!("spoof_allow: `{domain}` is not a domain name"),
            ));
        }
        spoof_allow
            .entry(domain)
            .or_default()
            .insert(pair.get_ref().ip, ());
    }
    let mut exempt_recipients = HashSet::new();
    for r in &f.exempt_recipients {
        let v = r.get_ref().trim().to_ascii_lowercase();
        if address_domain(&v).is_none() {
            return Err(err(
                r.span().start,
                format!("exempt_recipients: `{v}` is not an email address"),
            ));
        }
        exempt_recipients.insert(v);
    }
    if f.region.is_empty()
        || !f
            .region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(err(
            at,
            format!(
                "domain `{name}`: region `{}` must be a short word like `us` or `eu`",
                f.region
            ),
        ));
    }
    if !(1..=3650).contains(&f.quarantine_retention_days) {
        return Err(err(
            at,
            format!(
                "domain `{name}`: quarantine_retention_days = {} must be between 1 and 3650",
                f.quarantine_retention_days
            ),
        ));
    }
    Ok(DomainPolicy {
        domain: name.to_string(),
        mode: f.mode,
        hops: f.hops,
        trusted_relays: IpSet::from_nets(&f.trusted_relays),
        authorized_senders: IpSet::from_nets(&f.authorized_senders),
        outbound_relays: IpSet::from_nets(&f.outbound_relays),
        quarantine,
        delivery_target: f.delivery_target.clone(),
        delivery_tls: f.delivery_tls,
        accept_from: IpSet::from_nets(&f.accept_from),
        upstream_authserv_ids: f
            .upstream_authserv_ids
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect(),
        region: f.region.to_ascii_lowercase(),
        vip_names: f.vip_names.iter().map(|n| normalize_name(n)).collect(),
        trusted_senders: SenderList::parse(path, src, &f.trusted_senders, "trusted_senders")?,
        acceptable_senders: SenderList::parse(
            path,
            src,
            &f.acceptable_senders,
            "acceptable_senders",
        )?,
        exempt_recipients,
        blocked_senders: SenderList::parse(path, src, &f.blocked_senders, "blocked_senders")?,
        spoof_allow,
        dns_failure: f.dns_failure,
        quarantine_retention_days: f.quarantine_retention_days,
    })
}

/// Lower case, letters and digits only, single spaces: how display names are compared.
pub fn normalize_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    gateway: GatewayFile,
    default: Spanned<DomainFile>,
    #[serde(default)]
    domains: BTreeMap<String, Spanned<DomainFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayFile {
    #[serde(default)]
    own_ips: Vec<IpNet>,
    #[serde(default = "default_authserv_id")]
    authserv_id: String,
    #[serde(default = "default_requeue_delay")]
    requeue_delay_seconds: u64,
    #[serde(default = "default_requeue_attempts")]
    requeue_attempts: u32,
}

impl Default for GatewayFile {
    fn default() -> Self {
        GatewayFile {
            own_ips: Vec::new(),
            authserv_id: default_authserv_id(),
            requeue_delay_seconds: default_requeue_delay(),
            requeue_attempts: default_requeue_attempts(),
        }
    }
}

fn default_requeue_delay() -> u64 {
    60
}

fn default_requeue_attempts() -> u32 {
    3
}

fn default_authserv_id() -> String {
    "mailsift".into()
}

fn default_region() -> String {
    "us".into()
}

fn default_mode() -> Mode {
    Mode::Mx
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainFile {
    #[serde(default = "default_mode")]
    mode: Mode,
    #[serde(default)]
    hops: usize,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default)]
    delivery_target: Option<String>,
    #[serde(default)]
    delivery_tls: DeliveryTls,
    #[serde(default)]
    accept_from: Vec<IpNet>,
    #[serde(default)]
    upstream_authserv_ids: Vec<String>,
    #[serde(default)]
    trusted_relays: Vec<IpNet>,
    #[serde(default)]
    authorized_senders: Vec<IpNet>,
    #[serde(default)]
    outbound_relays: Vec<IpNet>,
    #[serde(default)]
    quarantine: Option<Spanned<Vec<Disposition>>>,
    #[serde(default)]
    vip_names: Vec<String>,
    #[serde(default)]
    trusted_senders: Vec<Spanned<String>>,
    #[serde(default)]
    acceptable_senders: Vec<Spanned<String>>,
    #[serde(default)]
    exempt_recipients: Vec<Spanned<String>>,
    #[serde(default)]
    blocked_senders: Vec<Spanned<String>>,
    #[serde(default)]
    spoof_allow: Vec<Spanned<SpoofAllowFile>>,
    #[serde(default)]
    dns_failure: DnsFailure,
    #[serde(default = "default_retention_days")]
    quarantine_retention_days: u32,
}

/// How long quarantined mail is kept unless a domain says otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

fn default_retention_days() -> u32 {
    DEFAULT_RETENTION_DAYS
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpoofAllowFile {
    domain: String,
    ip: IpNet,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<PolicySet, RulesError> {
        PolicySet::parse(Path::new("policy.toml"), src)
    }

    #[test]
    fn authserv_id_must_be_one_word() {
        for bad in ["\"\"", "\"two words\"", "\"a;b\""] {
            let err = parse(&format!(
                "[gateway]\nauthserv_id = {bad}\n\n[default]\nmode = \"mx\"\n"
            ))
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(err.to_string().contains("authserv_id"), "{err}");
        }
    }

    #[test]
    fn mx_cannot_stop_quarantining_spam() {
        let err = parse(
            "[default]\nmode = \"mx\"\n\n[domains.\"a.com\"]\nmode = \"mx\"\nquarantine = [\"MALICIOUS\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("policy.toml:6:"), "{err}");
        assert!(
            err.contains("always quarantines MALICIOUS and SPAM"),
            "{err}"
        );
    }

    #[test]
    fn journal_cannot_quarantine() {
        let err = parse("[default]\nmode = \"journal\"\nquarantine = [\"SPAM\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("detect-only"), "{err}");
    }

    #[test]
    fn bad_cidr_has_a_line() {
        let err = parse("[default]\n\n[domains.\"a.com\"]\ntrusted_relays = [\"10.0.0.0/33\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("policy.toml:4:"), "{err}");
    }

    #[test]
    fn unknown_key_is_refused() {
        let err = parse("[default]\nquarantaine = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("quarantaine"), "{err}");
    }

    #[test]
    fn lookups() {
        let p = parse(
            "[default]\n[domains.\"a.com\"]\nhops = 2\noutbound_relays = [\"1.2.3.0/24\"]\n\
             trusted_senders = [\"x@p.com\", \"q.org\", \"9.9.9.0/24\"]\n\
             spoof_allow = [{ domain = \"a.com\", ip = \"5.5.5.0/24\" }]\n",
        )
        .unwrap();
        assert_eq!(p.for_recipient("bob@sub.a.com").unwrap().hops, 2);
        assert!(p.for_recipient("bob@b.com").is_none());
        assert_eq!(
            p.outbound_tenant("1.2.3.4".parse().unwrap()),
            Some(&["a.com".to_string()][..])
        );
        let d = p.for_domain("a.com").unwrap();
        assert!(d.trusted_senders.match_address("X@P.com").is_some());
        assert!(d.trusted_senders.match_address("y@mail.q.org").is_some());
        assert!(d
            .trusted_senders
            .match_ip("9.9.9.9".parse().unwrap())
            .is_some());
        assert!(d
            .spoof_allowed("a.com", "5.5.5.5".parse().unwrap())
            .is_some());
        assert!(d
            .spoof_allowed("a.com", "5.5.6.5".parse().unwrap())
            .is_none());
        assert_eq!(
            d.quarantine,
            vec![Disposition::Malicious, Disposition::Spam]
        );
    }
}
