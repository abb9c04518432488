//! chime-server under 10,000 concurrent chime-client clients on loopback:
//! memory per connection, publish → deliver latency, and how long all
//! clients take to come back after a graceful restart (and how spread out
//! their reconnects are).
//! `cargo build --release -p chime-server && cargo run --release -p chime-e2e --bin bench-server`
//! Environment: BENCH_CLIENTS (default 10000), BENCH_PUBLISHES (default 1000).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chime_client::Client;
use chime_e2e::http_post;
use chime_engine::supervisor::Output;
use chime_engine::{Config, InboxState, NewItem, ServerProfile};
use chime_proto::protocol::Dialect;
use tokio::sync::mpsc;
use tokio::time::Instant;

const KEY: &str = "bench-key";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.min(1 << 20);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

fn server_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("exe");
    exe.parent().expect("dir").join("chime-server")
}

fn start_server(bind: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(server_bin())
        .args([
            "--bind",
            bind,
            "--insecure-dev-auth",
            "--max-conns-per-ip",
            "0",
            "--publisher-key",
            KEY,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chime-server (build it with cargo build --release -p chime-server)");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("read");
    // Keep draining so the server never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let addr = line
        .trim()
        .strip_prefix("chime-server listening on ")
        .expect("listening line")
        .parse()
        .expect("addr");
    (child, addr)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

enum Note {
    Connected(usize, Instant),
    Item(usize, Instant),
}

#[tokio::main]
async fn main() {
    let n = env("BENCH_CLIENTS", 10_000);
    let publishes = env("BENCH_PUBLISHES", 1_000);
    let fds = raise_fd_limit();
    println!("server bench: {n} clients, fd limit {fds}");
    let (mut server, addr) = start_server("127.0.0.1:0");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss0 = rss_kib(server.id());

    let (tx, mut rx) = mpsc::unbounded_channel();
    let t0 = Instant::now();
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let mut profile =
            ServerProfile::new(&format!("ws://{addr}/v1/stream?user=u{i}")).expect("url");
        profile.dialect = Dialect::Native;
        let config = Config {
            dialect: Dialect::Native,
            ..Config::default()
        };
        let mut client = Client::spawn(profile, config, InboxState::default()).expect("spawn");
        let tx = tx.clone();
        let mut events = std::mem::replace(&mut client.events, mpsc::unbounded_channel().1);
        tokio::spawn(async move {
            while let Some(out) = events.recv().await {
                let now = Instant::now();
                let note = match out {
                    Output::State(s) if s.is_connected() => Note::Connected(i, now),
                    Output::Items(items) => match items.first() {
                        Some(NewItem::Event(_)) => Note::Item(i, now),
                        _ => continue,
                    },
                    _ => continue,
                };
                if tx.send(note).is_err() {
                    return;
                }
            }
        });
        clients.push(client);
    }
    let mut connected = vec![false; n];
    let mut count = 0;
    while count < n {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(Note::Connected(i, _))) if !connected[i] => {
                connected[i] = true;
                count += 1;
            }
            Ok(Some(_)) => {}
            _ => panic!("only {count} of {n} clients connected"),
        }
    }
    let ramp = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = rss_kib(server.id());
    println!("all {n} connected in {}", ms(ramp));
    println!(
        "server RSS: {:.1} MiB idle, {:.1} MiB with {n} clients → {:.1} KiB per connection",
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        (rss1.saturating_sub(rss0)) as f64 / n as f64
    );
    println!(
        "bench process RSS (all {n} chime-client clients): {:.1} MiB",
        rss_kib(std::process::id()) as f64 / 1024.0
    );

    // Publish → deliver, everyone connected.
    let mut sent: HashMap<usize, Instant> = HashMap::new();
    let mut lat = Vec::with_capacity(publishes);
    for k in 0..publishes {
        let user = (k * 7919) % n;
        let body = format!(
            r#"{{"user":"u{user}","kind":"like","actor":"Bench","target":{{"title":"t","url":"https://example.com/"}}}}"#
        );
        let t = Instant::now();
        sent.insert(user, t);
        let (status, _) = http_post(addr, "/v1/events", KEY, &body).await;
        assert_eq!(status, 200);
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(Note::Item(i, at))) if i == user => {
                    lat.push(at - t);
                    break;
                }
                Ok(Some(_)) => {}
                _ => panic!("delivery {k} lost"),
            }
        }
    }
    lat.sort();
    println!(
        "publish → deliver ({publishes} events, HTTP POST to client's event): p50 {}  p99 {}  max {}",
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(*lat.last().expect("samples"))
    );

    // Graceful restart: 1012 to everyone, new process on the same port.
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let (new_server, _) = start_server(&addr.to_string());
    server = new_server;
    let back = Instant::now();
    let mut again = vec![false; n];
    let mut times = Vec::with_capacity(n);
    while times.len() < n {
        match tokio::time::timeout(Duration::from_secs(120), rx.recv()).await {
            Ok(Some(Note::Connected(i, at))) if !again[i] && at >= back => {
                again[i] = true;
                times.push(at - back);
            }
            Ok(Some(_)) => {}
            _ => panic!("only {} of {n} clients came back", times.len()),
        }
    }
    times.sort();
    println!(
        "graceful restart (1012): all {n} back in {}; reconnects spread p10 {}  p50 {}  p90 {}  p99 {}",
        ms(*times.last().expect("samples")),
        ms(pct(&times, 0.1)),
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.9)),
        ms(pct(&times, 0.99))
    );
    let _ = server.kill();
    let _ = server.wait();
    std::process::exit(0);
}
