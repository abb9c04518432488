//! chime-watch: Chime's headless client. One line per state change and per
//! new item; JSON lines with `--json`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chime_client::Client;
use chime_engine::flags::SourceFlags;
use chime_engine::supervisor::{ConnState, Output};
use chime_engine::{Config, Heartbeat, InboxState, NewItem, ServerProfile};
use chime_proto::protocol::{Counts, Dialect};
use clap::{CommandFactory, FromArgMatches, Parser};
use serde_json::json;

/// Watch Chime push servers and print what arrives. Several `--server`
/// groups watch several sources at once: the options after a `--server`
/// apply to it (as ffmpeg's per-input options do).
#[derive(Parser, Debug)]
#[command(name = "chime-watch", version)]
struct Args {
    /// Server URL: ws://host:port/pushMsg (seed), wss://host/v1/stream
    /// (native), https://ntfy.sh/topic1,topic2 (ntfy) or
    /// https://gotify.example (Gotify). Repeat for several sources.
    #[arg(long, required = true)]
    server: Vec<String>,
    /// This source's name in the output (default: host and path).
    #[arg(long)]
    name: Vec<String>,
    /// This source's wire dialect (default auto: seed or native).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Dialect::ALL.map(Dialect::as_str)))]
    dialect: Vec<String>,
    /// Bearer token — a Gotify client token, an ntfy access token or
    /// USER:PASSWORD for an ntfy account, a Mastodon or Misskey access token (or set CHIME_TOKEN, which keeps it
    /// out of the process list; the variable applies only with one
    /// --server).
    #[arg(long, env = "CHIME_TOKEN", hide_env_values = true)]
    token: Vec<String>,
    /// Cookie header value, e.g. "sessionid=…" (or CHIME_COOKIE, with one --server).
    #[arg(long, env = "CHIME_COOKIE", hide_env_values = true)]
    cookie: Vec<String>,
    /// Credential as a query parameter, NAME=VALUE.
    #[arg(long, value_name = "NAME=VALUE")]
    query_token: Vec<String>,
    /// Extra request header, Name:Value (repeatable).
    #[arg(long = "header", value_name = "NAME:VALUE")]
    header: Vec<String>,
    /// Seconds between this source's heartbeats (default 30; at least 1,
    /// under 60 unless native).
    #[arg(long)]
    heartbeat: Vec<f64>,
    /// Extra silence tolerated after a heartbeat before the link is dead.
    #[arg(long, default_value_t = 15.0)]
    pong_timeout: f64,
    /// Extra PEM CA certificate(s) to trust for wss://.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

fn secs(v: f64, what: &str) -> Result<Duration, String> {
    if (0.0..86_400.0).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!("--{what} must be a number of seconds"))
    }
}

fn build(src: &SourceFlags, args: &Args) -> Result<(ServerProfile, Config), String> {
    let (mut profile, mut config) = src.profile()?;
    profile.extra_ca = args.ca_file.clone();
    if !chime_engine::dialect::protocol(config.dialect).server_pings {
        config.heartbeat = Heartbeat {
            timeout: secs(args.pong_timeout, "pong-timeout")?,
            ..config.heartbeat
        };
    }
    Ok((profile, config))
}

/// One source to watch: its label, where and how.
struct Source {
    label: String,
    profile: ServerProfile,
    config: Config,
}

fn main() -> ExitCode {
    if chime_proto::man::print_man_if_asked(Args::command()) {
        return ExitCode::SUCCESS;
    }
    let matches = Args::command().get_matches();
    let args = match Args::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    // The app's redaction: no credential at any level (tungstenite logs
    // the upgrade request at trace), one line per record.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()),
        )
        .with_ansi(false)
        .with_writer(chime_proto::redact::Redact(std::io::stderr))
        .init();
    let built = chime_engine::flags::sources_from_matches(&matches).and_then(|groups| {
        groups
            .iter()
            .map(|g| {
                build(g, &args).map(|(profile, config)| Source {
                    label: g.label(),
                    profile,
                    config,
                })
            })
            .collect::<Result<Vec<_>, _>>()
    });
    let sources = match built {
        Ok(v) => v,
        Err(e) => {
            eprintln!("chime-watch: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chime-watch: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run(sources, args.json))
}

/// One link per source, each with its own supervisor: one source's
/// failure never delays another's lines.
async fn run(sources: Vec<Source>, json: bool) -> ExitCode {
    let several = sources.len() > 1;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Output)>();
    let mut clients = Vec::new();
    let mut printers = Vec::new();
    for (n, s) in sources.into_iter().enumerate() {
        let host = s.profile.host_label();
        let mut client = match Client::spawn(s.profile, s.config, InboxState::default()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("chime-watch: {}: {e}", s.label);
                return ExitCode::from(2);
            }
        };
        let mut events =
            std::mem::replace(&mut client.events, tokio::sync::mpsc::unbounded_channel().1);
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if tx.send((n, ev)).is_err() {
                    return;
                }
            }
        });
        clients.push(client);
        printers.push(Printer {
            json,
            host,
            label: s.label,
            prefix: several,
        });
    }
    drop(tx);
    let stop = wait_for_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                // The resume state is for apps that persist it.
                Some((_, Output::Saved(_))) => {}
                Some((n, ev)) => printers[n].print(&ev),
                None => break,
            },
            () = &mut stop => break,
        }
    }
    for c in clients {
        c.shutdown().await;
    }
    ExitCode::SUCCESS
}

struct Printer {
    json: bool,
    host: String,
    /// The source's name, in every JSON line and (with several sources)
    /// before every text line.
    label: String,
    prefix: bool,
}

impl Printer {
    fn print(&mut self, ev: &Output) {
        let line = if self.json {
            // serde_json escapes every control character.
            let mut v = Self::json_line(ev);
            v["source"] = json!(self.label);
            v.to_string()
        } else {
            // Whatever a line quotes, the terminal gets no control or bidi
            // character from it (one item per line).
            let prefix = if self.prefix {
                format!("[{}] ", self.label)
            } else {
                String::new()
            };
            self.text_line(ev)
                .split('\n')
                .map(|l| format!("{prefix}{}", safe(l, 400)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let mut stdout = std::io::stdout().lock();
        // A closed pipe is not worth a panic.
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    fn json_line(ev: &Output) -> serde_json::Value {
        match ev {
            Output::State(s) => {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["type"] = json!("state");
                v
            }
            Output::Items(items) => {
                let items: Vec<_> = items.iter().map(item_json).collect();
                json!({"type": "items", "items": items})
            }
            Output::Counts(c) => counts_json(c),
            Output::Notice(n) => json!({"type": "notice", "message": n}),
            Output::Saved(state) => json!({"type": "saved", "state": state}),
            Output::Withdrawn { keys, deleted } => {
                json!({"type": if *deleted { "deleted" } else { "cleared" }, "keys": keys})
            }
        }
    }

    fn text_line(&self, ev: &Output) -> String {
        match ev {
            Output::State(s) => match s {
                ConnState::Idle => "idle".into(),
                ConnState::Connecting { attempt: 0 } => format!("connecting to {}…", self.host),
                ConnState::Connecting { attempt } => {
                    format!("connecting to {} (attempt {})…", self.host, attempt + 1)
                }
                ConnState::Connected { dialect: Some(d) } => {
                    format!("connected to {} ({})", self.host, dialect_name(*d))
                }
                ConnState::Connected { dialect: None } => format!("connected to {}", self.host),
                ConnState::Waiting {
                    retry_in_ms,
                    reason,
                    ..
                } => format!("{reason}; retrying in {}", human_ms(*retry_in_ms)),
                ConnState::AuthFailed {
                    retry_in_ms,
                    reason,
                } => format!(
                    "sign-in failed: {reason}; retrying in {}",
                    human_ms(*retry_in_ms)
                ),
                ConnState::Misconfigured {
                    retry_in_ms,
                    reason,
                } => format!(
                    "cannot connect: {reason}; retrying in {}",
                    human_ms(*retry_in_ms)
                ),
                ConnState::Paused => "paused".into(),
                ConnState::Offline => "offline: waiting for the network".into(),
            },
            Output::Items(items) => items.iter().map(item_text).collect::<Vec<_>>().join("\n"),
            Output::Counts(c) if c.messages > 0 && c.likes + c.dislikes + c.replies == 0 => {
                format!("unread: {} messages", c.messages)
            }
            Output::Counts(c) => format!(
                "unread: {} likes, {} dislikes, {} replies",
                c.likes, c.dislikes, c.replies
            ),
            Output::Notice(n) => format!("note: {n}"),
            Output::Withdrawn { keys, deleted } => {
                let keys: Vec<String> = keys.iter().map(|k| safe(k, 64)).collect();
                let what = if *deleted {
                    "deleted"
                } else {
                    "read elsewhere"
                };
                format!("{what}: {}", keys.join(", "))
            }
            Output::Saved(s) => match &s.cursor {
                Some(c) => format!("resume after message {}", safe(c, 64)),
                None => format!("resume from {}", s.last_seq),
            },
        }
    }
}

fn dialect_name(d: Dialect) -> &'static str {
    d.as_str()
}

fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min", ms / 60_000)
    }
}

fn counts_json(c: &Counts) -> serde_json::Value {
    json!({"type": "counts", "likes": c.likes, "dislikes": c.dislikes, "replies": c.replies,
           "messages": c.messages})
}

fn item_json(item: &NewItem) -> serde_json::Value {
    match item {
        NewItem::Event(e) => match &e.message {
            // An account's like or reply (Mastodon, Misskey): its id, who,
            // the post, and the reply's text.
            Some(m) if e.kind != chime_proto::Kind::Message => json!({
                "kind": e.kind, "id": m.id, "actor": e.actor, "title": e.target.title,
                "text": m.body, "url": e.target.url, "time": e.time,
            }),
            Some(m) => json!({
                "kind": e.kind, "id": m.id, "topic": e.actor, "title": e.target.title,
                "message": m.body, "priority": m.priority, "tags": m.tags,
                "click": e.target.url, "links": m.links, "time": e.time,
            }),
            None => json!({
                "kind": e.kind, "seq": e.seq, "actor": e.actor,
                "title": e.target.title, "url": e.target.url, "time": e.time,
            }),
        },
        NewItem::Bump { kind, by, total } => json!({"kind": kind, "new": by, "total": total}),
    }
}

/// Terminal-safe: the one sanitizer (no control or bidi characters, bounded).
fn safe(s: &str, max: usize) -> String {
    chime_proto::text::sanitize(s, max)
}

fn verb(kind: chime_proto::Kind) -> &'static str {
    match kind {
        chime_proto::Kind::Like => "liked",
        chime_proto::Kind::Dislike => "disliked",
        chime_proto::Kind::Reply => "replied to",
        chime_proto::Kind::Message => "sent",
    }
}

fn item_text(item: &NewItem) -> String {
    match item {
        NewItem::Event(e) if e.message.is_some() && e.kind != chime_proto::Kind::Message => {
            let m = e.message.as_deref().cloned().unwrap_or_default();
            let reply = if m.body.is_empty() {
                String::new()
            } else {
                format!(": {}", safe(&m.body, 500))
            };
            format!(
                "{} {} {} “{}”{reply} {}",
                safe(&m.id, 64),
                safe(&e.actor, 100),
                verb(e.kind),
                safe(&e.target.title, 200),
                safe(&e.target.url, 300)
            )
        }
        NewItem::Event(e) if e.message.is_some() => {
            let m = e.message.as_deref().cloned().unwrap_or_default();
            let title = if e.target.title.is_empty() {
                String::new()
            } else {
                format!("{}: ", safe(&e.target.title, 200))
            };
            let url = chime_proto::text::web_url(&e.target.url)
                .map(|u| format!(" {}", safe(&u, 300)))
                .unwrap_or_default();
            format!(
                "[{}] p{} {title}{}{url}",
                safe(&e.actor, 64),
                m.priority,
                safe(&m.body, 500)
            )
        }
        NewItem::Event(e) => {
            format!(
                "#{} {} {} “{}” {}",
                e.seq,
                safe(&e.actor, 100),
                verb(e.kind),
                safe(&e.target.title, 200),
                safe(&e.target.url, 300)
            )
        }
        NewItem::Bump { kind, by, total } => {
            format!("+{by} new {} ({total} unread)", kind.noun(*by))
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
