//! The seed dialect: what existing sites run (`/pushMsg`). The server sends
//! unread totals; a rise is announced, a fall is "read elsewhere"; the
//! client sends `heartCheck` and cannot tell the server anything else.

use super::{explain, malformed, report_counts, Effects, Protocol, Session};
use crate::inbox::Inbox;
use crate::protocol::{ClientMsg, Dialect, Kind, ServerMsg};

/// The counters socket many sites already run: totals in, `heartCheck` out.
pub const PROTOCOL: Protocol = Protocol {
    dialect: Dialect::Seed,
    title: "Counters only",
    short: "counters only",
    kinds: &[Kind::Like, Kind::Dislike, Kind::Reply],
    tells_reads: false,
    forgets_read: false,
    server_pings: false,
    web_address: false,
    // Seed servers cut a client that stayed silent for 60 s.
    at_root: false,
    silent_limit_secs: Some(60),
    url_example: "wss://example.com/pushMsg",
    url_hint: "The site's counters socket.",
    token_hint: "Paste the token",
    open: |_| Box::new(Seed::default()),
    endpoint: super::standard_endpoint,
    read_token: super::token_as_typed,
    discover: &[],
    stream_at: super::stream_here,
    sign_in: None,
};

#[derive(Debug, Default)]
pub struct Seed {
    counts_seen: bool,
}

impl Seed {
    /// A parsed message (also handed over by `auto`).
    pub(crate) fn on_msg(&mut self, msg: ServerMsg, inbox: &mut Inbox, fx: &mut Effects) {
        match msg {
            ServerMsg::SeedSnapshot(snap) => {
                let before = inbox.unread();
                let items = inbox.apply_seed(snap);
                fx.items(items);
                let first = !std::mem::replace(&mut self.counts_seen, true);
                report_counts(inbox, before, first, fx);
            }
            other => explain(fx, &other),
        }
    }
}

impl Session for Seed {
    fn dialect(&self) -> Option<Dialect> {
        Some(Dialect::Seed)
    }

    fn on_text(&mut self, text: &str, inbox: &mut Inbox, fx: &mut Effects) {
        match ServerMsg::parse(Dialect::Seed, text) {
            Ok(msg) => self.on_msg(msg, inbox, fx),
            Err(e) => malformed(fx, &e),
        }
    }

    fn on_heartbeat(&mut self, _inbox: &Inbox, fx: &mut Effects) {
        fx.send(ClientMsg::SeedHeartbeat.encode());
    }

    fn probe(&self) -> Option<String> {
        Some(ClientMsg::SeedHeartbeat.encode())
    }

    fn tells_reads(&self) -> bool {
        false
    }
}
