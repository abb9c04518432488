//! Jitter for reconnects and restarts: the engine's backoff and the
//! server's close-with-1012 spread both draw from it.

/// A small deterministic generator (SplitMix64) for jitter: seedable in
/// tests, no dependency, good enough to spread reconnects.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn seeded(seed: u64) -> Jitter {
        Jitter(seed)
    }

    /// Seeded from the clock and the process id: different per client.
    pub fn from_entropy() -> Jitter {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let addr = &t as *const u64 as u64;
        Jitter(t ^ (u64::from(std::process::id()) << 32) ^ addr.rotate_left(17))
    }

    /// Uniform in `[0, 1)`.
    pub fn sample(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}
