//! mailsift-telemetry: what happens in mailsift, as events.
//!
//! Each event type ([`events`]) writes its log line and updates its metrics
//! from one definition, as vector does, so the logs and the metrics cannot
//! drift apart. [`Telemetry`] holds the metric families ([`metrics`]) and
//! the process's [`health`]; the ops crate serves them over HTTP.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod events;
pub mod health;
pub mod logging;
pub mod metrics;

pub use health::Health;
pub use metrics::Metrics;

use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The metrics and health of one process, shared by its components.
pub struct Telemetry {
    /// Every metric family.
    pub metrics: Metrics,
    /// Liveness and readiness.
    pub health: Health,
    registry: Registry,
}

impl Telemetry {
    /// Fresh metrics (all zero) and health (alive, not ready).
    pub fn new() -> Arc<Telemetry> {
        let mut registry = Registry::with_prefix("mailsift");
        let metrics = Metrics::register(&mut registry);
        Arc::new(Telemetry {
            metrics,
            health: Health::default(),
            registry,
        })
    }

    /// The metrics in the Prometheus/OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The media type of [`Telemetry::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
