//! Local fan-out: which clients of which user are connected here, each with a
//! bounded queue. A client whose queue is full is cut off (it will be closed
//! with 1013 and resume from its `last_seq`) rather than growing memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chime_proto::protocol::{Counts, Event};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// What a connected client is sent.
#[derive(Debug, Clone)]
pub enum Push {
    /// A new event and the user's totals after it.
    Event(Arc<Event>, Counts),
    /// New totals (after a read).
    Counts(Counts),
    /// The user's event log was renamed (new epoch): come back and learn it.
    Reset,
}

struct Entry {
    tx: mpsc::Sender<Push>,
    slow: Arc<AtomicBool>,
}

/// A registered client's end; dropping it unregisters the client.
pub struct Subscription {
    pub rx: mpsc::Receiver<Push>,
    /// Set when the hub dropped this client for being too slow.
    pub slow: Arc<AtomicBool>,
    id: u64,
    user: String,
    hub: Arc<Hub>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.user, self.id);
    }
}

pub struct Hub {
    queue: usize,
    next_id: AtomicU64,
    users: Mutex<HashMap<String, HashMap<u64, Entry>>>,
    metrics: Arc<Metrics>,
}

impl Hub {
    pub fn new(queue: usize, metrics: Arc<Metrics>) -> Hub {
        Hub {
            queue: queue.max(1),
            next_id: AtomicU64::new(1),
            users: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    pub fn subscribe(self: &Arc<Self>, user: &str) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.queue);
        let slow = Arc::new(AtomicBool::new(false));
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.entry(user.to_owned()).or_default().insert(
            id,
            Entry {
                tx,
                slow: slow.clone(),
            },
        );
        Subscription {
            rx,
            slow,
            id,
            user: user.to_owned(),
            hub: self.clone(),
        }
    }

    fn unsubscribe(&self, user: &str, id: u64) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(clients) = users.get_mut(user) {
            clients.remove(&id);
            if clients.is_empty() {
                users.remove(user);
            }
        }
    }

    /// Send every client here back (each gets close 1012 and resumes from
    /// its cursor): after a gap in what this instance heard.
    pub fn restart_all(&self) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        // Dropping the senders ends every session's queue: "restarting".
        users.clear();
    }

    /// Hand `push` to every client of `user` without ever waiting.
    pub fn deliver(&self, user: &str, push: Push) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let Some(clients) = users.get_mut(user) else {
            return;
        };
        clients.retain(|_, entry| match entry.tx.try_send(push.clone()) {
            Ok(()) => {
                self.metrics.delivered.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                entry.slow.store(true, Ordering::Relaxed);
                self.metrics.dropped_slow.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }
}
