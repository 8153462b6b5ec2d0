//! What an accept loop does when accepting fails.
//!
//! At the descriptor limit (`EMFILE`, `ENFILE`) or out of kernel memory,
//! `accept` fails at once and keeps failing while the connection waits in
//! the backlog: a loop that simply tries again spins a core at 100% and
//! starves the threads that would close descriptors. So it sleeps, longer
//! each time up to [`MAX_PAUSE`], says so once per episode, and counts the
//! failures; the first accept that succeeds ends the episode. Other
//! failures (a connection reset before it was accepted, a signal) are the
//! peer's business: tried again at once.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The first pause after running out of descriptors.
const MIN_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause: how late a connection may be accepted once
/// descriptors are free again.
pub const MAX_PAUSE: Duration = Duration::from_millis(500);

/// Accepts that failed for lack of descriptors or memory, in this process.
pub static EXHAUSTED: AtomicU64 = AtomicU64::new(0);

/// One accept loop's state.
pub(crate) struct Backoff {
    what: &'static str,
    pause: Option<Duration>,
}

impl Backoff {
    /// For the loop accepting `what` ("application connections", "links").
    pub(crate) fn new(what: &'static str) -> Self {
        Backoff { what, pause: None }
    }

    /// An accept succeeded.
    pub(crate) fn accepted(&mut self) {
        if self.pause.take().is_some() {
            crate::rtr_log!(Info, "rtr node: accepting {} again", self.what);
        }
    }

    /// An accept failed with `e`: pause if it is for lack of resources.
    pub(crate) fn failed(&mut self, e: &io::Error) {
        if !exhausted(e) {
            return;
        }
        EXHAUSTED.fetch_add(1, Ordering::Relaxed);
        let pause = match self.pause {
            None => {
                crate::rtr_log!(
                    Warn,
                    "rtr node: cannot accept {} ({e}): pausing accepts until descriptors are free",
                    self.what
                );
                MIN_PAUSE
            }
            Some(p) => (p * 2).min(MAX_PAUSE),
        };
        self.pause = Some(pause);
        std::thread::sleep(pause);
    }
}

/// Failures that last until something else frees resources.
fn exhausted(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}
