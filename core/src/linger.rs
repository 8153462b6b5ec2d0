//! Polling for something due very soon (a journal completion, a client's
//! outcome) instead of sleeping for it: how the library's and the node's
//! linger loops wait.
//!
//! Why poll at all: on virtual machines a thread's wake-up costs tens of
//! microseconds, a fair part of an fdatasync, so a thread that knows its
//! answer is due within about one sync watches for it for a bounded time
//! before it sleeps.
//!
//! Why not `sched_yield` in a loop (what the loops did): every turn was a
//! system call (and, with another thread runnable, a context switch),
//! several hundred per transaction at one client, more the slower the disk.
//! Here the thread spins on the CPU, looking at its condition all the
//! time, in stretches that double from [`FIRST_STRETCH`] up to
//! [`MAX_STRETCH`], and yields once between stretches, so that a runnable
//! thread waits at most one stretch for this CPU: a few dozen system calls
//! per linger at most, and the answer seen as soon as it is there. A yield
//! that took long ([`CONTENDED`]: another thread ran meanwhile) means the
//! CPU is wanted: the stretches start short again, so a busy machine's
//! runnable threads (the ones that would deliver the answer, often) get
//! the CPU as soon as they did with a yield per turn.
//! (`crossbeam_utils::Backoff::snooze` yields at every call once its short
//! spins are done: the pattern this replaces.)

use std::time::{Duration, Instant};

use crate::syscalls::{self, Side};

/// The first stretch spun without yielding.
pub const FIRST_STRETCH: Duration = Duration::from_micros(2);
/// The longest stretch spun without yielding: what a runnable thread
/// waiting for this CPU may wait.
pub const MAX_STRETCH: Duration = Duration::from_micros(16);

/// A yield that returns later than this gave the CPU to another thread.
pub const CONTENDED: Duration = Duration::from_micros(5);

/// Poll `done` until it is true or `until` passes; true if it became true.
/// Between stretches it yields the CPU (counted for `side`) and calls
/// `between`, which may look at what takes a system call (a socket) and
/// end the linger by returning true.
pub fn until(side: Side, until: Instant, mut done: impl FnMut() -> bool, mut between: impl FnMut() -> bool) -> bool {
    let mut stretch = FIRST_STRETCH;
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        let end = (now + stretch).min(until);
        while Instant::now() < end {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        if done() {
            return true;
        }
        let before = Instant::now();
        syscalls::yield_now(side);
        stretch = if before.elapsed() > CONTENDED { FIRST_STRETCH } else { (stretch * 2).min(MAX_STRETCH) };
        if between() {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_condition_already_true_ends_it_without_yielding() {
        let mut between = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        assert!(until(
            Side::App,
            deadline,
            || true,
            || {
                between += 1;
                false
            }
        ));
        assert_eq!(between, 0);
    }

    #[test]
    fn it_gives_up_at_its_deadline_having_yielded_a_bounded_number_of_times() {
        let mut yields = 0u32;
        let linger = Duration::from_millis(2);
        assert!(!until(
            Side::App,
            Instant::now() + linger,
            || false,
            || {
                yields += 1;
                false
            }
        ));
        // At most one yield per stretch, and a stretch is at least
        // FIRST_STRETCH (up to MAX_STRETCH on an idle CPU; short again
        // while other threads want it, as under a loaded test run).
        let bound = (linger.as_micros() / FIRST_STRETCH.as_micros()) as u32 + 1;
        assert!(yields <= bound, "{yields} yields, more than {bound}");
    }

    #[test]
    fn it_sees_another_threads_answer_and_between_can_end_it() {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let t = std::thread::spawn(move || f.store(true, Ordering::Release));
        let deadline = Instant::now() + Duration::from_secs(60);
        assert!(until(Side::Node, deadline, || flag.load(Ordering::Acquire), || false));
        t.join().unwrap();
        assert!(until(Side::Node, deadline, || false, || true));
    }
}
