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

#[test]
fn broadcasts_beyond_a_channels_bound_are_dropped_and_counted() {
    use rtr_core::api::MAX_QUEUED_EVENTS;
    use rtr_core::Which;
    let rtr = Rtr::embedded().unwrap();
    let listener =
        open_ok(&rtr, OpenParams { events: vec![rtr_core::events::USERBASE], ..server_params("FLOOD", 0, 9, 0) });
    let sender = open_ok(&rtr, client_params("FLOOD"));
    for _ in 0..MAX_QUEUED_EVENTS + 10 {
        rtr.broadcast_event(sender, 0, b"e", 0, None).unwrap();
    }
    // The node delivers asynchronously: wait until all arrived or were dropped.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rtr.events_dropped().unwrap() < 10 {
        assert!(std::time::Instant::now() < until, "dropped {}", rtr.events_dropped().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(rtr.events_dropped().unwrap(), 10);
    let mut got = 0;
    while rtr.receive(&Which::List(vec![listener]), Some(std::time::Duration::ZERO)).is_ok() {
        got += 1;
    }
    assert_eq!(got, MAX_QUEUED_EVENTS);
    // Room again: the next one is queued.
    rtr.broadcast_event(sender, 0, b"e", 0, None).unwrap();
    let m = rtr.receive(&Which::List(vec![listener]), Some(std::time::Duration::from_secs(5))).unwrap();
    assert_eq!(m.sb.msgtype, MsgType::UserEvent);
}
