//! What the commands and the controller share: the inbox store, the saved
//! settings, the secret store and the current status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chime_client::ProbeOutcome;
use chime_desktop::settings::{AuthMethod, FieldError, Settings, SettingsFile, SourceSettings};
use chime_engine::supervisor::ConnState;
use chime_engine::Secret;
use chime_proto::{Counts, Kind};
use chime_store::{Row, Store};
use serde::Serialize;
use tauri::AppHandle;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::lock;
use crate::secret_store::{SecretStore, Where};
use crate::Cmd;
use chime_desktop::secrets::{bound_account, origin};

/// Rows the inbox window may ask for at once: every row the store keeps.
const INBOX_MAX: usize = chime_store::DEFAULT_CAP;
/// How long "Test connection" waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A command's error, as the page sees it.
#[derive(Debug, Serialize)]
pub struct CmdError {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl CmdError {
    fn new(code: &'static str, message: impl Into<String>) -> CmdError {
        CmdError {
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// A call the tray cannot read (from a host of another version).
    pub fn bad_call(message: impl Into<String>) -> CmdError {
        CmdError::new("call", message)
    }

    fn invalid(fields: Vec<FieldError>) -> CmdError {
        CmdError {
            code: "invalid",
            message: "Please correct the marked fields.".into(),
            fields,
        }
    }
}

/// A browser sign-in's token, for the page to save with the source.
#[derive(Debug, Serialize)]
pub struct SignedIn {
    pub token: String,
}

/// How long a browser sign-in waits for the user.
const SIGN_IN_WAIT: Duration = Duration::from_secs(600);

/// What the status line of both windows shows: the tray's own words
/// (`line`), and the state for the dot's colour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub state: ConnState,
    pub line: String,
    pub counts: Counts,
}

/// What the settings window loads.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    pub settings: Settings,
    /// The sources (by id) that have a saved secret.
    pub saved_secrets: Vec<String>,
    /// Where secrets are kept, in words.
    pub secret_storage: String,
    /// Problems found at start (settings reset, inbox not saved...).
    pub notices: Vec<String>,
    /// A source a link proposed, not saved yet (given to the window once).
    pub proposed: Option<SourceSettings>,
    /// Every protocol, as its module describes it: the page builds its
    /// list, fields and hints from these and names none itself.
    pub protocols: Vec<&'static chime_engine::dialect::Protocol>,
}

pub struct Prefs {
    pub settings: Settings,
    /// What Settings shows above the form.
    pub notices: Vec<String>,
    /// The notices that stay true for the whole run (the inbox kept in
    /// memory): a save replaces the others, never these.
    pub lasting: Vec<String>,
    /// Source ids with a saved secret.
    pub saved_secrets: Vec<String>,
}

/// The ids of the sources whose secret is known (by index in `secrets`).
pub fn saved_ids(settings: &Settings, secrets: &[Option<Secret>]) -> Vec<String> {
    settings
        .sources
        .iter()
        .zip(secrets)
        .filter(|(_, s)| s.is_some())
        .map(|(src, _)| src.id.clone())
        .collect()
}

/// A source as the inbox window names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceName {
    pub id: String,
    pub name: String,
}

/// A page of the inbox: rows, and the sources they may come from.
#[derive(Debug, Serialize)]
pub struct InboxPage {
    pub rows: Vec<Row>,
    pub sources: Vec<SourceName>,
}

pub struct Shared {
    pub tx: mpsc::UnboundedSender<Cmd>,
    pub store: Arc<Mutex<Store>>,
    /// The sources the controller runs, in order.
    pub sources: Mutex<Vec<SourceName>>,
    /// A source a link proposed, until the Settings window takes it.
    pub proposed: Mutex<Option<SourceSettings>>,
    pub status: Mutex<Status>,
    pub prefs: Mutex<Prefs>,
    pub file: Option<SettingsFile>,
    pub secrets: Arc<Mutex<SecretStore>>,
    /// Where secrets are kept, in words, as last seen: Settings shows it
    /// while a keyring call holds `secrets` (a locked keyring may prompt
    /// for minutes).
    pub secret_words: Mutex<String>,
}

/// Where secrets are kept, in words.
pub fn storage_words(secrets: &SecretStore) -> String {
    match (secrets.location(), secrets.file_path()) {
        (Where::Keyring, _) => "Secrets are kept in the system keyring.".to_owned(),
        (Where::File, Some(path)) => format!(
            "No system keyring answered: secrets are kept in {}, readable only by you.",
            path.display()
        ),
        (Where::File, None) => {
            "No system keyring answered and there is no private folder: secrets are not saved."
                .to_owned()
        }
    }
}

impl Shared {
    pub fn send(&self, cmd: Cmd) -> Result<(), CmdError> {
        self.tx
            .send(cmd)
            .map_err(|_| CmdError::new("stopped", "Chime is shutting down"))
    }

    pub fn inbox(
        &self,
        kind: Option<&str>,
        source: Option<&str>,
        text: Option<&str>,
        limit: usize,
    ) -> Result<InboxPage, CmdError> {
        let kind = match kind {
            None | Some("") => None,
            Some(k) => {
                Some(Kind::parse(k).ok_or_else(|| CmdError::new("invalid", "no such kind"))?)
            }
        };
        let filter = chime_store::Filter {
            kind,
            source: source.filter(|s| !s.is_empty()),
            text: text.filter(|t| !t.trim().is_empty()),
        };
        let rows = lock(&self.store)
            .list(&filter, limit.clamp(1, INBOX_MAX))
            .map_err(|e| CmdError::new("store", e.to_string()))?;
        Ok(InboxPage {
            rows,
            sources: lock(&self.sources).clone(),
        })
    }

    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    /// Keep `status`; whether it differs from what the windows were last
    /// told (the caller tells them).
    pub fn set_status(&self, status: &Status) -> bool {
        let mut current = lock(&self.status);
        if *current == *status {
            return false;
        }
        *current = status.clone();
        true
    }

    pub fn settings_view(&self) -> SettingsView {
        // Never waits for the secret store: a keyring call in flight holds
        // it, and the window would show nothing until it answered.
        let secret_storage = match self.secrets.try_lock() {
            Ok(secrets) => {
                let words = storage_words(&secrets);
                lock(&self.secret_words).clone_from(&words);
                words
            }
            Err(std::sync::TryLockError::Poisoned(p)) => storage_words(&p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => lock(&self.secret_words).clone(),
        };
        let prefs = lock(&self.prefs);
        SettingsView {
            settings: prefs.settings.clone(),
            saved_secrets: prefs.saved_secrets.clone(),
            secret_storage,
            notices: prefs.notices.clone(),
            proposed: None,
            protocols: chime_engine::dialect::protocols().collect(),
        }
    }

    /// What the Settings window loads first: the view, and the source a
    /// link proposed (once).
    pub fn settings_view_with_proposal(&self) -> SettingsView {
        let mut view = self.settings_view();
        view.proposed = lock(&self.proposed).take();
        view
    }

    /// The secret of source `src`: the one typed in, else the saved one.
    async fn secret_for(&self, src: &SourceSettings, typed: Option<String>) -> Option<Secret> {
        if let Some(t) = typed.filter(|t| !t.is_empty()) {
            return Some(Secret::new(t));
        }
        if src.server.auth == AuthMethod::None {
            return None;
        }
        let (method, id, url) = (src.server.auth, src.id.clone(), src.server.url.clone());
        let secrets = self.secrets.clone();
        tokio::task::spawn_blocking(move || lock(&secrets).get_for(method, &id, &url))
            .await
            .ok()
            .flatten()
    }

    /// Save `settings`; `typed` holds the secrets typed in the window, by
    /// source id. Every source needs its secret (typed, pasted into its
    /// URL, or saved); each goes to its source's account. A source that is
    /// no longer listed loses its inbox rows, resume state and secrets.
    pub async fn save_settings(
        &self,
        app: &AppHandle,
        mut settings: Settings,
        typed: HashMap<String, String>,
    ) -> Result<SettingsView, CmdError> {
        // A credential pasted into a URL goes to the secret store, never
        // into settings.json.
        let mut typed_for: Vec<Option<String>> = settings
            .sources
            .iter()
            .map(|src| typed.get(&src.id).filter(|t| !t.is_empty()).cloned())
            .collect();
        for (i, secret) in settings.take_url_credentials() {
            typed_for[i].get_or_insert_with(|| secret.expose().to_owned());
        }
        let mut errors = settings.validate();
        let mut secrets = Vec::new();
        for (i, src) in settings.sources.iter().enumerate() {
            let secret = self.secret_for(src, typed_for[i].clone()).await;
            if src.server.auth != AuthMethod::None && secret.is_none() {
                errors.push(FieldError {
                    field: format!("sources.{i}.secret"),
                    message: "enter the secret for this server".into(),
                });
            }
            secrets.push(secret);
        }
        if !errors.is_empty() {
            return Err(CmdError::invalid(errors));
        }
        for (i, src) in settings.sources.iter().enumerate() {
            let Some(t) = typed_for[i]
                .clone()
                .filter(|_| src.server.auth != AuthMethod::None)
            else {
                continue;
            };
            let account = bound_account(src.server.auth, &src.id, &src.server.url);
            let store = self.secrets.clone();
            let stored =
                tokio::task::spawn_blocking(move || lock(&store).set(&account, &Secret::new(t)))
                    .await
                    .map_err(|e| CmdError::new("secret", e.to_string()))?;
            stored.map_err(|e| CmdError::new("secret", e))?;
        }
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| CmdError::new("io", "no home directory to save settings in"))?;
        file.save(&settings)
            .map_err(|e| CmdError::new("io", e.to_string()))?;
        info!("settings saved");
        // Removed sources lose rows and secrets; a source whose address
        // moved to another host or port loses the secret saved for the
        // old one (it was just typed again for the new one).
        let (mut removed, mut moved) = (Vec::new(), Vec::new());
        for old in &lock(&self.prefs).settings.sources {
            let gone = (old.id.clone(), old.server.url.clone());
            match settings.sources.iter().find(|s| s.id == old.id) {
                None => removed.push(gone),
                Some(s) if origin(&s.server.url) != origin(&old.server.url) => moved.push(gone),
                Some(_) => {}
            }
        }
        // Removed sources lose their secrets now; their rows go in the
        // controller (the store's one writer) once their links are down.
        self.forget_secrets(&moved).await;
        self.forget_secrets(&removed).await;
        let mut notices = Vec::new();
        if let Err(e) = crate::set_autostart(app, settings.start_at_login) {
            warn!("start at login: {e}");
            notices.push(format!("Could not change start at login: {e}"));
        }
        {
            let mut prefs = lock(&self.prefs);
            prefs.saved_secrets = saved_ids(&settings, &secrets);
            prefs.settings = settings.clone();
            prefs.notices = prefs.lasting.iter().cloned().chain(notices).collect();
        }
        self.send(Cmd::Reconfigure(Box::new(settings), secrets))?;
        Ok(self.settings_view())
    }

    /// Forget the secrets of these sources (id, the address they were
    /// saved for).
    async fn forget_secrets(&self, sources: &[(String, String)]) {
        if sources.is_empty() {
            return;
        }
        let sources = sources.to_vec();
        let store = self.secrets.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut store = lock(&store);
            for (id, url) in &sources {
                store.forget_source(id, url);
            }
        })
        .await;
    }

    /// Dial `source` once (the one the window shows).
    /// Sign in to the server of `src` with the browser (its protocol's
    /// flow): the user's browser opens on their server's page, and the
    /// token it gives comes back for the page to save like a typed one.
    pub async fn sign_in(
        &self,
        app: &AppHandle,
        mut src: SourceSettings,
    ) -> Result<SignedIn, CmdError> {
        if src.server.url.trim().is_empty() {
            return Err(CmdError::invalid(vec![FieldError {
                field: "sources.0.url".into(),
                message: "enter your server's address".into(),
            }]));
        }
        src.server.auth = AuthMethod::None;
        let profile = match src.server.profile(None) {
            Ok(Some((profile, _))) => profile,
            Ok(None) => return Err(CmdError::new("invalid", "no server address")),
            Err(e) => return Err(CmdError::new("invalid", e)),
        };
        let pending = chime_client::signin::Pending::begin(&profile)
            .await
            .map_err(|e| CmdError::new("sign_in", e.to_string()))?;
        crate::open_url(app, pending.browser.as_str());
        let token = pending
            .finish(SIGN_IN_WAIT)
            .await
            .map_err(|e| CmdError::new("sign_in", e.to_string()))?;
        info!(host = %profile.host_label(), "signed in with the browser");
        Ok(SignedIn {
            token: token.expose().to_owned(),
        })
    }

    pub async fn test_connection(
        &self,
        mut src: SourceSettings,
        typed: Option<String>,
    ) -> Result<ProbeOutcome, CmdError> {
        let from_url = src.server.take_url_credential();
        let typed = typed
            .filter(|t| !t.is_empty())
            .or(from_url.map(|s| s.expose().to_owned()));
        let mut errors = Vec::new();
        src.server.validate("sources.0.", &mut errors);
        if !errors.is_empty() {
            return Err(CmdError::invalid(errors));
        }
        if src.server.url.trim().is_empty() {
            return Err(CmdError::invalid(vec![FieldError {
                field: "sources.0.url".into(),
                message: "enter the push server's address".into(),
            }]));
        }
        let secret = self.secret_for(&src, typed).await;
        let profile = match src.server.profile(secret) {
            Ok(Some((profile, _))) => profile,
            Ok(None) => return Err(CmdError::new("invalid", "no server address")),
            Err(e) => return Err(CmdError::new("invalid", e)),
        };
        let outcome = chime_client::probe(&profile, PROBE_TIMEOUT).await;
        info!(host = %profile.host_label(), ?outcome, "test connection");
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_answer_while_a_keyring_call_holds_the_secret_store() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            tx,
            store: Arc::new(Mutex::new(Store::in_memory().expect("store"))),
            sources: Mutex::new(Vec::new()),
            proposed: Mutex::new(None),
            status: Mutex::new(Status {
                state: ConnState::Idle,
                line: String::new(),
                counts: Counts::default(),
            }),
            prefs: Mutex::new(Prefs {
                settings: Settings::default(),
                notices: Vec::new(),
                lasting: Vec::new(),
                saved_secrets: Vec::new(),
            }),
            file: None,
            secrets: Arc::new(Mutex::new(SecretStore::new(None))),
            secret_words: Mutex::new("Secrets are kept in the system keyring.".into()),
        });
        // A keyring call in flight: the store is held until the view came.
        let held = shared.secrets.lock().expect("secrets");
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let reader = shared.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(reader.settings_view().secret_storage);
        });
        let words = done_rx.recv_timeout(Duration::from_secs(10));
        drop(held);
        assert_eq!(
            words.as_deref(),
            Ok("Secrets are kept in the system keyring."),
            "Settings waited for the keyring"
        );
    }
}
