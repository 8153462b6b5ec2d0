//! A daemon connection whose program asked for the wakeup routine gets a
//! reader thread (it must hear of messages while none of its threads
//! receives): that thread reads every delivery, not only the first, and
//! receivers follow it. Every wait is bounded.

use std::io::Write;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtr_core::protocol::codec::{self, Frame};
use rtr_core::protocol::{Bytes, Delivery, Payload};
use rtr_core::{flags, MsgType, OpenParams, Rtr, Which};

const BOUND: Duration = Duration::from_secs(10);

#[test]
fn the_reader_thread_reads_every_delivery_one_after_another() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("fake.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let accept = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let hello = codec::read_frame(&mut s).unwrap();
        assert!(matches!(codec::decode(&hello), Ok(Frame::Hello { .. })));
        s.write_all(&codec::encode(&Frame::Welcome { conn: 1, node: 1, incarnation: 1 })).unwrap();
        s
    });
    let app = Rtr::connect_socket(&socket).unwrap();
    let mut node = accept.join().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    app.set_wakeup(Some(Arc::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
    })))
    .unwrap();
    let a = app
        .open_channel(OpenParams { flags: flags::ope::CLIENT, facility: Some("X".into()), ..Default::default() })
        .unwrap();
    for i in 0..20u8 {
        let d = Delivery {
            chan: a,
            msgtype: MsgType::Reply,
            tid: None,
            evtnum: 0,
            payload: Payload::Data(Bytes::from(&[i][..])),
        };
        node.write_all(&codec::encode(&Frame::Delivery(d))).unwrap();
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
