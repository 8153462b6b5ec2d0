//! What a node shows of itself (`rtr show facility|partition|server|
//! transaction`): views of the three roles taken between two passes, so
//! they are consistent with each other. Also the facility definitions the
//! node is given, which decide the roles it plays.
//!
//! The views read the roles' state and change nothing. Process ids are not
//! the node's business (it knows connections): the driver fills them in.

use std::collections::{BTreeMap, BTreeSet};

use super::{Map, Set};
use std::time::Instant;

use super::backend::{PartRole, Side};
use super::router::VoteState;
use super::{ChanRef, Node, PartId};
use crate::facility::{FacilityTable, Roles};
use crate::protocol::admin::{
    clip, BeState, BranchInfo, FacilityInfo, FeState, PartitionInfo, PartitionState, RouterTxInfo, ServerInfo,
    ServerState, TrState, TransactionInfo, MAX_BRANCHES, MAX_RANGE_TEXT, MAX_ROWS,
};
use crate::tid::Tid;

/// Keep the first [`MAX_ROWS`] rows; count the rest.
fn cap<T>(mut rows: Vec<T>) -> (Vec<T>, u64) {
    let omitted = rows.len().saturating_sub(MAX_ROWS) as u64;
    rows.truncate(MAX_ROWS);
    (rows, omitted)
}

/// A shadow partition's place in its pair, as `Node::shadow_roles` shows
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowRoleView {
    pub facility: String,
    pub range: crate::keyseg::KeyRange,
    /// The node's site: the partition's slot is `<range id>@<site>`.
    pub site: String,
    /// Active for its site (holds the site slot's grant).
    pub active: bool,
    /// Holds the range's primary record's grant.
    pub primary: bool,
    /// Another site's node holds the primary record.
    pub secondary: bool,
    /// The primary record's grant: held (primary), or the holder's as last
    /// heard (secondary); 0 before either.
    pub epoch: u64,
    /// Commits this node keeps for the other site, not yet applied there
    /// (remember mode's backlog, docs/shadow.md).
    pub backlog: usize,
}

impl Node {
    /// Replace the facility definitions. Channels already open stay open;
    /// the definitions apply to channels opened from now on.
    /// This node's site (docs/shadow.md): shadow partitions of one range
    /// on nodes of one site are an active partition and its standbys, on
    /// two sites a primary and a secondary. `None`: the node's own name.
    /// Set before any server opens. A name that is not a valid node name
    /// (it becomes part of the role authority's keys) is refused.
    pub fn set_site(&mut self, site: Option<&str>) -> Result<(), String> {
        let site = match site {
            Some(s) => Some(crate::facility::node_name(s).map_err(|why| format!("site {s:?}: {why}"))?),
            None => None,
        };
        self.be.set_site(site);
        Ok(())
    }

    pub fn set_facilities(&mut self, table: FacilityTable) {
        // A node whose facilities name other nodes keeps its outcomes
        // answerable (`Applied`, kept rejections) from the start, as it
        // does once a link comes up: a node started again on its journal
        // replayed a commit to its server before any link was up and
        // wrote its `Done`, and the journal forgot a commit whose client
        // had not heard it; a later re-drive started it afresh (simulator
        // seed 14774, one router: applied twice).
        if !table.link_peers().is_empty() {
            self.be.keep_decided = true;
        }
        self.topo.facilities = table;
    }

    pub fn facilities(&self) -> &FacilityTable {
        &self.topo.facilities
    }

    /// Client and server channels open on `facility`.
    pub fn channels_on(&self, facility: &str) -> (u32, u32) {
        let clients = self.fe.chans.values().filter(|c| c.facility == facility).count();
        let servers = self
            .be
            .servers
            .values()
            .filter(|s| self.be.parts.get(&s.part).is_some_and(|p| p.facility == facility))
            .count();
        (clients as u32, servers as u32)
    }

    /// The defined facilities, then the implicit ones (undefined, with
    /// channels open on them), each by name.
    pub fn show_facilities(&self) -> Vec<FacilityInfo> {
        let mut partitions: Map<&str, u32> = Map::default();
        for p in self.be.parts.values() {
            *partitions.entry(p.facility.as_str()).or_default() += 1;
        }
        let row = |name: &str, defined: bool, lists: [Vec<String>; 3], roles: Roles| {
            let (clients, servers) = self.channels_on(name);
            let [frontends, routers, backends] = lists;
            FacilityInfo {
                name: name.to_string(),
                defined,
                frontends,
                routers,
                backends,
                roles,
                clients,
                servers,
                partitions: partitions.get(name).copied().unwrap_or(0),
            }
        };
        let table = &self.topo.facilities;
        let mut rows: Vec<FacilityInfo> = table
            .defs()
            .map(|d| {
                let lists = crate::facility::RoleList::ALL.map(|l| d.nodes(l).to_vec());
                row(d.name(), true, lists, d.roles_of(table.node()))
            })
            .collect();
        let implicit: BTreeSet<&str> = self
            .fe
            .chans
            .values()
            .map(|c| c.facility.as_str())
            .chain(self.be.parts.values().map(|p| p.facility.as_str()))
            .filter(|f| table.get(f).is_none())
            .collect();
        let me: Vec<String> = if table.node().is_empty() { Vec::new() } else { vec![table.node().to_string()] };
        for name in implicit {
            rows.push(row(name, false, [me.clone(), me.clone(), me.clone()], Roles::ALL));
        }
        rows.truncate(MAX_ROWS);
        rows
    }

    /// Every partition of this node's backend, by facility and id.
    pub fn show_partitions(&self) -> (Vec<PartitionInfo>, u64) {
        let mut in_progress: Map<PartId, u32> = Map::default();
        for ((_, part), b) in &self.be.branches {
            if b.server.is_some() {
                *in_progress.entry(*part).or_default() += 1;
            }
        }
        let mut rows: Vec<PartitionInfo> = self
            .be
            .parts
            .iter()
            .map(|(id, p)| PartitionInfo {
                facility: p.facility.clone(),
                id: *id,
                name: p.range.name().map_or_else(|| id.to_string(), str::to_string),
                range: clip(p.range.to_string(), MAX_RANGE_TEXT),
                state: match &p.role {
                    _ if p.suspended => PartitionState::Suspended,
                    PartRole::Standby => PartitionState::Standby,
                    PartRole::Waiting => PartitionState::Waiting,
                    PartRole::Recovering(_) | PartRole::Unfenced { .. } => PartitionState::Recovering,
                    PartRole::NoJournal(..) => PartitionState::NoJournal,
                    PartRole::Active if p.servers.is_empty() => PartitionState::NoServers,
                    PartRole::Active => match p.shadow.as_ref() {
                        None => PartitionState::Active,
                        Some(s) => match s.side {
                            _ if s.off.is_some() && s.side != Side::Secondary => PartitionState::ShadowOff,
                            Side::Primary if s.partner_by.is_empty() => PartitionState::Remember,
                            Side::Primary => PartitionState::Primary,
                            Side::Secondary => PartitionState::Secondary,
                            // Its primary claim is out.
                            Side::Unknown => PartitionState::Waiting,
                        },
                    },
                },
                servers: p.servers.len() as u32,
                free_servers: p.free.len() as u32,
                waiting: p.waiting.len() as u32,
                in_progress: in_progress.get(id).copied().unwrap_or(0),
                concurrent: !p.noconcurrent,
                epoch: p.grant.epoch,
                holder: match &p.role {
                    PartRole::Active
                    | PartRole::Recovering(_)
                    | PartRole::NoJournal(..)
                    | PartRole::Unfenced { .. } => self.topo.name(super::LOCAL).to_string(),
                    _ => p.grant.holder.clone().unwrap_or_default(),
                },
                // The runtime knows its authority (`runtime/admin.rs`).
                authority: String::new(),
                note: self.be.role_note(*id),
                site: p.shadow.as_ref().map(|s| s.site.clone()).unwrap_or_default(),
                backlog: p.shadow.as_ref().map_or(0, |s| self.be.shadow_backlog(&s.rid) as u64),
            })
            .collect();
        rows.sort_by(|a, b| (&a.facility, a.id).cmp(&(&b.facility, b.id)));
        cap(rows)
    }

    /// The key ranges this node's backend is active for, by facility, in
    /// partition order (call-out partitions have no range and are left
    /// out). A suspended partition is still active: it holds its range.
    /// The cluster simulator checks from this that one partition at a time
    /// is active for a key range.
    pub fn active_ranges(&self) -> Vec<(String, crate::keyseg::KeyRange)> {
        let mut ids: Vec<&PartId> = self.be.parts.keys().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| {
                let p = &self.be.parts[id];
                (p.role == PartRole::Active && p.callout == super::Callout::No)
                    .then(|| (p.facility.clone(), p.range.clone()))
            })
            .collect()
    }

    /// Every shadow partition's pair role (docs/shadow.md), in partition
    /// order: read only. The cluster simulator checks from this that one
    /// node at a time is the primary of a shadowed range, and that a fault-
    /// free two-site run makes a primary and a secondary of each.
    pub fn shadow_roles(&self) -> Vec<ShadowRoleView> {
        let mut ids: Vec<&PartId> = self.be.parts.keys().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| {
                let p = &self.be.parts[id];
                let s = p.shadow.as_ref()?;
                Some(ShadowRoleView {
                    facility: p.facility.clone(),
                    range: p.range.clone(),
                    site: s.site.clone(),
                    active: p.role == PartRole::Active,
                    primary: s.side == Side::Primary,
                    secondary: s.side == Side::Secondary,
                    epoch: s.epoch,
                    backlog: self.be.shadow_backlog(&s.rid),
                })
            })
            .collect()
    }

    /// Per partition with servers and none of them free: the transactions
    /// its servers hold and those waiting for one of them, in partition
    /// order. The cluster simulator tells from this an application's own
    /// deadlock (transactions without timeouts, each holding a server of
    /// one key range and waiting for one of another: RTR reschedules one
    /// branch of such a cycle, this node does not yet, so only timeouts
    /// break it) from a transaction the node lost track of.
    pub fn server_waits(&self) -> Vec<(Vec<Tid>, Vec<Tid>)> {
        let mut ids: Vec<&PartId> = self.be.parts.keys().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| {
                let p = &self.be.parts[id];
                if p.servers.is_empty() || !p.free.is_empty() || p.waiting.is_empty() {
                    return None;
                }
                let mut held: Vec<Tid> = p
                    .servers
                    .iter()
                    .filter_map(|c| self.be.servers.get(c))
                    .filter_map(|s| s.current.filter(|_| s.part == *id))
                    .collect();
                held.sort();
                Some((held, p.waiting.iter().copied().collect()))
            })
            .collect()
    }

    /// The transactions set aside by the retry limit (`EXCEPTION`), waiting
    /// for an operator's `rtr set transaction TID --retry|--forget` (not
    /// those still waiting for their router's outcome).
    pub fn exception_tids(&self) -> Vec<Tid> {
        self.be.exceptions.iter().filter(|e| !e.undecided).map(|e| e.tid).collect()
    }

    /// Every server channel, by connection and channel (pids left 0).
    pub fn show_servers(&self) -> (Vec<ServerInfo>, u64) {
        let mut chans: Vec<&ChanRef> = self.be.servers.keys().collect();
        chans.sort();
        let rows = chans
            .into_iter()
            .filter_map(|chan| {
                let s = self.be.servers.get(chan)?;
                let p = self.be.parts.get(&s.part)?;
                let state = match s.current {
                    None => ServerState::Free,
                    Some(tid) if self.be.branches.get(&(tid, s.part)).is_some_and(|b| b.voted_yes()) => {
                        ServerState::Voted
                    }
                    Some(_) => ServerState::Busy,
                };
                Some(ServerInfo {
                    pid: 0,
                    conn: chan.0,
                    channel: chan.1,
                    facility: p.facility.clone(),
                    partition: s.part,
                    range: clip(p.range.to_string(), MAX_RANGE_TEXT),
                    state,
                    tid: s.current,
                    unacked: s.unacked.len() as u32,
                    flags: if p.noconcurrent { "noconcurrent" } else { "concurrent" }.to_string(),
                })
            })
            .collect();
        cap(rows)
    }

    /// Every transaction any role of this node holds, by tid, with each
    /// role's state (client pids left 0).
    pub fn show_transactions(&self, now: Instant) -> (Vec<TransactionInfo>, u64) {
        // The client channel whose current transaction each tid is.
        let current: Map<Tid, (ChanRef, &str)> =
            self.fe.chans.iter().filter_map(|(chan, c)| c.current.map(|t| (t, (*chan, c.facility.as_str())))).collect();
        let mut branches: BTreeMap<Tid, Vec<BranchInfo>> = BTreeMap::new();
        let mut be_facility: Map<Tid, &str> = Map::default();
        let set_aside: Set<Tid> = self.be.exceptions.iter().map(|e| e.tid).collect();
        for ((tid, part), b) in &self.be.branches {
            let state = if set_aside.contains(tid) {
                BeState::Exception
            } else if b.committed.is_some() {
                BeState::Commit
            } else if b.voted_yes() {
                BeState::Voted
            } else {
                BeState::Receiving
            };
            branches.entry(*tid).or_default().push(BranchInfo {
                partition: *part,
                state,
                server: b.server,
                uncertain: b.uncertain,
                messages: b.msgs.len() as u32,
            });
            if let Some(p) = self.be.parts.get(part) {
                be_facility.insert(*tid, p.facility.as_str());
            }
        }
        // Exceptions whose branches are gone (rejected ones, and committed
        // ones recovered from the journal) still show, set aside.
        for e in &self.be.exceptions {
            let list = branches.entry(e.tid).or_default();
            if list.is_empty() {
                list.push(BranchInfo {
                    partition: e.part,
                    state: BeState::Exception,
                    server: None,
                    uncertain: true,
                    messages: 0,
                });
                be_facility.insert(e.tid, e.facility.as_str());
            }
        }
        let tids: BTreeSet<Tid> = self
            .tr
            .txs
            .keys()
            .chain(self.tr.committing.keys())
            .chain(branches.keys())
            .chain(current.keys())
            .copied()
            .collect();
        let mut rows = Vec::new();
        for tid in tids {
            let mut be = branches.remove(&tid).unwrap_or_default();
            be.sort_by_key(|b| b.partition);
            let fe = current.get(&tid);
            let tx = self.tr.txs.get(&tid);
            let committing = self.tr.committing.get(&tid);
            let router = match (tx, committing) {
                (Some(tx), _) => Some(RouterTxInfo {
                    state: if tx.client_accepted { TrState::Voting } else { TrState::Sending },
                    branches: tx.branches.len() as u32,
                    votes: tx.branches.iter().filter(|b| b.vote == VoteState::Accepted).count() as u32,
                }),
                // Decided; every branch voted. The backend holds the branches.
                (None, Some(_)) => {
                    Some(RouterTxInfo { state: TrState::Commit, branches: be.len() as u32, votes: be.len() as u32 })
                }
                (None, None) => None,
            };
            let frontend = fe.map(|_| match router.map(|r| r.state) {
                Some(TrState::Voting | TrState::Commit) => FeState::Voting,
                _ => FeState::Sending,
            });
            let facility = tx
                .map(|t| t.facility.as_str())
                .or_else(|| be_facility.get(&tid).copied())
                .or_else(|| fe.map(|f| f.1))
                .unwrap_or_default()
                .to_string();
            let client = match (tx, committing) {
                (Some(t), _) => Some(t.client),
                (None, Some(c)) if !c.gone => Some(c.client),
                _ => fe.map(|f| f.0),
            };
            be.truncate(MAX_BRANCHES);
            rows.push(TransactionInfo {
                tid,
                facility,
                client,
                client_pid: 0,
                frontend,
                router,
                branches: be,
                age_ms: tx.map(|t| now.saturating_duration_since(t.started).as_millis() as u64),
            });
        }
        cap(rows)
    }
}

#[cfg(test)]
mod tests;
