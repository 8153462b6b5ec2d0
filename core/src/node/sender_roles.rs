//! Which peer may send which role message: every [`Internal`] message from
//! a linked peer is checked against the roles that peer plays in the
//! facility definitions agreed at its link, before any role acts on it.
//! Without this a linked node could inject votes for tids it has no branch
//! of, announce partitions while being a frontend, or send outcomes
//! without being a router (issue 17).
//!
//! The facility a message is checked under:
//! - the one it names (`facility` field), or else
//! - the one this node holds the message's subject under: the client
//!   channel's facility (to a frontend), the transaction's facility at the
//!   router, the partition's facility at the backend;
//! - when this node holds nothing of the subject (an unknown tid or
//!   partition: the role ignores or merely answers it), the sender must
//!   play the role in at least one facility agreed at its link.
//!
//! | message                                                      | sender must be |
//! |--------------------------------------------------------------|----------------|
//! | `ToRouter::Start`, `Send` (facility named)                   | frontend       |
//! | `ToRouter::ClientAccept`, `ClientPrepare`, `ClientAbort`     | frontend       |
//! | `ToRouter::Acked` (every tid the router knows)               | frontend       |
//! | `ToRouter::Broadcast` to servers (a client's event)          | frontend       |
//! | `ToRouter::Broadcast` to clients (a server's event)          | backend        |
//! | `ToRouter::PartitionUp`, `PartitionDown`, `HandOff`, `Inquire` | backend      |
//! | `ToRouter::Reply`, `Vote`, `VoteWithdrawn`, `Moved`,         |                |
//! | `BranchFailed`, `Durable`, `CommitFailed`, `Adopted`,        |                |
//! | `Inquired`, `Decided`                                        | backend        |
//! | `ToRouter::TookOver`, `JournalLetGo`: also the journal it    |                |
//! | names must be a valid node name listed as a backend of a     |                |
//! | facility in which the sender is a backend (it becomes a path |                |
//! | elsewhere)                                                   | backend        |
//! | every `ToFrontend` message                                   | router         |
//! | every `ToBackend` message                                    | router         |
//!
//! Finer checks (a vote only for a branch the sender holds) stay with the
//! roles, which key branches by (sender, partition) already.

use std::fmt;

use super::{ChanRef, Internal, NodeRef, PartId, ToBackend, ToFrontend, ToRouter};
use crate::facility::RoleList;
use crate::tid::Tid;

use super::topology::Topology;

/// What this node holds a message's subject under (see the module doc).
pub(super) trait Holdings {
    /// The facility of this node's client channel.
    fn client_facility(&self, client: ChanRef) -> Option<&str>;
    /// The facility of a transaction this node's router coordinates.
    fn tx_facility(&self, tid: Tid) -> Option<&str>;
    /// The facility of this node's backend partition.
    fn part_facility(&self, part: PartId) -> Option<&str>;
}

/// Why a peer's message was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The sender does not play `needs` in `facility` (None: in any
    /// facility agreed at its link).
    Role { kind: &'static str, needs: RoleList, facility: Option<String> },
    /// A journal name that is not a node name, or not a backend of a
    /// facility the sender is a backend of (`kind`: the message naming it).
    Journal { kind: &'static str, name: String, why: &'static str },
}

impl Refusal {
    /// The message kind, for "logged once per (peer, kind)".
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Role { kind, .. } => kind,
            Refusal::Journal { kind, .. } => kind,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Role { kind, needs, facility: Some(fac) } => {
                write!(f, "{kind} needs a {} of facility {fac}", needs.name())
            }
            Refusal::Role { kind, needs, facility: None } => {
                write!(f, "{kind} needs a {} of a facility shared with this node", needs.name())
            }
            // The name comes from the peer: shown escaped and cut short.
            Refusal::Journal { kind, name, why } => {
                let shown: String = name.chars().take(64).collect();
                write!(f, "{kind} names journal {shown:?}, {why}")
            }
        }
    }
}

/// May linked peer `from` send `msg` here? (See the module doc's table.)
pub(super) fn allowed(topo: &Topology, from: NodeRef, msg: &Internal, held: &impl Holdings) -> Result<(), Refusal> {
    let check = Check { topo, from, kind: kind(msg) };
    match msg {
        Internal::Tr(m) => match m {
            ToRouter::Start { facility, .. } | ToRouter::Send { facility, .. } => {
                check.plays(RoleList::Frontend, Some(facility))
            }
            ToRouter::ClientAccept { tid, .. }
            | ToRouter::ClientPrepare { tid, .. }
            | ToRouter::ClientAbort { tid, .. } => check.plays(RoleList::Frontend, held.tx_facility(*tid)),
            ToRouter::Acked { tids } => {
                check.plays(RoleList::Frontend, None)?;
                tids.iter().try_for_each(|t| match held.tx_facility(*t) {
                    Some(f) => check.plays(RoleList::Frontend, Some(f)),
                    None => Ok(()),
                })
            }
            ToRouter::Broadcast { facility, to_servers, .. } => {
                let needs = if *to_servers { RoleList::Frontend } else { RoleList::Backend };
                check.plays(needs, Some(facility))
            }
            ToRouter::PartitionUp { facility, .. }
            | ToRouter::PartitionDown { facility, .. }
            | ToRouter::HandOff { facility, .. }
            | ToRouter::ShadowLog { facility, .. }
            | ToRouter::ShadowApplied { facility, .. }
            | ToRouter::Inquire { facility, .. } => check.plays(RoleList::Backend, Some(facility)),
            ToRouter::Reply { tid, .. }
            | ToRouter::Vote { tid, .. }
            | ToRouter::VoteWithdrawn { tid, .. }
            | ToRouter::Moved { tid, .. }
            | ToRouter::BranchFailed { tid, .. }
            | ToRouter::Durable { tid }
            | ToRouter::CopyGivenUp { tid, .. }
            | ToRouter::CommitFailed { tid, .. }
            | ToRouter::Adopted { tid, .. }
            | ToRouter::Inquired { tid, .. }
            | ToRouter::Decided { tid, .. }
            | ToRouter::DrivenElsewhere { tid, .. } => check.plays(RoleList::Backend, held.tx_facility(*tid)),
            ToRouter::TookOver { node, .. } => {
                check.plays(RoleList::Backend, None)?;
                took_over_journal(topo, from, node, "TookOver")
            }
            ToRouter::JournalLetGo { node, .. } => {
                check.plays(RoleList::Backend, None)?;
                took_over_journal(topo, from, node, "JournalLetGo")
            }
        },
        Internal::Fe(m) => match m {
            ToFrontend::Broadcast { facility, .. } => check.plays(RoleList::Router, Some(facility)),
            ToFrontend::Returned { client, .. }
            | ToFrontend::Prepared { client, .. }
            | ToFrontend::Reply { client, .. }
            | ToFrontend::Outcome { client, .. } => check.plays(RoleList::Router, held.client_facility(*client)),
        },
        Internal::Be(m) => match m {
            ToBackend::Forget { .. } => check.plays(RoleList::Router, None),
            ToBackend::Inquire { facility, .. } | ToBackend::Broadcast { facility, .. } => {
                check.plays(RoleList::Router, Some(facility))
            }
            ToBackend::Msg { part, .. }
            | ToBackend::VoteRequest { part, .. }
            | ToBackend::Adopt { part, .. }
            | ToBackend::HandedOff { part, .. }
            | ToBackend::GiveBack { part, .. }
            | ToBackend::Holder { part, .. }
            | ToBackend::Superseded { part, .. }
            | ToBackend::Refused { part }
            | ToBackend::ShadowPartner { part, .. }
            | ToBackend::ShadowLog { part, .. }
            | ToBackend::ShadowApplied { part, .. } => check.plays(RoleList::Router, held.part_facility(*part)),
            ToBackend::Outcome { parts, .. } => {
                check.plays(RoleList::Router, None)?;
                parts.iter().try_for_each(|p| match held.part_facility(*p) {
                    Some(f) => check.plays(RoleList::Router, Some(f)),
                    None => Ok(()),
                })
            }
            ToBackend::Shipped { parts, unsure, .. } => {
                check.plays(RoleList::Router, None)?;
                parts.iter().chain(unsure).try_for_each(|p| match held.part_facility(*p) {
                    Some(f) => check.plays(RoleList::Router, Some(f)),
                    None => Ok(()),
                })
            }
        },
    }
}

/// Is `name` usable as the journal a backend `from` took over? It becomes
/// a directory name under the shared journal root where journals are
/// taken over, and a key of the routers' "who read whose journal": it
/// must be a node name (no '/', no "..") listed as a backend of a facility
/// of this node in which `from` is a backend too.
pub(super) fn took_over_journal(topo: &Topology, from: NodeRef, name: &str, kind: &'static str) -> Result<(), Refusal> {
    let refuse = |why| Err(Refusal::Journal { kind, name: name.to_string(), why });
    match crate::facility::node_name(name) {
        Ok(n) if n == name => {}
        // Names travel normalised (lower case): anything else is not one.
        _ => return refuse("not a node name"),
    }
    let shared = topo.facilities.defs().any(|d| {
        d.nodes(RoleList::Backend).iter().any(|n| n == name) && topo.peer_plays(from, d.name(), RoleList::Backend)
    });
    if shared {
        Ok(())
    } else {
        refuse("not a backend of a facility the sender serves")
    }
}

struct Check<'a> {
    topo: &'a Topology,
    from: NodeRef,
    kind: &'static str,
}

impl Check<'_> {
    /// Does the sender play `needs` in `facility` (None: in any facility
    /// agreed at its link)?
    fn plays(&self, needs: RoleList, facility: Option<&str>) -> Result<(), Refusal> {
        let ok = match facility {
            Some(f) => self.topo.peer_plays(self.from, f, needs),
            None => self
                .topo
                .peers
                .get(&self.from)
                .is_some_and(|p| p.facilities.keys().any(|f| self.topo.peer_plays(self.from, f, needs))),
        };
        if ok {
            Ok(())
        } else {
            Err(Refusal::Role { kind: self.kind, needs, facility: facility.map(str::to_string) })
        }
    }
}

/// The message's name, for logs.
pub(super) fn kind(msg: &Internal) -> &'static str {
    match msg {
        Internal::Tr(m) => match m {
            ToRouter::Acked { .. } => "ToRouter::Acked",
            ToRouter::Start { .. } => "ToRouter::Start",
            ToRouter::Send { .. } => "ToRouter::Send",
            ToRouter::ClientAccept { .. } => "ToRouter::ClientAccept",
            ToRouter::ClientPrepare { .. } => "ToRouter::ClientPrepare",
            ToRouter::ClientAbort { .. } => "ToRouter::ClientAbort",
            ToRouter::Reply { .. } => "ToRouter::Reply",
            ToRouter::Vote { .. } => "ToRouter::Vote",
            ToRouter::VoteWithdrawn { .. } => "ToRouter::VoteWithdrawn",
            ToRouter::Moved { .. } => "ToRouter::Moved",
            ToRouter::BranchFailed { .. } => "ToRouter::BranchFailed",
            ToRouter::Durable { .. } => "ToRouter::Durable",
            ToRouter::CopyGivenUp { .. } => "ToRouter::CopyGivenUp",
            ToRouter::CommitFailed { .. } => "ToRouter::CommitFailed",
            ToRouter::HandOff { .. } => "ToRouter::HandOff",
            ToRouter::Adopted { .. } => "ToRouter::Adopted",
            ToRouter::PartitionUp { .. } => "ToRouter::PartitionUp",
            ToRouter::Broadcast { .. } => "ToRouter::Broadcast",
            ToRouter::TookOver { .. } => "ToRouter::TookOver",
            ToRouter::JournalLetGo { .. } => "ToRouter::JournalLetGo",
            ToRouter::PartitionDown { .. } => "ToRouter::PartitionDown",
            ToRouter::Inquire { .. } => "ToRouter::Inquire",
            ToRouter::Inquired { .. } => "ToRouter::Inquired",
            ToRouter::Decided { .. } => "ToRouter::Decided",
            ToRouter::DrivenElsewhere { .. } => "ToRouter::DrivenElsewhere",
            ToRouter::ShadowLog { .. } => "ToRouter::ShadowLog",
            ToRouter::ShadowApplied { .. } => "ToRouter::ShadowApplied",
        },
        Internal::Fe(m) => match m {
            ToFrontend::Broadcast { .. } => "ToFrontend::Broadcast",
            ToFrontend::Returned { .. } => "ToFrontend::Returned",
            ToFrontend::Prepared { .. } => "ToFrontend::Prepared",
            ToFrontend::Reply { .. } => "ToFrontend::Reply",
            ToFrontend::Outcome { .. } => "ToFrontend::Outcome",
        },
        Internal::Be(m) => match m {
            ToBackend::Forget { .. } => "ToBackend::Forget",
            ToBackend::Msg { .. } => "ToBackend::Msg",
            ToBackend::VoteRequest { .. } => "ToBackend::VoteRequest",
            ToBackend::Inquire { .. } => "ToBackend::Inquire",
            ToBackend::Broadcast { .. } => "ToBackend::Broadcast",
            ToBackend::Adopt { .. } => "ToBackend::Adopt",
            ToBackend::HandedOff { .. } => "ToBackend::HandedOff",
            ToBackend::GiveBack { .. } => "ToBackend::GiveBack",
            ToBackend::Holder { .. } => "ToBackend::Holder",
            ToBackend::Superseded { .. } => "ToBackend::Superseded",
            ToBackend::Refused { .. } => "ToBackend::Refused",
            ToBackend::ShadowPartner { .. } => "ToBackend::ShadowPartner",
            ToBackend::ShadowLog { .. } => "ToBackend::ShadowLog",
            ToBackend::ShadowApplied { .. } => "ToBackend::ShadowApplied",
            ToBackend::Shipped { .. } => "ToBackend::Shipped",
            ToBackend::Outcome { .. } => "ToBackend::Outcome",
        },
    }
}
