//! Nodes as separate processes linked over TCP on loopback: a frontend,
//! two routers and a backend, each with its own directory and port; the
//! clients and the servers in processes of their own. The current router is
//! killed with SIGKILL under load; afterwards every transaction ended once,
//! and the servers applied each accepted one exactly once and no rejected one.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::nodes::{crash_check, free_port, lines, roles, signal, start_node, Node, WAIT};
use common::{s, spawn_testkit, testkit_within, Proc};

struct Cluster {
    _root: tempfile::TempDir,
    fe: Node,
    tr1: Node,
    _tr2: Node,
    be: Node,
}

/// Facility CRASH: frontend fe, routers tr1 (preferred) and tr2, backend be.
fn cluster() -> Cluster {
    cluster_with("5")
}

fn cluster_with(inactivity: &str) -> Cluster {
    let root = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let (fe_p, tr1_p, tr2_p, be_p) = (ports[0], ports[1], ports[2], ports[3]);
    let all = [("fe", fe_p), ("tr1", tr1_p), ("tr2", tr2_p), ("be", be_p)];
    let start = |name: &str, port: u16| {
        let peers: Vec<(&str, u16)> = all.iter().copied().filter(|(n, _)| *n != name).collect();
        Node::start(root.path(), name, port, &peers, &["--inactivity", inactivity])
    };
    let (fe, tr1, tr2, be) = (start("fe", fe_p), start("tr1", tr1_p), start("tr2", tr2_p), start("be", be_p));
    for n in [&fe, &tr1, &tr2, &be] {
        n.ok(&["create", "facility", "crash", "--frontend", "fe", "--router", "tr1,tr2", "--backend", "be"]);
    }
    for peer in ["tr1", "tr2"] {
        fe.wait_link_up(peer);
        be.wait_link_up(peer);
    }
    Cluster { _root: root, fe, tr1, _tr2: tr2, be }
}

#[test]
fn links_come_up_and_show_their_facilities() {
    let c = cluster();
    let v = c.tr1.rtr(&["show", "link", "--json"]).json();
    let rows = v["links"].as_array().unwrap();
    let mut nodes: Vec<&str> = rows.iter().map(|r| r["node"].as_str().unwrap()).collect();
    nodes.sort();
    assert_eq!(nodes, ["be", "fe"], "{v}");
    for r in rows {
        // The state in fields, the node's text beside them.
        assert_eq!(r["state"], "up", "{r}");
        assert!(r["up_s"].is_u64(), "{r}");
        assert!(r["queued_bytes"].is_u64(), "{r}");
        assert!(r["reason"].is_null() && r["retry_ms"].is_null(), "{r}");
        assert!(r["text"].as_str().unwrap().starts_with("up"), "{r}");
        assert_eq!(r["facilities"][0], "CRASH");
    }
    // The name that sorts first dials: fe and be dialled tr1.
    for r in rows {
        assert_eq!(r["direction"], "accepted", "{r}");
    }
    // A readable table too.
    let t = c.fe.ok(&["show", "link"]);
    assert!(t.contains("tr1") && t.contains("tr2"), "{t}");
}

#[test]
fn a_node_with_a_different_definition_is_refused_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    let (a_p, b_p) = (free_port(), free_port());
    let a = Node::start(root.path(), "aa", a_p, &[("bb", b_p)], &[]);
    let b = Node::start(root.path(), "bb", b_p, &[("aa", a_p)], &[]);
    a.ok(&["create", "facility", "f1", "--frontend", "aa", "--router", "bb", "--backend", "bb"]);
    b.ok(&["create", "facility", "f1", "--frontend", "aa", "--router", "bb", "--backend", "bb,cc"]);
    let until = Instant::now() + WAIT;
    loop {
        let st = a.link_state("bb");
        if st.contains("ROLESMISMATCH") {
            assert!(st.contains("backend"), "{st}");
            break;
        }
        assert!(!st.starts_with("up"), "a mismatched link came up: {st}");
        assert!(Instant::now() < until, "no ROLESMISMATCH within {WAIT:?}: {st}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The refusing side says why too.
    assert!(b.link_state("aa").contains("ROLESMISMATCH"), "{}", b.link_state("aa"));
    // In --json the link is down, the refusal its reason.
    for (n, peer) in [(&a, "bb"), (&b, "aa")] {
        let v = n.rtr(&["show", "link", "--json"]).json();
        let r = v["links"].as_array().unwrap().iter().find(|r| r["node"] == peer).unwrap().clone();
        assert_eq!(r["state"], "down", "{r}");
        assert!(r["reason"].as_str().unwrap().contains("ROLESMISMATCH"), "{r}");
        assert!(r["up_s"].is_null() && r["direction"].is_null(), "{r}");
    }
}

#[test]
fn garbage_on_the_link_port_closes_that_connection_only() {
    use std::io::Write;
    let c = cluster();
    // Junk to every listening port of the cluster's routers: a bad length, a
    // wrong version, an unknown kind.
    for junk in [vec![0xff, 0xff, 0xff, 0xff], vec![4, 0, 0, 0, 9, 1, 0, 0], vec![3, 0, 0, 0, 1, 99, 0]] {
        for port in c.ports() {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(&junk);
            }
        }
    }
    // Everyone still serves: a transaction goes through.
    let servers =
        spawn_testkit(&["crash-remote", "--servers", "--state", s(&c.be.dir.join("state"))], Some(&c.be.socket));
    servers.expect("servers open");
    let state = c.be.dir.join("state");
    let mut clients =
        spawn_testkit(&["crash-remote", "--clients", "1", "--count", "5", "--state", s(&state)], Some(&c.fe.socket));
    clients.expect("clients done");
    let _ = clients.child.wait();
    assert_eq!(lines(&state.join("client-accepted.log")), 5);
}

impl Cluster {
    /// The link ports of the four nodes, from their command lines.
    fn ports(&self) -> Vec<u16> {
        [&self.fe, &self.tr1, &self._tr2, &self.be]
            .iter()
            .filter_map(|n| {
                let cmd = std::fs::read(format!("/proc/{}/cmdline", n.proc.child.id())).ok()?;
                let args: Vec<String> =
                    cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
                let at = args.iter().position(|a| a == "--listen")?;
                args.get(at + 1)?.rsplit(':').next()?.parse().ok()
            })
            .collect()
    }
}

#[test]
fn killing_the_current_router_under_load_loses_and_duplicates_nothing() {
    let mut c = cluster();
    let state = c.be.dir.join("state");
    let servers = spawn_testkit(&["crash-remote", "--servers", "--state", s(&state)], Some(&c.be.socket));
    servers.expect("servers open");
    let mut clients =
        spawn_testkit(&["crash-remote", "--clients", "4", "--count", "150", "--state", s(&state)], Some(&c.fe.socket));
    // Let some transfers through tr1, then kill it.
    let accepted = state.join("client-accepted.log");
    let until = Instant::now() + WAIT;
    while lines(&accepted) < 100 {
        assert!(Instant::now() < until, "no progress before the kill");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = lines(&accepted);
    c.tr1.proc.child.kill().unwrap();
    let killed_at = Instant::now();
    let _ = c.tr1.proc.child.wait();
    // The clients carry on through tr2 and finish.
    clients.expect("clients done");
    let _ = clients.child.wait();
    let took = killed_at.elapsed();
    let after = lines(&accepted);
    let rejected = lines(&state.join("client-rejected.log"));
    assert_eq!(after + rejected, 600, "every transaction ended once");
    assert!(after > before, "transactions kept being accepted after the kill ({before} -> {after})");
    eprintln!("router killed after {before} accepted; finished in {took:?}: {after} accepted, {rejected} rejected");
    // Let the servers acknowledge the last commits, then check the books.
    std::thread::sleep(Duration::from_millis(300));
    drop(servers);
    let out = testkit_within(&["crash-check", "--state", s(&state)], WAIT);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("crash check: ok"), "{out:?}");
    // The frontend now shows tr1 down and tr2 up.
    assert!(!c.fe.link_state("tr1").starts_with("up"));
    assert!(c.fe.link_state("tr2").starts_with("up"));
}

#[test]
fn a_frozen_router_is_dropped_by_the_inactivity_timer_and_its_work_finished_elsewhere() {
    // A router that stops answering without closing its connections (a
    // hung process, a cut cable): only the inactivity timer (1 s here)
    // notices. Its transactions move to tr2; when it wakes up it must not
    // decide anything a second time, and it links again.
    let c = cluster_with("1");
    let state = c.be.dir.join("state");
    let servers = spawn_testkit(&["crash-remote", "--servers", "--state", s(&state)], Some(&c.be.socket));
    servers.expect("servers open");
    let mut clients =
        spawn_testkit(&["crash-remote", "--clients", "4", "--count", "100", "--state", s(&state)], Some(&c.fe.socket));
    let accepted = state.join("client-accepted.log");
    let until = Instant::now() + WAIT;
    while lines(&accepted) < 50 {
        assert!(Instant::now() < until, "no progress before the freeze");
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&c.tr1.proc, libc::SIGSTOP);
    clients.expect("clients done");
    let _ = clients.child.wait();
    signal(&c.tr1.proc, libc::SIGCONT);
    let done = lines(&accepted) + lines(&state.join("client-rejected.log"));
    assert_eq!(done, 400, "every transaction ended once");
    // tr1 comes back and links again.
    c.fe.wait_link_up("tr1");
    c.be.wait_link_up("tr1");
    std::thread::sleep(Duration::from_millis(300));
    drop(servers);
    crash_check(&state);
}

/// A test whose clients did not finish: panics with `why`, the tail of
/// every node's log and what each live node still holds (`rtr show
/// transaction`: the stuck transaction's state). The whole logs and the
/// live nodes' journals are kept under `$TMPDIR/rtr-links-stuck-PID`
/// (named in the message), since the
/// test's own directory goes with it. `gone`: the logs of nodes' earlier
/// lives (read before they were killed or started again).
fn stuck(why: &str, live: &[(&str, &Node)], gone: &[(&str, String)]) -> ! {
    let keep = std::env::temp_dir().join(format!("rtr-links-stuck-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&keep);
    let tail = |l: &str| l.lines().rev().take(80).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    let mut out = format!("{why}\n(whole logs in {})", keep.display());
    let logs = live.iter().map(|(name, n)| (*name, n.log())).chain(gone.iter().map(|(name, l)| (*name, l.clone())));
    for (name, log) in logs {
        let _ = std::fs::write(keep.join(format!("{name}.log")), &log);
        out.push_str(&format!("\n--- {name} ---\n{}", tail(&log)));
    }
    for (name, n) in live {
        // Its journal too, to read with `rtr journal dump`.
        let _ = std::process::Command::new("cp").arg("-r").arg(n.dir.join("journal")).arg(keep.join(name)).status();
        let o = n.rtr(&["show", "transaction"]);
        out.push_str(&format!("\n--- {name}: show transaction ---\n{}{}", o.stdout, o.stderr));
    }
    panic!("{out}");
}

/// fe, tr, be1 and be2 of facility `crash`, the backends' journals under
/// one shared directory (`journals`); the crash workload's servers on be1
/// (active) then on be2 (its standby); four clients sending `count`
/// transfers each from fe, under way (100 accepted). `until` bounds the set-up.
struct ActiveStandby {
    _root: tempfile::TempDir,
    journals: PathBuf,
    fe: Node,
    tr: Node,
    /// The second router, with `active_standby_routed(.., 2)`.
    _tr2: Option<Node>,
    /// Every node's name and port (to start one again).
    ports: Vec<(&'static str, u16)>,
    /// The nodes' options beyond the link ones (to start one again).
    extra: Vec<String>,
    be1: Node,
    be2: Node,
    state: PathBuf,
    s1: Proc,
    s2: Proc,
    clients: Proc,
    accepted: PathBuf,
    until: Instant,
}

/// Clients of [`active_standby`]'s workload. Three, not four: its transfers
/// reach the two key ranges in either order (more so when a failover drives
/// work again) and it runs two servers per range, so four transactions can
/// each hold a server of one range and wait for one of the other, a
/// deadlock only a transaction timeout breaks here (no deadlock
/// rescheduling yet; see failover_chain.rs). Seen in CI and in loops here: the frozen-backend and
/// killed-servers tests with four clients stuck, every transaction "VOTING
/// 1/2 voted", until a client's 30 s receive gave up.
const AS_CLIENTS: usize = 3;

/// See [`ActiveStandby`]; `inactivity` in seconds, `logged`: the nodes log
/// to `DIR/node.log` (`Node::start_logged`).
fn active_standby(inactivity: &str, logged: bool, count: &str) -> ActiveStandby {
    active_standby_routed(inactivity, logged, count, 1)
}

/// [`active_standby`] with `routers` routers (`tr`, then `tr2`), the
/// backends' journals under one shared directory.
fn active_standby_routed(inactivity: &str, logged: bool, count: &str, routers: usize) -> ActiveStandby {
    active_standby_with(inactivity, logged, count, routers, None)
}

/// [`active_standby_routed`]; with `etcd`, the backends share no journal
/// directory and take their roles from that etcd (recovery unrecognized).
fn active_standby_with(
    inactivity: &str,
    logged: bool,
    count: &str,
    routers: usize,
    etcd: Option<&str>,
) -> ActiveStandby {
    let root = tempfile::tempdir().unwrap();
    let journals = root.path().join("journals");
    let mut extra: Vec<String> = vec!["--inactivity".into(), inactivity.into()];
    match etcd {
        Some(url) => {
            extra.extend(["--authority".into(), format!("etcd:{url}"), "--recovery".into(), "unrecognized".into()])
        }
        None => extra.extend(["--journal-root".into(), s(&journals).into()]),
    }
    let mut all: Vec<(&'static str, u16)> = vec![("fe", free_port()), ("tr", free_port())];
    if routers > 1 {
        all.push(("tr2", free_port()));
    }
    all.extend([("be1", free_port()), ("be2", free_port())]);
    let start = |name: &str| start_node(root.path(), &all, name, &extra, logged);
    let (fe, tr, be1, be2) = (start("fe"), start("tr"), start("be1"), start("be2"));
    let tr2 = (routers > 1).then(|| start("tr2"));
    let router_list = if routers > 1 { "tr,tr2" } else { "tr" };
    for n in [&fe, &tr, &be1, &be2].into_iter().chain(tr2.as_ref()) {
        n.ok(&["create", "facility", "crash", "--frontend", "fe", "--router", router_list, "--backend", "be1,be2"]);
    }
    for r in ["tr", "tr2"].iter().take(routers) {
        fe.wait_link_up(r);
        be1.wait_link_up(r);
        be2.wait_link_up(r);
    }
    let state = root.path().join("state");
    let s1 = spawn_testkit(&["crash-remote", "--servers", "--state", s(&state)], Some(&be1.socket));
    s1.expect("servers open");
    let until = Instant::now() + WAIT;
    while roles(&be1) != ["active", "active"] {
        assert!(Instant::now() < until, "be1 not active: {:?}", roles(&be1));
        std::thread::sleep(Duration::from_millis(20));
    }
    let s2 = spawn_testkit(&["crash-remote", "--servers", "--state", s(&state)], Some(&be2.socket));
    s2.expect("servers open");
    while roles(&be2) != ["standby", "standby"] {
        assert!(Instant::now() < until, "be2 not standby: {:?}", roles(&be2));
        std::thread::sleep(Duration::from_millis(20));
    }
    let clients = spawn_testkit(
        &["crash-remote", "--clients", &AS_CLIENTS.to_string(), "--count", count, "--state", s(&state)],
        Some(&fe.socket),
    );
    let accepted = state.join("client-accepted.log");
    while lines(&accepted) < 100 {
        assert!(Instant::now() < until, "no progress before the fault");
        std::thread::sleep(Duration::from_millis(5));
    }
    ActiveStandby {
        _root: root,
        journals,
        fe,
        tr,
        _tr2: tr2,
        ports: all,
        extra,
        be1,
        be2,
        state,
        s1,
        s2,
        clients,
        accepted,
        until,
    }
}

#[test]
fn killing_the_active_backend_node_promotes_its_standby_which_finishes_its_work() {
    // be1 and be2 serve the same key ranges; be1's servers open first, so
    // be1 is active and be2 its standby. Both keep their journals under one
    // shared directory. be1 is killed (SIGKILL) under load: tr promotes be2,
    // which takes over be1's journal, finishes its committed work, and
    // takes the new work.
    let ActiveStandby { _root, fe: _fe, tr, mut be1, be2, state, s1, s2, mut clients, accepted, until, .. } =
        active_standby("5", false, "150");
    let before = lines(&accepted);
    be1.proc.child.kill().unwrap();
    let killed = Instant::now();
    let _ = be1.proc.child.wait();
    while roles(&be2) != ["active", "active"] {
        assert!(Instant::now() < until + WAIT, "be2 not promoted: {:?}", roles(&be2));
        std::thread::sleep(Duration::from_millis(5));
    }
    let promoted = killed.elapsed();
    while lines(&accepted) <= before + 4 {
        assert!(killed.elapsed() < WAIT, "no new commit after the promotion");
        std::thread::sleep(Duration::from_millis(2));
    }
    let first_new = killed.elapsed();
    clients.expect("clients done");
    let _ = clients.child.wait();
    let (acc, rej) = (lines(&accepted), lines(&state.join("client-rejected.log")));
    assert_eq!(acc + rej, AS_CLIENTS * 150, "every transaction ended once");
    eprintln!(
        "backend killed after {before} accepted; be2 active after {promoted:?}, new commits after {first_new:?}; \
         {acc} accepted, {rej} rejected"
    );
    std::thread::sleep(Duration::from_millis(300));
    drop(s1);
    drop(s2);
    crash_check(&state);
    drop(tr);
}

#[test]
fn a_frozen_backend_whose_journal_was_taken_over_exits_when_it_wakes() {
    // be1 is active, be2 its standby, journals under one shared directory.
    // be1 is frozen (SIGSTOP) under load: the router's inactivity timer
    // drops it, be2 is promoted and takes over be1's journal (fencing it).
    // Then be1 wakes (SIGCONT) while the load goes on. It no longer owns
    // its journal: it must not carry on as a node that holds links and
    // answers pings but can commit nothing. It drops its links and
    // connections, says why, and exits non-zero (a supervisor restarts
    // it); be2 stays active and every transaction ends once.
    // Whatever happens below, be1 must not stay frozen (the Proc's drop
    // kills it; SIGKILL also ends a stopped process).
    let ActiveStandby { _root, journals, fe, tr, mut be1, be2, state, s1, s2, mut clients, accepted, .. } =
        active_standby("2", true, "200");
    signal(&be1.proc, libc::SIGSTOP);
    let frozen = Instant::now();
    while roles(&be2) != ["active", "active"] {
        if frozen.elapsed() > WAIT {
            signal(&be1.proc, libc::SIGCONT);
            panic!("be2 not promoted: {:?}", roles(&be2));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let journal = journals.join("be1");
    let log = std::fs::read_to_string(be2.dir.join("node.log")).unwrap_or_default();
    assert!(log.contains("took over the journal of be1"), "be2 did not take over be1's journal:\n{log}");
    signal(&be1.proc, libc::SIGCONT);
    // be1 wakes fenced: it exits on its own, non-zero, within a bounded wait.
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = be1.proc.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < until,
            "be1 is still running 20 s after it woke without its journal; its log:\n{}",
            be1.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = be1.log();
    assert_eq!(status.code(), Some(1), "be1 did not exit with status 1 ({status}); its log:\n{log}");
    // It says why: the journal and the epochs.
    assert!(
        log.contains(&journal.display().to_string()) && log.contains("epoch") && log.contains("taken over"),
        "be1's log does not say why it stopped:\n{log}"
    );
    // It cleaned up as `rtr stop` would.
    assert!(!be1.dir.join("rtr.pid").exists(), "pid file left behind");
    assert!(!be1.socket.exists(), "socket left behind");
    // The work goes on through be2 and every transaction ends once. (Seen
    // once in CI, not reproduced since: a client waited over 30 s for an
    // outcome. The nodes' logs go with the failure, to find out why.)
    if let Err(e) = clients.wait_line("clients done") {
        stuck(&e, &[("tr", &tr), ("be2", &be2), ("fe", &fe)], &[("be1", log.clone())]);
    }
    let _ = clients.child.wait();
    let (acc, rej) = (lines(&accepted), lines(&state.join("client-rejected.log")));
    assert_eq!(acc + rej, AS_CLIENTS * 200, "every transaction ended once");
    assert_eq!(roles(&be2), ["active", "active"], "be2 did not stay active");
    assert!(!tr.link_state("be1").starts_with("up"), "tr still links to the exited be1");
    let said: Vec<&str> = log.lines().filter(|l| l.starts_with("rtr:")).collect();
    eprintln!("be1 exited after being taken over; {acc} accepted, {rej} rejected; it said:\n{}", said.join("\n"));
    std::thread::sleep(Duration::from_millis(300));
    drop(s1);
    drop(s2);
    // (An outcome be1 was handing to its servers when it froze reaches them
    // when it wakes, after be2 replayed that transfer to its own servers as
    // uncertain: the servers' files take it as what it is, the late original
    // of a replayed transfer; see cli/src/crash.rs.)
    crash_check(&state);
}

#[test]
fn killing_every_server_process_of_the_active_backend_hands_its_ranges_to_the_standby() {
    // be1 active, be2 its standby; the crash workload's servers of be1 run
    // in one process, which is killed (SIGKILL) under load while be1 stays
    // up. be1 gives its grants back, hands the committed work its servers
    // had not acknowledged to be2 (through the router) and rejects the work
    // they never voted on; be2 claims the grants and takes the new work.
    // Every transaction ends once and the books balance. Servers started
    // on be1 again come back as standbys.
    let ActiveStandby { _root, fe, tr, be1, be2, state, mut s1, s2, mut clients, accepted, until, .. } =
        active_standby("5", true, "200");
    let before = lines(&accepted);
    s1.child.kill().unwrap();
    let killed = Instant::now();
    let _ = s1.child.wait();
    // What every node said, for a failure here.
    let logs = || {
        [("fe", &fe), ("tr", &tr), ("be1", &be1), ("be2", &be2)]
            .iter()
            .map(|(n, node)| format!("--- {n}:\n{}", node.log()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    while roles(&be2) != ["active", "active"] {
        assert!(Instant::now() < until + WAIT, "be2 not active: {:?}\n{}", roles(&be2), logs());
        std::thread::sleep(Duration::from_millis(2));
    }
    let promoted = killed.elapsed();
    while lines(&accepted) <= before + 4 {
        assert!(
            killed.elapsed() < WAIT,
            "no new commit through be2 ({} accepted before the kill, {} now)\n--- tr:\n{}--- be1:\n{}--- be2:\n{}\n{}",
            before,
            lines(&accepted),
            tr.rtr(&["show", "transaction"]).stdout,
            be1.rtr(&["show", "transaction"]).stdout,
            be2.rtr(&["show", "transaction"]).stdout,
            logs()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let first_new = killed.elapsed();
    clients.expect("clients done");
    let _ = clients.child.wait();
    let (acc, rej) = (lines(&accepted), lines(&state.join("client-rejected.log")));
    assert_eq!(acc + rej, AS_CLIENTS * 200, "every transaction ended once");
    let log = be1.log();
    assert!(log.contains("its last server left; grant"), "be1 did not say it released its grants:\n{log}");
    let log2 = std::fs::read_to_string(be2.dir.join("node.log")).unwrap_or_default();
    assert!(log2.contains("active under grant"), "be2 did not log its grants:\n{log2}");
    assert!(!log2.contains("took over the journal of be1"), "be1 is alive: its journal stays its own:\n{log2}");
    // be1 is still up; servers started there again are standbys.
    assert!(be1.proc.child.id() > 0 && be1.rtr(&["show", "partition"]).code == 0, "be1 stopped");
    let s1 = spawn_testkit(&["crash-remote", "--servers", "--state", s(&state)], Some(&be1.socket));
    s1.expect("servers open");
    let until = Instant::now() + WAIT;
    while roles(&be1) != ["standby", "standby"] {
        assert!(Instant::now() < until, "be1 not standby again: {:?}", roles(&be1));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(roles(&be2), ["active", "active"]);
    eprintln!(
        "every server of be1 killed after {before} accepted; be2 active after {promoted:?}, first new commit \
         after {first_new:?}; {acc} accepted, {rej} rejected"
    );
    std::thread::sleep(Duration::from_millis(300));
    drop(s1);
    drop(s2);
    crash_check(&state);
}

#[test]
fn freezing_and_restarting_a_router_under_load_never_moves_or_doubles_a_role() {
    // be1 active, be2 standby, two routers (tr preferred, tr2); inactivity
    // 2 s. Under load, tr is frozen (SIGSTOP) past the inactivity timer and
    // woken, then killed (SIGKILL) and started again, twice over. Roles are
    // not the routers' to give: be1 stays active and be2 standby
    // throughout, no backend is fenced (both stay up, no journal taken
    // over), and every grant is logged with its epoch.
    let mut c = active_standby_routed("2", true, "400", 2);
    let check_roles = |c: &ActiveStandby, when: &str| {
        assert_eq!(roles(&c.be1), ["active", "active"], "be1 after {when}");
        assert_eq!(roles(&c.be2), ["standby", "standby"], "be2 after {when}");
    };
    for round in 0..2 {
        signal(&c.tr.proc, libc::SIGSTOP);
        std::thread::sleep(Duration::from_millis(3_500));
        check_roles(&c, "the router froze");
        signal(&c.tr.proc, libc::SIGCONT);
        c.be1.wait_link_up("tr");
        check_roles(&c, "the router woke");
        c.tr.proc.child.kill().unwrap();
        let _ = c.tr.proc.child.wait();
        std::thread::sleep(Duration::from_millis(300));
        // (Its facility definition is kept in its directory.)
        c.tr = start_node(c._root.path(), &c.ports, "tr", &c.extra, true);
        c.be1.wait_link_up("tr");
        c.be2.wait_link_up("tr");
        c.fe.wait_link_up("tr");
        std::thread::sleep(Duration::from_millis(300));
        check_roles(&c, &format!("the router restarted (round {round})"));
    }
    c.clients.expect("clients done");
    let _ = c.clients.child.wait();
    let (acc, rej) = (lines(&c.accepted), lines(&c.state.join("client-rejected.log")));
    assert_eq!(acc + rej, AS_CLIENTS * 400, "every transaction ended once");
    check_roles(&c, "the load");
    for be in [&mut c.be1, &mut c.be2] {
        assert!(be.proc.child.try_wait().unwrap().is_none(), "a backend stopped:\n{}", be.log());
        let log = be.log();
        assert!(!log.contains("took over the journal"), "a journal was taken over:\n{log}");
        assert!(log.contains("under grant 1") || log.contains("(grant 1)"), "no grant logged:\n{log}");
    }
    eprintln!("router frozen and restarted twice under load: roles unchanged; {acc} accepted, {rej} rejected");
    std::thread::sleep(Duration::from_millis(300));
    let ActiveStandby { s1, s2, state, .. } = c;
    drop(s1);
    drop(s2);
    crash_check(&state);
}

// rtr-core's etcd launcher (this test uses part of it).
#[allow(dead_code)]
#[path = "../../core/tests/etcd_authority/etcd_server.rs"]
mod etcd_server;

#[test]
fn backends_sharing_no_storage_take_roles_from_etcd_and_recover_unrecognized() {
    // be1 active, be2 standby, each with a journal of its own (no shared
    // directory); their grants come from a real etcd (lease 2 s), recovery
    // unrecognized. be1 is killed (SIGKILL) under load: its lease runs out,
    // be2 wins the grant, cannot reach be1's journal and goes active without
    // it. be1 starts again with its journal and its servers: they are
    // standbys, and be1 hands the committed work its journal held over to
    // be2. Every transaction ends once and the books balance.
    let etcd = etcd_server::Cluster::start(1);
    let url = etcd.endpoints()[0].clone();
    let mut c = active_standby_with("2", true, "200", 1, Some(&url));
    for be in [&c.be1, &c.be2] {
        let v = be.rtr(&["show", "partition", "--json"]).json();
        let authority = v["partitions"][0]["authority"].as_str().unwrap_or_default().to_string();
        assert!(authority.contains("etcd"), "{v}");
    }
    let before = lines(&c.accepted);
    c.be1.proc.child.kill().unwrap();
    let killed = Instant::now();
    let _ = c.be1.proc.child.wait();
    while roles(&c.be2) != ["active", "active"] {
        assert!(killed.elapsed() < WAIT, "be2 not active: {:?}", roles(&c.be2));
        std::thread::sleep(Duration::from_millis(10));
    }
    let promoted = killed.elapsed();
    let log2 = c.be2.log();
    assert!(log2.contains("unrecognized"), "be2 did not say it went active without be1's journal:\n{log2}");
    // be1 comes back with its own journal, then its servers.
    let old_be1 = c.be1.log();
    c.be1 = start_node(c._root.path(), &c.ports, "be1", &c.extra, true);
    c.be1.wait_link_up("tr");
    let s1 = spawn_testkit(&["crash-remote", "--servers", "--state", s(&c.state)], Some(&c.be1.socket));
    s1.expect("servers open");
    let until = Instant::now() + WAIT;
    while roles(&c.be1) != ["standby", "standby"] {
        assert!(Instant::now() < until, "be1 not standby: {:?}", roles(&c.be1));
        std::thread::sleep(Duration::from_millis(20));
    }
    // (Seen once in CI on 4b18570: a client waited over 30 s for an
    // outcome. The nodes' logs go with the failure, to find out why.)
    if let Err(e) = c.clients.wait_line("clients done") {
        stuck(&e, &[("tr", &c.tr), ("be1", &c.be1), ("be2", &c.be2), ("fe", &c.fe)], &[("be1-first-life", old_be1)]);
    }
    let _ = c.clients.child.wait();
    let (acc, rej) = (lines(&c.accepted), lines(&c.state.join("client-rejected.log")));
    assert_eq!(acc + rej, AS_CLIENTS * 200, "every transaction ended once");
    assert_eq!(roles(&c.be2), ["active", "active"]);
    eprintln!(
        "be1 killed after {before} accepted; be2 active (etcd lease expired, unrecognized recovery) after \
         {promoted:?}; {acc} accepted, {rej} rejected"
    );
    std::thread::sleep(Duration::from_millis(500));
    let ActiveStandby { s1: old_s1, s2, state, .. } = c;
    drop(old_s1);
    drop(s1);
    drop(s2);
    crash_check(&state);
    drop(etcd);
}

#[test]
fn bank_invariants_survive_killing_a_server_process_a_router_and_the_active_backend() {
    // The invariant suite in separate processes: a frontend, two routers,
    // an active backend and its standby (journals on a shared directory),
    // the servers of each backend in a process, the clients in another.
    // Under load, one after the other: kill -9 the active backend's server
    // process (and start a new one), kill -9 the current router, kill -9
    // the active backend node. Then: every transfer ended once; each
    // accepted one applied exactly once on both partitions (so the total
    // balance is conserved), no rejected one applied; one owner per journal.
    let root = tempfile::tempdir().unwrap();
    let journals = root.path().join("journals");
    let names = ["fe", "tr1", "tr2", "be1", "be2"];
    let ports: Vec<u16> = names.iter().map(|_| free_port()).collect();
    let all: Vec<(&str, u16)> = names.iter().copied().zip(ports.iter().copied()).collect();
    let start = |name: &str| {
        let port = all.iter().find(|(n, _)| *n == name).unwrap().1;
        let peers: Vec<(&str, u16)> = all.iter().copied().filter(|(n, _)| *n != name).collect();
        Node::start_logged(root.path(), name, port, &peers, &["--inactivity", "5", "--journal-root", s(&journals)])
    };
    let nodes: Vec<Node> = names.iter().map(|n| start(n)).collect();
    let [fe, tr1, _tr2, be1, be2] = <[Node; 5]>::try_from(nodes).ok().unwrap();
    let (mut tr1, mut be1) = (tr1, be1);
    for n in [&fe, &tr1, &_tr2, &be1, &be2] {
        n.ok(&["create", "facility", "crash", "--frontend", "fe", "--router", "tr1,tr2", "--backend", "be1,be2"]);
    }
    for peer in ["tr1", "tr2"] {
        fe.wait_link_up(peer);
        be1.wait_link_up(peer);
        be2.wait_link_up(peer);
    }
    let state = root.path().join("state");
    let servers = |n: &Node| {
        let p = spawn_testkit(&["crash-remote", "--servers", "--state", s(&state)], Some(&n.socket));
        p.expect("servers open");
        p
    };
    let mut s1 = servers(&be1);
    let until = Instant::now() + WAIT;
    let states = |n: &Node| -> Vec<String> {
        let v = n.rtr(&["show", "partition", "--json"]).json();
        v["partitions"].as_array().unwrap().iter().map(|p| p["state"].as_str().unwrap().to_string()).collect()
    };
    while states(&be1) != ["active", "active"] {
        assert!(Instant::now() < until, "be1 not active: {:?}", states(&be1));
        std::thread::sleep(Duration::from_millis(20));
    }
    let s2 = servers(&be2);
    // With a transaction timeout: once be1's new servers took one key range
    // back while be2 kept the other, the transfers (each needing a server
    // of both ranges, two servers per range) deadlocked across the two
    // nodes now and then, and without a timeout nothing broke the cycle.
    let mut clients = spawn_testkit(
        &["crash-remote", "--clients", "4", "--count", "300", "--timeout-ms", "5000", "--state", s(&state)],
        Some(&fe.socket),
    );
    let accepted = state.join("client-accepted.log");
    let progress = |at_least: usize| {
        let until = Instant::now() + WAIT;
        while lines(&accepted) < at_least {
            if Instant::now() >= until {
                // What each node holds, for the failure message's reader.
                for n in ["tr1", "be1", "be2", "fe"] {
                    let d = root.path().join(n);
                    for what in ["transaction", "partition", "server"] {
                        let o = common::rtr_within(&["show", what, "--dir", s(&d)], WAIT);
                        eprintln!("=== {n} {what}:\n{}", o.stdout);
                    }
                }
            }
            assert!(Instant::now() < until, "stuck at {} accepted (waiting for {at_least})", lines(&accepted));
            std::thread::sleep(Duration::from_millis(5));
        }
        lines(&accepted)
    };
    // 1. The active backend's server process dies; a new one takes its place.
    let n = progress(100);
    s1.child.kill().unwrap();
    let _ = s1.child.wait();
    s1 = servers(&be1);
    // 2. The current router dies.
    let n = progress(n + 100);
    tr1.proc.child.kill().unwrap();
    let _ = tr1.proc.child.wait();
    // 3. The active backend node dies (its servers' process goes with it).
    let n = progress(n + 100);
    be1.proc.child.kill().unwrap();
    let _ = be1.proc.child.wait();
    progress(n + 100);
    clients.expect("clients done");
    let _ = clients.child.wait();
    let (acc, rej) = (lines(&accepted), lines(&state.join("client-rejected.log")));
    assert_eq!(acc + rej, 1200, "every transaction ended once");
    assert_eq!(states(&be2), ["active", "active"]);
    std::thread::sleep(Duration::from_millis(300));
    drop(s1);
    crash_check(&state);
    // (be2's servers stay: a key range whose servers are all gone has no
    // active partition, and the next node to offer it becomes active.)
    // One owner per journal: be1's journal was taken over (a later epoch),
    // finished and released by be2; be1 starts again on it, as standby.
    let be1 = start("be1"); // its definitions were kept
    be1.wait_link_up("tr2");
    let _s1 = servers(&be1);
    let until = Instant::now() + WAIT;
    while states(&be1) != ["standby", "standby"] {
        assert!(Instant::now() < until, "be1 not standby: {:?}", states(&be1));
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(s2);
}
