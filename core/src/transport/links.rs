//! Links between nodes over TCP.
//!
//! Each pair of nodes that needs one (a frontend and a router, a router and
//! a backend of a common facility) has one TCP connection. The node whose
//! name sorts first dials; the other accepts. Dialling retries with
//! exponential backoff (100 ms doubling to 5 s) for as long as the
//! definitions call for the link.
//!
//! Handshake: the dialler sends `Hello` (protocol version, both names, its
//! node id, its facility definitions); the acceptor checks them against its
//! own ([`FacilityTable::agree`]) and answers `Welcome` or `Refuse` with a
//! reason code; the dialler checks the acceptor's definitions the same way.
//! A refused or failed link is logged with its reason and shown by `rtr show
//! link`.
//!
//! Threads: per link, a reader (frames to node inputs; it also runs the
//! handshake and, for a dialled link, the reconnect loop) and a writer (a
//! byte queue to the socket; it sends a `Ping` when the link has been quiet
//! for a third of the inactivity time). The reader's socket timeout is the
//! inactivity timer (default 60 s): a link that hears nothing for that long
//! is closed. The writer's queue is bounded in bytes ([`LinkConfig::max_queue`]):
//! a peer too slow to take what is sent to it loses the link (and gets it back
//! by reconnecting) rather than growing this node's memory without end.
//!
//! A bad frame (truncated, oversized, unknown, corrupt, wrong version) closes
//! that link with the reason logged; the node goes on serving everyone else.
//!
//! Every link instance gets a new [`NodeRef`], never reused: a message from
//! a link that went down can never be taken for one of its successor's.
//!
//! The links depend on the node runtime (they feed its inbox), not the other
//! way round: the node thread reaches them through `PeerLinks` (`runtime/input.rs`), handed to
//! it by [`EmbeddedNode::start_links`] (defined here for that reason).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::facility::FacilityTable;
use crate::node::{NodeRef, PeerInfo};
use crate::protocol::codec::FrameError;
use crate::protocol::peer::{self, PeerFrame, MAX_PEER_FRAME, PEER_VERSION};
use crate::runtime::{EmbeddedNode, Inbox, Input, PeerLinks};
use crate::transport::accept::Backoff;
use crate::transport::deadline::{self, Deadline};
use crate::transport::repeats::Repeats;

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
/// How long a dialled handshake may take.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

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
    /// this time is closed (however slowly its bytes trickle in).
    pub hello_timeout: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            listen: None,
            peers: BTreeMap::new(),
            inactivity: DEFAULT_INACTIVITY,
            max_queue: DEFAULT_MAX_QUEUE,
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
        }
    }
}

/// One link that is up: where the node thread's bytes for it go.
struct Up {
    name: String,
    tx: Sender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    stream: TcpStream,
    since: Instant,
    dialled: bool,
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
}

/// One peer's byte counters: added to by its link's reader and writer
/// threads (relaxed: they are only read for the metrics), never reset.
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

    /// New facility definitions: later handshakes check against them, and
    /// dialling starts for peers they newly call for (diallers of peers no
    /// longer called for stop at their next attempt).
    pub(crate) fn set_table(self: &Arc<Self>, table: FacilityTable) {
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = table;
        self.refresh();
    }

    fn refresh(self: &Arc<Self>) {
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
    /// set up meanwhile is refused by `run_link`. Idempotent.
    pub(crate) fn stop(&self) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        for up in self.lock().up.values() {
            let _ = up.stream.shutdown(Shutdown::Both);
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
            let _ = up.stream.shutdown(Shutdown::Both);
            return;
        }
        up.queued.fetch_add(n, Ordering::AcqRel);
        let _ = up.tx.send(bytes);
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
                    "up {} s ({}, {} bytes queued)",
                    up.since.elapsed().as_secs(),
                    if up.dialled { "dialled" } else { "accepted" },
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
            let me = self.clone();
            let _ = std::thread::Builder::new().name("rtr-link-in".into()).spawn(move || me.accepted(stream));
        }
    }

    /// An incoming connection: handshake as the acceptor, then read.
    fn accepted(self: Arc<Self>, mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        // The whole hello within the timeout, not each read of it.
        let hello = read_peer_frame(&mut Deadline::new(&mut stream, self.cfg.hello_timeout)).map(|(f, _)| f);
        let from = match hello {
            Ok(PeerFrame::Hello { version, from, to, node_id, facilities }) => {
                let refuse = |stream: &mut TcpStream, code: &str, reason: String| {
                    crate::rtr_log!(Warn, "rtr node: refused a link from {from}: {code}, {reason}");
                    // The full reason names nodes and facility definitions:
                    // it stays in this node's log; the peer, not (yet)
                    // known to be a configured node, hears only the code
                    // (and, when configured here, which role lists differ).
                    let mut public = refusal_text(code).to_string();
                    if code == "ROLESMISMATCH" {
                        let lists = self.table().mismatch_for_peer(&from, &facilities);
                        if !lists.is_empty() {
                            public = format!("{public}: {}", lists.join("; "));
                        }
                    }
                    let f = PeerFrame::Refuse { code: code.into(), reason: public };
                    let _ = stream.write_all(&peer::encode(&f));
                };
                if version != u32::from(PEER_VERSION) {
                    let why = format!("node protocol version {version} is not {PEER_VERSION}");
                    return refuse(&mut stream, "VERSION", why);
                }
                if to != self.me {
                    return refuse(&mut stream, "WRONGNODE", format!("this is node {}, not {to}", self.me));
                }
                if node_id == self.node_id || from == self.me {
                    let why = format!("node {from} has the same name or id ({node_id:#x}) as this node");
                    return refuse(&mut stream, "IDCLASH", why);
                }
                let table = self.table();
                let agreed = match table.agree(&from, &facilities) {
                    Ok(a) => a,
                    Err((code, why)) => {
                        self.note(&from, format!("refused its link: {code}, {why}"));
                        return refuse(&mut stream, code, why);
                    }
                };
                let welcome =
                    PeerFrame::Welcome { from: self.me.clone(), node_id: self.node_id, facilities: table.claims() };
                if stream.write_all(&peer::encode(&welcome)).is_err() {
                    return;
                }
                (from, agreed)
            }
            Ok(other) => {
                crate::rtr_log!(Warn, "rtr node: a link began with {other:?} instead of a hello; closed");
                return;
            }
            Err(FrameError::Closed) => return,
            Err(FrameError::Io(e)) if deadline::timed_out(&e) => {
                HELLO_TIMEOUTS.fetch_add(1, Ordering::Relaxed);
                let from = stream.peer_addr().map_or_else(|_| "?".into(), |a| a.to_string());
                let s = self.cfg.hello_timeout.as_secs_f64();
                crate::rtr_log!(Warn, "rtr node: a link from {from} sent no hello within {s} s; closed");
                return;
            }
            Err(e) => {
                crate::rtr_log!(Warn, "rtr node: a link sent a bad hello ({e}); closed");
                return;
            }
        };
        let (name, agreed) = from;
        // A peer that connects again while its old link still looks up
        // (it restarted before this side noticed): the old one is dead.
        let stale: Vec<TcpStream> = {
            let st = self.lock();
            st.up.values().filter(|u| u.name == name).filter_map(|u| u.stream.try_clone().ok()).collect()
        };
        for s in stale {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.run_link(stream, name, agreed, false);
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
            match self.dial(&peer) {
                Ok((stream, agreed)) => {
                    backoff = BACKOFF_MIN;
                    if let Some(n) = repeats.succeeded() {
                        crate::rtr_log!(Info, "rtr node: link to {peer}: reached after {n} failed attempts");
                    }
                    self.run_link(stream, peer.clone(), agreed, true);
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

    fn dial(&self, peer: &str) -> Result<(TcpStream, BTreeMap<String, crate::facility::Roles>), String> {
        let addr = self.address(peer);
        let sa = addr
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr} resolves to nothing"))?;
        let mut stream =
            TcpStream::connect_timeout(&sa, HANDSHAKE_WAIT).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(HANDSHAKE_WAIT));
        let table = self.table();
        let hello = PeerFrame::Hello {
            version: u32::from(PEER_VERSION),
            from: self.me.clone(),
            to: peer.to_string(),
            node_id: self.node_id,
            facilities: table.claims(),
        };
        stream.write_all(&peer::encode(&hello)).map_err(|e| format!("cannot send hello to {addr}: {e}"))?;
        match read_peer_frame(&mut stream).map(|(f, _)| f) {
            Ok(PeerFrame::Welcome { from, node_id, facilities }) => {
                if from != peer {
                    return Err(format!("{addr} is node {from}, not {peer}"));
                }
                if node_id == self.node_id {
                    return Err(format!("IDCLASH, node {from} has the same id ({node_id:#x}) as this node"));
                }
                let agreed = table.agree(peer, &facilities).map_err(|(code, why)| format!("{code}, {why}"))?;
                Ok((stream, agreed))
            }
            Ok(PeerFrame::Refuse { code, reason }) => Err(format!("refused by {peer}: {code}, {reason}")),
            Ok(other) => Err(format!("unexpected answer to hello: {other:?}")),
            Err(e) => Err(format!("no answer to hello from {addr}: {e}")),
        }
    }

    /// Run an established link until it goes down: register it, tell the
    /// node, read until the end, then tell the node it is down.
    fn run_link(
        self: &Arc<Self>,
        mut stream: TcpStream,
        name: String,
        agreed: BTreeMap<String, crate::facility::Roles>,
        dialled: bool,
    ) {
        let (Ok(write_half), Ok(keep)) = (stream.try_clone(), stream.try_clone()) else { return };
        let (tx, rx) = crossbeam_channel::unbounded();
        let queued = Arc::new(AtomicUsize::new(0));
        let mut facilities: Vec<String> = agreed.keys().cloned().collect();
        facilities.sort();
        let (id, traffic) = {
            let mut st = self.lock();
            // Checked under the lock that `stop` takes after setting the
            // flag: either `stop` finds this link registered and closes it,
            // or this sees the flag.
            if self.stopping.load(Ordering::Acquire) {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            let id = st.next_id;
            st.next_id += 1;
            st.up.insert(
                id,
                Up {
                    name: name.clone(),
                    tx,
                    queued: queued.clone(),
                    stream: keep,
                    since: Instant::now(),
                    dialled,
                    facilities: facilities.clone(),
                },
            );
            st.last.remove(&name);
            (id, st.traffic.entry(name.clone()).or_default().clone())
        };
        crate::rtr_log!(
            Info,
            "rtr node: link to {name} up ({}; facilities {})",
            if dialled { "dialled" } else { "accepted" },
            facilities.join(",")
        );
        // The node learns of the link before any of its messages.
        self.inbox.send(Input::LinkUp(id, PeerInfo { name: name.clone(), facilities: agreed }));
        let ping_every = self.cfg.inactivity / 3;
        let writer = std::thread::Builder::new().name("rtr-link-write".into()).spawn({
            let traffic = traffic.clone();
            move || writer_loop(write_half, rx, queued, ping_every, &traffic)
        });
        let _ = stream.set_read_timeout(Some(self.cfg.inactivity));
        let mut why = loop {
            let frame = read_peer_frame(&mut stream);
            if let Ok((_, n)) = &frame {
                traffic.bytes_in.fetch_add(*n, Ordering::Relaxed);
            }
            match frame.map(|(f, _)| f) {
                Ok(PeerFrame::Msg(m)) => {
                    if !self.inbox.send(Input::Peer(id, m)) {
                        break "the node stopped".to_string();
                    }
                }
                Ok(PeerFrame::Ping) => {}
                Ok(other) => break format!("unexpected frame {other:?}"),
                Err(FrameError::Closed) => break "closed by the peer".into(),
                Err(FrameError::Io(e)) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    break format!("nothing heard for {} s (inactivity timer)", self.cfg.inactivity.as_secs())
                }
                Err(e) => break format!("bad frame: {e}"),
            }
        };
        if self.stopping.load(Ordering::Acquire) {
            // `stop` shut the socket: what the read saw was this node's doing.
            why = "closed: this node stopped".into();
        }
        let _ = stream.shutdown(Shutdown::Both);
        // Dropping the entry drops the writer's sender: the writer ends.
        self.lock().up.remove(&id);
        if let Ok(w) = writer {
            let _ = w.join();
        }
        self.note(&name, format!("down: {why}"));
        self.inbox.send(Input::LinkDown(id));
    }
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
        let links = Links::start(name.to_string(), self.node_id(), cfg, table, self.inbox().clone())?;
        self.inbox().send(Input::Links(links.clone()));
        Ok(links)
    }
}

/// Write queued bytes in order; ping when quiet.
fn writer_loop(
    mut stream: TcpStream,
    rx: Receiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    ping_every: Duration,
    traffic: &Traffic,
) {
    let ping = peer::encode(&PeerFrame::Ping);
    let ping_every = ping_every.max(Duration::from_millis(100));
    loop {
        let (bytes, counted) = match rx.recv_timeout(ping_every) {
            Ok(b) => (b, true),
            Err(RecvTimeoutError::Timeout) => (ping.clone(), false),
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let ok = stream.write_all(&bytes).is_ok();
        if ok {
            traffic.bytes_out.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        if counted {
            queued.fetch_sub(bytes.len(), Ordering::AcqRel);
        }
        if !ok {
            let _ = stream.shutdown(Shutdown::Both);
            break;
        }
    }
}

/// Read and decode one node-to-node frame; with its size on the wire.
fn read_peer_frame(src: &mut impl Read) -> Result<(PeerFrame, u64), FrameError> {
    let body = crate::protocol::codec::read_frame_max(src, MAX_PEER_FRAME)?;
    // The body and its 4-byte length.
    Ok((peer::decode(&body)?, body.len() as u64 + 4))
}

/// What a refused peer is told besides the code: a fixed text per code,
/// revealing no node name, node id or facility definition to a peer that
/// may not be a configured node (issue 17). The acceptor's log and `rtr
/// show link` there keep the full reason.
fn refusal_text(code: &str) -> &'static str {
    match code {
        "VERSION" => "node protocol version not supported",
        "WRONGNODE" => "the hello names another node",
        "IDCLASH" => "the node name or id clashes with this node's",
        "NODENOTCFG" => "the node is not configured here",
        "FACNOTDEC" => "no shared facility declared",
        "ROLESMISMATCH" => "facility definitions differ",
        _ => "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facility::FacilityDef;

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

    fn next(rx: &Receiver<Input>) -> Input {
        rx.recv_timeout(Duration::from_secs(20)).expect("an input from the links")
    }

    #[test]
    fn a_silent_peer_is_dropped_by_the_inactivity_timer_and_dialled_again() {
        let cfg = LinkConfig { inactivity: Duration::from_millis(300), ..LinkConfig::default() };
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
        let cfg = LinkConfig { max_queue: 256 << 10, ..LinkConfig::default() };
        let (links, l, rx) = dial_fake(cfg);
        let _s = welcome(&l); // never read from
        let Input::LinkUp(id, _) = next(&rx) else { panic!("expected the link up") };
        let chunk = vec![0u8; 64 << 10];
        let mut sent = 0usize;
        // The kernel's buffers take a few MB; past them the queue fills
        // and `send` shuts the link at once. Its threads report it down
        // when they next run, which on a loaded machine can take longer than
        // this loop takes to send 256 MB (the test failed so in full-suite
        // runs): past 64 MB, the report is waited for instead.
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
        assert!(links.show().iter().any(|r| r.node == "b" && r.state.starts_with("down")));
        links.stop();
    }

    #[test]
    fn a_refusal_is_reported_with_its_reason_and_retried() {
        let (links, l, rx) = dial_fake(LinkConfig::default());
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
        let cfg = LinkConfig { listen: Some("127.0.0.1:0".into()), ..LinkConfig::default() };
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
}
