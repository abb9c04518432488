//! Mastodon's client API (Mastodon ≥ 4, GoToSocial, Akkoma/Pleroma,
//! Iceshrimp): the account's notification stream.
//!
//! * **Where.** The stream may live on another host: before each dial the
//!   driver asks `GET /api/v2/instance` (`configuration.urls.streaming`,
//!   else v1's `urls.streaming_api`) through [`Protocol::discover`], and
//!   dials `/api/v1/streaming?stream=user:notification` there, the stream
//!   named in the URL so that every reconnect has it.
//! * **Frames.** `{"event":"notification","payload":"<JSON string>"}`:
//!   the payload is parsed again. `delete`, `filters_changed` and unknown
//!   events are ignored. The server pings every 30 s: the dead-link rule
//!   waits for its pings.
//! * **Catch-up.** After every gap `GET /api/v1/notifications?min_id=…`
//!   pages forward through the `Link` header's `prev` until a page is
//!   empty. Ids are opaque (Mastodon's are digit strings that grow in
//!   length, GoToSocial's ULIDs, Pleroma's flake ids): they are never
//!   compared here, only kept in the order the server gives.
//! * **Read state.** The notifications marker (`GET /api/v1/markers`) is
//!   read on every link and every heartbeat: what another device read is
//!   read here. What is read here moves it (`POST`). Where the server has
//!   `unread_count` (4.3+), the badge keeps to it.
//!
//! Written from Mastodon's public documentation (`methods/streaming.md`,
//! `notifications.md`, `markers.md`, `entities/Notification.md`,
//! `entities/Instance.md`).

use serde_json::Value;

use super::{Effects, Endpoint, Protocol, Session};
use crate::events::{Fetched, Output};
use crate::inbox::Inbox;
use crate::profile::ServerProfile;
use crate::protocol::{Dialect, Event, Kind, Message, Target};
use chime_proto::markup::html_to_text;
use chime_proto::text::{sanitize, web_url};

/// Notifications asked for per page (Mastodon's default; 80 at most).
pub const PAGE: u32 = 40;
/// Pages read forward after a gap at most.
pub const MAX_PAGES: u32 = 50;
/// A post's text in a toast or row, at most.
const EXCERPT: usize = 200;

const NOTIFICATIONS: &str = "/api/v1/notifications";
const MARKERS: &str = "/api/v1/markers?timeline[]=notifications";
const MARKERS_POST: &str = "/api/v1/markers";
const UNREAD_COUNT: &str = "/api/v1/notifications/unread_count";
const ME: &str = "/api/v1/accounts/verify_credentials";

/// A Mastodon-compatible account (written from Mastodon's public API
/// documentation).
pub const PROTOCOL: Protocol = Protocol {
    dialect: Dialect::Mastodon,
    title: "Mastodon account (GoToSocial, Akkoma, Pleroma…)",
    short: "Mastodon",
    kinds: &[Kind::Like, Kind::Reply, Kind::Message],
    tells_reads: true,
    forgets_read: false,
    server_pings: true,
    web_address: true,
    at_root: true,
    silent_limit_secs: None,
    url_example: "https://mastodon.social",
    url_hint: "Your server's address, or your handle (@you@mastodon.social). Sign in with \
               your server, or paste an access token (Preferences → Development).",
    token_hint: "An access token (read:notifications, read:statuses, write:statuses)",
    open: |_| Box::new(Mastodon::default()),
    endpoint: |profile, _| endpoint(profile),
    read_token: super::token_as_typed,
    discover: &["/api/v2/instance", "/api/v1/instance"],
    stream_at,
    sign_in: Some(super::SignIn::OAuth {
        register: "/api/v1/apps",
        authorize: "/oauth/authorize",
        token: "/oauth/token",
        // The stream and list, who we are, and the marker (read, move).
        scopes: "read:notifications read:accounts read:statuses write:statuses",
    }),
};

/// The dialled stream: `/api/v1/streaming?stream=user:notification` on
/// the (discovered) streaming host, the token as a bearer header.
pub fn endpoint(profile: &ServerProfile) -> Result<Endpoint, String> {
    let mut ep = Endpoint::standard(profile)?;
    ep.url.set_path("/api/v1/streaming");
    let mut pairs: Vec<(String, String)> = ep
        .url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "stream")
        .collect();
    pairs.push(("stream".into(), "user:notification".into()));
    ep.url.set_query(None);
    ep.url.query_pairs_mut().extend_pairs(pairs);
    Ok(ep)
}

/// The streaming base an instance document names (v2's
/// `configuration.urls.streaming`, v1's `urls.streaming_api`).
pub fn stream_at(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let at = v
        .pointer("/configuration/urls/streaming")
        .or_else(|| v.pointer("/urls/streaming_api"))?
        .as_str()?;
    Some(at.to_owned())
}

/// What a notification's type becomes: a kind, and a message's title.
/// A mention that answers one of the user's posts is a reply.
fn kind_of(kind: &str, reply_to_me: bool) -> (Kind, &'static str) {
    match kind {
        "favourite" => (Kind::Like, ""),
        "mention" if reply_to_me => (Kind::Reply, ""),
        "mention" => (Kind::Message, "mentioned you"),
        "reblog" => (Kind::Message, "boosted your post"),
        "follow" => (Kind::Message, "followed you"),
        "follow_request" => (Kind::Message, "asked to follow you"),
        "poll" => (Kind::Message, "A poll has ended"),
        "status" => (Kind::Message, "posted"),
        "update" => (Kind::Message, "edited a post"),
        "quote" => (Kind::Message, "quoted your post"),
        "severed_relationships" => (Kind::Message, "Some of your follows were severed"),
        "moderation_warning" => (Kind::Message, "A moderator warned you"),
        k if k.starts_with("admin.") => (Kind::Message, "Something needs a moderator"),
        _ => (Kind::Message, "sent a notification"),
    }
}

/// Whether a type's title names the actor first ("Alice boosted …").
fn names_actor(kind: &str) -> bool {
    !matches!(
        kind,
        "poll" | "severed_relationships" | "moderation_warning"
    ) && !kind.starts_with("admin.")
}

/// A notification as Chime's item, or why not. `me` is the account's own
/// id, when known (a mention replying to it is a reply).
pub fn parse_notification(v: &Value, me: Option<&str>) -> Result<Event, &'static str> {
    let id = match v.get("id").and_then(Value::as_str) {
        Some(id)
            if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            id
        }
        _ => return Err("id missing or not an id"),
    };
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .ok_or("type missing")?;
    let account = v.get("account");
    let account_str = |f: &str| {
        account
            .and_then(|a| a.get(f))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let actor = {
        let name = sanitize(account_str("display_name"), 60);
        if name.is_empty() {
            sanitize(account_str("acct"), 60)
        } else {
            name
        }
    };
    let actor = if actor.is_empty() {
        "Someone".to_owned()
    } else {
        actor
    };
    let status = v.get("status").filter(|s| s.is_object());
    let status_str = |f: &str| status.and_then(|s| s.get(f)).and_then(Value::as_str);
    let reply_to_me = status_str("in_reply_to_id").is_some()
        && match (me, status_str("in_reply_to_account_id")) {
            (Some(me), Some(to)) => me == to,
            // Not knowing who we are, a reply in our notifications is one
            // to us.
            _ => true,
        };
    let (kind_of, what) = kind_of(kind, reply_to_me);
    let text = status_str("content").map(html_to_text).unwrap_or_default();
    let spoiler = sanitize(status_str("spoiler_text").unwrap_or_default(), EXCERPT);
    // A post behind a content warning is named by its warning.
    let text = if spoiler.is_empty() {
        sanitize(&text, EXCERPT)
    } else {
        format!("CW: {spoiler}")
    };
    let url = status_str("url")
        .or_else(|| status_str("uri"))
        .or_else(|| account.and_then(|a| a.get("url")).and_then(Value::as_str))
        .and_then(web_url)
        .unwrap_or_default();
    let time = v
        .get("created_at")
        .and_then(Value::as_str)
        .and_then(|d| d.parse::<jiff::Timestamp>().ok())
        .map_or(0, |t| t.as_millisecond().max(0));
    let (title, body) = match kind_of {
        // "Alice liked “post”" / "Bob replied to “…”": the post liked, or
        // the reply itself.
        Kind::Like | Kind::Reply | Kind::Dislike => (text.clone(), text),
        Kind::Message => {
            let title = if names_actor(kind) {
                format!("{actor} {what}")
            } else {
                what.to_owned()
            };
            (title, text)
        }
    };
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

/// The `prev` page of a `Link` header, as a path on this server (only
/// the notifications list: a header pointing anywhere else is ignored).
pub fn prev_page(link: &str) -> Option<String> {
    for part in link.split(',') {
        let (target, params) = part.split_once(';')?;
        if !params.split(';').any(|p| {
            let p = p.trim();
            p == "rel=\"prev\"" || p == "rel=prev"
        }) {
            continue;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let url = url::Url::parse(target).ok()?;
        if url.path() != NOTIFICATIONS {
            return None;
        }
        return Some(match url.query() {
            Some(q) => format!("{NOTIFICATIONS}?{q}"),
            None => NOTIFICATIONS.to_owned(),
        });
    }
    None
}

#[derive(Debug, Default)]
pub struct Mastodon {
    /// The account's own id (a mention that answers it is a reply).
    me: Option<String>,
    /// Catching up: what the pages brought, oldest first.
    sync: Option<Sync>,
    /// A catch-up that broke off: it runs again at the next heartbeat.
    retry: bool,
    /// Notifications the stream brought during a catch-up, in order.
    live: Vec<String>,
    /// The server's marker pointed at a notification not seen yet: it is
    /// applied when that one arrives.
    pending_marker: Option<String>,
    /// Where this link last saw or put the marker.
    marker: Option<String>,
    /// A marker POST is under way.
    posting: bool,
    /// The server has no `unread_count` (before 4.3): not asked again.
    no_unread_count: bool,
    /// The catch-up ran again at the first heartbeat.
    rechecked: bool,
}

#[derive(Debug, Default)]
struct Sync {
    pages: u32,
    /// With no cursor yet (a new account): only learn where it stands.
    first: bool,
    found: Vec<Event>,
}

impl Mastodon {
    fn start_sync(&mut self, inbox: &Inbox, fx: &mut Effects) {
        self.retry = false;
        self.live.clear();
        let first = inbox.cursor().is_none();
        self.sync = Some(Sync {
            pages: 0,
            first,
            found: Vec::new(),
        });
        fx.fetches.push(match inbox.cursor() {
            None => format!("{NOTIFICATIONS}?limit=1"),
            Some("") => format!("{NOTIFICATIONS}?limit={PAGE}"),
            Some(c) => format!("{NOTIFICATIONS}?min_id={}&limit={PAGE}", url_escape(c)),
        });
    }

    fn on_page(&mut self, reply: crate::events::Reply, inbox: &mut Inbox, fx: &mut Effects) {
        let Some(sync) = self.sync.as_mut() else {
            return;
        };
        let list = serde_json::from_str::<Value>(&reply.body)
            .ok()
            .and_then(|v| v.as_array().cloned());
        let Some(list) = list else {
            fx.notice("the server's notification list is not a Mastodon page".into());
            return self.interrupted(fx);
        };
        // A page is newest first.
        let mut page = Vec::new();
        for n in &list {
            match parse_notification(n, self.me.as_deref()) {
                Ok(e) => page.push(e),
                Err(why) => fx.notice(format!("ignored a malformed Mastodon notification ({why})")),
            }
        }
        page.reverse();
        let had = !list.is_empty();
        sync.pages += 1;
        if sync.first {
            // Where the server stands: its newest, or nothing yet.
            let newest = page
                .last()
                .and_then(|e| e.message.as_ref())
                .map(|m| m.id.clone());
            self.sync = None;
            inbox.set_cursor(newest.unwrap_or_default());
            self.after_sync(inbox, fx);
            return;
        }
        sync.found.extend(page);
        let next = reply.link.as_deref().and_then(prev_page);
        match next {
            Some(next) if had && sync.pages < MAX_PAGES => fx.fetches.push(next),
            _ => {
                if had && sync.pages >= MAX_PAGES {
                    fx.notice(format!(
                        "more than {} notifications came while away: the oldest were skipped",
                        MAX_PAGES * PAGE
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

    /// The catch-up is complete: announce it in order, and resume after
    /// the newest next time.
    fn finish(&mut self, inbox: &mut Inbox, fx: &mut Effects) {
        let Some(sync) = self.sync.take() else {
            return;
        };
        let newest_found = sync
            .found
            .last()
            .and_then(|e| e.message.as_ref())
            .map(|m| m.id.clone());
        // A notification streamed during the catch-up that no page held
        // came after the last page: it is the newest.
        let streamed_after = self
            .live
            .iter()
            .rev()
            .find(|id| {
                !sync
                    .found
                    .iter()
                    .any(|e| e.message.as_ref().is_some_and(|m| &m.id == *id))
            })
            .cloned();
        announce(sync.found, inbox, fx);
        if let Some(c) = streamed_after.or(newest_found) {
            inbox.set_cursor(c);
        }
        self.live.clear();
        self.after_sync(inbox, fx);
    }

    /// Synced: learn what was read elsewhere, and tell what was read here.
    fn after_sync(&mut self, inbox: &mut Inbox, fx: &mut Effects) {
        fx.fetches.push(MARKERS.into());
        if !self.no_unread_count {
            fx.fetches.push(UNREAD_COUNT.into());
        }
        self.on_reads_owed(inbox, fx);
    }

    fn apply_marker(&mut self, id: String, inbox: &mut Inbox, fx: &mut Effects) {
        let before = inbox.unread();
        match inbox.read_through(&id) {
            Some(_) => self.pending_marker = None,
            None => self.pending_marker = Some(id.clone()),
        }
        self.marker = Some(id);
        super::report_counts(inbox, before, false, fx);
    }

    fn on_stream_notification(&mut self, payload: &str, inbox: &mut Inbox, fx: &mut Effects) {
        let v = match serde_json::from_str::<Value>(payload) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                fx.notice(format!(
                    "ignored a malformed Mastodon notification ({})",
                    sanitize(payload, 60)
                ));
                return;
            }
        };
        let event = match parse_notification(&v, self.me.as_deref()) {
            Ok(e) => e,
            Err(why) => {
                return fx.notice(format!("ignored a malformed Mastodon notification ({why})"))
            }
        };
        let id = event
            .message
            .as_ref()
            .map(|m| m.id.clone())
            .unwrap_or_default();
        announce(vec![event], inbox, fx);
        if self.sync.is_some() || self.retry {
            // The cursor waits for the catch-up.
            self.live.push(id.clone());
        } else {
            inbox.set_cursor(id.clone());
        }
        if self.pending_marker.as_deref() == Some(id.as_str()) {
            self.apply_marker(id, inbox, fx);
        }
    }
}

/// New notifications to the inbox, in order; the badge is told.
fn announce(events: Vec<Event>, inbox: &mut Inbox, fx: &mut Effects) {
    let before = inbox.unread();
    let fresh: Vec<crate::inbox::NewItem> = events
        .into_iter()
        .filter_map(|e| inbox.apply_notification(e))
        .map(crate::inbox::NewItem::Event)
        .collect();
    fx.items(fresh);
    super::report_counts(inbox, before, false, fx);
}

/// A value made safe for a query string.
fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Session for Mastodon {
    fn dialect(&self) -> Option<Dialect> {
        Some(Dialect::Mastodon)
    }

    fn on_open(&mut self, inbox: &mut Inbox, fx: &mut Effects) {
        inbox.use_listed_counts();
        fx.outputs.push(Output::Counts(inbox.unread()));
        // Who we are first: whose resume state this is, and which
        // mentions are replies.
        fx.fetches.push(ME.into());
    }

    fn on_fetched(&mut self, path: &str, result: Fetched, inbox: &mut Inbox, fx: &mut Effects) {
        let reply = match result {
            Ok(r) => r,
            Err(e) => {
                fx.notice(format!(
                    "{} failed: {}",
                    sanitize(path, 60),
                    sanitize(&e, 120)
                ));
                return match path {
                    ME => self.start_sync(inbox, fx),
                    MARKERS_POST => self.posting = false,
                    p if p.starts_with(NOTIFICATIONS) && p != UNREAD_COUNT => self.interrupted(fx),
                    _ => {}
                };
            }
        };
        let json = || serde_json::from_str::<Value>(&reply.body).ok();
        let quiet_404 = path == UNREAD_COUNT && reply.status == 404;
        if !(reply.ok() || quiet_404) {
            fx.notice(format!(
                "the server answered {} to {}",
                reply.status,
                sanitize(path, 60)
            ));
        }
        match path {
            ME => {
                let v = json().filter(|_| reply.ok());
                if let Some(v) = v {
                    self.me = v.get("id").and_then(Value::as_str).map(|s| sanitize(s, 64));
                    if let Some(acct) = v.get("acct").and_then(Value::as_str) {
                        let before = inbox.unread();
                        if inbox.apply_account(&sanitize(acct, 120)) {
                            inbox.use_listed_counts();
                            fx.notice("signed in as another account: starting afresh".into());
                            super::report_counts(inbox, before, true, fx);
                        }
                    }
                }
                self.start_sync(inbox, fx);
            }
            MARKERS => {
                let id = json()
                    .filter(|_| reply.ok())
                    .and_then(|v| {
                        v.pointer("/notifications/last_read_id")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .filter(|id| !id.is_empty() && id.len() <= 64);
                if let Some(id) = id {
                    if self.marker.as_deref() != Some(id.as_str()) && !self.posting {
                        self.apply_marker(id, inbox, fx);
                    }
                }
            }
            MARKERS_POST => {
                self.posting = false;
                if reply.ok() {
                    inbox.forget_unsent_reads();
                } else if reply.status == 409 {
                    // Another device moved it meanwhile: read it again.
                    fx.fetches.push(MARKERS.into());
                }
            }
            UNREAD_COUNT => {
                if reply.status == 404 {
                    self.no_unread_count = true;
                    return;
                }
                let count = json()
                    .filter(|_| reply.ok())
                    .and_then(|v| v.get("count").and_then(Value::as_u64));
                if let Some(n) = count {
                    let before = inbox.unread();
                    // Capped by the server: it never raises ours.
                    inbox.cap_unread(n);
                    super::report_counts(inbox, before, false, fx);
                }
            }
            p if p.starts_with(NOTIFICATIONS) => {
                if reply.ok() {
                    self.on_page(reply, inbox, fx);
                } else {
                    self.interrupted(fx);
                }
            }
            _ => {}
        }
    }

    fn on_text(&mut self, text: &str, inbox: &mut Inbox, fx: &mut Effects) {
        let Some(v) = super::json_object(text, fx) else {
            return;
        };
        match v.get("event").and_then(Value::as_str) {
            Some("notification") => match v.get("payload").and_then(Value::as_str) {
                Some(payload) => self.on_stream_notification(payload, inbox, fx),
                None => fx.notice("ignored a Mastodon notification without a payload".into()),
            },
            Some(_) => {}
            None => {
                if let Some(e) = v.get("error").and_then(Value::as_str) {
                    fx.notice(format!("the server reported: {}", sanitize(e, 120)));
                }
            }
        }
    }

    /// Nothing is sent (the server pings): a broken catch-up runs again,
    /// and the marker is read (what another device read).
    fn on_heartbeat(&mut self, inbox: &Inbox, fx: &mut Effects) {
        // Once more at the first heartbeat: the stream's subscription may
        // have stood only after the first catch-up was answered.
        if self.retry || (!self.rechecked && self.sync.is_none()) {
            self.rechecked = true;
            self.start_sync(inbox, fx);
            return;
        }
        if self.sync.is_none() {
            fx.fetches.push(MARKERS.into());
            if !self.no_unread_count {
                fx.fetches.push(UNREAD_COUNT.into());
            }
            self.on_reads_owed(inbox, fx);
        }
    }

    fn probe(&self) -> Option<String> {
        None
    }

    fn tells_reads(&self) -> bool {
        true
    }

    /// What was read here moves the marker as far as it can go: to the
    /// newest notification that it and all before it are read.
    fn on_reads_owed(&mut self, inbox: &Inbox, fx: &mut Effects) {
        if self.sync.is_some() || self.posting || inbox.unsent_reads().is_empty() {
            return;
        }
        let Some(to) = inbox.read_marker() else {
            return;
        };
        if self.marker.as_deref() == Some(to) {
            return;
        }
        self.posting = true;
        self.marker = Some(to.to_owned());
        fx.posts.push((
            MARKERS_POST.into(),
            serde_json::json!({ "notifications": { "last_read_id": to } }).to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Reply;
    use crate::inbox::{InboxState, NewItem};
    use crate::protocol::Counts;

    fn note(id: &str, kind: &str) -> Value {
        serde_json::json!({
            "id": id,
            "type": kind,
            "created_at": "2026-12-01T10:00:00.000Z",
            "account": {"id": "9", "acct": "alice@elsewhere", "display_name": "Alice <b>", "url": "https://elsewhere/@alice"},
            "status": {
                "id": "s1",
                "content": "<p>My <em>first</em> post &amp; more</p>",
                "url": "https://example.social/@me/1",
                "in_reply_to_id": if kind == "mention" { Value::from("s0") } else { Value::Null },
                "in_reply_to_account_id": if kind == "mention" { Value::from("1") } else { Value::Null },
                "spoiler_text": ""
            }
        })
    }

    fn frame(id: &str, kind: &str) -> String {
        serde_json::json!({"stream": ["user:notification"], "event": "notification", "payload": note(id, kind).to_string()}).to_string()
    }

    fn page(ids: &[&str]) -> String {
        Value::Array(ids.iter().map(|i| note(i, "favourite")).collect()).to_string()
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

    fn ids(fx: &Effects) -> Vec<String> {
        announced(fx).into_iter().map(|(i, _)| i).collect()
    }

    /// A link of an account whose cursor is `cursor`, signed in as id 1.
    fn opened(inbox: &mut Inbox) -> (Mastodon, Effects) {
        let mut s = Mastodon::default();
        let mut fx = Effects::default();
        s.on_open(inbox, &mut fx);
        assert_eq!(fx.fetches, vec![ME]);
        s.on_fetched(
            ME,
            Ok(Reply::new(200, r#"{"id":"1","acct":"me"}"#)),
            inbox,
            &mut fx,
        );
        (s, fx)
    }

    fn at(cursor: &str) -> Inbox {
        Inbox::new(InboxState {
            cursor: Some(cursor.into()),
            account: Some("me".into()),
            ..InboxState::default()
        })
    }

    #[test]
    fn the_stream_is_named_in_the_address_on_the_streaming_host() {
        let p = ServerProfile::for_dialect("@me@example.social", Dialect::Mastodon).unwrap();
        assert_eq!(p.url.as_str(), "wss://example.social/");
        let p =
            ServerProfile::for_dialect("https://example.social/@me/with/path", Dialect::Mastodon)
                .unwrap();
        assert_eq!(p.url.as_str(), "wss://example.social/");
        let v2 = r#"{"configuration":{"urls":{"streaming":"wss://streaming.example.social"}}}"#;
        let v1 = r#"{"urls":{"streaming_api":"wss://old.example.social:4000"}}"#;
        assert_eq!(
            stream_at(v2).as_deref(),
            Some("wss://streaming.example.social")
        );
        assert_eq!(
            stream_at(v1).as_deref(),
            Some("wss://old.example.social:4000")
        );
        assert_eq!(stream_at("<html>"), None);
        let moved = super::super::stream_profile(&p, "wss://old.example.social:4000").unwrap();
        let ep = endpoint(&moved).unwrap();
        assert_eq!(
            ep.url.as_str(),
            "wss://old.example.social:4000/api/v1/streaming?stream=user%3Anotification"
        );
        // Never from TLS to plain, never to another scheme.
        assert!(super::super::stream_profile(&p, "ws://plain.example").is_none());
        assert!(super::super::stream_profile(&p, "javascript:alert(1)").is_none());
    }

    #[test]
    fn the_link_header_pages_forward_on_this_server_only() {
        let link = r#"<https://h.example/api/v1/notifications?max_id=5>; rel="next", <https://h.example/api/v1/notifications?min_id=10&limit=40>; rel="prev""#;
        assert_eq!(
            prev_page(link).as_deref(),
            Some("/api/v1/notifications?min_id=10&limit=40")
        );
        assert_eq!(
            prev_page(r#"<https://h.example/api/v1/accounts?min_id=1>; rel="prev""#),
            None
        );
        assert_eq!(prev_page("garbage"), None);
        assert_eq!(
            prev_page(r#"<https://h.example/api/v1/notifications?max_id=5>; rel="next""#),
            None
        );
    }

    #[test]
    fn notifications_become_likes_replies_and_titled_messages_with_plain_text() {
        let table = [
            ("favourite", Kind::Like, "My first post & more"),
            ("mention", Kind::Reply, "My first post & more"),
            ("reblog", Kind::Message, "Alice <b> boosted your post"),
            ("follow", Kind::Message, "Alice <b> followed you"),
            ("poll", Kind::Message, "A poll has ended"),
            (
                "admin.sign_up",
                Kind::Message,
                "Something needs a moderator",
            ),
            (
                "a_type_from_the_future",
                Kind::Message,
                "Alice <b> sent a notification",
            ),
        ];
        for (kind, want, title) in table {
            let e = parse_notification(&note("7", kind), Some("1")).unwrap();
            assert_eq!(e.kind, want, "{kind}");
            assert_eq!(e.target.title, title, "{kind}");
            assert_eq!(e.actor, "Alice <b>");
            assert_eq!(e.target.url, "https://example.social/@me/1");
            assert!(!e.message.unwrap().body.contains('<'), "{kind}: no markup");
        }
        // A mention that answers someone else is a message.
        let mut n = note("7", "mention");
        n["status"]["in_reply_to_account_id"] = "42".into();
        assert_eq!(
            parse_notification(&n, Some("1")).unwrap().kind,
            Kind::Message
        );
        // A post behind a content warning shows the warning only.
        let mut n = note("7", "favourite");
        n["status"]["spoiler_text"] = "spoilers".into();
        assert_eq!(
            parse_notification(&n, Some("1")).unwrap().target.title,
            "CW: spoilers"
        );
        for bad in [
            serde_json::json!({"type": "favourite"}),
            serde_json::json!({"id": 7, "type": "x"}),
            serde_json::json!({"id": "7"}),
            serde_json::json!({"id": "a b", "type": "follow"}),
        ] {
            assert!(parse_notification(&bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_gap_is_paged_forward_through_link_and_announced_once_in_the_servers_order() {
        // Mastodon's ids grow in length: "99" < "100" as numbers, not text.
        let mut inbox = at("98");
        let (mut s, mut fx) = opened(&mut inbox);
        assert_eq!(fx.fetches[1], "/api/v1/notifications?min_id=98&limit=40");
        // The stream brings one while the list is read.
        s.on_text(&frame("101", "favourite"), &mut inbox, &mut fx);
        let prev = |min: &str| {
            Reply::new(200, "").with_link(format!(
                "<https://h/api/v1/notifications?min_id={min}>; rel=\"prev\""
            ))
        };
        let first = Reply {
            body: page(&["101", "100", "99"]),
            ..prev("101")
        };
        s.on_fetched(
            "/api/v1/notifications?min_id=98&limit=40",
            Ok(first),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(
            fx.fetches.last().unwrap(),
            "/api/v1/notifications?min_id=101"
        );
        assert_eq!(
            inbox.cursor(),
            Some("98"),
            "the cursor waits for the catch-up"
        );
        s.on_fetched(
            "/api/v1/notifications?min_id=101",
            Ok(Reply::new(200, "[]")),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(ids(&fx), vec!["101", "99", "100"]);
        assert_eq!(inbox.cursor(), Some("101"));
        assert_eq!(
            inbox.unread(),
            Counts {
                likes: 3,
                ..Counts::default()
            }
        );
        // Then the marker and the count are read.
        assert!(fx.fetches.contains(&MARKERS.to_owned()));
        assert!(fx.fetches.contains(&UNREAD_COUNT.to_owned()));
        // The next stream notification moves the cursor; a repeat is dropped.
        let mut fx = Effects::default();
        s.on_text(&frame("ULID01", "mention"), &mut inbox, &mut fx);
        s.on_text(&frame("ULID01", "mention"), &mut inbox, &mut fx);
        assert_eq!(announced(&fx), vec![("ULID01".to_owned(), Kind::Reply)]);
        assert_eq!(inbox.cursor(), Some("ULID01"));
    }

    #[test]
    fn a_failed_or_garbled_page_keeps_the_cursor_and_the_catch_up_runs_again() {
        for failure in [
            Err("reset".to_owned()),
            Ok(Reply::new(502, "<html>")),
            Ok(Reply::new(200, "<html>")),
            Ok(Reply::new(200, "[{\"id\":")),
        ] {
            let mut inbox = at("5");
            let (mut s, mut fx) = opened(&mut inbox);
            s.on_fetched(
                "/api/v1/notifications?min_id=5&limit=40",
                failure.clone(),
                &mut inbox,
                &mut fx,
            );
            s.on_text(&frame("7", "favourite"), &mut inbox, &mut fx);
            assert_eq!(inbox.cursor(), Some("5"), "{failure:?}");
            let mut fx = Effects::default();
            s.on_heartbeat(&inbox, &mut fx);
            assert_eq!(
                fx.fetches,
                vec!["/api/v1/notifications?min_id=5&limit=40"],
                "{failure:?}"
            );
            s.on_fetched(
                "/api/v1/notifications?min_id=5&limit=40",
                Ok(Reply::new(200, page(&["7", "6"]))),
                &mut inbox,
                &mut fx,
            );
            assert_eq!(ids(&fx), vec!["6"], "{failure:?}: 7 came already");
            assert_eq!(inbox.cursor(), Some("7"), "{failure:?}");
        }
    }

    #[test]
    fn a_new_account_only_learns_where_it_stands() {
        let mut inbox = Inbox::default();
        let (mut s, mut fx) = opened(&mut inbox);
        assert_eq!(fx.fetches[1], "/api/v1/notifications?limit=1");
        s.on_fetched(
            "/api/v1/notifications?limit=1",
            Ok(Reply::new(200, page(&["50"]))),
            &mut inbox,
            &mut fx,
        );
        assert!(ids(&fx).is_empty());
        assert_eq!(inbox.cursor(), Some("50"));
    }

    /// An account that has seen 1..=4 as unread likes.
    fn four_unread() -> (Mastodon, Inbox) {
        let mut inbox = at("0");
        let (mut s, mut fx) = opened(&mut inbox);
        s.on_fetched(
            "/api/v1/notifications?min_id=0&limit=40",
            Ok(Reply::new(200, page(&["4", "3", "2", "1"]))),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(inbox.unread().likes, 4);
        (s, inbox)
    }

    fn counts_told(fx: &Effects) -> Vec<u64> {
        fx.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Counts(c) => Some(c.total()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn what_another_device_read_is_read_here_through_the_marker() {
        let (mut s, mut inbox) = four_unread();
        let mut fx = Effects::default();
        let marker = |id: &str| {
            Ok(Reply::new(
                200,
                format!(r#"{{"notifications":{{"last_read_id":"{id}","version":3}}}}"#),
            ))
        };
        s.on_fetched(MARKERS, marker("2"), &mut inbox, &mut fx);
        assert_eq!(inbox.unread().likes, 2);
        assert_eq!(counts_told(&fx), vec![2]);
        // A marker at one not seen yet waits for it.
        s.on_fetched(MARKERS, marker("6"), &mut inbox, &mut fx);
        assert_eq!(inbox.unread().likes, 2);
        s.on_text(&frame("5", "favourite"), &mut inbox, &mut fx);
        s.on_text(&frame("6", "favourite"), &mut inbox, &mut fx);
        assert_eq!(inbox.unread().likes, 0, "read on the phone, cleared here");
        assert_eq!(*counts_told(&fx).last().unwrap(), 0);
        // The server's unread count caps the badge, never raises it.
        let mut fx = Effects::default();
        s.on_text(&frame("7", "favourite"), &mut inbox, &mut fx);
        s.on_text(&frame("8", "favourite"), &mut inbox, &mut fx);
        s.on_fetched(
            UNREAD_COUNT,
            Ok(Reply::new(200, r#"{"count":1}"#)),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(inbox.unread().likes, 1);
        s.on_fetched(
            UNREAD_COUNT,
            Ok(Reply::new(200, r#"{"count":40}"#)),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(inbox.unread().likes, 1);
        // A server without it is not asked again (past the first
        // heartbeat's second look for what the stream may have missed).
        s.on_fetched(UNREAD_COUNT, Ok(Reply::new(404, "")), &mut inbox, &mut fx);
        let mut fx = Effects::default();
        s.on_heartbeat(&inbox, &mut fx);
        assert_eq!(fx.fetches, vec!["/api/v1/notifications?min_id=8&limit=40"]);
        s.on_fetched(
            &fx.fetches[0].clone(),
            Ok(Reply::new(200, "[]")),
            &mut inbox,
            &mut fx,
        );
        let mut fx = Effects::default();
        s.on_heartbeat(&inbox, &mut fx);
        assert_eq!(fx.fetches, vec![MARKERS]);
    }

    #[test]
    fn reading_here_moves_the_marker_as_far_as_everything_before_it_is_read() {
        let (mut s, mut inbox) = four_unread();
        let mut fx = Effects::default();
        // Opening the newest like leaves 1..=3 unread: the marker cannot move.
        assert!(inbox.read_one(Kind::Like));
        s.on_reads_owed(&inbox, &mut fx);
        assert!(fx.posts.is_empty());
        // Reading them all moves it to the newest.
        inbox.mark_read(Some(Kind::Like), true);
        s.on_reads_owed(&inbox, &mut fx);
        assert_eq!(
            fx.posts,
            vec![(
                MARKERS_POST.to_owned(),
                r#"{"notifications":{"last_read_id":"4"}}"#.to_owned()
            )]
        );
        // Not twice while it is under way; confirmed, nothing is owed.
        s.on_reads_owed(&inbox, &mut fx);
        assert_eq!(fx.posts.len(), 1);
        s.on_fetched(MARKERS_POST, Ok(Reply::new(200, "{}")), &mut inbox, &mut fx);
        assert!(inbox.unsent_reads().is_empty());
        // The marker read back where we put it changes nothing.
        s.on_fetched(
            MARKERS,
            Ok(Reply::new(200, r#"{"notifications":{"last_read_id":"4"}}"#)),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(inbox.unread().total(), 0);
    }

    #[test]
    fn hostile_frames_are_noticed_and_skipped_and_other_events_ignored() {
        let mut inbox = at("0");
        let (mut s, _) = opened(&mut inbox);
        let mut fx = Effects::default();
        for text in [
            r#"{"event":"delete","payload":"123"}"#.to_owned(),
            r#"{"event":"filters_changed"}"#.to_owned(),
            r#"{"event":"status.update","payload":"{}"}"#.to_owned(),
            r#"{"event":"notification","payload":"{not json"}"#.to_owned(),
            r#"{"event":"notification","payload":{"id":"1"}}"#.to_owned(),
            r#"{"event":"notification","payload":"{\"id\":\"1\"}"}"#.to_owned(),
            r#"{"error":"Missing access token","status":401}"#.to_owned(),
            "[1,2]".to_owned(),
            "x".repeat(100_000),
        ] {
            s.on_text(&text, &mut inbox, &mut fx);
        }
        assert!(announced(&fx).is_empty());
        let notices = fx
            .outputs
            .iter()
            .filter(|o| matches!(o, Output::Notice(_)))
            .count();
        assert_eq!(notices, 6);
    }
}
