//! Counts of the system calls that `/proc/PID/io` does not count, made by
//! the library (the application's side) and by the node, for `rtr bench`.
//!
//! The kernel counts read- and write-family calls per thread (`syscr`,
//! `syscw`: read, write, readv, pread, eventfd reads and writes, file I/O),
//! but not socket `send`/`recv`, waits (`poll`, `epoll_wait`),
//! `sched_yield` or `fdatasync`: in daemon mode those are most of what a
//! transaction costs, so the library and the node count them here, at the
//! few places that make them (`transport/unix*`, `runtime/reactor.rs`, the
//! linger loops, the journal's sync). The side is the call site's: library
//! code counts as the application, node code as the node, whichever thread
//! runs it. `syscr + syscw` plus these is every system call but futex
//! waits and wakes (the thread parkers and channels; their sleeps show as
//! context switches), the journal's file opens, stats and closes (its
//! ownership check after each group commit: about four per commit, beside
//! the two reads `syscr` counts) and the rare set-up calls (connect,
//! accept).
//!
//! Cost: one relaxed atomic add per call, beside a system call of a
//! microsecond or more; each side's counter has its own cache line so that
//! node and application threads do not share one.
//!
//! Invariant: a counter only grows (wrapping after 2^64 calls); readers
//! subtract two readings.

use std::sync::atomic::{AtomicU64, Ordering};

/// Whose system call it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The library, on the application's threads.
    App,
    /// The node (in the daemon, or the embedded node's threads).
    Node,
}

/// One side's counter, alone on its cache line.
#[repr(align(64))]
struct Counter(AtomicU64);

static APP: Counter = Counter(AtomicU64::new(0));
static NODE: Counter = Counter(AtomicU64::new(0));

fn counter(side: Side) -> &'static AtomicU64 {
    match side {
        Side::App => &APP.0,
        Side::Node => &NODE.0,
    }
}

/// Count `n` system calls made by `side`.
#[inline]
pub fn count(side: Side, n: u64) {
    counter(side).fetch_add(n, Ordering::Relaxed);
}

/// `sched_yield` (the linger loops), counted.
#[inline]
pub fn yield_now(side: Side) {
    count(side, 1);
    std::thread::yield_now();
}

/// The calls counted for `side` in this process so far.
pub fn total(side: Side) -> u64 {
    counter(side).load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_counts_its_own_calls() {
        // Other tests of this binary count too: only growth is certain.
        let (a, n) = (total(Side::App), total(Side::Node));
        count(Side::App, 3);
        yield_now(Side::Node);
        assert!(total(Side::App) >= a + 3);
        assert!(total(Side::Node) > n);
    }
}
