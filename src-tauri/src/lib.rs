//! Chime's app shell: tray, notifications, windows and OS signals around
//! the core crates. Everything that decides anything lives in the core
//! (chime-engine's coordinator and announcer, chime-desktop's badge); this
//! crate wires it to the desktop.

mod cli;
mod commands;
mod controller;
mod host;
mod localtime;
mod logging;
mod memory;
mod notifier;
mod portal;
mod secret_store;
mod signals;
mod state;
mod tray;
mod window_host;
mod windows;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chime_desktop::settings::{Settings, SettingsFile};
use chime_engine::supervisor::ConnState;
use chime_engine::{Secret, ServerProfile};
use chime_proto::{Counts, Kind};
use chime_store::Store;
use clap::Parser;
use tauri::{AppHandle, Manager, RunEvent};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::controller::{Controller, SourceSpec};
use crate::notifier::{Notifier, ToastEvent};
use crate::secret_store::SecretStore;
use crate::state::{Prefs, Shared, Status};
use crate::tray::{SourceView, Tray, View};
use chime_desktop::secrets::bound_account;

/// The environment variables that may carry a credential for `--server`:
/// read once by clap, then removed from the process (see `run`).
pub(crate) const SECRET_ENV: [&str; 2] = ["CHIME_TOKEN", "CHIME_COOKIE"];

/// A poisoned lock only means another thread panicked mid-update; the data
/// is still the best we have.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What reaches the controller from the desktop and the windows.
#[derive(Debug)]
pub enum Cmd {
    Menu(String),
    /// The user clicked a toast or one of its actions.
    Toast(ToastEvent),
    /// The OS woke up, or the network changed.
    Os(chime_client::Command),
    /// A row of the inbox, and which of its links (none: its page).
    OpenItem(i64, Option<usize>),
    /// Mark read: of one source (by store id) or all, one kind or all.
    MarkRead(Option<String>, Option<Kind>),
    /// Settings were saved, with every source's secret.
    Reconfigure(Box<Settings>, Vec<Option<Secret>>),
}

/// The async runtime for Tauri and everything the app spawns: one worker.
/// A tray's work is a few links and a D-Bus connection; each further
/// worker only adds wakeups (a task woken on one worker wakes a sibling to
/// steal it) and a stack. Blocking work has its own pool, as before.
fn lean_runtime() {
    static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    let rt = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| warn!("a lean runtime did not start ({e}): Tauri's own it is"))
            .ok()
    });
    if let Some(rt) = rt {
        tauri::async_runtime::set(rt.handle().clone());
    }
}

/// Start the app; returns the process exit code.
pub fn run() -> i32 {
    // The arguments first: `--version`, `--help` and a bad flag exit
    // before any log directory is made.
    let args = cli::parse();
    // Clap has read the credential variables: no child of this process (a
    // browser opening a link, the window host, helpers) inherits them, so
    // the secret stays out of every other process's environment. Before
    // any thread starts.
    for name in SECRET_ENV {
        std::env::remove_var(name);
    }
    let (_log_guard, log_problem) = logging::init(cli::log_dir().as_deref());
    if let Some(p) = log_problem {
        warn!("{p}; logging to stderr only");
    }
    lean_runtime();
    if let Some(window) = args.window_host.clone() {
        return window_host::run(window);
    }
    // First: a second launch hands over to this one and exits.
    let app = tauri::Builder::default().plugin(tauri_plugin_single_instance::init(started_again));
    let app = with_autostart(app)
        .plugin(tauri_plugin_opener::init())
        .manage(host::Hosts::default())
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
        // No window here ever; and Chime lives in the tray.
        if let RunEvent::ExitRequested {
            api, code: None, ..
        } = event
        {
            api.prevent_exit();
        }
    });
    0
}

/// A link proposed a source: Settings open with it filled in, for the user
/// to check, enter a secret if it needs one, and save. Nothing is added
/// silently and nothing secret is taken from the link.
fn propose_source(app: &AppHandle, link: &str) {
    let source = match chime_desktop::settings::SourceSettings::from_link(link) {
        Ok(s) => s,
        Err(e) => {
            warn!("ignoring a link: {e}");
            return;
        }
    };
    info!("a link proposes a source; opening Settings to confirm it");
    if let Some(shared) = app.try_state::<Shared>() {
        if host::is_open(app, windows::SETTINGS) {
            // The open window takes it now.
            host::emit(app, windows::events::SOURCE_PROPOSED, &source);
        } else {
            *lock(&shared.proposed) = Some(source);
        }
    }
    host::open(app, windows::SETTINGS);
}

/// Chime was started again: the second launch's own flags say which
/// window (`--open settings`), or which link to add; without one, the
/// inbox.
fn started_again(app: &AppHandle, argv: Vec<String>, _cwd: String) {
    let again = cli::Args::try_parse_from(&argv).ok();
    if let Some(link) = again.as_ref().and_then(|a| a.link.clone()) {
        info!("Chime was started again with a link");
        propose_source(app, &link);
        return;
    }
    let window = match again.and_then(|a| a.open).as_deref() {
        Some(windows::SETTINGS) => windows::SETTINGS,
        _ => windows::INBOX,
    };
    info!("Chime was started again: opening the {window} window");
    host::open(app, window);
}

/// The window host ended (its last window closed): what the tray process
/// itself no longer needs goes too, a little later, unless a window opened
/// again meanwhile (see [`memory`]).
pub(crate) fn after_windows_closed(app: &AppHandle) {
    let app = app.clone();
    memory::trim_after(memory::AFTER_LAST_WINDOW, "the windows closed", move || {
        !host::is_running(&app)
    });
}

/// Start at login outside Linux: the autostart plugin. (On Linux Chime
/// writes its XDG entry itself: the plugin leaves the path unquoted and
/// keeps a replaced program's " (deleted)".)
fn with_autostart(builder: tauri::Builder<tauri::Wry>) -> tauri::Builder<tauri::Wry> {
    #[cfg(not(target_os = "linux"))]
    let builder = builder.plugin(
        tauri_plugin_autostart::Builder::new()
            .args(chime_desktop::autostart::ARGS)
            .app_name("Chime")
            .build(),
    );
    builder
}

/// Turn start-at-login on or off (the entry starts Chime with `--hidden`).
#[cfg(not(target_os = "linux"))]
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

/// Turn start-at-login on or off: `$XDG_CONFIG_HOME/autostart/Chime.desktop`
/// starting this program (its path quoted) with `--hidden`; an entry that
/// already starts an existing Chime hidden stays, any other (a moved
/// program, an unquoted path, a replaced program's " (deleted)") is
/// written anew; removed when off.
#[cfg(target_os = "linux")]
pub(crate) fn set_autostart(_app: &AppHandle, on: bool) -> Result<(), String> {
    use chime_desktop::autostart;
    let path = cli::autostart_dir()
        .ok_or("no home directory")?
        .join(autostart::FILE_NAME);
    if !on {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        };
    }
    if std::fs::read_to_string(&path)
        .is_ok_and(|old| autostart::is_current(&old, std::path::Path::exists))
    {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let text = autostart::entry(&autostart::program_path(&exe)).map_err(|e| e.to_string())?;
    chime_desktop::fsutil::write_atomic(&path, text.as_bytes(), 0o644).map_err(|e| e.to_string())
}

/// Everything loaded from disk at start, and what went wrong doing it. No
/// keyring call here: a locked keyring may prompt, and this runs on the
/// main thread (see [`load_secret`]).
struct Startup {
    /// No settings file yet: the first start.
    first_run: bool,
    settings: Settings,
    /// A secret found in an old settings file, to move to the keyring.
    migrated_secret: Option<Secret>,
    /// The file was of an older schema: write it anew.
    rewrite: bool,
    file: Option<SettingsFile>,
    secrets: SecretStore,
    store: Store,
    notices: Vec<String>,
    /// Those that stay true until Chime quits (Settings keeps showing them).
    lasting: Vec<String>,
}

/// `demo`: the inbox is a throwaway one (the demo never opens, let alone
/// writes, the user's).
fn load_startup(demo: bool) -> Startup {
    let mut notices = Vec::new();
    let mut lasting = Vec::new();
    let config = cli::config_dir();
    let file = config.as_deref().map(SettingsFile::in_dir);
    let first_run = file.as_ref().is_some_and(|f| !f.path.exists());
    let loaded = file.as_ref().map(SettingsFile::load).unwrap_or_default();
    if let Some(n) = loaded.notice {
        warn!("{n}");
        notices.push(n);
    }
    // No config dir, no secret file: never a shared temp directory.
    let secrets = SecretStore::new(config);
    let data = cli::data_dir().filter(|_| !demo);
    let store = match data.map(|d| Store::open(&d.join("inbox.sqlite3"))) {
        Some(Ok(store)) => store,
        Some(Err(e)) => {
            let n = format!("{e}. The inbox is kept in memory until Chime quits.");
            warn!("{n}");
            lasting.push(n.clone());
            notices.push(n);
            memory_store()
        }
        None => memory_store(),
    };
    Startup {
        first_run,
        settings: loaded.settings,
        migrated_secret: loaded.migrated_secret,
        rewrite: loaded.rewrite,
        file,
        secrets,
        store,
        notices,
        lasting,
    }
}

/// Every source's saved secret, off the main thread: first move a secret
/// out of an old settings file into the first source's account, and write
/// a file of an older schema anew (without it).
async fn load_secrets(
    app: &AppHandle,
    settings: &Settings,
    migrated: Option<Secret>,
    rewrite: bool,
) -> Vec<Option<Secret>> {
    let shared = app.state::<Shared>();
    let secrets = shared.secrets.clone();
    let file = shared.file.clone();
    let settings = settings.clone();
    let settings_for_state = settings.clone();
    let found = tauri::async_runtime::spawn_blocking(move || {
        let mut store = lock(&secrets);
        store.probe();
        let mut kept_migrated = false;
        let found: Vec<Option<Secret>> = settings
            .sources
            .iter()
            .enumerate()
            .map(|(i, src)| {
                let method = src.server.auth;
                if method == chime_desktop::settings::AuthMethod::None {
                    return None;
                }
                if let (0, Some(secret)) = (i, migrated.clone()) {
                    match store.set(&bound_account(method, &src.id, &src.server.url), &secret) {
                        Ok(_) => kept_migrated = true,
                        Err(e) => warn!("{e}"),
                    }
                    return Some(secret);
                }
                store.migrate_for(method, &src.id, &src.server.url)
            })
            .collect();
        if kept_migrated || (rewrite && migrated.is_none()) {
            match file.map(|f| f.save(&settings)) {
                Some(Ok(())) => info!(
                    "settings written in schema {}",
                    chime_desktop::settings::SCHEMA
                ),
                Some(Err(e)) => warn!("{e}"),
                None => {}
            }
        }
        found
    })
    .await
    .unwrap_or_default();
    let saved = crate::state::saved_ids(&settings_for_state, &found);
    lock(&shared.prefs).saved_secrets = saved.clone();
    host::emit(app, windows::events::SECRET_STATE, saved);
    found
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
    let startup = load_startup(args.demo);
    let store = Arc::new(Mutex::new(startup.store));
    let settings = startup.settings.clone();
    let secret_words = state::storage_words(&startup.secrets);
    app.manage(Shared {
        tx: tx.clone(),
        store: store.clone(),
        sources: Mutex::new(Vec::new()),
        proposed: Mutex::new(None),
        status: Mutex::new(Status {
            state: ConnState::Idle,
            line: "Starting…".into(),
            counts: Counts::default(),
        }),
        prefs: Mutex::new(Prefs {
            settings: startup.settings,
            notices: startup.notices.clone(),
            lasting: startup.lasting.clone(),
            saved_secrets: Vec::new(),
        }),
        file: startup.file,
        secrets: Arc::new(Mutex::new(startup.secrets)),
        secret_words: Mutex::new(secret_words),
    });
    // Start at login is on: its entry must start a Chime that exists
    // (an upgrade or a move may have left it stale).
    if settings.start_at_login {
        if let Err(e) = set_autostart(&app, true) {
            warn!("start at login: {e}");
        }
    }
    let from_flags = !args.server.is_empty() || args.demo;
    // WebDriver sessions need a window from the start.
    let automation = host::automation();
    if let Some(link) = &args.link {
        propose_source(&app, link);
    }
    let first = match args.open.as_deref() {
        // The link opened Settings already.
        _ if args.link.is_some() => None,
        Some(w) => Some(w.to_owned()),
        None if automation => Some(windows::INBOX.to_owned()),
        // Nothing set up yet: say hello with the settings.
        None if startup.first_run && !from_flags && !args.hidden => {
            Some(windows::SETTINGS.to_owned())
        }
        None if !args.hidden && !settings.start_hidden => Some(windows::INBOX.to_owned()),
        None => None,
    };
    if let Some(w) = first {
        host::open(&app, &w);
    }
    let migrated = startup.migrated_secret;
    let rewrite = startup.rewrite;
    let notices = startup.notices;
    if from_flags {
        // Not a problem, but Settings should not look wrong.
        lock(&app.state::<Shared>().prefs).notices.push(
            "This run uses the server given on the command line; saved settings apply when you save them or start Chime without it."
                .into(),
        );
    }
    tauri::async_runtime::spawn(async move {
        let secrets = load_secrets(&app, &settings, migrated, rewrite).await;
        let secrets_used = secrets.clone();
        let (specs, problem) = resolve_sources(&args, &settings, secrets).await;
        let view = View {
            sources: specs
                .iter()
                .map(|s| SourceView {
                    name: s.name.clone(),
                    state: ConnState::Idle,
                    host: s.profile.host_label(),
                    counts: Counts::default(),
                    kinds: chime_engine::dialect::protocol(s.profile.dialect)
                        .kinds
                        .to_vec(),
                })
                .collect(),
            paused: None,
        };
        let view = if view.sources.is_empty() {
            View::single(
                match &problem {
                    Some(p) => ConnState::Misconfigured {
                        retry_in_ms: 0,
                        reason: p.clone(),
                    },
                    None => ConnState::Idle,
                },
                "server".into(),
            )
        } else {
            view
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
        let notifier = Notifier::spawn(notification_icon(), tx.clone(), Cmd::Toast);
        // One watcher for the app's life; the controller hands its commands
        // to whichever link is current.
        tauri::async_runtime::spawn(signals::watch(tx.clone(), Cmd::Os));
        let mut controller = Controller::new(app, tray, view, notifier, store, &settings);
        for n in &notices {
            controller.notifier.notice("Chime needs your attention", n);
        }
        if !from_flags {
            controller.server = Some((settings.sources.clone(), secrets_used));
        }
        controller.connect(specs, problem);
        // Start-up has settled: give back what only start-up needed.
        memory::trim_after(memory::AFTER_START, "start-up done", || true);
        controller.run(rx).await;
    });
}

/// The saved settings' enabled sources, each with its secret. A source
/// that cannot be used (no secret yet, a bad address) is left out and
/// named in the problem; the others run.
pub(crate) fn settings_sources(
    settings: &Settings,
    secrets: &[Option<Secret>],
) -> (Vec<SourceSpec>, Option<String>) {
    let mut specs = Vec::new();
    let mut problem = None;
    let several = settings.sources.iter().filter(|s| s.enabled).count() > 1;
    for (i, src) in settings.sources.iter().enumerate() {
        if !src.enabled {
            continue;
        }
        let secret = secrets.get(i).cloned().flatten();
        match src.server.profile(secret) {
            Ok(Some((profile, config))) => specs.push(SourceSpec {
                id: src.id.clone(),
                name: src.label(),
                muted: src.muted,
                kinds: src.kinds,
                forget_read: src.server.delete_on_read
                    && chime_engine::dialect::protocol(src.server.dialect).forgets_read,
                identity: Some((src.clone(), secrets.get(i).cloned().flatten())),
                profile,
                config,
            }),
            Ok(None) => {}
            Err(e) => {
                let e = if several {
                    format!("{}: {e}", src.label())
                } else {
                    e
                };
                error!("bad server settings: {e}");
                problem.get_or_insert(e);
            }
        }
    }
    (specs, problem)
}

/// Flags (for this run: one source per `--server` group) over saved
/// settings; `--demo` starts an embedded server first.
async fn resolve_sources(
    args: &cli::Args,
    settings: &Settings,
    secrets: Vec<Option<Secret>>,
) -> (Vec<SourceSpec>, Option<String>) {
    if args.demo {
        return match start_demo(args.demo_rate).await {
            Ok((url, token)) => match cli::demo_source(&url, token) {
                Ok(spec) => (vec![spec], None),
                Err(e) => (Vec::new(), Some(e)),
            },
            Err(e) => (Vec::new(), Some(format!("demo server failed: {e}"))),
        };
    }
    let sources = if let Some(p) = &args.sources_problem {
        Err(p.clone())
    } else if args.sources.is_empty() {
        let (specs, problem) = settings_sources(settings, &secrets);
        return (specs, problem);
    } else {
        cli::specs(&args.sources)
    };
    match sources {
        Ok(s) => (s, None),
        Err(e) => {
            error!("bad server settings: {e}");
            (Vec::new(), Some(e))
        }
    }
}

async fn start_demo(rate: f64) -> Result<(String, String), String> {
    let token = format!(
        "demo-{:x}",
        (chime_engine::Jitter::from_entropy().sample() * 1e15) as u64
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

/// Open an http/https URL with the desktop's browser (or the program named
/// by `CHIME_OPEN_WITH`); anything else is refused.
pub fn open_url(app: &tauri::AppHandle, url: &str) {
    use tauri_plugin_opener::OpenerExt;
    let Some(url) = chime_proto::text::web_url(url) else {
        tracing::warn!("refusing to open a non-web link");
        return;
    };
    let with = std::env::var("CHIME_OPEN_WITH").ok();
    if let Err(e) = app.opener().open_url(url, with) {
        tracing::warn!("cannot open a link: {e}");
    }
}

/// The site's home page, for the per-kind menu items of a seed server.
pub(crate) fn site_root(profile: &ServerProfile) -> Option<String> {
    let mut url = profile.url.clone();
    let scheme = if profile.is_tls() { "https" } else { "http" };
    url.set_scheme(scheme).ok()?;
    url.set_path("/");
    url.set_query(None);
    // Userinfo never reaches the browser's command line.
    url.set_username("").ok()?;
    url.set_password(None).ok()?;
    Some(url.to_string())
}

/// The app icon as a file, for notifications: in the user's runtime
/// directory (else the data directory), in a folder of ours that is no
/// symlink and no one else's, written atomically. Never a shared temp
/// directory, where another account could plant a symlink.
fn notification_icon() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(cli::data_dir)?;
    let dir = private_dir(&base.join("chime"))?;
    let path = dir.join("chime.png");
    chime_desktop::fsutil::write_atomic(&path, include_bytes!("../../icons/128x128.png"), 0o644)
        .ok()?;
    Some(path)
}

/// `dir`, created 0700 if missing, if it is a real directory owned by
/// this user.
fn private_dir(dir: &std::path::Path) -> Option<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
        let meta = std::fs::symlink_metadata(dir).ok()?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if !meta.is_dir() || meta.uid() != me {
            warn!(
                "{} is not a private folder of this user; not using it",
                dir.display()
            );
            return None;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).ok()?;
    Some(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_link_carries_no_userinfo() {
        let profile = ServerProfile::new("wss://bob:pw@push.example.com:8443/v1/stream?token=x")
            .expect("profile");
        assert_eq!(
            site_root(&profile).as_deref(),
            Some("https://push.example.com:8443/")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_no_private_folder() {
        let base = std::env::temp_dir().join(format!("chime-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("elsewhere")).expect("dir");
        let planted = base.join("planted");
        std::os::unix::fs::symlink(base.join("elsewhere"), &planted).expect("symlink");
        assert_eq!(private_dir(&planted), None);
        let mine = base.join("mine");
        assert_eq!(private_dir(&mine), Some(mine.clone()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&mine).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let _ = std::fs::remove_dir_all(&base);
    }
}
