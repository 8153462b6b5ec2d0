//! The backend partitions as this router knows them: which one is active
//! per key range (under the newest grant), standbys told when the holder
//! is lost, and transactions held while a range has only a standby,
//! driven again once it is active.

use super::{route, standby_covers, Router, Tx, VoteState};
use crate::keyseg::KeyRange;
use crate::node::{Callout, Ctx, PartKey, ShadowUp, ToBackend};
use crate::status::Status;
use crate::tid::Tid;

/// A partition as this router knows it.
pub(super) struct RPart {
    pub(super) key: PartKey,
    pub(super) range: KeyRange,
    pub(super) active: bool,
    /// Active: the grant it holds. Otherwise the holder's grant as its
    /// backend last heard (0: none).
    pub(super) epoch: u64,
    /// May neither be nor have a standby.
    pub(super) nostandby: bool,
    /// A call-out partition: never routed to by key.
    pub(super) callout: Callout,
    /// A shadow partition's site and primary grant (docs/shadow.md): its
    /// grant (`epoch`) is its site's slot of the range; transactions of the
    /// range go to the active one holding the newest primary grant.
    pub(super) shadow: Option<ShadowUp>,
}

impl RPart {
    /// Of the same grant: the same key range and, shadowed, the same site
    /// (each site of a shadowed range has its own active partition and
    /// standbys).
    pub(super) fn same_slot(&self, range: &KeyRange, shadow: Option<&ShadowUp>) -> bool {
        self.range.same_range(range) && self.shadow.as_ref().map(|s| &s.site) == shadow.map(|s| &s.site)
    }

    /// A shadow partition that is active for its site and holds the
    /// range's primary grant: the one transactions go to.
    pub(super) fn primary(&self) -> u64 {
        self.shadow.as_ref().map_or(0, |s| s.primary)
    }
}

/// The role authority's name of the grant partitions of `range` (shadowed:
/// at `shadow`'s site) hold.
fn slot_rid(facility: &str, range: &KeyRange, shadow: Option<&ShadowUp>) -> String {
    let rid = crate::authority::range_id(facility, range);
    match shadow {
        Some(s) => format!("{rid}@{}", s.site),
        None => rid,
    }
}

/// The newest grant of a key range this router has seen.
pub(super) struct RangeGrant {
    pub(super) epoch: u64,
    /// The active partition under it, while its node is linked and it is
    /// up; `None` once lost (standbys that announce themselves hear so).
    pub(super) holder: Option<PartKey>,
}

impl Router {
    /// The backend partition `key` of `facility` went.
    pub(super) fn partition_down(&mut self, ctx: &mut Ctx, facility: &str, key: PartKey) {
        if let Some(gone) = self.remove_partition(facility, key) {
            self.holder_lost(ctx, facility, &gone);
        }
        self.shadow_partners(ctx, facility);
        self.release_held(ctx, facility);
    }

    /// A backend's partition says where it stands. An active one under a
    /// grant older than the newest this router saw is refused
    /// (`Superseded`) and not routed to; one under a newer grant replaces
    /// the range's active partition (which is told so) and its standbys
    /// hear that the holder is linked. A standby hears whether the range's
    /// holder is lost here, and is refused when the active partition
    /// allows no standby.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn partition_up(
        &mut self,
        ctx: &mut Ctx,
        facility: String,
        key: PartKey,
        range: KeyRange,
        active: bool,
        epoch: u64,
        nostandby: bool,
        callout: Callout,
        shadow: Option<ShadowUp>,
    ) {
        if let Some(s) = &shadow {
            // Before the newcomer's answers are asked for: they are weighed
            // by site (`replaced_elsewhere`).
            self.sites.insert(ctx.topo.name(key.0).to_string(), s.site.clone());
        }
        self.probe_newcomer(ctx, key.0, &facility);
        self.inquire_newcomer(ctx, key.0);
        let before = self.partition_count(&facility);
        let v = self.partitions.entry(facility.clone()).or_default();
        let was_active = v.iter().any(|p| p.key == key && p.active);
        let was_primary = v.iter().find(|p| p.key == key && p.active).map_or(0, RPart::primary);
        v.retain(|p| p.key != key);
        if callout != Callout::No {
            // Call-outs have no key range to share: always active.
            v.push(RPart { key, range, active, epoch, nostandby, callout, shadow: None });
            return;
        }
        let rid = slot_rid(&facility, &range, shadow.as_ref());
        let mut active = active;
        let mut superseded: Vec<PartKey> = Vec::new();
        if active {
            let newest = self.grants.get(&rid).map_or(0, |g| g.epoch);
            if epoch < newest {
                ctx.to_backend(key.0, ToBackend::Superseded { part: key.1, epoch: newest });
                active = false;
            } else {
                self.grants.insert(rid, RangeGrant { epoch, holder: Some(key) });
                for q in v.iter_mut().filter(|q| q.same_slot(&range, shadow.as_ref())) {
                    if q.active {
                        // Active under an older grant: no longer routed to.
                        q.active = false;
                        ctx.to_backend(q.key.0, ToBackend::Superseded { part: q.key.1, epoch });
                        superseded.push(q.key);
                    } else {
                        ctx.to_backend(q.key.0, ToBackend::Holder { part: q.key.1, epoch, linked: true });
                    }
                }
            }
        } else {
            if let Some(g) = self.grants.get(&rid).filter(|g| g.holder.is_none() && g.epoch >= epoch) {
                ctx.to_backend(key.0, ToBackend::Holder { part: key.1, epoch: g.epoch, linked: false });
            }
            // An active partition of the range is linked here: the newcomer
            // hears so (one deferring its claim claims now, as a standby).
            if let Some(h) = v.iter().find(|q| q.active && q.same_slot(&range, shadow.as_ref()) && q.key.0 != key.0) {
                ctx.to_backend(key.0, ToBackend::Holder { part: key.1, epoch: h.epoch, linked: true });
            }
            if v.iter().any(|q| q.active && q.nostandby && q.same_slot(&range, shadow.as_ref()) && q.key.0 != key.0) {
                ctx.to_backend(key.0, ToBackend::Refused { part: key.1 });
            }
        }
        v.push(RPart { key, range: range.clone(), active, epoch, nostandby, callout, shadow: shadow.clone() });
        self.shadow_partners(ctx, &facility);
        for old in superseded {
            self.follow_range(ctx, old);
        }
        if active && !was_active {
            self.range_events.push((facility.clone(), crate::events::KEYRANGEGAIN));
            if before == 0 {
                self.range_events.push((facility.clone(), crate::events::FACREADY));
            }
            self.route_handoffs(ctx, &facility);
            self.release_held(ctx, &facility);
        } else if active && shadow.as_ref().is_some_and(|s| s.primary > was_primary) {
            // A shadow partition already active for its site became its
            // range's primary (a secondary that won the primary record):
            // the work held while the range had none, and hand-offs waiting
            // for one, go to it now. Without this they waited for the next
            // partition to become active, which may never come (simulator
            // seed 73 with --shadow, one router: no outcome).
            self.route_handoffs(ctx, &facility);
            self.release_held(ctx, &facility);
        } else if !active && was_active {
            self.range_lost(&facility);
            // It gave its grant up (its last server left): its standbys claim.
            let gone = RPart { key, range: range.clone(), active: true, epoch, nostandby, callout, shadow };
            self.holder_lost(ctx, &facility, &gone);
        }
    }

    /// Partition `old` is no longer its key range's active one (a newer
    /// grant's partition replaced it). Branches there not yet asked for a
    /// vote follow the range at once, from their first message, to the new
    /// active partition (which the client's next messages reach too): left
    /// there, the client's next message of the same range started a second
    /// branch of that range on the new partition, and the old branch's work,
    /// moved when its node's link went, joined that branch behind it, out
    /// of order and after its vote (simulator seed 7194, one router: the
    /// server never voted again and the client waited for ever). The old
    /// partition's node, if it still runs, drops its copy when it hears it
    /// is superseded (`Backend::demote`). Branches asked to vote stay: no
    /// message follows a vote request, and a lost node's vote is settled by
    /// `peer_lost`.
    fn follow_range(&mut self, ctx: &mut Ctx, old: PartKey) {
        let mut tids: Vec<Tid> = self
            .txs
            .iter()
            .filter(|(_, tx)| tx.branches.iter().any(|b| b.part == old && b.vote == VoteState::Pending))
            .map(|(t, _)| *t)
            .collect();
        tids.sort();
        for tid in tids {
            let Some(tx) = self.txs.get_mut(&tid) else { continue };
            let Some(i) = tx.branches.iter().position(|b| b.part == old) else { continue };
            let mut b = tx.branches.remove(i);
            tx.redrive.append(&mut b.msgs);
            ctx.log(format!("{tid}: its work on a superseded partition follows the key range"));
            if self.redrive(ctx, tid) {
                let facility = self.txs.get(&tid).map(|tx| tx.facility.clone()).unwrap_or_default();
                self.release_held(ctx, &facility);
            }
        }
    }

    /// The active partition `gone` is no longer here (its node's link
    /// went, or it went): the range's standbys hear its holder is lost, so
    /// they claim the grant (by force once a majority of routers say so).
    pub(super) fn holder_lost(&mut self, ctx: &mut Ctx, facility: &str, gone: &RPart) {
        if !gone.active || gone.callout != Callout::No {
            return;
        }
        let rid = slot_rid(facility, &gone.range, gone.shadow.as_ref());
        if let Some(g) = self.grants.get_mut(&rid).filter(|g| g.holder == Some(gone.key)) {
            g.holder = None;
        }
        for q in self.partitions.get(facility).into_iter().flatten() {
            if q.same_slot(&gone.range, gone.shadow.as_ref()) && !q.active && q.key.0 != gone.key.0 {
                ctx.to_backend(q.key.0, ToBackend::Holder { part: q.key.1, epoch: gone.epoch, linked: false });
            }
        }
    }

    /// Each shadow primary of `facility` hears whether a secondary of its
    /// range (active for another site) is linked here, when that changes
    /// (`ToBackend::ShadowPartner`): alone, it remembers for it.
    pub(super) fn shadow_partners(&mut self, ctx: &mut Ctx, facility: &str) {
        let Some(v) = self.partitions.get(facility) else { return };
        let mut now: Vec<(PartKey, bool)> = Vec::new();
        for p in v.iter().filter(|p| p.active && p.primary() > 0) {
            let site = p.shadow.as_ref().map(|s| &s.site);
            // A partition of the other site shadowed no more (shadowing
            // off) is no secondary.
            let linked = v.iter().any(|q| {
                q.active
                    && q.primary() == 0
                    && q.range.same_range(&p.range)
                    && q.shadow.as_ref().is_some_and(|s| Some(&s.site) != site && !s.off)
            });
            now.push((p.key, linked));
        }
        // Told once per change; a primary no longer primary here is
        // forgotten, so it hears again when it is one again.
        let told = self.partners_told.entry(facility.to_string()).or_default();
        for (key, linked) in &now {
            if told.get(key) != Some(linked) {
                ctx.to_backend(key.0, ToBackend::ShadowPartner { part: key.1, linked: *linked });
            }
        }
        *told = now.into_iter().collect();
    }

    pub(super) fn range_lost(&mut self, facility: &str) {
        self.range_events.push((facility.to_string(), crate::events::KEYRANGELOSS));
        if self.partition_count(facility) == 0 {
            self.range_events.push((facility.to_string(), crate::events::FACDEAD));
        }
    }

    pub(super) fn remove_partition(&mut self, facility: &str, key: PartKey) -> Option<RPart> {
        let v = self.partitions.get_mut(facility)?;
        let i = v.iter().position(|p| p.key == key)?;
        let p = v.remove(i);
        if p.active && p.callout == Callout::No {
            self.range_lost(facility);
        }
        Some(p)
    }

    /// A key range of `facility` became active (or a partition went):
    /// held transactions go on, in the order they were held (those whose
    /// key still has only a standby are held again; those with no partition
    /// left are rejected).
    pub(super) fn release_held(&mut self, ctx: &mut Ctx, facility: &str) {
        let Some(tids) = self.held.remove(facility) else { return };
        for tid in tids {
            if !self.redrive(ctx, tid) {
                continue;
            }
            let Some(tx) = self.txs.get_mut(&tid) else { continue };
            if tx.client_gone && tx.probe.is_none() && tx.held.as_ref().is_some_and(|h| !h.is_empty()) {
                self.client_left(ctx, tid);
                continue;
            }
            let Some(msgs) = tx.held.take() else { continue };
            let fe = tx.fe;
            for m in msgs {
                self.handle_msg(ctx, fe, m);
            }
        }
    }

    /// Branch `key` of `tid` was dropped by its backend before it voted
    /// (its partition gave up the key range): its messages wait for the
    /// range's next active partition.
    pub(super) fn moved(&mut self, ctx: &mut Ctx, tid: Tid, key: PartKey) {
        if self.drop_secondary(ctx, tid, key, "its partition is no longer active") {
            return;
        }
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        let Some(i) = tx.branches.iter().position(|b| b.part == key) else { return };
        let again =
            tx.branches[i].msgs.first().is_some_and(|(d, _)| route(self.partitions.get(&tx.facility), d) == Ok(key));
        if again {
            // This router still takes that partition for the range's active
            // one (it has not heard otherwise): driving the work there again
            // would only bounce it back. Never expected (a backend announces
            // a role change before it answers `Moved`), so no loop either way.
            return self.abort(ctx, tid, Status::Nodstfnd, 0);
        }
        let mut b = tx.branches.remove(i);
        tx.redrive.append(&mut b.msgs);
        if self.redrive(ctx, tid) {
            // Client messages held meanwhile (none unless it was held
            // already) go on behind the work driven again.
            let facility = self.txs.get(&tid).map(|tx| tx.facility.clone()).unwrap_or_default();
            self.release_held(ctx, &facility);
        }
    }

    /// Undecided `tid` has work to place afresh (lost branches' messages, or
    /// client messages held for a range's active partition), and its
    /// client's frontend left this router. That frontend drives it again
    /// through another router (or this one, later), which probes every
    /// backend first: work placed from here now could start it a second
    /// time where nothing is known of it yet, beside the other router's
    /// (simulator seed 9061, two routers). So nothing more is placed from
    /// here: with no branch yet it is let go, as if it never came; with
    /// branches, it is rolled back, which the next probe hears. (RTR
    /// finishes a transaction whose client voted when its work is all in
    /// place; work that must move no longer has a client to answer to.)
    pub(super) fn client_left(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(tx) = self.txs.get(&tid) else { return };
        let what = if tx.branches.is_empty() { "let go" } else { "rolled back" };
        ctx.log(format!("{tid}: its frontend left this router with work of it still to place: {what} here"));
        if tx.branches.is_empty() {
            self.txs.remove(&tid);
        } else {
            self.abort(ctx, tid, Status::Reqdied, 0);
        }
    }

    /// Drive the lost branches' messages of held transaction `tid` to their
    /// key ranges' active partitions, then ask for the votes the
    /// transaction now needs. False when it must wait on (a range has only
    /// a standby yet: held again) or ended (a range has no partition left:
    /// rejected, `RTR_STS_SRVDIED`, as no server can take its work).
    pub(super) fn redrive(&mut self, ctx: &mut Ctx, tid: Tid) -> bool {
        let Some(tx) = self.txs.get_mut(&tid) else { return false };
        if tx.redrive.is_empty() {
            return true;
        }
        if tx.client_gone {
            self.client_left(ctx, tid);
            return false;
        }
        let fac = tx.facility.clone();
        let parts = self.partitions.get(&fac);
        let mut targets = Vec::new();
        for (data, _) in &tx.redrive {
            match route(parts, data) {
                Ok(part) => targets.push(part),
                Err(Status::Nodstfnd) if standby_covers(parts, data) => {
                    // Client messages that come meanwhile wait behind it.
                    tx.held.get_or_insert_with(Vec::new);
                    let held = self.held.entry(fac).or_default();
                    if !held.contains(&tid) {
                        held.push(tid);
                    }
                    return false;
                }
                Err(_) => {
                    self.abort(ctx, tid, Status::Srvdied, 0);
                    return false;
                }
            }
        }
        if let Some(at) = targets.iter().copied().find(|k| asked_to_vote(tx, parts, *k)) {
            // The range's partition there already has a branch of this
            // transaction (the range moved between two of the client's
            // messages: the later ones went to the new partition while the
            // earlier ones were on their way to the old one, which gave
            // the range up, or was lost or superseded), and that
            // branch's server was asked for its vote. A server takes no
            // message after its prepare, and a yes given before this
            // message does not cover it: added to the branch, the message
            // reached the server after its vote and the router still
            // counted the old yes, with nothing left to ask (simulator
            // `--shadow --faults server --seed 6405`, two routers: the
            // client waited for ever; committed, the server would have
            // applied work it never voted on). The work
            // cannot be presented again to a server that has not voted,
            // so the transaction is rejected, as when no server can take
            // its work: the server that had it exited.
            ctx.log(format!(
                "{tid}: its work placed again goes to {}:{}, where its branch was asked for its vote already: \
                 rejected (RTR_STS_SRVDIED)",
                ctx.topo.name(at.0),
                at.1
            ));
            self.abort(ctx, tid, Status::Srvdied, 0);
            return false;
        }
        let msgs = std::mem::take(&mut tx.redrive);
        for ((data, fl), part) in msgs.into_iter().zip(targets) {
            self.route_message(ctx, tid, part, &data, fl, true);
        }
        let Some(tx) = self.txs.get(&tid) else { return false };
        if tx.client_accepted || tx.prepare.is_some() {
            self.request_votes(ctx, tid);
        }
        true
    }
}

/// Has `tx` a branch at `target`, or at a backend call-out that sees the
/// messages routed there (`Router::route_message`), whose vote was asked
/// for or given? Such a branch's server takes no more messages.
fn asked_to_vote(tx: &Tx, parts: Option<&Vec<RPart>>, target: PartKey) -> bool {
    let sees = |k: PartKey| {
        k == target
            || parts
                .and_then(|v| v.iter().find(|p| p.key == k))
                .is_some_and(|p| p.active && p.callout == Callout::Backend && p.key.0 == target.0)
    };
    tx.branches.iter().any(|b| b.vote != VoteState::Pending && sees(b.part))
}
