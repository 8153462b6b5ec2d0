//! The role authority on the shared journal root: the backends of a facility
//! that keep their journals under one root (`ROOT/<node>/`) keep the role
//! records beside them, under the journal's own ownership rules
//! (`docs/roles.md`; the journal's are in `crate::journal`'s `owner`).
//!
//! Layout, one directory per range, `ROOT/.roles/<range id>/`:
//! - `lock.<epoch, 20 digits>`: each grant's own exclusive OS lock
//!   (`flock`), taken by its claimer *before* it creates the grant and held
//!   for as long as its [`SharedRoot`] keeps the grant. The kernel drops it
//!   when the holder's process ends, which is how a standby learns that the
//!   holder of the newest grant is gone. A forced claim takes its own
//!   grant's lock at once, so a forced-out holder that is still running
//!   (holding only the older grant's lock) can never pass for the newest
//!   holder, and nobody can claim over a live forced holder without force.
//!   The lock belongs to the open file, so two `SharedRoot`s in one process
//!   exclude each other as two processes do.
//! - `grant.<epoch, 20 digits>`: one per grant, created with O_EXCL (so
//!   exactly one claimer gets each epoch, on NFS too), holding the holder's
//!   name and the forced flag ([`encode_grant`]); the file and the directory
//!   are synced before the claim answers `Granted`. The newest epoch is the
//!   largest such name.
//! - `active.<epoch>`: the holder of `epoch` exercised it (its recovery of
//!   the previous holder's journal was done): created, synced, before it
//!   presents any work. A new grant's `previous` is the newest grant that
//!   was exercised or released: one never exercised left no work of the
//!   range in its holder's journal (a holder that died while recovering
//!   passes the duty to recover on).
//! - `released.<epoch>`: the holder of `epoch` gave the role up cleanly;
//!   created (O_EXCL, synced) before the lock is dropped, so a claimer that
//!   gets the lock sees it.
//! - grants and release marks more than 64 epochs behind the newest are
//!   removed after each grant (the newest number is what counts).
//! - `note`: the range's note ([`Authority::set_note`]), magic `RTRN`, the
//!   text's length (u16 LE), the text (UTF-8) and the CRC32C of all that
//!   (u32 LE). Written whole under a temporary name (`note.tmp.<unique>`),
//!   synced and renamed over `note`, the directory synced: a reader finds
//!   the old note or the new one, never a torn one. Removed with the
//!   directory synced. A damaged note is [`AuthorityError::Corrupt`]: the
//!   operator sets it again.
//!
//! Any other name in these directories is ignored.
//!
//! **A torn or unreadable grant** (the claimer crashed between creating the
//! file and syncing it, a damaged disk, a version this code does not know)
//! is not a grant, but its epoch is taken: nobody gets that number again.
//! It reads as a grant with holder `""` (unknown), not forced, released if
//! `released.<epoch>` exists. A claim over it behaves as over any grant: it
//! is `Held` while somebody holds the lock (a claimer may be writing it
//! right now), and otherwise the claim gets the next epoch with `previous`
//! holder `""` and not released: the claimer learns that it cannot tell
//! whose journal to recover (the runtime must not guess).
//!
//! **Claims** follow [`super::mem`] (the behavioural spec): the newest
//! grant is read; a plain claim over a live one is `Held` while its lock is
//! held; then the claimer locks `lock.<next>` and creates `grant.<next>`
//! with O_EXCL. If `lock.<next>` is busy, another claimer is between taking
//! it and creating its grant: the claim waits for it a little (at most 20
//! pauses of 10 ms) and answers `Held` by its grant, or by the newest.
//!
//! **A claim that fails after creating its grant file** (a write or sync
//! error) marks the grant released, best effort, before answering the
//! error: the claimer never acted on it, so the next holder has nothing of
//! it to recover.
//!
//! **A release** gives the role up whatever happens: the mark is made
//! durable if it can be, then the lock is dropped; an error means only that
//! the next holder may find the grant not released and recover this
//! node's journal (safe, only slower).
//!
//! **Errors:** a root that cannot be listed (missing, not mounted, not
//! readable) is [`AuthorityError::Unreachable`]: the node stays as it is,
//! as in a minority; the root itself is never created (an unmounted mount
//! point must not get records of its own). Every other I/O error is
//! [`AuthorityError::Failed`] with the path. Bad files never panic.
//! [`Authority::maintain`] reports nothing lost while the root cannot be
//! read: whether a newer grant exists cannot be known then.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Authority, AuthorityError, Claim, Grant};
use crate::journal::owner::{numbered_name, parse_numbered, remove_old_numbered, try_lock_file, LOCK_RETRIES};
use crate::journal::storage::{self, Open, Storage, StorageFile};

/// The directory under the root that holds one directory per range.
/// (A node name starts with a letter or a digit, so no node's journal
/// directory can be this one.)
pub const ROLES_DIR: &str = ".roles";
const LOCK_PREFIX: &str = "lock.";
const ACTIVE_PREFIX: &str = "active.";
const GRANT_PREFIX: &str = "grant.";
const RELEASED_PREFIX: &str = "released.";

const NOTE_NAME: &str = "note";
const NOTE_MAGIC: &[u8; 4] = b"RTRN";

const GRANT_MAGIC: &[u8; 4] = b"RTRG";
const GRANT_VERSION: u8 = 1;
const FLAG_FORCED: u8 = 1;
/// Magic, version, flags, holder length (u16), epoch (u64).
const GRANT_HEAD: usize = 16;
const GRANT_CRC: usize = 4;

/// A grant file's content: magic `RTRG`, version 1, flags (bit 0: forced),
/// the holder's length (u16 LE), the epoch (u64 LE, the same as in the
/// name, so a file copied under another name does not count), the holder's
/// name (UTF-8), and the CRC32C of all that (u32 LE).
pub fn encode_grant(epoch: u64, holder: &str, forced: bool) -> Result<Vec<u8>, AuthorityError> {
    let len = u16::try_from(holder.len())
        .map_err(|_| AuthorityError::Failed(format!("node name of {} bytes is too long for a grant", holder.len())))?;
    let mut b = Vec::with_capacity(GRANT_HEAD + holder.len() + GRANT_CRC);
    b.extend_from_slice(GRANT_MAGIC);
    b.push(GRANT_VERSION);
    b.push(if forced { FLAG_FORCED } else { 0 });
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&epoch.to_le_bytes());
    b.extend_from_slice(holder.as_bytes());
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    Ok(b)
}

/// The holder and forced flag of the grant file of `epoch`, or why it is
/// not one (torn, damaged, another epoch's, an unknown version).
pub fn decode_grant(b: &[u8], epoch: u64) -> Result<(String, bool), String> {
    let head = b.get(..GRANT_HEAD).ok_or_else(|| format!("grant file of {} bytes is torn", b.len()))?;
    if &head[..4] != GRANT_MAGIC || head[4] != GRANT_VERSION {
        return Err(format!("not a grant file of version {GRANT_VERSION}"));
    }
    let size = GRANT_HEAD + usize::from(u16::from_le_bytes([head[6], head[7]])) + GRANT_CRC;
    if b.len() != size {
        return Err(format!("grant file is {} bytes, its header says {size}", b.len()));
    }
    let (body, crc) = b.split_at(size - GRANT_CRC);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err("grant file checksum mismatch".into());
    }
    if head[5] & !FLAG_FORCED != 0 {
        return Err(format!("grant file has unknown flags {:#04x}", head[5]));
    }
    let mut e = [0u8; 8];
    e.copy_from_slice(&head[8..16]);
    if u64::from_le_bytes(e) != epoch {
        return Err(format!("grant file says epoch {}, its name {epoch}", u64::from_le_bytes(e)));
    }
    let holder = std::str::from_utf8(&body[GRANT_HEAD..]).map_err(|_| "grant holder is not UTF-8".to_string())?;
    Ok((holder.to_string(), head[5] & FLAG_FORCED != 0))
}

/// A grant this handle won and has not released or lost.
struct Holding {
    epoch: u64,
    /// `lock.<epoch>`, held for as long as the grant is.
    _lock: Box<dyn StorageFile>,
}

/// One node's handle on the role records of a shared journal root.
pub struct SharedRoot {
    fs: Arc<dyn Storage>,
    root: PathBuf,
    me: String,
    /// range -> the grant this handle holds there.
    held: BTreeMap<String, Holding>,
}

/// The outcome of creating a grant file that did not make a grant.
enum NotCreated {
    /// Another claimer created it first.
    Lost,
    Failed(AuthorityError),
}

impl SharedRoot {
    /// A handle acting for node `node` on the journal root `root` (the
    /// directory holding `ROOT/<node>/` journals). Touches nothing yet.
    pub fn new(root: &Path, node: &str) -> SharedRoot {
        SharedRoot::on(storage::real(), root, node)
    }

    /// As [`SharedRoot::new`], on another storage (a simulated device).
    pub fn on(fs: Arc<dyn Storage>, root: &Path, node: &str) -> SharedRoot {
        SharedRoot { fs, root: root.to_path_buf(), me: node.to_string(), held: BTreeMap::new() }
    }

    /// `ROOT/.roles/<range>`, for a range id that is one plain file name.
    fn range_dir(&self, range: &str) -> Result<PathBuf, AuthorityError> {
        if range.is_empty() || range == "." || range == ".." || range.contains(['/', '\0']) {
            return Err(AuthorityError::Failed(format!("{range:?} is not a range id")));
        }
        Ok(self.root.join(ROLES_DIR).join(range))
    }

    fn failure(&self, path: &Path, e: io::Error) -> AuthorityError {
        failure(&*self.fs, &self.root, path, e)
    }

    /// Creates the range's directory (never the root), durably: a grant
    /// inside it is only durable once its directory's name is.
    fn ensure_dir(&self, dir: &Path) -> Result<(), AuthorityError> {
        if self.fs.exists(dir) {
            return Ok(());
        }
        self.fs.list(&self.root).map_err(|e| unreachable(&self.root, e))?;
        let roles = self.root.join(ROLES_DIR);
        self.fs.create_dir_all(dir).map_err(|e| self.failure(dir, e))?;
        for d in [&roles, &self.root] {
            self.fs.sync_dir(d).map_err(|e| self.failure(d, e))?;
        }
        Ok(())
    }

    /// Creates `grant.<epoch>` for this node, durably.
    fn create_grant(&self, dir: &Path, epoch: u64, forced: bool) -> Result<(), NotCreated> {
        let bytes = encode_grant(epoch, &self.me, forced).map_err(NotCreated::Failed)?;
        let p = dir.join(numbered_name(GRANT_PREFIX, epoch));
        let f = match self.fs.open(&p, Open::CreateNew, false) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(NotCreated::Lost),
            Err(e) => return Err(NotCreated::Failed(self.failure(&p, e))),
        };
        let written = f.write_all_at(&bytes, 0).and_then(|()| f.sync_all()).map_err(|e| (p.as_path(), e));
        if let Err((at, e)) = written.and_then(|()| self.fs.sync_dir(dir).map_err(|e| (dir, e))) {
            // The epoch is taken but this node never acts on it.
            let _ = self.mark_released(dir, epoch);
            return Err(NotCreated::Failed(self.failure(at, e)));
        }
        Ok(())
    }

    /// Creates `released.<epoch>` durably (done already is fine).
    fn mark_released(&self, dir: &Path, epoch: u64) -> Result<(), AuthorityError> {
        let p = dir.join(numbered_name(RELEASED_PREFIX, epoch));
        match self.fs.open(&p, Open::CreateNew, false) {
            Ok(f) => f.sync_all().map_err(|e| self.failure(&p, e))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(self.failure(&p, e)),
        }
        self.fs.sync_dir(dir).map_err(|e| self.failure(dir, e))
    }
}

fn unreachable(root: &Path, e: io::Error) -> AuthorityError {
    AuthorityError::Unreachable(format!("shared journal root {}: {e}", root.display()))
}

/// An I/O error on `path`: the root's fault if the root cannot be listed.
fn failure(fs: &dyn Storage, root: &Path, path: &Path, e: io::Error) -> AuthorityError {
    match fs.list(root) {
        Err(re) => unreachable(root, re),
        Ok(_) => AuthorityError::Failed(format!("{}: {e}", path.display())),
    }
}

/// The names in a range's directory; none if it does not exist (yet) and
/// the root does.
fn names(fs: &dyn Storage, root: &Path, dir: &Path) -> Result<Vec<String>, AuthorityError> {
    match fs.list(dir) {
        Ok(names) => Ok(names.into_iter().filter_map(|n| n.into_string().ok()).collect()),
        Err(e) => match (e.kind(), failure(fs, root, dir, e)) {
            (io::ErrorKind::NotFound, AuthorityError::Failed(_)) => Ok(Vec::new()),
            (_, err) => Err(err),
        },
    }
}

fn newest_epoch(names: &[String]) -> Option<u64> {
    names.iter().filter_map(|n| parse_numbered(GRANT_PREFIX, n)).max()
}

/// The newest grant of the range in `dir` (see the module doc for a torn one).
fn read_newest(fs: &dyn Storage, root: &Path, dir: &Path) -> Result<Option<Grant>, AuthorityError> {
    let names = names(fs, root, dir)?;
    let Some(epoch) = newest_epoch(&names) else { return Ok(None) };
    let released = names.contains(&numbered_name(RELEASED_PREFIX, epoch));
    let p = dir.join(numbered_name(GRANT_PREFIX, epoch));
    let (holder, forced) = match fs.read(&p) {
        Ok(bytes) => decode_grant(&bytes, epoch).unwrap_or_default(),
        // Removed since the listing (by an operator): its holder is unknown.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(failure(fs, root, &p, e)),
    };
    Ok(Some(Grant { epoch, holder, released, forced }))
}

/// The grant that a new grant `mine` succeeds: the newest older one that
/// was exercised (`active.<e>`) or released.
fn read_previous(fs: &dyn Storage, root: &Path, dir: &Path, mine: u64) -> Result<Option<Grant>, AuthorityError> {
    let names = names(fs, root, dir)?;
    let mut epochs: Vec<u64> =
        names.iter().filter_map(|n| parse_numbered(GRANT_PREFIX, n)).filter(|e| *e < mine).collect();
    epochs.sort_unstable_by(|a, b| b.cmp(a));
    for epoch in epochs {
        let released = names.contains(&numbered_name(RELEASED_PREFIX, epoch));
        if !released && !names.contains(&numbered_name(ACTIVE_PREFIX, epoch)) {
            continue;
        }
        let p = dir.join(numbered_name(GRANT_PREFIX, epoch));
        let (holder, forced) = match fs.read(&p) {
            Ok(bytes) => decode_grant(&bytes, epoch).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(failure(fs, root, &p, e)),
        };
        return Ok(Some(Grant { epoch, holder, released, forced }));
    }
    Ok(None)
}

/// A note file's content (see the module doc).
fn encode_note(text: &str) -> Vec<u8> {
    let mut b = NOTE_MAGIC.to_vec();
    b.extend_from_slice(&(text.len() as u16).to_le_bytes());
    b.extend_from_slice(text.as_bytes());
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn decode_note(b: &[u8]) -> Result<String, String> {
    let head = NOTE_MAGIC.len() + 2;
    if b.len() < head + 4 || &b[..4] != NOTE_MAGIC {
        return Err("not a note (bad magic or too short)".into());
    }
    let len = u16::from_le_bytes([b[4], b[5]]) as usize;
    if b.len() != head + len + 4 {
        return Err(format!("{} bytes for a note of {len}", b.len()));
    }
    let (body, crc) = b.split_at(head + len);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err("checksum mismatch".into());
    }
    String::from_utf8(body[head..].to_vec()).map_err(|_| "not UTF-8".to_string())
}

impl Authority for SharedRoot {
    fn describe(&self) -> String {
        format!("shared root {}", self.root.display())
    }

    fn claim(&mut self, range: &str, force_over: Option<u64>) -> Result<Claim, AuthorityError> {
        let dir = self.range_dir(range)?;
        self.ensure_dir(&dir)?;
        let newest = read_newest(&*self.fs, &self.root, &dir)?;
        let live = newest.clone().filter(|g| !g.released);
        // This handle already holds the newest grant (a retried claim).
        if let Some(h) = self.held.get(range).filter(|h| live.as_ref().is_some_and(|g| g.epoch == h.epoch)) {
            return Ok(Claim::Granted { epoch: h.epoch, previous: None });
        }
        let forced = match (&live, force_over) {
            (Some(g), Some(e)) if g.epoch == e => true,
            (Some(g), Some(_)) => return Ok(Claim::Held(g.clone())),
            (Some(g), None) => {
                // Its holder is alive while it holds the grant's own lock.
                let p = dir.join(numbered_name(LOCK_PREFIX, g.epoch));
                if try_lock_file(&*self.fs, &p).map_err(|e| self.failure(&p, e))?.is_none() {
                    return Ok(Claim::Held(g.clone()));
                }
                false
            }
            (None, _) => false,
        };
        let epoch = newest
            .as_ref()
            .map_or(0, |g| g.epoch)
            .checked_add(1)
            .ok_or_else(|| AuthorityError::Failed(format!("{}: the role epoch is exhausted", dir.display())))?;
        // The grant's own lock before the grant: whoever sees the grant
        // finds its lock held for as long as its holder lives.
        let lock_path = dir.join(numbered_name(LOCK_PREFIX, epoch));
        let mut lock = try_lock_file(&*self.fs, &lock_path).map_err(|e| self.failure(&lock_path, e))?;
        let mut tries = 0;
        while lock.is_none() {
            // Another claimer is between locking and creating this epoch.
            let now = read_newest(&*self.fs, &self.root, &dir)?;
            if let Some(g) = now.filter(|g| g.epoch >= epoch) {
                return Ok(Claim::Held(g));
            }
            if tries >= LOCK_RETRIES || !self.fs.pause_before_lock_retry() {
                return match newest {
                    Some(g) => Ok(Claim::Held(g)),
                    None => Err(AuthorityError::Failed(format!("{}: another claim is under way", dir.display()))),
                };
            }
            tries += 1;
            lock = try_lock_file(&*self.fs, &lock_path).map_err(|e| self.failure(&lock_path, e))?;
        }
        let Some(lock) = lock else { return Err(AuthorityError::Failed("no lock".into())) };
        match self.create_grant(&dir, epoch, forced) {
            Ok(()) => {}
            // Another claimer won this epoch: its grant is the newest now.
            Err(NotCreated::Lost) => {
                return match read_newest(&*self.fs, &self.root, &dir)? {
                    Some(g) => Ok(Claim::Held(g)),
                    None => Err(AuthorityError::Failed(format!("{}: a grant vanished", dir.display()))),
                };
            }
            Err(NotCreated::Failed(e)) => return Err(e),
        }
        self.held.insert(range.to_string(), Holding { epoch, _lock: lock });
        let previous = read_previous(&*self.fs, &self.root, &dir, epoch)?;
        remove_old_numbered(&*self.fs, &dir, &[GRANT_PREFIX, RELEASED_PREFIX, LOCK_PREFIX, ACTIVE_PREFIX], epoch);
        Ok(Claim::Granted { epoch, previous })
    }

    fn activate(&mut self, range: &str, epoch: u64) -> Result<(), AuthorityError> {
        if self.held.get(range).is_none_or(|h| h.epoch != epoch) {
            return Ok(());
        }
        let dir = self.range_dir(range)?;
        let p = dir.join(numbered_name(ACTIVE_PREFIX, epoch));
        match self.fs.open(&p, Open::CreateNew, false) {
            Ok(f) => f.sync_all().map_err(|e| self.failure(&p, e))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(self.failure(&p, e)),
        }
        self.fs.sync_dir(&dir).map_err(|e| self.failure(&dir, e))
    }

    fn holder_gone(&mut self, range: &str, epoch: u64) -> Result<bool, AuthorityError> {
        let dir = self.range_dir(range)?;
        let lock = numbered_name(LOCK_PREFIX, epoch);
        // Unreachable: nothing can be said (the caller asks again). No lock
        // file: nobody ever held the grant's lock.
        if !names(&*self.fs, &self.root, &dir)?.contains(&lock) {
            return Ok(true);
        }
        // The holder keeps the grant's own lock until its process ends or
        // it finds a newer grant (`maintain`); taking it (and dropping it at
        // once) shows that it can no longer be exercising the grant.
        let p = dir.join(lock);
        Ok(try_lock_file(&*self.fs, &p).map_err(|e| self.failure(&p, e))?.is_some())
    }

    fn release(&mut self, range: &str, epoch: u64) -> Result<(), AuthorityError> {
        if self.held.get(range).is_none_or(|h| h.epoch != epoch) {
            return Ok(());
        }
        let dir = self.range_dir(range)?;
        // The role is given up whatever happens (the holding and its lock
        // are dropped, after the mark is durable when it can be made so):
        // an error only means the mark may be missing, and the next holder
        // then recovers this node's journal, which is safe, only slower.
        let holding = self.held.remove(range);
        let newest = read_newest(&*self.fs, &self.root, &dir)?;
        if newest.is_some_and(|g| g.epoch == epoch && !g.released) {
            self.mark_released(&dir, epoch)?;
        }
        drop(holding);
        Ok(())
    }

    fn current(&mut self, range: &str) -> Result<Option<Grant>, AuthorityError> {
        let dir = self.range_dir(range)?;
        read_newest(&*self.fs, &self.root, &dir)
    }

    fn set_note(&mut self, range: &str, note: Option<&str>) -> Result<(), AuthorityError> {
        let dir = self.range_dir(range)?;
        let path = dir.join(NOTE_NAME);
        let Some(text) = note else {
            match self.fs.remove(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // Listing tells an absent note from an unreachable root.
                    names(&*self.fs, &self.root, &dir)?;
                    return Ok(());
                }
                Err(e) => return Err(self.failure(&path, e)),
            }
            return self.fs.sync_dir(&dir).map_err(|e| self.failure(&dir, e));
        };
        if text.len() > super::MAX_NOTE {
            return Err(AuthorityError::Failed(format!(
                "a note of {} bytes (at most {})",
                text.len(),
                super::MAX_NOTE
            )));
        }
        self.ensure_dir(&dir)?;
        let tmp = dir.join(format!("{NOTE_NAME}.tmp.{}", self.fs.unique_suffix()));
        let written = self.fs.open(&tmp, Open::Truncate, false).and_then(|f| {
            f.write_all_at(&encode_note(text), 0)?;
            f.sync_all()
        });
        if let Err(e) = written.and_then(|()| self.fs.rename(&tmp, &path)) {
            let _ = self.fs.remove(&tmp);
            return Err(self.failure(&path, e));
        }
        self.fs.sync_dir(&dir).map_err(|e| self.failure(&dir, e))
    }

    fn note(&mut self, range: &str) -> Result<Option<String>, AuthorityError> {
        let dir = self.range_dir(range)?;
        let path = dir.join(NOTE_NAME);
        match self.fs.read(&path) {
            Ok(b) => {
                decode_note(&b).map(Some).map_err(|why| AuthorityError::Corrupt(format!("{}: {why}", path.display())))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                names(&*self.fs, &self.root, &dir)?;
                Ok(None)
            }
            Err(e) => Err(self.failure(&path, e)),
        }
    }

    fn maintain(&mut self) -> Vec<(String, u64)> {
        let mut lost = Vec::new();
        for (range, h) in &self.held {
            let dir = self.root.join(ROLES_DIR).join(range);
            // Unreachable or failing: nothing can be said; ask again later.
            let Ok(names) = names(&*self.fs, &self.root, &dir) else { continue };
            if newest_epoch(&names) != Some(h.epoch) {
                // A newer grant, or ours is gone (its number could be given
                // again): either way this node no longer holds the role.
                lost.push((range.clone(), h.epoch));
            }
        }
        // Dropping the holding lets its lock go.
        for (range, _) in &lost {
            self.held.remove(range);
        }
        lost
    }
}

#[cfg(test)]
mod tests;
