//! Chime's desktop side: what only the tray app needs.
//!
//! * [`settings`] — the settings file (schema, validation, migration).
//! * [`secrets`] — the 0600 fallback for secrets.
//! * [`fsutil`] — files replaced whole (atomic writes).
//! * [`autostart`] — the login entry's text, its path quoted.
//! * [`localtime`] — local time from jiff: quiet hours, "paused until".
//! * [`badge`] — the tray icon as RGBA: a bell and the unread count.

pub mod autostart;
pub mod badge;
pub mod fsutil;
pub mod localtime;
pub mod secrets;
pub mod settings;
