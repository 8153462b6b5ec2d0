//! `rtr journal create|show|dump|verify|takeover|salvage` as an operator runs them:
//! output, `--json` output (parsed) and exit codes, on journals built here
//! with the storage layer the way the node writes them, and on damaged and
//! foreign directories.

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rtr_core::journal::{self, Journal, JournalConfig, JournalError, RecordKind, Takeover};
use rtr_core::Tid;

const WAIT: Duration = Duration::from_secs(60);
const EXIT_CORRUPT: i32 = 3;
const EXIT_REFUSED: i32 = 4;

mod common;

use common::{s, Out};

/// Runs `rtr` with a bounded wait; kills it if it overruns.
fn rtr(args: &[&str]) -> Out {
    common::rtr_within(args, WAIT)
}

fn cfg(dir: &Path) -> JournalConfig {
    JournalConfig { dir: dir.to_path_buf(), segment_bytes: 64 << 10, max_segments: 8 }
}

fn tid(n: u64) -> Tid {
    Tid { node: 1, incarnation: 2, conn: 3, seq: n }
}

/// A message record's payload as the node writes it.
fn msg(facility: &str, data: &[u8]) -> Vec<u8> {
    let mut v = vec![facility.len() as u8];
    v.extend_from_slice(facility.as_bytes());
    v.extend_from_slice(data);
    v
}

/// A journal holding what the node writes: transaction 1 committed (reason
/// 7), 2 undecided, 3 aborted, 4 committed and done. Returned still open.
fn node_like(dir: &Path) -> Journal {
    let (j, _) = journal::open_or_create(&cfg(dir)).unwrap();
    let recs: Vec<(Tid, RecordKind, Vec<u8>)> = vec![
        (tid(1), RecordKind::Msg, msg("BANK", b"hello")),
        (tid(2), RecordKind::Msg, msg("BANK", &[0xab; 40])),
        (tid(1), RecordKind::Vote, vec![]),
        (tid(3), RecordKind::Msg, msg("BANK", b"x")),
        (tid(1), RecordKind::Commit, 7u32.to_le_bytes().to_vec()),
        (tid(3), RecordKind::Abort, vec![]),
        (tid(4), RecordKind::Msg, msg("BANK", b"y")),
        (tid(4), RecordKind::Commit, 0u32.to_le_bytes().to_vec()),
        (tid(4), RecordKind::Done, vec![]),
    ];
    for r in recs {
        j.append_wait(vec![r], true).unwrap();
    }
    j
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("seg-{n:016}.rtrj"))
}

#[test]
fn create_makes_an_empty_journal_and_refuses_an_existing_one_or_bad_sizes() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("new/j");
    let o = rtr(&["journal", "create", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("created an empty journal"), "{o:?}");
    let o = rtr(&["journal", "create", s(&dir)]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("already exists"), "{o:?}");
    let o = rtr(&["journal", "create", s(&dir), "--json"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.json()["ok"], false);
    assert!(o.json()["error"].as_str().unwrap().contains("already exists"));

    let other = d.path().join("other");
    let o = rtr(&["journal", "create", s(&other), "--segment-bytes", "1000"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("segment_bytes 1000"), "{o:?}");
    let o = rtr(&["journal", "create", s(&other), "--max-segments", "1"]);
    assert_eq!(o.code, 1, "{o:?}");
    let o = rtr(&["journal", "create", s(&other), "--segment-bytes", "65536", "--max-segments", "4", "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let j = o.json();
    assert_eq!(
        (j["ok"].as_bool(), j["epoch"].as_u64(), j["segment_bytes"].as_u64()),
        (Some(true), Some(0), Some(65536))
    );

    let o = rtr(&["journal", "show", s(&other)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("owner epoch  0"), "{o:?}");
    assert!(o.stdout.contains("segments     0"), "{o:?}");
    assert!(o.stdout.contains("live transactions  0"), "{o:?}");
    // A created journal opens.
    drop(journal::open(&cfg(&other), Takeover::Normal).unwrap());
}

#[test]
fn show_lists_segments_epoch_lock_and_live_transactions_with_their_state() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    let j = node_like(&dir);
    // While the owner runs, its lock is held.
    let o = rtr(&["journal", "show", s(&dir), "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json()["lock"]["state"], "held");
    // The holder is this test process.
    assert_eq!(o.json()["lock"]["pid"], std::process::id());
    let o = rtr(&["journal", "show", s(&dir)]);
    assert!(o.stdout.contains(&format!("lock         held by process {} (", std::process::id())), "{o:?}");
    drop(j);

    let o = rtr(&["journal", "show", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    let out = &o.stdout;
    assert!(out.contains("owner epoch  1 (the next owner takes 2)"), "{out}");
    assert!(out.contains("lock         free"), "{out}");
    assert!(out.contains("seg-0000000000000001.rtrj"), "{out}");
    assert!(out.contains("live transactions  3"), "{out}");
    let line = |t: &str| out.lines().find(|l| l.contains(t)).unwrap_or_else(|| panic!("no {t} in {out}"));
    assert!(line("1,2,3,0,1,0,0").contains("committed-awaiting-servers"), "{out}");
    assert!(line("1,2,3,0,1,0,0").contains("facility BANK, 1 message, voted, reason 7"), "{out}");
    assert!(line("1,2,3,0,2,0,0").contains("undecided"), "{out}");
    assert!(line("1,2,3,0,3,0,0").contains("aborted"), "{out}");
    assert!(!out.contains("1,2,3,0,4,0,0"), "a Done transaction is not live: {out}");
    assert!(out.contains("problems     none"), "{out}");

    let v = rtr(&["journal", "show", s(&dir), "--json"]).json();
    assert_eq!(v["epoch"], 1);
    assert_eq!(v["lock"]["state"], "free");
    assert_eq!(v["records"], 10);
    assert_eq!(v["fence_records"], 1);
    let segs = v["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0]["number"], 1);
    assert_eq!(segs[0]["created_epoch"], 1);
    assert_eq!(segs[0]["file_bytes"], 65536);
    assert!(segs[0]["bytes_used"].as_u64().unwrap() > 4096);
    let live: Vec<(String, String)> = v["live_transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["tid"].as_str().unwrap().to_string(), t["state"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        live,
        vec![
            ("1,2,3,0,1,0,0".to_string(), "committed-awaiting-servers".to_string()),
            ("1,2,3,0,2,0,0".to_string(), "undecided".to_string()),
            ("1,2,3,0,3,0,0".to_string(), "aborted".to_string()),
        ]
    );
    assert_eq!(v["clean"], true);
    assert_eq!(v["opens"], true);
}

/// A journal with a transaction in each state the node recovers, written
/// with the node's own record encoding (`rtr_core::txrecord`): `show` names
/// each the way the node's recovery classifies it, the in-doubt one (a
/// durable vote, no outcome) above all, which a restart keeps and asks its
/// router about instead of presuming abort.
#[test]
fn show_names_every_transaction_state_as_the_node_recovery_does() {
    use rtr_core::txrecord::{classify, TxRecord};
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    let m = |data: &[u8]| TxRecord::Msg { facility: "BANK".into(), data: data.into() };
    let exception = TxRecord::Exception { status: rtr_core::Status::Retrylimit.code(), strikes: 3, committed: true };
    let recs: Vec<(u64, TxRecord)> = vec![
        // 1: voted durably, no outcome: in doubt.
        (1, m(b"a")),
        (1, TxRecord::Vote { durable: true }),
        // 2: voted (not durably), no outcome: presumed abort.
        (2, m(b"b")),
        (2, TxRecord::Vote { durable: false }),
        // 3: committed, then set aside by the retry limit.
        (3, m(b"c")),
        (3, TxRecord::Commit { reason: 0 }),
        (3, exception),
        // 4: finished, then work handed off here committed again: replayed
        // (a new attempt: its one message, not the finished one's).
        (4, m(b"d")),
        (4, TxRecord::Commit { reason: 1 }),
        (4, TxRecord::Done),
        (4, m(b"e")),
        (4, TxRecord::Commit { reason: 2 }),
        // 5: a durable vote, then aborted: its Done is missing.
        (5, m(b"f")),
        (5, TxRecord::Vote { durable: true }),
        (5, TxRecord::Abort),
    ];
    let (j, _) = journal::open_or_create(&cfg(&dir)).unwrap();
    for (n, r) in &recs {
        j.append_wait(vec![r.entry(tid(*n))], true).unwrap();
    }
    drop(j);

    let want = [
        ("1,2,3,0,1,0,0", "in-doubt"),
        ("1,2,3,0,2,0,0", "undecided"),
        ("1,2,3,0,3,0,0", "set-aside"),
        ("1,2,3,0,4,0,0", "committed-awaiting-servers"),
        ("1,2,3,0,5,0,0", "aborted"),
    ];
    // The node's recovery classifies them so.
    let recovered = journal::scan(&dir).unwrap();
    let node: Vec<(String, &str)> = classify(recovered.entries.iter().map(|e| &e.record))
        .txs
        .iter()
        .map(|t| (t.tid.to_string(), t.fate().word()))
        .collect();
    let want_owned: Vec<(String, &str)> = want.iter().map(|(t, w)| (t.to_string(), *w)).collect();
    assert_eq!(node, want_owned);

    let o = rtr(&["journal", "show", s(&dir), "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = o.json();
    let live: Vec<(String, String)> = v["live_transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["tid"].as_str().unwrap().to_string(), t["state"].as_str().unwrap().to_string()))
        .collect();
    let want_json: Vec<(String, String)> = want.iter().map(|(t, w)| (t.to_string(), w.to_string())).collect();
    assert_eq!(live, want_json, "{o:?}");
    let t1 = &v["live_transactions"][0];
    assert_eq!((t1["voted"].as_bool(), t1["durable_vote"].as_bool()), (Some(true), Some(true)), "{o:?}");
    assert_eq!(v["live_transactions"][3]["messages"], 1, "{o:?}");
    assert_eq!(v["live_transactions"][3]["commit_reason"], 2, "{o:?}");

    let o = rtr(&["journal", "show", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    let out = &o.stdout;
    assert!(out.contains("live transactions  5"), "{out}");
    let line = |t: &str| out.lines().find(|l| l.contains(t)).unwrap_or_else(|| panic!("no {t} in {out}"));
    assert!(line("1,2,3,0,1,0,0").contains("in-doubt"), "{out}");
    assert!(line("1,2,3,0,1,0,0").contains("durable vote"), "{out}");
    assert!(line("1,2,3,0,1,0,0").contains("asks its router"), "{out}");
    assert!(line("1,2,3,0,2,0,0").contains("presumes abort"), "{out}");
    assert!(line("1,2,3,0,3,0,0").contains("set aside"), "{out}");

    // `dump` reads each payload with the node's decoder too, and names a
    // payload it refuses (here a Commit cut to 3 bytes) instead of guessing.
    let (j, _) = journal::open(&cfg(&dir), Takeover::Normal).unwrap();
    j.append_wait(vec![(tid(6), RecordKind::Commit, vec![1, 0, 0])], true).unwrap();
    drop(j);
    let o = rtr(&["journal", "dump", s(&dir), "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = o.json();
    let records = v["records"].as_array().unwrap();
    let find = |kind: &str, t: &str| {
        records
            .iter()
            .find(|r| r["kind"] == kind && r["tid"] == t)
            .unwrap_or_else(|| panic!("no {kind} of {t}: {o:?}"))
            .clone()
    };
    assert_eq!(find("Vote", "1,2,3,0,1,0,0")["durable"], true);
    assert_eq!(find("Vote", "1,2,3,0,2,0,0")["durable"], false);
    let e = find("Exception", "1,2,3,0,3,0,0");
    assert_eq!((e["strikes"].as_u64(), e["committed"].as_bool()), (Some(3), Some(true)), "{e}");
    assert_eq!(e["status"], rtr_core::Status::Retrylimit.code());
    assert!(find("Commit", "1,2,3,0,6,0,0")["malformed"].as_str().unwrap().contains("3 bytes"), "{o:?}");
    let o = rtr(&["journal", "dump", s(&dir)]);
    assert!(o.stdout.contains("status RTR_STS_RETRYLIMIT"), "{o:?}");
    assert!(o.stdout.contains("malformed payload"), "{o:?}");
    // The node's classification still counts it as a commit (the safe side).
    let o = rtr(&["journal", "show", s(&dir)]);
    assert!(o.stdout.contains("live transactions  6"), "{o:?}");
}

#[test]
fn dump_prints_every_record_with_a_payload_summary() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    drop(node_like(&dir));
    let o = rtr(&["journal", "dump", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(lines[0].contains("segment") && lines[0].contains("offset") && lines[0].contains("tid"), "{o:?}");
    let rows = &lines[1..11];
    let kinds: Vec<&str> = rows.iter().map(|l| l.split_whitespace().nth(4).unwrap()).collect();
    assert_eq!(kinds, ["Fence", "Msg", "Msg", "Vote", "Msg", "Commit", "Abort", "Msg", "Commit", "Done"]);
    assert!(rows[0].contains("seals epoch 0 at segment 0 offset 0"), "{o:?}");
    assert!(rows[0].split_whitespace().take(4).eq(["1", "4096", "1", "0,0,0,0,0,0,0"]), "{o:?}");
    assert!(rows[1].contains("1,2,3,0,1,0,0") && rows[1].contains("facility BANK, 5 data bytes: 68656c6c6f"), "{o:?}");
    assert!(rows[2].contains(&format!("facility BANK, 40 data bytes: {}...", "ab".repeat(16))), "{o:?}");
    assert!(rows[5].contains("reason 7"), "{o:?}");
    assert!(o.stdout.contains("10 records in 1 segment"), "{o:?}");

    let v = rtr(&["journal", "dump", s(&dir), "--json"]).json();
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 10);
    assert_eq!(recs[0]["kind"], "Fence");
    assert_eq!(recs[0]["sealed_epoch"], 0);
    assert_eq!(recs[1]["facility"], "BANK");
    assert_eq!(recs[1]["data_bytes"], 5);
    assert_eq!(recs[1]["data_hex"], "68656c6c6f");
    assert_eq!(recs[1]["tid"], "1,2,3,0,1,0,0");
    assert_eq!(recs[1]["epoch"], 1);
    assert_eq!(recs[1]["stale"], false);
    assert_eq!(recs[5]["reason"], 7);
    // Offsets are increasing and start after the header.
    let offs: Vec<u64> = recs.iter().map(|r| r["offset"].as_u64().unwrap()).collect();
    assert!(offs.windows(2).all(|w| w[0] < w[1]) && offs[0] == 4096, "{offs:?}");
}

/// A promise to a later drive (`Drive`, written by a node that answered a
/// re-drive's probe while it held the transaction in doubt) is named in
/// words and in JSON, and leaves the transaction in doubt for `show`.
#[test]
fn dump_and_show_name_a_promise_to_a_later_drive() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    let (j, _) = journal::open_or_create(&cfg(&dir)).unwrap();
    for r in [
        (tid(1), RecordKind::Msg, msg("BANK", b"hello")),
        (tid(1), RecordKind::Vote, vec![1]),
        (tid(1), RecordKind::Drive, 3u32.to_le_bytes().to_vec()),
    ] {
        j.append_wait(vec![r], true).unwrap();
    }
    drop(j);
    let o = rtr(&["journal", "dump", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.lines().any(|l| l.contains("Drive") && l.contains("promised to drive 3")), "{o:?}");
    let v = rtr(&["journal", "dump", s(&dir), "--json"]).json();
    let recs = v["records"].as_array().unwrap();
    let drive = recs.iter().find(|r| r["kind"] == "Drive").expect("a Drive record");
    assert_eq!(drive["drive"], 3);
    let o = rtr(&["journal", "show", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("in doubt"), "{o:?}");
}

#[test]
fn verify_passes_a_clean_journal_and_warns_about_a_torn_tail() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    drop(node_like(&dir));
    let o = rtr(&["journal", "verify", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("OK: the journal opens cleanly"), "{o:?}");

    // A torn write at the end of the last segment.
    let scan = journal::scan(&dir).unwrap();
    let last = scan.segments.last().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&last.path).unwrap();
    f.write_all_at(&[0x40, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3], last.data_end).unwrap();
    drop(f);
    let o = rtr(&["journal", "verify", s(&dir)]);
    assert_eq!(o.code, 0, "a torn tail does not stop the journal from opening: {o:?}");
    let warn = o.stdout.lines().find(|l| l.starts_with("WARNING: torn tail")).unwrap_or_else(|| panic!("{o:?}"));
    assert!(warn.contains(&format!("{} at offset {}", last.path.display(), last.data_end)), "{warn}");
    assert!(warn.contains("recovery will truncate"), "{warn}");
    assert!(o.stdout.contains("OK: the journal opens; recovery repairs"), "{o:?}");
    let v = rtr(&["journal", "verify", s(&dir), "--json"]).json();
    assert_eq!((v["ok"].as_bool(), v["clean"].as_bool(), v["opens"].as_bool()), (Some(true), Some(false), Some(true)));
    assert_eq!(v["problems"][0]["kind"], "torn-tail");
    assert_eq!(v["problems"][0]["offset"].as_u64(), Some(last.data_end));
    let o = rtr(&["journal", "show", s(&dir)]);
    assert!(o.stdout.contains("WARNING: torn tail"), "{o:?}");

    // And recovery does cut it there.
    let (j, rec) = journal::open(&cfg(&dir), Takeover::Normal).unwrap();
    drop(j);
    assert_eq!(rec.truncated, Some((last.path.clone(), last.data_end)));
    assert_eq!(rtr(&["journal", "verify", s(&dir)]).code, 0);
}

#[test]
fn verify_names_the_file_and_offset_of_a_flipped_byte_in_an_earlier_segment() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    drop(node_like(&dir));
    // A second open starts segment 2: segment 1 is no longer the last.
    drop(journal::open(&cfg(&dir), Takeover::Normal).unwrap());
    let scan = journal::scan(&dir).unwrap();
    assert_eq!(scan.segments.len(), 2);
    let victim = scan.entries.iter().filter(|e| e.segment == 1).nth(2).unwrap().clone();
    let seg1 = segment_path(&dir, 1);
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&seg1).unwrap();
    let mut b = [0u8; 1];
    let at = victim.offset + 20; // inside the record body (its tid)
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x10], at).unwrap();
    drop(f);

    let o = rtr(&["journal", "verify", s(&dir)]);
    assert_eq!(o.code, EXIT_CORRUPT, "{o:?}");
    let line = o.stdout.lines().find(|l| l.starts_with("CORRUPT:")).unwrap_or_else(|| panic!("{o:?}"));
    assert!(line.contains(&format!("{} at offset {}", seg1.display(), victim.offset)), "{line}");
    assert!(line.contains("checksum"), "{line}");
    assert!(o.stdout.contains("FAILED: the journal will not open"), "{o:?}");
    let o = rtr(&["journal", "verify", s(&dir), "--json"]);
    assert_eq!(o.code, EXIT_CORRUPT, "{o:?}");
    let v = o.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["opens"], false);
    assert_eq!(v["problems"][0]["kind"], "corrupt");
    assert_eq!(v["problems"][0]["file"].as_str(), Some(s(&seg1)));
    assert_eq!(v["problems"][0]["offset"].as_u64(), Some(victim.offset));
    // verify agrees with what an open does.
    match journal::open(&cfg(&dir), Takeover::Normal) {
        Err(JournalError::Corrupt { file, offset, .. }) => assert_eq!((file, offset), (seg1.clone(), victim.offset)),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // show and takeover say so too.
    let o = rtr(&["journal", "show", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("will NOT open"), "{o:?}");
    let o = rtr(&["journal", "takeover", s(&dir), "--force"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("is corrupt at offset"), "{o:?}");
}

#[test]
fn a_directory_without_a_journal_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let other = d.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "hello").unwrap();
    let missing = d.path().join("missing");
    for dir in [&empty, &other, &missing] {
        for cmd in ["show", "dump", "verify"] {
            let o = rtr(&["journal", cmd, s(dir)]);
            assert_eq!(o.code, 1, "{cmd} {o:?}");
            assert!(o.stderr.contains("is not a journal directory"), "{cmd} {o:?}");
            assert!(o.stdout.is_empty(), "{cmd} {o:?}");
            let o = rtr(&["journal", cmd, s(dir), "--json"]);
            assert_eq!(o.code, 1, "{cmd} {o:?}");
            assert_eq!(o.json()["ok"], false);
            assert!(o.json()["error"].as_str().unwrap().contains("is not a journal directory"));
        }
        let o = rtr(&["journal", "takeover", s(dir), "--force"]);
        assert_eq!(o.code, 1, "{o:?}");
        assert!(o.stderr.contains("is not a journal directory"), "{o:?}");
    }
    // A foreign file under a segment name: refused, not parsed.
    std::fs::write(segment_path(&other, 1), vec![b'Z'; 8192]).unwrap();
    let o = rtr(&["journal", "verify", s(&other)]);
    assert_eq!(o.code, EXIT_CORRUPT, "{o:?}");
    assert!(o.stdout.contains("unknown magic"), "{o:?}");
    assert!(o.stdout.contains("epoch"), "the missing epoch file is reported too: {o:?}");
}

#[test]
fn takeover_refuses_without_force_and_fences_with_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    drop(node_like(&dir));
    let o = rtr(&["journal", "takeover", s(&dir)]);
    assert_eq!(o.code, EXIT_REFUSED, "{o:?}");
    assert!(o.stderr.contains("without --force") && o.stderr.contains("fences"), "{o:?}");
    let o = rtr(&["journal", "takeover", s(&dir), "--json"]);
    assert_eq!(o.code, EXIT_REFUSED, "{o:?}");
    assert_eq!(o.json()["ok"], false);
    assert_eq!(journal::scan(&dir).unwrap().epoch, Some(1), "a refused takeover changes nothing");

    let o = rtr(&["journal", "takeover", s(&dir), "--force"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("owner epoch 1 -> 2"), "{o:?}");
    assert!(o.stdout.contains("the lock was free"), "{o:?}");
    assert!(o.stdout.contains("epoch 1 is fenced: its data is sealed at segment 1 offset"), "{o:?}");
    let o = rtr(&["journal", "takeover", s(&dir), "--force", "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = o.json();
    assert_eq!((v["old_epoch"].as_u64(), v["new_epoch"].as_u64()), (Some(2), Some(3)));
    assert_eq!(v["seal"]["epoch"], 2);
    assert_eq!(v["seal"]["segment"], 2);
    // The records are all still there, and the fences show in the dump.
    assert_eq!(v["records_kept"], 9);
    let o = rtr(&["journal", "dump", s(&dir)]);
    assert!(o.stdout.contains("seals epoch 2 at segment 2 offset"), "{o:?}");

    // Against a running owner: it is fenced (its next append fails).
    let (j, _) = journal::open(&cfg(&dir), Takeover::Normal).unwrap();
    let o = rtr(&["journal", "takeover", s(&dir), "--force"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("held by another process"), "{o:?}");
    let r = j.append_wait(vec![(tid(9), RecordKind::Msg, msg("BANK", b"late"))], true);
    assert!(matches!(r, Err(JournalError::Fenced { mine: 4, current: 5 })), "{r:?}");
}

#[test]
fn json_output_escapes_awkward_path_names() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("we\"ird\\ dir\n\t\u{1}é");
    let o = rtr(&["journal", "create", s(&dir), "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.json()["dir"].as_str(), Some(s(&dir)));
    drop(node_like(&dir));
    for cmd in ["show", "dump", "verify"] {
        let o = rtr(&["journal", cmd, s(&dir), "--json"]);
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(o.json()["dir"].as_str(), Some(s(&dir)), "{cmd}");
        assert_eq!(o.stdout.trim().lines().count(), 1, "one line of JSON: {o:?}");
    }
}

#[test]
fn the_helpers_are_hidden_from_help() {
    let o = rtr(&["journal", "--help"]);
    assert_eq!(o.code, 0, "{o:?}");
    for c in ["create", "show", "dump", "verify", "takeover"] {
        assert!(o.stdout.contains(c), "{o:?}");
    }
    assert!(!o.stdout.contains("writer") && !o.stdout.contains("probe"), "{o:?}");
    let o = rtr(&["--help"]);
    assert!(o.stdout.contains("journal") && o.stdout.contains("qualify-storage"), "{o:?}");
}

#[test]
fn dump_into_a_closed_pipe_ends_quietly() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    let (j, _) = journal::open_or_create(&cfg(&dir)).unwrap();
    // About 300 KB of dump output: more than a pipe holds.
    for n in 0..3000 {
        j.append(vec![(tid(n), RecordKind::Msg, msg("BANK", &[7; 30]))], false, Box::new(|_| {}));
    }
    j.append_wait(vec![], true).unwrap();
    drop(j);
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtr"))
        .args(["journal", "dump", s(&dir)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then closed
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dump did not end after its reader went away");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    use std::os::unix::process::ExitStatusExt;
    assert!(status.success() || status.signal() == Some(libc::SIGPIPE), "{status:?} {err}");
}

/// Flips one bit of the segment file at `at`.
fn flip(file: &Path, at: u64) {
    let f = std::fs::OpenOptions::new().read(true).write(true).open(file).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x10], at).unwrap();
}

#[test]
fn verify_reports_a_bad_byte_before_committed_records_in_the_last_segment_as_corruption() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    drop(node_like(&dir));
    let scan = journal::scan(&dir).unwrap();
    assert_eq!(scan.segments.len(), 1, "segment 1 is the last one");
    let seg1 = segment_path(&dir, 1);
    // Transaction 2's message, before transaction 1's Commit record.
    let victim = scan.entries[2].clone();
    assert_eq!(victim.record.tid, tid(2));
    let after: Vec<_> = scan.entries[3..].to_vec();
    assert!(after.iter().any(|e| e.record.tid == tid(1) && e.record.kind == RecordKind::Commit));
    let bytes_after: u64 = after.iter().map(|e| journal::format::record_bytes(e.record.payload.len()) as u64).sum();
    flip(&seg1, victim.offset + 40);

    let o = rtr(&["journal", "verify", s(&dir)]);
    assert_eq!(o.code, EXIT_CORRUPT, "{o:?}");
    let line = o.stdout.lines().find(|l| l.starts_with("CORRUPT:")).unwrap_or_else(|| panic!("{o:?}"));
    assert!(line.contains(&format!("{} at offset {}", seg1.display(), victim.offset)), "{line}");
    assert!(line.contains(&format!("{} valid records ({bytes_after} bytes) follow it", after.len())), "{line}");
    assert!(o.stdout.contains("FAILED: the journal will not open"), "{o:?}");
    assert!(o.stdout.contains("rtr journal salvage"), "verify points to the salvage command: {o:?}");
    assert!(!o.stdout.contains("WARNING: torn tail"), "{o:?}");
    let o = rtr(&["journal", "verify", s(&dir), "--json"]);
    assert_eq!(o.code, EXIT_CORRUPT, "{o:?}");
    let v = o.json();
    assert_eq!(v["opens"], false);
    let p = &v["problems"][0];
    assert_eq!(p["kind"], "corrupt");
    assert_eq!(p["file"].as_str(), Some(s(&seg1)));
    assert_eq!(p["offset"].as_u64(), Some(victim.offset));
    assert_eq!(p["records_after"].as_u64(), Some(after.len() as u64));
    assert_eq!(p["bytes_after"].as_u64(), Some(bytes_after));
    assert_eq!(p["resumes_at"].as_u64(), Some(after[0].offset));
}

#[test]
fn a_node_refuses_to_start_on_a_bad_byte_before_committed_records_and_names_file_and_offset() {
    let d = tempfile::tempdir().unwrap();
    let node_dir = d.path().join("node");
    let dir = node_dir.join("journal");
    drop(node_like(&dir));
    let scan = journal::scan(&dir).unwrap();
    // Transaction 1 (committed, not done) comes after its first record.
    let victim = scan.entries[1].clone();
    assert_eq!(victim.record.tid, tid(1));
    let seg1 = segment_path(&dir, 1);
    flip(&seg1, victim.offset + 12);
    let sock = d.path().join("n.sock");
    let o = common::rtr_within(
        &["start", "--foreground", "--dir", s(&node_dir), "--socket", s(&sock)],
        Duration::from_secs(30),
    );
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains(&format!("{} is corrupt at offset {}", seg1.display(), victim.offset)), "{o:?}");
    // Nothing was cut: every record is still in the journal.
    assert_eq!(journal::scan(&dir).unwrap().segments.len(), 1);
}

#[test]
fn salvage_says_what_it_would_do_then_drops_the_bad_record_and_keeps_the_committed_ones_after_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    drop(node_like(&dir));
    let scan = journal::scan(&dir).unwrap();
    let seg1 = segment_path(&dir, 1);
    let victim = scan.entries[2].clone();
    let after = &scan.entries[3..];
    let bytes_after: u64 = after.iter().map(|e| journal::format::record_bytes(e.record.payload.len()) as u64).sum();
    flip(&seg1, victim.offset + 40);
    let copy = d.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let damaged = std::fs::read(&seg1).unwrap();

    // Without --force: the plan, exit 4, nothing changed.
    let o = rtr(&["journal", "salvage", s(&dir)]);
    assert_eq!(o.code, EXIT_REFUSED, "{o:?}");
    let plan = format!(
        "would drop the damaged bytes {} at offset {} up to offset {} and keep the {} valid records ({bytes_after} \
         bytes) after them",
        seg1.display(),
        victim.offset,
        after[0].offset,
        after.len()
    );
    assert!(o.stdout.contains(&plan), "{o:?}");
    assert!(o.stderr.contains("without --force"), "{o:?}");
    let o = rtr(&["journal", "salvage", s(&dir), "--json"]);
    assert_eq!(o.code, EXIT_REFUSED, "{o:?}");
    assert_eq!(o.json()["ok"], false);
    assert_eq!(o.json()["plan"][0].as_str(), Some(plan.as_str()));
    assert_eq!(std::fs::read(&seg1).unwrap(), damaged);
    assert_eq!(journal::scan(&dir).unwrap().epoch, Some(1));

    // With --force: the damaged record goes, everything after it stays.
    let o = rtr(&["journal", "salvage", s(&dir), "--force"]);
    assert_eq!(o.code, 0, "{o:?}");
    let size = journal::format::record_bytes(victim.record.payload.len()) as u64;
    assert!(
        o.stdout.contains(&format!(
            "salvage dropped {size} damaged bytes of {} at offset {}",
            seg1.display(),
            victim.offset
        )),
        "{o:?}"
    );
    assert!(o.stdout.contains("8 records kept; the journal opens again"), "{o:?}");
    let kept = dir.join("seg-0000000000000001.rtrj.damaged-2");
    assert!(o.stdout.contains(&kept.display().to_string()), "{o:?}");
    assert_eq!(std::fs::read(&kept).unwrap(), damaged);
    let o = rtr(&["journal", "verify", s(&dir)]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("OK: the journal opens cleanly"), "{o:?}");
    let (_j, rec) = journal::open(&cfg(&dir), Takeover::Normal).unwrap();
    assert!(rec
        .records
        .iter()
        .any(|r| r.tid == tid(1) && r.kind == RecordKind::Commit && r.payload == 7u32.to_le_bytes()));
    assert!(!rec.records.iter().any(|r| r.tid == tid(2)), "the damaged record is gone");
    assert_eq!(rec.records.len(), 8);
    drop(_j);
    let o = rtr(&["journal", "salvage", s(&dir), "--force"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("nothing to salvage"), "{o:?}");

    // The same, for scripts.
    let o = rtr(&["journal", "salvage", s(&copy), "--force", "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = o.json();
    assert_eq!((v["ok"].as_bool(), v["records_kept"].as_u64()), (Some(true), Some(8)));
    assert_eq!(v["cuts"][0]["kind"], "salvaged");
    assert_eq!(v["cuts"][0]["offset"].as_u64(), Some(victim.offset));
    assert_eq!(v["cuts"][0]["bytes"].as_u64(), Some(size));
    assert!(v["damaged_files_kept"][0].as_str().unwrap().ends_with("seg-0000000000000001.rtrj.damaged-2"), "{v}");
}

#[test]
fn salvage_refuses_a_damaged_segment_header_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    drop(node_like(&dir));
    drop(journal::open(&cfg(&dir), Takeover::Normal).unwrap());
    let seg1 = segment_path(&dir, 1);
    flip(&seg1, 20);
    let before = std::fs::read(&seg1).unwrap();
    let o = rtr(&["journal", "verify", s(&dir)]);
    assert_eq!(o.code, EXIT_CORRUPT, "{o:?}");
    assert!(!o.stdout.contains("rtr journal salvage"), "no salvage hint for what it cannot repair: {o:?}");
    let o = rtr(&["journal", "salvage", s(&dir), "--force"]);
    assert_eq!(o.code, EXIT_CORRUPT, "{o:?}");
    assert!(o.stderr.contains(&format!("cannot salvage {} at offset 0", seg1.display())), "{o:?}");
    assert_eq!(std::fs::read(&seg1).unwrap(), before);
    assert_eq!(journal::scan(&dir).unwrap().epoch, Some(2));
}

/// A process whose stderr lines arrive on a channel; killed when dropped.
struct Logged {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn every_cut_is_logged_with_file_offset_and_bytes_by_the_node_and_by_takeover() {
    use std::io::BufRead;
    let d = tempfile::tempdir().unwrap();
    let node_dir = d.path().join("node");
    let dir = node_dir.join("journal");
    drop(node_like(&dir));
    let scan = journal::scan(&dir).unwrap();
    let last = scan.segments.last().unwrap().clone();
    // A torn write after the last record.
    let f = std::fs::OpenOptions::new().write(true).open(&last.path).unwrap();
    f.write_all_at(&[0x40, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3], last.data_end).unwrap();
    drop(f);
    let copy = d.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let want = format!(
        "cut a torn tail off {} at offset {} ({} bytes zeroed to the end of the file)",
        last.path.display(),
        last.data_end,
        last.file_bytes - last.data_end
    );

    let sock = d.path().join("n.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtr"))
        .args(["start", "--foreground", "--dir", s(&node_dir), "--socket", s(&sock)])
        .env_remove("RTR_NODE_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let node = Logged { child, lines };
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains(" ready on ")) {
        match node.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => seen.push(l),
            Err(_) => panic!("the node did not get ready within {WAIT:?}: {seen:?}"),
        }
    }
    drop(node);
    let logged =
        seen.iter().find(|l| l.contains("journal recovery cut a torn tail")).unwrap_or_else(|| panic!("{seen:?}"));
    assert!(logged.contains(&want), "{logged}");

    let o = rtr(&["journal", "takeover", s(&copy), "--force"]);
    assert_eq!(o.code, 0, "{o:?}");
    let copy_seg = copy.join(last.path.file_name().unwrap());
    assert!(
        o.stdout.contains(&want.replace(&last.path.display().to_string(), &copy_seg.display().to_string())),
        "{o:?}"
    );
}
