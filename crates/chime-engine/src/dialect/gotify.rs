//! Gotify (<https://gotify.net>): `/stream` delivers each message as one
//! JSON object per text frame, with no resume. So on every link (and at
//! start) the session pages back through `GET /message` until the last id
//! it had seen (kept in the resume state): what came during sleep, an
//! outage or while Chime was closed arrives once. Gotify's `since` means
//! "ids below", so paging goes from the newest down. The server pings
//! over the WebSocket every 45 s and ignores what clients send.
//!
//! Written from Gotify's public API documentation (`docs/spec.json`,
//! `msgextras.md`, `priority.md`).

use std::collections::HashMap;

use serde_json::Value;

use super::{Effects, Endpoint, Protocol, Session};
use crate::events::{Fetched, Output};
use crate::inbox::Inbox;
use crate::profile::{Auth, ServerProfile};
use crate::protocol::{Dialect, Event, Kind, Message, Target, MAX_WIRE_INT};
use chime_proto::text::sanitize;

/// Messages asked for per page (Gotify allows up to 200).
pub const PAGE: u32 = 100;
/// Pages read back after an outage at most (the inbox keeps 5,000 rows).
pub const MAX_PAGES: u32 = 50;
/// Application names remembered.
const MAX_APPS: usize = 1000;

/// A Gotify server's stream and message list (written from Gotify's
/// public API documentation).
pub const PROTOCOL: Protocol = Protocol {
    dialect: Dialect::Gotify,
    title: "Gotify server",
    short: "Gotify",
    kinds: &[Kind::Message],
    tells_reads: false,
    forgets_read: true,
    server_pings: true,
    web_address: true,
    at_root: false,
    silent_limit_secs: None,
    url_example: "https://gotify.example.com",
    url_hint:
        "The server's address. Sign in with a client token (Gotify: Clients → Create client).",
    token_hint: "The client token",
    open: |_| Box::new(Gotify::default()),
    endpoint: |profile, _| endpoint(profile),
    read_token: super::token_as_typed,
    discover: &[],
    stream_at: super::stream_here,
    sign_in: None,
};

#[derive(Debug, Default)]
pub struct Gotify {
    apps: HashMap<u64, String>,
    /// Paging back: where to stop (the last id seen before this link;
    /// `None`: never synced — only learn where the server stands).
    sync: Option<Sync>,
    /// A read-back that did not complete (a failed, refused, non-JSON or
    /// truncated page): where it must stop when it runs again, at the next
    /// heartbeat. Until it completes the cursor stays where it was.
    retry: Option<Option<u64>>,
    /// Messages the stream brought while paging: the cursor may not pass
    /// them until the older ones are in.
    live_max: u64,
}

#[derive(Debug)]
struct Sync {
    stop: Option<u64>,
    pages: u32,
    found: Vec<Event>,
}

/// The dialled stream: `wss://HOST[/prefix]/stream`, the client token in
/// `X-Gotify-Key` (or `?token=` with the address sign-in).
pub fn endpoint(profile: &ServerProfile) -> Result<Endpoint, String> {
    let mut ep = Endpoint::standard(profile)?;
    let mut url = ep.url.clone();
    url.set_path(&format!("{}/stream", base_path(profile)));
    ep.url = url;
    if let Auth::Bearer(t) = &profile.auth {
        ep.headers.retain(|(n, _)| n != http::header::AUTHORIZATION);
        ep.headers.push((
            http::HeaderName::from_static("x-gotify-key"),
            super::secret_header(t.expose())?,
        ));
    }
    Ok(ep)
}

/// `/prefix` of a Gotify behind a sub-path, without the `/stream` a user
/// may have pasted; empty at the root.
fn base_path(profile: &ServerProfile) -> String {
    let p = profile.url.path().trim_end_matches('/');
    let p = p.strip_suffix("/stream").unwrap_or(p);
    p.trim_end_matches('/').to_owned()
}

/// The HTTP address of `path` on the server (`ws`→`http`, `wss`→`https`),
/// with the address credential if that is the sign-in.
pub fn fetch_url(profile: &ServerProfile, path: &str) -> Result<url::Url, String> {
    let mut url = profile.dial_url();
    let scheme = if profile.is_tls() { "https" } else { "http" };
    url.set_scheme(scheme)
        .map_err(|_| "bad address".to_string())?;
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    url.set_path(&format!("{}{p}", base_path(profile)));
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    pairs.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
    url.set_query(None);
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    Ok(url)
}

/// Gotify's 0–10 on Chime's 1–5, by Gotify's own convention: 0 silent,
/// 1–3 low (inbox only), 4–7 a normal notification, 8–10 urgent.
pub fn priority(p: u64) -> u8 {
    match p {
        0 => 1,
        1..=3 => 2,
        4..=7 => 3,
        _ => 5,
    }
}

/// A Gotify message as Chime's item, or why not.
pub fn parse_message(v: &Value, apps: &HashMap<u64, String>) -> Result<(u64, Event), &'static str> {
    let id = match v.get("id").and_then(Value::as_u64) {
        Some(id @ 1..=MAX_WIRE_INT) => id,
        _ => return Err("id missing or out of range"),
    };
    let appid = match v.get("appid") {
        None => 0,
        Some(a) => match a.as_u64() {
            Some(a) if a <= MAX_WIRE_INT => a,
            _ => return Err("appid out of range"),
        },
    };
    // Gotify stores any integer; 0..=10 is its convention, so anything
    // else is clamped into it (never a reason to drop the message).
    let prio = v
        .get("priority")
        .and_then(|p| crate::protocol::clamp_priority(p, 0, 10))
        .map_or(4, |p| p as u64);
    let time = match v.get("date").and_then(Value::as_str) {
        Some(d) => d
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond().max(0))
            .unwrap_or(0),
        None => 0,
    };
    let str_of = |f: &str| v.get(f).and_then(Value::as_str).unwrap_or_default();
    let extras = v.get("extras");
    let extra = |ns: &str, path: &[&str]| -> Option<String> {
        let mut cur = extras?.get(ns)?;
        for p in path {
            cur = cur.get(p)?;
        }
        cur.as_str().map(str::to_owned)
    };
    let click = extra("client::notification", &["click", "url"]).unwrap_or_default();
    let markdown = extra("client::display", &["contentType"]).as_deref() == Some("text/markdown");
    let app = apps
        .get(&appid)
        .cloned()
        .unwrap_or_else(|| format!("Application {appid}"));
    let message = Message {
        id: id.to_string(),
        body: str_of("message").to_owned(),
        priority: priority(prio),
        tags: Vec::new(),
        links: Vec::new(),
        markdown,
        sequence: String::new(),
    }
    .cleaned();
    Ok((
        id,
        Event {
            seq: 0,
            kind: Kind::Message,
            actor: app,
            target: Target {
                title: sanitize(str_of("title"), 200),
                url: click,
            },
            time,
            message: Some(Box::new(message)),
        },
    ))
}

impl Gotify {
    fn cursor(inbox: &Inbox) -> Option<u64> {
        inbox.cursor().and_then(|c| c.parse().ok())
    }

    fn page(before: Option<u64>) -> String {
        match before {
            Some(id) => format!("/message?limit={PAGE}&since={id}"),
            None => format!("/message?limit={PAGE}"),
        }
    }

    fn on_messages(&mut self, body: &str, inbox: &mut Inbox, fx: &mut Effects) {
        let Some(sync) = self.sync.as_mut() else {
            return;
        };
        // A proxy's error page or a cut-off body is no page: the read-back
        // is not complete, so it must not end as if it were.
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let Some(list) = parsed
            .as_ref()
            .and_then(|v| v.get("messages"))
            .and_then(Value::as_array)
        else {
            fx.notice("the server's message list is not a Gotify page".into());
            return self.interrupted(fx);
        };
        let mut reached = false;
        let mut lowest = None::<u64>;
        for m in list {
            match parse_message(m, &self.apps) {
                Ok((id, event)) => {
                    lowest = Some(lowest.map_or(id, |l| l.min(id)));
                    match sync.stop {
                        Some(stop) if id <= stop => reached = true,
                        Some(_) => sync.found.push(event),
                        // First sync: only where the server stands.
                        None => {
                            reached = true;
                            self.live_max = self.live_max.max(id);
                        }
                    }
                }
                Err(problem) => {
                    fx.notice(format!("ignored a malformed Gotify message ({problem})"))
                }
            }
        }
        sync.pages += 1;
        let more = !reached && list.len() >= PAGE as usize && sync.pages < MAX_PAGES;
        match (more, lowest) {
            (true, Some(low)) => fx.fetches.push(Self::page(Some(low))),
            _ => self.finish(inbox, fx),
        }
    }

    /// The read-back broke off: what it found is dropped (the next one
    /// finds it again), and it runs again from the top at the next
    /// heartbeat, stopping where this one was to stop.
    fn interrupted(&mut self, fx: &mut Effects) {
        if let Some(sync) = self.sync.take() {
            self.retry = Some(sync.stop);
            fx.notice("reading back missed messages failed; trying again shortly".into());
        }
    }

    /// Paging is over: announce what was missed, oldest first, and move
    /// the cursor past it and past what the stream brought meanwhile.
    fn finish(&mut self, inbox: &mut Inbox, fx: &mut Effects) {
        let Some(sync) = self.sync.take() else {
            return;
        };
        self.retry = None;
        let mut found = sync.found;
        found.sort_by_key(message_id);
        // The newest the read-back reached, whether or not the stream had
        // brought it already.
        let top = found.last().map(message_id).unwrap_or(0);
        // What the stream already brought during the paging (the latest
        // ids) is dropped before the older ones push it out of the recent
        // ids.
        found.retain(|e| !e.message.as_ref().is_some_and(|m| inbox.has_seen(&m.id)));
        super::announce_messages(found, inbox, fx);
        // "0": synced with a server that had nothing yet, so the next
        // link announces everything it finds.
        let cursor = Self::cursor(inbox).unwrap_or(0).max(top).max(self.live_max);
        inbox.set_cursor(cursor.to_string());
    }
}

fn message_id(e: &Event) -> u64 {
    e.message
        .as_ref()
        .and_then(|m| m.id.parse().ok())
        .unwrap_or(0)
}

impl Session for Gotify {
    fn dialect(&self) -> Option<Dialect> {
        Some(Dialect::Gotify)
    }

    fn on_open(&mut self, inbox: &mut Inbox, fx: &mut Effects) {
        inbox.use_local_counts();
        fx.outputs.push(Output::Counts(inbox.unread()));
        self.sync = Some(Sync {
            stop: Self::cursor(inbox),
            pages: 0,
            found: Vec::new(),
        });
        // Names first, so the messages read back are labelled.
        fx.fetches.push("/application".into());
        self.on_forget(inbox, fx);
    }

    fn on_forget(&mut self, inbox: &mut Inbox, fx: &mut Effects) {
        for id in inbox.take_forget() {
            if id.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty() {
                fx.deletes.push(format!("/message/{id}"));
            }
        }
    }

    fn on_fetched(&mut self, path: &str, result: Fetched, inbox: &mut Inbox, fx: &mut Effects) {
        if let Some(id) = path.strip_prefix("/message/") {
            // A deletion: done (or already gone), else owed again.
            match result {
                Ok(r) if matches!(r.status, 200 | 204 | 404) => {}
                Ok(r) => {
                    fx.notice(format!(
                        "the server answered {} to deleting message {id}",
                        r.status
                    ));
                    inbox.owe_forget([id.to_owned()]);
                }
                Err(_) => inbox.owe_forget([id.to_owned()]),
            }
            return;
        }
        let ok_body = match result {
            Ok(r) if r.status == 200 => Some(r.body),
            Ok(r) => {
                fx.notice(format!(
                    "the server answered {} to GET {}",
                    r.status,
                    sanitize(path, 60)
                ));
                None
            }
            Err(e) => {
                fx.notice(format!(
                    "GET {} failed: {}",
                    sanitize(path, 60),
                    sanitize(&e, 120)
                ));
                None
            }
        };
        if path == "/application" {
            if let Some(list) = ok_body
                .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                .and_then(|v| v.as_array().cloned())
            {
                for a in list.iter().take(MAX_APPS) {
                    if let (Some(id), Some(name)) = (
                        a.get("id").and_then(Value::as_u64),
                        a.get("name").and_then(Value::as_str),
                    ) {
                        let name = sanitize(name, 60);
                        if !name.is_empty() {
                            self.apps.insert(id, name);
                        }
                    }
                }
            }
            fx.fetches.push(Self::page(None));
            return;
        }
        match ok_body {
            Some(body) => self.on_messages(&body, inbox, fx),
            // The stream still works; the cursor stays until a read-back
            // reaches it.
            None => self.interrupted(fx),
        }
    }

    fn on_text(&mut self, text: &str, inbox: &mut Inbox, fx: &mut Effects) {
        let Some(value) = super::json_object(text, fx) else {
            return;
        };
        match parse_message(&value, &self.apps) {
            Ok((id, event)) => {
                super::announce_messages(vec![event], inbox, fx);
                if self.sync.is_some() || self.retry.is_some() {
                    self.live_max = self.live_max.max(id);
                } else if Self::cursor(inbox).is_none_or(|c| id > c) {
                    inbox.set_cursor(id.to_string());
                }
            }
            Err(problem) => fx.notice(format!("ignored a malformed Gotify message ({problem})")),
        }
    }

    /// Nothing is sent (the server pings); a read-back that broke off runs
    /// again.
    fn on_heartbeat(&mut self, _inbox: &Inbox, fx: &mut Effects) {
        if let Some(stop) = self.retry.take() {
            self.sync = Some(Sync {
                stop,
                pages: 0,
                found: Vec::new(),
            });
            fx.fetches.push(Self::page(None));
        }
    }

    fn probe(&self) -> Option<String> {
        None
    }

    fn tells_reads(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Reply;
    use crate::inbox::InboxState;
    use crate::inbox::NewItem;

    fn m(id: u64, prio: u64) -> String {
        format!(
            r#"{{"id":{id},"appid":1,"message":"body {id}","title":"t{id}","priority":{prio},"date":"2026-11-30T10:00:00Z"}}"#
        )
    }

    fn page(ids: &[u64]) -> String {
        let list: Vec<String> = ids.iter().map(|&i| m(i, 5)).collect();
        format!(
            r#"{{"paging":{{"size":{},"limit":100}},"messages":[{}]}}"#,
            ids.len(),
            list.join(",")
        )
    }

    /// The server answers `path` with a page of these message ids.
    fn answer_page(s: &mut Gotify, path: &str, ids: &[u64], inbox: &mut Inbox, fx: &mut Effects) {
        s.on_fetched(path, Ok(Reply::new(200, page(ids))), inbox, fx);
    }

    fn announced(fx: &Effects) -> Vec<u64> {
        fx.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Items(i) => Some(i.clone()),
                _ => None,
            })
            .flatten()
            .filter_map(|i| match i {
                NewItem::Event(e) => Some(message_id(&e)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn gotify_priorities_follow_its_own_convention() {
        let table = [(0, 1), (1, 2), (3, 2), (4, 3), (7, 3), (8, 5), (10, 5)];
        for (g, want) in table {
            assert_eq!(priority(g), want, "{g}");
        }
    }

    #[test]
    fn the_stream_and_fetches_go_under_the_base_path_with_the_token_header() {
        let mut p = ServerProfile::for_dialect("https://h/gotify/", Dialect::Gotify).unwrap();
        p.auth = Auth::Bearer(crate::profile::Secret::new("C123"));
        let ep = endpoint(&p).unwrap();
        assert_eq!(ep.url.as_str(), "wss://h/gotify/stream");
        assert!(ep
            .headers
            .iter()
            .any(|(n, v)| n == "x-gotify-key" && v == "C123"));
        assert!(!ep
            .headers
            .iter()
            .any(|(n, _)| n == http::header::AUTHORIZATION));
        assert_eq!(
            fetch_url(&p, "/message?limit=100&since=7")
                .unwrap()
                .as_str(),
            "https://h/gotify/message?limit=100&since=7"
        );
        p.auth = Auth::Query {
            name: "token".into(),
            value: crate::profile::Secret::new("C9"),
        };
        assert_eq!(
            endpoint(&p).unwrap().url.as_str(),
            "wss://h/gotify/stream?token=C9"
        );
        assert_eq!(
            fetch_url(&p, "/application").unwrap().as_str(),
            "https://h/gotify/application?token=C9"
        );
    }

    #[test]
    fn a_new_link_pages_back_to_the_cursor_and_announces_the_gap_once_in_order() {
        let mut s = Gotify::default();
        let mut inbox = Inbox::new(InboxState {
            cursor: Some("100".into()),
            ..InboxState::default()
        });
        let mut fx = Effects::default();
        s.on_open(&mut inbox, &mut fx);
        assert_eq!(fx.fetches, vec!["/application"]);
        s.on_fetched(
            "/application",
            Ok(Reply::new(200, r#"[{"id":1,"name":"Backups"}]"#)),
            &mut inbox,
            &mut fx,
        );
        assert_eq!(fx.fetches[1], "/message?limit=100");
        // The stream delivers 251 while the list is read.
        s.on_text(&m(251, 5), &mut inbox, &mut fx);
        let first: Vec<u64> = (152..=251).rev().collect();
        answer_page(&mut s, "/message?limit=100", &first, &mut inbox, &mut fx);
        assert_eq!(fx.fetches[2], "/message?limit=100&since=152");
        assert_eq!(inbox.cursor(), Some("100"), "the cursor waits for the gap");
        let second: Vec<u64> = (52..=151).rev().collect();
        answer_page(
            &mut s,
            "/message?limit=100&since=152",
            &second,
            &mut inbox,
            &mut fx,
        );
        assert_eq!(fx.fetches.len(), 3, "reached the cursor: no further page");
        let got = announced(&fx);
        let mut want = vec![251];
        want.extend(101..=250);
        assert_eq!(got, want);
        assert_eq!(inbox.cursor(), Some("251"));
        assert_eq!(inbox.unread().messages, 151);
        let ev = match &fx.outputs.iter().find(|o| matches!(o, Output::Items(_))) {
            Some(Output::Items(i)) => i[0].clone(),
            _ => unreachable!(),
        };
        let NewItem::Event(ev) = ev else {
            unreachable!()
        };
        assert_eq!(ev.actor, "Backups");
        assert_eq!(
            ev.message.unwrap().priority,
            3,
            "Gotify's 5 is a normal one"
        );
    }

    /// A new link of a source whose cursor is at 100, past `/application`
    /// (no names), asking for the first page.
    fn opened_at_100(inbox: &mut Inbox) -> (Gotify, Effects) {
        let mut s = Gotify::default();
        let mut fx = Effects::default();
        s.on_open(inbox, &mut fx);
        s.on_fetched("/application", Ok(Reply::new(200, "[]")), inbox, &mut fx);
        (s, fx)
    }

    fn cursor_at_100() -> Inbox {
        Inbox::new(InboxState {
            cursor: Some("100".into()),
            ..InboxState::default()
        })
    }

    /// Cursor 100, ids 101..=251 missed: page 1 (152..=251) arrives, then
    /// page 2 fails in one of the ways a proxy fails, then a live message.
    fn a_read_back_broken_off_by(failure: Fetched) {
        let mut inbox = cursor_at_100();
        let (mut s, mut fx) = opened_at_100(&mut inbox);
        let first: Vec<u64> = (152..=251).rev().collect();
        answer_page(&mut s, "/message?limit=100", &first, &mut inbox, &mut fx);
        s.on_fetched(
            "/message?limit=100&since=152",
            failure.clone(),
            &mut inbox,
            &mut fx,
        );
        s.on_text(&m(252, 5), &mut inbox, &mut fx);
        assert_eq!(inbox.cursor(), Some("100"), "{failure:?}: the cursor stays");
        assert_eq!(announced(&fx), vec![252], "{failure:?}");
        // The next heartbeat pages again, from the top, to the same stop.
        let mut fx = Effects::default();
        s.on_heartbeat(&inbox, &mut fx);
        assert_eq!(fx.fetches, vec!["/message?limit=100"], "{failure:?}");
        let top: Vec<u64> = (153..=252).rev().collect();
        answer_page(&mut s, "/message?limit=100", &top, &mut inbox, &mut fx);
        let rest: Vec<u64> = (53..=152).rev().collect();
        answer_page(
            &mut s,
            "/message?limit=100&since=153",
            &rest,
            &mut inbox,
            &mut fx,
        );
        let want: Vec<u64> = (101..=251).collect();
        assert_eq!(announced(&fx), want, "{failure:?}: the gap, once");
        assert_eq!(inbox.cursor(), Some("252"), "{failure:?}");
        // A heartbeat after a complete read-back fetches nothing.
        let mut fx = Effects::default();
        s.on_heartbeat(&inbox, &mut fx);
        assert!(fx.fetches.is_empty());
    }

    #[test]
    fn a_failed_or_garbled_page_leaves_the_cursor_and_the_gap_is_paged_again() {
        for failure in [
            Err("timed out".to_owned()),
            Ok(Reply::new(502, "<html>Bad Gateway</html>".to_owned())),
            Ok(Reply::new(200, "<html>Bad Gateway</html>".to_owned())),
            Ok(Reply::new(
                200,
                r#"{"paging":{"size":100},"messages":[{"id":151,"#.to_owned(),
            )),
            Ok(Reply::new(200, r#"{"error":"Unauthorized"}"#.to_owned())),
        ] {
            a_read_back_broken_off_by(failure);
        }
    }

    #[test]
    fn a_read_back_cut_short_never_moves_the_cursor_on_a_new_link_either() {
        let mut inbox = cursor_at_100();
        let (mut s, mut fx) = opened_at_100(&mut inbox);
        s.on_fetched(
            "/message?limit=100",
            Ok(Reply::new(200, "<html>")),
            &mut inbox,
            &mut fx,
        );
        s.on_text(&m(300, 5), &mut inbox, &mut fx);
        assert_eq!(inbox.cursor(), Some("100"));
        // The link drops; the next one still pages down to 100.
        let (mut s, mut fx) = opened_at_100(&mut inbox);
        answer_page(
            &mut s,
            "/message?limit=100",
            &[300, 102, 101],
            &mut inbox,
            &mut fx,
        );
        assert_eq!(announced(&fx), vec![101, 102]);
        assert_eq!(inbox.cursor(), Some("300"));
    }

    #[test]
    fn out_of_range_priorities_are_clamped_and_the_message_kept() {
        let apps = HashMap::new();
        let table = [(-5, 1), (11, 5), (100, 5), (i64::MAX, 5)];
        for (p, want) in table {
            let v: Value = serde_json::from_str(&format!(r#"{{"id":1,"priority":{p}}}"#)).unwrap();
            let (_, e) = parse_message(&v, &apps).unwrap();
            assert_eq!(e.message.unwrap().priority, want, "{p}");
        }
    }

    #[test]
    fn the_first_link_only_learns_where_the_server_stands() {
        let mut s = Gotify::default();
        let mut inbox = Inbox::default();
        let mut fx = Effects::default();
        s.on_open(&mut inbox, &mut fx);
        s.on_fetched("/application", Err("refused".into()), &mut inbox, &mut fx);
        answer_page(
            &mut s,
            "/message?limit=100",
            &[9, 8, 7],
            &mut inbox,
            &mut fx,
        );
        assert!(announced(&fx).is_empty());
        assert_eq!(inbox.cursor(), Some("9"));
        s.on_text(&m(10, 5), &mut inbox, &mut fx);
        s.on_text(&m(10, 5), &mut inbox, &mut fx);
        assert_eq!(announced(&fx), vec![10]);
        assert_eq!(inbox.cursor(), Some("10"));
    }

    #[test]
    fn a_server_that_had_nothing_at_the_first_sync_has_everything_announced_next_time() {
        let mut s = Gotify::default();
        let mut inbox = Inbox::default();
        let mut fx = Effects::default();
        s.on_open(&mut inbox, &mut fx);
        s.on_fetched(
            "/application",
            Ok(Reply::new(200, "[]")),
            &mut inbox,
            &mut fx,
        );
        answer_page(&mut s, "/message?limit=100", &[], &mut inbox, &mut fx);
        assert_eq!(inbox.cursor(), Some("0"));
        let mut s = Gotify::default();
        s.on_open(&mut inbox, &mut fx);
        s.on_fetched(
            "/application",
            Ok(Reply::new(200, "[]")),
            &mut inbox,
            &mut fx,
        );
        answer_page(&mut s, "/message?limit=100", &[2, 1], &mut inbox, &mut fx);
        assert_eq!(announced(&fx), vec![1, 2]);
    }

    #[test]
    fn owed_deletions_go_out_on_the_next_link_and_a_failed_one_is_owed_again() {
        let mut inbox = Inbox::default();
        inbox.owe_forget(["7".to_owned(), "8".to_owned(), "not-a-number".to_owned()]);
        let mut s = Gotify::default();
        let mut fx = Effects::default();
        s.on_open(&mut inbox, &mut fx);
        assert_eq!(fx.deletes, vec!["/message/7", "/message/8"]);
        assert!(inbox.state().forget.is_empty());
        s.on_fetched(
            "/message/7",
            Ok(Reply::new(200, String::new())),
            &mut inbox,
            &mut fx,
        );
        s.on_fetched("/message/8", Err("reset".into()), &mut inbox, &mut fx);
        assert_eq!(inbox.state().forget, vec!["8".to_owned()]);
    }

    #[test]
    fn hostile_messages_are_noticed_and_skipped() {
        let mut s = Gotify::default();
        let mut inbox = Inbox::default();
        let mut fx = Effects::default();
        for text in [
            m(0, 5),
            r#"{"id":9007199254740993}"#.to_owned(),
            r#"{"id":-1}"#.to_owned(),
            r#"{"id":3,"appid":-2}"#.to_owned(),
            "[]".to_owned(),
            "{".to_owned(),
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
