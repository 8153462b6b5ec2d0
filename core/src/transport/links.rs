//! Links between nodes over TCP, plain or TLS.
//!
//! Each pair of nodes that needs one (a frontend and a router, a router and
//! a backend of a common facility) has one TCP connection. The node whose
//! name sorts first dials; the other accepts. Dialling retries with
//! exponential backoff (100 ms doubling to 5 s) for as long as the
//! definitions call for the link.
//!
//! The link protocol (handshake, framing, ping, inactivity) is the sans-I/O
//! [`Session`] (`session.rs`); the bytes travel over a [`LinkStream`]
//! (`stream.rs`): plain TCP (`--insecure-links`) or mutual TLS with rustls
//! (`tls.rs`: a node's certificate names it, and the acceptor checks that
//! the name in the hello is the certificate's). A refused or failed link is
//! logged with its reason and shown by `rtr show link`.
//!
//! Threads: one per link, which owns the socket (nonblocking) and the TLS
//! connection, and waits with `poll(2)` on the socket and on a [`Waker`]
//! that [`Links::send`] pokes after queuing bytes: no lock is shared around
//! a TLS session. A dialled link runs on its peer's dial thread (which
//! dials again when the link ends); an accepted connection gets a thread
//! of its own, which ends with the handshake if that fails (the session's
//! hello timeout bounds it, the TLS handshake included). The queue of
//! bytes for a link is bounded ([`LinkConfig::max_queue`]): a peer too slow
//! to take what is sent to it loses the link (and gets it back by
//! reconnecting) rather than growing this node's memory without end.
//!
//! A bad frame (truncated, oversized, unknown, corrupt, wrong version) or a
//! TLS error (a record that fails its authentication: bytes changed on the
//! way) closes that link with the reason logged; the node goes on serving
//! everyone else.
//!
//! Every link instance gets a new [`NodeRef`], never reused: a message from
//! a link that went down can never be taken for one of its successor's.
//!
//! The links depend on the node runtime (they feed its inbox), not the other
//! way round: the node thread reaches them through `PeerLinks` (`runtime/input.rs`), handed to
//! it by [`EmbeddedNode::start_links`] (defined here for that reason).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::facility::FacilityTable;
use crate::node::{NodeRef, PeerInfo};
use crate::protocol::peer::{self, PeerFrame};
use crate::runtime::{EmbeddedNode, Inbox, Input, PeerLinks};
use crate::transport::accept::Backoff;
use crate::transport::repeats::Repeats;
use crate::transport::session::{self, Down, Event, Session, Timers, HANDSHAKE_WAIT};
use crate::transport::stream::{self, LinkStream, Pulled, Waker};
use crate::transport::tls::TlsSetup;

#[cfg(test)]
use crate::transport::session::refusal_text;

/// The TCP port a node listens on when none is configured.
pub const DEFAULT_PORT: u16 = 46_000;
/// The default inactivity timer of a link.
pub const DEFAULT_INACTIVITY: Duration = Duration::from_secs(60);
/// The default bound on the bytes queued for one link.
pub const DEFAULT_MAX_QUEUE: usize = 64 << 20;
/// The default of [`LinkConfig::hello_timeout`].
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Links closed for saying no hello in time, in this process.
pub static HELLO_TIMEOUTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Bytes moved from a link's queue into its session at most ahead of the
/// socket: the rest stays in the queue, counted against its bound.
const SESSION_OUT_MAX: usize = 256 << 10;

/// How a node reaches its peers.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// Where to accept links (`host:port`); `None`: accept none.
    pub listen: Option<String>,
    /// Addresses of peers by node name; a peer not listed is reached at
    /// `NAME:DEFAULT_PORT`.
    pub peers: BTreeMap<String, String>,
    /// A link that hears nothing for this long is closed.
    pub inactivity: Duration,
    /// Most bytes queued for one link before it is dropped.
    pub max_queue: usize,
    /// An accepted connection that has not sent its whole hello within
    /// this time is closed (however slowly its bytes trickle in; the TLS
    /// handshake counts in it).
    pub hello_timeout: Duration,
    /// Mutual TLS on every link; `None`: plain TCP, and only with
    /// `insecure` (otherwise no link is opened at all).
    pub tls: Option<Arc<TlsSetup>>,
    /// Plain links were asked for explicitly (`--insecure-links`). Without
    /// TLS and without this, a node opens no link, dialled or accepted:
    /// [`LinkConfig::check_security`] refuses the configuration, and the
    /// dial loop never starts (issue 17: secure by default on every path,
    /// including peers that only the facility definitions name).
    pub insecure: bool,
}

/// What an operator is told when links would be plain without having been
/// asked for (the same words at start, at `rtr create facility` and in
/// `rtr show link`).
pub const NEED_TLS: &str = "need TLS: give --tls-ca, --tls-cert and --tls-key (rtr cert makes them), or \
                            --insecure-links for plain, unauthenticated links (README: Security)";

impl LinkConfig {
    /// Whether this configuration may open links at all: TLS, or plain
    /// links asked for explicitly.
    pub fn may_link(&self) -> bool {
        self.tls.is_some() || self.insecure
    }

    /// `Err(why)` when a node of this configuration and definitions
    /// `table` would open a plain link nobody asked for: it listens, or
    /// the definitions call for a link to another node (dialled to its
    /// `--peer` address or to `NAME:46000`, or accepted from it). Peer
    /// addresses alone open nothing (`rtr start` refuses them anyway).
    pub fn check_security(&self, table: &FacilityTable) -> Result<(), String> {
        if self.may_link() {
            return Ok(());
        }
        if let Some(l) = &self.listen {
            return Err(format!("listening on {l}: links {NEED_TLS}"));
        }
        let wanted = table.link_peers();
        if wanted.is_empty() {
            return Ok(());
        }
        let facs: Vec<&str> = table
            .defs()
            .filter(|d| d.all_nodes().iter().any(|n| wanted.iter().any(|w| w == n)))
            .map(|d| d.name())
            .collect();
        let (noun, verb) = if facs.len() == 1 { ("facility", "calls") } else { ("facilities", "call") };
        Err(format!(
            "{noun} {} {verb} for links from this node ({}) to {}: links {NEED_TLS}",
            facs.join(", "),
            table.node(),
            wanted.join(", ")
        ))
    }
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            listen: None,
            peers: BTreeMap::new(),
            inactivity: DEFAULT_INACTIVITY,
            max_queue: DEFAULT_MAX_QUEUE,
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
            tls: None,
            insecure: false,
        }
    }
}

/// One link that is up: where the node thread's bytes for it go.
struct Up {
    name: String,
    tx: Sender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    /// Poked after queuing: the link's thread waits on it.
    waker: Arc<Waker>,
    /// A handle on the socket, to shut it from another thread (stop, a
    /// stale link, a full queue): the link's thread then sees it end.
    socket: TcpStream,
    since: Instant,
    dialled: bool,
    /// "tls" or "insecure".
    kind: &'static str,
    facilities: Vec<String>,
}

#[derive(Default)]
struct State {
    next_id: NodeRef,
    up: HashMap<NodeRef, Up>,
    /// Peers with a dialler thread running.
    dialling: HashSet<String>,
    /// The last thing that happened to each peer that is not up, for `rtr show link`.
    last: BTreeMap<String, String>,
    /// Bytes to and from each peer ever linked, over all its links.
    traffic: BTreeMap<String, Arc<Traffic>>,
    /// Accepted connections still in their handshake, per peer address
    /// (each has a thread of its own until it is up or closed).
    handshaking: HashMap<std::net::IpAddr, usize>,
}

/// Most accepted connections of one peer address in their handshake at
/// once: more are closed at once. A legitimate node has one link per peer
/// node (several nodes may share an address: a host, or loopback in tests),
/// so this bounds what one address can hold (a thread each, until the hello
/// timeout) without refusing a real cluster.
pub const MAX_HANDSHAKES_PER_ADDR: usize = 16;
/// Most accepted connections in their handshake at once, over all addresses.
pub const MAX_HANDSHAKES: usize = 256;
/// Connections closed at accept for those bounds, in this process.
pub static HANDSHAKES_REFUSED: AtomicU64 = AtomicU64::new(0);

/// One peer's byte counters: added to by its link's thread (relaxed: they
/// are only read for the metrics), never reset.
#[derive(Default)]
struct Traffic {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// The links of one node, shared by its node thread (which sends) and the
/// link threads (which read, write, dial and accept).
pub struct Links {
    me: String,
    node_id: u32,
    cfg: LinkConfig,
    table: RwLock<FacilityTable>,
    inbox: Inbox,
    state: Mutex<State>,
    stopping: AtomicBool,
    /// The address actually bound (port 0 in the configuration picks one).
    bound: Option<std::net::SocketAddr>,
}

/// An accepted connection's place among those in their handshake: given
/// back once (when the link is up, or when its thread ends).
struct HandshakeSlot {
    links: Arc<Links>,
    ip: std::net::IpAddr,
    held: bool,
}

impl HandshakeSlot {
    fn release(&mut self) {
        if !std::mem::replace(&mut self.held, false) {
            return;
        }
        let mut st = self.links.lock();
        if let Some(n) = st.handshaking.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.handshaking.remove(&self.ip);
            }
        }
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.release();
    }
}

/// A link's thread's handles while it is registered (up).
struct Registered {
    id: NodeRef,
    name: String,
    traffic: Arc<Traffic>,
}

impl Links {
    /// Start the links of node `me`: bind the listener (an error here
    /// fails the node's start), accept in the background, and dial the
    /// peers the definitions call for.
    pub(crate) fn start(
        me: String,
        node_id: u32,
        cfg: LinkConfig,
        table: FacilityTable,
        inbox: Inbox,
    ) -> io::Result<Arc<Links>> {
        cfg.check_security(&table).map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
        let listener = match &cfg.listen {
            Some(addr) => Some(TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("{addr}: {e}")))?),
            None => None,
        };
        let bound = listener.as_ref().and_then(|l| l.local_addr().ok());
        let links = Arc::new(Links {
            me,
            node_id,
            cfg,
            table: RwLock::new(table),
            inbox,
            state: Mutex::new(State { next_id: 1, ..State::default() }),
            stopping: AtomicBool::new(false),
            bound,
        });
        if let Some(l) = listener {
            let me = links.clone();
            std::thread::Builder::new().name("rtr-link-accept".into()).spawn(move || me.accept_loop(l))?;
        }
        links.refresh();
        Ok(links)
    }

    /// The address the node accepts links on.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.bound
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn table(&self) -> FacilityTable {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn timers(&self) -> Timers {
        Timers { inactivity: self.cfg.inactivity, hello_timeout: self.cfg.hello_timeout }
    }

    /// New facility definitions: later handshakes check against them, and
    /// dialling starts for peers they newly call for (diallers of peers no
    /// longer called for stop at their next attempt).
    pub(crate) fn set_table(self: &Arc<Self>, table: FacilityTable) {
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = table;
        self.refresh();
    }

    fn refresh(self: &Arc<Self>) {
        if !self.cfg.may_link() {
            // Neither TLS nor --insecure-links: no plain link is opened.
            // (`rtr create facility` refuses definitions that call for
            // links then; this is the last guard, for any other path.)
            for peer in self.table().link_peers() {
                self.lock().last.insert(peer, format!("not linked: links {NEED_TLS}"));
            }
            return;
        }
        for peer in self.table().link_peers() {
            if peer.as_str() <= self.me.as_str() {
                continue; // that peer dials us
            }
            if !self.lock().dialling.insert(peer.clone()) {
                continue;
            }
            let me = self.clone();
            let name = peer.clone();
            let spawned = std::thread::Builder::new().name("rtr-link-dial".into()).spawn(move || me.dial_loop(name));
            if spawned.is_err() {
                self.lock().dialling.remove(&peer);
            }
        }
    }

    /// Stop dialling and accepting, and close every link at once (the node
    /// is stopping): peers see the link close, not go silent. A link being
    /// set up meanwhile is refused by `register`. Idempotent.
    pub(crate) fn stop(&self) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        for up in self.lock().up.values() {
            let _ = up.socket.shutdown(Shutdown::Both);
        }
        if let Some(addr) = self.bound {
            // Wake the accept loop so it sees the flag.
            let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        }
    }

    /// Queue bytes (whole frames) for link `id`. A link whose queue would
    /// pass the bound is closed instead.
    pub(crate) fn send(&self, id: NodeRef, bytes: Vec<u8>) {
        let st = self.lock();
        let Some(up) = st.up.get(&id) else { return };
        let n = bytes.len();
        if up.queued.load(Ordering::Acquire) + n > self.cfg.max_queue {
            crate::rtr_log!(
                Warn,
                "rtr node: link to {} closed: more than {} bytes queued for it (the peer is not reading)",
                up.name,
                self.cfg.max_queue
            );
            let _ = up.socket.shutdown(Shutdown::Both);
            return;
        }
        up.queued.fetch_add(n, Ordering::AcqRel);
        let _ = up.tx.send(bytes);
        up.waker.wake();
    }

    /// Rows for `rtr show link`: every peer the definitions call for (or
    /// that is linked), its state, and the facilities the link serves.
    /// `rtr show link --json` splits the state texts written here and in
    /// `note` back into fields (`cli/src/link_state.rs`): change both.
    pub fn show(&self) -> Vec<crate::protocol::admin::LinkInfo> {
        let wanted = self.table().link_peers();
        let st = self.lock();
        let mut rows = Vec::new();
        let mut seen = HashSet::new();
        let mut ups: Vec<&Up> = st.up.values().collect();
        ups.sort_by(|a, b| a.name.cmp(&b.name));
        for up in ups {
            seen.insert(up.name.clone());
            rows.push(crate::protocol::admin::LinkInfo {
                node: up.name.clone(),
                state: format!(
                    "up {} s ({}, {}, {} bytes queued)",
                    up.since.elapsed().as_secs(),
                    if up.dialled { "dialled" } else { "accepted" },
                    up.kind,
                    up.queued.load(Ordering::Acquire)
                ),
                facilities: up.facilities.clone(),
            });
        }
        for name in wanted.iter().chain(st.last.keys()) {
            if seen.insert(name.clone()) {
                let state = st.last.get(name).cloned().unwrap_or_else(|| {
                    if name.as_str() < self.me.as_str() {
                        "down (waiting for it to connect)".into()
                    } else {
                        "down (connecting)".into()
                    }
                });
                rows.push(crate::protocol::admin::LinkInfo { node: name.clone(), state, facilities: Vec::new() });
            }
        }
        rows
    }

    /// Every peer `rtr show link` lists, with its byte counters (zero for
    /// a peer never linked).
    pub fn metrics(&self) -> Vec<crate::protocol::admin::LinkMetrics> {
        let rows = self.show();
        let st = self.lock();
        let up: HashSet<&str> = st.up.values().map(|u| u.name.as_str()).collect();
        rows.into_iter()
            .map(|r| {
                let t = st.traffic.get(&r.node);
                crate::protocol::admin::LinkMetrics {
                    up: up.contains(r.node.as_str()),
                    bytes_in: t.map_or(0, |t| t.bytes_in.load(Ordering::Relaxed)),
                    bytes_out: t.map_or(0, |t| t.bytes_out.load(Ordering::Relaxed)),
                    node: r.node,
                }
            })
            .collect()
    }

    fn note(&self, peer: &str, what: String) {
        crate::rtr_log!(Warn, "rtr node: link to {peer}: {what}");
        self.lock().last.insert(peer.to_string(), what);
    }

    fn address(&self, peer: &str) -> String {
        self.cfg.peers.get(peer).cloned().unwrap_or_else(|| format!("{peer}:{DEFAULT_PORT}"))
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        let mut backoff = Backoff::new("links");
        for stream in listener.incoming() {
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    backoff.failed(&e);
                    continue;
                }
            };
            backoff.accepted();
            let Some(slot) = self.handshake_slot(&stream) else {
                // Over the bounds: closed at once (dropped), no thread.
                continue;
            };
            let me = self.clone();
            let _ = std::thread::Builder::new().name("rtr-link-in".into()).spawn(move || me.accepted(stream, slot));
        }
    }

    /// A place among the connections in their handshake for `stream`'s
    /// address, or None (counted, logged now and then) when that address
    /// or the node has as many as the bounds allow.
    fn handshake_slot(self: &Arc<Self>, stream: &TcpStream) -> Option<HandshakeSlot> {
        let ip = stream.peer_addr().ok()?.ip();
        let mut st = self.lock();
        let total: usize = st.handshaking.values().sum();
        let mine = st.handshaking.get(&ip).copied().unwrap_or(0);
        if mine >= MAX_HANDSHAKES_PER_ADDR || total >= MAX_HANDSHAKES {
            drop(st);
            let n = HANDSHAKES_REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
            // The first, then every 100th: a flood must not flood the log.
            if n == 1 || n.is_multiple_of(100) {
                crate::rtr_log!(
                    Warn,
                    "rtr node: a link from {ip} closed at once: {mine} connections from that address and {total} in \
                     all are in their handshake (bounds {MAX_HANDSHAKES_PER_ADDR} and {MAX_HANDSHAKES}; {n} closed \
                     so far)"
                );
            }
            return None;
        }
        *st.handshaking.entry(ip).or_default() += 1;
        Some(HandshakeSlot { links: self.clone(), ip, held: true })
    }

    /// An incoming connection: handshake as the acceptor, then run the
    /// link on this thread. A failed handshake ends the thread.
    fn accepted(self: Arc<Self>, sock: TcpStream, mut slot: HandshakeSlot) {
        let now = Instant::now();
        let from = sock.peer_addr().map_or_else(|_| "?".into(), |a: SocketAddr| a.to_string());
        let tls = match &self.cfg.tls {
            Some(t) => match t.accept() {
                Ok(c) => Some(rustls::Connection::Server(c)),
                Err(e) => {
                    crate::rtr_log!(Warn, "rtr node: a link from {from}: {e}; closed");
                    return;
                }
            },
            None => None,
        };
        let Ok(stream) = LinkStream::new(sock, tls) else { return };
        let session = Session::accept(&self.me, self.node_id, self.table(), self.timers(), now);
        // The handshake's place is given back when the link is up (or,
        // by the slot's drop, when the thread ends).
        match self.drive(stream, session, false, &mut || slot.release()) {
            Ok(()) => {}
            Err(Down::HelloTimeout) => {
                HELLO_TIMEOUTS.fetch_add(1, Ordering::Relaxed);
                let s = self.cfg.hello_timeout.as_secs_f64();
                crate::rtr_log!(Warn, "rtr node: a link from {from} sent no hello within {s} s; closed");
            }
            Err(Down::Refused { from: claimed, code, why, noted }) => {
                crate::rtr_log!(Warn, "rtr node: refused a link from {claimed} ({from}): {code}, {why}");
                if noted {
                    self.lock().last.insert(claimed, format!("refused its link: {code}, {why}"));
                }
            }
            Err(Down::BadHello(why)) => {
                crate::rtr_log!(Warn, "rtr node: a link sent a bad hello ({why}) from {from}; closed")
            }
            Err(other) => crate::rtr_log!(Warn, "rtr node: a link from {from}: {other}; closed"),
        }
    }

    /// Keep a link to `peer` (which sorts after this node) for as long as
    /// the definitions call for it.
    fn dial_loop(self: Arc<Self>, peer: String) {
        let mut backoff = BACKOFF_MIN;
        // A dead peer fails every attempt: logged once, then now and then.
        let mut repeats = Repeats::default();
        loop {
            if self.stopping.load(Ordering::Acquire) || !self.table().link_peers().contains(&peer) {
                self.lock().dialling.remove(&peer);
                return;
            }
            let mut reached = || {
                if let Some(n) = repeats.succeeded() {
                    crate::rtr_log!(Info, "rtr node: link to {peer}: reached after {n} failed attempts");
                }
            };
            match self.dial(&peer, &mut reached) {
                Ok(()) => {
                    // The link was up, and ended: dial again at once.
                    backoff = BACKOFF_MIN;
                    continue;
                }
                Err(why) => {
                    // `rtr show link` always has the latest attempt.
                    let state = format!("down ({why}); retrying in {} ms", backoff.as_millis());
                    self.lock().last.insert(peer.clone(), state);
                    if let Some(line) = repeats.failed(&format!("down ({why}); retrying")) {
                        crate::rtr_log!(Warn, "rtr node: link to {peer}: {line}");
                    }
                }
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Connect to `peer` and run the link on this thread: `Err` when it
    /// never came up (why), `Ok` once a link that was up went down.
    fn dial(self: &Arc<Self>, peer: &str, on_up: &mut dyn FnMut()) -> Result<(), String> {
        let addr = self.address(peer);
        let sa = addr
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr} resolves to nothing"))?;
        let sock =
            TcpStream::connect_timeout(&sa, HANDSHAKE_WAIT).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let tls = match &self.cfg.tls {
            Some(t) => Some(rustls::Connection::Client(t.dial(peer)?)),
            None => None,
        };
        let stream = LinkStream::new(sock, tls).map_err(|e| format!("cannot use the connection to {addr}: {e}"))?;
        let session = Session::dial(&self.me, self.node_id, self.table(), peer, self.timers(), Instant::now());
        self.drive(stream, session, true, on_up).map_err(|d| d.to_string())
    }

    /// Register a link that came up: a new id, the node told before any of
    /// its messages. `None` when the node is stopping.
    #[allow(clippy::too_many_arguments)]
    fn register(
        &self,
        name: String,
        agreed: BTreeMap<String, crate::facility::Roles>,
        dialled: bool,
        stream: &LinkStream,
        tx: Sender<Vec<u8>>,
        queued: Arc<AtomicUsize>,
        waker: Arc<Waker>,
    ) -> Option<Registered> {
        let socket = stream.socket().try_clone().ok()?;
        let mut facilities: Vec<String> = agreed.keys().cloned().collect();
        facilities.sort();
        let (id, traffic) = {
            let mut st = self.lock();
            // Checked under the lock that `stop` takes after setting the
            // flag: either `stop` finds this link registered and closes it,
            // or this sees the flag.
            if self.stopping.load(Ordering::Acquire) {
                return None;
            }
            if !dialled {
                // A peer that connects again while its old link still
                // looks up (it restarted before this side noticed): the
                // old one is dead.
                for old in st.up.values().filter(|u| u.name == name) {
                    let _ = old.socket.shutdown(Shutdown::Both);
                }
            }
            let id = st.next_id;
            st.next_id += 1;
            st.up.insert(
                id,
                Up {
                    name: name.clone(),
                    tx,
                    queued,
                    waker,
                    socket,
                    since: Instant::now(),
                    dialled,
                    kind: stream.kind(),
                    facilities: facilities.clone(),
                },
            );
            st.last.remove(&name);
            (id, st.traffic.entry(name.clone()).or_default().clone())
        };
        crate::rtr_log!(
            Info,
            "rtr node: link to {name} up ({}, {}; facilities {})",
            if dialled { "dialled" } else { "accepted" },
            stream.kind(),
            facilities.join(",")
        );
        self.inbox.send(Input::LinkUp(id, PeerInfo { name: name.clone(), facilities: agreed }));
        Some(Registered { id, name, traffic })
    }

    /// Run one connection on this thread, from its handshake to its end:
    /// `Err` with why when the link never came up; `Ok` once a link that
    /// was up went down (the node told, `rtr show link` noted).
    /// `on_up` runs when the link is registered.
    fn drive(
        self: &Arc<Self>,
        mut stream: LinkStream,
        mut session: Session,
        dialled: bool,
        on_up: &mut dyn FnMut(),
    ) -> Result<(), Down> {
        let waker = Arc::new(Waker::new().map_err(|e| Down::Failed(format!("cannot make a waker: {e}")))?);
        let (tx, rx): (Sender<Vec<u8>>, Receiver<Vec<u8>>) = crossbeam_channel::unbounded();
        let queued = Arc::new(AtomicUsize::new(0));
        let mut link: Option<Registered> = None;
        let mut identified = false;
        let mut not_tls = false;
        let mut buf = vec![0u8; 64 << 10];
        let why = 'run: loop {
            if !identified && stream.ready() {
                // Before any of the peer's plaintext is framed: the hello
                // is checked against the certificate.
                session.set_identity(stream.identity());
                identified = true;
            }
            while let Some(ev) = session.poll_event() {
                match ev {
                    Event::Up { name, agreed } => {
                        let r =
                            self.register(name, agreed, dialled, &stream, tx.clone(), queued.clone(), waker.clone());
                        match r {
                            Some(r) => {
                                link = Some(r);
                                on_up();
                            }
                            None => session.closed(Some("closed: this node stopped".into())),
                        }
                    }
                    Event::Msg(m) => {
                        let id = link.as_ref().map_or(0, |l| l.id);
                        if !self.inbox.send(Input::Peer(id, m)) {
                            session.closed(Some("the node stopped".into()));
                        }
                    }
                    Event::Down(d) => break 'run d,
                }
            }
            let now = Instant::now();
            if link.is_some() {
                // Before looking at the queue: a send after this wakes the
                // poll below.
                waker.reset();
                while session.pending_output().len() < SESSION_OUT_MAX {
                    let Ok(bytes) = rx.try_recv() else { break };
                    queued.fetch_sub(bytes.len(), Ordering::AcqRel);
                    session.queue(&bytes, now);
                }
            }
            let traffic = link.as_ref().map(|l| &*l.traffic);
            if let Err(e) = write_out(&mut stream, &mut session, traffic) {
                session.closed(Some(format!("cannot write: {e}")));
                continue;
            }
            let timeout = session.next_deadline().map(|d| d.saturating_duration_since(now));
            let want_write = stream.wants_write() || !session.pending_output().is_empty();
            let readable = match stream::wait(stream.socket(), want_write, &waker, timeout) {
                Ok(r) => r,
                Err(e) => {
                    session.closed(Some(format!("cannot wait: {e}")));
                    continue;
                }
            };
            let now = Instant::now();
            if !readable {
                session.tick(now);
                continue;
            }
            let mut got = 0u64;
            let pulled = stream.pull(&mut buf, &mut |b| {
                got += b.len() as u64;
                session.receive(b, now);
            });
            if let Some(l) = &link {
                l.traffic.bytes_in.fetch_add(got, Ordering::Relaxed);
            }
            match pulled {
                Ok(Pulled::Open) => {}
                Ok(Pulled::Eof) => session.peer_closed(None),
                Ok(Pulled::NotTls) => {
                    not_tls = true;
                    let code = "TLSREQUIRED";
                    let f = PeerFrame::Refuse { code: code.into(), reason: session::refusal_text(code).into() };
                    let _ = stream.socket().write(&peer::encode(&f));
                    if let Some(from) = plain_hello_from(stream.socket()) {
                        // Unverified (plain): shown only for a node the
                        // definitions call for, and said to be a claim.
                        if self.table().link_peers().contains(&from) {
                            let what = "refused its link: TLSREQUIRED, it linked without TLS (plain; the name is \
                                        its claim, unverified)";
                            self.lock().last.insert(from, what.into());
                        }
                    }
                    session.closed(Some("a plain (non-TLS) link, and this node accepts TLS links only".into()));
                }
                Err(e) => {
                    if !dialled && link.is_none() {
                        // A client certificate the CA check refused: the
                        // node it claims to be, for rtr show link here.
                        let wanted = self.table().link_peers();
                        for name in crate::transport::tls::take_rejected_names() {
                            if wanted.contains(&name) {
                                let what = format!(
                                    "refused its link: {e} (a certificate naming {name}, not signed by this \
                                     cluster's CA; the name is its claim, unverified)"
                                );
                                self.lock().last.insert(name, what);
                            }
                        }
                    }
                    session.peer_closed(Some(e.to_string()))
                }
            }
            session.tick(now);
        };
        finish(&mut stream, &mut session, not_tls);
        let Some(l) = link else { return Err(why) };
        let why = if self.stopping.load(Ordering::Acquire) {
            // `stop` shut the socket: what the read saw was this node's doing.
            "closed: this node stopped".to_string()
        } else {
            why.to_string()
        };
        self.lock().up.remove(&l.id);
        self.note(&l.name, format!("down: {why}"));
        self.inbox.send(Input::LinkDown(l.id));
        Ok(())
    }
}

/// Move the session's output into the transport and on to the socket, as
/// far as they take it.
fn write_out(stream: &mut LinkStream, session: &mut Session, traffic: Option<&Traffic>) -> io::Result<()> {
    loop {
        let mut moved = 0;
        let out = session.pending_output();
        if !out.is_empty() {
            moved = stream.push(out)?;
            session.advance_output(moved);
            if let Some(t) = traffic {
                t.bytes_out.fetch_add(moved as u64, Ordering::Relaxed);
            }
        }
        stream.flush()?;
        if moved == 0 {
            return Ok(());
        }
    }
}

/// The name a plain hello waiting on `sock` claims, if a whole one is there
/// (a TLS acceptor's report of a plain node; never believed beyond that).
fn plain_hello_from(mut sock: &TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 16 << 10];
    while got.len() < peer::MAX_PEER_FRAME + 4 {
        match std::io::Read::read(&mut sock, &mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let body = crate::protocol::codec::read_frame_max(&mut &got[..], peer::MAX_PEER_FRAME).ok()?;
    match peer::decode(&body).ok()? {
        PeerFrame::Hello { from, .. } => Some(from),
        _ => None,
    }
}

/// A session that ended: write what it still has to say (a refusal, TLS's
/// alert or close) for a short while, then close the connection.
fn finish(stream: &mut LinkStream, session: &mut Session, drain_plain: bool) {
    let until = Instant::now() + Duration::from_millis(500);
    while (!session.pending_output().is_empty() || stream.wants_write()) && Instant::now() < until {
        if write_out(stream, session, None).is_err() {
            break;
        }
        if session.pending_output().is_empty() && !stream.wants_write() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if drain_plain {
        // The plain peer's unread hello: closing with it unread would
        // reset the connection, and the peer might lose the refusal.
        let mut buf = [0u8; 4096];
        for _ in 0..256 {
            match std::io::Read::read(&mut stream.socket(), &mut buf) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }
    stream.close();
}

impl PeerLinks for Links {
    fn send(&self, peer: NodeRef, bytes: Vec<u8>) {
        Links::send(self, peer, bytes);
    }

    fn set_table(self: Arc<Self>, table: FacilityTable) {
        Links::set_table(&self, table);
    }

    fn stop(&self) {
        Links::stop(self);
    }

    fn show(&self) -> Vec<crate::protocol::admin::LinkInfo> {
        Links::show(self)
    }

    fn metrics(&self) -> Vec<crate::protocol::admin::LinkMetrics> {
        Links::metrics(self)
    }
}

impl EmbeddedNode {
    /// Start this node's links to other nodes, as node `name` (a daemon
    /// does, after [`EmbeddedNode::set_facility_store`]). Fails when the
    /// listening address cannot be bound.
    pub fn start_links(&self, name: &str, cfg: LinkConfig) -> io::Result<Arc<Links>> {
        let table = self.facility_table().unwrap_or_else(|| FacilityTable::new(name));
        self.set_link_config(&cfg);
        let links = Links::start(name.to_string(), self.node_id(), cfg, table, self.inbox().clone())?;
        self.inbox().send(Input::Links(links.clone()));
        Ok(links)
    }
}

/// Read and decode one node-to-node frame (the tests' fake peers).
#[cfg(test)]
fn read_peer_frame(src: &mut impl std::io::Read) -> Result<(PeerFrame, u64), crate::protocol::codec::FrameError> {
    let body = crate::protocol::codec::read_frame_max(src, peer::MAX_PEER_FRAME)?;
    Ok((peer::decode(&body)?, body.len() as u64 + 4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facility::FacilityDef;
    use crate::protocol::peer::PEER_VERSION;
    use std::io::Write;

    fn table(me: &str) -> FacilityTable {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut t = FacilityTable::new(me);
        t.insert(FacilityDef::new("F", &s(&["a"]), &s(&["b"]), &s(&["b"])).unwrap());
        t
    }

    /// Node "a" dialling a fake node "b" (the test) that welcomes it and
    /// then does what the test says.
    fn dial_fake(cfg: LinkConfig) -> (Arc<Links>, TcpListener, Receiver<Input>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut cfg = cfg;
        cfg.peers.insert("b".into(), l.local_addr().unwrap().to_string());
        let (tx, rx) = crossbeam_channel::unbounded();
        let links = Links::start("a".into(), 11, cfg, table("a"), Inbox::new(tx)).unwrap();
        (links, l, rx)
    }

    /// Accept a's connection and complete the handshake as b.
    fn welcome(l: &TcpListener) -> TcpStream {
        let (mut s, _) = l.accept().unwrap();
        match read_peer_frame(&mut s).unwrap().0 {
            PeerFrame::Hello { from, to, .. } => assert_eq!((from.as_str(), to.as_str()), ("a", "b")),
            other => panic!("{other:?}"),
        }
        let w = PeerFrame::Welcome { from: "b".into(), node_id: 22, facilities: table("b").claims() };
        s.write_all(&peer::encode(&w)).unwrap();
        s
    }

    /// Send to link `id`, whose peer reads nothing, until the link is
    /// dropped (it must be: the queue is bounded). The kernel's buffers
    /// take a few MB; past them the queue fills and `send` shuts the link
    /// at once. Its thread reports it down when it next runs, which on a
    /// loaded machine can take longer than sending 256 MB takes (the test
    /// failed so in full-suite runs): past 64 MB the report is waited for.
    fn flood_until_dropped(links: &Links, rx: &Receiver<Input>, id: NodeRef) {
        let chunk = vec![0u8; 64 << 10];
        let mut sent = 0usize;
        let down = loop {
            links.send(id, chunk.clone());
            sent += chunk.len();
            if let Ok(Input::LinkDown(d)) = rx.try_recv() {
                break d;
            }
            if sent >= 64 << 20 {
                match rx.recv_timeout(Duration::from_secs(30)) {
                    Ok(Input::LinkDown(d)) => break d,
                    _ => panic!("the link was not dropped after {sent} bytes"),
                }
            }
        };
        assert_eq!(down, id);
    }

    fn next(rx: &Receiver<Input>) -> Input {
        rx.recv_timeout(Duration::from_secs(20)).expect("an input from the links")
    }

    #[test]
    fn without_tls_or_insecure_links_no_plain_link_is_opened_on_any_path() {
        let (tx, _rx) = crossbeam_channel::unbounded();
        // The definitions alone call for a link to b (no --listen, no
        // --peer: b would be dialled at b:46000): refused at start.
        let e = Links::start("a".into(), 11, LinkConfig::default(), table("a"), Inbox::new(tx.clone())).err();
        let e = e.expect("refused").to_string();
        assert!(
            e.contains("facility F calls for links from this node (a) to b") && e.contains("--insecure-links"),
            "{e}"
        );
        assert!(LinkConfig::default().check_security(&table("a")).is_err());
        // Nothing to link: nothing to refuse.
        LinkConfig::default().check_security(&FacilityTable::new("a")).unwrap();
        let listen = LinkConfig { listen: Some("127.0.0.1:0".into()), ..LinkConfig::default() };
        assert!(listen.check_security(&FacilityTable::new("a")).unwrap_err().contains("listening on"));
        // Started with no definitions (and b's address, where a test
        // listener waits), then given some that call for a link to b: no
        // connection is made, and `rtr show link` says why.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let mut cfg = LinkConfig::default();
        cfg.peers.insert("b".into(), l.local_addr().unwrap().to_string());
        let empty = FacilityTable::new("a");
        let links = Links::start("a".into(), 11, cfg.clone(), empty, Inbox::new(tx)).unwrap();
        Links::set_table(&links, table("a"));
        let until = Instant::now() + Duration::from_millis(600);
        while Instant::now() < until {
            assert!(l.accept().is_err(), "a plain connection was made");
            std::thread::sleep(Duration::from_millis(20));
        }
        let rows = links.show();
        let b = rows.iter().find(|r| r.node == "b").expect("b listed");
        assert!(b.state.contains("not linked: links need TLS"), "{}", b.state);
        // And with --insecure-links the same definitions are linked.
        LinkConfig { insecure: true, ..cfg }.check_security(&table("a")).unwrap();
    }

    #[test]
    fn a_silent_peer_is_dropped_by_the_inactivity_timer_and_dialled_again() {
        let cfg = LinkConfig { inactivity: Duration::from_millis(300), insecure: true, ..LinkConfig::default() };
        let (links, l, rx) = dial_fake(cfg);
        let _s = welcome(&l);
        let id = match next(&rx) {
            Input::LinkUp(id, info) => {
                assert_eq!(info.name, "b");
                assert!(info.facilities.get("F").is_some_and(|r| r.router && r.backend));
                id
            }
            _ => panic!("expected the link up"),
        };
        // b says nothing at all (no pings): a closes the link.
        let t0 = Instant::now();
        match next(&rx) {
            Input::LinkDown(down) => assert_eq!(down, id),
            _ => panic!("expected the link down"),
        }
        assert!(t0.elapsed() >= Duration::from_millis(250));
        assert!(links.show().iter().any(|r| r.node == "b" && r.state.contains("inactivity")));
        // a dials again (backoff) and gets a new link id.
        let _s2 = welcome(&l);
        match next(&rx) {
            Input::LinkUp(again, _) => assert_ne!(again, id),
            _ => panic!("expected the link up again"),
        }
        links.stop();
    }

    #[test]
    fn a_peer_that_stops_reading_loses_its_link_instead_of_growing_the_queue() {
        let cfg = LinkConfig { max_queue: 256 << 10, insecure: true, ..LinkConfig::default() };
        let (links, l, rx) = dial_fake(cfg);
        let _s = welcome(&l); // never read from
        let Input::LinkUp(id, _) = next(&rx) else { panic!("expected the link up") };
        flood_until_dropped(&links, &rx, id);
        assert!(links.show().iter().any(|r| r.node == "b" && r.state.starts_with("down")));
        links.stop();
    }

    #[test]
    fn a_refusal_is_reported_with_its_reason_and_retried() {
        let (links, l, rx) = dial_fake(LinkConfig { insecure: true, ..LinkConfig::default() });
        for _ in 0..2 {
            let (mut s, _) = l.accept().unwrap();
            let _ = read_peer_frame(&mut s).unwrap();
            let r = PeerFrame::Refuse { code: "FACNOTDEC".into(), reason: "facility F is not declared".into() };
            s.write_all(&peer::encode(&r)).unwrap();
        }
        let until = Instant::now() + Duration::from_secs(10);
        while !links.show().iter().any(|r| r.state.contains("FACNOTDEC")) {
            assert!(Instant::now() < until, "{:?}", links.show());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(rx.try_recv().is_err(), "no link came up");
        links.stop();
    }

    #[test]
    fn the_acceptor_refuses_bad_hellos_with_reasons() {
        let (tx, _rx) = crossbeam_channel::unbounded();
        let cfg = LinkConfig { listen: Some("127.0.0.1:0".into()), insecure: true, ..LinkConfig::default() };
        let links = Links::start("b".into(), 22, cfg, table("b"), Inbox::new(tx)).unwrap();
        let addr = links.local_addr().unwrap();
        let ask = |hello: PeerFrame| -> PeerFrame {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&peer::encode(&hello)).unwrap();
            read_peer_frame(&mut s).unwrap().0
        };
        let hello = |version: u32, from: &str, to: &str, id: u32, t: FacilityTable| PeerFrame::Hello {
            version,
            from: from.into(),
            to: to.into(),
            node_id: id,
            facilities: t.claims(),
        };
        // Only the code, with its fixed text: nothing of this node's
        // definitions or names goes to a peer that is not configured.
        let code = |f: PeerFrame| match f {
            PeerFrame::Refuse { code, reason } => {
                assert!(reason.starts_with(refusal_text(&code)), "{code}: {reason}");
                // No node of this node's definitions ("b", "c") is named.
                let words: Vec<&str> = reason.split([' ', ',', ':', '(', ')']).collect();
                assert!(!words.contains(&"b") && !words.contains(&"c") && !reason.contains("0x"), "{reason}");
                code
            }
            other => panic!("not refused: {other:?}"),
        };
        assert_eq!(code(ask(hello(99, "a", "b", 11, table("a")))), "VERSION");
        assert_eq!(code(ask(hello(u32::from(PEER_VERSION), "a", "c", 11, table("a")))), "WRONGNODE");
        assert_eq!(code(ask(hello(u32::from(PEER_VERSION), "a", "b", 22, table("a")))), "IDCLASH");
        assert_eq!(code(ask(hello(u32::from(PEER_VERSION), "z", "b", 33, FacilityTable::new("z")))), "NODENOTCFG");
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut other = FacilityTable::new("a");
        other.insert(FacilityDef::new("F", &s(&["a"]), &s(&["b", "c"]), &s(&["b"])).unwrap());
        assert_eq!(code(ask(hello(u32::from(PEER_VERSION), "a", "b", 11, other.clone()))), "ROLESMISMATCH");
        // A configured peer hears which role lists differ, not their nodes.
        match ask(hello(u32::from(PEER_VERSION), "a", "b", 11, other)) {
            PeerFrame::Refuse { reason, .. } => {
                assert_eq!(reason, "facility definitions differ: F (router list)")
            }
            f => panic!("{f:?}"),
        }
        match ask(hello(u32::from(PEER_VERSION), "a", "b", 11, table("a"))) {
            PeerFrame::Welcome { from, node_id, .. } => assert_eq!((from.as_str(), node_id), ("b", 22)),
            other => panic!("{other:?}"),
        }
        links.stop();
    }

    /// TLS setups of nodes "a" and "b" of one CA.
    fn tls_pair() -> (Arc<TlsSetup>, Arc<TlsSetup>) {
        use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = p.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(p, ca_key);
        let node = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
            let cert = p.signed_by(&key, &issuer).unwrap().pem();
            Arc::new(
                TlsSetup::from_pem(name, ca_pem.as_bytes(), cert.as_bytes(), key.serialize_pem().as_bytes()).unwrap(),
            )
        };
        (node("a"), node("b"))
    }

    #[test]
    fn over_tls_a_peer_that_stops_reading_loses_its_link_and_stop_closes_it() {
        let (a_tls, b_tls) = tls_pair();
        let cfg = LinkConfig { max_queue: 256 << 10, tls: Some(a_tls), ..LinkConfig::default() };
        let (links, l, rx) = dial_fake(cfg);
        // b: the TLS handshake and the welcome, then it reads nothing.
        let (sock, _) = l.accept().unwrap();
        let mut b = rustls::StreamOwned::new(b_tls.accept().unwrap(), sock);
        match read_peer_frame(&mut b).unwrap().0 {
            PeerFrame::Hello { from, .. } => assert_eq!(from, "a"),
            other => panic!("{other:?}"),
        }
        let w = PeerFrame::Welcome { from: "b".into(), node_id: 22, facilities: table("b").claims() };
        b.write_all(&peer::encode(&w)).unwrap();
        b.flush().unwrap();
        let Input::LinkUp(id, _) = next(&rx) else { panic!("expected the link up") };
        assert!(links.show().iter().any(|r| r.node == "b" && r.state.contains(", tls, ")), "{:?}", links.show());
        flood_until_dropped(&links, &rx, id);
        // a dials again; this time b reads, and a's stop closes the link.
        let (sock, _) = l.accept().unwrap();
        let mut b = rustls::StreamOwned::new(b_tls.accept().unwrap(), sock);
        let _ = read_peer_frame(&mut b).unwrap();
        b.write_all(&peer::encode(&w)).unwrap();
        b.flush().unwrap();
        let Input::LinkUp(again, _) = next(&rx) else { panic!("expected the link up again") };
        assert_ne!(again, id);
        links.stop();
        match next(&rx) {
            Input::LinkDown(d) => assert_eq!(d, again),
            _ => panic!("expected the link down"),
        }
        assert!(links.show().iter().any(|r| r.node == "b" && r.state.contains("this node stopped")));
    }

    /// One address can hold at most MAX_HANDSHAKES_PER_ADDR connections in
    /// their handshake (a thread each): the next is closed at once, and a
    /// place comes back when one of them ends. (Issue 17: a thread per
    /// connection, without bound, until the hello timeout.)
    #[test]
    fn one_address_holds_a_bounded_number_of_handshakes() {
        use std::io::Read;
        let cfg = LinkConfig {
            listen: Some("127.0.0.1:0".into()),
            hello_timeout: Duration::from_secs(60),
            insecure: true,
            ..LinkConfig::default()
        };
        let (tx, _rx) = crossbeam_channel::unbounded();
        let links = Links::start("b".into(), 22, cfg, table("b"), Inbox::new(tx)).unwrap();
        let addr = links.local_addr().unwrap();
        let before = HANDSHAKES_REFUSED.load(Ordering::Relaxed);
        // Silent connections, each waiting for its hello on the node.
        let idle: Vec<TcpStream> = (0..MAX_HANDSHAKES_PER_ADDR).map(|_| TcpStream::connect(addr).unwrap()).collect();
        // The accept loop takes them in order: wait until all hold a place.
        let held = || links.lock().handshaking.values().sum::<usize>();
        let t0 = Instant::now();
        while held() < MAX_HANDSHAKES_PER_ADDR && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(held(), MAX_HANDSHAKES_PER_ADDR);
        // One more: closed at once (end of stream, or reset).
        let mut extra = TcpStream::connect(addr).unwrap();
        extra.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut b = [0u8; 1];
        match extra.read(&mut b) {
            Ok(0) => {}
            Err(e) if !crate::transport::deadline::timed_out(&e) => {}
            other => panic!("the connection over the bound was kept: {other:?}"),
        }
        assert!(HANDSHAKES_REFUSED.load(Ordering::Relaxed) > before);
        // The silent ones go: their places come back, and a new connection
        // is held again (it waits for its hello: no data, no close).
        drop(idle);
        let t0 = Instant::now();
        while held() > 0 && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(held(), 0);
        let mut again = TcpStream::connect(addr).unwrap();
        again.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        match again.read(&mut b) {
            Err(e) => assert!(crate::transport::deadline::timed_out(&e), "{e}"),
            Ok(n) => panic!("a connection within the bound was closed or answered ({n} bytes)"),
        }
        links.stop();
    }
}
