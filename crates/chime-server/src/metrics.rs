//! Counters for `GET /metrics` (Prometheus text format).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub published: AtomicU64,
    pub delivered: AtomicU64,
    pub replayed: AtomicU64,
    pub dropped_slow: AtomicU64,
    pub rejected_auth: AtomicU64,
    pub bad_frames: AtomicU64,
}

impl Metrics {
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 8] = [
            (
                "chime_connections",
                "gauge",
                "WebSocket clients connected now",
                &self.connections,
            ),
            (
                "chime_connections_total",
                "counter",
                "WebSocket clients accepted",
                &self.connections_total,
            ),
            (
                "chime_events_published_total",
                "counter",
                "events published",
                &self.published,
            ),
            (
                "chime_pushes_delivered_total",
                "counter",
                "pushes queued to clients",
                &self.delivered,
            ),
            (
                "chime_events_replayed_total",
                "counter",
                "events replayed on resume",
                &self.replayed,
            ),
            (
                "chime_slow_consumers_dropped_total",
                "counter",
                "clients closed for a full queue",
                &self.dropped_slow,
            ),
            (
                "chime_auth_rejected_total",
                "counter",
                "upgrades refused for credentials",
                &self.rejected_auth,
            ),
            (
                "chime_bad_frames_total",
                "counter",
                "malformed client frames",
                &self.bad_frames,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, v) in rows {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        out
    }
}
