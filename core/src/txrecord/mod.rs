//! The transaction records a node writes to its journal, in one home: what
//! each record kind carries and its bytes ([`TxRecord::encode`],
//! [`TxRecord::decode`]), what a journal's records say about each
//! transaction ([`classify`], [`TxFate`]), and what recovery does about it
//! ([`scan_records`]).
//!
//! Users: the node's backend (it writes every record through [`TxRecord`]
//! and recovers with [`scan_records`]), `rtr journal show|dump` (which
//! explain a journal with [`classify`] and [`TxFate::explain`], so the tool
//! and the node cannot disagree), and the runtime's size check
//! ([`LARGEST_PAYLOAD`]). The storage layer (`journal`) stays ignorant of
//! transactions: to it a payload is opaque bytes.
//!
//! Payload formats (all integers little-endian; the on-disk format of
//! journal format version 1, unchanged since it was first written):
//! - `Msg`: facility name length (one byte), the name (UTF-8), the data;
//! - `HandOn`: as `Msg`;
//! - `Vote`: empty, or the single byte `1` for a vote made durable before it
//!   was given (the transaction spans several backend nodes);
//! - `Commit`: the reason, `u32`;
//! - `Abort`: empty for an abort decided by a router or this node (told to
//!   a server, answerable as "aborted"); the single byte `1` for one that a
//!   recovery presumed (no outcome was recorded: it only releases the
//!   space, as the transaction's router may still commit it elsewhere);
//! - `Done`: empty;
//! - `Exception`: the status the transaction was set aside with (`i32`, an
//!   RTR status code), the strikes (`u32`), whether it had committed (one
//!   byte, 0 or 1);
//! - `Carried` (added with record kind 11; an older rtr cannot read a
//!   journal holding one): one byte, `1` for an applied commit kept
//!   answerable, `0` for a rejection kept answerable.
//! - `Seq` (record kind 14): the key range's name length (one byte), the
//!   name (UTF-8), the log position's series and number (`u64` each), and
//!   one byte ([`SeqMark`]): `1` a commit remembered for the other site,
//!   `2` the other site applied it, `0` this node applied the other site's
//!   entry.
//!
//! Decoding is strict (exact lengths, known values): journal records are
//! checksummed, so a payload that does not decode was written by a bug or a
//! newer format, and [`DecodeError`] names it instead of a guess.
//!
//! Sans I/O: pure functions of bytes and records.

mod recovery;
#[cfg(test)]
mod tests;

use std::fmt;

pub use recovery::{
    aborted_tids, classify, committed_prints, committed_tids, scan_records, Classified, CommitAt, EarlierSeq,
    InDoubtTx, Malformed, ReplayTx, Scan, SetAsideTx, ShadowSeqTx, TxFate, TxSummary,
};

use crate::journal::RecordKind;
use crate::protocol::Bytes;
use crate::tid::Tid;

/// The longest facility name a `Msg` payload can carry (its length is one
/// byte). Facility names are far shorter (`RTR_MAX_FACNAM_LEN`).
pub const MAX_FACILITY_BYTES: usize = 255;

/// The largest payload of any transaction record: a `Msg` with the longest
/// facility name and a message of `RTR_MAX_MSGLEN`. A journal must take one
/// such record in an append.
pub const LARGEST_PAYLOAD: usize = 1 + MAX_FACILITY_BYTES + crate::MAX_MSGLEN;

/// Payload of a durable `Vote`.
const DURABLE_VOTE: u8 = 1;
/// The `Abort` payload of a presumed abort.
const PRESUMED_ABORT: u8 = 1;
/// The `Abort` payload of a decided abort kept answerable until forgotten.
pub(crate) const KEPT_ABORT: u8 = 2;
/// Payload bytes of a `Commit`: the reason.
const COMMIT_BYTES: usize = 4;
/// Payload bytes of a `Drive`: the drive.
const DRIVE_BYTES: usize = 4;
/// Payload bytes of an `Exception`: status, strikes, committed.
const EXCEPTION_BYTES: usize = 4 + 4 + 1;

/// A message's fingerprint: which work of a transaction a node holds or
/// applied, compared across nodes without sending the messages
/// (`docs/replaced-work.md`). Two messages of one transaction for different
/// key ranges differ in their keys, so their prints differ unless 64-bit
/// SipHash-1-3 (fixed keys, the node's hasher) collides on them.
pub fn work_print(data: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = crate::fixed_hash::FixedHasher::new();
    h.write(data);
    h.finish()
}

/// One transaction record, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxRecord {
    /// A message of the transaction for a partition of `facility`, appended
    /// before it is delivered to a server.
    Msg { facility: String, data: Bytes },
    /// A message of a committed transaction kept here for a key range this
    /// node does not serve, written with the transaction's commit by the
    /// node a router gave the whole of a lost node's commit to (its
    /// keeper, `Router::route_handoffs`). Not presented here: handed on to
    /// the range's active partition, again after every restart until a
    /// router says it is durable there (simulator seed 7283).
    HandOn { facility: String, data: Bytes },
    /// A server voted to accept. `durable`: made durable before the vote was
    /// given, so recovery keeps the transaction in doubt instead of
    /// presuming abort.
    Vote { durable: bool },
    /// The transaction committed (durable before anyone learns of it).
    Commit { reason: u32 },
    /// The transaction aborted (needs no sync: recovery presumes abort).
    Abort,
    /// Written by a recovery that found the transaction undecided (no
    /// commit, no durable vote): its space is released, but nobody decided
    /// it, so it is not answered as "aborted" when the journal is read
    /// again (by a restart or another takeover): its router may still
    /// commit it elsewhere (simulator seed 3157: a second reader answered
    /// "aborted" from such a record, a probe rejected the transaction, and
    /// its frozen router's commit was then handed on and applied).
    PresumedAbort,
    /// A router's rejection, kept answerable until that router says the
    /// client's frontend has the outcome (`Done` then): a frontend that
    /// never heard it drives the transaction again later, and must hear
    /// "rejected", not find nobody who knows the tid and start it afresh
    /// (simulator seeds 7248, 7322, 7712: a restart recycled the rejection
    /// and the re-drive committed it). Written only by a node with peers;
    /// a restart keeps it, a reader of a lost node's journal finishes it.
    KeptAbort,
    /// Every server acknowledged the outcome: the journal may free the
    /// transaction's space.
    Done,
    /// Every server applied the commit, but a router on another node may
    /// still ask about the transaction (a re-drive, an in-doubt
    /// participant): it is not presented again after a restart, and it
    /// stays answerable from the journal until its router forgets it
    /// (`Done` then). Written only by a node with peers.
    Applied,
    /// Set aside by the retry limit: `status` (an RTR status code) is what
    /// it was rejected with, `strikes` how many servers it took down,
    /// `committed` whether it had committed (then it waits for an operator).
    Exception { status: i32, strikes: u32, committed: bool },
    /// What an answerable transaction's earlier records say, restated at
    /// the head of the journal so that they no longer pin their segments:
    /// `committed` an applied commit (as `Commit` + `Applied`), else a
    /// kept rejection (as `KeptAbort`). Written when the journal is full
    /// (a router lost before it forgot them left them pinning the oldest
    /// segment: simulator seeds 7620 and 344, new work refused for ever).
    Carried { committed: bool },
    /// The node answered a probe of drive `drive` of the transaction (its
    /// frontend drives it again through another router) while it held
    /// durable state of it here (a durable vote, or an in-doubt copy): no
    /// router of an earlier drive decides it here any more, after a restart
    /// or a takeover of this journal too. Synced before the answer is
    /// given, as a ballot promise is (docs/outcomes.md, "Promises to a
    /// later drive").
    Drive { drive: u32 },
    /// The node answered an inquiry about the transaction (a router
    /// resolving another node's orphan or in-doubt copy) "unknown": it held
    /// nothing of it. That answer binds: the node starts no branch of the
    /// transaction for a router of drive `drive` or an earlier one from then
    /// on, after a restart or a takeover of this journal too, so a router
    /// that was cut off from the asker cannot place its work here and
    /// commit while the inquiry rolls the asker's branch back. Synced
    /// before the answer is given (docs/inquiry-binding.md).
    Bound { drive: u32 },
    /// Shadowing (docs/shadow.md): the place of the transaction's commit
    /// in key range `range`'s log (`range`: the range's primary record
    /// name), as `mark` says.
    Seq { range: String, pos: (u64, u64), mark: SeqMark },
    /// The `Msg` records of the transaction that follow (in the same
    /// append, before its `Commit`) are all of its messages here: the ones
    /// before this record are dropped at recovery. Written with a commit
    /// when a full journal refused some of the transaction's messages
    /// after its vote (not durable) was given, so that the router could
    /// decide the commit before it heard of the failure: without the
    /// restatement a replay after a crash presented the commit with those
    /// messages missing (simulator `--shadow --seed 763`: the other site
    /// applied a remembered commit of no message). The refused records
    /// are not known one by one (the journal reports a refused append by
    /// its transactions), so every message is written again.
    Restated,
}

/// What a `Seq` record says of its log position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeqMark {
    /// This node applied the other site's entry `pos` (written with the
    /// entry's `Commit`): after a restart it knows where it stands.
    Applied,
    /// This node, a shadow primary, numbered this commit `pos` and keeps it
    /// for the other site (written with the `Commit`, in its synced write).
    Remembered,
    /// The other site applied entry `pos` (synced before this node tells
    /// it so): a restart does not send it again.
    Released,
}

impl SeqMark {
    fn byte(self) -> u8 {
        match self {
            SeqMark::Applied => 0,
            SeqMark::Remembered => 1,
            SeqMark::Released => 2,
        }
    }
}

/// Why a record's payload did not decode as a transaction record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The kind is not a transaction record (`Fence`, written by the journal
    /// itself, or `Meta`, which the node does not write).
    NotTransaction(RecordKind),
    /// The payload is not as long as the kind requires.
    Length { kind: RecordKind, len: usize, expected: &'static str },
    /// A `Msg` payload shorter than its facility name length says.
    TruncatedFacility { len: usize, name_len: usize },
    /// A `Msg` facility name that is not UTF-8.
    FacilityNotUtf8,
    /// A byte with a value the kind does not define.
    BadValue { kind: RecordKind, what: &'static str, value: u8 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotTransaction(k) => write!(f, "a {k:?} record is not a transaction record"),
            DecodeError::Length { kind, len, expected } => {
                write!(f, "{kind:?} payload of {len} bytes (expected {expected})")
            }
            DecodeError::TruncatedFacility { len, name_len } => {
                write!(f, "Msg payload of {len} bytes is too short for its {name_len}-byte facility name")
            }
            DecodeError::FacilityNotUtf8 => f.write_str("Msg facility name is not UTF-8"),
            DecodeError::BadValue { kind, what, value } => write!(f, "{kind:?} {what} byte {value} is not defined"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl TxRecord {
    /// The record kind this record is written as.
    pub fn kind(&self) -> RecordKind {
        match self {
            TxRecord::Msg { .. } => RecordKind::Msg,
            TxRecord::HandOn { .. } => RecordKind::HandOn,
            TxRecord::Vote { .. } => RecordKind::Vote,
            TxRecord::Commit { .. } => RecordKind::Commit,
            TxRecord::Abort | TxRecord::PresumedAbort | TxRecord::KeptAbort => RecordKind::Abort,
            TxRecord::Done => RecordKind::Done,
            TxRecord::Applied => RecordKind::Applied,
            TxRecord::Exception { .. } => RecordKind::Exception,
            TxRecord::Carried { .. } => RecordKind::Carried,
            TxRecord::Drive { .. } => RecordKind::Drive,
            TxRecord::Bound { .. } => RecordKind::Bound,
            TxRecord::Seq { .. } => RecordKind::Seq,
            TxRecord::Restated => RecordKind::Restated,
        }
    }

    /// Kind and payload bytes, as the journal stores them.
    ///
    /// A facility name longer than [`MAX_FACILITY_BYTES`] is cut to that
    /// many bytes (names are validated far shorter before they get here).
    pub fn encode(&self) -> (RecordKind, Vec<u8>) {
        let payload = match self {
            TxRecord::Msg { facility, data } | TxRecord::HandOn { facility, data } => {
                let name = facility.as_bytes();
                let n = name.len().min(MAX_FACILITY_BYTES);
                let mut v = Vec::with_capacity(1 + n + data.len());
                v.push(n as u8);
                v.extend_from_slice(&name[..n]);
                v.extend_from_slice(data);
                v
            }
            TxRecord::Vote { durable: true } => vec![DURABLE_VOTE],
            TxRecord::PresumedAbort => vec![PRESUMED_ABORT],
            TxRecord::KeptAbort => vec![KEPT_ABORT],
            TxRecord::Vote { durable: false }
            | TxRecord::Abort
            | TxRecord::Done
            | TxRecord::Applied
            | TxRecord::Restated => Vec::new(),
            TxRecord::Commit { reason } => reason.to_le_bytes().to_vec(),
            TxRecord::Drive { drive } | TxRecord::Bound { drive } => drive.to_le_bytes().to_vec(),
            TxRecord::Carried { committed } => vec![u8::from(*committed)],
            TxRecord::Seq { range, pos, mark } => {
                let name = range.as_bytes();
                let n = name.len().min(MAX_FACILITY_BYTES);
                let mut v = Vec::with_capacity(1 + n + 17);
                v.push(n as u8);
                v.extend_from_slice(&name[..n]);
                v.extend_from_slice(&pos.0.to_le_bytes());
                v.extend_from_slice(&pos.1.to_le_bytes());
                v.push(mark.byte());
                v
            }
            TxRecord::Exception { status, strikes, committed } => {
                let mut v = Vec::with_capacity(EXCEPTION_BYTES);
                v.extend_from_slice(&status.to_le_bytes());
                v.extend_from_slice(&strikes.to_le_bytes());
                v.push(u8::from(*committed));
                v
            }
        };
        (self.kind(), payload)
    }

    /// The record as the node hands it to the journal: `(tid, kind, payload)`.
    pub fn entry(&self, tid: Tid) -> (Tid, RecordKind, Vec<u8>) {
        let (kind, payload) = self.encode();
        (tid, kind, payload)
    }

    /// The record a journal holds as `kind` with `payload`. Never panics:
    /// any payload the kind does not define is an error.
    pub fn decode(kind: RecordKind, payload: &[u8]) -> Result<TxRecord, DecodeError> {
        let exact = |n: usize, expected: &'static str| {
            if payload.len() == n {
                Ok(())
            } else {
                Err(DecodeError::Length { kind, len: payload.len(), expected })
            }
        };
        match kind {
            RecordKind::Msg | RecordKind::HandOn => {
                let Some(&n) = payload.first() else {
                    return Err(DecodeError::Length { kind, len: 0, expected: "at least 1" });
                };
                let n = usize::from(n);
                let name =
                    payload.get(1..1 + n).ok_or(DecodeError::TruncatedFacility { len: payload.len(), name_len: n })?;
                let facility = std::str::from_utf8(name).map_err(|_| DecodeError::FacilityNotUtf8)?.to_string();
                let data = Bytes::from(&payload[1 + n..]);
                Ok(match kind {
                    RecordKind::HandOn => TxRecord::HandOn { facility, data },
                    _ => TxRecord::Msg { facility, data },
                })
            }
            RecordKind::Vote => match payload {
                [] => Ok(TxRecord::Vote { durable: false }),
                [DURABLE_VOTE] => Ok(TxRecord::Vote { durable: true }),
                [b] => Err(DecodeError::BadValue { kind, what: "durability", value: *b }),
                _ => Err(DecodeError::Length { kind, len: payload.len(), expected: "0 or 1" }),
            },
            RecordKind::Commit => {
                exact(COMMIT_BYTES, "4")?;
                Ok(TxRecord::Commit { reason: u32::from_le_bytes(le4(payload, 0)) })
            }
            RecordKind::Abort => match payload {
                [] => Ok(TxRecord::Abort),
                [PRESUMED_ABORT] => Ok(TxRecord::PresumedAbort),
                [KEPT_ABORT] => Ok(TxRecord::KeptAbort),
                [b] => Err(DecodeError::BadValue { kind, what: "presumed", value: *b }),
                _ => Err(DecodeError::Length { kind, len: payload.len(), expected: "0 or 1" }),
            },
            RecordKind::Done => exact(0, "0").map(|()| TxRecord::Done),
            RecordKind::Applied => exact(0, "0").map(|()| TxRecord::Applied),
            RecordKind::Exception => {
                exact(EXCEPTION_BYTES, "9")?;
                let committed = match payload[8] {
                    0 => false,
                    1 => true,
                    value => return Err(DecodeError::BadValue { kind, what: "committed", value }),
                };
                Ok(TxRecord::Exception {
                    status: i32::from_le_bytes(le4(payload, 0)),
                    strikes: u32::from_le_bytes(le4(payload, 4)),
                    committed,
                })
            }
            RecordKind::Carried => match payload {
                [0] => Ok(TxRecord::Carried { committed: false }),
                [1] => Ok(TxRecord::Carried { committed: true }),
                [b] => Err(DecodeError::BadValue { kind, what: "committed", value: *b }),
                _ => Err(DecodeError::Length { kind, len: payload.len(), expected: "1" }),
            },
            RecordKind::Drive => {
                exact(DRIVE_BYTES, "4")?;
                Ok(TxRecord::Drive { drive: u32::from_le_bytes(le4(payload, 0)) })
            }
            RecordKind::Bound => {
                exact(DRIVE_BYTES, "4")?;
                Ok(TxRecord::Bound { drive: u32::from_le_bytes(le4(payload, 0)) })
            }
            RecordKind::Seq => {
                let Some(&n) = payload.first() else {
                    return Err(DecodeError::Length { kind, len: 0, expected: "at least 18" });
                };
                let n = usize::from(n);
                if payload.len() != 1 + n + 17 {
                    return Err(DecodeError::Length { kind, len: payload.len(), expected: "name + 17" });
                }
                let range =
                    std::str::from_utf8(&payload[1..1 + n]).map_err(|_| DecodeError::FacilityNotUtf8)?.to_string();
                let le8 = |at: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&payload[at..at + 8]);
                    u64::from_le_bytes(b)
                };
                let mark = match payload[1 + n + 16] {
                    0 => SeqMark::Applied,
                    1 => SeqMark::Remembered,
                    2 => SeqMark::Released,
                    value => return Err(DecodeError::BadValue { kind, what: "log mark", value }),
                };
                Ok(TxRecord::Seq { range, pos: (le8(1 + n), le8(1 + n + 8)), mark })
            }
            RecordKind::Restated => exact(0, "0").map(|()| TxRecord::Restated),
            RecordKind::Fence | RecordKind::Meta => Err(DecodeError::NotTransaction(kind)),
        }
    }
}

/// Four bytes at `at` of a payload whose length was checked.
fn le4(p: &[u8], at: usize) -> [u8; 4] {
    [p[at], p[at + 1], p[at + 2], p[at + 3]]
}
