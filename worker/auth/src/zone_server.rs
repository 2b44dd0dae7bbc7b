//! A loopback DNS server that answers from a recorded [`Zone`].
//!
//! Replay points the same resolver the worker uses at this server, so a
//! recorded verdict goes through exactly the live code path (hickory,
//! mail-auth, our caches), not a look-alike: NXDOMAIN, NODATA, CNAME chains
//! and timeouts (no reply at all) behave as they would on the wire.

use super::zone::{Answer, Record, RecordType, Zone};
use mail_auth::hickory_resolver::proto::op::{Edns, Message, MessageType, ResponseCode};
use mail_auth::hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, SOA, TXT};
use mail_auth::hickory_resolver::proto::rr::{
    Name, RData, Record as WireRecord, RecordType as WireType,
};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// TTL of served records: long enough that one replay never re-asks.
const TTL: u32 = 86_400;

/// A running zone server; stops when dropped.
pub struct ZoneServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ZoneServer {
    /// Binds an ephemeral UDP port on 127.0.0.1 and serves `zone` from it.
    /// Must be called inside a tokio runtime.
    pub async fn start(zone: Arc<Zone>) -> std::io::Result<ZoneServer> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                if let Some(reply) = respond(&zone, &buf[..len]) {
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        Ok(ZoneServer { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ZoneServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The wire reply to one query, or `None` for no reply (a recorded timeout,
/// or a datagram that is not a query).
pub fn respond(zone: &Zone, query: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        reply.set_edns(edns);
    }
    let Some(q) = request.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply.to_vec().ok();
    };
    reply.add_query(q.clone());
    let qtype = match q.query_type() {
        WireType::TXT => RecordType::Txt,
        WireType::A => RecordType::A,
        WireType::AAAA => RecordType::Aaaa,
        WireType::MX => RecordType::Mx,
        WireType::PTR => RecordType::Ptr,
        WireType::CNAME => RecordType::Cname,
        // Anything else (SPF type 99, ANY, ...): the name's existence only.
        _ => {
            return match zone.lookup(&q.name().to_ascii(), RecordType::Cname) {
                Answer::NxDomain => {
                    reply.metadata.response_code = ResponseCode::NXDomain;
                    reply.to_vec().ok()
                }
                Answer::Timeout => None,
                _ => reply.to_vec().ok(),
            };
        }
    };
    match zone.lookup(&q.name().to_ascii(), qtype) {
        Answer::Timeout => return None,
        Answer::NxDomain => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            reply.add_authority(negative_soa());
        }
        Answer::NoData => {
            reply.add_authority(negative_soa());
        }
        Answer::Records(records) => {
            for (owner, record) in records {
                // The first owner is the query name as asked (keeps its case
                // and escapes); CNAME targets are parsed from the zone.
                let name = if Name::from_str_relaxed(&owner)
                    .is_ok_and(|n| n.eq_ignore_root_case(q.name()))
                {
                    q.name().clone()
                } else {
                    match Name::from_str_relaxed(format!("{owner}.")) {
                        Ok(n) => n,
                        Err(_) => continue,
                    }
                };
                if let Some(data) = rdata(&record) {
                    reply.add_answer(WireRecord::from_rdata(name, TTL, data));
                }
            }
        }
    }
    reply.to_vec().ok()
}

/// An SOA in the authority section lets resolvers cache negative answers
/// (RFC 2308), so replay asks about a missing name once.
fn negative_soa() -> WireRecord {
    let soa = SOA::new(Name::root(), Name::root(), 1, 3600, 600, 86_400, TTL);
    WireRecord::from_rdata(Name::root(), TTL, RData::SOA(soa))
}

fn rdata(record: &Record) -> Option<RData> {
    let name = |host: &str| Name::from_str_relaxed(format!("{host}.")).ok();
    Some(match record {
        Record::Txt(strings) => {
            // A character-string holds at most 255 bytes.
            let pieces: Vec<&[u8]> = strings
                .iter()
                .flat_map(|s| {
                    let bytes = s.as_bytes();
                    if bytes.is_empty() {
                        vec![bytes]
                    } else {
                        bytes.chunks(255).collect()
                    }
                })
                .collect();
            RData::TXT(TXT::from_bytes(pieces))
        }
        Record::A(ip) => RData::A(A(*ip)),
        Record::Aaaa(ip) => RData::AAAA(AAAA(*ip)),
        Record::Mx(pref, host) => RData::MX(MX::new(*pref, name(host)?)),
        Record::Ptr(host) => RData::PTR(PTR(name(host)?)),
        Record::Cname(host) => RData::CNAME(CNAME(name(host)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::hickory_resolver::proto::op::Query;

    fn ask(zone: &Zone, name: &str, t: WireType) -> Option<Message> {
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_str_relaxed(name).unwrap(), t));
        let bytes = respond(zone, &q.to_vec().unwrap())?;
        Some(Message::from_vec(&bytes).unwrap())
    }

    #[test]
    fn answers_records_nxdomain_and_silence() {
        let zone = Zone::parse(
            "a.example:\n  - TXT: \"v=spf1 -all\"\n  - A: 192.0.2.1\nslow.example:\n  - TIMEOUT\n",
        )
        .unwrap();
        let r = ask(&zone, "a.example.", WireType::TXT).unwrap();
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        let r = ask(&zone, "A.Example.", WireType::A).unwrap();
        assert_eq!(r.answers.len(), 1);
        let r = ask(&zone, "a.example.", WireType::MX).unwrap();
        assert!(r.answers.is_empty());
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        let r = ask(&zone, "b.example.", WireType::A).unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
        assert!(ask(&zone, "slow.example.", WireType::TXT).is_none());
        assert!(respond(&zone, b"not dns").is_none());
    }
}
