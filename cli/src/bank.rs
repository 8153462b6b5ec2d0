//! `rtr demo`: a bank facility on the embedded node.
//!
//! Two partitions split the accounts by key (account number). Each partition
//! has a pool of concurrent servers, each in its own library connection (as
//! separate processes would be). Clients transfer money: one transaction
//! debits an account in one partition and credits one in the other, so both
//! partitions vote. Mid-run one server dies in the middle of a transaction
//! (its connection is dropped without a vote, as when a process is killed);
//! RTR presents that transaction to another server of the pool.
//!
//! The servers keep balances in a small in-memory "database" per partition
//! that stages work per transaction id and applies it only on
//! `rtr_mt_accepted`, remembering applied tids so that a replay
//! (`rtr_mt_msg1_uncertain`) is never applied twice. At the end the summary
//! checks what a bank would: every transaction ended exactly once, accepted
//! transfers applied exactly once on both sides, nothing rejected applied,
//! and the total balance conserved.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rtr_core::flags;
use rtr_core::protocol::ChanId;
use rtr_core::{MsgType, Rtr, RtrError, Status, Tid, Which};

use crate::channels;
use crate::scratch::journal_choice;

use crate::stats::Latencies;

const FACILITY: &str = "BANK";
/// Reject reason a server gives when the debit would overdraw the account.
const REASON_FUNDS: u32 = 1;
/// Wait for one message during the run; a longer silence is a failure.
const STEP: Duration = Duration::from_secs(10);

#[derive(clap::Args, Clone)]
pub struct DemoArgs {
    /// Client threads (each with its own channel and connection).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Concurrent servers per partition.
    #[arg(long, default_value_t = 8)]
    servers: usize,
    /// Number of accounts (split evenly over two partitions).
    #[arg(long, default_value_t = 1000)]
    accounts: u32,
    /// Opening balance of every account.
    #[arg(long, default_value_t = 1000)]
    balance: i64,
    /// How long the clients run.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Do not make a server fail mid-run.
    #[arg(long)]
    no_failure: bool,
    /// Journal directory (default: a new directory under the system's
    /// temporary directory, $TMPDIR or /tmp, removed after the run;
    /// RTR_JOURNAL_DIR, the applications' setting, is not read here).
    #[arg(long)]
    journal_dir: Option<std::path::PathBuf>,
    /// Run without a journal (transactions are then not durable).
    #[arg(long, conflicts_with = "journal_dir")]
    no_journal: bool,
}

/// One partition's database: committed balances, per-transaction staged work.
#[derive(Default)]
struct Db {
    balances: HashMap<u32, i64>,
    /// Staged (uncommitted) deltas per transaction.
    pending: HashMap<Tid, Vec<(u32, i64)>>,
    /// Debits reserved by staged work, so concurrent servers cannot overdraw.
    reserved: HashMap<u32, i64>,
    applied: HashSet<Tid>,
    applied_twice: u64,
}

impl Db {
    fn rollback(&mut self, tid: Tid) {
        for (acct, delta) in self.pending.remove(&tid).unwrap_or_default() {
            if delta < 0 {
                *self.reserved.entry(acct).or_default() += delta;
            }
        }
    }

    /// Stage one delta; false when the debit would overdraw.
    fn stage(&mut self, tid: Tid, acct: u32, delta: i64) -> bool {
        if delta < 0 {
            let bal = self.balances.get(&acct).copied().unwrap_or(0);
            let res = self.reserved.entry(acct).or_default();
            if bal - *res + delta < 0 {
                return false;
            }
            *res -= delta;
        }
        self.pending.entry(tid).or_default().push((acct, delta));
        true
    }

    fn commit(&mut self, tid: Tid) {
        if !self.applied.insert(tid) {
            self.applied_twice += 1;
            self.rollback(tid);
            return;
        }
        for (acct, delta) in self.pending.remove(&tid).unwrap_or_default() {
            *self.balances.entry(acct).or_default() += delta;
            if delta < 0 {
                *self.reserved.entry(acct).or_default() += delta;
            }
        }
    }
}

fn encode(acct: u32, delta: i64, transfer: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(20);
    v.extend_from_slice(&acct.to_ne_bytes());
    v.extend_from_slice(&delta.to_ne_bytes());
    v.extend_from_slice(&transfer.to_ne_bytes());
    v
}

fn decode(m: &[u8]) -> Option<(u32, i64)> {
    let acct = u32::from_ne_bytes(m.get(0..4)?.try_into().ok()?);
    let delta = i64::from_ne_bytes(m.get(4..12)?.try_into().ok()?);
    Some((acct, delta))
}

/// What the failing server did.
#[derive(Default)]
struct Failure {
    at: Option<Duration>,
    tid: Option<Tid>,
}

struct ServerCtx {
    db: Arc<Mutex<Db>>,
    stop: Arc<AtomicBool>,
    /// Die on the first transaction received after this instant.
    fail_after: Option<Instant>,
    failure: Arc<Mutex<Failure>>,
    started: Instant,
    replays: Arc<AtomicU64>,
}

fn serve(rtr: Rtr, ch: ChanId, cx: ServerCtx) -> Result<(), String> {
    let which = Which::List(vec![ch]);
    loop {
        let m = match rtr.receive(&which, Some(Duration::from_millis(100))) {
            Ok(m) => m,
            Err(RtrError::Timeout) if cx.stop.load(Ordering::Relaxed) => return Ok(()),
            Err(RtrError::Timeout) => continue,
            Err(e) => return Err(format!("server receive: {e}")),
        };
        let tid = m.sb.tid;
        let mut db = cx.db.lock().map_err(|_| "db poisoned")?;
        match m.sb.msgtype {
            MsgType::Msg1 | MsgType::Msg1Uncertain => {
                // A replay: throw away what the lost server staged (its
                // database session died with it) and redo the work, unless
                // it was already applied.
                if m.sb.msgtype == MsgType::Msg1Uncertain || db.pending.contains_key(&tid) {
                    cx.replays.fetch_add(1, Ordering::Relaxed);
                }
                db.rollback(tid);
                if let Some(at) = cx.fail_after {
                    if Instant::now() >= at {
                        let mut f = cx.failure.lock().map_err(|_| "poisoned")?;
                        f.at = Some(cx.started.elapsed());
                        f.tid = Some(tid);
                        // Stage the work, then die without voting: the
                        // staged work is lost with this "process".
                        if let Some((acct, delta)) = decode(&m.data) {
                            db.stage(tid, acct, delta);
                        }
                        drop(db);
                        drop(rtr);
                        return Ok(());
                    }
                }
                if !db.applied.contains(&tid) {
                    stage_or_reject(&rtr, ch, &mut db, tid, &m.data)?;
                }
            }
            MsgType::Msgn => stage_or_reject(&rtr, ch, &mut db, tid, &m.data)?,
            MsgType::Accepted => db.commit(tid),
            MsgType::Rejected => db.rollback(tid),
            other => return Err(format!("server got unexpected {other:?}")),
        }
    }
}

fn stage_or_reject(rtr: &Rtr, ch: ChanId, db: &mut Db, tid: Tid, data: &[u8]) -> Result<(), String> {
    let (acct, delta) = decode(data).ok_or("short message")?;
    if !db.stage(tid, acct, delta) {
        db.rollback(tid);
        match rtr.reject_tx(ch, 0, REASON_FUNDS) {
            Ok(()) | Err(RtrError::AlreadyAccepted(_)) => {}
            Err(e) => return Err(format!("reject: {e}")),
        }
    }
    Ok(())
}

#[derive(Default)]
struct ClientResult {
    accepted: Vec<Tid>,
    rejected_funds: u64,
    rejected_other: Vec<(i32, u32)>,
    started: u64,
    outcomes: u64,
    latency: Latencies,
}

fn client(rtr: Rtr, id: u64, a: DemoArgs, until: Instant) -> Result<ClientResult, String> {
    let ch = channels::client(&rtr, FACILITY)?;
    let which = Which::List(vec![ch]);
    let half = a.accounts / 2;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (id.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut r = ClientResult::default();
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let transfer = (id << 40) | n;
        let from_low = next() % 2 == 0;
        let (from, to) = {
            let x = (next() % u64::from(half)) as u32;
            let y = (next() % u64::from(half)) as u32;
            if from_low {
                (x, half + y)
            } else {
                (half + x, y)
            }
        };
        let amount = (next() % 200 + 1) as i64;
        let t0 = Instant::now();
        rtr.start_tx(ch, 0, Some(30_000)).map_err(|e| format!("start_tx: {e}"))?;
        r.started += 1;
        rtr.send_to_server(ch, 0, &encode(from, -amount, transfer)).map_err(|e| format!("send: {e}"))?;
        rtr.send_to_server(ch, flags::sen::ACCEPT, &encode(to, amount, transfer)).map_err(|e| format!("send: {e}"))?;
        let tid = rtr.get_tid(ch, 0).map_err(|e| e.to_string())?;
        loop {
            let m = rtr.receive(&which, Some(STEP)).map_err(|e| format!("client receive: {e}"))?;
            match m.sb.msgtype {
                MsgType::Accepted => {
                    r.accepted.push(tid);
                    r.outcomes += 1;
                    break;
                }
                MsgType::Rejected => {
                    r.outcomes += 1;
                    match m.status() {
                        Some((s, REASON_FUNDS)) if s == Status::Rejected.code() => r.rejected_funds += 1,
                        Some(sr) => r.rejected_other.push(sr),
                        None => r.rejected_other.push((0, 0)),
                    }
                    break;
                }
                MsgType::Reply => {}
                other => return Err(format!("client got unexpected {}", other.name())),
            }
        }
        r.latency.record(t0.elapsed());
    }
    // Nothing may arrive after the last outcome: one outcome per transaction.
    match rtr.receive(&which, Some(Duration::from_millis(50))) {
        Err(RtrError::Timeout) => {}
        Ok(m) => return Err(format!("extra message after the last outcome: {}", m.sb.msgtype.name())),
        Err(e) => return Err(e.to_string()),
    }
    Ok(r)
}

pub fn run(a: DemoArgs) -> Result<(), String> {
    if a.accounts < 2 || a.clients == 0 || a.servers == 0 || a.seconds.is_nan() || a.seconds <= 0.0 {
        return Err("need at least 2 accounts, 1 client, 1 server and a positive duration".into());
    }
    if !a.no_failure && a.servers < 2 {
        return Err("a server failure needs at least 2 servers per partition (or pass --no-failure)".into());
    }
    let (cfg, scratch) = journal_choice(a.journal_dir.clone(), a.no_journal, "demo")?;
    let journal_line = match &cfg.journal {
        Some(j) => format!("journal in {} (every commit durable before it is announced)", j.dir.display()),
        None => "no journal (transactions are not durable)".to_string(),
    };
    let base = Rtr::embedded_with(cfg).map_err(|e| e.to_string())?;
    let node = base.node().ok_or("not an embedded node")?;
    let _cleanup = scratch;
    let half = a.accounts / 2;
    let ranges = [(0u32, half - 1), (half, a.accounts - 1)];
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let failure = Arc::new(Mutex::new(Failure::default()));
    let replays = Arc::new(AtomicU64::new(0));
    let mut dbs = Vec::new();
    let mut servers = Vec::new();
    for (p, (lo, hi)) in ranges.iter().copied().enumerate() {
        let mut db = Db::default();
        for acct in lo..=hi {
            db.balances.insert(acct, a.balance);
        }
        let db = Arc::new(Mutex::new(db));
        dbs.push(db.clone());
        for s in 0..a.servers {
            let rtr = Rtr::connect(&node).map_err(|e| e.to_string())?;
            let ch = channels::server(&rtr, FACILITY, lo, hi, 0)?;
            let cx = ServerCtx {
                db: db.clone(),
                stop: stop.clone(),
                fail_after: (!a.no_failure && p == 0 && s == 0)
                    .then(|| started + Duration::from_secs_f64(a.seconds / 2.0)),
                failure: failure.clone(),
                started,
                replays: replays.clone(),
            };
            servers.push(thread::spawn(move || serve(rtr, ch, cx)));
        }
    }
    outln!("RTR demo: bank facility {FACILITY} on the embedded node, {journal_line}");
    outln!(
        "  2 partitions (accounts {}-{} and {}-{}), {} concurrent servers each, {} clients, {:.1} s",
        ranges[0].0,
        ranges[0].1,
        ranges[1].0,
        ranges[1].1,
        a.servers,
        a.clients,
        a.seconds
    );
    let until = Instant::now() + Duration::from_secs_f64(a.seconds);
    let run_start = Instant::now();
    let mut clients = Vec::new();
    for id in 0..a.clients {
        let rtr = Rtr::connect(&node).map_err(|e| e.to_string())?;
        let args = a.clone();
        clients.push(thread::spawn(move || client(rtr, id as u64 + 1, args, until)));
    }
    let mut total = ClientResult::default();
    let mut errors = Vec::new();
    for c in clients {
        match c.join() {
            Ok(Ok(r)) => {
                total.accepted.extend(r.accepted);
                total.rejected_funds += r.rejected_funds;
                total.rejected_other.extend(r.rejected_other);
                total.started += r.started;
                total.outcomes += r.outcomes;
                total.latency.merge(r.latency);
            }
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push("a client thread panicked".into()),
        }
    }
    let elapsed = run_start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for s in servers {
        match s.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push("a server thread panicked".into()),
        }
    }

    let accepted: HashSet<Tid> = total.accepted.iter().copied().collect();
    let mut lat = total.latency.clone();
    outln!("Results");
    outln!(
        "  transactions: {} started, {} accepted, {} rejected (insufficient funds {}, other {})",
        total.started,
        accepted.len(),
        total.rejected_funds + total.rejected_other.len() as u64,
        total.rejected_funds,
        total.rejected_other.len()
    );
    outln!("  throughput:   {:.0} tx/s", total.started as f64 / elapsed.as_secs_f64());
    outln!(
        "  latency:      p50 {} us, p99 {} us (start to outcome, {} samples)",
        lat.quantile(0.5),
        lat.quantile(0.99),
        lat.len()
    );
    let f = failure.lock().map_err(|_| "poisoned")?;
    match (f.at, f.tid) {
        (Some(at), Some(tid)) => outln!(
            "  failure:      a server of partition 0 died at {:.2} s holding transaction {tid}; {} replay(s) presented to other servers",
            at.as_secs_f64(),
            replays.load(Ordering::Relaxed)
        ),
        _ if a.no_failure => outln!("  failure:      none requested"),
        _ => errors.push("the server failure was requested but did not happen".into()),
    }

    let mut checks: Vec<(bool, String)> = Vec::new();
    checks.push((
        errors.is_empty(),
        if errors.is_empty() { "clients and servers ran without errors".into() } else { errors.join("; ") },
    ));
    checks.push((
        total.outcomes == total.started && accepted.len() == total.accepted.len(),
        format!(
            "every transaction ended exactly once ({} outcomes for {} transactions)",
            total.outcomes, total.started
        ),
    ));
    checks.push((
        total.rejected_other.is_empty(),
        format!(
            "no transaction rejected for another reason than funds ({})",
            total
                .rejected_other
                .iter()
                .map(|&(s, r)| format!("{} reason {r}", crate::status_text::name(s)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    let mut sum = 0i64;
    let mut applied_ok = true;
    let mut twice = 0;
    for db in &dbs {
        let db = db.lock().map_err(|_| "poisoned")?;
        sum += db.balances.values().sum::<i64>();
        applied_ok &= db.applied == accepted;
        twice += db.applied_twice;
    }
    checks.push((applied_ok, "every accepted transfer applied on both partitions, no rejected one applied".into()));
    checks.push((twice == 0, format!("no transfer applied twice ({twice})")));
    let expect = i64::from(a.accounts) * a.balance;
    checks.push((sum == expect, format!("total balance conserved: {sum} (expected {expect})")));
    if let Some(tid) = f.tid {
        let finished = !accepted.contains(&tid) || dbs.iter().all(|d| d.lock().is_ok_and(|d| d.applied.contains(&tid)));
        checks.push((finished, format!("the failed server's transaction {tid} was finished by another server")));
    }
    outln!("Checks");
    let mut ok = true;
    for (pass, text) in &checks {
        ok &= pass;
        outln!("  [{}] {text}", if *pass { "ok" } else { "FAILED" });
    }
    if ok {
        outln!("All checks passed.");
        Ok(())
    } else {
        Err("some checks failed".into())
    }
}
