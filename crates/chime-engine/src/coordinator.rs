//! The coordinator: every rule between the links, the store and the
//! toasts, sans-IO. The app's controller routes into it (client outputs,
//! menu and toast actions, store answers) and carries out what it asks
//! ([`Effect`]s, in order); it reads no clock and touches no file.
//!
//! The rules:
//! * **Store, then announce.** A source's items and the resume state that
//!   covers them are stored together ([`Effect::Store`]); only what the
//!   store had not seen is announced ([`Coordinator::handle_stored`]). If
//!   the store cannot write, the items are announced anyway.
//! * **One server log per batch.** A new epoch stores the old batch first,
//!   so rows of two logs never share a key.
//! * **Read elsewhere is read here.** A kind whose server count falls to 0
//!   (or is 0 on a link's first counts: read while Chime was closed) has
//!   its rows marked read, after the batch that holds them is stored; those
//!   rows are not announced (replayed events the server calls read).
//! * **Read here is told there.** Opening the last unread row of a kind
//!   tells its server; opening one of several lowers the server's count by
//!   one (push services keep theirs here). Reading messages of a source that
//!   deletes what was read (Gotify, opt-in) deletes them on the server.
//! * **Pauses and quiet hours.** A pause is a wall-clock deadline that
//!   clears itself; during quiet hours toasts are dropped (the badge and
//!   the inbox still update).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chime_proto::text::web_url;

use crate::announce::{AnnounceConfig, Announcer, SourceId, Toast, ToastSlot};
use crate::events::{Command, ConnState, Output};
use crate::inbox::{InboxState, NewItem};
use crate::pause::{Pause, Timestamp};
use crate::protocol::{Counts, Dialect, Kind};
use crate::quiet::QuietHours;

/// The time, as every clock the rules need reads it. The driver reads the
/// clocks; tests make them up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic: bursts and outage toasts.
    pub mono: Instant,
    /// Wall clock: pauses.
    pub wall: Timestamp,
    /// Local weekday (0 = Sunday) and minute of the day: quiet hours.
    pub weekday: u8,
    pub minute: u16,
}

/// Which kinds pop up, and from which priority messages do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toasts {
    /// Indexed by [`Kind::index`].
    pub kinds: [bool; 4],
    /// Messages below this priority (1–5) toast not.
    pub min_priority: u8,
}

impl Default for Toasts {
    fn default() -> Self {
        Toasts {
            kinds: [true; 4],
            min_priority: crate::protocol::DEFAULT_PRIORITY,
        }
    }
}

/// One source as the coordinator needs it.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Its identity for its whole life (rows, cursors, toasts, secrets).
    pub id: SourceId,
    /// Its name, for toasts when there are several sources.
    pub name: String,
    /// Host (and port) for status lines and outage toasts.
    pub host: String,
    /// Its site's page, opened when an item has no page of its own.
    pub site: Option<String>,
    pub dialect: Dialect,
    /// Its own choice of toasts.
    pub toasts: Toasts,
    /// No toasts from it at all.
    pub muted: bool,
    /// Reading a message here deletes it on the server.
    pub forget_read: bool,
    /// Where it resumes: items are stored under this until its link
    /// reports its own state.
    pub resume: InboxState,
}

/// The sources, in order, when the list changes: a kept source keeps its
/// link's state, its announcer and its batch.
#[derive(Debug, Clone)]
pub enum SourceSlot {
    Keep { id: SourceId, name: String },
    New(Box<SourceConfig>),
}

/// A row of the inbox as it was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: i64,
    pub source: SourceId,
    pub kind: Kind,
    /// It was read before it was opened.
    pub was_read: bool,
    pub url: String,
    /// The message's links (http/https, checked again before opening).
    pub links: Vec<String>,
}

/// What the store answered to an [`Effect::Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Stored; these are the items it had not seen.
    Fresh(Vec<NewItem>),
    /// Not stored: these items are announced anyway (notifying beats
    /// remembering).
    Failed(Vec<NewItem>),
}

/// What the coordinator asks of its driver, to be carried out in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Store `items` with the resume `state` that covers them (one
    /// transaction), then answer with [`Coordinator::handle_stored`].
    Store {
        source: SourceId,
        items: Vec<NewItem>,
        state: Box<InboxState>,
    },
    /// Mark the stored rows of `source` (or every source) and `kind` (or
    /// every kind) read.
    MarkRowsRead {
        source: Option<SourceId>,
        kind: Option<Kind>,
    },
    /// Mark one row read, then answer with [`Coordinator::handle_row_read`]
    /// (with this `link`) and the unread rows of its kind left.
    MarkRowRead { row: Row, link: Option<usize> },
    /// Delete on `source`'s server its unread messages (of row `row`, or
    /// all): read the ids from the store before the rows are marked read.
    ForgetUnread { source: SourceId, row: Option<i64> },
    /// A command for `source`'s link (`None`: every link).
    Link {
        source: Option<SourceId>,
        command: Command,
    },
    /// Open this page (http/https) in the browser.
    OpenUrl(String),
    /// Nothing to open on the web: show the inbox window.
    OpenInbox,
    /// The rows the windows show changed.
    InboxChanged,
    /// Show this toast (or update the one of its slot in place).
    Toast(Toast),
    /// The server withdrew these notifications (by `Message::key`): mark
    /// their rows read, or with `deleted` remove them, then answer with
    /// [`Coordinator::handle_withdrawn`] and the kinds of the rows that
    /// were unread.
    WithdrawRows {
        source: SourceId,
        keys: Vec<String>,
        deleted: bool,
    },
    /// Close the toast of this slot (all it stood for was withdrawn).
    CloseToast { source: SourceId, slot: ToastSlot },
}

#[derive(Debug)]
struct Source {
    config: SourceConfig,
    announcer: Announcer,
    /// Items not stored yet, and the state that covers them.
    items: Vec<NewItem>,
    state: InboxState,
    /// `state` changed since it was last stored.
    dirty: bool,
    /// Kinds whose rows the server calls read: what the store answers for
    /// the batch in flight is stored, not announced.
    silence: [bool; 4],
    /// The page of the last announced item of each kind.
    last_url: [Option<String>; 4],
    link: ConnState,
    counts: Counts,
    /// Counts have arrived on the current link.
    counts_fresh: bool,
    /// Notifications withdrawn while their batch was in flight: stored,
    /// never announced (a replay of a message and its clear).
    withdrawn: Vec<String>,
}

/// The notification an item stands for, when the server names it.
fn key_of(item: &NewItem) -> Option<&str> {
    match item {
        NewItem::Event(e) => e.message.as_deref().map(|m| m.key()),
        NewItem::Bump { .. } => None,
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct Coordinator {
    sources: Vec<Source>,
    /// Which kinds pop up at all (Settings → Notifications).
    kinds: [bool; 4],
    quiet: QuietHours,
    pause: Pause,
    announce: AnnounceConfig,
    effects: VecDeque<Effect>,
}

impl Default for Coordinator {
    fn default() -> Self {
        Coordinator::new(AnnounceConfig::default())
    }
}

impl Coordinator {
    pub fn new(announce: AnnounceConfig) -> Coordinator {
        Coordinator {
            sources: Vec::new(),
            kinds: [true; 4],
            quiet: QuietHours::default(),
            pause: Pause::default(),
            announce,
            effects: VecDeque::new(),
        }
    }

    /// The next thing to do.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// When [`Coordinator::handle_tick`] next has work on the monotonic
    /// clock, and how long the pause has left on the wall clock.
    pub fn poll_timeout(&self, now: &Now) -> Option<Instant> {
        let pause_end = self.pause.remaining(now.wall).map(|d| now.mono + d);
        self.sources
            .iter()
            .filter_map(|s| s.announcer.poll_timeout())
            .chain(pause_end)
            .min()
    }

    /// Which kinds pop up at all, and when not.
    pub fn set_prefs(&mut self, kinds: [bool; 4], quiet: QuietHours) {
        self.kinds = kinds;
        self.quiet = quiet;
        for n in 0..self.sources.len() {
            self.apply_toasts(n);
        }
    }

    fn apply_toasts(&mut self, n: usize) {
        let kinds = self.kinds;
        let s = &mut self.sources[n];
        for kind in Kind::ALL {
            let on = kinds[kind.index()] && s.config.toasts.kinds[kind.index()];
            s.announcer.set_enabled(kind, on && !s.config.muted);
        }
        s.announcer.set_min_priority(s.config.toasts.min_priority);
    }

    /// The sources, in order. Sources not listed are gone: what they had
    /// not stored is stored first, and their announcers go with them.
    /// Returns the ids that are gone for good (their rows may be removed
    /// once their links have shut down).
    pub fn set_sources(&mut self, now: &Now, slots: Vec<SourceSlot>) -> Vec<SourceId> {
        let several = slots.len() > 1;
        let mut old = std::mem::take(&mut self.sources);
        let listed: Vec<&str> = slots
            .iter()
            .map(|s| match s {
                SourceSlot::Keep { id, .. } => id.as_str(),
                SourceSlot::New(c) => c.id.as_str(),
            })
            .collect();
        let gone: Vec<SourceId> = old
            .iter()
            .map(|s| s.config.id.clone())
            .filter(|id| !listed.contains(&id.as_str()))
            .collect();
        // Replaced and removed sources store their batch under their old
        // state before anything else happens to them.
        for s in &mut old {
            let kept = slots
                .iter()
                .any(|k| matches!(k, SourceSlot::Keep { id, .. } if *id == s.config.id));
            if !kept {
                Self::store_batch(&mut self.effects, s);
            }
        }
        for slot in slots {
            let label = |name: &str| several.then(|| name.to_owned());
            match slot {
                SourceSlot::Keep { id, name } => {
                    if let Some(at) = old.iter().position(|s| s.config.id == id) {
                        let mut s = old.remove(at);
                        s.announcer.relabel(label(&name));
                        s.config.name = name;
                        self.sources.push(s);
                    }
                }
                SourceSlot::New(config) => {
                    let mut announcer = Announcer::for_source(
                        self.announce.clone(),
                        &config.id,
                        label(&config.name),
                    );
                    announcer.set_paused(self.pause.is_paused(now.wall));
                    let state = config.resume.clone();
                    self.sources.push(Source {
                        config: *config,
                        announcer,
                        items: Vec::new(),
                        state,
                        dirty: false,
                        silence: [false; 4],
                        last_url: Default::default(),
                        link: ConnState::Connecting { attempt: 0 },
                        counts: Counts::default(),
                        counts_fresh: false,
                        withdrawn: Vec::new(),
                    });
                    let n = self.sources.len() - 1;
                    self.apply_toasts(n);
                }
            }
        }
        gone
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.sources.iter().position(|s| s.config.id == id)
    }

    /// The site page of source `id`, if it is still listed and has one.
    fn site_of(&self, id: &str) -> Option<String> {
        self.find(id)
            .and_then(|n| self.sources[n].config.site.clone())
    }

    /// The sources, in order: id, name, host, link state, counts, dialect.
    pub fn sources(&self) -> impl Iterator<Item = SourceView<'_>> {
        self.sources.iter().map(|s| SourceView {
            id: &s.config.id,
            name: &s.config.name,
            host: &s.config.host,
            dialect: s.config.dialect,
            link: &s.link,
            counts: s.counts,
        })
    }

    /// A source's link could not even start (bad profile, CA file).
    pub fn set_link_state(&mut self, source: &str, state: ConnState) {
        if let Some(n) = self.find(source) {
            self.sources[n].link = state;
        }
    }

    /// An output of `source`'s link.
    pub fn handle_output(&mut self, now: &Now, source: &str, out: Output) {
        let Some(n) = self.find(source) else {
            return;
        };
        let s = &mut self.sources[n];
        match out {
            Output::State(state) => {
                if matches!(state, ConnState::Connecting { .. }) {
                    // A new link: its first counts are news.
                    s.counts_fresh = false;
                }
                if state != ConnState::Paused {
                    s.announcer
                        .handle_link(now.mono, state.is_connected(), &s.config.host);
                }
                s.link = state;
                self.collect_toasts(now);
            }
            Output::Items(items) => s.items.extend(items),
            Output::Saved(state) => {
                // Items of one server log are stored under its epoch: a new
                // log must not mix with a batch of the old one.
                if s.state.epoch != state.epoch {
                    Self::store_batch(&mut self.effects, s);
                }
                s.state = *state;
                s.dirty = true;
            }
            Output::Counts(counts) => {
                // A kind read elsewhere is read here too: when its count
                // falls to 0, and on a link's first counts (what was read
                // while Chime was closed).
                let fresh = s.counts_fresh;
                let zero: Vec<Kind> = Kind::ALL
                    .into_iter()
                    .filter(|&k| counts.get(k) == 0 && (!fresh || s.counts.get(k) > 0))
                    .collect();
                if !zero.is_empty() {
                    // Rows of this batch are stored first, so that they do
                    // not come back unread after the marking, and they are
                    // not announced: the server says they were read.
                    if s.items.iter().any(|i| zero.contains(&i.kind())) {
                        for k in &zero {
                            s.silence[k.index()] = true;
                        }
                        Self::store_batch(&mut self.effects, s);
                    }
                    for kind in zero {
                        self.effects.push_back(Effect::MarkRowsRead {
                            source: Some(s.config.id.clone()),
                            kind: Some(kind),
                        });
                    }
                }
                s.counts_fresh = true;
                s.counts = counts;
            }
            Output::Withdrawn { keys, deleted } => {
                // The batch holding them (a replay) is stored first, and
                // they are not announced.
                let pending = s
                    .items
                    .iter()
                    .any(|i| key_of(i).is_some_and(|k| keys.iter().any(|w| w == k)));
                if pending {
                    s.withdrawn.extend(keys.iter().cloned());
                    Self::store_batch(&mut self.effects, s);
                }
                for slot in s.announcer.withdraw(&keys) {
                    self.effects.push_back(Effect::CloseToast {
                        source: s.config.id.clone(),
                        slot,
                    });
                }
                self.effects.push_back(Effect::WithdrawRows {
                    source: s.config.id.clone(),
                    keys,
                    deleted,
                });
            }
            // Notices are the driver's to log.
            Output::Notice(_) => {}
        }
    }

    /// Store every source's batch (the driver calls this once per drained
    /// queue: a burst is one transaction per source).
    pub fn flush(&mut self) {
        for s in &mut self.sources {
            Self::store_batch(&mut self.effects, s);
        }
    }

    fn store_batch(effects: &mut VecDeque<Effect>, s: &mut Source) {
        // A batch of state changes or counts alone has nothing to write.
        if s.items.is_empty() && !s.dirty {
            return;
        }
        s.dirty = false;
        effects.push_back(Effect::Store {
            source: s.config.id.clone(),
            items: std::mem::take(&mut s.items),
            state: Box::new(s.state.clone()),
        });
    }

    /// The store's answer to the [`Effect::Store`] of `source`.
    pub fn handle_stored(&mut self, now: &Now, source: &str, stored: Stored) {
        let Some(n) = self.find(source) else {
            return;
        };
        let s = &mut self.sources[n];
        let silence = std::mem::take(&mut s.silence);
        let items = match stored {
            Stored::Fresh(fresh) => {
                if !fresh.is_empty() {
                    self.effects.push_back(Effect::InboxChanged);
                }
                fresh
            }
            Stored::Failed(items) => items,
        };
        let withdrawn = std::mem::take(&mut s.withdrawn);
        let items: Vec<NewItem> = items
            .into_iter()
            .filter(|i| !silence[i.kind().index()])
            .filter(|i| !key_of(i).is_some_and(|k| withdrawn.iter().any(|w| w == k)))
            .collect();
        if items.is_empty() {
            return;
        }
        for item in &items {
            if let NewItem::Event(e) = item {
                s.last_url[e.kind.index()] = web_url(&e.target.url);
            }
        }
        s.announcer.handle_items(now.mono, &items);
        self.collect_toasts(now);
    }

    /// The rows [`Effect::WithdrawRows`] named are read or gone; `unread`
    /// holds the kind of each that was unread: the link's counts go down.
    pub fn handle_withdrawn(&mut self, source: &str, unread: &[Kind]) {
        if self.find(source).is_none() {
            return;
        }
        for &kind in unread {
            self.effects.push_back(Effect::Link {
                source: Some(source.to_owned()),
                command: Command::ReadOne(kind),
            });
        }
        self.effects.push_back(Effect::InboxChanged);
    }

    /// Timers due, the pause's end, and the toasts to show (none during
    /// quiet hours).
    pub fn handle_tick(&mut self, now: &Now) {
        if self.pause.expire(now.wall) {
            for s in &mut self.sources {
                s.announcer.set_paused(false);
            }
        }
        for s in &mut self.sources {
            if s.announcer.poll_timeout().is_some_and(|t| t <= now.mono) {
                s.announcer.handle_timeout(now.mono);
            }
        }
        self.collect_toasts(now);
    }

    /// The announcers' toasts become effects at once (none during quiet
    /// hours): whoever fed an announcer drains it, so no toast waits for
    /// the next tick.
    fn collect_toasts(&mut self, now: &Now) {
        let quiet = self.quiet.contains(now.weekday, now.minute);
        for s in &mut self.sources {
            while let Some(toast) = s.announcer.poll_toast() {
                if !quiet {
                    self.effects.push_back(Effect::Toast(toast));
                }
            }
        }
    }

    /// Pause every source's toasts for `d` (`None` resumes).
    pub fn pause(&mut self, now: &Now, d: Option<Duration>) {
        self.pause.set(now.wall, d);
        let paused = self.pause.is_paused(now.wall);
        for s in &mut self.sources {
            s.announcer.set_paused(paused);
        }
    }

    /// When the pause ends, while one is on.
    pub fn paused_until(&self) -> Option<Timestamp> {
        self.pause.until()
    }

    /// Mark `kind` (or everything) of `source` (or every source) read:
    /// here, on the servers, and (for sources that delete what was read)
    /// by deleting the messages there.
    pub fn mark_read(&mut self, source: Option<&str>, kind: Option<Kind>) {
        if source.is_some_and(|id| self.find(id).is_none()) {
            // A source that is gone has nothing left to mark.
            return;
        }
        if kind.is_none_or(|k| k == Kind::Message) {
            for s in &self.sources {
                if s.config.forget_read && source.is_none_or(|id| id == s.config.id) {
                    self.effects.push_back(Effect::ForgetUnread {
                        source: s.config.id.clone(),
                        row: None,
                    });
                }
            }
        }
        self.effects.push_back(Effect::MarkRowsRead {
            source: source.map(str::to_owned),
            kind,
        });
        self.effects.push_back(Effect::Link {
            source: source.map(str::to_owned),
            command: Command::MarkRead(kind),
        });
        self.effects.push_back(Effect::InboxChanged);
    }

    /// A row of the inbox is opened (with `link`: one of its message's
    /// links): it is marked read ([`Effect::MarkRowRead`]), and what is
    /// opened and told follows in [`Coordinator::handle_row_read`].
    pub fn open_row(&mut self, row: Row, link: Option<usize>) {
        if let Some(n) = self.find(&row.source) {
            if self.sources[n].config.forget_read {
                self.effects.push_back(Effect::ForgetUnread {
                    source: row.source.clone(),
                    row: Some(row.id),
                });
            }
        }
        self.effects.push_back(Effect::MarkRowRead { row, link });
    }

    /// `row` is marked read and `left` rows of its kind are unread: open
    /// its page, and tell its server.
    pub fn handle_row_read(&mut self, row: &Row, link: Option<usize>, left: u64) {
        let n = self.find(&row.source);
        let site = self.site_of(&row.source);
        let target = match link {
            Some(i) => row.links.get(i).and_then(|l| web_url(l)),
            None => web_url(&row.url).or(site),
        };
        if let Some(url) = target {
            self.effects.push_back(Effect::OpenUrl(url));
        }
        if n.is_some() {
            let command = if left == 0 {
                Some(Command::MarkRead(Some(row.kind)))
            } else if !row.was_read {
                // Counts kept here (push services) go down one by one.
                Some(Command::ReadOne(row.kind))
            } else {
                None
            };
            if let Some(command) = command {
                self.effects.push_back(Effect::Link {
                    source: Some(row.source.clone()),
                    command,
                });
            }
        }
        self.effects.push_back(Effect::InboxChanged);
    }

    /// A kind's menu item of source `source`: open the last such item's
    /// page (or the site) and mark the kind read.
    pub fn open_kind(&mut self, source: &str, kind: Kind) {
        let Some(n) = self.find(source) else {
            return;
        };
        let s = &self.sources[n];
        if let Some(url) = s.last_url[kind.index()]
            .clone()
            .or_else(|| s.config.site.clone())
        {
            self.effects.push_back(Effect::OpenUrl(url));
        }
        self.mark_read(Some(source), Some(kind));
    }

    /// The source's site, if it has one (its menu item).
    pub fn open_site(&mut self, source: &str) {
        if let Some(url) = self.site_of(source) {
            self.effects.push_back(Effect::OpenUrl(url));
        }
    }

    /// Pause or resume one source's link; the others go on.
    pub fn toggle_link(&mut self, source: &str) {
        let Some(n) = self.find(source) else {
            return;
        };
        let command = if self.sources[n].link == ConnState::Paused {
            Command::Unpause
        } else {
            Command::Pause
        };
        self.effects.push_back(Effect::Link {
            source: Some(source.to_owned()),
            command,
        });
    }

    /// A toast was clicked: open its page (or the source's site, or the
    /// inbox) and mark its kind read. A toast names its source by id:
    /// wherever that source now is, and nothing at all if it is gone.
    pub fn toast_opened(&mut self, source: &str, slot: ToastSlot, url: Option<String>) {
        let site = self.site_of(source);
        match url.and_then(|u| web_url(&u)).or(site) {
            Some(url) => self.effects.push_back(Effect::OpenUrl(url)),
            None => self.effects.push_back(Effect::OpenInbox),
        }
        self.toast_marked_read(source, slot);
    }

    /// A toast's "Mark as read".
    pub fn toast_marked_read(&mut self, source: &str, slot: ToastSlot) {
        let kind = match slot {
            ToastSlot::Kind(k) => k,
            ToastSlot::Urgent => Kind::Message,
            ToastSlot::Connection => return,
        };
        if self.find(source).is_some() {
            self.mark_read(Some(source), Some(kind));
        }
    }
}

/// A source as observers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub host: &'a str,
    pub dialect: Dialect,
    pub link: &'a ConnState,
    pub counts: Counts,
}
