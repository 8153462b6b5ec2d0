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

/// Deliveries for one socket connection, written by its writer thread so
/// the node thread never blocks on a slow application.
struct SocketSink {
    tx: Sender<Option<Vec<Delivery>>>,
}

impl DeliverySink for SocketSink {
    fn deliver(&self, batch: Vec<Delivery>) {
        let _ = self.tx.send(Some(batch));
    }

    fn node_stopped(&self) {
        let _ = self.tx.send(None);
    }
}

fn writer_loop(mut stream: UnixStream, rx: Receiver<Option<Vec<Delivery>>>) {
    let mut buf = Vec::new();
    while let Ok(Some(batch)) = rx.recv() {
        buf.clear();
        for d in batch {
            buf.extend_from_slice(&codec::encode(&Frame::Delivery(d)));
        }
        // Take whatever else is already queued into the same write.
        while let Ok(Some(more)) = rx.try_recv() {
            for d in more {
                buf.extend_from_slice(&codec::encode(&Frame::Delivery(d)));
            }
        }
        if stream.write_all(&buf).is_err() {
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
        let node = node.clone();
        let _ = std::thread::Builder::new().name("rtr-conn".into()).spawn(move || connection(stream, node));
    }
}

/// One application connection, on its own thread.
fn connection(mut stream: UnixStream, node: Arc<EmbeddedNode>) {
    let refuse = |stream: &mut UnixStream, why: String| {
        eprintln!("rtr node: refused a connection: {why}");
        let _ = stream.write_all(&codec::encode(&Frame::Refuse { status: Status::Nodeunavail, reason: why }));
    };
    match codec::read_frame(&mut stream).and_then(|b| Ok(codec::decode(&b)?)) {
        Ok(Frame::Hello { version, .. }) if version == u32::from(codec::VERSION) => {}
        Ok(Frame::Hello { version, .. }) => {
            return refuse(&mut stream, format!("protocol version {version} is not {}", codec::VERSION))
        }
        Ok(other) => return refuse(&mut stream, format!("expected hello, got {other:?}")),
        // A peer that connects and leaves (a readiness check) is no error.
        Err(FrameError::Closed) => return,
        Err(e) => return refuse(&mut stream, format!("bad hello: {e}")),
    }
    let Ok(write_half) = stream.try_clone() else { return };
    let (tx, rx) = crossbeam_channel::unbounded();
    let Some(link) = node.connect(Arc::new(SocketSink { tx })) else {
        return refuse(&mut stream, "the node is stopping".into());
    };
    let welcome = Frame::Welcome { conn: link.conn(), node: node.node_id(), incarnation: node.incarnation() };
    // The welcome goes first, before the writer thread starts writing deliveries.
    if stream.write_all(&codec::encode(&welcome)).is_err() {
        link.send(Request::Disconnect);
        return;
    }
    let writer = std::thread::Builder::new().name("rtr-conn-writer".into()).spawn(move || writer_loop(write_half, rx));
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
