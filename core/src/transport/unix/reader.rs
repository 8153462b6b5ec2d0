//! The library's read side of its socket to a node daemon: who reads it,
//! and turning the bytes into deliveries.
//!
//! No thread is dedicated to reading. Threads that wait in a receive wait
//! on the socket themselves (`wait.rs`): the kernel wakes one of them when
//! bytes arrive, and that one reads whatever arrived and hands it to the
//! connection's sink, which queues each delivery on its channel and wakes
//! the receivers of the channels that got one. A message for the thread
//! the kernel woke therefore costs no wake-up of another thread, and a
//! receive that returns leaves nothing to hand over. One thread reads at a
//! time: the read lock ([`ReadSide::try_lead`], still called leading) is
//! held only while reading, never while waiting or away in the application.
//!
//! While nobody receives, what the node sends waits in the socket (and,
//! past the socket's buffer, in the daemon's outbox, within its bound for
//! events): no application thread could see it before its next receive
//! anyway, which reads it first.
//!
//! Background mode: a program that asked to be told of messages
//! (`rtr_set_wakeup`, the wakeup or arrival descriptor) needs someone to
//! read while none of its threads receives. [`ReadSide::start_background`]
//! starts a reader thread that takes the read lock as soon as it is free
//! and keeps it for good; receivers then sleep until it delivers to them.
//!
//! Invariant: only the holder of the read lock reads; it delivers frames
//! in the order they arrived, so deliveries keep the node's order.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_utils::sync::{Parker, Unparker};

use crate::protocol::codec::{self, Frame, MAX_FRAME};
use crate::protocol::Delivery;
use crate::runtime::DeliverySink;
use crate::syscalls::{self, Side};

/// Bytes asked for per read: most batches of deliveries fit at once.
const READ_CHUNK: usize = 64 * 1024;

/// The socket's read side, shared by the threads of one connection (and
/// its background reader, if started).
pub(crate) struct ReadSide {
    stream: UnixStream,
    sink: Arc<dyn DeliverySink>,
    /// Some thread reads (holds the read lock; the background reader holds
    /// it for good).
    leading: AtomicBool,
    /// Bytes read but not yet a whole frame. Touched by the read lock's
    /// holder only; the mutex makes that safe to state, not to wait on.
    partial: Mutex<Vec<u8>>,
    /// Poked to make the background reader's wait return ([`Interrupt`]).
    interrupt: Arc<Interrupt>,
    /// The node went away (end of stream, an error, a bad frame): the sink
    /// was told once.
    ended: AtomicBool,
    /// The background reader's unparker, once asked for.
    background: OnceLock<Unparker>,
    /// The background reader runs: receivers follow.
    background_runs: AtomicBool,
}

/// An eventfd in the background reader's wait and in a non-blocking look
/// ([`ReadSide::read_for`]): poked to stop the background reader.
pub(crate) struct Interrupt(OwnedFd);

impl Interrupt {
    fn new() -> io::Result<Interrupt> {
        // SAFETY: eventfd takes no pointers; the result is checked.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor nobody else owns.
        Ok(Interrupt(unsafe { OwnedFd::from_raw_fd(raw) }))
    }

    pub(crate) fn poke(&self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from `one` to our own non-blocking eventfd
        // (a full counter still leaves it readable, all that matters).
        let _ = unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn drain(&self) {
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into `v` from our own non-blocking eventfd.
        let _ = unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

impl ReadSide {
    pub(crate) fn new(stream: UnixStream, sink: Arc<dyn DeliverySink>) -> io::Result<Arc<ReadSide>> {
        Ok(Arc::new(ReadSide {
            stream,
            sink,
            leading: AtomicBool::new(false),
            partial: Mutex::new(Vec::new()),
            interrupt: Arc::new(Interrupt::new()?),
            ended: AtomicBool::new(false),
            background: OnceLock::new(),
            background_runs: AtomicBool::new(false),
        }))
    }

    /// The socket, for a waiting thread's epoll instance (`wait.rs`).
    pub(crate) fn socket_fd(&self) -> std::os::fd::RawFd {
        self.stream.as_raw_fd()
    }

    /// A background reader reads (or is about to): receivers must not wait
    /// on the socket themselves.
    pub(crate) fn in_background(&self) -> bool {
        self.background_runs.load(Ordering::Acquire)
    }

    /// Take the read lock if nobody holds it.
    pub(crate) fn try_lead(&self) -> bool {
        self.leading.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// The kernel told this thread the socket is readable (it picked this
    /// thread among the waiting ones, `wait.rs`): read and deliver what is
    /// there, or make sure the thread holding the read lock takes it.
    /// Returns once the socket was read by this thread, was found empty,
    /// or is read by the background reader. The wait for another reader
    /// is short: it holds the lock only while it reads what is there.
    pub(crate) fn take_turn(&self) {
        loop {
            if self.ended() || self.in_background() {
                return;
            }
            if self.try_lead() {
                self.read_ready();
                self.unlead();
                return;
            }
            // Another thread reads. It reads until the socket is empty,
            // but it may have found it empty just before these bytes came
            // and be about to give the lock up: nobody else was woken for
            // them, so look again until they are taken.
            if !self.readable_now() {
                return;
            }
            std::thread::yield_now();
            syscalls::count(Side::App, 1);
        }
    }

    /// Whether the socket holds bytes (or its end) now.
    fn readable_now(&self) -> bool {
        let mut fd = libc::pollfd { fd: self.stream.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: `fd` is one valid pollfd for the call; no wait.
        let n = unsafe { libc::poll(&mut fd, 1, 0) };
        syscalls::count(Side::App, 1);
        n != 0
    }

    /// Give the read lock up; a background reader waiting for it is woken.
    pub(crate) fn unlead(&self) {
        self.leading.store(false, Ordering::SeqCst);
        if let Some(u) = self.background.get() {
            u.unpark();
        }
    }

    /// Holding the read lock: wait up to `timeout` (`None`: without end) for
    /// the socket or an interrupt, then read and deliver everything that
    /// arrived (the background reader; a non-blocking look with zero).
    pub(crate) fn read_for(&self, timeout: Option<Duration>) {
        if self.ended.load(Ordering::Acquire) {
            return;
        }
        let ms = match timeout {
            None => -1,
            Some(t) => i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX),
        };
        let mut fds = [
            libc::pollfd { fd: self.stream.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: self.interrupt.0.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: `fds` is a valid array of two pollfd for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        syscalls::count(Side::App, 1);
        if n <= 0 {
            return; // timeout, or EINTR: the caller looks again
        }
        if fds[1].revents != 0 {
            self.interrupt.drain();
        }
        if fds[0].revents != 0 {
            self.read_ready();
        }
    }

    /// Read what the socket holds now (without waiting) and deliver it.
    fn read_ready(&self) {
        if self.ended() {
            return;
        }
        let Ok(mut partial) = self.partial.lock() else { return self.end() };
        loop {
            let start = partial.len();
            // Room for a chunk, not zeroed (a 64 KiB memset per read showed
            // in profiles): the kernel writes what it returns.
            partial.reserve(READ_CHUNK);
            // SAFETY: reads at most READ_CHUNK bytes into the spare capacity
            // of `partial` (at least READ_CHUNK bytes, reserved above).
            let n = unsafe {
                libc::recv(
                    self.stream.as_raw_fd(),
                    partial.spare_capacity_mut().as_mut_ptr().cast(),
                    READ_CHUNK,
                    libc::MSG_DONTWAIT,
                )
            };
            syscalls::count(Side::App, 1);
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    _ => return self.end(),
                }
            }
            let n = n as usize;
            // SAFETY: recv initialised the first `n` bytes of the spare
            // capacity (n <= READ_CHUNK <= the capacity past `start`).
            unsafe { partial.set_len(start + n) };
            if n == 0 {
                return self.end();
            }
            if !self.deliver_frames(&mut partial) {
                return self.end();
            }
            if n < READ_CHUNK {
                // The socket is empty (a full read may leave more behind).
                break;
            }
        }
    }

    /// Deliver every whole frame at the front of `buf` and keep the rest.
    /// False on a frame the library cannot take (the node speaks nonsense).
    fn deliver_frames(&self, buf: &mut Vec<u8>) -> bool {
        let mut at = 0;
        let mut batch: Vec<Delivery> = Vec::new();
        let ok = loop {
            let Some(head) = buf.get(at..at + 4) else { break true };
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if !(2..=MAX_FRAME).contains(&len) {
                break false;
            }
            let Some(body) = buf.get(at + 4..at + 4 + len) else { break true };
            match codec::decode(body) {
                Ok(Frame::Delivery(d)) => batch.push(d),
                Ok(Frame::EventsDropped { count }) => {
                    // In order: what came before the count first.
                    if !batch.is_empty() {
                        self.sink.deliver(std::mem::take(&mut batch));
                    }
                    self.sink.events_dropped(count);
                }
                Ok(_) | Err(_) => break false,
            }
            at += 4 + len;
        };
        if !batch.is_empty() {
            self.sink.deliver(batch);
        }
        buf.drain(..at);
        ok
    }

    /// The node went away (or spoke nonsense): every call now fails with
    /// NODEUNAVAIL and blocked receivers wake up (once).
    fn end(&self) {
        if !self.ended.swap(true, Ordering::AcqRel) {
            self.sink.node_stopped();
        }
    }

    pub(crate) fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Start the background reader (once): it takes the read lock as soon
    /// as the current reader gives it up, and reads until the node goes
    /// away or the connection is dropped.
    pub(crate) fn start_background(self: &Arc<Self>) -> io::Result<()> {
        let parker = Parker::new();
        if self.background.set(parker.unparker().clone()).is_err() {
            return Ok(()); // already started
        }
        let me = self.clone();
        let started = std::thread::Builder::new().name("rtr-socket-reader".into()).spawn(move || {
            // Once it leads it keeps the role: receivers follow from then on.
            let mut leads = false;
            while !me.ended() {
                if leads || me.try_lead() {
                    leads = true;
                    me.read_for(None);
                } else {
                    parker.park();
                }
            }
        });
        // Without the thread, receivers keep leading themselves.
        started?;
        self.background_runs.store(true, Ordering::Release);
        Ok(())
    }

    /// Stop reading for good: the background reader (if any) sees the end.
    pub(crate) fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.interrupt.poke();
    }
}
