//! The node's views follow a transaction through every role, and the
//! facility definitions decide which channels may open.

use std::time::{Duration, Instant};

use super::*;
use crate::facility::{FacilityDef, FacilityStore};
use crate::flags;
use crate::keyseg::{KeyRange, KeySegment, KeyType};
use crate::msgtype::MsgType;
use crate::node::Output;
use crate::protocol::{Bytes, ChanId, ConnId, Delivery, Payload, Request, Role};
use crate::status::Status;

const CLIENT: ConnId = 1;
const SERVERS: ConnId = 2;

struct H {
    node: Node,
    now: Instant,
    seq: u64,
    tokens: Vec<u64>,
}

fn range(lo: u32, hi: u32) -> KeyRange {
    let seg = KeySegment::new(0, KeyType::Unsigned, 4, 0, Some(&lo.to_ne_bytes()), Some(&hi.to_ne_bytes())).unwrap();
    KeyRange::new(vec![seg]).unwrap()
}

fn msg(key: u32) -> Bytes {
    let mut v = key.to_ne_bytes().to_vec();
    v.extend_from_slice(b"body");
    Bytes::from(v)
}

impl H {
    fn new(journal: bool) -> H {
        H { node: Node::new(journal), now: Instant::now(), seq: 0, tokens: Vec::new() }
    }
    fn req(&mut self, conn: ConnId, r: Request) -> Vec<(ConnId, Delivery)> {
        self.node.handle_request(self.now, conn, r);
        let mut d = Vec::new();
        for o in crate::node::tests::lone_outputs(&mut self.node, self.now) {
            match o {
                Output::Deliver { conn, delivery } => d.push((conn, delivery)),
                Output::Journal { token, .. } => self.tokens.extend(token),
                _ => {}
            }
        }
        d
    }
    fn open(&mut self, conn: ConnId, chan: ChanId, role: Role, facility: &str, r: KeyRange) -> Delivery {
        let fl = if role == Role::Client { flags::ope::CLIENT } else { flags::ope::SERVER };
        let d = self.req(conn, Request::Open { chan, role, facility: facility.into(), flags: fl, range: r });
        d.into_iter().next().expect("an answer to the open").1
    }
    fn tid(&mut self) -> Tid {
        self.seq += 1;
        Tid { node: 1, incarnation: 1, conn: CLIENT, seq: self.seq }
    }
    fn tx(&self, tid: Tid) -> TransactionInfo {
        let (rows, omitted) = self.node.show_transactions(self.now);
        assert_eq!(omitted, 0);
        rows.into_iter().find(|t| t.tid == tid).unwrap_or_else(|| panic!("{tid} is not shown"))
    }
    fn server(&self, chan: ChanId) -> ServerInfo {
        self.node.show_servers().0.into_iter().find(|s| s.channel == chan).expect("the server is shown")
    }
}

fn status_of(d: &Delivery) -> Status {
    match d.payload {
        Payload::Status { status, .. } => status,
        _ => panic!("no status in {d:?}"),
    }
}

/// (name, frontends, routers, backends)
type Def<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);

fn table(node: &str, defs: &[Def]) -> FacilityTable {
    let mut s = FacilityStore::in_memory(node);
    let v = |l: &[&str]| l.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for (name, fe, tr, be) in defs {
        s.create(FacilityDef::new(name, &v(fe), &v(tr), &v(be)).unwrap()).unwrap();
    }
    s.table().clone()
}

#[test]
fn one_transaction_seen_by_every_role_from_send_to_acknowledged_commit() {
    let mut h = H::new(false);
    for chan in [10, 11] {
        assert_eq!(h.open(SERVERS, chan, Role::Server, "F", range(0, 100)).msgtype, MsgType::Opened);
    }
    assert_eq!(h.open(SERVERS, 12, Role::Server, "F", range(101, 200)).msgtype, MsgType::Opened);
    assert_eq!(h.open(CLIENT, 1, Role::Client, "F", KeyRange::default()).msgtype, MsgType::Opened);
    let t = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t, flags: 0, data: msg(5) });
    h.req(CLIENT, Request::Send { chan: 1, tid: t, flags: 0, data: msg(6) });
    h.now += Duration::from_millis(250);

    // Sending: the client has not accepted; one branch, on server 10.
    let x = h.tx(t);
    assert_eq!(x.facility, "F");
    assert_eq!(x.client, Some((CLIENT, 1)));
    assert_eq!(x.frontend, Some(FeState::Sending));
    assert_eq!(x.router, Some(RouterTxInfo { state: TrState::Sending, branches: 1, votes: 0 }));
    assert_eq!(
        x.branches,
        vec![BranchInfo {
            partition: 1,
            state: BeState::Receiving,
            server: Some((SERVERS, 10)),
            uncertain: false,
            messages: 2
        }]
    );
    assert!(x.age_ms.is_some_and(|ms| ms >= 250), "{x:?}");
    let (parts, _) = h.node.show_partitions();
    assert_eq!(parts.len(), 2);
    let p1 = &parts[0];
    assert_eq!((p1.facility.as_str(), p1.id, p1.range.as_str()), ("F", 1, "u32@0 [0..=100]"));
    assert_eq!(p1.state, PartitionState::Active);
    assert_eq!((p1.servers, p1.free_servers, p1.waiting, p1.in_progress), (2, 1, 0, 1));
    assert!(p1.concurrent);
    assert_eq!((parts[1].id, parts[1].servers, parts[1].in_progress), (2, 1, 0));
    let s10 = h.server(10);
    assert_eq!((s10.state, s10.tid, s10.partition, s10.flags.as_str()), (ServerState::Busy, Some(t), 1, "concurrent"));
    assert_eq!(h.server(11).state, ServerState::Free);

    // A second partition joins; the client accepts: voting everywhere.
    h.req(CLIENT, Request::Send { chan: 1, tid: t, flags: 0, data: msg(150) });
    h.req(CLIENT, Request::Accept { chan: 1, tid: t, flags: 0, reason: 0, implicit: false });
    h.req(SERVERS, Request::Accept { chan: 10, tid: t, flags: 0, reason: 0, implicit: false });
    let x = h.tx(t);
    assert_eq!(x.frontend, Some(FeState::Voting));
    assert_eq!(x.router, Some(RouterTxInfo { state: TrState::Voting, branches: 2, votes: 1 }));
    let states: Vec<_> = x.branches.iter().map(|b| (b.partition, b.state, b.server)).collect();
    assert_eq!(states, vec![(1, BeState::Voted, Some((SERVERS, 10))), (2, BeState::Receiving, Some((SERVERS, 12)))]);
    assert_eq!(h.server(10).state, ServerState::Voted);

    // The last vote commits: the client has its outcome, the servers owe
    // their acknowledgements.
    let d = h.req(SERVERS, Request::Accept { chan: 12, tid: t, flags: 0, reason: 0, implicit: false });
    assert!(d.iter().any(|(c, d)| *c == CLIENT && d.msgtype == MsgType::Accepted));
    let x = h.tx(t);
    assert_eq!((x.frontend, x.router, x.age_ms), (None, None, None));
    assert!(x.branches.iter().all(|b| b.state == BeState::Commit), "{x:?}");
    let s10 = h.server(10);
    assert_eq!((s10.state, s10.tid, s10.unacked), (ServerState::Free, None, 1));
    for chan in [10, 12] {
        h.req(SERVERS, Request::Ack { chan, tid: t });
    }
    assert!(h.node.show_transactions(h.now).0.is_empty());
    assert_eq!(h.server(10).unacked, 0);
}

#[test]
fn a_journaled_commit_shows_commit_at_the_router_until_it_is_durable() {
    let mut h = H::new(true);
    h.open(SERVERS, 10, Role::Server, "F", range(0, 100));
    h.open(CLIENT, 1, Role::Client, "F", KeyRange::default());
    let t = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t, flags: flags::sen::ACCEPT, data: msg(1) });
    h.req(SERVERS, Request::Accept { chan: 10, tid: t, flags: 0, reason: 0, implicit: false });
    let x = h.tx(t);
    assert_eq!(x.frontend, Some(FeState::Voting));
    assert_eq!(x.router, Some(RouterTxInfo { state: TrState::Commit, branches: 1, votes: 1 }));
    assert_eq!(x.client, Some((CLIENT, 1)));
    assert_eq!(x.branches[0].state, BeState::Voted);
    let token = h.tokens.pop().expect("a synced commit record");
    h.node.journal_done(h.now, token, Ok(()));
    let x = h.tx(t);
    assert_eq!((x.frontend, x.router), (None, None));
    assert_eq!(x.branches[0].state, BeState::Commit);
}

#[test]
fn a_partition_whose_last_server_died_holds_its_work_and_says_so() {
    let mut h = H::new(false);
    h.open(SERVERS, 10, Role::Server, "F", range(0, 100));
    h.open(CLIENT, 1, Role::Client, "F", KeyRange::default());
    let t = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t, flags: 0, data: msg(1) });
    h.req(SERVERS, Request::Close { chan: 10 });
    let (parts, _) = h.node.show_partitions();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].state, PartitionState::NoServers);
    assert_eq!((parts[0].servers, parts[0].free_servers, parts[0].waiting, parts[0].in_progress), (0, 0, 1, 0));
    let x = h.tx(t);
    assert_eq!(x.branches[0].server, None);
    assert_eq!(x.branches[0].state, BeState::Receiving);
    assert!(h.node.show_servers().0.is_empty());
    // A new server takes it; the partition is active again.
    h.open(SERVERS, 11, Role::Server, "F", range(0, 100));
    assert_eq!(h.node.show_partitions().0[0].state, PartitionState::Active);
    assert_eq!(h.tx(t).branches[0].server, Some((SERVERS, 11)));
}

#[test]
fn a_server_lost_after_voting_leaves_its_branch_uncertain() {
    let mut h = H::new(false);
    h.open(SERVERS, 10, Role::Server, "F", range(0, 100));
    h.open(SERVERS, 11, Role::Server, "F", range(0, 100));
    h.open(CLIENT, 1, Role::Client, "F", KeyRange::default());
    let t = h.tid();
    h.req(CLIENT, Request::Send { chan: 1, tid: t, flags: 0, data: msg(1) });
    h.req(SERVERS, Request::Accept { chan: 10, tid: t, flags: 0, reason: 0, implicit: false });
    assert_eq!(h.tx(t).router.map(|r| r.votes), Some(1));
    h.req(SERVERS, Request::Close { chan: 10 });
    let x = h.tx(t);
    assert_eq!(x.router.map(|r| r.votes), Some(0));
    let b = x.branches[0];
    assert_eq!((b.state, b.server, b.uncertain), (BeState::Receiving, Some((SERVERS, 11)), true));
}

#[test]
fn definitions_decide_which_channels_open_and_undefined_facilities_are_implicit() {
    let mut h = H::new(false);
    h.node.set_facilities(table(
        "alpha",
        &[
            ("FEONLY", &["alpha"], &["beta"], &["beta"]),
            ("BEONLY", &["beta"], &["beta"], &["alpha", "gamma"]),
            ("ALL", &["alpha"], &["alpha"], &["alpha"]),
        ],
    ));
    let d = h.open(CLIENT, 1, Role::Client, "BEONLY", KeyRange::default());
    assert_eq!((d.chan, d.msgtype, status_of(&d)), (1, MsgType::Closed, Status::Notfrontend));
    let d = h.open(SERVERS, 10, Role::Server, "FEONLY", range(0, 9));
    assert_eq!((d.chan, d.msgtype, status_of(&d)), (10, MsgType::Closed, Status::Notbackend));
    // A refused channel is not the node's: requests on it do nothing.
    assert!(h.req(CLIENT, Request::Send { chan: 1, tid: Tid::default(), flags: 0, data: msg(1) }).is_empty());
    for (conn, chan, role, fac) in [
        (CLIENT, 2, Role::Client, "FEONLY"),
        (SERVERS, 11, Role::Server, "BEONLY"),
        (CLIENT, 3, Role::Client, "ALL"),
        (SERVERS, 12, Role::Server, "ALL"),
        (CLIENT, 4, Role::Client, "ELSEWHERE"),
        (SERVERS, 13, Role::Server, "ELSEWHERE"),
    ] {
        assert_eq!(h.open(conn, chan, role, fac, range(0, 9)).msgtype, MsgType::Opened, "{fac} {role:?}");
    }
    let rows = h.node.show_facilities();
    let names: Vec<_> = rows.iter().map(|f| (f.name.as_str(), f.defined, f.roles.to_string())).collect();
    assert_eq!(
        names,
        vec![
            ("ALL", true, "FE,TR,BE".to_string()),
            ("BEONLY", true, "BE".to_string()),
            ("FEONLY", true, "FE".to_string()),
            ("ELSEWHERE", false, "FE,TR,BE".to_string()),
        ]
    );
    let be = &rows[1];
    assert_eq!(be.backends, ["alpha", "gamma"]);
    assert_eq!((be.clients, be.servers, be.partitions), (0, 1, 1));
    let implicit = &rows[3];
    assert_eq!(
        (implicit.frontends.as_slice(), implicit.backends.as_slice()),
        (&["alpha".to_string()][..], &["alpha".to_string()][..])
    );
    assert_eq!((implicit.clients, implicit.servers, implicit.partitions), (1, 1, 1));
    assert_eq!(h.node.channels_on("ALL"), (1, 1));
    // Deleting the definitions leaves open channels open; the facility
    // shows as implicit, and every channel may open again.
    h.node.set_facilities(FacilityTable::new("alpha"));
    assert!(h.node.show_facilities().iter().all(|f| !f.defined));
    assert_eq!(h.open(CLIENT, 5, Role::Client, "BEONLY", KeyRange::default()).msgtype, MsgType::Opened);
}
