//! The node runtime: a node's thread, its inbox, and the driver that
//! carries out what the node asks for; shared by the embedded node (a node
//! running inside the application process) and the node daemon (`rtr
//! start`), which differ only in the loop the node thread runs.
//!
//! The thread owns the [`Node`](crate::node::Node) state machine. Library
//! connections send it [`Request`]s over a crossbeam channel (the inbox,
//! `input.rs`); it hands [`Delivery`]s back through each connection's
//! [`DeliverySink`]. It drains every request already queued before acting,
//! so a burst from many client threads is handled in one pass: the pass's
//! journal records go to the journal writer in one append (one shared
//! fdatasync when any of them needs it), and each connection is woken once
//! per pass, not once per message.
//!
//! Files:
//! - `input.rs`: what the node thread takes in (`Input`), its inbox, and
//!   the `PeerLinks` trait through which it reaches other nodes;
//! - `pass.rs`: what a pass does with the node's outputs, sans I/O: how its
//!   journal records become appends (and to which journal), its deliveries
//!   and peer messages grouped, and what each append's result tells the node;
//! - `driver.rs`: the node thread's state outside the node, and the I/O that
//!   carries out a pass's plan (journal appends, deliveries, peer messages,
//!   takeovers);
//! - `app_loop.rs`: the embedded node's loop (sleeps on the inbox channel);
//! - `daemon_loop.rs` and `reactor.rs`: a daemon's loop (epoll on the
//!   application sockets and on a bell the inbox rings);
//! - `admin.rs`: management (`rtr show`, `create facility`, `stop`);
//! - `halt.rs`: how the node thread ends, and who hears of it.
//!
//! Dependencies: the runtime depends on `node`, `journal` and `protocol`,
//! never on `transport`. `transport` depends on the runtime: the library's
//! connections ([`crate::transport::Link`]) and the daemon's socket server
//! (`transport/unix.rs`) use [`EmbeddedNode`] and [`NodeLink`], and the TCP
//! links between nodes (`transport/links.rs`) feed the inbox and implement
//! `PeerLinks` (and `EmbeddedNode::start_links`, which makes them).
//!
//! The journal (on by default for the process-wide node; see
//! [`EmbeddedConfig::from_env`]) is opened before the node takes requests;
//! committed transactions found in it are replayed to servers as they open.
//! A node that loses its journal (another owner fenced it, or a write or
//! sync failed) stops for good: it closes its links and connections at once
//! and every call fails with `RTR_STS_NODEUNAVAIL` (`halt.rs`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::RtrError;
use crate::journal::JournalConfig;
use crate::protocol::{ConnId, Delivery, Request};

mod admin;
mod app_loop;
mod daemon_loop;
mod driver;
mod halt;
mod input;
mod metrics;
// Crate-visible: the simulator (`sim/world.rs`) is to share the policy.
pub(crate) mod pass;
mod reactor;

pub(crate) use driver::Driver;
pub(crate) use input::{Inbox, Input, PeerLinks};

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

/// How many queued requests the node thread takes before it acts on them.
const MAX_BATCH: usize = 1024;

/// How long the node thread polls for a journal completion before sleeping.
const LINGER: Duration = Duration::from_micros(300);

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
    /// Which role authority grants key ranges (`docs/roles.md`).
    pub authority: crate::authority::AuthorityConfig,
    /// What partitions do when a lost node's journal cannot be taken over.
    pub recovery: crate::node::RecoveryPolicy,
    /// The node's site for shadow servers (`Node::set_site`,
    /// docs/shadow.md); `None`: the node's own name. Checked by
    /// `Node::set_site` at start (a bad name fails the start).
    pub site: Option<String>,
    /// Channels at most one library connection may hold open; `None`:
    /// `MAX_CHANNELS` (what the library itself allows a process).
    pub max_channels_per_conn: Option<usize>,
    /// The facility definitions the node starts with (a daemon's
    /// `facilities.conf`), given to it before its journal is recovered.
    /// `None`: none until [`EmbeddedNode::set_facility_store`]. A node that
    /// recovers without them takes every facility for an implicit one of
    /// its own, where it plays every role: it resolved a transaction its
    /// journal held in doubt by asking itself alone ("nobody committed
    /// it"), rolled it back, and its key range never applied a commit the
    /// other participants had made (CI96, `cli/tests/shadow_sites.rs`).
    pub facilities: Option<crate::facility::FacilityTable>,
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
            ..EmbeddedConfig::default()
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
    /// Facility definitions and the stop flag (`admin.rs`).
    admin: admin::NodeAdmin,
    /// How the node thread ended, once it did (`halt.rs`).
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
        let node =
            EmbeddedNode::spawn(inbox, node_id, incarnation, recovered, halt, move || app_loop::run(driver, rx))?;
        Ok(node)
    }

    /// Start a node for a daemon: like [`EmbeddedNode::start_with`], but
    /// its thread waits in an event loop that also reads the application
    /// connections' sockets (hand them over with [`EmbeddedNode::adopt`]).
    pub fn start_daemon(cfg: EmbeddedConfig) -> Result<Arc<EmbeddedNode>, RtrError> {
        let io = |e: std::io::Error| RtrError::NodeUnavailable(format!("cannot start the event loop: {e}"));
        let bell = reactor::Bell::new().map_err(io)?;
        let reactor = reactor::Reactor::new(bell.clone()).map_err(io)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let inbox = Inbox::with_waker(tx, Arc::new(move || bell.ring()));
        let (driver, incarnation, recovered) = Driver::new(&cfg, inbox.clone())?;
        let node_id = cfg.node_id.unwrap_or(1);
        let halt = driver.halt.clone();
        let node = EmbeddedNode::spawn(inbox, node_id, incarnation, recovered, halt, move || {
            daemon_loop::run(driver, rx, reactor)
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

    /// Wait up to `timeout` for everything sent to the node so far (requests
    /// of its connections, such as a server's last receive that finishes a
    /// transaction) to be acted on and for the journal writes that caused to
    /// be durable. True if that happened in time; false on timeout or if the
    /// node has stopped. The process-wide node does this at process exit,
    /// so that a program's last acknowledgments are not lost with it.
    pub fn drain(&self, timeout: Duration) -> bool {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if !self.inbox.send(Input::Drain(tx)) {
            return false;
        }
        rx.recv_timeout(timeout).is_ok()
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

    /// The node thread's inbox (for the links to other nodes, which feed
    /// it: `transport/links.rs`).
    pub(crate) fn inbox(&self) -> &Inbox {
        &self.inbox
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
