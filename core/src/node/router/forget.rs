//! When a commit may be forgotten: every participant made it durable and
//! the client's frontend has the outcome (a rejection: once the frontend
//! has it, the nodes told of it may forget it too) (`ToRouter::Acked`), so nobody
//! will drive the transaction again or ask about it in doubt. Until then
//! the backends keep it answerable in their journals (`Applied`); then
//! they hear `ToBackend::Forget` and write `Done` (docs/outcomes.md).
//!
//! Forgets are batched per backend node (by name: a link is a new peer
//! each time) and leave with the next message to that node, or after
//! [`FLUSH_AFTER`] when none goes (`Node::flush_batches`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Router;
use crate::node::{Ctx, Map, NodeRef, LOCAL};
use crate::tid::Tid;

/// How long an acknowledgement or a forget waits for another message to
/// ride with before it is sent on its own.
pub(in crate::node) const FLUSH_AFTER: Duration = Duration::from_millis(100);

/// How many committed transactions a router keeps waiting for their
/// frontends' acknowledgements. Beyond that the oldest is dropped: its
/// backends keep it answerable (the safe side) until an operator or a
/// later check frees it.
const AWAITING_KEPT: usize = 1 << 16;

/// At most [`AWAITING_KEPT`] tids with a value, the oldest dropped first.
struct Recent<V> {
    map: Map<Tid, V>,
    /// Insertion order; may still hold tids removed from `map` since (they
    /// age out with the others).
    order: VecDeque<Tid>,
}

impl<V> Default for Recent<V> {
    fn default() -> Self {
        Recent { map: Map::default(), order: VecDeque::new() }
    }
}

impl<V> Recent<V> {
    fn insert(&mut self, tid: Tid, v: V) {
        if self.map.insert(tid, v).is_none() {
            self.order.push_back(tid);
            while self.order.len() > AWAITING_KEPT {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    fn remove(&mut self, tid: &Tid) -> Option<V> {
        let v = self.map.remove(tid);
        if self.map.is_empty() {
            self.order.clear();
        }
        v
    }
}

/// Add `name` to `holders` unless it is there.
pub(super) fn add_name(holders: &mut Vec<String>, name: &str) {
    if !holders.iter().any(|h| h == name) {
        holders.push(name.to_string());
    }
}

/// Committed transactions waiting for their frontends, and the forgets
/// ready to go.
#[derive(Default)]
pub(in crate::node) struct Forgets {
    /// Commits durable at every participant whose client's frontend has not
    /// acknowledged the outcome yet: the participants holding it (names).
    awaiting: Recent<Vec<String>>,
    /// Ready to send, per backend node name.
    due: Map<String, Vec<Tid>>,
    /// When the oldest of `due` was queued.
    since: Option<Instant>,
    /// Commits forgotten here lately: a node that adopts one of them later
    /// (a hand-off) is told to forget it too.
    forgotten: Recent<()>,
}

impl Router {
    /// Commit `tid` is durable at every participant in `holders` (or a
    /// rejection of it was sent to every node in `holders`, which keep it
    /// answerable), and the client was sent its outcome (from frontend `fe`; `gone`: the client
    /// went away, or its frontend's link did, and nobody was told). With
    /// no peers nobody else can ask, so there is nothing to forget; a
    /// frontend on this node acknowledges at once (it cannot outlive this
    /// router); otherwise the frontend's acknowledgement is awaited.
    pub(super) fn outcome_settled(&mut self, ctx: &Ctx, tid: Tid, holders: Vec<String>, fe: NodeRef, gone: bool) {
        if ctx.topo.peers.is_empty() || holders.is_empty() {
            return;
        }
        // A client gone while its frontend is still linked closed its
        // channel: nobody will drive it again. Taken for gone because the
        // frontend's link went down, it may come back and drive it again
        // (simulator seed 5645): its acknowledgement is awaited.
        if (gone && ctx.topo.is_up(fe)) || fe == LOCAL {
            self.queue_forget(ctx, tid, holders);
            return;
        }
        self.forgets.awaiting.insert(tid, holders);
    }

    /// A frontend delivered these outcomes.
    pub(super) fn acked(&mut self, ctx: &Ctx, tids: Vec<Tid>) {
        for tid in tids {
            if let Some(holders) = self.forgets.awaiting.remove(&tid) {
                self.queue_forget(ctx, tid, holders);
            }
        }
    }

    /// Node `name` made commit `tid` durable as well (it adopted a
    /// hand-off of it): it is told to forget it with the others, or at once
    /// when they were told already. A commit this router does not know
    /// stays answerable there (the safe side).
    pub(super) fn add_holder(&mut self, ctx: &Ctx, tid: Tid, name: &str) {
        if let Some(c) = self.committing.get_mut(&tid) {
            add_name(&mut c.holders, name);
        } else if let Some(h) = self.forgets.awaiting.map.get_mut(&tid) {
            add_name(h, name);
        } else {
            self.forget_again(ctx, name, &[tid]);
        }
    }

    /// Node `name` reports commits in a journal it read (its own at a
    /// restart, or a lost node's): those this router forgot already are
    /// forgotten there again (a `Forget` lost with a link is never sent
    /// twice otherwise). One not remembered stays answerable (the safe side).
    pub(super) fn forget_again(&mut self, ctx: &Ctx, name: &str, tids: &[Tid]) {
        let f = &mut self.forgets;
        let again: Vec<Tid> = tids.iter().copied().filter(|t| f.forgotten.map.contains_key(t)).collect();
        if !again.is_empty() {
            f.due.entry(name.to_string()).or_default().extend(again);
            f.since.get_or_insert(ctx.now);
        }
    }

    pub(super) fn queue_forget(&mut self, ctx: &Ctx, tid: Tid, holders: Vec<String>) {
        let f = &mut self.forgets;
        f.forgotten.insert(tid, ());
        for h in holders {
            f.due.entry(h).or_default().push(tid);
        }
        f.since.get_or_insert(ctx.now);
    }

    /// When queued forgets must go even with nothing to ride on.
    pub(in crate::node) fn forget_deadline(&self) -> Option<Instant> {
        self.forgets.since.map(|t| t + FLUSH_AFTER)
    }

    /// The forgets to send now: for every backend node linked here (or
    /// this node) that `riding` says has a message going anyway, or for
    /// all of them once the oldest waited [`FLUSH_AFTER`]. A node not
    /// linked keeps its forgets until it links again (bounded by
    /// [`AWAITING_KEPT`] per node).
    pub(in crate::node) fn take_forgets(
        &mut self,
        ctx: &Ctx,
        riding: impl Fn(NodeRef) -> bool,
    ) -> Vec<(NodeRef, Vec<Tid>)> {
        let f = &mut self.forgets;
        if f.due.is_empty() {
            f.since = None;
            return Vec::new();
        }
        let all = f.since.is_some_and(|t| t + FLUSH_AFTER <= ctx.now);
        let me = ctx.topo.name(LOCAL);
        let mut names: Vec<String> = f.due.keys().cloned().collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let to = if name == me {
                Some(LOCAL)
            } else {
                ctx.topo.peers.iter().filter(|(_, p)| p.name == name).map(|(r, _)| *r).max()
            };
            let Some(to) = to else {
                if let Some(v) = f.due.get_mut(&name) {
                    if v.len() > AWAITING_KEPT {
                        let cut = v.len() - AWAITING_KEPT;
                        v.drain(..cut);
                    }
                }
                continue;
            };
            if all || riding(to) {
                if let Some(tids) = f.due.remove(&name) {
                    out.push((to, tids));
                }
            }
        }
        // After a flush of all, what is left is for nodes not linked: it
        // waits for their link (`forgets_linked`), not for the clock.
        if f.due.is_empty() || all {
            f.since = None;
        }
        out
    }

    /// Backend node `name` linked: forgets kept for it go with the next flush.
    pub(in crate::node) fn forgets_linked(&mut self, now: Instant, name: &str) {
        if self.forgets.due.contains_key(name) {
            self.forgets.since.get_or_insert(now);
        }
    }
}
