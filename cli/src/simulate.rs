//! `rtr simulate`: run the deterministic cluster simulator
//! (`rtr_core::sim`) over many seeds, report each failure with its seed,
//! and replay one seed event by event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rtr_core::sim::{self, Faults, SimConfig, ViolationKind};

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// How many seeds to run (from --start).
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// The first seed (default: a random one, printed).
    #[arg(long)]
    start: Option<u64>,
    /// Run this one seed and print every event (a failing seed replays exactly).
    #[arg(long)]
    seed: Option<u64>,
    /// Fault kinds to inject, comma-separated: crash, freeze, net, partition,
    /// server, client, disk, operator, takeover, all, none.
    #[arg(long, default_value = "all")]
    faults: String,
    /// Violation kinds to count without failing on (to look past a known
    /// defect), comma-separated: disagreement, applied-twice, two-actives,
    /// two-primaries, accepted-not-applied, rejected-applied, partial,
    /// not-conserved, no-outcome, deadlock, livelock, journal-corrupt,
    /// sites-differ, primary-while-off, order-differs.
    #[arg(long, default_value = "")]
    ignore: String,
    /// Seconds of simulated time with faults.
    #[arg(long, default_value_t = 20)]
    fault_time: u64,
    /// Mean simulated milliseconds between faults.
    #[arg(long, default_value_t = 1000)]
    fault_every: u64,
    /// The backends share no journal root: a standby cannot take over a lost
    /// node's journal (its partitions wait for an operator).
    #[arg(long)]
    no_shared_root: bool,
    /// The backends' recovery policy: `recognized` (default: a lost
    /// holder's journal that cannot be taken over is waited for) or
    /// `unrecognized` (the partition goes active without it once the
    /// holder's grant is gone). With --no-shared-root, `unrecognized` runs
    /// backends that share no storage, as with etcd grants.
    #[arg(long, default_value = "recognized", value_parser = ["recognized", "unrecognized"])]
    recovery: String,
    /// Two sites (docs/shadow.md): four backends, be1 and be2 at site east,
    /// be3 and be4 at west, every server opened as a shadow server; one
    /// active partition per key range and site, and one primary per range.
    #[arg(long)]
    shadow: bool,
    /// With --shadow, the servers take no row locks: a run takes the path
    /// it took before locks were modelled (seeds recorded before then), and
    /// the order in which the sites applied conflicting transactions is
    /// not checked (only which transactions each applied).
    #[arg(long)]
    no_locks: bool,
    /// With --shadow, the shadow partitions' failover policy for every
    /// seed: `standby` or `shadow` (default: `standby` on odd seeds,
    /// `shadow` on even ones, so a batch runs both).
    #[arg(long, value_parser = ["standby", "shadow"])]
    failover_policy: Option<String>,
    /// Routers in the facility (default 2): with one, two routers can never
    /// disagree on which backend is active, so other defects show.
    #[arg(long, default_value_t = 2)]
    routers: usize,
    /// A run that handles more events than this fails as a livelock
    /// (default 3000000; a smaller bound cuts long runs short).
    #[arg(long)]
    max_steps: Option<u64>,
    /// Worker threads (seeds are independent; each run is single-threaded).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Print a line for every seed, not only the failures.
    #[arg(long)]
    all: bool,
    /// Replay the runs that show known, unfixed defects (core/src/sim/known.rs):
    /// passes only when none of them fails any more.
    #[arg(long)]
    known: bool,
}

/// `--known`: each listed run, and whether it still breaks an invariant.
fn known() -> Result<(), String> {
    let mut still = 0;
    for k in sim::known::KNOWN {
        let r = sim::run(k.config());
        let routers = k.routers;
        let faults: Vec<&str> = Faults::NAMES
            .iter()
            .filter(|(n, f)| *n != "all" && *n != "none" && k.faults.has(*f))
            .map(|(n, _)| *n)
            .collect();
        let faults = if faults.is_empty() { "none".to_string() } else { faults.join(",") };
        outln!("{}", k.defect);
        let mode = if k.no_shared_storage { " --no-shared-root --recovery unrecognized" } else { "" };
        let shadow = if k.shadow { " --shadow" } else { "" };
        outln!("  rtr simulate --seed {} --routers {routers} --faults {faults}{mode}{shadow}", k.seed);
        match r.violations.first() {
            Some(v) => {
                still += 1;
                let same = if v.kind == k.kind { "as listed" } else { "listed as another kind" };
                outln!("  still fails ({same}): {}", r.summary());
            }
            None => outln!("  now passes: {}", r.summary()),
        }
    }
    if sim::known::KNOWN.is_empty() {
        outln!("no known failing run is listed (core/src/sim/known.rs): every defect the simulator found is fixed");
        Ok(())
    } else if still == 0 {
        outln!("every known failing run passes now: move them into the regression runs (core/src/sim/tests.rs)");
        Ok(())
    } else {
        Err(format!("{still} of {} known failing runs still fail", sim::known::KNOWN.len()))
    }
}

fn config(a: &SimulateArgs, seed: u64) -> Result<SimConfig, String> {
    let mut c = SimConfig::new(seed);
    c.faults = Faults::parse(&a.faults)?;
    for w in a.ignore.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let kinds: Vec<&str> = ViolationKind::ALL.iter().map(|k| k.name()).collect();
        c.ignore.push(
            ViolationKind::parse(w)
                .ok_or_else(|| format!("unknown violation kind {w:?} (known: {})", kinds.join(", ")))?,
        );
    }
    c.fault_time = a.fault_time * 1_000_000;
    c.fault_every = a.fault_every.max(1) * 1_000;
    c.shared_root = !a.no_shared_root;
    c.unrecognized = a.recovery == "unrecognized";
    c.shadow = a.shadow;
    if a.no_locks {
        if !a.shadow {
            return Err("--no-locks needs --shadow (unshadowed runs take no locks)".into());
        }
        c.locks = Some(false);
    }
    c.failover = match a.failover_policy.as_deref() {
        None => None,
        Some(_) if !a.shadow => return Err("--failover-policy needs --shadow".into()),
        Some("standby") => Some(rtr_core::node::FailoverPolicy::Standby),
        Some(_) => Some(rtr_core::node::FailoverPolicy::Shadow),
    };
    if let Some(m) = a.max_steps {
        if m == 0 {
            return Err("--max-steps must be at least 1".into());
        }
        c.max_steps = m;
    }
    if !(1..=4).contains(&a.routers) {
        return Err(format!("--routers {} is outside 1 to 4", a.routers));
    }
    c.shape.routers = (1..=a.routers).map(|i| format!("tr{i}")).collect();
    Ok(c)
}

pub fn run(a: SimulateArgs) -> Result<(), String> {
    if a.known {
        return known();
    }
    if let Some(seed) = a.seed {
        let mut c = config(&a, seed)?;
        c.verbose = true;
        let r = sim::run(c);
        outln!("{}", r.summary());
        for v in r.violations.iter().skip(1) {
            outln!("  also: {} at {:.6}: {}", v.kind.name(), v.at as f64 / 1e6, v.text);
        }
        return if r.ok() { Ok(()) } else { Err(format!("seed {seed} failed")) };
    }
    config(&a, 0)?; // check the arguments once
    let start = a.start.unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (t.as_nanos() as u64 ^ u64::from(std::process::id())) % 1_000_000_000
    });
    outln!(
        "rtr simulate: seeds {start}..{} ({} faults, {} s of faults each), {} jobs",
        start + a.seeds,
        a.faults,
        a.fault_time,
        a.jobs.max(1)
    );
    let next = AtomicU64::new(start);
    let failed = Mutex::new(Vec::new());
    let totals = Mutex::new((0u64, 0u64, 0u64, 0u64));
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..a.jobs.max(1) {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= start + a.seeds {
                    return;
                }
                let Ok(c) = config(&a, seed) else { return };
                let r = sim::run(c);
                {
                    let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
                    t.0 += r.steps;
                    t.1 += r.faults;
                    t.2 += r.committed + r.rejected + r.unknown;
                    t.3 += r.sim_micros;
                }
                if !r.ok() {
                    outln!("{}", r.summary());
                    failed.lock().unwrap_or_else(|e| e.into_inner()).push(seed);
                } else if a.all {
                    outln!("{}", r.summary());
                }
            });
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    let (steps, faults, txs, sim_us) = *totals.lock().unwrap_or_else(|e| e.into_inner());
    let mut failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
    failed.sort();
    outln!(
        "{} seeds, {} failed; {steps} steps ({:.0} steps/s), {faults} faults, {txs} transactions, {:.0} s simulated in {secs:.1} s",
        a.seeds,
        failed.len(),
        steps as f64 / secs.max(1e-9),
        sim_us as f64 / 1e6
    );
    if failed.is_empty() {
        Ok(())
    } else {
        let list: Vec<String> = failed.iter().map(u64::to_string).collect();
        Err(format!("failing seeds (replay one with --seed N): {}", list.join(" ")))
    }
}
