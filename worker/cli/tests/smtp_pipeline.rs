//! The whole path over SMTP, against software no one here wrote: Python's
//! smtplib (and swaks) sending to `mailsift edge`, `mailsift worker`
//! classifying through the real RabbitMQ, and `mailsift deliver` relaying
//! to aiosmtpd as the customer's server (STARTTLS with a test certificate).

use mailsift_testkit::broker::{queue_depth, topology, Vhost};
use mailsift_testkit::http::{free_addr, get, metric_sum};
use mailsift_testkit::smtp::{
    free_port, send, test_certificate, wait_for_port, Process, Sink, Stored,
};
use mailsift_testkit::tempdir;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mailsift"))
}

/// Edge, worker and deliver on one vhost, delivering to an aiosmtpd sink.
struct Pipeline {
    vhost: Vhost,
    edge_port: u16,
    cert: (PathBuf, PathBuf),
    sink: Sink,
    deliver_http: SocketAddr,
    edge: Process,
    worker: Process,
    deliver: Process,
}

impl Pipeline {
    fn start(name: &str, defer_while: Option<&Path>) -> Pipeline {
        let vhost = Vhost::new(name);
        let dir = tempdir(name);
        let cert = test_certificate(&dir, &["localhost", "127.0.0.1"]);
        let sink = Sink::start(&dir.join("sink"), Some((&cert.0, &cert.1)), defer_while);
        let edge_port = free_port();
        let deliver_http = free_addr();
        let mut p = Pipeline {
            edge: Process::start("placeholder", Path::new("true"), &[], &[]),
            worker: Process::start("placeholder", Path::new("true"), &[], &[]),
            deliver: Process::start("placeholder", Path::new("true"), &[], &[]),
            vhost,
            edge_port,
            cert,
            sink,
            deliver_http,
        };
        p.edge = p.start_edge();
        p.worker = p.start_worker();
        p.deliver = p.start_deliver();
        wait_for_port(edge_port, Duration::from_secs(20));
        p
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MAILSIFT_AMQP_URL", self.vhost.url()),
            // Deferred deliveries come back after a second, not a minute.
            ("MAILSIFT_DELIVER_RETRY_SECONDS", "1".into()),
            ("MAILSIFT_LOG_FORMAT", "json".into()),
            ("RUST_LOG", "warn".into()),
        ]
    }

    fn spawn(&self, name: &str, args: &[&str]) -> Process {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Process::start(name, bin(), args, &env)
    }

    fn start_edge(&self) -> Process {
        let listen = format!("127.0.0.1:{}", self.edge_port);
        let (cert, key) = (
            self.cert.0.to_str().expect("path"),
            self.cert.1.to_str().expect("path"),
        );
        self.spawn(
            "mailsift edge",
            &[
                "edge",
                "--listen",
                &listen,
                "--hostname",
                "mx.test.example",
                "--tls-cert",
                cert,
                "--tls-key",
                key,
                "--grace-period",
                "10",
            ],
        )
    }

    fn start_worker(&self) -> Process {
        self.spawn(
            "mailsift worker",
            &[
                "worker",
                "--no-auth",
                "--prefetch",
                "32",
                "--grace-period",
                "10",
            ],
        )
    }

    fn start_deliver(&self) -> Process {
        let smarthost = format!("127.0.0.1:{}", self.sink.port);
        let http = self.deliver_http.to_string();
        self.spawn(
            "mailsift deliver",
            &[
                "deliver",
                "--smarthost",
                &smarthost,
                "--hostname",
                "gw.test.example",
                "--retry-base-seconds",
                "1",
                "--retry-max-seconds",
                "2",
                "--max-attempts",
                "60",
                "--grace-period",
                "10",
                "--http-addr",
                &http,
            ],
        )
    }

    fn deliver_metric(&self, prefix: &str) -> f64 {
        get(self.deliver_http, "/metrics").map_or(0.0, |(_, body)| metric_sum(&body, prefix))
    }
}

fn message_id(m: &Stored) -> Option<String> {
    m.text()
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: <"))
        .map(|l| l.trim_end_matches('>').to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_edge_worker_and_deliver_with_each_restarted_once() {
    let mut p = Pipeline::start("smtp-e2e", None);
    const N: usize = 400;
    let port = p.edge_port;
    let sending = std::thread::spawn(move || {
        send(
            port,
            &[
                "--count",
                &N.to_string(),
                "--parallel",
                "4",
                "--tag",
                "e2e",
                "--starttls",
                "--to",
                "bob@contoso.com",
            ],
        )
    });
    // Each component is SIGTERMed once in the middle of the run and
    // started again: sessions, classifications and deliveries in flight
    // finish or are redelivered, never lost.
    std::thread::sleep(Duration::from_millis(700));
    p.edge.terminate(Duration::from_secs(20));
    p.edge = p.start_edge();
    std::thread::sleep(Duration::from_millis(700));
    p.worker.terminate(Duration::from_secs(20));
    p.worker = p.start_worker();
    std::thread::sleep(Duration::from_millis(700));
    p.deliver.terminate(Duration::from_secs(20));
    p.deliver = p.start_deliver();
    let report = sending.join().expect("sender");
    assert_eq!(
        report["accepted"], N as u64,
        "every message accepted by the edge: {report}"
    );

    // Everything comes out: delivered to the next hop, or in quarantine.
    let t = topology();
    let started = Instant::now();
    let (delivered, quarantined) = loop {
        let delivered = p.sink.messages();
        let mut quarantined = 0;
        for region in &t.regions {
            quarantined += queue_depth(&p.vhost.url(), &t.quarantine_queue(region)).await as usize;
        }
        if delivered.len() + quarantined >= N || started.elapsed() > Duration::from_secs(120) {
            break (delivered, quarantined);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // A moment for anything duplicated to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let delivered = if p.sink.messages().len() > delivered.len() {
        p.sink.messages()
    } else {
        delivered
    };
    let ids: HashSet<String> = delivered.iter().filter_map(message_id).collect();
    assert_eq!(ids.len(), delivered.len(), "a message was delivered twice");
    assert_eq!(
        delivered.len() + quarantined,
        N,
        "{} delivered + {quarantined} quarantined for {N} sent",
        delivered.len()
    );
    assert!(quarantined > 0 && !delivered.is_empty(), "both routes used");
    for m in &delivered {
        let text = m.text();
        assert!(
            text.starts_with("X-Mailsift-Disposition: "),
            "not stamped: {text:.200}"
        );
        assert!(
            text.contains("with ESMTPS id"),
            "the client used STARTTLS to the edge"
        );
        assert_eq!(
            m.meta["tls"], true,
            "delivery used STARTTLS, which contoso.com requires"
        );
        assert_eq!(
            m.meta["helo"], "gw.test.example",
            "delivery presents its hostname"
        );
        assert_eq!(m.meta["mail_from"], "alice@sender.test");
    }
    eprintln!(
        "{N} sent: {} delivered, {quarantined} quarantined, none lost or duplicated",
        delivered.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_hop_that_defers_then_accepts_gets_each_message_once() {
    let defer = tempdir("smtp-defer-flag").join("down");
    std::fs::write(&defer, "the next hop is down").expect("flag");
    let p = Pipeline::start("smtp-defer", Some(&defer));
    let report = send(
        p.edge_port,
        &["--count", "3", "--tag", "defer", "--to", "bob@contoso.com"],
    );
    assert_eq!(report["accepted"], 3);
    let started = Instant::now();
    while p.deliver_metric(r#"mailsift_deliveries_total{name="deferred"}"#) < 6.0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no deferral seen"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        p.sink.messages().is_empty(),
        "nothing delivered while the next hop defers"
    );
    std::fs::remove_file(&defer).expect("next hop back");
    let got = p.sink.wait_for(3, Duration::from_secs(30));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = if p.sink.messages().len() > got.len() {
        p.sink.messages()
    } else {
        got
    };
    assert_eq!(got.len(), 3, "each deferred message delivered exactly once");
    let ids: HashSet<String> = got.iter().filter_map(message_id).collect();
    assert_eq!(ids.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_recipients_get_a_dsn_and_the_others_their_mail() {
    let p = Pipeline::start("smtp-dsn", None);
    let report = send(
        p.edge_port,
        &[
            "--count",
            "1",
            "--tag",
            "dsn",
            "--to",
            "bob@contoso.com",
            "--to",
            "reject-me@contoso.com",
        ],
    );
    assert_eq!(report["accepted"], 1);
    let got = p.sink.wait_for(2, Duration::from_secs(30));
    assert_eq!(got.len(), 2, "the message for bob and a DSN for the sender");
    let (dsn, original): (Vec<&Stored>, Vec<&Stored>) =
        got.iter().partition(|m| m.meta["mail_from"] == "<>");
    assert_eq!(original.len(), 1);
    assert_eq!(
        original[0].meta["rcpt_to"],
        serde_json::json!(["bob@contoso.com"])
    );
    assert_eq!(dsn.len(), 1, "one report, from the null sender");
    assert_eq!(
        dsn[0].meta["rcpt_to"],
        serde_json::json!(["alice@sender.test"])
    );
    let text = dsn[0].text();
    assert!(text.contains("report-type=delivery-status"), "{text}");
    assert!(
        text.contains("Final-Recipient: rfc822; reject-me@contoso.com"),
        "{text}"
    );
    assert!(text.contains("Status: 5.1.1"), "{text}");
    assert!(
        text.contains("Message-ID: <0.dsn@sender.test>"),
        "the original's headers come back: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_delivers_over_starttls_and_an_open_relay_is_refused() {
    let swaks = std::process::Command::new("swaks")
        .arg("--version")
        .output();
    assert!(
        swaks.is_ok_and(|o| o.status.success()),
        "swaks is not installed: run the tests with scripts/test.sh, which installs it"
    );
    let p = Pipeline::start("smtp-swaks", None);
    let server = format!("127.0.0.1:{}", p.edge_port);
    let out = std::process::Command::new("swaks")
        .args([
            "--server",
            &server,
            "--tls",
            "--from",
            "carol@sender.test",
            "--to",
            "bob@contoso.com",
        ])
        .args([
            "--header",
            "Subject: from swaks",
            "--body",
            "Sent with swaks.",
            "--helo",
            "swaks.sender.test",
        ])
        .output()
        .expect("swaks");
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{transcript}");
    assert!(
        transcript.contains("<~  250 2.0.0 ok: queued as"),
        "{transcript}"
    );
    let got = p.sink.wait_for(1, Duration::from_secs(30));
    assert_eq!(got.len(), 1);
    assert!(got[0].text().contains("Subject: from swaks"));
    assert!(got[0]
        .text()
        .contains("from swaks.sender.test ([127.0.0.1])"));
    let relay = std::process::Command::new("swaks")
        .args([
            "--server",
            &server,
            "--from",
            "x@sender.test",
            "--to",
            "victim@example.net",
        ])
        .output()
        .expect("swaks");
    let transcript = String::from_utf8_lossy(&relay.stdout);
    assert!(
        transcript.contains("<** 550 5.7.1 relaying denied"),
        "{transcript}"
    );
}

/// Without a smarthost each domain goes to its own `delivery_target`; a
/// domain that requires TLS is never delivered in clear (deferred, then
/// given up on), and a domain without a target is a configuration error
/// the operator finds in the dead-letter queue, never bounced to the sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_domain_to_its_own_target_and_required_tls_never_skipped() {
    let vhost = Vhost::new("smtp-targets");
    let dir = tempdir("smtp-targets");
    let cert = test_certificate(&dir, &["localhost", "127.0.0.1"]);
    let with_tls = Sink::start(&dir.join("tls"), Some((&cert.0, &cert.1)), None);
    let plain = Sink::start(&dir.join("plain"), None, None);
    let rules = mailsift_testkit::rules_copy("smtp-targets-rules");
    let policy = std::fs::read_to_string(rules.join("policy.toml")).expect("policy");
    let policy = policy.replace(
        "delivery_target = \"contoso-com.mail.protection.outlook.com\"",
        &format!("delivery_target = \"127.0.0.1:{}\"", with_tls.port),
    ) + &format!(
        "\n[domains.\"northwind.example\"]\nregion = \"us\"\ndelivery_target = \"127.0.0.1:{}\"\n\
         delivery_tls = \"required\"\n\n[domains.\"nowhere.example\"]\nregion = \"us\"\n",
        plain.port
    );
    assert!(
        policy.contains(&format!("127.0.0.1:{}", with_tls.port)),
        "contoso.com's target replaced"
    );
    std::fs::write(rules.join("policy.toml"), policy).expect("policy");
    let rules = rules.to_str().expect("path");
    let url = vhost.url();
    let env = [
        ("MAILSIFT_AMQP_URL", url.as_str()),
        ("MAILSIFT_DELIVER_RETRY_SECONDS", "1"),
        ("RUST_LOG", "warn"),
    ];
    let edge_port = free_port();
    let listen = format!("127.0.0.1:{edge_port}");
    let dsn_relay = format!("127.0.0.1:{}", with_tls.port);
    let _edge = Process::start(
        "edge",
        bin(),
        &[
            "edge",
            "--rules",
            rules,
            "--listen",
            &listen,
            "--hostname",
            "mx.test.example",
        ],
        &env,
    );
    let _worker = Process::start(
        "worker",
        bin(),
        &["worker", "--rules", rules, "--no-auth"],
        &env,
    );
    let _deliver = Process::start(
        "deliver",
        bin(),
        &[
            "deliver",
            "--rules",
            rules,
            "--hostname",
            "gw.test.example",
            "--dsn-relay",
            &dsn_relay,
            "--max-attempts",
            "2",
            "--retry-base-seconds",
            "1",
        ],
        &env,
    );
    wait_for_port(edge_port, Duration::from_secs(20));
    for to in [
        "bob@contoso.com",
        "ann@northwind.example",
        "joe@nowhere.example",
    ] {
        let report = send(edge_port, &["--count", "1", "--tag", to, "--to", to]);
        assert_eq!(report["accepted"], 1, "{to}: {report}");
    }
    // bob's message, and after northwind's two deferred attempts (no
    // STARTTLS there) the sender's delivery-status notification.
    let got = with_tls.wait_for(2, Duration::from_secs(30));
    assert_eq!(got.len(), 2);
    let (dsn, mail): (Vec<&Stored>, Vec<&Stored>) =
        got.iter().partition(|m| m.meta["mail_from"] == "<>");
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0].meta["rcpt_to"],
        serde_json::json!(["bob@contoso.com"])
    );
    assert_eq!(mail[0].meta["tls"], true);
    assert_eq!(dsn.len(), 1);
    assert!(
        dsn[0]
            .text()
            .contains("Final-Recipient: rfc822; ann@northwind.example"),
        "{}",
        dsn[0].text()
    );
    assert!(
        dsn[0].text().contains("gave up after 2 attempts"),
        "{}",
        dsn[0].text()
    );
    assert!(
        plain.messages().is_empty(),
        "never delivered in clear to a domain that requires TLS"
    );
    // nowhere.example has no target: kept for the operator, not bounced.
    let t = topology();
    let started = Instant::now();
    while queue_depth(&url, &t.dead_letter_queue).await < 1
        && started.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        queue_depth(&url, &t.dead_letter_queue).await,
        1,
        "the misrouted message is dead-lettered"
    );
    assert_eq!(
        with_tls.messages().len(),
        2,
        "no notification for our own configuration error"
    );
}
