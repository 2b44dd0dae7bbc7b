//! `mailsift deliver`: the delivery queues to the customers' mail servers.

use crate::args::{BrokerArgs, HostnameArgs, ReloadArgs, RulesArgs, TopologyArgs};
use crate::service::{self, ServiceArgs};
use anyhow::{bail, Result};
use clap::ValueEnum;
use mailsift_amqp::{Consumer, SessionConfig};
use mailsift_core::rules::DeliveryTls;
use mailsift_smtp::{DeliverConfig, Deliverer, NextHop, OnPermanentFailure, Relay};
use mailsift_telemetry::Telemetry;
use std::sync::Arc;
use std::time::Duration;

/// What happens to recipients the next hop refused for good.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Permanent {
    /// A delivery-status notification to the sender (RFC 3464).
    Dsn,
    /// The dead-letter queue, with the reason.
    DeadLetter,
}

/// TLS towards the smarthost.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum SmarthostTls {
    /// STARTTLS when offered, any certificate.
    Opportunistic,
    /// STARTTLS or a temporary failure (any certificate).
    Required,
    /// STARTTLS with a certificate valid for the smarthost's name.
    Verify,
}

/// Relay delivered mail to each domain's delivery target.
#[derive(clap::Args)]
pub struct DeliverArgs {
    /// Regions to deliver for (repeatable; default: every region in the policy).
    #[arg(long = "region", env = "MAILSIFT_REGIONS", value_delimiter = ',')]
    regions: Vec<String>,
    #[command(flatten)]
    hostname: HostnameArgs,
    /// Send everything to this next hop (HOST:PORT) instead of each
    /// domain's delivery_target: a Postfix re-injection port, a test sink.
    #[arg(long, env = "MAILSIFT_SMARTHOST")]
    smarthost: Option<NextHop>,
    /// TLS towards the smarthost (the MTA behind it applies each domain's
    /// own): `opportunistic`, `required` or `verify`.
    #[arg(long, env = "MAILSIFT_SMARTHOST_TLS", value_enum, default_value_t = SmarthostTls::Opportunistic)]
    smarthost_tls: SmarthostTls,
    /// Recipients refused for good (5xx, or deferred too many times).
    #[arg(long, env = "MAILSIFT_ON_PERMANENT_FAILURE", value_enum, default_value_t = Permanent::Dsn)]
    on_permanent_failure: Permanent,
    /// The MTA that sends delivery-status notifications to senders
    /// (HOST:PORT; default: the smarthost).
    #[arg(long, env = "MAILSIFT_DSN_RELAY")]
    dsn_relay: Option<NextHop>,
    /// Attempts before a deferred recipient is given up on.
    #[arg(long, env = "MAILSIFT_MAX_ATTEMPTS", default_value_t = 16)]
    max_attempts: u32,
    /// Seconds before the first retry; each next one waits twice as long.
    #[arg(long, env = "MAILSIFT_RETRY_BASE_SECONDS", default_value_t = 60)]
    retry_base_seconds: u64,
    /// The longest wait between retries, in seconds.
    #[arg(long, env = "MAILSIFT_RETRY_MAX_SECONDS", default_value_t = 3600)]
    retry_max_seconds: u64,
    /// Seconds for each SMTP command to the next hop.
    #[arg(long, env = "MAILSIFT_SMTP_TIMEOUT_SECONDS", default_value_t = 120)]
    timeout_seconds: u64,
    /// Messages delivered at once (unacknowledged deliveries).
    #[arg(long, env = "MAILSIFT_PREFETCH", default_value_t = 32)]
    prefetch: u16,
    /// Seconds to finish deliveries in flight after SIGTERM.
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

pub fn run(args: DeliverArgs) -> Result<()> {
    args.service.init_logging();
    let telemetry = Telemetry::new();
    let (shared, reloader) = args.rules.reloadable(&telemetry)?;
    let engine = shared.load_full();
    let topology = args.names.topology(engine.rules());
    let regions = crate::args::regions(&topology, &args.regions)?;
    let on_permanent = match args.on_permanent_failure {
        Permanent::DeadLetter => OnPermanentFailure::DeadLetter,
        Permanent::Dsn => match args.dsn_relay.clone().or(args.smarthost.clone()) {
            Some(relay) => OnPermanentFailure::Dsn(relay),
            None => bail!(
                "delivery-status notifications need an MTA to send them through: \
                 give --dsn-relay HOST:PORT (or --smarthost), or --on-permanent-failure dead-letter"
            ),
        },
    };
    let hostname = args.hostname.hostname();
    let relay = Relay::new(
        &hostname,
        Duration::from_secs(args.timeout_seconds.max(1)),
        mailsift_smtp::tls::any_certificate_client()?,
        mailsift_smtp::tls::verifying_client()?,
    );
    let cfg = DeliverConfig {
        hostname,
        smarthost: args.smarthost.clone().map(|h| {
            let tls = match args.smarthost_tls {
                SmarthostTls::Opportunistic => DeliveryTls::Opportunistic,
                SmarthostTls::Required => DeliveryTls::Required,
                SmarthostTls::Verify => DeliveryTls::Verify,
            };
            (h, tls)
        }),
        on_permanent,
        max_attempts: args.max_attempts.max(1),
        retry_base: Duration::from_secs(args.retry_base_seconds.max(1)),
        retry_max: Duration::from_secs(args.retry_max_seconds.max(1)),
        topology: topology.clone(),
    };
    let session = SessionConfig {
        amqp_url: args.broker.amqp_url.clone(),
        queues: regions.iter().map(|r| topology.deliver_queue(r)).collect(),
        prefetch: args.prefetch,
        grace: Duration::from_secs(args.grace_period),
        max_backoff: Duration::from_secs(5),
    };
    let deliverer = Deliverer::new(cfg, shared, relay, telemetry.clone());
    let consumer = Consumer::new(
        session,
        Arc::new(topology),
        Arc::new(deliverer),
        Arc::default(),
        telemetry.clone(),
    );
    let poll = args.reload.poll();
    service::runtime()?.block_on(async {
        let http = args.service.serve(&telemetry).await?;
        let shutdown = service::shutdown_on_signal(telemetry.clone());
        let reloading = tokio::spawn(reloader.run(poll, shutdown.clone()));
        consumer.run(shutdown).await;
        reloading.abort();
        if let Some(http) = http {
            http.stop();
        }
        Ok(())
    })
}
