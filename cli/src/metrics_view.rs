//! A node's metrics ([`MetricsInfo`], one admin request) as `rtr show
//! metrics` prints them (text or `--json`) and as the Prometheus endpoint
//! serves them (text exposition format 0.0.4). The metric names are listed
//! in README.md ("Observe"); a name changed here changes there.

use std::fmt::Write as _;

use rtr_core::histogram::Histogram;
use rtr_core::protocol::admin::MetricsInfo;

use crate::journal_cmd::Json;

/// A histogram in `--json`: its summary, and its non-empty buckets
/// (`le`: the bucket's upper bound; null for the last, unbounded one).
fn histogram_json(h: &Histogram) -> Json {
    let buckets = h
        .buckets
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| Json::obj(vec![("le", Histogram::upper_bound(i).into()), ("count", (*n).into())]))
        .collect();
    Json::obj(vec![
        ("count", h.count.into()),
        ("sum", h.sum.into()),
        ("max", h.max.into()),
        ("mean", h.mean().into()),
        ("p50", h.quantile(0.5).into()),
        ("p99", h.quantile(0.99).into()),
        ("buckets", Json::Arr(buckets)),
    ])
}

pub fn json(m: &MetricsInfo) -> Json {
    let rejected: u64 = m.tx_rejected.iter().map(|(_, n)| n).sum();
    let by_status = m.tx_rejected.iter().map(|(s, n)| (s.name(), Json::from(*n))).collect();
    let journal = m.journal.as_ref().map_or(Json::Null, |j| {
        Json::obj(vec![
            ("bytes_used", j.bytes_used.into()),
            ("bytes_capacity", j.bytes_capacity.into()),
            ("segments", j.segments.into()),
            ("syncs", j.syncs.into()),
            ("group_commits", j.batches.into()),
            ("records", j.records.into()),
            ("fsync_us", histogram_json(&j.sync_us)),
            ("group_commit_appends", histogram_json(&j.batch_appends)),
        ])
    });
    let links = m
        .links
        .iter()
        .map(|l| {
            Json::obj(vec![
                ("node", l.node.as_str().into()),
                ("up", l.up.into()),
                ("bytes_in", l.bytes_in.into()),
                ("bytes_out", l.bytes_out.into()),
            ])
        })
        .collect();
    let partitions = m
        .partitions
        .iter()
        .map(|p| {
            Json::obj(vec![
                ("facility", p.facility.as_str().into()),
                ("id", p.id.into()),
                ("name", p.name.as_str().into()),
                ("state", p.state.name().into()),
                ("in_flight", p.in_flight.into()),
                ("queue", p.queue.into()),
            ])
        })
        .collect();
    Json::obj(vec![
        ("node", m.node.as_str().into()),
        (
            "transactions",
            Json::obj(vec![
                ("started", m.tx_started.into()),
                ("committed", m.tx_committed.into()),
                ("rejected", rejected.into()),
                ("rejected_by_status", Json::Obj(by_status)),
                ("commit_latency_us", histogram_json(&m.commit_latency_us)),
            ]),
        ),
        ("journal", journal),
        ("links", Json::Arr(links)),
        ("partitions", Json::Arr(partitions)),
        (
            "library",
            Json::obj(vec![
                ("connections", m.library.connections.into()),
                ("requests", m.library.requests.into()),
                ("deliveries", m.library.deliveries.into()),
            ]),
        ),
    ])
}

/// Microseconds for a person: `850 us`, `1.3 ms`, `2.50 s`.
pub fn duration_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} us"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

/// Bytes for a person: `512 B`, `3.0 KiB`, `16.0 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut x = n as f64 / 1024.0;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    format!("{x:.1} {}", UNITS[unit])
}

/// `rtr show metrics` without `--json`.
pub fn text(m: &MetricsInfo) -> String {
    let mut s = String::new();
    let rejected: u64 = m.tx_rejected.iter().map(|(_, n)| n).sum();
    let _ = writeln!(s, "Node {}", m.node);
    let _ = writeln!(s, "Transactions: {} started, {} committed, {} rejected", m.tx_started, m.tx_committed, rejected);
    for (status, n) in &m.tx_rejected {
        let _ = writeln!(s, "  rejected {}: {n}", status.name());
    }
    let l = &m.commit_latency_us;
    if l.count > 0 {
        let _ = writeln!(
            s,
            "Commit latency: p50 {}, p99 {}, max {} ({} commits)",
            duration_us(l.quantile(0.5)),
            duration_us(l.quantile(0.99)),
            duration_us(l.max),
            l.count
        );
    } else {
        let _ = writeln!(s, "Commit latency: no commits yet");
    }
    match &m.journal {
        Some(j) => {
            let _ = writeln!(
                s,
                "Journal: {} used of {} ({} segments), {} records, {} group commits, {} syncs",
                bytes(j.bytes_used),
                bytes(j.bytes_capacity),
                j.segments,
                j.records,
                j.batches,
                j.syncs
            );
            if j.sync_us.count > 0 {
                let _ = writeln!(
                    s,
                    "  fsync: p50 {}, p99 {}, max {}; appends per group commit: p50 {}, p99 {}, max {}",
                    duration_us(j.sync_us.quantile(0.5)),
                    duration_us(j.sync_us.quantile(0.99)),
                    duration_us(j.sync_us.max),
                    j.batch_appends.quantile(0.5),
                    j.batch_appends.quantile(0.99),
                    j.batch_appends.max
                );
            }
        }
        None => {
            let _ = writeln!(s, "Journal: none");
        }
    }
    let _ = writeln!(
        s,
        "Library: {} connections, {} requests, {} deliveries",
        m.library.connections, m.library.requests, m.library.deliveries
    );
    let _ = writeln!(s, "Partitions:");
    if m.partitions.is_empty() {
        let _ = writeln!(s, "  (none)");
    }
    for p in &m.partitions {
        let _ = writeln!(
            s,
            "  {}:{} ({}) {}: {} in flight, {} queued",
            p.facility,
            p.id,
            p.name,
            p.state.name(),
            p.in_flight,
            p.queue
        );
    }
    let _ = write!(s, "Links:");
    if m.links.is_empty() {
        let _ = write!(s, "\n  (none)");
    }
    for l in &m.links {
        let _ = write!(
            s,
            "\n  {} {}: {} in, {} out",
            l.node,
            if l.up { "up" } else { "down" },
            bytes(l.bytes_in),
            bytes(l.bytes_out)
        );
    }
    s
}

// ------------------------------------------------------------ Prometheus

/// A label value as the text format wants it: backslash, double quote and
/// newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Prom(String);

impl Prom {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn line(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.head(name, kind, help);
        self.line(name, &[], value);
    }

    /// A histogram; the recorded values divided by `per_unit` are in the
    /// exported unit (1e6: microseconds recorded, seconds exported; a
    /// division keeps 4 us as 0.000004, not 0.0000039999...).
    fn histogram(&mut self, name: &str, help: &str, h: &Histogram, per_unit: f64) {
        self.head(name, "histogram", help);
        let mut cumulative = 0;
        for (i, n) in h.buckets.iter().enumerate() {
            cumulative += n;
            match Histogram::upper_bound(i) {
                Some(le) => {
                    self.line(&format!("{name}_bucket"), &[("le", &format!("{}", le as f64 / per_unit))], cumulative)
                }
                None => self.line(&format!("{name}_bucket"), &[("le", "+Inf")], cumulative),
            }
        }
        self.line(&format!("{name}_sum"), &[], h.sum as f64 / per_unit);
        self.line(&format!("{name}_count"), &[], h.count);
    }
}

/// The text exposition format (`Content-Type: text/plain; version=0.0.4`).
pub fn prometheus(m: &MetricsInfo) -> String {
    let mut p = Prom(String::new());
    p.head("rtr_node_info", "gauge", "The node this endpoint serves (always 1).");
    p.line("rtr_node_info", &[("node", &m.node)], 1);
    p.one(
        "rtr_transactions_started_total",
        "counter",
        "Transactions begun by this node's client channels.",
        m.tx_started,
    );
    p.one(
        "rtr_transactions_committed_total",
        "counter",
        "Accepted outcomes delivered to this node's client channels.",
        m.tx_committed,
    );
    p.head(
        "rtr_transactions_rejected_total",
        "counter",
        "Rejected outcomes delivered to this node's client channels, by status.",
    );
    for (status, n) in &m.tx_rejected {
        p.line("rtr_transactions_rejected_total", &[("status", status.name())], n);
    }
    p.histogram(
        "rtr_commit_latency_seconds",
        "From a transaction's start to its accepted outcome, at this node's frontend.",
        &m.commit_latency_us,
        1e6,
    );
    if let Some(j) = &m.journal {
        p.one("rtr_journal_bytes_used", "gauge", "Bytes of the journal's segments holding records.", j.bytes_used);
        p.one("rtr_journal_bytes_capacity", "gauge", "The journal's size limit in bytes.", j.bytes_capacity);
        p.one("rtr_journal_segments", "gauge", "Segment files of the journal.", j.segments);
        p.one("rtr_journal_records_total", "counter", "Records appended to the journal.", j.records);
        p.one("rtr_journal_syncs_total", "counter", "Data syncs (fdatasync) of the journal.", j.syncs);
        p.one(
            "rtr_journal_group_commits_total",
            "counter",
            "Group commits of the journal (one write, at most one sync each).",
            j.batches,
        );
        p.histogram("rtr_journal_fsync_seconds", "How long each journal data sync took.", &j.sync_us, 1e6);
        p.histogram(
            "rtr_journal_group_commit_appends",
            "Appends written by each journal group commit.",
            &j.batch_appends,
            1.0,
        );
    }
    p.head("rtr_link_up", "gauge", "1 while the link to the peer node is up.");
    for l in &m.links {
        p.line("rtr_link_up", &[("peer", &l.node)], u8::from(l.up));
    }
    p.head("rtr_link_received_bytes_total", "counter", "Bytes received from the peer node (frames and pings).");
    for l in &m.links {
        p.line("rtr_link_received_bytes_total", &[("peer", &l.node)], l.bytes_in);
    }
    p.head("rtr_link_sent_bytes_total", "counter", "Bytes sent to the peer node (frames and pings).");
    for l in &m.links {
        p.line("rtr_link_sent_bytes_total", &[("peer", &l.node)], l.bytes_out);
    }
    p.head("rtr_partition_in_flight", "gauge", "Transactions presented to the partition's servers, not finished.");
    for q in &m.partitions {
        let id = q.id.to_string();
        p.line("rtr_partition_in_flight", &[("facility", &q.facility), ("partition", &id)], q.in_flight);
    }
    p.head("rtr_partition_queue", "gauge", "Transactions waiting for a free server of the partition.");
    for q in &m.partitions {
        let id = q.id.to_string();
        p.line("rtr_partition_queue", &[("facility", &q.facility), ("partition", &id)], q.queue);
    }
    p.one("rtr_library_connections", "gauge", "Library connections open to this node.", m.library.connections);
    p.one("rtr_library_requests_total", "counter", "Requests received from library connections.", m.library.requests);
    p.one(
        "rtr_library_deliveries_total",
        "counter",
        "Messages delivered to library connections.",
        m.library.deliveries,
    );
    p.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtr_core::protocol::admin::{LibraryMetrics, LinkMetrics, PartitionMetrics, PartitionState};
    use rtr_core::Status;

    fn sample() -> MetricsInfo {
        let mut h = Histogram::default();
        h.record(3);
        h.record(1500);
        MetricsInfo {
            node: "al\"pha".into(),
            tx_started: 3,
            tx_committed: 2,
            tx_rejected: vec![(Status::Timout, 1)],
            commit_latency_us: h,
            journal: None,
            links: vec![LinkMetrics { node: "beta".into(), up: true, bytes_in: 5, bytes_out: 7 }],
            partitions: vec![PartitionMetrics {
                facility: "F".into(),
                id: 1,
                name: "1".into(),
                state: PartitionState::Active,
                in_flight: 1,
                queue: 0,
            }],
            library: LibraryMetrics { connections: 1, requests: 10, deliveries: 9 },
        }
    }

    #[test]
    fn prometheus_lines_are_name_labels_value_with_help_and_type() {
        let text = prometheus(&sample());
        assert!(text.contains("rtr_node_info{node=\"al\\\"pha\"} 1\n"), "{text}");
        assert!(text.contains("rtr_transactions_rejected_total{status=\"RTR_STS_TIMOUT\"} 1\n"), "{text}");
        assert!(text.contains("rtr_commit_latency_seconds_bucket{le=\"0.000004\"} 1\n"), "{text}");
        assert!(text.contains("rtr_commit_latency_seconds_bucket{le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("rtr_commit_latency_seconds_count 2\n"), "{text}");
        assert!(!text.contains("rtr_journal"), "no journal, no journal metrics");
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            let base = name.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {base} ")), "no TYPE for {name}");
        }
    }

    #[test]
    fn units_read_well() {
        assert_eq!(duration_us(850), "850 us");
        assert_eq!(duration_us(1_300), "1.3 ms");
        assert_eq!(duration_us(2_500_000), "2.50 s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(16 << 20), "16.0 MiB");
        let t = text(&sample());
        assert!(t.contains("Transactions: 3 started, 2 committed, 1 rejected"), "{t}");
    }
}
