//! The information classes of `rtr_request_info`: which objects a class
//! lists, the items each object has, how a query selects objects and items,
//! and the text of one answer record.
//!
//! Each class is answered from one management view of the node (the same
//! views `rtr show` prints; see [`crate::protocol::admin`]). One record is
//! produced per object: the requested items as `item=value` lines joined by
//! `\n` (the API adds the terminating NUL). Values never contain a newline
//! or another control character (those are replaced by `?`).
//!
//! The RTR manuals name the calls' arguments and one class
//! (`RTR_INFCLA_BACKEND_TX`, `/INFCLA=BTX`) but not the item lists, so the
//! items are ours; `fdb_f_name`, the manuals' example of a selection item, is
//! accepted wherever `fac_name` is.

use crate::error::{Result, RtrError};
use crate::protocol::admin::{
    clip, AdminError, AdminReply, AdminRequest, FacilityInfo, LinkInfo, PartitionInfo, ServerInfo, TransactionInfo,
    MAX_TEXT,
};

/// Longest selection value (`RTR_MAX_SELVAL_LEN`).
pub const MAX_SELVAL_LEN: usize = 255;

/// The alias of `fac_name` used by the manuals' example (`selitm="fdb_f_name"`).
const FAC_NAME_ALIAS: &str = "fdb_f_name";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoClass {
    Facility,
    Partition,
    Server,
    FrontendTx,
    RouterTx,
    BackendTx,
    Link,
}

/// One item of a class: its name and what it holds.
#[derive(Clone, Copy, Debug)]
pub struct Item {
    pub name: &'static str,
    pub meaning: &'static str,
}

/// A class as the C header presents it.
#[derive(Clone, Copy, Debug)]
pub struct ClassDef {
    pub class: InfoClass,
    /// The class code passed as `infcla` (compared without regard to case).
    pub code: &'static str,
    /// The C macro that names the code (`RTR_INFCLA_BACKEND_TX`).
    pub macro_name: &'static str,
    /// True when HP RTR names the macro; false for our additions.
    pub in_rtr: bool,
    pub objects: &'static str,
    pub items: &'static [Item],
}

const fn item(name: &'static str, meaning: &'static str) -> Item {
    Item { name, meaning }
}

const FACILITY_ITEMS: &[Item] = &[
    item("fac_name", "facility name (upper case)"),
    item("node", "name of the node answering"),
    item("defined", "yes: defined on this node; no: in use here without a definition (implicit)"),
    item("roles", "roles this node plays in it: FE,TR,BE (or -)"),
    item("frontends", "frontend nodes, comma-separated"),
    item("routers", "router nodes, comma-separated"),
    item("backends", "backend nodes, comma-separated"),
    item("clients", "client channels open on it on this node"),
    item("servers", "server channels open on it on this node"),
    item("partitions", "its partitions on this node"),
];

const PARTITION_ITEMS: &[Item] = &[
    item("fac_name", "facility name"),
    item("prt_id", "partition id (what rtr_set_info's rtr_partition_name takes)"),
    item("prt_name", "partition name: the one its servers gave (rtr_keyseg_partition), else the id as text"),
    item("key_range", "key range, as rtr show partition prints it"),
    item("state", "active, no_servers, suspended, standby, wt_tr_ok, lcl_rec or lcl_rec_fail"),
    item("servers", "server channels attached"),
    item("free_servers", "servers waiting for work"),
    item("waiting", "transactions waiting for a free server"),
    item("in_progress", "transactions presented and not finished"),
    item("concurrent", "yes if it allows concurrent servers"),
    item("epoch", "the grant of its key range: the one it is active under, or (standby) the holder's"),
    item("holder", "the node active for its key range, as far as this node knows"),
    item("authority", "the role authority that grants its key range"),
    item("note", "why it is not active, when it is not"),
];

const SERVER_ITEMS: &[Item] = &[
    item("fac_name", "facility name"),
    item("prt_id", "partition id"),
    item("pid", "process id of the server (0 if unknown)"),
    item("connection", "library connection of the server's process"),
    item("channel", "the server's channel id in its process"),
    item("state", "free, busy or voted"),
    item("tid", "transaction it works on (empty if none)"),
    item("unacked", "committed transactions it has not acknowledged yet"),
    item("flags", "concurrent or noconcurrent"),
    item("key_range", "key range"),
];

const FRONTEND_TX_ITEMS: &[Item] = &[
    item("tid", "transaction id: seven hex words, comma-separated"),
    item("fac_name", "facility name"),
    item("state", "SENDING or VOTING"),
    item("client", "client channel as connection.channel"),
    item("client_pid", "process id of the client (0 if unknown)"),
    item("age_ms", "milliseconds since it started (empty if unknown)"),
];

const ROUTER_TX_ITEMS: &[Item] = &[
    item("tid", "transaction id"),
    item("fac_name", "facility name"),
    item("state", "SENDING, VOTING or COMMIT"),
    item("branches", "partitions it touched"),
    item("votes", "branches that voted accept"),
    item("age_ms", "milliseconds since it started (empty if unknown)"),
];

const BACKEND_TX_ITEMS: &[Item] = &[
    item("tid", "transaction id"),
    item("fac_name", "facility name"),
    item("prt_id", "partition of this branch"),
    item("state", "RECEIVING, VOTED, COMMIT or EXCEPTION"),
    item("server", "server channel as connection.channel (empty while it waits for one)"),
    item("invocation", "ORIGINAL, or REPLAY when presented again"),
    item("messages", "messages presented to the server"),
    item("age_ms", "milliseconds since it started (empty if unknown)"),
];

const LINK_ITEMS: &[Item] = &[
    item("node", "the other node"),
    item("state", "state of the link"),
    item("facilities", "facilities shared over it, comma-separated"),
];

/// Every class, in the order the header lists them.
pub const CLASSES: &[ClassDef] = &[
    ClassDef {
        class: InfoClass::Facility,
        code: "fac",
        macro_name: "RTR_INFCLA_FACILITY",
        in_rtr: false,
        objects: "facilities known to the node",
        items: FACILITY_ITEMS,
    },
    ClassDef {
        class: InfoClass::Partition,
        code: "prt",
        macro_name: "RTR_INFCLA_PARTITION",
        in_rtr: false,
        objects: "partitions (key ranges) of the node's backend",
        items: PARTITION_ITEMS,
    },
    ClassDef {
        class: InfoClass::Server,
        code: "srv",
        macro_name: "RTR_INFCLA_SERVER",
        in_rtr: false,
        objects: "server channels attached to the node",
        items: SERVER_ITEMS,
    },
    ClassDef {
        class: InfoClass::FrontendTx,
        code: "ftx",
        macro_name: "RTR_INFCLA_FRONTEND_TX",
        in_rtr: false,
        objects: "transactions of the node's frontend (its clients')",
        items: FRONTEND_TX_ITEMS,
    },
    ClassDef {
        class: InfoClass::RouterTx,
        code: "rtx",
        macro_name: "RTR_INFCLA_ROUTER_TX",
        in_rtr: false,
        objects: "transactions the node routes",
        items: ROUTER_TX_ITEMS,
    },
    ClassDef {
        class: InfoClass::BackendTx,
        code: "btx",
        macro_name: "RTR_INFCLA_BACKEND_TX",
        in_rtr: true,
        objects: "transaction branches (transaction x partition) on the node's backend",
        items: BACKEND_TX_ITEMS,
    },
    ClassDef {
        class: InfoClass::Link,
        code: "lnk",
        macro_name: "RTR_INFCLA_LINK",
        in_rtr: false,
        objects: "links to other nodes",
        items: LINK_ITEMS,
    },
];

impl InfoClass {
    pub fn def(self) -> &'static ClassDef {
        CLASSES.iter().find(|c| c.class == self).unwrap_or(&CLASSES[0])
    }

    /// The class named by `code` (without regard to case).
    pub fn from_code(code: &str) -> Option<InfoClass> {
        CLASSES.iter().find(|c| c.code.eq_ignore_ascii_case(code.trim())).map(|c| c.class)
    }

    /// The management view that answers the class.
    pub fn request(self) -> AdminRequest {
        match self {
            InfoClass::Facility => AdminRequest::ShowFacility,
            InfoClass::Partition => AdminRequest::ShowPartition,
            InfoClass::Server => AdminRequest::ShowServer,
            InfoClass::FrontendTx | InfoClass::RouterTx | InfoClass::BackendTx => AdminRequest::ShowTransaction,
            InfoClass::Link => AdminRequest::ShowLink,
        }
    }

    /// The index of item `name` (without regard to case; `fdb_f_name` is `fac_name`).
    fn item_index(self, name: &str) -> Option<usize> {
        let name = if name.eq_ignore_ascii_case(FAC_NAME_ALIAS) { "fac_name" } else { name };
        self.def().items.iter().position(|i| i.name.eq_ignore_ascii_case(name))
    }
}

/// A checked `rtr_request_info` query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub class: InfoClass,
    /// The selection: item index and the value it must equal; `None`: all objects.
    select: Option<(usize, String)>,
    /// The items to return: (index, name as the caller wrote it).
    get: Vec<(usize, String)>,
}

/// True for an argument that means "everything": empty or `*`.
fn is_all(s: &str) -> bool {
    s.trim().is_empty() || s.trim() == "*"
}

impl Query {
    /// Check the arguments of `rtr_request_info`. Every failure is
    /// `RTR_STS_INVSELITM`: an unknown class, an unknown selection item or
    /// requested item, or a selection value longer than [`MAX_SELVAL_LEN`].
    pub fn parse(infcla: &str, selitm: &str, selval: &str, getitms: &str) -> Result<Query> {
        let bad = |why: String| RtrError::InvalidSelItem(why);
        let class = InfoClass::from_code(infcla).ok_or_else(|| {
            let known: Vec<&str> = CLASSES.iter().map(|c| c.code).collect();
            bad(format!("unknown information class {infcla:?} (known: {})", known.join(", ")))
        })?;
        let items = |what: &str, name: &str| {
            class.item_index(name).ok_or_else(|| {
                let known: Vec<&str> = class.def().items.iter().map(|i| i.name).collect();
                bad(format!("{what} {name:?} is no item of class {} (items: {})", class.def().code, known.join(", ")))
            })
        };
        if selval.len() > MAX_SELVAL_LEN {
            return Err(bad(format!(
                "the selection value has {} characters; at most {MAX_SELVAL_LEN} (RTR_MAX_SELVAL_LEN)",
                selval.len()
            )));
        }
        let select =
            if is_all(selitm) { None } else { Some((items("selection item", selitm.trim())?, selval.to_string())) };
        let get = if is_all(getitms) {
            class.def().items.iter().enumerate().map(|(i, it)| (i, it.name.to_string())).collect()
        } else {
            let mut v = Vec::new();
            for name in getitms.split(',') {
                let name = name.trim();
                if name.is_empty() {
                    return Err(bad(format!("empty item name in {getitms:?}")));
                }
                v.push((items("item", name)?, name.to_string()));
            }
            v
        };
        Ok(Query { class, select, get })
    }

    /// The management request that answers this query.
    pub fn request(&self) -> AdminRequest {
        self.class.request()
    }

    /// The answer records (one per selected object, each the requested items
    /// as `item=value` lines joined by `\n`), and how many objects the node
    /// left out of its view (views are capped, see
    /// [`crate::protocol::admin::MAX_ROWS`]). A refusal from the node is
    /// returned as it is.
    pub fn answer(&self, reply: AdminReply) -> std::result::Result<(Vec<String>, u64), AdminError> {
        let (objects, omitted) = objects(self.class, reply)?;
        let records = objects
            .into_iter()
            .filter(|values| match &self.select {
                None => true,
                Some((i, want)) => values.get(*i).is_some_and(|v| v.eq_ignore_ascii_case(want)),
            })
            .map(|values| {
                let lines: Vec<String> = self
                    .get
                    .iter()
                    .map(|(i, name)| format!("{name}={}", values.get(*i).map_or("", String::as_str)))
                    .collect();
                lines.join("\n")
            })
            .collect();
        Ok((records, omitted))
    }
}

/// A value as it appears in a record: at most [`MAX_TEXT`] bytes, control
/// characters (newline, NUL) replaced by `?` so records stay line-based.
fn text(s: impl Into<String>) -> String {
    let s: String = s.into().chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    clip(s, MAX_TEXT)
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn pair(p: Option<(u32, u32)>) -> String {
    p.map_or(String::new(), |(conn, chan)| format!("{conn}.{chan}"))
}

fn age(ms: Option<u64>) -> String {
    ms.map_or(String::new(), |ms| ms.to_string())
}

/// Every object of the class in the reply, each as its item values in the
/// class's item order.
type Objects = (Vec<Vec<String>>, u64);

fn objects(class: InfoClass, reply: AdminReply) -> std::result::Result<Objects, AdminError> {
    match (class, reply) {
        (_, AdminReply::Failed(e)) => Err(e),
        (InfoClass::Facility, AdminReply::Facilities { node, rows }) => {
            Ok((rows.iter().map(|f| facility(&node, f)).collect(), 0))
        }
        (InfoClass::Partition, AdminReply::Partitions { rows, omitted }) => {
            Ok((rows.iter().map(partition).collect(), omitted))
        }
        (InfoClass::Server, AdminReply::Servers { rows, omitted }) => Ok((rows.iter().map(server).collect(), omitted)),
        (InfoClass::FrontendTx, AdminReply::Transactions { rows, omitted }) => {
            Ok((rows.iter().filter_map(frontend_tx).collect(), omitted))
        }
        (InfoClass::RouterTx, AdminReply::Transactions { rows, omitted }) => {
            Ok((rows.iter().filter_map(router_tx).collect(), omitted))
        }
        (InfoClass::BackendTx, AdminReply::Transactions { rows, omitted }) => {
            Ok((rows.iter().flat_map(backend_tx).collect(), omitted))
        }
        (InfoClass::Link, AdminReply::Links { rows }) => Ok((rows.iter().map(link).collect(), 0)),
        (class, other) => {
            Err(AdminError::Internal(format!("the node answered the {} query with {other:?}", class.def().code)))
        }
    }
}

fn facility(node: &str, f: &FacilityInfo) -> Vec<String> {
    vec![
        text(f.name.as_str()),
        text(node),
        yes(f.defined),
        f.roles.to_string(),
        text(f.frontends.join(",")),
        text(f.routers.join(",")),
        text(f.backends.join(",")),
        f.clients.to_string(),
        f.servers.to_string(),
        f.partitions.to_string(),
    ]
}

fn partition(p: &PartitionInfo) -> Vec<String> {
    vec![
        text(p.facility.as_str()),
        p.id.to_string(),
        text(p.name.as_str()),
        text(p.range.as_str()),
        p.state.name().into(),
        p.servers.to_string(),
        p.free_servers.to_string(),
        p.waiting.to_string(),
        p.in_progress.to_string(),
        yes(p.concurrent),
        p.epoch.to_string(),
        text(p.holder.as_str()),
        text(p.authority.as_str()),
        text(p.note.as_str()),
    ]
}

fn server(s: &ServerInfo) -> Vec<String> {
    vec![
        text(s.facility.as_str()),
        s.partition.to_string(),
        s.pid.to_string(),
        s.conn.to_string(),
        s.channel.to_string(),
        s.state.name().into(),
        s.tid.map_or(String::new(), |t| t.to_string()),
        s.unacked.to_string(),
        text(s.flags.as_str()),
        text(s.range.as_str()),
    ]
}

fn frontend_tx(t: &TransactionInfo) -> Option<Vec<String>> {
    let state = t.frontend?;
    Some(vec![
        t.tid.to_string(),
        text(t.facility.as_str()),
        state.name().into(),
        pair(t.client),
        t.client_pid.to_string(),
        age(t.age_ms),
    ])
}

fn router_tx(t: &TransactionInfo) -> Option<Vec<String>> {
    let r = t.router?;
    Some(vec![
        t.tid.to_string(),
        text(t.facility.as_str()),
        r.state.name().into(),
        r.branches.to_string(),
        r.votes.to_string(),
        age(t.age_ms),
    ])
}

fn backend_tx(t: &TransactionInfo) -> Vec<Vec<String>> {
    t.branches
        .iter()
        .map(|b| {
            vec![
                t.tid.to_string(),
                text(t.facility.as_str()),
                b.partition.to_string(),
                b.state.name().into(),
                pair(b.server),
                if b.uncertain { "REPLAY" } else { "ORIGINAL" }.into(),
                b.messages.to_string(),
                age(t.age_ms),
            ]
        })
        .collect()
}

fn link(l: &LinkInfo) -> Vec<String> {
    vec![text(l.node.as_str()), text(l.state.as_str()), text(l.facilities.join(","))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::admin::PartitionState;

    fn part(fac: &str, id: u64, state: PartitionState) -> PartitionInfo {
        PartitionInfo {
            facility: fac.into(),
            id,
            name: id.to_string(),
            range: "u32@0 [1..=9]".into(),
            state,
            servers: 1,
            free_servers: 1,
            waiting: 0,
            in_progress: 0,
            concurrent: true,
            epoch: 3,
            holder: "be1".into(),
            authority: "local".into(),
            note: String::new(),
            site: String::new(),
            backlog: 0,
        }
    }

    fn partitions() -> AdminReply {
        AdminReply::Partitions {
            rows: vec![part("A", 1, PartitionState::Active), part("B", 2, PartitionState::Suspended)],
            omitted: 0,
        }
    }

    #[test]
    fn every_item_of_every_class_has_a_value() {
        // The value builders and the item tables must list the same items.
        let tx = TransactionInfo {
            tid: crate::Tid::default(),
            facility: "F".into(),
            client: Some((1, 2)),
            client_pid: 7,
            frontend: Some(crate::protocol::admin::FeState::Sending),
            router: Some(crate::protocol::admin::RouterTxInfo {
                state: crate::protocol::admin::TrState::Voting,
                branches: 1,
                votes: 0,
            }),
            branches: vec![crate::protocol::admin::BranchInfo {
                partition: 3,
                state: crate::protocol::admin::BeState::Receiving,
                server: None,
                uncertain: true,
                messages: 1,
            }],
            age_ms: None,
        };
        let lens = [
            (
                InfoClass::Facility,
                facility(
                    "N",
                    &FacilityInfo {
                        name: "F".into(),
                        defined: false,
                        frontends: vec![],
                        routers: vec![],
                        backends: vec![],
                        roles: Default::default(),
                        clients: 0,
                        servers: 0,
                        partitions: 0,
                    },
                )
                .len(),
            ),
            (InfoClass::Partition, partition(&part("A", 1, PartitionState::Active)).len()),
            (InfoClass::FrontendTx, frontend_tx(&tx).unwrap().len()),
            (InfoClass::RouterTx, router_tx(&tx).unwrap().len()),
            (InfoClass::BackendTx, backend_tx(&tx)[0].len()),
            (InfoClass::Link, link(&LinkInfo { node: "n".into(), state: "up".into(), facilities: vec![] }).len()),
        ];
        for (class, n) in lens {
            assert_eq!(n, class.def().items.len(), "{class:?}");
        }
        assert_eq!(backend_tx(&tx)[0][5], "REPLAY");
    }

    #[test]
    fn classes_and_items_are_found_without_regard_to_case() {
        assert_eq!(InfoClass::from_code("BTX"), Some(InfoClass::BackendTx));
        assert_eq!(InfoClass::from_code("Prt"), Some(InfoClass::Partition));
        assert_eq!(InfoClass::from_code("xyz"), None);
        let q = Query::parse("prt", "FDB_F_NAME", "b", "prt_id, State").unwrap();
        let (records, omitted) = q.answer(partitions()).unwrap();
        assert_eq!(records, vec!["prt_id=2\nState=suspended".to_string()]);
        assert_eq!(omitted, 0);
    }

    #[test]
    fn all_items_and_all_objects() {
        for (sel, get) in [("", ""), ("*", "*"), (" * ", "")] {
            let q = Query::parse("prt", sel, "ignored", get).unwrap();
            let (records, _) = q.answer(partitions()).unwrap();
            assert_eq!(records.len(), 2);
            assert!(records[0].starts_with("fac_name=A\nprt_id=1\nprt_name=1\nkey_range=u32@0 [1..=9]\nstate=active\n"));
            assert_eq!(records[0].lines().count(), PARTITION_ITEMS.len());
        }
    }

    #[test]
    fn bad_arguments_are_invselitm() {
        let long = "x".repeat(MAX_SELVAL_LEN + 1);
        for (c, s, v, g) in [
            ("nope", "", "", ""),
            ("prt", "bogus", "1", ""),
            ("prt", "", "", "state,bogus"),
            ("prt", "", "", "state,,prt_id"),
            ("prt", "state", long.as_str(), ""),
        ] {
            let e = Query::parse(c, s, v, g).unwrap_err();
            assert_eq!(e.status(), crate::Status::Invselitm, "{c} {s:?} {g:?}: {e}");
        }
        Query::parse("prt", "state", &"x".repeat(MAX_SELVAL_LEN), "").unwrap();
    }

    #[test]
    fn refusals_and_control_characters() {
        let q = Query::parse("lnk", "", "", "").unwrap();
        let r = q.answer(AdminReply::Failed(AdminError::Timeout("slow".into())));
        assert_eq!(r, Err(AdminError::Timeout("slow".into())));
        let links = AdminReply::Links {
            rows: vec![LinkInfo { node: "a\nb".into(), state: "up".into(), facilities: vec!["F".into(), "G".into()] }],
        };
        assert_eq!(q.answer(links).unwrap().0, vec!["node=a?b\nstate=up\nfacilities=F,G".to_string()]);
        assert!(q.answer(partitions()).is_err(), "a reply of the wrong kind is an error");
    }
}
