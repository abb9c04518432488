//! A server profile: where to connect, which dialect, how to authenticate.
//! Secrets are wrapped so that `Debug` and log lines never show them.

use std::fmt;
use std::path::PathBuf;

use http::header::{HeaderName, HeaderValue};
use url::Url;

use crate::protocol::Dialect;

/// Query parameters that carry a credential: pasted in a URL, they are
/// moved to the secret store (the Query sign-in method) and out of the URL
/// that `settings.json` keeps.
pub const CREDENTIAL_PARAMS: [&str; 11] = [
    "token",
    "access_token",
    "auth",
    "key",
    "api_key",
    "apikey",
    "password",
    "secret",
    "sessionid",
    "session",
    "chime_token",
];

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
        use chime_proto::redact::register_secret;
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(s) | Auth::Cookie(s) => register_secret(s.expose()),
            Auth::Basic { user, password } => {
                register_secret(password.expose());
                let header = basic(user, password.expose());
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
            if CREDENTIAL_PARAMS.contains(&k.to_ascii_lowercase().as_str()) {
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
                let secret = CREDENTIAL_PARAMS.contains(&k.to_ascii_lowercase().as_str());
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

    /// The server's web origin (`wss://h:1/x` → `https://h:1`).
    pub fn web_origin(&self) -> Option<Url> {
        let mut url = self.url.clone();
        url.set_scheme(if self.is_tls() { "https" } else { "http" })
            .ok()?;
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_path("");
        url.set_query(None);
        url.set_fragment(None);
        Some(url)
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

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
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
