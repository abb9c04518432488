//! Every parser that sees bytes from the network, fed arbitrary input: it must
//! never panic, and whatever it accepts must survive the inbox and re-encode.
#![no_main]

use chime_engine::inbox::Inbox;
use chime_proto::protocol::{ClientMsg, Dialect, ServerMsg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut inbox = Inbox::default();
    for dialect in [Dialect::Seed, Dialect::Native, Dialect::Auto] {
        match ServerMsg::parse(dialect, text) {
            Ok(ServerMsg::SeedSnapshot(s)) => {
                inbox.apply_seed(s);
            }
            Ok(ServerMsg::Event(e)) => {
                let again =
                    ServerMsg::parse(Dialect::Native, &ServerMsg::Event(e.clone()).encode());
                assert_eq!(again, Ok(ServerMsg::Event(e.clone())));
                inbox.apply_event(e);
            }
            Ok(ServerMsg::Synced { last_seq }) => inbox.apply_synced(last_seq),
            Ok(ServerMsg::Counts(c)) => {
                inbox.apply_counts(c);
            }
            Ok(ServerMsg::Welcome { epoch, .. }) => {
                inbox.apply_epoch(&epoch);
            }
            _ => {}
        }
    }
    // The push services' sessions: a frame, and the same text as the
    // answers to Gotify's fetches. What they let through is clean.
    for dialect in [Dialect::Ntfy, Dialect::Gotify] {
        let mut session = chime_engine::dialect::open(dialect);
        let mut inbox = Inbox::default();
        let mut fx = chime_engine::dialect::Effects::default();
        session.on_open(&mut inbox, &mut fx);
        session.on_text(text, &mut inbox, &mut fx);
        session.on_fetched(
            "/application",
            Ok((200, text.to_owned())),
            &mut inbox,
            &mut fx,
        );
        session.on_fetched(
            "/message?limit=100",
            Ok((200, text.to_owned())),
            &mut inbox,
            &mut fx,
        );
        for out in &fx.outputs {
            let chime_engine::supervisor::Output::Items(items) = out else {
                continue;
            };
            for item in items {
                let chime_engine::NewItem::Event(e) = item else {
                    continue;
                };
                let m = e.message.as_ref().expect("a message");
                assert!((1..=5).contains(&m.priority));
                assert!(m.links.iter().all(|l| l.url.starts_with("http")));
                assert!(!m.body.chars().any(|c| c.is_control() && c != '\n'));
                assert!(!e.target.title.chars().any(char::is_control));
            }
        }
    }
    if let Ok(msg) = ClientMsg::parse(text) {
        assert_eq!(ClientMsg::parse(&msg.encode()), Ok(msg));
    }
});
