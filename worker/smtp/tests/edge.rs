//! The SMTP edge in-process against the real RabbitMQ (a vhost per test),
//! spoken to over TCP: what it accepts, what it refuses and with which
//! reply, and that `250` means the message is on the broker.

use arc_swap::ArcSwap;
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use mailsift_amqp::{contract, Topology};
use mailsift_core::Engine;
use mailsift_smtp::{Edge, EdgeConfig, Limits};
use mailsift_telemetry::Telemetry;
use mailsift_testkit::broker::{topology, Vhost};
use mailsift_testkit::{root, rules_copy, tempdir};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// A running edge, stopped on drop.
struct TestEdge {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    telemetry: Arc<Telemetry>,
}

impl TestEdge {
    async fn start(url: &str, rules: &Path, tweak: impl FnOnce(&mut EdgeConfig)) -> TestEdge {
        let engine = Arc::new(ArcSwap::from_pointee(Engine::load(rules).expect("rules")));
        let mut cfg = EdgeConfig {
            listeners: vec!["127.0.0.1:0".parse().expect("listener")],
            hostname: "mx.test.example".into(),
            tls: None,
            limits: Limits::default(),
            amqp_url: url.to_string(),
            topology: topology(),
            publish_timeout: Duration::from_secs(5),
            grace: Duration::from_secs(5),
        };
        tweak(&mut cfg);
        let telemetry = Telemetry::new();
        let edge = Edge::new(cfg, engine, telemetry.clone());
        let bound = edge.bind().await.expect("bind");
        let addr = bound[0].0.local_addr().expect("addr");
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(async move { edge.serve(bound, shutdown).await });
        // Connected (or given up trying) before the test talks to it.
        for _ in 0..50 {
            if telemetry
                .encode()
                .lines()
                .any(|l| l == "mailsift_broker_connected 1")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        TestEdge {
            addr,
            stop,
            task,
            telemetry,
        }
    }

    async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// A raw SMTP client: what is sent and replied is exactly what the test says.
struct Client<S> {
    io: BufReader<S>,
}

impl Client<TcpStream> {
    async fn connect(addr: SocketAddr) -> (Client<TcpStream>, String) {
        let mut c = Client {
            io: BufReader::new(TcpStream::connect(addr).await.expect("connect")),
        };
        let greeting = c.reply().await;
        (c, greeting)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// One reply, all its lines.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line))
                .await
                .expect("a reply within 10 s")
                .expect("read");
            if n == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("write");
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// EHLO, MAIL, RCPTs, DATA and the message: the final reply.
    async fn message(&mut self, from: &str, rcpts: &[&str], body: &str) -> String {
        assert!(self
            .cmd(&format!("MAIL FROM:<{from}>"))
            .await
            .starts_with("250"));
        for r in rcpts {
            let reply = self.cmd(&format!("RCPT TO:<{r}>")).await;
            assert!(reply.starts_with("250"), "{r}: {reply}");
        }
        assert!(self.cmd("DATA").await.starts_with("354"));
        self.send(body.as_bytes()).await;
        self.cmd(".").await
    }
}

const BODY: &str = "From: alice@example.org\r\nTo: bob@contoso.com\r\nSubject: hi\r\n\r\nhello\r\n";

async fn first_input(url: &str, t: &Topology) -> (Vec<u8>, FieldTable) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    let got = ch
        .basic_get(
            t.input_queue.as_str().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic.get")
        .expect("a message on the input queue");
    let _ = conn.close(200, "ok".into()).await;
    (
        got.delivery.data.clone(),
        got.delivery
            .properties
            .headers()
            .clone()
            .unwrap_or_default(),
    )
}

async fn input_depth(url: &str, t: &Topology) -> u32 {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    let q = ch
        .queue_declare(
            t.input_queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("input queue");
    let _ = conn.close(200, "ok".into()).await;
    q.message_count()
}

fn text(h: &FieldTable, name: &str) -> Option<String> {
    match h.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_queued_with_its_envelope_before_250() {
    let vhost = Vhost::new("edge-queue");
    let edge = TestEdge::start(&vhost.url(), &root().join("rules"), |_| {}).await;
    let (mut c, greeting) = Client::connect(edge.addr).await;
    assert!(
        greeting.starts_with("220 2.0.0 mx.test.example ESMTP"),
        "{greeting}"
    );
    let ehlo = c.cmd("EHLO client.example.org").await;
    for cap in [
        "SIZE 26214400",
        "PIPELINING",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
    ] {
        assert!(ehlo.contains(cap), "{cap} missing: {ehlo}");
    }
    assert!(!ehlo.contains("STARTTLS"), "no certificate, no STARTTLS");
    let reply = c
        .message(
            "alice@example.org",
            &["bob@contoso.com", "Carol@Contoso.com"],
            BODY,
        )
        .await;
    assert!(reply.starts_with("250 2.0.0 ok: queued as "), "{reply}");
    // 250 came after the broker's confirm: the message is there now.
    assert_eq!(input_depth(&vhost.url(), &topology()).await, 1);
    let (body, h) = first_input(&vhost.url(), &topology()).await;
    let body = String::from_utf8(body).expect("text");
    assert!(body.starts_with("Received: from client.example.org ([127.0.0.1])\r\n\tby mx.test.example (mailsift) with ESMTP id "), "{body}");
    assert!(
        body.ends_with(BODY),
        "the message after our Received line is as sent"
    );
    assert_eq!(text(&h, contract::PEER_IP).as_deref(), Some("127.0.0.1"));
    assert_eq!(
        text(&h, contract::HELO).as_deref(),
        Some("client.example.org")
    );
    assert_eq!(
        text(&h, contract::MAIL_FROM).as_deref(),
        Some("alice@example.org")
    );
    assert_eq!(text(&h, contract::TLS).as_deref(), Some("false"));
    let queue_id = reply.trim_end().rsplit(' ').next().expect("id").to_string();
    assert_eq!(text(&h, contract::QUEUE_ID), Some(queue_id));
    let env = contract::envelope_from_headers(Some(&h));
    assert_eq!(env.rcpt_to, vec!["bob@contoso.com", "carol@contoso.com"]);
    assert!(env.received_at.is_some());
    // Pipelined: every reply, in order, in one round trip.
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<bob@contoso.com>\r\nRCPT TO:<x@example.net>\r\nDATA\r\n").await;
    assert!(c.reply().await.starts_with("250 2.1.0"));
    assert!(c.reply().await.starts_with("250 2.1.5"));
    assert!(c.reply().await.starts_with("550 5.7.1 relaying denied"));
    assert!(c.reply().await.starts_with("354"));
    c.send(b"Subject: two\r\n\r\n.\r\n").await;
    assert!(c.reply().await.starts_with("250"));
    // BDAT (CHUNKING), including an empty last chunk.
    assert!(c.cmd("MAIL FROM:<a@example.org>").await.starts_with("250"));
    assert!(c.cmd("RCPT TO:<bob@contoso.com>").await.starts_with("250"));
    c.send(b"BDAT 21\r\nSubject: chunked\r\n\r\nx").await;
    assert!(c.reply().await.starts_with("250 2.0.0 21 octets"));
    assert!(c
        .cmd("BDAT 0 LAST")
        .await
        .starts_with("250 2.0.0 ok: queued"));
    assert!(c.cmd("QUIT").await.starts_with("221"));
    assert_eq!(input_depth(&vhost.url(), &topology()).await, 2);
    let metrics = edge.telemetry.encode();
    assert!(
        metrics.contains(r#"mailsift_smtp_messages_total{name="queued"} 3"#),
        "{metrics}"
    );
    edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_an_open_relay_and_the_connector_lockdown() {
    let vhost = Vhost::new("edge-relay");
    let edge = TestEdge::start(&vhost.url(), &root().join("rules"), |_| {}).await;
    let (mut c, _) = Client::connect(edge.addr).await;
    assert!(
        c.cmd("RCPT TO:<bob@contoso.com>")
            .await
            .starts_with("503 5.5.1"),
        "RCPT before MAIL"
    );
    c.cmd("EHLO client.example.org").await;
    assert!(c
        .cmd("MAIL FROM:<spammer@example.org>")
        .await
        .starts_with("250"));
    let relay = c.cmd("RCPT TO:<victim@example.net>").await;
    assert!(
        relay.starts_with("550 5.7.1 relaying denied: example.net is not served here"),
        "{relay}"
    );
    // fabrikam.com accepts mail only from Office 365's ranges.
    let locked = c.cmd("RCPT TO:<ann@fabrikam.com>").await;
    assert!(
        locked.starts_with("550 5.7.1 fabrikam.com accepts mail only through its connector"),
        "{locked}"
    );
    assert!(c
        .cmd("DATA")
        .await
        .starts_with("554 5.5.1 no valid recipients"));
    assert_eq!(input_depth(&vhost.url(), &topology()).await, 0);
    let metrics = edge.telemetry.encode();
    assert!(
        metrics.contains(r#"mailsift_smtp_refusals_total{name="relay_denied"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"mailsift_smtp_refusals_total{name="lockdown"} 1"#),
        "{metrics}"
    );
    edge.shutdown().await;

    // A listener locked to other ranges refuses at connect.
    let edge = TestEdge::start(&vhost.url(), &root().join("rules"), |cfg| {
        cfg.listeners = vec!["127.0.0.1:0;allow=10.0.0.0/8".parse().expect("listener")];
    })
    .await;
    let (_, greeting) = Client::connect(edge.addr).await;
    assert!(
        greeting.starts_with("554 5.7.1 127.0.0.1 is not allowed"),
        "{greeting}"
    );
    edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_relays_send_only_as_their_tenant() {
    let vhost = Vhost::new("edge-outbound");
    let rules = rules_copy("edge-outbound");
    let policy = std::fs::read_to_string(rules.join("policy.toml")).expect("policy");
    let policy = policy.replacen(
        "outbound_relays = [",
        "outbound_relays = [\"127.0.0.1/32\", ",
        1,
    );
    std::fs::write(rules.join("policy.toml"), policy).expect("write");
    let edge = TestEdge::start(&vhost.url(), &rules, |_| {}).await;
    let (mut c, _) = Client::connect(edge.addr).await;
    c.cmd("EHLO hybrid.contoso.com").await;
    let foreign = c.cmd("MAIL FROM:<someone@example.org>").await;
    assert!(
        foreign.starts_with("550 5.7.1 127.0.0.1 relays outbound for contoso.com only"),
        "{foreign}"
    );
    assert!(
        c.cmd("MAIL FROM:<>").await.starts_with("550 5.7.1"),
        "no null sender outbound"
    );
    assert!(c
        .cmd("MAIL FROM:<ceo@contoso.com>")
        .await
        .starts_with("250"));
    assert!(
        c.cmd("RCPT TO:<partner@example.net>")
            .await
            .starts_with("250"),
        "outbound reaches anyone"
    );
    edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_looping_and_slow_clients() {
    let vhost = Vhost::new("edge-limits");
    let edge = TestEdge::start(&vhost.url(), &root().join("rules"), |cfg| {
        cfg.limits.max_message_bytes = 100_000;
        cfg.limits.idle_timeout = Duration::from_secs(2);
        cfg.limits.max_hops = 20;
    })
    .await;
    // A slow client holds a connection open, saying nothing...
    let (mut slow, _) = Client::connect(edge.addr).await;
    slow.send(b"EHLO sl").await;
    // ... while another one is served in full.
    let (mut c, _) = Client::connect(edge.addr).await;
    assert!(c
        .cmd("EHLO client.example.org")
        .await
        .contains("SIZE 100000"));
    let declared = c.cmd("MAIL FROM:<a@example.org> SIZE=200000").await;
    assert!(
        declared.starts_with("552 5.3.4 message too big"),
        "{declared}"
    );
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(76).repeat(2_000));
    let reply = c.message("a@example.org", &["bob@contoso.com"], &big).await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    let mut looping = String::new();
    for i in 0..25 {
        looping.push_str(&format!(
            "Received: from h{i} by h{}; Tue, 12 Mar 2024 10:15:00 +0000\r\n",
            i + 1
        ));
    }
    looping.push_str("Subject: loop\r\n\r\nx\r\n");
    let reply = c
        .message("a@example.org", &["bob@contoso.com"], &looping)
        .await;
    assert!(
        reply.starts_with("554 5.4.6 routing loop detected: 25 Received headers"),
        "{reply}"
    );
    // The session goes on after a refusal.
    let reply = c.message("a@example.org", &["bob@contoso.com"], BODY).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(input_depth(&vhost.url(), &topology()).await, 1);
    // The silent client is told why it is closed.
    let closed = slow.reply().await;
    assert!(
        closed.starts_with("421 4.4.2 mx.test.example idle too long"),
        "{closed}"
    );
    // Garbage is answered, counted, and too much of it ends the session.
    let (mut noisy, _) = Client::connect(edge.addr).await;
    assert!(noisy.cmd("HELLO there").await.starts_with("500 5.5.1"));
    for _ in 0..10 {
        noisy.cmd("FOO").await;
    }
    let last = noisy.reply().await;
    assert!(last.starts_with("421 4.7.0 too many errors"), "{last}");
    edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_cannot_confirm_gets_451() {
    // Nothing listens on this port: the edge cannot queue anything.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let url = format!(
        "amqp://guest:guest@{}/%2f",
        closed.local_addr().expect("addr")
    );
    drop(closed);
    let edge = TestEdge::start(&url, &root().join("rules"), |cfg| {
        cfg.publish_timeout = Duration::from_secs(2);
    })
    .await;
    let (mut c, _) = Client::connect(edge.addr).await;
    c.cmd("EHLO client.example.org").await;
    let reply = c
        .message("alice@example.org", &["bob@contoso.com"], BODY)
        .await;
    assert!(
        reply.starts_with("451 4.3.0 temporary failure queueing"),
        "{reply}"
    );
    assert!(
        edge.telemetry.health.readiness().is_err(),
        "not ready without a broker"
    );
    edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_a_421_on_shutdown() {
    let vhost = Vhost::new("edge-tls");
    let dir = tempdir("edge-tls-cert");
    let cert = rcgen::generate_simple_self_signed(vec!["mx.test.example".into()]).expect("cert");
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).expect("write key");
    let tls = mailsift_smtp::tls::server_config(&dir.join("cert.pem"), &dir.join("key.pem"))
        .expect("tls");
    let edge = TestEdge::start(&vhost.url(), &root().join("rules"), |cfg| {
        cfg.tls = Some(tls)
    })
    .await;
    let (mut c, _) = Client::connect(edge.addr).await;
    assert!(c
        .cmd("EHLO client.example.org")
        .await
        .contains("250 STARTTLS"));
    assert!(c.cmd("STARTTLS").await.starts_with("220 2.0.0"));
    let connector = tokio_rustls::TlsConnector::from(
        mailsift_smtp::tls::any_certificate_client().expect("client"),
    );
    let plain = c.io.into_inner();
    let secure = connector
        .connect(
            rustls::pki_types::ServerName::try_from("mx.test.example").expect("name"),
            plain,
        )
        .await
        .expect("TLS handshake");
    let mut c = Client {
        io: BufReader::new(secure),
    };
    let ehlo = c.cmd("EHLO client.example.org").await;
    assert!(!ehlo.contains("STARTTLS"), "not offered twice: {ehlo}");
    let reply = c
        .message("alice@example.org", &["bob@contoso.com"], BODY)
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let (body, h) = first_input(&vhost.url(), &topology()).await;
    assert_eq!(text(&h, contract::TLS).as_deref(), Some("true"));
    assert!(String::from_utf8_lossy(&body).contains("with ESMTPS id"));

    // An idle session is told the edge is going away.
    let (mut idle, _) = Client::connect(edge.addr).await;
    idle.cmd("EHLO client.example.org").await;
    let _ = edge.stop.send(true);
    let bye = idle.reply().await;
    assert!(
        bye.starts_with("421 4.3.2 mx.test.example shutting down"),
        "{bye}"
    );
    let _ = edge.task.await;
}
