//! Finding the original connecting IP in the relay chain.
//!
//! The chain is the connecting peer (from the envelope, when the edge gave
//! one) followed by each `Received: from ... [ip]`, newest first. We skip
//! the domain's configured `hops` (e.g. 1 when Office 365 sits in front of us),
//! then every hop from a trusted relay or from this gateway itself; the first
//! hop left is the origin.

use crate::ipset::non_public_reason;
use crate::message::Hop;
use crate::rules::{policy::Gateway, DomainPolicy};
use serde::Serialize;
use std::net::IpAddr;

/// The IP we judge the sender by, and why we picked it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The origin IP, if the chain had any IP at all.
    pub ip: Option<IpAddr>,
    /// Its index in the chain (0 = connecting peer).
    pub position: usize,
    /// Index of the Received header it came from (`None` = envelope peer).
    #[serde(skip)]
    pub hop: Option<usize>,
    /// Why this one, in words (stamped as a header comment).
    pub reason: String,
    /// Every IP in the chain, newest first.
    pub chain: Vec<IpAddr>,
    /// The origin is a private/bogon address where a public one belongs.
    pub not_public: Option<&'static str>,
}

/// Picks the origin IP for a message.
///
/// When the edge gave no envelope (replay of stored mail), leading private
/// and loopback hops are the mailbox host's own plumbing (fetchmail, local
/// delivery), so they are skipped like trusted relays, as SpamAssassin's
/// inferred trusted networks do.
pub fn trace(
    peer_ip: Option<IpAddr>,
    peer_from_envelope: bool,
    hops: &[Hop],
    policy: &DomainPolicy,
    gateway: &Gateway,
) -> Origin {
    // (ip, Received index)
    let mut chain: Vec<(IpAddr, Option<usize>)> = Vec::with_capacity(hops.len() + 1);
    if let (true, Some(ip)) = (peer_from_envelope, peer_ip) {
        chain.push((ip, None));
    }
    for (i, ip) in hops
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.from_ip.map(|ip| (i, ip)))
    {
        // The edge may or may not have written its own Received line.
        if chain.len() == 1 && peer_from_envelope && chain[0].0 == ip {
            chain[0].1 = Some(i);
            continue;
        }
        chain.push((ip, Some(i)));
    }
    let ips: Vec<IpAddr> = chain.iter().map(|(ip, _)| *ip).collect();
    if chain.is_empty() {
        return Origin {
            ip: None,
            position: 0,
            hop: None,
            reason: "no connecting IP: no envelope peer and no Received header with an IP".into(),
            chain: ips,
            not_public: None,
        };
    }
    let last = chain.len() - 1;
    let skip = policy.hops.min(last);
    let mut skipped = Vec::new();
    let mut position = skip;
    while position < last {
        let ip = chain[position].0;
        if let Some(net) = policy.trusted_relays.find(ip) {
            skipped.push(format!("{ip} in trusted relay {net}"));
        } else if let Some(net) = gateway.own_ips.find(ip) {
            skipped.push(format!("{ip} is this gateway ({net})"));
        } else if !peer_from_envelope && non_public_reason(ip).is_some() {
            skipped.push(format!(
                "{ip} internal ({})",
                non_public_reason(ip).unwrap_or("")
            ));
        } else {
            break;
        }
        position += 1;
    }
    let mut reason = format!("hop {} of {}", position + 1, chain.len());
    if policy.hops > 0 {
        reason.push_str(&format!(
            "; skipped {skip} configured hop(s) for {}",
            policy.domain
        ));
        if policy.hops > skip {
            reason.push_str(&format!(
                " (wanted {}, chain too short: took the oldest)",
                policy.hops
            ));
        }
    }
    if !skipped.is_empty() {
        reason.push_str(&format!("; skipped {}", skipped.join(", ")));
    }
    reason.push_str(if position == 0 {
        "; the connecting peer"
    } else {
        "; first untrusted hop"
    });
    let (ip, hop) = chain[position];
    // Without an envelope, a chain of only private hops is internal mail;
    // with one, a private peer that is not a trusted relay cannot be right.
    let not_public = non_public_reason(ip).filter(|_| {
        peer_from_envelope
            && policy.trusted_relays.find(ip).is_none()
            && gateway.own_ips.find(ip).is_none()
    });
    if not_public.is_none() && non_public_reason(ip).is_some() {
        reason.push_str("; internal (no public hop)");
    }
    Origin {
        ip: Some(ip),
        position,
        hop,
        reason,
        chain: ips,
        not_public,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::PolicySet;
    use std::path::Path;

    fn hop(ip: &str) -> Hop {
        Hop {
            from_ip: Some(ip.parse().unwrap()),
            ..Hop::default()
        }
    }

    fn policies() -> PolicySet {
        PolicySet::parse(
            Path::new("p.toml"),
            "[gateway]\nown_ips = [\"192.0.2.10/32\"]\n[default]\n\
             [domains.\"f.com\"]\nmode = \"gateway\"\nhops = 1\ntrusted_relays = [\"40.107.0.0/16\", \"2a01:111:f400::/48\"]\n",
        )
        .unwrap()
    }

    #[test]
    fn skips_configured_hops_and_trusted_relays() {
        let p = policies();
        let f = p.for_domain("f.com").unwrap();
        let hops = [
            hop("104.47.1.1"),
            hop("40.107.3.3"),
            hop("2a01:111:f400::5"),
            hop("185.1.2.3"),
            hop("10.0.0.5"),
        ];
        let o = trace(None, false, &hops, f, &p.gateway);
        assert_eq!(o.ip, Some("185.1.2.3".parse().unwrap()));
        assert_eq!(o.position, 3);
        assert_eq!(o.hop, Some(3));
        assert!(
            o.reason.contains("trusted relay 40.107.0.0/16"),
            "{}",
            o.reason
        );
        assert!(o.not_public.is_none());
    }

    #[test]
    fn envelope_peer_is_hop_zero_and_deduplicated() {
        let p = policies();
        let hops = [hop("185.1.2.3"), hop("10.0.0.5")];
        let o = trace(
            Some("185.1.2.3".parse().unwrap()),
            true,
            &hops,
            &p.default,
            &p.gateway,
        );
        assert_eq!(o.position, 0);
        assert_eq!(o.chain.len(), 2);
        assert_eq!(o.hop, Some(0));
    }

    #[test]
    fn private_peer_from_envelope_is_flagged() {
        let p = policies();
        let o = trace(
            Some("10.1.1.1".parse().unwrap()),
            true,
            &[],
            &p.default,
            &p.gateway,
        );
        assert!(o.not_public.is_some());
    }

    #[test]
    fn derived_chain_skips_local_plumbing() {
        let p = policies();
        let hops = [hop("127.0.0.1"), hop("192.168.1.2"), hop("64.9.9.9")];
        let o = trace(None, false, &hops, &p.default, &p.gateway);
        assert_eq!(o.ip, Some("64.9.9.9".parse().unwrap()));
        let only_private = [hop("127.0.0.1"), hop("10.9.9.9")];
        let o = trace(None, false, &only_private, &p.default, &p.gateway);
        assert_eq!(o.ip, Some("10.9.9.9".parse().unwrap()));
        assert!(o.not_public.is_none(), "internal mail is not flagged");
    }
}
