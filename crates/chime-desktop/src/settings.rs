//! The settings file: what the user chose, with a schema version, validated,
//! and written so that a crash never leaves an empty or half-written file.
//! Secrets are not here (see [`crate::secrets`]).

use crate::fsutil::write_atomic;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use chime_engine::dialect::heartbeat_problem;
use chime_engine::policy::Heartbeat;
use chime_engine::profile::{Auth, ProfileError, Secret, ServerProfile, CREDENTIAL_PARAMS};
use chime_engine::supervisor::Config;
use chime_proto::protocol::{Dialect, Kind};

pub use chime_engine::quiet::{parse_hhmm, QuietHours};

/// The schema this version writes; files with a higher one are not ours.
pub const SCHEMA: u32 = 2;

/// The id of the source a schema-1 file described (and the store's
/// default source).
pub const FIRST_SOURCE: &str = "default";

/// Ids of sources given on the command line start with this, and the
/// demo's is [`DEMO_SOURCE`]: no saved source may take either (see
/// [`Settings::validate`]), so a flag run never writes a saved source's
/// rows, resume state or secrets.
pub const FLAG_SOURCE_PREFIX: &str = "cli:";
pub const DEMO_SOURCE: &str = "demo";

/// The heartbeat periods Settings accept, in seconds.
pub const HEARTBEAT_SECS: std::ops::RangeInclusive<u32> = 5..=600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub schema: u32,
    /// Where news comes from, in the order the tray shows them.
    pub sources: Vec<SourceSettings>,
    pub notify: NotifySettings,
    pub quiet_hours: QuietHours,
    pub start_at_login: bool,
    pub start_hidden: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            schema: SCHEMA,
            sources: Vec::new(),
            notify: NotifySettings::default(),
            quiet_hours: QuietHours::default(),
            start_at_login: false,
            start_hidden: true,
        }
    }
}

/// How the app proves who the user is; the secret itself lives elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    #[default]
    None,
    /// `Authorization: Bearer <secret>`.
    Token,
    /// `Cookie: <secret>`.
    Cookie,
    /// `?<query_name>=<secret>` in the URL (servers that take `?token=`).
    Query,
    /// `Authorization: Basic` with `username` and the secret as password
    /// (ntfy accounts).
    Basic,
}

/// One source: a stable id (its rows, resume state and secret hang on it),
/// a name for the tray and toasts, on or off, and its connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceSettings {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    /// No toasts from this source (its badge and inbox still update).
    pub muted: bool,
    /// Which kinds of this source pop up (with the general setting: a kind
    /// pops up only if both allow it).
    pub kinds: SourceKinds,
    #[serde(flatten)]
    pub server: ServerSettings,
}

impl Default for SourceSettings {
    fn default() -> Self {
        SourceSettings {
            id: FIRST_SOURCE.into(),
            name: String::new(),
            enabled: true,
            muted: false,
            kinds: SourceKinds::default(),
            server: ServerSettings::default(),
        }
    }
}

impl SourceSettings {
    /// The name shown: the given one, else the server's host.
    pub fn label(&self) -> String {
        let name = chime_proto::text::sanitize(&self.name, 60);
        if !name.is_empty() {
            return name;
        }
        ServerProfile::new(self.server.url.trim())
            .map(|p| p.host_label())
            .unwrap_or_else(|_| self.id.clone())
    }
}

/// The scheme of links that propose a source (`chime://add?url=…`).
pub const LINK_SCHEME: &str = "chime";

impl SourceSettings {
    /// A source proposed by a link a site or push service offers:
    /// `chime://add?url=<ws(s) or http(s) address>&protocol=<seed|native|auto>&name=<name>`.
    /// Nothing is added until the user confirms it in Settings, and no
    /// secret is ever taken from a link: credential parameters in the
    /// address are dropped (the user enters the secret). `http(s)` is
    /// mapped to `ws(s)`. The id is left for the caller to make unique.
    pub fn from_link(link: &str) -> Result<SourceSettings, String> {
        let link = url::Url::parse(link.trim()).map_err(|_| "not a link".to_owned())?;
        if link.scheme() != LINK_SCHEME {
            return Err(format!("not a {LINK_SCHEME}:// link"));
        }
        let what = link.host_str().unwrap_or_default();
        let what = if what.is_empty() {
            link.path().trim_matches('/')
        } else {
            what
        };
        if what != "add" {
            return Err("this link asks for nothing Chime knows".into());
        }
        let mut src = SourceSettings {
            id: String::new(),
            ..SourceSettings::default()
        };
        let mut address = None;
        for (k, v) in link.query_pairs() {
            match k.as_ref() {
                "url" => address = Some(v.into_owned()),
                "name" => src.name = chime_proto::text::sanitize(&v, 60),
                "protocol" => {
                    src.server.dialect = v
                        .parse()
                        .map_err(|_| "the link names a protocol Chime does not speak".to_owned())?
                }
                // Anything else (a token, a password) is not taken.
                _ => {}
            }
        }
        let address = address.ok_or("the link has no address")?;
        let mut url = url::Url::parse(address.trim())
            .map_err(|_| "the link's address is not valid".to_owned())?;
        let scheme = match url.scheme() {
            "ws" | "http" => "ws",
            "wss" | "https" => "wss",
            _ => return Err("the link's address is not a web address".into()),
        };
        url.set_scheme(scheme)
            .map_err(|_| "the link's address is not valid".to_owned())?;
        let _ = url.set_username("");
        let _ = url.set_password(None);
        src.server.url = url.to_string();
        // A credential in the address is dropped, not kept.
        let _ = src.server.take_url_credential();
        src.server.auth = AuthMethod::None;
        ServerProfile::new(&src.server.url).map_err(|e| e.to_string())?;
        Ok(src)
    }
}

/// A source's own choice of kinds that pop up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceKinds {
    pub likes: bool,
    pub dislikes: bool,
    pub replies: bool,
    pub messages: bool,
    /// Messages below this priority (Chime's 1–5 scale, see
    /// [`chime_proto::protocol::DEFAULT_PRIORITY`]) go to the inbox and the
    /// badge without a toast.
    pub min_priority: u8,
}

impl Default for SourceKinds {
    fn default() -> Self {
        SourceKinds {
            likes: true,
            dislikes: true,
            replies: true,
            messages: true,
            min_priority: chime_proto::protocol::DEFAULT_PRIORITY,
        }
    }
}

impl SourceKinds {
    pub fn get(&self, kind: Kind) -> bool {
        match kind {
            Kind::Like => self.likes,
            Kind::Dislike => self.dislikes,
            Kind::Reply => self.replies,
            Kind::Message => self.messages,
        }
    }
}

/// Source ids: what a store key and a keyring account can carry.
fn valid_source_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// Empty: no server configured yet.
    pub url: String,
    pub dialect: Dialect,
    pub auth: AuthMethod,
    pub heartbeat_secs: u32,
    /// The user agreed to send credentials unencrypted (`ws://` to a host
    /// that is not this machine).
    pub allow_insecure: bool,
    /// The parameter name of the Query sign-in method.
    pub query_name: String,
    /// The user name of the Basic sign-in method.
    pub username: String,
    /// Gotify: reading a message here deletes it on the server (off: read
    /// state is Chime's own).
    pub delete_on_read: bool,
    /// A PEM file of CA certificates trusted for this server besides the
    /// system's (a self-signed or company certificate); empty: none.
    pub ca_file: String,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            url: String::new(),
            dialect: Dialect::Auto,
            auth: AuthMethod::None,
            heartbeat_secs: 30,
            allow_insecure: false,
            query_name: "token".into(),
            username: String::new(),
            delete_on_read: false,
            ca_file: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifySettings {
    pub likes: bool,
    pub dislikes: bool,
    pub replies: bool,
    pub messages: bool,
    pub sound: bool,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            likes: true,
            dislikes: true,
            replies: true,
            messages: true,
            sound: true,
        }
    }
}

impl NotifySettings {
    pub fn get(&self, kind: Kind) -> bool {
        match kind {
            Kind::Like => self.likes,
            Kind::Dislike => self.dislikes,
            Kind::Reply => self.replies,
            Kind::Message => self.messages,
        }
    }
}

/// One problem with one field, for the settings window to show beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn field(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

impl Settings {
    /// Everything wrong with these settings (empty when they can be saved).
    /// A source's fields are named `sources.<index>.<field>`.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (i, src) in self.sources.iter().enumerate() {
            let at = format!("sources.{i}.");
            if !valid_source_id(&src.id) {
                errors.push(field(
                    format!("{at}id"),
                    "a source id uses letters, digits, - _ : .",
                ));
            } else if src.id.starts_with(FLAG_SOURCE_PREFIX) || src.id == DEMO_SOURCE {
                errors.push(field(
                    format!("{at}id"),
                    "this id is kept for sources given on the command line",
                ));
            } else if self.sources[..i].iter().any(|o| o.id == src.id) {
                errors.push(field(format!("{at}id"), "two sources have this id"));
            }
            src.server.validate(&at, &mut errors);
            if !(1..=5).contains(&src.kinds.min_priority) {
                errors.push(field(format!("{at}min_priority"), "a priority from 1 to 5"));
            }
        }
        for (name, value) in [
            ("quiet_hours.from", &self.quiet_hours.from),
            ("quiet_hours.to", &self.quiet_hours.to),
        ] {
            if parse_hhmm(value).is_none() {
                errors.push(field(name, "use a time like 22:00"));
            }
        }
        if self.quiet_hours.enabled && !self.quiet_hours.days.iter().any(|d| *d) {
            errors.push(field("quiet_hours.days", "choose at least one day"));
        }
        errors
    }

    /// The first source (the one a one-source Settings window edits),
    /// made if there is none.
    pub fn first_mut(&mut self) -> &mut SourceSettings {
        if self.sources.is_empty() {
            self.sources.push(SourceSettings::default());
        }
        &mut self.sources[0]
    }

    /// Credentials pasted into any source's URL leave it (see
    /// [`ServerSettings::take_url_credential`]): (source index, secret).
    pub fn take_url_credentials(&mut self) -> Vec<(usize, Secret)> {
        self.sources
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.server.take_url_credential().map(|c| (i, c)))
            .collect()
    }
}

impl ServerSettings {
    /// What is wrong with this connection, fields named `<at><field>`.
    pub fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        let s = self;
        if !s.url.trim().is_empty() {
            let profile = ServerProfile::for_dialect(s.url.trim(), s.dialect).and_then(|p| {
                // The dialect's own reading of the address (ntfy topics).
                chime_engine::dialect::endpoint(&p, &Default::default())
                    .map(|_| p)
                    .map_err(ProfileError::Url)
            });
            match profile {
                Err(e) => errors.push(field(format!("{at}url"), e.to_string())),
                Ok(p) if !p.is_tls() && !is_loopback(&p) && !s.allow_insecure => {
                    errors.push(field(
                        format!("{at}allow_insecure"),
                        "ws:// sends your credentials and events unencrypted to another machine: \
                         use wss://, or tick the box to allow it",
                    ))
                }
                Ok(_) => {}
            }
        }
        if !HEARTBEAT_SECS.contains(&s.heartbeat_secs) {
            errors.push(field(
                format!("{at}heartbeat_secs"),
                format!(
                    "the heartbeat must be between {} and {} seconds",
                    HEARTBEAT_SECS.start(),
                    HEARTBEAT_SECS.end()
                ),
            ));
        } else if let Some(p) = heartbeat_problem(s.dialect, f64::from(s.heartbeat_secs)) {
            errors.push(field(format!("{at}heartbeat_secs"), p));
        }
        if s.auth == AuthMethod::Basic && (s.username.trim().is_empty() || s.username.contains(':'))
        {
            errors.push(field(
                format!("{at}username"),
                "enter the user name (without ':')",
            ));
        }
        if let Some(problem) = s.ca_file_problem() {
            errors.push(field(format!("{at}ca_file"), problem));
        }
        if s.auth == AuthMethod::Query && !valid_param_name(&s.query_name) {
            errors.push(field(
                format!("{at}query_name"),
                "the parameter name may use letters, digits, - and _",
            ));
        }
    }

    /// The connection these settings describe, with `secret` for the chosen
    /// authentication method; `None` when no server is set.
    pub fn profile(
        &self,
        secret: Option<Secret>,
    ) -> Result<Option<(ServerProfile, Config)>, String> {
        let s = self;
        if s.url.trim().is_empty() {
            return Ok(None);
        }
        let mut profile =
            ServerProfile::for_dialect(s.url.trim(), s.dialect).map_err(|e| e.to_string())?;
        profile.auth = match (s.auth, secret) {
            (AuthMethod::None, _) => Auth::None,
            (AuthMethod::Token, Some(t)) => Auth::Bearer(t),
            (AuthMethod::Cookie, Some(c)) => Auth::Cookie(c),
            (AuthMethod::Query, Some(v)) => Auth::Query {
                name: s.query_name.trim().to_owned(),
                value: v,
            },
            (AuthMethod::Basic, Some(password)) => Auth::Basic {
                user: s.username.trim().to_owned(),
                password,
            },
            (_, None) => return Err("no saved secret for this server: enter it in Settings".into()),
        };
        profile.extra_ca = s.ca_path();
        profile.validate().map_err(|e| e.to_string())?;
        let mut secs = s
            .heartbeat_secs
            .clamp(*HEARTBEAT_SECS.start(), *HEARTBEAT_SECS.end());
        if heartbeat_problem(s.dialect, f64::from(secs)).is_some() {
            // A file saved before the rule: the default, not a link cut
            // every minute.
            secs = ServerSettings::default().heartbeat_secs;
        }
        let config = Config {
            dialect: s.dialect,
            heartbeat: if chime_engine::dialect::protocol(s.dialect).server_pings {
                Heartbeat::SERVER_PINGS
            } else {
                Heartbeat::with_interval(Duration::from_secs(u64::from(secs)))
            },
            ..Config::default()
        };
        Ok(Some((profile, config)))
    }
}

impl ServerSettings {
    /// The CA file, when one is set.
    pub fn ca_path(&self) -> Option<std::path::PathBuf> {
        let path = self.ca_file.trim();
        (!path.is_empty()).then(|| std::path::PathBuf::from(path))
    }

    /// Why the CA file cannot be used: not an absolute path, unreadable,
    /// or without a certificate (read as the link will read it).
    fn ca_file_problem(&self) -> Option<String> {
        let path = self.ca_path()?;
        if !path.is_absolute() {
            return Some("the full path of a PEM file, e.g. /etc/ssl/my-ca.pem".into());
        }
        match chime_client::tls_config(Some(&path)) {
            Err(chime_client::ClientError::CaFile { problem, .. }) => {
                Some(format!("cannot use this file: {problem}"))
            }
            _ => None,
        }
    }
}

fn valid_param_name(name: &str) -> bool {
    let name = name.trim();
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl ServerSettings {
    /// A credential pasted into the server URL (`?token=…`) leaves it: the
    /// URL keeps the other parameters, the sign-in method becomes Query
    /// with that parameter's name, and the value is returned for the
    /// secret store. `None` when the URL carries no credential.
    pub fn take_url_credential(&mut self) -> Option<Secret> {
        let mut url = url::Url::parse(self.url.trim()).ok()?;
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let pos = pairs.iter().position(|(k, v)| {
            !v.is_empty() && CREDENTIAL_PARAMS.contains(&k.to_ascii_lowercase().as_str())
        })?;
        let (name, value) = pairs[pos].clone();
        let rest: Vec<_> = pairs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != pos)
            .collect();
        if rest.is_empty() {
            url.set_query(None);
        } else {
            let mut q = url.query_pairs_mut();
            q.clear();
            for (_, (k, v)) in rest {
                q.append_pair(k, v);
            }
        }
        self.url = url.to_string();
        self.auth = AuthMethod::Query;
        self.query_name = name;
        Some(Secret::new(value))
    }
}

fn is_loopback(p: &ServerProfile) -> bool {
    match p.url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// What loading found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub settings: Settings,
    /// Something the user should be told (a file set aside, a migration).
    pub notice: Option<String>,
    /// A secret found in an old settings file, for the first source, to
    /// move to the secret store (the file is rewritten without it).
    pub migrated_secret: Option<Secret>,
    /// The file was of an older schema (kept beside it as a backup): write
    /// it anew.
    pub rewrite: bool,
}

/// A schema-1 file: one server.
#[derive(Deserialize)]
#[serde(default)]
struct V1 {
    server: ServerSettings,
    notify: NotifySettings,
    quiet_hours: QuietHours,
    start_at_login: bool,
    start_hidden: bool,
}

impl Default for V1 {
    fn default() -> Self {
        let d = Settings::default();
        V1 {
            server: ServerSettings::default(),
            notify: d.notify,
            quiet_hours: d.quiet_hours,
            start_at_login: d.start_at_login,
            start_hidden: d.start_hidden,
        }
    }
}

impl V1 {
    /// The one server becomes the first source.
    fn upgrade(self) -> Settings {
        let sources = if self.server.url.trim().is_empty() {
            Vec::new()
        } else {
            vec![SourceSettings {
                server: self.server,
                ..SourceSettings::default()
            }]
        };
        Settings {
            schema: SCHEMA,
            sources,
            notify: self.notify,
            quiet_hours: self.quiet_hours,
            start_at_login: self.start_at_login,
            start_hidden: self.start_hidden,
        }
    }
}

/// The settings file of issue-4 builds: flat, with the token inline.
#[derive(Deserialize)]
struct V0 {
    server: Option<String>,
    dialect: Option<Dialect>,
    token: Option<String>,
    cookie: Option<String>,
    heartbeat: Option<f64>,
    #[serde(default)]
    notify: NotifySettings,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot write {path}: {problem}")]
    Write { path: String, problem: String },
}

/// `settings.json` in a directory.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    pub path: PathBuf,
}

impl SettingsFile {
    pub fn in_dir(dir: &Path) -> SettingsFile {
        SettingsFile {
            path: dir.join("settings.json"),
        }
    }

    /// Read the file. A missing file is the defaults; a file that is not
    /// ours (corrupt, or from a newer version) is set aside under a new
    /// name and the defaults are used, with a notice saying where it went.
    pub fn load(&self) -> Loaded {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::default(),
            Err(e) => {
                return Loaded {
                    notice: Some(format!(
                        "cannot read {}: {e}; using the default settings",
                        self.path.display()
                    )),
                    ..Loaded::default()
                }
            }
        };
        let value: Result<serde_json::Value, _> = serde_json::from_slice(&text);
        let problem = match value {
            Ok(v) if v.get("schema").is_none() && v.is_object() => {
                match serde_json::from_value::<V0>(v) {
                    Ok(old) => return self.migrate(old),
                    Err(e) => format!("it is not valid ({e})"),
                }
            }
            Ok(v) => match v.get("schema").and_then(|s| s.as_u64()) {
                Some(n) if n > u64::from(SCHEMA) => {
                    format!("it was written by a newer Chime (schema {n})")
                }
                Some(1) => match serde_json::from_value::<V1>(v) {
                    Ok(old) => {
                        let mut s = old.upgrade();
                        let backup = self.path.with_file_name("settings.json.schema1");
                        if !backup.exists() {
                            if let Err(e) = std::fs::copy(&self.path, &backup) {
                                tracing::warn!("cannot keep the schema-1 settings: {e}");
                            }
                        }
                        // A credential saved in the URL by an older Chime
                        // moves to the secret store (the file is rewritten).
                        let migrated_secret = s.take_url_credentials().pop().map(|(_, c)| c);
                        return Loaded {
                            settings: s,
                            migrated_secret,
                            rewrite: true,
                            notice: None,
                        };
                    }
                    Err(e) => format!("it is not valid ({e})"),
                },
                _ => match serde_json::from_value::<Settings>(v) {
                    Ok(mut s) => {
                        s.schema = SCHEMA;
                        let migrated_secret =
                            s.take_url_credentials().first().map(|(_, c)| c.clone());
                        let rewrite = migrated_secret.is_some();
                        return Loaded {
                            settings: s,
                            migrated_secret,
                            rewrite,
                            notice: None,
                        };
                    }
                    Err(e) => format!("it is not valid ({e})"),
                },
            },
            Err(e) => format!("it is not valid JSON ({e})"),
        };
        let backup = self.set_aside();
        let notice = match backup {
            Ok(b) => format!(
                "Settings could not be read: {problem}. The file was kept as {} and the defaults are in use.",
                b.display()
            ),
            Err(e) => format!(
                "Settings could not be read: {problem}; setting the file aside failed too ({e}). The defaults are in use."
            ),
        };
        Loaded {
            notice: Some(notice),
            ..Loaded::default()
        }
    }

    fn migrate(&self, old: V0) -> Loaded {
        let mut s = Settings {
            notify: old.notify,
            ..Settings::default()
        };
        let mut server = ServerSettings {
            url: old.server.unwrap_or_default(),
            dialect: old.dialect.unwrap_or_default(),
            ..ServerSettings::default()
        };
        // `as` saturates (NaN is 0): out-of-range values keep the default.
        if let Some(h) = old
            .heartbeat
            .map(|h| h as u32)
            .filter(|h| HEARTBEAT_SECS.contains(h))
        {
            server.heartbeat_secs = h;
        }
        // Old files could point anywhere; keep them working as they did.
        server.allow_insecure = true;
        let (auth, secret) = match (old.token, old.cookie) {
            (Some(t), _) => (AuthMethod::Token, Some(Secret::new(t))),
            (None, Some(c)) => (AuthMethod::Cookie, Some(Secret::new(c))),
            (None, None) => (AuthMethod::None, None),
        };
        server.auth = auth;
        // One secret per server: a URL credential only when no other.
        let from_url = if secret.is_none() {
            server.take_url_credential()
        } else {
            None
        };
        if !server.url.trim().is_empty() {
            s.sources.push(SourceSettings {
                server,
                ..SourceSettings::default()
            });
        }
        Loaded {
            migrated_secret: secret.or(from_url),
            settings: s,
            notice: None,
            rewrite: true,
        }
    }

    fn set_aside(&self) -> std::io::Result<PathBuf> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let backup = self
            .path
            .with_file_name(format!("settings.json.bad-{stamp}"));
        std::fs::rename(&self.path, &backup)?;
        Ok(backup)
    }

    /// Write atomically: a temporary file beside it, fsync, rename, fsync
    /// the directory.
    pub fn save(&self, settings: &Settings) -> Result<(), SettingsError> {
        let mut s = settings.clone();
        s.schema = SCHEMA;
        let mut text = serde_json::to_vec_pretty(&s).unwrap_or_default();
        text.push(b'\n');
        write_atomic(&self.path, &text, 0o644).map_err(|e| SettingsError::Write {
            path: self.path.display().to_string(),
            problem: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_pasted_into_the_url_moves_to_the_query_sign_in() {
        let mut s = Settings::default();
        s.first_mut().server.url = "wss://push.example.com/s?user=alice&Token=s3cr3t&x=1".into();
        let secret = s
            .first_mut()
            .server
            .take_url_credential()
            .expect("a credential");
        assert_eq!(secret.expose(), "s3cr3t");
        assert_eq!(
            s.first_mut().server.url,
            "wss://push.example.com/s?user=alice&x=1"
        );
        assert_eq!(s.first_mut().server.auth, AuthMethod::Query);
        assert_eq!(s.first_mut().server.query_name, "Token");
        assert!(s.first_mut().server.take_url_credential().is_none());
        let (profile, _) = s
            .first_mut()
            .server
            .profile(Some(secret))
            .expect("profile")
            .expect("some");
        assert!(profile.dial_url().as_str().ends_with("&Token=s3cr3t"));
        s.first_mut().server.url = "wss://h/s?only=me".into();
        assert!(s.first_mut().server.take_url_credential().is_none());
    }

    #[test]
    fn a_schema_1_file_becomes_the_first_source_and_is_kept_as_a_backup() {
        let dir = std::env::temp_dir().join(format!("chime-settings-v1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let file = SettingsFile::in_dir(&dir);
        let v1 = r#"{"schema":1,"server":{"url":"wss://h/v1/stream","auth":"token","heartbeat_secs":45},"notify":{"likes":false},"start_hidden":false}"#;
        std::fs::write(&file.path, v1).expect("write");
        let loaded = file.load();
        assert!(loaded.rewrite);
        let s = &loaded.settings;
        assert_eq!(s.schema, SCHEMA);
        assert_eq!(s.sources.len(), 1);
        assert_eq!(s.sources[0].id, FIRST_SOURCE);
        assert!(s.sources[0].enabled);
        assert_eq!(s.sources[0].server.url, "wss://h/v1/stream");
        assert_eq!(s.sources[0].server.auth, AuthMethod::Token);
        assert_eq!(s.sources[0].server.heartbeat_secs, 45);
        assert!(!s.notify.likes);
        assert!(!s.start_hidden);
        assert_eq!(
            std::fs::read_to_string(dir.join("settings.json.schema1")).expect("backup"),
            v1
        );
        file.save(s).expect("save");
        let again = file.load();
        assert!(!again.rewrite);
        assert_eq!(&again.settings, s);
        let text = std::fs::read_to_string(&file.path).expect("read");
        assert!(text.contains("\"sources\""), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_link_proposes_a_source_without_any_secret() {
        let src = SourceSettings::from_link(
            "chime://add?url=https%3A%2F%2Fbob%3Apw%40push.example.com%2Fv1%2Fstream%3Ftoken%3Ds3cr3t%26user%3Dann&protocol=native&name=Example%1b%5B2J&token=x",
        )
        .expect("a source");
        assert_eq!(src.server.url, "wss://push.example.com/v1/stream?user=ann");
        assert_eq!(src.server.dialect, Dialect::Native);
        assert_eq!(src.server.auth, AuthMethod::None);
        assert_eq!(src.name, "Example[2J");
        assert!(!format!("{src:?}").contains("s3cr3t"));
        assert!(!format!("{src:?}").contains("pw"));
        for bad in [
            "https://add?url=wss://h/",
            "chime://remove?url=wss://h/",
            "chime://add",
            "chime://add?url=javascript:alert(1)",
            "chime://add?url=wss://h/&protocol=klingon",
            "chime://add?url=file:///etc/passwd",
        ] {
            assert!(SourceSettings::from_link(bad).is_err(), "{bad}");
        }
        assert!(SourceSettings::from_link("chime:add?url=ws://127.0.0.1:1/pushMsg").is_ok());
    }

    #[test]
    fn a_saved_source_cannot_take_an_id_kept_for_flag_runs_or_the_demo() {
        for (id, ok) in [
            ("cli:Work", false),
            ("demo", false),
            ("s-1a2b3c4d", true),
            ("default", true),
            ("democracy", true),
        ] {
            let s = Settings {
                sources: vec![SourceSettings {
                    id: id.into(),
                    server: ServerSettings {
                        url: "wss://a/".into(),
                        ..ServerSettings::default()
                    },
                    ..SourceSettings::default()
                }],
                ..Settings::default()
            };
            let id_errors = s
                .validate()
                .into_iter()
                .filter(|e| e.field == "sources.0.id")
                .count();
            assert_eq!(id_errors == 0, ok, "{id}");
        }
    }

    #[test]
    fn each_source_is_validated_with_its_index_and_ids_are_unique() {
        let s = Settings {
            sources: vec![
                SourceSettings {
                    id: "blog".into(),
                    server: ServerSettings {
                        url: "wss://a/".into(),
                        ..ServerSettings::default()
                    },
                    ..SourceSettings::default()
                },
                SourceSettings {
                    id: "blog".into(),
                    server: ServerSettings {
                        url: "not a url".into(),
                        ..ServerSettings::default()
                    },
                    ..SourceSettings::default()
                },
                SourceSettings {
                    id: "bad id!".into(),
                    ..SourceSettings::default()
                },
            ],
            ..Settings::default()
        };
        let fields: Vec<String> = s.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["sources.1.id", "sources.1.url", "sources.2.id"]);
    }

    #[test]
    fn a_settings_file_with_a_token_in_its_url_is_rewritten_without_it() {
        let dir = std::env::temp_dir().join(format!("chime-settings-url-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let file = SettingsFile::in_dir(&dir);
        std::fs::write(
            &file.path,
            r#"{"schema":1,"server":{"url":"wss://h/v1/stream?token=leaky9"}}"#,
        )
        .expect("write");
        let loaded = file.load();
        assert_eq!(
            loaded.migrated_secret.map(|s| s.expose().to_owned()),
            Some("leaky9".into())
        );
        assert_eq!(loaded.settings.sources[0].server.url, "wss://h/v1/stream");
        file.save(&loaded.settings).expect("save");
        let text = std::fs::read_to_string(&file.path).expect("read");
        assert!(!text.contains("leaky9"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn heartbeats_of_a_minute_or_more_are_refused_for_seed_and_auto_servers() {
        let table = [
            (Dialect::Seed, 30.0, true),
            (Dialect::Seed, 59.0, true),
            (Dialect::Seed, 60.0, false),
            (Dialect::Auto, 90.0, false),
            (Dialect::Native, 90.0, true),
            (Dialect::Native, -1.0, false),
            (Dialect::Native, f64::NAN, false),
        ];
        for (dialect, secs, ok) in table {
            assert_eq!(
                heartbeat_problem(dialect, secs).is_none(),
                ok,
                "{dialect:?} {secs}"
            );
        }
        let mut s = Settings::default();
        s.first_mut().server.url = "wss://h/".into();
        s.first_mut().server.heartbeat_secs = 120;
        assert!(s
            .validate()
            .iter()
            .any(|e| e.field == "sources.0.heartbeat_secs"));
        s.first_mut().server.dialect = Dialect::Native;
        assert!(s.validate().is_empty(), "{:?}", s.validate());
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("chime-settings-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn times_parse_strictly() {
        for (s, want) in [
            ("00:00", Some(0)),
            ("7:05", Some(425)),
            ("23:59", Some(1439)),
            ("24:00", None),
            ("12:60", None),
            ("noon", None),
            ("", None),
            ("+1:00", None),
        ] {
            assert_eq!(parse_hhmm(s), want, "{s}");
        }
    }

    #[test]
    fn validation_names_the_field_and_wants_consent_for_plain_remote_links() {
        let mut s = Settings::default();
        assert!(s.validate().is_empty());
        s.first_mut().server.url = "not a url".into();
        assert_eq!(s.validate()[0].field, "sources.0.url");
        s.first_mut().server.url = "ws://chime.example.com/v1/stream".into();
        assert_eq!(s.validate()[0].field, "sources.0.allow_insecure");
        s.first_mut().server.allow_insecure = true;
        assert!(s.validate().is_empty());
        for local in [
            "ws://127.0.0.1:9/x",
            "ws://localhost:9/x",
            "ws://[::1]:9/x",
            "wss://chime.example.com/",
        ] {
            s.first_mut().server.url = local.into();
            s.first_mut().server.allow_insecure = false;
            assert!(s.validate().is_empty(), "{local}");
        }
        s.first_mut().server.heartbeat_secs = 1;
        s.quiet_hours.from = "25:00".into();
        let fields: Vec<_> = s.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["sources.0.heartbeat_secs", "quiet_hours.from"]);
    }

    #[test]
    fn a_ca_file_must_be_a_full_path_to_a_readable_pem_file() {
        let dir = temp_dir("ca-file");
        let not_pem = dir.join("notes.txt");
        std::fs::write(&not_pem, "hello").expect("write");
        let mut s = Settings::default();
        s.first_mut().server.url = "wss://chime.example.com/v1/stream".into();
        for (path, says) in [
            ("ca.pem".to_owned(), "full path"),
            (dir.join("missing.pem").display().to_string(), "cannot use"),
            (not_pem.display().to_string(), "no PEM certificates"),
        ] {
            s.first_mut().server.ca_file = path.clone();
            let errors = s.validate();
            assert_eq!(errors.len(), 1, "{path}: {errors:?}");
            assert_eq!(errors[0].field, "sources.0.ca_file");
            assert!(errors[0].message.contains(says), "{path}: {errors:?}");
        }
        // Blank is none.
        s.first_mut().server.ca_file = "  ".into();
        assert!(s.validate().is_empty());
        let (profile, _) = s
            .first_mut()
            .server
            .profile(None)
            .expect("ok")
            .expect("some");
        assert_eq!(profile.extra_ca, None);
    }

    #[test]
    fn settings_round_trip_through_an_atomic_save() {
        let dir = temp_dir("roundtrip");
        let file = SettingsFile::in_dir(&dir);
        let mut s = Settings::default();
        s.first_mut().server.url = "wss://chime.example.com/v1/stream".into();
        s.first_mut().server.auth = AuthMethod::Token;
        s.notify.dislikes = false;
        s.quiet_hours.enabled = true;
        file.save(&s).expect("save");
        let loaded = file.load();
        assert_eq!(loaded.settings, s);
        assert!(loaded.notice.is_none());
        // Nothing but the file itself is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["settings.json"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_or_newer_file_is_set_aside_and_the_defaults_used() {
        for (name, text) in [
            ("corrupt", "{\"schema\": 1, \"server\": {"),
            ("newer", "{\"schema\": 99}"),
            ("wrong-type", "{\"schema\": 1, \"start_hidden\": \"yes\"}"),
            ("empty", ""),
        ] {
            let dir = temp_dir(name);
            let file = SettingsFile::in_dir(&dir);
            std::fs::write(&file.path, text).expect("write");
            let loaded = file.load();
            assert_eq!(loaded.settings, Settings::default(), "{name}");
            let notice = loaded.notice.expect("a notice");
            assert!(notice.contains("settings.json.bad-"), "{name}: {notice}");
            assert!(!file.path.exists(), "{name}: the bad file is moved away");
            let kept: Vec<_> = std::fs::read_dir(&dir)
                .expect("dir")
                .filter_map(|e| e.ok())
                .collect();
            assert_eq!(
                std::fs::read_to_string(kept[0].path()).expect("backup"),
                text
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn an_old_flat_file_is_migrated_and_its_token_handed_over() {
        let dir = temp_dir("v0");
        let file = SettingsFile::in_dir(&dir);
        std::fs::write(
            &file.path,
            r#"{"server": "ws://10.0.0.5:8080/v1/stream", "dialect": "native", "token": "s3cret", "notify": {"likes": false}}"#,
        )
        .expect("write");
        let loaded = file.load();
        assert_eq!(
            loaded.settings.sources[0].server.url,
            "ws://10.0.0.5:8080/v1/stream"
        );
        assert_eq!(loaded.settings.sources[0].server.auth, AuthMethod::Token);
        assert_eq!(loaded.settings.sources[0].server.dialect, Dialect::Native);
        assert!(!loaded.settings.notify.likes);
        assert_eq!(
            loaded.migrated_secret.map(|s| s.expose().to_owned()),
            Some("s3cret".into())
        );
        assert!(loaded.settings.validate().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_profile_needs_the_secret_its_method_names() {
        let mut s = Settings::default();
        assert!(matches!(s.first_mut().server.profile(None), Ok(None)));
        s.first_mut().server.url = "ws://127.0.0.1:9/v1/stream".into();
        s.first_mut().server.auth = AuthMethod::Token;
        assert!(s.first_mut().server.profile(None).is_err());
        let (profile, config) = s
            .first_mut()
            .server
            .profile(Some(Secret::new("t")))
            .expect("ok")
            .expect("some");
        assert!(matches!(profile.auth, Auth::Bearer(_)));
        assert_eq!(
            config.heartbeat,
            Heartbeat::with_interval(Duration::from_secs(30))
        );
    }
}
