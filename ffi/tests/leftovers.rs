//! The unit tests of this crate run on the process-wide embedded node with a
//! journal of their own (16 MiB preallocated); that node lives until the
//! process exits, so no destructor removes the journal. This runs them (the
//! test binary cargo already built for this profile) with a temporary
//! directory of their own and checks that they leave nothing in it.

use std::path::Path;
use std::process::Command;

#[test]
fn the_unit_tests_leave_no_journal_in_the_temporary_directory() {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["test", "--quiet", "-p", "rtr-ffi", "--lib"])
        .env("TMPDIR", tmp.path())
        .env_remove("RTR_JOURNAL_DIR")
        .env_remove("RTR_NODE_SOCKET")
        .output()
        .expect("run cargo test");
    assert!(
        out.status.success(),
        "the unit tests failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("read").map(|e| e.expect("entry").path()).collect();
    assert!(left.is_empty(), "the unit tests left {left:?}");
}
