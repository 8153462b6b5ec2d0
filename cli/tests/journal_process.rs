//! The journal's ownership rules across real processes, driven through the
//! `rtr` executable: its hidden `rtr journal writer` helper (owns a journal
//! and appends synced records, printing `OPEN epoch=E`, `ACK n`, `FAIL n
//! <why>`) and the operator's `rtr journal takeover --force`.
//!
//! - a stale owner: A appends in a loop, is stopped with SIGSTOP, B takes
//!   over with `rtr journal takeover --force`, A is continued: every write A
//!   attempts afterwards fails and A exits with the fenced code; recovery has
//!   every record A acknowledged and none A wrote past the seal;
//! - two processes racing for ownership, many rounds: never both win (with
//!   the lock; and with `--force` on both sides, never the same epoch twice
//!   and nothing acknowledged is lost);
//! - a full journal: with a small cap, and (when this runs as root and can
//!   mount one) on a 1 MiB tmpfs: new records are refused with the
//!   journal-full code, every acknowledged record stays intact.
//!
//! Every wait is bounded; children are killed when a test fails (`Kid`).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rtr_core::journal::{self, JournalConfig, RecordKind, Takeover};

const WAIT: Duration = Duration::from_secs(60);
const EXIT_LOCKED: i32 = 10;
const EXIT_FENCED: i32 = 11;
const EXIT_FULL: i32 = 12;
const EXIT_JOURNAL_ERROR: i32 = 13;

/// A child `rtr` whose stdout lines (and stderr lines, prefixed `stderr: `)
/// arrive on a channel; killed and reaped if still running when dropped.
struct Kid {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdin: Option<ChildStdin>,
    seen: Vec<String>,
}

impl Kid {
    fn spawn(args: &[&str]) -> Kid {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rtr"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rtr");
        let (tx, lines) = mpsc::channel();
        fn pump(r: impl Read + Send + 'static, tx: mpsc::Sender<String>, prefix: &'static str) {
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    let _ = tx.send(format!("{prefix}{l}"));
                }
            });
        }
        pump(child.stdout.take().unwrap(), tx.clone(), "");
        pump(child.stderr.take().unwrap(), tx, "stderr: ");
        let stdin = child.stdin.take();
        Kid { child, lines, stdin, seen: Vec::new() }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The next line, waiting at most `WAIT`.
    fn line(&mut self) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(l) => {
                self.seen.push(l.clone());
                l
            }
            Err(_) => panic!("no output from rtr within {WAIT:?}; so far: {:?}", self.seen),
        }
    }

    /// Reads lines until one satisfies `f` (bounded by `WAIT` overall).
    fn until(&mut self, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if f(&l) {
                        return l;
                    }
                }
                Err(_) => panic!("expected line did not come within {WAIT:?}; so far: {:?}", self.seen),
            }
        }
    }

    fn send(&mut self, s: &str) {
        let w = self.stdin.as_mut().expect("stdin open");
        w.write_all(s.as_bytes()).and_then(|()| w.flush()).expect("write to child");
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the exit (bounded); returns the code and all lines seen.
    fn finish(mut self) -> (i32, Vec<String>) {
        self.close_stdin();
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "rtr did not exit within {WAIT:?}; output {:?}", self.seen);
            std::thread::sleep(Duration::from_millis(5));
        };
        while let Ok(l) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            self.seen.push(l);
        }
        (status.code().unwrap_or(-1), std::mem::take(&mut self.seen))
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn create(dir: &Path) {
    journal::create(&JournalConfig { dir: dir.to_path_buf(), ..JournalConfig::default() }).unwrap();
}

/// `ACK n` / `FAIL n ...` / `OPEN epoch=E ...` parsing.
fn num_after(line: &str, prefix: &str) -> Option<u64> {
    line.strip_prefix(prefix)?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid of a child this test spawned and has not
    // reaped (the Kid still owns it); no memory is involved.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}) failed: {}", std::io::Error::last_os_error());
}

fn json(out: &[String]) -> serde_json::Value {
    let line = out.iter().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON in {out:?}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line}: {e}"))
}

fn run(args: &[&str]) -> (i32, Vec<String>) {
    Kid::spawn(args).finish()
}

#[test]
fn a_stopped_owner_taken_over_by_force_acknowledges_nothing_after_and_recovery_ignores_its_late_writes() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    create(&dir);
    let mut a = Kid::spawn(&[
        "journal",
        "writer",
        s(&dir),
        "--forever",
        "--tries-after-failure",
        "5",
        "--node",
        "1",
        "--segment-bytes",
        "65536",
        "--max-segments",
        "1000",
    ]);
    let open = a.line();
    let a_epoch = num_after(&open, "OPEN epoch=").unwrap_or_else(|| panic!("{open}"));
    a.until(|l| l == "ACK 50");

    signal(a.pid(), libc::SIGSTOP);
    // A stopped owner still holds its lock.
    let (code, out) = run(&["journal", "show", s(&dir), "--json"]);
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(json(&out)["lock"]["state"], "held", "{out:?}");
    let (code, out) = run(&["journal", "takeover", s(&dir), "--force", "--json"]);
    assert_eq!(code, 0, "{out:?}");
    let t = json(&out);
    assert_eq!(t["old_epoch"].as_u64(), Some(a_epoch), "{t}");
    assert_eq!(t["new_epoch"].as_u64(), Some(a_epoch + 1), "{t}");
    assert_eq!(t["lock_before"], "held", "{t}");
    let seal = (t["seal"]["segment"].as_u64().unwrap(), t["seal"]["offset"].as_u64().unwrap());
    assert_eq!(t["seal"]["epoch"].as_u64(), Some(a_epoch));
    signal(a.pid(), libc::SIGCONT);

    let (code, lines) = a.finish();
    assert_eq!(code, EXIT_FENCED, "A must exit with the fenced code: {lines:?}");
    let acked: Vec<u64> = lines.iter().filter_map(|l| num_after(l, "ACK ")).collect();
    let failed: Vec<u64> = lines.iter().filter_map(|l| num_after(l, "FAIL ")).collect();
    let first_fail = lines.iter().position(|l| l.starts_with("FAIL ")).expect("A saw a failure");
    assert!(!lines[first_fail..].iter().any(|l| l.starts_with("ACK ")), "A acknowledged after being fenced: {lines:?}");
    assert_eq!(failed.len(), 6, "every attempt after the fence fails: {lines:?}");
    assert!(lines.iter().filter(|l| l.starts_with("FAIL ")).all(|l| l.contains(" fenced ")), "{lines:?}");
    assert_eq!(acked, (1..=acked.len() as u64).collect::<Vec<_>>());
    assert!(acked.len() >= 50);

    // What is on disk: A's records at or past the seal are stale.
    let scan = journal::scan(&dir).unwrap();
    let mut post_seal = HashSet::new();
    for e in scan.entries.iter().filter(|e| e.record.tid.node == 1 && e.record.epoch == a_epoch) {
        if (e.segment, e.offset) >= seal {
            assert!(e.stale, "a record of A past the seal is not marked stale: {e:?}");
            post_seal.insert(e.record.tid.seq);
        } else {
            assert!(!e.stale, "{e:?}");
        }
    }
    // Recovery (a new owner) sees all of A's acknowledged records and none past the seal.
    let cfg = JournalConfig { dir: dir.clone(), segment_bytes: 65536, max_segments: 1000 };
    let (j, rec) = journal::open(&cfg, Takeover::Normal).unwrap();
    drop(j);
    let recovered: HashSet<u64> =
        rec.records.iter().filter(|r| r.tid.node == 1 && r.kind == RecordKind::Msg).map(|r| r.tid.seq).collect();
    for n in &acked {
        assert!(recovered.contains(n), "acknowledged record {n} of A lost");
    }
    for n in &post_seal {
        assert!(!recovered.contains(n), "record {n} A wrote past the seal was recovered");
    }
    for n in failed.iter().skip(1) {
        // Only the batch in flight at the fence may have reached the disk;
        // later attempts must not write at all.
        assert!(!recovered.contains(n) && !post_seal.contains(n), "attempt {n} after the fence was written");
    }
    eprintln!(
        "stale owner: {} acknowledged before the fence, {} failed after it, {} written past the seal and ignored",
        acked.len(),
        failed.len(),
        post_seal.len()
    );
}

/// Starts two writers blocked on a start signal, releases both at once and
/// returns their first lines.
fn race_round(dir: &Path, force: bool) -> [(Kid, String); 2] {
    let mk = |node: &str| {
        let mut args = vec![
            "journal",
            "writer",
            s(dir),
            "--wait-go",
            "--hold",
            "--count",
            "3",
            "--node",
            node,
            "--segment-bytes",
            "65536",
            "--max-segments",
            "64",
        ];
        if force {
            args.push("--force");
        }
        Kid::spawn(&args)
    };
    let (mut a, mut b) = (mk("1"), mk("2"));
    // Both are started; give them a moment to reach the read, then go.
    std::thread::sleep(Duration::from_millis(20));
    a.send("go\n");
    b.send("go\n");
    let la = a.line();
    let lb = b.line();
    [(a, la), (b, lb)]
}

#[test]
fn two_processes_racing_for_the_lock_never_both_win() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    create(&dir);
    let rounds = 20;
    for round in 1..=rounds {
        let [(mut a, la), (mut b, lb)] = race_round(&dir, false);
        let won: Vec<bool> = [&la, &lb].iter().map(|l| l.starts_with("OPEN ")).collect();
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "round {round}: {la} / {lb}");
        // The winner's appends succeed while it holds the journal.
        let winner = if won[0] { &mut a } else { &mut b };
        winner.until(|l| l == "ACK 3");
        let (ca, oa) = a.finish();
        let (cb, ob) = b.finish();
        let mut codes = [ca, cb];
        codes.sort();
        assert_eq!(codes, [0, EXIT_LOCKED], "round {round}: {oa:?} {ob:?}");
    }
    // Exactly one owner per round took an epoch.
    assert_eq!(journal::scan(&dir).unwrap().epoch, Some(rounds));
}

#[test]
fn two_processes_forcing_at_once_never_share_an_epoch_and_lose_nothing() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    create(&dir);
    let mut acked: Vec<(u32, u64, u64)> = Vec::new();
    for round in 1..=20 {
        let [(a, la), (b, lb)] = race_round(&dir, true);
        let ea = num_after(&la, "OPEN epoch=");
        let eb = num_after(&lb, "OPEN epoch=");
        if let (Some(x), Some(y)) = (ea, eb) {
            assert_ne!(x, y, "round {round}: both forced owners took epoch {x}");
        }
        for (node, kid, e) in [(1u32, a, ea), (2, b, eb)] {
            let (_, lines) = kid.finish();
            for l in &lines {
                if let (Some(n), Some(e)) = (num_after(l, "ACK "), e) {
                    acked.push((node, e, n));
                }
            }
        }
    }
    let cfg = JournalConfig { dir: dir.clone(), segment_bytes: 65536, max_segments: 100 };
    let (j, rec) = journal::open(&cfg, Takeover::Normal).unwrap();
    drop(j);
    let got: HashSet<(u32, u64, u64)> =
        rec.records.iter().map(|r| (r.tid.node, u64::from(r.tid.incarnation), r.tid.seq)).collect();
    for a in &acked {
        assert!(got.contains(a), "acknowledged {a:?} lost");
    }
}

fn scan_acked_intact(dir: &Path, node: u32, acked: &[u64]) {
    let scan = journal::scan(dir).unwrap();
    assert!(!scan.is_corrupt(), "{:?}", scan.problems);
    let on_disk: HashSet<u64> =
        scan.entries.iter().filter(|e| e.record.tid.node == node).map(|e| e.record.tid.seq).collect();
    for n in acked {
        assert!(on_disk.contains(n), "acknowledged record {n} missing");
    }
}

fn recovered_seqs(dir: &Path, segment_bytes: u64, max_segments: u32, node: u32) -> HashSet<u64> {
    let cfg = JournalConfig { dir: dir.to_path_buf(), segment_bytes, max_segments };
    let (j, rec) = journal::open(&cfg, Takeover::Normal).unwrap();
    drop(j);
    rec.records.iter().filter(|r| r.tid.node == node).map(|r| r.tid.seq).collect()
}

#[test]
fn a_full_journal_refuses_new_records_and_keeps_old_ones() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("j");
    create(&dir);
    let (code, lines) = run(&[
        "journal",
        "writer",
        s(&dir),
        "--forever",
        "--tries-after-failure",
        "3",
        "--segment-bytes",
        "65536",
        "--max-segments",
        "3",
    ]);
    assert_eq!(code, EXIT_FULL, "{lines:?}");
    let acked: Vec<u64> = lines.iter().filter_map(|l| num_after(l, "ACK ")).collect();
    let fails: Vec<&String> = lines.iter().filter(|l| l.starts_with("FAIL ")).collect();
    assert_eq!(fails.len(), 4, "{lines:?}");
    assert!(fails.iter().all(|l| l.contains(" full ")), "{lines:?}");
    // Two usable segments of 64 KiB (one is the reserve): hundreds of records.
    assert!(acked.len() > 500, "{}", acked.len());
    scan_acked_intact(&dir, 1, &acked);
    let (code, out) = run(&["journal", "verify", s(&dir)]);
    assert_eq!(code, 0, "{out:?}");
    // Reopening (which may add one segment past the cap) keeps everything.
    let got = recovered_seqs(&dir, 65536, 3, 1);
    for n in &acked {
        assert!(got.contains(n), "acknowledged record {n} lost after reopening a full journal");
    }
}

/// A tmpfs mounted for the test; unmounted (lazily) when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, size: &str) -> Option<Mount> {
    // SAFETY: geteuid has no preconditions and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", s(at)])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    ok.then(|| Mount(at.to_path_buf()))
}

#[test]
fn a_full_file_system_refuses_new_records_and_keeps_old_ones() {
    let d = tempfile::tempdir().unwrap();
    let mnt = d.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let Some(guard) = mount_tmpfs(&mnt, "1m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); the size-cap test covers journal-full");
        return;
    };
    let dir = mnt.join("j");
    create(&dir);
    // 256 KiB segments with a cap of 64: the 1 MiB file system fills first.
    let seg = "262144";
    let (code, lines) = run(&[
        "journal",
        "writer",
        s(&dir),
        "--forever",
        "--tries-after-failure",
        "2",
        "--segment-bytes",
        seg,
        "--max-segments",
        "64",
    ]);
    assert_eq!(code, EXIT_FULL, "ENOSPC while adding a segment is journal-full: {lines:?}");
    let acked: Vec<u64> = lines.iter().filter_map(|l| num_after(l, "ACK ")).collect();
    assert!(acked.len() > 1000, "{}", acked.len());
    scan_acked_intact(&dir, 1, &acked);
    // Opening needs room for a new segment: on the full file system it fails
    // cleanly, harming nothing...
    let (code, out) = run(&["journal", "writer", s(&dir), "--segment-bytes", seg]);
    assert_eq!(code, EXIT_JOURNAL_ERROR, "{out:?}");
    assert!(out.iter().any(|l| l.contains("No space left")), "{out:?}");
    scan_acked_intact(&dir, 1, &acked);
    // ...and once the file system has room again, every acknowledged record is recovered.
    let grown = Command::new("mount").args(["-o", "remount,size=4m", s(&mnt)]).status().unwrap();
    assert!(grown.success());
    let got = recovered_seqs(&dir, 262144, 64, 1);
    for n in &acked {
        assert!(got.contains(n), "acknowledged record {n} lost");
    }
    drop(guard);
}
