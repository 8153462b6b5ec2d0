//! How a node thread ends, and who hears of it.
//!
//! The node thread stops for good on a graceful stop (`rtr stop`), when its
//! last handle is dropped, when it loses its journal (fenced by a new owner,
//! or a failed write or sync: it can then give no outcome that it could
//! keep), or on a bug (a panic). However it ends, [`finish`] does, in order:
//! 1. close its links to other nodes (sockets shut down, no more dialling or
//!    accepting), so that routers see the node go at once, not after their
//!    inactivity timer, and fail over;
//! 2. mark it *closing* and close its inbox: from then on no request is
//!    taken (every call fails with `RTR_STS_NODEUNAVAIL`), and a connection
//!    or links that arrived meanwhile are told so;
//! 3. tell every application connection the node stopped;
//! 4. release its journals (flushed where it still owns them);
//! 5. mark it *ended*: a daemon waiting for that exits (non-zero when the
//!    node failed, so that a supervisor restarts it).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::{Driver, Input};

/// Shared by the node thread (which moves it forward) and the node's handle.
#[derive(Default)]
pub(crate) struct Halt {
    state: Mutex<State>,
    ended: Condvar,
}

#[derive(Default)]
struct State {
    closing: bool,
    /// Why the node stopped on its own (None: it was asked to, or runs).
    failure: Option<String>,
    ended: bool,
}

impl Halt {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn closing(&self, failure: Option<String>) {
        let mut s = self.lock();
        s.closing = true;
        s.failure = failure;
    }

    /// True once the node thread takes no more requests.
    pub(crate) fn is_closing(&self) -> bool {
        self.lock().closing
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.lock().failure.clone()
    }

    fn end(&self) {
        self.lock().ended = true;
        self.ended.notify_all();
    }

    /// Wait up to `timeout` for the node thread to end; true if it has.
    pub(crate) fn wait_ended(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let mut s = self.lock();
        while !s.ended {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self.ended.wait_timeout(s, left).map(|(g, _)| g).unwrap_or_else(|e| e.into_inner().0);
        }
        true
    }
}

/// The node thread's last act (see the module comment). `release` drops
/// what the loop held besides the driver (a daemon's event loop and the
/// application sockets it watches) before the end is announced.
pub(super) fn finish(driver: Driver, rx: Receiver<Input>, failure: Option<String>, release: impl FnOnce()) {
    let halt = driver.halt.clone();
    if let Some(links) = &driver.links {
        links.stop();
    }
    if failure.is_some() {
        crate::rtr_log!(Info, "rtr node: links closed; closing {} application connections", driver.sinks.len());
    }
    // Marked before the inbox is drained: a connection queued after the
    // drain is refused by `EmbeddedNode::connect`, which checks the mark
    // after queueing.
    halt.closing(failure);
    for input in rx.try_iter() {
        match input {
            Input::Connect(_, sink) => sink.node_stopped(),
            Input::Links(links) => links.stop(),
            // Anything else is dropped: an admin asker finds its answer
            // channel closed (NODEUNAVAIL), a socket handed over is closed
            // with its connection's sink below.
            _ => {}
        }
    }
    drop(rx);
    driver.stop_all();
    drop(driver);
    release();
    halt.end();
}

#[cfg(test)]
mod tests;
