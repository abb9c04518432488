//! Where secrets go when the OS keyring cannot take them (a 0600 file), and
//! the redaction every log line passes through.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::profile::Secret;
use crate::settings::write_atomic;

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

/// Names whose value is a credential, in a query string or a header.
const SECRET_NAMES: [&str; 8] = [
    "token=",
    "access_token=",
    "sessionid=",
    "chime_token=",
    "password=",
    "authorization: ",
    "cookie: ",
    "bearer ",
];

/// `text` with every credential-looking value replaced by `***`: a last
/// line of defence for logs (the code never logs a secret on purpose).
pub fn redact(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !SECRET_NAMES.iter().any(|n| lower.contains(n)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hit = SECRET_NAMES
            .iter()
            .find(|n| lower[i..].starts_with(*n) && at_word_start(&lower, i));
        match hit {
            Some(name) => {
                let start = i + name.len();
                out.push_str(&text[i..start]);
                // A header's value runs to the end of the line (or quote);
                // a parameter's to the next separator.
                let header = name.ends_with(": ");
                let end = text[start..]
                    .find(|c: char| {
                        matches!(c, '"' | '\'' | '\n' | '\r')
                            || !header && (c.is_whitespace() || matches!(c, '&' | ',' | ';'))
                    })
                    .map_or(text.len(), |n| start + n);
                if end > start {
                    out.push_str("***");
                }
                i = end;
            }
            None => {
                let ch = text[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&text[i..i + ch]);
                i += ch;
            }
        }
    }
    Cow::Owned(out)
}

fn at_word_start(lower: &str, i: usize) -> bool {
    i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric() && lower.as_bytes()[i - 1] != b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_and_nothing_else() {
        let table = [
            (
                "dialing ws://h/v1/stream?token=abc123&x=1",
                "dialing ws://h/v1/stream?token=***&x=1",
            ),
            ("Authorization: Bearer abc.def", "Authorization: ***"),
            (
                "cookie: sessionid=xyz; theme=dark\nnext",
                "cookie: ***\nnext",
            ),
            ("?sessionid=xyz; theme=dark", "?sessionid=***; theme=dark"),
            ("sent Bearer abc.def now", "sent Bearer *** now"),
            (
                "url=\"https://a/?access_token=q\"",
                "url=\"https://a/?access_token=***\"",
            ),
            (
                "no secrets here, mytoken=fine",
                "no secrets here, mytoken=fine",
            ),
            ("plain text", "plain text"),
            ("ünïcödé token=ß", "ünïcödé token=***"),
        ];
        for (input, want) in table {
            assert_eq!(redact(input), want, "{input}");
        }
    }

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
