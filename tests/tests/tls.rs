//! `wss://` and `https://` servers whose certificate comes from a private
//! CA (self-hosted, a company's): refused with a clear reason until the CA
//! file is given, then trusted — for the WebSocket and for the HTTP reads
//! of push services alike. A broken CA file or a server that does not
//! speak TLS is an error to show, never a crash.

use std::time::Duration;

use chime_client::{probe, ProbeOutcome};
use chime_e2e::push::GotifyServer;
use chime_e2e::tls::{TestCa, TlsFront};
use chime_e2e::*;
use chime_engine::policy::Heartbeat;
use chime_engine::{Auth, Config, ConnState, InboxState, NewItem};
use chime_engine::{Secret, ServerProfile};
use chime_proto::Dialect;
use serde_json::json;

fn native(url: &str, ca: Option<std::path::PathBuf>) -> ServerProfile {
    let mut p = ServerProfile::for_dialect(url, Dialect::Native).expect("profile");
    p.auth = Auth::Bearer(Secret::new(TOKEN));
    p.extra_ca = ca;
    p
}

fn config(dialect: Dialect) -> Config {
    Config {
        dialect,
        ..Config::default()
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chime-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_a_secure_connection_failure_and_is_retried() {
    let server = TestServer::start(server_config()).await;
    let ca = TestCa::new();
    let front = TlsFront::start(&ca, server.addr).await;
    let url = front.url("/v1/stream");
    let mut w = Watcher::resume(
        native(&url, None),
        config(Dialect::Native),
        Default::default(),
    );
    // A setting to change, not an outage: the slow schedule.
    let reason = |s: &ConnState| match s {
        ConnState::Misconfigured { reason, .. } => Some(reason.clone()),
        _ => None,
    };
    w.until_state(SOON, "a refused certificate", |s| {
        reason(s).is_some_and(|r| r.contains("secure connection failed"))
    })
    .await;
    let last = w
        .states
        .last()
        .and_then(|(_, s)| reason(s))
        .expect("waiting");
    assert!(last.contains("certificate"), "{last}");
    // Retried on the backoff (the CA may be installed meanwhile), never
    // reached the server.
    assert_eq!(server.connections_total(), 0);
    // Settings' Test connection says the same.
    match probe(&native(&url, None), Duration::from_secs(5)).await {
        ProbeOutcome::Misconfigured { message } => {
            assert!(message.contains("CA file"), "{message}")
        }
        other => panic!("expected a refused certificate, got {other:?}"),
    }
    w.stop().await;
}

#[tokio::test]
async fn with_the_ca_file_the_server_is_trusted_and_events_flow_over_tls() {
    let server = TestServer::start(server_config()).await;
    let ca = TestCa::new();
    let front = TlsFront::start(&ca, server.addr).await;
    let dir = temp_dir("trusted");
    let ca_file = ca.write_ca(&dir);
    let url = front.url("/v1/stream");
    assert_eq!(
        probe(&native(&url, Some(ca_file.clone())), Duration::from_secs(5)).await,
        ProbeOutcome::Connected {
            dialect: Some(Dialect::Native)
        }
    );
    let mut w = Watcher::resume(
        native(&url, Some(ca_file)),
        config(Dialect::Native),
        InboxState::default(),
    );
    w.until_connected(SOON).await;
    publish_numbered(server.state(), USER, 1..4).await;
    w.until(SOON, "three events over TLS", |w| {
        w.items
            .iter()
            .filter(|i| matches!(i, NewItem::Event(_)))
            .count()
            >= 3
    })
    .await;
    w.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn gotify_over_https_reads_back_its_messages_through_the_same_trust() {
    let server = GotifyServer::start("Ctoken", &["Backups"]).await;
    let ca = TestCa::new();
    let front = TlsFront::start(&ca, server.addr()).await;
    let dir = temp_dir("gotify");
    let url = format!("https://localhost:{}", front.addr.port());
    let mut p = ServerProfile::for_dialect(&url, Dialect::Gotify).expect("profile");
    p.auth = Auth::Bearer(Secret::new("Ctoken"));
    p.extra_ca = Some(ca.write_ca(&dir));
    let config = Config {
        heartbeat: Heartbeat::SERVER_PINGS,
        ..config(Dialect::Gotify)
    };
    let mut w = Watcher::resume(p.clone(), config.clone(), InboxState::default());
    w.until(SOON, "the first sync", |w| {
        w.saved.as_ref().is_some_and(|s| s.cursor.is_some())
    })
    .await;
    let saved = w.saved.clone().expect("saved");
    w.stop().await;
    // Published while Chime was closed: the read-back (HTTP GET over TLS
    // with the CA file) finds them.
    let want: Vec<String> = (0..3)
        .map(|n| {
            server
                .publish(1, "nightly", &format!("run {n}"), 5, json!(null))
                .to_string()
        })
        .collect();
    let mut w = Watcher::resume(p, config, saved);
    w.until(SOON, "the messages read back over https", |w| {
        w.items.len() >= want.len()
    })
    .await;
    assert_eq!(message_ids(&w.items), want);
    w.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_missing_or_empty_ca_file_is_an_error_at_start_not_a_crash() {
    use chime_client::tls_config;
    use chime_client::ClientError;
    let dir = temp_dir("bad");
    let missing = dir.join("missing.pem");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").expect("write");
    let key_only = dir.join("key.pem");
    std::fs::write(
        &key_only,
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let garbage = dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    for path in [&missing, &empty, &key_only, &garbage] {
        match tls_config(Some(path)) {
            Err(ClientError::CaFile { problem, .. }) => assert!(!problem.is_empty()),
            other => panic!("{}: {:?}", path.display(), other.map(|_| ())),
        }
        let p = native("wss://localhost:1/v1/stream", Some(path.clone()));
        assert!(
            chime_client::Client::spawn(p, config(Dialect::Native), Default::default()).is_err()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_server_that_does_not_speak_tls_is_a_secure_connection_failure() {
    let server = TestServer::start(server_config()).await;
    let url = format!("wss://127.0.0.1:{}/v1/stream", server.addr.port());
    let mut w = Watcher::resume(
        native(&url, None),
        config(Dialect::Native),
        Default::default(),
    );
    w.until_state(SOON, "a TLS failure", |s| {
        matches!(s, ConnState::Misconfigured { reason, .. }
            if reason.contains("secure connection failed") && reason.contains("no TLS"))
    })
    .await;
    w.stop().await;
}

#[tokio::test]
async fn a_source_whose_settings_name_the_ca_file_validates_and_connects() {
    use chime_desktop::settings::{AuthMethod, Settings};
    let server = TestServer::start(server_config()).await;
    let ca = TestCa::new();
    let front = TlsFront::start(&ca, server.addr).await;
    let dir = temp_dir("settings");
    let mut s = Settings::default();
    let src = s.first_mut();
    src.server.url = front.url("/v1/stream");
    src.server.dialect = Dialect::Native;
    src.server.auth = AuthMethod::Token;
    src.server.ca_file = ca.write_ca(&dir).display().to_string();
    assert!(s.validate().is_empty(), "{:?}", s.validate());
    let (profile, config) = s.sources[0]
        .server
        .profile(Some(Secret::new(TOKEN)))
        .expect("profile")
        .expect("a server");
    let mut w = Watcher::resume(profile, config, InboxState::default());
    w.until_connected(SOON).await;
    w.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
