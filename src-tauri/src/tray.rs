//! The tray: a drawn icon (bell + unread badge), a label with the count, and
//! a menu that carries every action (Linux trays deliver no clicks).

use std::sync::Mutex;

use chime_core::announce::sanitize;
use chime_core::badge::{self, Look};
use chime_core::supervisor::ConnState;
use chime_core::{Counts, Kind};
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Wry};

pub const TRAY_ID: &str = "chime";
/// Drawn at this size; the tray scales it.
const ICON_SIZE: u32 = 32;

/// Menu ids.
pub mod ids {
    pub const STATUS: &str = "status";
    pub const LIKES: &str = "kind-like";
    pub const DISLIKES: &str = "kind-dislike";
    pub const REPLIES: &str = "kind-reply";
    pub const MARK_ALL_READ: &str = "mark-all-read";
    pub const OPEN_INBOX: &str = "open-inbox";
    pub const SETTINGS: &str = "settings";
    pub const PAUSE_HOUR: &str = "pause-hour";
    pub const PAUSE_TOMORROW: &str = "pause-tomorrow";
    pub const PAUSE_RESUME: &str = "pause-resume";
    pub const RECONNECT: &str = "reconnect";
    pub const QUIT: &str = "quit";
}

/// What the tray shows; the controller owns it.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub state: ConnState,
    pub host: String,
    pub counts: Counts,
    /// "Paused until 14:30", if paused.
    pub paused: Option<String>,
}

impl View {
    pub fn look(&self) -> Look {
        match self.state {
            ConnState::Connected { .. } => Look::Connected,
            ConnState::Idle | ConnState::Connecting { .. } | ConnState::Waiting { .. } => {
                Look::Connecting
            }
            ConnState::Paused | ConnState::Offline => Look::Offline,
            ConnState::AuthFailed { .. } | ConnState::Misconfigured { .. } => Look::Problem,
        }
    }

    pub fn status_line(&self) -> String {
        let host = &self.host;
        match &self.state {
            ConnState::Idle => "No server configured".into(),
            ConnState::Connecting { attempt: 0 } => format!("Connecting to {host}…"),
            ConnState::Connecting { .. } => format!("Reconnecting to {host}…"),
            ConnState::Connected { .. } => format!("Connected to {host}"),
            ConnState::Waiting { retry_in_ms, .. } => {
                format!("Reconnecting in {}", human_secs(*retry_in_ms))
            }
            ConnState::AuthFailed { .. } => "Sign-in failed — check Settings".into(),
            ConnState::Misconfigured { reason, .. } => {
                format!("Cannot connect: {}", sanitize(reason, 60))
            }
            ConnState::Paused => "Paused".into(),
            ConnState::Offline => "Offline — waiting for the network".into(),
        }
    }

    pub fn kind_line(&self, kind: Kind) -> String {
        match self.counts.get(kind) {
            0 => format!("No new {}", kind.noun(2)),
            n => format!("{n} new {}", kind.noun(n)),
        }
    }

    pub fn label(&self) -> String {
        badge::badge_text(self.counts.total())
    }

    pub fn tooltip(&self) -> String {
        match self.counts.total() {
            0 => format!("Chime — {}", self.status_line()),
            n => format!("Chime — {n} unread · {}", self.status_line()),
        }
    }
}

fn human_secs(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    if s < 120 {
        format!("{s} s")
    } else {
        format!("{} min", s.div_ceil(60))
    }
}

struct Items {
    status: MenuItem<Wry>,
    likes: MenuItem<Wry>,
    dislikes: MenuItem<Wry>,
    replies: MenuItem<Wry>,
    pause: Submenu<Wry>,
    resume: MenuItem<Wry>,
}

/// The tray, if the desktop has one.
pub struct Tray {
    icon: TrayIcon<Wry>,
    items: Items,
    shown: Mutex<Option<View>>,
}

impl Tray {
    /// Build the tray. `Err` explains why there is none (no
    /// libayatana-appindicator, no tray host): the app runs on without it.
    pub fn build(app: &AppHandle, view: &View) -> Result<Tray, String> {
        let built =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Tray::try_build(app, view)));
        match built {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => {
                Err("the tray library is missing (install libayatana-appindicator3-1)".into())
            }
        }
    }

    fn try_build(app: &AppHandle, view: &View) -> tauri::Result<Tray> {
        let item = |id: &str, text: &str, enabled: bool| {
            MenuItem::with_id(app, id, text, enabled, None::<&str>)
        };
        let status = item(ids::STATUS, &view.status_line(), false)?;
        let likes = item(ids::LIKES, &view.kind_line(Kind::Like), true)?;
        let dislikes = item(ids::DISLIKES, &view.kind_line(Kind::Dislike), true)?;
        let replies = item(ids::REPLIES, &view.kind_line(Kind::Reply), true)?;
        let resume = item(ids::PAUSE_RESUME, "Resume notifications", false)?;
        let pause = Submenu::with_items(
            app,
            "Pause notifications",
            true,
            &[
                &item(ids::PAUSE_HOUR, "For 1 hour", true)?,
                &item(ids::PAUSE_TOMORROW, "Until tomorrow", true)?,
                &resume,
            ],
        )?;
        let menu = Menu::with_items(
            app,
            &[
                &status,
                &PredefinedMenuItem::separator(app)?,
                &likes,
                &dislikes,
                &replies,
                &PredefinedMenuItem::separator(app)?,
                &item(ids::OPEN_INBOX, "Open inbox…", true)?,
                &item(ids::MARK_ALL_READ, "Mark all as read", true)?,
                &pause,
                &item(ids::RECONNECT, "Reconnect now", true)?,
                &item(ids::SETTINGS, "Settings…", true)?,
                &PredefinedMenuItem::separator(app)?,
                &item(ids::QUIT, "Quit Chime", true)?,
            ],
        )?;
        let icon = TrayIconBuilder::with_id(TRAY_ID)
            .icon(icon_image(view))
            .tooltip(view.tooltip())
            .title(view.label())
            .menu(&menu)
            .show_menu_on_left_click(true)
            .build(app)?;
        Ok(Tray {
            icon,
            items: Items {
                status,
                likes,
                dislikes,
                replies,
                pause,
                resume,
            },
            shown: Mutex::new(Some(view.clone())),
        })
    }

    /// Bring the tray up to date, touching only what changed.
    pub fn update(&self, view: &View) -> tauri::Result<()> {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        let old = shown.take();
        let changed = |f: &dyn Fn(&View) -> String| old.as_ref().is_none_or(|o| f(o) != f(view));
        if old
            .as_ref()
            .is_none_or(|o| o.look() != view.look() || o.counts.total() != view.counts.total())
        {
            self.icon.set_icon(Some(icon_image(view)))?;
            self.icon.set_title(Some(view.label()))?;
        }
        if changed(&|v| v.tooltip()) {
            self.icon.set_tooltip(Some(view.tooltip()))?;
        }
        if changed(&|v| v.status_line()) {
            self.items.status.set_text(view.status_line())?;
        }
        for (kind, item) in [
            (Kind::Like, &self.items.likes),
            (Kind::Dislike, &self.items.dislikes),
            (Kind::Reply, &self.items.replies),
        ] {
            if changed(&|v| v.kind_line(kind)) {
                item.set_text(view.kind_line(kind))?;
            }
        }
        if old.as_ref().is_none_or(|o| o.paused != view.paused) {
            match &view.paused {
                Some(until) => {
                    self.items
                        .pause
                        .set_text(format!("Notifications paused until {until}"))?;
                    self.items.resume.set_enabled(true)?;
                }
                None => {
                    self.items.pause.set_text("Pause notifications")?;
                    self.items.resume.set_enabled(false)?;
                }
            }
        }
        *shown = Some(view.clone());
        Ok(())
    }
}

fn icon_image(view: &View) -> Image<'static> {
    Image::new_owned(
        badge::render(ICON_SIZE, view.counts.total(), view.look()),
        ICON_SIZE,
        ICON_SIZE,
    )
}
