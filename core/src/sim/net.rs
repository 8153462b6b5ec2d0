//! Simulated node links: one TCP connection at a time per pair of nodes
//! that needs one, carrying bytes between two real link sessions
//! ([`crate::transport::session::Session`]), as the real link layer does.
//!
//! The sessions do what they do over TLS or plain TCP: the handshake
//! (hello, welcome or refusal), framing, pings, the hello timeout and the
//! inactivity timer, all decided from the simulated clock. The network
//! only moves bytes: each direction of a connection is a byte stream that
//! delivers in order (TCP never reorders one stream) after a random delay,
//! sometimes in two pieces cut at any byte (so frames arrive torn across
//! reads); different connections and directions are independent.
//!
//! The dialler dials again as soon as its end of a link ended (after a
//! backoff if the link never came up); the acceptor replaces an older
//! connection of the same peer when the new one comes up, as the real
//! link layer does, so its node may see the new link up before the old one
//! down.
//!
//! A direction delivers a prefix of what was sent: once a byte of it is
//! lost (a partition, a break), nothing sent later in that direction
//! arrives (`cutoff`). A killed process's peer sees the connection reset
//! within milliseconds; a lost machine, a partition or a frozen process is
//! noticed by the other end's own inactivity timer (nothing more is heard),
//! and an end that gives a link up closes its side: its peer sees the
//! close when the bytes before it have arrived, if its direction still
//! carries anything.

use std::collections::VecDeque;

use crate::node::NodeRef;
use crate::transport::session::Session;

/// Simulated time in microseconds from the start of the run.
pub type Micros = u64;

/// Bytes on their way in one direction: when they arrive, and what (an
/// empty piece with `close` set is the sender's end of the stream).
#[derive(Debug)]
pub struct InFlight {
    pub at: Micros,
    pub bytes: Vec<u8>,
    pub close: bool,
}

/// One connection between the two nodes of a pair. End 0 is the dialler
/// (the node whose name sorts first), end 1 the acceptor; direction `d`
/// carries bytes from end `d` to the other end.
pub struct Conn {
    pub id: u64,
    /// The incarnation of each end's node when the connection was made: an
    /// event for an end whose node restarted since is stale.
    pub inc: [u32; 2],
    /// Each end's link session; `None` once that end is finished with the
    /// connection (its session ended and its node was told, or its node
    /// died). With both gone, the pair may connect again.
    pub sessions: [Option<Session>; 2],
    /// The id each end's node gave the link (set when its session came up).
    pub refs: [Option<NodeRef>; 2],
    /// When each end's session next wants a tick (one event scheduled).
    pub tick_at: [Option<Micros>; 2],
    /// A fault cut it (a reset, a crash, a partition): faults pick another.
    pub broken: bool,
    /// Bytes arriving later than this are lost (per direction).
    pub cutoff: [Micros; 2],
    pub queue: [VecDeque<InFlight>; 2],
    /// Arrival time of the last piece queued per direction (order is kept).
    pub last: [Micros; 2],
}

impl Conn {
    pub fn new(id: u64, inc: [u32; 2], sessions: [Session; 2]) -> Conn {
        let [s0, s1] = sessions;
        Conn {
            id,
            inc,
            sessions: [Some(s0), Some(s1)],
            refs: [None, None],
            tick_at: [None, None],
            broken: false,
            cutoff: [Micros::MAX, Micros::MAX],
            queue: [VecDeque::new(), VecDeque::new()],
            last: [0, 0],
        }
    }

    /// Both ends are finished with it.
    pub fn finished(&self) -> bool {
        self.sessions.iter().all(Option::is_none)
    }
}

/// A pair of nodes that the facility definition links.
pub struct Pair {
    /// Node indices: `ends[0]` dials.
    pub ends: [usize; 2],
    /// Its connections that one end or both still hold, oldest first. The
    /// dialler holds at most one (it dials again once its end of the last
    /// one ended, as the link layer does); the acceptor may still hold an
    /// older one it has not found dead yet, until the new one comes up and
    /// replaces it (`Links::register`).
    pub conns: Vec<Conn>,
    /// Direction `d` (from `ends[d]`) is blocked by a partition.
    pub blocked: [bool; 2],
    /// A dial is scheduled.
    pub dialing: bool,
}

impl Pair {
    /// Connection `cid`, if either end still holds it.
    pub fn conn(&mut self, cid: u64) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == cid)
    }

    /// Whether the dialler holds a connection (then it does not dial).
    pub fn dialled(&self) -> bool {
        self.conns.iter().any(|c| c.sessions[0].is_some())
    }

    /// Which end `node` is, if it is one.
    pub fn end_of(&self, node: usize) -> Option<usize> {
        self.ends.iter().position(|e| *e == node)
    }
}
