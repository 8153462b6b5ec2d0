//! Connections do not cross `fork()`.
//!
//! A forked child has a copy of the library's memory but none of its
//! threads (the embedded node, the socket reader), and it shares a node
//! daemon's socket with its parent. A connection inherited that way can
//! only time out, or worse, disturb the parent's. So every connection
//! remembers the fork generation it was made in (a counter a
//! `pthread_atfork` child handler bumps, so that checking costs one atomic
//! load) and raises a clear `RTR_STS_NODEUNAVAIL` in a child; the child
//! opens connections of its own (`Connection.embedded`, `Connection.daemon`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

use pyo3::prelude::*;
use rtr_core::Status;

use crate::errors::status_error;

/// Forks this process's image has gone through (0 in the original process).
static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();
/// The generation in which the process-wide connection was first taken.
static PROCESS_WIDE: Mutex<Option<u64>> = Mutex::new(None);

extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// Install the child handler (once per process image; it stays installed
/// across forks).
pub(crate) fn install() {
    REGISTER.call_once(|| {
        // SAFETY: registers a handler that only does an atomic add (safe in
        // a child after fork, where only async-signal-safe work is allowed).
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        }
    });
}

/// The fork generation of this process image (0 in the original process).
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::SeqCst)
}

/// Where a connection was made.
pub(crate) struct Origin {
    generation: u64,
    pid: u32,
}

impl Origin {
    pub(crate) fn here() -> Origin {
        Origin { generation: generation(), pid: std::process::id() }
    }

    /// The process-wide connection: made once per process image, so a
    /// child whose parent had taken it cannot take it again.
    pub(crate) fn process_wide(py: Python<'_>) -> PyResult<Origin> {
        let now = generation();
        let first = {
            // Not poisoned in practice; a poisoned lock still holds the value.
            let mut g = PROCESS_WIDE.lock().unwrap_or_else(|e| e.into_inner());
            *g.get_or_insert(now)
        };
        let origin = Origin { generation: first, pid: std::process::id() };
        if first != now {
            return Err(status_error(
                py,
                Status::Nodeunavail,
                "the process-wide connection was taken before os.fork(): a child process cannot use it \
                 (its node stayed with the parent); open one of its own: rtr.Connection.embedded(...) \
                 or rtr.Connection.daemon(socket)"
                    .into(),
            ));
        }
        Ok(origin)
    }

    pub(crate) fn is_stale(&self) -> bool {
        self.generation != generation()
    }

    /// An error if this process is a fork child of the one that made it.
    pub(crate) fn check(&self, py: Python<'_>) -> PyResult<()> {
        if self.is_stale() {
            return Err(status_error(
                py,
                Status::Nodeunavail,
                format!(
                    "this rtr.Connection was made by process {} before os.fork(): a connection does not \
                     cross a fork (its node and socket stay with the parent); in process {} open one of \
                     its own: rtr.Connection.embedded(...) or rtr.Connection.daemon(socket)",
                    self.pid,
                    std::process::id()
                ),
            ));
        }
        Ok(())
    }
}
