//! The pure inbox model: unread totals (the badge), what has been announced,
//! dedup of native events, and the resume cursor. No I/O and no clock: it is
//! fed parsed messages and answers with what is new.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::protocol::{Counts, Event, Kind, SeedSnapshot, MAX_WIRE_INT};

/// How many sequence numbers above the contiguous watermark are remembered
/// for dedup of out-of-order deliveries.
const MAX_SEEN_ABOVE: usize = 4096;

/// Something the user should be told about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum NewItem {
    /// Native dialect: one event.
    Event(Event),
    /// Seed dialect: a total went up by `by` to `total`.
    Bump { kind: Kind, by: u64, total: u64 },
}

impl NewItem {
    pub fn kind(&self) -> Kind {
        match self {
            NewItem::Event(e) => e.kind,
            NewItem::Bump { kind, .. } => *kind,
        }
    }
}

/// What survives a restart (the app persists it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxState {
    /// Seed: the server's last totals, i.e. what has been announced.
    pub totals: Counts,
    /// Seed: part of `totals` the user dismissed locally.
    pub dismissed: Counts,
    /// Native: unread totals as the server last reported them.
    pub native_unread: Counts,
    /// Native: every event with `seq <= last_seq` has been seen.
    pub last_seq: u64,
    /// Native: the server log `last_seq` refers to.
    #[serde(default)]
    pub epoch: Option<String>,
    /// Native: kinds the user read here that the server has not confirmed
    /// yet (the link was down, or its dialect not known): told on the next
    /// link, and until then the server's stale counts for them are not
    /// shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsent_reads: Vec<Kind>,
    /// Push services (ntfy, Gotify): unread messages, counted here (those
    /// servers keep no read state).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub local_unread: u64,
    /// Push services: the id of the last message seen, where the next link
    /// resumes (ntfy's `since=`, Gotify's paging stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Push services: the ids of the latest messages, newest last, so a
    /// replay that overlaps what was seen announces nothing twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<String>,
    /// Push services that delete what was read (Gotify, opt-in): the ids
    /// read here the server has not deleted yet (told on the next link).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forget: Vec<String>,
    /// The account this state belongs to, where the server names it (the
    /// native `welcome`): another account on the same source starts
    /// afresh instead of resuming from, or swallowing into, this one's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Accounts (Mastodon, Misskey): the unread notifications, oldest
    /// first, with their kinds. The badge counts them; the server's read
    /// marker and unread count trim them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread_ids: Vec<UnreadId>,
}

/// One unread notification of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadId {
    pub id: String,
    pub kind: Kind,
}

/// Unread notifications remembered per account, at most (the oldest count
/// as read past it).
pub const MAX_UNREAD_IDS: usize = 2000;

/// Deletions owed to a server, at most (the oldest go first).
pub const MAX_FORGET: usize = 5000;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Message ids remembered for dedup (see [`InboxState::recent`]).
pub const MAX_RECENT_IDS: usize = 256;

/// Where the badge's numbers come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Mode {
    /// Seed totals minus what was dismissed here.
    #[default]
    Seed,
    /// The native server's counts.
    Native,
    /// Counted here (push services).
    Local,
    /// The account's unread notifications, listed here (`unread_ids`).
    Listed,
}

#[derive(Debug, Clone, Default)]
pub struct Inbox {
    state: InboxState,
    seen_above: BTreeSet<u64>,
    mode: Mode,
}

impl InboxState {
    /// A state read back from disk is input too: one written before wire
    /// numbers were bounded may hold a cursor at `u64::MAX`, which would
    /// silence every later event. Out-of-range cursors start over (the
    /// store's per-event keys keep the replay from being announced twice);
    /// out-of-range totals are capped.
    pub fn checked(mut self) -> InboxState {
        if self.last_seq > MAX_WIRE_INT {
            self.last_seq = 0;
        }
        self.local_unread = self.local_unread.min(MAX_WIRE_INT);
        self.recent.retain(|id| id.len() <= 64);
        let excess = self.recent.len().saturating_sub(MAX_RECENT_IDS);
        self.recent.drain(..excess);
        if self.cursor.as_ref().is_some_and(|c| c.len() > 64) {
            self.cursor = None;
        }
        self.unread_ids.retain(|u| u.id.len() <= 64);
        let excess = self.unread_ids.len().saturating_sub(MAX_UNREAD_IDS);
        self.unread_ids.drain(..excess);
        self.forget.retain(|id| id.len() <= 64);
        let excess = self.forget.len().saturating_sub(MAX_FORGET);
        self.forget.drain(..excess);
        for c in [
            &mut self.totals,
            &mut self.dismissed,
            &mut self.native_unread,
        ] {
            for k in Kind::ALL {
                let n = c.get_mut(k);
                *n = (*n).min(MAX_WIRE_INT);
            }
        }
        self
    }
}

fn state_is_local(state: &InboxState) -> bool {
    state.cursor.is_some() || state.local_unread > 0
}

impl Inbox {
    pub fn new(state: InboxState) -> Inbox {
        let state = state.checked();
        Inbox {
            state: state.clone(),
            seen_above: BTreeSet::new(),
            mode: if !state.unread_ids.is_empty() {
                Mode::Listed
            } else if state_is_local(&state) {
                Mode::Local
            } else {
                Mode::Seed
            },
        }
    }

    pub fn state(&self) -> &InboxState {
        &self.state
    }

    /// The server named the account the link signed in as. Another
    /// account than the one this state belongs to: start afresh (its
    /// cursor, totals and owed reads are not this account's). Returns
    /// whether it was another account.
    pub fn apply_account(&mut self, account: &str) -> bool {
        let other = self.state.account.as_deref().is_some_and(|a| a != account);
        if other {
            self.state = InboxState::default();
            self.seen_above.clear();
        }
        self.state.account = Some(account.to_owned());
        other
    }

    /// Native: the server named its log. A different log than the one our
    /// cursor refers to means its sequence numbers start over: forget the
    /// cursor (a server that lost its log cannot replay it anyway). Returns
    /// whether the cursor was reset.
    pub fn apply_epoch(&mut self, epoch: &str) -> bool {
        self.mode = Mode::Native;
        let changed = self.state.epoch.as_deref().is_some_and(|e| e != epoch);
        if changed {
            self.state.last_seq = 0;
            self.seen_above.clear();
        }
        self.state.epoch = Some(epoch.to_owned());
        changed
    }

    /// The resume cursor for a native `hello`.
    pub fn last_seq(&self) -> u64 {
        self.state.last_seq
    }

    /// What the badge shows.
    pub fn unread(&self) -> Counts {
        match self.mode {
            Mode::Native => return self.state.native_unread,
            Mode::Local => {
                return Counts {
                    messages: self.state.local_unread,
                    ..Counts::default()
                }
            }
            Mode::Listed => {
                let mut c = Counts::default();
                for u in &self.state.unread_ids {
                    *c.get_mut(u.kind) += 1;
                }
                return c;
            }
            Mode::Seed => {}
        }
        let mut c = Counts::default();
        for k in Kind::ALL {
            *c.get_mut(k) = self
                .state
                .totals
                .get(k)
                .saturating_sub(self.state.dismissed.get(k));
        }
        c
    }

    /// Seed: a total above the last known one is new (announce the increase);
    /// a total below it means the user read them elsewhere (badge falls,
    /// nothing to announce). An equal total — as after every reconnect —
    /// announces nothing.
    pub fn apply_seed(&mut self, snap: SeedSnapshot) -> Vec<NewItem> {
        self.mode = Mode::Seed;
        let mut items = Vec::new();
        for kind in Kind::ALL {
            let Some(total) = snap.get(kind) else {
                continue;
            };
            let before = self.state.totals.get(kind);
            if total > before {
                items.push(NewItem::Bump {
                    kind,
                    by: total - before,
                    total,
                });
            }
            *self.state.totals.get_mut(kind) = total;
            let dismissed = self.state.dismissed.get_mut(kind);
            *dismissed = (*dismissed).min(total);
        }
        items
    }

    /// Native: `Some(event)` the first time a sequence number is seen, `None`
    /// for a duplicate, whatever the order of arrival.
    pub fn apply_event(&mut self, event: Event) -> Option<Event> {
        self.mode = Mode::Native;
        let seq = event.seq;
        if seq <= self.state.last_seq || !self.seen_above.insert(seq) {
            return None;
        }
        self.advance_watermark();
        if self.seen_above.len() > MAX_SEEN_ABOVE {
            // A gap that never fills (the server lost those events): give up
            // on it rather than remember forever.
            if let Some(&lowest) = self.seen_above.iter().next() {
                self.state.last_seq = lowest;
                self.seen_above.remove(&lowest);
                self.advance_watermark();
            }
        }
        Some(event)
    }

    /// Push services: `Some(event)` the first time a message id is seen
    /// (`None` for a repeat), counted as unread. Messages without an id
    /// cannot be told apart and are always new.
    pub fn apply_message(&mut self, event: Event) -> Option<Event> {
        self.mode = Mode::Local;
        let id = event
            .message
            .as_ref()
            .map(|m| m.id.clone())
            .unwrap_or_default();
        if !id.is_empty() {
            if self.state.recent.contains(&id) {
                return None;
            }
            self.state.recent.push(id.clone());
            let excess = self.state.recent.len().saturating_sub(MAX_RECENT_IDS);
            self.state.recent.drain(..excess);
        }
        self.state.local_unread = self.state.local_unread.saturating_add(1).min(MAX_WIRE_INT);
        Some(event)
    }

    /// Accounts: `Some(event)` the first time a notification id is seen
    /// (`None` for a repeat), listed as unread.
    pub fn apply_notification(&mut self, event: Event) -> Option<Event> {
        self.mode = Mode::Listed;
        let id = event.message.as_ref().map(|m| m.id.clone())?;
        if id.is_empty() || id.len() > 64 || self.has_seen(&id) {
            return None;
        }
        self.state.recent.push(id.clone());
        let excess = self.state.recent.len().saturating_sub(MAX_RECENT_IDS);
        self.state.recent.drain(..excess);
        self.state.unread_ids.push(UnreadId {
            id,
            kind: event.kind,
        });
        let excess = self.state.unread_ids.len().saturating_sub(MAX_UNREAD_IDS);
        self.state.unread_ids.drain(..excess);
        Some(event)
    }

    /// Accounts: the counts are the listed unread notifications.
    pub fn use_listed_counts(&mut self) {
        self.mode = Mode::Listed;
    }

    /// Accounts: the server's read marker stands at `id`: it and every
    /// notification that arrived before it are read. `None` when `id` is
    /// not one seen lately (the catch-up has not brought it yet, or it is
    /// older than what is remembered); else whether the badge changed.
    /// Ids are never compared, only found in the order they came.
    pub fn read_through(&mut self, id: &str) -> Option<bool> {
        let at = self.state.recent.iter().position(|r| r == id)?;
        let newer = &self.state.recent[at + 1..];
        let before = self.state.unread_ids.len();
        self.state.unread_ids.retain(|u| newer.contains(&u.id));
        Some(self.state.unread_ids.len() != before)
    }

    /// Accounts: the server counts `n` unread: only the newest `n` listed
    /// here stay unread. Returns whether the badge changed.
    pub fn cap_unread(&mut self, n: u64) -> bool {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let excess = self.state.unread_ids.len().saturating_sub(n);
        self.state.unread_ids.drain(..excess);
        excess > 0
    }

    /// Accounts: everything was read (elsewhere). Returns whether the
    /// badge changed.
    pub fn read_all_listed(&mut self) -> bool {
        let had = !self.state.unread_ids.is_empty();
        self.state.unread_ids.clear();
        had
    }

    /// Accounts: where the server's read marker may go: the newest
    /// notification that it and all before it are read. `None` while the
    /// oldest unread one is the oldest remembered.
    pub fn read_marker(&self) -> Option<&str> {
        let recent = &self.state.recent;
        match self.state.unread_ids.first() {
            None => recent.last().map(String::as_str),
            Some(u) => {
                let at = recent.iter().position(|r| *r == u.id)?;
                at.checked_sub(1).map(|p| recent[p].as_str())
            }
        }
    }

    /// Push services: a new version of a notification already counted
    /// (ntfy's sequences): `Some(event)` the first time its id is seen,
    /// not counted again.
    pub fn apply_update(&mut self, event: Event) -> Option<Event> {
        let id = event.message.as_ref().map(|m| m.id.clone())?;
        if id.is_empty() || self.has_seen(&id) {
            return None;
        }
        self.remember(id);
        Some(event)
    }

    /// Push services: an id (a message's, a sequence's) seen, for dedup.
    pub fn remember(&mut self, id: String) {
        if id.is_empty() || id.len() > 64 || self.has_seen(&id) {
            return;
        }
        self.state.recent.push(id);
        let excess = self.state.recent.len().saturating_sub(MAX_RECENT_IDS);
        self.state.recent.drain(..excess);
    }

    /// One item of `kind` was read here. Only counts kept here change (a
    /// site's server counts for itself). Returns whether the badge changed.
    pub fn read_one(&mut self, kind: Kind) -> bool {
        if self.mode == Mode::Listed {
            // The newest of its kind: the marker may then still move up
            // to the ones before it.
            return match self.state.unread_ids.iter().rposition(|u| u.kind == kind) {
                Some(at) => {
                    self.state.unread_ids.remove(at);
                    true
                }
                None => false,
            };
        }
        if self.mode != Mode::Local || kind != Kind::Message || self.state.local_unread == 0 {
            return false;
        }
        self.state.local_unread -= 1;
        true
    }

    /// Messages read here that the server is to delete (once told).
    pub fn owe_forget(&mut self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if id.len() <= 64 && !self.state.forget.contains(&id) {
                self.state.forget.push(id);
            }
        }
        let excess = self.state.forget.len().saturating_sub(MAX_FORGET);
        self.state.forget.drain(..excess);
    }

    /// The deletions owed, taken (a failed one is owed again).
    pub fn take_forget(&mut self) -> Vec<String> {
        std::mem::take(&mut self.state.forget)
    }

    /// Push services: resume after `cursor` next time (a message id).
    pub fn set_cursor(&mut self, cursor: String) {
        if self.mode != Mode::Listed {
            self.mode = Mode::Local;
        }
        self.state.cursor = Some(cursor);
    }

    /// Push services: the message id to resume after.
    pub fn cursor(&self) -> Option<&str> {
        self.state.cursor.as_deref()
    }

    /// Whether a message id was seen lately.
    pub fn has_seen(&self, id: &str) -> bool {
        self.state.recent.iter().any(|r| r == id)
    }

    /// Push services: the link is up, counts are ours.
    pub fn use_local_counts(&mut self) {
        self.mode = Mode::Local;
    }

    /// Native: the server finished its replay up to `last_seq`; anything
    /// older it did not send is gone for good.
    pub fn apply_synced(&mut self, last_seq: u64) {
        self.mode = Mode::Native;
        if last_seq > self.state.last_seq {
            self.state.last_seq = last_seq;
            self.seen_above = self.seen_above.split_off(&last_seq.saturating_add(1));
            self.advance_watermark();
        }
    }

    /// Native: the server's unread totals. Returns whether the badge changed.
    /// Kinds read here that the server has not been told of stay read.
    pub fn apply_counts(&mut self, mut counts: Counts) -> bool {
        let before = self.unread();
        self.mode = Mode::Native;
        for &k in &self.state.unsent_reads {
            *counts.get_mut(k) = 0;
        }
        self.state.native_unread = counts;
        before != self.unread()
    }

    /// Native: `counts` arrived after the owed reads went out. A kind the
    /// server reports at 0 has been read there; with `all`, every kind is
    /// taken as told (newer events may have come since).
    pub fn reads_confirmed(&mut self, counts: &Counts, all: bool) {
        self.state
            .unsent_reads
            .retain(|&k| !all && counts.get(k) > 0);
    }

    /// The `read` messages owed to the server: one per kind, or one for
    /// everything.
    pub fn unsent_reads(&self) -> Vec<Option<Kind>> {
        if self.state.unsent_reads.len() == Kind::ALL.len() {
            vec![None]
        } else {
            self.state.unsent_reads.iter().copied().map(Some).collect()
        }
    }

    /// The server speaks a dialect that cannot be told of reads (seed).
    pub fn forget_unsent_reads(&mut self) {
        self.state.unsent_reads.clear();
    }

    /// The user read `kind` (or everything) here. Seed servers cannot be told,
    /// so the badge remembers what was dismissed; native servers are told and
    /// answer with counts, but the badge falls at once either way.
    pub fn mark_read(&mut self, kind: Option<Kind>, tell_server: bool) -> bool {
        let before = self.unread();
        for k in Kind::ALL {
            if kind.is_none() || kind == Some(k) {
                *self.state.dismissed.get_mut(k) = self.state.totals.get(k);
                *self.state.native_unread.get_mut(k) = 0;
                if k == Kind::Message {
                    self.state.local_unread = 0;
                }
                self.state.unread_ids.retain(|u| u.kind != k);
                if tell_server && !self.state.unsent_reads.contains(&k) {
                    self.state.unsent_reads.push(k);
                }
            }
        }
        self.state.unsent_reads.sort();
        before != self.unread()
    }

    fn advance_watermark(&mut self) {
        while let Some(next) = self.state.last_seq.checked_add(1) {
            if !self.seen_above.remove(&next) {
                break;
            }
            self.state.last_seq = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Target;

    fn snap(likes: u64, dislikes: u64, replies: u64) -> SeedSnapshot {
        SeedSnapshot {
            likes: Some(likes),
            dislikes: Some(dislikes),
            replies: Some(replies),
        }
    }

    fn ev(seq: u64) -> Event {
        Event {
            seq,
            kind: Kind::Like,
            actor: "a".into(),
            target: Target::default(),
            time: 0,
            message: None,
        }
    }

    #[test]
    fn seed_increase_is_announced_once_and_repeats_are_silent() {
        let mut inbox = Inbox::default();
        assert_eq!(
            inbox.apply_seed(snap(2, 0, 1)),
            vec![
                NewItem::Bump {
                    kind: Kind::Like,
                    by: 2,
                    total: 2
                },
                NewItem::Bump {
                    kind: Kind::Reply,
                    by: 1,
                    total: 1
                }
            ]
        );
        // Same snapshot again (heartbeat answer, reconnect): nothing new.
        assert!(inbox.apply_seed(snap(2, 0, 1)).is_empty());
        assert_eq!(
            inbox.apply_seed(snap(5, 0, 1)),
            vec![NewItem::Bump {
                kind: Kind::Like,
                by: 3,
                total: 5
            }]
        );
    }

    #[test]
    fn seed_decrease_lowers_the_badge_and_later_increase_counts_from_there() {
        let mut inbox = Inbox::default();
        inbox.apply_seed(snap(5, 1, 0));
        assert!(inbox.apply_seed(snap(0, 1, 0)).is_empty());
        assert_eq!(inbox.unread().likes, 0);
        assert_eq!(
            inbox.apply_seed(snap(1, 1, 0)),
            vec![NewItem::Bump {
                kind: Kind::Like,
                by: 1,
                total: 1
            }]
        );
    }

    #[test]
    fn seed_missing_fields_keep_their_last_value() {
        let mut inbox = Inbox::default();
        inbox.apply_seed(snap(3, 2, 1));
        let items = inbox.apply_seed(SeedSnapshot {
            likes: Some(4),
            ..SeedSnapshot::default()
        });
        assert_eq!(items.len(), 1);
        assert_eq!(
            inbox.unread(),
            Counts {
                likes: 4,
                dislikes: 2,
                replies: 1,
                messages: 0,
            }
        );
    }

    #[test]
    fn restored_state_does_not_reannounce_after_restart() {
        let mut first = Inbox::default();
        first.apply_seed(snap(3, 0, 0));
        let mut second = Inbox::new(first.state().clone());
        assert!(second.apply_seed(snap(3, 0, 0)).is_empty());
        assert_eq!(second.apply_seed(snap(4, 0, 0)).len(), 1);
    }

    #[test]
    fn seed_local_mark_read_survives_the_next_snapshot() {
        let mut inbox = Inbox::default();
        inbox.apply_seed(snap(3, 1, 0));
        assert!(inbox.mark_read(None, false));
        assert!(inbox.apply_seed(snap(3, 1, 0)).is_empty());
        assert_eq!(inbox.unread().total(), 0);
        inbox.apply_seed(snap(4, 1, 0));
        assert_eq!(inbox.unread().likes, 1);
    }

    #[test]
    fn native_duplicates_and_out_of_order_replays_are_each_delivered_once() {
        let mut inbox = Inbox::default();
        let order = [1, 2, 5, 3, 2, 4, 5, 1, 6];
        let delivered: Vec<u64> = order
            .iter()
            .filter_map(|&s| inbox.apply_event(ev(s)).map(|e| e.seq))
            .collect();
        assert_eq!(delivered, vec![1, 2, 5, 3, 4, 6]);
        assert_eq!(inbox.last_seq(), 6);
    }

    #[test]
    fn native_synced_skips_a_gap_the_server_no_longer_holds() {
        let mut inbox = Inbox::default();
        inbox.apply_event(ev(1));
        inbox.apply_event(ev(5));
        assert_eq!(inbox.last_seq(), 1);
        inbox.apply_synced(5);
        assert_eq!(inbox.last_seq(), 5);
        assert!(inbox.apply_event(ev(3)).is_none());
        assert!(inbox.apply_event(ev(6)).is_some());
        assert_eq!(inbox.last_seq(), 6);
    }

    #[test]
    fn native_seen_set_stays_bounded_when_a_gap_never_fills() {
        let mut inbox = Inbox::default();
        for seq in 2..(MAX_SEEN_ABOVE as u64 + 100) {
            inbox.apply_event(ev(seq));
        }
        assert!(inbox.seen_above.len() <= MAX_SEEN_ABOVE);
        assert!(inbox.last_seq() > 1);
    }

    #[test]
    fn a_new_server_epoch_resets_the_cursor_and_the_same_epoch_keeps_it() {
        let mut inbox = Inbox::default();
        assert!(!inbox.apply_epoch("a"));
        inbox.apply_event(ev(1));
        inbox.apply_event(ev(2));
        assert!(!inbox.apply_epoch("a"));
        assert_eq!(inbox.last_seq(), 2);
        assert!(inbox.apply_epoch("b"));
        assert_eq!(inbox.last_seq(), 0);
        assert!(inbox.apply_event(ev(1)).is_some());
    }

    #[test]
    fn native_counts_drive_the_badge() {
        let mut inbox = Inbox::default();
        let c = Counts {
            likes: 2,
            dislikes: 0,
            replies: 7,
            messages: 0,
        };
        assert!(inbox.apply_counts(c));
        assert!(!inbox.apply_counts(c));
        assert_eq!(inbox.unread(), c);
        assert!(inbox.mark_read(Some(Kind::Reply), true));
        assert_eq!(inbox.unread().replies, 0);
        assert_eq!(inbox.unread().likes, 2);
    }
}
