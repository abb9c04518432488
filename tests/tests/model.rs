//! An oracle, not only examples: random sequences of what happens to a
//! user — publishes, abrupt outages, garbage on the wire, a renewed
//! credential, an app restart, a reordered source list, reads elsewhere
//! and here — drive the real client side (supervisor and session of each
//! dialect, coordinator, SQLite store) against model servers, with time
//! made up. After every sequence: every published event is stored exactly
//! once, none is announced twice, and no source's secret reached another
//! source's host.
//!
//! The model servers follow the public protocols: Chime's native protocol
//! (docs/PROTOCOL.md), ntfy's WebSocket API (a topic's `/ws` with
//! `since=<message id or unix time>`; no `since`, no old messages) and
//! Gotify's (live messages on `/stream`, what was missed from `GET
//! /message`, newest first, `since` keeping lower ids). The seed dialect
//! carries totals, not events, and has no row to keep once; its rules are
//! table-tested in `chime-engine`. `make fuzz` runs the
//! same world for longer (`CHIME_MODEL_CASES`); `make test` runs 128
//! sequences per dialect.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chime_engine::coordinator::{
    Coordinator, Effect, Now, SourceConfig, SourceSlot, Stored, Toasts,
};
use chime_engine::events::{Action, Command, DialError, Fetched, Frame, LinkEnd, LinkId, Reply};
use chime_engine::pause::Timestamp;
use chime_engine::profile::{Auth, Secret, ServerProfile};
use chime_engine::supervisor::{Config, Supervisor};
use chime_engine::{Jitter, NewItem};
use chime_proto::protocol::{ClientMsg, Counts, Dialect, Event, Kind, ServerMsg, Target};
use chime_store::Store;
use proptest::prelude::*;

const SOURCES: usize = 2;
/// The ntfy model's clock: message `i` is published at `NTFY_T0 + i`.
const NTFY_T0: u64 = 1_800_000_000;

#[derive(Debug, Clone)]
enum Op {
    Publish { source: usize, kind: usize },
    Outage { source: usize },
    Heal { source: usize },
    Garbage { source: usize },
    Renew { source: usize },
    Restart,
    Reorder,
    ReadElsewhere { source: usize, kind: usize },
    MarkReadHere { source: usize, kind: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0..SOURCES;
    prop_oneof![
        6 => (s.clone(), 0..3usize).prop_map(|(source, kind)| Op::Publish { source, kind }),
        2 => s.clone().prop_map(|source| Op::Outage { source }),
        2 => s.clone().prop_map(|source| Op::Heal { source }),
        1 => s.clone().prop_map(|source| Op::Garbage { source }),
        1 => s.clone().prop_map(|source| Op::Renew { source }),
        1 => Just(Op::Restart),
        1 => Just(Op::Reorder),
        1 => (s.clone(), 0..3usize).prop_map(|(source, kind)| Op::ReadElsewhere { source, kind }),
        1 => (s, 0..3usize).prop_map(|(source, kind)| Op::MarkReadHere { source, kind }),
    ]
}

// ---------------------------------------------------------------- servers

/// One model server: what was published, what the user read, and the
/// frames it has for the open link.
struct Server {
    dialect: Dialect,
    host: String,
    /// The only credential it accepts now.
    token: String,
    up: bool,
    /// Published: (title, kind), in order; native seq = index + 1, ntfy id
    /// = "m<index+1>".
    log: Vec<(String, Kind)>,
    /// Native: unread per kind.
    unread: Counts,
    open: bool,
    /// Native: the link said hello (live events flow).
    live: bool,
    outbox: VecDeque<String>,
    /// Gotify: the next message-list reads fail (an error page, a cut-off
    /// body, a refused request).
    broken_reads: u8,
}

impl Server {
    fn new(dialect: Dialect, n: usize) -> Server {
        Server {
            dialect,
            host: format!("s{n}.example"),
            token: format!("token-{n}-0"),
            up: true,
            log: Vec::new(),
            unread: Counts::default(),
            open: false,
            live: false,
            outbox: VecDeque::new(),
            broken_reads: 0,
        }
    }

    fn url(&self) -> String {
        match self.dialect {
            Dialect::Ntfy => format!("wss://{}/alerts", self.host),
            Dialect::Gotify => format!("wss://{}", self.host),
            _ => format!("wss://{}/v1/stream", self.host),
        }
    }

    fn kind_of(&self, k: usize) -> Kind {
        match self.dialect {
            Dialect::Ntfy | Dialect::Gotify => Kind::Message,
            _ => [Kind::Like, Kind::Dislike, Kind::Reply][k % 3],
        }
    }

    fn event(&self, i: usize) -> String {
        let (title, kind) = &self.log[i];
        match self.dialect {
            Dialect::Ntfy => serde_json::json!({
                "id": format!("m{}", i + 1),
                "time": NTFY_T0 + i as u64,
                "event": "message",
                "topic": "alerts",
                "message": title,
            })
            .to_string(),
            Dialect::Gotify => serde_json::json!({
                "id": i + 1,
                "appid": 1,
                "message": title,
                "title": "Backup",
                "priority": 5,
                "date": "2026-12-04T12:00:00Z",
            })
            .to_string(),
            _ => ServerMsg::Event(Event {
                seq: i as u64 + 1,
                kind: *kind,
                actor: "someone".into(),
                target: Target {
                    title: title.clone(),
                    url: format!("https://{}/p/{i}", self.host),
                },
                time: 1_800_000_000_000 + i as i64,
                message: None,
            })
            .encode(),
        }
    }

    /// A link was accepted; `since` is ntfy's cursor from the dialled URL.
    fn on_open(&mut self, since: Option<String>) {
        self.open = true;
        self.live = false;
        match self.dialect {
            // Gotify's stream carries live messages only; what was missed
            // is read back through its message list.
            Dialect::Gotify => self.live = true,
            Dialect::Ntfy => {
                // The server's time now: the next message gets it.
                let now = NTFY_T0 + self.log.len() as u64;
                self.outbox.push_back(format!(
                    r#"{{"id":"o1","time":{now},"event":"open","topic":"alerts"}}"#
                ));
                // No `since`: nothing old. A unix time: what was published
                // from then on. An id: what came after it.
                let after = match since {
                    None => self.log.len(),
                    Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => {
                        let t: u64 = s.parse().unwrap_or(0);
                        (t.saturating_sub(NTFY_T0) as usize).min(self.log.len())
                    }
                    Some(id) => self
                        .log
                        .iter()
                        .enumerate()
                        .position(|(i, _)| format!("m{}", i + 1) == id)
                        .map_or(0, |at| at + 1),
                };
                for i in after..self.log.len() {
                    let e = self.event(i);
                    self.outbox.push_back(e);
                }
                self.live = true;
            }
            _ => self.outbox.push_back(
                ServerMsg::Welcome {
                    version: 1,
                    epoch: "e1".into(),
                    account: None,
                }
                .encode(),
            ),
        }
    }

    /// Gotify's HTTP side: the applications, and the message list,
    /// newest first, `since` keeping ids below it.
    fn fetch(&mut self, path: &str) -> Fetched {
        if path == "/application" {
            return Ok(Reply::new(200, r#"[{"id":1,"name":"Backups"}]"#));
        }
        if self.broken_reads > 0 {
            self.broken_reads -= 1;
            return match self.broken_reads % 3 {
                0 => Ok(Reply::new(200, "<html>502 Bad Gateway</html>")),
                1 => Ok(Reply::new(200, r#"{"messages":[{"id":"#)),
                _ => Err("connection reset".into()),
            };
        }
        let query: HashMap<String, String> = path
            .split_once('?')
            .map(|(_, q)| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let limit: usize = query
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(100);
        let since: usize = query.get("since").and_then(|l| l.parse().ok()).unwrap_or(0);
        let below = if since == 0 {
            self.log.len()
        } else {
            (since - 1).min(self.log.len())
        };
        let messages: Vec<serde_json::Value> = (0..below)
            .rev()
            .take(limit)
            .map(|i| serde_json::from_str(&self.event(i)).expect("json"))
            .collect();
        Ok(Reply::new(200, serde_json::json!({"messages": messages, "paging": {"size": messages.len(), "limit": limit}}).to_string()))
    }

    fn on_client(&mut self, text: &str) {
        if matches!(self.dialect, Dialect::Ntfy | Dialect::Gotify) {
            return;
        }
        match ClientMsg::parse(text) {
            Ok(ClientMsg::Hello { last_seq }) => {
                for i in (last_seq as usize).min(self.log.len())..self.log.len() {
                    let e = self.event(i);
                    self.outbox.push_back(e);
                }
                self.outbox.push_back(
                    ServerMsg::Synced {
                        last_seq: self.log.len() as u64,
                    }
                    .encode(),
                );
                self.outbox
                    .push_back(ServerMsg::Counts(self.unread).encode());
                self.live = true;
            }
            Ok(ClientMsg::Read { kind }) => {
                match kind {
                    Some(k) => *self.unread.get_mut(k) = 0,
                    None => self.unread = Counts::default(),
                }
                self.outbox
                    .push_back(ServerMsg::Counts(self.unread).encode());
            }
            Ok(ClientMsg::Ping) => self.outbox.push_back(ServerMsg::Pong.encode()),
            _ => {}
        }
    }

    fn publish(&mut self, k: usize, source: usize) {
        let kind = self.kind_of(k);
        let title = format!("source {source} event {}", self.log.len() + 1);
        self.log.push((title, kind));
        *self.unread.get_mut(kind) += 1;
        if self.open && self.live {
            let e = self.event(self.log.len() - 1);
            self.outbox.push_back(e);
            if self.dialect == Dialect::Native {
                self.outbox
                    .push_back(ServerMsg::Counts(self.unread).encode());
            }
        }
    }

    fn read_elsewhere(&mut self, k: usize) {
        if self.dialect != Dialect::Native {
            return;
        }
        *self.unread.get_mut(self.kind_of(k)) = 0;
        if self.open && self.live {
            self.outbox
                .push_back(ServerMsg::Counts(self.unread).encode());
        }
    }
}

// ---------------------------------------------------------------- the app

struct Source {
    id: String,
    profile: ServerProfile,
    sup: Supervisor,
    link: Option<LinkId>,
}

struct World {
    dialect: Dialect,
    t0: Instant,
    now: Instant,
    wall: Timestamp,
    servers: Vec<Server>,
    sources: Vec<Source>,
    /// The coordinator's order (indices into `sources`).
    order: Vec<usize>,
    coord: Coordinator,
    store: Store,
    /// Store answers: how often each (source, title) came back as new.
    fresh: HashMap<(String, String), u32>,
    seed: u64,
}

fn profile(dialect: Dialect, server: &Server) -> ServerProfile {
    let mut p = ServerProfile::for_dialect(&server.url(), dialect).expect("profile");
    p.auth = Auth::Bearer(Secret::new(server.token.clone()));
    p
}

impl World {
    fn new(dialect: Dialect) -> World {
        let servers: Vec<Server> = (0..SOURCES).map(|n| Server::new(dialect, n)).collect();
        let t0 = Instant::now();
        let mut w = World {
            dialect,
            t0,
            now: t0,
            wall: "2026-12-04T12:00:00Z".parse().expect("time"),
            servers,
            sources: Vec::new(),
            order: (0..SOURCES).collect(),
            coord: Coordinator::default(),
            store: Store::in_memory().expect("store"),
            fresh: HashMap::new(),
            seed: 1,
        };
        w.start_app();
        w
    }

    fn clock(&self) -> Now {
        Now {
            mono: self.now,
            wall: self.wall,
            weekday: 5,
            minute: 600,
        }
    }

    /// The app starts (again): every source resumes from the store.
    fn start_app(&mut self) {
        self.sources.clear();
        self.coord = Coordinator::default();
        for n in 0..SOURCES {
            let source = self.source(n);
            self.sources.push(source);
        }
        let slots = self
            .order
            .clone()
            .into_iter()
            .map(|n| SourceSlot::New(Box::new(self.config(n))))
            .collect();
        let now = self.clock();
        self.coord.set_sources(&now, slots);
        for s in &mut self.sources {
            s.sup.handle_start(self.now);
        }
    }

    fn source(&mut self, n: usize) -> Source {
        let id = format!("src{n}");
        let profile = profile(self.dialect, &self.servers[n]);
        let resume = self
            .store
            .resume_or(&id, &profile.resume_key(), &[])
            .expect("resume");
        let config = Config {
            dialect: self.dialect,
            heartbeat: if chime_engine::dialect::protocol(self.dialect).server_pings {
                chime_engine::Heartbeat::SERVER_PINGS
            } else {
                chime_engine::Heartbeat::default()
            },
            ..Config::default()
        };
        self.seed += 1;
        Source {
            id,
            profile,
            sup: Supervisor::new(config, resume, Jitter::seeded(self.seed)),
            link: None,
        }
    }

    fn config(&self, n: usize) -> SourceConfig {
        let s = &self.sources[n];
        SourceConfig {
            id: s.id.clone(),
            name: s.id.clone(),
            host: s.profile.host_label(),
            site: None,
            dialect: self.dialect,
            toasts: Toasts::default(),
            muted: false,
            forget_read: false,
            resume: s.sup.inbox().state().clone(),
        }
    }

    /// The app quits: what it has is stored, its links go.
    fn quit(&mut self) {
        self.coord.flush();
        self.effects();
        for (n, s) in self.sources.iter_mut().enumerate() {
            s.link = None;
            self.servers[n].open = false;
            self.servers[n].outbox.clear();
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Publish { source, kind } => self.servers[source].publish(kind, source),
            Op::Outage { source } => {
                let server = &mut self.servers[source];
                server.up = false;
                server.open = false;
                server.outbox.clear();
                if let Some(id) = self.sources[source].link.take() {
                    let now = self.now;
                    self.sources[source].sup.handle_link_end(
                        now,
                        id,
                        LinkEnd::Dropped("reset".into()),
                    );
                }
            }
            Op::Heal { source } => self.servers[source].up = true,
            Op::Garbage { source } => {
                self.servers[source].broken_reads = 2;
                if let Some(id) = self.sources[source].link {
                    let now = self.now;
                    let sup = &mut self.sources[source].sup;
                    for junk in [
                        "{\"type\":",
                        "\u{1b}[31mnot json",
                        "{\"type\":\"event\",\"event\":\"message\",\"id\":-1,\"seq\":-1}",
                        "[]",
                    ] {
                        sup.handle_frame(now, id, Frame::Text(junk.into()));
                    }
                }
            }
            Op::Renew { source } => {
                // The user pastes the renewed credential: Settings saves,
                // the source reconnects with it, resuming from the store.
                let server = &mut self.servers[source];
                let next = server
                    .token
                    .rsplit('-')
                    .next()
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
                    + 1;
                server.token = format!("token-{source}-{next}");
                self.coord.flush();
                self.effects();
                if self.sources[source].link.take().is_some() {
                    self.servers[source].open = false;
                    self.servers[source].outbox.clear();
                }
                self.sources[source] = self.source(source);
                let slots = self
                    .order
                    .clone()
                    .into_iter()
                    .map(|n| {
                        if n == source {
                            SourceSlot::New(Box::new(self.config(n)))
                        } else {
                            SourceSlot::Keep {
                                id: self.sources[n].id.clone(),
                                name: self.sources[n].id.clone(),
                            }
                        }
                    })
                    .collect();
                let now = self.clock();
                self.coord.set_sources(&now, slots);
                self.sources[source].sup.handle_start(self.now);
            }
            Op::Restart => {
                self.quit();
                self.start_app();
            }
            Op::Reorder => {
                self.order.reverse();
                let slots = self
                    .order
                    .iter()
                    .map(|&n| SourceSlot::Keep {
                        id: self.sources[n].id.clone(),
                        name: self.sources[n].id.clone(),
                    })
                    .collect();
                let now = self.clock();
                let gone = self.coord.set_sources(&now, slots);
                assert!(gone.is_empty());
            }
            Op::ReadElsewhere { source, kind } => self.servers[source].read_elsewhere(kind),
            Op::MarkReadHere { source, kind } => {
                let kind = self.servers[source].kind_of(kind);
                let id = self.sources[source].id.clone();
                self.coord.mark_read(Some(&id), Some(kind));
            }
        }
        self.settle();
    }

    /// Run everything that is due, then let time pass until every source
    /// whose server is up has its link (bounded).
    fn settle(&mut self) {
        for _ in 0..400 {
            let busy = self.step();
            if busy {
                continue;
            }
            let waiting =
                (0..SOURCES).any(|n| self.servers[n].up && self.sources[n].link.is_none());
            if !waiting {
                return;
            }
            // Let time pass to the next timer (a backoff, a dial timeout).
            let next = self
                .sources
                .iter()
                .filter_map(|s| s.sup.poll_timeout())
                .min();
            let Some(next) = next else { return };
            if next > self.now {
                self.wall = self
                    .wall
                    .checked_add(jiff::SignedDuration::try_from(next - self.now).expect("span"))
                    .expect("wall");
                self.now = next;
            }
            let now = self.now;
            for s in &mut self.sources {
                s.sup.handle_timeout(now);
            }
        }
        panic!("the world never settled");
    }

    /// One round of actions, frames, outputs and effects; whether anything
    /// happened.
    fn step(&mut self) -> bool {
        let mut busy = false;
        let now = self.now;
        for n in 0..SOURCES {
            while let Some(action) = self.sources[n].sup.poll_action() {
                busy = true;
                self.action(n, action);
            }
            if let Some(id) = self.sources[n].link {
                while let Some(text) = self.servers[n].outbox.pop_front() {
                    busy = true;
                    self.sources[n].sup.handle_frame(now, id, Frame::Text(text));
                    while let Some(action) = self.sources[n].sup.poll_action() {
                        self.action(n, action);
                    }
                }
            }
            let id = self.sources[n].id.clone();
            while let Some(out) = self.sources[n].sup.poll_event() {
                busy = true;
                let clock = self.clock();
                self.coord.handle_output(&clock, &id, out);
            }
        }
        self.coord.flush();
        busy |= self.effects();
        busy
    }

    fn action(&mut self, n: usize, action: Action) {
        let now = self.now;
        match action {
            Action::Dial(id) => {
                let state = self.sources[n].sup.inbox().state().clone();
                let ep = chime_engine::dialect::endpoint(&self.sources[n].profile, &state)
                    .expect("endpoint");
                // No secret of another source ever goes to this host.
                let host = ep.url.host_str().unwrap_or_default().to_owned();
                let wire = format!(
                    "{} {:?}",
                    ep.url,
                    ep.headers
                        .iter()
                        .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned())
                        .collect::<Vec<_>>()
                );
                for (m, other) in self.servers.iter().enumerate() {
                    if m != n {
                        assert!(
                            !wire.contains(&other.token),
                            "{}'s token went to {host}",
                            other.host
                        );
                    }
                }
                assert_eq!(host, self.servers[n].host);
                let server = &mut self.servers[n];
                let sup = &mut self.sources[n].sup;
                if !server.up {
                    sup.handle_dial_failed(
                        now,
                        id,
                        DialError::Network("connection refused".into()),
                    );
                } else if !wire.contains(&server.token) {
                    sup.handle_dial_failed(
                        now,
                        id,
                        DialError::Http {
                            status: 401,
                            message: "unauthorized".into(),
                        },
                    );
                } else {
                    let since = ep
                        .url
                        .query_pairs()
                        .find(|(k, _)| k == "since")
                        .map(|(_, v)| v.into_owned());
                    self.sources[n].link = Some(id);
                    server.on_open(since);
                    self.sources[n].sup.handle_open(now, id);
                }
            }
            Action::Send(_, text) => self.servers[n].on_client(&text),
            Action::Close(id, ..) => {
                if self.sources[n].link == Some(id) {
                    self.sources[n].link = None;
                    self.servers[n].open = false;
                    self.servers[n].outbox.clear();
                }
            }
            Action::Ping(id) => {
                if self.sources[n].link == Some(id) {
                    self.sources[n].sup.handle_frame(now, id, Frame::Control);
                }
            }
            Action::Fetch(id, path) => {
                let result = if self.servers[n].up && self.sources[n].link == Some(id) {
                    self.servers[n].fetch(&path)
                } else {
                    Err("connection refused".into())
                };
                self.sources[n].sup.handle_fetched(now, id, &path, result);
            }
            Action::Delete(id, path) => {
                self.sources[n].sup.handle_fetched(
                    now,
                    id,
                    &path,
                    Ok(Reply::new(200, String::new())),
                );
            }
            // No dialect of the model posts.
            Action::Post(..) => unreachable!("the model's dialects post nothing"),
            Action::AbortDial(_) => {}
        }
    }

    /// Carry out the coordinator's effects as the controller does.
    fn effects(&mut self) -> bool {
        let mut any = false;
        while let Some(effect) = self.coord.poll_effect() {
            any = true;
            match effect {
                Effect::Store {
                    source,
                    items,
                    state,
                } => {
                    let fresh = self
                        .store
                        .record(&source, &items, &state, 1_800_000_000_000)
                        .expect("record");
                    for item in &fresh {
                        if let NewItem::Event(e) = item {
                            // What the event says: a site event's title, a
                            // push message's text.
                            let said = match &e.message {
                                Some(m) => m.body.clone(),
                                None => e.target.title.clone(),
                            };
                            *self.fresh.entry((source.clone(), said)).or_default() += 1;
                        }
                    }
                    let clock = self.clock();
                    self.coord
                        .handle_stored(&clock, &source, Stored::Fresh(fresh));
                }
                Effect::MarkRowsRead { source, kind } => {
                    self.store
                        .mark_kind_read(source.as_deref(), kind)
                        .expect("mark");
                }
                Effect::Link { source, command } => {
                    for s in &mut self.sources {
                        if source.as_deref().is_none_or(|id| id == s.id) {
                            match command {
                                Command::MarkRead(k) => s.sup.handle_mark_read(k),
                                Command::ReadOne(k) => s.sup.handle_read_one(k),
                                _ => {}
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        any
    }

    /// Every published event stored exactly once; none new twice.
    fn check(&mut self) {
        for n in 0..SOURCES {
            self.servers[n].up = true;
        }
        self.settle();
        // Let the links run a few minutes (heartbeats, acks, a read-back
        // that broke off tried again) and settle each time.
        for _ in 0..6 {
            self.now += Duration::from_secs(50);
            self.wall = self
                .wall
                .checked_add(jiff::SignedDuration::from_secs(50))
                .expect("wall");
            let now = self.now;
            for s in &mut self.sources {
                s.sup.handle_timeout(now);
            }
            self.settle();
        }
        for (n, server) in self.servers.iter().enumerate() {
            let id = format!("src{n}");
            let rows = self
                .store
                .list(
                    &chime_store::Filter {
                        source: Some(&id),
                        kind: None,
                        text: None,
                    },
                    10_000,
                )
                .expect("list");
            for (title, _) in &server.log {
                let stored = rows
                    .iter()
                    .filter(|r| r.title == *title || r.body == *title)
                    .count();
                assert_eq!(stored, 1, "{title}: stored {stored} times");
                let fresh = self
                    .fresh
                    .get(&(id.clone(), title.clone()))
                    .copied()
                    .unwrap_or(0);
                assert_eq!(fresh, 1, "{title}: new to the store {fresh} times");
            }
            assert_eq!(
                rows.len(),
                server.log.len(),
                "no row that was never published"
            );
        }
        let _ = self.t0;
    }
}

fn run(dialect: Dialect, ops: &[Op]) {
    let mut w = World::new(dialect);
    w.settle();
    for op in ops {
        w.apply(op);
    }
    w.check();
}

proptest! {
    // 128 sequences per dialect in `make test`; `make fuzz` runs many more
    // (CHIME_MODEL_CASES).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("CHIME_MODEL_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(128)
    ))]

    #[test]
    fn native_sources_store_every_event_once_whatever_happens(ops in prop::collection::vec(op(), 1..40)) {
        run(Dialect::Native, &ops);
    }

    #[test]
    fn ntfy_sources_store_every_message_once_whatever_happens(ops in prop::collection::vec(op(), 1..40)) {
        run(Dialect::Ntfy, &ops);
    }

    #[test]
    fn gotify_sources_store_every_message_once_whatever_happens(ops in prop::collection::vec(op(), 1..40)) {
        run(Dialect::Gotify, &ops);
    }
}

#[test]
fn the_oracle_catches_a_lost_event() {
    // The check above must be able to fail: an event the server has but the
    // client never gets is found.
    let result = std::panic::catch_unwind(|| {
        let mut w = World::new(Dialect::Native);
        w.settle();
        w.apply(&Op::Publish { source: 0, kind: 0 });
        // The row is lost after the client moved past it.
        w.store.remove_source("src0").expect("remove");
        w.check();
    });
    assert!(result.is_err());
}
