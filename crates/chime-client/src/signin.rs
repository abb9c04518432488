//! Signing in with the browser: the flows a protocol names as data
//! ([`SignIn`]), run here. Both hand the user to their server's page in
//! the browser and take the answer on a one-shot loopback redirect
//! (`http://127.0.0.1:<random port>/chime/callback`), which accepts one
//! answer and closes:
//!
//! * OAuth 2 with PKCE (Mastodon and its kin): the app is registered on
//!   the spot (`POST /api/v1/apps`), the browser goes to the authorize
//!   page with an S256 challenge and a `state`, and the code is traded
//!   for a token with the verifier.
//! * MiAuth (Misskey and its forks): the browser goes to
//!   `/miauth/<session>`, and `POST /api/miauth/<session>/check` gives the
//!   token once the user approved.
//!
//! The token never reaches a log; it is handed back to be kept in the
//! keyring.

use std::time::Duration;

use chime_engine::dialect::{protocol, SignIn};
use chime_engine::profile::Secret;
use chime_engine::ServerProfile;
use chime_proto::text::sanitize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::info;

/// What a sign-in that did not end in a token ran into.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignInError {
    #[error("this kind of source has no browser sign-in: paste a token")]
    NoFlow,
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("the browser did not come back in time")]
    TimedOut,
    #[error("the sign-in was declined or broken: {0}")]
    Declined(String),
    #[error("cannot listen for the browser on this computer: {0}")]
    Listen(String),
}

/// Where the browser comes back to.
const CALLBACK: &str = "/chime/callback";
/// The app's name on the server's consent page.
const APP_NAME: &str = "Chime";
/// A browser's request head, at most.
const MAX_HEAD: usize = 16 * 1024;

/// A sign-in under way: send the user to `browser`, then [`finish`].
///
/// [`finish`]: Pending::finish
#[derive(Debug)]
pub struct Pending {
    /// The page to open in the user's browser.
    pub browser: url::Url,
    listener: TcpListener,
    http: reqwest::Client,
    origin: url::Url,
    redirect: String,
    step: Step,
}

#[derive(Debug)]
enum Step {
    OAuth {
        token: &'static str,
        client_id: String,
        client_secret: String,
        verifier: String,
        state: String,
    },
    MiAuth {
        session: String,
    },
}

/// Random bytes as base64url: PKCE verifiers, states.
fn random_text(bytes: usize) -> Result<String, SignInError> {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| SignInError::Listen("no randomness".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// A random UUID (v4), as MiAuth's session.
fn random_uuid() -> Result<String, SignInError> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| SignInError::Listen("no randomness".into()))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// PKCE's S256 challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn unreachable(e: reqwest::Error) -> SignInError {
    SignInError::Unreachable(chime_proto::redact::redact(&e.without_url().to_string()).into_owned())
}

/// POST a form or JSON body; the answer's JSON, or why not.
async fn post(
    http: &reqwest::Client,
    url: url::Url,
    body: String,
    json: bool,
) -> Result<Value, SignInError> {
    let kind = if json {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    let resp = http
        .post(url.as_str())
        .header(reqwest::header::CONTENT_TYPE, kind)
        .body(body)
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    let text = resp.text().await.map_err(unreachable)?;
    if text.len() > crate::MAX_FETCH_BYTES {
        return Err(SignInError::Refused("the answer is too large".into()));
    }
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        let why = v
            .get("error_description")
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        return Err(SignInError::Refused(format!(
            "{} ({})",
            sanitize(why, 120),
            status.as_u16()
        )));
    }
    Ok(v)
}

impl Pending {
    /// Start signing in to the server of `profile` (its address as typed:
    /// `https://host`, `@me@host`): register where the flow needs it and
    /// listen for the browser's return.
    pub async fn begin(profile: &ServerProfile) -> Result<Pending, SignInError> {
        let flow = protocol(profile.dialect)
            .sign_in
            .ok_or(SignInError::NoFlow)?;
        let origin = profile
            .web_origin()
            .ok_or_else(|| SignInError::Unreachable("no web address".into()))?;
        let tls = if profile.is_tls() {
            Some(
                crate::tls_config(profile.extra_ca.as_deref())
                    .map_err(|e| SignInError::Unreachable(e.to_string()))?,
            )
        } else {
            None
        };
        let http = crate::http_client(tls.as_ref()).map_err(SignInError::Unreachable)?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| SignInError::Listen(e.to_string()))?;
        let port = listener
            .local_addr()
            .map_err(|e| SignInError::Listen(e.to_string()))?
            .port();
        let redirect = format!("http://127.0.0.1:{port}{CALLBACK}");
        let at = |path: &str| {
            origin
                .join(path)
                .map_err(|e| SignInError::Unreachable(e.to_string()))
        };
        let (browser, step) = match flow {
            SignIn::OAuth {
                register,
                authorize,
                token,
                scopes,
            } => {
                let form = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("client_name", APP_NAME)
                    .append_pair("redirect_uris", &redirect)
                    .append_pair("scopes", scopes)
                    .finish();
                let app = post(&http, at(register)?, form, false).await?;
                let field = |f: &str| {
                    app.get(f)
                        .and_then(Value::as_str)
                        .filter(|v| !v.is_empty() && v.len() <= 512)
                        .map(str::to_owned)
                        .ok_or_else(|| SignInError::Refused(format!("the app has no {f}")))
                };
                let (client_id, client_secret) = (field("client_id")?, field("client_secret")?);
                let verifier = random_text(48)?;
                let state = random_text(16)?;
                let mut browser = at(authorize)?;
                browser
                    .query_pairs_mut()
                    .append_pair("response_type", "code")
                    .append_pair("client_id", &client_id)
                    .append_pair("redirect_uri", &redirect)
                    .append_pair("scope", scopes)
                    .append_pair("code_challenge", &challenge(&verifier))
                    .append_pair("code_challenge_method", "S256")
                    .append_pair("state", &state);
                (
                    browser,
                    Step::OAuth {
                        token,
                        client_id,
                        client_secret,
                        verifier,
                        state,
                    },
                )
            }
            SignIn::MiAuth { permissions } => {
                let session = random_uuid()?;
                let mut browser = at(&format!("/miauth/{session}"))?;
                browser
                    .query_pairs_mut()
                    .append_pair("name", APP_NAME)
                    .append_pair("callback", &redirect)
                    .append_pair("permission", permissions);
                (browser, Step::MiAuth { session })
            }
        };
        info!(server = %origin, "sign-in started");
        Ok(Pending {
            browser,
            listener,
            http,
            origin,
            redirect,
            step,
        })
    }

    /// Wait up to `limit` for the browser to come back, then trade what
    /// it brought for the token.
    pub async fn finish(self, limit: Duration) -> Result<Secret, SignInError> {
        let query = tokio::time::timeout(limit, answer(&self.listener))
            .await
            .map_err(|_| SignInError::TimedOut)??;
        drop(self.listener);
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let token = match self.step {
            Step::OAuth {
                token,
                client_id,
                client_secret,
                verifier,
                state,
            } => {
                if let Some(e) = get("error") {
                    return Err(SignInError::Declined(sanitize(
                        &get("error_description").unwrap_or(e),
                        120,
                    )));
                }
                if get("state").as_deref() != Some(state.as_str()) {
                    return Err(SignInError::Declined(
                        "the answer is not this sign-in's".into(),
                    ));
                }
                let code = get("code").ok_or_else(|| SignInError::Declined("no code".into()))?;
                let form = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "authorization_code")
                    .append_pair("code", &code)
                    .append_pair("redirect_uri", &self.redirect)
                    .append_pair("client_id", &client_id)
                    .append_pair("client_secret", &client_secret)
                    .append_pair("code_verifier", &verifier)
                    .finish();
                let url = self
                    .origin
                    .join(token)
                    .map_err(|e| SignInError::Unreachable(e.to_string()))?;
                let v = post(&self.http, url, form, false).await?;
                v.get("access_token")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }
            Step::MiAuth { session } => {
                if get("session").as_deref() != Some(session.as_str()) {
                    return Err(SignInError::Declined(
                        "the answer is not this sign-in's".into(),
                    ));
                }
                let url = self
                    .origin
                    .join(&format!("/api/miauth/{session}/check"))
                    .map_err(|e| SignInError::Unreachable(e.to_string()))?;
                let v = post(&self.http, url, "{}".into(), true).await?;
                if v.get("ok").and_then(Value::as_bool) != Some(true) {
                    return Err(SignInError::Declined(
                        "the server did not approve it".into(),
                    ));
                }
                v.get("token").and_then(Value::as_str).map(str::to_owned)
            }
        };
        let token = token
            .filter(|t| !t.is_empty() && t.len() <= 4096 && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| SignInError::Refused("no usable token in the answer".into()))?;
        let secret = Secret::new(token);
        chime_proto::redact::register_secret(secret.expose());
        info!(server = %self.origin, "signed in");
        Ok(secret)
    }
}

/// The query of the first request to the callback path; other requests
/// (a favicon) get a 404 and the listener waits on.
async fn answer(listener: &TcpListener) -> Result<Vec<(String, String)>, SignInError> {
    loop {
        let (mut sock, _) = listener
            .accept()
            .await
            .map_err(|e| SignInError::Listen(e.to_string()))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 2048];
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        if read.is_err() {
            continue;
        }
        let text = String::from_utf8_lossy(&head);
        let target = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path != CALLBACK {
            let _ = sock
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            continue;
        }
        let page = "Chime has your answer. You can close this tab and go back to Chime.\n";
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = sock.write_all(reply.as_bytes()).await;
        let _ = sock.shutdown().await;
        return Ok(url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_miauth_session_is_a_version_4_uuid() {
        let u = random_uuid().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, random_uuid().unwrap());
    }
}
