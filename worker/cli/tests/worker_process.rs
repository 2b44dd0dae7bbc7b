//! The `mailsift worker` process against the real RabbitMQ: a SIGTERM in
//! the middle of a run loses nothing, and the shipped definitions file is
//! the worker's topology.

use mailsift_testkit::broker::{
    account, collect, numbered_inputs, publish, queue_depth, topology, Accounting, Vhost,
};
use mailsift_testkit::root;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_then_a_new_worker_loses_nothing() {
    let vhost = Vhost::new("sigterm");
    let t = topology();
    const N: usize = 10_000;
    let inputs = numbered_inputs("m", N);
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
            .current_dir(root())
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
    let Accounting {
        missing,
        duplicates,
    } = account(&outputs, "m", N);
    assert!(missing.is_empty(), "lost inputs, e.g. {missing:?}");
    eprintln!(
        "{N} inputs: {} outputs ({} duplicates), {left} handed to the second worker",
        outputs.len(),
        duplicates
    );
}

/// The definitions files operators import are the worker's topology: the
/// unprefixed one and each regional overlay's (names prefixed `<region>.`).
#[test]
fn shipped_definitions_match_the_worker_topology() {
    for (file, prefix) in [
        ("k8s/rabbitmq-definitions.json", ""),
        ("k8s/overlays/us/rabbitmq-definitions.json", "us."),
        ("k8s/overlays/eu/rabbitmq-definitions.json", "eu."),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailsift"))
            .args(["topology", "--vhost", "/", "--name-prefix", prefix])
            .current_dir(root())
            .output()
            .expect("mailsift topology");
        assert!(out.status.success());
        let generated: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let shipped: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root().join(file)).expect(file))
                .expect("JSON");
        assert_eq!(
            generated, shipped,
            "regenerate with `mailsift topology --name-prefix '{prefix}' > {file}`"
        );
    }
}
