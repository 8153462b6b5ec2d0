//! The shared-root provider against the in-memory provider's scenarios
//! (`authority/tests.rs`), on real files with two handles in one process
//! acting as two nodes (the locks belong to open files), then what only
//! files have: torn and unknown files, I/O errors, crashes on the simulated
//! device, pruning, racing claimers (and one that acts at a chosen moment,
//! through a hooked device). The multi-process case (a holder killed
//! with SIGKILL) is `core/tests/authority_process.rs`.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use super::*;
use crate::journal::storage::{RealFs, SimFs};

fn grant(epoch: u64, holder: &str) -> Grant {
    Grant { epoch, holder: holder.into(), released: false, forced: false }
}

fn range_dir(root: &Path) -> PathBuf {
    root.join(ROLES_DIR).join("r")
}

fn grant_path(root: &Path, epoch: u64) -> PathBuf {
    range_dir(root).join(numbered_name(GRANT_PREFIX, epoch))
}

/// A claim whose holder, when granted, exercises the grant at once (marks
/// it `active`), as a node does once it has recovered what it must.
fn claim_used(h: &mut SharedRoot, range: &str, force_over: Option<u64>) -> Result<Claim, AuthorityError> {
    let c = h.claim(range, force_over);
    if let Ok(Claim::Granted { epoch, .. }) = &c {
        h.activate(range, *epoch)?;
    }
    c
}

fn granted(c: Result<Claim, AuthorityError>) -> (u64, Option<Grant>) {
    match c {
        Ok(Claim::Granted { epoch, previous }) => (epoch, previous),
        other => panic!("expected a grant, got {other:?}"),
    }
}

#[test]
fn one_holder_per_range_until_its_process_ends() {
    let d = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (SharedRoot::new(d.path(), "a"), SharedRoot::new(d.path(), "b"));
    assert_eq!(a.describe(), format!("shared root {}", d.path().display()));
    assert_eq!(claim_used(&mut a, "r", None).unwrap(), Claim::Granted { epoch: 1, previous: None });
    // Claimed again by its holder: the same grant, harmlessly.
    assert_eq!(claim_used(&mut a, "r", None).unwrap(), Claim::Granted { epoch: 1, previous: None });
    assert_eq!(claim_used(&mut b, "r", None).unwrap(), Claim::Held(grant(1, "a")));
    assert_eq!(b.current("r").unwrap(), Some(grant(1, "a")));
    // Its process ends: the kernel drops the lock, the grant stays.
    drop(a);
    assert_eq!(claim_used(&mut b, "r", None).unwrap(), Claim::Granted { epoch: 2, previous: Some(grant(1, "a")) });
    // The old holder, restarted, finds a newer holder alive.
    let mut a = SharedRoot::new(d.path(), "a");
    assert_eq!(claim_used(&mut a, "r", None).unwrap(), Claim::Held(grant(2, "b")));
    // Ranges are independent.
    assert_eq!(claim_used(&mut a, "other", None).unwrap(), Claim::Granted { epoch: 1, previous: None });
}

#[test]
fn a_released_grant_passes_on_without_recovery_and_a_forced_one_fences_by_epoch() {
    let d = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (SharedRoot::new(d.path(), "a"), SharedRoot::new(d.path(), "b"));
    claim_used(&mut a, "r", None).unwrap();
    a.release("r", 1).unwrap();
    assert!(range_dir(d.path()).join(numbered_name(RELEASED_PREFIX, 1)).exists());
    let (2, Some(p)) = granted(claim_used(&mut b, "r", None)) else { panic!() };
    assert!(p.released && p.holder == "a");
    // a claims over b by force: only over the newest epoch.
    assert_eq!(claim_used(&mut a, "r", Some(1)).unwrap(), Claim::Held(grant(2, "b")));
    let (3, Some(p)) = granted(claim_used(&mut a, "r", Some(2))) else { panic!() };
    assert_eq!(p, grant(2, "b"));
    assert_eq!(a.current("r").unwrap(), Some(Grant { forced: true, ..grant(3, "a") }));
    // b still has the lock, so a plain claim waits for it.
    let mut c = SharedRoot::new(d.path(), "c");
    assert!(matches!(claim_used(&mut c, "r", None).unwrap(), Claim::Held(Grant { epoch: 3, .. })));
    // b learns it lost the role, once, and lets the lock go; a takes it.
    assert_eq!(b.maintain(), vec![("r".to_string(), 2)]);
    assert!(b.maintain().is_empty(), "reported once");
    assert!(a.maintain().is_empty());
    // Had a not taken the lock, c would now win epoch 4 over a live holder.
    assert!(matches!(claim_used(&mut c, "r", None).unwrap(), Claim::Held(Grant { epoch: 3, .. })));
    drop(b);
    assert!(matches!(claim_used(&mut c, "r", None).unwrap(), Claim::Held(Grant { epoch: 3, .. })));
    // a's process ends: nobody else kept the lock.
    drop(a);
    let (4, Some(p)) = granted(claim_used(&mut c, "r", None)) else { panic!() };
    assert_eq!(p, Grant { forced: true, ..grant(3, "a") });
}

/// `holder_gone` on files: the forced-out holder's grant lock is held
/// until it finds the newer grant (or its process ends), and a check that
/// takes the lock lets it go at once, so it never blocks anyone.
#[test]
fn a_forced_out_holder_is_gone_once_it_lets_its_grants_lock_go() {
    let d = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (SharedRoot::new(d.path(), "a"), SharedRoot::new(d.path(), "b"));
    claim_used(&mut a, "r", None).unwrap();
    let (2, _) = granted(b.claim("r", Some(1))) else { panic!() };
    assert!(!b.holder_gone("r", 1).unwrap(), "a still holds grant 1's lock");
    assert_eq!(a.maintain(), vec![("r".to_string(), 1)]);
    assert!(b.holder_gone("r", 1).unwrap());
    assert!(b.holder_gone("r", 1).unwrap(), "the check did not keep the lock");
    // No lock file, no range: nobody holds it.
    assert!(b.holder_gone("r", 9).unwrap() && b.holder_gone("other", 1).unwrap());
    // A process that ends lets its lock go as well.
    let mut c = SharedRoot::new(d.path(), "c");
    let (3, _) = granted(c.claim("r", Some(2))) else { panic!() };
    assert!(!c.holder_gone("r", 2).unwrap());
    drop(b);
    assert!(c.holder_gone("r", 2).unwrap());
    // A root that cannot be listed says nothing.
    let gone = SharedRoot::new(&d.path().join("missing"), "c").holder_gone("r", 1);
    assert!(matches!(gone, Err(AuthorityError::Unreachable(_))), "{gone:?}");
}

#[test]
fn a_root_that_cannot_be_listed_is_unreachable_and_is_never_created() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("not-mounted");
    let mut a = SharedRoot::new(&root, "a");
    assert!(matches!(claim_used(&mut a, "r", None), Err(AuthorityError::Unreachable(_))));
    assert!(matches!(a.current("r"), Err(AuthorityError::Unreachable(_))));
    assert!(!root.exists(), "the root was created");
    fs::write(&root, b"a file").unwrap();
    assert!(matches!(claim_used(&mut a, "r", None), Err(AuthorityError::Unreachable(_))));
    fs::remove_file(&root).unwrap();
    fs::create_dir(&root).unwrap();
    assert_eq!(claim_used(&mut a, "r", None).unwrap(), Claim::Granted { epoch: 1, previous: None });
    // The root goes away under a holder: nothing can be said yet.
    fs::rename(&root, d.path().join("elsewhere")).unwrap();
    assert!(a.maintain().is_empty());
    assert!(matches!(a.current("r"), Err(AuthorityError::Unreachable(_))));
    fs::rename(d.path().join("elsewhere"), &root).unwrap();
    assert!(a.maintain().is_empty());
    assert_eq!(claim_used(&mut a, "r", None).unwrap(), Claim::Granted { epoch: 1, previous: None });
}

#[test]
fn io_errors_and_bad_range_ids_fail_with_what_they_were() {
    let d = tempfile::tempdir().unwrap();
    let mut a = SharedRoot::new(d.path(), "a");
    for bad in ["", ".", "..", "a/b", "a\0b"] {
        let Err(AuthorityError::Failed(why)) = claim_used(&mut a, bad, None) else { panic!("{bad:?}") };
        assert!(why.contains("not a range id"), "{why}");
        assert!(matches!(a.current(bad), Err(AuthorityError::Failed(_))));
        assert!(a.release(bad, 1).is_ok(), "not held: nothing to do");
    }
    // `roles` is a file: the range directory cannot be made.
    fs::write(d.path().join(ROLES_DIR), b"").unwrap();
    let Err(AuthorityError::Failed(why)) = claim_used(&mut a, "r", None) else { panic!() };
    assert!(why.contains(ROLES_DIR), "{why}");
    fs::remove_file(d.path().join(ROLES_DIR)).unwrap();
    // The newest grant cannot be read (a directory).
    fs::create_dir_all(grant_path(d.path(), 4)).unwrap();
    let Err(AuthorityError::Failed(why)) = a.current("r") else { panic!() };
    assert!(why.contains(&numbered_name(GRANT_PREFIX, 4)), "{why}");
    assert!(matches!(claim_used(&mut a, "r", None), Err(AuthorityError::Failed(_))));
    // A node name too long for a grant is refused before anything is made.
    fs::remove_dir(grant_path(d.path(), 4)).unwrap();
    let mut long = SharedRoot::new(d.path(), &"n".repeat(70_000));
    assert!(matches!(claim_used(&mut long, "r", None), Err(AuthorityError::Failed(_))));
    assert_eq!(a.current("r").unwrap(), None);
    assert_eq!(claim_used(&mut a, "r", None).unwrap(), Claim::Granted { epoch: 1, previous: None });
}

#[test]
fn a_grant_file_never_parses_torn_or_damaged() {
    let b = encode_grant(7, "node-a", true).unwrap();
    assert_eq!(decode_grant(&b, 7).unwrap(), ("node-a".to_string(), true));
    assert_eq!(decode_grant(&encode_grant(1, "", false).unwrap(), 1).unwrap(), (String::new(), false));
    for len in 0..b.len() {
        assert!(decode_grant(&b[..len], 7).is_err(), "torn at {len}");
    }
    for bit in 0..b.len() * 8 {
        let mut d = b.clone();
        d[bit / 8] ^= 1 << (bit % 8);
        assert!(decode_grant(&d, 7).is_err(), "bit {bit} flipped");
    }
    // Another epoch's file, an unknown version (with a valid checksum).
    assert!(decode_grant(&b, 8).is_err());
    let mut v2 = b.clone();
    v2[4] = 2;
    let n = v2.len() - 4;
    let crc = crc32c::crc32c(&v2[..n]).to_le_bytes();
    v2[n..].copy_from_slice(&crc);
    assert!(decode_grant(&v2, 7).is_err());
}

#[test]
fn a_torn_grant_takes_its_epoch_and_its_holder_is_unknown() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(range_dir(d.path())).unwrap();
    fs::write(grant_path(d.path(), 1), &encode_grant(1, "a", false).unwrap()[..10]).unwrap();
    let mut b = SharedRoot::new(d.path(), "b");
    assert_eq!(b.current("r").unwrap(), Some(grant(1, "")));
    // While someone holds its lock (its claimer may be writing it): held.
    let lock = try_lock_file(&RealFs, &range_dir(d.path()).join(numbered_name(LOCK_PREFIX, 1))).unwrap().unwrap();
    assert_eq!(claim_used(&mut b, "r", None).unwrap(), Claim::Held(grant(1, "")));
    drop(lock);
    // Once the lock is free: the next epoch. A torn grant was never
    // exercised (its claimer died before it could), so it left no work and
    // is no `previous`: nothing to recover, nobody to guess.
    assert_eq!(claim_used(&mut b, "r", None).unwrap(), Claim::Granted { epoch: 2, previous: None });
    assert!(grant_path(d.path(), 1).exists(), "the torn grant's number stays taken");
    // Exercised, then torn (a damaged disk): its holder is unknown.
    fs::write(grant_path(d.path(), 2), b"junk").unwrap();
    drop(b);
    let mut c = SharedRoot::new(d.path(), "c");
    assert_eq!(claim_used(&mut c, "r", None).unwrap(), Claim::Granted { epoch: 3, previous: Some(grant(2, "")) });
    // A torn grant that was released needs no recovery.
    c.release("r", 3).unwrap();
    fs::write(grant_path(d.path(), 3), b"junk").unwrap();
    let mut e = SharedRoot::new(d.path(), "e");
    let (4, Some(p)) = granted(claim_used(&mut e, "r", None)) else { panic!() };
    assert_eq!(p, Grant { released: true, ..grant(3, "") });
}

#[test]
fn names_it_does_not_know_are_ignored() {
    let d = tempfile::tempdir().unwrap();
    let dir = range_dir(d.path());
    fs::create_dir_all(dir.join("grant.x")).unwrap();
    fs::create_dir_all(d.path().join(ROLES_DIR).join("other-range.junk")).unwrap();
    for name in ["grant.1", "grant.abc", "grant.000000000000000000001", "grant.00000000000000000009.tmp", "notes"] {
        fs::write(dir.join(name), b"x").unwrap();
    }
    fs::write(dir.join(format!("{}0", "grant.".repeat(2))), b"").unwrap();
    let mut a = SharedRoot::new(d.path(), "a");
    assert_eq!(a.current("r").unwrap(), None);
    assert_eq!(claim_used(&mut a, "r", None).unwrap(), Claim::Granted { epoch: 1, previous: None });
    assert!(a.maintain().is_empty());
    assert!(dir.join("notes").exists());
}

#[test]
fn release_gives_up_only_this_handles_grant_and_only_while_it_is_the_newest() {
    let d = tempfile::tempdir().unwrap();
    let (mut a, mut b, mut c) =
        (SharedRoot::new(d.path(), "a"), SharedRoot::new(d.path(), "b"), SharedRoot::new(d.path(), "c"));
    claim_used(&mut a, "r", None).unwrap();
    b.release("r", 1).unwrap();
    a.release("r", 7).unwrap();
    assert_eq!(claim_used(&mut c, "r", None).unwrap(), Claim::Held(grant(1, "a")));
    // Forced over: a's release no longer marks anything; a lets the lock go.
    let (2, _) = granted(claim_used(&mut c, "r", Some(1))) else { panic!() };
    a.release("r", 1).unwrap();
    assert!(!range_dir(d.path()).join(numbered_name(RELEASED_PREFIX, 1)).exists());
    assert!(a.maintain().is_empty(), "released grants are not reported lost");
    assert!(c.maintain().is_empty());
    assert!(matches!(claim_used(&mut b, "r", None).unwrap(), Claim::Held(Grant { epoch: 2, forced: true, .. })));
    // c took the lock a let go of: once c's process ends, b wins.
    drop(c);
    assert!(matches!(claim_used(&mut b, "r", None).unwrap(), Claim::Granted { epoch: 3, .. }));
}

#[test]
fn a_holder_whose_grant_vanished_has_lost_it() {
    let d = tempfile::tempdir().unwrap();
    let mut a = SharedRoot::new(d.path(), "a");
    claim_used(&mut a, "r", None).unwrap();
    // An operator removed the range's records: epoch 1 could be given again.
    fs::remove_dir_all(range_dir(d.path())).unwrap();
    assert_eq!(a.maintain(), vec![("r".to_string(), 1)]);
    assert!(a.maintain().is_empty());
}

#[test]
fn old_grants_are_pruned_and_epochs_keep_growing() {
    let d = tempfile::tempdir().unwrap();
    let mut a = SharedRoot::new(d.path(), "a");
    for n in 1..=70 {
        assert_eq!(
            claim_used(&mut a, "r", None).unwrap(),
            Claim::Granted { epoch: n, previous: (n > 1).then(|| Grant { released: true, ..grant(n - 1, "a") }) }
        );
        a.release("r", n).unwrap();
    }
    let names: Vec<String> =
        fs::read_dir(range_dir(d.path())).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    let grants: Vec<u64> = names.iter().filter_map(|n| parse_numbered(GRANT_PREFIX, n)).collect();
    let marks: Vec<u64> = names.iter().filter_map(|n| parse_numbered(RELEASED_PREFIX, n)).collect();
    assert_eq!(grants.iter().min(), Some(&6));
    assert_eq!(grants.len(), 65);
    assert_eq!(marks.iter().min(), Some(&6));
    let mut b = SharedRoot::new(d.path(), "b");
    let (71, Some(p)) = granted(claim_used(&mut b, "r", None)) else { panic!() };
    assert!(p.released && p.holder == "a");
}

#[test]
fn claimers_racing_for_a_range_get_each_epoch_once() {
    for round in 0..5 {
        let d = tempfile::tempdir().unwrap();
        let start = Arc::new(Barrier::new(6));
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let (root, start) = (d.path().to_path_buf(), start.clone());
                std::thread::spawn(move || {
                    let mut me = SharedRoot::new(&root, &format!("n{i}"));
                    start.wait();
                    let answer = claim_used(&mut me, "r", None);
                    (format!("n{i}"), answer, me)
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<&String> =
            results.iter().filter(|(_, c, _)| matches!(c, Ok(Claim::Granted { .. }))).map(|(n, _, _)| n).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {results:?}",
            results = results.iter().map(|r| &r.1).collect::<Vec<_>>()
        );
        for (_, c, _) in &results {
            match c {
                Ok(Claim::Granted { epoch: 1, previous: None }) => {}
                // A loser may read the winner's grant before it is written.
                Ok(Claim::Held(g)) => {
                    assert!(g.epoch == 1 && (g.holder == *winners[0] || g.holder.is_empty()), "{g:?}")
                }
                other => panic!("round {round}: {other:?}"),
            }
        }
    }
}

/// A device with the root `/j` (durable).
fn sim_root() -> (SimFs, PathBuf) {
    let sim = SimFs::new();
    let root = PathBuf::from("/j");
    sim.create_dir_all(&root).unwrap();
    sim.sync_dir(Path::new("/")).unwrap();
    (sim, root)
}

/// A chooser that spells `seed` in the radices it is asked for, so that
/// seeds 0.. run through every combination of small choices.
fn digits(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        let d = seed % n;
        seed /= n;
        d
    }
}

#[test]
fn a_finished_claim_or_release_survives_any_crash() {
    for seed in 0..400 {
        let (sim, root) = sim_root();
        let mut a = SharedRoot::on(sim.storage(), &root, "a");
        claim_used(&mut a, "r", None).unwrap();
        sim.crash(&mut digits(seed));
        let mut b = SharedRoot::on(sim.storage(), &root, "b");
        assert_eq!(
            claim_used(&mut b, "r", None).unwrap(),
            Claim::Granted { epoch: 2, previous: Some(grant(1, "a")) },
            "seed {seed}"
        );
        b.release("r", 2).unwrap();
        sim.crash(&mut digits(seed));
        let mut c = SharedRoot::on(sim.storage(), &root, "c");
        let (3, Some(p)) = granted(claim_used(&mut c, "r", None)) else { panic!("seed {seed}") };
        assert_eq!(p, Grant { released: true, ..grant(2, "b") }, "seed {seed}");
    }
}

#[test]
fn a_claim_that_fails_leaves_nothing_anyone_acts_on_whatever_the_crash() {
    // The claim's write or sync fails, then the machine crashes in
    // one of many ways: the next claimer gets either the first epoch or
    // the second over a grant it need not recover (released) or whose
    // holder is the failed claimer or unknown.
    for fault in ["write", "sync"] {
        for seed in 0..100 {
            let (sim, root) = sim_root();
            let mut a = SharedRoot::on(sim.storage(), &root, "a");
            match fault {
                "write" => sim.fail_next_write(),
                _ => sim.fail_next_sync(),
            }
            let result = claim_used(&mut a, "r", None);
            let Err(AuthorityError::Failed(why)) = &result else { panic!("{fault}: {result:?}") };
            assert!(why.contains("/j/.roles/r/grant."), "{why}");
            sim.crash(&mut digits(seed));
            let mut b = SharedRoot::on(sim.storage(), &root, "b");
            match claim_used(&mut b, "r", None).unwrap() {
                Claim::Granted { epoch: 1, previous: None } => {}
                Claim::Granted { epoch: 2, previous: Some(p) } => {
                    assert!(p.epoch == 1 && !p.forced && (p.holder == "a" || p.holder.is_empty()), "{p:?}")
                }
                other => panic!("{fault} seed {seed}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_claim_whose_grant_did_not_reach_the_disk_marks_it_released() {
    let (sim, root) = sim_root();
    let mut a = SharedRoot::on(sim.storage(), &root, "a");
    sim.fail_next_write();
    let Err(AuthorityError::Failed(why)) = claim_used(&mut a, "r", None) else { panic!() };
    assert!(why.contains(&numbered_name(GRANT_PREFIX, 1)), "{why}");
    // a did not keep the lock and the empty grant needs no recovery.
    let mut b = SharedRoot::on(sim.storage(), &root, "b");
    assert_eq!(
        claim_used(&mut b, "r", None).unwrap(),
        Claim::Granted { epoch: 2, previous: Some(Grant { released: true, ..grant(1, "") }) }
    );
    // A failed sync of the grant: the same.
    let mut c = SharedRoot::on(sim.storage(), &root, "c");
    drop(b);
    sim.fail_next_sync();
    assert!(matches!(claim_used(&mut c, "r", None), Err(AuthorityError::Failed(_))));
    let (4, Some(p)) = granted(claim_used(&mut a, "r", None)) else { panic!() };
    assert!(p.epoch == 3 && p.released && p.holder == "c", "{p:?}");
    // A release that cannot be made durable still gives the role up.
    sim.fail_next_sync();
    let Err(AuthorityError::Failed(why)) = a.release("r", 4) else { panic!() };
    assert!(why.contains(&numbered_name(RELEASED_PREFIX, 4)), "{why}");
    let (5, Some(p)) = granted(claim_used(&mut c, "r", None)) else { panic!() };
    assert_eq!(p.holder, "a");
    assert!(a.maintain().is_empty(), "given up, not lost");
}

#[test]
fn the_lock_is_per_handle_even_for_one_node_name() {
    // A restarted process of the same node while the old one still runs.
    let d = tempfile::tempdir().unwrap();
    let (mut a1, mut a2) = (SharedRoot::new(d.path(), "a"), SharedRoot::new(d.path(), "a"));
    claim_used(&mut a1, "r", None).unwrap();
    assert_eq!(claim_used(&mut a2, "r", None).unwrap(), Claim::Held(grant(1, "a")));
    drop(a1);
    assert_eq!(claim_used(&mut a2, "r", None).unwrap(), Claim::Granted { epoch: 2, previous: Some(grant(1, "a")) });
}

type Hook = Box<dyn FnOnce(&SimFs) + Send>;

/// A simulated device on which another claimer acts at a chosen moment:
/// just before this handle's first exclusive create, or at the first pause
/// for a busy lock. Pauses do not wait; they are counted.
struct Hooked {
    sim: SimFs,
    before_create: Mutex<Option<Hook>>,
    at_pause: Mutex<Option<Hook>>,
    pauses: AtomicU32,
}

impl Hooked {
    fn new(sim: &SimFs, before_create: Option<Hook>, at_pause: Option<Hook>) -> Arc<Hooked> {
        let (before_create, at_pause) = (Mutex::new(before_create), Mutex::new(at_pause));
        Arc::new(Hooked { sim: sim.clone(), before_create, at_pause, pauses: AtomicU32::new(0) })
    }
}

impl Storage for Hooked {
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        self.sim.list(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.sim.create_dir_all(dir)
    }
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        self.sim.canonicalize(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.sim.exists(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.sim.read(path)
    }
    fn open(&self, path: &Path, how: Open, read: bool) -> io::Result<Box<dyn StorageFile>> {
        if how == Open::CreateNew {
            if let Some(hook) = self.before_create.lock().unwrap().take() {
                hook(&self.sim);
            }
        }
        self.sim.open(path, how, read)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.sim.rename(from, to)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.sim.hard_link(from, to)
    }
    fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.sim.copy(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.sim.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.sim.sync_dir(dir)
    }
    fn pause_before_lock_retry(&self) -> bool {
        self.pauses.fetch_add(1, Ordering::Relaxed);
        if let Some(hook) = self.at_pause.lock().unwrap().take() {
            hook(&self.sim);
        }
        true
    }
    fn unique_suffix(&self) -> String {
        self.sim.unique_suffix()
    }
}

/// What another claimer "x" does once it has the lock: create grant 1.
fn x_creates_grant_1(sim: &SimFs) {
    let f = sim.open(&grant_path(Path::new("/j"), 1), Open::CreateNew, false).unwrap();
    f.write_all_at(&encode_grant(1, "x", false).unwrap(), 0).unwrap();
}

#[test]
fn a_busy_lock_with_no_live_grant_is_waited_for_a_little_not_raced() {
    let (sim, root) = sim_root();
    sim.create_dir_all(&range_dir(&root)).unwrap();
    // x has grant 1's lock and is about to create the grant.
    let x_lock = try_lock_file(&sim, &range_dir(&root).join(numbered_name(LOCK_PREFIX, 1))).unwrap().unwrap();
    let fs = Hooked::new(&sim, None, Some(Box::new(x_creates_grant_1)));
    let mut b = SharedRoot::on(fs.clone(), &root, "b");
    assert_eq!(claim_used(&mut b, "r", None).unwrap(), Claim::Held(grant(1, "x")));
    assert_eq!(fs.pauses.load(Ordering::Relaxed), 1);

    // x gives the grant up but does not let its lock go yet: the next
    // grant has a lock of its own, so the claim needs no wait, and the
    // winner holds its own grant's lock whatever x does.
    drop(sim.open(&range_dir(&root).join(numbered_name(RELEASED_PREFIX, 1)), Open::CreateNew, false).unwrap());
    let fs = Hooked::new(&sim, None, None);
    let mut c = SharedRoot::on(fs.clone(), &root, "c");
    let previous = Some(Grant { released: true, ..grant(1, "x") });
    assert_eq!(claim_used(&mut c, "r", None).unwrap(), Claim::Granted { epoch: 2, previous });
    assert_eq!(fs.pauses.load(Ordering::Relaxed), 0);
    assert!(c.maintain().is_empty());
    drop(x_lock);
    assert!(c.maintain().is_empty());
    let mut d = SharedRoot::on(sim.storage(), &root, "d");
    assert_eq!(claim_used(&mut d, "r", None).unwrap(), Claim::Held(grant(2, "c")));
}

#[test]
fn a_claimer_that_loses_the_exclusive_create_answers_held_by_the_winner() {
    let (sim, root) = sim_root();
    // x creates grant 1 between b's reading (no grant) and b's create.
    let fs = Hooked::new(&sim, Some(Box::new(x_creates_grant_1)), None);
    let mut b = SharedRoot::on(fs, &root, "b");
    assert_eq!(claim_used(&mut b, "r", None).unwrap(), Claim::Held(grant(1, "x")));
    assert!(b.maintain().is_empty(), "b holds nothing");
    // b did not keep the lock it took for the claim (x, a test stand-in,
    // holds none: the next claimer takes the next epoch; x never exercised
    // its grant, so it is no `previous`).
    let mut c = SharedRoot::on(sim.storage(), &root, "c");
    assert_eq!(claim_used(&mut c, "r", None).unwrap(), Claim::Granted { epoch: 2, previous: None });
}

/// A forced claim locks its own grant at once: the forced-out holder, still
/// running, and anyone else are `Held` by plain claims while the new holder
/// lives; once its lock goes (its process ends), a plain claim wins.
#[test]
fn a_forced_holder_holds_its_own_grants_lock_from_the_start() {
    let d = tempfile::tempdir().unwrap();
    let (mut a, mut b, mut c) =
        (SharedRoot::new(d.path(), "a"), SharedRoot::new(d.path(), "b"), SharedRoot::new(d.path(), "c"));
    claim_used(&mut a, "r", None).unwrap();
    assert!(matches!(claim_used(&mut b, "r", Some(1)).unwrap(), Claim::Granted { epoch: 2, .. }));
    assert_eq!(a.maintain(), vec![("r".to_string(), 1)]);
    assert!(matches!(claim_used(&mut a, "r", None).unwrap(), Claim::Held(Grant { epoch: 2, .. })));
    assert!(matches!(claim_used(&mut c, "r", None).unwrap(), Claim::Held(Grant { epoch: 2, .. })));
    drop(b);
    let Claim::Granted { epoch: 3, previous: Some(p) } = claim_used(&mut c, "r", None).unwrap() else { panic!() };
    assert!(p.holder == "b" && p.forced && !p.released);
}

#[test]
fn a_note_outlives_every_grant_and_survives_any_crash_whole_or_not_at_all() {
    let d = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (SharedRoot::new(d.path(), "a"), SharedRoot::new(d.path(), "b"));
    assert_eq!(a.note("r").unwrap(), None, "no directory yet");
    claim_used(&mut a, "r", None).unwrap();
    a.set_note("r", Some("east")).unwrap();
    assert_eq!(b.note("r").unwrap().as_deref(), Some("east"));
    // The holder's process ends, another claims: the note stays.
    drop(a);
    granted(claim_used(&mut b, "r", None));
    assert_eq!(b.note("r").unwrap().as_deref(), Some("east"));
    b.set_note("r", Some("west")).unwrap();
    assert_eq!(b.note("r").unwrap().as_deref(), Some("west"));
    b.set_note("r", None).unwrap();
    b.set_note("r", None).unwrap();
    assert_eq!(b.note("r").unwrap(), None);
    // Too long, damaged, a bad range id, the root gone.
    assert!(matches!(
        b.set_note("r", Some(&"x".repeat(crate::authority::MAX_NOTE + 1))),
        Err(AuthorityError::Failed(_))
    ));
    fs::write(range_dir(d.path()).join(NOTE_NAME), b"RTRN\x04\x00eastXXXX").unwrap();
    let Err(AuthorityError::Corrupt(why)) = b.note("r") else { panic!() };
    assert!(why.contains("checksum"), "{why}");
    b.set_note("r", Some("east")).unwrap();
    assert_eq!(b.note("r").unwrap().as_deref(), Some("east"), "set again over the damaged one");
    assert!(matches!(b.note("a/b"), Err(AuthorityError::Failed(_))));
    let gone = SharedRoot::new(&d.path().join("missing"), "b").note("r");
    assert!(matches!(gone, Err(AuthorityError::Unreachable(_))), "{gone:?}");

    // On the simulated device: a set or a removal that answered survives
    // any crash; one that failed leaves the old note or the new one.
    for seed in 0..200 {
        let (sim, root) = sim_root();
        let mut a = SharedRoot::on(sim.storage(), &root, "a");
        a.set_note("r", Some("east")).unwrap();
        sim.crash(&mut digits(seed));
        let mut b = SharedRoot::on(sim.storage(), &root, "b");
        assert_eq!(b.note("r").unwrap().as_deref(), Some("east"), "seed {seed}");
        if seed % 2 == 0 {
            sim.fail_next_sync();
            assert!(b.set_note("r", Some("west")).is_err());
            sim.crash(&mut digits(seed / 2));
            let n = SharedRoot::on(sim.storage(), &root, "c").note("r").unwrap();
            assert!(matches!(n.as_deref(), Some("east" | "west")), "seed {seed}: {n:?}");
        } else {
            b.set_note("r", None).unwrap();
            sim.crash(&mut digits(seed / 2));
            assert_eq!(SharedRoot::on(sim.storage(), &root, "c").note("r").unwrap(), None, "seed {seed}");
        }
    }
}
