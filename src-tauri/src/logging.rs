//! Logs to stderr and to a daily file in the platform log dir (seven files
//! kept), every record passed through [`chime_proto::redact::log_line`]
//! (credentials redacted, one line, no control characters).

use std::path::Path;

use chime_proto::redact::Redact;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;
use tracing_subscriber::{fmt, EnvFilter};

/// Log files kept before the oldest is deleted.
const KEEP_FILES: usize = 7;

/// Start logging; keep the guard alive for the life of the process (it
/// flushes the file on drop). Returns a problem to tell the user, if the
/// log dir cannot be used (logging to stderr goes on).
pub fn init(dir: Option<&Path>) -> (Option<WorkerGuard>, Option<String>) {
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tao=warn,zbus=warn".into());
    let stderr = fmt::layer()
        .with_ansi(false)
        .with_writer(Redact(std::io::stderr))
        .with_filter(filter());
    let (file, guard, problem) = match dir.map(open_appender) {
        Some(Ok(appender)) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = fmt::layer()
                .with_ansi(false)
                .with_writer(Redact(writer))
                .with_filter(filter());
            (Some(layer), Some(guard), None)
        }
        Some(Err(e)) => (None, None, Some(e)),
        None => (None, None, Some("no home directory for log files".into())),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    (guard, problem)
}

fn open_appender(dir: &Path) -> Result<tracing_appender::rolling::RollingFileAppender, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("chime")
        .filename_suffix("log")
        .max_log_files(KEEP_FILES)
        .build(dir)
        .map_err(|e| format!("cannot log to {}: {e}", dir.display()))
}
