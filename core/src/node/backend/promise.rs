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
//! A durable vote given to a later drive's router carries its drive in the
//! same append (`vote_records`). Only re-driven transactions pay for any of
//! this: one synced append per journal per promise.

use super::Backend;
use crate::node::{Ctx, NodeRef, Output, ToBackend, NO_DRIVE};
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::TxRecord;

/// A later drive's request waiting for its promise to be durable.
#[derive(Default)]
pub(super) struct Promising {
    /// Journal writes not finished yet, by token.
    tokens: Vec<u64>,
    /// A write failed: the promise holds in memory only.
    failed: Option<Status>,
    /// The request that made the promise, and every request of the tid
    /// that came while it was written, in arrival order.
    parked: Vec<(NodeRef, ToBackend)>,
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
        // Promised already; or an earlier drive than one seen, which its
        // handler refuses.
        if self.promised.get(&tid).is_some_and(|&d| d >= drive) || self.drives.get(&tid).is_some_and(|&d| d > drive) {
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
        if journals.is_empty() {
            return Some(m);
        }
        // Refused from now on, in memory, while the record is written.
        self.saw_drive(tid, drive);
        ctx.log(format!(
            "{tid}: drive {drive} of it reaches durable state of it here: promised in {} journal(s) before it is \
             answered",
            journals.len()
        ));
        let mut p = Promising { parked: vec![(from, m)], ..Promising::default() };
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
            self.promise_tokens.insert(token, (tid, jid));
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
                *t == tid && b.committed.is_none() && b.voted_accept && (b.vote_durable || b.vote_syncing)
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
        let Some((tid, _)) = self.promise_tokens.remove(&token) else { return false };
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
        self.promised_before(tid, drive);
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
        let mut tokens: Vec<u64> =
            self.promise_tokens.iter().filter(|(_, (_, j))| *j == jid).map(|(t, _)| *t).collect();
        tokens.sort();
        for token in tokens {
            self.promise_written(ctx, token, Err(Status::Nodeunavail));
        }
    }

    /// `drive` of `tid` is promised here: written in a journal this node
    /// holds (its `Drive` records, read at recovery or just synced). No
    /// earlier drive's router decides it here.
    pub(super) fn promised_before(&mut self, tid: Tid, drive: u32) {
        if drive == 0 {
            return;
        }
        self.saw_drive(tid, drive);
        let seen = self.promised.entry(tid).or_insert(0);
        *seen = (*seen).max(drive);
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
