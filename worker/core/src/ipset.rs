//! Longest-prefix IP lookups over IPv4 and IPv6 CIDR blocks.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use std::net::IpAddr;

/// A set of CIDR blocks, each carrying a value, answering "which most specific
/// block holds this address?". IPv4-mapped IPv6 addresses match IPv4 blocks.
#[derive(Clone, Debug)]
pub struct IpMap<T> {
    v4: PrefixMap<Ipv4Net, T>,
    v6: PrefixMap<Ipv6Net, T>,
    len: usize,
}

/// An [`IpMap`] without values.
pub type IpSet = IpMap<()>;

impl<T> Default for IpMap<T> {
    fn default() -> Self {
        IpMap {
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
            len: 0,
        }
    }
}

impl<T> IpMap<T> {
    /// Adds a block (host bits are cleared); a repeated block keeps the last value.
    pub fn insert(&mut self, net: IpNet, value: T) {
        let replaced = match net.trunc() {
            IpNet::V4(n) => self.v4.insert(n, value).is_some(),
            IpNet::V6(n) => self.v6.insert(n, value).is_some(),
        };
        if !replaced {
            self.len += 1;
        }
    }

    /// The most specific block holding `ip`, with its value.
    pub fn lookup(&self, ip: IpAddr) -> Option<(IpNet, &T)> {
        match canonical(ip) {
            IpAddr::V4(a) => {
                let host = Ipv4Net::new(a, 32).ok()?;
                self.v4.get_lpm(&host).map(|(n, v)| (IpNet::V4(n), v))
            }
            IpAddr::V6(a) => {
                let host = Ipv6Net::new(a, 128).ok()?;
                self.v6.get_lpm(&host).map(|(n, v)| (IpNet::V6(n), v))
            }
        }
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no block was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl IpSet {
    /// Builds a set from blocks.
    pub fn from_nets<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> Self {
        let mut set = IpSet::default();
        for net in nets {
            set.insert(*net, ());
        }
        set
    }

    /// The most specific block holding `ip`.
    pub fn find(&self, ip: IpAddr) -> Option<IpNet> {
        self.lookup(ip).map(|(n, _)| n)
    }

    /// True when some block holds `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.lookup(ip).is_some()
    }
}

/// Maps IPv4-mapped IPv6 (`::ffff:a.b.c.d`) to plain IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Why an address cannot be a public Internet sender, if it cannot.
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_private() {
                Some("RFC 1918 private")
            } else if a.is_loopback() {
                Some("loopback")
            } else if a.is_link_local() {
                Some("link-local")
            } else if o[0] == 100 && (64..128).contains(&o[1]) {
                Some("carrier-grade NAT (RFC 6598)")
            } else if a.is_unspecified() || o[0] == 0 {
                Some("unspecified / this-network")
            } else if a.is_documentation() {
                Some("documentation range (RFC 5737)")
            } else if o[0] >= 240 || a.is_broadcast() {
                Some("reserved")
            } else if a.is_multicast() {
                Some("multicast")
            } else if o[0] == 198 && (o[1] == 18 || o[1] == 19) {
                Some("benchmarking range (RFC 2544)")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if a.is_loopback() {
                Some("loopback")
            } else if a.is_unspecified() {
                Some("unspecified")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Some("unique local (fc00::/7)")
            } else if (s[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Some("documentation range (2001:db8::/32)")
            } else if a.is_multicast() {
                Some("multicast")
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut m = IpMap::default();
        m.insert(net("10.0.0.0/8"), "wide");
        m.insert(net("10.1.0.0/16"), "narrow");
        m.insert(net("2001:db8::/32"), "v6");
        assert_eq!(m.lookup("10.1.2.3".parse().unwrap()).unwrap().1, &"narrow");
        assert_eq!(m.lookup("10.2.2.3".parse().unwrap()).unwrap().1, &"wide");
        assert_eq!(m.lookup("2001:db8::1".parse().unwrap()).unwrap().1, &"v6");
        assert!(m.lookup("11.0.0.1".parse().unwrap()).is_none());
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn mapped_v6_matches_v4_blocks() {
        let set = IpSet::from_nets(&[net("192.168.0.0/16")]);
        assert!(set.contains("::ffff:192.168.1.1".parse().unwrap()));
    }

    #[test]
    fn host_bits_are_ignored() {
        let set = IpSet::from_nets(&[net("40.107.22.9/24")]);
        assert!(set.contains("40.107.22.200".parse().unwrap()));
    }

    #[test]
    fn bogons() {
        assert!(non_public_reason("10.0.0.1".parse().unwrap()).is_some());
        assert!(non_public_reason("100.64.1.1".parse().unwrap()).is_some());
        assert!(non_public_reason("fd00::1".parse().unwrap()).is_some());
        assert!(non_public_reason("8.8.8.8".parse().unwrap()).is_none());
        assert!(non_public_reason("2a01:111:f400::1".parse().unwrap()).is_none());
    }
}
