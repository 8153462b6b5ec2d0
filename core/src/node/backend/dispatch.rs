//! Server channels: open and close, presenting waiting branches to free
//! servers (`dispatch`), requests from servers, and the retry limit
//! (`retry`, `set_aside`).

use super::branches::{Vote, VoteRecord, VoteSync};
use super::{Backend, Exception, PartRole, Partition, RoleEvent, Server};
use crate::flags;
use crate::keyseg::KeyRange;
use crate::msgtype::MsgType;
use crate::node::frontend::status_delivery;
use crate::node::{Callout, ChanRef, Ctx, PartId, ToRouter};
use crate::protocol::{Bytes, Delivery, Payload, Request};
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::TxRecord;

impl Backend {
    pub fn open(&mut self, ctx: &mut Ctx, chan: ChanRef, facility: String, fl: u32, range: KeyRange) {
        let refuse =
            |ctx: &mut Ctx, status| ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Closed, None, status, 0));
        let callout = if fl & flags::ope::TR_CALL_OUT != 0 {
            Callout::Router
        } else if fl & flags::ope::BE_CALL_OUT != 0 {
            Callout::Backend
        } else {
            Callout::No
        };
        if callout != Callout::No {
            return self.open_callout(ctx, chan, facility, callout);
        }
        let noconcurrent = fl & flags::ope::NOCONCURRENT != 0;
        let shadow = fl & flags::ope::SHADOW != 0;
        if shadow && ctx.topo.facilities.get(&facility).is_none() {
            // A shadow partition needs a partner at another site, which
            // only a facility defined across nodes has (`rtr create
            // facility`): alone, it would remember every commit for a
            // partner that can never come, until its journal is full.
            ctx.log(format!(
                "a shadow server of facility {facility} is refused: shadowing needs a facility defined with backends \
                 at two sites (rtr create facility; rtr start --site)"
            ));
            return refuse(ctx, Status::Unsupported);
        }
        let fac = self.facilities.entry(facility.clone()).or_default();
        let layout = range.layout();
        if fac.parts.is_empty() {
            fac.layout = Some(layout);
        } else if fac.layout.as_ref() != Some(&layout) {
            return refuse(ctx, Status::Keylayout);
        }
        // A named partition: its name stands for one key range in the
        // facility (a server naming it with another range is refused), and
        // a server naming an unnamed partition of its range names it.
        if let Some(name) = range.name() {
            let named = fac.parts.iter().copied().find(|p| {
                self.parts.get(p).is_some_and(|p| p.range.name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            });
            if let Some(id) = named {
                if !self.parts.get(&id).is_some_and(|p| p.range.same_range(&range)) {
                    return refuse(ctx, Status::Keyoverlap);
                }
            }
        }
        let same = fac.parts.iter().copied().find(|p| self.parts.get(p).is_some_and(|p| p.range.same_range(&range)));
        if let (Some(id), Some(name)) = (same, range.name()) {
            if let Some(p) = self.parts.get_mut(&id) {
                match p.range.name() {
                    Some(n) if !n.eq_ignore_ascii_case(name) => return refuse(ctx, Status::Keyoverlap),
                    Some(_) => {}
                    None => p.range = p.range.clone().named(Some(name.to_string())),
                }
            }
        }
        let (part_id, created) = match same {
            Some(id) => {
                let Some(p) = self.parts.get_mut(&id) else {
                    return refuse(ctx, Status::Internal);
                };
                if p.shadow.is_some() != shadow {
                    // One range, shadowed and not, on one node: refused as
                    // an overlap (a partition is one or the other).
                    return refuse(ctx, Status::Keyoverlap);
                }
                if !p.servers.is_empty() && (noconcurrent || p.noconcurrent) {
                    return refuse(ctx, Status::Noconcurrent);
                }
                if p.servers.is_empty() {
                    p.noconcurrent = noconcurrent;
                }
                (id, false)
            }
            None => {
                if fac.parts.iter().any(|p| self.parts.get(p).is_some_and(|p| p.range.overlaps(&range))) {
                    return refuse(ctx, Status::Keyoverlap);
                }
                self.next_part += 1;
                let id = self.next_part;
                fac.parts.push(id);
                let nostandby = fl & flags::ope::NOSTANDBY != 0;
                let site =
                    shadow.then(|| self.site.clone().unwrap_or_else(|| ctx.topo.name(crate::node::LOCAL).to_string()));
                let p = Partition::new(
                    facility.clone(),
                    range.clone(),
                    noconcurrent,
                    nostandby,
                    Callout::No,
                    site.as_deref(),
                    self.failover_policy,
                );
                self.parts.insert(id, p);
                (id, true)
            }
        };
        self.servers.insert(chan, Server { part: part_id, current: None, unacked: Vec::new() });
        if let Some(p) = self.parts.get_mut(&part_id) {
            p.servers.push(chan);
            p.free.push_back(chan);
        }
        ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Opened, None, Status::Ok, 0));
        if created {
            self.claim_recovered(part_id);
            // Known to the routers as waiting; active only under a grant of
            // the role authority.
            self.announce(ctx, part_id);
            self.first_claim(ctx, part_id);
        } else if let Some(p) = self.parts.get(&part_id) {
            let idle_standby = p.role == PartRole::Standby && p.callout == Callout::No && p.grant.holder.is_none();
            if idle_standby && !p.grant.claiming && p.grant.retry_at.is_none() {
                // It gave its range up when its last server left, and no
                // claim is out: a server is back, so it claims the range
                // again (held by another node by then, it stays a
                // standby). It never did, and a range with no other
                // standby stayed without an active partition for ever
                // (simulator seed 5325: a hand-off held at the router, the
                // commit never applied). Not at once: a standby of the
                // range claims what was released first, rather than the
                // range going back and forth (the bank kill test's ranges
                // ended up split over two nodes, and its timeout-less
                // clients deadlocked across them).
                if let Some(p) = self.parts.get_mut(&part_id) {
                    p.grant.retry_at = Some(ctx.now + super::roles::START_DEFER);
                }
            }
            let Some(p) = self.parts.get(&part_id) else { return };
            let side = p.shadow.as_ref().map(|s| s.side);
            let events: &[i32] = match p.role {
                // A shadow partition's pair role comes with its primary
                // claim's answer (`shadow.rs`).
                PartRole::Active if side == Some(super::shadow::Side::Primary) => {
                    &[crate::events::SRPRIMARY, crate::events::SRRECOVERCMPL]
                }
                PartRole::Active if side == Some(super::shadow::Side::Secondary) => {
                    &[crate::events::SRSECONDARY, crate::events::SRRECOVERCMPL]
                }
                PartRole::Active if side.is_some() => &[crate::events::SRRECOVERCMPL],
                PartRole::Active => &[crate::events::SRPRIMARY, crate::events::SRRECOVERCMPL],
                PartRole::Standby => &[crate::events::SRSTANDBY],
                _ => &[],
            };
            for e in events {
                self.role_events.push(RoleEvent { facility: p.facility.clone(), evtnum: *e, chan });
            }
        }
        self.dispatch(ctx, part_id);
    }

    /// A call-out server: its facility's call-out partition of that kind
    /// on this node (created with the first one; concurrent call-out
    /// servers share it).
    pub(super) fn open_callout(&mut self, ctx: &mut Ctx, chan: ChanRef, facility: String, callout: Callout) {
        let existing =
            self.parts.iter().find(|(_, p)| p.facility == facility && p.callout == callout).map(|(id, _)| *id);
        let id = match existing {
            Some(id) => id,
            None => {
                self.next_part += 1;
                let id = self.next_part;
                // A call-out has no key range to share: always active.
                let mut p =
                    Partition::new(facility, KeyRange::default(), false, false, callout, None, Default::default());
                p.role = PartRole::Active;
                self.parts.insert(id, p);
                id
            }
        };
        self.servers.insert(chan, Server { part: id, current: None, unacked: Vec::new() });
        if let Some(p) = self.parts.get_mut(&id) {
            p.servers.push(chan);
            p.free.push_back(chan);
        }
        ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Opened, None, Status::Ok, 0));
        if existing.is_none() {
            self.announce(ctx, id);
        }
        self.dispatch(ctx, id);
    }

    pub(super) fn is_callout(&self, part: PartId) -> bool {
        self.parts.get(&part).is_some_and(|p| p.callout != Callout::No)
    }

    /// Tell every linked router of the partition's facility where it stands.
    pub(super) fn announce(&mut self, ctx: &mut Ctx, part: PartId) {
        // A shadow partition's primary record follows its place first.
        self.shadow_sync(ctx, part);
        let Some(p) = self.parts.get(&part) else { return };
        let Some(up) = self.up_message(part) else { return };
        for r in ctx.topo.routers(&p.facility) {
            ctx.to_router(r, up.clone());
        }
    }

    /// The partition takes transactions now; its servers hear they are primary.
    pub(super) fn set_active(&mut self, ctx: &mut Ctx, part: PartId) {
        let Some(p) = self.parts.get_mut(&part) else { return };
        if p.callout == Callout::No && p.role != PartRole::Active {
            ctx.output(crate::node::Output::ActivateRole { range: p.grant.rid.clone(), epoch: p.grant.epoch });
        }
        p.role = PartRole::Active;
        // A shadow partition hears it is primary (or secondary) when its
        // primary claim is answered (`shadow.rs`).
        let events: &[i32] = if p.shadow.is_some() {
            &[crate::events::SRRECOVERCMPL]
        } else {
            &[crate::events::SRPRIMARY, crate::events::SRRECOVERCMPL]
        };
        for s in p.servers.iter().filter(|_| p.callout == Callout::No) {
            for &e in events {
                self.role_events.push(RoleEvent { facility: p.facility.clone(), evtnum: e, chan: *s });
            }
        }
        self.announce(ctx, part);
        self.dispatch(ctx, part);
    }

    pub(crate) fn set_priority(&mut self, ctx: &mut Ctx, part: PartId, list: Vec<String>) {
        if let Some(p) = self.parts.get_mut(&part) {
            p.priority = list;
        }
        self.announce(ctx, part);
    }

    /// A server channel closed (or its process went away).
    pub fn close(&mut self, ctx: &mut Ctx, chan: ChanRef) {
        let Some(srv) = self.servers.remove(&chan) else { return };
        let part_id = srv.part;
        let Some(p) = self.parts.get_mut(&part_id) else { return };
        p.servers.retain(|s| *s != chan);
        p.free.retain(|s| *s != chan);
        let limit = p.retry_limit;
        let facility = p.facility.clone();
        // Committed work the server had not acknowledged: it may or may not
        // have applied it. Present it again, ahead of newer work.
        // (tid, committed, its accept vote was given, strikes)
        let mut struck_out = Vec::new();
        let mut expended = Vec::new();
        for tid in srv.unacked.iter().rev() {
            if let Some(b) = self.branches.get_mut(&(*tid, part_id)) {
                b.server = None;
                b.uncertain = true;
                b.strikes += 1;
                if b.strikes >= limit {
                    struck_out.push((*tid, true, true, b.strikes));
                } else {
                    p.waiting.push_front(*tid);
                }
            }
        }
        if let Some(tid) = srv.current {
            if let Some(b) = self.branches.get_mut(&(tid, part_id)) {
                // A lost server's vote goes with it: its database work was
                // not committed, so the replacement redoes it and votes
                // again. The first message comes as uncertain because the
                // lost server may have applied the work already.
                b.server = None;
                // A yes vote given earlier and withdrawn with its server
                // (`uncertain`) counts too: the router may have committed
                // on it before the withdrawal reached it, so the branch may
                // not be rolled back here alone (simulator seed 5098).
                let voted = b.voted_yes() || b.uncertain;
                if b.voted_yes() {
                    b.uncertain = true;
                    b.vote = Vote::None;
                    ctx.to_router(b.router, ToRouter::VoteWithdrawn { tid, part: part_id });
                }
                b.strikes += 1;
                if b.expendable && b.committed.is_none() && !voted {
                    expended.push(tid);
                } else if b.strikes >= limit {
                    struck_out.push((tid, b.committed.is_some(), voted, b.strikes));
                } else {
                    p.waiting.push_front(tid);
                }
            }
        }
        for tid in expended {
            if let Some(b) = self.branches.remove(&(tid, part_id)) {
                self.remember(tid, false, Status::Srvdied, 0);
                ctx.to_router(b.router, ToRouter::BranchFailed { tid, part: part_id, status: Status::Srvdied });
                self.replay_parked(ctx, b.parked);
            }
        }
        for (tid, committed, voted, strikes) in struck_out {
            self.set_aside(ctx, tid, part_id, &facility, committed, voted, strikes);
        }
        if self.parts.get(&part_id).is_some_and(|p| p.servers.is_empty()) {
            self.last_server_left(ctx, part_id);
        }
        let Some(p) = self.parts.get(&part_id) else { return };
        if p.servers.is_empty() && p.waiting.is_empty() {
            self.drop_if_empty(ctx, part_id);
        } else {
            // With no server left, waiting branches are held until one
            // returns (or the client's timeout or reject ends them).
            self.dispatch(ctx, part_id);
        }
    }

    /// `RTR_F_REJ_RETRY`: the server gives the transaction back to be
    /// presented again (for example after a deadlock in its database). It
    /// gets `rtr_mt_rejected` with `RTR_STS_DLKTXRES` (rescheduled) for its
    /// branch; the client sees nothing. Each retry counts against the retry
    /// limit, so a transaction cannot bounce for ever.
    pub(super) fn retry(&mut self, ctx: &mut Ctx, chan: ChanRef, tid: Tid, part: PartId) {
        let Some(p) = self.parts.get(&part) else { return };
        let (limit, facility) = (p.retry_limit, p.facility.clone());
        let Some(b) = self.branches.get_mut(&(tid, part)) else { return };
        b.server = None;
        b.strikes += 1;
        let (strikes, voted) = (b.strikes, b.voted_yes());
        let d = server_status(chan.1, MsgType::Rejected, tid, Status::Dlktxres, 0, self.fence(part));
        ctx.deliver(chan.0, d);
        if let Some(srv) = self.servers.get_mut(&chan) {
            srv.current = None;
        }
        if let Some(p) = self.parts.get_mut(&part) {
            p.free.push_back(chan);
            if strikes < limit {
                p.waiting.push_front(tid);
            }
        }
        if strikes >= limit {
            self.set_aside(ctx, tid, part, &facility, false, voted, strikes);
        }
        self.dispatch(ctx, part);
    }

    /// The retry limit: a transaction whose servers failed `strikes` times
    /// is presented no more. Committed, it stays committed but waits for an
    /// operator. Undecided and never voted for (`voted` false), it is
    /// rejected here: no router can have committed it without this
    /// branch's vote. Undecided after its vote was given (the router may
    /// have committed on it before the withdrawal reached it), the backend
    /// does not decide: it asks the router to reject (`BranchFailed`), and
    /// the branch waits, presented no more, for the router's outcome
    /// ([`Backend::aside_decided`]). The journal keeps an exception record
    /// once the outcome is known, and `rtr show transaction` lists it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn set_aside(
        &mut self,
        ctx: &mut Ctx,
        tid: Tid,
        part: PartId,
        facility: &str,
        committed: bool,
        voted: bool,
        strikes: u32,
    ) {
        let undecided = !committed && voted && self.branches.contains_key(&(tid, part));
        if self.journal && !undecided {
            let rec = TxRecord::Exception { status: Status::Retrylimit.code(), strikes, committed };
            ctx.journal(vec![(tid, rec)], false, None);
        }
        self.exceptions.push(Exception {
            tid,
            facility: facility.to_string(),
            part,
            committed,
            undecided,
            strikes,
            recovered: None,
        });
        if committed {
            // Keep the branch (its messages) for the operator; nothing more
            // will present it, and no Done is written.
            if let Some(b) = self.branches.get_mut(&(tid, part)) {
                b.server = None;
            }
        } else if undecided {
            if let Some(b) = self.branches.get_mut(&(tid, part)) {
                b.server = None;
                b.aside = true;
                ctx.to_router(b.router, ToRouter::BranchFailed { tid, part, status: Status::Retrylimit });
            }
        } else if let Some(b) = self.branches.remove(&(tid, part)) {
            self.remember(tid, false, Status::Retrylimit, 0);
            ctx.to_router(b.router, ToRouter::BranchFailed { tid, part, status: Status::Retrylimit });
            self.replay_parked(ctx, b.parked);
        }
    }

    /// The router's outcome reached a branch set aside undecided
    /// (`set_aside`): the exception is settled, committed (its commit is
    /// durable: the branch stays for the operator, like any committed
    /// exception) or rejected (the caller drops the branch), and the
    /// journal records it.
    pub(super) fn aside_decided(&mut self, ctx: &mut Ctx, tid: Tid, part: PartId, committed: bool) {
        let Some(e) = self.exceptions.iter_mut().find(|e| e.tid == tid && e.part == part && e.undecided) else {
            return;
        };
        e.undecided = false;
        e.committed = committed;
        let strikes = e.strikes;
        if self.journal {
            let rec = TxRecord::Exception { status: Status::Retrylimit.code(), strikes, committed };
            ctx.journal(vec![(tid, rec)], false, None);
        }
        if let Some(b) = self.branches.get_mut(&(tid, part)) {
            b.aside = false;
            b.server = None;
        }
    }

    /// Requests on server channels.
    pub fn request(&mut self, ctx: &mut Ctx, chan: ChanRef, req: Request) {
        let Some(srv) = self.servers.get(&chan) else { return };
        let part = srv.part;
        let current = srv.current;
        if let Request::Accept { tid, .. } | Request::Reject { tid, .. } | Request::Reply { tid, .. } = &req {
            if current == Some(*tid) && self.rejection_pending(*tid).is_some_and(|r| r.parts.contains(&part)) {
                // Rolled back, its record on its way to disk: the server
                // hears so next. A vote now wrote a `Vote` record after the
                // `Done` of a router's forget that came meanwhile: a
                // transaction live for ever in the journal, which pinned
                // its oldest segment until it was full for good (disk-fault
                // seeds 90 and 114, one router).
                return;
            }
        }
        match req {
            Request::Reply { tid, data, .. } if current == Some(tid) => {
                if let Some(b) = self.branches.get(&(tid, part)) {
                    ctx.to_router(b.router, ToRouter::Reply { tid, data });
                }
            }
            Request::Accept { tid, reason, flags: fl, .. } if current == Some(tid) => {
                let forget = fl & flags::acc::FORGET != 0;
                if let Some(b) = self.branches.get_mut(&(tid, part)) {
                    if !b.voted_yes() {
                        b.vote = Vote::Yes { reason };
                        if self.journal && b.durable_requested {
                            // Given once durable (see `sync_vote`).
                            self.next_token += 1;
                            let token = self.next_token;
                            b.write_vote();
                            ctx.journal(Backend::vote_records(tid, b.drive), true, Some(token));
                            self.vote_tokens.insert(token, VoteSync { tid, part });
                        } else {
                            if self.journal {
                                ctx.journal(vec![(tid, TxRecord::Vote { durable: false })], false, None);
                            }
                            if !self.journal {
                                b.record = VoteRecord::Durable;
                            }
                            let durable = b.vote_durable();
                            ctx.to_router(b.router, ToRouter::Vote { tid, part, accept: true, reason, durable });
                        }
                    }
                    if forget {
                        // RTR_F_ACC_FORGET: the server is free for its next
                        // transaction now; the outcome will not be delivered
                        // to it and is not waited for (see `commit`).
                        b.forgotten = true;
                        b.server = None;
                        self.release(chan, tid);
                        self.dispatch(ctx, part);
                    }
                }
            }
            Request::Reject { tid, flags: fl, .. } if current == Some(tid) && fl & flags::rej::RETRY != 0 => {
                self.retry(ctx, chan, tid, part);
            }
            Request::Reject { tid, reason, .. } if current == Some(tid) => {
                if let Some(b) = self.branches.get_mut(&(tid, part)) {
                    b.vote = Vote::No { reason };
                    ctx.to_router(b.router, ToRouter::Vote { tid, part, accept: false, reason, durable: true });
                }
            }
            Request::Ack { tid, .. } => {
                let Some(srv) = self.servers.get_mut(&chan) else { return };
                let before = srv.unacked.len();
                srv.unacked.retain(|t| *t != tid);
                if srv.unacked.len() != before {
                    self.branches.remove(&(tid, part));
                    self.entry_acked(ctx, tid, part);
                    self.acked(ctx, tid);
                }
            }
            _ => {}
        }
    }

    /// Server `s` is done with `tid` for now: it is no longer its current
    /// transaction, and the server is free for the partition's next one.
    /// The caller dispatches.
    pub(super) fn release(&mut self, s: ChanRef, tid: Tid) {
        let Some(srv) = self.servers.get_mut(&s) else { return };
        if srv.current == Some(tid) {
            srv.current = None;
        }
        if let Some(p) = self.parts.get_mut(&srv.part) {
            p.free.push_back(s);
        }
    }

    /// Present waiting branches of a partition to its free servers.
    pub(crate) fn dispatch(&mut self, ctx: &mut Ctx, part: PartId) {
        loop {
            let Some(p) = self.parts.get_mut(&part) else { return };
            // Only under the range's grant (a call-out has no range).
            if p.suspended || p.waiting.is_empty() || p.free.is_empty() || p.role != PartRole::Active {
                return;
            }
            let Some(tid) = p.waiting.pop_front() else { return };
            if self.rejection_pending(tid).is_some_and(|r| r.parts.contains(&part)) {
                // Rolled back, its record on its way to disk: never
                // presented (`rejection_written` drops the branch).
                continue;
            }
            let Some(p) = self.parts.get_mut(&part) else { return };
            let fence = p.grant.epoch;
            let Some(b) = self.branches.get_mut(&(tid, part)) else {
                continue;
            };
            let Some(s) = p.free.pop_front() else { return };
            b.server = Some(s);
            if let Some(srv) = self.servers.get_mut(&s) {
                srv.current = Some(tid);
            }
            for (i, m) in b.msgs.iter().enumerate() {
                let mt = match (i, b.uncertain) {
                    (0, true) => MsgType::Msg1Uncertain,
                    (0, false) => MsgType::Msg1,
                    _ => MsgType::Msgn,
                };
                ctx.deliver(s.0, data_delivery(s.1, mt, tid, m.clone(), fence));
            }
            if let Some((_, reason)) = b.committed {
                if b.remember {
                    self.remember_recovered(ctx, tid, part, reason);
                }
                // Decided before this server saw it: replay, then the outcome.
                self.deliver_commit(ctx, s, tid, reason);
                continue;
            }
            if b.vote_requested && !b.voted_yes() {
                ctx.deliver(s.0, prepare(s.1, tid, fence));
            }
        }
    }

    /// The fencing token of deliveries to partition `part`'s servers: the
    /// grant epoch under which it holds its key range (0 for a call-out,
    /// which holds none). A server's database that keeps the highest token
    /// it has seen per key range refuses work under an older one: that of
    /// a node fenced since, whose work the range's new holder replays
    /// (`docs/fencing.md`).
    pub(super) fn fence(&self, part: PartId) -> u64 {
        self.parts.get(&part).map_or(0, |p| p.grant.epoch)
    }

    /// [`Backend::fence`] of server channel `s`'s partition.
    pub(super) fn server_fence(&self, s: ChanRef) -> u64 {
        self.servers.get(&s).map_or(0, |srv| self.fence(srv.part))
    }

    pub(super) fn drop_if_empty(&mut self, ctx: &mut Ctx, part: PartId) {
        let Some(p) = self.parts.get(&part) else { return };
        if p.servers.is_empty() && p.waiting.is_empty() && self.may_drop(ctx, part) {
            let Some(p) = self.parts.get(&part) else { return };
            let facility = p.facility.clone();
            self.parts.remove(&part);
            if let Some(f) = self.facilities.get_mut(&facility) {
                f.parts.retain(|x| *x != part);
            }
            for r in ctx.topo.routers(&facility) {
                ctx.to_router(r, ToRouter::PartitionDown { facility: facility.clone(), part });
            }
        }
    }
}

/// A server's delivery of `tid`'s message; `fence`: its partition's grant
/// epoch ([`Backend::fence`]).
pub(super) fn data_delivery(chan: u32, msgtype: MsgType, tid: Tid, data: Bytes, fence: u64) -> Delivery {
    Delivery { chan, msgtype, tid: Some(tid), evtnum: 0, payload: Payload::Data(data), fence }
}

/// A server's outcome (`Accepted`, `Rejected`) of `tid`, with its
/// partition's fencing token ([`Backend::fence`]).
pub(super) fn server_status(
    chan: u32,
    msgtype: MsgType,
    tid: Tid,
    status: Status,
    reason: u32,
    fence: u64,
) -> Delivery {
    Delivery { fence, ..status_delivery(chan, msgtype, Some(tid), status, reason) }
}

pub(super) fn prepare(chan: u32, tid: Tid, fence: u64) -> Delivery {
    Delivery { chan, msgtype: MsgType::Prepare, tid: Some(tid), evtnum: 0, payload: Payload::None, fence }
}
