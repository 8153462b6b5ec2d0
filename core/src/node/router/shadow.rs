//! A shadowed key range's transactions at its secondary (docs/shadow.md,
//! stage 2).
//!
//! The router places a shadowed range's branch at the range's primary
//! (`route`). Once the client has accepted and the primary's branch voted
//! yes, the same messages go to the range's secondary (the other site's
//! active shadow partition), whose vote is asked at once, durable: the
//! transaction then commits on both by the normal two-phase commit. The
//! secondary's branch is made before the router looks whether every vote is
//! in, so a transaction whose last vote is the primary's never commits
//! without its secondary.
//!
//! A secondary's branch is never placed again by key (by key its range's
//! partition is the primary): lost with its node, it is dropped and the
//! transaction goes on at the primary. When the primary's node is lost
//! before the outcome, the secondary's branch is given back (its server
//! hears the transaction rescheduled) and the primary's work follows the
//! range to its next primary as any lost node's work does; never two
//! branches of one tid at one partition.
//!
//! **Reply checksum** (RTR's `RTR_STS_REPLYDIFF`). The secondary's replies
//! are dropped, but counted: per node, how many and the sum of their prints
//! (`ReplySum`, order-free, as a node's branches of several ranges reply in
//! any order). When the secondary's last branch votes yes, its node's sum
//! is compared with its primary's node's; if they differ, the two sites'
//! servers did not compute the same thing (their databases diverged, or a
//! reply carries a server-unique value, which RTR's shadowing forbids) and
//! the transaction is rejected at both sites with `RTR_STS_REPLYDIFF`,
//! before anything commits. Compared only where the sums say all: a
//! transaction this router saw from its first message (not driven again,
//! probed or moved), whose branches at the two nodes are exactly the
//! primaries and their secondaries (no call-out, no other range's primary
//! beside a secondary), none of them lost, dropped or given back
//! (`Tx::replies_partial`).

use super::{Branch, Router, Tx, VoteState};
use crate::node::{Ctx, NodeRef, PartKey, ShadowEntry, ToBackend, SLOT_SERIES};
use crate::tid::Tid;

/// One node's replies to one transaction (the module's reply checksum).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::node) struct ReplySum {
    n: u32,
    sum: u64,
}

/// Count a reply of `tid` from node `from` (the client's or a secondary's).
pub(super) fn note_reply(tx: &mut Tx, from: NodeRef, data: &[u8]) {
    let print = crate::txrecord::work_print(data);
    let at = match tx.replies.iter().position(|(n, _)| *n == from) {
        Some(at) => at,
        None => {
            tx.replies.push((from, ReplySum::default()));
            tx.replies.len() - 1
        }
    };
    let r = &mut tx.replies[at].1;
    r.n = r.n.saturating_add(1);
    r.sum = r.sum.wrapping_add(print);
}

/// Secondary branch `key` of `tx` voted yes: do its node's replies differ
/// from its primary's node's (the module's reply checksum)? `false`
/// whenever the sums cannot say (see the module's comment).
pub(super) fn replies_differ(tx: &Tx, key: PartKey) -> bool {
    if tx.drive != 0 || tx.redriven || tx.probe.is_some() || !tx.redrive.is_empty() || tx.replies_partial {
        return false;
    }
    let Some(of) = tx.branches.iter().find(|b| b.part == key).and_then(|b| b.secondary_of) else { return false };
    let (sec, pri) = (key.0, of.0);
    if sec == pri {
        return false;
    }
    let at = |n: NodeRef| tx.branches.iter().filter(move |b| b.part.0 == n);
    // Every branch at the secondary's node shadows one at the primary's,
    // and has voted (its replies are all in: a server replies before it
    // votes, and the node sends both in order).
    let sec_whole = at(sec).all(|b| b.secondary_of.is_some_and(|o| o.0 == pri) && b.vote == VoteState::Accepted);
    // Every branch at the primary's node is a primary shadowed there.
    let pri_whole = at(pri).all(|p| {
        p.secondary_of.is_none() && tx.branches.iter().any(|s| s.part.0 == sec && s.secondary_of == Some(p.part))
    });
    if !sec_whole || !pri_whole {
        return false;
    }
    let sum = |n: NodeRef| tx.replies.iter().find(|(m, _)| *m == n).map(|(_, r)| *r).unwrap_or_default();
    sum(sec) != sum(pri)
}

impl Router {
    /// The active secondary of the shadowed range whose primary is
    /// partition `primary`: another site's active shadow partition of the
    /// same range, holding no primary grant.
    ///
    /// None while the primary keeps commits its secondary has not applied
    /// (`ShadowUp::in_sync`): the secondary applies those first, in the
    /// primary's order, and takes live work only once caught up (RTR's
    /// remember mode and catch-up, docs/shadow.md).
    pub(super) fn shadow_secondary(&self, facility: &str, primary: PartKey) -> Option<PartKey> {
        let v = self.partitions.get(facility)?;
        let p = v.iter().find(|p| p.key == primary && p.active && p.primary() > 0)?;
        let shadow = p.shadow.as_ref()?;
        if !shadow.in_sync {
            return None;
        }
        let site = &shadow.site;
        // Any other node of the primary's site that keeps entries of the
        // range (a former primary, its servers gone, or a standby that
        // read a lost node's journal) makes it out of step too: its
        // commits come before the primary's live ones at the other site
        // (docs/shadow.md, "The order across series"; simulator `--shadow
        // --seed 6416`).
        let held_here = v.iter().any(|q| {
            q.key.0 != primary.0
                && q.range.same_range(&p.range)
                && q.shadow.as_ref().is_some_and(|s| &s.site == site && !s.in_sync && !s.off)
        });
        if held_here {
            return None;
        }
        v.iter()
            .find(|q| {
                q.active
                    && q.primary() == 0
                    && q.key.0 != primary.0
                    && q.range.same_range(&p.range)
                    && q.shadow.as_ref().is_some_and(|s| &s.site != site && !s.off)
            })
            .map(|q| q.key)
    }

    /// The lowest primary series of the sender's site and range that a
    /// partition reports held (`ShadowUp::lowest`), if it is below a
    /// primary series of `entries`: those entries wait for it. Every
    /// commit of a primary series precedes every commit numbered live in a
    /// later one (one primary at a time), and the other site follows each
    /// series on its own: forwarded side by side, a later grant's commits
    /// were applied there before an earlier grant's (simulator `--shadow
    /// --seed 6416`: be1 kept series 1 after its servers died, be2 took the
    /// primary and numbered series 2, and west applied 2.9 before 1.1).
    /// Slot series (`SLOT_SERIES`) are not ordered by grants: not held.
    pub(super) fn lower_series_held(&self, facility: &str, sender: PartKey, entries: &[ShadowEntry]) -> Option<u64> {
        let series = entries.iter().map(|e| e.pos.0).filter(|s| *s < SLOT_SERIES).max()?;
        let v = self.partitions.get(facility)?;
        let p = v.iter().find(|p| p.key == sender)?;
        let site = &p.shadow.as_ref()?.site;
        v.iter()
            .filter(|q| q.range.same_range(&p.range))
            .filter_map(|q| q.shadow.as_ref().filter(|s| &s.site == site).map(|s| s.lowest))
            .filter(|l| *l > 0 && *l < series)
            .min()
    }

    /// The other site's active partition of the shadowed range of
    /// partition `key` (a shadow log goes there, and its acknowledgement
    /// back): one with another site, the same range, active.
    pub(super) fn other_site(&self, facility: &str, key: PartKey) -> Option<PartKey> {
        let v = self.partitions.get(facility)?;
        let p = v.iter().find(|p| p.key == key)?;
        let site = &p.shadow.as_ref()?.site;
        let mut others: Vec<&super::partitions::RPart> = v
            .iter()
            .filter(|q| {
                q.active
                    && q.key.0 != key.0
                    && q.range.same_range(&p.range)
                    // A partition shadowed no more (shadowing off
                    // elsewhere) takes no log.
                    && q.shadow.as_ref().is_some_and(|s| &s.site != site && !(s.off && s.primary == 0))
            })
            .collect();
        // The newest primary first, then the newest grant.
        others.sort_by_key(|q| std::cmp::Reverse((q.primary(), q.epoch)));
        others.first().map(|q| q.key)
    }

    /// Just before `tid`'s commit goes out: each primary branch whose
    /// secondary's branch voted yes is named to its node (`Shipped`), so
    /// that the primary does not remember that commit for the secondary;
    /// each whose secondary's branch was dropped is named as `unsure`: its
    /// durable vote may still learn the commit by an inquiry and apply it
    /// at the other site, so the primary remembers the commit as maybe
    /// applied there (simulator `--shadow --seed 155`: sent as new, it was
    /// applied twice).
    pub(super) fn tell_shipped(&self, ctx: &mut Ctx, tx: &Tx, tid: Tid) {
        type Parts = Vec<crate::node::PartId>;
        let mut by_node: Vec<(crate::node::NodeRef, Parts, Parts)> = Vec::new();
        let mut add = |key: PartKey, sure: bool| {
            let i = match by_node.iter().position(|(n, _, _)| *n == key.0) {
                Some(i) => i,
                None => {
                    by_node.push((key.0, Vec::new(), Vec::new()));
                    by_node.len() - 1
                }
            };
            let v = if sure { &mut by_node[i].1 } else { &mut by_node[i].2 };
            if !v.contains(&key.1) {
                v.push(key.1);
            }
        };
        for b in &tx.branches {
            let Some(primary) = b.secondary_of else { continue };
            if b.vote != VoteState::Accepted || !tx.branches.iter().any(|p| p.part == primary) {
                continue;
            }
            add(primary, true);
        }
        for primary in &tx.dropped_secondary_of {
            if tx.branches.iter().any(|p| p.part == *primary) {
                add(*primary, false);
            }
        }
        for (node, parts, unsure) in by_node {
            ctx.to_backend(node, ToBackend::Shipped { tid, parts, unsure });
        }
    }

    /// Each of `tid`'s primary branches that voted yes, once its client has
    /// accepted, gets its secondary's branch: the same messages, placed at
    /// the secondary, whose durable vote is asked at once.
    pub(super) fn place_secondaries(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(tx) = self.txs.get(&tid) else { return };
        if !tx.client_accepted || tx.probe.is_some() {
            return;
        }
        let mut places: Vec<(PartKey, PartKey)> = Vec::new();
        for b in &tx.branches {
            if b.vote != VoteState::Accepted || b.secondary_of.is_some() || b.msgs.is_empty() {
                continue;
            }
            if tx.branches.iter().any(|x| x.secondary_of == Some(b.part)) {
                continue;
            }
            let Some(sec) = self.shadow_secondary(&tx.facility, b.part) else { continue };
            if tx.branches.iter().any(|x| x.part == sec) {
                continue;
            }
            places.push((b.part, sec));
        }
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        let mut placed = false;
        for (primary, sec) in places {
            let Some(msgs) = tx.branches.iter().find(|b| b.part == primary).map(|b| b.msgs.clone()) else { continue };
            ctx.detail(format!(
                "{tid}: its primary voted yes: {} message(s) go to the shadow secondary {}",
                msgs.len(),
                ctx.topo.name(sec.0)
            ));
            let drive = tx.drive;
            // From now on it spans two nodes for good: dropped later (its
            // link gone), the secondary's durable yes may still learn the
            // outcome by an inquiry and apply it, so the primary's vote
            // must be durable too. Counted as one node again once the
            // secondary was dropped, it committed on the primary's vote
            // given before its node lost power, which the primary never
            // applied while the other site did (`rtr simulate --shadow
            // --seed 397 --routers 2`: accepted, not applied).
            tx.shadowed = true;
            tx.given_back.retain(|k| *k != sec);
            let mut b = Branch::new(sec);
            b.secondary_of = Some(primary);
            b.vote = VoteState::Requested;
            for (i, (data, fl)) in msgs.iter().enumerate() {
                let m = ToBackend::Msg {
                    tid,
                    part: sec.1,
                    index: i as u32,
                    data: data.clone(),
                    first: i == 0,
                    flags: *fl,
                    drive,
                };
                ctx.to_backend(sec.0, m);
            }
            b.sent = msgs.len() as u32;
            b.msgs = msgs;
            tx.branches.push(b);
            ctx.to_backend(sec.0, ToBackend::VoteRequest { tid, part: sec.1, durable: true, drive });
            placed = true;
        }
        if placed {
            // It spans two nodes now: votes given before (the primary's,
            // asked before the secondary was up, or before the client's
            // accept) are asked for again, durable. Not asked, the commit
            // waited for ever for durable votes nobody requested
            // (`rtr simulate --shadow --seed 721 --routers 1`, a prepared
            // transaction: no outcome).
            self.request_votes(ctx, tid);
        }
    }

    /// Branch `key` of `tid` failed or moved: if it is a shadow
    /// secondary's, it is dropped (`true`) and the transaction goes on at
    /// its primary (docs/shadow.md, stage 3: the primary remembers it).
    ///
    /// The secondary's node is told to give the branch back (its server
    /// hears the transaction rescheduled; nothing decided): a failed branch
    /// (`BranchFailed`) waits there for its router's outcome, and a dropped
    /// one never gets one. Untold, its server held the branch for ever, and
    /// with every server of the secondary so held no later transaction of
    /// the range was presented there: their secondaries' votes never came
    /// and their clients waited for ever (`rtr simulate --shadow --seed 99`,
    /// two routers: the secondary's journal full for 471 ms). A moved
    /// branch is gone there already: the give-back finds nothing.
    pub(super) fn drop_secondary(&mut self, ctx: &mut Ctx, tid: Tid, key: PartKey, why: &str) -> bool {
        let Some(tx) = self.txs.get_mut(&tid) else { return false };
        let Some(i) = tx.branches.iter().position(|b| b.part == key && b.secondary_of.is_some()) else {
            return false;
        };
        let b = tx.branches.remove(i);
        if let Some(primary) = b.secondary_of {
            tx.dropped_secondary_of.push(primary);
        }
        ctx.to_backend(key.0, ToBackend::GiveBack { tid, part: key.1, drive: tx.drive });
        tx.given_back.push(key);
        tx.replies_partial = true;
        ctx.log(format!("{tid}: its shadow secondary's branch is dropped ({why}); it goes on at the primary"));
        self.try_prepared(ctx, tid);
        self.try_commit(ctx, tid);
        true
    }

    /// Whether partition `part` of `facility` is a shadow primary with a
    /// secondary up: a transaction routed there spans two nodes.
    pub(super) fn shadow_pair(&self, facility: &str, part: PartKey) -> bool {
        self.shadow_secondary(facility, part).is_some()
    }
}

/// Is `tid`'s reply from node `from` a shadow secondary's (dropped: RTR
/// suppresses the secondary's replies)?
pub(super) fn from_secondary(tx: &Tx, from: crate::node::NodeRef) -> bool {
    let at = |b: &&Branch| b.part.0 == from;
    tx.branches.iter().filter(at).any(|b| b.secondary_of.is_some())
        && !tx.branches.iter().filter(at).any(|b| b.secondary_of.is_none())
}
