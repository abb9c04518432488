//! "Pause notifications": a deadline on the wall clock, not the monotonic
//! one. A laptop suspended through a one-hour pause wakes with the pause
//! over (the monotonic clock stops during suspend, and a pause measured on
//! it would last an hour *plus* the sleep, while the menu still said
//! "until 18:00"). Time enters only through `now` arguments.

use std::time::Duration;

pub use jiff::Timestamp;

/// Every source's toasts paused until a wall-clock time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pause {
    until: Option<Timestamp>,
}

impl Pause {
    /// Pause for `d` from `now`; `None` resumes.
    pub fn set(&mut self, now: Timestamp, d: Option<Duration>) {
        self.until = d.and_then(|d| {
            let d = jiff::SignedDuration::try_from(d).ok()?;
            now.checked_add(d).ok()
        });
    }

    /// When the pause ends, if one is set (it may be over already).
    pub fn until(&self) -> Option<Timestamp> {
        self.until
    }

    pub fn is_paused(&self, now: Timestamp) -> bool {
        self.until.is_some_and(|t| now < t)
    }

    /// A pause whose time has come is cleared; returns whether one was.
    pub fn expire(&mut self, now: Timestamp) -> bool {
        let over = self.until.is_some_and(|t| now >= t);
        if over {
            self.until = None;
        }
        over
    }

    /// How long until the pause ends, for a timer (a timer on the
    /// monotonic clock fires late after a suspend: whoever wakes then —
    /// the resume signal, any event — checks [`Pause::expire`] again).
    pub fn remaining(&self, now: Timestamp) -> Option<Duration> {
        let until = self.until?;
        let left = until.duration_since(now);
        Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn a_pause_ends_at_its_wall_clock_time_however_long_the_machine_slept() {
        let start = at("2026-12-04T17:00:00Z");
        let mut p = Pause::default();
        p.set(start, Some(Duration::from_secs(3600)));
        // Table: (wall time seen, paused?). Suspended from 17:10 to 08:00:
        // the first look after waking finds the pause over.
        let table = [
            ("2026-12-04T17:00:00Z", true),
            ("2026-12-04T17:59:59Z", true),
            ("2026-12-05T08:00:00Z", false),
        ];
        for (now, paused) in table {
            assert_eq!(p.is_paused(at(now)), paused, "{now}");
        }
        assert!(p.expire(at("2026-12-05T08:00:00Z")), "cleared once over");
        assert_eq!(p.until(), None);
        assert!(!p.expire(at("2026-12-05T08:00:01Z")));
    }

    #[test]
    fn remaining_counts_down_and_is_zero_once_over_and_resume_clears() {
        let start = at("2026-12-04T17:00:00Z");
        let mut p = Pause::default();
        assert_eq!(p.remaining(start), None);
        p.set(start, Some(Duration::from_secs(90)));
        assert_eq!(p.remaining(start), Some(Duration::from_secs(90)));
        assert_eq!(
            p.remaining(at("2026-12-04T17:01:00Z")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            p.remaining(at("2026-12-05T00:00:00Z")),
            Some(Duration::ZERO)
        );
        p.set(start, None);
        assert!(!p.is_paused(start));
        // A duration past the end of time is no pause, not a panic.
        p.set(start, Some(Duration::MAX));
        assert_eq!(p.until(), None);
    }
}
