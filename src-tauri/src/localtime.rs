//! Local wall-clock time now, in the system's zone (chime-desktop's
//! `localtime` does the arithmetic, DST included).

use std::time::Duration;

use chime_desktop::localtime;

/// Local wall-clock time `d` from now, as HH:MM.
pub fn local_hhmm(d: Duration) -> String {
    localtime::hhmm(localtime::now(), d, &localtime::system_zone())
}

/// Local weekday (0 = Sunday) and minute of the day, for quiet hours.
pub fn local_wday_minute() -> (u8, u16) {
    localtime::wday_minute(localtime::now(), &localtime::system_zone())
}

/// Until the next local midnight.
pub fn until_tomorrow() -> Duration {
    localtime::until_tomorrow(localtime::now(), &localtime::system_zone())
}
