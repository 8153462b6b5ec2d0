//! A node started on its journal knows its facility definitions before it
//! recovers (`EmbeddedConfig::facilities`), as a daemon starts.

use std::time::Duration;

use crate::facility::{FacilityDef, FacilityStore, FacilityTable};
use crate::journal::{self, JournalConfig, RecordKind};
use crate::runtime::EmbeddedNode;
use crate::tid::Tid;
use crate::txrecord::TxRecord;
use crate::EmbeddedConfig;

/// Facility F: node "a" its backend, "b" its frontend and router.
fn table() -> (FacilityTable, FacilityDef) {
    let v = |l: &[&str]| l.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let d = FacilityDef::new("F", &v(&["b"]), &v(&["b"]), &v(&["a"])).unwrap();
    let mut t = FacilityTable::new("a");
    t.insert(d.clone());
    (t, d)
}

/// CI96 (`cli/tests/shadow_sites.rs`): a backend restarted on a journal
/// holding a transaction it voted on durably, whose router committed it
/// elsewhere. The node recovered before its definitions were loaded, took
/// F for an implicit facility of its own (every role here), asked its own
/// router, which asked the only backend it knew (itself), heard "nobody
/// committed it", and rolled it back: its key range never applied the
/// commit. With the definitions known first, it waits for F's router.
#[test]
fn a_transaction_in_doubt_waits_for_its_facilitys_router_after_a_restart() {
    for daemon in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let jdir = dir.path().join("journal");
        let tid = Tid { node: 5, incarnation: 1, conn: 1, seq: 1 };
        {
            let jc = JournalConfig { dir: jdir.clone(), ..JournalConfig::default() };
            let (j, _) = journal::open_or_create(&jc).unwrap();
            let msg =
                TxRecord::Msg { facility: "F".into(), data: crate::protocol::Bytes::from(b"\x05\0\0\0pay".to_vec()) };
            j.append_wait(vec![msg.entry(tid), TxRecord::Vote { durable: true }.entry(tid)], true).unwrap();
        }
        let mut cfg = EmbeddedConfig::journaled(&jdir);
        cfg.node_id = Some(11);
        cfg.facilities = Some(table().0);
        let node = if daemon { EmbeddedNode::start_daemon(cfg) } else { EmbeddedNode::start_with(cfg) }.unwrap();
        let mut store = FacilityStore::open(&dir.path().join("facilities.conf"), "a").unwrap();
        store.create(table().1).unwrap();
        node.set_facility_store(store);
        // Long enough for its first inquiry rounds (none is a speed check:
        // the rollback, when it came, came at the first tick).
        std::thread::sleep(Duration::from_millis(300));
        drop(node);
        let scan = journal::scan(&jdir).unwrap();
        let kinds: Vec<RecordKind> =
            scan.entries.iter().filter(|e| e.record.tid == tid).map(|e| e.record.kind).collect();
        assert_eq!(kinds, vec![RecordKind::Msg, RecordKind::Vote], "daemon: {daemon}: still in doubt");
    }
}
