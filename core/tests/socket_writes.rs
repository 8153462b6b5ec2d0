//! Writing to a node daemon's socket happens after the library's state
//! lock is released: a thread whose write blocks (the node is not reading
//! and the socket buffer is full) holds up no other thread of the process.
//! Every wait is bounded; the stalled node is closed at the end, which
//! ends the blocked write.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::*;
use rtr_core::{Rtr, Which};

const BOUND: Duration = Duration::from_secs(10);

#[test]
fn a_write_blocked_on_a_full_socket_holds_up_no_other_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, accept) = fake_node(dir.path());
    let app = Rtr::connect_socket(&socket).unwrap();
    let node = accept.join().unwrap();
    let ch = app.open_channel(client_params("X")).unwrap();
    // 6 MB of broadcasts to a node that reads none of them: far more than
    // the socket buffer holds, so some write blocks.
    let flooding = {
        let app = app.clone();
        thread::spawn(move || {
            for _ in 0..100 {
                if app.broadcast_event(ch, 0, &[0u8; 60_000], 1, None).is_err() {
                    return;
                }
            }
        })
    };
    thread::sleep(Duration::from_millis(200));
    // Meanwhile another thread uses the connection: calls that take the
    // state lock, and a receive, all return.
    let (done, finished) = mpsc::channel();
    let other = {
        let app = app.clone();
        thread::spawn(move || {
            for i in 0..10 {
                app.set_user_handle(ch, i).unwrap();
                assert_eq!(app.get_user_handle(ch).unwrap(), i);
            }
            let r = app.receive(&Which::List(vec![ch]), Some(Duration::ZERO));
            let _ = done.send(format!("{r:?}"));
        })
    };
    let got = finished.recv_timeout(BOUND);
    // End the stall either way (closing the node fails the blocked write).
    node.shutdown(std::net::Shutdown::Both).unwrap();
    drop(node);
    let got = got.expect("a thread was held up by another thread's blocked write");
    assert!(got.contains("Timeout"), "{got}");
    other.join().unwrap();
    flooding.join().unwrap();
}
