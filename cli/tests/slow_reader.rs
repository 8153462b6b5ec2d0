//! Slow and stalled applications on a node daemon (`rtr start`): a burst
//! larger than the socket buffer to a subscriber that pauses, a
//! transaction outcome for a connection that is not reading, and a reader
//! that stops for good past the daemon's per-connection bound. The daemon
//! runs as its own process with its standard error in `DIR/rtr.log` (as a
//! detached one logs); the applications are connections of this test
//! process, through the library or speaking the wire protocol themselves
//! (to pause reading at the socket).
//!
//! Every wait is bounded; the daemon is killed when its guard drops.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rtr_core::keyseg::{KeyRange, KeySegment, KeyType};
use rtr_core::protocol::codec::{self, Frame};
use rtr_core::protocol::{Bytes, Delivery, Payload, Request, Role};
use rtr_core::{flags, MsgType, OpenParams, Rtr, Which};

const WAIT: Duration = Duration::from_secs(20);

/// A node daemon, killed when dropped (also when a test fails).
struct Daemon {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        let socket = dir.join("rtr.sock");
        let log = std::fs::File::create(dir.join("rtr.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_rtr"))
            .args(["start", "--foreground", "--dir", dir.to_str().unwrap()])
            .env_remove("RTR_NODE_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Daemon { child, dir: dir.to_path_buf(), socket };
        let until = Instant::now() + WAIT;
        while UnixStream::connect(&d.socket).is_err() {
            assert!(Instant::now() < until, "the node did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("rtr.log")).unwrap_or_default()
    }

    /// Wait (bounded) until the log has a line containing every one of `parts`; returns it.
    fn log_line(&self, parts: &[&str]) -> String {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(l) = self.log().lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                return l.to_string();
            }
            assert!(Instant::now() < until, "no log line with {parts:?} within {WAIT:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn seg(lo: u32, hi: u32) -> KeySegment {
    KeySegment::new(0, KeyType::Unsigned, 4, 0, Some(&lo.to_ne_bytes()), Some(&hi.to_ne_bytes())).unwrap()
}

fn server_params(fac: &str, events: Vec<i32>) -> OpenParams {
    OpenParams {
        flags: flags::ope::SERVER,
        facility: Some(fac.into()),
        segments: vec![seg(0, 1000)],
        events,
        ..Default::default()
    }
}

fn client_params(fac: &str, events: Vec<i32>) -> OpenParams {
    OpenParams { flags: flags::ope::CLIENT, facility: Some(fac.into()), events, ..Default::default() }
}

fn open_ok(rtr: &Rtr, p: OpenParams) -> u32 {
    let ch = rtr.open_channel(p).unwrap();
    let m = rtr.receive(&Which::List(vec![ch]), Some(WAIT)).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Opened, "{m:?}");
    ch
}

/// An event body of `len` bytes numbered `i` (its first four bytes).
fn body(i: u32, len: usize) -> Vec<u8> {
    let mut b = vec![0x5a; len];
    b[0..4].copy_from_slice(&i.to_ne_bytes());
    b
}

fn number(b: &[u8]) -> u32 {
    u32::from_ne_bytes(b[0..4].try_into().unwrap())
}

/// One client transaction on `rtr` that a server of `fac` accepts; proves
/// the node still serves this connection.
fn round_trip(client: &Rtr, c: u32, server: &Rtr, s: u32) {
    client.send_to_server(c, flags::sen::ACCEPT, &1u32.to_ne_bytes()).unwrap();
    let m = server.receive(&Which::List(vec![s]), Some(WAIT)).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Msg1);
    let m = server.receive(&Which::List(vec![s]), Some(WAIT)).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Accepted);
    let m = client.receive(&Which::List(vec![c]), Some(WAIT)).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Accepted);
}

/// A subscriber (a server channel of the library) that does not call
/// receive for a while: the node's burst of broadcasts, far more than a
/// socket buffer holds, reaches it whole and in order afterwards, and its
/// connection stays up.
#[test]
fn a_subscriber_that_pauses_gets_every_broadcast_of_a_burst_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let node = Daemon::start(dir.path());
    let sub = Rtr::connect_socket(&node.socket).unwrap();
    let s = open_ok(&sub, server_params("BURST", vec![0]));
    let sender = Rtr::connect_socket(&node.socket).unwrap();
    let c = open_ok(&sender, client_params("BURST", vec![]));
    for (count, len) in [(20u32, 60_000usize), (500, 1_000)] {
        for i in 0..count {
            sender.broadcast_event(c, 0, &body(i, len), 0, None).unwrap();
        }
        // The application is busy elsewhere for a while.
        std::thread::sleep(Duration::from_millis(1500));
        for i in 0..count {
            let m = match sub.receive(&Which::List(vec![s]), Some(WAIT)) {
                Ok(m) => m,
                Err(e) => panic!("event {i} of {count} x {len} bytes: {e}\nnode log:\n{}", node.log()),
            };
            assert_eq!(m.sb.msgtype, MsgType::UserEvent);
            assert_eq!(m.data.len(), len);
            assert_eq!(number(&m.data), i, "in order");
        }
    }
    assert_eq!(sub.events_dropped().unwrap(), 0);
    // Still connected: a transaction to its server channel.
    round_trip(&sender, c, &sub, s);
}

/// An application speaking the wire protocol itself, so that the test
/// decides when its socket is read.
struct RawApp {
    s: UnixStream,
    conn: u32,
    node: u32,
    incarnation: u32,
}

enum Got {
    D(Delivery),
    Dropped(u64),
}

impl RawApp {
    fn connect(socket: &Path, pid: u32) -> RawApp {
        let mut s = UnixStream::connect(socket).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(&codec::encode(&Frame::Hello { version: u32::from(codec::VERSION), pid })).unwrap();
        match codec::decode(&codec::read_frame(&mut s).unwrap()).unwrap() {
            Frame::Welcome { conn, node, incarnation } => RawApp { s, conn, node, incarnation },
            f => panic!("no welcome: {f:?}"),
        }
    }

    fn send(&mut self, r: Request) {
        self.s.write_all(&codec::encode(&Frame::Request(r))).unwrap();
    }

    /// Open channel 1 on `fac` subscribed to user event 0, and wait for it.
    fn open(&mut self, fac: &str, role: Role) {
        let range = if role == Role::Server { KeyRange::new(vec![seg(0, 1000)]).unwrap() } else { KeyRange::default() };
        let flags = if role == Role::Server { flags::ope::SERVER } else { flags::ope::CLIENT };
        self.send(Request::Open { chan: 1, role, facility: fac.into(), flags, range });
        self.send(Request::Subscribe { chan: 1, recipient: String::new(), events: vec![(0, 0)] });
        match self.next() {
            Got::D(d) if d.msgtype == MsgType::Opened => {}
            Got::D(d) => panic!("not opened: {d:?}"),
            Got::Dropped(n) => panic!("{n} dropped before the open"),
        }
    }

    /// The next frame (bounded wait).
    fn next(&mut self) -> Got {
        let body = codec::read_frame(&mut self.s).unwrap_or_else(|e| panic!("connection {}: {e}", self.conn));
        match codec::decode(&body).unwrap() {
            Frame::Delivery(d) => Got::D(d),
            Frame::EventsDropped { count } => Got::Dropped(count),
            f => panic!("unexpected {f:?}"),
        }
    }
}

fn data_of(d: &Delivery) -> &[u8] {
    match &d.payload {
        Payload::Data(b) => b,
        p => panic!("no data: {p:?}"),
    }
}

/// The same bursts to an application that does not read its socket at all
/// for a while: the daemon holds what the socket cannot, and writes it, in
/// order, once the application reads again.
#[test]
fn a_socket_left_unread_for_a_while_gets_the_whole_burst_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let node = Daemon::start(dir.path());
    let mut raw = RawApp::connect(&node.socket, 4101);
    raw.open("RAWSUB", Role::Server);
    let sender = Rtr::connect_socket(&node.socket).unwrap();
    let c = open_ok(&sender, client_params("RAWSUB", vec![]));
    for (count, len) in [(20u32, 60_000usize), (500, 1_000)] {
        for i in 0..count {
            sender.broadcast_event(c, 0, &body(i, len), 0, None).unwrap();
        }
        std::thread::sleep(Duration::from_millis(1500));
        for i in 0..count {
            match raw.next() {
                Got::D(d) => {
                    assert_eq!(d.msgtype, MsgType::UserEvent);
                    assert_eq!(data_of(&d).len(), len);
                    assert_eq!(number(data_of(&d)), i, "in order");
                }
                Got::Dropped(n) => panic!("{n} events dropped, within the bound"),
            }
        }
    }
    assert!(!node.log().contains("is not reading"), "{}", node.log());
}

/// A client whose transaction is in flight stops reading while its server
/// replies far past the daemon's bound and broadcasts to it: the
/// transaction messages (every reply, the outcome) are all kept, in order;
/// events past the bound are dropped and the count reaches the client. The
/// node logs the episode once, and once more when the client caught up.
#[test]
fn a_transaction_in_flight_on_a_paused_connection_gets_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let node = Daemon::start(dir.path());
    let server = Rtr::connect_socket(&node.socket).unwrap();
    let s = open_ok(&server, server_params("TXP", vec![]));
    let mut raw = RawApp::connect(&node.socket, 4102);
    raw.open("TXP", Role::Client);
    let tid = rtr_core::Tid { node: raw.node, incarnation: raw.incarnation, conn: raw.conn, seq: 1 };
    raw.send(Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: Bytes::from(&5u32.to_ne_bytes()[..]) });
    let m = server.receive(&Which::List(vec![s]), Some(WAIT)).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Msg1);
    // 12 MB of events and 1.2 MB of replies, interleaved; the client reads none.
    for i in 0..200u32 {
        server.broadcast_event(s, 0, &body(i, 60_000), 0, None).unwrap();
        if i % 10 == 9 {
            server.reply_to_client(s, 0, &body(i / 10, 60_000)).unwrap();
        }
    }
    // The server's next receive votes yes; the client accepted with its send.
    let m = server.receive(&Which::List(vec![s]), Some(WAIT)).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Accepted);
    // The client reads again.
    let (mut events, mut replies, mut dropped, mut last, mut outcome) = (0u64, 0u32, 0u64, None, false);
    while events + dropped < 200 || !outcome {
        match raw.next() {
            Got::Dropped(n) => dropped += n,
            Got::D(d) => {
                assert!(!outcome, "{d:?} after the outcome");
                match d.msgtype {
                    MsgType::UserEvent => {
                        let i = number(data_of(&d));
                        assert!(last.is_none_or(|l| i > l), "event {i} after {last:?}");
                        last = Some(i);
                        events += 1;
                    }
                    MsgType::Reply => {
                        assert_eq!(number(data_of(&d)), replies, "every reply, in order");
                        replies += 1;
                    }
                    MsgType::Accepted => {
                        assert_eq!(d.tid, Some(tid));
                        assert_eq!(replies, 20, "the outcome after every reply");
                        outcome = true;
                    }
                    other => panic!("unexpected {other:?}: {d:?}"),
                }
            }
        }
    }
    assert_eq!(events + dropped, 200);
    assert!(dropped > 0, "12 MB of events cannot all fit in the bound");
    // The node names the process the kernel reports, not the hello's 4102.
    let conn = format!("connection {} (pid {})", raw.conn, std::process::id());
    let caught_up = node.log_line(&[&conn, "caught up"]);
    assert!(caught_up.contains(&format!("{dropped} events were dropped")), "{caught_up}");
    let log = node.log();
    assert_eq!(log.lines().filter(|l| l.contains(&conn) && l.contains("is not reading")).count(), 1, "{log}");
}

/// An application that stops reading for good (its socket stays full):
/// past the bound its events are dropped and counted, the node logs it
/// once (not per message) and serves everyone else as before; when the
/// application finally goes, the node logs why the connection ended and
/// how many events it had dropped for it.
#[test]
fn a_reader_that_stops_for_good_costs_only_its_own_events() {
    let dir = tempfile::tempdir().unwrap();
    let node = Daemon::start(dir.path());
    let mut stuck = RawApp::connect(&node.socket, 4103);
    stuck.open("STALL", Role::Server);
    let sender = Rtr::connect_socket(&node.socket).unwrap();
    let c = open_ok(&sender, client_params("STALL", vec![]));
    let other = Rtr::connect_socket(&node.socket).unwrap();
    let s2 = open_ok(&other, server_params("OTHER", vec![]));
    let c2 = open_ok(&sender, client_params("OTHER", vec![]));
    // The node names the process the kernel reports, not the hello's 4103.
    let conn = format!("connection {} (pid {})", stuck.conn, std::process::id());
    for round in 0..2u32 {
        // 12 MB of events for a connection that reads nothing.
        for i in 0..200u32 {
            sender.broadcast_event(c, 0, &body(round * 200 + i, 60_000), 0, None).unwrap();
        }
        // The node serves the others meanwhile (and has handled every
        // broadcast: the sender's requests are taken in order).
        round_trip(&sender, c2, &other, s2);
    }
    // Another process, start to end, while the stuck one still holds on.
    let probe = Command::new(env!("CARGO_BIN_EXE_rtr"))
        .args(["probe", "client", "--facility", "OTHER", "--count", "3", "--key", "7"])
        .env("RTR_NODE_SOCKET", &node.socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let serve = std::thread::spawn(move || {
        for _ in 0..3 {
            let m = other.receive(&Which::List(vec![s2]), Some(WAIT)).unwrap();
            assert_eq!(m.sb.msgtype, MsgType::Msg1);
            let m = other.receive(&Which::List(vec![s2]), Some(WAIT)).unwrap();
            assert_eq!(m.sb.msgtype, MsgType::Accepted);
        }
    });
    let out = wait_output(probe);
    assert!(serve.join().is_ok(), "the server did not get its three transactions");
    assert_eq!(out.matches("accepted ").count(), 3, "{out}");
    node.log_line(&[&conn, "is not reading its socket"]);
    let log = node.log();
    assert_eq!(log.lines().filter(|l| l.contains(&conn) && l.contains("is not reading")).count(), 1, "once: {log}");
    // The stuck application goes: the end is logged, with the drops.
    drop(stuck);
    let end = node.log_line(&[&conn, "ends:", "events had been dropped"]);
    let words: Vec<&str> = end.split_whitespace().collect();
    let at = words.windows(3).position(|w| w[1..] == ["events", "had"]).unwrap_or_else(|| panic!("{end}"));
    let dropped: u64 = words[at].parse().unwrap_or_else(|_| panic!("no count in {end}"));
    assert!(dropped > 0, "{end}");
}

/// Wait (bounded) for a child to exit; its standard output.
fn wait_output(mut child: Child) -> String {
    let until = Instant::now() + WAIT;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the probe did not finish within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A library application whose wakeup routine is slow (the library's
/// socket reader thread runs it, so nothing is read meanwhile) while a
/// burst goes far past the bound: afterwards it receives the events that
/// were kept, in order, and `events_dropped` counts the rest.
#[test]
fn a_library_connection_held_up_past_the_bound_counts_the_dropped_events() {
    let dir = tempfile::tempdir().unwrap();
    let node = Daemon::start(dir.path());
    let sub = Rtr::connect_socket(&node.socket).unwrap();
    let s = open_ok(&sub, server_params("SLOWAPP", vec![0]));
    let (release, held) = std::sync::mpsc::channel::<()>();
    let held = std::sync::Mutex::new(Some(held));
    sub.set_wakeup(Some(std::sync::Arc::new(move || {
        // The first call holds the reader thread until the test says so.
        if let Some(rx) = held.lock().unwrap().take() {
            let _ = rx.recv_timeout(WAIT);
        }
    })))
    .unwrap();
    let sender = Rtr::connect_socket(&node.socket).unwrap();
    let c = open_ok(&sender, client_params("SLOWAPP", vec![]));
    let other = Rtr::connect_socket(&node.socket).unwrap();
    let s2 = open_ok(&other, server_params("SLOWAPP2", vec![]));
    let c2 = open_ok(&sender, client_params("SLOWAPP2", vec![]));
    for i in 0..200u32 {
        sender.broadcast_event(c, 0, &body(i, 60_000), 0, None).unwrap();
    }
    // Every broadcast has been handled once this comes back (the sender's
    // requests are taken in order); the subscriber has read one at most.
    round_trip(&sender, c2, &other, s2);
    release.send(()).unwrap();
    let (mut got, mut last) = (0u64, None);
    let until = Instant::now() + WAIT;
    while got + sub.events_dropped().unwrap() < 200 {
        assert!(Instant::now() < until, "{got} received, {} dropped", sub.events_dropped().unwrap());
        match sub.receive(&Which::List(vec![s]), Some(Duration::from_millis(100))) {
            Ok(m) => {
                assert_eq!(m.sb.msgtype, MsgType::UserEvent);
                let i = number(&m.data);
                assert!(last.is_none_or(|l| i > l), "event {i} after {last:?}");
                last = Some(i);
                got += 1;
            }
            Err(e) if e.status() == rtr_core::Status::Timout => {}
            Err(e) => panic!("{e}\nnode log:\n{}", node.log()),
        }
    }
    assert_eq!(got + sub.events_dropped().unwrap(), 200);
    assert!(sub.events_dropped().unwrap() > 0);
    // Still connected, and served.
    round_trip(&sender, c, &sub, s);
    node.log_line(&[&format!("(pid {})", std::process::id()), "is not reading its socket"]);
    node.log_line(&[&format!("(pid {})", std::process::id()), "caught up"]);
}
