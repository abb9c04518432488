//! Signed user tokens: a site that already knows who its users are mints
//! one per user with a shared secret and one HMAC call (no list of tokens
//! to keep in step with the server):
//!
//! ```text
//! chime1:<user>:<expires, unix seconds>:<hex HMAC-SHA256(secret, "chime1:<user>:<expires>")>
//! ```
//!
//! The site sets it as the `chime_token` cookie on its own domain (so the
//! browser and the site's pages use it) or shows it to the user to paste
//! into Chime's Settings. See `docs/INTEGRATION.md` for the Python side.

use ring::hmac;

const PREFIX: &str = "chime1";
/// Users are names a site uses: no separator, no control character.
const MAX_USER: usize = 128;

/// Mint a token (the server side of the docs' Python function; tests and
/// operators' tools use it).
pub fn mint(secret: &[u8], user: &str, expires: u64) -> String {
    let msg = format!("{PREFIX}:{user}:{expires}");
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, msg.as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{msg}:{hex}")
}

/// The user a token names, if its signature is right and it has not
/// expired at `now` (unix seconds).
pub fn verify(secret: &[u8], token: &str, now: u64) -> Option<String> {
    verify_until(secret, token, now).map(|(user, _)| user)
}

/// The user a token names and when it expires (unix seconds), if its
/// signature is right and it has not expired at `now`: a session signed in
/// with it ends then.
pub fn verify_until(secret: &[u8], token: &str, now: u64) -> Option<(String, u64)> {
    let mut parts = token.trim().splitn(4, ':');
    let (prefix, user, expires, sig) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if prefix != PREFIX || user.is_empty() || user.len() > MAX_USER {
        return None;
    }
    if user.chars().any(|c| c.is_control() || c == ':') {
        return None;
    }
    let expires: u64 = expires.parse().ok()?;
    if expires <= now {
        return None;
    }
    let sig = decode_hex(sig)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let msg = format!("{PREFIX}:{user}:{expires}");
    // Constant time.
    hmac::verify(&key, msg.as_bytes(), &sig).ok()?;
    Some((user.to_owned(), expires))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_names_its_user_until_it_expires_and_not_after_any_change() {
        let secret = b"site-secret";
        let t = mint(secret, "alice@example.com", 2_000);
        assert_eq!(
            verify(secret, &t, 1_999).as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(verify(secret, &t, 2_000), None, "expired");
        assert_eq!(verify(b"other", &t, 1_000), None, "another secret");
        let forged = t.replacen("alice@example.com", "bob@example.com", 1);
        assert_eq!(verify(secret, &forged, 1_000), None, "another user");
        let later = t.replacen(":2000:", ":9999:", 1);
        assert_eq!(verify(secret, &later, 1_000), None, "a later expiry");
        for junk in [
            "",
            "chime1",
            "chime1:a:1",
            "chime2:a:3000:00",
            "chime1::3000:ab",
            &t[..t.len() - 1],
        ] {
            assert_eq!(verify(secret, junk, 1_000), None, "{junk}");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_as_the_docs_compute_it() {
        // RFC 4231 test case 2, through this module's message format.
        let key = b"Jefe";
        let msg_sig = mint(key, "u", 1);
        assert!(msg_sig.starts_with("chime1:u:1:"));
        let direct = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, key),
            b"what do ya want for nothing?",
        );
        let hex: String = direct.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
