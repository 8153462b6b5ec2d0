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

use super::{Callout, ChanRef, Ctx, NodeRef, PartKey, ToBackend, ToFrontend, ToRouter, LOCAL};
use crate::flags;
use crate::keyseg::KeyError;
use crate::protocol::Bytes;
use crate::status::Status;
use crate::tid::Tid;

mod commit;
mod forget;
mod inquiry;
mod partitions;
mod probe;
mod shadow;

use commit::{Committing, HandOffEntry};
use forget::Forgets;
pub(super) use forget::FLUSH_AFTER;
use inquiry::Inquiry;
use partitions::{RPart, RangeGrant};
use probe::Probe;

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
    /// A shadow secondary's branch (docs/shadow.md): the messages of the
    /// branch at primary partition `.0`, placed here once the primary voted
    /// yes. Its replies are dropped; lost, it is dropped (never placed
    /// again by key: by key its range's partition is the primary).
    pub(super) secondary_of: Option<PartKey>,
}

impl Branch {
    pub(super) fn new(part: PartKey) -> Branch {
        Branch { part, vote: VoteState::Pending, sent: 0, durable: false, msgs: Vec::new(), secondary_of: None }
    }
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
    /// Backend nodes that asked about it (`Inquire`) while it was live
    /// here: each holds it in doubt from a journal it read (a lost node's,
    /// taken over) and hears its outcome when it ends.
    pub(super) inquirers: Vec<NodeRef>,
    /// Driven again after its first router was lost (it was probed): a
    /// rejection of it is told to every backend node of the facility, each
    /// of which then refuses the tid (`finish`), as a router that was
    /// frozen may still hold the client's earlier messages and drive it.
    redriven: bool,
    /// The frontend's drive of it that this router has
    /// (`ToRouter::Start::drive`), sent with its messages and probes.
    drive: u32,
    /// The client's messages (`Send`) this router has taken, once each,
    /// over any drive; and how many of the next ones are copies of those
    /// (a drive again over a new link re-sends them all from the first).
    sends: u32,
    resend_skip: u32,
    /// Routed to a shadow primary whose secondary was up, or a secondary's
    /// branch was placed: it spans two nodes (from the start, and for good
    /// once a secondary had its branch), so its votes are asked durable
    /// (docs/shadow.md).
    shadowed: bool,
    /// Primary branches whose shadow secondary's branch was dropped
    /// (`drop_secondary`): named `unsure` in `Shipped`.
    dropped_secondary_of: Vec<PartKey>,
    /// Shadow secondaries' branches given back at their nodes (dropped, or
    /// their primary lost), until a branch is placed there again: a vote of
    /// the given-back branch still on its way is not a branch taken over
    /// (`vote`), which would count it for work placed there later
    /// (`rtr simulate --shadow --seed 470 --routers 2`: no outcome).
    pub(super) given_back: Vec<PartKey>,
    /// A shadowed transaction's replies by node (`shadow::ReplySum`): the
    /// secondary's must match its primary's.
    pub(super) replies: Vec<(NodeRef, shadow::ReplySum)>,
    /// A branch of it was lost with its node, or a secondary's branch was
    /// dropped or given back: a node's replies may be counted for work that
    /// is no longer there, so they are not compared.
    pub(super) replies_partial: bool,
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
    /// Backend links that commits moved onto when their node linked again
    /// (`backend_linked`): new link -> a link of that node that went. The
    /// node may have restarted rather than only linked again; its report
    /// of its own journal then comes over the new link, and the commits
    /// moved there are settled as its earlier life's (`took_over`).
    relinked: Map<NodeRef, NodeRef>,
    /// The newest grant seen per key range (`crate::authority::range_id`):
    /// its epoch, and its active partition while linked. An active
    /// partition under an older grant is refused (`ToBackend::Superseded`).
    grants: Map<String, RangeGrant>,
    /// What each shadow primary was last told of its secondary, by
    /// facility (`shadow_partners`).
    partners_told: Map<String, Map<PartKey, bool>>,
    /// Committed work handed off by partitions whose last server left, on
    /// its way to its range's active partition (held while there is none).
    handoffs: Vec<HandOffEntry>,
    /// Shadow logs relayed here: (receiving partition, series) -> the
    /// partition that sent that series (`ToRouter::ShadowApplied` goes back
    /// there).
    shadow_senders: Map<(PartKey, u64), PartKey>,
    /// Committed transactions whose commit the backends are making durable:
    /// the client hears of the commit only after they did.
    pub(super) committing: Map<Tid, Committing>,
    /// Transaction timeouts; entries of finished transactions are skipped when they fire.
    timers: BinaryHeap<Reverse<(Instant, Tid)>>,
    /// When the commits waiting longest are looked at next
    /// (`say_stalled_commits`); `None` while none waits.
    stall_check_at: Option<Instant>,
    /// Held transactions per facility, in the order they were held.
    held: Map<String, Vec<Tid>>,
    /// In-doubt transactions of a lost router being resolved by asking
    /// every backend of their facility.
    inquiries: Map<Tid, Inquiry>,
    /// Lost backend nodes whose journal another node read (took over): it
    /// answers inquiries for them. Both by name (a link is a new peer each
    /// time it comes up); forgotten when the node reports its own journal
    /// again (it restarted on it), when the reader reports its own (it
    /// restarted, holding no other node's journal any more), and when the
    /// reader says it let the journal go (`JournalLetGo`).
    journals_read: Map<String, String>,
    /// The highest owner epoch announced (`TookOver`) for each journal, by
    /// node name: an announcement under a lower one is stale.
    journal_epochs: Map<String, u64>,
    /// How this router ended its recent transactions (bounded, oldest
    /// forgotten first; kept only with peers: only another node asks). A
    /// frontend that drives a committed one again, or a backend in doubt
    /// of it that asks, hears so at once: once the commit settled here the
    /// router forgot it, and an inquiry could conclude "nobody committed
    /// it" from backends that had forgotten it too (simulator seed 165).
    /// A rejection is answered from here only naming the drive this
    /// router decided it on (`Decision::drive`; `NO_DRIVE` for one found by
    /// asking, which is asked about again): it may never have reached
    /// anyone while the frontend drove the transaction through another
    /// router that committed it (seed 5499), and a node that has seen
    /// that later drive does not take it (`Router::inquire`).
    decided: Map<Tid, Decision>,
    decided_order: std::collections::VecDeque<Tid>,
    /// Lost backend nodes whose branches of a transaction this router
    /// placed again (`peer_lost`: undecided, their messages driven again
    /// to their ranges' next active partitions), by tid, kept as long as
    /// the transaction is live or remembered in `decided`. Such a node's
    /// journal may hold a durable vote of the branch: when nobody read
    /// that journal (backends sharing no storage, the range made active
    /// without it), the node, started again, is in doubt of a copy of work
    /// placed elsewhere (or, only cut off, holds the branch orphaned), and
    /// asks. That work is given back, never committed: the transaction's
    /// work is where it was placed again (`Router::copy_replaced`,
    /// `give_back_replaced`, `OWN_REPLACED_WORK`). Committed by the answer,
    /// it was applied twice (the simulator with `--no-shared-root
    /// --recovery unrecognized`, seeds 50 and 66).
    replaced: Map<Tid, Replaced>,
    /// Commits waiting for their frontends' acknowledgements, and forgets
    /// for the backends (`forget.rs`).
    forgets: Forgets,
    /// Each backend node's site (docs/shadow.md), by name, as its shadow
    /// partitions or its inquiry answers (`ToRouter::Inquired::site`) last
    /// said it: kept after they go down or its link goes, since a node
    /// that restarts asks about its in-doubt work before its partitions are
    /// up again, and whether the other answers' applied work is at its own
    /// site decides what it gives back (`replaced_elsewhere`; simulator
    /// seed 329 with two routers: be1, restarted, was told to give back its
    /// in-doubt copy of a commit the other site's secondary had applied,
    /// and its site never applied it).
    pub(super) sites: Map<String, String>,
}

/// How many ended transactions a router remembers.
const DECIDED_KEPT: usize = 1 << 16;

impl Router {
    /// Active partitions registered for a facility.
    pub fn partition_count(&self, facility: &str) -> usize {
        self.partitions.get(facility).map_or(0, |v| v.iter().filter(|p| p.active && p.callout == Callout::No).count())
    }

    /// Orphaned transactions being resolved by asking (`inquiry.rs`).
    #[cfg(test)]
    pub(crate) fn inquiring(&self) -> usize {
        self.inquiries.len()
    }

    pub fn active(&self) -> usize {
        self.txs.len()
    }

    /// The facility this router holds transaction `tid` under (running,
    /// committing, or being resolved by inquiry), for checking who may
    /// send messages about it (`super::sender_roles`).
    pub(super) fn tx_facility(&self, tid: Tid) -> Option<&str> {
        (self.txs.get(&tid).map(|t| t.facility.as_str()))
            .or_else(|| self.committing.get(&tid).map(|c| c.facility.as_str()))
            .or_else(|| self.inquiries.get(&tid).map(|q| q.facility.as_str()))
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let stall = self.stall_check_at.filter(|_| !self.committing.is_empty());
        [self.timers.peek().map(|Reverse((t, _))| *t), stall].into_iter().flatten().min()
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
        self.say_stalled_commits(ctx);
    }

    /// A message from a role on node `from` (this node: [`super::LOCAL`]).
    pub fn handle(&mut self, ctx: &mut Ctx, from: NodeRef, m: ToRouter) {
        if let ToRouter::Send { tid, .. } = &m {
            if let Some(tx) = self.txs.get_mut(tid) {
                // A frontend driving a transaction again sends every
                // message of it again, from the first. The ones this router
                // has already (an earlier drive's, over a link since
                // broken) are dropped: kept, the work was placed twice (a
                // transfer applied with its debit doubled, simulator seed
                // 10146: books off by its amount).
                if tx.resend_skip > 0 {
                    tx.resend_skip -= 1;
                    return;
                }
                tx.sends += 1;
            }
        }
        self.handle_msg(ctx, from, m)
    }

    /// `handle`, for a message taken once already (held ones let go).
    fn handle_msg(&mut self, ctx: &mut Ctx, from: NodeRef, m: ToRouter) {
        let Some(m) = self.hold(m) else { return };
        match m {
            ToRouter::Start { tid, facility, client, timeout_ms, drive } => {
                self.start(ctx, from, tid, facility, client, timeout_ms, drive)
            }
            ToRouter::Send { tid, facility: _, client, data, flags: fl } => self.send(ctx, from, tid, client, data, fl),
            ToRouter::ClientAccept { tid, reason } => self.client_accept(ctx, tid, reason),
            ToRouter::ClientPrepare { tid, reason } => self.client_prepare(ctx, tid, reason),
            ToRouter::ClientAbort { tid, status, reason, gone } => self.client_abort(ctx, tid, status, reason, gone),
            ToRouter::Reply { tid, data } => self.reply(ctx, from, tid, data),
            ToRouter::Vote { tid, part, accept, reason, durable } => {
                self.vote(ctx, tid, (from, part), accept, reason, durable)
            }
            ToRouter::VoteWithdrawn { tid, part } => self.vote_withdrawn(tid, (from, part)),
            ToRouter::Moved { tid, part } => self.moved(ctx, tid, (from, part)),
            // A branch's failure, or a "rolled back" answer about it, counts
            // only from a branch the transaction still has there: one moved
            // on (`Moved`) may still draw an answer from the partition it
            // left (to a vote request that crossed the move, the backend
            // knows nothing of the tid and presumes it aborted).
            ToRouter::BranchFailed { tid, part, status } => {
                if let Some(p) = self.txs.get_mut(&tid).and_then(|tx| tx.probe.as_mut()) {
                    // Driven again and still probed: a backend not heard
                    // yet may hold the commit (see `Probe::failed`). Kept
                    // even before the backend's answer names the branch
                    // (it comes after: seed 5054 dropped it and the branch,
                    // set aside, waited for ever).
                    p.failed.get_or_insert((status, 0));
                } else if self.drop_secondary(ctx, tid, (from, part), status.name()) {
                } else if self.has_branch(tid, (from, part)) {
                    self.abort(ctx, tid, status, 0);
                }
            }
            ToRouter::Decided { tid, part, committed: false, .. } if !self.has_branch(tid, (from, part)) => {}
            ToRouter::Durable { tid } => self.durable(ctx, from, tid),
            ToRouter::CopyGivenUp { tid, node } => self.copy_given_up(from, tid, &node),
            ToRouter::CommitFailed { tid, status } => self.commit_failed(ctx, from, tid, status),
            ToRouter::PartitionUp { facility, part, range, active, epoch, priority, nostandby, callout, shadow } => {
                // The priority list orders standbys' claims on their nodes.
                let _ = priority;
                self.partition_up(ctx, facility, (from, part), range, active, epoch, nostandby, callout, shadow);
            }
            ToRouter::PartitionDown { facility, part } => self.partition_down(ctx, &facility, (from, part)),
            ToRouter::Broadcast { facility, evtnum, rcpspc, data, to_servers } => {
                self.broadcast(ctx, from, facility, evtnum, rcpspc, data, to_servers)
            }
            ToRouter::HandOff { facility, tid, part, msgs, reason } => {
                self.hand_off(ctx, from, facility, tid, part, msgs, reason)
            }
            ToRouter::Adopted { tid, part } => self.adopted(ctx, tid, (from, part)),
            ToRouter::Acked { tids } => self.acked(ctx, tids),
            ToRouter::TookOver { node, committed, read, aborted, epoch } => {
                self.took_over(ctx, from, &node, &committed, &aborted, read, epoch)
            }
            ToRouter::JournalLetGo { node, epoch } => self.journal_let_go(ctx, from, &node, epoch),
            ToRouter::Inquire { tid, facility, drive } => self.inquire(ctx, from, tid, facility, drive),
            ToRouter::Inquired { tid, parts, state, applied, held, site } => {
                if let Some(s) = &site {
                    self.sites.insert(ctx.topo.name(from).to_string(), s.clone());
                }
                let mut work = Work { applied, held, site: site.or_else(|| self.site_of(ctx, from)) };
                work.applied.sort_unstable();
                self.inquired(ctx, from, tid, parts, state, work)
            }
            ToRouter::Decided { tid, committed, status, reason, .. } => {
                self.decided(ctx, from, tid, committed, status, reason)
            }
            ToRouter::DrivenElsewhere { tid, part, drive } => match self.txs.get(&tid) {
                Some(tx) if tx.drive <= drive => self.superseded(ctx, from, tid),
                Some(_) => {}
                None => {
                    if !self.commit_superseded(ctx, from, tid) {
                        self.adoption_refused(ctx, tid, (from, part), drive)
                    }
                }
            },
            ToRouter::ShadowLog { facility, part, entries, released } => {
                // A primary series waits while a lower one of the sender's
                // site is held anywhere (docs/shadow.md, "The order across
                // series"): dropped here, sent again by its node after its
                // resend pause, and forwarded once the lower series is
                // released (`ShadowUp::lowest`).
                if let Some(lower) = self.lower_series_held(&facility, (from, part), &entries) {
                    ctx.log(format!(
                        "{facility}: entries of series {} held back until series {lower} of its site is applied at \
                         the other site",
                        entries.first().map_or(0, |e| e.pos.0)
                    ));
                    return;
                }
                if let Some(to) = self.other_site(&facility, (from, part)) {
                    // Who sent each series: its acknowledgement goes back
                    // there (a node no longer active for its site may send
                    // what it kept, beside the site's active partition).
                    let mut series: Vec<u64> = entries.iter().map(|e| e.pos.0).collect();
                    series.push(released.0);
                    series.sort_unstable();
                    series.dedup();
                    for s in series.into_iter().filter(|s| *s > 0) {
                        self.shadow_senders.insert((to, s), (from, part));
                    }
                    ctx.to_backend(to.0, ToBackend::ShadowLog { part: to.1, entries, released });
                }
            }
            ToRouter::ShadowApplied { facility, part, pos } => {
                let known = |k: &PartKey| self.partitions.get(&facility).is_some_and(|v| v.iter().any(|p| p.key == *k));
                let sender = self.shadow_senders.get(&((from, part), pos.0)).copied().filter(known);
                if let Some(to) = sender.or_else(|| self.other_site(&facility, (from, part))) {
                    ctx.to_backend(to.0, ToBackend::ShadowApplied { part: to.1, pos });
                }
            }
        }
    }

    /// The link to the node that read lost node `name`'s journal, if that
    /// node is linked here (its newest link).
    pub(super) fn reader_of(&self, ctx: &Ctx, name: &str) -> Option<NodeRef> {
        ctx.topo.newest_link(self.journals_read.get(name)?)
    }

    /// Remember how `tid` ended here (see `decided`): `drive`, this
    /// router's drive of it when it decided it as that drive's router
    /// (`NO_DRIVE` otherwise).
    pub(super) fn remember(&mut self, ctx: &Ctx, tid: Tid, accepted: bool, status: Status, reason: u32, drive: u32) {
        if ctx.topo.peers.is_empty() {
            return;
        }
        if self.decided.insert(tid, Decision { accepted, status, reason, drive }).is_none() {
            self.decided_order.push_back(tid);
            if self.decided_order.len() > DECIDED_KEPT {
                if let Some(old) = self.decided_order.pop_front() {
                    self.decided.remove(&old);
                    self.replaced.remove(&old);
                }
            }
        }
    }

    /// The drive number a question about `tid` carries: this router's
    /// drive of it while it probes for it, 0 (not a probe) otherwise.
    pub(super) fn probe_drive(&self, tid: Tid) -> u32 {
        self.txs.get(&tid).filter(|tx| tx.probe.is_some()).map_or(0, |tx| tx.drive)
    }

    /// Whether live transaction `tid` has a branch at partition `key`.
    fn has_branch(&self, tid: Tid, key: PartKey) -> bool {
        self.txs.get(&tid).is_some_and(|tx| tx.branches.iter().any(|b| b.part == key))
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
        drive: u32,
    ) {
        let redrive = drive > 0;
        if redrive
            && self.committing.get(&tid).is_some_and(|c| c.drive + 1 < drive && c.durable == 0 && c.adopting == 0)
        {
            // Decided here, durable nowhere yet, and driven again with
            // drives between (they went through another router, which may
            // have decided it otherwise, or committed it afresh). Kept and
            // re-attached, the client waited on a commit that a backend
            // holding the later drive's promise refuses (`CommitFailed`
            // after `DrivenElsewhere`), and heard "rejected" of a
            // transaction the intermediate drive committed (simulator seed
            // 26735, two routers: a disagreement). The commit is dropped
            // with its memory, as a restart would drop it
            // (`commit_superseded`), and the transaction probed afresh: a
            // backend that made this commit durable answers "committed".
            let why = format!("driven again here under drive {drive} after another router's drives (probed afresh)");
            self.drop_unheard_commit(ctx, tid, &why);
            return self.probe(ctx, tid, facility, client, from, timeout_ms, drive);
        }
        if let (true, Some(c)) = (redrive, self.committing.get_mut(&tid)) {
            // Decided here, committed, waiting for its backends:
            // the client hears it over its new link.
            c.fe = from;
            c.client = client;
            c.gone = false;
            c.redriven_here |= drive > c.drive;
            return;
        }
        if let (true, false, Some(&Decision { accepted: true, status, reason, .. })) =
            (redrive, self.txs.contains_key(&tid), self.decided.get(&tid))
        {
            // Committed here already: its outcome, again.
            return ctx.to_frontend(from, ToFrontend::Outcome { tid, client, accepted: true, status, reason });
        }
        if redrive && self.txs.get(&tid).is_some_and(|tx| tx.drive + 1 < drive) {
            // Driven again here, with drives between the one this router
            // holds and this one (a frontend numbers its drives of a
            // transaction one by one): those went through another router,
            // whose probe took branches from this one (a later drive takes
            // a branch from the router of an earlier one). Going on with
            // the copy here, under the new drive number but without asking,
            // left this router waiting for a branch that the other router
            // had rolled back (the backend told it `DrivenElsewhere` for
            // the earlier drive, which it ignored as older than its own:
            // simulator seed 12003, two routers, no outcome). So the copy
            // is dropped and the transaction probed afresh, as through any
            // other router: every backend node hears the new drive, takes
            // back a branch an intermediate drive took, and says what it
            // holds; the frontend re-sends the client's messages, which
            // wait for the answers. The next drive after this router's own
            // (no drive between) keeps the copy: nobody else drove it, and
            // the copy knows its branches (a probe that goes on as new
            // routes the messages afresh by key, and loses a named branch
            // whose range moved meanwhile: seed 12995 with every such
            // re-drive probed).
            self.forsake(tid);
            return self.probe(ctx, tid, facility, client, from, timeout_ms, drive);
        }
        if redrive && !self.txs.contains_key(&tid) {
            return self.probe(ctx, tid, facility, client, from, timeout_ms, drive);
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
            tx.drive = drive;
            // The messages it re-sends next begin with the ones this
            // router has (see `handle`).
            tx.resend_skip = tx.sends;
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
        let redriven = tx.redriven;
        let routed = route(self.partitions.get(&fac), &data);
        let part = match routed {
            Ok(p) => p,
            // No active partition for the key, but a standby serves
            // it: its active one was lost and it is (or will be)
            // taking over. RTR holds new work meanwhile.
            // Driven again after its router was lost, it is held too,
            // standby or not: that router (cut off, not gone) may hold
            // its commit, durable nowhere, and hand it to the range's next
            // active partition, the one place where this drive's work and
            // that commit meet (the backend reconciles them by drive).
            // Rejected here (`NODSTFND`), the client heard "rejected" of a
            // transaction committed there later (simulator seed 11133, two
            // routers: a disagreement). Its timeout, if any, still runs.
            Err(Status::Nodstfnd) if redriven || standby_covers(self.partitions.get(&fac), &data) => {
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
        let (durable, drive) = (spans_nodes(tx), tx.drive);
        for b in tx.branches.iter_mut().filter(|b| b.vote == VoteState::Pending) {
            b.vote = VoteState::Requested;
            ctx.to_backend(b.part.0, ToBackend::VoteRequest { tid, part: b.part.1, durable, drive });
        }
        self.try_prepared(ctx, tid);
    }

    /// The client rejects the transaction, or went away (`gone`).
    fn client_abort(&mut self, ctx: &mut Ctx, tid: Tid, status: Status, reason: u32, gone: bool) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        if gone && tx.probe.is_some() {
            // Its client's node went while the backends are asked:
            // the probe still decides (a commit found stays one, a
            // rollback too; nothing found, it is let go); see `probed`.
            tx.client_gone = true;
            return;
        }
        if gone && tx.client_accepted && tx.branches.is_empty() && tx.redrive.is_empty() {
            // Accepted, but nothing of it routed yet (held while its key
            // range's standby takes over): its frontend drives it again
            // elsewhere, so it is let go here; routed later from here, it
            // had two routers driving it.
            self.txs.remove(&tid);
        } else if gone
            && tx.client_accepted
            && (!tx.redrive.is_empty() || tx.held.as_ref().is_some_and(|h| !h.is_empty()))
        {
            // Work of it still to place: not from here any more.
            tx.client_gone = true;
            self.client_left(ctx, tid);
        } else if gone && tx.client_accepted {
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
    /// A shadow secondary's reply is dropped (docs/shadow.md).
    fn reply(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, data: Bytes) {
        // Counted for the reply checksum in any facility with shadow
        // partitions: a secondary may come up, and its branch be placed,
        // after the primary replied.
        let shadowed = |f: &str| self.partitions.get(f).is_some_and(|v| v.iter().any(|p| p.shadow.is_some()));
        let count = self.txs.get(&tid).is_some_and(|tx| shadowed(&tx.facility));
        if let Some(tx) = self.txs.get_mut(&tid) {
            if count {
                shadow::note_reply(tx, from, &data);
            }
            if !tx.client_gone && !shadow::from_secondary(tx, from) {
                ctx.to_frontend(tx.fe, ToFrontend::Reply { tid, client: tx.client, data });
            }
        }
    }

    /// Branch `key` of `tid` votes.
    fn vote(&mut self, ctx: &mut Ctx, tid: Tid, key: PartKey, accept: bool, reason: u32, durable: bool) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        if tx.given_back.contains(&key) && !tx.branches.iter().any(|b| b.part == key) {
            // The vote of a shadow secondary's branch given back since.
            return;
        }
        if !tx.branches.iter().any(|b| b.part == key) {
            // A branch this router took over (by driving the
            // transaction again, or asking about it) gives its vote
            // again: it is one of this transaction's branches now,
            // and hears its outcome.
            tx.branches.push(Branch::new(key));
        }
        if !accept {
            if let Some(p) = tx.probe.as_mut() {
                // Driven again and still probed: as a branch failure (see
                // `Probe::failed`), a rejection waits for every answer. The
                // branch may be one whose durable yes vote an earlier
                // drive's router committed on before its server died, and
                // whose replacement server voted no (simulator seed 9598,
                // two routers: rejected here on that vote while another
                // node held the commit, a disagreement).
                p.failed.get_or_insert((Status::Rejected, reason));
                return;
            }
            self.abort(ctx, tid, Status::Rejected, reason);
            return;
        }
        if let Some(b) = tx.branches.iter_mut().find(|b| b.part == key) {
            b.vote = VoteState::Accepted;
            b.durable = durable;
        }
        if shadow::replies_differ(tx, key) {
            ctx.log(format!(
                "{tid}: the shadow secondary's replies differ from the primary's: rejected at both sites \
                 (RTR_STS_REPLYDIFF)"
            ));
            self.abort(ctx, tid, Status::Replydiff, 0);
            return;
        }
        // A shadow primary's yes: its secondary's branch now, before the
        // votes are counted (docs/shadow.md).
        self.place_secondaries(ctx, tid);
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        if !durable && tx.client_accepted && spans_nodes(tx) {
            // Asked for before the transaction spanned several nodes (a
            // branch moved to another node since, its vote still owed):
            // the commit waits for a durable vote, so it is asked for
            // again. Nobody asked, and the transaction waited for ever
            // with its servers held (simulator seed 7491, two routers).
            self.request_votes(ctx, tid);
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

    /// Send one message of `tid` to partition `part` and to the call-outs
    /// that see it: the router call-outs of this node and the backend
    /// call-outs of the partition's node; each is a branch that votes. A
    /// message driven again after its backend node was lost (`redrive`)
    /// goes to the new node's backend call-outs only (this node's router
    /// call-outs saw it already).
    fn route_message(&mut self, ctx: &mut Ctx, tid: Tid, part: PartKey, data: &Bytes, fl: u32, redrive: bool) {
        let Some(facility) = self.txs.get(&tid).map(|tx| tx.facility.clone()) else { return };
        let shadowed = self.shadow_pair(&facility, part);
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        tx.shadowed |= shadowed;
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

    /// Peer node `node` is gone. Its partitions leave this router (through
    /// the queue, so the node raises the key range events); undecided
    /// transactions with a branch there are rejected; transactions of its
    /// clients finish as if those clients had gone away.
    pub fn peer_lost(&mut self, ctx: &mut Ctx, node: NodeRef, name: &str) {
        // A reader of lost nodes' journals that goes before it answered a
        // probe or an inquiry leaves those journals unanswered: they are
        // waited for again (asked where their node is linked), as after
        // the reader's restart. Only the reader itself was waited for, and
        // a probe ended on the answers of others while the journal it had
        // read (its owner down) held the commit (simulator seed 17005, one
        // router, with promises written into read journals: the re-placed
        // work of the in-doubt range was rolled back beside that commit).
        let read_by: Vec<String> =
            self.journals_read.iter().filter(|(_, r)| r.as_str() == name).map(|(n, _)| n.clone()).collect();
        self.readers_answer_no_more(ctx, node, &read_by);
        self.relinked.remove(&node);
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
        // A lost backend cannot answer: a probe or an inquiry asks whoever
        // read its journal, if that node is linked (the journal was read
        // after the lost node could no longer write), or else waits for it
        // to link again or for a `TookOver` (simulator seeds 5030, 5133:
        // the reader was known, and still they waited for ever).
        let reader = self.reader_of(ctx, name).filter(|r| *r != node);
        let mut asks: Vec<(Tid, String)> = Vec::new();
        for tid in probing {
            let Some(tx) = self.txs.get_mut(&tid) else { continue };
            let Some(p) = tx.probe.as_mut() else { continue };
            p.waiting.retain(|n| *n != node);
            p.asked.retain(|n| *n != node);
            match reader {
                Some(r) => {
                    if !p.waiting.contains(&r) {
                        p.waiting.push(r);
                    }
                    if !p.asked.contains(&r) {
                        p.asked.push(r);
                    }
                    asks.push((tid, tx.facility.clone()));
                }
                None => p.missing.push(name.to_string()),
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
            // Branches this router holds no message of: taken over from
            // another router with their (durable) vote, by a probe. Their
            // work is in doubt in the lost node's journal, whoever reads it
            // asks, and hears this transaction's outcome; nothing here to
            // drive again, and no reason to reject (simulator seeds 5475,
            // 5664, 5826: rejected after another backend had committed).
            let mut in_doubt = false;
            // A shadow secondary's branch there is dropped (never placed
            // again by key); a secondary's branch of a primary branch there
            // is given back, as the primary's work follows the range to its
            // next primary (docs/shadow.md).
            let mut dropped_secondary = false;
            let primaries_lost: Vec<PartKey> =
                tx.branches.iter().filter(|b| b.part.0 == node && b.secondary_of.is_none()).map(|b| b.part).collect();
            let drive = tx.drive;
            // What that node replied can no longer be weighed against its
            // partner's (a branch of it moves or goes): no reply checksum.
            tx.replies_partial = true;
            let mut given_back: Vec<PartKey> = Vec::new();
            tx.branches.retain(|b| {
                let Some(of) = b.secondary_of else { return true };
                if b.part.0 == node {
                    dropped_secondary = true;
                    return false;
                }
                if primaries_lost.contains(&of) {
                    ctx.to_backend(b.part.0, ToBackend::GiveBack { tid, part: b.part.1, drive });
                    given_back.push(b.part);
                    return false;
                }
                true
            });
            tx.given_back.append(&mut given_back);
            tx.branches.retain_mut(|b| {
                if b.part.0 != node {
                    return true;
                }
                let callout =
                    parts.and_then(|v| v.iter().find(|p| p.key == b.part)).is_some_and(|p| p.callout != Callout::No);
                if !callout {
                    in_doubt |= b.msgs.is_empty();
                    lost.append(&mut b.msgs);
                }
                false
            });
            if !lost.is_empty() && !in_doubt {
                let r = self.replaced.entry(tid).or_insert(Replaced { drive: tx.drive, nodes: Vec::new() });
                r.drive = r.drive.max(tx.drive);
                if !r.nodes.iter().any(|n| n == name) {
                    r.nodes.push(name.to_string());
                }
            }
            if lost.is_empty() && in_doubt {
                // The rest of the transaction may be complete now (the
                // lost branch was the last vote asked for: simulator seed
                // 10332, one router, waited for ever for a durable vote the
                // fenced node could not give).
                self.try_prepared(ctx, tid);
                self.try_commit(ctx, tid);
                continue;
            }
            if lost.is_empty() && dropped_secondary {
                // Only a shadow secondary there: the transaction goes on at
                // its primary, and may be complete now.
                self.try_prepared(ctx, tid);
                self.try_commit(ctx, tid);
                continue;
            }
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
        // The node may be linked again already (its new link came up
        // before this one went): what was just placed again is given back
        // there (`give_back_replaced`), as at a link that comes up later.
        // (Where commits wait on the node, `backend_linked` below gives it
        // back again over that link: the node's second give-back finds
        // nothing left.)
        let newer: Option<NodeRef> = ctx
            .topo
            .peers
            .iter()
            .filter(|(r, p)| p.name == name && **r != node && ctx.topo.is_up(**r))
            .map(|(r, _)| *r)
            .max();
        if let Some(newer) = newer {
            self.give_back_replaced(ctx, newer);
        }
        let theirs: Vec<Tid> = self.txs.iter().filter(|(_, tx)| tx.fe == node).map(|(t, _)| *t).collect();
        for tid in theirs {
            self.handle_msg(ctx, node, ToRouter::ClientAbort { tid, status: Status::Reqdied, reason: 0, gone: true });
        }
        for c in self.committing.values_mut().filter(|c| c.fe == node) {
            c.gone = true;
        }
        // An inquiry waits for the lost backend to link again (or for its
        // journal to be read by someone), as it may hold the commit.
        for (tid, q) in self.inquiries.iter_mut() {
            if q.waiting.contains(&node) {
                q.waiting.retain(|n| *n != node);
                match reader {
                    Some(r) => {
                        q.ask_late(r);
                        asks.push((*tid, q.facility.clone()));
                    }
                    None => q.missing.push(name.to_string()),
                }
            }
        }
        if let Some(r) = reader {
            asks.sort();
            asks.dedup();
            for (tid, facility) in asks {
                let drive = self.probe_drive(tid);
                ctx.to_backend(r, ToBackend::Inquire { tid, facility, drive, binds: 0 });
            }
        }
        // A commit waiting for the lost backend stays pending: that backend
        // may have made it durable before it went; whoever recovers its
        // journal (a standby, or itself restarting) reports it.
        if self.committing.values().any(|c| c.pending.contains(&node)) {
            self.lost.insert(node, name.to_string());
            // The node may be linked again already: the acceptor of its new
            // connection brings that link up before the old one down. Its
            // commits move to the new link now (they waited for ever,
            // keyed by the old one: simulator seed 4 once the simulated
            // links ran the real link session).
            if let Some(newer) = newer {
                self.backend_linked(ctx, newer, name);
            } else if let Some(reader) = reader.filter(|r| ctx.topo.name(*r) != name) {
                // Its journal was read already (the reader's `TookOver` came
                // while this link still looked up), and these commits were
                // decided after that: none is in the journal read, and no
                // report of it is still to come. They are settled with the
                // reader now, as that report would have (a durable vote is in
                // doubt there: it hears the commit; the rest goes to a
                // keeper). They waited for ever for a second report
                // (simulator seed 10283, two routers: no outcome, two of
                // three ranges never applied).
                let epoch = self.journal_epochs.get(name).copied().unwrap_or(0);
                self.took_over(ctx, reader, name, &[], &[], true, epoch);
            }
        }
        let mut down_facilities: Vec<String> = Vec::new();
        for (facility, part) in downs {
            if let Some(gone) = self.remove_partition(&facility, (node, part)) {
                self.holder_lost(ctx, &facility, &gone);
            }
            if !down_facilities.contains(&facility) {
                down_facilities.push(facility);
            }
        }
        // A shadow primary whose secondary was on the lost node hears that
        // it is alone (SRSHADOWLOST, remember mode), as when the secondary's
        // partition goes down on a live node (`partition_down`). It did not:
        // its state said `primary` for good (found by the PRI_DONE test).
        down_facilities.sort();
        for facility in &down_facilities {
            self.shadow_partners(ctx, facility);
        }
        // Hand-offs: those from the lost node go (it sends them again when
        // it links again), but not this router's own (made from the lost
        // node's branches); those sent to it wait for the next active one.
        self.handoffs.retain(|h| h.coordinator || h.origin != node);
        let mut rerouted: Vec<String> = Vec::new();
        for h in self.handoffs.iter_mut().filter(|h| h.to.is_some_and(|k| k.0 == node)) {
            h.to = None;
            if !rerouted.contains(&h.facility) {
                rerouted.push(h.facility.clone());
            }
        }
        // At once where the range has an active partition already (one
        // that went active before this link went: the hand-off had been
        // sent to the lost node while it still looked active, simulator
        // seed 8286); otherwise when one does.
        rerouted.sort();
        for f in rerouted {
            self.route_handoffs(ctx, &f);
        }
        let facilities: Vec<String> = self.held.keys().cloned().collect();
        for f in facilities {
            self.release_held(ctx, &f);
        }
    }

    /// Drop this router's copy of undecided `tid` with no outcome to
    /// anyone (its frontend drives it again: see `start`): its branches
    /// stay at their backends, owned by this router until a probe (this
    /// router's next, or another's) takes them; it is no longer held for
    /// a key range (a probe's messages must not be released by that).
    fn forsake(&mut self, tid: Tid) {
        let Some(tx) = self.txs.remove(&tid) else { return };
        if let Some(held) = self.held.get_mut(&tx.facility) {
            held.retain(|t| *t != tid);
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
            inquirers: Vec::new(),
            redriven: false,
            drive: 0,
            sends: 0,
            resend_skip: 0,
            shadowed: false,
            dropped_secondary_of: Vec::new(),
            given_back: Vec::new(),
            replies: Vec::new(),
            replies_partial: false,
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
        // Shadow primaries that voted before the accept: their secondaries
        // get the work now that no message follows.
        self.place_secondaries(ctx, tid);
        self.try_commit(ctx, tid);
    }

    /// Ask every branch of `tid` that has not voted for its vote. A
    /// transaction over several backend nodes commits only on durable
    /// votes: votes given early (before the accept, or before a branch on
    /// another node was added) are asked for again.
    fn request_votes(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        let (durable, drive) = (spans_nodes(tx), tx.drive);
        for b in tx.branches.iter_mut() {
            match b.vote {
                VoteState::Pending => {
                    b.vote = VoteState::Requested;
                    ctx.to_backend(b.part.0, ToBackend::VoteRequest { tid, part: b.part.1, durable, drive });
                }
                VoteState::Accepted if durable && !b.durable => {
                    ctx.to_backend(b.part.0, ToBackend::VoteRequest { tid, part: b.part.1, durable, drive });
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
            tx.given_back.retain(|k| *k != target);
            tx.branches.push(Branch::new(target));
            tx.branches.len() - 1
        }
    };
    let b = &mut tx.branches[i];
    let index = b.sent;
    b.sent += 1;
    b.msgs.push((data.clone(), fl));
    let drive = tx.drive;
    ctx.to_backend(
        target.0,
        ToBackend::Msg { tid, part: target.1, index, data: data.clone(), first, flags: fl, drive },
    );
}

/// May an in-doubt copy of the transaction held at backend node `asker`
/// be one of `branches` (the transaction's live branches here)? Yes when
/// one is at a node whose journal `asker` read (`journals_read`: lost node
/// -> reader, by name), or at an earlier link of `asker` itself (its own
/// journal, read at its restart before this router saw that link go). Such
/// a copy may hold the vote of a branch this drive commits on (placed by
/// it, or named by its probe's answers): it hears the outcome as before,
/// and is not given back as work placed again (`IN_DOUBT_COPIES`). A
/// branch the router dropped when its node's link went is no such case:
/// its messages are placed again.
/// (Simulator seed 44323, one router, with copies given back on every
/// question: the reader of a fenced node's journal gave back the copy of
/// the branch this drive had placed there, the router committed on that
/// branch's vote, and the range never applied it.)
fn copy_may_be_a_branch(journals_read: &Map<String, String>, ctx: &Ctx, branches: &[Branch], asker: NodeRef) -> bool {
    let name = ctx.topo.name(asker);
    branches.iter().any(|b| {
        let at = ctx.topo.name(b.part.0);
        journals_read.get(at).is_some_and(|r| r == name) || (at == name && b.part.0 != asker)
    })
}

impl Router {
    /// Backend `link` is linked (again, or a newer link of a node whose
    /// old one went): the work of its earlier link that this router placed
    /// again (`replaced`) is given back at once, not when the node asks. An
    /// orphaned branch asks only after its grace (5 s) and only while a
    /// router is linked: a router killed meanwhile forgot `replaced`, and,
    /// started again, heard "committed" from the node the work was placed
    /// on and told the orphan so (simulator, no shared storage, seeds 2165,
    /// 2224, 2991: applied twice). The same conditions as an asker's
    /// (`copy_replaced`).
    pub(super) fn give_back_replaced(&mut self, ctx: &mut Ctx, link: NodeRef) {
        let name = ctx.topo.name(link).to_string();
        let mut tids: Vec<Tid> =
            self.replaced.iter().filter(|(_, r)| r.nodes.contains(&name)).map(|(t, _)| *t).collect();
        tids.sort();
        for tid in tids {
            // Rolled back here: nothing of it can be applied twice, and the
            // node hears the rejection itself when it asks.
            if matches!(self.decided.get(&tid), Some(&Decision { accepted: false, .. })) {
                continue;
            }
            if self.copy_replaced(ctx, tid, link) {
                let drive = self.replaced_drive(tid);
                ctx.to_backend(link, ToBackend::GiveBack { tid, part: crate::node::OWN_REPLACED_WORK, drive });
            }
        }
    }

    /// The drive a give-back of replaced work names: the one under which
    /// this router placed the work again. A node that has seen a later
    /// drive since (another router's probe took the branch over) does not
    /// take it (`Backend::driven_later`): that drive decides. Named by the
    /// transaction's decided entry instead (`NO_DRIVE` for a commit), a
    /// give-back at the link's return undid a branch a later drive had
    /// committed (simulator seed 33281, two routers: partial).
    pub(super) fn replaced_drive(&self, tid: Tid) -> u32 {
        self.replaced.get(&tid).map_or(crate::node::NO_DRIVE, |r| r.drive)
    }

    /// Is the asker's own work of `tid` from before this router lost it
    /// (its orphaned branches, its own journal's in-doubt copy) work this
    /// router placed again (`replaced`)? Copies of journals the asker read
    /// are not touched by the give-back (`OWN_REPLACED_WORK`). Not when the
    /// transaction has a branch at a node of the asker's name (under
    /// another link: its earlier life, whose copy is the branch; under its
    /// own: work placed again on it, which joined its copy), nor when a
    /// commit of it has anything there (a branch, a `Durable` owed, a
    /// stand-in: a later life's durable vote may be the copy; it is the
    /// commit's, and the node must apply it).
    /// Conservative: in those cases the asker hears the outcome as before.
    pub(super) fn copy_replaced(&self, ctx: &Ctx, tid: Tid, asker: NodeRef) -> bool {
        let name = ctx.topo.name(asker);
        if !self.replaced.get(&tid).is_some_and(|r| r.nodes.iter().any(|n| n == name)) {
            return false;
        }
        if let Some(tx) = self.txs.get(&tid) {
            // Any branch at a node of the asker's name, its current link
            // included: work placed again on the node itself joins the
            // copy its journal holds of the same range (`Backend::msg`
            // replaces that range's messages in it), so the copy may be the
            // branch now (simulator seed 33281, two routers: given back
            // with it, the work placed again was committed nowhere).
            if copy_may_be_a_branch(&self.journals_read, ctx, &tx.branches, asker)
                || tx.branches.iter().any(|b| ctx.topo.name(b.part.0) == name)
            {
                return false;
            }
        }
        if let Some(c) = self.committing.get(&tid) {
            // A commit that has, or waits on, anything at a node of that
            // name: a branch, a `Durable` still owed, an in-doubt copy
            // stood in for. Work placed on the node again after its loss
            // may have been committed there and lost again with it (its
            // branch then left `branches` for a stand-in): that copy is the
            // commit's (simulator seed 33281, two routers: given back, the
            // client heard "rejected" while the other range applied it).
            let at = |r: &NodeRef| ctx.topo.name(*r) == name;
            if c.branches.iter().any(|b| at(&b.node))
                || c.pending.iter().any(at)
                || c.stand_ins.iter().any(|s| s.node == name || at(&s.reader))
            {
                return false;
            }
        }
        true
    }
}

/// How a transaction ended at this router (`Router::decided`).
#[derive(Clone, Copy)]
pub(super) struct Decision {
    pub(super) accepted: bool,
    pub(super) status: Status,
    pub(super) reason: u32,
    /// This router's drive of it when it decided it as that drive's router
    /// (`NO_DRIVE`: found by asking).
    pub(super) drive: u32,
}

/// What a backend's answer said of its work of a transaction
/// (`ToRouter::Inquired::applied`, `held`): the prints of the messages it
/// applied, and of those it holds undecided, by branch.
#[derive(Default)]
pub(super) struct Work {
    pub(super) applied: Vec<u64>,
    pub(super) held: Vec<(super::PartId, u64)>,
    /// The answering node's site, when it serves shadowed ranges (taken
    /// when the answer came: its link may be gone by the time the answers
    /// are weighed).
    pub(super) site: Option<String>,
}

/// Work held undecided at one node that another node applied: a router
/// placed it again there after losing this node, and it must never apply
/// here too (`docs/replaced-work.md`). A key range has one active
/// partition at a time, and each message of a transaction belongs to one
/// range, so a message applied anywhere is that range's work done; a copy
/// of it elsewhere is a leftover, whoever placed it and whenever. Only
/// another node's applied work counts (by name: a node's own answer may
/// apply one branch and hold the copy its journal keeps of it). Returns the
/// (node, branch) pairs to give back, `OWN_REPLACED_WORK` for a node's own
/// journal's copy, sorted.
///
/// A shadowed transaction's work is applied at both sites by design
/// (docs/shadow.md): a node of the other site (`Work::site`) that applied
/// it says nothing of work placed again.
pub(super) fn replaced_elsewhere(
    ctx: &Ctx,
    sites: &Map<String, String>,
    answers: &[(NodeRef, &Work)],
) -> Vec<(NodeRef, super::PartId)> {
    // A site unknown when the answer came may be known by now (the node's
    // shadow partitions came up since: simulator `--shadow --seed 438
    // --routers 2`, the applier restarted and answered before they did).
    let site = |n: NodeRef, w: &Work| w.site.clone().or_else(|| sites.get(ctx.topo.name(n)).cloned());
    let mut give = Vec::new();
    for (node, w) in answers {
        let name = ctx.topo.name(*node);
        let mine = site(*node, w);
        for (part, print) in &w.held {
            let applied_elsewhere = answers.iter().any(|(n, o)| {
                let other_site = matches!((&mine, site(*n, o)), (Some(a), Some(b)) if *a != b);
                ctx.topo.name(*n) != name && !other_site && o.applied.binary_search(print).is_ok()
            });
            if applied_elsewhere && !give.contains(&(*node, *part)) {
                give.push((*node, *part));
            }
        }
    }
    give.sort();
    give
}

impl Router {
    /// The site of backend node `node` (docs/shadow.md), as its shadow
    /// partitions last announced it (a node's site is the same for all of
    /// them), even when they are down now (`Router::sites`); `None` for a
    /// node that never announced a shadow partition here.
    pub(super) fn site_of(&self, ctx: &Ctx, node: NodeRef) -> Option<String> {
        self.sites.get(ctx.topo.name(node)).cloned()
    }
}

fn log_replaced_elsewhere(ctx: &mut Ctx, tid: Tid, node: NodeRef, part: super::PartId) {
    let what = if part == super::OWN_REPLACED_WORK {
        "its own journal's in-doubt copy".to_string()
    } else {
        format!("its branch on partition {part}")
    };
    ctx.log(format!(
        "{tid}: {} holds work of it undecided ({what}) that another node applied: given back, not committed",
        ctx.topo.name(node)
    ));
}

/// Whose branches of a transaction a router placed again after losing
/// them (`Router::replaced`), and under which of its drives.
pub(super) struct Replaced {
    pub(super) drive: u32,
    pub(super) nodes: Vec<String>,
}

/// Does the transaction have branches on more than one backend node?
/// (Or will: routed to a shadow primary whose secondary is up.)
fn spans_nodes(tx: &Tx) -> bool {
    tx.shadowed || tx.branches.first().is_some_and(|f| tx.branches.iter().any(|b| b.part.0 != f.part.0))
}

/// Does a partition that is not active (a standby, or one being promoted)
/// serve the message's key?
///
/// A shadowed range whose active partitions have no primary yet (their
/// primary claims are out) counts too: its transactions wait for it.
fn standby_covers(parts: Option<&Vec<RPart>>, data: &[u8]) -> bool {
    parts.is_some_and(|v| {
        v.iter().any(|p| {
            (!p.active || (p.shadow.is_some() && p.primary() == 0))
                && p.callout == Callout::No
                && p.range.contains(data) == Ok(true)
        })
    })
}

/// The partition whose key range holds the message's key.
fn route(parts: Option<&Vec<RPart>>, data: &[u8]) -> Result<PartKey, Status> {
    let Some(parts) = parts else {
        return Err(Status::Nodstfnd);
    };
    // A shadowed range's transactions go to its primary: the active
    // partition with the newest primary grant (docs/shadow.md).
    let mut primary: Option<&RPart> = None;
    for p in parts.iter().filter(|p| p.active && p.callout == Callout::No) {
        match p.range.contains(data) {
            Ok(true) if p.shadow.is_none() => return Ok(p.key),
            Ok(true) => {
                if p.primary() > primary.map_or(0, RPart::primary) {
                    primary = Some(p);
                }
            }
            Ok(false) => {}
            Err(KeyError::MessageTooShort { .. }) => return Err(Status::Keymsgshort),
            Err(_) => return Err(Status::Internal),
        }
    }
    primary.map(|p| p.key).ok_or(Status::Nodstfnd)
}
