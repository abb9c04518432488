//! Flags and the app's directories. Flags describe a server for this run
//! only; without `--server` the saved settings do.

use std::path::PathBuf;
use std::time::Duration;

use chime_core::{Config, Heartbeat, ServerProfile};
use clap::Parser;

/// Chime: likes, dislikes and replies, in the tray.
#[derive(Parser, Debug, Clone, Default)]
#[command(name = "chime", version)]
pub struct Args {
    /// Push server URL (ws:// or wss://), for this run (Settings are not changed).
    #[arg(long)]
    pub server: Option<String>,
    /// Wire dialect: seed, native or auto.
    #[arg(long)]
    pub dialect: Option<String>,
    /// Bearer token (or CHIME_TOKEN).
    #[arg(long, env = "CHIME_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Cookie header value (or CHIME_COOKIE).
    #[arg(long, env = "CHIME_COOKIE", hide_env_values = true)]
    pub cookie: Option<String>,
    /// Credential as a query parameter, NAME=VALUE.
    #[arg(long, value_name = "NAME=VALUE")]
    pub query_token: Option<String>,
    /// Extra request header, Name:Value (repeatable).
    #[arg(long = "header")]
    pub header: Vec<String>,
    /// Heartbeat period in seconds.
    #[arg(long)]
    pub heartbeat: Option<f64>,
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
}

impl Args {
    /// A server given on the command line, if any.
    pub fn profile(&self) -> Result<Option<(ServerProfile, Config)>, String> {
        let Some(url) = self.server.clone() else {
            return Ok(None);
        };
        let profile = ServerProfile::from_flags(
            &url,
            self.dialect.as_deref().unwrap_or("auto"),
            &self.header,
            self.token.clone(),
            self.cookie.clone(),
            self.query_token.as_deref(),
        )?;
        let mut config = Config {
            dialect: profile.dialect,
            ..Config::default()
        };
        if let Some(secs) = self.heartbeat {
            if let Some(p) = chime_core::settings::heartbeat_problem(profile.dialect, secs) {
                return Err(format!("--heartbeat: {p}"));
            }
            config.heartbeat = Heartbeat::with_interval(Duration::from_secs_f64(secs));
        }
        Ok(Some((profile, config)))
    }
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
