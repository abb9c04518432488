//! The tray: a drawn icon (bell + unread badge), a label with the count, and
//! a menu that carries every action (Linux trays deliver no clicks).

use std::sync::Mutex;

use chime_desktop::badge::{self, Look};
use chime_engine::supervisor::ConnState;
use chime_proto::text::sanitize;
use chime_proto::{Counts, Kind};
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
    pub const MESSAGES: &str = "kind-message";
    /// The menu id of a kind's line (`kind-like` …).
    pub fn kind(kind: chime_proto::Kind) -> &'static str {
        match kind {
            chime_proto::Kind::Like => LIKES,
            chime_proto::Kind::Dislike => DISLIKES,
            chime_proto::Kind::Reply => REPLIES,
            chime_proto::Kind::Message => MESSAGES,
        }
    }
    pub const MARK_ALL_READ: &str = "mark-all-read";
    pub const OPEN_INBOX: &str = "open-inbox";
    pub const SETTINGS: &str = "settings";
    pub const PAUSE_HOUR: &str = "pause-hour";
    pub const PAUSE_TOMORROW: &str = "pause-tomorrow";
    pub const PAUSE_RESUME: &str = "pause-resume";
    pub const RECONNECT: &str = "reconnect";
    /// Per source, with several: its site, and pausing its link.
    pub const OPEN_SITE: &str = "open-site";
    pub const PAUSE_SOURCE: &str = "pause-source";
    pub const QUIT: &str = "quit";
}

/// One source as the tray shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceView {
    pub name: String,
    pub state: ConnState,
    pub host: String,
    pub counts: Counts,
    /// The kinds its protocol brings (a line each in the menu).
    pub kinds: Vec<Kind>,
}

/// What the tray shows; the controller owns it.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// In the order of the settings (or the command line).
    pub sources: Vec<SourceView>,
    /// "Paused until 14:30", if paused.
    pub paused: Option<String>,
}

impl SourceView {
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
}

/// How bad a look is, for the icon of several sources (the worst shows).
fn severity(look: Look) -> u8 {
    match look {
        Look::Connected => 0,
        Look::Connecting => 1,
        Look::Offline => 2,
        Look::Problem => 3,
    }
}

impl View {
    /// A view of one source (the app before it knows more).
    pub fn single(state: ConnState, host: String) -> View {
        View {
            sources: vec![SourceView {
                name: host.clone(),
                state,
                host,
                counts: Counts::default(),
                kinds: chime_engine::dialect::protocol(chime_proto::Dialect::Auto)
                    .kinds
                    .to_vec(),
            }],
            paused: None,
        }
    }

    /// Unread over every source.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.sources {
            for k in Kind::ALL {
                *c.get_mut(k) = c.get(k).saturating_add(s.counts.get(k));
            }
        }
        c
    }

    /// The source that looks worst (the first of equals).
    fn worst(&self) -> Option<&SourceView> {
        self.sources.iter().rev().max_by_key(|s| severity(s.look()))
    }

    pub fn look(&self) -> Look {
        self.worst().map_or(Look::Offline, SourceView::look)
    }

    /// The state the windows colour their status dot with.
    pub fn state(&self) -> ConnState {
        self.worst().map_or(ConnState::Idle, |s| s.state.clone())
    }

    pub fn status_line(&self) -> String {
        match self.sources.as_slice() {
            [] => "No server configured".into(),
            [one] => one.status_line(),
            all => match self.worst() {
                Some(w) if w.look() != Look::Connected => {
                    format!("{}: {}", w.name, w.status_line())
                }
                _ => format!("All {} sources connected", all.len()),
            },
        }
    }

    pub fn label(&self) -> String {
        badge::badge_text(self.counts().total())
    }

    pub fn tooltip(&self) -> String {
        match self.counts().total() {
            0 => format!("Chime — {}", self.status_line()),
            n => format!("Chime — {n} unread · {}", self.status_line()),
        }
    }
}

/// The menu id of `base` for source `source`: the plain id for the first
/// (the menu of one source is as it always was), `base@N` for the others.
pub fn source_id(base: &str, source: usize) -> String {
    if source == 0 {
        base.to_owned()
    } else {
        format!("{base}@{source}")
    }
}

/// The base id and the source of a menu id.
pub fn parse_id(id: &str) -> (&str, usize) {
    match id.split_once('@') {
        Some((base, n)) => (base, n.parse().unwrap_or(0)),
        None => (id, 0),
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

struct SourceItems {
    status: MenuItem<Wry>,
    /// A line per kind of the source.
    kinds: Vec<(Kind, MenuItem<Wry>)>,
    /// With several sources: open its site ("Open example.com"), and
    /// pause or resume this one.
    site: Option<MenuItem<Wry>>,
    pause: Option<MenuItem<Wry>>,
}

/// "Open example.com": the source's site, named by its host.
fn site_text(s: &SourceView) -> String {
    format!("Open {}", s.host)
}

/// "Pause this source" or, paused, "Resume this source".
fn pause_text(s: &SourceView) -> &'static str {
    if s.state == ConnState::Paused {
        "Resume this source"
    } else {
        "Pause this source"
    }
}

struct Items {
    sources: Vec<SourceItems>,
    pause: Submenu<Wry>,
    resume: MenuItem<Wry>,
}

/// The tray, if the desktop has one.
pub struct Tray {
    icon: TrayIcon<Wry>,
    app: AppHandle,
    items: Mutex<Items>,
    shown: Mutex<Option<View>>,
}

/// The status line of source `i` in the menu: with several sources it
/// says which.
fn status_text(view: &View, i: usize) -> String {
    let s = &view.sources[i];
    if view.sources.len() > 1 {
        format!("{} — {}", s.name, s.status_line())
    } else {
        s.status_line()
    }
}

fn build_menu(app: &AppHandle, view: &View) -> tauri::Result<(Menu<Wry>, Items)> {
    let item = |id: &str, text: &str, enabled: bool| {
        MenuItem::with_id(app, id, text, enabled, None::<&str>)
    };
    let mut sources = Vec::new();
    let mut entries: Vec<Box<dyn tauri::menu::IsMenuItem<Wry>>> = Vec::new();
    for (i, s) in view.sources.iter().enumerate() {
        let items = SourceItems {
            status: item(&source_id(ids::STATUS, i), &status_text(view, i), false)?,
            kinds: s
                .kinds
                .iter()
                .map(|&k| Ok((k, item(&source_id(ids::kind(k), i), &s.kind_line(k), true)?)))
                .collect::<tauri::Result<_>>()?,
            site: None,
            pause: None,
        };
        let mut items = items;
        if i == 0 {
            entries.push(Box::new(items.status.clone()));
            entries.push(Box::new(PredefinedMenuItem::separator(app)?));
        } else {
            entries.push(Box::new(PredefinedMenuItem::separator(app)?));
            entries.push(Box::new(items.status.clone()));
        }
        for (_, line) in &items.kinds {
            entries.push(Box::new(line.clone()));
        }
        if view.sources.len() > 1 {
            let site = item(&source_id(ids::OPEN_SITE, i), &site_text(s), true)?;
            entries.push(Box::new(site.clone()));
            items.site = Some(site);
            let pause = item(&source_id(ids::PAUSE_SOURCE, i), pause_text(s), true)?;
            entries.push(Box::new(pause.clone()));
            items.pause = Some(pause);
        }
        sources.push(items);
    }
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
    entries.push(Box::new(PredefinedMenuItem::separator(app)?));
    entries.push(Box::new(item(ids::OPEN_INBOX, "Open inbox…", true)?));
    entries.push(Box::new(item(
        ids::MARK_ALL_READ,
        "Mark all as read",
        true,
    )?));
    entries.push(Box::new(pause.clone()));
    entries.push(Box::new(item(ids::RECONNECT, "Reconnect now", true)?));
    entries.push(Box::new(item(ids::SETTINGS, "Settings…", true)?));
    entries.push(Box::new(PredefinedMenuItem::separator(app)?));
    entries.push(Box::new(item(ids::QUIT, "Quit Chime", true)?));
    let refs: Vec<&dyn tauri::menu::IsMenuItem<Wry>> = entries.iter().map(|e| e.as_ref()).collect();
    let menu = Menu::with_items(app, &refs)?;
    Ok((
        menu,
        Items {
            sources,
            pause,
            resume,
        },
    ))
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
        let (menu, items) = build_menu(app, view)?;
        let icon = TrayIconBuilder::with_id(TRAY_ID)
            .icon(icon_image(view))
            .tooltip(view.tooltip())
            .title(view.label())
            .menu(&menu)
            .show_menu_on_left_click(true)
            .build(app)?;
        Ok(Tray {
            icon,
            app: app.clone(),
            items: Mutex::new(items),
            shown: Mutex::new(Some(view.clone())),
        })
    }

    /// Bring the tray up to date, touching only what changed (a different
    /// number of sources makes a new menu).
    pub fn update(&self, view: &View) -> tauri::Result<()> {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        let mut old = shown.take();
        let shape = |v: &View| {
            v.sources
                .iter()
                .map(|s| s.kinds.clone())
                .collect::<Vec<_>>()
        };
        if old.as_ref().is_some_and(|o| shape(o) != shape(view)) {
            let (menu, fresh) = build_menu(&self.app, view)?;
            self.icon.set_menu(Some(menu))?;
            *items = fresh;
            old = None;
        }
        let changed = |f: &dyn Fn(&View) -> String| old.as_ref().is_none_or(|o| f(o) != f(view));
        if old
            .as_ref()
            .is_none_or(|o| o.look() != view.look() || o.counts().total() != view.counts().total())
        {
            self.icon.set_icon(Some(icon_image(view)))?;
            self.icon.set_title(Some(view.label()))?;
        }
        if changed(&|v| v.tooltip()) {
            self.icon.set_tooltip(Some(view.tooltip()))?;
        }
        for (i, si) in items.sources.iter().enumerate() {
            if changed(&|v| status_text(v, i)) {
                si.status.set_text(status_text(view, i))?;
            }
            for (kind, item) in &si.kinds {
                let kind = *kind;
                if changed(&|v| v.sources[i].kind_line(kind)) {
                    item.set_text(view.sources[i].kind_line(kind))?;
                }
            }
            // An edited address keeps the menu's shape: the label follows.
            if let Some(site) = &si.site {
                if changed(&|v| site_text(&v.sources[i])) {
                    site.set_text(site_text(&view.sources[i]))?;
                }
            }
            if let Some(pause) = &si.pause {
                if changed(&|v| pause_text(&v.sources[i]).to_owned()) {
                    pause.set_text(pause_text(&view.sources[i]))?;
                }
            }
        }
        if old.as_ref().is_none_or(|o| o.paused != view.paused) {
            match &view.paused {
                Some(until) => {
                    items
                        .pause
                        .set_text(format!("Notifications paused until {until}"))?;
                    items.resume.set_enabled(true)?;
                }
                None => {
                    items.pause.set_text("Pause notifications")?;
                    items.resume.set_enabled(false)?;
                }
            }
        }
        *shown = Some(view.clone());
        Ok(())
    }
}

fn icon_image(view: &View) -> Image<'static> {
    Image::new_owned(
        badge::render(ICON_SIZE, view.counts().total(), view.look()),
        ICON_SIZE,
        ICON_SIZE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, state: ConnState, likes: u64) -> SourceView {
        SourceView {
            name: name.into(),
            state,
            host: format!("{name}.example"),
            counts: Counts {
                likes,
                ..Counts::default()
            },
            kinds: chime_engine::dialect::protocol(chime_proto::Dialect::Auto)
                .kinds
                .to_vec(),
        }
    }

    #[test]
    fn several_sources_sum_their_badges_and_show_and_name_the_worst() {
        let connected = ConnState::Connected { dialect: None };
        let refused = ConnState::AuthFailed {
            retry_in_ms: 60_000,
            reason: "401".into(),
        };
        let view = View {
            sources: vec![
                source("Blog", connected.clone(), 2),
                source("Work", refused, 3),
                source("Home", ConnState::Offline, 0),
            ],
            paused: None,
        };
        assert_eq!(view.counts().likes, 5);
        assert_eq!(view.label(), "5");
        assert_eq!(view.look(), Look::Problem);
        assert_eq!(view.status_line(), "Work: Sign-in failed — check Settings");
        assert!(
            view.tooltip().contains("Work: Sign-in failed"),
            "{}",
            view.tooltip()
        );
        let all_up = View {
            sources: vec![source("A", connected.clone(), 0), source("B", connected, 0)],
            paused: None,
        };
        assert_eq!(all_up.status_line(), "All 2 sources connected");
        assert_eq!(all_up.look(), Look::Connected);
    }

    #[test]
    fn menu_ids_of_the_first_source_are_as_they_always_were() {
        assert_eq!(source_id(ids::LIKES, 0), ids::LIKES);
        assert_eq!(source_id(ids::LIKES, 2), "kind-like@2");
        assert_eq!(parse_id("kind-like@2"), (ids::LIKES, 2));
        assert_eq!(parse_id(ids::QUIT), (ids::QUIT, 0));
    }
}
