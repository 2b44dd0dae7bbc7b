//! A headless Chromium driven through chromedriver's WebDriver protocol
//! (W3C, JSON over HTTP): enough to open pages, type, click and read, so a
//! test can use a web page as a person does.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A browser session; chromedriver and Chromium stop on drop.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium. Panics with what to
    /// install when either is missing.
    pub fn start() -> Browser {
        let addr = crate::http::free_addr();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={}", addr.port()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is needed: scripts/test.sh installs Debian's chromium-driver");
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
        };
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        }}}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        b
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.session_call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The page's HTML as the browser has it.
    pub fn source(&self) -> String {
        self.session_call("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The element matching CSS `selector` (panics when there is none).
    pub fn find(&self, selector: &str) -> String {
        let v = self.session_call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": selector })),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element `{selector}` on {}: {v}", self.url()))
            .to_string()
    }

    /// How many elements match `selector`.
    pub fn count(&self, selector: &str) -> usize {
        self.session_call(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": selector })),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    /// Waits (up to ten seconds) until an element matches `selector`: a
    /// click that submits a form returns before the next page is there.
    pub fn wait_for(&self, selector: &str) {
        let started = Instant::now();
        while self.count(selector) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no `{selector}` on {} after 10 s:\n{}",
                self.url(),
                self.source()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the element matching `selector`.
    pub fn click(&self, selector: &str) {
        let id = self.find(selector);
        self.session_call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Types `text` into the element matching `selector`.
    pub fn type_into(&self, selector: &str, text: &str) {
        let id = self.find(selector);
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// The visible text of the element matching `selector`.
    pub fn text(&self, selector: &str) -> String {
        let id = self.find(selector);
        self.session_call("GET", &format!("/element/{id}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs `script` in the page (returns its value). For reading state
    /// only: the console's own pages allow no script, so this also proves
    /// what a page's CSP blocks.
    pub fn execute(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut s = TcpStream::connect(self.addr).expect("chromedriver");
        s.set_read_timeout(Some(Duration::from_secs(60))).ok();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        s.write_all(req.as_bytes()).expect("write to chromedriver");
        // chromedriver keeps the connection open: read the head, then
        // exactly Content-Length bytes.
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            if let Some(p) = out.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = s.read(&mut buf).expect("read from chromedriver");
            assert!(n > 0, "chromedriver closed the connection");
            out.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&out[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while out.len() < head_end + length {
            let n = s.read(&mut buf).expect("read from chromedriver");
            assert!(n > 0, "chromedriver closed the connection");
            out.extend_from_slice(&buf[..n]);
        }
        let json = String::from_utf8_lossy(&out[head_end..head_end + length]).into_owned();
        let v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
        if let Some(err) = v["value"]["error"].as_str() {
            panic!(
                "WebDriver {method} {path}: {err}: {}",
                v["value"]["message"]
            );
        }
        v["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.call("DELETE", &format!("/session/{}", self.session), None)
            }));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
