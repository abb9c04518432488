//! ntfy, Gotify, Mastodon and Misskey through 20 server crashes, with messages published
//! during each outage (and while the link is up): how many are lost and
//! how many shown twice (goal 0 / 0), and how long the client takes to be
//! connected again once the server listens (p50 / p99), with the default
//! reconnect policy (each crash after 5.5 s of stable link). `cargo run --release -p chime-e2e --bin bench-push`

use std::collections::HashMap;
use std::time::Duration;

use chime_e2e::fedi::{IdShape, MastodonServer, MisskeyServer};
use chime_e2e::push::{GotifyServer, NtfyServer};
use chime_e2e::{message_ids, Watcher};
use chime_engine::{Auth, Config, InboxState, Secret, ServerProfile};
use chime_proto::Dialect;
use serde_json::json;
use tokio::time::Instant;

const ROUNDS: usize = 20;
const DURING_OUTAGE: usize = 10;
const WHILE_UP: usize = 5;

enum Server {
    Ntfy(NtfyServer),
    Gotify(GotifyServer),
    Mastodon(MastodonServer),
    Misskey(MisskeyServer),
}

impl Server {
    fn publish(&self, n: usize) -> String {
        match self {
            Server::Ntfy(s) => s.publish("bench", json!({"message": format!("m{n}")})),
            Server::Gotify(s) => s
                .publish(1, "bench", &format!("m{n}"), 5, json!(null))
                .to_string(),
            Server::Mastodon(s) => s.notify("favourite", "alice", &format!("m{n}"), false),
            Server::Misskey(s) => s.notify("reaction", "❤", "Alice", &format!("m{n}")),
        }
    }
    fn kill(&mut self) {
        match self {
            Server::Ntfy(s) => s.kill(),
            Server::Gotify(s) => s.kill(),
            Server::Mastodon(s) => s.kill(),
            Server::Misskey(s) => s.kill(),
        }
    }
    async fn restart(&mut self) {
        match self {
            Server::Ntfy(s) => s.restart().await,
            Server::Gotify(s) => s.restart().await,
            Server::Mastodon(s) => s.restart().await,
            Server::Misskey(s) => s.restart().await,
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(dialect: Dialect) {
    let (mut server, url, auth) = match dialect {
        Dialect::Ntfy => {
            let s = NtfyServer::start().await;
            let url = s.url("bench");
            (Server::Ntfy(s), url, Auth::None)
        }
        Dialect::Gotify => {
            let s = GotifyServer::start("Cbench", &["Bench"]).await;
            let url = s.url();
            (Server::Gotify(s), url, Auth::Bearer(Secret::new("Cbench")))
        }
        Dialect::Mastodon => {
            let s = MastodonServer::start("Mbench", IdShape::Digits).await;
            let url = s.url();
            (
                Server::Mastodon(s),
                url,
                Auth::Bearer(Secret::new("Mbench")),
            )
        }
        _ => {
            let s = MisskeyServer::start("Kbench").await;
            let url = s.url();
            (Server::Misskey(s), url, Auth::Bearer(Secret::new("Kbench")))
        }
    };
    let mut profile = ServerProfile::for_dialect(&url, dialect).expect("profile");
    profile.auth = auth;
    let config = Config {
        dialect,
        heartbeat: chime_engine::policy::Heartbeat::SERVER_PINGS,
        ..Config::default()
    };
    let mut w = Watcher::resume(profile, config, InboxState::default());
    w.until_connected(Duration::from_secs(10)).await;
    // The first sync learns where the server stands: what is published
    // after it is new.
    match &server {
        Server::Gotify(s) => s.until_lists(1).await,
        Server::Mastodon(s) => s.until_lists(1).await,
        Server::Misskey(s) => {
            s.until_channels(1).await;
            s.until_lists(1).await;
        }
        Server::Ntfy(_) => {}
    }
    w.until(Duration::from_secs(10), "the first sync", |w| {
        w.saved.as_ref().is_some_and(|s| s.cursor.is_some())
    })
    .await;
    let mut published = Vec::new();
    let mut reconnects = Vec::new();
    let mut n = 0;
    for _ in 0..ROUNDS {
        for _ in 0..WHILE_UP {
            published.push(server.publish(n));
            n += 1;
        }
        let want = published.len();
        w.until(Duration::from_secs(30), "live messages", |w| {
            message_ids(&w.items).len() >= want
        })
        .await;
        server.kill();
        w.until_state(Duration::from_secs(10), "the drop", |s| !s.is_connected())
            .await;
        for _ in 0..DURING_OUTAGE {
            published.push(server.publish(n));
            n += 1;
        }
        server.restart().await;
        let listening = Instant::now();
        let at = w.until_connected(Duration::from_secs(30)).await;
        reconnects.push(at.saturating_duration_since(listening));
        let want = published.len();
        w.until(Duration::from_secs(30), "the outage's messages", |w| {
            message_ids(&w.items).len() >= want
        })
        .await;
        // The next crash comes after the link counts as stable (5 s):
        // crashes closer together are a flapping server, for which the
        // backoff keeps growing by design.
        tokio::time::sleep(Duration::from_millis(5500)).await;
    }
    let got = message_ids(&w.items);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for id in &got {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    let lost = published
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .count();
    let dup: usize = seen.values().map(|c| c - 1).sum();
    reconnects.sort();
    println!(
        "{:<8} {} published ({} during outages), {} lost, {} duplicated; reconnect after the server listens: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        format!("{dialect:?}"),
        published.len(),
        ROUNDS * DURING_OUTAGE,
        lost,
        dup,
        pct(&reconnects, 0.5).as_secs_f64() * 1000.0,
        pct(&reconnects, 0.99).as_secs_f64() * 1000.0,
        reconnects.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    w.stop().await;
}

#[tokio::main]
async fn main() {
    println!("{ROUNDS} server crashes, {DURING_OUTAGE} messages published during each outage, {WHILE_UP} while up");
    run(Dialect::Ntfy).await;
    run(Dialect::Gotify).await;
    run(Dialect::Mastodon).await;
    run(Dialect::Misskey).await;
}
