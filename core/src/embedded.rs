//! The embedded node: a node running on its own thread inside the
//! application process.
//!
//! The thread owns the [`Node`] state machine. Library connections send it
//! [`Request`]s over a crossbeam channel; it hands [`Delivery`]s back through
//! each connection's [`DeliverySink`]. It drains every request already queued
//! before acting, so a burst from many client threads is handled in one pass:
//! the pass's journal records go to the journal writer in one append (one
//! shared fdatasync when any of them needs it), and each connection is woken
//! once per pass, not once per message.
//!
//! The journal (on by default for the process-wide node; see
//! [`EmbeddedConfig::from_env`]) is opened before the node takes requests;
//! committed transactions found in it are replayed to servers as they open.
//! A node that loses its journal (another owner fenced it, or a write or
//! sync failed) stops for good: it closes its links and connections at once
//! and every call fails with `RTR_STS_NODEUNAVAIL` (`embedded/halt.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::error::RtrError;
use crate::journal::{self, Journal, JournalConfig, JournalError, RecordKind};
use crate::node::{Internal, Node, NodeRef, Output, PeerInfo};
use crate::protocol::{ConnId, Delivery, Request};
use crate::status::Status;
use crate::tid::Tid;
use crate::transport::links::Links;

mod admin;
mod halt;

/// Where a node's deliveries for one connection go (the library's inbox).
pub trait DeliverySink: Send + Sync {
    /// Take a batch of deliveries, in order. Called on the node thread; must not block for long.
    fn deliver(&self, batch: Vec<Delivery>);
    /// The node stopped for good (it failed): wake every waiter and fail
    /// every later call with `RTR_STS_NODEUNAVAIL`.
    fn node_stopped(&self);
    /// A node daemon dropped `count` events for this connection (its
    /// per-connection bound; `transport/unix.rs`): count them with the
    /// library's own drops. Only a library's socket connection hears this.
    fn events_dropped(&self, _count: u64) {}
}

/// What the node thread takes in.
pub(crate) enum Input {
    Connect(ConnId, Arc<dyn DeliverySink>),
    Request(ConnId, Request),
    /// Synced journal writes completed (or failed); when the journal's
    /// ownership check behind them passed (see `Driver::acks_went_stale`).
    JournalDone(Vec<u64>, Result<(), Status>, Instant),
    /// Unsynced journal writes of these transactions failed.
    JournalFailed(Vec<Tid>, Status),
    /// The journal failed in a way that leaves outcomes unknown (an I/O
    /// error, or another owner fenced this one): the node stops, saying why.
    Fatal(String),
    Shutdown,
    /// Management: a view to take, definitions to apply, a process id to
    /// note, or a graceful stop (see `embedded/admin.rs`).
    Admin(admin::Cmd),
    /// The node's links to other nodes started (a daemon with `--listen`
    /// or peers).
    Links(Arc<Links>),
    /// A link to a peer node is up.
    LinkUp(NodeRef, PeerInfo),
    /// A message from a role on a linked peer.
    Peer(NodeRef, Internal),
    /// A link went down.
    LinkDown(NodeRef),
    /// A greeted application connection whose socket the node thread reads
    /// from now on (a daemon's event loop; see `transport/reactor.rs`).
    Adopt(ConnId, std::os::unix::net::UnixStream),
    /// Tests: run this on the node thread with the driver.
    #[cfg(test)]
    Test(Box<dyn FnOnce(&mut Driver) + Send>),
}

/// The node thread's inbox: a channel, plus a waker when the thread sleeps
/// in an event loop (a daemon's) rather than on the channel itself.
#[derive(Clone)]
pub(crate) struct Inbox {
    tx: Sender<Input>,
    waker: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Inbox {
    /// An inbox on a channel, without a waker.
    pub(crate) fn new(tx: Sender<Input>) -> Inbox {
        Inbox { tx, waker: None }
    }

    pub(crate) fn send(&self, input: Input) -> bool {
        let ok = self.tx.send(input).is_ok();
        if let Some(w) = &self.waker {
            w();
        }
        ok
    }
}

/// How old a journal acknowledgment (its ownership check) may be when the
/// node acts on it before ownership is checked again. A router drops a
/// silent node only after 2/3 of its inactivity time (at least 1 s: the
/// node's pings go out every third of it), and a standby takes the journal
/// over after that; an acknowledgment younger than this cannot have been
/// overtaken. Passes slower than this without a stop only cost a read of
/// the epoch file.
const STALE_ACK: Duration = Duration::from_millis(200);

/// How many queued requests the node thread takes before it acts on them.
const MAX_BATCH: usize = 1024;

/// The environment variable that selects the journal directory of the
/// process-wide embedded node. `none` (or `off`) runs without a journal.
pub const JOURNAL_DIR_ENV: &str = "RTR_JOURNAL_DIR";
/// The journal directory when the variable is not set (relative to the
/// current directory).
pub const DEFAULT_JOURNAL_DIR: &str = "rtr-journal";

/// How to start an embedded node.
#[derive(Clone, Debug, Default)]
pub struct EmbeddedConfig {
    /// `None`: no journal (transactions are not durable).
    pub journal: Option<JournalConfig>,
    /// The node id, the first word of every tid it starts: unique among
    /// linked nodes (a daemon derives it from its name,
    /// [`crate::facility::node_id`]). `None`: 1.
    pub node_id: Option<u32>,
    /// Where the journals of other nodes are (`DIR/NODE`), for a standby
    /// that takes over a lost node's journal. `None`: no takeover (a
    /// partition promoted in its place waits for an operator).
    pub peer_journals: Option<PathBuf>,
}

impl EmbeddedConfig {
    /// The process-wide node's settings: a journal in `$RTR_JOURNAL_DIR`, or
    /// in `./rtr-journal` when it is not set; none when it is `none`/`off`.
    pub fn from_env() -> EmbeddedConfig {
        let dir = match std::env::var_os(JOURNAL_DIR_ENV) {
            Some(v) if v == "none" || v == "off" => return EmbeddedConfig::default(),
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => PathBuf::from(DEFAULT_JOURNAL_DIR),
        };
        EmbeddedConfig::journaled(dir)
    }

    /// A journal in `dir` with the default sizes.
    pub fn journaled(dir: impl Into<PathBuf>) -> EmbeddedConfig {
        EmbeddedConfig {
            journal: Some(JournalConfig { dir: dir.into(), ..JournalConfig::default() }),
            node_id: None,
            peer_journals: None,
        }
    }
}

/// Handle to a running embedded node. Dropping the last handle stops its thread.
pub struct EmbeddedNode {
    inbox: Inbox,
    next_conn: AtomicU32,
    node_id: u32,
    incarnation: u32,
    /// Committed transactions found in the journal at start-up.
    recovered: usize,
    thread: Option<JoinHandle<()>>,
    /// The node thread reads application sockets itself (`start_daemon`).
    reactor: bool,
    /// Facility definitions and the stop flag (`embedded/admin.rs`).
    admin: admin::NodeAdmin,
    /// How the node thread ended, once it did (`embedded/halt.rs`).
    halt: Arc<halt::Halt>,
}

/// A connection's way to send requests to its node.
#[derive(Clone)]
pub struct NodeLink {
    conn: ConnId,
    inbox: Inbox,
}

impl NodeLink {
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// A link to nowhere: every send fails (the node could not be reached).
    pub fn dead() -> NodeLink {
        let (tx, _rx) = crossbeam_channel::bounded(0);
        NodeLink { conn: 0, inbox: Inbox::new(tx) }
    }

    pub fn is_dead(&self) -> bool {
        self.conn == 0
    }

    /// Queue a request. Fails only when the node thread has stopped.
    pub fn send(&self, req: Request) -> bool {
        self.inbox.send(Input::Request(self.conn, req))
    }
}

/// How long the node thread polls for a journal completion before sleeping.
const LINGER: std::time::Duration = std::time::Duration::from_micros(300);

fn linger(rx: &Receiver<Input>) -> Option<Input> {
    let until = Instant::now() + LINGER;
    loop {
        match rx.try_recv() {
            Ok(m) => return Some(m),
            Err(_) if Instant::now() >= until => return None,
            Err(_) => std::thread::yield_now(),
        }
    }
}

/// One journal append being assembled from a pass's records.
struct Append {
    entries: Vec<(Tid, RecordKind, Vec<u8>)>,
    sync: bool,
    tokens: Vec<u64>,
    tids: Vec<Tid>,
    bytes: u64,
    new_tx: bool,
}

/// Packs a pass's records into appends: new transactions apart from the
/// rest, each append under the journal's size limit, order kept within each.
struct Appends {
    limit: u64,
    done: Vec<Append>,
    open: [Option<Append>; 2],
}

impl Appends {
    fn new(limit: u64) -> Appends {
        Appends { limit, done: Vec::new(), open: [None, None] }
    }

    fn add(&mut self, entries: Vec<(Tid, RecordKind, Vec<u8>)>, sync: bool, token: Option<u64>, new_tx: bool) {
        let size: u64 = entries.iter().map(|e| journal::format::record_bytes(e.2.len()) as u64).sum();
        let slot = &mut self.open[usize::from(new_tx)];
        if slot.as_ref().is_some_and(|a| a.bytes + size > self.limit) {
            self.done.extend(slot.take());
        }
        let a = slot.get_or_insert_with(|| Append {
            entries: Vec::new(),
            sync: false,
            tokens: Vec::new(),
            tids: Vec::new(),
            bytes: 0,
            new_tx,
        });
        a.bytes += size;
        a.sync |= sync;
        a.tokens.extend(token);
        for e in &entries {
            if a.tids.last() != Some(&e.0) {
                a.tids.push(e.0);
            }
        }
        a.entries.extend(entries);
    }

    /// The appends in the order to issue them: new transactions last, so
    /// records of transactions in progress never wait behind them.
    fn finish(mut self) -> Vec<Append> {
        let [other, new] = std::mem::take(&mut self.open);
        let mut v = self.done;
        v.extend(other);
        v.extend(new);
        v.sort_by_key(|a| a.new_tx);
        v
    }
}

impl EmbeddedNode {
    /// Start a node thread with every role and no journal.
    pub fn start() -> std::io::Result<Arc<EmbeddedNode>> {
        EmbeddedNode::start_with(EmbeddedConfig::default()).map_err(|e| std::io::Error::other(e.to_string()))
    }

    /// Start a node thread with every role; open (or create) its journal
    /// first and rebuild from it.
    pub fn start_with(cfg: EmbeddedConfig) -> Result<Arc<EmbeddedNode>, RtrError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let inbox = Inbox::new(tx);
        let (driver, incarnation, recovered) = Driver::new(&cfg, inbox.clone())?;
        let node_id = cfg.node_id.unwrap_or(1);
        let halt = driver.halt.clone();
        let node = EmbeddedNode::spawn(inbox, node_id, incarnation, recovered, halt, move || run(driver, rx))?;
        Ok(node)
    }

    /// Start a node for a daemon: like [`EmbeddedNode::start_with`], but
    /// its thread waits in an event loop that also reads the application
    /// connections' sockets (hand them over with [`EmbeddedNode::adopt`]).
    pub fn start_daemon(cfg: EmbeddedConfig) -> Result<Arc<EmbeddedNode>, RtrError> {
        let io = |e: std::io::Error| RtrError::NodeUnavailable(format!("cannot start the event loop: {e}"));
        let bell = crate::transport::reactor::Bell::new().map_err(io)?;
        let reactor = crate::transport::reactor::Reactor::new(bell.clone()).map_err(io)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let inbox = Inbox { tx, waker: Some(Arc::new(move || bell.ring())) };
        let (driver, incarnation, recovered) = Driver::new(&cfg, inbox.clone())?;
        let node_id = cfg.node_id.unwrap_or(1);
        let halt = driver.halt.clone();
        let node = EmbeddedNode::spawn(inbox, node_id, incarnation, recovered, halt, move || {
            run_reactor(driver, rx, reactor)
        })?;
        // Only this handle exists yet: mark it.
        let mut node = node;
        if let Some(n) = Arc::get_mut(&mut node) {
            n.reactor = true;
        }
        Ok(node)
    }

    /// Does the node thread read application sockets itself?
    pub fn is_reactor(&self) -> bool {
        self.reactor
    }

    /// Hand a greeted connection's socket to the node thread (a daemon's
    /// node, [`EmbeddedNode::start_daemon`]).
    pub fn adopt(&self, conn: ConnId, stream: std::os::unix::net::UnixStream) -> bool {
        self.inbox.send(Input::Adopt(conn, stream))
    }

    /// Start the node thread running `body` (the driver's loop), behind a
    /// panic boundary.
    pub(crate) fn spawn(
        inbox: Inbox,
        node_id: u32,
        incarnation: u32,
        recovered: usize,
        halt: Arc<halt::Halt>,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<Arc<EmbeddedNode>, RtrError> {
        let thread = std::thread::Builder::new()
            .name("rtr-node".into())
            .spawn(body)
            .map_err(|e| RtrError::NodeUnavailable(format!("cannot start the node thread: {e}")))?;
        Ok(Arc::new(EmbeddedNode {
            inbox,
            next_conn: AtomicU32::new(1),
            node_id,
            incarnation,
            recovered,
            thread: Some(thread),
            admin: admin::NodeAdmin::default(),
            reactor: false,
            halt,
        }))
    }

    /// Attach a library connection; deliveries for it go to `sink`. `None`
    /// once the node has stopped.
    pub fn connect(&self, sink: Arc<dyn DeliverySink>) -> Option<NodeLink> {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.inbox.send(Input::Connect(conn, sink)).then_some(())?;
        // A stopping node thread marks itself closing before it drains its
        // inbox: either it found this connection there (and told its sink),
        // or the mark is seen here.
        if self.halt.is_closing() {
            return None;
        }
        Some(NodeLink { conn, inbox: self.inbox.clone() })
    }

    /// Why the node stopped on its own (it lost its journal, or a bug
    /// stopped its thread); `None` while it runs or after a requested stop.
    pub fn failure(&self) -> Option<String> {
        self.halt.failure()
    }

    /// Wait up to `timeout` for the node thread to have stopped, for any
    /// reason, and released its links, connections and journals; true if
    /// it has.
    pub fn wait_stopped(&self, timeout: Duration) -> bool {
        self.halt.wait_ended(timeout)
    }

    pub fn node_id(&self) -> u32 {
        self.node_id
    }

    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// Committed transactions found in the journal at start-up (replayed to
    /// servers as they open).
    pub fn recovered(&self) -> usize {
        self.recovered
    }

    /// Start this node's links to other nodes, as node `name` (a daemon
    /// does, after [`EmbeddedNode::set_facility_store`]). Fails when the
    /// listening address cannot be bound.
    pub fn start_links(&self, name: &str, cfg: crate::transport::links::LinkConfig) -> std::io::Result<Arc<Links>> {
        let table = self.facility_table().unwrap_or_else(|| crate::facility::FacilityTable::new(name));
        let links = Links::start(name.to_string(), self.node_id, cfg, table, self.inbox.clone())?;
        self.inbox.send(Input::Links(links.clone()));
        Ok(links)
    }
}

impl Drop for EmbeddedNode {
    fn drop(&mut self) {
        let _ = self.inbox.send(Input::Shutdown);
        if let Some(t) = self.thread.take() {
            // Never join from the node thread itself (a sink dropping the last handle).
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

/// The node thread's state outside the node itself: its connections'
/// sinks, its journal, and what one pass collects.
pub(crate) struct Driver {
    node: Node,
    journal: Option<Journal>,
    append_limit: u64,
    back: Inbox,
    pub(crate) sinks: HashMap<ConnId, Arc<dyn DeliverySink>>,
    batches: HashMap<ConnId, Vec<Delivery>>,
    /// Synced appends whose completion has not come back yet.
    in_flight: usize,
    /// Links to other nodes (a daemon's), once started.
    links: Option<Arc<Links>>,
    /// Journals taken over from lost nodes, by journal id.
    adopted: HashMap<u32, Journal>,
    /// Where lost nodes' journals are, and the sizes to open them with.
    peer_journals: Option<PathBuf>,
    journal_cfg: Option<JournalConfig>,
    /// Process ids of connections, and a pending stop's reply.
    admin: admin::DriverAdmin,
    /// Why the node must stop (an `Input::Fatal`), for `halt::finish`.
    failure: Option<String>,
    /// When the ownership check behind this pass's oldest journal
    /// acknowledgment passed.
    oldest_ack: Option<Instant>,
    halt: Arc<halt::Halt>,
}

impl Driver {
    /// A node with its journal opened and recovered. Returns the driver, the
    /// incarnation for tids, and the number of committed transactions to replay.
    pub(crate) fn new(cfg: &EmbeddedConfig, back: Inbox) -> Result<(Driver, u32, usize), RtrError> {
        let append_limit = cfg.journal.as_ref().map_or(u64::MAX, JournalConfig::max_append_bytes);
        // The largest record the node writes (a message of RTR_MAX_MSGLEN
        // with its facility name) must fit in one append.
        let largest = journal::format::record_bytes(1 + 255 + crate::MAX_MSGLEN) as u64;
        if largest > append_limit {
            return Err(RtrError::NodeUnavailable(format!(
                "journal segments of {} bytes are too small for a {}-byte message; use at least {} bytes",
                cfg.journal.as_ref().map_or(0, |j| j.segment_bytes),
                crate::MAX_MSGLEN,
                largest + 4096
            )));
        }
        let mut node = Node::new(cfg.journal.is_some());
        let (journal, incarnation, recovered) = match &cfg.journal {
            Some(jc) => {
                let (j, rec) = journal::open_or_create(jc).map_err(|e| {
                    RtrError::NodeUnavailable(format!("cannot open the journal in {}: {e}", jc.dir.display()))
                })?;
                for cut in &rec.cuts {
                    eprintln!("rtr node: journal recovery {cut}");
                }
                let n = node.recover(Instant::now(), &rec.records);
                // However this node loses its journal, even while idle, it
                // stops (and closes its links) at once.
                let (lost, dir) = (back.clone(), jc.dir.clone());
                j.on_lost(Box::new(move |e| {
                    lost.send(Input::Fatal(lost_journal(&dir, &e)));
                }));
                // The owner epoch grows at every open, durably: it makes the
                // tids of this run differ from those of every earlier run.
                (Some(j), rec.epoch as u32, n)
            }
            None => {
                // Without a journal, wall-clock time mixed with the pid
                // separates the tids of successive runs.
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                (None, (now.as_secs() as u32) ^ (now.subsec_nanos() << 7) ^ std::process::id(), 0)
            }
        };
        let d = Driver {
            node,
            journal,
            append_limit,
            back,
            sinks: HashMap::new(),
            batches: HashMap::new(),
            in_flight: 0,
            links: None,
            adopted: HashMap::new(),
            peer_journals: cfg.peer_journals.clone(),
            journal_cfg: cfg.journal.clone(),
            admin: Default::default(),
            failure: None,
            oldest_ack: None,
            halt: Arc::new(halt::Halt::default()),
        };
        Ok((d, incarnation, recovered))
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.node.next_deadline()
    }

    /// A synced journal write is on its way: its completion is due soon.
    pub(crate) fn awaiting_journal(&self) -> bool {
        self.in_flight > 0
    }

    /// Tell every connection the node is gone.
    pub(crate) fn stop_all(&self) {
        for s in self.sinks.values() {
            s.node_stopped();
        }
    }

    /// Take one input. Returns false when the node must stop.
    pub(crate) fn input(&mut self, now: Instant, input: Input) -> bool {
        match input {
            Input::Connect(conn, sink) => {
                self.sinks.insert(conn, sink);
            }
            Input::Request(conn, req) => {
                let disconnect = matches!(req, Request::Disconnect);
                self.node.handle_request(now, conn, req);
                if disconnect {
                    self.sinks.remove(&conn);
                    self.admin.forget(conn);
                }
            }
            Input::JournalDone(tokens, result, checked) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if result.is_ok() {
                    self.oldest_ack = Some(self.oldest_ack.map_or(checked, |o| o.min(checked)));
                }
                for t in tokens {
                    self.node.journal_done(now, t, result);
                }
            }
            Input::JournalFailed(tids, status) => self.node.journal_failed(now, tids, status),
            Input::Fatal(why) => {
                // A commit whose write failed may still be on disk (the
                // failure came after the write), so no outcome can be
                // given: stop, and let recovery (by a restart or a new
                // owner) decide. `halt::finish` closes the links and
                // connections; every connection sees NODEUNAVAIL.
                eprintln!("rtr: the node stops: {why}");
                self.failure = Some(why);
                return false;
            }
            Input::Shutdown => return false,
            Input::Admin(cmd) => return self.admin_input(now, cmd),
            Input::Links(links) => self.links = Some(links),
            Input::LinkUp(id, info) => self.node.link_up(now, id, info),
            Input::Peer(id, msg) => self.node.peer_input(now, id, msg),
            Input::LinkDown(id) => self.node.link_down(now, id),
            // Only a daemon's event loop takes sockets; anywhere else the
            // connection is refused as if it had closed.
            Input::Adopt(conn, _) => return self.input(now, Input::Request(conn, Request::Disconnect)),
            #[cfg(test)]
            Input::Test(f) => f(self),
        }
        true
    }

    /// An acknowledgment is only as good as the ownership check behind it.
    /// One that aged past [`STALE_ACK`] before this pass could act on it
    /// (the process was stopped, or starved, in between) may have been
    /// overtaken by a takeover: check again, here, before anyone hears of
    /// it. True (and the node must stop, saying why) when it was: a woken
    /// node then sends and delivers nothing of this pass, so its servers do
    /// not get a commit the new owner is replaying to its own. (Only what
    /// was already being written when the process stopped still goes out.)
    /// Only a proven fence stops the node, as in the journal's idle check.
    fn acks_went_stale(&mut self) -> bool {
        let Some(checked) = self.oldest_ack.take() else { return false };
        if checked.elapsed() <= STALE_ACK {
            return false;
        }
        let (Some(j), Some(cfg)) = (&self.journal, &self.journal_cfg) else { return false };
        match j.check_owner() {
            Err(e @ JournalError::Fenced { .. }) => {
                let why = lost_journal(&cfg.dir, &e);
                eprintln!("rtr: the node stops: {why}");
                self.failure = Some(why);
                true
            }
            _ => false,
        }
    }

    /// End of a pass: fire timers, hand the pass's journal records to the
    /// journal (before delivering their messages), then deliver. Returns
    /// false when the node must stop (it found itself fenced).
    pub(crate) fn flush(&mut self, now: Instant) -> bool {
        self.node.tick(now);
        // The pass's records go in at most a few appends: those that start
        // new transactions apart from the rest, so that the journal's reserve
        // stays for transactions already in progress, and each append within
        // the journal's size limit.
        let mut appends = Appends::new(self.append_limit);
        // A pass's messages for one peer go out as one buffer, in order.
        let mut to_peers: Vec<(NodeRef, crate::protocol::peer::Writer)> = Vec::new();
        let mut takeovers = Vec::new();
        for out in self.node.take_output() {
            match out {
                Output::Journal { entries, jid, sync, token, .. } if jid != 0 => {
                    // A taken-over journal: its undecided transactions'
                    // aborts, its finished ones' Done records, and the
                    // commits of its in-doubt ones (synced, with a token).
                    match self.adopted.get(&jid) {
                        Some(j) => {
                            let back = self.back.clone();
                            if token.is_some() {
                                self.in_flight += 1;
                            }
                            j.append(
                                entries,
                                sync,
                                Box::new(move |res| match (res, token) {
                                    (Ok(()), Some(t)) => {
                                        back.send(Input::JournalDone(vec![t], Ok(()), Instant::now()));
                                    }
                                    (Ok(()), None) => {}
                                    (Err(e), t) => {
                                        eprintln!("rtr: a write to a taken-over journal failed: {e}");
                                        if let Some(t) = t {
                                            back.send(Input::JournalDone(
                                                vec![t],
                                                Err(Status::Jnlfull),
                                                Instant::now(),
                                            ));
                                        }
                                    }
                                }),
                            );
                        }
                        None => {
                            if let Some(t) = token {
                                self.node.journal_done(now, t, Err(Status::Nodeunavail));
                            }
                        }
                    }
                }
                Output::Takeover { node, jid } => takeovers.push((node, jid)),
                Output::Log(text) => eprintln!("rtr node: {text}"),
                Output::Release { jid } => {
                    // Dropping the handle flushes it and lets its lock go.
                    if self.adopted.remove(&jid).is_some() {
                        eprintln!("rtr node: every transaction of taken-over journal {jid} finished; released");
                    }
                }
                Output::Deliver { conn, delivery } => {
                    if self.sinks.contains_key(&conn) {
                        self.batches.entry(conn).or_default().push(delivery);
                    }
                }
                Output::Journal { entries, sync, token, new_tx, .. } => appends.add(entries, sync, token, new_tx),
                Output::Peer { peer, msg } => {
                    let at = match to_peers.iter().position(|(p, _)| *p == peer) {
                        Some(i) => i,
                        None => {
                            to_peers.push((peer, Default::default()));
                            to_peers.len() - 1
                        }
                    };
                    let frame = crate::protocol::peer::PeerFrame::Msg(msg);
                    crate::protocol::peer::encode_into(&mut to_peers[at].1, &frame);
                }
            }
        }
        if self.acks_went_stale() {
            return false;
        }
        if let Some(links) = &self.links {
            for (peer, w) in to_peers {
                links.send(peer, w.buf);
            }
        }
        for a in appends.finish() {
            let back = self.back.clone();
            match &self.journal {
                Some(j) => {
                    let Append { entries, sync, tokens, tids, .. } = a;
                    if !tokens.is_empty() {
                        self.in_flight += 1;
                    }
                    j.append(
                        entries,
                        sync,
                        Box::new(move |res| match res {
                            Ok(()) => {
                                if !tokens.is_empty() {
                                    back.send(Input::JournalDone(tokens, Ok(()), Instant::now()));
                                }
                            }
                            Err(JournalError::Full) => {
                                // Nothing of this append was written.
                                if !tokens.is_empty() {
                                    back.send(Input::JournalDone(tokens, Err(Status::Jnlfull), Instant::now()));
                                }
                                back.send(Input::JournalFailed(tids, Status::Jnlfull));
                            }
                            Err(e) => {
                                back.send(Input::Fatal(format!("journal write failed: {e}")));
                            }
                        }),
                    );
                }
                None => {
                    // A node without a journal emits no records; if it did,
                    // report the synced ones durable so nothing waits for ever.
                    if !a.tokens.is_empty() {
                        back.send(Input::JournalDone(a.tokens, Ok(()), Instant::now()));
                    }
                }
            }
        }
        for (conn, batch) in self.batches.iter_mut() {
            if batch.is_empty() {
                continue;
            }
            if let Some(sink) = self.sinks.get(conn) {
                sink.deliver(std::mem::take(batch));
            }
        }
        if !takeovers.is_empty() {
            for (node, jid) in takeovers {
                let result = self.take_over(&node, jid);
                self.node.takeover_done(now, &node, result);
            }
            return self.flush(now);
        }
        true
    }

    /// Take over the journal of lost node `node` (under the shared journal
    /// directory): lock it, forcibly (the previous owner is fenced: its
    /// later writes fail), recover it, and keep it as journal `jid` until
    /// its transactions are finished. Runs on the node thread: new work
    /// for the partitions waits meanwhile, as RTR's does.
    fn take_over(&mut self, node: &str, jid: u32) -> Result<(u32, Vec<journal::Record>), String> {
        let t0 = Instant::now();
        let root = self
            .peer_journals
            .as_ref()
            .ok_or("this node has no shared journal directory (rtr start --journal-root)")?;
        let mut cfg = self.journal_cfg.clone().unwrap_or_default();
        cfg.dir = root.join(node);
        let (j, rec) = journal::open(&cfg, journal::Takeover::Force)
            .map_err(|e| format!("cannot take over {}: {e}", cfg.dir.display()))?;
        for cut in &rec.cuts {
            eprintln!("rtr node: recovery of the journal of {node} {cut}");
        }
        eprintln!(
            "rtr node: took over the journal of {node} ({}) in {} ms: epoch {}, {} records",
            cfg.dir.display(),
            t0.elapsed().as_millis(),
            rec.epoch,
            rec.records.len()
        );
        self.adopted.insert(jid, j);
        Ok((jid, rec.records))
    }
}

/// Why a node thread stopped: the driver's fatal failure, or a panic (a bug
/// in the node must not leave applications blocked, nor a daemon running
/// without its node, for ever).
fn failure_of(driver: &mut Driver, loop_result: std::thread::Result<()>) -> Option<String> {
    match loop_result {
        Ok(()) => driver.failure.take(),
        Err(_) => Some("the node thread failed (a bug; see the panic message above)".into()),
    }
}

/// The embedded node thread: sleep on the inbox channel, take everything
/// queued, act, repeat.
fn run(mut driver: Driver, rx: Receiver<Input>) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_loop(&mut driver, &rx)));
    let failure = failure_of(&mut driver, r);
    halt::finish(driver, rx, failure, || {});
}

/// A daemon's node thread: wait on the application sockets and the inbox's
/// bell at once, take everything that arrived, act, repeat.
fn run_reactor(mut driver: Driver, rx: Receiver<Input>, mut reactor: crate::transport::reactor::Reactor) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor_loop(&mut driver, &rx, &mut reactor)));
    let failure = failure_of(&mut driver, r);
    halt::finish(driver, rx, failure, move || drop(reactor));
}

/// What a node that lost its journal in `dir` says (see [`Journal::on_lost`]).
fn lost_journal(dir: &std::path::Path, e: &JournalError) -> String {
    match e {
        JournalError::Fenced { mine, current } => format!(
            "its journal {} was taken over by another owner: epoch {current} fenced this node's epoch {mine} \
             (a standby promoted in its place, or rtr journal takeover); this node can commit nothing more",
            dir.display()
        ),
        other => format!("its journal {} can no longer be written ({other}); a restart recovers it", dir.display()),
    }
}

/// Milliseconds until `deadline` for epoll (rounded up; -1: none).
fn wait_ms(deadline: Option<Instant>) -> i32 {
    match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
        }
    }
}

fn reactor_loop(driver: &mut Driver, rx: &Receiver<Input>, reactor: &mut crate::transport::reactor::Reactor) {
    use crate::transport::reactor::Event;
    let mut events = Vec::new();
    loop {
        // As in `run_loop`: while a commit is being synced, poll (yielding)
        // for a bounded time rather than sleep.
        if driver.awaiting_journal() {
            let until = Instant::now() + LINGER;
            loop {
                let rang = reactor.wait(0, &mut events);
                if rang || !events.is_empty() || !rx.is_empty() {
                    break;
                }
                if Instant::now() >= until {
                    reactor.wait(wait_ms(driver.next_deadline()), &mut events);
                    break;
                }
                std::thread::yield_now();
            }
        } else {
            reactor.wait(wait_ms(driver.next_deadline()), &mut events);
        }
        let now = Instant::now();
        for ev in events.drain(..) {
            let input = match ev {
                Event::Request(conn, req) => Input::Request(conn, req),
                Event::Gone(conn, why) => {
                    // An orderly disconnect is the application's own
                    // doing; any other end is worth a line in the log.
                    if let Some(why) = why {
                        eprintln!("rtr node: connection {conn} (pid {}) ends: {why}", driver.pid(conn));
                    }
                    // Its channels close as if its process had died.
                    Input::Request(conn, Request::Disconnect)
                }
            };
            if !driver.input(now, input) {
                return;
            }
        }
        let mut taken = 0;
        while taken < MAX_BATCH {
            match rx.try_recv() {
                Ok(Input::Adopt(conn, stream)) => {
                    if let Err(e) = reactor.adopt(conn, stream) {
                        eprintln!("rtr node: cannot watch connection {conn}: {e}");
                        if !driver.input(now, Input::Request(conn, Request::Disconnect)) {
                            return;
                        }
                    }
                }
                Ok(input) => {
                    if !driver.input(now, input) {
                        return;
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            }
            taken += 1;
        }
        if taken == MAX_BATCH {
            // More is queued: come straight back.
            reactor.ring();
        }
        if !driver.flush(now) {
            return;
        }
    }
}

fn run_loop(driver: &mut Driver, rx: &Receiver<Input>) {
    loop {
        // While a commit is being synced its completion is due within about
        // one fdatasync: wait for it by polling (yielding the CPU) rather
        // than sleeping, so an idle transaction does not pay a wake-up on
        // top of the sync. Bounded, so a slow disk falls back to sleeping.
        let polled = if driver.awaiting_journal() { linger(rx) } else { None };
        let first = match polled {
            Some(m) => Some(m),
            None => match driver.next_deadline() {
                Some(deadline) => match rx.recv_deadline(deadline) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return,
                },
            },
        };
        let now = Instant::now();
        let mut next = first;
        let mut taken = 0;
        while let Some(input) = next {
            if !driver.input(now, input) {
                return;
            }
            taken += 1;
            next = if taken < MAX_BATCH { rx.try_recv().ok() } else { None };
        }
        if !driver.flush(now) {
            return;
        }
    }
}
