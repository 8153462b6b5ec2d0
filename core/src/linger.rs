//! Polling for something due very soon (a journal completion, a client's
//! outcome) instead of sleeping for it: how the library's and the node's
//! linger loops wait.
//!
//! Why poll at all: on virtual machines a thread's wake-up costs tens of
//! microseconds, a fair part of an fdatasync, so a thread that knows its
//! answer is due within about one sync watches for it for a bounded time
//! before it sleeps.
//!
//! How: a yield per turn is the cooperative way to poll (a runnable thread
//! gets this CPU at once), but on an idle machine every turn is a system
//! call, several hundred per transaction at one client, more the slower
//! the disk. So the thread starts by yielding at every turn and watches
//! what each yield costs: a yield that returns late ([`CONTENDED`]) gave
//! the CPU to another thread, and the thread keeps yielding at every turn
//! (as before; the machine is busy and the threads that would deliver the
//! answer need the CPU). Only after [`QUICK_YIELDS`] quick yields in a row
//! (nobody else wants this CPU) does it spin between yields, looking at
//! its condition all the time, in stretches that double from
//! [`FIRST_STRETCH`] to [`MAX_STRETCH`]; a late yield returns it to a
//! yield per turn. An idle linger of 300 us then costs a few dozen system
//! calls instead of hundreds. (`crossbeam_utils::Backoff::snooze` yields
//! at every call once its short spins are done: no cheaper when idle.)

use std::time::{Duration, Instant};

use crate::syscalls::{self, Side};

/// The first stretch spun without yielding, once yields are quick.
pub const FIRST_STRETCH: Duration = Duration::from_micros(2);
/// The longest stretch spun without yielding: what a thread that becomes
/// runnable on this CPU may wait for it (it then finds the next yield late
/// and the stretches stop).
pub const MAX_STRETCH: Duration = Duration::from_micros(16);

/// A yield that returns later than this gave the CPU to another thread.
pub const CONTENDED: Duration = Duration::from_micros(5);

/// Quick yields in a row before the thread spins between yields.
pub const QUICK_YIELDS: u32 = 8;

/// Poll `done` until it is true or `until` passes; true if it became true.
/// Between stretches it yields the CPU (counted for `side`) and calls
/// `between`, which may look at what takes a system call (a socket) and
/// end the linger by returning true.
pub fn until(side: Side, until: Instant, mut done: impl FnMut() -> bool, mut between: impl FnMut() -> bool) -> bool {
    // No stretch (a yield per turn) until yields have been quick.
    let mut stretch = Duration::ZERO;
    let mut quick = 0u32;
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
        if before.elapsed() > CONTENDED {
            quick = 0;
            stretch = Duration::ZERO;
        } else if quick < QUICK_YIELDS {
            quick += 1;
        } else {
            stretch = (stretch * 2).clamp(FIRST_STRETCH, MAX_STRETCH);
        }
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
        // On an idle CPU at most QUICK_YIELDS yields and then one per
        // stretch; a loaded test run (late yields) yields at every turn,
        // so only a loose bound holds for sure: a yield costs at least
        // some 100 ns.
        let bound = (linger.as_nanos() / 100) as u32;
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
