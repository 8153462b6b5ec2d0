//! Which node plays which role in each facility, as seen from this node:
//! its own facility definitions plus the peers linked to it right now.
//!
//! The roles ask the topology where to send: a frontend its current router
//! (the first linked one in the definition's router order), a backend every
//! router it must register its partitions with. An undefined (implicit)
//! facility has every role on this node and needs no peer.

use super::Map;

use super::{NodeRef, LOCAL};
use crate::facility::{FacilityTable, RoleList, Roles};

/// A linked peer, as its handshake described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its node name (normalised, lower case).
    pub name: String,
    /// The facilities both ends agreed on, with the roles the peer plays in each.
    pub facilities: std::collections::BTreeMap<String, Roles>,
}

#[derive(Default)]
pub struct Topology {
    pub facilities: FacilityTable,
    /// Peers whose link is up.
    pub peers: Map<NodeRef, PeerInfo>,
}

impl Topology {
    /// Is `node` this node or a linked peer?
    pub fn is_up(&self, node: NodeRef) -> bool {
        node == LOCAL || self.peers.contains_key(&node)
    }

    /// The newest link up to the peer named `name` (links are numbered in
    /// the order they came up; a peer that linked again may briefly hold
    /// two).
    pub fn newest_link(&self, name: &str) -> Option<NodeRef> {
        self.peers.iter().filter(|(_, p)| p.name == name).map(|(r, _)| *r).max()
    }

    /// The nodes playing `role` in `facility` that can be reached now, in
    /// the definition's order. An implicit facility: this node alone.
    pub fn reachable(&self, facility: &str, role: RoleList) -> Vec<NodeRef> {
        let Some(def) = self.facilities.get(facility) else {
            return vec![LOCAL];
        };
        let me = self.facilities.node();
        let plays = |r: Roles| match role {
            RoleList::Frontend => r.frontend,
            RoleList::Router => r.router,
            RoleList::Backend => r.backend,
        };
        let mut out = Vec::new();
        for name in def.nodes(role) {
            if name == me {
                out.push(LOCAL);
                continue;
            }
            let peer = self
                .peers
                .iter()
                .find(|(_, p)| p.name == *name && p.facilities.get(def.name()).is_some_and(|r| plays(*r)));
            if let Some((id, _)) = peer {
                out.push(*id);
            }
        }
        out
    }

    /// The routers of `facility` reachable now, preferred first.
    pub fn routers(&self, facility: &str) -> Vec<NodeRef> {
        self.reachable(facility, RoleList::Router)
    }

    /// The preferred reachable router of `facility` (no allocation in the
    /// common case of a node with no peers: every transaction asks).
    pub fn first_router(&self, facility: &str) -> Option<NodeRef> {
        if self.peers.is_empty() {
            return match self.facilities.get(facility) {
                None => Some(LOCAL),
                Some(_) if self.facilities.roles(facility).router => Some(LOCAL),
                Some(_) => None,
            };
        }
        self.routers(facility).first().copied()
    }

    /// Does peer `node` play `role` in `facility`?
    pub fn peer_plays(&self, node: NodeRef, facility: &str, role: RoleList) -> bool {
        self.peers.get(&node).and_then(|p| p.facilities.get(facility)).is_some_and(|r| match role {
            RoleList::Frontend => r.frontend,
            RoleList::Router => r.router,
            RoleList::Backend => r.backend,
        })
    }

    /// The name of a node, for logs and `show` commands.
    pub fn name(&self, node: NodeRef) -> &str {
        if node == LOCAL {
            return self.facilities.node();
        }
        self.peers.get(&node).map_or("?", |p| p.name.as_str())
    }
}
