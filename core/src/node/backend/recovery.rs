//! Recovery: this node's journal at start-up (`recover`), the journals of
//! lost nodes taken over (`takeover_done`, `ingest`), recovered committed
//! work claimed by partitions (`claim_recovered`), and recovered in-doubt
//! transactions that wait for their router's outcome.

use super::branches::Branch;
use super::commit::Finishing;
use super::{Backend, Exception, PartRole};
use crate::journal::Record;
use crate::node::{Callout, Ctx, JournalRead, NodeRef, PartId, ToRouter, LOCAL};
use crate::protocol::admin::AdminError;
use crate::protocol::Bytes;
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::{
    aborted_tids, committed_prints, committed_tids, scan_records, InDoubtTx, ReplayTx, Scan, TxRecord,
};

/// The commit record of an in-doubt transaction (its router committed it)
/// on its way to disk, in the journal it belongs to.
pub(super) struct Resolving {
    pub(super) tid: Tid,
    pub(super) doubt: InDoubt,
    pub(super) reason: u32,
    /// The router that decided it: told when the commit is durable (over
    /// its newest link, by name, if this one went meanwhile).
    pub(super) router: NodeRef,
    pub(super) router_name: String,
    /// The lost node whose journal the copy came from (empty: this
    /// node's own).
    pub(super) journal_of: String,
}

/// A recovered transaction whose vote was durable and whose outcome is not
/// known here.
pub(super) struct InDoubt {
    pub(super) facility: String,
    pub(super) msgs: Vec<Bytes>,
    /// The journal it belongs to (0: this node's own).
    pub(super) jid: u32,
}

/// Records of journal `jid` (0: this node's own) that did not decode: the
/// scan counted them by their kind (`txrecord` notes); the log names them.
pub(super) fn log_malformed(ctx: &mut Ctx, jid: u32, scan: &Scan) {
    for m in &scan.malformed {
        ctx.log(format!(
            "journal {jid}: record {} ({:?}) of transaction {} does not decode: {}",
            m.at, m.kind, m.tid, m.error
        ));
    }
}

/// A committed transaction found in the journal at start-up whose messages
/// still wait for a partition to claim them.
pub(super) struct RecoveredTx {
    /// The journal it was read from (0: this node's own).
    pub(super) jid: u32,
    pub(super) tid: Tid,
    /// `None` once claimed by a partition.
    pub(super) msgs: Vec<Option<Bytes>>,
    pub(super) reason: u32,
    /// Shadowed ranges whose logs know it (`ReplayTx::seq_ranges`).
    pub(super) seq_ranges: Vec<String>,
}

impl Backend {
    /// The work a journal's commits applied (its `Msg` records of them),
    /// kept with their `decided` entries (`applied_prints`).
    fn note_committed_prints(&mut self, records: &[Record], committed: &[Tid]) {
        let prints = committed_prints(records, committed);
        for chunk in prints.chunk_by(|a, b| a.0 == b.0) {
            self.note_applied_prints(chunk[0].0, chunk.iter().map(|(_, p)| *p));
        }
    }

    /// Rebuild from the journal at start-up, before any channel opens.
    /// Returns the number of committed transactions waiting to be replayed.
    pub fn recover(&mut self, ctx: &mut Ctx, epoch: u64, records: &[Record]) -> usize {
        self.restarted = true;
        self.own_epoch = epoch;
        self.restart_committed = committed_tids(records);
        self.remember_committed(&self.restart_committed.clone());
        self.note_committed_prints(records, &self.restart_committed.clone());
        self.remember_aborted(&aborted_tids(records));
        let mut scan = scan_records(records);
        log_malformed(ctx, 0, &scan);
        self.keep_promises(0, &scan);
        self.recover_shadow(ctx.now, std::mem::take(&mut scan.shadow), true);
        self.keep_in_doubt(ctx, 0, std::mem::take(&mut scan.in_doubt));
        // Applied before the crash, not yet forgotten: still answerable
        // (remembered committed above), and a router's `Forget` ends them.
        self.answerable.extend(scan.answerable.iter().map(|(tid, _)| *tid));
        // Rejections kept for a frontend that may not have heard them: kept
        // until their router forgets them (reported to it at the link).
        self.answerable_aborts.extend(scan.answerable_aborts.iter().copied());
        if !scan.release.is_empty() {
            ctx.journal(scan.release, false, None);
        }
        self.exceptions.extend(scan.set_aside.into_iter().map(|t| Exception::recovered(0, t)));
        let n = scan.replay.len();
        for ReplayTx { tid, facility: fac, msgs, hand_on, reason, seq_ranges, .. } in scan.replay {
            self.finishing.insert(tid, Finishing { unacked: 0, unclaimed: msgs.len(), own: true });
            self.hand_on(ctx, tid, &fac, hand_on, reason);
            self.recovered.entry(fac).or_default().push(RecoveredTx {
                jid: 0,
                tid,
                msgs: msgs.into_iter().map(Some).collect(),
                reason,
                seq_ranges,
            });
        }
        n
    }

    /// The journal of lost node `node` was taken over (or could not be).
    /// Its committed, unfinished transactions are presented to this node's
    /// servers ahead of new work, its undecided ones rolled back; the
    /// partitions that waited for it become active, and the routers learn
    /// which commits it held.
    pub fn takeover_done(&mut self, ctx: &mut Ctx, node: &str, result: Result<JournalRead, String>) {
        let waiting: Vec<PartId> = self
            .parts
            .iter()
            .filter(|(_, p)| p.role == PartRole::Recovering(node.to_string()))
            .map(|(id, _)| *id)
            .collect();
        let JournalRead { jid, epoch, records } = match result {
            Ok(r) => r,
            Err(why) => {
                for id in waiting {
                    self.recovery_failed(ctx, id, node, &why);
                }
                return;
            }
        };
        // A partition told meanwhile to go on without this journal (its
        // holder not gone yet) needs to wait no more: the takeover fenced
        // the holder, and what the journal holds is known after all.
        let mut waiting = waiting;
        waiting.extend(
            self.parts
                .iter()
                .filter(|(_, p)| matches!(&p.role, PartRole::Unfenced { node: n, .. } if n == node))
                .map(|(id, _)| *id),
        );
        waiting.sort();
        // The grants of `node` this read fences (`read_fences`): those of
        // the partitions that waited for it, and those this node knows
        // `node` holds (a standby's holder). Known before the read, they
        // are of the life it fenced, or of an earlier one.
        let mut fences: crate::node::Map<String, u64> = crate::node::Map::default();
        for (id, p) in &self.parts {
            let grant = if waiting.contains(id) {
                p.grant.lost_grant
            } else if p.role == PartRole::Standby && p.grant.holder.as_deref() == Some(node) {
                p.grant.epoch
            } else {
                continue;
            };
            let e = fences.entry(p.grant.rid.clone()).or_default();
            *e = (*e).max(grant);
        }
        self.read_fences.insert(jid, fences);
        self.adopted.insert(node.to_string(), jid);
        self.let_go.remove(node);
        self.read_epochs.insert(jid, epoch);
        let committed = self.ingest(ctx, jid, &records);
        self.read_committed.insert(jid, committed.clone());
        // Before anyone hears of the takeover, and before the journal can
        // be let go (below).
        self.carry_promises(ctx, jid);
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
                let m = ToRouter::TookOver {
                    node: node.to_string(),
                    committed: committed.clone(),
                    read: true,
                    aborted: Vec::new(),
                    epoch,
                };
                ctx.to_router(r, m);
            }
        }
        if self.adopted_open.get(&jid).copied().unwrap_or(0) == 0 {
            self.release_adopted(ctx, jid);
        } else {
            self.release_if_stranded(ctx, jid);
        }
    }

    /// Taken-over journal `jid` holds nothing more this node will present:
    /// every transaction still open there is committed work of key ranges
    /// no partition here serves (none claimed it), with nothing in doubt.
    /// The journal is let go and that work left in it for its owner, which
    /// replays it when it starts again and hands it to the ranges' active
    /// partitions (`hand_off`). Held here, it waited for ever and its owner
    /// could never start again (simulator seeds 21, 104, 108 of the disk
    /// faults: every backend but one locked out). A transaction partly
    /// presented here is left whole: the owner presents all of it again,
    /// uncertain, as after any recovery.
    pub(super) fn release_if_stranded(&mut self, ctx: &mut Ctx, jid: u32) {
        if !self.adopted.values().any(|j| *j == jid) || self.in_doubt.values().flatten().any(|d| d.jid == jid) {
            return;
        }
        let open: Vec<Tid> = self.adopted_tx.iter().filter(|(_, js)| js.contains(&jid)).map(|(t, _)| *t).collect();
        // Presented (or about to be) here: a branch on a partition that
        // holds its range's grant, or work being handed on. A branch a
        // standby partition claimed waits for a grant that may never come
        // (simulator seed 7886: held so, the journal's owner could never
        // start again and the range never applied the commit).
        let active = |b: &Backend, part: &PartId| b.parts.get(part).is_some_and(|p| p.holds_grant());
        // Only this journal's branches count (and are let go below): a
        // branch of this node's own commit of the tid is no work of the
        // journal's (simulator seed 23099: this node's own share, waiting
        // for its partition's grant, was dropped with the read journal and
        // its range never applied it).
        let busy = |b: &Backend, tid: &Tid| {
            b.branches.iter().any(|((t, p), br)| t == tid && br.journal == jid && active(b, p))
                || b.handing_off.keys().any(|(t, _)| t == tid)
        };
        if open.is_empty() || open.iter().any(|t| busy(self, t)) {
            return;
        }
        let Some(node) = self.adopted.iter().find(|(_, j)| **j == jid).map(|(n, _)| n.clone()) else { return };
        ctx.log(format!(
            "the journal of {node} taken over here holds {} committed transaction(s) of key ranges this node does \
             not serve: let go, for {node} to hand them on when it starts again",
            open.len()
        ));
        let mut own_left = Vec::new();
        for tid in &open {
            if let Some(js) = self.adopted_tx.get_mut(tid) {
                js.retain(|j| *j != jid);
                if !js.is_empty() {
                    // Also another journal's here: that one finishes it.
                    continue;
                }
            }
            self.adopted_tx.remove(tid);
            let held: Vec<(Tid, PartId)> =
                self.branches.iter().filter(|((t, _), b)| t == tid && b.journal == jid).map(|(k, _)| *k).collect();
            let dropped = held.len();
            for key in held {
                self.branches.remove(&key);
                if let Some(p) = self.parts.get_mut(&key.1) {
                    p.waiting.retain(|t| t != tid);
                }
            }
            let own = self.finishing.get(tid).is_some_and(|f| f.own);
            if own {
                // This node's own share of it stays, and finishes it (in
                // its own journal) once the rest of the share is applied.
                let unclaimed: usize = self
                    .recovered
                    .values()
                    .flatten()
                    .filter(|r| r.tid == *tid && r.jid == jid)
                    .map(|r| r.msgs.iter().filter(|m| m.is_some()).count())
                    .sum();
                ctx.log(format!(
                    "{tid}: the journal of {node} let go; this node's own commit of it stays ({dropped} branch(es) \
                     and {unclaimed} message(s) of that journal dropped)"
                ));
                if let Some(f) = self.finishing.get_mut(tid) {
                    f.unacked = f.unacked.saturating_sub(dropped);
                    f.unclaimed = f.unclaimed.saturating_sub(unclaimed);
                }
                own_left.push(*tid);
            } else {
                self.finishing.remove(tid);
            }
        }
        for list in self.recovered.values_mut() {
            list.retain(|r| r.jid != jid || !open.contains(&r.tid));
        }
        self.adopted_open.remove(&jid);
        self.release_adopted(ctx, jid);
        for tid in own_left {
            self.maybe_done(ctx, tid);
        }
    }

    /// Take in a lost node's journal: undecided transactions are rolled
    /// back there, committed unfinished ones queued for every partition
    /// (existing ones claim them now). Returns every tid with a commit record.
    pub(super) fn ingest(&mut self, ctx: &mut Ctx, jid: u32, records: &[Record]) -> Vec<Tid> {
        let committed = committed_tids(records);
        self.remember_committed(&committed);
        self.note_committed_prints(records, &committed);
        self.remember_aborted(&aborted_tids(records));
        let mut scan = scan_records(records);
        log_malformed(ctx, jid, &scan);
        self.keep_promises(jid, &scan);
        self.recover_shadow(ctx.now, std::mem::take(&mut scan.shadow), false);
        // A lost node's kept rejections stay in its journal as they are
        // (answered here from the decided table meanwhile): the node keeps
        // them again when it starts on it, until their router forgets them
        // (simulator seed 7699: a reader finished one, the node restarted
        // and recycled it, and a later re-drive started it afresh).
        self.keep_in_doubt(ctx, jid, std::mem::take(&mut scan.in_doubt));
        if !scan.release.is_empty() {
            ctx.journal_to(jid, scan.release);
        }
        self.exceptions.extend(scan.set_aside.into_iter().map(|t| Exception::recovered(jid, t)));
        let n = scan.replay.len();
        for ReplayTx { tid, facility: fac, mut msgs, hand_on, reason, seq_ranges, .. } in scan.replay {
            // Messages the lost node kept to hand on are not handed on
            // from here: two readers of one journal (the first fenced and
            // not knowing it yet) would both do it (simulator seed 5268).
            // They are that node's committed work like the rest: presented
            // here where a partition serves their range, else left in the
            // journal for the node, which hands them on when it starts
            // again (`release_if_stranded`).
            msgs.extend(hand_on);
            // Added to what is here of it already (this node's own commit
            // of it, or another read journal's): replaced, that share was
            // let go with this journal (simulator seed 23099).
            self.finishing.entry(tid).or_default().unclaimed += msgs.len();
            let js = self.adopted_tx.entry(tid).or_default();
            if !js.contains(&jid) {
                js.push(jid);
            }
            self.recovered.entry(fac).or_default().push(RecoveredTx {
                jid,
                tid,
                msgs: msgs.into_iter().map(Some).collect(),
                reason,
                seq_ranges,
            });
        }
        *self.adopted_open.entry(jid).or_default() += n;
        self.present_recovered(ctx);
        committed
    }

    /// Every partition takes the recovered committed messages whose key it
    /// serves (`claim_recovered`) and presents what it can.
    pub(super) fn present_recovered(&mut self, ctx: &mut Ctx) {
        let parts: Vec<PartId> = self.parts.keys().copied().collect();
        for part in parts {
            self.claim_recovered(part);
            self.dispatch(ctx, part);
        }
    }

    /// A new partition takes the recovered committed messages whose key it
    /// serves, in commit order, ahead of any new work.
    pub(super) fn claim_recovered(&mut self, part: PartId) {
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
            if self.branches.get(&(rtx.tid, part)).is_some_and(|b| b.committed.is_some()) {
                // The same commit read from two journals (this node's own
                // and one taken over): this range's share of it is here
                // already, committed, presented once. Its messages are claimed, and
                // nothing waits for a second acknowledgement. (Taken as a
                // second branch, it replaced the first, whose
                // acknowledgement was then counted for ever: the
                // transaction never finished, and its records pinned the
                // journal until it was full; simulator `--shadow --seed 200
                // --routers 1 --failover-policy standby`.) The journal it
                // was read from still ends it (`adopted_tx`).
                if let Some(f) = self.finishing.get_mut(&rtx.tid) {
                    f.unclaimed -= mine.len().min(f.unclaimed);
                }
                continue;
            }
            if let Some(f) = self.finishing.get_mut(&rtx.tid) {
                f.unclaimed -= mine.len().min(f.unclaimed);
                f.unacked += 1;
            }
            let mut b = Branch::new(mine, LOCAL);
            b.journal = rtx.jid;
            b.uncertain = true;
            // A shadow partition remembers for the other site a recovered
            // commit no log of its range knows (`remember_recovered`, when
            // it is presented: the partition's side is known by then).
            b.remember = p.shadow.as_ref().is_some_and(|s| !rtx.seq_ranges.contains(&s.rid));
            b.committed = Some((Status::Ok, rtx.reason));
            self.branches.insert((rtx.tid, part), b);
            p.waiting.push_back(rtx.tid);
        }
        list.retain(|r| r.msgs.iter().any(Option::is_some));
    }

    /// An operator's retry of exception `at`, set aside before this node
    /// started (its journal holds the commit, the messages and the
    /// `Exception` record): its messages are presented again, uncertain,
    /// with the commit, to the partitions serving their keys, like any
    /// recovered commit; its servers' acknowledgements finish it in the
    /// journal (`Applied`, then `Done` once forgotten). Not done for one
    /// read from a lost node's journal: that node retries it when it runs
    /// again. (The simulator's operator retried such a transaction after
    /// the faults and it stayed set aside, never applied, though its client
    /// had heard it committed: seed 12430.)
    pub(in crate::node) fn retry_recovered(&mut self, ctx: &mut Ctx, at: usize) -> Result<String, AdminError> {
        let tid = self.exceptions[at].tid;
        let (msgs, reason) = match &self.exceptions[at].recovered {
            Some((0, msgs, reason)) if !msgs.is_empty() => (msgs.clone(), *reason),
            Some((0, _, _)) => {
                return Err(AdminError::Unsupported(format!(
                    "transaction {tid} was set aside before this node started and its journal holds none of its \
                     messages: forget it, or apply it by hand"
                )))
            }
            _ => {
                return Err(AdminError::Unsupported(format!(
                    "transaction {tid} was set aside in the journal of another node read here: retry it on that \
                     node once it runs again"
                )))
            }
        };
        let e = self.exceptions.remove(at);
        self.finishing.insert(tid, Finishing { unacked: 0, unclaimed: msgs.len(), own: true });
        self.recovered.entry(e.facility.clone()).or_default().push(RecoveredTx {
            jid: 0,
            tid,
            msgs: msgs.into_iter().map(Some).collect(),
            reason,
            seq_ranges: Vec::new(),
        });
        self.present_recovered(ctx);
        Ok(format!(
            "transaction {tid} presented again from the journal (uncertain: its servers may have applied some of it)"
        ))
    }

    /// The promises to later drives a journal holds (`Drive` records),
    /// whatever became of their transactions: refused here again, an
    /// earlier drive's router could start afresh a transaction its later
    /// drive committed elsewhere (simulator seed 12835, two routers).
    fn keep_promises(&mut self, jid: u32, scan: &Scan) {
        for (tid, drive) in &scan.promises {
            self.promised_before(*tid, *drive, jid);
        }
        // And the inquiries answered "unknown" (`bound.rs`): a lost node's
        // too, read here, as this node answers for its journal now.
        for (tid, drive) in &scan.bounds {
            self.bound.keep(*tid, *drive, Some(jid));
        }
    }

    /// Keep recovered in-doubt transactions until a router decides them;
    /// the first inquiry goes out at once (or when a router links).
    pub(super) fn keep_in_doubt(&mut self, ctx: &mut Ctx, jid: u32, list: Vec<InDoubtTx>) {
        if list.is_empty() {
            return;
        }
        if jid != 0 {
            // A taken-over journal stays held until these are settled too.
            *self.adopted_open.entry(jid).or_default() += list.len();
        }
        for InDoubtTx { tid, facility, msgs, drive } in list {
            self.promised_before(tid, drive, jid);
            // One copy per journal: the same journal read again replaces
            // its copy; another journal's share of the tid is kept beside it.
            let copies = self.in_doubt.entry(tid).or_default();
            copies.retain(|d| d.jid != jid);
            copies.push(InDoubt { facility, msgs, jid });
        }
        self.orphan_deadline = Some(ctx.now);
    }

    /// The router to ask about `tid` (an in-doubt copy or a voted orphan):
    /// not one whose answer was of an earlier drive than one promised
    /// here: it would answer so again, and the copy or branch would stay
    /// in doubt for ever (that router's commit cannot stand here; the
    /// later drive's router decides, or any router that asks every node).
    pub(super) fn inquiry_router(&self, ctx: &Ctx, tid: Tid, facility: &str) -> Option<NodeRef> {
        let routers = ctx.topo.routers(facility);
        let stale = self.stale_answers.get(&tid);
        let fresh = routers.iter().find(|r| stale.is_none_or(|s| !s.iter().any(|n| n == ctx.topo.name(**r))));
        fresh.or(routers.first()).copied()
    }

    /// Ask a router of each in-doubt transaction's facility to resolve it.
    pub(super) fn inquire_in_doubt(&mut self, ctx: &mut Ctx) {
        for (tid, copies) in &self.in_doubt {
            let Some(d) = copies.first() else { continue };
            if let Some(r) = self.inquiry_router(ctx, *tid, &d.facility) {
                let drive = self.known_drive(*tid);
                ctx.to_router(r, ToRouter::Inquire { tid: *tid, facility: d.facility.clone(), drive });
            }
        }
    }

    /// Every transaction of taken-over journal `jid` is finished: it is
    /// closed, and its node no longer counts as taken over here (a later
    /// grant over that node must take its journal over again: the node may
    /// have started again with it).
    /// Taken-over journal `jid` can no longer be written: another node took
    /// it over since (or it failed). Its in-doubt transactions and the work
    /// not presented yet are that node's now (or the lost node's, when it
    /// starts again on it): they are dropped here, unanswered, and the
    /// journal is let go, so its owner can open it. Work already presented
    /// here finishes; its `Done` finds the journal gone, and the next
    /// reader presents it again, uncertain. (It used to stay held, its
    /// in-doubt commits failing there for ever: simulator seed 5900.)
    pub(crate) fn taken_over_lost(&mut self, ctx: &mut Ctx, jid: u32) {
        let Some(node) = self.adopted.iter().find(|(_, j)| **j == jid).map(|(n, _)| n.clone()) else { return };
        ctx.log(format!(
            "the journal of {node} taken over here can no longer be written: given up, its work is its owner's"
        ));
        let mut dropped: Vec<(Tid, String)> = Vec::new();
        for (tid, copies) in self.in_doubt.iter_mut() {
            if let Some(d) = copies.iter().find(|d| d.jid == jid) {
                // Asked about again (a router's second outcome), this node
                // must not answer "nothing of it here": its copy is the
                // journal's next holder's now, not rolled back.
                dropped.push((*tid, d.facility.clone()));
            }
            copies.retain(|d| d.jid != jid);
        }
        self.in_doubt.retain(|_, copies| !copies.is_empty());
        let in_doubt = &self.in_doubt;
        self.stale_answers.retain(|tid, _| in_doubt.contains_key(tid));
        let mine: Vec<Tid> = self.adopted_tx.iter().filter(|(_, js)| js.contains(&jid)).map(|(t, _)| *t).collect();
        for list in self.recovered.values_mut() {
            list.retain(|r| r.jid != jid || !mine.contains(&r.tid) || self.branches.keys().any(|(t, _)| *t == r.tid));
        }
        self.adopted_open.remove(&jid);
        self.release_adopted(ctx, jid);
        dropped.sort();
        for (tid, facility) in dropped {
            self.copy_given_up(ctx, tid, &node, &facility);
        }
    }

    /// Taken-over journal `jid` is let go (finished, stranded, or lost to
    /// a later taker). The routers hear that this node answers for it no
    /// more (`JournalLetGo`), before anything this node answers from now
    /// on (the requests waiting on promises into it go on below): a
    /// promise this node makes from now on reaches its own journal only,
    /// so its answer is no longer the lost node's. Unsaid, a router asked
    /// it in that node's place and took its "unknown" to a later drive's
    /// probe for the journal's; the journal's owner, started again on it
    /// without that promise, adopted an earlier drive's commit of the
    /// transaction the later drive had rejected (simulator seed 50189, two
    /// routers: a disagreement).
    pub(super) fn release_adopted(&mut self, ctx: &mut Ctx, jid: u32) {
        let epoch = self.read_epochs.get(&jid).copied().unwrap_or(0);
        let mut nodes: Vec<String> = self.adopted.iter().filter(|(_, j)| **j == jid).map(|(n, _)| n.clone()).collect();
        nodes.sort();
        self.adopted.retain(|_, j| *j != jid);
        self.read_epochs.remove(&jid);
        self.read_fences.remove(&jid);
        self.read_committed.remove(&jid);
        ctx.output(crate::node::Output::Release { jid });
        for node in nodes {
            self.tell_let_go(ctx, &node, epoch);
            self.let_go.insert(node, epoch);
        }
        self.promises_lost_with(ctx, jid);
        self.bindings_lost_with(ctx, jid);
    }

    /// Every router of a facility this node serves hears that it let lost
    /// node `node`'s journal (read at `epoch`) go.
    fn tell_let_go(&mut self, ctx: &mut Ctx, node: &str, epoch: u64) {
        let me = ctx.topo.facilities.node().to_string();
        let mut routers: Vec<NodeRef> = Vec::new();
        let facilities: Vec<String> =
            ctx.topo.facilities.defs().filter(|d| d.roles_of(&me).backend).map(|d| d.name().to_string()).collect();
        for f in facilities {
            for r in ctx.topo.routers(&f) {
                if !routers.contains(&r) {
                    routers.push(r);
                }
            }
        }
        routers.sort();
        for r in routers {
            ctx.to_router(r, ToRouter::JournalLetGo { node: node.to_string(), epoch });
        }
    }

    /// One transaction of taken-over journal `jid` is finished there; the
    /// journal is let go once the last one is.
    pub(super) fn adopted_closed(&mut self, ctx: &mut Ctx, jid: u32) {
        let left = self.adopted_open.entry(jid).or_default();
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.release_adopted(ctx, jid);
        } else {
            self.release_if_stranded(ctx, jid);
        }
    }

    /// An in-doubt transaction of journal `jid` (0: this node's own) is
    /// settled without a commit here: `records` close it in that journal.
    pub(super) fn close_in_doubt(&mut self, ctx: &mut Ctx, jid: u32, records: Vec<(Tid, TxRecord)>) {
        if jid != 0 || self.journal {
            ctx.journal_to(jid, records);
        }
        if jid != 0 {
            self.adopted_closed(ctx, jid);
        }
    }

    /// An operator's decision: a partition waiting for a lost node's
    /// journal becomes active without it, as soon as that node no longer
    /// holds its grant (at once when its process is gone; a frozen or
    /// cut-off one, which nothing fenced, first has to find the newer grant
    /// and let its lock go). The routers then hear that none of the commits
    /// they waited for on that node was found.
    pub(crate) fn ignore_recovery(&mut self, ctx: &mut Ctx, part: PartId) -> Result<String, AdminError> {
        let Some(p) = self.parts.get(&part) else {
            return Err(AdminError::NoSuchPartition(format!("no partition {part}")));
        };
        let node = match &p.role {
            PartRole::NoJournal(node, _) | PartRole::Recovering(node) => node.clone(),
            PartRole::Unfenced { node, grant, .. } => {
                return Err(AdminError::NotRecovering(format!(
                    "partition {part} already goes active without the journal of {node}: it waits for {node} to \
                     let grant {grant} go"
                )))
            }
            _ => return Err(AdminError::NotRecovering(format!("partition {part} is not waiting for a journal"))),
        };
        let facility = p.facility.clone();
        let grant = p.grant.lost_grant;
        self.activate_unfenced(ctx, part, node.clone(), true);
        Ok(format!(
            "partition {facility}:{part} goes active without recovering the journal of {node} as soon as {node} \
             no longer holds grant {grant}: its unfinished transactions are not replayed"
        ))
    }

    /// An operator's decision: try the lost node's journal again.
    pub(crate) fn restart_recovery(&mut self, ctx: &mut Ctx, part: PartId) -> Result<String, AdminError> {
        let Some(p) = self.parts.get_mut(&part) else {
            return Err(AdminError::NoSuchPartition(format!("no partition {part}")));
        };
        let (PartRole::NoJournal(node, _) | PartRole::Unfenced { node, .. }) = p.role.clone() else {
            return Err(AdminError::NotRecovering(format!("partition {part} is not waiting for a journal")));
        };
        if let Err(why) = super::roles::journal_name_ok(ctx, &p.facility, &node) {
            return Err(AdminError::NotRecovering(format!(
                "partition {part}: will not take over the journal {node:?}: {why}"
            )));
        }
        p.role = PartRole::Recovering(node.clone());
        p.grant.recovery_retry_at = None;
        p.grant.recovering_since = Some(ctx.now);
        let facility = p.facility.clone();
        self.next_jid += 1;
        ctx.output(crate::node::Output::Takeover { node: node.clone(), jid: self.next_jid });
        Ok(format!("partition {facility}:{part}: taking over the journal of {node} again"))
    }

    /// A router's outcome for a recovered in-doubt transaction: committed,
    /// it is committed here too (durably, in its journal) and then presented
    /// like recovered work; rejected, it is closed in its journal.
    pub(super) fn in_doubt_outcome(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        tid: Tid,
        accepted: bool,
        status: Status,
        reason: u32,
    ) {
        let Some(copies) = self.in_doubt.remove(&tid) else { return };
        self.stale_answers.remove(&tid);
        if accepted {
            // Committed elsewhere: committed here too (durably, in each
            // journal holding a copy), then presented to the servers like
            // recovered work.
            for d in copies {
                self.next_token += 1;
                let token = self.next_token;
                ctx.output(crate::node::Output::Journal {
                    entries: vec![TxRecord::Commit { reason }.entry(tid)],
                    sync: true,
                    token: Some(token),
                    new_tx: false,
                    jid: d.jid,
                });
                let router_name = ctx.topo.name(from).to_string();
                let journal_of = self
                    .adopted
                    .iter()
                    .find(|(_, j)| **j == d.jid && d.jid != 0)
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default();
                self.resolving
                    .insert(token, Resolving { tid, doubt: d, reason, router: from, router_name, journal_of });
            }
        } else {
            for d in copies {
                let rec = vec![(tid, TxRecord::Abort), (tid, TxRecord::Done)];
                self.close_in_doubt(ctx, d.jid, rec);
            }
            self.remember(tid, false, status, reason);
        }
    }

    /// The commit record of an in-doubt transaction was written (or not).
    pub(super) fn resolved(&mut self, ctx: &mut Ctx, r: Resolving, result: Result<(), Status>) {
        let Resolving { tid, doubt: d, reason, mut router, router_name, journal_of } = r;
        if !ctx.topo.is_up(router) {
            // The router linked again while the commit was being written:
            // `Durable` sent over the link that went was lost, and the
            // router waited for it for ever (simulator seed 9502, two
            // routers: no outcome). Its re-sent outcome found nothing in
            // doubt here any more, and said nothing.
            router = ctx.topo.newest_link(&router_name).unwrap_or(router);
        }
        match result {
            Ok(()) => {
                self.remember(tid, true, Status::Ok, reason);
                self.note_applied(tid, &d.msgs);
                // Another journal's copy of the tid may be committed here
                // too: the counts add up.
                let f = self.finishing.entry(tid).or_default();
                f.unclaimed += d.msgs.len();
                f.own |= d.jid == 0;
                if d.jid != 0 {
                    // Still counted open in its journal (`keep_in_doubt`).
                    let js = self.adopted_tx.entry(tid).or_default();
                    if !js.contains(&d.jid) {
                        js.push(d.jid);
                    }
                    self.read_committed.entry(d.jid).or_default().push(tid);
                }
                self.recovered.entry(d.facility.clone()).or_default().push(RecoveredTx {
                    jid: d.jid,
                    tid,
                    msgs: d.msgs.into_iter().map(Some).collect(),
                    reason,
                    // Committed here by an inquiry's answer: no log knows
                    // it yet (simulator `--shadow --seed 85`: a lost
                    // primary's durable vote, its commit decided after its
                    // secondary's branch was gone; the reader of its
                    // journal applied it at its site only).
                    seq_ranges: Vec::new(),
                });
                self.present_recovered(ctx);
                // Durable here once every copy's commit is (another
                // journal's may still be on its way), and this node's own
                // branches' commit too (`commit` says it otherwise).
                if !self.copies_resolving(tid) && !self.committing_tx.contains_key(&tid) {
                    self.say_durable_to(ctx, tid, &[router]);
                } else {
                    self.owe_durable(tid, &[router]);
                }
                if d.jid != 0 {
                    self.release_if_stranded(ctx, d.jid);
                }
            }
            Err(_) if d.jid != 0 => {
                // A copy from a lost node's journal whose commit could not
                // be written there: the journal was given up meanwhile, or
                // is about to be (another node took it over, or it failed:
                // `taken_over_lost` follows in the same pass), or it is
                // full for now. Nothing is said: the router counts answers
                // per node, and took the copy's failure for the node's own
                // (simulator seed 7153: the client heard "rejected" of a
                // commit this node's own branch applied), or for the
                // commit's (seed 10192: a reader fenced on the lost node's
                // journal said `CommitFailed`, the router rejected, and the
                // journal's next holder committed the copy). A copy whose
                // journal is still held stays in doubt and is asked about
                // again.
                if self.adopted.values().any(|j| *j == d.jid) {
                    self.in_doubt.entry(tid).or_default().push(d);
                } else {
                    ctx.log(format!("{tid}: in doubt in a journal given up meanwhile: left to that journal's owner"));
                    // This node's own commit of it may be durable, its
                    // `Durable` held back for the copy: said now, the copy
                    // named as given up (`say_durable`).
                    if !journal_of.is_empty() {
                        self.copy_given_up(ctx, tid, &journal_of, &d.facility);
                    }
                }
            }
            Err(status) => {
                // Still in doubt: asked again later.
                self.in_doubt.entry(tid).or_default().push(d);
                ctx.to_router(router, ToRouter::CommitFailed { tid, status });
            }
        }
    }
}
