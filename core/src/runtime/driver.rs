//! The driver: the node thread's state outside the node itself (its
//! connections' sinks, its journals, its links) and the I/O that carries
//! out what the node asks for at the end of each pass.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::admin;
use super::halt;
use super::input::{Inbox, Input, PeerLinks};
use super::pass::{
    own_append_done, taken_over_append_done, Append, AppendOutcome, PassPlan, Reaction, RoleStep, TakenOverStep,
};
use super::{DeliverySink, EmbeddedConfig};
use crate::authority::{Authority, AuthorityConfig, AuthorityError, MAINTAIN_EVERY_MS};
use crate::error::RtrError;
use crate::journal::{self, Journal, JournalConfig, JournalError};
use crate::node::Node;
use crate::protocol::peer;
use crate::protocol::{ConnId, Request};

/// How old a journal acknowledgment (its ownership check) may be when the
/// node acts on it before ownership is checked again. A router drops a
/// silent node only after 2/3 of its inactivity time (at least 1 s: the
/// node's pings go out every third of it), and a standby takes the journal
/// over after that; an acknowledgment younger than this cannot have been
/// overtaken. Passes slower than this without a stop only cost a read of
/// the epoch file.
const STALE_ACK: Duration = Duration::from_millis(200);

/// The node thread's state outside the node itself: its connections'
/// sinks, its journals and its links.
pub(crate) struct Driver {
    pub(super) node: Node,
    pub(super) journal: Option<Journal>,
    append_limit: u64,
    back: Inbox,
    /// FxHash: a look-up per connection per pass; connection ids are the node's.
    pub(super) sinks: FxHashMap<ConnId, Arc<dyn DeliverySink>>,
    /// Synced appends whose completion has not come back yet.
    in_flight: usize,
    /// `Input::Drain` askers, answered at the end of the pass that follows.
    drains: Vec<crossbeam_channel::Sender<()>>,
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
    /// The role authority, made at the first claim (it acts in the node's
    /// name, known once the facilities are defined).
    authority: Option<Box<dyn Authority>>,
    /// When [`Authority::maintain`] last ran.
    maintained: Option<Instant>,
    authority_cfg: AuthorityConfig,
    /// Requests from and messages to library connections, for the metrics.
    pub(super) library: super::metrics::LibraryCounts,
}

impl Driver {
    /// A node with its journal opened and recovered. Returns the driver, the
    /// incarnation for tids, and the number of committed transactions to replay.
    pub(crate) fn new(cfg: &EmbeddedConfig, back: Inbox) -> Result<(Driver, u32, usize), RtrError> {
        let append_limit = cfg.journal.as_ref().map_or(u64::MAX, JournalConfig::max_append_bytes);
        // The largest record the node writes (a message of RTR_MAX_MSGLEN
        // with its facility name) must fit in one append.
        let largest = journal::format::record_bytes(crate::txrecord::LARGEST_PAYLOAD) as u64;
        if largest > append_limit {
            return Err(RtrError::NodeUnavailable(format!(
                "journal segments of {} bytes are too small for a {}-byte message; use at least {} bytes",
                cfg.journal.as_ref().map_or(0, |j| j.segment_bytes),
                crate::MAX_MSGLEN,
                largest + 4096
            )));
        }
        let mut node = Node::new(cfg.journal.is_some());
        node.set_recovery_policy(cfg.recovery);
        node.set_site(cfg.site.as_deref()).map_err(RtrError::NodeUnavailable)?;
        if let Some(max) = cfg.max_channels_per_conn {
            node.set_max_channels_per_conn(max);
        }
        // Before the journal is recovered: see `EmbeddedConfig::facilities`.
        if let Some(table) = &cfg.facilities {
            node.set_facilities(table.clone());
        }
        let (journal, incarnation, recovered) = match &cfg.journal {
            Some(jc) => {
                let (j, rec) = journal::open_or_create(jc).map_err(|e| {
                    RtrError::NodeUnavailable(format!("cannot open the journal in {}: {e}", jc.dir.display()))
                })?;
                for cut in &rec.cuts {
                    crate::rtr_log!(Warn, "rtr node: journal recovery {cut}");
                }
                let n = node.recover(Instant::now(), rec.epoch, &rec.records);
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
            sinks: FxHashMap::default(),
            in_flight: 0,
            drains: Vec::new(),
            links: None,
            adopted: HashMap::new(),
            peer_journals: cfg.peer_journals.clone(),
            journal_cfg: cfg.journal.clone(),
            admin: Default::default(),
            failure: None,
            oldest_ack: None,
            halt: Arc::new(halt::Halt::default()),
            authority: None,
            maintained: None,
            authority_cfg: cfg.authority.clone(),
            library: Default::default(),
        };
        Ok((d, incarnation, recovered))
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let maintain = self.maintained.map(|t| t + Duration::from_millis(MAINTAIN_EVERY_MS));
        match (self.node.next_deadline(), maintain) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The role authority, made on first use (it acts in the node's name,
    /// known once the facilities are defined); an authority that cannot be
    /// opened yet (etcd unreachable) is tried again at the next claim.
    pub(super) fn authority(&mut self) -> Result<&mut dyn Authority, AuthorityError> {
        if self.authority.is_none() {
            let name = self.node.facilities().node().to_string();
            let a = self.authority_cfg.open(self.peer_journals.as_deref(), &name)?;
            // (The embedded node's own authority is not worth a line.)
            if self.peer_journals.is_some() || self.authority_cfg != AuthorityConfig::Auto {
                crate::rtr_log!(Info, "rtr node: role authority: {}", a.describe());
            }
            self.authority = Some(a);
        }
        match self.authority.as_mut() {
            Some(a) => Ok(a.as_mut()),
            None => Err(AuthorityError::Failed("no role authority".into())),
        }
    }

    /// The role authority's name, for `rtr show partition`.
    pub(super) fn authority_name(&self) -> String {
        match &self.authority {
            Some(a) => a.describe(),
            None => "local (nothing claimed yet)".to_string(),
        }
    }

    /// Keep the authority's grants live; a grant this node lost ends its
    /// active role at once.
    fn maintain_roles(&mut self, now: Instant) {
        let Some(a) = self.authority.as_mut() else { return };
        if self.maintained.is_some_and(|t| now < t + Duration::from_millis(MAINTAIN_EVERY_MS)) {
            return;
        }
        self.maintained = Some(now);
        for (range, epoch) in a.maintain() {
            self.node.role_lost(now, &range, epoch);
        }
    }

    /// Carry out a claim or release for the node.
    fn role_step(&mut self, now: Instant, step: RoleStep) {
        match step {
            RoleStep::Claim { range, force_over } => {
                let result = self.authority().and_then(|a| a.claim(&range, force_over)).map_err(|e| e.to_string());
                self.maintained.get_or_insert(now);
                self.node.claimed(now, &range, result);
            }
            RoleStep::CheckHolder { range, epoch } => {
                let result = self.authority().and_then(|a| a.holder_gone(&range, epoch)).map_err(|e| e.to_string());
                self.node.holder_checked(now, &range, epoch, result);
            }
            RoleStep::ReadNote { range, then } => {
                let result = self.authority().and_then(|a| a.note(&range)).map_err(|e| e.to_string());
                self.node.note_read(now, &range, then, result);
            }
            RoleStep::Activate { .. } => {}
            RoleStep::Release { range, epoch } => {
                if let Err(e) = self.authority().and_then(|a| a.release(&range, epoch)) {
                    // Not released: a standby then recovers this node's
                    // journal as if it had stopped, which is safe.
                    crate::rtr_log!(Warn, "rtr node: cannot release grant {epoch} of {range}: {e}");
                }
            }
        }
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
                self.library.requests += 1;
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
            Input::TakenOverLost(jid) => self.node.taken_over_lost(now, jid),
            Input::Fatal(why) => {
                // A commit whose write failed may still be on disk (the
                // failure came after the write), so no outcome can be
                // given: stop, and let recovery (by a restart or a new
                // owner) decide. `halt::finish` closes the links and
                // connections; every connection sees NODEUNAVAIL.
                crate::rtr_log!(Error, "rtr: the node stops: {why}");
                self.failure = Some(why);
                return false;
            }
            Input::Shutdown => return false,
            Input::Drain(tx) => self.drains.push(tx),
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
                crate::rtr_log!(Error, "rtr: the node stops: {why}");
                self.failure = Some(why);
                true
            }
            _ => false,
        }
    }

    /// End of a pass: fire timers, then carry out the pass's plan
    /// (`pass.rs`): the steps on taken-over journals; the peer messages; the
    /// appends to the node's own journal (before delivering the messages
    /// their records precede); the deliveries; the takeovers, each followed
    /// by another pass. Returns false when the node must stop (it found
    /// itself fenced).
    pub(crate) fn flush(&mut self, now: Instant) -> bool {
        self.maintain_roles(now);
        self.node.tick(now);
        let mut outputs = self.node.take_output();
        let plan = PassPlan::of_drained(&mut outputs, self.append_limit);
        // The emptied vector holds the next pass's outputs.
        self.node.reuse_output(outputs);
        for (detail, text) in plan.logs {
            if detail {
                crate::rtr_log!(Debug, "rtr node: {text}");
            } else {
                crate::rtr_log!(Info, "rtr node: {text}");
            }
        }
        for step in plan.taken_over {
            match step {
                TakenOverStep::Append { jid, append } => self.append_taken_over(now, jid, append),
                TakenOverStep::Release { jid } => {
                    // Dropping the handle flushes it and lets its lock go.
                    if self.adopted.remove(&jid).is_some() {
                        crate::rtr_log!(
                            Info,
                            "rtr node: every transaction of taken-over journal {jid} finished; released"
                        );
                    }
                }
            }
        }
        if self.acks_went_stale() {
            return false;
        }
        // Grants marked exercised before anyone hears of the work under them,
        // and released before anyone hears of the release (a standby the
        // routers tell would otherwise claim a grant still held, force it
        // as the holder's loss, and take over a live node's journal).
        let (early, roles): (Vec<RoleStep>, Vec<RoleStep>) =
            plan.roles.into_iter().partition(|s| matches!(s, RoleStep::Activate { .. } | RoleStep::Release { .. }));
        for step in early {
            if let RoleStep::Release { .. } = step {
                self.role_step(now, step);
            } else if let RoleStep::Activate { range, epoch } = step {
                if let Err(e) = self.authority().and_then(|a| a.activate(&range, epoch)) {
                    // Unmarked, the grant would be skipped by the next
                    // holder, which would then not recover this node's
                    // journal: the node stops instead of serving under it.
                    let why = format!("cannot mark grant {epoch} of {range} exercised: {e}");
                    crate::rtr_log!(Error, "rtr: the node stops: {why}");
                    self.failure = Some(why);
                    return false;
                }
            }
        }
        if let Some(links) = &self.links {
            // A pass's messages for one peer go out as one buffer, in order.
            for (peer, msgs) in plan.peers {
                let mut w = peer::Writer::default();
                for msg in msgs {
                    peer::encode_into(&mut w, &peer::PeerFrame::Msg(msg));
                }
                links.send(peer, w.buf);
            }
        }
        for a in plan.own {
            self.append_own(a);
        }
        for (conn, batch) in plan.deliveries {
            if let Some(sink) = self.sinks.get(&conn) {
                self.library.deliveries += batch.len() as u64;
                sink.deliver(batch);
            }
        }
        let again = !roles.is_empty() || !plan.takeovers.is_empty();
        for step in roles {
            self.role_step(now, step);
        }
        if again {
            for (node, jid) in plan.takeovers {
                let result = self.take_over(&node, jid);
                self.node.takeover_done(now, &node, result);
            }
            return self.flush(now);
        }
        self.answer_drains();
        true
    }

    /// The pass is done: everything queued before a drain request was acted
    /// on, and its journal appends were issued. An empty unsynced append (the
    /// journal's barrier) completes after all of them completed: synced ones
    /// durable, the others written, which outlives the process; the askers
    /// hear then (no journal: at once). No sync and no ownership check of its
    /// own, so a process's exit costs no fdatasync and a journal directory
    /// already gone by then is no error to report.
    fn answer_drains(&mut self) {
        for tx in self.drains.drain(..) {
            match &self.journal {
                // The completion runs on the writer thread: a send on a
                // channel with room (bounded(1), one message) never blocks.
                Some(j) => j.append(
                    Vec::new(),
                    false,
                    Box::new(move |_| {
                        let _ = tx.try_send(());
                    }),
                ),
                None => {
                    let _ = tx.try_send(());
                }
            }
        }
    }

    /// Issue an append to the node's own journal; its outcome comes back
    /// through the inbox (`pass::own_append_done`).
    fn append_own(&mut self, a: Append) {
        let back = self.back.clone();
        let Some(j) = &self.journal else {
            let reactions = own_append_done(AppendOutcome::NotHeld, a.tokens, a.tids);
            return react(&back, reactions);
        };
        if a.awaited() {
            self.in_flight += 1;
        }
        let Append { entries, sync, tokens, tids, .. } = a;
        j.append(entries, sync, Box::new(move |res| react(&back, own_append_done(outcome(res), tokens, tids))));
    }

    /// Issue an append to taken-over journal `jid`; its outcome comes back
    /// through the inbox, or at once if the journal is not held
    /// (`pass::taken_over_append_done`).
    fn append_taken_over(&mut self, now: Instant, jid: u32, a: Append) {
        // One output's records: at most one token.
        let token = a.tokens.first().copied();
        let Some(j) = self.adopted.get(&jid) else {
            for r in taken_over_append_done(AppendOutcome::NotHeld, jid, token) {
                if let Reaction::Done(tokens, result) = r {
                    for t in tokens {
                        self.node.journal_done(now, t, result);
                    }
                }
            }
            return;
        };
        if token.is_some() {
            self.in_flight += 1;
        }
        let back = self.back.clone();
        j.append(
            a.entries,
            a.sync,
            Box::new(move |res| react(&back, taken_over_append_done(outcome(res), jid, token))),
        );
    }

    /// Take over the journal of lost node `node` (under the shared journal
    /// directory): lock it, forcibly (the previous owner is fenced: its
    /// later writes fail), recover it, and keep it as journal `jid` until
    /// its transactions are finished. Runs on the node thread: new work
    /// for the partitions waits meanwhile, as RTR's does.
    fn take_over(&mut self, node: &str, jid: u32) -> Result<crate::node::JournalRead, String> {
        let t0 = Instant::now();
        let root = self
            .peer_journals
            .as_ref()
            .ok_or("this node has no shared journal directory (rtr start --journal-root)")?;
        // The node checked the name (`journal_name_ok`); checked again
        // here, where it becomes a path: a node name has no '/' or "..".
        if crate::facility::node_name(node).ok().as_deref() != Some(node) {
            return Err(format!("{node:?} is not a node name: no journal is taken over"));
        }
        let mut cfg = self.journal_cfg.clone().unwrap_or_default();
        cfg.dir = root.join(node);
        let (j, rec) = journal::open(&cfg, journal::Takeover::Force)
            .map_err(|e| format!("cannot take over {}: {e}", cfg.dir.display()))?;
        for cut in &rec.cuts {
            crate::rtr_log!(Warn, "rtr node: recovery of the journal of {node} {cut}");
        }
        crate::rtr_log!(
            Info,
            "rtr node: took over the journal of {node} ({}) in {} ms: epoch {}, {} records",
            cfg.dir.display(),
            t0.elapsed().as_millis(),
            rec.epoch,
            rec.records.len()
        );
        // Lost while idle too (its owner started again on it and fenced
        // this reader, found within about a second), not only at this
        // node's next write into it: the node stops answering for it at
        // once and its in-doubt copies go to the journal's next holder.
        // Without the hook a fenced reader kept answering for the journal
        // until it happened to write there.
        let back = self.back.clone();
        j.on_lost(Box::new(move |_| {
            back.send(Input::TakenOverLost(jid));
        }));
        self.adopted.insert(jid, j);
        Ok(crate::node::JournalRead { jid, epoch: rec.epoch, records: rec.records })
    }
}

/// An append's result as the journal policy sees it.
fn outcome(res: Result<(), JournalError>) -> AppendOutcome {
    match res {
        Ok(()) => AppendOutcome::Written,
        Err(JournalError::Full) => AppendOutcome::Full,
        Err(e @ JournalError::Fenced { .. }) => AppendOutcome::Fenced(e.to_string()),
        Err(e) => AppendOutcome::Failed(e.to_string()),
    }
}

/// Send the reactions to an append's outcome to the node thread (on the
/// journal writer's thread: an acknowledgment is stamped with the time its
/// ownership check passed, now).
fn react(back: &Inbox, reactions: Vec<Reaction>) {
    for r in reactions {
        match r {
            Reaction::Done(tokens, result) => {
                back.send(Input::JournalDone(tokens, result, Instant::now()));
            }
            Reaction::Failed(tids, status) => {
                back.send(Input::JournalFailed(tids, status));
            }
            Reaction::Fatal(why) => {
                back.send(Input::Fatal(why));
            }
            Reaction::Log(text) => crate::rtr_log!(Warn, "rtr: {text}"),
            Reaction::Lost(jid) => {
                back.send(Input::TakenOverLost(jid));
            }
        }
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

#[cfg(test)]
mod tests;
