//! chime-client's driver against real WebSocket servers and injected faults.

use std::time::Duration;

use chime_client::Command;
use chime_e2e::*;
use chime_engine::policy::Heartbeat;
use chime_engine::supervisor::ConnState;
use chime_engine::{Config, NewItem};
use chime_proto::protocol::Dialect;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

fn config(dialect: Dialect) -> Config {
    Config {
        dialect,
        ..Config::default()
    }
}

fn seed_snapshot(likes: u64, dislikes: u64, replies: u64) -> Message {
    Message::text(format!(
        r#"{{"newReplyNum": {replies}, "newLikeNum": {likes}, "newDisLikeNum": {dislikes}}}"#
    ))
}

fn frames(frames: Vec<Message>, close: Option<u16>) -> Script {
    Script::Frames {
        frames,
        close,
        reply: None,
    }
}

#[tokio::test]
async fn a_server_that_is_down_at_start_is_reached_once_it_comes_up() {
    let mut server = TestServer::start(server_config()).await;
    server.kill();
    let mut w = Watcher::start(&server.seed_url(), Some(TOKEN), config(Dialect::Seed));
    w.until_state(
        SOON,
        "a refused dial",
        |s| matches!(s, ConnState::Waiting { reason, .. } if reason.contains("cannot reach")),
    )
    .await;
    server.restart().await;
    let back = Instant::now();
    let connected = w.until_connected(Duration::from_secs(5)).await;
    assert!(connected - back < Duration::from_secs(3));
    w.stop().await;
}

#[tokio::test]
async fn close_1000_right_after_the_snapshot_reconnects_without_reannouncing() {
    let server = ScriptedServer::start(vec![
        frames(vec![seed_snapshot(2, 0, 0)], Some(1000)),
        frames(vec![seed_snapshot(2, 0, 0)], Some(1000)),
        Script::Frames {
            frames: vec![seed_snapshot(3, 0, 0)],
            close: None,
            reply: None,
        },
    ])
    .await;
    let mut w = Watcher::start(&server.url(), None, config(Dialect::Seed));
    w.until(SOON, "the third connection's bump", |w| w.items.len() >= 2)
        .await;
    assert_eq!(server.connections(), 3);
    assert_eq!(
        w.items,
        vec![
            NewItem::Bump {
                kind: chime_proto::Kind::Like,
                by: 2,
                total: 2
            },
            NewItem::Bump {
                kind: chime_proto::Kind::Like,
                by: 1,
                total: 3
            },
        ]
    );
    w.stop().await;
}

#[tokio::test]
async fn a_tcp_reset_is_followed_by_a_quick_reconnect() {
    let server = TestServer::start(server_config()).await;
    let proxy = FaultProxy::start(server.addr).await;
    let mut w = Watcher::start(&proxy.url("/pushMsg"), Some(TOKEN), config(Dialect::Seed));
    w.until_connected(SOON).await;
    proxy.reset_all();
    w.until_state(SOON, "the loss", |s| matches!(s, ConnState::Waiting { .. }))
        .await;
    let lost = Instant::now();
    let back = w.until_connected(SOON).await;
    assert!(back - lost < Duration::from_secs(2), "{:?}", back - lost);
    w.stop().await;
}

#[tokio::test]
async fn a_blackholed_link_is_declared_dead_within_heartbeat_plus_timeout_and_recovers() {
    let server = TestServer::start(server_config()).await;
    let proxy = FaultProxy::start(server.addr).await;
    let hb = Heartbeat {
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
    };
    let mut w = Watcher::start(
        &proxy.url("/pushMsg"),
        Some(TOKEN),
        Config {
            heartbeat: hb,
            ..config(Dialect::Seed)
        },
    );
    w.until_connected(SOON).await;
    proxy.set_mode(Mode::Blackhole);
    let cut = Instant::now();
    let dead = w
        .until_state(SOON, "the dead link", |s| {
            matches!(s, ConnState::Waiting { reason, .. } if reason.contains("no sign of life"))
        })
        .await;
    let took = dead - cut;
    assert!(
        took <= hb.dead_after() + Duration::from_millis(500),
        "{took:?}"
    );
    assert!(took >= hb.timeout, "{took:?}");
    // Still black: dials fail (handshake timeout or no answer), no crash.
    proxy.set_mode(Mode::Pass);
    let healed = Instant::now();
    let back = w.until_connected(Duration::from_secs(15)).await;
    assert!(
        back - healed < Duration::from_secs(12),
        "{:?}",
        back - healed
    );
    w.stop().await;
}

#[tokio::test]
async fn an_upgrade_that_never_answers_times_out_and_is_retried() {
    let server = ScriptedServer::start(vec![Script::Silent]).await;
    let mut w = Watcher::start(
        &server.url(),
        None,
        Config {
            connect_timeout: Duration::from_secs(1),
            ..config(Dialect::Seed)
        },
    );
    let start = Instant::now();
    let t = w
        .until_state(
            SOON,
            "the handshake timeout",
            |s| matches!(s, ConnState::Waiting { reason, .. } if reason.contains("handshake")),
        )
        .await;
    assert!(t - start >= Duration::from_millis(900));
    w.until(SOON, "a second attempt", |_| server.connections() >= 2)
        .await;
    w.stop().await;
}

#[tokio::test]
async fn http_refusals_on_the_upgrade_map_to_clear_states() {
    let cases: [(u16, &str, &str); 5] = [
        (401, "auth_failed", "refused the sign-in"),
        (403, "auth_failed", "refused the sign-in"),
        (404, "misconfigured", "no push endpoint"),
        (502, "waiting", "unavailable (HTTP 502)"),
        (503, "waiting", "unavailable (HTTP 503)"),
    ];
    for (status, state, text) in cases {
        let server = ScriptedServer::start(vec![Script::Status(status, "nope")]).await;
        let mut w = Watcher::start(&server.url(), None, config(Dialect::Seed));
        w.until(SOON, "a refusal", |w| {
            w.states
                .iter()
                .any(|(_, s)| !matches!(s, ConnState::Connecting { .. }))
        })
        .await;
        let s = w.last_state().expect("state").clone();
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["state"], state, "HTTP {status}: {s:?}");
        assert!(
            json["reason"].as_str().unwrap_or("").contains(text),
            "HTTP {status}: {s:?}"
        );
        w.stop().await;
    }
}

#[tokio::test]
async fn an_oversize_frame_drops_the_link_with_a_reason_and_the_next_link_works() {
    let huge = format!(
        r#"{{"newLikeNum": 1, "pad": "{}"}}"#,
        "x".repeat(100 * 1024)
    );
    let server = ScriptedServer::start(vec![
        frames(vec![Message::text(huge)], None),
        frames(vec![seed_snapshot(4, 0, 0)], None),
    ])
    .await;
    let mut w = Watcher::start(&server.url(), None, config(Dialect::Seed));
    w.until_state(
        SOON,
        "the violation",
        |s| matches!(s, ConnState::Waiting { reason, .. } if reason.contains("64 KiB")),
    )
    .await;
    w.until(SOON, "the second link's snapshot", |w| {
        w.counts.is_some_and(|c| c.likes == 4)
    })
    .await;
    assert_eq!(w.items.len(), 1);
    w.stop().await;
}

#[tokio::test]
async fn malformed_binary_and_unknown_frames_are_noted_and_the_link_stays_up() {
    let server = ScriptedServer::start(vec![frames(
        vec![
            Message::text("{definitely not json"),
            Message::binary(vec![0u8, 159, 146, 150]),
            Message::text(r#"{"newLikeNum": "many"}"#),
            Message::text(r#"{"type":"sparkle"}"#),
            Message::text("[]"),
            seed_snapshot(1, 2, 3),
        ],
        None,
    )])
    .await;
    let mut w = Watcher::start(&server.url(), None, config(Dialect::Auto));
    w.until(SOON, "the good snapshot after the bad ones", |w| {
        w.counts.is_some_and(|c| c.replies == 3)
    })
    .await;
    assert_eq!(w.notices.len(), 5, "{:?}", w.notices);
    assert!(w.last_state().is_some_and(ConnState::is_connected));
    assert_eq!(server.connections(), 1, "no reconnect for bad frames");
    w.stop().await;
}

#[tokio::test]
async fn duplicate_and_out_of_order_native_events_are_delivered_once() {
    let mut frames_in = vec![Message::text(r#"{"type":"welcome","v":1}"#)];
    for seq in [1, 2, 2, 4, 3, 1, 5, 4] {
        frames_in.push(event_frame(seq, "like"));
    }
    frames_in.push(Message::text(r#"{"type":"synced","last_seq":5}"#));
    let server = ScriptedServer::start(vec![frames(frames_in, None)]).await;
    let mut w = Watcher::start(&server.url(), None, config(Dialect::Native));
    w.until_items(5, SOON).await;
    assert_eq!(seqs(&w.items), vec![1, 2, 4, 3, 5]);
    w.stop().await;
}

#[tokio::test]
async fn events_published_while_the_link_is_down_are_replayed_once() {
    let server = TestServer::start(server_config()).await;
    let proxy = FaultProxy::start(server.addr).await;
    let mut w = Watcher::start(
        &proxy.url("/v1/stream"),
        Some(TOKEN),
        config(Dialect::Native),
    );
    w.until_connected(SOON).await;
    for i in 0..3 {
        server
            .publish(USER, "like", "Bob", &format!("live {i}"))
            .await;
    }
    w.until_items(3, SOON).await;
    proxy.set_mode(Mode::Refuse);
    proxy.reset_all();
    w.until_state(SOON, "the loss", |s| !s.is_connected()).await;
    for i in 0..4 {
        server
            .publish(USER, "reply", "Cleo", &format!("missed {i}"))
            .await;
    }
    proxy.set_mode(Mode::Pass);
    w.until_items(7, SOON).await;
    server.publish(USER, "dislike", "Dan", "after").await;
    w.until_items(8, SOON).await;
    assert_eq!(seqs(&w.items), (1..=8).collect::<Vec<_>>());
    w.until(SOON, "exact counts", |w| {
        w.counts
            .is_some_and(|c| (c.likes, c.replies, c.dislikes) == (3, 4, 1))
    })
    .await;
    w.stop().await;
}

#[tokio::test]
async fn a_graceful_server_restart_brings_clients_back_at_once() {
    let mut server = TestServer::start(server_config()).await;
    let mut w = Watcher::start(&server.native_url(), Some(TOKEN), config(Dialect::Native));
    w.until_connected(SOON).await;
    server.stop().await;
    w.until_state(
        SOON,
        "the restart close",
        |s| matches!(s, ConnState::Waiting { reason, .. } if reason.contains("1012")),
    )
    .await;
    server.restart().await;
    let back = Instant::now();
    let t = w.until_connected(SOON).await;
    assert!(t - back < Duration::from_secs(2));
    w.stop().await;
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_failure_not_a_retry_storm() {
    let server = TestServer::start(server_config()).await;
    let mut w = Watcher::start(&server.seed_url(), Some("wrong"), config(Dialect::Seed));
    w.until_state(
        SOON,
        "auth failure",
        |s| matches!(s, ConnState::AuthFailed { retry_in_ms, .. } if *retry_in_ms >= 45_000),
    )
    .await;
    let rejected = server
        .state()
        .metrics
        .rejected_auth
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(rejected, 1);
    w.stop().await;
}

#[tokio::test]
async fn reconnect_now_dials_at_once_even_when_waiting_for_minutes() {
    let server = TestServer::start(server_config()).await;
    let mut w = Watcher::start(&server.seed_url(), Some("wrong"), config(Dialect::Seed));
    w.until_state(SOON, "auth failure", |s| {
        matches!(s, ConnState::AuthFailed { .. })
    })
    .await;
    assert!(w.handle().send(Command::ReconnectNow));
    w.until_state(Duration::from_secs(2), "an immediate dial", |s| {
        matches!(s, ConnState::Connecting { .. })
    })
    .await;
    w.stop().await;
}

#[tokio::test]
async fn seed_bumps_from_the_reference_server_are_announced_once_across_resets() {
    let server = TestServer::start(server_config()).await;
    let proxy = FaultProxy::start(server.addr).await;
    let mut w = Watcher::start(&proxy.url("/pushMsg"), Some(TOKEN), config(Dialect::Auto));
    w.until_connected(SOON).await;
    server.publish(USER, "like", "A", "p").await;
    server.publish(USER, "like", "B", "p").await;
    w.until(SOON, "two likes", |w| {
        w.counts.is_some_and(|c| c.likes == 2)
    })
    .await;
    for _ in 0..3 {
        proxy.reset_all();
        w.until_state(SOON, "loss", |s| !s.is_connected()).await;
        w.until_connected(SOON).await;
    }
    server.publish(USER, "reply", "C", "p").await;
    w.until(SOON, "the reply", |w| {
        w.counts.is_some_and(|c| c.replies == 1)
    })
    .await;
    let announced: u64 = w
        .items
        .iter()
        .map(|i| match i {
            NewItem::Bump { by, .. } => *by,
            NewItem::Event(_) => 1,
        })
        .sum();
    assert_eq!(announced, 3, "{:?}", w.items);
    w.stop().await;
}

#[tokio::test]
async fn twenty_abrupt_restarts_give_twenty_quick_reconnections_and_no_duplicates() {
    let mut server = TestServer::start(server_config()).await;
    // Stability is judged after 300 ms here so the test needs no 5 s uptimes;
    // the 5 s rule itself is covered under a paused clock.
    let mut w = Watcher::start(
        &server.native_url(),
        Some(TOKEN),
        Config {
            stable_after: Duration::from_millis(300),
            ..config(Dialect::Native)
        },
    );
    w.until_connected(SOON).await;
    let mut latencies = Vec::new();
    for round in 0..20 {
        // Each restart is a new in-memory log (a new epoch, seqs from 1).
        server
            .publish(USER, "like", "Eve", &format!("round {round}"))
            .await;
        w.until_items(round + 1, SOON).await;
        tokio::time::sleep(Duration::from_millis(400)).await; // uptime, not a sync
        server.kill();
        w.until_state(SOON, "the crash", |s| !s.is_connected())
            .await;
        server.restart().await;
        let back = Instant::now();
        let t = w.until_connected(Duration::from_secs(5)).await;
        latencies.push(t - back);
    }
    let titles: Vec<String> = w
        .items
        .iter()
        .map(|i| match i {
            NewItem::Event(e) => e.target.title.clone(),
            NewItem::Bump { .. } => String::new(),
        })
        .collect();
    let want: Vec<String> = (0..20).map(|r| format!("round {r}")).collect();
    assert_eq!(titles, want, "each item exactly once, in order");
    latencies.sort();
    assert!(
        latencies.iter().all(|l| *l < Duration::from_secs(3)),
        "{latencies:?}"
    );
    assert!(latencies[10] < Duration::from_secs(1), "{latencies:?}");
    w.stop().await;
}

#[tokio::test]
async fn a_ten_thousand_event_burst_arrives_whole_on_one_link() {
    let server = TestServer::start(chime_server::ServerConfig {
        client_queue: 20_000,
        ..server_config()
    })
    .await;
    let mut w = Watcher::start(&server.native_url(), Some(TOKEN), config(Dialect::Native));
    // Connected and subscribed: the first event has come through.
    server.publish(USER, "reply", "First", "p").await;
    w.until_items(1, SOON).await;
    let before = server
        .state()
        .metrics
        .connections_total
        .load(std::sync::atomic::Ordering::Relaxed);
    let state = server.state().clone();
    for i in 0..10_000u32 {
        let new = chime_server::NewEvent {
            user: USER.into(),
            kind: chime_proto::Kind::ALL[(i % 3) as usize],
            actor: format!("a{i}"),
            target: chime_proto::Target::default(),
        };
        state
            .store
            .publish(&state.hub, new, 0)
            .await
            .expect("publish");
    }
    w.until_items(10_001, Duration::from_secs(30)).await;
    assert_eq!(seqs(&w.items), (1..=10_001).collect::<Vec<_>>());
    w.until(SOON, "exact totals", |w| {
        w.counts
            .is_some_and(|c| (c.likes, c.dislikes, c.replies) == (3334, 3333, 3334))
    })
    .await;
    let after = state
        .metrics
        .connections_total
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after, before, "the link was never dropped");
    w.stop().await;
}

fn profile(url: &str, token: Option<&str>) -> chime_engine::ServerProfile {
    let mut p = chime_engine::ServerProfile::new(url).expect("url");
    if let Some(t) = token {
        p.auth = chime_engine::Auth::Bearer(chime_engine::Secret::new(t));
    }
    p
}

#[tokio::test]
async fn test_connection_tells_connected_auth_failed_and_unreachable_apart() {
    use chime_client::{probe, ProbeOutcome};
    let mut server = TestServer::start(server_config()).await;
    let t = Duration::from_secs(5);
    assert_eq!(
        probe(&profile(&server.native_url(), Some(TOKEN)), t).await,
        ProbeOutcome::Connected {
            dialect: Some(Dialect::Native)
        }
    );
    assert_eq!(
        probe(&profile(&server.seed_url(), Some(TOKEN)), t).await,
        ProbeOutcome::Connected {
            dialect: Some(Dialect::Seed)
        }
    );
    match probe(&profile(&server.native_url(), Some("wrong")), t).await {
        ProbeOutcome::AuthFailed { message } => {
            assert!(message.contains("401"), "{message}");
            assert!(
                !message.contains("wrong"),
                "the secret is not echoed: {message}"
            );
        }
        other => panic!("expected an auth failure, got {other:?}"),
    }
    let wrong_path = server.native_url().replace("/v1/stream", "/nope");
    assert!(matches!(
        probe(&profile(&wrong_path, Some(TOKEN)), t).await,
        ProbeOutcome::Misconfigured { .. }
    ));
    let url = server.native_url();
    server.kill();
    assert!(matches!(
        probe(&profile(&url, Some(TOKEN)), t).await,
        ProbeOutcome::Unreachable { .. }
    ));
}

#[tokio::test]
async fn the_resume_state_follows_the_items_it_covers() {
    let server = TestServer::start(server_config()).await;
    let mut w = Watcher::start(&server.native_url(), Some(TOKEN), config(Dialect::Native));
    w.until_connected(SOON).await;
    server.publish(USER, "like", "bob", "first").await;
    server.publish(USER, "reply", "carol", "second").await;
    w.until(SOON, "a resume state covering both events", |w| {
        w.saved.as_ref().is_some_and(|s| s.last_seq == 2)
    })
    .await;
    assert_eq!(seqs(&w.items), [1, 2]);
    // Every cursor the client reported covered only items already handed
    // over: an app that stores both together never skips one.
    for (arrived, cursor) in &w.saved_after {
        let covered = seqs(&w.items[..*arrived])
            .iter()
            .filter(|s| **s <= *cursor)
            .count();
        assert_eq!(covered as u64, *cursor, "{:?}", w.saved_after);
    }
    let saved = w.saved.clone().expect("saved");
    assert!(saved.epoch.is_some());
    w.stop().await;
}

#[tokio::test]
async fn a_mark_read_while_the_server_is_down_reaches_it_after_the_reconnect() {
    // Redis keeps the server's counts across its restart.
    let redis = TestRedis::start().await;
    let mut server = TestServer::start(chime_server::ServerConfig {
        redis: Some(redis.url.clone()),
        ..server_config()
    })
    .await;
    let mut w = Watcher::start(
        &server.native_url(),
        Some(TOKEN),
        Config {
            dialect: Dialect::Native,
            ..Config::default()
        },
    );
    w.until_connected(SOON).await;
    server.publish(USER, "like", "Ann", "p1").await;
    server.publish(USER, "like", "Bo", "p2").await;
    server.publish(USER, "reply", "Cy", "p3").await;
    w.until(SOON, "the counts", |w| {
        w.counts.is_some_and(|c| c.likes == 2 && c.replies == 1)
    })
    .await;
    server.kill();
    w.until_state(SOON, "the outage", |s| !s.is_connected())
        .await;
    // Read here while the server cannot hear it.
    assert!(w
        .handle()
        .send(Command::MarkRead(Some(chime_proto::Kind::Like))));
    w.until(SOON, "the badge to fall at once", |w| {
        w.counts.is_some_and(|c| c.likes == 0 && c.replies == 1)
    })
    .await;
    server.restart().await;
    w.until_connected(SOON).await;
    let deadline = Instant::now() + SOON;
    loop {
        let c = server.counts(USER).await;
        if c.likes == 0 && c.replies == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never heard the read: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And the badge did not come back in between.
    w.until(SOON, "the confirmed counts", |w| {
        w.saved.as_ref().is_some_and(|s| s.unsent_reads.is_empty())
    })
    .await;
    assert_eq!(w.counts.map(|c| c.likes), Some(0));
    w.stop().await;
}

#[tokio::test]
async fn another_account_on_the_same_source_gets_its_own_events_and_a_renewed_token_resumes() {
    let server = TestServer::start(server_config()).await;
    for i in 0..3 {
        server.publish(USER, "like", "Ann", &format!("a{i}")).await;
    }
    for i in 0..2 {
        server.publish("bob", "reply", "Bo", &format!("b{i}")).await;
    }
    let mut w = Watcher::start(&server.native_url(), Some(TOKEN), config(Dialect::Native));
    w.until_items(3, SOON).await;
    w.until(SOON, "alice's place saved", |w| {
        w.saved.as_ref().is_some_and(|s| s.last_seq == 3)
    })
    .await;
    let alice = w.saved.clone().expect("saved");
    assert_eq!(alice.account.as_deref(), Some(USER));
    w.stop().await;
    // The same source signs in as bob (its state is alice's): bob's own
    // two events arrive, none swallowed by alice's cursor.
    let mut w = Watcher::resume(
        profile(&server.native_url(), Some("bob-token")),
        config(Dialect::Native),
        alice.clone(),
    );
    w.until_items(2, SOON).await;
    assert_eq!(seqs(&w.items), vec![1, 2]);
    w.stop().await;
    // Alice again, with her saved place: nothing is replayed twice.
    let mut w = Watcher::resume(
        profile(&server.native_url(), Some(TOKEN)),
        config(Dialect::Native),
        alice,
    );
    w.until(SOON, "the first counts", |w| w.counts.is_some())
        .await;
    server.publish(USER, "like", "Ann", "a3").await;
    w.until_items(1, SOON).await;
    assert_eq!(seqs(&w.items), vec![4]);
    w.stop().await;
}
