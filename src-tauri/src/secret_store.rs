//! Secrets in the OS keyring; where none answers (headless, locked, no
//! Secret Service), in a 0600 file, and the Settings window says so.
//! Calls block (D-Bus round trips): run them off the async runtime.

use std::path::PathBuf;

use chime_core::secrets::SecretFile;
use chime_core::Secret;
use tracing::{info, warn};

const SERVICE: &str = "chime";

#[derive(Debug, Clone)]
pub struct SecretStore {
    file: SecretFile,
    /// Whether the keyring has been seen to fail (then the file is used).
    keyring_down: bool,
}

/// Where secrets go, for Settings to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    Keyring,
    File,
}

impl SecretStore {
    pub fn new(dir: PathBuf) -> SecretStore {
        let down = std::env::var("CHIME_KEYRING").is_ok_and(|v| v == "off");
        SecretStore {
            file: SecretFile::in_dir(&dir),
            keyring_down: down,
        }
    }

    pub fn file_path(&self) -> &std::path::Path {
        &self.file.path
    }

    pub fn location(&self) -> Where {
        if self.keyring_down {
            Where::File
        } else {
            Where::Keyring
        }
    }

    /// Find out whether a keyring answers (a lookup of an account that
    /// does not exist), so Settings can say where secrets will go.
    pub fn probe(&mut self) {
        if self.keyring_down {
            return;
        }
        match keyring::Entry::new(SERVICE, "probe").and_then(|e| e.get_password()) {
            Ok(_) | Err(keyring::Error::NoEntry) => {}
            Err(e) => self.keyring_failed(&e),
        }
    }

    /// The saved secret of `account`: keyring first, then the file.
    pub fn get(&mut self, account: &str) -> Option<Secret> {
        if !self.keyring_down {
            match keyring::Entry::new(SERVICE, account).and_then(|e| e.get_password()) {
                Ok(s) => return Some(Secret::new(s)),
                Err(keyring::Error::NoEntry) => {}
                Err(e) => self.keyring_failed(&e),
            }
        }
        match self.file.get(account) {
            Ok(s) => s,
            Err(e) => {
                warn!("cannot read {}: {e}", self.file.path.display());
                None
            }
        }
    }

    /// Save `secret` for `account`; returns where it went.
    pub fn set(&mut self, account: &str, secret: &Secret) -> Result<Where, String> {
        if !self.keyring_down {
            match keyring::Entry::new(SERVICE, account)
                .and_then(|e| e.set_password(secret.expose()))
            {
                Ok(()) => {
                    // A copy from an earlier fallback must not linger.
                    let _ = self.file.set(account, None);
                    return Ok(Where::Keyring);
                }
                Err(e) => self.keyring_failed(&e),
            }
        }
        self.file
            .set(account, Some(secret))
            .map(|()| Where::File)
            .map_err(|e| {
                format!(
                    "cannot save the secret in {}: {e}",
                    self.file.path.display()
                )
            })
    }

    fn keyring_failed(&mut self, e: &keyring::Error) {
        // The error text names the service, never the secret.
        info!(
            "no usable keyring ({e}); secrets go to {} (mode 0600)",
            self.file.path.display()
        );
        self.keyring_down = true;
    }
}

/// The keyring account for a server and method: secrets of different
/// servers never mix.
pub fn account(method: chime_core::settings::AuthMethod, url: &str) -> String {
    let m = match method {
        chime_core::settings::AuthMethod::None => "none",
        chime_core::settings::AuthMethod::Token => "token",
        chime_core::settings::AuthMethod::Cookie => "cookie",
    };
    format!("{m}@{}", url.trim())
}
