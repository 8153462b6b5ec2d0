//! Waiting for messages: a receive call that finds nothing registers a
//! waiter naming the channels it listens to, and the node's delivery wakes
//! exactly the waiters that listen to a channel that got a message. Threads
//! that each own a channel therefore never wake each other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;

use crossbeam_utils::sync::Unparker;

use crate::protocol::ChanId;
use crate::transport::unix::Interrupt;

pub(crate) struct Waiter {
    /// `None`: any channel of the process.
    pub channels: Option<Vec<ChanId>>,
    pub unparker: Unparker,
    /// This waiter's thread reads the daemon's socket (it leads,
    /// `transport/unix/reader.rs`): it sleeps in `poll`, not parked, and
    /// is woken through `interrupt`. Set under the state lock, so that
    /// whoever takes the waiter from the list afterwards sees it.
    pub leading: AtomicBool,
    pub thread: ThreadId,
    /// The connection's interrupt (a daemon connection only).
    pub interrupt: Option<Arc<Interrupt>>,
}

impl Waiter {
    pub fn new(channels: Option<Vec<ChanId>>, unparker: Unparker, interrupt: Option<Arc<Interrupt>>) -> Waiter {
        Waiter { channels, unparker, leading: AtomicBool::new(false), thread: std::thread::current().id(), interrupt }
    }

    /// Wake the waiting thread, wherever it waits. The leader itself
    /// delivering to its own waiter needs no interrupt: it is awake.
    pub fn wake(&self) {
        self.unparker.unpark();
        if self.leading.load(Ordering::Acquire) && std::thread::current().id() != self.thread {
            if let Some(i) = &self.interrupt {
                i.poke();
            }
        }
    }

    pub fn wants(&self, chan: ChanId) -> bool {
        match &self.channels {
            None => true,
            Some(list) => list.contains(&chan),
        }
    }
}

/// The registered waiters of one library connection.
#[derive(Default)]
pub(crate) struct Waiters {
    list: Vec<Arc<Waiter>>,
}

impl Waiters {
    pub fn add(&mut self, w: Arc<Waiter>) {
        self.list.push(w);
    }

    pub fn remove(&mut self, w: &Arc<Waiter>) {
        self.list.retain(|x| !Arc::ptr_eq(x, w));
    }

    /// Take every waiter interested in `chan` (they re-register if they find nothing).
    pub fn take_for(&mut self, chan: ChanId, into: &mut Vec<Arc<Waiter>>) {
        let mut i = 0;
        while i < self.list.len() {
            if self.list[i].wants(chan) {
                into.push(self.list.swap_remove(i));
            } else {
                i += 1;
            }
        }
    }

    /// A waiter to take the leader role over from one leaving it.
    pub fn first(&self) -> Option<&Arc<Waiter>> {
        self.list.first()
    }

    /// Take all waiters (the node went away).
    pub fn take_all(&mut self, into: &mut Vec<Arc<Waiter>>) {
        into.append(&mut self.list);
    }
}
