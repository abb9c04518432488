//! Chime's connection engine: everything that is not the OS.
//!
//! * [`protocol`] — the wire format of both dialects (the only module that
//!   knows what a frame looks like).
//! * [`policy`] — backoff and heartbeat as pure functions.
//! * [`inbox`] — unread totals, dedup and what becomes a notification.
//! * [`supervisor`] — the sans-IO connection state machine.
//! * [`client`] — the tokio driver that owns the socket and the timers.
//! * [`profile`] — server address, dialect and credentials.
//! * [`settings`] — the settings file (schema, validation, atomic writes).
//! * [`secrets`] — the 0600 fallback for secrets, and log redaction.
//! * [`store`] — the local inbox and resume state (SQLite).
//! * [`announce`] — what becomes a toast and when (bursts, outages), and
//!   the cleaning of untrusted text.
//! * [`autostart`] — the login entry's text, its path quoted.

pub mod announce;
pub mod autostart;
pub mod badge;
pub mod client;
pub mod dialect;
pub mod inbox;
pub mod localtime;
pub mod markup;
pub mod pause;
pub mod policy;
pub mod profile;
pub mod protocol;
pub mod secrets;
pub mod settings;
pub mod store;
pub mod supervisor;

pub use client::{probe, Client, ClientError, ClientHandle, Command, ProbeOutcome};
pub use inbox::{Inbox, InboxState, NewItem};
pub use policy::{Backoff, Heartbeat, Jitter};
pub use profile::{Auth, ProfileError, Secret, ServerProfile};
pub use protocol::{ClientMsg, Counts, Dialect, Event, Kind, ServerMsg, Target};
pub use supervisor::{Config, ConnState, Output, Supervisor};
