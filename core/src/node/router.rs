//! The router role: routes each client message by key to a partition and
//! coordinates two-phase commit over every partition a transaction touched.
//!
//! Decision rule: a transaction commits when the client has accepted and
//! every branch has voted accept; it aborts at the first reject, at its
//! timeout, or when its client goes away before accepting. Once decided it is
//! forgotten here, so a late vote or timer finds nothing and does nothing:
//! a transaction can never be decided twice.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use super::{ChanRef, Ctx, PartId, ToBackend, ToFrontend, ToRouter};
use crate::flags;
use crate::keyseg::{KeyError, KeyRange};
use crate::status::Status;
use crate::tid::Tid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VoteState {
    Pending,
    Requested,
    Accepted,
}

pub(super) struct Branch {
    pub(super) part: PartId,
    pub(super) vote: VoteState,
}

pub(super) struct Tx {
    pub(super) client: ChanRef,
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
}

#[derive(Default)]
pub struct Router {
    pub(super) txs: HashMap<Tid, Tx>,
    /// Partitions per facility, in registration order.
    partitions: HashMap<String, Vec<(PartId, KeyRange)>>,
    /// Committed transactions whose commit the backend is making durable:
    /// the client hears of the commit only after it is. (client, client gone)
    pub(super) committing: HashMap<Tid, (ChanRef, bool, u32)>,
    /// Transaction timeouts; entries of finished transactions are skipped when they fire.
    timers: BinaryHeap<Reverse<(Instant, Tid)>>,
}

impl Router {
    /// Partitions registered for a facility.
    pub fn partition_count(&self, facility: &str) -> usize {
        self.partitions.get(facility).map_or(0, Vec::len)
    }

    pub fn active(&self) -> usize {
        self.txs.len()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    pub fn tick(&mut self, ctx: &mut Ctx) {
        while let Some(Reverse((when, tid))) = self.timers.peek().copied() {
            if when > ctx.now {
                break;
            }
            self.timers.pop();
            if self.txs.contains_key(&tid) {
                self.abort(ctx, tid, Status::Timout, 0);
            }
        }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, m: ToRouter) {
        match m {
            ToRouter::Start { tid, facility, client, timeout_ms } => {
                self.begin(ctx.now, tid, facility, client);
                if let Some(ms) = timeout_ms {
                    self.timers.push(Reverse((ctx.now + Duration::from_millis(u64::from(ms)), tid)));
                }
            }
            ToRouter::Send { tid, facility, client, data, flags: fl } => {
                let accept = fl & flags::sen::ACCEPT != 0;
                let tx = self.begin(ctx.now, tid, facility, client);
                if tx.client_accepted {
                    return;
                }
                let fac = tx.facility.clone();
                let routed = route(self.partitions.get(&fac), &data);
                let part = match routed {
                    Ok(p) => p,
                    // Undeliverable: given back to the client, who decides;
                    // the transaction goes on.
                    Err(_) if fl & flags::sen::RETURN_TO_SENDER != 0 => {
                        ctx.to_frontend(ToFrontend::Returned { tid, client, data });
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
                let Some(tx) = self.txs.get_mut(&tid) else { return };
                let first = tx.branches.is_empty();
                if !tx.branches.iter().any(|b| b.part == part) {
                    tx.branches.push(Branch { part, vote: VoteState::Pending });
                }
                ctx.to_backend(ToBackend::Msg { tid, part, data, first, flags: fl });
                if accept {
                    self.client_accept(ctx, tid, 0);
                }
            }
            ToRouter::ClientAccept { tid, reason } => self.client_accept(ctx, tid, reason),
            ToRouter::ClientPrepare { tid, reason } => {
                let Some(tx) = self.txs.get_mut(&tid) else { return };
                if tx.client_accepted || tx.prepare.is_some() {
                    return;
                }
                tx.prepare = Some((reason, false));
                for b in tx.branches.iter_mut().filter(|b| b.vote == VoteState::Pending) {
                    b.vote = VoteState::Requested;
                    ctx.to_backend(ToBackend::VoteRequest { tid, part: b.part });
                }
                self.try_prepared(ctx, tid);
            }
            ToRouter::ClientAbort { tid, status, reason, gone } => {
                let Some(tx) = self.txs.get_mut(&tid) else { return };
                if gone && tx.client_accepted {
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
            ToRouter::Reply { tid, data } => {
                if let Some(tx) = self.txs.get(&tid) {
                    if !tx.client_gone {
                        ctx.to_frontend(ToFrontend::Reply { tid, client: tx.client, data });
                    }
                }
            }
            ToRouter::Vote { tid, part, accept, reason } => {
                let Some(tx) = self.txs.get_mut(&tid) else { return };
                if !accept {
                    self.abort(ctx, tid, Status::Rejected, reason);
                    return;
                }
                if let Some(b) = tx.branches.iter_mut().find(|b| b.part == part) {
                    b.vote = VoteState::Accepted;
                }
                self.try_prepared(ctx, tid);
                self.try_commit(ctx, tid);
            }
            ToRouter::VoteWithdrawn { tid, part } => {
                let Some(tx) = self.txs.get_mut(&tid) else { return };
                let requested = tx.client_accepted;
                if let Some(b) = tx.branches.iter_mut().find(|b| b.part == part) {
                    if b.vote == VoteState::Accepted {
                        // The backend asks the replacement server itself
                        // (with rtr_mt_prepare when the vote was requested).
                        b.vote = if requested { VoteState::Requested } else { VoteState::Pending };
                    }
                }
            }
            ToRouter::BranchFailed { tid, status, .. } => {
                if self.txs.contains_key(&tid) {
                    self.abort(ctx, tid, status, 0);
                }
            }
            ToRouter::Durable { tid } => {
                if let Some((client, gone, reason)) = self.committing.remove(&tid) {
                    if !gone {
                        ctx.to_frontend(ToFrontend::Outcome {
                            tid,
                            client,
                            accepted: true,
                            status: Status::Ok,
                            reason,
                        });
                    }
                }
            }
            ToRouter::CommitFailed { tid, status } => {
                if let Some((client, gone, _)) = self.committing.remove(&tid) {
                    if !gone {
                        ctx.to_frontend(ToFrontend::Outcome { tid, client, accepted: false, status, reason: 0 });
                    }
                }
            }
            ToRouter::PartitionUp { facility, part, range } => {
                self.partitions.entry(facility).or_default().push((part, range));
            }
            ToRouter::PartitionDown { facility, part } => {
                if let Some(v) = self.partitions.get_mut(&facility) {
                    v.retain(|(p, _)| *p != part);
                }
            }
        }
    }

    fn begin(&mut self, now: Instant, tid: Tid, facility: String, client: ChanRef) -> &mut Tx {
        self.txs.entry(tid).or_insert_with(|| Tx {
            client,
            facility,
            branches: Vec::new(),
            client_accepted: false,
            accept_reason: 0,
            client_gone: false,
            started: now,
            prepare: None,
        })
    }

    /// After `rtr_prepare_tx`: tell the client once every server voted yes.
    fn try_prepared(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(tx) = self.txs.get_mut(&tid) else { return };
        let Some((reason, false)) = tx.prepare else { return };
        if tx.client_accepted || tx.branches.iter().any(|b| b.vote != VoteState::Accepted) {
            return;
        }
        tx.prepare = Some((reason, true));
        if !tx.client_gone {
            ctx.to_frontend(ToFrontend::Prepared { tid, client: tx.client, reason });
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
        for b in tx.branches.iter_mut().filter(|b| b.vote == VoteState::Pending) {
            b.vote = VoteState::Requested;
            ctx.to_backend(ToBackend::VoteRequest { tid, part: b.part });
        }
        self.try_commit(ctx, tid);
    }

    fn try_commit(&mut self, ctx: &mut Ctx, tid: Tid) {
        let Some(tx) = self.txs.get(&tid) else { return };
        if !tx.client_accepted || tx.branches.iter().any(|b| b.vote != VoteState::Accepted) {
            return;
        }
        let reason = tx.accept_reason;
        self.finish(ctx, tid, true, Status::Ok, reason);
    }

    fn abort(&mut self, ctx: &mut Ctx, tid: Tid, status: Status, reason: u32) {
        self.finish(ctx, tid, false, status, reason);
    }

    fn finish(&mut self, ctx: &mut Ctx, tid: Tid, accepted: bool, status: Status, reason: u32) {
        let Some(tx) = self.txs.remove(&tid) else { return };
        let parts: Vec<PartId> = tx.branches.iter().map(|b| b.part).collect();
        if accepted && !parts.is_empty() {
            // The client learns of the commit once the backend made it durable.
            self.committing.insert(tid, (tx.client, tx.client_gone, reason));
            ctx.to_backend(ToBackend::Outcome { tid, parts, accepted, status, reason });
            return;
        }
        if !parts.is_empty() {
            ctx.to_backend(ToBackend::Outcome { tid, parts, accepted, status, reason });
        }
        if !tx.client_gone {
            ctx.to_frontend(ToFrontend::Outcome { tid, client: tx.client, accepted, status, reason });
        }
    }
}

/// The partition whose key range holds the message's key.
fn route(parts: Option<&Vec<(PartId, KeyRange)>>, data: &[u8]) -> Result<PartId, Status> {
    let Some(parts) = parts else {
        return Err(Status::Nodstfnd);
    };
    for (id, range) in parts {
        match range.contains(data) {
            Ok(true) => return Ok(*id),
            Ok(false) => {}
            Err(KeyError::MessageTooShort { .. }) => return Err(Status::Keymsgshort),
            Err(_) => return Err(Status::Internal),
        }
    }
    Err(Status::Nodstfnd)
}
