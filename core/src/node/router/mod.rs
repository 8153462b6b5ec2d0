//! The router role: routes each client message by key to a partition and
//! coordinates two-phase commit over every partition a transaction touched.
//!
//! Decision rule: a transaction commits when the client has accepted and
//! every branch has voted accept; it aborts at the first reject, at its
//! timeout, or when its client goes away before accepting. Once decided it is
//! forgotten here, so a late vote or timer finds nothing and does nothing:
//! a transaction can never be decided twice.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::Map;
use std::time::{Duration, Instant};

use super::{Callout, ChanRef, Ctx, NodeRef, PartId, PartKey, ToBackend, ToFrontend, ToRouter, TxState, LOCAL};
use crate::flags;
use crate::keyseg::{KeyError, KeyRange};
use crate::protocol::Bytes;
use crate::status::Status;
use crate::tid::Tid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VoteState {
    Pending,
    Requested,
    Accepted,
}

pub(super) struct Branch {
    pub(super) part: PartKey,
    pub(super) vote: VoteState,
    /// Messages routed to this branch so far (the next one's index).
    sent: u32,
    /// The accept vote is durable in its backend's journal.
    durable: bool,
    /// The messages routed to this branch, with their `RTR_F_SEN_*` flags:
    /// when its backend node is lost before the outcome, they are driven
    /// again to the key range's next active partition (`docs/outcomes.md`).
    msgs: Vec<(Bytes, u32)>,
}

pub(super) struct Tx {
    pub(super) client: ChanRef,
    /// The client's node (its frontend).
    pub(super) fe: NodeRef,
    pub(super) facility: String,
    pub(super) branches: Vec<Branch>,
    pub(super) client_accepted: bool,
    accept_reason: u32,
    /// The client went away after accepting: finish without telling it.
    client_gone: bool,
    /// When the router saw the transaction start (for `rtr show transaction`).
    pub(super) started: Instant,
    /// The client asked for phase one (`rtr_prepare_tx`): its reason, which
    /// replaces that of its later accept or reject, and whether it was told
    /// that every server voted yes.
    prepare: Option<(u32, bool)>,
    /// Held: a message needed a key range whose active backend is being
    /// replaced (a standby is taking over). This message and the client's
    /// later ones wait here, in order, until the range is active again.
    held: Option<Vec<ToRouter>>,
    /// Driven again by its frontend after its first router was lost: what
    /// the facility's backends know of it, asked before anything of it is
    /// routed (`docs/outcomes.md`).
    probe: Option<Probe>,
    /// When its `rtr_start_tx` timeout ends it (the timer heap may hold
    /// older entries for the same tid: only this one counts).
    deadline: Option<Instant>,
    /// Messages of branches whose backend node was lost before the
    /// outcome, waiting for their key range's next active partition; they
    /// go there before any held client message.
    redrive: Vec<(Bytes, u32)>,
}

/// A partition as this router knows it.
pub(super) struct RPart {
    pub(super) key: PartKey,
    pub(super) range: KeyRange,
    pub(super) active: bool,
    /// Active: the grant it holds. Otherwise the holder's grant as its
    /// backend last heard (0: none).
    pub(super) epoch: u64,
    /// May neither be nor have a standby.
    nostandby: bool,
    /// A call-out partition: never routed to by key.
    callout: Callout,
}

/// A committed transaction waiting for its backends to make it durable.
pub(super) struct Committing {
    pub(super) client: ChanRef,
    pub(super) fe: NodeRef,
    /// The client went away: nobody to tell.
    pub(super) gone: bool,
    facility: String,
    reason: u32,
    /// Backend nodes that have not reported the commit durable yet.
    pending: Vec<NodeRef>,
    /// Backend nodes that have.
    durable: usize,
    /// A backend could not make it durable (and none had).
    failed: Option<Status>,
    /// The committed branches (not call-outs), kept until the client has
    /// its outcome: a branch whose backend node was lost before making the
    /// commit durable is handed to its range's next active partition.
    branches: Vec<CommitBranch>,
    /// Such hand-offs not yet durable at their new partition.
    adopting: usize,
}

/// A branch of a committed transaction, as its router keeps it until the
/// commit is durable everywhere.
pub(super) struct CommitBranch {
    node: NodeRef,
    part: PartId,
    msgs: Vec<Bytes>,
    /// Its vote was durable: a node that takes over the lost node's
    /// journal finds it in doubt and asks for the outcome itself.
    durable: bool,
}

#[derive(Default)]
pub struct Router {
    pub(super) txs: Map<Tid, Tx>,
    /// Partitions per facility, in registration order: active ones take
    /// transactions; the others are standbys (or wait for their role).
    partitions: Map<String, Vec<RPart>>,
    /// RTR events for the node to raise: (facility, event number).
    pub(super) range_events: Vec<(String, i32)>,
    /// Lost backends that commits here still wait for: node -> name (a
    /// standby that takes over its journal names it).
    lost: Map<NodeRef, String>,
    /// The newest grant seen per key range (`crate::authority::range_id`):
    /// its epoch, and its active partition while linked. An active
    /// partition under an older grant is refused (`ToBackend::Superseded`).
    grants: Map<String, RangeGrant>,
    /// Committed work handed off by partitions whose last server left, on
    /// its way to its range's active partition (held while there is none).
    handoffs: Vec<HandOffEntry>,
    /// Committed transactions whose commit the backends are making durable:
    /// the client hears of the commit only after they did.
    pub(super) committing: Map<Tid, Committing>,
    /// Transaction timeouts; entries of finished transactions are skipped when they fire.
    timers: BinaryHeap<Reverse<(Instant, Tid)>>,
    /// Held transactions per facility, in the order they were held.
    held: Map<String, Vec<Tid>>,
    /// In-doubt transactions of a lost router being resolved by asking
    /// every backend of their facility.
    inquiries: Map<Tid, Inquiry>,
    /// Lost backend nodes whose journal another node read (took over): it
    /// answers inquiries for them. By name; forgotten when the node links
    /// again.
    journals_read: Map<String, NodeRef>,
}

/// One unit of handed-off work: a transaction's committed messages from
/// partition `part` of node `origin`.
struct HandOffEntry {
    origin: NodeRef,
    facility: String,
    tid: Tid,
    part: PartId,
    msgs: Vec<Bytes>,
    reason: u32,
    /// The active partition it was sent to (`None`: held).
    to: Option<PartKey>,
    /// This router's own: a committed branch whose node was lost before
    /// the commit was durable there (`origin` is that node); once adopted
    /// it counts as durable for the waiting commit.
    coordinator: bool,
}

/// The newest grant of a key range this router has seen.
struct RangeGrant {
    epoch: u64,
    /// The active partition under it, while its node is linked and it is
    /// up; `None` once lost (standbys that announce themselves hear so).
    holder: Option<PartKey>,
}

/// What the backends said of a transaction driven again through this
/// router, so far.
pub(super) struct Probe {
    /// Backend nodes still to answer.
    waiting: Vec<NodeRef>,
    /// Backend nodes asked so far.
    asked: Vec<NodeRef>,
    /// Backend nodes of the facility not linked here (by name): any may
    /// hold the commit, so the probe waits for each to link and answer (or
    /// for its journal to be read by another, which answers for it).
    missing: Vec<String>,
    /// Answers heard: the probe ends only after at least one (a probe that
    /// could ask nobody waits for a backend node to link).
    answered: usize,
    /// Some backend holds it committed (or committing).
    committed: bool,
    /// Some backend rolled its branch back.
    aborted: bool,
    /// The client's `rtr_start_tx` timeout, armed once the probe ends.
    timeout_ms: Option<u32>,
}

/// One resolution in progress: the backends still to answer, and the answers.
struct Inquiry {
    facility: String,
    waiting: Vec<NodeRef>,
    /// Backend nodes of the facility not linked here (by name): any of
    /// them may hold the commit, so the resolution waits until each links
    /// and answers, or someone reads its journal (`TookOver`).
    missing: Vec<String>,
    answers: Vec<(NodeRef, Vec<PartId>, TxState)>,
}

impl Router {
    /// Active partitions registered for a facility.
    pub fn partition_count(&self, facility: &str) -> usize {
        self.partitions.get(facility).map_or(0, |v| v.iter().filter(|p| p.active && p.callout == Callout::No).count())
    }

    pub fn active(&self) -> usize {
        self.txs.len()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    pub fn tick(&mut self, ctx: &mut Ctx) {
        while let Some(Reverse((when, tid))) = self.timers.peek().copied() {
            if when > ctx.now {
                break;
            }
            self.timers.pop();
            // Only this life's own timer: the tid may have ended here and
            // come back (driven again), with a timer of its own.
            if self.txs.get(&tid).is_some_and(|tx| tx.deadline == Some(when)) {
                self.abort(ctx, tid, Status::Timout, 0);
            }
        }
    }

    /// A message from a role on node `from` (this node: [`super::LOCAL`]).
    pub fn handle(&mut self, ctx: &mut Ctx, from: NodeRef, m: ToRouter) {
        let Some(m) = self.hold(m) else { return };
        match m {
            ToRouter::Start { tid, facility, client, timeout_ms, redrive } => {
                self.start(ctx, from, tid, facility, client, timeout_ms, redrive)
            }
            ToRouter::Send { tid, facility: _, client, data, flags: fl } => self.send(ctx, from, tid, client, data, fl),
            ToRouter::ClientAccept { tid, reason } => self.client_accept(ctx, tid, reason),
            ToRouter::ClientPrepare { tid, reason } => self.client_prepare(ctx, tid, reason),
            ToRouter::ClientAbort { tid, status, reason, gone } => self.client_abort(ctx, tid, status, reason, gone),
            ToRouter::Reply { tid, data } => self.reply(ctx, tid, data),
            ToRouter::Vote { tid, part, accept, reason, durable } => {
                self.vote(ctx, tid, (from, part), accept, reason, durable)
            }
            ToRouter::VoteWithdrawn { tid, part } => self.vote_withdrawn(tid, (from, part)),
            ToRouter::Moved { tid, part } => self.moved(ctx, tid, (from, part)),
            ToRouter::BranchFailed { tid, status, .. } => {
                if self.txs.contains_key(&tid) {
                    self.abort(ctx, tid, status, 0);
                }
            }
            ToRouter::Durable { tid } => self.durable(ctx, from, tid),
            ToRouter::CommitFailed { tid, status } => self.commit_failed(ctx, from, tid, status),
            ToRouter::PartitionUp { facility, part, range, active, epoch, priority, nostandby, callout } => {
                // The priority list orders standbys' claims on their nodes.
                let _ = priority;
                self.partition_up(ctx, facility, (from, part), range, active, epoch, nostandby, callout);
            }
            ToRouter::PartitionDown { facility, part } => self.partition_down(ctx, &facility, (from, part)),
            ToRouter::Broadcast { facility, evtnum, rcpspc, data, to_servers } => {
                self.broadcast(ctx, from, facility, evtnum, rcpspc, data, to_servers)
            }
            ToRouter::HandOff { facility, tid, part, msgs, reason } => {
                self.hand_off(ctx, from, facility, tid, part, msgs, reason)
            }
            ToRouter::Adopted { tid, part } => self.adopted(ctx, tid, (from, part)),
            ToRouter::TookOver { node, committed, read } => self.took_over(ctx, from, &node, &committed, read),
            ToRouter::Inquire { tid, facility } => self.inquire(ctx, from, tid, facility),
            ToRouter::Inquired { tid, parts, state } => self.inquired(ctx, from, tid, parts, state),
            ToRouter::Decided { tid, committed, status, reason, .. } => {
                self.decided(ctx, from, tid, committed, status, reason)
            }
        }
    }

    /// The client's messages for a held transaction wait behind the held
    /// one; while the backends are probed, its reject waits too (it ends
    /// the transaction only once this router knows its branches). `None`:
    /// `m` was held.
    fn hold(&mut self, m: ToRouter) -> Option<ToRouter> {
        if let ToRouter::Send { tid, .. }
        | ToRouter::ClientAccept { tid, .. }
        | ToRouter::ClientPrepare { tid, .. }
        | ToRouter::ClientAbort { tid, gone: false, .. } = &m
        {
            let reject = matches!(m, ToRouter::ClientAbort { .. });
            if let Some(tx) = self.txs.get_mut(tid).filter(|tx| !reject || tx.probe.is_some()) {
                if let Some(held) = tx.held.as_mut() {
                    held.push(m);
                    return None;
                }
            }
        }
        Some(m)
    }

    /// A transaction starts, or is driven again (`redrive`) by a frontend
    /// whose router was lost or whose link to this one broke.
    #[allow(clippy::too_many_arguments)]
    fn start(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        tid: Tid,
        facility: String,
        client: ChanRef,
        timeout_ms: Option<u32>,
        redrive: bool,
    ) {
        if let (true, Some(c)) = (redrive, self.committing.get_mut(&tid)) {
            // Decided here, committed, waiting for its backends:
            // the client hears it over its new link.
            c.fe = from;
            c.client = client;
            c.gone = false;
            return;
        }
        if redrive && !self.txs.contains_key(&tid) {
            return self.probe(ctx, tid, facility, client, from, timeout_ms);
        }
        let tx = self.begin(ctx.now, tid, facility, client, from);
        if let (Some(ms), false, None) = (timeout_ms, redrive, tx.deadline) {
            let at = ctx.now + Duration::from_millis(u64::from(ms));
            tx.deadline = Some(at);
            self.timers.push(Reverse((at, tid)));
        }
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        if redrive {
            // Driven again by a frontend whose link to this router
            // broke: the transaction is still here, its client
            // taken for gone when that link went down. It is that
            // client's again, reached over the new link.
            tx.fe = from;
            tx.client = client;
            tx.client_gone = false;
        }
    }

    /// A client's message: routed by key to its partition (held while
    /// only a standby serves the key).
    fn send(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, client: ChanRef, data: Bytes, fl: u32) {
        let accept = fl & flags::sen::ACCEPT != 0;
        // Transactions start with `Start` only (frontends send one
        // before the first message, explicit start or not). A send
        // for a tid this router does not know belongs to a
        // transaction it already ended: starting the tid again
        // would give it a second outcome.
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        if tx.client_accepted {
            return;
        }
        let fac = tx.facility.clone();
        let routed = route(self.partitions.get(&fac), &data);
        let part = match routed {
            Ok(p) => p,
            // No active partition for the key, but a standby serves
            // it: its active one was lost and it is (or will be)
            // taking over. RTR holds new work meanwhile.
            Err(Status::Nodstfnd) if standby_covers(self.partitions.get(&fac), &data) => {
                if let Some(tx) = self.txs.get_mut(&tid) {
                    tx.held = Some(vec![ToRouter::Send { tid, facility: fac.clone(), client, data, flags: fl }]);
                }
                self.held.entry(fac).or_default().push(tid);
                return;
            }
            // Undeliverable: given back to the client, who decides;
            // the transaction goes on.
            Err(_) if fl & flags::sen::RETURN_TO_SENDER != 0 => {
                ctx.to_frontend(from, ToFrontend::Returned { tid, client, data });
                if accept {
                    self.client_accept(ctx, tid, 0);
                }
                return;
            }
            Err(status) => {
                self.abort(ctx, tid, status, 0);
                return;
            }
        };
        self.route_message(ctx, tid, part, &data, fl, false);
        if accept {
            self.client_accept(ctx, tid, 0);
        }
    }

    /// `rtr_prepare_tx`: every branch is asked for its vote.
    fn client_prepare(&mut self, ctx: &mut Ctx, tid: Tid, reason: u32) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        if tx.client_accepted || tx.prepare.is_some() {
            return;
        }
        tx.prepare = Some((reason, false));
        let durable = spans_nodes(tx);
        for b in tx.branches.iter_mut().filter(|b| b.vote == VoteState::Pending) {
            b.vote = VoteState::Requested;
            ctx.to_backend(b.part.0, ToBackend::VoteRequest { tid, part: b.part.1, durable });
        }
        self.try_prepared(ctx, tid);
    }

    /// The client rejects the transaction, or went away (`gone`).
    fn client_abort(&mut self, ctx: &mut Ctx, tid: Tid, status: Status, reason: u32, gone: bool) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        if gone && tx.probe.is_some() {
            // Its client's node went while the backends are asked:
            // the probe still decides (a commit found stays one);
            // see `probed`.
            tx.client_gone = true;
            return;
        }
        if gone && tx.client_accepted {
            // RTR finishes a transaction whose client already voted.
            tx.client_gone = true;
        } else if let Some((prepare_reason, _)) = tx.prepare {
            // After rtr_prepare_tx the prepare's reason stands; a
            // client gone then leaves the transaction unresolved in
            // RTR (its foreign TM decides); here it is rejected, with
            // the status that says so.
            let status = if gone { Status::Reqdiedprep } else { status };
            self.abort(ctx, tid, status, prepare_reason);
        } else {
            self.abort(ctx, tid, status, reason);
        }
    }

    /// A server's reply goes to the client (if it is still there).
    fn reply(&mut self, ctx: &mut Ctx, tid: Tid, data: Bytes) {
        if let Some(tx) = self.txs.get(&tid) {
            if !tx.client_gone {
                ctx.to_frontend(tx.fe, ToFrontend::Reply { tid, client: tx.client, data });
            }
        }
    }

    /// Branch `key` of `tid` votes.
    fn vote(&mut self, ctx: &mut Ctx, tid: Tid, key: PartKey, accept: bool, reason: u32, durable: bool) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        if !tx.branches.iter().any(|b| b.part == key) {
            // A branch this router took over (by driving the
            // transaction again, or asking about it) gives its vote
            // again: it is one of this transaction's branches now,
            // and hears its outcome.
            let b = Branch { part: key, vote: VoteState::Pending, sent: 0, durable: false, msgs: Vec::new() };
            tx.branches.push(b);
        }
        if !accept {
            self.abort(ctx, tid, Status::Rejected, reason);
            return;
        }
        if let Some(b) = tx.branches.iter_mut().find(|b| b.part == key) {
            b.vote = VoteState::Accepted;
            b.durable = durable;
        }
        self.try_prepared(ctx, tid);
        self.try_commit(ctx, tid);
    }

    /// Branch `key` of `tid` lost the server that voted (its vote stands no
    /// more).
    fn vote_withdrawn(&mut self, tid: Tid, key: PartKey) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        let requested = tx.client_accepted;
        if let Some(b) = tx.branches.iter_mut().find(|b| b.part == key) {
            b.durable = false;
            if b.vote == VoteState::Accepted {
                // The backend asks the replacement server itself
                // (with rtr_mt_prepare when the vote was requested).
                b.vote = if requested { VoteState::Requested } else { VoteState::Pending };
            }
        }
    }

    /// A broadcast goes to every node of the other role but the sender's
    /// (which delivered to its own channels already).
    #[allow(clippy::too_many_arguments)]
    fn broadcast(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        facility: String,
        evtnum: i32,
        rcpspc: String,
        data: Bytes,
        to_servers: bool,
    ) {
        let nodes: Vec<NodeRef> = if to_servers {
            let mut v: Vec<NodeRef> = Vec::new();
            for p in self.partitions.get(&facility).into_iter().flatten() {
                if !v.contains(&p.key.0) {
                    v.push(p.key.0);
                }
            }
            v
        } else {
            ctx.topo.reachable(&facility, crate::facility::RoleList::Frontend)
        };
        for n in nodes.into_iter().filter(|n| *n != from) {
            let (facility, rcpspc, data) = (facility.clone(), rcpspc.clone(), data.clone());
            if to_servers {
                ctx.to_backend(n, ToBackend::Broadcast { facility, evtnum, rcpspc, data });
            } else {
                ctx.to_frontend(n, ToFrontend::Broadcast { facility, evtnum, rcpspc, data });
            }
        }
    }

    /// The backend partition `key` of `facility` went.
    fn partition_down(&mut self, ctx: &mut Ctx, facility: &str, key: PartKey) {
        if let Some(gone) = self.remove_partition(facility, key) {
            self.holder_lost(ctx, facility, &gone);
        }
        self.release_held(ctx, facility);
    }

    /// Committed work of a partition whose last server left. Sent to every
    /// router of the facility, and again to a router that links: one entry
    /// per unit here.
    #[allow(clippy::too_many_arguments)]
    fn hand_off(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        facility: String,
        tid: Tid,
        part: PartId,
        msgs: Vec<Bytes>,
        reason: u32,
    ) {
        if !self.handoffs.iter().any(|h| h.origin == from && h.tid == tid && h.part == part) {
            self.handoffs.push(HandOffEntry {
                origin: from,
                facility: facility.clone(),
                tid,
                part,
                msgs,
                reason,
                to: None,
                coordinator: false,
            });
            self.route_handoffs(ctx, &facility);
        }
    }

    /// Partition `key` made a hand-off of `tid` durable.
    fn adopted(&mut self, ctx: &mut Ctx, tid: Tid, key: PartKey) {
        if let Some(i) = self.handoffs.iter().position(|h| h.tid == tid && h.to == Some(key)) {
            let h = self.handoffs.remove(i);
            if !h.coordinator {
                ctx.to_backend(h.origin, ToBackend::HandedOff { tid, part: h.part });
            } else if let Some(c) = self.committing.get_mut(&tid) {
                // The lost node's branch is durable at its range's
                // new active partition.
                c.adopting = c.adopting.saturating_sub(1);
                c.durable += 1;
                if c.pending.is_empty() && c.adopting == 0 {
                    self.settle(ctx, tid);
                }
            }
        }
    }

    /// Backend node `from` made the commit of `tid` durable.
    fn durable(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid) {
        let Some(c) = self.committing.get_mut(&tid) else { return };
        c.pending.retain(|n| *n != from);
        c.durable += 1;
        if !c.pending.is_empty() {
            return;
        }
        let Some(c) = self.committing.remove(&tid) else { return };
        if !c.gone {
            ctx.to_frontend(
                c.fe,
                ToFrontend::Outcome { tid, client: c.client, accepted: true, status: Status::Ok, reason: c.reason },
            );
        }
    }

    /// The commit could not be made durable on `from`. Once every other
    /// backend answered: when none made it durable either, it did not
    /// happen anywhere and the client hears the failure; otherwise the
    /// transaction is committed (`from` stopped, as a journal failure stops
    /// a node, and its recovery finds its vote in doubt and asks). Until
    /// then nothing is said: another backend may still commit it.
    fn commit_failed(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, status: Status) {
        let Some(c) = self.committing.get_mut(&tid) else { return };
        c.pending.retain(|n| *n != from);
        c.failed.get_or_insert(status);
        if c.pending.is_empty() && c.adopting == 0 {
            self.settle(ctx, tid);
        }
    }

    /// A backend asks (in doubt) what became of `tid`.
    fn inquire(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, facility: String) {
        if let Some(c) = self.committing.get_mut(&tid) {
            // Decided here: commit. The asker (a backend that
            // restarted, in doubt) stands in for its lost self.
            let name = ctx.topo.name(from).to_string();
            let lost: Vec<NodeRef> = self.lost.iter().filter(|(_, n)| **n == name).map(|(r, _)| *r).collect();
            for n in c.pending.iter_mut() {
                if lost.contains(n) {
                    *n = from;
                }
            }
            let reason = c.reason;
            let outcome = ToBackend::Outcome { tid, parts: Vec::new(), accepted: true, status: Status::Ok, reason };
            ctx.to_backend(from, outcome);
            return;
        }
        // Already known here (driven again, or being resolved): it
        // will end on its own.
        if self.txs.contains_key(&tid) || self.inquiries.contains_key(&tid) {
            return;
        }
        // Every backend node of the facility: "nobody committed it"
        // may be concluded only when each has answered.
        let mut nodes: Vec<NodeRef> = ctx.topo.reachable(&facility, crate::facility::RoleList::Backend);
        for p in self.partitions.get(&facility).map(Vec::as_slice).unwrap_or_default() {
            if !nodes.contains(&p.key.0) {
                nodes.push(p.key.0);
            }
        }
        if !nodes.contains(&from) {
            nodes.push(from);
        }
        // A lost node whose journal was taken over is answered for
        // by the node that read it.
        let missing = self.unreachable_backends(ctx, &facility, &mut nodes);
        for n in &nodes {
            ctx.to_backend(*n, ToBackend::Inquire { tid, facility: facility.clone() });
        }
        self.inquiries.insert(tid, Inquiry { facility, waiting: nodes, missing, answers: Vec::new() });
    }

    /// Backend node `from` says what it knows of `tid`: an answer to a
    /// probe, or to an inquiry.
    fn inquired(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, parts: Vec<PartId>, state: TxState) {
        if self.txs.get(&tid).and_then(|tx| tx.probe.as_ref()).is_some_and(|p| p.waiting.contains(&from)) {
            return self.probed(ctx, tid, from, Some(state));
        }
        let Some(q) = self.inquiries.get_mut(&tid) else { return };
        q.waiting.retain(|n| *n != from);
        q.answers.push((from, parts, state));
        if q.waiting.is_empty() && q.missing.is_empty() {
            self.resolve(ctx, tid);
        }
    }

    /// Another router decided this (re-driven) transaction and a backend
    /// already applied its decision: follow it.
    fn decided(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, committed: bool, status: Status, reason: u32) {
        if self.txs.contains_key(&tid) {
            self.finish(ctx, tid, committed, status, reason);
        } else if committed && self.committing.contains_key(&tid) {
            // Already committing here: that backend holds it committed.
            self.durable(ctx, from, tid);
        }
    }

    /// Send one message of `tid` to partition `part` and to the call-outs
    /// that see it: the router call-outs of this node and the backend
    /// call-outs of the partition's node; each is a branch that votes. A
    /// message driven again after its backend node was lost (`redrive`)
    /// goes to the new node's backend call-outs only (this node's router
    /// call-outs saw it already).
    fn route_message(&mut self, ctx: &mut Ctx, tid: Tid, part: PartKey, data: &Bytes, fl: u32, redrive: bool) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        send_to_branch(ctx, tx, tid, part, data, fl, !redrive);
        for p in self.partitions.get(&tx.facility).into_iter().flatten() {
            let here = match p.callout {
                Callout::No => false,
                Callout::Router => p.key.0 == LOCAL && !redrive,
                Callout::Backend => p.key.0 == part.0,
            };
            if here && p.active {
                send_to_branch(ctx, tx, tid, p.key, data, fl, !redrive);
            }
        }
    }

    /// A backend's partition says where it stands. An active one under a
    /// grant older than the newest this router saw is refused
    /// (`Superseded`) and not routed to; one under a newer grant replaces
    /// the range's active partition (which is told so) and its standbys
    /// hear that the holder is linked. A standby hears whether the range's
    /// holder is lost here, and is refused when the active partition
    /// allows no standby.
    #[allow(clippy::too_many_arguments)]
    fn partition_up(
        &mut self,
        ctx: &mut Ctx,
        facility: String,
        key: PartKey,
        range: KeyRange,
        active: bool,
        epoch: u64,
        nostandby: bool,
        callout: Callout,
    ) {
        self.probe_newcomer(ctx, key.0, &facility);
        self.inquire_newcomer(ctx, key.0);
        self.resend_commits(ctx, key.0);
        let before = self.partition_count(&facility);
        let v = self.partitions.entry(facility.clone()).or_default();
        let was_active = v.iter().any(|p| p.key == key && p.active);
        v.retain(|p| p.key != key);
        if callout != Callout::No {
            // Call-outs have no key range to share: always active.
            v.push(RPart { key, range, active, epoch, nostandby, callout });
            return;
        }
        let rid = crate::authority::range_id(&facility, &range);
        let mut active = active;
        if active {
            let newest = self.grants.get(&rid).map_or(0, |g| g.epoch);
            if epoch < newest {
                ctx.to_backend(key.0, ToBackend::Superseded { part: key.1, epoch: newest });
                active = false;
            } else {
                self.grants.insert(rid, RangeGrant { epoch, holder: Some(key) });
                for q in v.iter_mut().filter(|q| q.range.same_range(&range)) {
                    if q.active {
                        // Active under an older grant: no longer routed to.
                        q.active = false;
                        ctx.to_backend(q.key.0, ToBackend::Superseded { part: q.key.1, epoch });
                    } else {
                        ctx.to_backend(q.key.0, ToBackend::Holder { part: q.key.1, epoch, linked: true });
                    }
                }
            }
        } else {
            if let Some(g) = self.grants.get(&rid).filter(|g| g.holder.is_none() && g.epoch >= epoch) {
                ctx.to_backend(key.0, ToBackend::Holder { part: key.1, epoch: g.epoch, linked: false });
            }
            // An active partition of the range is linked here: the newcomer
            // hears so (one deferring its claim claims now, as a standby).
            if let Some(h) = v.iter().find(|q| q.active && q.range.same_range(&range) && q.key.0 != key.0) {
                ctx.to_backend(key.0, ToBackend::Holder { part: key.1, epoch: h.epoch, linked: true });
            }
            if v.iter().any(|q| q.active && q.nostandby && q.range.same_range(&range) && q.key.0 != key.0) {
                ctx.to_backend(key.0, ToBackend::Refused { part: key.1 });
            }
        }
        v.push(RPart { key, range: range.clone(), active, epoch, nostandby, callout });
        if active && !was_active {
            self.range_events.push((facility.clone(), crate::events::KEYRANGEGAIN));
            if before == 0 {
                self.range_events.push((facility.clone(), crate::events::FACREADY));
            }
            self.route_handoffs(ctx, &facility);
            self.release_held(ctx, &facility);
        } else if !active && was_active {
            self.range_lost(&facility);
            // It gave its grant up (its last server left): its standbys claim.
            let gone = RPart { key, range: range.clone(), active: true, epoch, nostandby, callout };
            self.holder_lost(ctx, &facility, &gone);
        }
    }

    /// Send held hand-offs of `facility` to the active partition of their
    /// key range, if it has one now.
    fn route_handoffs(&mut self, ctx: &mut Ctx, facility: &str) {
        let parts = self.partitions.get(facility);
        for h in self.handoffs.iter_mut().filter(|h| h.to.is_none() && h.facility == facility) {
            let Some(first) = h.msgs.first() else { continue };
            if let Ok(key) = route(parts, first) {
                h.to = Some(key);
                let adopt = ToBackend::Adopt { part: key.1, tid: h.tid, msgs: h.msgs.clone(), reason: h.reason };
                ctx.to_backend(key.0, adopt);
            }
        }
    }

    /// The active partition `gone` is no longer here (its node's link
    /// went, or it went): the range's standbys hear its holder is lost, so
    /// they claim the grant (by force once a majority of routers say so).
    fn holder_lost(&mut self, ctx: &mut Ctx, facility: &str, gone: &RPart) {
        if !gone.active || gone.callout != Callout::No {
            return;
        }
        let rid = crate::authority::range_id(facility, &gone.range);
        if let Some(g) = self.grants.get_mut(&rid).filter(|g| g.holder == Some(gone.key)) {
            g.holder = None;
        }
        for q in self.partitions.get(facility).into_iter().flatten() {
            if q.range.same_range(&gone.range) && !q.active && q.key.0 != gone.key.0 {
                ctx.to_backend(q.key.0, ToBackend::Holder { part: q.key.1, epoch: gone.epoch, linked: false });
            }
        }
    }

    fn range_lost(&mut self, facility: &str) {
        self.range_events.push((facility.to_string(), crate::events::KEYRANGELOSS));
        if self.partition_count(facility) == 0 {
            self.range_events.push((facility.to_string(), crate::events::FACDEAD));
        }
    }

    fn remove_partition(&mut self, facility: &str, key: PartKey) -> Option<RPart> {
        let v = self.partitions.get_mut(facility)?;
        let i = v.iter().position(|p| p.key == key)?;
        let p = v.remove(i);
        if p.active && p.callout == Callout::No {
            self.range_lost(facility);
        }
        Some(p)
    }

    /// A key range of `facility` became active (or a partition went):
    /// held transactions go on, in the order they were held (those whose
    /// key still has only a standby are held again; those with no partition
    /// left are rejected).
    fn release_held(&mut self, ctx: &mut Ctx, facility: &str) {
        let Some(tids) = self.held.remove(facility) else { return };
        for tid in tids {
            if !self.redrive(ctx, tid) {
                continue;
            }
            let Some(tx) = self.txs.get_mut(&tid) else { continue };
            let Some(msgs) = tx.held.take() else { continue };
            let fe = tx.fe;
            for m in msgs {
                self.handle(ctx, fe, m);
            }
        }
    }

    /// Branch `key` of `tid` was dropped by its backend before it voted
    /// (its partition gave up the key range): its messages wait for the
    /// range's next active partition.
    fn moved(&mut self, ctx: &mut Ctx, tid: Tid, key: PartKey) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        let Some(i) = tx.branches.iter().position(|b| b.part == key) else { return };
        let mut b = tx.branches.remove(i);
        tx.redrive.append(&mut b.msgs);
        if self.redrive(ctx, tid) {
            // Client messages held meanwhile (none unless it was held
            // already) go on behind the work driven again.
            let facility = self.txs.get(&tid).map(|tx| tx.facility.clone()).unwrap_or_default();
            self.release_held(ctx, &facility);
        }
    }

    /// Drive the lost branches' messages of held transaction `tid` to their
    /// key ranges' active partitions, then ask for the votes the
    /// transaction now needs. False when it must wait on (a range has only
    /// a standby yet: held again) or ended (a range has no partition left:
    /// rejected, `RTR_STS_SRVDIED`, as no server can take its work).
    fn redrive(&mut self, ctx: &mut Ctx, tid: Tid) -> bool {
        let Some(tx) = self.txs.get_mut(&tid) else { return false };
        if tx.redrive.is_empty() {
            return true;
        }
        let fac = tx.facility.clone();
        let parts = self.partitions.get(&fac);
        let mut targets = Vec::new();
        for (data, _) in &tx.redrive {
            match route(parts, data) {
                Ok(part) => targets.push(part),
                Err(Status::Nodstfnd) if standby_covers(parts, data) => {
                    // Client messages that come meanwhile wait behind it.
                    tx.held.get_or_insert_with(Vec::new);
                    let held = self.held.entry(fac).or_default();
                    if !held.contains(&tid) {
                        held.push(tid);
                    }
                    return false;
                }
                Err(_) => {
                    self.abort(ctx, tid, Status::Srvdied, 0);
                    return false;
                }
            }
        }
        let msgs = std::mem::take(&mut tx.redrive);
        for ((data, fl), part) in msgs.into_iter().zip(targets) {
            self.route_message(ctx, tid, part, &data, fl, true);
        }
        let Some(tx) = self.txs.get(&tid) else { return false };
        if tx.client_accepted || tx.prepare.is_some() {
            self.request_votes(ctx, tid);
        }
        true
    }

    /// Node `took` read the journal of lost backend node `node` (it took it
    /// over, or it is `node` itself, restarted): `committed` lists every
    /// commit that journal holds. For each commit of this router that
    /// waited on `node`: listed, it is durable there (and `took` finishes
    /// it). Not listed and `read`, it never reached that journal, so the
    /// lost node's branches are placed again, committed: a branch whose
    /// vote was durable is in doubt at `took`, which is told the outcome
    /// now; the others are handed to their range's active partition to be
    /// made durable and presented (uncertain, then the commit). Not `read`
    /// (an operator went on without that journal): nothing is known of
    /// them, and they wait (a client hears nothing false) until the lost
    /// node starts again on its journal and reports it.
    fn took_over(&mut self, ctx: &mut Ctx, took: NodeRef, node: &str, committed: &[Tid], read: bool) {
        if read {
            if ctx.topo.name(took) != node {
                self.journals_read.insert(node.to_string(), took);
            }
            // Inquiries waiting for `node` hear from the one that read its
            // journal instead (asked again: it may have answered before
            // it took the journal in).
            let mut asks: Vec<(Tid, String)> = Vec::new();
            for (tid, q) in self.inquiries.iter_mut() {
                if q.missing.iter().any(|n| n == node) {
                    q.missing.retain(|n| n != node);
                    if !q.waiting.contains(&took) {
                        q.waiting.push(took);
                    }
                    asks.push((*tid, q.facility.clone()));
                }
            }
            for (tid, tx) in self.txs.iter_mut() {
                let Some(p) = tx.probe.as_mut() else { continue };
                if p.missing.iter().any(|n| n == node) {
                    p.missing.retain(|n| n != node);
                    if !p.waiting.contains(&took) {
                        p.waiting.push(took);
                    }
                    if !p.asked.contains(&took) {
                        p.asked.push(took);
                    }
                    asks.push((*tid, tx.facility.clone()));
                }
            }
            asks.sort();
            for (tid, facility) in asks {
                ctx.to_backend(took, ToBackend::Inquire { tid, facility });
            }
        }
        let mut lost: Vec<NodeRef> = self.lost.iter().filter(|(_, n)| *n == node).map(|(r, _)| *r).collect();
        if read {
            // Its link here may not have gone yet (a standby took its
            // journal over before this router noticed, or it restarted
            // before its old link timed out): the journal was read after
            // it could no longer write, so the commits waiting for it are
            // settled now all the same (its link going later finds none).
            let mut linked: Vec<NodeRef> =
                ctx.topo.peers.iter().filter(|(_, p)| p.name == node).map(|(r, _)| *r).collect();
            linked.sort();
            for r in linked {
                if !lost.contains(&r) {
                    lost.push(r);
                }
            }
        }
        let mut waiting: Vec<Tid> = self
            .committing
            .iter()
            .filter(|(_, c)| c.pending.iter().any(|n| lost.contains(n)))
            .map(|(t, _)| *t)
            .collect();
        waiting.sort();
        let mut facilities: Vec<String> = Vec::new();
        for tid in waiting {
            let Some(c) = self.committing.get_mut(&tid) else { continue };
            if !read && !committed.contains(&tid) {
                // Nobody read that journal (an operator went on without
                // it): it may hold the commit. Nothing is said yet; the
                // lost node reports it when it starts again on its journal.
                continue;
            }
            c.pending.retain(|n| !lost.contains(n));
            if committed.contains(&tid) {
                c.durable += 1;
            } else {
                let (gone, kept): (Vec<CommitBranch>, Vec<CommitBranch>) =
                    std::mem::take(&mut c.branches).into_iter().partition(|b| lost.contains(&b.node));
                c.branches = kept;
                let mut in_doubt = false;
                for b in gone {
                    if b.durable {
                        in_doubt = true;
                        continue;
                    }
                    c.adopting += 1;
                    self.handoffs.push(HandOffEntry {
                        origin: b.node,
                        facility: c.facility.clone(),
                        tid,
                        part: b.part,
                        msgs: b.msgs,
                        reason: c.reason,
                        to: None,
                        coordinator: true,
                    });
                    if !facilities.contains(&c.facility) {
                        facilities.push(c.facility.clone());
                    }
                }
                if in_doubt {
                    if !c.pending.contains(&took) {
                        c.pending.push(took);
                    }
                    let outcome = ToBackend::Outcome {
                        tid,
                        parts: Vec::new(),
                        accepted: true,
                        status: Status::Ok,
                        reason: c.reason,
                    };
                    ctx.to_backend(took, outcome);
                }
            }
            if c.pending.is_empty() && c.adopting == 0 {
                self.settle(ctx, tid);
            }
        }
        if read {
            for r in lost {
                self.lost.remove(&r);
            }
        }
        for f in facilities {
            self.route_handoffs(ctx, &f);
        }
    }

    /// A frontend drives `tid` again here because its router was lost. The
    /// lost router may have decided it, and a backend may have committed
    /// and even finished it (a partition that handed its range on, a node
    /// that restarted): before anything of it is routed, every backend node
    /// of the facility is asked what it knows (`ToBackend::Inquire`). Each
    /// answers once the lost router's link to it is gone (a branch that
    /// router still drives waits for its decision), and its branches of
    /// `tid` become this router's. The client's messages wait meanwhile.
    fn probe(
        &mut self,
        ctx: &mut Ctx,
        tid: Tid,
        facility: String,
        client: ChanRef,
        fe: NodeRef,
        timeout_ms: Option<u32>,
    ) {
        // Every linked backend node of the facility, with partitions here
        // or not (one whose servers all left may hold the commit).
        let mut nodes: Vec<NodeRef> = ctx.topo.reachable(&facility, crate::facility::RoleList::Backend);
        for p in self.partitions.get(&facility).map(Vec::as_slice).unwrap_or_default() {
            if p.callout == Callout::No && !nodes.contains(&p.key.0) {
                nodes.push(p.key.0);
            }
        }
        let missing = self.unreachable_backends(ctx, &facility, &mut nodes);
        for n in &nodes {
            ctx.to_backend(*n, ToBackend::Inquire { tid, facility: facility.clone() });
        }
        let tx = self.begin(ctx.now, tid, facility, client, fe);
        tx.held = Some(Vec::new());
        tx.probe = Some(Probe {
            asked: nodes.clone(),
            waiting: nodes,
            missing,
            answered: 0,
            committed: false,
            aborted: false,
            timeout_ms,
        });
    }

    /// The backend nodes of `facility`'s definition that are not among
    /// `nodes` (the linked ones) and whose journal nobody linked has read;
    /// a reader that is linked is added to `nodes` in their place.
    fn unreachable_backends(&self, ctx: &Ctx, facility: &str, nodes: &mut Vec<NodeRef>) -> Vec<String> {
        let linked: Vec<String> = nodes.iter().map(|n| ctx.topo.name(*n).to_string()).collect();
        let mut missing: Vec<String> = ctx
            .topo
            .facilities
            .get(facility)
            .map(|d| d.nodes(crate::facility::RoleList::Backend).to_vec())
            .unwrap_or_default()
            .into_iter()
            .filter(|n| !linked.contains(n))
            .collect();
        missing.retain(|name| match self.journals_read.get(name) {
            Some(reader) if ctx.topo.is_up(*reader) => {
                if !nodes.contains(reader) {
                    nodes.push(*reader);
                }
                false
            }
            _ => true,
        });
        missing
    }

    /// A backend node whose link went while commits waited for it links
    /// again, the same life (a restarted one reports its journal first,
    /// `TookOver`): the outcome or its answer may have been lost with the
    /// link, so each waiting commit's outcome goes to it again (a backend
    /// that has it answers `Durable` again).
    fn resend_commits(&mut self, ctx: &mut Ctx, node: NodeRef) {
        if self.lost.remove(&node).is_none() {
            return;
        }
        let mut tids: Vec<Tid> =
            self.committing.iter().filter(|(_, c)| c.pending.contains(&node)).map(|(t, _)| *t).collect();
        tids.sort();
        for tid in tids {
            let Some(c) = self.committing.get(&tid) else { continue };
            let parts: Vec<PartId> = c.branches.iter().filter(|b| b.node == node).map(|b| b.part).collect();
            let reason = c.reason;
            ctx.to_backend(node, ToBackend::Outcome { tid, parts, accepted: true, status: Status::Ok, reason });
        }
    }

    /// A backend node that inquiries waited for links: it is asked now.
    fn inquire_newcomer(&mut self, ctx: &mut Ctx, node: NodeRef) {
        let name = ctx.topo.name(node).to_string();
        self.journals_read.remove(&name);
        let mut asks: Vec<(Tid, String)> = Vec::new();
        for (tid, q) in self.inquiries.iter_mut() {
            if q.missing.contains(&name) {
                q.missing.retain(|n| *n != name);
                if !q.waiting.contains(&node) {
                    q.waiting.push(node);
                }
                asks.push((*tid, q.facility.clone()));
            }
        }
        asks.sort();
        for (tid, facility) in asks {
            ctx.to_backend(node, ToBackend::Inquire { tid, facility });
        }
    }

    /// A backend node's partition is here: probes that have not asked that
    /// node (it was not linked when they began) ask it now.
    fn probe_newcomer(&mut self, ctx: &mut Ctx, node: NodeRef, facility: &str) {
        let mut tids: Vec<Tid> = Vec::new();
        let name = ctx.topo.name(node).to_string();
        for (tid, tx) in self.txs.iter_mut().filter(|(_, tx)| tx.facility == facility) {
            let Some(p) = tx.probe.as_mut() else { continue };
            p.missing.retain(|n| *n != name);
            if !p.asked.contains(&node) {
                p.asked.push(node);
                p.waiting.push(node);
                tids.push(*tid);
            }
        }
        tids.sort();
        for tid in tids {
            ctx.to_backend(node, ToBackend::Inquire { tid, facility: facility.to_string() });
        }
    }

    /// Backend node `from` answered the probe of `tid` (`None`: it was lost,
    /// or nothing was asked). Once every node answered: committed anywhere,
    /// the transaction is committed (the client hears so); rolled back
    /// anywhere, it is rejected; otherwise it goes on here as if new (the
    /// backends deliver nothing twice), its timeout armed now.
    fn probed(&mut self, ctx: &mut Ctx, tid: Tid, from: NodeRef, state: Option<TxState>) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        let Some(p) = tx.probe.as_mut() else { return };
        p.waiting.retain(|n| *n != from);
        match state {
            Some(TxState::Committed) => p.committed = true,
            Some(TxState::Aborted) => p.aborted = true,
            _ => {}
        }
        if state.is_some() {
            p.answered += 1;
        }
        if !p.waiting.is_empty() || !p.missing.is_empty() || p.answered == 0 {
            return;
        }
        let Some(p) = tx.probe.take() else { return };
        if p.committed {
            // Its branches (committed, and finished or finishing) stay
            // where they are; only the client is owed the outcome.
            self.finish(ctx, tid, true, Status::Ok, 0);
            return;
        }
        if p.aborted {
            self.abort(ctx, tid, Status::Routerunavailtmo, 0);
            return;
        }
        if let Some(ms) = p.timeout_ms {
            let at = ctx.now + Duration::from_millis(u64::from(ms));
            tx.deadline = Some(at);
            self.timers.push(Reverse((at, tid)));
        }
        let (fe, gone) = (tx.fe, tx.client_gone);
        for m in tx.held.take().unwrap_or_default() {
            self.handle(ctx, fe, m);
        }
        // Its client's node went during the probe: finished without it if
        // the client had accepted, rejected otherwise.
        if gone && self.txs.get(&tid).is_some_and(|tx| !tx.client_accepted) {
            self.abort(ctx, tid, Status::Reqdied, 0);
        }
    }

    /// A committing transaction heard from every backend.
    fn settle(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(c) = self.committing.remove(&tid) else { return };
        if c.gone {
            return;
        }
        let (accepted, status, reason) = match c.failed {
            Some(status) if c.durable == 0 => (false, status, 0),
            _ => (true, Status::Ok, c.reason),
        };
        ctx.to_frontend(c.fe, ToFrontend::Outcome { tid, client: c.client, accepted, status, reason });
    }

    /// Every backend answered an inquiry. Each backend answered only after
    /// the lost router's link to it was gone (a branch waits while its
    /// router is linked), so no decision of the lost router is still on its
    /// way: if any backend committed, the transaction committed and the
    /// others commit too; otherwise nobody did, and it is rolled back.
    fn resolve(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(q) = self.inquiries.remove(&tid) else { return };
        let commit = q.answers.iter().any(|a| a.2 == TxState::Committed);
        let status = if commit { Status::Ok } else { Status::Routerunavailtmo };
        if self.txs.contains_key(&tid) {
            // Driven here again meanwhile: its branches are these.
            self.finish(ctx, tid, commit, status, 0);
            return;
        }
        for (node, parts, state) in q.answers {
            let done = match state {
                TxState::Committed => commit,
                TxState::Aborted | TxState::Unknown => !commit || parts.is_empty(),
                TxState::Unvoted | TxState::InDoubt => false,
            };
            // An in-doubt transaction recovered from a journal has no
            // branch (its partition may not be open yet): it is named alone.
            if done || (parts.is_empty() && state != TxState::InDoubt) {
                continue;
            }
            ctx.to_backend(node, ToBackend::Outcome { tid, parts, accepted: commit, status, reason: 0 });
        }
    }

    /// Peer node `node` is gone. Its partitions leave this router (through
    /// the queue, so the node raises the key range events); undecided
    /// transactions with a branch there are rejected; transactions of its
    /// clients finish as if those clients had gone away.
    pub fn peer_lost(&mut self, ctx: &mut Ctx, node: NodeRef, name: &str) {
        let mut downs = Vec::new();
        for (fac, parts) in &self.partitions {
            for p in parts {
                if p.key.0 == node {
                    downs.push((fac.clone(), p.key.1));
                }
            }
        }
        let mut probing: Vec<Tid> = self
            .txs
            .iter()
            .filter(|(_, tx)| tx.probe.as_ref().is_some_and(|p| p.waiting.contains(&node)))
            .map(|(t, _)| *t)
            .collect();
        probing.sort();
        for tid in probing {
            // A lost backend cannot answer: the probe waits for it to link
            // again, or for whoever reads its journal (`TookOver`).
            if let Some(p) = self.txs.get_mut(&tid).and_then(|tx| tx.probe.as_mut()) {
                p.waiting.retain(|n| *n != node);
                p.asked.retain(|n| *n != node);
                p.missing.push(name.to_string());
            }
        }
        let mut on_it: Vec<Tid> =
            self.txs.iter().filter(|(_, tx)| tx.branches.iter().any(|b| b.part.0 == node)).map(|(t, _)| *t).collect();
        on_it.sort();
        for tid in on_it {
            // Undecided (this router decides it, and has not): its work on
            // the lost node committed nowhere. That work follows its key
            // range: driven again, from the first message, to the range's
            // next active partition (held until there is one), whose
            // servers vote again. The lost node's call-outs are simply gone.
            let Some(tx) = self.txs.get_mut(&tid) else { continue };
            let parts = self.partitions.get(&tx.facility);
            let mut lost = Vec::new();
            tx.branches.retain_mut(|b| {
                if b.part.0 != node {
                    return true;
                }
                let callout =
                    parts.and_then(|v| v.iter().find(|p| p.key == b.part)).is_some_and(|p| p.callout != Callout::No);
                if !callout {
                    lost.append(&mut b.msgs);
                }
                false
            });
            if lost.is_empty() {
                // Only call-outs there: their votes are lost with them.
                self.abort(ctx, tid, Status::Srvdied, 0);
                continue;
            }
            tx.redrive.append(&mut lost);
            let fac = tx.facility.clone();
            if tx.held.is_none() {
                tx.held = Some(Vec::new());
                self.held.entry(fac).or_default().push(tid);
            }
        }
        let theirs: Vec<Tid> = self.txs.iter().filter(|(_, tx)| tx.fe == node).map(|(t, _)| *t).collect();
        for tid in theirs {
            self.handle(ctx, node, ToRouter::ClientAbort { tid, status: Status::Reqdied, reason: 0, gone: true });
        }
        for c in self.committing.values_mut().filter(|c| c.fe == node) {
            c.gone = true;
        }
        // An inquiry waits for the lost backend to link again (or for its
        // journal to be read by someone), as it may hold the commit.
        for q in self.inquiries.values_mut() {
            if q.waiting.contains(&node) {
                q.waiting.retain(|n| *n != node);
                q.missing.push(name.to_string());
            }
        }
        // A commit waiting for the lost backend stays pending: that backend
        // may have made it durable before it went; whoever recovers its
        // journal (a standby, or itself restarting) reports it.
        if self.committing.values().any(|c| c.pending.contains(&node)) {
            self.lost.insert(node, name.to_string());
        }
        for (facility, part) in downs {
            if let Some(gone) = self.remove_partition(&facility, (node, part)) {
                self.holder_lost(ctx, &facility, &gone);
            }
        }
        // Hand-offs: those from the lost node go (it sends them again when
        // it links again), but not this router's own (made from the lost
        // node's branches); those sent to it wait for the next active one.
        self.handoffs.retain(|h| h.coordinator || h.origin != node);
        for h in self.handoffs.iter_mut().filter(|h| h.to.is_some_and(|k| k.0 == node)) {
            h.to = None;
        }
        let facilities: Vec<String> = self.held.keys().cloned().collect();
        for f in facilities {
            self.release_held(ctx, &f);
        }
    }

    fn begin(&mut self, now: Instant, tid: Tid, facility: String, client: ChanRef, fe: NodeRef) -> &mut Tx {
        self.txs.entry(tid).or_insert_with(|| Tx {
            client,
            fe,
            facility,
            branches: Vec::new(),
            client_accepted: false,
            accept_reason: 0,
            client_gone: false,
            started: now,
            prepare: None,
            held: None,
            probe: None,
            deadline: None,
            redrive: Vec::new(),
        })
    }

    /// After `rtr_prepare_tx`: tell the client once every server voted yes.
    fn try_prepared(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        let Some((reason, false)) = tx.prepare else { return };
        if tx.client_accepted || !tx.redrive.is_empty() || tx.branches.iter().any(|b| b.vote != VoteState::Accepted) {
            return;
        }
        tx.prepare = Some((reason, true));
        if !tx.client_gone {
            ctx.to_frontend(tx.fe, ToFrontend::Prepared { tid, client: tx.client, reason });
        }
    }

    fn client_accept(&mut self, ctx: &mut Ctx, tid: Tid, reason: u32) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        if tx.client_accepted {
            return;
        }
        tx.client_accepted = true;
        // After rtr_prepare_tx, the prepare's reason stands.
        tx.accept_reason = tx.prepare.map_or(reason, |(r, _)| r);
        self.request_votes(ctx, tid);
        self.try_commit(ctx, tid);
    }

    /// Ask every branch of `tid` that has not voted for its vote. A
    /// transaction over several backend nodes commits only on durable
    /// votes: votes given early (before the accept, or before a branch on
    /// another node was added) are asked for again.
    fn request_votes(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        let durable = spans_nodes(tx);
        for b in tx.branches.iter_mut() {
            match b.vote {
                VoteState::Pending => {
                    b.vote = VoteState::Requested;
                    ctx.to_backend(b.part.0, ToBackend::VoteRequest { tid, part: b.part.1, durable });
                }
                VoteState::Accepted if durable && !b.durable => {
                    ctx.to_backend(b.part.0, ToBackend::VoteRequest { tid, part: b.part.1, durable });
                }
                _ => {}
            }
        }
    }

    fn try_commit(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(tx) = self.txs.get(&tid) else { return };
        if !tx.client_accepted || tx.branches.iter().any(|b| b.vote != VoteState::Accepted) {
            return;
        }
        if !tx.redrive.is_empty() {
            return; // work of a lost node still to place and vote on
        }
        if spans_nodes(tx) && tx.branches.iter().any(|b| !b.durable) {
            return;
        }
        let reason = tx.accept_reason;
        self.finish(ctx, tid, true, Status::Ok, reason);
    }

    fn abort(&mut self, ctx: &mut Ctx, tid: Tid, status: Status, reason: u32) {
        self.finish(ctx, tid, false, status, reason);
    }

    fn finish(&mut self, ctx: &mut Ctx, tid: Tid, accepted: bool, status: Status, reason: u32) {
        let Some(tx) = self.txs.remove(&tid) else { return };
        // One outcome per backend node, naming its branches.
        let mut by_node: Vec<(NodeRef, Vec<PartId>)> = Vec::new();
        for b in &tx.branches {
            match by_node.iter_mut().find(|(n, _)| *n == b.part.0) {
                Some((_, v)) => v.push(b.part.1),
                None => by_node.push((b.part.0, vec![b.part.1])),
            }
        }
        if accepted && !by_node.is_empty() {
            let parts = self.partitions.get(&tx.facility);
            let is_callout = |k: PartKey| {
                parts.and_then(|v| v.iter().find(|p| p.key == k)).is_some_and(|p| p.callout != Callout::No)
            };
            let branches = tx
                .branches
                .into_iter()
                .filter(|b| !is_callout(b.part))
                .map(|b| CommitBranch {
                    node: b.part.0,
                    part: b.part.1,
                    msgs: b.msgs.into_iter().map(|(m, _)| m).collect(),
                    durable: b.durable,
                })
                .collect();
            // The client learns of the commit once the backends made it durable.
            self.committing.insert(
                tid,
                Committing {
                    client: tx.client,
                    fe: tx.fe,
                    gone: tx.client_gone,
                    facility: tx.facility.clone(),
                    reason,
                    pending: by_node.iter().map(|(n, _)| *n).collect(),
                    durable: 0,
                    failed: None,
                    branches,
                    adopting: 0,
                },
            );
        }
        for (node, parts) in by_node.iter() {
            ctx.to_backend(*node, ToBackend::Outcome { tid, parts: parts.clone(), accepted, status, reason });
        }
        if accepted && !by_node.is_empty() {
            return;
        }
        if !tx.client_gone {
            ctx.to_frontend(tx.fe, ToFrontend::Outcome { tid, client: tx.client, accepted, status, reason });
        }
    }
}

/// Route one message to a branch of `tx` (made on its first message): the
/// branch's next message index goes with it.
/// `new_tx`: the transaction's first message anywhere (a backend's journal
/// may refuse a new transaction when only its reserve is left; a message
/// driven again after a node loss belongs to one in progress).
fn send_to_branch(ctx: &mut Ctx, tx: &mut Tx, tid: Tid, target: PartKey, data: &Bytes, fl: u32, new_tx: bool) {
    let first = new_tx && tx.branches.is_empty();
    let i = match tx.branches.iter().position(|b| b.part == target) {
        Some(i) => i,
        None => {
            let b = Branch { part: target, vote: VoteState::Pending, sent: 0, durable: false, msgs: Vec::new() };
            tx.branches.push(b);
            tx.branches.len() - 1
        }
    };
    let b = &mut tx.branches[i];
    let index = b.sent;
    b.sent += 1;
    b.msgs.push((data.clone(), fl));
    ctx.to_backend(target.0, ToBackend::Msg { tid, part: target.1, index, data: data.clone(), first, flags: fl });
}

/// Does the transaction have branches on more than one backend node?
fn spans_nodes(tx: &Tx) -> bool {
    tx.branches.first().is_some_and(|f| tx.branches.iter().any(|b| b.part.0 != f.part.0))
}

/// Does a partition that is not active (a standby, or one being promoted)
/// serve the message's key?
fn standby_covers(parts: Option<&Vec<RPart>>, data: &[u8]) -> bool {
    parts.is_some_and(|v| v.iter().any(|p| !p.active && p.callout == Callout::No && p.range.contains(data) == Ok(true)))
}

/// The partition whose key range holds the message's key.
fn route(parts: Option<&Vec<RPart>>, data: &[u8]) -> Result<PartKey, Status> {
    let Some(parts) = parts else {
        return Err(Status::Nodstfnd);
    };
    for p in parts.iter().filter(|p| p.active && p.callout == Callout::No) {
        match p.range.contains(data) {
            Ok(true) => return Ok(p.key),
            Ok(false) => {}
            Err(KeyError::MessageTooShort { .. }) => return Err(Status::Keymsgshort),
            Err(_) => return Err(Status::Internal),
        }
    }
    Err(Status::Nodstfnd)
}
