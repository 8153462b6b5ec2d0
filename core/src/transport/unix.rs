//! The Unix-socket transport between application processes and their node
//! daemon.
//!
//! Client side ([`ClientConn`]): the library connects, says hello, and gets
//! its connection id and the node's identity; a reader thread turns
//! delivery frames into deliveries for the connection's sink; requests are
//! written as frames under a lock.
//!
//! Node side ([`serve`]): one thread accepts connections; each connection
//! has a reader thread (frames to requests for the node) and a writer thread
//! (deliveries to frames). A connection that sends a bad frame is closed and
//! its channels closed as if its process had died; the reason is logged and
//! everyone else carries on.

use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};

use crate::embedded::{DeliverySink, EmbeddedNode};
use crate::error::RtrError;
use crate::protocol::admin::{AdminReply, AdminRequest};
use crate::protocol::codec::{self, Frame, FrameError};
use crate::protocol::{ConnId, Delivery, Request};
use crate::status::Status;

/// A library's connection to a node daemon.
pub struct ClientConn {
    conn: ConnId,
    node: u32,
    incarnation: u32,
    writer: Mutex<UnixStream>,
    closed: AtomicBool,
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
        let mut reader = stream.try_clone().map_err(|e| unavailable(e.to_string()))?;
        std::thread::Builder::new()
            .name("rtr-socket-reader".into())
            .spawn(move || {
                loop {
                    let frame = codec::read_frame(&mut reader).and_then(|b| Ok(codec::decode(&b)?));
                    match frame {
                        Ok(Frame::Delivery(d)) => sink.deliver(vec![d]),
                        Ok(_) | Err(_) => break,
                    }
                }
                // The node went away (or spoke nonsense): every call now
                // fails with NODEUNAVAIL and blocked receivers wake up.
                sink.node_stopped();
            })
            .map_err(|e| unavailable(format!("cannot start the reader thread: {e}")))?;
        Ok(Arc::new(ClientConn { conn, node, incarnation, writer: Mutex::new(stream), closed: AtomicBool::new(false) }))
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

    /// Write one request frame; false once the connection is broken.
    pub fn send(&self, req: &Request) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        let bytes = codec::encode(&Frame::Request(req.clone()));
        let ok = match self.writer.lock() {
            Ok(mut w) => w.write_all(&bytes).is_ok(),
            Err(_) => false,
        };
        if !ok {
            self.closed.store(true, Ordering::Release);
        }
        ok
    }
}

impl Drop for ClientConn {
    fn drop(&mut self) {
        if let Ok(w) = self.writer.lock() {
            let _ = w.shutdown(std::net::Shutdown::Both);
        }
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

/// Deliveries for one socket connection. The node thread writes them to
/// the socket itself when the socket takes them at once (a non-blocking
/// send: no thread hand-off, no wake-up); whatever the socket cannot take yet
/// goes to the connection's writer thread, which then writes everything in
/// order until it has caught up, so a slow application never blocks the node.
struct SocketSink {
    /// The socket (its write side); sends use MSG_DONTWAIT.
    stream: UnixStream,
    /// True while the writer thread has bytes queued: new bytes must queue
    /// behind them to keep order. Shared with the writer thread (which must
    /// not hold the sink itself: the sink's sender ends the writer when the
    /// node drops the sink).
    backlog: Arc<Mutex<bool>>,
    tx: Sender<Option<Vec<u8>>>,
}

impl SocketSink {
    /// Send what the socket takes now; returns the bytes left over.
    fn try_send<'a>(&self, mut buf: &'a [u8]) -> &'a [u8] {
        use std::os::fd::AsRawFd;
        while !buf.is_empty() {
            // SAFETY: a valid socket descriptor and a readable buffer of
            // `buf.len()` bytes; MSG_DONTWAIT makes this one call
            // non-blocking without changing the descriptor's flags, and
            // MSG_NOSIGNAL turns a closed peer into EPIPE instead of SIGPIPE.
            let n = unsafe {
                libc::send(
                    self.stream.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n <= 0 {
                // Would block, or the peer is gone: the writer thread takes
                // over (and finds the error itself, if there is one).
                break;
            }
            buf = &buf[n as usize..];
        }
        buf
    }
}

impl DeliverySink for SocketSink {
    fn deliver(&self, batch: Vec<Delivery>) {
        let mut bytes = Vec::new();
        for d in batch {
            bytes.extend_from_slice(&codec::encode(&Frame::Delivery(d)));
        }
        let Ok(mut backlog) = self.backlog.lock() else { return };
        if *backlog {
            let _ = self.tx.send(Some(bytes));
            return;
        }
        let rest = self.try_send(&bytes);
        if !rest.is_empty() {
            *backlog = true;
            let _ = self.tx.send(Some(rest.to_vec()));
        }
    }

    fn node_stopped(&self) {
        let _ = self.tx.send(None);
    }
}

/// Writes what the node thread could not: everything queued, in order; once
/// caught up, hands writing back to the node thread.
fn writer_loop(mut stream: UnixStream, backlog: Arc<Mutex<bool>>, rx: Receiver<Option<Vec<u8>>>) {
    loop {
        let next = match rx.try_recv() {
            Ok(m) => m,
            Err(crossbeam_channel::TryRecvError::Disconnected) => break,
            Err(crossbeam_channel::TryRecvError::Empty) => {
                // Caught up: the node thread may write directly again. The
                // check and the switch happen under the lock that the node
                // thread takes to queue, so nothing can slip in between.
                if let Ok(mut b) = backlog.lock() {
                    if rx.is_empty() {
                        *b = false;
                    }
                }
                match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            }
        };
        let Some(bytes) = next else { break };
        if stream.write_all(&bytes).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Accept application connections on `listener` for `node`, until the
/// listener fails. Runs on the calling thread.
pub fn serve(listener: UnixListener, node: Arc<EmbeddedNode>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if node.is_stopping() {
            // `rtr stop` (an admin connection woke this accept to say so).
            break;
        }
        let node = node.clone();
        let _ = std::thread::Builder::new().name("rtr-conn".into()).spawn(move || connection(stream, node));
    }
}

/// A management connection (`rtr show`, `rtr create facility`, `rtr
/// stop`): its first frame is an admin request, not a hello. Requests and
/// answers alternate; it opens no channels and is no library connection.
/// After a stop, the accept loop is woken to see it and return.
fn admin_connection(mut stream: UnixStream, node: &EmbeddedNode, first: AdminRequest) {
    let mut next = Some(first);
    while let Some(req) = next.take() {
        let stop = req == AdminRequest::Stop;
        if stream.write_all(&codec::encode(&Frame::AdminReply(node.admin(req)))).is_err() {
            return;
        }
        if stop {
            // An accepted Unix socket's own address is the listener's path.
            if let Some(path) = stream.local_addr().ok().and_then(|a| a.as_pathname().map(Path::to_path_buf)) {
                let _ = UnixStream::connect(path);
            }
            return;
        }
        next = match codec::read_frame(&mut stream).and_then(|b| Ok(codec::decode(&b)?)) {
            Ok(Frame::Admin(req)) => Some(req),
            Err(FrameError::Closed) => None,
            Ok(other) => {
                eprintln!("rtr node: an admin connection sent {other:?}; closing it");
                None
            }
            Err(e) => {
                eprintln!("rtr node: an admin connection sent a bad frame ({e}); closing it");
                None
            }
        };
    }
}

/// One application connection, on its own thread.
fn connection(mut stream: UnixStream, node: Arc<EmbeddedNode>) {
    let refuse = |stream: &mut UnixStream, why: String| {
        eprintln!("rtr node: refused a connection: {why}");
        let _ = stream.write_all(&codec::encode(&Frame::Refuse { status: Status::Nodeunavail, reason: why }));
    };
    let pid = match codec::read_frame(&mut stream).and_then(|b| Ok(codec::decode(&b)?)) {
        Ok(Frame::Hello { version, pid }) if version == u32::from(codec::VERSION) => pid,
        Ok(Frame::Hello { version, .. }) => {
            return refuse(&mut stream, format!("protocol version {version} is not {}", codec::VERSION))
        }
        Ok(Frame::Admin(req)) => return admin_connection(stream, &node, req),
        Ok(other) => return refuse(&mut stream, format!("expected hello, got {other:?}")),
        // A peer that connects and leaves (a readiness check) is no error.
        Err(FrameError::Closed) => return,
        Err(e) => return refuse(&mut stream, format!("bad hello: {e}")),
    };
    let (Ok(write_half), Ok(sink_half)) = (stream.try_clone(), stream.try_clone()) else { return };
    let (tx, rx) = crossbeam_channel::unbounded();
    // Queued until the welcome is written and the writer thread has caught
    // up (the client sends nothing before its welcome, so nothing is due).
    let backlog = Arc::new(Mutex::new(true));
    let sink = Arc::new(SocketSink { stream: sink_half, backlog: backlog.clone(), tx });
    let Some(link) = node.connect_process(sink, pid) else {
        return refuse(&mut stream, "the node is stopping".into());
    };
    let welcome = Frame::Welcome { conn: link.conn(), node: node.node_id(), incarnation: node.incarnation() };
    // The welcome goes first, before the writer thread starts writing deliveries.
    if stream.write_all(&codec::encode(&welcome)).is_err() {
        link.send(Request::Disconnect);
        return;
    }
    let writer =
        std::thread::Builder::new().name("rtr-conn-writer".into()).spawn(move || writer_loop(write_half, backlog, rx));
    if node.is_reactor() {
        // The node thread reads this socket from now on; the writer thread
        // ends when the node drops the connection's sink.
        if !node.adopt(link.conn(), stream) {
            link.send(Request::Disconnect);
        }
        return;
    }
    loop {
        match codec::read_frame(&mut stream).and_then(|b| Ok(codec::decode(&b)?)) {
            Ok(Frame::Request(Request::Disconnect)) => break,
            Ok(Frame::Request(req)) => {
                if !link.send(req) {
                    break;
                }
            }
            Ok(other) => {
                eprintln!("rtr node: connection {} sent an unexpected frame ({other:?}); closing it", link.conn());
                break;
            }
            Err(FrameError::Closed) => break,
            Err(e) => {
                eprintln!("rtr node: connection {} sent a bad frame ({e}); closing it", link.conn());
                break;
            }
        }
    }
    // The process is gone (or misbehaved): its channels close as if it died.
    link.send(Request::Disconnect);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    if let Ok(w) = writer {
        let _ = w.join();
    }
}
