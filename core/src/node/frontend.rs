//! The frontend role: the client channels of the node's applications.
//!
//! It turns client requests into router messages and router results into
//! deliveries. It keeps, per client channel, the transaction in progress, so
//! that a late request naming a finished transaction is dropped instead of
//! starting a new one.

use super::Map;

use super::{ChanRef, Ctx, NodeRef, ToFrontend, ToRouter, LOCAL};
use crate::facility::RoleList;
use crate::msgtype::MsgType;
use crate::protocol::{Bytes, ConnId, Delivery, Payload, Request};
use crate::status::Status;
use crate::tid::Tid;
use std::time::Instant;

pub(super) struct ClientChan {
    pub(super) facility: String,
    pub(super) current: Option<Tid>,
    /// The current transaction's router and, when that router is on
    /// another node, what the client asked of it so far: kept until the
    /// outcome so the transaction can be driven again through the next
    /// router if that one is lost.
    flight: Flight,
}

#[derive(Default)]
struct Flight {
    router: NodeRef,
    /// Its router was lost, no other router of the facility is linked, and
    /// the client had accepted or prepared: the lost router may have
    /// committed it, so it has no outcome here yet. It waits for a router
    /// of its facility to link (`Frontend::router_up`); `router` names the
    /// lost one and nothing is sent to it. Invariant: only when
    /// [`Flight::voted`].
    waiting: bool,
    timeout_ms: Option<u32>,
    sends: Vec<(Bytes, u32)>,
    prepare: Option<u32>,
    accept: Option<u32>,
    /// When the client began it, for the commit latency.
    started: Option<Instant>,
    /// The client rejected (its reason): driven again after a router loss,
    /// the reject goes to the new router too (the first may have lost it).
    reject: Option<u32>,
    /// How many times it was driven again (`ToRouter::Start::drive`): each
    /// drive numbers the transaction's work anew, and backends refuse new
    /// work of an earlier one, whose router this frontend left.
    drive: u32,
}

impl Flight {
    /// The client accepted (`rtr_accept_tx`, or a send with
    /// `RTR_F_SEN_ACCEPT`) or prepared: a router may have committed it.
    fn voted(&self) -> bool {
        self.accepted() || self.prepare.is_some()
    }

    /// The client accepted (`rtr_accept_tx`, or a send with `RTR_F_SEN_ACCEPT`).
    fn accepted(&self) -> bool {
        self.accept.is_some() || self.sends.iter().any(|(_, fl)| fl & crate::flags::sen::ACCEPT != 0)
    }

    /// Send `m` to the transaction's router, unless it waits for one (what
    /// the client asks meanwhile is kept in the flight and driven later).
    fn tell(&self, ctx: &mut Ctx, m: ToRouter) {
        if !self.waiting {
            ctx.to_router(self.router, m);
        }
    }
}

#[derive(Default)]
pub struct Frontend {
    pub(super) chans: Map<ChanRef, ClientChan>,
    /// Highest tid sequence seen per connection. The library allocates tids
    /// and sends their first request under one lock, so a connection's new
    /// tids arrive in increasing order: a tid at or below this mark that is
    /// not a channel's current one is finished, and starts nothing.
    last_seq: Map<ConnId, u64>,
    /// Outcomes (commits and rejections) that reached this node, to acknowledge to the
    /// router on another node that sent it (`ToRouter::Acked`): the
    /// frontend will not drive them again, so their backends may forget
    /// them. Sent with the next message to that router, or after
    /// `FLUSH_AFTER` (`Node::flush_batches`).
    acks: Map<NodeRef, Vec<Tid>>,
    /// When the oldest of `acks` was queued.
    acks_since: Option<Instant>,
    /// Transactions started and their outcomes ([`super::metrics`]).
    pub(super) metrics: super::metrics::TxMetrics,
}

impl Frontend {
    pub fn open(&mut self, ctx: &mut Ctx, chan: ChanRef, facility: String) {
        self.chans.insert(chan, ClientChan { facility, current: None, flight: Flight::default() });
        ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Opened, None, Status::Ok, 0));
    }

    /// A client channel closed. Its transaction's router hears that the
    /// client went away; a transaction waiting for a router is simply
    /// forgotten here (the backends' in-doubt branches ask a router later,
    /// which finds out from them what became of it).
    pub fn close(&mut self, ctx: &mut Ctx, chan: ChanRef) {
        if let Some(c) = self.chans.remove(&chan) {
            if let Some(tid) = c.current {
                c.flight.tell(ctx, ToRouter::ClientAbort { tid, status: Status::Reqdied, reason: 0, gone: true });
            }
        }
    }

    /// A connection went away: forget its tid mark (its channels were closed one by one before).
    pub fn forget_conn(&mut self, conn: ConnId) {
        self.last_seq.remove(&conn);
    }

    pub fn request(&mut self, ctx: &mut Ctx, chan: ChanRef, req: Request) {
        let Some(c) = self.chans.get_mut(&chan) else { return };
        let last = self.last_seq.entry(chan.0).or_default();
        match req {
            Request::StartTx { tid, timeout_ms, .. } => {
                if !c.begin(ctx, tid, chan, last, timeout_ms, &mut self.metrics) {
                    return;
                }
                let start = ToRouter::Start { tid, facility: c.facility.clone(), client: chan, timeout_ms, drive: 0 };
                ctx.to_router(c.flight.router, start);
            }
            Request::Send { tid, flags: fl, data, .. } => {
                if c.current != Some(tid) {
                    // Implicit start, unless the tid is an old one. The
                    // router hears it as a start too: a router starts a
                    // transaction only on `Start`, so a send that reaches it
                    // after it ended the transaction (rejected it while the
                    // client was still sending) cannot start the tid again.
                    if !c.begin(ctx, tid, chan, last, None, &mut self.metrics) {
                        return;
                    }
                    let start =
                        ToRouter::Start { tid, facility: c.facility.clone(), client: chan, timeout_ms: None, drive: 0 };
                    ctx.to_router(c.flight.router, start);
                }
                if c.flight.router != LOCAL {
                    c.flight.sends.push((data.clone(), fl));
                }
                let send = ToRouter::Send { tid, facility: c.facility.clone(), client: chan, data, flags: fl };
                c.flight.tell(ctx, send);
            }
            Request::Accept { tid, reason, flags: fl, .. } if c.current == Some(tid) => {
                c.flight.tell(ctx, ToRouter::ClientAccept { tid, reason });
                c.flight.accept = Some(reason);
                if fl & crate::flags::acc::FORGET != 0 {
                    // The client forgot it: no reply or outcome reaches it.
                    c.current = None;
                }
            }
            Request::Prepare { tid, reason, .. } if c.current == Some(tid) => {
                c.flight.tell(ctx, ToRouter::ClientPrepare { tid, reason });
                c.flight.prepare = Some(reason);
            }
            Request::Reject { tid, reason, .. }
                if c.current == Some(tid) && c.flight.waiting && !c.flight.accepted() =>
            {
                // Waiting for a router after a prepare: no router can have
                // committed without the client's accept, so the reject
                // stands at once (the prepare's reason, as a router gives).
                let reason = c.flight.prepare.unwrap_or(reason);
                c.current = None;
                self.metrics.outcome(ctx.now, c.flight.started, false, Status::Rejected);
                c.flight = Flight::default();
                ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Rejected, Some(tid), Status::Rejected, reason));
            }
            Request::Reject { tid, reason, .. } if c.current == Some(tid) => {
                // (Waiting after an accept: the library refuses a reject
                // then, and nothing goes to a router.)
                let abort = ToRouter::ClientAbort { tid, status: Status::Rejected, reason, gone: false };
                c.flight.tell(ctx, abort);
                c.flight.reject = Some(reason);
            }
            // Requests naming a finished tid, and server-only requests (the
            // node routes by role, so those never come here).
            _ => {}
        }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, from: NodeRef, m: ToFrontend) {
        match m {
            // Delivered by the node itself (`Node::run`).
            ToFrontend::Broadcast { .. } => {}
            ToFrontend::Returned { tid, client, data } => {
                if self.chans.get(&client).is_some_and(|c| c.current == Some(tid)) {
                    ctx.deliver(
                        client.0,
                        Delivery {
                            chan: client.1,
                            msgtype: MsgType::Rettosend,
                            tid: Some(tid),
                            evtnum: 0,
                            payload: Payload::Data(data),
                            fence: 0,
                        },
                    );
                }
            }
            ToFrontend::Prepared { tid, client, reason } => {
                if self.chans.get(&client).is_some_and(|c| c.current == Some(tid)) {
                    ctx.deliver(client.0, status_delivery(client.1, MsgType::Prepared, Some(tid), Status::Ok, reason));
                }
            }
            ToFrontend::Reply { tid, client, data } => {
                if self.chans.get(&client).is_some_and(|c| c.current == Some(tid)) {
                    ctx.deliver(
                        client.0,
                        Delivery {
                            chan: client.1,
                            msgtype: MsgType::Reply,
                            tid: Some(tid),
                            evtnum: 0,
                            payload: Payload::Data(data),
                            fence: 0,
                        },
                    );
                }
            }
            ToFrontend::Outcome { tid, client, accepted, status, reason } => {
                if from != LOCAL {
                    // Delivered below, or its channel moved on or closed:
                    // either way this frontend will not drive it again, so
                    // the backends may forget its commit or its rejection.
                    self.acks.entry(from).or_default().push(tid);
                    self.acks_since.get_or_insert(ctx.now);
                }
                let Some(c) = self.chans.get_mut(&client) else { return };
                if c.current != Some(tid) {
                    return;
                }
                if c.flight.router != from {
                    // From a router this frontend left for the transaction
                    // (it drives it again through `flight.router`): that
                    // router's copy is stale, and so may its outcome be (a
                    // rejection of work the new router commits).
                    return;
                }
                c.current = None;
                self.metrics.outcome(ctx.now, c.flight.started, accepted, status);
                c.flight = Flight::default();
                let mt = if accepted { MsgType::Accepted } else { MsgType::Rejected };
                ctx.deliver(client.0, status_delivery(client.1, mt, Some(tid), status, reason));
            }
        }
    }
}

impl Frontend {
    /// The link to node `lost` went down: every transaction routed through
    /// it is driven again, under the same tid, through the next router of
    /// its facility (start, every send in order, then the prepare or accept
    /// the client gave). The backends recognise the tid, deliver nothing
    /// twice and answer with what they already know, so the application
    /// notices nothing.
    ///
    /// With no router left, a transaction the client has not accepted or
    /// prepared yet is rejected (`RTR_STS_ROUTERUNAVAILTMO`): no router can
    /// have committed it without that accept. One the client accepted (or
    /// prepared) may have been committed by the lost router, so the
    /// frontend gives it no outcome of its own: it waits, for as long as it
    /// takes, for a router of its facility to link ([`Frontend::router_up`]),
    /// which drives it again and brings its real outcome.
    pub fn router_lost(&mut self, ctx: &mut Ctx, lost: NodeRef) {
        // Acknowledgements for it go nowhere now: the backends keep those
        // commits answerable (the safe side; docs/outcomes.md).
        self.acks.remove(&lost);
        for (chan, c) in self.chans.iter_mut() {
            let Some(tid) = c.current else { continue };
            if c.flight.router != lost || c.flight.waiting {
                continue;
            }
            let Some(&router) = ctx.topo.routers(&c.facility).first() else {
                if c.flight.voted() {
                    c.flight.waiting = true;
                    continue;
                }
                c.current = None;
                self.metrics.outcome(ctx.now, c.flight.started, false, Status::Routerunavailtmo);
                c.flight = Flight::default();
                let d = status_delivery(chan.1, MsgType::Rejected, Some(tid), Status::Routerunavailtmo, 0);
                ctx.deliver(chan.0, d);
                continue;
            };
            c.drive_again(ctx, *chan, tid, router);
        }
    }

    /// The link to node `id` came up: transactions waiting for a router
    /// (see [`Frontend::router_lost`]) are driven again through their
    /// facility's preferred router, when `id` made one reachable (a node
    /// that routes only other facilities changes nothing for them).
    pub fn router_up(&mut self, ctx: &mut Ctx, id: NodeRef) {
        let mut chans: Vec<ChanRef> =
            self.chans.iter().filter(|(_, c)| c.flight.waiting && c.current.is_some()).map(|(k, _)| *k).collect();
        if chans.is_empty() {
            return;
        }
        // In channel order, so the routers hear them in an order that
        // depends on the inputs only.
        chans.sort();
        for chan in chans {
            let Some(c) = self.chans.get_mut(&chan) else { continue };
            let Some(tid) = c.current else { continue };
            if !ctx.topo.peer_plays(id, &c.facility, RoleList::Router) {
                continue;
            }
            let Some(router) = ctx.topo.first_router(&c.facility) else { continue };
            c.drive_again(ctx, chan, tid, router);
        }
    }
}

impl Frontend {
    /// When queued acknowledgements must go even with nothing to ride on.
    pub(super) fn ack_deadline(&self) -> Option<Instant> {
        self.acks_since.map(|t| t + super::router::FLUSH_AFTER)
    }

    /// The acknowledgements to send now: to every router that `riding`
    /// says has a message going anyway, or to all once the oldest waited
    /// `FLUSH_AFTER`.
    pub(super) fn take_acks(&mut self, now: Instant, riding: impl Fn(NodeRef) -> bool) -> Vec<(NodeRef, Vec<Tid>)> {
        if self.acks.is_empty() {
            // (Those to a lost router were dropped.)
            self.acks_since = None;
            return Vec::new();
        }
        let all = self.acks_since.is_some_and(|t| t + super::router::FLUSH_AFTER <= now);
        let mut to: Vec<NodeRef> = self.acks.keys().copied().filter(|r| all || riding(*r)).collect();
        to.sort();
        let out: Vec<(NodeRef, Vec<Tid>)> =
            to.into_iter().filter_map(|r| self.acks.remove(&r).map(|tids| (r, tids))).collect();
        if self.acks.is_empty() {
            self.acks_since = None;
        }
        out
    }
}

impl ClientChan {
    /// Drive the current transaction `tid` again through `router`: its
    /// start (marked as a re-drive: no timeout there), every send in order,
    /// then the prepare and accept the client gave.
    fn drive_again(&mut self, ctx: &mut Ctx, chan: ChanRef, tid: Tid, router: NodeRef) {
        self.flight.router = router;
        self.flight.waiting = false;
        self.flight.drive += 1;
        let f = &self.flight;
        let facility = &self.facility;
        let start =
            ToRouter::Start { tid, facility: facility.clone(), client: chan, timeout_ms: f.timeout_ms, drive: f.drive };
        ctx.to_router(router, start);
        for (data, fl) in &f.sends {
            let send = ToRouter::Send { tid, facility: facility.clone(), client: chan, data: data.clone(), flags: *fl };
            ctx.to_router(router, send);
        }
        if let Some(reason) = f.prepare {
            ctx.to_router(router, ToRouter::ClientPrepare { tid, reason });
        }
        if let Some(reason) = f.accept {
            ctx.to_router(router, ToRouter::ClientAccept { tid, reason });
        }
        if let Some(reason) = f.reject {
            let abort = ToRouter::ClientAbort { tid, status: Status::Rejected, reason, gone: false };
            ctx.to_router(router, abort);
        }
    }

    /// Make `tid` the current transaction, routed through the facility's
    /// preferred reachable router; false if it is stale or not the
    /// connection's own, or if no router can be reached (the client then
    /// gets `rtr_mt_rejected` with `RTR_STS_ROUTERUNAVAILTMO`).
    fn begin(
        &mut self,
        ctx: &mut Ctx,
        tid: Tid,
        chan: ChanRef,
        last_seq: &mut u64,
        timeout_ms: Option<u32>,
        metrics: &mut super::metrics::TxMetrics,
    ) -> bool {
        if tid.conn != chan.0 || tid.seq <= *last_seq {
            return false;
        }
        *last_seq = tid.seq;
        metrics.started();
        let Some(router) = ctx.topo.first_router(&self.facility) else {
            metrics.outcome(ctx.now, Some(ctx.now), false, Status::Routerunavailtmo);
            let d = status_delivery(chan.1, MsgType::Rejected, Some(tid), Status::Routerunavailtmo, 0);
            ctx.deliver(chan.0, d);
            return false;
        };
        self.current = Some(tid);
        self.flight = Flight { router, timeout_ms, started: Some(ctx.now), ..Flight::default() };
        true
    }
}

pub(super) fn status_delivery(chan: u32, msgtype: MsgType, tid: Option<Tid>, status: Status, reason: u32) -> Delivery {
    Delivery { chan, msgtype, tid, evtnum: 0, payload: Payload::Status { status, reason }, fence: 0 }
}
