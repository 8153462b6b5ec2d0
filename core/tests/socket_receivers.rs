//! Receivers that read a node daemon's socket themselves (leader/follower,
//! `transport/unix/reader.rs`): several threads of one connection, each
//! receiving for its own channel; a thread blocked in a receive while
//! another sends; the connection lost while a thread leads the read; a
//! receive that does not wait still sees what arrived. A lost wake-up or a
//! hand-over to nobody would leave a receiver waiting: every wait here is
//! bounded, so such a bug fails the test instead of hanging it.

mod common;

use std::io::Write;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use rtr_core::flags;
use rtr_core::protocol::codec::{self, Frame};
use rtr_core::runtime::EmbeddedNode;
use rtr_core::{EmbeddedConfig, MsgType, Rtr, RtrError, Which};

/// The longest any one receive here waits.
const BOUND: Duration = Duration::from_secs(10);

fn daemon(dir: &std::path::Path) -> std::path::PathBuf {
    let node = EmbeddedNode::start_daemon(EmbeddedConfig::default()).unwrap();
    let socket = dir.join("rtr.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    thread::spawn(move || rtr_core::transport::unix::serve(listener, node));
    socket
}

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().starts_with(prefix))
        .count()
}

#[test]
fn threads_of_one_connection_each_get_the_messages_of_their_own_channel() {
    const PAIRS: u32 = 4;
    const TXS: u32 = 150;
    let dir = tempfile::tempdir().unwrap();
    let socket = daemon(dir.path());
    let servers = Rtr::connect_socket(&socket).unwrap();
    let clients = Rtr::connect_socket(&socket).unwrap();
    // Server i serves keys i*100..=i*100+99; client i sends only those.
    let mut handles = Vec::new();
    for i in 0..PAIRS {
        let s = open_ok(&servers, server_params("LF", i * 100, i * 100 + 99, 0));
        let rtr = servers.clone();
        handles.push(thread::spawn(move || -> Result<u32, String> {
            let mut outcomes = 0;
            while outcomes < TXS {
                let m = rtr.receive(&Which::List(vec![s]), Some(BOUND)).map_err(|e| format!("server {i}: {e}"))?;
                if m.sb.channel != s {
                    return Err(format!("server {i} got a message of channel {}", m.sb.channel));
                }
                if m.sb.msgtype == MsgType::Accepted {
                    outcomes += 1;
                }
            }
            Ok(outcomes)
        }));
    }
    for i in 0..PAIRS {
        let c = open_ok(&clients, client_params("LF"));
        let rtr = clients.clone();
        handles.push(thread::spawn(move || -> Result<u32, String> {
            for n in 0..TXS {
                rtr.send_to_server(c, flags::sen::ACCEPT, &msg(i * 100 + n % 100, b"lf"))
                    .map_err(|e| format!("client {i}: {e}"))?;
                let m =
                    rtr.receive(&Which::List(vec![c]), Some(BOUND)).map_err(|e| format!("client {i} tx {n}: {e}"))?;
                if (m.sb.channel, m.sb.msgtype) != (c, MsgType::Accepted) {
                    return Err(format!("client {i} tx {n}: {m:?}"));
                }
            }
            Ok(TXS)
        }));
    }
    // While they run, nobody but the receivers reads the sockets: no
    // reader thread was started for either connection.
    assert_eq!(threads_named("rtr-socket-read"), 0);
    for h in handles {
        assert_eq!(h.join().unwrap(), Ok(TXS));
    }
}

#[test]
fn a_thread_blocked_in_a_receive_reads_for_another_that_sends_and_receives() {
    let dir = tempfile::tempdir().unwrap();
    let socket = daemon(dir.path());
    let server = Rtr::connect_socket(&socket).unwrap();
    let app = Rtr::connect_socket(&socket).unwrap();
    let s = open_ok(&server, server_params("LF2", 0, 1000, 0));
    let stop = Arc::new(AtomicBool::new(false));
    let serving = {
        let (server, stop) = (server.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match server.receive(&Which::List(vec![s]), Some(Duration::from_millis(200))) {
                    Ok(_) | Err(RtrError::Timeout) => {}
                    Err(_) => return,
                }
            }
        })
    };
    let waiting_chan = open_ok(&app, client_params("LF2"));
    let busy_chan = open_ok(&app, client_params("LF2"));
    // This thread blocks (and, finding the role free, leads the read)
    // until the end of the test.
    let blocked = {
        let app = app.clone();
        thread::spawn(move || app.receive(&Which::List(vec![waiting_chan]), Some(BOUND)))
    };
    // Let it block first (ordering only; nothing asserts on time).
    thread::sleep(Duration::from_millis(100));
    for n in 0..100u32 {
        app.send_to_server(busy_chan, flags::sen::ACCEPT, &msg(n, b"busy")).unwrap();
        let m = app.receive(&Which::List(vec![busy_chan]), Some(BOUND)).unwrap();
        assert_eq!((m.sb.channel, m.sb.msgtype), (busy_chan, MsgType::Accepted), "tx {n}");
    }
    app.send_to_server(waiting_chan, flags::sen::ACCEPT, &msg(7, b"last")).unwrap();
    let m = blocked.join().unwrap().unwrap();
    assert_eq!((m.sb.channel, m.sb.msgtype), (waiting_chan, MsgType::Accepted));
    stop.store(true, Ordering::Relaxed);
    serving.join().unwrap();
}

/// Context switches of thread `tid` of this process so far.
fn switches_of(tid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.starts_with("voluntary_ctxt_switches") || l.starts_with("nonvoluntary_ctxt_switches"))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
        .sum()
}

/// A server thread on a connection of its own, until `stop`.
fn serve_until(server: &Rtr, s: u32, stop: &Arc<AtomicBool>) -> thread::JoinHandle<()> {
    let (server, stop) = (server.clone(), stop.clone());
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match server.receive(&Which::List(vec![s]), Some(Duration::from_millis(200))) {
                Ok(_) | Err(RtrError::Timeout) => {}
                Err(_) => return,
            }
        }
    })
}

#[test]
fn a_receive_that_returns_wakes_no_other_waiting_thread() {
    // Before, a thread that read the socket gave the reading role up on
    // every return from its receive and woke a waiting thread to take it,
    // which mostly found it taken again and slept: a context-switch pair
    // per receive (docs/daemon-path.md, sixth pass). Now the idle thread's
    // sleep is not disturbed by another thread's transactions: the kernel
    // wakes a waiting thread only for bytes, and the busy thread, which
    // waited on the socket first, is the one it wakes while it waits.
    const TXS: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let socket = daemon(dir.path());
    let server = Rtr::connect_socket(&socket).unwrap();
    let app = Rtr::connect_socket(&socket).unwrap();
    let s = open_ok(&server, server_params("QUIET", 0, 1000, 0));
    let stop = Arc::new(AtomicBool::new(false));
    let serving = serve_until(&server, s, &stop);
    let busy_chan = open_ok(&app, client_params("QUIET"));
    let idle_chan = open_ok(&app, client_params("QUIET"));
    let tx = |n: u32| {
        app.send_to_server(busy_chan, flags::sen::ACCEPT, &msg(n, b"busy")).unwrap();
        let m = app.receive(&Which::List(vec![busy_chan]), Some(BOUND)).unwrap();
        assert_eq!((m.sb.channel, m.sb.msgtype), (busy_chan, MsgType::Accepted), "tx {n}");
    };
    // This thread waits on the socket first.
    tx(0);
    let tid = Arc::new(std::sync::atomic::AtomicI32::new(0));
    let idle = {
        let (app, tid) = (app.clone(), tid.clone());
        thread::spawn(move || {
            // SAFETY: gettid takes no arguments and cannot fail.
            tid.store(unsafe { libc::gettid() }, Ordering::Release);
            app.receive(&Which::List(vec![idle_chan]), Some(BOUND))
        })
    };
    // Let it block first (ordering only; nothing asserts on time).
    thread::sleep(Duration::from_millis(100));
    let tid = tid.load(Ordering::Acquire);
    let before = switches_of(tid);
    for n in 1..=TXS as u32 {
        tx(n);
    }
    let woken = switches_of(tid) - before;
    eprintln!("the idle receiver was switched {woken} times during {TXS} transactions");
    app.send_to_server(idle_chan, flags::sen::ACCEPT, &msg(7, b"last")).unwrap();
    let m = idle.join().unwrap().unwrap();
    assert_eq!((m.sb.channel, m.sb.msgtype), (idle_chan, MsgType::Accepted));
    stop.store(true, Ordering::Relaxed);
    serving.join().unwrap();
    // Before: about one per transaction (TXS). A few remain possible: an
    // outcome that arrives before the busy thread is back in its wait is
    // read by the idle one, which hands it over.
    assert!(
        woken < TXS / 4,
        "the idle receiver was switched {woken} times during {TXS} transactions of another thread"
    );
}

#[test]
fn a_thread_away_in_the_application_leaves_no_delivery_unread_for_one_that_waits() {
    // The thread that waited on the socket first (the one the kernel
    // wakes while it waits) receives its message and stays away; another
    // thread's message, arriving meanwhile, must still be read.
    let dir = tempfile::tempdir().unwrap();
    let socket = daemon(dir.path());
    let server = Rtr::connect_socket(&socket).unwrap();
    let app = Rtr::connect_socket(&socket).unwrap();
    let s = open_ok(&server, server_params("AWAY", 0, 1000, 0));
    let stop = Arc::new(AtomicBool::new(false));
    let serving = serve_until(&server, s, &stop);
    let first = open_ok(&app, client_params("AWAY"));
    let second = open_ok(&app, client_params("AWAY"));
    let (back, go_back) = std::sync::mpsc::channel::<()>();
    let (gone, went) = std::sync::mpsc::channel::<()>();
    let away = {
        let app = app.clone();
        thread::spawn(move || {
            app.send_to_server(first, flags::sen::ACCEPT, &msg(1, b"first")).unwrap();
            let m = app.receive(&Which::List(vec![first]), Some(BOUND)).unwrap();
            assert_eq!((m.sb.channel, m.sb.msgtype), (first, MsgType::Accepted));
            gone.send(()).unwrap();
            // Away in the application until the test is over.
            let _ = go_back.recv_timeout(BOUND);
        })
    };
    went.recv_timeout(BOUND).unwrap();
    let waiting = {
        let app = app.clone();
        thread::spawn(move || app.receive(&Which::List(vec![second]), Some(BOUND)))
    };
    thread::sleep(Duration::from_millis(100));
    app.send_to_server(second, flags::sen::ACCEPT, &msg(0, b"second")).unwrap();
    let m = waiting.join().unwrap().unwrap();
    assert_eq!((m.sb.channel, m.sb.msgtype), (second, MsgType::Accepted));
    for n in 1..20u32 {
        app.send_to_server(second, flags::sen::ACCEPT, &msg(n, b"second")).unwrap();
        let m = app.receive(&Which::List(vec![second]), Some(BOUND)).unwrap();
        assert_eq!((m.sb.channel, m.sb.msgtype), (second, MsgType::Accepted), "tx {n}");
    }
    back.send(()).unwrap();
    away.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    serving.join().unwrap();
}

#[test]
fn losing_the_connection_while_a_thread_leads_the_read_wakes_every_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, accept) = fake_node(dir.path());
    let app = Rtr::connect_socket(&socket).unwrap();
    let node = accept.join().unwrap();
    // Two channels (the node never answers their opens), three receivers:
    // one leads, the others follow.
    let a = app.open_channel(client_params("X")).unwrap();
    let b = app.open_channel(client_params("X")).unwrap();
    let receivers: Vec<_> = [vec![a], vec![b], vec![a, b]]
        .into_iter()
        .map(|list| {
            let app = app.clone();
            thread::spawn(move || app.receive(&Which::List(list), Some(BOUND)).map(|m| m.sb))
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    // The node dies.
    node.shutdown(std::net::Shutdown::Both).unwrap();
    drop(node);
    let t0 = Instant::now();
    for r in receivers {
        match r.join().unwrap() {
            Err(RtrError::NodeUnavailable(_)) => {}
            other => panic!("expected NODEUNAVAIL, got {other:?} after {:?}", t0.elapsed()),
        }
    }
    assert!(matches!(app.receive(&Which::Any, Some(Duration::ZERO)), Err(RtrError::NodeUnavailable(_))));
}

#[test]
fn deliveries_for_other_channels_reach_their_owners_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, accept) = fake_node(dir.path());
    let app = Rtr::connect_socket(&socket).unwrap();
    let mut node = accept.join().unwrap();
    let a = app.open_channel(client_params("X")).unwrap();
    let b = app.open_channel(client_params("X")).unwrap();
    let owner = |chan: u32| {
        let app = app.clone();
        thread::spawn(move || -> Vec<u8> {
            (0..50).map(|_| app.receive(&Which::List(vec![chan]), Some(BOUND)).unwrap().data[0]).collect()
        })
    };
    let (ra, rb) = (owner(a), owner(b));
    // Interleaved, in several writes: whoever leads reads them all and
    // queues each on its channel.
    for i in 0..50u8 {
        let mut bytes = reply_frame(a, &[i]);
        bytes.extend(reply_frame(b, &[i]));
        node.write_all(&bytes).unwrap();
    }
    let want: Vec<u8> = (0..50).collect();
    assert_eq!(ra.join().unwrap(), want);
    assert_eq!(rb.join().unwrap(), want);
}

#[test]
fn a_receive_that_does_not_wait_sees_what_arrived_and_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, accept) = fake_node(dir.path());
    let app = Rtr::connect_socket(&socket).unwrap();
    let mut node = accept.join().unwrap();
    let a = app.open_channel(client_params("X")).unwrap();
    assert!(matches!(app.receive(&Which::List(vec![a]), Some(Duration::ZERO)), Err(RtrError::Timeout)));
    let mut bytes = reply_frame(a, b"hi");
    bytes.extend(codec::encode(&Frame::EventsDropped { count: 3 }));
    node.write_all(&bytes).unwrap();
    // Nobody waits in a receive, so nobody read the socket: a polling
    // receive (timeout 0) must read it itself.
    let until = Instant::now() + BOUND;
    let m = loop {
        match app.receive(&Which::List(vec![a]), Some(Duration::ZERO)) {
            Ok(m) => break m,
            Err(RtrError::Timeout) if Instant::now() < until => thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(m.data, b"hi");
    assert_eq!(app.events_dropped().unwrap(), 3);
    // The drop count alone, with no receive, is seen too.
    node.write_all(&codec::encode(&Frame::EventsDropped { count: 2 })).unwrap();
    let until = Instant::now() + BOUND;
    while app.events_dropped().unwrap() != 5 {
        assert!(Instant::now() < until, "the count never arrived");
        thread::sleep(Duration::from_millis(5));
    }
}
