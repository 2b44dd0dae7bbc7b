//! Flags shared by several subcommands.

use anyhow::{bail, Context as _, Result};
use arc_swap::ArcSwap;
use clap::ValueEnum;
use mailsift_amqp::Topology;
use mailsift_auth::dns::DnsConfig;
use mailsift_auth::zone::Zone;
use mailsift_auth::BlockingAuthenticator;
use mailsift_core::{Engine, Envelope, Rules};
use mailsift_ops::Reloader;
use mailsift_telemetry::Telemetry;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The regions a regional consumer serves (`--region`, repeatable): those
/// asked for, each checked against the policy's, or every one.
pub fn regions(topology: &Topology, asked: &[String]) -> Result<Vec<String>> {
    if asked.is_empty() {
        return Ok(topology.regions.clone());
    }
    for r in asked {
        if !topology.regions.contains(r) {
            bail!(
                "--region {r}: the policy has regions {}",
                topology.regions.join(", ")
            );
        }
    }
    Ok(asked.to_vec())
}

/// The messages a benchmark draws from: `corpus`, else corpus/public if
/// installed, else the project corpus.
pub fn bench_bodies(corpus: Option<&Path>) -> Result<(PathBuf, Vec<Vec<u8>>)> {
    let source = corpus.map(Path::to_path_buf).unwrap_or_else(|| {
        let public = PathBuf::from("corpus/public");
        if public.is_dir() {
            public
        } else {
            PathBuf::from("corpus")
        }
    });
    let bodies: Vec<Vec<u8>> = mailsift_corpus::messages(
        vec![source.clone()],
        64 << 20,
        &mailsift_corpus::Skipped::new(),
    )
    .filter_map(|i| i.bytes.ok())
    .collect();
    anyhow::ensure!(!bodies.is_empty(), "no messages under {}", source.display());
    Ok((source, bodies))
}

/// A pool of `threads` worker threads (default: one per core), and how
/// many it has.
pub fn thread_pool(threads: Option<usize>) -> Result<(rayon::ThreadPool, usize)> {
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("starting worker threads")?;
    Ok((pool, threads))
}

/// Output format of reports.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// For people.
    Text,
    /// One JSON document.
    Json,
}

/// The rules directory and the trained model weighed with them.
#[derive(clap::Args, Clone)]
pub struct RulesArgs {
    /// Rules directory (default: the shipped rules/).
    #[arg(long, env = "MAILSIFT_RULES")]
    pub rules: Option<PathBuf>,
    /// A content classifier written by `mailsift train`, weighed with the
    /// rules (reloaded with them). None is shipped: train on your mail.
    #[arg(long, value_name = "FILE", env = "MAILSIFT_MODEL")]
    pub model: Option<PathBuf>,
}

impl RulesArgs {
    /// The directory to load.
    pub fn dir(&self) -> PathBuf {
        self.rules.clone().unwrap_or_else(Rules::default_dir)
    }

    /// Loads the engine (with the model, if given), with the file and
    /// line of any error.
    pub fn engine(&self) -> Result<Engine> {
        let dir = self.dir();
        Engine::load_with_model(&dir, self.model.as_deref())
            .with_context(|| format!("unusable rules in {}", dir.display()))
    }

    /// Loads the rules alone, whatever --model says.
    pub fn engine_without_model(&self) -> Result<Engine> {
        let dir = self.dir();
        Engine::load(&dir).with_context(|| format!("unusable rules in {}", dir.display()))
    }

    /// The engine shared with a hot reloader of the same directory (which
    /// has announced the rules loaded).
    pub fn reloadable(
        &self,
        telemetry: &Arc<Telemetry>,
    ) -> Result<(Arc<ArcSwap<Engine>>, Reloader)> {
        let shared = Arc::new(ArcSwap::from_pointee(self.engine()?));
        let reloader = Reloader::new(
            &self.dir(),
            self.model.as_deref(),
            shared.clone(),
            telemetry.clone(),
        );
        reloader.announce();
        Ok((shared, reloader))
    }
}

/// Hot reload of the rules (see README, "Operations").
#[derive(clap::Args, Clone)]
pub struct ReloadArgs {
    /// Also reload the rules every N seconds if they changed (besides
    /// SIGHUP and watching the directory); 0 turns polling off.
    #[arg(long, env = "MAILSIFT_RELOAD_POLL_SECONDS", default_value_t = 30)]
    pub reload_poll_seconds: u64,
}

impl ReloadArgs {
    /// The poll interval.
    pub fn poll(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.reload_poll_seconds)
    }
}

/// This machine's name for SMTP (EHLO, greeting, Received, DSNs).
#[derive(clap::Args, Clone)]
pub struct HostnameArgs {
    /// The fully qualified name presented in SMTP (default: the machine's
    /// hostname). Office 365 and most receivers refuse a HELO that is not
    /// an FQDN: set it in production.
    #[arg(long, env = "MAILSIFT_HOSTNAME")]
    pub hostname: Option<String>,
}

impl HostnameArgs {
    /// The name to present, warning when it does not look fully qualified.
    pub fn hostname(&self) -> String {
        let name = self
            .hostname
            .clone()
            .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
        if !name.contains('.') {
            tracing::warn!(hostname = %name, "the SMTP hostname is not fully qualified; set --hostname (receivers such as Office 365 refuse such HELO names)");
        }
        name
    }
}

/// The SMTP envelope as flags (fields left out are derived from headers).
#[derive(clap::Args)]
pub struct EnvelopeArgs {
    /// Connecting IP as the SMTP edge saw it.
    #[arg(long)]
    peer_ip: Option<IpAddr>,
    /// HELO/EHLO name.
    #[arg(long)]
    helo: Option<String>,
    /// Envelope MAIL FROM (empty string = null sender).
    #[arg(long)]
    mail_from: Option<String>,
    /// Envelope RCPT TO (repeatable).
    #[arg(long)]
    rcpt: Vec<String>,
}

impl EnvelopeArgs {
    /// The envelope the flags describe.
    pub fn envelope(self) -> Envelope {
        Envelope {
            peer_ip: self.peer_ip,
            helo: self.helo,
            mail_from: self.mail_from,
            rcpt_to: self.rcpt,
            ..Envelope::default()
        }
    }
}

/// Sender authentication's DNS (SPF, DKIM, DMARC, ARC).
#[derive(clap::Args, Clone, Default)]
pub struct DnsArgs {
    /// Authenticate with recorded DNS only (YAML in the RFC 7208 test
    /// suite's `zonedata` form); a name not in the file does not exist.
    #[arg(long, value_name = "FILE", env = "MAILSIFT_DNS_FILE")]
    pub dns: Option<PathBuf>,
    /// Authenticate with live DNS (check and replay; the worker does unless
    /// given --dns or --no-auth). Old corpora judged against today's DNS
    /// get today's answers: record once with --record-dns, replay with --dns.
    #[arg(long, conflicts_with = "dns")]
    pub live_dns: bool,
    /// Nameservers for live DNS, IP or IP:PORT, comma-separated (default:
    /// the system's resolv.conf).
    #[arg(
        long = "dns-server",
        env = "MAILSIFT_DNS_SERVERS",
        value_delimiter = ','
    )]
    pub dns_servers: Vec<String>,
    /// Deadline of one DNS query attempt, in milliseconds.
    #[arg(long, env = "MAILSIFT_DNS_TIMEOUT_MS", default_value_t = 2000)]
    pub dns_timeout_ms: u64,
    /// Attempts per DNS query before it counts as a temporary failure.
    #[arg(long, env = "MAILSIFT_DNS_ATTEMPTS", default_value_t = 2)]
    pub dns_attempts: usize,
    /// Entries per DNS cache (TXT, MX, A, AAAA, PTR each).
    #[arg(long, env = "MAILSIFT_DNS_CACHE_ENTRIES", default_value_t = 50_000)]
    pub dns_cache_entries: u64,
    /// Record the live DNS answers verdicts used, for exact replay with
    /// --dns: check and replay write one zone file here; the worker writes
    /// `<x-mailsift-id>.yml` per message into this directory.
    #[arg(long, value_name = "PATH", env = "MAILSIFT_RECORD_DNS")]
    pub record_dns: Option<PathBuf>,
}

impl DnsArgs {
    /// The resolver settings.
    pub fn config(&self) -> Result<DnsConfig> {
        let servers = self
            .dns_servers
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<std::net::SocketAddr>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
                    .with_context(|| format!("--dns-server `{s}` is not IP or IP:PORT"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DnsConfig {
            servers,
            timeout: std::time::Duration::from_millis(self.dns_timeout_ms.max(1)),
            attempts: self.dns_attempts.max(1),
            cache_entries: self.dns_cache_entries.max(1),
            ..DnsConfig::default()
        })
    }

    /// The recorded zone of `--dns`, if given.
    pub fn load_zone(&self) -> Result<Option<Zone>> {
        self.dns
            .as_ref()
            .map(|p| Zone::load(p).with_context(|| "cannot use --dns"))
            .transpose()
    }

    /// The authenticator for check and replay, and how it was chosen.
    pub fn blocking(&self, engine: &Engine) -> Result<(Option<BlockingAuthenticator>, String)> {
        let cfg = self.config()?;
        let host = &engine.rules().policy.gateway.authserv_id;
        if let Some(zone) = self.load_zone()? {
            if self.record_dns.is_some() {
                bail!("--record-dns records live DNS; it cannot be used with --dns");
            }
            let what = format!(
                "recorded DNS from {} ({} names)",
                self.dns.as_deref().unwrap_or(Path::new("?")).display(),
                zone.len()
            );
            return Ok((
                Some(BlockingAuthenticator::recorded(zone, &cfg, host)?),
                what,
            ));
        }
        if self.live_dns {
            let a = BlockingAuthenticator::live(&cfg, host, self.record_dns.is_some())?;
            return Ok((Some(a), "live DNS".into()));
        }
        if self.record_dns.is_some() {
            bail!("--record-dns needs --live-dns");
        }
        Ok((None, "off (give --dns FILE or --live-dns)".into()))
    }
}

/// Queue and exchange names (defaults in `mailsift_amqp::Topology`).
#[derive(clap::Args, Clone)]
pub struct TopologyArgs {
    /// Prefix for every queue and exchange name.
    #[arg(long, env = "MAILSIFT_NAME_PREFIX", default_value = "")]
    name_prefix: String,
    /// Input quorum queue.
    #[arg(long, env = "MAILSIFT_INPUT_QUEUE")]
    input_queue: Option<String>,
    /// Delivery topic exchange (routing key `deliver.<region>`).
    #[arg(long, env = "MAILSIFT_DELIVER_EXCHANGE")]
    deliver_exchange: Option<String>,
    /// Quarantine topic exchange (routing key `quarantine.<region>`).
    #[arg(long, env = "MAILSIFT_QUARANTINE_EXCHANGE")]
    quarantine_exchange: Option<String>,
    /// Verdicts topic exchange for journal mode (routing key `verdict.<region>`).
    #[arg(long, env = "MAILSIFT_VERDICTS_EXCHANGE")]
    verdicts_exchange: Option<String>,
    /// Dead-letter exchange for inputs past the delivery limit.
    #[arg(long, env = "MAILSIFT_DEAD_LETTER_EXCHANGE")]
    dead_letter_exchange: Option<String>,
    /// Deliveries of one input before it is dead-lettered.
    #[arg(long, env = "MAILSIFT_DELIVERY_LIMIT", default_value_t = 5)]
    delivery_limit: u32,
    /// Seconds a deferred delivery waits per pass through its retry queue
    /// (a queue argument: change it on new queues only).
    #[arg(long, env = "MAILSIFT_DELIVER_RETRY_SECONDS", default_value_t = 60)]
    deliver_retry_seconds: u64,
}

impl TopologyArgs {
    /// The names `mailsift worker --name-prefix PREFIX` uses (with this
    /// process's `MAILSIFT_*` settings, which a child process inherits).
    pub fn parse_prefixed(prefix: &str) -> Result<TopologyArgs> {
        use clap::{Args, FromArgMatches};
        let cmd = TopologyArgs::augment_args(clap::Command::new("names"));
        let matches = cmd.try_get_matches_from(["names", "--name-prefix", prefix])?;
        Ok(TopologyArgs::from_arg_matches(&matches)?)
    }

    /// The topology for these rules' regions and retry delay.
    pub fn topology(&self, rules: &Rules) -> Topology {
        let mut t = Topology::with_regions(rules.policy.regions());
        let set = |field: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                *field = v.clone();
            }
        };
        set(&mut t.input_queue, &self.input_queue);
        set(&mut t.deliver_exchange, &self.deliver_exchange);
        set(&mut t.quarantine_exchange, &self.quarantine_exchange);
        set(&mut t.verdicts_exchange, &self.verdicts_exchange);
        set(&mut t.dead_letter_exchange, &self.dead_letter_exchange);
        t.delivery_limit = self.delivery_limit;
        t.retry_delay_ms = rules.policy.gateway.requeue_delay.as_millis() as u64;
        t.deliver_retry_delay_ms = self.deliver_retry_seconds.max(1) * 1000;
        t.prefixed(&self.name_prefix)
    }
}

/// Where the broker is.
#[derive(clap::Args)]
pub struct BrokerArgs {
    /// Broker URL (amqp:// or amqps://). Never logged with its password.
    #[arg(
        long,
        env = "MAILSIFT_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,
}
