//! The commands the windows may call: thin wrappers over [`Shared`]. Their
//! names are listed in `build.rs`, and the capability allows exactly those.
//! A command that takes a lock the controller or a keyring call may hold
//! runs on the async runtime (`async`), never on the main thread: a burst
//! being stored or a slow keyring must not freeze the windows.

use std::collections::HashMap;

use chime_core::settings::{Settings, SourceSettings};
use chime_core::ProbeOutcome;
use tauri::{AppHandle, State, WebviewWindow};

use crate::state::{CmdError, InboxPage, SettingsView, Shared, Status};

#[tauri::command(async)]
pub fn inbox_list(
    shared: State<'_, Shared>,
    kind: Option<String>,
    source: Option<String>,
    text: Option<String>,
    limit: Option<usize>,
) -> Result<InboxPage, CmdError> {
    shared.inbox(
        kind.as_deref(),
        source.as_deref(),
        text.as_deref(),
        limit.unwrap_or(500),
    )
}

/// Open a row: its page, or with `link` the message's link of that index
/// (only the http/https links the store kept).
#[tauri::command]
pub fn inbox_open(shared: State<'_, Shared>, id: i64, link: Option<usize>) -> Result<(), CmdError> {
    shared.send(crate::Cmd::OpenItem(id, link))
}

#[tauri::command]
pub fn inbox_mark_all_read(
    shared: State<'_, Shared>,
    kind: Option<String>,
    source: Option<String>,
) -> Result<(), CmdError> {
    let kind = kind.as_deref().and_then(chime_core::Kind::parse);
    shared.send(crate::Cmd::MarkRead(source.filter(|s| !s.is_empty()), kind))
}

#[tauri::command]
pub fn status_get(shared: State<'_, Shared>) -> Status {
    shared.status()
}

#[tauri::command(async)]
pub fn settings_get(shared: State<'_, Shared>) -> SettingsView {
    shared.settings_view_with_proposal()
}

#[tauri::command]
pub async fn settings_save(
    app: AppHandle,
    shared: State<'_, Shared>,
    settings: Settings,
    secrets: Option<HashMap<String, String>>,
) -> Result<SettingsView, CmdError> {
    shared
        .save_settings(&app, settings, secrets.unwrap_or_default())
        .await
}

#[tauri::command]
pub async fn settings_test(
    shared: State<'_, Shared>,
    source: SourceSettings,
    secret: Option<String>,
) -> Result<ProbeOutcome, CmdError> {
    shared.test_connection(source, secret).await
}

/// Close the calling window (Escape or Ctrl+W): destroyed, not hidden.
#[tauri::command]
pub fn window_close(window: WebviewWindow) -> Result<(), CmdError> {
    window.destroy().map_err(CmdError::from_tauri)
}
