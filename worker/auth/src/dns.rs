//! DNS for sender authentication: the resolver (hickory, through mail-auth),
//! the bounded TTL caches in front of it, and per-message recording.
//!
//! mail-auth asks its [`ResolverCache`]s before the network. Ours are moka
//! caches shared by every message (size-bounded, entries expire at the
//! record's TTL, capped), seen through a per-message [`Lookups`] log so the
//! worker can write down which names a verdict depended on and record their
//! answers ([`record`]) for exact replay later.

use super::zone::{Record, RecordType, Zone};
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::proto::rr::{RData, RecordType as WireType};
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::{MessageAuthenticator, Parameters, RecordSet, ResolverCache, Txt, MX};
use mailsift_telemetry::events::DnsLookup;
use mailsift_telemetry::Telemetry;
use moka::sync::Cache;
use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where queries go and how long each may take.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// Nameservers to ask (UDP, then TCP on truncation); empty = the
    /// system's (`/etc/resolv.conf`).
    pub servers: Vec<SocketAddr>,
    /// Deadline of one query attempt.
    pub timeout: Duration,
    /// Attempts per query before it counts as a failure (temperror).
    pub attempts: usize,
    /// Entries per cache (TXT, MX, A, AAAA, PTR each).
    pub cache_entries: u64,
    /// Longest time an answer is cached, whatever its TTL.
    pub max_ttl: Duration,
    /// Longest time one message's authentication may take in all (a
    /// message makes a few dozen queries at most, most of them cached);
    /// past it, the results are a temperror.
    pub message_deadline: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            timeout: Duration::from_secs(2),
            attempts: 2,
            cache_entries: 50_000,
            max_ttl: Duration::from_secs(3600),
            message_deadline: Duration::from_secs(5),
        }
    }
}

/// Builds the resolver. Must run inside a tokio runtime.
pub fn resolver(cfg: &DnsConfig) -> Result<MessageAuthenticator, super::AuthError> {
    let mut opts = ResolverOpts::default();
    opts.timeout = cfg.timeout;
    opts.attempts = cfg.attempts.max(1);
    // Our own caches hold parsed records; hickory keeps a small raw cache
    // that recording re-reads.
    opts.cache_size = 4096;
    opts.use_hosts_file = mail_auth::hickory_resolver::config::ResolveHosts::Never;
    let config = if cfg.servers.is_empty() {
        // The system's nameservers, with our deadlines rather than its own.
        let (config, _) = read_system_conf()
            .map_err(|e| super::AuthError::Resolver(format!("reading resolv.conf: {e}")))?;
        config
    } else {
        let servers = cfg
            .servers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                ns.connections = vec![udp, tcp];
                ns
            })
            .collect();
        ResolverConfig::from_name_servers(servers)
    };
    MessageAuthenticator::new(config, opts).map_err(|e| super::AuthError::Resolver(e.to_string()))
}

/// A cached answer and when it stops being valid.
#[derive(Clone)]
pub struct Entry<V> {
    value: V,
    until: Instant,
}

struct TtlExpiry(Duration);

impl<K, V> moka::Expiry<K, Entry<V>> for TtlExpiry {
    fn expire_after_create(&self, _: &K, e: &Entry<V>, now: Instant) -> Option<Duration> {
        Some(e.until.saturating_duration_since(now).min(self.0))
    }
}

fn ttl_cache<K, V>(cfg: &DnsConfig) -> Cache<K, Entry<V>>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(cfg.cache_entries)
        .expire_after(TtlExpiry(cfg.max_ttl))
        .build()
}

/// The shared answer caches, one per record type as mail-auth uses them,
/// and one TXT cache per protocol (mail-auth caches TXT answers parsed as
/// the type it asked for; sharing one would let an SPF `include:` of a
/// DMARC name poison that name's DMARC answer).
pub struct DnsCaches {
    txt_spf: Cache<Box<str>, Entry<Txt>>,
    txt_dkim: Cache<Box<str>, Entry<Txt>>,
    txt_dmarc: Cache<Box<str>, Entry<Txt>>,
    mx: Cache<Box<str>, Entry<RecordSet<MX>>>,
    ipv4: Cache<Box<str>, Entry<RecordSet<Ipv4Addr>>>,
    ipv6: Cache<Box<str>, Entry<RecordSet<Ipv6Addr>>>,
    ptr: Cache<IpAddr, Entry<RecordSet<Box<str>>>>,
    /// Where lookups are counted.
    pub(crate) telemetry: Option<Arc<Telemetry>>,
}

impl DnsCaches {
    /// Empty caches bounded as configured.
    pub fn new(cfg: &DnsConfig) -> DnsCaches {
        DnsCaches {
            txt_spf: ttl_cache(cfg),
            txt_dkim: ttl_cache(cfg),
            txt_dmarc: ttl_cache(cfg),
            mx: ttl_cache(cfg),
            ipv4: ttl_cache(cfg),
            ipv6: ttl_cache(cfg),
            ptr: ttl_cache(cfg),
            telemetry: None,
        }
    }

    /// Entries held, all types together (after pending maintenance).
    pub fn len(&self) -> u64 {
        self.txt_spf.run_pending_tasks();
        self.txt_dkim.run_pending_tasks();
        self.txt_dmarc.run_pending_tasks();
        self.mx.run_pending_tasks();
        self.ipv4.run_pending_tasks();
        self.ipv6.run_pending_tasks();
        self.ptr.run_pending_tasks();
        self.txt_spf.entry_count()
            + self.txt_dkim.entry_count()
            + self.txt_dmarc.entry_count()
            + self.mx.entry_count()
            + self.ipv4.entry_count()
            + self.ipv6.entry_count()
            + self.ptr.entry_count()
    }

    /// True if nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The names one message's authentication asked about, when recording
/// (otherwise nothing is noted, and lookups cost nothing extra).
#[derive(Default)]
pub struct Lookups {
    asked: Option<Mutex<BTreeSet<(RecordType, String)>>>,
}

impl Lookups {
    /// A log that notes every lookup.
    pub fn recording() -> Lookups {
        Lookups {
            asked: Some(Mutex::default()),
        }
    }

    fn is_recording(&self) -> bool {
        self.asked.is_some()
    }

    fn note(&self, t: RecordType, name: String) {
        if let Some(Ok(mut asked)) = self.asked.as_ref().map(Mutex::lock) {
            asked.insert((t, name.trim_end_matches('.').to_ascii_lowercase()));
        }
    }

    /// What was asked, in order (empty when not recording).
    pub fn asked(&self) -> Vec<(RecordType, String)> {
        match self.asked.as_ref().map(Mutex::lock) {
            Some(Ok(a)) => a.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// One shared cache seen by one message: lookups are logged, then served
/// from and stored in the shared cache.
pub struct View<'a, K, V> {
    cache: &'a Cache<K, Entry<V>>,
    lookups: &'a Lookups,
    kind: RecordType,
    /// What may be stored: TXT views keep only their protocol's records
    /// (never errors or another type's parse).
    keep: fn(&V) -> bool,
    telemetry: Option<&'a Telemetry>,
}

/// The views mail-auth's `Parameters` take for one message.
pub struct Views<'a> {
    /// TXT for SPF (records and `exp=` explanations are not shared).
    pub txt_spf: View<'a, Box<str>, Txt>,
    /// TXT for DKIM and ARC keys.
    pub txt_dkim: View<'a, Box<str>, Txt>,
    /// TXT for DMARC policies.
    pub txt_dmarc: View<'a, Box<str>, Txt>,
    /// MX.
    pub mx: View<'a, Box<str>, RecordSet<MX>>,
    /// A.
    pub ipv4: View<'a, Box<str>, RecordSet<Ipv4Addr>>,
    /// AAAA.
    pub ipv6: View<'a, Box<str>, RecordSet<Ipv6Addr>>,
    /// PTR.
    pub ptr: View<'a, IpAddr, RecordSet<Box<str>>>,
}

impl DnsCaches {
    /// Views of the shared caches that log into `lookups`.
    pub fn views<'a>(&'a self, lookups: &'a Lookups) -> Views<'a> {
        let telemetry = self.telemetry.as_deref();
        fn view<'a, K, V>(
            cache: &'a Cache<K, Entry<V>>,
            (lookups, telemetry): (&'a Lookups, Option<&'a Telemetry>),
            kind: RecordType,
            keep: fn(&V) -> bool,
        ) -> View<'a, K, V> {
            View {
                cache,
                lookups,
                kind,
                keep,
                telemetry,
            }
        }
        let to = (lookups, telemetry);
        Views {
            txt_spf: view(&self.txt_spf, to, RecordType::Txt, |t| {
                matches!(t, Txt::Spf(_))
            }),
            txt_dkim: view(&self.txt_dkim, to, RecordType::Txt, |t| {
                matches!(t, Txt::DomainKey(_))
            }),
            txt_dmarc: view(&self.txt_dmarc, to, RecordType::Txt, |t| {
                matches!(t, Txt::Dmarc(_))
            }),
            mx: view(&self.mx, to, RecordType::Mx, |_| true),
            ipv4: view(&self.ipv4, to, RecordType::A, |_| true),
            ipv6: view(&self.ipv6, to, RecordType::Aaaa, |_| true),
            ptr: view(&self.ptr, to, RecordType::Ptr, |_| true),
        }
    }
}

impl<K, V> ResolverCache<K, V> for View<'_, K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.lookups.is_recording() {
            self.lookups.note(self.kind, key_text(name));
        }
        let hit = self.cache.get(name).map(|e| e.value);
        if let Some(t) = self.telemetry {
            DnsLookup {
                kind: self.kind.as_str(),
                cached: hit.is_some(),
            }
            .emit(t);
        }
        hit
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.cache.remove(name).map(|e| e.value)
    }

    fn insert(&self, key: K, value: V, until: Instant) {
        if (self.keep)(&value) {
            self.cache.insert(key, Entry { value, until });
        }
    }
}

/// The text of a cache key, read back through its `Hash` bytes.
///
/// mail-auth's cache trait hands us keys as an opaque `&Q` (`str` for
/// names, `IpAddr` for PTR). A `str` hashes as its bytes followed by 0xff
/// (std's prefix-free string hashing), so a hasher that keeps the bytes gets
/// the name back without unsafe code. PTR keys are only ever the client IP,
/// which [`record`] is told directly, so their text does not matter.
fn key_text<Q: Hash + ?Sized>(key: &Q) -> String {
    #[derive(Default)]
    struct Capture(Vec<u8>);
    impl std::hash::Hasher for Capture {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
    }
    let mut c = Capture::default();
    key.hash(&mut c);
    if c.0.last() == Some(&0xff) {
        c.0.pop();
    }
    String::from_utf8_lossy(&c.0).into_owned()
}

/// mail-auth's parameters for one verification, over our views.
pub type CachedParameters<'a, P> = Parameters<
    'a,
    P,
    View<'a, Box<str>, Txt>,
    View<'a, Box<str>, RecordSet<MX>>,
    View<'a, Box<str>, RecordSet<Ipv4Addr>>,
    View<'a, Box<str>, RecordSet<Ipv6Addr>>,
    View<'a, IpAddr, RecordSet<Box<str>>>,
>;

impl<'a> Views<'a> {
    /// `params` for one mail-auth call, with `txt` (the calling protocol's
    /// own TXT view) and the shared address, MX and PTR views.
    pub fn parameters<P>(
        &'a self,
        params: P,
        txt: &'a View<'a, Box<str>, Txt>,
    ) -> CachedParameters<'a, P> {
        Parameters::new(params)
            .with_txt_cache(txt)
            .with_mx_cache(&self.mx)
            .with_ipv4_cache(&self.ipv4)
            .with_ipv6_cache(&self.ipv6)
            .with_ptr_cache(&self.ptr)
    }
}

/// The `in-addr.arpa` / `ip6.arpa` name of an address.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// Asks the resolver again for every name in `asked` (its own cache answers
/// most) and writes the answers as a [`Zone`]: records, NODATA as a bare
/// name, NXDOMAIN as absence, failures as `TIMEOUT`.
/// Names not answered by `deadline` are written as `TIMEOUT`, so a slow
/// name never costs the others their recording.
pub async fn record(
    resolver: &MessageAuthenticator,
    asked: &[(RecordType, String)],
    client_ip: IpAddr,
    deadline: tokio::time::Instant,
) -> Zone {
    let mut zone = Zone::new();
    for (kind, name) in asked {
        let ptr_name;
        let name = if *kind == RecordType::Ptr {
            ptr_name = reverse_name(client_ip);
            &ptr_name
        } else {
            name
        };
        let wire = match kind {
            RecordType::Txt => WireType::TXT,
            RecordType::A => WireType::A,
            RecordType::Aaaa => WireType::AAAA,
            RecordType::Mx => WireType::MX,
            RecordType::Ptr => WireType::PTR,
            RecordType::Cname => WireType::CNAME,
        };
        let lookup = resolver.resolver().lookup(format!("{name}."), wire);
        let Ok(answer) = tokio::time::timeout_at(deadline, lookup).await else {
            zone.add_timeout(name);
            continue;
        };
        match answer {
            Ok(lookup) => {
                zone.add_name(name);
                for r in lookup.answers() {
                    let owner = r.name.to_ascii();
                    if let Some(rec) = zone_record(&r.data) {
                        zone.add(&owner, rec);
                    }
                }
            }
            Err(e) if e.is_nx_domain() => {}
            Err(e) if e.is_no_records_found() => zone.add_name(name),
            Err(_) => zone.add_timeout(name),
        }
    }
    zone
}

fn zone_record(data: &RData) -> Option<Record> {
    Some(match data {
        RData::TXT(t) => Record::Txt(
            t.txt_data
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        RData::A(a) => Record::A(a.0),
        RData::AAAA(a) => Record::Aaaa(a.0),
        RData::MX(mx) => Record::Mx(mx.preference, mx.exchange.to_ascii()),
        RData::PTR(p) => Record::Ptr(p.0.to_ascii()),
        RData::CNAME(c) => Record::Cname(c.0.to_ascii()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_read_back() {
        assert_eq!(key_text("_dmarc.example.com."), "_dmarc.example.com.");
        let boxed: Box<str> = "a.example".into();
        assert_eq!(key_text(&boxed), "a.example");
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.3".parse().unwrap()),
            "3.2.0.192.in-addr.arpa"
        );
        assert!(reverse_name("2001:db8::1".parse().unwrap())
            .starts_with("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."));
    }
}
