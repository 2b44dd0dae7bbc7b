//! `mailsift bench-quarantine`: what the quarantine console sustains, on a
//! real broker and a real (scratch) PostgreSQL database.
//!
//! 1. **store**: N worker outputs (corpus messages classified and stamped
//!    as the worker does) pre-published to the quarantine queues, then the
//!    console's consumer drains them into the database; messages/s is N
//!    over the time until the last row is committed.
//! 2. **list**: the table is grown to `--rows` with SQL (rows copied from
//!    the stored ones, spread over four domains, six dispositions and
//!    months of receipt times); then the API is asked, over HTTP, for the
//!    first page and for a filtered page, `--requests` times each, by a
//!    token for the largest domain; p50 and p99 are reported.
//!
//! The broker, PostgreSQL, the console and this load generator share the
//! machine.

use crate::args::{BrokerArgs, RulesArgs};
use anyhow::{bail, Context as _, Result};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{Connection, ConnectionProperties};
use mailsift_amqp::outputs::properties;
use mailsift_amqp::{contract, Consumer, SessionConfig, Topology};
use mailsift_core::{stamp, Envelope};
use mailsift_ops::HttpServer;
use mailsift_quarantine::app::Console;
use mailsift_quarantine::ingest::Ingest;
use mailsift_quarantine::release::Releaser;
use mailsift_quarantine::{token, Store};
use mailsift_telemetry::Telemetry;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(clap::Args)]
pub struct BenchQuarantineArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// A scratch PostgreSQL database (its tables are created and filled;
    /// refused when it already holds quarantined mail).
    #[arg(long, env = "MAILSIFT_DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Messages through the store phase.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Rows in the table for the list phase.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Requests per list query.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Corpus to draw messages from (default: corpus/public, else corpus/).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Skip the store phase and measure the list on the rows already there
    /// (a database an earlier run filled).
    #[arg(long)]
    list_only: bool,
    /// Console prefetch.
    #[arg(long, default_value_t = 64)]
    prefetch: u16,
    #[command(flatten)]
    rules: RulesArgs,
}

pub fn run(args: BenchQuarantineArgs) -> Result<()> {
    let telemetry = Telemetry::new();
    let (shared, _reloader) = args.rules.reloadable(&telemetry)?;
    let engine = shared.load_full();
    let (_, bodies) = crate::args::bench_bodies(args.corpus.as_deref())?;
    let topology = Topology::with_regions(engine.rules().policy.regions())
        .prefixed(&format!("bench-{}-", std::process::id()));
    crate::service::runtime()?.block_on(async {
        let store = Store::connect(&args.database_url, 16)
            .await
            .context("opening the scratch database")?;
        if !args.list_only {
            store_phase(&args, &store, &topology, &shared, &telemetry, &bodies).await?;
        }

        // 2. List latency at --rows.
        let have = store.count("SELECT count(*) FROM messages").await? as usize;
        if have == 0 {
            bail!("no rows to grow the table from: run without --list-only first");
        }
        if args.requests == 0 {
            bail!("--requests must be at least 1");
        }
        if args.rows > have {
            eprintln!("growing the table to {} rows ...", args.rows);
            let seeding = Instant::now();
            store
                .execute_batch(&seed_sql(have, args.rows - have))
                .await?;
            // What autovacuum does to a table in service (visibility map,
            // statistics), done now rather than whenever it gets to it.
            store.execute_batch("VACUUM ANALYZE messages").await?;
            eprintln!("  {:.0} s", seeding.elapsed().as_secs_f64());
        }
        let rows = store.count("SELECT count(*) FROM messages").await?;
        let largest: String = {
            let n = store
                .count("SELECT count(*) FROM messages WHERE domain = 'contoso.com'")
                .await?;
            println!("list: {rows} rows, {n} of them for contoso.com (the token's domain)");
            "contoso.com".into()
        };
        let secret = token::generate()?;
        store
            .add_token("bench", &token::hash(&secret), &[largest])
            .await?;
        let console = Arc::new(Console {
            store: store.clone(),
            releaser: Releaser::new(&args.broker.amqp_url, topology.clone(), "X-Mailsift-"),
            telemetry: telemetry.clone(),
        });
        let http = HttpServer::start(
            "127.0.0.1:0".parse()?,
            mailsift_quarantine::app::router(console),
        )
        .await?;
        for (name, path) in [
            ("first page", "/api/v1/messages"),
            ("first page, 500 rows", "/api/v1/messages?limit=500"),
            (
                "filtered: disposition",
                "/api/v1/messages?disposition=MALICIOUS",
            ),
            (
                "filtered: subject substring",
                "/api/v1/messages?subject=free",
            ),
            (
                "filtered: sender + last 7 days",
                "/api/v1/messages?from=yahoo&since=LAST7",
            ),
            ("deep page (offset 5000)", "/api/v1/messages?offset=5000"),
        ] {
            let path = path.replace("LAST7", &days_ago(7));
            let mut ms = Vec::with_capacity(args.requests);
            let mut total = String::new();
            for _ in 0..args.requests {
                let t = Instant::now();
                let (status, body) = get(http.addr(), &path, &secret).await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                if status != 200 {
                    bail!("{path}: HTTP {status}: {body:.300}");
                }
                if total.is_empty() {
                    total = serde_json::from_str::<serde_json::Value>(&body)
                        .map(|v| {
                            format!(
                                "total {}{}",
                                v["total"],
                                if v["total_exact"] == false { "+" } else { "" }
                            )
                        })
                        .unwrap_or_default();
                }
            }
            ms.sort_by(f64::total_cmp);
            let pick = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
            println!(
                "  {name:32} p50 {:7.2} ms  p99 {:7.2} ms  ({total}; {path})",
                pick(0.5),
                pick(0.99)
            );
        }
        http.stop();
        Ok(())
    })
}

/// Phase 1: N outputs pre-published, drained into the database.
async fn store_phase(
    args: &BenchQuarantineArgs,
    store: &Store,
    topology: &Topology,
    shared: &mailsift_amqp::SharedEngine,
    telemetry: &Arc<Telemetry>,
    bodies: &[Vec<u8>],
) -> Result<()> {
    let engine = shared.load_full();
    if store.count("SELECT count(*) FROM messages").await? > 0 {
        bail!(
            "the database already holds quarantined mail: give bench-quarantine a scratch database"
        );
    }

    // 1. Store rate.
    eprintln!("publishing {} quarantine outputs ...", args.messages);
    publish_outputs(
        &args.broker.amqp_url,
        topology,
        &engine,
        bodies,
        args.messages,
    )
    .await?;
    let session = SessionConfig {
        amqp_url: args.broker.amqp_url.clone(),
        queues: topology
            .regions
            .iter()
            .map(|r| topology.quarantine_queue(r))
            .collect(),
        prefetch: args.prefetch,
        grace: Duration::from_secs(5),
        max_backoff: Duration::from_secs(1),
    };
    let consumer = Consumer::new(
        session,
        Arc::new(topology.clone()),
        Arc::new(Ingest::new(
            store.clone(),
            shared.clone(),
            telemetry.clone(),
        )),
        Arc::default(),
        telemetry.clone(),
    );
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let consuming = tokio::spawn(async move { consumer.run(shutdown).await });
    loop {
        let n = store.count("SELECT count(*) FROM messages").await? as usize;
        if n >= args.messages {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("only {n} of {} stored after 10 minutes", args.messages);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let store_seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = consuming.await;
    delete_queues(&args.broker.amqp_url, topology).await;
    println!(
        "store: {} messages in {store_seconds:.2} s = {:.0} messages/s (prefetch {})",
        args.messages,
        args.messages as f64 / store_seconds,
        args.prefetch
    );
    Ok(())
}

/// Publishes `n` outputs as the worker would: each corpus message
/// classified, stamped, with the worker's output headers, persistent, with
/// confirms, to its region's quarantine queue.
async fn publish_outputs(
    url: &str,
    t: &Topology,
    engine: &mailsift_core::Engine,
    bodies: &[Vec<u8>],
    n: usize,
) -> Result<()> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    t.declare(&ch).await?;
    let mut pending = Vec::new();
    for i in 0..n {
        let body = &bodies[i % bodies.len()];
        let env = Envelope {
            mail_from: Some("sender@example.net".into()),
            rcpt_to: vec!["bob@contoso.com".into()],
            queue_id: Some(format!("bench-{i}")),
            ..Envelope::default()
        };
        let verdict = engine.classify(body, Some(&env));
        let mut input = lapin::types::FieldTable::default();
        contract::envelope_to_headers(&env, &mut input);
        let id = format!("bench-{i}");
        let headers = contract::output_headers(Some(&input), &verdict, &id);
        let stamped = stamp::stamp(body, &verdict, &engine.rules().engine.stamp);
        let region = t.regions.first().map_or("us", String::as_str);
        pending.push(
            ch.basic_publish(
                t.quarantine_exchange.as_str().into(),
                format!("quarantine.{region}").as_str().into(),
                BasicPublishOptions::default(),
                &stamped,
                properties(headers, &id, "message/rfc822"),
            )
            .await?,
        );
        if pending.len() >= 512 {
            for c in pending.drain(..) {
                c.await?;
            }
        }
    }
    for c in pending {
        c.await?;
    }
    let _ = conn.close(200, "ok".into()).await;
    Ok(())
}

async fn delete_queues(url: &str, t: &Topology) {
    let Ok(conn) = Connection::connect(url, ConnectionProperties::default()).await else {
        return;
    };
    if let Ok(ch) = conn.create_channel().await {
        for q in t.plan().queues {
            let _ = ch
                .queue_delete(
                    q.name.as_str().into(),
                    lapin::options::QueueDeleteOptions::default(),
                )
                .await;
        }
    }
    let _ = conn.close(200, "ok".into()).await;
}

/// Copies the `have` stored rows until the table holds `add` more: four
/// domains (contoso.com most), six dispositions, receipt times spread over
/// about two months, distinct ids and subjects. Bodies are cut to 2 KB
/// (the list never reads them; PostgreSQL keeps them out of line).
fn seed_sql(have: usize, add: usize) -> String {
    format!(
        "WITH tpl AS (SELECT row_number() OVER (ORDER BY id) - 1 AS k, * FROM messages)
         INSERT INTO messages (mailsift_id, domain, region, disposition, score, header_from,
             mail_from, rcpt_to, subject, message_id, received, expires, journal, size, verdict, raw)
         SELECT 'seed-' || g,
             (ARRAY['contoso.com','contoso.com','contoso.com','contoso.com','contoso.com',
                    'fabrikam.com','fabrikam.com','tailspintoys.com','*','*'])[1 + g % 10],
             tpl.region,
             (ARRAY['SPAM','SPAM','SPAM','MALICIOUS','SPOOF','SUSPICIOUS','BULK'])[1 + (g / 10) % 7],
             tpl.score, tpl.header_from, tpl.mail_from, tpl.rcpt_to,
             tpl.subject || ' #' || g, tpl.message_id,
             now() - make_interval(secs => g * 5.0), now() + interval '30 days', false,
             tpl.size, tpl.verdict, substring(tpl.raw from 1 for 2048)
         FROM generate_series(1, {add}) g JOIN tpl ON tpl.k = g % {have}"
    )
}

fn days_ago(days: u64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(days * 86_400);
    // Civil date from Unix days (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// One keep-alive-free GET with the bearer token: (status, body).
async fn get(addr: std::net::SocketAddr, path: &str, token: &str) -> Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}
