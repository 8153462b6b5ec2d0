//! What a node daemon sends one application connection: deliveries, in
//! order, without ever blocking the node thread, within a bound.
//!
//! Fast path: the node thread writes a pass's deliveries to the socket
//! itself when the socket takes them at once (one non-blocking send, no
//! hand-off, no wake-up). Whatever the socket cannot take yet goes to the
//! connection's writer thread, which waits until the socket is writable
//! (poll) and writes everything queued, in order; once it has caught up it
//! hands writing back to the node thread. The socket may be non-blocking
//! (the daemon's event loop reads it), so a full socket is a reason to
//! wait, never an error.
//!
//! Bound: the bytes queued for the writer thread (beyond what the socket
//! itself buffers) are bounded by [`MAX_BACKLOG`] for events, RTR's
//! unreliable traffic. An event (a user broadcast or an RTR event) that
//! would take the queue past the bound is dropped and counted; the library
//! is told the count ([`Frame::EventsDropped`]) and adds it to
//! `events_dropped`. Transaction messages (and every other delivery: opens,
//! closes, outcomes) are never dropped: they are queued even past the
//! bound. The node thread cannot stop sending to one connection (the node
//! is a state machine without flow control per connection, and holding
//! the messages there would cost the same memory), and that traffic is
//! limited by the application's own transactions: a client channel gets
//! what answers its transaction, a server channel the messages of the one
//! transaction it holds. (A server that replies without end to a client
//! that never reads grows the queue until the transaction ends, by its
//! timeout if it has one.) The log says once when a connection passes the
//! bound, and again when it has caught up (with the number of events
//! dropped meanwhile), not once per message.
//!
//! A connection ends here only when writing really fails (the application
//! closed its socket, or another socket error), or when the node has
//! dropped the connection and the socket stays full: logged with the
//! connection id, process id and reason.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};

use crate::msgtype::MsgType;
use crate::protocol::codec::{self, Frame};
use crate::protocol::{ConnId, Delivery};
use crate::runtime::DeliverySink;
use crate::syscalls::{self, Side};

/// Bytes a node daemon queues for one application connection that is not
/// reading its socket, beyond what the socket itself buffers (about 200 KB
/// on Linux), before it drops events for it: 8 MiB, about 130 of the
/// largest messages. Transaction messages are queued past it.
pub const MAX_BACKLOG: usize = 8 << 20;

/// How long the writer thread waits for a full socket at a time before it
/// looks whether the node still has the connection.
const WRITABLE_WAIT_MS: i32 = 1000;

/// The node thread's side: the connection's [`DeliverySink`].
pub(super) struct SocketSink {
    /// The socket (its write side); the node thread sends with MSG_DONTWAIT.
    stream: UnixStream,
    shared: Arc<Shared>,
    /// To the writer thread: bytes to write, or `None` when the node stopped.
    tx: Sender<Option<Vec<u8>>>,
    /// [`MAX_BACKLOG`], smaller in unit tests.
    limit: usize,
    /// The buffer of the last batch the socket took whole, kept for the
    /// next one (its capacity only, at most [`SPARE_MAX`]): a batch of a
    /// pass at 32 clients is a few KiB, and growing a new buffer to that
    /// size every pass cost reallocations (and glibc's consolidation of
    /// freed chunks, which any allocation of 1 KiB or more triggers).
    spare: Mutex<Vec<u8>>,
}

/// The largest buffer [`SocketSink`] keeps between batches.
const SPARE_MAX: usize = 64 << 10;

/// What the node thread and the writer thread share. The writer thread
/// must not hold the sink itself: dropping the sink (the node forgot the
/// connection) drops its sender, which ends the writer thread.
struct Shared {
    state: Mutex<Backlog>,
    /// The sink was dropped: nobody will queue more.
    gone: AtomicBool,
    /// The connection id (known once the node took the connection) and the
    /// application's process id, for the log.
    conn: AtomicU32,
    pid: u32,
}

/// Invariant: while `active` is false nothing is queued (`queued` is 0)
/// and no drop is unreported; deliveries may then go to the socket directly.
#[derive(Default)]
struct Backlog {
    /// The writer thread has bytes queued or is writing them: new bytes go
    /// behind them, to keep order.
    active: bool,
    /// Bytes queued for the writer thread, the chunk it is writing included.
    queued: usize,
    /// Events dropped that the application has not been told of.
    unreported: u64,
    /// Events dropped since the queue was last empty (for the log).
    dropped: u64,
    /// The queue passed the bound since it was last empty (logged once).
    over: bool,
}

impl Shared {
    fn who(&self) -> String {
        format!("connection {} (pid {})", self.conn.load(Ordering::Acquire), self.pid)
    }
}

/// Events are not transactional: RTR delivers them at most once.
fn droppable(d: &Delivery) -> bool {
    matches!(d.msgtype, MsgType::UserEvent | MsgType::RtrEvent)
}

/// A connection's outbox: the sink for the node, and the writer thread's
/// part, to start once the welcome is written ([`Writer::spawn`]).
/// Deliveries queue until then: the writer thread starts in the queueing
/// state and hands writing to the node thread when it finds nothing queued.
pub(super) fn new(stream: &UnixStream, pid: u32, limit: usize) -> io::Result<(Arc<SocketSink>, Writer)> {
    let (write_half, sink_half) = (stream.try_clone()?, stream.try_clone()?);
    let (tx, rx) = crossbeam_channel::unbounded();
    let shared = Arc::new(Shared {
        state: Mutex::new(Backlog { active: true, ..Backlog::default() }),
        gone: AtomicBool::new(false),
        conn: AtomicU32::new(0),
        pid,
    });
    let sink = Arc::new(SocketSink { stream: sink_half, shared: shared.clone(), tx, limit, spare: Mutex::default() });
    Ok((sink, Writer { stream: write_half, shared, rx }))
}

impl SocketSink {
    /// Send what the socket takes now, without waiting; returns how many
    /// bytes it took.
    fn try_send(&self, buf: &[u8]) -> usize {
        let mut sent = 0;
        while sent < buf.len() {
            let rest = &buf[sent..];
            // SAFETY: a valid socket descriptor and a readable buffer of
            // `rest.len()` bytes; MSG_DONTWAIT makes this one call
            // non-blocking without changing the descriptor's flags, and
            // MSG_NOSIGNAL turns a closed peer into EPIPE instead of SIGPIPE.
            let n = unsafe {
                libc::send(
                    self.stream.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            syscalls::count(Side::Node, 1);
            if n <= 0 {
                // Would block, or the peer is gone: the writer thread takes
                // over (and finds the error itself, if there is one).
                break;
            }
            sent += n as usize;
        }
        sent
    }

    /// What of `bytes` (the frames of `batch`, of which the socket took the
    /// first `sent` bytes) to queue when it would take the queue past the
    /// bound: every frame but the events that do not fit. A frame the
    /// socket has begun is finished whatever it is.
    fn within_bound(&self, b: &mut Backlog, batch: &[Delivery], bytes: &[u8], sent: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0;
        for d in batch {
            let len = 4 + u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
            let (start, end) = (at, at + len);
            at = end;
            if end <= sent {
                continue;
            }
            let from = start.max(sent);
            if from == start && droppable(d) && b.queued + out.len() + len > self.limit {
                b.unreported += 1;
                b.dropped += 1;
                continue;
            }
            out.extend_from_slice(&bytes[from..end]);
        }
        out
    }
}

impl DeliverySink for SocketSink {
    fn deliver(&self, batch: Vec<Delivery>) {
        // (Only the node thread delivers: the spare's lock is never contended.)
        let mut bytes = self.spare.lock().map(|mut s| std::mem::take(&mut *s)).unwrap_or_default();
        bytes.clear();
        for d in &batch {
            codec::encode_delivery_into(&mut bytes, d);
        }
        let Ok(mut b) = self.shared.state.lock() else { return };
        let sent = if b.active { 0 } else { self.try_send(&bytes) };
        if sent == bytes.len() {
            drop(b);
            if bytes.capacity() <= SPARE_MAX {
                if let Ok(mut s) = self.spare.lock() {
                    *s = bytes;
                }
            }
            return;
        }
        b.active = true;
        let dropped_before = b.dropped;
        let queue = if b.queued + (bytes.len() - sent) <= self.limit {
            // Fits (the usual case): queue the rest as it is.
            if sent == 0 {
                bytes
            } else {
                bytes[sent..].to_vec()
            }
        } else {
            self.within_bound(&mut b, &batch, &bytes, sent)
        };
        b.queued += queue.len();
        let newly_over = !b.over && (b.queued > self.limit || b.dropped > dropped_before);
        if newly_over {
            b.over = true;
        }
        let queued = b.queued;
        // Even when every event was dropped, wake the writer thread: it
        // reports the drops.
        let _ = self.tx.send(Some(queue));
        drop(b);
        if newly_over {
            crate::rtr_log!(
                Warn,
                "rtr node: {} is not reading its socket: {queued} bytes wait for it (bound {} bytes); \
                 events past the bound are dropped until it catches up, transaction messages are kept",
                self.shared.who(),
                self.limit
            );
        }
    }

    fn node_stopped(&self) {
        let _ = self.tx.send(None);
    }
}

impl Drop for SocketSink {
    fn drop(&mut self) {
        self.shared.gone.store(true, Ordering::Release);
    }
}

/// The writer thread's part of a connection's outbox.
pub(super) struct Writer {
    /// The socket (a clone; possibly non-blocking).
    stream: UnixStream,
    shared: Arc<Shared>,
    rx: Receiver<Option<Vec<u8>>>,
}

/// What the writer thread does next.
enum Next {
    /// Tell the application how many events were dropped.
    Report(u64),
    /// Write queued bytes.
    Write(Vec<u8>),
    /// Caught up: wait for the node thread to queue again.
    Idle,
    /// The node stopped, or dropped the connection and everything queued is written.
    Stop,
}

impl Writer {
    /// Start the writer thread of connection `conn`; it keeps `hold` until
    /// it ends, which is when the connection is gone for the node too (a
    /// connection slot, see `unix.rs`).
    pub(super) fn spawn<T: Send + 'static>(self, conn: ConnId, hold: T) -> io::Result<std::thread::JoinHandle<()>> {
        self.shared.conn.store(conn, Ordering::Release);
        std::thread::Builder::new().name("rtr-conn-writer".into()).spawn(move || {
            self.run();
            drop(hold);
        })
    }

    /// Write what the node thread could not: everything queued, in order;
    /// once caught up, hand writing back to the node thread.
    fn run(self) {
        loop {
            let next = self.next();
            let (bytes, counted) = match next {
                Next::Report(count) => (codec::encode(&Frame::EventsDropped { count }), false),
                Next::Write(bytes) => (bytes, true),
                Next::Idle => match self.rx.recv() {
                    Ok(Some(bytes)) => (bytes, true),
                    Ok(None) | Err(_) => break,
                },
                Next::Stop => break,
            };
            if let Err(e) = write_waiting(&self.stream, &bytes, &self.shared.gone) {
                let (queued, dropped) = self.shared.state.lock().map(|b| (b.queued, b.dropped)).unwrap_or((0, 0));
                crate::rtr_log!(
                    Warn,
                    "rtr node: {} ends: cannot write to its socket ({e}); {queued} bytes were not \
                     delivered, {dropped} events had been dropped for it",
                    self.shared.who()
                );
                break;
            }
            if counted {
                if let Ok(mut b) = self.shared.state.lock() {
                    b.queued = b.queued.saturating_sub(bytes.len());
                }
            }
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Decide under the lock the node thread takes to queue, so that
    /// nothing slips in between "nothing queued" and handing writing back.
    fn next(&self) -> Next {
        let Ok(mut b) = self.shared.state.lock() else { return Next::Stop };
        if b.unreported > 0 {
            return Next::Report(std::mem::take(&mut b.unreported));
        }
        match self.rx.try_recv() {
            Ok(Some(bytes)) => Next::Write(bytes),
            Ok(None) | Err(crossbeam_channel::TryRecvError::Disconnected) => Next::Stop,
            Err(crossbeam_channel::TryRecvError::Empty) => {
                debug_assert_eq!(b.queued, 0, "bytes counted but none queued");
                b.active = false;
                b.queued = 0;
                if std::mem::take(&mut b.over) {
                    let dropped = std::mem::take(&mut b.dropped);
                    drop(b);
                    crate::rtr_log!(
                        Info,
                        "rtr node: {} caught up; {dropped} events were dropped for it meanwhile",
                        self.shared.who()
                    );
                } else {
                    b.dropped = 0;
                }
                Next::Idle
            }
        }
    }
}

/// Write all of `buf` to the socket, waiting while it is full. Fails when
/// the socket does (the peer closed it: EPIPE), or when the socket stays
/// full after the node dropped the connection (`gone`: nobody will read).
fn write_waiting(stream: &UnixStream, mut buf: &[u8], gone: &AtomicBool) -> io::Result<()> {
    let fd = stream.as_raw_fd();
    while !buf.is_empty() {
        // SAFETY: a valid socket descriptor and a readable buffer of
        // `buf.len()` bytes; MSG_NOSIGNAL turns a closed peer into EPIPE.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        syscalls::count(Side::Node, 1);
        if n > 0 {
            buf = &buf[n as usize..];
            continue;
        }
        let e = if n == 0 { io::Error::from(io::ErrorKind::WriteZero) } else { io::Error::last_os_error() };
        match e.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => {
                if !wait_writable(fd)? && gone.load(Ordering::Acquire) {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the node dropped the connection and the application does not read",
                    ));
                }
            }
            _ => return Err(e),
        }
    }
    Ok(())
}

/// Wait until `fd` can take bytes or has an error to report; false when
/// [`WRITABLE_WAIT_MS`] passed without.
fn wait_writable(fd: RawFd) -> io::Result<bool> {
    let mut p = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd that lives for the call.
    let rc = unsafe { libc::poll(&mut p, 1, WRITABLE_WAIT_MS) };
    syscalls::count(Side::Node, 1);
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted { Ok(true) } else { Err(e) };
    }
    Ok(rc > 0)
}

#[cfg(test)]
mod tests;
