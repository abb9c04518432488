//! chime-server with real clients: plain tokio-tungstenite sockets and
//! the core crates, in-process on port 0; Redis tests use a private redis-server.

use std::sync::atomic::Ordering;

use chime_client::Command;
use chime_e2e::*;
use chime_engine::Config;
use chime_proto::protocol::{ClientMsg, Counts, Dialect, Kind, ServerMsg};
use chime_server::NewEvent;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(url: &str, header: Option<(&str, &str)>) -> Result<Ws, u16> {
    let mut req = url.into_client_request().expect("request");
    if let Some((k, v)) = header {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            v.parse().expect("value"),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("connect {url}: {e}"),
    }
}

fn bearer(token: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {token}")))
}

async fn connect_as(url: &str, token: &str) -> Ws {
    let h = bearer(token).expect("header");
    connect(url, Some((h.0, &h.1))).await.expect("upgrade")
}

/// The next text frame as a native message (skipping pings).
async fn next_msg(ws: &mut Ws) -> ServerMsg {
    loop {
        let msg = within(SOON, "a frame", ws.next()).await;
        match msg {
            Some(Ok(Message::Text(t))) => {
                let m = ServerMsg::parse(Dialect::Auto, t.as_str()).expect("parse");
                if m != ServerMsg::Ping {
                    return m;
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Read until the close frame; returns its code.
async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match within(SOON, "a close frame", ws.next()).await {
            Some(Ok(Message::Close(Some(f)))) => return u16::from(f.code),
            Some(Ok(Message::Close(None))) => return 1005,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn hello(ws: &mut Ws, last_seq: u64) {
    match next_msg(ws).await {
        ServerMsg::Welcome { .. } => {}
        other => panic!("expected welcome, got {other:?}"),
    }
    ws.send(Message::text(ClientMsg::Hello { last_seq }.encode()))
        .await
        .expect("send hello");
}

/// Read the replay: events until `synced`.
async fn replay(ws: &mut Ws) -> (Vec<u64>, Counts, u64) {
    let mut seqs = Vec::new();
    let mut counts = Counts::default();
    loop {
        match next_msg(ws).await {
            ServerMsg::Event(e) => seqs.push(e.seq),
            ServerMsg::Counts(c) => counts = c,
            ServerMsg::Synced { last_seq } => return (seqs, counts, last_seq),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn native_resume_replays_exactly_what_was_missed() {
    let server = TestServer::start(server_config()).await;
    for i in 0..5 {
        server.publish(USER, "like", "Ann", &format!("p{i}")).await;
    }
    let mut ws = connect_as(&server.native_url(), TOKEN).await;
    hello(&mut ws, 0).await;
    let (seqs, counts, last) = replay(&mut ws).await;
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert_eq!(counts.likes, 5);
    assert_eq!(last, 5);
    drop(ws);
    for i in 0..3 {
        server.publish(USER, "reply", "Bo", &format!("r{i}")).await;
    }
    let mut ws = connect_as(&server.native_url(), TOKEN).await;
    hello(&mut ws, 5).await;
    let (seqs, counts, last) = replay(&mut ws).await;
    assert_eq!(seqs, vec![6, 7, 8]);
    assert_eq!((counts.likes, counts.replies), (5, 3));
    assert_eq!(last, 8);
    // Live after the replay.
    server.publish(USER, "dislike", "Cy", "d").await;
    match next_msg(&mut ws).await {
        ServerMsg::Event(e) => assert_eq!((e.seq, e.kind), (9, Kind::Dislike)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_log_is_bounded_and_synced_tells_the_client_what_is_gone() {
    let server = TestServer::start(chime_server::ServerConfig {
        log_size: 3,
        ..server_config()
    })
    .await;
    for i in 0..10 {
        server.publish(USER, "like", "Ann", &format!("p{i}")).await;
    }
    let mut ws = connect_as(&server.native_url(), TOKEN).await;
    hello(&mut ws, 2).await;
    let (seqs, counts, last) = replay(&mut ws).await;
    assert_eq!(seqs, vec![8, 9, 10]);
    assert_eq!(counts.likes, 10);
    assert_eq!(last, 10);
}

#[tokio::test]
async fn seed_clients_get_a_snapshot_on_connect_on_heartcheck_and_on_change() {
    let server = TestServer::start(server_config()).await;
    server.publish(USER, "like", "Ann", "p").await;
    let mut ws = connect_as(&server.seed_url(), TOKEN).await;
    let snap = |likes: u64, replies: u64| {
        ServerMsg::SeedSnapshot(chime_proto::protocol::SeedSnapshot {
            likes: Some(likes),
            dislikes: Some(0),
            replies: Some(replies),
        })
    };
    assert_eq!(next_msg(&mut ws).await, snap(1, 0));
    ws.send(Message::text("heartCheck")).await.expect("send");
    assert_eq!(next_msg(&mut ws).await, snap(1, 0));
    server.publish(USER, "reply", "Bo", "p").await;
    assert_eq!(next_msg(&mut ws).await, snap(1, 1));
    server.read(USER, None).await;
    assert_eq!(next_msg(&mut ws).await, snap(0, 0));
}

#[tokio::test]
async fn marking_read_on_one_client_updates_the_other_client_of_the_same_user() {
    let server = TestServer::start(server_config()).await;
    let native = Config {
        dialect: Dialect::Native,
        ..Config::default()
    };
    let mut a = Watcher::start(&server.native_url(), Some(TOKEN), native.clone());
    let mut b = Watcher::start(&server.native_url(), Some(TOKEN), native);
    a.until_connected(SOON).await;
    b.until_connected(SOON).await;
    for _ in 0..3 {
        server.publish(USER, "like", "Ann", "p").await;
    }
    b.until(SOON, "three likes on b", |w| {
        w.counts.is_some_and(|c| c.likes == 3)
    })
    .await;
    a.until(SOON, "three likes on a", |w| {
        w.counts.is_some_and(|c| c.likes == 3)
    })
    .await;
    assert!(a.handle().send(Command::MarkRead(Some(Kind::Like))));
    b.until(SOON, "the read on b", |w| {
        w.counts.is_some_and(|c| c.likes == 0)
    })
    .await;
    assert_eq!(server.counts(USER).await.likes, 0);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_slow_consumer_is_closed_with_1013_instead_of_growing_memory() {
    let server = TestServer::start(chime_server::ServerConfig {
        client_queue: 4,
        ..server_config()
    })
    .await;
    let mut ws = connect_as(&server.native_url(), TOKEN).await;
    hello(&mut ws, 0).await;
    replay(&mut ws).await;
    // Do not read while a flood arrives: socket buffers fill, then the queue.
    let state = server.state().clone();
    let title = "t".repeat(1000);
    for _ in 0..40_000 {
        let new = NewEvent {
            user: USER.into(),
            kind: Kind::Like,
            actor: "Flood".into(),
            target: chime_proto::Target {
                title: title.clone(),
                url: "https://example.com/".into(),
            },
        };
        state
            .store
            .publish(&state.hub, new, 0)
            .await
            .expect("publish");
        if state.metrics.dropped_slow.load(Ordering::Relaxed) > 0 {
            break;
        }
    }
    assert_eq!(state.metrics.dropped_slow.load(Ordering::Relaxed), 1);
    assert_eq!(close_code(&mut ws).await, 1013);
}

#[tokio::test]
async fn a_graceful_shutdown_closes_every_client_with_1012() {
    let mut server = TestServer::start(server_config()).await;
    let mut seed = connect_as(&server.seed_url(), TOKEN).await;
    let mut native = connect_as(&server.native_url(), TOKEN).await;
    hello(&mut native, 0).await;
    replay(&mut native).await;
    next_msg(&mut seed).await;
    server.stop().await;
    assert_eq!(close_code(&mut seed).await, 1012);
    assert_eq!(close_code(&mut native).await, 1012);
}

#[tokio::test]
async fn the_welcome_names_the_account_and_every_user_has_a_log_of_their_own() {
    let server = TestServer::start(server_config()).await;
    let mut welcomes = Vec::new();
    for token in [TOKEN, "bob-token", TOKEN] {
        let mut ws = connect_as(&server.native_url(), token).await;
        match next_msg(&mut ws).await {
            ServerMsg::Welcome { epoch, account, .. } => welcomes.push((epoch, account)),
            other => panic!("expected welcome, got {other:?}"),
        }
    }
    assert_eq!(welcomes[0].1.as_deref(), Some(USER));
    assert_eq!(welcomes[1].1.as_deref(), Some("bob"));
    assert_ne!(welcomes[0].0, welcomes[1].0, "one epoch per user");
    assert_eq!(welcomes[0], welcomes[2], "stable for a user");
}

#[tokio::test]
async fn bad_client_frames_get_a_close_with_the_right_code() {
    let server = TestServer::start(server_config()).await;
    let cases: [(Message, u16); 3] = [
        (Message::binary(vec![1u8, 2, 3]), 1003),
        (Message::text("{oops"), 1007),
        (Message::text(r#"{"type":"hello","v":9}"#), 1002),
    ];
    for (frame, code) in cases {
        let mut ws = connect_as(&server.native_url(), TOKEN).await;
        assert!(matches!(next_msg(&mut ws).await, ServerMsg::Welcome { .. }));
        ws.send(frame.clone()).await.expect("send");
        assert_eq!(close_code(&mut ws).await, code, "{frame:?}");
    }
    let mut ws = connect_as(&server.native_url(), TOKEN).await;
    hello(&mut ws, 0).await;
    replay(&mut ws).await;
    let huge = "x".repeat(100 * 1024);
    let _ = ws.send(Message::text(huge)).await;
    assert_eq!(close_code(&mut ws).await, 1009);
    assert!(server.state().metrics.bad_frames.load(Ordering::Relaxed) >= 3);
    // The server is still fine.
    let mut ws = connect_as(&server.native_url(), TOKEN).await;
    hello(&mut ws, 0).await;
    replay(&mut ws).await;
}

#[tokio::test]
async fn credentials_are_checked_before_the_upgrade() {
    let server = TestServer::start(server_config()).await;
    let url = server.native_url();
    assert_eq!(connect(&url, None).await.err(), Some(401));
    assert_eq!(
        connect(&url, Some(("authorization", "Bearer nope")))
            .await
            .err(),
        Some(401)
    );
    assert!(
        connect(&url, Some(("cookie", "csrftoken=x; sessionid=alice-token")))
            .await
            .is_ok()
    );
    assert!(connect(&format!("{url}?token={TOKEN}"), None).await.is_ok());
    assert_eq!(
        connect(&format!("{url}?user=alice"), None).await.err(),
        Some(401)
    );

    let dev = TestServer::start(chime_server::ServerConfig {
        insecure_dev_auth: true,
        ..server_config()
    })
    .await;
    assert!(connect(&format!("{}?user=alice", dev.native_url()), None)
        .await
        .is_ok());
}

#[tokio::test]
async fn connections_per_ip_are_limited() {
    let server = TestServer::start(chime_server::ServerConfig {
        max_conns_per_ip: 2,
        allowed_origins: vec!["https://site.example".into()],
        ..server_config()
    })
    .await;
    let url = format!("{}?token={TOKEN}", server.seed_url());
    let origin = Some(("origin", "https://site.example"));
    let _a = connect(&url, origin).await.expect("first");
    let _b = connect(&url, origin).await.expect("second");
    assert_eq!(connect(&url, origin).await.err(), Some(429));
    drop(_a);
    // The slot frees once the server notices the close.
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        match connect(&url, origin).await {
            Ok(_) => break,
            Err(429) if tokio::time::Instant::now() < deadline => tokio::task::yield_now().await,
            Err(e) => panic!("status {e}"),
        }
    }
}

/// Upgrades `url` with these headers: 101 or the refusal's status.
async fn upgrade_with(url: &str, headers: Vec<(&'static str, String)>) -> u16 {
    let mut req = url.into_client_request().expect("request");
    for (k, v) in headers {
        req.headers_mut().append(k, v.parse().expect("value"));
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_per_ip_limit_counts_the_forwarded_client() {
    let xff = |ip: &str| vec![("x-forwarded-for", ip.to_owned())];
    let trusting = TestServer::start(chime_server::ServerConfig {
        max_conns_per_ip: 1,
        trusted_proxies: vec!["127.0.0.1".parse().expect("ip")],
        ..server_config()
    })
    .await;
    let url = format!("{}?token={TOKEN}", trusting.seed_url());
    let mut held = Vec::new();
    for client in ["192.0.2.1", "192.0.2.2", "203.0.113.9, 192.0.2.3"] {
        let mut req = url.as_str().into_client_request().expect("request");
        req.headers_mut()
            .insert("x-forwarded-for", client.parse().expect("value"));
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .unwrap_or_else(|e| panic!("{client}: {e}"));
        held.push(ws);
    }
    assert_eq!(
        upgrade_with(&url, xff("192.0.2.1")).await,
        429,
        "the same client twice"
    );
    assert_eq!(
        upgrade_with(&url, xff("192.0.2.9, 192.0.2.1")).await,
        429,
        "what the client itself prepended does not count"
    );
    // Without the option the header is the client's word, and ignored.
    let plain = TestServer::start(chime_server::ServerConfig {
        max_conns_per_ip: 1,
        ..server_config()
    })
    .await;
    let url = format!("{}?token={TOKEN}", plain.seed_url());
    let _first = connect(&url, Some(("x-forwarded-for", "192.0.2.1")))
        .await
        .expect("first");
    assert_eq!(upgrade_with(&url, xff("192.0.2.2")).await, 429);
}

#[tokio::test]
async fn the_publishing_api_needs_the_key_and_rejects_bad_events() {
    let server = TestServer::start(server_config()).await;
    let ok =
        r#"{"user":"alice","kind":"like","actor":"A","target":{"title":"t","url":"https://x/"}}"#;
    assert_eq!(
        http_post(server.addr, "/v1/events", "wrong", ok).await.0,
        401
    );
    assert_eq!(
        http_post(server.addr, "/v1/events", PUBLISHER_KEY, ok)
            .await
            .0,
        200
    );
    for bad in [
        "{",
        r#"{"user":"alice","kind":"hug"}"#,
        r#"{"user":"","kind":"like"}"#,
        r#"{"kind":"like"}"#,
    ] {
        assert_eq!(
            http_post(server.addr, "/v1/events", PUBLISHER_KEY, bad)
                .await
                .0,
            400,
            "{bad}"
        );
    }
    let long = format!(
        r#"{{"user":"alice","kind":"like","actor":"{}"}}"#,
        "a".repeat(300)
    );
    assert_eq!(
        http_post(server.addr, "/v1/events", PUBLISHER_KEY, &long)
            .await
            .0,
        413
    );
    let (status, body) = http_request(server.addr, "GET", "/healthz", "", "").await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, body) = http_request(server.addr, "GET", "/metrics", "", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("chime_events_published_total 1"), "{body}");
    assert!(body.contains("# TYPE chime_connections gauge"), "{body}");
}

#[tokio::test]
async fn two_instances_on_one_redis_deliver_to_each_others_clients() {
    let redis = TestRedis::start().await;
    let config = chime_server::ServerConfig {
        redis: Some(redis.url.clone()),
        ..server_config()
    };
    let one = TestServer::start(config.clone()).await;
    let two = TestServer::start(config).await;
    let native = Config {
        dialect: Dialect::Native,
        ..Config::default()
    };
    let mut on_two = Watcher::start(&two.native_url(), Some(TOKEN), native.clone());
    let mut seed_on_one = Watcher::start(&one.seed_url(), Some(TOKEN), Config::default());
    on_two.until_connected(SOON).await;
    seed_on_one.until_connected(SOON).await;
    let s1 = one.publish(USER, "like", "Ann", "from one").await;
    let s2 = two.publish(USER, "reply", "Bo", "from two").await;
    assert_eq!((s1, s2), (1, 2));
    on_two.until_items(2, SOON).await;
    assert_eq!(seqs(&on_two.items), vec![1, 2]);
    seed_on_one
        .until(SOON, "both totals via instance one", |w| {
            w.counts.is_some_and(|c| c.likes == 1 && c.replies == 1)
        })
        .await;
    one.read(USER, Some("like")).await;
    on_two
        .until(SOON, "the read seen on instance two", |w| {
            w.counts.is_some_and(|c| c.likes == 0 && c.replies == 1)
        })
        .await;
    on_two.stop().await;
    seed_on_one.stop().await;
}

#[tokio::test]
async fn a_redis_backed_server_keeps_the_backlog_and_epoch_across_restarts() {
    let redis = TestRedis::start().await;
    let mut server = TestServer::start(chime_server::ServerConfig {
        redis: Some(redis.url.clone()),
        ..server_config()
    })
    .await;
    let proxy = FaultProxy::start(server.addr).await;
    let mut w = Watcher::start(
        &proxy.url("/v1/stream"),
        Some(TOKEN),
        Config {
            dialect: Dialect::Native,
            ..Config::default()
        },
    );
    w.until_connected(SOON).await;
    server.publish(USER, "like", "Ann", "before").await;
    w.until_items(1, SOON).await;
    server.kill();
    w.until_state(SOON, "the crash", |s| !s.is_connected())
        .await;
    server.restart().await;
    // Published while the client has not yet come back.
    proxy.set_mode(Mode::Refuse);
    for i in 0..3 {
        server
            .publish(USER, "reply", "Bo", &format!("during {i}"))
            .await;
    }
    proxy.set_mode(Mode::Pass);
    w.until_items(4, SOON).await;
    assert_eq!(seqs(&w.items), vec![1, 2, 3, 4]);
    assert!(
        !w.notices.iter().any(|n| n.contains("event log is new")),
        "same epoch after a restart: {:?}",
        w.notices
    );
    w.stop().await;
}

fn native_config() -> Config {
    Config {
        dialect: Dialect::Native,
        ..Config::default()
    }
}

fn redis_config(redis: &TestRedis) -> chime_server::ServerConfig {
    chime_server::ServerConfig {
        redis: Some(redis.url.clone()),
        ..server_config()
    }
}

/// Titles of the items a watcher got, in order.
fn titles(w: &Watcher) -> Vec<String> {
    w.items
        .iter()
        .filter_map(|i| match i {
            chime_engine::NewItem::Event(e) => Some(e.target.title.clone()),
            chime_engine::NewItem::Bump { .. } => None,
        })
        .collect()
}

#[tokio::test]
async fn a_flushed_redis_is_a_new_event_log_and_clients_start_over_with_it() {
    let redis = TestRedis::start().await;
    let server = TestServer::start(redis_config(&redis)).await;
    let mut w = Watcher::start(&server.native_url(), Some(TOKEN), native_config());
    w.until_connected(SOON).await;
    for i in 1..=3 {
        server
            .publish(USER, "like", "Ann", &format!("old {i}"))
            .await;
    }
    w.until_items(3, SOON).await;
    let epoch = w.saved.as_ref().and_then(|s| s.epoch.clone());
    redis.cmd(&["FLUSHALL"]).await;
    // Numbers start over at 1: under the old epoch the client would drop
    // them as seen.
    server.publish(USER, "reply", "Bo", "new 1").await;
    server.publish(USER, "reply", "Bo", "new 2").await;
    w.until_items(5, SOON).await;
    assert_eq!(&titles(&w)[3..], ["new 1", "new 2"]);
    assert!(
        w.notices.iter().any(|n| n.contains("event log is new")),
        "{:?}",
        w.notices
    );
    w.until(SOON, "the new epoch saved", |w| {
        w.saved
            .as_ref()
            .is_some_and(|s| s.epoch != epoch && s.last_seq == 2)
    })
    .await;
    w.stop().await;
}

#[tokio::test]
async fn an_older_redis_snapshot_restored_is_a_new_event_log_and_nothing_after_it_is_lost() {
    let mut redis = TestRedis::start().await;
    let server = TestServer::start(redis_config(&redis)).await;
    let proxy = FaultProxy::start(server.addr).await;
    let mut w = Watcher::start(&proxy.url("/v1/stream"), Some(TOKEN), native_config());
    w.until_connected(SOON).await;
    server.publish(USER, "like", "Ann", "kept 1").await;
    server.publish(USER, "like", "Ann", "kept 2").await;
    w.until_items(2, SOON).await;
    redis.cmd(&["SAVE"]).await;
    for i in 3..=5 {
        server
            .publish(USER, "like", "Ann", &format!("lost {i}"))
            .await;
    }
    w.until_items(5, SOON).await;
    // Redis comes back from the snapshot (seq 2) while the client is away;
    // two events are published meanwhile and get numbers 3 and 4 again.
    proxy.set_mode(Mode::Refuse);
    proxy.reset_all();
    redis.restart_from_snapshot().await;
    let a = server
        .publish_retrying(USER, "reply", "Cy", "after 1")
        .await;
    let b = server
        .publish_retrying(USER, "reply", "Cy", "after 2")
        .await;
    assert_eq!(
        (a, b),
        (3, 4),
        "numbers the client has seen are handed out again"
    );
    proxy.set_mode(Mode::Pass);
    w.until(SOON, "the events published after the restore", |w| {
        let t = titles(w);
        t.iter().any(|x| x == "after 1") && t.iter().any(|x| x == "after 2")
    })
    .await;
    assert!(
        w.notices.iter().any(|n| n.contains("event log is new")),
        "{:?}",
        w.notices
    );
    w.stop().await;
}

#[tokio::test]
async fn a_lost_pubsub_subscription_sends_sessions_back_to_resume() {
    let redis = TestRedis::start().await;
    let server = TestServer::start(redis_config(&redis)).await;
    let mut w = Watcher::start(&server.native_url(), Some(TOKEN), native_config());
    w.until_connected(SOON).await;
    server.publish(USER, "like", "Ann", "before").await;
    w.until_items(1, SOON).await;
    // The instance's fan-out subscription is cut; an event published before
    // it is back reaches no live session.
    redis.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    server.publish(USER, "like", "Bo", "in the gap").await;
    w.until_items(2, SOON).await;
    assert_eq!(titles(&w), ["before", "in the gap"]);
    assert!(
        w.states
            .iter()
            .any(|(_, s)| matches!(s, chime_engine::ConnState::Waiting { reason, .. } if reason.contains("1012"))),
        "the session was sent back: {:?}",
        w.states
    );
    w.stop().await;
}

#[tokio::test]
async fn a_cookie_sign_in_from_a_foreign_page_is_refused_and_allow_origin_touches_only_cookies() {
    for allowed in [vec![], vec!["https://site.example".to_owned()]] {
        let server = TestServer::start(chime_server::ServerConfig {
            allowed_origins: allowed.clone(),
            ..server_config()
        })
        .await;
        let url = server.native_url();
        let cookie = format!("sessionid={TOKEN}");
        let own = format!("http://{}", server.addr);
        let cases = [
            (
                vec![("cookie", cookie.clone())],
                101,
                "no Origin: not a page",
            ),
            (
                vec![("cookie", cookie.clone()), ("origin", own)],
                101,
                "the server's own page",
            ),
            (
                vec![
                    ("cookie", cookie.clone()),
                    ("origin", "https://evil.example".into()),
                ],
                403,
                "another site's page riding on the cookie",
            ),
            (
                vec![
                    ("authorization", format!("Bearer {TOKEN}")),
                    ("origin", "https://evil.example".into()),
                ],
                101,
                "an explicit token is not ambient",
            ),
            (
                vec![("authorization", format!("Bearer {TOKEN}"))],
                101,
                "Chime and scripts send no Origin",
            ),
            (
                vec![
                    ("cookie", cookie.clone()),
                    ("origin", "https://site.example".into()),
                ],
                if allowed.is_empty() { 403 } else { 101 },
                "a page the operator allowed",
            ),
        ];
        for (headers, want, why) in cases {
            assert_eq!(
                upgrade_with(&url, headers).await,
                want,
                "{why} ({allowed:?})"
            );
        }
    }
}

/// The minting function of docs/INTEGRATION.md, run by Python itself.
const PY_MINT: &str = r#"
import hashlib, hmac, sys, time

def chime_token(user, secret, ttl=30 * 86400):
    expires = int(time.time()) + ttl
    msg = f"chime1:{user}:{expires}"
    sig = hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()
    return f"{msg}:{sig}"

print(chime_token(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"#;

fn py_mint(user: &str, secret: &str, ttl: i64) -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", PY_MINT, user, secret, &ttl.to_string()])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn a_session_signed_in_with_a_signed_token_ends_when_the_token_does() {
    let server = TestServer::start(chime_server::ServerConfig {
        token_secret: Some("site-secret".into()),
        ..server_config()
    })
    .await;
    // Valid for two more seconds.
    let token = py_mint("dana", "site-secret", 2);
    let h = bearer(&token).expect("header");
    let mut ws = connect(&server.native_url(), Some((h.0, &h.1)))
        .await
        .expect("accepted while valid");
    // Then the server closes it as a refused sign-in, within the deadline.
    assert_eq!(close_code(&mut ws).await, 4001);
}

#[tokio::test]
async fn a_token_a_site_minted_with_python_signs_its_user_in_by_cookie_or_bearer() {
    let server = TestServer::start(chime_server::ServerConfig {
        token_secret: Some("site-secret".into()),
        ..server_config()
    })
    .await;
    let token = py_mint("dana", "site-secret", 3600);
    // As the site's cookie, from the site's own page (or no page at all).
    let cookie = format!("chime_token={token}");
    let mut ws = connect(&server.native_url(), Some(("cookie", &cookie)))
        .await
        .expect("signed cookie accepted");
    let first = ws.next().await.expect("frame").expect("ok");
    assert!(first.to_text().unwrap_or("").contains("welcome"));
    // As a bearer token (pasted into Chime's Settings).
    let mut w = Watcher::start(&server.native_url(), Some(&token), native_config());
    w.until_connected(SOON).await;
    server.publish("dana", "reply", "Eve", "signed").await;
    w.until_items(1, SOON).await;
    w.stop().await;
    // Expired, or signed with another secret: refused before the upgrade.
    for bad in [
        py_mint("dana", "site-secret", -10),
        py_mint("dana", "wrong", 3600),
    ] {
        let h = bearer(&bad).expect("header");
        assert_eq!(
            connect(&server.native_url(), Some((h.0, &h.1))).await.err(),
            Some(401)
        );
    }
}
