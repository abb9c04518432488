//! Where secrets go when the OS keyring cannot take them: a 0600 file.
//! (Log redaction is `chime_proto::redact`.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chime_engine::profile::Secret;

use crate::fsutil::write_atomic;

/// `secrets.json` (mode 0600, in a 0700 directory): account → secret.
#[derive(Debug, Clone)]
pub struct SecretFile {
    pub path: PathBuf,
}

impl SecretFile {
    pub fn in_dir(dir: &Path) -> SecretFile {
        SecretFile {
            path: dir.join("secrets.json"),
        }
    }

    fn read(&self) -> std::io::Result<BTreeMap<String, String>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e),
        }
    }

    /// The accounts the file holds a secret for.
    pub fn accounts(&self) -> std::io::Result<Vec<String>> {
        Ok(self.read()?.into_keys().collect())
    }

    pub fn get(&self, account: &str) -> std::io::Result<Option<Secret>> {
        Ok(self.read()?.remove(account).map(Secret::new))
    }

    /// Store (or with `None`, forget) the secret of `account`.
    pub fn set(&self, account: &str, secret: Option<&Secret>) -> std::io::Result<()> {
        let mut all = self.read()?;
        match secret {
            Some(s) => {
                all.insert(account.to_owned(), s.expose().to_owned());
            }
            None => {
                if all.remove(account).is_none() {
                    return Ok(());
                }
                if all.is_empty() {
                    return match std::fs::remove_file(&self.path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                        _ => Ok(()),
                    };
                }
            }
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        let bytes = serde_json::to_vec(&all).unwrap_or_default();
        write_atomic(&self.path, &bytes, 0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_secret_file_is_private_and_keeps_accounts_apart() {
        let dir = std::env::temp_dir().join(format!("chime-secrets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = SecretFile::in_dir(&dir.join("chime"));
        file.set("token@wss://a/", Some(&Secret::new("one")))
            .expect("set");
        file.set("token@wss://b/", Some(&Secret::new("two")))
            .expect("set");
        assert_eq!(
            file.get("token@wss://a/")
                .expect("get")
                .map(|s| s.expose().to_owned()),
            Some("one".into())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode(&file.path), 0o600);
            assert_eq!(mode(&dir.join("chime")), 0o700);
        }
        file.set("token@wss://a/", None).expect("forget");
        assert_eq!(file.get("token@wss://a/").expect("get"), None);
        assert!(file.get("token@wss://b/").expect("get").is_some());
        // Forgetting the last one leaves no file; forgetting nothing writes none.
        file.set("token@wss://b/", None).expect("forget");
        assert!(!file.path.exists());
        file.set("token@wss://c/", None).expect("forget");
        assert!(!file.path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
