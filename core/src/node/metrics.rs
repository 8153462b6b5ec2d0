//! The node's transaction counters, kept by its frontend as plain fields
//! (the node is single-threaded and sans-I/O: counting is an addition, and
//! latencies are differences between the instants the node is given, so a
//! replay counts the same). Read through the metrics admin request
//! (`rtr show metrics`).
//!
//! What counts: a transaction is *started* when a client channel of this
//! node begins it (explicitly or by its first send); it is *committed* or
//! *rejected* when that outcome is delivered to the client. A transaction
//! the client gave up on first (its channel closed, or accepted with
//! `RTR_F_ACC_FORGET`) gets no outcome here and is counted in neither.

use std::time::Instant;

use crate::histogram::Histogram;
use crate::status::Status;

/// Slots for rejections by status: a status's index is its table number
/// (`code >> 3`); room for statuses appended later.
pub const STATUS_SLOTS: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxMetrics {
    pub started: u64,
    pub committed: u64,
    /// Rejections delivered, by status (see [`TxMetrics::rejected_by_status`]).
    rejected: [u64; STATUS_SLOTS],
    /// From start to the accepted outcome's delivery, in microseconds.
    pub commit_latency_us: Histogram,
}

impl Default for TxMetrics {
    fn default() -> Self {
        TxMetrics { started: 0, committed: 0, rejected: [0; STATUS_SLOTS], commit_latency_us: Histogram::default() }
    }
}

fn slot(status: Status) -> usize {
    ((status.code() >> 3) as usize).min(STATUS_SLOTS - 1)
}

impl TxMetrics {
    pub(super) fn started(&mut self) {
        self.started += 1;
    }

    /// An outcome delivered to a client; `since` is when it started.
    pub(super) fn outcome(&mut self, now: Instant, since: Option<Instant>, accepted: bool, status: Status) {
        if accepted {
            self.committed += 1;
            if let Some(t) = since {
                let us = now.saturating_duration_since(t).as_micros();
                self.commit_latency_us.record(u64::try_from(us).unwrap_or(u64::MAX));
            }
        } else {
            self.rejected[slot(status)] += 1;
        }
    }

    /// Every rejection delivered.
    pub fn rejected(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// The statuses rejections carried, with their counts (non-zero only,
    /// in status table order).
    pub fn rejected_by_status(&self) -> Vec<(Status, u64)> {
        Status::ALL.iter().map(|s| (*s, self.rejected[slot(*s)])).filter(|(_, n)| *n > 0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn outcomes_are_counted_by_kind_and_status() {
        let mut m = TxMetrics::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            m.started();
        }
        m.outcome(t0 + Duration::from_micros(300), Some(t0), true, Status::Ok);
        m.outcome(t0, Some(t0), false, Status::Rejected);
        m.outcome(t0, None, false, Status::Timout);
        assert_eq!((m.started, m.committed, m.rejected()), (3, 1, 2));
        assert_eq!(m.rejected_by_status(), vec![(Status::Timout, 1), (Status::Rejected, 1)]);
        assert_eq!((m.commit_latency_us.count, m.commit_latency_us.max), (1, 300));
        // Every status has a slot of its own.
        let slots: std::collections::HashSet<usize> = Status::ALL.iter().map(|s| slot(*s)).collect();
        assert_eq!(slots.len(), Status::ALL.len());
        assert!(slots.iter().all(|s| *s < STATUS_SLOTS - 1));
    }
}
