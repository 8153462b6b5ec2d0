//! Outcomes: a commit made durable and given to the servers (`commit`),
//! an abort (`abort_branch`), and what stands between a committed
//! transaction and its `Done` record (`Finishing`, `acked`, `maybe_done`).

use super::branches::Claim;
use super::dispatch::server_status;
use super::Backend;
use crate::msgtype::MsgType;
use crate::node::{Callout, ChanRef, Ctx, NodeRef, PartId, ToBackend, ToRouter};
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::TxRecord;

/// A router's rejection whose kept record is being synced: the branches
/// `parts` it rolls back wait for it (`Backend::rejection_written`).
pub(super) struct Rejecting {
    pub(super) tid: Tid,
    pub(super) parts: Vec<PartId>,
    pub(super) status: Status,
    pub(super) reason: u32,
}

/// A commit record on its way to disk.
pub(super) struct Committing {
    pub(super) tid: Tid,
    /// The branches it commits here.
    pub(super) parts: Vec<PartId>,
    pub(super) reason: u32,
    /// The routers to tell when it is durable.
    pub(super) routers: Vec<NodeRef>,
    /// Routers that handed a branch of it here committed (`Adopt`) while
    /// this node held that branch undecided: each hears `Adopted` for it
    /// once the commit is durable.
    pub(super) adopters: Vec<(NodeRef, PartId)>,
    /// The write restates the branches' messages (`restatement`): a full
    /// journal refused some of them before it was made. A refusal reported
    /// after it was made (the refused append was ahead of it) is restated
    /// by one more write once this one is durable (`commit_written`).
    pub(super) restated: bool,
    /// A `Commit` record of it is durable already (this is the write that
    /// restates the messages after it, or carries `carried_seqs`): it can
    /// no longer fail, only be written again.
    pub(super) recorded: bool,
    /// `Seq` records of the numbers given to branches that joined it after
    /// its write was made (`Backend::number_joined`), in no write yet: one
    /// more write carries them once this one is durable, before anyone
    /// hears of the commit (`commit_written`; simulator `--shadow --seed
    /// 5606`).
    pub(super) joined_seqs: Vec<(Tid, TxRecord)>,
    /// The `joined_seqs` this write carries (it is that one more write):
    /// written again with it if a full journal refuses it (`retry_commits`).
    pub(super) carried_seqs: Vec<(Tid, TxRecord)>,
}

impl Committing {
    /// A commit's first write (no `Commit` record of it durable yet, no
    /// number joined it yet).
    pub(super) fn first_write(
        tid: Tid,
        parts: Vec<PartId>,
        reason: u32,
        routers: Vec<NodeRef>,
        adopters: Vec<(NodeRef, PartId)>,
        restated: bool,
    ) -> Committing {
        Committing {
            tid,
            parts,
            reason,
            routers,
            adopters,
            restated,
            recorded: false,
            joined_seqs: Vec::new(),
            carried_seqs: Vec::new(),
        }
    }
}

/// What still stands between a committed transaction and its `Done` record.
#[derive(Default)]
pub(crate) struct Finishing {
    /// Branches committed but not yet acknowledged by a server.
    pub(crate) unacked: usize,
    /// Recovered messages not yet claimed by any partition.
    pub(super) unclaimed: usize,
    /// This node's own journal holds a commit of it (besides, or instead
    /// of, journals read here): its `Applied`/`Done` goes there too, and
    /// letting a read journal go drops only that journal's share.
    pub(crate) own: bool,
}

/// How long a commit record refused by a full journal waits before it is
/// written again (space comes back as finished transactions' segments are
/// recycled, or when an operator frees the disk).
pub(crate) const COMMIT_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

impl Backend {
    /// The commit is durable (or there is no journal): tell the servers,
    /// then the router (which tells the client).
    pub(super) fn commit(&mut self, ctx: &mut Ctx, tid: Tid, parts: Vec<PartId>, reason: u32, routers: &[NodeRef]) {
        self.remember(tid, true, Status::Ok, reason);
        self.shadow_committed(ctx, tid, reason);
        if self.keep_decided {
            // What it applies, kept with the decision (a node with peers
            // only: nothing on the one-backend path).
            let prints: Vec<u64> = parts
                .iter()
                .filter(|p| !self.is_callout(**p))
                .filter_map(|p| self.branches.get(&(tid, *p)))
                .flat_map(|b| b.msgs.iter().map(|m| crate::txrecord::work_print(m)))
                .collect();
            self.note_applied_prints(tid, prints);
        }
        let mut n = 0;
        let mut parked = Vec::new();
        let mut aside = Vec::new();
        for part in &parts {
            let callout = self.is_callout(*part);
            let fence = self.fence(*part);
            let Some(b) = self.branches.get_mut(&(tid, *part)) else { continue };
            parked.append(&mut b.parked);
            if callout {
                // A call-out hears the outcome and owes no acknowledgement:
                // it wrote nothing that a replay would need.
                let server = b.server;
                self.branches.remove(&(tid, *part));
                if let Some(s) = server {
                    ctx.deliver(s.0, server_status(s.1, MsgType::Accepted, tid, Status::Ok, reason, fence));
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
        let f = self.finishing.entry(tid).or_default();
        f.unacked += n;
        f.own = true;
        // A branch of a partition that gave its range up (its last server
        // left and a standby took the grant) goes to the range's next
        // active partition: a standby presents nothing, even to a server
        // that opened here since (bank kill test: the commit then stayed
        // here, never applied, after the client heard "accepted").
        for part in &parts {
            let gave_up = self.parts.get(part).is_some_and(|p| !p.holds_grant() && p.callout == Callout::No);
            if gave_up && self.branches.contains_key(&(tid, *part)) {
                self.hand_off(ctx, tid, *part);
            }
        }
        self.maybe_done(ctx, tid);
        // With an in-doubt copy of `tid` from a read journal still being
        // committed there, `resolved` says `Durable` once it is: the router
        // counts one `Durable` per node.
        if !self.copies_resolving(tid) {
            self.say_durable_to(ctx, tid, routers);
        } else {
            self.owe_durable(tid, routers);
        }
        self.replay_parked(ctx, parked);
        self.live_committed(ctx, tid);
    }

    /// Write again the commit records a full journal refused.
    pub(super) fn retry_commits(&mut self, ctx: &mut Ctx) {
        if self.commit_retry_at.is_none_or(|at| at > ctx.now) {
            return;
        }
        self.commit_retry_at = None;
        self.retry_adopts(ctx);
        for token in std::mem::take(&mut self.commit_retry) {
            if let Some(c) = self.committing.get(&token) {
                let (tid, reason, parts, recorded) = (c.tid, c.reason, c.parts.clone(), c.recorded);
                let carried = c.carried_seqs.clone();
                let mut recs = self.restatement(tid, &parts);
                let restated = !recs.is_empty();
                if !recorded {
                    // Every number of the commit, those of branches that
                    // joined it too (`number` gives them all).
                    recs.extend(self.shadow_number(tid, &parts));
                } else {
                    recs.extend(carried);
                }
                recs.push((tid, TxRecord::Commit { reason }));
                ctx.journal(recs, true, Some(token));
                if let Some(c) = self.committing.get_mut(&token) {
                    c.restated = restated;
                    if !recorded {
                        c.joined_seqs.clear();
                    }
                }
            }
        }
    }

    /// Every message of `tid`'s branches `parts` here, after a
    /// `TxRecord::Restated` record, when a full journal refused some of
    /// their `Msg` records (`Branch::refused`); nothing otherwise. Written
    /// ahead of the commit record in the same append: a replay after a
    /// crash presents the messages after the last such record only. The
    /// refused records are not known one by one (a refused append is
    /// reported by its transactions), so all are written again.
    pub(super) fn restatement(&self, tid: Tid, parts: &[PartId]) -> Vec<(Tid, TxRecord)> {
        let refused = |p: &PartId| self.branches.get(&(tid, *p)).is_some_and(|b| b.refused);
        if !self.journal || !parts.iter().any(refused) {
            return Vec::new();
        }
        let mut recs = vec![(tid, TxRecord::Restated)];
        for p in parts {
            let (Some(b), Some(facility)) = (self.branches.get(&(tid, *p)), self.parts.get(p).map(|q| &q.facility))
            else {
                continue;
            };
            recs.extend(b.msgs.iter().map(|m| (tid, TxRecord::Msg { facility: facility.clone(), data: m.clone() })));
        }
        recs
    }

    /// A router hands branch `(tid, part)` here committed (`Adopt`: the
    /// commit it decided never reached a journal that was read) while this
    /// node holds that branch undecided (the outcome was lost with a
    /// link). The branch commits here like any outcome, and the router
    /// hears `Adopted` only once the commit record is durable: answering
    /// before would let the client hear "accepted" of a commit that is
    /// nowhere if this node stops (simulator seed 5043).
    pub(super) fn commit_adopted_branch(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, part: PartId, reason: u32) {
        if let Some(&token) = self.committing_tx.get(&tid) {
            if let Some(c) = self.committing.get(&token) {
                // Its commit record is on its way already (without this
                // branch's messages: restated after it if some were
                // refused; nor its range's number for the other site:
                // written after it, `number_joined`).
                let joins = !c.parts.contains(&part);
                let seqs = if joins { self.number_joined(tid, &[part]) } else { Vec::new() };
                let refused = self.branches.get(&(tid, part)).is_some_and(|b| b.refused);
                if let Some(c) = self.committing.get_mut(&token) {
                    if joins {
                        c.parts.push(part);
                        c.joined_seqs.extend(seqs);
                        if refused {
                            c.restated = false;
                        }
                    }
                    c.adopters.push((from, part));
                }
                return;
            }
        }
        if !self.journal {
            self.shadow_number(tid, &[part]);
            self.commit(ctx, tid, vec![part], reason, &[]);
            return ctx.to_router(from, ToRouter::Adopted { tid, part });
        }
        self.next_token += 1;
        let token = self.next_token;
        let mut recs = self.restatement(tid, &[part]);
        let restated = !recs.is_empty();
        recs.extend(self.shadow_number(tid, &[part]));
        recs.push((tid, TxRecord::Commit { reason }));
        ctx.journal(recs, true, Some(token));
        let c = Committing::first_write(tid, vec![part], reason, vec![], vec![(from, part)], restated);
        self.committing.insert(token, c);
        self.committing_tx.insert(tid, token);
    }

    pub(super) fn deliver_commit(&mut self, ctx: &mut Ctx, s: ChanRef, tid: Tid, reason: u32) {
        let d = server_status(s.1, MsgType::Accepted, tid, Status::Ok, reason, self.server_fence(s));
        ctx.deliver(s.0, d);
        if let Some(srv) = self.servers.get_mut(&s) {
            srv.unacked.push(tid);
        }
        self.release(s, tid);
    }

    pub(super) fn abort_branch(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId, status: Status, reason: u32) {
        let fence = self.fence(part);
        let Some(mut b) = self.branches.remove(&(tid, part)) else { return };
        let parked = std::mem::take(&mut b.parked);
        self.replay_parked(ctx, parked);
        if b.forgotten {
            // Released at its vote; nobody is told.
            return;
        }
        match b.server {
            Some(s) => {
                ctx.deliver(s.0, server_status(s.1, MsgType::Rejected, tid, status, reason, fence));
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

    /// A router rejected `tid`: journaled without a sync (presumed abort
    /// covers a lost record). With peers it is kept answerable (`KeptAbort`,
    /// no `Done`) until the router says the client's frontend has the
    /// outcome: a frontend that never heard it drives it again later, and
    /// must find it rejected here, not unknown everywhere and started
    /// afresh (docs/outcomes.md). Without peers nobody drives it again.
    /// `sync`: made durable at once (a rollback this node decided alone,
    /// which nothing else records: rare, so the sync costs nothing that
    /// matters; simulator seed 8904 lost one unsynced to a power loss 2 s
    /// later, and the re-drive started the transaction afresh). Returns
    /// the token of a synced rejection kept answerable: `journal_done`
    /// says when it is durable.
    pub(super) fn write_rejection(&mut self, ctx: &mut Ctx, tid: Tid, sync: bool) -> Option<u64> {
        if !self.journal {
            return None;
        }
        if self.keep_decided {
            let token = sync.then(|| {
                self.next_token += 1;
                self.next_token
            });
            ctx.journal(vec![(tid, TxRecord::KeptAbort)], sync, token);
            self.answerable_aborts.insert(tid);
            token
        } else {
            ctx.journal(vec![(tid, TxRecord::Abort), (tid, TxRecord::Done)], false, None);
            None
        }
    }

    /// Branches `parts` of `tid` are rolled back: their servers hear so.
    pub(super) fn reject_branches(&mut self, ctx: &mut Ctx, tid: Tid, parts: Vec<PartId>, status: Status, reason: u32) {
        for part in parts {
            if self.branches.get(&(tid, part)).is_some_and(|b| b.aside) {
                self.aside_decided(ctx, tid, part, false);
            }
            self.abort_branch(ctx, tid, part, status, reason);
        }
    }

    /// A router's rejection of `tid` whose kept record is on its way to
    /// disk: its branches are decided.
    pub(super) fn rejection_pending(&self, tid: Tid) -> Option<&Rejecting> {
        self.rejecting.values().find(|r| r.tid == tid)
    }

    /// The kept record of a router's rejection was synced (or not).
    /// Written, the branches are rolled back. Refused by a full journal,
    /// they are rolled back all the same (their servers told rescheduled,
    /// not rejected): the rejection stays answerable from memory, and the branches must
    /// not hold their servers and their records the journal's space (held,
    /// the journal stayed full for good: every disk-fault seed that filled
    /// it left clients without an outcome; written again at once instead,
    /// the refusal came back at once, for ever: seed 16869). Any other
    /// failure stops the node, and its servers must not hear an outcome
    /// that is nowhere.
    pub(super) fn rejection_written(&mut self, ctx: &mut Ctx, r: Rejecting, result: Result<(), Status>) {
        match result {
            Ok(()) => self.reject_branches(ctx, r.tid, r.parts, r.status, r.reason),
            Err(Status::Jnlfull) => {
                // Rolled back all the same, but not told as the outcome:
                // with no record, a restart forgets the rejection, and a
                // re-drive that finds nobody who knows the tid may commit
                // it afresh; a server that had heard "rejected" then
                // disagreed with that commit (simulator seed 15466, one
                // router). Told rescheduled (`RTR_STS_DLKTXRES`), it holds
                // no outcome; the router's rejection stays the client's.
                ctx.log(format!(
                    "{}: the journal is full: rolled back without a durable record, its servers told rescheduled",
                    r.tid
                ));
                self.reject_branches(ctx, r.tid, r.parts, Status::Dlktxres, 0);
            }
            Err(status) => ctx.log(format!(
                "{}: the rejection could not be made durable ({status:?}): its servers are not told",
                r.tid
            )),
        }
    }

    /// Tell router `to` that this node's commit of `tid` is durable. Each
    /// in-doubt copy of `tid` this node gave up with a read journal is
    /// named first (`CopyGivenUp`): a router waiting on this node as that
    /// copy's stand-in keeps waiting for the journal's next holder, and
    /// does not take this `Durable` for the copy's. One `Durable` covers
    /// all a node holds; without the names it was either held back for
    /// a copy whose write failed (its own branch then stalled the commit
    /// for ever: simulator seed 7620 with synced rejections) or covered a
    /// copy that no journal held yet.
    pub(super) fn say_durable(&mut self, ctx: &mut Ctx, to: NodeRef, tid: Tid) {
        for node in self.given_up_copies.get(&tid).into_iter().flatten() {
            ctx.to_router(to, ToRouter::CopyGivenUp { tid, node: node.clone() });
        }
        ctx.to_router(to, ToRouter::Durable { tid });
    }

    /// Routers `routers` heard nothing of this node's commit of `tid`
    /// while an in-doubt copy's commit record is on its way: whoever says
    /// `Durable` for `tid` next says it to them too (`say_durable_to`).
    pub(super) fn owe_durable(&mut self, tid: Tid, routers: &[NodeRef]) {
        let owed = self.durable_owed.entry(tid).or_default();
        for r in routers {
            if !owed.contains(r) {
                owed.push(*r);
            }
        }
    }

    /// Say `Durable` for `tid` to `routers` and to every router it was
    /// held back from (`owe_durable`), once each.
    pub(super) fn say_durable_to(&mut self, ctx: &mut Ctx, tid: Tid, routers: &[NodeRef]) {
        let mut to: Vec<NodeRef> = routers.to_vec();
        for r in self.durable_owed.remove(&tid).unwrap_or_default() {
            if !to.contains(&r) {
                ctx.log(format!(
                    "{tid}: durable: told to router {} too, held back for an in-doubt copy",
                    ctx.topo.name(r)
                ));
                to.push(r);
            }
        }
        for r in to {
            self.say_durable(ctx, r, tid);
        }
    }

    /// The in-doubt copy of `tid` from lost node `node`'s journal was given
    /// up with that journal: its next holder has it. If this node's own
    /// commit of `tid` is durable and no other copy is on its way, the
    /// routers of `facility` (one of them waits on this node for it, and
    /// the `Durable` it held back for the copy) hear so now.
    pub(super) fn copy_given_up(&mut self, ctx: &mut Ctx, tid: Tid, node: &str, facility: &str) {
        let names = self.given_up_copies.entry(tid).or_default();
        if !names.iter().any(|n| n == node) {
            names.push(node.to_string());
        }
        let own_durable = self.decided.get(&tid).is_some_and(|d| d.committed);
        if own_durable && !self.copies_resolving(tid) && !self.committing_tx.contains_key(&tid) {
            let mut routers = ctx.topo.routers(facility);
            routers.sort();
            self.say_durable_to(ctx, tid, &routers);
        }
    }

    /// In-doubt copies of `tid` from read journals whose commit records are
    /// on their way (`in_doubt_outcome`): this node is not durable for
    /// `tid` before they are.
    pub(super) fn copies_resolving(&self, tid: Tid) -> bool {
        self.resolving.values().any(|r| r.tid == tid)
    }

    /// A server acknowledged a committed branch.
    pub(super) fn acked(&mut self, ctx: &mut Ctx, tid: Tid) {
        if let Some(f) = self.finishing.get_mut(&tid) {
            f.unacked = f.unacked.saturating_sub(1);
        }
        self.maybe_done(ctx, tid);
    }

    pub(crate) fn maybe_done(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(f) = self.finishing.get(&tid) else { return };
        // Another range's entry of it from the other site's log is being
        // written (its `Msg`, `Seq` and `Commit` appended): not finished
        // yet. Its `Applied` or `Done` now lands after that write's records
        // and ends them too, and a crash before that range's server
        // acknowledged left its share never applied (simulator `--shadow
        // --seed 2273`: a forced journal takeover stopped the node while it
        // presented the second range's entry; restarted, the journal said
        // the transaction was applied). `entry_written` looks again.
        if self.entry_being_written(tid) {
            return;
        }
        if f.unacked == 0 && f.unclaimed == 0 {
            let own = f.own;
            self.finishing.remove(&tid);
            let jids = self.adopted_tx.remove(&tid);
            if let Some(jids) = &jids {
                // A taken-over transaction ends in its own journal; the
                // journal is let go once the last one has. With peers, it
                // ends answerable there (`Applied`), as its node would have
                // ended it: a router may still wait for that node's
                // commit (it never heard of this read: cut off, or not
                // linked yet). The node, when it starts again on its
                // journal, reports the commit and keeps it until a router
                // forgets it. Ended `Done`, the journal was recycled, and
                // the restarted node answered "not committed here" of a
                // commit applied here: the router told its client
                // "rejected" (simulator seed 9044, two routers). Always:
                // a journal taken over means other nodes, whether or not a
                // link is up yet (the reader there had none).
                for jid in jids {
                    ctx.journal_to(*jid, vec![(tid, TxRecord::Applied)]);
                    self.adopted_closed(ctx, *jid);
                }
            }
            // This node's own journal ends it too, unless it came only
            // from journals read here.
            if self.shadow_held.contains_key(&tid) {
                // Its `Done` waits for the other site (`shadow_log.rs`):
                // answerable meanwhile, whatever its router says.
                if self.forget_early.remove(&tid) {
                    if let Some(h) = self.shadow_held.get_mut(&tid) {
                        h.forgot = true;
                    }
                }
                if self.journal && (jids.is_none() || own) {
                    ctx.journal(vec![(tid, TxRecord::Applied)], false, None);
                    self.answerable.insert(tid);
                }
                self.entry_done(ctx, tid);
                return;
            }
            if self.journal && (jids.is_none() || own) {
                if self.keep_decided && !self.forget_early.remove(&tid) {
                    // A router on another node may still ask about it (a
                    // re-drive, a participant in doubt): the commit stays in
                    // the journal, not replayed, until a router forgets it.
                    ctx.journal(vec![(tid, TxRecord::Applied)], false, None);
                    self.answerable.insert(tid);
                } else {
                    ctx.journal(vec![(tid, TxRecord::Done)], false, None);
                }
            }
        } else {
            // What was presented here of a taken-over transaction may be
            // done, the rest for ranges this node does not serve (or this
            // node's own share, which does not hold the read journal).
            for jid in self.adopted_tx.get(&tid).cloned().unwrap_or_default() {
                self.release_if_stranded(ctx, jid);
            }
        }
    }

    /// Router `from` decided `tid` for its branches `parts` here (none
    /// named: every branch of `tid` here). A commit is made durable before
    /// anyone learns of it (`commit_written`); a rejection needs no sync.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn outcome(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        tid: Tid,
        mut parts: Vec<PartId>,
        accepted: bool,
        status: Status,
        reason: u32,
        drive: u32,
    ) {
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
            let single = || ToBackend::Outcome { tid, parts: vec![part], accepted, status, reason, drive };
            if self.owned_by(ctx, from, tid, part, Claim::Decides, drive, single)
                && self.branches.contains_key(&(tid, part))
            {
                mine.push(part);
            }
        }
        if let Some(r) = self.rejection_pending(tid) {
            // Rejected here already, its record being synced: decided.
            if accepted {
                ctx.log(format!(
                    "router {} committed {tid}, which is being rejected here; not committed here",
                    ctx.topo.name(from)
                ));
                ctx.to_router(from, ToRouter::CommitFailed { tid, status: r.status });
            }
            return;
        }
        if let Some(&token) = self.committing_tx.get(&tid) {
            // Its commit is being made durable already (decided by
            // another router): this router hears when it is.
            if let Some(c) = self.committing.get(&token) {
                if accepted {
                    // The record commits every branch of `tid` here, but
                    // `commit` presents only `c.parts`: a branch this
                    // outcome names joins them. Left out, it was never
                    // presented, though its node said `Durable` (simulator
                    // seed 243 --shadow, two routers: two branches' parked
                    // outcomes replayed one by one when their owner's link
                    // went; the first started the record, the second found
                    // it on its way, and the client heard "accepted" of a
                    // transaction one range never applied).
                    // And a joining branch is numbered for the other site
                    // as it would be alone (`number_joined`; simulator
                    // `--shadow --seed 5606`: left out, its range's share
                    // never reached the other site).
                    let joining: Vec<PartId> = mine
                        .into_iter()
                        .filter(|p| {
                            !c.parts.contains(p) && self.branches.get(&(tid, *p)).is_some_and(|b| b.committed.is_none())
                        })
                        .collect();
                    let seqs = if joining.is_empty() { Vec::new() } else { self.number_joined(tid, &joining) };
                    if let Some(c) = self.committing.get_mut(&token) {
                        for part in joining {
                            if !c.parts.contains(&part) {
                                c.parts.push(part);
                            }
                        }
                        c.joined_seqs.extend(seqs);
                        c.routers.push(from);
                    }
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
            if accepted && !self.copies_resolving(tid) {
                self.say_durable(ctx, from, tid);
            } else if accepted {
                self.owe_durable(tid, &[from]);
            }
            return;
        }
        if mine.is_empty() {
            // Nothing of it here any more: decided already.
            match self.decided.get(&tid) {
                // Not while an in-doubt copy's commit is being written into
                // the journal it came from (`in_doubt_outcome`, just
                // before): said at once, the router took that copy for
                // durable, told the client, and let the other participants
                // forget the commit, which the copy's journal then never
                // got (simulator seed 12269, two routers: accepted, never
                // applied on the copy's key range). `resolved` says it.
                Some(d) if d.committed && accepted && !self.copies_resolving(tid) => self.say_durable(ctx, from, tid),
                Some(d) if d.committed && accepted => self.owe_durable(tid, &[from]),
                Some(d) if d.committed != accepted => {
                    ctx.log(format!(
                        "router {} decided {tid} {} but it was {} here; the later decision is ignored",
                        ctx.topo.name(from),
                        if accepted { "committed" } else { "rejected" },
                        if d.committed { "committed" } else { "rejected" },
                    ));
                    if accepted {
                        // Rolled back here by a router that resolved it
                        // while this one was cut off: the commit did not
                        // happen here, and this router hears so, or it
                        // waits for this node's `Durable` for ever and its
                        // client with it (simulator seed 7199, two
                        // routers).
                        ctx.to_router(from, ToRouter::CommitFailed { tid, status: d.status });
                    }
                }
                Some(_) => {}
                None if !accepted && self.holds_nothing_of(tid) => {
                    // Never seen here: a re-driven transaction its router
                    // rejected. Remembered (and journaled, like any
                    // rejection), so a router still holding its client's
                    // earlier messages cannot start it here afresh.
                    // Also when all this node had of it was an in-doubt
                    // copy it gave up with a read journal: the copy is the
                    // journal's next holder's, but the rejection is the
                    // transaction's, and this node may be where the live
                    // router places a branch of it next (simulator seed
                    // 36324, two routers: the rejection of an inquiry came
                    // just after the copy was given up and was dropped; the
                    // transaction's router, cut off meanwhile, then started
                    // a branch of it here and committed it beside the
                    // rollback of the copy: accepted, one range never
                    // applied it).
                    if self.keep_decided {
                        self.write_rejection(ctx, tid, false);
                    }
                    self.remember(tid, false, status, reason);
                }
                None if accepted && self.keep_decided && self.knows_nothing_of(tid) => {
                    // A commit of a branch this node knows nothing of: its
                    // vote was not durable and died with a crash (a durable
                    // one would be in doubt here, an applied commit stays
                    // answerable until its router forgets it). So the commit
                    // did not happen here, and the router hears so (it
                    // waited for this node's `Durable` for ever: simulator
                    // seed 7336).
                    ctx.log(format!(
                        "router {} committed {tid}, of which nothing is here (its branch was lost before its vote \
                         was durable): not committed here",
                        ctx.topo.name(from)
                    ));
                    ctx.to_router(from, ToRouter::CommitFailed { tid, status: Status::Srvdied });
                }
                None if accepted && self.copies_resolving(tid) => {
                    // An in-doubt copy of `tid` is being committed here on
                    // another router's answer (`in_doubt_outcome`): the copy
                    // is out of `in_doubt` and the decision is remembered
                    // only once its record is durable (`resolved`), so this
                    // commit finds nothing of `tid` to take. It is the same
                    // commit, and this router waits for this node's
                    // `Durable` (its branch here was that copy before the
                    // node restarted): owed, `resolved` says it to every
                    // router it is owed to. Dropped, the `Durable` went to
                    // the answering router only, and this one and its
                    // client waited for ever (simulator seed 47830, two
                    // routers: the restarted node, in doubt, asked tr2,
                    // and tr1 sent its commit again when its link came up,
                    // while the copy's commit record was being written).
                    self.owe_durable(tid, &[from]);
                }
                None => {}
            }
            return;
        }
        if !accepted {
            // With peers the kept record is synced before any server hears
            // "rejected": told first, a power loss took the unsynced record,
            // the client (which had not heard) drove the transaction again,
            // nobody knew the tid, and it committed after this server had
            // rolled it back (simulator seed 15336, one router: in a run of
            // mostly rejections no sync came for 12 s). One group-commit
            // wait per rejection, only for nodes with peers.
            let token = self.write_rejection(ctx, tid, self.keep_decided);
            self.remember(tid, false, status, reason);
            match token {
                Some(token) => {
                    self.rejecting.insert(token, Rejecting { tid, parts: mine, status, reason });
                }
                None => self.reject_branches(ctx, tid, mine, status, reason),
            }
        } else if self.journal && !mine.iter().all(|p| self.is_callout(*p)) {
            self.next_token += 1;
            let token = self.next_token;
            let mut recs = self.restatement(tid, &mine);
            let restated = !recs.is_empty();
            recs.extend(self.shadow_number(tid, &mine));
            recs.push((tid, TxRecord::Commit { reason }));
            ctx.journal(recs, true, Some(token));
            let c = Committing::first_write(tid, mine, reason, vec![from], vec![], restated);
            self.committing.insert(token, c);
            self.committing_tx.insert(tid, token);
        } else {
            self.shadow_number(tid, &mine);
            self.commit(ctx, tid, mine, reason, &[from]);
        }
    }

    /// Nothing of `tid` is here in any form: no branch (not even one owned
    /// by another router, whose outcome waits), no in-doubt copy, no
    /// commit being written, applied, answerable or handed on, no
    /// recovered or adopted work. (Simulator seed 7082: a commit for
    /// branches another router owned was answered "not committed here".)
    fn knows_nothing_of(&self, tid: Tid) -> bool {
        self.holds_nothing_of(tid) && !self.given_up_copies.contains_key(&tid)
    }

    /// `knows_nothing_of`, but for in-doubt copies given up with a read
    /// journal: those are the journal's next holder's, and a rejection of
    /// the tid is still remembered here (a commit of it is not answered
    /// "not committed here": the next holder may commit the copy).
    fn holds_nothing_of(&self, tid: Tid) -> bool {
        !self.branches.keys().any(|(t, _)| *t == tid)
            && !self.in_doubt.contains_key(&tid)
            && !self.answerable.contains(&tid)
            && !self.answerable_aborts.contains(&tid)
            && !self.committing_tx.contains_key(&tid)
            && !self.finishing.contains_key(&tid)
            && !self.adopting.values().chain(&self.adopt_retry).any(|a| a.tid == tid)
            && !self.adopt_after.contains_key(&tid)
            && !self.handing_off.keys().any(|(t, _)| *t == tid)
            && !self.resolving.values().any(|r| r.tid == tid)
            && !self.recovered.values().flatten().any(|r| r.tid == tid)
    }

    /// The commit record of `tid` was written (or not): the commit
    /// happened, or (not durable) it did not and the branches abort.
    pub(super) fn commit_written(&mut self, ctx: &mut Ctx, c: Committing, result: Result<(), Status>) {
        let Committing { tid, parts, reason, routers, adopters, restated, recorded, joined_seqs, carried_seqs } = c;
        self.committing_tx.remove(&tid);
        let restate = !restated && parts.iter().any(|p| self.branches.get(&(tid, *p)).is_some_and(|b| b.refused));
        match result {
            Ok(()) if restate || !joined_seqs.is_empty() => {
                // Durable, but a full journal refused some of its messages
                // (reported after this write was made): written again with
                // all of them before anyone hears of the commit, or a
                // replay after a crash would present it without them.
                // Likewise the numbers of branches that joined it after
                // this write was made (`number_joined`): their ranges'
                // shares are entries of the log for the other site only
                // once written (a crash before then replays the commit
                // without their `Seq`, and the replay remembers it:
                // `remember_recovered`).
                let mut recs = Vec::new();
                if restate {
                    ctx.log(format!("{tid}: a full journal refused some of its messages: its commit restates them"));
                    recs = self.restatement(tid, &parts);
                }
                if !joined_seqs.is_empty() {
                    ctx.log(format!(
                        "{tid}: {} range(s) joined its commit record on its way: their numbers for the other site \
                         are written before anyone hears of the commit",
                        joined_seqs.len()
                    ));
                }
                recs.extend(joined_seqs.iter().cloned());
                recs.push((tid, TxRecord::Commit { reason }));
                self.next_token += 1;
                let token = self.next_token;
                ctx.journal(recs, true, Some(token));
                let c = Committing {
                    tid,
                    parts,
                    reason,
                    routers,
                    adopters,
                    restated: restated || restate,
                    recorded: true,
                    joined_seqs: Vec::new(),
                    carried_seqs: joined_seqs,
                };
                self.committing.insert(token, c);
                self.committing_tx.insert(tid, token);
            }
            Ok(()) => {
                self.commit(ctx, tid, parts, reason, &routers);
                for (r, part) in adopters {
                    ctx.to_router(r, ToRouter::Adopted { tid, part });
                }
            }
            // A durable yes vote (or a commit decided elsewhere and handed
            // here) obliges: the branch may not roll back, whatever the
            // journal says, since another node may have committed. A full
            // journal only delays the commit record; it is written again.
            // (Looked at only on a failure: not on every commit.)
            Err(status)
                if recorded
                    || !adopters.is_empty()
                    || parts.iter().any(|p| self.branches.get(&(tid, *p)).is_some_and(|b| b.vote_durable())) =>
            {
                ctx.log(format!(
                    "{tid}: its commit record could not be written ({status:?}) after a durable vote: written \
                     again in {} ms; its servers and routers wait",
                    COMMIT_RETRY.as_millis()
                ));
                self.next_token += 1;
                let token = self.next_token;
                let c =
                    Committing { tid, parts, reason, routers, adopters, restated, recorded, joined_seqs, carried_seqs };
                self.committing.insert(token, c);
                self.committing_tx.insert(tid, token);
                self.commit_retry.push(token);
                self.commit_retry_at.get_or_insert(ctx.now + COMMIT_RETRY);
            }
            Err(status) => {
                // The commit is not durable, so it did not happen: recovery
                // would presume abort. Nobody was told otherwise yet.
                self.unnumber(tid);
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
}
