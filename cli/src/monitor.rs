//! `rtr monitor`: a live view of a running node, in the manner of RTR's
//! MONITOR: every second (`--interval-ms`) it asks the node for its metrics
//! (one admin request) and redraws the screen with the rates since the last
//! refresh (transactions per second, commit latency over that interval),
//! the totals, the partitions' in-flight and queued transactions, and the
//! links.
//!
//! In a terminal it takes the screen (the alternate screen, cursor hidden)
//! and reads keys unbuffered: `q` or Ctrl-C quits and the terminal is given
//! back as it was. Ctrl-C arrives as a key, not a signal (ISIG is off while
//! the view runs), so the restore always runs; a SIGTERM or SIGKILL from
//! elsewhere ends it without one (`reset` repairs the terminal then). The
//! terminal is set with termios through libc, already a dependency of the
//! command, rather than a terminal crate: three flags and two escape
//! sequences are all it needs.
//!
//! Not in a terminal (a pipe, a script), it prints each view in turn, a
//! blank line between them, until `--count` views or the reader goes away.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rtr_core::histogram::Histogram;
use rtr_core::protocol::admin::{AdminReply, AdminRequest, MetricsInfo};

use crate::metrics_view::{bytes, duration_us};

#[derive(clap::Args)]
pub struct MonitorArgs {
    /// The node's directory (as given to `rtr start`).
    #[arg(long, default_value = "rtr-node")]
    dir: PathBuf,
    /// The node's socket, if `rtr start` was given another one (default: DIR/rtr.sock).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Milliseconds between two refreshes (at least 100).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..))]
    interval_ms: u64,
    /// Stop after this many views (default: until q or Ctrl-C).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

fn fetch(socket: &std::path::Path) -> Result<MetricsInfo, String> {
    match crate::manage::ask(socket, AdminRequest::ShowMetrics)? {
        AdminReply::Metrics(m) => Ok(*m),
        AdminReply::Failed(e) => Err(format!("%RTR-E-{}, {e}", e.code())),
        other => Err(format!("unexpected answer from the node: {other:?}")),
    }
}

pub fn run(a: MonitorArgs) -> Result<(), String> {
    let socket = a.socket.clone().unwrap_or_else(|| a.dir.join("rtr.sock"));
    // The first view, before the terminal is touched: a node that does not
    // answer is an error printed as any command's.
    let first = fetch(&socket)?;
    let interval = Duration::from_millis(a.interval_ms);
    let term = Terminal::take();
    let mut out = std::io::stdout().lock();
    let mut prev: Option<(Instant, MetricsInfo)> = None;
    let mut cur = Ok(first);
    let mut shown = 0u64;
    loop {
        let now = Instant::now();
        let view = match &cur {
            Ok(m) => render(m, prev.as_ref().map(|(t, p)| (now.duration_since(*t), p)), interval),
            Err(e) => format!("RTR MONITOR  the node does not answer: {e}\n(trying again every refresh)"),
        };
        let written = match &term {
            Some(_) => out.write_all(format!("\x1b[H\x1b[2J{}", view.replace('\n', "\r\n")).as_bytes()),
            None if shown > 0 => out.write_all(format!("\n{view}\n").as_bytes()),
            None => out.write_all(format!("{view}\n").as_bytes()),
        };
        if written.and_then(|()| out.flush()).is_err() {
            // The reader went away (a closed pipe): nothing more to show.
            return Ok(());
        }
        shown += 1;
        if a.count.is_some_and(|c| shown >= c) {
            return Ok(());
        }
        if let Ok(m) = cur {
            prev = Some((now, m));
        }
        let quit = match &term {
            Some(t) => t.wait_for_quit(interval),
            None => {
                std::thread::sleep(interval);
                false
            }
        };
        if quit {
            return Ok(());
        }
        cur = fetch(&socket);
    }
}

/// Per second, over `secs`.
fn rate(now: u64, before: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".into();
    }
    format!("{:.0}", now.saturating_sub(before) as f64 / secs)
}

/// What `now` recorded since `before` (a restarted node: all of `now`).
fn since(now: &Histogram, before: &Histogram) -> Histogram {
    if now.count < before.count {
        return now.clone();
    }
    let mut h = Histogram { count: now.count - before.count, max: now.max, ..Histogram::default() };
    for (i, b) in h.buckets.iter_mut().enumerate() {
        *b = now.buckets[i].saturating_sub(before.buckets[i]);
    }
    h.sum = now.sum.saturating_sub(before.sum);
    // The largest value of the interval is not kept: the top of its highest
    // bucket (or the all-time largest, if smaller) bounds it.
    if let Some(top) = h.buckets.iter().rposition(|n| *n > 0) {
        h.max = Histogram::upper_bound(top).map_or(now.max, |u| u.min(now.max));
    }
    h
}

fn quantiles(h: &Histogram) -> (String, String) {
    if h.count == 0 {
        return ("-".into(), "-".into());
    }
    (duration_us(h.quantile(0.5)), duration_us(h.quantile(0.99)))
}

/// One view: `prev` is the previous sample and how long ago it was taken.
fn render(m: &MetricsInfo, prev: Option<(Duration, &MetricsInfo)>, interval: Duration) -> String {
    let secs = prev.map_or(0.0, |(d, _)| d.as_secs_f64());
    let p = prev.map(|(_, p)| p);
    let rejected = |m: &MetricsInfo| m.tx_rejected.iter().map(|(_, n)| n).sum::<u64>();
    let r = |f: fn(&MetricsInfo) -> u64| match p {
        Some(p) => rate(f(m), f(p), secs),
        None => "-".into(),
    };
    let mut v = Vec::new();
    v.push(format!("RTR MONITOR  node {}   every {} ms   q or Ctrl-C: quit", m.node, interval.as_millis()));
    v.push(String::new());
    v.push(format!("{:<24}{:>12}{:>14}", "TRANSACTIONS", "per second", "total"));
    v.push(format!("{:<24}{:>12}{:>14}", "  started", r(|m| m.tx_started), m.tx_started));
    v.push(format!("{:<24}{:>12}{:>14}", "  committed", r(|m| m.tx_committed), m.tx_committed));
    v.push(format!("{:<24}{:>12}{:>14}", "  rejected", r(rejected), rejected(m)));
    if !m.tx_rejected.is_empty() {
        let by: Vec<String> = m.tx_rejected.iter().map(|(s, n)| format!("{} {n}", s.name())).collect();
        v.push(format!("  rejected by status: {}", by.join(", ")));
    }
    v.push(String::new());
    let recent = p.map_or_else(Histogram::default, |p| since(&m.commit_latency_us, &p.commit_latency_us));
    let (r50, r99) = quantiles(&recent);
    let (a50, a99) = quantiles(&m.commit_latency_us);
    v.push(format!("{:<24}{:>12}{:>14}", "COMMIT LATENCY", "last view", "since start"));
    v.push(format!("{:<24}{:>12}{:>14}", "  p50", r50, a50));
    v.push(format!("{:<24}{:>12}{:>14}", "  p99", r99, a99));
    v.push(String::new());
    match &m.journal {
        Some(j) => {
            let (f50, f99) = quantiles(&j.sync_us);
            v.push(format!(
                "JOURNAL   {} used of {}   fsync p50 {f50} p99 {f99}   appends per group commit p50 {}",
                bytes(j.bytes_used),
                bytes(j.bytes_capacity),
                j.batch_appends.quantile(0.5)
            ));
        }
        None => v.push("JOURNAL   none".into()),
    }
    v.push(String::new());
    v.push("PARTITIONS".into());
    v.push(format!("  {:<16}{:>10}  {:<14}{:>10}{:>8}", "Facility", "Partition", "State", "In flight", "Queue"));
    if m.partitions.is_empty() {
        v.push("  (none)".into());
    }
    for q in &m.partitions {
        v.push(format!("  {:<16}{:>10}  {:<14}{:>10}{:>8}", q.facility, q.id, q.state.name(), q.in_flight, q.queue));
    }
    v.push(String::new());
    v.push("LINKS".into());
    v.push(format!("  {:<16}{:<6}{:>12}{:>12}{:>12}{:>12}", "Node", "State", "In/s", "Out/s", "In", "Out"));
    if m.links.is_empty() {
        v.push("  (none)".into());
    }
    for l in &m.links {
        let before = p.and_then(|p| p.links.iter().find(|x| x.node == l.node));
        let per_s = |now: u64, then: Option<u64>| match then {
            Some(t) if secs > 0.0 => bytes((now.saturating_sub(t) as f64 / secs) as u64),
            _ => "-".into(),
        };
        v.push(format!(
            "  {:<16}{:<6}{:>12}{:>12}{:>12}{:>12}",
            l.node,
            if l.up { "up" } else { "down" },
            per_s(l.bytes_in, before.map(|b| b.bytes_in)),
            per_s(l.bytes_out, before.map(|b| b.bytes_out)),
            bytes(l.bytes_in),
            bytes(l.bytes_out)
        ));
    }
    v.push(String::new());
    v.push(format!(
        "LIBRARY   {} connections   requests/s {}   deliveries/s {}",
        m.library.connections,
        r(|m| m.library.requests),
        r(|m| m.library.deliveries)
    ));
    v.join("\n")
}

/// The terminal while the view runs: keys unbuffered and unechoed, Ctrl-C
/// a key, the alternate screen; all given back when dropped.
struct Terminal {
    saved: libc::termios,
}

impl Terminal {
    /// `None` when standard input or output is not a terminal.
    fn take() -> Option<Terminal> {
        // SAFETY: isatty only inspects the descriptors.
        if unsafe { libc::isatty(0) != 1 || libc::isatty(1) != 1 } {
            return None;
        }
        // SAFETY: a zeroed termios is a valid value for tcgetattr to fill.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is a terminal and `saved` is a valid termios.
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
        raw.c_cc[libc::VMIN] = 0;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: as above; `raw` is a copy of the terminal's own settings.
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        let t = Terminal { saved };
        let mut out = std::io::stdout();
        let _ = out.write_all(b"\x1b[?1049h\x1b[?25l");
        let _ = out.flush();
        Some(t)
    }

    /// Wait up to `d` for a key; true on `q`, `Q` or Ctrl-C (others are
    /// ignored), or when the terminal is gone.
    fn wait_for_quit(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let mut fds = libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 };
            let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            // SAFETY: one valid pollfd, for the duration of the call.
            let n = unsafe { libc::poll(&mut fds, 1, ms) };
            if n <= 0 {
                continue;
            }
            if fds.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                return true;
            }
            let mut buf = [0u8; 64];
            // SAFETY: reads at most buf.len() bytes into buf.
            let got = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if got == 0 {
                return true;
            }
            let got = usize::try_from(got).unwrap_or(0);
            if buf[..got].iter().any(|b| matches!(b, b'q' | b'Q' | 0x03)) {
                return true;
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let mut out = std::io::stdout();
        let _ = out.write_all(b"\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
        // SAFETY: restores the settings read from this terminal at the start.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.saved) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtr_core::protocol::admin::LibraryMetrics;

    fn sample(committed: u64, latencies: &[u64]) -> MetricsInfo {
        let mut h = Histogram::default();
        for l in latencies {
            h.record(*l);
        }
        MetricsInfo {
            node: "alpha".into(),
            tx_started: committed,
            tx_committed: committed,
            tx_rejected: vec![],
            commit_latency_us: h,
            journal: None,
            links: vec![],
            partitions: vec![],
            library: LibraryMetrics::default(),
        }
    }

    #[test]
    fn a_view_shows_rates_over_the_interval_and_its_own_latency() {
        let before = sample(100, &[100_000; 10]);
        let now = sample(
            300,
            &[100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 100_000, 900, 900],
        );
        let v = render(&now, Some((Duration::from_secs(2), &before)), Duration::from_secs(1));
        for heading in ["RTR MONITOR", "TRANSACTIONS", "COMMIT LATENCY", "JOURNAL", "PARTITIONS", "LINKS", "LIBRARY"] {
            assert!(v.contains(heading), "{heading}: {v}");
        }
        let committed = v.lines().find(|l| l.trim_start().starts_with("committed")).unwrap();
        assert!(committed.split_whitespace().eq(["committed", "100", "300"]), "{committed}");
        // The last view's commits took under a millisecond; all of them, more.
        let p50 = v.lines().find(|l| l.trim_start().starts_with("p50")).unwrap();
        assert!(p50.contains(" us") && p50.contains(" ms"), "{p50}");
        // The first view has no rates yet.
        let first = render(&before, None, Duration::from_secs(1));
        assert!(first.lines().any(|l| l.split_whitespace().eq(["committed", "-", "100"])), "{first}");
    }
}
