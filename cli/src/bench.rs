//! `rtr bench`: transaction latency and throughput: embedded, through a daemon's socket (`--daemon`), across a TCP
//! link (`--linked`), or shadowed at two sites (`--shadow`, with catch-up speed).
//!
//! Each client thread runs one-message transactions (`RTR_F_SEN_ACCEPT`)
//! back to back on its own channel; a pool of concurrent server threads, each
//! on its own channel, serves one partition with implicit accept. A
//! transaction's latency is from `rtr_start_tx` to the client receiving
//! `rtr_mt_accepted`. Figures are medians of the samples of one run; run it
//! on a quiet machine and compare ratios, not absolute numbers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rtr_core::flags;
use rtr_core::keyseg::{KeySegment, KeyType};
use rtr_core::{MsgType, OpenParams, Rtr, RtrError, Which};

use rtr_core::journal::bench as journal_bench;

use crate::scratch::journal_choice;
use crate::stats::Latencies;
use crate::thread_costs;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Client counts to measure, comma separated (each at least 1).
    #[arg(long, value_delimiter = ',', default_value = "1,8,32", value_parser = at_least_one)]
    clients: Vec<usize>,
    /// Concurrent server channels (one thread each).
    #[arg(long, default_value_t = 32)]
    servers: usize,
    /// Threads serving the server channels; each receives over its share of
    /// the channels with one `rtr_receive_message` (a polled server).
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Message size in bytes (at least 4: the key).
    #[arg(long, default_value_t = 100)]
    msg_size: usize,
    /// Where journals go (default: the system's temporary directory, $TMPDIR
    /// or /tmp; RTR_JOURNAL_DIR, the applications' setting, is not read
    /// here). Use a directory on the storage you want to measure.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Measure without a journal (transactions are then not durable).
    #[arg(long)]
    no_journal: bool,
    /// Also measure the journal alone: durable appends with 1, 8 and 64
    /// concurrent writers against one fdatasync per record.
    #[arg(long)]
    journal: bool,
    /// Also measure daemon mode: the same transactions with the clients and
    /// servers reaching the node over its Unix socket, beside one Unix-socket
    /// round trip measured in the same run.
    #[arg(long)]
    daemon: bool,
    /// Also measure linked mode: the clients on one node, the router, the
    /// backend and the servers on another, the two nodes linked over TCP on
    /// loopback, beside one TCP round trip measured in the same run.
    #[arg(long)]
    linked: bool,
    /// With --linked, also measure the link over mutual TLS (rustls, with
    /// throwaway certificates made for the run), right after the plain
    /// measurement of each client count (rows "N tls"): the cost of TLS.
    #[arg(long)]
    tls: bool,
    /// Also measure shadow mode: as linked mode, with a second backend node
    /// at another site; every server is a shadow server (RTR_F_OPE_SHADOW),
    /// so each transaction commits at both sites. Then catch-up: the second
    /// site has no server while the clients run (the first remembers every
    /// commit), then its servers open and the backlog is replayed; the
    /// replay's rate is reported.
    #[arg(long)]
    shadow: bool,
}

/// A client count: a whole number, at least 1 (0 clients measure nothing
/// and divide by zero).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a count: {e}")),
    }
}

/// Where the benchmark's applications reach their node(s).
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Embedded,
    Daemon,
    Linked,
    Shadow,
}

pub fn run(a: BenchArgs) -> Result<(), String> {
    if a.servers == 0
        || a.server_threads == 0
        || a.msg_size < 4
        || a.msg_size > rtr_core::MAX_MSGLEN
        || a.seconds.is_nan()
        || a.seconds <= 0.0
    {
        return Err("need servers >= 1, 4 <= msg-size <= 64000 and a positive duration".into());
    }
    let base = a.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    let secs = Duration::from_secs_f64(a.seconds);
    let fsync = journal_bench::fsync_per_record(&base, secs.min(Duration::from_secs(2))).map_err(|e| e.to_string())?;
    outln!("rtr bench in {} ({} cores)", base.display(), thread::available_parallelism().map_or(1, |n| n.get()));
    outln!(
        "baseline: one fdatasync per record: {:.0} records/s, p50 {:.0} us, p99 {:.0} us",
        fsync.commits_per_sec,
        fsync.p50_us,
        fsync.p99_us
    );
    outln!();
    outln!(
        "embedded node, one partition, {} concurrent server channels on {} threads, {}-byte one-message transactions, {}",
        a.servers,
        a.server_threads,
        a.msg_size,
        if a.no_journal { "NO journal (not durable)" } else { "journaled (durable)" }
    );
    outln!(
        "per transaction, application threads (app) and node threads (node): sys = system calls but futex \
         and file open/stat/close (read- and write-family calls from syscr+syscw of /proc/self/io and /proc/self/task/*/io, plus the \
         send/recv, poll, epoll_wait, sched_yield and fdatasync calls the library and the node count), \
         csw = context switches (voluntary+involuntary: getrusage RUSAGE_SELF and /proc/self/task/*/status), \
         cpu = CPU time in us (getrusage RUSAGE_SELF and /proc/self/task/*/schedstat)"
    );
    outln!(
        "{:>8} {:>12} {:>10} {:>10} {:>10} {:>14} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "clients",
        "tx/s",
        "p50 us",
        "p99 us",
        "samples",
        "p50/fdatasync",
        "app sys",
        "app csw",
        "node sys",
        "node csw",
        "app cpu",
        "node cpu"
    );
    let mut modes = vec![Mode::Embedded];
    if a.daemon {
        modes.push(Mode::Daemon);
    }
    if a.linked {
        modes.push(Mode::Linked);
    } else if a.tls {
        return Err("--tls measures a link: give --linked too".into());
    }
    if a.shadow {
        if a.no_journal {
            return Err("--shadow needs the journal (its backlog is journaled): drop --no-journal".into());
        }
        if !a.linked {
            // The unshadowed figures of the same run to compare with.
            modes.push(Mode::Linked);
        }
        modes.push(Mode::Shadow);
    }
    for &mode in &modes {
        match mode {
            Mode::Embedded => outln!("embedded mode"),
            Mode::Daemon => {
                let rtt = socket_round_trip(Duration::from_millis(500)).map_err(|e| e.to_string())?;
                outln!("daemon mode (over the node's Unix socket); one Unix-socket round trip: p50 {rtt} us");
            }
            Mode::Linked => {
                let rtt = tcp_round_trip(Duration::from_millis(500)).map_err(|e| e.to_string())?;
                outln!(
                    "linked mode (clients on a frontend node, linked over loopback TCP to the router+backend node); \
                     one TCP round trip: p50 {rtt} us"
                );
            }
            Mode::Shadow => outln!(
                "shadow mode (linked mode, plus a backend node at a second site: shadow servers on both, each \
                 transaction committed at both sites)"
            ),
        }
        // With --tls, each linked count is measured plain, then over TLS.
        let variants: &[bool] = if mode == Mode::Linked && a.tls { &[false, true] } else { &[false] };
        for (n, tls) in a.clients.iter().flat_map(|&n| variants.iter().map(move |&t| (n, t))) {
            if n == 0 {
                continue;
            }
            let dir = a.dir.as_ref().map(|d| d.join(format!("rtr-bench-{}-{n}", std::process::id())));
            let (cfg, _scratch) = journal_choice(dir.clone(), a.no_journal, "bench")?;
            let sockdir = tempfile_dir()?;
            let sock = (mode == Mode::Daemon).then(|| sockdir.path().join("rtr.sock"));
            let link = matches!(mode, Mode::Linked | Mode::Shadow).then_some(tls);
            let (rate, mut lat, cost) = measure(n, &a, cfg, sock.as_deref(), link, mode == Mode::Shadow)?;
            if let Some(d) = dir {
                let _ = std::fs::remove_dir_all(d);
            }
            let p50 = lat.quantile(0.5);
            outln!(
                "{:>8} {:>12.0} {:>10} {:>10} {:>10} {:>14.2} {:>8.1} {:>8.2} {:>8.1} {:>8.2} {:>8.1} {:>8.1}",
                if tls { format!("{n} tls") } else { n.to_string() },
                rate,
                p50,
                lat.quantile(0.99),
                lat.len(),
                f64::from(p50) / fsync.p50_us.max(1.0),
                cost.app_sys,
                cost.app_csw,
                cost.node_sys,
                cost.node_csw,
                cost.app_cpu_us,
                cost.node_cpu_us
            );
        }
        if mode == Mode::Shadow {
            let clients = a.clients.iter().copied().max().unwrap_or(1);
            let dir = a.dir.as_ref().map(|d| d.join(format!("rtr-bench-catchup-{}", std::process::id())));
            let (cfg, _scratch) = journal_choice(dir.clone(), false, "bench")?;
            let (kept, rate) = catch_up(clients, &a, cfg)?;
            if let Some(d) = dir {
                let _ = std::fs::remove_dir_all(d);
            }
            outln!(
                "shadow catch-up: {kept} commits remembered while the second site had no server ({clients} clients, \
                 {:.1} s), replayed there at {rate:.0} transactions/s",
                a.seconds
            );
        }
        if mode == Mode::Daemon {
            let dir = tempfile_dir()?;
            let m = crate::node_memory::measure(dir.path())?;
            outln!(
                "daemon resident memory: {:.1} KiB per idle application connection, {:.2} KiB per transaction in flight",
                m.per_conn / 1024.0,
                m.per_tx / 1024.0
            );
        }
    }
    if a.journal {
        outln!();
        outln!("journal alone: durable appends of 100-byte records, group commit");
        outln!("{:>8} {:>12} {:>10} {:>10} {:>16}", "writers", "commits/s", "p50 us", "p99 us", "x fdatasync rate");
        for w in [1usize, 8, 64] {
            let r = journal_bench::run(&base, w, secs).map_err(|e| e.to_string())?;
            outln!(
                "{:>8} {:>12.0} {:>10.0} {:>10.0} {:>16.2}",
                w,
                r.commits_per_sec,
                r.p50_us,
                r.p99_us,
                r.commits_per_sec / fsync.commits_per_sec.max(1.0)
            );
        }
    }
    Ok(())
}

fn measure(
    clients: usize,
    a: &BenchArgs,
    cfg: rtr_core::EmbeddedConfig,
    daemon: Option<&std::path::Path>,
    linked: Option<bool>,
    shadow: bool,
) -> Result<(f64, Latencies, thread_costs::PerTx), String> {
    // Embedded: connections to the node in this process. Daemon: the same
    // node serving a Unix socket, every connection going through it.
    // Linked: that node is the router and backend; the clients connect to a
    // second (frontend) node linked to it over TCP. Shadow: linked, and a
    // third node is a backend at another site: every server is a shadow
    // server, and each transaction commits at both sites.
    let (cfg, west_cfg) = if shadow {
        let (east, west) = shadow_configs(cfg)?;
        (east, Some(west))
    } else {
        (cfg, None)
    };
    // A daemon's node reads the sockets in its own event loop, as `rtr start` runs it.
    let node = if daemon.is_some() {
        rtr_core::runtime::EmbeddedNode::start_daemon(cfg)
    } else {
        rtr_core::runtime::EmbeddedNode::start_with(cfg)
    }
    .map_err(|e| e.to_string())?;
    let (front, west) = match (linked, west_cfg) {
        // Shadow mode is measured over plain links only (--tls is linked mode's).
        (Some(_), Some(w)) => {
            let (fe, west) = shadow_trio(&node, w)?;
            (Some(fe), Some(west))
        }
        (Some(tls), None) => (Some(link_pair(&node, tls)?), None),
        (None, _) => (None, None),
    };
    let connect = |what: &str| -> Result<Rtr, String> {
        match daemon {
            None => Rtr::connect(&node),
            Some(sock) => Rtr::connect_socket(sock),
        }
        .map_err(|e| format!("{what}: {e}"))
    };
    if let Some(sock) = daemon {
        let listener = std::os::unix::net::UnixListener::bind(sock).map_err(|e| e.to_string())?;
        let n = node.clone();
        thread::spawn(move || rtr_core::transport::unix::serve(listener, n));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let extra = if shadow { flags::ope::SHADOW } else { 0 };
    let mut servers = start_servers(&connect("server connection")?, a, extra, &stop)?;
    if let Some(w) = &west {
        let rtr = Rtr::connect(w).map_err(|e| format!("west server connection: {e}"))?;
        servers.extend(start_servers(&rtr, a, extra, &stop)?);
        wait_pair(&node, w)?;
    }
    let client_rtr = match &front {
        Some(fe) => Rtr::connect(fe).map_err(|e| format!("client connection: {e}"))?,
        None => connect("client connection")?,
    };
    if front.is_some() {
        wait_routable(&client_rtr)?;
    }
    let out = drive_clients(&client_rtr, clients, a);
    stop.store(true, Ordering::Relaxed);
    for s in servers {
        s.join().map_err(|_| "server panicked")??;
    }
    out
}

type ServerThread = thread::JoinHandle<Result<(), String>>;

/// Open `a.servers` server channels (flags `extra` beside SERVER) on `rtr`
/// and serve them on `a.server_threads` threads until `stop` is set.
fn start_servers(rtr: &Rtr, a: &BenchArgs, extra: u32, stop: &Arc<AtomicBool>) -> Result<Vec<ServerThread>, String> {
    // Open every server channel, then share them out among the threads.
    let mut chans = Vec::new();
    for _ in 0..a.servers {
        let seg = KeySegment::new(0, KeyType::Unsigned, 4, 0, None, None).map_err(|e| e.to_string())?;
        let ch = rtr
            .open_channel(OpenParams {
                flags: flags::ope::SERVER | extra,
                facility: Some("BENCH".into()),
                segments: vec![seg],
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        let m = rtr.receive(&Which::List(vec![ch]), Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        if m.sb.msgtype != MsgType::Opened {
            let why = crate::status_text::of_message(&m).unwrap_or_else(|| m.sb.msgtype.name().into());
            return Err(format!("server open failed: {why}"));
        }
        chans.push(ch);
    }
    let threads = a.server_threads.min(chans.len());
    let mut servers = Vec::new();
    for t in 0..threads {
        let mine: Vec<_> = chans.iter().copied().skip(t).step_by(threads).collect();
        let rtr = rtr.clone();
        let stop = stop.clone();
        servers.push(thread::spawn(move || {
            // Receiving again is each channel's implicit accept.
            let which = Which::List(mine);
            let mut buf = vec![0u8; rtr_core::MAX_MSGLEN];
            loop {
                match rtr.receive_into(&which, &mut buf, Some(Duration::from_millis(100))) {
                    Ok(_) => {}
                    Err(RtrError::Timeout) if stop.load(Ordering::Relaxed) => return Ok(()),
                    Err(RtrError::Timeout) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }));
    }
    Ok(servers)
}

/// `clients` threads on `rtr`, each running one-message transactions back
/// to back for `a.seconds`: the rate, the latencies and the cost per
/// transaction.
fn drive_clients(rtr: &Rtr, clients: usize, a: &BenchArgs) -> Result<(f64, Latencies, thread_costs::PerTx), String> {
    let counted = thread_costs::snapshot();
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(a.seconds);
    let mut handles = Vec::new();
    for i in 0..clients {
        let rtr = rtr.clone();
        let size = a.msg_size;
        handles.push(thread::spawn(move || -> Result<Latencies, String> {
            let ch = rtr
                .open_channel(OpenParams {
                    flags: flags::ope::CLIENT,
                    facility: Some("BENCH".into()),
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
            let which = Which::List(vec![ch]);
            let mut buf = [0u8; 64];
            let r = rtr.receive_into(&which, &mut buf, Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
            if r.msgtype != MsgType::Opened {
                return Err("client open failed".into());
            }
            let mut msg = vec![0u8; size];
            let mut lat = Latencies::default();
            let mut k = i as u32;
            while Instant::now() < until {
                k = k.wrapping_add(7919);
                msg[0..4].copy_from_slice(&k.to_ne_bytes());
                let t0 = Instant::now();
                rtr.send_to_server(ch, flags::sen::ACCEPT, &msg).map_err(|e| e.to_string())?;
                loop {
                    let r =
                        rtr.receive_into(&which, &mut buf, Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
                    match r.msgtype {
                        MsgType::Accepted => break,
                        MsgType::Rejected => return Err("a benchmark transaction was rejected".into()),
                        _ => {}
                    }
                }
                lat.record(t0.elapsed());
            }
            Ok(lat)
        }));
    }
    let mut all = Latencies::default();
    for h in handles {
        all.merge(h.join().map_err(|_| "client panicked")??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cost = thread_costs::per_tx(counted, thread_costs::snapshot(), all.len());
    Ok((all.len() as f64 / elapsed, all, cost))
}

/// Shadow mode's two backends: `cfg`'s journal directory becomes the root
/// of both journals (`bench-tr` at site east, `bench-w` at site west), the
/// role authority both reach. Returns east's and west's configurations.
fn shadow_configs(
    mut cfg: rtr_core::EmbeddedConfig,
) -> Result<(rtr_core::EmbeddedConfig, rtr_core::EmbeddedConfig), String> {
    let Some(journal) = cfg.journal.clone() else {
        return Err("shadow mode needs a journal (not --no-journal)".into());
    };
    let root = journal.dir.clone();
    let mut west = rtr_core::EmbeddedConfig {
        journal: Some(rtr_core::journal::JournalConfig { dir: root.join("bench-w"), ..journal.clone() }),
        node_id: Some(rtr_core::facility::node_id("bench-w")),
        peer_journals: Some(root.clone()),
        site: Some("west".into()),
        ..Default::default()
    };
    west.authority = cfg.authority.clone();
    cfg.journal = Some(rtr_core::journal::JournalConfig { dir: root.join("bench-tr"), ..journal });
    cfg.node_id = Some(rtr_core::facility::node_id("bench-tr"));
    cfg.peer_journals = Some(root);
    cfg.site = Some("east".into());
    Ok((cfg, west))
}

/// Wait until `east`'s shadow partition is the primary and `west`'s the
/// secondary (each site's servers open on one partition).
fn wait_pair(east: &rtr_core::runtime::EmbeddedNode, west: &rtr_core::runtime::EmbeddedNode) -> Result<(), String> {
    use rtr_core::protocol::admin::{AdminReply, AdminRequest, PartitionState};
    let state = |n: &rtr_core::runtime::EmbeddedNode| match n.admin(AdminRequest::ShowPartition) {
        AdminReply::Partitions { rows, .. } => rows.first().map(|p| p.state),
        _ => None,
    };
    let until = Instant::now() + Duration::from_secs(10);
    while state(east) != Some(PartitionState::Primary) || state(west) != Some(PartitionState::Secondary) {
        if Instant::now() > until {
            return Err(format!(
                "the shadow pair did not form within 10 s (east {:?}, west {:?})",
                state(east),
                state(west)
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Commits `node` keeps for the other site (its first partition's backlog).
fn backlog(node: &rtr_core::runtime::EmbeddedNode) -> u64 {
    use rtr_core::protocol::admin::{AdminReply, AdminRequest};
    match node.admin(AdminRequest::ShowPartition) {
        AdminReply::Partitions { rows, .. } => rows.first().map_or(0, |p| p.backlog),
        _ => 0,
    }
}

/// Catch-up speed: the west site has no server while `clients` clients run
/// for `a.seconds` (east remembers every commit), then its servers open
/// and the backlog is replayed to them. Returns the backlog and the
/// transactions replayed per second.
fn catch_up(clients: usize, a: &BenchArgs, cfg: rtr_core::EmbeddedConfig) -> Result<(u64, f64), String> {
    let (cfg, west_cfg) = shadow_configs(cfg)?;
    let node = rtr_core::runtime::EmbeddedNode::start_with(cfg).map_err(|e| e.to_string())?;
    let (fe, west) = shadow_trio(&node, west_cfg)?;
    let stop = Arc::new(AtomicBool::new(false));
    let east_rtr = Rtr::connect(&node).map_err(|e| e.to_string())?;
    let mut servers = start_servers(&east_rtr, a, flags::ope::SHADOW, &stop)?;
    let client_rtr = Rtr::connect(&fe).map_err(|e| format!("client connection: {e}"))?;
    wait_routable(&client_rtr)?;
    drive_clients(&client_rtr, clients, a)?;
    let kept = backlog(&node);
    let t0 = Instant::now();
    let west_rtr = Rtr::connect(&west).map_err(|e| e.to_string())?;
    servers.extend(start_servers(&west_rtr, a, flags::ope::SHADOW, &stop)?);
    let until = t0 + Duration::from_secs(120);
    while backlog(&node) > 0 {
        if Instant::now() > until {
            return Err(format!("catch-up did not finish within 120 s ({} of {kept} left)", backlog(&node)));
        }
        thread::sleep(Duration::from_millis(5));
    }
    let took = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for s in servers {
        s.join().map_err(|_| "server panicked")??;
    }
    Ok((kept, kept as f64 / took.max(1e-6)))
}

/// Facility BENCH (frontend `bench-fe`, router `bench-tr`, backends
/// `backends`) as node `name`'s in-memory definitions.
fn bench_store(name: &str, backends: &[&str]) -> Result<rtr_core::facility::FacilityStore, String> {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let def =
        rtr_core::facility::FacilityDef::new("BENCH", &names(&["bench-fe"]), &names(&["bench-tr"]), &names(backends))
            .map_err(|e| e.to_string())?;
    let mut s = rtr_core::facility::FacilityStore::in_memory(name);
    s.create(def).map_err(|e| e.to_string())?;
    Ok(s)
}

/// The frontend node `bench-fe` (no journal) of facility BENCH with
/// `backends`, dialling each of `peers` (node name, address) with `cfg`.
fn start_frontend(
    backends: &[&str],
    peers: &[(&str, String)],
    mut cfg: rtr_core::transport::links::LinkConfig,
) -> Result<Arc<rtr_core::runtime::EmbeddedNode>, String> {
    let fe_cfg =
        rtr_core::EmbeddedConfig { node_id: Some(rtr_core::facility::node_id("bench-fe")), ..Default::default() };
    let fe = rtr_core::runtime::EmbeddedNode::start_with(fe_cfg).map_err(|e| e.to_string())?;
    fe.set_facility_store(bench_store("bench-fe", backends)?);
    for (name, addr) in peers {
        cfg.peers.insert(name.to_string(), addr.clone());
    }
    fe.start_links("bench-fe", cfg).map_err(|e| e.to_string())?;
    Ok(fe)
}

/// Shadow mode's cluster: `node` is the router and the east backend
/// (`bench-tr`), a second node the west backend (`bench-w`, started from
/// `west_cfg`), and a frontend (`bench-fe`, no journal); facility BENCH
/// names them, linked over plain loopback TCP. Returns the frontend and the
/// west node.
fn shadow_trio(
    node: &Arc<rtr_core::runtime::EmbeddedNode>,
    west_cfg: rtr_core::EmbeddedConfig,
) -> Result<(Arc<rtr_core::runtime::EmbeddedNode>, Arc<rtr_core::runtime::EmbeddedNode>), String> {
    use rtr_core::transport::links::LinkConfig;
    let backends = ["bench-tr", "bench-w"];
    let listening = || LinkConfig { listen: Some("127.0.0.1:0".into()), insecure: true, ..LinkConfig::default() };
    // The name that sorts first dials: bench-fe dials both, bench-tr dials
    // bench-w, so bench-w and bench-tr listen.
    let west = rtr_core::runtime::EmbeddedNode::start_with(west_cfg).map_err(|e| e.to_string())?;
    west.set_facility_store(bench_store("bench-w", &backends)?);
    let w_links = west.start_links("bench-w", listening()).map_err(|e| e.to_string())?;
    let w_addr = w_links.local_addr().ok_or("the west node has no link address")?.to_string();
    node.set_facility_store(bench_store("bench-tr", &backends)?);
    let mut cfg = listening();
    cfg.peers.insert("bench-w".into(), w_addr.clone());
    let links = node.start_links("bench-tr", cfg).map_err(|e| e.to_string())?;
    let addr = links.local_addr().ok_or("the router node has no link address")?.to_string();
    let plain = LinkConfig { insecure: true, ..LinkConfig::default() };
    let fe = start_frontend(&backends, &[("bench-tr", addr), ("bench-w", w_addr)], plain)?;
    Ok((fe, west))
}

/// Make `node` the router and backend of facility BENCH (node `bench-tr`,
/// accepting links on a loopback port), and start a frontend node
/// (`bench-fe`, no journal) linked to it, over mutual TLS with `tls`
/// (certificates made for the run). Returns the frontend node.
fn link_pair(
    node: &Arc<rtr_core::runtime::EmbeddedNode>,
    tls: bool,
) -> Result<Arc<rtr_core::runtime::EmbeddedNode>, String> {
    use rtr_core::transport::links::LinkConfig;
    node.set_facility_store(bench_store("bench-tr", &["bench-tr"])?);
    let setups = if tls {
        let (ca, ca_key) = crate::cert::make_ca("rtr bench CA", 1)?;
        let setup = |name: &str| -> Result<Arc<rtr_core::transport::tls::TlsSetup>, String> {
            let (cert, key) = crate::cert::make_node(name, &ca, &ca_key, 1)?;
            rtr_core::transport::tls::TlsSetup::from_pem(name, ca.as_bytes(), cert.as_bytes(), key.as_bytes())
                .map(Arc::new)
        };
        (Some(setup("bench-tr")?), Some(setup("bench-fe")?))
    } else {
        (None, None)
    };
    // Plain when the bench was not asked for TLS (loopback, one process).
    let insecure = setups.0.is_none();
    let cfg = LinkConfig { listen: Some("127.0.0.1:0".into()), tls: setups.0, insecure, ..LinkConfig::default() };
    let links = node.start_links("bench-tr", cfg).map_err(|e| e.to_string())?;
    let addr = links.local_addr().ok_or("the router node has no link address")?.to_string();
    start_frontend(
        &["bench-tr"],
        &[("bench-tr", addr)],
        LinkConfig { tls: setups.1, insecure, ..LinkConfig::default() },
    )
}

/// Wait until a transaction started on the frontend reaches a server: the
/// link is up and the backend's partition is known to the router.
fn wait_routable(rtr: &Rtr) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(10);
    let ch = rtr
        .open_channel(OpenParams { flags: flags::ope::CLIENT, facility: Some("BENCH".into()), ..Default::default() })
        .map_err(|e| e.to_string())?;
    let which = Which::List(vec![ch]);
    let mut buf = [0u8; 64];
    let _ = rtr.receive_into(&which, &mut buf, Some(Duration::from_secs(5)));
    loop {
        rtr.send_to_server(ch, flags::sen::ACCEPT, &[0u8; 8]).map_err(|e| e.to_string())?;
        let r = rtr.receive_into(&which, &mut buf, Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        if r.msgtype == MsgType::Accepted {
            let _ = rtr.close_channel(ch, 0);
            return Ok(());
        }
        if Instant::now() > until {
            return Err("the linked nodes did not become routable within 10 s".into());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A directory for a socket, removed when dropped.
fn tempfile_dir() -> Result<crate::scratch::Scratch, String> {
    let d = std::env::temp_dir().join(format!(
        "rtr-sock-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    ));
    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    Ok(crate::scratch::Scratch::new(d))
}

/// Median round trip of a 100-byte message over a Unix socket pair between
/// two threads: the cost daemon mode adds per hop.
fn socket_round_trip(duration: Duration) -> std::io::Result<u32> {
    let (a, b) = std::os::unix::net::UnixStream::pair()?;
    round_trip(a, b, duration)
}

/// Median round trip of a 100-byte message over a loopback TCP connection
/// (no Nagle) between two threads: the cost a link adds per hop.
fn tcp_round_trip(duration: Duration) -> std::io::Result<u32> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    let a = std::net::TcpStream::connect(l.local_addr()?)?;
    let (b, _) = l.accept()?;
    a.set_nodelay(true)?;
    b.set_nodelay(true)?;
    round_trip(a, b, duration)
}

/// Median round trip of a 100-byte message from `a` to a thread echoing it
/// back on `b`.
fn round_trip<S: std::io::Read + std::io::Write + Send + 'static>(
    mut a: S,
    mut b: S,
    duration: Duration,
) -> std::io::Result<u32> {
    let echo = thread::spawn(move || {
        let mut buf = [0u8; 100];
        while b.read_exact(&mut buf).is_ok() {
            if b.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let mut lat = Latencies::default();
    let mut buf = [7u8; 100];
    let until = Instant::now() + duration;
    while Instant::now() < until {
        let t0 = Instant::now();
        a.write_all(&buf)?;
        a.read_exact(&mut buf)?;
        lat.record(t0.elapsed());
    }
    drop(a);
    let _ = echo.join();
    Ok(lat.quantile(0.5))
}
