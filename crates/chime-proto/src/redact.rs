//! The redaction every log line passes through: credentials are starred
//! out by name (`token=…`, `Authorization: …`) and by value (every secret
//! this process registered), and a record is one line without control
//! characters. Used by the app, chime-watch and chime-server alike.

use std::borrow::Cow;
use std::io::Write;

/// Names whose value is a credential, in a query string or a header.
const SECRET_NAMES: [&str; 9] = [
    "token=",
    "access_token=",
    "sessionid=",
    "chime_token=",
    "password=",
    "authorization: ",
    "cookie: ",
    "bearer ",
    "basic ",
];

/// Secrets shorter than this are not searched for by value (a one-letter
/// "secret" would star out every word); the name rules still apply.
const MIN_REGISTERED: usize = 4;

/// The credentials this process uses, for [`redact`] to find by value
/// wherever a library prints them (a header value the user added, a
/// query parameter, a token in a URL).
static REGISTERED: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Make `secret` unprintable in any log line from now on.
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_REGISTERED {
        return;
    }
    let mut all = REGISTERED.write().unwrap_or_else(|p| p.into_inner());
    if !all.iter().any(|s| s == secret) {
        all.push(secret.to_owned());
        // Longest first: a secret that contains another is starred whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every credential replaced by `***`: registered secrets by
/// value, every query parameter's value, and the values of the usual
/// credential names and headers. A last line of defence for logs (the code
/// never logs a secret on purpose).
pub fn redact(text: &str) -> Cow<'_, str> {
    let by_value = redact_registered(text);
    match redact_by_name(&by_value) {
        Cow::Borrowed(_) => by_value,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

fn redact_registered(text: &str) -> Cow<'_, str> {
    let all = REGISTERED.read().unwrap_or_else(|p| p.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in all.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), "***"));
        }
    }
    out
}

fn redact_by_name(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let has_query = text.contains('?') && text.contains('=');
    if !has_query && !SECRET_NAMES.iter().any(|n| lower.contains(n)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // Inside a URL's query: every `&name=` starts another value to hide.
    let mut in_query = false;
    while i < text.len() {
        let b = text.as_bytes()[i];
        if matches!(b, b'?' | b'&') && (b == b'?' || in_query) {
            if let Some(len) = query_name_len(&text[i + 1..]) {
                in_query = true;
                let start = i + 1 + len + 1;
                out.push_str(&text[i..start]);
                let end = text[start..]
                    .find(|c: char| {
                        c.is_whitespace() || matches!(c, '&' | '#' | '"' | '\'' | ',' | ';' | ')')
                    })
                    .map_or(text.len(), |n| start + n);
                if end > start {
                    out.push_str("***");
                }
                i = end;
                continue;
            }
        }
        if b.is_ascii_whitespace() || b == b'"' {
            in_query = false;
        }
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

/// `name=` at the start of `s`: the length of `name`.
fn query_name_len(s: &str) -> Option<usize> {
    let len = s
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'%'))
        .count();
    (len > 0 && s.as_bytes().get(len) == Some(&b'=')).then_some(len)
}

fn at_word_start(lower: &str, i: usize) -> bool {
    i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric() && lower.as_bytes()[i - 1] != b'_'
}

/// One log record as it may be written: credentials redacted, and no
/// control character but the final newline, so text from a server can
/// neither forge a second log line nor drive the terminal that shows it.
pub fn log_line(record: &str) -> String {
    let redacted = redact(record);
    let body = redacted.strip_suffix('\n').unwrap_or(&redacted);
    let mut out = String::with_capacity(body.len() + 1);
    for c in body.chars() {
        match c {
            '\t' => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// A writer that passes each record through [`log_line`]. `tracing`'s
/// formatter writes one whole record per call.
pub struct LogWriter<W>(pub W);

impl<W: Write> Write for LogWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(log_line(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Wraps a `MakeWriter` so every writer it makes is a [`LogWriter`]: the
/// one way Chime's binaries log.
#[derive(Clone)]
pub struct Redact<M>(pub M);

#[cfg(feature = "log")]
impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a>
    for Redact<M>
{
    type Writer = LogWriter<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        LogWriter(self.0.make_writer())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_and_nothing_else() {
        let table = [
            (
                "dialing ws://h/v1/stream?token=abc123&x=1",
                "dialing ws://h/v1/stream?token=***&x=***",
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
            (
                "GET /s?user=alice&k=v&x-key=9 HTTP/1.1",
                "GET /s?user=***&k=***&x-key=*** HTTP/1.1",
            ),
            (
                "uri: ws://h:1/s?auth=QmFzaWM, headers",
                "uri: ws://h:1/s?auth=***, headers",
            ),
            ("a & b=c, what? x=1", "a & b=c, what? x=1"),
            ("Authorization: Basic dTpw", "Authorization: ***"),
        ];
        for (input, want) in table {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn registered_secrets_are_redacted_wherever_they_appear() {
        register_secret("x-api-9f8e7d");
        register_secret("abc"); // too short to search for
        let line = r#"headers: {"x-custom": "x-api-9f8e7d"} abc"#;
        assert_eq!(redact(line), r#"headers: {"x-custom": "***"} abc"#);
    }

    #[test]
    fn a_log_record_is_one_line_without_control_characters() {
        let forged =
            "note: the server said ok\n2026-01-01 INFO forged: line\r\u{1b}]52;c;eA==\u{7}\n";
        let line = log_line(forged);
        assert_eq!(line.matches('\n').count(), 1, "{line:?}");
        assert!(line.ends_with('\n'));
        assert!(
            !line[..line.len() - 1]
                .chars()
                .any(|c| c.is_control() && c != '\t'),
            "{line:?}"
        );
        assert!(line.contains("ok\\n2026"), "{line:?}");
    }
}
