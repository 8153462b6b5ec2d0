//! The wire codec: frames between an application library and its node,
//! between a management tool and a node ([`Frame::Admin`]; see
//! [`super::admin`]), and, later, between nodes.
//!
//! A frame is `len u32 | version u8 | kind u8 | body`, little-endian, where
//! `len` counts everything after itself. Decoding is total: any byte string
//! gives either a frame or a [`DecodeError`], never a panic, and never an
//! allocation larger than the input. A connection that sends a bad frame is
//! closed with the error logged; the node goes on serving everyone else.

use std::io::{self, Read};

use super::admin::{self, AdminReply, AdminRequest};
use super::wire::{Reader, Writer};
use super::{Bytes, Delivery, Payload, Request, Role};
use crate::keyseg::{KeyError, KeyRange, KeySegment, KeyType, MAX_NUMSEG};
use crate::msgtype::MsgType;
use crate::status::Status;
use crate::tid::Tid;
use crate::MAX_MSGLEN;

/// The protocol version carried by every frame. Version 2 added
/// [`Frame::EventsDropped`]: a library of version 1 would take it for
/// nonsense and drop its connection, so the node refuses its hello instead.
/// Version 4 added each server delivery's fencing token
/// ([`Delivery::fence`], after the tid). Version 5 added a partition's
/// shadow site and backlog to `rtr show partition` (`PartitionInfo`).
pub const VERSION: u8 = 5;
/// The largest frame accepted (an open with 20 string key segments of the
/// longest bounds is the largest legitimate frame).
pub const MAX_FRAME: usize = 4 << 20;
/// Longest facility name or reason text on the wire.
const MAX_NAME: usize = 1024;

#[derive(Clone, Debug)]
pub enum Frame {
    /// Library to node: the first frame of a connection.
    Hello {
        version: u32,
        pid: u32,
    },
    /// Node to library: the connection is accepted.
    Welcome {
        conn: u32,
        node: u32,
        incarnation: u32,
    },
    /// Node to library: the connection is refused.
    Refuse {
        status: Status,
        reason: String,
    },
    Request(Request),
    Delivery(Delivery),
    /// Node to library: the node dropped this many events (user broadcasts
    /// and RTR events) for the connection because it was not reading its
    /// socket and the bytes queued for it had reached the node's bound
    /// (see `transport/unix.rs`). Counts since the previous such frame; the
    /// library adds them to its `events_dropped` count.
    EventsDropped {
        count: u64,
    },
    /// Management tool to node (the first frame of an admin connection, and
    /// every later one).
    Admin(AdminRequest),
    /// Node to management tool: the answer to one admin request.
    AdminReply(AdminReply),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame truncated")]
    Truncated,
    #[error("field of {len} bytes exceeds the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("{0} unexpected bytes after the frame's content")]
    Trailing(usize),
    #[error("protocol version {got} is not supported (this side speaks {VERSION})")]
    Version { got: u8 },
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("unknown {what} tag {tag}")]
    UnknownTag { what: &'static str, tag: u8 },
    #[error("invalid frame: {0}")]
    Invalid(&'static str),
    #[error("invalid key range: {0}")]
    Key(#[from] KeyError),
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME}")]
    Oversized(usize),
    #[error("frame of {0} bytes is too short")]
    Undersized(usize),
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

const K_HELLO: u8 = 1;
const K_WELCOME: u8 = 2;
const K_REFUSE: u8 = 3;
const K_REQUEST: u8 = 10;
const K_DELIVERY: u8 = 20;
const K_EVENTS_DROPPED: u8 = 21;
const K_ADMIN: u8 = 30;
const K_ADMIN_REPLY: u8 = 31;

/// Encode a frame, length prefix included.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut w = Writer::default();
    w.u32(0); // length, patched below
    w.u8(VERSION);
    match frame {
        Frame::Hello { version, pid } => {
            w.u8(K_HELLO);
            w.u32(*version);
            w.u32(*pid);
        }
        Frame::Welcome { conn, node, incarnation } => {
            w.u8(K_WELCOME);
            w.u32(*conn);
            w.u32(*node);
            w.u32(*incarnation);
        }
        Frame::Refuse { status, reason } => {
            w.u8(K_REFUSE);
            w.i32(status.code());
            w.str(reason);
        }
        Frame::Request(r) => {
            w.u8(K_REQUEST);
            request(&mut w, r);
        }
        Frame::Delivery(d) => {
            w.u8(K_DELIVERY);
            delivery(&mut w, d);
        }
        Frame::EventsDropped { count } => {
            w.u8(K_EVENTS_DROPPED);
            w.u64(*count);
        }
        Frame::Admin(a) => {
            w.u8(K_ADMIN);
            admin::write_request(&mut w, a);
        }
        Frame::AdminReply(a) => {
            w.u8(K_ADMIN_REPLY);
            admin::write_reply(&mut w, a);
        }
    }
    let len = (w.buf.len() - 4) as u32;
    w.buf[0..4].copy_from_slice(&len.to_le_bytes());
    w.buf
}

/// Append the frame of one delivery to `buf` (what [`encode`] makes of
/// `Frame::Delivery`, without taking the delivery or a buffer of its own).
/// Returns the frame's length in bytes.
pub fn encode_delivery_into(buf: &mut Vec<u8>, d: &Delivery) -> usize {
    frame_into(buf, K_DELIVERY, |w| delivery(w, d))
}

/// Append the frame of one request to `buf` (what [`encode`] makes of
/// `Frame::Request`, without cloning the request or a buffer of its own:
/// the library queues every request of a connection this way).
/// Returns the frame's length in bytes.
pub fn encode_request_into(buf: &mut Vec<u8>, r: &Request) -> usize {
    frame_into(buf, K_REQUEST, |w| request(w, r))
}

/// Append one frame of kind `kind` to `buf`: the length prefix (patched once
/// `body` has written the content), the version and the kind.
fn frame_into(buf: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Writer)) -> usize {
    let start = buf.len();
    let mut w = Writer { buf: std::mem::take(buf) };
    w.u32(0); // length, patched below
    w.u8(VERSION);
    w.u8(kind);
    body(&mut w);
    *buf = w.buf;
    let len = (buf.len() - start - 4) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf.len() - start
}

/// Decode a frame's content (what follows the length prefix).
pub fn decode(body: &[u8]) -> Result<Frame, DecodeError> {
    let mut r = Reader::new(body);
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::Version { got: version });
    }
    let frame = match r.u8()? {
        K_HELLO => Frame::Hello { version: r.u32()?, pid: r.u32()? },
        K_WELCOME => Frame::Welcome { conn: r.u32()?, node: r.u32()?, incarnation: r.u32()? },
        K_REFUSE => {
            let status = Status::from_code(r.i32()?).ok_or(DecodeError::Invalid("unknown status"))?;
            Frame::Refuse { status, reason: r.str(MAX_NAME)? }
        }
        K_REQUEST => Frame::Request(read_request(&mut r)?),
        K_DELIVERY => Frame::Delivery(read_delivery(&mut r)?),
        K_EVENTS_DROPPED => Frame::EventsDropped { count: r.u64()? },
        K_ADMIN => Frame::Admin(admin::read_request(&mut r)?),
        K_ADMIN_REPLY => Frame::AdminReply(admin::read_reply(&mut r)?),
        k => return Err(DecodeError::UnknownKind(k)),
    };
    r.finish()?;
    Ok(frame)
}

/// Read one frame's content from a stream (blocking).
pub fn read_frame(src: &mut impl Read) -> Result<Vec<u8>, FrameError> {
    read_frame_max(src, MAX_FRAME)
}

/// [`read_frame`] with another size limit (frames between nodes have their own).
pub fn read_frame_max(src: &mut impl Read, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    match src.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let n = u32::from_le_bytes(len) as usize;
    if n > max {
        return Err(FrameError::Oversized(n));
    }
    if n < 2 {
        return Err(FrameError::Undersized(n));
    }
    let mut body = vec![0u8; n];
    src.read_exact(&mut body)?;
    Ok(body)
}

pub(super) fn write_tid(w: &mut Writer, t: &Tid) {
    w.u32(t.node);
    w.u32(t.incarnation);
    w.u32(t.conn);
    w.u64(t.seq);
}

pub(super) fn read_tid(r: &mut Reader) -> Result<Tid, DecodeError> {
    Ok(Tid { node: r.u32()?, incarnation: r.u32()?, conn: r.u32()?, seq: r.u64()? })
}

fn key_type_tag(t: KeyType) -> u8 {
    match t {
        KeyType::Unsigned => 0,
        KeyType::Signed => 1,
        KeyType::String => 2,
    }
}

pub(super) fn range(w: &mut Writer, k: &KeyRange) {
    w.u8(k.segments().len() as u8);
    for s in k.segments() {
        w.u8(key_type_tag(s.key_type()));
        w.u32(s.length());
        w.u32(s.offset());
        w.bytes(s.low());
        w.bytes(s.high());
    }
    match k.name() {
        Some(n) => {
            w.u8(1);
            w.str(n);
        }
        None => w.u8(0),
    }
}

pub(super) fn read_range(r: &mut Reader) -> Result<KeyRange, DecodeError> {
    let n = usize::from(r.u8()?);
    if n > MAX_NUMSEG {
        return Err(KeyError::TooManySegments { count: n }.into());
    }
    let mut segs = Vec::with_capacity(n);
    for i in 0..n {
        let t = match r.u8()? {
            0 => KeyType::Unsigned,
            1 => KeyType::Signed,
            2 => KeyType::String,
            tag => return Err(DecodeError::UnknownTag { what: "key type", tag }),
        };
        let length = r.u32()?;
        let offset = r.u32()?;
        let low = r.bytes(MAX_MSGLEN)?;
        let high = r.bytes(MAX_MSGLEN)?;
        segs.push(KeySegment::new(i, t, length, offset, Some(low), Some(high))?);
    }
    let name = if r.bool()? {
        let n = r.str(crate::keyseg::MAX_PARTITION_NAME)?;
        Some(crate::keyseg::partition_name(&n).map_err(DecodeError::Invalid)?)
    } else {
        None
    };
    Ok(KeyRange::new(segs)?.named(name))
}

fn request(w: &mut Writer, r: &Request) {
    match r {
        Request::Open { chan, role, facility, flags, range: k } => {
            w.u8(1);
            w.u32(*chan);
            w.u8(match role {
                Role::Client => 0,
                Role::Server => 1,
            });
            w.str(facility);
            w.u32(*flags);
            range(w, k);
        }
        Request::Close { chan } => {
            w.u8(2);
            w.u32(*chan);
        }
        Request::StartTx { chan, tid: t, timeout_ms } => {
            w.u8(3);
            w.u32(*chan);
            write_tid(w, t);
            w.u8(u8::from(timeout_ms.is_some()));
            w.u32(timeout_ms.unwrap_or(0));
        }
        Request::Send { chan, tid: t, flags, data } | Request::Reply { chan, tid: t, flags, data } => {
            w.u8(if matches!(r, Request::Send { .. }) { 4 } else { 5 });
            w.u32(*chan);
            write_tid(w, t);
            w.u32(*flags);
            w.bytes(data);
        }
        Request::Accept { chan, tid: t, flags, reason, implicit } => {
            w.u8(6);
            w.u32(*chan);
            write_tid(w, t);
            w.u32(*flags);
            w.u32(*reason);
            w.u8(u8::from(*implicit));
        }
        Request::Reject { chan, tid: t, flags, reason } => {
            w.u8(7);
            w.u32(*chan);
            write_tid(w, t);
            w.u32(*flags);
            w.u32(*reason);
        }
        Request::Ack { chan, tid: t } => {
            w.u8(8);
            w.u32(*chan);
            write_tid(w, t);
        }
        Request::Disconnect => w.u8(9),
        Request::Subscribe { chan, recipient, events } => {
            w.u8(10);
            w.u32(*chan);
            w.str(recipient);
            w.u32(events.len() as u32);
            for (lo, hi) in events {
                w.i32(*lo);
                w.i32(*hi);
            }
        }
        Request::Prepare { chan, tid: t, reason } => {
            w.u8(12);
            w.u32(*chan);
            write_tid(w, t);
            w.u32(*reason);
        }
        Request::Broadcast { chan, evtnum, rcpspc, data } => {
            w.u8(11);
            w.u32(*chan);
            w.i32(*evtnum);
            w.str(rcpspc);
            w.bytes(data);
        }
    }
}

fn read_request(r: &mut Reader) -> Result<Request, DecodeError> {
    Ok(match r.u8()? {
        1 => {
            let chan = r.u32()?;
            let role = match r.u8()? {
                0 => Role::Client,
                1 => Role::Server,
                tag => return Err(DecodeError::UnknownTag { what: "role", tag }),
            };
            let facility = r.str(MAX_NAME)?;
            let flags = r.u32()?;
            Request::Open { chan, role, facility, flags, range: read_range(r)? }
        }
        2 => Request::Close { chan: r.u32()? },
        3 => {
            let chan = r.u32()?;
            let t = read_tid(r)?;
            let has = r.bool()?;
            let ms = r.u32()?;
            Request::StartTx { chan, tid: t, timeout_ms: has.then_some(ms) }
        }
        tag @ (4 | 5) => {
            let chan = r.u32()?;
            let t = read_tid(r)?;
            let flags = r.u32()?;
            let data = Bytes::from(r.bytes(MAX_MSGLEN)?);
            if tag == 4 {
                Request::Send { chan, tid: t, flags, data }
            } else {
                Request::Reply { chan, tid: t, flags, data }
            }
        }
        6 => Request::Accept {
            chan: r.u32()?,
            tid: read_tid(r)?,
            flags: r.u32()?,
            reason: r.u32()?,
            implicit: r.bool()?,
        },
        7 => Request::Reject { chan: r.u32()?, tid: read_tid(r)?, flags: r.u32()?, reason: r.u32()? },
        8 => Request::Ack { chan: r.u32()?, tid: read_tid(r)? },
        9 => Request::Disconnect,
        10 => {
            let chan = r.u32()?;
            let recipient = r.str(MAX_NAME)?;
            let n = r.u32()? as usize;
            if n > crate::events::MAX_EVENT_LIST {
                return Err(DecodeError::TooLong { len: n, max: crate::events::MAX_EVENT_LIST });
            }
            let mut events = Vec::new();
            for _ in 0..n {
                events.push((r.i32()?, r.i32()?));
            }
            Request::Subscribe { chan, recipient, events }
        }
        12 => Request::Prepare { chan: r.u32()?, tid: read_tid(r)?, reason: r.u32()? },
        11 => Request::Broadcast {
            chan: r.u32()?,
            evtnum: r.i32()?,
            rcpspc: r.str(MAX_NAME)?,
            data: Bytes::from(r.bytes(MAX_MSGLEN)?),
        },
        tag => return Err(DecodeError::UnknownTag { what: "request", tag }),
    })
}

fn delivery(w: &mut Writer, d: &Delivery) {
    w.u32(d.chan);
    w.u32(d.msgtype.code());
    match &d.tid {
        Some(t) => {
            w.u8(1);
            write_tid(w, t);
            w.u64(d.fence);
        }
        None => w.u8(0),
    }
    w.i32(d.evtnum);
    match &d.payload {
        Payload::None => w.u8(0),
        Payload::Data(b) => {
            w.u8(1);
            w.bytes(b);
        }
        Payload::Status { status, reason } => {
            w.u8(2);
            w.i32(status.code());
            w.u32(*reason);
        }
    }
}

fn read_delivery(r: &mut Reader) -> Result<Delivery, DecodeError> {
    let chan = r.u32()?;
    let msgtype = MsgType::from_code(r.u32()?).ok_or(DecodeError::Invalid("unknown message type"))?;
    let (tid, fence) = if r.bool()? { (Some(read_tid(r)?), r.u64()?) } else { (None, 0) };
    let evtnum = r.i32()?;
    let payload = match r.u8()? {
        0 => Payload::None,
        1 => Payload::Data(Bytes::from(r.bytes(MAX_MSGLEN)?)),
        2 => {
            let status = Status::from_code(r.i32()?).ok_or(DecodeError::Invalid("unknown status"))?;
            Payload::Status { status, reason: r.u32()? }
        }
        tag => return Err(DecodeError::UnknownTag { what: "payload", tag }),
    };
    Ok(Delivery { chan, msgtype, tid, evtnum, payload, fence })
}

#[cfg(test)]
mod tests;
