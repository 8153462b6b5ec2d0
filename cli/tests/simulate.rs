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
    // A known failing run (core/src/sim/known.rs): with every fault and one
    // router, an operator's ignore-recovery makes a standby active beside a
    // frozen holder whose journal could not be taken over (the documented
    // limit of that override, docs/roles.md). (Seed 9431 with two routers
    // showed it until rejections were synced before servers hear them.) (It was the two-actives run of
    // two routers until the role authority fixed that, then seed 4's
    // frontend rejecting an accepted transaction, then the server deadlock of
    // timeout-less transactions (seeds 154, 7, 85), which the simulator now
    // reports without failing, then storm seed 3157 until presumed aborts
    // were told apart, then seed 7248's disagreement until rejections were
    // kept answerable, then seeds 7491 and 7181 (no outcome) until a vote
    // asked for before the transaction spanned two nodes was asked for
    // again, durably, and a router driving a transaction took its branch
    // back from one that had only asked about it; then seed 8101 until a
    // reader's in-doubt copy of a transaction it knew rolled back was
    // closed; then seed 7438, a server frozen with a commit in hand, until
    // deliveries carried fencing tokens, docs/fencing.md.) Once it is fixed
    // too, use another known failing run (`rtr simulate --known`).
    let run = ["simulate", "--seeds", "1", "--start", "17876", "--routers", "1", "--faults", "all"];
    let out = rtr_within(&run, WAIT);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("FAILED") && out.stdout.contains("two-actives"), "{out:?}");
    assert!(out.stderr.contains("failing seeds (replay one with --seed N):"), "{out:?}");
    // Ignoring the kind that defect shows as, the same seed passes.
    let mut ignoring = run.to_vec();
    ignoring.extend(["--ignore", "two-actives"]);
    let out = rtr_within(&ignoring, WAIT);
    assert_eq!(out.code, 0, "{out:?}");
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
}
