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

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::syscalls::{self, Side};

/// Lingers begun so far, by side (application, node): what tests check
/// to see who polls (a relaxed add per linger, beside its yields).
static STARTED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

fn slot(side: Side) -> usize {
    match side {
        Side::App => 0,
        Side::Node => 1,
    }
}

/// How many lingers `side` has begun in this process so far.
pub fn started(side: Side) -> u64 {
    STARTED[slot(side)].load(Ordering::Relaxed)
}

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
pub fn until(side: Side, until: Instant, done: impl FnMut() -> bool, between: impl FnMut() -> bool) -> bool {
    STARTED[slot(side)].fetch_add(1, Ordering::Relaxed);
    until_with(until, done, between, || syscalls::yield_now(side))
}

/// [`until`] with the yield given (tests pass a fake one).
fn until_with(
    until: Instant,
    mut done: impl FnMut() -> bool,
    mut between: impl FnMut() -> bool,
    mut yield_now: impl FnMut(),
) -> bool {
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
        yield_now();
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

    /// Yields, and calls of the condition, over a linger of `ms` with a
    /// yield that takes `yield_us` (0: returns at once, nobody else wanted
    /// the CPU; 20: another thread ran).
    fn linger_with_yields_of(yield_us: u64, ms: u64) -> (u64, u64) {
        let (mut yields, mut looks) = (0u64, 0u64);
        let deadline = Instant::now() + Duration::from_millis(ms);
        let done = until_with(
            deadline,
            || {
                looks += 1;
                false
            },
            || false,
            || {
                yields += 1;
                if yield_us > 0 {
                    std::thread::sleep(Duration::from_micros(yield_us));
                }
            },
        );
        assert!(!done);
        (yields, looks)
    }

    #[test]
    fn on_an_idle_cpu_it_spins_between_few_yields() {
        // A yield per turn would make tens of thousands of these instant
        // yields in 2 ms; stretches of up to 16 us allow some 130 and the
        // QUICK_YIELDS first ones (and more if the test thread is
        // preempted: a late yield starts over). The bound is loose on
        // purpose: the test machine is shared and noisy, and what is
        // checked is the order of magnitude, not a timing.
        let (yields, _) = linger_with_yields_of(0, 2);
        assert!(yields <= 2000, "{yields} yields in 2 ms");
        assert!(yields > u64::from(QUICK_YIELDS), "{yields} yields in 2 ms");
    }

    #[test]
    fn on_a_busy_cpu_it_yields_at_every_turn() {
        // Every yield is late (another thread ran): no spinning between
        // them, the condition looked at twice per turn.
        let (yields, looks) = linger_with_yields_of(20, 5);
        assert!(yields > 0);
        assert!(looks <= 2 * yields + 2, "{looks} looks for {yields} yields: it spun");
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
