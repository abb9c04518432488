//! The controller: a router. It owns the links (one client per source),
//! the store handle, the tray and the notifier, feeds every client output,
//! menu and toast action into the engine's [`Coordinator`], and carries out
//! the coordinator's effects in order: store, mark, tell a link, open a
//! page, show a toast. The rules themselves are the coordinator's, unit
//! tested in `chime-engine`.
//!
//! The store has one writer: this task. A removed source's rows go after
//! its link has shut down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chime_client::sleep_until;
use chime_client::{Client, Command};
use chime_desktop::settings::{NotifySettings, QuietHours, Settings, SourceSettings};
use chime_engine::announce::AnnounceConfig;
use chime_engine::coordinator::{
    Coordinator, Effect, Now, Row, SourceConfig, SourceSlot, Stored, Toasts,
};
use chime_engine::pause::Timestamp;
use chime_engine::supervisor::{ConnState, Output};
use chime_engine::{NewItem, Secret, ServerProfile};
use chime_proto::{Counts, Kind};
use chime_store::Store;
use tauri::{AppHandle, Manager};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::localtime::{local_hhmm, local_wday_minute, until_tomorrow};
use crate::lock;
use crate::notifier::{Notifier, ToastEvent};
use crate::state::{Shared, SourceName, Status};
use crate::tray::{ids, parse_id, SourceView, Tray, View};
use crate::windows::{self, events};
use crate::{open_url, site_root, Cmd};

/// Outputs handled between two tray refreshes, at most.
const BATCH: usize = 4096;

/// One source to watch: its store id, its name, where and how.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub id: String,
    pub name: String,
    /// No toasts from it (quiet hours and pauses are for every source).
    pub muted: bool,
    /// Its own choice of kinds that pop up.
    pub kinds: chime_desktop::settings::SourceKinds,
    /// Reading a message here deletes it on the server (Gotify, opt-in).
    pub forget_read: bool,
    /// What it was made from, for saved sources: an unchanged source keeps
    /// its link when the settings are saved again.
    pub identity: Option<(SourceSettings, Option<Secret>)>,
    pub profile: ServerProfile,
    pub config: chime_engine::Config,
}

/// One source's link.
struct Link {
    id: String,
    identity: Option<(SourceSettings, Option<Secret>)>,
    client: Option<Client>,
    /// Outputs of an older client of this source are ignored.
    generation: u64,
}

pub struct Controller {
    app: AppHandle,
    tray: Option<Tray>,
    view: View,
    coord: Coordinator,
    links: Vec<Link>,
    /// Why there is no source, if there is none.
    problem: Option<String>,
    /// Every source's outputs, tagged with the generation of the client
    /// that made them (which names the source wherever it now is).
    events_tx: mpsc::UnboundedSender<(u64, Output)>,
    events_rx: mpsc::UnboundedReceiver<(u64, Output)>,
    /// Removed sources whose links have shut down: their rows may go.
    gone_tx: mpsc::UnboundedSender<String>,
    gone_rx: mpsc::UnboundedReceiver<String>,
    generation: u64,
    pub(crate) notifier: Notifier,
    store: Arc<Mutex<Store>>,
    /// "Paused until HH:MM", while the coordinator's pause is on.
    pause_label: Option<String>,
    /// The store failed to write: logged once.
    store_failed: bool,
    /// The saved sources in use, with their secrets (`None` when flags
    /// chose the servers).
    pub(crate) server: Option<(Vec<SourceSettings>, Vec<Option<Secret>>)>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Every clock the coordinator's rules read, read once.
fn now() -> Now {
    let (weekday, minute) = local_wday_minute();
    Now {
        mono: Instant::now().into_std(),
        wall: Timestamp::now(),
        weekday,
        minute,
    }
}

fn toasts_of(kinds: &chime_desktop::settings::SourceKinds) -> Toasts {
    Toasts {
        kinds: Kind::ALL.map(|k| kinds.get(k)),
        min_priority: kinds.min_priority,
    }
}

impl Controller {
    pub fn new(
        app: AppHandle,
        tray: Option<Tray>,
        view: View,
        notifier: Notifier,
        store: Arc<Mutex<Store>>,
        settings: &Settings,
    ) -> Controller {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (gone_tx, gone_rx) = mpsc::unbounded_channel();
        let mut c = Controller {
            app,
            tray,
            view,
            coord: Coordinator::new(AnnounceConfig::default()),
            links: Vec::new(),
            problem: None,
            events_tx,
            events_rx,
            gone_tx,
            gone_rx,
            generation: 0,
            notifier,
            store,
            pause_label: None,
            store_failed: false,
            server: None,
        };
        c.apply_prefs(settings.notify, settings.quiet_hours.clone());
        c
    }

    fn apply_prefs(&mut self, notify: NotifySettings, quiet: QuietHours) {
        self.coord
            .set_prefs(Kind::ALL.map(|k| notify.get(k)), quiet);
        self.notifier.set_sound(notify.sound);
    }

    /// Start talking to `specs` (one link each), resuming each from what
    /// the store kept for it. `problem`: why there is nothing to talk to.
    pub fn connect(&mut self, specs: Vec<SourceSpec>, problem: Option<String>) {
        let now = now();
        let mut old = std::mem::take(&mut self.links);
        let mut slots = Vec::new();
        let mut failed = Vec::new();
        for (n, spec) in specs.into_iter().enumerate() {
            // An unchanged saved source keeps its link, its announcer and
            // what it has not stored yet: only changed sources reconnect.
            let same = old.iter().position(|l| {
                l.id == spec.id && l.identity.is_some() && l.identity == spec.identity
            });
            if let Some(at) = same {
                self.links.push(old.remove(at));
                slots.push(SourceSlot::Keep {
                    id: spec.id,
                    name: spec.name,
                });
                continue;
            }
            self.generation += 1;
            let generation = self.generation;
            let profile = spec.profile;
            // Per server and account, never per secret (a renewed cookie
            // keeps its place); what older versions kept is taken over.
            let resume = lock(&self.store)
                .resume_or(
                    &spec.id,
                    &profile.resume_key(),
                    &[&profile.legacy_resume_key(), &profile.display_url()],
                )
                .unwrap_or_else(|e| {
                    warn!("cannot read the resume state: {e}");
                    Default::default()
                });
            info!(source = n, last_seq = resume.last_seq, "resuming");
            let config = SourceConfig {
                id: spec.id.clone(),
                name: spec.name,
                host: profile.host_label(),
                site: site_root(&profile),
                dialect: profile.dialect,
                toasts: toasts_of(&spec.kinds),
                muted: spec.muted,
                forget_read: spec.forget_read,
                resume: resume.clone(),
            };
            let client = match Client::spawn(profile, spec.config, resume) {
                Ok(mut c) => {
                    forward(&mut c, generation, self.events_tx.clone());
                    Some(c)
                }
                Err(e) => {
                    error!("cannot start the connection: {e}");
                    failed.push((spec.id.clone(), e.to_string()));
                    None
                }
            };
            self.links.push(Link {
                id: spec.id,
                identity: spec.identity,
                client,
                generation,
            });
            slots.push(SourceSlot::New(Box::new(config)));
        }
        let gone = self.coord.set_sources(&now, slots);
        for (id, reason) in failed {
            self.coord.set_link_state(
                &id,
                ConnState::Misconfigured {
                    retry_in_ms: 0,
                    reason,
                },
            );
        }
        self.problem = problem;
        // Sources no longer listed (or changed) let go of their links; the
        // rows of those gone for good go once their link has.
        for mut link in old {
            let client = link.client.take();
            let gone_for_good = gone.contains(&link.id).then(|| self.gone_tx.clone());
            tauri::async_runtime::spawn(async move {
                if let Some(c) = client {
                    c.shutdown().await;
                }
                if let Some(tx) = gone_for_good {
                    let _ = tx.send(link.id);
                }
            });
        }
        if let Some(shared) = self.app.try_state::<Shared>() {
            *lock(&shared.sources) = self
                .coord
                .sources()
                .map(|s| SourceName {
                    id: s.id.to_owned(),
                    name: s.name.to_owned(),
                })
                .collect();
        }
        self.effects();
        self.refresh();
    }

    pub async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        loop {
            // Announcer timers, and the pause's end: the label and the
            // Resume item clear themselves with no traffic needed.
            let deadline = self.coord.poll_timeout(&now()).map(Instant::from_std);
            tokio::select! {
                ev = self.events_rx.recv() => {
                    if let Some((generation, out)) = ev {
                        self.output(generation, out);
                        // Take whatever else is already queued before touching
                        // the tray: a burst is one transaction and one tray
                        // update, not thousands.
                        for _ in 0..BATCH {
                            match self.events_rx.try_recv() {
                                Ok((generation, out)) => self.output(generation, out),
                                Err(_) => break,
                            }
                        }
                        self.coord.flush();
                    }
                }
                Some(id) = self.gone_rx.recv() => self.remove_rows(&id),
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::Menu(id)) if id == ids::QUIT => break,
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                () = sleep_until(deadline) => {}
            }
            self.coord.handle_tick(&now());
            self.effects();
            self.refresh();
        }
        info!("quitting");
        self.coord.flush();
        self.effects();
        self.shutdown_links().await;
        self.app.exit(0);
    }

    async fn shutdown_links(&mut self) {
        for l in &mut self.links {
            if let Some(c) = l.client.take() {
                c.shutdown().await;
            }
        }
    }

    /// A removed source's link is down: its rows and resume state go (the
    /// controller is the store's one writer).
    fn remove_rows(&mut self, id: &str) {
        if self.links.iter().any(|l| l.id == id) {
            // Added again meanwhile: it keeps them.
            return;
        }
        match lock(&self.store).remove_source(id) {
            Ok(n) => info!("a removed source's {n} inbox item(s) are gone"),
            Err(e) => warn!("cannot remove a source's items: {e}"),
        }
        self.inbox_changed();
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Menu(id) => self.menu(&id),
            Cmd::Toast(ToastEvent::Open { source, slot, url }) => {
                self.coord.toast_opened(&source, slot, url)
            }
            Cmd::Toast(ToastEvent::MarkRead { source, slot }) => {
                self.coord.toast_marked_read(&source, slot)
            }
            // Sleep, wake and the network concern every link.
            Cmd::Os(cmd) => self.send(None, cmd),
            Cmd::OpenItem(id, link) => self.open_item(id, link),
            Cmd::MarkRead(id, kind) => self.coord.mark_read(id.as_deref(), kind),
            Cmd::Reconfigure(settings, secrets) => {
                self.apply_prefs(settings.notify, settings.quiet_hours.clone());
                let server = Some((settings.sources.clone(), secrets.clone()));
                if server == self.server {
                    // Only notification preferences changed: keep the links.
                    return;
                }
                self.server = server;
                self.coord.flush();
                self.effects();
                let (specs, problem) = crate::settings_sources(&settings, &secrets);
                self.connect(specs, problem);
            }
        }
    }

    fn output(&mut self, generation: u64, out: Output) {
        // Sources move when the list is reordered: the generation names the
        // client, and so its source, wherever it now is.
        let Some(id) = self
            .links
            .iter()
            .find(|l| l.generation == generation)
            .map(|l| l.id.clone())
        else {
            return;
        };
        if let Output::Notice(m) = &out {
            info!(source = %id, "server: {m}");
        }
        self.coord.handle_output(&now(), &id, out);
        // An epoch change or counts may have asked for a store first.
        self.effects();
    }

    /// Carry out what the coordinator asked, in order.
    fn effects(&mut self) {
        while let Some(effect) = self.coord.poll_effect() {
            match effect {
                Effect::Store {
                    source,
                    items,
                    state,
                } => {
                    let result = lock(&self.store).record(&source, &items, &state, now_ms());
                    let stored = match result {
                        Ok(fresh) => {
                            self.store_failed = false;
                            Stored::Fresh(fresh)
                        }
                        Err(e) => {
                            if !self.store_failed {
                                error!("cannot store new items: {e}");
                            }
                            self.store_failed = true;
                            Stored::Failed(items)
                        }
                    };
                    let (Stored::Fresh(announced) | Stored::Failed(announced)) = &stored;
                    if !announced.is_empty() {
                        // Tests read this line (the source's place, then
                        // the sequence numbers).
                        let n = self.coord.sources().position(|s| s.id == source);
                        info!(
                            "source {}: announcing {} new item(s), seq {}",
                            n.unwrap_or(usize::MAX),
                            announced.len(),
                            seq_ranges(announced)
                        );
                    }
                    self.coord.handle_stored(&now(), &source, stored);
                }
                Effect::MarkRowsRead { source, kind } => {
                    match lock(&self.store).mark_kind_read(source.as_deref(), kind) {
                        Ok(0) => {}
                        Ok(_) => self.inbox_changed(),
                        Err(e) => warn!("cannot mark items read: {e}"),
                    }
                }
                Effect::MarkRowRead { row, link } => {
                    let left = {
                        let mut store = lock(&self.store);
                        match store.mark_read(row.id) {
                            Ok(Some(_)) => {
                                Some(store.unread(Some(&row.source), row.kind).unwrap_or(0))
                            }
                            Ok(None) => None,
                            Err(e) => {
                                warn!("cannot open an inbox item: {e}");
                                None
                            }
                        }
                    };
                    if let Some(left) = left {
                        self.coord.handle_row_read(&row, link, left);
                    }
                }
                Effect::ForgetUnread { source, row } => {
                    let ids = lock(&self.store)
                        .unread_message_ids(&source, row)
                        .unwrap_or_default();
                    if !ids.is_empty() {
                        self.send(Some(&source), Command::Forget(ids));
                    }
                }
                Effect::Link { source, command } => self.send(source.as_deref(), command),
                Effect::OpenUrl(url) => open_url(&self.app, &url),
                Effect::OpenInbox => crate::host::open(&self.app, windows::INBOX),
                Effect::InboxChanged => self.inbox_changed(),
                Effect::Toast(toast) => self.notifier.show(toast),
                Effect::CloseToast { source, slot } => self.notifier.close(source, slot),
                Effect::WithdrawRows {
                    source,
                    keys,
                    deleted,
                } => match lock(&self.store).withdraw(&source, &keys, deleted) {
                    Ok(unread) => self.coord.handle_withdrawn(&source, &unread),
                    Err(e) => warn!("cannot withdraw inbox items: {e}"),
                },
            }
        }
    }

    fn inbox_changed(&self) {
        crate::host::emit(&self.app, events::INBOX_CHANGED, ());
    }

    /// Tell the windows, if what they show changed (once per batch, like
    /// the tray).
    fn publish_status(&self) {
        if let Some(shared) = self.app.try_state::<Shared>() {
            let status = Status {
                state: self.view.state(),
                line: self.view.status_line(),
                counts: self.view.counts(),
            };
            if shared.set_status(&status) {
                crate::host::emit(&self.app, events::STATUS_CHANGED, status);
            }
        }
    }

    /// A command for `source`'s link (`None`: every link).
    fn send(&self, source: Option<&str>, cmd: Command) {
        for l in &self.links {
            if source.is_none_or(|id| id == l.id) {
                if let Some(c) = &l.client {
                    c.handle().send(cmd.clone());
                }
            }
        }
    }

    /// A row of the inbox was opened (with `link`: one of its message's
    /// links).
    fn open_item(&mut self, id: i64, link: Option<usize>) {
        let found = lock(&self.store).get(id);
        let row = match found {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                warn!("cannot open an inbox item: {e}");
                return;
            }
        };
        let links = row
            .message
            .as_ref()
            .map(|m| m.links.iter().map(|l| l.url.clone()).collect())
            .unwrap_or_default();
        self.coord.open_row(
            Row {
                id: row.id,
                source: row.source,
                kind: row.kind,
                was_read: row.read,
                url: row.url,
                links,
            },
            link,
        );
    }

    fn menu(&mut self, id: &str) {
        let (base, n) = parse_id(id);
        // Per-source items carry the source's place in the menu, which is
        // the coordinator's order.
        let source = self.coord.sources().nth(n).map(|s| s.id.to_owned());
        match base {
            ids::OPEN_INBOX => crate::host::open(&self.app, windows::INBOX),
            ids::SETTINGS => crate::host::open(&self.app, windows::SETTINGS),
            ids::MARK_ALL_READ => self.coord.mark_read(None, None),
            ids::RECONNECT => self.send(None, Command::ReconnectNow),
            ids::PAUSE_HOUR => self.pause(Some(Duration::from_secs(3600))),
            ids::PAUSE_TOMORROW => self.pause(Some(until_tomorrow())),
            ids::PAUSE_RESUME => self.pause(None),
            ids::OPEN_SITE => {
                if let Some(id) = source {
                    self.coord.open_site(&id);
                }
            }
            ids::PAUSE_SOURCE => {
                if let Some(id) = source {
                    self.coord.toggle_link(&id);
                }
            }
            ids::LIKES | ids::DISLIKES | ids::REPLIES | ids::MESSAGES => {
                let kind = Kind::ALL
                    .into_iter()
                    .find(|&k| ids::kind(k) == base)
                    .unwrap_or(Kind::Message);
                if let Some(id) = source {
                    self.coord.open_kind(&id, kind);
                }
            }
            other => warn!("unknown menu item {other}"),
        }
    }

    /// Pause toasts of every source for `d` (`None` resumes).
    fn pause(&mut self, d: Option<Duration>) {
        self.coord.pause(&now(), d);
        self.pause_label = d.map(local_hhmm);
    }

    /// The tray and the windows, from the coordinator's sources.
    fn refresh(&mut self) {
        if self.coord.paused_until().is_none() {
            self.pause_label = None;
        }
        self.view.paused = self.pause_label.clone();
        self.view.sources = self
            .coord
            .sources()
            .map(|s| SourceView {
                name: s.name.to_owned(),
                state: s.link.clone(),
                host: s.host.to_owned(),
                counts: s.counts,
                kinds: chime_engine::dialect::protocol(s.dialect).kinds.to_vec(),
            })
            .collect();
        if self.view.sources.is_empty() {
            self.view.sources.push(SourceView {
                name: String::new(),
                state: match &self.problem {
                    Some(reason) => ConnState::Misconfigured {
                        retry_in_ms: 0,
                        reason: reason.clone(),
                    },
                    None => ConnState::Idle,
                },
                host: "server".into(),
                counts: Counts::default(),
                kinds: chime_engine::dialect::protocol(chime_proto::Dialect::Auto)
                    .kinds
                    .to_vec(),
            });
        }
        if let Some(tray) = &self.tray {
            if let Err(e) = tray.update(&self.view) {
                warn!("tray update failed: {e}");
            }
        }
        self.publish_status();
    }
}

/// Hand a client's outputs to the controller's one queue, tagged with its
/// generation.
fn forward(client: &mut Client, generation: u64, tx: mpsc::UnboundedSender<(u64, Output)>) {
    let (_, empty) = mpsc::unbounded_channel();
    let mut events = std::mem::replace(&mut client.events, empty);
    tauri::async_runtime::spawn(async move {
        while let Some(out) = events.recv().await {
            if tx.send((generation, out)).is_err() {
                return;
            }
        }
    });
}

/// "1-5,7,9-12": the native sequence numbers among `items`, compactly.
fn seq_ranges(items: &[NewItem]) -> String {
    let mut out = String::new();
    let mut run: Option<(u64, u64)> = None;
    let push = |out: &mut String, (a, b): (u64, u64)| {
        if !out.is_empty() {
            out.push(',');
        }
        if a == b {
            out.push_str(&a.to_string());
        } else {
            out.push_str(&format!("{a}-{b}"));
        }
    };
    for item in items {
        let NewItem::Event(e) = item else { continue };
        run = match run {
            Some((a, b)) if b.checked_add(1) == Some(e.seq) => Some((a, e.seq)),
            Some(r) => {
                push(&mut out, r);
                Some((e.seq, e.seq))
            }
            None => Some((e.seq, e.seq)),
        };
    }
    if let Some(r) = run {
        push(&mut out, r);
    }
    if out.is_empty() {
        out.push('-');
    }
    out
}
