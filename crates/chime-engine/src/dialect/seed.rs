//! The seed dialect: what existing sites run (`/pushMsg`). The server sends
//! unread totals; a rise is announced, a fall is "read elsewhere"; the
//! client sends `heartCheck` and cannot tell the server anything else.

use super::{explain, malformed, report_counts, Effects, Session};
use crate::inbox::Inbox;
use crate::protocol::{ClientMsg, Dialect, ServerMsg};

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
