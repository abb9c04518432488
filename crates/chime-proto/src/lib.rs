//! Chime's bottom layer: what every other crate may use and nothing above
//! it may be needed for. No I/O.
//!
//! * [`protocol`] — the item model (`Kind`, `Counts`, `Event`, `Message`)
//!   and the wire format of the seed and native dialects.
//! * [`text`] — the cleaning of untrusted text, notification-markup
//!   escaping, the only URLs that may be opened.
//! * [`markup`] — ntfy's emoji shortcodes and Markdown as plain text.
//! * [`redact`] — credentials out of every log line.
//! * [`jitter`] — the seedable random spread of reconnects and restarts.
//! * `man` (feature `man`) — man pages from clap definitions.

pub mod jitter;
#[cfg(feature = "man")]
pub mod man;
pub mod markup;
pub mod protocol;
pub mod redact;
pub mod text;

pub use protocol::{ClientMsg, Counts, Dialect, Event, Kind, ServerMsg, Target};
