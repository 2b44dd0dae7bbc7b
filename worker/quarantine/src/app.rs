//! The console's state and the actions the API and the page share. Every
//! release, delete and download is written to the audit trail and counted
//! here, once, whichever door it came through.

use crate::release::{ReleaseError, Releaser};
use crate::store::{Principal, Release, Store};
use crate::StoreError;
use axum::Router;
use mailsift_telemetry::events::QuarantineEvent;
use mailsift_telemetry::Telemetry;
use serde::Serialize;
use std::sync::Arc;

/// What every handler holds.
pub struct Console {
    /// The database.
    pub store: Store,
    /// Publishes releases.
    pub releaser: Releaser,
    /// Metrics and health.
    pub telemetry: Arc<Telemetry>,
}

/// The whole HTTP application: the API under `/api/v1`, the page, and the
/// operations endpoints.
pub fn router(console: Arc<Console>) -> Router {
    let ops = mailsift_ops::http::router(console.telemetry.clone());
    crate::api::routes()
        .merge(crate::page::routes())
        .with_state(console)
        .merge(ops)
}

/// How one release ended, as the API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Released {
    /// Published with the broker's confirm, and marked.
    Released,
    /// Released before: nothing published this time.
    AlreadyReleased,
    /// Not one of the caller's messages.
    NotFound,
    /// A journal-mode verdict: no message to release.
    NoMessage,
}

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker did not take the release.
    #[error(transparent)]
    Release(#[from] ReleaseError),
    /// Something else went wrong (logged).
    #[error("{0}")]
    Failed(String),
}

impl Console {
    /// Releases one message (at most once), audited. Runs to the end in a
    /// task of its own: a client that goes away mid-release cannot leave a
    /// published message unmarked (which a second release would publish
    /// again).
    pub async fn release(
        self: &Arc<Self>,
        who: &Principal,
        id: i64,
    ) -> Result<Released, ActionError> {
        let console = self.clone();
        let who = who.clone();
        tokio::spawn(async move { console.release_now(&who, id).await })
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, id, "a release task failed");
                Err(ActionError::Failed(
                    "the release failed; see the console's log".into(),
                ))
            })
    }

    async fn release_now(&self, who: &Principal, id: i64) -> Result<Released, ActionError> {
        let outcome = self
            .store
            .release(
                who,
                id,
                |item| async move { self.releaser.publish(&item).await },
            )
            .await?;
        match outcome {
            Release::Released { domain } => {
                self.event("released", id, &domain, who);
                Ok(Released::Released)
            }
            Release::AlreadyReleased { .. } => Ok(Released::AlreadyReleased),
            Release::NoBody { .. } => Ok(Released::NoMessage),
            Release::NotFound => Ok(Released::NotFound),
            Release::PublishFailed(e) => Err(e.into()),
        }
    }

    /// Deletes one message, audited; false when it is not the caller's.
    pub async fn delete(&self, who: &Principal, id: i64) -> Result<bool, ActionError> {
        let Some(domain) = self.store.delete(who, id).await? else {
            return Ok(false);
        };
        self.event("deleted", id, &domain, who);
        Ok(true)
    }

    /// The original bytes for download, audited. `Ok(None)`: not the
    /// caller's, or a journal-mode verdict without a message.
    pub async fn download(&self, who: &Principal, id: i64) -> Result<Option<Vec<u8>>, ActionError> {
        let Some((domain, raw)) = self.store.download(who, id).await? else {
            return Ok(None);
        };
        self.event("downloaded", id, &domain, who);
        Ok(Some(raw))
    }

    fn event(&self, name: &'static str, id: i64, domain: &str, who: &Principal) {
        QuarantineEvent {
            name,
            count: 1,
            id: &id.to_string(),
            domain,
            actor: &who.name,
        }
        .emit(&self.telemetry);
    }
}
