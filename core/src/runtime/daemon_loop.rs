//! A daemon's node thread loop (`EmbeddedNode::start_daemon`): the node
//! thread waits (epoll, `reactor.rs`) on the application sockets and on the
//! inbox's bell at once, takes everything that arrived, acts, repeats.

use std::time::Instant;

use crossbeam_channel::Receiver;

use super::driver::{failure_of, Driver};
use super::input::Input;
use super::reactor::{Event, Reactor};
use super::{halt, LINGER, MAX_BATCH};
use crate::protocol::Request;

/// A daemon's node thread: wait on the application sockets and the inbox's
/// bell at once, take everything that arrived, act, repeat.
pub(super) fn run(mut driver: Driver, rx: Receiver<Input>, mut reactor: Reactor) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor_loop(&mut driver, &rx, &mut reactor)));
    let failure = failure_of(&mut driver, r);
    halt::finish(driver, rx, failure, move || drop(reactor));
}

/// Milliseconds until `deadline` for epoll (rounded up; -1: none).
fn wait_ms(deadline: Option<Instant>) -> i32 {
    match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
        }
    }
}

fn reactor_loop(driver: &mut Driver, rx: &Receiver<Input>, reactor: &mut Reactor) {
    let mut events = Vec::new();
    loop {
        // As in `app_loop::run_loop`: while a commit is being synced, poll
        // for a bounded time rather than sleep (`crate::linger`): the inbox
        // all the time (the completion comes there, without a bell while
        // the bell is disarmed), the sockets between stretches.
        if driver.awaiting_journal() {
            let arrived = crate::linger::until(
                crate::syscalls::Side::Node,
                Instant::now() + LINGER,
                || !rx.is_empty(),
                || reactor.wait(0, &mut events) || !events.is_empty(),
            );
            if !arrived {
                reactor.sleep(wait_ms(driver.next_deadline()), || rx.is_empty(), &mut events);
            }
        } else {
            reactor.sleep(wait_ms(driver.next_deadline()), || rx.is_empty(), &mut events);
        }
        let now = Instant::now();
        for ev in events.drain(..) {
            let input = match ev {
                Event::Request(conn, req) => Input::Request(conn, req),
                Event::Gone(conn, why) => {
                    // An orderly disconnect is the application's own
                    // doing; any other end is worth a line in the log.
                    if let Some(why) = why {
                        crate::rtr_log!(Info, "rtr node: connection {conn} (pid {}) ends: {why}", driver.pid(conn));
                    }
                    // Its channels close as if its process had died.
                    Input::Request(conn, Request::Disconnect)
                }
            };
            if !driver.input(now, input) {
                return;
            }
        }
        let mut taken = 0;
        while taken < MAX_BATCH {
            match rx.try_recv() {
                Ok(Input::Adopt(conn, stream)) => {
                    if let Err(e) = reactor.adopt(conn, stream) {
                        crate::rtr_log!(Warn, "rtr node: cannot watch connection {conn}: {e}");
                        if !driver.input(now, Input::Request(conn, Request::Disconnect)) {
                            return;
                        }
                    }
                }
                Ok(input) => {
                    if !driver.input(now, input) {
                        return;
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            }
            taken += 1;
        }
        if taken == MAX_BATCH {
            // More is queued: come straight back.
            reactor.ring();
        }
        if !driver.flush(now) {
            return;
        }
    }
}
