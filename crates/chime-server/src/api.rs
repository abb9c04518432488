//! Routes, authentication, and the publishing API.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chime_proto::protocol::{Kind, MAX_MESSAGE_BYTES};
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use crate::session::{self, Dialect};
use crate::store::NewEvent;
use crate::AppState;

/// Longest actor name, title and URL accepted from a publisher.
const MAX_ACTOR: usize = 200;
const MAX_TITLE: usize = 500;
const MAX_URL: usize = 2000;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/pushMsg", get(seed_upgrade))
        .route("/v1/stream", get(native_upgrade))
        .route("/v1/events", post(publish))
        .route("/v1/read", post(read))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/demo/posts/{id}", get(demo_post))
        .with_state(state)
}

#[derive(Deserialize, Default)]
pub struct StreamQuery {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// How a client proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// A credential the client chose to send (bearer, query).
    Explicit,
    /// A cookie: a browser sends it to any page's request, so the page's
    /// `Origin` decides whether it may be used.
    Cookie,
}

/// Who is connecting: bearer token, `sessionid`/`chime_token` cookie, `?token=`,
/// or (development only) `?user=`; and, for a signed token, when it
/// expires (unix seconds).
fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    q: &StreamQuery,
) -> Option<(String, Via, Option<u64>)> {
    let lookup = |t: &str| -> Option<(String, Option<u64>)> {
        if let Some(user) = state.config.tokens.get(t.trim()) {
            return Some((user.clone(), None));
        }
        let secret = state.config.token_secret.as_deref()?;
        crate::signed::verify_until(secret.as_bytes(), t, unix_now())
            .map(|(user, expires)| (user, Some(expires)))
    };
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return lookup(t).map(|(u, e)| (u, Via::Explicit, e));
        }
    }
    for cookie in headers.get_all(header::COOKIE) {
        let Ok(cookie) = cookie.to_str() else {
            continue;
        };
        for pair in cookie.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if matches!(k, "sessionid" | "chime_token") {
                    if let Some((user, expires)) = lookup(v) {
                        return Some((user, Via::Cookie, expires));
                    }
                }
            }
        }
    }
    if let Some(t) = &q.token {
        return lookup(t).map(|(u, e)| (u, Via::Explicit, e));
    }
    if state.config.insecure_dev_auth {
        return q
            .user
            .clone()
            .filter(|u| valid_user(u))
            .map(|u| (u, Via::Explicit, None));
    }
    None
}

/// The wall clock in unix seconds.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether a cookie-authenticated upgrade may go on: no `Origin` (not a
/// browser page: Chime, scripts), the server's own origin, or one the
/// operator allowed. Anything else is cross-site WebSocket hijacking: a
/// page elsewhere riding on the user's cookie.
fn cookie_origin_ok(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if state.config.allowed_origins.iter().any(|a| a == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

fn valid_user(u: &str) -> bool {
    !u.is_empty() && u.len() <= 128 && !u.chars().any(char::is_control)
}

async fn seed_upgrade(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(state, peer, headers, q, ws, Dialect::Seed)
}

async fn native_upgrade(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(state, peer, headers, q, ws, Dialect::Native)
}

fn upgrade(
    state: Arc<AppState>,
    peer: SocketAddr,
    headers: HeaderMap,
    q: StreamQuery,
    ws: WebSocketUpgrade,
    dialect: Dialect,
) -> Response {
    if *state.shutdown.borrow() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    // Origins matter for cookies only (a browser attaches them to any
    // page's request): explicit credentials and clients that send no
    // Origin (Chime, scripts) are never refused for it.
    let Some((user, via, expires)) = authenticate(&state, &headers, &q) else {
        state.metrics.rejected_auth.fetch_add(1, Ordering::Relaxed);
        info!(%peer, "refused an upgrade without valid credentials");
        return error(StatusCode::UNAUTHORIZED, "invalid or missing token");
    };
    if via == Via::Cookie && !cookie_origin_ok(&state, &headers) {
        state.metrics.rejected_auth.fetch_add(1, Ordering::Relaxed);
        warn!(%peer, "refused a cookie-authenticated upgrade from a foreign origin");
        return error(
            StatusCode::FORBIDDEN,
            "origin not allowed for cookie sign-in",
        );
    }
    let client = state.client_ip(peer.ip(), &headers);
    let Some(guard) = state.admit(client) else {
        warn!(%peer, "too many connections from this address");
        return error(StatusCode::TOO_MANY_REQUESTS, "too many connections");
    };
    ws.read_buffer_size(chime_proto::protocol::READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            // A signed token's session ends when the token does.
            let lifetime = expires.map(|e| Duration::from_secs(e.saturating_sub(unix_now())));
            session::run(socket, state, user, dialect, guard, lifetime)
        })
}

fn publisher_ok(state: &AppState, headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (&state.config.publisher_key, given) {
        (Some(key), Some(given)) => constant_time_eq(key.as_bytes(), given.as_bytes()),
        (None, _) => state.config.insecure_dev_auth,
        _ => false,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A publisher's JSON request: the key checked, the body parsed.
fn publisher_request<T: serde::de::DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, (StatusCode, String)> {
    if !publisher_ok(state, headers) {
        return Err((StatusCode::UNAUTHORIZED, "invalid publisher key".into()));
    }
    serde_json::from_slice(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("bad request: {e}")))
}

/// A storage answer as JSON, or 503 with a log line.
fn stored<T>(
    result: Result<T, crate::StoreError>,
    what: &str,
    ok: impl FnOnce(T) -> serde_json::Value,
) -> Response {
    match result {
        Ok(v) => Json(ok(v)).into_response(),
        Err(e) => {
            warn!("{what} failed: {e}");
            error(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
        }
    }
}

async fn publish(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let new: NewEvent = match publisher_request(&state, &headers, &body) {
        Ok(n) => n,
        Err((status, message)) => return error(status, &message),
    };
    if !valid_user(&new.user) {
        return error(StatusCode::BAD_REQUEST, "bad request: user");
    }
    if new.kind == Kind::Message {
        // The counters protocol's kinds; messages come from push services.
        return error(
            StatusCode::BAD_REQUEST,
            "bad request: kind is like, dislike or reply",
        );
    }
    if new.actor.len() > MAX_ACTOR
        || new.target.title.len() > MAX_TITLE
        || new.target.url.len() > MAX_URL
    {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "bad request: a field is too long",
        );
    }
    let result = state.store.publish(&state.hub, new, crate::now_ms()).await;
    if result.is_ok() {
        state.metrics.published.fetch_add(1, Ordering::Relaxed);
    }
    stored(result, "publish", |seq| json!({ "seq": seq }))
}

#[derive(Deserialize)]
struct ReadBody {
    user: String,
    #[serde(default)]
    kind: Option<Kind>,
}

async fn read(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: ReadBody = match publisher_request(&state, &headers, &body) {
        Ok(b) => b,
        Err((status, message)) => return error(status, &message),
    };
    let result = state.store.read(&state.hub, &body.user, body.kind).await;
    stored(result, "read", |counts| json!({ "counts": counts }))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// The page a demo event links to, so clicking a demo toast opens something.
async fn demo_post(axum::extract::Path(id): axum::extract::Path<u32>) -> Html<String> {
    let title = crate::demo::post_title(id);
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>Chime demo post</title>\
         <h1>{}</h1><p>This page stands in for post {id} on the demo site.</p>",
        html_escape(title)
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
