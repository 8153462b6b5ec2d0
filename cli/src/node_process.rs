//! Whether a process id (from a node directory's `rtr.pid`) is really the
//! node of that directory, before `rtr stop` signals or waits for it.
//!
//! A pid file outlives its node when the node is killed -9 or the machine
//! crashes; its number is then reused by any process. Signalling that
//! process would kill something unrelated (possibly of another user, when
//! root runs `rtr stop`). The node is recognised by its command line
//! (Linux `/proc/PID/cmdline`): `rtr start --foreground` (how every node
//! runs, detached or under a service manager) with a `--dir` that names
//! the same directory, relative paths taken from the process's own working
//! directory (`/proc/PID/cwd`).

use std::path::{Path, PathBuf};

/// The directory default of `rtr start --dir`.
const DEFAULT_DIR: &str = "rtr-node";

/// `Ok` if `pid` runs the node of `dir`; else why not (for the operator).
pub fn check(pid: i32, dir: &Path) -> Result<(), String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map_err(|e| format!("process {pid} is not running (or cannot be inspected: {e})"))?;
    let args: Vec<String> =
        raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let not_ours = |why: &str| format!("process {pid} is not the rtr node of {}: {why}", dir.display());
    let rest = args.get(1..).unwrap_or_default();
    if rest.first().map(String::as_str) != Some("start") || !rest.iter().any(|a| a == "--foreground") {
        let shown: Vec<&str> = args.iter().take(4).map(String::as_str).collect();
        return Err(not_ours(&format!("it runs {:?}", shown.join(" "))));
    }
    let its_dir = dir_arg(rest).unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let its_dir = if its_dir.is_relative() {
        let cwd =
            std::fs::read_link(format!("/proc/{pid}/cwd")).map_err(|e| not_ours(&format!("its directory: {e}")))?;
        cwd.join(its_dir)
    } else {
        its_dir
    };
    let same = match (its_dir.canonicalize(), dir.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same {
        return Err(not_ours(&format!("it is the node of {}", its_dir.display())));
    }
    Ok(())
}

/// The value of `--dir` in `start`'s arguments (`--dir D` or `--dir=D`).
fn dir_arg(args: &[String]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--dir" {
            return it.next().map(PathBuf::from);
        }
        if let Some(d) = a.strip_prefix("--dir=") {
            return Some(PathBuf::from(d));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unrelated_process_is_not_the_node() {
        let d = tempfile::tempdir().unwrap();
        let e = check(std::process::id() as i32, d.path()).unwrap_err();
        assert!(e.contains("is not the rtr node"), "{e}");
        let e = check(i32::MAX, d.path()).unwrap_err();
        assert!(e.contains("not running"), "{e}");
    }

    #[test]
    fn the_dir_argument_is_found_in_either_spelling() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(dir_arg(&v(&["start", "--foreground", "--dir", "/x"])), Some("/x".into()));
        assert_eq!(dir_arg(&v(&["start", "--dir=/y"])), Some("/y".into()));
        assert_eq!(dir_arg(&v(&["start"])), None);
    }
}
