//! One SMTP connection at the edge: Stalwart's `smtp-proto` parses the
//! commands and the data (no I/O of its own); this module holds the state
//! (HELO, MAIL FROM, RCPT TO), the limits, STARTTLS, and what is queued.

use crate::acceptance::{self, Direction, Refusal};
use crate::edge::{ListenerSpec, Shared};
use crate::reply::Reply;
use mailsift_core::message::rfc5322_date;
use mailsift_core::Envelope;
use mailsift_telemetry::events::{SmtpConnection, SmtpMessage, SmtpRefused, SmtpSession};
use smtp_proto::request::receiver::{
    BdatReceiver, DataReceiver, DummyDataReceiver, RequestReceiver,
};
use smtp_proto::{Error as ParseError, Request};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Anything a session reads and writes: TCP, a PROXY-protocol stream, TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What the bytes coming in are.
enum Reading {
    /// Commands.
    Commands(RequestReceiver),
    /// The message after DATA.
    Data(DataReceiver),
    /// A BDAT chunk.
    Chunk(BdatReceiver),
    /// The rest of an oversized message (then `552`) or a chunk sent out
    /// of sequence (already answered), thrown away.
    Discard(DummyDataReceiver, Option<Refusal>),
}

/// Why a session ends.
enum Close {
    /// The client said QUIT, or hung up.
    Done,
    /// We ended it with this reply.
    With(Reply),
}

/// One connection's state.
pub(crate) struct Session {
    shared: Arc<Shared>,
    peer: IpAddr,
    tls: bool,
    helo: Option<String>,
    esmtp: bool,
    direction: Option<Direction>,
    mail_from: Option<String>,
    rcpts: Vec<String>,
    data: Vec<u8>,
    commands: usize,
    errors: usize,
}

static QUEUE_IDS: AtomicU64 = AtomicU64::new(0);

/// A queue id unique to this edge: time, process and a counter.
fn queue_id() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let n = QUEUE_IDS.fetch_add(1, Ordering::Relaxed);
    format!(
        "{micros:x}{:04x}{:04x}",
        std::process::id() & 0xffff,
        n & 0xffff
    )
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Session {
    /// Refuses a connection over the edge's connection limit.
    pub(crate) async fn refuse_busy(shared: Arc<Shared>, mut stream: TcpStream, addr: SocketAddr) {
        let reply = Reply::new(
            421,
            "4.7.0",
            format!("{} too busy, try again later", shared.cfg.hostname),
        );
        shared.refused(addr.ip(), "too many connections");
        let _ = stream.write_all(&reply.to_wire()).await;
    }

    /// Serves one connection to its end.
    pub(crate) async fn run(
        shared: Arc<Shared>,
        spec: Arc<ListenerSpec>,
        stream: TcpStream,
        addr: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) {
        let (mut io, peer): (Box<dyn Io>, IpAddr) = if spec.proxy {
            let config = proxy_header::ParseConfig {
                include_tlvs: false,
                allow_v1: true,
                allow_v2: true,
            };
            let proxied = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                proxy_header::io::ProxiedStream::create_from_tokio(stream, config),
            )
            .await;
            match proxied {
                Ok(Ok(p)) => {
                    let peer = p
                        .proxy_header()
                        .proxied_address()
                        .map_or(addr.ip(), |a| a.source.ip());
                    (Box::new(p), peer)
                }
                _ => {
                    shared.refused(addr.ip(), "no valid PROXY protocol header");
                    return;
                }
            }
        } else {
            (Box::new(stream), addr.ip())
        };
        if let Err(r) = acceptance::connect(peer, Some(&spec.allow).filter(|a| !a.is_empty())) {
            shared.refused(peer, &r.reply.text);
            let _ = io.write_all(&r.reply.to_wire()).await;
            return;
        }
        if !shared.enter(peer) {
            shared.refused(peer, "too many connections from this address");
            let reply = Reply::new(421, "4.7.0", "too many connections from your address");
            let _ = io.write_all(&reply.to_wire()).await;
            return;
        }
        SmtpConnection {
            peer: &peer.to_string(),
            refused: None,
        }
        .emit(&shared.telemetry);
        SmtpSession(1).emit(&shared.telemetry);
        let mut session = Session {
            shared: shared.clone(),
            peer,
            tls: false,
            helo: None,
            esmtp: false,
            direction: None,
            mail_from: None,
            rcpts: Vec::new(),
            data: Vec::new(),
            commands: 0,
            errors: 0,
        };
        let close = session.converse(&mut io, shutdown).await;
        if let Close::With(reply) = close {
            let _ = io.write_all(&reply.to_wire()).await;
        }
        let _ = io.shutdown().await;
        SmtpSession(-1).emit(&shared.telemetry);
        shared.leave(peer);
    }

    /// The conversation: greeting, then commands and data until the end.
    async fn converse(
        &mut self,
        io: &mut Box<dyn Io>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Close {
        let cfg = self.shared.cfg.clone();
        let greeting = Reply::new(
            220,
            "2.0.0",
            format!("{} ESMTP mailsift ready", cfg.hostname),
        );
        if io.write_all(&greeting.to_wire()).await.is_err() {
            return Close::Done;
        }
        let ends = Instant::now() + cfg.limits.session_timeout;
        let mut reading = Reading::Commands(RequestReceiver::default());
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = tokio::select! {
                read = tokio::time::timeout(cfg.limits.idle_timeout, io.read(&mut buf)) => match read {
                    Ok(Ok(0)) | Ok(Err(_)) => return Close::Done,
                    Ok(Ok(n)) => n,
                    Err(_) => return Close::With(Reply::new(421, "4.4.2", format!("{} idle too long, closing", cfg.hostname))),
                },
                _ = tokio::time::sleep_until(ends.into()) => {
                    return Close::With(Reply::new(421, "4.4.2", format!("{} session time limit reached, closing", cfg.hostname)));
                }
                _ = shutdown.changed(), if matches!(reading, Reading::Commands(_)) => {
                    if *shutdown.borrow() {
                        return Close::With(Reply::new(421, "4.3.2", format!("{} shutting down, try again later", cfg.hostname)));
                    }
                    continue;
                }
            };
            let mut input = buf[..n].iter();
            let mut out = Vec::new();
            loop {
                match &mut reading {
                    Reading::Commands(receiver) => match receiver.ingest(&mut input) {
                        Ok(request) => {
                            let request = request.into_owned();
                            self.commands += 1;
                            if self.commands > cfg.limits.max_commands {
                                let _ = io.write_all(&out).await;
                                return Close::With(Reply::new(
                                    421,
                                    "4.7.0",
                                    "too many commands, closing",
                                ));
                            }
                            match self.command(request, &mut out).await {
                                Next::Continue => {}
                                Next::Data => {
                                    let mut primed = DataReceiver::new();
                                    // The DATA command's own CRLF: a first
                                    // line of "." ends an empty message.
                                    primed.ingest(&mut b"\r\n".iter(), &mut Vec::new());
                                    reading = Reading::Data(primed);
                                }
                                Next::Chunk(size, last) => {
                                    reading = if self.data.len().saturating_add(size)
                                        > cfg.limits.max_message_bytes
                                    {
                                        Reading::Discard(
                                            DummyDataReceiver::new_bdat(size),
                                            Some(acceptance::too_big(cfg.limits.max_message_bytes)),
                                        )
                                    } else {
                                        Reading::Chunk(BdatReceiver::new(size, last))
                                    };
                                }
                                Next::StartTls => {
                                    if io.write_all(&out).await.is_err() {
                                        return Close::Done;
                                    }
                                    // Bytes pipelined after STARTTLS are
                                    // dropped (CVE-2011-0411).
                                    let Some(tls) = cfg.tls.clone() else {
                                        return Close::Done;
                                    };
                                    let plain = std::mem::replace(io, Box::new(tokio::io::empty()));
                                    match tokio_rustls::TlsAcceptor::from(tls).accept(plain).await {
                                        Ok(secure) => *io = Box::new(secure),
                                        Err(_) => return Close::Done,
                                    }
                                    self.tls = true;
                                    self.reset_helo();
                                    reading = Reading::Commands(RequestReceiver::default());
                                    out.clear();
                                    break;
                                }
                                Next::SkipChunk(size) => {
                                    reading =
                                        Reading::Discard(DummyDataReceiver::new_bdat(size), None);
                                }
                                Next::Quit => {
                                    let _ = io.write_all(&out).await;
                                    return Close::Done;
                                }
                            }
                        }
                        Err(ParseError::NeedsMoreData { .. }) => break,
                        Err(e) => {
                            self.errors += 1;
                            out.extend(parse_error_reply(&e).to_wire());
                            if self.errors > cfg.limits.max_errors {
                                let _ = io.write_all(&out).await;
                                return Close::With(Reply::new(
                                    421,
                                    "4.7.0",
                                    "too many errors, closing",
                                ));
                            }
                        }
                    },
                    Reading::Data(receiver) => {
                        if receiver.ingest(&mut input, &mut self.data) {
                            let reply = self.end_of_data().await;
                            out.extend(reply.to_wire());
                            reading = Reading::Commands(RequestReceiver::default());
                        } else if self.data.len() > cfg.limits.max_message_bytes {
                            let discard = DummyDataReceiver::new_data(receiver);
                            self.data = Vec::new();
                            reading = Reading::Discard(
                                discard,
                                Some(acceptance::too_big(cfg.limits.max_message_bytes)),
                            );
                        } else {
                            break;
                        }
                    }
                    Reading::Chunk(receiver) => {
                        if receiver.ingest(&mut input, &mut self.data) {
                            let reply = if receiver.is_last {
                                self.end_of_data().await
                            } else {
                                Reply::new(
                                    250,
                                    "2.0.0",
                                    format!("{} octets received", self.data.len()),
                                )
                            };
                            out.extend(reply.to_wire());
                            reading = Reading::Commands(RequestReceiver::default());
                        } else {
                            break;
                        }
                    }
                    Reading::Discard(receiver, refusal) => {
                        if receiver.ingest(&mut input) {
                            if let Some(refusal) = refusal {
                                self.refuse(refusal);
                                out.extend(refusal.reply.to_wire());
                                self.reset_transaction();
                            }
                            reading = Reading::Commands(RequestReceiver::default());
                        } else {
                            break;
                        }
                    }
                }
                if input.as_slice().is_empty()
                    && matches!(
                        reading,
                        Reading::Commands(_) | Reading::Data(_) | Reading::Discard(..)
                    )
                {
                    break;
                }
            }
            if !out.is_empty() && (io.write_all(&out).await.is_err() || io.flush().await.is_err()) {
                return Close::Done;
            }
        }
    }

    fn reset_transaction(&mut self) {
        self.direction = None;
        self.mail_from = None;
        self.rcpts.clear();
        self.data = Vec::new();
    }

    fn reset_helo(&mut self) {
        self.helo = None;
        self.esmtp = false;
        self.reset_transaction();
    }

    fn refuse(&self, refusal: &Refusal) {
        SmtpRefused {
            peer: &self.peer.to_string(),
            reason: refusal.reason,
            reply: refusal.reply.to_string().trim_end(),
        }
        .emit(&self.shared.telemetry);
    }

    /// One command; replies are appended to `out` (pipelining writes them
    /// together).
    async fn command(&mut self, request: Request<String>, out: &mut Vec<u8>) -> Next {
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        let hostname = &cfg.hostname;
        let reply = match request {
            Request::Ehlo { host } => {
                self.reset_transaction();
                self.helo = Some(host.clone());
                self.esmtp = true;
                out.extend(self.ehlo_reply(&host));
                return Next::Continue;
            }
            Request::Helo { host } => {
                self.reset_transaction();
                self.helo = Some(host);
                self.esmtp = false;
                Reply::new(250, "2.0.0", hostname.clone())
            }
            Request::Lhlo { .. } => Reply::new(500, "5.5.1", "LMTP is not spoken here"),
            Request::StartTls => {
                if self.tls {
                    Reply::new(503, "5.5.1", "TLS already active")
                } else if cfg.tls.is_none() {
                    Reply::new(454, "4.7.0", "TLS not available")
                } else {
                    out.extend(Reply::new(220, "2.0.0", "ready to start TLS").to_wire());
                    return Next::StartTls;
                }
            }
            Request::Mail { from } => {
                if self.helo.is_none() {
                    Reply::new(503, "5.5.1", "send EHLO or HELO first")
                } else if self.mail_from.is_some() {
                    Reply::new(503, "5.5.1", "sender already given")
                } else if from.size > cfg.limits.max_message_bytes {
                    let refusal = acceptance::too_big(cfg.limits.max_message_bytes);
                    self.refuse(&refusal);
                    refusal.reply
                } else {
                    let engine = self.shared.engine.load();
                    match acceptance::mail_from(&engine.rules().policy, self.peer, &from.address) {
                        Ok(direction) => {
                            self.direction = Some(direction);
                            self.mail_from = Some(from.address);
                            Reply::new(250, "2.1.0", "sender ok")
                        }
                        Err(refusal) => {
                            self.refuse(&refusal);
                            refusal.reply
                        }
                    }
                }
            }
            Request::Rcpt { to } => match &self.direction {
                None => Reply::new(503, "5.5.1", "send MAIL FROM first"),
                Some(_) if self.rcpts.len() >= cfg.limits.max_recipients => Reply::new(
                    452,
                    "4.5.3",
                    "too many recipients; send the rest in another message",
                ),
                Some(direction) => {
                    let engine = self.shared.engine.load();
                    match acceptance::rcpt_to(
                        &engine.rules().policy,
                        self.peer,
                        direction,
                        &to.address,
                    ) {
                        Ok(()) => {
                            self.rcpts.push(to.address);
                            Reply::new(250, "2.1.5", "recipient ok")
                        }
                        Err(refusal) => {
                            self.refuse(&refusal);
                            refusal.reply
                        }
                    }
                }
            },
            Request::Data => {
                if self.mail_from.is_none() {
                    Reply::new(503, "5.5.1", "send MAIL FROM first")
                } else if self.rcpts.is_empty() {
                    Reply::new(554, "5.5.1", "no valid recipients")
                } else {
                    self.data = Vec::new();
                    out.extend(b"354 end data with <CR><LF>.<CR><LF>\r\n");
                    return Next::Data;
                }
            }
            Request::Bdat {
                chunk_size,
                is_last,
            } => {
                if self.mail_from.is_none() || self.rcpts.is_empty() {
                    // The chunk still follows: read and drop it.
                    out.extend(
                        Reply::new(503, "5.5.1", "send MAIL FROM and RCPT TO first").to_wire(),
                    );
                    return Next::SkipChunk(chunk_size);
                }
                return Next::Chunk(chunk_size, is_last);
            }
            Request::Rset => {
                self.reset_transaction();
                Reply::new(250, "2.0.0", "reset")
            }
            Request::Noop { .. } => Reply::new(250, "2.0.0", "ok"),
            Request::Quit => {
                out.extend(Reply::new(221, "2.0.0", format!("{hostname} closing")).to_wire());
                return Next::Quit;
            }
            Request::Vrfy { .. } => Reply::new(
                252,
                "2.5.2",
                "cannot verify the user; send the message and we will try",
            ),
            Request::Expn { .. } => Reply::new(502, "5.5.1", "EXPN not supported"),
            Request::Help { .. } => Reply::new(214, "2.0.0", "mailsift SMTP edge: see RFC 5321"),
            Request::Auth { .. } => Reply::new(502, "5.5.1", "authentication is not offered here"),
            Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                Reply::new(502, "5.5.1", "command not implemented")
            }
        };
        out.extend(reply.to_wire());
        Next::Continue
    }

    /// The EHLO reply: what the edge offers.
    fn ehlo_reply(&self, host: &str) -> Vec<u8> {
        let cfg = &self.shared.cfg;
        let mut lines = vec![
            format!("{} greets {host} [{}]", cfg.hostname, self.peer),
            format!("SIZE {}", cfg.limits.max_message_bytes),
            "PIPELINING".to_string(),
            "8BITMIME".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "CHUNKING".to_string(),
        ];
        if cfg.tls.is_some() && !self.tls {
            lines.push("STARTTLS".to_string());
        }
        let last = lines.len() - 1;
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
            .collect::<String>()
            .into_bytes()
    }

    /// The end of a message: checked, stamped with our Received line, put
    /// on the broker; `250` only after the broker's confirm.
    async fn end_of_data(&mut self) -> Reply {
        let started = Instant::now();
        let cfg = self.shared.cfg.clone();
        let data = std::mem::take(&mut self.data);
        let id = queue_id();
        let peer = self.peer.to_string();
        let rcpts = self.rcpts.len();
        let event = |outcome, bytes| SmtpMessage {
            queue_id: &id,
            peer: &peer,
            bytes,
            recipients: rcpts,
            outcome,
            seconds: started.elapsed().as_secs_f64(),
        };
        if let Err(refusal) =
            acceptance::message(&data, cfg.limits.max_message_bytes, cfg.limits.max_hops)
        {
            self.refuse(&refusal);
            event("refused", data.len()).emit(&self.shared.telemetry);
            self.reset_transaction();
            return refusal.reply;
        }
        let now = unix_now();
        let envelope = Envelope {
            peer_ip: Some(self.peer),
            helo: self.helo.clone(),
            mail_from: self.mail_from.clone(),
            rcpt_to: self.rcpts.clone(),
            tls: Some(self.tls),
            received_at: Some(now),
            queue_id: Some(id.clone()),
            ..Envelope::default()
        };
        let mut message = self.received_header(&id, now).into_bytes();
        message.extend_from_slice(&data);
        let bytes = message.len();
        let result = self
            .shared
            .publisher
            .publish(message, &envelope, cfg.publish_timeout)
            .await;
        self.reset_transaction();
        match result {
            Ok(()) => {
                event("queued", bytes).emit(&self.shared.telemetry);
                Reply::new(250, "2.0.0", format!("ok: queued as {id}"))
            }
            Err(why) => {
                tracing::warn!(queue_id = %id, error = %why, "message not confirmed by the broker: 451");
                event("tempfail", bytes).emit(&self.shared.telemetry);
                Reply::new(
                    451,
                    "4.3.0",
                    "temporary failure queueing the message; try again later",
                )
            }
        }
    }

    /// Our trace field (RFC 5321 4.4).
    fn received_header(&self, id: &str, now: i64) -> String {
        let helo = self.helo.as_deref().unwrap_or("unknown");
        let helo: String = helo
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(255)
            .collect();
        let with = match (self.esmtp, self.tls) {
            (true, true) => "ESMTPS",
            (true, false) => "ESMTP",
            (false, true) => "SMTPS",
            (false, false) => "SMTP",
        };
        let for_clause = match self.rcpts.as_slice() {
            [one] => format!(
                "\r\n\tfor <{}>",
                one.chars()
                    .filter(|c| c.is_ascii_graphic())
                    .collect::<String>()
            ),
            _ => String::new(),
        };
        format!(
            "Received: from {helo} ([{}])\r\n\tby {} (mailsift) with {with} id {id}{for_clause};\r\n\t{}\r\n",
            self.peer,
            self.shared.cfg.hostname,
            rfc5322_date(now)
        )
    }
}

/// What the session reads next.
enum Next {
    Continue,
    Data,
    Chunk(usize, bool),
    SkipChunk(usize),
    StartTls,
    Quit,
}

/// The reply to a command that does not parse.
fn parse_error_reply(e: &ParseError) -> Reply {
    match e {
        ParseError::UnknownCommand => Reply::new(500, "5.5.1", "command unrecognized"),
        ParseError::InvalidSenderAddress => Reply::new(501, "5.1.7", "bad sender address syntax"),
        ParseError::InvalidRecipientAddress => {
            Reply::new(501, "5.1.3", "bad recipient address syntax")
        }
        ParseError::SyntaxError { syntax } => Reply::new(501, "5.5.4", format!("syntax: {syntax}")),
        ParseError::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("invalid parameter {param}"))
        }
        ParseError::UnsupportedParameter { param } => {
            Reply::new(555, "5.5.4", format!("unsupported parameter {param}"))
        }
        ParseError::ResponseTooLong => Reply::new(500, "5.5.2", "line too long"),
        _ => Reply::new(500, "5.5.1", "command unrecognized"),
    }
}
