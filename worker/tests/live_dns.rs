//! The live DNS path against a real DNS server: Debian's dnsmasq serving the
//! fixtures' zone on a loopback port (started here; the test command
//! installs it), with one domain delegated to a socket that never answers.
//!
//! - the authenticator (hickory through mail-auth, our caches) gets the
//!   fixtures' results from a real server, and a timeout is a bounded
//!   temperror, not a stall;
//! - the worker, given `--dns-server`, authenticates, stamps
//!   Authentication-Results, and routes a DNS failure through the retry
//!   queue and finally to quarantine with `x-mailsift-incomplete`.

mod common;

use common::amqp::{collect, publish};
use mailsift::amqp::contract;
use mailsift::auth::dns::DnsConfig;
use mailsift::auth::{AuthResult, Authenticator};
use mailsift::Envelope;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// dnsmasq on 127.0.0.1:<port>, killed on drop.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    /// Holds the port `slow.example` is forwarded to; never read, so every
    /// query there times out.
    _blackhole: UdpSocket,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The zone of `corpus/auth/dns.yml`, as dnsmasq options.
fn zone_options() -> Vec<String> {
    let key = "v=DKIM1; k=ed25519; p=cGq1BlHSZNzRnrricApJfgPW9/31l3ilB8kqUQSOW8Y=";
    let txt = [
        ("shop.example", "v=spf1 ip4:192.0.2.0/27 -all"),
        (
            "_dmarc.shop.example",
            "v=DMARC1; p=reject; rua=mailto:dmarc@shop.example",
        ),
        ("s1._domainkey.shop.example", key),
        ("bank.example", "v=spf1 ip4:192.0.2.64/27 -all"),
        ("_dmarc.bank.example", "v=DMARC1; p=reject"),
        ("contoso.com", "v=spf1 ip4:40.107.0.0/16 -all"),
        ("_dmarc.contoso.com", "v=DMARC1; p=none"),
    ];
    txt.iter()
        .map(|(name, value)| format!("--txt-record={name},{value}"))
        .collect()
}

fn start_dnsmasq() -> Dnsmasq {
    let found = Command::new("dnsmasq").arg("--version").output().is_ok();
    assert!(
        found,
        "dnsmasq is not installed: run the tests with scripts/test.sh, which installs dnsmasq-base"
    );
    let blackhole = UdpSocket::bind("127.0.0.1:0").expect("blackhole socket");
    let hole = blackhole.local_addr().expect("addr").port();
    let port = free_udp_port();
    let mut args = vec![
        "--keep-in-foreground".to_string(),
        "--no-daemon".into(),
        format!("--port={port}"),
        "--listen-address=127.0.0.1".into(),
        "--bind-interfaces".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--no-poll".into(),
        "--conf-file=/dev/null".into(),
        "--pid-file=".into(),
        "--user=root".into(),
        "--local-ttl=300".into(),
        // Everything is answered locally (NXDOMAIN if unknown) ...
        "--local=/example/".into(),
        "--local=/com/".into(),
        // ... except slow.example, sent to a server that never answers.
        format!("--server=/slow.example/127.0.0.1#{hole}"),
    ];
    args.extend(zone_options());
    let mut child = Command::new("dnsmasq")
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start dnsmasq");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // Wait until it answers.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("probe");
        let _ = probe.set_read_timeout(Some(Duration::from_millis(200)));
        // A minimal query for shop.example TXT.
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in ["shop", "example"] {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 16, 0, 1]);
        if probe.send_to(&q, addr).is_ok() && probe.recv(&mut [0u8; 512]).is_ok() {
            return Dnsmasq {
                child,
                addr,
                _blackhole: blackhole,
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("dnsmasq did not answer on {addr}");
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::root().join("corpus/auth").join(name)).expect("fixture")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticator_against_a_real_dns_server() {
    let dns = start_dnsmasq();
    let cfg = DnsConfig {
        servers: vec![dns.addr],
        timeout: Duration::from_millis(400),
        attempts: 1,
        ..DnsConfig::default()
    };
    let auth = Authenticator::live(&cfg, "mailsift.test").expect("resolver");
    let engine = common::engine();

    let raw = fixture("01-aligned-pass.eml");
    let subject = engine.auth_subject(&raw, None).expect("subject");
    let r = auth.authenticate(&subject).await;
    assert_eq!(r.spf.result, AuthResult::Pass, "{r:?}");
    assert_eq!(
        r.dkim.first().map(|d| d.result),
        Some(AuthResult::Pass),
        "{r:?}"
    );
    assert_eq!(r.dmarc.result, AuthResult::Pass, "{r:?}");
    assert!(!auth.caches().is_empty(), "answers are cached");

    let raw = fixture("04-dmarc-reject-fail.eml");
    let subject = engine.auth_subject(&raw, None).expect("subject");
    let r = auth.authenticate(&subject).await;
    assert_eq!(r.spf.result, AuthResult::Fail, "{r:?}");
    assert_eq!(r.dmarc.result, AuthResult::Fail, "{r:?}");
    let v = engine.classify_with_auth(&raw, None, Some(&r));
    assert_eq!(v.disposition, mailsift::Disposition::Spoof);

    // A server that never answers: temperror within the deadline.
    let raw = fixture("12-dns-timeout.eml");
    let subject = engine.auth_subject(&raw, None).expect("subject");
    let started = Instant::now();
    let r = auth.authenticate(&subject).await;
    let took = started.elapsed();
    assert_eq!(r.spf.result, AuthResult::TempError, "{r:?}");
    assert!(r.incomplete(), "{r:?}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let v = engine.classify_with_auth(&raw, None, Some(&r));
    assert!(v.incomplete.is_some());
    assert_eq!(v.route, mailsift::Route::Requeue, "contoso.com requeues");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_with_live_dns_stamps_results_and_retries_dns_failures() {
    let dns = start_dnsmasq();
    let vhost = common::Vhost::new("live-dns");
    // Short retries for the test: 1 s apart, quarantined on the 2nd try.
    let rules = common::rules_copy("live-dns");
    let policy = std::fs::read_to_string(rules.join("policy.toml")).expect("policy");
    let policy = policy
        .replace("requeue_delay_seconds = 60", "requeue_delay_seconds = 1")
        .replace("requeue_attempts = 3", "requeue_attempts = 2");
    std::fs::write(rules.join("policy.toml"), policy).expect("write policy");
    let mut t = common::amqp::topology();
    t.retry_delay_ms = 1000;
    let inputs: Vec<(Vec<u8>, Envelope)> = [
        "01-aligned-pass.eml",
        "04-dmarc-reject-fail.eml",
        "12-dns-timeout.eml",
    ]
    .iter()
    .map(|name| {
        let env = Envelope {
            queue_id: Some(name.to_string()),
            ..Envelope::default()
        };
        (fixture(name), env)
    })
    .collect();
    publish(&vhost.url(), &t, &inputs).await;
    let recordings = common::tempdir("live-dns-recordings");
    let mut worker = Command::new(env!("CARGO_BIN_EXE_mailsift"))
        .args([
            "worker",
            "--record-dns",
            recordings.to_str().expect("path"),
            "--rules",
            rules.to_str().expect("path"),
            "--dns-server",
            &dns.addr.to_string(),
            "--dns-timeout-ms",
            "300",
            "--dns-attempts",
            "1",
        ])
        .env("MAILSIFT_AMQP_URL", vhost.url())
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start worker");
    let outputs = collect(&vhost.url(), &t, 3, Duration::from_secs(60)).await;
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let _ = worker.wait();
    let by_name = |n: &str| {
        outputs
            .iter()
            .find(|o| o.text(contract::QUEUE_ID).as_deref() == Some(n))
            .unwrap_or_else(|| panic!("no output for {n}: {} outputs", outputs.len()))
    };
    let pass = by_name("01-aligned-pass.eml");
    assert_eq!(pass.queue, t.deliver_queue("us"));
    let body = String::from_utf8_lossy(&pass.body);
    assert!(
        body.starts_with("X-Mailsift-Disposition: NONE"),
        "{body:.300}"
    );
    assert!(
        body.contains("Authentication-Results: mailsift.local;"),
        "{body:.900}"
    );
    assert!(
        body.contains("dkim=pass header.d=shop.example"),
        "{body:.900}"
    );
    assert!(
        body.contains("dmarc=pass (p=reject) header.from=shop.example"),
        "{body:.900}"
    );

    let spoof = by_name("04-dmarc-reject-fail.eml");
    assert_eq!(spoof.queue, t.quarantine_queue);
    assert_eq!(spoof.text(contract::DISPOSITION).as_deref(), Some("SPOOF"));

    let slow = by_name("12-dns-timeout.eml");
    assert_eq!(
        slow.queue, t.quarantine_queue,
        "quarantined after the retries"
    );
    let why = slow.text(contract::INCOMPLETE).unwrap_or_default();
    assert!(why.contains("after 2 attempts"), "{why}");
    assert_eq!(outputs.len(), 3, "one output per input");

    // Each verdict's DNS was recorded under its id, and replays to the same
    // disposition without the live server.
    drop(dns);
    let path = recordings.join(format!("{}.yml", spoof.id()));
    let replay = Command::new(env!("CARGO_BIN_EXE_mailsift"))
        .args([
            "check",
            "--format",
            "json",
            "--rules",
            rules.to_str().expect("path"),
            "--dns",
        ])
        .arg(&path)
        .arg(common::root().join("corpus/auth/04-dmarc-reject-fail.eml"))
        .output()
        .expect("check");
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&replay.stdout).expect("json");
    assert_eq!(
        v["disposition"],
        "SPOOF",
        "replayed from {}",
        path.display()
    );
    assert_eq!(v["auth"]["dmarc"]["result"], "fail");
    let recorded = std::fs::read_to_string(&path).expect("recording");
    assert!(recorded.contains("_dmarc.bank.example"), "{recorded}");
}
