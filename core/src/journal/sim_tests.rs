//! The journal's core scenarios on the simulated device ([`SimFs`]), driven
//! through the thread-less [`SteppedJournal`] as the simulator will drive
//! it: the real group commit, segments, fencing and recovery, with crashes
//! that lose exactly what a disk may lose.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::storage::{SimFs, Storage};
use super::*;

fn cfg() -> JournalConfig {
    JournalConfig { dir: PathBuf::from("/j"), segment_bytes: 64 << 10, max_segments: 8 }
}

fn tid(n: u64) -> Tid {
    Tid { node: 1, incarnation: 7, conn: 2, seq: n }
}

fn rec(n: u64, payload: &[u8]) -> (Tid, RecordKind, Vec<u8>) {
    (tid(n), RecordKind::Msg, payload.to_vec())
}

fn payloads(records: &[Record]) -> Vec<Vec<u8>> {
    records.iter().map(|r| r.payload.clone()).collect()
}

/// A new journal on a new device.
fn new_journal() -> (SimFs, SteppedJournal) {
    let fs = SimFs::new();
    create_on(&fs, &cfg()).unwrap();
    let (j, r) = SteppedJournal::open(fs.storage(), &cfg(), Takeover::Normal).unwrap();
    assert_eq!(r.epoch, 1);
    (fs, j)
}

fn reopen(fs: &SimFs) -> (SteppedJournal, Recovered) {
    SteppedJournal::open(fs.storage(), &cfg(), Takeover::Normal).unwrap_or_else(|e| panic!("reopen: {e}"))
}

/// A deterministic chooser from a seed (splitmix64).
fn chooser(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed;
    move |n| {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

#[test]
fn append_sync_and_recover_on_the_simulated_device_with_group_commit() {
    let (fs, mut j) = new_journal();
    // One batch of three appends, two asking for durability: one write, one sync.
    let syncs = j.stats().syncs;
    let batch = [(vec![rec(1, b"m1"), rec(1, b"m2")], true), (vec![rec(2, b"m3")], false), (vec![rec(3, b"m4")], true)];
    assert!(j.commit(&batch).iter().all(Result::is_ok));
    assert_eq!(j.stats().syncs, syncs + 1);
    assert_eq!(j.stats().batches, 1);
    // Empty and refused appends in a batch: the others go through.
    let fence = (vec![(tid(9), RecordKind::Fence, vec![0; 24])], true);
    let out = j.commit(&[(vec![], true), fence, (vec![rec(4, b"m5")], false)]);
    assert!(out[0].is_ok() && matches!(out[1], Err(JournalError::BadConfig(_))) && out[2].is_ok());
    j.close().unwrap();
    let (j, r) = reopen(&fs);
    assert_eq!(r.epoch, 2);
    assert_eq!(payloads(&r.records), [&b"m1"[..], b"m2", b"m3", b"m4", b"m5"]);
    assert_eq!(j.epoch(), 2);
    assert!(scan_on(&fs, &cfg().dir).unwrap().problems.is_empty());

    // The threaded journal runs on the same device too.
    drop(j);
    let (tj, r) = open_on(fs.storage(), &cfg(), Takeover::Normal).unwrap();
    assert_eq!(r.records.len(), 5);
    tj.append_wait(vec![rec(5, b"threaded")], true).unwrap();
    drop(tj);
    let (_j, r) = reopen(&fs);
    assert_eq!(r.records.last().unwrap().payload, b"threaded");
}

/// Fails if the device kept unsynced data across a crash (or lost synced
/// data): the model's promise, seen through the journal.
#[test]
fn a_crash_loses_the_unsynced_appends_and_only_them() {
    let (fs, mut j) = new_journal();
    j.append(vec![rec(1, b"synced")], true).unwrap();
    j.append(vec![rec(2, b"written, not synced")], false).unwrap();
    let keeping_all = fs.fork();
    drop(j);
    fs.crash_losing_everything_unsynced();
    let (_j, r) = reopen(&fs);
    assert_eq!(payloads(&r.records), [b"synced".to_vec()], "an unsynced write survived a crash");
    assert!(r.cuts.is_empty(), "{:?}", r.cuts);
    // The same moment, crashed keeping every unsynced write: both are there.
    keeping_all.crash(&mut |n| n - 1);
    let (_j, r) = reopen(&keeping_all);
    assert_eq!(payloads(&r.records), [b"synced".to_vec(), b"written, not synced".to_vec()]);
}

#[test]
fn random_crashes_never_lose_a_synced_record_and_keep_a_prefix_of_the_rest() {
    for seed in 0..40u64 {
        let (fs, mut j) = new_journal();
        let mut choose = chooser(seed);
        let mut written: Vec<Vec<u8>> = Vec::new();
        let mut durable = 0;
        // Enough appends of ~1 KB to roll over a few segments; random sync.
        let appends = 60 + choose(120);
        for n in 0..appends {
            let per = 1 + choose(3);
            let recs: Vec<_> = (0..per)
                .map(|k| {
                    let p = format!("{seed}-{n}-{k}-{}", "x".repeat(choose(900) as usize)).into_bytes();
                    written.push(p.clone());
                    (tid(n), RecordKind::Msg, p)
                })
                .collect();
            let sync = choose(3) == 0;
            j.append(recs, sync).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            if sync {
                durable = written.len();
            }
        }
        drop(j);
        fs.crash(&mut choose);
        let (_j, r) = reopen(&fs);
        let got = payloads(&r.records);
        assert!(got.len() >= durable, "seed {seed}: {} records recovered, {durable} were synced", got.len());
        assert_eq!(got, written[..got.len()], "seed {seed}: not a prefix of what was written");
        // What recovery cut is durable: a second crash finds nothing to cut.
        fs.crash_losing_everything_unsynced();
        let (_j, r2) = reopen(&fs);
        assert_eq!(payloads(&r2.records), got, "seed {seed}");
        assert!(r2.cuts.is_empty(), "seed {seed}: {:?}", r2.cuts);
    }
}

/// The last write (one append of several records, unsynced) torn at every
/// byte: a clean torn tail every time, never corruption; the records wholly
/// written survive, the torn one is cut and reported.
#[test]
fn a_torn_last_write_at_every_byte_recovers_as_a_torn_tail() {
    let (fs, mut j) = new_journal();
    j.append(vec![rec(1, &[1; 40]), rec(2, &[2; 25])], true).unwrap();
    let sizes = [30usize, 50, 20, 60];
    let batch: Vec<_> = sizes.iter().enumerate().map(|(k, n)| rec(10 + k as u64, &vec![k as u8 + 10; *n])).collect();
    j.append(batch, false).unwrap();
    drop(j);
    let seg = segment::path(&cfg().dir, 1);
    // The torn write: the four records and the end-of-data word after them.
    let ends: Vec<u64> = sizes
        .iter()
        .scan(0u64, |at, n| {
            *at += format::record_bytes(*n) as u64;
            Some(*at)
        })
        .collect();
    let len = ends[3] + format::WORD_BYTES as u64;
    let start = fs.durable_content(&seg).map(|_| ()).and_then(|()| {
        let s = scan_on(&fs, &cfg().dir).ok()?;
        let last = s.entries.iter().rev().find(|e| e.record.payload == [2; 25])?;
        Some(last.offset + format::record_bytes(25) as u64)
    });
    let start = start.expect("the synced records are on the device");
    for cut in 0..=len {
        let dev = fs.fork();
        // Questions: how many of the segment's one pending write survive
        // (of 0..=1: it does), then how many of its bytes (of 0..=len).
        let mut script = vec![(2, 1), (len + 1, cut)].into_iter();
        dev.crash(&mut |n| {
            let (want, answer) = script.next().expect("one more question than the segment's write");
            assert_eq!(n, want, "cut {cut}");
            answer
        });
        let (_j, r) =
            SteppedJournal::open(dev.storage(), &cfg(), Takeover::Normal).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        let whole = ends.iter().filter(|e| **e <= cut).count();
        let got = payloads(&r.records);
        assert_eq!(got.len(), 2 + whole, "cut {cut}");
        assert_eq!(
            got[2..],
            sizes[..whole].iter().enumerate().map(|(k, n)| vec![k as u8 + 10; *n]).collect::<Vec<_>>()
        );
        let boundary = if whole == 0 { 0 } else { ends[whole - 1] };
        let torn = whole < sizes.len() && cut > boundary;
        match r.cuts.as_slice() {
            [] => assert!(!torn, "cut {cut}: a torn record was not reported"),
            [c] => {
                assert!(torn, "cut {cut}: {c}");
                assert_eq!((c.kind, &c.file, c.offset), (CutKind::TornTail, &seg, start + boundary), "cut {cut}");
            }
            more => panic!("cut {cut}: {more:?}"),
        }
        assert!(scan_on(&dev, &cfg().dir).unwrap().is_clean(), "cut {cut}");
    }
}

#[test]
fn a_forced_takeover_fences_the_old_writer_whose_later_writes_are_ignored() {
    let (fs, mut a) = new_journal();
    a.append(vec![rec(1, b"a-before")], true).unwrap();
    // The lock is held: a normal open fails, a forced one proceeds.
    assert!(matches!(SteppedJournal::open(fs.storage(), &cfg(), Takeover::Normal), Err(JournalError::Locked { .. })));
    let (mut b, rb) = SteppedJournal::open(fs.storage(), &cfg(), Takeover::Force).unwrap();
    assert_eq!((rb.epoch, payloads(&rb.records)), (2, vec![b"a-before".to_vec()]));
    // A has not checked yet: its next appends, synced or not, are refused.
    for sync in [true, false] {
        assert!(matches!(a.append(vec![rec(2, b"a-late")], sync), Err(JournalError::Fenced { mine: 1, current: 2 })));
    }
    assert!(matches!(a.lost(), Some(JournalError::Fenced { .. })));
    b.append(vec![rec(3, b"b-1")], true).unwrap();
    // A's first late write reached the device (past the seal) and is stale.
    let s = scan_on(&fs, &cfg().dir).unwrap();
    let late: Vec<_> = s.entries.iter().filter(|e| e.record.payload == b"a-late").collect();
    assert!(late.len() == 1 && late[0].stale, "{late:?}");
    // The owner that forced its way in takes the lock once A lets go.
    b.check_owner().unwrap();
    drop(a);
    b.check_owner().unwrap();
    assert!(matches!(SteppedJournal::open(fs.storage(), &cfg(), Takeover::Normal), Err(JournalError::Locked { .. })));
    b.close().unwrap();
    // A power loss now changes nothing that was acknowledged.
    fs.crash_losing_everything_unsynced();
    let (_c, rc) = reopen(&fs);
    assert_eq!(rc.epoch, 3);
    assert_eq!(payloads(&rc.records), [b"a-before".to_vec(), b"b-1".to_vec()]);
}

#[test]
fn an_idle_owner_finds_its_fence_with_check_owner() {
    let (fs, mut a) = new_journal();
    a.check_owner().unwrap();
    let (_b, _) = SteppedJournal::open(fs.storage(), &cfg(), Takeover::Force).unwrap();
    assert!(matches!(a.check_owner(), Err(JournalError::Fenced { mine: 1, current: 2 })));
    assert!(matches!(a.lost(), Some(JournalError::Fenced { .. })));
    assert!(matches!(a.append(vec![rec(1, b"x")], true), Err(JournalError::Fenced { .. })));
}

#[test]
fn a_failed_write_or_sync_poisons_ownership_and_releases_the_journal() {
    for fail_sync in [true, false] {
        let (fs, mut j) = new_journal();
        j.append(vec![rec(1, b"ok")], true).unwrap();
        if fail_sync {
            fs.fail_next_sync();
        } else {
            fs.fail_next_write();
        }
        match j.append(vec![rec(2, b"failed")], true) {
            Err(JournalError::Io { path, source }) => {
                assert_eq!(path, segment::path(&cfg().dir, 1));
                assert_eq!(source.raw_os_error(), Some(libc::EIO));
            }
            other => panic!("fail_sync {fail_sync}: {other:?}"),
        }
        // Never retried: every later call fails, even one that would succeed.
        assert!(matches!(j.append(vec![rec(3, b"x")], true), Err(JournalError::Poisoned)));
        assert!(j.lost().is_some());
        // Files and lock released: a new owner opens normally while the old one lives.
        let (mut j2, r) = reopen(&fs);
        assert_eq!(payloads(&r.records)[0], b"ok");
        j2.append(vec![rec(4, b"new owner")], true).unwrap();
        assert!(matches!(j.append(vec![rec(5, b"x")], true), Err(JournalError::Poisoned)));
    }
}

#[test]
fn no_space_for_a_new_segment_is_full_and_harms_nothing() {
    let (fs, mut j) = new_journal();
    // Room for the current segment and a little more, not for another one.
    fs.set_capacity(Some(fs.used() + 1000));
    let mut acked = Vec::new();
    let full_at = loop {
        let n = acked.len() as u64;
        match j.append(vec![rec(n, &[n as u8; 900])], true) {
            Ok(()) => acked.push(vec![n as u8; 900]),
            Err(JournalError::Full) => break n,
            Err(e) => panic!("{e}"),
        }
        assert!(acked.len() < 200, "never full");
    };
    assert!(j.lost().is_none(), "Full is not a loss of ownership");
    assert!(full_at > 50, "the first segment filled: {full_at}");
    // The failed creation left no file behind.
    let names = fs.list(&cfg().dir).unwrap();
    assert_eq!(names.iter().filter(|n| n.to_str().and_then(segment::parse_name).is_some()).count(), 1, "{names:?}");
    // With room again, the same append goes through.
    fs.set_capacity(None);
    j.append(vec![rec(full_at, b"after")], true).unwrap();
    drop(j);
    fs.crash_losing_everything_unsynced();
    let (j, r) = reopen(&fs);
    acked.push(b"after".to_vec());
    assert_eq!(payloads(&r.records), acked);
    drop(j);
    // An open with no room for its segment fails with the I/O error, changing nothing it needs.
    fs.set_capacity(Some(fs.used()));
    match SteppedJournal::open(fs.storage(), &cfg(), Takeover::Normal) {
        Err(JournalError::Io { source, .. }) => assert!(segment::is_no_space(&source), "{source}"),
        other => panic!("{:?}", other.map(|(_, r)| r.epoch)),
    }
    fs.set_capacity(None);
    let (_j, r) = reopen(&fs);
    assert_eq!(payloads(&r.records), acked);
}

#[test]
fn salvage_and_open_or_create_work_on_the_simulated_device() {
    let fs = SimFs::new();
    let storage: Arc<dyn Storage> = fs.storage();
    let (mut j, r) = SteppedJournal::open_or_create(storage.clone(), &cfg()).unwrap();
    assert_eq!(r.epoch, 1);
    for n in 0..3 {
        j.append(vec![rec(n, format!("r{n}").as_bytes())], true).unwrap();
    }
    j.close().unwrap();
    // Damage the middle record: corruption, refused; salvage keeps the others.
    let s = scan_on(&fs, &cfg().dir).unwrap();
    let mid = s.entries.iter().find(|e| e.record.payload == b"r1").unwrap();
    fs.damage(&segment::path(&cfg().dir, 1), mid.offset + 20, &[0xEE]).unwrap();
    assert!(matches!(reopen_err(&fs), JournalError::Corrupt { .. }));
    let (_j, r) = SteppedJournal::salvage(storage, &cfg()).unwrap();
    assert_eq!(payloads(&r.records), [b"r0".to_vec(), b"r2".to_vec()]);
    assert_eq!(r.cuts.len(), 1);
    assert!(fs.exists(&salvage::damaged_copy(&segment::path(Path::new("/j"), 1), r.epoch)));
}

fn reopen_err(fs: &SimFs) -> JournalError {
    match SteppedJournal::open(fs.storage(), &cfg(), Takeover::Normal) {
        Err(e) => e,
        Ok((_, r)) => panic!("opened: {:?}", r.cuts),
    }
}

/// An I/O error at each write, or each sync, in turn, of an open and of a
/// workload that rolls segments, then a power loss: the next open always
/// succeeds (whatever the failed open or append left: a claim without its
/// epoch, a half-filled segment, a volatile name) and keeps every record
/// acknowledged as durable, in order.
#[test]
fn an_io_error_at_any_point_then_a_crash_never_loses_an_acknowledged_record() {
    for sync_fault in [false, true] {
        let mut k = 0u64;
        loop {
            let (fs, mut j) = new_journal();
            j.append(vec![rec(0, b"history")], true).unwrap();
            j.close().unwrap();
            let mut attempted = vec![b"history".to_vec()];
            let mut durable = 1;
            if sync_fault {
                fs.fail_sync_after(Some(k));
            } else {
                fs.fail_write_after(Some(k));
            }
            if let Ok((mut j, r)) = SteppedJournal::open(fs.storage(), &cfg(), Takeover::Normal) {
                assert_eq!(payloads(&r.records), attempted, "k {k}");
                // About 20 appends fill a segment: two rolls.
                for n in 1..=50u64 {
                    let p = format!("{n}-{}", "p".repeat(3000)).into_bytes();
                    let sync = n % 3 == 0;
                    let result = j.append(vec![rec(n, &p)], sync);
                    attempted.push(p);
                    match result {
                        Ok(()) if sync => durable = attempted.len(),
                        Ok(()) => {}
                        // Go on: a writer that kept writing after a failure
                        // (and trusted a retried sync) would lose acknowledged data.
                        Err(JournalError::Io { .. } | JournalError::Poisoned) => {}
                        Err(e) => panic!("k {k} sync_fault {sync_fault}: {e}"),
                    }
                }
            }
            let fired = !fs.fault_armed();
            fs.fail_write_after(None);
            fs.fail_sync_after(None);
            fs.crash(&mut chooser(k));
            let (_j, r) = SteppedJournal::open(fs.storage(), &cfg(), Takeover::Normal)
                .unwrap_or_else(|e| panic!("k {k} sync_fault {sync_fault}: {e}"));
            let got = payloads(&r.records);
            assert!(got.len() >= durable, "k {k} sync_fault {sync_fault}: {} < {durable}", got.len());
            assert_eq!(got, attempted[..got.len()], "k {k} sync_fault {sync_fault}");
            if !fired {
                break;
            }
            k += 1;
        }
        // (59 writes and 24 syncs when this was written)
        assert!(k > if sync_fault { 15 } else { 40 }, "sync_fault {sync_fault}: only {k} failure points");
    }
}

/// Transactions finishing (Done) while new ones start, so that segments are
/// recycled, then a random power loss: every transaction acknowledged as
/// durable and not yet finished is recovered, and what is recovered was
/// written, in write order. (A recycled file's new header is volatile until
/// its first sync: a crash before it leaves an unfinished segment.)
#[test]
fn random_crashes_while_segments_are_recycled_keep_every_live_durable_transaction() {
    let c = JournalConfig { max_segments: 3, ..cfg() };
    for seed in 0..30u64 {
        let fs = SimFs::new();
        create_on(&fs, &c).unwrap();
        let (mut j, _) = SteppedJournal::open(fs.storage(), &c, Takeover::Normal).unwrap();
        let mut choose = chooser(seed);
        let mut written: Vec<(u64, RecordKind)> = Vec::new();
        // Durably acknowledged, no Done written yet.
        let mut must_survive: Vec<u64> = Vec::new();
        let mut unsynced: Vec<u64> = Vec::new();
        let mut open_tx: std::collections::VecDeque<u64> = Default::default();
        let steps = 80 + choose(150);
        for n in 0..steps {
            let sync = choose(2) == 0;
            j.append(vec![(tid(n), RecordKind::Msg, vec![n as u8; 2000 + choose(2000) as usize])], sync)
                .unwrap_or_else(|e| panic!("seed {seed} step {n}: {e}"));
            written.push((n, RecordKind::Msg));
            open_tx.push_back(n);
            unsynced.push(n);
            if sync {
                must_survive.append(&mut unsynced);
            }
            // Finish the oldest transactions, keeping a few open.
            while open_tx.len() > 1 + choose(8) as usize {
                let Some(done) = open_tx.pop_front() else { break };
                j.append(vec![(tid(done), RecordKind::Done, Vec::new())], choose(4) == 0).unwrap();
                written.push((done, RecordKind::Done));
                must_survive.retain(|t| *t != done);
                unsynced.retain(|t| *t != done);
            }
        }
        assert!(j.stats().recycled > 0, "seed {seed}: no segment was recycled");
        drop(j);
        fs.crash(&mut choose);
        let (_j, r) =
            SteppedJournal::open(fs.storage(), &c, Takeover::Normal).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let got: Vec<(u64, RecordKind)> = r.records.iter().map(|x| (x.tid.seq, x.kind)).collect();
        for t in &must_survive {
            assert!(got.contains(&(*t, RecordKind::Msg)), "seed {seed}: durable live transaction {t} lost");
        }
        // A subsequence of what was written.
        let mut w = written.iter();
        for g in &got {
            assert!(w.any(|x| x == g), "seed {seed}: {g:?} recovered out of order or never written");
        }
    }
}

/// An owner's last write, not synced (its append did not ask for it), is
/// in the page cache when the owner is killed, or when a standby forces a
/// takeover while it lives: the next open recovers it (it reads back) and
/// starts a new segment after it. A later power loss may tear that write:
/// what recovery returned must stay, and the journal must still open
/// (damage before the end of a segment that is not the last is corruption).
#[test]
fn what_an_open_recovers_from_an_unsynced_write_survives_a_later_power_loss() {
    for force in [false, true] {
        let (fs, mut j) = new_journal();
        j.append(vec![rec(1, b"synced")], true).unwrap();
        j.append(vec![rec(2, &[7u8; 200])], false).unwrap();
        let old = if force {
            // The old owner lives on (fenced, not told yet).
            let (j2, r) = SteppedJournal::open(fs.storage(), &cfg(), Takeover::Force).unwrap();
            assert_eq!(r.records.len(), 2, "force {force}: the unsynced write reads back");
            drop(j2);
            Some(j)
        } else {
            drop(j); // killed: nothing synced
            let (j2, r) = reopen(&fs);
            assert_eq!(r.records.len(), 2, "force {force}: the unsynced write reads back");
            drop(j2);
            None
        };
        // Power loss keeping the first half of every unsynced write, so
        // tearing any write recovery read.
        fs.crash(&mut |n| n / 2);
        drop(old);
        let scan = scan_on(&fs, &cfg().dir).unwrap();
        assert!(!scan.is_corrupt(), "force {force}: {:?}", scan.problems);
        let (_j, r) = reopen(&fs);
        assert_eq!(payloads(&r.records), [b"synced".to_vec(), vec![7u8; 200]], "force {force}");
    }
}

/// A fenced owner `a` that has not noticed yet writes late while `c`, a
/// later owner, has acknowledged records: the late write must not land
/// among them (`case` names the scenario in failures).
fn late_write_harms_no_later_owner(fs: &SimFs, mut a: SteppedJournal, mut c: SteppedJournal, case: &str) {
    // C's acknowledged records, from the start of its current segment to
    // well past where A's next write goes.
    let mut acked = Vec::new();
    for n in 0..10u64 {
        let p = format!("c-{n}").into_bytes();
        c.append(vec![(tid(10 + n), RecordKind::Msg, p.clone())], true).unwrap();
        acked.push(p);
    }
    // A's late write is refused, but it reached the file A still holds.
    assert!(matches!(a.append(vec![rec(2, &[0xA5; 30])], false), Err(JournalError::Fenced { .. })), "{case}");
    drop(a);
    let scan = scan_on(fs, &cfg().dir).unwrap();
    assert!(!scan.is_corrupt(), "{case}: {:?}", scan.problems);
    c.close().unwrap();
    fs.crash_losing_everything_unsynced();
    let (_d, rd) = reopen(fs);
    let kept: Vec<Vec<u8>> = payloads(&rd.records).into_iter().filter(|p| p.starts_with(b"c-")).collect();
    assert_eq!(kept, acked, "{case}");
}

/// Owner A (epoch 1) is fenced by B (epoch 2) while it lives on, frozen,
/// holding its current segment open (and the lock); B goes away, and a
/// third owner C, forcing its way in, no longer sees A's segment as the
/// newest one. If C gave that file a new life (recycled it, at its open or
/// at a roll) and wrote acknowledged records there, A's late write, which
/// lands at A's offset in the same file whatever its name is by then, would
/// overwrite them: damage followed by valid records, a journal that never
/// opens again, acknowledged records lost. A segment an earlier owner may
/// still write into is removed, never recycled: A's late write then goes
/// to a file no name reaches.
#[test]
fn a_fenced_owner_that_lives_on_never_writes_into_a_later_owners_segment() {
    for at_roll in [true, false] {
        let (fs, mut a) = new_journal();
        a.append(vec![rec(1, b"a-1")], true).unwrap();
        if !at_roll {
            // A's segment holds nothing live: C's open may reuse it.
            a.append(vec![(tid(1), RecordKind::Done, Vec::new())], true).unwrap();
        }
        let (b, _) = SteppedJournal::open(fs.storage(), &cfg(), Takeover::Force).unwrap();
        b.close().unwrap();
        let (mut c, rc) = SteppedJournal::open(fs.storage(), &cfg(), Takeover::Force).unwrap();
        assert_eq!(rc.epoch, 3);
        assert_eq!(payloads(&rc.records)[0], b"a-1");
        if at_roll {
            // C finishes A's transaction, then fills its segment: the roll
            // finds A's segment at the front with nothing live.
            c.append(vec![(tid(1), RecordKind::Done, Vec::new())], true).unwrap();
            for n in 0..20u64 {
                c.append(vec![(tid(100 + n), RecordKind::Done, vec![0; 4000])], true).unwrap();
            }
        }
        late_write_harms_no_later_owner(&fs, a, c, &format!("at_roll {at_roll}"));
    }
}

/// Simulator seed 69 (two routers, disk faults), as it happened there: A
/// (epoch 2) forced its way in while the owner of epoch 1 held the lock, was
/// fenced by B (epoch 3) and lived on, frozen. Epoch 1 and B went away, and
/// C opened normally, with the lock: holding it proves that every owner
/// that held it is finished, not that A is. C must not reuse A's segment.
#[test]
fn an_owner_holding_the_lock_never_reuses_the_segment_of_one_that_forced_its_way_in() {
    let (fs, first) = new_journal();
    let (mut a, _) = SteppedJournal::open(fs.storage(), &cfg(), Takeover::Force).unwrap();
    a.append(vec![rec(1, b"a-1")], true).unwrap();
    a.append(vec![(tid(1), RecordKind::Done, Vec::new())], true).unwrap();
    let (b, _) = SteppedJournal::open(fs.storage(), &cfg(), Takeover::Force).unwrap();
    first.close().unwrap();
    b.close().unwrap();
    let (c, rc) = reopen(&fs);
    assert_eq!(rc.epoch, 4);
    late_write_harms_no_later_owner(&fs, a, c, "lock");
}

/// A write whose sync failed reads back from the page cache (Linux marks
/// the pages clean after a writeback error) but never reached the device.
/// A new owner must not recover it: it would act on a record a power loss
/// then takes away (simulator seed 11991: a commit read by the node that
/// took the journal over was reported durable, and lost). Recovery syncs
/// and drops each segment's cached pages before it reads.
#[test]
fn a_record_whose_sync_failed_is_not_recovered_by_the_next_owner() {
    for force in [false, true] {
        let (fs, mut j) = new_journal();
        j.append(vec![rec(1, b"ok")], true).unwrap();
        j.append(vec![rec(2, b"unsynced, then the sync failed")], false).unwrap();
        fs.fail_next_sync();
        assert!(j.append(vec![rec(3, b"failed")], true).is_err());
        let takeover = if force { Takeover::Force } else { Takeover::Normal };
        if !force {
            drop(j);
        }
        let (j2, r) = SteppedJournal::open(fs.storage(), &cfg(), takeover).unwrap();
        assert_eq!(payloads(&r.records), [b"ok".to_vec()], "force {force}: only what the device holds");
        drop(j2);
        // What the next owner recovered is what a power loss leaves.
        fs.crash(&mut |n| n);
        let (_j3, r) = reopen(&fs);
        assert_eq!(payloads(&r.records), [b"ok".to_vec()], "force {force}: the same after a power loss");
    }
}
