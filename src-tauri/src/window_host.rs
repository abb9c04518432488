//! The window host: `chime --window-host WINDOW`, started by the tray (see
//! [`crate::host`]). A Tauri app with the inbox and settings windows and
//! nothing else — no tray, no links, no store. The pages' commands go to
//! the tray over the inherited socket as they came (one handler, no
//! per-command copy) and come back with its answer; the
//! tray's events reach the pages. When its last window closes, or the
//! tray goes, it exits, and WebKit with it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};
use tauri::ipc::{Invoke, InvokeBody, InvokeError};
use tauri::{AppHandle, Emitter, Manager, RunEvent};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::host::{automation, Msg, HOST_FD};
use crate::lock;
use crate::windows;

/// The socket to the tray and the calls waiting for its answer.
pub struct TrayLink {
    out: Mutex<UnixStream>,
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<Result<Value, Value>>>>,
}

impl TrayLink {
    fn send(&self, msg: &Msg) -> bool {
        lock(&self.out).write_all(msg.line().as_bytes()).is_ok()
    }

    /// Ask the tray to run `cmd`; its answer, or an error the page shows.
    pub async fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting).insert(id, tx);
        let gone = || json!({"code": "stopped", "message": "Chime is shutting down"});
        if !self.send(&Msg::Call {
            id,
            cmd: cmd.to_owned(),
            args,
        }) {
            lock(&self.waiting).remove(&id);
            return Err(gone());
        }
        rx.await.unwrap_or_else(|_| Err(gone()))
    }
}

/// Run the host showing `window`; returns the exit code.
pub fn run(window: String) -> i32 {
    if !is_socket(HOST_FD) {
        error!("--window-host is started by Chime's tray, not by hand");
        return 2;
    }
    // SAFETY: the tray made fd 3 our end of its socket pair (see
    // host::spawn), checked to be a socket just now, and nothing else in
    // this process owns it.
    let stream = unsafe { UnixStream::from_raw_fd(HOST_FD) };
    // Ours alone: no process the host starts (WebKit's helpers) inherits
    // the tray's socket.
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe {
        let flags = libc::fcntl(HOST_FD, libc::F_GETFD);
        if flags >= 0 {
            libc::fcntl(HOST_FD, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
    let Ok(reader) = stream.try_clone() else {
        error!("window host: no link to the tray");
        return 1;
    };
    let link = TrayLink {
        out: Mutex::new(stream),
        next: AtomicU64::new(1),
        waiting: Mutex::new(HashMap::new()),
    };
    let app = tauri::Builder::default()
        .manage(link)
        .invoke_handler(handle)
        .setup(move |app| {
            let handle = app.handle().clone();
            std::thread::spawn(move || read_tray(handle, reader));
            tauri::async_runtime::spawn(crate::portal::follow(app.handle().clone()));
            windows::open(app.handle(), &window);
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            error!("window host cannot start: {e}");
            return 1;
        }
    };
    app.run(|app, event| match event {
        // Under WebDriver the session lives here: stay without windows.
        RunEvent::ExitRequested {
            api, code: None, ..
        } if automation() => api.prevent_exit(),
        RunEvent::WindowEvent {
            event: tauri::WindowEvent::Destroyed,
            label,
            ..
        } => tell_windows(app, Some(&label)),
        RunEvent::WindowEvent {
            event: tauri::WindowEvent::Focused(true),
            ..
        } => tell_windows(app, None),
        _ => {}
    });
    0
}

/// Whether `fd` is an open socket (what the tray hands over).
fn is_socket(fd: i32) -> bool {
    // SAFETY: fstat only writes the struct we pass; a closed fd is EBADF.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::fstat(fd, &mut st) } == 0;
    ok && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK
}

/// Tell the tray which windows are open (`closing` is going).
fn tell_windows(app: &AppHandle, closing: Option<&str>) {
    let list: Vec<String> = app
        .webview_windows()
        .into_keys()
        .filter(|l| Some(l.as_str()) != closing)
        .collect();
    app.state::<TrayLink>().send(&Msg::Windows(list));
}

/// The tray's answers, windows to open and events, until it goes.
fn read_tray(app: AppHandle, reader: UnixStream) {
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Msg>(&line) {
            Ok(Msg::Reply { id, result }) => {
                let waiting = lock(&app.state::<TrayLink>().waiting).remove(&id);
                if let Some(tx) = waiting {
                    let _ = tx.send(result);
                }
            }
            Ok(Msg::Open(window)) => {
                let handle = app.clone();
                let _ = app.run_on_main_thread(move || {
                    windows::open(&handle, &window);
                    tell_windows(&handle, None);
                });
            }
            Ok(Msg::Event { name, payload }) => {
                let _ = app.emit(&name, payload);
            }
            Ok(other) => warn!("the tray sent an unexpected {other:?}"),
            Err(e) => warn!("the tray sent a bad line: {e}"),
        }
    }
    info!("the tray is gone: the window host ends");
    app.exit(0);
}

/// A page's command. The capability already allowed it by name (Tauri
/// checks the app manifest from `build.rs` before any handler runs);
/// `window_close` is the host's own, every other goes to the tray as it
/// came, and the tray's `commands::dispatch` reads its arguments.
fn handle(invoke: Invoke) -> bool {
    let Invoke {
        message, resolver, ..
    } = invoke;
    let cmd = message.command().to_owned();
    let webview = message.webview();
    if cmd == "window_close" {
        // Escape or Ctrl+W: destroyed, not hidden.
        match webview.window().destroy() {
            Ok(()) => resolver.resolve(()),
            Err(e) => resolver.reject(e.to_string()),
        }
        return true;
    }
    let args = match message.payload() {
        InvokeBody::Json(v) => v.clone(),
        InvokeBody::Raw(_) => Value::Null,
    };
    let app = webview.app_handle().clone();
    resolver.respond_async(async move {
        app.state::<TrayLink>()
            .call(&cmd, args)
            .await
            .map_err(InvokeError)
    });
    true
}
