//! Promises to a later drive, made durable before they are given.
//!
//! A frontend that loses its router drives the transaction again through
//! another one (drive 1, 2, ...: `ToRouter::Start::drive`). The later
//! drive's router asks every backend node what it holds of the tid (a
//! probe) and decides on the answers; from the moment a node answers, no
//! router of an earlier drive decides the transaction there (`owned_by`,
//! `driven_later`). That refusal is what makes the later router's decision
//! safe, as a ballot's promise does in Paxos, so it must outlive the
//! process: a node that restarts, or another node that takes its journal
//! over, must refuse the earlier router's commit too (simulator seed 13244,
//! two routers: a frozen router, thawed, committed on votes a later drive
//! had taken over; a participant restarted without memory of that drive
//! took its answer while the later router rejected).
//!
//! So when a request of a later drive (a probe, a message, a vote request)
//! reaches a transaction this node holds durable state of (a durable vote
//! of its own, an in-doubt copy from a journal, its own or one it read), a
//! `Drive` record goes into each journal holding that state, synced, and
//! the request waits (`Promising`) until every one is on disk; then it is
//! handled as usual. Requests of the tid that come meanwhile wait behind it.
//! A node that holds nothing durable of the tid promises in its own
//! journal all the same. Its restart presumes any work of it aborted, so
//! no earlier router's commit of it lands here; but an earlier drive's
//! *first* messages can: a router frozen with them unread in its socket
//! buffers reads them when it thaws, after the later drive committed the
//! transaction elsewhere and every node forgot it. A node that had
//! answered the later drive's probe "unknown" and then restarted took them
//! as new work and applied the transaction a second time (simulator seed
//! 12835, two routers). Such a lone promise pins no segment (the journal's
//! reclaim accounting): it lasts until its segment is recycled, which
//! bounds how long a frozen router's stale first drive is refused.
//! A node that takes a lost node's journal over carries the promises it
//! made before into it (`carry_promises`): it answers for that journal
//! from then on (simulator seed 46000, two routers). Once it lets that
//! journal go, its promises reach its own journal only, so it tells the
//! routers it answers for it no more (`JournalLetGo`, from
//! `release_adopted`; simulator seed 50189, two routers).
//! A durable vote given to a later drive's router carries its drive in the
//! same append (`vote_records`). Only re-driven transactions pay for any of
//! this: one synced append per journal per promise.

use super::Backend;
use crate::node::{Ctx, NodeRef, Output, ToBackend, NO_DRIVE};
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::TxRecord;

/// A drive promised here (`Backend::promised`).
#[derive(Default)]
pub(super) struct Promised {
    /// The latest drive promised.
    drive: u32,
    /// The journals that promise is in (0: this node's own): written there
    /// (a write that failed counts: the promise holds in memory), or read
    /// there at a restart or a takeover.
    jids: Vec<u32>,
}

/// A later drive's request waiting for its promise to be durable.
#[derive(Default)]
pub(super) struct Promising {
    /// Journal writes not finished yet, by token.
    tokens: Vec<u64>,
    /// Every journal the promise is written into.
    jids: Vec<u32>,
    /// A write failed: the promise holds in memory only.
    failed: Option<Status>,
    /// The request that made the promise, and every request of the tid
    /// that came while it was written, in arrival order.
    parked: Vec<(NodeRef, ToBackend)>,
}

/// A promise's write into journal `jid` (0: this node's own) for `tid`,
/// by its token (`Backend::promise_tokens`).
pub(super) struct PromiseWrite {
    pub(super) tid: Tid,
    pub(super) jid: u32,
}

/// Promises carried into a journal just taken over (`carry_promises`): the
/// journal, and each (tid, drive) written there.
pub(super) struct CarriedPromises {
    pub(super) jid: u32,
    pub(super) list: Vec<(Tid, u32)>,
}

impl Backend {
    /// Handle `m` now (returned), or hold it until the promise it needs is
    /// durable (`None`).
    pub(super) fn promise_first(&mut self, ctx: &mut Ctx, from: NodeRef, m: ToBackend) -> Option<ToBackend> {
        let (tid, drive) = match &m {
            ToBackend::Inquire { tid, drive, .. }
            | ToBackend::Msg { tid, drive, .. }
            | ToBackend::VoteRequest { tid, drive, .. } => (*tid, *drive),
            _ => return Some(m),
        };
        if drive == 0 || drive == NO_DRIVE {
            return Some(m);
        }
        if let Some(p) = self.promising.get_mut(&tid) {
            p.parked.push((from, m));
            return None;
        }
        // An earlier drive than one seen, which its handler refuses.
        if self.drives.get(&tid).is_some_and(|&d| d > drive) {
            return Some(m);
        }
        let mut journals = self.durable_holders(tid);
        if !self.outcome_known(tid) {
            // The promise goes into every journal this node answers for,
            // durable state of the tid there or not (see the module
            // notes): its own, and each lost node's journal it read (a
            // probe takes this node's answer for theirs). A lone promise in
            // the reader's journal only was lost to the journal's owner
            // when it started again on it: it adopted an earlier drive's
            // commit of a transaction the later drive had rejected
            // (simulator seed 12674, two routers). A node that knows how
            // the transaction ended answers by that outcome, to an earlier
            // drive's work too, and writes nothing (a router's failover,
            // driving its committed transactions again, waits for no
            // write).
            if self.journal {
                journals.push(0);
            }
            journals.extend(self.adopted.values().copied());
            journals.sort();
            journals.dedup();
        }
        // Promised already: in the journals it went into. One this node
        // answers for that lacks it gets it now, before the answer: a
        // journal taken over while the promise was being written, or
        // whose carried promises (`carry_promises`) are not durable yet;
        // this node's own, when the promise was read from a lost node's
        // journal. Counted done once per drive, whichever journals held
        // it, a reader's promise made in its own journal only stood for
        // the lost node's too (simulator seed 46000, two routers).
        let again = match self.promised.get(&tid) {
            Some(p) if p.drive >= drive => {
                journals.retain(|j| !p.jids.contains(j));
                true
            }
            _ => false,
        };
        if journals.is_empty() {
            return Some(m);
        }
        // Refused from now on, in memory, while the record is written.
        self.saw_drive(tid, drive);
        if again {
            ctx.log(format!(
                "{tid}: drive {drive} of it, promised here before, is promised in {} journal(s) this node answers \
                 for since before it is answered",
                journals.len()
            ));
        } else {
            ctx.log(format!(
                "{tid}: drive {drive} of it reaches durable state of it here: promised in {} journal(s) before it \
                 is answered",
                journals.len()
            ));
        }
        let mut p = Promising { parked: vec![(from, m)], jids: journals.clone(), ..Promising::default() };
        for jid in journals {
            self.next_token += 1;
            let token = self.next_token;
            ctx.output(Output::Journal {
                entries: vec![TxRecord::Drive { drive }.entry(tid)],
                sync: true,
                token: Some(token),
                new_tx: false,
                jid,
            });
            self.promise_tokens.insert(token, PromiseWrite { tid, jid });
            p.tokens.push(token);
        }
        self.promising.insert(tid, p);
        None
    }

    /// The journals (0: this node's own) holding durable state of `tid`
    /// that a restart or a takeover would keep in doubt: a branch of this
    /// node's whose accept vote is durable or being made so, and each
    /// in-doubt copy. Sorted, once each.
    fn durable_holders(&self, tid: Tid) -> Vec<u32> {
        let mut v: Vec<u32> = Vec::new();
        let own = self.journal
            && self.branches.iter().any(|((t, _), b)| {
                *t == tid && b.committed.is_none() && b.voted_yes() && (b.vote_durable() || b.vote_writing())
            });
        if own {
            v.push(0);
        }
        if let Some(copies) = self.in_doubt.get(&tid) {
            v.extend(copies.iter().map(|d| d.jid));
        }
        v.sort();
        v.dedup();
        v
    }

    /// Whether this node knows how `tid` ended (committed or rolled back
    /// here, or remembered so).
    pub(super) fn outcome_known(&self, tid: Tid) -> bool {
        self.committing_tx.contains_key(&tid)
            || self.answerable.contains(&tid)
            || self.answerable_aborts.contains(&tid)
            || self.decided.contains_key(&tid)
            || self.branches.iter().any(|((t, _), b)| *t == tid && b.committed.is_some())
    }

    /// A promise's journal write finished (`token`). Returns whether the
    /// token was one.
    pub(super) fn promise_written(&mut self, ctx: &mut Ctx, token: u64, result: Result<(), Status>) -> bool {
        if let Some(CarriedPromises { jid, list }) = self.carried.remove(&token) {
            // Carried into a journal taken over: there now (a write that
            // failed counts, as any promise's: it holds in memory).
            if let Err(status) = result {
                ctx.log(format!(
                    "{} promise(s) carried into taken-over journal {jid} could not be written ({}): they hold until \
                     this node stops",
                    list.len(),
                    status.name()
                ));
            }
            for (tid, drive) in list {
                self.promised_before(tid, drive, jid);
            }
            return true;
        }
        let Some(PromiseWrite { tid, .. }) = self.promise_tokens.remove(&token) else { return false };
        let Some(p) = self.promising.get_mut(&tid) else { return true };
        p.tokens.retain(|t| *t != token);
        if let Err(status) = result {
            p.failed = Some(status);
        }
        if !p.tokens.is_empty() {
            return true;
        }
        let Some(p) = self.promising.remove(&tid) else { return true };
        let drive = self.drives.get(&tid).copied().unwrap_or(0);
        if let Some(status) = p.failed {
            // Not durable everywhere (a journal taken from this node since,
            // or full): the promise holds in memory, as before such records
            // existed, rather than leave the later drive unanswered.
            ctx.log(format!(
                "{tid}: the promise to drive {drive} could not be written ({}): it holds until this node stops",
                status.name()
            ));
        }
        for jid in p.jids {
            self.promised_before(tid, drive, jid);
        }
        for (from, m) in p.parked {
            self.handle(ctx, from, m);
        }
        true
    }

    /// Taken-over journal `jid` is let go (finished, or lost to a later
    /// taker): promises still being written there will not complete
    /// there. Each counts as failed (the promise holds in memory, as for
    /// any failed write), so the requests waiting on it go on: they waited
    /// for ever behind a write to a journal this node no longer held
    /// (simulator seed 17272, one router: a later drive's vote request
    /// parked at a reader whose read journal a forced takeover took).
    pub(super) fn promises_lost_with(&mut self, ctx: &mut Ctx, jid: u32) {
        let mut tokens: Vec<u64> = self.promise_tokens.iter().filter(|(_, w)| w.jid == jid).map(|(t, _)| *t).collect();
        tokens.sort();
        for token in tokens {
            self.promise_written(ctx, token, Err(Status::Nodeunavail));
        }
        // Promises carried into it wait for nothing: the journal is no
        // longer this node's to answer for (let go, its close wrote what
        // was written; or taken from it).
        self.carried.retain(|_, c| c.jid != jid);
    }

    /// Lost node's journal `jid` was just taken over: this node answers for
    /// it from now on (a router's probe asks it in that node's place, and
    /// takes its answer for that node's), so every promise it made before
    /// and whose transaction's end it does not know goes into that journal
    /// too, in one synced write, as a promise made now would (see
    /// `promise_first`). A router may have taken this node's answer for
    /// that journal before the journal is let go (nothing there for it to
    /// finish: it is let go at once, and a clean close writes what was
    /// written; the routers then hear it answers for it no more,
    /// `JournalLetGo`), and the journal's owner started again on it must
    /// still refuse the earlier drives. Not carried, a reader that had
    /// promised drive 1 in its own journal before it took the journal over
    /// answered drive 1's probe for it ("unknown": the branch there
    /// presumed aborted), the later
    /// drive rejected the transaction, and the journal's owner, started
    /// again, adopted the earlier drive's commit of it, durable nowhere,
    /// from its frozen router (simulator seed 46000, two routers: a
    /// disagreement). A request that comes before the write is durable,
    /// while the journal is held, writes its own promise there and waits
    /// for it (`promise_first`: the journal is not among the promise's
    /// yet).
    pub(super) fn carry_promises(&mut self, ctx: &mut Ctx, jid: u32) {
        let mut list: Vec<(Tid, u32)> =
            self.promised.iter().filter(|(_, p)| !p.jids.contains(&jid)).map(|(t, p)| (*t, p.drive)).collect();
        list.retain(|(tid, _)| !self.outcome_known(*tid));
        if list.is_empty() {
            return;
        }
        list.sort();
        ctx.log(format!("{} promise(s) to later drives carried into taken-over journal {jid}", list.len()));
        self.next_token += 1;
        let token = self.next_token;
        ctx.output(Output::Journal {
            entries: list.iter().map(|(tid, drive)| TxRecord::Drive { drive: *drive }.entry(*tid)).collect(),
            sync: true,
            token: Some(token),
            new_tx: false,
            jid,
        });
        self.carried.insert(token, CarriedPromises { jid, list });
    }

    /// `drive` of `tid` is promised here: written in journal `jid` (0:
    /// this node's own), which this node holds (its `Drive` records, read
    /// at recovery or just synced). No earlier drive's router decides it
    /// here.
    pub(super) fn promised_before(&mut self, tid: Tid, drive: u32, jid: u32) {
        if drive == 0 {
            return;
        }
        self.saw_drive(tid, drive);
        let p = self.promised.entry(tid).or_default();
        if drive > p.drive {
            // An earlier drive's promise does not cover this one anywhere.
            p.drive = drive;
            p.jids.clear();
        }
        if drive == p.drive && !p.jids.contains(&jid) {
            p.jids.push(jid);
        }
    }

    /// The records of a durable accept vote of `tid` on a branch whose
    /// router drives it as `drive`: a later drive's vote carries its
    /// promise in the same append.
    pub(super) fn vote_records(tid: Tid, drive: u32) -> Vec<(Tid, TxRecord)> {
        let mut v = vec![(tid, TxRecord::Vote { durable: true })];
        if drive > 0 && drive != NO_DRIVE {
            v.push((tid, TxRecord::Drive { drive }));
        }
        v
    }
}
