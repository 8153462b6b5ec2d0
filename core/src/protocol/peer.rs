//! Frames between nodes (links over TCP).
//!
//! Same framing as the library protocol (`len u32 | version u8 | kind u8 |
//! body`, little-endian, `len` counting what follows it) and the same
//! guarantee: decoding any byte string gives a frame or a [`DecodeError`],
//! never a panic, never an allocation larger than the input.
//!
//! A link starts with a handshake: the dialling node sends [`PeerFrame::Hello`]
//! (its name, the name it expects to reach, its facility definitions); the
//! other answers [`PeerFrame::Welcome`] with its own definitions, or
//! [`PeerFrame::Refuse`] with an RTR-style reason code. After that either
//! side sends [`PeerFrame::Msg`] (role-to-role messages, in order) and
//! [`PeerFrame::Ping`] (keeps the inactivity timer of an idle link quiet).

use super::codec::{range, read_range, read_tid, write_tid, DecodeError};
use super::wire::Reader;
pub use super::wire::Writer;
use super::Bytes;
use crate::node::{Callout, Internal, LogPos, ShadowEntry, ShadowUp, ToBackend, ToFrontend, ToRouter, TxState};
use crate::status::Status;
use crate::tid::Tid;
use crate::MAX_MSGLEN;

/// The node-to-node protocol version. A peer speaking another one is refused
/// at the handshake (`VERSION` reason) before any message is exchanged.
/// 6: a router's `Adopt` of a lost node's commit may carry messages of
/// several key ranges (the keeper hands on what it does not serve).
/// 7: the frontend's drive number of a transaction goes with `Start`,
/// `Msg` and a probe's `Inquire`; `DrivenElsewhere` answers an older one.
/// 8: `TookOver` carries the owner epoch of the journal's reader.
/// 9: `CopyGivenUp` names an in-doubt copy a node gave up with a read
/// journal, ahead of its `Durable`.
/// 10: `GiveBack` drops a branch a probe that goes on as new places
/// elsewhere.
/// 11: `JournalLetGo`: a reader of a lost node's journal answers for it no
/// more.
/// 12: `Inquired` names the work a node applied (a commit) and the work it
/// holds undecided, by message prints (`docs/replaced-work.md`).
/// 13: an inquiry binds the nodes that answer "unknown": `Inquire` (to a
/// router) names the asker's latest drive, and (to a backend) the drive it
/// binds (`docs/inquiry-binding.md`); `PartitionUp` names a shadow
/// partition's site and primary grant, and `ShadowPartner` tells a primary
/// whether its secondary is linked (`docs/shadow.md`).
/// 14: a shadow primary's remembered commits go to its secondary
/// (`ShadowLog`, `ShadowApplied`, `Shipped`; `PartitionUp` says whether a
/// primary is in step with its secondary).
/// 16: `Inquired` names the answering node's site when it serves the
/// facility's ranges shadowed (`docs/shadow.md`).
/// 17: `PartitionUp` says when a shadow range's shadowing is off (`rtr set
/// partition --noshadow`): its shadow flags byte gains bit 1.
/// 18: `PartitionUp` names the lowest primary series of which the node
/// keeps entries for the other site (`ShadowUp::lowest`).
pub const PEER_VERSION: u8 = 18;
/// Largest frame between nodes: a message of `RTR_MAX_MSGLEN` plus headers,
/// or a handshake with many facility definitions.
pub const MAX_PEER_FRAME: usize = 1 << 20;
/// Longest name (facility or node) or reason text.
const MAX_NAME: usize = 1024;
/// Most facilities or nodes in one list of a handshake.
const MAX_LIST: usize = 4096;

/// A facility definition as one node declares it in a handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacilityClaim {
    pub name: String,
    pub frontends: Vec<String>,
    pub routers: Vec<String>,
    pub backends: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PeerFrame {
    Hello {
        version: u32,
        /// The dialling node's name.
        from: String,
        /// The node it means to reach.
        to: String,
        /// The dialling node's id (the first word of its tids).
        node_id: u32,
        facilities: Vec<FacilityClaim>,
    },
    Welcome {
        from: String,
        node_id: u32,
        facilities: Vec<FacilityClaim>,
    },
    /// The link is refused: an RTR-style code (`VERSION`, `WRONGNODE`,
    /// `NODENOTCFG`, `FACNOTDEC`, `ROLESMISMATCH`, `IDCLASH`, `DUPLINK`)
    /// and a sentence for the log.
    Refuse {
        code: String,
        reason: String,
    },
    Ping,
    Msg(Internal),
}

const K_HELLO: u8 = 1;
const K_WELCOME: u8 = 2;
const K_REFUSE: u8 = 3;
const K_PING: u8 = 4;
const K_MSG: u8 = 5;

// Message tags (first byte of a Msg body).
const TR_START: u8 = 1;
const TR_SEND: u8 = 2;
const TR_ACCEPT: u8 = 3;
const TR_PREPARE: u8 = 4;
const TR_ABORT: u8 = 5;
const TR_REPLY: u8 = 6;
const TR_VOTE: u8 = 7;
const TR_WITHDRAWN: u8 = 8;
const TR_FAILED: u8 = 9;
const TR_DURABLE: u8 = 10;
const TR_COMMITFAILED: u8 = 11;
const TR_UP: u8 = 12;
const TR_DOWN: u8 = 13;
const TR_DECIDED: u8 = 14;
const TR_INQUIRE: u8 = 15;
const TR_INQUIRED: u8 = 16;
const TR_TOOKOVER: u8 = 17;
const TR_BROADCAST: u8 = 18;
const FE_BROADCAST: u8 = 34;
const BE_BROADCAST: u8 = 55;
const FE_RETURNED: u8 = 30;
const FE_PREPARED: u8 = 31;
const FE_REPLY: u8 = 32;
const FE_OUTCOME: u8 = 33;
const BE_MSG: u8 = 50;
const BE_VOTEREQ: u8 = 51;
const BE_OUTCOME: u8 = 52;
const BE_INQUIRE: u8 = 53;
const BE_HOLDER: u8 = 56;
const BE_SUPERSEDED: u8 = 57;
const BE_REFUSED: u8 = 58;
const BE_SHADOWPARTNER: u8 = 66;
const BE_SHADOWLOG: u8 = 67;
const BE_SHADOWAPPLIED: u8 = 68;
const BE_SHIPPED: u8 = 69;
const TR_SHADOWLOG: u8 = 26;
const TR_SHADOWAPPLIED: u8 = 27;
const BE_ADOPT: u8 = 59;
const BE_HANDEDOFF: u8 = 60;
const TR_HANDOFF: u8 = 19;
const TR_ADOPTED: u8 = 20;
const TR_MOVED: u8 = 21;
const TR_ACKED: u8 = 22;
const TR_ELSEWHERE: u8 = 23;
const TR_COPYGIVENUP: u8 = 24;
const TR_LETGO: u8 = 25;
const BE_FORGET: u8 = 61;
const BE_GIVEBACK: u8 = 62;

fn tx_state(s: TxState) -> u8 {
    match s {
        TxState::Unknown => 0,
        TxState::Unvoted => 1,
        TxState::InDoubt => 2,
        TxState::Committed => 3,
        TxState::Aborted => 4,
    }
}

fn read_tx_state(r: &mut Reader) -> Result<TxState, DecodeError> {
    Ok(match r.u8()? {
        0 => TxState::Unknown,
        1 => TxState::Unvoted,
        2 => TxState::InDoubt,
        3 => TxState::Committed,
        4 => TxState::Aborted,
        tag => return Err(DecodeError::UnknownTag { what: "transaction state", tag }),
    })
}

/// Encode a frame, length prefix included.
pub fn encode(frame: &PeerFrame) -> Vec<u8> {
    let mut w = Writer::default();
    encode_into(&mut w, frame);
    w.buf
}

/// Append one frame (length prefix included) to `w`: a pass's messages for
/// one peer go out in one buffer.
pub fn encode_into(w: &mut Writer, frame: &PeerFrame) {
    let start = w.buf.len();
    w.u32(0); // length, patched below
    w.u8(PEER_VERSION);
    match frame {
        PeerFrame::Hello { version, from, to, node_id, facilities } => {
            w.u8(K_HELLO);
            w.u32(*version);
            w.str(from);
            w.str(to);
            w.u32(*node_id);
            claims(w, facilities);
        }
        PeerFrame::Welcome { from, node_id, facilities } => {
            w.u8(K_WELCOME);
            w.str(from);
            w.u32(*node_id);
            claims(w, facilities);
        }
        PeerFrame::Refuse { code, reason } => {
            w.u8(K_REFUSE);
            w.str(code);
            w.str(reason);
        }
        PeerFrame::Ping => w.u8(K_PING),
        PeerFrame::Msg(m) => {
            w.u8(K_MSG);
            internal(w, m);
        }
    }
    let len = (w.buf.len() - start - 4) as u32;
    w.buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Decode a frame's content (what follows the length prefix).
pub fn decode(body: &[u8]) -> Result<PeerFrame, DecodeError> {
    let mut r = Reader::new(body);
    let version = r.u8()?;
    if version != PEER_VERSION {
        return Err(DecodeError::Version { got: version });
    }
    let frame = match r.u8()? {
        K_HELLO => PeerFrame::Hello {
            version: r.u32()?,
            from: r.str(MAX_NAME)?,
            to: r.str(MAX_NAME)?,
            node_id: r.u32()?,
            facilities: read_claims(&mut r)?,
        },
        K_WELCOME => PeerFrame::Welcome { from: r.str(MAX_NAME)?, node_id: r.u32()?, facilities: read_claims(&mut r)? },
        K_REFUSE => PeerFrame::Refuse { code: r.str(MAX_NAME)?, reason: r.str(MAX_NAME)? },
        K_PING => PeerFrame::Ping,
        K_MSG => PeerFrame::Msg(read_internal(&mut r)?),
        k => return Err(DecodeError::UnknownKind(k)),
    };
    r.finish()?;
    Ok(frame)
}

fn names(w: &mut Writer, v: &[String]) {
    w.u32(v.len() as u32);
    for n in v {
        w.str(n);
    }
}

fn read_names(r: &mut Reader) -> Result<Vec<String>, DecodeError> {
    let n = r.u32()? as usize;
    if n > MAX_LIST {
        return Err(DecodeError::TooLong { len: n, max: MAX_LIST });
    }
    // Grown as names are read, never reserved from the count: a frame
    // claiming many names costs only what it carries.
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(r.str(MAX_NAME)?);
    }
    Ok(v)
}

fn claims(w: &mut Writer, v: &[FacilityClaim]) {
    w.u32(v.len() as u32);
    for c in v {
        w.str(&c.name);
        names(w, &c.frontends);
        names(w, &c.routers);
        names(w, &c.backends);
    }
}

fn read_claims(r: &mut Reader) -> Result<Vec<FacilityClaim>, DecodeError> {
    let n = r.u32()? as usize;
    if n > MAX_LIST {
        return Err(DecodeError::TooLong { len: n, max: MAX_LIST });
    }
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(FacilityClaim {
            name: r.str(MAX_NAME)?,
            frontends: read_names(r)?,
            routers: read_names(r)?,
            backends: read_names(r)?,
        });
    }
    Ok(v)
}

fn chan(w: &mut Writer, c: (u32, u32)) {
    w.u32(c.0);
    w.u32(c.1);
}

fn read_chan(r: &mut Reader) -> Result<(u32, u32), DecodeError> {
    Ok((r.u32()?, r.u32()?))
}

fn status(w: &mut Writer, s: Status) {
    w.i32(s.code());
}

fn read_status(r: &mut Reader) -> Result<Status, DecodeError> {
    Status::from_code(r.i32()?).ok_or(DecodeError::Invalid("unknown status"))
}

fn data(r: &mut Reader) -> Result<Bytes, DecodeError> {
    Ok(Bytes::from(r.bytes(MAX_MSGLEN)?))
}

/// A branch's messages: a count, then each as bytes.
fn msg_list(w: &mut Writer, msgs: &[Bytes]) {
    w.u32(msgs.len() as u32);
    for m in msgs {
        w.bytes(m);
    }
}

fn read_msg_list(r: &mut Reader) -> Result<Vec<Bytes>, DecodeError> {
    let n = r.u32()? as usize;
    // Each message takes at least its 4-byte length: a count beyond what
    // is left is a lie.
    if n > r.remaining() / 4 {
        return Err(DecodeError::Truncated);
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(data(r)?);
    }
    Ok(v)
}

fn log_pos(w: &mut Writer, p: LogPos) {
    w.u64(p.0);
    w.u64(p.1);
}

fn read_log_pos(r: &mut Reader) -> Result<LogPos, DecodeError> {
    Ok((r.u64()?, r.u64()?))
}

/// A shadow log's entries: a count, then each entry.
fn entry_list(w: &mut Writer, entries: &[ShadowEntry]) {
    w.u32(entries.len() as u32);
    for e in entries {
        log_pos(w, e.pos);
        log_pos(w, e.prev);
        write_tid(w, &e.tid);
        msg_list(w, &e.msgs);
        w.u32(e.reason);
        w.u8(u8::from(e.resent));
    }
}

fn read_entry_list(r: &mut Reader) -> Result<Vec<ShadowEntry>, DecodeError> {
    let n = r.u32()? as usize;
    // An entry takes at least 61 bytes: a count beyond what is left is a
    // lie.
    if n > r.remaining() / 61 {
        return Err(DecodeError::Truncated);
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(ShadowEntry {
            pos: read_log_pos(r)?,
            prev: read_log_pos(r)?,
            tid: read_tid(r)?,
            msgs: read_msg_list(r)?,
            reason: r.u32()?,
            resent: r.bool()?,
        });
    }
    Ok(v)
}

fn opt_u32(w: &mut Writer, v: Option<u32>) {
    match v {
        Some(x) => {
            w.u8(1);
            w.u32(x);
        }
        None => w.u8(0),
    }
}

fn read_opt_u32(r: &mut Reader) -> Result<Option<u32>, DecodeError> {
    Ok(if r.bool()? { Some(r.u32()?) } else { None })
}

fn tid_list(w: &mut Writer, tids: &[Tid]) {
    w.u32(tids.len() as u32);
    for t in tids {
        write_tid(w, t);
    }
}

fn read_tid_list(r: &mut Reader) -> Result<Vec<Tid>, DecodeError> {
    let n = r.u32()? as usize;
    // A tid takes 20 bytes: a count beyond what is left is a lie.
    if n > r.remaining() / 20 {
        return Err(DecodeError::Truncated);
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(read_tid(r)?);
    }
    Ok(v)
}

fn part_list(w: &mut Writer, parts: &[u64]) {
    w.u32(parts.len() as u32);
    for p in parts {
        w.u64(*p);
    }
}

fn read_part_list(r: &mut Reader) -> Result<Vec<u64>, DecodeError> {
    let n = r.u32()? as usize;
    if n > MAX_LIST {
        return Err(DecodeError::TooLong { len: n, max: MAX_LIST });
    }
    let mut v = Vec::with_capacity(n.min(r.remaining() / 8));
    for _ in 0..n {
        v.push(r.u64()?);
    }
    Ok(v)
}

/// A list of (u64, u64) pairs (`ToRouter::Inquired::held`).
fn read_pair_list(r: &mut Reader) -> Result<Vec<(u64, u64)>, DecodeError> {
    let n = r.u32()? as usize;
    if n > MAX_LIST {
        return Err(DecodeError::TooLong { len: n, max: MAX_LIST });
    }
    let mut v = Vec::with_capacity(n.min(r.remaining() / 16));
    for _ in 0..n {
        v.push((r.u64()?, r.u64()?));
    }
    Ok(v)
}

fn internal(w: &mut Writer, m: &Internal) {
    match m {
        Internal::Tr(m) => match m {
            ToRouter::Start { tid, facility, client, timeout_ms, drive } => {
                w.u8(TR_START);
                write_tid(w, tid);
                w.str(facility);
                chan(w, *client);
                opt_u32(w, *timeout_ms);
                w.u32(*drive);
            }
            ToRouter::Send { tid, facility, client, data, flags } => {
                w.u8(TR_SEND);
                write_tid(w, tid);
                w.str(facility);
                chan(w, *client);
                w.bytes(data);
                w.u32(*flags);
            }
            ToRouter::ClientAccept { tid, reason } => {
                w.u8(TR_ACCEPT);
                write_tid(w, tid);
                w.u32(*reason);
            }
            ToRouter::ClientPrepare { tid, reason } => {
                w.u8(TR_PREPARE);
                write_tid(w, tid);
                w.u32(*reason);
            }
            ToRouter::ClientAbort { tid, status: s, reason, gone } => {
                w.u8(TR_ABORT);
                write_tid(w, tid);
                status(w, *s);
                w.u32(*reason);
                w.u8(u8::from(*gone));
            }
            ToRouter::Reply { tid, data } => {
                w.u8(TR_REPLY);
                write_tid(w, tid);
                w.bytes(data);
            }
            ToRouter::Vote { tid, part, accept, reason, durable } => {
                w.u8(TR_VOTE);
                write_tid(w, tid);
                w.u64(*part);
                w.u8(u8::from(*accept));
                w.u32(*reason);
                w.u8(u8::from(*durable));
            }
            ToRouter::VoteWithdrawn { tid, part } => {
                w.u8(TR_WITHDRAWN);
                write_tid(w, tid);
                w.u64(*part);
            }
            ToRouter::Moved { tid, part } => {
                w.u8(TR_MOVED);
                write_tid(w, tid);
                w.u64(*part);
            }
            ToRouter::BranchFailed { tid, part, status: s } => {
                w.u8(TR_FAILED);
                write_tid(w, tid);
                w.u64(*part);
                status(w, *s);
            }
            ToRouter::Durable { tid } => {
                w.u8(TR_DURABLE);
                write_tid(w, tid);
            }
            ToRouter::CopyGivenUp { tid, node } => {
                w.u8(TR_COPYGIVENUP);
                write_tid(w, tid);
                w.str(node);
            }
            ToRouter::CommitFailed { tid, status: s } => {
                w.u8(TR_COMMITFAILED);
                write_tid(w, tid);
                status(w, *s);
            }
            ToRouter::PartitionUp { facility, part, range: k, active, epoch, priority, nostandby, callout, shadow } => {
                w.u8(TR_UP);
                w.str(facility);
                w.u64(*part);
                range(w, k);
                w.u8(u8::from(*active));
                w.u64(*epoch);
                names(w, priority);
                w.u8(u8::from(*nostandby));
                w.u8(match callout {
                    Callout::No => 0,
                    Callout::Backend => 1,
                    Callout::Router => 2,
                });
                match shadow {
                    None => w.u8(0),
                    Some(ShadowUp { site, primary, in_sync, off, lowest }) => {
                        w.u8(1);
                        w.str(site);
                        w.u64(*primary);
                        // Bit 0: in step; bit 1: shadowing off.
                        w.u8(u8::from(*in_sync) | (u8::from(*off) << 1));
                        w.u64(*lowest);
                    }
                }
            }
            ToRouter::Broadcast { facility, evtnum, rcpspc, data, to_servers } => {
                w.u8(TR_BROADCAST);
                w.str(facility);
                w.i32(*evtnum);
                w.str(rcpspc);
                w.bytes(data);
                w.u8(u8::from(*to_servers));
            }
            ToRouter::TookOver { node, committed, read, aborted, epoch } => {
                w.u8(TR_TOOKOVER);
                w.str(node);
                tid_list(w, committed);
                w.u8(u8::from(*read));
                tid_list(w, aborted);
                w.u64(*epoch);
            }
            ToRouter::JournalLetGo { node, epoch } => {
                w.u8(TR_LETGO);
                w.str(node);
                w.u64(*epoch);
            }
            ToRouter::Acked { tids } => {
                w.u8(TR_ACKED);
                tid_list(w, tids);
            }
            ToRouter::HandOff { facility, tid, part, msgs, reason } => {
                w.u8(TR_HANDOFF);
                w.str(facility);
                write_tid(w, tid);
                w.u64(*part);
                msg_list(w, msgs);
                w.u32(*reason);
            }
            ToRouter::Adopted { tid, part } => {
                w.u8(TR_ADOPTED);
                write_tid(w, tid);
                w.u64(*part);
            }
            ToRouter::PartitionDown { facility, part } => {
                w.u8(TR_DOWN);
                w.str(facility);
                w.u64(*part);
            }
            ToRouter::Inquire { tid, facility, drive } => {
                w.u8(TR_INQUIRE);
                write_tid(w, tid);
                w.str(facility);
                w.u32(*drive);
            }
            ToRouter::Inquired { tid, parts, state, applied, held, site } => {
                w.u8(TR_INQUIRED);
                write_tid(w, tid);
                part_list(w, parts);
                w.u8(tx_state(*state));
                part_list(w, applied);
                w.u32(held.len() as u32);
                for (part, print) in held {
                    w.u64(*part);
                    w.u64(*print);
                }
                match site {
                    None => w.u8(0),
                    Some(site) => {
                        w.u8(1);
                        w.str(site);
                    }
                }
            }
            ToRouter::Decided { tid, part, committed, status: s, reason } => {
                w.u8(TR_DECIDED);
                write_tid(w, tid);
                w.u64(*part);
                w.u8(u8::from(*committed));
                status(w, *s);
                w.u32(*reason);
            }
            ToRouter::DrivenElsewhere { tid, part, drive } => {
                w.u8(TR_ELSEWHERE);
                write_tid(w, tid);
                w.u64(*part);
                w.u32(*drive);
            }
            ToRouter::ShadowLog { facility, part, entries, released } => {
                w.u8(TR_SHADOWLOG);
                w.str(facility);
                w.u64(*part);
                entry_list(w, entries);
                log_pos(w, *released);
            }
            ToRouter::ShadowApplied { facility, part, pos } => {
                w.u8(TR_SHADOWAPPLIED);
                w.str(facility);
                w.u64(*part);
                log_pos(w, *pos);
            }
        },
        Internal::Fe(m) => match m {
            ToFrontend::Broadcast { facility, evtnum, rcpspc, data } => {
                w.u8(FE_BROADCAST);
                w.str(facility);
                w.i32(*evtnum);
                w.str(rcpspc);
                w.bytes(data);
            }
            ToFrontend::Returned { tid, client, data } => {
                w.u8(FE_RETURNED);
                write_tid(w, tid);
                chan(w, *client);
                w.bytes(data);
            }
            ToFrontend::Prepared { tid, client, reason } => {
                w.u8(FE_PREPARED);
                write_tid(w, tid);
                chan(w, *client);
                w.u32(*reason);
            }
            ToFrontend::Reply { tid, client, data } => {
                w.u8(FE_REPLY);
                write_tid(w, tid);
                chan(w, *client);
                w.bytes(data);
            }
            ToFrontend::Outcome { tid, client, accepted, status: s, reason } => {
                w.u8(FE_OUTCOME);
                write_tid(w, tid);
                chan(w, *client);
                w.u8(u8::from(*accepted));
                status(w, *s);
                w.u32(*reason);
            }
        },
        Internal::Be(m) => match m {
            ToBackend::Msg { tid, part, index, data, first, flags, drive } => {
                w.u8(BE_MSG);
                write_tid(w, tid);
                w.u64(*part);
                w.u32(*index);
                w.bytes(data);
                w.u8(u8::from(*first));
                w.u32(*flags);
                w.u32(*drive);
            }
            ToBackend::Broadcast { facility, evtnum, rcpspc, data } => {
                w.u8(BE_BROADCAST);
                w.str(facility);
                w.i32(*evtnum);
                w.str(rcpspc);
                w.bytes(data);
            }
            ToBackend::Inquire { tid, facility, drive, binds } => {
                w.u8(BE_INQUIRE);
                write_tid(w, tid);
                w.str(facility);
                w.u32(*drive);
                w.u32(*binds);
            }
            ToBackend::Holder { part, epoch, linked } => {
                w.u8(BE_HOLDER);
                w.u64(*part);
                w.u64(*epoch);
                w.u8(u8::from(*linked));
            }
            ToBackend::Superseded { part, epoch } => {
                w.u8(BE_SUPERSEDED);
                w.u64(*part);
                w.u64(*epoch);
            }
            ToBackend::Refused { part } => {
                w.u8(BE_REFUSED);
                w.u64(*part);
            }
            ToBackend::ShadowPartner { part, linked } => {
                w.u8(BE_SHADOWPARTNER);
                w.u64(*part);
                w.u8(u8::from(*linked));
            }
            ToBackend::ShadowLog { part, entries, released } => {
                w.u8(BE_SHADOWLOG);
                w.u64(*part);
                entry_list(w, entries);
                log_pos(w, *released);
            }
            ToBackend::ShadowApplied { part, pos } => {
                w.u8(BE_SHADOWAPPLIED);
                w.u64(*part);
                log_pos(w, *pos);
            }
            ToBackend::Shipped { tid, parts, unsure } => {
                w.u8(BE_SHIPPED);
                write_tid(w, tid);
                part_list(w, parts);
                part_list(w, unsure);
            }
            ToBackend::Adopt { part, tid, msgs, reason, drive } => {
                w.u8(BE_ADOPT);
                w.u64(*part);
                write_tid(w, tid);
                msg_list(w, msgs);
                w.u32(*reason);
                w.u32(*drive);
            }
            ToBackend::HandedOff { tid, part } => {
                w.u8(BE_HANDEDOFF);
                write_tid(w, tid);
                w.u64(*part);
            }
            ToBackend::GiveBack { tid, part, drive } => {
                w.u8(BE_GIVEBACK);
                write_tid(w, tid);
                w.u64(*part);
                w.u32(*drive);
            }
            ToBackend::Forget { tids } => {
                w.u8(BE_FORGET);
                tid_list(w, tids);
            }
            ToBackend::VoteRequest { tid, part, durable, drive } => {
                w.u8(BE_VOTEREQ);
                write_tid(w, tid);
                w.u64(*part);
                w.u8(u8::from(*durable));
                w.u32(*drive);
            }
            ToBackend::Outcome { tid, parts, accepted, status: s, reason, drive } => {
                w.u8(BE_OUTCOME);
                write_tid(w, tid);
                part_list(w, parts);
                w.u8(u8::from(*accepted));
                status(w, *s);
                w.u32(*reason);
                w.u32(*drive);
            }
        },
    }
}

fn read_internal(r: &mut Reader) -> Result<Internal, DecodeError> {
    let fac = |r: &mut Reader| -> Result<String, DecodeError> { r.str(crate::MAX_FACNAM_LEN * 4) };
    Ok(match r.u8()? {
        TR_START => Internal::Tr(ToRouter::Start {
            tid: read_tid(r)?,
            facility: fac(r)?,
            client: read_chan(r)?,
            timeout_ms: read_opt_u32(r)?,
            drive: r.u32()?,
        }),
        TR_SEND => Internal::Tr(ToRouter::Send {
            tid: read_tid(r)?,
            facility: fac(r)?,
            client: read_chan(r)?,
            data: data(r)?,
            flags: r.u32()?,
        }),
        TR_ACCEPT => Internal::Tr(ToRouter::ClientAccept { tid: read_tid(r)?, reason: r.u32()? }),
        TR_PREPARE => Internal::Tr(ToRouter::ClientPrepare { tid: read_tid(r)?, reason: r.u32()? }),
        TR_ABORT => Internal::Tr(ToRouter::ClientAbort {
            tid: read_tid(r)?,
            status: read_status(r)?,
            reason: r.u32()?,
            gone: r.bool()?,
        }),
        TR_REPLY => Internal::Tr(ToRouter::Reply { tid: read_tid(r)?, data: data(r)? }),
        TR_VOTE => Internal::Tr(ToRouter::Vote {
            tid: read_tid(r)?,
            part: r.u64()?,
            accept: r.bool()?,
            reason: r.u32()?,
            durable: r.bool()?,
        }),
        TR_WITHDRAWN => Internal::Tr(ToRouter::VoteWithdrawn { tid: read_tid(r)?, part: r.u64()? }),
        TR_MOVED => Internal::Tr(ToRouter::Moved { tid: read_tid(r)?, part: r.u64()? }),
        TR_FAILED => {
            Internal::Tr(ToRouter::BranchFailed { tid: read_tid(r)?, part: r.u64()?, status: read_status(r)? })
        }
        TR_DURABLE => Internal::Tr(ToRouter::Durable { tid: read_tid(r)? }),
        TR_COPYGIVENUP => Internal::Tr(ToRouter::CopyGivenUp { tid: read_tid(r)?, node: r.str(MAX_NAME)? }),
        TR_COMMITFAILED => Internal::Tr(ToRouter::CommitFailed { tid: read_tid(r)?, status: read_status(r)? }),
        TR_UP => Internal::Tr(ToRouter::PartitionUp {
            facility: fac(r)?,
            part: r.u64()?,
            range: read_range(r)?,
            active: r.bool()?,
            epoch: r.u64()?,
            priority: read_names(r)?,
            nostandby: r.bool()?,
            callout: match r.u8()? {
                0 => Callout::No,
                1 => Callout::Backend,
                2 => Callout::Router,
                tag => return Err(DecodeError::UnknownTag { what: "call-out kind", tag }),
            },
            shadow: if r.bool()? {
                let (site, primary) = (r.str(MAX_NAME)?, r.u64()?);
                let flags = r.u8()?;
                if flags > 3 {
                    return Err(DecodeError::UnknownTag { what: "shadow flags", tag: flags });
                }
                let lowest = r.u64()?;
                Some(ShadowUp { site, primary, in_sync: flags & 1 != 0, off: flags & 2 != 0, lowest })
            } else {
                None
            },
        }),
        TR_TOOKOVER => {
            let node = r.str(MAX_NAME)?;
            let committed = read_tid_list(r)?;
            let read = r.u8()? != 0;
            let aborted = read_tid_list(r)?;
            let epoch = r.u64()?;
            Internal::Tr(ToRouter::TookOver { node, committed, read, aborted, epoch })
        }
        TR_LETGO => Internal::Tr(ToRouter::JournalLetGo { node: r.str(MAX_NAME)?, epoch: r.u64()? }),
        TR_ACKED => Internal::Tr(ToRouter::Acked { tids: read_tid_list(r)? }),
        BE_FORGET => Internal::Be(ToBackend::Forget { tids: read_tid_list(r)? }),
        TR_DOWN => Internal::Tr(ToRouter::PartitionDown { facility: fac(r)?, part: r.u64()? }),
        TR_HANDOFF => Internal::Tr(ToRouter::HandOff {
            facility: fac(r)?,
            tid: read_tid(r)?,
            part: r.u64()?,
            msgs: read_msg_list(r)?,
            reason: r.u32()?,
        }),
        TR_ADOPTED => Internal::Tr(ToRouter::Adopted { tid: read_tid(r)?, part: r.u64()? }),
        BE_ADOPT => Internal::Be(ToBackend::Adopt {
            part: r.u64()?,
            tid: read_tid(r)?,
            msgs: read_msg_list(r)?,
            reason: r.u32()?,
            drive: r.u32()?,
        }),
        BE_HANDEDOFF => Internal::Be(ToBackend::HandedOff { tid: read_tid(r)?, part: r.u64()? }),
        BE_GIVEBACK => Internal::Be(ToBackend::GiveBack { tid: read_tid(r)?, part: r.u64()?, drive: r.u32()? }),
        TR_DECIDED => Internal::Tr(ToRouter::Decided {
            tid: read_tid(r)?,
            part: r.u64()?,
            committed: r.bool()?,
            status: read_status(r)?,
            reason: r.u32()?,
        }),
        TR_ELSEWHERE => Internal::Tr(ToRouter::DrivenElsewhere { tid: read_tid(r)?, part: r.u64()?, drive: r.u32()? }),
        TR_INQUIRE => Internal::Tr(ToRouter::Inquire { tid: read_tid(r)?, facility: fac(r)?, drive: r.u32()? }),
        TR_BROADCAST => Internal::Tr(ToRouter::Broadcast {
            facility: fac(r)?,
            evtnum: r.i32()?,
            rcpspc: r.str(MAX_NAME)?,
            data: data(r)?,
            to_servers: r.bool()?,
        }),
        FE_BROADCAST => Internal::Fe(ToFrontend::Broadcast {
            facility: fac(r)?,
            evtnum: r.i32()?,
            rcpspc: r.str(MAX_NAME)?,
            data: data(r)?,
        }),
        BE_BROADCAST => Internal::Be(ToBackend::Broadcast {
            facility: fac(r)?,
            evtnum: r.i32()?,
            rcpspc: r.str(MAX_NAME)?,
            data: data(r)?,
        }),
        TR_INQUIRED => Internal::Tr(ToRouter::Inquired {
            tid: read_tid(r)?,
            parts: read_part_list(r)?,
            state: read_tx_state(r)?,
            applied: read_part_list(r)?,
            held: read_pair_list(r)?,
            site: if r.bool()? { Some(r.str(MAX_NAME)?) } else { None },
        }),
        BE_INQUIRE => {
            Internal::Be(ToBackend::Inquire { tid: read_tid(r)?, facility: fac(r)?, drive: r.u32()?, binds: r.u32()? })
        }
        BE_HOLDER => Internal::Be(ToBackend::Holder { part: r.u64()?, epoch: r.u64()?, linked: r.bool()? }),
        BE_SUPERSEDED => Internal::Be(ToBackend::Superseded { part: r.u64()?, epoch: r.u64()? }),
        BE_REFUSED => Internal::Be(ToBackend::Refused { part: r.u64()? }),
        BE_SHADOWPARTNER => Internal::Be(ToBackend::ShadowPartner { part: r.u64()?, linked: r.bool()? }),
        BE_SHADOWLOG => Internal::Be(ToBackend::ShadowLog {
            part: r.u64()?,
            entries: read_entry_list(r)?,
            released: read_log_pos(r)?,
        }),
        BE_SHADOWAPPLIED => Internal::Be(ToBackend::ShadowApplied { part: r.u64()?, pos: read_log_pos(r)? }),
        BE_SHIPPED => Internal::Be(ToBackend::Shipped {
            tid: read_tid(r)?,
            parts: read_part_list(r)?,
            unsure: read_part_list(r)?,
        }),
        TR_SHADOWLOG => Internal::Tr(ToRouter::ShadowLog {
            facility: fac(r)?,
            part: r.u64()?,
            entries: read_entry_list(r)?,
            released: read_log_pos(r)?,
        }),
        TR_SHADOWAPPLIED => {
            Internal::Tr(ToRouter::ShadowApplied { facility: fac(r)?, part: r.u64()?, pos: read_log_pos(r)? })
        }
        FE_RETURNED => Internal::Fe(ToFrontend::Returned { tid: read_tid(r)?, client: read_chan(r)?, data: data(r)? }),
        FE_PREPARED => {
            Internal::Fe(ToFrontend::Prepared { tid: read_tid(r)?, client: read_chan(r)?, reason: r.u32()? })
        }
        FE_REPLY => Internal::Fe(ToFrontend::Reply { tid: read_tid(r)?, client: read_chan(r)?, data: data(r)? }),
        FE_OUTCOME => Internal::Fe(ToFrontend::Outcome {
            tid: read_tid(r)?,
            client: read_chan(r)?,
            accepted: r.bool()?,
            status: read_status(r)?,
            reason: r.u32()?,
        }),
        BE_MSG => Internal::Be(ToBackend::Msg {
            tid: read_tid(r)?,
            part: r.u64()?,
            index: r.u32()?,
            data: data(r)?,
            first: r.bool()?,
            flags: r.u32()?,
            drive: r.u32()?,
        }),
        BE_VOTEREQ => Internal::Be(ToBackend::VoteRequest {
            tid: read_tid(r)?,
            part: r.u64()?,
            durable: r.bool()?,
            drive: r.u32()?,
        }),
        BE_OUTCOME => Internal::Be(ToBackend::Outcome {
            tid: read_tid(r)?,
            parts: read_part_list(r)?,
            accepted: r.bool()?,
            status: read_status(r)?,
            reason: r.u32()?,
            drive: r.u32()?,
        }),
        tag => return Err(DecodeError::UnknownTag { what: "node message", tag }),
    })
}

#[cfg(test)]
mod tests;
