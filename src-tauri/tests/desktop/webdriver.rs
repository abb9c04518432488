//! The app's windows through tauri-driver (which runs Debian's
//! WebKitWebDriver), with fantoccini as the W3C WebDriver client: the
//! helpers the window tests use (find, click, type, scripts, windows),
//! each bounded by a deadline.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::process::Command;

use super::{poll_until, Desktop, SOON};

/// How long one WebDriver command may take.
const COMMAND: Duration = Duration::from_secs(30);

/// A free loopback port (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where tauri-driver is: `$TAURI_DRIVER`, else on `PATH`, else where
/// `scripts/setup` installs it (`$CHIME_TOOLS/bin`).
fn driver_bin() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("TAURI_DRIVER") {
        return p.into();
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("tauri-driver"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        let tools =
            std::env::var_os("CHIME_TOOLS").unwrap_or_else(|| "/var/tmp/chime-tools".into());
        std::path::Path::new(&tools).join("bin/tauri-driver")
    })
}

/// `what`, answered within [`COMMAND`] (or a clear panic).
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(COMMAND, fut)
        .await
        .unwrap_or_else(|_| panic!("no WebDriver answer to {what} within {COMMAND:?}"))
}

/// Whether the WebDriver at `port` (and the native driver behind it) is
/// ready: `GET /status` answers 200.
async fn ready(port: u16) -> bool {
    use hyper_util::client::legacy::Client as Http;
    let http: Http<HttpConnector, String> =
        Http::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let Ok(uri) = format!("http://127.0.0.1:{port}/status").parse() else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), http.get(uri)).await,
        Ok(Ok(r)) if r.status() == 200
    )
}

/// tauri-driver, running in a desktop; killed on drop.
pub struct Driver {
    _proc: tokio::process::Child,
    port: u16,
}

impl Driver {
    pub async fn start(d: &Desktop) -> Driver {
        let (port, native) = (free_port(), free_port());
        let bin = driver_bin();
        let proc = Command::new(&bin)
            .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .envs(d.app_env())
            .env_remove("WAYLAND_DISPLAY")
            .stdout(std::process::Stdio::null())
            .stderr(d.log_sink())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): scripts/setup installs tauri-driver and webkit2gtk-driver",
                    bin.display()
                )
            });
        // Ready when the native driver behind it answers too.
        poll_until(SOON, || async { ready(port).await.then_some(()) })
            .await
            .expect("tauri-driver did not start");
        Driver { _proc: proc, port }
    }

    /// Start the app with `args` and attach to its window.
    pub async fn session(&self, args: &[&str]) -> Session {
        let caps = json!({
            "browserName": "wry",
            "tauri:options": {"application": Desktop::app_bin(), "args": args},
        });
        let Value::Object(caps) = caps else {
            unreachable!("an object")
        };
        let url = format!("http://127.0.0.1:{}", self.port);
        let client = within(
            "new session",
            ClientBuilder::new(HttpConnector::new())
                .capabilities(caps)
                .connect(&url),
        )
        .await
        .unwrap_or_else(|e| panic!("no session: {e}"));
        Session { client }
    }
}

pub struct Session {
    client: Client,
}

impl Session {
    /// The first element matching `css`, if any.
    pub async fn try_find(&self, css: &str) -> Option<fantoccini::elements::Element> {
        within(css, self.client.find(Locator::Css(css))).await.ok()
    }

    /// Wait for an element matching `css`.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let css = css.to_owned();
        self.until(&format!("element {css}"), || self.try_find(&css))
            .await
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        // WebKitWebDriver does not always scroll a long page itself.
        self.exec(
            "const e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'center'});",
            json!([css]),
        )
        .await;
        within(css, el.click())
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replace the text of an input, as typing would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        within(css, el.clear())
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        if !text.is_empty() {
            within(css, el.send_keys(text))
                .await
                .unwrap_or_else(|e| panic!("type into {css}: {e}"));
        }
    }

    pub async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        within(css, el.text())
            .await
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// Run `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        within(script, self.client.execute(script, list(args)))
            .await
            .unwrap_or_else(|e| panic!("script failed ({e}): {script}"))
    }

    /// Run `script` that calls its last argument with the result.
    pub async fn exec_async(&self, script: &str, args: Value) -> Value {
        within(script, self.client.execute_async(script, list(args)))
            .await
            .unwrap_or_else(|e| panic!("async script failed ({e}): {script}"))
    }

    /// Choose `value` in a `<select>` (and tell the page, as a user would).
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css).await;
        self.exec(
            "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
             e.dispatchEvent(new Event('input', {bubbles: true})); \
             e.dispatchEvent(new Event('change', {bubbles: true}));",
            json!([css, value]),
        )
        .await;
    }

    pub async fn title(&self) -> String {
        within("title", self.client.title())
            .await
            .unwrap_or_else(|e| panic!("title: {e}"))
    }

    /// Poll `check` until it gives a value, or panic after a deadline.
    pub async fn until<T, F, Fut>(&self, what: &str, check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        poll_until(SOON, check)
            .await
            .unwrap_or_else(|| panic!("timed out waiting for {what}"))
    }

    /// Wait until `script` returns `want`.
    pub async fn until_js(&self, what: &str, script: &str, want: Value) -> Value {
        let run = || async {
            let v = self.exec(script, json!([])).await;
            (v == want).then_some(v)
        };
        if let Some(v) = poll_until(SOON, run).await {
            return v;
        }
        let last = self.exec(script, json!([])).await;
        panic!("timed out waiting for {what}: last {last}, want {want}");
    }

    /// Press a key in the page, as the user would (WebDriver key codes:
    /// "\u{E00C}" is Escape).
    pub async fn press(&self, key: &str) {
        let el = self.find("body").await;
        // The window may be gone before the answer: that is the point.
        let _ = within("a key", el.send_keys(key)).await;
    }

    /// Attach to the first window the app has open now.
    pub async fn switch_to_any_window(&self) -> bool {
        let handles = within("window handles", self.client.windows())
            .await
            .unwrap_or_else(|e| panic!("window handles: {e}"));
        let Some(h) = handles.into_iter().next() else {
            return false;
        };
        within("switch window", self.client.switch_to_window(h))
            .await
            .unwrap_or_else(|e| panic!("switch window: {e}"));
        true
    }

    /// Wait until `n` elements match `css`.
    pub async fn until_count(&self, css: &str, n: usize) {
        self.until_js(
            &format!("{n} × {css}"),
            &format!("return document.querySelectorAll({css:?}).length"),
            json!(n),
        )
        .await;
    }

    /// Wait for the app to have a window again, and attach to it.
    pub async fn attach(&self) {
        self.until("a window", || async {
            self.switch_to_any_window().await.then_some(())
        })
        .await;
    }

    /// End the session (tauri-driver stops the app).
    /// The page as a PNG, saved to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = within("screenshot", self.client.screenshot())
            .await
            .expect("a screenshot");
        std::fs::write(path, png).expect("write the screenshot");
    }

    pub async fn quit(self) {
        let _ = within("end session", self.client.close()).await;
    }
}

/// Script arguments as the client takes them (an array, else one value).
fn list(args: Value) -> Vec<Value> {
    match args {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        v => vec![v],
    }
}
