//! OS notifications through notify-rust, one per toast slot (each new toast
//! of a slot replaces the last one), with clicks and "Mark as read" heard on
//! the session bus.

use std::collections::HashMap;
use std::path::PathBuf;

use chime_core::announce::{escape_markup, web_url, Toast, ToastSlot};
use futures_util::StreamExt;
use notify_rust::{Hint, Notification, Timeout};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// The notification's default action (a click on its body).
pub const ACTION_OPEN: &str = "default";
pub const ACTION_READ: &str = "read";

/// What the user did to a toast.
#[derive(Debug, Clone)]
pub enum ToastEvent {
    Open {
        slot: ToastSlot,
        url: Option<String>,
    },
    MarkRead {
        slot: ToastSlot,
    },
}

pub struct Notifier {
    icon: Option<PathBuf>,
    /// Ask the notification server for a sound.
    pub sound: bool,
    ids: HashMap<ToastSlot, u32>,
    by_id: HashMap<u32, (ToastSlot, Option<String>)>,
}

impl Notifier {
    pub fn new(icon: Option<PathBuf>) -> Notifier {
        Notifier {
            icon,
            sound: true,
            ids: HashMap::new(),
            by_id: HashMap::new(),
        }
    }

    /// What every notification of Chime carries: name, icon, desktop
    /// entry, and the body escaped for the server's markup.
    fn base(&self, summary: &str, body: &str) -> Notification {
        let mut n = Notification::new();
        n.appname("Chime")
            .summary(summary)
            .body(&escape_markup(body))
            .hint(Hint::DesktopEntry("chime".into()))
            .timeout(Timeout::Default);
        if let Some(icon) = &self.icon {
            n.icon(&icon.to_string_lossy());
        }
        n
    }

    /// Show (or replace) the slot's toast.
    pub async fn show(&mut self, toast: Toast) {
        let mut n = self.base(&toast.summary, &toast.body);
        n.hint(Hint::Category("im.received".into()));
        if self.sound {
            n.hint(Hint::SoundName("message-new-instant".into()));
        } else {
            n.hint(Hint::SuppressSound(true));
        }
        if matches!(toast.slot, ToastSlot::Kind(_)) {
            n.action(ACTION_OPEN, "Open")
                .action(ACTION_READ, "Mark as read");
        }
        if let Some(id) = self.ids.get(&toast.slot) {
            n.id(*id);
        }
        match n.show_async().await {
            Ok(handle) => {
                let id = handle.id();
                debug!(id, slot = ?toast.slot, "notification shown");
                if let Some(old) = self.ids.insert(toast.slot, id) {
                    if old != id {
                        self.by_id.remove(&old);
                    }
                }
                self.by_id
                    .insert(id, (toast.slot, toast.url.as_deref().and_then(web_url)));
            }
            Err(e) => warn!("cannot show a notification: {e}"),
        }
    }

    /// Tell the user about a problem of the app itself (settings reset,
    /// inbox not saved): one toast, no actions.
    pub async fn notice(&self, summary: &str, body: &str) {
        if let Err(e) = self.base(summary, body).show_async().await {
            warn!("cannot show a notification: {e}");
        }
    }

    /// Translate a bus signal into what the user meant.
    pub fn resolve(&mut self, signal: BusSignal) -> Option<ToastEvent> {
        match signal {
            BusSignal::Action(id, key) => {
                let (slot, url) = self.by_id.get(&id).cloned()?;
                match key.as_str() {
                    ACTION_OPEN => Some(ToastEvent::Open { slot, url }),
                    ACTION_READ => Some(ToastEvent::MarkRead { slot }),
                    _ => None,
                }
            }
            BusSignal::Closed(id) => {
                if let Some((slot, _)) = self.by_id.remove(&id) {
                    if self.ids.get(&slot) == Some(&id) {
                        self.ids.remove(&slot);
                    }
                }
                None
            }
        }
    }
}

/// A signal from the notification server.
#[derive(Debug)]
pub enum BusSignal {
    Action(u32, String),
    Closed(u32),
}

/// Listen for `ActionInvoked` and `NotificationClosed` on the session bus,
/// sending each as `wrap(signal)`.
pub async fn listen<T>(tx: mpsc::UnboundedSender<T>, wrap: impl Fn(BusSignal) -> T) {
    let conn = match zbus::Connection::session().await {
        Ok(c) => c,
        Err(e) => {
            info!("no session bus, notification clicks are off: {e}");
            return;
        }
    };
    let Ok(rule) = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface("org.freedesktop.Notifications")
        .path("/org/freedesktop/Notifications")
        .build()
    else {
        return;
    };
    let mut stream = match zbus::MessageStream::for_match_rule(rule, &conn, None).await {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot listen for notification clicks: {e}");
            return;
        }
    };
    while let Some(Ok(msg)) = stream.next().await {
        let header = msg.header();
        let member = header.member().map(|m| m.as_str().to_owned());
        let signal = match member.as_deref() {
            Some("ActionInvoked") => msg
                .body()
                .deserialize::<(u32, String)>()
                .ok()
                .map(|(id, key)| BusSignal::Action(id, key)),
            Some("NotificationClosed") => msg
                .body()
                .deserialize::<(u32, u32)>()
                .ok()
                .map(|(id, _)| BusSignal::Closed(id)),
            _ => None,
        };
        if let Some(s) = signal {
            if tx.send(wrap(s)).is_err() {
                return;
            }
        }
    }
}
