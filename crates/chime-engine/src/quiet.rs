//! Quiet hours: no toasts between two local times on the chosen days (the
//! badge and the inbox still update). A pure function of (weekday, minute),
//! table-tested; the caller reads the local clock.

use serde::{Deserialize, Serialize};

/// No toasts between `from` and `to` (local time) on the chosen days; the
/// badge and the inbox still update. A window that crosses midnight belongs
/// to the day it starts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuietHours {
    pub enabled: bool,
    /// "HH:MM".
    pub from: String,
    pub to: String,
    /// Sunday first, as `tm_wday` counts.
    pub days: [bool; 7],
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours {
            enabled: false,
            from: "22:00".into(),
            to: "07:00".into(),
            days: [true; 7],
        }
    }
}

/// "HH:MM" as minutes after midnight.
pub fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && !s.trim().starts_with('+')).then_some(h * 60 + m)
}

impl QuietHours {
    /// Whether local time `minute` (after midnight) of weekday `wday`
    /// (0 = Sunday) is quiet.
    pub fn contains(&self, wday: u8, minute: u16) -> bool {
        let (Some(from), Some(to)) = (parse_hhmm(&self.from), parse_hhmm(&self.to)) else {
            return false;
        };
        if !self.enabled || from == to {
            return false;
        }
        let day = |d: u8| self.days[usize::from(d % 7)];
        if from < to {
            day(wday) && (from..to).contains(&minute)
        } else {
            // Crosses midnight: the evening part is today's window, the
            // morning part yesterday's.
            (minute >= from && day(wday)) || (minute < to && day((wday + 6) % 7))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_follow_the_table() {
        let night = QuietHours {
            enabled: true,
            from: "22:00".into(),
            to: "07:00".into(),
            // Friday and Saturday nights only.
            days: [false, false, false, false, false, true, true],
        };
        let day = QuietHours {
            enabled: true,
            from: "12:00".into(),
            to: "13:30".into(),
            days: [true; 7],
        };
        let off = QuietHours {
            enabled: false,
            ..day.clone()
        };
        let h = |hh: u16, mm: u16| hh * 60 + mm;
        let table = [
            (&night, 5, h(23, 0), true),  // Friday 23:00
            (&night, 6, h(3, 0), true),   // Saturday 03:00 (Friday's night)
            (&night, 0, h(6, 59), true),  // Sunday 06:59 (Saturday's night)
            (&night, 0, h(7, 0), false),  // Sunday 07:00: over
            (&night, 0, h(23, 0), false), // Sunday night is not chosen
            (&night, 5, h(3, 0), false),  // Friday 03:00 is Thursday's night
            (&night, 5, h(21, 59), false),
            (&day, 3, h(12, 0), true),
            (&day, 3, h(13, 29), true),
            (&day, 3, h(13, 30), false),
            (&day, 3, h(11, 59), false),
            (&off, 3, h(12, 30), false),
        ];
        for (q, wday, minute, quiet) in table {
            assert_eq!(
                q.contains(wday, minute),
                quiet,
                "{q:?} day {wday} minute {minute}"
            );
        }
    }
}
