//! Scanning and recovery.
//!
//! A scan reads every segment in number order and decodes its header and
//! records until the end of data. A record that does not check out is a
//! *damaged spot*; the scan then looks ahead for valid records at later
//! offsets (see [`resync`]) and goes on decoding from the first one it
//! finds, so it knows what follows the damage. Then the findings are
//! classified:
//!
//! - **stale records**: a record of epoch `e` at position `p` is stale when
//!   some Fence record of a later epoch sealed the journal at a position
//!   `<= p`: a fenced owner wrote it after a new owner had taken over. Stale
//!   records are never returned by recovery and never count as live. (A
//!   fenced owner writes only into its own current segment, which no later
//!   owner recycles while it may write: [`late_writers`]; so its late
//!   writes never land among a later owner's records.)
//! - **stale debris**: a bad record or header at a position past such a seal
//!   (a fenced owner's torn write, or a segment it was creating). Ignored.
//! - **torn tail**: a bad record in the last segment with no valid (non-stale)
//!   record after it: the last write, cut short by a crash. Recovery zeroes
//!   the segment from there on and reports the cut.
//! - **unfinished segment**: the last segment's header is blank, torn, or
//!   names another segment (a creation or recycling cut short by a crash; it
//!   never held acknowledged data because acknowledging syncs the header).
//!   Recovery removes the file and reports it.
//! - **corrupt**: anything else: bad data before the end of a segment that is
//!   not the last, a bad record in the last segment *followed by valid
//!   records* (a crash tears only the end of what was written, so data after
//!   the damage was written, and possibly acknowledged, after the damaged
//!   record: cutting there would silently drop it), unknown magic or version,
//!   unknown record kind: the journal refuses to open. The operator may
//!   choose `salvage` (drop the damaged bytes, keep every valid record).
//!
//! Why valid-looking records after a torn tail are not mistaken for data:
//! the bytes past the end of what was written are zeros (fresh or cut
//! segments) or a recycled file's previous life, whose records carry another
//! CRC seed (the segment number) and never check out. The look-ahead also
//! requires the header's epoch in the record (every record of a segment is
//! written by the owner that created or recycled it) and a second valid
//! record or the end-of-data mark right after it.
//!
//! Known limit: the journal does not record which writes were synced, so a
//! crash that loses the middle of the last, unacknowledged write while
//! keeping its end (storage that reorders writes on power loss) also reads
//! as corruption: the node then refuses to start rather than guess.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::format::{
    decode_header, decode_record, record_bytes, seed, Decoded, HeaderError, Record, RecordKind, Seal, BODY_FIXED,
    HEADER_BYTES, RECORD_OVERHEAD, WORD_BYTES,
};
use super::segment::{self, io_err};
use super::storage::{Open, Storage};
use super::{owner, JournalError};

/// One segment as read from disk.
pub(super) struct SegScan {
    pub number: u64,
    pub path: PathBuf,
    pub file_bytes: u64,
    /// The epoch in the header: the owner that created or recycled the
    /// segment, and so the epoch of every record written in it.
    pub created_epoch: Option<u64>,
    /// The header's flag: its owner held the OS lock when it wrote it.
    pub locked: bool,
    /// Every valid record, in offset order (those after a damaged spot too).
    pub records: Vec<(u64, Record)>,
    /// Offset where valid data ends: the end-of-data mark, or the last
    /// damaged spot when no valid record follows it.
    pub end: u64,
    /// What did not check out, in offset order (at most one header problem,
    /// and then nothing else).
    pub damage: Vec<Damage>,
}

/// A spot of a segment that does not check out.
pub(super) struct Damage {
    pub offset: u64,
    pub why: String,
    /// Not explainable by a torn write (bad magic or version, unknown kind
    /// with a valid checksum).
    pub hard: bool,
    pub header: bool,
    /// Where valid records start again after it, if they do.
    pub resumes_at: Option<u64>,
}

fn scan_segment(number: u64, path: PathBuf, bytes: &[u8]) -> SegScan {
    let mut s = SegScan {
        number,
        path,
        file_bytes: bytes.len() as u64,
        created_epoch: None,
        locked: false,
        records: Vec::new(),
        end: 0,
        damage: Vec::new(),
    };
    let header_damage = |why: String, hard: bool| Damage { offset: 0, why, hard, header: true, resumes_at: None };
    match decode_header(bytes) {
        Err(e) => {
            let hard = matches!(e, HeaderError::UnknownMagic | HeaderError::UnsupportedVersion(_));
            s.damage.push(header_damage(e.to_string(), hard));
        }
        Ok(h) if h.segment != number => {
            s.damage.push(header_damage(
                format!("header names segment {} but the file name says {number}", h.segment),
                false,
            ));
        }
        Ok(h) => {
            s.created_epoch = Some(h.epoch);
            s.locked = h.locked;
            let seed = seed(number);
            let mut off = HEADER_BYTES;
            while let Some(rest) = usize::try_from(off).ok().and_then(|o| bytes.get(o..)) {
                match decode_record(seed, rest) {
                    Decoded::End => break,
                    Decoded::Record { record, bytes } => {
                        s.records.push((off, record));
                        off += bytes as u64;
                    }
                    Decoded::Bad { why, hard } => {
                        let resumes_at = resync(seed, h.epoch, bytes, off + 1);
                        s.damage.push(Damage { offset: off, why, hard, header: false, resumes_at });
                        match resumes_at {
                            Some(next) => off = next,
                            None => break,
                        }
                    }
                }
            }
            s.end = off.min(s.file_bytes.max(HEADER_BYTES));
        }
    }
    s
}

/// The first offset at or after `from` where a record of this segment
/// starts: one that checks out under the segment's CRC `seed`, carries the
/// segment's `epoch`, and is followed by another such record or by the end
/// of data. Bytes of a recycled file's previous life never qualify (their
/// seed differs), nor do zeros; a random match needs a 32-bit checksum, a
/// 64-bit epoch and a second record or an 8-byte zero word to agree.
///
/// Records are not aligned, so every byte offset is tried; the cheap length,
/// epoch and kind checks come before any checksum is computed.
fn resync(seed: u32, epoch: u64, bytes: &[u8], from: u64) -> Option<u64> {
    let epoch_bytes = epoch.to_le_bytes();
    let same_segment = |at: usize| -> Option<usize> {
        match decode_record(seed, bytes.get(at..)?) {
            Decoded::Record { record, bytes } if record.epoch == epoch => Some(bytes),
            _ => None,
        }
    };
    let mut at = usize::try_from(from).ok()?;
    let last = bytes.len().checked_sub(RECORD_OVERHEAD)?;
    while at <= last {
        // A record's length word is never zero: skip zeros (the usual rest
        // of a segment) sixteen bytes at a time.
        if bytes.get(at..at + 16).is_some_and(|w| u128::from_ne_bytes(w.try_into().unwrap_or([1; 16])) == 0) {
            at += 13;
            continue;
        }
        let here = at;
        at += 1;
        let Some(word) = bytes.get(here..here + RECORD_OVERHEAD) else { break };
        let len = u32::from_le_bytes([word[0], word[1], word[2], word[3]]) as usize;
        if len < BODY_FIXED
            || len > bytes.len() - here - WORD_BYTES
            || word[WORD_BYTES..WORD_BYTES + 8] != epoch_bytes
            || RecordKind::from_u8(word[RECORD_OVERHEAD - 1]).is_none()
        {
            continue;
        }
        let Some(n) = same_segment(here) else { continue };
        let next = here + n;
        let chained = same_segment(next).is_some()
            || bytes.get(next..).is_some_and(|rest| decode_record(seed, rest) == Decoded::End);
        if chained {
            return Some(here as u64);
        }
    }
    None
}

/// Before recovery reads the segments: each is synced (a previous owner's
/// unsynced writes, still in the page cache, reach the device) and its
/// cached pages dropped, so that what recovery reads is what the device
/// holds. A previous owner whose sync failed (the device refused the
/// write) left pages Linux marks clean: they read back the failed write
/// until evicted, though it never reached the device, and a later sync
/// "succeeds" without writing them. Read from the cache, a commit record
/// whose sync had failed was taken for durable by the node that took the
/// journal over, reported to the router (whose client then heard
/// "accepted"), and lost at the next power loss (simulator seed 11991, two
/// routers: accepted, never applied). That owner stopped at the failure,
/// so nothing it wrote lies past the failed write.
fn settle(fs: &dyn Storage, dir: &Path) -> Result<(), JournalError> {
    for (_, path) in segment::list(fs, dir)? {
        let file = match fs.open(&path, Open::Existing, false) {
            Ok(f) => f,
            // Recycled or removed meanwhile (by a fenced owner still
            // running): the scan that follows lists again.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path, e)),
        };
        file.sync_data().map_err(|e| io_err(&path, e))?;
        file.drop_cache().map_err(|e| io_err(&path, e))?;
    }
    Ok(())
}

/// Reads all segments. A segment file that disappears while being read (a
/// live owner recycled it) restarts the scan, a few times at most.
pub(super) fn scan_all(fs: &dyn Storage, dir: &Path) -> Result<Vec<SegScan>, JournalError> {
    'again: for _ in 0..5 {
        let mut out = Vec::new();
        for (number, path) in segment::list(fs, dir)? {
            match fs.read(&path) {
                Ok(bytes) => out.push(scan_segment(number, path, &bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue 'again,
                Err(e) => return Err(io_err(&path, e)),
            }
        }
        return Ok(out);
    }
    Err(io_err(dir, std::io::Error::other("segment files kept changing during the scan")))
}

/// How a finding was classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A torn write at the end of the last segment (recovery cuts it off).
    TornTail,
    /// The last segment's creation or recycling did not finish (recovery removes it).
    UnfinishedSegment,
    /// Bad data past a seal, left by a fenced owner (ignored).
    StaleDebris,
    /// Damage recovery cannot explain: the journal will not open.
    Corrupt,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub segment: u64,
    pub offset: u64,
    pub why: String,
    pub kind: ProblemKind,
    /// Where valid records of the same segment start again after the damage
    /// (None: none follow it, or a header or epoch-file problem).
    pub resumes_at: Option<u64>,
    /// Valid records of the same segment after the damage, and their bytes:
    /// what cutting the segment here would lose.
    pub records_after: usize,
    pub bytes_after: u64,
}

/// Something recovery (or salvage) took out of the journal: reported in
/// [`Recovered::cuts`](super::Recovered) so that the caller can log it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    pub kind: CutKind,
    pub file: PathBuf,
    pub offset: u64,
    /// Bytes taken out: a torn tail's from `offset` to the end of the file
    /// (zeroed; mostly the unused rest of the segment); an unfinished
    /// segment's whole file (removed); a salvaged damage's stretch up to
    /// where valid records resume (or to the end of the file).
    pub bytes: u64,
    /// What was wrong at `offset`.
    pub why: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutKind {
    /// A write cut short by a crash at the end of the last segment.
    TornTail,
    /// The last segment's creation or recycling did not finish: file removed.
    UnfinishedSegment,
    /// Damage that `salvage` dropped, keeping the valid records after it.
    Salvaged,
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (file, off, n, why) = (self.file.display(), self.offset, self.bytes, &self.why);
        match self.kind {
            CutKind::TornTail => {
                write!(f, "cut a torn tail off {file} at offset {off} ({n} bytes zeroed to the end of the file): {why}")
            }
            CutKind::UnfinishedSegment => write!(f, "removed unfinished segment {file} ({n} bytes): {why}"),
            CutKind::Salvaged => write!(f, "salvage dropped {n} damaged bytes of {file} at offset {off}: {why}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub number: u64,
    pub path: PathBuf,
    pub file_bytes: u64,
    /// The epoch in the header (None if the header is unusable).
    pub created_epoch: Option<u64>,
    /// Where valid data ends.
    pub data_end: u64,
    pub records: usize,
}

/// One record found by [`scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanEntry {
    pub segment: u64,
    pub offset: u64,
    pub record: Record,
    /// Written by a fenced owner after the seal: recovery ignores it.
    pub stale: bool,
}

/// Everything [`scan`] found: for `rtr journal show|dump|verify`.
#[derive(Clone, Debug)]
pub struct JournalScan {
    pub dir: PathBuf,
    /// The epoch file's value (None and a problem if unreadable).
    pub epoch: Option<u64>,
    pub segments: Vec<SegmentInfo>,
    /// Every valid record in write order, Fence records included.
    pub entries: Vec<ScanEntry>,
    pub problems: Vec<Problem>,
}

impl JournalScan {
    /// True when an open would neither refuse nor repair anything.
    pub fn is_clean(&self) -> bool {
        self.problems.iter().all(|p| p.kind == ProblemKind::StaleDebris)
    }

    /// True when an open would refuse the journal.
    pub fn is_corrupt(&self) -> bool {
        self.problems.iter().any(|p| p.kind == ProblemKind::Corrupt)
    }
}

/// A Fence found in the scan: where it is and what it seals.
pub(super) struct Fence {
    at: (u64, u64),
    epoch: u64,
    seal: (u64, u64),
}

pub(super) fn fences(segs: &[SegScan]) -> Vec<Fence> {
    let mut out = Vec::new();
    for s in segs {
        for (off, r) in &s.records {
            if r.kind == RecordKind::Fence {
                if let Some(seal) = Seal::decode(&r.payload) {
                    out.push(Fence { at: (s.number, *off), epoch: r.epoch, seal: (seal.segment, seal.offset) });
                }
            }
        }
    }
    out
}

pub(super) fn is_stale(fences: &[Fence], pos: (u64, u64), epoch: u64) -> bool {
    fences.iter().any(|f| epoch < f.epoch && pos >= f.seal)
}

/// Whether recovery keeps this record of segment `seg` (Fence records are
/// the journal's own; stale records were written by a fenced owner).
pub(super) fn is_kept(fences: &[Fence], seg: u64, off: u64, r: &Record) -> bool {
    r.kind == RecordKind::Fence || !is_stale(fences, (seg, off), r.epoch)
}

/// Bad data at `pos` is a fenced owner's debris if a later Fence sealed the
/// journal at or before it.
fn is_debris(fences: &[Fence], pos: (u64, u64)) -> bool {
    fences.iter().any(|f| f.at > pos && f.seal <= pos)
}

/// One problem per damaged spot, in segment and offset order.
pub(super) fn classify(segs: &[SegScan], fences: &[Fence]) -> Vec<Problem> {
    let last = segs.last().map(|s| s.number);
    let mut out = Vec::new();
    for s in segs {
        for d in &s.damage {
            let after: Vec<_> = s.records.iter().filter(|(off, _)| *off > d.offset).collect();
            let records_after = after.len();
            let bytes_after: u64 = after.iter().map(|(_, r)| record_bytes(r.payload.len()) as u64).sum();
            // Only records recovery would keep make the damage more than a
            // torn tail: a fenced owner's late writes are not acknowledged data.
            let kept_after = after.iter().any(|(off, r)| is_kept(fences, s.number, *off, r));
            let kind = if d.hard {
                ProblemKind::Corrupt
            } else if is_debris(fences, (s.number, d.offset)) {
                ProblemKind::StaleDebris
            } else if Some(s.number) == last && d.header {
                ProblemKind::UnfinishedSegment
            } else if Some(s.number) == last && !kept_after {
                ProblemKind::TornTail
            } else {
                ProblemKind::Corrupt
            };
            let mut why = d.why.clone();
            if let (ProblemKind::Corrupt, Some(at)) = (kind, d.resumes_at) {
                let _ = write!(
                    why,
                    "; {records_after} valid record{} ({bytes_after} bytes) follow it from offset {at}, so it is not \
                     a torn tail",
                    if records_after == 1 { "" } else { "s" }
                );
            }
            out.push(Problem {
                file: s.path.clone(),
                segment: s.number,
                offset: d.offset,
                why,
                kind,
                resumes_at: d.resumes_at,
                records_after,
                bytes_after,
            });
        }
    }
    out
}

/// Reads the journal in `dir` without changing anything: no lock, no epoch
/// change, no truncation. Safe while an owner is writing (what it shows then
/// is a moment's view; an in-progress write may show as a torn tail).
pub fn scan(dir: &Path) -> Result<JournalScan, JournalError> {
    scan_on(&super::storage::RealFs, dir)
}

/// [`scan`] on the given storage.
pub fn scan_on(fs: &dyn Storage, dir: &Path) -> Result<JournalScan, JournalError> {
    let epoch_exists = fs.exists(&owner::epoch_path(dir));
    let segs = scan_all(fs, dir).map_err(|e| match e {
        JournalError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            JournalError::NotFound { dir: dir.to_path_buf() }
        }
        e => e,
    })?;
    if !epoch_exists && segs.is_empty() {
        return Err(JournalError::NotFound { dir: dir.to_path_buf() });
    }
    let fences = fences(&segs);
    let mut problems = Vec::new();
    let epoch = match owner::read_epoch(fs, dir) {
        Ok(e) => Some(e),
        Err(e) => {
            problems.push(Problem {
                file: owner::epoch_path(dir),
                segment: 0,
                offset: 0,
                why: e.to_string(),
                kind: ProblemKind::Corrupt,
                resumes_at: None,
                records_after: 0,
                bytes_after: 0,
            });
            None
        }
    };
    problems.extend(classify(&segs, &fences));
    let mut entries = Vec::new();
    let mut segments = Vec::new();
    for s in segs {
        segments.push(SegmentInfo {
            number: s.number,
            path: s.path,
            file_bytes: s.file_bytes,
            created_epoch: s.created_epoch,
            data_end: s.end,
            records: s.records.len(),
        });
        for (offset, record) in s.records {
            let stale = record.kind != RecordKind::Fence && is_stale(&fences, (s.number, offset), record.epoch);
            entries.push(ScanEntry { segment: s.number, offset, record, stale });
        }
    }
    Ok(JournalScan { dir: dir.to_path_buf(), epoch, segments, entries, problems })
}

/// What recovery leaves for the new owner.
pub(crate) struct Repaired {
    /// Segment files after repair, in order: (number, file size).
    pub segments: Vec<(u64, u64)>,
    /// The segments an earlier owner may still write into (see
    /// [`late_writers`]); any other segment is [`LateWriter::None`].
    pub late_writers: Vec<(u64, LateWriter)>,
    /// Surviving records (no Fence, no stale) with their segment numbers, in write order.
    pub records: Vec<(u64, Record)>,
    /// End of the previous owners' data: (segment, offset); (0, 0) if none.
    pub seal: (u64, u64),
    /// Highest segment number ever seen here (new segments get higher ones).
    pub max_number: u64,
    /// What was cut off or removed, in order.
    pub cuts: Vec<Cut>,
}

/// Scans, refuses corruption, cuts off a torn tail, removes an unfinished
/// last segment. Called by `open` after the new epoch is durable.
pub(crate) fn repair(fs: &dyn Storage, dir: &Path) -> Result<Repaired, JournalError> {
    settle(fs, dir)?;
    let mut segs = scan_all(fs, dir)?;
    let fences = fences(&segs);
    let problems = classify(&segs, &fences);
    if let Some(p) = problems.iter().find(|p| p.kind == ProblemKind::Corrupt) {
        return Err(JournalError::Corrupt { file: p.file.clone(), offset: p.offset, why: p.why.clone() });
    }
    let max_number = segs.last().map_or(0, |s| s.number);
    let mut cuts = Vec::new();
    for p in &problems {
        let file_bytes = segs.iter().find(|s| s.number == p.segment).map_or(0, |s| s.file_bytes);
        match p.kind {
            ProblemKind::TornTail => {
                let file = fs.open(&p.file, Open::Existing, false).map_err(|e| io_err(&p.file, e))?;
                segment::zero_from(&*file, &p.file, p.offset)?;
                // Whatever lay past the cut (only stale records) is gone now.
                if let Some(s) = segs.iter_mut().find(|s| s.number == p.segment) {
                    s.records.retain(|(off, _)| *off < p.offset);
                    s.end = s.end.min(p.offset);
                }
                cuts.push(Cut {
                    kind: CutKind::TornTail,
                    file: p.file.clone(),
                    offset: p.offset,
                    bytes: file_bytes.saturating_sub(p.offset),
                    why: p.why.clone(),
                });
            }
            ProblemKind::UnfinishedSegment => {
                segment::remove(fs, dir, p.segment)?;
                segs.retain(|s| s.number != p.segment);
                cuts.push(Cut {
                    kind: CutKind::UnfinishedSegment,
                    file: p.file.clone(),
                    offset: 0,
                    bytes: file_bytes,
                    why: p.why.clone(),
                });
            }
            ProblemKind::StaleDebris | ProblemKind::Corrupt => {}
        }
    }
    // What recovery read may be only in the page cache: a previous owner
    // killed (or fenced) after a write it did not sync (an append that did
    // not ask for durability). Its successor then starts a new segment after
    // that write, so a power loss that tears it would leave damage before
    // the end of a segment that is no longer the last: corruption, a journal
    // that refuses to open. Syncing every segment kept makes what recovery
    // returns, and the seal, durable first (a no-op for a file with nothing
    // unsynced). Writes a fenced owner makes after this lie past the seal.
    for s in &segs {
        let file = fs.open(&s.path, Open::Existing, false).map_err(|e| io_err(&s.path, e))?;
        file.sync_data().map_err(|e| io_err(&s.path, e))?;
    }
    let seal = segs.last().map_or((0, 0), |s| (s.number, s.end));
    let late_writers = late_writers(&segs);
    let mut records = Vec::new();
    let mut segments = Vec::new();
    for s in segs {
        segments.push((s.number, s.file_bytes));
        for (off, r) in s.records {
            if r.kind != RecordKind::Fence && !is_stale(&fences, (s.number, off), r.epoch) {
                records.push((s.number, r));
            }
        }
    }
    Ok(Repaired { segments, late_writers, records, seal, max_number, cuts })
}

/// Whether an earlier owner may still write into a segment's file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LateWriter {
    /// No: its owner rolled past it (or it is the current owner's).
    None,
    /// Its owner, until it lets go of the OS lock: it held the lock when it
    /// wrote the header, and keeps it until its ownership ends, so an owner
    /// holding the lock now knows it writes nothing more.
    LockHolder,
    /// Its owner may, at any time: it did not hold the lock (it forced its
    /// way in while another held it), or the header cannot tell.
    Anyone,
}

/// The segments an earlier owner may still write into: for each epoch named
/// in a segment header, its highest-numbered segment; and every segment
/// whose header cannot be read (a fenced owner's creation past a seal).
///
/// Why: an owner writes only into segments it created or recycled (their
/// header carries its epoch), in number order, and never again into one it
/// rolled past. A fenced owner that lives on (a frozen process a standby
/// took over from, a machine cut off from a network file system) may write
/// once more, at its offset, into the file it holds open: its current
/// segment, the newest of its epoch, whatever that file's name is by then.
/// In its own segment such a write lies past the seal and is stale; in a
/// file a later owner recycled, it would overwrite that owner's
/// acknowledged records (damage followed by valid records: a corrupt
/// journal, acknowledged data lost). So the writer never recycles such a
/// file while its owner may write (removing it is safe: the late write then
/// goes to a file no name reaches). Simulator seed 69: epoch 17 forced its
/// way in while epoch 16 held the lock, was fenced by epoch 18 and lived on;
/// epoch 19 recycled epoch 17's segment, no longer the newest, and epoch 17's
/// late write landed in the middle of epoch 19's records.
pub(super) fn late_writers(segs: &[SegScan]) -> Vec<(u64, LateWriter)> {
    let mut newest: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
    for s in segs {
        if let Some(e) = s.created_epoch {
            let n = newest.entry(e).or_insert(s.number);
            *n = (*n).max(s.number);
        }
    }
    let mut out = Vec::new();
    for s in segs {
        match s.created_epoch {
            None => out.push((s.number, LateWriter::Anyone)),
            Some(e) if newest.get(&e) == Some(&s.number) => {
                out.push((s.number, if s.locked { LateWriter::LockHolder } else { LateWriter::Anyone }))
            }
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::format::{encode_header, encode_record, SegmentHeader};
    use crate::journal::storage::RealFs;
    use crate::tid::Tid;
    use std::fs;

    fn segment_bytes(number: u64, epoch: u64, records: &[(u64, RecordKind, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![0u8; 64 << 10];
        b[..36].copy_from_slice(&encode_header(&SegmentHeader { segment: number, epoch, locked: true }));
        let mut buf = Vec::new();
        for (e, k, p) in records {
            encode_record(&mut buf, seed(number), *e, &Tid::default(), *k, p);
        }
        b[HEADER_BYTES as usize..HEADER_BYTES as usize + buf.len()].copy_from_slice(&buf);
        b
    }

    #[test]
    fn stale_records_and_debris_past_a_seal_are_ignored() {
        let d = tempfile::tempdir().unwrap();
        owner::write_epoch(&RealFs, d.path(), 2).unwrap();
        // Segment 1: epoch 1 wrote two records; the new owner sealed after
        // the first; then the old owner wrote one more and tore another.
        let mut s1 = segment_bytes(1, 1, &[(1, RecordKind::Msg, b"a".to_vec()), (1, RecordKind::Msg, b"b".to_vec())]);
        let second = HEADER_BYTES as usize + 38;
        s1[second + 38..second + 38 + 20].copy_from_slice(&[0xAB; 20]);
        let fence = Seal { epoch: 1, segment: 1, offset: second as u64 };
        let s2 = segment_bytes(2, 2, &[(2, RecordKind::Fence, fence.encode()), (2, RecordKind::Msg, b"c".to_vec())]);
        fs::write(segment::path(d.path(), 1), &s1).unwrap();
        fs::write(segment::path(d.path(), 2), &s2).unwrap();

        let scan = scan(d.path()).unwrap();
        assert_eq!(scan.epoch, Some(2));
        let kinds: Vec<_> = scan.problems.iter().map(|p| (p.segment, p.offset, p.kind)).collect();
        assert_eq!(kinds, vec![(1, (second + 38) as u64, ProblemKind::StaleDebris)]);
        assert!(scan.is_clean());
        let stale: Vec<_> = scan.entries.iter().map(|e| (e.record.payload.clone(), e.stale)).collect();
        assert_eq!(stale[0], (b"a".to_vec(), false));
        assert_eq!(stale[1], (b"b".to_vec(), true));
        assert_eq!(stale[3], (b"c".to_vec(), false));

        let r = repair(&RealFs, d.path()).unwrap();
        let payloads: Vec<_> = r.records.iter().map(|(_, r)| r.payload.clone()).collect();
        assert_eq!(payloads, vec![b"a".to_vec(), b"c".to_vec()]);
        assert!(r.cuts.is_empty());
    }

    #[test]
    fn bad_data_before_a_seal_is_corrupt_and_unknown_formats_are_refused() {
        let d = tempfile::tempdir().unwrap();
        owner::write_epoch(&RealFs, d.path(), 2).unwrap();
        let mut s1 = segment_bytes(1, 1, &[(1, RecordKind::Msg, b"a".to_vec()), (1, RecordKind::Msg, b"b".to_vec())]);
        s1[HEADER_BYTES as usize + 20] ^= 4;
        fs::write(segment::path(d.path(), 1), &s1).unwrap();
        let s2 = segment_bytes(2, 2, &[]);
        fs::write(segment::path(d.path(), 2), &s2).unwrap();
        match repair(&RealFs, d.path()) {
            Err(JournalError::Corrupt { file, offset, .. }) => {
                assert_eq!(file, segment::path(d.path(), 1));
                assert_eq!(offset, HEADER_BYTES);
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        // A foreign file under a segment name: refused even as the last segment.
        s1[..8].copy_from_slice(b"NOTOURS!");
        fs::write(segment::path(d.path(), 3), &s1).unwrap();
        let scan = scan(d.path()).unwrap();
        assert!(scan
            .problems
            .iter()
            .any(|p| p.segment == 3 && p.kind == ProblemKind::Corrupt && p.why.contains("magic")));
    }

    #[test]
    fn a_recycled_file_never_parses_its_old_records() {
        let d = tempfile::tempdir().unwrap();
        owner::write_epoch(&RealFs, d.path(), 1).unwrap();
        let old = segment_bytes(1, 1, &[(1, RecordKind::Msg, b"old".to_vec())]);
        fs::write(segment::path(d.path(), 1), &old).unwrap();
        drop(segment::recycle(&RealFs, d.path(), 1, 2, 1, true, old.len() as u64).ok().unwrap());
        // Undo the end-of-data word: the old record is back in place, bytes unchanged.
        let mut b = fs::read(segment::path(d.path(), 2)).unwrap();
        let h = HEADER_BYTES as usize;
        b[h..h + 8].copy_from_slice(&old[h..h + 8]);
        fs::write(segment::path(d.path(), 2), &b).unwrap();
        let scan = scan(d.path()).unwrap();
        assert!(scan.entries.is_empty());
        assert_eq!(scan.problems.len(), 1);
        assert!(scan.problems[0].why.contains("checksum"), "{:?}", scan.problems);
    }

    #[test]
    fn resync_finds_the_next_record_of_this_segment_only() {
        let mut b = vec![0xA5u8; 100];
        let at = b.len() as u64;
        for n in 0..2 {
            encode_record(&mut b, seed(3), 5, &Tid::default(), RecordKind::Msg, &[n; 10]);
        }
        b.extend_from_slice(&[0u8; 8]);
        assert_eq!(resync(seed(3), 5, &b, 0), Some(at));
        // Another segment's seed, another epoch, or nothing after it: no.
        assert_eq!(resync(seed(4), 5, &b, 0), None);
        assert_eq!(resync(seed(3), 6, &b, 0), None);
        assert_eq!(resync(seed(3), 5, &b, at + 1), Some(at + 47));
        // A lone record followed by garbage is not enough.
        let mut lone = vec![0xA5u8; 100];
        encode_record(&mut lone, seed(3), 5, &Tid::default(), RecordKind::Msg, b"x");
        lone.extend_from_slice(&[0x5A; 40]);
        assert_eq!(resync(seed(3), 5, &lone, 0), None);
        // ...but one that ends the segment, or is followed by its end mark, is.
        lone.truncate(100 + 38);
        assert_eq!(resync(seed(3), 5, &lone, 0), Some(100));
        assert_eq!(resync(seed(3), 5, &[], 0), None);
        assert_eq!(resync(seed(3), 5, &b, u64::MAX), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_resync(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4000), s in 0u64..4, e in 0u64..4, from in 0u64..5000) {
            proptest::prop_assert_eq!(resync(seed(s), e, &data, from), None);
        }
    }
}
