//! Helpers shared by the channel-API integration tests.
//!
//! Every wait is bounded: `recv` waits at most [`WAIT`], and `assert_quiet`
//! listens for [`QUIET`]. A bug therefore fails a test instead of hanging it.

#![allow(dead_code)]

use std::fmt::Debug;
use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use rtr_core::flags;
use rtr_core::keyseg::{KeySegment, KeyType};
use rtr_core::protocol::codec::{self, Frame};
use rtr_core::protocol::{Bytes, ChanId, Delivery, Payload};
use rtr_core::{Message, MsgType, OpenParams, Rtr, RtrError, Status, Tid, Which};

/// Longest a test waits for a message that must come.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test listens to show that nothing comes.
pub const QUIET: Duration = Duration::from_millis(300);
/// The facility used unless a test names another.
pub const FAC: &str = "TESTFAC";

/// Server key: 4-byte unsigned at offset 0, `lo..=hi`.
pub fn seg(lo: u32, hi: u32) -> KeySegment {
    KeySegment::new(0, KeyType::Unsigned, 4, 0, Some(&lo.to_ne_bytes()), Some(&hi.to_ne_bytes()))
        .expect("valid key segment")
}

/// A message whose key (offset 0, 4 bytes, native order) is `key`.
pub fn msg(key: u32, body: &[u8]) -> Vec<u8> {
    let mut v = key.to_ne_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

pub fn client_params(fac: &str) -> OpenParams {
    OpenParams { flags: flags::ope::CLIENT, facility: Some(fac.to_string()), ..Default::default() }
}

pub fn server_params(fac: &str, lo: u32, hi: u32, extra: u32) -> OpenParams {
    OpenParams {
        flags: flags::ope::SERVER | extra,
        facility: Some(fac.to_string()),
        segments: vec![seg(lo, hi)],
        ..Default::default()
    }
}

/// Open a channel and wait for its `rtr_mt_opened`.
pub fn open_ok(rtr: &Rtr, p: OpenParams) -> ChanId {
    let ch = rtr.open_channel(p).expect("open_channel");
    let m = expect(rtr, ch, MsgType::Opened);
    assert_eq!(status_of(&m), (Status::Ok, 0));
    assert_eq!(m.sb.msglen, 8);
    ch
}

/// Open a channel whose open RTR refuses; returns the status of `rtr_mt_closed`.
pub fn open_refused(rtr: &Rtr, p: OpenParams) -> (ChanId, Status) {
    let ch = rtr.open_channel(p).expect("open_channel queues the request");
    let m = expect(rtr, ch, MsgType::Closed);
    (ch, status_of(&m).0)
}

pub fn open_client(rtr: &Rtr) -> ChanId {
    open_ok(rtr, client_params(FAC))
}

pub fn open_client_in(rtr: &Rtr, fac: &str) -> ChanId {
    open_ok(rtr, client_params(fac))
}

pub fn open_server(rtr: &Rtr, lo: u32, hi: u32, extra: u32) -> ChanId {
    open_ok(rtr, server_params(FAC, lo, hi, extra))
}

pub fn open_server_in(rtr: &Rtr, fac: &str, lo: u32, hi: u32, extra: u32) -> ChanId {
    open_ok(rtr, server_params(fac, lo, hi, extra))
}

/// Receive the next message of `chan` (bounded).
pub fn recv(rtr: &Rtr, chan: ChanId) -> Message {
    rtr.receive(&Which::List(vec![chan]), Some(WAIT)).unwrap_or_else(|e| panic!("receive on channel {chan}: {e:?}"))
}

/// Receive the next message of any channel of `rtr` (bounded).
pub fn recv_any(rtr: &Rtr) -> Message {
    rtr.receive(&Which::Any, Some(WAIT)).unwrap_or_else(|e| panic!("receive on any channel: {e:?}"))
}

/// Receive the next message of `chan` and check its type.
pub fn expect(rtr: &Rtr, chan: ChanId, mt: MsgType) -> Message {
    let m = recv(rtr, chan);
    assert_eq!(m.sb.msgtype, mt, "channel {chan}: expected {mt:?}, got {m:?}");
    assert_eq!(m.sb.channel, chan);
    m
}

/// Receive an outcome (`Accepted`/`Rejected`) for `tid` with this status and reason.
pub fn expect_outcome(rtr: &Rtr, chan: ChanId, mt: MsgType, tid: Tid, status: Status, reason: u32) -> Message {
    let m = expect(rtr, chan, mt);
    assert_eq!(m.sb.tid, tid, "outcome for the wrong transaction: {m:?}");
    assert_eq!(status_of(&m), (status, reason), "{m:?}");
    m
}

pub fn expect_accepted(rtr: &Rtr, chan: ChanId, tid: Tid) -> Message {
    expect_outcome(rtr, chan, MsgType::Accepted, tid, Status::Ok, 0)
}

pub fn expect_rejected(rtr: &Rtr, chan: ChanId, tid: Tid, status: Status, reason: u32) -> Message {
    expect_outcome(rtr, chan, MsgType::Rejected, tid, status, reason)
}

/// (status, reason) of a message carrying `rtr_status_data_t`.
pub fn status_of(m: &Message) -> (Status, u32) {
    let (code, reason) = m.status().unwrap_or_else(|| panic!("no status data in {m:?}"));
    let s = Status::from_code(code).unwrap_or_else(|| panic!("unknown status code {code}"));
    (s, reason)
}

/// Listen to `chan` for [`QUIET`] and require that nothing arrives.
///
/// On a server channel this is a receive call, so it is also an implicit
/// accept when one is due: tests use it knowingly.
pub fn assert_quiet(rtr: &Rtr, chan: ChanId) {
    match rtr.receive(&Which::List(vec![chan]), Some(QUIET)) {
        Err(RtrError::Timeout) => {}
        other => panic!("channel {chan}: expected no message, got {other:?}"),
    }
}

/// The status an API error maps to (the call must have failed).
pub fn err_status<T: Debug>(r: Result<T, RtrError>) -> Status {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e.status(),
    }
}

/// One complete transaction: send, server reply, accept; both sides committed.
/// The server must use the default voting mode.
pub fn round_trip(client: &Rtr, c: ChanId, server: &Rtr, s: ChanId, key: u32) -> Tid {
    client.send_to_server(c, 0, &msg(key, b"rt")).expect("send");
    let tid = client.get_tid(c, 0).expect("tid");
    let m = expect(server, s, MsgType::Msg1);
    assert_eq!(m.sb.tid, tid);
    server.reply_to_client(s, 0, b"ok").expect("reply");
    let r = expect(client, c, MsgType::Reply);
    assert_eq!(r.sb.tid, tid);
    client.accept_tx(c, 0, 0).expect("accept");
    expect_accepted(server, s, tid);
    expect_accepted(client, c, tid);
    tid
}

/// A node daemon's socket in `dir` that says welcome to one connection and
/// then does what the test says: join the handle for the node's end.
pub fn fake_node(dir: &Path) -> (PathBuf, thread::JoinHandle<UnixStream>) {
    let socket = dir.join("fake.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let accept = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let hello = codec::read_frame(&mut s).unwrap();
        assert!(matches!(codec::decode(&hello), Ok(Frame::Hello { .. })));
        s.write_all(&codec::encode(&Frame::Welcome { conn: 1, node: 1, incarnation: 1 })).unwrap();
        s
    });
    (socket, accept)
}

/// The frame a node sends to deliver a reply carrying `body` on `chan`.
pub fn reply_frame(chan: ChanId, body: &[u8]) -> Vec<u8> {
    codec::encode(&Frame::Delivery(Delivery {
        chan,
        msgtype: MsgType::Reply,
        tid: None,
        evtnum: 0,
        payload: Payload::Data(Bytes::from(body)),
        fence: 0,
    }))
}
