//! Telling a program with its own event loop that a message is waiting
//! (`rtr_set_wakeup`, and the wakeup descriptor extension).
//!
//! The connection counts the messages waiting on all its channels. When the
//! count goes from zero to one, the wakeup routine (if any) is called once,
//! on the thread that delivered the message (the node's thread; in daemon
//! mode the socket reader thread, which asking for the routine or a
//! descriptor starts, or a receiving thread that read the socket), never
//! with a library lock held;
//! and the wakeup descriptor becomes readable. When a receive takes the last
//! waiting message, the descriptor is made unreadable again. So the
//! descriptor is readable exactly while messages wait, and the routine runs
//! once per "nothing waiting" to "something waiting" transition.
//!
//! The arrival descriptor (an extension for event-loop bindings, not in
//! the C API) is edge-like instead: every delivery makes it readable, and
//! only its reader makes it unreadable again, by reading it. A loop that
//! shares the connection with other receivers (threads, C code) cannot use
//! the wakeup descriptor to learn of new messages for its own channels: the
//! others' messages keep it readable. With the arrival descriptor it wakes
//! up once per delivery and looks.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use crate::error::{Result, RtrError};

pub type WakeupFn = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
pub(crate) struct Wakeup {
    routine: Option<WakeupFn>,
    /// An eventfd, created on first request.
    fd: Option<OwnedFd>,
    /// The arrival eventfd, created on first request.
    arrival: Option<OwnedFd>,
}

fn new_eventfd(what: &str) -> Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; the result is checked.
    let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if raw < 0 {
        return Err(RtrError::Internal(format!(
            "cannot create the {what} descriptor: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn poke(fd: &OwnedFd) {
    let one = 1u64;
    // SAFETY: writes 8 bytes from `one` to our own non-blocking eventfd (a
    // full counter, EAGAIN, still leaves it readable, which is all we need).
    let _ = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

impl Wakeup {
    pub fn set_routine(&mut self, routine: Option<WakeupFn>) {
        self.routine = routine;
    }

    /// The descriptor, created on first use; readable while messages wait.
    pub fn fd(&mut self, waiting: bool) -> Result<RawFd> {
        if self.fd.is_none() {
            self.fd = Some(new_eventfd("wakeup")?);
            if waiting {
                self.signal();
            }
        }
        Ok(self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd))
    }

    /// The arrival descriptor, created on first use (readable at once if
    /// messages already wait, so that its reader looks at them).
    pub fn arrival_fd(&mut self, waiting: bool) -> Result<RawFd> {
        if self.arrival.is_none() {
            let fd = new_eventfd("arrival")?;
            if waiting {
                poke(&fd);
            }
            self.arrival = Some(fd);
        }
        Ok(self.arrival.as_ref().map_or(-1, AsRawFd::as_raw_fd))
    }

    /// Messages were delivered: make the arrival descriptor readable.
    pub fn arrived(&self) {
        if let Some(fd) = &self.arrival {
            poke(fd);
        }
    }

    /// Something now waits: make the descriptor readable, and return the
    /// routine for the caller to run once it holds no lock.
    pub fn became_waiting(&self) -> Option<WakeupFn> {
        self.signal();
        self.routine.clone()
    }

    /// Nothing waits any more: make the descriptor unreadable.
    pub fn became_idle(&self) {
        if let Some(fd) = &self.fd {
            let mut v = 0u64;
            // SAFETY: reads 8 bytes into `v` from our own non-blocking eventfd.
            let _ = unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        }
    }

    fn signal(&self) {
        if let Some(fd) = &self.fd {
            poke(fd);
        }
    }
}
