//! The inbox and settings windows, driven like a person would through
//! WebDriver (tauri-driver + WebKitWebDriver) on a private desktop, against
//! a real chime-server.

mod desktop;

use chime_e2e::{server_config, TestServer, TOKEN, USER};
use desktop::webdriver::{Driver, Session};
use desktop::Desktop;
use serde_json::{json, Value};

async fn settings_loaded(s: &Session) {
    s.until_js(
        "the settings to load",
        "return document.getElementById('heartbeat').value !== ''",
        json!(true),
    )
    .await;
}

async fn save_and_wait(s: &Session) {
    s.exec(
        "document.getElementById('save-result').textContent = ''",
        json!([]),
    )
    .await;
    s.click("#save").await;
    s.until("Saved.", || async {
        (s.text("#save-result").await == "Saved.").then_some(())
    })
    .await;
}

/// Press Test connection and wait for a result starting with `prefix`.
async fn test_outcome(s: &Session, prefix: &str) -> String {
    s.click("#test").await;
    s.until(prefix, || async {
        let t = s.text("#test-result").await;
        t.starts_with(prefix).then_some(t)
    })
    .await
}

/// Wait for the message Settings shows under `field`.
async fn field_error(s: &Session, field: &str) -> String {
    let css = format!("[data-error='{field}']");
    s.until(&format!("the {field} error"), || async {
        let t = s.text(&css).await;
        (!t.is_empty()).then_some(t)
    })
    .await
}

/// Fill the form in with a source signing in by access token (`secret`,
/// or none typed: the saved one, if any, is what Save would use).
async fn fill_token_source(s: &Session, name: &str, url: &str, secret: Option<&str>) {
    s.type_into("#name", name).await;
    s.type_into("#url", url).await;
    s.select("#auth", "token").await;
    if let Some(t) = secret {
        s.type_into("#secret", t).await;
    }
}

async fn value(s: &Session, id: &str) -> Value {
    s.exec(
        "const e = document.getElementById(arguments[0]); return e.type === 'checkbox' ? e.checked : e.value;",
        json!([id]),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_saved_in_the_window_survive_a_restart() {
    let server = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    assert_eq!(s.title().await, "Chime — Settings");

    // Plain ws:// to another machine needs consent.
    s.type_into("#url", "ws://chime.example.com/v1/stream")
        .await;
    s.click("#save").await;
    let why = field_error(&s, "source.allow_insecure").await;
    assert!(why.contains("unencrypted"), "{why}");
    let file = d.config_home().join("chime/settings.json");
    assert!(!file.exists(), "nothing saved while invalid");

    s.type_into("#url", &server.native_url()).await;
    s.select("#auth", "token").await;
    s.type_into("#secret", TOKEN).await;
    s.type_into("#heartbeat", "45").await;
    s.click("#n-dislikes").await;
    s.click("#q-enabled").await;
    s.click("#s-login").await;
    s.click("#save").await;
    s.until("Saved.", || async {
        (s.text("#save-result").await == "Saved.").then_some(())
    })
    .await;
    // The app switched to the saved server.
    s.until("the app to connect", || async {
        (server.connections() > 0).then_some(())
    })
    .await;
    let text = std::fs::read_to_string(&file).expect("settings.json");
    let saved: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(saved["schema"], 2);
    assert_eq!(saved["sources"][0]["heartbeat_secs"], 45);
    assert_eq!(saved["sources"][0]["id"], "default");
    assert_eq!(saved["notify"]["dislikes"], false);
    assert!(!text.contains(TOKEN), "no secret in settings.json");
    // No Secret Service on this bus: the 0600 file, and Settings says so.
    let secrets = d.config_home().join("chime/secrets.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&secrets)
        .expect("secrets")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(s
        .text("#secret-storage")
        .await
        .contains("readable only by you"));
    // Start at login: an XDG autostart entry that starts Chime hidden.
    let entry = std::fs::read_to_string(d.config_home().join("autostart/Chime.desktop"))
        .expect("autostart entry");
    // It starts this very program, its path one argument, with --hidden.
    let program = Desktop::app_bin().canonicalize().expect("app binary");
    assert_eq!(
        chime_desktop::autostart::exec_args(&entry),
        Some(vec![program.display().to_string(), "--hidden".to_owned()]),
        "{entry}"
    );
    s.quit().await;

    // A new start finds everything as it was, and connects with it.
    d.until_no_app().await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    assert_eq!(value(&s, "url").await, json!(server.native_url()));
    assert_eq!(value(&s, "heartbeat").await, json!("45"));
    assert_eq!(value(&s, "auth").await, json!("token"));
    assert_eq!(value(&s, "n-dislikes").await, json!(false));
    assert_eq!(value(&s, "n-likes").await, json!(true));
    assert_eq!(value(&s, "q-enabled").await, json!(true));
    assert_eq!(value(&s, "s-login").await, json!(true));
    assert_eq!(
        value(&s, "secret").await,
        json!(""),
        "the secret is never sent back"
    );
    let placeholder = s
        .exec(
            "return document.getElementById('secret').placeholder",
            json!([]),
        )
        .await;
    assert!(
        placeholder.as_str().unwrap_or("").starts_with("Saved"),
        "{placeholder}"
    );
    s.until("the status line", || async {
        let t = s.text("#status-text").await;
        t.starts_with("Connected to").then_some(())
    })
    .await;
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_reports_a_wrong_token_then_success_then_unreachable() {
    let mut server = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    s.type_into("#url", &server.native_url()).await;
    s.select("#auth", "token").await;
    s.type_into("#secret", "not-the-token").await;

    let failed = test_outcome(&s, "Sign-in failed").await;
    assert!(failed.contains("401"), "{failed}");
    assert!(!failed.contains("not-the-token"), "{failed}");
    s.type_into("#secret", TOKEN).await;
    let ok = test_outcome(&s, "Connected").await;
    assert_eq!(ok, "Connected (Chime protocol).");
    server.kill();
    test_outcome(&s, "Unreachable").await;
    // Testing saved nothing.
    assert!(!d.config_home().join("chime/settings.json").exists());
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_a_private_ca_is_refused_until_its_ca_file_is_given_in_settings() {
    use chime_e2e::tls::{TestCa, TlsFront};
    let server = TestServer::start(server_config()).await;
    let ca = TestCa::new();
    let front = TlsFront::start(&ca, server.addr).await;
    let d = Desktop::start(true).await;
    let ca_file = ca.write_ca(&d.dir);
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    // The field shows for secure addresses only.
    s.type_into("#url", &server.native_url()).await;
    let shown = || async {
        s.exec(
            "return !document.getElementById('ca-file-field').hidden",
            json!([]),
        )
        .await
    };
    assert_eq!(shown().await, json!(false));
    s.type_into("#url", &front.url("/v1/stream")).await;
    assert_eq!(shown().await, json!(true));
    s.select("#auth", "token").await;
    s.type_into("#secret", TOKEN).await;

    // Without it: refused, and the message says what to do.
    let refused = test_outcome(&s, "Cannot connect").await;
    assert!(
        refused.contains("secure connection failed") && refused.contains("CA file"),
        "{refused}"
    );
    // A file that is not one: the field says so, nothing is saved.
    s.type_into("#ca-file", "/nonexistent/ca.pem").await;
    s.click("#save").await;
    let why = field_error(&s, "source.ca_file").await;
    assert!(why.contains("cannot use this file"), "{why}");
    assert!(!d.config_home().join("chime/settings.json").exists());
    // The CA: trusted, tested, saved, connected.
    s.type_into("#ca-file", &ca_file.display().to_string())
        .await;
    assert_eq!(
        test_outcome(&s, "Connected").await,
        "Connected (Chime protocol)."
    );
    save_and_wait(&s).await;
    s.until("the app to connect over TLS", || async {
        (server.connections() > 0).then_some(())
    })
    .await;
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(d.config_home().join("chime/settings.json")).expect("settings"),
    )
    .expect("json");
    assert_eq!(
        saved["sources"][0]["ca_file"],
        json!(ca_file.display().to_string())
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_shows_published_items_as_text_and_opens_them() {
    let server = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    let driver = Driver::start(&d).await;
    let url = server.native_url();
    let s = driver
        .session(&["--server", &url, "--token", TOKEN, "--open", "inbox"])
        .await;
    assert_eq!(s.title().await, "Chime — Inbox");
    s.until("the app to connect", || async {
        (server.connections() > 0).then_some(())
    })
    .await;
    let evil = r#"<img src=x onerror="document.title='pwned'">"#;
    server.publish(USER, "like", "<b>Eve</b>", evil).await;
    server.publish(USER, "reply", "Bo", "Plain").await;
    let rows = "return Array.from(document.querySelectorAll('.row')).map(r => \
                [r.querySelector('.title').textContent, r.querySelector('.who').textContent, \
                 r.classList.contains('unread')])";
    s.until_js(
        "both items, newest first, unread, as text",
        rows,
        json!([["Plain", "by Bo", true], [evil, "by <b>Eve</b>", true]]),
    )
    .await;
    // The markup stayed text: no element was made from it, nothing ran.
    let imgs = s
        .exec(
            "return document.querySelectorAll('img, b').length",
            json!([]),
        )
        .await;
    assert_eq!(imgs, json!(0));
    assert_eq!(s.title().await, "Chime — Inbox");

    // The page may call the inbox's commands and nothing else: no plugin
    // or core command the capability does not name, and none of Settings'
    // (the inbox cannot read, test or save settings).
    for (cmd, args) in [
        (
            "plugin:opener|open_url",
            json!({"url": "https://evil.example/"}),
        ),
        ("plugin:autostart|enable", json!({})),
        ("plugin:window|close", json!({"label": "inbox"})),
        ("settings_get", json!({})),
        ("settings_save", json!({"settings": {}, "secrets": {}})),
        ("settings_test", json!({"source": {}, "secret": null})),
        ("settings_sign_in", json!({"source": {}})),
    ] {
        let answer = s
            .exec_async(
                "const done = arguments[arguments.length - 1]; \
                 window.__TAURI__.core.invoke(arguments[0], arguments[1]) \
                   .then(() => done('allowed'), (e) => done('denied: ' + e));",
                json!([cmd, args]),
            )
            .await;
        let answer = answer.as_str().unwrap_or_default().to_owned();
        assert!(answer.starts_with("denied"), "{cmd}: {answer}");
    }
    assert!(!d.opened_file().exists(), "nothing was opened");

    // Filter by kind.
    s.click(".chip[data-kind='like']").await;
    s.until_count(".row", 1).await;

    // Opening a row opens its page and marks it read; the server hears of it
    // once no unread like is left.
    s.click(".row").await;
    assert_eq!(d.opened().await, "https://example.com/p/1");
    s.until_js(
        "the row to show as read",
        "return document.querySelector('.row').classList.contains('unread')",
        json!(false),
    )
    .await;
    s.until("the server to count the like read", || async {
        let c = server.counts(USER).await;
        (c.likes == 0 && c.replies == 1).then_some(())
    })
    .await;

    // Live: a new like shows up while the window is open.
    server.publish(USER, "like", "Cy", "Live").await;
    s.until_count(".row", 2).await;

    // Mark all as read.
    s.click(".chip[data-kind='']").await;
    s.click("#mark-all").await;
    s.until_count(".row.unread", 0).await;
    s.until("the server to count everything read", || async {
        let c = server.counts(USER).await;
        (c.total() == 0).then_some(())
    })
    .await;

    // Escape closes the window; Chime stays in the tray with its link, and
    // the tray opens the inbox again.
    let mut d = d;
    let item = d.tray_item().await;
    s.press("\u{E00C}").await;
    s.until("the window to go", || async {
        (!s.switch_to_any_window().await).then_some(())
    })
    .await;
    assert_eq!(server.connections(), 1);
    item.click("Open inbox…").await;
    s.attach().await;
    s.until_count(".row", 3).await;
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_shows_every_row_around_a_bad_one_and_pages_through_all_it_keeps() {
    use chime_engine::{InboxState, NewItem};
    use chime_proto::protocol::{Event, Kind, Target};
    let d = Desktop::start(true).await;
    {
        let mut store =
            chime_store::Store::open(&d.data_home().join("chime/inbox.sqlite3")).expect("inbox");
        let event = |seq: u64, time: i64| {
            NewItem::Event(Event {
                seq,
                kind: Kind::Like,
                actor: format!("user{seq}"),
                target: Target {
                    title: format!("post {seq}"),
                    url: format!("https://example.com/p/{seq}"),
                },
                time,
                message: None,
            })
        };
        let state = InboxState::default();
        let now = 1_764_000_000_000;
        let items: Vec<_> = (1..=1_199)
            .map(|s| event(s, now - s as i64 * 1000))
            .collect();
        let source = chime_store::DEFAULT_SOURCE;
        store.record(source, &items, &state, now).expect("record");
        // A row an older Chime stored with a time in nanoseconds: it sorts
        // first, and a window that formats it naively shows nothing at all.
        let nanos = 1_764_000_000_000_000_000;
        store
            .record(source, &[event(5_000, nanos)], &state, nanos)
            .expect("record the bad row");
    }
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "inbox"]).await;
    s.until_count(".row", 500).await;
    let first = s
        .exec(
            "return document.querySelector('.row .title').textContent",
            json!([]),
        )
        .await;
    assert_eq!(first, json!("post 5000"), "the bad row shows, first");
    for shown in [1000, 1200] {
        s.click("#more").await;
        s.until_count(".row", shown).await;
    }
    s.until_js(
        "no more to show",
        "return document.getElementById('more').hidden",
        json!(true),
    )
    .await;
    let last = s
        .exec(
            "const r = document.querySelectorAll('.row .title'); return r[r.length - 1].textContent",
            json!([]),
        )
        .await;
    assert_eq!(last, json!("post 1199"));
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyring_that_comes_up_after_chime_is_used_once_it_answers() {
    let server = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    let save = || async {
        s.type_into("#url", &server.native_url()).await;
        s.select("#auth", "token").await;
        s.type_into("#secret", TOKEN).await;
        s.click("#save").await;
        s.until("Saved.", || async {
            (s.text("#save-result").await == "Saved.").then_some(())
        })
        .await;
    };
    // No Secret Service yet (as at login, before the keyring daemon).
    save().await;
    let file = d.config_home().join("chime/secrets.json");
    assert!(file.exists(), "the 0600 file stood in");
    assert!(s
        .text("#secret-storage")
        .await
        .contains("readable only by you"));

    // The keyring comes up; the next save goes there and the file goes.
    let _keyring = d.start_keyring().await;
    s.exec(
        "document.getElementById('save-result').textContent = ''",
        json!([]),
    )
    .await;
    save().await;
    // ("No system keyring answered" names it too: the whole sentence.)
    s.until("the keyring to be named", || async {
        s.text("#secret-storage")
            .await
            .contains("kept in the system keyring")
            .then_some(())
    })
    .await;
    assert!(!file.exists(), "no copy left in the file");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_names_each_rows_source_filters_by_source_and_searches() {
    let blog = TestServer::start(server_config()).await;
    let work = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    let driver = Driver::start(&d).await;
    let (b, w) = (blog.native_url(), work.native_url());
    let s = driver
        .session(&[
            "--server", &b, "--token", TOKEN, "--name", "Blog", "--server", &w, "--token", TOKEN,
            "--name", "Work", "--open", "inbox",
        ])
        .await;
    s.until("both links", || async {
        (blog.connections() > 0 && work.connections() > 0).then_some(())
    })
    .await;
    blog.publish(USER, "like", "Ann", "Holiday photos").await;
    work.publish(USER, "reply", "Bo", "Quarterly report").await;
    work.publish(USER, "like", "Cy", "Budget 100% done").await;
    let rows = "return Array.from(document.querySelectorAll('.row')).map(r => \
                [r.querySelector('.source').textContent, r.querySelector('.title').textContent])";
    s.until_js(
        "three rows, each naming its source",
        &format!("{rows}.sort((a, b) => a[1] < b[1] ? -1 : 1)"),
        json!([
            ["Work", "Budget 100% done"],
            ["Blog", "Holiday photos"],
            ["Work", "Quarterly report"]
        ]),
    )
    .await;
    // Filter by source.
    s.until_js(
        "the source filter",
        "return !document.getElementById('source').hidden",
        json!(true),
    )
    .await;
    s.select("#source", "cli:Work").await;
    s.until_count(".row", 2).await;
    // And search within it (a literal %).
    s.type_into("#search", "100%").await;
    s.until_count(".row", 1).await;
    assert_eq!(s.text(".row .title").await, "Budget 100% done");
    // Mark all read marks what is shown: Work's rows, not Blog's.
    s.type_into("#search", "").await;
    s.until_count(".row", 2).await;
    s.click("#mark-all").await;
    s.until("Work counted read", || async {
        (work.counts(USER).await.total() == 0).then_some(())
    })
    .await;
    assert_eq!(blog.counts(USER).await.likes, 1, "Blog untouched");
    s.select("#source", "").await;
    s.until_count(".row.unread", 1).await;
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_keeps_saying_the_inbox_is_in_memory_after_a_save() {
    let blog = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    // A file where Chime's data directory should be (WebKit keeps its
    // own beside it): the inbox stays in memory for the whole run, and
    // Settings says so before and after a save.
    std::fs::create_dir_all(d.data_home()).expect("data home");
    std::fs::write(d.data_home().join("chime"), b"not a directory").expect("write");
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    let before = s.text("#notices").await;
    assert!(before.contains("kept in memory"), "{before}");
    fill_token_source(&s, "Blog", &blog.native_url(), Some(TOKEN)).await;
    save_and_wait(&s).await;
    let after = s.text("#notices").await;
    assert!(after.contains("kept in memory"), "{after}");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_secret_never_goes_to_a_source_added_in_its_place_or_to_a_moved_address() {
    let blog = TestServer::start(server_config()).await;
    // Knows the same token: a leaked one would be accepted here.
    let other = TestServer::start(server_config()).await;
    let d = Desktop::start(true).await;
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    fill_token_source(&s, "Blog", &blog.native_url(), Some(TOKEN)).await;
    save_and_wait(&s).await;
    s.until("Blog's link", || async {
        (blog.connections() == 1).then_some(())
    })
    .await;

    // Remove Blog and add another source in the same visit: a new id, no
    // saved secret offered, none sent.
    s.click(".sources li:nth-child(1) .remove").await;
    fill_token_source(&s, "Other", &other.native_url(), None).await;
    let placeholder = s
        .exec(
            "return document.getElementById('secret').placeholder",
            json!([]),
        )
        .await;
    assert!(
        !placeholder
            .as_str()
            .unwrap_or_default()
            .starts_with("Saved"),
        "{placeholder}"
    );
    s.click("#save").await;
    let why = field_error(&s, "source.secret").await;
    assert!(why.contains("enter the secret"), "{why}");
    s.click("#test").await;
    let outcome = s
        .until("Test connection's outcome", || async {
            let t = s.text("#test-result").await;
            (!t.is_empty() && !t.starts_with("Testing")).then_some(t)
        })
        .await;
    assert!(!outcome.starts_with("Connected"), "{outcome}");
    assert_eq!(
        other.connections_total(),
        0,
        "Blog's token never reached it"
    );
    s.quit().await;

    // Blog kept (the edit was not saved); moving its address elsewhere
    // asks for the secret again.
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    s.type_into("#url", &other.native_url()).await;
    s.click("#save").await;
    let why = field_error(&s, "source.secret").await;
    assert!(why.contains("enter the secret"), "{why}");
    assert_eq!(other.connections_total(), 0, "nor after a move");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_source_added_in_settings_connects_and_once_removed_leaves_nothing() {
    let blog = TestServer::start(server_config()).await;
    let work = TestServer::start(server_config()).await;
    let mut d = Desktop::start(true).await;
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    fill_token_source(&s, "Blog", &blog.native_url(), Some(TOKEN)).await;
    s.click("#add-source").await;
    fill_token_source(&s, "Work", &work.native_url(), Some(TOKEN)).await;
    save_and_wait(&s).await;
    s.until("both links", || async {
        (blog.connections() == 1 && work.connections() == 1).then_some(())
    })
    .await;
    let file = d.config_home().join("chime/settings.json");
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("settings")).expect("json");
    assert_eq!(settings["sources"][0]["name"], "Blog");
    assert_eq!(settings["sources"][1]["name"], "Work");
    let work_id = settings["sources"][1]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let item = d.tray_item().await;
    d.poll("a section each", || async {
        let labels = item.labels().await;
        (labels.iter().any(|l| l.starts_with("Blog — Connected"))
            && labels.iter().any(|l| l.starts_with("Work — Connected")))
        .then_some(())
    })
    .await;
    work.publish(USER, "like", "Ann", "p").await;
    let db = d.data_home().join("chime/inbox.sqlite3");
    let rows_of = |id: &str| {
        chime_store::Store::open(&db)
            .and_then(|st| st.unread(Some(id), chime_proto::Kind::Like))
            .unwrap_or(0)
    };
    d.poll("Work's row", || async {
        (rows_of(&work_id) == 1).then_some(())
    })
    .await;
    let secrets = d.config_home().join("chime/secrets.json");
    let has_secret = |id: &str| {
        std::fs::read_to_string(&secrets)
            .unwrap_or_default()
            .contains(&format!("token@source:{id}"))
    };
    assert!(has_secret(&work_id));

    // Changing one source reconnects that one only.
    let (blog_before, work_before) = (blog.connections_total(), work.connections_total());
    s.click(".sources li:nth-child(2) .pick").await;
    s.until_js(
        "Work in the form",
        "return document.getElementById('name').value",
        json!("Work"),
    )
    .await;
    s.type_into("#heartbeat", "20").await;
    save_and_wait(&s).await;
    s.until("Work to reconnect", || async {
        (work.connections_total() > work_before && work.connections() == 1).then_some(())
    })
    .await;
    assert_eq!(blog.connections_total(), blog_before, "Blog kept its link");

    // Its address moves (the menu keeps its shape): "Open …" names the new
    // host, not the old one. A moved address needs its secret again.
    let old_host = work
        .native_url()
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let new_host = old_host.replace("127.0.0.1", "localhost");
    let moved = work.native_url().replace(&old_host, &new_host);
    s.type_into("#url", &moved).await;
    s.type_into("#secret", TOKEN).await;
    save_and_wait(&s).await;
    d.poll("the menu to name the moved host", || async {
        let labels = item.labels().await;
        (labels.contains(&format!("Open {new_host}"))
            && !labels.contains(&format!("Open {old_host}")))
        .then_some(())
    })
    .await;

    // Remove it: its link, rows and secret go; Blog stays.
    s.click(".sources li:nth-child(2) .remove").await;
    save_and_wait(&s).await;
    s.until("Work's link closed", || async {
        (work.connections() == 0).then_some(())
    })
    .await;
    // Its rows go once its link is down (the controller is the one writer).
    s.until("its rows went", || async {
        (rows_of(&work_id) == 0).then_some(())
    })
    .await;
    assert!(!has_secret(&work_id), "its secret went");
    assert!(has_secret("default"), "Blog's stays");
    assert_eq!(blog.connections(), 1);
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chime_link_fills_in_a_source_for_the_user_to_confirm_and_carries_no_secret() {
    let d = Desktop::start(true).await;
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    // A site's "Add to Chime" link, opened while Chime runs: the desktop
    // starts `chime <link>`, which hands it to the running Chime.
    let link = "chime://add?url=wss%3A%2F%2Fpush.example.com%2Fv1%2Fstream%3Ftoken%3Devil&protocol=native&name=Linked&password=evil";
    let mut second = d.launch(&[link]);
    d.exited("the second launch to hand over", &mut second)
        .await;
    s.until_js(
        "the proposed source in the form",
        "return [document.getElementById('name').value, document.getElementById('url').value, document.getElementById('dialect').value]",
        json!(["Linked", "wss://push.example.com/v1/stream", "native"]),
    )
    .await;
    assert!(s.text("#notices").await.contains("A link proposes"));
    let file = d.config_home().join("chime/settings.json");
    assert!(!file.exists(), "nothing is added before the user saves");
    save_and_wait(&s).await;
    let text = std::fs::read_to_string(&file).expect("settings");
    assert!(text.contains("\"Linked\""), "{text}");
    assert!(!text.contains("evil"), "no secret from the link: {text}");
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ntfy_server_with_three_topics_and_a_gotify_server_added_in_settings_fill_the_inbox() {
    use chime_e2e::push::{GotifyServer, NtfyServer};
    let ntfy = NtfyServer::start().await;
    let gotify = GotifyServer::start("Cweb", &["Backups"]).await;
    let mut d = Desktop::start(true).await;
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    // ntfy: the protocol, then the address as ntfy's apps show it.
    s.type_into("#name", "Home").await;
    s.select("#dialect", "ntfy").await;
    s.until_js(
        "the ntfy form",
        "return [document.getElementById('heartbeat-field').hidden, document.getElementById('priority-field').hidden, document.getElementById('url').placeholder]",
        json!([true, false, "https://ntfy.sh/topic1,topic2"]),
    )
    .await;
    s.type_into("#url", &ntfy.url("alerts,backups,ci")).await;
    // Gotify: base URL and a client token, deleting what is read.
    s.click("#add-source").await;
    s.type_into("#name", "NAS").await;
    s.select("#dialect", "gotify").await;
    s.type_into("#url", &gotify.url()).await;
    s.select("#auth", "token").await;
    s.type_into("#secret", "Cweb").await;
    s.click("#delete-read").await;
    save_and_wait(&s).await;
    gotify.until_lists(1).await;
    s.until("ntfy's link", || async {
        (ntfy.connections_total() >= 1).then_some(())
    })
    .await;
    let file = d.config_home().join("chime/settings.json");
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("settings")).expect("json");
    assert_eq!(settings["sources"][0]["dialect"], "ntfy");
    assert_eq!(settings["sources"][1]["dialect"], "gotify");
    assert_eq!(settings["sources"][1]["delete_on_read"], true);

    ntfy.publish(
        "ci",
        json!({"title": "Build", "message": "**green** <img src=x onerror=\"document.title='pwned'\">",
               "content_type": "text/markdown", "priority": 4, "tags": ["tada", "main"],
               "actions": [{"action": "view", "label": "Logs", "url": "https://ci.example/logs"}]}),
    );
    let gid = gotify.publish(1, "Backup done", "42 GB", 5, json!(null));
    // The inbox, opened from the tray once Settings is closed (the
    // session then has one window to attach to).
    let item = d.tray_item().await;
    s.press("\u{E00C}").await;
    s.until("Settings to close", || async {
        (!s.switch_to_any_window().await).then_some(())
    })
    .await;
    item.click("Open inbox…").await;
    s.attach().await;
    s.until_count(".row", 2).await;
    let rows = "return Array.from(document.querySelectorAll('.row')).map(r => \
                [r.querySelector('.title').textContent, r.querySelector('.body') ? r.querySelector('.body').textContent : '', \
                 r.querySelector('.who').textContent])";
    let got = s.exec(rows, json!([])).await;
    let got = got.as_array().expect("rows").clone();
    assert!(
        got.contains(&json!([
            "🎉 Build",
            "green <img src=x onerror=\"document.title='pwned'\">",
            "ci"
        ])),
        "{got:?}"
    );
    assert!(
        got.contains(&json!(["Backup done", "42 GB", "Backups"])),
        "{got:?}"
    );
    // Markdown became elements of ours; the server's HTML stayed text.
    let made = s
        .exec("return [document.querySelectorAll('.body strong').length, document.querySelectorAll('img').length]", json!([]))
        .await;
    assert_eq!(made, json!([1, 0]));
    assert_eq!(s.title().await, "Chime — Inbox");
    let prio = s
        .exec(
            "return document.querySelector('.prio').textContent",
            json!([]),
        )
        .await;
    assert_eq!(prio, json!("high"));
    // The message's button opens its link.
    s.click(".row .link").await;
    assert_eq!(d.opened().await, "https://ci.example/logs");
    // Filter by messages, then read the Gotify one: the server deletes it.
    s.click(".chip[data-kind='message']").await;
    s.until_count(".row", 2).await;
    s.click("#mark-all").await;
    s.until_count(".row.unread", 0).await;
    gotify.until_deleted(&[gid]).await;
    s.quit().await;
}

/// Press "Sign in with your server", play the browser (approve, follow
/// the redirect home), and wait for the page to have the token.
async fn sign_in_with_the_browser(s: &Session, d: &Desktop) {
    let _ = std::fs::remove_file(d.opened_file());
    s.until_js(
        "the sign-in button",
        "return document.getElementById('sign-in-box').hidden",
        json!(false),
    )
    .await;
    s.click("#sign-in").await;
    let page = d.opened().await;
    let (status, _) = chime_e2e::fedi::browse(&page).await;
    assert_eq!(status, 200, "the browser came home");
    s.until("signed in", || async {
        (s.text("#sign-in-result").await == "Signed in. Save to keep it.").then_some(())
    })
    .await;
    assert_eq!(value(s, "auth").await, json!("token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_to_mastodon_and_misskey_from_settings_fills_the_inbox_with_their_notifications()
{
    use chime_e2e::fedi::{IdShape, MastodonServer, MisskeyServer};
    let mastodon = MastodonServer::start("unused", IdShape::Digits).await;
    let misskey = MisskeyServer::start("unused").await;
    let mut d = Desktop::start(true).await;
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    s.type_into("#name", "Mastodon").await;
    s.select("#dialect", "mastodon").await;
    s.type_into("#url", &mastodon.url()).await;
    sign_in_with_the_browser(&s, &d).await;
    // README's picture of it (`CHIME_SHOTS_DIR=docs/screenshots`).
    if let Some(dir) = std::env::var_os("CHIME_SHOTS_DIR") {
        s.screenshot(&std::path::Path::new(&dir).join("settings-sign-in.png"))
            .await;
    }
    s.click("#add-source").await;
    s.type_into("#name", "Misskey").await;
    s.select("#dialect", "misskey").await;
    s.type_into("#url", &misskey.url()).await;
    sign_in_with_the_browser(&s, &d).await;
    save_and_wait(&s).await;
    s.until("both streams", || async {
        (mastodon.connections_total() >= 1 && misskey.connections_total() >= 1).then_some(())
    })
    .await;
    // The token went to the keyring, not the settings file.
    let file = d.config_home().join("chime/settings.json");
    let text = std::fs::read_to_string(&file).expect("settings");
    assert!(
        !text.contains("mastodon-token") && !text.contains("miauth-token"),
        "{text}"
    );

    mastodon.notify("favourite", "alice", "My <b>post</b>", false);
    mastodon.notify("mention", "bob", "Nice!", true);
    misskey.notify("reaction", "👎", "Carol", "my note");
    let item = d.tray_item().await;
    s.press("\u{E00C}").await;
    s.until("Settings to close", || async {
        (!s.switch_to_any_window().await).then_some(())
    })
    .await;
    item.click("Open inbox…").await;
    s.attach().await;
    s.until_count(".row", 3).await;
    let who = s
        .exec(
            "return Array.from(document.querySelectorAll('.row .who')).map(w => w.textContent).sort()",
            json!([]),
        )
        .await;
    assert_eq!(who, json!(["by Carol", "by alice", "by bob"]));
    assert_eq!(
        s.exec(
            "return document.querySelectorAll('b, img').length",
            json!([])
        )
        .await,
        json!(0),
        "no markup from the servers"
    );
    s.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_windows_follow_the_desktops_dark_or_light_preference_as_it_changes() {
    let d = Desktop::start(true).await;
    d.set_color_scheme(1).await;
    let driver = Driver::start(&d).await;
    let s = driver.session(&["--open", "settings"]).await;
    settings_loaded(&s).await;
    let dark = "return window.matchMedia('(prefers-color-scheme: dark)').matches";
    s.until_js("dark, as the desktop prefers", dark, json!(true))
        .await;
    d.set_color_scheme(2).await;
    s.until_js("light, once the desktop says so", dark, json!(false))
        .await;
    d.set_color_scheme(1).await;
    s.until_js("dark again", dark, json!(true)).await;
    s.quit().await;
}
