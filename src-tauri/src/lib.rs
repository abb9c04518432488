//! Chime's app shell: tray, notifications, windows and OS signals around
//! chime-core. Everything that decides anything lives in chime-core; this
//! crate wires it to the desktop.

mod cli;
mod commands;
mod logging;
mod notifier;
mod secret_store;
mod signals;
mod state;
mod tray;
mod windows;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chime_core::announce::{web_url, AnnounceConfig, Announcer, ToastSlot};
use chime_core::settings::{NotifySettings, QuietHours, ServerSettings, Settings, SettingsFile};
use chime_core::store::Store;
use chime_core::supervisor::{ConnState, Output};
use chime_core::{
    Client, ClientHandle, Command, Counts, InboxState, Kind, NewItem, Secret, ServerProfile,
};
use clap::Parser;
use tauri::{AppHandle, Emitter, Manager, RunEvent};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::notifier::{BusSignal, Notifier, ToastEvent};
use crate::secret_store::{account, SecretStore};
use crate::state::{lock, Prefs, Shared, Status};
use crate::tray::{ids, Tray, View};
use crate::windows::events;

/// What reaches the controller from the desktop and the windows.
#[derive(Debug)]
pub enum Cmd {
    Menu(String),
    Bus(BusSignal),
    /// The inbox window opened a row.
    OpenItem(i64),
    MarkRead(Option<Kind>),
    /// Settings were saved.
    Reconfigure(Box<Settings>, Option<Secret>),
}

/// Start the app; returns the process exit code.
pub fn run() -> i32 {
    let (_log_guard, log_problem) = logging::init(cli::log_dir().as_deref());
    if let Some(p) = log_problem {
        warn!("{p}; logging to stderr only");
    }
    let args = cli::Args::parse();
    let app = tauri::Builder::default()
        // First: a second launch hands over to this one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            info!("Chime was started again: opening the inbox");
            windows::open(app, windows::INBOX);
        }))
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .arg("--hidden")
                .app_name("Chime")
                .build(),
        )
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(tauri::generate_handler![
            commands::inbox_list,
            commands::inbox_open,
            commands::inbox_mark_all_read,
            commands::status_get,
            commands::settings_get,
            commands::settings_save,
            commands::settings_test,
            commands::window_close,
        ])
        .setup(move |app| {
            setup(app.handle().clone(), args.clone());
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            error!("cannot start: {e}");
            return 1;
        }
    };
    app.run(|_, event| {
        // Closing the last window never quits: Chime lives in the tray.
        if let RunEvent::ExitRequested {
            api, code: None, ..
        } = event
        {
            api.prevent_exit();
        }
    });
    0
}

/// Turn start-at-login on or off (the entry starts Chime with `--hidden`).
pub(crate) fn set_autostart(app: &AppHandle, on: bool) -> Result<(), String> {
    use tauri_plugin_autostart::ManagerExt;
    let launcher = app.autolaunch();
    let now = launcher.is_enabled().unwrap_or(false);
    match (on, now) {
        (true, false) => launcher.enable().map_err(|e| e.to_string()),
        (false, true) => launcher.disable().map_err(|e| e.to_string()),
        _ => Ok(()),
    }
}

/// Everything loaded from disk at start, and what went wrong doing it.
struct Startup {
    /// No settings file yet: the first start.
    first_run: bool,
    settings: Settings,
    secret: Option<Secret>,
    file: Option<SettingsFile>,
    secrets: SecretStore,
    store: Store,
    notices: Vec<String>,
}

fn load_startup() -> Startup {
    let mut notices = Vec::new();
    let config = cli::config_dir();
    let file = config.as_deref().map(SettingsFile::in_dir);
    let first_run = file.as_ref().is_some_and(|f| !f.path.exists());
    let loaded = file.as_ref().map(SettingsFile::load).unwrap_or_default();
    if let Some(n) = loaded.notice {
        warn!("{n}");
        notices.push(n);
    }
    let settings = loaded.settings;
    let mut secrets = SecretStore::new(config.clone().unwrap_or_else(std::env::temp_dir));
    let account = account(settings.server.auth, &settings.server.url);
    if let (Some(secret), Some(file)) = (&loaded.migrated_secret, &file) {
        // An old settings file held the token: move it, then rewrite the file.
        match secrets.set(&account, secret) {
            Ok(_) => match file.save(&settings) {
                Ok(()) => info!("settings moved to schema 1; the secret left the file"),
                Err(e) => warn!("{e}"),
            },
            Err(e) => warn!("{e}"),
        }
    }
    let secret = match settings.server.auth {
        chime_core::settings::AuthMethod::None => None,
        _ => loaded.migrated_secret.or_else(|| secrets.get(&account)),
    };
    let store = match cli::data_dir().map(|d| Store::open(&d.join("inbox.sqlite3"))) {
        Some(Ok(store)) => store,
        Some(Err(e)) => {
            let n = format!("{e}. The inbox is kept in memory until Chime quits.");
            warn!("{n}");
            notices.push(n);
            memory_store()
        }
        None => memory_store(),
    };
    Startup {
        first_run,
        settings,
        secret,
        file,
        secrets,
        store,
        notices,
    }
}

fn memory_store() -> Store {
    match Store::in_memory() {
        Ok(s) => s,
        // An in-memory SQLite database cannot fail to open short of
        // running out of memory.
        Err(e) => panic!("cannot create an in-memory inbox: {e}"),
    }
}

fn setup(app: AppHandle, args: cli::Args) {
    let (tx, rx) = mpsc::unbounded_channel();
    let startup = load_startup();
    let store = Arc::new(Mutex::new(startup.store));
    let settings = startup.settings.clone();
    app.manage(Shared {
        tx: tx.clone(),
        store: store.clone(),
        status: Mutex::new(Status {
            state: ConnState::Idle,
            host: String::new(),
            counts: Counts::default(),
        }),
        prefs: Mutex::new(Prefs {
            settings: startup.settings,
            notices: startup.notices.clone(),
            secret_set: startup.secret.is_some(),
        }),
        file: startup.file,
        secrets: Arc::new(Mutex::new(startup.secrets)),
    });
    // WebDriver sessions need a window from the start.
    let automation = std::env::var("TAURI_WEBVIEW_AUTOMATION").is_ok_and(|v| v == "true");
    let first = match args.open.as_deref() {
        Some(w) => Some(w.to_owned()),
        None if automation => Some(windows::INBOX.to_owned()),
        // Nothing set up yet: say hello with the settings.
        None if startup.first_run && args.server.is_none() && !args.demo && !args.hidden => {
            Some(windows::SETTINGS.to_owned())
        }
        None if !args.hidden && !settings.start_hidden => Some(windows::INBOX.to_owned()),
        None => None,
    };
    if let Some(w) = first {
        windows::open(&app, &w);
    }
    let secret = startup.secret;
    let notices = startup.notices;
    if args.server.is_some() || args.demo {
        // Not a problem, but Settings should not look wrong.
        lock(&app.state::<Shared>().prefs).notices.push(
            "This run uses the server given on the command line; saved settings apply when you save them or start Chime without it."
                .into(),
        );
    }
    let secrets = app.state::<Shared>().secrets.clone();
    tauri::async_runtime::spawn_blocking(move || lock(&secrets).probe());
    tauri::async_runtime::spawn(async move {
        let from_flags = args.server.is_some() || args.demo;
        let secret_used = secret.clone();
        let (profile, problem) = resolve_profile(&args, &settings, secret).await;
        let host = profile
            .as_ref()
            .map_or_else(|| "server".into(), |(p, _)| p.host_label());
        let view = View {
            state: match problem {
                Some(p) => ConnState::Misconfigured {
                    retry_in_ms: 0,
                    reason: p,
                },
                None => ConnState::Idle,
            },
            host,
            counts: Counts::default(),
            paused: None,
        };
        let menu_tx = tx.clone();
        let tray_app = app.clone();
        let tray_view = view.clone();
        let (tray_tx, tray_rx) = tokio::sync::oneshot::channel();
        // Menus and trays are made on the main thread.
        let _ = app.run_on_main_thread(move || {
            let tray = Tray::build(&tray_app, &tray_view);
            tray_app.on_menu_event(move |_, event| {
                let _ = menu_tx.send(Cmd::Menu(event.id().as_ref().to_owned()));
            });
            let _ = tray_tx.send(tray);
        });
        let tray = match tray_rx.await {
            Ok(Ok(tray)) => {
                info!("tray ready");
                Some(tray)
            }
            Ok(Err(why)) => {
                warn!("no tray icon: {why}; notifications still work");
                None
            }
            Err(_) => None,
        };
        tauri::async_runtime::spawn(notifier::listen(tx.clone(), Cmd::Bus));
        let mut controller =
            Controller::new(app, tray, view, notification_icon(), store, &settings);
        for n in &notices {
            controller
                .notifier
                .notice("Chime needs your attention", n)
                .await;
        }
        if !from_flags {
            controller.server = Some((settings.server.clone(), secret_used));
        }
        controller.connect(profile);
        controller.run(rx).await;
    });
}

type Profile = Option<(ServerProfile, chime_core::Config)>;

/// Flags (for this run) over saved settings; `--demo` starts an embedded
/// server first.
async fn resolve_profile(
    args: &cli::Args,
    settings: &Settings,
    secret: Option<Secret>,
) -> (Profile, Option<String>) {
    let mut args = args.clone();
    if args.demo {
        match start_demo(args.demo_rate).await {
            Ok((url, token)) => {
                args.server = Some(url);
                args.token = Some(token);
                args.dialect = Some("native".into());
            }
            Err(e) => return (None, Some(format!("demo server failed: {e}"))),
        }
    }
    let profile = if args.server.is_some() {
        args.profile()
    } else {
        settings.profile(secret)
    };
    match profile {
        Ok(p) => (p, None),
        Err(e) => {
            error!("bad server settings: {e}");
            (None, Some(e))
        }
    }
}

async fn start_demo(rate: f64) -> Result<(String, String), String> {
    let token = format!(
        "demo-{:x}",
        (chime_core::Jitter::from_entropy().sample() * 1e15) as u64
    );
    let mut config = chime_server::ServerConfig::default();
    config.tokens.insert(token.clone(), "demo".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let server = chime_server::serve(listener, config)
        .await
        .map_err(|e| e.to_string())?;
    let addr = server.addr;
    info!(%addr, "demo server running");
    tauri::async_runtime::spawn(chime_server::demo::run(
        server.state.clone(),
        format!("http://{addr}"),
        "demo".into(),
        rate,
    ));
    // The server lives as long as the app.
    std::mem::forget(server);
    Ok((format!("ws://{addr}/v1/stream"), token))
}

/// The site's home page, for the per-kind menu items of a seed server.
fn site_root(profile: &ServerProfile) -> Option<String> {
    let mut url = profile.url.clone();
    let scheme = if profile.is_tls() { "https" } else { "http" };
    url.set_scheme(scheme).ok()?;
    url.set_path("/");
    url.set_query(None);
    Some(url.to_string())
}

/// The app icon as a file, for notifications.
fn notification_icon() -> Option<PathBuf> {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("chime");
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("chime.png");
    std::fs::write(&path, include_bytes!("../../icons/128x128.png")).ok()?;
    Some(path)
}

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

/// Items and the resume state that covers them, not yet stored.
#[derive(Default)]
struct Pending {
    items: Vec<NewItem>,
    state: Option<InboxState>,
}

struct Controller {
    app: AppHandle,
    tray: Option<Tray>,
    view: View,
    announcer: Announcer,
    notifier: Notifier,
    store: Arc<Mutex<Store>>,
    pending: Pending,
    quiet: QuietHours,
    last_url: [Option<String>; 3],
    client: Option<Client>,
    handle: Option<ClientHandle>,
    site: Option<String>,
    /// The store failed to write: items are announced anyway, once.
    store_failed: bool,
    /// The saved server settings in use (`None` when flags chose the server).
    server: Option<(ServerSettings, Option<Secret>)>,
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
    fn new(
        app: AppHandle,
        tray: Option<Tray>,
        view: View,
        icon: Option<PathBuf>,
        store: Arc<Mutex<Store>>,
        settings: &Settings,
    ) -> Controller {
        let mut c = Controller {
            app,
            tray,
            view,
            announcer: Announcer::new(AnnounceConfig::default()),
            notifier: Notifier::new(icon),
            store,
            pending: Pending::default(),
            quiet: QuietHours::default(),
            last_url: Default::default(),
            client: None,
            handle: None,
            site: None,
            store_failed: false,
            server: None,
        };
        c.apply_prefs(settings.notify, settings.quiet_hours.clone());
        c
    }

    fn apply_prefs(&mut self, notify: NotifySettings, quiet: QuietHours) {
        for kind in Kind::ALL {
            self.announcer.set_enabled(kind, notify.get(kind));
        }
        self.notifier.sound = notify.sound;
        self.quiet = quiet;
    }

    /// Start talking to `profile` (dropping any current link), resuming
    /// from what the store kept for that server.
    fn connect(&mut self, profile: Profile) {
        self.handle = None;
        self.site = None;
        let Some((profile, config)) = profile else {
            self.publish_status();
            return;
        };
        self.view.host = profile.host_label();
        self.site = site_root(&profile);
        let resume = lock(&self.store)
            .resume(&profile.display_url())
            .unwrap_or_else(|e| {
                warn!("cannot read the resume state: {e}");
                InboxState::default()
            });
        info!(last_seq = resume.last_seq, "resuming");
        // Until the link reports its own, items are stored under this.
        self.pending.state = Some(resume.clone());
        match Client::spawn(profile, config, resume) {
            Ok(c) => {
                tauri::async_runtime::spawn(signals::watch(c.handle()));
                self.handle = Some(c.handle());
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

    async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
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
                self.notifier.show(toast).await;
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
            Cmd::Bus(signal) => {
                if let Some(ev) = self.notifier.resolve(signal) {
                    self.toast_event(ev);
                }
            }
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
                if s != ConnState::Paused {
                    self.announcer.handle_link(
                        Instant::now().into_std(),
                        s.is_connected(),
                        &self.view.host,
                    );
                }
                self.view.state = s;
                self.publish_status();
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
            }
            Output::Counts(c) => {
                // A kind read elsewhere is read here too.
                for kind in Kind::ALL {
                    if c.get(kind) == 0 && self.view.counts.get(kind) > 0 {
                        let _ = lock(&self.store).mark_kind_read(Some(kind));
                        self.inbox_changed();
                    }
                }
                self.view.counts = c;
                self.publish_status();
            }
            Output::Notice(n) => info!("server: {n}"),
        }
    }

    /// Store what arrived, then announce what the store had not seen: a
    /// crash between the two loses a toast, never an item, and nothing is
    /// announced twice.
    fn flush(&mut self) {
        let items = std::mem::take(&mut self.pending.items);
        let Some(state) = self.pending.state.clone() else {
            self.announce(&items);
            return;
        };
        let fresh = lock(&self.store).record(&items, &state, now_ms());
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

    fn publish_status(&self) {
        if let Some(shared) = self.app.try_state::<Shared>() {
            shared.set_status(
                &self.app,
                Status {
                    state: self.view.state.clone(),
                    host: self.view.host.clone(),
                    counts: self.view.counts,
                },
            );
        }
    }

    fn send(&self, cmd: Command) {
        if let Some(c) = &self.handle {
            c.send(cmd);
        }
    }

    fn mark_read(&mut self, kind: Option<Kind>) {
        if let Err(e) = lock(&self.store).mark_kind_read(kind) {
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
                Ok(Some(row)) => Some((row.clone(), store.unread(row.kind).unwrap_or(0))),
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
            Some((a, b)) if e.seq == b + 1 => Some((a, e.seq)),
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

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Local wall-clock time `d` from now, as HH:MM.
fn local_hhmm(d: Duration) -> String {
    let t = (std::time::SystemTime::now() + d)
        .duration_since(std::time::UNIX_EPOCH)
        .map(|x| x.as_secs() as libc::time_t)
        .unwrap_or(0);
    let (h, m, _) = local_hms(t);
    format!("{h:02}:{m:02}")
}

fn local_tm(t: libc::time_t) -> Option<libc::tm> {
    // SAFETY: localtime_r writes only into the struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    ok.then_some(tm)
}

fn local_hms(t: libc::time_t) -> (i32, i32, i32) {
    local_tm(t).map_or((0, 0, 0), |tm| (tm.tm_hour, tm.tm_min, tm.tm_sec))
}

/// Local weekday (0 = Sunday) and minute of the day, for quiet hours.
fn local_wday_minute() -> (u8, u16) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|x| x.as_secs() as libc::time_t)
        .unwrap_or(0);
    local_tm(now).map_or((0, 0), |tm| {
        (
            tm.tm_wday.clamp(0, 6) as u8,
            (tm.tm_hour * 60 + tm.tm_min).clamp(0, 1439) as u16,
        )
    })
}

/// Until the next local midnight.
fn until_tomorrow() -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|x| x.as_secs() as libc::time_t)
        .unwrap_or(0);
    let (h, m, s) = local_hms(now);
    let gone = (h * 3600 + m * 60 + s) as u64;
    Duration::from_secs(86_400u64.saturating_sub(gone).max(60))
}
