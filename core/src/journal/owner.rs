//! Ownership of a journal directory: the OS lock on `journal.lock` and the
//! owner epoch in `epoch`.
//!
//! The lock keeps two well-behaved processes from owning the journal at once.
//! It is not enough on shared storage (a network file system can lose a lock
//! silently), so every owner also takes a new epoch, durably, before writing
//! anything, and every owner checks, after each sync and before acknowledging,
//! that the epoch file still holds its own epoch. An owner that finds another
//! epoch there has been fenced and stops for good.
//!
//! The epoch file is 12 bytes: the epoch (u64 LE) and the CRC32C of those 8
//! bytes (u32 LE). It is replaced atomically and durably: written to a unique
//! temporary name, fsynced, renamed over `epoch`, directory fsynced.
//!
//! Reading the epoch file and writing the next value is not atomic: two
//! processes past the lock (a forced takeover, or a lock a network file
//! system silently lost) could both take epoch N+1. So each epoch is first
//! *claimed* by creating `epoch.<N>` with O_EXCL, which exactly one process
//! can do (also on NFSv3/v4); the loser claims the next number and thereby
//! fences the winner. An owner of epoch `e` is fenced when `epoch.<e+1>`
//! exists or the epoch file holds a larger value (which covers owners left
//! behind by many takeovers after old claim files were removed).

use std::fs::TryLockError;
use std::io;
use std::path::{Path, PathBuf};

use super::segment::{io_err, sync_dir, File};
use super::storage::{Open, Storage};
use super::{JournalError, Takeover};

pub const LOCK_FILE: &str = "journal.lock";
pub const EPOCH_FILE: &str = "epoch";
const EPOCH_TMP_PREFIX: &str = "epoch.tmp.";
const CLAIM_PREFIX: &str = "epoch.";
/// Numbered files kept behind the newest: the journal's claims (older ones
/// are removed at open), the role authority's grants.
const CLAIMS_KEPT: u64 = 64;

fn claim_name(epoch: u64) -> String {
    numbered_name(CLAIM_PREFIX, epoch)
}

fn parse_claim(name: &str) -> Option<u64> {
    parse_numbered(CLAIM_PREFIX, name)
}

/// `<prefix><n as 20 digits>`: the name of a numbered file (the journal's
/// claims; the role authority's grants), so names sort as numbers do.
pub fn numbered_name(prefix: &str, n: u64) -> String {
    format!("{prefix}{n:020}")
}

/// The number of a [`numbered_name`] with this prefix; None for any other
/// name (other digit counts, anything after the digits, out of range).
pub fn parse_numbered(prefix: &str, name: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// The newest epoch: the larger of the epoch file and the newest claim.
pub fn current_epoch(fs: &dyn Storage, dir: &Path) -> Result<u64, JournalError> {
    let file = read_epoch(fs, dir)?;
    let names = fs.list(dir).map_err(|e| io_err(dir, e))?;
    let newest_claim = names.iter().filter_map(|n| n.to_str().and_then(parse_claim)).max();
    Ok(file.max(newest_claim.unwrap_or(0)))
}

/// Take the next epoch: claim it exclusively, durably, then record it in the
/// epoch file. Returns (previous, new).
pub fn claim_next(fs: &dyn Storage, dir: &Path) -> Result<(u64, u64), JournalError> {
    for _ in 0..1000 {
        let previous = current_epoch(fs, dir)?;
        let next =
            previous.checked_add(1).ok_or_else(|| JournalError::BadConfig("the owner epoch is exhausted".into()))?;
        let p = dir.join(claim_name(next));
        match fs.open(&p, Open::CreateNew, false) {
            Ok(f) => {
                f.write_all_at(&encode_epoch(next), 0).and_then(|()| f.sync_all()).map_err(|e| io_err(&p, e))?;
                sync_dir(fs, dir)?;
                write_epoch(fs, dir, next.max(read_epoch(fs, dir)?))?;
                remove_old_numbered(fs, dir, &[CLAIM_PREFIX], next);
                return Ok((previous, next));
            }
            // Another process claimed it first: claim the one after.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(&p, e)),
        }
    }
    Err(JournalError::BadConfig("could not claim an owner epoch: too many concurrent owners".into()))
}

/// Removes the numbered files (any of `prefixes`) more than [`CLAIMS_KEPT`]
/// behind `newest`, best effort: they only keep a directory from growing
/// without end (the newest number is what counts, and it stays).
pub fn remove_old_numbered(fs: &dyn Storage, dir: &Path, prefixes: &[&str], newest: u64) {
    if let Ok(names) = fs.list(dir) {
        for name in names {
            let Some(name) = name.to_str() else { continue };
            let old = |p: &&str| parse_numbered(p, name).is_some_and(|n| n.saturating_add(CLAIMS_KEPT) < newest);
            if prefixes.iter().any(old) {
                let _ = fs.remove(&dir.join(name));
            }
        }
    }
}
const EPOCH_BYTES: usize = 12;
/// How often a busy lock is tried again (20 pauses of 10 ms on a real file
/// system: 200 ms in all; see [`Storage::pause_before_lock_retry`]).
pub const LOCK_RETRIES: u32 = 20;

pub fn epoch_path(dir: &Path) -> PathBuf {
    dir.join(EPOCH_FILE)
}

/// Opens `journal.lock` and takes the exclusive lock. With
/// [`Takeover::Force`] a lock held elsewhere is not an error: the caller
/// proceeds without it (`Ok(None)` then means "not locked by us") and relies on
/// fencing. Returns the file that holds the lock; dropping it releases the lock.
pub fn lock(fs: &dyn Storage, dir: &Path, takeover: Takeover) -> Result<Option<File>, JournalError> {
    let p = dir.join(LOCK_FILE);
    let file = fs.open(&p, Open::Create, true).map_err(|e| io_err(&p, e))?;
    // A lock that was just released can still be held for a moment by a
    // child process between its fork and exec (the descriptor is
    // close-on-exec, but the fork shares the open file and so the lock):
    // a closed-and-reopened journal in a process that spawns programs could
    // then see it as taken. Retry briefly before calling it held.
    let mut tries = 0;
    let result = loop {
        match file.try_lock() {
            // The guard pauses; a storage that does not pause (simulated:
            // no fork, no clock) calls the lock held at once.
            Err(TryLockError::WouldBlock) if tries < LOCK_RETRIES && fs.pause_before_lock_retry() => tries += 1,
            other => break other,
        }
    };
    match result {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => match takeover {
            Takeover::Normal => Err(JournalError::Locked { dir: dir.to_path_buf(), holder: fs.lock_holder(&p) }),
            Takeover::Force => Ok(None),
        },
        Err(TryLockError::Error(e)) => match takeover {
            // A file system without locks: forcing still works through fencing.
            Takeover::Force => Ok(None),
            Takeover::Normal => Err(io_err(&p, e)),
        },
    }
}

/// One attempt, without waiting, at the lock: the file that holds it, or
/// None (held elsewhere, or the file system has no locks). For an owner that
/// forced its way in without the lock, once the previous holder lets go.
pub fn try_lock(fs: &dyn Storage, dir: &Path) -> Option<File> {
    try_lock_file(fs, &dir.join(LOCK_FILE)).ok().flatten()
}

/// One attempt, without waiting, at the exclusive lock on the file at `p`
/// (created if missing): the open file that holds it (dropping it releases
/// the lock), None if it is held elsewhere, or the error (no such
/// directory, a file system without locks). The lock belongs to this open
/// file, not to the process: two opens in one process exclude each other.
pub fn try_lock_file(fs: &dyn Storage, p: &Path) -> io::Result<Option<File>> {
    let file = fs.open(p, Open::Create, true)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

pub fn encode_epoch(epoch: u64) -> [u8; EPOCH_BYTES] {
    let mut b = [0u8; EPOCH_BYTES];
    b[0..8].copy_from_slice(&epoch.to_le_bytes());
    let crc = crc32c::crc32c(&b[0..8]);
    b[8..12].copy_from_slice(&crc.to_le_bytes());
    b
}

pub fn decode_epoch(b: &[u8]) -> Result<u64, String> {
    if b.len() != EPOCH_BYTES {
        return Err(format!("epoch file is {} bytes, expected {EPOCH_BYTES}", b.len()));
    }
    let mut e = [0u8; 8];
    e.copy_from_slice(&b[0..8]);
    let mut c = [0u8; 4];
    c.copy_from_slice(&b[8..12]);
    if crc32c::crc32c(&e) != u32::from_le_bytes(c) {
        return Err("epoch file checksum mismatch".into());
    }
    Ok(u64::from_le_bytes(e))
}

/// Reads the current epoch. Opens the file by name every time: the file is
/// replaced by rename, and reopening is also what makes a network file
/// system revalidate it.
pub fn read_epoch(fs: &dyn Storage, dir: &Path) -> Result<u64, JournalError> {
    let p = epoch_path(dir);
    let bytes = fs.read(&p).map_err(|e| io_err(&p, e))?;
    decode_epoch(&bytes).map_err(|why| JournalError::Corrupt { file: p, offset: 0, why })
}

/// Replaces the epoch file durably with `epoch`.
pub fn write_epoch(fs: &dyn Storage, dir: &Path, epoch: u64) -> Result<(), JournalError> {
    let tmp = dir.join(format!("{EPOCH_TMP_PREFIX}{}", fs.unique_suffix()));
    let write = || -> io::Result<()> {
        let f = fs.open(&tmp, Open::CreateNew, false)?;
        f.write_all_at(&encode_epoch(epoch), 0)?;
        f.sync_all()?;
        fs.rename(&tmp, &epoch_path(dir))
    };
    if let Err(e) = write() {
        let _ = fs.remove(&tmp);
        return Err(io_err(&tmp, e));
    }
    sync_dir(fs, dir)
}

/// Removes temporary epoch files left by crashed owners. Only called while
/// holding the lock (a forced owner leaves them: they are harmless).
pub fn remove_stale_temporaries(fs: &dyn Storage, dir: &Path) {
    if let Ok(names) = fs.list(dir) {
        for name in names {
            if name.to_str().is_some_and(|n| n.starts_with(EPOCH_TMP_PREFIX)) {
                let _ = fs.remove(&dir.join(name));
            }
        }
    }
}

/// The fencing check: `Ok` while no later epoch has been claimed.
/// After every group commit: one stat (the next claim's name, normally
/// missing) and one open, read and close of the epoch file.
pub fn check(fs: &dyn Storage, dir: &Path, mine: u64) -> Result<(), JournalError> {
    if fs.exists(&dir.join(claim_name(mine + 1))) {
        return Err(JournalError::Fenced { mine, current: mine + 1 });
    }
    let p = epoch_path(dir);
    let bytes = fs.read_small(&p, EPOCH_BYTES).map_err(|e| io_err(&p, e))?;
    let current = decode_epoch(&bytes).map_err(|why| JournalError::Corrupt { file: p, offset: 0, why })?;
    if current > mine {
        Err(JournalError::Fenced { mine, current })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::storage::RealFs;
    use std::fs;

    #[test]
    fn epoch_round_trip_and_corruption() {
        let d = tempfile::tempdir().unwrap();
        write_epoch(&RealFs, d.path(), 7).unwrap();
        assert_eq!(read_epoch(&RealFs, d.path()).unwrap(), 7);
        write_epoch(&RealFs, d.path(), 8).unwrap();
        assert_eq!(read_epoch(&RealFs, d.path()).unwrap(), 8);
        assert!(check(&RealFs, d.path(), 8).is_ok());
        assert!(matches!(check(&RealFs, d.path(), 7), Err(JournalError::Fenced { mine: 7, current: 8 })));
        let mut b = fs::read(epoch_path(d.path())).unwrap();
        b[0] ^= 1;
        fs::write(epoch_path(d.path()), &b).unwrap();
        assert!(matches!(read_epoch(&RealFs, d.path()), Err(JournalError::Corrupt { offset: 0, .. })));
        // Only the epoch file is left: no temporaries.
        let names: Vec<_> = fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn the_check_reads_the_epoch_file_whole_and_refuses_a_longer_or_shorter_one() {
        let d = tempfile::tempdir().unwrap();
        write_epoch(&RealFs, d.path(), 5).unwrap();
        assert_eq!(RealFs.read_small(&epoch_path(d.path()), EPOCH_BYTES).unwrap(), encode_epoch(5));
        assert!(check(&RealFs, d.path(), 5).is_ok());
        // A valid epoch followed by anything more is not an epoch file.
        let mut long = encode_epoch(5).to_vec();
        long.extend_from_slice(&[0u8; 100]);
        fs::write(epoch_path(d.path()), &long).unwrap();
        assert_eq!(RealFs.read_small(&epoch_path(d.path()), EPOCH_BYTES).unwrap().len(), EPOCH_BYTES + 1);
        assert!(matches!(check(&RealFs, d.path(), 5), Err(JournalError::Corrupt { offset: 0, .. })));
        fs::write(epoch_path(d.path()), &encode_epoch(5)[..7]).unwrap();
        assert!(matches!(check(&RealFs, d.path(), 5), Err(JournalError::Corrupt { offset: 0, .. })));
        fs::remove_file(epoch_path(d.path())).unwrap();
        assert!(matches!(check(&RealFs, d.path(), 5), Err(JournalError::Io { .. })));
    }

    #[test]
    fn the_lock_is_exclusive_and_force_proceeds_without_it() {
        let d = tempfile::tempdir().unwrap();
        let held = lock(&RealFs, d.path(), Takeover::Normal).unwrap();
        assert!(held.is_some());
        assert!(matches!(lock(&RealFs, d.path(), Takeover::Normal), Err(JournalError::Locked { .. })));
        assert!(lock(&RealFs, d.path(), Takeover::Force).unwrap().is_none());
        drop(held);
        assert!(lock(&RealFs, d.path(), Takeover::Force).unwrap().is_some());
    }
}
