//! OS signals that should make the links reconnect at once: logind's
//! `PrepareForSleep(false)` (resume) and NetworkManager state changes, on the
//! system bus. No system bus: skip quietly.
//!
//! Only the real services are heard: every signal is matched with its
//! owner's well-known name as sender, and zbus's proxies check each message
//! against the unique name that owns it now. Another local account can
//! emit `StateChanged` or `PrepareForSleep` on the system bus, but it cannot
//! own those names, so it cannot keep Chime offline or make it redial.
//!
//! One watcher for the life of the app (started once, not per connection),
//! sending to the controller, which hands the command to the current link.

use chime_client::Command;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tracing::{debug, info};

/// NetworkManager `NMState` values.
const NM_DISCONNECTED: u32 = 20;
const NM_CONNECTED_GLOBAL: u32 = 70;

/// A proxy for a service's signals (no property cache: nothing is asked of
/// the service, so a missing one costs nothing).
pub async fn service_proxy(
    conn: &zbus::Connection,
    name: &'static str,
    path: &'static str,
    interface: &'static str,
) -> zbus::Result<zbus::Proxy<'static>> {
    zbus::proxy::Builder::<zbus::Proxy<'static>>::new(conn)
        .destination(name)
        .path(path)
        .interface(interface)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
}

pub async fn watch<T>(tx: mpsc::UnboundedSender<T>, wrap: impl Fn(Command) -> T) {
    let conn = match zbus::Connection::system().await {
        Ok(c) => c,
        Err(e) => {
            debug!("no system bus, sleep/network signals are off: {e}");
            return;
        }
    };
    let streams = async {
        let login = service_proxy(
            &conn,
            "org.freedesktop.login1",
            "/org/freedesktop/login1",
            "org.freedesktop.login1.Manager",
        )
        .await?;
        let nm = service_proxy(
            &conn,
            "org.freedesktop.NetworkManager",
            "/org/freedesktop/NetworkManager",
            "org.freedesktop.NetworkManager",
        )
        .await?;
        let sleep = login.receive_signal("PrepareForSleep").await?;
        let state = nm.receive_signal("StateChanged").await?;
        zbus::Result::Ok((sleep, state))
    };
    let (sleep, state) = match streams.await {
        Ok(s) => s,
        Err(e) => {
            debug!("cannot subscribe to sleep/network signals: {e}");
            return;
        }
    };
    let mut both = futures_util::stream::select(sleep, state);
    while let Some(msg) = both.next().await {
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
            if tx.send(wrap(cmd)).is_err() {
                return;
            }
        }
    }
}
