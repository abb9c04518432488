//! What becomes a toast, and when: a sans-IO announcer.
//!
//! * A new item in a quiet period is shown at once (leading edge).
//! * Further items of the same kind within the burst window update that
//!   kind's toast in place, at most once per `update_every` (trailing edge),
//!   so a 10,000-event burst is a handful of D-Bus calls, not 10,000.
//! * At most one toast per kind is visible: every toast of a kind replaces
//!   the previous one.
//! * Connection noise is silent; a link down for longer than `down_after`
//!   gets one toast, and its return one more.
//!
//! Text here is plain; the shell escapes it for the notification server's
//! markup with [`escape_markup`] after [`sanitize`].

use std::time::{Duration, Instant};

use chime_proto::text::{sanitize, web_url};

use crate::inbox::NewItem;
use crate::protocol::Kind;

/// Distinct actors remembered per burst ("and N others" stops growing after).
const MAX_ACTORS: usize = 4096;
/// Notification keys a burst remembers.
const MAX_KEYS: usize = 256;

#[derive(Debug, Clone)]
pub struct AnnounceConfig {
    /// Items closer together than this belong to one burst.
    pub burst_window: Duration,
    /// An open toast is updated at most this often.
    pub update_every: Duration,
    /// Tell the user about an outage only after this long.
    pub down_after: Duration,
}

impl Default for AnnounceConfig {
    fn default() -> Self {
        AnnounceConfig {
            burst_window: Duration::from_secs(3),
            update_every: Duration::from_secs(1),
            down_after: Duration::from_secs(120),
        }
    }
}

/// Which toast a [`Toast`] is (the shell maps it to a notification id):
/// one per source and kind, and one per source for its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToastSlot {
    Kind(Kind),
    /// Urgent messages (priority 4–5): their own toast, never folded into
    /// the ordinary messages' count.
    Urgent,
    Connection,
}

/// A source's id (the settings' and the store's, stable for its whole life,
/// never its place in the list): a toast's actions reach the source that
/// made it even after the list was reordered or a source removed, and
/// toasts of different sources never replace each other.
pub type SourceId = String;

/// A toast to show, replacing whatever the slot showed before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub source: SourceId,
    pub slot: ToastSlot,
    pub summary: String,
    pub body: String,
    /// Where a click goes (http/https only; checked again by the shell).
    pub url: Option<String>,
    /// Items this toast stands for (for "mark as read").
    pub count: u64,
    /// Critical urgency (an urgent message).
    pub urgent: bool,
    /// Buttons: a message's http/https links (an ntfy `view` action).
    pub links: Vec<crate::protocol::Link>,
}

#[derive(Debug, Default, Clone)]
struct Burst {
    count: u64,
    /// First two distinct actors, in order.
    actors: Vec<String>,
    /// Every distinct actor of the burst (bounded).
    seen_actors: std::collections::HashSet<String>,
    distinct_actors: u64,
    last_title: String,
    last_url: Option<String>,
    last_item: Option<Instant>,
    last_shown: Option<Instant>,
    pending: bool,
    /// Single-event text, while the burst has only one native event.
    single: Option<(String, String)>,
    /// The notifications it stands for, where the server names them
    /// (`Message::key`, bounded): a new version of one is no new item,
    /// and withdrawing them all closes the toast.
    keys: Vec<String>,
    last_links: Vec<crate::protocol::Link>,
}

/// Bursts per source: one per kind, and the urgent messages'.
const SLOTS: usize = Kind::ALL.len() + 1;
const URGENT: usize = Kind::ALL.len();

/// The announcer state machine.
#[derive(Debug)]
pub struct Announcer {
    config: AnnounceConfig,
    source: SourceId,
    /// Named in every toast when the app watches several sources.
    label: Option<String>,
    bursts: [Burst; SLOTS],
    enabled: [bool; 4],
    /// Messages below this priority are not toasted.
    min_priority: u8,
    /// Toasts paused (the app's [`crate::pause::Pause`] says when).
    paused: bool,
    down_since: Option<Instant>,
    down_told: bool,
    out: Vec<Toast>,
}

fn idx(kind: Kind) -> usize {
    kind.index()
}

/// The burst an item belongs to.
fn slot_of(item: &NewItem) -> usize {
    match item {
        NewItem::Event(e) if e.message.as_ref().is_some_and(|m| m.is_urgent()) => URGENT,
        _ => idx(item.kind()),
    }
}

impl Announcer {
    pub fn new(config: AnnounceConfig) -> Announcer {
        Announcer::for_source(config, "default", None)
    }

    /// The announcer of source `source` (its id); with a `label`, toasts
    /// name it ("Blog · Alice liked “My post”").
    pub fn for_source(config: AnnounceConfig, source: &str, label: Option<String>) -> Announcer {
        let mut a = Announcer {
            config,
            source: source.to_owned(),
            label: None,
            bursts: Default::default(),
            enabled: [true; 4],
            min_priority: crate::protocol::DEFAULT_PRIORITY,
            paused: false,
            down_since: None,
            down_told: false,
            out: Vec::new(),
        };
        a.relabel(label);
        a
    }

    /// The source was renamed (or others came or went, so it is named or
    /// not): later toasts say so. Its id never changes.
    pub fn relabel(&mut self, label: Option<String>) {
        self.label = label.map(|l| sanitize(&l, 40)).filter(|l| !l.is_empty());
    }

    pub fn set_enabled(&mut self, kind: Kind, on: bool) {
        self.enabled[idx(kind)] = on;
    }

    /// Messages below `priority` (1–5) go to the inbox without a toast.
    pub fn set_min_priority(&mut self, priority: u8) {
        self.min_priority = priority.clamp(1, 5);
    }

    /// Toasts paused or not (items still reach the inbox and the badge).
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// Toasts to show now, oldest first.
    pub fn poll_toast(&mut self) -> Option<Toast> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.remove(0))
        }
    }

    /// When `handle_timeout` next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        for b in &self.bursts {
            if b.pending {
                if let Some(shown) = b.last_shown {
                    let at = shown + self.config.update_every;
                    t = Some(t.map_or(at, |x| x.min(at)));
                }
            }
        }
        if let (Some(since), false) = (self.down_since, self.down_told) {
            let at = since + self.config.down_after;
            t = Some(t.map_or(at, |x| x.min(at)));
        }
        t
    }

    /// The server withdrew these notifications: the slots whose toast
    /// stood for nothing else, to close.
    pub fn withdraw(&mut self, keys: &[String]) -> Vec<ToastSlot> {
        let mut closed = Vec::new();
        for (slot, b) in self.bursts.iter_mut().enumerate() {
            let before = b.keys.len();
            b.keys.retain(|k| !keys.contains(k));
            let gone = (before - b.keys.len()) as u64;
            if gone == 0 {
                continue;
            }
            b.count = b.count.saturating_sub(gone);
            if b.count == 0 {
                let shown = b.last_shown.is_some();
                *b = Burst::default();
                if shown {
                    closed.push(if slot == URGENT {
                        ToastSlot::Urgent
                    } else {
                        ToastSlot::Kind(Kind::ALL.get(slot).copied().unwrap_or(Kind::Message))
                    });
                }
            }
        }
        closed
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for slot in 0..SLOTS {
            let b = &self.bursts[slot];
            if b.pending
                && b.last_shown
                    .is_some_and(|s| now >= s + self.config.update_every)
            {
                self.show(now, slot);
            }
        }
        if let (Some(since), false) = (self.down_since, self.down_told) {
            if now >= since + self.config.down_after {
                self.down_told = true;
                let summary = self.named("Chime is offline".into());
                self.out.push(Toast {
                    source: self.source.clone(),
                    slot: ToastSlot::Connection,
                    summary,
                    body: "The connection has been down for over 2 minutes. Chime keeps trying and will catch up on what you missed.".into(),
                    url: None,
                    count: 0,
                    urgent: false,
                    links: Vec::new(),
                });
            }
        }
    }

    /// The link went down (`false`) or came back (`true`).
    pub fn handle_link(&mut self, now: Instant, up: bool, host: &str) {
        if up {
            if self.down_told {
                let summary = self.named("Chime is back online".into());
                self.out.push(Toast {
                    source: self.source.clone(),
                    slot: ToastSlot::Connection,
                    summary,
                    body: format!("Connected to {} again.", sanitize(host, 80)),
                    url: None,
                    count: 0,
                    urgent: false,
                    links: Vec::new(),
                });
            }
            self.down_since = None;
            self.down_told = false;
        } else if self.down_since.is_none() {
            self.down_since = Some(now);
        }
    }

    pub fn handle_items(&mut self, now: Instant, items: &[NewItem]) {
        let paused = self.paused;
        let mut touched = [false; SLOTS];
        for item in items {
            let kind = item.kind();
            if paused || !self.enabled[idx(kind)] {
                continue;
            }
            if let NewItem::Event(e) = item {
                if e.message
                    .as_ref()
                    .is_some_and(|m| m.priority < self.min_priority)
                {
                    continue;
                }
            }
            let slot = slot_of(item);
            let window = self.config.burst_window;
            let b = &mut self.bursts[slot];
            if b.last_item.is_none_or(|t| now.duration_since(t) >= window) {
                *b = Burst::default();
            }
            b.last_item = Some(now);
            match item {
                NewItem::Event(e) => {
                    let key = e
                        .message
                        .as_deref()
                        .map(|m| (m.key(), !m.sequence.is_empty()));
                    match key {
                        // A new version of one the toast shows: in place.
                        Some((k, true)) if b.keys.iter().any(|x| x == k) => {}
                        _ => b.count = b.count.saturating_add(1),
                    }
                    if let Some((k, _)) = key {
                        if !b.keys.iter().any(|x| x == k) && b.keys.len() < MAX_KEYS {
                            b.keys.push(k.to_owned());
                        }
                    }
                    let actor = sanitize(&e.actor, 60);
                    let actor = if actor.is_empty() {
                        "Someone".to_owned()
                    } else {
                        actor
                    };
                    if b.seen_actors.len() < MAX_ACTORS && b.seen_actors.insert(actor.clone()) {
                        b.distinct_actors += 1;
                        if b.actors.len() < 2 {
                            b.actors.push(actor.clone());
                        }
                    }
                    b.last_title = sanitize(&e.target.title, 120);
                    b.last_url = web_url(&e.target.url);
                    b.last_links = e
                        .message
                        .as_ref()
                        .map(|m| m.links.clone())
                        .unwrap_or_default();
                    b.single = match &e.message {
                        Some(m) if kind == Kind::Message => {
                            Some(message_text(&actor, &b.last_title, m))
                        }
                        // An account's like or reply: "Alice liked “post”",
                        // and the reply itself below it.
                        Some(m) => (b.count == 1).then(|| {
                            let (summary, _) = single_text(kind, &actor, &b.last_title);
                            let body = if kind == Kind::Reply {
                                m.body.clone()
                            } else {
                                String::new()
                            };
                            (summary, body)
                        }),
                        None => (b.count == 1).then(|| single_text(kind, &actor, &b.last_title)),
                    };
                }
                NewItem::Bump { by, .. } => {
                    b.count = b.count.saturating_add(*by);
                    b.single = None;
                    b.last_url = None;
                }
            }
            touched[slot] = true;
        }
        for (slot, _) in touched.iter().enumerate().filter(|(_, t)| **t) {
            let b = &mut self.bursts[slot];
            let due = b
                .last_shown
                .is_none_or(|s| now.duration_since(s) >= self.config.update_every);
            if due {
                self.show(now, slot);
            } else {
                b.pending = true;
            }
        }
    }

    fn show(&mut self, now: Instant, slot: usize) {
        let kind = Kind::ALL.get(slot).copied().unwrap_or(Kind::Message);
        let b = &mut self.bursts[slot];
        b.pending = false;
        b.last_shown = Some(now);
        let (summary, body) = match (&b.single, b.count) {
            (Some((s, body)), 1) => (s.clone(), body.clone()),
            // Messages: the newest one in full, and how many came with it.
            (Some((s, body)), n) => {
                let more = n - 1;
                let what = if slot == URGENT { "urgent " } else { "" };
                let noun = if more == 1 { "message" } else { "messages" };
                (format!("{s} (+{more} {what}{noun})"), body.clone())
            }
            (None, _) => {
                let summary = format!("{} new {}", b.count, kind.noun(b.count));
                let body = match b.actors.len() {
                    0 => String::new(),
                    _ => people(&b.actors, b.distinct_actors),
                };
                (summary, body)
            }
        };
        let (url, count, links) = (b.last_url.clone(), b.count, b.last_links.clone());
        let toast = Toast {
            source: self.source.clone(),
            slot: if slot == URGENT {
                ToastSlot::Urgent
            } else {
                ToastSlot::Kind(kind)
            },
            summary: self.named(summary),
            body,
            url,
            count,
            urgent: slot == URGENT,
            links,
        };
        self.out.push(toast);
    }
}

/// A message's toast: its title (else its topic or application) after the
/// emoji of its tags, and its body as plain text.
fn message_text(actor: &str, title: &str, m: &crate::protocol::Message) -> (String, String) {
    let emoji: String = m
        .tags
        .iter()
        .filter_map(|t| chime_proto::markup::shortcode(t))
        .collect();
    let head = if title.is_empty() { actor } else { title };
    let summary = if emoji.is_empty() {
        head.to_owned()
    } else {
        format!("{emoji} {head}")
    };
    let body = if m.markdown {
        chime_proto::markup::markdown_to_text(&m.body)
    } else {
        m.body.clone()
    };
    (summary, body)
}

impl Announcer {
    fn named(&self, summary: String) -> String {
        match &self.label {
            Some(l) => format!("{l} · {summary}"),
            None => summary,
        }
    }
}

fn single_text(kind: Kind, actor: &str, title: &str) -> (String, String) {
    let verb = match kind {
        Kind::Like => "liked",
        Kind::Dislike => "disliked",
        Kind::Reply => "replied to",
        Kind::Message => "sent",
    };
    if title.is_empty() {
        (format!("{actor} {verb} your post"), String::new())
    } else {
        (format!("{actor} {verb} “{title}”"), String::new())
    }
}

/// "Alice", "Alice and Bob", "Alice, Bob and 10 others".
fn people(first: &[String], distinct: u64) -> String {
    match (first, distinct) {
        ([a], 1) => a.clone(),
        ([a, b], 2) => format!("{a} and {b}"),
        ([a, b], n) => {
            let rest = n - 2;
            let others = if rest == 1 { "other" } else { "others" };
            format!("{a}, {b} and {rest} {others}")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Event, Target};

    fn ev(kind: Kind, actor: &str, title: &str) -> NewItem {
        NewItem::Event(Event {
            seq: 1,
            kind,
            actor: actor.into(),
            target: Target {
                title: title.into(),
                url: "https://example.com/p/1".into(),
            },
            time: 0,
            message: None,
        })
    }

    fn msg(id: u32, title: &str, priority: u8) -> NewItem {
        NewItem::Event(Event {
            seq: 0,
            kind: Kind::Message,
            actor: "alerts".into(),
            target: Target {
                title: title.into(),
                url: "https://nas.example/".into(),
            },
            time: 0,
            message: Some(Box::new(crate::protocol::Message {
                id: id.to_string(),
                body: "line one\nline two".into(),
                priority,
                tags: vec!["warning".into(), "nas".into()],
                links: vec![crate::protocol::Link {
                    label: "Open".into(),
                    url: "https://nas.example/x".into(),
                }],
                markdown: false,
                sequence: String::new(),
            })),
        })
    }

    #[test]
    fn messages_toast_by_priority_urgent_ones_apart_and_a_burst_of_a_thousand_coalesces() {
        let mut a = Announcer::new(AnnounceConfig::default());
        let t0 = Instant::now();
        // Below the threshold: nothing; at it: title with the tags' emoji.
        a.handle_items(t0, &[msg(1, "Quiet", 2)]);
        assert!(drain(&mut a).is_empty());
        a.handle_items(t0, &[msg(2, "Backup done", 3)]);
        let t = drain(&mut a);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].summary, "⚠️ Backup done");
        assert_eq!(t[0].body, "line one\nline two");
        assert_eq!(t[0].slot, ToastSlot::Kind(Kind::Message));
        assert!(!t[0].urgent);
        assert_eq!(t[0].links.len(), 1);
        // Urgent: its own slot, critical, even inside the burst.
        a.handle_items(t0, &[msg(3, "Disk failing", 5)]);
        let t = drain(&mut a);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].slot, ToastSlot::Urgent);
        assert!(t[0].urgent);
        // A thousand in a second: a handful of updates of the one toast,
        // the newest in full and how many came with it.
        let mut shown = Vec::new();
        for i in 0..1000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            if a.poll_timeout().is_some_and(|t| t <= now) {
                a.handle_timeout(now);
            }
            a.handle_items(now, &[msg(10 + i, &format!("n{i}"), 3)]);
            shown.extend(drain(&mut a));
        }
        while let Some(t) = a.poll_timeout() {
            a.handle_timeout(t);
        }
        shown.extend(drain(&mut a));
        assert!(shown.len() <= 3, "{} toasts", shown.len());
        assert!(shown
            .iter()
            .all(|t| t.slot == ToastSlot::Kind(Kind::Message)));
        let last = shown.last().expect("a toast");
        assert_eq!(last.summary, "⚠️ n999 (+1000 messages)");
        assert_eq!(last.count, 1001);
        // A higher threshold silences the normal ones, not the urgent.
        a.set_min_priority(4);
        let later = t0 + Duration::from_secs(60);
        a.handle_items(later, &[msg(5000, "normal", 3), msg(5001, "urgent", 4)]);
        let t = drain(&mut a);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].slot, ToastSlot::Urgent);
    }

    fn drain(a: &mut Announcer) -> Vec<Toast> {
        std::iter::from_fn(|| a.poll_toast()).collect()
    }

    #[test]
    fn an_accounts_like_and_reply_read_as_sentences_with_the_reply_below() {
        let with = |kind: Kind, body: &str| match ev(kind, "Alice", "My post") {
            NewItem::Event(mut e) => {
                e.message = Some(Box::new(crate::protocol::Message {
                    id: "n1".into(),
                    body: body.into(),
                    ..crate::protocol::Message::default()
                }));
                NewItem::Event(e)
            }
            other => other,
        };
        let t0 = Instant::now();
        for (kind, body, summary, shown) in [
            (Kind::Like, "", "Alice liked “My post”", ""),
            (
                Kind::Reply,
                "Nice one!",
                "Alice replied to “My post”",
                "Nice one!",
            ),
        ] {
            let mut a = Announcer::new(AnnounceConfig::default());
            a.handle_items(t0, &[with(kind, body)]);
            let t = drain(&mut a);
            assert_eq!(
                (t[0].summary.as_str(), t[0].body.as_str()),
                (summary, shown)
            );
        }
    }

    #[test]
    fn a_lone_event_is_shown_at_once_as_a_sentence() {
        let mut a = Announcer::new(AnnounceConfig::default());
        let t0 = Instant::now();
        a.handle_items(t0, &[ev(Kind::Like, "Alice", "My first post")]);
        let toasts = drain(&mut a);
        assert_eq!(toasts.len(), 1);
        assert_eq!(toasts[0].summary, "Alice liked “My first post”");
        assert_eq!(toasts[0].url.as_deref(), Some("https://example.com/p/1"));
        assert_eq!(a.poll_timeout(), None);
    }

    #[test]
    fn a_burst_is_one_toast_updated_in_place_at_most_once_a_second() {
        let mut a = Announcer::new(AnnounceConfig::default());
        let t0 = Instant::now();
        let names = ["Alice", "Bob", "Cleo", "Dan"];
        let mut shown = Vec::new();
        for i in 0..12u64 {
            let now = t0 + Duration::from_millis(100 * i);
            while a.poll_timeout().is_some_and(|t| t <= now) {
                let t = a.poll_timeout().expect("timeout");
                a.handle_timeout(t);
            }
            a.handle_items(now, &[ev(Kind::Like, names[(i % 4) as usize], "P")]);
            shown.extend(drain(&mut a));
        }
        let t = a.poll_timeout().expect("a trailing update");
        a.handle_timeout(t);
        shown.extend(drain(&mut a));
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert_eq!(shown[0].summary, "Alice liked “P”");
        let last = shown.last().expect("last");
        assert_eq!(last.summary, "12 new likes");
        assert_eq!(last.body, "Alice, Bob and 2 others");
        assert!(shown.iter().all(|t| t.slot == ToastSlot::Kind(Kind::Like)));
    }

    #[test]
    fn ten_thousand_items_in_a_second_make_at_most_two_toasts_per_kind() {
        let mut a = Announcer::new(AnnounceConfig::default());
        let t0 = Instant::now();
        let mut shown = Vec::new();
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_micros(100 * i);
            if a.poll_timeout().is_some_and(|t| t <= now) {
                a.handle_timeout(now);
            }
            let kind = Kind::ALL[(i % 3) as usize];
            a.handle_items(now, &[ev(kind, &format!("u{}", i % 50), "P")]);
            shown.extend(drain(&mut a));
        }
        while let Some(t) = a.poll_timeout() {
            a.handle_timeout(t);
        }
        shown.extend(drain(&mut a));
        for k in [Kind::Like, Kind::Dislike, Kind::Reply] {
            let of_kind: Vec<_> = shown
                .iter()
                .filter(|t| t.slot == ToastSlot::Kind(k))
                .collect();
            assert_eq!(of_kind.len(), 2, "{k:?}");
            let total: u64 = if k == Kind::Like { 3334 } else { 3333 };
            assert_eq!(of_kind[1].count, total);
            assert_eq!(of_kind[1].summary, format!("{total} new {}", k.noun(total)));
        }
    }

    #[test]
    fn with_several_sources_each_toast_names_its_source_and_keeps_its_own_slot() {
        let t0 = Instant::now();
        let mut blog =
            Announcer::for_source(AnnounceConfig::default(), "s-blog", Some("Blog".into()));
        let mut work = Announcer::for_source(
            AnnounceConfig::default(),
            "s-work",
            Some("Work\u{202e}".into()),
        );
        blog.handle_items(t0, &[ev(Kind::Like, "Alice", "Post")]);
        work.handle_items(t0, &[ev(Kind::Like, "Bob", "Doc")]);
        let (b, w) = (drain(&mut blog), drain(&mut work));
        assert_eq!(b[0].summary, "Blog · Alice liked “Post”");
        assert_eq!(w[0].summary, "Work · Bob liked “Doc”");
        assert_eq!(
            (b[0].source.as_str(), w[0].source.as_str()),
            ("s-blog", "s-work")
        );
        assert_eq!(
            b[0].slot, w[0].slot,
            "the same kind; the source tells them apart"
        );
        // Reordered or renamed: the toasts still name the same source.
        blog.relabel(None);
        blog.handle_items(
            t0 + Duration::from_secs(60),
            &[ev(Kind::Like, "Cy", "Post")],
        );
        assert!(drain(&mut blog).iter().all(|t| t.source == "s-blog"));
    }

    #[test]
    fn seed_bumps_add_up_within_a_burst() {
        let mut a = Announcer::new(AnnounceConfig::default());
        let t0 = Instant::now();
        let bump = |by| NewItem::Bump {
            kind: Kind::Reply,
            by,
            total: 0,
        };
        a.handle_items(t0, &[bump(3)]);
        a.handle_items(t0 + Duration::from_millis(500), &[bump(2)]);
        a.handle_timeout(t0 + Duration::from_secs(1));
        let toasts = drain(&mut a);
        assert_eq!(toasts[0].summary, "3 new replies");
        assert_eq!(toasts[1].summary, "5 new replies");
        // After a quiet period a new burst starts from zero.
        a.handle_items(t0 + Duration::from_secs(10), &[bump(1)]);
        assert_eq!(drain(&mut a)[0].summary, "1 new reply");
    }

    #[test]
    fn disabled_kinds_and_pauses_are_silent() {
        let mut a = Announcer::new(AnnounceConfig::default());
        let t0 = Instant::now();
        a.set_enabled(Kind::Dislike, false);
        a.handle_items(t0, &[ev(Kind::Dislike, "A", "P")]);
        assert!(drain(&mut a).is_empty());
        a.set_paused(true);
        a.handle_items(t0, &[ev(Kind::Like, "A", "P")]);
        assert!(drain(&mut a).is_empty());
        a.set_paused(false);
        a.handle_items(t0 + Duration::from_secs(3601), &[ev(Kind::Like, "A", "P")]);
        assert_eq!(drain(&mut a).len(), 1);
    }

    #[test]
    fn only_a_long_outage_is_announced_and_then_its_end() {
        let mut a = Announcer::new(AnnounceConfig::default());
        let t0 = Instant::now();
        // Short blips: silence.
        for i in 0..5 {
            let t = t0 + Duration::from_secs(10 * i);
            a.handle_link(t, false, "example.com");
            a.handle_link(t + Duration::from_secs(5), true, "example.com");
        }
        assert!(drain(&mut a).is_empty());
        let down = t0 + Duration::from_secs(100);
        a.handle_link(down, false, "example.com");
        a.handle_link(down + Duration::from_secs(30), false, "example.com");
        assert_eq!(a.poll_timeout(), Some(down + Duration::from_secs(120)));
        a.handle_timeout(down + Duration::from_secs(120));
        a.handle_timeout(down + Duration::from_secs(300));
        a.handle_link(down + Duration::from_secs(400), true, "example.com");
        let toasts = drain(&mut a);
        assert_eq!(toasts.len(), 2, "{toasts:?}");
        assert_eq!(toasts[0].summary, "Chime is offline");
        assert_eq!(toasts[1].body, "Connected to example.com again.");
    }
}
