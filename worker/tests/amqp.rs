//! The worker against the real RabbitMQ on 127.0.0.1:5672, each test in its
//! own vhost: N in → N out, routing by policy, stamping, poison input,
//! forged stamps, dead-lettering, and a SIGTERM in the middle of a run.

mod common;

use common::amqp::{collect, publish, queue_depth, topology};
use mailsift::amqp::{contract, Mode, Worker, WorkerConfig};
use mailsift::{Engine, Envelope, Rules, Verdict};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

fn config(url: &str) -> WorkerConfig {
    WorkerConfig {
        amqp_url: url.to_string(),
        topology: topology(),
        prefetch: 64,
        grace: Duration::from_secs(20),
        journal_include_body: false,
        mode: Mode::Classify,
        max_backoff: Duration::from_millis(500),
        record_dns: None,
    }
}

fn engine() -> Arc<Engine> {
    Arc::new(common::engine().clone())
}

/// Starts a worker in this process; the returned sender stops it.
fn start(
    cfg: WorkerConfig,
    engine: Arc<Engine>,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
    Arc<mailsift::amqp::Stats>,
) {
    let worker = Worker::new(cfg, engine, 2).expect("worker");
    let stats = worker.stats();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(async move { worker.run(rx).await });
    (tx, handle, stats)
}

/// Runs a worker until `n` outputs arrived, then stops it; returns the
/// outputs and the worker's counters.
async fn run_until(
    url: &str,
    engine: Arc<Engine>,
    n: usize,
) -> (Vec<common::amqp::Output>, Arc<mailsift::amqp::Stats>) {
    let (stop, handle, stats) = start(config(url), engine);
    let outputs = collect(url, &topology(), n, Duration::from_secs(60)).await;
    let _ = stop.send(true);
    handle.await.expect("worker task");
    (outputs, stats)
}

/// Outputs keyed by the edge queue id carried through from their input.
fn by_queue_id(outputs: &[common::amqp::Output]) -> HashMap<String, &common::amqp::Output> {
    outputs
        .iter()
        .map(|o| (o.text(contract::QUEUE_ID).unwrap_or_default(), o))
        .collect()
}

fn queue_for(t: &mailsift::amqp::Topology, v: &Verdict) -> String {
    match v.route {
        mailsift::Route::Deliver => t.deliver_queue(&v.region),
        mailsift::Route::Quarantine => t.quarantine_queue.clone(),
        mailsift::Route::DetectOnly => t.verdicts_queue.clone(),
        mailsift::Route::Requeue => t.retry_queue.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_input_gives_exactly_one_correct_output() {
    let vhost = common::Vhost::new("n-in-n-out");
    let t = topology();
    let engine = engine();
    // The whole project corpus, some with an explicit envelope for a
    // fabrikam (eu) recipient, the rest derived from headers.
    let mut inputs = Vec::new();
    for (i, (rel, body)) in common::corpus_messages().into_iter().enumerate() {
        let env = Envelope {
            queue_id: Some(format!("q{i}")),
            rcpt_to: if i % 5 == 0 {
                vec!["ann@fabrikam.com".into()]
            } else {
                Vec::new()
            },
            ..Envelope::default()
        };
        inputs.push((rel, body, env));
    }
    let n = inputs.len();
    let messages: Vec<(Vec<u8>, Envelope)> = inputs
        .iter()
        .map(|(_, b, e)| (b.clone(), e.clone()))
        .collect();
    publish(&vhost.url(), &t, &messages).await;
    let (outputs, stats) = run_until(&vhost.url(), engine.clone(), n).await;

    assert_eq!(outputs.len(), n, "exactly N outputs for N inputs");
    assert!(
        outputs.iter().all(|o| o.text(contract::QUEUE_ID).is_some()),
        "queue id carried through to every output"
    );
    let by_id = by_queue_id(&outputs);
    assert_eq!(by_id.len(), n);
    let mut routes = HashSet::new();
    for (rel, body, env) in &inputs {
        let out = by_id[env.queue_id.as_deref().expect("id")];
        let expected = engine.classify(body, Some(env));
        assert_eq!(
            out.queue,
            queue_for(&t, &expected),
            "{rel}: routed to the wrong queue"
        );
        assert_eq!(
            out.text(contract::DISPOSITION).as_deref(),
            Some(expected.disposition.as_str()),
            "{rel}"
        );
        assert_eq!(
            out.text(contract::DOMAIN).as_deref(),
            Some(expected.policy_domain.as_str()),
            "{rel}"
        );
        assert_eq!(
            out.text(contract::REGION).as_deref(),
            Some(expected.region.as_str()),
            "{rel}"
        );
        if expected.route == mailsift::Route::DetectOnly {
            let v: serde_json::Value = serde_json::from_slice(&out.body).expect("verdict JSON");
            assert_eq!(v["disposition"], expected.disposition.as_str(), "{rel}");
        } else {
            let stamped = mailsift::stamp::stamp(body, &expected, &engine.rules().engine.stamp);
            assert_eq!(out.body, stamped, "{rel}: stamped body differs");
        }
        routes.insert(out.queue.clone());
    }
    assert!(
        routes.len() >= 4,
        "deliver.us, deliver.eu, quarantine and verdicts all used: {routes:?}"
    );
    assert_eq!(
        stats.acked.load(std::sync::atomic::Ordering::Relaxed),
        n as u64
    );
    assert_eq!(
        queue_depth(&vhost.url(), &t.input_queue).await,
        0,
        "input drained"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_is_quarantined_and_the_worker_keeps_going() {
    let vhost = common::Vhost::new("poison");
    let t = topology();
    // Small size limit so an "oversized" message is cheap to make.
    let dir = common::rules_copy("poison-rules");
    let engine_toml = std::fs::read_to_string(dir.join("engine.toml")).expect("engine.toml");
    std::fs::write(
        dir.join("engine.toml"),
        engine_toml.replace("max_message_bytes = 67108864", "max_message_bytes = 100000"),
    )
    .expect("write");
    let engine = Arc::new(Engine::new(Arc::new(Rules::load(&dir).expect("rules"))));
    let normal = std::fs::read(common::root().join("corpus/none/01-internal-team-lunch.eml"))
        .expect("fixture");
    let mut oversized = normal.clone();
    oversized.extend(std::iter::repeat_n(b'x', 200_000));
    let env = |id: &str| Envelope {
        queue_id: Some(id.into()),
        ..Envelope::default()
    };
    let inputs = vec![
        (b"\x00\x01\x02 not mail at all".to_vec(), env("garbage")),
        (Vec::new(), env("empty")),
        (oversized, env("oversized")),
        (normal.clone(), env("after")),
    ];
    publish(&vhost.url(), &t, &inputs).await;
    // A message whose envelope headers are all wrong types.
    {
        use lapin::types::{AMQPValue, FieldTable, LongString};
        let conn = lapin::Connection::connect(&vhost.url(), lapin::ConnectionProperties::default())
            .await
            .expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        let mut h = FieldTable::default();
        h.insert(
            contract::PEER_IP.into(),
            AMQPValue::LongString(LongString::from("999.1.1.1")),
        );
        h.insert(contract::RCPT_TO.into(), AMQPValue::Boolean(true));
        h.insert(
            contract::RECEIVED_AT.into(),
            AMQPValue::LongString(LongString::from("soon")),
        );
        h.insert(
            contract::QUEUE_ID.into(),
            AMQPValue::LongString(LongString::from("bad-envelope")),
        );
        ch.basic_publish(
            "".into(),
            t.input_queue.as_str().into(),
            Default::default(),
            &normal,
            lapin::BasicProperties::default().with_headers(h),
        )
        .await
        .expect("publish");
        let _ = conn.close(200, "ok".into()).await;
    }
    let (outputs, _) = run_until(&vhost.url(), engine, 5).await;
    let by = by_queue_id(&outputs);
    for poison in ["garbage", "empty", "oversized"] {
        let o = by
            .get(poison)
            .unwrap_or_else(|| panic!("{poison} produced no output"));
        assert_eq!(o.queue, t.quarantine_queue, "{poison}");
        assert!(
            o.text(contract::ERROR).is_some(),
            "{poison} carries its reason"
        );
    }
    assert!(by.contains_key("after"), "the worker kept going");
    let bad = by
        .get("bad-envelope")
        .expect("malformed envelope still classified");
    assert!(bad.text(contract::DISPOSITION).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stamps_are_stripped_unless_from_the_gateway() {
    let vhost = common::Vhost::new("forged");
    let t = topology();
    let spam = "Received: from x (x [64.0.0.10]) by mx1.contoso.com; Tue, 12 Mar 2024 10:15:02 +0000\r\n\
X-Mailsift-Disposition: NONE\r\nX-Mailsift-Reasons: none\r\nX-Area1Security-Disposition: NONE\r\n\
From: deals@pills.example\r\nTo: bob@contoso.com\r\nSubject: deal\r\nDate: Tue, 12 Mar 2024 10:14:00 +0000\r\nMessage-ID: <f@pills.example>\r\n\r\n\
Cheap viagra and cialis from our online pharmacy, no prescription! Act now, 100% free, click here.\r\n";
    let env = |ip: &str, id: &str| Envelope {
        peer_ip: Some(ip.parse().expect("ip")),
        mail_from: Some("deals@pills.example".into()),
        rcpt_to: vec!["bob@contoso.com".into()],
        queue_id: Some(id.into()),
        ..Envelope::default()
    };
    publish(
        &vhost.url(),
        &t,
        &[
            (spam.as_bytes().to_vec(), env("64.0.0.10", "outside")),
            (spam.as_bytes().to_vec(), env("192.0.2.10", "gateway")),
        ],
    )
    .await;
    let (outputs, _) = run_until(&vhost.url(), engine(), 2).await;
    let by = by_queue_id(&outputs);
    let outside = by.get("outside").expect("output");
    let text = String::from_utf8_lossy(&outside.body);
    assert_eq!(text.matches("X-Mailsift-Disposition:").count(), 1, "{text}");
    assert!(
        text.starts_with("X-Mailsift-Disposition: SPAM\r\n"),
        "{text}"
    );
    assert_eq!(text.matches("X-Area1Security-Disposition:").count(), 1);
    assert_eq!(outside.queue, t.quarantine_queue);
    let gateway = by.get("gateway").expect("output");
    assert_eq!(
        gateway.text(contract::DISPOSITION).as_deref(),
        Some("NONE"),
        "our own stamp is trusted from our own MTA"
    );
    assert!(gateway.headers.inner().contains_key(contract::PASSTHROUGH));
    assert_eq!(gateway.queue, t.deliver_queue("us"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_output_is_dead_lettered_after_the_delivery_limit() {
    let vhost = common::Vhost::new("dead-letter");
    let mut t = topology();
    t.delivery_limit = 2;
    let mut cfg = config(&vhost.url());
    cfg.topology = t.clone();
    let body = std::fs::read(common::root().join("corpus/none/01-internal-team-lunch.eml"))
        .expect("fixture");
    // Break delivery for region us once the worker has declared everything:
    // nothing is bound to deliver.us any more.
    let (stop, handle, stats) = start(cfg, engine());
    tokio::time::sleep(Duration::from_millis(800)).await;
    {
        let conn = lapin::Connection::connect(&vhost.url(), lapin::ConnectionProperties::default())
            .await
            .expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        ch.queue_unbind(
            t.deliver_queue("us").as_str().into(),
            t.deliver_exchange.as_str().into(),
            "deliver.us".into(),
            Default::default(),
        )
        .await
        .expect("unbind");
        let _ = conn.close(200, "ok".into()).await;
    }
    common::amqp::publish_only(
        &vhost.url(),
        &t,
        &[(
            body,
            Envelope {
                rcpt_to: vec!["bob@contoso.com".into()],
                ..Envelope::default()
            },
        )],
    )
    .await;
    let mut dead = 0;
    for _ in 0..100 {
        dead = queue_depth(&vhost.url(), &t.dead_letter_queue).await;
        if dead > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    handle.await.expect("worker");
    assert_eq!(
        dead,
        1,
        "the input went to the dead-letter queue after {} requeues ({} acked)",
        stats.requeued.load(std::sync::atomic::Ordering::Relaxed),
        stats.acked.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(
        stats.acked.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "never acked without an output"
    );
    for q in t.output_queues() {
        assert_eq!(queue_depth(&vhost.url(), &q).await, 0, "{q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_then_a_new_worker_loses_nothing() {
    let vhost = common::Vhost::new("sigterm");
    let t = topology();
    const N: usize = 10_000;
    let inputs = common::amqp::numbered_inputs("m", N);
    publish(&vhost.url(), &t, &inputs).await;
    let spawn_worker = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mailsift"))
            .args([
                "worker",
                "--prefetch",
                "128",
                "--grace-period",
                "20",
                "--no-auth",
            ])
            .env("MAILSIFT_AMQP_URL", vhost.url())
            .env("RUST_LOG", "warn")
            .current_dir(common::root())
            .spawn()
            .expect("start worker")
    };
    let mut first = spawn_worker();
    // Let it get well into the run, then SIGTERM it.
    let mut remaining = N as u32;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        remaining = queue_depth(&vhost.url(), &t.input_queue).await;
        if remaining < (N as u32) * 2 / 3 {
            break;
        }
    }
    assert!(
        remaining > 0,
        "the run finished before SIGTERM; make N larger"
    );
    let term = std::process::Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = first.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "worker did not exit within the grace period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "worker exit status after SIGTERM: {status:?}"
    );
    let left = queue_depth(&vhost.url(), &t.input_queue).await;
    assert!(
        left > 0,
        "SIGTERM landed after the queue drained; nothing to hand over"
    );
    let mut second = spawn_worker();
    let outputs = collect(&vhost.url(), &t, N, Duration::from_secs(240)).await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    let _ = second.wait();
    let common::amqp::Accounting {
        missing,
        duplicates,
    } = common::amqp::account(&outputs, "m", N);
    assert!(missing.is_empty(), "lost inputs, e.g. {missing:?}");
    eprintln!(
        "{N} inputs: {} outputs ({} duplicates), {left} handed to the second worker",
        outputs.len(),
        duplicates
    );
}

#[test]
fn shipped_definitions_match_the_worker_topology() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailsift"))
        .args(["topology", "--vhost", "/"])
        .current_dir(common::root())
        .output()
        .expect("mailsift topology");
    assert!(out.status.success());
    let generated: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("k8s/rabbitmq-definitions.json"))
            .expect("k8s/rabbitmq-definitions.json"),
    )
    .expect("JSON");
    assert_eq!(
        generated, shipped,
        "regenerate with `mailsift topology > k8s/rabbitmq-definitions.json`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_of_two_domains_get_one_output_each_in_their_region() {
    let vhost = common::Vhost::new("split");
    let t = topology();
    let body = std::fs::read(common::root().join("corpus/none/02-partner-google-workspace.eml"))
        .expect("fixture");
    let env = Envelope {
        rcpt_to: vec![
            "bob@contoso.com".into(),
            "ann@fabrikam.com".into(),
            "carol@contoso.com".into(),
        ],
        queue_id: Some("split-1".into()),
        ..Envelope::default()
    };
    publish(&vhost.url(), &t, &[(body, env)]).await;
    let (outputs, stats) = run_until(&vhost.url(), engine(), 2).await;
    assert_eq!(outputs.len(), 2, "one output per recipient domain");
    let rcpts = |o: &common::amqp::Output| -> Vec<String> {
        match o.headers.inner().get(contract::RCPT_TO) {
            Some(lapin::types::AMQPValue::FieldArray(a)) => a
                .as_slice()
                .iter()
                .filter_map(|v| match v {
                    lapin::types::AMQPValue::LongString(s) => {
                        Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                    }
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let us = outputs
        .iter()
        .find(|o| o.text(contract::DOMAIN).as_deref() == Some("contoso.com"))
        .expect("contoso output");
    let eu = outputs
        .iter()
        .find(|o| o.text(contract::DOMAIN).as_deref() == Some("fabrikam.com"))
        .expect("fabrikam output");
    assert_eq!(rcpts(us), vec!["bob@contoso.com", "carol@contoso.com"]);
    assert_eq!(rcpts(eu), vec!["ann@fabrikam.com"]);
    assert_eq!(eu.text(contract::REGION).as_deref(), Some("eu"));
    assert!(
        eu.queue == t.deliver_queue("eu") || eu.queue == t.quarantine_queue,
        "{}",
        eu.queue
    );
    assert_ne!(us.id(), eu.id(), "each output has its own stable id");
    assert_eq!(
        stats.acked.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "one input, acked once both outputs were confirmed"
    );
}
