//! The journal without its thread, for the simulator: the same writer
//! (group commit, segment roll and recycling, the ownership check after
//! every batch, fencing, poisoning) driven by explicit calls on the
//! caller's thread, so a deterministic simulation decides when a batch is
//! committed and when an idle owner checks its epoch.
//!
//! Differences from [`Journal`](super::Journal), and only these: a batch is
//! what the caller passes to [`SteppedJournal::commit`] (the thread takes
//! whatever is queued); there is no idle timer (the caller calls
//! [`SteppedJournal::check_owner`] when its simulated owner has been idle);
//! there are no completions or loss hook (the outcomes are returned, and
//! [`SteppedJournal::lost`] says whether ownership ended); dropping it is a
//! process dying (nothing more is synced), [`SteppedJournal::close`] is the
//! last handle going away (the written data is synced first).

use std::sync::Arc;

use super::storage::Storage;
use super::writer::Writer;
use super::{
    open_or_create_with, open_writer, JournalConfig, JournalError, JournalStats, RecordKind, Recovered, Takeover,
};
use crate::tid::Tid;

/// One append: its records and whether it must be durable.
pub type Append = (Vec<(Tid, RecordKind, Vec<u8>)>, bool);

/// An open journal whose writer runs only when called (see the module doc).
pub struct SteppedJournal {
    writer: Writer,
    epoch: u64,
}

impl std::fmt::Debug for SteppedJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SteppedJournal").field("epoch", &self.epoch).finish()
    }
}

impl SteppedJournal {
    /// As [`open`](super::open), on `fs`, without a thread.
    pub fn open(
        fs: Arc<dyn Storage>,
        cfg: &JournalConfig,
        takeover: Takeover,
    ) -> Result<(SteppedJournal, Recovered), JournalError> {
        Self::start(fs, cfg, takeover, false)
    }

    /// As [`salvage`](super::salvage), on `fs`, without a thread.
    pub fn salvage(fs: Arc<dyn Storage>, cfg: &JournalConfig) -> Result<(SteppedJournal, Recovered), JournalError> {
        Self::start(fs, cfg, Takeover::Normal, true)
    }

    /// As [`open_or_create`](super::open_or_create), on `fs`, without a thread.
    pub fn open_or_create(
        fs: Arc<dyn Storage>,
        cfg: &JournalConfig,
    ) -> Result<(SteppedJournal, Recovered), JournalError> {
        open_or_create_with(cfg, |cfg| Self::open(fs.clone(), cfg, Takeover::Normal), |cfg| super::create_on(&*fs, cfg))
    }

    fn start(
        fs: Arc<dyn Storage>,
        cfg: &JournalConfig,
        takeover: Takeover,
        salvaging: bool,
    ) -> Result<(SteppedJournal, Recovered), JournalError> {
        let (writer, recovered) = open_writer(fs, cfg, takeover, salvaging)?;
        Ok((SteppedJournal { writer, epoch: recovered.epoch }, recovered))
    }

    /// One group commit of `batch`, in order: the outcome of each append,
    /// exactly what the threaded journal's completions would receive for
    /// the same batch (see [`Journal::append`](super::Journal::append)).
    pub fn commit(&mut self, batch: &[Append]) -> Vec<Result<(), JournalError>> {
        self.writer.commit(batch.iter().map(|(records, sync)| (records.as_slice(), *sync)))
    }

    /// One append as a batch of its own.
    pub fn append(&mut self, records: Vec<(Tid, RecordKind, Vec<u8>)>, sync: bool) -> Result<(), JournalError> {
        let batch = [(records, sync)];
        self.commit(&batch).pop().unwrap_or(Err(JournalError::Poisoned))
    }

    /// The idle owner's check (the threaded writer runs it after a second
    /// without requests): a proven fence ends ownership and is returned; an
    /// owner that forced its way in takes the lock if it is free now.
    /// Once ownership ended, returns why.
    pub fn check_owner(&mut self) -> Result<(), JournalError> {
        self.writer.idle_check()
    }

    /// Why ownership ended (fenced, a failed write or sync), if it did.
    pub fn lost(&self) -> Option<JournalError> {
        self.writer.state_error()
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn stats(&self) -> JournalStats {
        self.writer.shared().stats()
    }

    /// The last handle going away: what was written becomes durable (as the
    /// threaded writer does when its last handle is dropped), then the files
    /// and the lock are released.
    pub fn close(self) -> Result<(), JournalError> {
        self.writer.finish()
    }
}
