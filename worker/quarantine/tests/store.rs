//! The store against the real PostgreSQL (a database per test): migrations
//! from replicas starting together, duplicates stored once, every query
//! limited to the token's domains, retention.

use mailsift_quarantine::store::{Principal, Release, Stored};
use mailsift_quarantine::{Filter, Held, Store};
use mailsift_testkit::postgres::Database;
use serde_json::json;

fn held(id: &str, domain: &str, disposition: &str, received: i64, retention_days: u32) -> Held {
    let raw = format!("From: a@example.com\r\nSubject: {id}\r\n\r\nbody\r\n").into_bytes();
    Held {
        mailsift_id: id.into(),
        domain: domain.into(),
        region: "us".into(),
        disposition: disposition.into(),
        score: 5.0,
        header_from: "Sender <a@example.com>".into(),
        mail_from: "a@example.com".into(),
        rcpt_to: format!("bob@{domain}"),
        subject: format!("subject {id}"),
        message_id: None,
        received,
        retention_days,
        journal: false,
        size: raw.len() as i32,
        verdict: json!({"envelope": {"rcpt_to": [format!("bob@{domain}")]}}),
        raw: Some(raw),
    }
}

fn who(domains: &[&str]) -> Principal {
    Principal {
        token_id: 1,
        name: "ann".into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    let db = Database::new("migrate");
    let url = db.url();
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::connect(&url, 2).await.map(|_| ()) })
        })
        .collect();
    for s in starts {
        s.await.expect("join").expect("every replica starts");
    }
    let versions =
        db.query("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations");
    let known: Vec<String> = mailsift_quarantine::schema::MIGRATIONS
        .iter()
        .map(|m| m.0.to_string())
        .collect();
    assert_eq!(versions, known.join(","));
    // A database migrated by a newer console is refused with a clear error.
    db.query("INSERT INTO schema_migrations (version, description) VALUES (999, 'future') RETURNING version");
    let err = Store::connect(&url, 1)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("newer than this console"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_queries_are_bounded_in_time_and_keep_the_urls_options() {
    let db = Database::new("bounded");
    let url = format!("{}?options=-c%20application_name%3Dconsole-test", db.url());
    let store = Store::connect(&url, 1).await.expect("store");
    let timeout_ms = store
        .count("SELECT extract(epoch FROM current_setting('statement_timeout')::interval)::bigint * 1000")
        .await
        .expect("setting");
    assert_eq!(
        timeout_ms,
        mailsift_quarantine::store::STATEMENT_TIMEOUT.as_millis() as i64
    );
    let kept = store
        .count("SELECT (current_setting('application_name') = 'console-test')::int::bigint")
        .await
        .expect("setting");
    assert_eq!(kept, 1, "the URL's own options are kept");
    // A timeout the URL sets is the operator's: it stays.
    let url = format!("{}?options=-c%20statement_timeout%3D5000", db.url());
    let store = Store::connect(&url, 1).await.expect("store");
    let own_ms = store
        .count("SELECT extract(epoch FROM current_setting('statement_timeout')::interval)::bigint * 1000")
        .await
        .expect("setting");
    assert_eq!(own_ms, 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_stored_once_and_lists_are_scoped_and_filtered() {
    let db = Database::new("scope");
    let store = Store::connect(&db.url(), 4).await.expect("store");
    let t = now();
    let a = held("a1", "contoso.com", "SPAM", t - 30, 30);
    assert!(matches!(
        store.insert(&a).await.expect("insert"),
        Stored::New(_)
    ));
    assert_eq!(store.insert(&a).await.expect("insert"), Stored::Duplicate);
    store
        .insert(&held("a2", "contoso.com", "MALICIOUS", t - 20, 30))
        .await
        .expect("insert");
    store
        .insert(&held("b1", "fabrikam.com", "SPAM", t - 10, 30))
        .await
        .expect("insert");
    assert_eq!(db.query("SELECT count(*) FROM messages"), "3");

    let contoso = who(&["contoso.com"]);
    let page = store
        .list(&contoso, &Filter::default())
        .await
        .expect("list");
    assert_eq!(page.total, 2);
    let subjects: Vec<&str> = page.messages.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["subject a2", "subject a1"], "newest first");

    let f = Filter {
        disposition: Some("malicious".into()),
        ..Filter::default()
    };
    assert_eq!(store.list(&contoso, &f).await.expect("list").total, 1);
    let f = Filter {
        subject: Some("A1".into()),
        from: Some("sender".into()),
        to: Some("bob@contoso".into()),
        ..Filter::default()
    };
    assert_eq!(store.list(&contoso, &f).await.expect("list").total, 1);
    let f = Filter {
        since: Some("2001-01-01".into()),
        until: Some("2001-01-02".into()),
        ..Filter::default()
    };
    assert_eq!(store.list(&contoso, &f).await.expect("list").total, 0);
    let f = Filter {
        domain: Some("fabrikam.com".into()),
        ..Filter::default()
    };
    assert!(
        store.list(&contoso, &f).await.is_err(),
        "another domain's list"
    );

    // fabrikam's message, by id, is invisible to contoso's token.
    let b_id = store
        .list(&who(&["fabrikam.com"]), &Filter::default())
        .await
        .expect("list")
        .messages[0]
        .id;
    assert!(store
        .detail(&contoso, b_id)
        .await
        .expect("detail")
        .is_none());
    assert!(store.raw(&contoso, b_id).await.expect("raw").is_none());
    assert!(store
        .delete(&contoso, b_id)
        .await
        .expect("delete")
        .is_none());
    let r = store
        .release(&contoso, b_id, |_| async { Ok::<(), ()>(()) })
        .await
        .expect("release");
    assert!(matches!(r, Release::NotFound));
    assert_eq!(
        db.query("SELECT count(*) FROM messages WHERE released IS NOT NULL"),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_publishes_once_and_a_failed_publish_marks_nothing() {
    let db = Database::new("release");
    let store = Store::connect(&db.url(), 4).await.expect("store");
    store
        .insert(&held("r1", "contoso.com", "SPAM", now(), 30))
        .await
        .expect("insert");
    let contoso = who(&["contoso.com"]);
    let id = store
        .list(&contoso, &Filter::default())
        .await
        .expect("list")
        .messages[0]
        .id;

    let failed = store
        .release(&contoso, id, |_| async { Err::<(), &str>("nack") })
        .await
        .expect("release");
    assert!(matches!(failed, Release::PublishFailed("nack")));
    assert_eq!(
        db.query("SELECT count(*) FROM messages WHERE released IS NOT NULL"),
        "0"
    );

    // Two releases at once: one publishes, the other finds it released.
    let published = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let release = |store: Store, published: std::sync::Arc<std::sync::atomic::AtomicUsize>| {
        let contoso = contoso.clone();
        tokio::spawn(async move {
            store
                .release(&contoso, id, |item| async move {
                    assert_eq!(
                        item.raw,
                        b"From: a@example.com\r\nSubject: r1\r\n\r\nbody\r\n".to_vec()
                    );
                    published.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    Ok::<(), ()>(())
                })
                .await
                .expect("release")
        })
    };
    let a = release(store.clone(), published.clone());
    let b = release(store.clone(), published.clone());
    let outcomes = [a.await.expect("join"), b.await.expect("join")];
    assert_eq!(published.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Release::Released { .. }))
            .count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Release::AlreadyReleased { .. }))
            .count(),
        1
    );
    assert_eq!(db.query("SELECT released_by FROM messages"), "ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_purges_only_what_is_past_its_domains_deadline() {
    let db = Database::new("retention");
    let store = Store::connect(&db.url(), 2).await.expect("store");
    let day = 86_400;
    let t = now();
    for i in 0..2500 {
        store
            .insert(&held(
                &format!("old{i}"),
                "contoso.com",
                "SPAM",
                t - 10 * day,
                7,
            ))
            .await
            .expect("insert");
    }
    store
        .insert(&held("young", "contoso.com", "SPAM", t - 10 * day, 30))
        .await
        .expect("insert");
    store
        .insert(&held("new", "contoso.com", "SPAM", t, 7))
        .await
        .expect("insert");
    let telemetry = mailsift_telemetry::Telemetry::new();
    let purged = mailsift_quarantine::retention::purge(&store, &telemetry)
        .await
        .expect("purge");
    assert_eq!(purged, 2500);
    assert_eq!(
        db.query("SELECT string_agg(mailsift_id, ',' ORDER BY mailsift_id) FROM messages"),
        "new,young"
    );
    assert!(telemetry
        .encode()
        .contains("mailsift_quarantine_total{name=\"purged\"} 2500"));
}
