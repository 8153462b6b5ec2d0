//! The simulated world: nodes running the real [`Node`] state machines,
//! their links, their journals, the applications on them, a fault
//! schedule, and one queue of timed events that drives it all on one
//! thread. The run is a pure function of the seed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

use super::apps::{Client, Range, Server, FACILITY};
use super::check::{Checker, ViolationKind};
use super::disk::DiskError;
use super::journals::{Flushed, Journals};
use super::net::{Conn, InFlight, Micros, Pair};
use super::rng::Rng;
use super::{Faults, Report, SimConfig, Trace};
use crate::authority::mem::{MemAuthority, MemHandle};
use crate::authority::Authority;
use crate::facility::{self, FacilityTable};
use crate::keyseg::KeyRange;
use crate::node::{Internal, Node, NodeInput, NodeRef, PeerInfo};
use crate::protocol::admin::PartitionChange;
use crate::protocol::peer::PeerFrame;
use crate::protocol::{ConnId, Request};
use crate::runtime::pass::{
    own_append_done, taken_over_append_done, AppendOutcome, PassPlan, Reaction, RoleStep, TakenOverStep,
};
use crate::transport::links::DEFAULT_HELLO_TIMEOUT;
use crate::transport::session::{Down, Event, Session, Timers};

const MS: Micros = 1_000;
const SEC: Micros = 1_000_000;

/// What an append refused at once means to the runtime's mapping.
fn outcome_of(e: DiskError) -> AppendOutcome {
    match e {
        DiskError::Missing => AppendOutcome::NotHeld,
        DiskError::Fenced => AppendOutcome::Fenced("another owner took the journal over".into()),
        DiskError::Io | DiskError::Locked => AppendOutcome::Failed(format!("{e:?}")),
    }
}

/// An application process: a client or a server, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum App {
    Client(usize),
    Server(usize),
}

#[derive(Debug)]
enum Ev {
    Tick(usize, u32),
    /// Bytes of pair, connection, direction are due.
    Arrive(usize, u64, usize),
    /// The link session of pair, connection, end wants a tick.
    SessionTick(usize, u64, usize),
    /// The connection of pair, connection is reset under end (a killed
    /// peer's kernel, a network reset).
    Reset(usize, u64, usize),
    Dial(usize),
    Synced(String),
    TakeoverDone(usize, u32, String, u32),
    /// The role authority's answer to a claim reaches its node.
    Claimed(usize, u32, String, Result<crate::authority::Claim, String>),
    /// The role authority's answer to a holder check (range, epoch).
    HolderChecked(usize, u32, String, u64, Result<bool, String>),
    /// The role authority's answer to a note read (range, the claim answer
    /// it was read for, the note).
    NoteRead(usize, u32, String, Option<crate::authority::Claim>, Result<Option<String>, String>),
    Wake(App),
    Fault,
    Boot(usize),
    Crash(usize, u32),
    StartServer(usize, u32, usize),
    StartClient(usize, u32),
    Heal(usize),
    Resume(usize, u32, u64),
    FenceCheck(usize, u32),
    /// The idle check of a taken-over journal's writer (node, incarnation,
    /// journal id, the journal's node name): fenced by a later taker, it
    /// ends its ownership and lets the lock go.
    ReaderFenceCheck(usize, u32, u32, String),
    Unfull(String),
    /// The operator presents again every transaction set aside by the
    /// retry limit (`rtr set transaction TID --retry`).
    RetryExceptions,
    /// The operator turns key range `r`'s shadowing on again (`rtr set
    /// partition --shadow`) at a node with a partition of it.
    ShadowOn(usize),
    /// The operator turns shadowing off (`--noshadow`) at a shadow primary
    /// running alone, if there is one.
    ShadowOff,
    EndFaults,
    StopNew,
}

impl Ev {
    /// The node whose process handles the event (a frozen one handles it
    /// when it wakes).
    fn target(&self, w: &World) -> Option<usize> {
        match self {
            Ev::Tick(n, _) | Ev::TakeoverDone(n, ..) | Ev::StartServer(n, ..) | Ev::StartClient(n, _) => Some(*n),
            Ev::Claimed(n, ..) | Ev::HolderChecked(n, ..) | Ev::NoteRead(n, ..) => Some(*n),
            Ev::Resume(n, ..) | Ev::Crash(n, _) | Ev::FenceCheck(n, _) | Ev::ReaderFenceCheck(n, ..) => Some(*n),
            Ev::SessionTick(p, _, e) | Ev::Reset(p, _, e) => Some(w.pairs[*p].ends[*e]),
            Ev::Arrive(p, _, d) => Some(w.pairs[*p].ends[1 - *d]),
            Ev::Wake(App::Client(c)) => w.clients.get(*c).and_then(|c| c.as_ref()).map(|c| c.node),
            Ev::Wake(App::Server(s)) => w.servers.get(*s).and_then(|s| s.as_ref()).map(|s| s.node),
            Ev::Synced(j) => w.disk.flush_target(j).filter(|n| *n < w.nodes.len()),
            _ => None,
        }
    }
}

struct Scheduled {
    at: Micros,
    /// 0 for events put off while their node was frozen: at one instant
    /// they come before new ones, in the order they were first due.
    class: u8,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.class, self.seq) == (o.at, o.class, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.class, self.seq).cmp(&(o.at, o.class, o.seq))
    }
}

/// One node of the cluster: its process (if running) and what survives it.
struct SimNode {
    name: String,
    id: u32,
    backend: bool,
    frontend: bool,
    table: FacilityTable,
    /// The key ranges this node has servers for.
    serves: Vec<usize>,
    node: Option<Node>,
    /// Counts starts; 0 before the first.
    inc: u32,
    frozen_until: Micros,
    next_ref: NodeRef,
    refs: BTreeMap<NodeRef, (usize, u64)>,
    tick_at: Option<Micros>,
    next_conn: ConnId,
    apps: BTreeMap<ConnId, App>,
    /// Its journal refuses new transactions until then (journal full).
    full_until: Micros,
    /// Its process's handle on the role authority.
    auth: Option<MemHandle>,
    /// A backend's site in a shadow run (`Node::set_site` at every start).
    site: Option<String>,
}

pub(super) struct World {
    cfg: SimConfig,
    rng: Rng,
    base: Instant,
    now: Micros,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: Vec<SimNode>,
    pairs: Vec<Pair>,
    disk: Journals,
    /// The role authority the backends share (a shared journal root's, as
    /// a model: a process's locks go when it ends, a frozen one keeps them).
    authority: MemAuthority,
    /// Key ranges whose shadowing an operator turned off during the run
    /// (`SET PARTITION /NOSHADOW`): their sites are not compared at the end.
    unshadowed: std::collections::BTreeSet<usize>,
    /// When each journal's last queued sync completes (syncs finish in order).
    sync_due: BTreeMap<String, Micros>,
    clients: Vec<Option<Client>>,
    servers: Vec<Option<Server>>,
    woken: BTreeMap<App, bool>,
    ranges: Vec<Range>,
    key_ranges: Vec<KeyRange>,
    chk: Checker,
    next_conn_id: u64,
    faults_on: bool,
    stop_new: bool,
    two_actives_seen: std::collections::BTreeSet<String>,
    /// The node (and incarnation) whose inputs and outputs are recorded.
    recording: Option<(usize, u32)>,
    pub(super) trace: Trace,
    pub(super) report: Report,
}

impl World {
    pub(super) fn new(mut cfg: SimConfig) -> World {
        if cfg.shadow {
            cfg.shape = cfg.shape.shadowed();
        }
        let cfg_real_journal = cfg.real_journal;
        let mut rng = Rng::new(cfg.seed);
        let shape = cfg.shape.clone();
        let names: Vec<String> = shape.frontends.iter().chain(&shape.routers).chain(&shape.backends).cloned().collect();
        let mut nodes = Vec::new();
        for name in &names {
            let table = super::facility_table(&shape, name);
            let b = shape.backends.iter().position(|x| x == name);
            nodes.push(SimNode {
                name: name.clone(),
                id: facility::node_id(name),
                backend: b.is_some(),
                frontend: shape.frontends.contains(name),
                table,
                serves: b.map_or_else(Vec::new, |b| {
                    (0..shape.ranges.len()).filter(|r| shape.ranges[*r].1.contains(&b)).collect()
                }),
                node: None,
                inc: 0,
                frozen_until: 0,
                next_ref: 1,
                refs: BTreeMap::new(),
                tick_at: None,
                next_conn: 1,
                apps: BTreeMap::new(),
                full_until: 0,
                auth: None,
                site: b.and_then(|b| shape.site_of(b)).map(str::to_string),
            });
        }
        // Links: every pair the definition calls for (frontend-router,
        // router-backend); the name that sorts first dials.
        let mut pairs = Vec::new();
        for a in 0..nodes.len() {
            for b in a + 1..nodes.len() {
                if nodes[a].table.link_peers().contains(&nodes[b].name) {
                    let ends = if nodes[a].name < nodes[b].name { [a, b] } else { [b, a] };
                    pairs.push(Pair { ends, conns: Vec::new(), blocked: [false, false], dialing: false });
                }
            }
        }
        let ranges: Vec<Range> = shape.ranges.iter().map(|r| r.0).collect();
        let mut chk = Checker::new(ranges.len());
        chk.ignore = cfg.ignore.clone();
        chk.locking = cfg.locks.unwrap_or(cfg.shadow);
        let trace = Trace::new(cfg.verbose);
        let fork = rng.fork();
        let mut w = World {
            cfg,
            rng: fork,
            base: Instant::now(),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            pairs,
            disk: Journals::new(cfg_real_journal),
            authority: MemAuthority::new(),
            unshadowed: std::collections::BTreeSet::new(),
            sync_due: BTreeMap::new(),
            clients: Vec::new(),
            servers: Vec::new(),
            woken: BTreeMap::new(),
            key_ranges: ranges.iter().map(Range::key_range).collect(),
            ranges,
            chk,
            next_conn_id: 1,
            faults_on: false,
            stop_new: false,
            two_actives_seen: Default::default(),
            recording: None,
            trace,
            report: Report::default(),
        };
        // Nodes start in a random order over the first half second: links
        // come up in a different order in every run.
        for i in 0..w.nodes.len() {
            let at = w.rng.below(500 * MS);
            w.at(at, Ev::Boot(i));
        }
        if w.cfg.faults != Faults::NONE {
            let first = w.cfg.fault_start;
            w.at(first, Ev::Fault);
            w.faults_on = true;
        }
        let end_faults = w.cfg.fault_start + w.cfg.fault_time;
        w.at(end_faults, Ev::EndFaults);
        w.at(end_faults + w.cfg.settle_new, Ev::StopNew);
        w
    }

    fn instant(&self) -> Instant {
        self.base + Duration::from_micros(self.now)
    }

    fn at(&mut self, at: Micros, ev: Ev) {
        self.push(at, 1, ev);
    }

    fn after(&mut self, d: Micros, ev: Ev) {
        self.push(self.now + d, 1, ev);
    }

    fn push(&mut self, at: Micros, class: u8, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { at: at.max(self.now), class, seq: self.seq, ev }));
    }

    fn up(&self, i: usize) -> bool {
        self.nodes[i].node.is_some()
    }

    /// Run to the end; returns the report.
    pub(super) fn run(mut self) -> Report {
        let end = self.cfg.fault_start + self.cfg.fault_time + self.cfg.settle;
        self.run_until(end);
        self.finish(end)
    }

    /// Handle the events due until `end` (fewer after a violation, when
    /// the run stops at the first).
    fn run_until(&mut self, end: Micros) {
        while let Some(Reverse(s)) = self.queue.pop() {
            if s.at > end {
                self.queue.push(Reverse(s));
                break;
            }
            self.now = s.at;
            if let Some(n) = s.ev.target(self) {
                if self.nodes[n].frozen_until > self.now {
                    let until = self.nodes[n].frozen_until;
                    self.push(until, 0, s.ev);
                    continue;
                }
            }
            self.report.steps += 1;
            if self.report.steps > self.cfg.max_steps {
                let text = format!("more than {} steps: something loops without time passing", self.cfg.max_steps);
                self.chk.violate(ViolationKind::Livelock, text);
                break;
            }
            self.chk.now = self.now;
            self.chk.step = self.report.steps;
            self.trace.event(self.now, &s.ev);
            self.handle(s.ev);
            self.check_actives();
            if self.cfg.shadow {
                self.check_primaries();
            }
            if self.cfg.stop_at_first && !self.chk.violations.is_empty() {
                break;
            }
        }
    }

    /// Run on to `end`, then the end checks (a test's shorter run).
    #[cfg(test)]
    fn finish_after(mut self, end: Micros) -> Report {
        self.run_until(end);
        self.finish(end)
    }

    /// The end checks, and the report.
    fn finish(mut self, end: Micros) -> Report {
        self.now = self.now.max(end);
        if self.chk.violations.is_empty() || !self.cfg.stop_at_first {
            let waiting: Vec<_> = self.clients.iter().flatten().filter_map(Client::waiting_on).collect();
            let timed: std::collections::BTreeSet<_> =
                self.clients.iter().flatten().filter(|c| c.has_timeout()).filter_map(Client::waiting_on).collect();
            let waits: Vec<_> = self
                .nodes
                .iter()
                .filter(|n| n.backend)
                .filter_map(|n| n.node.as_ref())
                .flat_map(|node| node.server_waits())
                .collect();
            let deadlocked = super::check::deadlocked_tids(&waits, &timed);
            self.chk.finish(&waiting, &deadlocked);
            if self.cfg.shadow {
                self.chk.sites_agree(&deadlocked, &self.unshadowed);
            }
            for problem in self.disk.verify() {
                self.chk.violate(ViolationKind::JournalCorrupt, problem);
            }
        }
        if self.cfg.verbose {
            for line in self.disk.live_summary() {
                self.trace.note(self.now, line);
            }
        }
        self.report.sim_micros = self.now;
        self.report.violations = std::mem::take(&mut self.chk.violations);
        self.report.known = self.chk.known.iter().map(|(k, n)| (*k, *n)).collect();
        for (tid, tx) in &self.chk.txs {
            let _ = tid;
            match tx.client_saw {
                Some(true) => self.report.committed += 1,
                Some(false) => self.report.rejected += 1,
                None => self.report.unknown += 1,
            }
        }
        self.report.trace_hash = self.trace.hash;
        self.report.recent = self.trace.recent();
        self.report
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Tick(i, inc) => {
                // Due (at its time, or later when the node was frozen then
                // and runs it as it wakes); an earlier tick this one replaced
                // finds `tick_at` later than now and does nothing.
                if self.nodes[i].inc == inc && self.nodes[i].tick_at.is_some_and(|t| t <= self.now) {
                    self.nodes[i].tick_at = None;
                    self.input(i, NodeInput::Tick);
                }
            }
            Ev::Arrive(p, cid, d) => self.arrive(p, cid, d),
            Ev::SessionTick(p, cid, e) => self.session_tick(p, cid, e),
            Ev::Reset(p, cid, e) => self.reset(p, cid, e),
            Ev::Dial(p) => self.dial(p),
            Ev::Synced(j) => self.synced(&j),
            Ev::TakeoverDone(i, inc, lost, jid) => self.takeover_done(i, inc, lost, jid),
            Ev::HolderChecked(i, inc, range, epoch, result) => {
                if self.nodes[i].inc == inc && self.up(i) {
                    self.input(i, NodeInput::HolderChecked { range, epoch, result });
                }
            }
            Ev::Claimed(i, inc, range, result) => {
                if self.nodes[i].inc == inc && self.up(i) {
                    self.input(i, NodeInput::Claimed { range, result });
                }
            }
            Ev::NoteRead(i, inc, range, then, result) => {
                if self.nodes[i].inc == inc && self.up(i) {
                    self.input(i, NodeInput::NoteRead { range, then, result });
                }
            }
            Ev::Wake(app) => self.wake(app),
            Ev::Fault => self.fault(),
            Ev::Boot(i) => self.boot(i),
            Ev::Crash(i, inc) => {
                // Not once the faults stopped: a crash set up for a start
                // just before then left the node down for good (seed 7367
                // with one router: its only router, so nothing finished).
                if self.faults_on && self.nodes[i].inc == inc && self.up(i) {
                    self.report.faults += 1;
                    self.crash(i, true, "crashed during its start or a takeover");
                }
            }
            Ev::StartServer(i, inc, r) => self.start_server(i, inc, r),
            Ev::StartClient(i, inc) => self.start_client(i, inc),
            Ev::Heal(p) => {
                self.pairs[p].blocked = [false, false];
                self.trace.note(self.now, format!("partition of {} healed", self.pair_name(p)));
                self.schedule_dial(p, 0);
            }
            Ev::ShadowOff => {
                self.shadow_off_somewhere();
            }
            Ev::ShadowOn(r) => {
                // At any live backend with a partition of the range: the
                // primary's node, a standby, or the other site's.
                let at: Vec<(usize, u64)> = (0..self.nodes.len())
                    .filter(|i| self.nodes[*i].backend && self.up(*i))
                    .filter_map(|i| self.partition_of(i, r).map(|p| (i, p)))
                    .collect();
                if at.is_empty() {
                    self.after(SEC, Ev::ShadowOn(r));
                } else {
                    let (i, part) = at[self.rng.index(at.len())];
                    if !self.set_shadowing(i, part, true) {
                        self.after(SEC, Ev::ShadowOn(r));
                    }
                }
            }
            Ev::Resume(i, inc, part) => {
                if self.nodes[i].inc == inc {
                    let change = PartitionChange::Resume;
                    self.input(i, NodeInput::SetPartition { facility: FACILITY.into(), id: part, change });
                }
            }
            Ev::FenceCheck(i, inc) => {
                let name = self.nodes[i].name.clone();
                let lost = if self.nodes[i].inc == inc && self.up(i) {
                    self.disk.check_owner(&name, (i, inc, 0)).err()
                } else {
                    None
                };
                if let Some(why) = lost {
                    self.crash(i, true, &format!("stops (idle ownership check): {why}"));
                    let d = self.rng.range(300 * MS, 3 * SEC);
                    self.after(d, Ev::Boot(i));
                }
            }
            Ev::ReaderFenceCheck(i, inc, jid, name) => {
                // The lock goes, and the node hears of it at once: the
                // runtime sets a loss hook on a taken-over journal
                // (`Driver::take_over`), as on its own.
                if self.nodes[i].inc == inc && self.up(i) && self.disk.check_owner(&name, (i, inc, jid)).is_err() {
                    self.input(i, NodeInput::TakenOverLost { jid });
                }
            }
            Ev::Unfull(name) => self.disk.set_full(&name, false),
            Ev::RetryExceptions => self.retry_exceptions(),
            Ev::EndFaults => self.end_faults(),
            Ev::StopNew => {
                self.stop_new = true;
                for c in self.clients.iter_mut().flatten() {
                    c.stop_new = true;
                }
            }
        }
    }

    // ---- nodes -------------------------------------------------------

    /// Give node `i` one input, then carry out what it asked.
    /// Turn shadowing off at one shadow primary running alone, if any (on
    /// again after a while): true if done.
    fn shadow_off_somewhere(&mut self) -> bool {
        let mut alone: Vec<(usize, u64, usize)> = Vec::new();
        for j in (0..self.nodes.len()).filter(|j| self.nodes[*j].backend && self.up(*j)) {
            let Some(node) = self.nodes[j].node.as_ref() else { continue };
            for p in node.show_partitions().0 {
                if p.facility != FACILITY || p.state != crate::protocol::admin::PartitionState::Remember {
                    continue;
                }
                if let Some(r) = self.key_ranges.iter().position(|k| k.to_string() == p.range) {
                    alone.push((j, p.id, r));
                }
            }
        }
        if alone.is_empty() {
            return false;
        }
        let (j, part, r) = alone[self.rng.index(alone.len())];
        if !self.set_shadowing(j, part, false) {
            return false;
        }
        self.unshadowed.insert(r);
        let d = self.rng.range(200 * MS, 8 * SEC);
        self.after(d, Ev::ShadowOn(r));
        true
    }

    /// Node `i`'s partition of key range `r` in the facility, if any.
    fn partition_of(&self, i: usize, r: usize) -> Option<u64> {
        let text = self.key_ranges.get(r)?.to_string();
        let node = self.nodes[i].node.as_ref()?;
        node.show_partitions().0.into_iter().find(|p| p.facility == FACILITY && p.range == text).map(|p| p.id)
    }

    /// `rtr set partition --shadow|--noshadow` at node `i`, as its runtime
    /// does it (the node's word, the role authority's note, the node
    /// follows): true if done.
    fn set_shadowing(&mut self, i: usize, part: u64, on: bool) -> bool {
        let Some(node) = self.nodes[i].node.as_ref() else { return false };
        let note = match node.shadowing_note(FACILITY, part, on) {
            Ok(note) => note,
            Err(e) => {
                let name = &self.nodes[i].name;
                self.trace.note(self.now, format!("operator: {name} partition {part}: shadowing {on}: {e}"));
                return false;
            }
        };
        if let Some((range, note)) = note {
            let Some(auth) = self.nodes[i].auth.as_mut() else { return false };
            if let Err(e) = auth.set_note(&range, note.as_deref()) {
                let name = &self.nodes[i].name;
                self.trace.note(self.now, format!("operator: {name} partition {part}: shadowing {on}: {e}"));
                return false;
            }
        }
        let name = &self.nodes[i].name;
        self.trace
            .note(self.now, format!("operator: {name} partition {part}: shadowing {}", if on { "on" } else { "off" }));
        self.input(i, NodeInput::SetShadowing { facility: FACILITY.into(), id: part, on });
        true
    }

    fn input(&mut self, i: usize, input: NodeInput) {
        // The runtime keeps the node's grants live between passes and
        // tells it at once of one it lost.
        let lost = self.nodes[i].auth.as_mut().map(|a| a.maintain()).unwrap_or_default();
        for (range, epoch) in lost {
            self.call(i, NodeInput::RoleLost { range, epoch });
        }
        self.call(i, input);
        self.drain(i);
    }

    /// Give node `i` one input (recorded when the run records this node).
    fn call(&mut self, i: usize, input: NodeInput) {
        let now = self.instant();
        let inc = self.nodes[i].inc;
        let Some(n) = self.nodes[i].node.as_mut() else { return };
        if self.recording == Some((i, inc)) {
            self.report.recorded_inputs.push((self.now, input.clone()));
        }
        let _ = n.handle(now, input);
    }

    /// Carry out node `i`'s outputs (and any that doing so produces), as the
    /// runtime does: one pass's outputs become a plan (`runtime::pass`, the
    /// same code the embedded node and the daemon run), executed in the
    /// runtime's order: taken-over journals and log lines, peer messages,
    /// appends to the node's own journal, deliveries, takeovers.
    fn drain(&mut self, i: usize) {
        loop {
            let Some(n) = self.nodes[i].node.as_mut() else { return };
            let outputs = n.take_output();
            if outputs.is_empty() {
                break;
            }
            let inc = self.nodes[i].inc;
            if self.recording == Some((i, inc)) {
                self.report.recorded_outputs.extend(outputs.iter().map(|o| format!("{o:?}")));
            }
            let limit = if self.nodes[i].backend { self.disk.append_limit() } else { u64::MAX };
            let plan = PassPlan::of(outputs, limit);
            let mut reactions: Vec<Reaction> = Vec::new();
            for step in plan.taken_over {
                match step {
                    TakenOverStep::Append { jid, append } => {
                        let token = append.tokens.first().copied();
                        let Some(name) = self.disk.held(i, inc, jid) else {
                            reactions.extend(taken_over_append_done(AppendOutcome::NotHeld, jid, token));
                            continue;
                        };
                        let sync = append.sync;
                        match self.disk.append(&name, (i, inc, jid), append.entries, sync, append.tokens, append.tids) {
                            Ok(need) => self.schedule_flush(name, need, sync),
                            Err(e) => reactions.extend(taken_over_append_done(outcome_of(e), jid, token)),
                        }
                    }
                    TakenOverStep::Release { jid } => {
                        let tokens = self.disk.release(i, inc, jid);
                        if !tokens.is_empty() {
                            reactions.push(Reaction::Done(tokens, Ok(())));
                        }
                    }
                }
            }
            for (_, text) in plan.logs {
                self.trace.note(self.now, format!("{} log: {text}", self.nodes[i].name));
            }
            for (peer, msgs) in plan.peers {
                self.send_peer(i, peer, msgs);
            }
            for a in plan.own {
                if a.new_tx && self.nodes[i].full_until > self.now && !self.disk.is_real() {
                    // The record model's full journal refuses new transactions.
                    reactions.extend(own_append_done(AppendOutcome::Full, a.tokens, a.tids));
                    continue;
                }
                let name = self.nodes[i].name.clone();
                let (tokens, tids) = (a.tokens.clone(), a.tids.clone());
                match self.disk.append(&name, (i, inc, 0), a.entries, a.sync, a.tokens, a.tids) {
                    Ok(need) => self.schedule_flush(name, need, a.sync),
                    Err(e) => reactions.extend(own_append_done(outcome_of(e), tokens, tids)),
                }
            }
            for (conn, deliveries) in plan.deliveries {
                let Some(app) = self.nodes[i].apps.get(&conn).copied() else { continue };
                for delivery in deliveries {
                    if self.cfg.verbose {
                        let line = format!(
                            "{}/{conn} <- {:?} {:?} {:?}",
                            self.nodes[i].name, delivery.msgtype, delivery.tid, delivery.payload
                        );
                        self.trace.note(self.now, line);
                    }
                    match app {
                        App::Client(c) => {
                            if let Some(c) = self.clients[c].as_mut() {
                                c.inbox.push_back(delivery);
                            }
                        }
                        App::Server(s) => {
                            if let Some(s) = self.servers[s].as_mut() {
                                s.inbox.push_back(delivery);
                            }
                        }
                    }
                }
                self.schedule_wake(app);
            }
            for step in plan.roles {
                let Some(auth) = self.nodes[i].auth.as_mut() else { continue };
                match step {
                    RoleStep::Claim { range, force_over } => {
                        // Decided when asked; the answer takes a round trip.
                        let result = auth.claim(&range, force_over).map_err(|e| e.to_string());
                        // A standby's claims every 100 ms are noise; grants, forced claims and errors are not.
                        if force_over.is_some() || !matches!(result, Ok(crate::authority::Claim::Held(_))) {
                            self.trace.note(self.now, format!("{} claims {range}: {result:?}", self.nodes[i].name));
                        }
                        let d = self.rng.range(100, 2 * MS);
                        self.after(d, Ev::Claimed(i, inc, range, result));
                    }
                    RoleStep::CheckHolder { range, epoch } => {
                        // Decided when asked, as claims are: a holder gone
                        // then cannot hold that grant's lock again.
                        let result = auth.holder_gone(&range, epoch).map_err(|e| e.to_string());
                        if result != Ok(false) {
                            let name = &self.nodes[i].name;
                            self.trace
                                .note(self.now, format!("{name} checks the holder of {range} {epoch}: {result:?}"));
                        }
                        let d = self.rng.range(100, 2 * MS);
                        self.after(d, Ev::HolderChecked(i, inc, range, epoch, result));
                    }
                    RoleStep::ReadNote { range, then } => {
                        // Decided when asked, as claims are.
                        let result = auth.note(&range).map_err(|e| e.to_string());
                        if result != Ok(None) {
                            let name = &self.nodes[i].name;
                            self.trace.note(self.now, format!("{name} reads the note of {range}: {result:?}"));
                        }
                        let d = self.rng.range(100, 2 * MS);
                        self.after(d, Ev::NoteRead(i, inc, range, then, result));
                    }
                    RoleStep::Release { range, epoch } => {
                        let _ = auth.release(&range, epoch);
                    }
                    RoleStep::Activate { range, epoch } => {
                        let _ = auth.activate(&range, epoch);
                    }
                }
            }
            for (node, jid) in plan.takeovers {
                let d = self.rng.range(MS, 30 * MS);
                if self.faults_on && self.cfg.faults.has(Faults::CRASH) && self.rng.chance(0.1) {
                    let c = self.rng.below(d + MS);
                    self.after(c, Ev::Crash(i, inc));
                }
                self.after(d, Ev::TakeoverDone(i, inc, node, jid));
            }
            if !self.react(i, reactions) {
                return;
            }
        }
        self.schedule_tick(i);
    }

    /// Give node `i` what its journals said (the runtime's reactions).
    /// Returns false if the node stopped.
    fn react(&mut self, i: usize, reactions: Vec<Reaction>) -> bool {
        for r in reactions {
            match r {
                Reaction::Done(tokens, result) => {
                    for token in tokens {
                        self.call(i, NodeInput::JournalDone { token, result });
                    }
                }
                Reaction::Failed(tids, status) => self.call(i, NodeInput::JournalFailed { tids, status }),
                Reaction::Lost(jid) => self.call(i, NodeInput::TakenOverLost { jid }),
                Reaction::Log(text) => self.trace.note(self.now, format!("{} log: {text}", self.nodes[i].name)),
                Reaction::Fatal(why) => {
                    // The runtime stops a node whose journal failed or was
                    // taken over (its process exits); a supervisor starts it again.
                    self.crash(i, true, &format!("stops: {why}"));
                    let d = self.rng.range(300 * MS, 3 * SEC);
                    self.after(d, Ev::Boot(i));
                    return false;
                }
            }
        }
        true
    }

    /// A journal's flush is due (its sync, or its queued appends).
    fn schedule_flush(&mut self, name: String, need: bool, sync: bool) {
        if !need {
            return;
        }
        // The real writer takes what is queued at once and syncs only if an
        // append asked for it.
        let lat = if sync || !self.disk.is_real() { self.fsync_latency() } else { self.rng.range(5, 50) };
        let due = self.sync_due.get(&name).copied().unwrap_or(0).max(self.now + lat);
        self.sync_due.insert(name.clone(), due);
        self.at(due, Ev::Synced(name));
    }

    fn schedule_tick(&mut self, i: usize) {
        let Some(n) = self.nodes[i].node.as_ref() else { return };
        let Some(d) = n.next_deadline() else { return };
        let at = (d.saturating_duration_since(self.base).as_micros() as Micros).max(self.now);
        if self.nodes[i].tick_at.is_none_or(|t| at < t) {
            self.nodes[i].tick_at = Some(at);
            let inc = self.nodes[i].inc;
            self.at(at, Ev::Tick(i, inc));
        }
    }

    fn fsync_latency(&mut self) -> Micros {
        if self.rng.chance(0.02) {
            self.rng.range(2 * MS, 20 * MS)
        } else {
            self.rng.range(80, 400)
        }
    }

    fn boot(&mut self, i: usize) {
        if self.up(i) {
            return;
        }
        let inc = self.nodes[i].inc + 1;
        let mut node = Node::new(self.nodes[i].backend);
        node.set_facilities(self.nodes[i].table.clone());
        if let Some(site) = self.nodes[i].site.as_deref() {
            // Before any server opens: a shadow partition takes its site
            // when it is made.
            node.set_site(Some(site)).expect("a valid site name");
        }
        if self.cfg.shadow {
            // Both failover policies in every batch of seeds: odd seeds
            // fail over to a standby of the primary's site, even ones to
            // the shadow (the default), unless the run names one.
            use crate::node::FailoverPolicy;
            let by_seed = if self.cfg.seed % 2 == 1 { FailoverPolicy::Standby } else { FailoverPolicy::Shadow };
            node.set_failover_policy(self.cfg.failover.unwrap_or(by_seed));
        }
        if self.cfg.unrecognized {
            node.set_recovery_policy(crate::node::RecoveryPolicy { unrecognized: true, ..Default::default() });
        }
        let records = if self.nodes[i].backend {
            match self.disk.open_own(&self.nodes[i].name.clone(), (i, inc, 0)) {
                Ok(opened) => opened,
                Err(e) => {
                    // Held by the node that took it over: try again later,
                    // as a supervisor would.
                    self.trace.note(self.now, format!("{} cannot start: journal: {e}", self.nodes[i].name));
                    let d = self.rng.range(500 * MS, 2 * SEC);
                    self.after(d, Ev::Boot(i));
                    return;
                }
            }
        } else {
            (Vec::new(), 0)
        };
        let (records, epoch) = records;
        let n = &mut self.nodes[i];
        n.inc = inc;
        n.next_ref = 1;
        n.refs.clear();
        n.tick_at = None;
        n.next_conn = 1;
        n.apps.clear();
        n.frozen_until = 0;
        self.trace.note(self.now, format!("{} starts (incarnation {inc}, {} journal records)", n.name, records.len()));
        self.nodes[i].node = Some(node);
        self.nodes[i].auth = Some(self.authority.handle(&self.nodes[i].name));
        if self.cfg.record.as_deref() == Some(self.nodes[i].name.as_str()) && self.recording.is_none() {
            // The first incarnation of the recorded node, from its start.
            self.recording = Some((i, inc));
        }
        self.input(i, NodeInput::Recover { records, epoch });
        if self.faults_on && self.cfg.faults.has(Faults::CRASH) && self.rng.chance(0.1) {
            // A crash during recovery or while links come up.
            let d = self.rng.below(200 * MS);
            self.after(d, Ev::Crash(i, inc));
        }
        for r in self.nodes[i].serves.clone() {
            for _ in 0..self.cfg.servers_per_range {
                let d = self.rng.range(MS, 100 * MS);
                self.after(d, Ev::StartServer(i, inc, r));
            }
        }
        if self.nodes[i].frontend {
            for _ in 0..self.cfg.clients_per_frontend {
                let d = self.rng.range(MS, 100 * MS);
                self.after(d, Ev::StartClient(i, inc));
            }
        }
        for p in 0..self.pairs.len() {
            if self.pairs[p].end_of(i).is_some() {
                let d = self.rng.range(0, 100 * MS);
                self.schedule_dial(p, d);
            }
        }
    }

    /// Node `i`'s process ends. `fast`: its peers see its links close at
    /// once (the kernel resets them); otherwise only their inactivity
    /// timers notice (a machine that lost power or a cable).
    fn crash(&mut self, i: usize, fast: bool, why: &str) {
        if !self.up(i) {
            return;
        }
        self.trace.note(self.now, format!("{} {why}", self.nodes[i].name));
        self.nodes[i].node = None;
        self.nodes[i].frozen_until = 0;
        self.nodes[i].tick_at = None;
        // The kernel drops a dead process's locks.
        self.nodes[i].auth = None;
        self.authority.process_ended(&self.nodes[i].name);
        // A killed process leaves its page cache to the kernel; a machine
        // that lost power loses what was not synced.
        self.disk.died(i, !fast, &mut self.rng);
        // Its applications go with it (daemon mode: their connections close).
        for (_, app) in std::mem::take(&mut self.nodes[i].apps) {
            self.app_gone(app);
        }
        for p in 0..self.pairs.len() {
            let Some(e) = self.pairs[p].end_of(i) else { continue };
            let cids: Vec<u64> = self.pairs[p].conns.iter().map(|c| c.id).collect();
            for cid in cids {
                let Some(conn) = self.pairs[p].conn(cid) else { continue };
                // Its end is gone with it; the other end sees a reset (a
                // killed process's kernel closes its sockets) or, for a
                // lost machine, hears nothing more and drops the link at
                // its inactivity timer.
                conn.sessions[e] = None;
                conn.refs[e] = None;
                conn.tick_at[e] = None;
                conn.queue[1 - e].clear();
                let mut resets = [None, None];
                if fast {
                    resets[1 - e] = Some(self.now + self.rng.range(200, 5 * MS));
                }
                let cutoff = [self.now, self.now];
                self.break_conn(p, cid, resets, cutoff);
            }
        }
    }

    fn takeover_done(&mut self, i: usize, inc: u32, lost: String, jid: u32) {
        if self.nodes[i].inc != inc || !self.up(i) {
            return;
        }
        let result = if !self.cfg.shared_root {
            Err("this node has no shared journal directory".to_string())
        } else {
            match self.disk.take_over(&lost, (i, inc, jid), &mut self.rng) {
                Ok((records, fenced, epoch)) => {
                    self.fenced(fenced, &lost);
                    self.trace.note(
                        self.now,
                        format!("{} took over the journal of {lost} ({} records)", self.nodes[i].name, records.len()),
                    );
                    Ok(crate::node::JournalRead { jid, epoch, records })
                }
                Err(e) => Err(format!("cannot take over {lost}: {e}")),
            }
        };
        self.input(i, NodeInput::TakeoverDone { node: lost, result });
    }

    /// A holder lost its journal to a takeover. The real journal writer
    /// of an idle owner re-reads the epoch after a second without
    /// requests and stops the node; a busy one finds out at its next sync.
    ///
    /// A reader of another node's journal (`jid` not 0) fenced by a later
    /// taker finds out the same way: its journal's writer thread re-reads
    /// the epoch after a second without requests (`IDLE_CHECK`), ends its
    /// ownership and drops the lock. Not modelled, the fenced reader kept
    /// the lock for as long as it held work of that journal (an in-doubt
    /// copy waiting for an outcome), and the journal's owner could never
    /// start again: a probe that waited for that owner waited for ever
    /// (simulator seed 58934, two routers: no outcome). A fixed delay,
    /// drawing nothing from the run's random stream.
    fn fenced(&mut self, holder: Option<(usize, u32, u32)>, journal: &str) {
        match holder.filter(|h| h.0 < self.nodes.len()) {
            Some((i, inc, 0)) => {
                let d = self.rng.range(MS, SEC + 100 * MS);
                self.after(d, Ev::FenceCheck(i, inc));
            }
            Some((i, inc, jid)) => self.after(SEC, Ev::ReaderFenceCheck(i, inc, jid, journal.to_string())),
            None => {}
        }
    }

    /// A journal's flush completed: its appends' outcomes reach their
    /// holders, through the runtime's mapping.
    fn synced(&mut self, name: &str) {
        for d in self.disk.flush(name) {
            let (i, inc, jid) = d.holder;
            if self.nodes.get(i).is_none_or(|n| n.inc != inc) || !self.up(i) {
                continue;
            }
            let outcome = match d.result {
                Flushed::Ok => AppendOutcome::Written,
                Flushed::Full => AppendOutcome::Full,
                Flushed::Lost(why) => AppendOutcome::Failed(format!("journal {name}: {why}")),
            };
            let reactions = if jid == 0 {
                own_append_done(outcome, d.tokens, d.tids)
            } else {
                taken_over_append_done(outcome, jid, d.tokens.first().copied())
            };
            if self.react(i, reactions) {
                self.drain(i);
            }
        }
    }

    // ---- applications --------------------------------------------------

    fn schedule_wake(&mut self, app: App) {
        if self.woken.get(&app).copied().unwrap_or(false) {
            return;
        }
        self.woken.insert(app, true);
        let d = self.rng.range(20, 300);
        self.after(d, Ev::Wake(app));
    }

    fn start_server(&mut self, i: usize, inc: u32, r: usize) {
        if self.nodes[i].inc != inc || !self.up(i) {
            return;
        }
        let conn = self.nodes[i].next_conn;
        self.nodes[i].next_conn += 1;
        let name = format!("{}/{conn}", self.nodes[i].name);
        let site = self.nodes[i].site.clone().unwrap_or_default();
        self.servers.push(Some(Server::new(i, conn, r, name, site)));
        let app = App::Server(self.servers.len() - 1);
        self.nodes[i].apps.insert(conn, app);
        let req = Server::open_request(&self.ranges[r], self.cfg.shadow);
        self.input(i, NodeInput::Request { conn, req });
    }

    fn start_client(&mut self, i: usize, inc: u32) {
        if self.nodes[i].inc != inc || !self.up(i) {
            return;
        }
        let conn = self.nodes[i].next_conn;
        self.nodes[i].next_conn += 1;
        let name = format!("{}/{conn}", self.nodes[i].name);
        let mut c = Client::new(i, conn, name, self.nodes[i].id, inc);
        c.stop_new = self.stop_new;
        c.always_timeout = self.cfg.always_timeout;
        self.clients.push(Some(c));
        let app = App::Client(self.clients.len() - 1);
        self.nodes[i].apps.insert(conn, app);
        self.input(i, NodeInput::Request { conn, req: Client::open_request() });
    }

    /// An application runs: it takes what arrived and makes its requests.
    /// It is woken again when it asked to be (and nothing else woke it meanwhile).
    fn wake(&mut self, app: App) {
        self.woken.insert(app, false);
        let now = self.now;
        let (node, conn, reqs, more) = match app {
            App::Client(c) => {
                let Some(cl) = self.clients[c].as_mut() else { return };
                let (reqs, more) = cl.wake(now, self.cfg.think, &mut self.rng, &self.ranges, &mut self.chk);
                (cl.node, cl.conn, reqs, more)
            }
            App::Server(s) => {
                let Some(sv) = self.servers[s].as_mut() else { return };
                let (reqs, blocked) = sv.wake(&mut self.rng, &mut self.chk);
                (sv.node, sv.conn, reqs, blocked.then_some(0))
            }
        };
        for r in reqs {
            if !self.up(node) {
                return;
            }
            if self.cfg.verbose {
                let line = format!("{}/{conn} -> {r:?}", self.nodes[node].name);
                self.trace.note(self.now, line);
            }
            self.input(node, NodeInput::Request { conn, req: r });
        }
        if let Some(at) = more {
            if !self.woken.get(&app).copied().unwrap_or(false) {
                self.woken.insert(app, true);
                let at = if at == 0 { self.now + self.rng.range(100, 2 * MS) } else { at };
                self.at(at, Ev::Wake(app));
            }
        }
    }

    /// An application process ended (its node went, or it was killed).
    fn app_gone(&mut self, app: App) {
        match app {
            App::Client(c) => {
                if let Some(cl) = self.clients[c].take() {
                    if let Some(tid) = cl.waiting_on() {
                        if let Some(l) = self.chk.txs.get_mut(&tid) {
                            l.client_gone = true;
                        }
                    }
                }
            }
            App::Server(s) => {
                // Its database session ends: the rows it held are free.
                if let Some(sv) = self.servers[s].take() {
                    self.chk.unlock(&sv.site, None, sv.session());
                }
            }
        }
        self.woken.remove(&app);
    }

    // ---- network -------------------------------------------------------

    fn pair_name(&self, p: usize) -> String {
        let [a, b] = self.pairs[p].ends;
        format!("{}-{}", self.nodes[a].name, self.nodes[b].name)
    }

    fn schedule_dial(&mut self, p: usize, d: Micros) {
        if self.pairs[p].dialing || self.pairs[p].dialled() {
            return;
        }
        self.pairs[p].dialing = true;
        self.after(d, Ev::Dial(p));
    }

    /// The timers of every simulated link: the run's inactivity timer, and
    /// the daemon's default hello timeout (the dialler's bound on the
    /// handshake is the session's own).
    fn timers(&self) -> Timers {
        Timers { inactivity: Duration::from_micros(self.cfg.inactivity), hello_timeout: DEFAULT_HELLO_TIMEOUT }
    }

    fn dial(&mut self, p: usize) {
        self.pairs[p].dialing = false;
        if self.pairs[p].dialled() {
            return;
        }
        let [a, b] = self.pairs[p].ends;
        if !self.up(a) || !self.up(b) {
            // The dialler dials when it starts; an acceptor that is down
            // is dialled again after a backoff.
            if self.up(a) {
                let d = self.rng.range(100 * MS, 2 * SEC);
                self.schedule_dial(p, d);
            }
            return;
        }
        let frozen = self.nodes[a].frozen_until > self.now || self.nodes[b].frozen_until > self.now;
        if frozen || self.pairs[p].blocked.iter().any(|x| *x) {
            let d = self.rng.range(100 * MS, 2 * SEC);
            self.schedule_dial(p, d);
            return;
        }
        let id = self.next_conn_id;
        self.next_conn_id += 1;
        // The connection is made: the acceptor's session starts (its hello
        // timer runs from now) and the dialler's hello goes out.
        let (now, t) = (self.instant(), self.timers());
        let (na, nb) = (&self.nodes[a], &self.nodes[b]);
        let dialler = Session::dial(&na.name, na.id, na.table.clone(), &nb.name, t, now);
        let acceptor = Session::accept(&nb.name, nb.id, nb.table.clone(), t, now);
        self.pairs[p].conns.push(Conn::new(id, [na.inc, nb.inc], [dialler, acceptor]));
        self.pump(p, id, 0);
        self.pump(p, id, 1);
    }

    fn current(&mut self, p: usize, cid: u64) -> Option<&mut Conn> {
        self.pairs[p].conn(cid)
    }

    /// Run end `e`'s session of connection `cid` after something happened
    /// to it: its events go to its node in order (the link's up before any
    /// of its messages, none after its down), what it has to write goes on
    /// the wire, and its next tick is scheduled.
    fn pump(&mut self, p: usize, cid: u64, e: usize) {
        let i = self.pairs[p].ends[e];
        loop {
            // Looked up afresh each time: the node's handling of the last
            // event may have ended the session (its node stopped).
            let Some(conn) = self.pairs[p].conn(cid) else { return };
            let Some(s) = conn.sessions[e].as_mut() else { return };
            let Some(ev) = s.poll_event() else { break };
            match ev {
                Event::Up { name, agreed } => {
                    let id = self.nodes[i].next_ref;
                    self.nodes[i].next_ref += 1;
                    conn.refs[e] = Some(id);
                    self.nodes[i].refs.insert(id, (p, cid));
                    self.trace.note(self.now, format!("{}: link to {name} up", self.nodes[i].name));
                    self.input(i, NodeInput::LinkUp { id, info: PeerInfo { name, facilities: agreed } });
                    if e == 1 {
                        self.replace_older(p, cid);
                    }
                }
                Event::Msg(msg) => {
                    let Some(r) = conn.refs[e] else { continue };
                    if self.cfg.verbose {
                        let from = &self.nodes[self.pairs[p].ends[1 - e]].name;
                        let line = format!("{from} => {}: {msg:?}", self.nodes[i].name);
                        self.trace.note(self.now, line);
                    }
                    self.input(i, NodeInput::Peer { from: r, msg });
                }
                Event::Down(why) => {
                    self.session_down(p, cid, e, why);
                    return;
                }
            }
        }
        self.flush(p, cid, e);
        self.schedule_session_tick(p, cid, e);
    }

    /// End `e`'s session ended: what it still has to say (a refusal) goes
    /// out, then its side's close; its node is told the link is down.
    fn session_down(&mut self, p: usize, cid: u64, e: usize, why: Down) {
        let i = self.pairs[p].ends[e];
        self.flush(p, cid, e);
        self.send_close(p, cid, e);
        let Some(conn) = self.current(p, cid) else { return };
        conn.sessions[e] = None;
        conn.tick_at[e] = None;
        let r = conn.refs[e].take();
        let was_up = r.is_some();
        let peer = &self.nodes[self.pairs[p].ends[1 - e]].name;
        self.trace.note(self.now, format!("{}: link to {peer} down: {why}", self.nodes[i].name));
        if let Some(r) = r {
            self.nodes[i].refs.remove(&r);
            self.input(i, NodeInput::LinkDown { id: r });
        }
        self.maybe_finished(p, cid);
        if e == 0 && self.up(i) {
            // The dialler dials again at once after a link that was up,
            // after a backoff after one that never came up.
            let d = if was_up { self.rng.below(MS) } else { self.rng.range(100 * MS, SEC) };
            self.schedule_dial(p, d);
        }
    }

    /// A connection both ends are finished with is gone.
    fn maybe_finished(&mut self, p: usize, cid: u64) {
        self.pairs[p].conns.retain(|c| c.id != cid || !c.finished());
    }

    /// The acceptor's new link `cid` came up: an older connection of the
    /// same peer that it still holds is dead (the peer connected again),
    /// and is shut; its session sees the end (`Links::register`).
    fn replace_older(&mut self, p: usize, cid: u64) {
        let older: Vec<u64> =
            self.pairs[p].conns.iter().filter(|c| c.id != cid && c.sessions[1].is_some()).map(|c| c.id).collect();
        for old in older {
            let Some(s) = self.pairs[p].conn(old).and_then(|c| c.sessions[1].as_mut()) else { continue };
            s.peer_closed(Some("replaced by a new link from the same node".into()));
            self.pump(p, old, 1);
        }
    }

    /// A one-way network delay.
    fn latency(&mut self) -> Micros {
        if self.rng.chance(0.02) {
            self.rng.range(2 * MS, 30 * MS)
        } else {
            self.rng.range(30, 400)
        }
    }

    /// Put what end `e`'s session has to write on the wire (direction
    /// `e`): lost, with everything after it, if the direction is blocked
    /// or cut; otherwise it arrives in order, sometimes in two pieces.
    fn flush(&mut self, p: usize, cid: u64, e: usize) {
        let now = self.now;
        let blocked = self.pairs[p].blocked[e];
        let Some(conn) = self.pairs[p].conn(cid) else { return };
        let Some(s) = conn.sessions[e].as_mut() else { return };
        if s.pending_output().is_empty() {
            return;
        }
        let bytes = s.pending_output().to_vec();
        s.advance_output(bytes.len());
        if blocked || now >= conn.cutoff[e] {
            // A lost segment: TCP delivers nothing after it either.
            conn.cutoff[e] = conn.cutoff[e].min(now);
            return;
        }
        let lat = self.latency();
        let Some(conn) = self.pairs[p].conn(cid) else { return };
        let at = (now + lat).max(conn.last[e]);
        let mut pieces = vec![(at, bytes)];
        if pieces[0].1.len() > 1 && self.rng.chance(0.1) {
            // Two segments, cut at any byte: frames torn across reads.
            let cut = self.rng.range(1, pieces[0].1.len() as u64) as usize;
            let rest = pieces[0].1.split_off(cut);
            pieces.push((at + self.rng.below(300), rest));
        }
        let mut due = Vec::new();
        for (at, bytes) in pieces {
            conn.last[e] = at;
            conn.queue[e].push_back(InFlight { at, bytes, close: false });
            due.push(at);
        }
        for at in due {
            self.at(at, Ev::Arrive(p, cid, e));
        }
    }

    /// End `e` closes its side: the peer sees the end of the stream after
    /// what came before it (if its direction still carries anything).
    fn send_close(&mut self, p: usize, cid: u64, e: usize) {
        let now = self.now;
        let blocked = self.pairs[p].blocked[e];
        let lat = self.latency();
        let Some(conn) = self.pairs[p].conn(cid) else { return };
        if conn.sessions[1 - e].is_none() {
            return;
        }
        if blocked || now >= conn.cutoff[e] {
            conn.cutoff[e] = conn.cutoff[e].min(now);
            return;
        }
        let at = (now + lat).max(conn.last[e]);
        conn.last[e] = at;
        conn.queue[e].push_back(InFlight { at, bytes: Vec::new(), close: true });
        self.at(at, Ev::Arrive(p, cid, e));
    }

    /// Bytes due in direction `d` reach the other end (every piece due by
    /// now, in order; those past the cutoff are lost).
    fn arrive(&mut self, p: usize, cid: u64, d: usize) {
        let e = 1 - d;
        let (now, t) = (self.now, self.instant());
        let mut heard = false;
        {
            let Some(conn) = self.pairs[p].conn(cid) else { return };
            let Some(s) = conn.sessions[e].as_mut() else {
                conn.queue[d].clear();
                return;
            };
            while conn.queue[d].front().is_some_and(|f| f.at <= now) {
                let piece = conn.queue[d].pop_front().expect("a piece is due");
                if piece.at > conn.cutoff[d] {
                    continue;
                }
                if piece.close {
                    s.peer_closed(None);
                } else {
                    s.receive(&piece.bytes, t);
                }
                heard = true;
            }
        }
        if heard {
            self.pump(p, cid, e);
        }
    }

    /// End `e`'s session's timers are due: it reads what has arrived first
    /// (as a link thread does after its wait), then ticks.
    fn session_tick(&mut self, p: usize, cid: u64, e: usize) {
        self.arrive(p, cid, 1 - e);
        let (now, t) = (self.now, self.instant());
        let Some(conn) = self.current(p, cid) else { return };
        if conn.tick_at[e].is_none_or(|x| x > now) {
            return;
        }
        conn.tick_at[e] = None;
        let Some(s) = conn.sessions[e].as_mut() else { return };
        s.tick(t);
        self.pump(p, cid, e);
    }

    /// Schedule end `e`'s next tick, if its session wants one earlier than
    /// the one scheduled (a later one finds nothing to do, and reschedules).
    fn schedule_session_tick(&mut self, p: usize, cid: u64, e: usize) {
        let (now, base) = (self.now, self.base);
        let Some(conn) = self.pairs[p].conn(cid) else { return };
        let Some(deadline) = conn.sessions[e].as_ref().and_then(|s| s.next_deadline()) else { return };
        // Rounded up: a tick a fraction of a microsecond early would find
        // nothing due, and be scheduled again at the same time for ever.
        let nanos = deadline.saturating_duration_since(base).as_nanos();
        let at = (nanos.div_ceil(1_000) as Micros).max(now);
        if conn.tick_at[e].is_none_or(|x| at < x) {
            conn.tick_at[e] = Some(at);
            self.at(at, Ev::SessionTick(p, cid, e));
        }
    }

    /// The kernel's reset reaches end `e`.
    fn reset(&mut self, p: usize, cid: u64, e: usize) {
        let Some(conn) = self.current(p, cid) else { return };
        let Some(s) = conn.sessions[e].as_mut() else { return };
        s.peer_closed(Some("connection reset by peer".into()));
        self.pump(p, cid, e);
    }

    /// The connection of pair `p` breaks now: what is in flight in
    /// direction `d` arrives only up to `cutoff[d]`, nothing sent later
    /// does; an end with a `reset` time sees the connection reset then
    /// (one without finds out by its inactivity timer).
    fn break_conn(&mut self, p: usize, cid: u64, resets: [Option<Micros>; 2], cutoff: [Micros; 2]) {
        let now = self.now;
        let Some(conn) = self.pairs[p].conn(cid) else { return };
        conn.broken = true;
        for (d, c) in cutoff.iter().enumerate() {
            conn.cutoff[d] = conn.cutoff[d].min(*c);
        }
        let mut events = Vec::new();
        for (e, t) in resets.iter().enumerate() {
            if let (Some(t), true) = (*t, conn.sessions[e].is_some()) {
                // It hears what reached it before the reset.
                let t = t.max(conn.cutoff[1 - e].saturating_add(1).min(t.max(now) + SEC));
                events.push((t, Ev::Reset(p, cid, e)));
            }
        }
        for (t, ev) in events {
            self.at(t, ev);
        }
        self.maybe_finished(p, cid);
    }

    fn send_peer(&mut self, i: usize, peer: NodeRef, msgs: Vec<Internal>) {
        let Some((p, cid)) = self.nodes[i].refs.get(&peer).copied() else { return };
        let Some(e) = self.pairs[p].end_of(i) else { return };
        // One buffer per peer and pass, as the runtime sends them.
        let mut w = crate::protocol::peer::Writer::default();
        for msg in msgs {
            crate::protocol::peer::encode_into(&mut w, &PeerFrame::Msg(msg));
        }
        let t = self.instant();
        let Some(conn) = self.current(p, cid) else { return };
        let Some(s) = conn.sessions[e].as_mut() else { return };
        s.queue(&w.buf, t);
        self.flush(p, cid, e);
    }

    // ---- faults ----------------------------------------------------------

    fn fault(&mut self) {
        if !self.faults_on {
            return;
        }
        let next = self.rng.range(self.cfg.fault_every / 4, self.cfg.fault_every * 2);
        self.after(next, Ev::Fault);
        let f = self.cfg.faults;
        let kinds = [
            (Faults::CRASH, 4),
            (Faults::FREEZE, 2),
            (Faults::NET, 3),
            (Faults::PARTITION, 3),
            (Faults::SERVER, 3),
            (Faults::CLIENT, 2),
            (Faults::DISK, 1),
            (Faults::OPERATOR, 2),
            (Faults::TAKEOVER, 1),
        ];
        let weights: Vec<u32> = kinds.iter().map(|(k, w)| if f.has(*k) { *w } else { 0 }).collect();
        if weights.iter().all(|w| *w == 0) {
            return;
        }
        let kind = kinds[self.rng.weighted(&weights)].0;
        let n = self.nodes.len();
        self.report.faults += 1;
        match kind {
            Faults::CRASH => {
                let i = self.rng.index(n);
                if self.up(i) {
                    let fast = self.rng.chance(0.6);
                    self.crash(i, fast, if fast { "killed (kill -9)" } else { "lost (power)" });
                    let d = self.rng.range(300 * MS, 6 * SEC);
                    self.after(d, Ev::Boot(i));
                }
            }
            Faults::FREEZE => {
                let i = self.rng.index(n);
                if self.up(i) && self.nodes[i].frozen_until <= self.now {
                    let dur = self.rng.range(200 * MS, 8 * SEC);
                    self.freeze(i, dur);
                }
            }
            Faults::NET => {
                let live: Vec<(usize, u64)> = (0..self.pairs.len())
                    .flat_map(|p| self.pairs[p].conns.iter().filter(|c| !c.broken).map(move |c| (p, c.id)))
                    .collect();
                if !live.is_empty() {
                    let (p, cid) = live[self.rng.index(live.len())];
                    self.trace.note(self.now, format!("connection {} reset", self.pair_name(p)));
                    let t0 = self.now + self.rng.range(100, 5 * MS);
                    let t1 = self.now + self.rng.range(100, 5 * MS);
                    let cut = [self.now + self.rng.below(MS), self.now + self.rng.below(MS)];
                    self.break_conn(p, cid, [Some(t0), Some(t1)], cut);
                }
            }
            Faults::PARTITION => {
                let p = self.rng.index(self.pairs.len());
                let which = self.rng.index(3); // 0: from end 0, 1: from end 1, 2: both
                let dur = self.rng.range(200 * MS, 10 * SEC);
                self.partition(p, which, dur);
            }
            Faults::SERVER => {
                let live: Vec<usize> = (0..self.servers.len()).filter(|s| self.servers[*s].is_some()).collect();
                if !live.is_empty() {
                    let s = live[self.rng.index(live.len())];
                    let (i, r) = {
                        let sv = self.servers[s].as_ref().expect("live");
                        (sv.node, sv.range)
                    };
                    // One server process, or (one time in three) every
                    // server of the range on that node: its node stays up
                    // and a standby elsewhere takes the range.
                    let victims: Vec<usize> = if self.rng.chance(0.33) {
                        live.into_iter()
                            .filter(|x| self.servers[*x].as_ref().is_some_and(|v| v.node == i && v.range == r))
                            .collect()
                    } else {
                        vec![s]
                    };
                    for s in victims {
                        let Some(conn) = self.servers[s].as_ref().map(|v| v.conn) else { continue };
                        self.trace.note(self.now, format!("server {}/{conn} killed", self.nodes[i].name));
                        self.nodes[i].apps.remove(&conn);
                        self.app_gone(App::Server(s));
                        self.input(i, NodeInput::Request { conn, req: Request::Disconnect });
                        let inc = self.nodes[i].inc;
                        let d = self.rng.range(100 * MS, 3 * SEC);
                        self.after(d, Ev::StartServer(i, inc, r));
                    }
                }
            }
            Faults::CLIENT => {
                let live: Vec<usize> = (0..self.clients.len()).filter(|c| self.clients[*c].is_some()).collect();
                if !live.is_empty() {
                    let c = live[self.rng.index(live.len())];
                    let (i, conn) = {
                        let cl = self.clients[c].as_ref().expect("live");
                        (cl.node, cl.conn)
                    };
                    self.trace.note(self.now, format!("client {}/{conn} vanished", self.nodes[i].name));
                    self.nodes[i].apps.remove(&conn);
                    self.app_gone(App::Client(c));
                    self.input(i, NodeInput::Request { conn, req: Request::Disconnect });
                    let inc = self.nodes[i].inc;
                    let d = self.rng.range(100 * MS, 2 * SEC);
                    self.after(d, Ev::StartClient(i, inc));
                }
            }
            Faults::DISK => {
                let bes: Vec<usize> = (0..n).filter(|i| self.nodes[*i].backend && self.up(*i)).collect();
                if !bes.is_empty() {
                    let i = bes[self.rng.index(bes.len())];
                    if self.rng.chance(0.5) {
                        let after = self.rng.range(1, 30) as u32;
                        let sync = self.rng.chance(0.5);
                        let what = if sync { "syncs" } else { "writes" };
                        self.trace.note(self.now, format!("{}: its disk fails in {after} {what}", self.nodes[i].name));
                        let name = self.nodes[i].name.clone();
                        self.disk.fail_after(i, &name, after, sync);
                    } else {
                        let d = self.rng.range(100 * MS, 5 * SEC);
                        self.trace
                            .note(self.now, format!("{}: its journal is full for {} ms", self.nodes[i].name, d / MS));
                        self.nodes[i].full_until = self.now + d;
                        let name = self.nodes[i].name.clone();
                        if self.disk.is_real() {
                            // The real journal fills for real: its device stops growing.
                            self.disk.set_full(&name, true);
                            self.after(d, Ev::Unfull(name));
                        }
                    }
                }
            }
            Faults::TAKEOVER => {
                // `rtr journal takeover --force` on a live node's journal
                // (to inspect it), released at once: the node is fenced.
                let bes: Vec<usize> = (0..n).filter(|i| self.nodes[*i].backend && self.up(*i)).collect();
                if !bes.is_empty() {
                    let name = self.nodes[bes[self.rng.index(bes.len())]].name.clone();
                    self.trace.note(self.now, format!("operator: rtr journal takeover --force {name}"));
                    if let Ok((_, fenced, _)) = self.disk.take_over(&name, (usize::MAX, 0, 0), &mut self.rng) {
                        self.fenced(fenced, &name);
                    }
                    let _ = self.disk.release(usize::MAX, 0, 0);
                }
            }
            Faults::OPERATOR => {
                let bes: Vec<usize> = (0..n).filter(|i| self.nodes[*i].backend && self.up(*i)).collect();
                if bes.is_empty() {
                    return;
                }
                let i = bes[self.rng.index(bes.len())];
                let inc = self.nodes[i].inc;
                let parts: Vec<u64> = self.nodes[i].node.as_ref().map_or_else(Vec::new, |n| {
                    n.show_partitions().0.into_iter().filter(|p| p.facility == FACILITY).map(|p| p.id).collect()
                });
                if parts.is_empty() {
                    return;
                }
                let waiting: Vec<u64> = self.nodes[i].node.as_ref().map_or_else(Vec::new, |n| {
                    n.show_partitions()
                        .0
                        .into_iter()
                        .filter(|p| p.state == crate::protocol::admin::PartitionState::NoJournal)
                        .map(|p| p.id)
                        .collect()
                });
                // Shadowing turned off for a while at a shadow primary
                // running alone (`SET PARTITION /NOSHADOW`), on again later
                // (`Ev::ShadowOn`). Running alone is rare while each site
                // has a standby, so the operator takes one site down for
                // maintenance (all its backends stop) and turns shadowing
                // off at the survivor once it remembers for that site.
                if self.cfg.shadow && self.rng.chance(0.3) {
                    if !self.shadow_off_somewhere() {
                        let sites: Vec<String> = bes.iter().filter_map(|j| self.nodes[*j].site.clone()).collect();
                        let site = sites[self.rng.index(sites.len())].clone();
                        self.trace.note(self.now, format!("operator: site {site} goes down for maintenance"));
                        let down: Vec<usize> = bes
                            .iter()
                            .copied()
                            .filter(|j| self.nodes[*j].site.as_deref() == Some(site.as_str()))
                            .collect();
                        for j in down {
                            self.crash(j, true, "stopped with its site");
                            let d = self.rng.range(SEC, 10 * SEC);
                            self.after(d, Ev::Boot(j));
                        }
                        let d = self.rng.range(100 * MS, 2 * SEC);
                        self.after(d, Ev::ShadowOff);
                    }
                    return;
                }
                let part = parts[self.rng.index(parts.len())];
                let change = if let Some(w) = waiting.first().copied().filter(|_| self.rng.chance(0.7)) {
                    let c = if self.rng.chance(0.5) {
                        PartitionChange::RestartRecovery
                    } else {
                        PartitionChange::IgnoreRecovery
                    };
                    self.trace.note(self.now, format!("operator: {} partition {w}: {c:?}", self.nodes[i].name));
                    self.input(i, NodeInput::SetPartition { facility: FACILITY.into(), id: w, change: c });
                    return;
                } else {
                    self.rng.index(3)
                };
                let change = match change {
                    0 => PartitionChange::Suspend,
                    1 => {
                        let mut order: Vec<String> = self.cfg.shape.backends.clone();
                        // A random order of the backends.
                        for k in (1..order.len()).rev() {
                            let j = self.rng.index(k + 1);
                            order.swap(k, j);
                        }
                        PartitionChange::PriorityList(order)
                    }
                    _ => PartitionChange::RetryLimit(self.rng.range(1, 5) as u32),
                };
                self.trace.note(self.now, format!("operator: {} partition {part}: {change:?}", self.nodes[i].name));
                let suspend = change == PartitionChange::Suspend;
                self.input(i, NodeInput::SetPartition { facility: FACILITY.into(), id: part, change });
                if suspend {
                    let d = self.rng.range(50 * MS, 3 * SEC);
                    self.after(d, Ev::Resume(i, inc, part));
                }
            }
            _ => {}
        }
    }

    /// Node `i` stops running for `dur` (SIGSTOP, a long pause): its
    /// events wait, its link sessions send nothing (no pings either); a
    /// peer that hears nothing for its inactivity time drops the link,
    /// and the frozen node finds the close when it runs again.
    fn freeze(&mut self, i: usize, dur: Micros) {
        self.trace.note(self.now, format!("{} frozen for {} ms", self.nodes[i].name, dur / MS));
        self.nodes[i].frozen_until = self.now + dur;
    }

    /// Block direction(s) of pair `p` for `dur`: `which` 0 or 1 blocks what
    /// that end sends, 2 both. The connection's blocked directions lose
    /// what is in flight and everything after (a stream with a hole
    /// delivers nothing past it); the end that hears nothing drops the link
    /// at its inactivity timer, and its close reaches the other end if the
    /// way back is open.
    fn partition(&mut self, p: usize, which: usize, dur: Micros) {
        let dirs: &[usize] = match which {
            0 => &[0],
            1 => &[1],
            _ => &[0, 1],
        };
        for d in dirs {
            self.pairs[p].blocked[*d] = true;
        }
        self.trace.note(
            self.now,
            format!(
                "partition of {} ({}) for {} ms",
                self.pair_name(p),
                ["one way", "other way", "both ways"][which],
                dur / MS
            ),
        );
        self.after(dur, Ev::Heal(p));
        let mut cutoff = [Micros::MAX, Micros::MAX];
        for d in dirs {
            cutoff[*d] = self.now;
        }
        let live: Vec<u64> = self.pairs[p].conns.iter().filter(|c| !c.broken).map(|c| c.id).collect();
        for cid in live {
            self.break_conn(p, cid, [None, None], cutoff);
        }
    }

    fn retry_exceptions(&mut self) {
        for i in 0..self.nodes.len() {
            let Some(n) = self.nodes[i].node.as_ref() else { continue };
            let tids = n.exception_tids();
            for tid in &tids {
                let change = crate::protocol::admin::TxChange::Retry;
                self.call(i, NodeInput::SetTransaction { tid: *tid, change });
            }
            if !tids.is_empty() {
                self.trace.note(
                    self.now,
                    format!("operator: {}: retry {} set-aside transactions", self.nodes[i].name, tids.len()),
                );
                self.drain(i);
            }
        }
    }

    fn end_faults(&mut self) {
        // An operator deals with what the retry limit set aside, once
        // the servers are back, and again later.
        self.after(2 * SEC, Ev::RetryExceptions);
        self.after(15 * SEC, Ev::RetryExceptions);
        self.faults_on = false;
        self.trace.note(self.now, "faults stop; the cluster heals".into());
        for p in 0..self.pairs.len() {
            if self.pairs[p].blocked != [false, false] {
                self.pairs[p].blocked = [false, false];
                self.schedule_dial(p, 0);
            }
        }
        self.disk.heal();
        for i in 0..self.nodes.len() {
            self.nodes[i].full_until = 0;
        }
        for i in 0..self.nodes.len() {
            self.nodes[i].frozen_until = self.nodes[i].frozen_until.min(self.now);
            if !self.up(i) {
                self.at(self.now, Ev::Boot(i));
            }
        }
    }

    // ---- invariants ------------------------------------------------------

    /// At most one node that still owns its journal is active per key range
    /// (in a shadow run, per key range and site: one site slot each).
    fn check_actives(&mut self) {
        let mut active: Vec<BTreeMap<&str, Vec<usize>>> = vec![BTreeMap::new(); self.ranges.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(node) = n.node.as_ref().filter(|_| n.backend) else { continue };
            if !self.disk.holds(&n.name, (i, n.inc, 0)) {
                continue;
            }
            for (fac, kr) in node.active_ranges() {
                if fac != FACILITY {
                    continue;
                }
                if let Some(r) = self.key_ranges.iter().position(|x| *x == kr) {
                    active[r].entry(n.site.as_deref().unwrap_or("")).or_default().push(i);
                }
            }
        }
        let mut found = Vec::new();
        for (r, sites) in active.iter().enumerate() {
            for (site, nodes) in sites {
                if nodes.len() > 1 {
                    let names: Vec<&str> = nodes.iter().map(|i| self.nodes[*i].name.as_str()).collect();
                    let at = if site.is_empty() { String::new() } else { format!(" at site {site}") };
                    found.push(format!("range {r} is active on {} at once{at}", names.join(" and ")));
                }
            }
        }
        for text in found {
            // Once per range and pair of nodes, not at every step it lasts.
            if self.two_actives_seen.insert(text.clone()) {
                self.chk.violate(ViolationKind::TwoActives, text);
            }
        }
    }

    /// The role authority's note on key range `r`'s primary record: the
    /// site that turned its shadowing off, if it is off.
    fn shadow_note(&self, r: usize) -> Option<String> {
        let range = crate::authority::range_id(FACILITY, self.key_ranges.get(r)?);
        let rid = format!("{range}{}", crate::node::PRIMARY_RECORD);
        self.authority.handle("checker").note(&rid).ok().flatten()
    }

    /// At most one node that still owns its journal is the primary of a
    /// shadowed key range (docs/shadow.md: one primary per range). A node
    /// that lost its journal can commit nothing, as in `check_actives`.
    fn check_primaries(&mut self) {
        let mut primary: Vec<Vec<(usize, u64)>> = vec![Vec::new(); self.ranges.len()];
        let mut sites: BTreeMap<usize, String> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(node) = n.node.as_ref().filter(|_| n.backend) else { continue };
            if !self.disk.holds(&n.name, (i, n.inc, 0)) {
                continue;
            }
            for role in node.shadow_roles() {
                if role.facility != FACILITY || !role.primary {
                    continue;
                }
                if let Some(r) = self.key_ranges.iter().position(|x| *x == role.range) {
                    primary[r].push((i, role.epoch));
                    sites.insert(i, role.site.clone());
                }
            }
        }
        // While a range's shadowing is off (the role authority's note names
        // the site that turned it off), no node of another site is its
        // primary.
        for (r, nodes) in primary.iter().enumerate() {
            let Some(off) = self.shadow_note(r) else { continue };
            for (i, e) in nodes {
                let site = sites.get(i).cloned().unwrap_or_default();
                if site != off {
                    let text = format!(
                        "range {r}: {} (site {site}) is primary (grant {e}) while shadowing is off, turned off at \
                         site {off}",
                        self.nodes[*i].name
                    );
                    if self.two_actives_seen.insert(text.clone()) {
                        self.chk.violate(ViolationKind::PrimaryWhileOff, text);
                    }
                }
            }
        }
        for (r, nodes) in primary.iter().enumerate() {
            if nodes.len() > 1 {
                let names: Vec<String> =
                    nodes.iter().map(|(i, e)| format!("{} (grant {e})", self.nodes[*i].name)).collect();
                let text = format!("range {r} has two primaries at once: {}", names.join(" and "));
                if self.two_actives_seen.insert(text.clone()) {
                    self.chk.violate(ViolationKind::TwoPrimaries, text);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::ToRouter;
    use crate::protocol::peer;

    /// A run without faults that records tr1's inputs.
    fn quiet(seed: u64) -> World {
        let mut c = SimConfig::new(seed);
        c.faults = Faults::NONE;
        c.settle = 10 * SEC;
        c.record = Some("tr1".into());
        World::new(c)
    }

    /// The pair of fe1 (which dials) and tr1, once its connection is up on
    /// both sides: the pair, the connection, and tr1's id of the link.
    fn linked(w: &mut World) -> (usize, u64, NodeRef) {
        w.run_until(SEC);
        let at = |name: &str| w.nodes.iter().position(|n| n.name == name).expect("a node");
        let ends = [at("fe1"), at("tr1")];
        let p = w.pairs.iter().position(|x| x.ends == ends).expect("fe1 and tr1 are linked");
        let c = w.pairs[p].conns.last().expect("connected");
        assert!(c.sessions.iter().all(|s| s.as_ref().is_some_and(Session::is_up)), "both sides up");
        (p, c.id, c.refs[1].expect("tr1 knows the link"))
    }

    /// A frame from fe1 to tr1 torn by the network: its first half arrives,
    /// the rest is lost with everything fe1 sends after it; with `reset`,
    /// tr1 then sees the connection reset (else it hears nothing more).
    /// Returns when the first half arrives.
    fn tear(w: &mut World, p: usize, cid: u64, reset: bool) -> Micros {
        let frame = peer::encode(&PeerFrame::Msg(Internal::Tr(ToRouter::Acked { tids: Vec::new() })));
        let k = frame.len() / 2;
        let now = w.now;
        let conn = w.current(p, cid).expect("the connection");
        conn.queue[0].push_back(InFlight { at: now + 100, bytes: frame[..k].to_vec(), close: false });
        conn.queue[0].push_back(InFlight { at: now + 300, bytes: frame[k..].to_vec(), close: false });
        conn.last[0] = now + 300;
        w.at(now + 100, Ev::Arrive(p, cid, 0));
        w.at(now + 300, Ev::Arrive(p, cid, 0));
        // fe1 goes on hearing tr1 (its pings): only tr1's timer can fire.
        w.break_conn(p, cid, [None, reset.then_some(now + 500)], [now + 200, Micros::MAX]);
        now + 100
    }

    /// What tr1 was given about link `r` after `from`: messages, and when
    /// it went down; and whether a link from fe1 came up again after that.
    fn seen(r: &Report, link: NodeRef, from: Micros) -> (usize, Option<Micros>, bool) {
        let mut msgs = 0;
        let mut down = None;
        let mut again = false;
        for (at, input) in r.recorded_inputs.iter().filter(|(at, _)| *at >= from) {
            match input {
                NodeInput::Peer { from, .. } if *from == link => msgs += 1,
                NodeInput::LinkDown { id } if *id == link => down = Some(*at),
                NodeInput::LinkUp { info, .. } if info.name == "fe1" && down.is_some() => again = true,
                _ => {}
            }
        }
        (msgs, down, again)
    }

    #[test]
    fn a_frame_torn_by_a_reset_ends_the_link_without_a_message_and_it_comes_back() {
        let mut w = quiet(5);
        let (p, cid, link) = linked(&mut w);
        let torn = tear(&mut w, p, cid, true);
        w.run_until(torn + 1_000);
        let lines = w.trace.recent().join("\n");
        assert!(lines.contains("tr1: link to fe1 down: connection reset by peer"), "{lines}");
        let end = w.cfg.fault_start + w.cfg.fault_time + w.cfg.settle;
        let r = w.finish_after(end);
        assert!(r.ok(), "{}", r.summary());
        let (msgs, down, again) = seen(&r, link, torn);
        assert_eq!(msgs, 0, "the torn frame reached the node");
        assert_eq!(down, Some(torn + 400), "the reset ends the link");
        assert!(again, "the link is made again");
    }

    #[test]
    fn a_frame_cut_off_silently_ends_the_link_at_the_inactivity_timer_and_it_comes_back() {
        let mut w = quiet(6);
        let inactivity = w.cfg.inactivity;
        let (p, cid, link) = linked(&mut w);
        let torn = tear(&mut w, p, cid, false);
        let end = w.cfg.fault_start + w.cfg.fault_time + w.cfg.settle;
        let r = w.finish_after(end);
        assert!(r.ok(), "{}", r.summary());
        let (msgs, down, again) = seen(&r, link, torn);
        assert_eq!(msgs, 0, "the torn frame reached the node");
        // Nothing is heard after the half frame: the timer runs from it.
        assert_eq!(down, Some(torn + inactivity), "the inactivity timer ends the link");
        assert!(again, "the link is made again");
    }

    /// A dialler that comes back before its peer noticed it was gone (fe1
    /// loses power and restarts 100 ms later) connects again; the
    /// acceptor, still holding the old connection, takes the new one and
    /// shuts the old at once (as `Links::register` does): its node sees the
    /// new link up, then the old one down at the same instant, not at its
    /// inactivity timer; and the run goes on.
    #[test]
    fn a_dialler_back_before_its_peer_noticed_replaces_the_old_link() {
        let mut w = quiet(7);
        let (_p, _cid, link) = linked(&mut w);
        let fe1 = w.nodes.iter().position(|n| n.name == "fe1").expect("fe1");
        let now = w.now;
        w.crash(fe1, false, "lost (power)");
        w.at(now + 100 * MS, Ev::Boot(fe1));
        let end = w.cfg.fault_start + w.cfg.fault_time + w.cfg.settle;
        let r = w.finish_after(end);
        assert!(r.ok(), "{}", r.summary());
        let mut up = None;
        let mut down = None;
        for (at, input) in r.recorded_inputs.iter().filter(|(at, _)| *at >= now) {
            match input {
                NodeInput::LinkUp { info, .. } if info.name == "fe1" && up.is_none() => up = Some(*at),
                NodeInput::LinkDown { id } if *id == link => down = Some(*at),
                _ => {}
            }
        }
        let (up, down) = (up.expect("fe1 linked again"), down.expect("the old link went down"));
        assert!(up < now + w_inactivity(), "fe1 came back at {up}");
        assert_eq!(down, up, "the old link is shut when the new one comes up");
    }

    /// The two-site shape (`SimConfig::shadow`) makes, without faults, a
    /// primary at one site and a secondary at the other for every key
    /// range, one active partition per site, and the others standbys; and
    /// the run keeps every promise.
    #[test]
    fn a_quiet_two_site_run_makes_a_primary_and_a_secondary_of_each_range() {
        let mut c = SimConfig::new(3);
        c.faults = Faults::NONE;
        c.shadow = true;
        c.settle = 5 * SEC;
        let mut w = World::new(c);
        // The west slots wait out their places in the facility's order
        // before they claim (`roles::rank`); by 5 s every pair is whole.
        w.run_until(5 * SEC);
        for (r, kr) in w.key_ranges.iter().enumerate() {
            let mut primaries = Vec::new();
            let mut secondaries = Vec::new();
            let mut actives: BTreeMap<String, Vec<&str>> = BTreeMap::new();
            let mut shadows = 0;
            for n in w.nodes.iter().filter(|n| n.backend) {
                let node = n.node.as_ref().expect("every backend is up");
                for role in node.shadow_roles().into_iter().filter(|x| x.range == *kr) {
                    shadows += 1;
                    assert_eq!(Some(role.site.as_str()), n.site.as_deref(), "{}: its site", n.name);
                    if role.active {
                        actives.entry(role.site.clone()).or_default().push(&n.name);
                    }
                    if role.primary {
                        primaries.push((n.name.as_str(), role.site.clone(), role.epoch));
                    }
                    if role.secondary {
                        secondaries.push((n.name.as_str(), role.site.clone(), role.epoch));
                    }
                    assert!(!(role.primary || role.secondary) || role.active, "{}: a side while not active", n.name);
                }
            }
            assert_eq!(shadows, 4, "range {r}: a shadow partition on every backend");
            assert_eq!(actives.len(), 2, "range {r}: actives {actives:?}");
            assert!(actives.values().all(|v| v.len() == 1), "range {r}: actives {actives:?}");
            assert_eq!(primaries.len(), 1, "range {r}: primaries {primaries:?}");
            assert_eq!(secondaries.len(), 1, "range {r}: secondaries {secondaries:?}");
            let (p, s) = (&primaries[0], &secondaries[0]);
            assert_ne!(p.1, s.1, "range {r}: the primary ({}) and the secondary ({}) share a site", p.0, s.0);
            assert!(p.2 > 0 && p.2 == s.2, "range {r}: the secondary knows the primary's grant: {p:?} {s:?}");
        }
        let end = w.cfg.fault_start + w.cfg.fault_time + w.cfg.settle;
        let r = w.finish_after(end);
        assert!(r.ok(), "{}", r.summary());
        assert!(r.committed > 100, "{}", r.summary());
    }

    fn w_inactivity() -> Micros {
        SimConfig::new(0).inactivity
    }
}
