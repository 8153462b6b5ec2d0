//! The router's committed transactions: a decision sent to the backends
//! (`finish`), the commit waiting until every backend made it durable
//! (`Committing`), lost backends' commits settled from the journal that
//! was read (`took_over`) or sent again (`backend_linked`), and committed
//! work handed to a key range's next active partition (hand-offs).

use super::{route, Router};
use crate::node::{Callout, ChanRef, Ctx, NodeRef, PartId, PartKey, ToBackend, ToFrontend};
use crate::protocol::Bytes;
use crate::status::Status;
use crate::tid::Tid;

/// How long a commit may wait for its backends before the log says so
/// (`Router::say_stalled_commits`).
pub(super) const COMMIT_STALL: std::time::Duration = std::time::Duration::from_secs(10);

/// A committed transaction waiting for its backends to make it durable.
pub(in crate::node) struct Committing {
    pub(in crate::node) client: ChanRef,
    pub(in crate::node) fe: NodeRef,
    /// The client went away: nobody to tell.
    pub(in crate::node) gone: bool,
    pub(super) facility: String,
    pub(super) reason: u32,
    /// Backend nodes that have not reported the commit durable yet.
    pub(super) pending: Vec<NodeRef>,
    /// Backend nodes that have.
    pub(super) durable: usize,
    /// Their names (and those of nodes that adopted a hand-off of it):
    /// told to forget it once its client has the outcome (`forget.rs`).
    pub(super) holders: Vec<String>,
    /// A backend could not make it durable (and none had).
    pub(super) failed: Option<Status>,
    /// The committed branches (not call-outs), kept until the client has
    /// its outcome: a branch whose backend node was lost before making the
    /// commit durable is handed to its range's next active partition.
    pub(super) branches: Vec<CommitBranch>,
    /// Such hand-offs not yet durable at their new partition.
    pub(super) adopting: usize,
    /// The frontend's drive of it that this router decided.
    pub(super) drive: u32,
    /// Readers in `pending` for a lost node's branches (whose durable
    /// votes they found in doubt in its journal): when the journal moves on
    /// to another reader, the wait moves with it (`stand_ins_moved`).
    pub(super) stand_ins: Vec<StandIn>,
    /// Its client's frontend drove it again here, with a later drive than
    /// the one decided (`Router::start`): the client waits on this entry.
    pub(super) redriven_here: bool,
    /// When it was decided, and whether the log said it has waited long
    /// (`Router::say_stalled_commits`).
    pub(super) since: std::time::Instant,
    pub(super) told_stalled: bool,
}

impl Committing {
    /// Backend node links `old` (gone) are one node's, linked again as
    /// `node`: whatever waited for them waits for `node` (stand-ins too:
    /// `stand_ins_moved` looks for each stand-in in `pending`).
    pub(super) fn relink(&mut self, old: &[NodeRef], node: NodeRef) {
        self.wait_for(old, node);
        for b in self.branches.iter_mut().filter(|b| old.contains(&b.node)) {
            b.node = node;
        }
        self.pending.sort();
        self.pending.dedup();
    }

    /// What waited for links `old` (in `pending`, and as stand-ins) waits
    /// for `node`.
    pub(super) fn wait_for(&mut self, old: &[NodeRef], node: NodeRef) {
        for n in self.pending.iter_mut().chain(self.stand_ins.iter_mut().map(|s| &mut s.reader)) {
            if old.contains(n) {
                *n = node;
            }
        }
    }

    /// Lost branches of `tid` whose votes were not durable (`msgs`, the
    /// first at partition `part` of link `origin`) go to a keeper as one
    /// unit (`Router::route_handoffs`): every message to one node, which
    /// makes the whole of it durable at once and hands on what its own
    /// partitions do not serve. Another unit of the tid not sent yet takes
    /// them in: one unit still. Sent branch by branch to each range's
    /// active node, one was applied and the router lost before the other
    /// was durable anywhere (simulator seed 8440: half a transfer, the rest
    /// known to nobody).
    fn hand_to_keeper(
        &mut self,
        handoffs: &mut Vec<HandOffEntry>,
        tid: Tid,
        origin: NodeRef,
        part: PartId,
        msgs: Vec<Bytes>,
    ) {
        if let Some(h) = handoffs.iter_mut().find(|h| h.coordinator && h.tid == tid && h.to.is_none()) {
            h.msgs.extend(msgs);
            return;
        }
        self.adopting += 1;
        handoffs.push(HandOffEntry {
            origin,
            facility: self.facility.clone(),
            tid,
            part,
            msgs,
            reason: self.reason,
            to: None,
            coordinator: true,
            drive: self.drive,
            site: None,
        });
    }

    /// `reader` holds lost node `node`'s branches of `tid` in doubt (from
    /// its journal): it hears the commit, and is waited for as their
    /// stand-in.
    fn stand_in(&mut self, ctx: &mut Ctx, tid: Tid, reader: NodeRef, node: &str) {
        if !self.stand_ins.iter().any(|s| s.reader == reader && s.node == node) {
            let owes_own = self.pending.contains(&reader) && !self.stand_ins.iter().any(|s| s.reader == reader);
            if !self.pending.contains(&reader) {
                self.pending.push(reader);
            }
            self.stand_ins.push(StandIn { reader, node: node.to_string(), owes_own, given_up: false });
        }
        let (reason, drive) = (self.reason, self.drive);
        let outcome = ToBackend::Outcome { tid, parts: Vec::new(), accepted: true, status: Status::Ok, reason, drive };
        ctx.to_backend(reader, outcome);
    }
}

/// A reader waited for as the stand-in for lost node `node`'s in-doubt
/// branches of a commit.
pub(super) struct StandIn {
    pub(super) reader: NodeRef,
    pub(super) node: String,
    /// The reader was waited for already, for branches of its own: its
    /// own commit is still owed when the copy's wait moves on.
    pub(super) owes_own: bool,
    /// The reader gave the copy up with the journal (`CopyGivenUp`): its
    /// `Durable` does not cover it, and the wait moves on to the
    /// journal's next holder (`stand_ins_moved`).
    pub(super) given_up: bool,
}

/// A branch of a committed transaction, as its router keeps it until the
/// commit is durable everywhere.
pub(super) struct CommitBranch {
    pub(super) node: NodeRef,
    pub(super) part: PartId,
    pub(super) msgs: Vec<Bytes>,
    /// Its vote was durable: a node that takes over the lost node's
    /// journal finds it in doubt and asks for the outcome itself.
    pub(super) durable: bool,
}

/// One unit of handed-off work: a transaction's committed messages from
/// partition `part` of node `origin`.
pub(super) struct HandOffEntry {
    pub(super) origin: NodeRef,
    pub(super) facility: String,
    pub(super) tid: Tid,
    pub(super) part: PartId,
    pub(super) msgs: Vec<Bytes>,
    pub(super) reason: u32,
    /// The active partition it was sent to (`None`: held).
    pub(super) to: Option<PartKey>,
    /// This router's own: a committed branch whose node was lost before
    /// the commit was durable there (`origin` is that node); once adopted
    /// it counts as durable for the waiting commit.
    pub(super) coordinator: bool,
    /// `ToBackend::Adopt::drive`.
    pub(super) drive: u32,
    /// The shadow site of the partition it came from: applied there, by
    /// that site's active partition of its range (not the range's primary
    /// by key, at the other site, which has the transaction already:
    /// simulator `--shadow --seed 390`, a secondary's server died after
    /// its vote, and its site never applied the commit).
    pub(super) site: Option<String>,
}

impl Router {
    pub(super) fn abort(&mut self, ctx: &mut Ctx, tid: Tid, status: Status, reason: u32) {
        self.finish(ctx, tid, false, status, reason);
    }

    pub(super) fn finish(&mut self, ctx: &mut Ctx, tid: Tid, accepted: bool, status: Status, reason: u32) {
        let Some(tx) = self.txs.remove(&tid) else { return };
        if accepted {
            self.tell_shipped(ctx, &tx, tid);
        }
        self.remember(ctx, tid, accepted, status, reason, tx.drive);
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
                    holders: Vec::new(),
                    failed: None,
                    branches,
                    adopting: 0,
                    drive: tx.drive,
                    stand_ins: Vec::new(),
                    redriven_here: false,
                    since: ctx.now,
                    told_stalled: false,
                },
            );
            self.stall_check_at.get_or_insert(ctx.now + COMMIT_STALL);
        }
        for (node, parts) in by_node.iter() {
            let drive = tx.drive;
            ctx.to_backend(*node, ToBackend::Outcome { tid, parts: parts.clone(), accepted, status, reason, drive });
        }
        // Nodes in doubt of it that asked meanwhile (an outcome naming no
        // branch is for the asker's in-doubt copy; a node with branches
        // here has had its outcome above, which reaches that copy too).
        let mut told: Vec<NodeRef> = by_node.iter().map(|(n, _)| *n).collect();
        // Every node told of a rejection keeps it answerable until the
        // client's frontend has it (its names, for the forget).
        let mut rejected_at: Vec<String> = Vec::new();
        for node in tx.inquirers.iter().filter(|n| !told.contains(n)) {
            // Decided on this drive, durable nowhere yet: an asker that
            // promised a later drive leaves it to that drive's router.
            let drive = tx.drive;
            let outcome = ToBackend::Outcome { tid, parts: Vec::new(), accepted, status, reason, drive };
            ctx.to_backend(*node, outcome);
            super::forget::add_name(&mut rejected_at, ctx.topo.name(*node));
        }
        if !accepted && tx.redriven {
            // A re-driven transaction rejected: every backend node of the
            // facility remembers the rejection, so none starts the tid
            // afresh for another router that still holds the client's
            // earlier messages (one that was frozen past its links'
            // timeouts: simulator seed 7138 with two routers, where the
            // client heard "rejected" here and that router, thawed, then
            // committed the transaction as new).
            told.extend(tx.inquirers.iter().copied());
            let (nodes, _) = self.backends_to_ask(ctx, &tx.facility, None);
            for node in nodes.into_iter().filter(|n| !told.contains(n)) {
                let drive = tx.drive;
                ctx.to_backend(node, ToBackend::Outcome { tid, parts: Vec::new(), accepted, status, reason, drive });
                super::forget::add_name(&mut rejected_at, ctx.topo.name(node));
            }
        }
        if accepted && !by_node.is_empty() {
            return;
        }
        if !accepted {
            for (node, _) in &by_node {
                super::forget::add_name(&mut rejected_at, ctx.topo.name(*node));
            }
            self.outcome_settled(ctx, tid, rejected_at, tx.fe, tx.client_gone);
        }
        if !tx.client_gone {
            ctx.to_frontend(tx.fe, ToFrontend::Outcome { tid, client: tx.client, accepted, status, reason });
        }
    }

    /// Backend node `from` says it gave up its in-doubt copy of lost node
    /// `node`'s branches of `tid` with that node's journal: its `Durable`,
    /// which follows, covers its own branches and not the copy.
    pub(super) fn copy_given_up(&mut self, from: NodeRef, tid: Tid, node: &str) {
        let Some(c) = self.committing.get_mut(&tid) else { return };
        for s in c.stand_ins.iter_mut().filter(|s| s.reader == from && s.node == node) {
            s.given_up = true;
        }
    }

    /// Backend node `from` made the commit of `tid` durable.
    pub(super) fn durable(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid) {
        let Some(c) = self.committing.get_mut(&tid) else { return };
        c.durable += 1;
        super::forget::add_name(&mut c.holders, ctx.topo.name(from));
        if c.stand_ins.iter().any(|s| s.reader == from && s.given_up) {
            // Its own branches (and the copies it kept) are durable; a copy
            // it gave up is waited for at the journal's next holder, which
            // takes `from`'s place when it reports the journal
            // (`stand_ins_moved`). Until then `from` stays pending, owing
            // nothing of its own.
            c.stand_ins.retain(|s| s.reader != from || s.given_up);
            for s in c.stand_ins.iter_mut().filter(|s| s.reader == from) {
                s.owes_own = false;
            }
            return;
        }
        c.pending.retain(|n| *n != from);
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
        if c.adopting == 0 {
            // Durable everywhere. (With a hand-off still being adopted,
            // its holders keep it answerable: the safe side.)
            self.outcome_settled(ctx, tid, c.holders, c.fe, c.gone);
        }
    }

    /// The commit could not be made durable on `from`. Once every other
    /// backend answered: when none made it durable either, it did not
    /// happen anywhere and the client hears the failure; otherwise the
    /// transaction is committed (`from` stopped, as a journal failure stops
    /// a node, and its recovery finds its vote in doubt and asks). Until
    /// then nothing is said: another backend may still commit it.
    pub(super) fn commit_failed(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, status: Status) {
        let Some(c) = self.committing.get_mut(&tid) else { return };
        if c.stand_ins.iter().any(|s| s.reader == from && s.given_up) {
            // `from` stood in for a lost node's in-doubt branches and holds
            // that copy no more (it restarted since, `took_over`, or said
            // `CopyGivenUp`): the copy is in the lost node's journal, for
            // its next holder. Its failure is of its own branches, if it
            // still owes them, and never of the copy: it stays pending, as
            // `durable` keeps it, until that holder reports the journal
            // (`stand_ins_moved`). Counted for the commit, a restarted
            // reader's "nothing of it here" (it was sent the copy's outcome
            // again when it linked) took it out of `pending`: the wait
            // never moved to the journal's next holder, whose question
            // about the copy was answered "rolled back" (a failure, durable
            // nowhere), while the commit went on at the other participant
            // (simulator seed 52403, one router: applied on one range).
            if c.stand_ins.iter().any(|s| s.reader == from && s.owes_own) {
                c.failed.get_or_insert(status);
                for s in c.stand_ins.iter_mut().filter(|s| s.reader == from) {
                    s.owes_own = false;
                }
            }
            return;
        }
        c.pending.retain(|n| *n != from);
        c.failed.get_or_insert(status);
        if c.pending.is_empty() && c.adopting == 0 {
            self.settle(ctx, tid);
        }
    }

    /// Commits decided `COMMIT_STALL` ago or more that are not settled yet
    /// are said in the log once each, with what they wait for: a client
    /// waits for each of them, and an operator (or a test that timed out)
    /// needs to know on what. Looked at every `COMMIT_STALL` while any
    /// commit is unsettled.
    pub(super) fn say_stalled_commits(&mut self, ctx: &mut Ctx) {
        if self.stall_check_at.is_none_or(|t| t > ctx.now) {
            return;
        }
        self.stall_check_at = (!self.committing.is_empty()).then_some(ctx.now + COMMIT_STALL);
        let mut stalled: Vec<Tid> = self
            .committing
            .iter()
            .filter(|(_, c)| !c.told_stalled && ctx.now.saturating_duration_since(c.since) >= COMMIT_STALL)
            .map(|(t, _)| *t)
            .collect();
        stalled.sort();
        for tid in stalled {
            let Some(c) = self.committing.get_mut(&tid) else { continue };
            c.told_stalled = true;
            let link = |n: &NodeRef| {
                format!("{} (link {n}, {})", ctx.topo.name(*n), if ctx.topo.is_up(*n) { "up" } else { "down" })
            };
            let pending: Vec<String> = c.pending.iter().map(link).collect();
            let stand_ins: Vec<String> = c
                .stand_ins
                .iter()
                .map(|s| format!("{} for {}{}", link(&s.reader), s.node, if s.given_up { ", given up" } else { "" }))
                .collect();
            let handoffs = self.handoffs.iter().filter(|h| h.tid == tid).count();
            ctx.log(format!(
                "{tid}: committed {} s ago and not settled: waits for the backends {:?}, {} hand-off(s) not yet \
                 adopted ({handoffs} listed), stand-ins {:?}; durable at {}, failed: {:?}, lost nodes known: {}",
                ctx.now.saturating_duration_since(c.since).as_secs(),
                pending,
                c.adopting,
                stand_ins,
                c.durable,
                c.failed,
                self.lost.len()
            ));
        }
    }

    /// A committing transaction heard from every backend.
    pub(super) fn settle(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(c) = self.committing.remove(&tid) else { return };
        let (accepted, status, reason) = match c.failed {
            Some(status) if c.durable == 0 => (false, status, 0),
            _ => (true, Status::Ok, c.reason),
        };
        // The commit failed everywhere: nothing of it is anywhere, and that
        // is how it ended.
        self.remember(ctx, tid, accepted, status, reason, crate::node::NO_DRIVE);
        if accepted && c.failed.is_none() {
            // Durable everywhere (the last of it adopted by a partition
            // that took a lost node's range). A participant that failed
            // to write it recovers in doubt and asks: the others keep it
            // answerable, not forgotten.
            self.outcome_settled(ctx, tid, c.holders, c.fe, c.gone);
        }
        if c.gone {
            return;
        }
        ctx.to_frontend(c.fe, ToFrontend::Outcome { tid, client: c.client, accepted, status, reason });
    }

    /// Another router decided this (re-driven) transaction and a backend
    /// already applied its decision: follow it.
    pub(super) fn decided(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        tid: Tid,
        committed: bool,
        status: Status,
        reason: u32,
    ) {
        if self.txs.contains_key(&tid) {
            self.finish(ctx, tid, committed, status, reason);
        } else if committed && self.committing.contains_key(&tid) {
            // Already committing here: that backend holds it committed.
            self.durable(ctx, from, tid);
        }
    }

    /// Another router drives `tid` now: its frontend drove it again there,
    /// after it left this router (or this router was cut off from it), and
    /// backend `from` has seen that later drive (`DrivenElsewhere`). This
    /// router's copy is stale and is dropped, with no outcome to anyone:
    /// the later drive's probe reaches every backend node, takes over the
    /// branches this router owns (a later drive takes a branch from the
    /// router of an earlier one, `Backend::owned_by`), and hears what they
    /// hold; rolling them back from here could undo an in-doubt branch that
    /// an earlier router committed elsewhere. Its frontend takes outcomes
    /// only from the router of the current drive.
    pub(super) fn superseded(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid) {
        if self.txs.remove(&tid).is_none() {
            return;
        }
        ctx.log(format!(
            "{tid}: its frontend drives it again through another router (backend {} says so): this router's copy \
             is dropped",
            ctx.topo.name(from)
        ));
    }

    /// Node `took` restarted (or its link went, `peer_lost`), and no longer
    /// answers for the journals of `dropped` (node names) that it read. A
    /// probe or an inquiry still waiting for its answer took it for the
    /// answer of those journals too: each waits for them again, as for any
    /// node it cannot reach (asked where the node itself is linked). Kept as they were, a
    /// probe ended on the restarted reader's "unknown" alone while the
    /// journal it had read held the commit, and the transaction was started
    /// afresh and applied twice (simulator seed 17005, one router). An
    /// answer it gave before it restarted stays: its promise was written
    /// into the journal it then held.
    pub(super) fn readers_answer_no_more(&mut self, ctx: &mut Ctx, took: NodeRef, dropped: &[String]) {
        if dropped.is_empty() {
            return;
        }
        // Each dropped journal of `facility`: its node's link where it is
        // up (asked now), or `None` (waited for by name).
        let where_to_ask = |facility: &str| -> Vec<(String, Option<NodeRef>)> {
            let backends = super::probe::facility_backends(ctx, facility);
            dropped
                .iter()
                .filter(|n| backends.contains(n))
                .map(|n| (n.clone(), ctx.topo.newest_link(n).filter(|r| ctx.topo.is_up(*r))))
                .collect()
        };
        let mut asks: Vec<(NodeRef, Tid, String)> = Vec::new();
        for (tid, tx) in self.txs.iter_mut() {
            let Some(p) = tx.probe.as_mut().filter(|p| p.waiting.contains(&took)) else { continue };
            for (name, link) in where_to_ask(&tx.facility) {
                match link {
                    Some(r) if !p.asked.contains(&r) => {
                        p.asked.push(r);
                        p.waiting.push(r);
                        asks.push((r, *tid, tx.facility.clone()));
                    }
                    Some(_) => {}
                    None if !p.missing.contains(&name) => p.missing.push(name),
                    None => {}
                }
            }
        }
        for (tid, q) in self.inquiries.iter_mut().filter(|(_, q)| q.waiting.contains(&took)) {
            for (name, link) in where_to_ask(&q.facility) {
                match link {
                    Some(r) if !q.waiting.contains(&r) => {
                        q.ask_late(r);
                        asks.push((r, *tid, q.facility.clone()));
                    }
                    Some(_) => {}
                    None if !q.missing.contains(&name) => q.missing.push(name),
                    None => {}
                }
            }
        }
        asks.sort();
        for (r, tid, facility) in asks {
            let drive = self.probe_drive(tid);
            ctx.to_backend(r, ToBackend::Inquire { tid, facility, drive, binds: 0 });
        }
    }

    /// Node `from` let go the journal of lost node `node` that it had read
    /// (at owner epoch `epoch`): it answers for that journal no more. A
    /// reader lets a journal go once nothing there is its to finish (often
    /// at once), and the journal's owner may start again on it. Asked in
    /// the lost node's place after that, the reader answered a later
    /// drive's probe from what it had read, and its promise to that drive
    /// went into its own journal only (it writes into each journal it
    /// holds): the probe rejected the transaction, and the journal's owner,
    /// started again, adopted an earlier drive's commit of it, durable
    /// nowhere, from the router that had decided it (simulator seed 50189,
    /// two routers: the client heard "rejected", the server "accepted").
    /// Now probes and inquiries that still wait for this reader's answer
    /// wait for `node` itself (or its journal's next reader) as well, as
    /// after the reader's restart, and later ones ask `node`. An answer the
    /// reader gave before it let the journal go stands: its promise went
    /// into that journal, and the link keeps order, so this notice comes
    /// ahead of any answer given after. Ignored unless `from` is still the
    /// reader this router knows for `node`, at that epoch (a later reader,
    /// or `node` itself restarted, answers for it now).
    pub(super) fn journal_let_go(&mut self, ctx: &mut Ctx, from: NodeRef, node: &str, epoch: u64) {
        let reader = ctx.topo.name(from).to_string();
        if self.journals_read.get(node) != Some(&reader) || self.journal_epochs.get(node).is_some_and(|e| *e > epoch) {
            return;
        }
        ctx.log(format!("{reader} let the journal of {node} go: it answers for {node} no more"));
        self.journals_read.remove(node);
        self.readers_answer_no_more(ctx, from, &[node.to_string()]);
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
    #[allow(clippy::too_many_arguments)]
    pub(super) fn took_over(
        &mut self,
        ctx: &mut Ctx,
        took: NodeRef,
        node: &str,
        committed: &[Tid],
        aborted: &[Tid],
        read: bool,
        epoch: u64,
    ) {
        let reader = ctx.topo.name(took).to_string();
        if read && reader == node {
            // The node restarted: it holds no other node's journal any
            // more, whatever the epoch of its own. What it read in its
            // earlier life is not its to answer for (it reports any it
            // takes over again). Kept, a probe took the restarted reader's
            // "unknown" for the lost nodes', and went on while another
            // router held a commit of one of them, durable nowhere, that
            // it later handed to that node (simulator seed 10579, two
            // routers: a disagreement).
            let dropped: Vec<String> =
                self.journals_read.iter().filter(|(_, r)| *r == node).map(|(n, _)| n.clone()).collect();
            self.journals_read.retain(|_, r| r != node);
            self.readers_answer_no_more(ctx, took, &dropped);
            // Commits waiting for it as the stand-in for another node's
            // in-doubt branches (their copy in that node's journal, which
            // it read): it holds that copy no more, as if it had said
            // `CopyGivenUp`. Its answers count for its own branches only
            // (`durable`, `commit_failed`), and the wait moves to the
            // journal's next holder when that one reports it
            // (`stand_ins_moved`; the node itself, should it read it
            // again). Left as it was, its answer to the copy's outcome,
            // sent again to its new link ("nothing of it here",
            // `CommitFailed`), was taken for the commit's failure
            // (simulator seed 52403, one router).
            for c in self.committing.values_mut() {
                for s in c.stand_ins.iter_mut().filter(|s| s.reader == took && s.node != node) {
                    s.given_up = true;
                }
            }
        }
        // Who holds the journal is the highest epoch's announcement. A node
        // fenced right after it restarted on its journal may announce it
        // after the reader that fenced it did: taken for the newer, the
        // router forgot the reader and waited for ever for the fenced node,
        // which could not start again while the reader held its journal
        // (simulator seed 9455, one router: no outcome).
        let stale = read && self.journal_epochs.get(node).is_some_and(|e| *e > epoch);
        if read && !stale {
            self.journal_epochs.insert(node.to_string(), epoch);
        }
        if read && stale {
            ctx.log(format!(
                "{reader} reports the journal of {node} at epoch {epoch}, taken over since (epoch {}): it does not \
                 answer for it",
                self.journal_epochs.get(node).copied().unwrap_or(0)
            ));
        }
        if read && !stale {
            if reader != node {
                self.journals_read.insert(node.to_string(), reader);
            } else {
                // The node itself, restarted on its journal: it answers
                // for itself again. (Not on any announcement from it: a
                // life fenced by a reader still announces itself before it
                // learns so, simulator seed 5393; and not on a stale one,
                // above.)
                self.journals_read.remove(node);
            }
            // Inquiries waiting for `node` hear from the one that read its
            // journal instead (asked again: it may have answered before
            // it took the journal in).
            let mut asks: Vec<(Tid, String)> = Vec::new();
            for (tid, q) in self.inquiries.iter_mut() {
                if q.missing.iter().any(|n| n == node) {
                    q.missing.retain(|n| n != node);
                    q.ask_late(took);
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
                let drive = self.probe_drive(tid);
                ctx.to_backend(took, ToBackend::Inquire { tid, facility, drive, binds: 0 });
            }
            self.stand_ins_moved(ctx, took, node, committed);
            if ctx.topo.name(took) == node {
                if let Some(old) = self.relinked.remove(&took) {
                    self.restarted_behind_relink(ctx, took, old, committed);
                }
            }
        }
        if read {
            // Commits (and kept rejections) this router forgot already that
            // the journal still holds: the forget was lost (it was on its
            // way when the node stopped, simulator seed 24 of the disk
            // faults). Told again, or they stay answerable there and pin the
            // journal's oldest segment until the journal is full for good.
            let reader = ctx.topo.name(took).to_string();
            self.forget_again(ctx, &reader, committed);
            self.forget_again(ctx, &reader, aborted);
        }
        let mut lost: Vec<NodeRef> = self.lost.iter().filter(|(_, n)| *n == node).map(|(r, _)| *r).collect();
        if read {
            // Its link here may not have gone yet (a standby took its
            // journal over before this router noticed, or it restarted
            // before its old link timed out): the journal was read after
            // it could no longer write, so the commits waiting for it are
            // settled now all the same (its link going later finds none).
            // Not the reader's own link: a node restarted on its journal
            // reports it over its new link, which is its new life (its
            // commits moved to that link were then taken for lost, and a
            // branch it had lost was handed off to the lost node, which
            // the rule below never sends to: simulator seed 7336).
            let mut linked: Vec<NodeRef> =
                ctx.topo.peers.iter().filter(|(r, p)| p.name == node && **r != took).map(|(r, _)| *r).collect();
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
                // The commit is in `node`'s journal: whoever reads it next
                // (the node itself, restarted) keeps it answerable until
                // told to forget it. Without this name a commit settled
                // only by a journal read was never forgotten, and pinned
                // the node's journal until it was full for good.
                super::forget::add_name(&mut c.holders, node);
            } else {
                let (gone, kept): (Vec<CommitBranch>, Vec<CommitBranch>) =
                    std::mem::take(&mut c.branches).into_iter().partition(|b| lost.contains(&b.node));
                c.branches = kept;
                let mut in_doubt = false;
                // The lost node's branches whose votes were not durable
                // go to a keeper as one unit (`hand_to_keeper`).
                let mut unit: Option<(NodeRef, PartId, Vec<Bytes>)> = None;
                for b in gone {
                    if b.durable {
                        in_doubt = true;
                        continue;
                    }
                    match unit.as_mut() {
                        Some(u) => u.2.extend(b.msgs),
                        None => unit = Some((b.node, b.part, b.msgs)),
                    }
                }
                if let Some((origin, part, msgs)) = unit {
                    c.hand_to_keeper(&mut self.handoffs, tid, origin, part, msgs);
                    if !facilities.contains(&c.facility) {
                        facilities.push(c.facility.clone());
                    }
                }
                if in_doubt {
                    c.stand_in(ctx, tid, took, node);
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

    /// Node `took` read lost node `node`'s journal after another reader
    /// did. Commits that wait for that earlier reader as the stand-in for
    /// `node`'s in-doubt branches wait for `took` instead: the journal was
    /// taken from the earlier reader (fencing it), and a reader that can
    /// no longer write the copy's commit into it says nothing of it
    /// (`Backend::resolved`). If the earlier reader wrote it before it was
    /// fenced, `committed` lists it: durable. Otherwise `took` found it in
    /// doubt and hears the outcome. They waited for ever for the earlier
    /// reader (simulator seed 10306, one router, and 7022, two: no outcome).
    fn stand_ins_moved(&mut self, ctx: &mut Ctx, took: NodeRef, node: &str, committed: &[Tid]) {
        // A stand-in at `took` itself moves too when it gave its copy up
        // (it reads the journal again, after a restart): it holds the copy
        // again, and stands in afresh.
        let earlier = |c: &Committing, s: &StandIn| {
            s.node == node && (s.reader != took || s.given_up) && c.pending.contains(&s.reader)
        };
        let mut moved: Vec<Tid> = self
            .committing
            .iter()
            .filter(|(_, c)| c.stand_ins.iter().any(|s| earlier(c, s)))
            .map(|(t, _)| *t)
            .collect();
        moved.sort();
        for tid in moved {
            let Some(c) = self.committing.get_mut(&tid) else { continue };
            let (gone, kept): (Vec<StandIn>, Vec<StandIn>) =
                std::mem::take(&mut c.stand_ins).into_iter().partition(|s| earlier(c, s));
            c.stand_ins = kept;
            for s in gone.iter().filter(|s| !s.owes_own) {
                // Unless it stands in for another lost node too.
                if !c.stand_ins.iter().any(|k| k.reader == s.reader) {
                    c.pending.retain(|n| *n != s.reader);
                }
            }
            if committed.contains(&tid) {
                c.durable += 1;
                super::forget::add_name(&mut c.holders, node);
            } else {
                c.stand_in(ctx, tid, took, node);
            }
            if c.pending.is_empty() && c.adopting == 0 {
                self.settle(ctx, tid);
            }
        }
    }

    /// Backend node `name` links, as `node`, again in the same life (a
    /// restarted one reports its journal first, `TookOver`, but only after
    /// this: what moves here is then settled as its earlier life's,
    /// `restarted_behind_relink`). A link is a
    /// new peer each time, so commits that waited for that node under a
    /// link that went are moved to this one, and their outcome goes to it
    /// again (lost with the old link, or its `Durable` was: it answers
    /// again). They were
    /// keyed by the old link and never sent again, and their clients
    /// waited for ever (simulator: 40 seeds, e.g. 5844, 5231).
    pub(crate) fn backend_linked(&mut self, ctx: &mut Ctx, node: NodeRef, name: &str) {
        self.forgets_linked(ctx.now, name);
        // Probes and inquiries that wait for this node (missing: not
        // linked, its journal read by nobody linked) ask it now, whether
        // or not it has partitions: it answers from its journal. They
        // waited for a partition of it to be announced, and a node whose
        // servers had not started left a re-drive's probe waiting for ever.
        let mut facilities: Vec<String> = ctx
            .topo
            .facilities
            .defs()
            .filter(|d| ctx.topo.peer_plays(node, d.name(), crate::facility::RoleList::Backend))
            .map(|d| d.name().to_string())
            .collect();
        facilities.sort();
        if !facilities.is_empty() {
            for f in &facilities {
                self.probe_newcomer(ctx, node, f);
            }
            self.inquire_newcomer(ctx, node);
        }
        let mut old: Vec<NodeRef> = self.lost.iter().filter(|(_, n)| *n == name).map(|(r, _)| *r).collect();
        if old.is_empty() {
            self.give_back_replaced(ctx, node);
            return;
        }
        old.sort();
        for r in &old {
            self.lost.remove(r);
        }
        for c in self.committing.values_mut() {
            c.relink(&old, node);
        }
        // Whether the node only linked again or restarted on its journal
        // is not known yet: a restarted one reports its journal first
        // thing over this link (`took_over` then settles what moved here).
        let earlier = old.iter().copied().find(|r| *r != node).unwrap_or(old[0]);
        self.relinked.entry(node).or_insert(earlier);
        // After the commits moved here: a commit waiting on the node keeps
        // its work from being given back (`copy_replaced`), and the old
        // link's name may be gone with it.
        self.give_back_replaced(ctx, node);
        self.send_pending_outcomes(ctx, node);
    }

    /// Node `took` (a new link) restarted on its own journal, which holds
    /// `committed`; `backend_linked` moved commits onto this link from
    /// `old`, a link of the node's earlier life, and sent them again as to
    /// a node that only linked again. A commit not in the journal, with a
    /// branch whose vote was durable there, is committed by the node's
    /// in-doubt copy (it was told the outcome, and says `Durable` once
    /// that is written): the earlier life's branches whose votes were not
    /// durable are gone with it, and go as one unit to a keeper, as for
    /// any lost node whose journal was read (`took_over`). Such a commit
    /// holds both kinds at one node when the transaction moved onto that
    /// node after the durable vote (the other node was lost: its work
    /// followed its range here and was voted on, not durably, as one
    /// node's). Before, only the in-doubt copy was committed, and its
    /// `Durable` stood for the node's every branch: the client heard
    /// "accepted", and the other range never applied it (simulator seed
    /// 52777, one router). A commit with no durable vote at the node is left as it
    /// was: the node holds nothing of it and says so (`CommitFailed`,
    /// seed 7336). (Had the old link not gone yet when the report came,
    /// nothing would have moved: `took_over` settles the commits waiting
    /// on it as lost, the branches whose votes were not durable included.)
    fn restarted_behind_relink(&mut self, ctx: &mut Ctx, took: NodeRef, old: NodeRef, committed: &[Tid]) {
        // Commits its journal holds are durable there, whatever it answers
        // to the outcome sent again over the new link: a recovered commit
        // a shadow partition remembers for the other site is not answered
        // `Durable` (cli/tests/shadow_sites.rs in CI80: the router waited
        // for it, and a client with it, for ever; `say_stalled_commits`
        // showed it waiting on the node's new link, durable elsewhere).
        let mut held: Vec<Tid> = self
            .committing
            .iter()
            .filter(|(t, c)| committed.contains(t) && c.pending.contains(&took))
            .map(|(t, _)| *t)
            .collect();
        held.sort();
        let name = ctx.topo.name(took).to_string();
        for tid in held {
            let Some(c) = self.committing.get_mut(&tid) else { continue };
            c.pending.retain(|n| *n != took);
            c.durable += 1;
            super::forget::add_name(&mut c.holders, &name);
            if c.pending.is_empty() && c.adopting == 0 {
                self.settle(ctx, tid);
            }
        }
        let mut moved: Vec<Tid> = self
            .committing
            .iter()
            .filter(|(t, c)| !committed.contains(t) && c.branches.iter().any(|b| b.node == took && b.durable))
            .map(|(t, _)| *t)
            .collect();
        moved.sort();
        let mut facilities: Vec<String> = Vec::new();
        for tid in moved {
            let Some(c) = self.committing.get_mut(&tid) else { continue };
            let (gone, kept): (Vec<CommitBranch>, Vec<CommitBranch>) =
                std::mem::take(&mut c.branches).into_iter().partition(|b| b.node == took && !b.durable);
            c.branches = kept;
            let Some(part) = gone.first().map(|b| b.part) else { continue };
            let msgs: Vec<Bytes> = gone.into_iter().flat_map(|b| b.msgs).collect();
            if msgs.is_empty() {
                continue;
            }
            ctx.log(format!(
                "{tid}: {} restarted without this commit; its branches whose votes were not durable go to a keeper",
                ctx.topo.name(took)
            ));
            // `old`, not `took`, is the unit's origin: the node's new life
            // may keep it (`keeper` never sends to the origin).
            c.hand_to_keeper(&mut self.handoffs, tid, old, part, msgs);
            if !facilities.contains(&c.facility) {
                facilities.push(c.facility.clone());
            }
        }
        for f in facilities {
            self.route_handoffs(ctx, &f);
        }
    }

    /// Send the outcome of every commit that waits for backend `node` again.
    fn send_pending_outcomes(&mut self, ctx: &mut Ctx, node: NodeRef) {
        let mut tids: Vec<Tid> =
            self.committing.iter().filter(|(_, c)| c.pending.contains(&node)).map(|(t, _)| *t).collect();
        tids.sort();
        for tid in tids {
            let Some(c) = self.committing.get(&tid) else { continue };
            let parts: Vec<PartId> = c.branches.iter().filter(|b| b.node == node).map(|b| b.part).collect();
            let reason = c.reason;
            let drive = c.drive;
            ctx.to_backend(node, ToBackend::Outcome { tid, parts, accepted: true, status: Status::Ok, reason, drive });
        }
    }

    /// Committed work of a partition whose last server left. Sent to every
    /// router of the facility, and again to a router that links: one entry
    /// per unit here.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hand_off(
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
                drive: crate::node::NO_DRIVE,
                site: self.site_of(ctx, from),
            });
            self.route_handoffs(ctx, &facility);
        }
    }

    /// Partition `key` refused this router's own unit of a lost node's
    /// commit of `tid`: it has seen a later drive of the transaction. The
    /// unit was durable nowhere (the lost node never wrote the commit, and
    /// its servers never heard it; a transaction on one backend node, whose
    /// votes were not durable), and the frontend drives the transaction
    /// again elsewhere, whose probe may have found nothing of it and ended
    /// it otherwise (simulator seed 9039, two routers: applied by the keeper
    /// while the client heard the later drive's rejection). So the commit
    /// failed: the client, if this router still reaches it, hears so.
    pub(super) fn adoption_refused(&mut self, ctx: &mut Ctx, tid: Tid, key: PartKey, drive: u32) {
        let refused = |h: &HandOffEntry| h.coordinator && h.tid == tid && h.to == Some(key) && h.drive == drive;
        let Some(i) = self.handoffs.iter().position(refused) else { return };
        self.handoffs.remove(i);
        ctx.log(format!(
            "{tid}: driven again elsewhere, or rolled back there; its commit, durable nowhere, is not handed to {}: \
             failed",
            ctx.topo.name(key.0)
        ));
        let Some(c) = self.committing.get_mut(&tid) else { return };
        c.adopting = c.adopting.saturating_sub(1);
        c.failed.get_or_insert(Status::Srvdied);
        if c.pending.is_empty() && c.adopting == 0 {
            self.settle(ctx, tid);
        }
    }

    /// Backend `from`, asked to make this router's commit of `tid`
    /// durable, has promised a later drive of it (`DrivenElsewhere`): it
    /// refuses the commit, now and after a restart. A commit durable
    /// nowhere yet can then never settle (the router waited for it for
    /// ever, and so did a client that drove it again here: simulator seeds
    /// 13990 and 13531, two routers). It is dropped as a restart of this
    /// router would drop it, telling nobody anything: the later drive's
    /// router decides, and a participant that made it durable first answers
    /// that drive's probe "committed". Kept when it is durable somewhere,
    /// when it waits on hand-offs, or when its client drove it again here
    /// (whose messages this router no longer has to probe with). Returns
    /// whether it was dropped.
    pub(super) fn commit_superseded(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid) -> bool {
        let drop = self
            .committing
            .get(&tid)
            .is_some_and(|c| c.durable == 0 && c.adopting == 0 && !c.redriven_here && c.pending.contains(&from));
        if drop {
            let why = format!("backend {} has promised a later drive of it", ctx.topo.name(from));
            self.drop_unheard_commit(ctx, tid, &why);
        }
        drop
    }

    /// This router's commit of `tid`, durable nowhere, is dropped (`why`):
    /// a later drive decides the transaction.
    pub(super) fn drop_unheard_commit(&mut self, ctx: &mut Ctx, tid: Tid, why: &str) {
        let Some(c) = self.committing.remove(&tid) else { return };
        // Remembered as committed when decided (`finish`): forgotten too,
        // or this router would answer a question about it from that memory.
        self.decided.remove(&tid);
        ctx.log(format!("{tid}: committed here under drive {}, durable nowhere, and {why}: dropped", c.drive));
    }

    /// Partition `key` made a hand-off of `tid` durable.
    pub(super) fn adopted(&mut self, ctx: &mut Ctx, tid: Tid, key: PartKey) {
        if let Some(i) = self.handoffs.iter().position(|h| h.tid == tid && h.to == Some(key)) {
            let h = self.handoffs.remove(i);
            if !h.coordinator {
                ctx.to_backend(h.origin, ToBackend::HandedOff { tid, part: h.part });
                let name = ctx.topo.name(key.0).to_string();
                self.add_holder(ctx, tid, &name);
            } else if let Some(c) = self.committing.get_mut(&tid) {
                // The lost node's branch is durable at its range's
                // new active partition.
                c.adopting = c.adopting.saturating_sub(1);
                c.durable += 1;
                super::forget::add_name(&mut c.holders, ctx.topo.name(key.0));
                if c.pending.is_empty() && c.adopting == 0 {
                    self.settle(ctx, tid);
                }
            }
        }
    }

    /// Send held hand-offs of `facility` to the active partition of their
    /// key range, if it has one now.
    ///
    /// A commit of this router's own that its lost node never made durable
    /// exists only here, as one unit holding every message of the lost
    /// branches (`took_over`). It goes whole to one keeper (`keeper`),
    /// which writes all of it, with the commit, in one synced write; its
    /// partitions then present what they serve, and it hands the rest on
    /// like any committed work of a range it does not serve
    /// (`Backend::adopted`), which survives this router's loss.
    pub(super) fn route_handoffs(&mut self, ctx: &mut Ctx, facility: &str) {
        let parts = self.partitions.get(facility);
        for h in self.handoffs.iter_mut().filter(|h| h.to.is_none() && h.facility == facility) {
            let to = if h.coordinator {
                keeper(parts, h)
            } else {
                h.msgs.first().and_then(|m| route_at(parts, m, h.site.as_deref()).ok())
            };
            if let Some(key) = to {
                h.to = Some(key);
                let adopt = ToBackend::Adopt {
                    part: key.1,
                    tid: h.tid,
                    msgs: h.msgs.clone(),
                    reason: h.reason,
                    drive: h.drive,
                };
                ctx.to_backend(key.0, adopt);
            }
        }
    }
}

/// `route`, for work of a shadow partition at site `site`: that site's
/// active partition of the range, once there is one (none yet: held).
fn route_at(parts: Option<&Vec<super::partitions::RPart>>, data: &[u8], site: Option<&str>) -> Result<PartKey, Status> {
    let Some(site) = site else { return route(parts, data) };
    let list = parts.ok_or(Status::Nodstfnd)?;
    let mut at_site: Vec<&super::partitions::RPart> = list
        .iter()
        .filter(|p| {
            p.active
                && p.callout == Callout::No
                && p.shadow.as_ref().is_some_and(|s| s.site == site)
                && p.range.contains(data) == Ok(true)
        })
        .collect();
    at_site.sort_by_key(|p| std::cmp::Reverse(p.epoch));
    match at_site.first() {
        Some(p) => Ok(p.key),
        // Not a shadowed range (or a key of none): as any work.
        None if !list.iter().any(|p| p.shadow.is_some() && p.range.contains(data) == Ok(true)) => route(parts, data),
        None => Err(Status::Nodstfnd),
    }
}

/// Where a router's own committed unit of lost work goes now: the active
/// partition of one of its ranges, preferring a node with a partition for
/// every range of it (it presents all of it itself); another keeper hands
/// on the shares it does not serve (`Backend::adopted`). `None`: no range
/// of it has an active partition yet, other than on the lost node (where
/// a lost node's commit never goes back: its partitions may still be
/// listed when its journal was read before its link went, simulator seed
/// 5231).
fn keeper(parts: Option<&Vec<super::partitions::RPart>>, h: &HandOffEntry) -> Option<PartKey> {
    let list = parts?;
    let serves = |node: NodeRef, m: &[u8]| {
        list.iter().any(|p| p.key.0 == node && p.callout == Callout::No && p.range.contains(m) == Ok(true))
    };
    let routes: Vec<PartKey> = h.msgs.iter().filter_map(|m| route(parts, m).ok()).filter(|k| k.0 != h.origin).collect();
    routes.iter().find(|k| h.msgs.iter().all(|m| serves(k.0, m))).or(routes.first()).copied()
}
