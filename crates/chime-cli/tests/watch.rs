//! chime-watch as a user runs it: a real process against a real server.

use std::process::Stdio;
use std::time::Duration;

use chime_e2e::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_chime-watch");

struct Watch {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Watch {
    fn spawn(args: &[&str], token: Option<&str>) -> Watch {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(t) = token {
            cmd.env("CHIME_TOKEN", t);
        }
        let mut child = cmd.spawn().expect("spawn chime-watch");
        let stdout = child.stdout.take().expect("stdout");
        Watch {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// Read lines until one satisfies `pred`.
    async fn until(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let line = within(SOON, what, self.lines.next_line())
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("chime-watch ended before {what}; saw {:?}", self.seen));
            self.seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    }

    async fn signal(&mut self, sig: &str) -> i32 {
        let pid = self.child.id().expect("pid").to_string();
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
        assert!(ok.success());
        let status = within(SOON, "exit", self.child.wait()).await.expect("wait");
        status.code().unwrap_or(-1)
    }
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not json ({e}): {line}"))
}

fn is_state(line: &str, state: &str) -> bool {
    let v = json(line);
    v["type"] == "state" && v["state"] == state
}

#[tokio::test]
async fn chime_watch_prints_each_seed_bump_once_across_reconnects() {
    let server = TestServer::start(server_config()).await;
    let proxy = FaultProxy::start(server.addr).await;
    let url = proxy.url("/pushMsg");
    let mut w = Watch::spawn(
        &["--server", &url, "--dialect", "seed", "--json"],
        Some(TOKEN),
    );
    w.until("connected", |l| is_state(l, "connected")).await;
    server.publish(USER, "like", "Ann", "p").await;
    server.publish(USER, "like", "Bo", "p").await;
    w.until("two likes", |l| {
        json(l)["type"] == "counts" && json(l)["likes"] == 2
    })
    .await;
    for _ in 0..3 {
        proxy.reset_all();
        w.until("waiting", |l| is_state(l, "waiting")).await;
        w.until("connected again", |l| is_state(l, "connected"))
            .await;
    }
    server.publish(USER, "reply", "Cy", "p").await;
    w.until("the reply", |l| {
        json(l)["type"] == "counts" && json(l)["replies"] == 1
    })
    .await;
    let announced: u64 = w
        .seen
        .iter()
        .map(|l| json(l))
        .filter(|v| v["type"] == "items")
        .flat_map(|v| v["items"].as_array().cloned().unwrap_or_default())
        .map(|i| i["new"].as_u64().expect("new"))
        .sum();
    assert_eq!(announced, 3, "{:#?}", w.seen);
    assert_eq!(w.signal("-INT").await, 0);
}

#[tokio::test]
async fn chime_watch_prints_native_events_as_sentences() {
    let server = TestServer::start(server_config()).await;
    let url = server.native_url();
    let mut w = Watch::spawn(&["--server", &url], Some(TOKEN));
    w.until("connected", |l| l.contains("(native)")).await;
    server
        .publish(USER, "reply", "Ann\u{1b}[31m", "Hello <b>")
        .await;
    let line = w.until("the event", |l| l.starts_with("#1 ")).await;
    assert_eq!(
        line,
        "#1 Ann[31m replied to “Hello <b>” https://example.com/p/1"
    );
    assert_eq!(w.signal("-TERM").await, 0);
}

#[tokio::test]
async fn chime_watch_says_why_sign_in_fails() {
    let server = TestServer::start(server_config()).await;
    let url = server.native_url();
    let mut w = Watch::spawn(&["--server", &url, "--json"], Some("wrong"));
    let line = w
        .until("auth failure", |l| is_state(l, "auth_failed"))
        .await;
    assert!(json(&line)["reason"]
        .as_str()
        .unwrap_or("")
        .contains("HTTP 401"));
    assert_eq!(w.signal("-INT").await, 0);
}

#[tokio::test]
async fn chime_watch_exits_2_with_a_clear_error_on_bad_input() {
    let cases: [(&[&str], &str); 5] = [
        (&["--server", "http://example.com"], "ws:// or wss://"),
        (&["--server", "not a url"], "invalid server url"),
        (
            &["--server", "ws://h/", "--dialect", "klingon"],
            "invalid value",
        ),
        (
            &["--server", "ws://h/", "--header", "no-colon"],
            "invalid header",
        ),
        (&["--server", "ws://h/", "--heartbeat=-3"], "heartbeat"),
    ];
    for (args, want) in cases {
        let out = within(
            Duration::from_secs(10),
            "exit",
            Command::new(BIN).args(args).output(),
        )
        .await
        .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
