use proptest::prelude::*;

use super::*;
use crate::journal::Record;
use crate::status::Status;

fn tid(n: u64) -> Tid {
    Tid { node: 1, incarnation: 2, conn: 3, seq: n }
}

fn msg(facility: &str, data: &[u8]) -> TxRecord {
    TxRecord::Msg { facility: facility.to_string(), data: Bytes::from(data) }
}

/// Records as the journal recovers them, from (tid, record).
fn records(list: &[(u64, TxRecord)]) -> Vec<Record> {
    list.iter()
        .map(|(n, r)| {
            let (kind, payload) = r.encode();
            Record { epoch: 1, tid: tid(*n), kind, payload }
        })
        .collect()
}

fn raw(n: u64, kind: RecordKind, payload: &[u8]) -> Record {
    Record { epoch: 1, tid: tid(n), kind, payload: payload.to_vec() }
}

// ---------------------------------------------------------------- format

/// The bytes of journals written before this module existed, built by hand
/// the way `backend.rs`, `roles.rs` and `set_aside` wrote them: they decode
/// to the same records, and encoding writes the same bytes.
#[test]
fn records_written_the_old_way_decode_and_encode_byte_identically() {
    let retry = Status::Retrylimit.code();
    let mut exception = retry.to_le_bytes().to_vec();
    exception.extend_from_slice(&3u32.to_le_bytes());
    exception.push(1);
    let cases: Vec<(RecordKind, Vec<u8>, TxRecord)> = vec![
        (RecordKind::Msg, b"\x04BANKhello".to_vec(), msg("BANK", b"hello")),
        (RecordKind::Msg, b"\x04BANK".to_vec(), msg("BANK", b"")),
        (RecordKind::Msg, b"\x00data".to_vec(), msg("", b"data")),
        (RecordKind::Vote, vec![], TxRecord::Vote { durable: false }),
        (RecordKind::Vote, vec![1], TxRecord::Vote { durable: true }),
        (RecordKind::Commit, 7u32.to_le_bytes().to_vec(), TxRecord::Commit { reason: 7 }),
        (RecordKind::Commit, vec![0xff, 0xff, 0xff, 0xff], TxRecord::Commit { reason: u32::MAX }),
        (RecordKind::Abort, vec![], TxRecord::Abort),
        (RecordKind::Abort, vec![1], TxRecord::PresumedAbort),
        (RecordKind::Done, vec![], TxRecord::Done),
        (RecordKind::Exception, exception, TxRecord::Exception { status: retry, strikes: 3, committed: true }),
    ];
    for (kind, bytes, rec) in cases {
        assert_eq!(TxRecord::decode(kind, &bytes), Ok(rec.clone()), "{kind:?} {bytes:?}");
        assert_eq!(rec.encode(), (kind, bytes.clone()), "{rec:?}");
        assert_eq!(rec.entry(tid(5)), (tid(5), kind, bytes));
    }
}

#[test]
fn truncated_and_garbage_payloads_are_errors() {
    use DecodeError::*;
    let cases: Vec<(RecordKind, &[u8], DecodeError)> = vec![
        (RecordKind::Msg, b"", Length { kind: RecordKind::Msg, len: 0, expected: "at least 1" }),
        (RecordKind::Msg, b"\x05BANK", TruncatedFacility { len: 5, name_len: 5 }),
        (RecordKind::Msg, b"\x02\xff\xfe", FacilityNotUtf8),
        (RecordKind::Vote, &[2], BadValue { kind: RecordKind::Vote, what: "durability", value: 2 }),
        (RecordKind::Vote, &[1, 1], Length { kind: RecordKind::Vote, len: 2, expected: "0 or 1" }),
        (RecordKind::Commit, &[7, 0, 0], Length { kind: RecordKind::Commit, len: 3, expected: "4" }),
        (RecordKind::Commit, &[7, 0, 0, 0, 0], Length { kind: RecordKind::Commit, len: 5, expected: "4" }),
        (RecordKind::Abort, &[0], BadValue { kind: RecordKind::Abort, what: "presumed", value: 0 }),
        (RecordKind::Abort, &[1, 1], Length { kind: RecordKind::Abort, len: 2, expected: "0 or 1" }),
        (RecordKind::Done, &[9, 9], Length { kind: RecordKind::Done, len: 2, expected: "0" }),
        (RecordKind::Exception, &[0; 8], Length { kind: RecordKind::Exception, len: 8, expected: "9" }),
        (
            RecordKind::Exception,
            &[0, 0, 0, 0, 0, 0, 0, 0, 2],
            BadValue { kind: RecordKind::Exception, what: "committed", value: 2 },
        ),
        (RecordKind::Fence, &[0; 24], NotTransaction(RecordKind::Fence)),
        (RecordKind::Meta, b"", NotTransaction(RecordKind::Meta)),
    ];
    for (kind, bytes, want) in cases {
        let got = TxRecord::decode(kind, bytes);
        assert_eq!(got, Err(want), "{kind:?} {bytes:?}");
        assert!(!got.unwrap_err().to_string().is_empty());
    }
}

#[test]
fn the_largest_message_record_is_the_largest_payload() {
    let big = TxRecord::Msg { facility: "F".repeat(MAX_FACILITY_BYTES), data: Bytes::from(vec![0; crate::MAX_MSGLEN]) };
    assert_eq!(big.encode().1.len(), LARGEST_PAYLOAD);
    // A longer name is cut to what the length byte can say.
    let long = msg(&"G".repeat(300), b"x");
    let (_, p) = long.encode();
    assert_eq!(p.len(), 1 + MAX_FACILITY_BYTES + 1);
    assert_eq!(TxRecord::decode(RecordKind::Msg, &p), Ok(msg(&"G".repeat(MAX_FACILITY_BYTES), b"x")));
}

fn any_record() -> impl Strategy<Value = TxRecord> {
    prop_oneof![
        ("[a-zA-Z0-9_ é]{0,40}", proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(f, d)| TxRecord::Msg { facility: f, data: Bytes::from(d) }),
        ("[a-zA-Z0-9_ é]{0,40}", proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(f, d)| TxRecord::HandOn { facility: f, data: Bytes::from(d) }),
        any::<bool>().prop_map(|durable| TxRecord::Vote { durable }),
        any::<u32>().prop_map(|reason| TxRecord::Commit { reason }),
        Just(TxRecord::Abort),
        Just(TxRecord::PresumedAbort),
        Just(TxRecord::Done),
        Just(TxRecord::Restated),
        any::<bool>().prop_map(|committed| TxRecord::Carried { committed }),
        any::<u32>().prop_map(|drive| TxRecord::Drive { drive }),
        any::<u32>().prop_map(|drive| TxRecord::Bound { drive }),
        ("[a-z0-9.#]{0,40}", any::<u64>(), any::<u64>(), 0u8..3).prop_map(|(range, a, b, m)| TxRecord::Seq {
            range,
            pos: (a, b),
            mark: [SeqMark::Applied, SeqMark::Remembered, SeqMark::Released][m as usize],
        }),
        (any::<i32>(), any::<u32>(), any::<bool>()).prop_map(|(status, strikes, committed)| TxRecord::Exception {
            status,
            strikes,
            committed
        }),
    ]
}

fn any_kind() -> impl Strategy<Value = RecordKind> {
    (1u8..=15).prop_map(|b| RecordKind::from_u8(b).unwrap())
}

proptest! {
    #[test]
    fn every_record_round_trips(rec in any_record()) {
        let (kind, payload) = rec.encode();
        prop_assert_eq!(kind, rec.kind());
        prop_assert_eq!(TxRecord::decode(kind, &payload), Ok(rec));
    }

    /// Any bytes under any kind: an error or a record, never a panic; a
    /// record that decodes encodes back to the same bytes (one encoding
    /// per record, so no two payloads mean the same).
    #[test]
    fn any_payload_decodes_or_errs_and_decoding_is_canonical(
        kind in any_kind(),
        payload in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        if let Ok(rec) = TxRecord::decode(kind, &payload) {
            prop_assert_eq!(rec.encode(), (kind, payload));
        }
    }
}

// ---------------------------------------------------------------- classification

fn fates(records: &[Record]) -> Vec<(u64, TxFate)> {
    classify(records).txs.iter().map(|t| (t.tid.seq, t.fate())).collect()
}

#[test]
fn each_fate_from_hand_built_records() {
    let recs = records(&[
        // 1: committed, no Done: replayed.
        (1, msg("F", b"a")),
        (1, TxRecord::Vote { durable: false }),
        (1, TxRecord::Commit { reason: 7 }),
        // 2: messages only: presumed abort.
        (2, msg("F", b"b")),
        // 3: a plain vote only: presumed abort too.
        (3, msg("F", b"c")),
        (3, TxRecord::Vote { durable: false }),
        // 4: a durable vote, no outcome: in doubt.
        (4, msg("F", b"d")),
        (4, TxRecord::Vote { durable: true }),
        // 5: aborted without Done.
        (5, msg("F", b"e")),
        (5, TxRecord::Vote { durable: true }),
        (5, TxRecord::Abort),
        // 6: committed and done.
        (6, msg("F", b"f")),
        (6, TxRecord::Commit { reason: 0 }),
        (6, TxRecord::Done),
        // 7: committed and set aside.
        (7, msg("F", b"g")),
        (7, TxRecord::Commit { reason: 0 }),
        (7, TxRecord::Exception { status: Status::Retrylimit.code(), strikes: 3, committed: true }),
        // 8: a commit with no message here.
        (8, TxRecord::Commit { reason: 0 }),
        // 9: done, then work handed off here commits again: unfinished.
        (9, msg("F", b"h")),
        (9, TxRecord::Commit { reason: 1 }),
        (9, TxRecord::Done),
        (9, msg("F", b"i")),
        (9, TxRecord::Commit { reason: 2 }),
        // 10: set aside undecided, then durably voted: in doubt, not set aside.
        (10, msg("F", b"j")),
        (10, TxRecord::Vote { durable: true }),
        (10, TxRecord::Exception { status: Status::Retrylimit.code(), strikes: 3, committed: false }),
        // 11: committed and aborted (never written): the abort wins.
        (11, msg("F", b"k")),
        (11, TxRecord::Commit { reason: 0 }),
        (11, TxRecord::Abort),
    ]);
    use TxFate::*;
    assert_eq!(
        fates(&recs),
        vec![
            (1, Replay),
            (2, PresumedAbort),
            (3, PresumedAbort),
            (4, InDoubt),
            (5, Aborted),
            (6, Done),
            (7, SetAside),
            (8, CommittedEmpty),
            (9, Replay),
            (10, InDoubt),
            (11, Aborted),
        ]
    );
    let c = classify(&recs);
    let t1 = &c.txs[0];
    assert_eq!((t1.facility.as_deref(), t1.msgs.len(), t1.voted, t1.durable_vote), (Some("F"), 1, true, false));
    assert_eq!(t1.commit, Some(CommitAt { at: 2, reason: 7 }));
    // The handed-off work is a new attempt: its message alone is replayed
    // (the first was applied and finished; see
    // `a_message_after_the_tids_last_attempt_ended_starts_a_new_attempt`).
    assert_eq!(c.txs[8].msgs, vec![Bytes::from(&b"i"[..])], "only the handed-off message of 9");
    assert_eq!(c.txs[8].commit.map(|x| x.reason), Some(2));
    assert!(c.malformed.is_empty());
    // Every state has its words.
    for f in [Done, Replay, CommittedEmpty, InDoubt, Aborted, PresumedAbort, SetAside] {
        assert!(!f.word().is_empty() && !f.explain().is_empty());
    }
    assert_eq!(InDoubt.word(), "in-doubt");
}

#[test]
fn the_recovery_plan_for_each_case() {
    let recs = records(&[
        (1, msg("F", b"a1")),
        (2, msg("G", b"b")),
        (2, TxRecord::Commit { reason: 5 }),
        (1, msg("F", b"a2")),
        (1, TxRecord::Commit { reason: 4 }),
        (3, msg("F", b"c")),
        (4, msg("F", b"d")),
        (4, TxRecord::Vote { durable: true }),
        (5, msg("F", b"e")),
        (5, TxRecord::Abort),
        (6, TxRecord::Commit { reason: 0 }),
        (7, msg("H", b"g")),
        (7, TxRecord::Commit { reason: 0 }),
        (7, TxRecord::Exception { status: 1, strikes: 4, committed: true }),
        (8, msg("F", b"h")),
        (8, TxRecord::Commit { reason: 0 }),
        (8, TxRecord::Done),
    ]);
    let s = scan_records(&recs);
    // Commit order, not first-record order.
    assert_eq!(
        s.replay,
        vec![
            ReplayTx {
                at: 2,
                tid: tid(2),
                facility: "G".into(),
                msgs: vec![Bytes::from(&b"b"[..])],
                hand_on: vec![],
                reason: 5,
                seq_ranges: vec![],
            },
            ReplayTx {
                at: 4,
                tid: tid(1),
                facility: "F".into(),
                msgs: vec![Bytes::from(&b"a1"[..]), Bytes::from(&b"a2"[..])],
                hand_on: vec![],
                reason: 4,
                seq_ranges: vec![],
            },
        ]
    );
    assert_eq!(
        s.release,
        // Undecided tid 3 is presumed aborted with a record that says so.
        vec![
            (tid(3), TxRecord::PresumedAbort),
            (tid(3), TxRecord::Done),
            (tid(5), TxRecord::Done),
            (tid(6), TxRecord::Done)
        ]
    );
    assert_eq!(
        s.in_doubt,
        vec![InDoubtTx { tid: tid(4), facility: "F".into(), msgs: vec![Bytes::from(&b"d"[..])], drive: 0 }]
    );
    assert_eq!(s.set_aside.len(), 1);
    let a = &s.set_aside[0];
    assert_eq!((a.tid, a.facility.as_str(), a.strikes), (tid(7), "H", 4));
    assert!(!a.msgs.is_empty(), "its messages, for an operator's retry");
    assert!(s.malformed.is_empty());
    assert_eq!(committed_tids(&recs), vec![tid(1), tid(2), tid(6), tid(7), tid(8)]);
    assert_eq!(scan_records(&[]), Scan::default());
}

/// A keeper's unit of a lost node's commit (`HandOn` beside `Msg`):
/// recovery presents the messages and hands on the rest, and a commit
/// whose every message is handed on is still replayed (not finished empty).
#[test]
fn hand_on_messages_are_replayed_as_hand_ons() {
    let on = |d: &[u8]| TxRecord::HandOn { facility: "F".into(), data: Bytes::from(d) };
    let (kind, payload) = on(b"x").encode();
    assert_eq!((kind, &payload[..]), (RecordKind::HandOn, &b"\x01Fx"[..]));
    assert_eq!(TxRecord::decode(RecordKind::HandOn, &payload), Ok(on(b"x")));
    let recs = records(&[
        (1, msg("F", b"mine")),
        (1, on(b"theirs")),
        (1, TxRecord::Commit { reason: 3 }),
        (2, on(b"only")),
        (2, TxRecord::Commit { reason: 0 }),
    ]);
    let s = scan_records(&recs);
    let got: Vec<(Tid, Vec<Bytes>, Vec<Bytes>)> =
        s.replay.iter().map(|r| (r.tid, r.msgs.clone(), r.hand_on.clone())).collect();
    let b = |d: &[u8]| Bytes::from(d);
    assert_eq!(got, vec![(tid(1), vec![b(b"mine")], vec![b(b"theirs")]), (tid(2), vec![], vec![b(b"only")])]);
    assert!(s.release.is_empty(), "{:?}", s.release);
    assert_eq!(fates(&recs), vec![(1, TxFate::Replay), (2, TxFate::Replay)]);
}

/// Payloads that do not decode are reported and count by their kind, on
/// the safe side.
#[test]
fn malformed_records_are_reported_and_count_by_kind() {
    let recs = vec![
        raw(1, RecordKind::Msg, b"\x09short"),
        raw(1, RecordKind::Msg, b"\x01Fok"),
        raw(1, RecordKind::Commit, &[1, 2]),
        raw(2, RecordKind::Msg, b"\x01Fx"),
        raw(2, RecordKind::Vote, &[7]),
        raw(3, RecordKind::Msg, b"\x01Fy"),
        raw(3, RecordKind::Commit, &[0, 0, 0, 0]),
        raw(3, RecordKind::Exception, &[1]),
        raw(4, RecordKind::Msg, b"\x01Fz"),
        raw(4, RecordKind::Abort, &[3]),
        raw(5, RecordKind::Msg, b""),
        raw(5, RecordKind::Done, &[1]),
        raw(6, RecordKind::Fence, &[0; 24]),
        raw(6, RecordKind::Meta, b"m"),
    ];
    let c = classify(&recs);
    use TxFate::*;
    let got: Vec<_> = c.txs.iter().map(|t| (t.tid.seq, t.fate())).collect();
    assert_eq!(got, vec![(1, Replay), (2, InDoubt), (3, SetAside), (4, Aborted), (5, Done)]);
    assert_eq!((c.txs[0].msg_records, c.txs[0].msgs.len()), (2, 1));
    assert_eq!(c.txs[0].commit, Some(CommitAt { at: 2, reason: 0 }));
    assert_eq!(c.txs[2].set_aside, Some(0));
    let bad: Vec<_> = c.malformed.iter().map(|m| (m.at, m.tid.seq, m.kind)).collect();
    assert_eq!(
        bad,
        vec![
            (0, 1, RecordKind::Msg),
            (2, 1, RecordKind::Commit),
            (4, 2, RecordKind::Vote),
            (7, 3, RecordKind::Exception),
            (9, 4, RecordKind::Abort),
            (10, 5, RecordKind::Msg),
            (11, 5, RecordKind::Done),
        ]
    );
    assert_eq!(scan_records(&recs).malformed.len(), 7);
}

proptest! {
    /// Any records at all (any kind, any payload): classifying and planning
    /// never panic, and every live transaction gets exactly one plan (live
    /// as the journal writer counts space: not finished, or finished with
    /// records after its `Done`).
    #[test]
    fn any_records_classify_without_panic(
        list in proptest::collection::vec((0u64..6, any_kind(), proptest::collection::vec(any::<u8>(), 0..12)), 0..40),
    ) {
        let recs: Vec<Record> = list.iter().map(|(n, k, p)| raw(*n, *k, p)).collect();
        let c = classify(&recs);
        let s = scan_records(&recs);
        let mut planned: Vec<Tid> = s.replay.iter().map(|r| r.tid)
            .chain(s.in_doubt.iter().map(|r| r.tid))
            .chain(s.set_aside.iter().map(|r| r.tid))
            .chain(s.answerable.iter().map(|(t, _)| *t))
            .chain(s.answerable_aborts.iter().copied())
            .chain(s.release.iter().filter(|(_, r)| *r == TxRecord::Done).map(|(t, _)| *t))
            .collect();
        planned.sort();
        let mut live: Vec<Tid> =
            c.txs.iter().filter(|t| t.fate() != TxFate::Done || t.reopened).map(|t| t.tid).collect();
        live.sort();
        prop_assert_eq!(planned, live);
    }
}

/// A recovery presumes abort for an undecided transaction with a record of
/// its own kind: read again (a restart, a second takeover), the journal
/// answers "aborted" only for decided aborts (simulator seed 3157: a
/// presumed one was answered as decided, and a probe rejected a transaction
/// its frozen router then committed).
#[test]
fn a_presumed_abort_is_written_as_such_and_not_read_back_as_decided() {
    let rec = |t: u64, r: TxRecord| {
        let (kind, payload) = r.encode();
        Record { epoch: 1, tid: tid(t), kind, payload }
    };
    // 1: undecided (a message, a vote not made durable); 2: rolled back.
    let records = vec![
        rec(1, msg("BANK", b"a")),
        rec(1, TxRecord::Vote { durable: false }),
        rec(2, msg("BANK", b"b")),
        rec(2, TxRecord::Abort),
    ];
    let scan = scan_records(&records);
    assert_eq!(
        scan.release,
        vec![(tid(1), TxRecord::PresumedAbort), (tid(1), TxRecord::Done), (tid(2), TxRecord::Done)]
    );
    assert_eq!(aborted_tids(&records), vec![tid(2)]);
    // Read again with the presumption written: still not "aborted".
    let mut again = records.clone();
    again.extend(scan.release.iter().map(|(t, r)| rec(t.seq, r.clone())));
    assert_eq!(aborted_tids(&again), vec![tid(2)]);
    assert!(scan_records(&again).release.is_empty(), "both released: nothing more to write");
}

/// An answerable transaction restated at the head (`Carried`) reads as it
/// did before, with or without its earlier records (recycled once the
/// restatement was written): an applied commit stays answerable and
/// committed, a kept rejection stays answerable and aborted; a later `Done`
/// still finishes it.
#[test]
fn a_carried_record_restates_an_answerable_transaction_with_or_without_its_earlier_records() {
    let earlier = records(&[
        (1, msg("F", b"a")),
        (1, TxRecord::Vote { durable: true }),
        (1, TxRecord::Commit { reason: 0 }),
        (1, TxRecord::Applied),
        (2, msg("F", b"b")),
        (2, TxRecord::KeptAbort),
    ]);
    let carried = records(&[(1, TxRecord::Carried { committed: true }), (2, TxRecord::Carried { committed: false })]);
    for recs in [carried.clone(), [earlier.clone(), carried.clone()].concat()] {
        assert_eq!(fates(&recs), vec![(1, TxFate::Answerable), (2, TxFate::AbortAnswerable)], "{recs:?}");
        let scan = scan_records(&recs);
        assert_eq!(scan.answerable.iter().map(|(t, _)| *t).collect::<Vec<_>>(), vec![tid(1)]);
        assert_eq!(scan.answerable_aborts, vec![tid(2)]);
        assert!(scan.replay.is_empty() && scan.release.is_empty(), "{scan:?}");
        assert_eq!(committed_tids(&recs), vec![tid(1)]);
        assert_eq!(aborted_tids(&recs), vec![tid(2)]);
    }
    let done = [carried, records(&[(1, TxRecord::Done), (2, TxRecord::Done)])].concat();
    assert_eq!(fates(&done), vec![(1, TxFate::Done), (2, TxFate::Done)]);
}

/// Work a router hands to (or drives again on) a node after the node ended
/// its own attempt at the tid is a new attempt: only its messages are
/// replayed, and the earlier attempt's abort (one a restart presumed, or
/// a rollback) does not hide its commit. Simulator seed 118 of the disk
/// faults: a reader classified "presumed abort, then the router's handed
/// commit" as aborted and wrote `Done` over a commit nobody applied.
#[test]
fn a_message_after_the_tids_last_attempt_ended_starts_a_new_attempt() {
    let handed = [(1, msg("F", b"new")), (1, TxRecord::Commit { reason: 4 })];
    let earlier_attempts: [&[(u64, TxRecord)]; 4] = [
        // Voted, then presumed aborted by a restart (or a reader).
        &[
            (1, msg("F", b"old")),
            (1, TxRecord::Vote { durable: false }),
            (1, TxRecord::PresumedAbort),
            (1, TxRecord::Done),
        ],
        // Rolled back by a server or a router, finished.
        &[(1, msg("F", b"old")), (1, TxRecord::Abort), (1, TxRecord::Done)],
        // Committed and applied here, not yet forgotten.
        &[(1, msg("F", b"old")), (1, TxRecord::Commit { reason: 0 }), (1, TxRecord::Applied)],
        // Committed, applied and forgotten.
        &[(1, msg("F", b"old")), (1, TxRecord::Commit { reason: 0 }), (1, TxRecord::Applied), (1, TxRecord::Done)],
    ];
    for earlier in earlier_attempts {
        let recs = [records(earlier), records(&handed)].concat();
        assert_eq!(fates(&recs), vec![(1, TxFate::Replay)], "{recs:?}");
        let scan = scan_records(&recs);
        assert_eq!(scan.replay.len(), 1, "{scan:?}");
        assert_eq!(scan.replay[0].msgs, vec![Bytes::from(&b"new"[..])], "only the new attempt's message: {scan:?}");
        assert_eq!(scan.replay[0].reason, 4);
        assert!(scan.release.is_empty(), "nothing written over the commit: {scan:?}");
        assert_eq!(committed_tids(&recs), vec![tid(1)]);
        assert!(aborted_tids(&recs).is_empty());
    }
    // A new attempt that never got its outcome is judged on its own
    // records: a durable vote is in doubt, not hidden by an old `Done`.
    let recs = records(&[
        (1, msg("F", b"old")),
        (1, TxRecord::PresumedAbort),
        (1, TxRecord::Done),
        (1, msg("F", b"new")),
        (1, TxRecord::Vote { durable: true }),
    ]);
    assert_eq!(fates(&recs), vec![(1, TxFate::InDoubt)]);
    // Within one attempt, messages of several branches still add up.
    let recs = records(&[(1, msg("F", b"a")), (1, msg("F", b"b")), (1, TxRecord::Commit { reason: 0 })]);
    assert_eq!(scan_records(&recs).replay[0].msgs.len(), 2);
}

/// A record written after a finished transaction's `Done` (no new attempt:
/// an `Applied` of work presented here again, written after its router's
/// forget) keeps its segment in the writer's accounting (`journal::live`)
/// although the transaction is finished: recovery writes its `Done` again,
/// which frees it (simulator `--faults disk --seed 117 --routers 2`: nothing
/// else ever did, and the journal stayed full).
#[test]
fn a_finished_transaction_with_records_after_its_done_is_finished_again() {
    let applied =
        [(1, msg("F", b"one")), (1, TxRecord::Commit { reason: 0 }), (1, TxRecord::Applied), (1, TxRecord::Done)];
    let recs = [records(&applied), records(&[(1, TxRecord::Applied)])].concat();
    assert_eq!(fates(&recs), vec![(1, TxFate::Done)]);
    let scan = scan_records(&recs);
    assert_eq!(scan.release, vec![(tid(1), TxRecord::Done)], "{scan:?}");
    assert!(scan.replay.is_empty() && scan.answerable.is_empty(), "still finished: {scan:?}");
    // A `Done` after it, or only records that keep no space: nothing to do.
    for after in [&[(1, TxRecord::Applied), (1, TxRecord::Done)][..], &[(1, TxRecord::Drive { drive: 3 })][..]] {
        let recs = [records(&applied), records(after)].concat();
        assert!(scan_records(&recs).release.is_empty(), "{recs:?}");
    }
    assert!(scan_records(&records(&applied)).release.is_empty());
}

/// A `Restated` record drops the attempt's messages before it: the ones
/// after it are all of them (a full journal refused some earlier ones, so
/// the commit's write restated every message). One right after an ended
/// attempt starts a new attempt, as a message would.
#[test]
fn a_restated_record_replaces_the_attempts_earlier_messages() {
    let recs = records(&[
        (1, msg("F", b"a")),
        (1, TxRecord::Vote { durable: false }),
        (1, TxRecord::Restated),
        (1, msg("F", b"a")),
        (1, msg("F", b"b")),
        (1, TxRecord::Commit { reason: 3 }),
    ]);
    let scan = scan_records(&recs);
    assert_eq!(scan.replay.len(), 1, "{scan:?}");
    assert_eq!(scan.replay[0].msgs, vec![Bytes::from(&b"a"[..]), Bytes::from(&b"b"[..])]);
    assert_eq!(scan.replay[0].reason, 3);
    // Restated after a commit was written already (the refusal was
    // reported after that write was made): the later `Commit` stands.
    let recs = records(&[
        (1, TxRecord::Vote { durable: false }),
        (1, TxRecord::Commit { reason: 3 }),
        (1, TxRecord::Restated),
        (1, msg("F", b"a")),
        (1, TxRecord::Commit { reason: 3 }),
    ]);
    assert_eq!(scan_records(&recs).replay[0].msgs, vec![Bytes::from(&b"a"[..])]);
    // Its first message refused in a new attempt: the old attempt's
    // message is not presented with the new one.
    let recs = records(&[
        (1, msg("F", b"old")),
        (1, TxRecord::Abort),
        (1, TxRecord::Done),
        (1, TxRecord::Restated),
        (1, msg("F", b"new")),
        (1, TxRecord::Commit { reason: 0 }),
    ]);
    assert_eq!(scan_records(&recs).replay[0].msgs, vec![Bytes::from(&b"new"[..])]);
    // A payload is malformed (only a newer format writes one), and read
    // as the record this build knows.
    assert!(TxRecord::decode(RecordKind::Restated, &[1]).is_err());
    assert_eq!(TxRecord::decode(RecordKind::Restated, &[]), Ok(TxRecord::Restated));
}

/// A promise to a later drive (`Drive`) leaves the transaction's fate as
/// its other records say, and an in-doubt one carries the latest drive
/// promised (the highest, whatever the order; kept across a new attempt).
/// A payload of the wrong length is reported, and promises nothing.
#[test]
fn a_drive_record_carries_the_latest_promise_of_an_in_doubt_transaction() {
    let recs = records(&[
        (1, msg("F", b"a")),
        (1, TxRecord::Vote { durable: true }),
        (1, TxRecord::Drive { drive: 2 }),
        (1, TxRecord::Drive { drive: 1 }),
        (2, msg("F", b"b")),
        (2, TxRecord::Drive { drive: 3 }),
        (2, TxRecord::Abort),
        (2, msg("F", b"c")),
        (2, TxRecord::Vote { durable: true }),
    ]);
    assert_eq!(fates(&recs), vec![(1, TxFate::InDoubt), (2, TxFate::InDoubt)]);
    let scan = scan_records(&recs);
    let drives: Vec<(u64, u32)> = scan.in_doubt.iter().map(|d| (d.tid.seq, d.drive)).collect();
    assert_eq!(drives, vec![(1, 2), (2, 3)]);
    assert_eq!(TxRecord::decode(RecordKind::Drive, &7u32.to_le_bytes()), Ok(TxRecord::Drive { drive: 7 }));
    let mut bad = recs.clone();
    bad.push(Record { epoch: 1, tid: tid(1), kind: RecordKind::Drive, payload: vec![9, 9] });
    assert!(TxRecord::decode(RecordKind::Drive, &[9, 9]).is_err());
    let scan = scan_records(&bad);
    assert_eq!(scan.malformed.len(), 1);
    assert_eq!(scan.in_doubt[0].drive, 2, "a malformed promise promises nothing");
}

/// Every transaction's latest promise is listed, whatever its fate: a lone
/// promise (a node that held nothing of the tid), one whose transaction
/// ended (`Done`, or a recovery's presumed abort after it), an in-doubt
/// one; a transaction with no promise is not listed.
#[test]
fn every_promise_is_listed_whatever_the_transactions_fate() {
    let recs = records(&[
        (1, TxRecord::Drive { drive: 1 }),
        (2, msg("F", b"a")),
        (2, TxRecord::Drive { drive: 2 }),
        (2, TxRecord::PresumedAbort),
        (2, TxRecord::Done),
        (3, msg("F", b"b")),
        (3, TxRecord::Vote { durable: true }),
        (3, TxRecord::Drive { drive: 4 }),
        (4, msg("F", b"c")),
        (4, TxRecord::Commit { reason: 0 }),
    ]);
    assert_eq!(
        fates(&recs),
        vec![(1, TxFate::PresumedAbort), (2, TxFate::Done), (3, TxFate::InDoubt), (4, TxFate::Replay)]
    );
    let promises: Vec<(u64, u32)> = scan_records(&recs).promises.iter().map(|(t, d)| (t.seq, *d)).collect();
    assert_eq!(promises, vec![(1, 1), (2, 2), (3, 4)]);
}

/// An inquiry's binding (`Bound`) is listed for every transaction that has
/// one, at its highest drive, whatever the fate (alone, the node held
/// nothing of the tid, which a recovery presumes aborted), kept across a
/// new attempt; it changes no fate. A malformed one binds the first drive
/// (on the safe side), and is reported.
#[test]
fn every_binding_is_listed_whatever_the_transactions_fate() {
    let recs = records(&[
        (1, TxRecord::Bound { drive: 0 }),
        (2, TxRecord::Bound { drive: 3 }),
        (2, TxRecord::Bound { drive: 1 }),
        (2, TxRecord::PresumedAbort),
        (2, TxRecord::Done),
        (2, msg("F", b"a")),
        (2, TxRecord::Vote { durable: true }),
        (3, msg("F", b"b")),
        (3, TxRecord::Commit { reason: 0 }),
    ]);
    assert_eq!(fates(&recs), vec![(1, TxFate::PresumedAbort), (2, TxFate::InDoubt), (3, TxFate::Replay)]);
    let bounds: Vec<(u64, u32)> = scan_records(&recs).bounds.iter().map(|(t, d)| (t.seq, *d)).collect();
    assert_eq!(bounds, vec![(1, 0), (2, 3)]);
    assert_eq!(TxRecord::decode(RecordKind::Bound, &7u32.to_le_bytes()), Ok(TxRecord::Bound { drive: 7 }));
    assert_eq!(TxRecord::Bound { drive: 7 }.encode(), (RecordKind::Bound, 7u32.to_le_bytes().to_vec()));
    let mut bad = recs.clone();
    bad.push(Record { epoch: 1, tid: tid(4), kind: RecordKind::Bound, payload: vec![9] });
    let scan = scan_records(&bad);
    assert_eq!(scan.malformed.len(), 1);
    assert!(scan.bounds.contains(&(tid(4), 0)), "{:?}", scan.bounds);
}

/// The work a journal's commits applied is the prints of their `Msg`
/// records, finished or not: not a `HandOn` (another partition applies
/// it), not an uncommitted transaction's messages, and none for a commit
/// restated by `Carried` (its messages are gone): that one counts as
/// "work unknown" (docs/replaced-work.md).
#[test]
fn committed_prints_are_the_applied_messages_of_committed_transactions() {
    let on = |d: &[u8]| TxRecord::HandOn { facility: "F".into(), data: Bytes::from(d) };
    let recs = records(&[
        (1, msg("F", b"a")),
        (1, msg("F", b"b")),
        (1, on(b"elsewhere")),
        (1, TxRecord::Commit { reason: 0 }),
        (1, TxRecord::Done),
        (2, msg("F", b"undecided")),
        (2, TxRecord::Vote { durable: true }),
        (3, TxRecord::Carried { committed: true }),
        (4, msg("F", b"a")),
        (4, msg("F", b"a")),
        (4, TxRecord::Commit { reason: 1 }),
    ]);
    let committed = committed_tids(&recs);
    assert_eq!(committed, vec![tid(1), tid(3), tid(4)]);
    let mut want = vec![(tid(1), work_print(b"a")), (tid(1), work_print(b"b")), (tid(4), work_print(b"a"))];
    want.sort();
    assert_eq!(committed_prints(&recs, &committed), want);
    assert_ne!(work_print(b"a"), work_print(b"b"));
}

/// A commit remembered for the other site stays in the recovery plan's
/// shadow list (with its messages) until a `Released` mark of the same
/// position follows; the other site's entry applied here is listed as
/// such; a finished transaction lists none (docs/shadow.md).
#[test]
fn shadow_log_marks_are_listed_until_released() {
    let seq = |t: u64, range: &str, n: u64, mark: SeqMark| Record {
        epoch: 1,
        tid: tid(t),
        kind: RecordKind::Seq,
        payload: TxRecord::Seq { range: range.into(), pos: (2, n), mark }.encode().1,
    };
    let rec = |t: u64, r: TxRecord| Record { epoch: 1, tid: tid(t), kind: r.kind(), payload: r.encode().1 };
    let msg = |t: u64| rec(t, TxRecord::Msg { facility: "F".into(), data: Bytes::from(&b"m"[..]) });
    let records = vec![
        msg(1),
        seq(1, "r#primary", 1, SeqMark::Remembered),
        rec(1, TxRecord::Commit { reason: 0 }),
        rec(1, TxRecord::Applied),
        msg(2),
        seq(2, "r#primary", 2, SeqMark::Remembered),
        rec(2, TxRecord::Commit { reason: 0 }),
        rec(2, TxRecord::Applied),
        seq(2, "r#primary", 2, SeqMark::Released),
        msg(3),
        seq(3, "r#primary", 7, SeqMark::Applied),
        rec(3, TxRecord::Commit { reason: 0 }),
        rec(3, TxRecord::Applied),
        msg(4),
        seq(4, "r#primary", 3, SeqMark::Remembered),
        rec(4, TxRecord::Commit { reason: 0 }),
        rec(4, TxRecord::Done),
    ];
    let scan = scan_records(&records);
    let got: Vec<(Tid, (u64, u64), bool)> = scan.shadow.iter().map(|s| (s.tid, s.pos, s.primary)).collect();
    assert_eq!(got, vec![(tid(1), (2, 1), true), (tid(3), (2, 7), false)]);
    assert_eq!(scan.shadow[0].msgs, vec![Bytes::from(&b"m"[..])]);
    // A mark byte that is not defined is refused, not guessed.
    let mut bad = TxRecord::Seq { range: "r".into(), pos: (1, 1), mark: SeqMark::Applied }.encode().1;
    *bad.last_mut().unwrap() = 9;
    assert!(TxRecord::decode(RecordKind::Seq, &bad).is_err());
    assert!(TxRecord::decode(RecordKind::Seq, &[3, b'a']).is_err());
}
