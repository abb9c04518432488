//! Policy as data: how long to wait before the next dial, when to ping, when
//! a silent link is dead. Pure functions, no clocks, no randomness of their
//! own (the caller passes a uniform sample in `[0, 1)`).

use std::time::Duration;

/// Exponential backoff with symmetric jitter and a cap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Base delay of the first retry (before jitter).
    pub first: Duration,
    /// Growth per failed attempt.
    pub factor: f64,
    /// Jitter as a fraction of the base: 0.5 means ±50 %.
    pub jitter: f64,
    /// No delay is ever longer than this.
    pub cap: Duration,
}

impl Backoff {
    /// Unexpected closes and transport failures: first retry in 0.25–0.75 s,
    /// then ×2 with ±50 % jitter, capped at 60 s, forever.
    pub const RECONNECT: Backoff = Backoff {
        first: Duration::from_millis(500),
        factor: 2.0,
        jitter: 0.5,
        cap: Duration::from_secs(60),
    };

    /// Refused sign-in or a misconfigured server: a person has to act, so
    /// retry slowly (1 min, 2, 4 … capped at 15 min) and never storm.
    pub const SLOW: Backoff = Backoff {
        first: Duration::from_secs(60),
        factor: 2.0,
        jitter: 0.2,
        cap: Duration::from_secs(15 * 60),
    };

    /// The server asked us to come back later (close 1013, HTTP 429).
    pub const TRY_LATER: Backoff = Backoff {
        first: Duration::from_secs(15),
        factor: 2.0,
        jitter: 0.5,
        cap: Duration::from_secs(120),
    };

    /// Delay before retry number `attempt` (0 = the first retry). `sample` is
    /// uniform in `[0, 1)`; 0.5 gives the un-jittered base.
    pub fn delay(&self, attempt: u32, sample: f64) -> Duration {
        let cap = self.cap.as_secs_f64();
        let growth = self.factor.powi(attempt.min(64) as i32);
        let base = (self.first.as_secs_f64() * growth).min(cap);
        let sample = sample.clamp(0.0, 1.0);
        let jittered = base * (1.0 + self.jitter * (2.0 * sample - 1.0));
        Duration::from_secs_f64(jittered.clamp(0.0, cap))
    }
}

/// When to send a heartbeat and when silence means death.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// A heartbeat goes out this long after the previous one.
    pub interval: Duration,
    /// Extra silence tolerated after a heartbeat is due to be answered.
    pub timeout: Duration,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(15),
        }
    }
}

impl Heartbeat {
    /// Servers that ping us every 45 s and drop a client that misses them
    /// (ntfy, Gotify): nothing is sent; a link is dead once 45 s + 30 s
    /// pass without a frame or a ping.
    pub const SERVER_PINGS: Heartbeat = Heartbeat {
        interval: Duration::from_secs(45),
        timeout: Duration::from_secs(30),
    };

    /// Shortest interval a user may configure.
    pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

    pub fn with_interval(interval: Duration) -> Heartbeat {
        Heartbeat {
            interval: interval.max(Self::MIN_INTERVAL),
            ..Heartbeat::default()
        }
    }

    /// The link is dead once nothing has arrived for this long.
    pub fn dead_after(&self) -> Duration {
        self.interval + self.timeout
    }
}

pub use chime_proto::jitter::Jitter;

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn reconnect_backoff_follows_the_table() {
        // (attempt, sample, expected)
        let table = [
            (0, 0.0, ms(250)),
            (0, 0.5, ms(500)),
            (0, 0.999_999, ms(750)),
            (1, 0.5, ms(1_000)),
            (2, 0.5, ms(2_000)),
            (3, 0.0, ms(2_000)),
            (3, 1.0, ms(6_000)),
            (6, 0.5, ms(32_000)),
            (7, 0.5, ms(60_000)),
            (7, 0.0, ms(30_000)),
            (7, 1.0, ms(60_000)),
            (1_000, 0.5, ms(60_000)),
            (u32::MAX, 0.25, ms(45_000)),
        ];
        for (attempt, sample, want) in table {
            let got = Backoff::RECONNECT.delay(attempt, sample);
            assert!(
                got.abs_diff(want) < ms(2),
                "attempt {attempt} sample {sample}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn first_retry_is_never_later_than_one_second() {
        let mut j = Jitter::seeded(7);
        for _ in 0..10_000 {
            assert!(Backoff::RECONNECT.delay(0, j.sample()) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn slow_backoff_is_minutes_and_capped() {
        let table = [
            (0, 0.5, 60),
            (1, 0.5, 120),
            (2, 0.5, 240),
            (4, 0.5, 900),
            (30, 1.0, 900),
        ];
        for (attempt, sample, secs) in table {
            assert_eq!(
                Backoff::SLOW.delay(attempt, sample).as_secs(),
                secs,
                "attempt {attempt}"
            );
        }
    }

    #[test]
    fn heartbeat_dead_after_is_interval_plus_timeout() {
        let table = [
            (Heartbeat::default(), 45),
            (Heartbeat::with_interval(Duration::from_secs(1)), 16),
            (Heartbeat::with_interval(Duration::from_millis(10)), 16),
            (Heartbeat::with_interval(Duration::from_secs(60)), 75),
        ];
        for (hb, secs) in table {
            assert_eq!(hb.dead_after(), Duration::from_secs(secs), "{hb:?}");
        }
    }

    #[test]
    fn jitter_samples_are_uniform_enough_and_reproducible() {
        let mut a = Jitter::seeded(42);
        let mut b = Jitter::seeded(42);
        let xs: Vec<f64> = (0..10_000).map(|_| a.sample()).collect();
        let ys: Vec<f64> = (0..10_000).map(|_| b.sample()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        let low = xs.iter().filter(|x| **x < 0.1).count();
        assert!((800..1200).contains(&low), "low decile {low}");
    }
}
