//! What one pass of the node thread does with the node's outputs, sans
//! I/O: the plan ([`PassPlan::of`]) and how the results of its journal
//! appends map back to node inputs ([`own_append_done`],
//! [`taken_over_append_done`]). The driver (`driver.rs`) only carries the
//! plan out; the simulator (`sim/world.rs`) can apply the same policy to
//! its simulated disk and network.
//!
//! The journal policy:
//! - The node's own journal (jid 0) gets the pass's records in as few
//!   appends as possible: one write each, so one write (and at most one
//!   shared fdatasync) per pass in the common case. Records that start new
//!   transactions go in appends of their own, issued after the others: a
//!   journal down to its reserve refuses those appends whole, and the
//!   reserve stays for the transactions already in progress. Each append
//!   stays within the journal's size limit (a segment's room); records keep
//!   their order within each kind.
//! - A journal taken over from a lost node (jid ≠ 0) gets one append per
//!   output, in output order with that journal's release: a record for a
//!   journal released earlier in the pass finds it gone.
//! - A synced append's tokens (the node waits for them) stay on the append
//!   that holds their records.
//! - Results: see [`own_append_done`] and [`taken_over_append_done`].

use rustc_hash::FxHashMap;

use crate::journal::{self, RecordKind};
use crate::node::{Internal, NodeRef, Output};
use crate::protocol::{ConnId, Delivery};
use crate::status::Status;
use crate::tid::Tid;

/// One journal record as the node emits it.
pub(crate) type Entry = (Tid, RecordKind, Vec<u8>);

/// One journal append: records written together, in order.
#[derive(Debug, PartialEq)]
pub(crate) struct Append {
    pub(crate) entries: Vec<Entry>,
    /// Made durable (fdatasync) before it completes.
    pub(crate) sync: bool,
    /// The completion tokens of the outputs packed in, in order: the node
    /// hears of each once the append is durable (or failed).
    pub(crate) tokens: Vec<u64>,
    /// The transactions of its records, in order (a transaction appears
    /// again only after another's records): told when an append without
    /// tokens fails ([`Status::Jnlfull`]).
    pub(crate) tids: Vec<Tid>,
    /// Its size in the journal.
    pub(crate) bytes: u64,
    /// Its records start new transactions.
    pub(crate) new_tx: bool,
}

impl Append {
    fn empty(new_tx: bool) -> Append {
        Append::with_room(new_tx, Room::default())
    }

    /// An empty append with room for `room`'s records and outputs (what
    /// the pass will put in it, at most: see [`Room`]).
    fn with_room(new_tx: bool, room: Room) -> Append {
        Append {
            entries: Vec::with_capacity(room.entries),
            sync: false,
            tokens: Vec::with_capacity(room.tokens),
            tids: Vec::with_capacity(room.entries),
            bytes: 0,
            new_tx,
        }
    }

    /// Add one output's records.
    fn add(&mut self, entries: Vec<Entry>, size: u64, sync: bool, token: Option<u64>) {
        self.bytes += size;
        self.sync |= sync;
        self.tokens.extend(token);
        for e in &entries {
            if self.tids.last() != Some(&e.0) {
                self.tids.push(e.0);
            }
        }
        if self.entries.is_empty() && self.entries.capacity() < entries.len() {
            // Nothing to keep: take the output's vector as it is.
            self.entries = entries;
        } else {
            self.entries.extend(entries);
        }
    }

    /// The completion tokens, if the node waits for this append.
    pub(crate) fn awaited(&self) -> bool {
        !self.tokens.is_empty()
    }
}

/// The journal size of some records.
fn size_of(entries: &[Entry]) -> u64 {
    entries.iter().map(|e| journal::format::record_bytes(e.2.len()) as u64).sum()
}

/// Packs the records for the node's own journal into appends: new
/// transactions apart from the rest, each append within `limit` bytes
/// (an output's records are never split: one larger than the limit gets
/// an append to itself), order kept within each.
struct Packer {
    limit: u64,
    done: Vec<Append>,
    /// The append being filled: [other records, new transactions].
    open: [Option<Append>; 2],
    /// What the pass has of each kind, for the first append of each: one
    /// allocation of the right size instead of a vector doubling its way
    /// up through a pass's records (reallocations showed in profiles of
    /// the node thread at 32 clients). Later appends of a kind (past the
    /// size limit) start empty.
    room: [Room; 2],
}

/// Records and completion tokens an append will hold, at most.
#[derive(Clone, Copy, Debug, Default)]
struct Room {
    entries: usize,
    tokens: usize,
}

impl Packer {
    fn new(limit: u64, room: [Room; 2]) -> Packer {
        Packer { limit, done: Vec::new(), open: [None, None], room }
    }

    fn add(&mut self, entries: Vec<Entry>, sync: bool, token: Option<u64>, new_tx: bool) {
        let size = size_of(&entries);
        let kind = usize::from(new_tx);
        let slot = &mut self.open[kind];
        if slot.as_ref().is_some_and(|a| a.bytes + size > self.limit) {
            self.done.extend(slot.take());
        }
        let room = &mut self.room[kind];
        slot.get_or_insert_with(|| Append::with_room(new_tx, std::mem::take(room))).add(entries, size, sync, token);
    }

    /// The appends in the order to issue them: new transactions last, so
    /// records of transactions in progress never wait behind them.
    fn finish(mut self) -> Vec<Append> {
        let [other, new] = std::mem::take(&mut self.open);
        let mut v = self.done;
        v.extend(other);
        v.extend(new);
        // Stable: the order within each kind is kept.
        v.sort_by_key(|a| a.new_tx);
        v
    }
}

/// Work on a journal taken over from a lost node, in output order.
#[derive(Debug, PartialEq)]
pub(crate) enum TakenOverStep {
    /// Append to journal `jid` (one output's records: its undecided
    /// transactions' aborts, finished ones' Done records, in-doubt ones'
    /// commits, synced with a token).
    Append { jid: u32, append: Append },
    /// Every transaction of journal `jid` is finished: close it (its lock
    /// goes, so its node may start again).
    Release { jid: u32 },
}

/// A request to the role authority (`crate::authority`), in output order.
#[derive(Debug, PartialEq)]
pub(crate) enum RoleStep {
    /// Claim range `range`'s grant (forced over `force_over`); the answer
    /// goes to `Node::claimed`.
    Claim { range: String, force_over: Option<u64> },
    /// Ask whether the holder of grant `epoch` of `range` is gone; the
    /// answer goes to `Node::holder_checked`.
    CheckHolder { range: String, epoch: u64 },
    /// Read `range`'s note; the answer goes to `Node::note_read` with
    /// `then`.
    ReadNote { range: String, then: Option<crate::authority::Claim> },
    /// Give grant `epoch` of `range` back cleanly.
    Release { range: String, epoch: u64 },
    /// Mark grant `epoch` of `range` exercised (done before the pass's
    /// messages and deliveries go out).
    Activate { range: String, epoch: u64 },
}

/// What one pass does, in the order the driver does it: the steps on
/// taken-over journals and the log lines; then (unless the node finds its
/// acknowledgments went stale) the peer messages, the appends to its own
/// journal (before the deliveries their records may precede), the
/// deliveries; then the takeovers, each followed by another pass.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct PassPlan {
    /// Appends to the node's own journal (jid 0), in the order to issue them.
    pub(crate) own: Vec<Append>,
    /// Appends to and releases of taken-over journals, in output order.
    pub(crate) taken_over: Vec<TakenOverStep>,
    /// Deliveries per connection, in order; connections in the order of
    /// their first delivery.
    pub(crate) deliveries: Vec<(ConnId, Vec<Delivery>)>,
    /// Messages per peer, in order (they go out as one buffer per peer);
    /// peers in the order of their first message.
    pub(crate) peers: Vec<(NodeRef, Vec<Internal>)>,
    /// Journals of lost nodes to take over: (node name, jid), in order.
    pub(crate) takeovers: Vec<(String, u32)>,
    /// Claims and releases of key ranges' grants, in order (after the
    /// deliveries, before the takeovers; their answers make another pass).
    pub(crate) roles: Vec<RoleStep>,
    /// Lines for the node's log, in order; `true`: a line of detail
    /// (`Output::Detail`, the debug level).
    pub(crate) logs: Vec<(bool, String)>,
}

impl PassPlan {
    /// The plan for one pass's outputs (in the order the node emitted
    /// them), with appends to the node's own journal of at most
    /// `append_limit` bytes each (`JournalConfig::max_append_bytes`;
    /// `u64::MAX` without a journal).
    pub(crate) fn of(outputs: impl IntoIterator<Item = Output>, append_limit: u64) -> PassPlan {
        PassPlan::sized(outputs, append_limit, [Room::default(); 2], Vec::new(), FxHashMap::default())
    }

    /// [`PassPlan::of`] for the outputs in `outputs`, which it empties
    /// (keeping its allocation, for the node's next pass:
    /// [`crate::node::Node::reuse_output`]). It looks through them first
    /// to size the vectors it fills (the appends' records, each
    /// connection's deliveries) at once: the same plan, without the
    /// reallocations of vectors doubling their way up through a pass
    /// (they showed in profiles of the node thread at 32 clients).
    pub(crate) fn of_drained(outputs: &mut Vec<Output>, append_limit: u64) -> PassPlan {
        let mut room = [Room::default(); 2];
        // Each connection's deliveries, in the order of their first one.
        let mut deliveries: Vec<(ConnId, usize)> = Vec::new();
        let mut conns: FxHashMap<ConnId, usize> = FxHashMap::default();
        let mut last: Option<(ConnId, usize)> = None;
        for out in outputs.iter() {
            match out {
                Output::Journal { entries, token, new_tx, jid: 0, .. } => {
                    let r = &mut room[usize::from(*new_tx)];
                    r.entries += entries.len();
                    r.tokens += usize::from(token.is_some());
                }
                Output::Deliver { conn, .. } => {
                    let at = place(&mut conns, &mut last, *conn, || {
                        deliveries.push((*conn, 0));
                        deliveries.len() - 1
                    });
                    deliveries[at].1 += 1;
                }
                _ => {}
            }
        }
        let deliveries = deliveries.into_iter().map(|(c, n)| (c, Vec::with_capacity(n))).collect();
        PassPlan::sized(outputs.drain(..), append_limit, room, deliveries, conns)
    }

    /// The plan, with `room` for the first append of each kind, and the
    /// deliveries begun: `deliveries` (empty, or a vector per connection
    /// of `conns`, which says where each is).
    fn sized(
        outputs: impl IntoIterator<Item = Output>,
        append_limit: u64,
        room: [Room; 2],
        deliveries: Vec<(ConnId, Vec<Delivery>)>,
        mut conns: FxHashMap<ConnId, usize>,
    ) -> PassPlan {
        let mut plan = PassPlan { deliveries, ..PassPlan::default() };
        let mut own = Packer::new(append_limit, room);
        // The last connection delivered to and its place: runs of
        // deliveries to one connection skip the map.
        let mut last: Option<(ConnId, usize)> = None;
        for out in outputs {
            match out {
                Output::Journal { entries, sync, token, new_tx, jid: 0 } => own.add(entries, sync, token, new_tx),
                Output::Journal { entries, sync, token, new_tx, jid } => {
                    let mut append = Append::empty(new_tx);
                    let size = size_of(&entries);
                    append.add(entries, size, sync, token);
                    plan.taken_over.push(TakenOverStep::Append { jid, append });
                }
                Output::Release { jid } => plan.taken_over.push(TakenOverStep::Release { jid }),
                Output::Takeover { node, jid } => plan.takeovers.push((node, jid)),
                Output::Claim { range, force_over } => plan.roles.push(RoleStep::Claim { range, force_over }),
                Output::CheckHolder { range, epoch } => plan.roles.push(RoleStep::CheckHolder { range, epoch }),
                Output::ReadNote { range, then } => plan.roles.push(RoleStep::ReadNote { range, then }),
                Output::ReleaseRole { range, epoch } => plan.roles.push(RoleStep::Release { range, epoch }),
                Output::ActivateRole { range, epoch } => plan.roles.push(RoleStep::Activate { range, epoch }),
                Output::Log(text) => plan.logs.push((false, text)),
                Output::Detail(text) => plan.logs.push((true, text)),
                Output::Deliver { conn, delivery } => {
                    let at = place(&mut conns, &mut last, conn, || {
                        plan.deliveries.push((conn, Vec::new()));
                        plan.deliveries.len() - 1
                    });
                    plan.deliveries[at].1.push(delivery);
                }
                Output::Peer { peer, msg } => {
                    // Few peers: a scan beats a map.
                    match plan.peers.iter_mut().find(|(p, _)| *p == peer) {
                        Some((_, msgs)) => msgs.push(msg),
                        None => plan.peers.push((peer, vec![msg])),
                    }
                }
            }
        }
        plan.own = own.finish();
        plan
    }
}

/// Where connection `conn`'s deliveries are (`conns`, with `last` the
/// connection looked up last and its place); `new` makes a place for a
/// connection not seen yet.
fn place(
    conns: &mut FxHashMap<ConnId, usize>,
    last: &mut Option<(ConnId, usize)>,
    conn: ConnId,
    new: impl FnOnce() -> usize,
) -> usize {
    let at = match *last {
        Some((c, at)) if c == conn => at,
        _ => *conns.entry(conn).or_insert_with(new),
    };
    *last = Some((conn, at));
    at
}

/// How a journal append ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AppendOutcome {
    /// Written (and durable if it was synced).
    Written,
    /// Refused whole: the journal is full (or down to its reserve, for new
    /// transactions). Nothing of it was written.
    Full,
    /// Another owner fenced this one (the text says so).
    Fenced(String),
    /// Any other failure (I/O error, poisoned journal; the text says which):
    /// the records may or may not be on disk.
    Failed(String),
    /// The journal is not held (a taken-over journal already released).
    NotHeld,
}

/// What the node (or its driver) must hear of an append's outcome.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reaction {
    /// `Node::journal_done` for each token, with this result.
    Done(Vec<u64>, Result<(), Status>),
    /// `Node::journal_failed`: unsynced records of these transactions
    /// were not written.
    Failed(Vec<Tid>, Status),
    /// The node must stop, saying why: outcomes it wrote are unknown.
    Fatal(String),
    /// A line for the node's log.
    Log(String),
    /// `Node::taken_over_lost`: taken-over journal `jid` can no longer be
    /// written (another node took it over since, or it failed): the node
    /// gives it up.
    Lost(u32),
}

/// The reactions to the end of an append to the node's own journal with
/// `tokens` and `tids` ([`Append::tokens`], [`Append::tids`]):
/// - written: the tokens are done;
/// - full: nothing was written: the tokens fail with `Jnlfull`, and so do
///   the transactions (those without a token too: their unsynced records
///   are missing);
/// - fenced, or any other failure: a commit whose write failed may still
///   be on disk (the failure can come after the write), so no outcome can
///   be given: the node stops, and recovery (a restart or a new owner)
///   decides;
/// - not held: the node has no journal (it then emits no records; if it
///   did, the synced ones are reported durable so that nothing waits for
///   ever).
pub(crate) fn own_append_done(outcome: AppendOutcome, tokens: Vec<u64>, tids: Vec<Tid>) -> Vec<Reaction> {
    match outcome {
        AppendOutcome::Written | AppendOutcome::NotHeld if tokens.is_empty() => Vec::new(),
        AppendOutcome::Written | AppendOutcome::NotHeld => vec![Reaction::Done(tokens, Ok(()))],
        AppendOutcome::Full => {
            let mut r = Vec::with_capacity(2);
            if !tokens.is_empty() {
                r.push(Reaction::Done(tokens, Err(Status::Jnlfull)));
            }
            r.push(Reaction::Failed(tids, Status::Jnlfull));
            r
        }
        AppendOutcome::Fenced(why) | AppendOutcome::Failed(why) => {
            vec![Reaction::Fatal(format!("journal write failed: {why}"))]
        }
    }
}

/// The reactions to the end of an append to taken-over journal `jid` (at
/// most one token: a commit of one of its in-doubt transactions):
/// - written: the token is done;
/// - not held (released, or never taken): the token fails with
///   `Nodeunavail`;
/// - full: logged, and the token fails with `Jnlfull` (asked again later);
/// - fenced by yet another owner, or an I/O failure: logged, the token
///   fails with `Jnlfull`, and the node gives that journal up (`Lost`): its
///   work there is whoever holds it now's, or the lost node's when it
///   starts again on it. (It used to keep it, and its in-doubt commits
///   failed there for ever.) The node goes on: its own journal is fine.
pub(crate) fn taken_over_append_done(outcome: AppendOutcome, jid: u32, token: Option<u64>) -> Vec<Reaction> {
    let done = |r: Result<(), Status>| token.map(|t| Reaction::Done(vec![t], r));
    let (why, lost) = match outcome {
        AppendOutcome::Written => return done(Ok(())).into_iter().collect(),
        AppendOutcome::NotHeld => return done(Err(Status::Nodeunavail)).into_iter().collect(),
        AppendOutcome::Full => ("journal is full".to_string(), false),
        AppendOutcome::Fenced(why) | AppendOutcome::Failed(why) => (why, true),
    };
    let log = Reaction::Log(format!("a write to a taken-over journal failed: {why}"));
    std::iter::once(log).chain(done(Err(Status::Jnlfull))).chain(lost.then_some(Reaction::Lost(jid))).collect()
}

#[cfg(test)]
mod tests;
