//! A private desktop for the app: Xvfb, a session bus, a test-owned
//! StatusNotifierWatcher and org.freedesktop.Notifications server, and a
//! second bus standing in for the system bus (logind signals).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use zbus::object_server::SignalEmitter;
use zbus::{OwnedVariant as OwnedValue, Variant as Value};

pub const SOON: Duration = Duration::from_secs(15);

/// Re-evaluate `check` every 50 ms until it gives a value; `None` once
/// `limit` has passed. Every deadline-bounded poll of the harness is this.
pub async fn poll_until<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawn `cmd` and return it with the first line it prints.
fn spawn_line(cmd: &mut Command) -> (Proc, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("first line");
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    (Proc(child), line.trim().to_owned())
}

/// A session bus like the standard one, but with no service directories:
/// nothing installed on the machine (a keyring, an accessibility bus, a
/// notification daemon) is started behind the test's back. What a test
/// needs, it starts itself.
const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

pub fn dbus_daemon() -> (Proc, String) {
    let config = std::env::temp_dir().join(format!("chime-test-bus-{}.conf", std::process::id()));
    if !config.exists() {
        std::fs::write(&config, BUS_CONFIG).expect("bus config");
    }
    let arg = format!("--config-file={}", config.display());
    spawn_line(Command::new("dbus-daemon").args([arg.as_str(), "--nofork", "--print-address=1"]))
}

pub fn xvfb() -> (Proc, String) {
    let (p, n) = spawn_line(Command::new("Xvfb").args([
        "-displayfd",
        "1",
        "-screen",
        "0",
        "1280x800x24",
        "-nolisten",
        "tcp",
    ]));
    (p, format!(":{n}"))
}

/// One recorded `Notify` call.
#[derive(Debug, Clone)]
pub struct Notify {
    pub id: u32,
    pub app: String,
    pub replaces: u32,
    pub icon: String,
    pub summary: String,
    pub body: String,
    pub actions: Vec<String>,
    pub hints: HashMap<String, String>,
}

#[derive(Default)]
pub struct Recorded {
    pub items: Vec<String>,
    pub notes: Vec<Notify>,
    next: u32,
    /// Play a notification daemon that takes calls and never answers.
    pub hang: bool,
    /// `Notify` calls left unanswered.
    pub hung: u32,
    /// Ids Chime closed (`CloseNotification`).
    pub closed: Vec<u32>,
}

pub type Shared = Arc<Mutex<Recorded>>;

pub struct SniWatcher {
    shared: Shared,
    changed: watch::Sender<u64>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl SniWatcher {
    async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] hdr: zbus::message::Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) {
        let sender = hdr.sender().map(|s| s.to_string()).unwrap_or_default();
        let full = if service.starts_with('/') {
            format!("{sender}{service}")
        } else {
            service.to_owned()
        };
        self.shared.lock().expect("lock").items.push(full.clone());
        self.changed.send_modify(|n| *n += 1);
        let _ = Self::status_notifier_item_registered(&emitter, &full).await;
    }

    fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.shared.lock().expect("lock").items.clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_host_registered(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

pub struct Notifications {
    shared: Shared,
    changed: watch::Sender<u64>,
}

fn value_text(v: &OwnedValue) -> String {
    match &**v {
        Value::Str(s) => s.to_string(),
        Value::U8(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::I32(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// NetworkManager as the test plays it: connected. A name that is owned
/// must answer (GLib's network monitor in WebKit asks it for properties
/// and would wait 25 s for a silent owner).
struct FakeNetworkManager;

#[zbus::interface(name = "org.freedesktop.NetworkManager")]
impl FakeNetworkManager {
    #[zbus(property)]
    fn state(&self) -> u32 {
        70
    }

    #[zbus(property)]
    fn connectivity(&self) -> u32 {
        4
    }
}

/// The XDG desktop portal's settings, as far as appearance goes: the
/// `color-scheme` the test sets (0 none, 1 dark, 2 light).
pub struct FakePortal {
    scheme: Arc<std::sync::atomic::AtomicU32>,
}

#[zbus::interface(name = "org.freedesktop.portal.Settings")]
impl FakePortal {
    fn read(&self, namespace: String, key: String) -> zbus::fdo::Result<OwnedValue> {
        if namespace == "org.freedesktop.appearance" && key == "color-scheme" {
            let n = self.scheme.load(std::sync::atomic::Ordering::Relaxed);
            // As the portal does: the value in a variant, in the reply's.
            OwnedValue::try_from(Value::new(Value::U32(n)))
                .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))
        } else {
            Err(zbus::fdo::Error::Failed("not found".into()))
        }
    }

    #[zbus(signal)]
    async fn setting_changed(
        emitter: &SignalEmitter<'_>,
        namespace: &str,
        key: &str,
        value: Value<'_>,
    ) -> zbus::Result<()>;
}

/// logind as the test plays it: it only emits `PrepareForSleep`.
struct FakeLogind;

#[zbus::interface(name = "org.freedesktop.login1.Manager")]
impl FakeLogind {}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    fn get_capabilities(&self) -> Vec<String> {
        ["body", "body-markup", "actions"]
            .map(String::from)
            .to_vec()
    }

    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let hang = {
            let mut r = self.shared.lock().expect("lock");
            if r.hang {
                r.hung += 1;
            }
            r.hang
        };
        if hang {
            self.changed.send_modify(|n| *n += 1);
            std::future::pending::<()>().await;
        }
        let mut r = self.shared.lock().expect("lock");
        let id = if replaces_id != 0 {
            replaces_id
        } else {
            r.next += 1;
            r.next
        };
        r.notes.push(Notify {
            id,
            app: app_name,
            replaces: replaces_id,
            icon: app_icon,
            summary,
            body,
            actions,
            hints: hints
                .iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .collect(),
        });
        drop(r);
        self.changed.send_modify(|n| *n += 1);
        id
    }

    async fn close_notification(
        &self,
        id: u32,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) {
        self.shared.lock().expect("lock").closed.push(id);
        self.changed.send_modify(|n| *n += 1);
        // Reason 3: closed by a call to CloseNotification.
        let _ = Self::notification_closed(&emitter, id, 3).await;
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "chime-test".into(),
            "chime".into(),
            "1".into(),
            "1.2".into(),
        )
    }

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn notification_closed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        reason: u32,
    ) -> zbus::Result<()>;
}

/// The private desktop.
pub struct Desktop {
    _x: Proc,
    _bus: Proc,
    _system: Proc,
    pub display: String,
    pub bus_address: String,
    pub system_address: String,
    pub conn: zbus::Connection,
    pub system: zbus::Connection,
    pub shared: Shared,
    pub changed: watch::Receiver<u64>,
    pub dir: PathBuf,
    /// The portal's `color-scheme`.
    scheme: Arc<std::sync::atomic::AtomicU32>,
}

impl Desktop {
    pub async fn start(with_tray_host: bool) -> Desktop {
        let (x, display) = xvfb();
        let (bus, bus_address) = dbus_daemon();
        let (system_proc, system_address) = dbus_daemon();
        let shared: Shared = Arc::default();
        let (tx, changed) = watch::channel(0u64);
        let scheme = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let mut builder = zbus::connection::Builder::address(bus_address.as_str())
            .serve_at(
                "/org/freedesktop/portal/desktop",
                FakePortal {
                    scheme: scheme.clone(),
                },
            )
            .name("org.freedesktop.portal.Desktop")
            .serve_at(
                "/org/freedesktop/Notifications",
                Notifications {
                    shared: shared.clone(),
                    changed: tx.clone(),
                },
            )
            .name("org.freedesktop.Notifications");
        if with_tray_host {
            builder = builder
                .serve_at(
                    "/StatusNotifierWatcher",
                    SniWatcher {
                        shared: shared.clone(),
                        changed: tx,
                    },
                )
                .name("org.kde.StatusNotifierWatcher");
        }
        let conn = builder.build().await.expect("session bus");
        // The test plays logind and NetworkManager: it owns their names, as
        // the real services do (Chime hears only the names' owners).
        let system = zbus::connection::Builder::address(system_address.as_str())
            .serve_at("/org/freedesktop/NetworkManager", FakeNetworkManager)
            .serve_at("/org/freedesktop/login1", FakeLogind)
            .name("org.freedesktop.login1")
            .name("org.freedesktop.NetworkManager")
            .build()
            .await
            .expect("system bus");
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("chime-desktop-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("runtime")).expect("dir");
        std::fs::create_dir_all(dir.join("config")).expect("dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(
                dir.join("runtime"),
                std::fs::Permissions::from_mode(0o700),
            );
        }
        Desktop {
            _x: x,
            _bus: bus,
            _system: system_proc,
            display,
            bus_address,
            system_address,
            conn,
            system,
            shared,
            changed,
            dir,
            scheme,
        }
    }

    /// The desktop's light or dark preference changes (the portal's
    /// `color-scheme`: 0 none, 1 dark, 2 light), and the portal says so.
    pub async fn set_color_scheme(&self, n: u32) {
        self.scheme.store(n, std::sync::atomic::Ordering::Relaxed);
        let emitter =
            SignalEmitter::new(&self.conn, "/org/freedesktop/portal/desktop").expect("path");
        FakePortal::setting_changed(
            &emitter,
            "org.freedesktop.appearance",
            "color-scheme",
            Value::U32(n),
        )
        .await
        .expect("emit");
    }

    /// A file the app's "browser" writes opened URLs to.
    pub fn opened_file(&self) -> PathBuf {
        self.dir.join("opened.txt")
    }

    /// Wait for the app to ask the "browser" to open a page; its URL.
    pub async fn opened(&self) -> String {
        let text = self
            .poll("the browser to be asked", || async {
                std::fs::read_to_string(self.opened_file())
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .await;
        text.trim().to_owned()
    }

    /// The app binary cargo built for these tests.
    pub fn app_bin() -> PathBuf {
        // Set for integration tests; elsewhere the binary sits next to ours.
        option_env!("CARGO_BIN_EXE_chime")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let exe = std::env::current_exe().unwrap_or_default();
                let deps = exe.parent().map(Path::to_path_buf).unwrap_or_default();
                deps.parent().map(|p| p.join("chime")).unwrap_or_default()
            })
    }

    /// Start the app binary (the one cargo built for these tests).
    pub fn launch(&self, args: &[&str]) -> Proc {
        self.launch_bin(&Self::app_bin(), args)
    }

    /// The environment of an app in this desktop: its display, buses and
    /// private directories, and a "browser" that records what it opens.
    pub fn app_env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let opener = self.dir.join("open.sh");
        if !opener.exists() {
            std::fs::write(
                &opener,
                // One write per page; a browser that inherits a
                // credential variable says so on the same line.
                format!(
                    "#!/bin/sh\nprintf '%s%s%s\\n' \"$1\" \"${{CHIME_TOKEN:+ (CHIME_TOKEN leaked)}}\" \"${{CHIME_COOKIE:+ (CHIME_COOKIE leaked)}}\" >> '{}'\n",
                    self.opened_file().display()
                ),
            )
            .expect("opener");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755));
            }
        }
        vec![
            ("DISPLAY", self.display.clone().into()),
            ("DBUS_SESSION_BUS_ADDRESS", self.bus_address.clone().into()),
            (
                "DBUS_SYSTEM_BUS_ADDRESS",
                self.system_address.clone().into(),
            ),
            ("XDG_RUNTIME_DIR", self.dir.join("runtime").into()),
            ("XDG_CONFIG_HOME", self.config_home().into()),
            ("XDG_DATA_HOME", self.data_home().into()),
            ("XDG_STATE_HOME", self.dir.join("state").into()),
            ("HOME", self.dir.join("home").into()),
            ("NO_AT_BRIDGE", "1".into()),
            ("GDK_BACKEND", "x11".into()),
            ("CHIME_OPEN_WITH", opener.into()),
            ("RUST_LOG", "info,tao=warn".into()),
        ]
    }

    /// Where everything started in this desktop writes its stderr, appended.
    pub fn log_sink(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("app.log"))
            .map(Stdio::from)
            .unwrap_or(Stdio::null())
    }

    /// Start an app binary in this desktop.
    pub fn launch_bin(&self, bin: &Path, args: &[&str]) -> Proc {
        self.launch_with(bin, args, &[])
    }

    /// Launch with extra environment (e.g. `RUST_LOG=trace`).
    pub fn launch_with(&self, bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let child = Command::new(bin)
            .args(args)
            .envs(self.app_env())
            .envs(env.iter().copied())
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(self.log_sink())
            .spawn()
            .expect("spawn chime");
        Proc(child)
    }

    /// `$XDG_CONFIG_HOME` of the app (settings in `chime/` below it).
    pub fn config_home(&self) -> PathBuf {
        self.dir.join("config")
    }

    /// Write the app's `settings.json`; returns its directory (where
    /// `secrets.json` goes too).
    pub fn write_settings(&self, settings: &serde_json::Value) -> PathBuf {
        let dir = self.config_home().join("chime");
        std::fs::create_dir_all(&dir).expect("config dir");
        std::fs::write(dir.join("settings.json"), settings.to_string()).expect("settings.json");
        dir
    }

    /// `$XDG_DATA_HOME` of the app (the inbox in `chime/` below it).
    pub fn data_home(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Where the app writes its log files.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("state/chime/logs")
    }

    pub fn app_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("app.log")).unwrap_or_default()
    }

    /// Wait until `pred` holds over the recorded bus traffic.
    pub async fn until<T>(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&Recorded) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + SOON;
        loop {
            if let Some(v) = pred(&self.shared.lock().expect("lock")) {
                return v;
            }
            if tokio::time::timeout_at(deadline, self.changed.changed())
                .await
                .is_err()
            {
                panic!("timed out waiting for {what}; app log:\n{}", self.app_log());
            }
        }
    }

    pub async fn tray_item(&mut self) -> Item {
        let full = self
            // The newest: an app started again registers another.
            .until("the tray item to register", |r| r.items.last().cloned())
            .await;
        let (dest, path) = match full.find('/') {
            Some(i) => (full[..i].to_owned(), full[i..].to_owned()),
            None => (full.clone(), "/StatusNotifierItem".to_owned()),
        };
        let item = Item {
            conn: self.conn.clone(),
            dest,
            path,
        };
        // libayatana registers the item before it exports the menu the
        // item's `Menu` property names; a host shows the menu once it
        // answers, and so does the test.
        self.poll("the tray menu to be exported", || async {
            item.try_menu().await.map(|_| ())
        })
        .await;
        item
    }

    /// Simulate the user clicking an action of notification `id`.
    pub async fn invoke_action(&self, id: u32, key: &str) {
        let emitter =
            SignalEmitter::new(&self.conn, "/org/freedesktop/Notifications").expect("emitter");
        Notifications::action_invoked(&emitter, id, key)
            .await
            .expect("emit");
    }

    /// Another program on the system bus (any local account can connect
    /// and emit signals; none can own logind's or NetworkManager's name).
    pub async fn rogue_system(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.system_address.as_str())
            .build()
            .await
            .expect("rogue connection")
    }

    /// Another program on the session bus.
    pub async fn rogue_session(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.bus_address.as_str())
            .build()
            .await
            .expect("rogue connection")
    }

    /// NetworkManager reports a state (20 disconnected, 70 connected).
    pub async fn network_state(&self, state: u32) {
        emit_network_state(&self.system, state).await;
    }

    /// logind says the machine woke up.
    pub async fn resume_from_sleep(&self) {
        emit_resume(&self.system).await;
    }

    /// Wait (with a deadline) until `check` returns Some: for state that is
    /// read (over the bus, from a file), not reported (see [`Desktop::until`]).
    pub async fn poll<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        self.poll_for(Duration::from_secs(20), what, check).await
    }
}

/// Launch arguments for two push services as a user has them: an ntfy
/// source "Home" at `ntfy_url` and a Gotify source "NAS" at `gotify_url`
/// with its client token.
pub fn push_source_args(ntfy_url: &str, gotify_url: &str, gotify_token: &str) -> Vec<String> {
    [
        "--server",
        ntfy_url,
        "--dialect",
        "ntfy",
        "--name",
        "Home",
        "--server",
        gotify_url,
        "--dialect",
        "gotify",
        "--token",
        gotify_token,
        "--name",
        "NAS",
    ]
    .map(String::from)
    .to_vec()
}

/// `PrepareForSleep(false)` from `conn`.
pub async fn emit_resume(conn: &zbus::Connection) {
    conn.emit_signal(
        None::<&str>,
        "/org/freedesktop/login1",
        "org.freedesktop.login1.Manager",
        "PrepareForSleep",
        &(false,),
    )
    .await
    .expect("emit");
}

/// NetworkManager's `StateChanged(state)` from `conn`.
pub async fn emit_network_state(conn: &zbus::Connection, state: u32) {
    conn.emit_signal(
        None::<&str>,
        "/org/freedesktop/NetworkManager",
        "org.freedesktop.NetworkManager",
        "StateChanged",
        &(state,),
    )
    .await
    .expect("emit");
}

impl Desktop {
    pub async fn poll_for<T, F, Fut>(&self, limit: Duration, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        poll_until(limit, check)
            .await
            .unwrap_or_else(|| panic!("timed out waiting for {what}; app log:\n{}", self.app_log()))
    }

    /// Start a real Secret Service (gnome-keyring-daemon) on this bus, its
    /// login keyring created and unlocked with a password on stdin.
    pub async fn start_keyring(&self) -> Proc {
        use std::io::Write;
        let mut child = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .envs(self.app_env())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(self.log_sink())
            .spawn()
            .expect("gnome-keyring-daemon (scripts/setup installs gnome-keyring)");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(b"test-password");
        }
        let proc = Proc(child);
        let dbus = zbus::fdo::DBusProxy::new(&self.conn)
            .await
            .expect("bus proxy");
        let name = zbus::names::BusName::try_from("org.freedesktop.secrets").expect("name");
        self.poll("the Secret Service on the bus", || async {
            dbus.name_has_owner(name.clone())
                .await
                .unwrap_or(false)
                .then_some(())
        })
        .await;
        proc
    }

    /// Wait until no app holds Chime's single-instance name on this bus:
    /// an app started before that would hand over to the old one and exit.
    pub async fn until_no_app(&self) {
        let dbus = zbus::fdo::DBusProxy::new(&self.conn)
            .await
            .expect("bus proxy");
        let name =
            zbus::names::BusName::try_from("app.chime.desktop.SingleInstance").expect("name");
        self.poll("the last app to leave the bus", || async {
            (!dbus.name_has_owner(name.clone()).await.unwrap_or(false)).then_some(())
        })
        .await;
    }

    /// Wait for the first recorded notification that matches `pred`.
    pub async fn toast(&mut self, what: &str, pred: impl Fn(&Notify) -> bool) -> Notify {
        self.until(what, |r| r.notes.iter().find(|n| pred(n)).cloned())
            .await
    }

    /// Wait for `proc` to exit on its own.
    pub async fn exited(&self, what: &str, proc: &mut Proc) -> std::process::ExitStatus {
        self.poll(what, || {
            let status = proc.0.try_wait().ok().flatten();
            async move { status }
        })
        .await
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The app's StatusNotifierItem.
pub struct Item {
    pub conn: zbus::Connection,
    pub dest: String,
    pub path: String,
}

/// One dbusmenu entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i32,
    pub label: String,
    pub enabled: bool,
    pub children: Vec<Entry>,
}

impl Item {
    pub async fn prop(&self, name: &str) -> Option<OwnedValue> {
        let proxy = zbus::fdo::PropertiesProxy::builder(&self.conn)
            .destination(self.dest.as_str())
            .path(self.path.as_str())
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .ok()?;
        let iface = zbus::names::InterfaceName::try_from("org.kde.StatusNotifierItem").ok()?;
        proxy.get(iface, name).await.ok()
    }

    pub async fn string(&self, name: &str) -> String {
        match self.prop(name).await {
            Some(v) => match &*v {
                Value::Str(s) => s.to_string(),
                Value::ObjectPath(p) => p.to_string(),
                other => format!("{other:?}"),
            },
            None => String::new(),
        }
    }

    /// The badge text drawn into the current icon (via the PNG the tray wrote).
    pub async fn badge(&self) -> Option<String> {
        let path = self.string("IconName").await;
        read_badge_png(Path::new(&path))
    }

    pub async fn menu(&self) -> Vec<Entry> {
        self.try_menu().await.expect("GetLayout answers")
    }

    /// The menu's layout, or None while the menu object is not exported.
    pub async fn try_menu(&self) -> Option<Vec<Entry>> {
        let menu_path = self.string("Menu").await;
        let reply = self
            .conn
            .call_method(
                Some(self.dest.as_str()),
                menu_path.as_str(),
                Some("com.canonical.dbusmenu"),
                "GetLayout",
                &(0i32, -1i32, Vec::<String>::new()),
            )
            .await
            .ok()?;
        type Node = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);
        let (_rev, root): (u32, Node) = reply.body().deserialize().expect("layout");
        fn entry(node: Node) -> Entry {
            let (id, props, children) = node;
            let label = props
                .get("label")
                .and_then(|v| match &**v {
                    Value::Str(s) => Some(s.to_string()),
                    _ => None,
                })
                .unwrap_or_default()
                .replace('_', "");
            let enabled = props
                .get("enabled")
                .and_then(|v| match &**v {
                    Value::Bool(b) => Some(*b),
                    _ => None,
                })
                .unwrap_or(true);
            let children = children
                .into_iter()
                .filter_map(|c| Node::try_from(c).ok())
                .map(entry)
                .collect();
            Entry {
                id,
                label,
                enabled,
                children,
            }
        }
        Some(entry(root).children)
    }

    pub async fn click(&self, label_prefix: &str) {
        let menu = self.menu().await;
        fn find(entries: &[Entry], p: &str) -> Option<i32> {
            entries.iter().find_map(|e| {
                if e.label.starts_with(p) {
                    Some(e.id)
                } else {
                    find(&e.children, p)
                }
            })
        }
        let id = find(&menu, label_prefix)
            .unwrap_or_else(|| panic!("no menu item {label_prefix:?} in {menu:#?}"));
        let menu_path = self.string("Menu").await;
        self.conn
            .call_method(
                Some(self.dest.as_str()),
                menu_path.as_str(),
                Some("com.canonical.dbusmenu"),
                "Event",
                &(id, "clicked", Value::from(""), 0u32),
            )
            .await
            .expect("Event");
    }

    pub async fn labels(&self) -> Vec<String> {
        fn flat(entries: &[Entry], out: &mut Vec<String>) {
            for e in entries {
                out.push(e.label.clone());
                flat(&e.children, out);
            }
        }
        let mut out = Vec::new();
        flat(&self.menu().await, &mut out);
        out
    }
}

/// Decode an RGBA PNG and read its badge.
pub fn read_badge_png(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().ok()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).ok()?;
    if info.color_type != png::ColorType::Rgba || info.width != info.height {
        return None;
    }
    buf.truncate(info.buffer_size());
    chime_desktop::badge::read_badge(&buf, info.width)
}
pub mod webdriver;
