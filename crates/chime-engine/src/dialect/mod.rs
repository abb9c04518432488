//! What each wire dialect does on a link, behind one interface: the
//! supervisor owns the link's life (dial, timers, backoff, liveness) and
//! asks a [`Session`] what a frame means and what to send. Adding a
//! protocol adds a module here and one arm in [`open`]; the supervisor, the
//! driver and the app do not change.
//!
//! * [`seed`] — counters only (`/pushMsg`): totals in, `heartCheck` out.
//! * [`native`] — Chime's own (`/v1/stream`): welcome/hello resume,
//!   sequenced events, acks, reads.
//! * [`auto`] — decides between the two on the first frame it recognises.
//! * [`ntfy`] — an ntfy server's topics; resumes with `since=<id>`.
//! * [`gotify`] — a Gotify stream; pages back through `GET /message`.
//! * [`mastodon`] — a Mastodon-compatible account's notifications; pages
//!   forward through `Link`, keeps to the read marker.
//! * [`misskey`] — a Misskey account's `main` channel; catches up without
//!   marking anything read.
//!
//! A dialect may also say where to dial ([`endpoint`]: its path, its
//! resume cursor, where the credential goes) and ask for HTTP fetches
//! ([`Effects::fetches`], answered by [`Session::on_fetched`]).

pub mod auto;
pub mod gotify;
pub mod mastodon;
pub mod misskey;
pub mod native;
pub mod ntfy;
pub mod seed;

use std::fmt;

use crate::events::Output;
use crate::inbox::{Inbox, InboxState, NewItem};
use crate::profile::{basic, Auth, ProfileError, ServerProfile};
use crate::protocol::{Dialect, Kind, ServerMsg};

/// What a session asks of the link, in order: frames to send and outputs
/// for observers. The supervisor turns them into actions and events.
#[derive(Debug, Default)]
pub struct Effects {
    pub sends: Vec<String>,
    /// HTTP GETs (path and query) on the server, with the link's
    /// credentials; answered through [`Session::on_fetched`].
    pub fetches: Vec<String>,
    /// HTTP DELETEs (path) on the server, likewise answered through
    /// [`Session::on_fetched`].
    pub deletes: Vec<String>,
    /// HTTP POSTs (path, JSON body), likewise.
    pub posts: Vec<(String, String)>,
    pub outputs: Vec<Output>,
}

impl Effects {
    pub fn send(&mut self, text: String) {
        self.sends.push(text);
    }

    pub fn items(&mut self, items: Vec<NewItem>) {
        if !items.is_empty() {
            self.outputs.push(Output::Items(items));
        }
    }

    pub fn notice(&mut self, text: String) {
        self.outputs.push(Output::Notice(text));
    }
}

/// One link's conversation in one dialect. Made when the link opens (see
/// [`open`]); the inbox it updates outlives it.
pub trait Session: fmt::Debug + Send {
    /// The dialect the link speaks, once known (`auto` learns it).
    fn dialect(&self) -> Option<Dialect>;

    /// A text frame from the server.
    fn on_text(&mut self, text: &str, inbox: &mut Inbox, fx: &mut Effects);

    /// The heartbeat is due.
    fn on_heartbeat(&mut self, inbox: &Inbox, fx: &mut Effects);

    /// The link opened: what to send or fetch first.
    fn on_open(&mut self, _inbox: &mut Inbox, _fx: &mut Effects) {}

    /// What to send to find out whether a link survived (network up);
    /// `None`: a WebSocket Ping (servers with no application ping).
    fn probe(&self) -> Option<String>;

    /// Messages read here are owed to the server ([`Inbox::take_forget`]):
    /// delete them there if this dialect can.
    fn on_forget(&mut self, _inbox: &mut Inbox, _fx: &mut Effects) {}

    /// A fetch or delete asked for in [`Effects`] came back.
    fn on_fetched(
        &mut self,
        _path: &str,
        _result: crate::events::Fetched,
        _inbox: &mut Inbox,
        _fx: &mut Effects,
    ) {
    }

    /// Whether this dialect can tell the server that something was read
    /// (`true` while `auto` does not know yet).
    fn tells_reads(&self) -> bool;

    /// The user read something: send what the server is owed
    /// ([`Inbox::unsent_reads`]) if the session is ready for it.
    fn on_reads_owed(&mut self, _inbox: &Inbox, _fx: &mut Effects) {}
}

/// What Chime knows about one protocol: every per-protocol fact lives in
/// its module's `PROTOCOL`, and [`protocol`] is the one registry. The
/// supervisor, driver, store, tray and Settings page ask it; none of them
/// names a protocol.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Protocol {
    /// Its settings-file and command-line name (`Dialect`'s serde name).
    pub dialect: Dialect,
    /// In Settings' protocol list ("ntfy topics").
    pub title: &'static str,
    /// In "Connected (…)" ("ntfy").
    pub short: &'static str,
    /// The kinds of item its servers bring (a menu line and a Settings
    /// switch each).
    pub kinds: &'static [Kind],
    /// Its servers can be told what was read (`auto` may learn it can).
    pub tells_reads: bool,
    /// Its servers can delete what was read (opt-in per source).
    pub forgets_read: bool,
    /// Its servers ping us and know no application heartbeat: the
    /// dead-link rule waits for their pings and Settings asks for none.
    pub server_pings: bool,
    /// Users paste its servers as web addresses (`https://…`, or no
    /// scheme at all), dialled as `wss://`.
    pub web_address: bool,
    /// Its API lives at the server's root: a pasted page address
    /// (`https://host/@me`) or a handle (`@me@host`) means the host.
    pub at_root: bool,
    /// Its servers close a link that stays silent this long: a heartbeat
    /// must be shorter.
    pub silent_limit_secs: Option<u32>,
    /// Settings' address field: an example, and what to type.
    pub url_example: &'static str,
    pub url_hint: &'static str,
    /// Settings' secret field, for a token.
    pub token_hint: &'static str,
    /// A new link's session, given the server's web origin
    /// (`https://host`) for the pages it links to.
    #[serde(skip)]
    pub open: fn(Option<&url::Url>) -> Box<dyn Session>,
    /// Where and how a link dials, given its resume state.
    #[serde(skip)]
    pub endpoint: fn(&ServerProfile, &InboxState) -> Result<Endpoint, String>,
    /// A token typed on a command line, as this protocol reads it.
    #[serde(skip)]
    pub read_token: fn(Auth) -> Auth,
    /// Where its servers say their stream is, when it may be on another
    /// host: paths the driver GETs before each dial, in order, until one
    /// names it (read by `stream_at`). Empty: the stream is where the
    /// address says.
    #[serde(skip)]
    pub discover: &'static [&'static str],
    #[serde(skip)]
    pub stream_at: fn(&str) -> Option<String>,
    /// How a user signs in with the browser from Settings, where the
    /// protocol has a way (else a token is pasted).
    pub sign_in: Option<SignIn>,
}

/// A browser sign-in, as data: the driver runs the flow, the protocol
/// names its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "flow", rename_all = "snake_case")]
pub enum SignIn {
    /// OAuth 2's authorization code with PKCE (S256), the app registered
    /// on the spot; the code comes back to a one-shot loopback redirect.
    OAuth {
        register: &'static str,
        authorize: &'static str,
        token: &'static str,
        /// Only what the protocol needs, space-separated.
        scopes: &'static str,
    },
    /// Misskey's MiAuth: `/miauth/<session>` in the browser, the callback
    /// on loopback, then `POST /api/miauth/<session>/check` for the token.
    MiAuth {
        /// Comma-separated.
        permissions: &'static str,
    },
}

/// Protocols whose stream is where the address says.
fn stream_here(_: &str) -> Option<String> {
    None
}

/// The profile to dial when the server named `found` as its stream's
/// base: the same profile on that scheme, host and port. Refused (`None`)
/// when it is no WebSocket address, or a plain one for a TLS server (the
/// credential never goes out in the clear).
pub fn stream_profile(profile: &ServerProfile, found: &str) -> Option<ServerProfile> {
    let url = url::Url::parse(found.trim()).ok()?;
    let scheme = match url.scheme() {
        "wss" | "https" => "wss",
        "ws" | "http" if !profile.is_tls() => "ws",
        _ => return None,
    };
    let host = url.host_str().filter(|h| !h.is_empty())?;
    let mut p = profile.clone();
    p.url.set_scheme(scheme).ok()?;
    p.url.set_host(Some(host)).ok()?;
    p.url.set_port(url.port()).ok()?;
    Some(p)
}

/// Why `secs` cannot be the heartbeat for `dialect`, if it cannot.
pub fn heartbeat_problem(dialect: Dialect, secs: f64) -> Option<String> {
    if !secs.is_finite() || !(0.0..86_400.0).contains(&secs) {
        return Some("the heartbeat must be a number of seconds".into());
    }
    let limit = protocol(dialect).silent_limit_secs?;
    (secs >= f64::from(limit)).then(|| {
        format!(
            "seed servers close a link that is silent for {limit} s: use a heartbeat under \
             {limit} s (or the native protocol)"
        )
    })
}

/// Most protocols read a token as it was typed.
fn token_as_typed(auth: Auth) -> Auth {
    auth
}

/// The registry: every protocol Chime speaks, by its name.
pub fn protocol(dialect: Dialect) -> &'static Protocol {
    match dialect {
        Dialect::Seed => &seed::PROTOCOL,
        Dialect::Native => &native::PROTOCOL,
        Dialect::Auto => &auto::PROTOCOL,
        Dialect::Ntfy => &ntfy::PROTOCOL,
        Dialect::Gotify => &gotify::PROTOCOL,
        Dialect::Mastodon => &mastodon::PROTOCOL,
        Dialect::Misskey => &misskey::PROTOCOL,
    }
}

/// Every protocol, in Settings' order.
pub fn protocols() -> impl Iterator<Item = &'static Protocol> {
    Dialect::ALL.into_iter().map(protocol)
}

/// The session for a new link of `dialect`.
pub fn open(dialect: Dialect, origin: Option<&url::Url>) -> Box<dyn Session> {
    (protocol(dialect).open)(origin)
}

/// What the driver dials: the URL and the request headers.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: url::Url,
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl Endpoint {
    /// The profile's URL (with an address credential) and headers (added
    /// ones and the sign-in's), as the site dialects dial them.
    pub fn standard(profile: &ServerProfile) -> Result<Endpoint, String> {
        let mut headers = profile.headers.clone();
        match &profile.auth {
            Auth::Bearer(t) => headers.push((
                http::header::AUTHORIZATION,
                secret_header(&format!("Bearer {}", t.expose()))?,
            )),
            Auth::Basic { user, password } => headers.push((
                http::header::AUTHORIZATION,
                secret_header(&basic(user, password.expose()))?,
            )),
            Auth::Cookie(c) => headers.push((http::header::COOKIE, secret_header(c.expose())?)),
            Auth::None | Auth::Query { .. } => {}
        }
        Ok(Endpoint {
            url: profile.dial_url(),
            headers,
        })
    }
}

/// Where and how a link of `profile` dials, given its resume state.
pub fn endpoint(profile: &ServerProfile, state: &InboxState) -> Result<Endpoint, String> {
    (protocol(profile.dialect).endpoint)(profile, state)
}

/// The site dialects dial the profile as it is.
fn standard_endpoint(profile: &ServerProfile, _: &InboxState) -> Result<Endpoint, String> {
    Endpoint::standard(profile)
}

/// The HTTP address of a fetch of `path` (see [`Effects::fetches`]).
pub fn fetch_url(profile: &ServerProfile, path: &str) -> Result<url::Url, String> {
    gotify::fetch_url(profile, path)
}

/// The address a user typed, as a WebSocket URL for `dialect`: push
/// services are pasted as their web address (`https://ntfy.sh/topic`,
/// `ntfy.sh/a,b`, `https://gotify.example`), which maps to `wss://`.
/// Site dialects keep what was typed.
pub fn normalize_url(dialect: Dialect, input: &str) -> String {
    let t = input.trim();
    let p = protocol(dialect);
    if !p.web_address || t.is_empty() {
        return t.to_owned();
    }
    if p.at_root {
        // A handle: `@me@host` (or `me@host`) is an account on `host`.
        if !t.contains("://") {
            if let Some((_, host)) = t.trim_start_matches('@').rsplit_once('@') {
                return format!("wss://{host}");
            }
        }
        let web = normalize_url(Dialect::Gotify, t);
        return match url::Url::parse(&web) {
            Ok(mut u) if u.host_str().is_some() => {
                u.set_path("");
                u.to_string().trim_end_matches('/').to_owned()
            }
            _ => web,
        };
    }
    if let Some(rest) = t.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = t.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if t.contains("://") {
        t.to_owned()
    } else {
        format!("wss://{t}")
    }
}

/// A header value that holds a credential (never printed by `http`).
pub(crate) fn secret_header(s: &str) -> Result<http::HeaderValue, String> {
    let mut v = http::HeaderValue::from_str(s)
        .map_err(|_| "credential is not a valid header".to_string())?;
    v.set_sensitive(true);
    Ok(v)
}

impl ServerProfile {
    /// A profile for `dialect`, from what a user typed (push services are
    /// pasted as web addresses; see [`normalize_url`]).
    pub fn for_dialect(url: &str, dialect: Dialect) -> Result<ServerProfile, ProfileError> {
        let mut p = ServerProfile::new(&normalize_url(dialect, url))?;
        p.dialect = dialect;
        Ok(p)
    }

    /// A profile from command-line flags: URL, dialect, `Name:Value`
    /// headers and the credential flags (see [`Auth::from_flags`]).
    pub fn from_flags(
        url: &str,
        dialect: &str,
        headers: &[String],
        token: Option<String>,
        cookie: Option<String>,
        query: Option<&str>,
    ) -> Result<ServerProfile, String> {
        let dialect = dialect.parse::<Dialect>()?;
        let mut profile = ServerProfile::for_dialect(url, dialect).map_err(|e| e.to_string())?;
        for h in headers {
            profile.add_header(h).map_err(|e| e.to_string())?;
        }
        profile.auth = Auth::from_flags(token, cookie, query).map_err(|e| e.to_string())?;
        profile.validate().map_err(|e| e.to_string())?;
        Ok(profile)
    }
}

/// The Authorization value for a credential a user typed: `user:password`
/// is Basic, anything else a bearer token.
pub(crate) fn authorization_value(credential: &str) -> String {
    match credential.split_once(':') {
        Some((user, pw)) => basic(user, pw),
        None => format!("Bearer {credential}"),
    }
}

/// base64url without padding.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The dialect a message reveals, if it is one both sides recognise.
pub fn dialect_of(msg: &ServerMsg) -> Option<Dialect> {
    match msg {
        ServerMsg::SeedSnapshot(_) => Some(Dialect::Seed),
        ServerMsg::Unknown { .. } | ServerMsg::Error { .. } => None,
        _ => Some(Dialect::Native),
    }
}

/// A text frame that must be one JSON object (the push services' frames),
/// or `None` after the notice every dialect gives for a malformed frame.
pub(crate) fn json_object(text: &str, fx: &mut Effects) -> Option<serde_json::Value> {
    match serde_json::from_str(text) {
        Ok(v @ serde_json::Value::Object(_)) => Some(v),
        _ => {
            fx.notice(format!(
                "ignored a malformed message from the server ({})",
                chime_proto::text::sanitize(text, 60)
            ));
            None
        }
    }
}

/// Push-service messages: the ones not seen before become items, and the
/// badge (counted here) is told.
pub(crate) fn announce_messages(
    events: Vec<crate::protocol::Event>,
    inbox: &mut Inbox,
    fx: &mut Effects,
) {
    let fresh: Vec<NewItem> = events
        .into_iter()
        .filter_map(|e| inbox.apply_message(e))
        .map(NewItem::Event)
        .collect();
    if !fresh.is_empty() {
        fx.items(fresh);
        fx.outputs.push(Output::Counts(inbox.unread()));
    }
}

/// The notice for a frame that did not parse.
pub(crate) fn malformed(fx: &mut Effects, e: &crate::protocol::ProtocolError) {
    fx.notice(format!("ignored a malformed message from the server ({e})"));
}

/// Notices any dialect gives for messages it does not act on.
pub(crate) fn explain(fx: &mut Effects, msg: &ServerMsg) {
    match msg {
        ServerMsg::Error { code, message } => {
            fx.notice(format!("the server reported {code}: {message}"))
        }
        ServerMsg::Unknown { kind } => {
            fx.notice(format!("ignored a message of unknown type \"{kind}\""))
        }
        _ => {}
    }
}

/// Counts a link reported, and whether the badge must be told: when it
/// changed, and always for the first counts of a link (a restart must learn
/// what was read elsewhere even if the badge did not change).
pub(crate) fn report_counts(
    inbox: &Inbox,
    before: crate::protocol::Counts,
    first: bool,
    fx: &mut Effects,
) {
    let after = inbox.unread();
    if after != before || first {
        fx.outputs.push(Output::Counts(after));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ClientMsg;

    fn run(session: &mut dyn Session, inbox: &mut Inbox, frames: &[&str]) -> Effects {
        let mut fx = Effects::default();
        for f in frames {
            session.on_text(f, inbox, &mut fx);
        }
        fx
    }

    #[test]
    fn every_protocol_is_described_by_its_own_module_under_its_own_name() {
        let mut titles = std::collections::HashSet::new();
        for d in Dialect::ALL {
            let p = protocol(d);
            assert_eq!(p.dialect, d);
            assert_eq!(d.as_str().parse::<Dialect>(), Ok(d));
            assert!(titles.insert(p.title), "{d:?}: a second {:?}", p.title);
            assert!(!p.kinds.is_empty() && !p.short.is_empty(), "{d:?}");
            assert!(!p.url_example.is_empty() && !p.url_hint.is_empty(), "{d:?}");
            // What it says of its sessions is what they do.
            assert_eq!((p.open)(None).tells_reads(), p.tells_reads, "{d:?}");
            // Web addresses are dialled as WebSocket ones, for those
            // pasted that way only.
            let typed = normalize_url(d, "https://h.example/x");
            assert_eq!(typed.starts_with("wss://"), p.web_address, "{d:?}");
            // Its example address is one it can dial.
            let profile = ServerProfile::for_dialect(p.url_example, d).expect("example");
            (p.endpoint)(&profile, &InboxState::default()).expect("endpoint");
        }
        let names: Vec<&str> = Dialect::ALL.iter().map(|d| d.as_str()).collect();
        let e = "carrier-pigeon".parse::<Dialect>().expect_err("unknown");
        assert!(names.iter().all(|n| e.contains(n)), "{e}");
    }

    const WELCOME: &str = r#"{"type":"welcome","v":1,"epoch":"e"}"#;
    const EVENT: &str = r#"{"type":"event","seq":1,"kind":"like","actor":"a","target":{"title":"t","url":"https://x/"},"time":1}"#;

    #[test]
    fn each_dialect_says_what_its_servers_expect_on_heartbeat_and_probe() {
        let table: [(Dialect, &str); 3] = [
            (Dialect::Seed, "heartCheck"),
            (Dialect::Native, r#"{"type":"ping"}"#),
            (Dialect::Auto, "heartCheck"),
        ];
        for (d, want) in table {
            let mut s = open(d, None);
            let mut fx = Effects::default();
            s.on_heartbeat(&Inbox::default(), &mut fx);
            assert_eq!(fx.sends, vec![want.to_owned()], "{d:?}");
            assert_eq!(s.probe().as_deref(), Some(want), "{d:?}");
            assert_eq!(s.tells_reads(), d != Dialect::Seed, "{d:?}");
        }
    }

    #[test]
    fn native_greets_with_the_cursor_then_tells_owed_reads_and_acks_on_the_heartbeat() {
        let mut inbox = Inbox::default();
        inbox.mark_read(Some(Kind::Reply), true);
        let mut s = open(Dialect::Native, None);
        let fx = run(s.as_mut(), &mut inbox, &[WELCOME, EVENT, EVENT]);
        assert_eq!(
            fx.sends,
            vec![
                ClientMsg::Hello { last_seq: 0 }.encode(),
                ClientMsg::Read {
                    kind: Some(Kind::Reply)
                }
                .encode()
            ]
        );
        let items = fx
            .outputs
            .iter()
            .filter(|o| matches!(o, Output::Items(_)))
            .count();
        assert_eq!(items, 1, "the duplicate is dropped");
        let mut fx = Effects::default();
        s.on_heartbeat(&inbox, &mut fx);
        assert_eq!(
            fx.sends,
            vec![ClientMsg::Ack { seq: 1 }.encode(), ClientMsg::Ping.encode()]
        );
    }

    #[test]
    fn a_welcome_naming_another_account_starts_afresh_and_the_same_one_resumes() {
        let welcome = |account: &str| {
            format!(r#"{{"type":"welcome","v":1,"epoch":"e","account":"{account}"}}"#)
        };
        let mut inbox = Inbox::default();
        let mut s = open(Dialect::Native, None);
        run(s.as_mut(), &mut inbox, &[&welcome("alice"), EVENT]);
        assert_eq!(inbox.last_seq(), 1);
        // The same account (a renewed token): resumes where it was.
        let mut s = open(Dialect::Native, None);
        let fx = run(s.as_mut(), &mut inbox, &[&welcome("alice")]);
        assert_eq!(fx.sends, vec![ClientMsg::Hello { last_seq: 1 }.encode()]);
        // Another account on the same source: its own log from the start,
        // and alice's seq 1 does not swallow bob's.
        let mut s = open(Dialect::Native, None);
        let fx = run(s.as_mut(), &mut inbox, &[&welcome("bob"), EVENT]);
        assert_eq!(fx.sends[0], ClientMsg::Hello { last_seq: 0 }.encode());
        assert!(fx.outputs.iter().any(|o| matches!(o, Output::Items(_))));
        assert_eq!(inbox.state().account.as_deref(), Some("bob"));
        assert!(fx
            .outputs
            .iter()
            .any(|o| matches!(o, Output::Notice(n) if n.contains("another account"))));
    }

    #[test]
    fn auto_becomes_what_the_first_recognised_frame_says() {
        let cases: [(&[&str], Option<Dialect>); 4] = [
            (&[r#"{"newLikeNum":1}"#], Some(Dialect::Seed)),
            (&[WELCOME], Some(Dialect::Native)),
            (&[r#"{"type":"error","code":"x"}"#, "{bad"], None),
            (&[r#"{"type":"sparkle"}"#, WELCOME], Some(Dialect::Native)),
        ];
        for (frames, want) in cases {
            let mut s = open(Dialect::Auto, None);
            run(s.as_mut(), &mut Inbox::default(), frames);
            assert_eq!(s.dialect(), want, "{frames:?}");
        }
    }
}
