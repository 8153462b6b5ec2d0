//! `rtr simulate` as an operator runs it: a few seeds, a replayed seed,
//! the known failing runs, and bad arguments.

mod common;

use std::time::Duration;

use common::rtr_within;

const WAIT: Duration = Duration::from_secs(300);

#[test]
fn a_few_seeds_run_and_report_their_figures() {
    let out = rtr_within(
        &["simulate", "--seeds", "2", "--start", "5", "--routers", "1", "--faults", "client,server", "--all"],
        WAIT,
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("seed 5: ok"), "{out:?}");
    assert!(out.stdout.contains("seed 6: ok"), "{out:?}");
    assert!(out.stdout.contains("2 seeds, 0 failed"), "{out:?}");
    assert!(out.stdout.contains("steps/s"), "{out:?}");
}

#[test]
fn a_replayed_seed_prints_its_events_and_the_same_trace_twice() {
    let args = ["simulate", "--seed", "3", "--routers", "1", "--faults", "none", "--fault-time", "1"];
    let a = rtr_within(&args, WAIT);
    let b = rtr_within(&args, WAIT);
    assert_eq!(a.code, 0, "{a:?}");
    // Events (the link sessions' ticks) and the links they bring up (the
    // simulated links run the real link session since issue 17).
    assert!(a.stdout.contains("SessionTick("), "events are printed: {a:?}");
    assert!(a.stdout.contains("tr1: link to fe1 up"), "links are printed: {a:?}");
    assert!(a.stdout.contains("-> Send {"), "requests are printed");
    assert_eq!(a.stdout, b.stdout, "a seed replays exactly");
}

#[test]
fn a_failing_seed_exits_non_zero_and_names_itself() {
    // A run held to fewer steps than it needs fails as a livelock: a
    // failure that does not depend on a defect of the node code. (Until
    // 2026-12-06 this used a known failing run, last seed 17876's two
    // actives under ignore-recovery; that limit is fixed and the known
    // list is empty.)
    let run = ["simulate", "--seeds", "1", "--start", "17876", "--routers", "1", "--max-steps", "500"];
    let out = rtr_within(&run, WAIT);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("FAILED") && out.stdout.contains("livelock"), "{out:?}");
    assert!(out.stdout.contains("more than 500 steps"), "{out:?}");
    assert!(out.stderr.contains("failing seeds (replay one with --seed N):"), "{out:?}");
    // Ignoring the kind it shows first, the run is judged on the next (a
    // run cut short leaves a client waiting) and says what it ignored;
    // ignoring both, it passes.
    let mut ignoring = run.to_vec();
    ignoring.extend(["--ignore", "livelock"]);
    let out = rtr_within(&ignoring, WAIT);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("no-outcome") && out.stdout.contains("(ignored: livelock x1)"), "{out:?}");
    ignoring.pop();
    ignoring.push("livelock,no-outcome");
    let out = rtr_within(&ignoring, WAIT);
    assert_eq!(out.code, 0, "{out:?}");
    let zero = rtr_within(&["simulate", "--seeds", "1", "--max-steps", "0"], WAIT);
    assert_ne!(zero.code, 0, "{zero:?}");
    assert!(zero.stderr.contains("--max-steps must be at least 1"), "{zero:?}");
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    let out = rtr_within(&["simulate", "--seeds", "1", "--faults", "crash,flood"], WAIT);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("unknown fault kind \"flood\""), "{out:?}");
    let out = rtr_within(&["simulate", "--seeds", "1", "--ignore", "bad-kind"], WAIT);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("unknown violation kind"), "{out:?}");
    let out = rtr_within(&["simulate", "--seeds", "1", "--routers", "0"], WAIT);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("--routers 0"), "{out:?}");
    // Unshadowed runs take no locks: there is nothing to turn off.
    let out = rtr_within(&["simulate", "--seeds", "1", "--no-locks"], WAIT);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("--no-locks needs --shadow"), "{out:?}");
}

#[test]
fn backends_sharing_no_storage_are_simulated_with_unrecognized_recovery() {
    // The etcd deployment: no shared journal root, standbys go active
    // without a lost node's journal once its grant is gone.
    let out = rtr_within(
        &[
            "simulate",
            "--seeds",
            "1",
            "--start",
            "50",
            "--routers",
            "1",
            "--no-shared-root",
            "--recovery",
            "unrecognized",
            "--all",
        ],
        WAIT,
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("seed 50: ok"), "{out:?}");
    let bad = rtr_within(&["simulate", "--seeds", "1", "--recovery", "sometimes"], WAIT);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("recognized"), "the error names the values: {bad:?}");
}
