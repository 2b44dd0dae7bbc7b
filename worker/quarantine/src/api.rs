//! The JSON API under `/api/v1`. Every route takes a bearer token; a
//! message outside the token's domains is answered as if it did not exist
//! (404), a filter naming such a domain with 403.

use crate::app::{ActionError, Console, Released};
use crate::auth::{api_error, ApiUser};
use crate::preview::{preview_off_thread, Preview};
use crate::store::{Detail, Filter, MAX_LIMIT};
use crate::StoreError;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

/// The API's routes.
pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/api/v1/messages", get(list))
        .route("/api/v1/messages/release", post(release_many))
        .route("/api/v1/messages/{id}", get(detail).delete(delete))
        .route("/api/v1/messages/{id}/raw", get(raw))
        .route("/api/v1/messages/{id}/release", post(release))
        .route("/api/v1/audit", get(audit))
}

/// `GET /messages/{id}`: the stored detail and the preview.
#[derive(Serialize)]
pub struct DetailView {
    /// Verdict, envelope and list fields.
    #[serde(flatten)]
    pub detail: Detail,
    /// Header fields, text and links of the message (absent for journal
    /// verdicts).
    pub preview: Option<Preview>,
}

async fn list(
    State(console): State<Arc<Console>>,
    ApiUser(who): ApiUser,
    Query(filter): Query<Filter>,
) -> Response {
    match console.store.list(&who, &filter).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => store_error(e),
    }
}

async fn detail(
    State(console): State<Arc<Console>>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Response {
    let detail = match console.store.detail(&who, id).await {
        Ok(Some(d)) => d,
        Ok(None) => return not_found(),
        Err(e) => return store_error(e),
    };
    let preview = if detail.journal {
        None
    } else {
        match console.store.raw(&who, id).await {
            Ok(Some(Some(raw))) => Some(preview_off_thread(raw).await),
            Ok(_) => None,
            Err(e) => return store_error(e),
        }
    };
    Json(DetailView { detail, preview }).into_response()
}

async fn raw(
    State(console): State<Arc<Console>>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Response {
    match console.download(&who, id).await {
        Ok(Some(bytes)) => eml(id, bytes),
        Ok(None) => not_found(),
        Err(e) => action_error(e),
    }
}

/// The original message as a download.
pub fn eml(id: i64, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "message/rfc822".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"quarantine-{id}.eml\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response()
}

async fn release(
    State(console): State<Arc<Console>>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Response {
    match console.release(&who, id).await {
        Ok(Released::NotFound) => not_found(),
        Ok(Released::NoMessage) => api_error(
            StatusCode::CONFLICT,
            "a journal-mode verdict: the console keeps no message to release",
        ),
        Ok(outcome) => Json(json!({ "id": id, "outcome": outcome })).into_response(),
        Err(e) => action_error(e),
    }
}

/// `POST /messages/release`: `{"ids": [..]}`.
#[derive(Deserialize)]
struct Ids {
    ids: Vec<i64>,
}

async fn release_many(
    State(console): State<Arc<Console>>,
    ApiUser(who): ApiUser,
    Json(Ids { ids }): Json<Ids>,
) -> Response {
    if ids.len() > MAX_LIMIT as usize {
        return api_error(
            StatusCode::BAD_REQUEST,
            &format!("release at most {MAX_LIMIT} messages per call"),
        );
    }
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let outcome = match console.release(&who, id).await {
            Ok(o) => json!({ "id": id, "outcome": o }),
            // The same words a single release gives: no database or broker
            // text reaches the tenant.
            Err(e) => json!({ "id": id, "outcome": "failed", "error": public_error(&e).1 }),
        };
        results.push(outcome);
    }
    Json(json!({ "results": results })).into_response()
}

async fn delete(
    State(console): State<Arc<Console>>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Response {
    match console.delete(&who, id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found(),
        Err(e) => action_error(e),
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<i64>,
}

async fn audit(
    State(console): State<Arc<Console>>,
    ApiUser(who): ApiUser,
    Query(q): Query<AuditQuery>,
) -> Response {
    match console
        .store
        .audit_trail(&who, q.limit.unwrap_or(100))
        .await
    {
        Ok(rows) => Json(json!({ "audit": rows })).into_response(),
        Err(e) => store_error(e),
    }
}

fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "no such message for this token")
}

fn store_error(e: StoreError) -> Response {
    let (status, message) = public_error(&ActionError::Store(e));
    api_error(status, &message)
}

fn action_error(e: ActionError) -> Response {
    let (status, message) = public_error(&e);
    api_error(status, &message)
}

/// The status and text a caller gets for an error: theirs in full (a bad
/// filter), ours logged here and summarised (a tenant never sees database
/// or broker internals).
pub fn public_error(e: &ActionError) -> (StatusCode, String) {
    match e {
        ActionError::Store(StoreError::BadFilter(why)) => (StatusCode::BAD_REQUEST, why.clone()),
        ActionError::Store(StoreError::OutOfScope(why)) => (StatusCode::FORBIDDEN, why.clone()),
        ActionError::Store(other) => {
            tracing::warn!(error = %other, "quarantine console: database error");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the quarantine database is unavailable; try again shortly".into(),
            )
        }
        ActionError::Release(other) => {
            tracing::warn!(error = %other, "release not confirmed");
            (
                StatusCode::BAD_GATEWAY,
                "the broker did not confirm the release; it is not marked released: try again"
                    .into(),
            )
        }
        ActionError::Failed(why) => (StatusCode::INTERNAL_SERVER_ERROR, why.clone()),
    }
}
