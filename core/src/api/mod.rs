//! The channel API: what an application does with RTR, in Rust terms.
//!
//! [`Rtr`] is one library connection to a node (the embedded node by
//! default). The C ABI (`ffi/`) and the Python module call these methods and
//! add only argument conversion; every rule of the API lives here.
//!
//! Thread safety: an `Rtr` is `Send + Sync`. Any thread may call any method;
//! several threads may block in [`Rtr::receive`] at once, each on its own
//! channels. Channel state sits behind one mutex held only for short,
//! non-blocking sections.
//!
//! Daemon connections: the receiving threads wait on the socket themselves
//! and the kernel wakes one of them when bytes arrive, which reads them
//! (`transport/unix/reader.rs`, `transport/unix/wait.rs`), so a message
//! for the thread that waits for it costs no wake-up of another thread.
//! The reading thread delivers what it read for other channels to their
//! receivers (ringing their bells); a receive that returns hands nothing
//! over. A program that asks for the wakeup routine or a wakeup/arrival
//! descriptor gets a reader thread instead (it must hear of messages while
//! none of its threads receives).

mod channel;
mod fork;
mod inbox;
mod info;
mod wakeup;

pub use wakeup::WakeupFn;

use std::collections::BTreeSet;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_utils::sync::Parker;
use rustc_hash::FxHashMap;

use crate::error::{Result, RtrError};
use crate::flags;
use crate::keyseg::{KeyRange, KeySegment};
use crate::msgtype::MsgType;
use crate::protocol::{Bytes, ChanId, Delivery, Payload, Request, Role};
use crate::runtime::{DeliverySink, EmbeddedConfig, EmbeddedNode};
use crate::status::Status;
use crate::tid::Tid;
use crate::transport::unix::{wait, ClientConn, ReadSide};
use crate::transport::{Link, NODE_SOCKET_ENV};
use crate::{MAX_ACCESS_LEN, MAX_CHANNELS, MAX_FACNAM_LEN, MAX_MSGLEN, MAX_RCPNAM_LEN};

use channel::{Chan, TxState, Vote};
use inbox::{Waiter, Waiters};

/// The fork generation of this process (`fork.rs`), for state kept per
/// thread that a child must not share with its parent.
pub(crate) fn fork_generation() -> u32 {
    fork::generation()
}

/// Read what the daemon's socket holds now, without waiting, unless a
/// thread is reading it (which delivers what it reads).
fn look_now(r: &ReadSide) {
    if r.try_lead() {
        r.read_for(Some(Duration::ZERO));
        r.unlead();
    }
}

/// Longest sleep between looks at the socket when a thread cannot wait on
/// it (`wait_on_socket`'s fallback).
const FALLBACK_SLICE: Duration = Duration::from_millis(1);

/// A receiving thread's wait on a daemon connection it reads itself:
/// `remaining` (`None`: without end), on the socket and its bell
/// (`transport/unix/wait.rs`), or only a look at what is there for a
/// receive that does not wait. Without a bell or epoll instance (the
/// process ran out of descriptors) it looks at the socket and sleeps in
/// slices of [`FALLBACK_SLICE`]: slower, but nothing waits unread.
fn wait_on_socket(r: &Arc<ReadSide>, waiter: &Waiter, parker: &Parker, remaining: Option<Duration>) {
    if remaining == Some(Duration::ZERO) {
        return look_now(r);
    }
    if waiter.bell.is_some() && wait::wait(r, remaining).is_ok() {
        return;
    }
    look_now(r);
    parker.park_timeout(remaining.map_or(FALLBACK_SLICE, |t| t.min(FALLBACK_SLICE)));
}

/// Arguments of `rtr_open_channel`, already converted from C.
#[derive(Clone, Debug, Default)]
pub struct OpenParams {
    pub flags: u32,
    /// `None`: the default facility.
    pub facility: Option<String>,
    pub recipient: Option<String>,
    pub access: Option<String>,
    /// Event subscriptions (accepted and kept; events arrive with the events issue).
    pub events: Vec<i32>,
    /// Server key segments (clients pass none).
    pub segments: Vec<KeySegment>,
    /// The partition's name (`rtr_keyseg_partition`): servers that give the
    /// same name serve one partition, which must then have one key range.
    pub partition: Option<String>,
}

/// Which channels a receive listens to.
#[derive(Clone, Debug)]
pub enum Which {
    /// Every channel of this connection (`RTR_ANYCHAN`).
    Any,
    /// These channels only.
    List(Vec<ChanId>),
}

/// The message status block of a received message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Received {
    pub channel: ChanId,
    pub msgtype: MsgType,
    pub usrhdl: usize,
    /// The full length of the message (more than was copied when `truncated`).
    pub msglen: usize,
    /// The transaction id; all zero for messages outside a transaction.
    pub tid: Tid,
    pub evtnum: i32,
    /// The caller's buffer was too small: the data was cut to its size.
    pub truncated: bool,
}

/// A received message with its data (for Rust and Python callers).
#[derive(Clone, Debug)]
pub struct Message {
    pub sb: Received,
    pub data: Vec<u8>,
}

impl Message {
    /// For messages that carry `rtr_status_data_t`: (status, reason).
    pub fn status(&self) -> Option<(i32, u32)> {
        if self.sb.msgtype.carries_status() && self.data.len() >= 8 {
            let s = i32::from_ne_bytes(self.data[0..4].try_into().ok()?);
            let r = u32::from_ne_bytes(self.data[4..8].try_into().ok()?);
            Some((s, r))
        } else {
            None
        }
    }
}

/// Encode `rtr_status_data_t` (native order, as the C struct lays it out).
pub fn status_data(status: Status, reason: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0..4].copy_from_slice(&status.code().to_ne_bytes());
    b[4..8].copy_from_slice(&reason.to_ne_bytes());
    b
}

struct State {
    /// FxHash: the ids are the library's own (`next_chan`), and a receive
    /// looks up every listed channel two or three times (a server thread
    /// lists 16 in `rtr bench`), which SipHash made a visible cost.
    channels: FxHashMap<ChanId, Chan>,
    /// The channels with messages waiting, by the arrival number of their
    /// oldest (`(head seq, chan)`), so that a receive takes the oldest
    /// message without scanning every channel. Invariant: holds exactly one
    /// entry per channel of `channels` whose queue is not empty, with that
    /// queue's head; kept by `deliver_to` (push), `pop` and `close_channel`,
    /// the only places that change a queue.
    pending: BTreeSet<(u64, ChanId)>,
    next_chan: ChanId,
    /// Arrival counter: orders messages across channels.
    arrivals: u64,
    waiters: Waiters,
    /// The node stopped: every call fails with NODEUNAVAIL.
    node_gone: bool,
    /// Messages waiting on all channels (not yet received).
    waiting: usize,
    wakeup: wakeup::Wakeup,
    /// Broadcasts dropped because their channel already had
    /// [`MAX_QUEUED_EVENTS`] user events waiting, plus the events a node
    /// daemon dropped for this connection past its per-connection bound.
    events_dropped: u64,
}

/// User events a channel may hold unreceived. Broadcasts are not
/// transactional: past this, new ones for that channel are dropped (and
/// counted, [`Rtr::events_dropped`]) rather than growing memory without end.
pub const MAX_QUEUED_EVENTS: usize = 4096;

struct Inner {
    link: Link,
    node_id: u32,
    incarnation: u32,
    next_seq: AtomicU64,
    /// Shared with the node's delivery sink.
    state: Arc<Mutex<State>>,
    /// Deliveries so far (shared with the sink): lets a waiter notice new
    /// messages without taking the lock.
    arrivals: Arc<AtomicU64>,
    /// Threads of this connection polling for their outcome right now
    /// (`LINGER`): at most one fewer than the cores, as more only take CPU
    /// from the threads that would deliver it.
    lingering: AtomicUsize,
    /// Keeps the embedded node alive as long as a connection uses it
    /// (`None` for a connection to a node daemon).
    node: Option<Arc<EmbeddedNode>>,
    /// The daemon's socket (`None` for the embedded node).
    socket: Option<std::path::PathBuf>,
    /// The fork generation of the process that made it (`api/fork.rs`).
    forks: u32,
}

/// One library connection to an RTR node.
#[derive(Clone)]
pub struct Rtr {
    inner: Arc<Inner>,
}

/// The delivery side of a connection, held by the node thread. It holds
/// only the channel state, never the `Inner`: the last `Rtr` is therefore
/// always dropped by the application, whose thread sends the disconnect and
/// (for the last connection) stops and joins the node thread.
struct Sink {
    state: Arc<Mutex<State>>,
    arrivals: Arc<AtomicU64>,
}

impl DeliverySink for Sink {
    fn deliver(&self, batch: Vec<Delivery>) {
        deliver_to(&self.state, &self.arrivals, batch);
    }

    fn events_dropped(&self, count: u64) {
        if let Ok(mut st) = self.state.lock() {
            st.events_dropped = st.events_dropped.saturating_add(count);
        }
    }

    fn node_stopped(&self) {
        let mut wake = Vec::new();
        if let Ok(mut st) = self.state.lock() {
            st.node_gone = true;
            st.waiters.take_all(&mut wake);
        }
        for w in wake {
            w.wake();
        }
    }
}

/// Queue deliveries on their channels (those of closed channels are
/// dropped) and wake who waits for them: the receivers listening to those
/// channels, the wakeup routine and descriptor. The node's deliveries and
/// the library's own (information channels) both come through here.
fn deliver_to(state: &Mutex<State>, arrivals: &AtomicU64, batch: Vec<Delivery>) {
    let mut wake = Vec::new();
    let mut routine = None;
    {
        let Ok(mut guard) = state.lock() else { return };
        // One borrow of the state, so that a channel and the pending index
        // can be changed together.
        let st = &mut *guard;
        let was_idle = st.waiting == 0;
        let before = st.waiting;
        for d in batch {
            let seq = st.arrivals;
            st.arrivals += 1;
            let chan = d.chan;
            if let Some(c) = st.channels.get_mut(&chan) {
                if d.msgtype == MsgType::UserEvent {
                    if c.queued_events >= MAX_QUEUED_EVENTS {
                        st.events_dropped += 1;
                        continue;
                    }
                    c.queued_events += 1;
                }
                if c.queue.is_empty() {
                    st.pending.insert((seq, chan));
                }
                c.queue.push_back((seq, d));
                st.waiting += 1;
                st.waiters.take_for(chan, &mut wake);
            }
        }
        if was_idle && st.waiting > 0 {
            routine = st.wakeup.became_waiting();
        }
        if st.waiting > before {
            st.wakeup.arrived();
        }
    }
    // The application's wakeup routine runs without any library lock.
    if let Some(r) = routine {
        r();
    }
    arrivals.fetch_add(1, Ordering::Release);
    for w in wake {
        w.wake();
    }
}

/// Above this many (pending channel, listed channel) pairs a receive with a
/// list looks up each listed channel's queue instead of searching the
/// pending index for a listed channel (`pop`).
const PENDING_SCAN_LIMIT: usize = 256;

/// How long a client waiting for its outcome polls before sleeping.
const LINGER: Duration = Duration::from_micros(200);

/// How many threads of one connection may poll for their outcome at once:
/// one fewer than the cores (at least one). On a 2-core machine 32 clients
/// yielding in turn took about an eighth of the CPU from the node
/// (`sched_yield` in a profile of `rtr bench --daemon` at 32 clients).
fn max_lingering() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)))
}

fn new_state() -> (Arc<Mutex<State>>, Arc<AtomicU64>) {
    let state = Arc::new(Mutex::new(State {
        channels: FxHashMap::default(),
        pending: BTreeSet::new(),
        next_chan: 1,
        arrivals: 0,
        waiters: Waiters::default(),
        node_gone: false,
        waiting: 0,
        wakeup: wakeup::Wakeup::default(),
        events_dropped: 0,
    }));
    (state, Arc::new(AtomicU64::new(0)))
}

static GLOBAL: OnceLock<std::result::Result<Rtr, RtrError>> = OnceLock::new();

/// The process that started the process-wide embedded node (a forked child
/// has a copy of it without its threads: it must not wait for them).
static GLOBAL_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// How long a process's exit waits for its embedded node to act on what it
/// was sent last (see [`drain_global_at_exit`]).
const EXIT_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// At exit (`atexit`), the process-wide embedded node acts on what was sent
/// to it last and makes the journal writes that caused durable: a server's
/// last receive after an outcome finishes its transaction, and without this
/// the process would end before the node recorded it, so that the next run
/// got the transaction presented again. Bounded by [`EXIT_DRAIN`]; skipped
/// in a forked child; never unwinds.
extern "C" fn drain_global_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if GLOBAL_PID.load(std::sync::atomic::Ordering::Relaxed) != std::process::id() {
            return;
        }
        if let Some(Ok(rtr)) = GLOBAL.get() {
            if let Some(node) = &rtr.inner.node {
                node.drain(EXIT_DRAIN);
            }
        }
    });
}

impl Rtr {
    /// The process-wide connection used by the C API: to the node daemon
    /// whose Unix socket `RTR_NODE_SOCKET` names, or else to an embedded
    /// node started on first use, with its journal where `RTR_JOURNAL_DIR`
    /// says (see [`EmbeddedConfig::from_env`]). The same program runs in
    /// both modes.
    pub fn global() -> Result<&'static Rtr> {
        GLOBAL
            .get_or_init(|| {
                let r = match std::env::var_os(NODE_SOCKET_ENV) {
                    Some(path) if !path.is_empty() => Rtr::connect_socket(path),
                    _ => {
                        let r = Rtr::embedded_with(EmbeddedConfig::from_env());
                        if r.is_ok() {
                            GLOBAL_PID.store(std::process::id(), std::sync::atomic::Ordering::Relaxed);
                            // SAFETY: registers a function without arguments
                            // that cannot unwind (it catches panics).
                            unsafe {
                                libc::atexit(drain_global_at_exit);
                            }
                        }
                        r
                    }
                };
                if let Err(e) = &r {
                    // C callers only see a status: say why once, on stderr.
                    crate::rtr_log!(Error, "rtr: {e}");
                }
                r
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A new embedded node without a journal, and one connection to it
    /// (tests and tools use this to get an isolated node).
    pub fn embedded() -> Result<Rtr> {
        Rtr::embedded_with(EmbeddedConfig::default())
    }

    /// A new embedded node started with `cfg`, and one connection to it.
    pub fn embedded_with(cfg: EmbeddedConfig) -> Result<Rtr> {
        let node = EmbeddedNode::start_with(cfg)?;
        Rtr::connect(&node)
    }

    /// Another connection to an existing embedded node: behaves like a
    /// second process attached to the same node.
    pub fn connect(node: &Arc<EmbeddedNode>) -> Result<Rtr> {
        let (state, arrivals) = new_state();
        let link = node
            .connect(Arc::new(Sink { state: state.clone(), arrivals: arrivals.clone() }))
            .ok_or_else(|| RtrError::NodeUnavailable("the embedded node stopped".into()))?;
        Ok(Rtr {
            inner: Arc::new(Inner {
                link: Link::Embedded(link),
                node_id: node.node_id(),
                incarnation: node.incarnation(),
                next_seq: AtomicU64::new(1),
                state,
                arrivals,
                lingering: AtomicUsize::new(0),
                node: Some(node.clone()),
                socket: None,
                forks: fork::generation(),
            }),
        })
    }

    /// A connection to the node daemon listening on the Unix socket `path`.
    pub fn connect_socket(path: impl AsRef<std::path::Path>) -> Result<Rtr> {
        let path = path.as_ref();
        let (state, arrivals) = new_state();
        let conn = ClientConn::connect(path, Arc::new(Sink { state: state.clone(), arrivals: arrivals.clone() }))?;
        Ok(Rtr {
            inner: Arc::new(Inner {
                node_id: conn.node(),
                incarnation: conn.incarnation(),
                link: Link::Socket(conn),
                next_seq: AtomicU64::new(1),
                state,
                arrivals,
                lingering: AtomicUsize::new(0),
                node: None,
                socket: Some(path.to_path_buf()),
                forks: fork::generation(),
            }),
        })
    }

    /// Another connection to the same node, as a second process would have.
    pub fn connect_again(&self) -> Result<Rtr> {
        match (&self.inner.node, &self.inner.socket) {
            (Some(node), _) => Rtr::connect(node),
            (None, Some(path)) => Rtr::connect_socket(path),
            (None, None) => Err(RtrError::Internal("connection without a node".into())),
        }
    }

    /// The embedded node this connection talks to (`None` when it talks to a
    /// node daemon).
    pub fn node(&self) -> Option<Arc<EmbeddedNode>> {
        self.inner.node.clone()
    }

    // ----- rtr_open_channel / rtr_close_channel -----

    /// Open a client or server channel. Returns the channel id at once; the
    /// outcome arrives as `rtr_mt_opened` or `rtr_mt_closed`.
    pub fn open_channel(&self, p: OpenParams) -> Result<ChanId> {
        if p.flags & !flags::ope::ALL != 0 {
            return Err(RtrError::InvalidFlags { call: "rtr_open_channel", flags: p.flags });
        }
        let role = match (p.flags & flags::ope::CLIENT != 0, p.flags & flags::ope::SERVER != 0) {
            (true, false) => Role::Client,
            (false, true) => Role::Server,
            _ => {
                return Err(RtrError::InvalidFlags {
                    call: "rtr_open_channel (exactly one of RTR_F_OPE_CLIENT and RTR_F_OPE_SERVER)",
                    flags: p.flags,
                })
            }
        };
        for (bit, name, why) in [
            (flags::ope::FOREIGN_TM, "RTR_F_OPE_FOREIGN_TM", "foreign transaction managers are not supported"),
            (flags::ope::XA_MANAGED, "RTR_F_OPE_XA_MANAGED", "XA is not supported"),
        ] {
            if p.flags & bit != 0 {
                return Err(RtrError::Unsupported { flag: name, why });
            }
        }
        let callout = flags::ope::TR_CALL_OUT | flags::ope::BE_CALL_OUT;
        if p.flags & callout == callout {
            return Err(RtrError::InvalidFlags {
                call: "rtr_open_channel (a call-out server is either RTR_F_OPE_TR_CALL_OUT or RTR_F_OPE_BE_CALL_OUT)",
                flags: p.flags,
            });
        }
        let server_only = callout
            | flags::ope::SHADOW
            | flags::ope::NOSTANDBY
            | flags::ope::NOCONCURRENT
            | flags::ope::EXPLICIT_ACCEPT
            | flags::ope::EXPLICIT_PREPARE;
        if role == Role::Client && p.flags & server_only != 0 {
            return Err(RtrError::InvalidFlags {
                call: "rtr_open_channel (server flags on a client channel)",
                flags: p.flags,
            });
        }
        let facility = normalise_facility(p.facility.as_deref())?;
        if let Some(r) = &p.recipient {
            if r.len() > MAX_RCPNAM_LEN + 1 || r.contains(['*', '?', '%']) {
                return Err(RtrError::InvalidRecipient(format!("{r:?}: at most 31 characters, no wildcards")));
            }
        }
        if let Some(a) = &p.access {
            if a.len() > MAX_ACCESS_LEN {
                return Err(RtrError::InvalidAccess(format!("{} characters; at most {MAX_ACCESS_LEN}", a.len())));
            }
        }
        if role == Role::Client && (!p.segments.is_empty() || p.partition.is_some()) {
            return Err(RtrError::KeysOnClient);
        }
        let name = match &p.partition {
            Some(n) => {
                Some(crate::keyseg::partition_name(n).map_err(|why| RtrError::InvalidPartitionName(why.into()))?)
            }
            None => None,
        };
        let range = KeyRange::new(p.segments)?.named(name);
        let subs = crate::events::parse_subscription(&p.events).map_err(RtrError::InvalidEventList)?;

        let mut st = self.lock()?;
        let chan = new_channel(&mut st, Chan::new(role, p.flags))?;
        // The subscription goes first, so that the events of the open itself
        // (a server becoming primary) reach the channel.
        if p.recipient.is_some() || !subs.is_empty() {
            let recipient = p.recipient.unwrap_or_default();
            self.send(Request::Subscribe { chan, recipient, events: subs.ranges })?;
        }
        let r = self.send(Request::Open { chan, role, facility, flags: p.flags, range }).map(|()| chan);
        self.done(st, r)
    }

    // ----- rtr_broadcast_event -----

    /// Broadcast user event `evtnum` (0..=250) with optional data to the
    /// other side of the channel's facility (clients to servers, servers to
    /// clients): every channel that subscribed to the event and whose
    /// recipient name matches `rcpspc` (`*` and `?` wildcards,
    /// case-sensitive; `None` or empty: channels without a name) gets an
    /// `rtr_mt_user_event`. Not transactional; nobody subscribed is no error.
    pub fn broadcast_event(&self, chan: ChanId, fl: u32, msg: &[u8], evtnum: i32, rcpspc: Option<&str>) -> Result<()> {
        if fl != 0 {
            return Err(RtrError::InvalidFlags { call: "rtr_broadcast_event", flags: fl });
        }
        if !(crate::events::USERBASE..=crate::events::USERMAX).contains(&evtnum) {
            return Err(RtrError::InvalidEvent(evtnum));
        }
        check_len(msg.len())?;
        let rcpspc = rcpspc.unwrap_or("");
        if rcpspc.len() > crate::MAX_RCPSPC_LEN {
            return Err(RtrError::InvalidRecipientSpec(format!(
                "{} characters; at most {}",
                rcpspc.len(),
                crate::MAX_RCPSPC_LEN
            )));
        }
        let mut st = self.lock()?;
        work_chan(&mut st, chan, "rtr_broadcast_event")?;
        let r = self.send(Request::Broadcast { chan, evtnum, rcpspc: rcpspc.to_string(), data: Bytes::from(msg) });
        self.done(st, r)
    }

    /// Close a channel. A client's active transaction is rejected; a
    /// server's transaction in progress is presented to another server.
    /// Messages still queued for the channel are discarded.
    pub fn close_channel(&self, chan: ChanId, fl: u32) -> Result<()> {
        if fl & !flags::clo::ALL != 0 {
            return Err(RtrError::InvalidFlags { call: "rtr_close_channel", flags: fl });
        }
        let mut st = self.lock()?;
        let Some(c) = st.channels.remove(&chan) else {
            return Err(RtrError::InvalidChannel(chan));
        };
        // Its unreceived messages are discarded.
        if let Some(head) = c.head_seq() {
            st.pending.remove(&(head, chan));
        }
        st.waiting = st.waiting.saturating_sub(c.queue.len());
        if st.waiting == 0 {
            st.wakeup.became_idle();
        }
        if let Some(tid) = c.unacked_outcome {
            // Closing after the outcome was received: the server is done with it.
            self.send(Request::Ack { chan, tid })?;
        }
        // A thread blocked in a receive on this channel must not wait on.
        let mut wake = Vec::new();
        st.waiters.take_for(chan, &mut wake);
        drop(st);
        for w in wake {
            w.wake();
        }
        if c.info {
            // The node never heard of an information channel.
            return Ok(());
        }
        self.send(Request::Close { chan })?;
        if self.inner.link.flush() {
            Ok(())
        } else {
            Err(RtrError::NodeUnavailable("the node stopped".into()))
        }
    }

    // ----- client calls -----

    /// Start a transaction explicitly. `timeout_ms` of `None` or `Some(0)`: no timeout.
    pub fn start_tx(&self, chan: ChanId, fl: u32, timeout_ms: Option<u32>) -> Result<()> {
        if fl != 0 {
            return Err(RtrError::InvalidFlags { call: "rtr_start_tx", flags: fl });
        }
        let mut st = self.lock()?;
        let c = client_chan(&mut st, chan, "rtr_start_tx")?;
        if c.tx != TxState::Idle {
            return Err(RtrError::TxActive(chan));
        }
        let tid = self.new_tid();
        c.tx = TxState::Client { tid, accepted: false, prepared: false };
        let timeout_ms = timeout_ms.filter(|t| *t != 0);
        let r = self.send(Request::StartTx { chan, tid, timeout_ms });
        self.done(st, r)
    }

    /// Send one message of the client's transaction (starting one implicitly).
    pub fn send_to_server(&self, chan: ChanId, fl: u32, msg: &[u8]) -> Result<()> {
        if fl & !flags::sen::ALL != 0 {
            return Err(RtrError::InvalidFlags { call: "rtr_send_to_server", flags: fl });
        }
        // RTR_F_SEN_READONLY: not journaled (a replay after a crash does not
        // present it); RTR_F_SEN_EXPENDABLE: a lost server rejects the
        // transaction instead of having it presented again;
        // RTR_F_SEN_RETURN_TO_SENDER: a message no server takes comes back
        // as rtr_mt_rettosend instead of rejecting the transaction.
        check_len(msg.len())?;
        let mut st = self.lock()?;
        let c = client_chan(&mut st, chan, "rtr_send_to_server")?;
        let tid = match c.tx {
            TxState::Client { accepted: true, .. } => return Err(RtrError::AlreadyAccepted(chan)),
            TxState::Client { prepared: true, .. } => return Err(RtrError::AlreadyPrepared(chan)),
            TxState::Client { tid, .. } => tid,
            _ => {
                let tid = self.new_tid();
                c.tx = TxState::Client { tid, accepted: false, prepared: false };
                tid
            }
        };
        if fl & flags::sen::ACCEPT != 0 {
            c.tx = TxState::Client { tid, accepted: true, prepared: false };
        }
        let r = self.send(Request::Send { chan, tid, flags: fl, data: Bytes::from(msg) });
        self.done(st, r)
    }

    // ----- server calls -----

    /// Reply to the client of the server's current transaction.
    pub fn reply_to_client(&self, chan: ChanId, fl: u32, msg: &[u8]) -> Result<()> {
        if fl & !flags::rep::ALL != 0 {
            return Err(RtrError::InvalidFlags { call: "rtr_reply_to_client", flags: fl });
        }
        check_len(msg.len())?;
        let mut st = self.lock()?;
        let c = server_chan(&mut st, chan, "rtr_reply_to_client")?;
        let TxState::Server { tid, vote, prepare_seen } = c.tx else {
            return Err(RtrError::NoTransaction(chan));
        };
        // RTR_F_REP_INDEPENDENT (an independent transaction, which needs no
        // commit ordering; there is none to relax here): with explicit
        // accept it is valid only with RTR_F_REP_ACCEPT, otherwise it
        // implies the accept (RTR V3.2 release notes).
        // RTR_F_REP_FORGET ("as RTR_F_ACC_FORGET") follows the same rule:
        // the forget belongs to the accept this reply casts.
        let mut fl = fl;
        if fl & (flags::rep::INDEPENDENT | flags::rep::FORGET) != 0 && fl & flags::rep::ACCEPT == 0 {
            if c.explicit_accept() {
                return Err(RtrError::InvalidFlags {
                    call: "rtr_reply_to_client (RTR_F_REP_INDEPENDENT and RTR_F_REP_FORGET need RTR_F_REP_ACCEPT with explicit accept)",
                    flags: fl,
                });
            }
            fl |= flags::rep::ACCEPT;
        }
        let forget = fl & flags::rep::FORGET != 0;
        if fl & flags::rep::ACCEPT != 0 {
            if vote != Vote::None {
                return Err(RtrError::AlreadyAccepted(chan));
            }
            c.tx = if forget { TxState::Idle } else { TxState::Server { tid, vote: Vote::Accepted, prepare_seen } };
        }
        // The reply and its accept go out in one write.
        let mut r = self.send(Request::Reply { chan, tid, flags: fl, data: Bytes::from(msg) });
        if r.is_ok() && fl & flags::rep::ACCEPT != 0 {
            let acc = if forget { flags::acc::FORGET } else { 0 };
            r = self.send(Request::Accept { chan, tid, flags: acc, reason: 0, implicit: false });
        }
        self.done(st, r)
    }

    // ----- both -----

    /// Vote to accept (server) or ask to commit (client).
    pub fn accept_tx(&self, chan: ChanId, fl: u32, reason: u32) -> Result<()> {
        if fl & !flags::acc::ALL != 0 {
            return Err(RtrError::InvalidFlags { call: "rtr_accept_tx", flags: fl });
        }
        // RTR_F_ACC_INDEPENDENT is accepted: no commit ordering to relax here.
        let mut st = self.lock()?;
        let c = work_chan(&mut st, chan, "rtr_accept_tx")?;
        let forget = fl & flags::acc::FORGET != 0;
        let tid = match c.tx {
            TxState::Idle => return Err(RtrError::NoTransaction(chan)),
            TxState::Client { accepted: true, .. } => return Err(RtrError::AlreadyAccepted(chan)),
            // RTR_F_ACC_FORGET: the client will not hear the outcome, and
            // may start its next transaction at once.
            TxState::Client { tid, .. } if forget => {
                c.tx = TxState::Idle;
                tid
            }
            TxState::Client { tid, prepared, .. } => {
                c.tx = TxState::Client { tid, accepted: true, prepared };
                tid
            }
            // RTR_F_ACC_FORGET on a server: it votes and is done with the
            // transaction; its next receive brings new work, never this
            // transaction's outcome.
            TxState::Server { vote: Vote::None, tid, .. } if forget => {
                c.tx = TxState::Idle;
                tid
            }
            TxState::Server { vote: Vote::None, tid, prepare_seen } => {
                c.tx = TxState::Server { tid, vote: Vote::Accepted, prepare_seen };
                tid
            }
            TxState::Server { .. } => return Err(RtrError::AlreadyAccepted(chan)),
        };
        let r = self.send(Request::Accept { chan, tid, flags: fl, reason, implicit: false });
        self.done(st, r)
    }

    /// Reject (abort) the transaction; `reason` reaches every participant.
    pub fn reject_tx(&self, chan: ChanId, fl: u32, reason: u32) -> Result<()> {
        if fl & !flags::rej::ALL != 0 {
            return Err(RtrError::InvalidFlags { call: "rtr_reject_tx", flags: fl });
        }
        let mut st = self.lock()?;
        let c = work_chan(&mut st, chan, "rtr_reject_tx")?;
        if fl & flags::rej::RETRY != 0 && c.role != Role::Server {
            return Err(RtrError::InvalidFlags { call: "rtr_reject_tx (RTR_F_REJ_RETRY is for servers)", flags: fl });
        }
        let tid = match c.tx {
            TxState::Idle => return Err(RtrError::NoTransaction(chan)),
            TxState::Client { accepted: true, .. } => return Err(RtrError::AlreadyAccepted(chan)),
            TxState::Client { tid, .. } => tid,
            TxState::Server { vote: Vote::None, tid, prepare_seen } => {
                c.tx = TxState::Server { tid, vote: Vote::Rejected, prepare_seen };
                tid
            }
            TxState::Server { .. } => return Err(RtrError::AlreadyAccepted(chan)),
        };
        let r = self.send(Request::Reject { chan, tid, flags: fl, reason });
        self.done(st, r)
    }

    /// Phase one asked for by the client (for a foreign transaction
    /// manager): the servers are asked to vote, and when all voted yes the
    /// client receives `rtr_mt_prepared`; it then accepts or rejects, and
    /// `reason` replaces the reason of that later call. No more messages may
    /// be sent. `blob` (at most `RTR_MAX_BLOB_LEN` bytes) is checked but not
    /// kept: foreign transaction managers are not supported, so nothing
    /// recovers it.
    pub fn prepare_tx(&self, chan: ChanId, fl: u32, reason: u32, blob: &[u8]) -> Result<()> {
        if fl != 0 {
            return Err(RtrError::InvalidFlags { call: "rtr_prepare_tx", flags: fl });
        }
        if blob.len() > crate::MAX_BLOB_LEN {
            return Err(RtrError::InvalidMsgLen { len: blob.len() });
        }
        let mut st = self.lock()?;
        let c = client_chan(&mut st, chan, "rtr_prepare_tx")?;
        let tid = match c.tx {
            TxState::Client { accepted: true, .. } => return Err(RtrError::AlreadyAccepted(chan)),
            TxState::Client { prepared: true, .. } => return Err(RtrError::AlreadyPrepared(chan)),
            TxState::Client { tid, .. } => tid,
            _ => return Err(RtrError::NoTransaction(chan)),
        };
        c.tx = TxState::Client { tid, accepted: false, prepared: true };
        let r = self.send(Request::Prepare { chan, tid, reason });
        self.done(st, r)
    }

    /// The id of the transaction active on the channel.
    pub fn get_tid(&self, chan: ChanId, fl: u32) -> Result<Tid> {
        if fl & !flags::tid::ALL != 0 || fl & flags::tid::DDTM != 0 {
            return Err(RtrError::InvalidFlags { call: "rtr_get_tid", flags: fl });
        }
        let mut st = self.lock()?;
        match work_chan(&mut st, chan, "rtr_get_tid")?.tx {
            TxState::Idle => Err(RtrError::NoTransaction(chan)),
            TxState::Client { tid, .. } | TxState::Server { tid, .. } => Ok(tid),
        }
    }

    /// The fencing token of the last message of a transaction that server
    /// channel `chan` received (0 before any): the grant epoch under which
    /// its node's partition held the key range when it delivered it. A
    /// database that keeps the highest token per key range and refuses
    /// work under a lower one cannot apply a transaction twice when a node
    /// frozen with a commit in hand wakes after the range's new holder
    /// replayed it (`docs/fencing.md`).
    pub fn get_fence(&self, chan: ChanId) -> Result<u64> {
        let mut st = self.lock()?;
        Ok(server_chan(&mut st, chan, "rtr_get_fence")?.fence)
    }

    pub fn set_user_handle(&self, chan: ChanId, usrhdl: usize) -> Result<()> {
        let mut st = self.lock()?;
        any_chan(&mut st, chan)?.usrhdl = usrhdl;
        Ok(())
    }

    pub fn get_user_handle(&self, chan: ChanId) -> Result<usize> {
        let mut st = self.lock()?;
        Ok(any_chan(&mut st, chan)?.usrhdl)
    }

    // ----- rtr_set_wakeup -----

    /// Register (or with `None` cancel) the routine called when a message
    /// becomes available while none was waiting. It runs on a library
    /// thread, without library locks held, once per transition; it must be
    /// short and must not call the RTR API.
    pub fn set_wakeup(&self, routine: Option<WakeupFn>) -> Result<()> {
        if routine.is_some() {
            self.read_in_background()?;
        }
        self.lock()?.wakeup.set_routine(routine);
        Ok(())
    }

    /// Extension: events this connection lost: broadcasts (user events)
    /// dropped because the receiving channel already held
    /// [`MAX_QUEUED_EVENTS`] of them, and, on a node daemon, events (user
    /// and RTR events) the daemon dropped because the connection was not
    /// reading its socket and the bytes queued for it had reached the
    /// daemon's bound ([`crate::transport::unix::MAX_BACKLOG`]). The daemon's
    /// drops count here once it has told the library, which it does as the
    /// connection reads again (after what was queued before the drops).
    pub fn events_dropped(&self) -> Result<u64> {
        self.pump();
        Ok(self.lock()?.events_dropped)
    }

    /// Extension: a descriptor that is readable exactly while a message
    /// waits for this connection, for `poll`/`epoll` loops. Owned by the
    /// library: do not read, write or close it.
    pub fn wakeup_fd(&self) -> Result<std::os::fd::RawFd> {
        self.read_in_background()?;
        let mut st = self.lock()?;
        let waiting = st.waiting > 0;
        st.wakeup.fd(waiting)
    }

    /// Extension for event-loop bindings (not in the C API): a descriptor
    /// made readable by every delivery of messages to this connection, and
    /// unreadable again only when its reader reads it (8 bytes; it is a
    /// non-blocking eventfd). Unlike [`Rtr::wakeup_fd`], messages that wait
    /// for another receiver (a thread, C code) do not keep it readable, so
    /// an event loop can wait on it for messages to its own channels: read
    /// it, then try a receive with a timeout of 0. One reader per
    /// connection; owned by the library (read it, never close it).
    pub fn arrival_fd(&self) -> Result<std::os::fd::RawFd> {
        self.read_in_background()?;
        let mut st = self.lock()?;
        let waiting = st.waiting > 0;
        st.wakeup.arrival_fd(waiting)
    }

    // ----- rtr_receive_message -----

    /// Receive the next message into `buf`. `timeout`: `None` waits forever,
    /// zero polls. A message longer than `buf` is cut to fit and consumed;
    /// the result says `truncated` and gives the full length.
    pub fn receive_into(&self, which: &Which, buf: &mut [u8], timeout: Option<Duration>) -> Result<Received> {
        self.receive_with(which, timeout, |sb, data| {
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            Received { truncated: n < data.len(), ..*sb }
        })
    }

    /// Receive the next message and hand its status block and full data to
    /// `f` (which runs without any library lock held). The C ABI uses this to
    /// copy into a caller's buffer that may be uninitialised memory.
    pub fn receive_with<R>(
        &self,
        which: &Which,
        timeout: Option<Duration>,
        f: impl FnOnce(&Received, &[u8]) -> R,
    ) -> Result<R> {
        let (sb, data) = self.take_next(which, timeout)?;
        Ok(f(&sb, data.as_slice()))
    }

    /// Receive the next message with its data.
    pub fn receive(&self, which: &Which, timeout: Option<Duration>) -> Result<Message> {
        let (sb, data) = self.take_next(which, timeout)?;
        Ok(Message { sb, data: data.as_slice().to_vec() })
    }

    /// The socket's read side, when receivers read it themselves (a daemon
    /// connection without a background reader).
    fn self_reader(&self) -> Option<&Arc<ReadSide>> {
        match &self.inner.link {
            Link::Socket(c) if !c.reader().in_background() => Some(c.reader()),
            _ => None,
        }
    }

    /// Read what the daemon's socket holds now, if no receiver is reading
    /// it (a call that reports state without receiving, and must see what
    /// arrived).
    fn pump(&self) {
        if let Some(r) = self.self_reader() {
            look_now(r);
        }
    }

    /// Ask for a reader thread of its own (when the program wants to be
    /// told of messages while none of its threads receives).
    fn read_in_background(&self) -> Result<()> {
        if let Link::Socket(c) = &self.inner.link {
            c.reader()
                .start_background()
                .map_err(|e| RtrError::Internal(format!("cannot start the socket reader thread: {e}")))?;
        }
        Ok(())
    }

    fn take_next(&self, which: &Which, timeout: Option<Duration>) -> Result<(Received, DataRef)> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.lock()?;
        let list: Option<Vec<ChanId>> = match which {
            Which::Any => None,
            Which::List(l) => {
                if l.is_empty() {
                    return Err(RtrError::InvalidReceiveList("the list names no channel".into()));
                }
                if let Some(bad) = l.iter().find(|c| !st.channels.get(c).is_some_and(Chan::usable)) {
                    return Err(RtrError::InvalidReceiveList(format!("channel {bad} is not open")));
                }
                Some(l.clone())
            }
        };
        if list.is_none() && !st.channels.values().any(Chan::usable) {
            return Err(RtrError::InvalidReceiveList("no channel is open".into()));
        }
        // Receiving again is a server's implicit accept of a transaction
        // whose vote it has been asked for, and after an outcome tells the
        // node the server is done with it. The listed channels are looked
        // up (in the list's order), not every channel scanned.
        let mut due: Vec<(ChanId, Tid)> = Vec::new();
        let mut acks: Vec<(ChanId, Tid)> = Vec::new();
        let mut settle = |id: ChanId, c: &mut Chan| {
            if let Some(tid) = c.implicit_accept_due() {
                if let TxState::Server { prepare_seen, .. } = c.tx {
                    c.tx = TxState::Server { tid, vote: Vote::Accepted, prepare_seen };
                }
                due.push((id, tid));
            }
            if let Some(tid) = c.unacked_outcome.take() {
                acks.push((id, tid));
            }
        };
        match &list {
            Some(l) => {
                for id in l {
                    if let Some(c) = st.channels.get_mut(id) {
                        settle(*id, c);
                    }
                }
            }
            None => {
                for (id, c) in st.channels.iter_mut() {
                    settle(*id, c);
                }
            }
        }
        // Every accept before the acknowledgements, as before.
        for (chan, tid) in due {
            self.send(Request::Accept { chan, tid, flags: 0, reason: 0, implicit: true })?;
        }
        for (chan, tid) in acks {
            self.send(Request::Ack { chan, tid })?;
        }

        // Made when this call first has to wait (most receives of a busy
        // server find their message at once and need neither).
        let mut waiting: Option<(Parker, Arc<Waiter>)> = None;
        // Whether this call read the socket once: even a receive that does
        // not wait (timeout 0) looks at what arrived there.
        let mut looked = false;
        loop {
            if let Some(r) = self.pop(&mut st, list.as_deref())? {
                return Ok(r);
            }
            if st.node_gone {
                return Err(RtrError::NodeUnavailable("the node stopped".into()));
            }
            if list.is_none() && !st.channels.values().any(Chan::usable) {
                return Err(RtrError::InvalidReceiveList("no channel is open".into()));
            }
            if let Some(l) = &list {
                // Every listed channel was closed while we waited.
                if l.iter().all(|c| !st.channels.get(c).is_some_and(Chan::usable)) {
                    return Err(RtrError::InvalidReceiveList("the channels were closed".into()));
                }
            }
            // Looked up each turn: a background reader may have started
            // (then this thread parks, and the reader delivers to it).
            let reader = self.self_reader();
            let (parker, waiter) = waiting.get_or_insert_with(|| {
                let parker = Parker::new();
                // Without a bell (descriptors ran out) the wait falls back
                // to looking at the socket in short slices (`wait_on_socket`).
                let bell = reader.and_then(|_| wait::bell().ok());
                let waiter = Arc::new(Waiter::new(list.clone(), parker.unparker().clone(), bell));
                (parker, waiter)
            });
            let remaining = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now < d {
                        Some(d - now)
                    } else if reader.is_some() && !looked {
                        Some(Duration::ZERO)
                    } else {
                        return Err(RtrError::Timeout);
                    }
                }
                None => None,
            };
            st.waiters.add(waiter.clone());
            // A client that accepted waits for its outcome, due within about
            // one journal sync: poll for it briefly (yielding the CPU) before
            // sleeping, which spares the wake-up on an idle system. Not on
            // a daemon connection that its receivers read themselves
            // (`reader`): the leader would only delay its own reading, and
            // a follower's outcome is read by the leader, which it would
            // take CPU from. Measured (`rtr bench --daemon`, 32 clients on
            // two cores, docs/daemon-path.md): a lingering follower cost
            // about 4 us of CPU per transaction and a sixth of the
            // throughput, and saved no context switch at 2, 8 or 32
            // clients. (With one client the client leads: it never
            // lingered.) The embedded node and a background reader keep it.
            let accepted = |c: &Chan| matches!(c.tx, TxState::Client { accepted: true, .. });
            let linger = reader.is_none()
                && match &list {
                    // Look up the listed channels only, not every channel.
                    Some(l) => l.iter().any(|id| st.channels.get(id).is_some_and(accepted)),
                    None => st.channels.values().any(accepted),
                };
            drop(st);
            if linger && self.inner.lingering.fetch_add(1, Ordering::AcqRel) < max_lingering() {
                let seen = self.inner.arrivals.load(Ordering::Acquire);
                crate::linger::until(
                    crate::syscalls::Side::App,
                    Instant::now() + LINGER,
                    || self.inner.arrivals.load(Ordering::Acquire) != seen,
                    || false,
                );
                self.inner.lingering.fetch_sub(1, Ordering::AcqRel);
            } else if linger {
                self.inner.lingering.fetch_sub(1, Ordering::AcqRel);
            }
            match reader {
                Some(r) => {
                    wait_on_socket(r, waiter, parker, remaining);
                    looked = true;
                }
                None => match remaining {
                    Some(r) => parker.park_timeout(r),
                    None => parker.park(),
                },
            }
            st = self.lock()?;
            st.waiters.remove(waiter);
        }
    }

    /// Take the oldest message among the listened channels and apply it to
    /// the channel state. Hidden messages (a vote request to a server without
    /// explicit prepare) are consumed here and never returned.
    fn pop(&self, st: &mut State, list: Option<&[ChanId]>) -> Result<Option<(Received, DataRef)>> {
        loop {
            let best = match list {
                None => st.pending.first().copied(),
                // The channels with messages waiting are usually few: look
                // through them, oldest first, for a listed one; a long
                // index against a long list looks the list up instead.
                Some(l) if st.pending.len().saturating_mul(l.len()) <= PENDING_SCAN_LIMIT => {
                    st.pending.iter().find(|(_, id)| l.contains(id)).copied()
                }
                Some(l) => {
                    l.iter().filter_map(|id| st.channels.get(id).and_then(|c| c.head_seq()).map(|s| (s, *id))).min()
                }
            };
            let Some((seq, chan)) = best else { return Ok(None) };
            st.pending.remove(&(seq, chan));
            let c = st.channels.get_mut(&chan).ok_or_else(|| RtrError::Internal("channel vanished".into()))?;
            let (_, d) = c.queue.pop_front().ok_or_else(|| RtrError::Internal("empty queue".into()))?;
            if let Some(next) = c.head_seq() {
                st.pending.insert((next, chan));
            }
            if d.msgtype == MsgType::UserEvent {
                c.queued_events = c.queued_events.saturating_sub(1);
            }
            st.waiting = st.waiting.saturating_sub(1);
            if st.waiting == 0 {
                st.wakeup.became_idle();
            }
            let Some(c) = st.channels.get_mut(&chan) else { continue };
            let tid = d.tid.unwrap_or_default();
            if c.role == Role::Server && d.tid.is_some() {
                c.fence = d.fence;
            }
            match (c.role, d.msgtype) {
                (Role::Server, MsgType::Msg1 | MsgType::Msg1Uncertain) => {
                    c.tx = TxState::Server { tid, vote: Vote::None, prepare_seen: false };
                }
                (Role::Server, MsgType::Prepare) => {
                    let TxState::Server { tid: cur, vote, .. } = c.tx else {
                        continue;
                    };
                    if cur != tid || vote != Vote::None {
                        // Already voted: RTR sends no vote request then.
                        continue;
                    }
                    c.tx = TxState::Server { tid, vote, prepare_seen: true };
                    if !c.explicit_prepare() {
                        // Hidden vote request: this very receive call is the
                        // implicit accept, unless the server must accept explicitly.
                        if let Some(t) = c.implicit_accept_due() {
                            c.tx = TxState::Server { tid: t, vote: Vote::Accepted, prepare_seen: true };
                            self.send(Request::Accept { chan, tid: t, flags: 0, reason: 0, implicit: true })?;
                        }
                        continue;
                    }
                }
                (Role::Server, MsgType::Accepted | MsgType::Rejected) => {
                    if matches!(c.tx, TxState::Server { tid: cur, .. } if cur == tid) {
                        c.tx = TxState::Idle;
                    }
                    c.unacked_outcome = Some(tid);
                }
                (Role::Client, MsgType::Accepted | MsgType::Rejected) => {
                    if matches!(c.tx, TxState::Client { tid: cur, .. } if cur == tid) {
                        c.tx = TxState::Idle;
                    }
                }
                _ => {}
            }
            let usrhdl = c.usrhdl;
            if d.msgtype == MsgType::Closed {
                // RTR closed the channel (or refused to open it). It stays
                // as a marker until the application closes it: other calls
                // on it answer RTR_STS_CHANCLOSED.
                c.closed_by_rtr = true;
            }
            let data = match d.payload {
                Payload::Data(b) => DataRef::Shared(b),
                Payload::Status { status, reason } => DataRef::Status(status_data(status, reason)),
                Payload::None => DataRef::Status([0; 8]).empty(),
            };
            let sb = Received {
                channel: chan,
                msgtype: d.msgtype,
                usrhdl,
                msglen: data.as_slice().len(),
                tid,
                evtnum: d.evtnum,
                truncated: false,
            };
            return Ok(Some((sb, data)));
        }
    }

    // ----- internals -----

    fn lock(&self) -> Result<Locked<'_>> {
        fork::check(self.inner.forks)?;
        let guard =
            self.inner.state.lock().map_err(|_| RtrError::Internal("library state poisoned by a panic".into()))?;
        Ok(Locked { guard: ManuallyDrop::new(guard), link: &self.inner.link })
    }

    /// Release the state lock, write the requests queued under it, and
    /// make a connection found broken meanwhile the call's failure.
    fn done<T>(&self, st: Locked<'_>, r: Result<T>) -> Result<T> {
        drop(st);
        match r {
            Ok(_) if !self.inner.link.flush() => Err(RtrError::NodeUnavailable("the node stopped".into())),
            r => r,
        }
    }

    fn send(&self, req: Request) -> Result<()> {
        if self.inner.link.send(req) {
            Ok(())
        } else {
            Err(RtrError::NodeUnavailable("the node stopped".into()))
        }
    }

    fn new_tid(&self) -> Tid {
        Tid {
            node: self.inner.node_id,
            incarnation: self.inner.incarnation,
            conn: self.inner.link.conn(),
            seq: self.inner.next_seq.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The process (connection) is gone: the node closes its channels,
        // rejecting client transactions and replaying server ones.
        let _ = self.link.send(Request::Disconnect);
        let _ = self.link.flush();
        if let Ok(mut st) = self.state.lock() {
            st.node_gone = true;
            let mut all = Vec::new();
            st.waiters.take_all(&mut all);
        }
    }
}

/// The state lock. Requests queued while it is held are written when it is
/// released, after the lock (no socket I/O under it, so one slow write
/// holds up no other thread), what is ready in one write: a reply and its
/// accept, a receive's implicit accept and acknowledgements. Queueing under
/// the lock keeps the requests in the order of the state changes.
struct Locked<'a> {
    guard: ManuallyDrop<MutexGuard<'a, State>>,
    link: &'a Link,
}

impl std::ops::Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard is dropped exactly once, here, and not used after.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        // A failure shows in the next call (and in `done`).
        let _ = self.link.flush();
    }
}

/// Data of a received message without copying shared bytes twice.
enum DataRef {
    Shared(Bytes),
    Status([u8; 8]),
    Empty,
}

impl DataRef {
    fn as_slice(&self) -> &[u8] {
        match self {
            DataRef::Shared(b) => b,
            DataRef::Status(s) => s,
            DataRef::Empty => &[],
        }
    }

    fn empty(self) -> DataRef {
        DataRef::Empty
    }
}

fn check_len(len: usize) -> Result<()> {
    if len > MAX_MSGLEN {
        Err(RtrError::InvalidMsgLen { len })
    } else {
        Ok(())
    }
}

/// Facility names: 1..=31 characters, first a letter, then letters, digits,
/// `_`, `$`, `-` or `.`; compared without regard to case (stored upper case).
pub(crate) fn normalise_facility(name: Option<&str>) -> Result<String> {
    let Some(name) = name else {
        return Ok(crate::DEFAULT_FACILITY.to_string());
    };
    let bad = |why: &str| RtrError::InvalidFacility(format!("{name:?}: {why}"));
    if name.is_empty() || name.len() > MAX_FACNAM_LEN {
        return Err(bad("must be 1 to 31 characters"));
    }
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err(bad("must start with a letter"));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-' | '.')) {
        return Err(bad("only letters, digits, '_', '$', '-' and '.' are allowed"));
    }
    Ok(name.to_ascii_uppercase())
}

fn any_chan(st: &mut State, chan: ChanId) -> Result<&mut Chan> {
    match st.channels.get_mut(&chan) {
        None => Err(RtrError::InvalidChannel(chan)),
        Some(c) if c.closed_by_rtr => Err(RtrError::ChannelClosed(chan)),
        Some(c) => Ok(c),
    }
}

/// Register a new channel under the next id (ids are never reused).
fn new_channel(st: &mut State, c: Chan) -> Result<ChanId> {
    if st.channels.len() >= MAX_CHANNELS {
        return Err(RtrError::TooManyChannels);
    }
    let chan = st.next_chan;
    st.next_chan = st.next_chan.checked_add(1).ok_or_else(|| RtrError::Internal("channel ids exhausted".into()))?;
    st.channels.insert(chan, c);
    Ok(chan)
}

/// A channel that takes transactional calls and broadcasts: open, and no
/// information channel.
fn work_chan<'a>(st: &'a mut State, chan: ChanId, call: &'static str) -> Result<&'a mut Chan> {
    let c = any_chan(st, chan)?;
    if c.info {
        return Err(RtrError::InfoChannel { call, chan });
    }
    Ok(c)
}

fn client_chan<'a>(st: &'a mut State, chan: ChanId, call: &'static str) -> Result<&'a mut Chan> {
    let c = work_chan(st, chan, call)?;
    if c.role != Role::Client {
        return Err(RtrError::ServerChannel { call });
    }
    Ok(c)
}

fn server_chan<'a>(st: &'a mut State, chan: ChanId, call: &'static str) -> Result<&'a mut Chan> {
    let c = work_chan(st, chan, call)?;
    if c.role != Role::Server {
        return Err(RtrError::ClientChannel { call });
    }
    Ok(c)
}
