//! How a library connection reaches its node: in-process (the embedded node)
//! or over a Unix socket (a node daemon, `rtr start`). Both carry the same
//! [`Request`]s and [`crate::protocol::Delivery`]s; the channel API above
//! does not know which one it uses.

pub mod accept;
pub(crate) mod deadline;
pub mod links;
mod repeats;
pub mod session;
pub(crate) mod stream;
pub mod tls;
pub mod unix;

use std::sync::Arc;

use crate::protocol::{ConnId, Request};
use crate::runtime::NodeLink;

/// The environment variable naming the Unix socket of the local node
/// daemon. When it is set, the process-wide connection goes to that node
/// instead of starting an embedded one.
pub const NODE_SOCKET_ENV: &str = "RTR_NODE_SOCKET";

#[derive(Clone)]
pub enum Link {
    Embedded(NodeLink),
    Socket(Arc<unix::ClientConn>),
}

impl Link {
    pub fn conn(&self) -> ConnId {
        match self {
            Link::Embedded(l) => l.conn(),
            Link::Socket(c) => c.conn(),
        }
    }

    /// Queue a request; false when the node cannot be reached any more. A
    /// socket connection writes it with the next [`Link::flush`].
    pub fn send(&self, req: Request) -> bool {
        match self {
            Link::Embedded(l) => l.send(req),
            Link::Socket(c) => c.queue(&req),
        }
    }

    /// Write what was queued (a socket connection; the embedded node's
    /// queue needs no writing). False when the node cannot be reached.
    pub fn flush(&self) -> bool {
        match self {
            Link::Embedded(_) => true,
            Link::Socket(c) => c.flush(),
        }
    }
}
