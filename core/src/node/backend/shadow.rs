//! A shadowed key range's roles at this node (docs/shadow.md, stage 1).
//!
//! A partition opened with `RTR_F_OPE_SHADOW` claims its **site slot**
//! (`<range id>@<site>`) as any partition claims its range: one active
//! partition per site, standbys within the site, the same journal takeover
//! (`roles.rs`). Once active for its site it claims the range's **primary
//! record** (`<range id>#primary`): granted, it is the primary (its site
//! orders the range's transactions); held by another node, it is the
//! secondary, and claims again every `CLAIM_RETRY` (the record's grant
//! frees when the primary's node is gone: its lock or lease goes with it).
//! The primary record is never taken over with a journal: the other site
//! cannot read it, and the secondary needs nothing of it (every commit it
//! took part in is its own, and the rest is the primary site's backlog).
//!
//! Whenever the partition's place changes (`announce`), `shadow_sync`
//! brings the primary record in line: an active partition with no side
//! claims it; one no longer active gives it back.

use std::time::Instant;

use super::roles::{CLAIM_RETRY, START_DEFER};
use super::{Backend, PartRole, RoleEvent};
use crate::authority::Claim;
use crate::node::{Ctx, NodeRef, Output, PartId, ShadowUp};

/// Where a shadow partition stands in its pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Side {
    /// Not active for its site, or its primary claim is unanswered.
    #[default]
    Unknown,
    /// Holds the primary record's grant `epoch`.
    Primary,
    /// Another site's node holds the primary record.
    Secondary,
}

/// What a shadow secondary does when its primary's node is lost
/// (docs/shadow.md, "Failover policy"; RTR's `fail_to_standby` and
/// `fail_to_shadow`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailoverPolicy {
    /// A standby of the primary's site takes over: the secondary claims
    /// the primary record only `START_DEFER` after the authority said its
    /// holder is gone, so that standby (which recovers the site's journal
    /// first) can take it before. The default, as RTR's (since the twelfth
    /// session: the catch-up holes its timing opened are closed,
    /// docs/shadow.md).
    #[default]
    Standby,
    /// The secondary claims at once (a standby of the lost primary's site
    /// that takes that site's slot and claims first still wins).
    Shadow,
}

/// A shadow partition's pair role (`Partition::shadow`).
#[derive(Clone, Debug, Default)]
pub(crate) struct ShadowRole {
    /// This node's site: its slot is `<range id>@<site>`.
    pub(crate) site: String,
    /// The authority's name for the range's primary record.
    pub(crate) rid: String,
    pub(crate) side: Side,
    /// Primary: the record's grant held. Secondary: the holder's grant as
    /// last heard.
    pub(crate) epoch: u64,
    /// Secondary: the primary's node.
    pub(crate) holder: Option<String>,
    pub(crate) claiming: bool,
    pub(crate) retry_at: Option<Instant>,
    /// Primary: the routers that report a secondary linked to them (the
    /// pair is whole while any does; alone, the primary remembers).
    pub(crate) partner_by: Vec<NodeRef>,
    pub(crate) policy: FailoverPolicy,
    /// Secondary under `FailoverPolicy::Standby`: when the authority first
    /// said the primary's holder (grant `epoch`) is gone; it claims
    /// `START_DEFER` after.
    pub(crate) gone_since: Option<Instant>,
}

impl ShadowRole {
    pub(crate) fn new(range_id: &str, site: &str, policy: FailoverPolicy) -> ShadowRole {
        ShadowRole { site: site.to_string(), rid: format!("{range_id}#primary"), policy, ..ShadowRole::default() }
    }

    /// The authority's name of site `site`'s slot of range `range_id`.
    pub(crate) fn slot_rid(range_id: &str, site: &str) -> String {
        format!("{range_id}@{site}")
    }

    /// What the routers hear of it (`ToRouter::PartitionUp::shadow`).
    /// `in_sync`: nothing is kept for the other site (`Backend::in_sync`).
    pub(crate) fn up(&self, in_sync: bool) -> ShadowUp {
        ShadowUp { site: self.site.clone(), primary: if self.side == Side::Primary { self.epoch } else { 0 }, in_sync }
    }
}

impl Backend {
    /// The partition's place changed: its primary record follows (claimed
    /// when it is active for its site, given back when it is not).
    pub(super) fn shadow_sync(&mut self, ctx: &mut Ctx, part: PartId) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        let active = p.role == PartRole::Active;
        let Some(s) = p.shadow.as_mut() else { return };
        if active {
            if s.side == Side::Unknown && !s.claiming {
                s.claiming = true;
                s.retry_at = None;
                ctx.output(Output::Claim { range: s.rid.clone(), force_over: None });
            }
            return;
        }
        let was = std::mem::take(&mut s.side);
        let rid = s.rid.clone();
        s.holder = None;
        s.gone_since = None;
        s.retry_at = None;
        s.partner_by.clear();
        if was == Side::Primary {
            ctx.log(format!(
                "shadow partition {part}: no longer active for its site: primary grant {} given back",
                s.epoch
            ));
            ctx.output(Output::ReleaseRole { range: s.rid.clone(), epoch: s.epoch });
        }
        self.let_follow_holds_go(ctx, &rid);
    }

    /// The authority's answer to this partition's claim of its range's
    /// primary record.
    pub(super) fn shadow_claimed(&mut self, ctx: &mut Ctx, part: PartId, result: Result<Claim, String>) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        let active = p.role == PartRole::Active;
        let facility = p.facility.clone();
        let servers = p.servers.clone();
        let label = p.label(part);
        let Some(s) = p.shadow.as_mut() else { return };
        s.claiming = false;
        let before = s.side;
        match result {
            Err(why) => {
                ctx.log(format!("shadow partition {label}: no answer from the role authority: {why}"));
                s.retry_at = Some(ctx.now + CLAIM_RETRY);
                return;
            }
            Ok(Claim::Granted { epoch, .. }) if !active => {
                // No longer active for its site since it claimed: given back.
                ctx.output(Output::ReleaseRole { range: s.rid.clone(), epoch });
                return;
            }
            Ok(Claim::Granted { epoch, previous }) => {
                s.side = Side::Primary;
                s.epoch = epoch;
                s.holder = None;
                s.gone_since = None;
                s.retry_at = None;
                let how = match previous {
                    None => "the range's first".to_string(),
                    Some(g) if g.released => format!("{} gave grant {} back", g.holder, g.epoch),
                    Some(g) => format!("{} held grant {} and is gone", g.holder, g.epoch),
                };
                ctx.log(format!("shadow partition {label}: primary under grant {epoch} ({how})"));
            }
            Ok(Claim::Held(g)) => {
                s.side = Side::Secondary;
                if s.epoch != g.epoch || before != Side::Secondary {
                    ctx.log(format!("shadow partition {label}: secondary of {} (primary grant {})", g.holder, g.epoch));
                    // A new primary (a standby of its site took over):
                    // whether its holder is gone is asked afresh.
                    s.gone_since = None;
                }
                s.epoch = g.epoch;
                s.holder = Some(g.holder);
                s.retry_at = Some(ctx.now + CLAIM_RETRY);
            }
        }
        let rid = s.rid.clone();
        if s.side != before {
            let evtnum = if s.side == Side::Primary { crate::events::SRPRIMARY } else { crate::events::SRSECONDARY };
            for chan in servers {
                self.role_events.push(RoleEvent { facility: facility.clone(), evtnum, chan });
            }
            self.announce(ctx, part);
            // What this node keeps for the other site (remembered as its
            // primary, now or before) goes there from its release point.
            self.restart_log(ctx, &rid);
        }
    }

    /// The authority says this node no longer holds primary grant `epoch`
    /// (its lease lapsed): it is not the primary any more, and claims again.
    pub(super) fn shadow_role_lost(&mut self, ctx: &mut Ctx, part: PartId, epoch: u64) {
        let Some(s) = self.parts.get_mut(&part).and_then(|p| p.shadow.as_mut()) else { return };
        if s.side != Side::Primary || s.epoch != epoch {
            return;
        }
        ctx.log(format!("shadow partition {part}: primary grant {epoch} lost"));
        s.side = Side::Unknown;
        s.partner_by.clear();
        self.announce(ctx, part);
    }

    /// A router says whether a secondary of this primary's range is linked
    /// to it: SRSHADOWGAIN when the pair becomes whole, SRSHADOWLOST when
    /// the last router that saw the secondary stops seeing it.
    pub(super) fn shadow_partner(&mut self, ctx: &mut Ctx, from: NodeRef, part: PartId, linked: bool) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        let facility = p.facility.clone();
        let servers = p.servers.clone();
        let label = p.label(part);
        let Some(s) = p.shadow.as_mut() else { return };
        if s.side != Side::Primary {
            return;
        }
        let before = !s.partner_by.is_empty();
        s.partner_by.retain(|r| *r != from);
        if linked {
            s.partner_by.push(from);
        }
        let after = !s.partner_by.is_empty();
        let rid = s.rid.clone();
        if linked {
            // A secondary (again) within reach: what is kept for it goes
            // from the release point.
            self.restart_log(ctx, &rid);
        }
        if before == after {
            return;
        }
        let evtnum = if after { crate::events::SRSHADOWGAIN } else { crate::events::SRSHADOWLOST };
        ctx.log(format!(
            "shadow partition {label}: {}",
            if after { "its secondary is up: shadowed" } else { "its secondary is gone: remembering for it" }
        ));
        for chan in servers {
            self.role_events.push(RoleEvent { facility: facility.clone(), evtnum, chan });
        }
    }

    /// Primary claims due again (secondaries, and claims that got no
    /// answer).
    pub(super) fn retry_shadow_claims(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        let mut due: Vec<PartId> = self
            .parts
            .iter()
            .filter(|(_, p)| p.shadow.as_ref().is_some_and(|s| s.retry_at.is_some_and(|t| t <= now)))
            .map(|(id, _)| *id)
            .collect();
        due.sort();
        for part in due {
            let Some(p) = self.parts.get_mut(&part) else { continue };
            let active = p.role == PartRole::Active;
            let Some(s) = p.shadow.as_mut() else { continue };
            s.retry_at = None;
            if !active || s.claiming || s.side == Side::Primary {
                continue;
            }
            // Under fail_to_standby a secondary asks whether the primary's
            // holder is gone before it claims, and claims only
            // `START_DEFER` after it first heard so: a claim would take
            // the record from under the standby of the primary's site,
            // which recovers that site's journal before it claims.
            let defer = s.side == Side::Secondary && s.policy == FailoverPolicy::Standby;
            match s.gone_since {
                Some(t) if defer && now < t + START_DEFER => s.retry_at = Some(t + START_DEFER),
                None if defer => {
                    s.claiming = true;
                    ctx.output(Output::CheckHolder { range: s.rid.clone(), epoch: s.epoch });
                }
                _ => {
                    s.claiming = true;
                    ctx.output(Output::Claim { range: s.rid.clone(), force_over: None });
                }
            }
        }
    }

    /// The authority's answer to a secondary's question whether its
    /// primary's holder (grant `epoch`) is gone (`retry_shadow_claims`).
    pub(super) fn shadow_holder_checked(
        &mut self,
        ctx: &mut Ctx,
        part: PartId,
        epoch: u64,
        result: Result<bool, String>,
    ) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        let label = p.label(part);
        let Some(s) = p.shadow.as_mut() else { return };
        s.claiming = false;
        match result {
            Ok(true) if epoch == s.epoch && s.side == Side::Secondary => {
                if s.gone_since.is_none() {
                    ctx.log(format!(
                        "shadow partition {label}: the primary's node {} (grant {epoch}) is gone: claiming the \
                         primary record in {} ms unless a standby of its site takes it first (fail_to_standby)",
                        s.holder.as_deref().unwrap_or("?"),
                        START_DEFER.as_millis()
                    ));
                }
                let t = *s.gone_since.get_or_insert(ctx.now);
                s.retry_at = Some(t + START_DEFER);
            }
            Ok(_) | Err(_) => {
                s.gone_since = None;
                s.retry_at = Some(ctx.now + CLAIM_RETRY);
            }
        }
    }

    /// The earliest primary claim due.
    pub(super) fn next_shadow_claim(&self) -> Option<Instant> {
        self.parts.values().filter_map(|p| p.shadow.as_ref()?.retry_at).min()
    }

    /// Is `chan` a server of a shadow secondary (its broadcasts are
    /// dropped)?
    pub(crate) fn serves_as_secondary(&self, chan: crate::node::ChanRef) -> bool {
        self.servers
            .get(&chan)
            .and_then(|s| self.parts.get(&s.part))
            .and_then(|p| p.shadow.as_ref())
            .is_some_and(|s| s.side == Side::Secondary)
    }

    /// The shadow partition whose primary record is `rid`.
    pub(super) fn part_of_primary(&self, rid: &str) -> Option<PartId> {
        let mut ids: Vec<PartId> = self
            .parts
            .iter()
            .filter(|(_, p)| p.shadow.as_ref().is_some_and(|s| s.rid == rid))
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids.first().copied()
    }
}
