//! The outbox on a socket pair: the far end is the application, which
//! reads when the test says so.

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::*;
use crate::protocol::{Bytes, Payload};
use crate::tid::Tid;

const WAIT: Duration = Duration::from_secs(20);

fn event(i: u32, len: usize) -> Delivery {
    let mut b = vec![0u8; len];
    b[0..4].copy_from_slice(&i.to_le_bytes());
    Delivery {
        chan: 1,
        msgtype: MsgType::UserEvent,
        tid: None,
        evtnum: 3,
        payload: Payload::Data(Bytes::from(b)),
        fence: 0,
    }
}

fn reply(i: u32, len: usize) -> Delivery {
    let mut b = vec![0u8; len];
    b[0..4].copy_from_slice(&i.to_le_bytes());
    let tid = Tid { node: 1, incarnation: 0, conn: 7, seq: 1 };
    Delivery {
        chan: 2,
        msgtype: MsgType::Reply,
        tid: Some(tid),
        evtnum: 0,
        payload: Payload::Data(Bytes::from(b)),
        fence: 0,
    }
}

fn number(d: &Delivery) -> u32 {
    let Payload::Data(b) = &d.payload else { panic!("no data: {d:?}") };
    u32::from_le_bytes(b[0..4].try_into().unwrap())
}

/// The node's end (non-blocking, as the daemon's event loop sets it) with
/// its outbox and writer thread, and the application's end.
fn pair(limit: usize) -> (Arc<SocketSink>, std::thread::JoinHandle<()>, UnixStream) {
    let (node, app) = UnixStream::pair().unwrap();
    node.set_nonblocking(true).unwrap();
    app.set_read_timeout(Some(WAIT)).unwrap();
    let (sink, writer) = new(&node, 42, limit).unwrap();
    let thread = writer.spawn(7, ()).unwrap();
    (sink, thread, app)
}

enum Got {
    D(Delivery),
    Dropped(u64),
}

fn next(app: &mut UnixStream) -> Got {
    match codec::decode(&codec::read_frame(app).expect("a frame within the wait")).unwrap() {
        Frame::Delivery(d) => Got::D(d),
        Frame::EventsDropped { count } => Got::Dropped(count),
        f => panic!("unexpected {f:?}"),
    }
}

/// Wait (bounded) until the writer thread has handed writing back to the
/// node thread, then check that nothing is left over.
fn assert_caught_up(sink: &SocketSink) {
    let until = Instant::now() + WAIT;
    loop {
        {
            let b = sink.shared.state.lock().unwrap();
            if !b.active {
                assert_eq!((b.queued, b.unreported, b.dropped, b.over), (0, 0, 0, false));
                return;
            }
        }
        assert!(Instant::now() < until, "the writer thread did not catch up");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ended_within(t: &std::thread::JoinHandle<()>, wait: Duration) -> bool {
    let until = Instant::now() + wait;
    while !t.is_finished() {
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

#[test]
fn a_full_socket_is_waited_for_and_everything_arrives_in_order() {
    let (sink, thread, mut app) = pair(MAX_BACKLOG);
    // 6 MB in passes of ten: far more than the socket holds; the
    // application reads nothing yet.
    for p in 0..10u32 {
        sink.deliver((0..10).map(|i| reply(p * 10 + i, 60_000)).collect());
    }
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..100 {
        let Got::D(d) = next(&mut app) else { panic!("a drop report") };
        assert_eq!((d.msgtype, number(&d)), (MsgType::Reply, i));
    }
    // Caught up: the node thread sends directly again, still in order.
    sink.deliver(vec![event(1000, 10)]);
    let Got::D(d) = next(&mut app) else { panic!("a drop report") };
    assert_eq!(number(&d), 1000);
    assert_caught_up(&sink);
    assert!(!thread.is_finished());
}

#[test]
fn events_past_the_bound_are_dropped_and_reported_and_transaction_messages_kept() {
    let limit = 64 << 10;
    let (sink, thread, mut app) = pair(limit);
    // 2000 events of 1 KB, a reply after every 100th, in passes of 50.
    let mut all = Vec::new();
    for i in 0..2000u32 {
        all.push(event(i, 1000));
        if i % 100 == 99 {
            all.push(reply(i / 100, 30_000));
        }
    }
    let mut rest = &all[..];
    while !rest.is_empty() {
        let n = rest.len().min(50);
        sink.deliver(rest[..n].to_vec());
        rest = &rest[n..];
    }
    {
        let b = sink.shared.state.lock().unwrap();
        assert!(b.over, "past the bound");
        assert!(b.dropped > 0);
        // Events stop at the bound; only transaction messages pass it.
        assert!(b.queued <= limit + 20 * 30_100 + 2_000, "{} queued", b.queued);
    }
    let (mut events, mut replies, mut dropped, mut last) = (0u64, 0u32, 0u64, None);
    while events + dropped < 2000 || replies < 20 {
        match next(&mut app) {
            Got::Dropped(n) => dropped += n,
            Got::D(d) if d.msgtype == MsgType::Reply => {
                assert_eq!(number(&d), replies, "every reply, in order");
                replies += 1;
            }
            Got::D(d) => {
                let i = number(&d);
                assert!(last.is_none_or(|l| i > l), "events in order: {i} after {last:?}");
                last = Some(i);
                events += 1;
            }
        }
    }
    assert_eq!(events + dropped, 2000);
    assert!(dropped > 0 && events > 0, "{events} delivered, {dropped} dropped");
    // The episode is over once caught up; the next event goes through.
    sink.deliver(vec![event(5000, 10)]);
    let Got::D(d) = next(&mut app) else { panic!("a second drop report") };
    assert_eq!(number(&d), 5000);
    assert_caught_up(&sink);
    assert!(!thread.is_finished());
}

#[test]
fn a_closed_application_socket_ends_the_writer() {
    let (sink, thread, app) = pair(MAX_BACKLOG);
    sink.deliver((0..20).map(|i| reply(i, 60_000)).collect());
    drop(app);
    assert!(ended_within(&thread, WAIT), "the writer thread still runs");
}

#[test]
fn a_connection_the_node_dropped_with_a_full_socket_ends() {
    let (sink, thread, app) = pair(MAX_BACKLOG);
    sink.deliver((0..20).map(|i| reply(i, 60_000)).collect());
    // The node forgets the connection; the application is alive but does
    // not read: the writer thread gives up rather than wait for ever.
    drop(sink);
    assert!(ended_within(&thread, WAIT), "the writer thread still runs");
    drop(app);
}

#[test]
fn node_stopped_ends_the_writer_after_what_was_queued() {
    let (sink, thread, mut app) = pair(MAX_BACKLOG);
    sink.deliver((0..10).map(|i| reply(i, 60_000)).collect());
    sink.node_stopped();
    for i in 0..10 {
        let Got::D(d) = next(&mut app) else { panic!("a drop report") };
        assert_eq!(number(&d), i);
    }
    assert!(ended_within(&thread, WAIT), "the writer thread still runs");
    // It closed the socket.
    assert!(matches!(codec::read_frame(&mut app), Err(codec::FrameError::Closed)));
}
