//! The Unix-socket transport: an application that does not read for a while
//! must neither block the node nor lose or reorder its messages.

mod common;

use std::os::unix::net::UnixListener;
use std::time::Duration;

use common::*;
use rtr_core::runtime::EmbeddedNode;
use rtr_core::{EmbeddedConfig, MsgType, Rtr, Which};

/// How the node reads its application sockets.
#[derive(Clone, Copy)]
enum Mode {
    /// A reader thread per connection, blocking sockets.
    Threads,
    /// The daemon's event loop (`rtr start`): the node thread reads the
    /// sockets, which are non-blocking for every clone of them.
    EventLoop,
}

fn daemon(dir: &std::path::Path, mode: Mode) -> std::path::PathBuf {
    let node = match mode {
        Mode::Threads => EmbeddedNode::start_with(EmbeddedConfig::default()).unwrap(),
        Mode::EventLoop => EmbeddedNode::start_daemon(EmbeddedConfig::default()).unwrap(),
    };
    let socket = dir.join("rtr.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || rtr_core::transport::unix::serve(listener, node));
    socket
}

#[test]
fn a_client_that_stops_reading_gets_every_reply_in_order_later_and_others_carry_on() {
    client_stops_reading(Mode::Threads);
}

#[test]
fn a_client_that_stops_reading_gets_every_reply_in_order_later_on_the_event_loop() {
    client_stops_reading(Mode::EventLoop);
}

fn client_stops_reading(mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let socket = daemon(dir.path(), mode);
    let server = Rtr::connect_socket(&socket).unwrap();
    let client = Rtr::connect_socket(&socket).unwrap();
    let other = Rtr::connect_socket(&socket).unwrap();
    let s = open_ok(&server, server_params("SOCK", 0, 1000, 0));
    let c = open_ok(&client, client_params("SOCK"));
    client.send_to_server(c, 0, &msg(1, b"go")).unwrap();
    expect(&server, s, MsgType::Msg1);
    // 200 replies of 60,000 bytes (12 MB) to a client that reads none of
    // them yet: far more than a socket buffer holds.
    for i in 0u32..200 {
        let mut r = vec![0u8; 60_000];
        r[0..4].copy_from_slice(&i.to_ne_bytes());
        server.reply_to_client(s, 0, &r).unwrap();
    }
    // Meanwhile the node serves another connection without delay.
    let s2 = open_ok(&other, server_params("SOCK2", 0, 1000, 0));
    let c2 = open_ok(&other, client_params("SOCK2"));
    other.send_to_server(c2, rtr_core::flags::sen::ACCEPT, &msg(5, b"x")).unwrap();
    expect(&other, s2, MsgType::Msg1);
    let m = other.receive(&Which::List(vec![s2]), Some(Duration::from_secs(5))).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::Accepted);
    // Now the slow client reads: every reply, whole and in order.
    for i in 0u32..200 {
        let m = match client.receive(&Which::List(vec![c]), Some(Duration::from_secs(5))) {
            Ok(m) => m,
            Err(e) => panic!("reply {i}: {e}"),
        };
        assert_eq!(m.sb.msgtype, MsgType::Reply, "reply {i}");
        assert_eq!(m.data.len(), 60_000);
        assert_eq!(u32::from_ne_bytes(m.data[0..4].try_into().unwrap()), i);
    }
    client.accept_tx(c, 0, 0).unwrap();
    // The server's next receive is its (implicit) vote.
    expect(&server, s, MsgType::Accepted);
    expect(&client, c, MsgType::Accepted);
}

/// A raw peer speaking the wire protocol that does not read its socket at
/// all: the node's sends to it would block, so its writer thread takes
/// over; the node keeps serving others, and nothing is lost or reordered.
#[test]
fn a_peer_that_does_not_read_its_socket_never_blocks_the_node() {
    peer_does_not_read(Mode::Threads);
}

/// Its replies (12 MB, past the daemon's bound) are transaction messages:
/// kept, all of them.
#[test]
fn a_peer_that_does_not_read_its_socket_never_blocks_the_event_loop() {
    peer_does_not_read(Mode::EventLoop);
}

fn peer_does_not_read(mode: Mode) {
    use rtr_core::protocol::codec::{self, Frame};
    use rtr_core::protocol::{Bytes, Delivery, Payload, Request, Role};
    use rtr_core::Tid;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    let dir = tempfile::tempdir().unwrap();
    let socket = daemon(dir.path(), mode);
    let server = Rtr::connect_socket(&socket).unwrap();
    let s = open_ok(&server, server_params("RAW", 0, 1000, 0));

    let mut raw = UnixStream::connect(&socket).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    raw.write_all(&codec::encode(&Frame::Hello { version: u32::from(codec::VERSION), pid: 1 })).unwrap();
    let Frame::Welcome { conn, .. } = codec::decode(&codec::read_frame(&mut raw).unwrap()).unwrap() else {
        panic!("no welcome")
    };
    let send = |raw: &mut UnixStream, r: Request| raw.write_all(&codec::encode(&Frame::Request(r))).unwrap();
    send(
        &mut raw,
        Request::Open {
            chan: 1,
            role: Role::Client,
            facility: "RAW".into(),
            flags: rtr_core::flags::ope::CLIENT,
            range: Default::default(),
        },
    );
    let tid = Tid { node: 1, incarnation: 0, conn, seq: 1 };
    send(&mut raw, Request::Send { chan: 1, tid, flags: 0, data: Bytes::from(&msg(3, b"hi")[..]) });
    expect(&server, s, MsgType::Msg1);
    for i in 0u32..200 {
        let mut r = vec![0u8; 60_000];
        r[0..4].copy_from_slice(&i.to_ne_bytes());
        server.reply_to_client(s, 0, &r).unwrap();
    }
    // The node is not blocked by the stuck peer: another transaction runs.
    let other = Rtr::connect_socket(&socket).unwrap();
    let s2 = open_ok(&other, server_params("RAW2", 0, 1000, 0));
    let c2 = open_ok(&other, client_params("RAW2"));
    other.send_to_server(c2, rtr_core::flags::sen::ACCEPT, &msg(5, b"x")).unwrap();
    expect(&other, s2, MsgType::Msg1);
    expect(&other, s2, MsgType::Accepted);
    expect(&other, c2, MsgType::Accepted);
    // Now the peer reads: the open, then every reply in order.
    let next = |raw: &mut UnixStream| -> Delivery {
        match codec::decode(&codec::read_frame(raw).unwrap()).unwrap() {
            Frame::Delivery(d) => d,
            f => panic!("unexpected {f:?}"),
        }
    };
    assert_eq!(next(&mut raw).msgtype, MsgType::Opened);
    for i in 0u32..200 {
        let d = next(&mut raw);
        assert_eq!(d.msgtype, MsgType::Reply, "reply {i}");
        let Payload::Data(b) = d.payload else { panic!("reply {i} without data") };
        assert_eq!(b.len(), 60_000);
        assert_eq!(u32::from_ne_bytes(b[0..4].try_into().unwrap()), i);
    }
}
