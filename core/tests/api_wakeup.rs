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

fn drain(fd: i32) -> bool {
    let mut v = 0u64;
    // SAFETY: reads 8 bytes into `v` from the library's non-blocking eventfd,
    // as the arrival descriptor's reader is meant to.
    let n = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
    n == 8
}

#[test]
fn the_arrival_descriptor_fires_at_every_delivery_even_while_others_messages_wait() {
    let rtr = Rtr::embedded().unwrap();
    let s = open_ok(&rtr, server_params("ARRIVE", 0, 100, 0));
    let c = open_ok(&rtr, client_params("ARRIVE"));
    let wake = rtr.wakeup_fd().unwrap();
    let fd = rtr.arrival_fd().unwrap();
    assert_eq!(rtr.arrival_fd().unwrap(), fd, "one per connection");
    assert!(!readable(fd), "nothing arrived yet");

    // A message waits for the server, which is busy elsewhere.
    rtr.send_to_server(c, 0, &msg(1, b"a")).unwrap();
    assert!(eventually(|| readable(fd)));
    assert!(drain(fd));
    assert!(!readable(fd), "its reader made it unreadable");
    assert!(readable(wake), "the wakeup descriptor still says a message waits");

    // The next delivery (a user event for the client) fires it again,
    // although the server's message still waits.
    let mut p = client_params("ARRIVE");
    p.events = vec![-1, 9];
    let c2 = open_ok(&rtr, p);
    assert!(eventually(|| readable(fd)));
    assert!(drain(fd));
    rtr.broadcast_event(s, 0, b"e", 9, None).unwrap();
    assert!(eventually(|| readable(fd)), "a new delivery while another message waits");
    assert!(drain(fd));
    expect(&rtr, c2, MsgType::UserEvent);
    expect(&rtr, s, MsgType::Msg1);
    assert!(!readable(fd) && !readable(wake));

    // Made after messages already wait: readable at once.
    let rtr2 = Rtr::embedded().unwrap();
    let s2 = open_ok(&rtr2, server_params("ARRIVE2", 0, 100, 0));
    let c3 = open_ok(&rtr2, client_params("ARRIVE2"));
    rtr2.send_to_server(c3, 0, &msg(1, b"a")).unwrap();
    assert!(eventually(|| readable(rtr2.wakeup_fd().unwrap())));
    assert!(readable(rtr2.arrival_fd().unwrap()));
    expect(&rtr2, s2, MsgType::Msg1);
}
