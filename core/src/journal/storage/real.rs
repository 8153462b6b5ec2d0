//! [`Storage`] over `std::fs`: each method is the call the journal made
//! before the storage layer existed, nothing added.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

/// Mode of the journal directories this storage makes.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the journal files this storage makes.
pub const FILE_MODE: u32 = 0o600;
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
        // Owner only, whatever the umask left (a journal holds every
        // transaction's payload): directories made here are 0700.
        fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
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

    fn read_small(&self, path: &Path, expect: usize) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut f = File::open(path)?;
        // One byte more than expected: a read that fills `expect` bytes and
        // not the one after has found the end (a regular file's read comes
        // back short only at its end); anything else reads on to the end or
        // the extra byte.
        let mut buf = vec![0u8; expect + 1];
        let mut n = 0;
        loop {
            match f.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    if n == expect || n == buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(n);
        Ok(buf)
    }

    fn open(&self, path: &Path, how: Open, read: bool) -> io::Result<Box<dyn StorageFile>> {
        let mut o = OpenOptions::new();
        // Files made here are 0600 (umask can only take bits away).
        o.read(read).write(true).mode(FILE_MODE);
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

    fn lock_holder(&self, path: &Path) -> Option<u32> {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(path).ok()?;
        let (major, minor) = (libc::major(m.dev()), libc::minor(m.dev()));
        let locks = fs::read_to_string("/proc/locks").ok()?;
        lock_holder_in(&locks, major, minor, m.ino())
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

    #[cfg(target_os = "linux")]
    fn drop_cache(&self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the life of `self.0`; the call
        // reads nothing from memory. It returns the error number itself.
        let r = unsafe { libc::posix_fadvise(self.0.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(r))
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn drop_cache(&self) -> io::Result<()> {
        Ok(())
    }

    fn try_lock(&self) -> Result<(), TryLockError> {
        self.0.try_lock()
    }
}

/// The pid holding a lock on inode `ino` of device `major:minor`, from the
/// text of `/proc/locks` (lines such as `1: FLOCK  ADVISORY  WRITE 2915
/// fd:01:1309823 0 EOF`; lines with `->` are waiters, not holders).
fn lock_holder_in(locks: &str, major: u32, minor: u32, ino: u64) -> Option<u32> {
    let want = format!("{major:02x}:{minor:02x}:{ino}");
    locks.lines().filter(|l| !l.contains("->")).find_map(|l| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        // id:, kind, mode, access, pid, device:inode, start, end
        let at = fields.iter().position(|f| *f == want)?;
        fields.get(at.checked_sub(1)?)?.parse().ok()
    })
}

#[cfg(test)]
mod lock_holder_tests {
    use super::*;

    #[test]
    fn proc_locks_lines_are_read_and_waiters_ignored() {
        let text = "1: POSIX  ADVISORY  WRITE 77 08:02:55 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 2915 fd:01:1309823 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 3000 fd:01:1309823 0 EOF\n";
        assert_eq!(lock_holder_in(text, 0xfd, 1, 1309823), Some(2915));
        assert_eq!(lock_holder_in(text, 8, 2, 55), Some(77));
        assert_eq!(lock_holder_in(text, 8, 2, 56), None);
        assert_eq!(lock_holder_in("garbage\n\n1:\n", 8, 2, 55), None);
    }

    #[test]
    fn the_holder_of_a_real_lock_is_this_process() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        let f = File::create(&p).unwrap();
        assert_eq!(RealFs.lock_holder(&p), None, "nobody holds it yet");
        f.try_lock().unwrap();
        assert_eq!(RealFs.lock_holder(&p), Some(std::process::id()));
    }
}

#[cfg(test)]
mod mode_tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// Whatever the umask (the test's is usually 022, which would leave
    /// 0755 and 0644), a journal is its owner's alone.
    #[test]
    fn journal_directories_and_files_are_for_their_owner_only() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("root").join("journal");
        RealFs.create_dir_all(&dir).unwrap();
        assert_eq!((mode(&d.path().join("root")), mode(&dir)), (DIR_MODE, DIR_MODE));
        let f = dir.join("seg");
        drop(RealFs.open(&f, Open::CreateNew, true).unwrap());
        assert_eq!(mode(&f), FILE_MODE);
    }
}
