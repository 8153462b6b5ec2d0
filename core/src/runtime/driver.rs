//! The driver: the node thread's state outside the node itself (its
//! connections' sinks, its journals, its links) and the I/O that carries
//! out what the node asks for at the end of each pass.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::admin;
use super::halt;
use super::input::{Inbox, Input, PeerLinks};
use super::{DeliverySink, EmbeddedConfig};
use crate::error::RtrError;
use crate::journal::{self, Journal, JournalConfig, JournalError, RecordKind};
use crate::node::{Node, NodeRef, Output};
use crate::protocol::{ConnId, Delivery, Request};
use crate::status::Status;
use crate::tid::Tid;

/// How old a journal acknowledgment (its ownership check) may be when the
/// node acts on it before ownership is checked again. A router drops a
/// silent node only after 2/3 of its inactivity time (at least 1 s: the
/// node's pings go out every third of it), and a standby takes the journal
/// over after that; an acknowledgment younger than this cannot have been
/// overtaken. Passes slower than this without a stop only cost a read of
/// the epoch file.
const STALE_ACK: Duration = Duration::from_millis(200);

/// One journal append being assembled from a pass's records.
struct Append {
    entries: Vec<(Tid, RecordKind, Vec<u8>)>,
    sync: bool,
    tokens: Vec<u64>,
    tids: Vec<Tid>,
    bytes: u64,
    new_tx: bool,
}

/// Packs a pass's records into appends: new transactions apart from the
/// rest, each append under the journal's size limit, order kept within each.
struct Appends {
    limit: u64,
    done: Vec<Append>,
    open: [Option<Append>; 2],
}

impl Appends {
    fn new(limit: u64) -> Appends {
        Appends { limit, done: Vec::new(), open: [None, None] }
    }

    fn add(&mut self, entries: Vec<(Tid, RecordKind, Vec<u8>)>, sync: bool, token: Option<u64>, new_tx: bool) {
        let size: u64 = entries.iter().map(|e| journal::format::record_bytes(e.2.len()) as u64).sum();
        let slot = &mut self.open[usize::from(new_tx)];
        if slot.as_ref().is_some_and(|a| a.bytes + size > self.limit) {
            self.done.extend(slot.take());
        }
        let a = slot.get_or_insert_with(|| Append {
            entries: Vec::new(),
            sync: false,
            tokens: Vec::new(),
            tids: Vec::new(),
            bytes: 0,
            new_tx,
        });
        a.bytes += size;
        a.sync |= sync;
        a.tokens.extend(token);
        for e in &entries {
            if a.tids.last() != Some(&e.0) {
                a.tids.push(e.0);
            }
        }
        a.entries.extend(entries);
    }

    /// The appends in the order to issue them: new transactions last, so
    /// records of transactions in progress never wait behind them.
    fn finish(mut self) -> Vec<Append> {
        let [other, new] = std::mem::take(&mut self.open);
        let mut v = self.done;
        v.extend(other);
        v.extend(new);
        v.sort_by_key(|a| a.new_tx);
        v
    }
}

/// The node thread's state outside the node itself: its connections'
/// sinks, its journal, and what one pass collects.
pub(crate) struct Driver {
    pub(super) node: Node,
    pub(super) journal: Option<Journal>,
    append_limit: u64,
    back: Inbox,
    pub(super) sinks: HashMap<ConnId, Arc<dyn DeliverySink>>,
    batches: HashMap<ConnId, Vec<Delivery>>,
    /// Synced appends whose completion has not come back yet.
    in_flight: usize,
    /// Links to other nodes (a daemon's), once started.
    pub(super) links: Option<Arc<dyn PeerLinks>>,
    /// Journals taken over from lost nodes, by journal id.
    adopted: HashMap<u32, Journal>,
    /// Where lost nodes' journals are, and the sizes to open them with.
    peer_journals: Option<PathBuf>,
    journal_cfg: Option<JournalConfig>,
    /// Process ids of connections, and a pending stop's reply.
    pub(super) admin: admin::DriverAdmin,
    /// Why the node must stop (an `Input::Fatal`), for `halt::finish`.
    pub(super) failure: Option<String>,
    /// When the ownership check behind this pass's oldest journal
    /// acknowledgment passed.
    oldest_ack: Option<Instant>,
    pub(super) halt: Arc<halt::Halt>,
}

impl Driver {
    /// A node with its journal opened and recovered. Returns the driver, the
    /// incarnation for tids, and the number of committed transactions to replay.
    pub(crate) fn new(cfg: &EmbeddedConfig, back: Inbox) -> Result<(Driver, u32, usize), RtrError> {
        let append_limit = cfg.journal.as_ref().map_or(u64::MAX, JournalConfig::max_append_bytes);
        // The largest record the node writes (a message of RTR_MAX_MSGLEN
        // with its facility name) must fit in one append.
        let largest = journal::format::record_bytes(1 + 255 + crate::MAX_MSGLEN) as u64;
        if largest > append_limit {
            return Err(RtrError::NodeUnavailable(format!(
                "journal segments of {} bytes are too small for a {}-byte message; use at least {} bytes",
                cfg.journal.as_ref().map_or(0, |j| j.segment_bytes),
                crate::MAX_MSGLEN,
                largest + 4096
            )));
        }
        let mut node = Node::new(cfg.journal.is_some());
        let (journal, incarnation, recovered) = match &cfg.journal {
            Some(jc) => {
                let (j, rec) = journal::open_or_create(jc).map_err(|e| {
                    RtrError::NodeUnavailable(format!("cannot open the journal in {}: {e}", jc.dir.display()))
                })?;
                for cut in &rec.cuts {
                    eprintln!("rtr node: journal recovery {cut}");
                }
                let n = node.recover(Instant::now(), &rec.records);
                // However this node loses its journal, even while idle, it
                // stops (and closes its links) at once.
                let (lost, dir) = (back.clone(), jc.dir.clone());
                j.on_lost(Box::new(move |e| {
                    lost.send(Input::Fatal(lost_journal(&dir, &e)));
                }));
                // The owner epoch grows at every open, durably: it makes the
                // tids of this run differ from those of every earlier run.
                (Some(j), rec.epoch as u32, n)
            }
            None => {
                // Without a journal, wall-clock time mixed with the pid
                // separates the tids of successive runs.
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                (None, (now.as_secs() as u32) ^ (now.subsec_nanos() << 7) ^ std::process::id(), 0)
            }
        };
        let d = Driver {
            node,
            journal,
            append_limit,
            back,
            sinks: HashMap::new(),
            batches: HashMap::new(),
            in_flight: 0,
            links: None,
            adopted: HashMap::new(),
            peer_journals: cfg.peer_journals.clone(),
            journal_cfg: cfg.journal.clone(),
            admin: Default::default(),
            failure: None,
            oldest_ack: None,
            halt: Arc::new(halt::Halt::default()),
        };
        Ok((d, incarnation, recovered))
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.node.next_deadline()
    }

    /// A synced journal write is on its way: its completion is due soon.
    pub(crate) fn awaiting_journal(&self) -> bool {
        self.in_flight > 0
    }

    /// Tell every connection the node is gone.
    pub(crate) fn stop_all(&self) {
        for s in self.sinks.values() {
            s.node_stopped();
        }
    }

    /// Take one input. Returns false when the node must stop.
    pub(crate) fn input(&mut self, now: Instant, input: Input) -> bool {
        match input {
            Input::Connect(conn, sink) => {
                self.sinks.insert(conn, sink);
            }
            Input::Request(conn, req) => {
                let disconnect = matches!(req, Request::Disconnect);
                self.node.handle_request(now, conn, req);
                if disconnect {
                    self.sinks.remove(&conn);
                    self.admin.forget(conn);
                }
            }
            Input::JournalDone(tokens, result, checked) => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if result.is_ok() {
                    self.oldest_ack = Some(self.oldest_ack.map_or(checked, |o| o.min(checked)));
                }
                for t in tokens {
                    self.node.journal_done(now, t, result);
                }
            }
            Input::JournalFailed(tids, status) => self.node.journal_failed(now, tids, status),
            Input::Fatal(why) => {
                // A commit whose write failed may still be on disk (the
                // failure came after the write), so no outcome can be
                // given: stop, and let recovery (by a restart or a new
                // owner) decide. `halt::finish` closes the links and
                // connections; every connection sees NODEUNAVAIL.
                eprintln!("rtr: the node stops: {why}");
                self.failure = Some(why);
                return false;
            }
            Input::Shutdown => return false,
            Input::Admin(cmd) => return self.admin_input(now, cmd),
            Input::Links(links) => self.links = Some(links),
            Input::LinkUp(id, info) => self.node.link_up(now, id, info),
            Input::Peer(id, msg) => self.node.peer_input(now, id, msg),
            Input::LinkDown(id) => self.node.link_down(now, id),
            // Only a daemon's event loop takes sockets; anywhere else the
            // connection is refused as if it had closed.
            Input::Adopt(conn, _) => return self.input(now, Input::Request(conn, Request::Disconnect)),
            #[cfg(test)]
            Input::Test(f) => f(self),
        }
        true
    }

    /// An acknowledgment is only as good as the ownership check behind it.
    /// One that aged past [`STALE_ACK`] before this pass could act on it
    /// (the process was stopped, or starved, in between) may have been
    /// overtaken by a takeover: check again, here, before anyone hears of
    /// it. True (and the node must stop, saying why) when it was: a woken
    /// node then sends and delivers nothing of this pass, so its servers do
    /// not get a commit the new owner is replaying to its own. (Only what
    /// was already being written when the process stopped still goes out.)
    /// Only a proven fence stops the node, as in the journal's idle check.
    fn acks_went_stale(&mut self) -> bool {
        let Some(checked) = self.oldest_ack.take() else { return false };
        if checked.elapsed() <= STALE_ACK {
            return false;
        }
        let (Some(j), Some(cfg)) = (&self.journal, &self.journal_cfg) else { return false };
        match j.check_owner() {
            Err(e @ JournalError::Fenced { .. }) => {
                let why = lost_journal(&cfg.dir, &e);
                eprintln!("rtr: the node stops: {why}");
                self.failure = Some(why);
                true
            }
            _ => false,
        }
    }

    /// End of a pass: fire timers, hand the pass's journal records to the
    /// journal (before delivering their messages), then deliver. Returns
    /// false when the node must stop (it found itself fenced).
    pub(crate) fn flush(&mut self, now: Instant) -> bool {
        self.node.tick(now);
        // The pass's records go in at most a few appends: those that start
        // new transactions apart from the rest, so that the journal's reserve
        // stays for transactions already in progress, and each append within
        // the journal's size limit.
        let mut appends = Appends::new(self.append_limit);
        // A pass's messages for one peer go out as one buffer, in order.
        let mut to_peers: Vec<(NodeRef, crate::protocol::peer::Writer)> = Vec::new();
        let mut takeovers = Vec::new();
        for out in self.node.take_output() {
            match out {
                Output::Journal { entries, jid, sync, token, .. } if jid != 0 => {
                    // A taken-over journal: its undecided transactions'
                    // aborts, its finished ones' Done records, and the
                    // commits of its in-doubt ones (synced, with a token).
                    match self.adopted.get(&jid) {
                        Some(j) => {
                            let back = self.back.clone();
                            if token.is_some() {
                                self.in_flight += 1;
                            }
                            j.append(
                                entries,
                                sync,
                                Box::new(move |res| match (res, token) {
                                    (Ok(()), Some(t)) => {
                                        back.send(Input::JournalDone(vec![t], Ok(()), Instant::now()));
                                    }
                                    (Ok(()), None) => {}
                                    (Err(e), t) => {
                                        eprintln!("rtr: a write to a taken-over journal failed: {e}");
                                        if let Some(t) = t {
                                            back.send(Input::JournalDone(
                                                vec![t],
                                                Err(Status::Jnlfull),
                                                Instant::now(),
                                            ));
                                        }
                                    }
                                }),
                            );
                        }
                        None => {
                            if let Some(t) = token {
                                self.node.journal_done(now, t, Err(Status::Nodeunavail));
                            }
                        }
                    }
                }
                Output::Takeover { node, jid } => takeovers.push((node, jid)),
                Output::Log(text) => eprintln!("rtr node: {text}"),
                Output::Release { jid } => {
                    // Dropping the handle flushes it and lets its lock go.
                    if self.adopted.remove(&jid).is_some() {
                        eprintln!("rtr node: every transaction of taken-over journal {jid} finished; released");
                    }
                }
                Output::Deliver { conn, delivery } => {
                    if self.sinks.contains_key(&conn) {
                        self.batches.entry(conn).or_default().push(delivery);
                    }
                }
                Output::Journal { entries, sync, token, new_tx, .. } => appends.add(entries, sync, token, new_tx),
                Output::Peer { peer, msg } => {
                    let at = match to_peers.iter().position(|(p, _)| *p == peer) {
                        Some(i) => i,
                        None => {
                            to_peers.push((peer, Default::default()));
                            to_peers.len() - 1
                        }
                    };
                    let frame = crate::protocol::peer::PeerFrame::Msg(msg);
                    crate::protocol::peer::encode_into(&mut to_peers[at].1, &frame);
                }
            }
        }
        if self.acks_went_stale() {
            return false;
        }
        if let Some(links) = &self.links {
            for (peer, w) in to_peers {
                links.send(peer, w.buf);
            }
        }
        for a in appends.finish() {
            let back = self.back.clone();
            match &self.journal {
                Some(j) => {
                    let Append { entries, sync, tokens, tids, .. } = a;
                    if !tokens.is_empty() {
                        self.in_flight += 1;
                    }
                    j.append(
                        entries,
                        sync,
                        Box::new(move |res| match res {
                            Ok(()) => {
                                if !tokens.is_empty() {
                                    back.send(Input::JournalDone(tokens, Ok(()), Instant::now()));
                                }
                            }
                            Err(JournalError::Full) => {
                                // Nothing of this append was written.
                                if !tokens.is_empty() {
                                    back.send(Input::JournalDone(tokens, Err(Status::Jnlfull), Instant::now()));
                                }
                                back.send(Input::JournalFailed(tids, Status::Jnlfull));
                            }
                            Err(e) => {
                                back.send(Input::Fatal(format!("journal write failed: {e}")));
                            }
                        }),
                    );
                }
                None => {
                    // A node without a journal emits no records; if it did,
                    // report the synced ones durable so nothing waits for ever.
                    if !a.tokens.is_empty() {
                        back.send(Input::JournalDone(a.tokens, Ok(()), Instant::now()));
                    }
                }
            }
        }
        for (conn, batch) in self.batches.iter_mut() {
            if batch.is_empty() {
                continue;
            }
            if let Some(sink) = self.sinks.get(conn) {
                sink.deliver(std::mem::take(batch));
            }
        }
        if !takeovers.is_empty() {
            for (node, jid) in takeovers {
                let result = self.take_over(&node, jid);
                self.node.takeover_done(now, &node, result);
            }
            return self.flush(now);
        }
        true
    }

    /// Take over the journal of lost node `node` (under the shared journal
    /// directory): lock it, forcibly (the previous owner is fenced: its
    /// later writes fail), recover it, and keep it as journal `jid` until
    /// its transactions are finished. Runs on the node thread: new work
    /// for the partitions waits meanwhile, as RTR's does.
    fn take_over(&mut self, node: &str, jid: u32) -> Result<(u32, Vec<journal::Record>), String> {
        let t0 = Instant::now();
        let root = self
            .peer_journals
            .as_ref()
            .ok_or("this node has no shared journal directory (rtr start --journal-root)")?;
        let mut cfg = self.journal_cfg.clone().unwrap_or_default();
        cfg.dir = root.join(node);
        let (j, rec) = journal::open(&cfg, journal::Takeover::Force)
            .map_err(|e| format!("cannot take over {}: {e}", cfg.dir.display()))?;
        for cut in &rec.cuts {
            eprintln!("rtr node: recovery of the journal of {node} {cut}");
        }
        eprintln!(
            "rtr node: took over the journal of {node} ({}) in {} ms: epoch {}, {} records",
            cfg.dir.display(),
            t0.elapsed().as_millis(),
            rec.epoch,
            rec.records.len()
        );
        self.adopted.insert(jid, j);
        Ok((jid, rec.records))
    }
}

/// Why a node thread stopped: the driver's fatal failure, or a panic (a bug
/// in the node must not leave applications blocked, nor a daemon running
/// without its node, for ever).
pub(super) fn failure_of(driver: &mut Driver, loop_result: std::thread::Result<()>) -> Option<String> {
    match loop_result {
        Ok(()) => driver.failure.take(),
        Err(_) => Some("the node thread failed (a bug; see the panic message above)".into()),
    }
}

/// What a node that lost its journal in `dir` says (see [`Journal::on_lost`]).
fn lost_journal(dir: &std::path::Path, e: &JournalError) -> String {
    match e {
        JournalError::Fenced { mine, current } => format!(
            "its journal {} was taken over by another owner: epoch {current} fenced this node's epoch {mine} \
             (a standby promoted in its place, or rtr journal takeover); this node can commit nothing more",
            dir.display()
        ),
        other => format!("its journal {} can no longer be written ({other}); a restart recovers it", dir.display()),
    }
}
