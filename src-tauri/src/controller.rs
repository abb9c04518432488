//! The controller: one task that owns the client, the store, the announcer
//! and the tray, and handles everything the desktop and the windows ask.
//! Client outputs → store → announcer → notifications, tray and windows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chime_core::announce::{web_url, AnnounceConfig, Announcer, ToastSlot};
use chime_core::client::sleep_until;
use chime_core::settings::{NotifySettings, QuietHours, ServerSettings, Settings};
use chime_core::store::Store;
use chime_core::supervisor::{ConnState, Output};
use chime_core::{Client, Command, Counts, InboxState, Kind, NewItem, Secret};
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::localtime::{local_hhmm, local_wday_minute, until_tomorrow};
use crate::notifier::{Notifier, ToastEvent};
use crate::state::{lock, Shared, Status};
use crate::tray::{ids, Tray, View};
use crate::windows::{self, events};
use crate::{site_root, Cmd, Profile};

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

/// The app watches one source (its rows and resume state in the store).
const SOURCE: &str = chime_core::store::DEFAULT_SOURCE;

/// Outputs handled between two tray refreshes, at most.
const BATCH: usize = 4096;

/// Items and the resume state that covers them, not yet stored.
#[derive(Default)]
struct Pending {
    items: Vec<NewItem>,
    state: Option<InboxState>,
    /// `state` changed since it was last stored.
    dirty: bool,
}

pub struct Controller {
    app: AppHandle,
    tray: Option<Tray>,
    view: View,
    announcer: Announcer,
    pub(crate) notifier: Notifier,
    store: Arc<Mutex<Store>>,
    pending: Pending,
    quiet: QuietHours,
    last_url: [Option<String>; 3],
    client: Option<Client>,
    site: Option<String>,
    /// The store failed to write: items are announced anyway, once.
    store_failed: bool,
    /// Counts have arrived on the current link.
    counts_fresh: bool,
    /// The saved server settings in use (`None` when flags chose the server).
    pub(crate) server: Option<(ServerSettings, Option<Secret>)>,
}

fn kind_index(kind: Kind) -> usize {
    match kind {
        Kind::Like => 0,
        Kind::Dislike => 1,
        Kind::Reply => 2,
    }
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
        let mut c = Controller {
            app,
            tray,
            view,
            announcer: Announcer::new(AnnounceConfig::default()),
            notifier,
            store,
            pending: Pending::default(),
            quiet: QuietHours::default(),
            last_url: Default::default(),
            client: None,
            site: None,
            store_failed: false,
            counts_fresh: false,
            server: None,
        };
        c.apply_prefs(settings.notify, settings.quiet_hours.clone());
        c
    }

    fn apply_prefs(&mut self, notify: NotifySettings, quiet: QuietHours) {
        for kind in Kind::ALL {
            self.announcer.set_enabled(kind, notify.get(kind));
        }
        self.notifier.set_sound(notify.sound);
        self.quiet = quiet;
    }

    /// Start talking to `profile` (dropping any current link), resuming
    /// from what the store kept for that server.
    pub fn connect(&mut self, profile: Profile) {
        self.site = None;
        let Some((profile, config)) = profile else {
            self.publish_status();
            return;
        };
        self.view.host = profile.host_label();
        self.site = site_root(&profile);
        // Per server and account; the URL alone was the key before.
        let resume = lock(&self.store)
            .resume_or(SOURCE, &profile.resume_key(), &[&profile.display_url()])
            .unwrap_or_else(|e| {
                warn!("cannot read the resume state: {e}");
                InboxState::default()
            });
        info!(last_seq = resume.last_seq, "resuming");
        // Until the link reports its own, items are stored under this.
        self.pending.state = Some(resume.clone());
        match Client::spawn(profile, config, resume) {
            Ok(c) => {
                self.client = Some(c);
                self.view.state = ConnState::Connecting { attempt: 0 };
            }
            Err(e) => {
                error!("cannot start the connection: {e}");
                self.view.state = ConnState::Misconfigured {
                    retry_in_ms: 0,
                    reason: e.to_string(),
                };
            }
        }
        self.publish_status();
    }

    pub async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        loop {
            let deadline = self.announcer.poll_timeout().map(Instant::from_std);
            tokio::select! {
                out = next_output(&mut self.client) => match out {
                    Some(out) => {
                        self.output(out);
                        // Take whatever else is already queued before touching
                        // the tray: a burst is one transaction and one tray
                        // update, not thousands.
                        for _ in 0..BATCH {
                            match self.client.as_mut().map(|c| c.events.try_recv()) {
                                Some(Ok(out)) => self.output(out),
                                _ => break,
                            }
                        }
                        self.flush();
                    }
                    None => self.client = None,
                },
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::Menu(id)) if id == ids::QUIT => break,
                    Some(cmd) => self.command(cmd).await,
                    None => break,
                },
                () = sleep_until(deadline) => self.announcer.handle_timeout(Instant::now().into_std()),
            }
            while let Some(toast) = self.announcer.poll_toast() {
                if self.is_quiet() {
                    continue;
                }
                self.notifier.show(toast);
            }
            self.refresh();
        }
        info!("quitting");
        self.flush();
        if let Some(c) = self.client.take() {
            c.shutdown().await;
        }
        self.app.exit(0);
    }

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Menu(id) => self.menu(&id),
            Cmd::Toast(ev) => self.toast_event(ev),
            Cmd::Os(cmd) => self.send(cmd),
            Cmd::OpenItem(id) => self.open_item(id),
            Cmd::MarkRead(kind) => self.mark_read(kind),
            Cmd::Reconfigure(settings, secret) => {
                self.apply_prefs(settings.notify, settings.quiet_hours.clone());
                let server = Some((settings.server.clone(), secret.clone()));
                if server == self.server {
                    // Only notification preferences changed: keep the link.
                    return;
                }
                self.server = server;
                self.flush();
                if let Some(old) = self.client.take() {
                    old.shutdown().await;
                }
                self.view.counts = Counts::default();
                self.last_url = Default::default();
                let profile = match settings.profile(secret) {
                    Ok(p) => {
                        self.view.state = ConnState::Idle;
                        p
                    }
                    Err(e) => {
                        self.view.state = ConnState::Misconfigured {
                            retry_in_ms: 0,
                            reason: e,
                        };
                        None
                    }
                };
                self.connect(profile);
            }
        }
    }

    fn output(&mut self, out: Output) {
        match out {
            Output::State(s) => {
                if matches!(s, ConnState::Connecting { .. }) {
                    // A new link: its first counts are news.
                    self.counts_fresh = false;
                }
                if s != ConnState::Paused {
                    self.announcer.handle_link(
                        Instant::now().into_std(),
                        s.is_connected(),
                        &self.view.host,
                    );
                }
                self.view.state = s;
            }
            Output::Items(items) => self.pending.items.extend(items),
            Output::Saved(state) => {
                // Items of one server log are stored under its epoch: a new
                // log must not mix with a batch of the old one.
                let new_log = self
                    .pending
                    .state
                    .as_ref()
                    .is_some_and(|p| p.epoch != state.epoch);
                if new_log {
                    self.flush();
                }
                self.pending.state = Some(state);
                self.pending.dirty = true;
            }
            Output::Counts(c) => {
                // A kind read elsewhere is read here too: when its count
                // falls to 0, and on a link's first counts (after a restart,
                // what was read while Chime was closed).
                let zero: Vec<Kind> = Kind::ALL
                    .into_iter()
                    .filter(|&k| {
                        c.get(k) == 0 && (!self.counts_fresh || self.view.counts.get(k) > 0)
                    })
                    .collect();
                if !zero.is_empty() {
                    // Rows of this batch not stored yet must not come back
                    // unread after the marking.
                    if self.pending.items.iter().any(|i| zero.contains(&i.kind())) {
                        self.flush();
                    }
                    let mut read = 0;
                    for kind in zero {
                        read += lock(&self.store)
                            .mark_kind_read(Some(SOURCE), Some(kind))
                            .unwrap_or(0);
                    }
                    if read > 0 {
                        self.inbox_changed();
                    }
                }
                self.counts_fresh = true;
                self.view.counts = c;
            }
            Output::Notice(n) => info!("server: {n}"),
        }
    }

    /// Store what arrived, then announce what the store had not seen: a
    /// crash between the two loses a toast, never an item, and nothing is
    /// announced twice.
    fn flush(&mut self) {
        // A batch of state changes or counts alone has nothing to write.
        if self.pending.items.is_empty() && !self.pending.dirty {
            return;
        }
        self.pending.dirty = false;
        let items = std::mem::take(&mut self.pending.items);
        let Some(state) = self.pending.state.clone() else {
            self.announce(&items);
            return;
        };
        let fresh = lock(&self.store).record(SOURCE, &items, &state, now_ms());
        match fresh {
            Ok(fresh) => {
                self.store_failed = false;
                if !fresh.is_empty() {
                    self.inbox_changed();
                }
                self.announce(&fresh);
            }
            Err(e) => {
                if !self.store_failed {
                    error!("cannot store new items: {e}");
                }
                self.store_failed = true;
                self.announce(&items);
            }
        }
    }

    fn announce(&mut self, items: &[NewItem]) {
        if items.is_empty() {
            return;
        }
        for item in items {
            if let NewItem::Event(e) = item {
                self.last_url[kind_index(e.kind)] = web_url(&e.target.url);
            }
        }
        info!(
            "announcing {} new item(s), seq {}",
            items.len(),
            seq_ranges(items)
        );
        self.announcer
            .handle_items(Instant::now().into_std(), items);
    }

    fn is_quiet(&self) -> bool {
        if !self.quiet.enabled {
            return false;
        }
        let (wday, minute) = local_wday_minute();
        self.quiet.contains(wday, minute)
    }

    fn inbox_changed(&self) {
        let _ = self.app.emit(events::INBOX_CHANGED, ());
    }

    /// Tell the windows, if what they show changed (once per batch, like
    /// the tray).
    fn publish_status(&self) {
        if let Some(shared) = self.app.try_state::<Shared>() {
            shared.set_status(
                &self.app,
                Status {
                    state: self.view.state.clone(),
                    line: self.view.status_line(),
                    counts: self.view.counts,
                },
            );
        }
    }

    fn send(&self, cmd: Command) {
        if let Some(c) = &self.client {
            c.handle().send(cmd);
        }
    }

    fn mark_read(&mut self, kind: Option<Kind>) {
        if let Err(e) = lock(&self.store).mark_kind_read(Some(SOURCE), kind) {
            warn!("cannot mark items read: {e}");
        }
        self.send(Command::MarkRead(kind));
        self.inbox_changed();
    }

    /// A row of the inbox was opened: open its page, mark it read, and
    /// once no unread row of its kind is left, tell the server.
    fn open_item(&mut self, id: i64) {
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
        if let Some(url) = web_url(&row.url).or_else(|| self.site.clone()) {
            open_url(&self.app, &url);
        }
        if left == 0 {
            self.send(Command::MarkRead(Some(row.kind)));
        }
        self.inbox_changed();
    }

    fn menu(&mut self, id: &str) {
        let now = Instant::now().into_std();
        match id {
            ids::OPEN_INBOX => windows::open(&self.app, windows::INBOX),
            ids::SETTINGS => windows::open(&self.app, windows::SETTINGS),
            ids::MARK_ALL_READ => self.mark_read(None),
            ids::RECONNECT => self.send(Command::ReconnectNow),
            ids::PAUSE_HOUR => self.pause(now, Duration::from_secs(3600)),
            ids::PAUSE_TOMORROW => self.pause(now, until_tomorrow()),
            ids::PAUSE_RESUME => {
                self.announcer.pause_until(None);
                self.view.paused = None;
            }
            ids::LIKES | ids::DISLIKES | ids::REPLIES => {
                let kind = match id {
                    ids::LIKES => Kind::Like,
                    ids::DISLIKES => Kind::Dislike,
                    _ => Kind::Reply,
                };
                if let Some(url) = self.last_url[kind_index(kind)]
                    .clone()
                    .or_else(|| self.site.clone())
                {
                    open_url(&self.app, &url);
                }
                self.mark_read(Some(kind));
            }
            other => warn!("unknown menu item {other}"),
        }
    }

    fn pause(&mut self, now: std::time::Instant, d: Duration) {
        self.announcer.pause_until(Some(now + d));
        self.view.paused = Some(local_hhmm(d));
    }

    fn toast_event(&mut self, ev: ToastEvent) {
        let kind_of = |slot| match slot {
            ToastSlot::Kind(k) => Some(k),
            ToastSlot::Connection => None,
        };
        match ev {
            ToastEvent::Open { slot, url } => {
                match url.or_else(|| self.site.clone()) {
                    Some(url) => open_url(&self.app, &url),
                    // Nothing to open on the web: show what arrived.
                    None => windows::open(&self.app, windows::INBOX),
                }
                if let Some(k) = kind_of(slot) {
                    self.mark_read(Some(k));
                }
            }
            ToastEvent::MarkRead { slot } => {
                if let Some(k) = kind_of(slot) {
                    self.mark_read(Some(k));
                }
            }
        }
    }

    fn refresh(&mut self) {
        if self.view.paused.is_some() && !self.announcer.is_paused(Instant::now().into_std()) {
            self.view.paused = None;
        }
        if let Some(tray) = &self.tray {
            if let Err(e) = tray.update(&self.view) {
                warn!("tray update failed: {e}");
            }
        }
        self.publish_status();
    }
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

async fn next_output(client: &mut Option<Client>) -> Option<Output> {
    match client {
        Some(c) => c.events.recv().await,
        None => std::future::pending().await,
    }
}
