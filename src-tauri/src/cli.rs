//! Where the server profile comes from: flags, else the settings file in the
//! XDG config dir (`$XDG_CONFIG_HOME/chime/settings.json`), else nothing.

use std::path::PathBuf;
use std::time::Duration;

use chime_core::{Auth, Config, Dialect, Heartbeat, ServerProfile};
use clap::Parser;
use serde::Deserialize;

/// Chime: likes, dislikes and replies, in the tray.
#[derive(Parser, Debug, Clone)]
#[command(name = "chime", version)]
pub struct Args {
    /// Push server URL (ws:// or wss://).
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
}

/// The settings file (the settings window comes later; secrets move to the
/// keyring then).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub server: Option<String>,
    pub dialect: Option<String>,
    pub token: Option<String>,
    pub cookie: Option<String>,
    pub heartbeat: Option<f64>,
    /// Which kinds make a toast (all on by default).
    pub notify: NotifyKinds,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default)]
pub struct NotifyKinds {
    pub likes: bool,
    pub dislikes: bool,
    pub replies: bool,
}

impl Default for NotifyKinds {
    fn default() -> Self {
        NotifyKinds {
            likes: true,
            dislikes: true,
            replies: true,
        }
    }
}

pub fn config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|p| p.join("chime"))
}

/// Read the settings file; a missing file is empty settings, a broken one is
/// an error message (the app keeps running without a server).
pub fn load_settings() -> Result<Settings, String> {
    let Some(path) = config_dir().map(|d| d.join("settings.json")) else {
        return Ok(Settings::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("settings file {} is not valid: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Build the profile and supervisor config from flags over settings.
pub fn profile(
    args: &Args,
    settings: &Settings,
) -> Result<Option<(ServerProfile, Config)>, String> {
    let Some(url) = args.server.clone().or_else(|| settings.server.clone()) else {
        return Ok(None);
    };
    let mut profile = ServerProfile::new(&url).map_err(|e| e.to_string())?;
    if let Some(d) = args.dialect.clone().or_else(|| settings.dialect.clone()) {
        profile.dialect = d.parse::<Dialect>()?;
    }
    for h in &args.header {
        profile.add_header(h).map_err(|e| e.to_string())?;
    }
    profile.auth = Auth::from_flags(
        args.token.clone().or_else(|| settings.token.clone()),
        args.cookie.clone().or_else(|| settings.cookie.clone()),
        args.query_token.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    profile.validate().map_err(|e| e.to_string())?;
    let mut config = Config {
        dialect: profile.dialect,
        ..Config::default()
    };
    if let Some(secs) = args.heartbeat.or(settings.heartbeat) {
        if !(0.0..86_400.0).contains(&secs) {
            return Err("heartbeat must be a number of seconds".into());
        }
        config.heartbeat = Heartbeat::with_interval(Duration::from_secs_f64(secs));
    }
    Ok(Some((profile, config)))
}
