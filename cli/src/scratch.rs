//! Journal directories for the demo and benchmarks.

use std::path::PathBuf;
use std::sync::Mutex;

use rtr_core::EmbeddedConfig;

/// Every scratch directory not yet removed: a command that ends early
/// (its output's reader went away, see `out::reader_gone`) removes them
/// before it exits, since no destructor runs then.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A directory removed when dropped (or when the process ends early).
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(dir: PathBuf) -> Scratch {
        LIVE.lock().unwrap_or_else(|p| p.into_inner()).push(dir.clone());
        Scratch(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        LIVE.lock().unwrap_or_else(|p| p.into_inner()).retain(|d| d != &self.0);
    }
}

/// Removes every scratch directory still there (the process is about to end).
pub fn remove_all() {
    // try_lock: a thread that died holding the lock, or this very thread
    // inside Scratch::new, must not hang the exit.
    if let Ok(dirs) = LIVE.try_lock() {
        for d in dirs.iter() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The embedded node's configuration for `dir` / `--no-journal`: a given
/// directory is kept; without one, a fresh directory under the system's
/// temporary directory is used and removed afterwards (the returned guard).
pub fn journal_choice(
    dir: Option<PathBuf>,
    no_journal: bool,
    what: &str,
) -> Result<(EmbeddedConfig, Option<Scratch>), String> {
    if no_journal {
        return Ok((EmbeddedConfig::default(), None));
    }
    match dir {
        Some(d) => Ok((EmbeddedConfig::journaled(d), None)),
        None => {
            let d = std::env::temp_dir().join(format!("rtr-{what}-{}-{}", std::process::id(), nanos()));
            Ok((EmbeddedConfig::journaled(&d), Some(Scratch::new(d))))
        }
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}
