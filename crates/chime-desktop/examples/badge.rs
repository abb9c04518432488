//! Write a tray icon as raw RGBA to stdout, to look at it:
//! `cargo run -p chime-desktop --example badge -- 32 12 connected | convert -size 32x32 -depth 8 rgba:- icon.png`

use std::io::Write;

use chime_desktop::badge::{render, Look};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(32);
    let count = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let look = match args.get(3).map(String::as_str) {
        Some("connecting") => Look::Connecting,
        Some("offline") => Look::Offline,
        Some("problem") => Look::Problem,
        _ => Look::Connected,
    };
    let _ = std::io::stdout().write_all(&render(size, count, look));
}
