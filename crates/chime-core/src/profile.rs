//! A server profile: where to connect, which dialect, how to authenticate.
//! Secrets are wrapped so that `Debug` and log lines never show them.

use std::fmt;
use std::path::PathBuf;

use http::header::{HeaderName, HeaderValue};
use url::Url;

use crate::protocol::Dialect;

/// Errors in a profile, found before anything is dialled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("invalid server url: {0}")]
    Url(String),
    #[error("server url must start with ws:// or wss://, not {0}://")]
    Scheme(String),
    #[error("invalid header {0:?}: expected Name:Value with a valid name and value")]
    Header(String),
    #[error("invalid credential: {0}")]
    Credential(&'static str),
}

/// A secret string: shown as `***` in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How the client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `Cookie: <cookie>` (e.g. `sessionid=…` for a Django site).
    Cookie(Secret),
    /// `?<name>=<value>` in the URL.
    Query { name: String, value: Secret },
    /// `Authorization: Basic base64(user:password)` (ntfy accounts).
    Basic { user: String, password: Secret },
}

impl Auth {
    /// The credential from the usual flags, first given wins: bearer token,
    /// cookie, `NAME=VALUE` query parameter.
    pub fn from_flags(
        token: Option<String>,
        cookie: Option<String>,
        query: Option<&str>,
    ) -> Result<Auth, ProfileError> {
        if let Some(t) = token {
            return Ok(Auth::Bearer(Secret::new(t)));
        }
        if let Some(c) = cookie {
            return Ok(Auth::Cookie(Secret::new(c)));
        }
        match query {
            Some(q) => {
                let (name, value) = q.split_once('=').ok_or(ProfileError::Credential(
                    "query credential wants NAME=VALUE",
                ))?;
                Ok(Auth::Query {
                    name: name.to_owned(),
                    value: Secret::new(value.to_owned()),
                })
            }
            None => Ok(Auth::None),
        }
    }
}

/// Everything needed to reach one server. `Debug` shows the URL without
/// credentials.
#[derive(Clone)]
pub struct ServerProfile {
    pub url: Url,
    pub dialect: Dialect,
    pub auth: Auth,
    /// Extra request headers, already validated.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Extra PEM CA file trusted in addition to the OS roots.
    pub extra_ca: Option<PathBuf>,
}

impl fmt::Debug for ServerProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerProfile")
            .field("url", &self.display_url())
            .field("dialect", &self.dialect)
            .field("auth", &self.auth)
            .field("headers", &self.headers.len())
            .field("extra_ca", &self.extra_ca)
            .finish()
    }
}

impl ServerProfile {
    pub fn new(url: &str) -> Result<ServerProfile, ProfileError> {
        let url = Url::parse(url.trim()).map_err(|e| ProfileError::Url(e.to_string()))?;
        match url.scheme() {
            "ws" | "wss" => {}
            other => return Err(ProfileError::Scheme(other.to_owned())),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ProfileError::Url("no host".into()));
        }
        Ok(ServerProfile {
            url,
            dialect: Dialect::Auto,
            auth: Auth::None,
            headers: Vec::new(),
            extra_ca: None,
        })
    }

    /// A profile for `dialect`, from what a user typed (push services are
    /// pasted as web addresses; see [`crate::dialect::normalize_url`]).
    pub fn for_dialect(url: &str, dialect: Dialect) -> Result<ServerProfile, ProfileError> {
        let mut p = ServerProfile::new(&crate::dialect::normalize_url(dialect, url))?;
        p.dialect = dialect;
        Ok(p)
    }

    /// Add a `Name:Value` header.
    pub fn add_header(&mut self, spec: &str) -> Result<(), ProfileError> {
        // Name only: the value may be a credential (`Authorization: …`).
        let bad = || {
            let name = spec.split(':').next().unwrap_or_default().trim();
            ProfileError::Header(name.chars().take(40).collect())
        };
        let (name, value) = spec.split_once(':').ok_or_else(bad)?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
        let mut value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
        // Any header the user adds may be a credential (`X-Api-Key: …`):
        // `http` prints sensitive values as "Sensitive", and the value is
        // registered for log redaction when the profile is used.
        value.set_sensitive(true);
        self.headers.push((name, value));
        Ok(())
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
        let dialect = dialect.parse::<crate::protocol::Dialect>()?;
        let mut profile = ServerProfile::for_dialect(url, dialect).map_err(|e| e.to_string())?;
        for h in headers {
            profile.add_header(h).map_err(|e| e.to_string())?;
        }
        profile.auth = Auth::from_flags(token, cookie, query).map_err(|e| e.to_string())?;
        profile.validate().map_err(|e| e.to_string())?;
        Ok(profile)
    }

    /// Check that the credential can be put on the wire.
    pub fn validate(&self) -> Result<(), ProfileError> {
        match &self.auth {
            Auth::None => Ok(()),
            Auth::Bearer(s) | Auth::Cookie(s) => {
                if s.expose().is_empty() {
                    return Err(ProfileError::Credential("empty"));
                }
                HeaderValue::from_str(s.expose()).map(|_| ()).map_err(|_| {
                    ProfileError::Credential("contains characters a header cannot carry")
                })
            }
            Auth::Query { name, value } => {
                if name.is_empty() || value.expose().is_empty() {
                    Err(ProfileError::Credential("empty query parameter"))
                } else {
                    Ok(())
                }
            }
            Auth::Basic { user, password } => {
                if user.is_empty() || password.expose().is_empty() {
                    Err(ProfileError::Credential("empty user name or password"))
                } else if user.contains(':') || user.chars().any(char::is_control) {
                    Err(ProfileError::Credential("a user name cannot hold ':'"))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Register every credential of this profile for log redaction (the
    /// secret, the query value, the values of added headers, a password in
    /// the URL): whatever a library logs about the request, they are
    /// starred out.
    pub fn register_secrets(&self) {
        use crate::secrets::register_secret;
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(s) | Auth::Cookie(s) => register_secret(s.expose()),
            Auth::Basic { user, password } => {
                register_secret(password.expose());
                let header = crate::dialect::basic(user, password.expose());
                register_secret(header.trim_start_matches("Basic "));
            }
            Auth::Query { value, .. } => {
                register_secret(value.expose());
                // As it appears in the dialled URL, percent-encoded.
                let encoded: String =
                    url::form_urlencoded::byte_serialize(value.expose().as_bytes()).collect();
                register_secret(&encoded);
            }
        }
        for (_, v) in &self.headers {
            if let Ok(v) = v.to_str() {
                register_secret(v);
            }
        }
        if let Some(pw) = self.url.password() {
            register_secret(pw);
        }
        for (_, v) in self.url.query_pairs() {
            register_secret(&v);
        }
    }

    /// The URL actually dialled (with a query credential, if any).
    pub fn dial_url(&self) -> Url {
        let mut url = self.url.clone();
        if let Auth::Query { name, value } = &self.auth {
            url.query_pairs_mut().append_pair(name, value.expose());
        }
        url
    }

    /// The URL as it may be shown or logged: no credentials, no query values.
    pub fn display_url(&self) -> String {
        let mut url = self.url.clone();
        let _ = url.set_password(None);
        let _ = url.set_username("");
        if url.query().is_some() {
            let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
            url.set_query(None);
            let mut q = url.query_pairs_mut();
            for n in names {
                q.append_pair(&n, "***");
            }
        }
        url.to_string()
    }

    /// What a resume state belongs to: this server and this account,
    /// never the secret. A renewed cookie or token (same address, same
    /// sign-in method) keeps its place; where the account has a name
    /// here (a Basic or URL user name) another name starts afresh, and
    /// where the server names it (the native `welcome`) the state itself
    /// notices ([`crate::Inbox::apply_account`]). The URL keeps the names
    /// and non-credential values of its query.
    pub fn resume_key(&self) -> String {
        let (method, account) = match &self.auth {
            Auth::None => ("none", String::new()),
            Auth::Bearer(_) => ("token", String::new()),
            Auth::Cookie(_) => ("cookie", String::new()),
            Auth::Query { name, .. } => ("query", name.clone()),
            Auth::Basic { user, .. } => ("basic", user.clone()),
        };
        let mut key = format!("{} as {method}", self.resume_url());
        let user = self.url.username();
        for part in [account.as_str(), user] {
            if !part.is_empty() {
                key.push(':');
                key.push_str(part);
            }
        }
        key
    }

    /// The key Chime 0.1 kept resume states under (with a fingerprint of
    /// the secret): read once, at the first start after the upgrade, so
    /// nothing saved is lost.
    pub fn legacy_resume_key(&self) -> String {
        let (method, secret) = match &self.auth {
            Auth::None => ("none", String::new()),
            Auth::Bearer(s) => ("token", s.expose().to_owned()),
            Auth::Cookie(s) => ("cookie", s.expose().to_owned()),
            Auth::Query { name, value } => ("query", format!("{name}={}", value.expose())),
            Auth::Basic { user, password } => ("basic", format!("{user}:{}", password.expose())),
        };
        let mut who = secret;
        who.push('\u{0}');
        who.push_str(self.url.username());
        if let Some(pw) = self.url.password() {
            who.push_str(pw);
        }
        for (k, v) in self.url.query_pairs() {
            if crate::settings::CREDENTIAL_PARAMS.contains(&k.to_ascii_lowercase().as_str()) {
                who.push_str(&k);
                who.push_str(&v);
            }
        }
        let print = fnv1a(who.as_bytes()) & 0xffff;
        format!("{} as {method}:{print:04x}", self.resume_url())
    }

    /// The URL without userinfo and with credential values blanked.
    fn resume_url(&self) -> Url {
        let mut url = self.url.clone();
        let _ = url.set_password(None);
        let _ = url.set_username("");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        if !pairs.is_empty() {
            let mut q = url.query_pairs_mut();
            q.clear();
            for (k, v) in &pairs {
                let secret =
                    crate::settings::CREDENTIAL_PARAMS.contains(&k.to_ascii_lowercase().as_str());
                q.append_pair(k, if secret { "" } else { v });
            }
        }
        url
    }

    /// Host (and port) for status lines: "Connected to example.com".
    pub fn host_label(&self) -> String {
        let host = self.url.host_str().unwrap_or("server");
        match self.url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        }
    }

    pub fn is_tls(&self) -> bool {
        self.url.scheme() == "wss"
    }
}

/// FNV-1a, 64 bits: a stable hash (the same in every build and release),
/// for fingerprints that are persisted.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An option that belongs to one source on a command line.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceOpt {
    Name(String),
    Dialect(String),
    Token(String),
    Cookie(String),
    QueryToken(String),
    Header(String),
    Heartbeat(f64),
}

impl SourceOpt {
    fn flag(&self) -> &'static str {
        match self {
            SourceOpt::Name(_) => "--name",
            SourceOpt::Dialect(_) => "--dialect",
            SourceOpt::Token(_) => "--token",
            SourceOpt::Cookie(_) => "--cookie",
            SourceOpt::QueryToken(_) => "--query-token",
            SourceOpt::Header(_) => "--header",
            SourceOpt::Heartbeat(_) => "--heartbeat",
        }
    }
}

/// One source as the command line describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceFlags {
    pub server: String,
    pub name: Option<String>,
    pub dialect: Option<String>,
    pub token: Option<String>,
    pub cookie: Option<String>,
    pub query_token: Option<String>,
    pub headers: Vec<String>,
    pub heartbeat: Option<f64>,
}

impl SourceFlags {
    /// The label of this source in output: `--name`, else host and path.
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return crate::announce::sanitize(n, 60);
        }
        match Url::parse(self.server.trim()) {
            Ok(u) => {
                let host = u.host_str().unwrap_or("server");
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                let path = u.path().trim_end_matches('/');
                format!("{host}{port}{path}")
            }
            Err(_) => crate::announce::sanitize(&self.server, 60),
        }
    }
}

impl SourceFlags {
    /// The profile and supervisor config this group describes (heartbeat
    /// 30 s unless given, and refused at 60 s or more for seed and auto).
    pub fn profile(&self) -> Result<(ServerProfile, crate::supervisor::Config), String> {
        let profile = ServerProfile::from_flags(
            &self.server,
            self.dialect.as_deref().unwrap_or("auto"),
            &self.headers,
            self.token.clone(),
            self.cookie.clone(),
            self.query_token.as_deref(),
        )?;
        let mut profile = profile;
        // ntfy accounts: `--token user:password` (ntfy tokens hold no ':').
        if let (Dialect::Ntfy, Auth::Bearer(t)) = (profile.dialect, &profile.auth) {
            if let Some((user, pw)) = t.expose().split_once(':') {
                profile.auth = Auth::Basic {
                    user: user.to_owned(),
                    password: Secret::new(pw),
                };
                profile.validate().map_err(|e| e.to_string())?;
            }
        }
        let heartbeat = if profile.dialect.server_pings() {
            if self.heartbeat.is_some() {
                return Err(
                    "--heartbeat: ntfy and Gotify servers ping Chime; nothing is sent".into(),
                );
            }
            crate::policy::Heartbeat::SERVER_PINGS
        } else {
            let secs = self.heartbeat.unwrap_or(30.0);
            if let Some(p) = crate::settings::heartbeat_problem(profile.dialect, secs) {
                return Err(format!("--heartbeat: {p}"));
            }
            crate::policy::Heartbeat::with_interval(std::time::Duration::from_secs_f64(secs))
        };
        let config = crate::supervisor::Config {
            dialect: profile.dialect,
            heartbeat,
            ..crate::supervisor::Config::default()
        };
        Ok((profile, config))
    }
}

/// Per-source options grouped as ffmpeg groups per-input options: each
/// belongs to the `--server` before it (the ones before the first
/// `--server` to the first). Positions are the arguments' indices on the
/// command line. A credential or setting given twice for one source is an
/// error, as is an option with no `--server` at all.
pub fn group_sources(
    servers: &[(usize, String)],
    options: &[(usize, SourceOpt)],
) -> Result<Vec<SourceFlags>, String> {
    if servers.is_empty() {
        return Err(match options.first() {
            Some((_, o)) => format!("{} needs a --server", o.flag()),
            None => "--server is required".into(),
        });
    }
    let mut servers = servers.to_vec();
    servers.sort_by_key(|(i, _)| *i);
    let mut out: Vec<SourceFlags> = servers
        .iter()
        .map(|(_, s)| SourceFlags {
            server: s.clone(),
            ..SourceFlags::default()
        })
        .collect();
    for (at, opt) in options {
        let n = servers.iter().rposition(|(i, _)| i < at).unwrap_or(0);
        let src = &mut out[n];
        let twice = |what: &str| {
            Err(format!(
                "{what} given twice for --server {}",
                src_label(&servers[n].1)
            ))
        };
        macro_rules! once {
            ($field:expr, $v:expr, $flag:expr) => {
                if $field.is_some() {
                    return twice($flag);
                }
                $field = Some($v.clone());
            };
        }
        match opt {
            SourceOpt::Name(v) => {
                once!(src.name, v, "--name");
            }
            SourceOpt::Dialect(v) => {
                once!(src.dialect, v, "--dialect");
            }
            SourceOpt::Token(v) => {
                once!(src.token, v, "--token");
            }
            SourceOpt::Cookie(v) => {
                once!(src.cookie, v, "--cookie");
            }
            SourceOpt::QueryToken(v) => {
                once!(src.query_token, v, "--query-token");
            }
            SourceOpt::Heartbeat(v) => {
                once!(src.heartbeat, v, "--heartbeat");
            }
            SourceOpt::Header(v) => src.headers.push(v.clone()),
        }
    }
    for s in &out {
        let creds = [&s.token, &s.cookie, &s.query_token]
            .iter()
            .filter(|c| c.is_some())
            .count();
        if creds > 1 {
            return Err(format!(
                "--server {}: give one of --token, --cookie, --query-token",
                src_label(&s.server)
            ));
        }
    }
    // Labels name sources in output: make them unique.
    let labels: Vec<String> = out.iter().map(SourceFlags::label).collect();
    for (i, s) in out.iter_mut().enumerate() {
        let same = labels[..i].iter().filter(|l| **l == labels[i]).count();
        if same > 0 || labels[i + 1..].contains(&labels[i]) {
            s.name = Some(format!("{} #{}", labels[i], same + 1));
        }
    }
    Ok(out)
}

/// The sources a command line describes: the per-source options of a
/// clap command (ids `server`, `name`, `dialect`, `token`, `cookie`,
/// `query_token`, `header`, `heartbeat`) grouped by their positions
/// ([`group_sources`]). A credential from the environment applies only
/// when there is one `--server`.
#[cfg(feature = "cli")]
pub fn sources_from_matches(m: &clap::ArgMatches) -> Result<Vec<SourceFlags>, String> {
    use clap::parser::ValueSource;
    fn at<T: Clone + Send + Sync + 'static>(m: &clap::ArgMatches, id: &str) -> Vec<(usize, T)> {
        match (m.indices_of(id), m.get_many::<T>(id)) {
            (Some(i), Some(v)) => i.zip(v.cloned()).collect(),
            _ => Vec::new(),
        }
    }
    let servers: Vec<(usize, String)> = at(m, "server");
    let mut opts: Vec<(usize, SourceOpt)> = Vec::new();
    opts.extend(
        at::<String>(m, "name")
            .into_iter()
            .map(|(i, v)| (i, SourceOpt::Name(v))),
    );
    opts.extend(
        at::<String>(m, "dialect")
            .into_iter()
            .map(|(i, v)| (i, SourceOpt::Dialect(v))),
    );
    opts.extend(
        at::<String>(m, "query_token")
            .into_iter()
            .map(|(i, v)| (i, SourceOpt::QueryToken(v))),
    );
    opts.extend(
        at::<String>(m, "header")
            .into_iter()
            .map(|(i, v)| (i, SourceOpt::Header(v))),
    );
    opts.extend(
        at::<f64>(m, "heartbeat")
            .into_iter()
            .map(|(i, v)| (i, SourceOpt::Heartbeat(v))),
    );
    // A credential from the environment has no position: it belongs to the
    // one source there is, and to no guess among several.
    for (id, wrap) in [
        ("token", SourceOpt::Token as fn(String) -> SourceOpt),
        ("cookie", SourceOpt::Cookie),
    ] {
        if m.value_source(id) == Some(ValueSource::EnvVariable) {
            let Some(v) = m.get_one::<String>(id) else {
                continue;
            };
            if servers.len() != 1 {
                return Err(format!(
                    "CHIME_{} applies only with one --server; give --{id} after each --server",
                    id.to_ascii_uppercase()
                ));
            }
            opts.push((0, wrap(v.clone())));
        } else {
            opts.extend(at::<String>(m, id).into_iter().map(|(i, v)| (i, wrap(v))));
        }
    }
    group_sources(&servers, &opts)
}

/// A server as named in an error: host and path, never a query value.
fn src_label(server: &str) -> String {
    SourceFlags {
        server: server.to_owned(),
        ..SourceFlags::default()
    }
    .label()
}

/// The flag that prints a binary's man page (roff, to stdout) instead of
/// running it: `make man` uses it, so the pages come from the clap
/// definitions themselves.
#[cfg(feature = "cli")]
pub const MAN_FLAG: &str = "--print-man-page";

/// If the command line is exactly `<bin> --print-man-page`, print the man
/// page of `cmd` and say so (the caller exits).
#[cfg(feature = "cli")]
pub fn print_man_if_asked(cmd: clap::Command) -> bool {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(MAN_FLAG)) || args.next().is_some() {
        return false;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
        eprintln!("cannot write the man page: {e}");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_websocket_urls_with_a_host_are_accepted() {
        assert!(ServerProfile::new("ws://127.0.0.1:9/pushMsg").is_ok());
        assert!(ServerProfile::new(" wss://example.com/v1/stream ").is_ok());
        assert_eq!(
            ServerProfile::new("http://example.com").unwrap_err(),
            ProfileError::Scheme("http".into())
        );
        assert!(matches!(
            ServerProfile::new("not a url"),
            Err(ProfileError::Url(_))
        ));
    }

    #[test]
    fn secrets_never_show_in_debug_or_display_url() {
        let mut p = ServerProfile::new("wss://u:pw@example.com/s?user=alice").unwrap();
        p.auth = Auth::Query {
            name: "token".into(),
            value: Secret::new("s3cr3t"),
        };
        assert!(p.dial_url().as_str().contains("token=s3cr3t"));
        let shown = format!("{p:?} {}", p.display_url());
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(!shown.contains("pw"), "{shown}");
        assert!(!shown.contains("alice"), "{shown}");
        p.auth = Auth::Bearer(Secret::new("tok3n"));
        assert!(!format!("{p:?}").contains("tok3n"));
    }

    #[test]
    fn headers_are_validated() {
        let mut p = ServerProfile::new("ws://h/").unwrap();
        assert!(p.add_header("X-Site: chime").is_ok());
        assert!(p.add_header("no colon").is_err());
        assert!(p.add_header("Bad Name: x").is_err());
        assert!(p.add_header("X-A: line\nbreak").is_err());
        p.auth = Auth::Bearer(Secret::new("a\nb"));
        assert!(p.validate().is_err());
    }

    #[test]
    fn a_renewed_secret_keeps_the_resume_key_and_another_named_account_does_not() {
        let key = |auth: Auth| {
            let mut p = ServerProfile::new("wss://h/v1/stream?user=alice&token=q1").expect("url");
            p.auth = auth;
            p.resume_key()
        };
        let token = |t: &str| key(Auth::Bearer(Secret::new(t)));
        let cookie = |c: &str| key(Auth::Cookie(Secret::new(c)));
        let basic = |u: &str, pw: &str| {
            key(Auth::Basic {
                user: u.into(),
                password: Secret::new(pw),
            })
        };
        assert_eq!(
            token("old-secret-1"),
            token("new-secret-2"),
            "renewed token"
        );
        assert_eq!(
            cookie("sessionid=aa"),
            cookie("sessionid=bb"),
            "renewed cookie"
        );
        assert_eq!(basic("ann", "pw-1"), basic("ann", "pw-2"), "new password");
        assert_ne!(basic("ann", "pw"), basic("bob", "pw"), "another user");
        assert_ne!(token("t"), cookie("t"), "another sign-in method");
        let a = token("account-one-secret");
        assert_eq!(a, "wss://h/v1/stream?user=alice&token= as token");
        for k in [a, cookie("sessionid=aa"), basic("ann", "pw-1")] {
            assert!(
                !k.contains("secret") && !k.contains("aa") && !k.contains("pw"),
                "{k}"
            );
            assert!(!k.contains("q1"), "{k}");
        }
        // Pinned: a persisted key must not change between releases.
        assert_eq!(fnv1a(b"chime"), 0x6220_4f76_24fc_8da7);
        let mut p = ServerProfile::new("wss://h/v1/stream?user=alice").expect("url");
        p.auth = Auth::Bearer(Secret::new("account-one-secret"));
        let legacy = p.legacy_resume_key();
        assert!(
            legacy.starts_with("wss://h/v1/stream?user=alice as token:"),
            "{legacy}"
        );
        assert!(!legacy.contains("secret"));
    }

    #[test]
    fn options_belong_to_the_server_before_them() {
        let servers = [
            (1, "ws://a:1/pushMsg".to_owned()),
            (5, "wss://b/v1/stream?token=q".to_owned()),
        ];
        let opts = [
            (0, SourceOpt::Token("early".into())),
            (3, SourceOpt::Dialect("seed".into())),
            (7, SourceOpt::Header("X-A: 1".into())),
            (9, SourceOpt::Name("Blog".into())),
            (11, SourceOpt::Header("X-B: 2".into())),
        ];
        let g = group_sources(&servers, &opts).expect("groups");
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].token.as_deref(), Some("early"));
        assert_eq!(g[0].dialect.as_deref(), Some("seed"));
        assert_eq!(g[0].label(), "a:1/pushMsg");
        assert_eq!(g[1].headers, vec!["X-A: 1".to_owned(), "X-B: 2".to_owned()]);
        assert_eq!(g[1].label(), "Blog");
        assert!(g[1].token.is_none());
    }

    #[test]
    fn a_setting_twice_for_one_server_and_two_credentials_are_errors() {
        let servers = [(1, "ws://a/".to_owned())];
        let twice = [
            (2, SourceOpt::Token("x".into())),
            (3, SourceOpt::Token("y".into())),
        ];
        let e = group_sources(&servers, &twice).expect_err("twice");
        assert!(e.contains("--token given twice"), "{e}");
        let both = [
            (2, SourceOpt::Token("x".into())),
            (3, SourceOpt::Cookie("c".into())),
        ];
        assert!(group_sources(&servers, &both).is_err());
        assert!(group_sources(&[], &[(1, SourceOpt::Token("t".into()))]).is_err());
    }

    #[test]
    fn sources_with_the_same_label_are_told_apart() {
        let servers = [(1, "ws://h/s".to_owned()), (2, "ws://h/s".to_owned())];
        let g = group_sources(&servers, &[]).expect("groups");
        assert_eq!(g[0].label(), "h/s #1");
        assert_eq!(g[1].label(), "h/s #2");
    }

    #[test]
    fn a_bad_header_is_named_without_its_value() {
        let mut p = ServerProfile::new("ws://h/").expect("url");
        let e = p
            .add_header("Authorization: Bearer s3cret\u{1}")
            .expect_err("control character");
        let text = e.to_string();
        assert!(text.contains("\"Authorization\""), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }
}
