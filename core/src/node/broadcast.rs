//! Broadcast events (`rtr_broadcast_event`): not transactional, not
//! journaled. A client's broadcast reaches the server channels of its
//! facility, a server's the client channels, each only if it subscribed to
//! the event number at open and its recipient name matches the broadcast's
//! recipient specification.

use std::collections::HashMap;

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
    chans: HashMap<ChanRef, Listener>,
    /// Broadcasts delivered and, when nobody subscribed, sent to nobody.
    pub delivered: u64,
    pub unheard: u64,
}

impl Broadcasts {
    pub fn opened(&mut self, chan: ChanRef, role: Role, facility: String) {
        self.chans.insert(chan, Listener { role, facility, recipient: String::new(), subs: Subscription::default() });
    }

    pub fn subscribe(&mut self, chan: ChanRef, recipient: String, subs: Subscription) {
        if let Some(l) = self.chans.get_mut(&chan) {
            l.recipient = recipient;
            l.subs = subs;
        }
    }

    pub fn closed(&mut self, chan: ChanRef) {
        self.chans.remove(&chan);
    }

    pub fn closed_conn(&mut self, conn: ConnId) {
        self.chans.retain(|c, _| c.0 != conn);
    }

    pub fn broadcast(&mut self, ctx: &mut Ctx, from: ChanRef, evtnum: i32, rcpspc: &str, data: Bytes) {
        let Some(sender) = self.chans.get(&from) else { return };
        let (facility, target) = (
            sender.facility.clone(),
            match sender.role {
                Role::Client => Role::Server,
                Role::Server => Role::Client,
            },
        );
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
