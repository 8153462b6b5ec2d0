//! Simulated node links: one TCP connection at a time per pair of nodes
//! that needs one, as the real link layer makes them.
//!
//! A connection delivers in order within each direction (TCP never
//! reorders one stream) after a random delay; different connections and
//! directions are independent, so messages between different pairs
//! interleave in any order. A connection breaks at once for the world but
//! each end notices on its own (a killed process: within milliseconds; a
//! silent peer: after the inactivity timer), and what was in flight
//! arrives only up to a random cut. A partition blocks one direction or
//! both: nothing crosses a blocked direction, no connection can be made
//! across it, and the end that hears nothing drops the link at its
//! inactivity timer.

use std::collections::VecDeque;

use crate::node::{Internal, NodeRef};

/// Simulated time in microseconds from the start of the run.
pub type Micros = u64;

/// One message on its way: when it arrives, and what.
#[derive(Debug)]
pub struct InFlight {
    pub at: Micros,
    pub msg: Internal,
}

/// One connection between the two nodes of a pair. End 0 is the dialler
/// (the node whose name sorts first), end 1 the acceptor; direction `d`
/// carries messages from end `d` to the other end.
#[derive(Debug)]
pub struct Conn {
    pub id: u64,
    /// The incarnation of each end's node when the connection was made: an
    /// event for an end whose node restarted since is stale.
    pub inc: [u32; 2],
    /// The id each end's node gave the link (set when its link-up is
    /// delivered, cleared when its link-down is).
    pub refs: [Option<NodeRef>; 2],
    /// When each end's link-up is (or was) delivered: nothing reaches an
    /// end before its node knows the link.
    pub up_at: [Micros; 2],
    /// Each end's link-down is scheduled (or its node died).
    pub down: [bool; 2],
    /// Each end is finished with the connection (its link-down delivered,
    /// or its node died). With both, the pair may connect again.
    pub closed: [bool; 2],
    /// Broken: nothing sent from now on arrives.
    pub broken: bool,
    /// After a break, messages arriving later than this are lost (per direction).
    pub cutoff: [Micros; 2],
    pub queue: [VecDeque<InFlight>; 2],
    /// Arrival time of the last message queued per direction (order is kept).
    pub last: [Micros; 2],
}

impl Conn {
    pub fn new(id: u64, inc: [u32; 2]) -> Conn {
        Conn {
            id,
            inc,
            refs: [None, None],
            up_at: [0, 0],
            down: [false, false],
            closed: [false, false],
            broken: false,
            cutoff: [Micros::MAX, Micros::MAX],
            queue: [VecDeque::new(), VecDeque::new()],
            last: [0, 0],
        }
    }
}

/// A pair of nodes that the facility definition links.
#[derive(Debug)]
pub struct Pair {
    /// Node indices: `ends[0]` dials.
    pub ends: [usize; 2],
    pub conn: Option<Conn>,
    /// Direction `d` (from `ends[d]`) is blocked by a partition.
    pub blocked: [bool; 2],
    /// A dial is scheduled.
    pub dialing: bool,
}

impl Pair {
    /// Which end `node` is, if it is one.
    pub fn end_of(&self, node: usize) -> Option<usize> {
        self.ends.iter().position(|e| *e == node)
    }
}
