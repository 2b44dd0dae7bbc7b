//! `mailsift quarantine`: the quarantine console (`serve`) and its tokens
//! (`token create|list|revoke`).

use crate::args::{BrokerArgs, ReloadArgs, RulesArgs, TopologyArgs};
use crate::service::{self, ServiceArgs};
use anyhow::{bail, Context as _, Result};
use mailsift_amqp::{Consumer, SessionConfig};
use mailsift_ops::HttpServer;
use mailsift_quarantine::app::Console;
use mailsift_quarantine::ingest::Ingest;
use mailsift_quarantine::release::Releaser;
use mailsift_quarantine::{retention, token, Store};
use mailsift_telemetry::Telemetry;
use std::sync::Arc;
use std::time::Duration;

/// The quarantine console.
#[derive(clap::Args)]
pub struct QuarantineCmd {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Store the quarantine queues in PostgreSQL and serve the API and page.
    Serve(Box<ServeArgs>),
    /// Create, list and revoke the bearer tokens of domain administrators.
    #[command(subcommand)]
    Token(TokenCmd),
}

/// Where the database is.
#[derive(clap::Args, Clone)]
struct DatabaseArgs {
    /// PostgreSQL URL, e.g. postgres://mailsift@127.0.0.1:5432/mailsift.
    /// Never logged.
    #[arg(long, env = "MAILSIFT_DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Regions whose quarantine this console keeps (repeatable; default:
    /// every region in the policy).
    #[arg(long = "region", env = "MAILSIFT_REGIONS", value_delimiter = ',')]
    regions: Vec<String>,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Database connections in the pool.
    #[arg(long, env = "MAILSIFT_DATABASE_POOL", default_value_t = 16)]
    pool_size: usize,
    /// Quarantine messages stored at once (unacknowledged deliveries).
    #[arg(long, env = "MAILSIFT_PREFETCH", default_value_t = 64)]
    prefetch: u16,
    /// Also keep journal-mode domains' verdicts from the verdicts queue
    /// (verdicts only, never bodies). That queue is shared by every region:
    /// give this to one console only.
    #[arg(long, env = "MAILSIFT_JOURNAL_VERDICTS")]
    journal_verdicts: bool,
    /// Seconds between retention purges.
    #[arg(
        long,
        env = "MAILSIFT_RETENTION_INTERVAL_SECONDS",
        default_value_t = 3600
    )]
    retention_interval_seconds: u64,
    /// Seconds to finish storing what is in flight after SIGTERM.
    #[arg(long, env = "MAILSIFT_GRACE_SECONDS", default_value_t = 25)]
    grace_period: u64,
    #[command(flatten)]
    broker: BrokerArgs,
    #[command(flatten)]
    names: TopologyArgs,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    reload: ReloadArgs,
    #[command(flatten)]
    service: ServiceArgs,
}

#[derive(clap::Subcommand)]
enum TokenCmd {
    /// Create a token; it is printed once, as the last line on stdout.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// A domain the token may see (repeatable; `*` is mail for
        /// recipients outside every listed domain).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        /// Who it is for (shown in the audit trail and on released mail).
        #[arg(long, default_value = "admin")]
        name: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a token by its id (from `token list`).
    Revoke {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The token's id.
        id: i64,
    },
}

pub fn run(cmd: QuarantineCmd) -> Result<()> {
    match cmd.command {
        Sub::Serve(args) => serve(*args),
        Sub::Token(t) => service::runtime()?.block_on(tokens(t)),
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    args.service.init_logging();
    let Some(http_addr) = args.service.http_addr else {
        bail!("the console needs --http-addr ADDR (e.g. 0.0.0.0:8080) to serve its page and API");
    };
    let telemetry = Telemetry::new();
    let (shared, reloader) = args.rules.reloadable(&telemetry)?;
    let engine = shared.load_full();
    let topology = args.names.topology(engine.rules());
    let regions = crate::args::regions(&topology, &args.regions)?;
    let mut queues: Vec<String> = regions
        .iter()
        .map(|r| topology.quarantine_queue(r))
        .collect();
    if args.journal_verdicts {
        queues.push(topology.verdicts_queue.clone());
    }
    let session = SessionConfig {
        amqp_url: args.broker.amqp_url.clone(),
        queues,
        prefetch: args.prefetch,
        grace: Duration::from_secs(args.grace_period),
        max_backoff: Duration::from_secs(5),
    };
    let prefix = engine.rules().engine.stamp.prefix.clone();
    let poll = args.reload.poll();
    service::runtime()?.block_on(async {
        let store = Store::connect(&args.database.database_url, args.pool_size)
            .await
            .context("opening the quarantine database")?;
        let console = Arc::new(Console {
            store: store.clone(),
            releaser: Releaser::new(&args.broker.amqp_url, topology.clone(), &prefix),
            telemetry: telemetry.clone(),
        });
        let http = HttpServer::start(http_addr, mailsift_quarantine::app::router(console)).await?;
        tracing::info!(addr = %http.addr(), regions = ?regions, "quarantine console serving");
        let shutdown = service::shutdown_on_signal(telemetry.clone());
        let reloading = tokio::spawn(reloader.run(poll, shutdown.clone()));
        let purging = tokio::spawn(retention::run(
            store.clone(),
            telemetry.clone(),
            Duration::from_secs(args.retention_interval_seconds.max(1)),
            shutdown.clone(),
        ));
        let consumer = Consumer::new(
            session,
            Arc::new(topology),
            Arc::new(Ingest::new(store, shared, telemetry.clone())),
            Arc::default(),
            telemetry.clone(),
        );
        consumer.run(shutdown).await;
        reloading.abort();
        purging.abort();
        http.stop();
        Ok(())
    })
}

async fn tokens(cmd: TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Create {
            database,
            domains,
            name,
        } => {
            let store = open(&database).await?;
            let domains: Vec<String> = domains
                .iter()
                .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
                .collect();
            if let Some(bad) = domains
                .iter()
                .find(|d| d.is_empty() || d.contains(char::is_whitespace))
            {
                bail!("--domain `{bad}` is not a domain");
            }
            if name.trim().is_empty()
                || name.chars().count() > 100
                || name.chars().any(char::is_control)
            {
                bail!("--name must be 1 to 100 printable characters (it appears in the audit trail and on released mail)");
            }
            let secret = token::generate().context("no random bytes for a token")?;
            let id = store
                .add_token(&name, &token::hash(&secret), &domains)
                .await?;
            eprintln!(
                "token {id} for {name}, domains {}: shown once, keep it safe",
                domains.join(", ")
            );
            println!("{secret}");
        }
        TokenCmd::List { database } => {
            let store = open(&database).await?;
            for t in store.tokens().await? {
                println!(
                    "{}\t{}\t{}\tcreated {}\t{}\t{}",
                    t.id,
                    t.name,
                    t.domains.join(","),
                    t.created,
                    t.revoked
                        .map_or("live".to_string(), |r| format!("revoked {r}")),
                    t.last_used
                        .map_or("never used".to_string(), |u| format!("last used {u}")),
                );
            }
        }
        TokenCmd::Revoke { database, id } => {
            let store = open(&database).await?;
            if !store.revoke_token(id).await? {
                bail!("no live token with id {id} (see `mailsift quarantine token list`)");
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}

async fn open(db: &DatabaseArgs) -> Result<Store> {
    Store::connect(&db.database_url, 2)
        .await
        .context("opening the quarantine database")
}
