//! RTR events a single node can tell: a server becoming primary and its
//! recovery complete, key ranges gained and lost, the facility ready and dead.

mod common;

use common::*;
use rtr_core::events::{FACDEAD, FACREADY, KEYRANGEGAIN, KEYRANGELOSS, SRPRIMARY, SRRECOVERCMPL};
use rtr_core::{MsgType, OpenParams, Rtr};

const RTRDEF: i32 = -2;

fn events_of(rtr: &Rtr, ch: u32) -> Vec<i32> {
    let mut v = Vec::new();
    while let Ok(m) = rtr.receive(&rtr_core::Which::List(vec![ch]), Some(QUIET)) {
        assert_eq!(m.sb.msgtype, MsgType::RtrEvent, "{m:?}");
        assert_eq!(m.data, b"EVT", "the facility name is the data");
        v.push(m.sb.evtnum);
    }
    v.sort_unstable();
    v
}

#[test]
fn rtr_events_reach_their_subscribers() {
    let rtr = Rtr::embedded().unwrap();
    let watcher = open_ok(&rtr, OpenParams { events: vec![RTRDEF], ..client_params("EVT") });
    assert!(events_of(&rtr, watcher).is_empty(), "no key range yet");
    let s = open_ok(&rtr, OpenParams { events: vec![RTRDEF], ..server_params("EVT", 0, 100, 0) });
    assert_eq!(events_of(&rtr, s), {
        let mut v = vec![SRPRIMARY, SRRECOVERCMPL, KEYRANGEGAIN, FACREADY];
        v.sort_unstable();
        v
    });
    let mut want = vec![KEYRANGEGAIN, FACREADY];
    want.sort_unstable();
    assert_eq!(events_of(&rtr, watcher), want);
    // A second partition: a key range gained, the facility was ready already.
    let s2 = open_ok(&rtr, server_params("EVT", 101, 200, 0));
    assert_eq!(events_of(&rtr, watcher), vec![KEYRANGEGAIN]);
    rtr.close_channel(s2, 0).unwrap();
    assert_eq!(events_of(&rtr, watcher), vec![KEYRANGELOSS]);
    rtr.close_channel(s, 0).unwrap();
    let mut want = vec![KEYRANGELOSS, FACDEAD];
    want.sort_unstable();
    assert_eq!(events_of(&rtr, watcher), want);
    // Channels that did not subscribe hear none of it.
    let quiet = open_ok(&rtr, client_params("EVT"));
    let s3 = open_ok(&rtr, server_params("EVT", 0, 100, 0));
    assert_quiet(&rtr, quiet);
    assert_quiet(&rtr, s3);
}
