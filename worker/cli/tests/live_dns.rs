//! The worker with live DNS against a real DNS server (dnsmasq): given
//! `--dns-server`, it authenticates, stamps Authentication-Results, and
//! routes a DNS failure through the retry queue and finally to quarantine
//! with `x-mailsift-incomplete`; each verdict's DNS is recorded and replays.

use mailsift_amqp::contract;
use mailsift_core::Envelope;
use mailsift_testkit::broker::{collect, publish, topology, Vhost};
use mailsift_testkit::{dnsmasq, root, rules_copy, tempdir};
use std::process::Command;
use std::time::Duration;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("corpus/auth").join(name)).expect("fixture")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_with_live_dns_stamps_results_and_retries_dns_failures() {
    let dns = dnsmasq::start();
    let vhost = Vhost::new("live-dns");
    // Short retries for the test: 1 s apart, quarantined on the 2nd try.
    let rules = rules_copy("live-dns");
    let policy = std::fs::read_to_string(rules.join("policy.toml")).expect("policy");
    let policy = policy
        .replace("requeue_delay_seconds = 60", "requeue_delay_seconds = 1")
        .replace("requeue_attempts = 3", "requeue_attempts = 2");
    std::fs::write(rules.join("policy.toml"), policy).expect("write policy");
    let mut t = topology();
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
    let recordings = tempdir("live-dns-recordings");
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
    assert_eq!(spoof.queue, t.quarantine_queue("us"));
    assert_eq!(spoof.text(contract::DISPOSITION).as_deref(), Some("SPOOF"));

    let slow = by_name("12-dns-timeout.eml");
    assert_eq!(
        slow.queue,
        t.quarantine_queue("us"),
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
        .arg(root().join("corpus/auth/04-dmarc-reject-fail.eml"))
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
