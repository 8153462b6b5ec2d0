//! Fork detection: a connection belongs to the process that made it.
//!
//! After `fork`, a child holds a copy of its parent's connection: the same
//! socket (the node would take both processes' requests as one process's,
//! interleaved) or, for the embedded node, a node whose threads did not
//! survive the fork (calls would wait for nothing). So every call of a
//! connection made before the latest fork of this process fails with
//! `RTR_STS_NODEUNAVAIL` and a message saying why; the child connects
//! anew. Counted by a `pthread_atfork` child handler: one atomic load per
//! call, no `getpid` system call.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

/// Forks of this process so far (as seen in the child).
static FORKS: AtomicU32 = AtomicU32::new(0);
static HOOKED: Once = Once::new();

extern "C" fn in_child() {
    // Async-signal-safe: one atomic add.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// The fork generation a connection made now belongs to.
pub(crate) fn generation() -> u32 {
    HOOKED.call_once(|| {
        // SAFETY: registers a handler that only adds to an atomic; no
        // prepare or parent handler.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
    FORKS.load(Ordering::Relaxed)
}

/// Why a connection of generation `made` may not be used here, if not.
pub(crate) fn check(made: u32) -> Result<(), crate::error::RtrError> {
    if FORKS.load(Ordering::Relaxed) == made {
        return Ok(());
    }
    Err(crate::error::RtrError::NodeUnavailable(format!(
        "this process (pid {}) was forked from the one that connected to the node: a connection \
         cannot be shared across fork; connect (open channels) anew in the child",
        std::process::id()
    )))
}
