//! A branch (transaction x partition) on this backend: its messages, its
//! vote, and which router owns it (`owned_by`).

use std::time::Instant;

use super::dispatch::{data_delivery, prepare};
use super::{Backend, PartRole};
use crate::flags;
use crate::msgtype::MsgType;
use crate::node::{Callout, ChanRef, Ctx, NodeRef, PartId, ToBackend, ToRouter, NO_DRIVE};
use crate::protocol::Bytes;
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::TxRecord;

/// A branch whose durable vote record is being written: its vote goes to
/// its router once the write is done (`vote_synced`).
pub(super) struct VoteSync {
    pub(super) tid: Tid,
    pub(super) part: PartId,
}

pub(crate) struct Branch {
    pub(crate) server: Option<ChanRef>,
    pub(crate) msgs: Vec<Bytes>,
    /// The router asked for the vote (the client accepted).
    pub(super) vote_requested: bool,
    /// The server's vote, as it last gave it.
    pub(crate) vote: Vote,
    /// Present the first message as `rtr_mt_msg1_uncertain`.
    pub(crate) uncertain: bool,
    /// The transaction committed: (status, reason) of the outcome to give
    /// the server after (re)presenting the messages.
    pub(crate) committed: Option<(Status, u32)>,
    /// Servers lost while they held this branch ("strikes").
    pub(crate) strikes: u32,
    /// Sent with `RTR_F_SEN_EXPENDABLE`: a lost server rejects the
    /// transaction instead of having it presented again.
    pub(super) expendable: bool,
    /// The server voted with `RTR_F_ACC_FORGET`: it was released at its
    /// vote and hears nothing more of this transaction. The branch stays
    /// only so the outcome can close it; it is never presented again and
    /// owes no acknowledgement.
    pub(super) forgotten: bool,
    /// The router coordinating this branch (its owner): votes and replies
    /// go there, and only its outcome counts.
    pub(super) router: NodeRef,
    /// The owner took the branch by asking about it (`Inquire`: it
    /// resolves a branch whose router was lost), not by driving the
    /// transaction: a router that drives it (messages, a vote request)
    /// takes it back while that owner is still linked (see `owned_by`).
    pub(super) owner_inquired: bool,
    /// The router asked for a durable vote (the transaction spans several
    /// backend nodes).
    pub(super) durable_requested: bool,
    /// The durable record of the yes vote.
    pub(super) record: VoteRecord,
    /// Messages from another router that drives the transaction again
    /// while the owner is still linked: handled once the owner decides
    /// or its link goes down, so two routers never decide one branch.
    pub(super) parked: Vec<(NodeRef, ToBackend)>,
    /// The owner's link went down at this instant and no router took the
    /// branch over yet.
    pub(super) orphaned: Option<Instant>,
    /// Set aside by the retry limit after its accept vote was given (and
    /// withdrawn with its server): the router may have committed on that
    /// vote, so the backend does not decide it alone. It is presented no
    /// more and waits for the router's outcome: a commit makes it a
    /// committed exception, a rejection drops it (see `set_aside`).
    pub(super) aside: bool,
    /// The latest drive of the transaction whose router owned the branch
    /// (`ToRouter::Start::drive`): a later one takes it over (`owned_by`).
    pub(super) drive: u32,
    /// The journal whose recovered commit it was claimed from (0: this
    /// node's own, or a live branch): letting a read journal go drops
    /// only that journal's branches (`release_if_stranded`).
    pub(super) journal: u32,
    /// A recovered commit that no log of this shadow partition's range
    /// knows: remembered for the other site when it is presented
    /// (`Backend::remember_recovered`).
    pub(super) remember: bool,
    /// Made while this site was its shadow range's primary: a commit of it
    /// its secondary did not take part in is not at the other site. Any
    /// other branch's commit may be there (made at the secondary, whose
    /// site was primary when the commit came; or while the primary claim
    /// was unanswered): remembered as unsure (`shadow_log::LogEntry`).
    pub(super) made_primary: bool,
    /// A full journal refused some of its `Msg` records (`journal_failed`).
    /// Its router hears `BranchFailed`, but may have decided a commit on
    /// its vote (not durable) before that: the commit's write then restates
    /// every message (`TxRecord::Restated`, `Backend::restatement`).
    pub(super) refused: bool,
}

/// A branch's vote, as its server last gave it. A yes withdrawn with its
/// server (lost before the outcome) is `None` again, and the branch is
/// `uncertain`: its router may have committed on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Vote {
    None,
    /// Accepted, with its reason (sent again to a new owner).
    Yes {
        reason: u32,
    },
    /// Rejected, with its reason: sent again to a new owner, and no prepare
    /// is asked of a server again.
    No {
        reason: u32,
    },
}

/// The durable record of a branch's yes vote (`TxRecord::Vote { durable:
/// true }` and the drive's promise), asked for when the transaction spans
/// several backend nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VoteRecord {
    /// Not written: not asked for, no yes yet, or the write failed.
    None,
    /// Being written; the yes goes to the router once it is
    /// (`vote_synced`). `again`: written once already (for a yes since
    /// withdrawn with its server), so the vote counts as durable meanwhile.
    Writing { again: bool },
    /// Written, or the node keeps no journal: the yes is given as durable.
    Durable,
}

impl Branch {
    /// No vote of this branch can have reached a router: neither given (or
    /// being made durable) nor withdrawn after being given, and no outcome.
    pub(super) fn never_voted(&self) -> bool {
        self.committed.is_none() && !self.uncertain && self.vote == Vote::None && !self.vote_writing()
    }

    /// The server voted yes (and has not been lost since).
    pub(crate) fn voted_yes(&self) -> bool {
        matches!(self.vote, Vote::Yes { .. })
    }

    /// The yes vote's durable record is being written.
    pub(super) fn vote_writing(&self) -> bool {
        matches!(self.record, VoteRecord::Writing { .. })
    }

    /// A durable record of a yes vote is in the journal.
    pub(super) fn vote_durable(&self) -> bool {
        matches!(self.record, VoteRecord::Durable | VoteRecord::Writing { again: true })
    }

    /// The yes vote's durable record starts being written.
    pub(super) fn write_vote(&mut self) {
        self.record = VoteRecord::Writing { again: self.vote_durable() };
    }

    pub(super) fn new(msgs: Vec<Bytes>, router: NodeRef) -> Branch {
        Branch {
            server: None,
            msgs,
            vote_requested: false,
            vote: Vote::None,
            uncertain: false,
            committed: None,
            strikes: 0,
            expendable: false,
            forgotten: false,
            router,
            owner_inquired: false,
            durable_requested: false,
            record: VoteRecord::None,
            parked: Vec::new(),
            orphaned: None,
            aside: false,
            drive: 0,
            journal: 0,
            remember: false,
            made_primary: false,
            refused: false,
        }
    }
}

/// What a router's request does with a branch it does not own
/// (`Backend::owned_by`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Claim {
    /// A message, vote request or probe of a router driving the
    /// transaction.
    Drives,
    /// An inquiry of a router resolving an orphan (drive 0): it only asks.
    Asks,
    /// An outcome.
    Decides,
}

impl Backend {
    /// May router `from` act on branch (tid, part)? Yes when it owns the
    /// branch, when there is no branch, or when the owner's link is down
    /// (`from` then takes the branch over and gets its vote again). When
    /// the owner is still linked, the message (made by `park`) waits on the
    /// branch until the owner decides or goes, with one exception: `drives`
    /// (a message, vote request or probe of a router driving the transaction)
    /// takes the branch from an owner that only asked about it. That owner
    /// resolves an orphan by asking every node, and waits for the answers
    /// of branches the driving router owns, which wait in turn for it to
    /// decide or go: both waited for ever (simulator seed 7181, two
    /// routers: the transaction's router came back after its link to this
    /// node was lost and another router was asked). The asking router
    /// decides nothing here afterwards (its outcome waits on the branch as
    /// any non-owner's does).
    ///
    /// Between two routers that only ask, the one whose name sorts first
    /// takes the branch (`Claim::Asks`). Each node in doubt may ask a
    /// different router; each inquiry took its asker's branch and then
    /// waited for the other's, so neither ended (simulator seed 16946, two
    /// routers: no outcome, and every transaction queued behind the two
    /// branches waited too; one of them, started again, asked about the
    /// branch it owned from its drive, and counts as asking only). With an order among askers the first of them
    /// never waits on another's branch and ends; the others' questions
    /// wait on the branches it took and are answered once it decided. It is
    /// safe for the reason above: the router that lost the branch decides
    /// nothing here (its outcome waits on the branch), and both conclude
    /// from answers in which any commit shows (`Router::resolve`).
    ///
    /// A second exception: a request of a later drive of the transaction
    /// (`drive`, `ToRouter::Start::drive`; 0 for requests that carry none)
    /// takes the branch from the owner of an earlier drive, linked or not.
    /// The frontend left that router; its probe, in turn, waits for the
    /// branches the earlier drive's router owns, which waited for it to
    /// decide (simulator seed 7049, two routers: no outcome). It is safe
    /// as a ballot is: the later drive's router decides only on answers
    /// that every backend node gives after it took the branches, so an
    /// earlier router's decision that reached a node first is among them
    /// (a commit answers "committed"), and one that comes later waits on
    /// the branch as any non-owner's does. And the converse: a request of
    /// an earlier drive than the branch's never takes it, even from an owner
    /// whose link is down (simulator seed 7631, two routers: the router of
    /// drive 0 took back, with a vote request, the branches drive 1's router
    /// had taken while its link was down, and committed them, while drive
    /// 1's router, back, rolled them back). It waits on the branch instead.
    /// `NO_DRIVE` (an answer to this node's own question, from a router's
    /// memory of its decision) is neither earlier nor later.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn owned_by(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        tid: Tid,
        part: PartId,
        claim: Claim,
        drive: u32,
        park: impl FnOnce() -> ToBackend,
    ) -> bool {
        let Some(b) = self.branches.get_mut(&(tid, part)) else { return true };
        let drives = claim == Claim::Drives;
        let drive = (drive != NO_DRIVE).then_some(drive);
        let earlier = drive.is_some_and(|d| d < b.drive);
        if b.router == from && earlier && b.committed.is_none() {
            // Its owner's own request of an earlier drive than the one it
            // took the branch with: sent before that (a link delivers in
            // order), it waited here on the branch while another drive's
            // router held it, and comes back now (replayed when an owner
            // went or decided). Its drive is over: this router took the
            // branch back under a later drive, and the earlier drive's
            // decision was dropped (`Router::commit_superseded`). It waits
            // again, as an earlier drive's request from any router does.
            // Taken as the owner's, a commit of drive 0, dropped by its
            // router on `DrivenElsewhere`, committed the branch when the
            // router's link went, after the same router's drive 2 had
            // taken the branch back; drive 2 then heard "committed" and
            // committed the rest, and the work it had moved to another
            // range's partition was answered "decided" there and never
            // presented (simulator seed 33216, two routers).
            b.parked.push((from, park()));
            return false;
        }
        if b.router == from {
            // An owner that asks about its own branch forgot the
            // transaction (a router asks only about a tid it neither drives
            // nor decided: `Router::inquire`), typically by starting again:
            // it only asks now.
            match claim {
                Claim::Drives => b.owner_inquired = false,
                Claim::Asks => b.owner_inquired = true,
                Claim::Decides => {}
            }
            b.drive = b.drive.max(drive.unwrap_or(0));
            return true;
        }
        let later = drive.is_some_and(|d| d > b.drive);
        let owner_up = ctx.topo.is_up(b.router);
        // A request that takes the branch from a linked owner that only
        // asked about it: a drive, or an earlier-named asker.
        let outranks = b.owner_inquired
            && match claim {
                Claim::Drives => true,
                Claim::Asks => ctx.topo.name(from) < ctx.topo.name(b.router),
                Claim::Decides => false,
            };
        if b.committed.is_none() && (earlier || (owner_up && !outranks && !later)) {
            b.parked.push((from, park()));
            return false;
        }
        if ctx.topo.is_up(b.router) && b.committed.is_none() {
            let why = if later {
                "whose drive of it is earlier"
            } else if drives {
                "which only asked about it"
            } else {
                "which asked about it after this one"
            };
            ctx.log(format!(
                "{tid}: router {} {} it; router {}, {why}, no longer decides it here",
                ctx.topo.name(from),
                if drives { "drives" } else { "asks about" },
                ctx.topo.name(b.router)
            ));
            if later {
                // Told, so that it drops its copy rather than wait for
                // this branch's vote for ever.
                ctx.to_router(b.router, ToRouter::DrivenElsewhere { tid, part, drive: b.drive });
            }
        }
        b.drive = b.drive.max(drive.unwrap_or(0));
        b.router = from;
        b.owner_inquired = !drives;
        b.orphaned = None;
        self.orphan_if_router_gone(ctx, tid, part);
        let Some(b) = self.branches.get_mut(&(tid, part)) else { return true };
        if let Vote::No { reason } = b.vote {
            ctx.to_router(from, ToRouter::Vote { tid, part, accept: false, reason, durable: true });
        } else if b.aside {
            // Set aside undecided: the new owner is asked to reject, as the
            // old one was.
            ctx.to_router(from, ToRouter::BranchFailed { tid, part, status: Status::Retrylimit });
        } else if let (Vote::Yes { reason }, None, false) = (b.vote, b.committed, b.vote_writing()) {
            let durable = b.vote_durable();
            ctx.to_router(from, ToRouter::Vote { tid, part, accept: true, reason, durable });
        }
        true
    }

    /// Handle messages that waited on a branch now decided.
    pub(super) fn replay_parked(&mut self, ctx: &mut Ctx, parked: Vec<(NodeRef, ToBackend)>) {
        for (from, m) in parked {
            self.handle(ctx, from, m);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn message(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        tid: Tid,
        part: PartId,
        index: u32,
        data: Bytes,
        first: bool,
        fl: u32,
        drive: u32,
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
        } else if self.driven_later(ctx, from, tid, drive) {
            // Its router drops its copy (its frontend takes outcomes only
            // from the router now driving it).
            ctx.to_router(from, ToRouter::DrivenElsewhere { tid, part, drive });
            return;
        } else if self.bound.refuses(tid, drive) {
            // This node answered an inquiry about it "unknown" (`bound.rs`):
            // the inquiry may roll back the branch whose work this router
            // places here (it took that branch's node for lost). Failed
            // with the status of that rollback, so that its router rolls
            // the transaction back too.
            ctx.log(format!(
                "{tid}: router {} starts a branch of drive {drive} of it, but this node answered an inquiry about it                  \"unknown\": refused",
                ctx.topo.name(from)
            ));
            ctx.to_router(from, ToRouter::BranchFailed { tid, part, status: Status::Routerunavailtmo });
            return;
        } else {
            self.replaced_in_doubt(ctx, tid, part);
        }
        self.saw_drive(tid, drive);
        // A partition gone, or not active for its range, takes no new work:
        // the router routed here before it heard (the announcement is on
        // the link ahead of this answer). The work follows the range to its
        // next active partition, like never-voted work of a partition that
        // gave its range up; it is no reason to reject the transaction.
        let Some(p) = self.parts.get_mut(&part) else {
            ctx.to_router(from, ToRouter::Moved { tid, part });
            return;
        };
        let existing = self.branches.contains_key(&(tid, part));
        if !existing && p.role != PartRole::Active && p.callout == Callout::No {
            ctx.to_router(from, ToRouter::Moved { tid, part });
            return;
        }
        if !existing && p.servers.is_empty() {
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
        let fence = p.grant.epoch;
        if let Some(b) = self.branches.get_mut(&(tid, part)) {
            b.expendable |= expendable;
            b.msgs.push(data.clone());
            if let Some(s) = b.server {
                ctx.deliver(s.0, data_delivery(s.1, MsgType::Msgn, tid, data, fence));
            }
            return;
        }
        let mut b = Branch::new(vec![data], from);
        b.expendable = expendable;
        b.drive = drive;
        b.made_primary = p.shadow.as_ref().is_some_and(|s| s.side == super::Side::Primary);
        self.branches.insert((tid, part), b);
        p.waiting.push_back(tid);
        self.orphan_if_router_gone(ctx, tid, part);
        self.dispatch(ctx, part);
    }

    /// Branch `(tid, part)` was just made or taken by a router whose link
    /// is down already: a request that waited here (behind its drive's
    /// promise write, `promise_first`, or parked on another owner's
    /// branch) and is handled after its link went. `router_lost` ran
    /// before the branch was that router's, so it is an orphan from now
    /// on, given back or asked about once its grace ends, as any branch
    /// whose router goes. Left as a live router's, it never asked: its
    /// server held it for ever, and every transaction of the range queued
    /// behind it.
    fn orphan_if_router_gone(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId) {
        let Some(b) = self.branches.get_mut(&(tid, part)) else { return };
        if ctx.topo.is_up(b.router) || b.committed.is_some() {
            return;
        }
        b.orphaned.get_or_insert(ctx.now);
        let due = ctx.now + super::ORPHAN_GRACE;
        self.orphan_deadline = Some(self.orphan_deadline.map_or(due, |d| d.min(due)));
    }

    /// The router asks for the branch's vote (`durable`: the transaction
    /// spans several backend nodes, so the vote must be durable first).
    pub(super) fn vote_request(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        tid: Tid,
        part: PartId,
        durable: bool,
        drive: u32,
    ) {
        if !self.owned_by(ctx, from, tid, part, Claim::Drives, drive, || ToBackend::VoteRequest {
            tid,
            part,
            durable,
            drive,
        }) {
            return;
        }
        let fence = self.fence(part);
        let Some(b) = self.branches.get_mut(&(tid, part)) else {
            self.answer_decided(ctx, from, tid, part);
            return;
        };
        if b.committed.is_some() {
            return self.answer_decided(ctx, from, tid, part);
        }
        // Asked before (by this router or one whose drive or branch this
        // one took over): the server has its prepare already (here, or
        // from `dispatch` when it was given the branch).
        let asked = std::mem::replace(&mut b.vote_requested, true);
        b.durable_requested |= durable;
        if b.voted_yes() && durable && b.record == VoteRecord::None && self.journal {
            // Voted before the router knew the transaction spans
            // several nodes: make the vote durable, then give it again.
            b.write_vote();
            self.next_token += 1;
            let token = self.next_token;
            ctx.journal(Backend::vote_records(tid, b.drive), true, Some(token));
            self.vote_tokens.insert(token, VoteSync { tid, part });
            return;
        }
        match (b.server, b.vote) {
            (Some(s), Vote::None) if !asked => ctx.deliver(s.0, prepare(s.1, tid, fence)),
            // Voted already: the router asks again because it lost
            // the vote (it drove the transaction again after a link
            // loss), so it hears it again.
            (_, Vote::Yes { reason }) if !b.vote_writing() && (b.vote_durable() || !durable) => {
                let durable = b.vote_durable();
                ctx.to_router(from, ToRouter::Vote { tid, part, accept: true, reason, durable });
            }
            (_, Vote::No { reason }) => {
                ctx.to_router(from, ToRouter::Vote { tid, part, accept: false, reason, durable: true })
            }
            _ => {}
        }
    }

    /// A router places a branch of `tid` in partition `part` afresh while
    /// this node holds `tid` in doubt from a journal it read (a lost
    /// node's): that router drives the lost node's work of this key range
    /// again (`docs/outcomes.md`), so the old vote for it no longer counts
    /// and its messages leave the in-doubt copy; the new branch decides.
    /// Messages of other key ranges stay in doubt: the router kept those
    /// branches (their votes were durable) and their outcome comes to the
    /// copy (simulator seeds 5577, 5759, 5875: a message of another range
    /// closed the whole copy, and a committed range was never applied).
    /// A copy left with no message is closed in its journal.
    pub(super) fn replaced_in_doubt(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId) {
        let Some(p) = self.parts.get(&part) else { return };
        let Some(copies) = self.in_doubt.get_mut(&tid) else { return };
        let mut changed = false;
        for d in copies.iter_mut() {
            let before = d.msgs.len();
            d.msgs.retain(|m| p.range.contains(m) != Ok(true));
            changed |= d.msgs.len() != before;
        }
        if !changed {
            return;
        }
        ctx.log(format!(
            "{tid}: in doubt from a lost node's journal, its key range driven again here: the new branch decides"
        ));
        let emptied: Vec<u32> = copies.iter().filter(|d| d.msgs.is_empty()).map(|d| d.jid).collect();
        copies.retain(|d| !d.msgs.is_empty());
        if copies.is_empty() {
            self.in_doubt.remove(&tid);
            self.stale_answers.remove(&tid);
        }
        for jid in emptied {
            self.close_in_doubt(ctx, jid, vec![(tid, TxRecord::Done)]);
        }
    }

    /// The router driving `tid` under drive `drive` went on as new after
    /// its probe found nobody had committed it (`Router::probed`): it places
    /// every message of the transaction again itself, from the first, where
    /// each key range is served now. So every in-doubt copy of `tid` here
    /// (from this node's own journal after a restart, or from a lost node's
    /// journal read here) is of work placed again: it is given back, closed
    /// in its journal with nothing decided (`Done` after its records, as
    /// `replaced_in_doubt` closes a copy whose range came back here), and a
    /// read journal left with nothing open is let go. Kept for the
    /// transaction's outcome, the copy waited on that outcome while the
    /// outcome waited on the copy: the router held the transaction for a
    /// key range whose grant was the lost node's, and that node could not
    /// start again while its journal was held here for the copy (simulator
    /// seed 44894, one router: no outcome). And a copy committed by that
    /// outcome while the work placed again went to another node (which
    /// serves its range now) would apply the work twice. The router asks
    /// this only of a node none of whose copies may be of a branch it
    /// still has (`copy_may_be_a_branch`). Not from the router of an
    /// earlier drive than one seen here: the later drive's router decides
    /// what becomes of the copies.
    pub(super) fn give_back_copies(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, drive: u32) {
        if self.driven_later(ctx, from, tid, drive) {
            return;
        }
        let Some(copies) = self.in_doubt.remove(&tid) else { return };
        if !self.branches.keys().any(|(t, _)| *t == tid) {
            self.stale_answers.remove(&tid);
        }
        ctx.log(format!(
            "{tid}: in doubt here from {} journal(s); router {} places its work again (drive {drive}): given back",
            copies.len(),
            ctx.topo.name(from)
        ));
        for d in copies {
            self.close_in_doubt(ctx, d.jid, vec![(tid, TxRecord::Done)]);
        }
    }

    /// Router `from` placed this node's work of `tid` again when it lost
    /// the node (`OWN_REPLACED_WORK`): the node's orphaned voted branches of
    /// it (their router's link went) and the in-doubt copies of its own
    /// journal (a restart's) are given back, nothing decided; copies of
    /// journals read here are other nodes' branches, and wait for the
    /// outcome. Held on to, such work asked about the transaction and was
    /// told "committed" (by a router that had forgotten, or restarted, or
    /// by its answer to the node's copy), and was applied a second time
    /// beside the work placed again (simulator, no shared storage and
    /// unrecognized recovery, seeds 50 and 66). Not from the router of an
    /// earlier drive than one seen here.
    ///
    /// An orphan another router only asked about since (`Inquire`: it took
    /// the branch to resolve it, `owner_inquired`, and is no longer
    /// orphaned) is still that earlier link's work, and is given back too:
    /// the asker drives nothing of it, and the router that placed it says
    /// its work went elsewhere. Kept, the node committed it by itself once
    /// it had committed another branch of the transaction that router
    /// placed here afterwards (`inquire`: "committed" here, so its
    /// undecided branches commit too), beside the copy the range's next
    /// active partition had applied (simulator seed 6913, two routers, no
    /// shared storage).
    pub(super) fn give_back_own(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, drive: u32) {
        if self.driven_later(ctx, from, tid, drive) {
            return;
        }
        let mut orphans: Vec<PartId> = self
            .branches
            .iter()
            .filter(|((t, _), b)| *t == tid && (b.orphaned.is_some() || b.owner_inquired) && b.committed.is_none())
            .map(|((_, p), _)| *p)
            .collect();
        orphans.sort();
        for part in orphans {
            ctx.log(format!(
                "{tid}: router {} placed its work here again elsewhere when it lost this node: given back, its \
                 server told rescheduled",
                ctx.topo.name(from)
            ));
            self.give_back(ctx, tid, part);
        }
        let Some(copies) = self.in_doubt.get_mut(&tid) else { return };
        let (own, read): (Vec<_>, Vec<_>) = std::mem::take(copies).into_iter().partition(|d| d.jid == 0);
        if read.is_empty() {
            self.in_doubt.remove(&tid);
        } else {
            *copies = read;
        }
        if own.is_empty() {
            return;
        }
        if !self.in_doubt.contains_key(&tid) && !self.branches.keys().any(|(t, _)| *t == tid) {
            self.stale_answers.remove(&tid);
        }
        ctx.log(format!(
            "{tid}: in doubt here from this node's own journal; router {} placed that work again when it lost this \
             node: given back",
            ctx.topo.name(from)
        ));
        for d in own {
            self.close_in_doubt(ctx, d.jid, vec![(tid, TxRecord::Done)]);
        }
    }

    /// The durable vote record of branch (tid, part) was written (or not):
    /// the vote goes to the branch's router now (or the branch fails).
    pub(super) fn vote_synced(&mut self, ctx: &mut Ctx, v: VoteSync, result: Result<(), Status>) {
        let VoteSync { tid, part } = v;
        let Some(b) = self.branches.get_mut(&(tid, part)) else { return };
        match result {
            Ok(()) => {
                b.record = VoteRecord::Durable;
                // Its server may have been lost meanwhile: that vote was
                // withdrawn (`VoteWithdrawn`) and goes with it; the server
                // presented the branch next votes again.
                if let Vote::Yes { reason } = b.vote {
                    ctx.to_router(b.router, ToRouter::Vote { tid, part, accept: true, reason, durable: true });
                }
            }
            Err(status) => {
                // A record written before (`again`) is still there.
                b.record = if b.vote_durable() { VoteRecord::Durable } else { VoteRecord::None };
                ctx.to_router(b.router, ToRouter::BranchFailed { tid, part, status })
            }
        }
    }
}
