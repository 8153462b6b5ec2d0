//! `rtr qualify-storage DIR` end to end: passes on a local directory,
//! warns on a memory file system, fails (non-zero, with FAIL lines) on one
//! that fills up, always removes its scratch directory, and refuses bad
//! arguments. The tmpfs variants need root (`mount`); they are skipped with a
//! message otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

mod common;

use common::{s, Out};

/// Runs `rtr` with a bounded wait; kills it if it overruns.
fn rtr(args: &[&str]) -> Out {
    common::rtr_within(args, WAIT)
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn a_local_directory_passes_every_check_and_is_left_clean() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("keep.txt"), "not touched").unwrap();
    let o = rtr(&["qualify-storage", s(d.path())]);
    assert_eq!(o.code, 0, "{o:?}");
    for (id, name) in [
        ("a", "write order"),
        ("b", "synchronous persistence"),
        ("c", "exclusive ownership"),
        ("d", "fencing"),
        ("e", "torn writes"),
    ] {
        let prefix = format!("PASS  ({id}) {name}: ");
        assert!(o.stdout.lines().any(|l| l.starts_with(&prefix)), "{prefix} {o:?}");
    }
    assert!(o.stdout.contains("fdatasync p50 "), "{o:?}");
    assert!(o.stdout.contains("all 5 checks passed"), "{o:?}");
    assert!(!o.stdout.contains("FAIL"), "{o:?}");
    assert_eq!(entries(d.path()), vec!["keep.txt".to_string()], "the scratch directory is removed");

    let o = rtr(&["qualify-storage", s(d.path()), "--json", "--records", "50"]);
    assert_eq!(o.code, 0, "{o:?}");
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(v["ok"], true);
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 5);
    assert!(checks.iter().all(|c| c["pass"] == true), "{v}");
    assert!(v["fdatasync_p50_us"].as_f64().unwrap() > 0.0);
    assert!(checks[0]["detail"].as_str().unwrap().starts_with("50 records"), "{v}");
    assert_eq!(entries(d.path()), vec!["keep.txt".to_string()]);
}

#[test]
fn bad_arguments_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let o = rtr(&["qualify-storage", s(&d.path().join("missing"))]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("No such file or directory"), "{o:?}");
    let f = d.path().join("file");
    std::fs::write(&f, "x").unwrap();
    let o = rtr(&["qualify-storage", s(&f)]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("is not a directory"), "{o:?}");
    let o = rtr(&["qualify-storage", s(d.path()), "--records", "0"]);
    assert_eq!(o.code, 1, "{o:?}");
}

/// A tmpfs mounted for the test; unmounted (lazily) when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, size: &str) -> Option<Mount> {
    // SAFETY: geteuid has no preconditions and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", s(at)])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    ok.then(|| Mount(at.to_path_buf()))
}

#[test]
fn a_memory_file_system_passes_with_warnings_about_durability() {
    let d = tempfile::tempdir().unwrap();
    let Some(m) = mount_tmpfs(d.path(), "16m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let o = rtr(&["qualify-storage", s(d.path())]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("(file system: tmpfs"), "{o:?}");
    assert!(o.stdout.contains("WARN  (b) fdatasync takes"), "a memory fdatasync is suspiciously fast: {o:?}");
    assert!(o.stdout.contains("WARN  this is a memory file system"), "{o:?}");
    assert!(o.stdout.contains("all 5 checks passed (2 warnings)"), "{o:?}");
    assert!(entries(d.path()).is_empty());
    drop(m);
}

#[test]
fn a_file_system_that_fills_up_fails_with_a_non_zero_exit() {
    let d = tempfile::tempdir().unwrap();
    let Some(m) = mount_tmpfs(d.path(), "600k") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let o = rtr(&["qualify-storage", s(d.path())]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.lines().any(|l| l.starts_with("FAIL  (a) write order: error:")), "{o:?}");
    assert!(o.stdout.contains("checks FAILED: do not put a journal on this storage"), "{o:?}");
    assert!(entries(d.path()).is_empty(), "the scratch directory is removed after failures too");
    drop(m);
}
