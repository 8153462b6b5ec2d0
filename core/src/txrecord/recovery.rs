//! What a journal's records say about each transaction ([`classify`]) and
//! what recovery does about it ([`scan_records`]): the one classification
//! the node recovers by and `rtr journal show` explains by.
//!
//! The rules (ARCHITECTURE §6, the backend's journal notes), per
//! transaction, in this order:
//! - a `Done` record (and no `Commit` after it) finishes it: nothing to do;
//! - committed and `Applied` (no `Commit` after it): its servers applied it,
//!   it is not presented again; it stays answerable (a router on another
//!   node may still ask) until a router forgets it (docs/outcomes.md);
//! - committed (not aborted) and set aside by the retry limit: stays set
//!   aside, not replayed, until an operator resolves it;
//! - committed (not aborted) with messages: replayed to the servers of its
//!   partitions, in commit order (a `Commit` after a `Done` is work handed
//!   off here after this node finished its own branch: unfinished again);
//!   a message record after the tid's last attempt here ended (`Done`, an
//!   abort, decided or presumed, or an applied commit) starts a new attempt
//!   whose records alone decide: only its messages are replayed, and an
//!   earlier attempt's abort does not hide its commit;
//!   Its `HandOn` messages (kept here for key ranges this node does not
//!   serve) are handed on to those ranges' active partitions instead; a
//!   `Restated` record drops the attempt's messages before it (the ones
//!   after it restate them all: a full journal refused some);
//! - committed with no message here: nothing to replay, its `Done` is written;
//! - a durable vote, no outcome, not aborted: in doubt (another node may have
//!   committed it); its router decides;
//! - aborted by a router's rejection kept answerable (`KeptAbort`, no
//!   `Done`): kept until that router forgets it (a reader of a lost node's
//!   journal writes its `Done`);
//! - aborted: its `Done` is written;
//! - a `Carried` record restates an answerable transaction (an applied
//!   commit, or a kept rejection) as if its earlier records said so: they
//!   may be gone, recycled once it was written;
//! - a `Drive` record (a promise to a later drive of the transaction)
//!   changes no fate: the highest one of each transaction, whatever its
//!   fate, is listed (and an in-doubt transaction carries it), so that the
//!   node refuses earlier drives' routers after recovery too;
//! - a `Bound` record (an inquiry answered "unknown") changes no fate
//!   either: the highest one of each transaction is listed, so that the
//!   node starts no branch of the drives it names after recovery too;
//! - anything else is undecided: presumed abort (nobody was told of a
//!   commit, and the servers' uncommitted work died with them); `Abort` and
//!   `Done` are written.
//!
//! A record whose payload does not decode ([`Malformed`], reported) counts
//! by its kind, on the safe side: a `Commit` still commits (reason 0), a
//! `Vote` counts as durable (in doubt, not presumed aborted), an `Abort`,
//! `Done` or `Exception` (0 strikes) still counts; a `Msg` without a
//! readable facility has nothing to replay and is left out.

use std::collections::HashMap;

use super::{DecodeError, SeqMark, TxRecord, KEPT_ABORT};
use crate::journal::{Record, RecordKind};
use crate::protocol::Bytes;
use crate::tid::Tid;

/// What a journal's records leave a transaction to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxFate {
    /// Finished (`Done`): nothing to do; its space is free.
    Done,
    /// Committed and applied by every server (`Applied`), kept answerable
    /// until its router forgets it.
    Answerable,
    /// Committed, not every server acknowledged it: replayed after a restart.
    Replay,
    /// Committed with no message in this journal: recovery writes its `Done`.
    CommittedEmpty,
    /// Voted durably, no outcome: kept in doubt until its router decides.
    InDoubt,
    /// A router's rejection kept answerable (`KeptAbort`) until the router
    /// says the client has it.
    AbortAnswerable,
    /// Aborted, its `Done` not yet written: recovery writes it.
    Aborted,
    /// No outcome and no durable vote: recovery presumes abort.
    PresumedAbort,
    /// Committed, set aside by the retry limit: waits for an operator.
    SetAside,
}

impl TxFate {
    /// One word for scripts (`rtr journal show --json`). The words of the
    /// first three states predate this module and are kept for scripts.
    pub fn word(self) -> &'static str {
        match self {
            TxFate::Done => "done",
            TxFate::Answerable => "committed-applied-answerable",
            TxFate::Replay => "committed-awaiting-servers",
            TxFate::CommittedEmpty => "committed-nothing-to-replay",
            TxFate::InDoubt => "in-doubt",
            TxFate::AbortAnswerable => "aborted-answerable",
            TxFate::Aborted => "aborted",
            TxFate::PresumedAbort => "undecided",
            TxFate::SetAside => "set-aside",
        }
    }

    /// The state in words, and what the node does about it at recovery.
    pub fn explain(self) -> &'static str {
        match self {
            TxFate::Done => "finished; its journal space is free",
            TxFate::Answerable => {
                "committed and applied; kept so a router of another node can still ask (freed when its router forgets it)"
            }
            TxFate::Replay => "committed; not every server acknowledged it (replayed after a restart)",
            TxFate::CommittedEmpty => "committed, with no message in this journal (a restart finishes it)",
            TxFate::InDoubt => {
                "voted durably, no outcome recorded: in doubt (a restart keeps it and asks its router for the outcome)"
            }
            TxFate::AbortAnswerable => {
                "rejected; kept so a frontend that never heard it is told so if it drives it again (freed when its \
                 router forgets it)"
            }
            TxFate::Aborted => "aborted, its Done record not yet written",
            TxFate::PresumedAbort => "no outcome recorded (a restart presumes abort)",
            TxFate::SetAside => {
                "committed, set aside by the retry limit (not replayed; an operator resolves it with rtr set transaction)"
            }
        }
    }
}

/// Where a transaction's last `Commit` is and its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitAt {
    /// Index of the record in the records classified.
    pub at: usize,
    pub reason: u32,
}

/// Everything a journal's records say about one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxSummary {
    pub tid: Tid,
    /// Index of its first record in the records classified.
    pub first: usize,
    /// The facility of its first readable message.
    pub facility: Option<String>,
    /// Its readable messages, in order.
    pub msgs: Vec<Bytes>,
    /// Message records, readable or not.
    pub msg_records: usize,
    /// Its readable `HandOn` messages, in order: kept for key ranges this
    /// node does not serve, handed on rather than presented.
    pub hand_on: Vec<Bytes>,
    /// Any vote record.
    pub voted: bool,
    pub durable_vote: bool,
    /// The last `Commit`.
    pub commit: Option<CommitAt>,
    pub aborted: bool,
    /// A router's rejection kept answerable (`KeptAbort`).
    pub kept_abort: bool,
    /// A `Done` with no `Commit` after it.
    pub done: bool,
    /// An `Applied` with no `Commit` after it.
    pub applied: bool,
    /// `done`, and a record after its `Done` that keeps journal space (the
    /// writer's reclaim accounting counts a transaction live from any such
    /// record until its next `Done`), with no new attempt begun: the
    /// transaction is finished, but its space stays taken until another
    /// `Done` is written.
    pub reopened: bool,
    /// Set aside by the retry limit: its strikes.
    pub set_aside: Option<u32>,
    /// The latest drive promised here (`Drive` records; 0: none). Kept
    /// across attempts: it is the transaction's, not one attempt's.
    pub drive: u32,
    /// The latest drive bound here by an inquiry's "unknown" (`Bound`
    /// records; `None`: none). Kept across attempts.
    pub bound: Option<u32>,
    /// Its shadow log positions (`Seq` records) of this attempt, in order.
    pub seqs: Vec<(String, (u64, u64), SeqMark)>,
    /// Those of its earlier attempts here, with their attempts' messages:
    /// kept across attempts, as `drive` is. A commit remembered for the
    /// other site stays remembered when this node later applies the other
    /// site's entry of the same transaction (another range's share: a new
    /// attempt). Dropped with the old attempt, a node that read this
    /// journal never sent it, and the other site's follower stepped over
    /// it (simulator `--shadow --seed 126 --routers 2`).
    pub earlier: Vec<EarlierSeq>,
}

/// A `Seq` record of an earlier attempt of a transaction
/// (`TxSummary::earlier`), with that attempt's messages and commit reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlierSeq {
    pub range: String,
    pub pos: (u64, u64),
    pub mark: SeqMark,
    pub facility: Option<String>,
    pub msgs: Vec<Bytes>,
    pub reason: u32,
}

impl TxSummary {
    fn new(tid: Tid, first: usize) -> TxSummary {
        TxSummary {
            tid,
            first,
            facility: None,
            msgs: Vec::new(),
            msg_records: 0,
            hand_on: Vec::new(),
            voted: false,
            durable_vote: false,
            commit: None,
            aborted: false,
            kept_abort: false,
            done: false,
            applied: false,
            reopened: false,
            set_aside: None,
            drive: 0,
            bound: None,
            seqs: Vec::new(),
            earlier: Vec::new(),
        }
    }

    /// The rules of the module notes, in their order.
    pub fn fate(&self) -> TxFate {
        if self.done {
            return TxFate::Done;
        }
        if self.applied && self.commit.is_some() && !self.aborted {
            return TxFate::Answerable;
        }
        match (self.commit, &self.facility) {
            (Some(_), Some(_)) if !self.aborted && self.set_aside.is_some() => TxFate::SetAside,
            (Some(_), Some(_)) if !self.aborted => TxFate::Replay,
            (Some(_), None) => TxFate::CommittedEmpty,
            (None, Some(_)) if self.durable_vote && !self.aborted => TxFate::InDoubt,
            (None, _) if self.kept_abort => TxFate::AbortAnswerable,
            _ if self.aborted => TxFate::Aborted,
            _ => TxFate::PresumedAbort,
        }
    }

    /// Its last attempt here ended: finished (`Done`), rolled back (an
    /// abort, decided or presumed), or committed and applied.
    fn ended(&self) -> bool {
        self.done || self.aborted || (self.applied && self.commit.is_some())
    }

    /// A message record after the tid's last attempt here ended starts a
    /// new one: work a router handed here (`Adopt`) or drove here again
    /// after this node finished, rolled back or presumed aborted its own
    /// branch. What the new attempt's records say replaces the old
    /// attempt's state: the old messages were applied or rolled back and
    /// must not be presented again with the new ones, and an old abort
    /// (say, one a restart presumed before the router's commit was handed
    /// here) must not hide the new commit (simulator seed 118 of the disk
    /// faults: a reader wrote `Done` over such a commit, never applied).
    /// The journal's reclaim accounting agrees: a `Done` frees the earlier
    /// records, and the new attempt's records pin their own segments.
    fn new_attempt(&mut self) {
        let mut earlier = std::mem::take(&mut self.earlier);
        let reason = self.commit.map_or(0, |c| c.reason);
        for (range, pos, mark) in std::mem::take(&mut self.seqs) {
            let (facility, msgs) = (self.facility.clone(), self.msgs.clone());
            earlier.push(EarlierSeq { range, pos, mark, facility, msgs, reason });
        }
        let TxSummary { tid, first, drive, bound, .. } = *self;
        *self = TxSummary { drive, bound, earlier, ..TxSummary::new(tid, first) };
    }

    fn apply(&mut self, at: usize, kind: RecordKind, rec: Result<TxRecord, DecodeError>) {
        if matches!(kind, RecordKind::Msg | RecordKind::HandOn | RecordKind::Restated) && self.ended() {
            self.new_attempt();
        }
        // As `journal::live` counts space: `Fence`, `Drive` and `Bound`
        // records keep none, a `Done` frees it all.
        match kind {
            RecordKind::Done => self.reopened = false,
            RecordKind::Fence | RecordKind::Meta | RecordKind::Drive | RecordKind::Bound => {}
            _ if self.done => self.reopened = true,
            _ => {}
        }
        match (kind, rec) {
            (_, Ok(TxRecord::Msg { facility, data })) => {
                self.msg_records += 1;
                self.facility.get_or_insert(facility);
                self.msgs.push(data);
            }
            (_, Ok(TxRecord::HandOn { facility, data })) => {
                self.msg_records += 1;
                self.facility.get_or_insert(facility);
                self.hand_on.push(data);
            }
            (RecordKind::Msg | RecordKind::HandOn, Err(_)) => self.msg_records += 1,
            (_, Ok(TxRecord::Vote { durable })) => {
                self.voted = true;
                self.durable_vote |= durable;
            }
            (RecordKind::Vote, Err(_)) => {
                self.voted = true;
                self.durable_vote = true;
            }
            (_, Ok(TxRecord::Commit { reason })) => self.commit(at, reason),
            (RecordKind::Commit, Err(_)) => self.commit(at, 0),
            (_, Ok(TxRecord::KeptAbort)) => {
                self.aborted = true;
                self.kept_abort = true;
            }
            (_, Ok(TxRecord::Abort | TxRecord::PresumedAbort)) | (RecordKind::Abort, Err(_)) => self.aborted = true,
            (_, Ok(TxRecord::Done)) | (RecordKind::Done, Err(_)) => self.done = true,
            (_, Ok(TxRecord::Applied)) | (RecordKind::Applied, Err(_)) => self.applied = true,
            (_, Ok(TxRecord::Exception { strikes, .. })) => self.set_aside = Some(strikes),
            (RecordKind::Exception, Err(_)) => self.set_aside = Some(0),
            (_, Ok(TxRecord::Carried { committed: true })) | (RecordKind::Carried, Err(_)) => {
                // Restated: committed and applied, whatever came before (a
                // malformed one counts as the commit, on the safe side).
                self.commit(at, 0);
                self.applied = true;
                self.aborted = false;
                self.kept_abort = false;
            }
            (_, Ok(TxRecord::Carried { committed: false })) => {
                self.commit = None;
                self.applied = false;
                self.done = false;
                self.aborted = true;
                self.kept_abort = true;
            }
            (_, Ok(TxRecord::Drive { drive })) => self.drive = self.drive.max(drive),
            // Unreadable: no promise is known from it (the journal's CRC
            // passed, so only a newer format writes such a payload).
            (RecordKind::Drive, Err(_)) => {}
            (_, Ok(TxRecord::Bound { drive })) => self.bound = Some(self.bound.map_or(drive, |b| b.max(drive))),
            // Unreadable: on the safe side, it binds the first drive.
            (RecordKind::Bound, Err(_)) => self.bound = Some(self.bound.unwrap_or(0)),
            (_, Ok(TxRecord::Seq { range, pos, mark })) => self.seqs.push((range, pos, mark)),
            // Unreadable: no position is known from it (only a newer format
            // writes such a payload); the transaction's fate is unchanged.
            (RecordKind::Seq, Err(_)) => {}
            // The messages that follow are all of this attempt's (some
            // earlier ones were refused by a full journal): those before
            // go. (Unreadable, it has a payload: only a newer format writes
            // one; it is taken as what this build knows.)
            (_, Ok(TxRecord::Restated)) | (RecordKind::Restated, Err(_)) => {
                self.msgs.clear();
                self.msg_records = 0;
            }
            (RecordKind::Fence | RecordKind::Meta, Err(_)) => {}
        }
    }

    fn commit(&mut self, at: usize, reason: u32) {
        self.commit = Some(CommitAt { at, reason });
        // Work handed off here after this node finished its own branch of
        // the transaction: unfinished again.
        self.done = false;
        self.applied = false;
    }
}

/// A record whose payload did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// Index of the record in the records classified.
    pub at: usize,
    pub tid: Tid,
    pub kind: RecordKind,
    pub error: DecodeError,
}

/// A journal's transactions, in the order of their first records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classified {
    pub txs: Vec<TxSummary>,
    pub malformed: Vec<Malformed>,
}

/// What the records (in write order) say about each transaction. Records
/// that are not transaction records (`Fence`, `Meta`) are skipped.
pub fn classify<'a>(records: impl IntoIterator<Item = &'a Record>) -> Classified {
    let mut txs: Vec<TxSummary> = Vec::new();
    let mut index: HashMap<Tid, usize> = HashMap::new();
    let mut malformed = Vec::new();
    for (at, r) in records.into_iter().enumerate() {
        if matches!(r.kind, RecordKind::Fence | RecordKind::Meta) {
            continue;
        }
        let rec = TxRecord::decode(r.kind, &r.payload);
        if let Err(error) = &rec {
            malformed.push(Malformed { at, tid: r.tid, kind: r.kind, error: error.clone() });
        }
        let i = *index.entry(r.tid).or_insert_with(|| {
            txs.push(TxSummary::new(r.tid, at));
            txs.len() - 1
        });
        txs[i].apply(at, r.kind, rec);
    }
    Classified { txs, malformed }
}

/// A committed transaction to present again to its servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayTx {
    /// Index of its commit record: replay goes in commit order.
    pub at: usize,
    pub tid: Tid,
    pub facility: String,
    pub msgs: Vec<Bytes>,
    /// Messages to hand on to other nodes' partitions (`HandOn`).
    pub hand_on: Vec<Bytes>,
    pub reason: u32,
    /// The shadowed ranges (primary record names) whose logs know this
    /// commit (any `Seq` record of it: remembered for the other site,
    /// released, or applied from the other site's log). A shadow partition
    /// that replays it for a range not named here remembers it for the
    /// other site then (docs/shadow.md, "Recovered commits").
    pub seq_ranges: Vec<String>,
}

/// A transaction voted durably with no outcome: its router decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InDoubtTx {
    pub tid: Tid,
    pub facility: String,
    pub msgs: Vec<Bytes>,
    /// The latest drive promised here (0: none): no router of an earlier
    /// drive decides it.
    pub drive: u32,
}

/// A committed transaction set aside by the retry limit before the crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAsideTx {
    pub tid: Tid,
    pub facility: String,
    pub strikes: u32,
    /// Its messages and commit reason: what an operator's retry presents.
    pub msgs: Vec<Bytes>,
    pub reason: u32,
}

/// What a journal's records leave recovery to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Committed without `Done`, in commit order.
    pub replay: Vec<ReplayTx>,
    /// Records that finish the transactions with nothing left to do
    /// (`Done`), and presume abort for the undecided (`Abort`, `Done`), in
    /// the order of the transactions' first records.
    pub release: Vec<(Tid, TxRecord)>,
    pub set_aside: Vec<SetAsideTx>,
    pub in_doubt: Vec<InDoubtTx>,
    /// Committed and applied, kept answerable until a router forgets them
    /// (their facility, in the order of their first records).
    pub answerable: Vec<(Tid, String)>,
    /// Rejections kept answerable until their router forgets them
    /// (`KeptAbort`, no `Done`), in the order of their first records.
    pub answerable_aborts: Vec<Tid>,
    /// Promises to a later drive (`Drive` records: the highest per tid),
    /// whatever the transaction's fate, in the order of their first
    /// records: the node refuses earlier drives' routers of each again
    /// (an in-doubt one's is in `in_doubt` too).
    pub promises: Vec<(Tid, u32)>,
    /// Inquiries answered "unknown" (`Bound` records: the highest drive per
    /// tid), whatever the transaction's fate, in the order of their first
    /// records: the node starts no branch of those drives again.
    pub bounds: Vec<(Tid, u32)>,
    /// Shadow log positions of committed transactions not finished here
    /// (`Seq` records of a replayed or answerable commit), in the order of
    /// their first records: commits remembered for the other site and not
    /// released (with their messages), and the other site's entries
    /// applied here (docs/shadow.md).
    pub shadow: Vec<ShadowSeqTx>,
    /// Records that did not decode (counted by their kind, see the notes).
    pub malformed: Vec<Malformed>,
}

/// A committed transaction's place in a shadow log (`TxRecord::Seq`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowSeqTx {
    pub tid: Tid,
    /// The key range's primary record name.
    pub range: String,
    pub pos: (u64, u64),
    /// A commit remembered for the other site (else the other site's entry
    /// applied here).
    pub primary: bool,
    pub facility: String,
    pub msgs: Vec<Bytes>,
    pub reason: u32,
}

/// The recovery plan for a journal's records, in write order.
pub fn scan_records(records: &[Record]) -> Scan {
    let Classified { txs, malformed } = classify(records);
    let mut scan = Scan { malformed, ..Scan::default() };
    for tx in txs {
        let fate = tx.fate();
        let TxSummary {
            tid, facility, msgs, hand_on, commit, set_aside, drive, bound, seqs, earlier, reopened, ..
        } = tx;
        let released = |r: &str, p: (u64, u64)| {
            seqs.iter().any(|(q, x, m)| *m == SeqMark::Released && q == r && *x == p)
                || earlier.iter().any(|e| e.mark == SeqMark::Released && e.range == r && e.pos == p)
        };
        // Earlier attempts' positions hold until the transaction is done
        // here (its `Done` waits for every release).
        if fate != TxFate::Done {
            for e in &earlier {
                if e.mark == SeqMark::Released || (e.mark == SeqMark::Remembered && released(&e.range, e.pos)) {
                    continue;
                }
                scan.shadow.push(ShadowSeqTx {
                    tid,
                    range: e.range.clone(),
                    pos: e.pos,
                    primary: e.mark == SeqMark::Remembered,
                    facility: e.facility.clone().or_else(|| facility.clone()).unwrap_or_default(),
                    msgs: e.msgs.clone(),
                    reason: e.reason,
                });
            }
        }
        if matches!(fate, TxFate::Replay | TxFate::Answerable) {
            for (range, pos, mark) in seqs.iter().cloned() {
                if mark == SeqMark::Released || (mark == SeqMark::Remembered && released(&range, pos)) {
                    continue;
                }
                scan.shadow.push(ShadowSeqTx {
                    tid,
                    range,
                    pos,
                    primary: mark == SeqMark::Remembered,
                    facility: facility.clone().unwrap_or_default(),
                    msgs: msgs.clone(),
                    reason: commit.map_or(0, |c| c.reason),
                });
            }
        }
        if drive > 0 {
            scan.promises.push((tid, drive));
        }
        if let Some(bound) = bound {
            scan.bounds.push((tid, bound));
        }
        let facility = facility.unwrap_or_default();
        match fate {
            // Finished, with records after its `Done` that keep their
            // segment (an `Applied` of work presented here again, written
            // after a router's forget: simulator `--faults disk --seed 117
            // --routers 2`): a `Done` again frees it. Nothing else would
            // ever write one, and the journal filled for good.
            TxFate::Done if reopened => scan.release.push((tid, TxRecord::Done)),
            TxFate::Done => {}
            TxFate::Answerable => scan.answerable.push((tid, facility)),
            TxFate::AbortAnswerable => scan.answerable_aborts.push(tid),
            TxFate::SetAside => scan.set_aside.push(SetAsideTx {
                tid,
                facility,
                strikes: set_aside.unwrap_or(0),
                msgs,
                reason: commit.map_or(0, |c| c.reason),
            }),
            TxFate::Replay => {
                // Replay implies a commit (see `fate`).
                if let Some(CommitAt { at, reason }) = commit {
                    let mut seq_ranges: Vec<String> = seqs.iter().map(|(r, _, _)| r.clone()).collect();
                    seq_ranges.extend(earlier.iter().map(|e| e.range.clone()));
                    seq_ranges.sort();
                    seq_ranges.dedup();
                    scan.replay.push(ReplayTx { at, tid, facility, msgs, hand_on, reason, seq_ranges });
                }
            }
            TxFate::InDoubt => scan.in_doubt.push(InDoubtTx { tid, facility, msgs, drive }),
            TxFate::CommittedEmpty | TxFate::Aborted => scan.release.push((tid, TxRecord::Done)),
            TxFate::PresumedAbort => {
                scan.release.push((tid, TxRecord::PresumedAbort));
                scan.release.push((tid, TxRecord::Done));
            }
        }
    }
    scan.replay.sort_by_key(|c| c.at);
    scan
}

/// Every tid with a decided Abort record (or a restated kept rejection) and no Commit record, sorted,
/// once each: rolled back by a router's (or this node's) decision, so a
/// router asking about one hears "aborted", not "unknown". Aborts an
/// earlier recovery only presumed (`TxRecord::PresumedAbort`) do not count:
/// nobody decided those, and their router may have committed them since.
pub fn aborted_tids(records: &[Record]) -> Vec<Tid> {
    let committed = committed_tids(records);
    let mut v: Vec<Tid> = records
        .iter()
        .filter(|r| {
            let decided = match r.kind {
                RecordKind::Abort => r.payload.is_empty() || r.payload[..] == [KEPT_ABORT],
                // A kept rejection restated (`TxRecord::Carried`).
                RecordKind::Carried => r.payload[..] == [0],
                _ => false,
            };
            decided && committed.binary_search(&r.tid).is_err()
        })
        .map(|r| r.tid)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The work a journal's commits applied: for each tid of `committed`
/// (sorted, as `committed_tids` gives it), the prints (`work_print`) of its
/// `Msg` records still in the journal, sorted, once each. (`HandOn`
/// messages are not applied here: they go to the range's active partition,
/// which keeps its own record of them.) A commit restated by `Carried`, or
/// one whose messages were in a recycled segment, has none: it counts as
/// "work unknown" (`docs/replaced-work.md`).
pub fn committed_prints(records: &[Record], committed: &[Tid]) -> Vec<(Tid, u64)> {
    let mut v: Vec<(Tid, u64)> = records
        .iter()
        .filter(|r| r.kind == RecordKind::Msg && committed.binary_search(&r.tid).is_ok())
        .filter_map(|r| match TxRecord::decode(r.kind, &r.payload) {
            Ok(TxRecord::Msg { data, .. }) => Some((r.tid, super::work_print(&data))),
            _ => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Every tid with a `Commit` record (or a restated one), sorted, once each.
pub fn committed_tids(records: &[Record]) -> Vec<Tid> {
    // A `Carried` record other than a kept rejection's restates a commit
    // (a malformed one counts as one, as in `classify`).
    let commit = |r: &Record| r.kind == RecordKind::Commit || (r.kind == RecordKind::Carried && r.payload[..] != [0]);
    let mut v: Vec<Tid> = records.iter().filter(|r| commit(r)).map(|r| r.tid).collect();
    v.sort();
    v.dedup();
    v
}
