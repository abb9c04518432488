//! The app on a private desktop, measured: cold start, publish → D-Bus Notify
//! latency, a 10,000-event burst, idle memory and CPU, binary size.
//! `cargo build --release -p chime-app --bins --examples && ./target/release/examples/bench_desktop`

#[path = "../tests/desktop/mod.rs"]
mod desktop;

use std::time::Duration;

use chime_e2e::{server_config, TestServer, TOKEN, USER};
use chime_proto::{Kind, Target};
use chime_server::NewEvent;
use desktop::Desktop;
use tokio::time::Instant;

fn app_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("exe");
    exe.parent()
        .and_then(|p| p.parent())
        .expect("dir")
        .join("chime")
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// (PSS, private dirty) in KiB from smaps_rollup.
fn memory(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("Pss:"), field("Private_Dirty:"))
}

/// The app and its children (WebKit processes, if any).
fn tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let children =
            std::fs::read_to_string(format!("/proc/{}/task/{}/children", out[i], out[i]))
                .unwrap_or_default();
        out.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
        i += 1;
    }
    out
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn launch(d: &Desktop, url: &str) -> desktop::Proc {
    d.launch_bin(&app_bin(), &["--server", url, "--token", TOKEN])
}

/// Idle memory of the tray with a site, ntfy and Gotify, then with three
/// fediverse accounts beside them (two Mastodon, one Misskey).
async fn accounts() {
    use chime_e2e::fedi::{IdShape, MastodonServer, MisskeyServer};
    use chime_e2e::push::{GotifyServer, NtfyServer};
    let site = TestServer::start(server_config()).await;
    let ntfy = NtfyServer::start().await;
    let gotify = GotifyServer::start("Cbench", &["Bench"]).await;
    let social = MastodonServer::start("M1", IdShape::Digits).await;
    let other = MastodonServer::start("M2", IdShape::Ulid).await;
    let key = MisskeyServer::start("K1").await;
    let base: Vec<String> = [
        "--server",
        &site.native_url(),
        "--token",
        TOKEN,
        "--name",
        "Blog",
        "--server",
        &ntfy.url("alerts,ci"),
        "--dialect",
        "ntfy",
        "--name",
        "Home",
        "--server",
        &gotify.url(),
        "--dialect",
        "gotify",
        "--token",
        "Cbench",
        "--name",
        "NAS",
    ]
    .map(String::from)
    .to_vec();
    let mut with_accounts = base.clone();
    with_accounts.extend(
        [
            "--server",
            &social.url(),
            "--dialect",
            "mastodon",
            "--token",
            "M1",
            "--name",
            "Social",
            "--server",
            &other.url(),
            "--dialect",
            "mastodon",
            "--token",
            "M2",
            "--name",
            "Other",
            "--server",
            &key.url(),
            "--dialect",
            "misskey",
            "--token",
            "K1",
            "--name",
            "Key",
        ]
        .map(String::from),
    );
    for (what, args, sources) in [
        ("site, ntfy, Gotify", base, 3),
        ("the same + 3 accounts", with_accounts, 6),
    ] {
        let mut d = Desktop::start(true).await;
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let app = d.launch_bin(&app_bin(), &argv);
        let item = d.tray_item().await;
        d.poll_for(
            Duration::from_secs(30),
            "every source connected",
            || async {
                let labels = item.labels().await;
                (labels.iter().filter(|l| l.contains("— Connected")).count() >= sources)
                    .then_some(())
            },
        )
        .await;
        for n in 0..20 {
            social.notify("favourite", "alice", &format!("p{n}"), false);
            key.notify("reaction", "❤", "Bob", &format!("n{n}"));
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        println!(
            "idle memory, {what} ({sources} links): {}",
            mem_of(&tree(app.0.id()))
        );
        drop(app);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var("BENCH_ONLY").as_deref() == Ok("accounts") {
        return accounts().await;
    }
    // A replay log big enough for the 5,000-row inbox of the window figures.
    let server = TestServer::start(chime_server::ServerConfig {
        log_size: 10_000,
        ..server_config()
    })
    .await;
    let url = server.native_url();
    let size = std::fs::metadata(app_bin()).map(|m| m.len()).unwrap_or(0);
    println!(
        "release binary: {:.1} MiB ({})",
        size as f64 / 1048576.0,
        app_bin().display()
    );

    // Cold start: spawn → tray registered and link connected.
    let mut starts = Vec::new();
    for _ in 0..5 {
        let mut d = Desktop::start(true).await;
        let before = server.connections_total();
        let t0 = Instant::now();
        let app = launch(&d, &url);
        d.tray_item().await;
        d.poll("connected", || async {
            (server.connections_total() > before).then_some(())
        })
        .await;
        starts.push(t0.elapsed());
        drop(app);
    }
    starts.sort();
    println!(
        "cold start to tray registered + connected (5 runs): p50 {}  max {}",
        ms(pct(&starts, 0.5)),
        ms(starts[4])
    );

    let mut d = Desktop::start(true).await;
    let app = launch(&d, &url);
    let item = d.tray_item().await;
    d.poll("connected", || async {
        item.labels()
            .await
            .iter()
            .any(|l| l.starts_with("Connected"))
            .then_some(())
    })
    .await;

    // Publish → Notify, each kind quiet (items of a kind 3.3 s apart).
    let mut lat = Vec::new();
    for i in 0..45 {
        let kind = ["like", "dislike", "reply"][i % 3];
        let n = d.shared.lock().expect("lock").notes.len();
        let t0 = Instant::now();
        server
            .publish(USER, kind, "Ann", &format!("post {i}"))
            .await;
        d.until("the toast", |r| (r.notes.len() > n).then_some(()))
            .await;
        lat.push(t0.elapsed());
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    lat.sort();
    println!(
        "publish (HTTP) → D-Bus Notify, quiet period (45 events): p50 {}  p99 {}  max {}",
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(*lat.last().expect("samples"))
    );

    // Idle: memory and CPU with no window.
    item.click("Mark all as read").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pid = app.0.id();
    let procs = tree(pid);
    println!("idle memory, no window: {}", mem_of(&procs));
    let tick = 100.0; // USER_HZ
    let c0 = cpu_ticks(pid);
    let idle = Duration::from_secs(60);
    tokio::time::sleep(idle).await;
    let c1 = cpu_ticks(pid);
    println!(
        "idle CPU: {:.0} ms per minute",
        (c1 - c0) as f64 / tick * 1000.0
    );

    // 10,000 events in one second.
    let state = server.state().clone();
    let before = d.shared.lock().expect("lock").notes.len();
    let t0 = Instant::now();
    for i in 0..10_000u32 {
        let kind = Kind::ALL[(i % 3) as usize];
        let new = NewEvent {
            user: USER.into(),
            kind,
            actor: format!("user{}", i % 97),
            target: Target {
                title: "Burst".into(),
                url: "https://example.com/burst".into(),
            },
        };
        state
            .store
            .publish(&state.hub, new, 0)
            .await
            .expect("publish");
        if i % 100 == 99 {
            tokio::time::sleep_until(t0 + Duration::from_millis(u64::from(i + 1) / 10)).await;
        }
    }
    let sent = t0.elapsed();
    let labels = d
        .poll_for(Duration::from_secs(60), "exact counts", || async {
            let l = item.labels().await;
            (l.iter().any(|x| x == "3334 new likes")
                && l.iter().any(|x| x == "3333 new dislikes")
                && l.iter().any(|x| x == "3333 new replies"))
            .then_some(l)
        })
        .await;
    let settled = t0.elapsed();
    let _ = labels;
    let badge = item.badge().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let r = d.shared.lock().expect("lock");
        let burst = &r.notes[before..];
        let ids: std::collections::HashSet<u32> = burst.iter().map(|n| n.id).collect();
        let finals: Vec<&str> = burst
            .iter()
            .rev()
            .take(3)
            .map(|n| n.summary.as_str())
            .collect();
        println!(
            "10,000-event burst in 1 s: published in {}, menu counts exact after {}, badge {:?}, {} Notify calls on {} toast ids (3 kinds); last summaries {:?}",
            ms(sent),
            ms(settled),
            badge,
            burst.len(),
            ids.len(),
            finals
        );
    }
    drop(app);
    drop(d);

    windows(&url, &server).await;
    accounts().await;
}

/// The app's own processes in a desktop: the app and its WebKit helpers
/// (found by the desktop's private directory in their environment).
fn app_procs(d: &Desktop) -> Vec<u32> {
    let marker = d.dir.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let comm = comm.trim();
        let ours = comm == "chime" || (comm.starts_with("WebKit") && comm != "WebKitWebDriver");
        if !ours {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if String::from_utf8_lossy(&env).contains(&marker) {
            out.push(pid);
        }
    }
    out
}

/// Summed PSS and private dirty memory of `procs`.
fn mem_of(procs: &[u32]) -> String {
    let (pss, dirty) = procs
        .iter()
        .map(|p| memory(*p))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    format!(
        "{} process{}, PSS {:.1} MiB, private dirty {:.1} MiB",
        procs.len(),
        if procs.len() == 1 { "" } else { "es" },
        pss as f64 / 1024.0,
        dirty as f64 / 1024.0
    )
}

fn mem_line(d: &Desktop) -> String {
    mem_of(&app_procs(d))
}

/// Memory with the inbox window open on a full inbox, after closing it, and
/// after opening and closing it again three times (no leak, no helpers left).
async fn windows(url: &str, server: &TestServer) {
    let state = server.state().clone();
    chime_e2e::publish_numbered(&state, "bob", 0..5_000).await;
    let mut d = Desktop::start(true).await;
    let driver = desktop::webdriver::Driver::start(&d).await;
    let t0 = Instant::now();
    let s = driver
        .session(&["--server", url, "--token", "bob-token", "--open", "inbox"])
        .await;
    s.until_count(".row", 500).await;
    println!(
        "inbox window: session start → 500 of 5,000 rows shown: {}",
        ms(t0.elapsed())
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("inbox window open: {}", mem_line(&d));
    let item = d.tray_item().await;
    s.press("\u{E00C}").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!("inbox window closed: {}", mem_line(&d));
    for round in 1..=3 {
        item.click("Open inbox…").await;
        s.attach().await;
        s.until_count(".row", 500).await;
        s.press("\u{E00C}").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        println!("after open/close #{round}: {}", mem_line(&d));
    }
    s.quit().await;
}
