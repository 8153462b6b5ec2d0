//! The node's counters in one reply (`rtr show metrics`, the Prometheus
//! endpoint, `rtr monitor`): its transactions, its journal, its links, its
//! partitions and its library connections, gathered by one admin request
//! ([`super::AdminRequest::ShowMetrics`]) on the node thread between two
//! passes. Counters only grow while the node runs (a restart starts them
//! again from zero); the partition figures are the moment's.

use super::{read_rows, read_tag, rows, tag, MAX_NAME, MAX_ROWS, PART_STATES};
use super::{DecodeError, PartitionState, Reader, Writer};
use crate::histogram::{Histogram, BUCKETS};
use crate::status::Status;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsInfo {
    pub node: String,
    /// Transactions begun by this node's clients.
    pub tx_started: u64,
    /// Accepted outcomes delivered to this node's clients.
    pub tx_committed: u64,
    /// Rejected outcomes delivered to this node's clients, by status
    /// (non-zero counts only).
    pub tx_rejected: Vec<(Status, u64)>,
    /// From start to accepted outcome, in microseconds.
    pub commit_latency_us: Histogram,
    /// The node's own journal (`None`: it runs without one).
    pub journal: Option<JournalMetrics>,
    /// Every peer this node is or was linked to, or should be.
    pub links: Vec<LinkMetrics>,
    /// The partitions whose servers are on this node (at most `MAX_ROWS`).
    pub partitions: Vec<PartitionMetrics>,
    pub library: LibraryMetrics,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalMetrics {
    pub bytes_used: u64,
    pub bytes_capacity: u64,
    pub segments: u64,
    pub syncs: u64,
    /// Group commits (one write, at most one sync each).
    pub batches: u64,
    pub records: u64,
    /// How long each data sync took, in microseconds.
    pub sync_us: Histogram,
    /// Appends per group commit.
    pub batch_appends: Histogram,
}

/// One peer's link. There is no round-trip time: the link layer's pings
/// go one way (a keepalive the inactivity timer listens for) and nothing
/// answers them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkMetrics {
    pub node: String,
    pub up: bool,
    /// Bytes received from it and sent to it (whole frames, pings
    /// included), over every link to it since this node started.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionMetrics {
    pub facility: String,
    pub id: u64,
    pub name: String,
    pub state: PartitionState,
    /// Transactions presented to a server and not finished.
    pub in_flight: u32,
    /// Transactions waiting for a free server.
    pub queue: u32,
}

/// The application side: library connections to this node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LibraryMetrics {
    /// Connections open now.
    pub connections: u64,
    /// Requests received from them (opens, sends, votes, ...).
    pub requests: u64,
    /// Messages delivered to them.
    pub deliveries: u64,
}

fn histogram(w: &mut Writer, h: &Histogram) {
    w.u64(h.count);
    w.u64(h.sum);
    w.u64(h.max);
    w.u8(BUCKETS as u8);
    for b in &h.buckets {
        w.u64(*b);
    }
}

fn read_histogram(r: &mut Reader) -> Result<Histogram, DecodeError> {
    let mut h = Histogram { count: r.u64()?, sum: r.u64()?, max: r.u64()?, ..Histogram::default() };
    let n = r.u8()?;
    if usize::from(n) != BUCKETS {
        return Err(DecodeError::UnknownTag { what: "histogram buckets", tag: n });
    }
    for b in &mut h.buckets {
        *b = r.u64()?;
    }
    Ok(h)
}

pub(super) fn write_metrics(w: &mut Writer, m: &MetricsInfo) {
    w.str(&m.node);
    w.u64(m.tx_started);
    w.u64(m.tx_committed);
    rows(w, &m.tx_rejected, |w, (s, n)| {
        w.i32(s.code());
        w.u64(*n);
    });
    histogram(w, &m.commit_latency_us);
    match &m.journal {
        None => w.u8(0),
        Some(j) => {
            w.u8(1);
            for v in [j.bytes_used, j.bytes_capacity, j.segments, j.syncs, j.batches, j.records] {
                w.u64(v);
            }
            histogram(w, &j.sync_us);
            histogram(w, &j.batch_appends);
        }
    }
    rows(w, &m.links, |w, l| {
        w.str(&l.node);
        w.u8(u8::from(l.up));
        w.u64(l.bytes_in);
        w.u64(l.bytes_out);
    });
    rows(w, &m.partitions, |w, p| {
        w.str(&p.facility);
        w.u64(p.id);
        w.str(&p.name);
        w.u8(tag(&PART_STATES, p.state));
        w.u32(p.in_flight);
        w.u32(p.queue);
    });
    w.u64(m.library.connections);
    w.u64(m.library.requests);
    w.u64(m.library.deliveries);
}

pub(super) fn read_metrics(r: &mut Reader) -> Result<MetricsInfo, DecodeError> {
    let node = r.str(MAX_NAME)?;
    let tx_started = r.u64()?;
    let tx_committed = r.u64()?;
    let tx_rejected = read_rows(
        r,
        |r| {
            let code = r.i32()?;
            let status = Status::from_code(code).ok_or(DecodeError::UnknownTag { what: "status", tag: 0 })?;
            Ok((status, r.u64()?))
        },
        Status::ALL.len(),
    )?;
    let commit_latency_us = read_histogram(r)?;
    let journal = if r.bool()? {
        Some(JournalMetrics {
            bytes_used: r.u64()?,
            bytes_capacity: r.u64()?,
            segments: r.u64()?,
            syncs: r.u64()?,
            batches: r.u64()?,
            records: r.u64()?,
            sync_us: read_histogram(r)?,
            batch_appends: read_histogram(r)?,
        })
    } else {
        None
    };
    let links = read_rows(
        r,
        |r| Ok(LinkMetrics { node: r.str(MAX_NAME)?, up: r.bool()?, bytes_in: r.u64()?, bytes_out: r.u64()? }),
        MAX_ROWS,
    )?;
    let partitions = read_rows(
        r,
        |r| {
            Ok(PartitionMetrics {
                facility: r.str(MAX_NAME)?,
                id: r.u64()?,
                name: r.str(MAX_NAME)?,
                state: read_tag(r, &PART_STATES, "partition state")?,
                in_flight: r.u32()?,
                queue: r.u32()?,
            })
        },
        MAX_ROWS,
    )?;
    let library = LibraryMetrics { connections: r.u64()?, requests: r.u64()?, deliveries: r.u64()? };
    Ok(MetricsInfo {
        node,
        tx_started,
        tx_committed,
        tx_rejected,
        commit_latency_us,
        journal,
        links,
        partitions,
        library,
    })
}
