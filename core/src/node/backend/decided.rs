//! What became of recently decided transactions (`remember`), to answer a
//! router that drives one again (`answer_decided`) or inquires (`inquire`).

use super::branches::{Branch, Claim};
use super::Backend;
use crate::node::{Ctx, NodeRef, PartId, ToBackend, ToRouter, TxState, NO_DRIVE, OWN_REPLACED_WORK};
use crate::protocol::Bytes;
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::{work_print, TxRecord};

/// How many decided transactions a backend remembers, to answer a router
/// that drives one of them again.
const DECIDED_KEPT: usize = 1 << 16;

/// How often at most the answerable transactions are carried forward
/// while the journal stays full: carrying them again at once would only
/// fill it further, and new records take a while to fill a segment.
pub(super) const CARRY_AGAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Records per append when carrying forward: one append must fit in a
/// segment (a `Carried` record is some 40 bytes).
const CARRY_BATCH: usize = 256;

/// How a remembered transaction ended.
#[derive(Clone, Copy)]
pub(super) struct Decided {
    pub(super) committed: bool,
    pub(super) status: Status,
    pub(super) reason: u32,
}

impl Backend {
    /// A router resolving `tid` asks what this backend knows. Its branches
    /// here become the asker's (once their router's link is gone: until
    /// then the question waits), so the answer is final.
    /// An inquiry's "unknown" binds this node up to drive `binds`
    /// (`bound.rs`).
    pub(super) fn inquire(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, facility: String, drive: u32, binds: u32) {
        if drive > 0 {
            // A probe: of the latest drive, or refused (it would take
            // branches from the router of a later drive).
            if self.driven_later(ctx, from, tid, drive) {
                ctx.to_router(from, ToRouter::DrivenElsewhere { tid, part: 0, drive });
                return;
            }
            self.saw_drive(tid, drive);
        }
        // Committed here: a branch of this node's own (committing, or
        // committed and not yet applied, or applied and finished: the
        // decided table and the answerable commits remember those; seed
        // 5325 asked about a finished one while an in-doubt copy of it from
        // a journal read here said "in doubt", and it was rolled back there).
        let own_committed = self.committing_tx.contains_key(&tid)
            || self.answerable.contains(&tid)
            || self.decided.get(&tid).is_some_and(|d| d.committed)
            || self.branches.iter().any(|((t, _), b)| *t == tid && b.committed.is_some());
        let parts: Vec<PartId> = self
            .facilities
            .get(&facility)
            .map(|f| f.parts.iter().copied().filter(|p| self.branches.contains_key(&(tid, *p))).collect())
            .unwrap_or_default();
        // A copy alone answers at once; with a branch of this node's own
        // beside it, the branch decides when (below): it may still commit
        // under its router (simulator seed 7156, two routers: answered "in
        // doubt" for the copy while the own branch was undecided, and the
        // asking router rolled the copy back while the branch's router
        // committed).
        if self.in_doubt.contains_key(&tid) && !own_committed && parts.is_empty() {
            // In doubt from a journal read here (and not committed by a
            // branch of this node: that answer wins, below). A branch of
            // this node's own that a router rolled back settles it too: one
            // decision per transaction (seed 5235: "in doubt" here, so a
            // re-drive started the rejected transaction afresh).
            let state = match self.decided.get(&tid) {
                Some(d) if !d.committed => TxState::Aborted,
                _ => TxState::InDoubt,
            };
            if let Some(&Decided { committed: false, status, reason }) = self.decided.get(&tid) {
                // The copy is settled by that rollback too: closed here
                // now. A router told "aborted" tells nobody (it has
                // nothing to say to a node that knows), so the copy stayed
                // in doubt, asked about every few seconds for ever, and
                // held the lost node's journal: that node could never
                // start again and hand on its committed work (simulator
                // seed 8101, two routers).
                self.in_doubt_outcome(ctx, from, tid, false, status, reason);
            }
            let held = self.held_work(tid);
            let site = self.shadow_site(ctx, &facility);
            ctx.to_router(from, ToRouter::Inquired { tid, parts: Vec::new(), state, applied: Vec::new(), held, site });
            return;
        }
        for p in &parts {
            let again = || ToBackend::Inquire { tid, facility: facility.clone(), drive, binds };
            // An orphan's inquiry (drive 0) is no drive of the transaction.
            // A probe is its drive's router driving it: it takes a branch
            // from an owner that only asked about it, as the drive's
            // messages do (simulator seed 9377, two routers: that owner's
            // inquiry waited on a branch the prober owned, and the probe
            // waited here for the inquiry to end).
            let (claim, ballot) = if drive > 0 { (Claim::Drives, drive) } else { (Claim::Asks, NO_DRIVE) };
            if !self.owned_by(ctx, from, tid, *p, claim, ballot, again) {
                return;
            }
        }
        let state = if self.committing_tx.contains_key(&tid) || (parts.is_empty() && self.answerable.contains(&tid)) {
            TxState::Committed
        } else if parts.is_empty() {
            match self.decided.get(&tid) {
                Some(d) if d.committed => TxState::Committed,
                Some(_) => TxState::Aborted,
                None if self.answerable_aborts.contains(&tid) => TxState::Aborted,
                None => TxState::Unknown,
            }
        } else {
            let bs: Vec<&Branch> = parts.iter().filter_map(|p| self.branches.get(&(tid, *p))).collect();
            // Committed by a branch here, or found committed in a journal
            // read here (a lost node's): its own branches' doubt does not
            // hide that (simulator seed 7710: a reader of the lost node's
            // journal, itself in doubt, answered "in doubt", and its
            // router presumed abort while the lost node had committed).
            if own_committed || bs.iter().any(|b| b.committed.is_some()) {
                TxState::Committed
            } else if self.rejection_pending(tid).is_some_and(|r| parts.iter().all(|p| r.parts.contains(p))) {
                // Rolled back by its router, the record on its way to disk
                // before the servers hear (`rejection_written`): decided,
                // and the asker tells these branches nothing more. Taken
                // for unvoted, a re-drive's probe took such a branch over
                // and placed its messages again; the rollback then ended
                // the branch and its new router waited for its vote for
                // ever (simulator seed 16148, two routers: no outcome).
                TxState::Aborted
            } else if bs.iter().all(|b| b.voted_yes()) {
                TxState::InDoubt
            } else {
                TxState::Unvoted
            }
        };
        if state == TxState::Unknown && drive == 0 {
            // Nothing of it here: the answer binds this node against the
            // work of the drive the asker knows, durably before it is given
            // (`bound.rs`; simulator seed 9975).
            let m = ToBackend::Inquire { tid, facility: facility.clone(), drive, binds };
            if !self.bind_first(ctx, from, tid, binds, m) {
                return;
            }
        }
        if state == TxState::Committed && !parts.is_empty() {
            // Committed, known here from elsewhere (a journal read here, or
            // the decided table) while branches of this node's own are
            // still undecided: they commit too, as the asker (their owner
            // now) would tell them. It takes the answer for all of them and
            // tells them nothing (simulator seed 14732, one router: a branch
            // set aside by the retry limit never heard the commit, which
            // the client had heard).
            let undecided: Vec<PartId> = parts
                .iter()
                .copied()
                .filter(|p| self.branches.get(&(tid, *p)).is_some_and(|b| b.committed.is_none()))
                .collect();
            if !undecided.is_empty() {
                let reason = self.decided.get(&tid).map_or(0, |d| d.reason);
                self.outcome(ctx, from, tid, undecided, true, Status::Ok, reason, NO_DRIVE);
            }
        }
        // What it applied (a commit) and what it holds undecided: a router
        // finding work held here applied elsewhere gives it back
        // (`Router::replaced_elsewhere`).
        let applied = if state == TxState::Committed { self.applied_work(tid) } else { Vec::new() };
        let held = self.held_work(tid);
        let site = self.shadow_site(ctx, &facility);
        ctx.to_router(from, ToRouter::Inquired { tid, parts, state, applied, held, site });
    }

    /// The journal refused a write: it is full. Applied commits and kept
    /// rejections stay answerable until their router forgets them; one whose
    /// router was lost first (and the router that restarted does not know
    /// it) is never forgotten, and its records pin the oldest segment for
    /// ever: the ring fills behind it and new work is refused for good
    /// (simulator seeds 7620 and 344, two routers). Each is restated at the
    /// head (`TxRecord::Carried`): the segments behind free up, and the
    /// answer survives a restart as before. The write needs no sync: the
    /// journal syncs before it recycles a segment. Not new transactions, so
    /// the journal's reserve takes them.
    pub(super) fn carry_forward(&mut self, ctx: &mut Ctx) {
        if !self.journal || self.carried_at.is_some_and(|at| ctx.now < at + CARRY_AGAIN) {
            return;
        }
        // Commits kept for the other site stay whole: their messages and
        // log numbers are what it still needs (a full journal then refuses
        // new work of the range, `RTR_STS_JNLFULL`, docs/shadow.md).
        let mut commits: Vec<Tid> =
            self.answerable.iter().copied().filter(|t| !self.shadow_held.contains_key(t)).collect();
        let mut aborts: Vec<Tid> = self.answerable_aborts.iter().copied().collect();
        if commits.is_empty() && aborts.is_empty() {
            return;
        }
        commits.sort();
        aborts.sort();
        self.carried_at = Some(ctx.now);
        ctx.log(format!(
            "the journal is full: {} applied commits and {} rejections kept answerable are carried forward",
            commits.len(),
            aborts.len()
        ));
        let recs: Vec<(Tid, TxRecord)> = commits
            .into_iter()
            .map(|t| (t, TxRecord::Carried { committed: true }))
            .chain(aborts.into_iter().map(|t| (t, TxRecord::Carried { committed: false })))
            .collect();
        for chunk in recs.chunks(CARRY_BATCH) {
            ctx.journal(chunk.to_vec(), false, None);
        }
    }

    /// Tell router `to` what became of a transaction it drives again.
    pub(super) fn answer_decided(&mut self, ctx: &mut Ctx, to: NodeRef, tid: Tid, part: PartId) {
        if let Some(b) = self.branches.get(&(tid, part)) {
            if let Some((status, reason)) = b.committed {
                ctx.to_router(to, ToRouter::Decided { tid, part, committed: true, status, reason });
            }
            return;
        }
        let Decided { committed, status, reason } = match self.decided.get(&tid) {
            Some(d) => *d,
            // Applied and kept answerable, past the memory's bound.
            None if self.answerable.contains(&tid) => Decided { committed: true, status: Status::Ok, reason: 0 },
            // Forgotten long ago, or never seen: nothing of it can commit here.
            None => Decided { committed: false, status: Status::Srvdied, reason: 0 },
        };
        ctx.to_router(to, ToRouter::Decided { tid, part, committed, status, reason });
    }

    /// A router says nobody will ask about these commits again (every
    /// participant made them durable, the clients have their outcomes):
    /// their `Done` records are written, now or once their servers have
    /// applied them. A tid this node holds nothing of is ignored (its
    /// `Done` was written already, or it never committed here).
    pub(in crate::node) fn forget(&mut self, ctx: &mut Ctx, tids: Vec<Tid>) {
        let mut done = Vec::new();
        for tid in tids {
            self.given_up_copies.remove(&tid);
            self.durable_owed.remove(&tid);
            // A router's word that the secondary took part in a commit
            // that never reached this node (its branch went): forgotten
            // with the transaction.
            self.shipped.remove(&tid);
            if let Some(h) = self.shadow_held.get_mut(&tid) {
                // Its `Done` waits for the other site too (`shadow_log.rs`).
                h.forgot = true;
                continue;
            }
            if self.finishing.get(&tid).is_some_and(|f| f.own) {
                // Being applied here (again: work handed here after an
                // earlier attempt was applied and kept answerable, say a
                // second router's copy of one hand-off): its `Done` waits
                // for its servers (`maybe_done`). Written now, it came
                // before this attempt's `Applied`, which then pinned its
                // segment for good (recovery reads the tid as finished and
                // writes nothing), and a crash before the servers applied
                // it would not have replayed it (simulator `--faults disk
                // --seed 117`, two routers: the journal stayed full).
                self.answerable.remove(&tid);
                self.answerable_aborts.remove(&tid);
                self.forget_early.insert(tid);
            } else if self.answerable.remove(&tid) || self.answerable_aborts.remove(&tid) {
                done.push((tid, TxRecord::Done));
            }
        }
        if !done.is_empty() {
            ctx.journal(done, false, None);
        }
    }

    /// Remember how `tid` ended (bounded: the oldest are forgotten). Only a
    /// router on another node can drive a transaction again, so a node
    /// with no peers keeps nothing (it would cost every transaction).
    /// Transactions a journal (this node's at start-up, or a taken-over
    /// one) holds a commit of: a router that drives one of them again gets
    /// its outcome, not a new presentation (ARCHITECTURE §7.1 rule 3). Kept
    /// whether or not the node has peers yet.
    pub(super) fn remember_committed(&mut self, tids: &[Tid]) {
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
    pub(super) fn remember_aborted(&mut self, tids: &[Tid]) {
        let keep = std::mem::replace(&mut self.keep_decided, true);
        for tid in tids {
            if !self.decided.contains_key(tid) {
                self.remember(*tid, false, Status::Srvdied, 0);
            }
        }
        self.keep_decided = keep;
    }

    /// This node applied (or is committing) `msgs` of `tid`: kept with its
    /// `decided` entry (`applied_prints`), nothing if it has none (a node
    /// with no peers keeps nothing).
    pub(super) fn note_applied<'a>(&mut self, tid: Tid, msgs: impl IntoIterator<Item = &'a Bytes>) {
        self.note_applied_prints(tid, msgs.into_iter().map(|m| work_print(m)));
    }

    pub(super) fn note_applied_prints(&mut self, tid: Tid, prints: impl IntoIterator<Item = u64>) {
        if !self.decided.get(&tid).is_some_and(|d| d.committed) {
            return;
        }
        let v = self.applied_prints.entry(tid).or_default();
        for p in prints {
            if !v.contains(&p) {
                v.push(p);
            }
        }
        v.sort_unstable();
    }

    /// What this node applied of `tid`, or is committing: the prints an
    /// answer "committed" names (`ToRouter::Inquired::applied`). Only
    /// branches of key ranges (call-outs apply nothing).
    pub(super) fn applied_work(&self, tid: Tid) -> Vec<u64> {
        let mut v = self.applied_prints.get(&tid).cloned().unwrap_or_default();
        let token = self.committing_tx.get(&tid).and_then(|t| self.committing.get(t));
        for ((t, p), b) in self.branches.iter() {
            let committing = token.is_some_and(|c| c.parts.contains(p));
            if *t != tid || self.is_callout(*p) || (b.committed.is_none() && !committing) {
                continue;
            }
            v.extend(b.msgs.iter().map(|m| work_print(m)));
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// What this node holds of `tid` undecided that may be work placed
    /// again elsewhere: each uncommitted branch of a key range (its
    /// partition) and this node's own journal's in-doubt copy
    /// (`OWN_REPLACED_WORK`), with its messages' prints
    /// (`ToRouter::Inquired::held`).
    pub(super) fn held_work(&self, tid: Tid) -> Vec<(PartId, u64)> {
        let mut v: Vec<(PartId, u64)> = Vec::new();
        for ((t, p), b) in self.branches.iter() {
            if *t == tid && b.committed.is_none() && !self.is_callout(*p) {
                v.extend(b.msgs.iter().map(|m| (*p, work_print(m))));
            }
        }
        for d in self.in_doubt.get(&tid).into_iter().flatten().filter(|d| d.jid == 0) {
            v.extend(d.msgs.iter().map(|m| (OWN_REPLACED_WORK, work_print(m))));
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Drive `drive` of `tid` reached this node (see `Backend::drives`).
    pub(super) fn saw_drive(&mut self, tid: Tid, drive: u32) {
        if drive == 0 {
            return;
        }
        let seen = self.drives.entry(tid).or_insert(0);
        let new = *seen == 0;
        *seen = (*seen).max(drive);
        if new {
            self.drives_order.push_back(tid);
            while self.drives_order.len() > DECIDED_KEPT {
                if let Some(old) = self.drives_order.pop_front() {
                    self.drives.remove(&old);
                    self.promised.remove(&old);
                }
            }
        }
    }

    /// Is `drive` of `tid`, which router `from` drives, older than one this
    /// node has seen? Its frontend left that router and drives it again
    /// elsewhere: nothing of it is started here for `from`.
    pub(super) fn driven_later(&self, ctx: &mut Ctx, from: NodeRef, tid: Tid, drive: u32) -> bool {
        let Some(&seen) = self.drives.get(&tid) else { return false };
        if drive >= seen {
            return false;
        }
        ctx.log(format!(
            "{tid}: router {} has drive {drive} of it, but its frontend drives it again (drive {seen}): not started \
             here for that router",
            ctx.topo.name(from)
        ));
        true
    }

    pub(super) fn remember(&mut self, tid: Tid, committed: bool, status: Status, reason: u32) {
        if !self.keep_decided {
            return;
        }
        if self.decided.insert(tid, Decided { committed, status, reason }).is_none() {
            self.decided_order.push_back(tid);
            while self.decided_order.len() > DECIDED_KEPT {
                if let Some(old) = self.decided_order.pop_front() {
                    self.decided.remove(&old);
                    self.applied_prints.remove(&old);
                }
            }
        }
    }
}
