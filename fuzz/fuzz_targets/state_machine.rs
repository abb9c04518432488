//! The state machine, not only the parsers: arbitrary sequences of frames
//! (hostile numbers and text mixed into well-formed ones), dial outcomes,
//! closes, OS events, user actions and clock steps drive the supervisor,
//! its inbox, the announcer and (when items arrive) the store, as the app
//! wires them. With debug assertions on, nothing may panic or overflow;
//! the resume cursor never passes the highest sequence number the server
//! sent (in an event or a `synced`); counts stay in the wire range; no
//! notice or toast carries a control character.
#![no_main]

use std::time::{Duration, Instant};

use chime_engine::announce::{AnnounceConfig, Announcer};
use chime_proto::protocol::{Dialect, Kind, MAX_WIRE_INT};
use chime_store::Store;
use chime_engine::supervisor::{Action, Config, DialError, Frame, LinkEnd, LinkId, Output};
use chime_engine::{InboxState, Jitter, NewItem, Supervisor};
use libfuzzer_sys::fuzz_target;

/// Reads the fuzzer's bytes as a program.
struct Tape<'a>(&'a [u8]);

impl Tape<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u64(&mut self) -> u64 {
        // Mostly small or at the interesting edges, sometimes anything.
        match self.byte().unwrap_or(0) % 8 {
            0 => u64::MAX,
            1 => MAX_WIRE_INT,
            2 => MAX_WIRE_INT + 1,
            3 => {
                let mut n = 0u64;
                for _ in 0..8 {
                    n = n << 8 | u64::from(self.byte().unwrap_or(0));
                }
                n
            }
            k => u64::from(self.byte().unwrap_or(0)) + u64::from(k) * 3,
        }
    }

    fn number(&mut self) -> String {
        match self.byte().unwrap_or(0) % 6 {
            0 => format!("-{}", self.u64()),
            1 => format!("{}.5", self.u64()),
            2 => "1e308".into(),
            3 => format!("\"{}\"", self.u64()),
            _ => self.u64().to_string(),
        }
    }

    fn text(&mut self) -> String {
        let len = usize::from(self.byte().unwrap_or(0) % 24);
        let mut s = String::new();
        for _ in 0..len {
            let b = self.byte().unwrap_or(0);
            s.push(match b % 8 {
                0 => '\u{1b}',
                1 => '\n',
                2 => '\u{202e}',
                3 => '\u{7}',
                4 => '"',
                5 => '\\',
                _ => char::from(b'a' + b % 26),
            });
        }
        // As a JSON string body.
        serde_json::to_string(&s).unwrap_or_default()
    }

    fn kind(&mut self) -> &'static str {
        ["like", "dislike", "reply", "likes", "hug"][usize::from(self.byte().unwrap_or(0) % 5)]
    }

    /// An ntfy `message` event or a Gotify message, hostile numbers and
    /// text mixed in.
    fn push_message(&mut self) -> String {
        if self.byte().unwrap_or(0) % 2 == 0 {
            format!(
                r#"{{"id":"m{}","event":"message","time":{},"topic":{},"title":{},"message":{},"priority":{},"tags":[{}],"click":{},"actions":[{{"action":"view","label":{},"url":{}}}]}}"#,
                self.byte().unwrap_or(0),
                self.number(),
                self.text(),
                self.text(),
                self.text(),
                self.number(),
                self.text(),
                self.text(),
                self.text(),
                self.text()
            )
        } else {
            format!(
                r#"{{"id":{},"appid":{},"title":{},"message":{},"priority":{},"date":{}}}"#,
                self.number(),
                self.number(),
                self.text(),
                self.text(),
                self.number(),
                self.text()
            )
        }
    }

    fn frame(&mut self) -> String {
        match self.byte().unwrap_or(0) % 13 {
            11 | 12 => self.push_message(),
            0 => format!(
                r#"{{"type":"welcome","v":1,"epoch":{}}}"#,
                if self.byte().unwrap_or(0) % 2 == 0 {
                    "\"e\"".to_owned()
                } else {
                    self.text()
                }
            ),
            1 | 2 => format!(
                r#"{{"type":"event","seq":{},"kind":"{}","actor":{},"target":{{"title":{},"url":{}}},"time":{}}}"#,
                self.number(),
                self.kind(),
                self.text(),
                self.text(),
                self.text(),
                self.number()
            ),
            3 => format!(r#"{{"type":"synced","last_seq":{}}}"#, self.number()),
            4 => format!(
                r#"{{"type":"counts","likes":{},"dislikes":{},"replies":{}}}"#,
                self.number(),
                self.number(),
                self.number()
            ),
            5 => format!(
                r#"{{"newLikeNum":{},"newDisLikeNum":{},"newReplyNum":{}}}"#,
                self.number(),
                self.number(),
                self.number()
            ),
            6 => format!(
                r#"{{"type":"error","code":{},"message":{}}}"#,
                self.text(),
                self.text()
            ),
            7 => format!(r#"{{"type":{}}}"#, self.text()),
            8 => r#"{"type":"ping"}"#.into(),
            _ => {
                // Raw bytes, as text.
                let len = usize::from(self.byte().unwrap_or(0) % 32);
                let raw: Vec<u8> = (0..len).filter_map(|_| self.byte()).collect();
                String::from_utf8_lossy(&raw).into_owned()
            }
        }
    }
}

/// The highest sequence number a frame of the server names, if it parses.
fn named_seq(frame: &str) -> Option<u64> {
    use chime_proto::protocol::ServerMsg;
    match ServerMsg::parse(Dialect::Native, frame) {
        Ok(ServerMsg::Event(e)) => Some(e.seq),
        Ok(ServerMsg::Synced { last_seq }) => Some(last_seq),
        _ => None,
    }
}

fn clean(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c))
}

fuzz_target!(|data: &[u8]| {
    let mut tape = Tape(data);
    let dialect = match tape.byte().unwrap_or(0) % 5 {
        0 => Dialect::Seed,
        1 => Dialect::Native,
        2 => Dialect::Ntfy,
        3 => Dialect::Gotify,
        _ => Dialect::Auto,
    };
    let config = Config {
        dialect,
        ..Config::default()
    };
    let mut now = Instant::now();
    let mut sup = Supervisor::new(config, InboxState::default(), Jitter::seeded(7));
    let mut announcer = Announcer::new(AnnounceConfig::default());
    let mut store: Option<Store> = None;
    let mut state = InboxState::default();
    let mut highest = 0u64;
    let mut link: Option<LinkId> = None;
    let mut dialing: Option<LinkId> = None;
    let mut fetch: Option<(LinkId, String)> = None;
    sup.handle_start(now);
    let mut steps = 0;
    while let Some(op) = tape.byte() {
        steps += 1;
        if steps > 400 {
            break;
        }
        match op % 12 {
            0..=4 => {
                if let Some(id) = link {
                    let frame = tape.frame();
                    if let Some(seq) = named_seq(&frame) {
                        highest = highest.max(seq);
                    }
                    sup.handle_frame(now, id, Frame::Text(frame));
                }
            }
            5 => {
                let step = Duration::from_millis(u64::from(tape.byte().unwrap_or(0)) * 997);
                now += step;
                if sup.poll_timeout().is_some_and(|t| t <= now) {
                    sup.handle_timeout(now);
                }
                if announcer.poll_timeout().is_some_and(|t| t <= now) {
                    announcer.handle_timeout(now);
                }
            }
            6 => {
                if let Some(id) = dialing.take() {
                    if tape.byte().unwrap_or(0) % 3 == 0 {
                        let status = 400 + u16::from(tape.byte().unwrap_or(0)) % 200;
                        sup.handle_dial_failed(
                            now,
                            id,
                            DialError::Http {
                                status,
                                message: tape.text(),
                            },
                        );
                    } else {
                        sup.handle_open(now, id);
                        link = Some(id);
                    }
                }
            }
            7 => {
                if let Some(id) = link.take() {
                    let code = [1000, 1008, 1012, 1013, 4001, 4003, 1006, 65535]
                        [usize::from(tape.byte().unwrap_or(0) % 8)];
                    let end = if code == 1006 {
                        LinkEnd::Dropped(tape.text())
                    } else {
                        LinkEnd::Close(code, tape.text())
                    };
                    sup.handle_link_end(now, id, end);
                }
            }
            8 => {
                let kind = match tape.byte().unwrap_or(0) % 4 {
                    0 => None,
                    k => Some(Kind::ALL[usize::from(k - 1)]),
                };
                sup.handle_mark_read(kind);
            }
            9 => match tape.byte().unwrap_or(0) % 4 {
                0 => sup.handle_reconnect_now(now),
                1 => sup.handle_network_up(now),
                2 => sup.handle_network_down(now),
                _ => sup.handle_pause(),
            },
            10 => {
                if let Some(id) = link {
                    let frame = if op % 2 == 0 {
                        Frame::Control
                    } else {
                        Frame::Binary(usize::from(tape.byte().unwrap_or(0)))
                    };
                    sup.handle_frame(now, id, frame);
                }
            }
            _ => match fetch.take() {
                // A fetch the session asked for: a list of messages, an
                // error status, or no answer.
                Some((id, path)) => {
                    let result = match tape.byte().unwrap_or(0) % 4 {
                        0 => Err(tape.text()),
                        1 => Ok((401, tape.text())),
                        _ => {
                            let n = tape.byte().unwrap_or(0) % 4;
                            let list: Vec<String> = (0..n).map(|_| tape.push_message()).collect();
                            Ok((
                                200,
                                format!(r#"{{"messages":[{}],"paging":{{}}}}"#, list.join(",")),
                            ))
                        }
                    };
                    sup.handle_fetched(now, id, &path, result);
                }
                // A stale link id: must be ignored.
                None => sup.handle_frame(now, LinkId(u64::MAX), Frame::Text(tape.frame())),
            },
        }
        while let Some(a) = sup.poll_action() {
            match a {
                Action::Dial(id) => {
                    dialing = Some(id);
                    link = None;
                }
                Action::AbortDial(id) if dialing == Some(id) => dialing = None,
                Action::Close(id, ..) if link == Some(id) => link = None,
                Action::Fetch(id, path) => fetch = Some((id, path)),
                _ => {}
            }
        }
        let mut items: Vec<NewItem> = Vec::new();
        while let Some(out) = sup.poll_event() {
            match out {
                Output::Items(i) => items.extend(i),
                Output::Saved(s) => state = *s,
                Output::Notice(n) => assert!(clean(&n), "notice {n:?}"),
                Output::State(s) => {
                    announcer.handle_link(now, s.is_connected(), "host");
                }
                Output::Counts(c) => {
                    for k in Kind::ALL {
                        assert!(c.get(k) <= MAX_WIRE_INT, "{c:?}");
                    }
                }
            }
        }
        if !items.is_empty() {
            let store = store.get_or_insert_with(|| Store::in_memory().expect("store"));
            let fresh = store
                .record("fuzz", &items, &state, 1_764_000_000_000)
                .expect("record");
            announcer.handle_items(now, &fresh);
        }
        while let Some(t) = announcer.poll_toast() {
            assert!(clean(&t.summary), "toast {:?}", t.summary);
            // A message's body keeps its line breaks, nothing else.
            assert!(clean(&t.body.replace('\n', " ")), "toast {:?}", t.body);
        }
        let inbox = sup.inbox();
        assert!(
            inbox.last_seq() <= highest,
            "cursor {} above the highest seq the server named ({highest})",
            inbox.last_seq()
        );
        for k in Kind::ALL {
            assert!(inbox.unread().get(k) <= MAX_WIRE_INT);
        }
    }
});
