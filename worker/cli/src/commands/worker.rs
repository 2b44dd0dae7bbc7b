//! `mailsift worker`: the RabbitMQ worker pool member.

use crate::args::{BrokerArgs, DnsArgs, ReloadArgs, RulesArgs, TopologyArgs};
use crate::service::{self, ServiceArgs};
use anyhow::{bail, Context as _, Result};
use mailsift_amqp::{Worker, WorkerConfig};
use mailsift_auth::Authenticator;
use mailsift_telemetry::Telemetry;
use std::sync::Arc;
use std::time::Duration;

/// Consume the input queue, classify, publish to delivery/quarantine/verdicts.
#[derive(clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    #[command(flatten)]
    service: ServiceArgs,
    #[command(flatten)]
    rules: RulesArgs,
    #[command(flatten)]
    reload: ReloadArgs,
    #[command(flatten)]
    names: TopologyArgs,
    /// Unacknowledged deliveries in flight (backpressure; memory ≈ prefetch × message size).
    #[arg(long, env = "MAILSIFT_PREFETCH", default_value_t = 256)]
    prefetch: u16,
    /// Classification threads (default: all cores).
    #[arg(long, env = "MAILSIFT_THREADS")]
    threads: Option<usize>,
    /// Seconds to finish in-flight work after SIGTERM/SIGINT.
    #[arg(long, env = "MAILSIFT_GRACE_SECONDS", default_value_t = 25)]
    grace_period: u64,
    /// Journal mode: publish the stamped message with the verdict, not the verdict JSON alone.
    #[arg(long, env = "MAILSIFT_JOURNAL_INCLUDE_BODY")]
    journal_include_body: bool,
    #[command(flatten)]
    dns: DnsArgs,
    /// Do not authenticate senders (no DNS at all; the auth check is silent).
    #[arg(long, env = "MAILSIFT_NO_AUTH", conflicts_with = "dns")]
    no_auth: bool,
}

pub fn run(args: WorkerArgs) -> Result<()> {
    args.service.init_logging();
    let telemetry = Telemetry::new();
    let (shared, reloader) = args.rules.reloadable(&telemetry)?;
    let engine = shared.load_full();
    let cfg = WorkerConfig {
        amqp_url: args.broker.amqp_url,
        topology: args.names.topology(engine.rules()),
        prefetch: args.prefetch.max(1),
        grace: Duration::from_secs(args.grace_period),
        journal_include_body: args.journal_include_body,
        max_backoff: Duration::from_secs(5),
        record_dns: args.dns.record_dns.clone(),
    };
    if let Some(dir) = &cfg.record_dns {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --record-dns {}", dir.display()))?;
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if args.no_auth
        && (args.dns.record_dns.is_some() || args.dns.live_dns || !args.dns.dns_servers.is_empty())
    {
        bail!("--no-auth turns DNS off; drop --record-dns, --live-dns and --dns-server");
    }
    if args.dns.dns.is_some() && args.dns.record_dns.is_some() {
        bail!("--record-dns records live DNS; it cannot be used with --dns");
    }
    let dns_cfg = args.dns.config()?;
    let zone = args.dns.load_zone()?;
    let host = engine.rules().policy.gateway.authserv_id.clone();
    let mut worker = Worker::new(cfg, shared, threads)?.with_telemetry(telemetry.clone());
    let runtime = service::runtime()?;
    if !args.no_auth {
        let auth = runtime.block_on(async {
            match zone {
                Some(zone) => Authenticator::recorded(zone, &dns_cfg, &host).await,
                None => Authenticator::live(&dns_cfg, &host),
            }
        })?;
        worker = worker.with_authenticator(Arc::new(auth.with_telemetry(telemetry.clone())));
    }
    let poll = args.reload.poll();
    runtime.block_on(async {
        let http = args.service.serve(&telemetry).await?;
        let shutdown = service::shutdown_on_signal(telemetry.clone());
        let reloading = tokio::spawn(reloader.run(poll, shutdown.clone()));
        worker.run(shutdown).await;
        reloading.abort();
        if let Some(http) = http {
            http.stop();
        }
        Ok(())
    })
}
