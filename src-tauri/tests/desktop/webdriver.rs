//! Just enough W3C WebDriver to drive the app's windows through
//! tauri-driver (which runs Debian's WebKitWebDriver): sessions, elements,
//! clicks, typing, scripts. Plain HTTP/1.0 over a TCP socket.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use super::{poll_until, Desktop, SOON};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

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

/// One WebDriver request, answered within a deadline (or a clear panic).
async fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    tokio::time::timeout(Duration::from_secs(30), http_once(port, method, path, body))
        .await
        .unwrap_or_else(|_| panic!("no WebDriver answer to {method} {path} within 30 s"))
}

async fn http_once(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the WebDriver");
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
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
        poll_until(SOON, || async {
            (TcpStream::connect(("127.0.0.1", port)).await.is_ok()
                && http(port, "GET", "/status", None).await.0 == 200)
                .then_some(())
        })
        .await
        .expect("tauri-driver did not start");
        Driver { _proc: proc, port }
    }

    /// Start the app with `args` and attach to its window.
    pub async fn session(&self, args: &[&str]) -> Session {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": Desktop::app_bin(), "args": args},
        }}});
        let (status, v) = http(self.port, "POST", "/session", Some(&caps)).await;
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session ({status}): {v}"))
            .to_owned();
        Session {
            port: self.port,
            id,
        }
    }
}

pub struct Session {
    port: u16,
    id: String,
}

impl Session {
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let full = format!("/session/{}{path}", self.id);
        let (status, v) = http(self.port, method, &full, body.as_ref()).await;
        assert!(status == 200, "{method} {path} failed ({status}): {v}");
        v["value"].clone()
    }

    /// The first element matching `css`, if any.
    pub async fn try_find(&self, css: &str) -> Option<String> {
        let full = format!("/session/{}/element", self.id);
        let body = json!({"using": "css selector", "value": css});
        let (status, v) = http(self.port, "POST", &full, Some(&body)).await;
        (status == 200)
            .then(|| v["value"][ELEMENT].as_str().map(str::to_owned))
            .flatten()
    }

    /// Wait for an element matching `css`.
    pub async fn find(&self, css: &str) -> String {
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
        self.cmd("POST", &format!("/element/{el}/click"), Some(json!({})))
            .await;
    }

    /// Replace the text of an input, as typing would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.cmd("POST", &format!("/element/{el}/clear"), Some(json!({})))
            .await;
        if !text.is_empty() {
            self.cmd(
                "POST",
                &format!("/element/{el}/value"),
                Some(json!({"text": text})),
            )
            .await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.cmd("GET", &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Run `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Run `script` that calls its last argument with the result.
    pub async fn exec_async(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
        .await
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
        self.cmd("GET", "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
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
        let full = format!("/session/{}/element/{el}/value", self.id);
        // The window may be gone before the answer: that is the point.
        let _ = http(self.port, "POST", &full, Some(&json!({"text": key}))).await;
    }

    /// Attach to the first window the app has open now.
    pub async fn switch_to_any_window(&self) -> bool {
        let handles = self.cmd("GET", "/window/handles", None).await;
        let Some(h) = handles.as_array().and_then(|a| a.first()).cloned() else {
            return false;
        };
        self.cmd("POST", "/window", Some(json!({"handle": h})))
            .await;
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
    pub async fn quit(self) {
        let full = format!("/session/{}", self.id);
        let _ = http(self.port, "DELETE", &full, None).await;
    }
}
