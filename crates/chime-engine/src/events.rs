//! What passes between the engine and its driver and observers: actions
//! for the driver, frames and dial results from it, and the outputs
//! (state, items, counts, notices, resume state). The sessions of each
//! dialect and the supervisor both speak these, so they live below both.

use serde::Serialize;

use crate::inbox::{InboxState, NewItem};
use crate::protocol::{Counts, Dialect, Kind};

/// Identifies one dial and the link it produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId(pub u64);

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a new link (TCP, TLS, upgrade). Report with `handle_open` or
    /// `handle_dial_failed`.
    Dial(LinkId),
    /// Stop dialing (the connect timeout fired or the dial is obsolete).
    AbortDial(LinkId),
    /// Send a text frame on the open link.
    Send(LinkId, String),
    /// Close the open link with this code and forget it.
    Close(LinkId, u16, &'static str),
    /// Send a WebSocket Ping on the open link (dialects whose servers know
    /// no application-level ping: ntfy, Gotify).
    Ping(LinkId),
    /// GET this path (and query) of the server's HTTP side, with the
    /// link's credentials, and report it with `handle_fetched`.
    Fetch(LinkId, String),
    /// DELETE this path, likewise.
    Delete(LinkId, String),
    /// POST this JSON body to this path, likewise.
    Post(LinkId, String, String),
}

/// What an HTTP request brought: its answer, or why there was none.
pub type Fetched = Result<Reply, String>;

/// An HTTP answer: status, body (capped) and the `Link` header, which
/// some servers page with (Mastodon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub link: Option<String>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            body: body.into(),
            link: None,
        }
    }

    /// With a `Link` header.
    pub fn with_link(mut self, link: impl Into<String>) -> Reply {
        self.link = Some(link.into());
        self
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The connection state observers see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnState {
    /// Not started yet.
    Idle,
    Connecting {
        attempt: u32,
    },
    Connected {
        /// `None` while `auto` has not seen the first frame.
        dialect: Option<Dialect>,
    },
    /// Waiting to retry after a failure that should heal on its own.
    Waiting {
        retry_in_ms: u64,
        attempt: u32,
        reason: String,
    },
    /// The server refused our credentials; a person has to act.
    AuthFailed {
        retry_in_ms: u64,
        reason: String,
    },
    /// Wrong URL, no such endpoint, TLS trust failure: a person has to act.
    Misconfigured {
        retry_in_ms: u64,
        reason: String,
    },
    /// The user paused the link.
    Paused,
    /// The OS says there is no network; dialing resumes when it is back.
    Offline,
}

impl ConnState {
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnState::Connected { .. })
    }
}

/// What observers are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    State(ConnState),
    /// New things to announce, in arrival order.
    Items(Vec<NewItem>),
    /// The badge changed.
    Counts(Counts),
    /// Something odd that did not break the link (malformed frame, unknown
    /// message): worth a log line and a status hint, not a reconnect.
    Notice(String),
    /// The server withdrew notifications, by key (`Message::key`): read
    /// elsewhere (ntfy's `message_clear`), or gone (`message_delete`,
    /// `deleted`). Their rows follow, and their toasts close.
    Withdrawn {
        keys: Vec<String>,
        deleted: bool,
    },
    /// The resume state changed (cursor, totals, epoch). It always follows
    /// the `Items` it covers, so an app that stores items and this state in
    /// one transaction can never resume past an item it did not keep.
    Saved(Box<InboxState>),
}

/// Why a dial failed, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// The upgrade was answered with this HTTP status.
    Http { status: u16, message: String },
    /// Connection refused, reset, DNS failure, unreachable.
    Network(String),
    /// TLS handshake or certificate failure.
    Tls(String),
    /// The URL or request could not even be built.
    BadRequest(String),
    /// The server spoke something that is not WebSocket.
    Protocol(String),
}

/// How the link ended, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEnd {
    /// A close frame (code, reason).
    Close(u16, String),
    /// The stream ended without a close frame (reset, EOF).
    Dropped(String),
    /// The peer broke the protocol or a limit (oversize frame …).
    Violation(String),
}

/// A frame the driver read from the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(usize),
    /// A control frame (ping/pong): proof of life, nothing else.
    Control,
}

/// What the app or a user asks of a running client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    ReconnectNow,
    /// The OS woke from sleep.
    Resumed,
    NetworkUp,
    NetworkDown,
    Pause,
    Unpause,
    MarkRead(Option<Kind>),
    /// One item of this kind was read here (a row opened).
    ReadOne(Kind),
    /// These messages (server ids) were read: delete them on the server
    /// (Gotify with the option on).
    Forget(Vec<String>),
    Shutdown,
}
