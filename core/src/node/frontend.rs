//! The frontend role: the client channels of the node's applications.
//!
//! It turns client requests into router messages and router results into
//! deliveries. It keeps, per client channel, the transaction in progress, so
//! that a late request naming a finished transaction is dropped instead of
//! starting a new one.

use std::collections::HashMap;

use super::{ChanRef, Ctx, ToFrontend, ToRouter};
use crate::msgtype::MsgType;
use crate::protocol::{ConnId, Delivery, Payload, Request};
use crate::status::Status;
use crate::tid::Tid;

pub(super) struct ClientChan {
    pub(super) facility: String,
    pub(super) current: Option<Tid>,
}

#[derive(Default)]
pub struct Frontend {
    pub(super) chans: HashMap<ChanRef, ClientChan>,
    /// Highest tid sequence seen per connection. The library allocates tids
    /// and sends their first request under one lock, so a connection's new
    /// tids arrive in increasing order: a tid at or below this mark that is
    /// not a channel's current one is finished, and starts nothing.
    last_seq: HashMap<ConnId, u64>,
}

impl Frontend {
    pub fn open(&mut self, ctx: &mut Ctx, chan: ChanRef, facility: String) {
        self.chans.insert(chan, ClientChan { facility, current: None });
        ctx.deliver(chan.0, status_delivery(chan.1, MsgType::Opened, None, Status::Ok, 0));
    }

    pub fn close(&mut self, ctx: &mut Ctx, chan: ChanRef) {
        if let Some(c) = self.chans.remove(&chan) {
            if let Some(tid) = c.current {
                ctx.to_router(ToRouter::ClientAbort { tid, status: Status::Reqdied, reason: 0, gone: true });
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
                if !c.begin(tid, chan.0, last) {
                    return;
                }
                ctx.to_router(ToRouter::Start { tid, facility: c.facility.clone(), client: chan, timeout_ms });
            }
            Request::Send { tid, flags: fl, data, .. } => {
                if c.current != Some(tid) {
                    // Implicit start, unless the tid is an old one.
                    if !c.begin(tid, chan.0, last) {
                        return;
                    }
                }
                ctx.to_router(ToRouter::Send { tid, facility: c.facility.clone(), client: chan, data, flags: fl });
            }
            Request::Accept { tid, reason, flags: fl, .. } if c.current == Some(tid) => {
                ctx.to_router(ToRouter::ClientAccept { tid, reason });
                if fl & crate::flags::acc::FORGET != 0 {
                    // The client forgot it: no reply or outcome reaches it.
                    c.current = None;
                }
            }
            Request::Prepare { tid, reason, .. } if c.current == Some(tid) => {
                ctx.to_router(ToRouter::ClientPrepare { tid, reason });
            }
            Request::Reject { tid, reason, .. } if c.current == Some(tid) => {
                ctx.to_router(ToRouter::ClientAbort { tid, status: Status::Rejected, reason, gone: false });
            }
            // Requests naming a finished tid, and server-only requests (the
            // node routes by role, so those never come here).
            _ => {}
        }
    }

    pub fn handle(&mut self, ctx: &mut Ctx, m: ToFrontend) {
        match m {
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
                        },
                    );
                }
            }
            ToFrontend::Outcome { tid, client, accepted, status, reason } => {
                let Some(c) = self.chans.get_mut(&client) else { return };
                if c.current != Some(tid) {
                    return;
                }
                c.current = None;
                let mt = if accepted { MsgType::Accepted } else { MsgType::Rejected };
                ctx.deliver(client.0, status_delivery(client.1, mt, Some(tid), status, reason));
            }
        }
    }
}

impl ClientChan {
    /// Make `tid` the current transaction; false if it is stale or not the
    /// connection's own.
    fn begin(&mut self, tid: Tid, conn: ConnId, last_seq: &mut u64) -> bool {
        if tid.conn != conn || tid.seq <= *last_seq {
            return false;
        }
        *last_seq = tid.seq;
        self.current = Some(tid);
        true
    }
}

pub(super) fn status_delivery(chan: u32, msgtype: MsgType, tid: Option<Tid>, status: Status, reason: u32) -> Delivery {
    Delivery { chan, msgtype, tid, evtnum: 0, payload: Payload::Status { status, reason } }
}
