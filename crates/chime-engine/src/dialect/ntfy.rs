//! ntfy (<https://ntfy.sh>): several topics of one server on one socket
//! (`/<t1>,<t2>/ws`), JSON events `open`, `keepalive`, `message`,
//! `poll_request` (others ignored, as ntfy asks of clients). Resume is
//! `since=<last message id>` — never a time, which loses or repeats what
//! was published within one second. The server pings over the WebSocket
//! every 45 s and knows no application heartbeat, so nothing is sent.
//!
//! Written from ntfy's public docs (`docs/subscribe/api.md`,
//! `docs/publish.md`).

use serde_json::Value;

use super::{Effects, Endpoint, Protocol, Session};
use crate::events::Output;
use crate::inbox::Inbox;
use crate::profile::{Auth, ServerProfile};
use crate::protocol::{Dialect, Event, Kind, Link, Message, Target, MAX_WIRE_INT};
use chime_proto::text::sanitize;

/// An ntfy server's topics on one socket (written from ntfy's public API
/// documentation).
pub const PROTOCOL: Protocol = Protocol {
    dialect: Dialect::Ntfy,
    title: "ntfy topics",
    short: "ntfy",
    kinds: &[Kind::Message],
    tells_reads: false,
    forgets_read: false,
    server_pings: true,
    web_address: true,
    at_root: false,
    silent_limit_secs: None,
    url_example: "https://ntfy.sh/topic1,topic2",
    url_hint:
        "The server and its topics, as you use them elsewhere: several topics separated by commas.",
    token_hint: "tk_… (or user:password with the address parameter)",
    open: |_| Box::new(Ntfy),
    endpoint,
    read_token,
    discover: &[],
    stream_at: super::stream_here,
    sign_in: None,
};

/// ntfy accounts on a command line: `--token user:password` (ntfy's
/// tokens hold no ':').
fn read_token(auth: Auth) -> Auth {
    if let Auth::Bearer(t) = &auth {
        if let Some((user, pw)) = t.expose().split_once(':') {
            return Auth::Basic {
                user: user.to_owned(),
                password: crate::profile::Secret::new(pw),
            };
        }
    }
    auth
}

#[derive(Debug, Default)]
pub struct Ntfy;

/// What the driver dials: `wss://HOST/<topics>/ws?since=<id>`, from what a
/// user pastes (`https://ntfy.sh/a,b`, `ntfy.sh/a`, `…/a/ws`, `…/a/json`).
pub fn endpoint(
    profile: &ServerProfile,
    inbox: &crate::inbox::InboxState,
) -> Result<Endpoint, String> {
    let mut url = profile.url.clone();
    let path = url.path().trim_matches('/').to_owned();
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if matches!(segments.last(), Some(&("ws" | "json" | "sse" | "raw"))) {
        segments.pop();
    }
    let Some(topics) = segments.pop() else {
        return Err("an ntfy address names its topics: https://HOST/topic1,topic2".into());
    };
    let topics: Vec<&str> = topics
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if topics.is_empty() || topics.iter().any(|t| !valid_topic(t)) {
        return Err("ntfy topics are letters, digits, - and _ (up to 64 each)".into());
    }
    let prefix = segments.join("/");
    let joined = topics.join(",");
    let path = if prefix.is_empty() {
        format!("/{joined}/ws")
    } else {
        format!("/{prefix}/{joined}/ws")
    };
    url.set_path(&path);
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "since")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some(cursor) = inbox.cursor.as_deref() {
        pairs.push(("since".into(), cursor.to_owned()));
    }
    let mut ep = Endpoint::standard(profile)?;
    // `?auth=` carries the whole Authorization value, base64url without
    // padding (for proxies that strip headers): a user enters the token
    // or `user:password`, Chime encodes it.
    if let Auth::Query { name, value } = &profile.auth {
        let v = if name == "auth" {
            let header = super::authorization_value(value.expose());
            let encoded = super::base64url(header.as_bytes());
            chime_proto::redact::register_secret(&encoded);
            encoded
        } else {
            value.expose().to_owned()
        };
        pairs.push((name.clone(), v));
    }
    url.set_query(None);
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    ep.url = url;
    Ok(ep)
}

fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// ntfy message ids: short strings of letters and digits.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A `message` event as Chime's item, or why not.
pub fn parse_message(v: &Value) -> Result<Event, &'static str> {
    let str_of = |f: &str| v.get(f).and_then(Value::as_str).unwrap_or_default();
    let id = str_of("id");
    if !valid_id(id) {
        return Err("id missing or not an ntfy id");
    }
    let time = match v.get("time") {
        None => 0,
        Some(t) => match t.as_u64() {
            Some(t) if t <= MAX_WIRE_INT / 1000 => (t * 1000) as i64,
            _ => return Err("time out of range"),
        },
    };
    // ntfy's 1–5; anything else is clamped, never a reason to drop it.
    let priority = v
        .get("priority")
        .and_then(|p| crate::protocol::clamp_priority(p, 1, 5))
        .map_or(crate::protocol::DEFAULT_PRIORITY, |p| p as u8);
    let tags = v
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut links = Vec::new();
    if let Some(actions) = v.get("actions").and_then(Value::as_array) {
        // Only `view` actions become buttons; `http` and `broadcast` ones
        // would run requests or intents for the server: never run.
        for a in actions.iter().take(3) {
            if a.get("action").and_then(Value::as_str) == Some("view") {
                links.push(Link {
                    label: a
                        .get("label")
                        .and_then(Value::as_str)
                        .unwrap_or("Open")
                        .to_owned(),
                    url: a
                        .get("url")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                });
            }
        }
    }
    if let Some(att) = v.get("attachment") {
        let name = att
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("attachment");
        if let Some(url) = att.get("url").and_then(Value::as_str) {
            links.push(Link {
                label: name.to_owned(),
                url: url.to_owned(),
            });
        }
    }
    let topic = sanitize(str_of("topic"), 64);
    let message = Message {
        id: id.to_owned(),
        body: str_of("message").to_owned(),
        priority,
        tags,
        links,
        markdown: str_of("content_type") == "text/markdown"
            || v.get("markdown").and_then(Value::as_bool) == Some(true),
        sequence: str_of("sequence_id").to_owned(),
    }
    .cleaned();
    Ok(Event {
        seq: 0,
        kind: Kind::Message,
        actor: topic,
        target: Target {
            title: sanitize(str_of("title"), 200),
            url: str_of("click").to_owned(),
        },
        time,
        message: Some(Box::new(message)),
    })
}

impl Session for Ntfy {
    fn dialect(&self) -> Option<Dialect> {
        Some(Dialect::Ntfy)
    }

    fn on_open(&mut self, inbox: &mut Inbox, fx: &mut Effects) {
        inbox.use_local_counts();
        fx.outputs.push(Output::Counts(inbox.unread()));
    }

    fn on_text(&mut self, text: &str, inbox: &mut Inbox, fx: &mut Effects) {
        let Some(value) = super::json_object(text, fx) else {
            return;
        };
        // `open` names the topics; `keepalive` only exists on the HTTP
        // streams; `poll_request` is for clients that cannot hold a
        // socket. Unknown events (newer servers) are ignored, as the API
        // asks.
        let event = value.get("event").and_then(Value::as_str);
        if event == Some("open") && inbox.cursor().is_none() {
            // No message yet to resume after: resume from the server's own
            // time of this first link (`since=<unix time>`, its clock, not
            // ours), or what is published while the link is down would be
            // lost (no `since`, no old messages). The first message's id
            // takes over; duplicates of that second are known by id.
            if let Some(t) = value
                .get("time")
                .and_then(Value::as_u64)
                .filter(|t| (1..=MAX_WIRE_INT / 1000).contains(t))
            {
                inbox.set_cursor(t.to_string());
            }
        }
        match event {
            Some("message") => match parse_message(&value) {
                Ok(event) => {
                    let (id, key, update) = match event.message.as_deref() {
                        Some(m) => (
                            m.id.clone(),
                            m.key().to_owned(),
                            !m.sequence.is_empty() && m.sequence != m.id,
                        ),
                        None => Default::default(),
                    };
                    // A new version of a notification seen lately is the
                    // same notification: its row and toast change in
                    // place, and the badge does not count it twice.
                    if update && inbox.has_seen(&key) {
                        if let Some(e) = inbox.apply_update(event) {
                            fx.items(vec![crate::inbox::NewItem::Event(e)]);
                        }
                    } else {
                        super::announce_messages(vec![event], inbox, fx);
                        if update {
                            inbox.remember(key);
                        }
                    }
                    inbox.set_cursor(id);
                }
                Err(problem) => fx.notice(format!("ignored a malformed ntfy message ({problem})")),
            },
            // ntfy 2.16+: a sequence read or deleted elsewhere. The events
            // are messages of their own (the cursor moves past them).
            Some(kind @ ("message_clear" | "message_delete")) => {
                let id = value.get("id").and_then(Value::as_str).unwrap_or_default();
                let sequence = value
                    .get("sequence_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !valid_id(id) || !chime_proto::protocol::is_sequence_id(sequence) {
                    return fx.notice(format!("ignored a malformed ntfy {kind} event"));
                }
                if inbox.has_seen(id) {
                    return;
                }
                inbox.remember(id.to_owned());
                fx.outputs.push(Output::Withdrawn {
                    keys: vec![sequence.to_owned()],
                    deleted: kind == "message_delete",
                });
                inbox.set_cursor(id.to_owned());
            }
            _ => {}
        }
    }

    fn on_heartbeat(&mut self, _inbox: &Inbox, _fx: &mut Effects) {}

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
    use crate::inbox::InboxState;
    use crate::inbox::NewItem;

    fn msg(id: &str, extra: &str) -> String {
        format!(
            r#"{{"id":"{id}","time":1700000000,"event":"message","topic":"alerts","message":"disk full"{extra}}}"#
        )
    }

    #[test]
    fn before_any_message_the_servers_time_of_the_first_link_is_where_the_next_resumes() {
        let mut s = Ntfy;
        let mut inbox = Inbox::default();
        let mut fx = Effects::default();
        let open = r#"{"id":"o1","time":1800000000,"event":"open","topic":"alerts"}"#;
        s.on_text(open, &mut inbox, &mut fx);
        assert_eq!(inbox.cursor(), Some("1800000000"));
        // A message's id takes over, and a later link's open does not
        // move it back to a time.
        s.on_text(
            r#"{"id":"m1abc","time":1800000005,"event":"message","topic":"alerts","message":"hi"}"#,
            &mut inbox,
            &mut fx,
        );
        assert_eq!(inbox.cursor(), Some("m1abc"));
        s.on_text(open, &mut inbox, &mut fx);
        assert_eq!(inbox.cursor(), Some("m1abc"));
        // A time out of range is no cursor.
        let mut fresh = Inbox::default();
        for bad in [
            r#"{"event":"open","time":0}"#,
            r#"{"event":"open","time":-5}"#,
            r#"{"event":"open","time":"soon"}"#,
            r#"{"event":"open","time":99999999999999999999}"#,
        ] {
            s.on_text(bad, &mut fresh, &mut fx);
        }
        assert_eq!(fresh.cursor(), None);
    }

    #[test]
    fn the_address_a_user_pastes_becomes_the_topics_socket_with_the_cursor() {
        let cases = [
            ("wss://ntfy.sh/alerts", None, "wss://ntfy.sh/alerts/ws"),
            (
                "wss://ntfy.sh/a,b/",
                Some("xyz"),
                "wss://ntfy.sh/a,b/ws?since=xyz",
            ),
            ("wss://h/a/ws?since=1h", Some("k1"), "wss://h/a/ws?since=k1"),
            ("ws://h:8080/sub/a/json", None, "ws://h:8080/sub/a/ws"),
        ];
        for (input, cursor, want) in cases {
            let p = ServerProfile::for_dialect(input, Dialect::Ntfy).unwrap();
            let state = InboxState {
                cursor: cursor.map(str::to_owned),
                ..InboxState::default()
            };
            assert_eq!(endpoint(&p, &state).unwrap().url.as_str(), want, "{input}");
        }
        for bad in ["wss://ntfy.sh/", "wss://ntfy.sh/a b", "wss://h/ws"] {
            let p = ServerProfile::for_dialect(bad, Dialect::Ntfy).unwrap();
            assert!(endpoint(&p, &InboxState::default()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_auth_parameter_carries_the_whole_header_base64url_encoded() {
        let mut p = ServerProfile::for_dialect("https://h/a", Dialect::Ntfy).unwrap();
        p.auth = Auth::Query {
            name: "auth".into(),
            value: crate::profile::Secret::new("tk_abc"),
        };
        let url = endpoint(&p, &InboxState::default()).unwrap().url;
        // base64url("Bearer tk_abc") without padding.
        assert_eq!(url.query(), Some("auth=QmVhcmVyIHRrX2FiYw"));
        p.auth = Auth::Query {
            name: "auth".into(),
            value: crate::profile::Secret::new("phil:pw"),
        };
        let url = endpoint(&p, &InboxState::default()).unwrap().url;
        // base64url("Basic " + base64("phil:pw")).
        assert_eq!(url.query(), Some("auth=QmFzaWMgY0docGJEcHdkdz09"));
    }

    #[test]
    fn messages_are_parsed_with_their_links_and_repeats_are_dropped() {
        let mut s = Ntfy;
        let mut inbox = Inbox::default();
        let mut fx = Effects::default();
        s.on_open(&mut inbox, &mut fx);
        let extra = r#","title":"Backup","priority":5,"tags":["warning","nas"],"click":"https://x/c","actions":[{"action":"view","label":"Logs","url":"https://x/l"},{"action":"http","label":"Reboot","url":"https://x/r"},{"action":"view","label":"Bad","url":"javascript:alert(1)"}],"attachment":{"name":"log.txt","url":"https://x/a"}"#;
        for text in [
            r#"{"id":"o","event":"open","topic":"alerts"}"#.to_owned(),
            msg("m1", extra),
            msg("m1", extra),
            r#"{"id":"k","event":"keepalive"}"#.to_owned(),
            r#"{"id":"p","event":"poll_request"}"#.to_owned(),
            r#"{"id":"n","event":"message_clear"}"#.to_owned(),
            msg("m2", ""),
        ] {
            s.on_text(&text, &mut inbox, &mut fx);
        }
        let items: Vec<Event> = fx
            .outputs
            .iter()
            .filter_map(|o| match o {
                Output::Items(i) => Some(i.clone()),
                _ => None,
            })
            .flatten()
            .filter_map(|i| match i {
                NewItem::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(items.len(), 2);
        let m = items[0].message.as_ref().unwrap();
        assert_eq!(items[0].target.title, "Backup");
        assert_eq!(items[0].target.url, "https://x/c");
        assert_eq!(items[0].actor, "alerts");
        assert_eq!(items[0].time, 1_700_000_000_000);
        assert_eq!(m.priority, 5);
        assert_eq!(m.tags, vec!["warning", "nas"]);
        let labels: Vec<&str> = m.links.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(
            labels,
            ["Logs", "log.txt"],
            "http actions and non-web links are dropped"
        );
        assert_eq!(items[1].message.as_ref().unwrap().priority, 3);
        assert_eq!(inbox.cursor(), Some("m2"));
        assert_eq!(inbox.unread().messages, 2);
        assert!(fx.sends.is_empty(), "ntfy is never sent anything");
    }

    #[test]
    fn out_of_range_and_malformed_messages_are_noticed_and_skipped() {
        let mut s = Ntfy;
        let mut inbox = Inbox::default();
        let mut fx = Effects::default();
        for text in [
            r#"{"id":"m1","event":"message","time":-5}"#.to_owned(),
            r#"{"id":"m1","event":"message","time":99999999999999999}"#.to_owned(),
            r#"{"id":"has space","event":"message"}"#.to_owned(),
            r#"{"event":"message"}"#.to_owned(),
            "[1,2]".to_owned(),
            "{bad".to_owned(),
        ] {
            s.on_text(&text, &mut inbox, &mut fx);
        }
        let notices = fx
            .outputs
            .iter()
            .filter(|o| matches!(o, Output::Notice(_)))
            .count();
        assert_eq!(notices, 6);
        assert_eq!(inbox.unread().messages, 0);
        assert_eq!(inbox.cursor(), None);
    }

    #[test]
    fn out_of_range_priorities_are_clamped_and_the_message_kept() {
        let table = [
            (r#","priority":9"#, 5),
            (r#","priority":-1"#, 1),
            (r#","priority":0"#, 1),
            (r#","priority":18446744073709551615"#, 5),
            (r#","priority":2.7"#, 2),
            (r#","priority":1e300"#, 5),
            (r#","priority":"high""#, 3),
            (r#","priority":null"#, 3),
        ];
        for (n, (extra, want)) in table.into_iter().enumerate() {
            let ev = parse_message(&serde_json::from_str(&msg(&format!("p{n}"), extra)).unwrap())
                .unwrap_or_else(|e| panic!("{extra}: {e}"));
            assert_eq!(ev.message.unwrap().priority, want, "{extra}");
        }
    }

    fn outputs_of(fx: &Effects) -> (Vec<String>, Vec<(Vec<String>, bool)>) {
        let mut items = Vec::new();
        let mut withdrawn = Vec::new();
        for o in &fx.outputs {
            match o {
                Output::Items(i) => items.extend(i.iter().filter_map(|i| match i {
                    NewItem::Event(e) => {
                        e.message.as_ref().map(|m| format!("{}@{}", m.id, m.key()))
                    }
                    _ => None,
                })),
                Output::Withdrawn { keys, deleted } => withdrawn.push((keys.clone(), *deleted)),
                _ => {}
            }
        }
        (items, withdrawn)
    }

    #[test]
    fn a_sequences_new_versions_are_one_notification_and_clear_and_delete_withdraw_it() {
        let mut s = Ntfy;
        let mut inbox = Inbox::default();
        let mut fx = Effects::default();
        let event = |id: &str, ev: &str, sid: &str| {
            format!(
                r#"{{"id":"{id}","time":1800000000,"event":"{ev}","topic":"ci","message":"v {id}","sequence_id":"{sid}"}}"#
            )
        };
        // The first version names its sequence; two updates; a plain one
        // that a later update names by its own id.
        for text in [
            event("a1", "message", "build-7"),
            event("a2", "message", "build-7"),
            event("a2", "message", "build-7"),
            event("a3", "message", "build-7"),
            msg("b1", ""),
            event("b2", "message", "b1"),
        ] {
            s.on_text(&text, &mut inbox, &mut fx);
        }
        let (items, _) = outputs_of(&fx);
        assert_eq!(
            items,
            vec!["a1@build-7", "a2@build-7", "a3@build-7", "b1@b1", "b2@b1"]
        );
        assert_eq!(
            inbox.unread().messages,
            2,
            "two notifications, however many versions"
        );
        assert_eq!(inbox.cursor(), Some("b2"));
        // Read elsewhere, then deleted; each once, and the cursor moves past.
        let mut fx = Effects::default();
        for text in [
            event("c1", "message_clear", "build-7"),
            event("c1", "message_clear", "build-7"),
            event("c2", "message_delete", "b1"),
            event("c3", "message_clear", "bad id!"),
            r#"{"event":"message_delete","sequence_id":"x"}"#.to_owned(),
        ] {
            s.on_text(&text, &mut inbox, &mut fx);
        }
        let (items, withdrawn) = outputs_of(&fx);
        assert!(items.is_empty());
        assert_eq!(
            withdrawn,
            vec![
                (vec!["build-7".to_owned()], false),
                (vec!["b1".to_owned()], true)
            ]
        );
        assert_eq!(inbox.cursor(), Some("c2"));
        let notices = fx
            .outputs
            .iter()
            .filter(|o| matches!(o, Output::Notice(_)))
            .count();
        assert_eq!(notices, 2);
    }
}
