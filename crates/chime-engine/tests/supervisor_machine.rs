//! The supervisor under an injected clock: no sockets, no sleeps.

use std::time::{Duration, Instant};

use chime_engine::inbox::{InboxState, NewItem};
use chime_engine::policy::{Backoff, Jitter};
use chime_engine::supervisor::{
    Action, Config, ConnState, DialError, Frame, LinkEnd, LinkId, Output, Supervisor,
};
use chime_proto::protocol::{ClientMsg, Counts, Dialect, Kind};

const SEED: u64 = 0xC41E;

struct Machine {
    sup: Supervisor,
    now: Instant,
    actions: Vec<Action>,
    outputs: Vec<Output>,
}

impl Machine {
    fn new(config: Config) -> Machine {
        let mut m = Machine {
            sup: Supervisor::new(config, InboxState::default(), Jitter::seeded(SEED)),
            now: Instant::now(),
            actions: Vec::new(),
            outputs: Vec::new(),
        };
        m.sup.handle_start(m.now);
        m.pump();
        m
    }

    fn seed() -> Machine {
        Machine::new(Config {
            dialect: Dialect::Seed,
            ..Config::default()
        })
    }

    fn pump(&mut self) {
        while let Some(a) = self.sup.poll_action() {
            self.actions.push(a);
        }
        while let Some(o) = self.sup.poll_event() {
            self.outputs.push(o);
        }
    }

    /// Move the clock forward, firing every timeout on the way.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(t) = self.sup.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.sup.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
    }

    /// Advance until the supervisor dials; returns the wait and the id.
    fn wait_for_dial(&mut self) -> (Duration, LinkId) {
        let start = self.now;
        let t = self.sup.poll_timeout().expect("a retry is scheduled");
        self.advance(t - self.now);
        let id = self.last_dial().expect("dialed");
        (self.now - start, id)
    }

    fn last_dial(&mut self) -> Option<LinkId> {
        let id = self.actions.iter().rev().find_map(|a| match a {
            Action::Dial(id) => Some(*id),
            _ => None,
        });
        self.actions.clear();
        id
    }

    fn open(&mut self, id: LinkId) {
        self.sup.handle_open(self.now, id);
        self.pump();
    }

    fn fail_dial(&mut self, id: LinkId, e: DialError) {
        self.sup.handle_dial_failed(self.now, id, e);
        self.pump();
    }

    fn end(&mut self, id: LinkId, end: LinkEnd) {
        self.sup.handle_link_end(self.now, id, end);
        self.pump();
    }

    fn text(&mut self, id: LinkId, t: &str) {
        self.sup.handle_frame(self.now, id, Frame::Text(t.into()));
        self.pump();
    }

    fn sent(&mut self) -> Vec<String> {
        let v = self
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(_, s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        self.actions.clear();
        v
    }

    fn items(&mut self) -> Vec<NewItem> {
        let v = self
            .outputs
            .iter()
            .filter_map(|o| match o {
                Output::Items(i) => Some(i.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        self.outputs.clear();
        v
    }
}

fn refused() -> DialError {
    DialError::Network("connection refused".into())
}

fn expected_schedule(n: u32) -> Vec<Duration> {
    let mut j = Jitter::seeded(SEED);
    (0..n)
        .map(|a| Backoff::RECONNECT.delay(a, j.sample()))
        .collect()
}

#[test]
fn refused_dials_follow_the_seeded_backoff_schedule_forever() {
    let mut m = Machine::seed();
    let mut id = m.last_dial().unwrap();
    let mut waits = Vec::new();
    for _ in 0..40 {
        m.fail_dial(id, refused());
        let (wait, next) = m.wait_for_dial();
        waits.push(wait);
        id = next;
    }
    assert_eq!(waits, expected_schedule(40));
    assert!(waits[0] <= Duration::from_secs(1));
    assert!(waits.iter().all(|w| *w <= Duration::from_secs(60)));
    assert!(waits[10..].iter().all(|w| *w >= Duration::from_secs(30)));
}

#[test]
fn backoff_resets_only_after_five_stable_seconds() {
    let mut m = Machine::seed();
    let mut id = m.last_dial().unwrap();
    for _ in 0..6 {
        m.fail_dial(id, refused());
        id = m.wait_for_dial().1;
    }
    // Up for 4 s, then dropped: still deep in the backoff.
    m.open(id);
    m.advance(Duration::from_secs(4));
    m.end(id, LinkEnd::Dropped("reset".into()));
    let (wait, id) = m.wait_for_dial();
    assert!(wait >= Duration::from_secs(16), "{wait:?}");
    // Up for 6 s: the next retry is quick again.
    m.open(id);
    m.advance(Duration::from_secs(6));
    m.end(id, LinkEnd::Dropped("reset".into()));
    let (wait, _) = m.wait_for_dial();
    assert!(wait <= Duration::from_secs(1), "{wait:?}");
}

#[test]
fn heartbeats_go_out_every_interval_in_the_links_dialect() {
    let mut m = Machine::seed();
    let id = m.last_dial().unwrap();
    m.open(id);
    for _ in 0..3 {
        m.advance(Duration::from_secs(30));
        assert_eq!(m.sent(), vec!["heartCheck".to_owned()]);
        m.text(id, r#"{"newLikeNum":0}"#);
    }
    let mut n = Machine::new(Config {
        dialect: Dialect::Native,
        ..Config::default()
    });
    let id = n.last_dial().unwrap();
    n.open(id);
    n.advance(Duration::from_secs(30));
    assert_eq!(n.sent(), vec![ClientMsg::Ping.encode()]);
}

#[test]
fn silence_for_heartbeat_plus_fifteen_seconds_closes_the_link() {
    let mut m = Machine::seed();
    let id = m.last_dial().unwrap();
    m.open(id);
    m.advance(Duration::from_secs(20));
    m.text(id, r#"{"newLikeNum":0}"#); // life at t=20
    m.advance(Duration::from_secs(44));
    assert!(m.sup.state().is_connected(), "alive until 20 + 45 s");
    m.advance(Duration::from_millis(1_001));
    assert!(
        matches!(m.sup.state(), ConnState::Waiting { reason, .. } if reason.contains("45 s")),
        "{:?}",
        m.sup.state()
    );
    let closes: Vec<_> = m
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Close(i, 4000, _) if *i == id))
        .collect();
    assert_eq!(closes.len(), 1);
    // And it dials again within a second.
    let (wait, _) = m.wait_for_dial();
    assert!(wait <= Duration::from_secs(1));
}

#[test]
fn a_one_second_heartbeat_detects_death_in_sixteen_seconds() {
    let mut m = Machine::new(Config {
        dialect: Dialect::Seed,
        heartbeat: chime_engine::Heartbeat::with_interval(Duration::from_secs(1)),
        ..Config::default()
    });
    let id = m.last_dial().unwrap();
    m.open(id);
    m.advance(Duration::from_millis(15_999));
    assert!(m.sup.state().is_connected());
    assert_eq!(m.sent().len(), 15);
    m.advance(Duration::from_millis(2));
    assert!(!m.sup.state().is_connected());
}

#[test]
fn a_handshake_that_never_answers_times_out_after_ten_seconds() {
    let mut m = Machine::seed();
    let id = m.last_dial().unwrap();
    m.advance(Duration::from_millis(9_999));
    assert_eq!(m.sup.state(), &ConnState::Connecting { attempt: 0 });
    m.advance(Duration::from_millis(2));
    assert!(m.actions.contains(&Action::AbortDial(id)));
    assert!(
        matches!(m.sup.state(), ConnState::Waiting { reason, .. } if reason.contains("handshake"))
    );
    // A late success for the abandoned dial is ignored.
    m.open(id);
    assert!(!m.sup.state().is_connected());
}

#[test]
fn refused_sign_in_retries_slowly_and_never_storms() {
    let mut m = Machine::seed();
    let mut id = m.last_dial().unwrap();
    let mut waits = Vec::new();
    for status in [401, 403, 401, 401, 401, 401] {
        m.fail_dial(
            id,
            DialError::Http {
                status,
                message: "bad token".into(),
            },
        );
        assert!(
            matches!(m.sup.state(), ConnState::AuthFailed { reason, .. } if reason.contains("refused the sign-in") && reason.contains("bad token")),
            "{:?}",
            m.sup.state()
        );
        let (wait, next) = m.wait_for_dial();
        waits.push(wait.as_secs());
        id = next;
    }
    assert!(waits[0] >= 48 && waits[0] <= 72, "{waits:?}");
    assert!(waits.iter().all(|w| *w >= 48 && *w <= 900), "{waits:?}");
    // Six refusals take more than half an hour: no retry storm.
    assert!(waits.iter().sum::<u64>() >= 1_800, "{waits:?}");
    assert!(*waits.last().unwrap() >= 720, "{waits:?}");
    // A manual reconnect tries at once.
    m.fail_dial(
        id,
        DialError::Http {
            status: 401,
            message: String::new(),
        },
    );
    m.sup.handle_reconnect_now(m.now);
    m.pump();
    assert!(m.last_dial().is_some());
}

#[test]
fn http_statuses_and_close_codes_map_to_states_and_pacing() {
    let table: &[(DialError, &str, Duration, Duration)] = &[
        (
            DialError::Http {
                status: 404,
                message: String::new(),
            },
            "misconfigured",
            Duration::from_secs(45),
            Duration::from_secs(75),
        ),
        (
            DialError::Http {
                status: 502,
                message: "Bad Gateway".into(),
            },
            "waiting",
            Duration::ZERO,
            Duration::from_secs(1),
        ),
        (
            DialError::Http {
                status: 503,
                message: String::new(),
            },
            "waiting",
            Duration::ZERO,
            Duration::from_secs(1),
        ),
        (
            DialError::Tls("invalid peer certificate: UnknownIssuer".into()),
            "misconfigured",
            Duration::from_secs(45),
            Duration::from_secs(75),
        ),
    ];
    for (err, state, lo, hi) in table {
        let mut m = Machine::seed();
        let id = m.last_dial().unwrap();
        m.fail_dial(id, err.clone());
        let json = serde_json::to_value(m.sup.state()).unwrap();
        assert_eq!(json["state"], *state, "{err:?}");
        let (wait, _) = m.wait_for_dial();
        assert!(wait >= *lo && wait <= *hi, "{err:?}: {wait:?}");
    }

    let closes: &[(u16, &str, Duration, Duration)] = &[
        (1000, "waiting", Duration::ZERO, Duration::from_secs(1)),
        (1012, "waiting", Duration::ZERO, Duration::from_secs(1)),
        (
            1013,
            "waiting",
            Duration::from_secs(7),
            Duration::from_secs(23),
        ),
        (
            1008,
            "auth_failed",
            Duration::from_secs(45),
            Duration::from_secs(75),
        ),
    ];
    for (code, state, lo, hi) in closes {
        let mut m = Machine::seed();
        let id = m.last_dial().unwrap();
        m.open(id);
        m.end(id, LinkEnd::Close(*code, "bye".into()));
        let json = serde_json::to_value(m.sup.state()).unwrap();
        assert_eq!(json["state"], *state, "close {code}");
        let (wait, _) = m.wait_for_dial();
        assert!(wait >= *lo && wait <= *hi, "close {code}: {wait:?}");
    }
}

#[test]
fn a_restart_close_comes_back_quickly_even_deep_in_the_backoff() {
    let mut m = Machine::seed();
    let mut id = m.last_dial().unwrap();
    for _ in 0..8 {
        m.fail_dial(id, refused());
        id = m.wait_for_dial().1;
    }
    m.open(id);
    m.end(id, LinkEnd::Close(1012, "restart".into()));
    let (wait, _) = m.wait_for_dial();
    assert!(wait <= Duration::from_secs(1), "{wait:?}");
}

#[test]
fn reconnect_now_resets_the_backoff_and_dials_at_once() {
    let mut m = Machine::seed();
    let mut id = m.last_dial().unwrap();
    for _ in 0..10 {
        m.fail_dial(id, refused());
        id = m.wait_for_dial().1;
    }
    m.fail_dial(id, refused());
    m.sup.handle_reconnect_now(m.now);
    m.pump();
    let id = m.last_dial().expect("dials at once");
    m.fail_dial(id, refused());
    let (wait, _) = m.wait_for_dial();
    assert!(wait <= Duration::from_secs(1));
}

#[test]
fn resume_tears_down_an_open_link_and_redials() {
    let mut m = Machine::seed();
    let id = m.last_dial().unwrap();
    m.open(id);
    m.sup.handle_reconnect_now(m.now);
    m.pump();
    assert!(m
        .actions
        .iter()
        .any(|a| matches!(a, Action::Close(i, _, _) if *i == id)));
    assert!(m
        .actions
        .iter()
        .any(|a| matches!(a, Action::Dial(i) if *i != id)));
    // News from the old link no longer counts.
    m.text(id, r#"{"newLikeNum":9}"#);
    assert!(m.items().is_empty());
}

#[test]
fn offline_parks_the_link_and_network_up_dials_at_once() {
    let mut m = Machine::seed();
    let id = m.last_dial().unwrap();
    m.open(id);
    m.sup.handle_network_down(m.now);
    m.pump();
    assert_eq!(m.sup.state(), &ConnState::Offline);
    m.actions.clear();
    m.advance(Duration::from_secs(30));
    assert!(m.last_dial().is_none(), "no dialing into the void");
    m.sup.handle_network_up(m.now);
    m.pump();
    assert!(m.last_dial().is_some());
}

#[test]
fn pause_stops_everything_until_unpaused() {
    let mut m = Machine::seed();
    let id = m.last_dial().unwrap();
    m.open(id);
    m.sup.handle_pause();
    m.pump();
    assert_eq!(m.sup.state(), &ConnState::Paused);
    assert_eq!(m.sup.poll_timeout(), None);
    m.sup.handle_network_up(m.now);
    m.pump();
    assert_eq!(m.sup.state(), &ConnState::Paused);
    m.sup.handle_reconnect_now(m.now);
    m.pump();
    assert!(m.last_dial().is_some());
}

#[test]
fn seed_bumps_are_announced_once_across_reconnects() {
    let mut m = Machine::seed();
    let id = m.last_dial().unwrap();
    m.open(id);
    m.text(id, r#"{"newReplyNum":0,"newLikeNum":2,"newDisLikeNum":0}"#);
    assert_eq!(
        m.items(),
        vec![NewItem::Bump {
            kind: Kind::Like,
            by: 2,
            total: 2
        }]
    );
    m.end(id, LinkEnd::Close(1000, String::new()));
    let (_, id) = m.wait_for_dial();
    m.open(id);
    m.text(id, r#"{"newReplyNum":0,"newLikeNum":2,"newDisLikeNum":0}"#);
    assert!(
        m.items().is_empty(),
        "the first snapshot after a reconnect re-announces nothing"
    );
    m.text(id, r#"{"newReplyNum":1,"newLikeNum":2,"newDisLikeNum":0}"#);
    assert_eq!(m.items().len(), 1);
}

#[test]
fn malformed_binary_and_unknown_frames_are_noticed_and_the_link_stays() {
    let mut m = Machine::new(Config::default());
    let id = m.last_dial().unwrap();
    m.open(id);
    m.text(id, "{not json");
    m.sup.handle_frame(m.now, id, Frame::Binary(12));
    m.text(id, r#"{"type":"sparkle"}"#);
    m.text(id, r#"{"type":"event","seq":"one"}"#);
    m.pump();
    let notices = m
        .outputs
        .iter()
        .filter(|o| matches!(o, Output::Notice(_)))
        .count();
    assert_eq!(notices, 4);
    assert!(m.sup.state().is_connected());
}

#[test]
fn auto_learns_native_from_welcome_and_resumes_from_last_seq() {
    let mut m = Machine::new(Config::default());
    let id = m.last_dial().unwrap();
    m.open(id);
    assert_eq!(m.sup.state(), &ConnState::Connected { dialect: None });
    m.text(id, r#"{"type":"welcome","v":1,"epoch":"e"}"#);
    assert_eq!(
        m.sup.state(),
        &ConnState::Connected {
            dialect: Some(Dialect::Native)
        }
    );
    assert_eq!(m.sent(), vec![ClientMsg::Hello { last_seq: 0 }.encode()]);
    for seq in [1, 2, 2, 3] {
        m.text(
            id,
            &format!(r#"{{"type":"event","seq":{seq},"kind":"reply","actor":"a","target":{{"title":"t","url":"https://x/"}},"time":1}}"#),
        );
    }
    assert_eq!(m.items().len(), 3);
    m.text(
        id,
        r#"{"type":"counts","likes":0,"dislikes":0,"replies":3}"#,
    );
    m.end(id, LinkEnd::Dropped("reset".into()));
    let (_, id) = m.wait_for_dial();
    m.open(id);
    m.sent();
    m.text(id, r#"{"type":"welcome","v":1,"epoch":"e"}"#);
    assert_eq!(m.sent(), vec![ClientMsg::Hello { last_seq: 3 }.encode()]);
    assert_eq!(
        m.sup.inbox().unread(),
        Counts {
            likes: 0,
            dislikes: 0,
            replies: 3,
            messages: 0,
        }
    );
}

#[test]
fn a_burst_of_events_costs_one_ack_per_heartbeat_not_one_per_event() {
    let mut m = Machine::new(Config {
        dialect: Dialect::Native,
        ..Config::default()
    });
    let id = m.last_dial().unwrap();
    m.open(id);
    m.text(id, r#"{"type":"welcome","v":1,"epoch":"e"}"#);
    m.text(id, r#"{"type":"synced","last_seq":0}"#);
    m.sent();
    for seq in 1..=10_000 {
        m.text(
            id,
            &format!(r#"{{"type":"event","seq":{seq},"kind":"like","actor":"a","target":{{"title":"t","url":"https://x/"}},"time":1}}"#),
        );
    }
    assert_eq!(m.items().len(), 10_000);
    assert!(m.sent().is_empty(), "no frame per event");
    m.advance(Duration::from_secs(30));
    assert_eq!(
        m.sent(),
        vec![
            ClientMsg::Ack { seq: 10_000 }.encode(),
            ClientMsg::Ping.encode()
        ]
    );
    m.text(id, r#"{"type":"pong"}"#);
    m.advance(Duration::from_secs(30));
    assert_eq!(
        m.sent(),
        vec![ClientMsg::Ping.encode()],
        "nothing new to ack"
    );
}

fn native() -> Machine {
    Machine::new(Config {
        dialect: Dialect::Native,
        ..Config::default()
    })
}

fn event(seq: u64) -> String {
    format!(
        r#"{{"type":"event","seq":{seq},"kind":"like","actor":"a","target":{{"title":"t","url":"https://x/"}},"time":1}}"#
    )
}

fn notices(m: &mut Machine) -> Vec<String> {
    let v = m
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Notice(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    m.outputs.clear();
    v
}

#[test]
fn out_of_range_numbers_are_ignored_with_a_notice_and_the_next_event_arrives_in_order() {
    let mut m = native();
    let id = m.last_dial().unwrap();
    m.open(id);
    m.text(id, r#"{"type":"welcome","v":1,"epoch":"e"}"#);
    m.text(id, &event(1));
    m.items();
    for hostile in [
        format!(r#"{{"type":"synced","last_seq":{}}}"#, u64::MAX),
        format!(r#"{{"type":"synced","last_seq":{}}}"#, 1u64 << 53),
        format!(r#"{{"type":"event","seq":{},"kind":"like"}}"#, u64::MAX),
        format!(r#"{{"type":"counts","likes":{}}}"#, u64::MAX),
        r#"{"type":"synced","last_seq":-1}"#.to_owned(),
    ] {
        m.text(id, &hostile);
        let n = notices(&mut m);
        assert_eq!(n.len(), 1, "{hostile}: {n:?}");
        assert!(n[0].contains("malformed"), "{n:?}");
        assert!(m.sup.state().is_connected(), "{hostile}");
        assert_eq!(m.sup.inbox().last_seq(), 1, "{hostile}");
    }
    m.text(id, &event(2));
    assert_eq!(seqs_of(m.items()), vec![2]);
    assert_eq!(m.sup.inbox().last_seq(), 2);
    assert_eq!(m.sup.inbox().unread(), Counts::default());
}

fn seqs_of(items: Vec<NewItem>) -> Vec<u64> {
    items
        .into_iter()
        .filter_map(|i| match i {
            NewItem::Event(e) => Some(e.seq),
            NewItem::Bump { .. } => None,
        })
        .collect()
}

#[test]
fn a_cursor_at_the_end_of_the_number_line_from_an_old_state_starts_over() {
    let state = InboxState {
        last_seq: u64::MAX,
        epoch: Some("e".into()),
        ..InboxState::default()
    };
    let mut sup = Supervisor::new(
        Config {
            dialect: Dialect::Native,
            ..Config::default()
        },
        state,
        Jitter::seeded(SEED),
    );
    let now = Instant::now();
    sup.handle_start(now);
    let id = LinkId(1);
    sup.handle_open(now, id);
    sup.handle_frame(
        now,
        id,
        Frame::Text(r#"{"type":"welcome","v":1,"epoch":"e"}"#.into()),
    );
    sup.handle_frame(now, id, Frame::Text(event(1)));
    let mut sent = Vec::new();
    while let Some(a) = sup.poll_action() {
        if let Action::Send(_, s) = a {
            sent.push(s);
        }
    }
    assert_eq!(sent, vec![ClientMsg::Hello { last_seq: 0 }.encode()]);
    let mut got = Vec::new();
    while let Some(o) = sup.poll_event() {
        if let Output::Items(i) = o {
            got.extend(i);
        }
    }
    assert_eq!(seqs_of(got), vec![1]);
}

#[test]
fn error_codes_and_unknown_types_reach_notices_cleaned() {
    let mut m = native();
    let id = m.last_dial().unwrap();
    m.open(id);
    m.text(
        id,
        r#"{"type":"error","code":"\u001b]52;c;ZXZpbA==\u0007\u001b[2J","message":"line\nforged: ok\u202e"}"#,
    );
    m.text(id, r#"{"type":"\u001b[31mred\u001b[0m"}"#);
    m.text(id, "{\"type\":\"event\",\"seq\":1,\"kind\":\"\\u001b[2J\"}");
    let n = notices(&mut m);
    assert_eq!(n.len(), 3, "{n:?}");
    for line in &n {
        assert!(
            !line
                .chars()
                .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{line:?}"
        );
    }
    assert!(n[0].contains("the server reported"), "{n:?}");
}

#[test]
fn marking_read_while_the_link_is_down_is_told_after_the_next_welcome() {
    let mut m = native();
    let id = m.last_dial().unwrap();
    m.open(id);
    m.text(id, r#"{"type":"welcome","v":1,"epoch":"e"}"#);
    m.text(
        id,
        r#"{"type":"counts","likes":3,"dislikes":0,"replies":2}"#,
    );
    m.end(id, LinkEnd::Dropped("reset".into()));
    m.sent();
    // Down: the badge falls at once, nothing can be sent.
    m.sup.handle_mark_read(Some(Kind::Like));
    m.pump();
    assert!(m.sent().is_empty());
    assert_eq!(m.sup.inbox().unread().likes, 0);
    let saved = m.outputs.iter().rev().find_map(|o| match o {
        Output::Saved(s) => Some((**s).clone()),
        _ => None,
    });
    assert_eq!(
        saved.expect("the intent is saved").unsent_reads,
        vec![Kind::Like]
    );
    let (_, id) = m.wait_for_dial();
    m.open(id);
    // Before the welcome, the dialect's greeting comes first.
    assert!(m.sent().is_empty());
    m.text(id, r#"{"type":"welcome","v":1,"epoch":"e"}"#);
    assert_eq!(
        m.sent(),
        vec![
            ClientMsg::Hello { last_seq: 0 }.encode(),
            ClientMsg::Read {
                kind: Some(Kind::Like)
            }
            .encode()
        ]
    );
    // The server's counts from before it read ours do not bring the badge back.
    m.text(
        id,
        r#"{"type":"counts","likes":3,"dislikes":0,"replies":2}"#,
    );
    assert_eq!(m.sup.inbox().unread().likes, 0);
    assert_eq!(m.sup.inbox().unread().replies, 2);
    m.text(
        id,
        r#"{"type":"counts","likes":0,"dislikes":0,"replies":2}"#,
    );
    assert!(m.sup.inbox().state().unsent_reads.is_empty());
    // Confirmed: later likes count again.
    m.text(
        id,
        r#"{"type":"counts","likes":1,"dislikes":0,"replies":2}"#,
    );
    assert_eq!(m.sup.inbox().unread().likes, 1);
}

#[test]
fn marking_read_before_auto_knows_the_dialect_waits_for_it() {
    let mut m = Machine::new(Config::default());
    let id = m.last_dial().unwrap();
    m.open(id);
    m.sup.handle_mark_read(None);
    m.pump();
    assert!(m.sent().is_empty(), "auto does not know what to send yet");
    m.text(id, r#"{"type":"welcome","v":1,"epoch":"e"}"#);
    assert_eq!(
        m.sent(),
        vec![
            ClientMsg::Hello { last_seq: 0 }.encode(),
            ClientMsg::Read { kind: None }.encode()
        ]
    );
    // A seed server cannot be told: nothing is kept owing.
    let mut s = Machine::new(Config::default());
    let id = s.last_dial().unwrap();
    s.open(id);
    s.sup.handle_mark_read(None);
    s.pump();
    s.text(id, r#"{"newLikeNum":1}"#);
    assert!(s.sup.inbox().state().unsent_reads.is_empty());
}

#[test]
fn the_first_counts_of_every_link_are_reported_even_when_unchanged() {
    let mut m = native();
    let id = m.last_dial().unwrap();
    m.open(id);
    m.text(id, r#"{"type":"welcome","v":1,"epoch":"e"}"#);
    m.outputs.clear();
    let zero = r#"{"type":"counts","likes":0,"dislikes":0,"replies":0}"#;
    m.text(id, zero);
    let counts = |m: &mut Machine| {
        let n = m
            .outputs
            .iter()
            .filter(|o| matches!(o, Output::Counts(_)))
            .count();
        m.outputs.clear();
        n
    };
    assert_eq!(counts(&mut m), 1, "a restart learns that nothing is unread");
    m.text(id, zero);
    assert_eq!(counts(&mut m), 0);
}

#[test]
fn a_session_refused_after_the_upgrade_climbs_the_slow_schedule_like_a_401() {
    for code in [4001, 4003, 1008] {
        let mut m = Machine::seed();
        let mut id = m.last_dial().unwrap();
        let mut waits = Vec::new();
        for _ in 0..6 {
            m.open(id);
            m.end(id, LinkEnd::Close(code, "session expired".into()));
            assert!(
                matches!(m.sup.state(), ConnState::AuthFailed { .. }),
                "{code}: {:?}",
                m.sup.state()
            );
            let (wait, next) = m.wait_for_dial();
            waits.push(wait.as_secs());
            id = next;
        }
        assert!(waits[0] >= 48 && waits[0] <= 72, "{code}: {waits:?}");
        assert!(*waits.last().unwrap() >= 720, "{code}: {waits:?}");
        assert!(waits.iter().sum::<u64>() >= 1_800, "{code}: {waits:?}");
    }
}

#[test]
fn a_session_that_lasted_a_minute_before_refusal_starts_the_slow_schedule_over() {
    let mut m = Machine::seed();
    let mut id = m.last_dial().unwrap();
    for _ in 0..4 {
        m.open(id);
        m.end(id, LinkEnd::Close(4001, "expired".into()));
        id = m.wait_for_dial().1;
    }
    m.open(id);
    for _ in 0..3 {
        m.advance(Duration::from_secs(30));
        m.text(id, r#"{"newLikeNum":0}"#);
    }
    m.end(id, LinkEnd::Close(4001, "expired".into()));
    let (wait, _) = m.wait_for_dial();
    assert!(wait <= Duration::from_secs(72), "{wait:?}");
}

#[test]
fn a_server_that_restarts_every_link_at_once_gets_growing_delays() {
    let mut m = Machine::seed();
    let mut id = m.last_dial().unwrap();
    let mut waits = Vec::new();
    for _ in 0..10 {
        m.open(id);
        m.end(id, LinkEnd::Close(1012, "restart".into()));
        let (wait, next) = m.wait_for_dial();
        waits.push(wait);
        id = next;
    }
    assert!(
        waits[..3].iter().all(|w| *w <= Duration::from_secs(1)),
        "a real restart comes back at once: {waits:?}"
    );
    assert!(waits[9] >= Duration::from_secs(30), "{waits:?}");
    assert!(
        waits[3..].windows(2).filter(|w| w[1] < w[0]).count() <= 2,
        "{waits:?}"
    );
    // A link that stays up resets it: the next restart is quick again.
    m.open(id);
    m.advance(Duration::from_secs(6));
    m.end(id, LinkEnd::Close(1012, "restart".into()));
    let (wait, _) = m.wait_for_dial();
    assert!(wait <= Duration::from_secs(1), "{wait:?}");
}

#[test]
fn push_service_links_send_nothing_and_die_only_when_the_servers_pings_stop() {
    for dialect in [Dialect::Ntfy, Dialect::Gotify] {
        let mut m = Machine::new(Config {
            dialect,
            heartbeat: chime_engine::policy::Heartbeat::SERVER_PINGS,
            ..Config::default()
        });
        let id = m.last_dial().expect("dialed");
        m.sup.handle_open(m.now, id);
        m.pump();
        // The server's Ping every 45 s keeps the link for ten minutes.
        for _ in 0..13 {
            m.advance(Duration::from_secs(45));
            m.sup.handle_frame(m.now, id, Frame::Control);
            m.pump();
        }
        assert!(m.sup.state().is_connected(), "{dialect:?}");
        assert!(
            !m.actions
                .iter()
                .any(|a| matches!(a, Action::Send(..) | Action::Close(..))),
            "{dialect:?}: nothing sent to a server that knows no heartbeat: {:?}",
            m.actions
        );
        // The pings stop: dead 75 s after the last one, not before.
        m.advance(Duration::from_secs(74));
        assert!(m.sup.state().is_connected(), "{dialect:?}");
        m.advance(Duration::from_secs(1));
        assert!(
            m.actions
                .iter()
                .any(|a| matches!(a, Action::Close(i, 4000, _) if *i == id)),
            "{dialect:?}: {:?}",
            m.actions
        );
        // A probe after "network up" is a WebSocket Ping, not a frame.
        let (_, id) = m.wait_for_dial();
        m.sup.handle_open(m.now, id);
        m.pump();
        m.actions.clear();
        m.sup.handle_network_up(m.now);
        m.pump();
        assert_eq!(m.actions, vec![Action::Ping(id)], "{dialect:?}");
    }
}
