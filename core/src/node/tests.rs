//! Node state-machine tests: requests in, deliveries out, no threads.

use std::time::{Duration, Instant};

use super::*;
use crate::authority::Claim;
use crate::flags;
use crate::journal::{Record, RecordKind};
use crate::keyseg::{KeySegment, KeyType};
use crate::msgtype::MsgType;
use crate::protocol::{Bytes, Payload};

struct Harness {
    node: Node,
    now: Instant,
    seq: u64,
    /// Journal records the node emitted: (tid, kind, payload, sync, token).
    journal: Vec<Written>,
}

/// A journal record as the node emitted it: (tid, kind, payload, sync, token).
type Written = (Tid, RecordKind, Vec<u8>, bool, Option<u64>);

const CLIENT: ConnId = 1;
const SERVERS: ConnId = 2;

fn range(lo: u32, hi: u32) -> KeyRange {
    let seg = KeySegment::new(0, KeyType::Unsigned, 4, 0, Some(&lo.to_ne_bytes()), Some(&hi.to_ne_bytes())).unwrap();
    KeyRange::new(vec![seg]).unwrap()
}

fn msg(key: u32, body: &str) -> Bytes {
    let mut v = key.to_ne_bytes().to_vec();
    v.extend_from_slice(body.as_bytes());
    Bytes::from(v)
}

impl Harness {
    fn new() -> Harness {
        Harness { node: Node::new(false), now: Instant::now(), seq: 0, journal: Vec::new() }
    }
    fn journaled() -> Harness {
        Harness { node: Node::new(true), ..Harness::new() }
    }
    /// Records (as the journal would recover them) written so far.
    fn records(&self) -> Vec<Record> {
        self.journal
            .iter()
            .map(|(tid, kind, payload, _, _)| Record { epoch: 1, tid: *tid, kind: *kind, payload: payload.clone() })
            .collect()
    }
    fn kinds(&self, tid: Tid) -> Vec<RecordKind> {
        self.journal.iter().filter(|r| r.0 == tid).map(|r| r.1).collect()
    }
    /// The token of the last synced write, as the driver would report it.
    fn last_token(&self) -> u64 {
        self.journal.iter().rev().find_map(|r| r.4).expect("a synced journal write")
    }
    fn durable(&mut self, token: u64) -> Vec<(ConnId, Delivery)> {
        self.node.journal_done(self.now, token, Ok(()));
        self.out()
    }
    fn req(&mut self, conn: ConnId, r: Request) -> Vec<(ConnId, Delivery)> {
        self.node.handle_request(self.now, conn, r);
        self.out()
    }
    fn out(&mut self) -> Vec<(ConnId, Delivery)> {
        let mut d = Vec::new();
        for o in lone_outputs(&mut self.node, self.now) {
            match o {
                Output::Deliver { conn, delivery } => d.push((conn, delivery)),
                Output::Journal { entries, sync, token, .. } => {
                    let n = entries.len();
                    for (i, (tid, kind, payload)) in entries.into_iter().enumerate() {
                        // The token belongs to the batch: keep it on its last record.
                        self.journal.push((tid, kind, payload, sync, if i + 1 == n { token } else { None }));
                    }
                }
                _ => {}
            }
        }
        d
    }
    fn tid(&mut self) -> Tid {
        self.seq += 1;
        Tid { node: 1, incarnation: 1, conn: CLIENT, seq: self.seq }
    }
    fn server(&mut self, chan: ChanId, r: KeyRange, fl: u32) -> Vec<(ConnId, Delivery)> {
        self.req(
            SERVERS,
            Request::Open { chan, role: Role::Server, facility: "F".into(), flags: flags::ope::SERVER | fl, range: r },
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
    assert_eq!(types(&h.server(10, range(0, 100), 0)), vec![(SERVERS, 10, MsgType::Opened)]);
    h.client(1);
    let tid = h.tid();
    let d = h.req(CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "a") });
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Msg1)]);
    let d = h.req(SERVERS, Request::Reply { chan: 10, tid, flags: 0, data: msg(0, "r") });
    assert_eq!(types(&d), vec![(CLIENT, 1, MsgType::Reply)]);
    let d = h.req(CLIENT, Request::Accept { chan: 1, tid, flags: 0, reason: 9, implicit: false });
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Prepare)]);
    let d = h.req(SERVERS, Request::Accept { chan: 10, tid, flags: 0, reason: 0, implicit: false });
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Accepted), (CLIENT, 1, MsgType::Accepted)]);
    assert_eq!(h.node.stats().active_tx, 0);
}

#[test]
fn no_server_for_key_is_nodstfnd() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let tid = h.tid();
    let d = h.req(CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(500, "x") });
    assert_eq!(types(&d), vec![(CLIENT, 1, MsgType::Rejected)]);
    assert_eq!(status_of(&d[0].1), Status::Nodstfnd);
    // Too short for the 4-byte key.
    let tid = h.tid();
    let d = h.req(CLIENT, Request::Send { chan: 1, tid, flags: 0, data: Bytes::from(&b"ab"[..]) });
    assert_eq!(status_of(&d[0].1), Status::Keymsgshort);
}

#[test]
fn server_reject_reaches_everyone_with_reason() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.server(11, range(101, 200), 0);
    h.client(1);
    let tid = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "a") });
    h.req(CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(150, "b") });
    let d = h.req(SERVERS, Request::Reject { chan: 11, tid, flags: 0, reason: 42 });
    assert_eq!(d.len(), 3);
    for (_, del) in &d {
        assert_eq!(del.msgtype, MsgType::Rejected);
        assert_eq!(del.payload, Payload::Status { status: Status::Rejected, reason: 42 });
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
    let d1 = h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1, "") });
    let d2 = h.req(CLIENT, Request::Send { chan: 2, tid: t2, flags: flags::sen::ACCEPT, data: msg(2, "") });
    let d3 = h.req(CLIENT, Request::Send { chan: 3, tid: t3, flags: flags::sen::ACCEPT, data: msg(3, "") });
    assert_eq!(types(&d1), vec![(SERVERS, 10, MsgType::Msg1), (SERVERS, 10, MsgType::Prepare)]);
    assert_eq!(types(&d2), vec![(SERVERS, 11, MsgType::Msg1), (SERVERS, 11, MsgType::Prepare)]);
    assert!(d3.is_empty(), "no free server: t3 waits");
    let d = h.req(SERVERS, Request::Accept { chan: 10, tid: t1, flags: 0, reason: 0, implicit: true });
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
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1, "a") });
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1, "b") });
    h.req(CLIENT, Request::Send { chan: 2, tid: t2, flags: 0, data: msg(1, "c") });
    // Server 10 (t1) votes, then dies before the outcome.
    h.req(SERVERS, Request::Accept { chan: 10, tid: t1, flags: 0, reason: 0, implicit: false });
    let d = h.req(SERVERS, Request::Close { chan: 10 });
    assert!(d.is_empty(), "11 is busy with t2");
    // t2 ends; 11 then gets t1 again, uncertain, both messages, and is
    // asked to vote again because the client accepted meanwhile? No: the
    // client has not accepted yet, so no prepare.
    let d = h.req(CLIENT, Request::Reject { chan: 2, tid: t2, flags: 0, reason: 0 });
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
    h.req(SERVERS, Request::Accept { chan: 11, tid: t1, flags: 0, reason: 0, implicit: false });
    let d = h.req(CLIENT, Request::Accept { chan: 1, tid: t1, flags: 0, reason: 0, implicit: false });
    assert_eq!(types(&d), vec![(SERVERS, 11, MsgType::Accepted), (CLIENT, 1, MsgType::Accepted)]);
}

#[test]
fn last_server_lost_holds_the_branch_until_a_server_returns() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let t1 = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1, "a") });
    assert!(h.req(SERVERS, Request::Close { chan: 10 }).is_empty());
    let d = h.server(12, range(0, 100), 0);
    assert_eq!(
        types(&d),
        vec![(SERVERS, 12, MsgType::Opened), (SERVERS, 12, MsgType::Msg1), (SERVERS, 12, MsgType::Prepare)]
    );
    let d = h.req(SERVERS, Request::Accept { chan: 12, tid: t1, flags: 0, reason: 0, implicit: true });
    assert_eq!(types(&d), vec![(SERVERS, 12, MsgType::Accepted), (CLIENT, 1, MsgType::Accepted)]);
}

#[test]
fn client_gone_before_accept_rejects_reqdied() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let t1 = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1, "a") });
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
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1, "a") });
    h.req(CLIENT, Request::Reject { chan: 1, tid: t1, flags: 0, reason: 0 });
    assert!(h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1, "a") }).is_empty());
    assert!(h.req(CLIENT, Request::Send { chan: 2, tid: t1, flags: 0, data: msg(1, "a") }).is_empty());
    // Nor does a tid of another connection.
    let foreign = Tid { conn: 99, ..h.tid() };
    assert!(h.req(CLIENT, Request::Send { chan: 2, tid: foreign, flags: 0, data: msg(1, "a") }).is_empty());
    assert_eq!(h.node.stats().active_tx, 0);
}

#[test]
fn client_timeout_rejects_with_timout() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let tid = h.tid();
    h.req(CLIENT, Request::StartTx { chan: 1, tid, timeout_ms: Some(50) });
    h.req(CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(1, "") });
    assert!(h.node.next_deadline().is_some());
    h.now += Duration::from_millis(60);
    h.node.tick(h.now);
    let d = h.out();
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Rejected), (CLIENT, 1, MsgType::Rejected)]);
    assert_eq!(status_of(&d[1].1), Status::Timout);
    // A late vote finds nothing.
    let d = h.req(SERVERS, Request::Accept { chan: 10, tid, flags: 0, reason: 0, implicit: false });
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
    let d = h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1, "a") });
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Msg1)]);
    // 10 votes early, then is lost; 11 gets the transaction as uncertain.
    h.req(SERVERS, Request::Accept { chan: 10, tid: t1, flags: 0, reason: 0, implicit: false });
    let d = h.req(SERVERS, Request::Close { chan: 10 });
    assert_eq!(types(&d), vec![(SERVERS, 11, MsgType::Msg1Uncertain)]);
    // The client's accept must not commit on the lost vote: 11 is asked.
    let d = h.req(CLIENT, Request::Accept { chan: 1, tid: t1, flags: 0, reason: 0, implicit: false });
    assert_eq!(types(&d), vec![(SERVERS, 11, MsgType::Prepare)]);
    let d = h.req(SERVERS, Request::Accept { chan: 11, tid: t1, flags: 0, reason: 0, implicit: false });
    assert_eq!(types(&d), vec![(SERVERS, 11, MsgType::Accepted), (CLIENT, 1, MsgType::Accepted)]);
}

#[test]
fn a_stale_waiting_entry_does_not_swallow_a_free_server() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    h.client(2);
    h.client(3);
    let (t1, t2, t3) = (h.tid(), h.tid(), h.tid());
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1, "a") });
    // t2 waits for the busy server, then its client gives up.
    h.req(CLIENT, Request::Send { chan: 2, tid: t2, flags: 0, data: msg(1, "b") });
    let d = h.req(CLIENT, Request::Reject { chan: 2, tid: t2, flags: 0, reason: 0 });
    assert_eq!(types(&d), vec![(CLIENT, 2, MsgType::Rejected)]);
    h.req(CLIENT, Request::Send { chan: 3, tid: t3, flags: 0, data: msg(1, "c") });
    // When t1 ends, the server goes to t3.
    let d = h.req(CLIENT, Request::Reject { chan: 1, tid: t1, flags: 0, reason: 0 });
    assert_eq!(
        types(&d),
        vec![(SERVERS, 10, MsgType::Rejected), (SERVERS, 10, MsgType::Msg1), (CLIENT, 1, MsgType::Rejected)]
    );
    assert_eq!(d[1].1.tid, Some(t3));
}

#[test]
fn a_commit_is_announced_only_once_durable() {
    let mut h = Harness::journaled();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let t1 = h.tid();
    let d = h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1, "a") });
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Msg1), (SERVERS, 10, MsgType::Prepare)]);
    // The implicit accept: the commit record goes to the journal, nothing is announced yet.
    let d = h.req(SERVERS, Request::Accept { chan: 10, tid: t1, flags: 0, reason: 0, implicit: true });
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(h.kinds(t1), vec![RecordKind::Msg, RecordKind::Vote, RecordKind::Commit]);
    assert!(h.journal.iter().any(|r| r.1 == RecordKind::Commit && r.3), "the commit record is synced");
    let d = h.durable(h.last_token());
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Accepted), (CLIENT, 1, MsgType::Accepted)]);
    // The server's next receive acknowledges: the transaction is done.
    assert!(h.req(SERVERS, Request::Ack { chan: 10, tid: t1 }).is_empty());
    assert_eq!(h.kinds(t1).last(), Some(&RecordKind::Done));
}

#[test]
fn an_abort_is_journaled_without_a_sync_and_announced_at_once() {
    let mut h = Harness::journaled();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let t1 = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1, "a") });
    let d = h.req(CLIENT, Request::Reject { chan: 1, tid: t1, flags: 0, reason: 3 });
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Rejected), (CLIENT, 1, MsgType::Rejected)]);
    assert_eq!(h.kinds(t1), vec![RecordKind::Msg, RecordKind::Abort, RecordKind::Done]);
    assert!(h.journal.iter().all(|r| !r.3));
}

#[test]
fn a_commit_that_cannot_be_made_durable_is_rejected_everywhere() {
    let mut h = Harness::journaled();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let t1 = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1, "a") });
    h.req(SERVERS, Request::Accept { chan: 10, tid: t1, flags: 0, reason: 0, implicit: true });
    let token = h.last_token();
    h.node.journal_done(h.now, token, Err(Status::Jnlfull));
    let d = h.out();
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Rejected), (CLIENT, 1, MsgType::Rejected)]);
    assert_eq!(status_of(&d[1].1), Status::Jnlfull);
}

#[test]
fn a_server_lost_before_acknowledging_a_commit_has_it_replayed_uncertain() {
    let mut h = Harness::journaled();
    h.server(10, range(0, 100), 0);
    h.server(11, range(0, 100), 0);
    h.client(1);
    let t1 = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1, "a") });
    h.req(SERVERS, Request::Accept { chan: 10, tid: t1, flags: 0, reason: 0, implicit: true });
    let d = h.durable(h.last_token());
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Accepted), (CLIENT, 1, MsgType::Accepted)]);
    // 10 dies before its next receive: 11 gets the committed work, uncertain, then the outcome.
    let d = h.req(SERVERS, Request::Close { chan: 10 });
    assert_eq!(types(&d), vec![(SERVERS, 11, MsgType::Msg1Uncertain), (SERVERS, 11, MsgType::Accepted)]);
    assert!(!h.kinds(t1).contains(&RecordKind::Done));
    h.req(SERVERS, Request::Ack { chan: 11, tid: t1 });
    assert_eq!(h.kinds(t1).last(), Some(&RecordKind::Done));
}

#[test]
fn recovery_replays_committed_work_in_order_and_aborts_the_undecided() {
    let mut h = Harness::journaled();
    h.server(10, range(0, 100), 0);
    h.server(20, range(101, 200), 0);
    h.client(1);
    h.client(2);
    h.client(3);
    let (t1, t2, t3) = (h.tid(), h.tid(), h.tid());
    // t1 spans both partitions and commits; t2 commits; t3 is left undecided.
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "t1a") });
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(150, "t1b") });
    h.req(SERVERS, Request::Accept { chan: 10, tid: t1, flags: 0, reason: 0, implicit: true });
    h.req(SERVERS, Request::Accept { chan: 20, tid: t1, flags: 0, reason: 0, implicit: true });
    h.durable(h.last_token());
    h.req(CLIENT, Request::Send { chan: 2, tid: t2, flags: flags::sen::ACCEPT, data: msg(7, "t2") });
    h.req(SERVERS, Request::Ack { chan: 10, tid: t1 });
    h.req(SERVERS, Request::Accept { chan: 10, tid: t2, flags: 0, reason: 0, implicit: true });
    h.durable(h.last_token());
    h.req(CLIENT, Request::Send { chan: 3, tid: t3, flags: 0, data: msg(160, "t3") });
    // Crash: only the records survive. (Server 10 acknowledged t1, but t1's
    // partition-2 branch was never acknowledged, so t1 is not done.)
    let records = h.records();
    let mut r = Harness::journaled();
    assert_eq!(r.node.recover(r.now, 1, &records), 2);
    r.out();
    assert_eq!(r.kinds(t3), vec![RecordKind::Abort, RecordKind::Done]);
    let d = r.server(30, range(0, 100), 0);
    assert_eq!(
        types(&d),
        vec![
            (SERVERS, 30, MsgType::Opened),
            (SERVERS, 30, MsgType::Msg1Uncertain),
            (SERVERS, 30, MsgType::Accepted),
            (SERVERS, 30, MsgType::Msg1Uncertain),
            (SERVERS, 30, MsgType::Accepted)
        ]
    );
    assert_eq!((d[1].1.tid, d[3].1.tid), (Some(t1), Some(t2)));
    assert_eq!(d[1].1.payload, Payload::Data(msg(5, "t1a")));
    r.req(SERVERS, Request::Ack { chan: 30, tid: t1 });
    r.req(SERVERS, Request::Ack { chan: 30, tid: t2 });
    assert_eq!(r.kinds(t2), vec![RecordKind::Done]);
    assert!(r.kinds(t1).is_empty(), "t1 still waits for its other partition");
    let d = r.server(40, range(101, 200), 0);
    assert_eq!(types(&d)[1..], [(SERVERS, 40, MsgType::Msg1Uncertain), (SERVERS, 40, MsgType::Accepted)]);
    assert_eq!(d[1].1.payload, Payload::Data(msg(150, "t1b")));
    r.req(SERVERS, Request::Ack { chan: 40, tid: t1 });
    assert_eq!(r.kinds(t1), vec![RecordKind::Done]);
}

#[test]
fn a_transaction_that_takes_down_three_servers_is_rejected_and_set_aside() {
    let mut h = Harness::journaled();
    for chan in [10, 11, 12, 13] {
        h.server(chan, range(0, 100), 0);
    }
    h.client(1);
    let t1 = h.tid();
    let d = h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1, "killer") });
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Msg1)]);
    // Each server that gets it dies; the first two losses replay it.
    let d = h.req(SERVERS, Request::Close { chan: 10 });
    assert_eq!(types(&d), vec![(SERVERS, 11, MsgType::Msg1)]);
    let d = h.req(SERVERS, Request::Close { chan: 11 });
    assert_eq!(types(&d), vec![(SERVERS, 12, MsgType::Msg1)]);
    // The third loss reaches the limit: rejected, never presented again.
    let d = h.req(SERVERS, Request::Close { chan: 12 });
    assert_eq!(types(&d), vec![(CLIENT, 1, MsgType::Rejected)]);
    assert_eq!(status_of(&d[0].1), Status::Retrylimit);
    assert!(h.kinds(t1).contains(&RecordKind::Exception));
    assert_eq!(h.node.be.exceptions.len(), 1);
    assert!(!h.node.be.exceptions[0].committed);
    // rtr show transaction lists it, set aside.
    let (rows, _) = h.node.show_transactions(h.now);
    let row = rows.iter().find(|r| r.tid == t1).expect("the exception is listed");
    assert_eq!(row.branches[0].state, crate::protocol::admin::BeState::Exception);
    // The last server is free for other work.
    let t2 = h.tid();
    let d = h.req(CLIENT, Request::Send { chan: 1, tid: t2, flags: 0, data: msg(1, "fine") });
    assert_eq!(types(&d), vec![(SERVERS, 13, MsgType::Msg1)]);
}

#[test]
fn committed_work_that_keeps_killing_servers_is_set_aside_and_stays_so_after_a_restart() {
    let mut h = Harness::journaled();
    for chan in [10, 11, 12] {
        h.server(chan, range(0, 100), 0);
    }
    h.client(1);
    let t1 = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1, "a") });
    h.req(SERVERS, Request::Accept { chan: 10, tid: t1, flags: 0, reason: 0, implicit: true });
    h.durable(h.last_token());
    // The servers die applying the commit (before acknowledging it).
    assert_eq!(types(&h.req(SERVERS, Request::Close { chan: 10 }))[0].2, MsgType::Msg1Uncertain);
    assert_eq!(types(&h.req(SERVERS, Request::Close { chan: 11 }))[0].2, MsgType::Msg1Uncertain);
    assert!(h.req(SERVERS, Request::Close { chan: 12 }).is_empty());
    assert!(h.node.be.exceptions[0].committed);
    assert!(!h.kinds(t1).contains(&RecordKind::Done), "an exception keeps its journal records");
    // After a restart it is not replayed: it waits for an operator.
    let records = h.records();
    let mut r = Harness::journaled();
    assert_eq!(r.node.recover(r.now, 1, &records), 0);
    assert_eq!(r.node.be.exceptions.len(), 1);
    let (rows, _) = r.node.show_transactions(r.now);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].branches[0].state, crate::protocol::admin::BeState::Exception);
    let d = r.server(20, range(0, 100), 0);
    assert_eq!(types(&d), vec![(SERVERS, 20, MsgType::Opened)]);
}

#[test]
fn a_suspended_partition_presents_nothing_until_resumed() {
    use crate::protocol::admin::PartitionChange;
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let (rows, _) = h.node.show_partitions();
    let id = rows[0].id;
    assert!(h.node.set_partition(h.now, "f", id, PartitionChange::Suspend).is_ok(), "facility names ignore case");
    let t1 = h.tid();
    assert!(h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1, "a") }).is_empty());
    assert_eq!(h.node.show_partitions().0[0].state, crate::protocol::admin::PartitionState::Suspended);
    h.node.set_partition(h.now, "F", id, PartitionChange::Resume).unwrap();
    let d = h.out();
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Msg1)]);
    // Refusals: an unknown partition, a retry limit of 0.
    assert_eq!(h.node.set_partition(h.now, "F", 99, PartitionChange::Suspend).unwrap_err().code(), "NOSUCHPRT");
    assert_eq!(h.node.set_partition(h.now, "F", id, PartitionChange::RetryLimit(0)).unwrap_err().code(), "INVRETRY");
}

#[test]
fn the_retry_limit_is_per_partition_and_exceptions_can_be_retried_or_forgotten() {
    use crate::protocol::admin::{PartitionChange, TxChange};
    let mut h = Harness::journaled();
    for chan in [10, 11] {
        h.server(chan, range(0, 100), 0);
    }
    h.client(1);
    let id = h.node.show_partitions().0[0].id;
    h.node.set_partition(h.now, "F", id, PartitionChange::RetryLimit(1)).unwrap();
    let t1 = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1, "a") });
    h.req(SERVERS, Request::Accept { chan: 10, tid: t1, flags: 0, reason: 0, implicit: true });
    h.durable(h.last_token());
    // One loss is enough now: the committed transaction is set aside.
    assert!(h.req(SERVERS, Request::Close { chan: 10 }).is_empty());
    assert_eq!(h.node.be.exceptions.len(), 1);
    let unknown = h.tid();
    assert_eq!(h.node.set_transaction(h.now, unknown, TxChange::Forget).unwrap_err().code(), "NOSUCHTX");
    // Presented again: server 11 gets it, uncertain, then the commit.
    h.node.set_transaction(h.now, t1, TxChange::Retry).unwrap();
    let d = h.out();
    assert_eq!(types(&d), vec![(SERVERS, 11, MsgType::Msg1Uncertain), (SERVERS, 11, MsgType::Accepted)]);
    assert!(h.node.be.exceptions.is_empty());
    h.req(SERVERS, Request::Ack { chan: 11, tid: t1 });
    assert_eq!(h.kinds(t1).last(), Some(&RecordKind::Done));

    // A rejected exception can only be forgotten.
    let t2 = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t2, flags: 0, data: msg(1, "b") });
    h.req(SERVERS, Request::Close { chan: 11 });
    assert_eq!(h.node.set_transaction(h.now, t2, TxChange::Retry).unwrap_err().code(), "TXREJECTED");
    h.node.set_transaction(h.now, t2, TxChange::Forget).unwrap();
    h.out();
    assert!(h.node.be.exceptions.is_empty());
    assert_eq!(h.kinds(t2).last(), Some(&RecordKind::Done));
}

#[test]
fn read_only_messages_are_not_journaled() {
    let mut h = Harness::journaled();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let t1 = h.tid();
    let d = h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::READONLY, data: msg(1, "look") });
    assert_eq!(types(&d), vec![(SERVERS, 10, MsgType::Msg1)]);
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1, "write") });
    assert_eq!(h.kinds(t1), vec![RecordKind::Msg], "only the second message is journaled");
}

#[test]
fn call_out_servers_see_every_message_vote_and_write_nothing() {
    let mut h = Harness::journaled();
    h.server(10, range(0, 100), flags::ope::EXPLICIT_ACCEPT);
    h.server(11, range(101, 200), flags::ope::EXPLICIT_ACCEPT);
    // A router call-out and a backend call-out: no key range.
    let explicit = flags::ope::EXPLICIT_ACCEPT;
    assert_eq!(
        types(&h.server(20, KeyRange::default(), flags::ope::TR_CALL_OUT | explicit)),
        vec![(SERVERS, 20, MsgType::Opened)]
    );
    assert_eq!(
        types(&h.server(21, KeyRange::default(), flags::ope::BE_CALL_OUT | explicit)),
        vec![(SERVERS, 21, MsgType::Opened)]
    );
    h.client(1);
    let tid = h.tid();
    let d = h.req(CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "a") });
    let mut got = types(&d);
    got.sort_by_key(|x| x.1);
    assert_eq!(got, vec![(SERVERS, 10, MsgType::Msg1), (SERVERS, 20, MsgType::Msg1), (SERVERS, 21, MsgType::Msg1)]);
    let d = h.req(CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(150, "b") });
    let mut got = types(&d);
    got.sort_by_key(|x| (x.1, x.2 as u32));
    assert_eq!(
        got.iter().filter(|x| x.2 != MsgType::Prepare).copied().collect::<Vec<_>>(),
        vec![(SERVERS, 11, MsgType::Msg1), (SERVERS, 20, MsgType::Msgn), (SERVERS, 21, MsgType::Msgn)]
    );
    for chan in [10, 11, 20, 21] {
        h.req(SERVERS, Request::Accept { chan, tid, flags: 0, reason: 0, implicit: false });
    }
    let token = h.last_token();
    let d = h.durable(token);
    assert!(d.iter().any(|(c, d)| *c == CLIENT && d.msgtype == MsgType::Accepted));
    for chan in [20, 21] {
        assert!(d.iter().any(|(_, x)| x.chan == chan && x.msgtype == MsgType::Accepted), "call-out {chan}: {d:?}");
    }
    // The journal holds the partitions' two messages and no call-out's.
    let msgs = h.kinds(tid).iter().filter(|k| **k == RecordKind::Msg).count();
    assert_eq!(msgs, 2);
    // A call-out's reject rejects the transaction.
    let tid = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(6, "c") });
    h.req(SERVERS, Request::Accept { chan: 10, tid, flags: 0, reason: 0, implicit: false });
    h.req(SERVERS, Request::Accept { chan: 21, tid, flags: 0, reason: 0, implicit: false });
    let d = h.req(SERVERS, Request::Reject { chan: 20, tid, flags: 0, reason: 77 });
    let client = d.iter().find(|(c, _)| *c == CLIENT).expect("the client hears");
    assert_eq!(client.1.msgtype, MsgType::Rejected);
    assert_eq!(client.1.payload, Payload::Status { status: Status::Rejected, reason: 77 });
}

#[test]
fn a_router_call_out_needs_the_router_role() {
    use crate::facility::{FacilityDef, FacilityTable};
    let mut h = Harness::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut t = FacilityTable::new("me");
    t.insert(FacilityDef::new("F", &s(&["me"]), &s(&["other"]), &s(&["me"])).unwrap());
    h.node.set_facilities(t);
    let d = h.server(20, KeyRange::default(), flags::ope::TR_CALL_OUT);
    assert_eq!(types(&d), vec![(SERVERS, 20, MsgType::Closed)]);
    assert_eq!(status_of(&d[0].1), Status::Notrouter);
    // A backend call-out is a backend's business: accepted here.
    let d = h.server(21, KeyRange::default(), flags::ope::BE_CALL_OUT);
    assert_eq!(types(&d), vec![(SERVERS, 21, MsgType::Opened)]);
}

#[test]
fn named_partitions_bind_a_name_to_one_key_range() {
    let mut h = Harness::new();
    let named = |r: KeyRange, n: &str| r.named(Some(n.to_string()));
    assert_eq!(types(&h.server(10, named(range(0, 100), "Alpha"), 0)), vec![(SERVERS, 10, MsgType::Opened)]);
    // Another server naming it (any case) with the same range joins it.
    assert_eq!(types(&h.server(11, named(range(0, 100), "ALPHA"), 0)), vec![(SERVERS, 11, MsgType::Opened)]);
    // The name with another range, or the range with another name: refused.
    let d = h.server(12, named(range(101, 200), "alpha"), 0);
    assert_eq!((d[0].1.msgtype, status_of(&d[0].1)), (MsgType::Closed, Status::Keyoverlap));
    let d = h.server(13, named(range(0, 100), "Beta"), 0);
    assert_eq!((d[0].1.msgtype, status_of(&d[0].1)), (MsgType::Closed, Status::Keyoverlap));
    // An unnamed partition is named by its id; a server may name it.
    h.server(14, range(101, 200), 0);
    let names: Vec<String> = h.node.show_partitions().0.into_iter().map(|p| p.name).collect();
    assert_eq!(names, vec!["Alpha".to_string(), "2".to_string()]);
    assert_eq!(types(&h.server(15, named(range(101, 200), "Gamma"), 0)), vec![(SERVERS, 15, MsgType::Opened)]);
    let names: Vec<String> = h.node.show_partitions().0.into_iter().map(|p| p.name).collect();
    assert_eq!(names, vec!["Alpha".to_string(), "Gamma".to_string()]);
}

/// Everything a lone node (no peers) puts out until it is quiet, as its
/// driver would see it: each claim is granted at once (a lone node holds
/// every grant it claims); asking for a peer or a takeover is a test
/// failure. Deliveries, journal records and log lines are returned in order.
pub(super) fn lone_outputs(node: &mut Node, now: Instant) -> Vec<Output> {
    let mut out = Vec::new();
    let mut pending = node.take_output();
    while !pending.is_empty() {
        for o in pending {
            match o {
                Output::Peer { peer, msg } => panic!("a lone node sent {msg:?} to peer {peer}"),
                o @ (Output::Takeover { .. } | Output::Release { .. }) => panic!("a lone node asked for {o:?}"),
                Output::Claim { range, .. } => {
                    node.claimed(now, &range, Ok(Claim::Granted { epoch: 1, previous: None }));
                }
                Output::CheckHolder { range, epoch } => node.holder_checked(now, &range, epoch, Ok(true)),
                Output::ReadNote { range, then } => node.note_read(now, &range, then, Ok(None)),
                Output::ReleaseRole { .. } | Output::ActivateRole { .. } => {}
                o => out.push(o),
            }
        }
        pending = node.take_output();
    }
    out
}

/// The node's records are the journal format as it always was, byte for
/// byte (hand-built here, not through `txrecord`), and a journal written
/// that way recovers as before: committed work replayed, a message-only
/// transaction presumed aborted, a durably voted one kept in doubt.
#[test]
fn records_are_byte_identical_to_the_old_format_and_old_journals_recover() {
    let old_msg = |data: &Bytes| {
        let mut v = vec![1u8, b'F'];
        v.extend_from_slice(data);
        v
    };
    let mut h = Harness::journaled();
    h.server(10, range(0, 100), 0);
    h.client(1);
    let t1 = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "t1") });
    h.req(SERVERS, Request::Accept { chan: 10, tid: t1, flags: 0, reason: 0, implicit: true });
    h.durable(h.last_token());
    let written: Vec<(RecordKind, Vec<u8>)> =
        h.journal.iter().filter(|r| r.0 == t1).map(|r| (r.1, r.2.clone())).collect();
    assert_eq!(
        written,
        vec![
            (RecordKind::Msg, old_msg(&msg(5, "t1"))),
            (RecordKind::Vote, vec![]),
            (RecordKind::Commit, 0u32.to_le_bytes().to_vec())
        ]
    );

    let (t2, t3) = (h.tid(), h.tid());
    let rec = |tid: Tid, kind: RecordKind, payload: Vec<u8>| Record { epoch: 1, tid, kind, payload };
    let old = vec![
        rec(t1, RecordKind::Msg, old_msg(&msg(5, "t1"))),
        rec(t1, RecordKind::Vote, vec![]),
        rec(t1, RecordKind::Commit, 9u32.to_le_bytes().to_vec()),
        rec(t2, RecordKind::Msg, old_msg(&msg(6, "t2"))),
        rec(t3, RecordKind::Msg, old_msg(&msg(7, "t3"))),
        rec(t3, RecordKind::Vote, vec![1]),
    ];
    let mut r = Harness::journaled();
    assert_eq!(r.node.recover(r.now, 1, &old), 1, "t1 is replayed");
    r.out();
    assert_eq!(r.kinds(t2), vec![RecordKind::Abort, RecordKind::Done], "t2 is presumed aborted");
    assert!(r.kinds(t3).is_empty(), "t3 is in doubt: nothing written");
    let d = r.server(30, range(0, 100), 0);
    assert_eq!(types(&d)[1..], [(SERVERS, 30, MsgType::Msg1Uncertain), (SERVERS, 30, MsgType::Accepted)]);
    assert_eq!(d[1].1.payload, Payload::Data(msg(5, "t1")));
}

#[test]
fn metrics_count_starts_outcomes_by_status_and_commit_latency() {
    let mut h = Harness::new();
    h.server(10, range(0, 100), 0);
    h.client(1);
    // Three commits, each taking 2 ms of node time.
    for _ in 0..3 {
        let tid = h.tid();
        h.req(CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "a") });
        h.req(CLIENT, Request::Accept { chan: 1, tid, flags: 0, reason: 0, implicit: false });
        h.now += Duration::from_millis(2);
        let d = h.req(SERVERS, Request::Accept { chan: 10, tid, flags: 0, reason: 0, implicit: false });
        assert!(types(&d).contains(&(CLIENT, 1, MsgType::Accepted)));
    }
    // A rejection by the server, and one for a key no server holds.
    let tid = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "a") });
    h.req(SERVERS, Request::Reject { chan: 10, tid, flags: 0, reason: 7 });
    let tid = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(500, "x") });
    // One still in progress.
    let tid = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "a") });
    let m = h.node.tx_metrics();
    assert_eq!((m.started, m.committed, m.rejected()), (6, 3, 2));
    assert_eq!(m.rejected_by_status(), vec![(Status::Nodstfnd, 1), (Status::Rejected, 1)]);
    assert_eq!(m.commit_latency_us.count, 3);
    assert_eq!((m.commit_latency_us.max, m.commit_latency_us.sum), (2000, 6000));
    // Estimated within its power-of-two bucket, never beyond the largest.
    assert!((1025..=2000).contains(&m.commit_latency_us.quantile(0.5)));
    assert_eq!(m.commit_latency_us.quantile(1.0), 2000);
    // A late request naming a finished tid starts nothing.
    h.req(CLIENT, Request::Send { chan: 1, tid: Tid { seq: 1, ..tid }, flags: 0, data: msg(5, "a") });
    assert_eq!(h.node.tx_metrics().started, 6);
}

/// A connection cannot open channels without end: over the bound its opens
/// are closed with TOOMANYCHN; closing one (or another connection) makes room.
#[test]
fn channels_per_connection_are_bounded() {
    let mut h = Harness::new();
    h.node.set_max_channels_per_conn(3);
    let open = |chan| Request::Open {
        chan,
        role: Role::Client,
        facility: "F".into(),
        flags: flags::ope::CLIENT,
        range: KeyRange::default(),
    };
    for chan in 1..=3 {
        h.client(chan);
    }
    // Opening an open channel's id again adds no channel.
    assert_eq!(types(&h.req(CLIENT, open(3))), vec![(CLIENT, 3, MsgType::Opened)]);
    let d = h.req(CLIENT, open(4));
    assert_eq!(types(&d), vec![(CLIENT, 4, MsgType::Closed)]);
    assert_eq!(status_of(&d[0].1), Status::Toomanychn);
    assert_eq!(h.node.refused_opens(), 1);
    // Another connection has its own bound.
    assert_eq!(types(&h.req(SERVERS + 1, open(4))), vec![(SERVERS + 1, 4, MsgType::Opened)]);
    h.req(CLIENT, Request::Close { chan: 1 });
    assert_eq!(types(&h.req(CLIENT, open(4))), vec![(CLIENT, 4, MsgType::Opened)]);
    h.req(CLIENT, Request::Disconnect);
    for chan in 1..=3 {
        h.client(chan);
    }
}

/// A grant of a shadow range's primary record that comes back for a
/// partition no longer there (it went while the claim, or the note read
/// after it, was out) is given back whatever the grant it replaced: the
/// primary record is never taken over with a journal, and kept it would
/// stop the other site from ever claiming it while this node lives.
#[test]
fn a_primary_record_granted_for_a_partition_gone_is_given_back() {
    use crate::authority::Grant;
    let mut node = Node::new(false);
    let now = Instant::now();
    let lost = Grant { epoch: 4, holder: "other".into(), released: false, forced: false };
    let granted = Claim::Granted { epoch: 5, previous: Some(lost.clone()) };
    node.claimed(now, "f.0000abcd#primary", Ok(granted.clone()));
    node.note_read(now, "f.0000abcd#primary", Some(granted), Ok(None));
    let released: Vec<(String, u64)> = node
        .take_output()
        .into_iter()
        .filter_map(|o| if let Output::ReleaseRole { range, epoch } = o { Some((range, epoch)) } else { None })
        .collect();
    let want = ("f.0000abcd#primary".to_string(), 5);
    assert_eq!(released, vec![want.clone(), want]);
    // A site slot's grant over a holder that may have left work is not:
    // that journal must be recovered by whoever claims next.
    node.claimed(now, "f.0000abcd@east", Ok(Claim::Granted { epoch: 5, previous: Some(lost) }));
    assert!(!node.take_output().iter().any(|o| matches!(o, Output::ReleaseRole { .. })));
}
