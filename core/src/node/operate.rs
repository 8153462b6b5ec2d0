//! Operator changes to a running node (`rtr set partition`, `rtr set
//! transaction`): the node applies them on its own thread, like any input.

use std::time::Instant;

use super::backend::Backend;
use super::{Ctx, FailoverPolicy, Node};
use crate::protocol::admin::{AdminError, PartitionChange, TxChange};
use crate::tid::Tid;
use crate::txrecord::TxRecord;

impl Node {
    /// Suspend or resume presentation to a partition, or set its retry limit.
    pub fn set_partition(
        &mut self,
        now: Instant,
        facility: &str,
        id: u64,
        change: PartitionChange,
    ) -> Result<String, AdminError> {
        let facility = facility.to_ascii_uppercase();
        let mut ctx = super::ctx!(self, now);
        let r = self.be.set_partition(&mut ctx, &facility, id, change);
        self.run(now);
        r
    }

    /// `rtr set partition --shadow|--noshadow`, first half: whether
    /// shadowing of partition `id`'s range may be turned `on` (or off)
    /// here, and if so the note the runtime writes to the role authority
    /// before the second half ([`Node::shadowing_set`]): the range's
    /// primary record and the site that turns it off (none: on). `None`:
    /// nothing to write (turning off a partition that is not shadowed).
    /// Answered before anything changes, so an authority that cannot be
    /// reached leaves everything as it was.
    pub fn shadowing_note(
        &self,
        facility: &str,
        id: u64,
        on: bool,
    ) -> Result<Option<(String, Option<String>)>, AdminError> {
        self.be.shadowing_note(&facility.to_ascii_uppercase(), id, on)
    }

    /// `rtr set partition --shadow|--noshadow`, second half: the note
    /// [`Node::shadowing_note`] gave is durable; this node's partition of
    /// the range follows it.
    pub fn shadowing_set(&mut self, now: Instant, facility: &str, id: u64, on: bool) -> Result<String, AdminError> {
        let facility = facility.to_ascii_uppercase();
        let mut ctx = super::ctx!(self, now);
        let r = self.be.shadowing_set(&mut ctx, &facility, id, on);
        self.run(now);
        r
    }

    /// Forget a transaction set aside by the retry limit, or present it again.
    pub fn set_transaction(&mut self, now: Instant, tid: Tid, change: TxChange) -> Result<String, AdminError> {
        let mut ctx = super::ctx!(self, now);
        let r = self.be.set_transaction(&mut ctx, tid, change);
        self.run(now);
        r
    }
}

impl Backend {
    fn set_partition(
        &mut self,
        ctx: &mut Ctx,
        facility: &str,
        id: u64,
        change: PartitionChange,
    ) -> Result<String, AdminError> {
        let Some(p) = self.parts.get_mut(&id).filter(|p| p.facility == facility) else {
            return Err(AdminError::no_partition(facility, id));
        };
        match change {
            PartitionChange::Suspend => {
                p.suspended = true;
                Ok(format!("partition {facility}:{id} suspended: no transaction is presented until it is resumed"))
            }
            PartitionChange::Resume => {
                p.suspended = false;
                let waiting = p.waiting.len();
                self.dispatch(ctx, id);
                Ok(format!("partition {facility}:{id} resumed ({waiting} transactions were waiting)"))
            }
            PartitionChange::RetryLimit(0) => {
                Err(AdminError::InvalidRetry("the retry limit must be at least 1".into()))
            }
            PartitionChange::RetryLimit(n) => {
                p.retry_limit = n;
                Ok(format!("partition {facility}:{id}: retry limit {n}"))
            }
            PartitionChange::IgnoreRecovery => self.ignore_recovery(ctx, id),
            PartitionChange::RestartRecovery => self.restart_recovery(ctx, id),
            PartitionChange::PriorityList(nodes) => {
                let mut list = Vec::new();
                for n in &nodes {
                    let name = crate::facility::node_name(n).map_err(|why| {
                        AdminError::InvalidNodeName(format!("invalid node name {n:?} in the priority list: {why}"))
                    })?;
                    if list.contains(&name) {
                        return Err(AdminError::DuplicateNodeName(format!(
                            "node {name} is twice in the priority list"
                        )));
                    }
                    list.push(name);
                }
                let text = if list.is_empty() { "the facility's backend order".to_string() } else { list.join(",") };
                self.set_priority(ctx, id, list);
                Ok(format!("partition {facility}:{id}: priority list {text}"))
            }
            PartitionChange::PriDone(only) => self.drop_remembered(ctx, id, only),
            // The role authority's note comes first: the runtime calls
            // `Node::shadowing_note`, writes it, then `Node::shadowing_set`.
            PartitionChange::Shadowing(_) => Err(AdminError::Unsupported(
                "shadowing is turned on or off through the node's runtime (the role authority's note is written \
                 first): Node::shadowing_note, then Node::shadowing_set"
                    .into(),
            )),
            PartitionChange::FailToShadow(shadow) => {
                let Some(s) = p.shadow.as_mut() else {
                    // Not shadowed: a standby takes over, as always (the
                    // call RTR applications make everywhere is accepted).
                    if !shadow {
                        return Ok(format!(
                            "partition {facility}:{id} is not a shadow partition: a standby takes over, as always"
                        ));
                    }
                    return Err(AdminError::Unsupported(format!(
                        "partition {facility}:{id} is not a shadow partition (its servers did not open with \
                         RTR_F_OPE_SHADOW): it cannot fail over to a shadow"
                    )));
                };
                s.policy = if shadow { FailoverPolicy::Shadow } else { FailoverPolicy::Standby };
                s.gone_since = None;
                Ok(format!(
                    "partition {facility}:{id}: {}",
                    if shadow {
                        "fails over to the shadow (fail_to_shadow)"
                    } else {
                        "fails over to a standby of the primary's site (fail_to_standby)"
                    }
                ))
            }
        }
    }

    fn set_transaction(&mut self, ctx: &mut Ctx, tid: Tid, change: TxChange) -> Result<String, AdminError> {
        if change == TxChange::Forget && self.answerable.remove(&tid) {
            // A commit applied here and kept answerable for a router that
            // never said to forget it (docs/outcomes.md, "Bound").
            ctx.journal(vec![(tid, TxRecord::Done)], false, None);
            return Ok(format!(
                "transaction {tid} forgotten: its commit is no longer kept answerable in the journal (a frontend \
                 that drives it again hears what the node still remembers)"
            ));
        }
        if change == TxChange::Forget && self.answerable_aborts.remove(&tid) {
            // A rejection kept for a frontend that may not have heard it.
            ctx.journal(vec![(tid, TxRecord::Done)], false, None);
            return Ok(format!(
                "transaction {tid} forgotten: its rejection is no longer kept answerable in the journal (a frontend \
                 that drives it again hears what the node still remembers)"
            ));
        }
        let Some(at) = self.exceptions.iter().position(|e| e.tid == tid) else {
            return Err(AdminError::NoSuchTransaction(format!("transaction {tid} is not set aside on this node")));
        };
        let e = self.exceptions[at].clone();
        if e.undecided {
            // Its router may have committed it: retrying or forgetting it
            // now could contradict the outcome that is on its way.
            return Err(AdminError::TxUndecided(format!(
                "transaction {tid} was set aside before its outcome was known; wait for its router's outcome"
            )));
        }
        match change {
            TxChange::Forget => {
                self.exceptions.remove(at);
                // Its kept branch (a committed one) goes, and so does its
                // journal space.
                self.branches.retain(|(t, _), _| *t != tid);
                self.finishing.remove(&tid);
                if self.journal {
                    ctx.journal(vec![(tid, TxRecord::Done)], false, None);
                }
                Ok(format!("transaction {tid} forgotten"))
            }
            TxChange::Retry if !e.committed => Err(AdminError::TxRejected(format!(
                "transaction {tid} was rejected; there is nothing to present again"
            ))),
            TxChange::Retry => {
                let Some(b) = self.branches.get_mut(&(tid, e.part)) else {
                    // Set aside before this node started: presented again
                    // from what its journal holds.
                    return self.retry_recovered(ctx, at);
                };
                b.strikes = 0;
                b.server = None;
                self.exceptions.remove(at);
                if let Some(p) = self.parts.get_mut(&e.part) {
                    p.waiting.push_back(tid);
                }
                self.dispatch(ctx, e.part);
                Ok(format!("transaction {tid} presented again"))
            }
        }
    }
}
