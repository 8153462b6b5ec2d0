//! The tests' workloads live in `rtr-testkit`, not in the shipped `rtr`
//! command (issue 15, item 9): `rtr` refuses them as unknown commands.

mod common;

use std::time::Duration;

use common::{rtr_within, testkit_within};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn the_crash_workloads_are_in_the_testkit_not_in_rtr() {
    for cmd in ["crash-worker", "crash-check", "crash-remote"] {
        let out = rtr_within(&[cmd, "--help"], WAIT);
        assert_eq!(out.code, 2, "rtr {cmd}: {out:?}");
        assert!(out.stderr.contains("unrecognized subcommand"), "rtr {cmd}: {out:?}");
        let out = testkit_within(&[cmd, "--help"], WAIT);
        assert_eq!(out.code, 0, "rtr-testkit {cmd}: {out:?}");
        assert!(out.stdout.contains("--state"), "rtr-testkit {cmd}: {out:?}");
    }
    // It runs: a state where nothing happened breaks no invariant.
    let dir = tempfile::tempdir().unwrap();
    let out = testkit_within(&["crash-check", "--state", common::s(dir.path())], WAIT);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("crash check: ok"), "{out:?}");
}
