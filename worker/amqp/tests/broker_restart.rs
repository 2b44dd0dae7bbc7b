//! A broker restart in the middle of a run: nothing lost, and the worker
//! recovers on its own. Its own test binary, because stopping the broker
//! would break any test running beside it (cargo runs test binaries one at
//! a time).

use mailsift_amqp::{Worker, WorkerConfig};
use mailsift_testkit::broker::{
    account, collect, numbered_inputs, publish, rabbitmqctl, topology, Accounting, Vhost,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_run_loses_nothing() {
    let vhost = Vhost::new("restart");
    let t = topology();
    const N: usize = 4_000;
    let inputs = numbered_inputs("r", N);
    publish(&vhost.url(), &t, &inputs).await;

    let cfg = WorkerConfig {
        amqp_url: vhost.url(),
        topology: t.clone(),
        prefetch: 64,
        grace: Duration::from_secs(20),
        journal_include_body: false,
        max_backoff: Duration::from_millis(500),
        record_dns: None,
    };
    let engine = Arc::new(mailsift_testkit::engine().clone());
    let worker = Worker::new(cfg, Arc::new(arc_swap::ArcSwap::from(engine)), 2).expect("worker");
    let stats = worker.stats();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(async move { worker.run(rx).await });

    for _ in 0..600 {
        if stats.acked.load(Ordering::Relaxed) >= (N / 4) as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = stats.acked.load(Ordering::Relaxed);
    assert!(before < N as u64, "the run finished before the restart");
    let restarted = tokio::task::spawn_blocking(|| {
        rabbitmqctl(&["stop_app"]);
        std::thread::sleep(Duration::from_secs(2));
        rabbitmqctl(&["start_app"]);
        rabbitmqctl(&["await_startup"]);
    });
    restarted.await.expect("restart");

    let outputs = collect(&vhost.url(), &t, N, Duration::from_secs(180)).await;
    let _ = stop.send(true);
    handle.await.expect("worker task");
    let Accounting {
        missing,
        duplicates,
    } = account(&outputs, "r", N);
    assert!(
        missing.is_empty(),
        "lost inputs after a broker restart, e.g. {missing:?}"
    );
    assert!(
        stats.connections.load(Ordering::Relaxed) >= 2,
        "the worker reconnected by itself"
    );
    eprintln!(
        "{N} inputs, {before} acked before the restart, {} outputs ({} duplicates, allowed: at-least-once), {} connections",
        outputs.len(),
        duplicates,
        stats.connections.load(Ordering::Relaxed)
    );
}
