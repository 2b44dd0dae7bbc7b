//! Relaying one message to a next hop with Stalwart's `mail-send`: EHLO
//! with our hostname, STARTTLS whenever offered (required when the policy
//! says so), one RCPT per recipient so each gets its own outcome, and
//! connections kept open for the next message to the same hop.

use mail_send::smtp::message::Parameters;
use mail_send::SmtpClient;
use mailsift_core::rules::DeliveryTls;
use rustls::ClientConfig;
use smtp_proto::{EXT_8BIT_MIME, EXT_SIZE, EXT_START_TLS};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Where a message goes: `host` or `host:port` (port 25 by default).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NextHop {
    /// Name or IP literal.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::str::FromStr for NextHop {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().trim_end_matches('.');
        let (host, port) = match s.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((host, rest)) => (host, rest.strip_prefix(':')),
                None => return Err(format!("next hop `{s}`: unclosed [")),
            },
            None => match s.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                _ => (s, None),
            },
        };
        if host.is_empty() {
            return Err(format!("next hop `{s}` has no host"));
        }
        let port = match port {
            Some(p) => p
                .parse()
                .map_err(|_| format!("next hop `{s}`: `{p}` is not a port"))?,
            None => 25,
        };
        Ok(NextHop {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl std::fmt::Display for NextHop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What became of one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The next hop accepted it (`250` to the data).
    Delivered,
    /// Try again later (4xx, timeout, connection failure).
    Temporary(String),
    /// Refused for good (5xx).
    Permanent(String),
}

impl Outcome {
    fn from_reply(code: u16, text: String) -> Outcome {
        if (500..600).contains(&code) {
            Outcome::Permanent(text)
        } else {
            Outcome::Temporary(text)
        }
    }
}

/// One open connection to a next hop.
enum Connection {
    Plain(SmtpClient<TcpStream>),
    Tls(Box<SmtpClient<TlsStream<TcpStream>>>),
}

/// What the next hop offered.
struct Capabilities {
    size: bool,
    eight_bit: bool,
}

struct Idle {
    connection: Connection,
    capabilities: Capabilities,
    since: Instant,
}

/// The SMTP client side: connection reuse per next hop, TLS policy.
pub struct Relay {
    hostname: String,
    timeout: Duration,
    any_certificate: TlsConnector,
    verifying: TlsConnector,
    idle: Mutex<HashMap<(NextHop, DeliveryTls), Vec<Idle>>>,
    max_idle: Duration,
}

impl Relay {
    /// A relay presenting `hostname` in EHLO.
    pub fn new(
        hostname: &str,
        timeout: Duration,
        any_certificate: Arc<ClientConfig>,
        verifying: Arc<ClientConfig>,
    ) -> Relay {
        Relay {
            hostname: hostname.to_string(),
            timeout,
            any_certificate: TlsConnector::from(any_certificate),
            verifying: TlsConnector::from(verifying),
            idle: Mutex::default(),
            max_idle: Duration::from_secs(30),
        }
    }

    /// Sends `message` from `sender` to `recipients` at `hop`. Returns
    /// each recipient's outcome, in order.
    pub async fn send(
        &self,
        hop: &NextHop,
        tls: DeliveryTls,
        sender: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Vec<Outcome> {
        let key = (hop.clone(), tls);
        let (mut connection, capabilities) = match self.reuse(&key) {
            Some(idle) => (idle.connection, idle.capabilities),
            None => match self.connect(hop, tls).await {
                Ok(c) => c,
                Err(why) => return vec![why; recipients.len()],
            },
        };
        let body = crlf(message);
        let result = match &mut connection {
            Connection::Plain(c) => transaction(c, &capabilities, sender, recipients, &body).await,
            Connection::Tls(c) => {
                transaction(&mut **c, &capabilities, sender, recipients, &body).await
            }
        };
        match result {
            Ok(outcomes) => {
                self.keep(key, connection, capabilities);
                outcomes
            }
            // The connection is broken or in an unknown state: dropped.
            Err(outcomes) => outcomes,
        }
    }

    fn reuse(&self, key: &(NextHop, DeliveryTls)) -> Option<Idle> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(key)?;
        while let Some(c) = list.pop() {
            if c.since.elapsed() < self.max_idle {
                return Some(c);
            }
        }
        None
    }

    fn keep(
        &self,
        key: (NextHop, DeliveryTls),
        connection: Connection,
        capabilities: Capabilities,
    ) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(key).or_default();
            list.retain(|c| c.since.elapsed() < self.max_idle);
            if list.len() < 8 {
                list.push(Idle {
                    connection,
                    capabilities,
                    since: Instant::now(),
                });
            }
        }
    }

    /// Connects, reads the greeting, says EHLO, and upgrades to TLS as the
    /// policy and the next hop's offer decide.
    async fn connect(
        &self,
        hop: &NextHop,
        tls: DeliveryTls,
    ) -> Result<(Connection, Capabilities), Outcome> {
        let temporary = |what: String| Outcome::Temporary(format!("{hop}: {what}"));
        let addrs: Vec<_> = tokio::net::lookup_host((hop.host.as_str(), hop.port))
            .await
            .map_err(|e| temporary(format!("cannot resolve: {e}")))?
            .collect();
        let mut last = temporary("no address".into());
        for addr in addrs {
            match SmtpClient::connect(addr, self.timeout).await {
                Ok(mut client) => {
                    // SMTP is a dialogue of small writes: without this,
                    // Nagle and delayed ACKs add tens of ms per command.
                    let _ = client.stream.set_nodelay(true);
                    let greeting = client
                        .read()
                        .await
                        .map_err(|e| temporary(format!("greeting: {e}")))?;
                    if greeting.code != 220 {
                        return Err(Outcome::from_reply(
                            greeting.code,
                            format!("{hop}: greeting {}", reply_text(&greeting)),
                        ));
                    }
                    return self.hello(client, hop, tls).await;
                }
                Err(e) => last = temporary(format!("cannot connect to {addr}: {e}")),
            }
        }
        Err(last)
    }

    async fn hello(
        &self,
        mut client: SmtpClient<TcpStream>,
        hop: &NextHop,
        tls: DeliveryTls,
    ) -> Result<(Connection, Capabilities), Outcome> {
        let failed = |what: String| Outcome::Temporary(format!("{hop}: {what}"));
        let ehlo = client
            .ehlo(&self.hostname)
            .await
            .map_err(|e| failed(format!("EHLO: {e}")))?;
        if !ehlo.has_capability(EXT_START_TLS) {
            if tls != DeliveryTls::Opportunistic {
                return Err(failed(
                    "does not offer STARTTLS, which the domain's policy requires".into(),
                ));
            }
            let capabilities = Capabilities {
                size: ehlo.has_capability(EXT_SIZE),
                eight_bit: ehlo.has_capability(EXT_8BIT_MIME),
            };
            return Ok((Connection::Plain(client), capabilities));
        }
        let connector = match tls {
            DeliveryTls::Verify => &self.verifying,
            DeliveryTls::Opportunistic | DeliveryTls::Required => &self.any_certificate,
        };
        let mut secure = client
            .start_tls(connector, &hop.host)
            .await
            .map_err(|e| failed(format!("STARTTLS: {e}")))?;
        let ehlo = secure
            .ehlo(&self.hostname)
            .await
            .map_err(|e| failed(format!("EHLO after STARTTLS: {e}")))?;
        let capabilities = Capabilities {
            size: ehlo.has_capability(EXT_SIZE),
            eight_bit: ehlo.has_capability(EXT_8BIT_MIME),
        };
        Ok((Connection::Tls(Box::new(secure)), capabilities))
    }

    /// True when a connection to `hop` used TLS, for tests and logs.
    pub fn idle_tls(&self, hop: &NextHop) -> Option<bool> {
        let idle = self.idle.lock().ok()?;
        idle.iter()
            .find(|((h, _), _)| h == hop)
            .and_then(|(_, list)| list.last())
            .map(|c| matches!(c.connection, Connection::Tls(_)))
    }
}

/// One transaction on an open connection. `Err` carries the outcomes when
/// the connection cannot be used again.
async fn transaction<T>(
    client: &mut SmtpClient<T>,
    capabilities: &Capabilities,
    sender: &str,
    recipients: &[String],
    body: &[u8],
) -> Result<Vec<Outcome>, Vec<Outcome>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let broken = |what: String, n| vec![Outcome::Temporary(what); n];
    let mut params = Parameters::new();
    let size = body.len().to_string();
    if capabilities.size {
        params.add(("SIZE", size.as_str()));
    }
    if capabilities.eight_bit && !body.is_ascii() {
        params.add(("BODY", "8BITMIME"));
    }
    match client.mail_from(sender, &params).await {
        Ok(()) => {}
        Err(mail_send::Error::UnexpectedReply(r)) => {
            let outcome = Outcome::from_reply(r.code, format!("MAIL FROM: {}", reply_text(&r)));
            let _ = client.rset().await;
            return Ok(vec![outcome; recipients.len()]);
        }
        Err(e) => return Err(broken(format!("MAIL FROM: {e}"), recipients.len())),
    }
    let mut outcomes = Vec::with_capacity(recipients.len());
    let mut accepted = Vec::new();
    for (i, rcpt) in recipients.iter().enumerate() {
        match client.rcpt_to(rcpt, &Parameters::new()).await {
            Ok(()) => {
                accepted.push(i);
                outcomes.push(Outcome::Delivered);
            }
            Err(mail_send::Error::UnexpectedReply(r)) => {
                outcomes.push(Outcome::from_reply(
                    r.code,
                    format!("RCPT TO: {}", reply_text(&r)),
                ));
            }
            Err(e) => return Err(broken(format!("RCPT TO: {e}"), recipients.len())),
        }
    }
    if accepted.is_empty() {
        return match client.rset().await {
            Ok(()) => Ok(outcomes),
            Err(_) => Err(outcomes),
        };
    }
    // mail-send ends the data with CRLF.CRLF itself.
    let data = body.strip_suffix(b"\r\n").unwrap_or(body);
    let after_data = match client.data(data).await {
        Ok(_) => None,
        Err(mail_send::Error::UnexpectedReply(r)) => Some(Outcome::from_reply(
            r.code,
            format!("DATA: {}", reply_text(&r)),
        )),
        Err(e) => {
            // Whether the next hop took it is unknown: try again (the next
            // hop de-duplicates by Message-ID, or delivers twice: the
            // at-least-once side of the trade).
            for &i in &accepted {
                outcomes[i] = Outcome::Temporary(format!("DATA: {e}"));
            }
            return Err(outcomes);
        }
    };
    if let Some(outcome) = after_data {
        for &i in &accepted {
            outcomes[i] = outcome.clone();
        }
    }
    Ok(outcomes)
}

fn reply_text(r: &smtp_proto::Response<String>) -> String {
    let [a, b, c] = r.esc;
    if a == 0 {
        format!("{} {}", r.code, r.message)
    } else {
        format!("{} {a}.{b}.{c} {}", r.code, r.message)
    }
}

/// The message with every bare LF made CRLF (SMTP's line ending); most
/// messages need nothing done.
pub fn crlf(message: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let bare = message
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || message[i - 1] != b'\r'));
    if !bare {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut out = Vec::with_capacity(message.len() + message.len() / 50);
    for (i, &b) in message.iter().enumerate() {
        if b == b'\n' && (i == 0 || message[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    std::borrow::Cow::Owned(out)
}

/// A reply from the next hop, kept for a DSN's diagnostic.
pub fn diagnostic(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Delivered => None,
        Outcome::Temporary(s) | Outcome::Permanent(s) => Some(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_hops_parse() {
        let h: NextHop = "MX.Example.com".parse().unwrap();
        assert_eq!((h.host.as_str(), h.port), ("mx.example.com", 25));
        let h: NextHop = "127.0.0.1:2525".parse().unwrap();
        assert_eq!((h.host.as_str(), h.port), ("127.0.0.1", 2525));
        let h: NextHop = "[::1]:26".parse().unwrap();
        assert_eq!((h.host.as_str(), h.port), ("::1", 26));
        assert_eq!(h.to_string(), "[::1]:26");
        assert!("host:port".parse::<NextHop>().is_err());
        assert!("".parse::<NextHop>().is_err());
    }

    #[test]
    fn bare_line_feeds_become_crlf() {
        assert_eq!(&*crlf(b"a\r\nb\r\n"), b"a\r\nb\r\n");
        assert_eq!(&*crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
    }
}
