//! What survives a restart, a kill -9, a corrupt settings file and a data
//! directory that cannot be written: the app on a private desktop (Xvfb,
//! session bus, notification server) against a real chime-server.

mod desktop;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chime_e2e::{server_config, TestServer, TOKEN, USER};
use chime_store::Store;
use desktop::{Desktop, Proc};

fn launch(d: &Desktop, server: &TestServer) -> Proc {
    d.launch(&["--server", &server.native_url(), "--token", TOKEN])
}

/// The store id of [`launch`]'s source: flag runs have ids of their own.
fn flag_source(server: &TestServer) -> String {
    let url = server.native_url();
    format!("cli:{}", url.trim_start_matches("ws://"))
}

fn inbox_path(d: &Desktop) -> PathBuf {
    d.data_home().join("chime/inbox.sqlite3")
}

/// Rows in the app's inbox file (read beside the running app: WAL allows it).
fn rows(path: &Path) -> usize {
    Store::open(path).and_then(|s| s.len()).unwrap_or(0)
}

/// Every sequence number the app logged as announced ("seq 1-5,7").
fn announced(log: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for line in log.lines() {
        let Some((_, seqs)) = line.split_once("new item(s), seq ") else {
            continue;
        };
        for part in seqs.trim().split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
                out.extend(a..=b);
            }
        }
    }
    out
}

/// Rows of one source in the app's inbox file.
fn source_rows(path: &Path, source: &str) -> usize {
    let filter = chime_store::Filter {
        source: Some(source),
        ..Default::default()
    };
    Store::open(path)
        .and_then(|s| s.list(&filter, 10_000))
        .map(|r| r.len())
        .unwrap_or(0)
}

async fn wait_connected(d: &Desktop, server: &TestServer) {
    d.poll("the app to connect", || async {
        (server.connections() > 0).then_some(())
    })
    .await;
}

async fn wait_rows(d: &Desktop, path: &Path, n: usize) {
    d.poll_for(
        Duration::from_secs(30),
        &format!("{n} inbox rows"),
        || async { (rows(path) >= n).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_where_it_left_off_without_reannouncing() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let db = inbox_path(&d);
    let app = launch(&d, &server);
    let item = d.tray_item().await;
    wait_connected(&d, &server).await;
    for i in 1..=3 {
        server.publish(USER, "like", "Ann", &format!("p{i}")).await;
    }
    wait_rows(&d, &db, 3).await;
    d.until("a toast", |r| (!r.notes.is_empty()).then_some(()))
        .await;
    item.click("Quit Chime").await;
    let mut app = app;
    d.exited("the app to quit", &mut app).await;
    d.until_no_app().await;
    let first_log = d.app_log();
    let toasts_before = d.shared.lock().expect("lock").notes.len();

    // While it is down, two more arrive.
    server.publish(USER, "reply", "Bo", "p4").await;
    server.publish(USER, "reply", "Cy", "p5").await;
    let _app = launch(&d, &server);
    wait_rows(&d, &db, 5).await;
    let new_toast = d
        .until("a toast for what was missed", |r| {
            r.notes.get(toasts_before).cloned()
        })
        .await;
    assert!(
        new_toast.summary.contains("repl"),
        "the toast is about the new replies: {new_toast:?}"
    );
    let second_log = d.app_log()[first_log.len()..].to_owned();
    assert_eq!(announced(&first_log), [1, 2, 3]);
    assert_eq!(announced(&second_log), [4, 5], "{second_log}");
    let store = Store::open(&db).expect("open");
    assert_eq!(store.len().expect("len"), 5);
    let r = d.shared.lock().expect("lock");
    assert!(
        r.notes[toasts_before..]
            .iter()
            .all(|n| !n.summary.contains("p1") && !n.summary.contains("like")),
        "old likes were not announced again: {:?}",
        r.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_burst_the_app_keeps_every_event_exactly_once() {
    const TOTAL: u64 = 4000;
    // The server keeps the whole burst for replay (its default log is
    // 1,000 events per user; older ones are gone by design).
    let server = TestServer::start(chime_server::ServerConfig {
        client_queue: 20_000,
        log_size: 10_000,
        ..server_config()
    })
    .await;
    let mut d = Desktop::start(true).await;
    let db = inbox_path(&d);
    let mut app = launch(&d, &server);
    d.tray_item().await;
    wait_connected(&d, &server).await;

    // A steady burst: 100 events every 20 ms, 0.8 s in all.
    let state = server.state().clone();
    let publisher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for chunk in 0..TOTAL / 100 {
            tick.tick().await;
            chime_e2e::publish_numbered(&state, USER, chunk * 100..(chunk + 1) * 100).await;
        }
    });
    wait_rows(&d, &db, 300).await;
    let _ = app.0.kill(); // SIGKILL: no chance to flush or close anything.
    let _ = app.0.wait();
    d.until_no_app().await;
    let kept_at_kill = rows(&db);
    let first_log = d.app_log();
    publisher.await.expect("publisher");
    assert!(
        (kept_at_kill as u64) < TOTAL,
        "the kill came before the burst was stored ({kept_at_kill} rows)"
    );

    let _app = launch(&d, &server);
    wait_rows(&d, &db, TOTAL as usize).await;
    // Everything is in the inbox exactly once.
    let store = Store::open(&db).expect("open");
    let titles: BTreeSet<String> = store
        .list(&chime_store::Filter::default(), 10_000)
        .expect("list")
        .into_iter()
        .map(|r| r.title)
        .collect();
    assert_eq!(store.len().expect("len"), TOTAL as usize);
    assert_eq!(titles.len(), TOTAL as usize, "no duplicate rows");
    let mut store = store;
    let mut profile = chime_engine::ServerProfile::new(&server.native_url()).expect("url");
    profile.auth = chime_engine::Auth::Bearer(chime_engine::Secret::new(TOKEN));
    let key = profile.resume_key();
    assert_eq!(
        store
            .resume(&flag_source(&server), &key)
            .expect("state")
            .last_seq,
        TOTAL
    );
    // Nothing was announced twice across the two runs.
    let d2 = d
        .poll("the second run to announce", || async {
            let log = d.app_log()[first_log.len()..].to_owned();
            (!announced(&log).is_empty()).then_some(log)
        })
        .await;
    let (a, b) = (announced(&first_log), announced(&d2));
    let (sa, sb): (BTreeSet<u64>, BTreeSet<u64>) =
        (a.iter().copied().collect(), b.iter().copied().collect());
    assert_eq!(sa.len(), a.len(), "no repeat within the first run");
    assert_eq!(sb.len(), b.len(), "no repeat within the second run");
    assert!(
        sa.is_disjoint(&sb),
        "announced in both runs: {:?}",
        sa.intersection(&sb).take(10).collect::<Vec<_>>()
    );
    assert!(sb.iter().all(|s| (1..=TOTAL).contains(s)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_settings_file_is_set_aside_and_the_app_keeps_notifying() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let dir = d.config_home().join("chime");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("settings.json"),
        b"{\"schema\": 1, \"server\": {\x00",
    )
    .expect("write");
    let _app = launch(&d, &server);
    let notice = d
        .toast("a notice about the settings", |n| {
            n.summary == "Chime needs your attention"
        })
        .await;
    assert!(
        notice.body.contains("settings.json.bad-"),
        "{}",
        notice.body
    );
    let backups: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("settings.json.bad-")
        })
        .collect();
    assert_eq!(backups.len(), 1, "the broken file is kept for the user");
    wait_connected(&d, &server).await;
    server.publish(USER, "like", "Ann", "Still here").await;
    d.toast("the like toast", |n| n.summary == "Ann liked “Still here”")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_data_dir_keeps_the_inbox_in_memory_and_still_notifies() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    // A file where the data directory should be: nothing can be created
    // below it, even by root (who ignores permission bits).
    std::fs::write(d.data_home(), b"not a directory").expect("write");
    let _app = launch(&d, &server);
    let notice = d
        .toast("a notice about the inbox", |n| {
            n.summary == "Chime needs your attention"
        })
        .await;
    assert!(notice.body.contains("kept in memory"), "{}", notice.body);
    wait_connected(&d, &server).await;
    server.publish(USER, "reply", "Bo", "Heard").await;
    d.toast("the reply toast", |n| n.summary.starts_with("Bo replied"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_server_is_compared_with_the_totals_announced_before_the_restart() {
    use tokio_tungstenite::tungstenite::Message;
    let snapshot = |likes: u64| {
        Message::text(format!(
            r#"{{"newReplyNum": 0, "newLikeNum": {likes}, "newDisLikeNum": 0}}"#
        ))
    };
    let frames = |f: Vec<Message>| chime_e2e::Script::Frames {
        frames: f,
        close: None,
        reply: None,
    };
    let server = chime_e2e::ScriptedServer::start(vec![
        frames(vec![snapshot(2)]),
        frames(vec![snapshot(2), snapshot(3)]),
    ])
    .await;
    let mut d = Desktop::start(true).await;
    let url = server.url();
    let args = ["--server", url.as_str(), "--dialect", "seed"];
    let mut app = d.launch(&args);
    let item = d.tray_item().await;
    d.toast("the first toast", |n| n.summary == "2 new likes")
        .await;
    item.click("Quit Chime").await;
    d.exited("the app to quit", &mut app).await;
    d.until_no_app().await;
    let _app = d.launch(&args);
    d.toast("the toast for the one new like", |n| {
        n.summary == "1 new like"
    })
    .await;
    let r = d.shared.lock().expect("lock");
    let summaries: Vec<&str> = r.notes.iter().map(|n| n.summary.as_str()).collect();
    assert_eq!(
        summaries,
        ["2 new likes", "1 new like"],
        "the two old likes were not announced again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_launch_opens_the_inbox_of_the_first_and_exits() {
    let server = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    let _first = launch(&d, &server);
    wait_connected(&d, &server).await;
    let mut second = launch(&d, &server);
    let status = d.exited("the second launch to exit", &mut second).await;
    assert!(status.success(), "{status:?}");
    d.poll("the first to open its inbox", || async {
        let log = d.app_log();
        (log.contains("opening the inbox window") || log.contains("window inbox opened"))
            .then_some(())
    })
    .await;
    // A second launch that asks for Settings gets Settings.
    let mut third = d.launch(&["--open", "settings"]);
    let status = d.exited("the third launch to exit", &mut third).await;
    assert!(status.success(), "{status:?}");
    d.poll("the first to open its settings", || async {
        d.app_log().contains("window settings opened").then_some(())
    })
    .await;
    assert_eq!(server.connections(), 1, "one app, one link");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_read_on_the_server_while_chime_was_closed_are_read_after_a_restart() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let db = inbox_path(&d);
    let app = launch(&d, &server);
    let item = d.tray_item().await;
    wait_connected(&d, &server).await;
    server.publish(USER, "like", "Ann", "p1").await;
    server.publish(USER, "reply", "Bo", "p2").await;
    wait_rows(&d, &db, 2).await;
    item.click("Quit Chime").await;
    let mut app = app;
    d.exited("the app to quit", &mut app).await;
    d.until_no_app().await;
    let unread = |kind| {
        Store::open(&db)
            .and_then(|s| s.unread(None, kind))
            .unwrap_or(99)
    };
    assert_eq!(unread(chime_proto::Kind::Like), 1);
    // Read on the site while Chime was closed.
    server.read(USER, None).await;
    let _app = launch(&d, &server);
    d.poll("the rows to be read", || async {
        (unread(chime_proto::Kind::Like) == 0 && unread(chime_proto::Kind::Reply) == 0)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_daemon_that_never_answers_cannot_freeze_the_tray_the_store_or_quit() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    d.shared.lock().expect("lock").hang = true;
    let db = inbox_path(&d);
    let app = launch(&d, &server);
    let item = d.tray_item().await;
    wait_connected(&d, &server).await;
    server.publish(USER, "like", "Ann", "p1").await;
    d.until("a notify call", |r| (r.hung > 0).then_some(()))
        .await;
    // The daemon holds that call; everything else goes on.
    server.publish(USER, "reply", "Bo", "p2").await;
    server.publish(USER, "dislike", "Cy", "p3").await;
    wait_rows(&d, &db, 3).await;
    d.poll("the badge", || async {
        (item.badge().await.as_deref() == Some("3")).then_some(())
    })
    .await;
    item.click("Quit Chime").await;
    let mut app = app;
    let status = d.exited("the app to quit", &mut app).await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_files_are_written_and_carry_no_secrets() {
    let server = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    let url = format!("{}?token={TOKEN}", server.native_url());
    // At trace level: tungstenite logs the whole upgrade request there.
    let app = d.launch_with(
        &Desktop::app_bin(),
        &[
            "--server",
            &url,
            "--header",
            &format!("Authorization: Bearer {TOKEN}"),
            "--header",
            "X-Api-Key: header-secret-42",
        ],
        &[("RUST_LOG", "trace")],
    );
    wait_connected(&d, &server).await;
    let logs = d
        .poll("a log file", || async {
            let files: Vec<PathBuf> = std::fs::read_dir(d.log_dir())
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            let text: String = files
                .iter()
                .filter_map(|p| std::fs::read_to_string(p).ok())
                .collect();
            text.contains("tray ready").then_some(text)
        })
        .await;
    assert!(logs.contains("TRACE"), "trace logging is on");
    for secret in [TOKEN, "header-secret-42"] {
        assert!(!logs.contains(secret), "{secret} in the log files");
        assert!(!d.app_log().contains(secret), "{secret} on stderr");
    }
    // One record per line: nothing a server sends can forge a line.
    assert!(
        logs.lines().all(|l| !l.contains('\u{1b}')),
        "no escape sequences"
    );

    // A rejected credential header is reported by name, never by value.
    let mut app = app;
    let _ = app.0.kill();
    let _ = app.0.wait();
    d.until_no_app().await;
    let bad = format!("Authorization: Bearer {TOKEN}\u{1}");
    let _bad = d.launch(&["--server", &server.native_url(), "--header", &bad]);
    d.poll("the header to be refused", || async {
        d.app_log()
            .contains("invalid header \"Authorization\"")
            .then_some(())
    })
    .await;
    assert!(!d.app_log().contains(TOKEN), "{}", d.app_log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_keyring_the_token_lives_there_and_in_no_file() {
    let server = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    let _keyring = d.start_keyring().await;
    // An old settings file with the token inline: Chime moves it out.
    let old = serde_json::json!({"server": server.native_url(), "token": TOKEN});
    let dir = d.write_settings(&old);
    let mut app = d.launch(&[]);
    wait_connected(&d, &server).await;
    let text = std::fs::read_to_string(dir.join("settings.json")).expect("settings");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(
        !dir.join("secrets.json").exists(),
        "the keyring took it, no file: {}",
        d.app_log()
    );
    let _ = app.0.kill();
    let _ = app.0.wait();
    d.until_no_app().await;

    // The next start can only sign in with what the keyring gives back.
    let before = server.connections_total();
    let _app = d.launch(&[]);
    d.poll("a second signed-in connection", || async {
        (server.connections_total() > before && server.connections() == 1).then_some(())
    })
    .await;
    assert!(!dir.join("secrets.json").exists());
    assert!(
        !d.app_log().contains("no usable keyring"),
        "{}",
        d.app_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_hidden_off_opens_the_inbox_unless_autostart_asks_for_hidden() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let settings = serde_json::json!({"schema": 1, "start_hidden": false});
    d.write_settings(&settings);
    let mut app = launch(&d, &server);
    d.poll("the inbox at start", || async {
        d.app_log().contains("window inbox opened").then_some(())
    })
    .await;
    let item = d.tray_item().await;
    item.click("Quit Chime").await;
    d.exited("the app to quit", &mut app).await;
    d.until_no_app().await;

    // As the autostart entry starts it: hidden, whatever Settings say.
    let before = d.app_log().len();
    let _app = d.launch(&[
        "--hidden",
        "--server",
        &server.native_url(),
        "--token",
        TOKEN,
    ]);
    d.poll("the second start to connect", || async {
        let log = d.app_log()[before..].to_owned();
        (log.contains("tray ready") && server.connections() == 1).then_some(())
    })
    .await;
    let log = d.app_log()[before..].to_owned();
    assert!(log.contains("tray ready"), "{log}");
    assert!(!log.contains("window inbox opened"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_1_file_and_its_saved_secret_become_the_first_source() {
    let server = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    let url = server.native_url();
    let v1 = serde_json::json!({"schema": 1, "server": {"url": url, "auth": "token"}});
    let dir = d.write_settings(&v1);
    // Schema 1 kept the secret under the server's address (no keyring here).
    let old_account = format!("token@{url}");
    let secrets = serde_json::json!({ old_account.clone(): TOKEN });
    std::fs::write(dir.join("secrets.json"), secrets.to_string()).expect("secrets");
    let _app = d.launch(&[]);
    wait_connected(&d, &server).await;
    let text = std::fs::read_to_string(dir.join("settings.json")).expect("settings");
    let saved: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(saved["schema"], 2, "{text}");
    assert_eq!(saved["sources"][0]["id"], "default");
    assert_eq!(saved["sources"][0]["url"], url.as_str());
    assert!(
        dir.join("settings.json.schema1").exists(),
        "the old file is kept"
    );
    let secrets = std::fs::read_to_string(dir.join("secrets.json")).expect("secrets");
    assert!(secrets.contains("token@source:default"), "{secrets}");
    assert!(!secrets.contains(&old_account), "{secrets}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_listed_in_the_settings_file_each_connect_with_their_secret() {
    let blog = TestServer::start(server_config()).await;
    let work = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let settings = serde_json::json!({"schema": 2, "sources": [
        {"id": "blog", "name": "Blog", "url": blog.native_url(), "auth": "token"},
        {"id": "work", "name": "Work", "url": work.native_url(), "auth": "token"},
        {"id": "old", "name": "Old", "enabled": false, "url": work.native_url()},
    ]});
    let dir = d.write_settings(&settings);
    let secrets = serde_json::json!({"token@source:blog": TOKEN, "token@source:work": TOKEN});
    std::fs::write(dir.join("secrets.json"), secrets.to_string()).expect("secrets");
    let _app = d.launch(&[]);
    let item = d.tray_item().await;
    d.poll("both sources connected", || async {
        let labels = item.labels().await;
        (labels.iter().any(|l| l.starts_with("Blog — Connected"))
            && labels.iter().any(|l| l.starts_with("Work — Connected"))
            && !labels.iter().any(|l| l.starts_with("Old")))
        .then_some(())
    })
    .await;
    assert_eq!(
        work.connections(),
        1,
        "the disabled source does not connect"
    );
    blog.publish(USER, "like", "Ann", "p").await;
    work.publish(USER, "like", "Bo", "q").await;
    let db = inbox_path(&d);
    let of = |source: &str| {
        Store::open(&db)
            .and_then(|s| s.unread(Some(source), chime_proto::Kind::Like))
            .unwrap_or(0)
    };
    d.poll("a row each", || async {
        (of("blog") == 1 && of("work") == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_on_one_server_arrive_and_resume_each_on_its_own() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let db = inbox_path(&d);
    let url = server.native_url();
    let args = [
        "--server",
        &url,
        "--token",
        TOKEN,
        "--name",
        "Alice",
        "--server",
        &url,
        "--token",
        "bob-token",
        "--name",
        "Bob",
    ];
    let app = d.launch(&args);
    let item = d.tray_item().await;
    d.poll("both accounts connected", || async {
        (server.connections_total() == 2).then_some(())
    })
    .await;
    // Bob's numbers start at 1 too: the same numbers, two accounts.
    server.publish(USER, "like", "Ann", "a1").await;
    server.publish(USER, "like", "Ann", "a2").await;
    server.publish("bob", "reply", "Cy", "b1").await;
    let rows_of = |source: &str| source_rows(&db, source);
    let alice = "cli:Alice";
    d.poll("each account's rows", || async {
        (rows_of(alice) == 2 && rows_of("cli:Bob") == 1).then_some(())
    })
    .await;
    item.click("Quit Chime").await;
    let mut app = app;
    d.exited("the app to quit", &mut app).await;
    d.until_no_app().await;
    let first_log = d.app_log();
    // While Chime is closed, each account gets more.
    server.publish(USER, "like", "Ann", "a3").await;
    server.publish("bob", "reply", "Cy", "b2").await;
    server.publish("bob", "reply", "Cy", "b3").await;
    let _app = d.launch(&args);
    d.poll("what each missed", || async {
        (rows_of(alice) == 3 && rows_of("cli:Bob") == 3).then_some(())
    })
    .await;
    d.poll("both announced", || async {
        let log = d.app_log()[first_log.len()..].to_owned();
        (log.contains("source 0: announcing") && log.contains("source 1: announcing")).then_some(())
    })
    .await;
    let second = d.app_log()[first_log.len()..].to_owned();
    assert!(
        second.contains("source 0: announcing 1 new item(s), seq 3"),
        "{second}"
    );
    assert!(
        second.contains("source 1: announcing 2 new item(s), seq 2-3"),
        "{second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntfy_and_gotify_messages_from_sleep_an_outage_and_a_closed_app_each_arrive_once() {
    use chime_e2e::push::{GotifyServer, NtfyServer};
    use serde_json::json;
    let mut ntfy = NtfyServer::start().await;
    let mut gotify = GotifyServer::start("Cpersist", &["Backups"]).await;
    let mut d = Desktop::start(true).await;
    let db = inbox_path(&d);
    let (ntfy_url, gotify_url) = (ntfy.url("alerts,backups,ci"), gotify.url());
    let args = desktop::push_source_args(&ntfy_url, &gotify_url, "Cpersist");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut published: Vec<String> = Vec::new();
    let mut n = 0;
    let mut publish = |ntfy: &NtfyServer, gotify: &GotifyServer, published: &mut Vec<String>| {
        for topic in ["alerts", "ci"] {
            ntfy.publish(topic, json!({"title": format!("n{n}"), "message": "m"}));
            published.push(format!("n{n}"));
            n += 1;
        }
        gotify.publish(1, &format!("n{n}"), "m", 5, json!(null));
        published.push(format!("n{n}"));
        n += 1;
    };
    let app = d.launch(&args);
    let item = d.tray_item().await;
    gotify.until_lists(1).await;
    d.poll("ntfy connected", || async {
        (ntfy.connections_total() >= 1).then_some(())
    })
    .await;
    publish(&ntfy, &gotify, &mut published);
    wait_rows(&d, &db, 3).await;
    // Asleep: the servers go away, messages come, the machine wakes.
    ntfy.kill();
    gotify.kill();
    publish(&ntfy, &gotify, &mut published);
    ntfy.restart().await;
    gotify.restart().await;
    d.resume_from_sleep().await;
    wait_rows(&d, &db, 6).await;
    // Closed: Chime quits, messages come, it starts again.
    item.click("Quit Chime").await;
    let mut app = app;
    d.exited("the app to quit", &mut app).await;
    d.until_no_app().await;
    let toasts_before = d.shared.lock().expect("lock").notes.len();
    publish(&ntfy, &gotify, &mut published);
    let _app = d.launch(&args);
    wait_rows(&d, &db, 9).await;
    d.until("a toast for what came while closed", |r| {
        r.notes.get(toasts_before).cloned()
    })
    .await;
    let store = Store::open(&db).expect("open");
    let rows = store
        .list(&chime_store::Filter::default(), 100)
        .expect("list");
    let mut titles: Vec<String> = rows.iter().map(|r| r.title.clone()).collect();
    titles.sort();
    let mut want = published.clone();
    want.sort();
    assert_eq!(titles, want, "every message once, nothing else");
    let ids: BTreeSet<String> = rows
        .iter()
        .filter_map(|r| r.message.as_ref().map(|m| m.id.clone()))
        .collect();
    assert_eq!(ids.len(), 9);
    // After the restart only what came while closed pops up.
    let r = d.shared.lock().expect("lock");
    for note in &r.notes[toasts_before..] {
        for old in &published[..6] {
            assert!(
                !note.summary.ends_with(old.as_str()),
                "{old} again: {note:?}"
            );
        }
    }
}

#[test]
fn chime_prints_its_version_and_a_man_page_without_a_desktop() {
    let state = std::env::temp_dir().join(format!("chime-version-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let run = |arg: &str| {
        let out = std::process::Command::new(Desktop::app_bin())
            .arg(arg)
            .env("XDG_STATE_HOME", &state)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .output()
            .expect("run chime");
        assert!(out.status.success(), "{arg}: {out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    assert_eq!(
        run("--version").trim(),
        format!("chime {}", env!("CARGO_PKG_VERSION"))
    );
    let man = run("--print-man-page");
    for want in [".TH chime 1", "\\-\\-server", "\\-\\-demo", "\\-\\-hidden"] {
        assert!(man.contains(want), "{want} in the man page");
    }
    assert!(
        !state.exists(),
        "--version and the man page make no log directory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_autostart_entry_is_written_anew_at_start_and_a_working_one_is_kept() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let settings = serde_json::json!({"schema": 2, "start_at_login": true});
    d.write_settings(&settings);
    let autostart = d.config_home().join("autostart");
    std::fs::create_dir_all(&autostart).expect("dir");
    let entry = autostart.join("Chime.desktop");
    // What the old plugin wrote after an upgrade replaced the program.
    std::fs::write(
        &entry,
        "[Desktop Entry]\nType=Application\nName=Chime\nExec=/usr/bin/chime-gone (deleted) --hidden\n",
    )
    .expect("entry");
    let mut app = launch(&d, &server);
    d.poll("the link", || async {
        (server.connections_total() == 1).then_some(())
    })
    .await;
    let program = Desktop::app_bin().canonicalize().expect("app binary");
    let text = std::fs::read_to_string(&entry).expect("entry");
    assert_eq!(
        chime_desktop::autostart::exec_args(&text),
        Some(vec![program.display().to_string(), "--hidden".to_owned()]),
        "{text}"
    );
    let item = d.tray_item().await;
    item.click("Quit Chime").await;
    d.exited("the app to quit", &mut app).await;
    d.until_no_app().await;

    // An entry that starts an existing Chime hidden (another build, the
    // installed one) is not taken over by this one.
    let other = "[Desktop Entry]\nType=Application\nName=Chime\nExec=/bin/sh --hidden\n";
    std::fs::write(&entry, other).expect("entry");
    let _app = launch(&d, &server);
    d.poll("the second link", || async {
        (server.connections_total() == 2).then_some(())
    })
    .await;
    assert_eq!(std::fs::read_to_string(&entry).expect("entry"), other);
}

#[test]
fn the_window_host_started_by_hand_says_so_and_exits() {
    // No socket from a tray at fd 3: it refuses to run, opening nothing.
    let home = std::env::temp_dir().join(format!("chime-host-by-hand-{}", std::process::id()));
    let out = std::process::Command::new(Desktop::app_bin())
        .args(["--window-host", "inbox"])
        .env_remove("DISPLAY")
        .env("HOME", &home)
        .env("XDG_STATE_HOME", home.join("state"))
        .output()
        .expect("run the app");
    let _ = std::fs::remove_dir_all(&home);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("started by Chime's tray"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Start the app with `args` and wait for its own tray item (not one an
/// earlier run registered).
async fn start(d: &mut Desktop, args: &[&str]) -> Proc {
    let before = d.shared.lock().expect("lock").items.len();
    let app = d.launch(args);
    d.until("this run's tray item", |r| {
        (r.items.len() > before).then_some(())
    })
    .await;
    app
}

/// Quit the app from its menu and wait until it is gone.
async fn quit(d: &mut Desktop, mut app: Proc) {
    let item = d.tray_item().await;
    item.click("Quit Chime").await;
    d.exited("the app to quit", &mut app).await;
    d.until_no_app().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_run_and_the_demo_leave_the_saved_sources_rows_and_resume_state_alone() {
    let saved = TestServer::start(server_config()).await;
    let other = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let db = inbox_path(&d);
    // The user's own setup: one saved source, its token in the secret file.
    let dir = d.write_settings(&serde_json::json!({
        "schema": 2,
        "sources": [{"id": "default", "name": "Blog", "url": saved.native_url(), "auth": "token"}],
    }));
    std::fs::write(
        dir.join("secrets.json"),
        serde_json::json!({"token@source:default": TOKEN}).to_string(),
    )
    .expect("secrets");
    let rows_of = |source: &str| source_rows(&db, source);
    let mut profile = chime_engine::ServerProfile::new(&saved.native_url()).expect("url");
    profile.auth = chime_engine::Auth::Bearer(chime_engine::Secret::new(TOKEN));
    let key = profile.resume_key();
    let resume_of_default = || {
        Store::open(&db)
            .and_then(|mut s| s.resume("default", &key))
            .map(|st| st.last_seq)
            .unwrap_or(0)
    };

    let app = start(&mut d, &[]).await;
    wait_connected(&d, &saved).await;
    saved.publish(USER, "like", "Ann", "saved 1").await;
    saved.publish(USER, "like", "Ann", "saved 2").await;
    d.poll("the saved source's rows", || async {
        (rows_of("default") == 2 && resume_of_default() == 2).then_some(())
    })
    .await;
    quit(&mut d, app).await;

    // `chime --server …`: a source of its own; the saved one is not
    // dialled, and its rows and cursor stay as they were.
    let before = saved.connections_total();
    let url = other.native_url();
    let app = start(&mut d, &["--server", &url, "--token", TOKEN]).await;
    wait_connected(&d, &other).await;
    other.publish(USER, "reply", "Bo", "flag run").await;
    d.poll("the flag run's row", || async {
        (rows_of(&flag_source(&other)) == 1).then_some(())
    })
    .await;
    quit(&mut d, app).await;
    assert_eq!(
        saved.connections_total(),
        before,
        "the saved source was not dialled"
    );
    assert_eq!(rows_of("default"), 2);
    assert_eq!(resume_of_default(), 2);

    // `chime --demo`: a throwaway inbox; the user's file is not touched.
    let toasts = d.shared.lock().expect("lock").notes.len();
    let app = start(&mut d, &["--demo", "--demo-rate", "600"]).await;
    d.until("a demo event's toast", |r| {
        (r.notes.len() > toasts).then_some(())
    })
    .await;
    quit(&mut d, app).await;
    assert_eq!(rows(&db), 3, "no demo row in the user's inbox");
    assert_eq!(rows_of("demo"), 0);
    assert_eq!(rows_of("default"), 2);
    assert_eq!(resume_of_default(), 2);
}
