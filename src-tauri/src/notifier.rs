//! OS notifications through notify-rust, one per toast slot (each new toast
//! of a slot replaces the last one), with clicks and "Mark as read" heard on
//! the session bus. A task of its own: the controller hands it toasts and
//! never waits on the notification server.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use chime_engine::announce::{SourceId, Toast, ToastSlot};
use chime_proto::text::{escape_markup, web_url};
use futures_util::StreamExt;
use notify_rust::{Hint, Notification, Timeout};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// The notification's default action (a click on its body).
pub const ACTION_OPEN: &str = "default";
pub const ACTION_READ: &str = "read";
/// A message's own buttons (ntfy `view` actions, attachments): `link0` …
pub const ACTION_LINK: &str = "link";

/// What the user did to a toast.
#[derive(Debug, Clone)]
pub enum ToastEvent {
    Open {
        source: SourceId,
        slot: ToastSlot,
        url: Option<String>,
    },
    MarkRead {
        source: SourceId,
        slot: ToastSlot,
    },
}

/// One notification per source and slot.
type Key = (SourceId, ToastSlot);

/// A notification server gets this long to answer; past it the call is
/// given up (and logged), so a hung daemon costs a toast, never the tray,
/// the store or Quit.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the controller asks of the notifier task.
#[derive(Debug)]
enum Request {
    Show(Toast),
    Close(Key),
    Notice(String, String),
    Sound(bool),
}

/// The controller's side: sending never waits on D-Bus.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<Request>,
}

impl Notifier {
    /// Start the notifier task: it shows toasts, hears the notification
    /// server's signals and reports what the user did as `wrap(event)`.
    pub fn spawn<T: Send + 'static>(
        icon: Option<PathBuf>,
        events: mpsc::UnboundedSender<T>,
        wrap: impl Fn(ToastEvent) -> T + Send + 'static,
    ) -> Notifier {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task {
            icon,
            sound: true,
            ids: HashMap::new(),
            by_id: HashMap::new(),
        };
        tauri::async_runtime::spawn(task.run(rx, events, wrap));
        Notifier { tx }
    }

    /// Show (or replace) the slot's toast.
    pub fn show(&self, toast: Toast) {
        let _ = self.tx.send(Request::Show(toast));
    }

    /// Close the slot's toast (what it stood for was withdrawn).
    pub fn close(&self, source: SourceId, slot: ToastSlot) {
        let _ = self.tx.send(Request::Close((source, slot)));
    }

    /// Tell the user about a problem of the app itself (settings reset,
    /// inbox not saved): one toast, no actions.
    pub fn notice(&self, summary: &str, body: &str) {
        let _ = self.tx.send(Request::Notice(summary.into(), body.into()));
    }

    /// Ask the notification server for a sound, or not.
    pub fn set_sound(&self, on: bool) {
        let _ = self.tx.send(Request::Sound(on));
    }
}

/// Queued requests with each toast slot's older toasts dropped: a slot's
/// newest toast takes the place of its first in the queue (so slots keep
/// their order), and notices and sound changes keep theirs.
fn coalesce(batch: Vec<Request>) -> Vec<Request> {
    let mut out: Vec<Option<Request>> = Vec::with_capacity(batch.len());
    let mut at: HashMap<Key, usize> = HashMap::new();
    for req in batch {
        match &req {
            Request::Show(t) => {
                let key = (t.source.clone(), t.slot);
                if let Some(&i) = at.get(&key) {
                    out[i] = Some(req);
                    continue;
                }
                at.insert(key, out.len());
            }
            // A toast after its slot's close is a new one, after it.
            Request::Close(key) => {
                at.remove(key);
            }
            Request::Notice(..) | Request::Sound(_) => {}
        }
        out.push(Some(req));
    }
    out.into_iter().flatten().collect()
}

struct Task {
    icon: Option<PathBuf>,
    sound: bool,
    ids: HashMap<Key, u32>,
    by_id: HashMap<u32, Shown>,
}

/// What a shown notification's actions lead to.
#[derive(Debug, Clone)]
struct Shown {
    key: Key,
    url: Option<String>,
    links: Vec<String>,
}

impl Task {
    async fn run<T>(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Request>,
        events: mpsc::UnboundedSender<T>,
        wrap: impl Fn(ToastEvent) -> T,
    ) {
        let mut signals = Box::pin(bus_signals().await);
        loop {
            tokio::select! {
                req = rx.recv() => {
                    let Some(first) = req else { return };
                    // What queued up while the last call waited (a hung
                    // daemon takes up to 5 s a call): only the newest
                    // toast of each slot is still worth showing.
                    let mut batch = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                    }
                    for req in coalesce(batch) {
                        match req {
                            Request::Show(toast) => self.show(toast).await,
                            Request::Close(key) => self.close(&key).await,
                            Request::Notice(summary, body) => self.notice(&summary, &body).await,
                            Request::Sound(on) => self.sound = on,
                        }
                    }
                }
                Some(signal) = signals.next() => {
                    if let Some(ev) = self.resolve(signal) {
                        if events.send(wrap(ev)).is_err() {
                            return;
                        }
                    }
                }
            }
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

    async fn show(&mut self, toast: Toast) {
        let mut n = self.base(&toast.summary, &toast.body);
        n.hint(Hint::Category("im.received".into()));
        if toast.urgent {
            n.urgency(notify_rust::Urgency::Critical);
        }
        if self.sound {
            n.hint(Hint::SoundName("message-new-instant".into()));
        } else {
            n.hint(Hint::SuppressSound(true));
        }
        if matches!(toast.slot, ToastSlot::Kind(_) | ToastSlot::Urgent) {
            n.action(ACTION_OPEN, "Open")
                .action(ACTION_READ, "Mark as read");
        }
        // Only http/https links were kept from the wire; checked again.
        let links: Vec<(String, String)> = toast
            .links
            .iter()
            .filter_map(|l| Some((chime_proto::text::sanitize(&l.label, 30), web_url(&l.url)?)))
            .take(3)
            .collect();
        for (i, (label, _)) in links.iter().enumerate() {
            n.action(&format!("{ACTION_LINK}{i}"), label);
        }
        let key = (toast.source.clone(), toast.slot);
        if let Some(id) = self.ids.get(&key) {
            n.id(*id);
        }
        match tokio::time::timeout(NOTIFY_TIMEOUT, n.show_async()).await {
            Ok(Ok(handle)) => {
                let id = handle.id();
                debug!(id, slot = ?toast.slot, "notification shown");
                if let Some(old) = self.ids.insert(key.clone(), id) {
                    if old != id {
                        self.by_id.remove(&old);
                    }
                }
                let shown = Shown {
                    key,
                    url: toast.url.as_deref().and_then(web_url),
                    links: links.into_iter().map(|(_, u)| u).collect(),
                };
                self.by_id.insert(id, shown);
            }
            Ok(Err(e)) => warn!("cannot show a notification: {e}"),
            Err(_) => warn!(
                "the notification service did not answer within {} s; toast dropped",
                NOTIFY_TIMEOUT.as_secs()
            ),
        }
    }

    /// `CloseNotification` for the slot's toast, if one is up.
    async fn close(&mut self, key: &Key) {
        let Some(id) = self.ids.remove(key) else {
            return;
        };
        self.by_id.remove(&id);
        let call = async {
            let conn = zbus::Connection::session().await?;
            conn.call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "CloseNotification",
                &(id,),
            )
            .await
            .map(|_| ())
        };
        match tokio::time::timeout(NOTIFY_TIMEOUT, call).await {
            Ok(Ok(())) => debug!(id, "notification withdrawn"),
            Ok(Err(e)) => warn!("cannot withdraw a notification: {e}"),
            Err(_) => warn!("the notification service did not answer; withdrawal dropped"),
        }
    }

    async fn notice(&self, summary: &str, body: &str) {
        match tokio::time::timeout(NOTIFY_TIMEOUT, self.base(summary, body).show_async()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!("cannot show a notification: {e}"),
            Err(_) => warn!("the notification service did not answer; notice dropped"),
        }
    }

    /// Translate a bus signal into what the user meant.
    fn resolve(&mut self, signal: BusSignal) -> Option<ToastEvent> {
        match signal {
            BusSignal::Action(id, key) => {
                let shown = self.by_id.get(&id).cloned()?;
                let (source, slot) = shown.key;
                match key.as_str() {
                    ACTION_OPEN => Some(ToastEvent::Open {
                        source,
                        slot,
                        url: shown.url,
                    }),
                    ACTION_READ => Some(ToastEvent::MarkRead { source, slot }),
                    other => {
                        let n: usize = other.strip_prefix(ACTION_LINK)?.parse().ok()?;
                        Some(ToastEvent::Open {
                            source,
                            slot,
                            url: Some(shown.links.get(n)?.clone()),
                        })
                    }
                }
            }
            BusSignal::Closed(id) => {
                if let Some(Shown { key, .. }) = self.by_id.remove(&id) {
                    if self.ids.get(&key) == Some(&id) {
                        self.ids.remove(&key);
                    }
                }
                None
            }
        }
    }
}

/// A signal from the notification server.
#[derive(Debug)]
enum BusSignal {
    Action(u32, String),
    Closed(u32),
}

/// `ActionInvoked` and `NotificationClosed` from the notification server:
/// only from the connection that owns `org.freedesktop.Notifications` (a
/// proxy checks the sender), so another program on the session bus cannot
/// click Chime's toasts. No session bus: a stream that never yields.
async fn bus_signals() -> impl futures_util::Stream<Item = BusSignal> {
    use futures_util::stream::{self, BoxStream};
    let empty = || -> BoxStream<'static, BusSignal> { Box::pin(stream::pending()) };
    let conn = match zbus::Connection::session().await {
        Ok(c) => c,
        Err(e) => {
            info!("no session bus, notification clicks are off: {e}");
            return empty();
        }
    };
    let streams = async {
        let proxy = crate::signals::service_proxy(
            &conn,
            "org.freedesktop.Notifications",
            "/org/freedesktop/Notifications",
            "org.freedesktop.Notifications",
        )
        .await?;
        let actions = proxy.receive_signal("ActionInvoked").await?;
        let closed = proxy.receive_signal("NotificationClosed").await?;
        zbus::Result::Ok((actions, closed))
    };
    let (actions, closed) = match streams.await {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot listen for notification clicks: {e}");
            return empty();
        }
    };
    let actions = actions.filter_map(|msg| async move {
        msg.body()
            .deserialize::<(u32, String)>()
            .ok()
            .map(|(id, key)| BusSignal::Action(id, key))
    });
    let closed = closed.filter_map(|msg| async move {
        msg.body()
            .deserialize::<(u32, u32)>()
            .ok()
            .map(|(id, _)| BusSignal::Closed(id))
    });
    // The connection lives as long as the streams (they hold it).
    Box::pin(stream::select(actions, closed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toast(source: &str, slot: ToastSlot, summary: &str) -> Request {
        Request::Show(Toast {
            source: source.into(),
            slot,
            summary: summary.into(),
            body: String::new(),
            url: None,
            count: 0,
            urgent: false,
            links: Vec::new(),
        })
    }

    fn summaries(reqs: &[Request]) -> Vec<String> {
        reqs.iter()
            .map(|r| match r {
                Request::Show(t) => format!("{}:{}", t.source, t.summary),
                Request::Notice(s, _) => format!("notice:{s}"),
                Request::Sound(on) => format!("sound:{on}"),
                Request::Close((source, _)) => format!("close:{source}"),
            })
            .collect()
    }

    #[test]
    fn a_toast_queued_after_its_slots_close_is_shown_after_it() {
        let msg = ToastSlot::Kind(chime_proto::Kind::Message);
        let batch = vec![
            toast("a", msg, "v1"),
            toast("a", msg, "v2"),
            Request::Close(("a".into(), msg)),
            toast("a", msg, "next"),
            toast("a", msg, "next 2"),
        ];
        assert_eq!(
            summaries(&coalesce(batch)),
            vec!["a:v2", "close:a", "a:next 2"]
        );
    }

    #[test]
    fn a_queue_behind_a_hung_daemon_keeps_only_each_slots_newest_toast() {
        let like = ToastSlot::Kind(chime_proto::Kind::Like);
        let reply = ToastSlot::Kind(chime_proto::Kind::Reply);
        let mut batch = Vec::new();
        for n in 1..=1000 {
            batch.push(toast("a", like, &format!("{n} new likes")));
            if n == 500 {
                batch.push(Request::Notice(
                    "Chime needs your attention".into(),
                    String::new(),
                ));
                batch.push(toast("a", reply, "Bo replied"));
                batch.push(toast("b", like, "Cy liked"));
            }
        }
        batch.push(Request::Sound(false));
        assert_eq!(
            summaries(&coalesce(batch)),
            [
                "a:1000 new likes",
                "notice:Chime needs your attention",
                "a:Bo replied",
                "b:Cy liked",
                "sound:false",
            ]
        );
    }
}
