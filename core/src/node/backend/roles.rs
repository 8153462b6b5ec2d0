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

use super::{Backend, PartRole};
use crate::authority::{Claim, Grant};
use crate::facility::RoleList;
use crate::msgtype::MsgType;
use crate::node::{Callout, Ctx, NodeRef, Output, PartId, ToRouter, LOCAL};
use crate::status::Status;

/// How often a partition that is not active claims again (a holder whose
/// process ended lets its lock go; this is how soon a standby notices
/// without any router's help).
pub const CLAIM_RETRY: Duration = Duration::from_millis(100);

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
    /// A claim is outstanding.
    pub(crate) claiming: bool,
    /// When to claim again (not active, no claim outstanding).
    pub(crate) retry_at: Option<Instant>,
    /// Routers that report the holder of `epoch` lost (and are linked).
    pub(crate) lost_by: Vec<NodeRef>,
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
                "partition {}:{part}: forcing a claim over grant {e} of {}: a majority of routers lost it",
                p.facility,
                p.grant.holder.as_deref().unwrap_or("its holder")
            ));
        }
        ctx.output(Output::Claim { range: p.grant.rid.clone(), force_over });
    }

    /// The authority's answer to this node's claim of range `rid`.
    pub fn claimed(&mut self, ctx: &mut Ctx, rid: &str, result: Result<Claim, String>) {
        let Some(part) = self.part_of(rid) else {
            // The partition went while the claim was out (it is kept
            // meanwhile, so this is a stale answer): a grant won for
            // nothing is given back.
            if let Ok(Claim::Granted { epoch, previous }) = result {
                if previous.is_none_or(|g| g.released || g.holder == ctx.topo.name(LOCAL)) {
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
                    ctx.log(format!("partition {}:{part}: no answer from the role authority: {why}", p.facility));
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

    /// The range's grant is held elsewhere: this partition is its standby
    /// (or, opened with `RTR_F_OPE_NOSTANDBY`, is refused).
    fn standby(&mut self, ctx: &mut Ctx, part: PartId, g: Grant) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        p.grant.retry_at = Some(ctx.now + CLAIM_RETRY);
        if p.grant.epoch != g.epoch {
            p.grant.lost_by.clear();
        }
        let changed = p.role != PartRole::Standby || p.grant.epoch != g.epoch;
        if p.role == PartRole::Active {
            // Only a lost grant makes an active partition claim again.
            ctx.log(format!("partition {}:{part}: grant {} of {} is newer: standby", p.facility, g.epoch, g.holder));
        }
        p.grant.epoch = g.epoch;
        p.grant.holder = Some(g.holder.clone());
        if p.nostandby {
            ctx.log(format!(
                "partition {}:{part}: active on {} (grant {}), and RTR_F_OPE_NOSTANDBY forbids a standby: its \
                 servers are closed",
                p.facility, g.holder, g.epoch
            ));
            return self.close_all(ctx, part, Status::Nostandby);
        }
        if p.role != PartRole::Standby {
            p.role = PartRole::Standby;
            for s in &p.servers {
                self.role_events.push((p.facility.clone(), crate::events::SRSTANDBY, *s));
            }
        }
        if changed {
            ctx.log(format!("partition {}:{part}: standby of {} (grant {})", p.facility, g.holder, g.epoch));
            self.announce(ctx, part);
        }
    }

    /// This node holds the range's grant `epoch`: active, after recovering
    /// the previous holder's journal unless it released the role or was
    /// this node.
    fn granted(&mut self, ctx: &mut Ctx, part: PartId, epoch: u64, previous: Option<Grant>) {
        let me = ctx.topo.name(LOCAL).to_string();
        let Some(p) = self.parts.get_mut(&part) else { return };
        if p.role == PartRole::Active && p.grant.epoch == epoch {
            return; // a retried claim's answer
        }
        p.grant.epoch = epoch;
        p.grant.holder = None;
        p.grant.lost_by.clear();
        p.grant.retry_at = None;
        let lost = previous.as_ref().filter(|g| !g.released && g.holder != me).map(|g| g.holder.clone());
        let how = match &previous {
            None => "the range's first grant".to_string(),
            Some(g) if g.released => format!("{} released grant {}", g.holder, g.epoch),
            Some(g) if g.holder == me => format!("this node held grant {} before it restarted", g.epoch),
            Some(g) => format!("{} held grant {} and is gone", g.holder, g.epoch),
        };
        ctx.log(format!("partition {}:{part}: active under grant {epoch} ({how})", p.facility));
        match lost {
            // A holder whose name was lost with a torn grant cannot be
            // recovered: the partition waits for an operator.
            Some(node) if node.is_empty() => {
                p.role = PartRole::NoJournal(node, "the previous holder's grant record is damaged".into());
            }
            Some(node) if !self.adopted.contains_key(&node) => {
                let busy = self.parts.values().any(|q| q.role == PartRole::Recovering(node.clone()));
                if let Some(p) = self.parts.get_mut(&part) {
                    p.role = PartRole::Recovering(node.clone());
                }
                if !busy {
                    self.next_jid += 1;
                    ctx.output(Output::Takeover { node, jid: self.next_jid });
                }
            }
            _ => self.set_active(ctx, part),
        }
    }

    /// The authority says this node lost grant `epoch` of range `rid`.
    pub fn role_lost(&mut self, ctx: &mut Ctx, rid: &str, epoch: u64) {
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
        if p.grant.epoch != epoch || !matches!(p.role, PartRole::Active | PartRole::Recovering(_)) {
            return;
        }
        ctx.log(format!("partition {}:{part}: no longer active (grant {epoch}): {why}", p.facility));
        p.role = PartRole::Standby;
        p.grant.holder = None;
        p.grant.retry_at = Some(ctx.now + CLAIM_RETRY);
        for s in &p.servers {
            self.role_events.push((p.facility.clone(), crate::events::SRSTANDBY, *s));
        }
        self.announce(ctx, part);
    }

    /// A router reports the holder of grant `epoch` of this standby's range
    /// lost (or linked again). Lost: claim at once, by force once a
    /// majority of the facility's routers say so.
    pub(super) fn holder_notice(&mut self, ctx: &mut Ctx, from: NodeRef, part: PartId, epoch: u64, linked: bool) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        if matches!(p.role, PartRole::Active | PartRole::Recovering(_) | PartRole::NoJournal(..)) {
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
            return;
        }
        p.grant.lost_by.push(from);
        let routers = ctx.topo.facilities.get(&p.facility).map_or(0, |d| d.nodes(RoleList::Router).len());
        let majority = routers / 2 + 1;
        let force = (p.grant.lost_by.len() >= majority).then_some(epoch);
        self.claim(ctx, part, force);
    }

    /// A router's link went: its word about holders no longer counts.
    pub(super) fn forget_router(&mut self, router: NodeRef) {
        for p in self.parts.values_mut() {
            p.grant.lost_by.retain(|r| *r != router);
        }
    }

    /// Claims due again (partitions not active, no claim outstanding).
    pub(super) fn retry_claims(&mut self, ctx: &mut Ctx) {
        let due: Vec<PartId> = self
            .parts
            .iter()
            .filter(|(_, p)| p.grant.retry_at.is_some_and(|t| t <= ctx.now))
            .map(|(id, _)| *id)
            .collect();
        for part in due {
            self.claim(ctx, part, None);
        }
    }

    /// The earliest claim retry.
    pub(super) fn next_claim(&self) -> Option<Instant> {
        self.parts.values().filter_map(|p| p.grant.retry_at).min()
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
        if p.grant.claiming || matches!(p.role, PartRole::Recovering(_) | PartRole::NoJournal(..)) {
            return false;
        }
        if p.role != PartRole::Active || p.callout != Callout::No {
            return true;
        }
        let work_left = self.branches.keys().any(|(_, q)| *q == part)
            || self.recovered.get(&p.facility).is_some_and(|v| !v.is_empty());
        if work_left {
            return false;
        }
        ctx.log(format!(
            "partition {}:{part}: its last server left; grant {} released for a standby",
            p.facility, p.grant.epoch
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
        ctx.log(format!("partition {}:{part}: refused a standby (RTR_F_OPE_NOSTANDBY)", p.facility));
        self.close_all(ctx, part, Status::Nostandby);
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
        })
    }
}
