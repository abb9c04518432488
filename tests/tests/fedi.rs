//! Mastodon and Misskey end to end: chime-client's driver against the
//! test servers in `chime_e2e::fedi` (written from each project's public
//! API documentation), through crashes, restarts, reads on another
//! device, bad sign-ins and hostile frames. Every notification arrives
//! exactly once, and what is read on one side is read on the other.

use std::collections::HashSet;
use std::time::Duration;

use chime_e2e::fedi::{IdShape, MastodonServer, MisskeyServer};
use chime_e2e::{message_ids, Watcher, SOON};
use chime_engine::events::Command;
use chime_engine::{Auth, Config, ConnState, InboxState, NewItem, Secret, ServerProfile};
use chime_proto::{Dialect, Kind};

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

/// With a heartbeat this short the marker is read every 300 ms.
fn quick(dialect: Dialect) -> Config {
    Config {
        heartbeat: chime_engine::policy::Heartbeat {
            interval: Duration::from_millis(300),
            timeout: Duration::from_secs(30),
        },
        ..config(dialect)
    }
}

fn profile(url: &str, dialect: Dialect, token: &str) -> ServerProfile {
    let mut p = ServerProfile::for_dialect(url, dialect).expect("profile");
    p.auth = Auth::Bearer(Secret::new(token));
    p
}

fn assert_once(items: &[NewItem], want: &[String]) {
    let got = message_ids(items);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(
        unique.len(),
        got.len(),
        "a notification arrived twice: {got:?}"
    );
    assert_eq!(got, want, "every notification once, in order");
}

async fn until_n(w: &mut Watcher, n: usize) {
    w.until(SOON, &format!("{n} notifications"), |w| {
        message_ids(&w.items).len() >= n
    })
    .await;
}

fn kinds(items: &[NewItem]) -> Vec<Kind> {
    items.iter().map(NewItem::kind).collect()
}

/// Up to the first counts of a link, and where the server stood.
async fn connected(w: &mut Watcher) {
    w.until_connected(SOON).await;
    w.until(SOON, "the first counts", |w| w.counts.is_some())
        .await;
    w.until(SOON, "the first sync", |w| {
        w.saved.as_ref().is_some_and(|s| s.cursor.is_some())
    })
    .await;
}

async fn mastodon_survives_crashes_and_restarts_with_ids_shaped(shape: IdShape) {
    let mut server = MastodonServer::start("tok", shape).await;
    let p = profile(&server.url(), Dialect::Mastodon, "tok");
    let mut w = Watcher::resume(p.clone(), config(Dialect::Mastodon), InboxState::default());
    connected(&mut w).await;
    let mut want = vec![
        server.notify("favourite", "alice", "My first post", false),
        server.notify("mention", "bob", "Nice one!", true),
        server.notify("follow", "carol", "", false),
    ];
    until_n(&mut w, 3).await;
    assert_eq!(
        kinds(&w.items),
        vec![Kind::Like, Kind::Reply, Kind::Message]
    );
    // The stream is on its own port: the client found it and dialled it.
    assert_eq!(server.connections_total(), 1);
    // Crashes with notifications during each outage (more than a page).
    for round in 0..3 {
        server.kill();
        w.until_state(SOON, "the link to drop", |s| !s.is_connected())
            .await;
        for n in 0..45 {
            want.push(server.notify("favourite", "dave", &format!("post {round}.{n}"), false));
        }
        server.restart().await;
        until_n(&mut w, want.len()).await;
    }
    assert_once(&w.items, &want);
    // Chime closes; more comes; it starts again from what it saved.
    let last = want.last().cloned();
    w.until(SOON, "the cursor at the newest", |w| {
        w.saved.as_ref().and_then(|s| s.cursor.clone()) == last
    })
    .await;
    let saved = w.saved.clone().expect("a resume state");
    w.stop().await;
    for n in 0..3 {
        want.push(server.notify("mention", "erin", &format!("while closed {n}"), true));
    }
    let mut again = Watcher::resume(p, config(Dialect::Mastodon), saved);
    until_n(&mut again, 3).await;
    assert_once(&again.items, &want[want.len() - 3..]);
    again
        .until(SOON, "the badge with everything unread", |w| {
            w.counts.map(|c| c.total()) == Some(want.len() as u64)
        })
        .await;
    again.stop().await;
}

#[tokio::test]
async fn mastodon_notifications_arrive_once_through_crashes_and_a_restart_with_digit_ids() {
    mastodon_survives_crashes_and_restarts_with_ids_shaped(IdShape::Digits).await;
}

#[tokio::test]
async fn mastodon_notifications_arrive_once_through_crashes_and_a_restart_with_ulid_ids() {
    mastodon_survives_crashes_and_restarts_with_ids_shaped(IdShape::Ulid).await;
}

#[tokio::test]
async fn what_is_read_on_the_phone_clears_here_and_what_is_read_here_moves_the_marker() {
    let server = MastodonServer::start("tok", IdShape::Digits).await;
    let p = profile(&server.url(), Dialect::Mastodon, "tok");
    let mut w = Watcher::resume(p, quick(Dialect::Mastodon), InboxState::default());
    connected(&mut w).await;
    let ids: Vec<String> = (0..4)
        .map(|n| server.notify("favourite", "alice", &format!("p{n}"), false))
        .collect();
    w.until(SOON, "4 unread", |w| w.counts.map(|c| c.likes) == Some(4))
        .await;
    // Read up to the second on the phone: two stay unread here.
    server.read_elsewhere(&ids[1]);
    w.until(SOON, "the phone's read", |w| {
        w.counts.map(|c| c.likes) == Some(2)
    })
    .await;
    // Everything read on the phone: the badge comes down.
    server.read_elsewhere(&ids[3]);
    w.until(SOON, "all read", |w| w.counts.map(|c| c.total()) == Some(0))
        .await;
    // New ones, read here: the marker moves to the newest.
    let newer: Vec<String> = (0..2)
        .map(|n| server.notify("mention", "bob", &format!("r{n}"), true))
        .collect();
    w.until(SOON, "2 replies", |w| {
        w.counts.map(|c| c.replies) == Some(2)
    })
    .await;
    w.handle().send(Command::MarkRead(None));
    server.until_marker(&newer[1]).await;
    w.until(SOON, "the badge at 0", |w| {
        w.counts.map(|c| c.total()) == Some(0)
    })
    .await;
    w.stop().await;
}

#[tokio::test]
async fn an_older_server_is_found_through_v1_and_its_badge_kept_without_unread_count() {
    let server = MastodonServer::start("tok", IdShape::Digits).await;
    server.only_v1_instance(true);
    server.without_unread_count(true);
    let p = profile(&server.url(), Dialect::Mastodon, "tok");
    let mut w = Watcher::resume(p, quick(Dialect::Mastodon), InboxState::default());
    connected(&mut w).await;
    let id = server.notify("favourite", "alice", "p", false);
    until_n(&mut w, 1).await;
    server.read_elsewhere(&id);
    w.until(SOON, "read on the phone", |w| {
        w.counts.map(|c| c.total()) == Some(0)
    })
    .await;
    w.stop().await;
}

#[tokio::test]
async fn a_bad_mastodon_token_stops_politely_and_hostile_frames_leave_the_link_up() {
    let server = MastodonServer::start("tok", IdShape::Digits).await;
    let bad = profile(&server.url(), Dialect::Mastodon, "wrong");
    let mut w = Watcher::resume(bad, config(Dialect::Mastodon), InboxState::default());
    w.until_state(SOON, "the sign-in refused", |s| {
        matches!(s, ConnState::AuthFailed { .. })
    })
    .await;
    w.stop().await;

    let p = profile(&server.url(), Dialect::Mastodon, "tok");
    let mut w = Watcher::resume(p, config(Dialect::Mastodon), InboxState::default());
    connected(&mut w).await;
    for raw in [
        "{",
        r#"{"event":"notification","payload":"{\"id\":5}"}"#,
        r#"{"event":"notification","payload":"<script>"}"#,
        r#"{"event":"delete","payload":"105"}"#,
        r#"{"event":"filters_changed"}"#,
        r#"{"event":"announcement","payload":"{}"}"#,
        &"x".repeat(60_000),
    ] {
        server.send_raw(raw);
    }
    let id = server.notify(
        "favourite",
        "<b>mallory</b>",
        "<img src=x onerror=alert(1)>hi",
        false,
    );
    until_n(&mut w, 1).await;
    assert_eq!(message_ids(&w.items), vec![id]);
    let NewItem::Event(e) = &w.items[0] else {
        panic!("an event")
    };
    assert_eq!(e.target.title, "hi", "no markup from the server");
    assert!(w.last_state().is_some_and(ConnState::is_connected));
    assert_eq!(server.connections_total(), 1, "the link stayed up");
    w.stop().await;
}

#[tokio::test]
async fn misskey_catches_up_after_a_crash_without_ever_marking_anything_read() {
    let mut server = MisskeyServer::start("mk").await;
    let p = profile(&server.url(), Dialect::Misskey, "mk");
    let mut w = Watcher::resume(p.clone(), config(Dialect::Misskey), InboxState::default());
    connected(&mut w).await;
    let mut want = vec![
        server.notify("reaction", "❤", "Alice", "my note"),
        server.notify("reaction", "👎", "Bob", "my note"),
        server.notify("reply", "", "Carol", "an answer"),
    ];
    until_n(&mut w, 3).await;
    assert_eq!(
        kinds(&w.items),
        vec![Kind::Like, Kind::Dislike, Kind::Reply]
    );
    for round in 0..3 {
        server.kill();
        w.until_state(SOON, "the link to drop", |s| !s.is_connected())
            .await;
        for n in 0..120 {
            want.push(server.notify("reaction", "🎉", "Dave", &format!("{round}.{n}")));
        }
        server.restart().await;
        until_n(&mut w, want.len()).await;
    }
    assert_once(&w.items, &want);
    assert_eq!(
        server.marked_by_list(),
        0,
        "no catch-up marked anything read"
    );
    assert_eq!(
        server.unread(),
        want.len(),
        "the phone still sees them unread"
    );
    // Restarted from its saved state, it gets only what is new.
    let last = want.last().cloned();
    w.until(SOON, "the cursor at the newest", |w| {
        w.saved.as_ref().and_then(|s| s.cursor.clone()) == last
    })
    .await;
    let saved = w.saved.clone().expect("saved");
    w.stop().await;
    want.push(server.notify("follow", "", "Erin", ""));
    let mut again = Watcher::resume(p, config(Dialect::Misskey), saved);
    until_n(&mut again, 1).await;
    assert_once(&again.items, &want[want.len() - 1..]);
    again.stop().await;
}

#[tokio::test]
async fn misskey_reads_on_another_device_clear_here_and_reading_everything_here_tells_the_server() {
    let server = MisskeyServer::start("mk").await;
    let p = profile(&server.url(), Dialect::Misskey, "mk");
    let mut w = Watcher::resume(p, quick(Dialect::Misskey), InboxState::default());
    connected(&mut w).await;
    server.notify("reaction", "❤", "Alice", "n");
    server.notify("mention", "", "Bob", "hey");
    w.until(SOON, "2 unread", |w| w.counts.map(|c| c.total()) == Some(2))
        .await;
    server.read_elsewhere();
    w.until(SOON, "read elsewhere", |w| {
        w.counts.map(|c| c.total()) == Some(0)
    })
    .await;
    server.notify("reaction", "❤", "Carol", "n");
    w.until(SOON, "1 unread", |w| w.counts.map(|c| c.total()) == Some(1))
        .await;
    assert_eq!(server.unread(), 1);
    w.handle().send(Command::MarkRead(None));
    server.until_marked_all(1).await;
    assert_eq!(server.unread(), 0);
    w.stop().await;
}

#[tokio::test]
async fn a_bad_misskey_token_stops_politely() {
    let server = MisskeyServer::start("mk").await;
    let p = profile(&server.url(), Dialect::Misskey, "nope");
    let mut w = Watcher::resume(p, config(Dialect::Misskey), InboxState::default());
    w.until_state(SOON, "the sign-in refused", |s| {
        matches!(s, ConnState::AuthFailed { .. })
    })
    .await;
    w.stop().await;
}

#[tokio::test]
async fn signing_in_to_mastodon_with_pkce_gives_a_token_the_stream_takes() {
    use chime_client::signin::Pending;
    let server = MastodonServer::start("tok", IdShape::Digits).await;
    let typed = ServerProfile::for_dialect(&server.url(), Dialect::Mastodon).expect("address");
    let pending = Pending::begin(&typed).await.expect("begin");
    let page = pending.browser.clone();
    assert_eq!(page.path(), "/oauth/authorize");
    let q: std::collections::HashMap<_, _> = page.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["redirect_uri"].starts_with("http://127.0.0.1:"));
    // The browser's part: approve, and follow the redirect home.
    let browser = tokio::spawn(async move { chime_e2e::fedi::browse(page.as_str()).await });
    let token = pending.finish(SOON).await.expect("a token");
    let (status, body) = browser.await.expect("browser");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("close this tab"), "{body}");
    // Only the scopes Chime needs.
    assert_eq!(
        server.scopes_asked(),
        vec!["read:notifications read:accounts read:statuses write:statuses"]
    );
    // The token works.
    let p = profile(&server.url(), Dialect::Mastodon, token.expose());
    let mut w = Watcher::resume(p, config(Dialect::Mastodon), InboxState::default());
    connected(&mut w).await;
    server.notify("favourite", "alice", "signed in", false);
    until_n(&mut w, 1).await;
    w.stop().await;
}

#[tokio::test]
async fn a_sign_in_answered_with_another_state_or_a_refusal_gives_no_token() {
    use chime_client::signin::{Pending, SignInError};
    let server = MastodonServer::start("tok", IdShape::Digits).await;
    let typed = ServerProfile::for_dialect(&server.url(), Dialect::Mastodon).expect("address");
    for answer in [
        "state=forged&code=code-0",
        "error=access_denied&error_description=no%20thanks",
    ] {
        let pending = Pending::begin(&typed).await.expect("begin");
        let q: std::collections::HashMap<_, _> =
            pending.browser.query_pairs().into_owned().collect();
        let back = format!("{}?{answer}", q["redirect_uri"]);
        let browser = tokio::spawn(async move { chime_e2e::fedi::browse(&back).await });
        let e = pending.finish(SOON).await.expect_err("no token");
        assert!(matches!(e, SignInError::Declined(_)), "{e:?}");
        let _ = browser.await;
    }
    // A browser that never comes back.
    let pending = Pending::begin(&typed).await.expect("begin");
    assert_eq!(
        pending.finish(Duration::from_millis(50)).await.err(),
        Some(SignInError::TimedOut)
    );
    // A protocol without a browser sign-in.
    let ntfy =
        ServerProfile::for_dialect("https://ntfy.example/t", Dialect::Ntfy).expect("address");
    assert_eq!(Pending::begin(&ntfy).await.err(), Some(SignInError::NoFlow));
}

#[tokio::test]
async fn signing_in_to_misskey_with_miauth_gives_a_token_the_stream_takes() {
    use chime_client::signin::Pending;
    let server = MisskeyServer::start("mk").await;
    let typed = ServerProfile::for_dialect(&server.url(), Dialect::Misskey).expect("address");
    let pending = Pending::begin(&typed).await.expect("begin");
    let page = pending.browser.clone();
    assert!(page.path().starts_with("/miauth/"), "{page}");
    let browser = tokio::spawn(async move { chime_e2e::fedi::browse(page.as_str()).await });
    let token = pending.finish(SOON).await.expect("a token");
    assert_eq!(browser.await.expect("browser").0, 200);
    assert_eq!(
        server.permissions_asked(),
        vec!["read:account,read:notifications,write:notifications"]
    );
    let p = profile(&server.url(), Dialect::Misskey, token.expose());
    let mut w = Watcher::resume(p, config(Dialect::Misskey), InboxState::default());
    connected(&mut w).await;
    server.notify("reaction", "❤", "Alice", "n");
    until_n(&mut w, 1).await;
    w.stop().await;
}

/// Either account server, for the fault matrix both go through.
enum Account {
    Mastodon(MastodonServer),
    Misskey(MisskeyServer),
}

impl Account {
    async fn start(dialect: Dialect) -> Account {
        match dialect {
            Dialect::Mastodon => {
                Account::Mastodon(MastodonServer::start("tok", IdShape::Ulid).await)
            }
            _ => Account::Misskey(MisskeyServer::start("tok").await),
        }
    }
    fn url(&self) -> String {
        match self {
            Account::Mastodon(s) => s.url(),
            Account::Misskey(s) => s.url(),
        }
    }
    fn notify(&self, n: usize) -> String {
        match self {
            Account::Mastodon(s) => s.notify("favourite", "alice", &format!("p{n}"), false),
            Account::Misskey(s) => s.notify("reaction", "❤", "Alice", &format!("n{n}")),
        }
    }
    fn send_raw(&self, text: &str) {
        match self {
            Account::Mastodon(s) => s.send_raw(text),
            Account::Misskey(s) => s.send_raw(text),
        }
    }
    fn silent(&self, on: bool) {
        match self {
            Account::Mastodon(s) => s.silent(on),
            Account::Misskey(s) => s.silent(on),
        }
    }
    fn ping_every(&self, every: Duration) {
        match self {
            Account::Mastodon(s) => s.ping_every(every),
            Account::Misskey(s) => s.ping_every(every),
        }
    }
    fn connections_total(&self) -> u64 {
        match self {
            Account::Mastodon(s) => s.connections_total(),
            Account::Misskey(s) => s.connections_total(),
        }
    }
}

/// Sleep, a dead link, an oversize frame and a burst: every notification
/// once, in order.
async fn an_account_rides_out(dialect: Dialect) {
    let server = Account::start(dialect).await;
    server.ping_every(Duration::from_millis(200));
    let config = Config {
        heartbeat: chime_engine::policy::Heartbeat {
            interval: Duration::from_millis(300),
            timeout: Duration::from_millis(900),
        },
        ..config(dialect)
    };
    let p = profile(&server.url(), dialect, "tok");
    let mut w = Watcher::resume(p, config, InboxState::default());
    connected(&mut w).await;
    let mut want: Vec<String> = (0..3).map(|n| server.notify(n)).collect();
    until_n(&mut w, want.len()).await;
    // Sleep: the OS says it woke; the link is dialled again and what came
    // meanwhile is read back.
    w.handle().send(Command::Resumed);
    want.extend((3..6).map(|n| server.notify(n)));
    until_n(&mut w, want.len()).await;
    // A dead link (a NAT that forgot it): no pings, nothing; what is
    // published then arrives after the redial.
    let before = server.connections_total();
    server.silent(true);
    want.extend((6..9).map(|n| server.notify(n)));
    w.until_state(SOON, "the dead link noticed", |s| !s.is_connected())
        .await;
    server.silent(false);
    until_n(&mut w, want.len()).await;
    w.until(SOON, "the link back", |w| {
        w.last_state().is_some_and(ConnState::is_connected)
    })
    .await;
    assert!(server.connections_total() > before, "dialled again");
    // An oversize frame breaks the link; nothing is lost for it.
    server.send_raw(&"x".repeat(chime_proto::protocol::MAX_MESSAGE_BYTES + 1));
    want.extend((9..12).map(|n| server.notify(n)));
    until_n(&mut w, want.len()).await;
    // A burst.
    want.extend((12..1012).map(|n| server.notify(n)));
    until_n(&mut w, want.len()).await;
    // Each exactly once. (What the stream brings during a catch-up is
    // told at once, before the older ones the catch-up finds.)
    let got = message_ids(&w.items);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "a notification arrived twice");
    let missing: Vec<&String> = want.iter().filter(|id| !unique.contains(id)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert_eq!(got.len(), want.len());
    w.stop().await;
}

#[tokio::test]
async fn a_mastodon_account_rides_out_sleep_a_dead_link_an_oversize_frame_and_a_burst() {
    an_account_rides_out(Dialect::Mastodon).await;
}

#[tokio::test]
async fn a_misskey_account_rides_out_sleep_a_dead_link_an_oversize_frame_and_a_burst() {
    an_account_rides_out(Dialect::Misskey).await;
}
