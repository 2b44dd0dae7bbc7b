//! The consumer: each quarantine output becomes one row, and the input is
//! acknowledged only after that row is committed (or found to be stored
//! already), so a crash anywhere in between loses nothing and a
//! redelivery stores nothing twice.

use crate::record::Held;
use crate::store::{Store, Stored};
use lapin::message::Delivery;
use mailsift_amqp::{Handler, Publisher, Settle, SharedEngine};
use mailsift_telemetry::events::QuarantineEvent;
use mailsift_telemetry::Telemetry;
use std::sync::Arc;
use std::time::Duration;

/// How long to wait before giving an input back when the database failed:
/// the broker redelivers at once, and a database that is down should not
/// be hammered.
const BACKOFF: Duration = Duration::from_secs(1);

/// Stores quarantine outputs.
pub struct Ingest {
    store: Store,
    engine: SharedEngine,
    telemetry: Arc<Telemetry>,
}

impl Ingest {
    /// Stores into `store`; `engine` holds the policy (journal mode,
    /// retention) and explains verdicts with evidence.
    pub fn new(store: Store, engine: SharedEngine, telemetry: Arc<Telemetry>) -> Ingest {
        Ingest {
            store,
            engine,
            telemetry,
        }
    }
}

impl Handler for Ingest {
    async fn handle(&self, mut delivery: Delivery, _out: &Publisher) -> lapin::Result<Settle> {
        let headers = delivery.properties.headers().clone();
        let content_type = delivery
            .properties
            .content_type()
            .as_ref()
            .map(|c| c.as_str().to_string());
        let body = std::mem::take(&mut delivery.data);
        let engine = self.engine.load_full();
        // Reading the message and explaining its verdict is CPU work.
        let held = tokio::task::spawn_blocking(move || {
            Held::from_output(headers.as_ref(), &body, content_type.as_deref(), &engine)
        })
        .await;
        let held = match held {
            Ok(held) => held,
            Err(e) => {
                tracing::error!(error = %e, "reading a quarantine output failed; giving it back");
                tokio::time::sleep(BACKOFF).await;
                return Ok(Settle::Requeue);
            }
        };
        let event = |name| QuarantineEvent {
            name,
            count: 1,
            id: &held.mailsift_id,
            domain: &held.domain,
            actor: "",
        };
        match self.store.insert(&held).await {
            Ok(Stored::New(_)) => {
                event("stored").emit(&self.telemetry);
                Ok(Settle::Ack { outputs: 0 })
            }
            Ok(Stored::Duplicate) => {
                event("duplicate").emit(&self.telemetry);
                Ok(Settle::Ack { outputs: 0 })
            }
            Err(e) => {
                tracing::warn!(error = %e, id = %held.mailsift_id, "storing failed; giving the message back");
                event("store_failed").emit(&self.telemetry);
                tokio::time::sleep(BACKOFF).await;
                Ok(Settle::Requeue)
            }
        }
    }
}
