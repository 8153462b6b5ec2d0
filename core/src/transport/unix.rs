//! The Unix-socket transport between application processes and their node
//! daemon.
//!
//! Client side ([`ClientConn`]): the library connects, says hello, and gets
//! its connection id and the node's identity; its receiving threads read
//! the socket themselves, whichever the kernel wakes, one at a time
//! (`unix/reader.rs`, `unix/wait.rs`), turning
//! delivery frames into deliveries for the connection's sink; requests are
//! queued under the library's state lock and written after it is released,
//! what is ready in one write (`queue`, `flush`).
//!
//! Node side ([`serve`]): one thread accepts connections and greets them;
//! a daemon's node thread then reads their requests itself
//! (`runtime/daemon_loop.rs`), else each connection has a reader thread.
//! Deliveries leave through the connection's outbox (`unix/outbox.rs`):
//! sent directly by the node thread while the socket takes them, else by
//! the connection's writer thread, in order, with a bound on what waits
//! for an application that does not read ([`MAX_BACKLOG`]). A connection
//! that ends other than by disconnecting (its process closed the socket or
//! died, sent a bad frame, or cannot be written to) is logged with its id,
//! process id and reason, and its channels close as if its process had
//! died; everyone else carries on.
//!
//! Hostile or broken local processes ([`ServeConfig`], README: Security):
//! the node asks the kernel who connected (`SO_PEERCRED`; the pid it logs
//! and shows is the kernel's, not the hello's) and lets only operators
//! change or stop it (`unix/access.rs`, with an `audit:` log line per
//! operator request); a hello must arrive whole within the hello timeout;
//! connections are bounded in number; accepting pauses while descriptors
//! run out (`transport/accept.rs`).

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::error::RtrError;
use crate::protocol::admin::{AdminReply, AdminRequest};
use crate::protocol::codec::{self, Frame, FrameError};
use crate::protocol::{ConnId, Request};
use crate::runtime::{DeliverySink, EmbeddedNode};
use crate::status::Status;

pub mod access;
mod outbox;
mod reader;
pub(crate) mod wait;

use super::accept::Backoff;
use super::deadline::{self, Deadline};
pub use access::{peer_cred, Operators, PeerCred};

pub(crate) use reader::ReadSide;

pub use outbox::MAX_BACKLOG;

/// Bytes of requests that may wait behind a blocked write to the node
/// before the threads queueing more wait too (back-pressure): 1 MiB, about
/// 16 of the largest messages. A write blocks only while the node does not
/// read (it is stalled, or the machine is very busy). What a connection
/// holds is then bounded: the batch being written (at most this bound plus
/// what one call of each thread queues at once) and as much again waiting.
/// A thread that queued nothing (a call that only reads the library's
/// state) never waits; a waiting thread is released when the writer takes
/// the waiting bytes, or with `RTR_STS_NODEUNAVAIL` when the connection
/// breaks. No request is ever dropped: the order of requests is the order
/// of the state changes that made them.
pub const MAX_QUEUED: usize = 1 << 20;

thread_local! {
    /// The connection (its address) to which this thread queued a request
    /// while the queue was over [`MAX_QUEUED`] behind a blocked write: its
    /// next `flush` waits for the writer to take the queue.
    static PRESSED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A library's connection to a node daemon.
pub struct ClientConn {
    conn: ConnId,
    node: u32,
    incarnation: u32,
    /// The socket, for writing (`flush`).
    stream: UnixStream,
    writer: Mutex<Outgoing>,
    /// Signalled when the writing thread takes the queue, stops writing,
    /// or the connection breaks (threads held by [`MAX_QUEUED`] wait on it).
    taken: Condvar,
    closed: AtomicBool,
    reader: Arc<ReadSide>,
}

impl ClientConn {
    /// Connect to the node at `path`; deliveries go to `sink`.
    pub fn connect(path: &Path, sink: Arc<dyn DeliverySink>) -> Result<Arc<ClientConn>, RtrError> {
        let unavailable = |what: String| RtrError::NodeUnavailable(format!("{}: {what}", path.display()));
        let mut stream = UnixStream::connect(path).map_err(|e| unavailable(format!("cannot connect: {e}")))?;
        stream
            .write_all(&codec::encode(&Frame::Hello { version: u32::from(codec::VERSION), pid: std::process::id() }))
            .map_err(|e| unavailable(format!("cannot say hello: {e}")))?;
        let body = codec::read_frame(&mut stream).map_err(|e| unavailable(format!("no answer to hello: {e}")))?;
        let (conn, node, incarnation) = match codec::decode(&body) {
            Ok(Frame::Welcome { conn, node, incarnation }) => (conn, node, incarnation),
            Ok(Frame::Refuse { status, reason }) => return Err(unavailable(format!("refused ({status}): {reason}"))),
            Ok(other) => return Err(unavailable(format!("unexpected answer to hello: {other:?}"))),
            Err(e) => return Err(unavailable(format!("bad answer to hello: {e}"))),
        };
        // No reader thread: receivers read the socket themselves
        // (`unix/reader.rs`, `unix/wait.rs`).
        let read_half = stream.try_clone().map_err(|e| unavailable(e.to_string()))?;
        let reader = ReadSide::new(read_half, sink).map_err(|e| unavailable(format!("cannot set up reading: {e}")))?;
        Ok(Arc::new(ClientConn {
            conn,
            node,
            incarnation,
            stream,
            writer: Mutex::new(Outgoing::default()),
            taken: Condvar::new(),
            closed: AtomicBool::new(false),
            reader,
        }))
    }

    pub fn conn(&self) -> ConnId {
        self.conn
    }

    pub fn node(&self) -> u32 {
        self.node
    }

    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// The socket's read side (who reads it: `unix/reader.rs`).
    pub(crate) fn reader(&self) -> &Arc<ReadSide> {
        &self.reader
    }

    /// Queue one request frame, to go out with the next [`ClientConn::flush`]
    /// (the library queues under its state lock and flushes after
    /// releasing it). Never waits: past [`MAX_QUEUED`] behind a blocked
    /// write, the thread's next flush does. False once the connection is
    /// broken.
    pub fn queue(&self, req: &Request) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        match self.writer.lock() {
            Ok(mut out) => {
                codec::encode_request_into(&mut out.buf, req);
                if out.writing && out.buf.len() > MAX_QUEUED {
                    PRESSED.with(|p| p.set(self as *const ClientConn as usize));
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Write everything queued, in one write (in order), unless another
    /// thread is writing: that one writes what was queued meanwhile too,
    /// before it stops. So a slow write holds up only the thread making it,
    /// and never a lock other threads need; except that a thread that
    /// queued past [`MAX_QUEUED`] behind it waits here until the writer
    /// takes the queue (back-pressure). False once the connection is
    /// broken.
    pub fn flush(&self) -> bool {
        let me = self as *const ClientConn as usize;
        let pressed = PRESSED.with(|p| p.get() == me && p.replace(0) == me);
        // (Another connection's mark stays for that connection's flush.)
        let Ok(mut out) = self.writer.lock() else { return false };
        if out.writing {
            while pressed && out.writing && out.buf.len() > MAX_QUEUED && !self.closed.load(Ordering::Acquire) {
                out.held += 1;
                out = match self.taken.wait(out) {
                    Ok(o) => o,
                    Err(_) => return false,
                };
                out.held -= 1;
            }
            return !self.closed.load(Ordering::Acquire);
        }
        loop {
            if out.buf.is_empty() {
                return !self.closed.load(Ordering::Acquire);
            }
            let mut bytes = std::mem::take(&mut out.buf);
            out.writing = true;
            let held = out.held > 0;
            drop(out);
            // The queue was taken: threads held by the bound go on. (Only
            // if there are any: a notify is a futex system call.)
            if held {
                self.taken.notify_all();
            }
            let ok = send_all(&self.stream, &bytes);
            if !ok {
                self.closed.store(true, Ordering::Release);
            }
            out = match self.writer.lock() {
                Ok(o) => o,
                Err(_) => return false,
            };
            out.writing = false;
            if !ok {
                out.buf.clear();
                let held = out.held > 0;
                drop(out);
                if held {
                    self.taken.notify_all();
                }
                return false;
            }
            if out.buf.is_empty() {
                // Keep the allocation for the next batch.
                bytes.clear();
                out.buf = bytes;
            }
        }
    }
}

/// Requests waiting to be written, and whether a thread is writing.
#[derive(Default)]
struct Outgoing {
    buf: Vec<u8>,
    writing: bool,
    /// Threads waiting on `ClientConn::taken` (held by [`MAX_QUEUED`]).
    held: usize,
}

/// Write all of `bytes` (blocking). `MSG_NOSIGNAL`: a node that went away
/// is an error to report, not a SIGPIPE that kills the (C) program.
fn send_all(stream: &UnixStream, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: sends at most `bytes.len()` bytes from the live slice.
        let n = unsafe { libc::send(stream.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
        crate::syscalls::count(crate::syscalls::Side::App, 1);
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

impl Drop for ClientConn {
    fn drop(&mut self) {
        // A background reader sees the end and stops.
        self.reader.shutdown();
    }
}

/// How long [`ask_admin`] waits for the node's answer: a little more than
/// the 10 s the node itself waits for its node thread.
pub const ADMIN_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Send one management request to the node daemon listening on `path` (a
/// short admin connection of its own: one request, one answer) and return
/// its answer. For requests that finish within the node's admin wait
/// (views and `SetPartition`), not for `Stop`.
pub fn ask_admin(path: &Path, req: AdminRequest) -> Result<AdminReply, RtrError> {
    let unavailable = |what: String| RtrError::NodeUnavailable(format!("{}: {what}", path.display()));
    let mut stream = UnixStream::connect(path).map_err(|e| unavailable(format!("cannot connect: {e}")))?;
    stream.set_read_timeout(Some(ADMIN_ANSWER_WAIT)).map_err(|e| unavailable(e.to_string()))?;
    stream
        .write_all(&codec::encode(&Frame::Admin(req)))
        .map_err(|e| unavailable(format!("cannot send the request: {e}")))?;
    let body = codec::read_frame(&mut stream).map_err(|e| unavailable(format!("no answer: {e}")))?;
    match codec::decode(&body) {
        Ok(Frame::AdminReply(r)) => Ok(r),
        Ok(Frame::Refuse { status, reason }) => Err(unavailable(format!("refused ({status}): {reason}"))),
        Ok(other) => Err(unavailable(format!("unexpected answer: {other:?}"))),
        Err(e) => Err(unavailable(format!("bad answer: {e}"))),
    }
}

/// How a node serves its socket: who is an operator, and the bounds that
/// keep one local process from exhausting the node (README: Security).
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub operators: Operators,
    /// A connection that has not said hello (or sent its first admin
    /// request) within this time is closed, however slowly it trickles.
    pub hello_timeout: Duration,
    /// Connections at most at once (applications and management tools);
    /// one more is refused with `RTR_STS_NODEUNAVAIL`.
    pub max_connections: usize,
}

/// The default of [`ServeConfig::hello_timeout`].
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The default of [`ServeConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            operators: Operators::default(),
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Refusals on the node socket, in this process (until metrics carry them).
pub mod refusals {
    use std::sync::atomic::AtomicU64;
    /// Connections closed for saying no hello in time.
    pub static HELLO_TIMEOUT: AtomicU64 = AtomicU64::new(0);
    /// Connections refused over [`super::ServeConfig::max_connections`].
    pub static TOO_MANY_CONNECTIONS: AtomicU64 = AtomicU64::new(0);
    /// Operator requests refused to a process that is no operator.
    pub static NOT_OPERATOR: AtomicU64 = AtomicU64::new(0);
}

/// A connection counted against [`ServeConfig::max_connections`] until
/// dropped (by whichever thread ends the connection last).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accept application connections on `listener` for `node`, until the
/// listener fails. Runs on the calling thread.
pub fn serve(listener: UnixListener, node: Arc<EmbeddedNode>) {
    serve_with(listener, node, ServeConfig::default())
}

/// [`serve`] with the given access rules and bounds.
pub fn serve_with(listener: UnixListener, node: Arc<EmbeddedNode>, cfg: ServeConfig) {
    let cfg = Arc::new(cfg);
    let live = Arc::new(AtomicUsize::new(0));
    let mut backoff = Backoff::new("application connections");
    for stream in listener.incoming() {
        if node.is_stopping() {
            // `rtr stop` (an admin connection woke this accept to say so).
            break;
        }
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                backoff.failed(&e);
                continue;
            }
        };
        backoff.accepted();
        if live.fetch_add(1, Ordering::AcqRel) >= cfg.max_connections {
            live.fetch_sub(1, Ordering::AcqRel);
            refusals::TOO_MANY_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
            let who = peer_cred(&stream).map_or_else(|_| "an unknown process".into(), |c| c.to_string());
            refuse(&mut stream, format!("{who}: too many connections (the node's limit is {})", cfg.max_connections));
            continue;
        }
        let slot = Slot(live.clone());
        let (node, cfg) = (node.clone(), cfg.clone());
        let _ = std::thread::Builder::new().name("rtr-conn".into()).spawn(move || connection(stream, node, &cfg, slot));
    }
}

/// Refuse a connection with `why` (logged, and told to the peer). Bounded:
/// a peer that does not read cannot hold the refusing thread.
fn refuse(stream: &mut UnixStream, why: String) {
    crate::rtr_log!(Warn, "rtr node: refused a connection: {why}");
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(&codec::encode(&Frame::Refuse { status: Status::Nodeunavail, reason: why }));
}

/// A management connection (`rtr show`, `rtr create facility`, `rtr
/// stop`): its first frame is an admin request, not a hello. Requests and
/// answers alternate; it opens no channels and is no library connection.
/// After a stop, the accept loop is woken to see it and return. Each
/// request must come within the hello timeout of the previous answer.
///
/// Requests that change or stop the node need an operator (see
/// `unix/access.rs`); each is written to the log with an `audit:` prefix:
/// who (uid, pid), what, and the result, refusals included.
fn admin_connection(
    mut stream: UnixStream,
    node: &EmbeddedNode,
    first: AdminRequest,
    who: PeerCred,
    cfg: &ServeConfig,
) {
    let ops = &cfg.operators;
    // A tool that does not read its answer cannot hold this thread.
    let _ = stream.set_write_timeout(Some(cfg.hello_timeout.max(Duration::from_secs(10))));
    let mut next = Some(first);
    while let Some(req) = next.take() {
        let stop = req == AdminRequest::Stop;
        let operator_request = access::needs_operator(&req);
        let what = format!("{req:?}");
        let (reply, stopped) = if operator_request && !ops.admit(&who) {
            refusals::NOT_OPERATOR.fetch_add(1, Ordering::Relaxed);
            crate::rtr_log!(Warn, "rtr node: refused {what} to {who} (gid {}): not an operator", who.gid);
            let message = format!(
                "uid {} is not an operator of this node (root, the node's uid {}{})",
                who.uid,
                ops.node_uid,
                ops.group.map_or(String::new(), |g| format!(" or members of group {g}"))
            );
            (AdminReply::Failed(crate::protocol::admin::AdminError::NotOperator(message)), false)
        } else {
            (node.admin(req), stop)
        };
        if operator_request {
            let result = match &reply {
                AdminReply::Done { message } => format!("done: {message}"),
                AdminReply::Failed(e) => format!("failed: {}, {e}", e.code()),
                other => format!("{other:?}"),
            };
            crate::rtr_log!(Info, "audit: {who}: {what}: {result}");
        }
        if stream.write_all(&codec::encode(&Frame::AdminReply(reply))).is_err() {
            return;
        }
        if stopped {
            // An accepted Unix socket's own address is the listener's path.
            if let Some(path) = stream.local_addr().ok().and_then(|a| a.as_pathname().map(Path::to_path_buf)) {
                let _ = UnixStream::connect(path);
            }
            return;
        }
        // An idle admin connection is closed like a silent hello (tools
        // send their requests back to back).
        let frame = codec::read_frame(&mut Deadline::new(&mut stream, cfg.hello_timeout));
        next = match frame.and_then(|b| Ok(codec::decode(&b)?)) {
            Ok(Frame::Admin(req)) => Some(req),
            Err(FrameError::Closed) => None,
            Err(FrameError::Io(e)) if deadline::timed_out(&e) => None,
            Ok(other) => {
                crate::rtr_log!(Warn, "rtr node: an admin connection sent {other:?}; closing it");
                None
            }
            Err(e) => {
                crate::rtr_log!(Warn, "rtr node: an admin connection sent a bad frame ({e}); closing it");
                None
            }
        };
    }
}

/// One application connection, on its own thread; `slot` counts it until
/// the connection is gone.
fn connection(mut stream: UnixStream, node: Arc<EmbeddedNode>, cfg: &ServeConfig, slot: Slot) {
    // The kernel's word on who connected; without it nobody is trusted
    // with anything (this cannot fail on a connected Unix socket).
    let who = match peer_cred(&stream) {
        Ok(c) => c,
        Err(e) => return refuse(&mut stream, format!("cannot tell who connected ({e})")),
    };
    let first = codec::read_frame(&mut Deadline::new(&mut stream, cfg.hello_timeout));
    if stream.set_read_timeout(None).is_err() {
        return;
    }
    let hello_pid = match first.and_then(|b| Ok(codec::decode(&b)?)) {
        Ok(Frame::Hello { version, pid }) if version == u32::from(codec::VERSION) => pid,
        Ok(Frame::Hello { version, .. }) => {
            return refuse(&mut stream, format!("protocol version {version} is not {}", codec::VERSION))
        }
        Ok(Frame::Admin(req)) => return admin_connection(stream, &node, req, who, cfg),
        Ok(other) => return refuse(&mut stream, format!("expected hello, got {other:?}")),
        // A peer that connects and leaves (a readiness check) is no error.
        Err(FrameError::Closed) => return,
        Err(FrameError::Io(e)) if deadline::timed_out(&e) => {
            refusals::HELLO_TIMEOUT.fetch_add(1, Ordering::Relaxed);
            let s = cfg.hello_timeout.as_secs_f64();
            return refuse(&mut stream, format!("{who}: no hello within {s} s; closed"));
        }
        Err(e) => return refuse(&mut stream, format!("bad hello: {e}")),
    };
    // The pid shown for the connection is the kernel's, not the hello's.
    if hello_pid != who.pid {
        crate::rtr_log!(Debug, "rtr node: a connection of {who} said its pid is {hello_pid}; using {}", who.pid);
    }
    let pid = who.pid;
    let (sink, writer) = match outbox::new(&stream, pid, outbox::MAX_BACKLOG) {
        Ok(o) => o,
        Err(e) => return refuse(&mut stream, format!("cannot set up the connection: {e}")),
    };
    let Some(link) = node.connect_process(sink, pid) else {
        return refuse(&mut stream, "the node is stopping".into());
    };
    let welcome = Frame::Welcome { conn: link.conn(), node: node.node_id(), incarnation: node.incarnation() };
    // The welcome goes first, before the writer thread starts writing
    // deliveries (they queue until then).
    if stream.write_all(&codec::encode(&welcome)).is_err() {
        link.send(Request::Disconnect);
        return;
    }
    let writer = match writer.spawn(link.conn(), slot) {
        Ok(w) => w,
        Err(e) => {
            crate::rtr_log!(
                Error,
                "rtr node: connection {} (pid {pid}): cannot start its writer thread ({e}); closing it",
                link.conn()
            );
            link.send(Request::Disconnect);
            return;
        }
    };
    if node.is_reactor() {
        // The node thread reads this socket from now on; the writer thread
        // ends when the node drops the connection's sink.
        if !node.adopt(link.conn(), stream) {
            link.send(Request::Disconnect);
        }
        return;
    }
    let conn = link.conn();
    loop {
        let why = match codec::read_frame(&mut stream).and_then(|b| Ok(codec::decode(&b)?)) {
            Ok(Frame::Request(Request::Disconnect)) => break,
            Ok(Frame::Request(req)) => {
                if link.send(req) {
                    continue;
                }
                break;
            }
            Ok(other) => format!("it sent an unexpected frame ({other:?})"),
            Err(FrameError::Closed) => "the application closed its socket".into(),
            Err(e) => format!("it sent a bad frame ({e})"),
        };
        crate::rtr_log!(Info, "rtr node: connection {conn} (pid {pid}) ends: {why}");
        break;
    }
    // The process is gone (or misbehaved): its channels close as if it died.
    link.send(Request::Disconnect);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
}
