//! Local wall-clock time for "paused until 14:30", "until tomorrow" and
//! quiet hours, from jiff and the system's time zone database: right across
//! daylight-saving changes (a day is not always 86,400 s). Pure functions
//! of an instant and a zone, so the tests pick both.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The zone the user lives in (UTC if the system cannot say).
pub fn system_zone() -> TimeZone {
    TimeZone::try_system().unwrap_or(TimeZone::UTC)
}

/// Now, on the wall clock.
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// The local time `d` after `at`, as HH:MM.
pub fn hhmm(at: Timestamp, d: Duration, tz: &TimeZone) -> String {
    let then = i64::try_from(d.as_secs())
        .ok()
        .and_then(|s| at.as_second().checked_add(s))
        .and_then(|s| Timestamp::from_second(s).ok())
        .unwrap_or(at);
    let z = then.to_zoned_datetime(tz.clone());
    format!("{:02}:{:02}", z.hour(), z.minute())
}

/// Local weekday (0 = Sunday) and minute of the day at `at`.
pub fn wday_minute(at: Timestamp, tz: &TimeZone) -> (u8, u16) {
    let z = at.to_zoned_datetime(tz.clone());
    let wday = z.weekday().to_sunday_zero_offset().clamp(0, 6) as u8;
    let minute = (i16::from(z.hour()) * 60 + i16::from(z.minute())).clamp(0, 1439) as u16;
    (wday, minute)
}

/// From `at` until the next local midnight (at least a minute): on the day
/// the clocks go forward that is an hour less than the seconds left on a
/// 24-hour day, on the day they go back an hour more.
pub fn until_tomorrow(at: Timestamp, tz: &TimeZone) -> Duration {
    let z = at.to_zoned_datetime(tz.clone());
    let next = z.tomorrow().and_then(|t| t.start_of_day());
    let secs = match next {
        Ok(midnight) => midnight.timestamp().as_second() - at.as_second(),
        Err(_) => 86_400,
    };
    Duration::from_secs(u64::try_from(secs).unwrap_or(0).max(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Berlin's rules, as a POSIX TZ string (no zone database needed).
    fn berlin() -> TimeZone {
        TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("tz")
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn until_tomorrow_follows_the_clock_across_daylight_saving_changes() {
        let table = [
            // An ordinary day: 00:30 local, 23.5 h to go.
            ("2026-06-14T22:30:00Z", 23 * 3600 + 1800),
            // 29 March 2026, clocks go 02:00 → 03:00: 00:30 local has 22.5 h.
            ("2026-03-28T23:30:00Z", 22 * 3600 + 1800),
            // 25 October 2026, clocks go 03:00 → 02:00: 00:30 local has 24.5 h.
            ("2026-10-24T22:30:00Z", 24 * 3600 + 1800),
            // A minute before midnight: at least a minute.
            ("2026-06-14T21:59:30Z", 60),
        ];
        for (at, want) in table {
            assert_eq!(
                until_tomorrow(utc(at), &berlin()),
                Duration::from_secs(want),
                "{at}"
            );
        }
    }

    #[test]
    fn local_times_and_weekdays_are_the_zones() {
        let tz = berlin();
        // Sunday 29 March 2026, 01:59 UTC = 03:59 CEST.
        let at = utc("2026-03-29T01:59:00Z");
        assert_eq!(wday_minute(at, &tz), (0, 3 * 60 + 59));
        assert_eq!(hhmm(at, Duration::from_secs(3600), &tz), "04:59");
        // Saturday 28 March 2026, 23:00 UTC = 00:00 CET on Sunday.
        assert_eq!(wday_minute(utc("2026-03-28T23:00:00Z"), &tz), (0, 0));
        assert_eq!(hhmm(at, Duration::MAX, &tz), "03:59", "no overflow");
    }
}
