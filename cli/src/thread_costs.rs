//! What a benchmark run costs the kernel, split between the application
//! and the node: read/write system calls, context switches and CPU time.
//!
//! `rtr bench` runs the node (embedded or as a daemon serving its socket)
//! in its own process, so the two sides are told apart by thread: the
//! node's threads are the ones it names `rtr-*` (node, journal, connection
//! reader and writer, link threads); everything else (the benchmark's
//! client and server threads, and the library's socket reader thread,
//! `rtr-socket-reader`) is the application. Node figures are the sums over
//! the node's threads (`/proc/self/task/TID/status` and `.../io`); the
//! application's are the whole process (`getrusage(RUSAGE_SELF)`, which
//! counts threads that ended, and `/proc/self/io`) minus the node's.
//!
//! The counters: system calls are `syscr`/`syscw` of `/proc/.../io` (read-
//! and write-family calls: read, write, readv, writev and the like on any
//! descriptor, eventfds and files included) plus what the library and the
//! node count themselves of the calls the kernel does not count there
//! (`rtr_core::syscalls`: socket send/recv, poll, epoll_wait, sched_yield,
//! fdatasync), by side; not futex waits and wakes, whose sleeps show as
//! context switches, nor the journal's file opens, stats and closes (see
//! `rtr_core::syscalls`). Context switches are voluntary plus involuntary. For
//! every system call use `perf stat -e raw_syscalls:sys_enter --per-thread
//! -p PID`. CPU time is what the threads spent running, in microseconds:
//! the scheduler's own account (`/proc/self/task/TID/schedstat`, first
//! field, nanoseconds) for the node's threads, `getrusage(RUSAGE_SELF)`
//! user + system time for the process. On a machine with fewer cores than
//! busy threads, CPU per transaction is what bounds throughput; it moves
//! with the machine's load much less than tx/s does (a preempted thread
//! is not charged), but more than the counts do (caches, frequency).
//! Unlike latencies these hardly depend on how noisy the machine is.

use std::fs;

/// Counter totals of a set of threads.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct Counts {
    /// Read-family system calls (`syscr`).
    pub syscr: u64,
    /// Write-family system calls (`syscw`).
    pub syscw: u64,
    /// Context switches, voluntary and involuntary.
    pub csw: u64,
    /// CPU time, nanoseconds.
    pub cpu_ns: u64,
}

impl Counts {
    fn minus(self, o: Counts) -> Counts {
        Counts {
            syscr: self.syscr.saturating_sub(o.syscr),
            syscw: self.syscw.saturating_sub(o.syscw),
            csw: self.csw.saturating_sub(o.csw),
            cpu_ns: self.cpu_ns.saturating_sub(o.cpu_ns),
        }
    }

    fn plus(self, o: Counts) -> Counts {
        Counts {
            syscr: self.syscr + o.syscr,
            syscw: self.syscw + o.syscw,
            csw: self.csw + o.csw,
            cpu_ns: self.cpu_ns + o.cpu_ns,
        }
    }
}

/// The process's and its node threads' counters at one moment.
#[derive(Clone, Copy, Default, Debug)]
pub struct Snapshot {
    process: Counts,
    node: Counts,
    /// The calls `/proc` misses, counted by the library (`app`) and the
    /// node (`node`) themselves.
    app_counted: u64,
    node_counted: u64,
}

/// Costs per transaction over a window.
#[derive(Clone, Copy, Default, Debug)]
pub struct PerTx {
    pub app_sys: f64,
    pub app_csw: f64,
    pub node_sys: f64,
    pub node_csw: f64,
    /// CPU time per transaction, microseconds.
    pub app_cpu_us: f64,
    pub node_cpu_us: f64,
}

/// Is this thread (by its name, as the kernel keeps it: at most 15
/// bytes) one of the node's? The library's socket reader is the
/// application's, and so is every thread named as the process's main
/// thread (`main`: the program's name): threads spawned without a name
/// inherit it, so a copy of the program named `rtr-base` (two builds side
/// by side) would otherwise count its application threads as the node's.
pub fn is_node_thread(comm: &str, main: &str) -> bool {
    comm.starts_with("rtr-") && !comm.starts_with("rtr-socket") && comm != main
}

/// `key: value` fields of a `/proc` file.
fn field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn io_counts(io: &str) -> Counts {
    Counts { syscr: field(io, "syscr"), syscw: field(io, "syscw"), csw: 0, cpu_ns: 0 }
}

/// The time on CPU of `/proc/.../schedstat` (its first field, ns).
fn schedstat_ns(text: &str) -> u64 {
    text.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Counters of one thread of this process (0 for one that ended meanwhile).
fn thread_counts(dir: &std::path::Path) -> Counts {
    let status = fs::read_to_string(dir.join("status")).unwrap_or_default();
    let io = fs::read_to_string(dir.join("io")).unwrap_or_default();
    let sched = fs::read_to_string(dir.join("schedstat")).unwrap_or_default();
    Counts {
        csw: field(&status, "voluntary_ctxt_switches") + field(&status, "nonvoluntary_ctxt_switches"),
        cpu_ns: schedstat_ns(&sched),
        ..io_counts(&io)
    }
}

/// Read the counters now (all zero where `/proc` cannot be read).
pub fn snapshot() -> Snapshot {
    let mut node = Counts::default();
    let main = fs::read_to_string("/proc/self/comm").unwrap_or_default();
    if let Ok(tasks) = fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let comm = fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if is_node_thread(comm.trim_end(), main.trim_end()) {
                node = node.plus(thread_counts(&t.path()));
            }
        }
    }
    // SAFETY: getrusage fills the struct we pass; it is zeroed plain data.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let (csw, cpu_ns) = if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0 {
        let us = |t: libc::timeval| (t.tv_sec.max(0) as u64) * 1_000_000 + t.tv_usec.max(0) as u64;
        ((ru.ru_nvcsw.max(0) + ru.ru_nivcsw.max(0)) as u64, (us(ru.ru_utime) + us(ru.ru_stime)) * 1000)
    } else {
        (0, 0)
    };
    let process = Counts { csw, cpu_ns, ..io_counts(&fs::read_to_string("/proc/self/io").unwrap_or_default()) };
    Snapshot {
        process,
        node,
        app_counted: rtr_core::syscalls::total(rtr_core::syscalls::Side::App),
        node_counted: rtr_core::syscalls::total(rtr_core::syscalls::Side::Node),
    }
}

/// Costs per transaction between two snapshots.
pub fn per_tx(before: Snapshot, after: Snapshot, txs: usize) -> PerTx {
    let node = after.node.minus(before.node);
    let app = after.process.minus(before.process).minus(node);
    let app_counted = after.app_counted.wrapping_sub(before.app_counted);
    let node_counted = after.node_counted.wrapping_sub(before.node_counted);
    let n = txs.max(1) as f64;
    PerTx {
        app_sys: (app.syscr + app.syscw + app_counted) as f64 / n,
        app_csw: app.csw as f64 / n,
        node_sys: (node.syscr + node.syscw + node_counted) as f64 / n,
        node_csw: node.csw as f64 / n,
        app_cpu_us: app.cpu_ns as f64 / 1000.0 / n,
        node_cpu_us: node.cpu_ns as f64 / 1000.0 / n,
    }
}

/// A process's resident memory in bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = field(&status, "VmRSS");
    (kb > 0).then_some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_threads_are_the_named_rtr_ones_except_the_socket_reader() {
        for node in ["rtr-node", "rtr-journal", "rtr-conn", "rtr-conn-writer", "rtr-link-in"] {
            assert!(is_node_thread(node, "rtr"), "{node}");
        }
        for app in ["rtr", "rtr-socket-read", "bench", ""] {
            assert!(!is_node_thread(app, "rtr"), "{app}");
        }
        // A copy of the program named like a node thread: its unnamed
        // threads carry its name and are the application's.
        assert!(!is_node_thread("rtr-base", "rtr-base"));
        assert!(is_node_thread("rtr-node", "rtr-base"));
    }

    #[test]
    fn fields_are_read_by_key_and_missing_ones_are_zero() {
        let io = "rchar: 10\nwchar: 20\nsyscr: 3\nsyscw: 4\n";
        assert_eq!(io_counts(io), Counts { syscr: 3, syscw: 4, csw: 0, cpu_ns: 0 });
        assert_eq!(schedstat_ns("123456 789 10\n"), 123456);
        assert_eq!(schedstat_ns(""), 0);
        assert_eq!(field("VmRSS:\t  1234 kB\n", "VmRSS"), 1234);
        assert_eq!(field("", "syscr"), 0);
        assert_eq!(field("syscr: x\n", "syscr"), 0);
    }

    #[test]
    fn the_application_is_the_process_minus_the_node() {
        let before = Snapshot::default();
        let after = Snapshot {
            process: Counts { syscr: 100, syscw: 60, csw: 50, cpu_ns: 9_000_000 },
            node: Counts { syscr: 40, syscw: 20, csw: 10, cpu_ns: 4_000_000 },
            app_counted: 30,
            node_counted: 20,
        };
        let c = per_tx(before, after, 10);
        // The application: 160 - 60 calls /proc counts, and the 30 it counted itself.
        assert_eq!((c.app_sys, c.app_csw, c.node_sys, c.node_csw), (13.0, 4.0, 8.0, 1.0));
        // CPU: 9 ms for the process, 4 of them the node's, over 10 transactions.
        assert_eq!((c.app_cpu_us, c.node_cpu_us), (500.0, 400.0));
        // No transactions: no division by zero.
        assert_eq!(per_tx(before, after, 0).node_csw, 10.0);
    }

    #[test]
    fn this_process_has_counters() {
        let s = snapshot();
        assert!(s.process.syscr > 0, "{s:?}");
        assert!(s.process.cpu_ns > 0, "{s:?}");
        assert!(rss_bytes(std::process::id()).is_some_and(|b| b > 0));
        assert_eq!(rss_bytes(u32::MAX), None);
    }
}
