//! Test harness: real servers on `127.0.0.1:0` with kill/restart handles, a
//! fault-injecting TCP proxy, scripted misbehaving WebSocket servers, a
//! private Redis, and helpers that wait for events with a deadline.

pub mod fedi;
pub mod push;
pub mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chime_client::Client;
use chime_engine::supervisor::{ConnState, Output};
use chime_engine::{Config, InboxState, NewItem, ServerProfile};
use chime_server::{serve, ServerConfig, ServerHandle};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::Message;

pub const USER: &str = "alice";
pub const TOKEN: &str = "alice-token";
pub const PUBLISHER_KEY: &str = "publisher-key";

/// Default deadline for "this should happen soon".
pub const SOON: Duration = Duration::from_secs(10);

/// Wait for `fut` or panic with `what` after `limit`.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

// ---------------------------------------------------------------- chime-server

/// A chime-server in-process, restartable on the same port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub config: ServerConfig,
    handle: Option<ServerHandle>,
}

/// Event number `n` for `user`: kinds in turn, 97 actors, title "Post n".
pub fn numbered_event(user: &str, n: u64) -> chime_server::NewEvent {
    chime_server::NewEvent {
        user: user.into(),
        kind: chime_proto::Kind::ALL[(n % 3) as usize],
        actor: format!("user{}", n % 97),
        target: chime_proto::Target {
            title: format!("Post {n}"),
            url: "https://example.com/p".into(),
        },
    }
}

/// Publish straight into a server's store (no HTTP), as fast as it goes.
pub async fn publish_numbered(
    state: &chime_server::AppState,
    user: &str,
    ns: std::ops::Range<u64>,
) {
    for n in ns {
        state
            .store
            .publish(&state.hub, numbered_event(user, n), 0)
            .await
            .expect("publish");
    }
}

pub fn server_config() -> ServerConfig {
    let mut tokens = HashMap::new();
    tokens.insert(TOKEN.to_owned(), USER.to_owned());
    tokens.insert("bob-token".to_owned(), "bob".to_owned());
    ServerConfig {
        tokens,
        publisher_key: Some(PUBLISHER_KEY.to_owned()),
        ..ServerConfig::default()
    }
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handle = serve(listener, config.clone()).await.expect("serve");
        TestServer {
            addr,
            config,
            handle: Some(handle),
        }
    }

    pub fn state(&self) -> &Arc<chime_server::AppState> {
        &self.handle.as_ref().expect("server running").state
    }

    /// WebSocket connections open now.
    pub fn connections(&self) -> u64 {
        self.state().metrics.connections.load(Ordering::Relaxed)
    }

    /// WebSocket connections accepted since start.
    pub fn connections_total(&self) -> u64 {
        self.state()
            .metrics
            .connections_total
            .load(Ordering::Relaxed)
    }

    /// `user`'s unread totals as the server keeps them.
    pub async fn counts(&self, user: &str) -> chime_proto::Counts {
        self.state().store.counts(user).await.expect("counts")
    }

    pub fn seed_url(&self) -> String {
        format!("ws://{}/pushMsg", self.addr)
    }

    pub fn native_url(&self) -> String {
        format!("ws://{}/v1/stream", self.addr)
    }

    /// Crash: connections drop without a close frame.
    pub fn kill(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }

    /// Graceful: clients get close 1012.
    pub async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }

    /// Start again on the same port (memory is fresh unless Redis is used).
    pub async fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + SOON;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                // The old socket may take a moment to go.
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => panic!("rebind {}: {e}", self.addr),
            }
        };
        self.handle = Some(serve(listener, self.config.clone()).await.expect("serve"));
    }

    /// Publish through the HTTP API, as a site would; returns the seq.
    pub async fn publish(&self, user: &str, kind: &str, actor: &str, title: &str) -> u64 {
        let body = serde_json::json!({
            "user": user, "kind": kind, "actor": actor,
            "target": {"title": title, "url": "https://example.com/p/1"},
        });
        let (status, text) =
            http_post(self.addr, "/v1/events", PUBLISHER_KEY, &body.to_string()).await;
        assert_eq!(status, 200, "publish: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v["seq"].as_u64().expect("seq")
    }

    /// Publish as a site does while its storage comes back: a 503 is
    /// retried (with a deadline) until the event is taken.
    pub async fn publish_retrying(&self, user: &str, kind: &str, actor: &str, title: &str) -> u64 {
        let body = serde_json::json!({
            "user": user, "kind": kind, "actor": actor,
            "target": {"title": title, "url": "https://example.com/p/1"},
        })
        .to_string();
        let deadline = Instant::now() + SOON;
        loop {
            let (status, text) = http_post(self.addr, "/v1/events", PUBLISHER_KEY, &body).await;
            if status == 200 {
                let v: serde_json::Value = serde_json::from_str(&text).expect("json");
                return v["seq"].as_u64().expect("seq");
            }
            assert!(
                status == 503 && Instant::now() < deadline,
                "publish: {status} {text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn read(&self, user: &str, kind: Option<&str>) {
        let body = serde_json::json!({"user": user, "kind": kind});
        let (status, text) =
            http_post(self.addr, "/v1/read", PUBLISHER_KEY, &body.to_string()).await;
        assert_eq!(status, 200, "read: {text}");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A minimal HTTP/1.1 client for the publishing API (no extra dependency).
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub async fn http_post(addr: SocketAddr, path: &str, key: &str, body: &str) -> (u16, String) {
    http_request(addr, "POST", path, key, body).await
}

// ---------------------------------------------------------------- fault proxy

/// What the proxy does to traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Connections stay up but bytes vanish both ways (a half-open link).
    Blackhole,
    /// New connections are reset at once.
    Refuse,
    /// Every chunk is held this long.
    Delay(Duration),
}

/// A TCP proxy on `127.0.0.1:0` in front of an upstream, with faults.
pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    kill: watch::Sender<u64>,
    upstream: Arc<Mutex<SocketAddr>>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let (mode, mode_rx) = watch::channel(Mode::Pass);
        let (kill, kill_rx) = watch::channel(0u64);
        let upstream = Arc::new(Mutex::new(upstream));
        let up = upstream.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mode_rx = mode_rx.clone();
                let kill_rx = kill_rx.clone();
                let target = *up.lock().expect("lock");
                tokio::spawn(proxy_conn(client, target, mode_rx, kill_rx));
            }
        });
        FaultProxy {
            addr,
            mode,
            kill,
            upstream,
            task,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Reset (RST) every connection open now.
    pub fn reset_all(&self) {
        self.kill.send_modify(|n| *n += 1);
    }

    pub fn set_upstream(&self, addr: SocketAddr) {
        *self.upstream.lock().expect("lock") = addr;
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.reset_all();
    }
}

fn rst(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

async fn proxy_conn(
    mut client: TcpStream,
    target: SocketAddr,
    mode: watch::Receiver<Mode>,
    mut kill: watch::Receiver<u64>,
) {
    if *mode.borrow() == Mode::Refuse {
        rst(&client);
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        rst(&client);
        return;
    };
    kill.mark_unchanged();
    {
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.split();
        tokio::select! {
            _ = async { tokio::join!(pump(cr, uw, mode.clone()), pump(ur, cw, mode.clone())) } => {}
            _ = kill.changed() => {}
        }
    }
    rst(&client);
    rst(&upstream);
}

async fn pump(
    mut r: impl tokio::io::AsyncRead + Unpin,
    mut w: impl tokio::io::AsyncWrite + Unpin,
    mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = w.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        let m = *mode.borrow();
        match m {
            Mode::Blackhole => continue,
            Mode::Delay(d) => tokio::time::sleep(d).await,
            Mode::Pass | Mode::Refuse => {}
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------- scripted servers

/// What a scripted server does with each accepted connection.
#[derive(Debug, Clone)]
pub enum Script {
    /// Answer the upgrade with this HTTP status and body.
    Status(u16, &'static str),
    /// Accept TCP, never answer the upgrade.
    Silent,
    /// Upgrade, send these frames in order, then hold the link (answering
    /// `heartCheck` with `reply` if set) or close with `close`.
    Frames {
        frames: Vec<Message>,
        close: Option<u16>,
        reply: Option<String>,
    },
}

/// A WebSocket server that plays one script per connection (the last one
/// repeats), counting connections.
pub struct ScriptedServer {
    pub addr: SocketAddr,
    pub connections: Arc<Mutex<u32>>,
    task: JoinHandle<()>,
}

impl ScriptedServer {
    pub async fn start(scripts: Vec<Script>) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(Mutex::new(0u32));
        let count = connections.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let n = {
                    let mut c = count.lock().expect("lock");
                    *c += 1;
                    *c as usize
                };
                let script = scripts[(n - 1).min(scripts.len() - 1)].clone();
                if let Script::Silent = script {
                    held.push(stream);
                    continue;
                }
                tokio::spawn(play(stream, script));
            }
        });
        ScriptedServer {
            addr,
            connections,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/pushMsg", self.addr)
    }

    pub fn connections(&self) -> u32 {
        *self.connections.lock().expect("lock")
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[allow(clippy::result_large_err)] // the error type is tungstenite's
async fn play(stream: TcpStream, script: Script) {
    let status = match &script {
        Script::Status(code, body) => Some((*code, *body)),
        _ => None,
    };
    let callback = move |_req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        match status {
            Some((code, body)) => {
                let mut r = ErrorResponse::new(Some(body.to_owned()));
                *r.status_mut() = http::StatusCode::from_u16(code).expect("status");
                Err(r)
            }
            None => Ok(resp),
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let Script::Frames {
        frames,
        close,
        reply,
    } = script
    else {
        return;
    };
    for f in frames {
        if ws.send(f).await.is_err() {
            return;
        }
    }
    if let Some(code) = close {
        let _ = ws
            .send(Message::Close(Some(
                tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code: code.into(),
                    reason: "scripted".into(),
                },
            )))
            .await;
        // Drain until the peer answers the close.
        while let Some(Ok(_)) = ws.next().await {}
        return;
    }
    while let Some(Ok(msg)) = ws.next().await {
        if let (Message::Text(t), Some(r)) = (&msg, &reply) {
            if t.as_str() == "heartCheck" && ws.send(Message::text(r.clone())).await.is_err() {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------- redis

/// A private redis-server on a unix socket, removed on drop.
pub struct TestRedis {
    child: Child,
    pub dir: PathBuf,
    pub url: String,
}

impl TestRedis {
    pub async fn start() -> TestRedis {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("chime-redis-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("redis dir");
        let child = Self::spawn(&dir).await;
        let url = format!("unix://{}", dir.join("redis.sock").display());
        TestRedis { child, dir, url }
    }

    /// A connection for the test's own commands (FLUSHALL, SAVE, CLIENT KILL).
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connection")
    }

    /// Run one command, ignoring its answer.
    pub async fn cmd(&self, args: &[&str]) {
        let mut conn = self.conn().await;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let _: redis::Value = cmd.query_async(&mut conn).await.expect("redis command");
    }

    /// Kill redis-server and start it again on the same directory: it loads
    /// the last `SAVE`d snapshot (an older state, as a restore would).
    pub async fn restart_from_snapshot(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.dir.join("redis.sock"));
        self.child = Self::spawn(&self.dir).await;
    }

    async fn spawn(dir: &std::path::Path) -> Child {
        let sock = dir.join("redis.sock");
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
            ])
            .arg(&sock)
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/setup installs it)");
        let url = format!("unix://{}", sock.display());
        let deadline = Instant::now() + SOON;
        loop {
            if let Ok(c) = redis::Client::open(url.as_str()) {
                if c.get_multiplexed_async_connection().await.is_ok() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------- client side

/// A chime-client client plus everything it has said so far.
pub struct Watcher {
    pub client: Option<Client>,
    pub items: Vec<NewItem>,
    pub states: Vec<(Instant, ConnState)>,
    pub notices: Vec<String>,
    pub counts: Option<chime_proto::Counts>,
    /// The last resume state the client reported.
    pub saved: Option<InboxState>,
    /// For each resume state: how many items had arrived before it.
    pub saved_after: Vec<(usize, u64)>,
    /// Notifications the server withdrew (keys, deleted).
    pub withdrawn: Vec<(Vec<String>, bool)>,
}

impl Watcher {
    pub fn start(url: &str, token: Option<&str>, config: Config) -> Watcher {
        let mut profile = ServerProfile::for_dialect(url, config.dialect).expect("url");
        if let Some(t) = token {
            profile.auth = chime_engine::Auth::Bearer(chime_engine::Secret::new(t));
        }
        Watcher::resume(profile, config, InboxState::default())
    }

    /// A client of `profile` resuming from `state` (as after a restart).
    pub fn resume(profile: ServerProfile, config: Config, state: InboxState) -> Watcher {
        let client = Client::spawn(profile, config, state).expect("spawn");
        Watcher {
            client: Some(client),
            items: Vec::new(),
            states: Vec::new(),
            notices: Vec::new(),
            counts: None,
            saved: None,
            saved_after: Vec::new(),
            withdrawn: Vec::new(),
        }
    }

    pub fn handle(&self) -> chime_client::ClientHandle {
        self.client.as_ref().expect("client").handle()
    }

    fn record(&mut self, out: Output) {
        match out {
            Output::State(s) => self.states.push((Instant::now(), s)),
            Output::Items(i) => self.items.extend(i),
            Output::Counts(c) => self.counts = Some(c),
            Output::Notice(n) => self.notices.push(n),
            Output::Saved(s) => {
                self.saved_after.push((self.items.len(), s.last_seq));
                self.saved = Some(*s);
            }
            Output::Withdrawn { keys, deleted } => self.withdrawn.push((keys, deleted)),
        }
    }

    /// Process outputs until `pred` holds (checked after each), or panic.
    pub async fn until(
        &mut self,
        limit: Duration,
        what: &str,
        mut pred: impl FnMut(&Watcher) -> bool,
    ) {
        if pred(self) {
            return;
        }
        let deadline = Instant::now() + limit;
        loop {
            let rx = &mut self.client.as_mut().expect("client").events;
            let out = match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(o)) => o,
                Ok(None) => panic!("client stopped while waiting for {what}"),
                Err(_) => panic!(
                    "timed out after {limit:?} waiting for {what}; states: {:?}; notices: {:?}; items: {}",
                    self.states.iter().map(|(_, s)| s).collect::<Vec<_>>(),
                    self.notices,
                    self.items.len()
                ),
            };
            self.record(out);
            if pred(self) {
                return;
            }
        }
    }

    /// Wait until the current state matches.
    pub async fn until_state(
        &mut self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&ConnState) -> bool,
    ) -> Instant {
        let start = self.states.len();
        self.until(limit, what, |w| {
            w.states[start..].iter().any(|(_, s)| pred(s))
        })
        .await;
        self.states[start..]
            .iter()
            .find(|(_, s)| pred(s))
            .map(|(t, _)| *t)
            .expect("state seen")
    }

    pub async fn until_connected(&mut self, limit: Duration) -> Instant {
        self.until_state(limit, "connected", |s| s.is_connected())
            .await
    }

    pub async fn until_items(&mut self, n: usize, limit: Duration) {
        self.until(limit, &format!("{n} items"), |w| w.items.len() >= n)
            .await;
    }

    pub fn last_state(&self) -> Option<&ConnState> {
        self.states.last().map(|(_, s)| s)
    }

    pub async fn stop(mut self) {
        if let Some(c) = self.client.take() {
            c.shutdown().await;
        }
    }
}

/// A channel of raw frames for servers written inside a test.
pub type FrameTx = mpsc::UnboundedSender<Message>;

/// Event sequence numbers of native items.
pub fn seqs(items: &[NewItem]) -> Vec<u64> {
    items
        .iter()
        .filter_map(|i| match i {
            NewItem::Event(e) => Some(e.seq),
            NewItem::Bump { .. } => None,
        })
        .collect()
}

/// The server's ids of the message items (ntfy, Gotify), in order.
pub fn message_ids(items: &[NewItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            NewItem::Event(e) => e.message.as_ref().map(|m| m.id.clone()),
            NewItem::Bump { .. } => None,
        })
        .collect()
}

/// Native-dialect event frame.
pub fn event_frame(seq: u64, kind: &str) -> Message {
    Message::text(format!(
        r#"{{"type":"event","seq":{seq},"kind":"{kind}","actor":"Ann","target":{{"title":"Post {seq}","url":"https://example.com/{seq}"}},"time":1}}"#
    ))
}
