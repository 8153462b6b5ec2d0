//! A deterministic simulator of whole clusters (ARCHITECTURE §7.1, §8).
//!
//! It runs the real node state machines ([`crate::node::Node`]) of a
//! facility spread over frontends, routers and backends, on one thread and
//! simulated time, with:
//! - a network of links that delay, keep order within a connection, break,
//!   partition one way or both, and heal ([`net`]), carrying bytes between
//!   the real link sessions (`transport::session`: handshake, framing,
//!   pings and the inactivity timer, on the simulated clock), the same
//!   code that runs over TCP and TLS;
//! - the real journal code ([`crate::journal::SteppedJournal`]) on a
//!   simulated device per backend journal under a shared root
//!   ([`crate::journal::storage::sim::SimFs`]): unsynced writes are lost in a
//!   power loss (a prefix survives, the last write torn), a takeover fences
//!   the holder, devices fail ([`journals`]; the record-level model of
//!   [`disk`] remains as `SimConfig::real_journal = false`);
//! - the real runtime policy between a node and its journals
//!   (`runtime::pass`);
//! - bank clients and servers that behave as RTR applications must ([`apps`]);
//! - faults at random: node crashes (kill or power loss, also during start
//!   and journal takeover), freezes, connection resets, partitions, server
//!   and client processes dying, disk errors, operator commands;
//! - invariants checked after every step and at the end ([`check`]).
//!
//! Everything comes from one seed: the same seed gives the same run, event
//! for event (its trace hash proves it), so a failing seed replays exactly
//! (`rtr simulate --seed N --verbose`).

pub mod apps;
pub mod check;
pub mod disk;
pub mod journals;
pub mod known;
pub mod net;
pub mod rng;
mod world;

use std::collections::VecDeque;

pub use check::{Violation, ViolationKind};
use net::Micros;

/// Which kinds of fault a run injects (a bit set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults(pub u32);

impl Faults {
    pub const NONE: Faults = Faults(0);
    /// Node processes killed or machines lost (and restarted).
    pub const CRASH: Faults = Faults(1);
    /// Node processes stopped for a while (SIGSTOP, a long pause).
    pub const FREEZE: Faults = Faults(2);
    /// Connections reset.
    pub const NET: Faults = Faults(4);
    /// Partitions between two nodes, one way or both.
    pub const PARTITION: Faults = Faults(8);
    /// Server processes killed (and restarted).
    pub const SERVER: Faults = Faults(16);
    /// Client processes vanishing.
    pub const CLIENT: Faults = Faults(32);
    /// Journal devices failing a write or sync.
    pub const DISK: Faults = Faults(64);
    /// Operator commands: suspend and resume, priority lists, retry limits,
    /// ignore or restart recovery of a partition waiting for a journal.
    pub const OPERATOR: Faults = Faults(128);
    /// An operator forcing a takeover of a live node's journal
    /// (`rtr journal takeover --force`): the node is fenced.
    pub const TAKEOVER: Faults = Faults(256);
    pub const ALL: Faults = Faults(511);

    pub fn has(self, f: Faults) -> bool {
        self.0 & f.0 != 0
    }

    /// Names, for the command line: crash, freeze, net, partition, server,
    /// client, disk, operator, takeover, all, none.
    pub const NAMES: [(&'static str, Faults); 11] = [
        ("crash", Faults::CRASH),
        ("freeze", Faults::FREEZE),
        ("net", Faults::NET),
        ("partition", Faults::PARTITION),
        ("server", Faults::SERVER),
        ("client", Faults::CLIENT),
        ("disk", Faults::DISK),
        ("operator", Faults::OPERATOR),
        ("takeover", Faults::TAKEOVER),
        ("all", Faults::ALL),
        ("none", Faults::NONE),
    ];

    /// Parse a comma-separated list of names.
    pub fn parse(s: &str) -> Result<Faults, String> {
        let mut f = 0;
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match Faults::NAMES.iter().find(|(n, _)| *n == word) {
                Some((_, x)) => f |= x.0,
                None => {
                    let names: Vec<&str> = Faults::NAMES.iter().map(|(n, _)| *n).collect();
                    return Err(format!("unknown fault kind {word:?} (known: {})", names.join(", ")));
                }
            }
        }
        Ok(Faults(f))
    }
}

/// The cluster: node names per role, and the key ranges with the backends
/// (indices into `backends`) that have servers for each.
#[derive(Clone, Debug)]
pub struct Shape {
    pub frontends: Vec<String>,
    pub routers: Vec<String>,
    pub backends: Vec<String>,
    pub ranges: Vec<(apps::Range, Vec<usize>)>,
    /// Each backend's site (docs/shadow.md), in `backends` order, when the
    /// run shadows its key ranges (`SimConfig::shadow`); empty otherwise.
    pub sites: Vec<String>,
}

impl Shape {
    /// The two-site shape of a shadow run (`SimConfig::shadow`): these
    /// frontends and routers, four backends, be1 and be2 at site `east`,
    /// be3 and be4 at `west`, and the same three key ranges. Every backend
    /// serves every range, so each range has a partition at each site with
    /// a standby within the site. A range's list names the east node that
    /// comes first in the facility's order (its likely active), then a
    /// west node, then the standbys; which node becomes active is the
    /// role authority's doing, not the list's.
    pub fn shadowed(&self) -> Shape {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Shape {
            frontends: self.frontends.clone(),
            routers: self.routers.clone(),
            backends: s(&["be1", "be2", "be3", "be4"]),
            ranges: vec![
                (apps::Range { lo: 0, hi: 99 }, vec![0, 2, 1, 3]),
                (apps::Range { lo: 100, hi: 199 }, vec![1, 3, 0, 2]),
                (apps::Range { lo: 200, hi: 299 }, vec![0, 3, 1, 2]),
            ],
            sites: s(&["east", "east", "west", "west"]),
        }
    }

    /// Backend `b`'s site in a shadow run; `None` in an unshadowed one.
    pub fn site_of(&self, b: usize) -> Option<&str> {
        self.sites.get(b).map(String::as_str)
    }
}

impl Default for Shape {
    /// Two frontends, two routers, three backends; three key ranges, each
    /// with servers on two backends (one active, one standby).
    fn default() -> Shape {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Shape {
            frontends: s(&["fe1", "fe2"]),
            routers: s(&["tr1", "tr2"]),
            backends: s(&["be1", "be2", "be3"]),
            ranges: vec![
                (apps::Range { lo: 0, hi: 99 }, vec![0, 1]),
                (apps::Range { lo: 100, hi: 199 }, vec![1, 2]),
                (apps::Range { lo: 200, hi: 299 }, vec![2, 0]),
            ],
            sites: Vec::new(),
        }
    }
}

/// One run's settings. Times are simulated microseconds.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub shape: Shape,
    pub faults: Faults,
    /// Faults start after this (the cluster forms first).
    pub fault_start: Micros,
    /// Faults are injected for this long.
    pub fault_time: Micros,
    /// Mean time between faults.
    pub fault_every: Micros,
    /// After the faults, clients start new transactions for this long.
    pub settle_new: Micros,
    /// After the faults, the run goes on this long before the end checks.
    pub settle: Micros,
    /// Link inactivity timer.
    pub inactivity: Micros,
    /// The backends' journals are under one shared root (a standby can take
    /// over a lost node's journal).
    pub shared_root: bool,
    /// The backends' recovery policy is *unrecognized*: a partition whose
    /// lost holder's journal cannot be taken over goes active without it
    /// once the holder's grant is gone (`RecoveryPolicy::unrecognized`).
    /// With `shared_root` off this is how backends that share no storage
    /// run (etcd grants, README "Standby backends").
    pub unrecognized: bool,
    /// Two sites (docs/shadow.md, stage 1): the run uses `shape.shadowed()`
    /// (four backends at sites east and west), its servers open with
    /// `RTR_F_OPE_SHADOW`, and the invariants count one active partition per
    /// key range and site, and one primary per key range. Odd seeds run the
    /// `fail_to_standby` failover policy, even ones `fail_to_shadow` (the
    /// default), unless `failover` names one for every seed.
    pub shadow: bool,
    /// The shadow partitions' failover policy for every seed of a shadow
    /// run; `None`: by the seed, as `shadow` says.
    pub failover: Option<crate::node::FailoverPolicy>,
    /// Run the real journal code (`SteppedJournal` on `SimFs` devices)
    /// rather than the record-level model of `disk.rs`.
    pub real_journal: bool,
    pub servers_per_range: usize,
    /// The servers lock the accounts they vote yes on until the outcome,
    /// and vote no on an account another transaction holds
    /// (`Checker::lock`); the end check then also compares the order in
    /// which the two sites applied each account's transactions
    /// (`order-differs`). `None`: on in a shadow run. Off, a run takes the
    /// path it took before locks were modelled (the regression seeds
    /// recorded before then, and `rtr simulate --no-locks`).
    pub locks: Option<bool>,
    /// Every client transaction gets an `rtr_start_tx` timeout. Off by
    /// default: clients without one can deadlock each other (each holds a
    /// server of one key range and waits for one of the next), as RTR
    /// applications without timeouts can (the simulator reports such a
    /// deadlock as `deadlock` and does not fail on it: `check::deadlocked_tids`);
    /// runs that test something else may rule that out.
    pub always_timeout: bool,
    pub clients_per_frontend: usize,
    /// Longest pause of a client between two steps.
    pub think: Micros,
    /// A run that handles more events than this is stuck (a livelock).
    pub max_steps: u64,
    /// Violations of these kinds are counted in the report's `known` but
    /// do not fail the run: to look past a known defect for others.
    pub ignore: Vec<ViolationKind>,
    /// Stop at the first violation (its trace ends there).
    pub stop_at_first: bool,
    /// Print every event as it happens.
    pub verbose: bool,
    /// Record this node's inputs and outputs (its first incarnation) in the
    /// report, to replay it on its own.
    pub record: Option<String>,
}

impl SimConfig {
    /// The settings `cargo test` and `rtr simulate` use by default.
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            shape: Shape::default(),
            faults: Faults::ALL,
            fault_start: 2_000_000,
            fault_time: 20_000_000,
            fault_every: 1_000_000,
            settle_new: 3_000_000,
            settle: 40_000_000,
            inactivity: 2_000_000,
            shared_root: true,
            unrecognized: false,
            shadow: false,
            failover: None,
            real_journal: true,
            servers_per_range: 2,
            locks: None,
            always_timeout: false,
            clients_per_frontend: 2,
            think: 30_000,
            max_steps: 3_000_000,
            ignore: Vec::new(),
            stop_at_first: true,
            verbose: false,
            record: None,
        }
    }
}

/// What a run did and found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub seed: u64,
    /// Events handled.
    pub steps: u64,
    pub faults: u64,
    /// Transactions whose client saw them accepted, rejected, or nothing.
    pub committed: u64,
    pub rejected: u64,
    pub unknown: u64,
    pub sim_micros: Micros,
    pub violations: Vec<Violation>,
    /// Violations of the kinds the run was told to ignore, by kind.
    pub known: Vec<(ViolationKind, u64)>,
    /// A hash of every event handled, in order: equal runs have equal hashes.
    pub trace_hash: u64,
    /// The last events before the end (or the first violation).
    pub recent: Vec<String>,
    /// With `SimConfig::record`: that node's inputs with their times, and
    /// its outputs (`Debug`), in order.
    pub recorded_inputs: Vec<(Micros, crate::node::NodeInput)>,
    pub recorded_outputs: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// One line: seed, outcome, counts.
    pub fn summary(&self) -> String {
        let verdict = match self.violations.first() {
            None => "ok".to_string(),
            Some(v) => format!("FAILED at step {} ({:.3} s): {}: {}", v.step, v.at as f64 / 1e6, v.kind.name(), v.text),
        };
        let known: Vec<String> = self.known.iter().map(|(k, n)| format!("{} x{n}", k.name())).collect();
        let known = if known.is_empty() { String::new() } else { format!(" (ignored: {})", known.join(", ")) };
        format!(
            "seed {}: {verdict}{known} [{} steps, {:.0} s simulated, {} faults, transactions: {} committed, {} rejected, {} without outcome; trace {:016x}]",
            self.seed,
            self.steps,
            self.sim_micros as f64 / 1e6,
            self.faults,
            self.committed,
            self.rejected,
            self.unknown,
            self.trace_hash
        )
    }
}

/// The facility table node `node` of `shape` is started with (one
/// facility, `BANK`, with the shape's role lists).
pub fn facility_table(shape: &Shape, node: &str) -> crate::facility::FacilityTable {
    let def = crate::facility::FacilityDef::new(apps::FACILITY, &shape.frontends, &shape.routers, &shape.backends)
        .expect("a valid simulated facility");
    let mut table = crate::facility::FacilityTable::new(node);
    table.insert(def);
    table
}

/// Run one simulation.
pub fn run(cfg: SimConfig) -> Report {
    let seed = cfg.seed;
    let mut r = world::World::new(cfg).run();
    r.seed = seed;
    r
}

/// The run's event log: a hash of everything, the last lines kept for a
/// failure report, and every line printed when verbose.
pub(crate) struct Trace {
    pub hash: u64,
    recent: VecDeque<String>,
    verbose: bool,
}

const RECENT: usize = 300;

impl Trace {
    fn new(verbose: bool) -> Trace {
        Trace { hash: 0xcbf2_9ce4_8422_2325, recent: VecDeque::new(), verbose }
    }

    fn mix(&mut self, bytes: &[u8]) {
        // FNV-1a: fixed, simple, and the same on every platform.
        for b in bytes {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn line(&mut self, line: String) {
        self.mix(line.as_bytes());
        if self.verbose {
            println!("{line}");
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    fn event(&mut self, at: Micros, ev: &impl std::fmt::Debug) {
        self.line(format!("{:>12.6} {ev:?}", at as f64 / 1e6));
    }

    fn note(&mut self, at: Micros, text: String) {
        self.line(format!("{:>12.6}   {text}", at as f64 / 1e6));
    }

    fn recent(&self) -> Vec<String> {
        self.recent.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests;
