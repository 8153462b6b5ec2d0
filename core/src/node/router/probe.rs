//! Probing a transaction driven again after its router was lost: every
//! backend node of the facility says what it knows before anything of it
//! is routed here.

use std::cmp::Reverse;
use std::time::Duration;

use super::{Decision, Router};
use crate::node::{ChanRef, Ctx, NodeRef, PartKey, ToBackend, ToRouter, TxState, IN_DOUBT_COPIES};
use crate::status::Status;
use crate::tid::Tid;

/// What the backends said of a transaction driven again through this
/// router, so far.
pub(super) struct Probe {
    /// Backend nodes still to answer.
    pub(super) waiting: Vec<NodeRef>,
    /// Backend nodes asked so far.
    pub(super) asked: Vec<NodeRef>,
    /// Backend nodes of the facility not linked here (by name): any may
    /// hold the commit, so the probe waits for each to link and answer (or
    /// for its journal to be read by another, which answers for it).
    pub(super) missing: Vec<String>,
    /// Answers heard: the probe ends only after at least one (a probe that
    /// could ask nobody waits for a backend node to link).
    pub(super) answered: usize,
    /// Some backend holds it committed (or committing).
    pub(super) committed: bool,
    /// Some backend rolled its branch back.
    pub(super) aborted: bool,
    /// Nodes that answered "committed" (by name), and whether any answered
    /// in doubt or unvoted: a commit found this way is forgotten at those
    /// nodes once the client has it, unless someone is still in doubt.
    pub(super) holders: Vec<String>,
    pub(super) doubt: bool,
    /// Branches the answers named (their nodes' branches of the
    /// transaction, this router's now): a commit found by the probe is
    /// sent to each, voted or not (simulator seed 9023, two routers: a
    /// branch named by an answer but not yet voted again was left out of
    /// the outcome, and never applied).
    pub(super) parts: Vec<crate::node::PartKey>,
    /// The names of the nodes whose branches `parts` holds: a link that
    /// went since has no name any more (`Topology::name`).
    pub(super) part_nodes: Vec<(NodeRef, String)>,
    /// A branch failed meanwhile (a backend asks to reject: its servers
    /// kept failing on it): rejected once the probe ends, unless some
    /// backend committed it (simulator seed 5111: rejected while the node
    /// holding the commit had not answered yet, a disagreement).
    /// (A branch's "no" vote too, with its reason.)
    pub(super) failed: Option<(Status, u32)>,
    /// The client's `rtr_start_tx` timeout, armed once the probe ends.
    pub(super) timeout_ms: Option<u32>,
    /// What each answer said of its node's work (`replaced_elsewhere`).
    pub(super) work: Vec<(NodeRef, super::Work)>,
}

impl Router {
    /// A frontend drives `tid` again here because its router was lost. The
    /// lost router may have decided it, and a backend may have committed
    /// and even finished it (a partition that handed its range on, a node
    /// that restarted): before anything of it is routed, every backend node
    /// of the facility is asked what it knows (`ToBackend::Inquire`). Each
    /// answers once the lost router's link to it is gone (a branch that
    /// router still drives waits for its decision), and its branches of
    /// `tid` become this router's. The client's messages wait meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn probe(
        &mut self,
        ctx: &mut Ctx,
        tid: Tid,
        facility: String,
        client: ChanRef,
        fe: NodeRef,
        timeout_ms: Option<u32>,
        drive: u32,
    ) {
        let (nodes, missing) = self.backends_to_ask(ctx, &facility, None);
        for n in &nodes {
            ctx.to_backend(*n, ToBackend::Inquire { tid, facility: facility.clone(), drive, binds: 0 });
        }
        let tx = self.begin(ctx.now, tid, facility, client, fe);
        tx.held = Some(Vec::new());
        tx.redriven = true;
        tx.drive = drive;
        tx.probe = Some(Probe {
            asked: nodes.clone(),
            waiting: nodes,
            missing,
            answered: 0,
            committed: false,
            aborted: false,
            holders: Vec::new(),
            doubt: false,
            parts: Vec::new(),
            part_nodes: Vec::new(),
            failed: None,
            timeout_ms,
            work: Vec::new(),
        });
    }

    /// Whom to ask about a transaction of `facility` before concluding
    /// that nobody committed it: every linked backend node (with
    /// partitions here or not: one whose servers all left may hold the
    /// commit), the nodes of its partitions here, and `also` (the asker);
    /// and, by name, the backend nodes to wait for (not linked, and nobody
    /// linked read their journal: `unreachable_backends`).
    pub(super) fn backends_to_ask(
        &self,
        ctx: &Ctx,
        facility: &str,
        also: Option<NodeRef>,
    ) -> (Vec<NodeRef>, Vec<String>) {
        let mut nodes: Vec<NodeRef> = ctx.topo.reachable(facility, crate::facility::RoleList::Backend);
        let partitions = self.partitions.get(facility).map(Vec::as_slice).unwrap_or_default();
        for n in partitions.iter().map(|p| p.key.0).chain(also) {
            if !nodes.contains(&n) {
                nodes.push(n);
            }
        }
        let missing = self.unreachable_backends(ctx, facility, &mut nodes);
        (nodes, missing)
    }

    /// The backend nodes of `facility`'s definition that are not among
    /// `nodes` (the linked ones) and whose journal nobody linked has read;
    /// a reader that is linked is added to `nodes` in their place.
    fn unreachable_backends(&self, ctx: &Ctx, facility: &str, nodes: &mut Vec<NodeRef>) -> Vec<String> {
        let linked: Vec<String> = nodes.iter().map(|n| ctx.topo.name(*n).to_string()).collect();
        let mut missing: Vec<String> =
            facility_backends(ctx, facility).into_iter().filter(|n| !linked.contains(n)).collect();
        missing.retain(|name| match self.reader_of(ctx, name) {
            Some(reader) => {
                if !nodes.contains(&reader) {
                    nodes.push(reader);
                }
                false
            }
            None => true,
        });
        missing
    }

    /// A backend node's partition is here: probes that have not asked that
    /// node (it was not linked when they began) ask it now.
    pub(super) fn probe_newcomer(&mut self, ctx: &mut Ctx, node: NodeRef, facility: &str) {
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
            let drive = self.probe_drive(tid);
            ctx.to_backend(node, ToBackend::Inquire { tid, facility: facility.to_string(), drive, binds: 0 });
        }
    }

    /// Backend node `from` answered the probe of `tid` (`None`: it was lost,
    /// or nothing was asked). Once every node answered: committed anywhere,
    /// the transaction is committed (the client hears so); rolled back
    /// anywhere, it is rejected; otherwise it goes on here as if new (the
    /// backends deliver nothing twice), its timeout armed now, unless its
    /// client's node went meanwhile (then it is let go: its frontend drives
    /// it again; if a backend holds a branch of it, it is rolled back).
    pub(super) fn probed(
        &mut self,
        ctx: &mut Ctx,
        tid: Tid,
        from: NodeRef,
        state: Option<TxState>,
        parts: &[crate::node::PartId],
        work: super::Work,
    ) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        if state == Some(TxState::InDoubt) && parts.is_empty() && !tx.inquirers.contains(&from) {
            // In doubt of a copy from a journal it read (no branch of its
            // own): this drive's outcome goes to it, as to an asker. It
            // takes none from an earlier drive's router (seed 13244), and
            // waited for ever once this probe found the commit (seed 13897,
            // two routers: accepted, never applied on the copy's range).
            tx.inquirers.push(from);
        }
        let Some(p) = tx.probe.as_mut() else { return };
        p.waiting.retain(|n| *n != from);
        if matches!(state, Some(TxState::InDoubt | TxState::Unvoted)) {
            // Branches still waiting for an outcome (committed ones have
            // theirs: a commit waiting on them would wait for ever).
            for part in parts {
                if !p.parts.contains(&(from, *part)) {
                    p.parts.push((from, *part));
                }
            }
            if !parts.is_empty() && !p.part_nodes.iter().any(|(n, _)| *n == from) {
                p.part_nodes.push((from, ctx.topo.name(from).to_string()));
            }
        }
        match state {
            Some(TxState::Committed) => {
                p.committed = true;
                p.holders.push(ctx.topo.name(from).to_string());
            }
            Some(TxState::Aborted) => p.aborted = true,
            Some(TxState::InDoubt | TxState::Unvoted) => p.doubt = true,
            _ => {}
        }
        if state.is_some() {
            p.answered += 1;
            p.work.retain(|(n, _)| *n != from);
            p.work.push((from, work));
        }
        if !p.waiting.is_empty() || !p.missing.is_empty() || p.answered == 0 {
            return;
        }
        let Some(mut p) = tx.probe.take() else { return };
        if p.committed {
            // Work a node holds undecided that another node applied is
            // given back there, not committed with the rest (see
            // `Router::resolve`): its router placed it again after losing
            // that node, and has forgotten since.
            let work: Vec<(NodeRef, &super::Work)> = p.work.iter().map(|(n, w)| (*n, w)).collect();
            let give = super::replaced_elsewhere(ctx, &self.sites, &work);
            for (node, part) in &give {
                super::log_replaced_elsewhere(ctx, tid, *node, *part);
                ctx.to_backend(*node, ToBackend::GiveBack { tid, part: *part, drive: crate::node::NO_DRIVE });
            }
            p.parts.retain(|k| !give.contains(k));
            // A node whose own journal's copy was given back is no asker
            // to tell the outcome any more (see `Router::resolve`).
            tx.inquirers.retain(|n| !give.contains(&(*n, crate::node::OWN_REPLACED_WORK)));
        }
        let rejected_before = matches!(self.decided.get(&tid), Some(&Decision { accepted: false, .. }));
        if p.committed || p.aborted || p.failed.is_some() || rejected_before || (tx.client_gone && p.doubt) {
            // The outcome goes to every branch the answers named (this
            // router's now), voted again or not: a rollback that reached only
            // the branches driven again here left one taken over by the probe
            // waiting for ever, and an earlier drive's commit parked on it
            // (simulator seed 7631, two routers). So does the rollback of a
            // transaction whose client's node went during the probe: it
            // reached only the branch whose vote had come in, and the other
            // branch at that node, still waiting for a server, was presented
            // after the rollback, voted, and held its server for ever
            // (simulator seed 15882, one router: no outcome, the servers of
            // two ranges held).
            // Only over links still up: a node whose link went since answers
            // again when it is back (its branch waits for an owner).
            for key in p.parts.iter().filter(|k| ctx.topo.is_up(k.0)) {
                if !tx.branches.iter().any(|b| b.part == *key) {
                    tx.branches.push(super::Branch::new(*key));
                }
            }
        }
        if p.committed {
            // Its branches (committed, and finished or finishing) stay
            // where they are; only the client is owed the outcome.
            let (fe, gone) = (tx.fe, tx.client_gone);
            self.finish(ctx, tid, true, Status::Ok, 0);
            if !p.doubt && !self.committing.contains_key(&tid) {
                // Nobody in doubt of it: those holding it may forget it
                // once the client has it.
                self.outcome_settled(ctx, tid, p.holders, fe, gone);
            }
            return;
        }
        if p.aborted {
            self.abort(ctx, tid, Status::Routerunavailtmo, 0);
            return;
        }
        if let Some((status, reason)) = p.failed {
            self.abort(ctx, tid, status, reason);
            return;
        }
        if let Some(&Decision { accepted: false, status, reason, .. }) = self.decided.get(&tid) {
            // Rejected here before, and nobody committed it: the rejection
            // stands (its abort records may have been lost with a node's
            // unsynced tail, so a participant is in doubt of it; starting it
            // afresh gave one tid two outcomes, simulator seed 5235).
            self.abort(ctx, tid, status, reason);
            return;
        }
        if tx.client_gone {
            // Its client's node went during the probe: its frontend drives
            // it again, here or through another router, so this router
            // drives it no further. (Driven on here as new, it committed
            // while another router, probing the frontend's next re-drive,
            // rejected it: simulator seeds 7362 and 7048 with two routers.)
            if p.doubt {
                // Branches a backend holds (in doubt, or unvoted) are this
                // router's now and wait for its decision (let go, they held
                // their servers for ever: seed 7381): rolled back, which
                // every backend then answers to the next probe.
                self.abort(ctx, tid, Status::Reqdied, 0);
            } else {
                // Nothing of it anywhere, nothing routed from here: let go
                // with no outcome, as if it never came.
                self.txs.remove(&tid);
            }
            return;
        }
        if let Some(ms) = p.timeout_ms {
            let at = ctx.now + Duration::from_millis(u64::from(ms));
            tx.deadline = Some(at);
            self.timers.push(Reverse((at, tid)));
        }
        let fe = tx.fe;
        let held = tx.held.take().unwrap_or_default();
        // A branch the answers named whose partition no longer gets the
        // work (its key range is served elsewhere now, or by nobody yet)
        // is given back first: it is this router's, and nothing would
        // decide it. Left, it waited for an outcome for ever, and once its
        // partition was active again its server held it, and every
        // transaction queued behind it (simulator seed 23634, one router;
        // 16684 and 12995 earlier). The link keeps order: a message placed
        // at that partition later finds the branch gone and starts afresh.
        let routes: Vec<PartKey> = held
            .iter()
            .filter_map(|m| match m {
                ToRouter::Send { data, .. } => super::route(self.partitions.get(&tx.facility), data).ok(),
                _ => None,
            })
            .collect();
        // (The branch is dropped here too: a vote it gave the probe made
        // it one of the transaction's, and a vote request to it, answered
        // "rolled back" by a node that holds it no more, rejected the
        // transaction.)
        let given: Vec<PartKey> =
            p.parts.iter().filter(|k| !routes.contains(k) && ctx.topo.is_up(k.0)).copied().collect();
        tx.branches.retain(|b| !given.contains(&b.part));
        for key in given {
            ctx.to_backend(key.0, ToBackend::GiveBack { tid, part: key.1, drive: tx.drive });
        }
        // Such a branch on a node whose link went since it answered cannot
        // be given back now, and its work is placed again below all the
        // same: it is this router's work placed again (`replaced`), given
        // back when the node links again or asks (`give_back_replaced`,
        // `copy_replaced`). Forgotten, the node (only cut off, its branch
        // orphaned with its durable vote) asked once back, heard
        // "committed" from `decided`, and its range applied the work a
        // second time beside the copy placed on the range's next active
        // partition (simulator seed 7417, one router, no shared storage).
        // Not a node the work is routed to again (under its new link):
        // work placed there joins the copy its journal holds (`Backend::msg`),
        // and a give-back at its link-up took that work with the copy
        // (simulator seed 10748, two routers: accepted, never applied).
        let routed_to: Vec<&str> = routes.iter().filter(|k| ctx.topo.is_up(k.0)).map(|k| ctx.topo.name(k.0)).collect();
        let away: Vec<String> = p
            .parts
            .iter()
            .filter(|k| !routes.contains(k) && !ctx.topo.is_up(k.0))
            .filter_map(|k| p.part_nodes.iter().find(|(n, _)| *n == k.0).map(|(_, name)| name.clone()))
            .filter(|name| !routed_to.contains(&name.as_str()))
            .collect();
        if !away.is_empty() {
            let r = self.replaced.entry(tid).or_insert(super::Replaced { drive: tx.drive, nodes: Vec::new() });
            r.drive = r.drive.max(tx.drive);
            for name in away {
                if !r.nodes.contains(&name) {
                    r.nodes.push(name);
                }
            }
        }
        // The nodes in doubt of a copy of it (from a journal: a lost
        // node's they read, or their own after a restart; they answered
        // "in doubt" naming no branch, or asked meanwhile) give it back
        // too: the copy's messages are among those placed again now, so it
        // is no share of the transaction to hear its outcome any more
        // (`Backend::give_back_copies`). Kept waiting for the outcome, a
        // copy held its lost node's journal, and that node could not start
        // again while the transaction waited for a key range whose grant it
        // held (simulator seed 44894, one router: no outcome). Committed
        // by the outcome while the work placed again went to another node
        // (the range's active partition now), it would apply that work a
        // second time.
        // (Not a node that may hold a copy of a branch the transaction
        // still has here, named by the answers: its vote is this drive's
        // to commit on, `copy_may_be_a_branch`; that node still hears the
        // outcome.)
        let (inquirers, branches) = (std::mem::take(&mut tx.inquirers), &tx.branches);
        let (give, keep): (Vec<NodeRef>, Vec<NodeRef>) =
            inquirers.into_iter().partition(|n| !super::copy_may_be_a_branch(&self.journals_read, ctx, branches, *n));
        tx.inquirers = keep;
        for node in give.into_iter().filter(|n| ctx.topo.is_up(*n)) {
            ctx.to_backend(node, ToBackend::GiveBack { tid, part: IN_DOUBT_COPIES, drive: tx.drive });
        }
        for m in held {
            self.handle_msg(ctx, fe, m);
        }
    }
}

/// The backend nodes of `facility`'s definition, by name (none for a
/// facility not defined here).
pub(super) fn facility_backends(ctx: &Ctx, facility: &str) -> Vec<String> {
    ctx.topo.facilities.get(facility).map(|d| d.nodes(crate::facility::RoleList::Backend).to_vec()).unwrap_or_default()
}
