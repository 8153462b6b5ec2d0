//! A forked child that uses its parent's connection gets a clear error
//! (RTR_STS_NODEUNAVAIL, saying it was forked), not a share of the
//! parent's connection; the parent carries on. Alone in its binary: the
//! child of a multi-threaded test process does as little as it can.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rtr_core::{Rtr, RtrError, Status};

#[test]
fn a_forked_child_cannot_use_its_parents_connection() {
    let rtr = Rtr::embedded().unwrap();
    let c = open_client(&rtr);
    // SAFETY: the child only calls the library (which fails at once, before
    // taking any lock) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match rtr.send_to_server(c, 0, &msg(5, b"from the child")) {
            Err(e @ RtrError::NodeUnavailable(_)) if e.to_string().contains("forked") => {
                if e.status() == Status::Nodeunavail {
                    0
                } else {
                    3
                }
            }
            Err(_) => 2,
            Ok(()) => 1,
        };
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let until = Instant::now() + Duration::from_secs(20);
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child without blocking.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if Instant::now() > until {
            // SAFETY: our own child, stuck: killed, then reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the forked child did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "1: the child's send went through; 2/3: another error or status");
    // The parent's connection is its own, as before.
    rtr.send_to_server(c, 0, &msg(5, b"from the parent")).unwrap();
}
