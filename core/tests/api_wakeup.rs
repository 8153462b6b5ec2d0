//! rtr_set_wakeup and the wakeup descriptor: one call per "nothing waiting"
//! to "something waiting" transition; the descriptor readable exactly while
//! messages wait.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rtr_core::{MsgType, Rtr};

fn readable(fd: i32) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & libc::POLLIN != 0
}

/// Wait (bounded) until `f` holds: deliveries arrive on another thread.
fn eventually(f: impl Fn() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn the_routine_runs_once_per_transition_and_the_descriptor_tracks_waiting_messages() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("WAKE", 0, 100, 0));
    let c = open_ok(&rtr, client_params("WAKE"));
    let calls = Arc::new(AtomicUsize::new(0));
    let k = calls.clone();
    rtr.set_wakeup(Some(Arc::new(move || {
        k.fetch_add(1, Ordering::SeqCst);
    })))
    .unwrap();
    let fd = rtr.wakeup_fd().unwrap();
    assert!(!readable(fd), "nothing waits yet");

    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    assert!(eventually(|| calls.load(Ordering::SeqCst) == 1));
    assert!(readable(fd));
    expect(&rtr, s, MsgType::Msg1);
    assert!(!readable(fd), "the last waiting message was received");

    // Two replies before the client receives: one transition, one call.
    rtr.reply_to_client(s, 0, b"r1").unwrap();
    assert!(eventually(|| calls.load(Ordering::SeqCst) == 2));
    rtr.reply_to_client(s, 0, b"r2").unwrap();
    assert!(eventually(|| readable(fd)));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    expect(&rtr, c, MsgType::Reply);
    assert!(readable(fd), "one reply still waits");
    expect(&rtr, c, MsgType::Reply);
    assert!(!readable(fd));

    // Cancelled: no more calls, the descriptor still works.
    rtr.set_wakeup(None).unwrap();
    rtr.reject_tx(c, 0, 0).unwrap();
    assert!(eventually(|| readable(fd)));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn closing_a_channel_with_waiting_messages_clears_the_descriptor() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("WAKE2", 0, 100, 0));
    let c = open_ok(&rtr, client_params("WAKE2"));
    let fd = rtr.wakeup_fd().unwrap();
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    assert!(eventually(|| readable(fd)));
    rtr.close_channel(s, 0).unwrap();
    assert!(!readable(fd), "the closed channel's messages were discarded");
}
