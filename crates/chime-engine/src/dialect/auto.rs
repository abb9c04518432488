//! `auto`: the dialect is the one of the first frame the session
//! recognises (a seed snapshot, or any native message but `error` and
//! unknown types); until then it heartbeats as seed servers expect.

use super::native::Native;
use super::seed::Seed;
use super::{dialect_of, explain, malformed, Effects, Protocol, Session};
use crate::inbox::Inbox;
use crate::protocol::{ClientMsg, Dialect, Kind, ServerMsg};

/// A site's push server of either kind: decided by its first frame.
pub const PROTOCOL: Protocol = Protocol {
    dialect: Dialect::Auto,
    title: "Detect automatically",
    short: "detected",
    kinds: &[Kind::Like, Kind::Dislike, Kind::Reply],
    tells_reads: true,
    forgets_read: false,
    server_pings: false,
    web_address: false,
    // Seed servers cut a client that stayed silent for 60 s.
    at_root: false,
    silent_limit_secs: Some(60),
    url_example: "wss://example.com/v1/stream",
    url_hint: "The address of the site's push server (ws:// or wss://).",
    token_hint: "Paste the token",
    open: |_| Box::new(Auto::default()),
    endpoint: super::standard_endpoint,
    read_token: super::token_as_typed,
    discover: &[],
    stream_at: super::stream_here,
    sign_in: None,
};

#[derive(Debug, Default)]
pub struct Auto {
    learnt: Option<Learnt>,
}

#[derive(Debug)]
enum Learnt {
    Seed(Seed),
    Native(Native),
}

impl Auto {
    fn inner(&mut self) -> Option<&mut dyn Session> {
        match &mut self.learnt {
            Some(Learnt::Seed(s)) => Some(s),
            Some(Learnt::Native(n)) => Some(n),
            None => None,
        }
    }
}

impl Session for Auto {
    fn dialect(&self) -> Option<Dialect> {
        match self.learnt {
            Some(Learnt::Seed(_)) => Some(Dialect::Seed),
            Some(Learnt::Native(_)) => Some(Dialect::Native),
            None => None,
        }
    }

    fn on_text(&mut self, text: &str, inbox: &mut Inbox, fx: &mut Effects) {
        if let Some(inner) = self.inner() {
            return inner.on_text(text, inbox, fx);
        }
        let msg = match ServerMsg::parse(Dialect::Auto, text) {
            Ok(msg) => msg,
            Err(e) => return malformed(fx, &e),
        };
        match dialect_of(&msg) {
            Some(Dialect::Seed) => {
                let mut seed = Seed::default();
                seed.on_msg(msg, inbox, fx);
                self.learnt = Some(Learnt::Seed(seed));
            }
            Some(_) => {
                let mut native = Native::default();
                native.on_msg(msg, inbox, fx);
                self.learnt = Some(Learnt::Native(native));
            }
            None => explain(fx, &msg),
        }
    }

    fn on_heartbeat(&mut self, inbox: &Inbox, fx: &mut Effects) {
        match self.inner() {
            Some(inner) => inner.on_heartbeat(inbox, fx),
            None => fx.send(ClientMsg::SeedHeartbeat.encode()),
        }
    }

    fn probe(&self) -> Option<String> {
        match &self.learnt {
            Some(Learnt::Seed(s)) => s.probe(),
            Some(Learnt::Native(n)) => n.probe(),
            // Seed servers cut a silent client; native ones ignore it.
            None => Some(ClientMsg::SeedHeartbeat.encode()),
        }
    }

    fn tells_reads(&self) -> bool {
        !matches!(self.learnt, Some(Learnt::Seed(_)))
    }

    fn on_reads_owed(&mut self, inbox: &Inbox, fx: &mut Effects) {
        if let Some(inner) = self.inner() {
            inner.on_reads_owed(inbox, fx);
        }
    }
}
