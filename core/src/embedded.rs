//! The embedded node: a node running on its own thread inside the
//! application process.
//!
//! The thread owns the [`Node`] state machine. Library connections send it
//! [`Request`]s over a crossbeam channel; it hands [`Delivery`]s back through
//! each connection's [`DeliverySink`]. It drains every request already queued
//! before delivering, so a burst from many client threads is handled in one
//! pass and each connection is woken once per pass, not once per message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::node::{Node, Output};
use crate::protocol::{ConnId, Delivery, Request};

/// Where a node's deliveries for one connection go (the library's inbox).
pub trait DeliverySink: Send + Sync {
    /// Take a batch of deliveries, in order. Called on the node thread; must not block for long.
    fn deliver(&self, batch: Vec<Delivery>);
    /// The node stopped for good (it failed): wake every waiter and fail
    /// every later call with `RTR_STS_NODEUNAVAIL`.
    fn node_stopped(&self);
}

enum Input {
    Connect(ConnId, Arc<dyn DeliverySink>),
    Request(ConnId, Request),
    Shutdown,
}

/// How many queued requests the node thread takes before it flushes deliveries.
const MAX_BATCH: usize = 1024;

/// Handle to a running embedded node. Dropping the last handle stops its thread.
pub struct EmbeddedNode {
    tx: Sender<Input>,
    next_conn: AtomicU32,
    node_id: u32,
    incarnation: u32,
    thread: Option<JoinHandle<()>>,
}

/// A connection's way to send requests to its node.
#[derive(Clone)]
pub struct NodeLink {
    conn: ConnId,
    tx: Sender<Input>,
}

impl NodeLink {
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// A link to nowhere: every send fails (the node could not be reached).
    pub fn dead() -> NodeLink {
        let (tx, _rx) = crossbeam_channel::bounded(0);
        NodeLink { conn: 0, tx }
    }

    pub fn is_dead(&self) -> bool {
        self.conn == 0
    }

    /// Queue a request. Fails only when the node thread has stopped.
    pub fn send(&self, req: Request) -> bool {
        self.tx.send(Input::Request(self.conn, req)).is_ok()
    }
}

impl EmbeddedNode {
    /// Start a node thread with every role.
    pub fn start() -> std::io::Result<Arc<EmbeddedNode>> {
        let (tx, rx) = crossbeam_channel::unbounded();
        // The incarnation separates tids of successive runs of the same node.
        // Until the journal persists a counter (journal issue), wall-clock
        // time mixed with the pid serves.
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let incarnation = (now.as_secs() as u32) ^ (now.subsec_nanos() << 7) ^ std::process::id();
        let thread = std::thread::Builder::new().name("rtr-node".into()).spawn(move || {
            let mut sinks = HashMap::new();
            // A bug in the node must not leave applications blocked for
            // ever: tell every connection the node is gone.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(rx, &mut sinks)));
            if r.is_err() {
                for s in sinks.values() {
                    s.node_stopped();
                }
            }
        })?;
        Ok(Arc::new(EmbeddedNode {
            tx,
            next_conn: AtomicU32::new(1),
            node_id: 1,
            incarnation,
            thread: Some(thread),
        }))
    }

    /// Attach a library connection; deliveries for it go to `sink`.
    pub fn connect(&self, sink: Arc<dyn DeliverySink>) -> Option<NodeLink> {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.tx.send(Input::Connect(conn, sink)).ok()?;
        Some(NodeLink {
            conn,
            tx: self.tx.clone(),
        })
    }

    pub fn node_id(&self) -> u32 {
        self.node_id
    }

    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }
}

impl Drop for EmbeddedNode {
    fn drop(&mut self) {
        let _ = self.tx.send(Input::Shutdown);
        if let Some(t) = self.thread.take() {
            // Never join from the node thread itself (a sink dropping the last handle).
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

fn run(rx: Receiver<Input>, sinks: &mut HashMap<ConnId, Arc<dyn DeliverySink>>) {
    let mut node = Node::new();
    let mut batches: HashMap<ConnId, Vec<Delivery>> = HashMap::new();
    loop {
        let first = match node.next_deadline() {
            Some(deadline) => match rx.recv_deadline(deadline) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            },
        };
        let now = Instant::now();
        let mut next = first;
        let mut taken = 0;
        while let Some(input) = next {
            match input {
                Input::Connect(conn, sink) => {
                    sinks.insert(conn, sink);
                }
                Input::Request(conn, req) => {
                    let disconnect = matches!(req, Request::Disconnect);
                    node.handle_request(now, conn, req);
                    if disconnect {
                        sinks.remove(&conn);
                    }
                }
                Input::Shutdown => return,
            }
            taken += 1;
            next = if taken < MAX_BATCH { rx.try_recv().ok() } else { None };
        }
        node.tick(now);
        for out in node.take_output() {
            match out {
                Output::Deliver { conn, delivery } => {
                    if sinks.contains_key(&conn) {
                        batches.entry(conn).or_default().push(delivery);
                    }
                }
            }
        }
        for (conn, batch) in batches.iter_mut() {
            if batch.is_empty() {
                continue;
            }
            if let Some(sink) = sinks.get(conn) {
                sink.deliver(std::mem::take(batch));
            }
        }
    }
}
