//! The messages between the application library and its node.
//!
//! In embedded mode these values cross an in-process channel; in daemon mode
//! the same values are framed over a Unix socket. Nothing else crosses: the
//! node never touches application memory, and the library never touches node
//! state.

pub mod admin;
pub mod codec;
pub mod peer;
mod wire;

use std::sync::Arc;

use crate::keyseg::KeyRange;
use crate::msgtype::MsgType;
use crate::status::Status;
use crate::tid::Tid;

/// Message data, shared without copying between the roles of a node (the
/// backend keeps a transaction's messages for replay while delivering them).
pub type Bytes = Arc<[u8]>;

/// A library connection to a node (one per process in daemon mode).
pub type ConnId = u32;
/// A channel id as the application sees it; unique within its connection and never reused.
pub type ChanId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
}

/// What the library asks of its node.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    Open {
        chan: ChanId,
        role: Role,
        /// Normalised (upper case) facility name.
        facility: String,
        flags: u32,
        /// Server key range (empty for clients).
        range: KeyRange,
    },
    Close {
        chan: ChanId,
    },
    /// Explicit start with an optional timeout; a `Send` naming an unknown tid starts one implicitly.
    StartTx {
        chan: ChanId,
        tid: Tid,
        timeout_ms: Option<u32>,
    },
    Send {
        chan: ChanId,
        tid: Tid,
        flags: u32,
        data: Bytes,
    },
    Reply {
        chan: ChanId,
        tid: Tid,
        flags: u32,
        data: Bytes,
    },
    /// A vote (server) or the client's accept. `implicit` marks a server's
    /// implicit accept by receiving again.
    Accept {
        chan: ChanId,
        tid: Tid,
        flags: u32,
        reason: u32,
        implicit: bool,
    },
    Reject {
        chan: ChanId,
        tid: Tid,
        flags: u32,
        reason: u32,
    },
    /// A server received the outcome of `tid` and asked for its next message:
    /// it has finished with the transaction, which the backend may now forget.
    /// (A server that dies before this gets the transaction again after a
    /// restart, as `rtr_mt_msg1_uncertain`.)
    Ack {
        chan: ChanId,
        tid: Tid,
    },
    /// The client asks for phase one only (`rtr_prepare_tx`).
    Prepare {
        chan: ChanId,
        tid: Tid,
        reason: u32,
    },
    /// The channel's broadcast recipient name and event subscriptions
    /// (sent after `Open` when the application gave either).
    Subscribe {
        chan: ChanId,
        recipient: String,
        /// Inclusive ranges of event numbers.
        events: Vec<(i32, i32)>,
    },
    /// A user event for the other side of the facility (not transactional).
    Broadcast {
        chan: ChanId,
        evtnum: i32,
        /// Recipient specification (`*`, `?` wildcards); empty: unnamed channels.
        rcpspc: String,
        data: Bytes,
    },
    /// The process (or library connection) went away: every channel of it closes.
    Disconnect,
}

/// The data part of a delivered message.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Data(Bytes),
    /// `rtr_status_data_t`
    Status {
        status: Status,
        reason: u32,
    },
    None,
}

/// What the node hands to the library for one channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub chan: ChanId,
    pub msgtype: MsgType,
    pub tid: Option<Tid>,
    pub evtnum: i32,
    pub payload: Payload,
    /// For a server's delivery of a transaction: the grant epoch under
    /// which its partition holds the key range (`docs/fencing.md`), a
    /// fencing token for the server's database; 0 otherwise.
    pub fence: u64,
}
