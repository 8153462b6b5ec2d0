//! What became of recently decided transactions (`remember`), to answer a
//! router that drives one again (`answer_decided`) or inquires (`inquire`).

use super::branches::Branch;
use super::Backend;
use crate::node::{Ctx, NodeRef, PartId, ToBackend, ToRouter, TxState};
use crate::status::Status;
use crate::tid::Tid;

/// How many decided transactions a backend remembers, to answer a router
/// that drives one of them again.
const DECIDED_KEPT: usize = 1 << 16;

/// How a remembered transaction ended.
#[derive(Clone, Copy)]
pub(super) struct Decided {
    pub(super) committed: bool,
    pub(super) status: Status,
    pub(super) reason: u32,
}

impl Backend {
    /// A router resolving `tid` asks what this backend knows. Its branches
    /// here become the asker's (once their router's link is gone: until
    /// then the question waits), so the answer is final.
    pub(super) fn inquire(&mut self, ctx: &mut Ctx, from: NodeRef, tid: Tid, facility: String) {
        let own_committed = self.committing_tx.contains_key(&tid)
            || self.branches.iter().any(|((t, _), b)| *t == tid && b.committed.is_some());
        if self.in_doubt.contains_key(&tid) && !own_committed {
            // In doubt from a journal read here (and not committed by a
            // branch of this node: that answer wins, below).
            ctx.to_router(from, ToRouter::Inquired { tid, parts: Vec::new(), state: TxState::InDoubt });
            return;
        }
        let parts: Vec<PartId> = self
            .facilities
            .get(&facility)
            .map(|f| f.parts.iter().copied().filter(|p| self.branches.contains_key(&(tid, *p))).collect())
            .unwrap_or_default();
        for p in &parts {
            let again = || ToBackend::Inquire { tid, facility: facility.clone() };
            if !self.owned_by(ctx, from, tid, *p, again) {
                return;
            }
        }
        let state = if self.committing_tx.contains_key(&tid) {
            TxState::Committed
        } else if parts.is_empty() {
            match self.decided.get(&tid) {
                Some(d) if d.committed => TxState::Committed,
                Some(_) => TxState::Aborted,
                None => TxState::Unknown,
            }
        } else {
            let bs: Vec<&Branch> = parts.iter().filter_map(|p| self.branches.get(&(tid, *p))).collect();
            if bs.iter().any(|b| b.committed.is_some()) {
                TxState::Committed
            } else if bs.iter().all(|b| b.voted_accept) {
                TxState::InDoubt
            } else {
                TxState::Unvoted
            }
        };
        ctx.to_router(from, ToRouter::Inquired { tid, parts, state });
    }

    /// Tell router `to` what became of a transaction it drives again.
    pub(super) fn answer_decided(&mut self, ctx: &mut Ctx, to: NodeRef, tid: Tid, part: PartId) {
        if let Some(b) = self.branches.get(&(tid, part)) {
            if let Some((status, reason)) = b.committed {
                ctx.to_router(to, ToRouter::Decided { tid, part, committed: true, status, reason });
            }
            return;
        }
        let Decided { committed, status, reason } = match self.decided.get(&tid) {
            Some(d) => *d,
            // Forgotten long ago, or never seen: nothing of it can commit here.
            None => Decided { committed: false, status: Status::Srvdied, reason: 0 },
        };
        ctx.to_router(to, ToRouter::Decided { tid, part, committed, status, reason });
    }

    /// Remember how `tid` ended (bounded: the oldest are forgotten). Only a
    /// router on another node can drive a transaction again, so a node
    /// with no peers keeps nothing (it would cost every transaction).
    /// Transactions a journal (this node's at start-up, or a taken-over
    /// one) holds a commit of: a router that drives one of them again gets
    /// its outcome, not a new presentation (ARCHITECTURE §7.1 rule 3). Kept
    /// whether or not the node has peers yet.
    pub(super) fn remember_committed(&mut self, tids: &[Tid]) {
        let keep = std::mem::replace(&mut self.keep_decided, true);
        for tid in tids {
            self.remember(*tid, true, Status::Ok, 0);
        }
        self.keep_decided = keep;
    }

    /// Transactions a journal holds rolled back: asked about, they are
    /// "aborted", not "unknown" (a router driving one again must not start
    /// it afresh). Only records already in the journal count: undecided
    /// transactions that recovery itself now presumes aborted are not
    /// remembered, as their router may still place them elsewhere.
    pub(super) fn remember_aborted(&mut self, tids: &[Tid]) {
        let keep = std::mem::replace(&mut self.keep_decided, true);
        for tid in tids {
            if !self.decided.contains_key(tid) {
                self.remember(*tid, false, Status::Srvdied, 0);
            }
        }
        self.keep_decided = keep;
    }

    pub(super) fn remember(&mut self, tid: Tid, committed: bool, status: Status, reason: u32) {
        if !self.keep_decided {
            return;
        }
        if self.decided.insert(tid, Decided { committed, status, reason }).is_none() {
            self.decided_order.push_back(tid);
            while self.decided_order.len() > DECIDED_KEPT {
                if let Some(old) = self.decided_order.pop_front() {
                    self.decided.remove(&old);
                }
            }
        }
    }
}
