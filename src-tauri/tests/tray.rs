//! The app as a user meets it, on real desktop plumbing: Xvfb, a private
//! session bus, a StatusNotifierWatcher and a notification server owned by
//! the test, and a real chime-server.

mod desktop;

use std::time::Duration;

use chime_e2e::{server_config, FaultProxy, TestServer, TOKEN, USER};
use desktop::{Desktop, Notify};

fn args(url: &str) -> Vec<String> {
    vec![
        "--server".into(),
        url.into(),
        "--token".into(),
        TOKEN.into(),
    ]
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

async fn wait_badge(d: &Desktop, item: &desktop::Item, want: Option<&str>) {
    let want = want.map(str::to_owned);
    d.poll(&format!("badge {want:?}"), || async {
        (item.badge().await == want).then_some(())
    })
    .await;
}

async fn wait_label(d: &Desktop, item: &desktop::Item, prefix: &str) -> Vec<String> {
    d.poll(&format!("a menu item {prefix:?}"), || async {
        let labels = item.labels().await;
        labels
            .iter()
            .any(|l| l.starts_with(prefix))
            .then_some(labels)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_badge_and_menu_follow_the_server_and_mark_all_read_clears_them() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let _app = d.launch(&as_strs(&args(&server.native_url())));
    let item = d.tray_item().await;
    wait_label(&d, &item, &format!("Connected to {}", server.addr)).await;
    assert_eq!(item.badge().await, None);
    for i in 0..3 {
        server.publish(USER, "like", "Ann", &format!("p{i}")).await;
    }
    server.publish(USER, "reply", "Bo", "p").await;
    wait_badge(&d, &item, Some("4")).await;
    let labels = wait_label(&d, &item, "3 new likes").await;
    for want in [
        "No new dislikes",
        "1 new reply",
        "Open inbox…",
        "Mark all as read",
        "Reconnect now",
        "Settings…",
        "Quit Chime",
    ] {
        assert!(labels.iter().any(|l| l == want), "{want:?} in {labels:?}");
    }
    // The label beside the icon (ayatana) is set right after the icon, in a
    // separate main-loop turn: wait for it rather than read between the two.
    d.poll("the tray label \"4\"", || async {
        (item.string("XAyatanaLabel").await == "4").then_some(())
    })
    .await;
    // The windows open from the menu.
    for (entry, label) in [("Open inbox…", "inbox"), ("Settings…", "settings")] {
        item.click(entry).await;
        let want = format!("window {label} opened");
        d.poll(&want, || async {
            d.app_log().contains(&want).then_some(())
        })
        .await;
    }
    item.click("Mark all as read").await;
    wait_badge(&d, &item, None).await;
    wait_label(&d, &item, "No new likes").await;
    assert_eq!(server.counts(USER).await.total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_become_escaped_coalesced_toasts_whose_actions_work() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    // The token from the environment, which the browser opened at the end
    // must not inherit (the opener reports a leak on the URL's line).
    let url = server.native_url();
    let _app = d.launch_with(
        &Desktop::app_bin(),
        &["--server", &url],
        &[("CHIME_TOKEN", TOKEN)],
    );
    let item = d.tray_item().await;
    wait_label(&d, &item, "Connected").await;

    server
        .publish(USER, "like", "Ann <script>", "Hello & <b>bye</b>")
        .await;
    let first: Notify = d
        .until("the first toast", |r| r.notes.first().cloned())
        .await;
    assert_eq!(first.app, "Chime");
    assert_eq!(first.summary, "Ann <script> liked “Hello & <b>bye</b>”");
    assert_eq!(first.replaces, 0);
    assert_eq!(
        first.hints.get("category").map(String::as_str),
        Some("im.received")
    );
    assert_eq!(
        first.actions,
        vec!["default", "Open", "read", "Mark as read"]
    );
    assert!(first.icon.ends_with("chime.png"), "{}", first.icon);
    assert_eq!(
        first.hints.get("sound-name").map(String::as_str),
        Some("message-new-instant"),
        "sound is on by default"
    );

    // A burst: one toast per kind, replaced in place, escaped body.
    for actor in ["Bo & Co", "Cy <i>", "Di", "Ed", "Fay"] {
        server.publish(USER, "like", actor, "Post").await;
    }
    let last = d
        .until("the burst summary", |r| {
            r.notes
                .iter()
                .rev()
                .find(|n| n.summary == "6 new likes")
                .cloned()
        })
        .await;
    assert_eq!(last.id, first.id, "the burst replaced the first toast");
    assert_eq!(last.replaces, first.id);
    assert_eq!(last.body, "Ann &lt;script&gt;, Bo &amp; Co and 4 others");
    {
        let r = d.shared.lock().expect("lock");
        assert!(
            r.notes.len() <= 4,
            "coalesced, not one per event: {}",
            r.notes.len()
        );
        assert!(r.notes.iter().all(|n| n.id == first.id));
    }
    wait_badge(&d, &item, Some("6")).await;

    // "Mark as read" from the toast clears the badge.
    d.invoke_action(first.id, "read").await;
    wait_badge(&d, &item, None).await;

    // A click opens the event's page (http/https only) and marks it read.
    // A reply is its own kind, so its toast starts fresh (leading edge).
    server.publish(USER, "reply", "Gus", "Thread").await;
    let reply = d
        .toast("the reply toast", |n| n.summary.starts_with("Gus replied"))
        .await;
    wait_badge(&d, &item, Some("1")).await;
    d.invoke_action(reply.id, "default").await;
    wait_badge(&d, &item, None).await;
    assert_eq!(d.opened().await, "https://example.com/p/1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_rides_out_a_server_crash_a_dead_link_and_resume_without_duplicate_toasts() {
    let mut server = TestServer::start(server_config()).await;
    let proxy = FaultProxy::start(server.addr).await;
    let mut d = Desktop::start(true).await;
    let mut a = args(&proxy.url("/v1/stream"));
    a.extend(["--heartbeat".into(), "1".into()]);
    let _app = d.launch(&as_strs(&a));
    let item = d.tray_item().await;
    wait_label(&d, &item, "Connected").await;
    server.publish(USER, "like", "Ann", "p").await;
    d.until("a toast", |r| (!r.notes.is_empty()).then_some(()))
        .await;

    // Crash: the status says so, then it comes back on its own.
    server.kill();
    wait_label(&d, &item, "Reconnecting").await;
    server.restart().await;
    wait_label(&d, &item, "Connected").await;

    // OS resume: a new connection at once.
    let before = server.connections_total();
    d.resume_from_sleep().await;
    d.poll("a reconnect after resume", || async {
        (server.connections_total() > before).then_some(())
    })
    .await;

    // Half-open link: detected by the 1 s heartbeat + 15 s, then healed.
    proxy.set_mode(chime_e2e::Mode::Blackhole);
    d.poll_for(Duration::from_secs(25), "the dead link to show", || async {
        item.labels()
            .await
            .iter()
            .any(|l| l.starts_with("Reconnecting"))
            .then_some(())
    })
    .await;
    proxy.set_mode(chime_e2e::Mode::Pass);
    wait_label(&d, &item, "Connected").await;

    let r = d.shared.lock().expect("lock");
    let summaries: Vec<&str> = r.notes.iter().map(|n| n.summary.as_str()).collect();
    assert_eq!(
        summaries,
        vec!["Ann liked “p”"],
        "no duplicates, no connection noise"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_tray_host_the_app_still_notifies() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(false).await;
    let _app = d.launch(&as_strs(&args(&server.native_url())));
    // No tray host: wait for the connection through the server, then publish.
    d.poll("the app to connect", || async {
        (server.connections() > 0).then_some(())
    })
    .await;
    server.publish(USER, "dislike", "Zed", "Rant").await;
    let n = d.until("a toast", |r| r.notes.first().cloned()).await;
    assert_eq!(n.summary, "Zed disliked “Rant”");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_duplicate_frames_do_not_disturb_the_app() {
    use tokio_tungstenite::tungstenite::Message;
    let frames = vec![
        Message::text(r#"{"type":"welcome","v":1,"epoch":"e1"}"#),
        Message::text("{garbage"),
        Message::binary(vec![0u8, 1, 2]),
        Message::text(r#"{"type":"sparkle","x":1}"#),
        Message::text(r#"{"type":"event","seq":"one"}"#),
        // Numbers out of range: each ignored, none moves the cursor.
        Message::text(format!(r#"{{"type":"synced","last_seq":{}}}"#, u64::MAX)),
        Message::text(format!(r#"{{"type":"counts","likes":{}}}"#, u64::MAX)),
        Message::text(format!(
            r#"{{"type":"event","seq":{},"kind":"like"}}"#,
            u64::MAX
        )),
        Message::text(r#"{"type":"event","seq":1,"kind":"like","time":1764000000000000000}"#),
        Message::text(
            r#"{"type":"error","code":"\u001b]52;c;ZXZpbA==\u0007","message":"x\nINFO forged"}"#,
        ),
        chime_e2e::event_frame(1, "like"),
        chime_e2e::event_frame(1, "like"),
        Message::text(r#"{"type":"counts","likes":1,"dislikes":0,"replies":0}"#),
        Message::text(r#"{"type":"synced","last_seq":1}"#),
    ];
    let server = chime_e2e::ScriptedServer::start(vec![chime_e2e::Script::Frames {
        frames,
        close: None,
        reply: None,
    }])
    .await;
    let mut d = Desktop::start(true).await;
    let url = format!("ws://{}/v1/stream", server.addr);
    let _app = d.launch(&["--server", &url, "--dialect", "native"]);
    let item = d.tray_item().await;
    wait_badge(&d, &item, Some("1")).await;
    let n = d.until("the toast", |r| r.notes.first().cloned()).await;
    assert_eq!(n.summary, "Ann liked “Post 1”");
    let labels = wait_label(&d, &item, "Connected").await;
    assert!(labels.iter().any(|l| l == "1 new like"), "{labels:?}");
    assert_eq!(server.connections(), 1, "bad frames never cost the link");
    assert_eq!(
        d.shared.lock().expect("lock").notes.len(),
        1,
        "the duplicate made no toast"
    );
    // The log kept one line per record: the forged line is not a line.
    let log = d.app_log();
    assert!(log.contains("the server reported"), "{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("INFO forged")),
        "a forged log line: {log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "an escape sequence reached the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_switched_off_in_the_settings_file_count_but_make_no_toast() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let url = server.native_url();
    let json = serde_json::json!({
        "server": url, "token": TOKEN, "notify": {"dislikes": false},
    });
    let settings = d.write_settings(&json);
    let _app = d.launch(&[]);
    let item = d.tray_item().await;
    wait_label(&d, &item, "Connected").await;
    server.publish(USER, "dislike", "Hal", "Muted").await;
    server.publish(USER, "like", "Ivy", "Loud").await;
    wait_badge(&d, &item, Some("2")).await;
    let n = d
        .until("the like toast", |r| r.notes.first().cloned())
        .await;
    assert_eq!(n.summary, "Ivy liked “Loud”");
    wait_label(&d, &item, "1 new dislike").await;
    {
        let r = d.shared.lock().expect("lock");
        assert_eq!(
            r.notes.len(),
            1,
            "no toast for the switched-off kind: {:?}",
            r.notes
        );
    }
    // That old flat file was moved to the current schema, and its token
    // out of it (no keyring on this bus: into a 0600 file).
    let text = std::fs::read_to_string(settings.join("settings.json")).expect("settings");
    assert!(text.contains("\"schema\": 2"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    let secrets = settings.join("secrets.json");
    assert!(std::fs::read_to_string(&secrets)
        .expect("secrets")
        .contains(TOKEN));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&secrets)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Local time `offset_min` minutes from now, as HH:MM (the app's clock).
fn local_hhmm(offset_min: i64) -> String {
    use chime_desktop::localtime;
    let at = localtime::now();
    let at = jiff::Timestamp::from_second(at.as_second() + offset_min * 60).unwrap_or(at);
    localtime::hhmm(at, std::time::Duration::ZERO, &localtime::system_zone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_quiet_hours_the_badge_and_inbox_update_but_nothing_pops_up() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    // Quiet from two hours ago to two hours ahead, every day.
    let json = serde_json::json!({
        "schema": 1,
        "server": {"url": server.native_url()},
        "notify": {"sound": false},
        "quiet_hours": {"enabled": true, "from": local_hhmm(-120), "to": local_hhmm(120)},
    });
    d.write_settings(&json);
    let _app = d.launch(&["--token", TOKEN, "--server", &server.native_url()]);
    let item = d.tray_item().await;
    wait_label(&d, &item, "Connected").await;
    server.publish(USER, "like", "Ann", "Shh").await;
    server.publish(USER, "reply", "Bo", "Shh").await;
    // The tray is refreshed after any toast of the same batch was sent, so
    // a badge of 2 means the toasts (if any) have been recorded.
    wait_badge(&d, &item, Some("2")).await;
    assert!(
        d.shared.lock().expect("lock").notes.is_empty(),
        "no pop-ups during quiet hours"
    );
    let db = chime_store::Store::open(&d.data_home().join("chime/inbox.sqlite3")).expect("inbox");
    assert_eq!(db.len().expect("len"), 2, "the inbox still fills");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_logind_network_manager_and_the_notification_server_themselves_can_move_chime() {
    let server = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let _app = d.launch(&as_strs(&args(&server.native_url())));
    let item = d.tray_item().await;
    wait_label(&d, &item, "Connected").await;
    // The watcher subscribes on its own: tell it the network is up (a live
    // link is only probed, never redialled) until it has heard it.
    let count = |what: &str| d.app_log().matches(what).count();
    d.poll("the OS watcher to listen", || async {
        d.network_state(70).await;
        (count("NetworkUp") > 0).then_some(())
    })
    .await;
    let before = server.connections_total();
    let resumed = count("Resumed");

    // Another account on the system bus tries to keep Chime offline and to
    // make it redial in a loop.
    let rogue = d.rogue_system().await;
    desktop::emit_network_state(&rogue, 20).await;
    for _ in 0..3 {
        desktop::emit_resume(&rogue).await;
    }
    // logind itself says the machine woke up: one redial. Once Chime has
    // made it, it has heard (or dropped) everything the rogue sent before.
    d.resume_from_sleep().await;
    d.poll("logind's resume", || async {
        (server.connections_total() > before).then_some(())
    })
    .await;
    wait_label(&d, &item, "Connected").await;
    assert_eq!(
        count("Resumed"),
        resumed + 1,
        "only logind's resume was obeyed"
    );
    assert_eq!(count("NetworkDown"), 0, "no rogue network-down was obeyed");
    assert_eq!(
        server.connections_total(),
        before + 1,
        "one redial, logind's"
    );

    // Another program on the session bus tries to click Chime's toast.
    server.publish(USER, "like", "Ann", "p").await;
    let toast = d
        .toast("the like toast", |n| n.summary.starts_with("Ann liked"))
        .await;
    wait_badge(&d, &item, Some("1")).await;
    let rogue = d.rogue_session().await;
    for key in ["default", "read"] {
        rogue
            .emit_signal(
                None::<&str>,
                "/org/freedesktop/Notifications",
                "org.freedesktop.Notifications",
                "ActionInvoked",
                &(toast.id, key),
            )
            .await
            .expect("emit");
    }
    // The notification server's own "Mark as read" works.
    d.invoke_action(toast.id, "read").await;
    wait_badge(&d, &item, None).await;
    assert!(!d.opened_file().exists(), "the rogue click opened nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_sources_each_get_a_section_their_own_toasts_and_rows_and_one_failing_disturbs_none(
) {
    let mut blog = TestServer::start(server_config()).await;
    let work = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let (blog_url, work_url) = (blog.seed_url(), work.native_url());
    let _app = d.launch(&[
        "--server",
        &blog_url,
        "--dialect",
        "seed",
        "--token",
        TOKEN,
        "--name",
        "Blog",
        "--server",
        &work_url,
        "--token",
        TOKEN,
        "--name",
        "Work",
        "--server",
        &work_url,
        "--token",
        "wrong",
        "--name",
        "Other account",
    ]);
    let item = d.tray_item().await;
    wait_label(&d, &item, "Blog — Connected to").await;
    wait_label(&d, &item, "Work — Connected to").await;
    wait_label(&d, &item, "Other account — Sign-in failed").await;

    blog.publish(USER, "like", "Ann", "post").await;
    work.publish(USER, "reply", "Bo", "thread").await;
    wait_badge(&d, &item, Some("2")).await;
    let section = |labels: &[String], name: &str| -> Vec<String> {
        let at = labels
            .iter()
            .position(|l| l.starts_with(&format!("{name} — ")))
            .unwrap_or_else(|| panic!("no section {name}: {labels:?}"));
        // The three kind lines after its status (separators have no label).
        labels[at + 1..]
            .iter()
            .filter(|l| !l.is_empty())
            .take(3)
            .cloned()
            .collect()
    };
    let labels = d
        .poll("both sections counted", || async {
            let labels = item.labels().await;
            let ok = section(&labels, "Blog").first().map(String::as_str) == Some("1 new like")
                && section(&labels, "Work").get(2).map(String::as_str) == Some("1 new reply");
            ok.then_some(labels)
        })
        .await;
    assert_eq!(
        section(&labels, "Other account"),
        ["No new likes", "No new dislikes", "No new replies"]
    );
    let blog_toast = d
        .toast("Blog's toast", |n| n.summary.starts_with("Blog · "))
        .await;
    assert_eq!(blog_toast.summary, "Blog · 1 new like");
    let work_toast = d
        .toast("Work's toast", |n| n.summary.starts_with("Work · "))
        .await;
    assert_eq!(work_toast.summary, "Work · Bo replied to “thread”");
    assert_ne!(blog_toast.id, work_toast.id, "one toast per source");
    // Each source's rows are its own.
    let db = d.data_home().join("chime/inbox.sqlite3");
    let rows_of = |source: &str| {
        chime_store::Store::open(&db)
            .and_then(|s| {
                s.list(
                    &chime_store::Filter {
                        source: Some(source),
                        ..Default::default()
                    },
                    10,
                )
            })
            .map(|r| r.len())
            .unwrap_or(0)
    };
    d.poll("the rows", || async {
        (rows_of("cli:Blog") == 1 && rows_of("cli:Work") == 1).then_some(())
    })
    .await;

    // Pausing one source closes its link only; resuming brings it back.
    item.click("Pause this source").await;
    wait_label(&d, &item, "Blog — Paused").await;
    d.poll("Blog's link closed", || async {
        (blog.connections() == 0).then_some(())
    })
    .await;
    assert_eq!(work.connections(), 1, "Work's link is untouched");
    item.click("Resume this source").await;
    wait_label(&d, &item, "Blog — Connected").await;

    // One server down: the others go on.
    blog.kill();
    wait_label(&d, &item, "Blog — Reconnecting").await;
    work.publish(USER, "like", "Cy", "still here").await;
    wait_badge(&d, &item, Some("3")).await;
    d.toast("Work's like", |n| {
        n.summary == "Work · Cy liked “still here”"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_muted_source_and_a_kind_switched_off_for_one_source_count_but_make_no_toast() {
    let loud = TestServer::start(server_config()).await;
    let quiet = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let settings = serde_json::json!({"schema": 2, "sources": [
        {"id": "loud", "name": "Loud", "url": loud.native_url(), "auth": "token"},
        {"id": "quiet", "name": "Quiet", "muted": true, "url": quiet.native_url(), "auth": "token"},
        {"id": "picky", "name": "Picky", "kinds": {"likes": false}, "url": loud.native_url(), "auth": "token"},
    ]});
    let dir = d.write_settings(&settings);
    let secrets = serde_json::json!({
        "token@source:loud": TOKEN, "token@source:quiet": TOKEN, "token@source:picky": "bob-token",
    });
    std::fs::write(dir.join("secrets.json"), secrets.to_string()).expect("secrets");
    let _app = d.launch(&[]);
    let item = d.tray_item().await;
    wait_label(&d, &item, "Quiet — Connected").await;
    wait_label(&d, &item, "Loud — Connected").await;
    wait_label(&d, &item, "Picky — Connected").await;
    quiet.publish(USER, "like", "Ann", "shh").await;
    loud.publish(USER, "like", "Bo", "hey").await;
    // Picky is Bob's account: its likes count but do not pop up, its replies do.
    loud.publish("bob", "like", "Cy", "no pop").await;
    loud.publish("bob", "reply", "Di", "pop").await;
    wait_badge(&d, &item, Some("4")).await;
    d.toast("Loud's toast", |n| n.summary.starts_with("Loud · "))
        .await;
    d.toast("Picky's reply", |n| {
        n.summary.starts_with("Picky · Di replied")
    })
    .await;
    let r = d.shared.lock().expect("lock");
    assert!(
        r.notes
            .iter()
            .all(|n| !n.summary.starts_with("Quiet") && !n.summary.starts_with("Picky · Cy")),
        "{:?}",
        r.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntfy_and_gotify_beside_a_site_toast_by_priority_with_their_buttons_and_count_in_the_badge()
{
    use chime_e2e::push::{GotifyServer, NtfyServer};
    use serde_json::json;
    let site = TestServer::start(server_config()).await;
    let ntfy = NtfyServer::start().await;
    let gotify = GotifyServer::start("Cnas", &["Backups"]).await;
    let mut d = Desktop::start(true).await;
    let (site_url, ntfy_url, gotify_url) =
        (site.native_url(), ntfy.url("alerts,backups"), gotify.url());
    let mut argv: Vec<String> = ["--server", &site_url, "--token", TOKEN, "--name", "Blog"]
        .map(String::from)
        .to_vec();
    argv.extend(desktop::push_source_args(&ntfy_url, &gotify_url, "Cnas"));
    let _app = d.launch(&as_strs(&argv));
    let item = d.tray_item().await;
    for name in ["Blog", "Home", "NAS"] {
        wait_label(&d, &item, &format!("{name} — Connected")).await;
    }
    // Gotify's first sync is done once its cursor is kept; wait for the
    // list request so its first message is not taken for history.
    d.poll("Gotify's first sync", || async {
        (gotify.list_requests() >= 1).then_some(())
    })
    .await;
    // Low priority: inbox and badge, no toast.
    ntfy.publish(
        "alerts",
        json!({"title": "Low", "message": "quiet", "priority": 2}),
    );
    wait_badge(&d, &item, Some("1")).await;
    let labels = wait_label(&d, &item, "1 new message").await;
    assert!(
        labels.iter().any(|l| l == "No new likes"),
        "the site keeps its lines: {labels:?}"
    );
    // Default: a normal toast named after its source, tags as emoji.
    ntfy.publish(
        "backups",
        json!({"title": "Backup done", "message": "42 GB <b>ok</b>", "tags": ["white_check_mark"]}),
    );
    let normal = d
        .toast("the ntfy toast", |n| n.summary.contains("Backup done"))
        .await;
    assert_eq!(normal.summary, "Home · ✅ Backup done");
    assert_eq!(normal.body, "42 GB &lt;b&gt;ok&lt;/b&gt;");
    assert_ne!(normal.hints.get("urgency").map(String::as_str), Some("2"));
    // Urgent: critical, its own toast, with the view action as a button
    // (the http action is never offered).
    ntfy.publish(
        "alerts",
        json!({"title": "Disk failing", "message": "sda", "priority": 5,
               "actions": [{"action": "view", "label": "Open NAS", "url": "https://nas.example/disks"},
                           {"action": "http", "label": "Reboot", "url": "https://nas.example/reboot"}]}),
    );
    let urgent = d
        .toast("the urgent toast", |n| n.summary.contains("Disk failing"))
        .await;
    assert_eq!(urgent.hints.get("urgency").map(String::as_str), Some("2"));
    assert_ne!(
        urgent.id, normal.id,
        "not folded into the ordinary messages' toast"
    );
    assert_eq!(
        urgent.actions,
        vec![
            "default",
            "Open",
            "read",
            "Mark as read",
            "link0",
            "Open NAS"
        ]
    );
    wait_badge(&d, &item, Some("3")).await;
    // Its button opens its link and reads the source's messages.
    d.invoke_action(urgent.id, "link0").await;
    assert_eq!(d.opened().await, "https://nas.example/disks");
    wait_badge(&d, &item, None).await;
    // Gotify: 0 is silent, 8 urgent; the application names the message.
    gotify.publish(1, "nightly", "silent one", 0, json!(null));
    gotify.publish(
        1,
        "Backup failed",
        "see the log",
        8,
        json!({"client::notification": {"click": {"url": "https://nas.example/log"}}}),
    );
    let failed = d
        .toast("the Gotify toast", |n| n.summary.contains("Backup failed"))
        .await;
    assert_eq!(failed.summary, "NAS · Backup failed");
    assert_eq!(failed.hints.get("urgency").map(String::as_str), Some("2"));
    {
        let r = d.shared.lock().expect("lock");
        assert!(!r
            .notes
            .iter()
            .any(|n| n.summary.contains("Low") || n.body.contains("silent")));
    }
    // The site's likes count beside them: 2 Gotify messages and a like.
    site.publish(USER, "like", "Ann", "Post").await;
    wait_badge(&d, &item, Some("3")).await;
    d.invoke_action(failed.id, "read").await;
    wait_badge(&d, &item, Some("1")).await;
    wait_label(&d, &item, "1 new like").await;
}

/// A server, a desktop, and the app on it with its link up.
async fn tray_with_its_link() -> (TestServer, Desktop, desktop::Proc) {
    let server = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    let app = d.launch(&as_strs(&args(&server.native_url())));
    d.poll("the link", || async {
        (server.connections() == 1).then_some(())
    })
    .await;
    (server, d, app)
}

/// The direct children of `pid`, with their command lines.
fn children(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in text.split_ascii_whitespace().filter_map(|c| c.parse().ok()) {
            let cmd = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            out.push((child, cmd));
        }
    }
    out
}

/// Whether `pid` still runs (a zombie does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

fn xdotool(d: &Desktop, args: &[&str]) -> String {
    let out = std::process::Command::new("xdotool")
        .args(args)
        .env("DISPLAY", &d.display)
        .output()
        .expect("xdotool (scripts/setup installs it)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_live_in_a_host_process_that_takes_webkit_with_it_when_the_last_one_closes() {
    let (server, d, app) = tray_with_its_link().await;
    let tray_pid = app.0.id();
    // A tray-only Chime runs no WebKit: no helper process at all.
    assert_eq!(children(tray_pid), vec![]);

    let _again = d.launch(&["--open", "inbox"]);
    // Between fork and exec a child still shows the tray's command line,
    // and one on its way out shows none: wait for the host's own.
    let (host, cmd) = d
        .poll("the window host", || async {
            children(tray_pid)
                .into_iter()
                .find(|(_, c)| c.contains("--window-host"))
        })
        .await;
    assert!(cmd.contains("--window-host inbox"), "{cmd}");
    // Its end of the tray's socket (fd 3) closes on exec: nothing the
    // host starts inherits the link to the tray.
    // (The host sets it first thing; it may be a moment behind its start.)
    let fd3_flags = || {
        std::fs::read_to_string(format!("/proc/{host}/fdinfo/3"))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
    };
    d.poll("the host's fd 3 to close on exec", || async {
        fd3_flags().filter(|f| f & libc::O_CLOEXEC as u32 != 0)
    })
    .await;
    // WebKit's processes are the host's, not the tray's.
    let webkit = d
        .poll("WebKit's processes in the host", || async {
            let c = children(host);
            (c.len() >= 2).then_some(c)
        })
        .await;
    assert!(
        webkit.iter().all(|(_, c)| c.contains("WebKit")),
        "{webkit:?}"
    );
    assert_eq!(children(tray_pid).len(), 1, "only the host");

    // Escape closes the window: the host goes, and WebKit with it; the
    // tray keeps its link.
    let window = d
        .poll("the inbox window", || async {
            let id = xdotool(&d, &["search", "--name", "Chime — Inbox"]);
            (!id.is_empty()).then_some(id)
        })
        .await;
    let window = window.lines().next().unwrap_or_default().to_owned();
    d.poll("the window host to end", || async {
        xdotool(&d, &["windowfocus", &window]);
        xdotool(&d, &["key", "Escape"]);
        (!alive(host)).then_some(())
    })
    .await;
    d.poll("WebKit's processes to end", || async {
        webkit.iter().all(|(p, _)| !alive(*p)).then_some(())
    })
    .await;
    d.poll("the tray to hear it", || async {
        d.app_log().contains("window host ended").then_some(())
    })
    .await;
    assert_eq!(server.connections(), 1);
    assert!(alive(tray_pid));

    // The next window gets a host of its own.
    let _again = d.launch(&["--open", "settings"]);
    let (_, cmd) = d
        .poll("a new window host", || async {
            children(tray_pid)
                .into_iter()
                .find(|(p, c)| *p != host && alive(*p) && c.contains("--window-host"))
        })
        .await;
    assert!(cmd.contains("--window-host settings"), "{cmd}");

    // A tray that dies leaves no window host behind.
    let (host, _) = children(tray_pid)
        .into_iter()
        .find(|(p, _)| alive(*p))
        .expect("the settings host");
    let mut app = app;
    let _ = app.0.kill();
    let _ = app.0.wait();
    d.poll("the orphaned host to end", || async {
        (!alive(host)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_windows_asked_for_at_once_open_in_one_window_host() {
    let (_server, d, app) = tray_with_its_link().await;
    let tray_pid = app.0.id();
    let _a = d.launch(&["--open", "inbox"]);
    let _b = d.launch(&["--open", "settings"]);
    d.poll("both windows", || async {
        let log = d.app_log();
        (log.contains("window inbox opened") && log.contains("window settings opened"))
            .then_some(())
    })
    .await;
    let hosts: Vec<_> = children(tray_pid)
        .into_iter()
        .filter(|(p, c)| alive(*p) && c.contains("--window-host"))
        .collect();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ntfy_update_replaces_its_toast_and_a_clear_or_delete_withdraws_it_and_lowers_the_badge()
{
    use chime_e2e::push::NtfyServer;
    use serde_json::json;
    let ntfy = NtfyServer::start().await;
    let mut d = Desktop::start(true).await;
    let url = ntfy.url("ci");
    let _app = d.launch(&["--server", &url, "--dialect", "ntfy", "--name", "CI"]);
    let item = d.tray_item().await;
    wait_label(&d, &item, "Connected").await;
    ntfy.publish(
        "ci",
        json!({"title": "Build 7", "message": "building", "sequence_id": "b7"}),
    );
    let first = d.toast("the build's toast", |n| n.body == "building").await;
    wait_badge(&d, &item, Some("1")).await;
    ntfy.publish(
        "ci",
        json!({"title": "Build 7", "message": "passed", "sequence_id": "b7"}),
    );
    let update = d.toast("the update", |n| n.body == "passed").await;
    assert_eq!(update.replaces, first.id, "in place, not a second toast");
    assert_eq!(update.summary, "Build 7", "one notification, not “+1”");
    wait_badge(&d, &item, Some("1")).await;
    // Read on the phone: the toast goes, the badge falls.
    ntfy.clear("ci", "b7");
    d.until("the toast withdrawn", |r| {
        r.closed.contains(&first.id).then_some(())
    })
    .await;
    wait_badge(&d, &item, None).await;
    // Deleted: likewise, and a later message is a toast of its own.
    let other = ntfy.publish("ci", json!({"title": "Deploy", "message": "rolling out"}));
    let deploy = d
        .toast("the deploy toast", |n| n.body == "rolling out")
        .await;
    wait_badge(&d, &item, Some("1")).await;
    ntfy.delete("ci", &other);
    d.until("the deploy toast withdrawn", |r| {
        (r.closed.iter().filter(|&&c| c == deploy.id).count() >= 1 && r.closed.len() >= 2)
            .then_some(())
    })
    .await;
    wait_badge(&d, &item, None).await;
}

/// The threads of `pid` whose name starts with `prefix`.
fn threads_named(pid: u32, prefix: &str) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|c| c.trim().to_owned())
        .filter(|c| c.starts_with(prefix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tray_keeps_no_pool_thread_awake() {
    // The `blocking` pool (behind zbus and async-io) wakes each of its
    // threads every 500 ms while it lives; an idle one must end.
    let (_server, d, app) = tray_with_its_link().await;
    let pid = app.0.id();
    d.poll("the blocking pool to empty", || async {
        threads_named(pid, "blocking-").is_empty().then_some(())
    })
    .await;
}
