//! Flags and the app's directories. Flags describe a server for this run
//! only; without `--server` the saved settings do.

use std::path::PathBuf;

use chime_engine::flags::SourceFlags;
use clap::{CommandFactory, FromArgMatches, Parser};

use crate::controller::SourceSpec;

/// Chime: likes, dislikes and replies, in the tray. Several `--server`
/// groups watch several sources; the options after a `--server` apply to it.
#[derive(Parser, Debug, Clone, Default)]
#[command(name = "chime", version)]
pub struct Args {
    /// Push server URL (ws:// or wss://; for ntfy and Gotify their web
    /// address), for this run (Settings are not changed). Repeat for
    /// several sources.
    #[arg(long)]
    pub server: Vec<String>,
    /// This source's name in the tray and toasts.
    #[arg(long)]
    pub name: Vec<String>,
    /// This source's wire dialect: seed, native, auto, ntfy or gotify.
    #[arg(long)]
    pub dialect: Vec<String>,
    /// Bearer token — a Gotify client token, an ntfy token or ntfy
    /// USER:PASSWORD, a Mastodon or Misskey access token (or CHIME_TOKEN,
    /// with one --server).
    #[arg(long, env = "CHIME_TOKEN", hide_env_values = true)]
    pub token: Vec<String>,
    /// Cookie header value (or CHIME_COOKIE, with one --server).
    #[arg(long, env = "CHIME_COOKIE", hide_env_values = true)]
    pub cookie: Vec<String>,
    /// Credential as a query parameter, NAME=VALUE.
    #[arg(long, value_name = "NAME=VALUE")]
    pub query_token: Vec<String>,
    /// Extra request header, Name:Value (repeatable).
    #[arg(long = "header")]
    pub header: Vec<String>,
    /// This source's heartbeat period in seconds.
    #[arg(long)]
    pub heartbeat: Vec<f64>,
    /// Run an embedded push server with demo traffic and connect to it.
    #[arg(long)]
    pub demo: bool,
    /// Demo events per minute.
    #[arg(long, default_value_t = 12.0)]
    pub demo_rate: f64,
    /// Open a window at start: inbox or settings.
    #[arg(long, value_name = "WINDOW")]
    pub open: Option<String>,
    /// Start in the tray even if Settings say otherwise (used by autostart).
    #[arg(long)]
    pub hidden: bool,
    /// Internal: run the window host for the tray (see host.rs).
    #[arg(long, value_name = "WINDOW", hide = true)]
    pub window_host: Option<String>,
    /// A chime://add?url=…&protocol=…&name=… link (a site's "add to
    /// Chime"): Settings open with that source filled in, to confirm.
    #[arg(value_name = "LINK")]
    pub link: Option<String>,
    /// The `--server` groups (filled by [`parse`]).
    #[arg(skip)]
    pub sources: Vec<SourceFlags>,
    /// Why the groups could not be made, if they could not.
    #[arg(skip)]
    pub sources_problem: Option<String>,
}

/// The command line, with its `--server` groups.
pub fn parse() -> Args {
    if chime_proto::man::print_man_if_asked(Args::command()) {
        std::process::exit(0);
    }
    let matches = Args::command().get_matches();
    let mut args = match Args::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    if !args.server.is_empty() {
        match chime_engine::flags::sources_from_matches(&matches) {
            Ok(s) => args.sources = s,
            Err(e) => args.sources_problem = Some(e),
        }
    }
    args
}

/// One source per `--server` group, each with an id of its own that no
/// saved source can have (`cli:<label>`, the same on every run so a flag
/// run resumes where it stopped): flag runs never touch the saved
/// sources' rows, cursors or secrets.
pub fn specs(groups: &[SourceFlags]) -> Result<Vec<SourceSpec>, String> {
    let mut taken = std::collections::HashSet::new();
    groups
        .iter()
        .enumerate()
        .map(|(n, g)| {
            let (profile, config) = g.profile()?;
            let label = g.label();
            let mut id = format!("{}{label}", chime_desktop::settings::FLAG_SOURCE_PREFIX);
            if !taken.insert(id.clone()) {
                id = format!("{id}#{n}");
                taken.insert(id.clone());
            }
            Ok(SourceSpec {
                id,
                name: label,
                muted: false,
                kinds: Default::default(),
                forget_read: false,
                identity: None,
                profile,
                config,
            })
        })
        .collect()
}

/// The embedded demo server as the one source (`demo`; its inbox is a
/// throwaway one, see `lib.rs`).
pub fn demo_source(url: &str, token: String) -> Result<SourceSpec, String> {
    let group = SourceFlags {
        server: url.to_owned(),
        name: Some("Demo".into()),
        dialect: Some("native".into()),
        token: Some(token),
        ..SourceFlags::default()
    };
    let mut spec = specs(std::slice::from_ref(&group))?.remove(0);
    spec.id = chime_desktop::settings::DEMO_SOURCE.into();
    Ok(spec)
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home().map(|h| h.join(fallback)))
}

/// Where XDG autostart entries live.
#[cfg(target_os = "linux")]
pub fn autostart_dir() -> Option<PathBuf> {
    xdg("XDG_CONFIG_HOME", ".config").map(|p| p.join("autostart"))
}

/// Settings and the fallback secret file.
pub fn config_dir() -> Option<PathBuf> {
    if cfg!(target_os = "linux") {
        xdg("XDG_CONFIG_HOME", ".config").map(|p| p.join("chime"))
    } else {
        data_dir()
    }
}

/// The inbox database.
pub fn data_dir() -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        home().map(|h| h.join("Library/Application Support/Chime"))
    } else if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA").map(|p| PathBuf::from(p).join("Chime"))
    } else {
        xdg("XDG_DATA_HOME", ".local/share").map(|p| p.join("chime"))
    }
}

/// Rotated logs.
pub fn log_dir() -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        home().map(|h| h.join("Library/Logs/Chime"))
    } else if cfg!(windows) {
        data_dir().map(|d| d.join("logs"))
    } else {
        xdg("XDG_STATE_HOME", ".local/state").map(|p| p.join("chime/logs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(server: &str, name: Option<&str>) -> SourceFlags {
        SourceFlags {
            server: server.to_owned(),
            name: name.map(str::to_owned),
            dialect: Some("native".into()),
            ..SourceFlags::default()
        }
    }

    #[test]
    fn flag_sources_never_take_a_saved_sources_id_and_never_each_others() {
        let groups = [
            group("ws://127.0.0.1:9/v1/stream", None),
            group("ws://other.example/v1/stream", Some("Work")),
            group("ws://third.example/v1/stream", Some("Work")),
        ];
        let ids: Vec<String> = specs(&groups)
            .expect("specs")
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids[0], "cli:127.0.0.1:9/v1/stream");
        assert_eq!(ids[1], "cli:Work");
        assert_ne!(ids[2], ids[1]);
        for id in &ids {
            assert!(
                id.starts_with(chime_desktop::settings::FLAG_SOURCE_PREFIX),
                "{id}"
            );
            assert_ne!(id, chime_store::DEFAULT_SOURCE);
        }
        // The same command line resumes as itself next time.
        let again: Vec<String> = specs(&groups)
            .expect("specs")
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, again);
        let demo = demo_source("ws://127.0.0.1:9/v1/stream", "t".into()).expect("demo");
        assert_eq!(demo.id, chime_desktop::settings::DEMO_SOURCE);
    }
}
