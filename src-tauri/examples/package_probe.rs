//! The installed app on a private desktop: `package_probe WRAPPER` starts
//! Xvfb, a session and a stand-in system bus, a StatusNotifierWatcher and a
//! notification server (the test desktop of `tests/desktop`), then runs
//! `WRAPPER --demo` — for the package check, a script that runs
//! `/usr/bin/chime` inside the clean Debian root — and waits for its tray
//! item and its first notification. Start at login is on in its settings:
//! the XDG autostart entry it writes must start `/usr/bin/chime --hidden`
//! (`PROGRAM`, the second argument, when given). Then a second launch
//! opens the inbox, in the installed program's window host. Exit 0 and one
//! line each, or 1.
//! Used by `scripts/package-check`.

#[path = "../tests/desktop/mod.rs"]
mod desktop;

use std::time::Duration;

use desktop::Desktop;

#[tokio::main]
async fn main() {
    let Some(wrapper) = std::env::args().nth(1) else {
        eprintln!("usage: package_probe WRAPPER [PROGRAM]");
        std::process::exit(2);
    };
    let program = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "/usr/bin/chime".into());
    let mut d = Desktop::start(true).await;
    d.write_settings(&serde_json::json!({"schema": 2, "start_at_login": true}));
    let entry_path = d
        .config_home()
        .join("autostart")
        .join(chime_desktop::autostart::FILE_NAME);
    let t0 = std::time::Instant::now();
    let _app = d.launch_bin(
        std::path::Path::new(&wrapper),
        &["--demo", "--demo-rate", "120"],
    );
    let probe = async {
        let item = d.tray_item().await;
        println!(
            "tray item registered: {} ({} ms after launch)",
            item.string("Title").await,
            t0.elapsed().as_millis()
        );
        let note = d
            .until("a notification", |r| r.notes.first().cloned())
            .await;
        println!("notification: {} — {}", note.summary, note.body);
        // Written at start-up, before the first link: there by now.
        let entry = std::fs::read_to_string(&entry_path).unwrap_or_default();
        let exec = entry.lines().find(|l| l.starts_with("Exec="));
        let args = chime_desktop::autostart::exec_args(&entry);
        if args != Some(vec![program.clone(), "--hidden".into()]) {
            eprintln!("the autostart entry does not start {program} --hidden:\n{entry}");
            std::process::exit(1);
        }
        println!("autostart entry: {}", exec.unwrap_or_default());
        // A window, as a second launch asks for it: the installed program
        // starts its window host (the same binary) and the inbox opens.
        let _again = d.launch_bin(std::path::Path::new(&wrapper), &["--open", "inbox"]);
        d.poll("the inbox window", || async {
            let log = d.app_log();
            (log.contains("window host started") && log.contains("window inbox opened"))
                .then_some(())
        })
        .await;
        println!("inbox window opened in the window host");
    };
    if tokio::time::timeout(Duration::from_secs(90), probe)
        .await
        .is_err()
    {
        eprintln!(
            "no tray item or notification within 90 s; app log:\n{}",
            d.app_log()
        );
        std::process::exit(1);
    }
}
