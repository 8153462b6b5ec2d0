//! The backend role: server channels, the partitions they serve, the
//! presentation of transactions to free servers, and the journal records
//! that make committed transactions survive a crash.
//!
//! Invariants:
//! - a server channel works on at most one undecided transaction
//!   (`Server::current`); it may still owe acknowledgements for committed
//!   ones (`Server::unacked`);
//! - a branch (transaction x partition) is assigned to one server or waits
//!   in its partition's FIFO `waiting` queue;
//! - the backend keeps every message of a branch until the branch is
//!   finished (aborted, or committed and acknowledged by its server), so a
//!   branch whose server went away is presented again to another server of
//!   the partition: first message as `rtr_mt_msg1_uncertain` when the lost
//!   server may have applied the work (it had voted, or got the commit).
//!
//! Journal (when the node has one): a branch's messages are appended before
//! they are delivered, votes when cast, and a commit record is appended and
//! made durable before anyone (server or client) learns of the commit. An
//! abort needs no sync (recovery presumes abort). A `Done` record follows
//! once every server of a committed transaction acknowledged its outcome,
//! which frees its journal space. After a crash, every committed transaction
//! without `Done` is presented again to the servers of its partitions
//! (uncertain, then `rtr_mt_accepted`), in commit order; an undecided one is
//! aborted.

use std::collections::VecDeque;

use super::Map;
use std::time::{Duration, Instant};

pub(super) mod roles;

pub use roles::RecoveryPolicy;
#[cfg(test)]
pub(crate) use roles::CLAIM_RETRY;

use super::frontend::status_delivery;
use super::{Callout, ChanRef, Ctx, NodeRef, PartId, ToBackend, ToRouter, TxState, LOCAL};
use crate::facility::RoleList;
use crate::flags;
use crate::journal::Record;
use crate::keyseg::{KeyLayout, KeyRange};
use crate::msgtype::MsgType;
use crate::protocol::{Bytes, Delivery, Payload, Request};
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::{aborted_tids, committed_tids, scan_records, InDoubtTx, ReplayTx, Scan, TxRecord};

pub(super) struct Server {
    pub(super) part: PartId,
    pub(super) current: Option<Tid>,
    /// Committed transactions whose outcome this server received but has not
    /// acknowledged (by receiving again) yet.
    pub(super) unacked: Vec<Tid>,
}

pub(super) struct Partition {
    pub(super) facility: String,
    pub(super) range: KeyRange,
    pub(super) servers: Vec<ChanRef>,
    pub(super) free: VecDeque<ChanRef>,
    pub(super) waiting: VecDeque<Tid>,
    pub(super) noconcurrent: bool,
    /// Servers a transaction may take down before it is set aside.
    pub(super) retry_limit: u32,
    /// An operator suspended presentation (`rtr set partition --suspend`).
    pub(super) suspended: bool,
    pub(super) role: PartRole,
    /// Backend nodes in the order they should become active for the range
    /// (`rtr set partition --priority-list`); empty: the facility's order.
    pub(super) priority: Vec<String>,
    /// Opened with `RTR_F_OPE_NOSTANDBY`.
    pub(super) nostandby: bool,
    /// A call-out partition: sees every message of the transactions of its
    /// node (or of its node's router), votes, and writes nothing.
    pub(super) callout: Callout,
    /// The range's grant as this partition knows it (`roles.rs`).
    pub(super) grant: roles::RoleState,
}

impl Partition {
    /// How logs name a partition: facility, id on this node, and its key
    /// range's name in the role authority.
    pub(super) fn label(&self, part: PartId) -> String {
        format!("{}:{part} ({})", self.facility, self.grant.rid)
    }

    fn new(facility: String, range: KeyRange, noconcurrent: bool, nostandby: bool, callout: Callout) -> Partition {
        let rid = crate::authority::range_id(&facility, &range);
        Partition {
            facility,
            range,
            servers: Vec::new(),
            free: VecDeque::new(),
            waiting: VecDeque::new(),
            noconcurrent,
            retry_limit: DEFAULT_RETRY_LIMIT,
            suspended: false,
            role: PartRole::Waiting,
            priority: Vec::new(),
            nostandby,
            callout,
            grant: roles::RoleState { rid, ..Default::default() },
        }
    }
}

/// A partition's role in its key range, as the role authority granted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartRole {
    /// Claiming the range's grant; no answer yet (or the authority cannot
    /// be reached).
    Waiting,
    /// Transactions for the range come here.
    Active,
    /// Another node's partition is active for the range; this one takes
    /// over if that node is lost.
    Standby,
    /// Becoming active: recovering the journal of the lost node first.
    Recovering(String),
    /// Becoming active, but the lost node's journal cannot be taken over
    /// (node, why): it waits for an operator (`--ignore-recovery`,
    /// `--restart-recovery`).
    NoJournal(String, String),
}

pub(super) struct Branch {
    pub(super) server: Option<ChanRef>,
    pub(super) msgs: Vec<Bytes>,
    /// The router asked for the vote (the client accepted).
    vote_requested: bool,
    pub(super) voted_accept: bool,
    /// Present the first message as `rtr_mt_msg1_uncertain`.
    pub(super) uncertain: bool,
    /// The transaction committed: (status, reason) of the outcome to give
    /// the server after (re)presenting the messages.
    pub(super) committed: Option<(Status, u32)>,
    /// Servers lost while they held this branch ("strikes").
    pub(super) strikes: u32,
    /// Sent with `RTR_F_SEN_EXPENDABLE`: a lost server rejects the
    /// transaction instead of having it presented again.
    expendable: bool,
    /// The server voted with `RTR_F_ACC_FORGET`: it was released at its
    /// vote and hears nothing more of this transaction. The branch stays
    /// only so the outcome can close it; it is never presented again and
    /// owes no acknowledgement.
    forgotten: bool,
    /// The router coordinating this branch (its owner): votes and replies
    /// go there, and only its outcome counts.
    router: NodeRef,
    /// The reason given with the accept vote (sent again to a new owner).
    vote_reason: u32,
    /// The server rejected (its reason): sent again to a new owner, and no
    /// prepare is asked of the server again.
    voted_reject: Option<u32>,
    /// The router asked for a durable vote (the transaction spans several
    /// backend nodes), and whether the vote record is durable yet.
    durable_requested: bool,
    vote_durable: bool,
    vote_syncing: bool,
    /// Messages from another router that drives the transaction again
    /// while the owner is still linked: handled once the owner decides
    /// or its link goes down, so two routers never decide one branch.
    parked: Vec<(NodeRef, ToBackend)>,
    /// The owner's link went down at this instant and no router took the
    /// branch over yet.
    orphaned: Option<Instant>,
    /// Set aside by the retry limit after its accept vote was given (and
    /// withdrawn with its server): the router may have committed on that
    /// vote, so the backend does not decide it alone. It is presented no
    /// more and waits for the router's outcome: a commit makes it a
    /// committed exception, a rejection drops it (see `set_aside`).
    aside: bool,
}

impl Branch {
    /// No vote of this branch can have reached a router: neither given (or
    /// being made durable) nor withdrawn after being given, and no outcome.
    fn never_voted(&self) -> bool {
        self.committed.is_none()
            && !self.uncertain
            && !self.voted_accept
            && !self.vote_syncing
            && self.voted_reject.is_none()
    }

    fn new(msgs: Vec<Bytes>, router: NodeRef) -> Branch {
        Branch {
            server: None,
            msgs,
            vote_requested: false,
            voted_accept: false,
            uncertain: false,
            committed: None,
            strikes: 0,
            expendable: false,
            forgotten: false,
            router,
            vote_reason: 0,
            voted_reject: None,
            durable_requested: false,
            vote_durable: false,
            vote_syncing: false,
            parked: Vec::new(),
            orphaned: None,
            aside: false,
        }
    }
}

/// How long a branch whose router was lost waits for another router to
/// take it over (the client's frontend drives it again at once when it is
/// alive). After that an unvoted branch is rolled back; a voted one stays
/// in doubt until a router brings its outcome.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(5);

/// A recovered transaction whose vote was durable and whose outcome is not
/// known here.
pub(super) struct InDoubt {
    facility: String,
    msgs: Vec<Bytes>,
    /// The journal it belongs to (0: this node's own).
    jid: u32,
}

/// How many decided transactions a backend remembers, to answer a router
/// that drives one of them again.
const DECIDED_KEPT: usize = 1 << 16;

/// How many servers a transaction may take down before it is rejected and
/// set aside as an exception (RTR's "three strikes").
pub const DEFAULT_RETRY_LIMIT: u32 = 3;

/// A transaction set aside because its servers kept failing on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Exception {
    pub tid: Tid,
    pub facility: String,
    pub part: PartId,
    /// It had committed: its servers still owe it, an operator must resolve it.
    pub committed: bool,
    /// Its outcome is not known yet: its accept vote was given before its
    /// last server was lost, so the router decides (committed is false
    /// until it does). An operator can neither retry nor forget it yet.
    pub undecided: bool,
    pub strikes: u32,
}

impl Exception {
    /// Set aside before the crash (the journal knows no partition: 0).
    fn recovered(t: crate::txrecord::SetAsideTx) -> Exception {
        Exception { tid: t.tid, facility: t.facility, part: 0, committed: true, undecided: false, strikes: t.strikes }
    }
}

/// Records of journal `jid` (0: this node's own) that did not decode: the
/// scan counted them by their kind (`txrecord` notes); the log names them.
fn log_malformed(ctx: &mut Ctx, jid: u32, scan: &Scan) {
    for m in &scan.malformed {
        ctx.log(format!(
            "journal {jid}: record {} ({:?}) of transaction {} does not decode: {}",
            m.at, m.kind, m.tid, m.error
        ));
    }
}

#[derive(Default)]
struct Facility {
    layout: Option<KeyLayout>,
    parts: Vec<PartId>,
}

/// A committed transaction found in the journal at start-up whose messages
/// still wait for a partition to claim them.
struct RecoveredTx {
    tid: Tid,
    /// `None` once claimed by a partition.
    msgs: Vec<Option<Bytes>>,
    reason: u32,
}

/// What still stands between a committed transaction and its `Done` record.
#[derive(Default)]
pub(super) struct Finishing {
    /// Branches committed but not yet acknowledged by a server.
    pub(super) unacked: usize,
    /// Recovered messages not yet claimed by any partition.
    unclaimed: usize,
}

#[derive(Default)]
pub struct Backend {
    pub(super) journal: bool,
    facilities: Map<String, Facility>,
    pub(super) parts: Map<PartId, Partition>,
    pub(super) servers: Map<ChanRef, Server>,
    pub(super) branches: Map<(Tid, PartId), Branch>,
    next_part: PartId,
    next_token: u64,
    /// Commit records on their way to disk: token -> (tid, parts, reason,
    /// the routers to tell when it is durable).
    committing: Map<u64, (Tid, Vec<PartId>, u32, Vec<NodeRef>)>,
    /// The token of each transaction in `committing`.
    committing_tx: Map<Tid, u64>,
    /// Recently decided transactions: (committed, status, reason), oldest first in `decided_order`.
    decided: Map<Tid, (bool, Status, u32)>,
    decided_order: VecDeque<Tid>,
    /// When the earliest orphaned branch's grace ends.
    orphan_deadline: Option<Instant>,
    pub(super) finishing: Map<Tid, Finishing>,
    /// Recovered committed transactions per facility, in commit order.
    recovered: Map<String, Vec<RecoveredTx>>,
    /// Transactions set aside by the retry limit.
    pub(crate) exceptions: Vec<Exception>,
    /// Server role events for the node to raise: (facility, event, channel).
    pub(super) role_events: Vec<(String, i32, ChanRef)>,
    /// Journals taken over from lost nodes: node name -> journal id.
    adopted: Map<String, u32>,
    next_jid: u32,
    /// Recovered transactions that belong to a taken-over journal (their
    /// Done record goes there), and how many each such journal still has.
    adopted_tx: Map<Tid, u32>,
    adopted_open: Map<u32, usize>,
    /// Durable votes being synced: token -> branch.
    vote_tokens: Map<u64, (Tid, PartId)>,
    /// Transactions recovered from a journal with a durable vote and no
    /// outcome: their router decides (asked by inquiry).
    in_doubt: Map<Tid, InDoubt>,
    /// Commit records of in-doubt transactions being made durable.
    resolving: Map<u64, (Tid, InDoubt, u32, NodeRef)>,
    /// Remember decided tids (set while the node has peers).
    pub(super) keep_decided: bool,
    /// Committed work handed off to the range's next active partition
    /// (`roles.rs`), by (tid, partition it was on), until it is durable there.
    handing_off: Map<(Tid, PartId), roles::HandingOff>,
    /// What to do when a lost holder's journal cannot be taken over.
    pub(super) policy: roles::RecoveryPolicy,
    /// Handed-off work being made durable here: token -> unit.
    adopting: Map<u64, roles::Adopting>,
    /// Every transaction with a commit record in this node's journal at
    /// start-up: routers that waited for these commits when the node went
    /// away learn them when they link again.
    restart_committed: Vec<Tid>,
    /// The node started on an existing journal (`recover`).
    restarted: bool,
    /// Routers (by name) told of `restart_committed`.
    restart_told: super::Set<String>,
}

impl Backend {
    pub fn new(journal: bool) -> Backend {
        Backend { journal, ..Backend::default() }
    }

    /// Is this channel an open server channel (its open was accepted)?
    pub fn serves(&self, chan: ChanRef) -> bool {
        self.servers.contains_key(&chan)
    }

    pub fn partitions(&self) -> usize {
        self.parts.len()
    }

    pub fn servers(&self) -> usize {
        self.servers.len()
    }

    /// Rebuild from the journal at start-up, before any channel opens.
    /// Returns the number of committed transactions waiting to be replayed.
    pub fn recover(&mut self, ctx: &mut Ctx, records: &[Record]) -> usize {
        self.restarted = true;
        self.restart_committed = committed_tids(records);
        self.remember_committed(&self.restart_committed.clone());
        self.remember_aborted(&aborted_tids(records));
        let mut scan = scan_records(records);
        log_malformed(ctx, 0, &scan);
        self.keep_in_doubt(ctx, 0, std::mem::take(&mut scan.in_doubt));
        if !scan.release.is_empty() {
            ctx.journal(scan.release, false, None);
        }
        self.exceptions.extend(scan.set_aside.into_iter().map(Exception::recovered));
        let n = scan.replay.len();
        for ReplayTx { tid, facility: fac, msgs, reason, .. } in scan.replay {
            self.finishing.insert(tid, Finishing { unacked: 0, unclaimed: msgs.len() });
            self.recovered.entry(fac).or_default().push(RecoveredTx {
                tid,
                msgs: msgs.into_iter().map(Some).collect(),
                reason,
            });
        }
        n
    }

    pub fn open(&mut self, ctx: &mut Ctx, chan: ChanRef, facility: String, fl: u32, range: KeyRange) {
        let refuse =
            |ctx: &mut Ctx, status| ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Closed, None, status, 0));
        let callout = if fl & flags::ope::TR_CALL_OUT != 0 {
            Callout::Router
        } else if fl & flags::ope::BE_CALL_OUT != 0 {
            Callout::Backend
        } else {
            Callout::No
        };
        if callout != Callout::No {
            return self.open_callout(ctx, chan, facility, callout);
        }
        let noconcurrent = fl & flags::ope::NOCONCURRENT != 0;
        let fac = self.facilities.entry(facility.clone()).or_default();
        let layout = range.layout();
        if fac.parts.is_empty() {
            fac.layout = Some(layout);
        } else if fac.layout.as_ref() != Some(&layout) {
            return refuse(ctx, Status::Keylayout);
        }
        // A named partition: its name stands for one key range in the
        // facility (a server naming it with another range is refused), and
        // a server naming an unnamed partition of its range names it.
        if let Some(name) = range.name() {
            let named = fac.parts.iter().copied().find(|p| {
                self.parts.get(p).is_some_and(|p| p.range.name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            });
            if let Some(id) = named {
                if !self.parts.get(&id).is_some_and(|p| p.range.same_range(&range)) {
                    return refuse(ctx, Status::Keyoverlap);
                }
            }
        }
        let same = fac.parts.iter().copied().find(|p| self.parts.get(p).is_some_and(|p| p.range.same_range(&range)));
        if let (Some(id), Some(name)) = (same, range.name()) {
            if let Some(p) = self.parts.get_mut(&id) {
                match p.range.name() {
                    Some(n) if !n.eq_ignore_ascii_case(name) => return refuse(ctx, Status::Keyoverlap),
                    Some(_) => {}
                    None => p.range = p.range.clone().named(Some(name.to_string())),
                }
            }
        }
        let (part_id, created) = match same {
            Some(id) => {
                let Some(p) = self.parts.get_mut(&id) else {
                    return refuse(ctx, Status::Internal);
                };
                if !p.servers.is_empty() && (noconcurrent || p.noconcurrent) {
                    return refuse(ctx, Status::Noconcurrent);
                }
                if p.servers.is_empty() {
                    p.noconcurrent = noconcurrent;
                }
                (id, false)
            }
            None => {
                if fac.parts.iter().any(|p| self.parts.get(p).is_some_and(|p| p.range.overlaps(&range))) {
                    return refuse(ctx, Status::Keyoverlap);
                }
                self.next_part += 1;
                let id = self.next_part;
                fac.parts.push(id);
                let nostandby = fl & flags::ope::NOSTANDBY != 0;
                self.parts
                    .insert(id, Partition::new(facility.clone(), range.clone(), noconcurrent, nostandby, Callout::No));
                (id, true)
            }
        };
        self.servers.insert(chan, Server { part: part_id, current: None, unacked: Vec::new() });
        if let Some(p) = self.parts.get_mut(&part_id) {
            p.servers.push(chan);
            p.free.push_back(chan);
        }
        ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Opened, None, Status::Ok, 0));
        if created {
            self.claim_recovered(part_id);
            // Known to the routers as waiting; active only under a grant of
            // the role authority.
            self.announce(ctx, part_id);
            self.first_claim(ctx, part_id);
        } else if let Some(p) = self.parts.get(&part_id) {
            let events: &[i32] = match p.role {
                PartRole::Active => &[crate::events::SRPRIMARY, crate::events::SRRECOVERCMPL],
                PartRole::Standby => &[crate::events::SRSTANDBY],
                _ => &[],
            };
            for e in events {
                self.role_events.push((p.facility.clone(), *e, chan));
            }
        }
        self.dispatch(ctx, part_id);
    }

    /// A call-out server: its facility's call-out partition of that kind
    /// on this node (created with the first one; concurrent call-out
    /// servers share it).
    fn open_callout(&mut self, ctx: &mut Ctx, chan: ChanRef, facility: String, callout: Callout) {
        let existing =
            self.parts.iter().find(|(_, p)| p.facility == facility && p.callout == callout).map(|(id, _)| *id);
        let id = match existing {
            Some(id) => id,
            None => {
                self.next_part += 1;
                let id = self.next_part;
                // A call-out has no key range to share: always active.
                let mut p = Partition::new(facility, KeyRange::default(), false, false, callout);
                p.role = PartRole::Active;
                self.parts.insert(id, p);
                id
            }
        };
        self.servers.insert(chan, Server { part: id, current: None, unacked: Vec::new() });
        if let Some(p) = self.parts.get_mut(&id) {
            p.servers.push(chan);
            p.free.push_back(chan);
        }
        ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Opened, None, Status::Ok, 0));
        if existing.is_none() {
            self.announce(ctx, id);
        }
        self.dispatch(ctx, id);
    }

    fn is_callout(&self, part: PartId) -> bool {
        self.parts.get(&part).is_some_and(|p| p.callout != Callout::No)
    }

    /// Tell every linked router of the partition's facility where it stands.
    fn announce(&mut self, ctx: &mut Ctx, part: PartId) {
        let Some(p) = self.parts.get(&part) else { return };
        let Some(up) = self.up_message(part) else { return };
        for r in ctx.topo.routers(&p.facility) {
            ctx.to_router(r, up.clone());
        }
    }

    /// The partition takes transactions now; its servers hear they are primary.
    fn set_active(&mut self, ctx: &mut Ctx, part: PartId) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        if p.callout == Callout::No && p.role != PartRole::Active {
            ctx.output(super::Output::ActivateRole { range: p.grant.rid.clone(), epoch: p.grant.epoch });
        }
        p.role = PartRole::Active;
        for s in p.servers.iter().filter(|_| p.callout == Callout::No) {
            for e in [crate::events::SRPRIMARY, crate::events::SRRECOVERCMPL] {
                self.role_events.push((p.facility.clone(), e, *s));
            }
        }
        self.announce(ctx, part);
        self.dispatch(ctx, part);
    }

    /// An operator's decision: a partition waiting for a lost node's
    /// journal becomes active without it. The routers hear that none of the
    /// commits they waited for on that node was found.
    pub(super) fn ignore_recovery(&mut self, ctx: &mut Ctx, part: PartId) -> Result<String, super::operate::Refusal> {
        let Some(p) = self.parts.get(&part) else { return Err(("NOSUCHPRT", format!("no partition {part}"))) };
        let node = match &p.role {
            PartRole::NoJournal(node, _) | PartRole::Recovering(node) => node.clone(),
            _ => return Err(("NOTRECOVERING", format!("partition {part} is not waiting for a journal"))),
        };
        let facility = p.facility.clone();
        if let Some(p) = self.parts.get_mut(&part) {
            p.grant.recovery_retry_at = None;
        }
        self.set_active(ctx, part);
        for r in ctx.topo.routers(&facility) {
            ctx.to_router(r, ToRouter::TookOver { node: node.clone(), committed: Vec::new(), read: false });
        }
        Ok(format!(
            "partition {facility}:{part} is active without recovering the journal of {node}: its unfinished \
             transactions are not replayed"
        ))
    }

    /// An operator's decision: try the lost node's journal again.
    pub(super) fn restart_recovery(&mut self, ctx: &mut Ctx, part: PartId) -> Result<String, super::operate::Refusal> {
        let Some(p) = self.parts.get_mut(&part) else { return Err(("NOSUCHPRT", format!("no partition {part}"))) };
        let PartRole::NoJournal(node, _) = p.role.clone() else {
            return Err(("NOTRECOVERING", format!("partition {part} is not waiting for a journal")));
        };
        p.role = PartRole::Recovering(node.clone());
        p.grant.recovery_retry_at = None;
        p.grant.recovering_since = Some(ctx.now);
        let facility = p.facility.clone();
        self.next_jid += 1;
        ctx.output(super::Output::Takeover { node: node.clone(), jid: self.next_jid });
        Ok(format!("partition {facility}:{part}: taking over the journal of {node} again"))
    }

    pub(super) fn set_priority(&mut self, ctx: &mut Ctx, part: PartId, list: Vec<String>) {
        if let Some(p) = self.parts.get_mut(&part) {
            p.priority = list;
        }
        self.announce(ctx, part);
    }

    /// The journal of lost node `node` was taken over (or could not be).
    /// Its committed, unfinished transactions are presented to this node's
    /// servers ahead of new work, its undecided ones rolled back; the
    /// partitions that waited for it become active, and the routers learn
    /// which commits it held.
    pub fn takeover_done(&mut self, ctx: &mut Ctx, node: &str, result: Result<(u32, Vec<Record>), String>) {
        let waiting: Vec<PartId> = self
            .parts
            .iter()
            .filter(|(_, p)| p.role == PartRole::Recovering(node.to_string()))
            .map(|(id, _)| *id)
            .collect();
        let (jid, records) = match result {
            Ok(r) => r,
            Err(why) => {
                for id in waiting {
                    self.recovery_failed(ctx, id, node, &why);
                }
                return;
            }
        };
        self.adopted.insert(node.to_string(), jid);
        let committed = self.ingest(ctx, jid, &records);
        let mut facilities: Vec<String> = Vec::new();
        for id in waiting {
            if let Some(p) = self.parts.get(&id) {
                if !facilities.contains(&p.facility) {
                    facilities.push(p.facility.clone());
                }
            }
            self.set_active(ctx, id);
        }
        for f in facilities {
            for r in ctx.topo.routers(&f) {
                let m = ToRouter::TookOver { node: node.to_string(), committed: committed.clone(), read: true };
                ctx.to_router(r, m);
            }
        }
        if self.adopted_open.get(&jid).copied().unwrap_or(0) == 0 {
            self.release_adopted(ctx, jid);
        }
    }

    /// Take in a lost node's journal: undecided transactions are rolled
    /// back there, committed unfinished ones queued for every partition
    /// (existing ones claim them now). Returns every tid with a commit record.
    fn ingest(&mut self, ctx: &mut Ctx, jid: u32, records: &[Record]) -> Vec<Tid> {
        let committed = committed_tids(records);
        self.remember_committed(&committed);
        self.remember_aborted(&aborted_tids(records));
        let mut scan = scan_records(records);
        log_malformed(ctx, jid, &scan);
        self.keep_in_doubt(ctx, jid, std::mem::take(&mut scan.in_doubt));
        if !scan.release.is_empty() {
            ctx.journal_to(jid, scan.release);
        }
        self.exceptions.extend(scan.set_aside.into_iter().map(Exception::recovered));
        let n = scan.replay.len();
        for ReplayTx { tid, facility: fac, msgs, reason, .. } in scan.replay {
            self.finishing.insert(tid, Finishing { unacked: 0, unclaimed: msgs.len() });
            self.adopted_tx.insert(tid, jid);
            self.recovered.entry(fac).or_default().push(RecoveredTx {
                tid,
                msgs: msgs.into_iter().map(Some).collect(),
                reason,
            });
        }
        *self.adopted_open.entry(jid).or_default() += n;
        let parts: Vec<PartId> = self.parts.keys().copied().collect();
        for part in parts {
            self.claim_recovered(part);
            self.dispatch(ctx, part);
        }
        committed
    }

    /// A new partition takes the recovered committed messages whose key it
    /// serves, in commit order, ahead of any new work.
    fn claim_recovered(&mut self, part: PartId) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        if p.callout != Callout::No {
            return; // call-outs write nothing, so nothing of theirs is replayed
        }
        let Some(list) = self.recovered.get_mut(&p.facility) else { return };
        for rtx in list.iter_mut() {
            let mut mine = Vec::new();
            for m in rtx.msgs.iter_mut() {
                if m.as_ref().is_some_and(|d| p.range.contains(d) == Ok(true)) {
                    mine.extend(m.take());
                }
            }
            if mine.is_empty() {
                continue;
            }
            if let Some(f) = self.finishing.get_mut(&rtx.tid) {
                f.unclaimed -= mine.len().min(f.unclaimed);
                f.unacked += 1;
            }
            let mut b = Branch::new(mine, LOCAL);
            b.uncertain = true;
            b.committed = Some((Status::Ok, rtx.reason));
            self.branches.insert((rtx.tid, part), b);
            p.waiting.push_back(rtx.tid);
        }
        list.retain(|r| r.msgs.iter().any(Option::is_some));
    }

    /// A server channel closed (or its process went away).
    pub fn close(&mut self, ctx: &mut Ctx, chan: ChanRef) {
        let Some(srv) = self.servers.remove(&chan) else { return };
        let part_id = srv.part;
        let Some(p) = self.parts.get_mut(&part_id) else { return };
        p.servers.retain(|s| *s != chan);
        p.free.retain(|s| *s != chan);
        let limit = p.retry_limit;
        let facility = p.facility.clone();
        // Committed work the server had not acknowledged: it may or may not
        // have applied it. Present it again, ahead of newer work.
        // (tid, committed, its accept vote was given, strikes)
        let mut struck_out = Vec::new();
        let mut expended = Vec::new();
        for tid in srv.unacked.iter().rev() {
            if let Some(b) = self.branches.get_mut(&(*tid, part_id)) {
                b.server = None;
                b.uncertain = true;
                b.strikes += 1;
                if b.strikes >= limit {
                    struck_out.push((*tid, true, true, b.strikes));
                } else {
                    p.waiting.push_front(*tid);
                }
            }
        }
        if let Some(tid) = srv.current {
            if let Some(b) = self.branches.get_mut(&(tid, part_id)) {
                // A lost server's vote goes with it: its database work was
                // not committed, so the replacement redoes it and votes
                // again. The first message comes as uncertain because the
                // lost server may have applied the work already.
                b.server = None;
                let voted = b.voted_accept;
                if voted {
                    b.uncertain = true;
                    b.voted_accept = false;
                    ctx.to_router(b.router, ToRouter::VoteWithdrawn { tid, part: part_id });
                }
                b.strikes += 1;
                if b.expendable && b.committed.is_none() {
                    expended.push(tid);
                } else if b.strikes >= limit {
                    struck_out.push((tid, b.committed.is_some(), voted, b.strikes));
                } else {
                    p.waiting.push_front(tid);
                }
            }
        }
        for tid in expended {
            if let Some(b) = self.branches.remove(&(tid, part_id)) {
                self.remember(tid, false, Status::Srvdied, 0);
                ctx.to_router(b.router, ToRouter::BranchFailed { tid, part: part_id, status: Status::Srvdied });
                self.replay_parked(ctx, b.parked);
            }
        }
        for (tid, committed, voted, strikes) in struck_out {
            self.set_aside(ctx, tid, part_id, &facility, committed, voted, strikes);
        }
        if self.parts.get(&part_id).is_some_and(|p| p.servers.is_empty()) {
            self.last_server_left(ctx, part_id);
        }
        let Some(p) = self.parts.get(&part_id) else { return };
        if p.servers.is_empty() && p.waiting.is_empty() {
            self.drop_if_empty(ctx, part_id);
        } else {
            // With no server left, waiting branches are held until one
            // returns (or the client's timeout or reject ends them).
            self.dispatch(ctx, part_id);
        }
    }

    /// `RTR_F_REJ_RETRY`: the server gives the transaction back to be
    /// presented again (for example after a deadlock in its database). It
    /// gets `rtr_mt_rejected` with `RTR_STS_DLKTXRES` (rescheduled) for its
    /// branch; the client sees nothing. Each retry counts against the retry
    /// limit, so a transaction cannot bounce for ever.
    fn retry(&mut self, ctx: &mut Ctx, chan: ChanRef, tid: Tid, part: PartId) {
        let Some(p) = self.parts.get(&part) else { return };
        let (limit, facility) = (p.retry_limit, p.facility.clone());
        let Some(b) = self.branches.get_mut(&(tid, part)) else { return };
        b.server = None;
        b.strikes += 1;
        let (strikes, voted) = (b.strikes, b.voted_accept);
        ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Rejected, Some(tid), Status::Dlktxres, 0));
        if let Some(srv) = self.servers.get_mut(&chan) {
            srv.current = None;
        }
        if let Some(p) = self.parts.get_mut(&part) {
            p.free.push_back(chan);
            if strikes < limit {
                p.waiting.push_front(tid);
            }
        }
        if strikes >= limit {
            self.set_aside(ctx, tid, part, &facility, false, voted, strikes);
        }
        self.dispatch(ctx, part);
    }

    /// The retry limit: a transaction whose servers failed `strikes` times
    /// is presented no more. Committed, it stays committed but waits for an
    /// operator. Undecided and never voted for (`voted` false), it is
    /// rejected here: no router can have committed it without this
    /// branch's vote. Undecided after its vote was given (the router may
    /// have committed on it before the withdrawal reached it), the backend
    /// does not decide: it asks the router to reject (`BranchFailed`), and
    /// the branch waits, presented no more, for the router's outcome
    /// ([`Backend::aside_decided`]). The journal keeps an exception record
    /// once the outcome is known, and `rtr show transaction` lists it.
    #[allow(clippy::too_many_arguments)]
    fn set_aside(
        &mut self,
        ctx: &mut Ctx,
        tid: Tid,
        part: PartId,
        facility: &str,
        committed: bool,
        voted: bool,
        strikes: u32,
    ) {
        let undecided = !committed && voted && self.branches.contains_key(&(tid, part));
        if self.journal && !undecided {
            let rec = TxRecord::Exception { status: Status::Retrylimit.code(), strikes, committed };
            ctx.journal(vec![(tid, rec)], false, None);
        }
        self.exceptions.push(Exception { tid, facility: facility.to_string(), part, committed, undecided, strikes });
        if committed {
            // Keep the branch (its messages) for the operator; nothing more
            // will present it, and no Done is written.
            if let Some(b) = self.branches.get_mut(&(tid, part)) {
                b.server = None;
            }
        } else if undecided {
            if let Some(b) = self.branches.get_mut(&(tid, part)) {
                b.server = None;
                b.aside = true;
                ctx.to_router(b.router, ToRouter::BranchFailed { tid, part, status: Status::Retrylimit });
            }
        } else if let Some(b) = self.branches.remove(&(tid, part)) {
            self.remember(tid, false, Status::Retrylimit, 0);
            ctx.to_router(b.router, ToRouter::BranchFailed { tid, part, status: Status::Retrylimit });
            self.replay_parked(ctx, b.parked);
        }
    }

    /// The router's outcome reached a branch set aside undecided
    /// (`set_aside`): the exception is settled, committed (its commit is
    /// durable: the branch stays for the operator, like any committed
    /// exception) or rejected (the caller drops the branch), and the
    /// journal records it.
    fn aside_decided(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId, committed: bool) {
        let Some(e) = self.exceptions.iter_mut().find(|e| e.tid == tid && e.part == part && e.undecided) else {
            return;
        };
        e.undecided = false;
        e.committed = committed;
        let strikes = e.strikes;
        if self.journal {
            let rec = TxRecord::Exception { status: Status::Retrylimit.code(), strikes, committed };
            ctx.journal(vec![(tid, rec)], false, None);
        }
        if let Some(b) = self.branches.get_mut(&(tid, part)) {
            b.aside = false;
            b.server = None;
        }
    }

    /// Requests on server channels.
    pub fn request(&mut self, ctx: &mut Ctx, chan: ChanRef, req: Request) {
        let Some(srv) = self.servers.get_mut(&chan) else { return };
        let part = srv.part;
        let current = srv.current;
        match req {
            Request::Reply { tid, data, .. } if current == Some(tid) => {
                if let Some(b) = self.branches.get(&(tid, part)) {
                    ctx.to_router(b.router, ToRouter::Reply { tid, data });
                }
            }
            Request::Accept { tid, reason, flags: fl, .. } if current == Some(tid) => {
                let forget = fl & flags::acc::FORGET != 0;
                if let Some(b) = self.branches.get_mut(&(tid, part)) {
                    if !b.voted_accept {
                        b.voted_accept = true;
                        b.vote_reason = reason;
                        if self.journal && b.durable_requested {
                            // Given once durable (see `sync_vote`).
                            self.next_token += 1;
                            let token = self.next_token;
                            b.vote_syncing = true;
                            ctx.journal(vec![(tid, TxRecord::Vote { durable: true })], true, Some(token));
                            self.vote_tokens.insert(token, (tid, part));
                        } else {
                            if self.journal {
                                ctx.journal(vec![(tid, TxRecord::Vote { durable: false })], false, None);
                            }
                            b.vote_durable = !self.journal;
                            let durable = b.vote_durable;
                            ctx.to_router(b.router, ToRouter::Vote { tid, part, accept: true, reason, durable });
                        }
                    }
                    if forget {
                        // RTR_F_ACC_FORGET: the server is free for its next
                        // transaction now; the outcome will not be delivered
                        // to it and is not waited for (see `commit`).
                        b.forgotten = true;
                        b.server = None;
                        self.release(chan, tid);
                        self.dispatch(ctx, part);
                    }
                }
            }
            Request::Reject { tid, flags: fl, .. } if current == Some(tid) && fl & flags::rej::RETRY != 0 => {
                self.retry(ctx, chan, tid, part);
            }
            Request::Reject { tid, reason, .. } if current == Some(tid) => {
                if let Some(b) = self.branches.get_mut(&(tid, part)) {
                    b.voted_reject = Some(reason);
                    ctx.to_router(b.router, ToRouter::Vote { tid, part, accept: false, reason, durable: true });
                }
            }
            Request::Ack { tid, .. } => {
                let before = srv.unacked.len();
                srv.unacked.retain(|t| *t != tid);
                if srv.unacked.len() != before {
                    self.branches.remove(&(tid, part));
                    self.acked(ctx, tid);
                }
            }
            _ => {}
        }
    }

    /// A message from the router on node `from`.
    pub fn handle(&mut self, ctx: &mut Ctx, from: NodeRef, m: ToBackend) {
        match m {
            // Delivered by the node itself (`Node::run`).
            ToBackend::Broadcast { .. } => {}
            ToBackend::Holder { part, epoch, linked } => self.holder_notice(ctx, from, part, epoch, linked),
            ToBackend::Superseded { part, epoch } => self.superseded(ctx, part, epoch),
            ToBackend::Refused { part } => self.refused(ctx, part),
            ToBackend::Adopt { part, tid, msgs, reason } => self.adopt(ctx, from, part, tid, msgs, reason),
            ToBackend::HandedOff { tid, part } => self.handed_off(ctx, tid, part),
            ToBackend::Msg { tid, part, index, data, first, flags: fl } => {
                if !self.owned_by(ctx, from, tid, part, || ToBackend::Msg {
                    tid,
                    part,
                    index,
                    data: data.clone(),
                    first,
                    flags: fl,
                }) {
                    return;
                }
                self.message(ctx, from, tid, part, index, data, first, fl)
            }
            ToBackend::VoteRequest { tid, part, durable } => {
                if !self.owned_by(ctx, from, tid, part, || ToBackend::VoteRequest { tid, part, durable }) {
                    return;
                }
                let Some(b) = self.branches.get_mut(&(tid, part)) else {
                    self.answer_decided(ctx, from, tid, part);
                    return;
                };
                if b.committed.is_some() {
                    return self.answer_decided(ctx, from, tid, part);
                }
                b.vote_requested = true;
                b.durable_requested |= durable;
                if b.voted_accept && durable && !b.vote_durable && !b.vote_syncing && self.journal {
                    // Voted before the router knew the transaction spans
                    // several nodes: make the vote durable, then give it again.
                    b.vote_syncing = true;
                    self.next_token += 1;
                    let token = self.next_token;
                    ctx.journal(vec![(tid, TxRecord::Vote { durable: true })], true, Some(token));
                    self.vote_tokens.insert(token, (tid, part));
                    return;
                }
                match (b.server, b.voted_accept, b.voted_reject) {
                    (Some(s), false, None) => ctx.deliver(s.0, prepare(s.1, tid)),
                    // Voted already: the router asks again because it lost
                    // the vote (it drove the transaction again after a link
                    // loss), so it hears it again.
                    (_, true, _) if !b.vote_syncing && (b.vote_durable || !durable) => {
                        let (reason, durable) = (b.vote_reason, b.vote_durable);
                        ctx.to_router(from, ToRouter::Vote { tid, part, accept: true, reason, durable });
                    }
                    (_, _, Some(reason)) => {
                        ctx.to_router(from, ToRouter::Vote { tid, part, accept: false, reason, durable: true })
                    }
                    _ => {}
                }
            }
            ToBackend::Inquire { tid, facility } => self.inquire(ctx, from, tid, facility),
            ToBackend::Outcome { tid, accepted, status, reason, .. } if self.in_doubt.contains_key(&tid) => {
                let Some(d) = self.in_doubt.remove(&tid) else { return };
                if accepted {
                    // Committed elsewhere: committed here too (durably),
                    // then presented to the servers like recovered work.
                    self.next_token += 1;
                    let token = self.next_token;
                    ctx.output(super::Output::Journal {
                        entries: vec![TxRecord::Commit { reason }.entry(tid)],
                        sync: true,
                        token: Some(token),
                        new_tx: false,
                        jid: d.jid,
                    });
                    self.resolving.insert(token, (tid, d, reason, from));
                } else {
                    let rec = vec![(tid, TxRecord::Abort), (tid, TxRecord::Done)];
                    self.close_in_doubt(ctx, d.jid, rec);
                    self.remember(tid, false, status, reason);
                }
            }
            ToBackend::Outcome { tid, mut parts, accepted, status, reason } => {
                if parts.is_empty() {
                    // An answer to this node's own question (a router that
                    // decided it answers an inquiry): it names no branch,
                    // so it is for every branch of `tid` here.
                    parts = self.branches.keys().filter(|(t, _)| *t == tid).map(|(_, p)| *p).collect();
                    parts.sort();
                }
                // Only the owner's outcome counts; a branch owned by another
                // router that is still linked keeps it for later.
                let mut mine = Vec::new();
                for part in parts {
                    let single = || ToBackend::Outcome { tid, parts: vec![part], accepted, status, reason };
                    if self.owned_by(ctx, from, tid, part, single) && self.branches.contains_key(&(tid, part)) {
                        mine.push(part);
                    }
                }
                if let Some(token) = self.committing_tx.get(&tid) {
                    // Its commit is being made durable already (decided by
                    // another router): this router hears when it is.
                    if let Some(c) = self.committing.get_mut(token) {
                        if accepted {
                            c.3.push(from);
                        } else {
                            ctx.log(format!(
                                "router {} rejected {tid}, which is committing here; ignored",
                                ctx.topo.name(from)
                            ));
                        }
                    }
                    return;
                }
                // Branches committed already (by another router's decision).
                let before = mine.len();
                mine.retain(|p| self.branches.get(&(tid, *p)).is_some_and(|b| b.committed.is_none()));
                if mine.is_empty() && before > 0 {
                    if accepted {
                        ctx.to_router(from, ToRouter::Durable { tid });
                    }
                    return;
                }
                if mine.is_empty() {
                    // Nothing of it here any more: decided already.
                    match self.decided.get(&tid) {
                        Some((true, ..)) if accepted => ctx.to_router(from, ToRouter::Durable { tid }),
                        Some((c, ..)) if *c != accepted => ctx.log(format!(
                            "router {} decided {tid} {} but it was {} here; the later decision is ignored",
                            ctx.topo.name(from),
                            if accepted { "committed" } else { "rejected" },
                            if *c { "committed" } else { "rejected" },
                        )),
                        _ => {}
                    }
                    return;
                }
                if !accepted {
                    if self.journal {
                        // Presumed abort: no sync needed.
                        ctx.journal(vec![(tid, TxRecord::Abort), (tid, TxRecord::Done)], false, None);
                    }
                    self.remember(tid, false, status, reason);
                    for part in mine {
                        if self.branches.get(&(tid, part)).is_some_and(|b| b.aside) {
                            self.aside_decided(ctx, tid, part, false);
                        }
                        self.abort_branch(ctx, tid, part, status, reason);
                    }
                } else if self.journal && !mine.iter().all(|p| self.is_callout(*p)) {
                    self.next_token += 1;
                    let token = self.next_token;
                    ctx.journal(vec![(tid, TxRecord::Commit { reason })], true, Some(token));
                    self.committing.insert(token, (tid, mine, reason, vec![from]));
                    self.committing_tx.insert(tid, token);
                } else {
                    self.commit(ctx, tid, mine, reason, &[from]);
                }
            }
        }
    }

    /// May router `from` act on branch (tid, part)? Yes when it owns the
    /// branch, when there is no branch, or when the owner's link is down
    /// (`from` then takes the branch over and gets its vote again). When
    /// the owner is still linked, the message (made by `park`) waits on the
    /// branch until the owner decides or goes.
    fn owned_by(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        tid: Tid,
        part: PartId,
        park: impl FnOnce() -> ToBackend,
    ) -> bool {
        let Some(b) = self.branches.get_mut(&(tid, part)) else { return true };
        if b.router == from {
            return true;
        }
        if ctx.topo.is_up(b.router) && b.committed.is_none() {
            b.parked.push((from, park()));
            return false;
        }
        b.router = from;
        b.orphaned = None;
        if let Some(reason) = b.voted_reject {
            ctx.to_router(from, ToRouter::Vote { tid, part, accept: false, reason, durable: true });
        } else if b.aside {
            // Set aside undecided: the new owner is asked to reject, as the
            // old one was.
            ctx.to_router(from, ToRouter::BranchFailed { tid, part, status: Status::Retrylimit });
        } else if b.voted_accept && b.committed.is_none() && !b.vote_syncing {
            let (reason, durable) = (b.vote_reason, b.vote_durable);
            ctx.to_router(from, ToRouter::Vote { tid, part, accept: true, reason, durable });
        }
        true
    }

    /// A router resolving `tid` asks what this backend knows. Its branches
    /// here become the asker's (once their router's link is gone: until
    /// then the question waits), so the answer is final.
    fn inquire(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, facility: String) {
        if self.in_doubt.contains_key(&tid) {
            ctx.to_router(from, ToRouter::Inquired { tid, parts: Vec::new(), state: TxState::InDoubt });
            return;
        }
        let parts: Vec<PartId> = self
            .facilities
            .get(&facility)
            .map(|f| f.parts.iter().copied().filter(|p| self.branches.contains_key(&(tid, *p))).collect())
            .unwrap_or_default();
        for p in &parts {
            let again = || ToBackend::Inquire { tid, facility: facility.clone() };
            if !self.owned_by(ctx, from, tid, *p, again) {
                return;
            }
        }
        let state = if self.committing_tx.contains_key(&tid) {
            TxState::Committed
        } else if parts.is_empty() {
            match self.decided.get(&tid) {
                Some((true, ..)) => TxState::Committed,
                Some((false, ..)) => TxState::Aborted,
                None => TxState::Unknown,
            }
        } else {
            let bs: Vec<&Branch> = parts.iter().filter_map(|p| self.branches.get(&(tid, *p))).collect();
            if bs.iter().any(|b| b.committed.is_some()) {
                TxState::Committed
            } else if bs.iter().all(|b| b.voted_accept) {
                TxState::InDoubt
            } else {
                TxState::Unvoted
            }
        };
        ctx.to_router(from, ToRouter::Inquired { tid, parts, state });
    }

    /// Keep recovered in-doubt transactions until a router decides them;
    /// the first inquiry goes out at once (or when a router links).
    fn keep_in_doubt(&mut self, ctx: &mut Ctx, jid: u32, list: Vec<InDoubtTx>) {
        if list.is_empty() {
            return;
        }
        if jid != 0 {
            // A taken-over journal stays held until these are settled too.
            *self.adopted_open.entry(jid).or_default() += list.len();
        }
        for InDoubtTx { tid, facility, msgs } in list {
            self.in_doubt.insert(tid, InDoubt { facility, msgs, jid });
        }
        self.orphan_deadline = Some(ctx.now);
    }

    /// Ask a router of each in-doubt transaction's facility to resolve it.
    fn inquire_in_doubt(&mut self, ctx: &mut Ctx) {
        for (tid, d) in &self.in_doubt {
            if let Some(&r) = ctx.topo.routers(&d.facility).first() {
                ctx.to_router(r, ToRouter::Inquire { tid: *tid, facility: d.facility.clone() });
            }
        }
    }

    /// Tell router `to` what became of a transaction it drives again.
    fn answer_decided(&mut self, ctx: &mut Ctx, to: NodeRef, tid: Tid, part: PartId) {
        if let Some(b) = self.branches.get(&(tid, part)) {
            if let Some((status, reason)) = b.committed {
                ctx.to_router(to, ToRouter::Decided { tid, part, committed: true, status, reason });
            }
            return;
        }
        let (committed, status, reason) = match self.decided.get(&tid) {
            Some(d) => *d,
            // Forgotten long ago, or never seen: nothing of it can commit here.
            None => (false, Status::Srvdied, 0),
        };
        ctx.to_router(to, ToRouter::Decided { tid, part, committed, status, reason });
    }

    /// Remember how `tid` ended (bounded: the oldest are forgotten). Only a
    /// router on another node can drive a transaction again, so a node
    /// with no peers keeps nothing (it would cost every transaction).
    /// Transactions a journal (this node's at start-up, or a taken-over
    /// one) holds a commit of: a router that drives one of them again gets
    /// its outcome, not a new presentation (ARCHITECTURE §7.1 rule 3). Kept
    /// whether or not the node has peers yet.
    fn remember_committed(&mut self, tids: &[Tid]) {
        let keep = std::mem::replace(&mut self.keep_decided, true);
        for tid in tids {
            self.remember(*tid, true, Status::Ok, 0);
        }
        self.keep_decided = keep;
    }

    /// Transactions a journal holds rolled back: asked about, they are
    /// "aborted", not "unknown" (a router driving one again must not start
    /// it afresh). Only records already in the journal count: undecided
    /// transactions that recovery itself now presumes aborted are not
    /// remembered, as their router may still place them elsewhere.
    fn remember_aborted(&mut self, tids: &[Tid]) {
        let keep = std::mem::replace(&mut self.keep_decided, true);
        for tid in tids {
            if !self.decided.contains_key(tid) {
                self.remember(*tid, false, Status::Srvdied, 0);
            }
        }
        self.keep_decided = keep;
    }

    fn remember(&mut self, tid: Tid, committed: bool, status: Status, reason: u32) {
        if !self.keep_decided {
            return;
        }
        if self.decided.insert(tid, (committed, status, reason)).is_none() {
            self.decided_order.push_back(tid);
            while self.decided_order.len() > DECIDED_KEPT {
                if let Some(old) = self.decided_order.pop_front() {
                    self.decided.remove(&old);
                }
            }
        }
    }

    /// Handle messages that waited on a branch now decided.
    fn replay_parked(&mut self, ctx: &mut Ctx, parked: Vec<(NodeRef, ToBackend)>) {
        for (from, m) in parked {
            self.handle(ctx, from, m);
        }
    }

    /// A link to peer `id` came up: when it is a router of a facility we
    /// serve, it learns our partitions.
    pub fn router_up(&mut self, ctx: &mut Ctx, id: NodeRef) {
        let me = ctx.topo.facilities.node().to_string();
        let serves_with = ctx
            .topo
            .facilities
            .defs()
            .any(|d| d.roles_of(&me).backend && ctx.topo.peer_plays(id, d.name(), RoleList::Router));
        if self.restarted && serves_with && self.restart_told.insert(ctx.topo.name(id).to_string()) {
            // This node restarted on its journal: a router may still wait
            // for commits it sent to the node's previous life. Told once per
            // router: a commit sent to this life is not in that list, and a
            // router that heard it again later would take it for lost.
            let node = ctx.topo.name(LOCAL).to_string();
            let m = ToRouter::TookOver { node, committed: self.restart_committed.clone(), read: true };
            ctx.to_router(id, m);
        }
        if !self.in_doubt.is_empty() {
            self.inquire_in_doubt(ctx);
        }
        self.resend_handoffs(ctx, id);
        // The new router learns where each partition stands.
        let mut ids: Vec<PartId> = self.parts.keys().copied().collect();
        ids.sort();
        for part in ids {
            if self.parts.get(&part).is_some_and(|p| ctx.topo.peer_plays(id, &p.facility, RoleList::Router)) {
                self.announce(ctx, part);
            }
        }
    }

    /// The link to peer `id` went down. Branches it coordinated wait for
    /// another router: one that already asked takes them over now; the
    /// rest are orphans until one does (see [`ORPHAN_GRACE`]).
    pub fn router_lost(&mut self, ctx: &mut Ctx, id: NodeRef) {
        self.forget_router(id);
        let keys: Vec<(Tid, PartId)> =
            self.branches.iter().filter(|(_, b)| b.router == id && b.committed.is_none()).map(|(k, _)| *k).collect();
        for key in keys {
            let Some(b) = self.branches.get_mut(&key) else { continue };
            if b.parked.is_empty() {
                b.orphaned = Some(ctx.now);
                let due = ctx.now + ORPHAN_GRACE;
                self.orphan_deadline = Some(self.orphan_deadline.map_or(due, |d| d.min(due)));
            } else {
                let parked = std::mem::take(&mut b.parked);
                self.replay_parked(ctx, parked);
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.orphan_deadline, self.next_claim()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Orphans whose grace ended: an unvoted branch is rolled back (no
    /// router can commit it without its vote, and none took it over); for a
    /// voted one, a linked router of its facility is asked to find out what
    /// became of it (again every grace period until one does), its server
    /// held meanwhile.
    pub fn tick(&mut self, ctx: &mut Ctx) {
        self.retry_claims(ctx);
        let Some(due) = self.orphan_deadline else { return };
        if due > ctx.now {
            return;
        }
        self.orphan_deadline = None;
        if !self.in_doubt.is_empty() {
            self.inquire_in_doubt(ctx);
            self.orphan_deadline = Some(ctx.now + ORPHAN_GRACE);
        }
        let mut expired = Vec::new();
        let mut ask: Vec<(Tid, String)> = Vec::new();
        for (key, b) in self.branches.iter_mut() {
            let Some(since) = b.orphaned else { continue };
            if since + ORPHAN_GRACE > ctx.now {
                let d = since + ORPHAN_GRACE;
                self.orphan_deadline = Some(self.orphan_deadline.map_or(d, |x| x.min(d)));
            } else if !b.voted_accept && !b.aside {
                // (A branch set aside after its vote is asked about like a
                // voted one: its router may have committed it.)
                expired.push(*key);
            } else {
                b.orphaned = Some(ctx.now);
                let d = ctx.now + ORPHAN_GRACE;
                self.orphan_deadline = Some(self.orphan_deadline.map_or(d, |x| x.min(d)));
                if let Some(p) = self.parts.get(&key.1) {
                    if !ask.iter().any(|(t, _)| *t == key.0) {
                        ask.push((key.0, p.facility.clone()));
                    }
                }
            }
        }
        for (tid, facility) in ask {
            if let Some(&r) = ctx.topo.routers(&facility).first() {
                ctx.to_router(r, ToRouter::Inquire { tid, facility });
            }
        }
        for (tid, part) in expired {
            if self.journal {
                let recs = vec![(tid, TxRecord::Abort), (tid, TxRecord::Done)];
                ctx.journal(recs, false, None);
            }
            self.remember(tid, false, Status::Routerunavailtmo, 0);
            self.abort_branch(ctx, tid, part, Status::Routerunavailtmo, 0);
        }
    }

    /// A journal write finished (`token`) or failed.
    pub fn journal_done(&mut self, ctx: &mut Ctx, token: u64, result: Result<(), Status>) {
        if self.adopt_written(ctx, token, result) {
            return;
        }
        if let Some((tid, part)) = self.vote_tokens.remove(&token) {
            let Some(b) = self.branches.get_mut(&(tid, part)) else { return };
            b.vote_syncing = false;
            match result {
                Ok(()) => {
                    b.vote_durable = true;
                    let reason = b.vote_reason;
                    ctx.to_router(b.router, ToRouter::Vote { tid, part, accept: true, reason, durable: true });
                }
                Err(status) => ctx.to_router(b.router, ToRouter::BranchFailed { tid, part, status }),
            }
            return;
        }
        if let Some((tid, d, reason, router)) = self.resolving.remove(&token) {
            match result {
                Ok(()) => {
                    self.remember(tid, true, Status::Ok, reason);
                    self.finishing.insert(tid, Finishing { unacked: 0, unclaimed: d.msgs.len() });
                    if d.jid != 0 {
                        // Still counted open in its journal (`keep_in_doubt`).
                        self.adopted_tx.insert(tid, d.jid);
                    }
                    self.recovered.entry(d.facility.clone()).or_default().push(RecoveredTx {
                        tid,
                        msgs: d.msgs.into_iter().map(Some).collect(),
                        reason,
                    });
                    let parts: Vec<PartId> = self.parts.keys().copied().collect();
                    for part in parts {
                        self.claim_recovered(part);
                        self.dispatch(ctx, part);
                    }
                    ctx.to_router(router, ToRouter::Durable { tid });
                }
                Err(status) => {
                    // Still in doubt: asked again later.
                    self.in_doubt.insert(tid, d);
                    ctx.to_router(router, ToRouter::CommitFailed { tid, status });
                }
            }
            return;
        }
        let Some((tid, parts, reason, routers)) = self.committing.remove(&token) else { return };
        self.committing_tx.remove(&tid);
        match result {
            Ok(()) => self.commit(ctx, tid, parts, reason, &routers),
            Err(status) => {
                // The commit is not durable, so it did not happen: recovery
                // would presume abort. Nobody was told otherwise yet.
                self.remember(tid, false, status, 0);
                for part in parts {
                    self.abort_branch(ctx, tid, part, status, 0);
                }
                for r in routers {
                    ctx.to_router(r, ToRouter::CommitFailed { tid, status });
                }
            }
        }
    }

    /// Unsynced journal writes failed: the transactions they belonged to cannot be made durable.
    pub fn journal_failed(&mut self, ctx: &mut Ctx, tids: Vec<Tid>, status: Status) {
        for tid in tids {
            let router = self.branches.iter().find(|((t, _), _)| *t == tid).map_or(LOCAL, |(_, b)| b.router);
            ctx.to_router(router, ToRouter::BranchFailed { tid, part: 0, status });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        tid: Tid,
        part: PartId,
        index: u32,
        data: Bytes,
        first: bool,
        fl: u32,
    ) {
        if let Some(b) = self.branches.get(&(tid, part)) {
            if b.committed.is_some() {
                return self.answer_decided(ctx, from, tid, part);
            }
            if (index as usize) < b.msgs.len() {
                // Driven again through another router: already here.
                return;
            }
        } else if self.decided.contains_key(&tid) {
            return self.answer_decided(ctx, from, tid, part);
        } else if let Some(d) = self.in_doubt.remove(&tid) {
            // In doubt in a journal taken over from a lost node, and driven
            // again by a router that has not decided it: that router placed
            // the lost node's work here afresh (`docs/outcomes.md`), so the
            // old vote no longer counts. It is closed in its journal; the
            // new branch decides.
            ctx.log(format!("{tid}: in doubt from a lost node's journal, driven again here: the new branch decides"));
            self.close_in_doubt(ctx, d.jid, vec![(tid, TxRecord::Done)]);
        }
        let Some(p) = self.parts.get_mut(&part) else {
            ctx.to_router(from, ToRouter::BranchFailed { tid, part, status: Status::Nodstfnd });
            return;
        };
        let existing = self.branches.contains_key(&(tid, part));
        // A partition not active for its range takes no new work (a router
        // that routed here had not heard yet).
        let inactive = p.role != PartRole::Active && p.callout == Callout::No;
        if !existing && (p.servers.is_empty() || inactive) {
            ctx.to_router(from, ToRouter::BranchFailed { tid, part, status: Status::Nodstfnd });
            return;
        }
        // A read-only message changes no database: a replay after a crash
        // need not present it, so it is not journaled; nor is a call-out's.
        if self.journal && fl & flags::sen::READONLY == 0 && p.callout == Callout::No {
            // Appended (in order) before delivery; durable with the commit.
            let rec = vec![(tid, TxRecord::Msg { facility: p.facility.clone(), data: data.clone() })];
            if first {
                ctx.journal_new_tx(rec);
            } else {
                ctx.journal(rec, false, None);
            }
        }
        let expendable = fl & flags::sen::EXPENDABLE != 0;
        if let Some(b) = self.branches.get_mut(&(tid, part)) {
            b.expendable |= expendable;
            b.msgs.push(data.clone());
            if let Some(s) = b.server {
                ctx.deliver(s.0, data_delivery(s.1, MsgType::Msgn, tid, data));
            }
            return;
        }
        let mut b = Branch::new(vec![data], from);
        b.expendable = expendable;
        self.branches.insert((tid, part), b);
        p.waiting.push_back(tid);
        self.dispatch(ctx, part);
    }

    /// The commit is durable (or there is no journal): tell the servers,
    /// then the router (which tells the client).
    fn commit(&mut self, ctx: &mut Ctx, tid: Tid, parts: Vec<PartId>, reason: u32, routers: &[NodeRef]) {
        self.remember(tid, true, Status::Ok, reason);
        let mut n = 0;
        let mut parked = Vec::new();
        let mut aside = Vec::new();
        for part in &parts {
            let callout = self.is_callout(*part);
            let Some(b) = self.branches.get_mut(&(tid, *part)) else { continue };
            parked.append(&mut b.parked);
            if callout {
                // A call-out hears the outcome and owes no acknowledgement:
                // it wrote nothing that a replay would need.
                let server = b.server;
                self.branches.remove(&(tid, *part));
                if let Some(s) = server {
                    ctx.deliver(s.0, status_delivery(s.1, MsgType::Accepted, Some(tid), Status::Ok, reason));
                    self.release(s, tid);
                    self.dispatch(ctx, *part);
                }
                continue;
            }
            if b.forgotten {
                // Its server asked not to hear the outcome: nothing to
                // deliver and no acknowledgement to wait for.
                self.branches.remove(&(tid, *part));
                continue;
            }
            n += 1;
            b.committed = Some((Status::Ok, reason));
            if b.aside {
                // Set aside undecided: now a committed exception, presented
                // no more (it waits for an operator).
                aside.push(*part);
                continue;
            }
            if let Some(s) = b.server {
                self.deliver_commit(ctx, s, tid, reason);
                self.dispatch(ctx, *part);
            }
            // A branch without a server gets its messages and the outcome
            // when one is free (dispatch).
        }
        for part in aside {
            self.aside_decided(ctx, tid, part, true);
        }
        self.finishing.entry(tid).or_default().unacked += n;
        // A branch of a partition whose last server left (and whose grant
        // went to a standby) goes to the range's next active partition.
        for part in &parts {
            let left = self
                .parts
                .get(part)
                .is_some_and(|p| p.role != PartRole::Active && p.callout == Callout::No && p.servers.is_empty());
            if left && self.branches.contains_key(&(tid, *part)) {
                self.hand_off(ctx, tid, *part);
            }
        }
        self.maybe_done(ctx, tid);
        for r in routers {
            ctx.to_router(*r, ToRouter::Durable { tid });
        }
        self.replay_parked(ctx, parked);
    }

    fn deliver_commit(&mut self, ctx: &mut Ctx, s: ChanRef, tid: Tid, reason: u32) {
        ctx.deliver(s.0, status_delivery(s.1, MsgType::Accepted, Some(tid), Status::Ok, reason));
        if let Some(srv) = self.servers.get_mut(&s) {
            srv.unacked.push(tid);
        }
        self.release(s, tid);
    }

    /// Server `s` is done with `tid` for now: it is no longer its current
    /// transaction, and the server is free for the partition's next one.
    /// The caller dispatches.
    fn release(&mut self, s: ChanRef, tid: Tid) {
        let Some(srv) = self.servers.get_mut(&s) else { return };
        if srv.current == Some(tid) {
            srv.current = None;
        }
        if let Some(p) = self.parts.get_mut(&srv.part) {
            p.free.push_back(s);
        }
    }

    fn abort_branch(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId, status: Status, reason: u32) {
        let Some(mut b) = self.branches.remove(&(tid, part)) else { return };
        let parked = std::mem::take(&mut b.parked);
        self.replay_parked(ctx, parked);
        if b.forgotten {
            // Released at its vote; nobody is told.
            return;
        }
        match b.server {
            Some(s) => {
                ctx.deliver(s.0, status_delivery(s.1, MsgType::Rejected, Some(tid), status, reason));
                if let Some(srv) = self.servers.get_mut(&s) {
                    srv.current = None;
                    if let Some(p) = self.parts.get_mut(&srv.part) {
                        p.free.push_back(s);
                    }
                }
                self.dispatch(ctx, part);
            }
            None => {
                if let Some(p) = self.parts.get_mut(&part) {
                    p.waiting.retain(|t| *t != tid);
                }
                self.drop_if_empty(ctx, part);
            }
        }
    }

    /// A server acknowledged a committed branch.
    fn acked(&mut self, ctx: &mut Ctx, tid: Tid) {
        if let Some(f) = self.finishing.get_mut(&tid) {
            f.unacked = f.unacked.saturating_sub(1);
        }
        self.maybe_done(ctx, tid);
    }

    /// Every transaction of taken-over journal `jid` is finished: it is
    /// closed, and its node no longer counts as taken over here (a later
    /// grant over that node must take its journal over again: the node may
    /// have started again with it).
    fn release_adopted(&mut self, ctx: &mut Ctx, jid: u32) {
        self.adopted.retain(|_, j| *j != jid);
        ctx.output(super::Output::Release { jid });
    }

    /// One transaction of taken-over journal `jid` is finished there; the
    /// journal is let go once the last one is.
    fn adopted_closed(&mut self, ctx: &mut Ctx, jid: u32) {
        let left = self.adopted_open.entry(jid).or_default();
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.release_adopted(ctx, jid);
        }
    }

    /// An in-doubt transaction of journal `jid` (0: this node's own) is
    /// settled without a commit here: `records` close it in that journal.
    fn close_in_doubt(&mut self, ctx: &mut Ctx, jid: u32, records: Vec<(Tid, TxRecord)>) {
        if jid != 0 || self.journal {
            ctx.journal_to(jid, records);
        }
        if jid != 0 {
            self.adopted_closed(ctx, jid);
        }
    }

    pub(super) fn maybe_done(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(f) = self.finishing.get(&tid) else { return };
        if f.unacked == 0 && f.unclaimed == 0 {
            self.finishing.remove(&tid);
            if let Some(jid) = self.adopted_tx.remove(&tid) {
                // A taken-over transaction ends in its own journal; the
                // journal is let go once the last one has.
                ctx.journal_to(jid, vec![(tid, TxRecord::Done)]);
                self.adopted_closed(ctx, jid);
            } else if self.journal {
                ctx.journal(vec![(tid, TxRecord::Done)], false, None);
            }
        }
    }

    /// Present waiting branches of a partition to its free servers.
    pub(super) fn dispatch(&mut self, ctx: &mut Ctx, part: PartId) {
        loop {
            let Some(p) = self.parts.get_mut(&part) else { return };
            // Only under the range's grant (a call-out has no range).
            if p.suspended || p.waiting.is_empty() || p.free.is_empty() || p.role != PartRole::Active {
                return;
            }
            let Some(tid) = p.waiting.pop_front() else { return };
            let Some(b) = self.branches.get_mut(&(tid, part)) else {
                continue;
            };
            let Some(s) = p.free.pop_front() else { return };
            b.server = Some(s);
            if let Some(srv) = self.servers.get_mut(&s) {
                srv.current = Some(tid);
            }
            for (i, m) in b.msgs.iter().enumerate() {
                let mt = match (i, b.uncertain) {
                    (0, true) => MsgType::Msg1Uncertain,
                    (0, false) => MsgType::Msg1,
                    _ => MsgType::Msgn,
                };
                ctx.deliver(s.0, data_delivery(s.1, mt, tid, m.clone()));
            }
            if let Some((_, reason)) = b.committed {
                // Decided before this server saw it: replay, then the outcome.
                self.deliver_commit(ctx, s, tid, reason);
                continue;
            }
            if b.vote_requested && !b.voted_accept {
                ctx.deliver(s.0, prepare(s.1, tid));
            }
        }
    }

    fn drop_if_empty(&mut self, ctx: &mut Ctx, part: PartId) {
        let Some(p) = self.parts.get(&part) else { return };
        if p.servers.is_empty() && p.waiting.is_empty() && self.may_drop(ctx, part) {
            let Some(p) = self.parts.get(&part) else { return };
            let facility = p.facility.clone();
            self.parts.remove(&part);
            if let Some(f) = self.facilities.get_mut(&facility) {
                f.parts.retain(|x| *x != part);
            }
            for r in ctx.topo.routers(&facility) {
                ctx.to_router(r, ToRouter::PartitionDown { facility: facility.clone(), part });
            }
        }
    }
}

fn data_delivery(chan: u32, msgtype: MsgType, tid: Tid, data: Bytes) -> Delivery {
    Delivery { chan, msgtype, tid: Some(tid), evtnum: 0, payload: Payload::Data(data) }
}

fn prepare(chan: u32, tid: Tid) -> Delivery {
    Delivery { chan, msgtype: MsgType::Prepare, tid: Some(tid), evtnum: 0, payload: Payload::None }
}
