//! One WebSocket client: the seed and native session loops.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chime_proto::protocol::{ClientMsg, SeedSnapshot, ServerMsg, NATIVE_VERSION};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{timeout, Instant};
use tracing::{debug, info, warn};

use crate::hub::Push;
use crate::{AppState, ConnGuard};

/// A single write to a client may take this long before it is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A native client must say hello within this.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Seed,
    Native,
}

type Sink = SplitSink<WebSocket, Message>;

struct Closed;

async fn send(sink: &mut Sink, text: String) -> Result<(), Closed> {
    match timeout(SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Closed),
    }
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = timeout(
        Duration::from_secs(2),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
}

pub async fn run(
    socket: WebSocket,
    state: Arc<AppState>,
    user: String,
    dialect: Dialect,
    guard: ConnGuard,
    lifetime: Option<Duration>,
) {
    debug!(%user, ?dialect, "session start");
    let (mut sink, mut stream) = socket.split();
    let session = async {
        match dialect {
            Dialect::Seed => seed(&mut sink, &mut stream, &state, &user).await,
            Dialect::Native => native(&mut sink, &mut stream, &state, &user).await,
        }
    };
    // The credential's end is the session's: the client is told with the
    // close code of a refused sign-in and needs a new token to come back.
    let outcome = match lifetime {
        Some(left) => tokio::select! {
            outcome = session => outcome,
            () = tokio::time::sleep(left) => Some((4001, "token expired")),
        },
        None => session.await,
    };
    if let Some((code, reason)) = outcome {
        close(&mut sink, code, reason).await;
    }
    drop(guard);
    debug!(%user, "session end");
}

/// Why a loop ended: `Some((code, reason))` when we should send a close.
type Outcome = Option<(u16, &'static str)>;

enum Inbound {
    Text(String),
    Closed,
    Bad(u16, &'static str),
    Life,
}

fn classify(msg: Option<Result<Message, axum::Error>>, state: &AppState) -> Inbound {
    match msg {
        Some(Ok(Message::Text(t))) => Inbound::Text(t.as_str().to_owned()),
        Some(Ok(Message::Binary(_))) => {
            state.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
            Inbound::Bad(1003, "binary frames are not supported")
        }
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Inbound::Life,
        Some(Ok(Message::Close(_))) | None => Inbound::Closed,
        Some(Err(e)) => {
            state.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
            warn!("client broke the protocol: {e}");
            Inbound::Bad(1009, "protocol error or message too big")
        }
    }
}

async fn seed(
    sink: &mut Sink,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    state: &AppState,
    user: &str,
) -> Outcome {
    let mut sub = state.hub.subscribe(user);
    let mut shutdown = state.shutdown.clone();
    let Ok(counts) = state.store.counts(user).await else {
        return Some((1011, "storage unavailable"));
    };
    send(sink, SeedSnapshot::encode(&counts)).await.ok()?;
    let mut last_recv = Instant::now();
    let mut idle = tokio::time::interval(state.config.idle_timeout / 4);
    loop {
        tokio::select! {
            push = sub.rx.recv() => {
                let counts = match push {
                    Some(Push::Event(_, c) | Push::Counts(c)) => c,
                    // Totals only: a renamed log changes nothing here.
                    Some(Push::Reset) => continue,
                    None if sub.slow.load(Ordering::Relaxed) => return Some((1013, "too slow, try again")),
                    None => return Some((1012, "restarting")),
                };
                send(sink, SeedSnapshot::encode(&counts)).await.ok()?;
            }
            msg = stream.next() => {
                last_recv = Instant::now();
                match classify(msg, state) {
                    Inbound::Text(t) if t.trim() == chime_proto::protocol::SEED_HEARTBEAT => {
                        let Ok(counts) = state.store.counts(user).await else {
                            return Some((1011, "storage unavailable"));
                        };
                        send(sink, SeedSnapshot::encode(&counts)).await.ok()?;
                    }
                    Inbound::Text(_) => {
                        // Seed servers ignore what they do not understand.
                        state.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
                        debug!(%user, "ignored an unknown seed message");
                    }
                    Inbound::Life => {}
                    Inbound::Closed => return None,
                    Inbound::Bad(code, reason) => return Some((code, reason)),
                }
            }
            _ = idle.tick() => {
                if last_recv.elapsed() > state.config.idle_timeout {
                    info!(%user, "closing a silent seed client");
                    return Some((1001, "idle"));
                }
            }
            () = crate::stopped(&mut shutdown) => return Some((1012, "restarting")),
        }
    }
}

async fn native(
    sink: &mut Sink,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    state: &AppState,
    user: &str,
) -> Outcome {
    let Ok(epoch) = state.store.epoch(user).await else {
        return Some((1011, "storage unavailable"));
    };
    let welcome = ServerMsg::Welcome {
        version: NATIVE_VERSION,
        epoch: epoch.clone(),
        account: Some(user.to_owned()),
    };
    send(sink, welcome.encode()).await.ok()?;
    // Wait for hello.
    let deadline = Instant::now() + HELLO_TIMEOUT;
    let last_seq = loop {
        let msg = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(m) => m,
            Err(_) => return Some((1008, "hello expected")),
        };
        match classify(msg, state) {
            Inbound::Text(t) => match ClientMsg::parse(&t) {
                Ok(ClientMsg::Hello { last_seq }) => break last_seq,
                Ok(ClientMsg::Ping) => send(sink, ServerMsg::Pong.encode()).await.ok()?,
                Ok(_) => {}
                Err(chime_proto::protocol::ProtocolError::Version(_)) => {
                    let err = ServerMsg::Error {
                        code: "version".into(),
                        message: format!("this server speaks version {NATIVE_VERSION}"),
                    };
                    let _ = send(sink, err.encode()).await;
                    return Some((1002, "unsupported version"));
                }
                Err(e) => {
                    state.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
                    warn!(%user, "malformed client message: {e}");
                    return Some((1007, "malformed message"));
                }
            },
            Inbound::Life => {}
            Inbound::Closed => return None,
            Inbound::Bad(code, reason) => return Some((code, reason)),
        }
    };
    // Subscribe before reading the log so nothing falls between the two.
    let mut sub = state.hub.subscribe(user);
    let mut shutdown = state.shutdown.clone();
    let Ok((backlog, newest)) = state.store.replay(user, last_seq).await else {
        return Some((1011, "storage unavailable"));
    };
    let Ok(counts) = state.store.counts(user).await else {
        return Some((1011, "storage unavailable"));
    };
    if last_seq > newest {
        // The client has seen numbers this log has not handed out: the log
        // went back (an older snapshot). New events would reuse numbers the
        // client drops as seen, so the log gets a new name and the client
        // comes back to start over with it.
        match state.store.rename_log(user, &epoch).await {
            Ok(true) => {
                warn!(%user, last_seq, newest, "a client is ahead of the event log: renamed the log");
                return Some((1012, "event log reset"));
            }
            Ok(false) => {}
            Err(_) => return Some((1011, "storage unavailable")),
        }
    }
    state
        .metrics
        .replayed
        .fetch_add(backlog.len() as u64, Ordering::Relaxed);
    for event in &backlog {
        send(sink, ServerMsg::Event((**event).clone()).encode())
            .await
            .ok()?;
    }
    let replayed_upto = newest.max(last_seq);
    send(sink, ServerMsg::Counts(counts).encode()).await.ok()?;
    send(sink, ServerMsg::Synced { last_seq: newest }.encode())
        .await
        .ok()?;

    let mut last_recv = Instant::now();
    let mut ping = tokio::time::interval_at(
        Instant::now() + state.config.ping_interval,
        state.config.ping_interval,
    );
    loop {
        tokio::select! {
            push = sub.rx.recv() => match push {
                Some(Push::Event(event, counts)) => {
                    if event.seq > replayed_upto {
                        send(sink, ServerMsg::Event((*event).clone()).encode()).await.ok()?;
                    }
                    send(sink, ServerMsg::Counts(counts).encode()).await.ok()?;
                }
                Some(Push::Counts(counts)) => send(sink, ServerMsg::Counts(counts).encode()).await.ok()?,
                Some(Push::Reset) => return Some((1012, "event log reset")),
                None if sub.slow.load(Ordering::Relaxed) => {
                    info!(%user, "dropping a slow consumer");
                    return Some((1013, "too slow, try again"));
                }
                None => return Some((1012, "restarting")),
            },
            msg = stream.next() => {
                last_recv = Instant::now();
                match classify(msg, state) {
                    Inbound::Text(t) => match ClientMsg::parse(&t) {
                        Ok(ClientMsg::Ping) => send(sink, ServerMsg::Pong.encode()).await.ok()?,
                        Ok(ClientMsg::Read { kind }) => {
                            if let Err(e) = state.store.read(&state.hub, user, kind).await {
                                warn!("read failed: {e}");
                            }
                        }
                        Ok(ClientMsg::Pong | ClientMsg::Ack { .. } | ClientMsg::Hello { .. }) => {}
                        Ok(ClientMsg::SeedHeartbeat) => {
                            send(sink, ServerMsg::Pong.encode()).await.ok()?
                        }
                        Err(e) => {
                            state.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
                            warn!(%user, "malformed client message: {e}");
                            return Some((1007, "malformed message"));
                        }
                    },
                    Inbound::Life => {}
                    Inbound::Closed => return None,
                    Inbound::Bad(code, reason) => return Some((code, reason)),
                }
            }
            _ = ping.tick() => {
                if last_recv.elapsed() > state.config.idle_timeout {
                    info!(%user, "closing a silent native client");
                    return Some((1001, "idle"));
                }
                send(sink, ServerMsg::Ping.encode()).await.ok()?;
            }
            () = crate::stopped(&mut shutdown) => return Some((1012, "restarting")),
        }
    }
}
