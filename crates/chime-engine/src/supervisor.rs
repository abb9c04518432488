//! The connection supervisor: a sans-IO state machine.
//!
//! It owns no socket and no timer. The driver feeds it with `handle_*(now, …)`
//! and drains it with [`Supervisor::poll_action`] (what to do to the link),
//! [`Supervisor::poll_event`] (what to tell observers) and
//! [`Supervisor::poll_timeout`] (when to call [`Supervisor::handle_timeout`]).
//! Every input carries the [`LinkId`] of the dial it belongs to, so late news
//! from a link that was already given up is ignored.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::dialect::{self, Effects, Session};
use crate::inbox::{Inbox, InboxState};
use crate::policy::{Backoff, Heartbeat, Jitter};
use crate::protocol::{Dialect, Kind};

/// Tuning of the supervisor. `Default` is what users get.
#[derive(Debug, Clone)]
pub struct Config {
    pub dialect: Dialect,
    pub heartbeat: Heartbeat,
    pub backoff: Backoff,
    pub slow_backoff: Backoff,
    pub try_later: Backoff,
    /// TCP + TLS + WebSocket upgrade must finish within this.
    pub connect_timeout: Duration,
    /// The backoff resets only after the link has stayed up this long.
    pub stable_after: Duration,
    /// The slow (sign-in) schedule resets only after a link stayed up this
    /// long: a server that accepts the upgrade and then refuses the session
    /// (close 4001/4003/1008) climbs it as an HTTP 401 does.
    pub trusted_after: Duration,
    /// Restart closes (1012) in a row that come back at once; after these,
    /// a server that restarts every link right away gets growing delays.
    pub quick_restarts: u32,
    /// The server's web origin (`https://host`), for the pages a session
    /// links to.
    pub origin: Option<url::Url>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dialect: Dialect::Auto,
            heartbeat: Heartbeat::default(),
            backoff: Backoff::RECONNECT,
            slow_backoff: Backoff::SLOW,
            try_later: Backoff::TRY_LATER,
            connect_timeout: Duration::from_secs(10),
            stable_after: Duration::from_secs(5),
            trusted_after: Duration::from_secs(60),
            quick_restarts: 3,
            origin: None,
        }
    }
}

pub use crate::events::{
    Action, ConnState, DialError, Fetched, Frame, LinkEnd, LinkId, Output, Reply,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Should heal on its own: normal backoff.
    Transient,
    /// The server is restarting (1012): come back at once.
    Restart,
    /// The server is overloaded (1013, 429): come back later.
    TryLater,
    Auth,
    Misconfig,
}

#[derive(Debug)]
enum Link {
    Idle,
    Waiting {
        retry_at: Instant,
    },
    Dialing {
        id: LinkId,
        deadline: Instant,
    },
    Open {
        id: LinkId,
        /// What the link's dialect makes of frames (see [`crate::dialect`]).
        session: Box<dyn Session>,
        opened_at: Instant,
        last_recv: Instant,
        next_ping: Instant,
        stable_at: Option<Instant>,
    },
    /// Paused or offline: no timers unless `retry_at` (offline keeps a slow
    /// probe in case the OS is wrong).
    Parked {
        retry_at: Option<Instant>,
    },
}

/// The sans-IO connection supervisor.
#[derive(Debug)]
pub struct Supervisor {
    config: Config,
    jitter: Jitter,
    link: Link,
    next_id: u64,
    /// Failed attempts since the last stable link.
    attempt: u32,
    /// Failed attempts that needed a person (auth, config).
    slow_attempt: u32,
    try_later_attempt: u32,
    /// Restart closes (1012) since the last stable link.
    restart_rounds: u32,
    state: ConnState,
    inbox: Inbox,
    actions: VecDeque<Action>,
    outputs: VecDeque<Output>,
}

impl Supervisor {
    pub fn new(config: Config, inbox: InboxState, jitter: Jitter) -> Supervisor {
        Supervisor {
            config,
            jitter,
            link: Link::Idle,
            next_id: 0,
            attempt: 0,
            slow_attempt: 0,
            try_later_attempt: 0,
            restart_rounds: 0,
            state: ConnState::Idle,
            inbox: Inbox::new(inbox),
            actions: VecDeque::new(),
            outputs: VecDeque::new(),
        }
    }

    pub fn state(&self) -> &ConnState {
        &self.state
    }

    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next instant at which `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.link {
            Link::Idle => None,
            Link::Waiting { retry_at } => Some(*retry_at),
            Link::Dialing { deadline, .. } => Some(*deadline),
            Link::Open {
                last_recv,
                next_ping,
                stable_at,
                ..
            } => {
                let dead = *last_recv + self.config.heartbeat.dead_after();
                let t = dead.min(*next_ping);
                Some(stable_at.map_or(t, |s| s.min(t)))
            }
            Link::Parked { retry_at } => *retry_at,
        }
    }

    /// Start (or restart after a pause): dial at once.
    pub fn handle_start(&mut self, now: Instant) {
        self.attempt = 0;
        self.slow_attempt = 0;
        self.try_later_attempt = 0;
        self.restart_rounds = 0;
        self.drop_link();
        self.dial(now);
    }

    /// "Reconnect now": the user asked, the OS resumed from sleep, or the
    /// network came back. Tear down whatever link there is (after sleep it is
    /// probably dead) and dial at once with a fresh backoff.
    pub fn handle_reconnect_now(&mut self, now: Instant) {
        self.handle_start(now);
    }

    /// The OS reports that the network is up again.
    pub fn handle_network_up(&mut self, now: Instant) {
        match &self.link {
            // A live link may have survived (another interface): probe it.
            Link::Open { id, session, .. } => {
                let probe = match session.probe() {
                    Some(text) => Action::Send(*id, text),
                    None => Action::Ping(*id),
                };
                self.actions.push_back(probe);
            }
            Link::Parked { .. } if self.state == ConnState::Paused => {}
            _ => self.handle_start(now),
        }
    }

    /// The OS reports that there is no network: stop dialing into the void,
    /// but keep a slow probe in case the OS is wrong (loopback servers).
    pub fn handle_network_down(&mut self, now: Instant) {
        if self.state == ConnState::Paused {
            return;
        }
        self.drop_link();
        self.link = Link::Parked {
            retry_at: Some(now + self.config.backoff.cap),
        };
        self.set_state(ConnState::Offline);
    }

    /// The user paused the link.
    pub fn handle_pause(&mut self) {
        self.drop_link();
        self.link = Link::Parked { retry_at: None };
        self.set_state(ConnState::Paused);
    }

    /// The user (or the app) marked items read. A native server is told
    /// now if the link is ready, else on the next link: what the user did
    /// survives an outage and a restart (the state carries it).
    pub fn handle_mark_read(&mut self, kind: Option<Kind>) {
        let before = self.inbox.state().clone();
        let tellable = match &self.link {
            Link::Open { session, .. } => session.tells_reads(),
            _ => dialect::protocol(self.config.dialect).tells_reads,
        };
        if self.inbox.mark_read(kind, tellable) {
            self.outputs.push_back(Output::Counts(self.inbox.unread()));
        }
        if let Link::Open { id, session, .. } = &mut self.link {
            let mut fx = Effects::default();
            session.on_reads_owed(&self.inbox, &mut fx);
            let id = *id;
            self.apply(id, fx);
        }
        self.saved_if_changed(&before);
    }

    /// Shut down: close the link cleanly and stop all timers.
    pub fn handle_shutdown(&mut self) {
        if let Link::Open { id, .. } = self.link {
            self.actions.push_back(Action::Close(id, 1000, "bye"));
            self.link = Link::Idle;
        } else {
            self.drop_link();
        }
    }

    pub fn handle_open(&mut self, now: Instant, id: LinkId) {
        let Link::Dialing { id: current, .. } = self.link else {
            return;
        };
        if current != id {
            return;
        }
        let mut session = dialect::open(self.config.dialect, self.config.origin.as_ref());
        let dialect = session.dialect();
        let before = self.inbox.state().clone();
        let mut fx = Effects::default();
        session.on_open(&mut self.inbox, &mut fx);
        self.link = Link::Open {
            id,
            session,
            opened_at: now,
            last_recv: now,
            next_ping: now + self.config.heartbeat.interval,
            stable_at: Some(now + self.config.stable_after),
        };
        // Not the slow (sign-in) schedule: an accepted upgrade proves
        // nothing until the session has lasted (see `trusted_after`).
        self.set_state(ConnState::Connected { dialect });
        self.apply(id, fx);
        self.saved_if_changed(&before);
    }

    /// A fetch the session asked for (see [`Action::Fetch`]) came back.
    pub fn handle_fetched(&mut self, _now: Instant, id: LinkId, path: &str, result: Fetched) {
        let Link::Open {
            id: current,
            ref mut session,
            ..
        } = self.link
        else {
            return;
        };
        if current != id {
            return;
        }
        let before = self.inbox.state().clone();
        let mut fx = Effects::default();
        session.on_fetched(path, result, &mut self.inbox, &mut fx);
        self.apply(id, fx);
        self.saved_if_changed(&before);
    }

    /// Messages read here (by their server ids) are to be deleted on the
    /// server, for dialects that can ([`Dialect::forgets_read`]): now if
    /// the link is up, else on the next one (the state keeps them).
    pub fn handle_forget(&mut self, ids: Vec<String>) {
        if !dialect::protocol(self.config.dialect).forgets_read {
            return;
        }
        let before = self.inbox.state().clone();
        self.inbox.owe_forget(ids);
        if let Link::Open { id, session, .. } = &mut self.link {
            let mut fx = Effects::default();
            session.on_forget(&mut self.inbox, &mut fx);
            let id = *id;
            self.apply(id, fx);
        }
        self.saved_if_changed(&before);
    }

    /// The user read one item here (a row of the inbox): counts kept here
    /// (push services) go down by one.
    pub fn handle_read_one(&mut self, kind: Kind) {
        let before = self.inbox.state().clone();
        if self.inbox.read_one(kind) {
            self.outputs.push_back(Output::Counts(self.inbox.unread()));
        }
        self.saved_if_changed(&before);
    }

    pub fn handle_dial_failed(&mut self, now: Instant, id: LinkId, error: DialError) {
        if !matches!(self.link, Link::Dialing { id: current, .. } if current == id) {
            return;
        }
        self.link = Link::Idle;
        let (class, reason) = classify_dial(&error);
        self.fail(now, class, reason);
    }

    pub fn handle_frame(&mut self, now: Instant, id: LinkId, frame: Frame) {
        let Link::Open {
            id: current,
            ref mut last_recv,
            ..
        } = self.link
        else {
            return;
        };
        if current != id {
            return;
        }
        *last_recv = now;
        match frame {
            Frame::Control => {}
            Frame::Binary(len) => self.notice(format!(
                "ignored a binary frame of {len} bytes from the server"
            )),
            Frame::Text(text) => self.handle_text(id, &text),
        }
    }

    pub fn handle_link_end(&mut self, now: Instant, id: LinkId, end: LinkEnd) {
        let Link::Open {
            id: current,
            opened_at,
            ..
        } = self.link
        else {
            return;
        };
        if current != id {
            return;
        }
        if now.saturating_duration_since(opened_at) >= self.config.trusted_after {
            self.slow_attempt = 0;
        }
        self.link = Link::Idle;
        let (class, reason) = classify_end(&end);
        self.fail(now, class, reason);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match self.link {
            Link::Waiting { retry_at } if now >= retry_at => self.dial(now),
            Link::Parked { retry_at: Some(at) } if now >= at => self.dial(now),
            Link::Dialing { id, deadline } if now >= deadline => {
                self.actions.push_back(Action::AbortDial(id));
                self.link = Link::Idle;
                let secs = self.config.connect_timeout.as_secs_f64();
                self.fail(
                    now,
                    Class::Transient,
                    format!("the server did not complete the handshake within {secs:.0} s"),
                );
            }
            Link::Open {
                id,
                ref mut session,
                last_recv,
                ref mut next_ping,
                ref mut stable_at,
                ..
            } => {
                let dead_after = self.config.heartbeat.dead_after();
                if now >= last_recv + dead_after {
                    self.actions
                        .push_back(Action::Close(id, 4000, "heartbeat timeout"));
                    self.link = Link::Idle;
                    let secs = dead_after.as_secs_f64();
                    self.fail(
                        now,
                        Class::Transient,
                        format!("no sign of life from the server for {secs:.0} s"),
                    );
                    return;
                }
                if stable_at.is_some_and(|s| now >= s) {
                    *stable_at = None;
                    self.attempt = 0;
                    self.try_later_attempt = 0;
                    self.restart_rounds = 0;
                }
                if now >= *next_ping {
                    *next_ping = now + self.config.heartbeat.interval;
                    let mut fx = Effects::default();
                    session.on_heartbeat(&self.inbox, &mut fx);
                    self.apply(id, fx);
                }
            }
            _ => {}
        }
    }

    fn handle_text(&mut self, id: LinkId, text: &str) {
        let Link::Open {
            ref mut session, ..
        } = self.link
        else {
            return;
        };
        let before = self.inbox.state().clone();
        let known = session.dialect();
        let mut fx = Effects::default();
        session.on_text(text, &mut self.inbox, &mut fx);
        // `auto` settles on the first message it recognises.
        let learnt = session.dialect().filter(|_| known.is_none());
        let tells_reads = session.tells_reads();
        if let Some(d) = learnt {
            if !tells_reads {
                // Seed servers cannot be told of reads.
                self.inbox.forget_unsent_reads();
            }
            self.set_state(ConnState::Connected { dialect: Some(d) });
        }
        self.apply(id, fx);
        self.saved_if_changed(&before);
    }

    /// What a session asked for: frames on link `id`, outputs to observers.
    fn apply(&mut self, id: LinkId, fx: Effects) {
        for text in fx.sends {
            self.actions.push_back(Action::Send(id, text));
        }
        for path in fx.fetches {
            self.actions.push_back(Action::Fetch(id, path));
        }
        for path in fx.deletes {
            self.actions.push_back(Action::Delete(id, path));
        }
        for (path, body) in fx.posts {
            self.actions.push_back(Action::Post(id, path, body));
        }
        for out in fx.outputs {
            match out {
                Output::Notice(n) => self.notice(n),
                other => self.outputs.push_back(other),
            }
        }
    }

    fn saved_if_changed(&mut self, before: &InboxState) {
        if self.inbox.state() != before {
            self.outputs
                .push_back(Output::Saved(Box::new(self.inbox.state().clone())));
        }
    }

    fn dial(&mut self, now: Instant) {
        self.next_id += 1;
        let id = LinkId(self.next_id);
        self.link = Link::Dialing {
            id,
            deadline: now + self.config.connect_timeout,
        };
        self.actions.push_back(Action::Dial(id));
        self.set_state(ConnState::Connecting {
            attempt: self.attempt,
        });
    }

    fn fail(&mut self, now: Instant, class: Class, reason: String) {
        let sample = self.jitter.sample();
        let (delay, state) = match class {
            Class::Transient => {
                let d = self.config.backoff.delay(self.attempt, sample);
                self.attempt = self.attempt.saturating_add(1);
                (d, None)
            }
            Class::Restart => {
                self.restart_rounds = self.restart_rounds.saturating_add(1);
                if self.restart_rounds <= self.config.quick_restarts {
                    self.attempt = 1;
                    (self.config.backoff.delay(0, sample), None)
                } else {
                    // Restarting every link is no restart: back off.
                    let d = self.config.backoff.delay(self.attempt, sample);
                    self.attempt = self.attempt.saturating_add(1);
                    (d, None)
                }
            }
            Class::TryLater => {
                let d = self.config.try_later.delay(self.try_later_attempt, sample);
                self.try_later_attempt = self.try_later_attempt.saturating_add(1);
                self.attempt = self.attempt.saturating_add(1);
                (d, None)
            }
            Class::Auth | Class::Misconfig => {
                let d = self.config.slow_backoff.delay(self.slow_attempt, sample);
                self.slow_attempt = self.slow_attempt.saturating_add(1);
                (d, Some(class))
            }
        };
        let retry_in_ms = delay.as_millis().min(u128::from(u64::MAX)) as u64;
        self.link = Link::Waiting {
            retry_at: now + delay,
        };
        self.set_state(match state {
            Some(Class::Auth) => ConnState::AuthFailed {
                retry_in_ms,
                reason,
            },
            Some(_) => ConnState::Misconfigured {
                retry_in_ms,
                reason,
            },
            None => ConnState::Waiting {
                retry_in_ms,
                attempt: self.attempt,
                reason,
            },
        });
    }

    fn drop_link(&mut self) {
        match self.link {
            Link::Dialing { id, .. } => self.actions.push_back(Action::AbortDial(id)),
            Link::Open { id, .. } => self.actions.push_back(Action::Close(id, 1000, "")),
            _ => {}
        }
        self.link = Link::Idle;
    }

    fn set_state(&mut self, state: ConnState) {
        if self.state != state {
            self.state = state.clone();
            self.outputs.push_back(Output::State(state));
        }
    }

    /// Notices quote the server (parser complaints, error frames): one
    /// cleaned, bounded line.
    fn notice(&mut self, message: String) {
        self.outputs
            .push_back(Output::Notice(chime_proto::text::sanitize(&message, 400)));
    }
}

pub fn classify_dial(error: &DialError) -> (Class, String) {
    match error {
        DialError::Http { status, message } => {
            let detail = if message.is_empty() {
                String::new()
            } else {
                format!(": {}", clean(message))
            };
            let class = match status {
                401 | 403 | 407 => Class::Auth,
                429 => Class::TryLater,
                500..=599 | 408 => Class::Transient,
                _ => Class::Misconfig,
            };
            let what = match class {
                Class::Auth => "the server refused the sign-in",
                Class::TryLater => "the server is busy",
                Class::Transient => "the server is unavailable",
                _ => match status {
                    404 => "no push endpoint at this address",
                    _ => "the server rejected the connection",
                },
            };
            (class, format!("{what} (HTTP {status}){detail}"))
        }
        DialError::Network(e) => (
            Class::Transient,
            format!("cannot reach the server: {}", clean(e)),
        ),
        DialError::Tls(e) => (
            Class::Misconfig,
            format!("secure connection failed: {}{}", clean(e), tls_hint(e)),
        ),
        DialError::BadRequest(e) => (
            Class::Misconfig,
            format!("bad server address: {}", clean(e)),
        ),
        DialError::Protocol(e) => (
            Class::Misconfig,
            format!(
                "the server did not accept a WebSocket connection: {}",
                clean(e)
            ),
        ),
    }
}

fn classify_end(end: &LinkEnd) -> (Class, String) {
    match end {
        LinkEnd::Close(code, reason) => {
            let why = if reason.is_empty() {
                String::new()
            } else {
                format!(": {}", clean(reason))
            };
            let class = match code {
                1012 => Class::Restart,
                1013 => Class::TryLater,
                1008 | 4001 | 4003 => Class::Auth,
                _ => Class::Transient,
            };
            let what = match class {
                Class::Restart => "the server is restarting",
                Class::TryLater => "the server asked to try again later",
                Class::Auth => "the server ended the session (sign-in refused)",
                _ => "the server closed the connection",
            };
            (class, format!("{what} (code {code}){why}"))
        }
        LinkEnd::Dropped(e) => (
            Class::Transient,
            format!("the connection was lost: {}", clean(e)),
        ),
        LinkEnd::Violation(e) => (
            Class::Transient,
            format!("the server broke the protocol: {}", clean(e)),
        ),
    }
}

/// Server-supplied text in a status line: one line, no control or bidi
/// characters, bounded (the one sanitizer, [`chime_proto::text::sanitize`]).
pub fn clean(s: &str) -> String {
    chime_proto::text::sanitize(s, 160)
}

/// What a user can do about a TLS failure, after rustls' own words.
fn tls_hint(e: &str) -> &'static str {
    const HINTS: &[(&str, &str)] = &[
        (
            "UnknownIssuer",
            " (its authority is not trusted here: add the CA to the system's \
             certificates, or give it as the source's CA file)",
        ),
        (
            "NotValidForName",
            " (the certificate is for another name than the address)",
        ),
        ("Expired", " (the certificate has expired)"),
        (
            "NotValidYet",
            " (the certificate is not valid yet: check the clock)",
        ),
        (
            "corrupt message",
            " (no TLS at this address: is it ws:// or http://?)",
        ),
    ];
    HINTS
        .iter()
        .find(|(key, _)| e.contains(key))
        .map_or("", |(_, hint)| hint)
}

#[cfg(test)]
mod tls_hints {
    #[test]
    fn tls_failures_say_what_to_do_and_unknown_ones_add_nothing() {
        for (rustls_says, hint) in [
            ("invalid peer certificate: UnknownIssuer", "CA file"),
            ("invalid peer certificate: NotValidForName", "another name"),
            ("invalid peer certificate: Expired", "expired"),
            ("invalid peer certificate: NotValidYet", "clock"),
            (
                "received corrupt message of type InvalidContentType",
                "no TLS",
            ),
        ] {
            assert!(super::tls_hint(rustls_says).contains(hint), "{rustls_says}");
        }
        assert_eq!(super::tls_hint("handshake failure"), "");
    }
}
