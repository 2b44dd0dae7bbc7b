//! What every long-running subcommand shares: logging, the operations
//! endpoints, an async runtime and the termination signals.

use anyhow::{Context as _, Result};
use mailsift_ops::HttpServer;
use mailsift_telemetry::events::ShuttingDown;
use mailsift_telemetry::logging::{self, LogFormat};
use mailsift_telemetry::Telemetry;
use std::net::SocketAddr;
use std::sync::Arc;

/// Flags of every long-running subcommand.
#[derive(clap::Args, Clone)]
pub struct ServiceArgs {
    /// Serve /healthz, /readyz and /metrics on this address (e.g. 0.0.0.0:9090).
    #[arg(long, env = "MAILSIFT_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Log lines as `json`, `text`, or `auto` (JSON unless on a terminal).
    #[arg(long, env = "MAILSIFT_LOG_FORMAT", default_value = "auto")]
    pub log_format: LogFormat,
}

impl ServiceArgs {
    /// Installs logging.
    pub fn init_logging(&self) {
        logging::init(self.log_format);
    }

    /// Starts the operations endpoints when asked for (inside the runtime).
    pub async fn serve(&self, telemetry: &Arc<Telemetry>) -> Result<Option<HttpServer>> {
        let Some(addr) = self.http_addr else {
            return Ok(None);
        };
        let app = mailsift_ops::http::router(telemetry.clone());
        Ok(Some(HttpServer::start(addr, app).await?))
    }
}

/// The async runtime for the broker edges: I/O only, two threads (CPU work
/// runs on the classification pool).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A shutdown flag that turns true on SIGTERM (Kubernetes) or SIGINT (a
/// terminal), after readiness turned false. Must be called inside the
/// runtime.
pub fn shutdown_on_signal(telemetry: Arc<Telemetry>) -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let signal = wait_for_termination().await;
        ShuttingDown { reason: signal }.emit(&telemetry);
        let _ = tx.send(true);
    });
    rx
}

async fn wait_for_termination() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
