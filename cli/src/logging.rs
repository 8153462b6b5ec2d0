//! The node daemon's log: `tracing` events with a timestamp and a level,
//! one line each, on standard error (which a detached node, or
//! `--log-file`, points at its log file; SIGHUP points it at the file
//! again, see `signals::reopen_log`).
//!
//! The filter is env-filter syntax (`warn`, `info,rtr::node=debug`): from
//! `--log-level`, else the environment variable RTR_LOG, else the node's
//! configuration file, else `info`. The library's diagnostics (link
//! changes, journal recovery, the node stopping) come through
//! `rtr_core::log`'s hook as events of target `rtr::node`; the daemon's own
//! (start, signals, stop) are of target `rtr::daemon`.

use std::sync::Arc;

use rtr_core::log::Level;
use tracing_subscriber::EnvFilter;

/// The environment variable that sets the filter.
pub const ENV: &str = "RTR_LOG";

/// Whether `filter` is a filter (env-filter syntax).
pub fn check_filter(filter: &str) -> Result<(), String> {
    EnvFilter::try_new(filter).map(drop).map_err(|e| e.to_string())
}

/// The filter a node runs with: `flag`, else RTR_LOG, else `configured`.
pub fn choose(flag: Option<&str>, configured: &str) -> Result<String, String> {
    let (from, text) = match (flag, std::env::var(ENV)) {
        (Some(f), _) => ("--log-level", f.to_string()),
        (None, Ok(v)) if !v.trim().is_empty() => (ENV, v),
        _ => ("the log level", configured.to_string()),
    };
    check_filter(&text).map_err(|e| format!("{from} {text:?}: {e}"))?;
    Ok(text)
}

/// Start logging through `tracing` with `filter`, and take the library's
/// diagnostics into it.
pub fn init(filter: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("log level {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init()
        .map_err(|e| format!("cannot start the log: {e}"))?;
    rtr_core::log::set_hook(Some(Arc::new(forward)));
    Ok(())
}

/// One library message as an event of target `rtr::node`; the prefix the
/// library puts on its standard error lines is redundant here.
fn forward(level: Level, msg: &str) {
    let msg = msg.strip_prefix("rtr node: ").or_else(|| msg.strip_prefix("rtr: ")).unwrap_or(msg);
    match level {
        Level::Error => tracing::error!(target: "rtr::node", "{msg}"),
        Level::Warn => tracing::warn!(target: "rtr::node", "{msg}"),
        Level::Info => tracing::info!(target: "rtr::node", "{msg}"),
        Level::Debug => tracing::debug!(target: "rtr::node", "{msg}"),
    }
}
