//! [`Storage`] over `std::fs`: each method is the call the journal made
//! before the storage layer existed, nothing added.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Open, Storage, StorageFile};

/// The real file system. Stateless: a unit value, shared freely.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

/// How long a busy lock is waited for before each retry.
const LOCK_RETRY_PAUSE: Duration = Duration::from_millis(10);

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Storage for RealFs {
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            out.push(entry?.file_name());
        }
        Ok(out)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        path.canonicalize()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn open(&self, path: &Path, how: Open, read: bool) -> io::Result<Box<dyn StorageFile>> {
        let mut o = OpenOptions::new();
        o.read(read).write(true);
        match how {
            Open::Existing => {}
            Open::Create => {
                o.create(true).truncate(false);
            }
            Open::CreateNew => {
                o.create_new(true);
            }
            Open::Truncate => {
                o.create(true).truncate(true);
            }
        }
        Ok(Box::new(RealFile(o.open(path)?)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }

    fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::copy(from, to).map(|_| ())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir).and_then(|d| d.sync_all())
    }

    fn pause_before_lock_retry(&self) -> bool {
        std::thread::sleep(LOCK_RETRY_PAUSE);
        true
    }

    fn unique_suffix(&self) -> String {
        format!("{}.{}", std::process::id(), TMP_COUNTER.fetch_add(1, Ordering::Relaxed))
    }
}

/// A `std::fs::File`; dropping it closes the file (and releases its lock).
#[derive(Debug)]
pub struct RealFile(pub File);

impl StorageFile for RealFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        self.0.metadata().map(|m| m.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn try_lock(&self) -> Result<(), TryLockError> {
        self.0.try_lock()
    }
}
