//! The origin IP (found by [`crate::relay::trace`]): block lists, bogons
//! where a public address belongs, missing or dynamic-looking reverse DNS.

use super::{Check, Context, Findings};
use crate::envelope::Direction;
use crate::finding::Finding;
use std::net::IpAddr;

/// Registration.
pub const CHECK: Check = Check {
    name: "ip",
    run,
    rules: RULES,
};

crate::rules! {
    IP_BLOCKLISTED: Spam, 10.0, "origin IP in a block-listed range (rules/ip.toml)";
    IP_ORIGIN_NOT_PUBLIC: Spam, 2.0, "origin IP is private or bogon where a public one belongs";
    IP_NO_RDNS: Spam, 1.0, "origin IP has no reverse DNS (Received says `unknown`)";
    IP_DYNAMIC_RDNS: Spam, 1.5, "origin reverse DNS looks like a dynamic/residential address";
    IP_HELO_BARE_IP: Spam, 1.0, "HELO is a bare IP address, not a name or [literal]";
}

const DYNAMIC_TOKENS: &[&str] = &[
    "dsl",
    "adsl",
    "xdsl",
    "dyn",
    "dynamic",
    "dhcp",
    "pool",
    "ppp",
    "pppoe",
    "dialup",
    "dial",
    "cable",
    "cpe",
    "broadband",
    "customer",
    "client",
    "residential",
    "nat",
    "modem",
    "wireless",
];

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut f = Findings::new(ctx.rules);
    let Some(ip) = ctx.origin.ip else {
        return Vec::new();
    };
    if let Some((net, _)) = ctx.rules.ip.block.lookup(ip) {
        f.add(IP_BLOCKLISTED, format!("origin {ip} in blocked {net}"));
    }
    if ctx.direction == Direction::Inbound {
        if let Some(why) = ctx.origin.not_public {
            f.add(
                IP_ORIGIN_NOT_PUBLIC,
                format!("origin {ip} is {why}; chain: {}", chain(ctx)),
            );
        }
    }
    if let Some(hop) = ctx.origin.hop.and_then(|i| ctx.hops.get(i)) {
        match hop.rdns.as_deref() {
            Some("unknown") => f.add(
                IP_NO_RDNS,
                format!("`{}`", crate::text::clip(&hop.raw, 100)),
            ),
            Some(rdns) if looks_dynamic(rdns, ip) => {
                f.add(IP_DYNAMIC_RDNS, format!("origin {ip} reverse DNS {rdns}"))
            }
            _ => {}
        }
        if let Some(helo) = &hop.helo {
            if helo.parse::<IpAddr>().is_ok() && !hop.raw.contains(&format!("[{helo}]")) {
                f.add(IP_HELO_BARE_IP, format!("HELO {helo}"));
            }
        }
    }
    f.into_vec()
}

fn chain(ctx: &Context<'_>) -> String {
    ctx.origin
        .chain
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" ← ")
}

/// Residential names carry access-technology words or the address itself.
fn looks_dynamic(rdns: &str, ip: IpAddr) -> bool {
    let tokens: Vec<&str> = rdns.split(['.', '-']).filter(|t| !t.is_empty()).collect();
    if tokens.len() < 3 {
        return false;
    }
    let head = &tokens[..tokens.len() - 2];
    if head.iter().any(|t| {
        let alpha = t.trim_end_matches(|c: char| c.is_ascii_digit());
        DYNAMIC_TOKENS.contains(&alpha)
    }) {
        return true;
    }
    if let IpAddr::V4(v4) = ip {
        let octets = v4.octets().map(|o| o.to_string());
        let found = octets.iter().filter(|o| head.contains(&o.as_str())).count();
        return found >= 3;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{ids, run};
    use crate::envelope::Envelope;

    fn msg(received: &str) -> String {
        format!("Received: {received}\r\nFrom: a@a.example\r\nTo: b@contoso.com\r\nSubject: x\r\n\r\nbody\r\n")
    }

    #[test]
    fn dynamic_names() {
        let ip: IpAddr = "81.2.3.4".parse().unwrap();
        assert!(looks_dynamic("81-2-3-4.dyn.example.net", ip));
        assert!(looks_dynamic("adsl-81-2-3-4.example.net", ip));
        assert!(looks_dynamic("host4.3.2.81.example.net", ip));
        assert!(!looks_dynamic("mail.example.net", ip));
        assert!(!looks_dynamic("mail-ed1-f41.google.com", ip));
    }

    #[test]
    fn unknown_rdns_and_blocklist() {
        let f = run(
            &CHECK,
            &msg("from x (unknown [185.234.216.9]) by mx.contoso.com; Tue, 12 Mar 2024 10:15:02 +0000"),
            Envelope::default(),
        );
        assert!(ids(&f).contains(&"IP_NO_RDNS"), "{f:?}");
    }

    #[test]
    fn private_peer_is_not_public() {
        let env = Envelope {
            peer_ip: Some("10.0.0.8".parse().unwrap()),
            ..Envelope::default()
        };
        let f = run(&CHECK, &msg("from x (x [10.0.0.8]) by mx"), env);
        assert!(ids(&f).contains(&"IP_ORIGIN_NOT_PUBLIC"), "{f:?}");
    }
}
