//! Parse throughput and allocations per message for both dialects.
//! `cargo run --release -p chime-e2e --bin bench-parse`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chime_engine::inbox::Inbox;
use chime_proto::protocol::{Dialect, ServerMsg};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn bench(name: &str, dialect: Dialect, frames: &[String]) {
    let n = 400_000;
    let mut inbox = Inbox::default();
    // Warm up.
    for f in frames.iter().take(1000) {
        black_box(ServerMsg::parse(dialect, f).ok());
    }
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let mut bytes = 0usize;
    for i in 0..n {
        let f = &frames[i % frames.len()];
        bytes += f.len();
        match ServerMsg::parse(dialect, f) {
            Ok(ServerMsg::SeedSnapshot(s)) => {
                black_box(inbox.apply_seed(s));
            }
            Ok(ServerMsg::Event(e)) => {
                black_box(inbox.apply_event(e));
            }
            other => {
                black_box(other.ok());
            }
        }
    }
    let dt = t0.elapsed();
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    println!(
        "{name:<28} {:>10.0} msg/s  {:>7.1} MB/s  {:>6.0} ns/msg  {:>5.1} allocs/msg (parse + inbox)",
        n as f64 / dt.as_secs_f64(),
        bytes as f64 / dt.as_secs_f64() / 1e6,
        dt.as_nanos() as f64 / n as f64,
        allocs as f64 / n as f64
    );
}

fn main() {
    let seed: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                r#"{{"newReplyNum": {}, "newLikeNum": {}, "newDisLikeNum": {}}}"#,
                i / 3,
                i,
                i / 7
            )
        })
        .collect();
    let seed_strings: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                r#"{{ "newReplyNum" : "{}", "newLikeNum": "{}", "extra": [1,2] }}"#,
                i / 3,
                i
            )
        })
        .collect();
    let native: Vec<String> = (1..=1000)
        .map(|i| format!(
            r#"{{"type":"event","seq":{i},"kind":"like","actor":"Alice Example","target":{{"title":"A gentle guide to Rust lifetimes","url":"https://example.com/posts/{i}"}},"time":1764100000000}}"#
        ))
        .collect();
    println!(
        "parse benchmark ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    bench("seed snapshot", Dialect::Seed, &seed);
    bench("seed, strings + extras", Dialect::Seed, &seed_strings);
    bench("native event", Dialect::Native, &native);
    bench("native event (auto)", Dialect::Auto, &native);
}
