//! Resolving an in-doubt transaction of a lost router: every backend node
//! of the facility is asked (`Inquire`), and the answers decide.

use super::{replaced_elsewhere, Decision, Router, Work};
use crate::node::{Ctx, NodeRef, PartId, ToBackend, TxState, IN_DOUBT_COPIES, NO_DRIVE, OWN_REPLACED_WORK};
use crate::status::Status;
use crate::tid::Tid;

/// One resolution in progress: the backends still to answer, and the answers.
pub(super) struct Inquiry {
    pub(super) facility: String,
    pub(super) waiting: Vec<NodeRef>,
    /// Backend nodes of the facility not linked here (by name): any of
    /// them may hold the commit, so the resolution waits until each links
    /// and answers, or someone reads its journal (`TookOver`).
    pub(super) missing: Vec<String>,
    pub(super) answers: Vec<Answer>,
    /// The answers are the second round's: every node was asked again
    /// once each had answered the first. An inquiry concludes "nobody
    /// committed" only from that round. The first round's answers may be
    /// old by the time the last of them comes: it waits for a node that is
    /// not linked, or for a question waiting on a branch whose router (a
    /// later drive's, still linked there) owns it, while a node that
    /// answered "unknown" at once may since have had work placed on it by
    /// that router and committed (simulator seeds 10283: answers 2 s old;
    /// and 38636, two routers: an answer 0.7 s old, the branch released
    /// when its router's link went, and rolled back beside the commit). In
    /// the second round each branch asked about is the asker's (it took
    /// it in the first, unless a drive took it back since, whose outcome
    /// then comes first), so no answer waits on another router's branch.
    pub(super) confirming: bool,
    /// The latest drive of the transaction its askers know: a node that
    /// answers "unknown" starts no branch of it, or of an earlier drive,
    /// from then on (`ToBackend::Inquire::binds`, docs/inquiry-binding.md).
    pub(super) drive: u32,
}

impl Inquiry {
    /// Waiting for a node that was missing (it linked, or a reader of its
    /// journal is known now).
    pub(super) fn ask_late(&mut self, node: NodeRef) {
        if !self.waiting.contains(&node) {
            self.waiting.push(node);
        }
    }
}

/// What one backend node said of the transaction.
pub(super) struct Answer {
    pub(super) node: NodeRef,
    /// The branches of the transaction it named (none for one recovered
    /// from a journal in doubt: see `resolve`).
    pub(super) parts: Vec<PartId>,
    pub(super) state: TxState,
    pub(super) work: Work,
}

impl Router {
    /// A backend asks (in doubt) what became of `tid`.
    pub(super) fn inquire(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, facility: String, drive: u32) {
        if self.copy_replaced(ctx, tid, from) {
            // Its own work of the transaction from before this router lost
            // it was placed again: that is given back first (closed,
            // nothing decided), whatever the outcome; the answer below is
            // then for the rest (copies of journals it read, branches
            // placed on it since), over the same link, after it.
            let drive = self.replaced_drive(tid);
            ctx.log(format!(
                "{tid}: {} asks about it; its work from before it was lost was placed again: given back",
                ctx.topo.name(from)
            ));
            ctx.to_backend(from, ToBackend::GiveBack { tid, part: OWN_REPLACED_WORK, drive });
        }
        if let Some(c) = self.committing.get_mut(&tid) {
            // Decided here: commit. The asker (a backend that
            // restarted, in doubt) stands in for its lost self.
            let name = ctx.topo.name(from).to_string();
            let lost: Vec<NodeRef> = self.lost.iter().filter(|(_, n)| **n == name).map(|(r, _)| *r).collect();
            c.wait_for(&lost, from);
            if let (Some(status), 0) = (c.failed, c.durable) {
                // A participant answered that the commit did not happen
                // there (another drive's router rolled its branch back),
                // and none made it durable: it cannot stand, and the asker
                // rolls back too (committing it made one tid both
                // committed and rolled back: simulator seed 7631, two
                // routers). The commit settles as failed.
                let outcome =
                    ToBackend::Outcome { tid, parts: Vec::new(), accepted: false, status, reason: 0, drive: NO_DRIVE };
                ctx.to_backend(from, outcome);
                c.pending.retain(|n| *n != from);
                if c.pending.is_empty() && c.adopting == 0 {
                    self.settle(ctx, tid);
                }
                return;
            }
            // A commit durable at a participant is the transaction's
            // outcome whatever drive comes later (a later drive's probe
            // finds it there), so the answer names no drive. One durable
            // nowhere yet names the drive it was decided on: an asker that
            // has seen a later drive leaves the decision to that drive's
            // router (simulator seed 13244, two routers: this router, frozen
            // and thawed, committed on votes a later drive had taken over,
            // and a participant in doubt took its answer while the later
            // drive's router rejected).
            let drive = if c.durable > 0 { NO_DRIVE } else { c.drive };
            let outcome = ToBackend::Outcome {
                tid,
                parts: Vec::new(),
                accepted: true,
                status: Status::Ok,
                reason: c.reason,
                drive,
            };
            ctx.to_backend(from, outcome);
            return;
        }
        // Live here (driven again): it ends on its own, and the asker, in
        // doubt of it from a journal it read, hears that outcome (it is no
        // branch of it here, so nothing else would tell it: simulator seed
        // 5009 left a taken-over journal's commit unapplied for ever).
        if let Some(tx) = self.txs.get_mut(&tid) {
            if tx.redriven
                && tx.probe.is_none()
                && !super::copy_may_be_a_branch(&self.journals_read, ctx, &tx.branches, from)
            {
                // Unless its probe went on as new (nobody had committed
                // it): this router places every message of it again, so a
                // copy the asker holds (read since the probe, or its own
                // journal's after a restart) is of work placed again, and
                // is given back rather than committed by the outcome
                // (`Router::probed`, `Backend::give_back_copies`), unless
                // it may be the copy of a branch this drive placed and
                // still has (`copy_may_be_a_branch`). A node that gave its
                // copy back at the probe's end and asked again meanwhile
                // is told the same.
                let drive = tx.drive;
                ctx.to_backend(from, ToBackend::GiveBack { tid, part: IN_DOUBT_COPIES, drive });
                return;
            }
            if !tx.inquirers.contains(&from) {
                tx.inquirers.push(from);
            }
            return;
        }
        // Being resolved already: it ends on its own (the next round, or a
        // late node, binds up to the latest drive an asker knows).
        if let Some(q) = self.inquiries.get_mut(&tid) {
            q.drive = q.drive.max(drive);
            return;
        }
        // Committed here: the asker hears so (a rejection is asked about:
        // see `decided`).
        if let Some(&Decision { accepted: true, status, reason, .. }) = self.decided.get(&tid) {
            let outcome =
                ToBackend::Outcome { tid, parts: Vec::new(), accepted: true, status, reason, drive: NO_DRIVE };
            return ctx.to_backend(from, outcome);
        }
        // Rejected here by the router of drive `drive` (this one): the asker
        // hears that rejection naming the drive, as the outcome a router
        // tells the nodes that asked while it decided names it (`finish`).
        // A node that has seen a later drive does not take it (the
        // frontend left this router, and that drive's router decides), and
        // a later drive's router commits only on answers every node gave
        // after it saw that drive; one that has not takes the rejection,
        // which any later drive's probe then hears from it. The asker held
        // a branch this router dropped when its link went (its messages
        // were to go to the range's next partition), so the rejection
        // never reached it; asked about instead, the inquiry waited for
        // every node of the facility, for ever when one could not come back
        // (simulator seed 33281, two routers: the asker's in-doubt
        // branches held both its servers of a range, and every transaction
        // queued behind them waited with them).
        if let Some(&Decision { accepted: false, status, reason, drive }) = self.decided.get(&tid) {
            if drive != NO_DRIVE {
                let outcome = ToBackend::Outcome { tid, parts: Vec::new(), accepted: false, status, reason, drive };
                ctx.to_backend(from, outcome);
                // It keeps the rejection answerable until the client's
                // frontend has it (or at once forgets it, when it had).
                let name = ctx.topo.name(from).to_string();
                self.add_holder(ctx, tid, &name);
                return;
            }
        }
        // Every backend node of the facility: "nobody committed it"
        // may be concluded only when each has answered.
        let (nodes, missing) = self.backends_to_ask(ctx, &facility, Some(from));
        for n in &nodes {
            ctx.to_backend(*n, ToBackend::Inquire { tid, facility: facility.clone(), drive: 0, binds: drive });
        }
        self.inquiries
            .insert(tid, Inquiry { facility, waiting: nodes, missing, answers: Vec::new(), confirming: false, drive });
    }

    /// Backend node `from` says what it knows of `tid`: an answer to a
    /// probe, or to an inquiry.
    pub(super) fn inquired(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        tid: Tid,
        parts: Vec<PartId>,
        state: TxState,
        work: Work,
    ) {
        if self.txs.get(&tid).and_then(|tx| tx.probe.as_ref()).is_some_and(|p| p.waiting.contains(&from)) {
            return self.probed(ctx, tid, from, Some(state), &parts, work);
        }
        let Some(q) = self.inquiries.get_mut(&tid) else { return };
        q.waiting.retain(|n| *n != from);
        q.answers.retain(|a| a.node != from);
        q.answers.push(Answer { node: from, parts, state, work });
        if !q.waiting.is_empty() || !q.missing.is_empty() {
            return;
        }
        if !q.confirming && !q.answers.iter().any(|a| a.state == TxState::Committed) {
            // The first round's answers, some perhaps given long before
            // the last came: every node is asked again (the linked ones,
            // and the readers of lost ones' journals), so that a rollback
            // rests on answers given after any commit the transaction's
            // router may have made meanwhile (see `Inquiry::confirming`).
            let answered: Vec<NodeRef> = q.answers.iter().map(|a| a.node).filter(|n| ctx.topo.is_up(*n)).collect();
            let (facility, drive) = (q.facility.clone(), q.drive);
            let (mut nodes, missing) = self.backends_to_ask(ctx, &facility, None);
            for n in answered {
                if !nodes.contains(&n) {
                    nodes.push(n);
                }
            }
            for n in &nodes {
                ctx.to_backend(*n, ToBackend::Inquire { tid, facility: facility.clone(), drive: 0, binds: drive });
            }
            if let Some(q) = self.inquiries.get_mut(&tid) {
                q.confirming = true;
                q.answers.clear();
                q.waiting = nodes;
                q.missing = missing;
            }
            return;
        }
        self.resolve(ctx, tid);
    }

    /// A backend node that inquiries waited for links: it is asked now.
    pub(super) fn inquire_newcomer(&mut self, ctx: &mut Ctx, node: NodeRef) {
        let name = ctx.topo.name(node).to_string();
        let mut asks: Vec<(Tid, String, u32)> = Vec::new();
        for (tid, q) in self.inquiries.iter_mut() {
            if q.missing.contains(&name) {
                q.missing.retain(|n| *n != name);
                q.ask_late(node);
                asks.push((*tid, q.facility.clone(), q.drive));
            }
        }
        asks.sort();
        for (tid, facility, binds) in asks {
            ctx.to_backend(node, ToBackend::Inquire { tid, facility, drive: 0, binds });
        }
    }

    /// Every backend answered an inquiry. Each backend answered only after
    /// the lost router's link to it was gone (a branch waits while its
    /// router is linked), so no decision of the lost router is still on its
    /// way: if any backend committed, the transaction committed and the
    /// others commit too; otherwise nobody did, and it is rolled back.
    pub(super) fn resolve(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(mut q) = self.inquiries.remove(&tid) else { return };
        let commit = q.answers.iter().any(|a| a.state == TxState::Committed);
        if commit {
            // Work held undecided at a node that another node applied
            // (this router, or the one it replaces, placed it again after
            // losing that node) is given back there before the outcome,
            // which then covers only the rest; committed, it applied twice
            // (simulator seeds 3047, 3353, 3655 with no shared storage: the
            // router that placed it again, which would remember it in
            // `replaced`, had been lost before the node came back).
            let work: Vec<(NodeRef, &Work)> = q.answers.iter().map(|a| (a.node, &a.work)).collect();
            let give = replaced_elsewhere(ctx, &self.sites, &work);
            for (node, part) in &give {
                super::log_replaced_elsewhere(ctx, tid, *node, *part);
                ctx.to_backend(*node, ToBackend::GiveBack { tid, part: *part, drive: NO_DRIVE });
            }
            // A node left with nothing to tell hears nothing: an outcome
            // naming no branch is for every branch and copy there, and a
            // commit of what it no longer holds is answered "not committed
            // here". (A copy of another node's journal that it holds too
            // asks again, and hears this router's decision.)
            q.answers.retain_mut(|a| {
                let had = !a.parts.is_empty();
                a.parts.retain(|p| !give.contains(&(a.node, *p)));
                let copy_given = !had && give.contains(&(a.node, OWN_REPLACED_WORK));
                !((had && a.parts.is_empty()) || copy_given)
            });
        }
        let status = if commit { Status::Ok } else { Status::Routerunavailtmo };
        // This router decided it: a frontend that drives it again later
        // hears the same (seed 7248: rolled back here, then started afresh
        // by a re-drive once the backends' records of the rollback had
        // been recycled, and committed: two outcomes for one tid).
        self.remember(ctx, tid, commit, status, 0, NO_DRIVE);
        if self.txs.contains_key(&tid) {
            // Driven here again meanwhile: its branches are these.
            self.finish(ctx, tid, commit, status, 0);
            return;
        }
        let mut told: Vec<String> = Vec::new();
        for Answer { node, parts, state, .. } in q.answers {
            let done = match state {
                // Its branches may be in doubt still while the node knows
                // the commit from a journal it read (seed 7710): told.
                TxState::Committed => parts.is_empty(),
                TxState::Aborted => !commit || parts.is_empty(),
                // A rollback is told to a node that knew nothing of it too:
                // it remembers it, and refuses a commit of it that another
                // router (one that was cut off, say) hands it later as a
                // lost node's work (simulator seed 10278, two routers).
                TxState::Unknown => commit && parts.is_empty(),
                TxState::Unvoted | TxState::InDoubt => false,
            };
            // An in-doubt transaction recovered from a journal has no
            // branch (its partition may not be open yet): it is named alone.
            if done || (parts.is_empty() && !matches!(state, TxState::InDoubt | TxState::Unknown)) {
                continue;
            }
            ctx.to_backend(
                node,
                ToBackend::Outcome { tid, parts, accepted: commit, status, reason: 0, drive: NO_DRIVE },
            );
            super::forget::add_name(&mut told, ctx.topo.name(node));
        }
        if !commit && !told.is_empty() {
            // A rollback found by asking has no frontend here to wait for:
            // the nodes keep it only until the forget that follows the
            // outcome (this router's memory answers a later re-drive).
            // Kept for good, they pinned their journals (simulator seed
            // 7491 with two routers).
            self.queue_forget(ctx, tid, told);
        }
    }
}
