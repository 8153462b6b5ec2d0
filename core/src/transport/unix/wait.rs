//! A receiving thread's wait on its node daemon's socket.
//!
//! Every thread that waits in a receive on a connection it reads itself
//! (`reader.rs`) sleeps in `epoll_wait` on an epoll instance of its own
//! for that connection, watching two things:
//! - the connection's socket, registered with `EPOLLEXCLUSIVE`: when bytes
//!   arrive the kernel wakes one waiting thread, not all of them, and that
//!   thread reads and delivers what arrived (it *takes its turn*,
//!   [`ReadSide::take_turn`]); a thread the kernel did not pick sleeps on;
//! - the thread's bell (an eventfd, edge-triggered), rung by whoever
//!   delivers a message for it (a thread that read the socket, a closing
//!   channel, the connection's end).
//!
//! So no thread holds a reading role while it is away in the application:
//! there is nothing to hand over when a receive returns, and no thread to
//! wake for it (the leader/follower scheme before this woke a follower on
//! every return of the leader's receive, only for it to find the role taken
//! again a moment later: a context-switch pair per receive on two cores,
//! docs/daemon-path.md). Whoever waits when bytes arrive reads them.
//!
//! Invariant (nothing is stranded): whenever the socket holds bytes and a
//! thread waits on it, some thread reads them. The kernel's part: an
//! arrival wakes one exclusive waiter if any thread waits, and puts the
//! socket on the ready list of every registered instance it passes on the
//! way (those without a waiter), so a thread that waits later finds it at
//! once (level-triggered: re-checked, dropped if read meanwhile); an
//! instance registered while bytes wait finds them at registration. Ours:
//! a thread told the socket is readable reads it, or, if another thread
//! is reading (the read lock, [`ReadSide::try_lead`], keeps one reader at
//! a time and the node's order), waits until that reader has taken the
//! bytes or gives the lock up ([`ReadSide::take_turn`]): the other reader
//! may have found the socket empty just before these bytes came.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::syscalls::{self, Side};

use super::reader::ReadSide;

/// `epoll_event.u64` of the socket.
const SOCKET: u64 = 1;
/// `epoll_event.u64` of the thread's bell.
const BELL: u64 = 2;

/// A waiting thread's bell: an eventfd its wakers write to. Shared (`Arc`)
/// between the thread and the waiters it registered, so that a late ring
/// never writes to a descriptor number reused for something else.
pub(crate) struct Bell(OwnedFd);

impl Bell {
    fn new() -> io::Result<Bell> {
        // SAFETY: eventfd takes no pointers; the result is checked.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor nobody else owns.
        Ok(Bell(unsafe { OwnedFd::from_raw_fd(raw) }))
    }

    /// Wake the thread if it waits (or make its next wait return at once).
    /// The bell is watched edge-triggered: every write is an event, so it
    /// is never read (drained) and its counter only grows (it would take
    /// 2^64 rings to fill it; a write to a full counter fails, harmlessly).
    pub(crate) fn ring(&self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from `one` to our own non-blocking eventfd.
        let _ = unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// One thread's epoll instance for one connection.
struct Instance {
    side: Weak<ReadSide>,
    epoll: OwnedFd,
}

/// This thread's bell and instances (made when it first waits).
struct ThreadWait {
    /// The fork generation they were made in: a child's copies of its
    /// parent's descriptors would share the parent's bell and instances.
    generation: u32,
    bell: Arc<Bell>,
    instances: Vec<Instance>,
}

thread_local! {
    static WAIT: RefCell<Option<ThreadWait>> = const { RefCell::new(None) };
}

/// Run `f` on this thread's wait state, made first if need be. An error
/// (descriptors ran out; a receive from a thread-local destructor, after
/// this one's state is gone) sends the caller to its fallback.
fn with_thread_wait<R>(f: impl FnOnce(&mut ThreadWait) -> io::Result<R>) -> io::Result<R> {
    let r = WAIT.try_with(|w| {
        let mut w = w.try_borrow_mut().map_err(|_| io::Error::other("re-entered the socket wait"))?;
        let generation = crate::api::fork_generation();
        if w.as_ref().is_none_or(|t| t.generation != generation) {
            *w = Some(ThreadWait { generation, bell: Arc::new(Bell::new()?), instances: Vec::new() });
        }
        match w.as_mut() {
            Some(t) => f(t),
            None => Err(io::Error::other("no wait state")),
        }
    });
    r.unwrap_or_else(|_| Err(io::Error::other("the thread's wait state is gone (thread exit)")))
}

/// This thread's bell (made on first use).
pub(crate) fn bell() -> io::Result<Arc<Bell>> {
    with_thread_wait(|t| Ok(t.bell.clone()))
}

fn ctl_add(epoll: RawFd, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: `ev` is a valid epoll_event for the call; both descriptors
    // are open (ours, and the connection's socket held by `ReadSide`).
    if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// This thread's epoll instance for `side` (made and registered on first
/// use; instances of connections gone since are closed on the way).
fn instance(t: &mut ThreadWait, side: &Arc<ReadSide>) -> io::Result<RawFd> {
    t.instances.retain(|i| i.side.strong_count() > 0);
    let me = Arc::downgrade(side);
    if let Some(i) = t.instances.iter().find(|i| i.side.ptr_eq(&me)) {
        return Ok(i.epoll.as_raw_fd());
    }
    // SAFETY: epoll_create1 takes no pointers; the result is checked.
    let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new descriptor nobody else owns.
    let epoll = unsafe { OwnedFd::from_raw_fd(raw) };
    ctl_add(raw, t.bell.0.as_raw_fd(), (libc::EPOLLIN | libc::EPOLLET) as u32, BELL)?;
    ctl_add(raw, side.socket_fd(), (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32, SOCKET)?;
    t.instances.push(Instance { side: me, epoll });
    Ok(raw)
}

/// Wait up to `timeout` (`None`: without end) for `side`'s socket or this
/// thread's bell; read the socket if the kernel picked this thread for
/// what arrived. Returns when either happened, on the timeout, or at once
/// on an error (the caller looks at its state again either way).
pub(crate) fn wait(side: &Arc<ReadSide>, timeout: Option<Duration>) -> io::Result<()> {
    let epoll = with_thread_wait(|t| instance(t, side))?;
    let ms = match timeout {
        None => -1,
        Some(t) => i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX),
    };
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 2];
    // SAFETY: `events` has room for the 2 events asked for; `epoll` is this
    // thread's open instance (closed only by this thread).
    let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), 2, ms) };
    syscalls::count(Side::App, 1);
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted { Ok(()) } else { Err(e) };
    }
    // Copy out of the packed struct before looking at the field.
    if events[..n as usize].iter().any(|e| {
        let data = e.u64;
        data == SOCKET
    }) {
        side.take_turn();
    }
    Ok(())
}
