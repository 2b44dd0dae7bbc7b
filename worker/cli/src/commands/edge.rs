//! `mailsift edge`: the inbound SMTP server in front of the pool.

use crate::args::{BrokerArgs, HostnameArgs, ReloadArgs, RulesArgs, TopologyArgs};
use crate::service::{self, ServiceArgs};
use anyhow::{bail, Context as _, Result};
use mailsift_smtp::edge::parse_ranges;
use mailsift_smtp::{Edge, EdgeConfig, Limits, ListenerSpec};
use mailsift_telemetry::Telemetry;
use std::path::PathBuf;
use std::time::Duration;

/// Accept mail over SMTP for the policy's domains and queue it for the pool.
#[derive(clap::Args)]
pub struct EdgeArgs {
    /// Where to listen: `ADDR[;proxy][;allow=CIDR,CIDR...]` (repeatable;
    /// the environment takes several separated by spaces). `proxy`: the
    /// connection starts with a PROXY protocol header; `allow`: only these
    /// peers may connect.
    #[arg(
        long = "listen",
        env = "MAILSIFT_EDGE_LISTEN",
        value_delimiter = ' ',
        required = true
    )]
    listen: Vec<ListenerSpec>,
    /// Peers allowed on listeners that do not list their own (CIDR,...).
    #[arg(long, env = "MAILSIFT_EDGE_ALLOW_IPS")]
    allow_ips: Option<String>,
    #[command(flatten)]
    hostname: HostnameArgs,
    /// PEM certificate chain for STARTTLS.
    #[arg(long, env = "MAILSIFT_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for STARTTLS.
    #[arg(long, env = "MAILSIFT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Largest message accepted (advertised as SIZE); must stay below the
    /// broker's max_message_size and the rules' max_message_bytes.
    #[arg(long, env = "MAILSIFT_MAX_MESSAGE_BYTES", default_value_t = 25 << 20)]
    max_message_bytes: usize,
    /// Recipients per message.
    #[arg(long, env = "MAILSIFT_MAX_RECIPIENTS", default_value_t = 100)]
    max_recipients: usize,
    /// Commands per connection.
    #[arg(long, env = "MAILSIFT_MAX_COMMANDS", default_value_t = 1000)]
    max_commands: usize,
    /// Errors per connection before it is closed.
    #[arg(long, env = "MAILSIFT_MAX_ERRORS", default_value_t = 10)]
    max_errors: usize,
    /// Seconds a client may stay silent.
    #[arg(long, env = "MAILSIFT_IDLE_TIMEOUT_SECONDS", default_value_t = 300)]
    idle_timeout_seconds: u64,
    /// Seconds a connection may last.
    #[arg(long, env = "MAILSIFT_SESSION_TIMEOUT_SECONDS", default_value_t = 1800)]
    session_timeout_seconds: u64,
    /// Connections at once.
    #[arg(long, env = "MAILSIFT_MAX_CONNECTIONS", default_value_t = 1000)]
    max_connections: usize,
    /// Connections at once from one address.
    #[arg(long, env = "MAILSIFT_MAX_CONNECTIONS_PER_IP", default_value_t = 20)]
    max_connections_per_ip: usize,
    /// Received headers beyond which a message is a routing loop.
    #[arg(long, env = "MAILSIFT_MAX_HOPS", default_value_t = 50)]
    max_hops: usize,
    /// Milliseconds to wait for the broker's confirm before answering 451.
    #[arg(long, env = "MAILSIFT_PUBLISH_TIMEOUT_MS", default_value_t = 10_000)]
    publish_timeout_ms: u64,
    /// Seconds open sessions get to finish after SIGTERM.
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

pub fn run(args: EdgeArgs) -> Result<()> {
    args.service.init_logging();
    let telemetry = Telemetry::new();
    let (shared, reloader) = args.rules.reloadable(&telemetry)?;
    let engine = shared.load_full();
    let rules_limit = engine.rules().engine.limits.max_message_bytes;
    if args.max_message_bytes > rules_limit {
        bail!(
            "--max-message-bytes {} is over the rules' limits.max_message_bytes {rules_limit}: \
             the pool would refuse what the edge accepted",
            args.max_message_bytes
        );
    }
    let default_allow = match &args.allow_ips {
        Some(list) => parse_ranges(list)
            .map_err(anyhow::Error::msg)
            .context("--allow-ips")?,
        None => Default::default(),
    };
    let listeners = args
        .listen
        .iter()
        .cloned()
        .map(|mut l| {
            if l.allow.is_empty() {
                l.allow = default_allow.clone();
            }
            l
        })
        .collect();
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(mailsift_smtp::tls::server_config(cert, key)?),
        _ => None,
    };
    let cfg = EdgeConfig {
        listeners,
        hostname: args.hostname.hostname(),
        tls,
        limits: Limits {
            max_message_bytes: args.max_message_bytes,
            max_recipients: args.max_recipients.max(1),
            max_commands: args.max_commands.max(1),
            max_errors: args.max_errors,
            idle_timeout: Duration::from_secs(args.idle_timeout_seconds.max(1)),
            session_timeout: Duration::from_secs(args.session_timeout_seconds.max(1)),
            max_connections: args.max_connections.max(1),
            max_connections_per_ip: args.max_connections_per_ip.max(1),
            max_hops: args.max_hops,
        },
        amqp_url: args.broker.amqp_url.clone(),
        topology: args.names.topology(engine.rules()),
        publish_timeout: Duration::from_millis(args.publish_timeout_ms.max(1)),
        grace: Duration::from_secs(args.grace_period),
    };
    let edge = Edge::new(cfg, shared, telemetry.clone());
    let poll = args.reload.poll();
    service::runtime()?.block_on(async {
        let bound = edge.bind().await?;
        let http = args.service.serve(&telemetry).await?;
        let shutdown = service::shutdown_on_signal(telemetry.clone());
        let reloading = tokio::spawn(reloader.run(poll, shutdown.clone()));
        edge.serve(bound, shutdown).await;
        reloading.abort();
        if let Some(http) = http {
            http.stop();
        }
        tracing::info!("edge stopped");
        Ok(())
    })
}
