//! Management of a running node (`rtr show`, `rtr create|delete facility`,
//! `rtr stop`), for whichever thread asks (the daemon's admin connections).
//!
//! Views are taken by the node thread between two passes and sent back on
//! a one-slot channel, so the node thread never waits for the asker (a slow
//! or departed asker only finds its answer dropped). Facility definitions
//! are checked and saved by the asking thread, under a lock that only
//! askers take, then handed to the node thread as a whole new table: the
//! file write and its fsync never hold up transactions, and two concurrent
//! `create facility` commands reach the file and the node in the same order.
//!
//! A graceful stop closes every application connection, flushes and syncs
//! the journal (the driver drops its handle, which waits for the writer),
//! and only then answers; the daemon's listener stops on
//! [`EmbeddedNode::is_stopping`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};

use super::{DeliverySink, Driver, EmbeddedNode, Input, NodeLink};
use crate::facility::{FacilityDef, FacilityError, FacilityStore, FacilityTable};
use crate::protocol::admin::{clip, AdminError, AdminReply, AdminRequest, PartitionChange, MAX_TEXT};
use crate::protocol::ConnId;

/// How long an asker waits for the node thread's answer.
pub const ADMIN_WAIT: Duration = Duration::from_secs(10);
/// How long a stop may take (closing connections and syncing the journal).
pub const STOP_WAIT: Duration = Duration::from_secs(30);

/// What the node thread is asked to do.
pub(crate) enum Cmd {
    /// Take a view (a `Show*` request).
    Show(AdminRequest, Sender<AdminReply>),
    /// Apply new facility definitions (already saved) and say what changed.
    Define(FacilityTable, Change, Sender<AdminReply>),
    /// The process behind a connection (from its hello).
    Pid(ConnId, u32),
    /// Stop gracefully; the answer comes once the journal is flushed.
    Stop(Sender<AdminReply>),
    /// An operator change (`SetPartition`, `SetTransaction`).
    Set(AdminRequest, Sender<AdminReply>),
}

pub(crate) enum Change {
    /// The table the node starts with.
    Initial,
    Created(String),
    Deleted(String),
}

/// The handle's side: the saved definitions and the stop flag.
#[derive(Default)]
pub(crate) struct NodeAdmin {
    /// `None` until the node is given a store (`set_facility_store`): an
    /// embedded node keeps no definitions.
    store: Mutex<Option<FacilityStore>>,
    stopping: AtomicBool,
    /// The link configuration of a node that has links (a daemon, set by
    /// `start_links`): new definitions that would need a link it may not
    /// open (no TLS, no `--insecure-links`) are refused.
    pub(crate) links: Mutex<Option<crate::transport::links::LinkConfig>>,
}

/// The node thread's side: process ids, and the answer a stop owes.
///
/// Declared after the driver's journal, so it is dropped after it: the
/// journal handle's drop flushes, syncs and joins the writer, and only then
/// does the stop's answer go out.
#[derive(Default)]
pub(crate) struct DriverAdmin {
    pids: HashMap<ConnId, u32>,
    stop_reply: Option<(Sender<AdminReply>, usize)>,
}

impl DriverAdmin {
    /// A connection went away.
    pub(super) fn forget(&mut self, conn: ConnId) {
        self.pids.remove(&conn);
    }
}

impl Drop for DriverAdmin {
    fn drop(&mut self) {
        if let Some((reply, conns)) = self.stop_reply.take() {
            let _ = reply.send(done(format!(
                "{conns} application connection{} closed, journal flushed",
                if conns == 1 { "" } else { "s" }
            )));
        }
    }
}

fn done(message: String) -> AdminReply {
    AdminReply::Done { message: clip(message, MAX_TEXT) }
}

fn failed(e: AdminError) -> AdminReply {
    let message = e.message().to_string();
    AdminReply::Failed(e.with_message(message))
}

fn refused(e: &FacilityError) -> AdminReply {
    failed(e.into())
}

fn unavailable() -> AdminReply {
    failed(AdminError::NodeUnavailable("the node is not running (it stopped)".into()))
}

impl Driver {
    /// Take one admin command; false when the node must stop.
    pub(super) fn admin_input(&mut self, now: Instant, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Pid(conn, pid) => {
                self.admin.pids.insert(conn, pid);
            }
            Cmd::Show(req, reply) => {
                let _ = reply.send(self.view(now, req));
            }
            Cmd::Set(req, reply) => {
                let result = match req {
                    AdminRequest::SetPartition { facility, id, change: PartitionChange::Shadowing(on) } => {
                        self.set_shadowing(now, &facility, id, on)
                    }
                    AdminRequest::SetPartition { facility, id, change } => {
                        self.node.set_partition(now, &facility, id, change)
                    }
                    AdminRequest::SetTransaction { tid, change } => self.node.set_transaction(now, tid, change),
                    other => Err(AdminError::InvalidObject(format!("{other:?} is not a change"))),
                };
                let _ = reply.send(match result {
                    Ok(message) => done(message),
                    Err(e) => failed(e),
                });
            }
            Cmd::Define(table, change, reply) => {
                let initial = matches!(change, Change::Initial);
                if let Some(links) = &self.links {
                    links.clone().set_table(table.clone());
                }
                self.node.set_facilities(table);
                let answer = self.defined(change);
                // A daemon's facility changes are operator actions worth a
                // log line (its initial load is reported by whoever starts
                // it); an embedded node's are its application's own calls.
                if let (AdminReply::Done { message }, false, true) = (&answer, initial, self.links.is_some()) {
                    crate::rtr_log!(Info, "rtr node: {message}");
                }
                let _ = reply.send(answer);
            }
            Cmd::Stop(reply) => {
                crate::rtr_log!(Info, "rtr node: stopping on request: closing {} connections", self.sinks.len());
                if let Some(links) = &self.links {
                    links.stop();
                }
                self.stop_all();
                self.admin.stop_reply = Some((reply, self.sinks.len()));
                return false;
            }
        }
        true
    }

    /// `rtr set partition --shadow|--noshadow`: the node says whether it
    /// may and what to note; the role authority's note is written (and
    /// durable) before the node changes anything, so every node of the
    /// range reads it at its next claim (docs/shadow.md). An authority
    /// that cannot be reached changes nothing: `NODEUNAVAIL`, and the
    /// operator retries (the write is idempotent).
    fn set_shadowing(&mut self, now: Instant, facility: &str, id: u64, on: bool) -> Result<String, AdminError> {
        if let Some((range, note)) = self.node.shadowing_note(facility, id, on)? {
            let written = self.authority().and_then(|a| a.set_note(&range, note.as_deref()));
            if let Err(e) = written {
                return Err(AdminError::NodeUnavailable(format!(
                    "shadowing of partition {facility}:{id} not turned {}: {e}",
                    if on { "on" } else { "off" }
                )));
            }
        }
        self.node.shadowing_set(now, facility, id, on)
    }

    /// The process id a connection gave in its hello (0: unknown).
    pub(super) fn pid(&self, conn: ConnId) -> u32 {
        self.admin.pids.get(&conn).copied().unwrap_or(0)
    }

    fn view(&self, now: Instant, req: AdminRequest) -> AdminReply {
        let node = &self.node;
        match req {
            AdminRequest::ShowFacility => {
                AdminReply::Facilities { node: node.facilities().node().to_string(), rows: node.show_facilities() }
            }
            AdminRequest::ShowPartition => {
                let (mut rows, omitted) = node.show_partitions();
                let authority = self.authority_name();
                for r in &mut rows {
                    r.authority = authority.clone();
                }
                AdminReply::Partitions { rows, omitted }
            }
            AdminRequest::ShowServer => {
                let (mut rows, omitted) = node.show_servers();
                for r in &mut rows {
                    r.pid = self.pid(r.conn);
                }
                AdminReply::Servers { rows, omitted }
            }
            AdminRequest::ShowTransaction => {
                let (mut rows, omitted) = node.show_transactions(now);
                for r in &mut rows {
                    r.client_pid = r.client.map_or(0, |(conn, _)| self.pid(conn));
                }
                AdminReply::Transactions { rows, omitted }
            }
            AdminRequest::ShowMetrics => AdminReply::Metrics(Box::new(self.metrics())),
            AdminRequest::ShowLink => {
                AdminReply::Links { rows: self.links.as_ref().map_or_else(Vec::new, |l| l.show()) }
            }
            other => failed(AdminError::InvalidObject(format!("{other:?} is not a view"))),
        }
    }

    /// The answer to a change of definitions, now applied.
    fn defined(&self, change: Change) -> AdminReply {
        let table = self.node.facilities();
        let me = table.node();
        match change {
            Change::Initial => done(format!("{} facility definitions loaded", table.defs().count())),
            Change::Created(name) => {
                let Some(def) = table.get(&name) else {
                    return failed(AdminError::NoSuchFacility(format!("facility {name} vanished")));
                };
                let roles = def.roles_of(me);
                let mut m = if roles.any() {
                    format!("facility {name} created; this node ({me}) is {roles}")
                } else {
                    format!("facility {name} created; this node ({me}) plays no role in it")
                };
                let others: Vec<&str> = def.all_nodes().into_iter().filter(|n| *n != me).collect();
                if !others.is_empty() && self.links.is_none() {
                    m.push_str(&format!(
                        "; {} cannot be linked: this node runs without links (an embedded node)",
                        others.join(", "),
                    ));
                } else if !others.is_empty() {
                    m.push_str(&format!("; linking to {} (see rtr show link)", others.join(", ")));
                }
                let (c, s) = self.node.channels_on(&name);
                if c + s > 0 {
                    m.push_str(&format!("; {} channels already open on it stay open", c + s));
                }
                done(m)
            }
            Change::Deleted(name) => {
                let (c, s) = self.node.channels_on(&name);
                if c + s > 0 {
                    done(format!(
                        "facility {name} deleted; its {} open channels stay open (the facility is now implicit here, \
                         with every role)",
                        c + s
                    ))
                } else {
                    done(format!("facility {name} deleted"))
                }
            }
        }
    }
}

impl EmbeddedNode {
    /// Attach a library connection of process `pid` (shown by `rtr show
    /// server` and `rtr show transaction`); deliveries go to `sink`.
    pub fn connect_process(&self, sink: Arc<dyn DeliverySink>, pid: u32) -> Option<NodeLink> {
        let link = self.connect(sink)?;
        self.inbox.send(Input::Admin(Cmd::Pid(link.conn(), pid)));
        Some(link)
    }

    /// Give the node its facility definitions (and the file they are kept
    /// in). Call it before the node takes connections: channels opened
    /// before the definitions arrive are checked against none.
    pub fn set_facility_store(&self, store: FacilityStore) {
        let table = store.table().clone();
        let mut guard = self.store();
        *guard = Some(store);
        let (tx, _rx) = crossbeam_channel::bounded(1);
        self.inbox.send(Input::Admin(Cmd::Define(table, Change::Initial, tx)));
    }

    /// The links the node runs with: later definitions are checked
    /// against them (`start_links` calls it).
    pub(crate) fn set_link_config(&self, cfg: &crate::transport::links::LinkConfig) {
        *self.admin.links.lock().unwrap_or_else(|e| e.into_inner()) = Some(cfg.clone());
    }

    /// The facility definitions given to the node, if any.
    pub(crate) fn facility_table(&self) -> Option<FacilityTable> {
        self.store().as_ref().map(|s| s.table().clone())
    }

    /// True once a stop was requested, or the node stopped on its own (it
    /// lost its journal): the daemon stops accepting connections.
    pub fn is_stopping(&self) -> bool {
        self.admin.stopping.load(Ordering::Acquire) || self.halt.is_closing()
    }

    fn store(&self) -> MutexGuard<'_, Option<FacilityStore>> {
        // A panic while holding the lock left the store as it was before
        // the failed change (changes are applied only after they are saved).
        self.admin.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Send a command to the node thread and wait (bounded) for its answer.
    fn ask(&self, cmd: impl FnOnce(Sender<AdminReply>) -> Cmd, wait: Duration) -> AdminReply {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if !self.inbox.send(Input::Admin(cmd(tx))) {
            return unavailable();
        }
        match rx.recv_timeout(wait) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                failed(AdminError::Timeout(format!("the node did not answer within {} s", wait.as_secs())))
            }
            Err(RecvTimeoutError::Disconnected) => unavailable(),
        }
    }

    /// Carry out one management request; blocks the calling thread (never
    /// the node thread) for at most `ADMIN_WAIT` (`STOP_WAIT` for a stop).
    pub fn admin(&self, req: AdminRequest) -> AdminReply {
        match req {
            AdminRequest::CreateFacility { name, frontends, routers, backends } => {
                let def = match FacilityDef::new(&name, &frontends, &routers, &backends) {
                    Ok(d) => d,
                    Err(e) => return refused(&e),
                };
                let name = def.name().to_string();
                let mut guard = self.store();
                let Some(store) = guard.as_mut() else { return no_store() };
                if store.table().get(&name).is_none() {
                    // Before saving: a definition the node could only link
                    // in plain text, unasked, is not taken (issue 17).
                    let mut after = store.table().clone();
                    after.insert(def.clone());
                    let rule = self.admin.links.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    if let Err(why) = rule.map_or(Ok(()), |r| r.check_security(&after)) {
                        return failed(AdminError::LinksNotSecured(why));
                    }
                }
                if let Err(e) = store.create(def) {
                    return refused(&e);
                }
                let table = store.table().clone();
                // Still under the lock: tables reach the node in the order they were saved.
                self.ask(|tx| Cmd::Define(table, Change::Created(name), tx), ADMIN_WAIT)
            }
            AdminRequest::DeleteFacility { name } => {
                let mut guard = self.store();
                let Some(store) = guard.as_mut() else { return no_store() };
                let def = match store.delete(&name) {
                    Ok(d) => d,
                    Err(e) => return refused(&e),
                };
                let table = store.table().clone();
                self.ask(|tx| Cmd::Define(table, Change::Deleted(def.name().to_string()), tx), ADMIN_WAIT)
            }
            AdminRequest::Stop => {
                self.admin.stopping.store(true, Ordering::Release);
                match self.ask(Cmd::Stop, STOP_WAIT) {
                    AdminReply::Failed(AdminError::NodeUnavailable(_)) => done("it was already stopping".into()),
                    r => r,
                }
            }
            change @ (AdminRequest::SetPartition { .. } | AdminRequest::SetTransaction { .. }) => {
                self.ask(|tx| Cmd::Set(change, tx), ADMIN_WAIT)
            }
            view => self.ask(|tx| Cmd::Show(view, tx), ADMIN_WAIT),
        }
    }
}

fn no_store() -> AdminReply {
    failed(AdminError::Unsupported(
        "this node keeps no facility definitions (an embedded node); use a node daemon".into(),
    ))
}

#[cfg(test)]
mod tests;
