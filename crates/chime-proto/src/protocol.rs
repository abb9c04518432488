//! The wire format, both dialects. This module is the only place that knows
//! what a frame looks like; everything else works with [`ServerMsg`] and
//! [`ClientMsg`]. See `docs/PROTOCOL.md` for the prose version.
//!
//! * **seed** — what existing sites run (`/pushMsg`): the server sends unread
//!   totals `{"newReplyNum","newLikeNum","newDisLikeNum"}`, the client sends the
//!   text `heartCheck`.
//! * **native** (`/v1/stream`, version 1) — JSON objects tagged with `type`:
//!   sequenced events, count snapshots, resume from `last_seq`, ping both ways.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::text::sanitize;

/// Version of the native dialect spoken by this crate.
pub const NATIVE_VERSION: u32 = 1;
/// The seed dialect's client heartbeat, sent verbatim as a text frame.
pub const SEED_HEARTBEAT: &str = "heartCheck";
/// Largest frame or message either side accepts (64 KiB).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Initial read buffer per link. tungstenite's default (128 KiB) would cost
/// more than everything else a link holds; messages are small. Client and server
/// both use it.
pub const READ_BUFFER: usize = 8 * 1024;
/// Largest number either side accepts from the wire: 2^53 − 1, the largest
/// integer every JSON implementation (JavaScript included) holds exactly.
/// Anything above it, or negative, makes the message malformed, so no
/// arithmetic on a wire value can overflow and no cursor can be pushed to
/// the end of the number line.
pub const MAX_WIRE_INT: u64 = (1 << 53) - 1;

/// Errors of the wire layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("not json: {0}")]
    NotJson(String),
    #[error("not a json object")]
    NotObject,
    #[error("not a known message")]
    Unrecognised,
    #[error("field {field}: {problem}")]
    BadField {
        field: &'static str,
        problem: &'static str,
    },
    #[error("unsupported protocol version {0}")]
    Version(u64),
}

/// What a user is told about: the three kinds the sites push, and the
/// generic message of push services (title, body, priority, links).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Like,
    Dislike,
    Reply,
    Message,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Like, Kind::Dislike, Kind::Reply, Kind::Message];

    /// Its place in per-kind arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Like => "like",
            Kind::Dislike => "dislike",
            Kind::Reply => "reply",
            Kind::Message => "message",
        }
    }

    /// "like" / "likes" for a count of `n`.
    pub fn noun(self, n: u64) -> &'static str {
        match (self, n == 1) {
            (Kind::Like, true) => "like",
            (Kind::Like, false) => "likes",
            (Kind::Dislike, true) => "dislike",
            (Kind::Dislike, false) => "dislikes",
            (Kind::Reply, true) => "reply",
            (Kind::Reply, false) => "replies",
            (Kind::Message, true) => "message",
            (Kind::Message, false) => "messages",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "like" | "likes" => Some(Kind::Like),
            "dislike" | "dislikes" => Some(Kind::Dislike),
            "reply" | "replies" => Some(Kind::Reply),
            "message" | "messages" => Some(Kind::Message),
            _ => None,
        }
    }
}

/// Unread totals per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    #[serde(default)]
    pub likes: u64,
    #[serde(default)]
    pub dislikes: u64,
    #[serde(default)]
    pub replies: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub messages: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Counts {
    pub fn get(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Like => self.likes,
            Kind::Dislike => self.dislikes,
            Kind::Reply => self.replies,
            Kind::Message => self.messages,
        }
    }

    pub fn get_mut(&mut self, kind: Kind) -> &mut u64 {
        match kind {
            Kind::Like => &mut self.likes,
            Kind::Dislike => &mut self.dislikes,
            Kind::Reply => &mut self.replies,
            Kind::Message => &mut self.messages,
        }
    }

    pub fn total(&self) -> u64 {
        self.likes
            .saturating_add(self.dislikes)
            .saturating_add(self.replies)
            .saturating_add(self.messages)
    }
}

/// A seed snapshot. A field the server left out is `None`: "unchanged".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedSnapshot {
    pub replies: Option<u64>,
    pub likes: Option<u64>,
    pub dislikes: Option<u64>,
}

impl SeedSnapshot {
    pub fn get(&self, kind: Kind) -> Option<u64> {
        match kind {
            Kind::Like => self.likes,
            Kind::Dislike => self.dislikes,
            Kind::Reply => self.replies,
            Kind::Message => None,
        }
    }

    /// Encode as the seed server sends it.
    pub fn encode(counts: &Counts) -> String {
        format!(
            r#"{{"newReplyNum": {}, "newLikeNum": {}, "newDisLikeNum": {}}}"#,
            counts.replies, counts.likes, counts.dislikes
        )
    }
}

/// What an event points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Target {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub url: String,
}

/// One native-dialect event, as delivered to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Server-assigned, per user, strictly increasing by one from 1.
    pub seq: u64,
    pub kind: Kind,
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub target: Target,
    /// Unix time in milliseconds.
    #[serde(default)]
    pub time: i64,
    /// A message's own parts (push services, native `message` events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Box<Message>>,
}

/// Priority of a message on Chime's scale, which is ntfy's: 1 min, 2 low,
/// 3 default, 4 high, 5 urgent. Other services' scales are mapped by
/// their protocol module.
pub const DEFAULT_PRIORITY: u8 = 3;
/// From this priority on a message is urgent (critical urgency, its own
/// toast).
pub const URGENT_PRIORITY: u8 = 4;
/// Links a message may carry (ntfy allows 3 actions, plus an attachment).
pub const MAX_LINKS: usize = 4;
/// Tags a message may carry.
pub const MAX_TAGS: usize = 10;

/// What a push message carries beyond a site event. Its title is the
/// event's `target.title`, its click URL `target.url`, and its topic or
/// application the `actor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The server's own id for it (ntfy's string, Gotify's number): what
    /// resumes and deduplicates it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default)]
    pub body: String,
    #[serde(default = "default_priority", deserialize_with = "priority_from_wire")]
    pub priority: u8,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Buttons and attachments: only http/https targets are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// The body is Markdown (shown as plain text in toasts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub markdown: bool,
    /// The notification this message is a new version of (ntfy's
    /// `sequence_id`): messages of one sequence are one row and one toast.
    /// Empty: its own.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sequence: String,
}

fn default_priority() -> u8 {
    DEFAULT_PRIORITY
}

/// A priority from the wire, clamped into `lo..=hi`: any number is a
/// priority (servers and the scripts that publish to them send 15, 100 or
/// -1), and a message is never dropped for one. `None`: not a number
/// (the caller's default applies).
pub fn clamp_priority(v: &Value, lo: i64, hi: i64) -> Option<i64> {
    let n = v.as_number()?;
    let p = if let Some(i) = n.as_i64() {
        i
    } else if n.as_u64().is_some() {
        i64::MAX
    } else {
        let f = n.as_f64()?;
        if f.is_nan() {
            return None;
        }
        // Saturating cast: ±inf and huge values land on the ends.
        f as i64
    };
    Some(p.clamp(lo, hi))
}

/// Chime's own messages: a number clamped into 1..=5, anything else the
/// default.
fn priority_from_wire<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(clamp_priority(&v, 1, 5).map_or(DEFAULT_PRIORITY, |p| p as u8))
}

impl Default for Message {
    fn default() -> Self {
        Message {
            id: String::new(),
            body: String::new(),
            priority: DEFAULT_PRIORITY,
            tags: Vec::new(),
            links: Vec::new(),
            markdown: false,
            sequence: String::new(),
        }
    }
}

/// A labelled http/https link of a message (an ntfy `view` action, an
/// attachment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub label: String,
    pub url: String,
}

/// `url` if it is an absolute http or https URL with a host, else `None`:
/// the only links Chime ever opens or offers.
pub fn web_link(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    let web = matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some();
    (web && url.len() <= 2048).then(|| parsed.to_string())
}

impl Message {
    /// Clean a message from the wire: strings bounded and free of control
    /// characters (the body keeps its line breaks), priority in 1..=5,
    /// tags and links bounded, links http/https only.
    pub fn cleaned(mut self) -> Message {
        self.id = sanitize(&self.id, 64);
        if !is_sequence_id(&self.sequence) {
            self.sequence.clear();
        }
        self.body = clean_body(&self.body, 4096);
        self.priority = self.priority.clamp(1, 5);
        self.tags = self
            .tags
            .iter()
            .map(|t| sanitize(t, 40))
            .filter(|t| !t.is_empty())
            .take(MAX_TAGS)
            .collect();
        self.links = self
            .links
            .iter()
            .filter_map(|l| {
                Some(Link {
                    label: sanitize(&l.label, 40),
                    url: web_link(&l.url)?,
                })
            })
            .take(MAX_LINKS)
            .collect();
        self
    }

    /// The notification it stands for: its sequence, else its own id.
    pub fn key(&self) -> &str {
        if self.sequence.is_empty() {
            &self.id
        } else {
            &self.sequence
        }
    }

    pub fn is_urgent(&self) -> bool {
        self.priority >= URGENT_PRIORITY
    }
}

/// ntfy's sequence ids: `^[-_A-Za-z0-9]{1,64}$`.
pub fn is_sequence_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A message body: each line cleaned as [`sanitize`] does, line breaks
/// kept (at most 40 lines), bounded to `max` characters.
pub fn clean_body(s: &str, max: usize) -> String {
    let lines: Vec<String> = s.lines().take(40).map(|l| sanitize(l, max)).collect();
    let joined = lines.join("\n");
    let mut out: String = joined.chars().take(max).collect();
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

/// Which protocol a link speaks: its name in the settings file and on
/// command lines. What each protocol is and does is its module's, in
/// `chime_engine::dialect` (`dialect::protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Seed,
    Native,
    /// Decide from the first frame the server sends.
    #[default]
    Auto,
    /// An ntfy server's topics (`/<topics>/ws`).
    Ntfy,
    /// A Gotify server's stream (`/stream`) and message list.
    Gotify,
    /// A Mastodon-compatible account (Mastodon, GoToSocial, Akkoma,
    /// Pleroma, Iceshrimp): its notification stream.
    Mastodon,
    /// A Misskey account (Misskey, Sharkey, Firefish): its `main` channel.
    Misskey,
}

impl Dialect {
    pub const ALL: [Dialect; 7] = [
        Dialect::Seed,
        Dialect::Native,
        Dialect::Auto,
        Dialect::Ntfy,
        Dialect::Gotify,
        Dialect::Mastodon,
        Dialect::Misskey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Seed => "seed",
            Dialect::Native => "native",
            Dialect::Auto => "auto",
            Dialect::Ntfy => "ntfy",
            Dialect::Gotify => "gotify",
            Dialect::Mastodon => "mastodon",
            Dialect::Misskey => "misskey",
        }
    }
}

impl std::str::FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Dialect::ALL.iter().map(|d| d.as_str()).collect();
                format!("unknown dialect {s:?} ({})", names.join(", "))
            })
    }
}

/// A message from the server, either dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMsg {
    /// Seed: unread totals.
    SeedSnapshot(SeedSnapshot),
    /// Native: first frame on a link. `epoch` names the server's event log:
    /// when it changes (the log was lost), sequence numbers start over.
    Welcome {
        version: u32,
        epoch: String,
        /// The account the credential signed in as (optional): a client
        /// whose resume state belongs to another account starts afresh.
        account: Option<String>,
    },
    /// Native: one event (live or replayed).
    Event(Event),
    /// Native: unread totals.
    Counts(Counts),
    /// Native: the replay is complete; everything up to `last_seq` that the
    /// server still holds has been sent.
    Synced {
        last_seq: u64,
    },
    Ping,
    Pong,
    /// Native: the server explains itself before closing.
    Error {
        code: String,
        message: String,
    },
    /// Native: a well-formed message of a type this client does not know.
    Unknown {
        kind: String,
    },
}

/// A message from the client, either dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    /// Seed: the `heartCheck` text.
    SeedHeartbeat,
    Hello {
        last_seq: u64,
    },
    Ping,
    Pong,
    Ack {
        seq: u64,
    },
    /// Mark read: one kind, or all when `None`.
    Read {
        kind: Option<Kind>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum NativeClientWire {
    Hello {
        v: u32,
        #[serde(default)]
        last_seq: u64,
    },
    Ping,
    Pong,
    Ack {
        seq: u64,
    },
    Read {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<Kind>,
    },
}

impl ClientMsg {
    pub fn encode(&self) -> String {
        let wire = match *self {
            ClientMsg::SeedHeartbeat => return SEED_HEARTBEAT.to_owned(),
            ClientMsg::Hello { last_seq } => NativeClientWire::Hello {
                v: NATIVE_VERSION,
                last_seq,
            },
            ClientMsg::Ping => NativeClientWire::Ping,
            ClientMsg::Pong => NativeClientWire::Pong,
            ClientMsg::Ack { seq } => NativeClientWire::Ack { seq },
            ClientMsg::Read { kind } => NativeClientWire::Read { kind },
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Parse what a client sent (server side).
    pub fn parse(text: &str) -> Result<ClientMsg, ProtocolError> {
        let trimmed = text.trim();
        if trimmed == SEED_HEARTBEAT {
            return Ok(ClientMsg::SeedHeartbeat);
        }
        let wire: NativeClientWire = serde_json::from_str(trimmed).map_err(|e| {
            if e.is_data() {
                ProtocolError::Unrecognised
            } else {
                ProtocolError::NotJson(short(&e.to_string()))
            }
        })?;
        let in_range = |field, n: u64| {
            if n > MAX_WIRE_INT {
                Err(ProtocolError::BadField {
                    field,
                    problem: "above 2^53 - 1",
                })
            } else {
                Ok(n)
            }
        };
        Ok(match wire {
            NativeClientWire::Hello { v, last_seq } => {
                if v != NATIVE_VERSION {
                    return Err(ProtocolError::Version(u64::from(v)));
                }
                ClientMsg::Hello {
                    last_seq: in_range("last_seq", last_seq)?,
                }
            }
            NativeClientWire::Ping => ClientMsg::Ping,
            NativeClientWire::Pong => ClientMsg::Pong,
            NativeClientWire::Ack { seq } => ClientMsg::Ack {
                seq: in_range("seq", seq)?,
            },
            NativeClientWire::Read { kind } => ClientMsg::Read { kind },
        })
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum NativeServerWire<'a> {
    Welcome {
        v: u32,
        epoch: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        account: Option<&'a str>,
    },
    Event(&'a Event),
    Counts(&'a Counts),
    Synced {
        last_seq: u64,
    },
    Ping,
    Pong,
    Error {
        code: &'a str,
        message: &'a str,
    },
}

impl ServerMsg {
    /// Encode a native-dialect message (server side). Seed snapshots encode
    /// with [`SeedSnapshot::encode`].
    pub fn encode(&self) -> String {
        let wire = match self {
            ServerMsg::SeedSnapshot(s) => {
                return SeedSnapshot::encode(&Counts {
                    likes: s.likes.unwrap_or(0),
                    dislikes: s.dislikes.unwrap_or(0),
                    replies: s.replies.unwrap_or(0),
                    messages: 0,
                })
            }
            ServerMsg::Welcome {
                version,
                epoch,
                account,
            } => NativeServerWire::Welcome {
                v: *version,
                epoch,
                account: account.as_deref(),
            },
            ServerMsg::Event(e) => NativeServerWire::Event(e),
            ServerMsg::Counts(c) => NativeServerWire::Counts(c),
            ServerMsg::Synced { last_seq } => NativeServerWire::Synced {
                last_seq: *last_seq,
            },
            ServerMsg::Ping => NativeServerWire::Ping,
            ServerMsg::Pong => NativeServerWire::Pong,
            ServerMsg::Error { code, message } => NativeServerWire::Error { code, message },
            ServerMsg::Unknown { .. } => return String::from(r#"{"type":"unknown"}"#),
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Parse a text frame from the server. `dialect` narrows what is accepted;
    /// [`Dialect::Auto`] accepts both and the caller learns the dialect from
    /// the variant.
    pub fn parse(dialect: Dialect, text: &str) -> Result<ServerMsg, ProtocolError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ProtocolError::NotJson(short(&e.to_string())))?;
        let Value::Object(map) = value else {
            return Err(ProtocolError::NotObject);
        };
        let native = map.contains_key("type");
        match (dialect, native) {
            (Dialect::Seed, _) | (Dialect::Auto, false) => parse_seed(&map),
            _ => parse_native(map),
        }
    }
}

const SEED_FIELDS: [(&str, Kind); 3] = [
    ("newReplyNum", Kind::Reply),
    ("newLikeNum", Kind::Like),
    ("newDisLikeNum", Kind::Dislike),
];

fn parse_seed(map: &serde_json::Map<String, Value>) -> Result<ServerMsg, ProtocolError> {
    let mut snap = SeedSnapshot::default();
    let mut any = false;
    for (field, kind) in SEED_FIELDS {
        let Some(v) = map.get(field) else { continue };
        let n = seed_number(v).ok_or(ProtocolError::BadField {
            field,
            problem: "not a non-negative whole number",
        })?;
        any = true;
        match kind {
            Kind::Reply => snap.replies = Some(n),
            Kind::Like => snap.likes = Some(n),
            Kind::Dislike => snap.dislikes = Some(n),
            Kind::Message => {}
        }
    }
    if any {
        Ok(ServerMsg::SeedSnapshot(snap))
    } else {
        Err(ProtocolError::Unrecognised)
    }
}

/// Seed servers send numbers, numbers as strings, sometimes `3.0`.
fn seed_number(v: &Value) -> Option<u64> {
    let whole = |f: f64| {
        (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= MAX_WIRE_INT as f64)
            .then_some(f as u64)
    };
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().and_then(whole)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(whole))
        }
        Value::Null => Some(0),
        _ => None,
    }?;
    (n <= MAX_WIRE_INT).then_some(n)
}

/// A wire number in `0..=MAX_WIRE_INT`, or why not.
fn wire_u64(v: Option<&Value>, field: &'static str) -> Result<u64, ProtocolError> {
    let bad = |problem| ProtocolError::BadField { field, problem };
    let n = v.ok_or(bad("missing"))?;
    match n.as_u64() {
        Some(n) if n <= MAX_WIRE_INT => Ok(n),
        Some(_) => Err(bad("above 2^53 - 1")),
        None if n.as_i64().is_some() => Err(bad("negative")),
        None => Err(bad("not a whole number")),
    }
}

impl Event {
    /// The numbers of an event are in range: `seq` in 1..=2^53 − 1, `time`
    /// in 0..=2^53 − 1 (0: not given).
    fn check(self) -> Result<Event, ProtocolError> {
        let bad = |field, problem| Err(ProtocolError::BadField { field, problem });
        if self.seq == 0 {
            return bad("seq", "must be at least 1");
        }
        if self.seq > MAX_WIRE_INT {
            return bad("seq", "above 2^53 - 1");
        }
        if self.time < 0 {
            return bad("time", "negative");
        }
        if self.time as u64 > MAX_WIRE_INT {
            return bad("time", "above 2^53 - 1");
        }
        let mut event = self;
        if let Some(m) = event.message.take() {
            event.message = Some(Box::new(m.cleaned()));
        }
        Ok(event)
    }
}

impl Counts {
    fn check(self) -> Result<Counts, ProtocolError> {
        for (field, n) in [
            ("likes", self.likes),
            ("dislikes", self.dislikes),
            ("replies", self.replies),
            ("messages", self.messages),
        ] {
            if n > MAX_WIRE_INT {
                return Err(ProtocolError::BadField {
                    field,
                    problem: "above 2^53 - 1",
                });
            }
        }
        Ok(self)
    }
}

fn parse_native(mut map: serde_json::Map<String, Value>) -> Result<ServerMsg, ProtocolError> {
    let Some(Value::String(kind)) = map.remove("type") else {
        return Err(ProtocolError::BadField {
            field: "type",
            problem: "missing or not a string",
        });
    };
    let value = Value::Object(map);
    let bad = |field: &'static str| ProtocolError::BadField {
        field,
        problem: "missing or wrong type",
    };
    Ok(match kind.as_str() {
        "welcome" => {
            let v = value.get("v").and_then(Value::as_u64).ok_or(bad("v"))?;
            if v != u64::from(NATIVE_VERSION) {
                return Err(ProtocolError::Version(v));
            }
            ServerMsg::Welcome {
                version: NATIVE_VERSION,
                epoch: text_field(&value, "epoch", 64).unwrap_or_default(),
                account: text_field(&value, "account", 128).filter(|a| !a.is_empty()),
            }
        }
        "event" => ServerMsg::Event(
            serde_json::from_value::<Event>(value)
                .map_err(|_| bad("event"))?
                .check()?,
        ),
        "counts" => ServerMsg::Counts(
            serde_json::from_value::<Counts>(value)
                .map_err(|_| bad("counts"))?
                .check()?,
        ),
        "synced" => ServerMsg::Synced {
            last_seq: wire_u64(value.get("last_seq"), "last_seq")?,
        },
        "ping" => ServerMsg::Ping,
        "pong" => ServerMsg::Pong,
        // Text that is only ever shown is cleaned here, once: whoever
        // prints it (a terminal, a status line, a log) gets one bounded
        // line with no control or bidi characters.
        "error" => ServerMsg::Error {
            code: text_field(&value, "code", 40).unwrap_or_else(|| "error".into()),
            message: text_field(&value, "message", 300).unwrap_or_default(),
        },
        _ => ServerMsg::Unknown {
            kind: sanitize(&kind, 40),
        },
    })
}

/// A string field, cleaned for display (`None` when absent, empty after
/// cleaning, or not a string).
fn text_field(value: &Value, field: &str, max: usize) -> Option<String> {
    let s = sanitize(value.get(field)?.as_str()?, max);
    (!s.is_empty()).then_some(s)
}

/// A parser's complaint, which may quote the frame: cleaned and bounded.
fn short(s: &str) -> String {
    sanitize(s, 80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(text: &str) -> Result<ServerMsg, ProtocolError> {
        ServerMsg::parse(Dialect::Seed, text)
    }

    #[test]
    fn seed_snapshots_tolerate_strings_spaces_missing_and_extra_fields() {
        type Want = (Option<u64>, Option<u64>, Option<u64>);
        let cases: &[(&str, Want)] = &[
            (
                r#"{"newReplyNum":1,"newLikeNum":2,"newDisLikeNum":3}"#,
                (Some(2), Some(3), Some(1)),
            ),
            (
                r#" { "newReplyNum" : "4" , "newLikeNum": " 5 ", "extra": [1] } "#,
                (Some(5), None, Some(4)),
            ),
            (r#"{"newLikeNum": 7.0}"#, (Some(7), None, None)),
            (r#"{"newLikeNum": null}"#, (Some(0), None, None)),
        ];
        for (text, (likes, dislikes, replies)) in cases {
            let msg = seed(text).unwrap();
            assert_eq!(
                msg,
                ServerMsg::SeedSnapshot(SeedSnapshot {
                    likes: *likes,
                    dislikes: *dislikes,
                    replies: *replies
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn seed_rejects_negative_fractional_and_foreign_values() {
        for text in [
            r#"{"newLikeNum": -1}"#,
            r#"{"newLikeNum": 1.5}"#,
            r#"{"newLikeNum": "lots"}"#,
            r#"{"newLikeNum": {"n": 1}}"#,
            r#"{"other": 1}"#,
            r#"[1, 2]"#,
            "heartCheck",
            "",
        ] {
            assert!(seed(text).is_err(), "{text}");
        }
    }

    #[test]
    fn auto_tells_the_dialects_apart_by_the_type_field() {
        assert!(matches!(
            ServerMsg::parse(Dialect::Auto, r#"{"newLikeNum":1}"#),
            Ok(ServerMsg::SeedSnapshot(_))
        ));
        assert_eq!(
            ServerMsg::parse(Dialect::Auto, r#"{"type":"welcome","v":1,"epoch":"e1"}"#),
            Ok(ServerMsg::Welcome {
                version: 1,
                epoch: "e1".into(),
                account: None,
            })
        );
    }

    #[test]
    fn native_messages_round_trip() {
        let event = Event {
            seq: 9,
            kind: Kind::Reply,
            actor: "Ann <b>".into(),
            target: Target {
                title: "“Post” & co".into(),
                url: "https://example.com/p/1".into(),
            },
            time: 1_764_000_000_000,
            message: None,
        };
        for msg in [
            ServerMsg::Welcome {
                version: 1,
                epoch: "3f2a".into(),
                account: None,
            },
            ServerMsg::Welcome {
                version: 1,
                epoch: "3f2a".into(),
                account: Some("alice".into()),
            },
            ServerMsg::Event(event),
            ServerMsg::Counts(Counts {
                likes: 1,
                dislikes: 2,
                replies: 3,
                messages: 0,
            }),
            ServerMsg::Synced { last_seq: 42 },
            ServerMsg::Ping,
            ServerMsg::Pong,
            ServerMsg::Error {
                code: "unauthorized".into(),
                message: "bad token".into(),
            },
        ] {
            assert_eq!(ServerMsg::parse(Dialect::Native, &msg.encode()), Ok(msg));
        }
        for msg in [
            ClientMsg::SeedHeartbeat,
            ClientMsg::Hello { last_seq: 7 },
            ClientMsg::Ping,
            ClientMsg::Pong,
            ClientMsg::Ack { seq: 3 },
            ClientMsg::Read { kind: None },
            ClientMsg::Read {
                kind: Some(Kind::Dislike),
            },
        ] {
            assert_eq!(ClientMsg::parse(&msg.encode()), Ok(msg));
        }
    }

    #[test]
    fn a_native_message_priority_out_of_range_is_clamped_never_a_reason_to_drop_it() {
        for (p, want) in [
            ("9", 5),
            ("-1", 1),
            ("0", 1),
            ("18446744073709551615", 5),
            ("4.6", 4),
            ("\"urgent\"", DEFAULT_PRIORITY),
        ] {
            let text = format!(
                r#"{{"type":"event","seq":1,"kind":"message","message":{{"id":"m","priority":{p}}}}}"#
            );
            match ServerMsg::parse(Dialect::Native, &text) {
                Ok(ServerMsg::Event(e)) => {
                    assert_eq!(e.message.map(|m| m.priority), Some(want), "{p}")
                }
                other => panic!("{p}: {other:?}"),
            }
        }
    }

    #[test]
    fn native_unknown_types_are_reported_not_rejected() {
        assert_eq!(
            ServerMsg::parse(Dialect::Native, r#"{"type":"sparkle","x":1}"#),
            Ok(ServerMsg::Unknown {
                kind: "sparkle".into()
            })
        );
    }

    #[test]
    fn native_wrong_types_and_versions_are_errors() {
        for text in [
            r#"{"type":"event","seq":"x","kind":"like"}"#,
            r#"{"type":"event","seq":1,"kind":"hug"}"#,
            r#"{"type":"welcome","v":2}"#,
            r#"{"type":7}"#,
            r#"{"type":"synced"}"#,
        ] {
            assert!(ServerMsg::parse(Dialect::Native, text).is_err(), "{text}");
        }
        assert_eq!(
            ClientMsg::parse(r#"{"type":"hello","v":9}"#),
            Err(ProtocolError::Version(9))
        );
    }

    #[test]
    fn wire_numbers_outside_zero_to_two_to_the_53_are_malformed() {
        let max = MAX_WIRE_INT;
        let over = MAX_WIRE_INT + 1;
        let native_bad = [
            format!(r#"{{"type":"synced","last_seq":{}}}"#, u64::MAX),
            format!(r#"{{"type":"synced","last_seq":{over}}}"#),
            r#"{"type":"synced","last_seq":-1}"#.to_owned(),
            r#"{"type":"synced","last_seq":1.5}"#.to_owned(),
            r#"{"type":"synced","last_seq":"7"}"#.to_owned(),
            format!(r#"{{"type":"event","seq":{},"kind":"like"}}"#, u64::MAX),
            format!(r#"{{"type":"event","seq":{over},"kind":"like"}}"#),
            r#"{"type":"event","seq":-3,"kind":"like"}"#.to_owned(),
            r#"{"type":"event","seq":0,"kind":"like"}"#.to_owned(),
            r#"{"type":"event","seq":1,"kind":"like","time":-1}"#.to_owned(),
            format!(
                r#"{{"type":"event","seq":1,"kind":"like","time":{}}}"#,
                i64::MAX
            ),
            format!(r#"{{"type":"counts","likes":{over}}}"#),
            format!(r#"{{"type":"counts","replies":{}}}"#, u64::MAX),
            r#"{"type":"counts","dislikes":-2}"#.to_owned(),
        ];
        for text in &native_bad {
            assert!(
                ServerMsg::parse(Dialect::Native, text).is_err(),
                "accepted {text}"
            );
        }
        assert_eq!(
            ServerMsg::parse(
                Dialect::Native,
                &format!(r#"{{"type":"synced","last_seq":{max}}}"#)
            ),
            Ok(ServerMsg::Synced { last_seq: max })
        );
        assert!(matches!(
            ServerMsg::parse(
                Dialect::Native,
                &format!(r#"{{"type":"event","seq":{max},"kind":"like","time":{max}}}"#)
            ),
            Ok(ServerMsg::Event(Event { seq, .. })) if seq == max
        ));
        for text in [
            format!(r#"{{"newLikeNum": {}}}"#, u64::MAX),
            format!(r#"{{"newLikeNum": "{over}"}}"#),
            r#"{"newLikeNum": 1e300}"#.to_owned(),
            r#"{"newLikeNum": "9.1e15"}"#.to_owned(),
        ] {
            assert!(seed(&text).is_err(), "accepted {text}");
        }
        assert!(seed(&format!(r#"{{"newLikeNum": {max}}}"#)).is_ok());
        for text in [
            format!(r#"{{"type":"hello","v":1,"last_seq":{over}}}"#),
            format!(r#"{{"type":"ack","seq":{}}}"#, u64::MAX),
            r#"{"type":"ack","seq":-1}"#.to_owned(),
        ] {
            assert!(ClientMsg::parse(&text).is_err(), "accepted {text}");
        }
    }

    #[test]
    fn server_text_that_is_only_shown_is_cleaned_where_it_is_parsed() {
        let osc52 = r"\u001b]52;c;ZXZpbA==\u0007";
        let text = format!(
            r#"{{"type":"error","code":"x{osc52}\u001b[2J\u202e","message":"a\nb{osc52}"}}"#
        );
        let Ok(ServerMsg::Error { code, message }) = ServerMsg::parse(Dialect::Native, &text)
        else {
            panic!("not an error frame");
        };
        for s in [&code, &message] {
            assert!(
                !s.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{s:?}"
            );
        }
        assert_eq!(message, "a b]52;c;ZXZpbA==");
        let unknown = format!(r#"{{"type":"x{osc52}"}}"#);
        let Ok(ServerMsg::Unknown { kind }) = ServerMsg::parse(Dialect::Native, &unknown) else {
            panic!("not unknown");
        };
        assert!(!kind.chars().any(char::is_control), "{kind:?}");
        // A parser complaint quotes the frame: cleaned too.
        let bad_kind = format!(r#"{{"type":"event","seq":1,"kind":"{osc52}"}}"#);
        let e = ServerMsg::parse(Dialect::Native, &bad_kind).expect_err("bad kind");
        assert!(!e.to_string().chars().any(char::is_control));
        let e = ServerMsg::parse(Dialect::Native, "{\"a\u{1b}[2J").expect_err("not json");
        assert!(!e.to_string().chars().any(char::is_control), "{e}");
    }

    #[test]
    fn seed_snapshot_encoding_is_what_seed_servers_send() {
        let text = SeedSnapshot::encode(&Counts {
            likes: 2,
            dislikes: 0,
            replies: 1,
            messages: 0,
        });
        assert_eq!(
            text,
            r#"{"newReplyNum": 1, "newLikeNum": 2, "newDisLikeNum": 0}"#
        );
    }
}
