//! Chime's connection engine: everything that is not the OS.
//!
//! * [`protocol`] — the wire format of both dialects (the only module that
//!   knows what a frame looks like).
//! * [`policy`] — backoff and heartbeat as pure functions.
//! * [`inbox`] — unread totals, dedup and what becomes a notification.
//! * [`supervisor`] — the sans-IO connection state machine.
//! * [`client`] — the tokio driver that owns the socket and the timers.
//! * [`profile`] — server address, dialect and credentials.
//! * [`announce`] — what becomes a toast and when (bursts, outages), and
//!   the cleaning of untrusted text.

pub mod announce;
pub mod badge;
pub mod client;
pub mod inbox;
pub mod policy;
pub mod profile;
pub mod protocol;
pub mod supervisor;

pub use client::{Client, ClientError, ClientHandle, Command};
pub use inbox::{Inbox, InboxState, NewItem};
pub use policy::{Backoff, Heartbeat, Jitter};
pub use profile::{Auth, ProfileError, Secret, ServerProfile};
pub use protocol::{ClientMsg, Counts, Dialect, Event, Kind, ServerMsg, Target};
pub use supervisor::{Config, ConnState, Output, Supervisor};
