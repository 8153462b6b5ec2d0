//! Journal ownership across processes: two processes racing for one journal
//! never both own it, and an owner stopped with SIGSTOP while another takes
//! over with `Takeover::Force` acknowledges nothing afterwards and recovery
//! sees none of its late writes.
//!
//! The child processes are this test binary re-run with `--exact child` and
//! a role in the environment; every wait is bounded and children are killed
//! on failure.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver};
use rtr_core::journal::{self, JournalConfig, JournalError, RecordKind, Takeover};
use rtr_core::Tid;

const ROLE: &str = "RTR_JOURNAL_CHILD_ROLE";
const DIR: &str = "RTR_JOURNAL_CHILD_DIR";
const WAIT: Duration = Duration::from_secs(30);

fn cfg(dir: &Path) -> JournalConfig {
    JournalConfig { dir: dir.to_path_buf(), segment_bytes: 1 << 20, max_segments: 8 }
}

/// A child process whose `@@`-prefixed stdout lines arrive on a channel;
/// killed if still running when dropped.
struct Kid {
    child: Child,
    lines: Receiver<String>,
}

impl Kid {
    fn spawn(role: &str, dir: &Path) -> Kid {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(DIR, dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                // The harness may print "test child ... " before our first line.
                if let Some(at) = line.find("@@") {
                    let _ = tx.send(line[at + 2..].to_string());
                }
            }
        });
        Kid { child, lines }
    }

    fn next(&self) -> String {
        self.lines.recv_timeout(WAIT).expect("child said nothing in time")
    }

    fn wait_exit(&mut self) {
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "child did not exit in time");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) takes plain integers; `pid` is our own child, not yet reaped.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_for_file(p: &Path) {
    let deadline = Instant::now() + WAIT;
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The child side. Does nothing when run as an ordinary test.
#[test]
fn child() {
    let (Ok(role), Some(dir)) = (std::env::var(ROLE), std::env::var_os(DIR)) else {
        return;
    };
    let dir = PathBuf::from(dir);
    match role.as_str() {
        "race" => race_child(&dir),
        "stale" => stale_child(&dir),
        "hold" => {
            let (_j, _) = journal::open(&cfg(&dir), Takeover::Normal).unwrap();
            println!("@@holding");
            // Killed by the parent; never outlives it by much.
            std::thread::sleep(WAIT);
        }
        other => panic!("unknown role {other}"),
    }
}

/// Waits for `go`, opens normally, says WON or LOCKED; a winner holds the
/// journal until `release` appears.
fn race_child(dir: &Path) {
    println!("@@READY");
    wait_for_file(&dir.join("go"));
    match journal::open(&cfg(dir), Takeover::Normal) {
        Ok((j, _)) => {
            println!("@@WON");
            wait_for_file(&dir.join("release"));
            drop(j);
        }
        Err(JournalError::Locked { .. }) => println!("@@LOCKED"),
        Err(e) => println!("@@ERROR {e}"),
    }
}

/// Owns the journal and appends from 4 threads, reporting every outcome.
/// After its first failure each thread makes one more append, then stops.
/// The payload says whether the `continued` file existed when the append
/// was made (i.e. it was made after the parent's takeover and SIGCONT).
fn stale_child(dir: &Path) {
    let (j, r) = journal::open(&cfg(dir), Takeover::Normal).unwrap();
    println!("@@OPEN {}", r.epoch);
    let continued = dir.join("continued");
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let j = j.clone();
            let continued = &continued;
            s.spawn(move || {
                let mut failed = false;
                for n in 0u64..1_000_000 {
                    let post = continued.exists();
                    let payload = format!("{t}:{n}:{post}");
                    let tid = Tid { node: 9, incarnation: 1, conn: t, seq: n };
                    match j.append_wait(vec![(tid, RecordKind::Msg, payload.clone().into_bytes())], true) {
                        Ok(()) => println!("@@ACK {payload}"),
                        Err(e) => {
                            let fenced = matches!(e, JournalError::Fenced { .. });
                            println!("@@FAIL {payload} {fenced} {e}");
                            if failed {
                                return;
                            }
                            failed = true;
                        }
                    }
                }
            });
        }
    });
    println!("@@DONE");
}

#[test]
fn two_processes_racing_for_a_journal_never_both_own_it() {
    for round in 0..3 {
        let d = tempfile::tempdir().unwrap();
        journal::create(&cfg(d.path())).unwrap();
        let mut kids = [Kid::spawn("race", d.path()), Kid::spawn("race", d.path())];
        for k in &kids {
            assert_eq!(k.next(), "READY");
        }
        std::fs::write(d.path().join("go"), b"").unwrap();
        let mut results: Vec<String> = kids.iter().map(|k| k.next()).collect();
        results.sort();
        assert_eq!(results, ["LOCKED", "WON"], "round {round}");
        std::fs::write(d.path().join("release"), b"").unwrap();
        for k in &mut kids {
            k.wait_exit();
        }
    }
}

#[test]
fn a_stopped_owner_taken_over_by_force_acknowledges_nothing_more() {
    let d = tempfile::tempdir().unwrap();
    journal::create(&cfg(d.path())).unwrap();
    let mut a = Kid::spawn("stale", d.path());
    assert_eq!(a.next(), "OPEN 1");
    let mut lines = Vec::new();
    while lines.iter().filter(|l: &&String| l.starts_with("ACK")).count() < 50 {
        lines.push(a.next());
    }
    a.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(100));

    // The lock is held by the stopped process: only a forced open succeeds.
    assert!(matches!(journal::open(&cfg(d.path()), Takeover::Normal), Err(JournalError::Locked { .. })));
    let (b, rb) = journal::open(&cfg(d.path()), Takeover::Force).unwrap();
    assert_eq!(rb.epoch, 2);
    b.append_wait(vec![(Tid::default(), RecordKind::Msg, b"b".to_vec())], true).unwrap();

    std::fs::write(d.path().join("continued"), b"").unwrap();
    a.signal(libc::SIGCONT);
    loop {
        let l = a.next();
        if l == "DONE" {
            break;
        }
        lines.push(l);
    }
    a.wait_exit();
    drop(b);

    let (_c, rc) = journal::open(&cfg(d.path()), Takeover::Normal).unwrap();
    let recovered: HashSet<String> = rc.records.iter().map(|r| String::from_utf8(r.payload.clone()).unwrap()).collect();
    assert!(recovered.contains("b"));
    let mut acked = HashSet::new();
    let mut failed = HashSet::new();
    let mut post_attempts = 0;
    for l in &lines {
        let mut w = l.split(' ');
        let (what, payload) = (w.next().unwrap(), w.next().unwrap().to_string());
        let post = payload.ends_with(":true");
        post_attempts += post as usize;
        match what {
            "ACK" => {
                assert!(!post, "an append made after the takeover was acknowledged: {l}");
                acked.insert(payload);
            }
            "FAIL" => {
                if post {
                    assert_eq!(w.next(), Some("true"), "not refused as fenced: {l}");
                }
                failed.insert(payload);
            }
            _ => panic!("unexpected line {l}"),
        }
    }
    eprintln!(
        "stale owner: {} acknowledged, {} failed ({post_attempts} made after the takeover), {} of the failed were in the sealed history",
        acked.len(),
        failed.len(),
        failed.iter().filter(|p| recovered.contains(*p)).count()
    );
    assert!(post_attempts >= 4, "every thread tries once after the takeover");
    // Nothing acknowledged is lost.
    for p in &acked {
        assert!(recovered.contains(p), "acknowledged {p} was lost");
    }
    // Nothing made after the takeover is recovered, and nothing unknown is.
    for p in recovered.iter().filter(|p| *p != "b") {
        assert!(!p.ends_with(":true"), "a write made after the takeover was recovered: {p}");
        assert!(acked.contains(p) || failed.contains(p), "unknown record {p}");
    }
}

/// A second process is told which process holds the journal (its pid and
/// name), and is not advised to force a takeover of a live owner.
#[test]
fn the_lock_refusal_names_the_holding_process() {
    let d = tempfile::tempdir().unwrap();
    journal::create(&cfg(d.path())).unwrap();
    let owner = Kid::spawn("hold", d.path());
    assert_eq!(owner.next(), "holding");
    let e = journal::open(&cfg(d.path()), Takeover::Normal).expect_err("the other process holds the lock");
    let pid = owner.child.id();
    assert!(matches!(e, JournalError::Locked { holder: Some(p), .. } if p == pid), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&format!("process {pid} (")), "{text}");
    assert!(!text.contains("force"), "{text}");
}
