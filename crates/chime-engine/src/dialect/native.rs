//! Chime's native dialect (`/v1/stream`, version 1): `welcome` names the
//! server's log, `hello` resumes from the cursor, events are sequenced and
//! deduplicated, `synced` ends the replay, acks ride the heartbeat, and the
//! user's reads are told (also the ones owed from before this link).

use super::{explain, malformed, report_counts, Effects, Protocol, Session};
use crate::inbox::{Inbox, NewItem};
use crate::protocol::{ClientMsg, Dialect, Kind, ServerMsg};

/// Chime's own protocol: resumable events, read state told both ways.
pub const PROTOCOL: Protocol = Protocol {
    dialect: Dialect::Native,
    title: "Chime (resumable)",
    short: "Chime protocol",
    kinds: &[Kind::Like, Kind::Dislike, Kind::Reply],
    tells_reads: true,
    forgets_read: false,
    server_pings: false,
    web_address: false,
    at_root: false,
    silent_limit_secs: None,
    url_example: "wss://example.com/v1/stream",
    url_hint: "The address of a Chime push server.",
    token_hint: "Paste the token",
    open: |_| Box::new(Native::default()),
    endpoint: super::standard_endpoint,
    read_token: super::token_as_typed,
    discover: &[],
    stream_at: super::stream_here,
    sign_in: None,
};

#[derive(Debug, Default)]
pub struct Native {
    /// `welcome` answered with `hello`; `read`s may follow.
    greeted: bool,
    /// The owed `read`s went out on this link.
    reads_sent: bool,
    /// Counts received since they went out: the first may predate them.
    counts_since_reads: u8,
    counts_seen: bool,
    /// Events arrived since the last `ack`.
    unacked: bool,
}

impl Native {
    /// A parsed message (also handed over by `auto`).
    pub(crate) fn on_msg(&mut self, msg: ServerMsg, inbox: &mut Inbox, fx: &mut Effects) {
        match msg {
            ServerMsg::Welcome { epoch, account, .. } => {
                let other = account.is_some_and(|a| inbox.apply_account(&a));
                let new_log = inbox.apply_epoch(&epoch);
                if other {
                    fx.notice("signed in as another account: starting from its beginning".into());
                } else if new_log {
                    fx.notice("the server's event log is new: starting from its beginning".into());
                }
                fx.send(
                    ClientMsg::Hello {
                        last_seq: inbox.last_seq(),
                    }
                    .encode(),
                );
                self.greeted = true;
                self.send_reads(inbox, fx);
            }
            ServerMsg::Event(event) => {
                if let Some(event) = inbox.apply_event(event) {
                    fx.items(vec![NewItem::Event(event)]);
                    // Acknowledged with the next heartbeat: one frame per
                    // interval, not one per event (a 10,000-event burst
                    // would otherwise fill the write queue).
                    self.unacked = true;
                }
            }
            ServerMsg::Counts(counts) => {
                // After our `read`s went out, a kind at 0 is confirmed; the
                // first counts may have been on its way before the server
                // read them, so only the second confirms the rest.
                if self.reads_sent {
                    self.counts_since_reads = self.counts_since_reads.saturating_add(1);
                    inbox.reads_confirmed(&counts, self.counts_since_reads >= 2);
                }
                let first = !std::mem::replace(&mut self.counts_seen, true);
                let before = inbox.unread();
                inbox.apply_counts(counts);
                report_counts(inbox, before, first, fx);
            }
            ServerMsg::Synced { last_seq } => {
                inbox.apply_synced(last_seq);
                self.unacked = false;
                fx.send(ack(inbox));
            }
            ServerMsg::Ping => fx.send(ClientMsg::Pong.encode()),
            ServerMsg::Pong => {}
            other => explain(fx, &other),
        }
    }

    fn send_reads(&mut self, inbox: &Inbox, fx: &mut Effects) {
        if !self.greeted || self.reads_sent {
            return;
        }
        let reads = inbox.unsent_reads();
        if reads.is_empty() {
            return;
        }
        self.reads_sent = true;
        for kind in reads {
            fx.send(ClientMsg::Read { kind }.encode());
        }
    }
}

/// Acknowledge everything up to the resume cursor.
fn ack(inbox: &Inbox) -> String {
    ClientMsg::Ack {
        seq: inbox.last_seq(),
    }
    .encode()
}

impl Session for Native {
    fn dialect(&self) -> Option<Dialect> {
        Some(Dialect::Native)
    }

    fn on_text(&mut self, text: &str, inbox: &mut Inbox, fx: &mut Effects) {
        match ServerMsg::parse(Dialect::Native, text) {
            Ok(msg) => self.on_msg(msg, inbox, fx),
            Err(e) => malformed(fx, &e),
        }
    }

    fn on_heartbeat(&mut self, inbox: &Inbox, fx: &mut Effects) {
        if std::mem::take(&mut self.unacked) {
            fx.send(ack(inbox));
        }
        fx.send(ClientMsg::Ping.encode());
    }

    fn probe(&self) -> Option<String> {
        Some(ClientMsg::Ping.encode())
    }

    fn tells_reads(&self) -> bool {
        true
    }

    fn on_reads_owed(&mut self, inbox: &Inbox, fx: &mut Effects) {
        // A new request: send again (a repeated `read` is harmless) and
        // start counting confirmations anew.
        self.reads_sent = false;
        self.counts_since_reads = 0;
        self.send_reads(inbox, fx);
    }
}
