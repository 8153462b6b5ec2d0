//! The transaction journal's storage layer: durable, ordered, exclusively
//! owned and fenced (ARCHITECTURE §6).
//!
//! A journal is a directory holding
//! - `journal.lock`: the OS lock file (exclusive lock while owned);
//! - `epoch`: the owner epoch, replaced atomically and durably (`owner.rs`);
//! - `seg-<16-digit number>.rtrj`: preallocated segment files (format in
//!   [`format`]).
//!
//! Use: [`create`] a journal once, then [`open`] it (which takes ownership,
//! fences any previous owner and recovers), then [`Journal::append`] records.
//! A journal that `open` refuses because of damaged records opens with
//! [`salvage`], the operator's choice to drop the damaged bytes.
//! The journal knows nothing about transactions beyond two record kinds:
//! `Fence` (it writes those itself) and `Done` (a transaction's Done record
//! releases the space of all its records). What the other kinds carry, and
//! what a journal's records mean for its transactions, is
//! [`crate::txrecord`]'s.
//!
//! Guarantees:
//! - **write order**: records are written, and recovered, in the order their
//!   appends were made (appends from one thread; across threads, in the order
//!   the writer thread received them). The records of one append are
//!   contiguous and in one segment.
//! - **durability**: an append with `sync = true` completes `Ok` only after
//!   its records (and every earlier record) are on stable storage
//!   (`fdatasync`) and the ownership check passed. An append with
//!   `sync = false` completes after its write and an ownership check after
//!   it (a batch of unsynced appends alone shares the next batch's check,
//!   or has one of its own about 2 ms later, where only a proven fence
//!   fails it, as the idle check); it becomes durable with the next sync.
//! - **ownership**: one owner at a time (OS lock), and fencing by epoch for
//!   when the lock is not reliable; a fenced owner acknowledges nothing more,
//!   and what it still writes (a late batch, or two when the first holds
//!   unsynced appends only, into the segment it holds open) never lands in
//!   a file a later owner reuses.
//! - **failure**: the first failed write or sync ends ownership: that batch
//!   fails with [`JournalError::Io`], every later call with
//!   [`JournalError::Poisoned`]. The files and the lock are released at once,
//!   so a new owner can open the journal.
//! - **loss is reported**: however ownership ends (fenced, failed write or
//!   sync), [`Journal::on_lost`] hears of it once; an idle owner re-checks
//!   its epoch about every second, so a fence is noticed without a write.
//!
//! Storage: everything the journal does to files goes through
//! [`storage::Storage`]: the real file system ([`RealFs`], what [`open`],
//! [`create`], [`scan`] and [`salvage`] use) or a simulated device
//! ([`SimFs`], with [`open_on`], [`create_on`], [`scan_on`]). For a
//! deterministic simulation, [`SteppedJournal`] is the same writer without
//! its thread.
//!
//! Thread safety: [`Journal`] is a cheap `Clone + Send + Sync` handle. All
//! completions run on the journal's writer thread, in append order; they must
//! not block for long (they delay every later append) and must not wait for
//! another append of the same journal (deadlock). A completion that panics is
//! caught and ignored.

pub mod bench;
pub mod format;
mod live;
pub(crate) mod owner;
mod recover;
mod salvage;
mod segment;
mod stepped;
pub mod storage;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

pub use format::{Record, RecordKind, Seal};
pub use recover::{scan, scan_on, Cut, CutKind, JournalScan, Problem, ProblemKind, ScanEntry, SegmentInfo};
pub use salvage::damaged_copy;
pub use stepped::SteppedJournal;
pub use storage::{RealFs, SimFs, Storage};

use crate::tid::Tid;
use writer::{Request, Shared};

/// Where the journal lives and how large it may grow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    pub dir: PathBuf,
    /// Size of each segment file (default 16 MiB; at least 64 KiB, at most
    /// 1 GiB, a multiple of 4096).
    pub segment_bytes: u64,
    /// Most segment files (default 16; at least 2). The journal never grows
    /// past `max_segments * segment_bytes`, except that opening may add one
    /// segment beyond it (an open must always be able to fence and recover).
    pub max_segments: u32,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig { dir: PathBuf::from("rtr-journal"), segment_bytes: 16 << 20, max_segments: 16 }
    }
}

pub const MIN_SEGMENT_BYTES: u64 = 64 << 10;
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;
/// Segments kept for transactions already in the journal: a new transaction
/// is refused with [`JournalError::Full`] when it would need them.
pub const RESERVE_SEGMENTS: usize = 1;

impl JournalConfig {
    pub fn validate(&self) -> Result<(), JournalError> {
        let bad = |s: String| Err(JournalError::BadConfig(s));
        if self.segment_bytes < MIN_SEGMENT_BYTES || self.segment_bytes > MAX_SEGMENT_BYTES {
            return bad(format!(
                "segment_bytes {} is outside {MIN_SEGMENT_BYTES}..={MAX_SEGMENT_BYTES}",
                self.segment_bytes
            ));
        }
        if !self.segment_bytes.is_multiple_of(4096) {
            return bad(format!("segment_bytes {} is not a multiple of 4096", self.segment_bytes));
        }
        if (self.max_segments as usize) < RESERVE_SEGMENTS + 1 {
            return bad(format!("max_segments {} is below the minimum of 2", self.max_segments));
        }
        Ok(())
    }

    /// Largest encoded size of one append (all its records): one segment's data area.
    pub fn max_append_bytes(&self) -> u64 {
        self.segment_bytes - format::HEADER_BYTES
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal I/O error on {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// Another owner holds the journal's lock. Its owner is alive (a lock
    /// dies with its process), so the way out is to stop it or to use
    /// another directory, never a forced takeover.
    #[error("journal {} is in use by {}: stop that process, or give this one another journal directory", dir.display(), holder_text(*holder))]
    Locked {
        dir: PathBuf,
        /// The process holding the lock, when the system can tell.
        holder: Option<u32>,
    },
    #[error("journal file {} is corrupt at offset {offset}: {why}", file.display())]
    Corrupt { file: PathBuf, offset: u64, why: String },
    #[error("journal is full")]
    Full,
    #[error("journal ownership lost: this owner's epoch {mine} was fenced by epoch {current}")]
    Fenced { mine: u64, current: u64 },
    #[error("journal is unusable after an earlier write or sync failure; a new owner must reopen it")]
    Poisoned,
    #[error("no journal in {}", dir.display())]
    NotFound { dir: PathBuf },
    #[error("a journal already exists in {}", dir.display())]
    Exists { dir: PathBuf },
    #[error("invalid journal configuration or request: {0}")]
    BadConfig(String),
    #[error("journal append of {len} bytes does not fit in one segment")]
    TooLarge { len: usize },
}

impl JournalError {
    /// A copy for another completion of the same failed batch (`io::Error`
    /// is not `Clone`; the copy keeps its kind, OS code and text).
    pub fn duplicate(&self) -> JournalError {
        match self {
            JournalError::Io { path, source } => JournalError::Io {
                path: path.clone(),
                source: match source.raw_os_error() {
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(source.kind(), source.to_string()),
                },
            },
            JournalError::Locked { dir, holder } => JournalError::Locked { dir: dir.clone(), holder: *holder },
            JournalError::Corrupt { file, offset, why } => {
                JournalError::Corrupt { file: file.clone(), offset: *offset, why: why.clone() }
            }
            JournalError::Full => JournalError::Full,
            JournalError::Fenced { mine, current } => JournalError::Fenced { mine: *mine, current: *current },
            JournalError::Poisoned => JournalError::Poisoned,
            JournalError::NotFound { dir } => JournalError::NotFound { dir: dir.clone() },
            JournalError::Exists { dir } => JournalError::Exists { dir: dir.clone() },
            JournalError::BadConfig(s) => JournalError::BadConfig(s.clone()),
            JournalError::TooLarge { len } => JournalError::TooLarge { len: *len },
        }
    }
}

/// "process 1234 (name)", "this process (1234)", or "another process" when
/// the holder is not known (a lock on another machine of a network file system).
fn holder_text(holder: Option<u32>) -> String {
    match holder {
        Some(pid) if pid == std::process::id() => format!("this process ({pid}, through another handle)"),
        Some(pid) => match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
            Ok(name) => format!("process {pid} ({})", name.trim()),
            Err(_) => format!("process {pid}"),
        },
        None => "another process (on this machine or, on a network file system, another one)".into(),
    }
}

/// How [`open`] treats a lock held by someone else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takeover {
    /// Fail with [`JournalError::Locked`].
    Normal,
    /// Proceed anyway (the operator says the holder is gone, e.g. a network
    /// file system lost the lock); the lock is still taken if it is free.
    /// The previous owner is fenced: it acknowledges nothing after this.
    Force,
}

/// What [`open`] found.
#[derive(Debug)]
pub struct Recovered {
    /// Surviving records in write order: no Fence records, no records a
    /// fenced owner wrote after being sealed. Includes the records of
    /// finished (Done) transactions whose segments were not yet recycled.
    pub records: Vec<Record>,
    /// The new owner's epoch (written in every record it appends).
    pub epoch: u64,
    /// A torn tail that was cut off: the last segment and the offset from
    /// which it was zeroed (offset 0: an unfinished segment file was removed).
    /// The last of `cuts` that is not a salvage.
    pub truncated: Option<(PathBuf, u64)>,
    /// Everything recovery took out of the journal (torn tails, unfinished
    /// segments, and with [`salvage`] the damaged stretches it dropped), in
    /// order, with file, offset and bytes: the caller logs them (the journal
    /// prints nothing).
    pub cuts: Vec<Cut>,
    /// Segment files after recovery, including the new owner's first one.
    pub segments: usize,
}

/// A snapshot of the writer's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    pub epoch: u64,
    /// Segment files in use (including recyclable ones not yet reused).
    pub segments: usize,
    /// Bytes of the segment files on disk.
    pub bytes_on_disk: u64,
    /// `bytes_on_disk` minus the unwritten rest of the current segment.
    pub bytes_used: u64,
    /// `max_segments * segment_bytes`.
    pub bytes_capacity: u64,
    /// Transactions with records and no Done record yet.
    pub live_transactions: usize,
    /// Data syncs (`fdatasync`) done by the writer.
    pub syncs: u64,
    /// Records appended (not counting the journal's own Fence records).
    pub records_written: u64,
    /// Write batches (group commits).
    pub batches: u64,
    /// Segments recycled (renamed for reuse instead of deleted and created).
    pub recycled: u64,
    /// How long each data sync took, in microseconds.
    pub sync_us: crate::histogram::Histogram,
    /// Appends written by each group commit (one write, at most one sync).
    pub batch_appends: crate::histogram::Histogram,
    /// Ownership checks (reads of the epoch file) after writes: one per
    /// group commit, but a batch of unsynced appends alone shares the next
    /// batch's check (see the writer's `SETTLE_AFTER`).
    pub owner_checks: u64,
}

/// Called exactly once with the outcome of an append.
pub type Completion = Box<dyn FnOnce(Result<(), JournalError>) + Send>;

/// Called at most once, with the reason, when this handle's ownership of the
/// journal ends (see [`Journal::on_lost`]).
pub type LostHook = Box<dyn FnOnce(JournalError) + Send>;

/// A handle to an open journal (the writer thread). Cheap to clone; the
/// writer flushes, syncs and stops (releasing files and lock) when the last
/// handle is dropped; that drop waits for it unless it happens on the writer
/// thread itself (inside a completion).
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    epoch: u64,
    dir: PathBuf,
    fs: Arc<dyn Storage>,
    shared: Arc<Shared>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(h) = self.thread.take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("epoch", &self.inner.epoch).finish()
    }
}

impl Journal {
    /// Queues `records` (written contiguously, in order, in one segment) and
    /// calls `done` on the writer thread when they are written (`sync = false`)
    /// or durable (`sync = true`), or with the error:
    /// [`JournalError::Full`] (nothing written; a new transaction, i.e. an
    /// append none of whose tids has live records, is refused when only the
    /// reserve is left), [`JournalError::TooLarge`], [`JournalError::BadConfig`]
    /// (a Fence record: only the journal writes those), [`JournalError::Io`],
    /// [`JournalError::Fenced`], [`JournalError::Poisoned`].
    /// An empty `records` with `sync = true` makes every earlier append durable.
    /// An empty `records` with `sync = false` is a barrier: it writes and
    /// checks nothing, and completes (Ok, or the error that ended ownership)
    /// after every earlier append completed.
    pub fn append(&self, records: Vec<(Tid, RecordKind, Vec<u8>)>, sync: bool, done: Completion) {
        let req = Request { records, sync, done };
        let Some(tx) = self.inner.tx.as_ref() else {
            return (req.done)(Err(JournalError::Poisoned));
        };
        if let Err(crossbeam_channel::SendError(req)) = tx.send(req) {
            // The writer thread is gone (it only stops early by panicking).
            (req.done)(Err(JournalError::Poisoned));
        }
    }

    /// [`Journal::append`], waiting for the outcome. Must not be called from a
    /// completion (it would wait for itself).
    pub fn append_wait(&self, records: Vec<(Tid, RecordKind, Vec<u8>)>, sync: bool) -> Result<(), JournalError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.append(
            records,
            sync,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or(Err(JournalError::Poisoned))
    }

    /// Call `hook` once if this owner loses the journal: fenced by a newer
    /// owner ([`JournalError::Fenced`], found after a write or, when idle,
    /// within about a second), or a failed write or sync
    /// ([`JournalError::Io`]). Runs on the writer thread, before the
    /// completions of the batch that found it, so it must not block or
    /// append; if ownership already ended it runs at once on this thread.
    /// A later call replaces a hook not yet called.
    pub fn on_lost(&self, hook: LostHook) {
        self.inner.shared.on_lost(hook);
    }

    /// Check now, on this thread, that no newer owner has fenced this one
    /// (the writer's own check, run by the caller): for an owner about to act
    /// on an acknowledgment that has aged (its process was stopped or
    /// starved), since a takeover may have happened meanwhile. It reads the
    /// epoch file, so it is not for every append. Changes nothing: the
    /// writer finds a fence itself at its next write or idle check.
    pub fn check_owner(&self) -> Result<(), JournalError> {
        owner::check(&*self.inner.fs, &self.inner.dir, self.inner.epoch)
    }

    /// This owner's epoch.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    pub fn stats(&self) -> JournalStats {
        self.inner.shared.stats()
    }

    /// Test fail point: the writer's next `fdatasync` fails.
    #[cfg(test)]
    pub(crate) fn fail_next_sync(&self) {
        self.inner.shared.fail_next_sync.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Test switch: the writer no longer checks its ownership when idle
    /// (after the request it is waiting for, if any), as if it had not
    /// noticed a fence yet.
    #[cfg(test)]
    pub(crate) fn no_idle_check(&self) {
        self.inner.shared.no_idle_check.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Test switch: how long completions of unsynced appends may wait for
    /// their ownership check (the writer's `SETTLE_AFTER`), from the
    /// writer's next wait on.
    #[cfg(test)]
    pub(crate) fn settle_after(&self, d: std::time::Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.inner.shared.settle_after_us.store(us, std::sync::atomic::Ordering::SeqCst);
    }

    /// Test fail point: the writer's next data write fails.
    #[cfg(test)]
    pub(crate) fn fail_next_write(&self) {
        self.inner.shared.fail_next_write.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn has_segments(fs: &dyn Storage, dir: &Path) -> bool {
    segment::list(fs, dir).map(|l| !l.is_empty()).unwrap_or(false)
}

/// Creates a new, empty journal in `cfg.dir` (creating the directory if
/// needed). [`JournalError::Exists`] if a journal is already there.
pub fn create(cfg: &JournalConfig) -> Result<(), JournalError> {
    create_on(&RealFs, cfg)
}

/// [`create`] on the given storage.
pub fn create_on(fs: &dyn Storage, cfg: &JournalConfig) -> Result<(), JournalError> {
    cfg.validate()?;
    let dir = &cfg.dir;
    fs.create_dir_all(dir).map_err(|e| segment::io_err(dir, e))?;
    if fs.exists(&owner::epoch_path(dir)) || has_segments(fs, dir) {
        return Err(JournalError::Exists { dir: dir.clone() });
    }
    let lock = dir.join(owner::LOCK_FILE);
    fs.open(&lock, storage::Open::Create, false).map_err(|e| segment::io_err(&lock, e))?;
    owner::write_epoch(fs, dir, 0)?;
    // The directory itself may be new: make its entry durable too.
    if let Some(parent) = fs.canonicalize(dir).ok().as_deref().and_then(Path::parent) {
        segment::sync_dir(fs, parent)?;
    }
    Ok(())
}

/// Opens the journal in `cfg.dir`: takes the lock (see [`Takeover`]), takes
/// the next epoch durably, recovers (truncating a torn tail of the last
/// segment; [`JournalError::Corrupt`] for damage anywhere else, including a
/// bad record in the last segment that valid records follow), starts a new
/// segment with a Fence record sealing the previous owner's data, and starts
/// the writer thread. [`JournalError::NotFound`] if there is no journal.
/// What recovery cut off is in [`Recovered::cuts`].
pub fn open(cfg: &JournalConfig, takeover: Takeover) -> Result<(Journal, Recovered), JournalError> {
    open_on(storage::real(), cfg, takeover)
}

/// [`open`] on the given storage.
pub fn open_on(
    fs: Arc<dyn Storage>,
    cfg: &JournalConfig,
    takeover: Takeover,
) -> Result<(Journal, Recovered), JournalError> {
    start_thread(fs, cfg, takeover, false)
}

/// Opens a journal that [`open`] refuses because of damaged records, keeping
/// what is valid: as [`open`] (with [`Takeover::Normal`]: a journal another
/// process owns is [`JournalError::Locked`]), but first every segment with
/// such damage is rebuilt from its valid records, before and after the
/// damage, and the damaged bytes are dropped (`salvage.rs` says how, and
/// what that risks). Each dropped stretch is a [`CutKind::Salvaged`] cut in
/// [`Recovered::cuts`]; the old file is kept as `<segment>.damaged-<epoch>`.
/// A damaged segment header is still [`JournalError::Corrupt`]. On a journal
/// that opens anyway, this is an [`open`].
pub fn salvage(cfg: &JournalConfig) -> Result<(Journal, Recovered), JournalError> {
    start_thread(storage::real(), cfg, Takeover::Normal, true)
}

/// Opens (or salvages) and starts the writer thread.
fn start_thread(
    fs: Arc<dyn Storage>,
    cfg: &JournalConfig,
    takeover: Takeover,
    salvaging: bool,
) -> Result<(Journal, Recovered), JournalError> {
    let (writer, recovered) = open_writer(fs.clone(), cfg, takeover, salvaging)?;
    let dir = &cfg.dir;
    let (epoch, shared) = (recovered.epoch, writer.shared());
    let (tx, rx) = crossbeam_channel::unbounded();
    let thread = std::thread::Builder::new()
        .name("rtr-journal".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| segment::io_err(dir, e))?;
    let journal =
        Journal { inner: Arc::new(Inner { tx: Some(tx), thread: Some(thread), epoch, dir: dir.clone(), fs, shared }) };
    Ok((journal, recovered))
}

/// The open itself, without a thread: lock, claim the next epoch, (salvage,)
/// recover, and start the new owner's segment with its Fence. The threaded
/// [`Journal`] and the [`SteppedJournal`] both start here.
fn open_writer(
    fs: Arc<dyn Storage>,
    cfg: &JournalConfig,
    takeover: Takeover,
    salvaging: bool,
) -> Result<(writer::Writer, Recovered), JournalError> {
    cfg.validate()?;
    let dir = &cfg.dir;
    if !fs.exists(&owner::epoch_path(dir)) {
        if has_segments(&*fs, dir) {
            return Err(JournalError::Corrupt {
                file: owner::epoch_path(dir),
                offset: 0,
                why: "the epoch file is missing but segment files exist".into(),
            });
        }
        return Err(JournalError::NotFound { dir: dir.clone() });
    }
    let lock = owner::lock(&*fs, dir, takeover)?;
    if lock.is_some() {
        owner::remove_stale_temporaries(&*fs, dir);
    }
    // From here on the previous owner is fenced: its next check fails.
    let (previous, epoch) = owner::claim_next(&*fs, dir)?;
    let mut cuts = if salvaging { salvage::rebuild(&*fs, dir, epoch)? } else { Vec::new() };
    let repaired = recover::repair(&*fs, dir)?;
    let seal = Seal { epoch: previous, segment: repaired.seal.0, offset: repaired.seal.1 };
    let (writer, segments) = writer::Writer::start(fs, cfg, epoch, lock, &repaired, seal)?;
    cuts.extend(repaired.cuts.iter().cloned());
    let truncated = repaired.cuts.last().map(|c| (c.file.clone(), c.offset));
    let recovered =
        Recovered { records: repaired.records.into_iter().map(|(_, r)| r).collect(), epoch, truncated, cuts, segments };
    Ok((writer, recovered))
}

/// [`open`] with [`Takeover::Normal`], creating the journal first if there is none.
pub fn open_or_create(cfg: &JournalConfig) -> Result<(Journal, Recovered), JournalError> {
    let fs = storage::real();
    open_or_create_with(cfg, |cfg| open_on(fs.clone(), cfg, Takeover::Normal), |cfg| create_on(&*fs, cfg))
}

/// `open`, creating the journal first if there is none (another process may
/// be creating it at the same moment: both then open the one journal).
fn open_or_create_with<T>(
    cfg: &JournalConfig,
    open: impl Fn(&JournalConfig) -> Result<T, JournalError>,
    create: impl Fn(&JournalConfig) -> Result<(), JournalError>,
) -> Result<T, JournalError> {
    for _ in 0..3 {
        match open(cfg) {
            Err(JournalError::NotFound { .. }) => match create(cfg) {
                Ok(()) | Err(JournalError::Exists { .. }) => continue,
                Err(e) => return Err(e),
            },
            other => return other,
        }
    }
    open(cfg)
}

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;
