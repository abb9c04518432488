//! Chime's app shell: tray, notifications and OS signals around chime-core.
//! Everything that decides anything lives in chime-core; this crate wires it
//! to the desktop.

mod cli;
mod notifier;
mod signals;
mod tray;

use std::path::PathBuf;
use std::time::Duration;

use chime_core::announce::{web_url, AnnounceConfig, Announcer, ToastSlot};
use chime_core::supervisor::{ConnState, Output};
use chime_core::{Client, ClientHandle, Command, Counts, InboxState, Kind, NewItem, ServerProfile};
use clap::Parser;
use tauri::{AppHandle, RunEvent};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::notifier::{BusSignal, Notifier, ToastEvent};
use crate::tray::{ids, Tray, View};

/// What reaches the controller from the desktop.
#[derive(Debug)]
enum Cmd {
    Menu(String),
    Bus(BusSignal),
}

/// Start the app; returns the process exit code.
pub fn run() -> i32 {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tao=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = cli::Args::parse();
    let app = tauri::Builder::default()
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

fn setup(app: AppHandle, args: cli::Args) {
    let (tx, rx) = mpsc::unbounded_channel();
    tauri::async_runtime::spawn(async move {
        let settings = cli::load_settings().unwrap_or_else(|e| {
            warn!("{e}; using defaults");
            cli::Settings::default()
        });
        let (profile, problem) = resolve_profile(&args, &settings).await;
        let host = profile
            .as_ref()
            .map_or_else(|| "server".into(), |(p, _)| p.host_label());
        let client = match profile {
            Some((profile, config)) => {
                let site = site_root(&profile);
                match Client::spawn(profile, config, InboxState::default()) {
                    Ok(c) => Some((c, site)),
                    Err(e) => {
                        error!("cannot start the connection: {e}");
                        None
                    }
                }
            }
            None => None,
        };
        let view = View {
            state: match (&client, problem) {
                (Some(_), _) => ConnState::Connecting { attempt: 0 },
                (None, Some(p)) => ConnState::Misconfigured {
                    retry_in_ms: 0,
                    reason: p,
                },
                (None, None) => ConnState::Idle,
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
        if let Some((c, _)) = &client {
            tauri::async_runtime::spawn(signals::watch(c.handle()));
        }
        Controller::new(app, tray, view, notification_icon(), settings.notify)
            .run(client, rx)
            .await;
    });
}

/// Flags over settings; `--demo` starts an embedded server first.
async fn resolve_profile(
    args: &cli::Args,
    settings: &cli::Settings,
) -> (Option<(ServerProfile, chime_core::Config)>, Option<String>) {
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
    match cli::profile(&args, settings) {
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

/// Open an http/https URL with the desktop's browser (or `CHIME_OPEN_WITH`).
fn open_url(url: &str) {
    let Some(url) = web_url(url) else {
        warn!("refusing to open a non-web link");
        return;
    };
    let opener = std::env::var("CHIME_OPEN_WITH").unwrap_or_else(|_| {
        if cfg!(target_os = "macos") {
            "open".into()
        } else {
            "xdg-open".into()
        }
    });
    if let Err(e) = std::process::Command::new(&opener).arg(&url).spawn() {
        warn!("cannot run {opener}: {e}");
    }
}

/// Outputs handled between two tray refreshes, at most.
const BATCH: usize = 4096;

struct Controller {
    app: AppHandle,
    tray: Option<Tray>,
    view: View,
    announcer: Announcer,
    notifier: Notifier,
    last_url: [Option<String>; 3],
    client: Option<ClientHandle>,
    site: Option<String>,
}

fn kind_index(kind: Kind) -> usize {
    match kind {
        Kind::Like => 0,
        Kind::Dislike => 1,
        Kind::Reply => 2,
    }
}

impl Controller {
    fn new(
        app: AppHandle,
        tray: Option<Tray>,
        view: View,
        icon: Option<PathBuf>,
        kinds: cli::NotifyKinds,
    ) -> Controller {
        let mut announcer = Announcer::new(AnnounceConfig::default());
        for (kind, on) in [
            (Kind::Like, kinds.likes),
            (Kind::Dislike, kinds.dislikes),
            (Kind::Reply, kinds.replies),
        ] {
            announcer.set_enabled(kind, on);
        }
        Controller {
            app,
            tray,
            view,
            announcer,
            notifier: Notifier::new(icon),
            last_url: Default::default(),
            client: None,
            site: None,
        }
    }

    async fn run(
        mut self,
        client: Option<(Client, Option<String>)>,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
    ) {
        let (mut client, site) = match client {
            Some((c, site)) => (Some(c), site),
            None => (None, None),
        };
        self.site = site;
        self.client = client.as_ref().map(Client::handle);
        loop {
            let deadline = self.announcer.poll_timeout().map(Instant::from_std);
            tokio::select! {
                out = next_output(&mut client) => match out {
                    Some(out) => {
                        self.output(out);
                        // Take whatever else is already queued before touching
                        // the tray: a burst is one tray update, not thousands.
                        if let Some(c) = client.as_mut() {
                            for _ in 0..BATCH {
                                match c.events.try_recv() {
                                    Ok(out) => self.output(out),
                                    Err(_) => break,
                                }
                            }
                        }
                    }
                    None => client = None,
                },
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::Menu(id)) if id == ids::QUIT => break,
                    Some(Cmd::Menu(id)) => self.menu(&id),
                    Some(Cmd::Bus(signal)) => {
                        if let Some(ev) = self.notifier.resolve(signal) {
                            self.toast_event(ev);
                        }
                    }
                    None => break,
                },
                () = sleep_until(deadline) => self.announcer.handle_timeout(Instant::now().into_std()),
            }
            while let Some(toast) = self.announcer.poll_toast() {
                self.notifier.show(toast).await;
            }
            self.refresh();
        }
        info!("quitting");
        if let Some(c) = client {
            c.shutdown().await;
        }
        self.app.exit(0);
    }

    fn output(&mut self, out: Output) {
        let now = Instant::now().into_std();
        match out {
            Output::State(s) => {
                if s != ConnState::Paused {
                    self.announcer
                        .handle_link(now, s.is_connected(), &self.view.host);
                }
                self.view.state = s;
            }
            Output::Items(items) => {
                for item in &items {
                    if let NewItem::Event(e) = item {
                        self.last_url[kind_index(e.kind)] = web_url(&e.target.url);
                    }
                }
                self.announcer.handle_items(now, &items);
            }
            Output::Counts(c) => self.view.counts = c,
            Output::Notice(n) => info!("server: {n}"),
            Output::Saved(_) => {}
        }
    }

    fn send(&self, cmd: Command) {
        if let Some(c) = &self.client {
            c.send(cmd);
        }
    }

    fn menu(&mut self, id: &str) {
        let now = Instant::now().into_std();
        match id {
            ids::MARK_ALL_READ => self.send(Command::MarkRead(None)),
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
                    open_url(&url);
                }
                self.send(Command::MarkRead(Some(kind)));
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
                if let Some(url) = url.or_else(|| self.site.clone()) {
                    open_url(&url);
                }
                if let Some(k) = kind_of(slot) {
                    self.send(Command::MarkRead(Some(k)));
                }
            }
            ToastEvent::MarkRead { slot } => {
                if let Some(k) = kind_of(slot) {
                    self.send(Command::MarkRead(Some(k)));
                }
            }
        }
    }

    fn refresh(&mut self) {
        if self.view.paused.is_some() && !self.announcer.is_paused(Instant::now().into_std()) {
            self.view.paused = None;
        }
        if let Some(tray) = &self.tray {
            let tray_view = self.view.clone();
            if let Err(e) = tray.update(&tray_view) {
                warn!("tray update failed: {e}");
            }
        }
    }
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

fn local_hms(t: libc::time_t) -> (i32, i32, i32) {
    // SAFETY: localtime_r writes only into the struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        (tm.tm_hour, tm.tm_min, tm.tm_sec)
    } else {
        (0, 0, 0)
    }
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
