//! Segment files: naming, listing, creation (zero-filled preallocation) and
//! recycling. Nothing here decides *when*; the writer and recovery do.
//!
//! Invariants the functions keep:
//! - a segment file is never created over an existing name (`create_new`),
//!   and recycling renames without replacing (hard link, then unlink), so an
//!   owner can never clobber a segment a newer owner created (which file
//!   may be recycled at all, given owners that may still write into theirs,
//!   is the writer's decision: `recover::late_writers`);
//! - the directory is fsynced after every creation, rename or removal;
//! - a new segment is completely written with zeros and fsynced before it is
//!   used, so later `fdatasync`s have no block allocation or size change to flush.

use std::io;
use std::path::{Path, PathBuf};

use super::format::{encode_header, SegmentHeader, HEADER_BYTES, WORD_BYTES};
use super::storage::{Open, Storage, StorageFile};
use super::JournalError;

/// An open segment (or other journal) file.
pub type File = Box<dyn StorageFile>;

/// `seg-<16-digit number>.rtrj`.
pub fn file_name(number: u64) -> String {
    format!("seg-{number:016}.rtrj")
}

pub fn path(dir: &Path, number: u64) -> PathBuf {
    dir.join(file_name(number))
}

/// The segment number a file name denotes, if it is a segment name.
pub fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".rtrj")?;
    if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub fn io_err(path: &Path, source: io::Error) -> JournalError {
    JournalError::Io { path: path.to_path_buf(), source }
}

/// The segment files of `dir`, sorted by number. Other files are ignored.
pub fn list(fs: &dyn Storage, dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    for name in fs.list(dir).map_err(|e| io_err(dir, e))? {
        if let Some(n) = name.to_str().and_then(parse_name) {
            out.push((n, dir.join(&name)));
        }
    }
    out.sort();
    Ok(out)
}

/// Makes the directory's entries (creations, renames, removals) durable.
pub fn sync_dir(fs: &dyn Storage, dir: &Path) -> Result<(), JournalError> {
    fs.sync_dir(dir).map_err(|e| io_err(dir, e))
}

/// Why a segment could not be created.
pub enum CreateError {
    /// The name exists: another owner made it (the caller checks the epoch).
    Exists,
    /// Out of space while preallocating: the partial file was removed again,
    /// nothing else was touched.
    NoSpace(io::Error),
    Io(JournalError),
}

const ZERO_CHUNK: usize = 1 << 20;

/// Creates segment `number` of `size` bytes: zero-filled, header written
/// (`locked`: the owner holds the OS lock), fsynced, directory fsynced.
/// Returns the open file.
pub fn create(
    fs: &dyn Storage,
    dir: &Path,
    number: u64,
    epoch: u64,
    locked: bool,
    size: u64,
) -> Result<File, CreateError> {
    let p = path(dir, number);
    let file = match fs.open(&p, Open::CreateNew, true) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(CreateError::Exists),
        Err(e) => return Err(CreateError::Io(io_err(&p, e))),
    };
    let fill = || -> io::Result<()> {
        let zeros = vec![0u8; ZERO_CHUNK];
        let mut off = 0u64;
        while off < size {
            let n = (size - off).min(ZERO_CHUNK as u64) as usize;
            file.write_all_at(&zeros[..n], off)?;
            off += n as u64;
        }
        file.write_all_at(&encode_header(&SegmentHeader { segment: number, epoch, locked }), 0)?;
        file.sync_all()
    };
    if let Err(e) = fill() {
        // The file is ours and holds no records: removing it harms nothing.
        let _ = fs.remove(&p);
        let _ = sync_dir(fs, dir);
        return Err(if is_no_space(&e) { CreateError::NoSpace(e) } else { CreateError::Io(io_err(&p, e)) });
    }
    sync_dir(fs, dir).map_err(CreateError::Io)?;
    Ok(file)
}

pub fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) || e.kind() == io::ErrorKind::StorageFull
}

/// Why a recycle did not happen.
pub enum RecycleError {
    /// The new name exists: another owner made it.
    Exists,
    /// Hard links are not available here (or the old file vanished): the
    /// caller falls back to delete + create.
    Unsupported,
    Io(JournalError),
}

/// Gives the file of segment `old` a new life as segment `new`: renames it
/// without replacing anything (link, unlink, fsync dir), then writes the new
/// header, an end-of-data word where records start and zeros over its last
/// 8 bytes. The new header and end word become durable with the first
/// fdatasync of the new segment; until then a crash leaves a header that
/// does not match the name, which recovery treats as an unfinished segment.
///
/// Records of the old life stay in the file but can never check out: the
/// CRC seed is the segment number.
pub fn recycle(
    fs: &dyn Storage,
    dir: &Path,
    old: u64,
    new: u64,
    epoch: u64,
    locked: bool,
    size: u64,
) -> Result<File, RecycleError> {
    let (from, to) = (path(dir, old), path(dir, new));
    match fs.hard_link(&from, &to) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(RecycleError::Exists),
        Err(_) => return Err(RecycleError::Unsupported),
    }
    fs.remove(&from).map_err(|e| RecycleError::Io(io_err(&from, e)))?;
    sync_dir(fs, dir).map_err(RecycleError::Io)?;
    let file = fs.open(&to, Open::Existing, true).map_err(|e| RecycleError::Io(io_err(&to, e)))?;
    let write = || -> io::Result<()> {
        let mut head = vec![0u8; HEADER_BYTES as usize + WORD_BYTES];
        head[..super::format::HEADER_USED].copy_from_slice(&encode_header(&SegmentHeader {
            segment: new,
            epoch,
            locked,
        }));
        file.write_all_at(&head, 0)?;
        if size >= HEADER_BYTES + 2 * WORD_BYTES as u64 {
            file.write_all_at(&[0u8; WORD_BYTES], size - WORD_BYTES as u64)?;
        }
        Ok(())
    };
    write().map_err(|e| RecycleError::Io(io_err(&to, e)))?;
    Ok(file)
}

/// Removes a segment file and fsyncs the directory.
pub fn remove(fs: &dyn Storage, dir: &Path, number: u64) -> Result<(), JournalError> {
    let p = path(dir, number);
    fs.remove(&p).map_err(|e| io_err(&p, e))?;
    sync_dir(fs, dir)
}

/// Zeroes `file` from `from` to its end (torn-tail truncation) and fsyncs it.
pub fn zero_from(file: &dyn StorageFile, p: &Path, from: u64) -> Result<(), JournalError> {
    let len = file.size().map_err(|e| io_err(p, e))?;
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut off = from;
    while off < len {
        let n = (len - off).min(ZERO_CHUNK as u64) as usize;
        file.write_all_at(&zeros[..n], off).map_err(|e| io_err(p, e))?;
        off += n as u64;
    }
    file.sync_data().map_err(|e| io_err(p, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::format::decode_header;
    use crate::journal::storage::RealFs;
    use std::fs;

    #[test]
    fn names() {
        assert_eq!(file_name(42), "seg-0000000000000042.rtrj");
        assert_eq!(parse_name("seg-0000000000000042.rtrj"), Some(42));
        assert_eq!(parse_name("seg-42.rtrj"), None);
        assert_eq!(parse_name("seg-000000000000004x.rtrj"), None);
        assert_eq!(parse_name("epoch"), None);
    }

    #[test]
    fn create_refuses_an_existing_name_and_recycle_never_replaces() {
        let d = tempfile::tempdir().unwrap();
        let size = 64 * 1024;
        let f = create(&RealFs, d.path(), 1, 1, true, size).ok().unwrap();
        assert_eq!(f.size().unwrap(), size);
        assert!(matches!(create(&RealFs, d.path(), 1, 1, true, size), Err(CreateError::Exists)));
        create(&RealFs, d.path(), 2, 1, true, size).ok().unwrap();
        assert!(matches!(recycle(&RealFs, d.path(), 1, 2, 2, true, size), Err(RecycleError::Exists)));
        let f3 = recycle(&RealFs, d.path(), 1, 3, 2, true, size).ok().unwrap();
        drop(f3);
        let nums: Vec<u64> = list(&RealFs, d.path()).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(nums, vec![2, 3]);
        let bytes = fs::read(path(d.path(), 3)).unwrap();
        assert_eq!(decode_header(&bytes).unwrap(), SegmentHeader { segment: 3, epoch: 2, locked: true });
    }
}
