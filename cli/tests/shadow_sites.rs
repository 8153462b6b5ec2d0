//! Shadow servers at two sites, every node a process of its own on
//! loopback (docs/shadow.md): a frontend, a router, and two sites of two
//! backends each (`rtr start --site east|west`), all four backends' journals
//! under one root (the role authority: sites are labels here). Each site's
//! servers keep their own database (`crash-remote --db`). Under load the
//! primary site is killed whole (both nodes and their servers, SIGKILL);
//! the other site goes on alone (`remember`), the killed site comes back
//! as the secondary, catches up, and at the end both sites' databases hold
//! exactly the transfers the clients saw accepted (plus any committed
//! without the client hearing), each once.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::nodes::{free_port, lines, start_node, Node, WAIT};
use common::{s, spawn_testkit, testkit_within, Proc};

/// Clients of the workload (see `links.rs`, AS_CLIENTS: more can deadlock
/// two servers per partition with no transaction timeout).
const CLIENTS: usize = 3;

/// Each partition's state, note, site and backlog on node `n`, in `rtr
/// show partition` order.
#[derive(Debug)]
struct Part {
    state: String,
    note: String,
    site: String,
    backlog: u64,
}

fn parts(n: &Node) -> Vec<Part> {
    let v = n.rtr(&["show", "partition", "--json"]).json();
    let text = |p: &serde_json::Value, k: &str| p[k].as_str().unwrap_or("").to_string();
    v["partitions"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|p| Part {
                    state: text(p, "state"),
                    note: text(p, "note"),
                    site: text(p, "site"),
                    backlog: p["backlog"].as_u64().unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn states(n: &Node) -> Vec<String> {
    parts(n).into_iter().map(|p| p.state).collect()
}

/// Wait until `pred` holds, saying `what` (and the nodes' states) if it
/// does not within `WAIT`.
fn wait_for(what: &str, nodes: &[(&str, &Node)], mut pred: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !pred() {
        if start.elapsed() > WAIT {
            let seen: Vec<String> = nodes.iter().map(|(name, n)| format!("{name}: {:?}", parts(n))).collect();
            panic!("{what}: not within {WAIT:?}\n{}", seen.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn db_lines(dir: &Path, part: usize) -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(dir.join(format!("db-p{part}.log")))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split(',').count() == 7)
        .map(str::to_string)
        .collect()
}

fn servers(node: &Node, state: &Path, db: &Path) -> Proc {
    let p = spawn_testkit(
        &["crash-remote", "--servers", "--shadow", "--state", s(state), "--db", s(db)],
        Some(&node.socket),
    );
    p.expect("servers open");
    p
}

#[test]
fn a_primary_site_killed_under_load_comes_back_as_secondary_and_catches_up() {
    let root = tempfile::tempdir().unwrap();
    let journals = root.path().join("journals");
    let all: Vec<(&str, u16)> = ["fe", "tr", "be1", "be2", "be3", "be4"].iter().map(|n| (*n, free_port())).collect();
    let extra = |name: &str| -> Vec<String> {
        let mut e: Vec<String> =
            ["--inactivity", "2", "--journal-root", s(&journals)].iter().map(|x| x.to_string()).collect();
        match name {
            "be1" | "be2" => e.extend(["--site".into(), "east".into()]),
            "be3" | "be4" => e.extend(["--site".into(), "west".into()]),
            _ => {}
        }
        e
    };
    let start = |name: &str| start_node(root.path(), &all, name, &extra(name), true);
    let (fe, tr) = (start("fe"), start("tr"));
    let (mut be1, mut be2, be3, be4) = (start("be1"), start("be2"), start("be3"), start("be4"));
    for n in [&fe, &tr, &be1, &be2, &be3, &be4] {
        n.ok(&["create", "facility", "crash", "--frontend", "fe", "--router", "tr", "--backend", "be1,be2,be3,be4"]);
    }
    fe.wait_link_up("tr");
    for b in [&be1, &be2, &be3, &be4] {
        b.wait_link_up("tr");
    }
    let state = root.path().join("state");
    let (east, west) = (root.path().join("east"), root.path().join("west"));
    // East opens first: its partitions claim the primary records (alone:
    // remember); west's become the secondaries; each site's second node
    // holds standbys.
    let s1 = servers(&be1, &state, &east);
    let nodes = [("be1", &be1), ("be2", &be2), ("be3", &be3), ("be4", &be4)];
    wait_for("be1 primary", &nodes, || states(&be1).iter().all(|s| s == "remember" || s == "pri_act"));
    let s3 = servers(&be3, &state, &west);
    wait_for("be1 primary, be3 secondary", &nodes, || {
        states(&be1) == ["pri_act", "pri_act"] && states(&be3) == ["sec_act", "sec_act"]
    });
    let s2 = servers(&be2, &state, &east);
    let s4 = servers(&be4, &state, &west);
    wait_for("standbys at both sites", &nodes, || {
        states(&be2) == ["standby", "standby"] && states(&be4) == ["standby", "standby"]
    });
    let clients = spawn_testkit(
        &["crash-remote", "--clients", &CLIENTS.to_string(), "--count", "300", "--state", s(&state)],
        Some(&fe.socket),
    );
    let accepted = state.join("client-accepted.log");
    wait_for("progress before the fault", &nodes, || lines(&accepted) >= 100);
    // The primary site is lost whole.
    let before = lines(&accepted);
    be1.proc.child.kill().unwrap();
    be2.proc.child.kill().unwrap();
    drop((s1, s2));
    let _ = be1.proc.child.wait();
    let _ = be2.proc.child.wait();
    let west_nodes = [("be3", &be3), ("be4", &be4)];
    let alone = wait_for("west primary, alone (remember)", &west_nodes, || {
        states(&be3) == ["remember", "remember"] || states(&be4) == ["remember", "remember"]
    });
    // Remember mode shows its backlog.
    let west_primary = if states(&be3)[0] == "remember" { &be3 } else { &be4 };
    wait_for("a backlog while east is away", &west_nodes, || parts(west_primary).iter().all(|p| p.backlog > 0));
    for p in parts(west_primary) {
        assert!(p.site == "west" && p.note.contains("remembered for the other site"), "{p:?}");
    }
    // East comes back: its nodes, then its servers; it is the secondary now,
    // and catches up before it takes new work.
    be1 = start("be1");
    be2 = start("be2");
    be1.wait_link_up("tr");
    be2.wait_link_up("tr");
    let s1 = servers(&be1, &state, &east);
    let s2 = servers(&be2, &state, &east);
    let nodes = [("be1", &be1), ("be2", &be2), ("be3", &be3), ("be4", &be4)];
    let back = wait_for("east secondary again, west primary with it", &nodes, || {
        let east_secondary = [&be1, &be2].iter().any(|b| states(b) == ["sec_act", "sec_act"]);
        east_secondary && states(west_primary) == ["pri_act", "pri_act"]
    });
    // (Each wait is 30 s; the clients may have more to do than that.)
    let mut done = clients.wait_line("clients done");
    for _ in 0..2 {
        if done.is_ok() {
            break;
        }
        done = clients.wait_line("clients done");
    }
    if let Err(e) = done {
        let logs: Vec<String> = ["fe", "tr", "be1", "be2", "be3", "be4"]
            .iter()
            .map(|n| format!("--- {n} ---\n{}", tail(root.path(), n)))
            .collect();
        panic!("clients did not finish: {e}\n{}", logs.join("\n"));
    }
    // Every commit reached both sites: the primary keeps nothing more.
    wait_for("the backlog drained", &nodes, || {
        parts(west_primary).iter().all(|p| p.backlog == 0) && (0..2).all(|p| db_lines(&east, p) == db_lines(&west, p))
    });
    for (name, db) in [("east", &east), ("west", &west)] {
        let out = testkit_within(&["crash-check", "--state", s(&state), "--db", s(db)], WAIT);
        assert_eq!(out.code, 0, "{name}: {out:?}");
        eprintln!("{name}: {}", out.stdout.trim());
    }
    for p in 0..2 {
        assert_eq!(db_lines(&east, p), db_lines(&west, p), "partition {p}: both sites' books are the same");
    }
    eprintln!(
        "east killed after {before} accepted; west primary alone after {alone:?}; east back as secondary after \
         {back:?}; {} accepted, {} rejected",
        lines(&accepted),
        lines(&state.join("client-rejected.log"))
    );
    drop((s1, s2, s3, s4));
}

/// The last lines of node `name`'s log.
fn tail(root: &Path, name: &str) -> String {
    let log = std::fs::read_to_string(root.join(name).join("node.log")).unwrap_or_default();
    log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
}
