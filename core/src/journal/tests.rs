//! End-to-end tests of the journal storage layer: each one fails without the
//! behaviour it names.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use super::*;

fn cfg(dir: &Path) -> JournalConfig {
    JournalConfig { dir: dir.to_path_buf(), segment_bytes: 64 << 10, max_segments: 8 }
}

fn tid(n: u64) -> Tid {
    Tid { node: 1, incarnation: 7, conn: 2, seq: n }
}

fn new_journal(dir: &Path) -> (Journal, Recovered) {
    create(&cfg(dir)).unwrap();
    open(&cfg(dir), Takeover::Normal).unwrap()
}

fn append1(j: &Journal, n: u64, kind: RecordKind, payload: &[u8]) -> Result<(), JournalError> {
    j.append_wait(vec![(tid(n), kind, payload.to_vec())], true)
}

fn payloads(records: &[Record]) -> Vec<Vec<u8>> {
    records.iter().map(|r| r.payload.clone()).collect()
}

fn seg_numbers(dir: &Path) -> Vec<u64> {
    segment::list(&RealFs, dir).unwrap().into_iter().map(|(n, _)| n).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Offsets and ends of the records (Fence included) of one segment.
fn record_spans(dir: &Path, seg: u64) -> Vec<(u64, u64)> {
    let s = scan(dir).unwrap();
    let ends: Vec<_> = s.entries.iter().filter(|e| e.segment == seg).collect();
    ends.iter().map(|e| (e.offset, e.offset + format::record_bytes(e.record.payload.len()) as u64)).collect()
}

#[test]
fn create_open_and_config_errors() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    assert!(matches!(open(&cfg(&dir), Takeover::Normal), Err(JournalError::NotFound { .. })));
    create(&cfg(&dir)).unwrap();
    assert!(matches!(create(&cfg(&dir)), Err(JournalError::Exists { .. })));
    let bad = JournalConfig { segment_bytes: 1000, ..cfg(&dir) };
    assert!(matches!(open(&bad, Takeover::Normal), Err(JournalError::BadConfig(_))));
    let bad = JournalConfig { max_segments: 1, ..cfg(&dir) };
    assert!(matches!(create(&bad), Err(JournalError::BadConfig(_))));
    let (j, r) = open_or_create(&cfg(&d.path().join("other"))).unwrap();
    assert_eq!((r.epoch, r.records.len(), r.segments), (1, 0, 1));
    assert_eq!(j.epoch(), 1);
}

#[test]
fn round_trip_in_order_with_a_new_epoch_and_a_fence_per_open() {
    let d = tempfile::tempdir().unwrap();
    let (j, r) = new_journal(d.path());
    assert_eq!(r.epoch, 1);
    assert!(r.records.is_empty() && r.truncated.is_none());
    j.append_wait(vec![(tid(1), RecordKind::Msg, b"m1".to_vec()), (tid(1), RecordKind::Msg, b"m2".to_vec())], true)
        .unwrap();
    j.append_wait(vec![(tid(1), RecordKind::Vote, b"v".to_vec())], false).unwrap();
    append1(&j, 2, RecordKind::Meta, b"").unwrap();
    append1(&j, 1, RecordKind::Commit, b"c").unwrap();
    drop(j);

    let (j, r) = open(&cfg(d.path()), Takeover::Normal).unwrap();
    assert_eq!(r.epoch, 2);
    assert_eq!(j.epoch(), 2);
    assert_eq!(r.truncated, None);
    assert_eq!(payloads(&r.records), [&b"m1"[..], b"m2", b"v", b"", b"c"]);
    assert!(r.records.iter().all(|x| x.epoch == 1));
    assert_eq!(r.records[2].kind, RecordKind::Vote);
    assert_eq!(r.records[2].tid, tid(1));
    assert_eq!(r.records[3].tid, tid(2));
    append1(&j, 1, RecordKind::Done, b"d").unwrap();
    drop(j);

    let (_j, r) = open(&cfg(d.path()), Takeover::Normal).unwrap();
    assert_eq!(r.epoch, 3);
    assert_eq!(payloads(&r.records), [&b"m1"[..], b"m2", b"v", b"", b"c", b"d"]);
    assert_eq!(r.records[5].epoch, 2);

    // Fences: one per open, each sealing the previous epoch at the end of its data.
    let s = scan(d.path()).unwrap();
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.epoch, Some(3));
    let fences: Vec<_> = s.entries.iter().filter(|e| e.record.kind == RecordKind::Fence).collect();
    assert_eq!(fences.len(), 3);
    let seals: Vec<_> = fences.iter().map(|e| Seal::decode(&e.record.payload).unwrap()).collect();
    assert_eq!(seals[0], Seal { epoch: 0, segment: 0, offset: 0 });
    let seg1_end = s.segments[0].data_end;
    assert_eq!(seals[1], Seal { epoch: 1, segment: 1, offset: seg1_end });
    assert_eq!((seals[2].epoch, seals[2].segment), (2, 2));
    assert_eq!(fences.iter().map(|e| e.record.epoch).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(fences.iter().all(|e| e.offset == format::HEADER_BYTES));
}

#[derive(Clone, Copy, Debug)]
enum Tail {
    Zeros,
    Garbage,
    Short,
}

/// A copy of journal `dir` whose segment `seg` ends at `cut` as `tail`
/// says: `zeros` zero bytes from `cut` (then `garbage` over their start),
/// or the file cut short there. Returns the copy and its segment's path.
fn torn_copy(
    dir: &Path,
    seg: &Path,
    cut: u64,
    tail: Tail,
    zeros: usize,
    garbage: &[u8],
) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    copy_dir(dir, t.path());
    let tseg = t.path().join(seg.file_name().unwrap());
    let f = fs::OpenOptions::new().write(true).open(&tseg).unwrap();
    match tail {
        Tail::Zeros => f.write_all_at(&vec![0u8; zeros], cut).unwrap(),
        Tail::Garbage => {
            f.write_all_at(&vec![0u8; zeros], cut).unwrap();
            f.write_all_at(garbage, cut).unwrap();
        }
        Tail::Short => f.set_len(cut).unwrap(),
    }
    (t, tseg)
}

#[test]
fn torn_write_sweep_every_offset_of_the_last_records() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    let sizes = [30usize, 10, 20, 40];
    for (i, n) in sizes.iter().enumerate() {
        append1(&j, i as u64, RecordKind::Msg, &vec![i as u8 + 1; *n]).unwrap();
    }
    drop(j);
    let seg = segment::path(d.path(), 1);
    // Fence + 4 records; sweep the last three records and a little past them.
    let spans = record_spans(d.path(), 1);
    assert_eq!(spans.len(), 5);
    let (from, to) = (spans[2].0, spans[4].1 + 10);
    let all: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| vec![i as u8 + 1; *n]).collect();
    let mut checked = 0;
    for cut in from..=to {
        for tail in [Tail::Zeros, Tail::Garbage, Tail::Short] {
            let garbage: Vec<u8> = (0..64u64).map(|i| (i * 37 + cut) as u8 | 1).collect();
            let (t, tseg) = torn_copy(d.path(), &seg, cut, tail, 512, &garbage);
            // Records wholly before the cut survive; nothing after does.
            let kept: Vec<_> = spans[1..].iter().take_while(|(_, end)| *end <= cut).collect();
            let boundary = kept.last().map_or(spans[0].1, |(_, end)| *end);
            let (jt, r) = open(&cfg(t.path()), Takeover::Normal).unwrap_or_else(|e| panic!("cut {cut} {tail:?}: {e}"));
            assert_eq!(payloads(&r.records), all[..kept.len()], "cut {cut} {tail:?}");
            // Cut inside a record: torn. Cut at a boundary or after the last
            // record (where the writer's zeros are): a clean end, unless
            // garbage follows.
            let torn = match tail {
                Tail::Zeros | Tail::Short => cut > boundary && kept.len() < sizes.len(),
                // Garbage past the zero word that ends the data is never read.
                Tail::Garbage => kept.len() < sizes.len() || cut < boundary + format::WORD_BYTES as u64,
            };
            let expect = if torn { Some((tseg.clone(), boundary)) } else { None };
            assert_eq!(r.truncated, expect, "cut {cut} {tail:?}");
            drop(jt);
            // The torn bytes are gone from the file (zeroed), not merely sealed off.
            let problems = scan(t.path()).unwrap().problems;
            assert!(problems.is_empty(), "cut {cut} {tail:?}: {problems:?}");
            // The repair is durable and complete: a second recovery finds the
            // same records and nothing to cut.
            let (_jt, r2) = open(&cfg(t.path()), Takeover::Normal).unwrap();
            assert_eq!(payloads(&r2.records), all[..kept.len()], "cut {cut} {tail:?} (second open)");
            assert_eq!(r2.truncated, None, "cut {cut} {tail:?} (second open)");
            checked += 1;
        }
    }
    assert!(checked > 300);
}

#[test]
fn bit_flips_elsewhere_are_corruption_and_in_the_last_record_a_torn_tail() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    for i in 0..5 {
        append1(&j, i, RecordKind::Msg, format!("first-{i}").as_bytes()).unwrap();
    }
    drop(j);
    let (j, _) = open(&cfg(d.path()), Takeover::Normal).unwrap();
    for i in 0..3 {
        append1(&j, 10 + i, RecordKind::Msg, format!("second-{i}").as_bytes()).unwrap();
    }
    drop(j);
    let seg1 = segment::path(d.path(), 1);
    let seg2 = segment::path(d.path(), 2);
    let spans1 = record_spans(d.path(), 1);
    let spans2 = record_spans(d.path(), 2);
    let flip = |path: &Path, at: u64| {
        let t = tempfile::tempdir().unwrap();
        copy_dir(d.path(), t.path());
        let p = t.path().join(path.file_name().unwrap());
        let mut b = fs::read(&p).unwrap();
        b[at as usize] ^= 0x10;
        fs::write(&p, b).unwrap();
        (t, p)
    };

    // Every byte of a record in a segment that is not the last.
    let (start, end) = spans1[3];
    for at in start..end {
        let (t, p) = flip(&seg1, at);
        match open(&cfg(t.path()), Takeover::Normal) {
            Err(JournalError::Corrupt { file, offset, why }) => {
                assert_eq!((file, offset), (p.clone(), start), "flip at {at}: {why}");
                let msg = JournalError::Corrupt { file: p.clone(), offset, why }.to_string();
                assert!(msg.contains("seg-0000000000000001.rtrj") && msg.contains(&start.to_string()), "{msg}");
            }
            other => panic!("flip at {at}: {:?}", other.map(|(_, r)| r)),
        }
        assert!(scan(t.path()).unwrap().is_corrupt());
    }
    // The header of a segment that is not the last.
    let (t, p) = flip(&seg1, 20);
    assert!(matches!(open(&cfg(t.path()), Takeover::Normal),
        Err(JournalError::Corrupt { file, offset: 0, .. }) if file == p));

    // The last record of the last segment: a torn tail, cut off and reported.
    let (start, end) = *spans2.last().unwrap();
    for at in [start, start + 5, start + 12, end - 1] {
        let (t, p) = flip(&seg2, at);
        let (_j, r) = open(&cfg(t.path()), Takeover::Normal).unwrap();
        assert_eq!(r.truncated, Some((p, start)));
        assert_eq!(r.records.len(), 5 + 2);
        assert_eq!(r.records.last().unwrap().payload, b"second-1");
    }
}

#[test]
fn a_stale_owner_is_fenced_and_its_late_writes_are_ignored() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = new_journal(d.path());
    // A has not noticed the fence when it writes below (its idle check
    // would otherwise find it first if the takeover took over a second).
    a.no_idle_check();
    append1(&a, 1, RecordKind::Msg, b"a-before").unwrap();
    // The lock is held: a normal open fails, a forced one proceeds.
    assert!(matches!(open(&cfg(d.path()), Takeover::Normal), Err(JournalError::Locked { .. })));
    let (b, rb) = open(&cfg(d.path()), Takeover::Force).unwrap();
    assert_eq!(rb.epoch, 2);
    assert_eq!(payloads(&rb.records), [b"a-before".to_vec()]);

    // A's next appends, synced or not, are refused and never acknowledged.
    let acked = Arc::new(Mutex::new(Vec::new()));
    for (n, sync) in [(2, true), (3, false)] {
        let acked = acked.clone();
        let (tx, rx) = crossbeam_channel::bounded(1);
        a.append(
            vec![(tid(n), RecordKind::Msg, format!("a-late-{n}").into_bytes())],
            sync,
            Box::new(move |r| {
                if r.is_ok() {
                    acked.lock().unwrap().push(n);
                }
                let _ = tx.send(r);
            }),
        );
        match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
            Err(JournalError::Fenced { mine: 1, current: 2 }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(acked.lock().unwrap().is_empty());
    assert!(matches!(append1(&a, 4, RecordKind::Msg, b"x"), Err(JournalError::Fenced { .. })));
    append1(&b, 5, RecordKind::Msg, b"b-1").unwrap();

    // The first late write did reach the disk (past the seal) and shows as stale.
    let s = scan(d.path()).unwrap();
    let late: Vec<_> = s.entries.iter().filter(|e| e.record.payload == b"a-late-2").collect();
    assert_eq!(late.len(), 1);
    assert!(late[0].stale);

    drop(a);
    drop(b);
    // The fenced owner released its lock; recovery sees none of its late writes.
    let (_c, rc) = open(&cfg(d.path()), Takeover::Normal).unwrap();
    assert_eq!(rc.epoch, 3);
    assert_eq!(payloads(&rc.records), [b"a-before".to_vec(), b"b-1".to_vec()]);
}

/// A loss hook that reports on a channel.
fn loss_channel(j: &Journal) -> crossbeam_channel::Receiver<JournalError> {
    let (tx, rx) = crossbeam_channel::unbounded();
    j.on_lost(Box::new(move |e| {
        let _ = tx.send(e);
    }));
    rx
}

#[test]
fn an_idle_owner_learns_of_its_fence_without_writing_and_reports_it_once() {
    // A node frozen, taken over, then woken may have nothing to write: it
    // must still learn that it lost its journal, or it goes on holding its
    // links and connections for ever.
    let d = tempfile::tempdir().unwrap();
    let (a, ra) = new_journal(d.path());
    let lost = loss_channel(&a);
    append1(&a, 1, RecordKind::Msg, b"a").unwrap();
    let (b, rb) = open(&cfg(d.path()), Takeover::Force).unwrap();
    // No append from A: its writer finds the fence by itself (bounded wait).
    match lost.recv_timeout(Duration::from_secs(20)) {
        Ok(JournalError::Fenced { mine, current }) => assert_eq!((mine, current), (ra.epoch, rb.epoch)),
        other => panic!("A was not told of its fence: {other:?}"),
    }
    // It acknowledges nothing more, released its files, and says so once.
    assert!(matches!(append1(&a, 2, RecordKind::Msg, b"late"), Err(JournalError::Fenced { .. })));
    assert!(lost.try_recv().is_err(), "told twice");
    append1(&b, 3, RecordKind::Msg, b"b").unwrap();
    // A hook set after the loss hears of it at once.
    assert!(matches!(loss_channel(&a).try_recv(), Ok(JournalError::Fenced { .. })));
    // The new owner is never told anything.
    let b_lost = loss_channel(&b);
    append1(&b, 4, RecordKind::Msg, b"b2").unwrap();
    assert!(b_lost.try_recv().is_err());
}

#[test]
fn an_owner_that_forced_its_way_in_takes_the_lock_once_it_is_free() {
    // A standby takes over the journal of a frozen node, which still holds
    // the lock. When that node lets go (it noticed the fence and exited),
    // the new owner takes the lock: a restart of the old node must fail to
    // lock the journal, not fence the new owner in the middle of its work.
    let d = tempfile::tempdir().unwrap();
    let (a, _) = new_journal(d.path());
    let (b, _) = open(&cfg(d.path()), Takeover::Force).unwrap();
    drop(a);
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        match owner::lock(&RealFs, d.path(), Takeover::Normal) {
            Err(JournalError::Locked { .. }) => break,
            Ok(free) => drop(free),
            Err(e) => panic!("{e}"),
        }
        assert!(Instant::now() < until, "the new owner never took the free lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(matches!(open(&cfg(d.path()), Takeover::Normal), Err(JournalError::Locked { .. })));
    append1(&b, 1, RecordKind::Msg, b"b still owns it").unwrap();
}

#[test]
fn a_failed_sync_or_write_is_reported_to_the_loss_hook_before_the_completions() {
    for fail_sync in [true, false] {
        let d = tempfile::tempdir().unwrap();
        let (j, _) = new_journal(d.path());
        let lost = loss_channel(&j);
        if fail_sync {
            j.fail_next_sync();
        } else {
            j.fail_next_write();
        }
        // The completion looks for the hook's report: it ran first.
        let (tx, rx) = crossbeam_channel::bounded(1);
        let seen = lost.clone();
        j.append(
            vec![(tid(1), RecordKind::Msg, b"x".to_vec())],
            true,
            Box::new(move |r| {
                let _ = tx.send((r, seen.try_recv()));
            }),
        );
        match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
            (Err(JournalError::Io { .. }), Ok(JournalError::Io { source, .. })) => {
                assert!(source.to_string().contains("injected"), "{source}");
            }
            other => panic!("fail_sync {fail_sync}: {other:?}"),
        }
        assert!(matches!(append1(&j, 2, RecordKind::Msg, b"y"), Err(JournalError::Poisoned)));
        assert!(lost.try_recv().is_err(), "told twice");
    }
}

#[test]
fn two_owners_racing_never_both_win() {
    let d = tempfile::tempdir().unwrap();
    create(&cfg(d.path())).unwrap();
    for round in 0..20 {
        let barrier = Arc::new(Barrier::new(2));
        let results: Vec<_> = (0..2)
            .map(|_| {
                let barrier = barrier.clone();
                let c = cfg(d.path());
                std::thread::spawn(move || {
                    barrier.wait();
                    open(&c, Takeover::Normal)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        let locked = results.iter().filter(|r| matches!(r, Err(JournalError::Locked { .. }))).count();
        assert_eq!((won, locked), (1, 1), "round {round}");
    }
}

/// A journal of three 64 KiB segments in `dir`, filled with new
/// transactions (a `Msg` each) until it refuses one, then its reserve
/// given to the first of them to the last byte: every segment is held by a
/// transaction waiting for its `Done`. With the tids taken.
fn full_to_its_last_byte(dir: &Path) -> (Journal, Vec<u64>) {
    let c = JournalConfig { dir: dir.to_path_buf(), segment_bytes: 64 << 10, max_segments: 3 };
    create(&c).unwrap();
    let (j, _) = open(&c, Takeover::Normal).unwrap();
    let mut accepted = Vec::new();
    loop {
        let n = accepted.len() as u64 + 100;
        match j.append_wait(vec![(tid(n), RecordKind::Msg, vec![7u8; 1000])], true) {
            Ok(()) => accepted.push(n),
            Err(JournalError::Full) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(accepted.len() < 1000, "never full");
    }
    // The reserve goes to transactions already there, to its last byte.
    let first = accepted[0];
    while j.append_wait(vec![(tid(first), RecordKind::Meta, vec![1u8; 1000])], true).is_ok() {}
    assert_eq!(j.stats().segments, 3);
    (j, accepted)
}

/// A journal full to the last byte of its reserve (every segment held by
/// a transaction waiting for its `Done`) still takes `Done` records, in one
/// segment past the cap; they free the old segments, and new transactions
/// are taken again, with the journal back within its cap once the old
/// segments are gone. Refused, the `Done`s were lost and the journal
/// stayed full for good (simulator `--shadow --seed 784 --routers 2`).
#[test]
fn a_journal_full_to_its_reserve_still_takes_done_records_and_recovers() {
    let d = tempfile::tempdir().unwrap();
    let (j, accepted) = full_to_its_last_byte(d.path());
    // Their `Done`s are still taken: one segment past the cap.
    for n in &accepted {
        j.append_wait(vec![(tid(*n), RecordKind::Done, Vec::new())], false).unwrap();
    }
    assert_eq!(j.stats().segments, 4, "one past the cap");
    // The old segments are free: new work is taken again, and the journal
    // is back within its cap once the journal moved past them.
    let mut more = 0u64;
    while j.stats().segments > 3 || more < 200 {
        j.append_wait(vec![(tid(5000 + more), RecordKind::Msg, vec![7u8; 1000])], true).unwrap();
        j.append_wait(vec![(tid(5000 + more), RecordKind::Done, Vec::new())], false).unwrap();
        more += 1;
        assert!(more < 1000, "never back within the cap: {:?}", j.stats());
    }
    assert!(j.stats().segments <= 3);
}

/// `Carried` records restate commits kept answerable at the head: like
/// `Done`s they free the segments behind, so a journal full to its last
/// byte takes them, one segment past the cap and no more (each pins the
/// space it takes). Refused, commits kept answerable for ever (their
/// router restarted) could never be carried and the journal stayed full
/// for good (simulator `--shadow --seed 339 --routers 2`).
#[test]
fn a_journal_full_to_its_last_byte_still_takes_carried_records_one_segment_past_the_cap() {
    let d = tempfile::tempdir().unwrap();
    let (j, accepted) = full_to_its_last_byte(d.path());
    // The newest transaction carried: taken past the cap (the journal has
    // no segment left). Carried again and again, the front pinned by the
    // others: one segment past the cap, and no more.
    let last = *accepted.last().unwrap();
    j.append_wait(vec![(tid(last), RecordKind::Carried, vec![1u8; 1000])], false).unwrap();
    assert_eq!(j.stats().segments, 4, "one past the cap");
    let mut refused = false;
    for _ in 0..200 {
        if let Err(e) = j.append_wait(vec![(tid(last), RecordKind::Carried, vec![1u8; 1000])], false) {
            assert!(matches!(e, JournalError::Full), "{e}");
            refused = true;
            break;
        }
    }
    assert!(refused, "a carry that frees nothing is refused at last: {:?}", j.stats());
    assert_eq!(j.stats().segments, 4, "one past the cap");
}

#[test]
fn journal_full_refuses_new_transactions_keeps_old_ones_and_recycles() {
    let d = tempfile::tempdir().unwrap();
    let c = JournalConfig { dir: d.path().to_path_buf(), segment_bytes: 64 << 10, max_segments: 3 };
    create(&c).unwrap();
    let (j, _) = open(&c, Takeover::Normal).unwrap();
    let payload = |n: u64| {
        let mut p = vec![0u8; 1000];
        p[..8].copy_from_slice(&n.to_le_bytes());
        p
    };
    // New transactions until the journal refuses one.
    let mut accepted = Vec::new();
    let full_at = loop {
        let n = accepted.len() as u64 + 100;
        match j.append_wait(vec![(tid(n), RecordKind::Msg, payload(n))], true) {
            Ok(()) => accepted.push(n),
            Err(JournalError::Full) => break n,
            Err(e) => panic!("{e}"),
        }
        assert!(accepted.len() < 1000, "never full");
    };
    // Two segments filled; the third is the reserve.
    assert_eq!(j.stats().segments, 2);
    assert!(accepted.len() > 100);
    assert!(matches!(
        j.append_wait(vec![(tid(full_at), RecordKind::Msg, payload(full_at))], true),
        Err(JournalError::Full)
    ));
    // A transaction already in the journal may use the reserve.
    let first = accepted[0];
    j.append_wait(vec![(tid(first), RecordKind::Vote, vec![2u8; 1000])], true).unwrap();
    assert_eq!(j.stats().segments, 3);
    // ...until that is gone too.
    let mut extra = 0;
    while j.append_wait(vec![(tid(first), RecordKind::Meta, vec![1u8; 1000])], true).is_ok() {
        extra += 1;
        assert!(extra < 100);
    }
    assert!(matches!(
        j.append_wait(vec![(tid(first), RecordKind::Meta, vec![1u8; 1000])], true),
        Err(JournalError::Full)
    ));
    assert!(j.stats().bytes_on_disk <= 3 * (64 << 10));
    drop(j);

    // Nothing already written was harmed.
    let (j, r) = open(&c, Takeover::Normal).unwrap();
    let msgs: Vec<u64> = r.records.iter().filter(|x| x.kind == RecordKind::Msg).map(|x| x.tid.seq).collect();
    assert_eq!(msgs, accepted);
    assert_eq!(r.records.len(), accepted.len() + 1 + extra);
    let before = seg_numbers(d.path());
    assert_eq!(before, [1, 2, 3, 4]);
    use std::os::unix::fs::MetadataExt;
    let inodes: Vec<u64> = before.iter().map(|n| fs::metadata(segment::path(d.path(), *n)).unwrap().ino()).collect();

    // Done for every transaction frees the old segments; new transactions
    // are accepted again and the freed files are reused.
    for n in &accepted {
        j.append_wait(vec![(tid(*n), RecordKind::Done, Vec::new())], false).unwrap();
    }
    j.append_wait(vec![], true).unwrap();
    let mut later = Vec::new();
    for k in 0..100u64 {
        let n = 10_000 + k;
        j.append_wait(vec![(tid(n), RecordKind::Msg, payload(n))], true)
            .unwrap_or_else(|e| panic!("new transaction {k} after reclaim: {e}"));
        later.push(n);
    }
    let st = j.stats();
    assert!(st.recycled >= 1, "{st:?}");
    assert!(st.segments <= 3, "{st:?}");
    let after = seg_numbers(d.path());
    assert!(!after.contains(&1) && !after.contains(&2), "{after:?}");
    let reused = after
        .iter()
        .filter(|n| **n > 4)
        .any(|n| inodes.contains(&fs::metadata(segment::path(d.path(), *n)).unwrap().ino()));
    assert!(reused, "no segment file was recycled");
    drop(j);

    // The recycled files' old contents never parse in their new lives.
    let (_j, r) = open(&c, Takeover::Normal).unwrap();
    assert_eq!(r.truncated, None);
    let msgs: Vec<u64> = r.records.iter().filter(|x| x.kind == RecordKind::Msg).map(|x| x.tid.seq).collect();
    assert_eq!(msgs, later);
    assert!(scan(d.path()).unwrap().problems.is_empty());
}

#[test]
fn the_first_failed_sync_ends_ownership_for_good() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    append1(&j, 1, RecordKind::Msg, b"ok").unwrap();
    j.fail_next_sync();
    match append1(&j, 2, RecordKind::Msg, b"failed") {
        Err(JournalError::Io { path, source }) => {
            assert_eq!(path, segment::path(d.path(), 1));
            assert!(source.to_string().contains("injected"));
        }
        other => panic!("{other:?}"),
    }
    // Never retried: every later call fails, even one that would succeed.
    assert!(matches!(append1(&j, 3, RecordKind::Msg, b"x"), Err(JournalError::Poisoned)));
    assert!(matches!(j.append_wait(vec![], true), Err(JournalError::Poisoned)));
    // Ownership is released: a new owner opens normally while the old handle lives.
    let (j2, r) = open(&cfg(d.path()), Takeover::Normal).unwrap();
    assert_eq!(r.epoch, 2);
    assert_eq!(r.records[0].payload, b"ok");
    append1(&j2, 4, RecordKind::Msg, b"new owner").unwrap();
    assert!(matches!(append1(&j, 5, RecordKind::Msg, b"x"), Err(JournalError::Poisoned)));
}

#[test]
fn a_failed_write_ends_ownership_too() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    j.fail_next_write();
    assert!(matches!(j.append_wait(vec![(tid(1), RecordKind::Msg, vec![1])], false), Err(JournalError::Io { .. })));
    assert!(matches!(append1(&j, 2, RecordKind::Msg, b"x"), Err(JournalError::Poisoned)));
    drop(j);
    let (_j, r) = open(&cfg(d.path()), Takeover::Normal).unwrap();
    assert!(r.records.is_empty());
}

#[test]
fn group_commit_shares_syncs_between_concurrent_writers() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    let threads = 8u64;
    let per = 40u64;
    std::thread::scope(|s| {
        for t in 0..threads {
            let j = j.clone();
            s.spawn(move || {
                for i in 0..per {
                    let n = t * 1000 + i;
                    // Large enough that segments fill up inside batches.
                    let mut p = vec![t as u8; 700];
                    p[..8].copy_from_slice(&n.to_le_bytes());
                    j.append_wait(vec![(tid(n), RecordKind::Commit, p)], true).unwrap();
                }
            });
        }
    });
    let st = j.stats();
    assert_eq!(st.records_written, threads * per);
    assert!(st.syncs < st.records_written, "{st:?}");
    assert!(st.batches < st.records_written, "{st:?}");
    assert!(st.segments >= 4, "{st:?}");
    drop(j);
    let (_j, r) = open(&cfg(d.path()), Takeover::Normal).unwrap();
    assert_eq!(r.records.len() as u64, threads * per);
    for x in &r.records {
        assert_eq!(x.payload[..8], x.tid.seq.to_le_bytes());
        assert!(x.payload[8..].iter().all(|b| u64::from(*b) == x.tid.seq / 1000));
    }
    for t in 0..threads {
        let mine: Vec<u64> = r.records.iter().map(|x| x.tid.seq).filter(|n| n / 1000 == t).collect();
        assert_eq!(mine, (0..per).map(|i| t * 1000 + i).collect::<Vec<_>>());
    }
}

#[test]
fn completions_run_in_order_and_an_empty_synced_append_flushes() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    let order = Arc::new(Mutex::new(Vec::new()));
    for n in 0..20u64 {
        let order = order.clone();
        j.append(
            vec![(tid(n), RecordKind::Msg, vec![n as u8])],
            n % 3 == 0,
            Box::new(move |r| {
                r.unwrap();
                order.lock().unwrap().push(n);
            }),
        );
    }
    let syncs = j.stats().syncs;
    j.append_wait(vec![], true).unwrap();
    assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
    assert!(j.stats().syncs >= syncs);
}

#[test]
fn oversized_appends_and_fence_records_are_refused_without_harm() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    let too_big = vec![0u8; 64 << 10];
    assert!(matches!(
        j.append_wait(vec![(tid(1), RecordKind::Msg, too_big)], true),
        Err(JournalError::TooLarge { len }) if len > 64 << 10
    ));
    assert!(matches!(
        j.append_wait(vec![(tid(1), RecordKind::Fence, vec![0; 24])], true),
        Err(JournalError::BadConfig(_))
    ));
    // The largest append that fits goes through, in a segment of its own.
    let max = cfg(d.path()).max_append_bytes() as usize - format::RECORD_OVERHEAD;
    append1(&j, 2, RecordKind::Msg, &vec![7u8; max]).unwrap();
    append1(&j, 3, RecordKind::Msg, b"after").unwrap();
    drop(j);
    let (_j, r) = open(&cfg(d.path()), Takeover::Normal).unwrap();
    assert_eq!(r.records.len(), 2);
    assert_eq!(r.records[0].payload.len(), max);
}

#[test]
fn an_unfinished_last_segment_is_removed() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    append1(&j, 1, RecordKind::Msg, b"kept").unwrap();
    drop(j);
    // A crash while creating segment 2: blank file.
    let p = segment::path(d.path(), 2);
    fs::write(&p, vec![0u8; 8192]).unwrap();
    let (_j, r) = open(&cfg(d.path()), Takeover::Normal).unwrap();
    assert_eq!(r.truncated, Some((p, 0)));
    assert_eq!(payloads(&r.records), [b"kept".to_vec()]);
    // The new owner's segment got a number never used before.
    assert_eq!(seg_numbers(d.path()), [1, 3]);
}

#[test]
fn a_damaged_or_missing_epoch_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    drop(new_journal(d.path()));
    let e = owner::epoch_path(d.path());
    let good = fs::read(&e).unwrap();
    fs::write(&e, b"garbage").unwrap();
    assert!(matches!(open(&cfg(d.path()), Takeover::Normal), Err(JournalError::Corrupt { file, .. }) if file == e));
    fs::remove_file(&e).unwrap();
    assert!(matches!(open(&cfg(d.path()), Takeover::Normal), Err(JournalError::Corrupt { file, .. }) if file == e));
    fs::write(&e, good).unwrap();
    open(&cfg(d.path()), Takeover::Normal).unwrap();
}

#[test]
fn dropping_the_last_handle_inside_a_completion_does_not_deadlock() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    let j2 = j.clone();
    j.append(
        vec![(tid(1), RecordKind::Msg, b"x".to_vec())],
        true,
        Box::new(move |r| {
            r.unwrap();
            drop(j2);
        }),
    );
    drop(j);
    // The writer stops by itself and releases the lock.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open(&cfg(d.path()), Takeover::Normal) {
            Ok((_, r)) => {
                assert_eq!(payloads(&r.records), [b"x".to_vec()]);
                break;
            }
            Err(JournalError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn scan_is_read_only() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    append1(&j, 1, RecordKind::Msg, b"x").unwrap();
    let snapshot = |p: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut v: Vec<_> = fs::read_dir(p)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path(), fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot(d.path());
    let s = scan(d.path()).unwrap();
    assert_eq!(s.entries.len(), 2);
    assert!(s.is_clean());
    assert_eq!(snapshot(d.path()), before);
    assert!(matches!(scan(&d.path().join("none")), Err(JournalError::NotFound { .. })));
}

#[test]
fn reopening_many_times_never_keeps_more_segments_than_the_cap() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    let c = JournalConfig { max_segments: 3, ..cfg(&dir) };
    create(&c).unwrap();
    // Each open adds the new owner's fence segment; with nothing live, the
    // oldest go so that the cap holds.
    for _ in 0..10 {
        drop(open(&c, Takeover::Normal).unwrap());
        let n = seg_numbers(&dir).len();
        assert!(n <= 3, "{n} segments after reopening: {:?}", seg_numbers(&dir));
    }
    // A live transaction pins its segment (and, for now, those after it:
    // only a prefix of the journal is ever removed, so that no seal is lost).
    {
        let (j, _) = open(&c, Takeover::Normal).unwrap();
        append1(&j, 1, RecordKind::Commit, b"keep").unwrap();
    }
    for _ in 0..3 {
        let (j, rec) = open(&c, Takeover::Normal).unwrap();
        assert!(payloads(&rec.records).contains(&b"keep".to_vec()), "the live transaction survives");
        drop(j);
    }
    // Once it is done, the next open brings the journal back under the cap.
    {
        let (j, _) = open(&c, Takeover::Normal).unwrap();
        append1(&j, 1, RecordKind::Done, b"").unwrap();
    }
    drop(open(&c, Takeover::Normal).unwrap());
    assert!(seg_numbers(&dir).len() <= 3, "{:?}", seg_numbers(&dir));
}

/// A journal whose last segment holds committed work the way the node
/// writes it: after the Fence, transactions 0..10 each with a Msg (200-byte
/// payload) and a Commit, none Done: about 9 KB of records. Returns the
/// segment's record spans (Fence first) and the payloads in order.
fn committed_work_in_the_last_segment(dir: &Path) -> (Vec<(u64, u64)>, Vec<Vec<u8>>) {
    let (j, _) = new_journal(dir);
    let mut all = Vec::new();
    for i in 0..10u64 {
        let m = vec![i as u8 + 1; 200];
        let c = (i as u32).to_le_bytes().to_vec();
        j.append_wait(vec![(tid(i), RecordKind::Msg, m.clone())], false).unwrap();
        j.append_wait(vec![(tid(i), RecordKind::Commit, c.clone())], true).unwrap();
        all.push(m);
        all.push(c);
    }
    drop(j);
    let spans = record_spans(dir, 1);
    assert_eq!(spans.len(), 21);
    assert_eq!(seg_numbers(dir), [1]);
    (spans, all)
}

fn flipped_copy(from: &Path, seg: u64, at: u64) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    copy_dir(from, t.path());
    let p = segment::path(t.path(), seg);
    let mut b = fs::read(&p).unwrap();
    b[at as usize] ^= 0x04;
    fs::write(&p, b).unwrap();
    (t, p)
}

#[test]
fn a_bad_byte_before_valid_records_in_the_last_segment_is_corruption_not_a_torn_tail() {
    let d = tempfile::tempdir().unwrap();
    let (spans, _) = committed_work_in_the_last_segment(d.path());
    let last = spans.len() - 1;
    let overhead = format::RECORD_OVERHEAD as u64;
    // (record index, offset inside it): the first record's header (the
    // Fence's length word), the first transaction record's checksum, a
    // payload in the middle, the tid of the record just before the last one.
    let cases = [(0, 2), (1, 5), (9, overhead + 100), (last - 1, 20)];
    for (i, inside) in cases {
        let (start, _) = spans[i];
        let (t, p) = flipped_copy(d.path(), 1, start + inside);
        match open(&cfg(t.path()), Takeover::Normal) {
            Err(JournalError::Corrupt { file, offset, why }) => {
                assert_eq!((&file, offset), (&p, start), "record {i}: {why}");
                assert!(why.contains("not a torn tail"), "record {i}: {why}");
            }
            other => panic!("record {i}: open gave {:?}", other.map(|(_, r)| r.truncated)),
        }
        // Nothing was cut: the committed records after the bad one are still there.
        assert_eq!(record_spans(t.path(), 1).last(), spans.last(), "record {i}");
        let sc = scan(t.path()).unwrap();
        assert!(sc.is_corrupt(), "record {i}");
        // The scan says what follows the damage.
        let after = &spans[i + 1..];
        let p0 = &sc.problems[0];
        assert_eq!((p0.kind, p0.offset), (ProblemKind::Corrupt, start), "record {i}");
        assert_eq!(p0.resumes_at, Some(after[0].0), "record {i}");
        assert_eq!(p0.records_after, after.len(), "record {i}");
        assert_eq!(p0.bytes_after, after.last().unwrap().1 - after[0].0, "record {i}");
        // Forcing does not get past it either (the takeover path).
        assert!(matches!(open(&cfg(t.path()), Takeover::Force), Err(JournalError::Corrupt { .. })), "record {i}");
    }
}

#[test]
fn salvage_drops_the_bad_record_keeps_the_valid_ones_after_it_and_the_journal_opens() {
    let d = tempfile::tempdir().unwrap();
    let (spans, all) = committed_work_in_the_last_segment(d.path());
    let last = spans.len() - 1;
    for (i, inside) in [(0, 2), (1, 5), (9, format::RECORD_OVERHEAD as u64 + 100), (last - 1, 20)] {
        let (start, end) = spans[i];
        let (t, p) = flipped_copy(d.path(), 1, start + inside);
        let (j, r) = salvage(&cfg(t.path())).unwrap_or_else(|e| panic!("record {i}: {e}"));
        assert_eq!(r.epoch, 2);
        // Exactly the damaged record is gone (index 0 is the Fence, not returned).
        let mut want = all.clone();
        if i > 0 {
            want.remove(i - 1);
        }
        assert_eq!(payloads(&r.records), want, "record {i}");
        // The last committed transaction, after the bad spot, is kept.
        assert_eq!(r.records.last().map(|x| (x.tid, x.kind)), Some((tid(9), RecordKind::Commit)), "record {i}");
        let cut =
            Cut { kind: CutKind::Salvaged, file: p.clone(), offset: start, bytes: end - start, why: String::new() };
        assert_eq!(r.cuts.len(), 1, "record {i}: {:?}", r.cuts);
        assert_eq!(Cut { why: String::new(), ..r.cuts[0].clone() }, cut, "record {i}");
        assert!(r.cuts[0].to_string().contains(&format!("at offset {start}")), "{}", r.cuts[0]);
        assert_eq!(r.truncated, None);
        // The new owner works on top of it.
        append1(&j, 50, RecordKind::Msg, b"after salvage").unwrap();
        drop(j);
        // The damaged file is kept aside, under a name the journal ignores.
        let kept = t.path().join(format!("{}.damaged-2", p.file_name().unwrap().to_string_lossy()));
        assert_eq!(
            fs::read(&kept).unwrap(),
            fs::read(d.path().join(p.file_name().unwrap()))
                .map(|mut b| {
                    b[(start + inside) as usize] ^= 0x04;
                    b
                })
                .unwrap()
        );
        // From now on the journal opens normally, with nothing to cut.
        let sc = scan(t.path()).unwrap();
        assert!(sc.is_clean(), "record {i}: {:?}", sc.problems);
        let (_j, r2) = open(&cfg(t.path()), Takeover::Normal).unwrap();
        want.push(b"after salvage".to_vec());
        assert_eq!(payloads(&r2.records), want, "record {i}");
        assert!(r2.cuts.is_empty(), "record {i}: {:?}", r2.cuts);
    }
}

#[test]
fn salvage_handles_earlier_segments_refuses_damaged_headers_and_owned_journals() {
    let d = tempfile::tempdir().unwrap();
    let (spans, all) = committed_work_in_the_last_segment(d.path());
    // A second open: segment 1 is no longer the last.
    drop(open(&cfg(d.path()), Takeover::Normal).unwrap());
    let (t, p) = flipped_copy(d.path(), 1, spans[5].0 + 30);
    assert!(
        matches!(open(&cfg(t.path()), Takeover::Normal), Err(JournalError::Corrupt { offset, .. }) if offset == spans[5].0)
    );
    let (j, r) = salvage(&cfg(t.path())).unwrap();
    let mut want = all.clone();
    want.remove(4);
    assert_eq!(payloads(&r.records), want);
    assert_eq!((r.cuts.len(), &r.cuts[0].file, r.cuts[0].offset), (1, &p, spans[5].0));
    // Salvage runs as the owner: refused while another holds the journal.
    assert!(matches!(salvage(&cfg(t.path())), Err(JournalError::Locked { .. })));
    drop(j);
    // On a journal that opens, salvage is an open.
    let (_j, r) = salvage(&cfg(t.path())).unwrap();
    assert!(r.cuts.is_empty());
    assert_eq!(payloads(&r.records), want);

    // A damaged header of a segment that is not the last: refused, nothing changed.
    let (t, _) = flipped_copy(d.path(), 1, 20);
    let before = fs::read(segment::path(t.path(), 1)).unwrap();
    match salvage(&cfg(t.path())) {
        Err(JournalError::Corrupt { offset: 0, why, .. }) => assert!(why.contains("header"), "{why}"),
        other => panic!("{:?}", other.map(|(_, r)| r.cuts)),
    }
    assert_eq!(fs::read(segment::path(t.path(), 1)).unwrap(), before);
}

/// A torn write of a last append of several records, cut at every byte
/// offset: a torn tail (never corruption), the records wholly before the
/// cut kept, the cut reported with file, offset and bytes.
#[test]
fn a_torn_multi_record_last_append_is_a_torn_tail_at_every_offset() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    append1(&j, 1, RecordKind::Msg, &[1; 40]).unwrap();
    append1(&j, 2, RecordKind::Msg, &[2; 25]).unwrap();
    let sizes = [30usize, 50, 20, 60];
    let batch: Vec<_> =
        sizes.iter().enumerate().map(|(k, n)| (tid(10 + k as u64), RecordKind::Msg, vec![k as u8 + 10; *n])).collect();
    j.append_wait(batch, true).unwrap();
    drop(j);
    let mut all: Vec<Vec<u8>> = vec![vec![1; 40], vec![2; 25]];
    all.extend(sizes.iter().enumerate().map(|(k, n)| vec![k as u8 + 10; *n]));
    let spans = record_spans(d.path(), 1);
    assert_eq!(spans.len(), 7);
    let seg = segment::path(d.path(), 1);
    let mut checked = 0;
    for cut in spans[3].0..=spans[6].1 + 8 {
        for tail in [Tail::Zeros, Tail::Garbage, Tail::Short] {
            // High bit set: never equal to a payload byte, so the write really differs.
            let garbage: Vec<u8> = (0..64u64).map(|i| (i * 53 + cut) as u8 | 0x80).collect();
            let (t, tseg) = torn_copy(d.path(), &seg, cut, tail, 1024, &garbage);
            let file_bytes = fs::metadata(&tseg).unwrap().len();
            let kept: Vec<_> = spans[1..].iter().take_while(|(_, end)| *end <= cut).collect();
            let boundary = kept.last().map_or(spans[0].1, |(_, end)| *end);
            let (_j, r) = open(&cfg(t.path()), Takeover::Normal).unwrap_or_else(|e| panic!("cut {cut} {tail:?}: {e}"));
            assert_eq!(payloads(&r.records), all[..kept.len()], "cut {cut} {tail:?}");
            match r.cuts.as_slice() {
                [] => assert_eq!(r.truncated, None),
                [c] => {
                    assert_eq!((c.kind, &c.file, c.offset), (CutKind::TornTail, &tseg, boundary), "cut {cut} {tail:?}");
                    assert_eq!(c.bytes, file_bytes - boundary, "cut {cut} {tail:?}");
                    assert_eq!(r.truncated, Some((tseg.clone(), boundary)));
                }
                more => panic!("cut {cut} {tail:?}: {more:?}"),
            }
            if kept.len() < all.len() && cut > boundary {
                assert_eq!(r.cuts.len(), 1, "cut {cut} {tail:?}: a torn record must be reported");
            }
            checked += 1;
        }
    }
    assert!(checked > 500, "{checked}");
}

/// A recycled segment keeps its previous life's records past the new end of
/// data. Written by the same owner epoch, they pass every check but the
/// checksum's seed: a torn last record followed by them is still a torn
/// tail, and without a tear the segment opens clean.
#[test]
fn a_recycled_segment_with_old_records_after_its_torn_tail_still_opens() {
    let d = tempfile::tempdir().unwrap();
    let size = 64u64 << 10;
    owner::write_epoch(&RealFs, d.path(), 1).unwrap();
    let h = format::HEADER_BYTES as usize;
    // The previous life: segment 1 full of epoch-1 records.
    let mut old = vec![0u8; size as usize];
    old[..format::HEADER_USED].copy_from_slice(&format::encode_header(&format::SegmentHeader {
        segment: 1,
        epoch: 1,
        locked: true,
    }));
    let mut recs = Vec::new();
    let mut n = 0;
    while recs.len() < size as usize - h - 200 {
        format::encode_record(&mut recs, format::seed(1), 1, &tid(n), RecordKind::Msg, &[n as u8; 45]);
        n += 1;
    }
    old[h..h + recs.len()].copy_from_slice(&recs);
    fs::write(segment::path(d.path(), 1), &old).unwrap();
    drop(segment::recycle(&RealFs, d.path(), 1, 2, 1, true, size).ok().unwrap());
    // The new life, same epoch: three records, the last one torn anywhere.
    let mut new = Vec::new();
    let mut ends = Vec::new();
    for (k, len) in [40usize, 33, 70].iter().enumerate() {
        format::encode_record(&mut new, format::seed(2), 1, &tid(100 + k as u64), RecordKind::Msg, &vec![7; *len]);
        ends.push((h + new.len()) as u64);
    }
    let p2 = segment::path(d.path(), 2);
    let recycled = fs::read(&p2).unwrap();
    for cut in (ends[1]..=ends[2] + 8).chain([ends[2] + 8]) {
        let t = tempfile::tempdir().unwrap();
        copy_dir(d.path(), t.path());
        let mut b = recycled.clone();
        let mut written = new.clone();
        written.extend_from_slice(&[0u8; 8]);
        let upto = (cut as usize - h).min(written.len());
        b[h..h + upto].copy_from_slice(&written[..upto]);
        let tp = t.path().join(p2.file_name().unwrap());
        fs::write(&tp, &b).unwrap();
        let sc = scan(t.path()).unwrap();
        assert!(!sc.is_corrupt(), "cut {cut}: {:?}", sc.problems);
        let (_j, r) = open(&cfg(t.path()), Takeover::Normal).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        let whole = ends.iter().filter(|e| **e <= cut).count();
        assert_eq!(r.records.len(), whole, "cut {cut}");
        if cut < ends[2] {
            assert_eq!(r.truncated, Some((tp.clone(), ends[1])), "cut {cut}");
        }
        if cut == ends[2] + 8 {
            assert!(r.cuts.is_empty(), "the whole write with its end mark: clean: {:?}", r.cuts);
        }
    }
}

/// Bytes of the segment files (the epoch claim files beside them are 12
/// bytes each, at most 64 of them).
fn segment_bytes_on_disk(dir: &Path) -> u64 {
    segment::list(&RealFs, dir).unwrap().iter().map(|(_, p)| fs::metadata(p).unwrap().len()).sum()
}

/// An application that starts, commits and finishes its work and exits, again
/// and again: the journal reuses its preallocated files instead of adding a
/// segment per start (it used to grow by one segment each time, up to the cap).
#[test]
fn restarts_with_nothing_live_reuse_segments_instead_of_adding_them() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    let c = JournalConfig { max_segments: 16, ..cfg(&dir) };
    create(&c).unwrap();
    let mut sizes = Vec::new();
    for run in 0..12u64 {
        let (j, rec) = open(&c, Takeover::Normal).unwrap();
        assert!(rec.records.iter().all(|r| r.kind == RecordKind::Done || r.tid.seq < run * 10), "run {run}");
        for n in run * 10..run * 10 + 5 {
            append1(&j, n, RecordKind::Commit, b"work").unwrap();
            append1(&j, n, RecordKind::Done, b"").unwrap();
        }
        drop(j);
        let segs = seg_numbers(&dir);
        assert!(segs.len() <= 2, "run {run}: {segs:?}");
        sizes.push(segment_bytes_on_disk(&dir));
    }
    // From the second start on, the directory does not grow at all.
    assert!(sizes[1..].iter().all(|&s| s == sizes[1]), "{sizes:?}");
    assert!(sizes[1] <= 2 * c.segment_bytes + 4096, "{sizes:?}");
    // The segment numbers still only grow (a recycled file takes a new number).
    let (j, _) = open(&c, Takeover::Normal).unwrap();
    assert!(j.stats().recycled >= 1);
    drop(j);
    assert!(seg_numbers(&dir).iter().all(|&n| n > 10), "{:?}", seg_numbers(&dir));
}

/// A journal grown by earlier versions (one segment per start, all free)
/// shrinks back to two files at the next open; live work keeps its segments
/// and everything after them, and a later open after it is done shrinks it.
#[test]
fn an_open_shrinks_free_segments_before_the_first_live_one() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    let c = JournalConfig { max_segments: 16, ..cfg(&dir) };
    create(&c).unwrap();
    // Build [1 live, 2 free, 3 live, 4 free, 5 (newest)]: each segment
    // filled until the journal rolls (a live first segment keeps a roll from
    // recycling, so every roll adds a file), then the first one finished.
    let (j, _) = open(&c, Takeover::Normal).unwrap();
    let fill = |j: &Journal, base: u64, first_live: bool| {
        let start = j.stats().segments;
        let mut n = base;
        while j.stats().segments == start {
            append1(j, n, RecordKind::Commit, &[7u8; 2000]).unwrap();
            if !(first_live && n == base) {
                append1(j, n, RecordKind::Done, b"").unwrap();
            }
            n += 1;
            assert!(n < base + 1000, "segment {start} never rolled");
        }
    };
    fill(&j, 1000, true);
    fill(&j, 2000, false);
    fill(&j, 3000, true);
    fill(&j, 4000, false);
    append1(&j, 1000, RecordKind::Done, b"").unwrap();
    drop(j);
    assert_eq!(seg_numbers(&dir), vec![1, 2, 3, 4, 5]);
    let (j, rec) = open(&c, Takeover::Normal).unwrap();
    let live: Vec<u64> = rec.records.iter().filter(|r| r.kind == RecordKind::Commit).map(|r| r.tid.seq).collect();
    assert!(live.contains(&3000), "the live transaction survives: {live:?}");
    // 1 was removed, 2 recycled as 6; 3 (live) and what follows stay.
    assert_eq!(seg_numbers(&dir), vec![3, 4, 5, 6]);
    append1(&j, 3000, RecordKind::Done, b"").unwrap();
    drop(j);
    drop(open(&c, Takeover::Normal).unwrap());
    assert_eq!(seg_numbers(&dir), vec![6, 7], "back to two files once nothing is live");
}

/// The newest segment may be a fenced owner's current one: an open never
/// reuses it, even when it holds nothing live, and records that owner writes
/// there after the takeover stay stale (never recovered, never overwriting
/// the new owner's records).
#[test]
fn a_forced_takeover_never_reuses_the_fenced_owners_segment() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    let c = cfg(&dir);
    create(&c).unwrap();
    drop(open(&c, Takeover::Normal).unwrap());
    let (old, _) = open(&c, Takeover::Normal).unwrap();
    assert_eq!(seg_numbers(&dir).len(), 2);
    let old_current = *seg_numbers(&dir).last().unwrap();
    let (new, _) = open(&c, Takeover::Force).unwrap();
    assert!(seg_numbers(&dir).contains(&old_current), "{:?}", seg_numbers(&dir));
    append1(&new, 1, RecordKind::Commit, b"new owner").unwrap();
    // The fenced owner's late write is refused and lands nowhere that counts.
    assert!(append1(&old, 2, RecordKind::Commit, b"fenced").is_err());
    drop(old);
    drop(new);
    let (_, rec) = open(&c, Takeover::Normal).unwrap();
    let p = payloads(&rec.records);
    assert!(p.contains(&b"new owner".to_vec()) && !p.contains(&b"fenced".to_vec()), "{p:?}");
}

/// The refusal names who holds the journal and never advises a forced
/// takeover: the holder is alive (a lock dies with its process), and forcing
/// would fence a working owner.
#[test]
fn a_locked_journal_names_its_holder_and_does_not_advise_force() {
    let d = tempfile::tempdir().unwrap();
    let (_a, _) = new_journal(d.path());
    let e = open(&cfg(d.path()), Takeover::Normal).expect_err("the lock is held");
    assert!(matches!(e, JournalError::Locked { holder: Some(pid), .. } if pid == std::process::id()), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&format!("this process ({}", std::process::id())), "{text}");
    assert!(!text.contains("force"), "{text}");
    assert!(text.contains("another journal directory"), "{text}");
}

/// An empty append without sync is a barrier: it completes after the
/// appends before it, writes nothing and checks nothing (it succeeds even
/// with the epoch file gone, where a synced append fails the owner check).
#[test]
fn an_empty_unsynced_append_is_a_barrier_that_touches_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    let before = j.stats();
    let (tx, rx) = crossbeam_channel::unbounded();
    for n in 0..20u64 {
        let tx = tx.clone();
        j.append(
            vec![(tid(n), RecordKind::Msg, vec![1u8; 100])],
            false,
            Box::new(move |r| tx.send((n, r.is_ok())).unwrap()),
        );
    }
    let tx2 = tx.clone();
    j.append(Vec::new(), false, Box::new(move |r| tx2.send((u64::MAX, r.is_ok())).unwrap()));
    let got: Vec<(u64, bool)> = (0..21).map(|_| rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap()).collect();
    assert_eq!(got.last(), Some(&(u64::MAX, true)), "the barrier completes last: {got:?}");
    assert!(got.iter().all(|(_, ok)| *ok));
    assert_eq!(j.stats().records_written, before.records_written + 20);
    fs::remove_file(d.path().join("epoch")).unwrap();
    assert!(j.append_wait(Vec::new(), false).is_ok(), "the barrier checked the owner");
    assert!(j.append_wait(Vec::new(), true).is_err(), "a synced append must check the owner");
}

#[test]
fn stats_time_every_sync_and_size_every_group_commit() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    let before = j.stats();
    for n in 1..=5 {
        append1(&j, n, RecordKind::Msg, b"x").unwrap();
    }
    // Unsynced appends are written but never synced by themselves.
    j.append_wait(vec![(tid(6), RecordKind::Done, Vec::new())], false).unwrap();
    let st = j.stats();
    assert_eq!(st.syncs - before.syncs, 5, "{st:?}");
    assert_eq!(st.sync_us.count, st.syncs - before.syncs + before.sync_us.count);
    assert_eq!(st.batch_appends.count - before.batch_appends.count, 6, "one append per group commit here");
    assert_eq!(st.batch_appends.sum - before.batch_appends.sum, 6);
    assert!(st.bytes_used > before.bytes_used && st.bytes_used <= st.bytes_capacity, "{st:?}");
}

/// Waits (bounded) until `j` has written `n` records in all.
fn wait_written(j: &Journal, n: u64) {
    let until = Instant::now() + Duration::from_secs(10);
    while j.stats().records_written < n {
        assert!(Instant::now() < until, "the writer did not write: {:?}", j.stats());
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// An append whose outcome is sent on `tx` with `n`.
fn append_to(
    j: &Journal,
    n: u64,
    sync: bool,
    payload: &[u8],
    tx: &crossbeam_channel::Sender<(u64, Result<(), JournalError>)>,
) {
    let tx = tx.clone();
    j.append(vec![(tid(n), RecordKind::Msg, payload.to_vec())], sync, Box::new(move |r| tx.send((n, r)).unwrap()));
}

#[test]
fn an_unsynced_batch_shares_the_next_batchs_ownership_check() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    // Long enough that only the next batch can settle it.
    j.settle_after(Duration::from_secs(60));
    let before = j.stats();
    let (tx, rx) = crossbeam_channel::unbounded();
    append_to(&j, 1, false, b"unsynced", &tx);
    wait_written(&j, before.records_written + 1);
    // Written, and not acknowledged: no check has run since its write.
    assert!(rx.try_recv().is_err(), "an unsynced append completed before a check");
    assert_eq!(j.stats().owner_checks, before.owner_checks);
    // The next batch, a synced one, checks once for both, the earlier first.
    append1(&j, 2, RecordKind::Msg, b"synced").unwrap();
    assert!(matches!(rx.try_recv(), Ok((1, Ok(())))));
    assert_eq!(j.stats().owner_checks, before.owner_checks + 1);
    // A barrier (an empty append) settles an unchecked one too, after it.
    append_to(&j, 3, false, b"unsynced-2", &tx);
    wait_written(&j, before.records_written + 3);
    let t0 = Instant::now();
    j.append_wait(Vec::new(), false).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(30), "the barrier waited for the settle time");
    assert!(matches!(rx.try_recv(), Ok((3, Ok(())))));
    assert_eq!(j.stats().owner_checks, before.owner_checks + 2);
    // Two unsynced batches in a row: the second checks for both.
    append_to(&j, 4, false, b"u4", &tx);
    wait_written(&j, before.records_written + 4);
    append_to(&j, 5, false, b"u5", &tx);
    assert!(matches!(rx.recv_timeout(Duration::from_secs(10)), Ok((4, Ok(())))));
    assert!(matches!(rx.recv_timeout(Duration::from_secs(10)), Ok((5, Ok(())))));
    assert_eq!(j.stats().owner_checks, before.owner_checks + 3);
}

#[test]
fn a_fenced_writers_commit_is_refused_after_an_unchecked_write() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = new_journal(d.path());
    a.no_idle_check();
    a.settle_after(Duration::from_secs(60));
    append1(&a, 1, RecordKind::Msg, b"a-before").unwrap();
    let before = a.stats().records_written;
    let (tx, rx) = crossbeam_channel::unbounded();
    // Written before the fence, its check left to the next batch.
    append_to(&a, 2, false, b"a-unsynced", &tx);
    wait_written(&a, before + 1);
    assert!(rx.try_recv().is_err(), "acknowledged before a check");
    let (b, rb) = open(&cfg(d.path()), Takeover::Force).unwrap();
    assert_eq!(payloads(&rb.records), [b"a-before".to_vec(), b"a-unsynced".to_vec()]);
    // A's commit (synced) is refused, and so is the unchecked append before
    // it, first: a fenced owner acknowledges nothing.
    append_to(&a, 3, true, b"a-commit", &tx);
    let got: Vec<_> = (0..2).map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
    assert!(
        matches!(
            &got[..],
            [
                (2, Err(JournalError::Fenced { mine: 1, current: 2 })),
                (3, Err(JournalError::Fenced { mine: 1, current: 2 }))
            ]
        ),
        "{got:?}"
    );
    append1(&b, 4, RecordKind::Msg, b"b-1").unwrap();
    // The refused commit reached the disk past the seal: stale, never counted.
    let s = scan(d.path()).unwrap();
    assert!(s.entries.iter().filter(|e| e.record.payload == b"a-commit").all(|e| e.stale));
    drop(a);
    drop(b);
    let (_c, rc) = open(&cfg(d.path()), Takeover::Normal).unwrap();
    assert_eq!(payloads(&rc.records), [b"a-before".to_vec(), b"a-unsynced".to_vec(), b"b-1".to_vec()]);
}

#[test]
fn an_unchecked_append_is_settled_when_the_last_handle_goes_and_learns_of_a_fence() {
    let d = tempfile::tempdir().unwrap();
    let (a, _) = new_journal(d.path());
    a.no_idle_check();
    a.settle_after(Duration::from_secs(60));
    let before = a.stats().records_written;
    let (tx, rx) = crossbeam_channel::unbounded();
    append_to(&a, 1, false, b"a-unsynced", &tx);
    wait_written(&a, before + 1);
    let (_b, _) = open(&cfg(d.path()), Takeover::Force).unwrap();
    assert!(rx.try_recv().is_err());
    // Dropping the last handle waits for the writer, which checks first.
    drop(a);
    assert!(matches!(rx.try_recv(), Ok((1, Err(JournalError::Fenced { mine: 1, current: 2 })))));
}

#[test]
fn a_barrier_is_never_left_waiting_for_the_settle_time() {
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    j.settle_after(Duration::from_secs(60));
    let (tx, rx) = crossbeam_channel::unbounded();
    // Each unsynced append right before a barrier: in one batch or two, the
    // barrier completes at once, after it.
    for n in 0..20u64 {
        append_to(&j, n, false, b"unsynced", &tx);
        let t0 = Instant::now();
        j.append_wait(Vec::new(), false).unwrap();
        assert!(t0.elapsed() < Duration::from_secs(30), "the barrier waited for the settle time");
        assert!(matches!(rx.try_recv(), Ok((m, Ok(()))) if m == n));
    }
}

#[test]
fn a_settling_check_that_cannot_read_the_epoch_proves_no_fence() {
    // As the idle check: a journal directory removed under an exiting
    // process is no error at its exit drain (a barrier); the next write's
    // check still ends ownership.
    let d = tempfile::tempdir().unwrap();
    let (j, _) = new_journal(d.path());
    let lost = loss_channel(&j);
    j.settle_after(Duration::from_secs(60));
    let before = j.stats().records_written;
    let (tx, rx) = crossbeam_channel::unbounded();
    append_to(&j, 1, false, b"unsynced", &tx);
    wait_written(&j, before + 1);
    fs::remove_file(d.path().join("epoch")).unwrap();
    j.append_wait(Vec::new(), false).unwrap();
    assert!(matches!(rx.try_recv(), Ok((1, Ok(())))));
    assert!(lost.try_recv().is_err(), "ownership ended without a fence");
    assert!(matches!(append1(&j, 2, RecordKind::Msg, b"synced"), Err(JournalError::Io { .. })));
    assert!(matches!(lost.try_recv(), Ok(JournalError::Io { .. })));
}

/// A transaction that stays live for ever in the oldest segment (an
/// answerable commit whose router never forgets it) fills the ring behind
/// it: new transactions are refused. A `Carried` record restating it at the
/// head releases the segments it pinned: they are recycled and new work is
/// accepted again; a reopen finds the restatement (the earlier records may
/// be gone) and the transaction still live.
#[test]
fn a_carried_record_frees_the_segments_its_transaction_pinned() {
    let d = tempfile::tempdir().unwrap();
    let c = JournalConfig { dir: d.path().to_path_buf(), segment_bytes: 64 << 10, max_segments: 3 };
    create(&c).unwrap();
    let (j, _) = open(&c, Takeover::Normal).unwrap();
    let pinned = tid(1);
    j.append_wait(vec![(pinned, RecordKind::Msg, vec![7u8; 1000]), (pinned, RecordKind::Applied, vec![])], true)
        .unwrap();
    // Every other transaction finishes at once; the ring still fills.
    let mut n = 100;
    let refused = loop {
        let r = j.append_wait(vec![(tid(n), RecordKind::Msg, vec![0u8; 1000])], true);
        if r.is_err() {
            break r;
        }
        j.append_wait(vec![(tid(n), RecordKind::Done, vec![])], false).unwrap();
        n += 1;
        assert!(n < 10_000, "never full");
    };
    assert!(matches!(refused, Err(JournalError::Full)), "{refused:?}");
    // Restated at the head (it is live, so the reserve takes it) each time
    // the journal is full again: once per lap of the ring.
    let mut carried = 0;
    for m in n..n + 500 {
        let new_tx = || j.append_wait(vec![(tid(m), RecordKind::Msg, vec![0u8; 1000])], true);
        if let Err(e) = new_tx() {
            assert!(matches!(e, JournalError::Full), "{e}");
            j.append_wait(vec![(pinned, RecordKind::Carried, vec![1])], false).unwrap();
            carried += 1;
            new_tx().unwrap();
        }
        j.append_wait(vec![(tid(m), RecordKind::Done, vec![])], false).unwrap();
    }
    // About 60 transactions fill a segment: some 8 laps.
    assert!((5..=12).contains(&carried), "{carried}");
    assert!(j.stats().segments <= 3);
    drop(j);
    let (j, r) = open(&c, Takeover::Normal).unwrap();
    let kinds: Vec<RecordKind> = r.records.iter().filter(|x| x.tid == pinned).map(|x| x.kind).collect();
    assert_eq!(kinds, vec![RecordKind::Carried], "the first segment was recycled");
    assert_eq!(j.stats().live_transactions, 1);
}
