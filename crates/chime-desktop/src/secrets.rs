//! Where secrets go when the OS keyring cannot take them (a 0600 file), and
//! the names they are kept under: per source, bound to the host and port
//! they were saved for. (Log redaction is `chime_proto::redact`.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chime_engine::profile::Secret;

use crate::settings::AuthMethod;

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

/// The keyring account of a source's secret for a sign-in method: secrets
/// of different sources never mix. Account names are not secret (keyring
/// tools list them): they name the source by its id only.
pub fn account(method: AuthMethod, source: &str) -> String {
    format!("{}@source:{source}", method_name(method))
}

/// The account of a source's secret bound to the server it was saved for
/// (`token@source:<id>@https://host:443`): a secret is released only to
/// that host and port, so a source whose address moves elsewhere needs its
/// secret typed again, and no page can send it to another server.
pub fn bound_account(method: AuthMethod, source: &str, url: &str) -> String {
    format!("{}@{}", account(method, source), origin(url))
}

/// `https://host:port` (or `http://`) of a server address as users type
/// it: `wss`/`https` and `ws`/`http` are one origin each, and an address
/// without a scheme is a secure one (as the push services' are dialled).
pub fn origin(url: &str) -> String {
    let t = url.trim();
    let full = if t.contains("://") {
        t.to_owned()
    } else {
        format!("https://{t}")
    };
    match url::Url::parse(&full) {
        Ok(u) => {
            let secure = matches!(u.scheme(), "wss" | "https");
            let port = u.port().unwrap_or(if secure { 443 } else { 80 });
            let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
            let scheme = if secure { "https" } else { "http" };
            format!("{scheme}://{host}:{port}")
        }
        Err(_) => "invalid:".to_owned(),
    }
}

fn method_name(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::None => "none",
        AuthMethod::Token => "token",
        AuthMethod::Cookie => "cookie",
        AuthMethod::Query => "query",
        AuthMethod::Basic => "password",
    }
}

/// The account name of schema-1 Chime: method and server URL (without
/// userinfo or credential values).
pub fn legacy_account(method: AuthMethod, url: &str) -> String {
    use chime_engine::profile::CREDENTIAL_PARAMS;
    let m = method_name(method);
    let shown = match url::Url::parse(url.trim()) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
            if !pairs.is_empty() {
                let mut q = u.query_pairs_mut();
                q.clear();
                for (k, v) in &pairs {
                    let secret = CREDENTIAL_PARAMS.contains(&k.to_ascii_lowercase().as_str());
                    q.append_pair(k, if secret { "" } else { v });
                }
            }
            u.to_string()
        }
        Err(_) => url.trim().to_owned(),
    };
    format!("{m}@{shown}")
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

    #[test]
    fn account_names_carry_no_credential() {
        assert_eq!(
            legacy_account(AuthMethod::Token, " wss://h/v1/stream "),
            "token@wss://h/v1/stream"
        );
        assert_eq!(
            account(AuthMethod::Token, "default"),
            "token@source:default"
        );
        let a = legacy_account(AuthMethod::Query, "wss://bob:pw1@h/s?user=alice&token=tok9");
        assert!(
            !a.contains("tok9") && !a.contains("pw1") && !a.contains("bob"),
            "{a}"
        );
        assert!(a.contains("user=alice"), "{a}");
    }

    #[test]
    fn an_origin_is_scheme_family_host_and_port() {
        for (url, want) in [
            ("wss://H.example/v1/stream", "https://h.example:443"),
            ("https://h.example/a,b", "https://h.example:443"),
            ("h.example/alerts", "https://h.example:443"),
            ("ws://h.example:8080/x?token=1", "http://h.example:8080"),
            ("http://h.example", "http://h.example:80"),
            ("wss://user:pw@h.example:444/", "https://h.example:444"),
        ] {
            assert_eq!(origin(url), want, "{url}");
        }
    }
}
