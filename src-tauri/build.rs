/// The commands the windows may call. Each gets an `allow-<name>`
/// permission; `capabilities/inbox.json` and `capabilities/settings.json`
/// grant each window exactly the ones it calls.
const COMMANDS: &[&str] = &[
    "inbox_list",
    "inbox_open",
    "inbox_mark_all_read",
    "status_get",
    "settings_get",
    "settings_save",
    "settings_test",
    "settings_sign_in",
    "window_close",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo:warning=tauri build failed: {e:#}");
        std::process::exit(1);
    }
}
