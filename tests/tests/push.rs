//! ntfy and Gotify end to end: chime-client's driver against the test
//! servers in `chime_e2e::push` (written from each project's public API
//! docs), through server crashes, client restarts, bad sign-ins and
//! hostile frames. Every message arrives exactly once.

use std::collections::HashSet;
use std::time::Duration;

use chime_e2e::push::{GotifyServer, NtfyServer};
use chime_e2e::{message_ids, Watcher, SOON};
use chime_engine::{Auth, Config, ConnState, InboxState, NewItem, Secret, ServerProfile};
use chime_proto::Dialect;
use serde_json::json;

fn config(dialect: Dialect) -> Config {
    Config {
        dialect,
        heartbeat: chime_engine::policy::Heartbeat::SERVER_PINGS,
        backoff: chime_engine::policy::Backoff {
            first: Duration::from_millis(20),
            cap: Duration::from_millis(200),
            ..chime_engine::policy::Backoff::RECONNECT
        },
        ..Config::default()
    }
}

fn profile(url: &str, dialect: Dialect, auth: Auth) -> ServerProfile {
    let mut p = ServerProfile::for_dialect(url, dialect).expect("profile");
    p.auth = auth;
    p
}

fn assert_once(items: &[NewItem], want: &[String]) {
    let got = message_ids(items);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "a message arrived twice: {got:?}");
    assert_eq!(got, want, "every message once, in order");
}

async fn until_messages(w: &mut Watcher, n: usize) {
    w.until(SOON, &format!("{n} messages"), |w| {
        message_ids(&w.items).len() >= n
    })
    .await;
}

#[tokio::test]
async fn ntfy_topics_on_one_socket_resume_by_id_through_a_crash_and_a_client_restart() {
    let mut server = NtfyServer::start().await;
    let p = profile(&server.url("alerts,backups,ci"), Dialect::Ntfy, Auth::None);
    let mut w = Watcher::resume(p.clone(), config(Dialect::Ntfy), InboxState::default());
    w.until_connected(SOON).await;
    w.until(SOON, "the first counts", |w| w.counts.is_some())
        .await;
    let mut want = Vec::new();
    for (topic, n) in [("alerts", 1), ("backups", 2), ("ci", 3), ("other", 4)] {
        let id = server.publish(topic, json!({"message": format!("m{n}")}));
        if topic != "other" {
            want.push(id);
        }
    }
    until_messages(&mut w, 3).await;
    // The server dies; messages are published meanwhile (another
    // instance, the same cache); it comes back.
    server.kill();
    w.until_state(SOON, "the link to drop", |s| !s.is_connected())
        .await;
    for n in 0..5 {
        want.push(server.publish("alerts", json!({"message": format!("during outage {n}")})));
    }
    server.restart().await;
    until_messages(&mut w, want.len()).await;
    assert_once(&w.items, &want);
    // Chime closes; more is published; it starts again from what it saved.
    let last = want.last().cloned();
    w.until(SOON, "the cursor at the last message", |w| {
        w.saved.as_ref().and_then(|s| s.cursor.clone()) == last
    })
    .await;
    let saved = w.saved.clone().expect("a resume state");
    let unread = saved.local_unread;
    assert_eq!(unread, want.len() as u64, "unread messages are kept");
    w.stop().await;
    for n in 0..3 {
        want.push(server.publish("ci", json!({"message": format!("while closed {n}")})));
    }
    let mut again = Watcher::resume(p, config(Dialect::Ntfy), saved);
    until_messages(&mut again, 3).await;
    assert_once(&again.items, &want[want.len() - 3..]);
    // Resumed by message id, never by time.
    let sinces = server.sinces();
    assert_eq!(sinces[0], None);
    assert!(
        sinces[1..]
            .iter()
            .all(|s| s.as_deref().is_some_and(|s| s.len() == 12)),
        "{sinces:?}"
    );
    again
        .until(SOON, "the badge with the 3 new", |w| {
            w.counts.map(|c| c.messages) == Some(unread + 3)
        })
        .await;
    again.stop().await;
}

#[tokio::test]
async fn ntfy_sign_ins_work_as_headers_and_as_the_auth_parameter_and_a_bad_one_stops_politely() {
    let server = NtfyServer::start().await;
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("phil:secret")
    );
    server.require_auth(&["Bearer tk_good", &basic]);
    let url = server.url("alerts");
    let cases = [
        ("bearer", Auth::Bearer(Secret::new("tk_good")), true),
        (
            "basic",
            Auth::Basic {
                user: "phil".into(),
                password: Secret::new("secret"),
            },
            true,
        ),
        (
            "?auth= token",
            Auth::Query {
                name: "auth".into(),
                value: Secret::new("tk_good"),
            },
            true,
        ),
        (
            "?auth= user:password",
            Auth::Query {
                name: "auth".into(),
                value: Secret::new("phil:secret"),
            },
            true,
        ),
        ("wrong token", Auth::Bearer(Secret::new("tk_bad")), false),
        ("none", Auth::None, false),
    ];
    for (what, auth, ok) in cases {
        let mut w = Watcher::resume(
            profile(&url, Dialect::Ntfy, auth),
            config(Dialect::Ntfy),
            InboxState::default(),
        );
        if ok {
            w.until_connected(SOON).await;
            let id = server.publish("alerts", json!({"message": what}));
            until_messages(&mut w, 1).await;
            assert_eq!(message_ids(&w.items), vec![id], "{what}");
        } else {
            w.until_state(SOON, "sign-in failed", |s| {
                matches!(s, ConnState::AuthFailed { .. })
            })
            .await;
        }
        w.stop().await;
    }
}

#[tokio::test]
async fn ntfy_fields_priorities_and_links_arrive_cleaned_and_hostile_frames_leave_the_link_up() {
    let server = NtfyServer::start().await;
    let mut w = Watcher::resume(
        profile(&server.url("alerts"), Dialect::Ntfy, Auth::None),
        config(Dialect::Ntfy),
        InboxState::default(),
    );
    w.until_connected(SOON).await;
    w.until(SOON, "the first counts", |w| w.counts.is_some())
        .await;
    server.send_raw("{not json");
    server.send_raw(r#"{"event":"message","id":"x y","message":"bad id"}"#);
    server.send_raw(r#"{"event":"message","id":"abc","priority":99}"#);
    server.send_raw(r#"{"event":"message","id":"abd","time":-1}"#);
    server.send_raw(&format!(
        r#"{{"event":"message","id":"big","message":"{}"}}"#,
        "x".repeat(70 * 1024)
    ));
    w.until_connected(SOON).await;
    let id = server.publish(
        "alerts",
        json!({"title": "Disk\u{1b}[2J full", "message": "line one\nline two\u{202e}", "priority": 5,
               "tags": ["warning", "nas"], "click": "https://nas.example/disk",
               "actions": [{"action": "view", "label": "Open NAS", "url": "https://nas.example/"},
                           {"action": "http", "label": "Reboot", "url": "https://nas.example/reboot"},
                           {"action": "view", "label": "Evil", "url": "file:///etc/passwd"}]}),
    );
    w.until(SOON, "the published message", |w| {
        message_ids(&w.items).contains(&id)
    })
    .await;
    let message = |want: &str| {
        w.items
            .iter()
            .find_map(|i| match i {
                NewItem::Event(e) if e.message.as_ref().is_some_and(|m| m.id == want) => {
                    Some(e.clone())
                }
                _ => None,
            })
            .expect("stored")
    };
    // An out-of-range priority is clamped, never a reason to drop the message.
    let clamped = message("abc");
    assert_eq!(clamped.message.as_ref().map(|m| m.priority), Some(5));
    let e = message(&id);
    let m = e.message.as_ref().expect("a message");
    assert_eq!(e.target.title, "Disk[2J full", "control characters removed");
    assert_eq!(m.body, "line one\nline two");
    assert_eq!(m.priority, 5);
    assert_eq!(e.target.url, "https://nas.example/disk");
    let links: Vec<&str> = m.links.iter().map(|l| l.url.as_str()).collect();
    assert_eq!(links, ["https://nas.example/"]);
    assert!(w.notices.len() >= 3, "{:?}", w.notices);
    w.stop().await;
}

#[tokio::test]
async fn an_ntfy_burst_of_a_thousand_messages_is_stored_once_each() {
    let server = NtfyServer::start().await;
    let mut w = Watcher::resume(
        profile(&server.url("burst"), Dialect::Ntfy, Auth::None),
        config(Dialect::Ntfy),
        InboxState::default(),
    );
    w.until_connected(SOON).await;
    w.until(SOON, "the first counts", |w| w.counts.is_some())
        .await;
    let want: Vec<String> = (0..1000)
        .map(|n| server.publish("burst", json!({"message": format!("n{n}")})))
        .collect();
    until_messages(&mut w, 1000).await;
    assert_once(&w.items, &want);
    w.until(SOON, "the badge at 1000", |w| {
        w.counts.map(|c| c.messages) == Some(1000)
    })
    .await;
    w.stop().await;
}

#[tokio::test]
async fn gotify_pages_back_after_a_crash_and_a_restart_and_labels_messages_with_their_application()
{
    let mut server = GotifyServer::start("Ctoken", &["Backups", "CI"]).await;
    let p = profile(
        &server.url(),
        Dialect::Gotify,
        Auth::Bearer(Secret::new("Ctoken")),
    );
    // Old messages from before Chime knew the server are not announced.
    for n in 0..3 {
        server.publish(1, "old", &format!("old {n}"), 5, json!(null));
    }
    let mut w = Watcher::resume(p.clone(), config(Dialect::Gotify), InboxState::default());
    w.until_connected(SOON).await;
    w.until(SOON, "the first sync", |w| {
        w.saved
            .as_ref()
            .is_some_and(|s| s.cursor.as_deref() == Some("3"))
    })
    .await;
    let mut want = Vec::new();
    want.push(
        server
            .publish(
                2,
                "build",
                "green",
                5,
                json!({"client::notification": {"click": {"url": "https://ci.example/1"}}}),
            )
            .to_string(),
    );
    until_messages(&mut w, 1).await;
    // A crash and 250 messages while it is down: more than two pages.
    server.kill();
    w.until_state(SOON, "the link to drop", |s| !s.is_connected())
        .await;
    for n in 0..250 {
        want.push(
            server
                .publish(1, "nightly", &format!("during outage {n}"), 5, json!(null))
                .to_string(),
        );
    }
    server.restart().await;
    w.until(Duration::from_secs(20), "all messages", |w| {
        message_ids(&w.items).len() >= want.len()
    })
    .await;
    assert_once(&w.items, &want);
    let NewItem::Event(first) = &w.items[0] else {
        panic!()
    };
    assert_eq!(first.actor, "CI");
    assert_eq!(first.target.url, "https://ci.example/1");
    let NewItem::Event(last) = w.items.last().expect("items") else {
        panic!()
    };
    assert_eq!(last.actor, "Backups");
    // Chime closed while three come; started again, it finds them once.
    w.until(SOON, "the cursor past the outage", |w| {
        w.saved.as_ref().and_then(|s| s.cursor.clone()) == want.last().cloned()
    })
    .await;
    let saved = w.saved.clone().expect("saved");
    w.stop().await;
    let closed: Vec<String> = (0..3)
        .map(|n| {
            server
                .publish(2, "deploy", &format!("while closed {n}"), 8, json!(null))
                .to_string()
        })
        .collect();
    let mut again = Watcher::resume(p, config(Dialect::Gotify), saved);
    until_messages(&mut again, 3).await;
    assert_once(&again.items, &closed);
    let NewItem::Event(e) = &again.items[0] else {
        panic!()
    };
    assert_eq!(
        e.message.as_ref().map(|m| m.priority),
        Some(5),
        "Gotify 8 is urgent"
    );
    again.stop().await;
}

#[tokio::test]
async fn gotify_takes_the_token_in_the_query_refuses_a_bad_one_and_skips_hostile_frames() {
    let server = GotifyServer::start("Cgood", &["App"]).await;
    let mut bad = Watcher::resume(
        profile(
            &server.url(),
            Dialect::Gotify,
            Auth::Bearer(Secret::new("Cbad")),
        ),
        config(Dialect::Gotify),
        InboxState::default(),
    );
    bad.until_state(SOON, "sign-in failed", |s| {
        matches!(s, ConnState::AuthFailed { .. })
    })
    .await;
    bad.stop().await;
    let query = Auth::Query {
        name: "token".into(),
        value: Secret::new("Cgood"),
    };
    let mut w = Watcher::resume(
        profile(&server.url(), Dialect::Gotify, query),
        config(Dialect::Gotify),
        InboxState::default(),
    );
    w.until_connected(SOON).await;
    w.until(SOON, "the first sync", |w| {
        w.saved.as_ref().is_some_and(|s| s.cursor.is_some())
    })
    .await;
    assert_eq!(server.list_requests(), 1);
    server.send_raw("]]");
    server.send_raw(r#"{"id":-4,"message":"negative"}"#);
    server.send_raw(r#"{"id":5,"priority":11}"#);
    server.send_raw(r#"{"id":9007199254740993}"#);
    let id = server
        .publish(
            1,
            "**bold**",
            "see <b>this</b>",
            4,
            json!({"client::display": {"contentType": "text/markdown"}}),
        )
        .to_string();
    until_messages(&mut w, 2).await;
    // Priority 11 is above Gotify's convention: clamped (urgent), kept.
    let mut ids = message_ids(&w.items);
    ids.sort();
    let mut want = vec!["5".to_owned(), id.clone()];
    want.sort();
    assert_eq!(ids, want);
    let event = |want: &str| {
        w.items.iter().find_map(|i| match i {
            NewItem::Event(e) if e.message.as_ref().is_some_and(|m| m.id == want) => Some(e),
            _ => None,
        })
    };
    assert_eq!(
        event("5")
            .and_then(|e| e.message.as_ref())
            .map(|m| m.priority),
        Some(5)
    );
    let e = event(&id).expect("the published message");
    assert!(e.message.as_ref().is_some_and(|m| m.markdown));
    w.until(SOON, "three notices", |w| w.notices.len() >= 3)
        .await;
    w.stop().await;
}

#[tokio::test]
async fn a_push_link_lives_on_the_servers_pings_alone_and_is_redialled_when_they_stop() {
    let server = NtfyServer::start().await;
    server.ping_every(Duration::from_millis(100));
    // Dead after 600 ms without a frame or a ping (45 s + 30 s in use).
    let config = Config {
        heartbeat: chime_engine::policy::Heartbeat {
            interval: Duration::from_millis(300),
            timeout: Duration::from_millis(300),
        },
        ..config(Dialect::Ntfy)
    };
    let p = profile(&server.url("alerts"), Dialect::Ntfy, Auth::None);
    let mut w = Watcher::resume(p, config, InboxState::default());
    w.until_connected(SOON).await;
    // 30 pings = 3 s, five times the dead-link limit: the pings alone keep
    // the link (Chime sends ntfy nothing).
    server.until_pings(30).await;
    assert_eq!(server.connections_total(), 1, "the link never dropped");
    let first = server.publish("alerts", json!({"message": "one"}));
    until_messages(&mut w, 1).await;
    // The link goes half-dead: open, but silent. Chime notices, redials,
    // and what was published meanwhile arrives once.
    server.silent(true);
    let lost = server.publish("alerts", json!({"message": "while silent"}));
    w.until_state(SOON, "the dead link noticed", |s| !s.is_connected())
        .await;
    server.silent(false);
    w.until_connected(SOON).await;
    until_messages(&mut w, 2).await;
    assert_once(&w.items, &[first, lost]);
    assert!(w
        .states
        .iter()
        .any(|(_, s)| matches!(s, ConnState::Waiting { reason, .. } if reason.contains("no sign of life"))));
    w.stop().await;
}

#[tokio::test]
async fn gotify_deletes_what_was_read_when_asked_and_what_was_read_offline_on_the_next_link() {
    let mut server = GotifyServer::start("Cdel", &["App"]).await;
    let p = profile(
        &server.url(),
        Dialect::Gotify,
        Auth::Bearer(Secret::new("Cdel")),
    );
    let mut w = Watcher::resume(p, config(Dialect::Gotify), InboxState::default());
    w.until_connected(SOON).await;
    server.until_lists(1).await;
    let a = server.publish(1, "a", "one", 5, json!(null));
    let b = server.publish(1, "b", "two", 5, json!(null));
    until_messages(&mut w, 2).await;
    w.handle()
        .send(chime_client::Command::Forget(vec![a.to_string()]));
    server.until_deleted(&[a]).await;
    // Read while the server is down: deleted once it is back.
    server.kill();
    w.until_state(SOON, "the drop", |s| !s.is_connected()).await;
    w.handle()
        .send(chime_client::Command::Forget(vec![b.to_string()]));
    w.until(SOON, "the deletion kept", |w| {
        w.saved
            .as_ref()
            .is_some_and(|s| s.forget == vec![b.to_string()])
    })
    .await;
    server.restart().await;
    server.until_deleted(&[a, b]).await;
    w.stop().await;
}

#[tokio::test]
async fn ntfy_updates_are_one_notification_and_clears_and_deletes_arrive_live_and_in_a_replay_in_order(
) {
    let mut server = NtfyServer::start().await;
    let p = profile(&server.url("ci"), Dialect::Ntfy, Auth::None);
    let mut w = Watcher::resume(p, config(Dialect::Ntfy), InboxState::default());
    w.until_connected(SOON).await;
    w.until(SOON, "the first counts", |w| w.counts.is_some())
        .await;
    // Live: a build's progress as one notification, then cleared.
    let first = server.publish(
        "ci",
        json!({"message": "building", "sequence_id": "build-7"}),
    );
    server.publish("ci", json!({"message": "50%", "sequence_id": "build-7"}));
    server.publish("ci", json!({"message": "done", "sequence_id": "build-7"}));
    until_messages(&mut w, 3).await;
    w.until(SOON, "one unread", |w| {
        w.counts.map(|c| c.messages) == Some(1)
    })
    .await;
    server.clear("ci", "build-7");
    w.until(SOON, "the clear", |w| !w.withdrawn.is_empty())
        .await;
    assert_eq!(w.withdrawn[0], (vec!["build-7".to_owned()], false));
    // While the link is down: a message, its update and its delete; and
    // another plain one. The replay brings them in order, and the cursor
    // moves past the delete.
    server.kill();
    w.until_state(SOON, "the link to drop", |s| !s.is_connected())
        .await;
    let gone = server.publish("ci", json!({"message": "deploy"}));
    server.publish(
        "ci",
        json!({"message": "deploy (retry)", "sequence_id": gone}),
    );
    server.delete("ci", &gone);
    let last = server.publish("ci", json!({"message": "other"}));
    server.restart().await;
    w.until(SOON, "the delete and the last one", |w| {
        w.withdrawn.len() == 2 && message_ids(&w.items).contains(&last)
    })
    .await;
    assert_eq!(w.withdrawn[1], (vec![gone.clone()], true));
    let ids = message_ids(&w.items);
    assert_eq!(ids[0], first);
    assert_eq!(
        ids.len(),
        6,
        "three versions of one, two of another, one plain: {ids:?}"
    );
    w.until(SOON, "the cursor at the last", |w| {
        w.saved.as_ref().and_then(|s| s.cursor.clone()) == Some(last.clone())
    })
    .await;
    w.stop().await;
}
