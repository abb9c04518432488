//! The tokio driver: owns the socket and the timers, feeds the [`Supervisor`]
//! with `now` from tokio's clock (so paused-time tests drive it), and
//! publishes state on a `watch` and everything else on an unbounded `mpsc`:
//! observers never block the link.

pub mod signin;

use std::path::Path;
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn};

use chime_engine::dialect::dialect_of;
use chime_engine::inbox::InboxState;
use chime_engine::policy::Jitter;
use chime_engine::profile::{ProfileError, ServerProfile};
use chime_engine::supervisor::{
    classify_dial, clean, Action, Class, Config, ConnState, DialError, Fetched, Frame, LinkEnd,
    LinkId, Output, Reply, Supervisor,
};
use chime_proto::protocol::{Dialect, ServerMsg, MAX_MESSAGE_BYTES, READ_BUFFER};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Frames queued for the writer task; past this the link counts as stuck.
const WRITE_QUEUE: usize = 64;
/// Bytes tungstenite may buffer for writing before it refuses.
const MAX_WRITE_BUFFER: usize = 256 * 1024;
/// A single write (or the closing handshake) may take this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Wall clock ahead of the monotonic clock by more than this: we slept.
const SLEEP_JUMP: Duration = Duration::from_secs(15);

/// Errors found before the client starts.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("cannot use CA file {path}: {problem}")]
    CaFile { path: String, problem: String },
    #[error("no trusted root certificates found")]
    NoRoots,
}

pub use chime_engine::events::Command;

/// A cheap, cloneable way to steer the client.
#[derive(Debug, Clone)]
pub struct ClientHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl ClientHandle {
    /// Returns false once the client has stopped.
    pub fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }
}

/// A running client.
pub struct Client {
    pub state: watch::Receiver<ConnState>,
    pub events: mpsc::UnboundedReceiver<Output>,
    handle: ClientHandle,
    task: JoinHandle<()>,
}

impl Client {
    /// Validate the profile, prepare TLS, and start the driver task.
    pub fn spawn(
        profile: ServerProfile,
        config: Config,
        inbox: InboxState,
    ) -> Result<Client, ClientError> {
        profile.validate()?;
        profile.register_secrets();
        let tls = if profile.is_tls() {
            Some(tls_config(profile.extra_ca.as_deref())?)
        } else {
            None
        };
        let (state_tx, state) = watch::channel(ConnState::Idle);
        let (events_tx, events) = mpsc::unbounded_channel();
        let (tx, cmd_rx) = mpsc::unbounded_channel();
        let mut config = config;
        if config.origin.is_none() {
            config.origin = profile.web_origin();
        }
        let sup = Supervisor::new(config, inbox, Jitter::from_entropy());
        let (fetched_tx, fetched_rx) = mpsc::unbounded_channel();
        let driver = Driver {
            fetched_tx,
            fetched_rx,
            http: None,
            sup,
            profile: Arc::new(profile),
            tls,
            state_tx,
            events_tx,
            cmd_rx,
            link: None,
            dialing: None,
        };
        let task = tokio::spawn(driver.run());
        Ok(Client {
            state,
            events,
            handle: ClientHandle { tx },
            task,
        })
    }

    pub fn handle(&self) -> ClientHandle {
        self.handle.clone()
    }

    /// Close the link cleanly and wait for the driver to finish.
    pub async fn shutdown(self) {
        self.handle.send(Command::Shutdown);
        let _ = self.task.await;
    }
}

struct OpenLink {
    id: LinkId,
    stream: SplitStream<Ws>,
    writes: mpsc::Sender<Message>,
    writer: JoinHandle<()>,
}

type DialFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Ws, DialError>> + Send>>;

struct Driver {
    sup: Supervisor,
    profile: Arc<ServerProfile>,
    tls: Option<Arc<rustls::ClientConfig>>,
    state_tx: watch::Sender<ConnState>,
    events_tx: mpsc::UnboundedSender<Output>,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    link: Option<OpenLink>,
    dialing: Option<(LinkId, DialFuture)>,
    /// Fetches a session asked for (Gotify's message list) come back here.
    fetched_tx: mpsc::UnboundedSender<(LinkId, String, Fetched)>,
    fetched_rx: mpsc::UnboundedReceiver<(LinkId, String, Fetched)>,
    http: Option<reqwest::Client>,
}

/// A fetch's answer is read up to this size.
pub(crate) const MAX_FETCH_BYTES: usize = 8 * 1024 * 1024;
/// A fetch may take this long in all.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Driver {
    async fn run(mut self) {
        let mut clocks = (Instant::now(), SystemTime::now());
        self.sup.handle_start(now());
        let mut stopping = false;
        loop {
            self.drain();
            if stopping {
                break;
            }
            let deadline = self.sup.poll_timeout().map(Instant::from_std);
            tokio::select! {
                cmd = self.cmd_rx.recv() => {
                    let cmd = cmd.unwrap_or(Command::Shutdown);
                    stopping = cmd == Command::Shutdown;
                    self.command(cmd);
                }
                res = dial_next(&mut self.dialing) => {
                    if let Some((id, _)) = self.dialing.take() {
                        match res {
                            Ok(ws) => {
                                self.attach(id, ws);
                                self.sup.handle_open(now(), id);
                            }
                            Err(e) => {
                                debug!(error = ?e, "dial failed");
                                self.sup.handle_dial_failed(now(), id, e);
                            }
                        }
                    }
                }
                msg = read_next(&mut self.link) => self.inbound(msg),
                Some((id, path, result)) = self.fetched_rx.recv() => {
                    self.sup.handle_fetched(now(), id, &path, result);
                }
                () = sleep_until(deadline) => self.sup.handle_timeout(now()),
            }
            // Suspend stops the monotonic clock but not the wall clock.
            let (mono, wall) = (Instant::now(), SystemTime::now());
            let mono_gone = mono.duration_since(clocks.0);
            let wall_gone = wall.duration_since(clocks.1).unwrap_or_default();
            if wall_gone > mono_gone + SLEEP_JUMP {
                info!(
                    "the clock jumped {:?}: assuming a resume from sleep",
                    wall_gone - mono_gone
                );
                self.sup.handle_reconnect_now(now());
            }
            clocks = (mono, wall);
        }
        // Let the writer deliver the close frame.
        if let Some(link) = self.link.take() {
            drop(link.writes);
            let _ = tokio::time::timeout(WRITE_TIMEOUT, link.writer).await;
        }
    }

    fn command(&mut self, cmd: Command) {
        debug!(?cmd, "command");
        let t = now();
        match cmd {
            Command::ReconnectNow | Command::Resumed | Command::Unpause => {
                self.sup.handle_reconnect_now(t)
            }
            Command::NetworkUp => self.sup.handle_network_up(t),
            Command::NetworkDown => self.sup.handle_network_down(t),
            Command::Pause => self.sup.handle_pause(),
            Command::MarkRead(kind) => self.sup.handle_mark_read(kind),
            Command::ReadOne(kind) => self.sup.handle_read_one(kind),
            Command::Forget(ids) => self.sup.handle_forget(ids),
            Command::Shutdown => self.sup.handle_shutdown(),
        }
    }

    fn drain(&mut self) {
        while let Some(action) = self.sup.poll_action() {
            match action {
                Action::Dial(id) => {
                    debug!(url = %self.profile.display_url(), ?id, "dialing");
                    let fut = dial(
                        self.profile.clone(),
                        self.tls.clone(),
                        self.sup.inbox().state().clone(),
                    );
                    self.dialing = Some((id, Box::pin(fut)));
                }
                Action::AbortDial(id) => {
                    if self.dialing.as_ref().is_some_and(|(d, _)| *d == id) {
                        self.dialing = None;
                    }
                }
                Action::Send(id, text) => {
                    let Some(link) = self.link.as_ref().filter(|l| l.id == id) else {
                        continue;
                    };
                    if link.writes.try_send(Message::text(text)).is_err() {
                        warn!("write queue full or writer gone: dropping the link");
                        self.link = None;
                        self.sup.handle_link_end(
                            now(),
                            id,
                            LinkEnd::Dropped("the connection is not accepting data".into()),
                        );
                    }
                }
                Action::Ping(id) => {
                    if let Some(link) = self.link.as_ref().filter(|l| l.id == id) {
                        let _ = link.writes.try_send(Message::Ping(Default::default()));
                    }
                }
                Action::Fetch(id, path) => self.fetch(id, reqwest::Method::GET, path, None),
                Action::Delete(id, path) => self.fetch(id, reqwest::Method::DELETE, path, None),
                Action::Post(id, path, body) => {
                    self.fetch(id, reqwest::Method::POST, path, Some(body))
                }
                Action::Close(id, code, reason) => {
                    if let Some(link) = self.link.take_if(|l| l.id == id) {
                        let frame = CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        };
                        // The writer finishes the close on its own, or gives
                        // up after WRITE_TIMEOUT on a dead link.
                        let _ = link.writes.try_send(Message::Close(Some(frame)));
                    }
                }
            }
        }
        while let Some(out) = self.sup.poll_event() {
            match &out {
                Output::State(s) => {
                    info!(state = ?s, "connection state");
                    self.state_tx.send_replace(s.clone());
                }
                Output::Notice(n) => warn!("{n}"),
                Output::Items(_)
                | Output::Counts(_)
                | Output::Saved(_)
                | Output::Withdrawn { .. } => {}
            }
            let _ = self.events_tx.send(out);
        }
    }

    /// GET `path` on the server's HTTP side with the link's credentials;
    /// the answer comes back through `fetched_rx`.
    fn fetch(&mut self, id: LinkId, method: reqwest::Method, path: String, body: Option<String>) {
        let tx = self.fetched_tx.clone();
        let request = match self.http_client().and_then(|client| {
            let ep = chime_engine::dialect::endpoint(&self.profile, self.sup.inbox().state())?;
            let url = chime_engine::dialect::fetch_url(&self.profile, &path)?;
            let mut req = client.request(method.clone(), url.as_str());
            for (name, value) in ep.headers {
                req = req.header(name, value);
            }
            if let Some(body) = body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body);
            }
            Ok(req)
        }) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send((id, path, Err(e)));
                return;
            }
        };
        debug!(%method, path = %chime_proto::redact::redact(&path), "fetching");
        tokio::spawn(async move {
            let result = tokio::time::timeout(FETCH_TIMEOUT, read_capped(request))
                .await
                .unwrap_or_else(|_| Err("no answer in time".into()));
            let _ = tx.send((id, path, result));
        });
    }

    fn http_client(&mut self) -> Result<reqwest::Client, String> {
        if let Some(c) = &self.http {
            return Ok(c.clone());
        }
        let client = http_client(self.tls.as_ref())?;
        self.http = Some(client.clone());
        Ok(client)
    }

    fn attach(&mut self, id: LinkId, ws: Ws) {
        let (sink, stream) = ws.split();
        let (writes, rx) = mpsc::channel(WRITE_QUEUE);
        let writer = tokio::spawn(write_loop(sink, rx));
        self.link = Some(OpenLink {
            id,
            stream,
            writes,
            writer,
        });
    }

    fn inbound(&mut self, msg: Option<Result<Message, WsError>>) {
        let Some(id) = self.link.as_ref().map(|l| l.id) else {
            return;
        };
        let t = now();
        let end = match msg {
            Some(Ok(Message::Text(text))) => {
                return self
                    .sup
                    .handle_frame(t, id, Frame::Text(text.as_str().to_owned()));
            }
            Some(Ok(Message::Binary(b))) => {
                return self.sup.handle_frame(t, id, Frame::Binary(b.len()));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                return self.sup.handle_frame(t, id, Frame::Control);
            }
            Some(Ok(Message::Close(frame))) => match frame {
                Some(f) => LinkEnd::Close(u16::from(f.code), f.reason.as_str().to_owned()),
                None => LinkEnd::Close(1005, String::new()),
            },
            Some(Err(e)) => link_error(e),
            None => LinkEnd::Dropped("the server closed the TCP connection".into()),
        };
        if let Some(link) = self.link.take() {
            link.writer.abort();
        }
        self.sup.handle_link_end(t, id, end);
    }
}

async fn dial_next(dialing: &mut Option<(LinkId, DialFuture)>) -> Result<Ws, DialError> {
    match dialing {
        Some((_, fut)) => fut.await,
        None => std::future::pending().await,
    }
}

async fn read_next(link: &mut Option<OpenLink>) -> Option<Result<Message, WsError>> {
    match link {
        Some(l) => l.stream.next().await,
        None => std::future::pending().await,
    }
}

/// Sleep until `deadline`, or forever without one (a `select!` arm for an
/// optional timer).
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn write_loop(mut sink: SplitSink<Ws, Message>, mut rx: mpsc::Receiver<Message>) {
    while let Some(msg) = rx.recv().await {
        let closing = matches!(msg, Message::Close(_));
        match tokio::time::timeout(WRITE_TIMEOUT, sink.send(msg)).await {
            Ok(Ok(())) if !closing => {}
            _ => return,
        }
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
}

/// The WebSocket limits both sides enforce.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
        .max_write_buffer_size(MAX_WRITE_BUFFER)
}

/// The HTTP client of a link's server: its TLS, no redirects.
pub(crate) fn http_client(
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<reqwest::Client, String> {
    let tls = match tls {
        Some(t) => (**t).clone(),
        None => plain_tls_config(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        // A redirect could carry the credential header elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("Chime/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| chime_proto::redact::redact(&e.to_string()).into_owned())
}

/// Where the stream of `profile` is, for protocols whose servers may put
/// it on another host ([`Protocol::discover`]): the profile to dial.
/// Asked without credentials; when no answer names it, the address is
/// dialled as it is.
///
/// [`Protocol::discover`]: chime_engine::dialect::Protocol::discover
async fn stream_of(
    profile: &ServerProfile,
    http: Option<&reqwest::Client>,
) -> Option<ServerProfile> {
    let protocol = chime_engine::dialect::protocol(profile.dialect);
    let http = http?;
    for path in protocol.discover {
        let Ok(url) = chime_engine::dialect::fetch_url(profile, path) else {
            continue;
        };
        let answer = tokio::time::timeout(FETCH_TIMEOUT, read_capped(http.get(url.as_str()))).await;
        let Ok(Ok(reply)) = answer else {
            continue;
        };
        if !reply.ok() {
            continue;
        }
        if let Some(found) = (protocol.stream_at)(&reply.body) {
            match chime_engine::dialect::stream_profile(profile, &found) {
                Some(p) => return Some(p),
                None => warn!(
                    "the server names a stream address Chime will not use ({})",
                    chime_proto::text::sanitize(&chime_proto::redact::redact(&found), 80)
                ),
            }
        }
    }
    None
}

/// The body of a GET, up to [`MAX_FETCH_BYTES`].
async fn read_capped(request: reqwest::RequestBuilder) -> Fetched {
    let clean =
        |e: reqwest::Error| chime_proto::redact::redact(&e.without_url().to_string()).into_owned();
    let mut resp = request.send().await.map_err(clean)?;
    let status = resp.status().as_u16();
    let link = resp
        .headers()
        .get(reqwest::header::LINK)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(clean)? {
        if body.len() + chunk.len() > MAX_FETCH_BYTES {
            return Err("the answer is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        link,
    })
}

/// TLS for a client that will only speak plain HTTP (it is never used,
/// but the HTTP client wants one, and finding no OS roots is not an error
/// for a `ws://` server).
fn plain_tls_config() -> rustls::ClientConfig {
    install_crypto_provider();
    rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

async fn dial(
    profile: Arc<ServerProfile>,
    tls: Option<Arc<rustls::ClientConfig>>,
    state: InboxState,
) -> Result<Ws, DialError> {
    let profile = if chime_engine::dialect::protocol(profile.dialect)
        .discover
        .is_empty()
    {
        profile
    } else {
        let http = http_client(tls.as_ref()).ok();
        match stream_of(&profile, http.as_ref()).await {
            Some(p) => Arc::new(p),
            None => profile,
        }
    };
    let ep = chime_engine::dialect::endpoint(&profile, &state).map_err(DialError::BadRequest)?;
    let mut req = ep.url.as_str().into_client_request().map_err(|e| {
        DialError::BadRequest(chime_proto::redact::redact(&e.to_string()).into_owned())
    })?;
    let headers = req.headers_mut();
    for (name, value) in ep.headers {
        headers.append(name, value);
    }
    let connector = match tls {
        Some(cfg) => Connector::Rustls(cfg),
        None => Connector::Plain,
    };
    tokio_tungstenite::connect_async_tls_with_config(req, Some(ws_config()), true, Some(connector))
        .await
        .map(|(ws, _)| ws)
        .map_err(dial_error)
}

fn dial_error(e: WsError) -> DialError {
    match e {
        WsError::Http(resp) => {
            let message = resp
                .body()
                .as_deref()
                .map(|b| {
                    String::from_utf8_lossy(&b[..b.len().min(200)])
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            DialError::Http {
                status: resp.status().as_u16(),
                message,
            }
        }
        WsError::Io(io) => {
            let tls = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .map(|t| t.to_string());
            match tls {
                Some(t) => DialError::Tls(t),
                None => DialError::Network(io.to_string()),
            }
        }
        WsError::Tls(t) => DialError::Tls(t.to_string()),
        WsError::Url(u) => DialError::BadRequest(u.to_string()),
        WsError::HttpFormat(h) => DialError::BadRequest(h.to_string()),
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            DialError::Network("the server closed the connection during the handshake".into())
        }
        other => DialError::Protocol(other.to_string()),
    }
}

fn link_error(e: WsError) -> LinkEnd {
    match e {
        WsError::Capacity(c) => LinkEnd::Violation(format!("{c} (limit 64 KiB)")),
        WsError::Protocol(p) => LinkEnd::Violation(p.to_string()),
        WsError::Utf8(_) => LinkEnd::Violation("a text frame was not valid UTF-8".into()),
        other => LinkEnd::Dropped(other.to_string()),
    }
}

/// Install the process-wide rustls crypto provider exactly once.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// rustls with the OS trust store plus an optional extra CA file.
pub fn tls_config(extra_ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        debug!("skipping an OS root certificate: {e}");
    }
    let (added, _) = roots.add_parsable_certificates(native.certs);
    debug!(added, "loaded OS root certificates");
    if let Some(path) = extra_ca {
        let err = |problem: String| ClientError::CaFile {
            path: path.display().to_string(),
            problem,
        };
        let mut n = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))? {
            let cert = cert.map_err(|e| err(e.to_string()))?;
            roots.add(cert).map_err(|e| err(e.to_string()))?;
            n += 1;
        }
        if n == 0 {
            return Err(err("no PEM certificates in it".into()));
        }
    }
    if roots.is_empty() {
        return Err(ClientError::NoRoots);
    }
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// What "Test connection" found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// The upgrade succeeded; `dialect` is what the first message said
    /// (`None` when the server stayed silent).
    Connected {
        dialect: Option<Dialect>,
    },
    AuthFailed {
        message: String,
    },
    Unreachable {
        message: String,
    },
    Misconfigured {
        message: String,
    },
}

/// Dial once, wait briefly for the server's first message, hang up.
pub async fn probe(profile: &ServerProfile, timeout: Duration) -> ProbeOutcome {
    profile.register_secrets();
    let tls = if profile.is_tls() {
        match tls_config(profile.extra_ca.as_deref()) {
            Ok(t) => Some(t),
            Err(e) => {
                return ProbeOutcome::Misconfigured {
                    message: e.to_string(),
                }
            }
        }
    } else {
        None
    };
    let pings = chime_engine::dialect::protocol(profile.dialect).server_pings;
    let dialect = profile.dialect;
    let profile = Arc::new(profile.clone());
    let dialed = dial(profile, tls, InboxState::default());
    let mut ws = match tokio::time::timeout(timeout, dialed).await {
        Err(_) => {
            return ProbeOutcome::Unreachable {
                message: format!("no answer within {} s", timeout.as_secs()),
            }
        }
        Ok(Err(e)) => {
            let (class, message) = classify_dial(&e);
            return match class {
                Class::Auth => ProbeOutcome::AuthFailed { message },
                Class::Misconfig => ProbeOutcome::Misconfigured { message },
                Class::Transient | Class::Restart | Class::TryLater => {
                    ProbeOutcome::Unreachable { message }
                }
            };
        }
        Ok(Ok(ws)) => ws,
    };
    if pings {
        // Push services accept the upgrade only with a valid sign-in.
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        return ProbeOutcome::Connected {
            dialect: Some(dialect),
        };
    }
    let first = tokio::time::timeout(timeout.min(Duration::from_secs(3)), ws.next()).await;
    let dialect = match first {
        Ok(Some(Ok(Message::Text(text)))) => match ServerMsg::parse(Dialect::Auto, &text) {
            Ok(ServerMsg::Error { code, message }) => {
                // A server that stops reading must not hold "Test
                // connection" forever.
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                return ProbeOutcome::Misconfigured {
                    message: format!("the server reported {code}: {}", clean(&message)),
                };
            }
            Ok(msg) => dialect_of(&msg),
            Err(_) => None,
        },
        _ => None,
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    ProbeOutcome::Connected { dialect }
}
