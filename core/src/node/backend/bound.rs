//! An inquiry's "unknown" binds the node that gives it
//! (docs/inquiry-binding.md).
//!
//! A router resolving another node's orphan or in-doubt copy (`Inquire`,
//! drive 0) asks every backend node, and concludes "nobody committed" from
//! the answers. A node that held nothing of the transaction answers
//! "unknown"; before this binding, nothing stopped the transaction's own
//! router, cut off from the asker but linked here, from placing the asker's
//! work here afterwards (it took the asker for lost) and committing it,
//! while the inquiry rolled the asker's branch back: one tid, two outcomes
//! (simulator seed 9975, two routers, backends sharing no storage).
//!
//! So the answer binds: from the moment this node answers "unknown", it
//! starts no branch of the transaction for a router of the drive the
//! inquiry names (the latest its asker knows) or an earlier one
//! (`ToRouter::BranchFailed` with `RTR_STS_ROUTERUNAVAILTMO`, the status
//! the inquiry's rollback carries). The router that placed the work then
//! rolls the transaction back as well: one outcome. A later drive (its
//! frontend drives it again) is not bound: its probe asks every node and
//! takes the asker's branch from the inquiry, as a drive takes any branch
//! another router only asked about.
//!
//! The binding must outlive the process, as a promise does: a node that
//! restarted without it would take the cut-off router's work as new. A
//! `Bound` record goes into every journal this node answers for, synced,
//! and the answer waits until each is on disk (the refusal holds in memory
//! at once). Only inquiries pay: one synced append per journal per tid
//! answered "unknown" (a second round's answer finds the binding made).

use super::Backend;
use crate::node::{Ctx, NodeRef, Output, ToBackend};
use crate::status::Status;
use crate::tid::Tid;
use crate::txrecord::TxRecord;
use std::collections::VecDeque;

/// How many bindings a node keeps in memory (oldest dropped first). A
/// binding is needed only while a router cut off from an inquiry's asker
/// may still place that asker's work: for seconds. Its record lasts until
/// its segment is recycled.
const BOUND_KEPT: usize = 1 << 16;

/// The node's bindings.
#[derive(Default)]
pub(super) struct Bindings {
    /// The latest drive of each transaction that this node starts no branch
    /// of, at or below (written, being written, or read from a journal).
    drive: super::Map<Tid, u32>,
    order: VecDeque<Tid>,
    /// Bindings being written: their tokens, and the inquiries whose
    /// answers wait for them.
    writing: super::Map<Tid, Writing>,
    tokens: super::Map<u64, Tid>,
}

#[derive(Default)]
struct Writing {
    tokens: Vec<u64>,
    /// The inquiries waiting, in arrival order.
    parked: Vec<(NodeRef, ToBackend)>,
    /// The journals written into, with each write's token.
    jids: Vec<(u64, u32)>,
}

impl Bindings {
    /// Whether a new branch of `tid` for a router of `drive` is refused.
    pub(super) fn refuses(&self, tid: Tid, drive: u32) -> bool {
        self.drive.get(&tid).is_some_and(|&d| drive <= d)
    }

    /// `tid` is bound up to `drive` (kept at the highest).
    pub(super) fn keep(&mut self, tid: Tid, drive: u32) {
        match self.drive.get_mut(&tid) {
            Some(d) => *d = (*d).max(drive),
            None => {
                self.drive.insert(tid, drive);
                self.order.push_back(tid);
                while self.order.len() > BOUND_KEPT {
                    if let Some(old) = self.order.pop_front() {
                        self.drive.remove(&old);
                    }
                }
            }
        }
    }
}

impl Backend {
    /// An inquiry (`m`, drive 0) about `tid` is to be answered "unknown",
    /// binding drives up to `drive`: `true` when it may be answered now
    /// (the binding is durable already, or this node keeps no journal);
    /// otherwise the binding is being written and `m` waits for it.
    pub(super) fn bind_first(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, drive: u32, m: ToBackend) -> bool {
        if let Some(w) = self.bound.writing.get_mut(&tid) {
            w.parked.push((from, m));
            return false;
        }
        let durable = self.bound.refuses(tid, drive);
        // Refused from now on, in memory, while the record is written.
        self.bound.keep(tid, drive);
        let mut journals: Vec<u32> = Vec::new();
        if !durable {
            if self.journal {
                journals.push(0);
            }
            // Each lost node's journal read here: a probe or an inquiry
            // takes this node's answer for that node's too, and that node,
            // started again on its journal, must refuse as well.
            journals.extend(self.adopted.values().copied());
            journals.sort();
            journals.dedup();
        }
        if journals.is_empty() {
            return true;
        }
        ctx.log(format!(
            "{tid}: answered \"unknown\" to an inquiry: no branch of drive {drive} or earlier starts here (bound in {} \
             journal(s) before the answer)",
            journals.len()
        ));
        let mut w = Writing { parked: vec![(from, m)], ..Writing::default() };
        for jid in journals {
            self.next_token += 1;
            let token = self.next_token;
            ctx.output(Output::Journal {
                entries: vec![TxRecord::Bound { drive }.entry(tid)],
                sync: true,
                token: Some(token),
                new_tx: false,
                jid,
            });
            self.bound.tokens.insert(token, tid);
            w.tokens.push(token);
            w.jids.push((token, jid));
        }
        self.bound.writing.insert(tid, w);
        false
    }

    /// A binding's journal write finished (`token`). Returns whether the
    /// token was one. A write that failed counts: the binding holds in
    /// memory, as a promise's does, rather than leave the inquiry
    /// unanswered.
    pub(super) fn bind_written(&mut self, ctx: &mut Ctx, token: u64, result: Result<(), Status>) -> bool {
        let Some(tid) = self.bound.tokens.remove(&token) else { return false };
        let Some(w) = self.bound.writing.get_mut(&tid) else { return true };
        w.tokens.retain(|t| *t != token);
        if let Err(status) = result {
            ctx.log(format!(
                "{tid}: an inquiry's binding could not be written ({}): it holds until this node stops",
                status.name()
            ));
        }
        if !w.tokens.is_empty() {
            return true;
        }
        if let Some(w) = self.bound.writing.remove(&tid) {
            for (from, m) in w.parked {
                self.handle(ctx, from, m);
            }
        }
        true
    }

    /// Taken-over journal `jid` is let go: bindings still being written
    /// there will not complete there (counted as failed, see
    /// `bind_written`).
    pub(super) fn bindings_lost_with(&mut self, ctx: &mut Ctx, jid: u32) {
        let mut tokens: Vec<u64> = self
            .bound
            .writing
            .values()
            .flat_map(|w| w.jids.iter())
            .filter(|(_, j)| *j == jid)
            .map(|(t, _)| *t)
            .collect();
        tokens.sort();
        for token in tokens {
            self.bind_written(ctx, token, Err(Status::Nodeunavail));
        }
    }

    /// The latest drive of `tid` this node knows (0: its first drive): an
    /// inquiry about it binds the nodes that answer "unknown" up to it.
    pub(super) fn known_drive(&self, tid: Tid) -> u32 {
        self.drives.get(&tid).copied().unwrap_or(0)
    }
}
