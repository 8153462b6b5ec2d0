//! The storage the journal runs on: exactly the file system operations the
//! journal code uses, behind one object-safe trait, so that the same code
//! (group commit, segments, epochs and claims, recovery, salvage) runs on
//! the real file system ([`RealFs`]) and on a simulated device ([`SimFs`])
//! that keeps a durable image and a volatile tail.
//!
//! Why a trait object and not a generic parameter or an enum: the journal's
//! types (`Journal`, the writer) stay non-generic, so every caller and the
//! C/Python layers are unchanged; a test or the simulator can bring its own
//! device without touching this module. The cost is one indirect call per
//! operation. On the hot path (the writer's positioned write, its
//! `fdatasync` and the epoch check after each batch) that is the only
//! change: the same syscalls, no allocation, no lock (RealFs is stateless).
//!
//! Semantics every implementation keeps (the journal's invariants rely on
//! them):
//! - `open` with [`Open::CreateNew`] fails with `AlreadyExists` if the name
//!   exists (exactly one creator wins);
//! - `hard_link` never replaces: `AlreadyExists` if the new name exists;
//! - `rename` replaces the target atomically;
//! - file data is durable after `sync_data`/`sync_all` of the file; a name
//!   (create, link, rename, remove) is durable after `sync_dir` of its
//!   directory;
//! - a lock belongs to the handle that took it and is released when that
//!   handle is dropped.

mod real;
pub mod sim;

use std::ffi::OsString;
use std::fs::TryLockError;
use std::io;
use std::path::{Path, PathBuf};

pub use real::RealFs;
pub use sim::SimFs;

/// How [`Storage::open`] treats the name. Files are always opened for
/// writing; `read` in [`Storage::open`] adds reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// The file must exist.
    Existing,
    /// Created if missing, never truncated.
    Create,
    /// Created; `AlreadyExists` if the name exists.
    CreateNew,
    /// Created if missing, truncated to 0 if not.
    Truncate,
}

/// A file system as the journal uses it (see the module doc for the
/// semantics an implementation must keep).
pub trait Storage: Send + Sync {
    /// The names in `dir` (no `.` or `..`), in no particular order.
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// Creates `dir` and its missing parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The absolute, resolved form of `path` (for syncing a parent directory).
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
    /// Whether `path` names anything (errors count as no, as `Path::exists`).
    fn exists(&self, path: &Path) -> bool;
    /// The whole content of the file at `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The content of a file expected to hold `expect` bytes: the same as
    /// [`Storage::read`] for a file of that size; for a longer one, at
    /// least `expect + 1` bytes (enough to tell that it is too long).
    /// The epoch check after every group commit reads the epoch file this
    /// way: on the real file system one open, one read and one close,
    /// where a whole-file read also stats the file and reads again to
    /// find its end.
    fn read_small(&self, path: &Path, expect: usize) -> io::Result<Vec<u8>> {
        let _ = expect;
        self.read(path)
    }
    fn open(&self, path: &Path, how: Open, read: bool) -> io::Result<Box<dyn StorageFile>>;
    /// Atomically replaces `to` (if it exists) by `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// A second name for a file; never replaces an existing `to`.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Copies the content of `from` to `to` (created or truncated).
    fn copy(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the name `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` (creations, links, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// A busy lock was found: pause before trying again and return true, or
    /// return false to call it held at once. (On a real system a lock just
    /// released can still be held for a moment by a child between its fork
    /// and exec; a simulated device has no such moment and no clock.)
    fn pause_before_lock_retry(&self) -> bool;
    /// A suffix that makes a temporary file name unique among this
    /// storage's users (process id and a counter on a real system).
    fn unique_suffix(&self) -> String;
    /// Who holds the exclusive lock on the file at `path`, when the system
    /// can tell (on Linux, `/proc/locks`): the holder's process id. None
    /// when it cannot tell (a simulated device, a lock held on another
    /// machine of a network file system).
    fn lock_holder(&self, _path: &Path) -> Option<u32> {
        None
    }
}

/// An open file. Positioned reads and writes only (no shared cursor).
pub trait StorageFile: Send + Sync {
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Fills `buf` from `offset`; `UnexpectedEof` if the file is shorter.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The file's size in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Truncates or extends (with zeros) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// `fdatasync`: the data written so far (and the size) is durable.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`: as `sync_data`, and the file's metadata.
    fn sync_all(&self) -> io::Result<()>;
    /// Drops the file's clean cached pages (`posix_fadvise(DONTNEED)`), so
    /// that the next read returns what the device holds. Call after
    /// `sync_data`: a page whose writeback failed is marked clean and reads
    /// back the failed write until it is evicted, though the device never
    /// got it (Linux since 4.13). Best effort: pages mapped or locked by
    /// another process stay.
    fn drop_cache(&self) -> io::Result<()>;
    /// One attempt at the exclusive lock, without waiting.
    fn try_lock(&self) -> Result<(), TryLockError>;
}

/// The real file system, shared (it has no state).
pub fn real() -> std::sync::Arc<dyn Storage> {
    std::sync::Arc::new(RealFs)
}
