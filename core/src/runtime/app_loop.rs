//! The in-app node thread's loop (an embedded node, `EmbeddedNode::start_with`):
//! sleep on the inbox channel, take everything queued, act, repeat.

use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::driver::{failure_of, Driver};
use super::input::Input;
use super::{halt, LINGER, MAX_BATCH};

/// The embedded node thread: sleep on the inbox channel, take everything
/// queued, act, repeat.
pub(super) fn run(mut driver: Driver, rx: Receiver<Input>) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_loop(&mut driver, &rx)));
    let failure = failure_of(&mut driver, r);
    halt::finish(driver, rx, failure, || {});
}

fn run_loop(driver: &mut Driver, rx: &Receiver<Input>) {
    loop {
        // While a commit is being synced its completion is due within about
        // one fdatasync: wait for it by polling (yielding the CPU) rather
        // than sleeping, so an idle transaction does not pay a wake-up on
        // top of the sync. Bounded, so a slow disk falls back to sleeping.
        let polled = if driver.awaiting_journal() { linger(rx) } else { None };
        let first = match polled {
            Some(m) => Some(m),
            None => match driver.next_deadline() {
                Some(deadline) => match rx.recv_deadline(deadline) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return,
                },
            },
        };
        let now = Instant::now();
        let mut next = first;
        let mut taken = 0;
        while let Some(input) = next {
            if !driver.input(now, input) {
                return;
            }
            taken += 1;
            next = if taken < MAX_BATCH { rx.try_recv().ok() } else { None };
        }
        if !driver.flush(now) {
            return;
        }
    }
}

/// Poll the inbox for up to [`LINGER`] (`crate::linger`).
fn linger(rx: &Receiver<Input>) -> Option<Input> {
    crate::linger::until(crate::syscalls::Side::Node, Instant::now() + LINGER, || !rx.is_empty(), || false);
    rx.try_recv().ok()
}
