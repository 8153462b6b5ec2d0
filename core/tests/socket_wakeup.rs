//! A daemon connection whose program asked for the wakeup routine gets a
//! reader thread (it must hear of messages while none of its threads
//! receives): that thread reads every delivery, not only the first, and
//! receivers follow it. Every wait is bounded.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rtr_core::{Rtr, Which};

const BOUND: Duration = Duration::from_secs(10);

#[test]
fn the_reader_thread_reads_every_delivery_one_after_another() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, accept) = fake_node(dir.path());
    let app = Rtr::connect_socket(&socket).unwrap();
    let mut node = accept.join().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    app.set_wakeup(Some(Arc::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
    })))
    .unwrap();
    let a = app.open_channel(client_params("X")).unwrap();
    for i in 0..20u8 {
        node.write_all(&reply_frame(a, &[i])).unwrap();
        // Nobody receives: the reader thread alone reads it and calls the
        // routine (once per "nothing waiting" to "something waiting").
        let until = Instant::now() + BOUND;
        while calls.load(Ordering::SeqCst) < usize::from(i) + 1 {
            assert!(Instant::now() < until, "delivery {i} was not read");
            std::thread::sleep(Duration::from_millis(2));
        }
        let m = app.receive(&Which::List(vec![a]), Some(BOUND)).unwrap();
        assert_eq!(m.data, [i]);
    }
}
