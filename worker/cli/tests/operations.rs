//! Operating the pool against the real RabbitMQ: `/metrics` counts every
//! message of a run, a pool of three workers loses nothing when one is
//! SIGKILLed, and a running worker hot-reloads its rules without dropping
//! or duplicating a message (and keeps them when the new files are broken).

use mailsift_amqp::contract;
use mailsift_testkit::broker::{
    account, collect, numbered_inputs, publish, queue_depth, topology, Accounting, Output, Vhost,
};
use mailsift_testkit::http::{free_addr, get, metric_sum};
use mailsift_testkit::{root, rules_copy};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A `mailsift worker` process, killed on drop if still running.
struct WorkerProcess {
    child: Child,
    http: SocketAddr,
}

impl WorkerProcess {
    fn start(vhost: &Vhost, rules: &Path, extra: &[&str]) -> WorkerProcess {
        let http = free_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_mailsift"))
            .arg("worker")
            .args(["--no-auth", "--prefetch", "32", "--grace-period", "20"])
            .args(["--http-addr", &http.to_string(), "--log-format", "json"])
            .arg("--rules")
            .arg(rules)
            .args(extra)
            .env("MAILSIFT_AMQP_URL", vhost.url())
            .env("RUST_LOG", "warn")
            .current_dir(root())
            .spawn()
            .expect("start worker");
        let w = WorkerProcess { child, http };
        w.wait_until(
            Duration::from_secs(30),
            |status, _| status == 200,
            "/readyz",
        );
        w
    }

    /// Polls `path` until `ok(status, body)` or the deadline.
    fn wait_until(&self, within: Duration, ok: impl Fn(u16, &str) -> bool, path: &str) -> String {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < within {
            if let Some((status, body)) = get(self.http, path) {
                if ok(status, &body) {
                    return body;
                }
                last = format!("{status}: {body}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{path} never got there in {within:?}; last answer {last:.2000}");
    }

    fn metrics(&self) -> String {
        get(self.http, "/metrics").expect("/metrics answers").1
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig}");
    }

    fn terminate(mut self) {
        self.signal("-TERM");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(25) {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "worker exit status after SIGTERM: {status:?}"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("worker did not exit within its grace period");
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_every_message_of_a_run() {
    let vhost = Vhost::new("metrics");
    let t = topology();
    const N: usize = 300;
    publish(&vhost.url(), &t, &numbered_inputs("m", N)).await;
    let worker = WorkerProcess::start(&vhost, &root().join("rules"), &[]);
    assert_eq!(get(worker.http, "/healthz").map(|r| r.0), Some(200));
    let outputs = collect(&vhost.url(), &t, N, Duration::from_secs(60)).await;
    assert_eq!(outputs.len(), N);
    // Acks follow the confirms that `collect` saw; give the counters a moment.
    let body = worker.wait_until(
        Duration::from_secs(10),
        |_, b| metric_sum(b, "mailsift_publish_confirms_total") >= N as f64,
        "/metrics",
    );
    assert_eq!(
        metric_sum(&body, "mailsift_messages_total{"),
        N as f64,
        "{body}"
    );
    let quarantined = outputs
        .iter()
        .filter(|o| o.queue.starts_with(&t.quarantine_queue_prefix))
        .count();
    assert_eq!(
        metric_sum(
            &body,
            r#"mailsift_messages_total{disposition="MALICIOUS",route="quarantine""#
        ) + metric_sum(
            &body,
            r#"mailsift_messages_total{disposition="SPOOF",route="quarantine""#
        ) + metric_sum(
            &body,
            r#"mailsift_messages_total{disposition="SPAM",route="quarantine""#
        ) + metric_sum(
            &body,
            r#"mailsift_messages_total{disposition="SUSPICIOUS",route="quarantine""#
        ) + metric_sum(
            &body,
            r#"mailsift_messages_total{disposition="BULK",route="quarantine""#
        ) + metric_sum(
            &body,
            r#"mailsift_messages_total{disposition="NONE",route="quarantine""#
        ),
        quarantined as f64,
        "{body}"
    );
    assert_eq!(
        metric_sum(&body, "mailsift_classification_seconds_count"),
        N as f64
    );
    assert!(metric_sum(&body, r#"mailsift_check_seconds_count{name="headers"}"#) > 0.0);
    assert_eq!(metric_sum(&body, "mailsift_in_flight"), 0.0, "{body}");
    assert_eq!(metric_sum(&body, "mailsift_broker_connected"), 1.0);
    assert!(body.contains("mailsift_rules_info{version=\""), "{body}");
    worker.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_three_loses_nothing_when_one_is_killed() {
    let vhost = Vhost::new("pool");
    let t = topology();
    const N: usize = 6_000;
    publish(&vhost.url(), &t, &numbered_inputs("p", N)).await;
    let rules = root().join("rules");
    let pool: Vec<WorkerProcess> = (0..3)
        .map(|_| WorkerProcess::start(&vhost, &rules, &[]))
        .collect();
    // Into the run, then SIGKILL one: its unacked deliveries come back.
    let started = Instant::now();
    loop {
        let left = queue_depth(&vhost.url(), &t.input_queue).await;
        if left < (N as u32) * 2 / 3 {
            assert!(left > 0, "the run finished before the kill; make N larger");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the pool does not move"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool[0].signal("-KILL");
    let outputs = collect(&vhost.url(), &t, N, Duration::from_secs(240)).await;
    let Accounting {
        missing,
        duplicates,
    } = account(&outputs, "p", N);
    assert!(missing.is_empty(), "lost inputs, e.g. {missing:?}");
    // Repeats are only what the killed worker had in flight (its prefetch),
    // and each repeat is the same output under the same stable id.
    assert!(
        duplicates <= 32,
        "{duplicates} repeated outputs for prefetch 32"
    );
    let mut by_id: HashMap<String, &Output> = HashMap::new();
    for o in &outputs {
        if let Some(first) = by_id.insert(o.id(), o) {
            assert_eq!(first.body, o.body, "a repeat of {} differs", o.id());
            assert_eq!(first.queue, o.queue);
        }
    }
    assert_eq!(by_id.len(), N, "one distinct output per input");
    eprintln!("pool of 3, one SIGKILLed: {N} inputs, {duplicates} repeats de-duplicated by id");
    for w in pool.into_iter().skip(1) {
        w.terminate();
    }
}

/// Replaces a file whole, as kubelet and most editors do (write aside, then
/// rename), so the worker never sees it half written.
fn replace_file(path: &Path, contents: &str) {
    let aside = path.with_extension("toml.new");
    std::fs::write(&aside, contents).expect("write aside");
    std::fs::rename(&aside, path).expect("rename into place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_worker_reloads_its_rules_and_keeps_them_when_broken() {
    let vhost = Vhost::new("reload");
    let t = topology();
    let rules = rules_copy("hot-reload");
    let worker = WorkerProcess::start(&vhost, &rules, &["--reload-poll-seconds", "1"]);
    let version = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("mailsift_rules_info{version=\""))
            .and_then(|l| l.split('"').next())
            .map(str::to_string)
            .expect("a rules version")
    };
    let v0 = version(&worker.metrics());

    // A steady stream before, during and after the change.
    const N: usize = 1_500;
    let inputs = numbered_inputs("r", N);
    let url = vhost.url();
    let t2 = t.clone();
    let publishing = tokio::spawn(async move {
        for chunk in inputs.chunks(100) {
            publish(&url, &t2, chunk).await;
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Every message without an envelope derives one: now that is SPAM.
    let scores = std::fs::read_to_string(rules.join("scores.toml")).expect("scores.toml");
    replace_file(
        &rules.join("scores.toml"),
        &format!("{scores}\n[INFO_ENVELOPE_DERIVED]\ndisposition = \"SPAM\"\nweight = 50.0\n"),
    );
    let changed = Instant::now();
    let body = worker.wait_until(Duration::from_secs(10), |_, b| version(b) != v0, "/metrics");
    let v1 = version(&body);
    eprintln!("reloaded {v0} → {v1} in {:?}", changed.elapsed());
    assert!(
        changed.elapsed() < Duration::from_secs(5),
        "took {:?}",
        changed.elapsed()
    );
    publishing.await.expect("publisher");

    // A broken file: the rules in use stay.
    replace_file(&rules.join("scores.toml"), "[NO_SUCH_RULE]\nweight = 1.0\n");
    let body = worker.wait_until(
        Duration::from_secs(10),
        |_, b| b.contains("mailsift_rules_last_reload_success 0"),
        "/metrics",
    );
    assert_eq!(version(&body), v1, "the broken rules were not swapped in");
    assert!(
        body.contains(r#"mailsift_rules_reloads_total{result="error"}"#),
        "{body}"
    );
    // A message that is NONE under the shipped rules.
    let lunch =
        std::fs::read(root().join("corpus/none/01-internal-team-lunch.eml")).expect("fixture");
    let after: Vec<_> = (0..20)
        .map(|i| {
            let env = mailsift_core::Envelope {
                queue_id: Some(format!("after{i}")),
                ..mailsift_core::Envelope::default()
            };
            (lunch.clone(), env)
        })
        .collect();
    publish(&vhost.url(), &t, &after).await;

    let outputs = collect(&vhost.url(), &t, N + 20, Duration::from_secs(60)).await;
    let Accounting {
        missing,
        duplicates,
    } = account(&outputs, "r", N);
    assert!(missing.is_empty(), "lost inputs, e.g. {missing:?}");
    assert_eq!(duplicates, 0, "no message duplicated by the reload");
    assert_eq!(outputs.len(), N + 20, "exactly one output per input");
    let spam = |o: &Output| o.text(contract::DISPOSITION).as_deref() == Some("SPAM");
    let late: Vec<&Output> = outputs
        .iter()
        .filter(|o| {
            o.text(contract::QUEUE_ID)
                .is_some_and(|q| q.starts_with("after"))
        })
        .collect();
    assert_eq!(late.len(), 20);
    assert!(
        late.iter().all(|o| spam(o)),
        "the reloaded rules judge new mail"
    );
    let metrics = worker.metrics();
    assert_eq!(
        metric_sum(&metrics, "mailsift_requeued_total"),
        0.0,
        "{metrics}"
    );
    worker.terminate();
}
