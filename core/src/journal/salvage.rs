//! Salvage: the operator's way past damaged records (`rtr journal salvage`).
//!
//! Recovery refuses a journal whose records are damaged anywhere but in a
//! torn tail (ARCHITECTURE §6): only an operator may decide to lose data.
//! Salvage is that decision. For every segment with damaged records that
//! recovery refuses, it rebuilds the segment from its valid records, the
//! ones before the damage and the ones after it, in their order, and drops
//! the damaged bytes. What a damaged stretch held is lost: a record there
//! may have been a transaction's message, vote, commit or Done, so a
//! transaction can come back incomplete (replayed without a message,
//! presumed aborted without its vote, or replayed again without its Done).
//!
//! Invariants:
//! - it runs as the journal's owner (lock taken, a new epoch claimed, so any
//!   previous owner is fenced) before changing anything;
//! - a rebuilt segment keeps its file name, size, header and CRC seed; its
//!   records move down over the dropped bytes (a record's checksum does not
//!   depend on its offset). Records a fenced owner wrote after its seal
//!   (stale) are left out: the others only move down, so each stays on the
//!   same side of every seal as before;
//! - a damaged record may have been a Fence (the first record of a segment
//!   an owner started at its open): its seal is then lost, and late writes
//!   of the owner it fenced, if any, count again;
//! - each rebuilt file replaces the old one atomically (written to a
//!   temporary name, synced, renamed over it, directory synced); the old
//!   file stays beside it as `<segment name>.damaged-<epoch>` (not a segment
//!   name: the journal ignores it) until the operator removes it;
//! - damage that cannot be salvaged (a segment header with unknown magic or
//!   version or a bad checksum outside the last segment) is refused before
//!   anything is changed.

use std::path::{Path, PathBuf};

use super::format::{record_bytes, HEADER_BYTES, WORD_BYTES};
use super::recover::{classify, fences, is_kept, scan_all, Cut, CutKind, ProblemKind};
use super::segment::{self, io_err};
use super::storage::{Open, Storage};
use super::JournalError;

/// Rebuilds every segment holding refused record damage, as the owner of
/// epoch `epoch`. Returns what was dropped; the caller then recovers as an
/// open does.
pub(crate) fn rebuild(fs: &dyn Storage, dir: &Path, epoch: u64) -> Result<Vec<Cut>, JournalError> {
    let segs = scan_all(fs, dir)?;
    let fences = fences(&segs);
    let problems = classify(&segs, &fences);
    let corrupt: Vec<_> = problems.iter().filter(|p| p.kind == ProblemKind::Corrupt).collect();
    for p in &corrupt {
        let header = segs.iter().any(|s| s.number == p.segment && s.damage.iter().any(|d| d.header));
        if header {
            return Err(JournalError::Corrupt {
                file: p.file.clone(),
                offset: p.offset,
                why: format!("{}; salvage cannot rebuild a segment whose header is damaged", p.why),
            });
        }
    }
    let mut cuts = Vec::new();
    for s in segs.iter().filter(|s| corrupt.iter().any(|p| p.segment == s.number)) {
        let old = fs.read(&s.path).map_err(|e| io_err(&s.path, e))?;
        let size = old.len();
        let mut new = old.get(..HEADER_BYTES as usize).unwrap_or_default().to_vec();
        for (off, r) in s.records.iter().filter(|(off, r)| is_kept(&fences, s.number, *off, r)) {
            let (from, n) = (*off as usize, record_bytes(r.payload.len()));
            let bytes = old.get(from..from + n).ok_or_else(|| JournalError::Corrupt {
                file: s.path.clone(),
                offset: *off,
                why: "the segment changed while it was being salvaged".into(),
            })?;
            new.extend_from_slice(bytes);
        }
        if new.len() + WORD_BYTES <= size {
            new.extend_from_slice(&[0u8; WORD_BYTES]);
        }
        new.resize(size.max(new.len()), 0);
        replace(fs, dir, &s.path, &new, epoch)?;
        for d in &s.damage {
            let to = d.resumes_at.unwrap_or(s.file_bytes);
            cuts.push(Cut {
                kind: CutKind::Salvaged,
                file: s.path.clone(),
                offset: d.offset,
                bytes: to.saturating_sub(d.offset),
                why: d.why.clone(),
            });
        }
    }
    Ok(cuts)
}

/// Where salvage by the owner of `epoch` keeps the old file of `segment_file`.
pub fn damaged_copy(segment_file: &Path, epoch: u64) -> PathBuf {
    let mut name = segment_file.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{epoch}"));
    segment_file.with_file_name(name)
}

/// Replaces `path` by `content` atomically, keeping the old file as
/// [`damaged_copy`].
fn replace(fs: &dyn Storage, dir: &Path, path: &Path, content: &[u8], epoch: u64) -> Result<(), JournalError> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".salvage");
    let tmp = dir.join(tmp_name);
    let keep = damaged_copy(path, epoch);
    let write = || -> std::io::Result<()> {
        let f = fs.open(&tmp, Open::Truncate, false)?;
        f.write_all_at(content, 0)?;
        f.sync_all()
    };
    write().map_err(|e| io_err(&tmp, e))?;
    if fs.hard_link(path, &keep).is_err() {
        // No hard links here (or a name left by an earlier attempt): copy.
        fs.copy(path, &keep)
            .and_then(|()| fs.open(&keep, Open::Existing, false)?.sync_all())
            .map_err(|e| io_err(&keep, e))?;
    }
    fs.rename(&tmp, path).map_err(|e| io_err(path, e))?;
    segment::sync_dir(fs, dir)
}
