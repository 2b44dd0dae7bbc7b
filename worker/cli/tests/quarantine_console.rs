//! The quarantine console as administrators run it, against the real
//! RabbitMQ and PostgreSQL (a vhost and a database per test): the worker
//! quarantines, `mailsift quarantine serve` stores, a domain's token lists,
//! previews, downloads and releases, and the release reaches the delivery
//! queue exactly once; a crash between consume and commit loses nothing;
//! the page works in headless Chromium and runs nothing a message carries.

use futures_util::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use mailsift_amqp::{contract, Topology};
use mailsift_core::{Envelope, Route};
use mailsift_testkit::broker::{publish, publish_to, queue_depth, topology, Vhost};
use mailsift_testkit::http::{free_addr, request, Response};
use mailsift_testkit::postgres::Database;
use mailsift_testkit::webdriver::Browser;
use mailsift_testkit::{corpus_messages, engine, root};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A running `mailsift quarantine serve`; SIGTERMed on drop.
struct Console {
    child: Child,
    addr: SocketAddr,
}

impl Console {
    fn start(vhost: &Vhost, db: &Database, extra: &[&str]) -> Console {
        let addr = free_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_mailsift"))
            .args(["quarantine", "serve", "--http-addr", &addr.to_string()])
            .args(["--database-url", &db.url(), "--grace-period", "5"])
            .args(extra)
            .env("MAILSIFT_AMQP_URL", vhost.url())
            .env("RUST_LOG", "warn")
            .current_dir(root())
            .spawn()
            .expect("start the console");
        let started = Instant::now();
        while mailsift_testkit::http::get(addr, "/healthz").map(|r| r.0) != Some(200) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the console did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Console { child, addr }
    }

    fn get(&self, path: &str, token: &str) -> Response {
        request(
            self.addr,
            "GET",
            path,
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        )
    }

    fn post(&self, path: &str, token: &str, body: &str) -> Response {
        let auth = format!("Bearer {token}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        request(self.addr, "POST", path, &headers, body.as_bytes())
    }

    fn kill(&mut self, signal: &str) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args([signal, &self.child.id().to_string()])
                .status();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.kill("-TERM");
    }
}

/// A child process stopped (SIGTERM) when dropped, also when a test fails.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// A new token for `domains`, from the command an administrator runs.
fn token(db: &Database, domains: &[&str], name: &str) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailsift"));
    cmd.args([
        "quarantine",
        "token",
        "create",
        "--database-url",
        &db.url(),
        "--name",
        name,
    ]);
    for d in domains {
        cmd.args(["--domain", d]);
    }
    let out = cmd.output().expect("token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .last()
        .expect("the token on the last line")
        .trim()
        .to_string()
}

/// Waits until `done` holds (or fails after `secs`).
fn wait_for(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads (and acks) everything in `queue` until it stays empty for a second.
async fn drain(url: &str, queue: &str) -> Vec<(FieldTable, Vec<u8>)> {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    let mut c = ch
        .basic_consume(
            queue.into(),
            "drain".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut out = Vec::new();
    while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(1), c.next()).await {
        out.push((
            d.properties.headers().clone().unwrap_or_default(),
            d.data.clone(),
        ));
        d.ack(BasicAckOptions::default()).await.expect("ack");
    }
    let _ = conn.close(200, "ok".into()).await;
    out
}

/// The released messages (their id ends in `-released`) among `outputs`.
fn released(outputs: &[(FieldTable, Vec<u8>)]) -> Vec<(String, String)> {
    outputs
        .iter()
        .filter_map(|(h, body)| {
            let id = contract::header_text(Some(h), contract::ID)?;
            id.ends_with("-released")
                .then(|| (id, String::from_utf8_lossy(body).into_owned()))
        })
        .collect()
}

/// Publishes quarantine outputs as the worker does (stamped body, verdict
/// headers) straight to the quarantine exchange.
async fn publish_quarantined(url: &str, t: &Topology, items: &[(String, Vec<u8>)], domain: &str) {
    let text = |s: &str| AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()));
    let outputs: Vec<(Vec<u8>, BasicProperties)> = items
        .iter()
        .map(|(id, body)| {
            let env = Envelope {
                mail_from: Some("sender@example.net".into()),
                rcpt_to: vec![format!("bob@{domain}")],
                ..Envelope::default()
            };
            let mut h = FieldTable::default();
            contract::envelope_to_headers(&env, &mut h);
            for (k, v) in [
                (contract::ID, id.as_str()),
                (contract::DOMAIN, domain),
                (contract::REGION, "us"),
                (contract::DISPOSITION, "SPAM"),
                (contract::ROUTE, "quarantine"),
            ] {
                h.insert(k.into(), text(v));
            }
            h.insert(contract::SCORE.into(), AMQPValue::Double(7.5));
            let mut stamped = b"X-Mailsift-Disposition: SPAM\r\n".to_vec();
            stamped.extend_from_slice(body);
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("message/rfc822".into())
                .with_headers(h);
            (stamped, props)
        })
        .collect();
    publish_to(
        url,
        t,
        true,
        &t.quarantine_exchange,
        "quarantine.us",
        &outputs,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_quarantines_and_an_administrator_reviews_downloads_and_releases() {
    let vhost = Vhost::new("quarantine-e2e");
    let db = Database::new("quarantine_e2e");
    let t = topology();

    // Every corpus message to contoso (mx, us), the malicious ones to
    // fabrikam (gateway, eu) too, and some to tailspintoys (journal mode).
    let mut inputs = Vec::new();
    for (path, _, raw) in corpus_messages() {
        let mut rcpts = vec!["bob@contoso.com"];
        if path.starts_with("malicious/") {
            rcpts = vec!["ann@fabrikam.com"];
            inputs.push((raw.clone(), envelope(&["bob@contoso.com"], &path)));
        }
        if path.starts_with("spam/") {
            inputs.push((raw.clone(), envelope(&["tim@tailspintoys.com"], &path)));
        }
        inputs.push((raw, envelope(&rcpts, &path)));
    }
    // What the worker (no authentication) will do with each.
    let mut held_by_domain = std::collections::HashMap::<String, usize>::new();
    let mut journal = 0;
    let mut originals = HashSet::new();
    for (raw, env) in &inputs {
        let v = engine().classify(raw, Some(env));
        match v.route {
            Route::Quarantine => {
                *held_by_domain.entry(v.policy_domain.clone()).or_default() += 1;
                originals.insert(raw.clone());
            }
            Route::DetectOnly => journal += 1,
            _ => {}
        }
    }
    let contoso_held = held_by_domain["contoso.com"];
    let fabrikam_held = held_by_domain["fabrikam.com"];
    assert!(
        contoso_held >= 20 && fabrikam_held >= 5 && journal >= 5,
        "{held_by_domain:?} {journal}"
    );

    publish(&vhost.url(), &t, &inputs).await;
    let worker = Stopped(
        Command::new(env!("CARGO_BIN_EXE_mailsift"))
            .args(["worker", "--no-auth"])
            .env("MAILSIFT_AMQP_URL", vhost.url())
            .env("RUST_LOG", "warn")
            .current_dir(root())
            .spawn()
            .expect("start worker"),
    );
    let console = Console::start(&vhost, &db, &["--journal-verdicts"]);
    let expected = contoso_held + fabrikam_held + journal;
    let stored = || {
        db.query("SELECT string_agg(domain || '=' || n, ' ' ORDER BY domain) FROM (SELECT domain, count(*) n FROM messages GROUP BY domain) t")
    };
    let what = format!("{expected} stored: {held_by_domain:?} and {journal} journal verdicts");
    wait_for(120, &what, || {
        let done = db.query("SELECT count(*) FROM messages") == expected.to_string();
        if !done {
            eprintln!("stored so far: {}", stored());
        }
        done
    });
    drop(worker);

    let ann = token(&db, &["contoso.com"], "ann");
    let fab = token(&db, &["fabrikam.com"], "fred");
    let journal_token = token(&db, &["tailspintoys.com"], "tina");

    // No token, a bad token, a malformed token: 401, never data.
    let anon = request(console.addr, "GET", "/api/v1/messages", &[], b"");
    assert_eq!(anon.status, 401, "{}", anon.text());
    let bad = console.get("/api/v1/messages", &format!("msq_{}", "0".repeat(64)));
    assert_eq!(bad.status, 401);
    assert_eq!(console.get("/api/v1/messages", "junk").status, 401);

    // ann sees contoso's held mail only, newest first.
    let list = console.get("/api/v1/messages?limit=500", &ann).json();
    assert_eq!(list["total"], contoso_held as u64, "{list}");
    let messages = list["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), contoso_held);
    assert!(messages.iter().all(|m| m["domain"] == "contoso.com"));
    let received: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["received"].as_str())
        .collect();
    assert!(received.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let malicious = console
        .get("/api/v1/messages?disposition=MALICIOUS", &ann)
        .json();
    assert!(malicious["total"].as_u64().unwrap_or(0) > 0);
    assert!(malicious["messages"]
        .as_array()
        .expect("list")
        .iter()
        .all(|m| m["disposition"] == "MALICIOUS"));
    assert_eq!(
        console
            .get("/api/v1/messages?domain=fabrikam.com", &ann)
            .status,
        403
    );
    assert_eq!(
        console.get("/api/v1/messages?since=yesterday", &ann).status,
        400
    );

    // fabrikam's messages do not exist for ann.
    let fab_list = console.get("/api/v1/messages", &fab).json();
    assert_eq!(fab_list["total"], fabrikam_held as u64);
    let fab_id = fab_list["messages"][0]["id"].as_i64().expect("id");
    for path in [
        format!("/api/v1/messages/{fab_id}"),
        format!("/api/v1/messages/{fab_id}/raw"),
    ] {
        let r = console.get(&path, &ann);
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains("fabrikam"), "{}", r.text());
    }
    assert_eq!(
        console
            .post(&format!("/api/v1/messages/{fab_id}/release"), &ann, "")
            .status,
        404
    );
    let del = request(
        console.addr,
        "DELETE",
        &format!("/api/v1/messages/{fab_id}"),
        &[("Authorization", &format!("Bearer {ann}"))],
        b"",
    );
    assert_eq!(del.status, 404);

    // The detail: the worker's verdict, findings with evidence, a preview.
    let id = messages[0]["id"].as_i64().expect("id");
    let detail = console.get(&format!("/api/v1/messages/{id}"), &ann).json();
    assert_eq!(detail["domain"], "contoso.com");
    let findings = detail["verdict"]["findings"].as_array().expect("findings");
    assert!(
        findings
            .iter()
            .any(|f| !f["evidence"].as_str().unwrap_or("").is_empty()),
        "{detail}"
    );
    assert!(!detail["verdict"]["rules"]
        .as_array()
        .expect("rules")
        .is_empty());
    assert!(
        detail["preview"]["headers"]
            .as_array()
            .expect("headers")
            .len()
            > 2
    );

    // The download is the original message, byte for byte.
    let raw = console.get(&format!("/api/v1/messages/{id}/raw"), &ann);
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("content-type"), Some("message/rfc822"));
    assert!(
        originals.contains(&raw.body),
        "the download is not the original message"
    );

    // Release: published once with the release stamp; a second release
    // is accepted and publishes nothing.
    let first = console
        .post(&format!("/api/v1/messages/{id}/release"), &ann, "")
        .json();
    assert_eq!(first["outcome"], "released", "{first}");
    let second = console
        .post(&format!("/api/v1/messages/{id}/release"), &ann, "")
        .json();
    assert_eq!(second["outcome"], "already_released");
    let others: Vec<i64> = messages[1..3]
        .iter()
        .filter_map(|m| m["id"].as_i64())
        .collect();
    let bulk = console.post(
        "/api/v1/messages/release",
        &ann,
        &format!(
            "{{\"ids\": [{}, {}, {id}, {fab_id}]}}",
            others[0], others[1]
        ),
    );
    let outcomes: Vec<String> = bulk.json()["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        outcomes,
        ["released", "released", "already_released", "not_found"]
    );
    let delivered = drain(&vhost.url(), &t.deliver_queue("us")).await;
    let releases = released(&delivered);
    assert_eq!(releases.len(), 3, "{releases:?}");
    let ids: HashSet<&String> = releases.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 3, "each release published exactly once");
    for (_, body) in &releases {
        assert!(
            body.starts_with("X-Mailsift-Released: by ann at 20"),
            "{body:.200}"
        );
        let (_, original) = body.split_once('\n').expect("a stamp line");
        assert!(originals.contains(original.as_bytes()));
    }
    let listed = console.get("/api/v1/messages?limit=500", &ann).json();
    let released_now = listed["messages"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|m| !m["released"].is_null())
        .count();
    assert_eq!(released_now, 3);

    // Delete, then the audit trail says who did what.
    let gone = request(
        console.addr,
        "DELETE",
        &format!("/api/v1/messages/{}", others[0]),
        &[("Authorization", &format!("Bearer {ann}"))],
        b"",
    );
    assert_eq!(gone.status, 204);
    assert_eq!(
        console
            .get(&format!("/api/v1/messages/{}", others[0]), &ann)
            .status,
        404
    );
    let audit = console.get("/api/v1/audit", &ann).json();
    let actions: Vec<String> = audit["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["actor"].as_str().unwrap_or(""),
                a["action"].as_str().unwrap_or("")
            )
        })
        .collect();
    for want in ["ann release", "ann download", "ann delete"] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} missing from {actions:?}"
        );
    }
    assert_eq!(actions.iter().filter(|a| *a == "ann release").count(), 5);

    // Journal-mode verdicts: kept without bodies, nothing to download or release.
    let j = console.get("/api/v1/messages", &journal_token).json();
    assert_eq!(j["total"], journal as u64);
    assert_eq!(
        db.query(
            "SELECT count(*) FROM messages WHERE domain = 'tailspintoys.com' AND raw IS NOT NULL"
        ),
        "0"
    );
    let jid = j["messages"][0]["id"].as_i64().expect("id");
    let jd = console
        .get(&format!("/api/v1/messages/{jid}"), &journal_token)
        .json();
    assert_eq!(jd["journal"], true);
    assert!(!jd["verdict"]["findings"]
        .as_array()
        .expect("findings")
        .is_empty());
    assert_eq!(
        console
            .get(&format!("/api/v1/messages/{jid}/raw"), &journal_token)
            .status,
        404
    );
    assert_eq!(
        console
            .post(
                &format!("/api/v1/messages/{jid}/release"),
                &journal_token,
                ""
            )
            .status,
        409
    );

    // A revoked token stops working at once.
    let listed = Command::new(env!("CARGO_BIN_EXE_mailsift"))
        .args(["quarantine", "token", "list", "--database-url", &db.url()])
        .output()
        .expect("token list");
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(!listing.contains(&ann[4..]), "token list shows a token");
    let fred_id = listing
        .lines()
        .find(|l| l.contains("\tfred\t"))
        .and_then(|l| l.split('\t').next())
        .expect("fred's token listed")
        .to_string();
    let revoke = Command::new(env!("CARGO_BIN_EXE_mailsift"))
        .args([
            "quarantine",
            "token",
            "revoke",
            "--database-url",
            &db.url(),
            &fred_id,
        ])
        .output()
        .expect("revoke");
    assert!(revoke.status.success());
    assert_eq!(console.get("/api/v1/messages", &fab).status, 401);

    let metrics = mailsift_testkit::http::get(console.addr, "/metrics")
        .expect("metrics")
        .1;
    assert!(
        metrics.contains("mailsift_quarantine_total{name=\"released\"} 3"),
        "{metrics}"
    );
}

fn envelope(rcpts: &[&str], path: &str) -> Envelope {
    Envelope {
        mail_from: Some("sender@example.net".into()),
        rcpt_to: rcpts.iter().map(|r| r.to_string()).collect(),
        queue_id: Some(format!("{path}-{}", rcpts.join(","))),
        ..Envelope::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_consume_and_commit_loses_nothing_and_stores_nothing_twice() {
    let vhost = Vhost::new("quarantine-crash");
    let db = Database::new("quarantine_crash");
    let t = topology();
    const N: usize = 3000;
    let items: Vec<(String, Vec<u8>)> = (0..N)
        .map(|i| {
            let body = format!("From: s@example.net\r\nSubject: crash {i}\r\n\r\nbody {i}\r\n")
                .into_bytes();
            (format!("crash-{i}"), body)
        })
        .collect();
    publish_quarantined(&vhost.url(), &t, &items, "contoso.com").await;
    let queue = t.quarantine_queue("us");

    let mut first = Console::start(&vhost, &db, &["--prefetch", "128"]);
    wait_for(120, "a third stored", || {
        db.query("SELECT count(*) FROM messages")
            .parse::<usize>()
            .unwrap_or(0)
            >= N / 3
    });
    first.kill("-KILL");
    let stored = db
        .query("SELECT count(*) FROM messages")
        .parse::<usize>()
        .unwrap_or(0);
    let left = queue_depth(&vhost.url(), &queue).await as usize;
    assert!(
        stored < N && left > 0,
        "the crash came after the end: {stored} stored"
    );

    let _second = Console::start(&vhost, &db, &[]);
    wait_for(180, "everything stored after the restart", || {
        db.query("SELECT count(*) FROM messages") == N.to_string()
    });
    assert_eq!(
        db.query("SELECT count(DISTINCT mailsift_id) FROM messages"),
        N.to_string()
    );
    let started = Instant::now();
    while queue_depth(&vhost.url(), &queue).await > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_signs_in_lists_previews_and_releases_in_chromium_running_nothing_from_mail() {
    let vhost = Vhost::new("quarantine-page");
    let db = Database::new("quarantine_page");
    let t = topology();
    // Anything the hostile message makes the browser fetch lands here.
    let beacon = std::net::TcpListener::bind("127.0.0.1:0").expect("beacon");
    beacon.set_nonblocking(true).expect("nonblocking");
    let b = beacon.local_addr().expect("addr");
    let hostile = format!(
        "From: \"<script>document.title='pwned-from'</script>\" <x@example.net>\r\n\
         Subject: <img src=http://{b}/subject.gif onerror=\"document.title='pwned-subject'\"> Invoice\r\n\
         Content-Type: text/html\r\n\r\n\
         <html><head><meta http-equiv=\"refresh\" content=\"0;url=http://{b}/refresh\">\
         <link rel=stylesheet href=\"http://{b}/style.css\"></head>\
         <body onload=\"document.title='pwned-onload'\"><script>document.title='pwned-script'</script>\
         <p>Your mailbox is full. Verify now.</p><img src=\"http://{b}/pixel.gif\">\
         <iframe src=\"http://{b}/frame\"></iframe>\
         <a href=\"http://{b}/click\">Verify</a></body></html>\r\n"
    );
    let items = vec![
        (
            "page-0".to_string(),
            b"From: a@example.net\r\nSubject: first\r\n\r\none\r\n".to_vec(),
        ),
        (
            "page-1".to_string(),
            b"From: a@example.net\r\nSubject: second\r\n\r\ntwo\r\n".to_vec(),
        ),
        ("page-hostile".to_string(), hostile.into_bytes()),
    ];
    publish_quarantined(&vhost.url(), &t, &items, "contoso.com").await;
    let console = Console::start(&vhost, &db, &[]);
    wait_for(60, "the three messages stored", || {
        db.query("SELECT count(*) FROM messages") == "3"
    });
    let secret = token(&db, &["contoso.com"], "ann");
    let base = format!("http://{}", console.addr);

    let page = request(
        console.addr,
        "GET",
        "/messages",
        &[("Cookie", &format!("mailsift_quarantine={secret}"))],
        b"",
    );
    let csp = page.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("default-src 'none'"), "{csp}");

    let browser = Browser::start();
    browser.goto(&format!("{base}/messages"));
    assert!(
        browser.url().ends_with("/login"),
        "not sent to sign in: {}",
        browser.url()
    );
    browser.type_into("#token", "msq_wrong");
    browser.click("#signin");
    browser.wait_for("#error");
    browser.type_into("#token", &secret);
    browser.click("#signin");
    browser.wait_for("#messages");
    assert!(browser.url().ends_with("/messages"), "{}", browser.url());
    assert_eq!(browser.count("#messages tbody tr"), 3);
    assert!(
        browser.text("#count").contains("of 3"),
        "{}",
        browser.text("#count")
    );

    // The hostile message: shown as text, nothing runs, nothing loads.
    let hostile_id = db.query("SELECT id FROM messages WHERE mailsift_id = 'page-hostile'");
    browser.click(&format!("a[href=\"/messages/{hostile_id}\"]"));
    browser.wait_for("#preview");
    assert!(
        browser.text("#preview").contains("Your mailbox is full"),
        "{}",
        browser.source()
    );
    assert!(
        browser.text("#subject").contains("<img src="),
        "the subject is shown as text"
    );
    assert!(browser
        .text("#links")
        .contains(&format!("http://{b}/click")));
    std::thread::sleep(Duration::from_secs(1));
    // The title is the subject as text; a script that ran would have set it
    // to exactly `pwned-...`.
    let title = browser.execute("return document.title;");
    let title = title.as_str().unwrap_or("");
    assert!(
        title.starts_with("<img src=") && title.contains("Invoice"),
        "a script ran: {title}"
    );
    assert_eq!(browser.count("#preview a, #preview img, iframe, script"), 0);
    match beacon.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the preview made the browser fetch from the message's links: {other:?}"),
    }

    // Release by clicking.
    browser.click("#release");
    browser.wait_for("#done");
    assert_eq!(browser.text("#done"), "released");
    assert!(
        browser.text("#released").contains("by ann"),
        "{}",
        browser.text("#released")
    );

    // Bulk release: tick the other two, click once.
    browser.goto(&format!("{base}/messages"));
    browser.wait_for("#messages");
    for id in db
        .query("SELECT string_agg(id::text, ',') FROM messages WHERE released IS NULL")
        .split(',')
    {
        browser.click(&format!("input[name=id][value=\"{id}\"]"));
    }
    browser.click("#release-selected");
    browser.wait_for("#done");
    assert!(
        browser.text("#done").starts_with("Released 2;"),
        "{}",
        browser.text("#done")
    );

    // The download link serves the original bytes (checked over HTTP with
    // the same cookie the browser holds).
    let raw = request(
        console.addr,
        "GET",
        &format!("/messages/{hostile_id}/raw"),
        &[("Cookie", &format!("mailsift_quarantine={secret}"))],
        b"",
    );
    assert_eq!(raw.status, 200);
    assert!(
        raw.text().starts_with("From: \"<script>"),
        "{:.100}",
        raw.text()
    );

    // Sign out: the page asks for the token again.
    browser.click("#logout");
    browser.wait_for("#token");
    browser.goto(&format!("{base}/messages"));
    browser.wait_for("#token");
    assert!(browser.url().ends_with("/login"));

    let releases = released(&drain(&vhost.url(), &t.deliver_queue("us")).await);
    assert_eq!(releases.len(), 3, "{releases:?}");
    let ids: HashSet<&String> = releases.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 3);
}
