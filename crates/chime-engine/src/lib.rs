//! Chime's sans-IO engine: every rule about links, items and toasts, with
//! no socket, timer, file or thread. Fed with `handle_*(now, input)`,
//! drained with `poll_*()`; the driver (`chime-client`) owns the I/O, and
//! tests own the clock.
//!
//! * [`policy`] — backoff and heartbeat as pure functions.
//! * [`events`] — what passes between the engine, its driver and observers.
//! * [`inbox`] — unread totals, dedup and what becomes a notification.
//! * [`profile`] — server address, dialect and credentials; resume keys.
//! * [`dialect`] — one module per protocol behind one `Session` interface.
//! * [`supervisor`] — the connection state machine of one source.
//! * [`announce`] — what becomes a toast and when (bursts, outages).
//! * [`coordinator`] — the rules between links, store and toasts: store
//!   then announce, read elsewhere is read here, pauses, quiet hours.
//! * [`pause`] — "Pause notifications" as a wall-clock deadline.
//! * [`quiet`] — quiet hours as a pure function of (weekday, minute).
//! * [`flags`] — sources as a command line describes them.

// The model lives one layer down; inside the engine it reads as
// `crate::protocol`.
use chime_proto::protocol;

pub mod announce;
pub mod coordinator;
pub mod dialect;
pub mod events;
pub mod flags;
pub mod inbox;
pub mod pause;
pub mod policy;
pub mod profile;
pub mod quiet;
pub mod supervisor;

pub use events::{ConnState, Output};
pub use inbox::{Inbox, InboxState, NewItem};
pub use policy::{Backoff, Heartbeat, Jitter};
pub use profile::{Auth, ProfileError, Secret, ServerProfile};
pub use supervisor::{Config, Supervisor};
