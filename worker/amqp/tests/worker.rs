//! The worker against the real RabbitMQ on 127.0.0.1:5672, each test in its
//! own vhost: N in → N out, routing by policy, stamping, poison input,
//! forged stamps, dead-lettering, and a SIGTERM in the middle of a run.

use mailsift_amqp::{contract, Stats, Topology, Worker, WorkerConfig};
use mailsift_core::{stamp, Engine, Envelope, Route, Verdict};
use mailsift_testkit::broker::{
    collect, publish, publish_only, queue_depth, topology, Output, Vhost,
};
use mailsift_testkit::{corpus_messages, root, rules_copy};
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
        max_backoff: Duration::from_millis(500),
        record_dns: None,
    }
}

fn engine() -> Arc<Engine> {
    Arc::new(mailsift_testkit::engine().clone())
}

/// Starts a worker in this process; the returned sender stops it.
fn start(
    cfg: WorkerConfig,
    engine: Arc<Engine>,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
    Arc<Stats>,
) {
    let worker = Worker::new(cfg, Arc::new(arc_swap::ArcSwap::from(engine)), 2).expect("worker");
    let stats = worker.stats();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(async move { worker.run(rx).await });
    (tx, handle, stats)
}

/// Runs a worker until `n` outputs arrived, then stops it; returns the
/// outputs and the worker's counters.
async fn run_until(url: &str, engine: Arc<Engine>, n: usize) -> (Vec<Output>, Arc<Stats>) {
    let (stop, handle, stats) = start(config(url), engine);
    let outputs = collect(url, &topology(), n, Duration::from_secs(60)).await;
    let _ = stop.send(true);
    handle.await.expect("worker task");
    (outputs, stats)
}

/// Outputs keyed by the edge queue id carried through from their input.
fn by_queue_id(outputs: &[Output]) -> HashMap<String, &Output> {
    outputs
        .iter()
        .map(|o| (o.text(contract::QUEUE_ID).unwrap_or_default(), o))
        .collect()
}

/// The region an output says it was routed for.
fn region_of(o: &Output) -> String {
    o.text(contract::REGION).unwrap_or_default()
}

fn queue_for(t: &Topology, v: &Verdict) -> String {
    match v.route {
        Route::Deliver => t.deliver_queue(&v.region),
        Route::Quarantine => t.quarantine_queue(&v.region),
        Route::DetectOnly => t.verdicts_queue.clone(),
        Route::Requeue => t.retry_queue.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_input_gives_exactly_one_correct_output() {
    let vhost = Vhost::new("n-in-n-out");
    let t = topology();
    let engine = engine();
    // The whole project corpus, some with an explicit envelope for a
    // fabrikam (eu) recipient, the rest derived from headers.
    let mut inputs = Vec::new();
    for (i, (rel, _, body)) in corpus_messages().into_iter().enumerate() {
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
        if expected.route == Route::DetectOnly {
            let v: serde_json::Value = serde_json::from_slice(&out.body).expect("verdict JSON");
            assert_eq!(v["disposition"], expected.disposition.as_str(), "{rel}");
        } else {
            let stamped = stamp::stamp(body, &expected, &engine.rules().engine.stamp);
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
    let vhost = Vhost::new("poison");
    let t = topology();
    // Small size limit so an "oversized" message is cheap to make.
    let dir = rules_copy("poison-rules");
    let engine_toml = std::fs::read_to_string(dir.join("engine.toml")).expect("engine.toml");
    std::fs::write(
        dir.join("engine.toml"),
        engine_toml.replace("max_message_bytes = 67108864", "max_message_bytes = 100000"),
    )
    .expect("write");
    let engine = Arc::new(Engine::load(&dir).expect("rules"));
    let normal =
        std::fs::read(root().join("corpus/none/01-internal-team-lunch.eml")).expect("fixture");
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
        assert_eq!(o.queue, t.quarantine_queue(&region_of(o)), "{poison}");
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
    let vhost = Vhost::new("forged");
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
    assert_eq!(outside.queue, t.quarantine_queue(&region_of(outside)));
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
    let vhost = Vhost::new("dead-letter");
    let mut t = topology();
    t.delivery_limit = 2;
    let mut cfg = config(&vhost.url());
    cfg.topology = t.clone();
    let body =
        std::fs::read(root().join("corpus/none/01-internal-team-lunch.eml")).expect("fixture");
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
    publish_only(
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
async fn recipients_of_two_domains_get_one_output_each_in_their_region() {
    let vhost = Vhost::new("split");
    let t = topology();
    let body =
        std::fs::read(root().join("corpus/none/02-partner-google-workspace.eml")).expect("fixture");
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
    let rcpts = |o: &Output| -> Vec<String> {
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
        eu.queue == t.deliver_queue("eu") || eu.queue == t.quarantine_queue("eu"),
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

/// The industry's test strings through the whole worker, as an
/// administrator checks a new filter: GTUBE in the body is SPAM, the EICAR
/// file attached (plain, or zipped) is MALICIOUS; all three are stamped
/// and quarantined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gtube_and_eicar_are_caught_end_to_end() {
    use mailsift_core::inspect::signatures::{EICAR, GTUBE};
    use mailsift_testkit::hostile::{with_attachment, zip};
    let vhost = Vhost::new("test-strings");
    let t = topology();
    let gtube = format!(
        "From: admin@partner.example\r\nTo: bob@contoso.com\r\nSubject: filter test\r\nDate: Tue, 12 Mar 2024 10:14:00 +0000\r\nMessage-ID: <gtube@partner.example>\r\n\r\nThis is the GTUBE, the\r\n\r\n{GTUBE}\r\n"
    );
    let messages = [
        ("gtube", gtube.into_bytes()),
        (
            "eicar",
            with_attachment("eicar.com", "application/octet-stream", EICAR),
        ),
        (
            "eicar-zip",
            with_attachment(
                "eicar.zip",
                "application/zip",
                &zip("eicar.com", EICAR, true, None),
            ),
        ),
    ];
    let inputs: Vec<(Vec<u8>, Envelope)> = messages
        .iter()
        .map(|(id, raw)| {
            let env = Envelope {
                peer_ip: Some("64.0.0.10".parse().expect("ip")),
                mail_from: Some("admin@partner.example".into()),
                rcpt_to: vec!["bob@contoso.com".into()],
                queue_id: Some((*id).into()),
                ..Envelope::default()
            };
            (raw.clone(), env)
        })
        .collect();
    publish(&vhost.url(), &t, &inputs).await;
    let (outputs, _) = run_until(&vhost.url(), engine(), inputs.len()).await;
    let by = by_queue_id(&outputs);
    for (id, disposition, rule) in [
        ("gtube", "SPAM", "TEST_GTUBE"),
        ("eicar", "MALICIOUS", "TEST_EICAR"),
        ("eicar-zip", "MALICIOUS", "TEST_EICAR"),
    ] {
        let out = by.get(id).unwrap_or_else(|| panic!("{id}: no output"));
        assert_eq!(
            out.text(contract::DISPOSITION).as_deref(),
            Some(disposition),
            "{id}"
        );
        assert_eq!(out.queue, t.quarantine_queue(&region_of(out)), "{id}");
        let text = String::from_utf8_lossy(&out.body);
        assert!(
            text.starts_with(&format!("X-Mailsift-Disposition: {disposition}\r\n")),
            "{id}: {}",
            &text[..text.len().min(300)]
        );
        assert!(
            text.contains(rule),
            "{id}: the reasons name {rule}: {}",
            &text[..text.len().min(600)]
        );
    }
}
