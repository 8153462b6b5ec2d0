//! A node that loses its journal stops for good, at once: its links close
//! (the peer sees the socket close, not go silent; no re-dialling, no more
//! accepting), every call fails with NODEUNAVAIL, and the handle says why.
//! Both kinds of loss (fenced by a new owner while idle; a failed sync) and
//! both node loops (embedded, daemon event loop).

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::{EmbeddedNode, Input};
use crate::facility::{FacilityDef, FacilityStore, FacilityTable};
use crate::journal::{self, JournalConfig, Takeover};
use crate::protocol::codec::{self, FrameError};
use crate::protocol::peer::{self, PeerFrame, MAX_PEER_FRAME};
use crate::transport::links::LinkConfig;
use crate::{flags, EmbeddedConfig, MsgType, OpenParams, Rtr, Status, Which};

/// Every wait is bounded by this (none is a speed assertion).
const WAIT: Duration = Duration::from_secs(20);

fn def(me: &str) -> (FacilityTable, FacilityDef) {
    let v = |l: &[&str]| l.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let d = FacilityDef::new("F", &v(&["a"]), &v(&["b"]), &v(&["b"])).unwrap();
    let mut t = FacilityTable::new(me);
    t.insert(d.clone());
    (t, d)
}

/// A node "a" (journal in `dir/journal`) linked to a fake node "b" that
/// the test plays: "a" dials it (its name sorts first) and "b" welcomes it.
/// Also listens, so that the test can see it stop accepting.
struct Linked {
    node: Arc<EmbeddedNode>,
    /// b's end of the link.
    peer: TcpStream,
    /// Where b takes a's dials.
    b: TcpListener,
    /// Where a accepts links.
    a_listens: SocketAddr,
}

fn linked(dir: &Path, daemon: bool) -> Linked {
    let mut cfg = EmbeddedConfig::journaled(dir.join("journal"));
    cfg.node_id = Some(11);
    let node = if daemon { EmbeddedNode::start_daemon(cfg) } else { EmbeddedNode::start_with(cfg) }.unwrap();
    let mut store = FacilityStore::open(&dir.join("facilities.conf"), "a").unwrap();
    store.create(def("a").1).unwrap();
    node.set_facility_store(store);
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut lc = LinkConfig {
        listen: Some("127.0.0.1:0".into()),
        // Far beyond every wait here: whatever closes the link, it is not this timer.
        inactivity: Duration::from_secs(600),
        insecure: true,
        ..LinkConfig::default()
    };
    lc.peers.insert("b".into(), b.local_addr().unwrap().to_string());
    let links = node.start_links("a", lc).unwrap();
    let a_listens = links.local_addr().unwrap();
    let (mut peer, _) = b.accept().unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    match peer::decode(&codec::read_frame_max(&mut peer, MAX_PEER_FRAME).unwrap()).unwrap() {
        PeerFrame::Hello { from, to, .. } => assert_eq!((from.as_str(), to.as_str()), ("a", "b")),
        other => panic!("{other:?}"),
    }
    let welcome = PeerFrame::Welcome { from: "b".into(), node_id: 22, facilities: def("b").0.claims() };
    peer.write_all(&peer::encode(&welcome)).unwrap();
    // The link is up once a shows it so.
    let until = Instant::now() + WAIT;
    while !links.show().iter().any(|r| r.node == "b" && r.state.starts_with("up")) {
        assert!(Instant::now() < until, "the link did not come up: {:?}", links.show());
        std::thread::sleep(Duration::from_millis(10));
    }
    b.set_nonblocking(true).unwrap();
    Linked { node, peer, b, a_listens }
}

fn open(rtr: &Rtr, flags: u32) -> u32 {
    // "L" is not defined here: implicit, with every role on this node.
    let ch = rtr.open_channel(OpenParams { flags, facility: Some("L".into()), ..Default::default() }).unwrap();
    assert_eq!(rtr.receive(&Which::List(vec![ch]), Some(WAIT)).unwrap().sb.msgtype, MsgType::Opened);
    ch
}

fn assert_unavailable<T: std::fmt::Debug>(what: &str, r: crate::Result<T>) {
    match r {
        Err(e) => assert_eq!(e.status(), Status::Nodeunavail, "{what}: {e:?}"),
        Ok(v) => panic!("{what} succeeded on a stopped node: {v:?}"),
    }
}

/// What a stopped node must show, whatever made it stop.
fn assert_stopped(l: &mut Linked, rtr: &Rtr, why: &[&str]) {
    // b sees the link close (end of stream), long before any inactivity timer.
    loop {
        match codec::read_frame_max(&mut l.peer, MAX_PEER_FRAME) {
            Ok(_) => continue, // a frame sent before the end (a ping)
            Err(FrameError::Closed) => break,
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the link did not close within {WAIT:?}: {e}"),
        }
    }
    assert!(l.node.wait_stopped(WAIT), "the node thread did not end");
    let failure = l.node.failure().expect("the node says why it stopped");
    for w in why {
        assert!(failure.contains(w), "{failure:?} does not say {w:?}");
    }
    assert!(l.node.is_stopping());
    // Every call fails with NODEUNAVAIL, and a new connection is refused.
    assert_unavailable("receive", rtr.receive(&Which::Any, Some(WAIT)));
    assert_unavailable(
        "open_channel",
        rtr.open_channel(OpenParams { flags: flags::ope::CLIENT, facility: Some("L".into()), ..Default::default() }),
    );
    assert_unavailable("connect", Rtr::connect(&l.node).map(|_| ()));
    // It accepts no links any more...
    let until = Instant::now() + WAIT;
    while TcpStream::connect_timeout(&l.a_listens, Duration::from_secs(1)).is_ok() {
        assert!(Instant::now() < until, "the node still accepts links at {}", l.a_listens);
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...and does not dial b again (it would within 100 ms: the first backoff).
    std::thread::sleep(Duration::from_millis(500));
    match l.b.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the stopped node dialled again: {other:?}"),
    }
}

#[test]
fn an_idle_node_fenced_by_a_new_owner_stops_and_closes_its_links_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = linked(dir.path(), false);
    let rtr = Rtr::connect(&l.node).unwrap();
    let server = open(&rtr, flags::ope::SERVER);
    // A new owner takes the journal over (a promoted standby would) while
    // the node has nothing to write.
    let cfg = JournalConfig { dir: dir.path().join("journal"), ..JournalConfig::default() };
    let (_new_owner, rec) = journal::open(&cfg, Takeover::Force).unwrap();
    assert_stopped(&mut l, &rtr, &["taken over", &format!("epoch {}", rec.epoch), &cfg.dir.display().to_string()]);
    assert_unavailable("receive on the server channel", rtr.receive(&Which::List(vec![server]), Some(WAIT)));
}

#[test]
fn a_failed_journal_sync_stops_a_daemon_node_and_closes_its_links_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = linked(dir.path(), true);
    let server = Rtr::connect(&l.node).unwrap();
    let client = Rtr::connect(&l.node).unwrap();
    let s = open(&server, flags::ope::SERVER);
    let c = open(&client, flags::ope::CLIENT);
    // The journal's next fdatasync fails: the commit's, below.
    l.node.inbox.send(Input::Test(Box::new(|d| d.journal.as_ref().expect("a journal").fail_next_sync())));
    client.send_to_server(c, 0, b"work").unwrap();
    let m = server.receive(&Which::List(vec![s]), Some(WAIT)).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Msg1);
    client.accept_tx(c, 0, 0).unwrap();
    // The server's vote (receiving again) makes the commit, whose sync fails:
    // nobody hears an outcome the journal may not hold.
    assert_unavailable("the server's next receive", server.receive(&Which::List(vec![s]), Some(WAIT)));
    assert_unavailable("the client's outcome", client.receive(&Which::List(vec![c]), Some(WAIT)));
    assert_stopped(&mut l, &client, &["can no longer be written", "injected fdatasync failure"]);
}

#[test]
fn a_node_stopped_and_taken_over_mid_commit_delivers_no_outcome_when_it_resumes() {
    // The journal acknowledged a commit (its ownership check passed), then
    // the node's thread stopped before acting on it (as under SIGSTOP), a
    // new owner took the journal over and replays the commit to its own
    // servers as uncertain. Resumed, the node must not hand the outcome to
    // its server as well: that server would apply it a second time.
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join("journal");
    let node = EmbeddedNode::start_with(EmbeddedConfig::journaled(&jdir)).unwrap();
    let server = Rtr::connect(&node).unwrap();
    let client = Rtr::connect(&node).unwrap();
    let s = open(&server, flags::ope::SERVER);
    let c = open(&client, flags::ope::CLIENT);
    client.send_to_server(c, 0, b"work").unwrap();
    assert_eq!(server.receive(&Which::List(vec![s]), Some(WAIT)).unwrap().sb.msgtype, MsgType::Msg1);
    client.accept_tx(c, 0, 0).unwrap();
    // Hold the node thread while the server's vote queues behind it; get
    // the journal (whose idle check is off: only this node's own re-check
    // may find the fence here).
    let (jtx, jrx) = crossbeam_channel::bounded(1);
    let (go1, wait1) = crossbeam_channel::bounded::<()>(1);
    let (go2, wait2) = crossbeam_channel::bounded::<()>(1);
    assert!(on_node_thread(&node, move |d| {
        let j = d.journal.clone().expect("a journal");
        j.no_idle_check();
        let _ = jtx.send(j);
        let _ = wait1.recv_timeout(WAIT);
    }));
    let journal = jrx.recv_timeout(WAIT).unwrap();
    server.accept_tx(s, 0, 0).unwrap();
    // Same pass, after the vote: hand the commit to the journal, then stop
    // (the thread, not the journal's writer) until told to go on.
    assert!(on_node_thread(&node, move |d| {
        assert!(d.flush(Instant::now()));
        let _ = wait2.recv_timeout(WAIT);
    }));
    let syncs = journal.stats().syncs;
    go1.send(()).unwrap();
    let until = Instant::now() + WAIT;
    while journal.stats().syncs == syncs {
        assert!(Instant::now() < until, "the commit was not synced");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Acknowledged, not yet acted on. Taken over meanwhile; the stop lasts.
    let cfg = JournalConfig { dir: jdir.clone(), ..JournalConfig::default() };
    let (_new_owner, rec) = journal::open(&cfg, Takeover::Force).unwrap();
    drop(journal);
    std::thread::sleep(Duration::from_millis(400));
    go2.send(()).unwrap();
    // Resumed: no outcome for anyone; the node stops and says why.
    assert_unavailable("the client's outcome", client.receive(&Which::List(vec![c]), Some(WAIT)).map(|m| m.sb));
    assert_unavailable("the server's outcome", server.receive(&Which::List(vec![s]), Some(WAIT)).map(|m| m.sb));
    assert!(node.wait_stopped(WAIT));
    let failure = node.failure().expect("it says why");
    assert!(failure.contains(&format!("epoch {}", rec.epoch)), "{failure}");
}

/// Run `f` on the node thread with its driver.
fn on_node_thread(node: &EmbeddedNode, f: impl FnOnce(&mut super::super::Driver) + Send + 'static) -> bool {
    node.inbox.send(Input::Test(Box::new(f)))
}
