//! The backends' journals in a run: either the real journal code
//! ([`SteppedJournal`], the production writer without its thread) on one
//! simulated device ([`SimFs`]) per journal under a shared root, or the
//! record-level model of [`super::disk`]. The world asks both the same
//! things; the real one is the default.
//!
//! With the real journal, an append waits in its journal's queue until the
//! world flushes that journal (one group commit: the writer writes the
//! batch, syncs once if any append asked for it, and checks its epoch, as
//! the writer thread does), so a crash in between loses what was queued or
//! written but not synced. A process killed drops its handles (its page
//! cache survives: unsynced writes stay on the device); a machine that loses
//! power crashes the devices of the journals it held (a random prefix of
//! the unsynced writes survives, the last one torn at any byte).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::disk::{Disk, DiskError, Holder};
use super::rng::Rng;
use crate::journal::storage::sim::SimFs;
use crate::journal::{JournalConfig, JournalError, Record, RecordKind, SteppedJournal, Takeover};
use crate::tid::Tid;

/// What became of one append once its journal was flushed.
#[derive(Debug)]
pub enum Flushed {
    /// Written (and durable, if it asked to be).
    Ok,
    /// Refused, nothing written: the journal is full.
    Full,
    /// The holder lost the journal (fenced by a new owner, or a failed
    /// write or sync): it must stop.
    Lost(String),
}

#[derive(Debug)]
pub struct Done {
    pub holder: Holder,
    pub tokens: Vec<u64>,
    pub tids: Vec<Tid>,
    pub result: Flushed,
}

struct Queued {
    entries: Vec<(Tid, RecordKind, Vec<u8>)>,
    sync: bool,
    tokens: Vec<u64>,
    tids: Vec<Tid>,
}

struct Open {
    holder: Holder,
    j: SteppedJournal,
    queue: Vec<Queued>,
}

/// The real journals: a device per journal name, the journal open on each
/// by its current holder, and the handles of the holders fenced by
/// takeovers that have not found out yet (their writers still write, late,
/// past the new owner's fence; their epoch checks then fail them). Several
/// per journal: a second takeover must not drop the first fenced holder's
/// handle (simulator seed 8153: its writes then read as "not held", which a
/// node's own journal takes for written, and a fenced node applied a commit
/// that was durable nowhere).
#[derive(Default)]
pub struct Real {
    devices: BTreeMap<String, SimFs>,
    open: BTreeMap<String, Open>,
    fenced: BTreeMap<String, Vec<Open>>,
}

impl Real {
    fn find(&self, holder: Holder) -> Option<String> {
        let fenced = self.fenced.iter().flat_map(|(n, v)| v.iter().map(move |o| (n, o)));
        self.open.iter().chain(fenced).find(|(_, o)| o.holder == holder).map(|(n, _)| n.clone())
    }

    fn flush_one(o: &mut Open) -> Vec<Done> {
        let queue = std::mem::take(&mut o.queue);
        if queue.is_empty() {
            return Vec::new();
        }
        let (batch, rest): (Vec<_>, Vec<_>) =
            queue.into_iter().map(|q| ((q.entries, q.sync), (q.tokens, q.tids))).unzip();
        let results = o.j.commit(&batch);
        let holder = o.holder;
        rest.into_iter()
            .zip(results)
            .map(|((tokens, tids), res)| {
                let result = match res {
                    Ok(()) => Flushed::Ok,
                    Err(JournalError::Full) => Flushed::Full,
                    Err(e) => Flushed::Lost(why(&e)),
                };
                Done { holder, tokens, tids, result }
            })
            .collect()
    }
}

/// `RTR_SIM_FS_TRACE=<journal name>` (e.g. `be1`) prints every operation
/// on that journal's simulated device, and its holders' opens, takeovers,
/// flushes and deaths, among the events of a replay (`rtr simulate --seed
/// N`), to follow who wrote what where. A debugging aid, off by default;
/// the run (and its trace hash) is the same with it.
const FS_TRACE_VAR: &str = "RTR_SIM_FS_TRACE";

/// A journal's simulated device, traced if [`FS_TRACE_VAR`] names it.
fn new_device(name: &str) -> SimFs {
    let fs = SimFs::new();
    if std::env::var(FS_TRACE_VAR).is_ok_and(|v| v == name) {
        fs.set_trace(Some(name.to_string()));
    }
    fs
}

fn config() -> JournalConfig {
    // Small segments, so that runs roll and recycle them.
    JournalConfig { dir: PathBuf::from("/journal"), segment_bytes: 128 << 10, max_segments: 8 }
}

fn why(e: &JournalError) -> String {
    e.to_string()
}

pub enum Journals {
    Records(Disk),
    Real(Real),
}

impl Journals {
    pub fn new(real: bool) -> Journals {
        if real {
            Journals::Real(Real::default())
        } else {
            Journals::Records(Disk::default())
        }
    }

    /// A node process opens (creating it the first time) its own journal.
    pub fn open_own(&mut self, name: &str, holder: Holder) -> Result<(Vec<Record>, u64), String> {
        match self {
            Journals::Records(d) => d.open(name, holder).map_err(|e| format!("{e:?}")),
            Journals::Real(r) => {
                let fs = r.devices.entry(name.to_string()).or_insert_with(|| new_device(name)).clone();
                if r.open.contains_key(name) {
                    // A live process holds it (its lock would refuse us).
                    return Err("Locked".into());
                }
                fs.note(|| format!("open by {holder:?}"));
                let (j, rec) = SteppedJournal::open_or_create(fs.storage(), &config()).map_err(|e| why(&e))?;
                fs.note(|| format!("opened by {holder:?}: epoch {}", j.epoch()));
                r.open.insert(name.to_string(), Open { holder, j, queue: Vec::new() });
                Ok((rec.records, rec.epoch))
            }
        }
    }

    /// A forced takeover of `name`'s journal. Returns the records to recover
    /// and the holder it fenced, if any.
    pub fn take_over(
        &mut self,
        name: &str,
        holder: Holder,
        rng: &mut Rng,
    ) -> Result<(Vec<Record>, Option<Holder>, u64), String> {
        match self {
            Journals::Records(d) => d.take_over(name, holder, rng).map_err(|e| format!("{e:?}")),
            Journals::Real(r) => {
                let fs = r.devices.get(name).ok_or_else(|| format!("no journal of {name}"))?.clone();
                fs.note(|| format!("forced takeover by {holder:?}"));
                let (j, rec) = SteppedJournal::open(fs.storage(), &config(), Takeover::Force).map_err(|e| why(&e))?;
                fs.note(|| format!("taken over by {holder:?}: epoch {}", j.epoch()));
                // The fenced holder keeps its handle until it finds out (at
                // its next flush or idle check) and stops; what it queued
                // is lost with it.
                let old = r.open.insert(name.to_string(), Open { holder, j, queue: Vec::new() });
                let fenced = old.as_ref().map(|o| o.holder);
                if let Some(o) = old {
                    r.fenced.entry(name.to_string()).or_default().push(o);
                }
                Ok((rec.records, fenced, rec.epoch))
            }
        }
    }

    /// The name of journal `jid` held by `(node, inc)`.
    pub fn held(&self, node: usize, inc: u32, jid: u32) -> Option<String> {
        match self {
            Journals::Records(d) => d.held(node, inc, jid),
            Journals::Real(r) => r.find((node, inc, jid)),
        }
    }

    pub fn holds(&self, name: &str, holder: Holder) -> bool {
        match self {
            Journals::Records(d) => d.holds(name, holder),
            Journals::Real(r) => r.open.get(name).is_some_and(|o| o.holder == holder),
        }
    }

    /// Append for `holder`. Returns whether the journal needs a flush
    /// (a sync to complete, or queued records to write).
    pub fn append(
        &mut self,
        name: &str,
        holder: Holder,
        entries: Vec<(Tid, RecordKind, Vec<u8>)>,
        sync: bool,
        tokens: Vec<u64>,
        tids: Vec<Tid>,
    ) -> Result<bool, DiskError> {
        match self {
            Journals::Records(d) => d.append(name, holder, entries, sync, tokens),
            Journals::Real(r) => {
                // A holder fenced but not told yet still writes (its epoch
                // check after the sync fails it).
                let o = match r.fenced.get_mut(name).and_then(|v| v.iter_mut().find(|o| o.holder == holder)) {
                    Some(o) => o,
                    None => r.open.get_mut(name).filter(|o| o.holder == holder).ok_or(DiskError::Missing)?,
                };
                let first = o.queue.is_empty();
                o.queue.push(Queued { entries, sync, tokens, tids });
                Ok(first)
            }
        }
    }

    /// Flush journal `name`: the record model completes its oldest sync;
    /// the real journal group-commits everything queued.
    pub fn flush(&mut self, name: &str) -> Vec<Done> {
        match self {
            Journals::Records(d) => match d.sync_done(name) {
                None => Vec::new(),
                Some(Ok(s)) => vec![Done { holder: s.holder, tokens: s.tokens, tids: Vec::new(), result: Flushed::Ok }],
                Some(Err(s)) => vec![Done {
                    holder: s.holder,
                    tokens: s.tokens,
                    tids: Vec::new(),
                    result: Flushed::Lost(format!("its journal {name} was taken over")),
                }],
            },
            Journals::Real(r) => {
                // The fenced writer's late batch first (it was queued first).
                if let Some(fs) = r.devices.get(name) {
                    let who = |o: Option<&Open>| o.map(|o| (o.holder, o.j.epoch(), o.queue.len()));
                    fs.note(|| {
                        let fenced: Vec<_> = r.fenced.get(name).into_iter().flatten().map(|o| who(Some(o))).collect();
                        let open = who(r.open.get(name));
                        format!("flush (holder, epoch, appends): fenced {fenced:?}, owner {open:?}")
                    });
                }
                // The fenced writers' late batches first, oldest first.
                let mut out: Vec<Done> =
                    r.fenced.get_mut(name).into_iter().flatten().flat_map(Real::flush_one).collect();
                if let Some(o) = r.open.get_mut(name) {
                    out.extend(Real::flush_one(o));
                }
                out
            }
        }
    }

    /// The node whose process takes journal `name`'s next flush (a frozen
    /// one takes it when it runs again).
    pub fn flush_target(&self, name: &str) -> Option<usize> {
        match self {
            Journals::Records(d) => d.journals.get(name).and_then(|j| j.syncs.front()).map(|s| s.holder.0),
            Journals::Real(r) => {
                let late = r.fenced.get(name).and_then(|v| v.iter().find(|o| !o.queue.is_empty()));
                late.or_else(|| r.open.get(name)).map(|o| o.holder.0)
            }
        }
    }

    /// The idle owner's check: has `holder` lost journal `name`?
    pub fn check_owner(&mut self, name: &str, holder: Holder) -> Result<(), String> {
        match self {
            Journals::Records(d) => {
                if d.holds(name, holder) {
                    Ok(())
                } else {
                    Err(format!("its journal {name} was taken over"))
                }
            }
            Journals::Real(r) => {
                let o = match r.fenced.get_mut(name).and_then(|v| v.iter_mut().find(|o| o.holder == holder)) {
                    Some(o) => Some(o),
                    None => r.open.get_mut(name).filter(|o| o.holder == holder),
                };
                match o {
                    Some(o) => o.j.check_owner().map_err(|e| why(&e)),
                    None => Err(format!("it no longer holds journal {name}")),
                }
            }
        }
    }

    /// Holder `(node, inc, jid)` is finished with its taken-over journal:
    /// what it queued is written, then the journal is closed (synced,
    /// unlocked). Returns the tokens completed.
    pub fn release(&mut self, node: usize, inc: u32, jid: u32) -> Vec<u64> {
        match self {
            Journals::Records(d) => d.release(node, inc, jid).into_iter().flat_map(|s| s.tokens).collect(),
            Journals::Real(r) => {
                let Some(name) = r.open.iter().find(|(_, o)| o.holder == (node, inc, jid)).map(|(n, _)| n.clone())
                else {
                    // Fenced meanwhile, and not told yet: the process
                    // closes its handle all the same, and its lock goes
                    // with it. Kept, the lock outlived the release, and the
                    // journal's owner could never start again (simulator
                    // seed 20212, two routers: a journal taken over twice,
                    // both readers let it go, and its owner was refused
                    // as "in use" for the rest of the run).
                    let mut tokens = Vec::new();
                    for v in r.fenced.values_mut() {
                        while let Some(i) = v.iter().position(|o| o.holder == (node, inc, jid)) {
                            let mut o = v.remove(i);
                            let done = Real::flush_one(&mut o);
                            let _ = o.j.close();
                            tokens.extend(
                                done.into_iter().filter(|d| matches!(d.result, Flushed::Ok)).flat_map(|d| d.tokens),
                            );
                        }
                    }
                    r.fenced.retain(|_, v| !v.is_empty());
                    return tokens;
                };
                let mut o = r.open.remove(&name).expect("found");
                let done = Real::flush_one(&mut o);
                let _ = o.j.close();
                done.into_iter().filter(|d| matches!(d.result, Flushed::Ok)).flat_map(|d| d.tokens).collect()
            }
        }
    }

    /// Node `node`'s process ended. `power`: its machine lost power, so the
    /// devices of the journals it held lose what was not synced.
    pub fn died(&mut self, node: usize, power: bool, rng: &mut Rng) {
        match self {
            Journals::Records(d) => d.process_died(node, rng),
            Journals::Real(r) => {
                let names: Vec<String> =
                    r.open.iter().filter(|(_, o)| o.holder.0 == node).map(|(n, _)| n.clone()).collect();
                for name in names {
                    if let Some(fs) = r.devices.get(&name) {
                        fs.note(|| format!("node {node} died{}", if power { " (power loss)" } else { "" }));
                    }
                    // Dropping the handle: its lock goes with the process.
                    r.open.remove(&name);
                    if power {
                        if let Some(fs) = r.devices.get(&name) {
                            fs.crash(&mut |n| rng.below(n));
                        }
                    }
                }
                // A fenced holder's machine is not the journal's current
                // writer: its death harms nobody else's writes.
                for v in r.fenced.values_mut() {
                    v.retain(|o| o.holder.0 != node);
                }
                r.fenced.retain(|_, v| !v.is_empty());
            }
        }
    }

    /// An injected device error: after `n` more writes (or, with `sync`,
    /// file syncs) of `name`'s device, one fails with EIO (the record model:
    /// the holder's `n`-th next append fails).
    pub fn fail_after(&mut self, node: usize, name: &str, n: u32, sync: bool) {
        match self {
            Journals::Records(d) => {
                d.failing.insert(node, n);
            }
            Journals::Real(r) => {
                if let Some(fs) = r.devices.get(name) {
                    if sync {
                        fs.fail_sync_after(Some(u64::from(n)));
                    } else {
                        fs.fail_write_after(Some(u64::from(n)));
                    }
                }
            }
        }
    }

    /// Journal `name`'s device cannot grow (a full disk), or can again.
    pub fn set_full(&mut self, name: &str, full: bool) {
        if let Journals::Real(r) = self {
            if let Some(fs) = r.devices.get(name) {
                fs.set_capacity(full.then(|| fs.used()));
            }
        }
    }

    /// The largest append the node's journal takes (the runtime packs a
    /// pass's records into appends of at most this size).
    pub fn append_limit(&self) -> u64 {
        match self {
            Journals::Records(_) => u64::MAX,
            Journals::Real(_) => config().max_append_bytes(),
        }
    }

    /// The faults stop: no more injected device errors, no full disks.
    pub fn heal(&mut self) {
        match self {
            Journals::Records(d) => d.failing.clear(),
            Journals::Real(r) => {
                for fs in r.devices.values() {
                    fs.fail_write_after(None);
                    fs.fail_sync_after(None);
                    fs.set_capacity(None);
                }
            }
        }
    }

    pub fn is_real(&self) -> bool {
        matches!(self, Journals::Real(_))
    }

    /// After a run: every journal passes `verify` (only a torn tail is
    /// allowed, never corruption). Returns the problems found.
    /// For a replay's trace: each real journal's live transactions (no
    /// `Done` yet), oldest first, with the kinds of their records: what
    /// pins a journal that stays full.
    pub fn live_summary(&self) -> Vec<String> {
        let Journals::Real(r) = self else { return Vec::new() };
        let mut out = Vec::new();
        for (name, fs) in &r.devices {
            let Ok(scan) = crate::journal::scan_on(&*fs.storage(), &config().dir) else { continue };
            let mut live: Vec<(Tid, u64, Vec<String>)> = Vec::new();
            for e in scan.entries.iter().filter(|e| !e.stale) {
                let r = &e.record;
                match r.kind {
                    RecordKind::Fence => {}
                    RecordKind::Done => live.retain(|(t, _, _)| *t != r.tid),
                    kind => match live.iter_mut().find(|(t, _, _)| *t == r.tid) {
                        Some((_, _, kinds)) => kinds.push(format!("{kind:?}")),
                        None => live.push((r.tid, e.segment, vec![format!("{kind:?}")])),
                    },
                }
            }
            out.push(format!("journal {name}: {} live transactions", live.len()));
            for (tid, seg, kinds) in live.iter().take(12) {
                out.push(format!("  {tid} from segment {seg}: {}", kinds.join(" ")));
            }
        }
        out
    }

    pub fn verify(&self) -> Vec<String> {
        let Journals::Real(r) = self else { return Vec::new() };
        let mut out = Vec::new();
        for (name, fs) in &r.devices {
            match crate::journal::scan_on(&*fs.storage(), &config().dir) {
                Ok(scan) if scan.is_corrupt() => out.push(format!("journal {name}: {:?}", scan.problems)),
                Ok(_) => {}
                Err(e) => out.push(format!("journal {name}: {e}")),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal taken over twice: the first taker, fenced by the second
    /// and not told yet, lets it go after the second did. Its handle closes
    /// with its release, and the journal's owner starts on it again.
    #[test]
    fn a_fenced_takers_release_frees_the_journal_for_its_owner() {
        let mut rng = Rng::new(1);
        let mut j = Journals::new(true);
        j.open_own("be1", (0, 1, 0)).unwrap();
        j.died(0, false, &mut rng);
        j.take_over("be1", (1, 1, 5), &mut rng).unwrap();
        let (_, fenced, _) = j.take_over("be1", (2, 1, 7), &mut rng).unwrap();
        assert_eq!(fenced, Some((1, 1, 5)));
        assert!(j.open_own("be1", (0, 2, 0)).is_err(), "held by the second taker");
        j.release(2, 1, 7);
        j.release(1, 1, 5);
        assert!(j.open_own("be1", (0, 2, 0)).is_ok(), "free once both let it go");
    }

    /// The first taker, fenced by the second, still holds work of the
    /// journal (an in-doubt copy waiting for its outcome) and never lets
    /// it go. Its writer's idle check finds the fence and drops the lock,
    /// as the threaded writer does after a second without requests: the
    /// owner starts on its journal again once the second taker let it go
    /// (simulator seed 58934, two routers: the owner was refused as "in
    /// use" for the rest of the run, and a probe waiting for it waited for
    /// ever).
    #[test]
    fn a_fenced_takers_idle_check_frees_the_journal_for_its_owner() {
        let mut rng = Rng::new(1);
        let mut j = Journals::new(true);
        j.open_own("be1", (0, 1, 0)).unwrap();
        j.died(0, false, &mut rng);
        j.take_over("be1", (1, 1, 5), &mut rng).unwrap();
        j.take_over("be1", (2, 1, 7), &mut rng).unwrap();
        j.release(2, 1, 7);
        assert!(j.open_own("be1", (0, 2, 0)).is_err(), "the fenced first taker holds the lock");
        assert!(j.check_owner("be1", (1, 1, 5)).is_err(), "the first taker is fenced");
        assert!(j.open_own("be1", (0, 2, 0)).is_ok(), "free once its idle check found the fence");
    }
}
