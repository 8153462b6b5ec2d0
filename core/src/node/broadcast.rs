//! Broadcast events (`rtr_broadcast_event`): not transactional, not
//! journaled. A client's broadcast reaches the server channels of its
//! facility, a server's the client channels, each only if it subscribed to
//! the event number at open and its recipient name matches the broadcast's
//! recipient specification.

use super::Map;

use super::{ChanRef, Ctx};
use crate::events::{recipient_matches, Subscription};
use crate::msgtype::MsgType;
use crate::protocol::{Bytes, ConnId, Delivery, Payload, Role};

struct Listener {
    role: Role,
    facility: String,
    recipient: String,
    subs: Subscription,
}

#[derive(Default)]
pub struct Broadcasts {
    chans: Map<ChanRef, Listener>,
    /// Subscriptions sent ahead of their channel's open (so that the events
    /// of the open itself reach the channel).
    pending: Map<ChanRef, (String, Subscription)>,
    /// Broadcasts delivered and, when nobody subscribed, sent to nobody.
    pub delivered: u64,
    pub unheard: u64,
}

impl Broadcasts {
    pub fn opened(&mut self, chan: ChanRef, role: Role, facility: String) {
        let (recipient, subs) = self.pending.remove(&chan).unwrap_or_default();
        self.chans.insert(chan, Listener { role, facility, recipient, subs });
    }

    pub fn subscribe(&mut self, chan: ChanRef, recipient: String, subs: Subscription) {
        match self.chans.get_mut(&chan) {
            Some(l) => {
                l.recipient = recipient;
                l.subs = subs;
            }
            None => {
                self.pending.insert(chan, (recipient, subs));
            }
        }
    }

    pub fn closed(&mut self, chan: ChanRef) {
        self.chans.remove(&chan);
        self.pending.remove(&chan);
    }

    pub fn closed_conn(&mut self, conn: ConnId) {
        self.chans.retain(|c, _| c.0 != conn);
        self.pending.retain(|c, _| c.0 != conn);
    }

    /// An RTR event (`rtr_mt_rtr_event`, the facility name as data) to the
    /// channels of `facility` that subscribed to it, optionally only those
    /// of one role or one channel.
    pub fn rtr_event(&self, ctx: &mut Ctx, facility: &str, evtnum: i32, role: Option<Role>, only: Option<ChanRef>) {
        let data = Bytes::from(facility.as_bytes());
        for (chan, l) in &self.chans {
            if l.facility == facility
                && l.subs.wants(evtnum)
                && role.is_none_or(|r| r == l.role)
                && only.is_none_or(|o| o == *chan)
            {
                ctx.deliver(
                    chan.0,
                    Delivery {
                        chan: chan.1,
                        msgtype: MsgType::RtrEvent,
                        tid: None,
                        evtnum,
                        payload: Payload::Data(data.clone()),
                        fence: 0,
                    },
                );
            }
        }
    }

    /// A user event from channel `from`: delivered to this node's channels
    /// of the other role (a client's to servers, a server's to clients).
    /// Returns (facility, whether it goes to servers) for the routers to
    /// carry it to the other nodes, or None for an unknown channel.
    pub fn broadcast(
        &mut self,
        ctx: &mut Ctx,
        from: ChanRef,
        evtnum: i32,
        rcpspc: &str,
        data: Bytes,
    ) -> Option<(String, bool)> {
        let sender = self.chans.get(&from)?;
        let facility = sender.facility.clone();
        let to_servers = sender.role == Role::Client;
        self.deliver(ctx, &facility, to_servers, evtnum, rcpspc, data);
        Some((facility, to_servers))
    }

    /// Deliver a user event to this node's channels of `facility` of one
    /// role (servers or clients) that subscribed to it and whose recipient
    /// name matches `rcpspc`.
    pub fn deliver(&mut self, ctx: &mut Ctx, facility: &str, to_servers: bool, evtnum: i32, rcpspc: &str, data: Bytes) {
        let target = if to_servers { Role::Server } else { Role::Client };
        let mut n = 0;
        for (chan, l) in &self.chans {
            if l.role == target
                && l.facility == facility
                && l.subs.wants(evtnum)
                && recipient_matches(rcpspc, &l.recipient)
            {
                n += 1;
                ctx.deliver(
                    chan.0,
                    Delivery {
                        chan: chan.1,
                        msgtype: MsgType::UserEvent,
                        tid: None,
                        evtnum,
                        payload: Payload::Data(data.clone()),
                        fence: 0,
                    },
                );
            }
        }
        if n == 0 {
            self.unheard += 1;
        }
        self.delivered += n;
    }
}
