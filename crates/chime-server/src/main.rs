use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chime_server::{serve, ServerConfig};
use clap::Parser;
use tokio::net::TcpListener;
use tracing::info;

/// Chime's reference push server: seed (`/pushMsg`) and native (`/v1/stream`)
/// dialects, a publishing API, in-memory or Redis storage.
#[derive(Parser, Debug)]
#[command(name = "chime-server", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port and prints it).
    #[arg(long, default_value = "127.0.0.1:8765")]
    bind: String,
    /// JSON file mapping users to tokens: {"alice": "token", ...}.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// A user token, as USER=TOKEN (repeatable). Tokens on the command
    /// line show in `ps`: prefer --tokens FILE, or CHIME_USER_TOKENS
    /// (USER=TOKEN pairs separated by commas).
    #[arg(
        long = "token",
        value_name = "USER=TOKEN",
        env = "CHIME_USER_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    token: Vec<String>,
    /// Secret for signed user tokens a site mints (or CHIME_TOKEN_SECRET);
    /// see docs/INTEGRATION.md.
    #[arg(long, env = "CHIME_TOKEN_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
    /// Key publishers send as `Authorization: Bearer KEY` (or CHIME_PUBLISHER_KEY).
    #[arg(long, env = "CHIME_PUBLISHER_KEY", hide_env_values = true)]
    publisher_key: Option<String>,
    /// Development only: accept `?user=NAME` without a token, publishing without a key.
    #[arg(long)]
    insecure_dev_auth: bool,
    /// Keep events and totals in Redis (e.g. redis://127.0.0.1:6379/0).
    #[arg(long)]
    redis: Option<String>,
    /// Events kept per user for resume.
    #[arg(long, default_value_t = 1000)]
    log_size: usize,
    /// Pushes queued per client before it is closed as too slow.
    #[arg(long, default_value_t = 256)]
    client_queue: usize,
    /// WebSocket connections per IP address (0 = unlimited).
    #[arg(long, default_value_t = 256)]
    max_conns_per_ip: usize,
    /// Origins, beside the server's own, whose pages may sign in with the
    /// user's cookie (repeatable). Bearer and ?token= sign-ins and clients
    /// that send no Origin (Chime, scripts) are not affected.
    #[arg(long = "allow-origin")]
    allow_origin: Vec<String>,
    /// A reverse proxy's address (repeatable): connections from it are
    /// counted against the client address its X-Forwarded-For names.
    #[arg(long = "trust-proxy", value_name = "IP")]
    trust_proxy: Vec<std::net::IpAddr>,
    /// Generate demo likes, dislikes and replies for this user.
    #[arg(long, value_name = "USER")]
    demo: Option<String>,
    /// Demo events per minute.
    #[arg(long, default_value_t = 12.0)]
    demo_rate: f64,
}

fn load_tokens(args: &Args) -> Result<HashMap<String, String>> {
    let mut by_token = HashMap::new();
    if let Some(path) = &args.tokens {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read tokens file {}", path.display()))?;
        let users: HashMap<String, String> = serde_json::from_str(&text).with_context(|| {
            format!(
                "tokens file {} is not {{\"user\": \"token\"}}",
                path.display()
            )
        })?;
        for (user, token) in users {
            by_token.insert(token, user);
        }
    }
    for spec in &args.token {
        let Some((user, token)) = spec.split_once('=') else {
            bail!("--token wants USER=TOKEN");
        };
        if user.is_empty() || token.is_empty() {
            bail!("--token wants USER=TOKEN");
        }
        by_token.insert(token.to_owned(), user.to_owned());
    }
    Ok(by_token)
}

#[tokio::main]
async fn main() -> Result<()> {
    if chime_proto::man::print_man_if_asked(<Args as clap::CommandFactory>::command()) {
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // Clients' tokens (`?token=`, cookies) and what clients send never
        // reach the log raw: redacted, one line per record.
        .with_ansi(false)
        .with_writer(chime_proto::redact::Redact(std::io::stderr))
        .init();
    let args = Args::parse();
    let config = ServerConfig {
        tokens: load_tokens(&args)?,
        token_secret: args.token_secret.clone().filter(|s| !s.is_empty()),
        publisher_key: args.publisher_key.clone(),
        insecure_dev_auth: args.insecure_dev_auth,
        log_size: args.log_size,
        client_queue: args.client_queue,
        max_conns_per_ip: args.max_conns_per_ip,
        allowed_origins: args.allow_origin.clone(),
        trusted_proxies: args.trust_proxy.clone(),
        redis: args.redis.clone(),
        ..ServerConfig::default()
    };
    if config.tokens.is_empty() && config.token_secret.is_none() && !config.insecure_dev_auth {
        tracing::warn!(
            "no tokens configured and --insecure-dev-auth not given: every client will be refused"
        );
    }
    let listener = TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let server = serve(listener, config).await?;
    let addr = server.addr;
    // A closed stdout (a supervisor that stopped reading) must not kill the server.
    let banner = format!(
        "chime-server listening on {addr}\n  seed:   ws://{addr}/pushMsg\n  native: ws://{addr}/v1/stream\n"
    );
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    drop(out);
    if let Some(user) = args.demo.clone() {
        info!(%user, rate = args.demo_rate, "demo traffic on");
        tokio::spawn(chime_server::demo::run(
            server.state.clone(),
            format!("http://{addr}"),
            user,
            args.demo_rate,
        ));
    }
    let stop = server.shutdown_sender();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutting down: clients are told to reconnect (1012)");
        let _ = stop.send(true);
    });
    let state = server.state.clone();
    server.wait().await;
    // Give sessions a moment to send their 1012 closes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while state
        .metrics
        .connections
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_tokens_come_from_a_file_the_environment_or_flags() {
        let dir = std::env::temp_dir().join(format!("chime-server-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("tokens.json");
        std::fs::write(&file, r#"{"ann": "t-ann"}"#).expect("write");
        // The only test in this binary that touches the environment.
        std::env::set_var("CHIME_USER_TOKENS", "bo=t-bo,cy=t-cy");
        let args = Args::try_parse_from(["chime-server", "--tokens", file.to_str().expect("path")])
            .expect("args");
        std::env::remove_var("CHIME_USER_TOKENS");
        let tokens = load_tokens(&args).expect("tokens");
        for (token, user) in [("t-ann", "ann"), ("t-bo", "bo"), ("t-cy", "cy")] {
            assert_eq!(tokens.get(token).map(String::as_str), Some(user));
        }
        // Flags still work, and a malformed pair is an error.
        let args = Args::try_parse_from(["chime-server", "--token", "dee=t-dee"]).expect("args");
        assert_eq!(load_tokens(&args).expect("tokens").len(), 1);
        let args = Args::try_parse_from(["chime-server", "--token", "nobody"]).expect("args");
        assert!(load_tokens(&args).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
