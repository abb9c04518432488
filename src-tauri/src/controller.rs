//! The controller: one task that owns the client, the store, the announcer
//! and the tray, and handles everything the desktop and the windows ask.
//! Client outputs → store → announcer → notifications, tray and windows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chime_client::sleep_until;
use chime_client::{Client, Command};
use chime_desktop::settings::{NotifySettings, QuietHours, Settings, SourceSettings};
use chime_engine::announce::{AnnounceConfig, Announcer, ToastSlot};
use chime_engine::supervisor::{ConnState, Output};
use chime_engine::{InboxState, NewItem, Secret, ServerProfile};
use chime_proto::text::web_url;
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
use crate::{site_root, Cmd};

/// Open an http/https URL with the desktop's browser (or the program named
/// by `CHIME_OPEN_WITH`); anything else is refused.
fn open_url(app: &AppHandle, url: &str) {
    use tauri_plugin_opener::OpenerExt;
    let Some(url) = web_url(url) else {
        warn!("refusing to open a non-web link");
        return;
    };
    let with = std::env::var("CHIME_OPEN_WITH").ok();
    if let Err(e) = app.opener().open_url(url, with) {
        warn!("cannot open a link: {e}");
    }
}

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

/// Items and the resume state that covers them, not yet stored.
#[derive(Default)]
struct Pending {
    items: Vec<NewItem>,
    state: Option<InboxState>,
    /// `state` changed since it was last stored.
    dirty: bool,
}

/// One source at run time: its link, what it has announced and what it
/// still has to store. Sources never wait on each other.
struct Source {
    /// The store's source id.
    id: String,
    muted: bool,
    kinds: chime_desktop::settings::SourceKinds,
    forget_read: bool,
    identity: Option<(SourceSettings, Option<Secret>)>,
    client: Option<Client>,
    /// Outputs of an older client of this source are ignored.
    generation: u64,
    announcer: Announcer,
    pending: Pending,
    last_url: [Option<String>; 4],
    site: Option<String>,
    /// Counts have arrived on the current link.
    counts_fresh: bool,
}

pub struct Controller {
    app: AppHandle,
    tray: Option<Tray>,
    view: View,
    sources: Vec<Source>,
    /// Every source's outputs, tagged with the generation of the client
    /// that made them (which names the source wherever it now is).
    events_tx: mpsc::UnboundedSender<(u64, Output)>,
    events_rx: mpsc::UnboundedReceiver<(u64, Output)>,
    generation: u64,
    pub(crate) notifier: Notifier,
    store: Arc<Mutex<Store>>,
    quiet: QuietHours,
    notify: NotifySettings,
    /// "Pause notifications", on the wall clock (a suspend does not
    /// stretch it).
    pause: chime_engine::pause::Pause,
    /// The store failed to write: items are announced anyway, once.
    store_failed: bool,
    /// The saved sources in use, with their secrets (`None` when flags
    /// chose the servers).
    pub(crate) server: Option<(Vec<SourceSettings>, Vec<Option<Secret>>)>,
}

fn kind_index(kind: Kind) -> usize {
    kind.index()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
        let mut c = Controller {
            app,
            tray,
            view,
            sources: Vec::new(),
            events_tx,
            events_rx,
            generation: 0,
            notifier,
            store,
            quiet: QuietHours::default(),
            notify: NotifySettings::default(),
            pause: Default::default(),
            store_failed: false,
            server: None,
        };
        c.apply_prefs(settings.notify, settings.quiet_hours.clone());
        c
    }

    fn apply_prefs(&mut self, notify: NotifySettings, quiet: QuietHours) {
        self.notify = notify;
        for s in &mut self.sources {
            for kind in Kind::ALL {
                s.announcer
                    .set_enabled(kind, notify.get(kind) && s.kinds.get(kind) && !s.muted);
            }
            s.announcer.set_min_priority(s.kinds.min_priority);
        }
        self.notifier.set_sound(notify.sound);
        self.quiet = quiet;
    }

    /// Start talking to `specs` (one link each), resuming each from what
    /// the store kept for it. `problem`: why there is nothing to talk to.
    pub fn connect(&mut self, specs: Vec<SourceSpec>, problem: Option<String>) {
        let mut old: Vec<(Source, SourceView)> = std::mem::take(&mut self.sources)
            .into_iter()
            .zip(std::mem::take(&mut self.view.sources))
            .collect();
        let several = specs.len() > 1;
        for (n, spec) in specs.into_iter().enumerate() {
            // An unchanged saved source keeps its link, its announcer and
            // what it has not stored yet: only changed sources reconnect.
            let same = old.iter().position(|(s, _)| {
                s.id == spec.id && s.identity.is_some() && s.identity == spec.identity
            });
            if let Some(at) = same {
                let (mut src, mut view) = old.remove(at);
                src.announcer.relabel(several.then(|| spec.name.clone()));
                view.name = spec.name;
                self.sources.push(src);
                self.view.sources.push(view);
                continue;
            }
            self.generation += 1;
            let generation = self.generation;
            let mut announcer = Announcer::for_source(
                AnnounceConfig::default(),
                &spec.id,
                several.then(|| spec.name.clone()),
            );
            for kind in Kind::ALL {
                announcer.set_enabled(
                    kind,
                    self.notify.get(kind) && spec.kinds.get(kind) && !spec.muted,
                );
            }
            announcer.set_min_priority(spec.kinds.min_priority);
            announcer.set_paused(self.pause.is_paused(chime_engine::pause::Timestamp::now()));
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
                    InboxState::default()
                });
            info!(source = n, last_seq = resume.last_seq, "resuming");
            let host = profile.host_label();
            let site = site_root(&profile);
            let dialect = profile.dialect;
            let (client, state) = match Client::spawn(profile, spec.config, resume.clone()) {
                Ok(mut c) => {
                    forward(&mut c, generation, self.events_tx.clone());
                    (Some(c), ConnState::Connecting { attempt: 0 })
                }
                Err(e) => {
                    error!("cannot start the connection: {e}");
                    (
                        None,
                        ConnState::Misconfigured {
                            retry_in_ms: 0,
                            reason: e.to_string(),
                        },
                    )
                }
            };
            self.sources.push(Source {
                id: spec.id,
                muted: spec.muted,
                kinds: spec.kinds,
                forget_read: spec.forget_read,
                identity: spec.identity,
                client,
                generation,
                announcer,
                // Until the link reports its own, items are stored under this.
                pending: Pending {
                    state: Some(resume),
                    ..Pending::default()
                },
                last_url: Default::default(),
                site,
                counts_fresh: false,
            });
            self.view.sources.push(SourceView {
                name: spec.name,
                state,
                host,
                counts: Counts::default(),
                kinds: dialect.kinds().to_vec(),
            });
        }
        // Sources no longer listed (or changed) let go of their links.
        for (mut gone, _) in old {
            if let Some(c) = gone.client.take() {
                tauri::async_runtime::spawn(c.shutdown());
            }
        }
        if let Some(shared) = self.app.try_state::<Shared>() {
            *lock(&shared.sources) = self
                .sources
                .iter()
                .zip(&self.view.sources)
                .map(|(s, v)| SourceName {
                    id: s.id.clone(),
                    name: v.name.clone(),
                })
                .collect();
        }
        if self.view.sources.is_empty() {
            self.view.sources.push(SourceView {
                name: String::new(),
                state: match problem {
                    Some(reason) => ConnState::Misconfigured {
                        retry_in_ms: 0,
                        reason,
                    },
                    None => ConnState::Idle,
                },
                host: "server".into(),
                counts: Counts::default(),
                kinds: chime_proto::Dialect::Auto.kinds().to_vec(),
            });
        }
        self.publish_status();
    }

    pub async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        loop {
            // The pause's end is a deadline too: the label and the Resume
            // item clear themselves with no traffic needed.
            let pause_end = self
                .pause
                .remaining(chime_engine::pause::Timestamp::now())
                .map(|d| Instant::now().into_std() + d);
            let deadline = self
                .sources
                .iter()
                .filter_map(|s| s.announcer.poll_timeout())
                .chain(pause_end)
                .min()
                .map(Instant::from_std);
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
                        self.flush_all();
                    }
                }
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::Menu(id)) if id == ids::QUIT => break,
                    Some(cmd) => self.command(cmd).await,
                    None => break,
                },
                () = sleep_until(deadline) => {
                    let now = Instant::now().into_std();
                    for s in &mut self.sources {
                        s.announcer.handle_timeout(now);
                    }
                }
            }
            let quiet = self.is_quiet();
            for s in &mut self.sources {
                while let Some(toast) = s.announcer.poll_toast() {
                    if !quiet {
                        self.notifier.show(toast);
                    }
                }
            }
            self.refresh();
        }
        info!("quitting");
        self.flush_all();
        self.shutdown_links().await;
        self.app.exit(0);
    }

    async fn shutdown_links(&mut self) {
        for s in &mut self.sources {
            if let Some(c) = s.client.take() {
                c.shutdown().await;
            }
        }
    }

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Menu(id) => self.menu(&id),
            Cmd::Toast(ev) => self.toast_event(ev),
            // Sleep, wake and the network concern every link.
            Cmd::Os(cmd) => self.send_all(cmd),
            Cmd::OpenItem(id, link) => self.open_item(id, link),
            Cmd::MarkRead(None, kind) => self.mark_read(None, kind),
            Cmd::MarkRead(Some(id), kind) => {
                // A source that is gone has nothing left to mark.
                if let Some(n) = self.sources.iter().position(|s| s.id == id) {
                    self.mark_read(Some(n), kind);
                }
            }
            Cmd::Reconfigure(settings, secrets) => {
                self.apply_prefs(settings.notify, settings.quiet_hours.clone());
                let server = Some((settings.sources.clone(), secrets.clone()));
                if server == self.server {
                    // Only notification preferences changed: keep the links.
                    return;
                }
                self.server = server;
                self.flush_all();
                let (specs, problem) = crate::settings_sources(&settings, &secrets);
                self.connect(specs, problem);
            }
        }
    }

    fn output(&mut self, generation: u64, out: Output) {
        // Sources move when the list is reordered: the generation names the
        // client, and so its source, wherever it now is.
        let Some(n) = self.sources.iter().position(|s| s.generation == generation) else {
            return;
        };
        let (Some(src), Some(view)) = (self.sources.get_mut(n), self.view.sources.get_mut(n))
        else {
            return;
        };
        match out {
            Output::State(s) => {
                if matches!(s, ConnState::Connecting { .. }) {
                    // A new link: its first counts are news.
                    src.counts_fresh = false;
                }
                if s != ConnState::Paused {
                    src.announcer.handle_link(
                        Instant::now().into_std(),
                        s.is_connected(),
                        &view.host,
                    );
                }
                view.state = s;
            }
            Output::Items(items) => src.pending.items.extend(items),
            Output::Saved(state) => {
                // Items of one server log are stored under its epoch: a new
                // log must not mix with a batch of the old one.
                let new_log = src
                    .pending
                    .state
                    .as_ref()
                    .is_some_and(|p| p.epoch != state.epoch);
                if new_log {
                    self.flush(n);
                }
                let src = &mut self.sources[n];
                src.pending.state = Some(*state);
                src.pending.dirty = true;
            }
            Output::Counts(c) => {
                // A kind read elsewhere is read here too: when its count
                // falls to 0, and on a link's first counts (after a restart,
                // what was read while Chime was closed).
                let fresh = src.counts_fresh;
                let zero: Vec<Kind> = Kind::ALL
                    .into_iter()
                    .filter(|&k| c.get(k) == 0 && (!fresh || view.counts.get(k) > 0))
                    .collect();
                if !zero.is_empty() {
                    // Rows of this batch not stored yet must not come back
                    // unread after the marking.
                    if src.pending.items.iter().any(|i| zero.contains(&i.kind())) {
                        self.flush(n);
                    }
                    let id = self.sources[n].id.clone();
                    let mut read = 0;
                    for kind in zero {
                        read += lock(&self.store)
                            .mark_kind_read(Some(&id), Some(kind))
                            .unwrap_or(0);
                    }
                    if read > 0 {
                        self.inbox_changed();
                    }
                }
                self.sources[n].counts_fresh = true;
                self.view.sources[n].counts = c;
            }
            Output::Notice(m) => info!(source = n, "server: {m}"),
        }
    }

    fn flush_all(&mut self) {
        for n in 0..self.sources.len() {
            self.flush(n);
        }
    }

    /// Store what arrived, then announce what the store had not seen: a
    /// crash between the two loses a toast, never an item, and nothing is
    /// announced twice.
    fn flush(&mut self, n: usize) {
        let src = &mut self.sources[n];
        // A batch of state changes or counts alone has nothing to write.
        if src.pending.items.is_empty() && !src.pending.dirty {
            return;
        }
        src.pending.dirty = false;
        let items = std::mem::take(&mut src.pending.items);
        let Some(state) = src.pending.state.clone() else {
            self.announce(n, &items);
            return;
        };
        let fresh = lock(&self.store).record(&src.id, &items, &state, now_ms());
        match fresh {
            Ok(fresh) => {
                self.store_failed = false;
                if !fresh.is_empty() {
                    self.inbox_changed();
                }
                self.announce(n, &fresh);
            }
            Err(e) => {
                if !self.store_failed {
                    error!("cannot store new items: {e}");
                }
                self.store_failed = true;
                self.announce(n, &items);
            }
        }
    }

    fn announce(&mut self, n: usize, items: &[NewItem]) {
        if items.is_empty() {
            return;
        }
        let src = &mut self.sources[n];
        for item in items {
            if let NewItem::Event(e) = item {
                src.last_url[kind_index(e.kind)] = web_url(&e.target.url);
            }
        }
        // Tests read this line: the sequence numbers end it.
        info!(
            "source {n}: announcing {} new item(s), seq {}",
            items.len(),
            seq_ranges(items)
        );
        src.announcer.handle_items(Instant::now().into_std(), items);
    }

    fn is_quiet(&self) -> bool {
        if !self.quiet.enabled {
            return false;
        }
        let (wday, minute) = local_wday_minute();
        self.quiet.contains(wday, minute)
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

    fn send_to(&self, n: usize, cmd: Command) {
        if let Some(c) = self.sources.get(n).and_then(|s| s.client.as_ref()) {
            c.handle().send(cmd);
        }
    }

    fn send_all(&self, cmd: Command) {
        for s in &self.sources {
            if let Some(c) = &s.client {
                c.handle().send(cmd.clone());
            }
        }
    }

    /// Mark `kind` (or everything) read, of source `n` (or every source).
    fn mark_read(&mut self, n: Option<usize>, kind: Option<Kind>) {
        let id = n.and_then(|n| self.sources.get(n)).map(|s| s.id.clone());
        if kind.is_none_or(|k| k == Kind::Message) {
            self.forget_read(n, None);
        }
        if let Err(e) = lock(&self.store).mark_kind_read(id.as_deref(), kind) {
            warn!("cannot mark items read: {e}");
        }
        match n {
            Some(n) => self.send_to(n, Command::MarkRead(kind)),
            None => self.send_all(Command::MarkRead(kind)),
        }
        self.inbox_changed();
    }

    /// Sources that delete what was read on their server (Gotify, opt-in):
    /// the ids of their unread messages — of source `n` (or all), of row
    /// `row` (or all) — go to their links before the rows are marked read.
    fn forget_read(&mut self, n: Option<usize>, row: Option<i64>) {
        for (i, src) in self.sources.iter().enumerate() {
            if !src.forget_read || n.is_some_and(|n| n != i) {
                continue;
            }
            let ids = lock(&self.store)
                .unread_message_ids(&src.id, row)
                .unwrap_or_default();
            if !ids.is_empty() {
                if let Some(c) = &src.client {
                    c.handle().send(Command::Forget(ids));
                }
            }
        }
    }

    /// A row of the inbox was opened: open its page, mark it read, and
    /// once no unread row of its kind is left, tell its server.
    fn open_item(&mut self, id: i64, link: Option<usize>) {
        let owner = lock(&self.store)
            .get(id)
            .ok()
            .flatten()
            .and_then(|r| self.sources.iter().position(|s| s.id == r.source));
        if let Some(n) = owner {
            self.forget_read(Some(n), Some(id));
        }
        let row = {
            let mut store = lock(&self.store);
            match store.mark_read(id) {
                Ok(Some(row)) => {
                    let left = store.unread(Some(&row.source), row.kind).unwrap_or(0);
                    Some((row, left))
                }
                Ok(None) => None,
                Err(e) => {
                    warn!("cannot open an inbox item: {e}");
                    None
                }
            }
        };
        let Some((row, left)) = row else {
            return;
        };
        let n = self.sources.iter().position(|s| s.id == row.source);
        let site = n.and_then(|n| self.sources[n].site.clone());
        let target = match link {
            Some(i) => row
                .message
                .as_ref()
                .and_then(|m| m.links.get(i))
                .and_then(|l| web_url(&l.url)),
            None => web_url(&row.url).or(site),
        };
        if let Some(url) = target {
            open_url(&self.app, &url);
        }
        match (left, n) {
            (0, Some(n)) => self.send_to(n, Command::MarkRead(Some(row.kind))),
            // Counts kept here (push services) go down one by one.
            (_, Some(n)) if !row.read => self.send_to(n, Command::ReadOne(row.kind)),
            _ => {}
        }
        self.inbox_changed();
    }

    fn menu(&mut self, id: &str) {
        let (base, n) = parse_id(id);
        match base {
            ids::OPEN_INBOX => crate::host::open(&self.app, windows::INBOX),
            ids::SETTINGS => crate::host::open(&self.app, windows::SETTINGS),
            ids::MARK_ALL_READ => self.mark_read(None, None),
            ids::RECONNECT => self.send_all(Command::ReconnectNow),
            ids::PAUSE_HOUR => self.pause(Some(Duration::from_secs(3600))),
            ids::PAUSE_TOMORROW => self.pause(Some(until_tomorrow())),
            ids::PAUSE_RESUME => self.pause(None),
            ids::OPEN_SITE => {
                if let Some(url) = self.sources.get(n).and_then(|s| s.site.clone()) {
                    open_url(&self.app, &url);
                }
            }
            ids::PAUSE_SOURCE => {
                // This source's link only: the others go on.
                let paused = self
                    .view
                    .sources
                    .get(n)
                    .is_some_and(|s| s.state == ConnState::Paused);
                let cmd = if paused {
                    Command::Unpause
                } else {
                    Command::Pause
                };
                self.send_to(n, cmd);
            }
            ids::LIKES | ids::DISLIKES | ids::REPLIES | ids::MESSAGES => {
                let kind = Kind::ALL
                    .into_iter()
                    .find(|&k| ids::kind(k) == base)
                    .unwrap_or(Kind::Message);
                let Some(src) = self.sources.get(n) else {
                    return;
                };
                if let Some(url) = src.last_url[kind_index(kind)]
                    .clone()
                    .or_else(|| src.site.clone())
                {
                    open_url(&self.app, &url);
                }
                self.mark_read(Some(n), Some(kind));
            }
            other => warn!("unknown menu item {other}"),
        }
    }

    /// Pause toasts of every source for `d` (`None` resumes).
    fn pause(&mut self, d: Option<Duration>) {
        let now = chime_engine::pause::Timestamp::now();
        self.pause.set(now, d);
        let paused = self.pause.is_paused(now);
        for s in &mut self.sources {
            s.announcer.set_paused(paused);
        }
        self.view.paused = d.filter(|_| paused).map(local_hhmm);
    }

    fn toast_event(&mut self, ev: ToastEvent) {
        let kind_of = |slot| match slot {
            ToastSlot::Kind(k) => Some(k),
            ToastSlot::Urgent => Some(Kind::Message),
            ToastSlot::Connection => None,
        };
        // A toast names its source by id: wherever that source now is in
        // the list, and nothing at all if it was removed since.
        let find = |id: &str| self.sources.iter().position(|s| s.id == id);
        match ev {
            ToastEvent::Open { source, slot, url } => {
                let n = find(&source);
                let site = n.and_then(|n| self.sources[n].site.clone());
                match url.or(site) {
                    Some(url) => open_url(&self.app, &url),
                    // Nothing to open on the web: show what arrived.
                    None => crate::host::open(&self.app, windows::INBOX),
                }
                if let (Some(n), Some(k)) = (n, kind_of(slot)) {
                    self.mark_read(Some(n), Some(k));
                }
            }
            ToastEvent::MarkRead { source, slot } => {
                if let (Some(n), Some(k)) = (find(&source), kind_of(slot)) {
                    self.mark_read(Some(n), Some(k));
                }
            }
        }
    }

    fn refresh(&mut self) {
        // Over on the wall clock (also right after a resume from sleep).
        self.pause.expire(chime_engine::pause::Timestamp::now());
        if self.pause.until().is_none() && self.view.paused.take().is_some() {
            for s in &mut self.sources {
                s.announcer.set_paused(false);
            }
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
