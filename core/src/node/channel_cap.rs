//! A bound on the channels one library connection may hold open on the
//! node (README: Security).
//!
//! The library keeps a process to `MAX_CHANNELS`, but the node cannot
//! count on the library: a process speaking the protocol itself could
//! open channels without end (200k opens grew a node from 5 to 77 MB).
//! Over the bound an open is answered like any refused open: the channel
//! is closed at once with `RTR_STS_TOOMANYCHN`.

use std::collections::HashMap;

use crate::protocol::ConnId;

/// Channels one connection holds, and the bound.
#[derive(Debug)]
pub(crate) struct ChannelCap {
    max: usize,
    open: HashMap<ConnId, usize>,
    /// Opens refused over the bound, since the node started.
    refused: u64,
}

impl Default for ChannelCap {
    fn default() -> Self {
        ChannelCap { max: crate::MAX_CHANNELS, open: HashMap::new(), refused: 0 }
    }
}

impl ChannelCap {
    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max.max(1);
    }

    /// Whether `conn` may open one more channel (counted as refused if not).
    pub(crate) fn admit(&mut self, conn: ConnId) -> bool {
        let ok = self.open.get(&conn).copied().unwrap_or(0) < self.max;
        if !ok {
            self.refused += 1;
        }
        ok
    }

    pub(crate) fn opened(&mut self, conn: ConnId) {
        *self.open.entry(conn).or_default() += 1;
    }

    pub(crate) fn closed(&mut self, conn: ConnId) {
        if let Some(n) = self.open.get_mut(&conn) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(&conn);
            }
        }
    }

    /// The connection is gone with all its channels.
    pub(crate) fn gone(&mut self, conn: ConnId) {
        self.open.remove(&conn);
    }

    pub(crate) fn refused(&self) -> u64 {
        self.refused
    }
}
