//! Secrets in the OS keyring; where none answers (headless, locked, no
//! Secret Service), in a 0600 file, and the Settings window says so.
//! Calls block (D-Bus round trips): run them off the async runtime.

use std::path::PathBuf;

use chime_desktop::secrets::{account, bound_account, legacy_account, SecretFile};
use chime_engine::Secret;
use tracing::{info, warn};

const SERVICE: &str = "chime";

#[derive(Debug, Clone)]
pub struct SecretStore {
    /// `None` without a private config directory: then there is no file
    /// fallback at all (never a shared temp directory).
    file: Option<SecretFile>,
    /// Whether the keyring has been seen to fail (then the file is used).
    keyring_down: bool,
    /// When the keyring was last found down: it is asked again, but not
    /// for every secret of a start-up that just found it down.
    down_at: Option<std::time::Instant>,
}

/// A keyring found down is not asked again sooner than this.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// Where secrets go, for Settings to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    Keyring,
    File,
}

impl SecretStore {
    pub fn new(dir: Option<PathBuf>) -> SecretStore {
        let down = std::env::var("CHIME_KEYRING").is_ok_and(|v| v == "off");
        SecretStore {
            file: dir.as_deref().map(SecretFile::in_dir),
            keyring_down: down,
            down_at: None,
        }
    }

    pub fn file_path(&self) -> Option<&std::path::Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    pub fn location(&self) -> Where {
        if self.keyring_down {
            Where::File
        } else {
            Where::Keyring
        }
    }

    /// Find out whether a keyring answers (a lookup of an account that
    /// does not exist), so Settings can say where secrets will go. A
    /// keyring seen down is asked again: at login it may come up after
    /// Chime.
    pub fn probe(&mut self) {
        if self.forced_off() {
            self.keyring_down = true;
            return;
        }
        let recently = self.down_at.is_some_and(|t| t.elapsed() < RETRY_AFTER);
        if self.keyring_down && recently {
            return;
        }
        let was_down = self.keyring_down;
        match keyring::Entry::new(SERVICE, "probe").and_then(|e| e.get_password()) {
            Ok(_) | Err(keyring::Error::NoEntry) => {
                self.keyring_down = false;
                self.down_at = None;
                if was_down {
                    info!("the keyring answers now; secrets go there");
                    self.move_file_to_keyring();
                }
            }
            Err(e) => self.keyring_failed(&e),
        }
    }

    fn forced_off(&self) -> bool {
        std::env::var("CHIME_KEYRING").is_ok_and(|v| v == "off")
    }

    /// The saved secret of `account`: keyring first, then the file.
    pub fn get(&mut self, account: &str) -> Option<Secret> {
        self.retry_keyring();
        if !self.keyring_down {
            match keyring::Entry::new(SERVICE, account).and_then(|e| e.get_password()) {
                Ok(s) => return Some(Secret::new(s)),
                Err(keyring::Error::NoEntry) => {}
                Err(e) => self.keyring_failed(&e),
            }
        }
        let file = self.file.as_ref()?;
        match file.get(account) {
            Ok(s) => s,
            Err(e) => {
                warn!("cannot read {}: {e}", file.path.display());
                None
            }
        }
    }

    /// A keyring that failed is tried again on the next use: one that came
    /// up after Chime (login autostart) is used once it answers.
    fn retry_keyring(&mut self) {
        if self.keyring_down {
            self.probe();
        }
    }

    /// Save `secret` for `account`; returns where it went.
    pub fn set(&mut self, account: &str, secret: &Secret) -> Result<Where, String> {
        // A save is the user's: a keyring seen down is asked again even
        // within the retry interval (which only spares the lookups of a
        // start-up), so one that just came up takes the secret.
        if self.keyring_down {
            self.down_at = None;
        }
        self.retry_keyring();
        if !self.keyring_down {
            match keyring::Entry::new(SERVICE, account)
                .and_then(|e| e.set_password(secret.expose()))
            {
                Ok(()) => {
                    // A copy from an earlier fallback must not linger.
                    if let Some(f) = &self.file {
                        let _ = f.set(account, None);
                    }
                    return Ok(Where::Keyring);
                }
                Err(e) => self.keyring_failed(&e),
            }
        }
        let Some(file) = &self.file else {
            return Err(
                "no keyring answers and there is no private directory for a secret file".into(),
            );
        };
        file.set(account, Some(secret))
            .map(|()| Where::File)
            .map_err(|e| format!("cannot save the secret in {}: {e}", file.path.display()))
    }

    /// Secrets the file took while the keyring was down move to it, and
    /// leave the file (none is ever kept in both).
    fn move_file_to_keyring(&mut self) {
        let Some(file) = self.file.clone() else {
            return;
        };
        for account in file.accounts().unwrap_or_default() {
            let Ok(Some(secret)) = file.get(&account) else {
                continue;
            };
            match keyring::Entry::new(SERVICE, &account)
                .and_then(|e| e.set_password(secret.expose()))
            {
                Ok(()) => {
                    let _ = file.set(&account, None);
                }
                Err(e) => {
                    self.keyring_failed(&e);
                    return;
                }
            }
        }
    }

    fn keyring_failed(&mut self, e: &keyring::Error) {
        // Said once per outage; the error text names the service, never
        // the secret.
        if !self.keyring_down {
            match &self.file {
                Some(f) => info!(
                    "no usable keyring ({e}); secrets go to {} (mode 0600)",
                    f.path.display()
                ),
                None => info!("no usable keyring ({e}); secrets are not saved"),
            }
        }
        self.keyring_down = true;
        self.down_at = Some(std::time::Instant::now());
    }
}

impl SecretStore {
    /// The secret of `source` for the server at `url`: only one saved for
    /// that host and port ([`bound_account`]).
    pub fn get_for(
        &mut self,
        method: chime_desktop::settings::AuthMethod,
        source: &str,
        url: &str,
    ) -> Option<Secret> {
        self.get(&bound_account(method, source, url))
    }

    /// At start: [`SecretStore::get_for`], and a secret an older Chime
    /// kept unbound (under the source, or under the server's URL,
    /// [`legacy_account`]) is bound to the address its source has now.
    pub fn migrate_for(
        &mut self,
        method: chime_desktop::settings::AuthMethod,
        source: &str,
        url: &str,
    ) -> Option<Secret> {
        if let Some(s) = self.get_for(method, source, url) {
            return Some(s);
        }
        let bound = bound_account(method, source, url);
        for old in [account(method, source), legacy_account(method, url)] {
            if let Some(found) = self.get(&old) {
                if self.set(&bound, &found).is_ok() {
                    self.forget(&old);
                    info!("a saved secret is now bound to its server");
                }
                return Some(found);
            }
        }
        None
    }

    /// Forget every secret of `source` saved for the server at `url`
    /// (and an unbound one an older Chime left), under every method.
    pub fn forget_source(&mut self, source: &str, url: &str) {
        use chime_desktop::settings::AuthMethod;
        for method in [
            AuthMethod::Token,
            AuthMethod::Cookie,
            AuthMethod::Query,
            AuthMethod::Basic,
        ] {
            self.forget(&bound_account(method, source, url));
            self.forget(&account(method, source));
        }
    }

    /// Forget the secret of `account` (keyring and file).
    pub fn forget(&mut self, account: &str) {
        if !self.keyring_down {
            if let Ok(e) = keyring::Entry::new(SERVICE, account) {
                let _ = e.delete_credential();
            }
        }
        if let Some(f) = &self.file {
            let _ = f.set(account, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chime_desktop::settings::AuthMethod;

    fn file_store(name: &str) -> SecretStore {
        let dir = std::env::temp_dir().join(format!("chime-secrets-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        SecretStore {
            file: Some(SecretFile::in_dir(&dir)),
            keyring_down: true,
            down_at: None,
        }
    }

    #[test]
    fn a_saved_secret_is_released_only_to_the_host_and_port_it_was_saved_for() {
        let mut store = file_store("bound");
        let name = bound_account(AuthMethod::Token, "s-1", "wss://blog.example/v1/stream");
        store.set(&name, &Secret::new("blog-token")).expect("set");
        let get = |store: &mut SecretStore, url: &str| {
            store
                .get_for(AuthMethod::Token, "s-1", url)
                .map(|s| s.expose().to_owned())
        };
        assert_eq!(
            get(&mut store, "wss://blog.example/pushMsg").as_deref(),
            Some("blog-token")
        );
        for elsewhere in [
            "wss://attacker.example/v1/stream",
            "wss://blog.example:8443/v1/stream",
            "ws://blog.example/v1/stream",
        ] {
            assert_eq!(get(&mut store, elsewhere), None, "{elsewhere}");
        }
        store.forget_source("s-1", "wss://blog.example/");
        assert_eq!(get(&mut store, "wss://blog.example/v1/stream"), None);
    }

    #[test]
    fn a_secret_saved_before_the_upgrade_is_bound_to_its_sources_address_at_the_first_start() {
        let mut store = file_store("migrate");
        store
            .set(
                &account(AuthMethod::Cookie, "default"),
                &Secret::new("sessionid=1"),
            )
            .expect("set");
        let url = "wss://blog.example/pushMsg";
        let found = store.migrate_for(AuthMethod::Cookie, "default", url);
        assert_eq!(
            found.map(|s| s.expose().to_owned()).as_deref(),
            Some("sessionid=1")
        );
        assert!(
            store.get(&account(AuthMethod::Cookie, "default")).is_none(),
            "moved"
        );
        assert!(store.get_for(AuthMethod::Cookie, "default", url).is_some());
        assert!(store
            .get_for(AuthMethod::Cookie, "default", "wss://other.example/")
            .is_none());
    }
}
