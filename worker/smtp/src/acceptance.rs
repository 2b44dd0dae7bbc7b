//! What the edge accepts, decided from the policy alone (no I/O): never an
//! open relay, the inbound connector lockdown, outbound only for the
//! tenant's own domains, no routing loops, no oversized messages.

use crate::reply::Reply;
use mailsift_core::ipset::IpSet;
use mailsift_core::message::address_domain;
use mailsift_core::rules::PolicySet;
use std::net::IpAddr;

/// A refusal and its short reason (for metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reply.
    pub reply: Reply,
    /// `listener_lockdown`, `relay_denied`, `lockdown`, ...
    pub reason: &'static str,
}

fn refuse(reason: &'static str, code: u16, status: &'static str, text: String) -> Refusal {
    Refusal {
        reply: Reply::new(code, status, text),
        reason,
    }
}

/// Whom the transaction is for, once MAIL FROM was accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the Internet to the customers' domains.
    Inbound,
    /// From a tenant's own outbound relay: may reach any domain.
    Outbound {
        /// The tenant's domains.
        tenant: Vec<String>,
    },
}

/// At connect: a listener with an allow list admits only those ranges.
pub fn connect(peer: IpAddr, allow: Option<&IpSet>) -> Result<(), Refusal> {
    match allow {
        Some(set) if !set.contains(peer) => Err(refuse(
            "listener_lockdown",
            554,
            "5.7.1",
            format!("{peer} is not allowed to connect to this listener"),
        )),
        _ => Ok(()),
    }
}

/// At MAIL FROM: a tenant's outbound relay may send only as the tenant's
/// own domains (never as anyone, and not the null sender).
pub fn mail_from(policy: &PolicySet, peer: IpAddr, sender: &str) -> Result<Direction, Refusal> {
    let Some(tenant) = policy.outbound_tenant(peer) else {
        return Ok(Direction::Inbound);
    };
    let owned =
        address_domain(sender).is_some_and(|d| PolicySet::owns(tenant, &d.to_ascii_lowercase()));
    if !owned {
        return Err(refuse(
            "outbound_sender",
            550,
            "5.7.1",
            format!(
                "{peer} relays outbound for {} only; sender <{sender}> is not one of its domains",
                tenant.join(", ")
            ),
        ));
    }
    Ok(Direction::Outbound {
        tenant: tenant.to_vec(),
    })
}

/// At RCPT TO: inbound mail only for the policy's domains (no relaying),
/// and for a locked-down domain only from its connector's ranges.
pub fn rcpt_to(
    policy: &PolicySet,
    peer: IpAddr,
    direction: &Direction,
    recipient: &str,
) -> Result<(), Refusal> {
    let Some(domain) = address_domain(recipient).map(str::to_ascii_lowercase) else {
        return Err(refuse(
            "bad_recipient",
            550,
            "5.1.3",
            format!("<{recipient}> is not a mailbox at a domain"),
        ));
    };
    if let Direction::Outbound { .. } = direction {
        return Ok(());
    }
    let Some(domain_policy) = policy.for_domain(&domain) else {
        return Err(refuse(
            "relay_denied",
            550,
            "5.7.1",
            format!("relaying denied: {domain} is not served here"),
        ));
    };
    if !domain_policy.accept_from.is_empty() && !domain_policy.accept_from.contains(peer) {
        return Err(refuse(
            "lockdown",
            550,
            "5.7.1",
            format!(
                "{} accepts mail only through its connector; {peer} is not one of its ranges",
                domain_policy.domain
            ),
        ));
    }
    Ok(())
}

/// At the end of data: a message over the size limit, or that has crossed
/// too many hops (a routing loop), is refused.
pub fn message(bytes: &[u8], max_bytes: usize, max_hops: usize) -> Result<(), Refusal> {
    if bytes.len() > max_bytes {
        return Err(too_big(max_bytes));
    }
    let hops = received_headers(bytes);
    if hops > max_hops {
        return Err(refuse(
            "loop",
            554,
            "5.4.6",
            format!("routing loop detected: {hops} Received headers (limit {max_hops})"),
        ));
    }
    Ok(())
}

/// The refusal for a message over `max_bytes`.
pub fn too_big(max_bytes: usize) -> Refusal {
    refuse(
        "too_big",
        552,
        "5.3.4",
        format!("message too big: the limit is {max_bytes} bytes"),
    )
}

/// `Received:` fields in the header block.
fn received_headers(message: &[u8]) -> usize {
    let mut n = 0;
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:") {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn policy() -> PolicySet {
        PolicySet::parse(
            Path::new("policy.toml"),
            r#"
[default]
[domains."contoso.com"]
outbound_relays = ["203.0.113.0/28"]
[domains."fabrikam.com"]
accept_from = ["40.107.0.0/16"]
"#,
        )
        .expect("policy")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn table() {
        let p = policy();
        let inbound = Direction::Inbound;
        let outbound = mail_from(&p, ip("203.0.113.5"), "ceo@contoso.com").expect("tenant sender");
        // (peer, direction, recipient, expected reason or None)
        let cases = [
            ("198.51.100.9", &inbound, "bob@contoso.com", None),
            ("198.51.100.9", &inbound, "Bob@Sub.Contoso.COM", None),
            (
                "198.51.100.9",
                &inbound,
                "x@example.org",
                Some("relay_denied"),
            ),
            (
                "198.51.100.9",
                &inbound,
                "postmaster",
                Some("bad_recipient"),
            ),
            (
                "198.51.100.9",
                &inbound,
                "ann@fabrikam.com",
                Some("lockdown"),
            ),
            ("40.107.3.4", &inbound, "ann@fabrikam.com", None),
            ("203.0.113.5", &outbound, "friend@example.org", None),
        ];
        for (peer, direction, rcpt, want) in cases {
            let got = rcpt_to(&p, ip(peer), direction, rcpt)
                .err()
                .map(|r| r.reason);
            assert_eq!(got, want, "{peer} → {rcpt}");
        }
        for (sender, want) in [
            ("ceo@contoso.com", None),
            ("x@mail.contoso.com", None),
            ("x@example.org", Some("outbound_sender")),
            ("", Some("outbound_sender")),
        ] {
            let got = mail_from(&p, ip("203.0.113.5"), sender)
                .err()
                .map(|r| r.reason);
            assert_eq!(got, want, "{sender}");
        }
        assert_eq!(
            mail_from(&p, ip("198.51.100.9"), ""),
            Ok(Direction::Inbound)
        );
    }

    #[test]
    fn listener_lockdown_size_and_loops() {
        let allow = IpSet::from_nets(&["10.0.0.0/8".parse().expect("net")]);
        assert!(connect(ip("10.1.2.3"), Some(&allow)).is_ok());
        assert_eq!(
            connect(ip("192.0.2.1"), Some(&allow))
                .unwrap_err()
                .reply
                .code,
            554
        );
        assert!(connect(ip("192.0.2.1"), None).is_ok());
        let ok = b"Received: a\r\nReceived: b\r\nSubject: x\r\n\r\nReceived: body\r\n";
        assert!(message(ok, 1000, 2).is_ok());
        assert_eq!(message(ok, 1000, 1).unwrap_err().reason, "loop");
        assert_eq!(message(ok, 10, 5).unwrap_err().reply.code, 552);
    }
}
