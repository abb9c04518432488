//! Local wall-clock time, for "paused until 14:30" and quiet hours.

use std::time::Duration;

/// Seconds since the epoch, `d` from now.
fn epoch_secs(d: Duration) -> libc::time_t {
    (std::time::SystemTime::now() + d)
        .duration_since(std::time::UNIX_EPOCH)
        .map(|x| x.as_secs() as libc::time_t)
        .unwrap_or(0)
}

/// Local wall-clock time `d` from now, as HH:MM.
pub fn local_hhmm(d: Duration) -> String {
    let (h, m, _) = local_hms(epoch_secs(d));
    format!("{h:02}:{m:02}")
}

fn local_tm(t: libc::time_t) -> Option<libc::tm> {
    // SAFETY: localtime_r writes only into the struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    ok.then_some(tm)
}

fn local_hms(t: libc::time_t) -> (i32, i32, i32) {
    local_tm(t).map_or((0, 0, 0), |tm| (tm.tm_hour, tm.tm_min, tm.tm_sec))
}

/// Local weekday (0 = Sunday) and minute of the day, for quiet hours.
pub fn local_wday_minute() -> (u8, u16) {
    local_tm(epoch_secs(Duration::ZERO)).map_or((0, 0), |tm| {
        (
            tm.tm_wday.clamp(0, 6) as u8,
            (tm.tm_hour * 60 + tm.tm_min).clamp(0, 1439) as u16,
        )
    })
}

/// Until the next local midnight.
pub fn until_tomorrow() -> Duration {
    let (h, m, s) = local_hms(epoch_secs(Duration::ZERO));
    let gone = (h * 3600 + m * 60 + s) as u64;
    Duration::from_secs(86_400u64.saturating_sub(gone).max(60))
}
