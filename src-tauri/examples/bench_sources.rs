//! Several sources on one app, measured: idle memory and CPU with 1 and 20
//! sources, with 5 ntfy topics and a Gotify server, and 20 sources × a
//! 1,000-event burst (every event announced once, toasts per source and
//! kind).
//! `cargo build --release -p chime-app --bins --examples && ./target/release/examples/bench_sources`

#[path = "../tests/desktop/mod.rs"]
mod desktop;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chime_e2e::{server_config, TestServer};
use chime_proto::{Kind, Target};
use chime_server::NewEvent;
use desktop::Desktop;
use tokio::time::Instant;

const SOURCES: usize = 20;
const BURST: u64 = 1_000;

fn app_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("exe");
    exe.parent()
        .and_then(|p| p.parent())
        .expect("dir")
        .join("chime")
}

fn pss_kib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

fn user(i: usize) -> String {
    format!("user{i}")
}

fn args(server: &TestServer, n: usize) -> Vec<String> {
    let url = server.native_url();
    let mut out = Vec::new();
    for i in 0..n {
        out.extend([
            "--server".to_owned(),
            url.clone(),
            "--token".to_owned(),
            format!("token-{i}"),
            "--name".to_owned(),
            format!("S{i:02}"),
        ]);
    }
    out
}

/// Start the app with `n` sources, wait until all are connected and it has
/// settled; returns the desktop, the process and its pid.
async fn start(server: &TestServer, n: usize) -> (Desktop, desktop::Proc, u32) {
    let mut d = Desktop::start(true).await;
    let a = args(server, n);
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let before = server.connections();
    let app = d.launch_bin(&app_bin(), &refs);
    let pid = app.0.id();
    let _item = d.tray_item().await;
    d.poll_for(
        Duration::from_secs(60),
        "every source connected",
        || async { (server.connections() >= before + n as u64).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    (d, app, pid)
}

/// The app with ntfy topics and a Gotify server: one ntfy source holding
/// all `topics` (`one_socket`) or one source per topic.
async fn push_idle(topics: usize, one_socket: bool) -> (f64, f64) {
    use chime_e2e::push::{GotifyServer, NtfyServer};
    let ntfy = NtfyServer::start().await;
    let gotify = GotifyServer::start("Cbench", &["Bench"]).await;
    let names: Vec<String> = (0..topics).map(|i| format!("topic{i}")).collect();
    let mut a: Vec<String> = Vec::new();
    let groups = if one_socket {
        vec![names.join(",")]
    } else {
        names
    };
    for (i, g) in groups.iter().enumerate() {
        a.extend([
            "--server".into(),
            ntfy.url(g),
            "--dialect".into(),
            "ntfy".into(),
            "--name".into(),
            format!("ntfy{i}"),
        ]);
    }
    a.extend([
        "--server".into(),
        gotify.url(),
        "--dialect".into(),
        "gotify".into(),
        "--token".into(),
        "Cbench".into(),
        "--name".into(),
        "gotify".into(),
    ]);
    let links = groups.len() as u64;
    let mut d = Desktop::start(true).await;
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let app = d.launch_bin(&app_bin(), &refs);
    let pid = app.0.id();
    let _item = d.tray_item().await;
    d.poll_for(Duration::from_secs(60), "every link up", || async {
        (ntfy.connections_total() >= links && gotify.connections_total() >= 1).then_some(())
    })
    .await;
    gotify.until_lists(1).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let r = idle(pid).await;
    drop(app);
    drop(d);
    r
}

async fn idle(pid: u32) -> (f64, f64) {
    let pss = pss_kib(pid) as f64 / 1024.0;
    let c0 = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let cpu = (cpu_ticks(pid) - c0) as f64 * 10.0; // USER_HZ 100: ms per minute
    (pss, cpu)
}

#[tokio::main]
async fn main() {
    let mut config = server_config();
    for i in 0..SOURCES {
        config.tokens.insert(format!("token-{i}"), user(i));
    }
    config.log_size = 2_000;
    let server = TestServer::start(config).await;

    let (d1, app1, pid1) = start(&server, 1).await;
    let (pss1, cpu1) = idle(pid1).await;
    println!("1 source idle: PSS {pss1:.1} MiB, CPU {cpu1:.0} ms per minute");
    drop(app1);
    drop(d1);

    for (one_socket, what) in [
        (true, "one ntfy source with 5 topics"),
        (false, "5 ntfy sources of a topic each"),
    ] {
        let (pss, cpu) = push_idle(5, one_socket).await;
        println!(
            "{what} + 1 Gotify idle: PSS {pss:.1} MiB (+{:.1} MiB over one site source), CPU {cpu:.0} ms per minute",
            pss - pss1
        );
    }

    let (d, app, pid) = start(&server, SOURCES).await;
    let (pss20, cpu20) = idle(pid).await;
    println!(
        "{SOURCES} sources idle: PSS {pss20:.1} MiB (+{:.1} MiB over one), CPU {cpu20:.0} ms per minute",
        pss20 - pss1
    );

    // 20 × 1,000 events, interleaved, as fast as the server takes them.
    let state = server.state().clone();
    let t0 = Instant::now();
    for n in 0..BURST {
        for i in 0..SOURCES {
            let new = NewEvent {
                user: user(i),
                kind: Kind::ALL[(n % 3) as usize],
                actor: format!("a{}", n % 31),
                target: Target {
                    title: format!("burst {n}"),
                    url: "https://example.com/burst".into(),
                },
            };
            state
                .store
                .publish(&state.hub, new, 0)
                .await
                .expect("publish");
        }
    }
    let published = t0.elapsed();
    // Every source has announced its 1,000 (the log names each range).
    let announced = |log: &str| -> HashMap<usize, Vec<u64>> {
        let mut by: HashMap<usize, Vec<u64>> = HashMap::new();
        for line in log.lines() {
            let Some((_, rest)) = line.split_once("source ") else {
                continue;
            };
            let Some((n, rest)) = rest.split_once(": announcing ") else {
                continue;
            };
            let Some((_, seqs)) = rest.split_once("seq ") else {
                continue;
            };
            let Ok(n) = n.parse::<usize>() else { continue };
            for part in seqs.trim().split(',') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
                    by.entry(n).or_default().extend(a..=b);
                }
            }
        }
        by
    };
    let by = d
        .poll_for(
            Duration::from_secs(120),
            "every event announced",
            || async {
                let by = announced(&d.app_log());
                (by.len() == SOURCES && by.values().all(|v| v.len() as u64 >= BURST)).then_some(by)
            },
        )
        .await;
    let settled = t0.elapsed();
    let once = by.values().all(|v| {
        let set: HashSet<u64> = v.iter().copied().collect();
        set.len() == v.len() && set.len() as u64 == BURST
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (calls, slots, worst) = {
        let r = d.shared.lock().expect("lock");
        let mut per: HashMap<String, HashSet<u32>> = HashMap::new();
        for n in &r.notes {
            let source = n.summary.split(" · ").next().unwrap_or("").to_owned();
            per.entry(source).or_default().insert(n.id);
        }
        let worst = per.values().map(HashSet::len).max().unwrap_or(0);
        (r.notes.len(), per.len(), worst)
    };
    println!(
        "{SOURCES} sources × {BURST} events: published in {:.0} ms, all announced after {:.0} ms, each exactly once: {once}; {calls} Notify calls from {slots} sources, at most {worst} toast ids per source (3 kinds: ≤ 1 visible per source and kind)",
        published.as_secs_f64() * 1e3,
        settled.as_secs_f64() * 1e3,
    );
    drop(app);
}
