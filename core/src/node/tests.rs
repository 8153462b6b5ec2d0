//! Node state-machine tests: requests in, deliveries out, no threads.

use std::time::{Duration, Instant};

use super::*;
use crate::flags;
use crate::keyseg::{KeySegment, KeyType};
use crate::msgtype::MsgType;
use crate::protocol::{Bytes, Payload};

struct Harness {
    node: Node,
    now: Instant,
    seq: u64,
}

const CLIENT: ConnId = 1;
const SERVERS: ConnId = 2;

fn range(lo: u32, hi: u32) -> KeyRange {
    let seg = KeySegment::new(
        0,
        KeyType::Unsigned,
        4,
        0,
        Some(&lo.to_ne_bytes()),
        Some(&hi.to_ne_bytes()),
    )
    .unwrap();
    KeyRange::new(vec![seg]).unwrap()
}

fn msg(key: u32, body: &str) -> Bytes {
    let mut v = key.to_ne_bytes().to_vec();
    v.extend_from_slice(body.as_bytes());
    Bytes::from(v)
}

impl Harness {
    fn new() -> Harness {
        Harness {
            node: Node::new(),
            now: Instant::now(),
            seq: 0,
        }
    }
    fn req(&mut self, conn: ConnId, r: Request) -> Vec<(ConnId, Delivery)> {
        self.node.handle_request(self.now, conn, r);
        self.out()
    }
    fn out(&mut self) -> Vec<(ConnId, Delivery)> {
        self.node
            .take_output()
            .into_iter()
            .map(|Output::Deliver { conn, delivery }| (conn, delivery))
            .collect()
    }
    fn tid(&mut self) -> Tid {
        self.seq += 1;
        Tid {
            node: 1,
            incarnation: 1,
            conn: CLIENT,
            seq: self.seq,
        }
    }
    fn server(&mut self, chan: ChanId, r: KeyRange, fl: u32) -> Vec<(ConnId, Delivery)> {
        self.req(
            SERVERS,
            Request::Open {
                chan,
                role: Role::Server,
                facility: "F".into(),
                flags: flags::ope::SERVER | fl,
                range: r,
            },
        )
    }
    fn client(&mut self, chan: ChanId) {
        let d = self.req(
            CLIENT,
            Request::Open {
                chan,
                role: Role::Client,
                facility: "F".into(),
                flags: flags::ope::CLIENT,
                range: KeyRange::default(),
            },
        );
        assert_eq!(d[0].1.msgtype, MsgType::Opened);
    }
}

fn types(d: &[(ConnId, Delivery)]) -> Vec<(ConnId, ChanId, MsgType)> {
    d.iter().map(|(c, d)| (*c, d.chan, d.msgtype)).collect()
}

fn status_of(d: &Delivery) -> Status {
    match d.payload {
        Payload::Status { status, .. } => status,
        _ => panic!("no status in {d:?}"),
    }
}

#[test]
fn one_partition_commit_with_explicit_votes() {
    let mut h = Harness::new();
    assert_eq!(
        types(&h.server(10, range(0, 100), 0)),
        vec![(SERVERS, 10, MsgType::Opened)]
    );
    h.client(1);
    let tid = h.tid();
    let d = h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid,
            flags: 0,
            data: msg(5, "a"),
        },
    );
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Msg1)]);
    let d = h.req(
        SERVERS,
        Request::Reply {
            chan: 10,
            tid,
            flags: 0,
            data: msg(0, "r"),
        },
    );
    assert_eq!(types(&d), vec![(CLIENT, 1, MsgType::Reply)]);
    let d = h.req(
        CLIENT,
        Request::Accept {
            chan: 1,
            tid,
            flags: 0,
            reason: 9,
            implicit: false,
        },
    );
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Prepare)]);
    let d = h.req(
        SERVERS,
        Request::Accept {
            chan: 10,
            tid,
            flags: 0,
            reason: 0,
            implicit: false,
        },
    );
    assert_eq!(
        types(&d),
        vec![(SERVERS, 10, MsgType::Accepted), (CLIENT, 1, MsgType::Accepted)]
    );
    assert_eq!(h.node.stats().active_tx, 0);
}

#[test]
fn no_server_for_key_is_nodstfnd() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let tid = h.tid();
    let d = h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid,
            flags: 0,
            data: msg(500, "x"),
        },
    );
    assert_eq!(types(&d), vec![(CLIENT, 1, MsgType::Rejected)]);
    assert_eq!(status_of(&d[0].1), Status::Nodstfnd);
    // Too short for the 4-byte key.
    let tid = h.tid();
    let d = h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid,
            flags: 0,
            data: Bytes::from(&b"ab"[..]),
        },
    );
    assert_eq!(status_of(&d[0].1), Status::Keymsgshort);
}

#[test]
fn server_reject_reaches_everyone_with_reason() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.server(11, range(101, 200), 0);
    h.client(1);
    let tid = h.tid();
    h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid,
            flags: 0,
            data: msg(5, "a"),
        },
    );
    h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid,
            flags: 0,
            data: msg(150, "b"),
        },
    );
    let d = h.req(
        SERVERS,
        Request::Reject {
            chan: 11,
            tid,
            flags: 0,
            reason: 42,
        },
    );
    assert_eq!(d.len(), 3);
    for (_, del) in &d {
        assert_eq!(del.msgtype, MsgType::Rejected);
        assert_eq!(
            del.payload,
            Payload::Status {
                status: Status::Rejected,
                reason: 42
            }
        );
    }
}

#[test]
fn concurrent_servers_take_free_ones_and_queue_the_rest() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.server(11, range(0, 100), 0);
    h.client(1);
    h.client(2);
    h.client(3);
    let (t1, t2, t3) = (h.tid(), h.tid(), h.tid());
    let d1 = h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid: t1,
            flags: flags::sen::ACCEPT,
            data: msg(1, ""),
        },
    );
    let d2 = h.req(
        CLIENT,
        Request::Send {
            chan: 2,
            tid: t2,
            flags: flags::sen::ACCEPT,
            data: msg(2, ""),
        },
    );
    let d3 = h.req(
        CLIENT,
        Request::Send {
            chan: 3,
            tid: t3,
            flags: flags::sen::ACCEPT,
            data: msg(3, ""),
        },
    );
    assert_eq!(
        types(&d1),
        vec![(SERVERS, 10, MsgType::Msg1), (SERVERS, 10, MsgType::Prepare)]
    );
    assert_eq!(
        types(&d2),
        vec![(SERVERS, 11, MsgType::Msg1), (SERVERS, 11, MsgType::Prepare)]
    );
    assert!(d3.is_empty(), "no free server: t3 waits");
    let d = h.req(
        SERVERS,
        Request::Accept {
            chan: 10,
            tid: t1,
            flags: 0,
            reason: 0,
            implicit: true,
        },
    );
    assert_eq!(
        types(&d),
        vec![
            (SERVERS, 10, MsgType::Accepted),
            (SERVERS, 10, MsgType::Msg1),
            (SERVERS, 10, MsgType::Prepare),
            (CLIENT, 1, MsgType::Accepted)
        ]
    );
    assert_eq!(d[1].1.tid, Some(t3));
}

#[test]
fn server_loss_replays_to_another_server_uncertain_if_voted() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.server(11, range(0, 100), 0);
    h.client(1);
    h.client(2);
    let (t1, t2) = (h.tid(), h.tid());
    h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid: t1,
            flags: 0,
            data: msg(1, "a"),
        },
    );
    h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid: t1,
            flags: 0,
            data: msg(1, "b"),
        },
    );
    h.req(
        CLIENT,
        Request::Send {
            chan: 2,
            tid: t2,
            flags: 0,
            data: msg(1, "c"),
        },
    );
    // Server 10 (t1) votes, then dies before the outcome.
    h.req(
        SERVERS,
        Request::Accept {
            chan: 10,
            tid: t1,
            flags: 0,
            reason: 0,
            implicit: false,
        },
    );
    let d = h.req(SERVERS, Request::Close { chan: 10 });
    assert!(d.is_empty(), "11 is busy with t2");
    // t2 ends; 11 then gets t1 again, uncertain, both messages, and is
    // asked to vote again because the client accepted meanwhile? No: the
    // client has not accepted yet, so no prepare.
    let d = h.req(
        CLIENT,
        Request::Reject {
            chan: 2,
            tid: t2,
            flags: 0,
            reason: 0,
        },
    );
    assert_eq!(
        types(&d),
        vec![
            (SERVERS, 11, MsgType::Rejected),
            (SERVERS, 11, MsgType::Msg1Uncertain),
            (SERVERS, 11, MsgType::Msgn),
            (CLIENT, 2, MsgType::Rejected)
        ]
    );
    assert_eq!(d[1].1.tid, Some(t1));
    // The replacement's vote and the client's accept commit t1 once.
    h.req(
        SERVERS,
        Request::Accept {
            chan: 11,
            tid: t1,
            flags: 0,
            reason: 0,
            implicit: false,
        },
    );
    let d = h.req(
        CLIENT,
        Request::Accept {
            chan: 1,
            tid: t1,
            flags: 0,
            reason: 0,
            implicit: false,
        },
    );
    assert_eq!(
        types(&d),
        vec![(SERVERS, 11, MsgType::Accepted), (CLIENT, 1, MsgType::Accepted)]
    );
}

#[test]
fn last_server_lost_holds_the_branch_until_a_server_returns() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let t1 = h.tid();
    h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid: t1,
            flags: flags::sen::ACCEPT,
            data: msg(1, "a"),
        },
    );
    assert!(h.req(SERVERS, Request::Close { chan: 10 }).is_empty());
    let d = h.server(12, range(0, 100), 0);
    assert_eq!(
        types(&d),
        vec![
            (SERVERS, 12, MsgType::Opened),
            (SERVERS, 12, MsgType::Msg1),
            (SERVERS, 12, MsgType::Prepare)
        ]
    );
    let d = h.req(
        SERVERS,
        Request::Accept {
            chan: 12,
            tid: t1,
            flags: 0,
            reason: 0,
            implicit: true,
        },
    );
    assert_eq!(
        types(&d),
        vec![(SERVERS, 12, MsgType::Accepted), (CLIENT, 1, MsgType::Accepted)]
    );
}

#[test]
fn client_gone_before_accept_rejects_reqdied() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let t1 = h.tid();
    h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid: t1,
            flags: 0,
            data: msg(1, "a"),
        },
    );
    let d = h.req(CLIENT, Request::Disconnect);
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Rejected)]);
    assert_eq!(status_of(&d[0].1), Status::Reqdied);
    assert_eq!(h.node.stats().active_tx, 0);
}

#[test]
fn a_late_request_naming_a_finished_tid_starts_nothing() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    h.client(2);
    let t1 = h.tid();
    h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid: t1,
            flags: 0,
            data: msg(1, "a"),
        },
    );
    h.req(
        CLIENT,
        Request::Reject {
            chan: 1,
            tid: t1,
            flags: 0,
            reason: 0,
        },
    );
    assert!(h
        .req(
            CLIENT,
            Request::Send {
                chan: 1,
                tid: t1,
                flags: 0,
                data: msg(1, "a")
            }
        )
        .is_empty());
    assert!(h
        .req(
            CLIENT,
            Request::Send {
                chan: 2,
                tid: t1,
                flags: 0,
                data: msg(1, "a")
            }
        )
        .is_empty());
    // Nor does a tid of another connection.
    let foreign = Tid { conn: 99, ..h.tid() };
    assert!(h
        .req(
            CLIENT,
            Request::Send {
                chan: 2,
                tid: foreign,
                flags: 0,
                data: msg(1, "a")
            }
        )
        .is_empty());
    assert_eq!(h.node.stats().active_tx, 0);
}

#[test]
fn client_timeout_rejects_with_timout() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let tid = h.tid();
    h.req(
        CLIENT,
        Request::StartTx {
            chan: 1,
            tid,
            timeout_ms: Some(50),
        },
    );
    h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid,
            flags: 0,
            data: msg(1, ""),
        },
    );
    assert!(h.node.next_deadline().is_some());
    h.now += Duration::from_millis(60);
    h.node.tick(h.now);
    let d = h.out();
    assert_eq!(
        types(&d),
        vec![(SERVERS, 10, MsgType::Rejected), (CLIENT, 1, MsgType::Rejected)]
    );
    assert_eq!(status_of(&d[1].1), Status::Timout);
    // A late vote finds nothing.
    let d = h.req(
        SERVERS,
        Request::Accept {
            chan: 10,
            tid,
            flags: 0,
            reason: 0,
            implicit: false,
        },
    );
    assert!(d.is_empty());
}

#[test]
fn key_range_rules_on_open() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    let d = h.server(11, range(50, 150), 0);
    assert_eq!(d[0].1.msgtype, MsgType::Closed);
    assert_eq!(status_of(&d[0].1), Status::Keyoverlap);
    let d = h.server(12, range(0, 100), flags::ope::NOCONCURRENT);
    assert_eq!(status_of(&d[0].1), Status::Noconcurrent);
    let seg = KeySegment::new(0, KeyType::Unsigned, 8, 0, None, None).unwrap();
    let d = h.server(13, KeyRange::new(vec![seg]).unwrap(), 0);
    assert_eq!(status_of(&d[0].1), Status::Keylayout);
    let d = h.server(14, range(0, 100), 0);
    assert_eq!(status_of(&d[0].1), Status::Ok);
}

#[test]
fn a_replacement_server_must_vote_again_before_the_commit() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), flags::ope::EXPLICIT_ACCEPT);
    h.server(11, range(0, 100), flags::ope::EXPLICIT_ACCEPT);
    h.client(1);
    let t1 = h.tid();
    let d = h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid: t1,
            flags: 0,
            data: msg(1, "a"),
        },
    );
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Msg1)]);
    // 10 votes early, then is lost; 11 gets the transaction as uncertain.
    h.req(
        SERVERS,
        Request::Accept {
            chan: 10,
            tid: t1,
            flags: 0,
            reason: 0,
            implicit: false,
        },
    );
    let d = h.req(SERVERS, Request::Close { chan: 10 });
    assert_eq!(types(&d), vec![(SERVERS, 11, MsgType::Msg1Uncertain)]);
    // The client's accept must not commit on the lost vote: 11 is asked.
    let d = h.req(
        CLIENT,
        Request::Accept {
            chan: 1,
            tid: t1,
            flags: 0,
            reason: 0,
            implicit: false,
        },
    );
    assert_eq!(types(&d), vec![(SERVERS, 11, MsgType::Prepare)]);
    let d = h.req(
        SERVERS,
        Request::Accept {
            chan: 11,
            tid: t1,
            flags: 0,
            reason: 0,
            implicit: false,
        },
    );
    assert_eq!(
        types(&d),
        vec![(SERVERS, 11, MsgType::Accepted), (CLIENT, 1, MsgType::Accepted)]
    );
}

#[test]
fn a_stale_waiting_entry_does_not_swallow_a_free_server() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    h.client(2);
    h.client(3);
    let (t1, t2, t3) = (h.tid(), h.tid(), h.tid());
    h.req(
        CLIENT,
        Request::Send {
            chan: 1,
            tid: t1,
            flags: 0,
            data: msg(1, "a"),
        },
    );
    // t2 waits for the busy server, then its client gives up.
    h.req(
        CLIENT,
        Request::Send {
            chan: 2,
            tid: t2,
            flags: 0,
            data: msg(1, "b"),
        },
    );
    let d = h.req(
        CLIENT,
        Request::Reject {
            chan: 2,
            tid: t2,
            flags: 0,
            reason: 0,
        },
    );
    assert_eq!(types(&d), vec![(CLIENT, 2, MsgType::Rejected)]);
    h.req(
        CLIENT,
        Request::Send {
            chan: 3,
            tid: t3,
            flags: 0,
            data: msg(1, "c"),
        },
    );
    // When t1 ends, the server goes to t3.
    let d = h.req(
        CLIENT,
        Request::Reject {
            chan: 1,
            tid: t1,
            flags: 0,
            reason: 0,
        },
    );
    assert_eq!(
        types(&d),
        vec![
            (SERVERS, 10, MsgType::Rejected),
            (SERVERS, 10, MsgType::Msg1),
            (CLIENT, 1, MsgType::Rejected)
        ]
    );
    assert_eq!(d[1].1.tid, Some(t3));
}
