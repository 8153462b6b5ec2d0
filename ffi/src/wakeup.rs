//! `rtr_set_wakeup` and the wakeup descriptor (an extension): for programs
//! with their own event loop.

use std::os::raw::c_int;
use std::sync::Arc;

use rtr_core::Status;

use crate::boundary::{guard, non_null, rtr, status_of, write_out};
use crate::types::rtr_status_t;

/// Register a routine that RTR calls when a message becomes available for
/// the process while none was waiting; `NULL` cancels it.
///
/// The routine is called once per transition from "no message waiting" to
/// "a message waiting", not once per message. The program should then call
/// `rtr_receive_message` with a timeout of 0 until it returns
/// `RTR_STS_TIMOUT`.
///
/// Restrictions: the routine runs on a library thread (the node's thread,
/// or the thread reading the node daemon's socket), never on a thread of the
/// program; it must be short, must not block, and must not call any RTR
/// routine (signal the program's loop instead: write to a pipe, post to a
/// queue, set an atomic flag). It is never called with a library lock held.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_NODEUNAVAIL`: the RTR node is not available;
/// - `RTR_STS_INTERNAL`: an internal error (a bug).
///
/// Thread safety: may be called from any thread; the latest registration wins.
#[no_mangle]
pub extern "C" fn rtr_set_wakeup(wu_rtn: Option<extern "C" fn()>) -> rtr_status_t {
    guard(|| {
        let routine = wu_rtn.map(|f| -> rtr_core::api::WakeupFn { Arc::new(move || f()) });
        rtr()?.set_wakeup(routine).map_err(status_of)
    })
}

/// Extension: get a file descriptor that is readable exactly while a
/// message waits for the process, for programs that `poll`, `select` or
/// `epoll` (the alternative to `rtr_set_wakeup`).
///
/// `pfd` (out, required): receives the descriptor. It is owned by the
/// library and stays valid for the life of the process: do not read, write
/// or close it; only wait on it for readability, then call
/// `rtr_receive_message` with a timeout of 0 until it returns
/// `RTR_STS_TIMOUT`.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVPTR`: `pfd` is NULL;
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread; every call returns the same descriptor.
///
/// # Safety
/// `pfd` is NULL or points to a writable `int`.
#[no_mangle]
pub unsafe extern "C" fn rtr_get_wakeup_fd(pfd: *mut c_int) -> rtr_status_t {
    guard(|| {
        non_null(pfd, Status::Invptr)?;
        let fd = rtr()?.wakeup_fd().map_err(status_of)?;
        // SAFETY: non-NULL (checked) and writable (caller contract).
        unsafe { write_out(pfd, fd) };
        Ok(())
    })
}

/// Extension: how many events the process has lost (events are not
/// transactional; past these bounds they are dropped and counted rather
/// than queued without end): broadcasts (user events) dropped because the
/// receiving channel already held 4096 unreceived ones, and, with a node
/// daemon (`RTR_NODE_SOCKET`), events (user and RTR events) the daemon
/// dropped because the process was not reading its connection and 8 MiB
/// already waited for it. The daemon's count arrives as the process reads
/// again. Transaction messages are never dropped.
///
/// `pcount` (out, required): receives the count since the process's
/// connection was made.
///
/// Returns:
/// - `RTR_STS_OK`;
/// - `RTR_STS_INVPTR`: `pcount` is NULL;
/// - `RTR_STS_NODEUNAVAIL`, `RTR_STS_INTERNAL`.
///
/// Thread safety: may be called from any thread.
///
/// # Safety
/// `pcount` is NULL or points to a writable `unsigned long long`.
#[no_mangle]
pub unsafe extern "C" fn rtr_get_events_dropped(pcount: *mut std::os::raw::c_ulonglong) -> rtr_status_t {
    guard(|| {
        non_null(pcount, Status::Invptr)?;
        let n = rtr()?.events_dropped().map_err(status_of)?;
        // SAFETY: non-NULL (checked) and writable (caller contract).
        unsafe { write_out(pcount, n) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_dropped_needs_a_pointer_and_counts_from_zero() {
        // SAFETY: NULL is allowed (refused with INVPTR); the second call
        // gets a valid, writable counter.
        unsafe {
            assert_eq!(rtr_get_events_dropped(std::ptr::null_mut()), Status::Invptr.code());
            let mut n: std::os::raw::c_ulonglong = 99;
            assert_eq!(rtr_get_events_dropped(&mut n), Status::Ok.code());
            assert_eq!(n, 0);
        }
    }
}
