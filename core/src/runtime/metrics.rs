//! The metrics admin request, answered on the node thread: the node's
//! transaction counters, its journal's, its links' and its library
//! connections' in one reply ([`MetricsInfo`]).

use super::Driver;
use crate::protocol::admin::{JournalMetrics, LibraryMetrics, MetricsInfo, PartitionMetrics};

/// Counted by the driver as it passes requests and deliveries (plain
/// fields: only the node thread touches them).
#[derive(Default)]
pub(crate) struct LibraryCounts {
    pub requests: u64,
    pub deliveries: u64,
}

impl Driver {
    pub(super) fn metrics(&self) -> MetricsInfo {
        let tx = self.node.tx_metrics();
        let journal = self.journal.as_ref().map(|j| {
            let s = j.stats();
            JournalMetrics {
                bytes_used: s.bytes_used,
                bytes_capacity: s.bytes_capacity,
                segments: s.segments as u64,
                syncs: s.syncs,
                batches: s.batches,
                records: s.records_written,
                sync_us: s.sync_us,
                batch_appends: s.batch_appends,
            }
        });
        let partitions = self
            .node
            .show_partitions()
            .0
            .into_iter()
            .map(|p| PartitionMetrics {
                facility: p.facility,
                id: p.id,
                name: p.name,
                state: p.state,
                in_flight: p.in_progress,
                queue: p.waiting,
            })
            .collect();
        MetricsInfo {
            node: self.node.facilities().node().to_string(),
            tx_started: tx.started,
            tx_committed: tx.committed,
            tx_rejected: tx.rejected_by_status(),
            commit_latency_us: tx.commit_latency_us.clone(),
            journal,
            links: self.links.as_ref().map_or_else(Vec::new, |l| l.metrics()),
            partitions,
            library: LibraryMetrics {
                connections: self.sinks.len() as u64,
                requests: self.library.requests,
                deliveries: self.library.deliveries,
            },
        }
    }
}
