//! Scanning and recovery.
//!
//! A scan reads every segment in number order and decodes its header and
//! records until the end of data or the first record that does not check
//! out. Then the findings are classified:
//!
//! - **stale records**: a record of epoch `e` at position `p` is stale when
//!   some Fence record of a later epoch sealed the journal at a position
//!   `<= p`: a fenced owner wrote it after a new owner had taken over. Stale
//!   records are never returned by recovery and never count as live.
//! - **stale debris**: a bad record or header at a position past such a seal
//!   (a fenced owner's torn write, or a segment it was creating). Ignored.
//! - **torn tail**: a bad record in the last segment (a write cut short by a
//!   crash). Recovery zeroes the segment from there on.
//! - **unfinished segment**: the last segment's header is blank, torn, or
//!   names another segment (a creation or recycling cut short by a crash; it
//!   never held acknowledged data because acknowledging syncs the header).
//!   Recovery removes the file.
//! - **corrupt**: anything else (bad data before the end, unknown magic or
//!   version, unknown record kind): the journal refuses to open.
//!
//! Known limit: the scan cannot tell a torn tail from a bit flip in the last
//! segment's data; both are cut off there, and the cut is reported.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use super::format::{decode_header, decode_record, seed, Decoded, HeaderError, Record, RecordKind, Seal, HEADER_BYTES};
use super::segment::{self, io_err};
use super::{owner, JournalError};

/// One segment as read from disk.
struct SegScan {
    number: u64,
    path: PathBuf,
    file_bytes: u64,
    created_epoch: Option<u64>,
    records: Vec<(u64, Record)>,
    /// Offset where valid data ends.
    end: u64,
    /// The first thing that did not check out: (offset, why, hard, in the header).
    problem: Option<RawProblem>,
}

struct RawProblem {
    offset: u64,
    why: String,
    /// Not explainable by a torn write (bad magic or version, unknown kind
    /// with a valid checksum).
    hard: bool,
    header: bool,
}

fn scan_segment(number: u64, path: PathBuf, bytes: &[u8]) -> SegScan {
    let mut s = SegScan {
        number,
        path,
        file_bytes: bytes.len() as u64,
        created_epoch: None,
        records: Vec::new(),
        end: 0,
        problem: None,
    };
    let header_problem = |why: String, hard: bool| Some(RawProblem { offset: 0, why, hard, header: true });
    match decode_header(bytes) {
        Err(e) => {
            let hard = matches!(e, HeaderError::UnknownMagic | HeaderError::UnsupportedVersion(_));
            s.problem = header_problem(e.to_string(), hard);
        }
        Ok(h) if h.segment != number => {
            s.problem =
                header_problem(format!("header names segment {} but the file name says {number}", h.segment), false);
        }
        Ok(h) => {
            s.created_epoch = Some(h.epoch);
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
                        s.problem = Some(RawProblem { offset: off, why, hard, header: false });
                        break;
                    }
                }
            }
            s.end = off.min(s.file_bytes.max(HEADER_BYTES));
        }
    }
    s
}

/// Reads all segments. A segment file that disappears while being read (a
/// live owner recycled it) restarts the scan, a few times at most.
fn scan_all(dir: &Path) -> Result<Vec<SegScan>, JournalError> {
    'again: for _ in 0..5 {
        let mut out = Vec::new();
        for (number, path) in segment::list(dir)? {
            match fs::read(&path) {
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
struct Fence {
    at: (u64, u64),
    epoch: u64,
    seal: (u64, u64),
}

fn fences(segs: &[SegScan]) -> Vec<Fence> {
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

fn is_stale(fences: &[Fence], pos: (u64, u64), epoch: u64) -> bool {
    fences.iter().any(|f| epoch < f.epoch && pos >= f.seal)
}

/// Bad data at `pos` is a fenced owner's debris if a later Fence sealed the
/// journal at or before it.
fn is_debris(fences: &[Fence], pos: (u64, u64)) -> bool {
    fences.iter().any(|f| f.at > pos && f.seal <= pos)
}

fn classify(segs: &[SegScan], fences: &[Fence]) -> Vec<Problem> {
    let last = segs.last().map(|s| s.number);
    let mut out = Vec::new();
    for s in segs {
        let Some(p) = &s.problem else { continue };
        let kind = if p.hard {
            ProblemKind::Corrupt
        } else if is_debris(fences, (s.number, p.offset)) {
            ProblemKind::StaleDebris
        } else if Some(s.number) == last {
            if p.header {
                ProblemKind::UnfinishedSegment
            } else {
                ProblemKind::TornTail
            }
        } else {
            ProblemKind::Corrupt
        };
        out.push(Problem { file: s.path.clone(), segment: s.number, offset: p.offset, why: p.why.clone(), kind });
    }
    out
}

/// Reads the journal in `dir` without changing anything: no lock, no epoch
/// change, no truncation. Safe while an owner is writing (what it shows then
/// is a moment's view; an in-progress write may show as a torn tail).
pub fn scan(dir: &Path) -> Result<JournalScan, JournalError> {
    let epoch_exists = owner::epoch_path(dir).exists();
    let segs = scan_all(dir).map_err(|e| match e {
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
    let epoch = match owner::read_epoch(dir) {
        Ok(e) => Some(e),
        Err(e) => {
            problems.push(Problem {
                file: owner::epoch_path(dir),
                segment: 0,
                offset: 0,
                why: e.to_string(),
                kind: ProblemKind::Corrupt,
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
    /// Surviving records (no Fence, no stale) with their segment numbers, in write order.
    pub records: Vec<(u64, Record)>,
    /// End of the previous owners' data: (segment, offset); (0, 0) if none.
    pub seal: (u64, u64),
    /// Highest segment number ever seen here (new segments get higher ones).
    pub max_number: u64,
    pub truncated: Option<(PathBuf, u64)>,
}

/// Scans, refuses corruption, cuts off a torn tail, removes an unfinished
/// last segment. Called by `open` after the new epoch is durable.
pub(crate) fn repair(dir: &Path) -> Result<Repaired, JournalError> {
    let mut segs = scan_all(dir)?;
    let fences = fences(&segs);
    let problems = classify(&segs, &fences);
    if let Some(p) = problems.iter().find(|p| p.kind == ProblemKind::Corrupt) {
        return Err(JournalError::Corrupt { file: p.file.clone(), offset: p.offset, why: p.why.clone() });
    }
    let max_number = segs.last().map_or(0, |s| s.number);
    let mut truncated = None;
    for p in &problems {
        match p.kind {
            ProblemKind::TornTail => {
                let file = OpenOptions::new().write(true).open(&p.file).map_err(|e| io_err(&p.file, e))?;
                segment::zero_from(&file, &p.file, p.offset)?;
                truncated = Some((p.file.clone(), p.offset));
            }
            ProblemKind::UnfinishedSegment => {
                segment::remove(dir, p.segment)?;
                segs.retain(|s| s.number != p.segment);
                truncated = Some((p.file.clone(), 0));
            }
            ProblemKind::StaleDebris | ProblemKind::Corrupt => {}
        }
    }
    let seal = segs.last().map_or((0, 0), |s| (s.number, s.end));
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
    Ok(Repaired { segments, records, seal, max_number, truncated })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::format::{encode_header, encode_record, SegmentHeader};
    use crate::tid::Tid;

    fn segment_bytes(number: u64, epoch: u64, records: &[(u64, RecordKind, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![0u8; 64 << 10];
        b[..36].copy_from_slice(&encode_header(&SegmentHeader { segment: number, epoch }));
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
        owner::write_epoch(d.path(), 2).unwrap();
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

        let r = repair(d.path()).unwrap();
        let payloads: Vec<_> = r.records.iter().map(|(_, r)| r.payload.clone()).collect();
        assert_eq!(payloads, vec![b"a".to_vec(), b"c".to_vec()]);
        assert_eq!(r.truncated, None);
    }

    #[test]
    fn bad_data_before_a_seal_is_corrupt_and_unknown_formats_are_refused() {
        let d = tempfile::tempdir().unwrap();
        owner::write_epoch(d.path(), 2).unwrap();
        let mut s1 = segment_bytes(1, 1, &[(1, RecordKind::Msg, b"a".to_vec()), (1, RecordKind::Msg, b"b".to_vec())]);
        s1[HEADER_BYTES as usize + 20] ^= 4;
        fs::write(segment::path(d.path(), 1), &s1).unwrap();
        let s2 = segment_bytes(2, 2, &[]);
        fs::write(segment::path(d.path(), 2), &s2).unwrap();
        match repair(d.path()) {
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
        owner::write_epoch(d.path(), 1).unwrap();
        let old = segment_bytes(1, 1, &[(1, RecordKind::Msg, b"old".to_vec())]);
        fs::write(segment::path(d.path(), 1), &old).unwrap();
        drop(segment::recycle(d.path(), 1, 2, 1, old.len() as u64).ok().unwrap());
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
}
