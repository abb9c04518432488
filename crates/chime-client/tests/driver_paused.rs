//! The real driver (sockets, writer task, timers) under tokio's paused clock:
//! every wait below is virtual, so minutes of backoff take milliseconds.

use std::time::Duration;

use chime_client::Client;
use chime_engine::supervisor::{ConnState, Output};
use chime_engine::{Backoff, Config, InboxState, ServerProfile};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn the_driver_keeps_retrying_a_dead_server_with_growing_capped_waits() {
    // A port nobody listens on: every dial is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let profile = ServerProfile::new(&format!("ws://127.0.0.1:{port}/pushMsg")).expect("url");
    let mut client =
        Client::spawn(profile, Config::default(), InboxState::default()).expect("spawn");
    let mut dials: Vec<Instant> = Vec::new();
    let mut promised: Vec<Duration> = Vec::new();
    while dials.len() < 30 {
        match client.events.recv().await.expect("running") {
            Output::State(ConnState::Connecting { .. }) => dials.push(Instant::now()),
            Output::State(ConnState::Waiting {
                retry_in_ms,
                reason,
                ..
            }) => {
                assert!(reason.contains("cannot reach the server"), "{reason}");
                promised.push(Duration::from_millis(retry_in_ms));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let waits: Vec<Duration> = dials.windows(2).map(|w| w[1] - w[0]).collect();
    for (i, (wait, promise)) in waits.iter().zip(&promised).enumerate() {
        // The state said "retrying in X": the dial came X later (ms rounding).
        assert!(
            wait.abs_diff(*promise) <= Duration::from_millis(2),
            "#{i}: {wait:?} vs {promise:?}"
        );
        let base = Backoff::RECONNECT.delay(i as u32, 0.5);
        assert!(
            *wait >= base / 2 && *wait <= (base * 3 / 2).min(Backoff::RECONNECT.cap),
            "#{i}: {wait:?}"
        );
    }
    assert!(waits[0] <= Duration::from_secs(1));
    assert!(waits[20..].iter().all(|w| *w >= Duration::from_secs(30)));
    client.shutdown().await;
}
