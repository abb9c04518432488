//! Every parser that sees bytes from the network, fed arbitrary input: it must
//! never panic, and whatever it accepts must survive the inbox and re-encode.
#![no_main]

use chime_core::inbox::Inbox;
use chime_core::protocol::{ClientMsg, Dialect, ServerMsg};
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
                let again = ServerMsg::parse(Dialect::Native, &ServerMsg::Event(e.clone()).encode());
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
    if let Ok(msg) = ClientMsg::parse(text) {
        assert_eq!(ClientMsg::parse(&msg.encode()), Ok(msg));
    }
});
