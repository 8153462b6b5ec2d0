//! The node daemon's event loop: the node thread itself waits (epoll) on
//! every application connection's socket and on an eventfd that its inbox
//! rings, and reads requests straight off the sockets. Compared with a
//! reader thread per connection, a request reaches the node with one
//! wake-up instead of two (reader thread, then node thread), and a burst
//! from many connections is read in one pass.
//!
//! Connections are accepted and greeted (hello, welcome) on the accept
//! thread as before, then handed to the node thread (`Input::Adopt`).
//! Deliveries still leave through each connection's sink (written directly
//! by the node thread when the socket takes them, else by the
//! connection's writer thread, which waits for the socket: see
//! `transport/unix/outbox.rs`), so a slow application never blocks the node.
//! The sockets are non-blocking from here on, for every clone of them.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::protocol::codec::{self, Frame, MAX_FRAME};
use crate::protocol::{ConnId, Request};

/// An eventfd the inbox rings when it queues an input (shared by every
/// sender; the node thread drains it), only while the node thread may be
/// asleep in its wait.
///
/// Why armed: most inputs (a journal completion, above all) arrive while
/// the node thread is awake (acting, or polling for that very completion),
/// and ringing then cost two system calls (the sender's write, the node's
/// read) and a needless return from the next wait. Protocol (Dekker-style,
/// with sequentially consistent fences on both sides): the node thread
/// arms the bell, then looks at its inbox, and waits only if the inbox is
/// empty ([`Bell::arm`]); a sender queues its input, then rings only if
/// the bell is armed ([`Bell::ring`]). Either the node thread sees the
/// input or the sender sees the bell armed, so no input is left unseen by
/// a sleeping node thread.
pub struct Bell {
    fd: OwnedFd,
    /// The node thread is in (or about to enter) a wait that may sleep.
    armed: AtomicBool,
}

impl Bell {
    pub fn new() -> io::Result<Arc<Bell>> {
        // SAFETY: eventfd creates a new descriptor; no memory is passed.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(Arc::new(Bell { fd: unsafe { OwnedFd::from_raw_fd(fd) }, armed: AtomicBool::new(false) }))
    }

    /// Wake the node thread if it may be asleep (the bell is armed); called
    /// after the input is queued. Nothing to do while it is awake: it looks
    /// at its inbox before it sleeps again.
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.armed.load(Ordering::SeqCst) {
            self.ring_now();
        }
    }

    /// The node thread is about to wait: arm the bell. Then the caller must
    /// look at its inbox once more before it waits (see the type).
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The node thread's wait returned: senders need not ring.
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::Relaxed);
    }

    /// Make the next wait return at once, armed or not.
    fn ring_now(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd. A full
        // counter (EAGAIN) means it is rung already, which is all we need.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64 (non-blocking).
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

/// What one connection has sent that is not a whole frame yet.
struct Conn {
    conn: ConnId,
    stream: UnixStream,
    buf: Vec<u8>,
}

/// What the node thread gets from one wait.
pub enum Event {
    Request(ConnId, Request),
    /// The connection ended: `None` when the application disconnected
    /// (`Request::Disconnect`), else why (it closed its socket, or sent
    /// something bad, or reading failed).
    Gone(ConnId, Option<String>),
}

pub struct Reactor {
    epoll: OwnedFd,
    bell: Arc<Bell>,
    conns: FxHashMap<RawFd, Conn>,
    /// Read buffer, reused (not zeroed again at every read).
    chunk: Vec<u8>,
}

const BELL_TOKEN: u64 = u64::MAX;

impl Reactor {
    pub fn new(bell: Arc<Bell>) -> io::Result<Reactor> {
        // SAFETY: creates a new epoll descriptor; no memory is passed.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let r = Reactor { epoll, bell, conns: FxHashMap::default(), chunk: vec![0; 64 << 10] };
        r.register(r.bell.fd.as_raw_fd(), BELL_TOKEN)?;
        Ok(r)
    }

    fn register(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
        // SAFETY: a valid epoll descriptor, a valid descriptor to watch, and
        // an event structure that lives for the call.
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Make the next wait return at once.
    pub fn ring(&self) {
        self.bell.ring_now();
    }

    /// Wait up to `timeout_ms` as [`Reactor::wait`] does, with the bell
    /// armed, unless `inbox_empty` (looked at after arming) says an input
    /// is queued already: then just look at the sockets.
    pub fn sleep(&mut self, timeout_ms: i32, inbox_empty: impl Fn() -> bool, out: &mut Vec<Event>) -> bool {
        if timeout_ms == 0 {
            return self.wait(0, out);
        }
        self.bell.arm();
        let ms = if inbox_empty() { timeout_ms } else { 0 };
        let rang = self.wait(ms, out);
        self.bell.disarm();
        rang
    }

    /// Watch a greeted connection's socket.
    pub fn adopt(&mut self, conn: ConnId, stream: UnixStream) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        let fd = stream.as_raw_fd();
        self.register(fd, fd as u64)?;
        self.conns.insert(fd, Conn { conn, stream, buf: Vec::new() });
        Ok(())
    }

    /// Stop watching a connection and close its read side (its writer
    /// thread closes the rest once the node drops its sink).
    fn drop_conn(&mut self, fd: RawFd) {
        if let Some(c) = self.conns.remove(&fd) {
            // SAFETY: removes a descriptor we registered; no memory passed
            // beyond a null event pointer, which DEL allows.
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
            let _ = c.stream.shutdown(std::net::Shutdown::Read);
        }
    }

    /// Wait up to `timeout_ms` (-1: until something happens; 0: just look)
    /// and collect what the connections sent. Returns whether the bell
    /// rang (the inbox has inputs).
    pub fn wait(&mut self, timeout_ms: i32, out: &mut Vec<Event>) -> bool {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        // SAFETY: a valid epoll descriptor and a buffer of 64 events that
        // lives for the call.
        let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), 64, timeout_ms) };
        crate::syscalls::count(crate::syscalls::Side::Node, 1);
        if n <= 0 {
            return false;
        }
        let mut rang = false;
        for ev in &events[..n as usize] {
            let token = ev.u64;
            if token == BELL_TOKEN {
                self.bell.drain();
                rang = true;
                continue;
            }
            let fd = token as RawFd;
            if let Some(why) = self.read_conn(fd, out) {
                if let Some(c) = self.conns.get(&fd) {
                    out.push(Event::Gone(c.conn, why));
                }
                self.drop_conn(fd);
            }
        }
        rang
    }

    /// Read what a connection has; its whole frames become events. Some(_)
    /// when the connection is over (None inside: it disconnected).
    fn read_conn(&mut self, fd: RawFd, out: &mut Vec<Event>) -> Option<Option<String>> {
        let c = self.conns.get_mut(&fd)?;
        let chunk = &mut self.chunk;
        let mut closed = false;
        loop {
            match c.stream.read(chunk) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    c.buf.extend_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A peer that closes with bytes of ours unread resets.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    closed = true;
                    break;
                }
                Err(e) => return Some(Some(format!("reading its socket failed: {e}"))),
            }
        }
        let mut at = 0;
        while c.buf.len() - at >= 4 {
            let len = u32::from_le_bytes([c.buf[at], c.buf[at + 1], c.buf[at + 2], c.buf[at + 3]]) as usize;
            if len > MAX_FRAME {
                return Some(Some(format!("it sent a frame of {len} bytes, over the limit of {MAX_FRAME}")));
            }
            if len < 2 {
                return Some(Some(format!("it sent a frame of {len} bytes, too short")));
            }
            if c.buf.len() - at - 4 < len {
                break;
            }
            let body = &c.buf[at + 4..at + 4 + len];
            at += 4 + len;
            match codec::decode(body) {
                Ok(Frame::Request(Request::Disconnect)) => return Some(None),
                Ok(Frame::Request(req)) => out.push(Event::Request(c.conn, req)),
                Ok(other) => return Some(Some(format!("it sent an unexpected frame ({other:?})"))),
                Err(e) => return Some(Some(format!("it sent a bad frame ({e})"))),
            }
        }
        c.buf.drain(..at);
        if closed {
            if !c.buf.is_empty() {
                return Some(Some(format!(
                    "the application closed its socket in the middle of a frame ({} bytes)",
                    c.buf.len()
                )));
            }
            return Some(Some("the application closed its socket".into()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Is the bell's eventfd readable (would it end a wait)?
    fn rung(bell: &Bell) -> bool {
        let mut p = libc::pollfd { fd: bell.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd that lives for the call; no waiting.
        unsafe { libc::poll(&mut p, 1, 0) == 1 }
    }

    #[test]
    fn the_bell_rings_only_while_armed() {
        let bell = Bell::new().unwrap();
        // Awake node thread: a sender's ring costs nothing and leaves no
        // wake-up behind.
        bell.ring();
        assert!(!rung(&bell));
        bell.arm();
        bell.ring();
        assert!(rung(&bell));
        bell.drain();
        assert!(!rung(&bell));
        bell.disarm();
        bell.ring();
        assert!(!rung(&bell));
        // The node thread's own "come straight back" rings regardless.
        bell.ring_now();
        assert!(rung(&bell));
    }

    #[test]
    fn a_sleep_returns_at_once_for_an_input_queued_before_it_armed() {
        let mut r = Reactor::new(Bell::new().unwrap()).unwrap();
        let mut out = Vec::new();
        // The inbox is not empty: the wait must not block (it would for a
        // minute; half of that is a bound, not a measure of speed).
        let t0 = std::time::Instant::now();
        let rang = r.sleep(60_000, || false, &mut out);
        assert!(!rang && out.is_empty());
        assert!(t0.elapsed() < std::time::Duration::from_secs(30));
    }

    #[test]
    fn a_sender_wakes_a_sleeping_node_thread() {
        let bell = Bell::new().unwrap();
        let mut r = Reactor::new(bell.clone()).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded::<u32>();
        let sender = std::thread::spawn(move || {
            // Queue, then ring, as the inbox does; again until the sleeper
            // has seen one (it may have armed after an earlier one).
            for i in 0.. {
                if tx.send(i).is_err() {
                    return;
                }
                bell.ring();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        let mut out = Vec::new();
        // Each sleep returns: by the ring, or at once for a queued input.
        for _ in 0..3 {
            r.sleep(10_000, || rx.is_empty(), &mut out);
            assert!(rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok());
        }
        drop(rx);
        sender.join().unwrap();
    }
}
