//! The operations endpoints: `/healthz` (the process answers; never
//! depends on the broker), `/readyz` (broker connected and rules loaded;
//! false first on shutdown) and `/metrics` (Prometheus text format).

use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use mailsift_telemetry::{Telemetry, CONTENT_TYPE};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The endpoints, to serve alone or to merge into a larger application.
pub fn router(telemetry: Arc<Telemetry>) -> Router {
    let ready = telemetry.clone();
    let metrics = telemetry;
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || async move {
                match ready.health.readiness() {
                    Ok(()) => (StatusCode::OK, "ready\n".to_string()),
                    Err(why) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("not ready: {why}\n"),
                    ),
                }
            }),
        )
        .route(
            "/metrics",
            get(move || async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode()) }),
        )
}

/// A running HTTP server.
pub struct HttpServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `addr` (so a taken port fails at start, with the address) and
    /// serves `app` in the background. Must run inside a tokio runtime.
    pub async fn start(addr: SocketAddr, app: Router) -> std::io::Result<HttpServer> {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {addr} for HTTP: {e}"))
        })?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app.into_make_service()).await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
        Ok(HttpServer { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving (after the work it reports on is done).
    pub fn stop(self) {
        self.task.abort();
    }
}

/// `/metrics`, `/healthz` and `/readyz` answer as a scraper expects.
#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        let status = out[9..12].parse().expect("status");
        (status, out)
    }

    #[tokio::test]
    async fn endpoints() {
        let t = Telemetry::new();
        let server = HttpServer::start(([127, 0, 0, 1], 0).into(), router(t.clone()))
            .await
            .expect("start");
        assert_eq!(get(server.addr(), "/healthz").await.0, 200);
        let (status, body) = get(server.addr(), "/readyz").await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("rules not loaded"), "{body}");
        t.health.set_rules_loaded();
        t.health.set_broker(true);
        assert_eq!(get(server.addr(), "/readyz").await.0, 200);
        t.health.set_stopping();
        assert_eq!(get(server.addr(), "/readyz").await.0, 503);
        mailsift_telemetry::events::MessageClassified {
            id: "x",
            domain: "*",
            disposition: "NONE",
            route: "deliver",
            score: 0.0,
            seconds: 0.001,
            checks: &[("headers", 0.0001)],
        }
        .emit(&t);
        let (status, body) = get(server.addr(), "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            body.contains(
                r#"mailsift_messages_total{disposition="NONE",route="deliver",domain="default"} 1"#
            ),
            "{body}"
        );
        assert!(
            body.contains(r#"mailsift_check_seconds_count{name="headers"} 1"#),
            "{body}"
        );
        assert!(body.contains("application/openmetrics-text"), "{body}");
        server.stop();
    }
}
