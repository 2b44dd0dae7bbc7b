//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod amqp;
pub mod conformance;

use mailsift::{Engine, Rules};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An engine on the shipped rules, loaded once per test binary.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let rules = Rules::load(&root().join("rules")).unwrap_or_else(|e| panic!("{e}"));
        Engine::new(Arc::new(rules))
    })
}

/// Every labelled project-corpus message: (path relative to corpus/, bytes).
pub fn corpus_messages() -> Vec<(String, Vec<u8>)> {
    let labels =
        std::fs::read_to_string(root().join("corpus/labels.csv")).expect("corpus/labels.csv");
    labels
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let rel = l.split(',').next().expect("path").to_string();
            let bytes =
                std::fs::read(root().join("corpus").join(&rel)).expect("read corpus message");
            (rel, bytes)
        })
        .collect()
}

/// A fresh temporary directory for one test.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailsift-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Copies the shipped rules into a temp dir so a test can change one file.
pub fn rules_copy(name: &str) -> PathBuf {
    let dir = tempdir(name);
    for entry in std::fs::read_dir(root().join("rules")).expect("rules dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy rule file");
    }
    dir
}

/// A throwaway RabbitMQ virtual host on the local broker, deleted on drop,
/// so tests never see each other's messages. Fails loudly when no broker is
/// reachable (the test command starts one; it never skips silently).
pub struct Vhost {
    /// Its name.
    pub name: String,
}

impl Vhost {
    /// Creates `mailsift-test-<pid>-<name>` with full permissions for guest.
    pub fn new(name: &str) -> Vhost {
        assert!(
            std::net::TcpStream::connect("127.0.0.1:5672").is_ok(),
            "no RabbitMQ on 127.0.0.1:5672: run the tests with scripts/test.sh, which starts it"
        );
        let name = format!("mailsift-test-{}-{name}", std::process::id());
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Vhost { name }
    }

    /// The AMQP URL of this vhost.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        // Deleting the vhost also deletes its quorum queues, sidestepping the
        // RabbitMQ 3.10 race when deleting a busy quorum queue directly.
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

/// Runs rabbitmqctl and panics with its output on failure.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl must be installed");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rabbitmqctl {args:?} failed: {text}");
    text
}
