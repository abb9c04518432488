//! The coordinator's rules under made-up clocks: what is stored, marked,
//! told, opened and toasted, in which order.

use std::time::{Duration, Instant};

use chime_engine::announce::ToastSlot;
use chime_engine::coordinator::{
    Coordinator, Effect, Now, Row, SourceConfig, SourceSlot, Stored, Toasts,
};
use chime_engine::events::{Command, ConnState, Output};
use chime_engine::inbox::{InboxState, NewItem};
use chime_engine::pause::Timestamp;
use chime_engine::quiet::QuietHours;
use chime_proto::protocol::{Counts, Dialect, Event, Kind, Target};

struct Clock {
    t0: Instant,
    wall0: Timestamp,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            t0: Instant::now(),
            wall0: "2026-12-04T12:00:00Z".parse().expect("timestamp"),
        }
    }

    /// `mono` and `wall` seconds after the start (they differ after a
    /// suspend); a Friday at noon, plus the wall time.
    fn at(&self, mono: u64, wall: u64) -> Now {
        let minute = (12 * 60 + wall / 60) % (24 * 60);
        Now {
            mono: self.t0 + Duration::from_secs(mono),
            wall: self
                .wall0
                .checked_add(jiff::SignedDuration::from_secs(wall as i64))
                .expect("wall"),
            weekday: 5,
            minute: minute as u16,
        }
    }

    fn now(&self, secs: u64) -> Now {
        self.at(secs, secs)
    }
}

fn config(id: &str) -> SourceConfig {
    SourceConfig {
        id: id.into(),
        name: id.to_uppercase(),
        host: format!("{id}.example"),
        site: Some(format!("https://{id}.example/")),
        dialect: Dialect::Native,
        toasts: Toasts::default(),
        muted: false,
        forget_read: false,
        // Resumed on server log "e1".
        resume: InboxState {
            epoch: Some("e1".into()),
            ..InboxState::default()
        },
    }
}

fn with(sources: &[SourceConfig], now: &Now) -> Coordinator {
    let mut c = Coordinator::default();
    let slots = sources
        .iter()
        .map(|s| SourceSlot::New(Box::new(s.clone())))
        .collect();
    c.set_sources(now, slots);
    c
}

fn event(seq: u64, kind: Kind) -> NewItem {
    NewItem::Event(Event {
        seq,
        kind,
        actor: format!("actor{seq}"),
        target: Target {
            title: "My post".into(),
            url: format!("https://blog.example/p/{seq}"),
        },
        time: 0,
        message: None,
    })
}

fn state(last_seq: u64, epoch: &str) -> Box<InboxState> {
    Box::new(InboxState {
        last_seq,
        epoch: Some(epoch.into()),
        ..InboxState::default()
    })
}

fn counts(likes: u64, replies: u64) -> Counts {
    Counts {
        likes,
        replies,
        ..Counts::default()
    }
}

fn drain(c: &mut Coordinator) -> Vec<Effect> {
    std::iter::from_fn(|| c.poll_effect()).collect()
}

/// Answer every store request with "all of it is new" and return the
/// other effects.
fn run_store(c: &mut Coordinator, now: &Now) -> Vec<Effect> {
    let mut others = Vec::new();
    while let Some(e) = c.poll_effect() {
        match e {
            Effect::Store { source, items, .. } => {
                c.handle_stored(now, &source, Stored::Fresh(items))
            }
            other => others.push(other),
        }
    }
    others
}

fn toasts(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Toast(t) => Some(t.summary.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn items_are_stored_with_the_state_that_covers_them_before_any_toast() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("blog")], &now);
    c.handle_output(&now, "blog", Output::Items(vec![event(1, Kind::Like)]));
    c.handle_output(&now, "blog", Output::Saved(state(1, "e1")));
    c.handle_tick(&now);
    assert!(toasts(&drain(&mut c)).is_empty(), "toasted before storing");
    c.flush();
    let effects = drain(&mut c);
    assert_eq!(
        effects,
        vec![Effect::Store {
            source: "blog".into(),
            items: vec![event(1, Kind::Like)],
            state: state(1, "e1"),
        }]
    );
    // Nothing new to the store: nothing announced.
    c.handle_stored(&now, "blog", Stored::Fresh(Vec::new()));
    c.handle_tick(&now);
    assert!(drain(&mut c).is_empty());
    // A flush with nothing pending writes nothing.
    c.flush();
    assert!(drain(&mut c).is_empty());
}

#[test]
fn only_what_the_store_had_not_seen_is_announced_and_a_failed_store_announces_anyway() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("blog")], &now);
    c.handle_output(
        &now,
        "blog",
        Output::Items(vec![event(1, Kind::Like), event(2, Kind::Reply)]),
    );
    c.handle_output(&now, "blog", Output::Saved(state(2, "e1")));
    c.flush();
    assert_eq!(drain(&mut c).len(), 1);
    c.handle_stored(&now, "blog", Stored::Fresh(vec![event(2, Kind::Reply)]));
    c.handle_tick(&now);
    let effects = drain(&mut c);
    assert_eq!(effects[0], Effect::InboxChanged);
    assert_eq!(toasts(&effects), ["actor2 replied to “My post”"]);

    let later = clock.now(10);
    c.handle_output(&later, "blog", Output::Items(vec![event(3, Kind::Like)]));
    c.handle_output(&later, "blog", Output::Saved(state(3, "e1")));
    c.flush();
    drain(&mut c);
    c.handle_stored(&later, "blog", Stored::Failed(vec![event(3, Kind::Like)]));
    c.handle_tick(&later);
    let effects = drain(&mut c);
    assert!(!effects.contains(&Effect::InboxChanged), "{effects:?}");
    assert_eq!(toasts(&effects), ["actor3 liked “My post”"]);
}

#[test]
fn a_new_server_log_stores_the_old_batch_under_the_old_state_first() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("blog")], &now);
    c.handle_output(&now, "blog", Output::Items(vec![event(7, Kind::Like)]));
    c.handle_output(&now, "blog", Output::Saved(state(7, "e1")));
    // The server's log was renamed: its welcome comes before its events.
    c.handle_output(&now, "blog", Output::Saved(state(0, "new")));
    c.handle_output(&now, "blog", Output::Items(vec![event(1, Kind::Reply)]));
    c.handle_output(&now, "blog", Output::Saved(state(1, "new")));
    c.flush();
    let stores: Vec<(Vec<NewItem>, Option<String>)> = drain(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Store { items, state, .. } => Some((items, state.epoch)),
            _ => None,
        })
        .collect();
    assert_eq!(
        stores,
        vec![
            (vec![event(7, Kind::Like)], Some("e1".into())),
            (vec![event(1, Kind::Reply)], Some("new".into())),
        ]
    );
}

#[test]
fn replayed_events_the_server_calls_read_are_stored_read_and_never_toasted() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("blog")], &now);
    // Closed while 2 likes came and were read on the site, and a reply
    // that was not: the replay, then the link's first counts.
    c.handle_output(
        &now,
        "blog",
        Output::State(ConnState::Connecting { attempt: 0 }),
    );
    c.handle_output(
        &now,
        "blog",
        Output::Items(vec![
            event(1, Kind::Like),
            event(2, Kind::Like),
            event(3, Kind::Reply),
        ]),
    );
    c.handle_output(&now, "blog", Output::Saved(state(3, "e1")));
    c.handle_output(&now, "blog", Output::Counts(counts(0, 1)));
    let effects = drain(&mut c);
    // Stored first, then the likes marked read.
    assert!(
        matches!(&effects[0], Effect::Store { items, .. } if items.len() == 3),
        "{effects:?}"
    );
    assert!(effects.contains(&Effect::MarkRowsRead {
        source: Some("blog".into()),
        kind: Some(Kind::Like),
    }));
    c.handle_stored(
        &now,
        "blog",
        Stored::Fresh(vec![
            event(1, Kind::Like),
            event(2, Kind::Like),
            event(3, Kind::Reply),
        ]),
    );
    c.handle_tick(&now);
    assert_eq!(toasts(&drain(&mut c)), ["actor3 replied to “My post”"]);
}

#[test]
fn a_count_that_falls_to_zero_marks_its_rows_read_and_a_first_nonzero_count_marks_nothing() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("blog")], &now);
    c.handle_output(&now, "blog", Output::Counts(counts(2, 1)));
    let first: Vec<Effect> = drain(&mut c);
    // Only the kinds at 0 on the first counts.
    assert!(!first.iter().any(|e| matches!(
        e,
        Effect::MarkRowsRead {
            kind: Some(Kind::Like | Kind::Reply),
            ..
        }
    )));
    c.handle_output(&now, "blog", Output::Counts(counts(0, 1)));
    assert_eq!(
        drain(&mut c),
        vec![Effect::MarkRowsRead {
            source: Some("blog".into()),
            kind: Some(Kind::Like),
        }]
    );
    // Still zero: nothing more to mark.
    c.handle_output(&now, "blog", Output::Counts(counts(0, 1)));
    assert!(drain(&mut c).is_empty());
    assert_eq!(c.sources().next().map(|s| s.counts), Some(counts(0, 1)));
}

fn row(id: i64, source: &str, kind: Kind, was_read: bool) -> Row {
    Row {
        id,
        source: source.into(),
        kind,
        was_read,
        url: format!("https://blog.example/p/{id}"),
        links: vec!["https://docs.example/".into(), "file:///etc/passwd".into()],
    }
}

#[test]
fn opening_the_last_unread_row_of_a_kind_tells_the_server_and_one_of_several_lowers_its_count() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("blog")], &now);
    let r = row(4, "blog", Kind::Reply, false);
    c.open_row(r.clone(), None);
    assert_eq!(
        drain(&mut c),
        vec![Effect::MarkRowRead {
            row: r.clone(),
            link: None,
        }]
    );
    c.handle_row_read(&r, None, 2);
    assert_eq!(
        drain(&mut c),
        vec![
            Effect::OpenUrl("https://blog.example/p/4".into()),
            Effect::Link {
                source: Some("blog".into()),
                command: Command::ReadOne(Kind::Reply),
            },
            Effect::InboxChanged,
        ]
    );
    c.handle_row_read(&r, Some(0), 0);
    assert_eq!(
        drain(&mut c),
        vec![
            Effect::OpenUrl("https://docs.example/".into()),
            Effect::Link {
                source: Some("blog".into()),
                command: Command::MarkRead(Some(Kind::Reply)),
            },
            Effect::InboxChanged,
        ]
    );
    // A link that is not http/https is never opened; a row read before
    // tells nothing more.
    c.handle_row_read(&row(4, "blog", Kind::Reply, true), Some(1), 3);
    assert_eq!(drain(&mut c), vec![Effect::InboxChanged]);
}

#[test]
fn reading_messages_of_a_source_that_deletes_them_forgets_them_before_marking() {
    let clock = Clock::new();
    let now = clock.now(0);
    let gotify = SourceConfig {
        forget_read: true,
        dialect: Dialect::Gotify,
        ..config("gotify")
    };
    let mut c = with(&[config("blog"), gotify], &now);
    c.mark_read(None, None);
    assert_eq!(
        drain(&mut c),
        vec![
            Effect::ForgetUnread {
                source: "gotify".into(),
                row: None,
            },
            Effect::MarkRowsRead {
                source: None,
                kind: None,
            },
            Effect::Link {
                source: None,
                command: Command::MarkRead(None),
            },
            Effect::InboxChanged,
        ]
    );
    // Likes are not messages: nothing to delete.
    c.mark_read(Some("gotify"), Some(Kind::Like));
    assert!(!drain(&mut c)
        .iter()
        .any(|e| matches!(e, Effect::ForgetUnread { .. })));
    let r = row(9, "gotify", Kind::Message, false);
    c.open_row(r.clone(), Some(0));
    assert_eq!(
        drain(&mut c),
        vec![
            Effect::ForgetUnread {
                source: "gotify".into(),
                row: Some(9),
            },
            Effect::MarkRowRead {
                row: r,
                link: Some(0),
            },
        ]
    );
}

#[test]
fn a_pause_is_a_wall_clock_deadline_that_a_suspend_does_not_stretch_and_that_clears_itself() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("blog")], &now);
    c.pause(&now, Some(Duration::from_secs(3600)));
    assert!(c.paused_until().is_some());
    // The loop wakes at the pause's end with nothing else to do.
    assert_eq!(
        c.poll_timeout(&now),
        Some(now.mono + Duration::from_secs(3600))
    );
    let during = clock.now(60);
    c.handle_output(&during, "blog", Output::Items(vec![event(1, Kind::Like)]));
    c.flush();
    let mut effects = run_store(&mut c, &during);
    c.handle_tick(&during);
    effects.extend(drain(&mut c));
    assert!(toasts(&effects).is_empty(), "toasted while paused");
    // Suspended for two hours: 70 s of the monotonic clock, 2 h of the
    // wall's.
    let woke = clock.at(70, 7200);
    c.handle_tick(&woke);
    assert_eq!(c.paused_until(), None);
    c.handle_output(&woke, "blog", Output::Items(vec![event(2, Kind::Like)]));
    c.flush();
    let mut effects = run_store(&mut c, &woke);
    c.handle_tick(&woke);
    effects.extend(drain(&mut c));
    assert_eq!(toasts(&effects), ["actor2 liked “My post”"]);
    // Resume by hand.
    c.pause(&woke, Some(Duration::from_secs(60)));
    c.pause(&woke, None);
    assert_eq!(c.paused_until(), None);
}

#[test]
fn quiet_hours_drop_toasts_but_store_the_rows() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("blog")], &now);
    // Fridays 12:00–13:00; the clock starts on a Friday at noon.
    let quiet = QuietHours {
        enabled: true,
        from: "12:00".into(),
        to: "13:00".into(),
        days: [true; 7],
    };
    c.set_prefs([true; 4], quiet);
    c.handle_output(&now, "blog", Output::Items(vec![event(1, Kind::Like)]));
    c.flush();
    let effects = run_store(&mut c, &now);
    assert!(effects.contains(&Effect::InboxChanged));
    c.handle_tick(&now);
    assert!(toasts(&drain(&mut c)).is_empty());
    let after = clock.now(3600);
    c.handle_output(&after, "blog", Output::Items(vec![event(2, Kind::Reply)]));
    c.flush();
    let mut effects = run_store(&mut c, &after);
    c.handle_tick(&after);
    effects.extend(drain(&mut c));
    assert_eq!(toasts(&effects).len(), 1);
}

#[test]
fn kinds_switched_off_and_muted_sources_do_not_toast() {
    let clock = Clock::new();
    let now = clock.now(0);
    let muted = SourceConfig {
        muted: true,
        ..config("muted")
    };
    let no_likes = SourceConfig {
        toasts: Toasts {
            kinds: [false, true, true, true],
            ..Toasts::default()
        },
        ..config("blog")
    };
    let mut c = with(&[no_likes, muted], &now);
    for id in ["blog", "muted"] {
        c.handle_output(
            &now,
            id,
            Output::Items(vec![event(1, Kind::Like), event(2, Kind::Reply)]),
        );
    }
    c.flush();
    let mut effects = run_store(&mut c, &now);
    c.handle_tick(&now);
    effects.extend(drain(&mut c));
    assert_eq!(toasts(&effects), ["BLOG · actor2 replied to “My post”"]);
    // Replies off everywhere (Settings → Notifications).
    c.set_prefs([true, true, false, true], QuietHours::default());
    c.handle_output(&now, "blog", Output::Items(vec![event(3, Kind::Reply)]));
    c.flush();
    let mut effects = run_store(&mut c, &now);
    c.handle_tick(&clock.now(5));
    effects.extend(drain(&mut c));
    assert!(toasts(&effects).is_empty());
}

#[test]
fn toast_actions_follow_their_source_by_id_through_a_reorder_and_do_nothing_once_it_is_gone() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("a"), config("b")], &now);
    // Reordered: b first.
    let gone = c.set_sources(
        &now,
        vec![
            SourceSlot::Keep {
                id: "b".into(),
                name: "B".into(),
            },
            SourceSlot::Keep {
                id: "a".into(),
                name: "A".into(),
            },
        ],
    );
    assert!(gone.is_empty());
    c.toast_marked_read("a", ToastSlot::Kind(Kind::Like));
    assert!(drain(&mut c).contains(&Effect::Link {
        source: Some("a".into()),
        command: Command::MarkRead(Some(Kind::Like)),
    }));
    // b removed: its toasts act on nothing.
    let gone = c.set_sources(
        &now,
        vec![SourceSlot::Keep {
            id: "a".into(),
            name: "A".into(),
        }],
    );
    assert_eq!(gone, ["b"]);
    c.toast_marked_read("b", ToastSlot::Kind(Kind::Like));
    c.mark_read(Some("b"), None);
    c.open_kind("b", Kind::Like);
    c.toggle_link("b");
    assert!(drain(&mut c).is_empty());
    // Clicking it opens its own page, or the inbox; never another
    // source's site.
    c.toast_opened("b", ToastSlot::Connection, None);
    assert_eq!(drain(&mut c), vec![Effect::OpenInbox]);
    c.toast_opened(
        "b",
        ToastSlot::Kind(Kind::Like),
        Some("javascript:x".into()),
    );
    assert_eq!(drain(&mut c), vec![Effect::OpenInbox]);
}

#[test]
fn a_replaced_or_removed_source_stores_its_batch_and_a_kept_one_keeps_it() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("a"), config("b"), config("c")], &now);
    for id in ["a", "b", "c"] {
        c.handle_output(&now, id, Output::Items(vec![event(1, Kind::Like)]));
    }
    let gone = c.set_sources(
        &now,
        vec![
            SourceSlot::Keep {
                id: "a".into(),
                name: "A".into(),
            },
            // b's connection changed: same id, a new link.
            SourceSlot::New(Box::new(config("b"))),
        ],
    );
    assert_eq!(gone, ["c"]);
    let stored: Vec<String> = drain(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Store { source, .. } => Some(source),
            _ => None,
        })
        .collect();
    assert_eq!(stored, ["b", "c"]);
    // a's batch waits for the next flush.
    c.flush();
    assert!(matches!(
        &drain(&mut c)[..],
        [Effect::Store { source, .. }] if source == "a"
    ));
    // One source left unnamed, two named.
    let names: Vec<&str> = c.sources().map(|s| s.name).collect();
    assert_eq!(names, ["A", "B"]);
}

#[test]
fn the_kind_and_site_items_open_the_last_page_or_the_site_and_a_link_pause_toggles() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("blog")], &now);
    c.open_kind("blog", Kind::Like);
    let effects = drain(&mut c);
    assert_eq!(effects[0], Effect::OpenUrl("https://blog.example/".into()));
    c.handle_output(&now, "blog", Output::Items(vec![event(5, Kind::Like)]));
    c.flush();
    run_store(&mut c, &now);
    drain(&mut c);
    c.open_kind("blog", Kind::Like);
    assert_eq!(
        drain(&mut c)[0],
        Effect::OpenUrl("https://blog.example/p/5".into())
    );
    c.open_site("blog");
    assert_eq!(
        drain(&mut c),
        vec![Effect::OpenUrl("https://blog.example/".into())]
    );
    c.toggle_link("blog");
    c.handle_output(&now, "blog", Output::State(ConnState::Paused));
    c.toggle_link("blog");
    let commands: Vec<Command> = drain(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Link { command, .. } => Some(command),
            _ => None,
        })
        .collect();
    assert_eq!(commands, [Command::Pause, Command::Unpause]);
}

#[test]
fn an_outage_toast_comes_after_two_minutes_down_and_its_end_is_told() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("blog")], &now);
    c.handle_output(
        &now,
        "blog",
        Output::State(ConnState::Connected { dialect: None }),
    );
    let down = clock.now(10);
    c.handle_output(
        &down,
        "blog",
        Output::State(ConnState::Waiting {
            retry_in_ms: 1000,
            attempt: 1,
            reason: "reset".into(),
        }),
    );
    assert_eq!(
        c.poll_timeout(&down),
        Some(down.mono + Duration::from_secs(120))
    );
    c.handle_tick(&clock.now(60));
    assert!(toasts(&drain(&mut c)).is_empty());
    c.handle_tick(&clock.now(130));
    assert_eq!(toasts(&drain(&mut c)), ["Chime is offline"]);
    let back = clock.now(200);
    c.handle_output(
        &back,
        "blog",
        Output::State(ConnState::Connected { dialect: None }),
    );
    c.handle_tick(&back);
    assert_eq!(toasts(&drain(&mut c)), ["Chime is back online"]);
}

#[test]
fn a_toast_is_asked_for_as_soon_as_its_items_are_stored_with_no_tick_needed() {
    // The driver's loop may sleep until the next event after carrying out
    // the store: the toast must not wait in the announcer for a tick.
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("blog")], &now);
    c.handle_output(&now, "blog", Output::Items(vec![event(4, Kind::Reply)]));
    c.flush();
    let effects = run_store(&mut c, &now);
    assert_eq!(toasts(&effects), ["actor4 replied to “My post”"]);
    assert_eq!(c.poll_timeout(&now), None, "nothing left to wake for");
}

fn ntfy_message(id: &str, sequence: &str) -> NewItem {
    NewItem::Event(Event {
        seq: 0,
        kind: Kind::Message,
        actor: "ci".into(),
        target: Target::default(),
        time: 0,
        message: Some(Box::new(chime_proto::protocol::Message {
            id: id.into(),
            body: format!("version {id}"),
            sequence: sequence.into(),
            ..Default::default()
        })),
    })
}

#[test]
fn a_replayed_message_and_its_clear_are_stored_read_and_never_toasted() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("ntfy")], &now);
    drain(&mut c);
    c.handle_output(&now, "ntfy", Output::Items(vec![ntfy_message("a1", "job")]));
    c.handle_output(
        &now,
        "ntfy",
        Output::Withdrawn {
            keys: vec!["job".into()],
            deleted: false,
        },
    );
    let effects = drain(&mut c);
    // Stored first, then its row read.
    assert!(matches!(&effects[0], Effect::Store { items, .. } if items.len() == 1));
    assert!(
        matches!(&effects[1], Effect::WithdrawRows { keys, deleted: false, .. } if keys == &["job"])
    );
    c.handle_stored(&now, "ntfy", Stored::Fresh(vec![ntfy_message("a1", "job")]));
    c.handle_withdrawn("ntfy", &[Kind::Message]);
    let effects = drain(&mut c);
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Toast(_))),
        "{effects:?}"
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Link {
            command: Command::ReadOne(Kind::Message),
            ..
        }
    )));
}

#[test]
fn a_new_version_updates_the_toast_in_place_and_a_delete_closes_it() {
    let clock = Clock::new();
    let now = clock.now(0);
    let mut c = with(&[config("ntfy")], &now);
    drain(&mut c);
    let toasts = |effects: &[Effect]| -> Vec<(String, u64)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Toast(t) => Some((t.body.clone(), t.count)),
                _ => None,
            })
            .collect()
    };
    c.handle_stored(&now, "ntfy", Stored::Fresh(vec![ntfy_message("a1", "job")]));
    assert_eq!(toasts(&drain(&mut c)), vec![("version a1".to_owned(), 1)]);
    // The update, past the toast's update interval: the same toast, still one.
    let later = clock.now(10);
    c.handle_stored(
        &later,
        "ntfy",
        Stored::Fresh(vec![ntfy_message("a2", "job")]),
    );
    assert_eq!(toasts(&drain(&mut c)), vec![("version a2".to_owned(), 1)]);
    c.handle_output(
        &later,
        "ntfy",
        Output::Withdrawn {
            keys: vec!["job".into()],
            deleted: true,
        },
    );
    let effects = drain(&mut c);
    assert!(matches!(
        &effects[0],
        Effect::CloseToast {
            slot: ToastSlot::Kind(Kind::Message),
            ..
        }
    ));
    assert!(matches!(
        &effects[1],
        Effect::WithdrawRows { deleted: true, .. }
    ));
}
