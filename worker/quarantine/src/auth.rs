//! Who is asking. The API takes `Authorization: Bearer TOKEN`; the page
//! keeps the same token in an HttpOnly, SameSite=Strict cookie after
//! signing in. Both look the token up the same way: its hash, not revoked.

use crate::app::Console;
use crate::store::Principal;
use crate::token;
use crate::StoreError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

/// The page's sign-in cookie.
pub const COOKIE: &str = "mailsift_quarantine";

/// The valid token `raw` names, if any.
pub async fn authenticate(console: &Console, raw: &str) -> Result<Option<Principal>, StoreError> {
    let raw = raw.trim();
    if !token::well_formed(raw) {
        return Ok(None);
    }
    console.store.principal(&token::hash(raw)).await
}

/// A caller of the API with a valid bearer token.
pub struct ApiUser(pub Principal);

impl FromRequestParts<Arc<Console>> for ApiUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Response> {
        let Some(raw) = bearer(&parts.headers) else {
            return Err(api_error(
                StatusCode::UNAUTHORIZED,
                "send Authorization: Bearer TOKEN (create one with `mailsift quarantine token create`)",
            ));
        };
        match authenticate(console, raw).await {
            Ok(Some(who)) => Ok(ApiUser(who)),
            Ok(None) => Err(api_error(
                StatusCode::UNAUTHORIZED,
                "the token is not valid (unknown or revoked)",
            )),
            Err(e) => {
                let (status, message) =
                    crate::api::public_error(&crate::app::ActionError::Store(e));
                Err(api_error(status, &message))
            }
        }
    }
}

/// A signed-in user of the page; others are sent to the sign-in form.
pub struct PageUser(pub Principal);

impl FromRequestParts<Arc<Console>> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Response> {
        let Some(raw) = cookie(&parts.headers, COOKIE) else {
            return Err(Redirect::to("/login").into_response());
        };
        match authenticate(console, raw).await {
            Ok(Some(who)) => Ok(PageUser(who)),
            Ok(None) => Err(Redirect::to("/login?expired=1").into_response()),
            Err(e) => {
                Err(crate::api::public_error(&crate::app::ActionError::Store(e)).into_response())
            }
        }
    }
}

/// A JSON error body (401 also says which scheme to use).
pub fn api_error(status: StatusCode, message: &str) -> Response {
    let mut r = (status, Json(json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"mailsift quarantine\""),
        );
    }
    r
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The value of cookie `name`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A form post from this site; any other is refused with 403 before the
/// handler runs (see [`same_origin`]).
pub struct SameOrigin;

impl<S: Send + Sync> FromRequestParts<S> for SameOrigin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        if same_origin(&parts.headers) {
            Ok(SameOrigin)
        } else {
            Err((StatusCode::FORBIDDEN, "cross-site form post refused").into_response())
        }
    }
}

/// True when a form post comes from this site: browsers send `Origin` on
/// POST; a different one is a cross-site request (the cookie is also
/// SameSite=Strict, this is the second lock).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn reads_bearer_tokens_and_cookies() {
        let h = headers(&[(header::AUTHORIZATION, "Bearer  msq_abc ")]);
        assert_eq!(bearer(&h), Some("msq_abc"));
        let h = headers(&[(header::AUTHORIZATION, "Basic dXNlcg==")]);
        assert_eq!(bearer(&h), None);
        let h = headers(&[(header::COOKIE, "a=1; mailsift_quarantine=msq_x; b=2")]);
        assert_eq!(cookie(&h, COOKIE), Some("msq_x"));
        assert_eq!(cookie(&HeaderMap::new(), COOKIE), None);
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let h = headers(&[
            (header::HOST, "q.example:8080"),
            (header::ORIGIN, "http://q.example:8080"),
        ]);
        assert!(same_origin(&h));
        let h = headers(&[
            (header::HOST, "q.example:8080"),
            (header::ORIGIN, "https://evil.example"),
        ]);
        assert!(!same_origin(&h));
        assert!(same_origin(&headers(&[(header::HOST, "q.example")])));
    }
}
