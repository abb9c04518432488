//! chime-watch as a user runs it: a real process against a real server.

use std::process::Stdio;
use std::time::Duration;

use chime_e2e::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio_tungstenite::tungstenite::Message;

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

    /// A line satisfying `pred`, already seen or still to come (for lines of
    /// several sources, whose order between sources is not fixed).
    async fn has(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| pred(l)) {
            return l.clone();
        }
        self.until(what, pred).await
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
    let cases: [(&[&str], &str); 7] = [
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
        (&["--server", "ws://h/", "--heartbeat", "60"], "under 60 s"),
        (
            &[
                "--server",
                "ws://h/",
                "--dialect",
                "seed",
                "--heartbeat",
                "90",
            ],
            "under 60 s",
        ),
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

/// Frames a careless or malicious server could send, then a legitimate
/// event. A debug build (overflow checks on) must survive them all.
fn hostile_frames() -> Vec<Message> {
    let osc52 = r"\u001b]52;c;ZXZpbA==\u0007";
    let texts = [
        r#"{"type":"welcome","v":1,"epoch":"e"}"#.to_owned(),
        format!(
            r#"{{"type":"error","code":"x{osc52}\u001b[2J","message":"bad\nINFO forged{osc52}"}}"#
        ),
        format!(r#"{{"type":"sparkle{osc52}"}}"#),
        format!(r#"{{"type":"event","seq":1,"kind":"{osc52}"}}"#),
        format!(r#"{{"type":"synced","last_seq":{}}}"#, u64::MAX),
        format!(r#"{{"type":"counts","likes":{}}}"#, u64::MAX),
        format!(r#"{{"type":"event","seq":{},"kind":"like"}}"#, u64::MAX),
        r#"{"type":"event","seq":1,"kind":"like","time":-5}"#.to_owned(),
        format!(
            r#"{{"type":"event","seq":1,"kind":"reply","actor":"Eve{osc52}\u202e","target":{{"title":"t\u001b[2J","url":"https://x/\u0007"}},"time":1}}"#
        ),
        "{\"not json".to_owned(),
        r#"{"type":"event","seq":2,"kind":"like","actor":"Ann","target":{"title":"fine","url":"https://example.com/2"},"time":1}"#.to_owned(),
    ];
    let mut frames: Vec<Message> = texts.into_iter().map(Message::text).collect();
    frames.insert(2, Message::binary(vec![0u8; 10]));
    frames
}

#[tokio::test]
async fn chime_watch_survives_hostile_frames_prints_nothing_raw_and_keeps_the_cursor() {
    let server = ScriptedServer::start(vec![Script::Frames {
        frames: hostile_frames(),
        close: None,
        reply: None,
    }])
    .await;
    let url = format!("ws://{}/v1/stream", server.addr);
    let mut w = Watch::spawn(&["--server", &url, "--dialect", "native"], None);
    let last = w
        .until("the legitimate event", |l| l.starts_with("#2 "))
        .await;
    assert_eq!(last, "#2 Ann liked “fine” https://example.com/2");
    let all = w.seen.join("\n");
    assert!(
        !all.chars()
            .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c)),
        "{all:?}"
    );
    assert!(all.contains("#1 Eve"), "{all}");
    assert!(
        w.seen.iter().filter(|l| l.starts_with("note: ")).count() >= 8,
        "{all}"
    );
    // Still running (no panic), and exits cleanly.
    assert_eq!(w.signal("-TERM").await, 0);
}

#[tokio::test]
async fn chime_watch_at_trace_level_logs_no_credential() {
    let server = TestServer::start(server_config()).await;
    let secrets = ["x-api-9f8e7d6c", TOKEN, "q-secret-77aa"];
    for (args, token) in [
        (
            vec![
                "--server".to_owned(),
                server.native_url(),
                "--header".to_owned(),
                format!("X-Api-Key: {}", secrets[0]),
            ],
            Some(TOKEN),
        ),
        (
            vec![
                "--server".to_owned(),
                format!("{}?user={USER}", server.native_url()),
                "--query-token".to_owned(),
                format!("token={}", secrets[2]),
            ],
            None,
        ),
    ] {
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .env("RUST_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(t) = token {
            cmd.env("CHIME_TOKEN", t);
        }
        let mut child = cmd.spawn().expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        // Connected (token) or refused (query): either way the upgrade
        // request was made and logged.
        loop {
            let line = within(SOON, "a state", lines.next_line())
                .await
                .expect("read")
                .expect("a line");
            if line.starts_with("connected to") && line.contains("(native)")
                || line.starts_with("sign-in failed")
            {
                break;
            }
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().expect("pid").to_string()])
            .status();
        let out = within(SOON, "exit", child.wait_with_output())
            .await
            .expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("TRACE"), "trace logging is on: {err}");
        assert!(
            err.contains("Request"),
            "the upgrade request is logged: {err}"
        );
        for s in secrets {
            assert!(!err.contains(s), "{s} leaked:\n{err}");
        }
        assert!(
            !err.contains("user=alice"),
            "query values are redacted:\n{err}"
        );
    }
}

#[tokio::test]
async fn chime_watch_follows_several_sources_labelled_and_one_failing_disturbs_no_other() {
    let mut blog = TestServer::start(server_config()).await;
    let push = TestServer::start(server_config()).await;
    let (blog_url, push_url) = (blog.seed_url(), push.native_url());
    let mut w = Watch::spawn(
        &[
            "--json",
            "--server",
            &blog_url,
            "--dialect",
            "seed",
            "--token",
            TOKEN,
            "--name",
            "Blog",
            "--server",
            &push_url,
            "--token",
            TOKEN,
            "--name",
            "Push",
            "--server",
            &push_url,
            "--token",
            "wrong",
            "--name",
            "Other account",
        ],
        None,
    );
    let from = |l: &str, source: &str| json(l)["source"] == source;
    w.has("Blog connected", |l| {
        from(l, "Blog") && is_state(l, "connected")
    })
    .await;
    w.has("Push connected", |l| {
        from(l, "Push") && is_state(l, "connected")
    })
    .await;
    w.has("the bad account refused", |l| {
        from(l, "Other account") && is_state(l, "auth_failed")
    })
    .await;
    blog.publish(USER, "like", "Ann", "post").await;
    push.publish(USER, "reply", "Bo", "thread").await;
    w.has("the blog's like", |l| {
        from(l, "Blog") && json(l)["type"] == "items" && json(l)["items"][0]["new"] == 1
    })
    .await;
    w.has("the push reply", |l| {
        from(l, "Push") && json(l)["type"] == "items" && json(l)["items"][0]["actor"] == "Bo"
    })
    .await;
    // One server down: the other's events keep flowing.
    blog.kill();
    w.has("Blog down", |l| from(l, "Blog") && is_state(l, "waiting"))
        .await;
    push.publish(USER, "like", "Cy", "still here").await;
    w.has("the push like", |l| {
        from(l, "Push") && json(l)["type"] == "items" && json(l)["items"][0]["actor"] == "Cy"
    })
    .await;
    let items_of = |source: &str| {
        w.seen
            .iter()
            .filter(|l| from(l, source) && json(l)["type"] == "items")
            .count()
    };
    assert_eq!(items_of("Push"), 2, "each item once");
    assert_eq!(items_of("Blog"), 1);
    assert_eq!(items_of("Other account"), 0);
    assert!(w.seen.iter().all(|l| json(l)["source"].is_string()));
    assert_eq!(w.signal("-INT").await, 0);
}

#[tokio::test]
async fn chime_watch_with_several_servers_labels_text_lines_and_refuses_an_ambiguous_env_token() {
    let a = TestServer::start(server_config()).await;
    let b = TestServer::start(server_config()).await;
    let (ua, ub) = (a.native_url(), b.native_url());
    let mut w = Watch::spawn(
        &[
            "--server", &ua, "--token", TOKEN, "--name", "A", "--server", &ub, "--token", TOKEN,
        ],
        None,
    );
    let label_b = format!("127.0.0.1:{}/v1/stream", b.addr.port());
    w.has("A connected", |l| {
        l.starts_with("[A] connected to") && l.contains("(native)")
    })
    .await;
    w.has("B connected", |l| {
        l.starts_with(&format!("[{label_b}] connected to")) && l.contains("(native)")
    })
    .await;
    b.publish(USER, "like", "Ann", "p").await;
    let line = w.has("B's event", |l| l.contains("#1 Ann liked")).await;
    assert_eq!(
        line,
        format!("[{label_b}] #1 Ann liked “p” https://example.com/p/1")
    );
    assert_eq!(w.signal("-TERM").await, 0);

    let out = within(
        Duration::from_secs(10),
        "exit",
        Command::new(BIN)
            .args(["--server", &ua, "--server", &ub])
            .env("CHIME_TOKEN", TOKEN)
            .output(),
    )
    .await
    .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only with one --server"));
}

#[tokio::test]
async fn chime_watch_prints_one_line_per_ntfy_and_gotify_message_as_users_paste_them() {
    use chime_e2e::push::{GotifyServer, NtfyServer};
    let ntfy = NtfyServer::start().await;
    let gotify = GotifyServer::start("Cwatch", &["Backups"]).await;
    // The addresses as users paste them: web addresses, the topics in the path.
    let ntfy_url = ntfy.url("alerts,ci");
    let mut w = Watch::spawn(
        &[
            "--server",
            &ntfy_url,
            "--dialect",
            "ntfy",
            "--name",
            "home",
            "--server",
            &gotify.url(),
            "--dialect",
            "gotify",
            "--token",
            "Cwatch",
            "--name",
            "nas",
            "--json",
        ],
        None,
    );
    w.until("two connected", |l| is_state(l, "connected")).await;
    w.until("two connected", |l| is_state(l, "connected")).await;
    // Gotify's first read-back learns where the server stands.
    gotify.until_lists(1).await;
    ntfy.publish("ci", serde_json::json!({"title": "Build", "message": "green \u{1b}[31mred", "priority": 4, "tags": ["tada"]}));
    let id = gotify.publish(1, "Backup", "done", 5, serde_json::json!(null));
    let item = |l: &str, topic: &str| {
        let v = json(l);
        v["type"] == "items" && v["items"][0]["topic"] == topic
    };
    let line = json(&w.has("the ntfy line", |l| item(l, "ci")).await);
    assert_eq!(line["source"], "home");
    let n = &line["items"][0];
    assert_eq!(n["kind"], "message");
    assert_eq!(n["title"], "Build");
    assert_eq!(
        n["message"], "green [31mred",
        "no escape reaches the terminal"
    );
    assert_eq!(n["priority"], 4);
    assert_eq!(n["tags"], serde_json::json!(["tada"]));
    let line = json(&w.has("the Gotify line", |l| item(l, "Backups")).await);
    assert_eq!(line["source"], "nas");
    let g = &line["items"][0];
    assert_eq!(g["id"], id.to_string());
    assert_eq!(g["message"], "done");
    let messages = w
        .seen
        .iter()
        .filter(|l| json(l)["type"] == "items")
        .map(|l| json(l)["items"].as_array().map_or(0, Vec::len))
        .sum::<usize>();
    assert_eq!(messages, 2, "one line each: {:?}", w.seen);
    assert_eq!(w.signal("-INT").await, 0);
}

#[tokio::test]
async fn chime_watch_text_lines_for_messages_name_topic_priority_and_link() {
    use chime_e2e::push::NtfyServer;
    let ntfy = NtfyServer::start().await;
    let mut w = Watch::spawn(
        &["--dialect", "ntfy", "--server", &ntfy.url("alerts")],
        None,
    );
    w.until("connected", |l| l.starts_with("connected")).await;
    ntfy.publish("alerts", serde_json::json!({"title": "Disk", "message": "full", "priority": 5, "click": "https://nas.example/"}));
    let line = w.until("the message", |l| l.starts_with("[alerts]")).await;
    assert_eq!(line, "[alerts] p5 Disk: full https://nas.example/");
    assert_eq!(w.signal("-TERM").await, 0);
}

#[test]
fn chime_watch_prints_its_version_help_and_a_man_page_made_from_its_options() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(args)
            .output()
            .expect("run");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    assert_eq!(
        run(&["--version"]).trim(),
        format!("chime-watch {}", env!("CARGO_PKG_VERSION"))
    );
    let help = run(&["--help"]);
    assert!(
        help.contains("--dialect") && help.contains("gotify"),
        "{help}"
    );
    let man = run(&["--print-man-page"]);
    assert!(
        man.starts_with(".ie"),
        "roff: {}",
        &man[..man.len().min(80)]
    );
    for want in [
        ".TH chime-watch 1",
        "\\-\\-server",
        "\\-\\-dialect",
        "\\-\\-json",
        "ntfy",
    ] {
        assert!(man.contains(want), "{want} in the man page");
    }
}

#[tokio::test]
async fn chime_watch_prints_mastodon_and_misskey_notifications_as_sentences_without_markup() {
    use chime_e2e::fedi::{IdShape, MastodonServer, MisskeyServer};
    let mastodon = MastodonServer::start("Mtok", IdShape::Digits).await;
    let misskey = MisskeyServer::start("Ktok").await;
    let mut w = Watch::spawn(
        &[
            "--server",
            &mastodon.url(),
            "--dialect",
            "mastodon",
            "--token",
            "Mtok",
            "--name",
            "social",
            "--server",
            &misskey.url(),
            "--dialect",
            "misskey",
            "--token",
            "Ktok",
            "--name",
            "key",
        ],
        None,
    );
    w.until("two connected", |l| l.contains("connected")).await;
    w.until("two connected", |l| l.contains("connected")).await;
    // Each learnt where its account stands before anything is published.
    // Each has learnt where its account stands (and Misskey's channel is
    // joined) before anything is published.
    mastodon.until_lists(1).await;
    misskey.until_channels(1).await;
    misskey.until_lists(1).await;
    let id = mastodon.notify("mention", "bob", "Nice <b>one</b> \u{1b}[31m!", true);
    misskey.notify("reaction", "👎", "Carol", "my note");
    let reply = w.has("the reply", |l| l.contains("replied to")).await;
    assert!(reply.starts_with("[social]"), "{reply}");
    assert!(
        reply.contains(&format!("{id} bob replied to “Nice one [31m!”")),
        "{reply}"
    );
    let dislike = w.has("the dislike", |l| l.contains("disliked")).await;
    assert!(dislike.contains("Carol disliked “my note”"), "{dislike}");
    assert!(
        w.seen
            .iter()
            .all(|l| !l.contains('\u{1b}') && !l.contains("<b>")),
        "{:?}",
        w.seen
    );
    assert_eq!(w.signal("-INT").await, 0);
}
