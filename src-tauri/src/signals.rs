//! OS signals that should make the link reconnect at once: logind's
//! `PrepareForSleep(false)` (resume) and NetworkManager state changes, on the
//! system bus. No system bus: skip quietly.

use chime_core::{ClientHandle, Command};
use futures_util::StreamExt;
use tracing::{debug, info};

/// NetworkManager `NMState` values.
const NM_DISCONNECTED: u32 = 20;
const NM_CONNECTED_GLOBAL: u32 = 70;

pub async fn watch(client: ClientHandle) {
    let conn = match zbus::Connection::system().await {
        Ok(c) => c,
        Err(e) => {
            debug!("no system bus, sleep/network signals are off: {e}");
            return;
        }
    };
    let rule = |iface: &'static str, member: &'static str| {
        zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(iface)
            .member(member)
            .build()
    };
    let (Ok(sleep), Ok(nm)) = (
        rule("org.freedesktop.login1.Manager", "PrepareForSleep"),
        rule("org.freedesktop.NetworkManager", "StateChanged"),
    ) else {
        return;
    };
    let (Ok(sleep), Ok(nm)) = (
        zbus::MessageStream::for_match_rule(sleep, &conn, None).await,
        zbus::MessageStream::for_match_rule(nm, &conn, None).await,
    ) else {
        debug!("cannot subscribe to sleep/network signals");
        return;
    };
    let mut both = futures_util::stream::select(sleep, nm);
    while let Some(Ok(msg)) = both.next().await {
        let header = msg.header();
        let cmd = match header.member().map(|m| m.as_str()) {
            Some("PrepareForSleep") => match msg.body().deserialize::<bool>() {
                Ok(false) => Some(Command::Resumed),
                _ => None,
            },
            Some("StateChanged") => match msg.body().deserialize::<u32>() {
                Ok(s) if s >= NM_CONNECTED_GLOBAL => Some(Command::NetworkUp),
                Ok(s) if s <= NM_DISCONNECTED => Some(Command::NetworkDown),
                _ => None,
            },
            _ => None,
        };
        if let Some(cmd) = cmd {
            info!(?cmd, "OS signal");
            if !client.send(cmd) {
                return;
            }
        }
    }
}
