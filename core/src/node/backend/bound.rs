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

/// One transaction's binding.
struct Bound {
    /// The latest drive bound (this drive and earlier ones start nothing).
    drive: u32,
    /// The journals it is in at that drive (0: this node's own): written
    /// there (a failed write counts: it holds in memory), or read there.
    jids: Vec<u32>,
}

/// The node's bindings.
#[derive(Default)]
pub(super) struct Bindings {
    bound: super::Map<Tid, Bound>,
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
    /// The drive written, and the journals written into, with each
    /// write's token.
    drive: u32,
    jids: Vec<(u64, u32)>,
}

impl Bindings {
    /// Whether a new branch of `tid` for a router of `drive` is refused.
    pub(super) fn refuses(&self, tid: Tid, drive: u32) -> bool {
        self.bound.get(&tid).is_some_and(|b| drive <= b.drive)
    }

    /// `tid` is bound up to `drive` in journal `jid` (kept at the highest
    /// drive; a higher one is in no journal yet).
    pub(super) fn keep(&mut self, tid: Tid, drive: u32, jid: Option<u32>) {
        let b = match self.bound.get_mut(&tid) {
            Some(b) => b,
            None => {
                self.order.push_back(tid);
                while self.order.len() > BOUND_KEPT {
                    if let Some(old) = self.order.pop_front() {
                        self.bound.remove(&old);
                    }
                }
                self.bound.entry(tid).or_insert(Bound { drive, jids: Vec::new() })
            }
        };
        if drive > b.drive {
            b.drive = drive;
            b.jids.clear();
        }
        if let Some(jid) = jid.filter(|_| drive == b.drive) {
            if !b.jids.contains(&jid) {
                b.jids.push(jid);
            }
        }
    }

    /// The journals that already hold `tid`'s binding of at least `drive`.
    fn holding(&self, tid: Tid, drive: u32) -> &[u32] {
        self.bound.get(&tid).filter(|b| b.drive >= drive).map_or(&[], |b| &b.jids)
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
        // Into every journal this node answers for (its own, and each lost
        // node's journal read here: a probe or an inquiry takes this node's
        // answer for that node's too, and that node, started again on its
        // journal, must refuse as well) that does not hold it yet: one
        // taken over since the binding was made gets it now.
        let mut journals: Vec<u32> = Vec::new();
        if self.journal {
            journals.push(0);
        }
        journals.extend(self.adopted.values().copied());
        journals.sort();
        journals.dedup();
        let holding = self.bound.holding(tid, drive);
        journals.retain(|j| !holding.contains(j));
        // Refused from now on, in memory, while the record is written.
        self.bound.keep(tid, drive, None);
        if journals.is_empty() {
            return true;
        }
        ctx.log(format!(
            "{tid}: answered \"unknown\" to an inquiry: no branch of drive {drive} or earlier starts here (bound in {} \
             journal(s) before the answer)",
            journals.len()
        ));
        let mut w = Writing { parked: vec![(from, m)], drive, ..Writing::default() };
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
            for (_, jid) in &w.jids {
                self.bound.keep(tid, w.drive, Some(*jid));
            }
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
