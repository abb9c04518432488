//! The inbox and settings windows, in the window host process (see
//! [`crate::host`]): made on demand, destroyed on close (a hidden webview
//! would cost two WebKit processes for nothing; the host exits with its
//! last window).

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder};
use tracing::{info, warn};

pub const INBOX: &str = "inbox";
pub const SETTINGS: &str = "settings";

/// Event names the windows listen to.
pub mod events {
    pub const INBOX_CHANGED: &str = "inbox-changed";
    pub const STATUS_CHANGED: &str = "status-changed";
    /// Whether a secret is saved for the saved server (known shortly after
    /// start: the keyring is asked off the main thread).
    pub const SECRET_STATE: &str = "secret-state";
    /// A link proposed a source (Settings adds it for the user to confirm).
    pub const SOURCE_PROPOSED: &str = "source-proposed";
}

/// Show the window `label` (inbox or settings), creating it if needed.
pub fn open(app: &AppHandle, label: &str) {
    if let Some(w) = app.get_webview_window(label) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        return;
    }
    let (page, title, size) = match label {
        SETTINGS => ("settings.html", "Chime — Settings", (520.0, 720.0)),
        _ => ("inbox.html", "Chime — Inbox", (420.0, 600.0)),
    };
    let label = if label == SETTINGS { SETTINGS } else { INBOX };
    let built = WebviewWindowBuilder::new(app, label, WebviewUrl::App(page.into()))
        .title(title)
        .inner_size(size.0, size.1)
        .min_inner_size(360.0, 360.0)
        .center()
        .build();
    match built {
        Ok(_) => info!("window {label} opened"),
        Err(e) => warn!("cannot open the {label} window: {e}"),
    }
}
