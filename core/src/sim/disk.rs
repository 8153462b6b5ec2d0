//! Simulated journal storage: one journal per backend node under a shared
//! root, at the level of the records the node asks to append.
//!
//! The model keeps what a real disk keeps and loses what it loses:
//! - appended records are **volatile** until a sync covers them; a crash (or
//!   a fence by a new owner) keeps only a random prefix of the volatile tail
//!   (rule 1, write order: blocks land in order, so what survives is a
//!   prefix), and may cut the last append in the middle (a torn write at
//!   record granularity);
//! - a sync makes every earlier record durable (group commit);
//! - one owner at a time: an open fails while a live process holds the
//!   journal, a forced takeover fences the holder (its later writes and
//!   syncs fail, as the real writer's epoch check makes them), and a dead
//!   process holds nothing (the OS lock goes with it);
//! - every open or takeover raises the journal's epoch.

use std::collections::{BTreeMap, VecDeque};

use super::rng::Rng;
use crate::journal::{Record, RecordKind};
use crate::tid::Tid;

/// Who holds a journal: (node index, node incarnation, journal id there).
pub type Holder = (usize, u32, u32);

/// A sync waiting for its simulated fdatasync: the records up to `mark`
/// become durable, then the tokens complete.
#[derive(Debug)]
pub struct PendingSync {
    pub holder: Holder,
    pub mark: usize,
    pub tokens: Vec<u64>,
}

#[derive(Debug, Default)]
pub struct SimJournal {
    /// Every record written, durable or not, in write order.
    pub records: Vec<Record>,
    /// `records[..durable]` is on stable storage.
    pub durable: usize,
    pub epoch: u64,
    pub holder: Option<Holder>,
    /// Syncs in flight, completed in order.
    pub syncs: VecDeque<PendingSync>,
}

impl SimJournal {
    /// The holder lost its hold without syncing (crash, or fenced): keep a
    /// random prefix of the volatile tail; that is what is on disk now.
    fn settle(&mut self, rng: &mut Rng) {
        let volatile = self.records.len() - self.durable;
        let keep = rng.below(volatile as u64 + 1) as usize;
        self.records.truncate(self.durable + keep);
        self.durable = self.records.len();
    }

    /// The records a new owner recovers from.
    pub fn recovered(&self) -> Vec<Record> {
        self.records[..self.durable].to_vec()
    }
}

/// Why a journal operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskError {
    /// The journal is held by another (live) process.
    Locked,
    /// This holder was fenced: another owner took the journal over.
    Fenced,
    /// The device failed a write or a sync (injected).
    Io,
    /// No such journal (never created).
    Missing,
}

/// Every journal under the shared root, by node name.
#[derive(Debug, Default)]
pub struct Disk {
    pub journals: BTreeMap<String, SimJournal>,
    /// Nodes whose next write or sync fails (an injected device error).
    pub failing: BTreeMap<usize, u32>,
}

impl Disk {
    /// A node process opens (or creates) its own journal. Returns the
    /// records to recover and the new epoch.
    pub fn open(&mut self, name: &str, holder: Holder) -> Result<(Vec<Record>, u64), DiskError> {
        let j = self.journals.entry(name.to_string()).or_default();
        if j.holder.is_some() {
            return Err(DiskError::Locked);
        }
        j.holder = Some(holder);
        j.epoch += 1;
        Ok((j.recovered(), j.epoch))
    }

    /// A forced takeover of `name`'s journal: the holder, if any, is fenced
    /// (what it wrote but did not sync is partly on disk), the taker holds it.
    /// Returns the records to recover and the holder it fenced, if any.
    pub fn take_over(
        &mut self,
        name: &str,
        holder: Holder,
        rng: &mut Rng,
    ) -> Result<(Vec<Record>, Option<Holder>, u64), DiskError> {
        let j = self.journals.get_mut(name).ok_or(DiskError::Missing)?;
        let fenced = j.holder;
        if fenced.is_some() {
            j.settle(rng);
        }
        j.holder = Some(holder);
        j.epoch += 1;
        Ok((j.recovered(), fenced, j.epoch))
    }

    /// A process died: everything it held is released, its unsynced
    /// records partly lost.
    pub fn process_died(&mut self, node: usize, rng: &mut Rng) {
        for j in self.journals.values_mut() {
            if j.holder.is_some_and(|h| h.0 == node) {
                j.settle(rng);
                j.holder = None;
            }
            // Its syncs in flight die with it (a fenced holder's too).
            j.syncs.retain(|s| s.holder.0 != node);
        }
        self.failing.remove(&node);
    }

    /// Journal `jid` held by `(node, inc)`: its name.
    pub fn held(&self, node: usize, inc: u32, jid: u32) -> Option<String> {
        self.journals.iter().find(|(_, j)| j.holder == Some((node, inc, jid))).map(|(n, _)| n.clone())
    }

    /// Does `(node, inc)` still hold journal `name` as `jid`?
    pub fn holds(&self, name: &str, holder: Holder) -> bool {
        self.journals.get(name).is_some_and(|j| j.holder == Some(holder))
    }

    /// Append records for `holder` to journal `name`; with `sync`, queue a
    /// sync whose completion carries `tokens`. Returns whether a sync was
    /// queued (its completion must be scheduled).
    pub fn append(
        &mut self,
        name: &str,
        holder: Holder,
        entries: Vec<(Tid, RecordKind, Vec<u8>)>,
        sync: bool,
        tokens: Vec<u64>,
    ) -> Result<bool, DiskError> {
        if let Some(n) = self.failing.get_mut(&holder.0) {
            if *n <= 1 {
                self.failing.remove(&holder.0);
                return Err(DiskError::Io);
            }
            *n -= 1;
        }
        let j = self.journals.get_mut(name).ok_or(DiskError::Missing)?;
        if j.holder != Some(holder) {
            return Err(DiskError::Fenced);
        }
        let epoch = j.epoch;
        j.records.extend(entries.into_iter().map(|(tid, kind, payload)| Record { epoch, tid, kind, payload }));
        if sync {
            j.syncs.push_back(PendingSync { holder, mark: j.records.len(), tokens });
        }
        Ok(sync)
    }

    /// The oldest sync of journal `name` completes: its records are
    /// durable. Returns the sync, or an error if its holder was fenced
    /// meanwhile (the real writer re-checks its epoch after each sync).
    pub fn sync_done(&mut self, name: &str) -> Option<Result<PendingSync, PendingSync>> {
        let j = self.journals.get_mut(name)?;
        let s = j.syncs.pop_front()?;
        if j.holder != Some(s.holder) {
            return Some(Err(s));
        }
        j.durable = j.durable.max(s.mark.min(j.records.len()));
        Some(Ok(s))
    }

    /// Release journal `jid` of `(node, inc)` (finished with a taken-over
    /// journal). A clean close syncs what was written: the syncs still in
    /// flight are returned, complete.
    pub fn release(&mut self, node: usize, inc: u32, jid: u32) -> Vec<PendingSync> {
        let mut done = Vec::new();
        for j in self.journals.values_mut() {
            if j.holder == Some((node, inc, jid)) {
                j.durable = j.records.len();
                let (mine, rest): (VecDeque<_>, VecDeque<_>) =
                    j.syncs.drain(..).partition(|s| s.holder == (node, inc, jid));
                j.syncs = rest;
                done.extend(mine);
                j.holder = None;
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u64) -> Tid {
        Tid { node: 1, incarnation: 1, conn: 1, seq: n }
    }

    fn rec(n: u64) -> (Tid, RecordKind, Vec<u8>) {
        (t(n), RecordKind::Done, vec![])
    }

    #[test]
    fn unsynced_writes_are_lost_in_a_crash_and_synced_ones_kept() {
        // Over many seeds: synced records always survive; the unsynced
        // tail survives only as a prefix, and sometimes not at all.
        let mut lost_some = false;
        for seed in 0..64 {
            let mut rng = Rng::new(seed);
            let mut d = Disk::default();
            d.open("be", (0, 1, 0)).unwrap();
            assert!(d.append("be", (0, 1, 0), vec![rec(1), rec(2)], true, vec![7]).unwrap());
            let s = d.sync_done("be").unwrap().unwrap();
            assert_eq!(s.tokens, vec![7]);
            d.append("be", (0, 1, 0), vec![rec(3), rec(4), rec(5)], false, vec![]).unwrap();
            d.process_died(0, &mut rng);
            let (records, epoch) = d.open("be", (0, 2, 0)).unwrap();
            assert_eq!(epoch, 2);
            let seqs: Vec<u64> = records.iter().map(|r| r.tid.seq).collect();
            assert!(seqs.len() >= 2 && seqs.len() <= 5);
            assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "a prefix survives");
            lost_some |= seqs.len() < 5;
        }
        assert!(lost_some, "the model must lose unsynced writes");
    }

    #[test]
    fn a_takeover_fences_the_holder_and_an_open_waits_for_the_lock() {
        let mut rng = Rng::new(1);
        let mut d = Disk::default();
        d.open("be", (0, 1, 0)).unwrap();
        d.append("be", (0, 1, 0), vec![rec(1)], true, vec![1]).unwrap();
        // Taken over before the sync completed: the sync reports fenced.
        let (recs, fenced, epoch) = d.take_over("be", (1, 1, 5), &mut rng).unwrap();
        assert!(recs.len() <= 1);
        assert_eq!(epoch, 2, "the open claimed 1, the takeover 2");
        assert_eq!(fenced, Some((0, 1, 0)));
        let fenced = d.sync_done("be").unwrap();
        assert!(matches!(fenced, Err(PendingSync { holder: (0, 1, 0), .. })), "the old holder's sync fails");
        assert_eq!(d.append("be", (0, 1, 0), vec![rec(2)], false, vec![]), Err(DiskError::Fenced));
        assert_eq!(d.open("be", (0, 2, 0)), Err(DiskError::Locked));
        assert_eq!(d.held(1, 1, 5).as_deref(), Some("be"));
        d.release(1, 1, 5);
        assert!(d.open("be", (0, 2, 0)).is_ok());
    }

    #[test]
    fn an_injected_device_error_fails_the_next_write() {
        let mut d = Disk::default();
        d.open("be", (0, 1, 0)).unwrap();
        d.failing.insert(0, 1);
        assert_eq!(d.append("be", (0, 1, 0), vec![rec(1)], true, vec![1]), Err(DiskError::Io));
        assert!(d.append("be", (0, 1, 0), vec![rec(1)], true, vec![1]).is_ok());
    }
}
