//! `mailsift edge`: the inbound SMTP server. It accepts mail only for the
//! policy's domains, puts each message with its envelope on the input
//! queue with publisher confirms, and answers `250` only once the broker
//! confirmed it (`451` otherwise, so the sending MTA keeps the message).

use crate::session::Session;
use arc_swap::ArcSwap;
use mailsift_amqp::input::InputPublisher;
use mailsift_amqp::{redact, PublishError, Topology};
use mailsift_core::ipset::IpSet;
use mailsift_core::{Engine, Envelope};
use mailsift_telemetry::events::{BrokerConnected, BrokerLost, SmtpConnection};
use mailsift_telemetry::Telemetry;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// One listening address and what it admits.
#[derive(Clone, Debug)]
pub struct ListenerSpec {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Only these peers may connect (empty: anyone).
    pub allow: IpSet,
    /// Connections start with a PROXY protocol v1/v2 header (behind a load
    /// balancer): the peer is the proxied source.
    pub proxy: bool,
}

impl std::str::FromStr for ListenerSpec {
    type Err = String;

    /// `ADDR[;proxy][;allow=CIDR,CIDR...]`, e.g.
    /// `0.0.0.0:25;allow=40.92.0.0/15,2a01:111:f400::/48`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(';');
        let addr = parts.next().unwrap_or("").trim();
        let addr = addr.parse().map_err(|_| {
            format!("listener `{addr}` is not IP:PORT (e.g. 0.0.0.0:25 or [::]:25)")
        })?;
        let mut spec = ListenerSpec {
            addr,
            allow: IpSet::default(),
            proxy: false,
        };
        for part in parts.map(str::trim).filter(|p| !p.is_empty()) {
            if part == "proxy" {
                spec.proxy = true;
            } else if let Some(list) = part.strip_prefix("allow=") {
                spec.allow = parse_ranges(list)?;
            } else {
                return Err(format!(
                    "listener option `{part}`: use `proxy` or `allow=CIDR,...`"
                ));
            }
        }
        Ok(spec)
    }
}

/// `CIDR,CIDR,...` (single addresses allowed) as a set.
pub fn parse_ranges(list: &str) -> Result<IpSet, String> {
    let mut nets = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let net = item
            .parse::<ipnet::IpNet>()
            .or_else(|_| item.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| format!("`{item}` is not an IP address or CIDR block"))?;
        nets.push(net);
    }
    Ok(IpSet::from_nets(&nets))
}

/// Per-connection limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest message accepted (advertised as SIZE).
    pub max_message_bytes: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// Commands per connection.
    pub max_commands: usize,
    /// Errors per connection before it is closed.
    pub max_errors: usize,
    /// Longest wait for the client's next bytes.
    pub idle_timeout: Duration,
    /// Longest connection.
    pub session_timeout: Duration,
    /// Connections at once, all peers.
    pub max_connections: usize,
    /// Connections at once from one peer.
    pub max_connections_per_ip: usize,
    /// `Received:` headers beyond which a message is a routing loop.
    pub max_hops: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 25 << 20,
            max_recipients: 100,
            max_commands: 1_000,
            max_errors: 10,
            idle_timeout: Duration::from_secs(300),
            session_timeout: Duration::from_secs(1_800),
            max_connections: 1_000,
            max_connections_per_ip: 20,
            max_hops: 50,
        }
    }
}

/// Edge settings.
#[derive(Clone)]
pub struct EdgeConfig {
    /// Listeners.
    pub listeners: Vec<ListenerSpec>,
    /// The name in the greeting, EHLO replies and Received headers.
    pub hostname: String,
    /// STARTTLS, when a certificate is configured.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Limits.
    pub limits: Limits,
    /// The broker.
    pub amqp_url: String,
    /// Where inputs go.
    pub topology: Topology,
    /// Longest wait for the broker's confirm before answering 451.
    pub publish_timeout: Duration,
    /// How long a shutdown lets open sessions finish their message.
    pub grace: Duration,
}

/// What every session shares.
pub(crate) struct Shared {
    pub cfg: EdgeConfig,
    pub engine: Arc<ArcSwap<Engine>>,
    pub telemetry: Arc<Telemetry>,
    pub publisher: QueuePublisher,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// The inbound SMTP edge.
pub struct Edge {
    shared: Arc<Shared>,
}

impl Edge {
    /// An edge judging recipients with the policy of `engine`.
    pub fn new(cfg: EdgeConfig, engine: Arc<ArcSwap<Engine>>, telemetry: Arc<Telemetry>) -> Edge {
        let publisher = QueuePublisher::new(
            cfg.amqp_url.clone(),
            cfg.topology.clone(),
            telemetry.clone(),
        );
        Edge {
            shared: Arc::new(Shared {
                cfg,
                engine,
                telemetry,
                publisher,
                per_ip: Mutex::default(),
            }),
        }
    }

    /// Binds every listener (a taken port fails here, with the address).
    pub async fn bind(&self) -> std::io::Result<Vec<(TcpListener, ListenerSpec)>> {
        let mut bound = Vec::new();
        for spec in &self.shared.cfg.listeners {
            let l = TcpListener::bind(spec.addr).await.map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot listen on {} for SMTP: {e}", spec.addr),
                )
            })?;
            bound.push((l, spec.clone()));
        }
        Ok(bound)
    }

    /// Serves the bound listeners until `shutdown`; then stops accepting,
    /// tells idle sessions `421`, lets the others finish their message
    /// within the grace period, and closes the broker connection.
    pub async fn serve(
        &self,
        listeners: Vec<(TcpListener, ListenerSpec)>,
        shutdown: watch::Receiver<bool>,
    ) {
        let keeper = tokio::spawn(keep_connected(self.shared.clone(), shutdown.clone()));
        let limit = Arc::new(Semaphore::new(self.shared.cfg.limits.max_connections));
        let mut accepting = JoinSet::new();
        for (listener, spec) in listeners {
            let (shared, limit, shutdown) = (self.shared.clone(), limit.clone(), shutdown.clone());
            tracing::info!(addr = %spec.addr, proxy = spec.proxy, allow = spec.allow.len(), "SMTP listening");
            accepting.spawn(accept_loop(listener, spec, shared, limit, shutdown));
        }
        // The accept loops return at shutdown, with their open sessions.
        let mut open = Vec::new();
        while let Some(done) = accepting.join_next().await {
            if let Ok(sessions) = done {
                open.push(sessions);
            }
        }
        let drain = async {
            for mut sessions in open {
                while sessions.join_next().await.is_some() {}
            }
        };
        if tokio::time::timeout(self.shared.cfg.grace, drain)
            .await
            .is_err()
        {
            tracing::warn!("grace period over: closing SMTP sessions still open");
        }
        keeper.abort();
        self.shared.publisher.close().await;
    }
}

/// Keeps the broker connection up while the edge runs, so readiness
/// follows the broker even when no mail comes in.
async fn keep_connected(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let wait = match shared.publisher.publisher().await {
            Ok(_) => {
                backoff = Duration::from_millis(100);
                Duration::from_secs(1)
            }
            Err(_) => {
                backoff = (backoff * 2).min(Duration::from_secs(5));
                backoff
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

/// Accepts connections on one listener until `shutdown`; returns the
/// sessions still open.
async fn accept_loop(
    listener: TcpListener,
    spec: ListenerSpec,
    shared: Arc<Shared>,
    limit: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut sessions = JoinSet::new();
    let spec = Arc::new(spec);
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    return sessions;
                }
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, addr)) = accepted else { continue };
                let (shared, spec, shutdown) = (shared.clone(), spec.clone(), shutdown.clone());
                let permit = limit.clone().try_acquire_owned();
                sessions.spawn(async move {
                    let _ = stream.set_nodelay(true);
                    match permit {
                        Ok(_permit) => Session::run(shared, spec, stream, addr, shutdown).await,
                        Err(_) => Session::refuse_busy(shared, stream, addr).await,
                    }
                });
            }
        }
    }
}

impl Shared {
    /// Counts a connection from `ip`; `false` when it already has the most
    /// it may.
    pub(crate) fn enter(&self, ip: IpAddr) -> bool {
        let Ok(mut per_ip) = self.per_ip.lock() else {
            return true;
        };
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= self.cfg.limits.max_connections_per_ip {
            return false;
        }
        *n += 1;
        true
    }

    /// The connection from `ip` ended.
    pub(crate) fn leave(&self, ip: IpAddr) {
        if let Ok(mut per_ip) = self.per_ip.lock() {
            if let Some(n) = per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }

    /// Says why a connection was refused, and counts it.
    pub(crate) fn refused(&self, peer: IpAddr, why: &str) {
        SmtpConnection {
            peer: &peer.to_string(),
            refused: Some(why),
        }
        .emit(&self.telemetry);
    }
}

/// The edge's connection to the broker: one confirming channel shared by
/// every session, reconnected on demand after a failure.
pub(crate) struct QueuePublisher {
    url: String,
    topology: Topology,
    telemetry: Arc<Telemetry>,
    current: tokio::sync::Mutex<Option<Arc<InputPublisher>>>,
}

impl QueuePublisher {
    fn new(url: String, topology: Topology, telemetry: Arc<Telemetry>) -> QueuePublisher {
        QueuePublisher {
            url,
            topology,
            telemetry,
            current: tokio::sync::Mutex::new(None),
        }
    }

    async fn publisher(&self) -> Result<Arc<InputPublisher>, PublishError> {
        let mut current = self.current.lock().await;
        if let Some(p) = current.as_ref().filter(|p| p.is_connected()) {
            return Ok(p.clone());
        }
        match InputPublisher::connect(&self.url, &self.topology).await {
            Ok(p) => {
                BrokerConnected {
                    broker: &redact(&self.url),
                    queues: &self.topology.input_queue,
                    prefetch: None,
                }
                .emit(&self.telemetry);
                let p = Arc::new(p);
                *current = Some(p.clone());
                Ok(p)
            }
            Err(e) => {
                *current = None;
                BrokerLost {
                    error: &e.to_string(),
                    retry_in_ms: 0,
                }
                .emit(&self.telemetry);
                Err(PublishError::Broker(e))
            }
        }
    }

    /// Puts one message on the input queue and waits for the broker's
    /// confirm, at most `timeout`. `Err` means the sender must keep it.
    pub(crate) async fn publish(
        &self,
        body: Vec<u8>,
        envelope: &Envelope,
        timeout: Duration,
    ) -> Result<(), String> {
        let attempt = async {
            let publisher = self.publisher().await?;
            let result = match publisher.publish(body, envelope).await {
                Ok(pending) => pending.confirmed().await,
                Err(e) => Err(PublishError::Broker(e)),
            };
            if let Err(PublishError::Broker(_)) = &result {
                // The channel is gone: the next message reconnects.
                *self.current.lock().await = None;
                self.telemetry.health.set_broker(false);
            }
            result
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no confirm from the broker within {} ms",
                timeout.as_millis()
            )),
        }
    }

    async fn close(&self) {
        if let Some(p) = self.current.lock().await.take() {
            if let Ok(p) = Arc::try_unwrap(p) {
                p.close().await;
            }
        }
        self.telemetry.health.set_broker(false);
    }
}
