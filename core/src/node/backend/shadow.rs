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
//!
//! **Shadowing off** (`rtr set partition --noshadow`, docs/shadow.md): the
//! primary record's note ([`crate::authority::Authority::set_note`]) names
//! the site whose primary turned shadowing off. Every claim's answer is
//! weighed with the note read after it (`Output::ReadNote`), so a grant
//! won after the note was written always sees it: a partition of another
//! site gives such a grant back and is neither primary nor secondary
//! (`shd_off`), and while it knows the note stands it only reads the note
//! again, every `CLAIM_RETRY`, without claiming. A partition of the
//! note's site (the primary that wrote it, or a standby of its site that
//! took over) is the primary with shadowing off: it remembers nothing for
//! the other site and tells the routers it is not in step.

use std::time::Instant;

use super::roles::{CLAIM_RETRY, START_DEFER};
use super::{Backend, PartRole, RoleEvent};
use crate::authority::Claim;
use crate::node::{Ctx, NodeRef, Output, PartId, ShadowUp};
use crate::protocol::admin::AdminError;

/// What a range id gains to name the range's primary record.
pub(crate) const PRIMARY_RECORD: &str = "#primary";

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
    /// The range's shadowing is off, as last read from (or written to) the
    /// primary record's note: the site that turned it off.
    pub(crate) off: Option<String>,
}

impl ShadowRole {
    pub(crate) fn new(range_id: &str, site: &str, policy: FailoverPolicy) -> ShadowRole {
        ShadowRole {
            site: site.to_string(),
            rid: format!("{range_id}{PRIMARY_RECORD}"),
            policy,
            ..ShadowRole::default()
        }
    }

    /// The authority's name of site `site`'s slot of range `range_id`.
    pub(crate) fn slot_rid(range_id: &str, site: &str) -> String {
        format!("{range_id}@{site}")
    }

    /// What the routers hear of it (`ToRouter::PartitionUp::shadow`).
    /// `in_sync`: nothing is kept for the other site (`Backend::in_sync`);
    /// a primary with shadowing off is never in step (its secondary, if
    /// one came, would have missed what it committed alone).
    /// `lowest`: the lowest primary series this node keeps entries of
    /// (`Backend::lowest_series`).
    pub(crate) fn up(&self, in_sync: bool, lowest: u64) -> ShadowUp {
        ShadowUp {
            site: self.site.clone(),
            primary: if self.side == Side::Primary { self.epoch } else { 0 },
            in_sync: in_sync && self.off.is_none(),
            off: self.off.is_some(),
            lowest,
        }
    }

    /// Shadowing is off, turned off at another site: this partition may
    /// not be the primary.
    pub(crate) fn off_elsewhere(&self) -> bool {
        self.off.as_ref().is_some_and(|site| *site != self.site)
    }

    /// What asks the authority for this partition's place: while shadowing
    /// is known off elsewhere, the note alone; else a claim (whose answer
    /// is weighed with the note read after it).
    fn ask(&self) -> Output {
        if self.off_elsewhere() {
            Output::ReadNote { range: self.rid.clone(), then: None }
        } else {
            Output::Claim { range: self.rid.clone(), force_over: None }
        }
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
                ctx.output(s.ask());
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
    /// primary record: weighed once the record's note is read after it
    /// (`shadow_note_read`), so that a grant won after shadowing was
    /// turned off elsewhere is never used.
    pub(super) fn shadow_claimed(&mut self, ctx: &mut Ctx, part: PartId, result: Result<Claim, String>) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        let active = p.role == PartRole::Active;
        let label = p.label(part);
        let Some(s) = p.shadow.as_mut() else { return };
        match result {
            Err(why) => {
                s.claiming = false;
                ctx.log(format!("shadow partition {label}: no answer from the role authority: {why}"));
                s.retry_at = Some(ctx.now + CLAIM_RETRY);
            }
            Ok(Claim::Granted { epoch, .. }) if !active => {
                // No longer active for its site since it claimed: given back.
                s.claiming = false;
                ctx.output(Output::ReleaseRole { range: s.rid.clone(), epoch });
            }
            // Still claiming until the note is read.
            Ok(claim) => ctx.output(Output::ReadNote { range: s.rid.clone(), then: Some(claim) }),
        }
    }

    /// The authority's answer to `Output::ReadNote` for primary record
    /// `rid`, with the claim answer it was read for (none: a read alone,
    /// while shadowing is known off elsewhere).
    pub(crate) fn shadow_note_read(
        &mut self,
        ctx: &mut Ctx,
        rid: &str,
        then: Option<Claim>,
        result: Result<Option<String>, String>,
    ) {
        let Some(part) = self.part_of_primary(rid) else {
            // The partition went meanwhile: a grant won for it is given
            // back (the primary record is never taken over with a journal).
            if let Some(Claim::Granted { epoch, .. }) = then {
                ctx.output(Output::ReleaseRole { range: rid.to_string(), epoch });
            }
            return;
        };
        let Some(p) = self.parts.get_mut(&part) else { return };
        let active = p.role == PartRole::Active;
        let label = p.label(part);
        let Some(s) = p.shadow.as_mut() else { return };
        s.claiming = false;
        let note = match result {
            Ok(note) => note,
            Err(why) => {
                // Not known whether shadowing is off: a grant is not used.
                ctx.log(format!("shadow partition {label}: cannot read the primary record's note: {why}"));
                if let Some(Claim::Granted { epoch, .. }) = then {
                    ctx.output(Output::ReleaseRole { range: s.rid.clone(), epoch });
                }
                s.retry_at = Some(ctx.now + CLAIM_RETRY);
                return;
            }
        };
        let changed = s.off != note;
        if changed {
            match &note {
                Some(site) => ctx.log(format!(
                    "shadow partition {label}: shadowing of its range is off (turned off at site {site})"
                )),
                None => ctx.log(format!("shadow partition {label}: shadowing of its range is on")),
            }
            s.off = note;
        }
        let then = match then {
            Some(Claim::Granted { epoch, .. }) if !active => {
                ctx.output(Output::ReleaseRole { range: s.rid.clone(), epoch });
                return;
            }
            Some(claim) => claim,
            // A primary with shadowing off reads the note again and again:
            // an operator may turn it on at a standby of its site.
            None if s.side == Side::Primary => {
                if s.off.is_some() {
                    s.retry_at = Some(ctx.now + CLAIM_RETRY);
                }
                if changed {
                    self.announce(ctx, part);
                    self.restart_log(ctx, rid);
                }
                return;
            }
            None if s.off_elsewhere() => {
                s.retry_at = Some(ctx.now + CLAIM_RETRY);
                if changed {
                    self.announce(ctx, part);
                }
                return;
            }
            // Turned on again (or off at this site): claim now.
            None => {
                if active {
                    s.claiming = true;
                    ctx.output(s.ask());
                }
                return;
            }
        };
        if s.off_elsewhere() {
            if let Claim::Granted { epoch, .. } = then {
                ctx.log(format!(
                    "shadow partition {label}: primary grant {epoch} given back: shadowing is off, turned off at \
                     site {} (this site's database misses what was committed since)",
                    s.off.as_deref().unwrap_or("?")
                ));
                ctx.output(Output::ReleaseRole { range: s.rid.clone(), epoch });
            }
            s.retry_at = Some(ctx.now + CLAIM_RETRY);
            let was = std::mem::take(&mut s.side);
            if was != Side::Unknown {
                // A secondary no more: neither side while shadowing is off.
                s.holder = None;
                s.gone_since = None;
            }
            if changed || was != Side::Unknown {
                // The routers hear it is off: no work, no primary told of
                // a secondary.
                self.announce(ctx, part);
            }
            return;
        }
        self.shadow_placed(ctx, part, then);
        // The primary with shadowing off reads the note again and again
        // (`retry_shadow_claims`).
        if let Some(s) = self.parts.get_mut(&part).and_then(|p| p.shadow.as_mut()) {
            if s.side == Side::Primary && s.off.is_some() {
                s.retry_at = Some(ctx.now + CLAIM_RETRY);
            }
        }
    }

    /// A claim's answer, the note read after it allowing: the partition's
    /// place in the pair.
    fn shadow_placed(&mut self, ctx: &mut Ctx, part: PartId, claim: Claim) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        let facility = p.facility.clone();
        let servers = p.servers.clone();
        let label = p.label(part);
        let Some(s) = p.shadow.as_mut() else { return };
        let before = s.side;
        match claim {
            Claim::Granted { epoch, previous } => {
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
            Claim::Held(g) => {
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
            if active && !s.claiming && s.side == Side::Primary && s.off.is_some() {
                // Shadowing off at this primary: whether it is still off.
                s.claiming = true;
                ctx.output(Output::ReadNote { range: s.rid.clone(), then: None });
                continue;
            }
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
                    ctx.output(s.ask());
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

impl Backend {
    /// `Node::shadowing_note`: RTR's preconditions of `SET PARTITION
    /// /NOSHADOW` (only at the active member running alone: a shadow
    /// primary with no secondary linked) and `/SHADOW` (at any node with a
    /// partition of the range: the active member, its standbys, or the
    /// other site's, whose operator then accepts its database as it is).
    pub(crate) fn shadowing_note(
        &self,
        facility: &str,
        id: u64,
        on: bool,
    ) -> Result<Option<(String, Option<String>)>, AdminError> {
        let Some(p) = self.parts.get(&id).filter(|p| p.facility == facility) else {
            return Err(AdminError::no_partition(facility, id));
        };
        let label = p.label(id);
        let Some(s) = p.shadow.as_ref() else {
            if on {
                return Err(AdminError::Unsupported(format!(
                    "partition {label} is not a shadow partition (its servers did not open with RTR_F_OPE_SHADOW): \
                     it cannot be shadowed"
                )));
            }
            return Ok(None);
        };
        if on {
            return Ok(Some((s.rid.clone(), None)));
        }
        if p.role != PartRole::Active || s.side != Side::Primary {
            let what = match (&p.role, s.side) {
                (PartRole::Active, Side::Secondary) => "the secondary",
                (PartRole::Active, _) if s.off_elsewhere() => "shadowed no more (turned off at the other site)",
                (PartRole::Active, _) => "claiming its range's primary record",
                _ => "not active for its site (a standby, or becoming active)",
            };
            return Err(AdminError::InvalidStateChange(format!(
                "partition {label} is {what}: shadowing is turned off at the shadow primary's node, while it runs \
                 alone (remember mode)"
            )));
        }
        if !s.partner_by.is_empty() {
            return Err(AdminError::InvalidStateChange(format!(
                "partition {label}: its secondary is linked; stop the other site's servers first (shadowing is \
                 turned off only while the primary runs alone)"
            )));
        }
        Ok(Some((s.rid.clone(), Some(s.site.clone()))))
    }

    /// `Node::shadowing_set`: the note is durable; this node's partition
    /// of the range follows it at once (the other nodes read it at their
    /// next claim, or every `CLAIM_RETRY` while it is off).
    pub(crate) fn shadowing_set(
        &mut self,
        ctx: &mut Ctx,
        facility: &str,
        id: u64,
        on: bool,
    ) -> Result<String, AdminError> {
        let Some(p) = self.parts.get_mut(&id).filter(|p| p.facility == facility) else {
            return Err(AdminError::no_partition(facility, id));
        };
        let label = p.label(id);
        let active = p.role == PartRole::Active;
        let Some(s) = p.shadow.as_mut() else {
            return Ok(format!("partition {label} is not a shadow partition: nothing to turn off"));
        };
        let rid = s.rid.clone();
        let note = (!on).then(|| s.site.clone());
        let changed = s.off != note;
        s.off = note;
        let side = s.side;
        if on {
            ctx.log(format!("shadow partition {label}: shadowing of its range turned on by an operator"));
            if side == Side::Primary {
                s.retry_at = None;
            } else if active && !s.claiming {
                // At once rather than at the next retry.
                s.retry_at = Some(ctx.now);
            }
        } else {
            ctx.log(format!(
                "shadow partition {label}: shadowing of its range turned off by an operator: nothing is \
                 remembered for the other site until it is turned on again"
            ));
            s.retry_at = Some(ctx.now + CLAIM_RETRY);
        }
        if changed {
            self.announce(ctx, id);
            if on {
                self.restart_log(ctx, &rid);
            }
        }
        let backlog = self.shadow_backlog(&rid);
        Ok(if on {
            format!(
                "partition {label}: shadowing on; {backlog} commit(s) remembered here go to the other site first, \
                 then it shadows live work"
            )
        } else {
            format!(
                "partition {label}: shadowing off: the other site's partition neither works as a secondary nor \
                 becomes primary until it is turned on again; {backlog} commit(s) still remembered (drop them with \
                 rtr set transaction '*' --state pri_done --new-state done)"
            )
        })
    }
}
