//! An in-memory role authority: one record set shared by the handles of
//! several nodes of one process. The embedded node uses it alone (every
//! claim of its only backend node wins); the in-memory cluster tests and the
//! simulator share one between their nodes and say when a node's process
//! ends ([`MemAuthority::process_ended`]), which is when its locks drop, as
//! the kernel drops a dead process's file locks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Authority, AuthorityError, Claim, Grant};

#[derive(Default)]
struct Record {
    /// Every grant of the range, oldest first (the last is the newest).
    grants: Vec<Grant>,
    /// Each grant's own lock, by epoch: the node whose process holds it.
    /// A holder takes its grant's lock when it wins the grant (forced or
    /// not) and keeps it while its process lives, so the newest grant's
    /// lock tells whether its holder can still be exercising it; an older
    /// grant's lock (a forced-out holder still running) tells nothing.
    locks: BTreeMap<u64, String>,
    /// Grants whose holders marked them exercised ([`Authority::activate`]).
    active: std::collections::BTreeSet<u64>,
    /// The range's note ([`Authority::set_note`]).
    note: Option<String>,
}

impl Record {
    /// The grant a new holder succeeds: the newest that was exercised or
    /// released (a grant never exercised left no work of the range).
    fn previous(&self) -> Option<Grant> {
        self.grants.iter().rev().find(|g| g.released || self.active.contains(&g.epoch)).cloned()
    }
}

#[derive(Default)]
struct State {
    ranges: BTreeMap<String, Record>,
    /// Nodes that cannot reach the authority (simulated minority).
    cut_off: Vec<String>,
}

/// The shared record set; [`MemAuthority::handle`] makes one node's handle.
#[derive(Clone, Default)]
pub struct MemAuthority {
    state: Arc<Mutex<State>>,
}

impl MemAuthority {
    pub fn new() -> MemAuthority {
        MemAuthority::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A handle acting for node `node`.
    pub fn handle(&self, node: &str) -> MemHandle {
        MemHandle { shared: self.clone(), me: node.to_string(), held: BTreeMap::new() }
    }

    /// Node `node`'s process ended (crashed or stopped): the locks it held
    /// drop. Its grants stay; they are not released.
    pub fn process_ended(&self, node: &str) {
        for r in self.lock().ranges.values_mut() {
            r.locks.retain(|_, holder| holder != node);
        }
    }

    /// Cut node `node` off from the authority (or reconnect it): its calls
    /// fail with `Unreachable` meanwhile.
    pub fn set_cut_off(&self, node: &str, cut: bool) {
        let mut st = self.lock();
        st.cut_off.retain(|n| n != node);
        if cut {
            st.cut_off.push(node.to_string());
        }
    }

    /// The newest grant of every range (range id, grant), in id order.
    pub fn grants(&self) -> Vec<(String, Grant)> {
        self.lock().ranges.iter().filter_map(|(id, r)| r.grants.last().map(|g| (id.clone(), g.clone()))).collect()
    }
}

/// One node's handle on a [`MemAuthority`].
pub struct MemHandle {
    shared: MemAuthority,
    me: String,
    /// Grants this handle won and has not released or lost: range -> epoch.
    held: BTreeMap<String, u64>,
}

impl MemHandle {
    fn state(&self) -> Result<MutexGuard<'_, State>, AuthorityError> {
        let st = self.shared.lock();
        if st.cut_off.contains(&self.me) {
            return Err(AuthorityError::Unreachable(format!("{} is cut off from the authority", self.me)));
        }
        Ok(st)
    }
}

impl Authority for MemHandle {
    fn describe(&self) -> String {
        "local".to_string()
    }

    fn claim(&mut self, range: &str, force_over: Option<u64>) -> Result<Claim, AuthorityError> {
        let me = self.me.clone();
        let mut st = self.shared.lock();
        if st.cut_off.contains(&me) {
            return Err(AuthorityError::Unreachable(format!("{me} is cut off from the authority")));
        }
        let r = st.ranges.entry(range.to_string()).or_default();
        let newest = r.grants.last().cloned();
        // This process already holds the newest grant (a retried claim).
        if let Some(g) = newest.as_ref().filter(|g| !g.released && self.held.get(range) == Some(&g.epoch)) {
            return Ok(Claim::Granted { epoch: g.epoch, previous: None });
        }
        let forced = match (newest.as_ref().filter(|g| !g.released), force_over) {
            (Some(g), Some(e)) if g.epoch == e => true,
            (Some(g), Some(_)) => return Ok(Claim::Held(g.clone())),
            // A live grant whose holder still holds its lock.
            (Some(g), None) if r.locks.contains_key(&g.epoch) => return Ok(Claim::Held(g.clone())),
            _ => false,
        };
        let epoch = newest.as_ref().map_or(0, |g| g.epoch) + 1;
        let previous = r.previous();
        r.grants.push(Grant { epoch, holder: me.clone(), released: false, forced });
        r.locks.insert(epoch, me);
        drop(st);
        self.held.insert(range.to_string(), epoch);
        Ok(Claim::Granted { epoch, previous })
    }

    fn activate(&mut self, range: &str, epoch: u64) -> Result<(), AuthorityError> {
        let mut st = self.state()?;
        if let Some(r) = st.ranges.get_mut(range) {
            r.active.insert(epoch);
        }
        Ok(())
    }

    fn holder_gone(&mut self, range: &str, epoch: u64) -> Result<bool, AuthorityError> {
        let st = self.state()?;
        Ok(st.ranges.get(range).is_none_or(|r| !r.locks.contains_key(&epoch)))
    }

    fn release(&mut self, range: &str, epoch: u64) -> Result<(), AuthorityError> {
        let me = self.me.clone();
        let mut st = self.state()?;
        if let Some(r) = st.ranges.get_mut(range) {
            if let Some(g) = r.grants.last_mut().filter(|g| g.epoch == epoch && g.holder == me) {
                g.released = true;
            }
            if r.locks.get(&epoch) == Some(&me) {
                r.locks.remove(&epoch);
            }
        }
        drop(st);
        if self.held.get(range) == Some(&epoch) {
            self.held.remove(range);
        }
        Ok(())
    }

    fn current(&mut self, range: &str) -> Result<Option<Grant>, AuthorityError> {
        Ok(self.state()?.ranges.get(range).and_then(|r| r.grants.last().cloned()))
    }

    fn set_note(&mut self, range: &str, note: Option<&str>) -> Result<(), AuthorityError> {
        let mut st = self.state()?;
        st.ranges.entry(range.to_string()).or_default().note = note.map(str::to_string);
        Ok(())
    }

    fn note(&mut self, range: &str) -> Result<Option<String>, AuthorityError> {
        Ok(self.state()?.ranges.get(range).and_then(|r| r.note.clone()))
    }

    fn maintain(&mut self) -> Vec<(String, u64)> {
        let me = self.me.clone();
        let Ok(mut st) = self.state() else { return Vec::new() };
        let mut lost = Vec::new();
        for (range, epoch) in &self.held {
            let Some(r) = st.ranges.get_mut(range) else { continue };
            if r.grants.last().is_none_or(|g| g.epoch != *epoch) {
                // Superseded: its lock says nothing any more; let it go.
                if r.locks.get(epoch) == Some(&me) {
                    r.locks.remove(epoch);
                }
                lost.push((range.clone(), *epoch));
            }
        }
        drop(st);
        for (range, _) in &lost {
            self.held.remove(range);
        }
        lost
    }
}
