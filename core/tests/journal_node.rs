//! The journal as the node uses it: a full journal rejects new transactions
//! with RTR_STS_JNLFULL while transactions already in it finish.

mod common;

use common::*;
use rtr_core::flags::{ope, sen};
use rtr_core::journal::{self, JournalConfig, RecordKind};
use rtr_core::{EmbeddedConfig, MsgType, Rtr, Status};

#[test]
fn a_full_journal_rejects_new_transactions_and_lets_old_ones_finish() {
    let dir = tempfile::tempdir().unwrap();
    // Three segments of 128 KiB (one is the reserve); messages of 60,000 bytes.
    let cfg = EmbeddedConfig {
        journal: Some(JournalConfig { dir: dir.path().join("j"), segment_bytes: 128 << 10, max_segments: 3 }),
        ..EmbeddedConfig::default()
    };
    let rtr = Rtr::embedded_with(cfg).unwrap();
    // Servers that never vote on their own keep transactions in the journal.
    let servers: Vec<_> = (0..8).map(|_| open_ok(&rtr, server_params("FULL", 0, 1000, ope::EXPLICIT_ACCEPT))).collect();
    let body = vec![7u8; 60_000];
    let mut held = Vec::new();
    let mut full = None;
    // The servers that got a transaction, in order.
    let mut presented = Vec::new();
    for i in 0..8 {
        let c = open_ok(&rtr, client_params("FULL"));
        rtr.send_to_server(c, sen::ACCEPT, &msg(i, &body)).unwrap();
        // A server gets it either way (its record is appended before it is
        // presented); a refusal is decided by then, so the client's wait
        // below does not race the journal (it did under a loaded machine
        // when it also covered the presentation).
        let m = rtr.receive(&rtr_core::Which::List(servers.clone()), Some(std::time::Duration::from_secs(30))).unwrap();
        assert_eq!(m.sb.msgtype, MsgType::Msg1);
        presented.push(m.sb.channel);
        // Either it is held (undecided) or the journal refused it.
        match rtr.receive(&rtr_core::Which::List(vec![c]), Some(std::time::Duration::from_millis(300))) {
            Ok(m) if m.sb.msgtype == MsgType::Rejected => {
                assert_eq!(status_of(&m).0, Status::Jnlfull, "{m:?}");
                full = Some(i);
                break;
            }
            Ok(m) => panic!("unexpected {m:?}"),
            Err(_) => held.push(c),
        }
    }
    let at = full.expect("the journal filled up");
    assert!(at >= 2, "the journal took {at} transactions before filling");
    // The held transactions can still commit: their servers vote now. (The
    // refused transaction's server got its message before the journal
    // refused it, and then its rejection.)
    let mut committed = 0;
    let mut refused = 0;
    for s in &presented {
        let _ = rtr.accept_tx(*s, 0, 0);
        let m = recv(&rtr, *s);
        match (m.sb.msgtype, status_of(&m).0) {
            (MsgType::Accepted, Status::Ok) => committed += 1,
            (MsgType::Rejected, Status::Jnlfull) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(refused, 1);
    assert_eq!(committed, held.len());
    for c in held {
        expect(&rtr, c, MsgType::Accepted);
    }
}

/// A server that voted with RTR_F_ACC_FORGET owes no acknowledgement: the
/// transaction is done once committed, so a restart replays nothing.
#[test]
fn a_forgotten_branch_is_done_at_commit_and_not_replayed_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || EmbeddedConfig {
        journal: Some(JournalConfig { dir: dir.path().join("j"), segment_bytes: 1 << 20, max_segments: 4 }),
        ..EmbeddedConfig::default()
    };
    {
        let rtr = Rtr::embedded_with(cfg()).unwrap();
        let s = open_ok(&rtr, server_params("JFORGET", 0, 100, ope::EXPLICIT_ACCEPT));
        let c = open_ok(&rtr, client_params("JFORGET"));
        rtr.send_to_server(c, 0, &msg(1, b"forgotten")).unwrap();
        expect(&rtr, s, MsgType::Msg1);
        rtr.accept_tx(s, rtr_core::flags::acc::FORGET, 0).unwrap();
        rtr.accept_tx(c, 0, 0).unwrap();
        expect(&rtr, c, MsgType::Accepted);
        assert_quiet(&rtr, s);
    }
    let rtr = Rtr::embedded_with(cfg()).unwrap();
    let s = open_ok(&rtr, server_params("JFORGET", 0, 100, 0));
    assert_quiet(&rtr, s);
}

/// One bad byte in the last journal segment, before a committed transaction
/// that a server had not finished: the node refuses to start and names the
/// file and offset, rather than cutting the transaction off as a torn tail.
/// An undamaged copy of the same journal replays the transaction.
#[test]
fn a_bad_byte_before_committed_work_stops_the_node_with_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |d: &std::path::Path| EmbeddedConfig {
        journal: Some(JournalConfig { dir: d.to_path_buf(), segment_bytes: 1 << 20, max_segments: 4 }),
        ..EmbeddedConfig::default()
    };
    let jdir = dir.path().join("j");
    {
        let rtr = Rtr::embedded_with(cfg(&jdir)).unwrap();
        let s = open_ok(&rtr, server_params("JBAD", 0, 100, ope::EXPLICIT_ACCEPT));
        let c = open_ok(&rtr, client_params("JBAD"));
        for i in 0..2u8 {
            rtr.send_to_server(c, 0, &msg(1, &[i + 1; 300])).unwrap();
            // For the second transaction, this receive also finishes the first.
            expect(&rtr, s, MsgType::Msg1);
            rtr.accept_tx(s, 0, 0).unwrap();
            rtr.accept_tx(c, 0, 0).unwrap();
            expect(&rtr, c, MsgType::Accepted);
            expect(&rtr, s, MsgType::Accepted);
        }
        // The server never receives again: the second transaction is
        // committed and unfinished.
    }
    let good = dir.path().join("good");
    std::fs::create_dir(&good).unwrap();
    for e in std::fs::read_dir(&jdir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), good.join(e.file_name())).unwrap();
    }
    // The first transaction's message record, in the last (only) segment.
    let scan = journal::scan(&jdir).unwrap();
    assert_eq!(scan.segments.len(), 1);
    let first = scan.entries.iter().find(|e| e.record.kind == RecordKind::Msg).unwrap().clone();
    let commits: Vec<_> = scan.entries.iter().filter(|e| e.record.kind == RecordKind::Commit).collect();
    assert_eq!(commits.len(), 2);
    assert!(commits[1].offset > first.offset);
    let seg = scan.segments[0].path.clone();
    let mut b = std::fs::read(&seg).unwrap();
    b[first.offset as usize + journal::format::RECORD_OVERHEAD + 10] ^= 0x01;
    std::fs::write(&seg, b).unwrap();

    match Rtr::embedded_with(cfg(&jdir)) {
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains(&seg.display().to_string()), "{text}");
            assert!(text.contains(&format!("offset {}", first.offset)), "{text}");
        }
        Ok(_) => panic!("the node started on a journal with a bad byte before committed work"),
    }
    // The damaged journal was not cut: the committed transaction is still in it.
    let after = journal::scan(&jdir).unwrap();
    assert!(after.entries.iter().any(|e| e.offset == commits[1].offset && e.record.kind == RecordKind::Commit));

    let rtr = Rtr::embedded_with(cfg(&good)).unwrap();
    let s = open_ok(&rtr, server_params("JBAD", 0, 100, ope::EXPLICIT_ACCEPT));
    let m = expect(&rtr, s, MsgType::Msg1Uncertain);
    assert_eq!(&m.data[4..], &[2u8; 300][..]);
}

/// `EmbeddedNode::drain` (what the process-wide node does at exit): after
/// a server's last receive, which finishes its transaction, a drain returns
/// once the node has recorded that: the journal, read while the node still
/// runs, holds the transaction's Done record. A stopped node's drain says
/// false.
#[test]
fn a_drain_returns_once_the_last_requests_are_recorded() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join("j");
    let cfg = EmbeddedConfig {
        journal: Some(JournalConfig { dir: jdir.clone(), segment_bytes: 1 << 20, max_segments: 4 }),
        ..EmbeddedConfig::default()
    };
    let rtr = Rtr::embedded_with(cfg).unwrap();
    let node = rtr.node().expect("an embedded node");
    let s = open_ok(&rtr, server_params("JDRAIN", 0, 100, 0));
    let c = open_ok(&rtr, client_params("JDRAIN"));
    let done = |tid: rtr_core::Tid| {
        journal::scan(&jdir).unwrap().entries.iter().any(|e| e.record.kind == RecordKind::Done && e.record.tid == tid)
    };
    for key in 1..=5u32 {
        rtr.send_to_server(c, sen::ACCEPT, &msg(key, b"drain")).unwrap();
        let tid = rtr.get_tid(c, 0).unwrap();
        expect(&rtr, s, MsgType::Msg1);
        expect(&rtr, s, MsgType::Accepted);
        expect(&rtr, c, MsgType::Accepted);
        // The server's next receive finishes the transaction (nothing waits).
        assert!(rtr.receive(&rtr_core::Which::List(vec![s]), Some(Duration::ZERO)).is_err());
        assert!(node.drain(Duration::from_secs(10)), "transaction {key}: the drain timed out");
        assert!(done(tid), "transaction {key}: no Done record after the drain");
    }
    let _ = node.admin(rtr_core::protocol::admin::AdminRequest::Stop);
    assert!(node.wait_stopped(Duration::from_secs(10)));
    assert!(!node.drain(Duration::from_secs(1)), "a stopped node drained");
}
