//! Journal directories for the demo and benchmarks.

use std::path::PathBuf;

use rtr_core::EmbeddedConfig;

/// A directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
            Ok((EmbeddedConfig::journaled(&d), Some(Scratch(d))))
        }
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}
