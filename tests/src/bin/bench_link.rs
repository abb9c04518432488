//! Reconnect time after the server returns, and dead-link detection time
//! under a blackhole. Default client policy; real sockets on loopback.
//! `cargo run --release -p chime-e2e --bin bench-link`
//! Environment: BENCH_RESTARTS (default 50), BENCH_BLACKHOLE_TRIALS (default 3).

use std::time::Duration;

use chime_e2e::*;
use chime_engine::policy::Heartbeat;
use chime_engine::supervisor::ConnState;
use chime_engine::Config;
use chime_proto::protocol::Dialect;
use tokio::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let restarts = env("BENCH_RESTARTS", 50);
    let trials = env("BENCH_BLACKHOLE_TRIALS", 3);

    // Reconnect after an abrupt restart. The link stays up 5.5 s before each
    // crash so the backoff has reset, as it would in real use; the server is
    // down for 300 ms.
    let mut server = TestServer::start(server_config()).await;
    let mut w = Watcher::start(
        &server.native_url(),
        Some(TOKEN),
        Config {
            dialect: Dialect::Native,
            ..Config::default()
        },
    );
    w.until_connected(SOON).await;
    let mut lat = Vec::new();
    for i in 0..restarts {
        tokio::time::sleep(Duration::from_millis(5_500)).await;
        server.kill();
        w.until_state(SOON, "loss", |s| !s.is_connected()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.restart().await;
        let back = Instant::now();
        let t = w.until_connected(Duration::from_secs(10)).await;
        lat.push(t - back);
        eprint!("\rrestart {}/{restarts}", i + 1);
    }
    eprintln!();
    w.stop().await;
    lat.sort();
    println!(
        "reconnect after an abrupt restart ({restarts} restarts, 300 ms down): p50 {}  p99 {}  max {}",
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(*lat.last().expect("samples"))
    );

    // Dead-link detection under a blackhole.
    for interval in [1u64, 30] {
        let hb = Heartbeat::with_interval(Duration::from_secs(interval));
        let mut took = Vec::new();
        for _ in 0..trials {
            let proxy = FaultProxy::start(server.addr).await;
            let mut w = Watcher::start(
                &proxy.url("/v1/stream"),
                Some(TOKEN),
                Config {
                    dialect: Dialect::Native,
                    heartbeat: hb,
                    ..Config::default()
                },
            );
            w.until_connected(SOON).await;
            // Cut at a random phase of the heartbeat cycle.
            let phase = (std::process::id() as u64 + took.len() as u64 * 7919) % (interval * 1000);
            tokio::time::sleep(Duration::from_millis(phase)).await;
            proxy.set_mode(Mode::Blackhole);
            let cut = Instant::now();
            let dead = w
                .until_state(hb.dead_after() + SOON, "dead link", |s| {
                    matches!(s, ConnState::Waiting { .. })
                })
                .await;
            took.push(dead - cut);
            w.stop().await;
        }
        took.sort();
        println!(
            "dead link detected, heartbeat {interval} s (bound {} s, {trials} trials): min {}  max {}",
            hb.dead_after().as_secs(),
            ms(took[0]),
            ms(*took.last().expect("samples"))
        );
    }
}
