//! Test servers for the push services Chime speaks, written from each
//! project's public API documentation (neither ntfy nor Gotify can be
//! installed here: both are Go programs outside the reachable
//! registries). Each listens on `127.0.0.1:0`, keeps its messages across
//! `kill`/`restart` (as ntfy's cache file and Gotify's database do), pings
//! its WebSocket clients at a set interval (both send a Ping every 45 s),
//! and can send raw frames for the fault tests.
//!
//! * ntfy (`docs/subscribe/api.md`, `docs/publish.md`): `GET /<topics>/ws`
//!   with `since=<id>|all|<unix time>`, `open` then cached then live
//!   `message` events; Basic, Bearer `tk_…` and `?auth=` (base64url of the
//!   header); 2.16's `sequence_id` updates and the `message_clear` and
//!   `message_delete` events, kept in the cache in order.
//! * Gotify (`docs/spec.json`): `GET /stream` (client token in
//!   `X-Gotify-Key`, `?token=` or `Authorization: Bearer`), `GET
//!   /message?limit=&since=` (newest first, `since` = ids below),
//!   `GET /application`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// What both servers share: the listener's life and the live sockets.
pub(crate) struct Life {
    /// Bumped by `kill`: every socket of the old life drops (no close
    /// frame), as when the process dies.
    pub(crate) generation: watch::Sender<u64>,
    pub(crate) live: broadcast::Sender<Value>,
    pub(crate) raw: broadcast::Sender<String>,
    pub(crate) ping_every: Mutex<Duration>,
    pub(crate) connections: std::sync::atomic::AtomicU64,
    /// Pings sent, all sockets.
    pub(crate) pings: watch::Sender<u64>,
    /// Half-dead: sockets stay open but nothing more is sent (no pings, no
    /// messages), as behind a NAT that forgot the flow.
    pub(crate) silent: std::sync::atomic::AtomicBool,
}

impl Life {
    pub(crate) fn new() -> Life {
        Life {
            generation: watch::channel(0).0,
            live: broadcast::channel(4096).0,
            raw: broadcast::channel(64).0,
            ping_every: Mutex::new(Duration::from_secs(45)),
            connections: 0.into(),
            pings: watch::channel(0).0,
            silent: false.into(),
        }
    }
}

/// A socket's life: `first` (the replay), then live messages that pass
/// `keep`, raw frames, pings, until the server is killed.
pub(crate) async fn pump(
    mut socket: WebSocket,
    life: Arc<Life>,
    first: Vec<Value>,
    keep: impl Fn(&Value) -> bool + Send,
    mut live: broadcast::Receiver<Value>,
) {
    life.connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut generation = life.generation.subscribe();
    let mut raw = life.raw.subscribe();
    let every = *life.ping_every.lock().unwrap_or_else(|p| p.into_inner());
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    for v in first {
        if socket
            .send(WsMessage::Text(v.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
    }
    let silent = || life.silent.load(std::sync::atomic::Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = generation.changed() => return,
            m = live.recv() => match m {
                Ok(v) if keep(&v) && !silent() => {
                    if socket.send(WsMessage::Text(v.to_string().into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(_) => return,
            },
            r = raw.recv() => match r {
                Ok(text) => {
                    if socket.send(WsMessage::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            },
            _ = ping.tick() => {
                if silent() {
                    continue;
                }
                if socket.send(WsMessage::Ping(Default::default())).await.is_err() {
                    return;
                }
                life.pings.send_modify(|n| *n += 1);
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// A listener with a restart handle on the same port.
pub struct Served {
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
    life: Arc<Life>,
    router: Router,
}

impl Served {
    pub(crate) async fn start(life: Arc<Life>, router: Router) -> Served {
        let (addr, task) = Served::listen(router.clone(), None).await;
        Served {
            addr,
            task: Some(task),
            life,
            router,
        }
    }

    /// Serve `router` on `addr` (else a free port); (address, task).
    async fn listen(router: Router, addr: Option<SocketAddr>) -> (SocketAddr, JoinHandle<()>) {
        let listener = match addr {
            None => TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            Some(a) => {
                let deadline = tokio::time::Instant::now() + crate::SOON;
                loop {
                    match TcpListener::bind(a).await {
                        Ok(l) => break l,
                        Err(_) if tokio::time::Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(5)).await
                        }
                        Err(e) => panic!("rebind {a}: {e}"),
                    }
                }
            }
        };
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (addr, task)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The interval of the WebSocket Pings sockets opened from now get.
    pub fn ping_every(&self, every: Duration) {
        *self
            .life
            .ping_every
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = every;
    }

    /// A raw text frame to every socket.
    pub fn send_raw(&self, text: &str) {
        let _ = self.life.raw.send(text.to_owned());
    }

    /// WebSocket connections accepted since start.
    pub fn connections_total(&self) -> u64 {
        self.life
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Crash: sockets drop, the port closes; what the server keeps (the
    /// cache, the database) survives.
    pub fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.life.generation.send_modify(|g| *g += 1);
    }

    /// Listen again on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        let (_, task) = Served::listen(self.router.clone(), Some(self.addr)).await;
        self.task = Some(task);
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What both servers have in common, reached through either.
macro_rules! served {
    ($server:ty) => {
        impl std::ops::Deref for $server {
            type Target = Served;
            fn deref(&self) -> &Served {
                &self.served
            }
        }
        impl std::ops::DerefMut for $server {
            fn deref_mut(&mut self) -> &mut Served {
                &mut self.served
            }
        }
    };
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"code": 40101, "http": 401, "error": "unauthorized"})),
    )
        .into_response()
}

// ---------------------------------------------------------------- ntfy

struct NtfyState {
    life: Arc<Life>,
    /// Every message published, oldest first (the cache).
    cache: Mutex<Vec<Value>>,
    /// Accepted `Authorization` values; empty: anyone may read.
    accepted: Mutex<Vec<String>>,
    next_id: std::sync::atomic::AtomicU64,
    /// The `since` of each subscription, in order.
    sinces: Mutex<Vec<Option<String>>>,
}

/// An ntfy server (see the module docs).
pub struct NtfyServer {
    state: Arc<NtfyState>,
    served: Served,
}

served!(NtfyServer);

fn ntfy_router(state: Arc<NtfyState>) -> Router {
    Router::new()
        .route("/{topics}/ws", get(ntfy_ws))
        .with_state(state)
}

/// ntfy ids: 12 letters and digits.
fn ntfy_id(n: u64) -> String {
    const ABC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // A bijection of n written in base 62 (11 digits hold any u64): unique.
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66;
    let mut id: String = (0..11)
        .map(|_| {
            let c = ABC[(x % 62) as usize] as char;
            x /= 62;
            c
        })
        .collect();
    id.push('x');
    id
}

async fn ntfy_ws(
    State(state): State<Arc<NtfyState>>,
    Path(topics): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let accepted = state
        .accepted
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if !accepted.is_empty() {
        let from_query = q.get("auth").and_then(|a| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(a.trim_end_matches('='))
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
        });
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or(from_query);
        if !given.is_some_and(|g| accepted.contains(&g)) {
            return unauthorized();
        }
    }
    let topics: Vec<String> = topics.split(',').map(str::to_owned).collect();
    let since = q.get("since").cloned();
    state
        .sinces
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(since.clone());
    let live = state.life.live.subscribe();
    let cache = state
        .cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let wants = {
        let topics = topics.clone();
        move |v: &Value| {
            v.get("topic")
                .and_then(Value::as_str)
                .is_some_and(|t| topics.iter().any(|x| x == t))
        }
    };
    let mut first = vec![
        json!({"id": "open00000000", "time": now_secs(), "event": "open", "topic": topics.join(",")}),
    ];
    let replay: Vec<Value> = match since.as_deref() {
        None | Some("latest") => Vec::new(),
        Some("all") => cache.iter().filter(|v| wants(v)).cloned().collect(),
        Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => {
            let t: u64 = s.parse().unwrap_or(0);
            cache
                .iter()
                .filter(|v| wants(v) && v["time"].as_u64().unwrap_or(0) >= t)
                .cloned()
                .collect()
        }
        Some(id) => match cache.iter().position(|v| v["id"] == id) {
            Some(at) => cache[at + 1..]
                .iter()
                .filter(|v| wants(v))
                .cloned()
                .collect(),
            // An id the cache does not hold: everything it holds.
            None => cache.iter().filter(|v| wants(v)).cloned().collect(),
        },
    };
    first.extend(replay);
    let life = state.life.clone();
    ws.on_upgrade(move |socket| pump(socket, life, first, wants, live))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl NtfyServer {
    pub async fn start() -> NtfyServer {
        let state = Arc::new(NtfyState {
            life: Arc::new(Life::new()),
            cache: Mutex::new(Vec::new()),
            accepted: Mutex::new(Vec::new()),
            next_id: 1.into(),
            sinces: Mutex::new(Vec::new()),
        });
        let served = Served::start(state.life.clone(), ntfy_router(state.clone())).await;
        NtfyServer { state, served }
    }

    /// What a user pastes: `http://127.0.0.1:PORT/<topics>`.
    pub fn url(&self, topics: &str) -> String {
        format!("http://{}/{topics}", self.served.addr)
    }

    /// Only these `Authorization` values may subscribe.
    pub fn require_auth(&self, accepted: &[&str]) {
        *self
            .state
            .accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = accepted.iter().map(|s| s.to_string()).collect();
    }

    /// Publish `fields` (`message`, `title`, `priority`, `tags`, `click`,
    /// `actions`, `attachment`) to `topic`, as `POST /` with JSON would;
    /// returns the message id. Published while the server is down, it is
    /// in the cache when it comes back (as a publish to another instance
    /// sharing the cache would be).
    pub fn publish(&self, topic: &str, fields: Value) -> String {
        self.append(topic, "message", fields)
    }

    /// `PUT /<topic>/<sequence>/clear` (ntfy 2.16+): a `message_clear`
    /// event, cached and live; its id.
    pub fn clear(&self, topic: &str, sequence: &str) -> String {
        self.append(topic, "message_clear", json!({"sequence_id": sequence}))
    }

    /// `DELETE /<topic>/<sequence>` (ntfy 2.16+): a `message_delete`
    /// event, likewise.
    pub fn delete(&self, topic: &str, sequence: &str) -> String {
        self.append(topic, "message_delete", json!({"sequence_id": sequence}))
    }

    fn append(&self, topic: &str, event: &str, fields: Value) -> String {
        let n = self
            .state
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = ntfy_id(n);
        let mut v = json!({"id": id, "time": now_secs(), "expires": now_secs() + 43200,
                           "event": event, "topic": topic});
        if let (Some(obj), Some(extra)) = (v.as_object_mut(), fields.as_object()) {
            for (k, val) in extra {
                obj.insert(k.clone(), val.clone());
            }
        }
        self.state
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(v.clone());
        let _ = self.state.life.live.send(v);
        id
    }

    /// Wait until `n` pings went out (to any socket).
    pub async fn until_pings(&self, n: u64) {
        let mut rx = self.state.life.pings.subscribe();
        crate::within(crate::SOON, "pings", rx.wait_for(|v| *v >= n))
            .await
            .expect("the server lives");
    }

    /// Half-dead link: open sockets get nothing more (see [`Life`]); new
    /// sockets are served normally again after `silent(false)`.
    pub fn silent(&self, on: bool) {
        self.state
            .life
            .silent
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The `since` each subscription asked for, in order.
    pub fn sinces(&self) -> Vec<Option<String>> {
        self.state
            .sinces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

// ---------------------------------------------------------------- Gotify

struct GotifyState {
    life: Arc<Life>,
    /// Every message, oldest first (the database).
    messages: Mutex<Vec<Value>>,
    apps: Mutex<Vec<Value>>,
    /// Client tokens that may read.
    tokens: Mutex<Vec<String>>,
    next_id: std::sync::atomic::AtomicU64,
    /// `GET /message` requests served.
    lists: watch::Sender<u64>,
    /// Ids deleted through `DELETE /message/{id}`.
    deleted: watch::Sender<Vec<u64>>,
}

/// A Gotify server (see the module docs).
pub struct GotifyServer {
    state: Arc<GotifyState>,
    served: Served,
}

served!(GotifyServer);

fn gotify_router(state: Arc<GotifyState>) -> Router {
    Router::new()
        .route("/stream", get(gotify_stream))
        .route("/message", get(gotify_messages))
        .route("/message/{id}", axum::routing::delete(gotify_delete))
        .route("/application", get(gotify_apps))
        .with_state(state)
}

fn gotify_token(state: &GotifyState, headers: &HeaderMap, q: &HashMap<String, String>) -> bool {
    let given = q
        .get("token")
        .cloned()
        .or_else(|| {
            headers
                .get("x-gotify-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned)
        });
    let tokens = state.tokens.lock().unwrap_or_else(|p| p.into_inner());
    given.is_some_and(|g| tokens.contains(&g))
}

fn gotify_unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "Unauthorized", "errorCode": 401,
                    "errorDescription": "you need to provide a valid access token or user credentials to access this api"})),
    )
        .into_response()
}

async fn gotify_stream(
    State(state): State<Arc<GotifyState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !gotify_token(&state, &headers, &q) {
        return gotify_unauthorized();
    }
    let live = state.life.live.subscribe();
    let life = state.life.clone();
    ws.on_upgrade(move |socket| pump(socket, life, Vec::new(), |_| true, live))
}

async fn gotify_messages(
    State(state): State<Arc<GotifyState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !gotify_token(&state, &headers, &q) {
        return gotify_unauthorized();
    }
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100)
        .clamp(1, 200);
    let since: u64 = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let all = state
        .messages
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    // Newest first; `since` keeps ids below it (0: no bound).
    let below: Vec<Value> = all
        .iter()
        .rev()
        .filter(|m| since == 0 || m["id"].as_u64().unwrap_or(0) < since)
        .cloned()
        .collect();
    let page: Vec<Value> = below.iter().take(limit).cloned().collect();
    let lowest = page.last().and_then(|m| m["id"].as_u64()).unwrap_or(0);
    let mut paging = json!({"size": page.len(), "since": lowest, "limit": limit});
    if below.len() > limit {
        paging["next"] = json!(format!("/message?limit={limit}&since={lowest}"));
    }
    let body = Json(json!({"messages": page, "paging": paging})).into_response();
    state.lists.send_modify(|n| *n += 1);
    body
}

async fn gotify_delete(
    State(state): State<Arc<GotifyState>>,
    Path(id): Path<u64>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !gotify_token(&state, &headers, &q) {
        return gotify_unauthorized();
    }
    let mut all = state.messages.lock().unwrap_or_else(|p| p.into_inner());
    let before = all.len();
    all.retain(|m| m["id"].as_u64() != Some(id));
    if all.len() == before {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "Not Found", "errorCode": 404})),
        )
            .into_response();
    }
    drop(all);
    state.deleted.send_modify(|d| d.push(id));
    StatusCode::OK.into_response()
}

async fn gotify_apps(
    State(state): State<Arc<GotifyState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !gotify_token(&state, &headers, &q) {
        return gotify_unauthorized();
    }
    let apps = state.apps.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Json(Value::Array(apps)).into_response()
}

impl GotifyServer {
    /// A server with one client token and the applications `apps`
    /// (ids from 1).
    pub async fn start(client_token: &str, apps: &[&str]) -> GotifyServer {
        let apps = apps
            .iter()
            .enumerate()
            .map(|(i, name)| json!({"id": i + 1, "token": format!("A{i}"), "name": name,
                                    "description": "", "internal": false, "image": "static/defaultapp.png"}))
            .collect();
        let state = Arc::new(GotifyState {
            life: Arc::new(Life::new()),
            messages: Mutex::new(Vec::new()),
            apps: Mutex::new(apps),
            tokens: Mutex::new(vec![client_token.to_owned()]),
            next_id: 1.into(),
            lists: watch::channel(0).0,
            deleted: watch::channel(Vec::new()).0,
        });
        let served = Served::start(state.life.clone(), gotify_router(state.clone())).await;
        GotifyServer { state, served }
    }

    /// What a user pastes: the base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.served.addr)
    }

    /// Where it listens (for a front such as TLS).
    pub fn addr(&self) -> SocketAddr {
        self.served.addr
    }

    /// Publish a message as application `appid` would (`POST /message`);
    /// returns its id. While the server is down it goes to the database
    /// only (no stream is open).
    pub fn publish(
        &self,
        appid: u64,
        title: &str,
        message: &str,
        priority: u64,
        extras: Value,
    ) -> u64 {
        let id = self
            .state
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut v = json!({"id": id, "appid": appid, "message": message, "title": title,
                           "priority": priority, "date": "2026-12-01T10:00:00Z"});
        if !extras.is_null() {
            v["extras"] = extras;
        }
        self.state
            .messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(v.clone());
        let _ = self.state.life.live.send(v);
        id
    }

    pub fn list_requests(&self) -> u64 {
        *self.state.lists.borrow()
    }

    /// Wait until these ids were deleted by a client.
    pub async fn until_deleted(&self, ids: &[u64]) {
        let mut rx = self.state.deleted.subscribe();
        crate::within(
            crate::SOON,
            "messages deleted",
            rx.wait_for(|d| ids.iter().all(|i| d.contains(i))),
        )
        .await
        .expect("the server lives");
    }

    /// Wait until `n` message lists were served (a client's read-back).
    pub async fn until_lists(&self, n: u64) {
        let mut rx = self.state.lists.subscribe();
        crate::within(
            crate::SOON,
            "a message list to be read",
            rx.wait_for(|v| *v >= n),
        )
        .await
        .expect("the server lives");
    }
}
