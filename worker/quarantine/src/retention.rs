//! Retention: messages past their domain's retention deadline (set when
//! stored) are deleted in small batches, each its own short transaction,
//! so the table is never locked for long and the list stays responsive.

use crate::store::Store;
use mailsift_telemetry::events::QuarantineEvent;
use mailsift_telemetry::Telemetry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Rows deleted per transaction.
pub const BATCH: i64 = 1000;

/// Deletes every expired message now, batch by batch; returns how many.
pub async fn purge(store: &Store, telemetry: &Telemetry) -> Result<u64, crate::StoreError> {
    let mut total = 0;
    loop {
        let n = store.purge_expired(BATCH).await?;
        if n > 0 {
            QuarantineEvent {
                name: "purged",
                count: n,
                id: "",
                domain: "",
                actor: "retention",
            }
            .emit(telemetry);
        }
        total += n;
        if n < BATCH as u64 {
            return Ok(total);
        }
        // Let other work in between batches.
        tokio::task::yield_now().await;
    }
}

/// Purges every `every` until `shutdown` turns true.
pub async fn run(
    store: Store,
    telemetry: Arc<Telemetry>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = purge(&store, &telemetry).await {
            tracing::warn!(error = %e, "retention purge failed; trying again later");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}
