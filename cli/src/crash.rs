//! Crash testing: a journaled bank workload that a test kills with SIGKILL at
//! any moment, restarts, and checks (`rtr-testkit crash-worker` and
//! `crash-check`; see `testkit.rs`).
//!
//! The servers keep their "database" in append-only files, one per
//! partition: a line `tid` is appended and fsynced when a server applies a
//! committed transfer, before it acknowledges the outcome (its next
//! receive). A replay (`rtr_mt_msg1_uncertain`) of a transfer already in the
//! file is not applied again: that is the idempotence RTR asks of servers.
//! Server processes of several nodes share the files; a check and its
//! append happen under an exclusive lock on the file, as a database would
//! check a unique key in the transaction that applies the transfer. A
//! replayed transfer that a server applies is also noted in `FILE.replayed`:
//! the original delivery of that transfer, arriving after the replay (its
//! node was stopped, taken over by a standby and woken, and the outcome it
//! held went out then), is not applied again either.
//! Clients append the tid of every transaction they saw accepted (and
//! rejected) to their own files, fsynced, right after receiving the outcome.
//! They also note each outcome in `client-outcomes.log` (see [`Outcomes`]):
//! when the transaction started and ended, and the status a rejection
//! carried, for tests that measure stalls or say why work was rejected.
//!
//! After any number of kills and restarts, and a final run that only
//! recovers, the checker requires:
//! - no transfer applied twice on a partition;
//! - every transfer a client saw accepted applied on both partitions;
//! - no transfer a client saw rejected applied anywhere;
//! - both partitions applied the same set (atomic commit across partitions).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rtr_core::flags;
use rtr_core::{EmbeddedConfig, MsgType, Rtr, RtrError, Tid, Which};

const FACILITY: &str = "CRASH";
const HALF: u32 = 1000;

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// Journal directory (kept across runs).
    #[arg(long)]
    journal: PathBuf,
    /// Directory of the servers' and clients' files.
    #[arg(long)]
    state: PathBuf,
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Only recover: open the servers, let the journal's committed work be
    /// replayed, and exit once the node holds no transaction any more.
    #[arg(long)]
    recover_only: bool,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    #[arg(long)]
    state: PathBuf,
    /// The directory of the servers' database files (default: --state):
    /// with shadow servers, each site's database is checked on its own.
    #[arg(long)]
    db: Option<PathBuf>,
}

/// An append-only file of tids, fsynced per line, plus its contents in memory.
struct TidLog {
    file: File,
    seen: HashSet<String>,
    path: PathBuf,
}

impl TidLog {
    fn open(path: &Path) -> Result<TidLog, String> {
        let seen = read_lines(path)?.into_iter().collect();
        let mut file =
            OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // A line cut short by the kill (no newline) must stay a line of its
        // own, ignored by the reader, not merge with the next one.
        let ends_clean = std::fs::read(path).map(|b| b.last().is_none_or(|c| *c == b'\n')).unwrap_or(true);
        if !ends_clean {
            file.write_all(b"\n").and_then(|_| file.sync_data()).map_err(|e| e.to_string())?;
        }
        Ok(TidLog { file, seen, path: path.to_path_buf() })
    }

    /// Read the file again: lines other processes appended since.
    fn reload(&mut self) -> Result<(), String> {
        self.seen.extend(read_lines(&self.path)?);
        Ok(())
    }

    /// Apply a committed transfer to this partition's file: `replay` when
    /// its first message was `rtr_mt_msg1_uncertain`. False if it was not
    /// applied (already there). The check and the append are one step for
    /// every server process (the file's lock).
    fn apply(&mut self, tid: &str, replay: bool) -> Result<bool, String> {
        if self.seen.contains(tid) {
            return Ok(false);
        }
        self.file.lock().map_err(|e| format!("{}: {e}", self.path.display()))?;
        let r = self.apply_locked(tid, replay);
        let _ = self.file.unlock();
        r
    }

    fn apply_locked(&mut self, tid: &str, replay: bool) -> Result<bool, String> {
        let replays = self.path.with_extension("log.replayed");
        if replay {
            // Any server may have applied it: look at the whole file.
            self.reload()?;
            if self.seen.contains(tid) {
                return Ok(false);
            }
        } else if read_lines(&replays)?.iter().any(|t| t == tid) {
            // The original delivery after another server's replay of it.
            self.seen.insert(tid.to_string());
            return Ok(false);
        }
        // An original delivery that another server applied from its own
        // original delivery is a duplicate: appended, for the checker to see.
        let applied = self.add(tid)?;
        if replay {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&replays)
                .map_err(|e| format!("{}: {e}", replays.display()))?;
            f.write_all(format!("{tid}\n").as_bytes()).and_then(|_| f.sync_data()).map_err(|e| e.to_string())?;
        }
        Ok(applied)
    }

    /// Append `tid` durably unless present; false if it was already there.
    fn add(&mut self, tid: &str) -> Result<bool, String> {
        if self.seen.contains(tid) {
            return Ok(false);
        }
        // One write call for the whole line (formatting straight into the
        // file could write it in pieces, and a kill between them would leave
        // a fragment).
        let line = format!("{tid}\n");
        self.file.write_all(line.as_bytes()).and_then(|_| self.file.sync_data()).map_err(|e| e.to_string())?;
        self.seen.insert(tid.to_string());
        Ok(true)
    }
}

/// `client-outcomes.log`: a line per transaction a client saw end,
/// `START_US END_US accepted|rejected TID STATUS REASON` (microseconds since
/// the Unix epoch; STATUS the name of the status the outcome carried, or its
/// number). Not fsynced: it informs, the checker does not read it.
struct Outcomes(File);

impl Outcomes {
    fn open(state: &Path) -> Result<Outcomes, String> {
        let path = state.join("client-outcomes.log");
        let file =
            OpenOptions::new().create(true).append(true).open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Outcomes(file))
    }

    fn note(&mut self, start_us: u128, outcome: &str, tid: &Tid, status: Option<(i32, u32)>) -> Result<(), String> {
        let status = match status {
            Some((code, reason)) => {
                let name = rtr_core::Status::from_code(code).map_or(code.to_string(), |s| s.name().to_string());
                format!("{name} {reason}")
            }
            None => "- -".into(),
        };
        // One write call per line, so lines of several clients never mix.
        let line = format!("{start_us} {} {outcome} {tid} {status}\n", unix_us());
        self.0.write_all(line.as_bytes()).map_err(|e| e.to_string())
    }
}

/// Microseconds since the Unix epoch (0 if the clock is before it).
fn unix_us() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros())
}

fn read_lines(path: &Path) -> Result<Vec<String>, String> {
    match File::open(path) {
        Ok(f) => Ok(BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            // A line cut by the kill (no newline yet) is not a record.
            .filter(|l| !l.is_empty() && l.split(',').count() == 7)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// A server until killed, or (recovery runs) until `stop` is set.
fn server(
    rtr: Rtr,
    lo: u32,
    hi: u32,
    db: Arc<Mutex<TidLog>>,
    opened: Arc<AtomicUsize>,
    stop: Option<Arc<AtomicBool>>,
    extra_flags: u32,
) -> Result<u64, String> {
    let ch = crate::channels::server(&rtr, FACILITY, lo, hi, extra_flags)?;
    opened.fetch_add(1, Ordering::SeqCst);
    let which = Which::List(vec![ch]);
    let mut applied = 0;
    // Whether the transaction in hand began with rtr_mt_msg1_uncertain.
    let mut replay = false;
    loop {
        let wait = if stop.is_some() { Duration::from_millis(100) } else { Duration::from_secs(3600) };
        let m = match rtr.receive(&which, Some(wait)) {
            Ok(m) => m,
            Err(RtrError::Timeout) if stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) => return Ok(applied),
            Err(RtrError::Timeout) => continue,
            Err(e) => return Err(e.to_string()),
        };
        match m.sb.msgtype {
            // Replayed: another server (maybe in another process, on another
            // node) may have applied it; `apply` looks at the file again.
            MsgType::Msg1Uncertain => replay = true,
            MsgType::Msg1 => replay = false,
            // Apply once: the tid is the idempotence key. The line is durable
            // before the next receive acknowledges the outcome.
            MsgType::Accepted => {
                let fresh = db.lock().map_err(|_| "poisoned")?.apply(&m.sb.tid.to_string(), replay)?;
                applied += u64::from(fresh);
            }
            _ => {}
        }
    }
}

/// Recovery runs: wait until every server is open and the node holds no
/// transaction any more (every replayed commit acknowledged).
fn wait_recovered(node: &rtr_core::runtime::EmbeddedNode, opened: &AtomicUsize, servers: usize) -> Result<(), String> {
    use rtr_core::protocol::admin::{AdminReply, AdminRequest};
    let until = Instant::now() + Duration::from_secs(120);
    while opened.load(Ordering::SeqCst) < servers {
        if Instant::now() > until {
            return Err("the servers did not open".into());
        }
        thread::sleep(Duration::from_millis(10));
    }
    let mut quiet_polls = 0;
    while quiet_polls < 3 {
        if Instant::now() > until {
            return Err("the recovered transactions were not all finished within 120 s".into());
        }
        match node.admin(AdminRequest::ShowTransaction) {
            AdminReply::Transactions { rows, omitted } if rows.is_empty() && omitted == 0 => quiet_polls += 1,
            _ => quiet_polls = 0,
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn client(
    rtr: Rtr,
    id: u32,
    accepted: Arc<Mutex<TidLog>>,
    rejected: Arc<Mutex<TidLog>>,
    outcomes: Arc<Mutex<Outcomes>>,
    count: Option<u64>,
    timeout_ms: Option<u32>,
) -> Result<(), String> {
    let ch = crate::channels::client(&rtr, FACILITY)?;
    let which = Which::List(vec![ch]);
    let mut n = id;
    for _ in 0..count.unwrap_or(u64::MAX) {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let a = (n >> 8) % HALF;
        let b = HALF + (n >> 12) % HALF;
        let started = unix_us();
        if timeout_ms.is_some() {
            rtr.start_tx(ch, 0, timeout_ms).map_err(|e| e.to_string())?;
        }
        rtr.send_to_server(ch, 0, &a.to_ne_bytes()).map_err(|e| e.to_string())?;
        rtr.send_to_server(ch, flags::sen::ACCEPT, &b.to_ne_bytes()).map_err(|e| e.to_string())?;
        let tid: Tid = rtr.get_tid(ch, 0).map_err(|e| e.to_string())?;
        loop {
            let m = rtr.receive(&which, Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
            match m.sb.msgtype {
                MsgType::Accepted => {
                    outcomes.lock().map_err(|_| "poisoned")?.note(started, "accepted", &tid, m.status())?;
                    accepted.lock().map_err(|_| "poisoned")?.add(&tid.to_string())?;
                    break;
                }
                MsgType::Rejected => {
                    outcomes.lock().map_err(|_| "poisoned")?.note(started, "rejected", &tid, m.status())?;
                    rejected.lock().map_err(|_| "poisoned")?.add(&tid.to_string())?;
                    break;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

pub fn worker(a: WorkerArgs) -> Result<(), String> {
    std::fs::create_dir_all(&a.state).map_err(|e| e.to_string())?;
    let base = Rtr::embedded_with(EmbeddedConfig::journaled(&a.journal)).map_err(|e| e.to_string())?;
    let node = base.node().ok_or("not an embedded node")?;
    let dbs = [
        Arc::new(Mutex::new(TidLog::open(&a.state.join("db-p0.log"))?)),
        Arc::new(Mutex::new(TidLog::open(&a.state.join("db-p1.log"))?)),
    ];
    let stop = a.recover_only.then(|| Arc::new(AtomicBool::new(false)));
    let opened = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut servers = Vec::new();
    for (p, (lo, hi)) in [(0, HALF - 1), (HALF, 2 * HALF - 1)].into_iter().enumerate() {
        for _ in 0..2 {
            let rtr = Rtr::connect(&node).map_err(|e| e.to_string())?;
            let db = dbs[p].clone();
            let (opened, stop) = (opened.clone(), stop.clone());
            servers.push(thread::spawn(move || server(rtr, lo, hi, db, opened, stop, 0)));
        }
    }
    if let Some(stop) = &stop {
        wait_recovered(&node, &opened, servers.len())?;
        stop.store(true, Ordering::SeqCst);
        let mut applied = 0;
        for s in servers {
            applied += s.join().map_err(|_| "server panicked")??;
        }
        outln!(
            "recovered: {} committed transactions from the journal, {applied} applied now, in {:?}",
            node.recovered(),
            started.elapsed()
        );
        return Ok(());
    }
    // Let the servers open before clients send (else NODSTFND rejects).
    thread::sleep(Duration::from_millis(100));
    let accepted = Arc::new(Mutex::new(TidLog::open(&a.state.join("client-accepted.log"))?));
    let rejected = Arc::new(Mutex::new(TidLog::open(&a.state.join("client-rejected.log"))?));
    let outcomes = Arc::new(Mutex::new(Outcomes::open(&a.state)?));
    outln!("worker running (pid {})", std::process::id());
    let mut clients = Vec::new();
    for i in 0..a.clients {
        let rtr = Rtr::connect(&node).map_err(|e| e.to_string())?;
        let (acc, rej, out) = (accepted.clone(), rejected.clone(), outcomes.clone());
        clients.push(thread::spawn(move || client(rtr, i as u32 + 1, acc, rej, out, None, None)));
    }
    for c in clients {
        c.join().map_err(|_| "client panicked")??;
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct RemoteArgs {
    /// Directory of the servers' and clients' files.
    #[arg(long)]
    state: PathBuf,
    /// Run the servers (two per partition) instead of the clients.
    #[arg(long)]
    servers: bool,
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Transactions per client.
    #[arg(long, default_value_t = 200)]
    count: u64,
    /// Each transaction's `rtr_start_tx` timeout, in milliseconds (none by
    /// default). With two servers per partition, four clients whose
    /// transfers reach the two partitions in different orders can each hold
    /// a server of one partition and wait for one of the other: without a
    /// timeout nothing breaks that cycle here (RTR would reschedule one
    /// branch with `RTR_STS_DLKTXRES`; see the README); with one, the oldest
    /// is rejected and the others go on.
    #[arg(long)]
    timeout_ms: Option<u32>,
    /// Servers: open them as shadow servers (RTR_F_OPE_SHADOW), for a
    /// facility with backends at two sites.
    #[arg(long)]
    shadow: bool,
    /// Servers: the directory of their database files (default: --state).
    /// Each site of a shadowed facility keeps its own database.
    #[arg(long)]
    db: Option<PathBuf>,
}

/// The same workload split over processes and nodes: the clients in one
/// process, the servers in another, each connected to the node daemon named
/// by `RTR_NODE_SOCKET` (one connection per thread). The servers run until
/// killed; the clients exit after their transactions (`clients done`).
pub fn remote(a: RemoteArgs) -> Result<(), String> {
    std::fs::create_dir_all(&a.state).map_err(|e| e.to_string())?;
    let socket = std::env::var_os(rtr_core::transport::NODE_SOCKET_ENV)
        .ok_or("crash-remote needs RTR_NODE_SOCKET (a node daemon's socket)")?;
    let connect = || Rtr::connect_socket(&socket).map_err(|e| e.to_string());
    if a.servers {
        let db_dir = a.db.as_deref().unwrap_or(&a.state);
        std::fs::create_dir_all(db_dir).map_err(|e| e.to_string())?;
        let dbs = [
            Arc::new(Mutex::new(TidLog::open(&db_dir.join("db-p0.log"))?)),
            Arc::new(Mutex::new(TidLog::open(&db_dir.join("db-p1.log"))?)),
        ];
        let opened = Arc::new(AtomicUsize::new(0));
        let mut servers = Vec::new();
        let extra = if a.shadow { flags::ope::SHADOW } else { 0 };
        for (p, (lo, hi)) in [(0, HALF - 1), (HALF, 2 * HALF - 1)].into_iter().enumerate() {
            for _ in 0..2 {
                let (rtr, db, opened) = (connect()?, dbs[p].clone(), opened.clone());
                servers.push(thread::spawn(move || server(rtr, lo, hi, db, opened, None, extra)));
            }
        }
        while opened.load(Ordering::SeqCst) < servers.len() {
            thread::sleep(Duration::from_millis(5));
        }
        outln!("servers open");
        for s in servers {
            s.join().map_err(|_| "server panicked")??;
        }
        return Ok(());
    }
    let accepted = Arc::new(Mutex::new(TidLog::open(&a.state.join("client-accepted.log"))?));
    let rejected = Arc::new(Mutex::new(TidLog::open(&a.state.join("client-rejected.log"))?));
    let outcomes = Arc::new(Mutex::new(Outcomes::open(&a.state)?));
    let mut clients = Vec::new();
    for i in 0..a.clients {
        let (rtr, acc, rej, out) = (connect()?, accepted.clone(), rejected.clone(), outcomes.clone());
        let count = Some(a.count);
        let timeout = a.timeout_ms;
        clients.push(thread::spawn(move || client(rtr, i as u32 + 1, acc, rej, out, count, timeout)));
    }
    for c in clients {
        c.join().map_err(|_| "client panicked")??;
    }
    outln!("clients done");
    Ok(())
}

pub fn check(a: CheckArgs) -> Result<(), String> {
    let set = |dir: &Path, name: &str| -> Result<(HashSet<String>, usize), String> {
        let lines = read_lines(&dir.join(name))?;
        let n = lines.len();
        Ok((lines.into_iter().collect(), n))
    };
    let db = a.db.as_deref().unwrap_or(&a.state);
    let (accepted, _) = set(&a.state, "client-accepted.log")?;
    let (rejected, _) = set(&a.state, "client-rejected.log")?;
    let (p0, n0) = set(db, "db-p0.log")?;
    let (p1, n1) = set(db, "db-p1.log")?;
    let mut problems = Vec::new();
    if p0.len() != n0 || p1.len() != n1 {
        problems.push(format!(
            "applied twice: partition 0 {} times, partition 1 {} times",
            n0 - p0.len(),
            n1 - p1.len()
        ));
    }
    let lost: Vec<_> = accepted.iter().filter(|t| !p0.contains(*t) || !p1.contains(*t)).collect();
    if !lost.is_empty() {
        problems.push(format!("{} accepted transfers not applied on both partitions, e.g. {:?}", lost.len(), lost[0]));
    }
    let wrong: Vec<_> = rejected.iter().filter(|t| p0.contains(*t) || p1.contains(*t)).collect();
    if !wrong.is_empty() {
        problems.push(format!("{} rejected transfers applied, e.g. {:?}", wrong.len(), wrong[0]));
    }
    if p0 != p1 {
        problems.push(format!(
            "partitions differ: {} only on 0, {} only on 1",
            p0.difference(&p1).count(),
            p1.difference(&p0).count()
        ));
    }
    outln!(
        "accepted {} rejected {} applied p0 {} p1 {} (committed without the client seeing it: {})",
        accepted.len(),
        rejected.len(),
        p0.len(),
        p1.len(),
        p0.difference(&accepted).count()
    );
    if problems.is_empty() {
        outln!("crash check: ok");
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
