//! Waiting for messages: a receive call that finds nothing registers a
//! waiter naming the channels it listens to, and the node's delivery wakes
//! exactly the waiters that listen to a channel that got a message. Threads
//! that each own a channel therefore never wake each other.

use std::sync::Arc;
use std::thread::ThreadId;

use crossbeam_utils::sync::Unparker;

use crate::protocol::ChanId;
use crate::transport::unix::wait::Bell;

pub(crate) struct Waiter {
    /// `None`: any channel of the process.
    pub channels: Option<Vec<ChanId>>,
    pub unparker: Unparker,
    /// The thread's bell, when it waits on a daemon's socket itself
    /// (`transport/unix/wait.rs`): it sleeps in `epoll_wait`, not parked.
    pub bell: Option<Arc<Bell>>,
    pub thread: ThreadId,
}

impl Waiter {
    pub fn new(channels: Option<Vec<ChanId>>, unparker: Unparker, bell: Option<Arc<Bell>>) -> Waiter {
        Waiter { channels, unparker, bell, thread: std::thread::current().id() }
    }

    /// Wake the waiting thread, wherever it waits: parked (an unpark of a
    /// thread that is not parked costs no system call), or on the socket
    /// (its bell; not rung by the thread itself, which is awake, having
    /// read the socket and delivered to its own waiter).
    pub fn wake(&self) {
        self.unparker.unpark();
        if let Some(b) = &self.bell {
            if std::thread::current().id() != self.thread {
                b.ring();
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

    /// Take all waiters (the node went away).
    pub fn take_all(&mut self, into: &mut Vec<Arc<Waiter>>) {
        into.append(&mut self.list);
    }
}
