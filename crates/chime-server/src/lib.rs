//! chime-server: the reference push server.
//!
//! `serve(listener, config)` runs it on a listener the caller bound (tests use
//! port 0); the binary in `main.rs` only parses flags and calls it.
//!
//! * `GET /pushMsg` — seed dialect; `GET /v1/stream` — native dialect.
//! * `POST /v1/events`, `POST /v1/read` — publishing API (publisher key).
//! * `GET /healthz`, `GET /metrics`.

pub mod api;
pub mod demo;
pub mod hub;
pub mod metrics;
pub mod session;
pub mod signed;
pub mod store;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;
use tracing::{debug, info, warn};

pub use store::{NewEvent, Store, StoreError};

/// Everything the server can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// token → user.
    pub tokens: HashMap<String, String>,
    /// Secret for signed user tokens (see [`signed`]): a site mints them,
    /// the server needs no list.
    pub token_secret: Option<String>,
    /// Key publishers present as `Authorization: Bearer <key>`.
    pub publisher_key: Option<String>,
    /// Development only: accept `?user=NAME` without a token and publishing
    /// without a key.
    pub insecure_dev_auth: bool,
    /// Events kept per user for resume.
    pub log_size: usize,
    /// Pushes queued per client before it is dropped as too slow.
    pub client_queue: usize,
    /// Open WebSocket connections per IP; 0 = unlimited.
    pub max_conns_per_ip: usize,
    /// Origins, beside the server's own, whose pages may open a session
    /// with the user's cookie. Explicit credentials (bearer, `?token=`)
    /// and requests without `Origin` are not affected.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for the
    /// per-IP limit). From any other peer the header is ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// HTTP request head (and so the upgrade) must arrive within this.
    pub handshake_timeout: Duration,
    /// Native dialect: the server pings this often.
    pub ping_interval: Duration,
    /// A client silent for this long is closed.
    pub idle_timeout: Duration,
    /// Redis URL; `None` keeps everything in memory.
    pub redis: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tokens: HashMap::new(),
            token_secret: None,
            publisher_key: None,
            insecure_dev_auth: false,
            log_size: 1000,
            client_queue: 256,
            max_conns_per_ip: 256,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            redis: None,
        }
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start storage: {0}")]
    Store(#[from] StoreError),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// Shared by every request.
pub struct AppState {
    pub config: ServerConfig,
    /// Event logs and their names (epochs, see the native `welcome`).
    pub store: Store,
    pub hub: Arc<hub::Hub>,
    pub metrics: Arc<metrics::Metrics>,
    pub shutdown: watch::Receiver<bool>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl AppState {
    /// The client's address: the peer, or, when the peer is a trusted
    /// proxy, the last address in `X-Forwarded-For` that is not one (a
    /// client can prepend anything; only what trusted proxies appended
    /// counts).
    pub fn client_ip(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        client_ip(&self.config.trusted_proxies, peer, headers)
    }

    /// Count a WebSocket connection against its IP; `None` when over the cap.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnGuard> {
        let mut map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_default();
        if self.config.max_conns_per_ip != 0 && *n >= self.config.max_conns_per_ip {
            return None;
        }
        *n += 1;
        self.metrics.connections.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .connections_total
            .fetch_add(1, Ordering::Relaxed);
        Some(ConnGuard {
            state: self.clone(),
            ip,
        })
    }
}

/// See [`AppState::client_ip`].
pub fn client_ip(trusted: &[IpAddr], peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        for hop in value.split(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                // A garbled hop: nothing to its left can be trusted.
                Err(_) => hops.clear(),
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// Releases a connection slot when dropped.
pub struct ConnGuard {
    state: Arc<AppState>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut map = self.state.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
        self.state
            .metrics
            .connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// A running server.
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    /// Graceful shutdown: every client gets close 1012 ("service restart") so
    /// it comes back at once; then the listener closes.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.state.metrics.connections.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = self.task.await;
    }

    /// Stop at once, like a crash: connections are dropped without a close.
    pub fn abort(self) {
        self.task.abort();
        let _ = self.shutdown.send(true);
    }

    /// A way to trigger the graceful shutdown from elsewhere (signals).
    pub fn shutdown_sender(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }

    /// Resolves when the server task has ended.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// The wall clock in milliseconds since 1970, as events carry it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Resolves once shutdown has been requested (or its sender is gone).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Start serving on `listener`.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
) -> Result<ServerHandle, ServeError> {
    let addr = listener.local_addr()?;
    let metrics = Arc::new(metrics::Metrics::default());
    let hub = Arc::new(hub::Hub::new(config.client_queue, metrics.clone()));
    let store = match &config.redis {
        Some(url) => Store::redis(url, config.log_size, hub.clone()).await?,
        None => Store::memory(config.log_size),
    };
    let (shutdown_tx, shutdown) = watch::channel(false);
    let state = Arc::new(AppState {
        config,
        store,
        hub,
        metrics,
        shutdown: shutdown.clone(),
        per_ip: Mutex::new(HashMap::new()),
    });
    let router = api::router(state.clone());
    let task = tokio::spawn(accept_loop(listener, router, state.clone(), shutdown));
    info!(%addr, "chime-server listening");
    Ok(ServerHandle {
        addr,
        state,
        shutdown: shutdown_tx,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = crate::stopped(&mut shutdown) => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let timeout = state.config.handshake_timeout;
        conns.spawn(async move {
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    router.clone().oneshot(req.map(axum::body::Body::new))
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            if let Err(e) = conn.await {
                debug!(%peer, "connection ended: {e}");
            }
        });
        while conns.try_join_next().is_some() {}
    }
    // Upgraded WebSocket sessions watch the same signal and close with 1012.
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}
