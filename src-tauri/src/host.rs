//! The tray's side of the window host. The windows (and with them WebKit,
//! its GL stack and its helper processes) live in a child process,
//! `chime --window-host WINDOW`, started when the user opens a window and
//! gone when the last one closes: the tray process never creates a web
//! view, so what WebKit allocates is handed back whole when the windows
//! go (see ARCHITECTURE.md).
//!
//! The two talk over a socket pair inherited as fd 3, one JSON object per
//! line (see [`Msg`]): the host forwards the pages' commands and says which
//! windows it shows; the tray answers, tells it which window to open and
//! passes on the events the pages listen to.
//!
//! Architecture Invariant: the host decides nothing and keeps nothing;
//! every command is answered by the tray's [`crate::commands::dispatch`].

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::{AppHandle, Manager};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::lock;

/// The fd the host finds its end of the socket pair at.
pub const HOST_FD: i32 = 3;

/// One line on the socket, either way.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Host → tray: a page's command.
    Call { id: u64, cmd: String, args: Value },
    /// Tray → host: its answer.
    Reply {
        id: u64,
        result: Result<Value, Value>,
    },
    /// Host → tray: the windows it shows now.
    Windows(Vec<String>),
    /// Tray → host: show this window (made if needed).
    Open(String),
    /// Tray → host: an event for the pages.
    Event { name: String, payload: Value },
}

impl Msg {
    pub fn line(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// The host running now, if one is.
struct Running {
    to_host: mpsc::UnboundedSender<Msg>,
    windows: Vec<String>,
    generation: u64,
}

/// Managed by the tray app.
#[derive(Default)]
pub struct Hosts {
    running: Mutex<Option<Running>>,
    generation: AtomicU64,
}

/// Show `window`: in the running host, or in a new one.
pub fn open(app: &AppHandle, window: &str) {
    let hosts = app.state::<Hosts>();
    // Held until the new host is recorded: two opens at once (the menu and
    // a second launch) make one host, not two.
    let mut running = lock(&hosts.running);
    if let Some(r) = running.as_ref() {
        if r.to_host.send(Msg::Open(window.to_owned())).is_ok() {
            return;
        }
    }
    match spawn(app, window) {
        Ok(host) => {
            *running = Some(host);
            info!("window host started for the {window} window");
        }
        Err(e) => warn!("cannot open the {window} window: {e}"),
    }
}

/// Whether a window host runs (one that shows no window is on its way out,
/// and no longer counts).
pub fn is_running(app: &AppHandle) -> bool {
    lock(&app.state::<Hosts>().running).is_some()
}

/// Whether the host shows `window` now.
pub fn is_open(app: &AppHandle, window: &str) -> bool {
    lock(&app.state::<Hosts>().running)
        .as_ref()
        .is_some_and(|r| r.windows.iter().any(|w| w == window))
}

/// Pass an event to the pages (nothing when no window is open).
pub fn emit<S: Serialize>(app: &AppHandle, name: &str, payload: S) {
    let Some(hosts) = app.try_state::<Hosts>() else {
        return;
    };
    let running = lock(&hosts.running);
    if let Some(r) = running.as_ref() {
        let payload = serde_json::to_value(payload).unwrap_or(Value::Null);
        let _ = r.to_host.send(Msg::Event {
            name: name.to_owned(),
            payload,
        });
    }
}

/// Start a host showing `window`; the caller records it (its threads wait
/// for that, as they take the same lock).
fn spawn(app: &AppHandle, window: &str) -> std::io::Result<Running> {
    let (ours, theirs) = UnixStream::pair()?;
    let fd = theirs.as_raw_fd();
    // This very build, even when an upgrade replaced the file meanwhile
    // (Linux); elsewhere the program's path.
    let exe = std::path::Path::new("/proc/self/exe");
    let program = if exe.exists() {
        exe.to_path_buf()
    } else {
        std::env::current_exe()?
    };
    let mut cmd = std::process::Command::new(program);
    // The host needs no credential (the tray removed them from its own
    // environment at start; this holds even if one came back).
    cmd.arg("--window-host").arg(window);
    for name in crate::SECRET_ENV {
        cmd.env_remove(name);
    }
    // SAFETY: between fork and exec only dup2, which is async-signal-safe;
    // the copy at fd 3 has no close-on-exec flag, so the host inherits
    // exactly that end (the original closes on exec).
    unsafe {
        cmd.pre_exec(move || {
            if fd == HOST_FD {
                // dup2 onto itself changes nothing: clear close-on-exec
                // by hand, or the host would start without its socket.
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, HOST_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(theirs);
    let reader = ours.try_clone()?;
    let hosts = app.state::<Hosts>();
    let generation = hosts.generation.fetch_add(1, Ordering::Relaxed) + 1;
    let (to_host, mut from_tray) = mpsc::unbounded_channel::<Msg>();
    let host = Running {
        to_host,
        windows: vec![window.to_owned()],
        generation,
    };
    // Writer: the tray's messages, in order; ends with the host.
    std::thread::spawn(move || {
        let mut out = ours;
        while let Some(msg) = from_tray.blocking_recv() {
            if out.write_all(msg.line().as_bytes()).is_err() {
                break;
            }
        }
    });
    // Reader: the host's calls and window lists, until it is gone.
    let app = app.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Msg>(&line) {
                Ok(Msg::Call { id, cmd, args }) => {
                    let app = app.clone();
                    tauri::async_runtime::spawn(async move {
                        let result = crate::commands::dispatch(&app, &cmd, args).await;
                        send(&app, generation, Msg::Reply { id, result });
                    });
                }
                Ok(Msg::Windows(list)) => {
                    let hosts = app.state::<Hosts>();
                    let mut running = lock(&hosts.running);
                    if running.as_ref().is_some_and(|r| r.generation == generation) {
                        if list.is_empty() && !automation() {
                            // It is on its way out: the next window gets a
                            // new host.
                            *running = None;
                        } else if let Some(r) = running.as_mut() {
                            r.windows = list;
                        }
                    }
                }
                Ok(other) => warn!("the window host sent an unexpected {other:?}"),
                Err(e) => warn!("the window host sent a bad line: {e}"),
            }
        }
        let _ = child.wait();
        {
            let hosts = app.state::<Hosts>();
            let mut running = lock(&hosts.running);
            if running.as_ref().is_some_and(|r| r.generation == generation) {
                *running = None;
            }
        }
        info!("window host ended");
        crate::after_windows_closed(&app);
    });
    Ok(host)
}

/// Under WebDriver the host stays without windows (its session lives in
/// the host), and the tray keeps using it.
pub fn automation() -> bool {
    std::env::var("TAURI_WEBVIEW_AUTOMATION").is_ok_and(|v| v == "true")
}

/// Send `msg` to host `generation`, if it is still the one running.
fn send(app: &AppHandle, generation: u64, msg: Msg) {
    if let Some(r) = lock(&app.state::<Hosts>().running).as_ref() {
        if r.generation == generation {
            let _ = r.to_host.send(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_each_and_read_back_the_same() {
        let msgs = [
            Msg::Call {
                id: 7,
                cmd: "inbox_list".into(),
                args: serde_json::json!({"kind": "like", "text": "a\nb"}),
            },
            Msg::Reply {
                id: 7,
                result: Ok(serde_json::json!({"rows": []})),
            },
            Msg::Reply {
                id: 8,
                result: Err(serde_json::json!({"code": "invalid"})),
            },
            Msg::Windows(vec!["inbox".into()]),
            Msg::Open("settings".into()),
            Msg::Event {
                name: "status-changed".into(),
                payload: serde_json::json!({"line": "x"}),
            },
        ];
        for m in msgs {
            let line = m.line();
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            let back: Msg = serde_json::from_str(line.trim_end()).expect("parses");
            assert_eq!(back.line(), line);
        }
    }
}
