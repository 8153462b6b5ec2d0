//! A simulated device for the journal: in memory, deterministic, with a
//! durable image and a volatile tail, so that the real journal code can be
//! crashed at any point and recover from exactly what a disk could hold.
//!
//! Model:
//! - **files** (inodes) hold a durable image and, on top of it, the writes
//!   and size changes made since the file's last `sync_data`/`sync_all`, in
//!   order. Reads see everything written (the page cache). A sync makes the
//!   file's pending changes durable.
//! - **names** (create, hard link, rename, remove, mkdir) change the visible
//!   namespace at once and are logged in order; `sync_dir(d)` makes the log
//!   durable up to and including the last entry that touches `d` (a
//!   journaling file system commits its metadata in order). A rename is one
//!   entry: after a crash it happened or it did not.
//! - **crash** ([`SimFs::crash`]) is a power loss: for the name log, and
//!   then for each file in inode order, the chooser picks how many pending
//!   entries survive (a prefix, in write order), and the last surviving
//!   write may be torn (only a prefix of its bytes reaches the image). The
//!   rest is lost; files no durable name reaches are gone. Every handle
//!   opened before the crash is dead (its process died with the machine):
//!   its operations fail with EIO, and every lock is released.
//! - **a process dying** without a power loss is its handles being dropped:
//!   its locks are released, its unsynced writes stay (the OS has them).
//! - **locks** belong to the handle that took them (as `flock` on Linux: two
//!   handles of one process exclude each other too).
//! - **faults**: the next write or the next file sync (or the one after `n`
//!   more) fails with EIO: a failed write writes nothing; a failed sync
//!   loses the file's unsynced writes for good (they read back until a
//!   crash, or until `drop_cache` evicts them, but never reach the image,
//!   as with Linux's writeback errors, so a writer that retried the sync
//!   and trusted it would lose data);
//!   a capacity makes any write or size change that would grow the device
//!   past it fail with ENOSPC.
//!
//! - **trace** ([`SimFs::set_trace`]): off by default; when on, every
//!   operation is printed (inode, handle, offset, length, pending writes),
//!   to follow which handle wrote what into which file in a replay.
//!
//! No threads, clocks or randomness: every choice comes from the caller's
//! chooser, so the simulator's seed decides. A mutex makes it `Sync` (the
//! journal's storage must be) and is never contended in a simulation.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::TryLockError;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Open, Storage, StorageFile};

/// A simulated device; clones share it.
#[derive(Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for SimFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("SimFs").field("names", &s.names.len()).field("crashes", &s.generation).finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(u64),
}

/// One logged namespace change: the directories it touches and the names
/// it sets (Some) or removes (None), applied together.
#[derive(Clone, Debug)]
struct NameOp {
    dirs: Vec<PathBuf>,
    changes: Vec<(PathBuf, Option<Node>)>,
}

#[derive(Clone, Debug)]
enum DataOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    current: Vec<u8>,
    /// Changes since the last sync, in order (`durable` + these = `current`).
    pending: Vec<DataOp>,
}

#[derive(Clone, Debug, Default)]
struct Faults {
    /// Data writes that succeed before one fails (then the count is cleared).
    write_fails_after: Option<u64>,
    /// File syncs that succeed before one fails (then the count is cleared).
    sync_fails_after: Option<u64>,
    capacity: Option<u64>,
}

/// Counts one operation against a countdown; true when this one fails.
fn fails(countdown: &mut Option<u64>) -> bool {
    match countdown {
        Some(0) => {
            *countdown = None;
            true
        }
        Some(n) => {
            *n -= 1;
            false
        }
        None => false,
    }
}

#[derive(Clone, Debug, Default)]
struct State {
    names: BTreeMap<PathBuf, Node>,
    durable_names: BTreeMap<PathBuf, Node>,
    /// Namespace changes not yet durable, in order.
    name_log: Vec<NameOp>,
    inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    /// Open handles: id -> inode. Ids are never reused.
    handles: BTreeMap<u64, u64>,
    next_handle: u64,
    /// Inode -> the handle holding its lock.
    locks: BTreeMap<u64, u64>,
    /// Power losses so far; a handle of an earlier generation is dead.
    generation: u64,
    faults: Faults,
    unique: u64,
    /// When set ([`SimFs::set_trace`]), every operation is printed with
    /// this label (a debugging aid for a replay; off by default, one branch
    /// per operation; nothing about the device changes).
    trace: Option<String>,
}

fn os_err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// The directory holding `path`; None for a root (always present).
fn parent(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

fn apply(image: &mut Vec<u8>, op: &DataOp) {
    match op {
        DataOp::Write { offset, data } => {
            let (off, end) = (*offset as usize, *offset as usize + data.len());
            if image.len() < end {
                image.resize(end, 0);
            }
            image[off..end].copy_from_slice(data);
        }
        DataOp::SetLen(len) => image.resize(*len as usize, 0),
    }
}

impl State {
    /// Prints `what` if this device is traced (`what` is only built then).
    fn trace(&self, what: impl FnOnce() -> String) {
        if let Some(label) = &self.trace {
            println!("      fs[{label}] {}", what());
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        parent(path).is_none() || self.names.get(path) == Some(&Node::Dir)
    }

    fn need_parent(&self, path: &Path) -> io::Result<()> {
        match parent(path) {
            Some(p) if !self.is_dir(p) => Err(os_err(libc::ENOENT)),
            _ => Ok(()),
        }
    }

    fn file(&self, path: &Path) -> io::Result<u64> {
        match self.names.get(path) {
            Some(Node::File(ino)) => Ok(*ino),
            Some(Node::Dir) => Err(os_err(libc::EISDIR)),
            None => Err(os_err(libc::ENOENT)),
        }
    }

    /// Changes the visible namespace now; logs the change for durability.
    fn change(&mut self, changes: Vec<(PathBuf, Option<Node>)>) {
        self.trace(|| format!("name {changes:?}"));
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (p, node) in &changes {
            let d = parent(p).map(Path::to_path_buf).unwrap_or_default();
            if !dirs.contains(&d) {
                dirs.push(d);
            }
            match node {
                Some(n) => self.names.insert(p.clone(), *n),
                None => self.names.remove(p),
            };
        }
        self.name_log.push(NameOp { dirs, changes });
        self.collect();
    }

    fn new_inode(&mut self) -> u64 {
        self.next_ino += 1;
        self.inodes.insert(self.next_ino, Inode::default());
        self.next_ino
    }

    /// Bytes the device holds: every inode's larger image.
    fn used(&self) -> u64 {
        self.inodes.values().map(|i| i.current.len().max(i.durable.len()) as u64).sum()
    }

    /// ENOSPC if growing the device by `grow` bytes passes its capacity.
    fn room(&self, grow: u64) -> io::Result<()> {
        match self.faults.capacity {
            Some(cap) if grow > 0 && self.used() + grow > cap => Err(os_err(libc::ENOSPC)),
            _ => Ok(()),
        }
    }

    /// Drops inodes that no name (visible or durable) and no handle reaches.
    fn collect(&mut self) {
        let reached = |ino: &u64| {
            let named = |m: &BTreeMap<PathBuf, Node>| m.values().any(|n| *n == Node::File(*ino));
            named(&self.names) || named(&self.durable_names) || self.handles.values().any(|h| h == ino)
        };
        let gone: Vec<u64> = self.inodes.keys().filter(|i| !reached(i)).copied().collect();
        for ino in gone {
            self.inodes.remove(&ino);
        }
    }

    /// Applies the first `n` logged namespace changes to the durable namespace.
    fn commit_names(&mut self, n: usize) {
        for op in self.name_log.drain(..n) {
            for (p, node) in op.changes {
                match node {
                    Some(node) => self.durable_names.insert(p, node),
                    None => self.durable_names.remove(&p),
                };
            }
        }
    }

    fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> io::Result<()> {
        self.trace(|| {
            format!("write ino {ino} at {offset} len {} (armed {:?})", data.len(), self.faults.write_fails_after)
        });
        if fails(&mut self.faults.write_fails_after) {
            return Err(os_err(libc::EIO));
        }
        let len = self.inodes.get(&ino).map_or(0, |i| i.current.len() as u64);
        self.room((offset + data.len() as u64).saturating_sub(len))?;
        let op = DataOp::Write { offset, data: data.to_vec() };
        let i = self.inodes.entry(ino).or_default();
        apply(&mut i.current, &op);
        i.pending.push(op);
        Ok(())
    }

    fn set_len(&mut self, ino: u64, len: u64) -> io::Result<()> {
        self.trace(|| format!("set_len ino {ino} {len}"));
        let now = self.inodes.get(&ino).map_or(0, |i| i.current.len() as u64);
        self.room(len.saturating_sub(now))?;
        let op = DataOp::SetLen(len);
        let i = self.inodes.entry(ino).or_default();
        apply(&mut i.current, &op);
        i.pending.push(op);
        Ok(())
    }

    fn sync(&mut self, ino: u64) -> io::Result<()> {
        self.trace(|| {
            format!(
                "sync ino {ino} pending {} (armed {:?})",
                self.inodes.get(&ino).map_or(0, |i| i.pending.len()),
                self.faults.sync_fails_after
            )
        });
        if fails(&mut self.faults.sync_fails_after) {
            // As Linux after a writeback error: the pages are marked clean,
            // so what this sync was to make durable never will be, though
            // it reads back until a crash. A retried sync "succeeds".
            if let Some(i) = self.inodes.get_mut(&ino) {
                i.pending.clear();
            }
            return Err(os_err(libc::EIO));
        }
        if let Some(i) = self.inodes.get_mut(&ino) {
            for op in std::mem::take(&mut i.pending) {
                apply(&mut i.durable, &op);
            }
        }
        Ok(())
    }
}

impl SimFs {
    pub fn new() -> SimFs {
        SimFs::default()
    }

    /// Prints every later operation on this device (opens, writes, syncs,
    /// names, locks, closes, crashes: the inode and handle each concerns)
    /// to stdout, labelled `label`; None stops. A debugging aid: it changes
    /// nothing about what the device does.
    pub fn set_trace(&self, label: Option<String>) {
        self.lock().trace = label;
    }

    /// Prints `what` among this device's operations, if it is traced (the
    /// text is only built then).
    pub fn note(&self, what: impl FnOnce() -> String) {
        self.lock().trace(what);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This device as a journal storage.
    pub fn storage(&self) -> Arc<dyn Storage> {
        Arc::new(self.clone())
    }

    /// A power loss (see the module doc). `choose(n)` picks one of `n > 1`
    /// possibilities, `0..n` (a larger value counts as `n - 1`); it is asked,
    /// in this order: how many pending namespace changes survive, then for
    /// each file with pending changes (in creation order) how many survive,
    /// and, if the last survivor is a write of `len` bytes, how many of its
    /// bytes (`len` meaning all of it). A chooser that always answers 0
    /// loses everything unsynced; one that always answers `n - 1` keeps it.
    pub fn crash(&self, choose: &mut dyn FnMut(u64) -> u64) {
        self.lock().trace(|| "power loss".into());
        let mut pick = |n: usize| -> usize {
            if n <= 1 {
                0
            } else {
                (choose(n as u64).min(n as u64 - 1)) as usize
            }
        };
        let mut s = self.lock();
        let keep = pick(s.name_log.len() + 1);
        s.commit_names(keep);
        s.name_log.clear();
        s.names = s.durable_names.clone();
        for i in s.inodes.values_mut() {
            let mut pending = std::mem::take(&mut i.pending);
            let keep = pick(pending.len() + 1);
            pending.truncate(keep);
            if let Some(DataOp::Write { data, .. }) = pending.last_mut() {
                let bytes = pick(data.len() + 1);
                data.truncate(bytes);
            }
            for op in &pending {
                apply(&mut i.durable, op);
            }
            i.current = i.durable.clone();
        }
        s.generation += 1;
        s.handles.clear();
        s.locks.clear();
        s.collect();
    }

    /// A power loss that keeps nothing unsynced.
    pub fn crash_losing_everything_unsynced(&self) {
        self.crash(&mut |_| 0);
    }

    /// An independent copy of the device as it is now, volatile state
    /// included (to crash the same moment in many ways). No handle of this
    /// device works on the copy, and the copy holds no locks.
    pub fn fork(&self) -> SimFs {
        let mut s = self.lock().clone();
        s.trace = None;
        s.handles.clear();
        s.locks.clear();
        s.generation += 1;
        SimFs { state: Arc::new(Mutex::new(s)) }
    }

    /// The next data write (any file) fails with EIO and writes nothing.
    pub fn fail_next_write(&self) {
        self.fail_write_after(Some(0));
    }

    /// The next file sync fails with EIO and makes nothing durable.
    pub fn fail_next_sync(&self) {
        self.fail_sync_after(Some(0));
    }

    /// After `n` more data writes succeed, the next one fails with EIO and
    /// writes nothing (None: cancel). Only that one: the device is not
    /// broken for good (the journal stops using it after one failure).
    pub fn fail_write_after(&self, n: Option<u64>) {
        self.lock().faults.write_fails_after = n;
    }

    /// After `n` more file syncs succeed, the next one fails with EIO and
    /// makes nothing durable (None: cancel).
    pub fn fail_sync_after(&self, n: Option<u64>) {
        self.lock().faults.sync_fails_after = n;
    }

    /// Whether a write or sync failure is still waiting to happen.
    pub fn fault_armed(&self) -> bool {
        let s = self.lock();
        s.faults.write_fails_after.is_some() || s.faults.sync_fails_after.is_some()
    }

    /// Writes and size changes that would grow the device past `bytes`
    /// fail with ENOSPC (None: no limit).
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.lock().faults.capacity = bytes;
    }

    /// Bytes the device holds now.
    pub fn used(&self) -> u64 {
        self.lock().used()
    }

    /// The durable content of `path` (what a crash losing everything
    /// unsynced would leave), if the name is durable.
    pub fn durable_content(&self, path: &Path) -> Option<Vec<u8>> {
        let s = self.lock();
        match s.durable_names.get(path) {
            Some(Node::File(ino)) => s.inodes.get(ino).map(|i| i.durable.clone()),
            _ => None,
        }
    }

    /// Overwrites bytes of `path` durably, as damage on the medium would
    /// (for tests of corruption); `NotFound` if there is no such file.
    pub fn damage(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.lock();
        let ino = s.file(path)?;
        let op = DataOp::Write { offset, data: bytes.to_vec() };
        if let Some(i) = s.inodes.get_mut(&ino) {
            apply(&mut i.durable, &op);
            apply(&mut i.current, &op);
        }
        Ok(())
    }
}

impl Storage for SimFs {
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let s = self.lock();
        if !s.is_dir(dir) {
            return Err(os_err(libc::ENOENT));
        }
        let names = s.names.keys().filter(|p| p.parent() == Some(dir)).filter_map(|p| p.file_name());
        Ok(names.map(|n| n.to_os_string()).collect())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let mut missing: Vec<PathBuf> = dir.ancestors().filter(|a| !s.is_dir(a)).map(Path::to_path_buf).collect();
        if missing.iter().any(|p| s.names.contains_key(p)) {
            return Err(os_err(libc::ENOTDIR));
        }
        missing.reverse();
        for d in missing {
            s.change(vec![(d, Some(Node::Dir))]);
        }
        Ok(())
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let s = self.lock();
        if s.is_dir(path) || s.names.contains_key(path) {
            Ok(path.to_path_buf())
        } else {
            Err(os_err(libc::ENOENT))
        }
    }

    fn exists(&self, path: &Path) -> bool {
        let s = self.lock();
        s.is_dir(path) || s.names.contains_key(path)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let s = self.lock();
        let ino = s.file(path)?;
        Ok(s.inodes.get(&ino).map(|i| i.current.clone()).unwrap_or_default())
    }

    fn open(&self, path: &Path, how: Open, _read: bool) -> io::Result<Box<dyn StorageFile>> {
        let mut s = self.lock();
        s.need_parent(path)?;
        let ino = match (s.names.get(path).copied(), how) {
            (Some(Node::Dir), _) => return Err(os_err(libc::EISDIR)),
            (Some(Node::File(_)), Open::CreateNew) => return Err(os_err(libc::EEXIST)),
            (Some(Node::File(ino)), Open::Truncate) => {
                s.set_len(ino, 0)?;
                ino
            }
            (Some(Node::File(ino)), _) => ino,
            (None, Open::Existing) => return Err(os_err(libc::ENOENT)),
            (None, _) => {
                let ino = s.new_inode();
                s.change(vec![(path.to_path_buf(), Some(Node::File(ino)))]);
                ino
            }
        };
        s.next_handle += 1;
        let id = s.next_handle;
        s.trace(|| format!("open {path:?} {how:?} -> ino {ino} handle {id}"));
        s.handles.insert(id, ino);
        Ok(Box::new(SimFile { state: self.state.clone(), id, ino, generation: s.generation }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.need_parent(to)?;
        let node = s.names.get(from).copied().ok_or_else(|| os_err(libc::ENOENT))?;
        if matches!(node, Node::Dir) || s.names.get(to) == Some(&Node::Dir) {
            return Err(os_err(libc::EISDIR));
        }
        if from != to {
            s.change(vec![(to.to_path_buf(), Some(node)), (from.to_path_buf(), None)]);
        }
        Ok(())
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.need_parent(to)?;
        let ino = s.file(from)?;
        if s.names.contains_key(to) || parent(to).is_none() {
            return Err(os_err(libc::EEXIST));
        }
        s.change(vec![(to.to_path_buf(), Some(Node::File(ino)))]);
        Ok(())
    }

    fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        let content = self.read(from)?;
        let f = self.open(to, Open::Truncate, false)?;
        f.write_all_at(&content, 0)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        s.file(path)?;
        s.change(vec![(path.to_path_buf(), None)]);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.lock();
        if !s.is_dir(dir) {
            return Err(os_err(libc::ENOENT));
        }
        s.trace(|| format!("sync_dir {dir:?}"));
        let last = s.name_log.iter().rposition(|op| op.dirs.iter().any(|d| d == dir));
        if let Some(i) = last {
            s.commit_names(i + 1);
            s.collect();
        }
        Ok(())
    }

    fn pause_before_lock_retry(&self) -> bool {
        false
    }

    fn unique_suffix(&self) -> String {
        let mut s = self.lock();
        s.unique += 1;
        format!("sim.{}", s.unique)
    }
}

/// A handle on a simulated file.
struct SimFile {
    state: Arc<Mutex<State>>,
    id: u64,
    ino: u64,
    generation: u64,
}

impl SimFile {
    /// The device, if this handle survived every crash so far.
    fn live(&self) -> io::Result<MutexGuard<'_, State>> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.generation == self.generation {
            Ok(s)
        } else {
            // A power loss since it was opened: its process is gone.
            Err(os_err(libc::EIO))
        }
    }
}

impl StorageFile for SimFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.live()?.write(self.ino, offset, buf)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let s = self.live()?;
        let data = s.inodes.get(&self.ino).map(|i| i.current.as_slice()).unwrap_or_default();
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| data.get(o..o.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.live()?.inodes.get(&self.ino).map_or(0, |i| i.current.len() as u64))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.live()?.set_len(self.ino, len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.live()?.sync(self.ino)
    }

    fn sync_all(&self) -> io::Result<()> {
        self.live()?.sync(self.ino)
    }

    fn drop_cache(&self) -> io::Result<()> {
        // What is cached and clean goes: the file reads as its durable image
        // plus the writes still waiting for a sync (dirty pages stay). A
        // write whose sync failed reads back no more.
        let mut s = self.live()?;
        if let Some(i) = s.inodes.get_mut(&self.ino) {
            let mut image = i.durable.clone();
            for op in &i.pending {
                apply(&mut image, op);
            }
            i.current = image;
        }
        Ok(())
    }

    fn try_lock(&self) -> Result<(), TryLockError> {
        let mut s = self.live().map_err(TryLockError::Error)?;
        match s.locks.get(&self.ino) {
            Some(holder) if *holder != self.id => Err(TryLockError::WouldBlock),
            _ => {
                s.trace(|| format!("lock ino {} by handle {}", self.ino, self.id));
                s.locks.insert(self.ino, self.id);
                Ok(())
            }
        }
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.generation != self.generation {
            return;
        }
        s.trace(|| format!("close handle {} ino {}", self.id, self.ino));
        s.handles.remove(&self.id);
        if s.locks.get(&self.ino) == Some(&self.id) {
            s.locks.remove(&self.ino);
        }
        s.collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> (SimFs, PathBuf) {
        let fs = SimFs::new();
        let dir = PathBuf::from("/d");
        fs.create_dir_all(&dir).unwrap();
        fs.sync_dir(Path::new("/")).unwrap();
        (fs, dir)
    }

    /// A chooser that gives `script`'s answers in turn, checking that each
    /// question has the expected number of possibilities, then keeps all.
    fn scripted(script: Vec<(u64, u64)>) -> impl FnMut(u64) -> u64 {
        let mut it = script.into_iter();
        move |n| match it.next() {
            Some((want_n, answer)) => {
                assert_eq!(n, want_n, "the crash asked an unexpected question");
                answer
            }
            None => n - 1,
        }
    }

    #[test]
    fn a_crash_keeps_no_unsynced_write_and_no_unsynced_name() {
        let (fs, dir) = dev();
        let p = dir.join("f");
        let f = fs.open(&p, Open::CreateNew, true).unwrap();
        fs.sync_dir(&dir).unwrap();
        f.write_all_at(b"durable", 0).unwrap();
        f.sync_data().unwrap();
        f.write_all_at(b"VOLATILE", 7).unwrap();
        f.set_len(100).unwrap();
        // Unsynced names: a new file, a removal, a rename.
        let q = dir.join("q");
        drop(fs.open(&q, Open::CreateNew, false).unwrap());
        fs.sync_dir(&dir).unwrap();
        drop(fs.open(&dir.join("new"), Open::CreateNew, false).unwrap());
        fs.remove(&q).unwrap();
        fs.rename(&p, &dir.join("renamed")).unwrap();
        // Everything is visible before the crash...
        assert_eq!(fs.read(&dir.join("renamed")).unwrap()[..15], *b"durableVOLATILE");
        assert!(!fs.exists(&q));
        fs.crash_losing_everything_unsynced();
        // ...and only what was synced after it.
        assert_eq!(fs.read(&p).unwrap(), b"durable");
        assert!(fs.exists(&q) && !fs.exists(&dir.join("new")) && !fs.exists(&dir.join("renamed")));
        // The old handle died with its process.
        assert_eq!(f.write_all_at(b"x", 0).unwrap_err().raw_os_error(), Some(libc::EIO));
        assert_eq!(fs.read(&p).unwrap(), b"durable");
    }

    #[test]
    fn a_crash_keeps_a_prefix_of_the_writes_in_order_and_may_tear_the_last() {
        let (fs, dir) = dev();
        let p = dir.join("f");
        let f = fs.open(&p, Open::CreateNew, true).unwrap();
        fs.sync_dir(&dir).unwrap();
        f.sync_all().unwrap();
        for (i, w) in [&b"aaaa"[..], b"bbbb", b"cccc"].iter().enumerate() {
            f.write_all_at(w, 4 * i as u64).unwrap();
        }
        // (questions with their answers, what survives)
        type Case = (Vec<(u64, u64)>, &'static [u8]);
        let cases: Vec<Case> = vec![
            (vec![(4, 0)], b""),
            (vec![(4, 1), (5, 4)], b"aaaa"),
            (vec![(4, 2), (5, 1)], b"aaaab"),
            (vec![(4, 3), (5, 0)], b"aaaabbbb"),
            (vec![(4, 3), (5, 4)], b"aaaabbbbcccc"),
        ];
        for (script, want) in cases {
            let copy = fs.fork();
            copy.crash(&mut scripted(script.clone()));
            assert_eq!(copy.read(&p).unwrap(), want, "{script:?}");
        }
        // The original is untouched by its copies' crashes.
        assert_eq!(fs.read(&p).unwrap(), b"aaaabbbbcccc");
        assert_eq!(fs.durable_content(&p).unwrap(), b"");
    }

    #[test]
    fn a_directory_sync_makes_the_name_log_durable_in_order_up_to_its_last_change() {
        let (fs, dir) = dev();
        let other = PathBuf::from("/e");
        fs.create_dir_all(&other).unwrap();
        fs.sync_dir(Path::new("/")).unwrap();
        drop(fs.open(&dir.join("1"), Open::CreateNew, false).unwrap());
        drop(fs.open(&other.join("2"), Open::CreateNew, false).unwrap());
        drop(fs.open(&dir.join("3"), Open::CreateNew, false).unwrap());
        fs.sync_dir(&other).unwrap();
        fs.crash_losing_everything_unsynced();
        // /e's change and everything logged before it are durable, not after.
        assert!(fs.exists(&dir.join("1")) && fs.exists(&other.join("2")) && !fs.exists(&dir.join("3")));
        // A hard link never replaces; a rename does.
        let (a, b) = (dir.join("1"), other.join("2"));
        assert_eq!(fs.hard_link(&a, &b).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        fs.rename(&a, &b).unwrap();
        assert!(!fs.exists(&a) && fs.exists(&b));
    }

    #[test]
    fn locks_belong_to_handles_and_go_with_them_or_with_a_crash() {
        let (fs, dir) = dev();
        let p = dir.join("lock");
        let a = fs.open(&p, Open::Create, true).unwrap();
        let b = fs.open(&p, Open::Create, true).unwrap();
        a.try_lock().unwrap();
        a.try_lock().unwrap();
        assert!(matches!(b.try_lock(), Err(TryLockError::WouldBlock)));
        drop(a);
        b.try_lock().unwrap();
        let c = fs.open(&p, Open::Create, true).unwrap();
        assert!(matches!(c.try_lock(), Err(TryLockError::WouldBlock)));
        fs.crash(&mut |n| n - 1);
        // Every handle died with the machine; the lock with them.
        assert!(matches!(c.try_lock(), Err(TryLockError::Error(_))));
        drop(b);
        let d = fs.open(&p, Open::Create, true).unwrap();
        d.try_lock().unwrap();
    }

    #[test]
    fn faults_eio_on_the_next_write_or_sync_and_enospc_past_the_capacity() {
        let (fs, dir) = dev();
        let f = fs.open(&dir.join("f"), Open::CreateNew, true).unwrap();
        fs.sync_dir(&dir).unwrap();
        fs.fail_next_write();
        assert_eq!(f.write_all_at(b"x", 0).unwrap_err().raw_os_error(), Some(libc::EIO));
        assert_eq!(f.size().unwrap(), 0, "a failed write writes nothing");
        f.write_all_at(b"x", 0).unwrap();
        fs.fail_next_sync();
        assert_eq!(f.sync_data().unwrap_err().raw_os_error(), Some(libc::EIO));
        assert_eq!(fs.durable_content(&dir.join("f")).unwrap(), b"", "a failed sync makes nothing durable");
        // ...and never will: a retried sync succeeds without the lost write.
        f.sync_data().unwrap();
        assert_eq!(fs.durable_content(&dir.join("f")).unwrap(), b"");
        assert_eq!(fs.read(&dir.join("f")).unwrap(), b"x");
        fs.set_capacity(Some(fs.used() + 10));
        f.write_all_at(&[1; 10], 1).unwrap();
        let e = f.write_all_at(&[1; 2], 10).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        assert!(crate::journal::segment::is_no_space(&e));
        assert_eq!(f.set_len(100).unwrap_err().raw_os_error(), Some(libc::ENOSPC));
        // Overwriting needs no room.
        f.write_all_at(&[2; 11], 0).unwrap();
        fs.set_capacity(None);
        f.set_len(100).unwrap();
    }
}
