//! SMTP peers for the tests, from software no one here wrote: Python's
//! `smtplib` as the sending MTA (`py/send.py`) and `aiosmtpd` as the next
//! hop (`py/sink.py`), run from the virtualenv the test command prepares
//! (`target/py-venv`); plus processes of the `mailsift` binary.

use crate::root;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python with aiosmtpd (`$MAILSIFT_TEST_PYTHON`, else
/// `target/py-venv/bin/python`). Fails loudly when missing.
pub fn python() -> PathBuf {
    let p = std::env::var_os("MAILSIFT_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/py-venv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run the tests with scripts/test.sh, which makes the virtualenv with aiosmtpd",
        p.display()
    );
    p
}

/// A TCP port free right now on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A self-signed certificate for `names`, written as `cert.pem` and
/// `key.pem` in `dir`.
pub fn test_certificate(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    (cert, key)
}

/// A child process, killed on drop unless it was terminated.
pub struct Process {
    child: Child,
    name: String,
}

impl Process {
    /// Starts `program args...` with extra environment.
    pub fn start(name: &str, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(root());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        Process {
            child,
            name: name.to_string(),
        }
    }

    /// SIGTERM, then wait (at most `within`) for a clean exit.
    pub fn terminate(&mut self, within: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "{} exited with {status:?} after SIGTERM",
                    self.name
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} did not exit within {within:?} of SIGTERM", self.name);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, within: Duration) {
    let started = Instant::now();
    while started.elapsed() < within {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port} after {within:?}");
}

/// One message the sink accepted.
pub struct Stored {
    /// `mail_from`, `rcpt_to`, `tls`, `peer`, `helo`, `received_at`.
    pub meta: serde_json::Value,
    /// The message as received.
    pub body: Vec<u8>,
}

impl Stored {
    /// The message as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// aiosmtpd as the next hop (see `py/sink.py` for what it answers).
pub struct Sink {
    _process: Process,
    /// Its port.
    pub port: u16,
    /// Where it stores messages.
    pub dir: PathBuf,
}

impl Sink {
    /// Starts a sink storing into `dir`; STARTTLS with `tls`; deferring
    /// every recipient while `defer_while` exists.
    pub fn start(dir: &Path, tls: Option<(&Path, &Path)>, defer_while: Option<&Path>) -> Sink {
        let port = free_port();
        let script = root().join("worker/testkit/py/sink.py");
        let mut cmd = Command::new(python());
        cmd.arg(&script)
            .args(["--port", &port.to_string()])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::piped());
        if let Some((cert, key)) = tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        if let Some(f) = defer_while {
            cmd.arg("--defer-while").arg(f);
        }
        let mut child = cmd.spawn().expect("start sink.py");
        let mut ready = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut ready);
        }
        assert!(
            ready.starts_with("READY"),
            "sink.py did not start: {ready:?}"
        );
        Sink {
            _process: Process {
                child,
                name: "sink.py".into(),
            },
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// Every message stored so far, in order.
    pub fn messages(&self) -> Vec<Stored> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        names.sort();
        names
            .into_iter()
            .filter_map(|eml| {
                let meta = std::fs::read_to_string(eml.with_extension("json")).ok()?;
                Some(Stored {
                    meta: serde_json::from_str(&meta).ok()?,
                    body: std::fs::read(&eml).ok()?,
                })
            })
            .collect()
    }

    /// Waits until at least `n` messages are stored.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Stored> {
        let started = Instant::now();
        loop {
            let got = self.messages();
            if got.len() >= n || started.elapsed() > within {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Sends with Python's smtplib (`py/send.py`); its JSON report.
pub fn send(port: u16, args: &[&str]) -> serde_json::Value {
    let out = Command::new(python())
        .arg(root().join("worker/testkit/py/send.py"))
        .args(["--port", &port.to_string()])
        .args(args)
        .output()
        .expect("run send.py");
    assert!(
        out.status.success(),
        "send.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("send.py JSON")
}
