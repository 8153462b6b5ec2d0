//! Issue 14's acceptance test, with real processes on loopback: a frontend,
//! two routers, an active and a standby backend (journals under one shared
//! `--journal-root`), the crash workload's servers on each backend and its
//! clients in processes of their own. Under load, one after the other:
//! kill -9 the active backend node (its standby takes over; the killed node
//! starts again and rejoins as standby), kill -9 the router the frontend
//! uses, kill -9 the new active backend (the first one takes over again).
//!
//! Then every transfer ended once, none was rejected (the kills must not
//! cost a client its transaction), the books balance with every accepted
//! transfer applied exactly once, and each journal has one owner. The
//! client-visible stall at each kill is printed (not asserted: the machine
//! is shared and noisy).

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::nodes::{free_port, lines, roles, start_node, Node, WAIT};
use common::{s, spawn_testkit, testkit_within, Proc};

/// Clients and transfers per client: enough load to outlast the three kills
/// and the restart between them (checked before the last kill). Three
/// clients, not four: the workload's transfers reach the two partitions in
/// either order and it runs two servers per partition, so four transactions
/// can each hold a server of one partition and wait for one of the other, a
/// deadlock only a transaction timeout breaks here (no deadlock
/// rescheduling yet; see the README) — and this test
/// counts every rejection. It did so once in a CI run, after the second
/// backend kill; a cycle over both partitions needs four transactions.
const CLIENTS: usize = 3;
const COUNT: usize = 2000;

/// Microseconds since the Unix epoch (the clock `client-outcomes.log` uses).
fn unix_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros())
}

/// Wait (bounded by `wait`) until `done` holds; `what` says what was awaited.
fn wait_for(wait: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + wait;
    while !done() {
        assert!(Instant::now() < until, "{what}: not within {wait:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The crash workload's servers (two per partition) on node `n`.
fn servers(n: &Node, state: &Path) -> Proc {
    let p = spawn_testkit(&["crash-remote", "--servers", "--state", s(state)], Some(&n.socket));
    p.expect("servers open");
    p
}

/// Start node `name` again in its directory, keeping the log of its
/// previous run as `node.N.log` (a new run's log starts empty).
fn restart(root: &Path, all: &[(&str, u16)], name: &str, extra: &[String], run: u32) -> Node {
    let dir = root.join(name);
    let _ = std::fs::rename(dir.join("node.log"), dir.join(format!("node.{run}.log")));
    start_node(root, all, name, extra, true)
}

/// Every log `name` wrote so far, previous runs first.
fn all_logs(root: &Path, name: &str) -> String {
    let dir = root.join(name);
    let mut text = String::new();
    for run in 1..10 {
        if let Ok(t) = std::fs::read_to_string(dir.join(format!("node.{run}.log"))) {
            text += &format!("--- {name}, run {run}\n{t}");
        }
    }
    text + &format!("--- {name}, current run\n{}", std::fs::read_to_string(dir.join("node.log")).unwrap_or_default())
}

/// Wait until node `n` logged that it released the journal it took over.
fn wait_released(n: &Node, name: &str) {
    let until = Instant::now() + WAIT;
    loop {
        let log = n.log();
        if log.lines().any(|l| l.contains("of taken-over journal") && l.contains("released")) {
            return;
        }
        assert!(Instant::now() < until, "{name} did not release the journal it took over within {WAIT:?}:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait (bounded) until `at_least` transfers were accepted; `after` says
/// which step waits. The load must still be running meanwhile (if it ended
/// normally, raise COUNT; the clients' error, if any, is above).
fn progress(accepted: &Path, clients: &mut Proc, at_least: usize, after: &str) -> usize {
    let until = Instant::now() + WAIT;
    while lines(accepted) < at_least {
        let ended = clients.child.try_wait().unwrap();
        assert!(ended.is_none(), "{after}: the load ended ({ended:?}) at {} accepted (raise COUNT)", lines(accepted));
        assert!(Instant::now() < until, "{after}: stuck at {} accepted (waiting for {at_least})", lines(accepted));
        std::thread::sleep(Duration::from_millis(5));
    }
    lines(accepted)
}

/// On a failure, every node's log (the temporary directory goes with the
/// test): what the nodes said is what explains a hang or a lost transfer.
struct LogsOnFailure<'a>(&'a Path);

impl Drop for LogsOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in ["fe", "tr1", "tr2", "be1", "be2"] {
                eprintln!("{}", all_logs(self.0, name));
            }
        }
    }
}

/// A line of `client-outcomes.log` (see cli/src/crash.rs).
struct Outcome {
    start_us: u128,
    end_us: u128,
    accepted: bool,
    line: String,
}

fn outcomes(state: &Path) -> Vec<Outcome> {
    let text = std::fs::read_to_string(state.join("client-outcomes.log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() == 6).then(|| Outcome {
                start_us: f[0].parse().unwrap_or(0),
                end_us: f[1].parse().unwrap_or(0),
                accepted: f[2] == "accepted",
                line: l.to_string(),
            })
        })
        .collect()
}

/// The client-visible stall at each kill (`kills`: what, when), printed:
/// the gap in accepted outcomes across the kill, the longest gap between
/// two accepted outcomes from the last one before the kill until the next
/// kill, the longest wait of a transaction in flight at the kill, and the
/// rejections in that window with their statuses. Returns the rejected
/// lines.
fn report_stalls(state: &Path, kills: &[(String, u128)]) -> Vec<String> {
    let all = outcomes(state);
    let mut acc: Vec<u128> = all.iter().filter(|o| o.accepted).map(|o| o.end_us).collect();
    acc.sort_unstable();
    let ms = |us: u128| us as f64 / 1000.0;
    let gaps = |from: u128, to: u128| -> u128 {
        let w: Vec<u128> = acc.iter().copied().filter(|t| *t >= from && *t < to).collect();
        w.windows(2).map(|p| p[1] - p[0]).max().unwrap_or(0)
    };
    // For scale: the longest gap under load before the first kill.
    if let (Some(first), Some((_, k0))) = (acc.first(), kills.first()) {
        eprintln!("stall: before any kill, longest gap between accepted outcomes {:.1} ms", ms(gaps(*first, *k0)));
    }
    let mut rejected = Vec::new();
    for (i, (what, at)) in kills.iter().enumerate() {
        let next = kills.get(i + 1).map_or(u128::MAX, |k| k.1);
        let last_before = acc.iter().copied().rfind(|t| t < at).unwrap_or(*at);
        let first_after = acc.iter().copied().find(|t| t >= at);
        let across = first_after.map_or("none".to_string(), |t| format!("{:.1} ms", ms(t - last_before)));
        let longest = gaps(last_before, next);
        let in_flight: Vec<&Outcome> = all.iter().filter(|o| o.start_us < *at && o.end_us >= *at).collect();
        let wait = in_flight.iter().map(|o| o.end_us - o.start_us).max().unwrap_or(0);
        let rej: Vec<&Outcome> = all.iter().filter(|o| !o.accepted && o.end_us >= *at && o.end_us < next).collect();
        eprintln!(
            "stall at kill {} ({what}): gap across the kill {across}; longest gap until the next kill {:.1} ms; \
             {} transactions in flight, the longest waited {:.1} ms; {} rejected after it",
            i + 1,
            ms(longest),
            in_flight.len(),
            ms(wait),
            rej.len()
        );
        for o in rej {
            eprintln!("  rejected: {}", o.line);
            rejected.push(o.line.clone());
        }
    }
    let before: Vec<&Outcome> =
        all.iter().filter(|o| !o.accepted && kills.first().is_some_and(|k| o.end_us < k.1)).collect();
    for o in before {
        eprintln!("  rejected before any kill: {}", o.line);
        rejected.push(o.line.clone());
    }
    rejected
}

#[test]
fn killing_the_active_backend_a_router_and_the_new_active_under_load_rejects_nothing() {
    let root = tempfile::tempdir().unwrap();
    let rp = root.path();
    let _logs = LogsOnFailure(rp);
    let journals = rp.join("journals");
    let all: Vec<(&str, u16)> = ["fe", "tr1", "tr2", "be1", "be2"].into_iter().map(|n| (n, free_port())).collect();
    let extra: Vec<String> = ["--inactivity", "5", "--journal-root", s(&journals)].map(String::from).to_vec();
    let start = |name: &str| start_node(rp, &all, name, &extra, true);
    let (fe, tr1, tr2, be1, be2) = (start("fe"), start("tr1"), start("tr2"), start("be1"), start("be2"));
    let (mut tr1, mut tr2, mut be1, mut be2) = (Some(tr1), Some(tr2), be1, be2);
    for n in [&fe, tr1.as_ref().unwrap(), tr2.as_ref().unwrap(), &be1, &be2] {
        n.ok(&["create", "facility", "crash", "--frontend", "fe", "--router", "tr1,tr2", "--backend", "be1,be2"]);
    }
    for r in ["tr1", "tr2"] {
        fe.wait_link_up(r);
        be1.wait_link_up(r);
        be2.wait_link_up(r);
    }
    let state = rp.join("state");
    let mut s1 = servers(&be1, &state);
    wait_for(WAIT, "be1 active", || roles(&be1) == ["active", "active"]);
    let mut s2 = servers(&be2, &state);
    wait_for(WAIT, "be2 standby", || roles(&be2) == ["standby", "standby"]);
    let (clients_n, count) = (CLIENTS.to_string(), COUNT.to_string());
    let mut clients = spawn_testkit(
        &["crash-remote", "--clients", &clients_n, "--count", &count, "--state", s(&state)],
        Some(&fe.socket),
    );
    let accepted = state.join("client-accepted.log");
    let mut kills: Vec<(String, u128)> = Vec::new();

    // 1. kill -9 the active backend node: be2 takes over its journal and
    // its ranges. be1 starts again once be2 released its journal, with its
    // servers, and rejoins as standby.
    let n = progress(&accepted, &mut clients, 100, "before the first kill");
    kills.push(("be1, the active backend".into(), unix_us()));
    be1.proc.child.kill().unwrap();
    let _ = be1.proc.child.wait();
    wait_for(WAIT, "be2 active after be1 was killed", || roles(&be2) == ["active", "active"]);
    wait_released(&be2, "be2");
    drop(s1); // (its node is gone: it has exited or is killed now)
    be1 = restart(rp, &all, "be1", &extra, 1);
    for r in ["tr1", "tr2"] {
        be1.wait_link_up(r);
    }
    s1 = servers(&be1, &state);
    wait_for(WAIT, "be1 standby again", || roles(&be1) == ["standby", "standby"]);
    let n = progress(&accepted, &mut clients, n + 100, "after the first kill");

    // 2. kill -9 the router the frontend uses: the first of the facility's
    // routers that it links to.
    let current = ["tr1", "tr2"].into_iter().find(|r| fe.link_state(r).starts_with("up")).expect("a router linked");
    kills.push((format!("{current}, the current router"), unix_us()));
    let router = if current == "tr1" { &mut tr1 } else { &mut tr2 };
    let mut r = router.take().unwrap();
    r.proc.child.kill().unwrap();
    let _ = r.proc.child.wait();
    drop(r);
    let n = progress(&accepted, &mut clients, n + 100, "after the router was killed");

    // 3. kill -9 the new active backend: be1 takes over again.
    assert!(clients.child.try_wait().unwrap().is_none(), "the load ended before the last kill (raise COUNT)");
    kills.push(("be2, the new active backend".into(), unix_us()));
    be2.proc.child.kill().unwrap();
    let _ = be2.proc.child.wait();
    wait_for(WAIT, "be1 active after be2 was killed", || roles(&be1) == ["active", "active"]);
    progress(&accepted, &mut clients, n + 100, "after the second backend kill");

    // The load ends (bounded: the clients give up on an outcome after 30 s).
    let until = Instant::now() + Duration::from_secs(120);
    let code = loop {
        if let Some(st) = clients.child.try_wait().unwrap() {
            break st.code();
        }
        assert!(Instant::now() < until, "the clients did not finish: {} accepted", lines(&accepted));
        std::thread::sleep(Duration::from_millis(20));
    };
    let (acc, rej) = (lines(&accepted), lines(&state.join("client-rejected.log")));
    eprintln!("load over: {acc} accepted, {rej} rejected of {}", CLIENTS * COUNT);
    let rejected = report_stalls(&state, &kills);
    assert_eq!(code, Some(0), "the clients failed (their error is above)");
    assert_eq!(acc + rej, CLIENTS * COUNT, "every transfer ended once");

    // The books: every accepted transfer applied once on both partitions,
    // no rejected one applied (the servers may still be applying the last
    // commits: wait for the checker, bounded, then let it say).
    let until = Instant::now() + WAIT;
    while testkit_within(&["crash-check", "--state", s(&state)], WAIT).code != 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
    }
    common::nodes::crash_check(&state);

    // One owner per journal: be2's journal, taken over by be1, is released
    // once its work is done; be2 starts again on it and rejoins as standby
    // while be1 stays active. Neither backend was fenced.
    wait_released(&be1, "be1");
    drop(s2);
    be2 = restart(rp, &all, "be2", &extra, 1);
    be2.wait_link_up(if tr1.is_some() { "tr1" } else { "tr2" });
    s2 = servers(&be2, &state);
    wait_for(WAIT, "be2 standby again", || roles(&be2) == ["standby", "standby"]);
    assert_eq!(roles(&be1), ["active", "active"], "be1 did not stay active");
    for (n, name) in [(&mut be1, "be1"), (&mut be2, "be2")] {
        assert!(n.proc.child.try_wait().unwrap().is_none(), "{name} stopped:\n{}", all_logs(rp, name));
    }
    let (log1, log2) = (all_logs(rp, "be1"), all_logs(rp, "be2"));
    assert!(log2.contains("took over the journal of be1"), "be2 did not take over be1's journal:\n{log2}");
    assert!(log1.contains("took over the journal of be2"), "be1 did not take over be2's journal:\n{log1}");
    for (name, log) in [("be1", &log1), ("be2", &log2)] {
        assert!(!log.contains("was taken over by another owner"), "{name} was fenced:\n{log}");
    }
    drop((s1, s2));

    // The point of the test, last so that anything else wrong is found first.
    assert_eq!(rejected.len(), 0, "transactions rejected because of the kills (their statuses are above)");
    assert_eq!(rej, 0, "transactions rejected");
}
