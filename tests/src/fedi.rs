//! Test servers for the fediverse protocols Chime speaks, written from
//! each project's public API documentation (neither Mastodon, a Rails and
//! Node program, nor Misskey, a Node program with PostgreSQL and Redis,
//! can be installed from the reachable registries). Each listens on
//! `127.0.0.1:0`, keeps its notifications across `kill`/`restart`, pings
//! its WebSocket clients, and can send raw frames for the fault tests.
//!
//! * Mastodon (`methods/instance.md`, `streaming.md`, `notifications.md`,
//!   `markers.md`, `apps.md`, `oauth.md`): the API on one port and the
//!   streaming server on another, named by `GET /api/v2/instance`
//!   (`/api/v1/streaming` on the API port is a 404, as when the streaming
//!   host is elsewhere); `payload` as a JSON string; `min_id`/`max_id`
//!   paging with `Link`; markers with versions; `unread_count`; apps and
//!   OAuth 2 with PKCE (S256). Ids as Mastodon's digit strings that grow
//!   in length, or as 26-character ULID-like strings.
//! * Misskey (misskey-hub `api/streaming`, `api/token/miauth`, the API
//!   reference of `i/notifications`): `/streaming?i=`, channels by id,
//!   `i/notifications` newest first between `sinceId` and `untilId`, with
//!   `markAsRead` **true by default** (reading the list reads everything,
//!   and every socket hears `readAllNotifications`), `i`,
//!   `notifications/mark-all-as-read`, MiAuth.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use crate::push::{pump, Life, Served};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// S256 of a PKCE verifier, as base64url without padding.
pub fn s256(verifier: &str) -> String {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

// ------------------------------------------------------------ Mastodon

/// How the server spells its notification ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdShape {
    /// Mastodon's: a counter as digits, from 98 (so "99" → "100").
    Digits,
    /// GoToSocial's: 26 characters that sort as text.
    Ulid,
}

struct MastodonState {
    life: Arc<Life>,
    /// Every notification, oldest first.
    notes: Mutex<Vec<Value>>,
    shape: IdShape,
    next: AtomicU64,
    tokens: Mutex<Vec<String>>,
    /// The notifications marker and its version.
    marker: Mutex<(Option<String>, u64)>,
    marker_posts: watch::Sender<u64>,
    /// The streaming port, named by the instance document.
    stream_port: Mutex<u16>,
    /// The v2 instance document answers 404 (servers before 4.0).
    only_v1: std::sync::atomic::AtomicBool,
    /// No `unread_count` (servers before 4.3).
    no_unread_count: std::sync::atomic::AtomicBool,
    lists: watch::Sender<u64>,
    /// OAuth: registered apps (id → secret, redirect), and codes (code →
    /// client id, challenge, redirect, scope).
    apps: Mutex<HashMap<String, (String, String)>>,
    codes: Mutex<HashMap<String, (String, String, String, String)>>,
    /// Scopes asked for at authorize, in order.
    scopes_asked: Mutex<Vec<String>>,
}

/// A Mastodon server (see the module docs).
pub struct MastodonServer {
    state: Arc<MastodonState>,
    api: Served,
    stream: Served,
}

impl MastodonServer {
    pub async fn start(token: &str, shape: IdShape) -> MastodonServer {
        let state = Arc::new(MastodonState {
            life: Arc::new(Life::new()),
            notes: Mutex::new(Vec::new()),
            shape,
            next: 98.into(),
            tokens: Mutex::new(vec![token.to_owned()]),
            marker: Mutex::new((None, 0)),
            marker_posts: watch::channel(0).0,
            stream_port: Mutex::new(0),
            only_v1: false.into(),
            no_unread_count: false.into(),
            lists: watch::channel(0).0,
            apps: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
            scopes_asked: Mutex::new(Vec::new()),
        });
        let stream_router = Router::new()
            .route("/api/v1/streaming", get(mastodon_stream))
            .with_state(state.clone());
        let stream = Served::start(state.life.clone(), stream_router).await;
        *lock(&state.stream_port) = stream.addr().port();
        let api_router = Router::new()
            .route("/api/v2/instance", get(mastodon_instance_v2))
            .route("/api/v1/instance", get(mastodon_instance_v1))
            .route("/api/v1/accounts/verify_credentials", get(mastodon_me))
            .route("/api/v1/notifications", get(mastodon_list))
            .route("/api/v1/notifications/unread_count", get(mastodon_unread))
            .route(
                "/api/v1/markers",
                get(mastodon_marker).post(mastodon_set_marker),
            )
            .route("/api/v1/apps", post(mastodon_apps))
            .route("/oauth/authorize", get(mastodon_authorize))
            .route("/oauth/token", post(mastodon_token))
            .with_state(state.clone());
        let api = Served::start(state.life.clone(), api_router).await;
        MastodonServer { state, api, stream }
    }

    /// What a user pastes: the server's web address.
    pub fn url(&self) -> String {
        format!("http://{}", self.api.addr())
    }

    pub fn stream_addr(&self) -> std::net::SocketAddr {
        self.stream.addr()
    }

    /// A notification of `kind` by `actor` about a post with `text`
    /// (`reply_to_me`: a mention answering the account's post); its id.
    pub fn notify(&self, kind: &str, actor: &str, text: &str, reply_to_me: bool) -> String {
        let n = self.state.next.fetch_add(1, Ordering::Relaxed);
        let id = match self.state.shape {
            IdShape::Digits => n.to_string(),
            IdShape::Ulid => format!("01JE{n:022}"),
        };
        let v = json!({
            "id": id, "type": kind, "created_at": "2026-12-01T10:00:00.000Z", "group_key": format!("ungrouped-{id}"),
            "account": {"id": "77", "acct": format!("{actor}@elsewhere.example"), "display_name": actor,
                        "url": format!("https://elsewhere.example/@{actor}")},
            "status": {"id": format!("s{n}"), "content": format!("<p>{text}</p>"), "spoiler_text": "",
                       "url": format!("https://mastodon.example/@me/{n}"),
                       "in_reply_to_id": if reply_to_me { json!("s1") } else { Value::Null },
                       "in_reply_to_account_id": if reply_to_me { json!("1") } else { Value::Null }},
        });
        lock(&self.state.notes).push(v.clone());
        let frame = json!({"stream": ["user:notification"], "event": "notification", "payload": v.to_string()});
        let _ = self.state.life.live.send(frame);
        id
    }

    /// Another device read up to `id`.
    pub fn read_elsewhere(&self, id: &str) {
        let mut m = lock(&self.state.marker);
        *m = (Some(id.to_owned()), m.1 + 1);
    }

    pub fn marker(&self) -> Option<String> {
        lock(&self.state.marker).0.clone()
    }

    /// Wait until the marker is at `id`.
    pub async fn until_marker(&self, id: &str) {
        let mut rx = self.state.marker_posts.subscribe();
        crate::within(crate::SOON, "the marker to move", async {
            loop {
                if self.marker().as_deref() == Some(id) {
                    return;
                }
                let _ = rx.changed().await;
            }
        })
        .await;
    }

    pub fn marker_posts(&self) -> u64 {
        *self.state.marker_posts.borrow()
    }

    pub fn list_requests(&self) -> u64 {
        *self.state.lists.borrow()
    }

    /// Wait until `n` lists were served (a client's catch-up).
    pub async fn until_lists(&self, n: u64) {
        let mut rx = self.state.lists.subscribe();
        crate::within(crate::SOON, "a notification list", rx.wait_for(|v| *v >= n))
            .await
            .expect("the server lives");
    }

    pub fn only_v1_instance(&self, on: bool) {
        self.state.only_v1.store(on, Ordering::Relaxed);
    }

    pub fn without_unread_count(&self, on: bool) {
        self.state.no_unread_count.store(on, Ordering::Relaxed);
    }

    /// The scopes sign-ins asked for.
    pub fn scopes_asked(&self) -> Vec<String> {
        lock(&self.state.scopes_asked).clone()
    }

    pub fn send_raw(&self, text: &str) {
        self.stream.send_raw(text);
    }

    pub fn ping_every(&self, every: std::time::Duration) {
        self.stream.ping_every(every);
    }

    pub fn connections_total(&self) -> u64 {
        self.stream.connections_total()
    }

    /// Half-dead: open sockets get nothing more, pings included.
    pub fn silent(&self, on: bool) {
        self.state.life.silent.store(on, Ordering::Relaxed);
    }

    /// Crash: both ports close and every socket drops.
    pub fn kill(&mut self) {
        self.api.kill();
        self.stream.kill();
    }

    pub async fn restart(&mut self) {
        self.api.restart().await;
        self.stream.restart().await;
    }
}

fn mastodon_authorized(state: &MastodonState, headers: &HeaderMap) -> bool {
    bearer(headers).is_some_and(|t| lock(&state.tokens).contains(&t))
}

fn mastodon_401() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "The access token is invalid"})),
    )
        .into_response()
}

async fn mastodon_instance_v2(State(state): State<Arc<MastodonState>>) -> Response {
    if state.only_v1.load(Ordering::Relaxed) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "Record not found"})),
        )
            .into_response();
    }
    let port = *lock(&state.stream_port);
    Json(json!({"domain": "mastodon.example", "version": "4.3.0",
                "configuration": {"urls": {"streaming": format!("ws://127.0.0.1:{port}")}}}))
    .into_response()
}

async fn mastodon_instance_v1(State(state): State<Arc<MastodonState>>) -> Response {
    let port = *lock(&state.stream_port);
    Json(json!({"uri": "mastodon.example", "version": "3.5.0",
                "urls": {"streaming_api": format!("ws://127.0.0.1:{port}")}}))
    .into_response()
}

async fn mastodon_me(State(state): State<Arc<MastodonState>>, headers: HeaderMap) -> Response {
    if !mastodon_authorized(&state, &headers) {
        return mastodon_401();
    }
    Json(json!({"id": "1", "username": "me", "acct": "me", "display_name": "Me"})).into_response()
}

async fn mastodon_stream(
    State(state): State<Arc<MastodonState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !mastodon_authorized(&state, &headers) {
        return mastodon_401();
    }
    if q.get("stream").map(String::as_str) != Some("user:notification") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "Unknown stream type"})),
        )
            .into_response();
    }
    let live = state.life.live.subscribe();
    ws.on_upgrade(move |socket| pump(socket, state.life.clone(), Vec::new(), |_| true, live))
}

/// `min_id` (the page right after it), `max_id` (the page right before
/// it), `since_id` (the newest after it), newest first, with `Link`.
async fn mastodon_list(
    State(state): State<Arc<MastodonState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !mastodon_authorized(&state, &headers) {
        return mastodon_401();
    }
    state.lists.send_modify(|n| *n += 1);
    let notes = lock(&state.notes).clone();
    let pos = |id: Option<&String>| {
        id.and_then(|id| {
            notes
                .iter()
                .position(|n| n["id"].as_str() == Some(id.as_str()))
        })
    };
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(40)
        .clamp(1, 80);
    let page: Vec<Value> = if let Some(min) = q.get("min_id") {
        let from = pos(Some(min)).map_or(0, |p| p + 1);
        notes[from..].iter().take(limit).rev().cloned().collect()
    } else {
        let to = pos(q.get("max_id")).unwrap_or(notes.len());
        let from = pos(q.get("since_id")).map_or(0, |p| p + 1);
        notes[from.min(to)..to]
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    };
    let base = format!(
        "http://{}/api/v1/notifications",
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
    );
    let mut resp = Json(Value::Array(page.clone())).into_response();
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        let link = format!(
            "<{base}?limit={limit}&max_id={}>; rel=\"next\", <{base}?limit={limit}&min_id={}>; rel=\"prev\"",
            last["id"].as_str().unwrap_or(""),
            first["id"].as_str().unwrap_or("")
        );
        if let Ok(v) = link.parse() {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

async fn mastodon_unread(State(state): State<Arc<MastodonState>>, headers: HeaderMap) -> Response {
    if !mastodon_authorized(&state, &headers) {
        return mastodon_401();
    }
    if state.no_unread_count.load(Ordering::Relaxed) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "Record not found"})),
        )
            .into_response();
    }
    let notes = lock(&state.notes).clone();
    let marker = lock(&state.marker).0.clone();
    let after = marker
        .and_then(|m| {
            notes
                .iter()
                .position(|n| n["id"].as_str() == Some(m.as_str()))
        })
        .map_or(0, |p| p + 1);
    Json(json!({"count": notes.len() - after.min(notes.len())})).into_response()
}

async fn mastodon_marker(
    State(state): State<Arc<MastodonState>>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if !mastodon_authorized(&state, &headers) {
        return mastodon_401();
    }
    if !q
        .iter()
        .any(|(k, v)| k == "timeline[]" && v == "notifications")
    {
        return Json(json!({})).into_response();
    }
    let (id, version) = lock(&state.marker).clone();
    match id {
        Some(id) => Json(
            json!({"notifications": {"last_read_id": id, "version": version,
                                                  "updated_at": "2026-12-01T10:00:00.000Z"}}),
        )
        .into_response(),
        None => Json(json!({})).into_response(),
    }
}

async fn mastodon_set_marker(
    State(state): State<Arc<MastodonState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !mastodon_authorized(&state, &headers) {
        return mastodon_401();
    }
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let Some(id) = v
        .pointer("/notifications/last_read_id")
        .and_then(Value::as_str)
    else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "no marker"})),
        )
            .into_response();
    };
    let version = {
        let mut m = lock(&state.marker);
        *m = (Some(id.to_owned()), m.1 + 1);
        m.1
    };
    state.marker_posts.send_modify(|n| *n += 1);
    Json(json!({"notifications": {"last_read_id": id, "version": version, "updated_at": "2026-12-01T10:00:00.000Z"}}))
        .into_response()
}

/// Form or JSON fields of a request body.
fn fields(headers: &HeaderMap, body: &str) -> HashMap<String, String> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        serde_json::from_str::<HashMap<String, Value>>(body)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect()
    } else {
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    }
}

async fn mastodon_apps(
    State(state): State<Arc<MastodonState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let f = fields(&headers, &body);
    let (Some(_name), Some(redirect)) = (f.get("client_name"), f.get("redirect_uris")) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "client_name and redirect_uris are required"})),
        )
            .into_response();
    };
    let n = lock(&state.apps).len();
    let (id, secret) = (format!("client-{n}"), format!("secret-{n}"));
    lock(&state.apps).insert(id.clone(), (secret.clone(), redirect.clone()));
    Json(
        json!({"id": n.to_string(), "name": f.get("client_name"), "redirect_uri": redirect,
                "client_id": id, "client_secret": secret}),
    )
    .into_response()
}

/// The user approves at once: back to the redirect with a code.
async fn mastodon_authorize(
    State(state): State<Arc<MastodonState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let client = get("client_id");
    let Some((_, redirect)) = lock(&state.apps).get(&client).cloned() else {
        return (StatusCode::UNAUTHORIZED, "unknown client").into_response();
    };
    if get("redirect_uri") != redirect
        || get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
    {
        return (StatusCode::BAD_REQUEST, "invalid request").into_response();
    }
    lock(&state.scopes_asked).push(get("scope"));
    let code = format!("code-{}", lock(&state.codes).len());
    lock(&state.codes).insert(
        code.clone(),
        (
            client,
            get("code_challenge"),
            redirect.clone(),
            get("scope"),
        ),
    );
    let mut to = match url::Url::parse(&redirect) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad redirect").into_response(),
    };
    to.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = q.get("state") {
        to.query_pairs_mut().append_pair("state", s);
    }
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

async fn mastodon_token(
    State(state): State<Arc<MastodonState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let f = fields(&headers, &body);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let bad = |e: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response();
    if get("grant_type") != "authorization_code" {
        return bad("unsupported_grant_type");
    }
    let Some((client, challenge, redirect, scope)) = lock(&state.codes).remove(&get("code")) else {
        return bad("invalid_grant");
    };
    let secret_ok = lock(&state.apps)
        .get(&client)
        .is_some_and(|(s, _)| *s == get("client_secret"));
    if client != get("client_id") || !secret_ok || redirect != get("redirect_uri") {
        return bad("invalid_client");
    }
    if s256(&get("code_verifier")) != challenge {
        return bad("invalid_grant");
    }
    let token = format!("mastodon-token-{}", lock(&state.tokens).len());
    lock(&state.tokens).push(token.clone());
    Json(json!({"access_token": token, "token_type": "Bearer", "scope": scope, "created_at": 1_800_000_000}))
        .into_response()
}

// ------------------------------------------------------------- Misskey

struct MisskeyState {
    life: Arc<Life>,
    /// Every notification, oldest first.
    notes: Mutex<Vec<Value>>,
    next: AtomicU64,
    token: String,
    /// Everything up to this index (exclusive) is read.
    read_upto: Mutex<usize>,
    /// Lists that marked everything read (the `markAsRead` default).
    marked_by_list: AtomicU64,
    lists: watch::Sender<u64>,
    mark_all_posts: watch::Sender<u64>,
    /// MiAuth sessions approved (session → token, permission).
    miauth: Mutex<HashMap<String, (String, String)>>,
    /// Main-channel events to every connected channel.
    events: broadcast::Sender<Value>,
    /// `main` channels joined, all sockets.
    channels: watch::Sender<u64>,
}

/// A Misskey server (see the module docs).
pub struct MisskeyServer {
    state: Arc<MisskeyState>,
    served: Served,
}

impl MisskeyServer {
    pub async fn start(token: &str) -> MisskeyServer {
        let state = Arc::new(MisskeyState {
            life: Arc::new(Life::new()),
            notes: Mutex::new(Vec::new()),
            next: 1.into(),
            token: token.to_owned(),
            read_upto: Mutex::new(0),
            marked_by_list: 0.into(),
            lists: watch::channel(0).0,
            mark_all_posts: watch::channel(0).0,
            miauth: Mutex::new(HashMap::new()),
            events: broadcast::channel(4096).0,
            channels: watch::channel(0).0,
        });
        let router = Router::new()
            .route("/streaming", get(misskey_stream))
            .route("/api/i/notifications", post(misskey_list))
            .route("/api/i", post(misskey_i))
            .route(
                "/api/notifications/mark-all-as-read",
                post(misskey_mark_all),
            )
            .route("/miauth/{session}", get(misskey_miauth))
            .route("/api/miauth/{session}/check", post(misskey_check))
            .with_state(state.clone());
        let served = Served::start(state.life.clone(), router).await;
        MisskeyServer { state, served }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.served.addr())
    }

    /// A notification (`reaction` with its emoji, `reply`, `follow` …);
    /// its id.
    pub fn notify(&self, kind: &str, reaction: &str, user: &str, text: &str) -> String {
        let n = self.state.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("9x{n:08}");
        let v = json!({
            "id": id, "type": kind, "createdAt": "2026-12-01T10:00:00.000Z", "reaction": reaction,
            "userId": "u7", "user": {"id": "u7", "name": user, "username": user.to_lowercase(), "host": null},
            "note": {"id": format!("n{n}"), "text": text, "cw": null, "userId": "me1"},
        });
        lock(&self.state.notes).push(v.clone());
        let _ = self
            .state
            .events
            .send(json!({"type": "notification", "body": v}));
        id
    }

    /// The user read everything on another device.
    pub fn read_elsewhere(&self) {
        *lock(&self.state.read_upto) = lock(&self.state.notes).len();
        let _ = self
            .state
            .events
            .send(json!({"type": "readAllNotifications"}));
    }

    /// The permissions MiAuth sign-ins asked for.
    pub fn permissions_asked(&self) -> Vec<String> {
        lock(&self.state.miauth)
            .values()
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Unread on the server.
    pub fn unread(&self) -> usize {
        lock(&self.state.notes)
            .len()
            .saturating_sub(*lock(&self.state.read_upto))
    }

    /// Lists that marked everything read (a client that forgot
    /// `markAsRead: false`).
    pub fn marked_by_list(&self) -> u64 {
        self.state.marked_by_list.load(Ordering::Relaxed)
    }

    pub fn list_requests(&self) -> u64 {
        *self.state.lists.borrow()
    }

    /// Wait until `n` lists were served (a client's catch-up).
    pub async fn until_lists(&self, n: u64) {
        let mut rx = self.state.lists.subscribe();
        crate::within(crate::SOON, "a notification list", rx.wait_for(|v| *v >= n))
            .await
            .expect("the server lives");
    }

    /// Wait until `n` `main` channels were joined.
    pub async fn until_channels(&self, n: u64) {
        let mut rx = self.state.channels.subscribe();
        crate::within(crate::SOON, "the main channel", rx.wait_for(|v| *v >= n))
            .await
            .expect("the server lives");
    }

    pub async fn until_marked_all(&self, n: u64) {
        let mut rx = self.state.mark_all_posts.subscribe();
        crate::within(crate::SOON, "mark-all-as-read", rx.wait_for(|v| *v >= n))
            .await
            .expect("the server lives");
    }

    pub fn send_raw(&self, text: &str) {
        self.served.send_raw(text);
    }

    pub fn connections_total(&self) -> u64 {
        self.served.connections_total()
    }

    /// Half-dead: open sockets get nothing more, pings included.
    pub fn silent(&self, on: bool) {
        self.state.life.silent.store(on, Ordering::Relaxed);
    }

    pub fn ping_every(&self, every: std::time::Duration) {
        self.served.ping_every(every);
    }

    pub fn kill(&mut self) {
        self.served.kill();
    }

    pub async fn restart(&mut self) {
        self.served.restart().await;
    }
}

fn misskey_token(state: &MisskeyState, headers: &HeaderMap, body: &Value) -> bool {
    let given =
        bearer(headers).or_else(|| body.get("i").and_then(Value::as_str).map(str::to_owned));
    given.is_some_and(|t| t == state.token || lock(&state.miauth).values().any(|(v, _)| *v == t))
}

fn misskey_401() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": {"message": "Authentication failed. Please ensure your token is correct.",
                              "code": "AUTHENTICATION_FAILED", "id": "b0a7f5f8-dc2f-4171-b91f-de88ad238e14"}})),
    )
        .into_response()
}

async fn misskey_stream(
    State(state): State<Arc<MisskeyState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let token = q.get("i").cloned().or_else(|| bearer(&headers));
    if let Some(t) = token {
        if t != state.token && !lock(&state.miauth).values().any(|(v, _)| *v == t) {
            return misskey_401();
        }
    } else {
        // Misskey lets anyone in for public channels; `main` needs a user.
        return misskey_401();
    }
    ws.on_upgrade(move |socket| misskey_pump(socket, state))
}

/// A socket: channels join by `connect`; main-channel events go to each
/// joined one under its id.
async fn misskey_pump(mut socket: WebSocket, state: Arc<MisskeyState>) {
    let life = state.life.clone();
    life.connections.fetch_add(1, Ordering::Relaxed);
    let mut generation = life.generation.subscribe();
    let mut raw = life.raw.subscribe();
    let mut events = state.events.subscribe();
    let every = *lock(&life.ping_every);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut channels: Vec<String> = Vec::new();
    let silent = || life.silent.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = generation.changed() => return,
            e = events.recv() => match e {
                Ok(_) if silent() => {}
                Ok(ev) => {
                    for id in &channels {
                        let frame = json!({"type": "channel", "body": {"id": id, "type": ev["type"], "body": ev.get("body").cloned().unwrap_or(Value::Null)}});
                        if socket.send(WsMessage::Text(frame.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                }
                Err(_) => return,
            },
            r = raw.recv() => match r {
                Ok(text) => if socket.send(WsMessage::Text(text.into())).await.is_err() { return },
                Err(_) => return,
            },
            _ = ping.tick() => {
                if silent() {
                    continue;
                }
                if socket.send(WsMessage::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    if v["type"] == "connect" && v["body"]["channel"] == "main" {
                        if let Some(id) = v["body"]["id"].as_str() {
                            channels.push(id.to_owned());
                            state.channels.send_modify(|n| *n += 1);
                        }
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Newest first, after `sinceId` and before `untilId`, at most `limit`
/// (Misskey reads its notification timeline in reverse); reading marks
/// everything read unless `markAsRead` is false.
async fn misskey_list(
    State(state): State<Arc<MisskeyState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let b: Value = serde_json::from_str(&body).unwrap_or(json!({}));
    if !misskey_token(&state, &headers, &b) {
        return misskey_401();
    }
    state.lists.send_modify(|n| *n += 1);
    let limit = b["limit"].as_u64().unwrap_or(10).clamp(1, 100) as usize;
    let notes = lock(&state.notes).clone();
    let since = b["sinceId"].as_str();
    let until = b["untilId"].as_str();
    let page: Vec<Value> = notes
        .iter()
        .rev()
        .filter(|n| {
            let id = n["id"].as_str().unwrap_or("");
            since.is_none_or(|s| id > s) && until.is_none_or(|u| id < u)
        })
        .take(limit)
        .cloned()
        .collect();
    if b.get("markAsRead") != Some(&Value::Bool(false)) {
        *lock(&state.read_upto) = notes.len();
        state.marked_by_list.fetch_add(1, Ordering::Relaxed);
        let _ = state.events.send(json!({"type": "readAllNotifications"}));
    }
    Json(Value::Array(page)).into_response()
}

async fn misskey_i(
    State(state): State<Arc<MisskeyState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let b: Value = serde_json::from_str(&body).unwrap_or(json!({}));
    if !misskey_token(&state, &headers, &b) {
        return misskey_401();
    }
    let unread = lock(&state.notes)
        .len()
        .saturating_sub(*lock(&state.read_upto));
    Json(
        json!({"id": "me1", "username": "me", "name": "Me", "unreadNotificationsCount": unread,
                "hasUnreadNotification": unread > 0}),
    )
    .into_response()
}

async fn misskey_mark_all(
    State(state): State<Arc<MisskeyState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let b: Value = serde_json::from_str(&body).unwrap_or(json!({}));
    if !misskey_token(&state, &headers, &b) {
        return misskey_401();
    }
    *lock(&state.read_upto) = lock(&state.notes).len();
    let _ = state.events.send(json!({"type": "readAllNotifications"}));
    state.mark_all_posts.send_modify(|n| *n += 1);
    StatusCode::NO_CONTENT.into_response()
}

/// The user approves at once: back to the callback with the session.
async fn misskey_miauth(
    State(state): State<Arc<MisskeyState>>,
    Path(session): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let permission = q.get("permission").cloned().unwrap_or_default();
    lock(&state.miauth).insert(
        session.clone(),
        (format!("miauth-token-{session}"), permission),
    );
    match q.get("callback").and_then(|c| url::Url::parse(c).ok()) {
        Some(mut to) => {
            to.query_pairs_mut().append_pair("session", &session);
            (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
        }
        None => "You may close this page.".into_response(),
    }
}

async fn misskey_check(
    State(state): State<Arc<MisskeyState>>,
    Path(session): Path<String>,
) -> Response {
    // The token is told once.
    let found = lock(&state.miauth).get(&session).cloned();
    match found {
        Some((token, _)) => {
            Json(json!({"ok": true, "token": token, "user": {"id": "me1", "username": "me"}}))
                .into_response()
        }
        None => Json(json!({"ok": false})).into_response(),
    }
}

// ------------------------------------------------------------- browser

/// The user's browser, approving at once: GET `url` and follow its
/// redirects (up to 5) as a browser does; the last status and body.
pub async fn browse(url: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut url = url::Url::parse(url).expect("a URL");
    for _ in 0..5 {
        let host = url.host_str().expect("host").to_owned();
        let port = url.port_or_known_default().expect("port");
        let mut s = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .expect("connect");
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let req =
            format!("GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read");
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let location = head.lines().find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.trim().to_owned())
        });
        match (status, location) {
            (301 | 302 | 303 | 307 | 308, Some(to)) => url = url.join(&to).expect("a redirect"),
            _ => return (status, body.to_owned()),
        }
    }
    panic!("too many redirects");
}
