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
//! which frees its journal space. A node with peers writes `Applied` there
//! instead and `Done` only when the router says nobody will ask about the
//! transaction again (`ToBackend::Forget`): until then the journal, not
//! only memory, answers for the commit (docs/outcomes.md). After a crash, every committed transaction
//! without `Done` is presented again to the servers of its partitions
//! (uncertain, then `rtr_mt_accepted`), in commit order; an undecided one is
//! aborted.
//!
//! Files, one per sub-state: `dispatch.rs` (server channels and the
//! presentation of branches), `branches.rs` (a branch, its messages, vote
//! and owner), `commit.rs` (outcomes, and what a commit waits for before its
//! `Done`), `recovery.rs` (journals read at start-up or taken over, and
//! in-doubt transactions), `decided.rs` (what became of decided
//! transactions), `roles.rs` (a partition's role in its key range).

use std::collections::VecDeque;

use super::Map;
use std::time::{Duration, Instant};

mod bound;
mod branches;
mod commit;
mod decided;
mod dispatch;
mod promise;
mod recovery;
mod shadow;
mod shadow_log;
pub use shadow::FailoverPolicy;
pub(crate) use shadow::{Side, PRIMARY_RECORD};
pub(super) mod roles;

use branches::{Branch, Claim, VoteSync};
#[cfg(test)]
pub(crate) use commit::COMMIT_RETRY;
use commit::{Committing, Finishing};
use decided::Decided;
use recovery::{InDoubt, RecoveredTx, Resolving};

pub use roles::RecoveryPolicy;
#[cfg(test)]
pub(crate) use roles::CLAIM_RETRY;

use super::{
    Callout, ChanRef, Ctx, NodeRef, PartId, ToBackend, ToRouter, IN_DOUBT_COPIES, LOCAL, NO_DRIVE, OWN_REPLACED_WORK,
};
use crate::facility::RoleList;
use crate::keyseg::{KeyLayout, KeyRange};
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::TxRecord;

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
    /// The range's grant as this partition knows it (`roles.rs`): for a
    /// shadow partition, its site slot's.
    pub(super) grant: roles::RoleState,
    /// Opened with `RTR_F_OPE_SHADOW`: its pair role (`shadow.rs`).
    pub(super) shadow: Option<shadow::ShadowRole>,
}

impl Partition {
    /// How logs name a partition: facility, id on this node, and its key
    /// range's name in the role authority.
    pub(super) fn label(&self, part: PartId) -> String {
        format!("{}:{part} ({})", self.facility, self.grant.rid)
    }

    /// Whether this partition holds (or is taking up) its range's grant:
    /// active, or recovering a lost holder's journal first. A standby or a
    /// partition still claiming does not, and presents no work.
    pub(super) fn holds_grant(&self) -> bool {
        matches!(
            self.role,
            PartRole::Active | PartRole::Recovering(_) | PartRole::NoJournal(..) | PartRole::Unfenced { .. }
        )
    }

    /// `site`: a shadow partition's site (`shadow.rs`).
    fn new(
        facility: String,
        range: KeyRange,
        noconcurrent: bool,
        nostandby: bool,
        callout: Callout,
        site: Option<&str>,
        policy: shadow::FailoverPolicy,
    ) -> Partition {
        let range_id = crate::authority::range_id(&facility, &range);
        let shadow = site.map(|site| shadow::ShadowRole::new(&range_id, site, policy));
        let rid = match site {
            Some(site) => shadow::ShadowRole::slot_rid(&range_id, site),
            None => range_id,
        };
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
            shadow,
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
    /// Becoming active without lost node `node`'s journal (an operator's
    /// `--ignore-recovery`, or the *unrecognized* policy), as soon as the
    /// authority says that node no longer holds its grant `grant` (its lock
    /// or lease is gone). Nothing fenced it: a frozen or cut-off holder
    /// would still count itself active until it learns of the newer grant,
    /// so going active at once made two actives for the range (the
    /// simulator's seed 17876). `ignored`: the operator decided; the
    /// routers then hear that nothing of that journal was found.
    Unfenced { node: String, grant: u64, ignored: bool },
}

/// How long a branch whose router was lost waits for another router to
/// take it over (the client's frontend drives it again at once when it is
/// alive). After that an unvoted branch is rolled back; a voted one stays
/// in doubt until a router brings its outcome.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(5);

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
    /// Recovered from a journal (set aside before a restart; `part` is 0):
    /// the journal's id here (0: this node's own), and the messages and
    /// commit reason an operator's retry presents.
    pub recovered: Option<(u32, Vec<crate::protocol::Bytes>, u32)>,
}

impl Exception {
    /// Set aside before the crash (the journal knows no partition: 0), in
    /// journal `jid` (0: this node's own).
    fn recovered(jid: u32, t: crate::txrecord::SetAsideTx) -> Exception {
        Exception {
            tid: t.tid,
            facility: t.facility,
            part: 0,
            committed: true,
            undecided: false,
            strikes: t.strikes,
            recovered: Some((jid, t.msgs, t.reason)),
        }
    }
}

#[derive(Default)]
struct Facility {
    layout: Option<KeyLayout>,
    parts: Vec<PartId>,
}

/// A server role event (`RTR_EVTNUM_SRPRIMARY`, `SRSTANDBY`, ...) for the
/// node to raise on a server channel of `facility`.
pub(super) struct RoleEvent {
    pub(super) facility: String,
    pub(super) evtnum: i32,
    pub(super) chan: ChanRef,
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
    /// Commit records on their way to disk, by journal token.
    committing: Map<u64, Committing>,
    /// The token of each transaction in `committing`.
    committing_tx: Map<Tid, u64>,
    /// Commits whose record a full journal refused after a durable vote
    /// (their tokens in `committing`): written again at `commit_retry_at`.
    commit_retry: Vec<u64>,
    commit_retry_at: Option<Instant>,
    /// Recently decided transactions, oldest first in `decided_order`.
    decided: Map<Tid, Decided>,
    decided_order: VecDeque<Tid>,
    /// The work this node applied of a remembered commit (prints of its
    /// messages, `txrecord::work_print`), kept and forgotten with its
    /// `decided` entry: an answer "committed" names it, so that a router
    /// resolving the transaction gives back a copy of the same work another
    /// node holds in doubt, placed there before its router placed it again
    /// here (`docs/replaced-work.md`). None: the work is not known (a
    /// commit restated by `Carried`, or past the bound).
    applied_prints: Map<Tid, Vec<u64>>,
    /// The latest drive seen of transactions that frontends drove again
    /// (`ToRouter::Start::drive`, from probes and messages); oldest first
    /// in `drives_order`, bounded like `decided`. No branch of one is
    /// started here, and no probe for it answered, for an earlier drive: a
    /// router its frontend left (cut off, or slow to notice the frontend's
    /// link go) may still hold the client's messages, or still be probing,
    /// and work it placed afresh where nothing is known of the tid would be
    /// applied a second time beside the later drive's commit (simulator
    /// seeds 9061 and 9221, two routers). In memory; where the node holds
    /// durable state of the tid the drive is journaled too (`promised`,
    /// `promise.rs`), so a restart or a takeover keeps refusing earlier
    /// drives of it (docs/outcomes.md).
    drives: Map<Tid, u32>,
    drives_order: VecDeque<Tid>,
    /// The latest drive of each transaction whose promise is durable here,
    /// and the journals it is in (`promise.rs`; bounded with `drives`): a
    /// journal this node answers for since (one it took over after it
    /// promised) gets the promise too before it is answered for.
    promised: Map<Tid, promise::Promised>,
    /// Later drives' requests waiting for their promise's journal writes,
    /// by tid, and those writes' tokens.
    promising: Map<Tid, promise::Promising>,
    promise_tokens: Map<u64, promise::PromiseWrite>,
    /// Transactions this node answered an inquiry about "unknown", and the
    /// drive up to which it starts no branch of them (`bound.rs`).
    bound: bound::Bindings,
    /// This node's site (`set_site`; `None`: its own name).
    site: Option<String>,
    /// The failover policy new shadow partitions take (`set_failover_policy`).
    failover_policy: shadow::FailoverPolicy,
    /// Promises carried into a journal just taken over (`carry_promises`),
    /// by token.
    carried: Map<u64, promise::CarriedPromises>,
    /// Routers (by name) whose answer about an in-doubt copy named an
    /// earlier drive than one seen here: not asked about it again while
    /// another router can be.
    stale_answers: Map<Tid, Vec<String>>,
    /// When the earliest orphaned branch's grace ends.
    orphan_deadline: Option<Instant>,
    pub(super) finishing: Map<Tid, Finishing>,
    /// Recovered committed transactions per facility, in commit order.
    recovered: Map<String, Vec<RecoveredTx>>,
    /// Transactions set aside by the retry limit.
    pub(crate) exceptions: Vec<Exception>,
    /// Server role events for the node to raise.
    pub(super) role_events: Vec<RoleEvent>,
    /// Journals taken over from lost nodes: node name -> journal id.
    pub(super) adopted: Map<String, u32>,
    /// Lost nodes' journals this node took over and let go since (node
    /// name -> the owner epoch it read them at): told to each router that
    /// links (`JournalLetGo`), as a router cut off when one was let go
    /// still takes this node's answers for that node's. Dropped when the
    /// journal is taken over here again.
    let_go: Map<String, u64>,
    /// Per taken-over journal: every commit it holds (read at takeover,
    /// and written into it since, in-doubt ones resolved here), told again
    /// to each router that links while this node holds it.
    read_committed: Map<u32, Vec<Tid>>,
    next_jid: u32,
    /// Recovered transactions that belong to a taken-over journal (their
    /// Done record goes there), and how many each such journal still has.
    /// A tid may belong to several (in doubt in two lost nodes' journals,
    /// both read here).
    adopted_tx: Map<Tid, Vec<u32>>,
    adopted_open: Map<u32, usize>,
    /// Durable votes being synced, by journal token.
    vote_tokens: Map<u64, VoteSync>,
    /// A router's rejections whose kept record (`KeptAbort`) is being
    /// synced: their branches' servers hear "rejected" once it is durable
    /// (`rejection_written`), by token.
    rejecting: Map<u64, commit::Rejecting>,
    /// Transactions recovered from a journal with a durable vote and no
    /// outcome: their router decides (asked by inquiry). One copy per
    /// journal read here that holds the tid in doubt (never an empty list):
    /// two lost nodes' journals may each hold a share of one transaction
    /// (simulator seed 10283: kept per tid, the second copy replaced the
    /// first, whose share was never applied).
    in_doubt: Map<Tid, Vec<InDoubt>>,
    /// Commit records of in-doubt transactions being made durable.
    resolving: Map<u64, Resolving>,
    /// Remember decided tids (set while the node has peers).
    pub(super) keep_decided: bool,
    /// Commits of this node's own journal applied by every server
    /// (`Applied` written) that stay answerable until a router forgets them
    /// (`Done` then).
    pub(super) answerable: super::Set<Tid>,
    /// Commits a router forgot before their servers finished applying
    /// them: `Done` follows the acknowledgements directly.
    pub(super) forget_early: super::Set<Tid>,
    /// Committed work handed off to the range's next active partition
    /// (`roles.rs`), by (tid, partition it was on), until it is durable there.
    handing_off: Map<(Tid, PartId), roles::HandingOff>,
    /// What to do when a lost holder's journal cannot be taken over.
    pub(super) policy: roles::RecoveryPolicy,
    /// Handed-off work being made durable here: token -> unit.
    adopting: Map<u64, roles::Adopting>,
    /// Rejections by a router kept answerable in the journal (`KeptAbort`)
    /// until that router forgets them: only with peers (docs/outcomes.md).
    pub(super) answerable_aborts: super::Set<Tid>,
    /// When the answerable transactions were last carried forward
    /// (`carry_forward`): once per `CARRY_AGAIN` at most.
    pub(super) carried_at: Option<Instant>,
    /// Handed-off work a full journal refused: written again at
    /// `commit_retry_at`.
    adopt_retry: Vec<roles::Adopting>,
    /// Handed-off work of a transaction whose commit record is being
    /// written here: written once that commit is settled
    /// (`adopt_after_commit`), so the hand-off's numbers for the other
    /// site are given after the commit's, never beside them.
    adopt_after: Map<Tid, Vec<roles::Adopting>>,
    /// Every transaction with a commit record in this node's journal at
    /// start-up: routers that waited for these commits when the node went
    /// away learn them when they link again.
    restart_committed: Vec<Tid>,
    /// The node started on an existing journal (`recover`).
    restarted: bool,
    /// Routers (by name) told of `restart_committed`.
    restart_told: super::Set<String>,
    /// The owner epoch this node's open of its own journal claimed, and
    /// the one each takeover of a lost node's journal claimed (by journal
    /// id): sent in `TookOver`, they let a router order announcements of
    /// one journal by different holders.
    own_epoch: u64,
    read_epochs: Map<u32, u64>,
    /// Per journal read here (by journal id): for each key range (its
    /// authority name), the newest grant of it known here when the
    /// journal was read (`takeover_done`). The read fenced the life of the
    /// journal's node that held those grants, and only that life: the
    /// node may start again on the journal once this node no longer holds
    /// it (another reader took it from this one, which hears of that only
    /// at its next write there, and let it go), and a grant that life wins
    /// is newer than any recorded here. `Backend::granted` goes active
    /// over the node's grant without a takeover only when the read fences
    /// it (simulator seed 50514, one router: a read journal held in name
    /// only, its node active again under a newer grant, and this node went
    /// active beside it).
    read_fences: Map<u32, Map<String, u64>>,
    /// Tids whose in-doubt copy this node dropped with a read journal it
    /// gave up (`taken_over_lost`, or a commit write that failed there),
    /// with the lost nodes whose journals they came from: not "unknown
    /// here" (the journal's next holder has the copy), and a router that
    /// waits on this node as their stand-in hears so before this node's
    /// `Durable` (`say_durable`); forgotten when a router forgets the tid.
    given_up_copies: Map<Tid, Vec<String>>,
    /// Routers that told this node a commit of `tid` while an in-doubt
    /// copy's commit was still being written (`copies_resolving`): their
    /// `Durable` is held back until the copy's is durable, and then said
    /// to each of them, not only to the router that decided the copy
    /// (simulator seed 22813, two routers: the branch's router never heard
    /// `Durable`, and its client never heard the outcome).
    durable_owed: Map<Tid, Vec<NodeRef>>,
    /// Shadow logs (`shadow_log.rs`), by the range's primary record name:
    /// the commits this node keeps for the other site ...
    shadow_logs: Map<String, shadow_log::ShadowLog>,
    /// ... and where it stands in the other site's log.
    follows: Map<shadow_log::FollowKey, shadow_log::Follow>,
    /// A router's word that the secondary took part in `tid`'s commit,
    /// until the commit is written (`ToBackend::Shipped`), with the router
    /// that said it (`shadow_log::Shipped`).
    shipped: Map<Tid, shadow_log::Shipped>,
    /// Numbers given to commits being written (`shadow_number`).
    numbered: Map<Tid, Vec<shadow_log::Numbered>>,
    /// The router's word those numbers were given under, kept as long as
    /// they are: a branch that joins the commit's write on its way is
    /// numbered under it too (`number_joined`).
    numbered_told: Map<Tid, shadow_log::Shipped>,
    /// Commits whose `Done` waits for the other site (remembered for it,
    /// or applied from its log here; one hold per log entry: a transaction
    /// over two shadowed ranges has one in each range's log).
    shadow_held: Map<Tid, shadow_log::Held>,
    /// The other site's entries being written here, by token.
    shadow_writes: Map<u64, shadow_log::Applying>,
    /// Released entries whose records are being synced, by token.
    shadow_releases: Map<u64, shadow_log::Releasing>,
    /// Recovered commits' remembered copies being written, by token
    /// (`remember_recovered`), and those a full journal refused, with
    /// when they are written again.
    remembering: Map<u64, shadow_log::Remembering>,
    remember_retry: Vec<shadow_log::Remembering>,
    remember_retry_at: Option<Instant>,
    /// Ranges' shares waiting for another range's remembered copy of the
    /// same commit to be written.
    remember_later: Map<Tid, Vec<shadow_log::ToRemember>>,
}

impl Backend {
    pub fn new(journal: bool) -> Backend {
        Backend { journal, ..Backend::default() }
    }

    /// This node's site (`rtr start --site`, docs/shadow.md): shadow
    /// partitions of one range on nodes of one site are an active partition
    /// and its standbys; on two sites, a primary and a secondary. Unset:
    /// the node's own name.
    pub fn set_site(&mut self, site: Option<String>) {
        self.site = site;
    }

    /// The failover policy of shadow partitions made from now on
    /// (`shadow::FailoverPolicy`; default `Shadow`).
    pub fn set_failover_policy(&mut self, policy: shadow::FailoverPolicy) {
        self.failover_policy = policy;
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

    /// A message from the router on node `from`.
    pub fn handle(&mut self, ctx: &mut Ctx, from: NodeRef, m: ToBackend) {
        let Some(m) = self.promise_first(ctx, from, m) else { return };
        let Some(m) = self.entry_first(from, m) else { return };
        match m {
            // Delivered by the node itself (`Node::run`).
            ToBackend::Broadcast { .. } => {}
            ToBackend::Holder { part, epoch, linked } => self.holder_notice(ctx, from, part, epoch, linked),
            ToBackend::Superseded { part, epoch } => self.superseded(ctx, part, epoch),
            ToBackend::Refused { part } => self.refused(ctx, part),
            ToBackend::ShadowPartner { part, linked } => self.shadow_partner(ctx, from, part, linked),
            ToBackend::ShadowLog { part, entries, released } => self.shadow_log(ctx, from, part, entries, released),
            ToBackend::ShadowApplied { part, pos } => self.shadow_applied(ctx, part, pos),
            ToBackend::Shipped { tid, parts, unsure } => self.shipped(from, tid, parts, unsure),
            ToBackend::Adopt { part, tid, msgs, reason, drive } => {
                if self.driven_later(ctx, from, tid, drive) {
                    // A router's own commit, durable nowhere yet, of a
                    // drive its frontend left: the later drive decides.
                    ctx.to_router(from, ToRouter::DrivenElsewhere { tid, part, drive });
                    return;
                }
                let rolled_back = self.decided.get(&tid).is_some_and(|d| !d.committed);
                if drive != NO_DRIVE && (rolled_back || self.bound.refuses(tid, drive)) {
                    // A router's own commit, durable nowhere yet, of a
                    // transaction another router rolled back here (it
                    // resolved it by asking, and told every node it asked):
                    // refused as an earlier drive's is, and that commit
                    // fails (simulator seed 10278, two routers: the keeper
                    // applied it while the other router's rollback had
                    // reached the branch's node). So is one this node
                    // answered an inquiry about "unknown" (`bound.rs`): that
                    // inquiry may roll it back.
                    ctx.log(format!(
                        "router {} hands {tid} over committed, but it was {} here: refused",
                        ctx.topo.name(from),
                        if rolled_back { "rolled back" } else { "answered \"unknown\" to an inquiry" }
                    ));
                    ctx.to_router(from, ToRouter::DrivenElsewhere { tid, part, drive });
                    return;
                }
                self.adopt(ctx, from, part, tid, msgs, reason)
            }
            ToBackend::HandedOff { tid, part } => self.handed_off(ctx, tid, part),
            ToBackend::GiveBack { tid, part: IN_DOUBT_COPIES, drive } => self.give_back_copies(ctx, from, tid, drive),
            ToBackend::GiveBack { tid, part: OWN_REPLACED_WORK, drive } => self.give_back_own(ctx, from, tid, drive),
            ToBackend::GiveBack { tid, part, drive } => {
                if !self.owned_by(ctx, from, tid, part, Claim::Drives, drive, || ToBackend::GiveBack {
                    tid,
                    part,
                    drive,
                }) {
                    return;
                }
                if self.branches.get(&(tid, part)).is_some_and(|b| b.committed.is_none()) {
                    ctx.log(format!(
                        "{tid}: its router places the work elsewhere: given back, its server told rescheduled"
                    ));
                    self.give_back(ctx, tid, part);
                }
            }
            ToBackend::Forget { tids } => self.forget(ctx, tids),
            ToBackend::Msg { tid, part, index, data, first, flags: fl, drive } => {
                if !self.owned_by(ctx, from, tid, part, Claim::Drives, drive, || ToBackend::Msg {
                    tid,
                    part,
                    index,
                    data: data.clone(),
                    first,
                    flags: fl,
                    drive,
                }) {
                    return;
                }
                self.message(ctx, from, tid, part, index, data, first, fl, drive)
            }
            ToBackend::VoteRequest { tid, part, durable, drive } => {
                self.vote_request(ctx, from, tid, part, durable, drive)
            }
            ToBackend::Inquire { tid, facility, drive, binds } => self.inquire(ctx, from, tid, facility, drive, binds),
            ToBackend::Outcome { tid, parts, accepted, status, reason, drive } => {
                // An outcome naming branches of this node is theirs; one
                // naming none (an answer to a question about `tid`) is for
                // the in-doubt copy from a journal read here, if any, and
                // for every branch here. (An in-doubt copy used to take
                // every outcome of its tid, and this node's own branch
                // never heard its commit: simulator seeds 5447, 5021.)
                let own = parts.iter().any(|p| self.branches.contains_key(&(tid, *p)));
                // Not from a router whose drive of it is older than one seen
                // here: the frontend drives it again elsewhere, and that
                // drive's router decides the copy (the earlier router, thawed,
                // committed on votes taken over since while the later one
                // rejected: simulator seed 13244, two routers, a
                // disagreement). An answer naming no drive is the router's
                // decided outcome (`NO_DRIVE`), taken as before.
                let stale = drive != NO_DRIVE && self.driven_later(ctx, from, tid, drive);
                if stale {
                    // Promised to a later drive: this router's outcome is
                    // not taken here, and it hears so (a commit of it that
                    // is durable nowhere is dropped there:
                    // `Router::commit_superseded`).
                    let part = parts.first().copied().unwrap_or(0);
                    ctx.to_router(from, ToRouter::DrivenElsewhere { tid, part, drive });
                }
                let live = self.branches.keys().any(|(t, _)| *t == tid);
                if stale && (self.in_doubt.contains_key(&tid) || live) && !own {
                    // The copy, or the orphaned branch here, asks another
                    // router next time (see `inquiry_router`): asking the
                    // same stale router again kept a voted orphan of a
                    // later drive (whose router was lost and came back
                    // empty) in doubt for ever, its server held and the
                    // transactions queued behind it (simulator seed 42673,
                    // two routers).
                    let names = self.stale_answers.entry(tid).or_default();
                    let name = ctx.topo.name(from).to_string();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                if self.in_doubt.contains_key(&tid) && !own && !stale {
                    self.in_doubt_outcome(ctx, from, tid, accepted, status, reason);
                    if !parts.is_empty() {
                        return;
                    }
                }
                self.outcome(ctx, from, tid, parts, accepted, status, reason, drive)
            }
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
            let mut aborted: Vec<Tid> = self.answerable_aborts.iter().copied().collect();
            aborted.sort();
            let m = ToRouter::TookOver {
                node,
                committed: self.restart_committed.clone(),
                read: true,
                aborted,
                epoch: self.own_epoch,
            };
            ctx.to_router(id, m);
        }
        // Journals of lost nodes this node holds: the router learns who
        // answers for them (it may have missed the first `TookOver`: cut
        // off, restarted or not linked yet; simulator seeds 5172, 5578).
        // The list is complete (commits written into them since count), so
        // a router that still waits on such a commit settles it rightly.
        if serves_with {
            let mut held: Vec<(&String, &u32)> = self.adopted.iter().collect();
            held.sort();
            for (node, jid) in held {
                let committed = self.read_committed.get(jid).cloned().unwrap_or_default();
                let epoch = self.read_epochs.get(jid).copied().unwrap_or(0);
                ctx.to_router(
                    id,
                    ToRouter::TookOver { node: node.clone(), committed, read: true, aborted: Vec::new(), epoch },
                );
            }
            // And those it let go: the router may not have heard (it was
            // not linked then), and still take this node's answers for
            // theirs (see `release_adopted`).
            let mut let_go: Vec<(&String, &u64)> = self.let_go.iter().collect();
            let_go.sort();
            for (node, epoch) in let_go {
                ctx.to_router(id, ToRouter::JournalLetGo { node: node.clone(), epoch: *epoch });
            }
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
                // What waited may wait on (a request of an earlier drive
                // never takes the branch: `owned_by`): the branch is an
                // orphan then, resolved by asking, or it waited for ever
                // (simulator seed 7026, two routers).
                if let Some(b) = self.branches.get_mut(&key).filter(|b| b.router == id && b.committed.is_none()) {
                    b.orphaned.get_or_insert(ctx.now);
                    let due = ctx.now + ORPHAN_GRACE;
                    self.orphan_deadline = Some(self.orphan_deadline.map_or(due, |d| d.min(due)));
                }
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        [self.orphan_deadline, self.next_claim(), self.commit_retry_at, self.next_shadow_log()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Orphans whose grace ended: an unvoted branch is given back
    /// (`reschedule_orphan`: no router can commit it here without its
    /// vote, and none took it over); for a
    /// voted one, a linked router of its facility is asked to find out what
    /// became of it (again every grace period until one does), its server
    /// held meanwhile.
    pub fn tick(&mut self, ctx: &mut Ctx) {
        self.retry_claims(ctx);
        self.retry_commits(ctx);
        self.shadow_log_tick(ctx);
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
            } else if !b.voted_yes() && !b.aside && !b.uncertain && !b.vote_writing() {
                // Never voted yes (a yes withdrawn with its server left the
                // branch `uncertain`: its router may have committed on it,
                // simulator seed 5974), so no router can have committed it.
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
            if let Some(r) = self.inquiry_router(ctx, tid, &facility) {
                let drive = self.known_drive(tid);
                ctx.to_router(r, ToRouter::Inquire { tid, facility, drive });
            }
        }
        let (in_doubt, branches) = (&self.in_doubt, &self.branches);
        self.stale_answers.retain(|t, _| in_doubt.contains_key(t) || branches.keys().any(|(b, _)| b == t));
        for (tid, part) in expired {
            self.reschedule_orphan(ctx, tid, part);
        }
    }

    /// Orphan `(tid, part)` never voted yes and its grace ended. No router
    /// can commit it here without that vote; but its router, if it lives,
    /// may drive its work to the key range's next holder (it took this node
    /// for lost, `Router::peer_lost`) and commit it there. So the branch is
    /// not rolled back as the transaction's outcome: it is given back, as
    /// a partition that gives its range up gives back unvoted work
    /// (`demote`). Its server hears it rescheduled (`RTR_STS_DLKTXRES`: roll
    /// back, the work may be presented again, here or elsewhere), which is
    /// no outcome; the node decides nothing of the transaction, and a later
    /// probe hears "unknown" here (its other branches here stay as they
    /// are: a voted one is in doubt, its router decides it). Rolled back as
    /// an outcome, the server heard "rejected" while the router, cut off
    /// from this node, placed the same work on the range's next holder and
    /// committed it there (simulator seed 13390, two routers: a
    /// disagreement); and the node's one rollback for every branch of the
    /// transaction here undid a voted branch that commit then needed.
    fn reschedule_orphan(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId) {
        let Some(router) = self.branches.get(&(tid, part)).map(|b| b.router) else { return };
        ctx.log(format!("{tid}: an unvoted orphan past its grace: given back, its server told rescheduled"));
        self.give_back(ctx, tid, part);
        if ctx.topo.is_up(router) {
            ctx.to_router(router, ToRouter::Moved { tid, part });
        }
    }

    /// Branch `(tid, part)` is dropped with nothing decided: its server, if
    /// it holds it, hears `RTR_STS_DLKTXRES` (roll back; the work may be
    /// presented again, here or elsewhere).
    pub(super) fn give_back(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId) {
        if self.branches.get(&(tid, part)).is_some_and(|b| b.aside) {
            // Set aside by the retry limit, undecided: it is not committed
            // here (its work goes elsewhere), so its exception is settled
            // as a rejected branch's is (`reject_branches`), not left
            // undecided for ever.
            self.aside_decided(ctx, tid, part, false);
        }
        self.abort_branch(ctx, tid, part, Status::Dlktxres, 0);
        self.close_given_back(ctx, tid);
    }

    /// A branch of `tid` was given back (its work follows its key range,
    /// nothing decided: `give_back`, `demote`, `last_server_left`). Its
    /// records here (its messages, journaled as they came) are closed when
    /// nothing else of the transaction is left here to close them later; a
    /// presumed abort, which no router takes for a decision, as a restart
    /// would presume. Left open, the work that comes back here (the range's
    /// next grant is this node's again) is journaled as the same attempt:
    /// a restart then replays the given-back messages with the new ones,
    /// and the range applied the re-driven credit twice (simulator seed
    /// 40680, two routers: books off by its amount).
    pub(super) fn close_given_back(&mut self, ctx: &mut Ctx, tid: Tid) {
        let held = self.branches.keys().any(|(t, _)| *t == tid)
            || self.in_doubt.contains_key(&tid)
            || self.finishing.contains_key(&tid)
            || self.handing_off.keys().any(|(t, _)| *t == tid)
            || self.outcome_known(tid);
        if self.journal && !held {
            ctx.journal(vec![(tid, TxRecord::PresumedAbort), (tid, TxRecord::Done)], false, None);
        }
    }

    /// A journal write finished (`token`) or failed.
    pub fn journal_done(&mut self, ctx: &mut Ctx, token: u64, result: Result<(), Status>) {
        if result == Err(Status::Jnlfull) {
            self.carry_forward(ctx);
        }
        if self.adopt_written(ctx, token, result)
            || self.entry_written(ctx, token, result)
            || self.release_written(ctx, token, result)
            || self.remembered_written(ctx, token, result)
            || self.promise_written(ctx, token, result)
            || self.bind_written(ctx, token, result)
        {
            return;
        }
        if let Some(v) = self.vote_tokens.remove(&token) {
            return self.vote_synced(ctx, v, result);
        }
        if let Some(r) = self.rejecting.remove(&token) {
            return self.rejection_written(ctx, r, result);
        }
        if let Some(r) = self.resolving.remove(&token) {
            return self.resolved(ctx, r, result);
        }
        let Some(c) = self.committing.remove(&token) else { return };
        let tid = c.tid;
        self.commit_written(ctx, c, result);
        self.adopt_after_commit(ctx, tid);
    }

    /// Unsynced journal writes failed: the transactions they belonged to cannot be made durable.
    pub fn journal_failed(&mut self, ctx: &mut Ctx, tids: Vec<Tid>, status: Status) {
        if status == Status::Jnlfull {
            self.carry_forward(ctx);
        }
        for tid in tids {
            // Each branch of it fails, named (a router counts a failure
            // only from a branch the transaction has there). Each is marked:
            // a commit its router decided before it heard restates the
            // messages (`restatement`).
            for ((_, _), b) in self.branches.iter_mut().filter(|((t, _), _)| *t == tid) {
                b.refused = true;
            }
            let mut failed: Vec<(PartId, NodeRef)> =
                self.branches.iter().filter(|((t, _), _)| *t == tid).map(|((_, p), b)| (*p, b.router)).collect();
            failed.sort();
            for (part, router) in failed {
                ctx.to_router(router, ToRouter::BranchFailed { tid, part, status });
            }
        }
    }
}
