//! The desktop's light or dark preference for the windows: the XDG
//! desktop portal's `org.freedesktop.appearance` `color-scheme`, read once
//! and then followed through its `SettingChanged` signal. Run by the
//! window host only: the tray process has no window to theme.
//!
//! Tao can do this itself (tauri's default `dbus` feature), but it does it
//! with a libdbus connection on a thread of its own that polls every 5 s
//! for good, in the tray process too. Here the signal wakes us, and only
//! when the preference changes.

use futures_util::StreamExt;
use tauri::{AppHandle, Theme};
use tracing::debug;
use zbus::{OwnedVariant, Variant};

const NAMESPACE: &str = "org.freedesktop.appearance";
const KEY: &str = "color-scheme";

/// The portal's `color-scheme` as a theme: 1 prefers dark, 2 prefers
/// light, 0 (no preference) and anything else leave the toolkit's own.
pub fn theme_of(color_scheme: u32) -> Option<Theme> {
    match color_scheme {
        1 => Some(Theme::Dark),
        2 => Some(Theme::Light),
        _ => None,
    }
}

/// A `u32` inside however many variants the portal wrapped it in
/// (`Read` answers `v` of `v`; `ReadOne` and the signal one `v`).
fn scheme(value: &OwnedVariant) -> Option<u32> {
    let mut v: &Variant<'_> = value;
    for _ in 0..4 {
        match v {
            Variant::U32(n) => return Some(*n),
            Variant::Variant(inner) => v = inner,
            _ => return None,
        }
    }
    None
}

/// Apply the portal's preference now and whenever it changes, until the
/// app ends. No session bus or no portal: the toolkit's theme stays.
pub async fn follow(app: AppHandle) {
    let conn = match zbus::Connection::session().await {
        Ok(c) => c,
        Err(e) => {
            debug!("no session bus, the portal's theme is not followed: {e}");
            return;
        }
    };
    let proxy = match crate::signals::service_proxy(
        &conn,
        "org.freedesktop.portal.Desktop",
        "/org/freedesktop/portal/desktop",
        "org.freedesktop.portal.Settings",
    )
    .await
    {
        Ok(p) => p,
        Err(e) => {
            debug!("no portal proxy: {e}");
            return;
        }
    };
    // Subscribed before the first read: a change in between is not lost.
    let mut changes = match proxy.receive_signal("SettingChanged").await {
        Ok(s) => s,
        Err(e) => {
            debug!("cannot follow the portal's settings: {e}");
            return;
        }
    };
    let apply = |n: u32| {
        if let Some(theme) = theme_of(n) {
            app.set_theme(Some(theme));
        }
    };
    match proxy
        .call::<_, _, OwnedVariant>("Read", &(NAMESPACE, KEY))
        .await
    {
        Ok(v) => {
            if let Some(n) = scheme(&v) {
                apply(n);
            }
        }
        Err(e) => debug!("the portal has no color scheme: {e}"),
    }
    while let Some(msg) = changes.next().await {
        if let Ok((ns, key, value)) = msg.body().deserialize::<(String, String, OwnedVariant)>() {
            if ns == NAMESPACE && key == KEY {
                if let Some(n) = scheme(&value) {
                    apply(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portals_color_scheme_maps_to_a_theme_or_leaves_the_toolkits() {
        let table = [
            (0, None),
            (1, Some(Theme::Dark)),
            (2, Some(Theme::Light)),
            (7, None),
        ];
        for (n, want) in table {
            assert_eq!(theme_of(n), want, "{n}");
        }
    }
}
