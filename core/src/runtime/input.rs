//! What the node thread takes in ([`Input`]) and the inbox it takes it
//! from ([`Inbox`]), plus [`PeerLinks`]: how the node thread reaches the
//! links to other nodes without knowing how they are made (the TCP links of
//! `transport/links.rs` implement it; the runtime does not depend on them).

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use super::admin;
#[cfg(test)]
use super::driver::Driver;
use super::DeliverySink;
use crate::facility::FacilityTable;
use crate::node::{Internal, NodeRef, PeerInfo};
use crate::protocol::admin::{LinkInfo, LinkMetrics};
use crate::protocol::{ConnId, Request};
use crate::status::Status;
use crate::tid::Tid;

/// What the node thread takes in.
pub(crate) enum Input {
    Connect(ConnId, Arc<dyn DeliverySink>),
    Request(ConnId, Request),
    /// Synced journal writes completed (or failed); when the journal's
    /// ownership check behind them passed (see `Driver::acks_went_stale`).
    JournalDone(Vec<u64>, Result<(), Status>, Instant),
    /// Unsynced journal writes of these transactions failed.
    JournalFailed(Vec<Tid>, Status),
    /// A taken-over journal can no longer be written (`Node::taken_over_lost`).
    TakenOverLost(u32),
    /// The journal failed in a way that leaves outcomes unknown (an I/O
    /// error, or another owner fenced this one): the node stops, saying why.
    Fatal(String),
    Shutdown,
    /// Answer on this channel once everything queued before it is acted on
    /// and the journal writes it caused are durable (`EmbeddedNode::drain`).
    Drain(crossbeam_channel::Sender<()>),
    /// Management: a view to take, definitions to apply, a process id to
    /// note, or a graceful stop (see `admin.rs`).
    Admin(admin::Cmd),
    /// The node's links to other nodes started (a daemon with `--listen`
    /// or peers).
    Links(Arc<dyn PeerLinks>),
    /// A link to a peer node is up.
    LinkUp(NodeRef, PeerInfo),
    /// A message from a role on a linked peer.
    Peer(NodeRef, Internal),
    /// A link went down.
    LinkDown(NodeRef),
    /// A greeted application connection whose socket the node thread reads
    /// from now on (a daemon's event loop; see `daemon_loop.rs`).
    Adopt(ConnId, std::os::unix::net::UnixStream),
    /// Tests: run this on the node thread with the driver.
    #[cfg(test)]
    Test(Box<dyn FnOnce(&mut Driver) + Send>),
}

/// The node thread's inbox: a channel, plus a waker when the thread sleeps
/// in an event loop (a daemon's) rather than on the channel itself.
#[derive(Clone)]
pub(crate) struct Inbox {
    tx: Sender<Input>,
    waker: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Inbox {
    /// An inbox on a channel, without a waker.
    pub(crate) fn new(tx: Sender<Input>) -> Inbox {
        Inbox { tx, waker: None }
    }

    /// An inbox whose every send also calls `waker` (a daemon's node
    /// thread sleeps in epoll, not on the channel: `waker` rings its bell).
    pub(crate) fn with_waker(tx: Sender<Input>, waker: Arc<dyn Fn() + Send + Sync>) -> Inbox {
        Inbox { tx, waker: Some(waker) }
    }

    pub(crate) fn send(&self, input: Input) -> bool {
        let ok = self.tx.send(input).is_ok();
        if let Some(w) = &self.waker {
            w();
        }
        ok
    }
}

/// The node's links to other nodes, as the node thread uses them. Every
/// call is made on the node thread and must not block for long.
pub(crate) trait PeerLinks: Send + Sync {
    /// Queue bytes (whole node-to-node frames) for the link `peer`, in
    /// order. A link that is gone, or whose queue would pass its bound,
    /// takes nothing (the node learns of its end by `Input::LinkDown`).
    fn send(&self, peer: NodeRef, bytes: Vec<u8>);
    /// New facility definitions: the peers to link to may have changed.
    fn set_table(self: Arc<Self>, table: FacilityTable);
    /// Close every link at once and make no more (the node is stopping).
    /// Idempotent.
    fn stop(&self);
    /// Rows for `rtr show link`.
    fn show(&self) -> Vec<LinkInfo>;
    /// Each peer's link counters, by name.
    fn metrics(&self) -> Vec<LinkMetrics>;
}
