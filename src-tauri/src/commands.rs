//! The commands the windows may call, answered in the tray process: thin
//! wrappers over [`Shared`]. The pages run in the window host, which hands
//! each call over as it came ([`crate::host`]); their names are listed in
//! `build.rs`, and the capability allows exactly those. Work that takes a
//! lock the controller or a keyring call may hold runs on the async
//! runtime, never on the main thread.

use std::collections::HashMap;

use chime_desktop::settings::{Settings, SourceSettings};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::{AppHandle, Manager};

use crate::state::{CmdError, Shared};

#[derive(Deserialize)]
struct InboxList {
    kind: Option<String>,
    source: Option<String>,
    text: Option<String>,
    limit: Option<usize>,
}

/// Open a row: its page, or with `link` the message's link of that index
/// (only the http/https links the store kept).
#[derive(Deserialize)]
struct InboxOpen {
    id: i64,
    link: Option<usize>,
}

#[derive(Deserialize)]
struct MarkRead {
    kind: Option<String>,
    source: Option<String>,
}

#[derive(Deserialize)]
struct SettingsSave {
    settings: Settings,
    secrets: Option<HashMap<String, String>>,
}

#[derive(Deserialize)]
struct SettingsSignIn {
    source: SourceSettings,
}

#[derive(Deserialize)]
struct SettingsTest {
    source: SourceSettings,
    secret: Option<String>,
}

fn args<T: DeserializeOwned>(v: Value) -> Result<T, CmdError> {
    serde_json::from_value(v).map_err(|e| CmdError::bad_call(e.to_string()))
}

fn answer<T: Serialize>(r: Result<T, CmdError>) -> Result<Value, Value> {
    r.and_then(|v| serde_json::to_value(v).map_err(|e| CmdError::bad_call(e.to_string())))
        .map_err(|e| serde_json::to_value(e).unwrap_or(Value::Null))
}

/// Run the page's command `cmd` with its arguments.
pub async fn dispatch(app: &AppHandle, cmd: &str, a: Value) -> Result<Value, Value> {
    let shared = app.state::<Shared>();
    match cmd {
        "inbox_list" => answer(args::<InboxList>(a).and_then(|a| {
            let limit = a.limit.unwrap_or(500);
            shared.inbox(
                a.kind.as_deref(),
                a.source.as_deref(),
                a.text.as_deref(),
                limit,
            )
        })),
        "inbox_open" => answer(
            args::<InboxOpen>(a).and_then(|a| shared.send(crate::Cmd::OpenItem(a.id, a.link))),
        ),
        "inbox_mark_all_read" => answer(args::<MarkRead>(a).and_then(|a| {
            let kind = a.kind.as_deref().and_then(chime_proto::Kind::parse);
            shared.send(crate::Cmd::MarkRead(
                a.source.filter(|s| !s.is_empty()),
                kind,
            ))
        })),
        "status_get" => answer(Ok(shared.status())),
        "settings_get" => answer(Ok(shared.settings_view_with_proposal())),
        "settings_save" => match args::<SettingsSave>(a) {
            Ok(a) => {
                let secrets = a.secrets.unwrap_or_default();
                answer(shared.save_settings(app, a.settings, secrets).await)
            }
            Err(e) => answer::<()>(Err(e)),
        },
        "settings_test" => match args::<SettingsTest>(a) {
            Ok(a) => answer(shared.test_connection(a.source, a.secret).await),
            Err(e) => answer::<()>(Err(e)),
        },
        "settings_sign_in" => match args::<SettingsSignIn>(a) {
            Ok(a) => answer(shared.sign_in(app, a.source).await),
            Err(e) => answer::<()>(Err(e)),
        },
        other => answer::<()>(Err(CmdError::bad_call(format!("no command {other}")))),
    }
}
