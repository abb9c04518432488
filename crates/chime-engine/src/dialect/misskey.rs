//! Misskey (also Sharkey, Firefish): the account's `main` channel.
//!
//! * **Stream.** `/streaming?i=<token>`, then `connect` to channel `main`
//!   (on every link: a subscription does not outlive its socket). Its
//!   `notification` events become items: a reaction is a like, 👎 a
//!   dislike; `reply` and `mention` are replies; the rest are messages.
//!   The `reply` and `mention` events that repeat a notification as a note
//!   are not announced again.
//! * **Read state.** `readAllNotifications` (the user read elsewhere)
//!   reads everything here; `POST /api/i` tells the unread count on every
//!   link and heartbeat. Reading everything here tells the server
//!   (`POST /api/notifications/mark-all-as-read`).
//! * **Catch-up.** `POST /api/i/notifications` with `sinceId` and
//!   **`markAsRead: false`**: the server's default marks every notification
//!   read on every device. It pages down from the newest with `untilId`.
//!   Misskey's ids (aid, meid, ulid, objectid) sort as text in time order,
//!   as Misskey's own paging does. The server keeps about 500 per user:
//!   a longer gap is said.
//!
//! Written from Misskey's public documentation (misskey-hub
//! `api/streaming`, `api/token/miauth`) and its API reference.

use serde_json::{json, Value};

use super::{Effects, Endpoint, Protocol, Session};
use crate::events::{Fetched, Output};
use crate::inbox::{Inbox, NewItem};
use crate::profile::{Auth, ServerProfile};
use crate::protocol::{Dialect, Event, Kind, Message, Target};
use chime_proto::text::sanitize;

/// Notifications asked for per page (Misskey allows 100).
pub const PAGE: u32 = 100;
/// Pages read back at most (the server keeps about 500).
pub const MAX_PAGES: u32 = 10;
/// What a Misskey server keeps per user, about.
pub const SERVER_KEEPS: usize = 500;
const EXCERPT: usize = 200;
/// The id this client gives its `main` channel.
const CHANNEL: &str = "chime-main";

const NOTIFICATIONS: &str = "/api/i/notifications";
const I: &str = "/api/i";
const MARK_ALL: &str = "/api/notifications/mark-all-as-read";

/// A Misskey account (written from Misskey's public API documentation).
pub const PROTOCOL: Protocol = Protocol {
    dialect: Dialect::Misskey,
    title: "Misskey account (Sharkey, Firefish…)",
    short: "Misskey",
    kinds: &[Kind::Like, Kind::Dislike, Kind::Reply, Kind::Message],
    tells_reads: true,
    forgets_read: false,
    server_pings: true,
    web_address: true,
    at_root: true,
    silent_limit_secs: None,
    url_example: "https://misskey.io",
    url_hint: "Your server's address, or your handle (@you@misskey.io). Sign in with your \
               server, or paste an access token (Settings → API).",
    token_hint: "An access token (read:notifications, write:notifications, read:account)",
    open: |origin| {
        Box::new(Misskey {
            origin: origin.map(|o| o.as_str().trim_end_matches('/').to_owned()),
            ..Misskey::default()
        })
    },
    endpoint: |profile, _| endpoint(profile),
    read_token: super::token_as_typed,
    discover: &[],
    stream_at: super::stream_here,
    sign_in: Some(super::SignIn::MiAuth {
        permissions: "read:account,read:notifications,write:notifications",
    }),
};

/// The dialled stream: `/streaming?i=<token>` (every Misskey and fork
/// reads the token there); the bearer header stays for the API.
pub fn endpoint(profile: &ServerProfile) -> Result<Endpoint, String> {
    let mut ep = Endpoint::standard(profile)?;
    ep.url.set_path("/streaming");
    if let Auth::Bearer(t) = &profile.auth {
        ep.url.query_pairs_mut().append_pair("i", t.expose());
    }
    Ok(ep)
}

/// A notification as Chime's item, or why not. `origin` is the server's
/// web address, for the note's page.
pub fn parse_notification(v: &Value, origin: Option<&str>) -> Result<Event, &'static str> {
    let id = match v.get("id").and_then(Value::as_str) {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            id
        }
        _ => return Err("id missing or not an id"),
    };
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or("type missing")?;
    let user = v.get("user");
    let user_str = |f: &str| user.and_then(|u| u.get(f)).and_then(Value::as_str);
    let actor = sanitize(user_str("name").unwrap_or_default(), 60);
    let username = sanitize(user_str("username").unwrap_or_default(), 60);
    let actor = match (actor.is_empty(), username.is_empty()) {
        (false, _) => actor,
        (true, false) => username.clone(),
        (true, true) => "Someone".to_owned(),
    };
    let note = v.get("note").filter(|n| n.is_object());
    let note_text = |n: Option<&Value>| -> String {
        let n = match n {
            Some(n) => n,
            None => return String::new(),
        };
        let cw = n.get("cw").and_then(Value::as_str).unwrap_or_default();
        if !cw.is_empty() {
            return format!("CW: {}", sanitize(cw, EXCERPT));
        }
        sanitize(
            n.get("text").and_then(Value::as_str).unwrap_or_default(),
            EXCERPT,
        )
    };
    let own = note_text(note);
    let (kind_of, title, body) = match kind {
        "reaction" => {
            let r = v
                .get("reaction")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let k = if r.starts_with('👎') || r == ":thumbsdown:" {
                Kind::Dislike
            } else {
                Kind::Like
            };
            (k, own.clone(), sanitize(r, 40))
        }
        // The post answered (if the server sent it), and the answer.
        "reply" | "mention" => {
            let parent = note_text(note.and_then(|n| n.get("reply")).filter(|r| r.is_object()));
            let title = if parent.is_empty() {
                own.clone()
            } else {
                parent
            };
            (Kind::Reply, title, own)
        }
        "renote" => (
            Kind::Message,
            format!("{actor} renoted your note"),
            note_text(note.and_then(|n| n.get("renote"))),
        ),
        "quote" => (Kind::Message, format!("{actor} quoted your note"), own),
        "follow" => (
            Kind::Message,
            format!("{actor} followed you"),
            String::new(),
        ),
        "followRequestAccepted" => (
            Kind::Message,
            format!("{actor} accepted your follow request"),
            String::new(),
        ),
        "receiveFollowRequest" => (
            Kind::Message,
            format!("{actor} asked to follow you"),
            String::new(),
        ),
        "pollEnded" | "pollVote" => (Kind::Message, "A poll has ended".to_owned(), own),
        "achievementEarned" => (
            Kind::Message,
            "Achievement earned".to_owned(),
            sanitize(
                v.get("achievement")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                60,
            ),
        ),
        "app" => (
            Kind::Message,
            sanitize(
                v.get("header")
                    .and_then(Value::as_str)
                    .unwrap_or("A notification"),
                120,
            ),
            sanitize(
                v.get("body").and_then(Value::as_str).unwrap_or_default(),
                EXCERPT,
            ),
        ),
        _ => (Kind::Message, "A new notification".to_owned(), own),
    };
    let url = match (
        origin,
        note.and_then(|n| n.get("id")).and_then(Value::as_str),
    ) {
        (Some(o), Some(n)) if n.bytes().all(|b| b.is_ascii_alphanumeric()) && n.len() <= 64 => {
            format!("{o}/notes/{n}")
        }
        (Some(o), None)
            if !username.is_empty()
                && username
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            match user_str("host").filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            }) {
                Some(h) if !h.is_empty() => format!("{o}/@{username}@{h}"),
                _ => format!("{o}/@{username}"),
            }
        }
        _ => String::new(),
    };
    let time = v
        .get("createdAt")
        .and_then(Value::as_str)
        .and_then(|d| d.parse::<jiff::Timestamp>().ok())
        .map_or(0, |t| t.as_millisecond().max(0));
    let message = Message {
        id: id.to_owned(),
        body,
        priority: crate::protocol::DEFAULT_PRIORITY,
        tags: Vec::new(),
        links: Vec::new(),
        markdown: false,
        sequence: String::new(),
    }
    .cleaned();
    Ok(Event {
        seq: 0,
        kind: kind_of,
        actor,
        target: Target {
            title: sanitize(&title, EXCERPT),
            url,
        },
        time,
        message: Some(Box::new(message)),
    })
}

/// Misskey's ids sort as text within one server; a longer one is newer.
fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[derive(Debug, Default)]
pub struct Misskey {
    origin: Option<String>,
    /// Catching up: what the pages brought.
    sync: Option<Sync>,
    retry: bool,
    /// The newest id the stream brought during a catch-up.
    live_max: Option<String>,
    /// A mark-all-as-read is under way.
    posting: bool,
    /// The catch-up ran again once the channel surely stood: a
    /// notification between the list's answer and the server's joining
    /// of `main` is in neither.
    rechecked: bool,
}

#[derive(Debug)]
struct Sync {
    since: Option<String>,
    pages: u32,
    found: Vec<Event>,
}

fn event_id(e: &Event) -> &str {
    e.message.as_ref().map_or("", |m| m.id.as_str())
}

impl Misskey {
    /// A page of the list: `since` `None` is a new account's first look
    /// (the newest only), `""` an account that had nothing then (all is
    /// new), else what came after that id.
    fn page(since: Option<&str>, until: Option<&str>) -> (String, String) {
        let limit = if since.is_some() { PAGE } else { 1 };
        let mut body = json!({ "limit": limit, "markAsRead": false });
        if let Some(s) = since.filter(|s| !s.is_empty()) {
            body["sinceId"] = json!(s);
        }
        if let Some(u) = until {
            body["untilId"] = json!(u);
        }
        (NOTIFICATIONS.into(), body.to_string())
    }

    fn start_sync(&mut self, inbox: &Inbox, fx: &mut Effects) {
        self.retry = false;
        let since = inbox.cursor().map(str::to_owned);
        fx.posts.push(Self::page(since.as_deref(), None));
        self.sync = Some(Sync {
            since,
            pages: 0,
            found: Vec::new(),
        });
    }

    fn on_page(&mut self, body: &str, inbox: &mut Inbox, fx: &mut Effects) {
        let Some(sync) = self.sync.as_mut() else {
            return;
        };
        let Some(list) = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.as_array().cloned())
        else {
            fx.notice("the server's notification list is not a Misskey page".into());
            return self.interrupted(fx);
        };
        let mut oldest: Option<String> = None;
        for n in &list {
            match parse_notification(n, self.origin.as_deref()) {
                Ok(e) => {
                    let id = event_id(&e).to_owned();
                    if oldest.as_deref().is_none_or(|o| id_order(&id, o).is_lt()) {
                        oldest = Some(id);
                    }
                    sync.found.push(e);
                }
                Err(why) => fx.notice(format!("ignored a malformed Misskey notification ({why})")),
            }
        }
        sync.pages += 1;
        let Some(since) = sync.since.clone() else {
            // A new account: only where it stands.
            let newest = sync
                .found
                .iter()
                .map(event_id)
                .max_by(|a, b| id_order(a, b))
                .unwrap_or_default()
                .to_owned();
            self.sync = None;
            inbox.set_cursor(newest);
            return self.after_sync(inbox, fx);
        };
        let full = list.len() >= PAGE as usize;
        match oldest {
            Some(o) if full && sync.pages < MAX_PAGES => {
                fx.posts.push(Self::page(Some(&since), Some(&o)))
            }
            _ => {
                if sync.found.len() >= SERVER_KEEPS || (full && sync.pages >= MAX_PAGES) {
                    fx.notice(format!(
                        "more notifications came while away than the server keeps (about {SERVER_KEEPS}): the oldest are lost"
                    ));
                }
                self.finish(inbox, fx);
            }
        }
    }

    fn interrupted(&mut self, fx: &mut Effects) {
        if self.sync.take().is_some() {
            self.retry = true;
            fx.notice("reading back missed notifications failed; trying again shortly".into());
        }
    }

    fn finish(&mut self, inbox: &mut Inbox, fx: &mut Effects) {
        let Some(sync) = self.sync.take() else {
            return;
        };
        let mut found = sync.found;
        found.sort_by(|a, b| id_order(event_id(a), event_id(b)));
        found.dedup_by(|a, b| event_id(a) == event_id(b));
        let mut top = found.last().map(|e| event_id(e).to_owned());
        if let Some(live) = self.live_max.take() {
            if top.as_deref().is_none_or(|t| id_order(&live, t).is_gt()) {
                top = Some(live);
            }
        }
        announce(found, inbox, fx);
        if let Some(t) = top {
            if inbox.cursor().is_none_or(|c| id_order(&t, c).is_gt()) {
                inbox.set_cursor(t);
            }
        }
        self.after_sync(inbox, fx);
    }

    fn after_sync(&mut self, inbox: &mut Inbox, fx: &mut Effects) {
        fx.posts.push((I.into(), "{}".into()));
        self.on_reads_owed(inbox, fx);
    }

    fn on_notification(&mut self, body: &Value, inbox: &mut Inbox, fx: &mut Effects) {
        let event = match parse_notification(body, self.origin.as_deref()) {
            Ok(e) => e,
            Err(why) => {
                return fx.notice(format!("ignored a malformed Misskey notification ({why})"))
            }
        };
        let id = event_id(&event).to_owned();
        announce(vec![event], inbox, fx);
        if self.sync.is_some() || self.retry {
            if self
                .live_max
                .as_deref()
                .is_none_or(|m| id_order(&id, m).is_gt())
            {
                self.live_max = Some(id);
            }
        } else if inbox.cursor().is_none_or(|c| id_order(&id, c).is_gt()) {
            inbox.set_cursor(id);
        }
    }
}

fn announce(events: Vec<Event>, inbox: &mut Inbox, fx: &mut Effects) {
    let before = inbox.unread();
    let fresh: Vec<NewItem> = events
        .into_iter()
        .filter_map(|e| inbox.apply_notification(e))
        .map(NewItem::Event)
        .collect();
    fx.items(fresh);
    super::report_counts(inbox, before, false, fx);
}

impl Session for Misskey {
    fn dialect(&self) -> Option<Dialect> {
        Some(Dialect::Misskey)
    }

    fn on_open(&mut self, inbox: &mut Inbox, fx: &mut Effects) {
        inbox.use_listed_counts();
        fx.outputs.push(Output::Counts(inbox.unread()));
        fx.send(
            json!({"type": "connect", "body": {"channel": "main", "id": CHANNEL, "params": {}}})
                .to_string(),
        );
        self.start_sync(inbox, fx);
    }

    fn on_fetched(&mut self, path: &str, result: Fetched, inbox: &mut Inbox, fx: &mut Effects) {
        let reply = match result {
            Ok(r) if r.ok() => r,
            Ok(r) => {
                fx.notice(format!(
                    "the server answered {} to {}",
                    r.status,
                    sanitize(path, 60)
                ));
                return match path {
                    NOTIFICATIONS => self.interrupted(fx),
                    MARK_ALL => self.posting = false,
                    _ => {}
                };
            }
            Err(e) => {
                fx.notice(format!(
                    "{} failed: {}",
                    sanitize(path, 60),
                    sanitize(&e, 120)
                ));
                return match path {
                    NOTIFICATIONS => self.interrupted(fx),
                    MARK_ALL => self.posting = false,
                    _ => {}
                };
            }
        };
        match path {
            NOTIFICATIONS => self.on_page(&reply.body, inbox, fx),
            I => {
                let Some(me) = serde_json::from_str::<Value>(&reply.body).ok() else {
                    return;
                };
                let before = inbox.unread();
                if let Some(account) = me.get("id").and_then(Value::as_str) {
                    if inbox.apply_account(&sanitize(account, 64)) {
                        inbox.use_listed_counts();
                        fx.notice("signed in as another account: starting afresh".into());
                        super::report_counts(inbox, before, true, fx);
                        return self.start_sync(inbox, fx);
                    }
                }
                if me.get("hasUnreadNotification").and_then(Value::as_bool) == Some(false) {
                    inbox.read_all_listed();
                } else if let Some(n) = me.get("unreadNotificationsCount").and_then(Value::as_u64) {
                    inbox.cap_unread(n);
                }
                super::report_counts(inbox, before, false, fx);
            }
            MARK_ALL => {
                self.posting = false;
                inbox.forget_unsent_reads();
            }
            _ => {}
        }
    }

    fn on_text(&mut self, text: &str, inbox: &mut Inbox, fx: &mut Effects) {
        let Some(v) = super::json_object(text, fx) else {
            return;
        };
        if v.get("type").and_then(Value::as_str) != Some("channel") {
            return;
        }
        let Some(body) = v.get("body") else {
            return;
        };
        if body.get("id").and_then(Value::as_str) != Some(CHANNEL) {
            return;
        }
        let inner = body.get("body").unwrap_or(&Value::Null);
        match body.get("type").and_then(Value::as_str) {
            Some("notification" | "unreadNotification") => self.on_notification(inner, inbox, fx),
            Some("readAllNotifications") => {
                let before = inbox.unread();
                inbox.read_all_listed();
                super::report_counts(inbox, before, false, fx);
            }
            _ => {}
        }
    }

    fn on_heartbeat(&mut self, inbox: &Inbox, fx: &mut Effects) {
        if self.retry || (!self.rechecked && self.sync.is_none()) {
            self.rechecked = true;
            return self.start_sync(inbox, fx);
        }
        if self.sync.is_none() {
            fx.posts.push((I.into(), "{}".into()));
            self.on_reads_owed(inbox, fx);
        }
    }

    fn probe(&self) -> Option<String> {
        None
    }

    fn tells_reads(&self) -> bool {
        true
    }

    /// Misskey reads all or nothing: once everything is read here, the
    /// server is told.
    fn on_reads_owed(&mut self, inbox: &Inbox, fx: &mut Effects) {
        if self.sync.is_some()
            || self.posting
            || inbox.unsent_reads().is_empty()
            || inbox.unread().total() > 0
        {
            return;
        }
        self.posting = true;
        fx.posts.push((MARK_ALL.into(), "{}".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Reply;
    use crate::inbox::InboxState;

    fn note(id: &str, kind: &str, reaction: &str) -> Value {
        json!({
            "id": id, "type": kind, "createdAt": "2026-12-01T10:00:00.000Z", "reaction": reaction,
            "user": {"id": "u1", "name": "Bob", "username": "bob", "host": null},
            "note": {"id": "n1", "text": "my **note**", "cw": null, "reply": {"id": "n0", "text": "the original"}}
        })
    }

    fn frame(body: Value, kind: &str) -> String {
        json!({"type": "channel", "body": {"id": CHANNEL, "type": kind, "body": body}}).to_string()
    }

    fn announced(fx: &Effects) -> Vec<(String, Kind)> {
        fx.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Items(i) => Some(i.clone()),
                _ => None,
            })
            .flatten()
            .filter_map(|i| match i {
                NewItem::Event(e) => Some((e.message.map(|m| m.id).unwrap_or_default(), e.kind)),
                _ => None,
            })
            .collect()
    }

    fn origin() -> Option<url::Url> {
        url::Url::parse("https://misskey.example").ok()
    }

    #[test]
    fn the_stream_carries_the_token_and_the_link_joins_main_and_catches_up_without_marking_read() {
        let mut p = ServerProfile::for_dialect("@me@misskey.example", Dialect::Misskey).unwrap();
        p.auth = Auth::Bearer(crate::profile::Secret::new("T0K"));
        let ep = endpoint(&p).unwrap();
        assert_eq!(ep.url.as_str(), "wss://misskey.example/streaming?i=T0K");
        let mut s = (PROTOCOL.open)(origin().as_ref());
        let mut inbox = Inbox::new(InboxState {
            cursor: Some("a1".into()),
            ..InboxState::default()
        });
        let mut fx = Effects::default();
        s.on_open(&mut inbox, &mut fx);
        assert!(fx.sends[0].contains(r#""channel":"main""#));
        let (path, body) = &fx.posts[0];
        assert_eq!(path, NOTIFICATIONS);
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            body["markAsRead"],
            json!(false),
            "the server's default would read everything"
        );
        assert_eq!(body["sinceId"], json!("a1"));
    }

    #[test]
    fn reactions_are_likes_except_thumbs_down_and_replies_carry_the_post_answered() {
        let table = [
            ("reaction", "❤", Kind::Like, "my **note**"),
            ("reaction", ":awesome@.:", Kind::Like, "my **note**"),
            ("reaction", "👎", Kind::Dislike, "my **note**"),
            ("reaction", "👎🏽", Kind::Dislike, "my **note**"),
            ("reply", "", Kind::Reply, "the original"),
            ("mention", "", Kind::Reply, "the original"),
            ("follow", "", Kind::Message, "Bob followed you"),
            ("renote", "", Kind::Message, "Bob renoted your note"),
            ("somethingNew", "", Kind::Message, "A new notification"),
        ];
        for (kind, reaction, want, title) in table {
            let e =
                parse_notification(&note("a2", kind, reaction), Some("https://misskey.example"))
                    .unwrap();
            assert_eq!(
                (e.kind, e.target.title.as_str()),
                (want, title),
                "{kind} {reaction}"
            );
            assert_eq!(e.actor, "Bob");
        }
        let e =
            parse_notification(&note("a2", "reply", ""), Some("https://misskey.example")).unwrap();
        assert_eq!(e.target.url, "https://misskey.example/notes/n1");
        assert_eq!(e.message.unwrap().body, "my **note**");
        for bad in [
            json!({"type": "follow"}),
            json!({"id": "a/b", "type": "follow"}),
            json!({"id": "a"}),
        ] {
            assert!(parse_notification(&bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_gap_is_paged_down_to_the_cursor_and_announced_once_oldest_first() {
        let mut s = Misskey {
            origin: Some("https://m".into()),
            ..Misskey::default()
        };
        let mut inbox = Inbox::new(InboxState {
            cursor: Some("a100".into()),
            ..InboxState::default()
        });
        let mut fx = Effects::default();
        s.on_open(&mut inbox, &mut fx);
        // The stream brings the newest while the list is read.
        s.on_text(
            &frame(note("a351", "reaction", "❤"), "notification"),
            &mut inbox,
            &mut fx,
        );
        let page = |ids: std::ops::RangeInclusive<u32>| {
            Value::Array(
                ids.rev()
                    .map(|i| note(&format!("a{i}"), "reaction", "❤"))
                    .collect(),
            )
            .to_string()
        };
        s.on_fetched(
            NOTIFICATIONS,
            Ok(Reply::new(200, page(252..=351))),
            &mut inbox,
            &mut fx,
        );
        let (_, body) = fx.posts.last().unwrap();
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (body["sinceId"].as_str(), body["untilId"].as_str()),
            (Some("a100"), Some("a252"))
        );
        assert_eq!(body["markAsRead"], json!(false));
        s.on_fetched(
            NOTIFICATIONS,
            Ok(Reply::new(200, page(200..=251))),
            &mut inbox,
            &mut fx,
        );
        let got: Vec<String> = announced(&fx).into_iter().map(|(i, _)| i).collect();
        let mut want = vec!["a351".to_owned()];
        want.extend((200..=350).map(|i| format!("a{i}")));
        assert_eq!(got, want);
        assert_eq!(inbox.cursor(), Some("a351"));
        assert_eq!(inbox.unread().likes, 152);
    }

    #[test]
    fn read_elsewhere_is_read_here_and_everything_read_here_is_told() {
        let mut s = Misskey::default();
        let mut inbox = Inbox::new(InboxState {
            cursor: Some("a1".into()),
            ..InboxState::default()
        });
        let mut fx = Effects::default();
        s.on_open(&mut inbox, &mut fx);
        s.on_fetched(
            NOTIFICATIONS,
            Ok(Reply::new(200, "[]")),
            &mut inbox,
            &mut fx,
        );
        for (id, r) in [("a2", "❤"), ("a3", "👎")] {
            s.on_text(
                &frame(note(id, "reaction", r), "notification"),
                &mut inbox,
                &mut fx,
            );
        }
        // unreadNotification repeats one: nothing new.
        s.on_text(
            &frame(note("a3", "reaction", "👎"), "unreadNotification"),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(announced(&fx).len(), 2);
        assert_eq!((inbox.unread().likes, inbox.unread().dislikes), (1, 1));
        s.on_text(
            &frame(json!({}), "readAllNotifications"),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(inbox.unread().total(), 0);
        // Read here: told once everything is read, not before.
        s.on_text(
            &frame(note("a4", "reaction", "❤"), "notification"),
            &mut inbox,
            &mut fx,
        );
        s.on_text(
            &frame(note("a5", "reply", ""), "notification"),
            &mut inbox,
            &mut fx,
        );
        let mut fx = Effects::default();
        inbox.mark_read(Some(Kind::Like), true);
        s.on_reads_owed(&inbox, &mut fx);
        assert!(fx.posts.is_empty());
        inbox.mark_read(None, true);
        s.on_reads_owed(&inbox, &mut fx);
        assert_eq!(fx.posts, vec![(MARK_ALL.to_owned(), "{}".to_owned())]);
        // The server's count caps ours.
        s.on_text(
            &frame(note("a6", "reaction", "❤"), "notification"),
            &mut inbox,
            &mut fx,
        );
        s.on_text(
            &frame(note("a7", "reaction", "❤"), "notification"),
            &mut inbox,
            &mut fx,
        );
        s.on_fetched(
            I,
            Ok(Reply::new(
                200,
                r#"{"id":"me1","unreadNotificationsCount":1}"#,
            )),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(inbox.unread().likes, 1);
        s.on_fetched(
            I,
            Ok(Reply::new(
                200,
                r#"{"id":"me1","hasUnreadNotification":false}"#,
            )),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(inbox.unread().total(), 0);
    }

    #[test]
    fn the_first_heartbeat_looks_again_for_what_came_while_the_channel_was_joined() {
        let mut s = Misskey::default();
        let mut inbox = Inbox::default();
        let mut fx = Effects::default();
        s.on_open(&mut inbox, &mut fx);
        // A new account with nothing yet.
        s.on_fetched(
            NOTIFICATIONS,
            Ok(Reply::new(200, "[]")),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(inbox.cursor(), Some(""));
        let mut fx = Effects::default();
        s.on_heartbeat(&inbox, &mut fx);
        let (path, body) = &fx.posts[0];
        assert_eq!(path, NOTIFICATIONS);
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body.get("sinceId"), None, "an empty cursor is no id");
        assert_eq!(body["limit"], json!(PAGE));
        // One came in that moment: it is announced.
        s.on_fetched(
            NOTIFICATIONS,
            Ok(Reply::new(
                200,
                Value::Array(vec![note("a1", "follow", "")]).to_string(),
            )),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(announced(&fx), vec![("a1".to_owned(), Kind::Message)]);
        assert_eq!(inbox.cursor(), Some("a1"));
        // Later heartbeats only ask for the counts.
        let mut fx = Effects::default();
        s.on_heartbeat(&inbox, &mut fx);
        assert_eq!(fx.posts, vec![(I.to_owned(), "{}".to_owned())]);
    }

    #[test]
    fn frames_of_other_channels_and_hostile_ones_are_skipped() {
        let mut s = Misskey::default();
        let mut inbox = Inbox::default();
        let mut fx = Effects::default();
        for text in [
            json!({"type": "channel", "body": {"id": "other", "type": "notification", "body": note("a1", "follow", "")}}).to_string(),
            json!({"type": "noteUpdated", "body": {}}).to_string(),
            frame(json!({"id": 5}), "notification"),
            frame(json!(null), "notification"),
            "{".to_owned(),
        ] {
            s.on_text(&text, &mut inbox, &mut fx);
        }
        assert!(announced(&fx).is_empty());
    }
}
