//! The web page: server-rendered HTML forms, no JavaScript. Everything a
//! message contains is shown as escaped text (maud escapes every value),
//! and every page is sent with a Content-Security-Policy that forbids
//! scripts, frames, images and requests to anywhere but this server.

use crate::api::{eml, public_error};
use crate::app::ActionError;
use crate::app::{Console, Released};
use crate::auth::{self, PageUser, SameOrigin, COOKIE};
use crate::preview::{preview_off_thread, Preview};
use crate::store::{Detail, Filter, Page};
use axum::extract::{Path, Query, RawForm, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use std::sync::Arc;

/// What the browser may do with our pages: nothing but show them and post
/// forms back here.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The page's routes.
pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/messages") }))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/messages", get(list))
        .route("/messages/release", post(release_many))
        .route("/messages/{id}", get(detail))
        .route("/messages/{id}/raw", get(raw))
        .route("/messages/{id}/release", post(release))
        .route("/messages/{id}/delete", post(delete))
}

fn page(title: &str, who: Option<&str>, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="referrer" content="same-origin";
                title { (title) " · mailsift quarantine" }
                style { (STYLE) }
            }
            body {
                header {
                    strong { a href="/messages" { "mailsift quarantine" } }
                    @if let Some(who) = who {
                        span.who { "signed in as " (who) }
                        form method="post" action="/logout" { button #logout type="submit" { "Sign out" } }
                    }
                }
                main { (body) }
            }
        }
    };
    (
        [
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup,
    )
        .into_response()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}\
header{display:flex;gap:1em;align-items:center;padding:.6em 1em;background:#1d3557;color:#fff}\
header a{color:#fff;text-decoration:none}header form{margin-left:auto}\
main{padding:1em}table{border-collapse:collapse;width:100%}\
td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}\
pre{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;padding:.6em;max-height:40em;overflow:auto}\
.d-MALICIOUS,.d-SPOOF{color:#b00020;font-weight:bold}.d-SPAM{color:#c75000}\
.notice{background:#e7f5e7;padding:.5em}.error{background:#fde8e8;padding:.5em}\
form.filters{display:flex;flex-wrap:wrap;gap:.5em;margin-bottom:1em}";

#[derive(Deserialize)]
struct LoginQuery {
    expired: Option<String>,
}

async fn login_form(Query(q): Query<LoginQuery>) -> Response {
    page(
        "Sign in",
        None,
        html! {
            @if q.expired.is_some() { p.error { "Your token is no longer valid. Sign in again." } }
            (login_markup())
        },
    )
}

fn login_markup() -> Markup {
    html! {
        h1 { "Sign in" }
        p { "Paste the token your administrator created with " code { "mailsift quarantine token create" } "." }
        form method="post" action="/login" {
            label { "Token " input #token type="password" name="token" autocomplete="off" required; }
            " " button #signin type="submit" { "Sign in" }
        }
    }
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(console): State<Arc<Console>>,
    _: SameOrigin,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    match auth::authenticate(&console, &form.token).await {
        Ok(Some(_)) => {
            let secure = headers
                .get("x-forwarded-proto")
                .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
            let cookie = format!(
                "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{}",
                form.token.trim(),
                if secure { "; Secure" } else { "" }
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to("/messages")).into_response()
        }
        Ok(None) => {
            let mut r = page(
                "Sign in",
                None,
                html! { p.error #error { "That token is not valid." } (login_markup()) },
            );
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
        Err(e) => public_error(&ActionError::Store(e)).into_response(),
    }
}

async fn logout(_: SameOrigin) -> Response {
    let clear = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response()
}

/// What the last action did, shown once after its redirect: a code and
/// counts, never text from the link (a crafted link must not be able to
/// put words on our page).
#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
    released: Option<u32>,
    skipped: Option<u32>,
    failed: Option<u32>,
}

impl Done {
    fn text(&self) -> Option<String> {
        let n = |v: Option<u32>| v.unwrap_or(0);
        Some(match self.done.as_deref()? {
            "released" => "released".into(),
            "already-released" => "already released: nothing sent again".into(),
            "nothing-to-release" => "a journal-mode verdict: there is no message to release".into(),
            "deleted" => "deleted".into(),
            "bulk" => format!(
                "Released {}; {} skipped (released before, or nothing to release); {} failed",
                n(self.released),
                n(self.skipped),
                n(self.failed)
            ),
            _ => return None,
        })
    }
}

async fn list(
    State(console): State<Arc<Console>>,
    PageUser(who): PageUser,
    Query(filter): Query<Filter>,
    Query(done): Query<Done>,
) -> Response {
    let result = console
        .store
        .list(&who, &filter)
        .await
        .map_err(|e| public_error(&ActionError::Store(e)));
    let body = html! {
        h1 { "Quarantined mail" }
        @if let Some(done) = done.text() { p.notice #done { (done) } }
        (filters(&filter, &who.domains))
        @match &result {
            Ok(p) => (table(p, &filter)),
            Err((_, why)) => p.error { (why) },
        }
    };
    let mut r = page("Quarantine", Some(&who.name), body);
    if let Err((status, _)) = &result {
        *r.status_mut() = *status;
    }
    r
}

fn filters(f: &Filter, domains: &[String]) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    html! {
        form.filters method="get" action="/messages" {
            select name="domain" {
                option value="" { "all my domains" }
                @for d in domains {
                    option value=(d) selected[f.domain.as_deref() == Some(d.as_str())] { (d) }
                }
            }
            select name="disposition" {
                option value="" { "any disposition" }
                @for d in ["MALICIOUS", "SPOOF", "SPAM", "SUSPICIOUS", "BULK", "NONE"] {
                    option value=(d) selected[f.disposition.as_deref() == Some(d)] { (d) }
                }
            }
            input name="from" placeholder="from" value=(v(&f.from));
            input name="to" placeholder="to" value=(v(&f.to));
            input name="subject" placeholder="subject" value=(v(&f.subject));
            input name="since" placeholder="since 2026-12-01" value=(v(&f.since));
            input name="until" placeholder="until 2026-12-31" value=(v(&f.until));
            button #filter type="submit" { "Filter" }
        }
    }
}

fn table(p: &Page, f: &Filter) -> Markup {
    let offset = f.offset.unwrap_or(0).max(0);
    let limit = f
        .limit
        .unwrap_or(crate::store::DEFAULT_LIMIT)
        .clamp(1, crate::store::MAX_LIMIT);
    let shown_to = offset + p.messages.len() as i64;
    let more = if p.total_exact { "" } else { "+" };
    html! {
        p #count { "Messages " (if p.messages.is_empty() { 0 } else { offset + 1 }) "–" (shown_to) " of " (p.total) (more) }
        form method="post" action="/messages/release" {
            table #messages {
                thead { tr { th {} th { "Received" } th { "Disposition" } th { "Score" } th { "From" } th { "To" } th { "Subject" } th { "Domain" } th { "Released" } } }
                tbody {
                    @for m in &p.messages {
                        tr {
                            td { input type="checkbox" name="id" value=(m.id); }
                            td { (m.received) }
                            td class=(format!("d-{}", m.disposition)) { (m.disposition) }
                            td { (format!("{:.1}", m.score)) }
                            td { (m.from) }
                            td { (m.to) }
                            td { a.open href=(format!("/messages/{}", m.id)) { @if m.subject.is_empty() { "(no subject)" } @else { (m.subject) } } }
                            td { (m.domain) }
                            td { (m.released.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
            p { button #release-selected type="submit" { "Release selected" } }
        }
        p {
            @if offset > 0 { a #previous href=(page_link(f, (offset - limit).max(0))) { "← newer" } " " }
            @if shown_to < p.total || (!p.total_exact && !p.messages.is_empty()) {
                a #next href=(page_link(f, shown_to)) { "older →" }
            }
        }
    }
}

fn page_link(f: &Filter, offset: i64) -> String {
    let mut g = f.clone();
    g.offset = Some(offset);
    format!("/messages?{}", serde_urlencoded(&g))
}

/// The filter as a query string (only the fields that are set).
fn serde_urlencoded(f: &Filter) -> String {
    let pairs = [
        ("domain", f.domain.clone()),
        ("disposition", f.disposition.clone()),
        ("from", f.from.clone()),
        ("to", f.to.clone()),
        ("subject", f.subject.clone()),
        ("since", f.since.clone()),
        ("until", f.until.clone()),
        ("limit", f.limit.map(|n| n.to_string())),
        ("offset", f.offset.map(|n| n.to_string())),
    ];
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", encode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn detail(
    State(console): State<Arc<Console>>,
    PageUser(who): PageUser,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Response {
    let d = match console.store.detail(&who, id).await {
        Ok(Some(d)) => d,
        Ok(None) => return not_found(&who.name),
        Err(e) => return public_error(&ActionError::Store(e)).into_response(),
    };
    let raw = if d.journal {
        None
    } else {
        match console.store.raw(&who, id).await {
            Ok(Some(r)) => r,
            Ok(None) => return not_found(&who.name),
            Err(e) => return public_error(&ActionError::Store(e)).into_response(),
        }
    };
    let preview = match raw {
        Some(raw) => Some(preview_off_thread(raw).await),
        None => None,
    };
    let body = html! {
        @if let Some(done) = done.text() { p.notice #done { (done) } }
        (detail_markup(&d, preview))
    };
    page(&d.summary.subject, Some(&who.name), body)
}

fn detail_markup(d: &Detail, preview: Option<Preview>) -> Markup {
    let s = &d.summary;
    let v = &d.verdict;
    let findings = v["findings"].as_array().cloned().unwrap_or_default();
    let rules: Vec<String> = v["rules"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    html! {
        p { a href="/messages" { "← back to the list" } }
        h1 #subject { @if s.subject.is_empty() { "(no subject)" } @else { (s.subject) } }
        table.meta {
            tr { th { "Disposition" } td class=(format!("d-{}", s.disposition)) #disposition { (s.disposition) " (score " (format!("{:.2}", s.score)) ")" } }
            tr { th { "From" } td { (s.from) } }
            tr { th { "Envelope" } td { (d.mail_from) " → " (s.to) } }
            tr { th { "Domain" } td { (s.domain) " (" (d.region) ")" } }
            tr { th { "Received" } td { (s.received) } }
            tr { th { "Kept until" } td { (d.expires) } }
            tr { th { "Rules" } td { (rules.join(", ")) } }
            @if let Some(a) = v["authentication"].as_str() { tr { th { "Authentication" } td { (a) } } }
            tr { th { "Released" } td #released { @match (&s.released, &d.released_by) {
                (Some(at), Some(by)) => { (at) " by " (by) },
                (Some(at), None) => { (at) },
                _ => { "no" },
            } } }
        }
        @if !d.journal {
            div.actions {
                a #download href=(format!("/messages/{}/raw", s.id)) { "Download .eml" }
                " "
                @if s.released.is_none() {
                    form style="display:inline" method="post" action=(format!("/messages/{}/release", s.id)) {
                        button #release type="submit" { "Release to the recipients" }
                    }
                }
                " "
                form style="display:inline" method="post" action=(format!("/messages/{}/delete", s.id)) {
                    button #delete type="submit" { "Delete" }
                }
            }
        } @else {
            p { "Journal-mode domain: mailsift keeps the verdict only, never the message." }
        }
        h2 { "Findings" }
        p { small { "Evidence from rules " (v["explained_by"].as_str().unwrap_or("?")) "; the disposition and score are the worker's." } }
        table #findings {
            thead { tr { th { "Rule" } th { "Adds to" } th { "Weight" } th { "Evidence" } } }
            tbody {
                @for f in &findings {
                    tr {
                        td { (f["rule"].as_str().unwrap_or("")) }
                        td { (f["disposition"].as_str().unwrap_or("")) }
                        td { (f["weight"].as_f64().map(|w| format!("{w:.2}")).unwrap_or_default()) }
                        td { (f["evidence"].as_str().unwrap_or("")) }
                    }
                }
            }
        }
        @if let Some(p) = preview {
            @if let Some(note) = &p.note { p.error { (note) } }
            h2 { "Text" }
            pre #preview { (p.text) }
            @if !p.links.is_empty() {
                h2 { "Links (shown as text, not followed)" }
                ul #links { @for l in &p.links { li { code { (l) } } } }
            }
            @if !p.attachments.is_empty() {
                h2 { "Attachments" }
                ul { @for (name, ct, size) in &p.attachments { li { (name) " (" (ct) ", " (size) " bytes)" } } }
            }
            h2 { "Headers" }
            table #headers { @for (n, val) in &p.headers { tr { th { (n) } td { (val) } } } }
        }
    }
}

fn not_found(who: &str) -> Response {
    let mut r = page(
        "Not found",
        Some(who),
        html! { p.error { "No such message for your domains." } p { a href="/messages" { "Back to the list" } } },
    );
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

async fn raw(
    State(console): State<Arc<Console>>,
    PageUser(who): PageUser,
    Path(id): Path<i64>,
) -> Response {
    match console.download(&who, id).await {
        Ok(Some(bytes)) => eml(id, bytes),
        Ok(None) => not_found(&who.name),
        Err(e) => public_error(&e).into_response(),
    }
}

async fn release(
    State(console): State<Arc<Console>>,
    PageUser(who): PageUser,
    _: SameOrigin,
    Path(id): Path<i64>,
) -> Response {
    match console.release(&who, id).await {
        Ok(Released::NotFound) => not_found(&who.name),
        Ok(outcome) => {
            Redirect::to(&format!("/messages/{id}?done={}", outcome_word(outcome))).into_response()
        }
        Err(e) => public_error(&e).into_response(),
    }
}

fn outcome_word(o: Released) -> &'static str {
    match o {
        Released::Released => "released",
        Released::AlreadyReleased => "already-released",
        Released::NotFound => "not-found",
        Released::NoMessage => "nothing-to-release",
    }
}

async fn release_many(
    State(console): State<Arc<Console>>,
    PageUser(who): PageUser,
    _: SameOrigin,
    RawForm(form): RawForm,
) -> Response {
    // Checkboxes post `id=1&id=2`: read every value.
    let ids: Vec<i64> = String::from_utf8_lossy(&form)
        .split('&')
        .filter_map(|kv| kv.strip_prefix("id="))
        .filter_map(|v| v.parse().ok())
        .take(crate::store::MAX_LIMIT as usize)
        .collect();
    let (mut released, mut skipped, mut failed) = (0, 0, 0);
    for id in &ids {
        match console.release(&who, *id).await {
            Ok(Released::Released) => released += 1,
            Ok(_) => skipped += 1,
            Err(e) => {
                tracing::warn!(error = %e, id, "bulk release: one message failed");
                failed += 1;
            }
        }
    }
    Redirect::to(&format!(
        "/messages?done=bulk&released={released}&skipped={skipped}&failed={failed}"
    ))
    .into_response()
}

async fn delete(
    State(console): State<Arc<Console>>,
    PageUser(who): PageUser,
    _: SameOrigin,
    Path(id): Path<i64>,
) -> Response {
    match console.delete(&who, id).await {
        Ok(true) => Redirect::to("/messages?done=deleted").into_response(),
        Ok(false) => not_found(&who.name),
        Err(e) => public_error(&e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hostile_text_is_escaped_in_the_detail_page() {
        let d = Detail {
            summary: crate::store::Summary {
                id: 1,
                domain: "contoso.com".into(),
                disposition: "MALICIOUS".into(),
                score: 9.0,
                from: "<script>alert(1)</script>".into(),
                to: "bob@contoso.com".into(),
                subject: "<img src=x onerror=alert(2)>".into(),
                received: "2026-12-07T10:00:00Z".into(),
                released: None,
            },
            mailsift_id: "x".into(),
            region: "us".into(),
            mail_from: "a@example.com".into(),
            message_id: None,
            journal: false,
            size: 10,
            expires: "2027-01-06T10:00:00Z".into(),
            released_by: None,
            verdict: json!({"findings": [{"rule": "R", "evidence": "<b>bold</b>"}]}),
        };
        let raw = b"From: a@example.com\r\nContent-Type: text/html\r\n\r\n<script>alert(3)</script><a href=\"javascript:alert(4)\">x</a>\r\n";
        let out = detail_markup(&d, Some(crate::preview::preview(raw))).into_string();
        for bad in ["<script", "<img", "<b>", "href=\"javascript"] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
        assert!(out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn filters_round_trip_through_page_links() {
        let f = Filter {
            subject: Some("a&b c".into()),
            disposition: Some("SPAM".into()),
            ..Filter::default()
        };
        assert_eq!(
            page_link(&f, 50),
            "/messages?disposition=SPAM&subject=a%26b%20c&offset=50"
        );
    }
}
