//! The backend role: server channels, the partitions they serve, and the
//! presentation of transactions to free servers.
//!
//! Invariants:
//! - a server channel works on at most one transaction (`Server::current`);
//! - a branch (transaction x partition) is either assigned to one server or
//!   waits in its partition's FIFO `waiting` queue;
//! - the backend keeps every message of a branch until the outcome, so a
//!   branch whose server went away is presented again to another server of
//!   the partition, first message as `rtr_mt_msg1_uncertain` when the lost
//!   server had already voted (it may have applied the work).

use std::collections::{HashMap, VecDeque};

use super::frontend::status_delivery;
use super::{ChanRef, Ctx, PartId, ToBackend, ToRouter};
use crate::flags;
use crate::keyseg::{KeyLayout, KeyRange};
use crate::msgtype::MsgType;
use crate::protocol::{Bytes, Delivery, Payload, Request};
use crate::status::Status;
use crate::tid::Tid;

struct Server {
    part: PartId,
    current: Option<Tid>,
}

struct Partition {
    facility: String,
    range: KeyRange,
    servers: Vec<ChanRef>,
    free: VecDeque<ChanRef>,
    waiting: VecDeque<Tid>,
    noconcurrent: bool,
}

struct Branch {
    server: Option<ChanRef>,
    msgs: Vec<Bytes>,
    /// The router asked for the vote (the client accepted).
    vote_requested: bool,
    /// The server's vote, kept across a replay once it accepted.
    voted_accept: bool,
    /// Present the first message as `rtr_mt_msg1_uncertain`.
    uncertain: bool,
    /// Outcome that arrived while no server held the branch (commit after a
    /// voted server died): delivered after the replay.
    pending_outcome: Option<(bool, Status, u32)>,
}

#[derive(Default)]
struct Facility {
    layout: Option<KeyLayout>,
    parts: Vec<PartId>,
}

#[derive(Default)]
pub struct Backend {
    facilities: HashMap<String, Facility>,
    parts: HashMap<PartId, Partition>,
    servers: HashMap<ChanRef, Server>,
    branches: HashMap<(Tid, PartId), Branch>,
    next_part: PartId,
}

impl Backend {
    pub fn partitions(&self) -> usize {
        self.parts.len()
    }

    pub fn servers(&self) -> usize {
        self.servers.len()
    }

    pub fn open(&mut self, ctx: &mut Ctx, chan: ChanRef, facility: String, fl: u32, range: KeyRange) {
        let refuse =
            |ctx: &mut Ctx, status| ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Closed, None, status, 0));
        let noconcurrent = fl & flags::ope::NOCONCURRENT != 0;
        let fac = self.facilities.entry(facility.clone()).or_default();
        let layout = range.layout();
        if fac.parts.is_empty() {
            fac.layout = Some(layout);
        } else if fac.layout.as_ref() != Some(&layout) {
            return refuse(ctx, Status::Keylayout);
        }
        let same = fac
            .parts
            .iter()
            .copied()
            .find(|p| self.parts.get(p).is_some_and(|p| p.range.same_range(&range)));
        let part_id = match same {
            Some(id) => {
                let Some(p) = self.parts.get_mut(&id) else {
                    return refuse(ctx, Status::Internal);
                };
                if !p.servers.is_empty() && (noconcurrent || p.noconcurrent) {
                    return refuse(ctx, Status::Noconcurrent);
                }
                if p.servers.is_empty() {
                    p.noconcurrent = noconcurrent;
                }
                id
            }
            None => {
                if fac
                    .parts
                    .iter()
                    .any(|p| self.parts.get(p).is_some_and(|p| p.range.overlaps(&range)))
                {
                    return refuse(ctx, Status::Keyoverlap);
                }
                self.next_part += 1;
                let id = self.next_part;
                fac.parts.push(id);
                self.parts.insert(
                    id,
                    Partition {
                        facility: facility.clone(),
                        range: range.clone(),
                        servers: Vec::new(),
                        free: VecDeque::new(),
                        waiting: VecDeque::new(),
                        noconcurrent,
                    },
                );
                ctx.to_router(ToRouter::PartitionUp {
                    facility,
                    part: id,
                    range,
                });
                id
            }
        };
        self.servers.insert(
            chan,
            Server {
                part: part_id,
                current: None,
            },
        );
        if let Some(p) = self.parts.get_mut(&part_id) {
            p.servers.push(chan);
            p.free.push_back(chan);
        }
        ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Opened, None, Status::Ok, 0));
        self.dispatch(ctx, part_id);
    }

    /// A server channel closed (or its process went away).
    pub fn close(&mut self, ctx: &mut Ctx, chan: ChanRef) {
        let Some(srv) = self.servers.remove(&chan) else { return };
        let part_id = srv.part;
        let Some(p) = self.parts.get_mut(&part_id) else { return };
        p.servers.retain(|s| *s != chan);
        p.free.retain(|s| *s != chan);
        if let Some(tid) = srv.current {
            if let Some(b) = self.branches.get_mut(&(tid, part_id)) {
                // Present it again, ahead of newer work, to keep order. A
                // lost server's vote goes with it: its database work was
                // not committed, so the replacement redoes it and votes
                // again. The first message comes as uncertain because the
                // lost server may have applied the work already.
                b.server = None;
                if b.voted_accept {
                    b.uncertain = true;
                    b.voted_accept = false;
                    ctx.to_router(ToRouter::VoteWithdrawn { tid, part: part_id });
                }
                p.waiting.push_front(tid);
            }
        }
        if p.servers.is_empty() && p.waiting.is_empty() {
            self.drop_if_empty(ctx, part_id);
        } else {
            // With no server left, waiting branches are held until one
            // returns (or the client's timeout or reject ends them).
            self.dispatch(ctx, part_id);
        }
    }

    /// Requests on server channels.
    pub fn request(&mut self, ctx: &mut Ctx, chan: ChanRef, req: Request) {
        let Some(srv) = self.servers.get(&chan) else { return };
        let part = srv.part;
        let current = srv.current;
        match req {
            Request::Reply { tid, data, .. } if current == Some(tid) => {
                ctx.to_router(ToRouter::Reply { tid, data });
            }
            Request::Accept { tid, reason, .. } if current == Some(tid) => {
                if let Some(b) = self.branches.get_mut(&(tid, part)) {
                    if !b.voted_accept {
                        b.voted_accept = true;
                        ctx.to_router(ToRouter::Vote {
                            tid,
                            part,
                            accept: true,
                            reason,
                        });
                    }
                }
            }
            Request::Reject { tid, reason, .. } if current == Some(tid) => {
                ctx.to_router(ToRouter::Vote {
                    tid,
                    part,
                    accept: false,
                    reason,
                });
            }
            _ => {}
        }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, m: ToBackend) {
        match m {
            ToBackend::Msg { tid, part, data } => {
                if let Some(b) = self.branches.get_mut(&(tid, part)) {
                    b.msgs.push(data.clone());
                    if let Some(s) = b.server {
                        ctx.deliver(s.0, data_delivery(s.1, MsgType::Msgn, tid, data));
                    }
                    return;
                }
                let Some(p) = self.parts.get_mut(&part) else {
                    ctx.to_router(ToRouter::BranchFailed {
                        tid,
                        part,
                        status: Status::Nodstfnd,
                    });
                    return;
                };
                if p.servers.is_empty() {
                    ctx.to_router(ToRouter::BranchFailed {
                        tid,
                        part,
                        status: Status::Nodstfnd,
                    });
                    return;
                }
                self.branches.insert(
                    (tid, part),
                    Branch {
                        server: None,
                        msgs: vec![data],
                        vote_requested: false,
                        voted_accept: false,
                        uncertain: false,
                        pending_outcome: None,
                    },
                );
                p.waiting.push_back(tid);
                self.dispatch(ctx, part);
            }
            ToBackend::VoteRequest { tid, part } => {
                let Some(b) = self.branches.get_mut(&(tid, part)) else {
                    return;
                };
                b.vote_requested = true;
                if let (Some(s), false) = (b.server, b.voted_accept) {
                    ctx.deliver(
                        s.0,
                        Delivery {
                            chan: s.1,
                            msgtype: MsgType::Prepare,
                            tid: Some(tid),
                            evtnum: 0,
                            payload: Payload::None,
                        },
                    );
                }
            }
            ToBackend::Outcome {
                tid,
                part,
                accepted,
                status,
                reason,
            } => {
                let Some(b) = self.branches.get_mut(&(tid, part)) else {
                    return;
                };
                match b.server {
                    Some(s) => {
                        self.branches.remove(&(tid, part));
                        self.deliver_outcome(ctx, s, tid, accepted, status, reason);
                        self.dispatch(ctx, part);
                    }
                    None if accepted => {
                        // Committed while no server held it (a branch
                        // recovered from the journal): a server must still
                        // see it (replayed, then the outcome).
                        b.pending_outcome = Some((accepted, status, reason));
                    }
                    None => {
                        self.branches.remove(&(tid, part));
                        if let Some(p) = self.parts.get_mut(&part) {
                            p.waiting.retain(|t| *t != tid);
                        }
                        self.drop_if_empty(ctx, part);
                    }
                }
            }
        }
    }

    fn deliver_outcome(&mut self, ctx: &mut Ctx, s: ChanRef, tid: Tid, accepted: bool, status: Status, reason: u32) {
        let mt = if accepted { MsgType::Accepted } else { MsgType::Rejected };
        ctx.deliver(s.0, status_delivery(s.1, mt, Some(tid), status, reason));
        if let Some(srv) = self.servers.get_mut(&s) {
            srv.current = None;
            if let Some(p) = self.parts.get_mut(&srv.part) {
                p.free.push_back(s);
            }
        }
    }

    /// Present waiting branches of a partition to its free servers.
    fn dispatch(&mut self, ctx: &mut Ctx, part: PartId) {
        loop {
            let Some(p) = self.parts.get_mut(&part) else { return };
            if p.waiting.is_empty() || p.free.is_empty() {
                return;
            }
            let Some(tid) = p.waiting.pop_front() else { return };
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
                ctx.deliver(s.0, data_delivery(s.1, mt, tid, m.clone()));
            }
            if let Some((accepted, status, reason)) = b.pending_outcome {
                self.branches.remove(&(tid, part));
                self.deliver_outcome(ctx, s, tid, accepted, status, reason);
                continue;
            }
            if b.vote_requested && !b.voted_accept {
                ctx.deliver(
                    s.0,
                    Delivery {
                        chan: s.1,
                        msgtype: MsgType::Prepare,
                        tid: Some(tid),
                        evtnum: 0,
                        payload: Payload::None,
                    },
                );
            }
        }
    }

    fn drop_if_empty(&mut self, ctx: &mut Ctx, part: PartId) {
        let Some(p) = self.parts.get(&part) else { return };
        if p.servers.is_empty() && p.waiting.is_empty() {
            let facility = p.facility.clone();
            self.parts.remove(&part);
            if let Some(f) = self.facilities.get_mut(&facility) {
                f.parts.retain(|x| *x != part);
            }
            ctx.to_router(ToRouter::PartitionDown { facility, part });
        }
    }
}

fn data_delivery(chan: u32, msgtype: MsgType, tid: Tid, data: Bytes) -> Delivery {
    Delivery {
        chan,
        msgtype,
        tid: Some(tid),
        evtnum: 0,
        payload: Payload::Data(data),
    }
}
