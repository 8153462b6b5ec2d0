//! A backend partition's role in its key range, as the role authority
//! grants it (`docs/roles.md`, `crate::authority`).
//!
//! A partition claims the active role when it is created, again every
//! [`CLAIM_RETRY`] while another node holds it, and at once when a router
//! reports the holder lost. It forces its claim only when a majority of
//! the facility's routers (by its definition) report the holder of the same
//! grant lost: a partitioned minority can never force. A grant whose
//! previous holder was another node that did not release it is exercised
//! only after that node's journal is taken over (which fences it). A newer
//! grant seen anywhere (the authority, a router's `Superseded`) ends the
//! active role at once.
//!
//! Invariants: at most one claim per partition is outstanding
//! (`Partition::claiming`); a partition is `Active` only under the grant in
//! `Partition::epoch`; a partition with an outstanding claim, or that is
//! recovering a lost holder's journal, is not dropped when its servers
//! leave (the answer must be acted on), and an active one gives its grant
//! back cleanly only when none of its range's work is left on this node.

use std::time::{Duration, Instant};

use super::{shadow::Side, Backend, PartRole};
use crate::authority::{Claim, Grant};
use crate::facility::RoleList;
use crate::msgtype::MsgType;
use crate::node::{Callout, Ctx, NodeRef, Output, PartId, ToRouter, LOCAL};
use crate::protocol::Bytes;
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::TxRecord;

/// How often a partition that is not active claims again (a holder whose
/// process ended lets its lock go; this is how soon a standby notices
/// without any router's help).
pub const CLAIM_RETRY: Duration = Duration::from_millis(100);

/// How often a partition whose grant needs a lost holder's journal tries
/// to take it over again after a failed attempt (RTR's *recognized*
/// recovery: the standby waits for the journal).
pub const RECOVERY_RETRY: Duration = Duration::from_secs(1);

/// How long it goes on trying before it waits for an operator
/// (`lcl_rec_fail`: `rtr set partition --restart-recovery` or
/// `--ignore-recovery`), by default.
pub const RECOVERY_WAIT: Duration = Duration::from_secs(60);

/// What a partition does when its grant needs a lost holder's journal that
/// it cannot take over (RTR's cluster recovery policies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryPolicy {
    /// *Unrecognized*: go active at once, without that journal; its
    /// committed work comes later, handed off by its node when that node
    /// starts again with it. Routers keep waiting for the commits they
    /// waited for on it (no client hears a false outcome). *Recognized*
    /// (false, the default): wait for the journal, trying again every
    /// [`RECOVERY_RETRY`] for `wait`, then wait for an operator.
    pub unrecognized: bool,
    /// How long a recognized recovery tries before it waits for an operator.
    pub wait: Duration,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        RecoveryPolicy { unrecognized: false, wait: RECOVERY_WAIT }
    }
}

/// How long a partition waits, per place below the first in its priority
/// list, before its first claim: a node that starts first does not take a
/// range the list gives to another node that is starting too.
pub const START_DEFER: Duration = Duration::from_secs(1);

/// What a partition knows of its range's grant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RoleState {
    /// The authority's name for the range (`crate::authority::range_id`).
    pub(crate) rid: String,
    /// Active or recovering: the grant this partition holds. Standby: the
    /// holder's grant as last heard (0: none known).
    pub(crate) epoch: u64,
    /// Standby: the node holding the range's grant.
    pub(crate) holder: Option<String>,
    /// A request to the authority is outstanding: a claim, or (for an
    /// `Unfenced` partition) a holder check. One at a time either way.
    pub(crate) claiming: bool,
    /// When to claim again (not active, no claim outstanding).
    pub(crate) retry_at: Option<Instant>,
    /// Routers that report the holder of `epoch` lost (and are linked).
    pub(crate) lost_by: Vec<NodeRef>,
    /// Recovering a lost holder's journal since then (the first attempt).
    pub(crate) recovering_since: Option<Instant>,
    /// Recovering (or waiting for) a lost holder's journal: that holder's
    /// grant, whose lock must be gone before this partition goes active
    /// without the journal (`PartRole::Unfenced`).
    pub(crate) lost_grant: u64,
    /// When to try that journal again after a failed attempt.
    pub(crate) recovery_retry_at: Option<Instant>,
    /// Why the last claim got no answer (the authority is unreachable: the
    /// minority state), for `rtr show partition`.
    pub(crate) unreachable: Option<String>,
}

impl Backend {
    /// Ask the authority for the range's active role (once at a time).
    pub(super) fn claim(&mut self, ctx: &mut Ctx, part: PartId, force_over: Option<u64>) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        if p.callout != Callout::No || p.grant.claiming {
            return;
        }
        p.grant.claiming = true;
        p.grant.retry_at = None;
        if let Some(e) = force_over {
            ctx.log(format!(
                "partition {}: forcing a claim over grant {e} of {}: a majority of routers lost it",
                p.label(part),
                p.grant.holder.as_deref().unwrap_or("its holder")
            ));
        }
        ctx.output(Output::Claim { range: p.grant.rid.clone(), force_over });
    }

    /// The authority's answer to this node's claim of range `rid`.
    pub fn claimed(&mut self, ctx: &mut Ctx, rid: &str, result: Result<Claim, String>) {
        if let Some(part) = self.part_of_primary(rid) {
            return self.shadow_claimed(ctx, part, result);
        }
        let Some(part) = self.part_of(rid) else {
            // The partition went while the claim was out (it is kept
            // meanwhile, so this is a stale answer): a grant won for
            // nothing is given back. A shadow range's primary record is
            // never taken over with a journal, so its grant always is.
            if let Ok(Claim::Granted { epoch, previous }) = result {
                let primary_record = rid.ends_with(super::shadow::PRIMARY_RECORD);
                if primary_record || previous.is_none_or(|g| g.released || g.holder == ctx.topo.name(LOCAL)) {
                    ctx.output(Output::ReleaseRole { range: rid.to_string(), epoch });
                }
            }
            return;
        };
        let Some(p) = self.parts.get_mut(&part) else { return };
        p.grant.claiming = false;
        match result {
            Err(why) => {
                if p.grant.unreachable.is_none() {
                    ctx.log(format!("partition {}: no answer from the role authority: {why}", p.label(part)));
                }
                p.grant.unreachable = Some(why);
                p.grant.retry_at = Some(ctx.now + CLAIM_RETRY);
            }
            Ok(Claim::Held(g)) => {
                p.grant.unreachable = None;
                self.standby(ctx, part, g);
            }
            Ok(Claim::Granted { epoch, previous }) => {
                p.grant.unreachable = None;
                self.granted(ctx, part, epoch, previous);
            }
        }
        self.drop_if_empty(ctx, part);
    }

    /// Every committed branch of `part` goes to the range's active
    /// partition (`hand_off`), in tid order.
    fn hand_off_committed(&mut self, ctx: &mut Ctx, part: PartId) {
        let mut committed: Vec<Tid> = self
            .branches
            .iter()
            .filter(|((_, q), b)| *q == part && b.committed.is_some())
            .map(|((t, _), _)| *t)
            .collect();
        committed.sort();
        for tid in committed {
            self.hand_off(ctx, tid, part);
        }
    }

    /// The range's grant is held elsewhere: this partition is its standby
    /// (or, opened with `RTR_F_OPE_NOSTANDBY`, is refused).
    fn standby(&mut self, ctx: &mut Ctx, part: PartId, g: Grant) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        // Lower in the priority list, less often: the first standby of the
        // list is the first to find a dead holder's lock free.
        let every = CLAIM_RETRY * (1 + 2 * rank(ctx, p).min(20) as u32);
        p.grant.retry_at = Some(ctx.now + every);
        if p.grant.epoch != g.epoch {
            p.grant.lost_by.clear();
        }
        let changed = p.role != PartRole::Standby || p.grant.epoch != g.epoch;
        if p.role == PartRole::Active {
            // Only a lost grant makes an active partition claim again.
            ctx.log(format!("partition {}: grant {} of {} is newer: standby", p.label(part), g.epoch, g.holder));
        }
        p.grant.epoch = g.epoch;
        p.grant.holder = Some(g.holder.clone());
        if p.nostandby {
            ctx.log(format!(
                "partition {}: active on {} (grant {}), and RTR_F_OPE_NOSTANDBY forbids a standby: its \
                 servers are closed",
                p.label(part),
                g.holder,
                g.epoch
            ));
            return self.close_all(ctx, part, Status::Nostandby);
        }
        if p.role != PartRole::Standby {
            p.role = PartRole::Standby;
            for s in &p.servers {
                self.role_events.push(super::RoleEvent {
                    facility: p.facility.clone(),
                    evtnum: crate::events::SRSTANDBY,
                    chan: *s,
                });
            }
        }
        // Committed work this node recovered for the range (it restarted
        // after another node went active without its journal: unrecognized
        // recovery) belongs to the active partition now.
        self.hand_off_committed(ctx, part);
        let Some(p) = self.parts.get(&part) else { return };
        if changed {
            ctx.log(format!("partition {}: standby of {} (grant {})", p.label(part), g.holder, g.epoch));
            self.announce(ctx, part);
        }
    }

    /// This node holds the range's grant `epoch`: active, after recovering
    /// the previous holder's journal unless it released the role or was
    /// this node.
    fn granted(&mut self, ctx: &mut Ctx, part: PartId, epoch: u64, previous: Option<Grant>) {
        let me = ctx.topo.name(LOCAL).to_string();
        let Some(rid) = self.parts.get(&part).map(|p| p.grant.rid.clone()) else { return };
        let fenced = previous.as_ref().is_some_and(|g| self.read_fences(&g.holder, &rid, g.epoch));
        let Some(p) = self.parts.get_mut(&part) else { return };
        if p.role == PartRole::Active && p.grant.epoch == epoch {
            return; // a retried claim's answer
        }
        p.grant.epoch = epoch;
        p.grant.holder = None;
        p.grant.lost_by.clear();
        p.grant.retry_at = None;
        p.grant.lost_grant = previous.as_ref().map_or(0, |g| g.epoch);
        let lost = previous.as_ref().filter(|g| !g.released && g.holder != me).map(|g| g.holder.clone());
        let how = match &previous {
            None => "the range's first grant".to_string(),
            Some(g) if g.released => format!("{} released grant {}", g.holder, g.epoch),
            Some(g) if g.holder == me => format!("this node held grant {} before it restarted", g.epoch),
            Some(g) => format!("{} held grant {} and is gone", g.holder, g.epoch),
        };
        // Logged where a range can change hands (the facility has another
        // backend node); an embedded application's one node stays quiet.
        if shared(ctx, p) {
            ctx.log(format!("partition {}: active under grant {epoch} ({how})", p.label(part)));
        }
        match lost {
            // A holder whose name was lost with a torn grant cannot be
            // recovered: the partition waits for an operator.
            Some(node) if node.is_empty() => {
                p.role = PartRole::NoJournal(node, "the previous holder's grant record is damaged".into());
            }
            Some(node) if !fenced => {
                p.grant.recovering_since = Some(ctx.now);
                // A journal of `node` read here that is not known to fence
                // this grant (`read_fences`) may fence it no longer: `node`
                // may have started again on the journal since (another
                // reader took it from this one, unheard, and let it go) and
                // won the grant in that new life. Read here, that journal is
                // given up first, as when a write there finds it taken, and
                // then taken over again (which fences `node`).
                if let Some(jid) = self.adopted.get(&node).copied() {
                    ctx.log(format!(
                        "partition {}: the journal of {node} read here does not fence its grant {} (won since, or never \
                         known here): given up and taken over again",
                        p.label(part),
                        p.grant.lost_grant
                    ));
                    self.taken_over_lost(ctx, jid);
                }
                self.recover_journal_of(ctx, part, node);
            }
            _ => self.set_active(ctx, part),
        }
    }

    /// Does the journal of `node` read here fence `node`'s grant `epoch` of
    /// range `rid` (a grant of the life the read fenced: `read_fences`)? A
    /// read journal's mere presence in `adopted` does not say so: this node
    /// hears that another reader took the journal from it only at its next
    /// write there, and `node` may have started again on the journal and
    /// won newer grants since (simulator seed 50514, one router).
    fn read_fences(&self, node: &str, rid: &str, epoch: u64) -> bool {
        let Some(jid) = self.adopted.get(node) else { return false };
        self.read_fences.get(jid).and_then(|f| f.get(rid)).is_some_and(|fenced| *fenced >= epoch)
    }

    /// Take over lost node `node`'s journal for partition `part` (one
    /// takeover per journal at a time: partitions waiting for the same one
    /// hear its result together).
    fn recover_journal_of(&mut self, ctx: &mut Ctx, part: PartId, node: String) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        if let Err(why) = journal_name_ok(ctx, &p.facility, &node) {
            // Never turned into a path: the partition waits for an operator.
            ctx.log(format!("partition {}: will not take over the journal {node:?}: {why}", p.label(part)));
            p.role = PartRole::NoJournal(node, why.to_string());
            p.grant.recovery_retry_at = None;
            return;
        }
        let busy = self.parts.values().any(|q| q.role == PartRole::Recovering(node.clone()));
        if let Some(p) = self.parts.get_mut(&part) {
            p.role = PartRole::Recovering(node.clone());
            p.grant.recovery_retry_at = None;
        }
        if !busy {
            self.next_jid += 1;
            ctx.output(Output::Takeover { node, jid: self.next_jid });
        }
    }

    /// The lost holder's journal could not be taken over: try again every
    /// [`RECOVERY_RETRY`] for up to [`RECOVERY_WAIT`], then wait for an
    /// operator.
    pub(super) fn recovery_failed(&mut self, ctx: &mut Ctx, part: PartId, node: &str, why: &str) {
        let policy = self.policy;
        let Some(p) = self.parts.get_mut(&part) else { return };
        if policy.unrecognized {
            ctx.log(format!(
                "partition {}: cannot take over the journal of {node} ({why}); active without it (unrecognized \
                 recovery) once {node} no longer holds grant {}: its committed work comes when {node} starts \
                 again",
                p.label(part),
                p.grant.lost_grant
            ));
            return self.activate_unfenced(ctx, part, node.to_string(), false);
        }
        p.role = PartRole::NoJournal(node.to_string(), why.to_string());
        let since = *p.grant.recovering_since.get_or_insert(ctx.now);
        if ctx.now.saturating_duration_since(since) < policy.wait {
            p.grant.recovery_retry_at = Some(ctx.now + RECOVERY_RETRY);
            ctx.log(format!(
                "partition {}: cannot take over the journal of {node}: {why}; trying again",
                p.label(part)
            ));
        } else {
            p.grant.recovery_retry_at = None;
            ctx.log(format!(
                "partition {}: cannot take over the journal of {node} after {} s: {why}; waiting for \
                 an operator (rtr set partition --restart-recovery or --ignore-recovery)",
                p.label(part),
                policy.wait.as_secs()
            ));
        }
    }

    /// Go active without lost node `node`'s journal, but only once that
    /// node no longer holds its grant: nothing fenced it (no journal
    /// takeover), so until its lock or lease is gone it may still be
    /// presenting work as the range's active partition. Asked at once and
    /// every [`CLAIM_RETRY`] after. `ignored`: an operator's decision.
    pub(super) fn activate_unfenced(&mut self, ctx: &mut Ctx, part: PartId, node: String, ignored: bool) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        p.grant.recovery_retry_at = None;
        p.role = PartRole::Unfenced { node, grant: p.grant.lost_grant, ignored };
        self.check_holder(ctx, part);
    }

    /// Ask the authority whether an unfenced lost holder is gone (once at a
    /// time, as claims are).
    fn check_holder(&mut self, ctx: &mut Ctx, part: PartId) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        let PartRole::Unfenced { grant, .. } = p.role else { return };
        if p.callout != Callout::No || p.grant.claiming {
            return;
        }
        p.grant.claiming = true;
        p.grant.retry_at = None;
        ctx.output(Output::CheckHolder { range: p.grant.rid.clone(), epoch: grant });
    }

    /// The authority's answer to [`Output::CheckHolder`]: the holder of
    /// grant `epoch` of range `rid` is gone (or not, or no answer).
    pub fn holder_checked(&mut self, ctx: &mut Ctx, rid: &str, epoch: u64, result: Result<bool, String>) {
        if let Some(part) = self.part_of_primary(rid) {
            return self.shadow_holder_checked(ctx, part, epoch, result);
        }
        let Some(part) = self.part_of(rid) else { return };
        let Some(p) = self.parts.get_mut(&part) else { return };
        // At most one request to the authority is out per partition, so
        // this answers it, whatever the partition became meanwhile.
        p.grant.claiming = false;
        let PartRole::Unfenced { node, grant, ignored } = p.role.clone() else {
            return self.drop_if_empty(ctx, part);
        };
        match result {
            Ok(true) if grant == epoch => {
                p.grant.unreachable = None;
                ctx.log(format!(
                    "partition {}: {node} no longer holds grant {grant}: active under grant {} without its journal",
                    p.label(part),
                    p.grant.epoch
                ));
                let facility = p.facility.clone();
                if ignored {
                    // The routers stop waiting for commits on that node:
                    // none was found (they answer "not known yet", never
                    // "rejected": that journal may hold the commit).
                    for r in ctx.topo.routers(&facility) {
                        let m = ToRouter::TookOver {
                            node: node.clone(),
                            committed: Vec::new(),
                            read: false,
                            aborted: Vec::new(),
                            epoch: 0,
                        };
                        ctx.to_router(r, m);
                    }
                }
                self.set_active(ctx, part);
            }
            Ok(_) => {
                p.grant.unreachable = None;
                p.grant.retry_at = Some(ctx.now + CLAIM_RETRY);
            }
            Err(why) => {
                if p.grant.unreachable.is_none() {
                    ctx.log(format!("partition {}: no answer from the role authority: {why}", p.label(part)));
                }
                p.grant.unreachable = Some(why);
                p.grant.retry_at = Some(ctx.now + CLAIM_RETRY);
            }
        }
        self.drop_if_empty(ctx, part);
    }

    /// The authority says this node lost grant `epoch` of range `rid`.
    pub fn role_lost(&mut self, ctx: &mut Ctx, rid: &str, epoch: u64) {
        if let Some(part) = self.part_of_primary(rid) {
            return self.shadow_role_lost(ctx, part, epoch);
        }
        let Some(part) = self.part_of(rid) else { return };
        self.demote(ctx, part, epoch, "the role authority has a newer grant");
    }

    /// A router saw a newer grant than the one this partition is active under.
    pub(super) fn superseded(&mut self, ctx: &mut Ctx, part: PartId, newer: u64) {
        let Some(p) = self.parts.get(&part) else { return };
        if p.grant.epoch < newer {
            let epoch = p.grant.epoch;
            self.demote(ctx, part, epoch, &format!("a router has seen grant {newer}"));
        }
    }

    /// Stop being active under grant `epoch` at once: no more work is
    /// presented here; the partition claims again as any standby does.
    fn demote(&mut self, ctx: &mut Ctx, part: PartId, epoch: u64, why: &str) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        // A partition still becoming active holds the grant too: it must not
        // go on to activate under one that a newer grant replaced.
        if p.grant.epoch != epoch || !p.holds_grant() {
            return;
        }
        ctx.log(format!("partition {}: no longer active (grant {epoch}): {why}", p.label(part)));
        p.role = PartRole::Standby;
        p.grant.holder = None;
        p.grant.recovery_retry_at = None;
        p.grant.retry_at = Some(ctx.now + CLAIM_RETRY);
        for s in &p.servers {
            self.role_events.push(super::RoleEvent {
                facility: p.facility.clone(),
                evtnum: crate::events::SRSTANDBY,
                chan: *s,
            });
        }
        self.announce(ctx, part);
        // Committed work not acknowledged here goes to the range's next
        // active partition now (`hand_off`: presented there uncertain), as
        // a standby's does (`standby`). A server that holds the commit
        // already applies it under this grant's fencing token, which the
        // database refuses once the new holder committed under its own
        // (`docs/fencing.md`), so its `Ack` from now on says nothing of
        // the books: `hand_off` no longer counts it. With shared journals
        // the new holder's reader replays such a commit too; with none
        // (unrecognized recovery) nobody did: the server acknowledged it
        // after this demotion, before the next claim's answer would have
        // handed it off, and the range never applied it (simulator seed
        // 6679, `--no-shared-root --recovery unrecognized`).
        self.hand_off_committed(ctx, part);
        // Work not voted on follows the key range: the router drives it
        // again to the new active partition (`Router::follow_range`), and
        // this copy's server hears it rescheduled (`RTR_STS_DLKTXRES`, as
        // for `RTR_F_REJ_RETRY`: roll back, the branch is presented again
        // elsewhere), not rejected. Not remembered as decided: the
        // transaction goes on, and may come back here.
        // Branches with a vote wait for their outcome as before.
        let mut tids: Vec<Tid> =
            self.branches.iter().filter(|((_, q), b)| *q == part && b.never_voted()).map(|((t, _), _)| *t).collect();
        tids.sort();
        for tid in tids {
            let Some(router) = self.branches.get(&(tid, part)).map(|b| b.router) else { continue };
            self.abort_branch(ctx, tid, part, Status::Dlktxres, 0);
            self.close_given_back(ctx, tid);
            ctx.to_router(router, ToRouter::Moved { tid, part });
        }
    }

    /// A router reports the holder of grant `epoch` of this standby's range
    /// lost (or linked again). Lost: claim at once, by force once a
    /// majority of the facility's routers say so.
    pub(super) fn holder_notice(&mut self, ctx: &mut Ctx, from: NodeRef, part: PartId, epoch: u64, linked: bool) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        if p.holds_grant() {
            return;
        }
        if p.grant.epoch != epoch {
            if epoch < p.grant.epoch {
                return; // about an older holder
            }
            p.grant.epoch = epoch;
            p.grant.lost_by.clear();
        }
        p.grant.lost_by.retain(|r| *r != from);
        if linked {
            // A holder is there: a partition deferring its first claim
            // (lower in the priority list) claims now, to be its standby.
            if p.role == PartRole::Waiting && !p.grant.claiming {
                self.claim(ctx, part, None);
            }
            return;
        }
        p.grant.lost_by.push(from);
        // The first standby of the priority list claims at once; the k-th
        // after k claim periods, so the list decides whenever it can.
        let rank = rank(ctx, p);
        if rank == 0 {
            let force = force_over(ctx, p);
            self.claim(ctx, part, force);
        } else if !p.grant.claiming {
            let due = ctx.now + CLAIM_RETRY * rank as u32;
            p.grant.retry_at = Some(p.grant.retry_at.map_or(due, |t| t.min(due)));
        }
    }

    /// A router's link went: its word about holders no longer counts.
    pub(super) fn forget_router(&mut self, router: NodeRef) {
        for p in self.parts.values_mut() {
            p.grant.lost_by.retain(|r| *r != router);
        }
    }

    /// Claims due again (partitions not active, no claim outstanding), and
    /// takeovers of a lost holder's journal due again.
    pub(super) fn retry_claims(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        let due: Vec<PartId> =
            self.parts.iter().filter(|(_, p)| p.grant.retry_at.is_some_and(|t| t <= now)).map(|(id, _)| *id).collect();
        self.retry_shadow_claims(ctx);
        for part in due {
            if matches!(self.parts.get(&part).map(|p| &p.role), Some(PartRole::Unfenced { .. })) {
                self.check_holder(ctx, part);
                continue;
            }
            let force = self.parts.get(&part).and_then(|p| force_over(ctx, p));
            self.claim(ctx, part, force);
        }
        let mut again: Vec<(PartId, String)> = Vec::new();
        for (id, p) in &self.parts {
            if let (PartRole::NoJournal(node, _), Some(t)) = (&p.role, p.grant.recovery_retry_at) {
                if t <= now {
                    again.push((*id, node.clone()));
                }
            }
        }
        again.sort();
        for (part, node) in again {
            self.recover_journal_of(ctx, part, node);
        }
    }

    /// The earliest claim or recovery retry.
    pub(super) fn next_claim(&self) -> Option<Instant> {
        let grants = self.parts.values().flat_map(|p| [p.grant.retry_at, p.grant.recovery_retry_at]).flatten().min();
        [grants, self.next_shadow_claim()].into_iter().flatten().min()
    }

    /// The partition of range `rid` on this node (ranges do not overlap
    /// within a facility, so there is at most one).
    fn part_of(&self, rid: &str) -> Option<PartId> {
        let mut ids: Vec<PartId> = self
            .parts
            .iter()
            .filter(|(_, p)| p.grant.rid == rid && p.callout == Callout::No)
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids.first().copied()
    }

    /// May partition `part`, whose servers and queue are empty, go? Not
    /// while its claim is out or a lost holder's journal is being
    /// recovered for it; an active one only once none of its range's work
    /// is left here, and then it gives its grant back cleanly first.
    pub(super) fn may_drop(&mut self, ctx: &mut Ctx, part: PartId) -> bool {
        let Some(p) = self.parts.get(&part) else { return false };
        if p.grant.claiming
            || matches!(p.role, PartRole::Recovering(_) | PartRole::NoJournal(..) | PartRole::Unfenced { .. })
        {
            return false;
        }
        // Branches waiting for an outcome, or handed off and not yet durable
        // at the next active partition, keep it; so does a shadow log that
        // still has work for the other site or from it (`shadow_log.rs`).
        if self.branches.keys().any(|(_, q)| *q == part) || self.handing_off.keys().any(|(_, q)| *q == part) {
            return false;
        }
        if p.shadow.as_ref().is_some_and(|s| self.shadow_work_left(&s.rid)) {
            return false;
        }
        if p.role != PartRole::Active || p.callout != Callout::No {
            return true;
        }
        let work_left = self.recovered.get(&p.facility).is_some_and(|v| !v.is_empty());
        if work_left {
            return false;
        }
        ctx.log(format!(
            "partition {}: its last server left; grant {} released for a standby",
            p.label(part),
            p.grant.epoch
        ));
        ctx.output(Output::ReleaseRole { range: p.grant.rid.clone(), epoch: p.grant.epoch });
        true
    }

    /// Close every server of the partition with `status`.
    fn close_all(&mut self, ctx: &mut Ctx, part: PartId, status: Status) {
        let Some(p) = self.parts.get(&part) else { return };
        for s in p.servers.clone() {
            ctx.deliver(s.0, crate::node::frontend::status_delivery(s.1, MsgType::Closed, None, status, 0));
            self.close(ctx, s);
        }
    }

    /// A router refuses this partition a standby (the active partition was
    /// opened with `RTR_F_OPE_NOSTANDBY`).
    pub(super) fn refused(&mut self, ctx: &mut Ctx, part: PartId) {
        let Some(p) = self.parts.get(&part) else { return };
        if p.role == PartRole::Active || p.callout != Callout::No {
            return;
        }
        ctx.log(format!("partition {}: refused a standby (RTR_F_OPE_NOSTANDBY)", p.label(part)));
        self.close_all(ctx, part, Status::Nostandby);
    }

    /// A new partition's first claim: at once for the first node of its
    /// priority list, deferred by [`START_DEFER`] per place for the others.
    pub(super) fn first_claim(&mut self, ctx: &mut Ctx, part: PartId) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        let rank = rank(ctx, p);
        if rank == 0 {
            return self.claim(ctx, part, None);
        }
        p.grant.retry_at = Some(ctx.now + START_DEFER * rank.min(20) as u32);
    }

    /// Why partition `part` is not active, in an operator's words ("" when
    /// it is).
    pub(crate) fn role_note(&self, part: PartId) -> String {
        let Some(p) = self.parts.get(&part) else { return String::new() };
        if let Some(why) = &p.grant.unreachable {
            return format!("minority: no answer from the role authority ({why}); it cannot become active");
        }
        match &p.role {
            PartRole::Active => match &p.shadow {
                None => String::new(),
                // Its place in the pair and remember mode's backlog
                // (docs/shadow.md): what an operator sizes the journal by.
                Some(s) => {
                    let backlog = self.shadow_backlog(&s.rid);
                    match s.side {
                        Side::Primary if s.off.is_some() => format!(
                            "site {}: primary (grant {}), shadowing off: nothing is remembered for the other site; \
                             {backlog} commit(s) still kept from before",
                            s.site, s.epoch
                        ),
                        Side::Unknown if s.off_elsewhere() => format!(
                            "site {}: shadowing of its range is off (turned off at site {}): neither primary nor \
                             secondary until it is turned on again",
                            s.site,
                            s.off.as_deref().unwrap_or("?")
                        ),
                        Side::Primary if s.partner_by.is_empty() => format!(
                            "site {}: primary (grant {}), no secondary linked: {backlog} commit(s) remembered for \
                             the other site",
                            s.site, s.epoch
                        ),
                        Side::Primary => format!(
                            "site {}: primary (grant {}); {backlog} commit(s) kept until the secondary applies them",
                            s.site, s.epoch
                        ),
                        Side::Secondary => format!(
                            "site {}: secondary of {} (grant {}); {backlog} commit(s) kept for the other site",
                            s.site,
                            s.holder.as_deref().unwrap_or("?"),
                            s.epoch
                        ),
                        Side::Unknown => format!("site {}: claiming its range's primary record", s.site),
                    }
                }
            },
            PartRole::Waiting => "claiming its key range's grant".into(),
            PartRole::Standby => match &p.grant.holder {
                Some(h) if !p.grant.lost_by.is_empty() => format!(
                    "standby of {h} (grant {}), which {} router(s) lost: claiming it",
                    p.grant.epoch,
                    p.grant.lost_by.len()
                ),
                Some(h) => format!("standby: {h} holds grant {}", p.grant.epoch),
                None => "standby: claiming the grant again".into(),
            },
            PartRole::Recovering(n) => format!("holds grant {}; taking over the journal of {n} first", p.grant.epoch),
            PartRole::NoJournal(n, why) if p.grant.recovery_retry_at.is_some() => {
                format!("holds grant {}; cannot take over the journal of {n} yet ({why}): trying again", p.grant.epoch)
            }
            PartRole::NoJournal(n, why) => format!(
                "holds grant {}; cannot take over the journal of {n} ({why}): waiting for an operator \
                 (--restart-recovery or --ignore-recovery)",
                p.grant.epoch
            ),
            PartRole::Unfenced { node, grant, .. } => format!(
                "holds grant {}; goes active without the journal of {node} once {node} no longer holds grant \
                 {grant} (its process may be frozen or cut off: stop it, or take over its journal with \
                 --restart-recovery)",
                p.grant.epoch
            ),
        }
    }

    /// Only used to tell routers where a partition stands.
    pub(super) fn up_message(&self, part: PartId) -> Option<ToRouter> {
        let p = self.parts.get(&part)?;
        Some(ToRouter::PartitionUp {
            facility: p.facility.clone(),
            part,
            range: p.range.clone(),
            active: p.role == PartRole::Active,
            epoch: p.grant.epoch,
            priority: p.priority.clone(),
            nostandby: p.nostandby,
            callout: p.callout,
            shadow: p.shadow.as_ref().map(|s| s.up(self.in_sync(&s.rid), self.lowest_series(&s.rid))),
        })
    }
}

/// Committed work of a partition whose last server left, handed off to
/// its range's next active partition and not yet durable there.
pub(crate) struct HandingOff {
    facility: String,
    msgs: Vec<Bytes>,
    reason: u32,
}

/// Handed-off work being made durable here before it is presented.
pub(crate) struct Adopting {
    part: PartId,
    pub(super) tid: Tid,
    facility: String,
    /// The messages its partitions here serve.
    msgs: Vec<Bytes>,
    /// The messages no partition here serves (a router's unit of a lost
    /// node's commit, given whole to this node: `Router::route_handoffs`),
    /// written as `HandOn` and handed on once durable.
    foreign: Vec<Bytes>,
    reason: u32,
    /// Routers to answer `Adopted` (each router of the facility forwards it).
    routers: Vec<NodeRef>,
}

impl Backend {
    /// The last server of active partition `part` left. With no other
    /// backend node for its facility, its work waits for a server to come
    /// back (RTR's restarted-server recovery). Otherwise its grant goes to a
    /// standby at once: the grant is released, committed work its servers
    /// had not finished is handed off to the range's next active partition
    /// through the routers, work never voted on is rejected (`SRVDIED`: no
    /// router can have committed it), and work whose vote was given waits
    /// here for its outcome (handed off if it commits).
    pub(super) fn last_server_left(&mut self, ctx: &mut Ctx, part: PartId) {
        let me = ctx.topo.name(LOCAL).to_string();
        let Some(p) = self.parts.get_mut(&part) else { return };
        if p.role != PartRole::Active || p.callout != Callout::No || !p.servers.is_empty() {
            return;
        }
        let others =
            ctx.topo.facilities.get(&p.facility).is_some_and(|d| d.nodes(RoleList::Backend).iter().any(|n| *n != me));
        if !others {
            return;
        }
        let epoch = p.grant.epoch;
        ctx.log(format!("partition {}: its last server left; grant {epoch} released for a standby", p.label(part)));
        ctx.output(Output::ReleaseRole { range: p.grant.rid.clone(), epoch });
        p.role = PartRole::Standby;
        p.grant.holder = None;
        // No claim without a server: a server that comes back claims again.
        p.grant.retry_at = None;
        self.announce(ctx, part);
        let mut tids: Vec<Tid> = self.branches.keys().filter(|(_, q)| *q == part).map(|(t, _)| *t).collect();
        tids.sort();
        for tid in tids {
            let Some(b) = self.branches.get(&(tid, part)) else { continue };
            if b.committed.is_some() {
                self.hand_off(ctx, tid, part);
            } else if b.never_voted() {
                // Its work committed nowhere: it follows the key range to
                // its next active partition (the router drives it there
                // again). Not remembered as decided: it may come back here.
                if let Some(b) = self.branches.remove(&(tid, part)) {
                    ctx.to_router(b.router, ToRouter::Moved { tid, part });
                    self.replay_parked(ctx, b.parked);
                    self.close_given_back(ctx, tid);
                }
            } else {
                // Its vote was given (and withdrawn with its server): the
                // router may have committed on it already. It is asked to
                // reject if it has not; the branch stays until the outcome
                // comes (a commit is then handed off).
                ctx.to_router(b.router, ToRouter::BranchFailed { tid, part, status: Status::Srvdied });
            }
        }
        if let Some(p) = self.parts.get_mut(&part) {
            let branches = &self.branches;
            p.waiting.retain(|t| branches.contains_key(&(*t, part)));
        }
    }

    /// Hand committed branch `(tid, part)` off to the range's next active
    /// partition (every router of the facility hears; the first to reach
    /// it counts). It stays unfinished here until one says it is durable there.
    pub(super) fn hand_off(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId) {
        let Some(p) = self.parts.get(&part) else { return };
        let facility = p.facility.clone();
        let Some(b) = self.branches.remove(&(tid, part)) else { return };
        let Some((_, reason)) = b.committed else { return };
        if let Some(p) = self.parts.get_mut(&part) {
            p.waiting.retain(|t| *t != tid);
        }
        // A server of this partition may hold the commit already,
        // unacknowledged (delivered before the partition gave its range
        // up, or just now by `commit` to the server that voted: under the
        // old grant, which its database may refuse). The hand-off finishes
        // the branch now (`handed_off`, or the branch presented again here
        // if the work comes back to this node), so that server's `Ack` no
        // longer counts: it counted too, two for one branch, and the
        // transaction was finished (`Applied`) while another branch of it
        // was still unacknowledged or being handed off; a restart then
        // presented nothing of it, and that range never applied it
        // (simulator seed 43628, two routers).
        if let Some(srv) = b.server.and_then(|s| self.servers.get_mut(&s)).filter(|srv| srv.part == part) {
            srv.unacked.retain(|t| *t != tid);
        }
        let msgs = b.msgs;
        for r in ctx.topo.routers(&facility) {
            let m = ToRouter::HandOff { facility: facility.clone(), tid, part, msgs: msgs.clone(), reason };
            ctx.to_router(r, m);
        }
        self.handing_off.insert((tid, part), HandingOff { facility, msgs, reason });
    }

    /// A router that links hears of every hand-off still unanswered.
    pub(super) fn resend_handoffs(&mut self, ctx: &mut Ctx, router: NodeRef) {
        let mut keys: Vec<(Tid, PartId)> = self.handing_off.keys().copied().collect();
        keys.sort();
        for (tid, part) in keys {
            let Some(h) = self.handing_off.get(&(tid, part)) else { continue };
            if ctx.topo.peer_plays(router, &h.facility, RoleList::Router) {
                let m = ToRouter::HandOff {
                    facility: h.facility.clone(),
                    tid,
                    part,
                    msgs: h.msgs.clone(),
                    reason: h.reason,
                };
                ctx.to_router(router, m);
            }
        }
    }

    /// The work handed off from `(tid, part)` is durable at the range's
    /// active partition: finished here.
    pub(super) fn handed_off(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId) {
        if self.handing_off.remove(&(tid, part)).is_none() {
            return; // told by another router already
        }
        if let Some(f) = self.finishing.get_mut(&tid) {
            f.unacked = f.unacked.saturating_sub(1);
        }
        self.maybe_done(ctx, tid);
        self.drop_if_empty(ctx, part);
    }

    /// A router brings committed work handed off by the range's previous
    /// active node: made durable here (its messages and its commit), then
    /// presented like recovered work (uncertain, then the commit), and the
    /// router hears it is here.
    pub(super) fn adopt(
        &mut self,
        ctx: &mut Ctx,
        from: NodeRef,
        part: PartId,
        tid: Tid,
        msgs: Vec<Bytes>,
        reason: u32,
    ) {
        let Some(p) = self.parts.get(&part) else { return };
        let facility = p.facility.clone();
        // This node's own hand-off coming back (it is active again): the
        // work is its again, with no new record.
        let mine = self
            .handing_off
            .iter()
            .find(|((t, q), _)| *t == tid && self.parts.get(q).is_some_and(|qp| qp.range.same_range(&p.range)));
        if let Some((&key, _)) = mine {
            if let Some(h) = self.handing_off.remove(&key) {
                let mut b = super::Branch::new(h.msgs, LOCAL);
                b.uncertain = true;
                b.committed = Some((Status::Ok, h.reason));
                // Its commit was not numbered here (it was being handed
                // off): a shadow partition remembers it when it presents
                // it, unless its range's log has it (simulator `--shadow
                // --seed 388`: its server died before the commit, the
                // work came back here, and the other site never had it).
                b.remember = p.shadow.is_some();
                self.branches.insert((tid, part), b);
                if let Some(p) = self.parts.get_mut(&part) {
                    p.waiting.push_back(tid);
                }
            }
            ctx.to_router(from, ToRouter::Adopted { tid, part });
            self.dispatch(ctx, part);
            return;
        }
        // Here already, committed (adopted before, or replayed from a
        // journal taken over): durable here, and presented once. Here
        // undecided (the router's commit was lost with a link): it commits
        // now, and the router hears once that is durable.
        if let Some(b) = self.branches.get(&(tid, part)) {
            if b.committed.is_some() {
                return ctx.to_router(from, ToRouter::Adopted { tid, part });
            }
            return self.commit_adopted_branch(ctx, from, tid, part, reason);
        }
        if let Some(a) = self
            .adopting
            .values_mut()
            .chain(self.adopt_retry.iter_mut())
            .chain(self.adopt_after.values_mut().flatten())
            .find(|a| a.tid == tid && a.part == part)
        {
            a.routers.push(from);
            return;
        }
        let serves = |b: &Backend, m: &Bytes| {
            b.parts
                .values()
                .any(|q| q.facility == facility && q.callout == Callout::No && q.range.contains(m) == Ok(true))
        };
        let (msgs, foreign): (Vec<Bytes>, Vec<Bytes>) = msgs.into_iter().partition(|m| serves(self, m));
        let a = Adopting { part, tid, facility, msgs, foreign, reason, routers: vec![from] };
        if !self.journal {
            self.shadow_number_work(a.tid, &a.facility, &a.msgs);
            return self.adopted(ctx, a);
        }
        // A commit of the same transaction is being written here (another
        // of its branches, committed by a router while this share was
        // handed here whole): the hand-off waits for it. Written beside
        // it, the hand-off's `shadow_number_work` found the commit's
        // numbers already given and wrote that commit's `Seq` records a
        // second time while its own share's range went unnumbered there
        // (remembered later, by the recovered path): a restart then read
        // one hold twice. Once the commit is settled, the hand-off's share
        // is numbered as work handed here alone.
        if self.committing_tx.contains_key(&a.tid) {
            self.adopt_after.entry(a.tid).or_default().push(a);
            return;
        }
        self.write_adopting(ctx, a);
    }

    /// The commit record of `tid` is settled here (durable, or failed and
    /// rolled back): the hand-offs of `tid` that waited for it
    /// (`adopt`) are written now. A commit still on its way (one more write
    /// carries its joined numbers, or a full journal refused it and it is
    /// written again) keeps them waiting.
    pub(super) fn adopt_after_commit(&mut self, ctx: &mut Ctx, tid: Tid) {
        if self.committing_tx.contains_key(&tid) {
            return;
        }
        for a in self.adopt_after.remove(&tid).unwrap_or_default() {
            self.write_adopting(ctx, a);
        }
    }

    /// Write handed-off work's messages and commit (synced) under a new
    /// token; `adopt_written` hears the result.
    fn write_adopting(&mut self, ctx: &mut Ctx, a: Adopting) {
        let mut recs: Vec<_> =
            a.msgs.iter().map(|m| (a.tid, TxRecord::Msg { facility: a.facility.clone(), data: m.clone() })).collect();
        recs.extend(
            a.foreign.iter().map(|m| (a.tid, TxRecord::HandOn { facility: a.facility.clone(), data: m.clone() })),
        );
        // A shadow primary here remembers it for the other site, as any
        // commit its secondary did not take part in.
        recs.extend(self.shadow_number_work(a.tid, &a.facility, &a.msgs));
        recs.push((a.tid, TxRecord::Commit { reason: a.reason }));
        self.next_token += 1;
        let token = self.next_token;
        ctx.journal(recs, true, Some(token));
        self.adopting.insert(token, a);
    }

    /// Handed-off work is durable here (`token`'s write finished).
    pub(super) fn adopt_written(&mut self, ctx: &mut Ctx, token: u64, result: Result<(), Status>) -> bool {
        let Some(a) = self.adopting.remove(&token) else { return false };
        match result {
            Ok(()) => self.adopted(ctx, a),
            // A full journal refused it: the work is committed (the router
            // decided, and the node that had it gave it up), so it may not
            // be dropped. Written again with the refused commit records;
            // the router waits for `Adopted` meanwhile (simulator seed 24 of
            // the disk faults: the hand-off was logged and forgotten, and
            // the client waited for ever).
            Err(Status::Jnlfull) => {
                ctx.log(format!(
                    "handed-off {}: the journal is full; written again in {} ms",
                    a.tid,
                    super::commit::COMMIT_RETRY.as_millis()
                ));
                self.adopt_retry.push(a);
                self.commit_retry_at.get_or_insert(ctx.now + super::commit::COMMIT_RETRY);
            }
            // Any other failed journal write stops the node; the router
            // sends the hand-off again when the node links again.
            Err(status) => ctx.log(format!("handed-off {} could not be made durable: {status:?}", a.tid)),
        }
        true
    }

    /// Write again the hand-offs a full journal refused (with the commits).
    pub(super) fn retry_adopts(&mut self, ctx: &mut Ctx) {
        for a in std::mem::take(&mut self.adopt_retry) {
            self.write_adopting(ctx, a);
        }
    }

    fn adopted(&mut self, ctx: &mut Ctx, a: Adopting) {
        // The ranges numbered in its write (a shadow primary here); any
        // other shadow partition here that presents a share remembers it
        // then (`remember_recovered`).
        let seq_ranges = self.numbered_ranges(a.tid);
        self.remember(a.tid, true, Status::Ok, a.reason);
        self.shadow_committed(ctx, a.tid, a.reason);
        self.note_applied(a.tid, &a.msgs);
        let f = self.finishing.entry(a.tid).or_default();
        f.unclaimed += a.msgs.len();
        f.own = true;
        self.recovered.entry(a.facility.clone()).or_default().push(super::RecoveredTx {
            jid: 0,
            tid: a.tid,
            msgs: a.msgs.into_iter().map(Some).collect(),
            reason: a.reason,
            seq_ranges,
        });
        // A router's own unit of lost work may hold messages of several
        // key ranges (`Router::route_handoffs`): this node keeps all of it
        // (durable above, with the commit), its partitions take what they
        // serve, and a standby partition's share is handed on to its
        // range's active partition like any committed work of a range this
        // node does not serve. From here on that survives the router's
        // loss: the hand-off is sent again to a router that links, and
        // this node's recovery finds the commit in its journal.
        let mut parts: Vec<PartId> =
            self.parts.iter().filter(|(_, p)| p.facility == a.facility).map(|(id, _)| *id).collect();
        parts.sort_by_key(|id| (*id != a.part, *id));
        for part in parts {
            self.claim_recovered(part);
            // A shadow secondary's share is presented here and remembered
            // for the primary's site (`remember_recovered`), which never
            // had it (simulator, `--shadow --seed 5`: a lost primary's
            // commit, durable nowhere, handed whole to a node that was
            // primary of one of its ranges and secondary of the other).
            // Handed on instead, to the range's primary, the router brought
            // it back to this site's active partition, which is this one
            // (seed 135): presented, and never sent across.
            let standby = self.parts.get(&part).is_some_and(|p| p.role == PartRole::Standby);
            if standby && self.branches.get(&(a.tid, part)).is_some_and(|b| b.committed.is_some()) {
                self.hand_off(ctx, a.tid, part);
            }
            self.dispatch(ctx, part);
        }
        // What no partition here claimed (a partition went since the
        // write) goes on with the foreign share.
        let mut foreign = a.foreign;
        if let Some(list) = self.recovered.get_mut(&a.facility) {
            if let Some(rtx) = list.iter_mut().find(|r| r.tid == a.tid) {
                let left: Vec<Bytes> = rtx.msgs.iter_mut().filter_map(Option::take).collect();
                if let Some(f) = self.finishing.get_mut(&a.tid) {
                    f.unclaimed -= left.len().min(f.unclaimed);
                }
                foreign.extend(left);
            }
            list.retain(|r| r.msgs.iter().any(Option::is_some));
        }
        self.hand_on(ctx, a.tid, &a.facility, foreign, a.reason);
        for r in a.routers {
            ctx.to_router(r, ToRouter::Adopted { tid: a.tid, part: a.part });
        }
    }

    /// Messages of committed `tid`, durable here, that no partition of
    /// this node serves: handed on to their ranges' active partitions
    /// through the routers, under a part id of their own that no partition
    /// here has (so `HandedOff` finds this share and nothing else). The
    /// transaction stays unfinished here until a router says the share is
    /// durable there; it is sent again to a router that links
    /// (`resend_handoffs`), and after a restart recovery hands it on again
    /// (its `HandOn` records).
    pub(super) fn hand_on(&mut self, ctx: &mut Ctx, tid: Tid, facility: &str, msgs: Vec<Bytes>, reason: u32) {
        if msgs.is_empty() {
            return;
        }
        self.finishing.entry(tid).or_default().unacked += 1;
        self.next_part += 1;
        let part = self.next_part;
        for r in ctx.topo.routers(facility) {
            let m = ToRouter::HandOff { facility: facility.to_string(), tid, part, msgs: msgs.clone(), reason };
            ctx.to_router(r, m);
        }
        self.handing_off.insert((tid, part), HandingOff { facility: facility.to_string(), msgs, reason });
    }
}

/// This node's place in partition `p`'s priority list (its own list if an
/// operator set one, else the facility's backend order), not counting the
/// range's holder (it is the one being replaced); past the end for a node
/// in neither.
fn rank(ctx: &Ctx, p: &super::Partition) -> usize {
    let me = ctx.topo.name(LOCAL);
    let holder = p.grant.holder.as_deref().unwrap_or("");
    let place = |v: &[String]| {
        let others: Vec<&String> = v.iter().filter(|n| !n.eq_ignore_ascii_case(holder)).collect();
        others.iter().position(|n| n.eq_ignore_ascii_case(me)).unwrap_or(others.len())
    };
    if !p.priority.is_empty() {
        return place(&p.priority);
    }
    ctx.topo.facilities.get(&p.facility).map_or(0, |d| place(d.nodes(RoleList::Backend)))
}

/// Force the next claim over the holder's grant when a majority of the
/// facility's routers (by its definition) report that holder lost.
fn force_over(ctx: &Ctx, p: &super::Partition) -> Option<u64> {
    let routers = ctx.topo.facilities.get(&p.facility).map_or(0, |d| d.nodes(RoleList::Router).len());
    let majority = routers / 2 + 1;
    (p.grant.holder.is_some() || p.grant.epoch > 0)
        .then_some(p.grant.epoch)
        .filter(|_| !p.grant.lost_by.is_empty() && p.grant.lost_by.len() >= majority)
}

/// Another backend node may serve partition `p`'s range (its facility's
/// definition lists one): role changes are worth an operator's log line.
fn shared(ctx: &Ctx, p: &super::Partition) -> bool {
    let me = ctx.topo.name(LOCAL);
    ctx.topo
        .facilities
        .get(&p.facility)
        .is_some_and(|d| d.nodes(RoleList::Backend).iter().any(|n| !n.eq_ignore_ascii_case(me)))
}

/// May the journal of `node` be taken over for a partition of `facility`?
/// The name becomes a directory under the shared journal root: it must be
/// a (normalised) node name, so no '/' or "..", and a backend node of the
/// facility as this node defines it (a grant record or operator naming
/// anything else is refused before any path is built).
pub(super) fn journal_name_ok(ctx: &Ctx, facility: &str, node: &str) -> Result<(), &'static str> {
    if crate::facility::node_name(node).ok().as_deref() != Some(node) {
        return Err("not a node name");
    }
    let backends = ctx.topo.facilities.get(facility).map(|d| d.nodes(RoleList::Backend));
    if !backends.is_some_and(|b| b.iter().any(|n| n == node)) {
        return Err("not a backend node of the facility");
    }
    Ok(())
}
