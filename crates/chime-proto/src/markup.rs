//! What push services put in their text: ntfy's emoji shortcodes in tags,
//! and Markdown bodies (ntfy's `text/markdown`, Gotify's
//! `client::display.contentType`). Toasts get plain text; the inbox gets
//! the plain text too and renders nothing as HTML.

/// The emoji for an ntfy tag, when the tag is a known shortcode (the apps
/// show those in the title and the other tags below it).
pub fn shortcode(tag: &str) -> Option<&'static str> {
    let e = match tag.trim().trim_matches(':') {
        "+1" | "thumbsup" => "👍",
        "-1" | "thumbsdown" => "👎",
        "warning" => "⚠️",
        "rotating_light" => "🚨",
        "tada" => "🎉",
        "partying_face" => "🥳",
        "white_check_mark" => "✅",
        "heavy_check_mark" => "✔️",
        "x" => "❌",
        "no_entry" => "⛔",
        "no_entry_sign" => "🚫",
        "skull" => "💀",
        "fire" => "🔥",
        "bell" => "🔔",
        "loudspeaker" => "📢",
        "computer" => "💻",
        "floppy_disk" => "💾",
        "package" => "📦",
        "rocket" => "🚀",
        "zap" => "⚡",
        "bug" => "🐛",
        "lock" => "🔒",
        "key" => "🔑",
        "email" | "envelope" => "✉️",
        "calendar" => "📅",
        "clock" | "clock3" => "🕒",
        "hourglass" => "⌛",
        "heart" => "❤️",
        "star" => "⭐",
        "sunny" => "☀️",
        "cloud" => "☁️",
        "umbrella" => "☔",
        "snowflake" => "❄️",
        "house" => "🏠",
        "car" => "🚗",
        "moneybag" => "💰",
        "chart_with_upwards_trend" => "📈",
        "chart_with_downwards_trend" => "📉",
        "information_source" => "ℹ️",
        "question" => "❓",
        "exclamation" => "❗",
        "stop_sign" => "🛑",
        "robot" => "🤖",
        "cd" => "💿",
        "whale" => "🐳",
        "penguin" => "🐧",
        "smile" => "😄",
        "cry" => "😢",
        "eyes" => "👀",
        _ => return None,
    };
    Some(e)
}

/// The tags that are not emoji shortcodes (shown as words).
pub fn word_tags(tags: &[String]) -> Vec<String> {
    tags.iter()
        .filter(|t| shortcode(t).is_none())
        .cloned()
        .collect()
}

/// Markdown as the plain text a reader sees: emphasis and code marks,
/// heading and quote markers removed, `[text](url)` as `text`, images as
/// their alt text, HTML tags dropped (never rendered).
pub fn markdown_to_text(md: &str) -> String {
    let mut lines = Vec::new();
    for line in md.lines() {
        let t = line.trim_start();
        let t = t.trim_start_matches('#').trim_start();
        let t = t.strip_prefix("> ").unwrap_or(t);
        let t = match t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
            Some(rest) => format!("• {rest}"),
            None => t.to_owned(),
        };
        lines.push(inline(&t));
    }
    lines.join("\n").trim().to_owned()
}

fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' | '_' | '`' | '~' => {
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'[') => {
                i += 1;
            }
            '[' => {
                // [text](url) -> text; a lone bracket stays.
                if let Some(close) = chars[i + 1..].iter().position(|&c| c == ']') {
                    let close = i + 1 + close;
                    if chars.get(close + 1) == Some(&'(') {
                        if let Some(end) = chars[close + 2..].iter().position(|&c| c == ')') {
                            out.extend(&chars[i + 1..close]);
                            i = close + 2 + end + 1;
                            continue;
                        }
                    }
                }
                out.push(c);
                i += 1;
            }
            '<' => {
                // An HTML tag is dropped; a lone '<' stays.
                match chars[i + 1..].iter().position(|&c| c == '>') {
                    Some(end)
                        if chars
                            .get(i + 1)
                            .is_some_and(|c| c.is_ascii_alphabetic() || *c == '/') =>
                    {
                        i = i + 1 + end + 1;
                    }
                    _ => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// A post's HTML (Mastodon's `content`) as the plain text a reader sees:
/// paragraphs and line breaks become new lines, tags are dropped (never
/// rendered), Mastodon's hidden link parts (`class="invisible"`) are left
/// out and an `ellipsis` part ends in "…", and entities are decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len().min(4096));
    // Depth inside hidden spans, and which open spans end an ellipsis.
    let mut spans: Vec<u8> = Vec::new();
    let hidden = |spans: &[u8]| spans.contains(&1);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        if !hidden(&spans) {
            out.push_str(&decode_entities(&rest[..lt]));
        }
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else {
            // A '<' that opens no tag is text.
            if !hidden(&spans) {
                out.push_str(&decode_entities(&rest[lt..]));
            }
            rest = "";
            break;
        };
        let tag = &after[..gt];
        rest = &after[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match (name.as_str(), closing) {
            ("br", _) => out.push('\n'),
            ("p" | "li" | "blockquote" | "div", true) => out.push('\n'),
            ("span", false) => {
                let class = tag.to_ascii_lowercase();
                spans.push(if class.contains("invisible") {
                    1
                } else if class.contains("ellipsis") {
                    2
                } else {
                    0
                });
            }
            ("span", true) => {
                let ended = spans.pop();
                if ended == Some(2) && !hidden(&spans) {
                    out.push('…');
                }
            }
            _ => {}
        }
    }
    if !hidden(&spans) {
        out.push_str(&decode_entities(rest));
    }
    let lines: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

/// `&amp;`, `&lt;`, `&#39;`, `&#x1F600;` … as the characters they stand
/// for; anything else is left as it is.
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ => {
                    let n = name.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_posts_html_becomes_its_plain_text() {
        let table = [
            ("<p>Hello <b>world</b></p>", "Hello world"),
            ("<p>one</p><p>two<br>three</p>", "one\ntwo\nthree"),
            (
                r#"<p>see <a href="https://x.example/very/long"><span class="invisible">https://</span><span class="ellipsis">x.example/very</span><span class="invisible">/long</span></a></p>"#,
                "see x.example/very…",
            ),
            (
                "Tom &amp; Jerry &lt;3 &#39;hi&#39; &#x1F600; &bogus; &",
                "Tom & Jerry <3 'hi' 😀 &bogus; &",
            ),
            ("<script>alert(1)</script>", "alert(1)"),
            ("a < b and <unclosed", "a < b and <unclosed"),
            ("&#1114112; &#xD800;", "&#1114112; &#xD800;"),
            ("", ""),
        ];
        for (html, want) in table {
            assert_eq!(html_to_text(html), want, "{html}");
        }
    }

    #[test]
    fn known_shortcodes_become_emoji_and_others_stay_words() {
        assert_eq!(shortcode("warning"), Some("⚠️"));
        assert_eq!(shortcode(":tada:"), Some("🎉"));
        assert_eq!(shortcode("backup"), None);
        let tags = vec!["warning".to_owned(), "backup".to_owned()];
        assert_eq!(word_tags(&tags), vec!["backup".to_owned()]);
    }

    #[test]
    fn markdown_reads_as_plain_text_and_html_is_never_kept() {
        let cases = [
            ("**Disk** is _full_", "Disk is full"),
            ("# Title\n- one\n- two", "Title\n• one\n• two"),
            ("see [the log](https://x/log)", "see the log"),
            ("![alt](https://x/i.png)", "alt"),
            ("<script>alert(1)</script>hi", "alert(1)hi"),
            ("a < b and [x] stays", "a < b and [x] stays"),
            ("`code` > quote", "code > quote"),
        ];
        for (md, want) in cases {
            assert_eq!(markdown_to_text(md), want, "{md}");
        }
    }
}
