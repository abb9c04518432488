//! The inbox store on disk: record throughput by batch size (one
//! transaction per batch, as the app does), listing the inbox window's page,
//! and the file size at the row cap.
//! `cargo run --release -p chime-e2e --bin bench-store`

use std::time::Instant;

use chime_engine::inbox::{InboxState, NewItem};
use chime_proto::{Event, Kind, Target};
use chime_store::{Filter, Store, DEFAULT_CAP};

fn event(seq: u64) -> NewItem {
    NewItem::Event(Event {
        seq,
        kind: Kind::ALL[(seq % 3) as usize],
        actor: format!("user{}", seq % 97),
        target: Target {
            title: format!("A post title of ordinary length, number {seq}"),
            url: format!("https://example.com/posts/{seq}"),
        },
        time: 1_700_000_000_000 + seq as i64,
        message: None,
    })
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

const SOURCE: &str = chime_store::DEFAULT_SOURCE;
/// "Now" for the records: event times are before it.
const NOW: i64 = 1_764_000_000_000;

fn main() {
    let root = std::env::temp_dir().join(format!("chime-bench-store-{}", std::process::id()));
    for batch in [1usize, 16, 256, 4096] {
        let dir = root.join(format!("b{batch}"));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = Store::open(&dir.join("inbox.sqlite3")).expect("open");
        store.resume(SOURCE, "wss://bench/").expect("resume");
        let total: u64 = if batch == 1 { 4_000 } else { 20_000 };
        let t0 = Instant::now();
        let mut seq = 0;
        while seq < total {
            let items: Vec<NewItem> = (seq + 1..=(seq + batch as u64).min(total))
                .map(event)
                .collect();
            seq += items.len() as u64;
            let state = InboxState {
                last_seq: seq,
                epoch: Some("e".into()),
                ..InboxState::default()
            };
            store.record(SOURCE, &items, &state, NOW).expect("record");
        }
        let dt = t0.elapsed();
        println!(
            "record, {batch:>4} per transaction: {:>7.0} events/s ({:.1} µs/event, {} events, capped at {} rows)",
            total as f64 / dt.as_secs_f64(),
            dt.as_secs_f64() * 1e6 / total as f64,
            total,
            store.len().expect("len"),
        );
        if batch == 4096 {
            let t0 = Instant::now();
            let n = 200;
            for _ in 0..n {
                std::hint::black_box(store.list(&Filter::default(), 500).expect("list"));
            }
            let page = t0.elapsed() / n;
            let t0 = Instant::now();
            for _ in 0..n {
                let replies = Filter {
                    kind: Some(Kind::Reply),
                    ..Filter::default()
                };
                std::hint::black_box(store.list(&replies, 500).expect("list"));
            }
            let filtered = t0.elapsed() / n;
            println!(
                "inbox page of 500 rows from {DEFAULT_CAP}: {:.2} ms (one kind: {:.2} ms)",
                page.as_secs_f64() * 1e3,
                filtered.as_secs_f64() * 1e3
            );
            drop(store);
            println!(
                "files at {DEFAULT_CAP} rows (db + wal): {:.2} MiB",
                dir_size(&dir) as f64 / 1048576.0
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}
