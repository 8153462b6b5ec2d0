//! The library's view of one channel: its role and flags, the queue of
//! messages the node delivered and the application has not received yet, and
//! the transaction state that decides which calls are valid.
//!
//! The transaction state moves when the application *receives* a message
//! (not when the node delivers it): RTR promises that a client may start its
//! next transaction only after it received the outcome of the last one, and
//! a server's implicit accept happens when it asks for its next message.

use std::collections::VecDeque;

use crate::flags;
use crate::protocol::{Delivery, Role};
use crate::tid::Tid;

#[derive(Debug)]
pub(crate) struct Chan {
    pub role: Role,
    pub flags: u32,
    pub usrhdl: usize,
    /// Deliveries not yet received, each with its arrival sequence number
    /// (so a receive over several channels takes the oldest first).
    pub queue: VecDeque<(u64, Delivery)>,
    pub tx: TxState,
    /// Server: the outcome of this transaction was received; the next receive
    /// (or close) tells the node the server is done with it.
    pub unacked_outcome: Option<Tid>,
    /// RTR closed the channel (`rtr_mt_closed` was received): only
    /// `rtr_close_channel` remains valid on it.
    pub closed_by_rtr: bool,
    /// An information channel (`rtr_request_info`, `rtr_set_info`): the
    /// library fills its queue itself and the node never hears of it; it
    /// takes no transactional call.
    pub info: bool,
    /// User events waiting in `queue` (bounded by
    /// [`super::MAX_QUEUED_EVENTS`]: broadcasts beyond it are dropped).
    pub queued_events: usize,
    /// Server: the fencing token of the last message of a transaction
    /// received (`rtr_get_fence`, `docs/fencing.md`); 0 before any.
    pub fence: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxState {
    Idle,
    /// Client: a transaction is active. `accepted` once the client voted;
    /// `prepared` once it asked for phase one (`rtr_prepare_tx`).
    Client {
        tid: Tid,
        accepted: bool,
        prepared: bool,
    },
    /// Server: the application received the first message of `tid`.
    Server {
        tid: Tid,
        vote: Vote,
        prepare_seen: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vote {
    None,
    Accepted,
    Rejected,
}

impl Chan {
    pub fn new(role: Role, flags: u32) -> Chan {
        Chan {
            role,
            flags,
            usrhdl: 0,
            queue: VecDeque::new(),
            tx: TxState::Idle,
            unacked_outcome: None,
            closed_by_rtr: false,
            info: false,
            queued_events: 0,
            fence: 0,
        }
    }

    /// An information channel (see [`Chan::info`]).
    pub fn new_info() -> Chan {
        Chan { info: true, ..Chan::new(Role::Client, 0) }
    }

    pub fn explicit_accept(&self) -> bool {
        self.flags & flags::ope::EXPLICIT_ACCEPT != 0
    }

    pub fn explicit_prepare(&self) -> bool {
        self.flags & flags::ope::EXPLICIT_PREPARE != 0
    }

    /// The tid a server channel would vote on with an implicit accept now:
    /// the vote was requested (prepare seen), nothing voted yet, and the
    /// application did not ask to vote explicitly.
    pub fn implicit_accept_due(&self) -> Option<Tid> {
        match self.tx {
            TxState::Server { tid, vote: Vote::None, prepare_seen: true } if !self.explicit_accept() => Some(tid),
            _ => None,
        }
    }

    /// Still usable for receiving: open, or with messages left to receive.
    pub fn usable(&self) -> bool {
        !self.closed_by_rtr || !self.queue.is_empty()
    }

    pub fn head_seq(&self) -> Option<u64> {
        self.queue.front().map(|(s, _)| *s)
    }
}
