//! Untrusted text made safe to show: one cleaning rule for every string
//! from the wire before it reaches a screen, a terminal or a log, the
//! escaping for notification markup, and the only URLs that may be opened.

/// Only http/https URLs may be opened.
/// Userinfo is dropped: it would reach the browser's command line (where
/// other local users can read it), and `https://bank.example@evil.example`
/// is a phishing trick, not a credential.
pub fn web_url(url: &str) -> Option<String> {
    let mut parsed = url::Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return None;
    }
    parsed.set_username("").ok()?;
    parsed.set_password(None).ok()?;
    Some(parsed.to_string())
}

/// Untrusted text for display: no control or bidi-override characters, runs
/// of white space collapsed, at most `max` characters (with an ellipsis).
pub fn sanitize(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut space = false;
    for c in text.chars() {
        let c = if c.is_whitespace() { ' ' } else { c };
        if c.is_control() || is_bidi_control(c) {
            continue;
        }
        if c == ' ' {
            if space || out.is_empty() {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        if n == max {
            out = out.trim_end().to_owned();
            out.push('…');
            return out;
        }
        out.push(c);
        n += 1;
    }
    out.trim_end().to_owned()
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Escape for the freedesktop notification body markup.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_is_cleaned_capped_and_escaped() {
        let table = [
            ("Alice", 40, "Alice"),
            ("  a\n\tb  ", 40, "a b"),
            ("evil\u{202E}txt.exe", 40, "eviltxt.exe"),
            ("bell\u{7}", 40, "bell"),
            ("xxxxxxxxxx", 5, "xxxxx…"),
            ("ab cd ef", 3, "ab…"),
        ];
        for (input, max, want) in table {
            assert_eq!(sanitize(input, max), want, "{input:?}");
        }
        assert_eq!(
            escape_markup("<img src=x onerror=alert(1)> & co"),
            "&lt;img src=x onerror=alert(1)&gt; &amp; co"
        );
    }

    #[test]
    fn only_http_and_https_urls_are_clickable() {
        assert!(web_url("https://example.com/p").is_some());
        assert!(web_url("http://127.0.0.1:8/x").is_some());
        assert_eq!(
            web_url("https://user:pw@example.com/p").as_deref(),
            Some("https://example.com/p")
        );
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "ftp://x/",
            "",
            "https://",
        ] {
            assert_eq!(web_url(bad), None, "{bad}");
        }
    }
}
