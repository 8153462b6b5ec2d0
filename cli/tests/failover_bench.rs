//! `rtr failover-bench`: one run end to end (four node daemons, the active
//! backend killed under load, its standby promoted). Timings are not checked,
//! only that every phase was measured and reported.

mod common;

use std::time::Duration;

#[test]
fn one_run_reports_every_phase_and_a_median() {
    let out = common::rtr_within(&["failover-bench", "--runs", "1"], Duration::from_secs(120));
    assert_eq!(out.code, 0, "{out:?}");
    let run = out.stdout.lines().find(|l| l.starts_with("run 1:")).unwrap_or_else(|| panic!("no run line: {out:?}"));
    for phase in ["detection", "takeover", "promoted", "first new commit"] {
        assert!(run.contains(phase), "{phase} missing: {out:?}");
    }
    let median = out.stdout.lines().find(|l| l.starts_with("median:")).unwrap_or_else(|| panic!("no median: {out:?}"));
    assert!(median.contains("first new commit"), "{out:?}");
}
