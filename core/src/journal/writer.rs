//! The writer thread: sole owner of the segment files, group commit.
//!
//! Loop: wait for one request, take every other request already queued,
//! encode them into one buffer, write it with one positioned write, then one
//! `fdatasync` if any request asked for durability, then the ownership check
//! (re-read the epoch file), then call the completions in order. (A batch of
//! unsynced appends alone may leave its check, and so its completions, to
//! the next batch: see [`SETTLE_AFTER`].) There is no
//! timer: a request that arrives while idle is written at once, and requests
//! that arrive during a sync form the next batch. (After a batch the writer
//! lingers 50 µs, yielding, before it sleeps: see [`LINGER`].)
//!
//! While it owns the journal and nothing arrives for [`IDLE_CHECK`], the
//! writer re-reads the epoch anyway: an idle owner that was fenced (a node
//! frozen, taken over by a standby, then woken) learns it within about that
//! time instead of at its next write, which may never come. Ownership ending
//! for any reason (fenced, failed write or sync) is reported once to the
//! handle's [`super::Journal::on_lost`] hook.
//!
//! The thread is only the driver: [`Writer::commit`] is one group commit
//! and [`Writer::idle_check`] the idle check, and `SteppedJournal`
//! (`stepped.rs`) calls them directly, without a thread or a timer, for the
//! simulator. Every file operation goes through the journal's
//! [`Storage`]; on the hot path (write, fdatasync, epoch check) that is one
//! indirect call each.
//!
//! Invariants:
//! - nothing is acknowledged before the batch's write, its sync (when
//!   asked) and an epoch check after them all succeeded (the check of a
//!   batch of unsynced appends may be the next batch's, or the settling
//!   check [`SETTLE_AFTER`] later: its completions wait for it);
//! - the first failed write or sync ends ownership (state `Poisoned`, files
//!   and lock released); it is never retried, because after a failed
//!   `fsync` the kernel may have dropped the dirty pages and a retry could
//!   report success for data that is gone;
//! - once fenced, nothing more is written;
//! - before switching to a new segment the old one is synced, so the log is
//!   durable in order across files;
//! - every write ends with an 8-byte zero word when room remains, so the end
//!   of data is always marked, even in a recycled file;
//! - a file an earlier owner may still write into (the newest segment of
//!   its epoch, while that owner may live: see `recover::late_writers`) is
//!   never recycled, at an open or a roll, only removed once free: a fenced
//!   owner's late write lands in its own segment (past the seal: stale) or
//!   in a file no name reaches, never among a later owner's records. Each
//!   header says whether its owner held the OS lock; such an owner has
//!   ended once the lock is ours, so its segments are reused as before.

use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};

use super::format::{encode_record, record_bytes, seed, RecordKind, Seal, HEADER_BYTES, WORD_BYTES};
use super::live::Live;
use super::recover::{LateWriter, Repaired};
use super::segment::{self, io_err, CreateError, File, RecycleError};
use super::storage::Storage;
use super::{owner, Completion, JournalConfig, JournalError, JournalStats, LostHook, RESERVE_SEGMENTS};
use crate::histogram::Histogram;
use crate::tid::Tid;

pub(crate) struct Request {
    pub records: Vec<(Tid, RecordKind, Vec<u8>)>,
    pub sync: bool,
    pub done: Completion,
}

/// State shared between the handles and the writer thread.
#[derive(Default)]
pub(crate) struct Shared {
    stats: Mutex<JournalStats>,
    /// Fail points for tests: the next sync / data write fails.
    pub fail_next_sync: AtomicBool,
    pub fail_next_write: AtomicBool,
    /// For tests of a fenced owner that has not noticed yet: no idle check.
    pub no_idle_check: AtomicBool,
    /// For tests: how long unchecked completions wait for a check
    /// (microseconds; 0: [`SETTLE_AFTER`]).
    pub settle_after_us: AtomicU64,
    lost: Mutex<Lost>,
}

/// The end of ownership and who to tell. Invariant: once `ended` is set,
/// `hook` stays empty (each hook is called at most once).
#[derive(Default)]
struct Lost {
    hook: Option<LostHook>,
    /// Why ownership ended.
    ended: Option<JournalError>,
}

impl Shared {
    pub fn stats(&self) -> JournalStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn lost(&self) -> std::sync::MutexGuard<'_, Lost> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set the hook; called at once (on this thread) if ownership already ended.
    pub fn on_lost(&self, hook: LostHook) {
        let ended = {
            let mut l = self.lost();
            match &l.ended {
                Some(e) => e.duplicate(),
                None => {
                    l.hook = Some(hook);
                    return;
                }
            }
        };
        let _ = catch_unwind(AssertUnwindSafe(move || hook(ended)));
    }

    /// Ownership ended: tell the hook, if any (outside the lock).
    fn ended(&self, e: JournalError) {
        let hook = {
            let mut l = self.lost();
            l.ended = Some(e.duplicate());
            l.hook.take()
        };
        if let Some(hook) = hook {
            let _ = catch_unwind(AssertUnwindSafe(move || hook(e)));
        }
    }
}

struct Seg {
    number: u64,
    size: u64,
    /// Whether an earlier owner may still write into this file (see
    /// `recover::late_writers`): then, once free, it is removed, never
    /// recycled (see [`Seg::recyclable`]).
    late: LateWriter,
}

impl Seg {
    /// May this file be given a new life now? Not while an earlier owner
    /// may still write into it: one that held the OS lock when it wrote the
    /// header has ended once we hold the lock (`we_hold_lock`); one that
    /// did not may write at any time.
    fn recyclable(&self, we_hold_lock: bool) -> bool {
        match self.late {
            LateWriter::None => true,
            LateWriter::LockHolder => we_hold_lock,
            LateWriter::Anyone => false,
        }
    }
}

enum State {
    Owner,
    Fenced { current: u64 },
    Poisoned,
}

/// Why a request was not placed.
enum Refusal {
    /// This request fails; the batch goes on.
    Request(JournalError),
    /// Ownership ended (I/O error or fenced): the whole batch fails.
    Batch(JournalError),
}

pub(crate) struct Writer {
    fs: Arc<dyn Storage>,
    dir: PathBuf,
    epoch: u64,
    segment_bytes: u64,
    max_segments: usize,
    /// Holds the OS lock while we own the journal (None if forced without it).
    lock: Option<File>,
    /// Oldest first; the last one is the current segment.
    segs: VecDeque<Seg>,
    /// The current segment's file; None once ownership ended.
    cur: Option<File>,
    cur_seed: u32,
    /// End of the data written to the current segment.
    cur_off: u64,
    /// Encoded records waiting to be written at `cur_off`.
    buf: Vec<u8>,
    /// Data written to the current segment since its last sync.
    dirty: bool,
    next_number: u64,
    live: Live,
    state: State,
    shared: Arc<Shared>,
    syncs: u64,
    records: u64,
    batches: u64,
    recycled: u64,
    /// How long each `fdatasync` took, in microseconds.
    sync_us: Histogram,
    /// Appends written together by each group commit.
    batch_appends: Histogram,
    /// Ownership checks (epoch file reads) after writes.
    owner_checks: u64,
    /// Completions of unsynced appends written but not yet checked, in
    /// order: they run, before any later completion, with the outcome of
    /// the next check (`commit_batch` with `may_defer`, [`Writer::settle`]).
    /// Only the thread driver defers; the stepped journal never does.
    unchecked: Vec<Completion>,
}

/// How long the writer keeps looking for the next request before it sleeps.
/// A caller that appends again right after its completion (a client
/// committing back to back) then finds the writer awake: on virtual
/// machines a thread wake-up costs tens of microseconds, a third of an
/// fdatasync. Yielding, not spinning, so runnable threads are not delayed.
const LINGER: Duration = Duration::from_micros(50);

/// How long an owning writer waits for a request before it checks its
/// ownership anyway (one open and 12-byte read of the epoch file, one stat):
/// the bound on how long an idle fenced owner goes unaware.
pub(crate) const IDLE_CHECK: Duration = Duration::from_secs(1);

/// How long the completions of a batch of unsynced appends alone may wait
/// for their ownership check, which the next batch's check settles (and
/// otherwise a check of their own after this time).
///
/// Why: the node's unsynced appends (a transaction's Done record after the
/// servers' acknowledgements, its first records) carry nothing the node
/// waits for, and at one client they alternate with synced commits; a
/// check per batch read the epoch file twice per transaction. Deferring
/// the unsynced batch's check to the commit that follows halves that, and
/// keeps the journal's promise: no append completes `Ok` before a check
/// that came after its write, so a fenced owner acknowledges nothing (its
/// unsynced records get the fence's error with the next check). What a
/// fenced owner may still write meanwhile, unchecked, is at most one
/// unsynced batch more than before, into the segment it holds (a roll
/// checks first): past the new owner's seal, ignored by recovery, in a file
/// no later owner reuses (`recover::late_writers`).
pub(crate) const SETTLE_AFTER: Duration = Duration::from_millis(2);

enum Next {
    Request(Request),
    /// Nothing arrived within the idle time.
    Idle,
    /// Every handle is gone.
    Closed,
}

/// The next request; `Idle` after `idle` without one (when given).
fn next_request(rx: &Receiver<Request>, idle: Option<Duration>) -> Next {
    // Poll (`crate::linger`), then take it or sleep for it below.
    crate::linger::until(crate::syscalls::Side::Node, Instant::now() + LINGER, || !rx.is_empty(), || false);
    match rx.try_recv() {
        Ok(r) => return Next::Request(r),
        Err(TryRecvError::Disconnected) => return Next::Closed,
        Err(TryRecvError::Empty) => {}
    }
    match idle {
        Some(d) => match rx.recv_timeout(d) {
            Ok(r) => Next::Request(r),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Next::Idle,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Next::Closed,
        },
        None => rx.recv().map_or(Next::Closed, Next::Request),
    }
}

impl Writer {
    /// Creates the new owner's first segment with its Fence record (durable,
    /// epoch checked) and returns the writer and the number of segments.
    pub fn start(
        fs: Arc<dyn Storage>,
        cfg: &JournalConfig,
        epoch: u64,
        lock: Option<File>,
        repaired: &Repaired,
        seal: Seal,
    ) -> Result<(Writer, usize), JournalError> {
        let dir = cfg.dir.clone();
        let mut live = Live::default();
        for (seg, r) in &repaired.records {
            live.note(*seg, r.tid, r.kind);
        }
        let mut segs: VecDeque<Seg> = repaired
            .segments
            .iter()
            .map(|&(number, size)| {
                let late = repaired.late_writers.iter().find(|(n, _)| *n == number).map_or(LateWriter::None, |l| l.1);
                Seg { number, size, late }
            })
            .collect();
        // A fenced owner may be creating the next number right now: skip past
        // any name that turns out to exist.
        let mut number = repaired.max_number + 1;
        // The new owner's segment reuses a preallocated file when it can, so
        // that restarts do not add a file each (an embedded application
        // starting again and again): the oldest segment, once it holds
        // nothing live, is recycled (renamed to the new number, as a roll
        // does), and the free segments before it go. The newest segment is
        // never reused nor removed here: a fenced owner that is still alive
        // (a forced takeover, a file system that lost the lock) may go on
        // writing into its current segment, and the seal says only that
        // those writes are stale, not where else they may land. Removing or
        // recycling a prefix of the journal is safe for the seals (see the
        // pruning below). After an open the journal therefore holds the
        // segments from the first live one on, the previous newest one and
        // the new one: two files when nothing is live. More generally, no
        // segment an earlier owner may still write into is recycled, at an
        // open or at a roll (`recover::still_written`): the newest segment
        // of each earlier epoch, not only of the last one. Such a file,
        // once free, is removed; a fresh one is created instead.
        let mut reused = None;
        loop {
            let n = segs.len();
            let Some(front) = segs.front() else { break };
            if n < 2 || live.live_in(front.number) != 0 {
                break;
            }
            let (old, old_size) = (front.number, front.size);
            let next_free = segs.get(1).is_some_and(|s| n >= 3 && live.live_in(s.number) == 0);
            if next_free || old_size != cfg.segment_bytes || !front.recyclable(lock.is_some()) {
                // A free segment follows (recycle that one instead), the
                // wrong size for this configuration, or a file an earlier
                // owner may still write into: delete.
                segment::remove(&*fs, &dir, old)?;
                segs.pop_front();
                continue;
            }
            match segment::recycle(&*fs, &dir, old, number, epoch, lock.is_some(), cfg.segment_bytes) {
                Ok(f) => {
                    segs.pop_front();
                    reused = Some(f);
                    break;
                }
                Err(RecycleError::Exists) if number < repaired.max_number + 8 => number += 1,
                Err(RecycleError::Exists) => {
                    let p = segment::path(&dir, number);
                    return Err(io_err(
                        &p,
                        io::Error::new(io::ErrorKind::AlreadyExists, "segment names keep appearing"),
                    ));
                }
                Err(RecycleError::Unsupported) => break,
                Err(RecycleError::Io(e)) => return Err(e),
            }
        }
        let (file, recycled) = match reused {
            Some(f) => (f, 1),
            None => (
                loop {
                    match segment::create(&*fs, &dir, number, epoch, lock.is_some(), cfg.segment_bytes) {
                        Ok(f) => break f,
                        Err(CreateError::Exists) if number < repaired.max_number + 8 => number += 1,
                        Err(CreateError::Exists) => {
                            let p = segment::path(&dir, number);
                            return Err(io_err(
                                &p,
                                io::Error::new(io::ErrorKind::AlreadyExists, "segment names keep appearing"),
                            ));
                        }
                        Err(CreateError::NoSpace(e)) => return Err(io_err(&segment::path(&dir, number), e)),
                        Err(CreateError::Io(e)) => return Err(e),
                    }
                },
                0,
            ),
        };
        segs.push_back(Seg { number, size: cfg.segment_bytes, late: LateWriter::None });
        let mut w = Writer {
            fs,
            dir,
            epoch,
            segment_bytes: cfg.segment_bytes,
            max_segments: cfg.max_segments as usize,
            lock,
            segs,
            cur: Some(file),
            cur_seed: seed(number),
            cur_off: HEADER_BYTES,
            buf: Vec::new(),
            dirty: false,
            next_number: number + 1,
            live,
            state: State::Owner,
            shared: Arc::new(Shared::default()),
            syncs: 0,
            sync_us: Histogram::default(),
            batch_appends: Histogram::default(),
            owner_checks: 0,
            unchecked: Vec::new(),
            records: 0,
            batches: 0,
            recycled,
        };
        encode_record(&mut w.buf, w.cur_seed, epoch, &Tid::default(), RecordKind::Fence, &seal.encode());
        w.flush(true)?;
        owner::check(&*w.fs, &w.dir, epoch)?;
        // Every open adds a segment (the fence's). Beyond the cap, the oldest
        // segments holding nothing live go, so restarts cannot pile files up.
        // Only a prefix is removed: a seal always points into segments at or
        // after the first one kept, or into removed ones, whose stale records
        // went with them.
        while w.segs.len() > w.max_segments {
            let Some(front) = w.segs.front() else { break };
            let old = front.number;
            if old == number || w.live.live_in(old) != 0 {
                break;
            }
            segment::remove(&*w.fs, &w.dir, old)?;
            w.segs.pop_front();
        }
        let n = w.segs.len();
        w.publish_stats();
        Ok((w, n))
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    pub fn run(mut self, rx: Receiver<Request>) {
        loop {
            // Only an owner has anything to check; once ownership ended, sleep.
            // Unchecked completions are settled soon whatever the state.
            let check = matches!(self.state, State::Owner) && !self.shared.no_idle_check.load(Ordering::Relaxed);
            let idle = if self.unchecked.is_empty() { check.then_some(IDLE_CHECK) } else { Some(self.settle_after()) };
            match next_request(&rx, idle) {
                Next::Request(first) => {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    self.process(batch);
                }
                Next::Idle if !self.unchecked.is_empty() => self.settle(),
                Next::Idle => {
                    let _ = self.idle_check();
                }
                Next::Closed => break,
            }
        }
        // Last handle dropped: settle what waits for a check, and make
        // everything written durable.
        self.settle();
        let _ = self.finish();
    }

    /// [`SETTLE_AFTER`], or what a test set instead.
    fn settle_after(&self) -> Duration {
        match self.shared.settle_after_us.load(Ordering::Relaxed) {
            0 => SETTLE_AFTER,
            us => Duration::from_micros(us),
        }
    }

    /// Runs the unchecked completions with the outcome of a check now
    /// ([`Writer::settling_check`]).
    fn settle(&mut self) {
        if self.unchecked.is_empty() {
            return;
        }
        let verdict = match self.state_error() {
            Some(e) => Err(e),
            None => {
                let r = self.settling_check();
                self.publish_stats();
                r
            }
        };
        self.run_unchecked(&verdict);
    }

    /// The check of unchecked appends made apart from any write (after
    /// [`SETTLE_AFTER`], at a barrier, when the last handle goes): as the
    /// idle check, only a proven fence ends ownership and is the outcome.
    /// An epoch file that cannot be read (a journal directory removed
    /// under a process that is exiting, say) proves no fence: their writes
    /// went through and, unsynced, promised nothing more, and the check
    /// after the next write decides, ending ownership on any error as it
    /// always has. A barrier's exit drain then reports no error, as before.
    fn settling_check(&mut self) -> Result<(), JournalError> {
        self.owner_checks += 1;
        match owner::check(&*self.fs, &self.dir, self.epoch) {
            Err(e @ JournalError::Fenced { .. }) => {
                self.end_ownership(&e);
                Err(e)
            }
            _ => Ok(()),
        }
    }

    /// Runs the unchecked completions, in order, with `verdict`.
    fn run_unchecked(&mut self, verdict: &Result<(), JournalError>) {
        for done in self.unchecked.drain(..) {
            let r = verdict.as_ref().map_err(JournalError::duplicate).copied();
            let _ = catch_unwind(AssertUnwindSafe(move || done(r)));
        }
    }

    /// Makes everything written durable if this is still the owner (the
    /// last handle went away); the files and lock go with `self`.
    pub(crate) fn finish(mut self) -> Result<(), JournalError> {
        if matches!(self.state, State::Owner) && self.dirty {
            self.sync_current()?;
        }
        Ok(())
    }

    /// Idle: has a newer owner fenced us? Only a proven fence ends
    /// ownership here. An epoch file that cannot be read proves nothing
    /// while nothing is being acknowledged; the check after the next write
    /// decides then, as it always has.
    ///
    /// An owner that forced its way in while the previous one held the lock
    /// (a standby taking over a frozen node) takes the lock once it is
    /// free: the previous owner, restarted, then fails to lock the journal
    /// instead of fencing its new owner back in the middle of its work.
    ///
    /// Returns what the check found (ownership already ended: that reason).
    pub(crate) fn idle_check(&mut self) -> Result<(), JournalError> {
        if let Some(e) = self.state_error() {
            return Err(e);
        }
        match owner::check(&*self.fs, &self.dir, self.epoch) {
            Err(e @ JournalError::Fenced { .. }) => {
                self.end_ownership(&e);
                self.publish_stats();
                Err(e)
            }
            Ok(()) => {
                if self.lock.is_none() {
                    self.lock = owner::try_lock(&*self.fs, &self.dir);
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn state_error(&self) -> Option<JournalError> {
        match self.state {
            State::Owner => None,
            State::Fenced { current } => Some(JournalError::Fenced { mine: self.epoch, current }),
            State::Poisoned => Some(JournalError::Poisoned),
        }
    }

    fn process(&mut self, batch: Vec<Request>) {
        let (outcomes, checked) = self.commit_batch(batch.iter().map(|r| (r.records.as_slice(), r.sync)), true);
        if !checked {
            // Written, every outcome Ok, no check yet: their completions
            // wait for the next one.
            self.unchecked.extend(batch.into_iter().map(|r| r.done));
            return;
        }
        // This batch's check (or the failure that ended ownership) is also
        // the outcome of the earlier unchecked appends, which come first.
        let verdict = self.state_error().map_or(Ok(()), Err);
        self.run_unchecked(&verdict);
        for (req, result) in batch.into_iter().zip(outcomes) {
            let done = req.done;
            let _ = catch_unwind(AssertUnwindSafe(move || done(result)));
        }
    }

    /// One group commit: places every append of `batch` (records, sync) in
    /// order, writes them with one write, syncs once if any asked for it,
    /// checks ownership, and returns each append's outcome in order. Ends
    /// ownership on a failed write, sync or check. The caller delivers the
    /// outcomes (the thread calls the completions; a simulator steps it).
    pub(crate) fn commit<'a>(
        &mut self,
        batch: impl ExactSizeIterator<Item = (&'a [(Tid, RecordKind, Vec<u8>)], bool)>,
    ) -> Vec<Result<(), JournalError>> {
        self.commit_batch(batch, false).0
    }

    /// [`Writer::commit`]; with `may_defer`, a batch whose appends are all
    /// unsynced, all placed, is written without its ownership check when
    /// no earlier batch waits for one: then it returns `false` (outcomes
    /// not final: the caller keeps the completions in `unchecked`). Any
    /// batch while some wait for a check runs one, also a batch that
    /// writes nothing (a barrier): `true`.
    fn commit_batch<'a>(
        &mut self,
        batch: impl ExactSizeIterator<Item = (&'a [(Tid, RecordKind, Vec<u8>)], bool)>,
        may_defer: bool,
    ) -> (Vec<Result<(), JournalError>>, bool) {
        let settle = !self.unchecked.is_empty();
        let mut checked = true;
        // A barrier (an empty unsynced append) is never left waiting.
        let mut barrier = false;
        // Ok for an append placed (or skipped after a failure): the batch's
        // failure, if any, replaces it at the end; Err for one refused alone.
        let appends = batch.len() as u64;
        let mut outcomes: Vec<Result<(), JournalError>> = Vec::with_capacity(batch.len());
        let mut failure = self.state_error();
        let mut need_sync = false;
        let mut placed = false;
        for (records, sync) in batch {
            if failure.is_some() {
                outcomes.push(Ok(()));
                continue;
            }
            match self.place(records) {
                // An empty append without sync asks for nothing but its
                // place in the order (a barrier: its completion comes after
                // every earlier append's): no write, sync or check for it.
                Ok(()) if records.is_empty() && !sync => {
                    barrier = true;
                    outcomes.push(Ok(()));
                }
                Ok(()) => {
                    need_sync |= sync;
                    placed = true;
                    outcomes.push(Ok(()));
                }
                Err(Refusal::Request(e)) => outcomes.push(Err(e)),
                Err(Refusal::Batch(e)) => {
                    failure = Some(e);
                    outcomes.push(Ok(()));
                }
            }
        }
        if failure.is_none() && placed {
            self.batch_appends.record(appends);
            let defer = may_defer && !need_sync && !settle && !barrier && outcomes.iter().all(Result::is_ok);
            let check = |w: &mut Writer| {
                w.owner_checks += 1;
                owner::check(&*w.fs, &w.dir, w.epoch)
            };
            match self.flush(need_sync) {
                Err(e) => failure = Some(e),
                Ok(()) if defer => checked = false,
                Ok(()) => failure = check(self).err(),
            }
        } else if failure.is_none() && settle {
            // Nothing written (barriers, refusals): the earlier unchecked
            // appends' own check.
            failure = self.settling_check().err();
        }
        if let Some(e) = &failure {
            self.end_ownership(e);
        }
        self.batches += 1;
        self.publish_stats();
        if let Some(f) = &failure {
            for o in outcomes.iter_mut().filter(|o| o.is_ok()) {
                *o = Err(f.duplicate());
            }
        }
        (outcomes, checked)
    }

    /// Ends ownership for good after `e`; releases the files and the lock.
    /// The first time, tells the handle's hook why (before any completion
    /// of the failed batch runs).
    fn end_ownership(&mut self, e: &JournalError) {
        if matches!(self.state, State::Owner) {
            self.state = match e {
                JournalError::Fenced { current, .. } => State::Fenced { current: *current },
                _ => State::Poisoned,
            };
            self.shared.ended(e.duplicate());
        }
        self.cur = None;
        self.lock = None;
        self.buf.clear();
    }

    /// Segments that could still be added: free room under the cap plus the
    /// free segments at the front (recyclable), net of any excess over the cap.
    fn obtainable(&self) -> usize {
        let n = self.segs.len();
        let free_front =
            self.segs.iter().take(n.saturating_sub(1)).take_while(|s| self.live.live_in(s.number) == 0).count();
        (self.max_segments + free_front).saturating_sub(n)
    }

    fn current(&self) -> &Seg {
        // `segs` always holds the current segment (`start` pushes it and a
        // roll replaces it); the fallback only keeps this total.
        static NONE: Seg = Seg { number: 0, size: 0, late: LateWriter::None };
        self.segs.back().unwrap_or(&NONE)
    }

    /// Checks a request against the size limits and the cap, switches to a
    /// new segment if it does not fit in the current one, and encodes it.
    fn place(&mut self, records: &[(Tid, RecordKind, Vec<u8>)]) -> Result<(), Refusal> {
        if records.is_empty() {
            return Ok(());
        }
        if records.iter().any(|(_, k, _)| *k == RecordKind::Fence) {
            return Err(Refusal::Request(JournalError::BadConfig(
                "Fence records are written by the journal itself".into(),
            )));
        }
        let size: usize = records.iter().map(|(_, _, p)| record_bytes(p.len())).sum();
        if size as u64 > self.segment_bytes - HEADER_BYTES {
            return Err(Refusal::Request(JournalError::TooLarge { len: size }));
        }
        // A new transaction: it has records that would pin space, and none
        // of its tids has any yet. Those may not use the reserve.
        let new = records.iter().any(|(_, k, _)| *k != RecordKind::Done)
            && !records.iter().any(|(t, _, _)| self.live.is_live(t));
        let reserve = if new { RESERVE_SEGMENTS } else { 0 };
        // Only `Done` records: they free space and pin none, so they may
        // take one segment past the cap. Refused, they were lost (nothing
        // writes a `Done` again), and a journal whose every segment holds a
        // transaction waiting for its `Done` stayed full for good: every
        // new transaction was refused (simulator `--shadow --seed 784
        // --routers 2`: the reserve went to other records of transactions
        // already in the journal, then the `Done`s that would have freed
        // the oldest segments were refused). The extra segment goes once
        // the front ones are free (`roll` deletes past the cap).
        // Likewise `Carried` records: each restates at the head all a
        // transaction kept answerable still needs, so the segments behind
        // free up. Refused, a journal whose every segment held such
        // commits (never forgotten: their router restarted) could never
        // carry them and stayed full for good (simulator `--shadow --seed
        // 339 --routers 2`: west's commits remembered for east, released
        // after a restart that lost their routers' forgets). One segment
        // past the cap at most (`roll`).
        let overflow = usize::from(records.iter().all(|(_, k, _)| matches!(k, RecordKind::Done | RecordKind::Carried)));
        let pos = self.cur_off + self.buf.len() as u64;
        if pos + size as u64 <= self.current().size {
            if self.obtainable() < reserve {
                return Err(Refusal::Request(JournalError::Full));
            }
        } else {
            if self.obtainable() + overflow < 1 + reserve {
                return Err(Refusal::Request(JournalError::Full));
            }
            self.roll(overflow)?;
        }
        let number = self.current().number;
        for (tid, kind, payload) in records {
            encode_record(&mut self.buf, self.cur_seed, self.epoch, tid, *kind, payload);
            self.live.note(number, *tid, *kind);
        }
        self.records += records.len() as u64;
        Ok(())
    }

    fn cur_path(&self) -> PathBuf {
        segment::path(&self.dir, self.current().number)
    }

    /// Writes the buffer at the end of the current segment's data, followed
    /// by an end-of-data word if room remains; then syncs if `sync` and
    /// anything is unsynced.
    fn flush(&mut self, sync: bool) -> Result<(), JournalError> {
        if !self.buf.is_empty() {
            let end = self.cur_off + self.buf.len() as u64;
            if end + WORD_BYTES as u64 <= self.current().size {
                self.buf.extend_from_slice(&[0u8; WORD_BYTES]);
            }
            let path = self.cur_path();
            let result = match &self.cur {
                _ if self.shared.fail_next_write.swap(false, Ordering::SeqCst) => {
                    Err(io::Error::other("injected write failure"))
                }
                Some(f) => f.write_all_at(&self.buf, self.cur_off),
                None => Err(io::Error::other("journal file is closed")),
            };
            result.map_err(|e| io_err(&path, e))?;
            self.cur_off = end;
            self.buf.clear();
            self.dirty = true;
        }
        if sync && self.dirty {
            self.sync_current()?;
        }
        Ok(())
    }

    fn sync_current(&mut self) -> Result<(), JournalError> {
        let path = self.cur_path();
        let result = match &self.cur {
            _ if self.shared.fail_next_sync.swap(false, Ordering::SeqCst) => {
                Err(io::Error::other("injected fdatasync failure"))
            }
            Some(f) => {
                // Timed for the metrics only: nothing decides by it.
                let t = Instant::now();
                let r = f.sync_data();
                crate::syscalls::count(crate::syscalls::Side::Node, 1);
                self.sync_us.record(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                r
            }
            None => Err(io::Error::other("journal file is closed")),
        };
        result.map_err(|e| io_err(&path, e))?;
        self.syncs += 1;
        self.dirty = false;
        Ok(())
    }

    /// An `AlreadyExists` on a name only we should be creating: either we
    /// were fenced (a newer owner made it) or something else writes here.
    fn name_taken(&self, number: u64) -> Refusal {
        if let Err(e) = owner::check(&*self.fs, &self.dir, self.epoch) {
            return Refusal::Batch(e);
        }
        let p = segment::path(&self.dir, number);
        Refusal::Batch(io_err(
            &p,
            io::Error::new(io::ErrorKind::AlreadyExists, "segment file appeared: another process writes this journal"),
        ))
    }

    /// Switches to a new current segment: syncs the old one, checks
    /// ownership, then recycles the oldest segment if it is free, else
    /// creates one (the caller checked the cap; `overflow`: segments this
    /// request may add past it, `place`).
    fn roll(&mut self, overflow: usize) -> Result<(), Refusal> {
        self.flush(true).map_err(Refusal::Batch)?;
        owner::check(&*self.fs, &self.dir, self.epoch).map_err(Refusal::Batch)?;
        let number = self.next_number;
        loop {
            let n = self.segs.len();
            let front_free = n >= 2 && self.segs.front().is_some_and(|s| self.live.live_in(s.number) == 0);
            if !front_free {
                break;
            }
            let Some(front) = self.segs.front() else { break };
            let (old, old_size) = (front.number, front.size);
            if n > self.max_segments || old_size != self.segment_bytes || !front.recyclable(self.lock.is_some()) {
                // Over the cap (an open added a segment), the wrong size, or
                // a file an earlier owner may still write into: delete.
                segment::remove(&*self.fs, &self.dir, old).map_err(Refusal::Batch)?;
                self.segs.pop_front();
                continue;
            }
            match segment::recycle(
                &*self.fs,
                &self.dir,
                old,
                number,
                self.epoch,
                self.lock.is_some(),
                self.segment_bytes,
            ) {
                Ok(file) => {
                    self.segs.pop_front();
                    self.recycled += 1;
                    // The new header and end word are written, not yet synced.
                    self.switch_to(file, number, true);
                    return Ok(());
                }
                Err(RecycleError::Exists) => return Err(self.name_taken(number)),
                Err(RecycleError::Unsupported) => {
                    segment::remove(&*self.fs, &self.dir, old).map_err(Refusal::Batch)?;
                    self.segs.pop_front();
                    break;
                }
                Err(RecycleError::Io(e)) => return Err(Refusal::Batch(e)),
            }
        }
        if self.segs.len() >= self.max_segments + overflow {
            return Err(Refusal::Request(JournalError::Full));
        }
        match segment::create(&*self.fs, &self.dir, number, self.epoch, self.lock.is_some(), self.segment_bytes) {
            Ok(file) => {
                self.switch_to(file, number, false);
                Ok(())
            }
            Err(CreateError::Exists) => Err(self.name_taken(number)),
            // The disk is full below our cap: refuse this request, harm nothing.
            Err(CreateError::NoSpace(_)) => Err(Refusal::Request(JournalError::Full)),
            Err(CreateError::Io(e)) => Err(Refusal::Batch(e)),
        }
    }

    fn switch_to(&mut self, file: File, number: u64, dirty: bool) {
        // Our own segment: once we roll past it, only we could have written it.
        self.segs.push_back(Seg { number, size: self.segment_bytes, late: LateWriter::None });
        self.cur = Some(file);
        self.cur_seed = seed(number);
        self.cur_off = HEADER_BYTES;
        self.dirty = dirty;
        self.next_number = number + 1;
    }

    fn publish_stats(&self) {
        let on_disk: u64 = self.segs.iter().map(|s| s.size).sum();
        let s = JournalStats {
            epoch: self.epoch,
            segments: self.segs.len(),
            bytes_on_disk: on_disk,
            bytes_used: on_disk - self.current().size.saturating_sub(self.cur_off),
            bytes_capacity: self.max_segments as u64 * self.segment_bytes,
            live_transactions: self.live.transactions(),
            syncs: self.syncs,
            records_written: self.records,
            batches: self.batches,
            recycled: self.recycled,
            sync_us: self.sync_us.clone(),
            batch_appends: self.batch_appends.clone(),
            owner_checks: self.owner_checks,
        };
        if let Ok(mut g) = self.shared.stats.lock() {
            *g = s;
        }
    }
}
