//! Several nodes wired together in memory: the roles of one facility spread
//! over a frontend, two routers and a backend, links as FIFO queues, and
//! node deaths as links going down everywhere at once. Deterministic, no
//! threads: each test stops the world at a chosen point, kills a router and
//! checks that every transaction ends once, with one outcome, its messages
//! delivered to the server once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::*;
use crate::authority::mem::{MemAuthority, MemHandle};
use crate::authority::Authority;
use crate::facility::{FacilityDef, FacilityTable};
use crate::flags;
use crate::journal::Record;
use crate::keyseg::{KeySegment, KeyType};
use crate::msgtype::MsgType;
use crate::node::backend::CLAIM_RETRY;
use crate::protocol::{Bytes, Payload};

const FE: usize = 0;
const TR1: usize = 1;
const TR2: usize = 2;
const BE: usize = 3;
/// A second backend (keys 1001 to 2000); its server opens only where a test asks.
const BE2: usize = 4;
/// A third backend, only in a cluster made with it (`Cluster::with_be3`).
const BE3: usize = 5;
const NAMES: [&str; 6] = ["fe", "tr1", "tr2", "be", "be2", "be3"];
const CLIENT: ConnId = 1;
const SERVER: ConnId = 2;

struct Cluster {
    nodes: Vec<Option<Node>>,
    /// The role authority the nodes share, and each live node's handle.
    authority: MemAuthority,
    auth: Vec<Option<MemHandle>>,
    now: Instant,
    /// Messages on the wire: (from, to, message), in order.
    wire: VecDeque<(usize, usize, Internal)>,
    /// Deliveries to applications: (node, conn, delivery).
    delivered: Vec<(usize, ConnId, Delivery)>,
    /// Event numbers of the RTR events delivered, in order.
    delivered_events: Vec<i32>,
    /// Synced journal writes not yet reported durable: (node, token).
    syncs: Vec<(usize, u64)>,
    /// Every node's own journal, as written (durable or not: the sim keeps all).
    journals: Vec<Vec<Record>>,
    /// Writes to taken-over journals: (node, journal id, records).
    adopted_writes: Vec<(usize, u32, usize)>,
    /// The records of those writes: (node, journal id, record). A test
    /// that starts a lost node again on its journal adds them to it.
    adopted_records: Vec<(usize, u32, Record)>,
    /// Taken-over journals released: (node, journal id).
    released: Vec<(usize, u32)>,
    /// When set, journal takeovers wait here (node, lost node, journal id)
    /// until the test finishes them (`finish_takeovers`).
    defer_takeovers: Option<Vec<(usize, String, u32)>>,
    seq: u64,
    /// Each journal's owner epoch (by node index): raised by every open
    /// (a restart) and every takeover, as the journal's epoch file is.
    epochs: Vec<u64>,
    /// The facility's definition (backends be and be2, and be3 where a
    /// test asks for it): a restarted node gets it again.
    def: FacilityDef,
    /// Links made again under a new id (`relink_anew`): node `.0` knows
    /// node `.2` as `.1` (otherwise as `peer_ref`).
    aliases: Vec<(usize, NodeRef, usize)>,
}

/// The id node `at` gives its link to node `to`.
/// A delivery as `Cluster::take` gives it: (chan, type, tid, status).
type Seen = (ChanId, MsgType, Option<Tid>, Option<Status>);

fn peer_ref(to: usize) -> NodeRef {
    to as NodeRef + 1
}

fn range(lo: u32, hi: u32) -> KeyRange {
    let seg = KeySegment::new(0, KeyType::Unsigned, 4, 0, Some(&lo.to_ne_bytes()), Some(&hi.to_ne_bytes())).unwrap();
    KeyRange::new(vec![seg]).unwrap()
}

fn msg(key: u32, body: &str) -> Bytes {
    let mut v = key.to_ne_bytes().to_vec();
    v.extend_from_slice(body.as_bytes());
    Bytes::from(v)
}

impl Cluster {
    /// Facility F: frontend fe, routers tr1 then tr2, backends be and be2 (journaled).
    fn new() -> Cluster {
        Cluster::with_backends(&["be", "be2"])
    }

    /// [`Cluster::new`] with a third backend, be3 (journaled), after be2.
    fn with_be3() -> Cluster {
        Cluster::with_backends(&["be", "be2", "be3"])
    }

    /// Facility F with `backends`: a node named nowhere in it (be3 unless
    /// asked for) does not exist.
    fn with_backends(backends: &[&str]) -> Cluster {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let def = FacilityDef::new("F", &s(&["fe"]), &s(&["tr1", "tr2"]), &s(backends)).unwrap();
        let exists = |name: &str| name != "be3" || backends.contains(&name);
        let mut nodes = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            if !exists(name) {
                nodes.push(None);
                continue;
            }
            let mut n = Node::new(i >= BE);
            let mut t = FacilityTable::new(name);
            t.insert(def.clone());
            n.set_facilities(t);
            nodes.push(Some(n));
        }
        let authority = MemAuthority::new();
        let mut c = Cluster {
            auth: NAMES.iter().map(|n| exists(n).then(|| authority.handle(n))).collect(),
            authority,
            nodes,
            now: Instant::now(),
            wire: VecDeque::new(),
            delivered: Vec::new(),
            delivered_events: Vec::new(),
            syncs: Vec::new(),
            journals: vec![Vec::new(); NAMES.len()],
            adopted_writes: Vec::new(),
            adopted_records: Vec::new(),
            released: Vec::new(),
            defer_takeovers: None,
            seq: 0,
            epochs: vec![1; NAMES.len()],
            aliases: Vec::new(),
            def,
        };
        // Every pair the definition calls for is linked.
        c.link_all(|_, _| true);
        c
    }

    fn node(&mut self, i: usize) -> &mut Node {
        self.nodes[i].as_mut().expect("a live node")
    }

    /// Collect every node's output; then carry wire messages until the wire is empty.
    fn pump(&mut self) {
        loop {
            self.collect();
            let Some((from, to, m)) = self.wire.pop_front() else { return };
            // TRACE_WIRE=1 prints every message carried (for a failing test).
            if std::env::var_os("TRACE_WIRE").is_some() {
                eprintln!("WIRE {from}->{to}: {m:?}");
            }
            let now = self.now;
            let src = self.link_id(to, from);
            if let Some(n) = self.nodes[to].as_mut() {
                n.peer_input(now, src, m);
            }
        }
    }

    /// The id node `at` knows its link to node `to` by.
    fn link_id(&self, at: usize, to: usize) -> NodeRef {
        self.aliases.iter().find(|(n, _, t)| *n == at && *t == to).map_or(peer_ref(to), |a| a.1)
    }

    /// Take every node's output: deliveries, journal records (each node's
    /// own journal is kept, so a standby can take it over), wire messages,
    /// and journal takeovers (carried out at once with the lost node's records).
    fn collect(&mut self) {
        loop {
            let mut takeovers = Vec::new();
            let mut claims = Vec::new();
            let mut checks = Vec::new();
            let mut notes = Vec::new();
            for i in 0..self.nodes.len() {
                let Some(n) = self.nodes[i].as_mut() else { continue };
                for o in n.take_output() {
                    match o {
                        Output::Deliver { conn, delivery } => {
                            if delivery.msgtype == MsgType::RtrEvent {
                                self.delivered_events.push(delivery.evtnum);
                            }
                            self.delivered.push((i, conn, delivery));
                        }
                        Output::Journal { entries, token, jid, .. } => {
                            let n = entries.len();
                            let recs =
                                entries.into_iter().map(|(tid, kind, payload)| Record { epoch: 1, tid, kind, payload });
                            if jid == 0 {
                                self.journals[i].extend(recs);
                            } else {
                                self.adopted_writes.push((i, jid, n));
                                self.adopted_records.extend(recs.map(|r| (i, jid, r)));
                            }
                            if let Some(t) = token {
                                self.syncs.push((i, t));
                            }
                        }
                        Output::Peer { peer, msg } => {
                            let to = self.aliases.iter().find(|(n, r, _)| *n == i && *r == peer).map(|a| a.2);
                            let to = to.unwrap_or(peer as usize - 1);
                            // Sent over a link made again since: lost.
                            if self.link_id(i, to) == peer {
                                self.wire.push_back((i, to, msg));
                            }
                        }
                        Output::Takeover { node, jid } => takeovers.push((i, node, jid)),
                        Output::Release { jid } => self.released.push((i, jid)),
                        Output::Claim { range, force_over } => claims.push((i, range, force_over)),
                        Output::CheckHolder { range, epoch } => checks.push((i, range, epoch)),
                        Output::ReadNote { range, then } => notes.push((i, range, then)),
                        Output::ReleaseRole { range, epoch } => {
                            if let Some(a) = self.auth[i].as_mut() {
                                a.release(&range, epoch).expect("released");
                            }
                        }
                        Output::ActivateRole { range, epoch } => {
                            if let Some(a) = self.auth[i].as_mut() {
                                a.activate(&range, epoch).expect("marked");
                            }
                        }
                        Output::Log(l) | Output::Detail(l) => {
                            // TRACE_LOG=1 prints the nodes' log lines (for a failing test).
                            if std::env::var_os("TRACE_LOG").is_some() {
                                eprintln!("LOG {i}: {l}")
                            }
                        }
                    }
                }
            }
            if takeovers.is_empty() && claims.is_empty() && checks.is_empty() && notes.is_empty() {
                return;
            }
            let now = self.now;
            for (i, range, then) in notes {
                let Some(a) = self.auth[i].as_mut() else { continue };
                let result = a.note(&range).map_err(|e| e.to_string());
                if let Some(n) = self.nodes[i].as_mut() {
                    n.note_read(now, &range, then, result);
                }
            }
            for (i, range, epoch) in checks {
                let Some(a) = self.auth[i].as_mut() else { continue };
                let result = a.holder_gone(&range, epoch).map_err(|e| e.to_string());
                if let Some(n) = self.nodes[i].as_mut() {
                    n.holder_checked(now, &range, epoch, result);
                }
            }
            for (i, range, force_over) in claims {
                let Some(a) = self.auth[i].as_mut() else { continue };
                let result = a.claim(&range, force_over).map_err(|e| e.to_string());
                if let Some(n) = self.nodes[i].as_mut() {
                    n.claimed(now, &range, result);
                }
            }
            if let Some(d) = self.defer_takeovers.as_mut() {
                d.extend(takeovers);
                return;
            }
            let now = self.now;
            for (i, node, jid) in takeovers {
                let lost = NAMES.iter().position(|n| *n == node).expect("a known node");
                let records = self.journals[lost].clone();
                self.epochs[lost] += 1;
                let epoch = self.epochs[lost];
                self.node(i).takeover_done(now, &node, Ok(JournalRead { jid, epoch, records }));
            }
        }
    }

    /// Report every pending synced journal write durable.
    fn sync(&mut self) {
        self.sync_unpumped();
        self.pump();
    }

    /// kill -9 of node `k`: its state is gone, the messages it had sent are
    /// lost, and every other node sees its link go down.
    fn kill(&mut self, k: usize) {
        self.nodes[k] = None;
        self.auth[k] = None;
        self.authority.process_ended(NAMES[k]);
        self.wire.retain(|(f, t, _)| *f != k && *t != k);
        self.syncs.retain(|(i, _)| *i != k);
        let now = self.now;
        for i in 0..self.nodes.len() {
            if let Some(n) = self.nodes[i].as_mut() {
                n.link_down(now, peer_ref(k));
            }
        }
        self.pump();
    }

    fn req(&mut self, node: usize, conn: ConnId, r: Request) {
        let now = self.now;
        self.node(node).handle_request(now, conn, r);
        self.pump();
    }

    fn open_server(&mut self, chan: ChanId, fl: u32) {
        let r = range(0, 1000);
        let open =
            Request::Open { chan, role: Role::Server, facility: "F".into(), flags: flags::ope::SERVER | fl, range: r };
        self.req(BE, SERVER, open);
    }

    fn open_client(&mut self, chan: ChanId) {
        let open = Request::Open {
            chan,
            role: Role::Client,
            facility: "F".into(),
            flags: flags::ope::CLIENT,
            range: KeyRange::default(),
        };
        self.req(FE, CLIENT, open);
    }

    fn tid(&mut self) -> Tid {
        self.seq += 1;
        Tid { node: 7, incarnation: 1, conn: CLIENT, seq: self.seq }
    }

    /// Deliveries so far to (node, conn), as (chan, type, tid); cleared.
    fn take(&mut self, node: usize, conn: ConnId) -> Vec<(ChanId, MsgType, Option<Tid>, Option<Status>)> {
        let mut out = Vec::new();
        self.delivered.retain(|(n, c, d)| {
            if *n == node && *c == conn {
                let st = match d.payload {
                    Payload::Status { status, .. } => Some(status),
                    _ => None,
                };
                out.push((d.chan, d.msgtype, d.tid, st));
                false
            } else {
                true
            }
        });
        out
    }

    fn server_accept(&mut self, chan: ChanId, tid: Tid) {
        self.req(BE, SERVER, Request::Accept { chan, tid, reason: 0, flags: 0, implicit: false });
    }

    fn ack(&mut self, chan: ChanId, tid: Tid) {
        self.req(BE, SERVER, Request::Ack { chan, tid });
    }
}

/// The server (chan 1) and the client (chan 1) are open; the partition is
/// known to both routers.
fn ready() -> Cluster {
    let mut c = Cluster::new();
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.open_client(1);
    assert_eq!(c.take(BE, SERVER)[0].1, MsgType::Opened);
    assert_eq!(c.take(FE, CLIENT)[0].1, MsgType::Opened);
    // The backend registered its partition with both routers.
    assert_eq!(c.node(TR1).stats().active_tx, 0);
    c
}

#[test]
fn a_transaction_crosses_three_nodes() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Prepare]);
    c.server_accept(1, tid);
    assert!(c.take(FE, CLIENT).is_empty(), "no outcome before the commit is durable");
    c.sync();
    assert_eq!(c.take(BE, SERVER)[0].1, MsgType::Accepted);
    let out = c.take(FE, CLIENT);
    assert_eq!(out, vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
    // The preferred router (tr1) coordinated it; tr2 saw nothing.
    assert_eq!(c.node(TR2).stats().active_tx, 0);
}

#[test]
fn killing_the_router_before_the_accept_finishes_the_transaction_through_the_next_one() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "one") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(6, "two") });
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Msgn]);
    c.kill(TR1);
    // Driven again through tr2, whose probe be answers once its promise to
    // that drive is durable: the server sees nothing twice.
    c.sync();
    assert!(c.take(BE, SERVER).is_empty());
    assert_eq!(c.node(TR2).stats().active_tx, 1);
    c.req(FE, CLIENT, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Prepare]);
    c.server_accept(1, tid);
    c.sync();
    assert_eq!(c.take(BE, SERVER)[0].1, MsgType::Accepted);
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
}

#[test]
fn killing_the_router_after_the_votes_lets_the_next_router_collect_them_again() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    // The server votes, but tr1 dies before the vote reaches it.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid, reason: 9, flags: 0, implicit: false });
    for o in c.node(BE).take_output() {
        if let Output::Journal { .. } = o {
            continue;
        }
        // The vote is lost with the router.
        assert!(matches!(o, Output::Peer { .. }), "{o:?}");
    }
    c.kill(TR1);
    // be promises tr2's drive (synced), then the commit (synced).
    c.sync();
    c.sync();
    assert_eq!(c.take(BE, SERVER)[0].1, MsgType::Accepted, "the server hears the commit once");
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
}

#[test]
fn a_commit_decided_by_the_dead_router_is_finished_by_the_next_one() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    c.server_accept(1, tid);
    // tr1 decided commit; the backend is making it durable when tr1 dies.
    assert_eq!(c.syncs.len(), 1);
    c.kill(TR1);
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().filter(|x| x.1 == MsgType::Accepted).count(), 1, "{s:?}");
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
    // Acknowledged, it is finished everywhere.
    c.ack(1, tid);
    assert_eq!(c.node(TR2).stats().active_tx, 0);
}

#[test]
fn a_commit_made_durable_before_the_router_died_is_reported_by_the_backend() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    c.server_accept(1, tid);
    // Durable and delivered; the Durable message to tr1 is lost with it.
    let now = c.now;
    let (i, t) = c.syncs.pop().unwrap();
    c.node(i).journal_done(now, t, Ok(()));
    let lost: Vec<Output> = c.node(BE).take_output();
    assert!(lost
        .iter()
        .any(|o| matches!(o, Output::Deliver { delivery, .. } if delivery.msgtype == MsgType::Accepted)));
    c.kill(TR1);
    // tr2 re-drives; the backend answers "committed" (be2, which knows
    // nothing of it, once its promise to tr2's drive is durable); tr2 tells
    // the client.
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
    assert!(c.take(BE, SERVER).is_empty(), "the server is not told twice");
}

#[test]
fn with_no_router_left_the_transaction_is_rejected_with_a_clear_status() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "one") });
    assert_eq!(c.take(BE, SERVER)[0].1, MsgType::Msg1);
    c.kill(TR1);
    c.kill(TR2);
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(tid), Some(Status::Routerunavailtmo))]);
    // The orphaned branch, never voted, is given back once its grace is
    // over: its server hears it rescheduled (no outcome; no router could
    // commit it here, and one that lives could place its work elsewhere).
    c.now += backend::ORPHAN_GRACE + Duration::from_millis(1);
    let now = c.now;
    c.node(BE).tick(now);
    c.pump();
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.3)).collect::<Vec<_>>(), vec![(MsgType::Rejected, Some(Status::Dlktxres))]);
    // A new transaction finds no router either.
    let tid2 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: tid2, flags: 0, data: msg(5, "two") });
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(tid2), Some(Status::Routerunavailtmo))]);
}

/// A transaction the client accepted, rejected by its server: tr1 decides
/// (the vote is carried to it alone) and its outcome to the frontend is
/// taken off the wire (lost). Returns the tid.
fn server_reject_unheard(c: &mut Cluster) -> Tid {
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Reject { chan: 1, tid, reason: 3, flags: 0 });
    c.pump_only(BE, TR1);
    assert_eq!(c.take_wire(TR1, FE).len(), 1, "tr1 sent the outcome to the frontend: {:?}", c.wire);
    tid
}

#[test]
fn a_server_reject_lost_with_the_router_reaches_the_next_one() {
    let mut c = ready();
    // tr1's outcomes (to the frontend and the backend) are lost with it.
    server_reject_unheard(&mut c);
    c.kill(TR1);
    c.sync();
    let out = c.take(FE, CLIENT);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].1, MsgType::Rejected);
    // The next router got the server's reject again; nothing was presented
    // twice. The server hears once the rejection's kept record is synced.
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Rejected], "{s:?}");
}

#[test]
fn a_lost_frontend_rolls_back_its_unaccepted_transactions() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "one") });
    c.take(BE, SERVER);
    c.kill(FE);
    // The server hears once the rejection's kept record is synced.
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.3)).collect::<Vec<_>>(), vec![(MsgType::Rejected, Some(Status::Reqdied))]);
    assert_eq!(c.node(TR1).stats().active_tx, 0);
}

impl Cluster {
    /// Carry messages from `from` to `to` only (the rest stay queued).
    fn pump_only(&mut self, from: usize, to: usize) {
        let now = self.now;
        loop {
            self.collect();
            let Some(at) = self.wire.iter().position(|(f, t, _)| *f == from && *t == to) else { return };
            let (_, _, m) = self.wire.remove(at).unwrap();
            let src = self.link_id(to, from);
            if let Some(n) = self.nodes[to].as_mut() {
                n.peer_input(now, src, m);
            }
        }
    }

    /// Remove (lose) the queued messages from `from` to `to`.
    fn take_wire(&mut self, from: usize, to: usize) -> Vec<Internal> {
        let mut out = Vec::new();
        self.wire.retain(|(f, t, m)| {
            if *f == from && *t == to {
                out.push(m.clone());
                false
            } else {
                true
            }
        });
        out
    }
}

#[test]
fn an_in_doubt_branch_without_router_or_frontend_is_resolved_by_asking_the_backends() {
    // Two backends; tr1 decides commit, its outcome reaches be but not be2,
    // and the frontend dies with tr1: nobody drives the transaction again.
    let mut c = ready();
    c.open_upper_be2();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    // Over two backend nodes, each vote is given once durable.
    c.server_accept(1, tid);
    let now = c.now;
    c.node(BE2).handle_request(now, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.pump_only(BE2, TR1);
    assert!(c.wire.is_empty(), "no vote before it is durable: {:?}", c.wire);
    assert_eq!(c.syncs.len(), 2);
    c.sync_unpumped();
    c.pump_only(BE, TR1);
    c.pump_only(BE2, TR1);
    assert_eq!(c.take_wire(TR1, BE2).len(), 1, "the commit for be2 is lost");
    c.pump_only(TR1, BE);
    c.sync();
    assert_eq!(c.take(BE, SERVER).iter().filter(|x| x.1 == MsgType::Accepted).count(), 1);
    c.kill(FE);
    c.kill(TR1);
    assert!(c.take(BE2, SERVER).is_empty(), "be2 is in doubt, its server held");
    // After the grace, be2 asks tr2, which asks both backends: be committed.
    c.now += backend::ORPHAN_GRACE + Duration::from_millis(1);
    let now = c.now;
    c.node(BE2).tick(now);
    c.pump();
    c.sync();
    let s2 = c.take(BE2, SERVER);
    assert_eq!(s2.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Accepted], "{s2:?}");
}

#[test]
fn an_in_doubt_branch_nobody_committed_is_rolled_back_after_asking() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    // The server votes; the vote dies with tr1, and the frontend too.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    let lost = c.node(BE).take_output();
    assert!(lost.iter().any(|o| matches!(o, Output::Peer { msg: Internal::Tr(ToRouter::Vote { .. }), .. })));
    c.kill(FE);
    c.kill(TR1);
    c.now += backend::ORPHAN_GRACE + Duration::from_millis(1);
    let now = c.now;
    c.node(BE).tick(now);
    c.pump();
    // be2's "unknown" binds it, durably before it is given; the rejection's
    // kept record is synced before the server hears it.
    c.settle();
    let s = c.take(BE, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.3)).collect::<Vec<_>>(),
        vec![(MsgType::Rejected, Some(Status::Routerunavailtmo))]
    );
}

#[test]
fn a_standby_takes_over_the_lost_backends_journal_and_its_key_range() {
    // be and be2 both serve keys 0 to 1000: be, first, is active; be2 is
    // its standby and gets no transaction.
    let mut c = ready();
    let open = Request::Open {
        chan: 1,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(0, 1000),
    };
    c.req(BE2, SERVER, open);
    assert_eq!(c.take(BE2, SERVER)[0].1, MsgType::Opened);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    assert!(c.take(BE2, SERVER).is_empty(), "the standby gets nothing");
    c.server_accept(1, t1);
    c.sync();
    // t1 committed on be; its server got the commit but never acknowledged it.
    assert_eq!(c.take(BE, SERVER).iter().filter(|x| x.1 == MsgType::Accepted).count(), 1);
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    // t2 is committing on be (its commit record written, not yet reported).
    let t2 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t2, flags: flags::sen::ACCEPT, data: msg(6, "two") });
    c.take(BE, SERVER);
    c.server_accept(1, t2);
    // t1's acknowledgement comes after its router forgot it (the forget
    // rode with t2's outcome), so it would write Done at once: that record
    // is lost with the node here.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Ack { chan: 1, tid: t1 });
    let lost = c.node(BE).take_output();
    assert!(matches!(&lost[..], [Output::Journal { entries, .. }] if entries[0].1 == RecordKind::Done), "{lost:?}");
    assert!(c.take(FE, CLIENT).is_empty());
    // be dies. tr1 (be2's master) promotes be2, which takes over be's
    // journal: t2's commit is there, so the client hears it committed;
    // t1 and t2 (not acknowledged) are presented again to be2's server.
    c.kill(BE);
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t2), Some(Status::Ok))]);
    let s = c.take(BE2, SERVER);
    let kinds: Vec<_> = s.iter().map(|x| (x.1, x.2)).collect();
    // In commit order, each replayed then its outcome (the server owes
    // acknowledgements, not votes).
    assert_eq!(
        kinds,
        vec![
            (MsgType::Msg1Uncertain, Some(t1)),
            (MsgType::Accepted, Some(t1)),
            (MsgType::Msg1Uncertain, Some(t2)),
            (MsgType::Accepted, Some(t2))
        ]
    );
    assert!(c.released.is_empty(), "not finished yet");
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t1 });
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t2 });
    // Everything taken over is finished: the journal is let go.
    assert_eq!(c.released.len(), 1, "{:?}", c.released);
    // New work goes to be2.
    let t3 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t3, flags: flags::sen::ACCEPT, data: msg(7, "three") });
    let s = c.take(BE2, SERVER);
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Prepare]);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t3, reason: 0, flags: 0, implicit: false });
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t3), Some(Status::Ok))]);
}

impl Cluster {
    /// Finish the deferred takeovers: with the lost node's records, or failing with `why`.
    fn finish_takeovers(&mut self, fail: Option<&str>) {
        let now = self.now;
        for (i, node, jid) in self.defer_takeovers.as_mut().map(std::mem::take).unwrap_or_default() {
            let result = match fail {
                Some(why) => Err(why.to_string()),
                None => {
                    let lost = NAMES.iter().position(|n| *n == node).expect("a known node");
                    self.epochs[lost] += 1;
                    Ok(JournalRead { jid, epoch: self.epochs[lost], records: self.journals[lost].clone() })
                }
            };
            self.node(i).takeover_done(now, &node, result);
        }
        self.pump();
    }

    fn open_standby(&mut self, fl: u32, subscribe: bool) {
        let open = Request::Open {
            chan: 1,
            role: Role::Server,
            facility: "F".into(),
            flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT | fl,
            range: range(0, 1000),
        };
        if subscribe {
            let sub = Request::Subscribe {
                chan: 1,
                recipient: String::new(),
                events: vec![(crate::events::RTRBASE, crate::events::RTRBASE + 100)],
            };
            // Subscriptions are made before the open (as the library does).
            let now = self.now;
            self.node(BE2).handle_request(now, SERVER, sub);
        }
        self.req(BE2, SERVER, open);
    }

    fn partition_states(&mut self, node: usize) -> Vec<crate::protocol::admin::PartitionState> {
        self.node(node).show_partitions().0.into_iter().map(|p| p.state).collect()
    }
}

fn event_numbers(d: &[(ChanId, MsgType, Option<Tid>, Option<Status>)]) -> Vec<MsgType> {
    d.iter().map(|x| x.1).collect()
}

#[test]
fn a_standby_hears_its_role_and_its_promotion() {
    use crate::protocol::admin::PartitionState as P;
    let mut c = ready();
    c.open_standby(0, true);
    assert_eq!(c.partition_states(BE2), vec![P::Standby]);
    assert_eq!(c.partition_states(BE), vec![P::Active]);
    let d = c.take(BE2, SERVER);
    assert_eq!(event_numbers(&d), vec![MsgType::Opened, MsgType::RtrEvent], "{d:?}");
    let evs: Vec<i32> = c.delivered_events.drain(..).collect();
    assert_eq!(evs, vec![crate::events::SRSTANDBY]);
    c.kill(BE);
    assert_eq!(c.partition_states(BE2), vec![P::Active]);
    let evs: Vec<i32> = c.delivered_events.drain(..).collect();
    assert_eq!(evs, vec![crate::events::SRPRIMARY, crate::events::SRRECOVERCMPL]);
}

#[test]
fn nostandby_refuses_a_second_node_for_the_range() {
    let mut c = ready();
    c.open_standby(flags::ope::NOSTANDBY, false);
    let d = c.take(BE2, SERVER);
    assert_eq!(
        d.iter().map(|x| (x.1, x.3)).collect::<Vec<_>>(),
        vec![(MsgType::Opened, Some(Status::Ok)), (MsgType::Closed, Some(Status::Nostandby))]
    );
    assert_eq!(c.node(BE2).stats().servers, 0);
}

#[test]
fn new_work_waits_while_the_standby_recovers_and_an_operator_decides_a_lost_journal() {
    use crate::protocol::admin::{PartitionChange, PartitionState as P};
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    c.defer_takeovers = Some(Vec::new());
    c.kill(BE);
    assert_eq!(c.partition_states(BE2), vec![P::Recovering]);
    // A transaction for the range waits (it is not rejected).
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "held") });
    assert!(c.take(FE, CLIENT).is_empty());
    assert!(c.take(BE2, SERVER).is_empty());
    // The journal cannot be reached: the partition waits for an operator.
    c.finish_takeovers(Some("no such directory"));
    assert_eq!(c.partition_states(BE2), vec![P::NoJournal]);
    assert!(c.take(FE, CLIENT).is_empty(), "still held");
    // --restart-recovery: tried again, and now it works.
    let now = c.now;
    let part = c.node(BE2).show_partitions().0[0].id;
    let r = c.node(BE2).set_partition(now, "F", part, PartitionChange::RestartRecovery);
    assert!(r.is_ok(), "{r:?}");
    c.pump();
    c.finish_takeovers(None);
    assert_eq!(c.partition_states(BE2), vec![P::Active]);
    // The held transaction goes on at the standby.
    let s = c.take(BE2, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![(MsgType::Msg1, Some(tid)), (MsgType::Prepare, Some(tid))]
    );
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
}

#[test]
fn ignore_recovery_makes_the_standby_active_without_the_lost_journal() {
    use crate::protocol::admin::{PartitionChange, PartitionState as P};
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    c.defer_takeovers = Some(Vec::new());
    c.kill(BE);
    c.finish_takeovers(Some("no such directory"));
    assert_eq!(c.partition_states(BE2), vec![P::NoJournal]);
    let now = c.now;
    let part = c.node(BE2).show_partitions().0[0].id;
    let bad = c.node(BE2).set_partition(now, "F", part, PartitionChange::IgnoreRecovery);
    assert!(bad.is_ok(), "{bad:?}");
    c.pump();
    assert_eq!(c.partition_states(BE2), vec![P::Active]);
    // Not waiting any more: a second decision is refused.
    let again = c.node(BE2).set_partition(now, "F", part, PartitionChange::IgnoreRecovery);
    assert_eq!(again.map_err(|e| e.code()), Err("NOTRECOVERING"));
}

/// Simulator seed 17876 (one router; the ignore-recovery limit of
/// `docs/roles.md`): be, frozen, lost its links; a majority of routers let
/// be2 force a claim over its grant, be's journal could not be taken over
/// (its disk was full), and an operator made be2 active without it. be,
/// which nothing fenced, still counted itself active: two actives for one
/// range. be2 now goes active only once be no longer holds its grant (its
/// lock goes when its runtime finds the newer grant, or its process ends).
#[test]
fn ignore_recovery_waits_until_an_unfenced_holder_lets_its_grant_go() {
    use crate::authority::Authority;
    use crate::protocol::admin::{PartitionChange, PartitionState as P};
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    c.defer_takeovers = Some(Vec::new());
    // be is cut off from both routers (frozen, say) and keeps its lock.
    c.cut(BE, TR1);
    c.cut(BE, TR2);
    c.pump(); // the forced claim's takeover
    c.finish_takeovers(Some("no space left on device"));
    assert_eq!(c.partition_states(BE2), vec![P::NoJournal]);
    let now = c.now;
    let part = c.node(BE2).show_partitions().0[0].id;
    let said = c.node(BE2).set_partition(now, "F", part, PartitionChange::IgnoreRecovery).expect("ignored");
    assert!(said.contains("as soon as be no longer holds grant 1"), "{said}");
    c.pump();
    // be still holds grant 1's lock: be2 waits, and says why.
    assert_eq!(c.partition_states(BE), vec![P::Active]);
    assert_eq!(c.partition_states(BE2), vec![P::Recovering]);
    let note = c.node(BE2).show_partitions().0[0].note.clone();
    assert!(note.contains("once be no longer holds grant 1"), "{note}");
    c.advance(BE2, super::backend::roles::CLAIM_RETRY);
    c.advance(BE2, super::backend::roles::CLAIM_RETRY);
    assert_eq!(c.partition_states(BE2), vec![P::Recovering]);
    // A second decision is refused, with what it waits for.
    let again = c.node(BE2).set_partition(now, "F", part, PartitionChange::IgnoreRecovery);
    assert_eq!(again.map_err(|e| e.code()), Err("NOTRECOVERING"));
    // be's runtime keeps its grants: it finds grant 2 and lets its lock go.
    let lost = c.auth[BE].as_mut().expect("be runs").maintain();
    assert_eq!(lost.len(), 1, "{lost:?}");
    let now = c.now;
    for (range, epoch) in lost {
        c.node(BE).role_lost(now, &range, epoch);
    }
    c.pump();
    assert_eq!(c.partition_states(BE), vec![P::Standby]);
    assert_eq!(c.partition_states(BE2), vec![P::Recovering], "not before its next check");
    c.advance(BE2, super::backend::roles::CLAIM_RETRY);
    assert_eq!(c.partition_states(BE2), vec![P::Active]);
}

impl Cluster {
    /// Node `k` starts again: it recovers from its journal (what it wrote
    /// before it died) and links with the others again.
    fn restart(&mut self, k: usize) {
        let mut n = Node::new(true);
        let mut t = FacilityTable::new(NAMES[k]);
        t.insert(self.def.clone());
        n.set_facilities(t);
        let records = self.journals[k].clone();
        self.epochs[k] += 1;
        n.recover(self.now, self.epochs[k], &records);
        self.nodes[k] = Some(n);
        self.auth[k] = Some(self.authority.handle(NAMES[k]));
        self.link_all(|a, b| a == k || b == k);
    }

    /// A server on be2 for keys 1001 to 2000 (a partition of its own).
    /// be2 starts again on its journal, and its server acknowledges `t1`'s
    /// commit once it is presented (t1 in doubt there, committed by the
    /// router's answer).
    fn restart_be2_and_apply(&mut self, t1: Tid) {
        self.restart(BE2);
        self.sync();
        for (chan, ty, tid, _) in self.take(BE2, SERVER) {
            if tid == Some(t1) && ty == MsgType::Accepted {
                self.req(BE2, SERVER, Request::Ack { chan, tid: t1 });
            }
        }
        self.sync();
    }

    /// be serves the upper range (1001..2000) too, on server channel 2.
    fn open_upper_be(&mut self) {
        let open = Request::Open {
            chan: 2,
            role: Role::Server,
            facility: "F".into(),
            flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
            range: range(1001, 2000),
        };
        self.req(BE, SERVER, open);
        assert_eq!(self.take(BE, SERVER)[0].1, MsgType::Opened);
    }

    fn open_upper_be2(&mut self) {
        let open = Request::Open {
            chan: 1,
            role: Role::Server,
            facility: "F".into(),
            flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
            range: range(1001, 2000),
        };
        self.req(BE2, SERVER, open);
        assert_eq!(self.take(BE2, SERVER)[0].1, MsgType::Opened);
        // be2 comes after be in the facility's backend order: it claims the
        // range only once be had time to offer it (START_DEFER).
        assert_eq!(self.node(BE2).show_partitions().0[0].state, crate::protocol::admin::PartitionState::Waiting);
        self.advance(BE2, backend::roles::START_DEFER);
    }

    /// Let the batched acknowledgements and forgets go (`FLUSH_AFTER`,
    /// twice: the frontend's acknowledgement, then the router's forget).
    fn flush_batches(&mut self) {
        for _ in 0..2 {
            self.now += crate::node::router::FLUSH_AFTER;
            let now = self.now;
            for n in self.nodes.iter_mut().flatten() {
                n.tick(now);
            }
            self.pump();
        }
    }

    /// Let `d` pass: node `node`'s timers fire, and the wire is carried.
    fn advance(&mut self, node: usize, d: Duration) {
        self.now += d;
        let now = self.now;
        self.node(node).tick(now);
        self.pump();
    }

    /// Link (both ways, each side in turn) every pair of live nodes that the
    /// definition calls for and that `which` selects, with a handshake
    /// agreement as the link layer makes it.
    fn link_all(&mut self, which: impl Fn(usize, usize) -> bool) {
        let now = self.now;
        for a in 0..NAMES.len() {
            for (b, peer) in NAMES.iter().enumerate() {
                if a == b || !which(a, b) || self.nodes[a].is_none() || self.nodes[b].is_none() {
                    continue;
                }
                let table = self.nodes[a].as_ref().unwrap().facilities().clone();
                if !table.link_peers().contains(&peer.to_string()) {
                    continue;
                }
                let info = self.peer_info(a, b);
                self.nodes[a].as_mut().unwrap().link_up(now, peer_ref(b), info);
            }
        }
        self.pump();
    }

    /// Node `a`'s link to node `b`, down already, is made again under a
    /// new id at `a` (as the link layer numbers each new connection).
    fn relink_anew(&mut self, a: usize, b: usize) {
        let now = self.now;
        let id = 100 + b as NodeRef;
        self.aliases.retain(|(n, _, t)| !(*n == a && *t == b));
        self.aliases.push((a, id, b));
        let info = self.peer_info(a, b);
        self.node(a).link_up(now, id, info);
        let info = self.peer_info(b, a);
        self.node(b).link_up(now, peer_ref(a), info);
        self.pump();
    }

    /// What node `a` learns of node `b` when they link (the facilities
    /// they agree on, as the link layer's handshake makes it).
    fn peer_info(&mut self, a: usize, b: usize) -> PeerInfo {
        let table = self.node(a).facilities().clone();
        let claims = self.node(b).facilities().claims();
        PeerInfo { name: NAMES[b].to_string(), facilities: table.agree(NAMES[b], &claims).unwrap() }
    }
}

/// A commit that waits 10 s or more for its backends is said once in the
/// router's log with what it waits for: a client waits on it, and an
/// operator (or a test that timed out) must see on what (CI once showed a
/// router holding such a commit for 30 s with nothing in its log).
#[test]
fn a_commit_waiting_long_for_its_backend_is_said_once_with_what_it_waits_for() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.server_accept(1, tid);
    // be's commit record never becomes durable: tr1 waits for it.
    c.syncs.clear();
    let logs = |c: &mut Cluster| -> Vec<String> {
        c.node(TR1)
            .take_output()
            .into_iter()
            .filter_map(|o| match o {
                Output::Log(l) => Some(l),
                _ => None,
            })
            .collect()
    };
    let now = c.now;
    c.node(TR1).tick(now);
    assert!(logs(&mut c).iter().all(|l| !l.contains("not settled")), "not yet");
    assert!(c.node(TR1).next_deadline().is_some(), "tr1 looks again");
    c.now += Duration::from_secs(11);
    let now = c.now;
    c.node(TR1).tick(now);
    let said: Vec<String> = logs(&mut c).into_iter().filter(|l| l.contains("not settled")).collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains(&tid.to_string()) && said[0].contains("be (link"), "{}", said[0]);
    c.now += Duration::from_secs(11);
    let now = c.now;
    c.node(TR1).tick(now);
    assert!(logs(&mut c).iter().all(|l| !l.contains("not settled")), "said once");
}

#[test]
fn a_backend_that_crashed_after_a_durable_vote_learns_the_commit_when_it_restarts() {
    let mut c = ready();
    c.open_upper_be2();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.server_accept(1, tid);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    // Both votes durable; tr1 commits; be makes it durable, be2 dies first.
    c.sync_unpumped();
    c.pump_only(BE, TR1);
    c.pump_only(BE2, TR1);
    c.take_wire(TR1, BE2);
    c.kill(BE2);
    c.pump();
    c.sync();
    assert_eq!(
        c.take(FE, CLIENT).iter().filter(|x| x.1 == MsgType::Accepted).count(),
        0,
        "be2's commit is not durable"
    );
    // be2 starts again: its branch is in doubt (voted durably), not
    // presumed aborted; it asks, tr1 asks be (committed): be2 commits.
    c.take(BE2, SERVER);
    c.restart(BE2);
    c.open_upper_be2();
    c.sync();
    let s = c.take(BE2, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![(MsgType::Msg1Uncertain, Some(tid)), (MsgType::Accepted, Some(tid))],
        "{s:?}"
    );
    // Durable on both backends now: the client hears the commit.
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
}

#[test]
fn a_backend_restarting_reports_the_commits_its_router_waited_for() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.server_accept(1, tid);
    // The commit record is written; be dies before reporting it durable.
    assert_eq!(c.syncs.len(), 1);
    c.kill(BE);
    assert!(c.take(FE, CLIENT).is_empty(), "the client waits: the commit may be durable");
    c.restart(BE);
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
    // Its server, back, gets the commit replayed.
    c.take(BE, SERVER);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    let s = c.take(BE, SERVER);
    assert_eq!(
        s.iter().map(|x| x.1).collect::<Vec<_>>(),
        vec![MsgType::Opened, MsgType::Msg1Uncertain, MsgType::Accepted],
        "{s:?}"
    );
}

#[test]
fn links_going_and_coming_are_rtr_events_for_the_subscribed_channels() {
    let mut c = Cluster::new();
    let rtr_events = vec![(crate::events::RTRBASE, crate::events::RTRBASE + 100)];
    let now = c.now;
    c.node(FE).handle_request(
        now,
        CLIENT,
        Request::Subscribe { chan: 1, recipient: String::new(), events: rtr_events.clone() },
    );
    c.node(BE).handle_request(
        now,
        SERVER,
        Request::Subscribe { chan: 1, recipient: String::new(), events: rtr_events },
    );
    c.open_client(1);
    c.open_server(1, 0);
    c.delivered_events.clear();
    c.kill(TR1);
    let mut evs: Vec<i32> = c.delivered_events.drain(..).collect();
    evs.sort();
    // The frontend's client lost a router; the backend's server lost one.
    assert_eq!(evs, vec![crate::events::FERTRGAIN + 1, crate::events::BERTRGAIN + 1]);
    c.restart(TR1);
    let evs: Vec<i32> = c.delivered_events.drain(..).collect();
    assert!(evs.contains(&crate::events::FERTRGAIN), "{evs:?}");
    assert!(evs.contains(&crate::events::BERTRGAIN), "{evs:?}");
}

#[test]
fn broadcasts_cross_the_links_once_each_way() {
    let mut c = Cluster::new();
    let user = vec![(crate::events::USERBASE, crate::events::USERMAX)];
    let now = c.now;
    c.node(FE).handle_request(
        now,
        CLIENT,
        Request::Subscribe { chan: 1, recipient: "cli".into(), events: user.clone() },
    );
    c.node(BE).handle_request(now, SERVER, Request::Subscribe { chan: 1, recipient: "srv".into(), events: user });
    c.open_client(1);
    c.open_server(1, 0);
    c.take(FE, CLIENT);
    c.take(BE, SERVER);
    let user_events =
        |d: &[(ChanId, MsgType, Option<Tid>, Option<Status>)]| d.iter().filter(|x| x.1 == MsgType::UserEvent).count();
    // Client to servers: through the frontend's router to the backend.
    c.req(FE, CLIENT, Request::Broadcast { chan: 1, evtnum: 7, rcpspc: "srv".into(), data: Bytes::from(&b"hi"[..]) });
    assert_eq!(user_events(&c.take(BE, SERVER)), 1);
    assert_eq!(user_events(&c.take(FE, CLIENT)), 0, "not back to the clients");
    // Server to clients.
    c.req(BE, SERVER, Request::Broadcast { chan: 1, evtnum: 8, rcpspc: "*".into(), data: Bytes::from(&b"ho"[..]) });
    assert_eq!(user_events(&c.take(FE, CLIENT)), 1);
    // A recipient spec that matches nobody there: nothing.
    c.req(FE, CLIENT, Request::Broadcast { chan: 1, evtnum: 7, rcpspc: "other".into(), data: Bytes::from(&b"x"[..]) });
    assert_eq!(user_events(&c.take(BE, SERVER)), 0);
}

/// Found by the simulator (seed 7 of the first runs): a client sends twice
/// before hearing anything; the router rejects the transaction on the first
/// send (no partition for its key) and the second send, still on its way,
/// used to start the same tid again at the router, which committed it at a
/// server while the client had been told it was rejected.
#[test]
fn a_send_that_reaches_the_router_after_it_rejected_the_transaction_does_not_start_it_again() {
    let mut c = ready();
    let tid = c.tid();
    let now = c.now;
    c.node(FE).handle_request(now, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5000, "nowhere") });
    c.node(FE).handle_request(
        now,
        CLIENT,
        Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") },
    );
    c.pump();
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(tid), Some(Status::Nodstfnd))]);
    assert!(c.take(BE, SERVER).is_empty(), "the server never sees the rejected transaction");
    assert_eq!(c.node(TR1).stats().active_tx, 0);
}

/// Every server of the active partition exits while its node stays up:
/// the standby on the other node gets the range at once. The committed work
/// the lost servers had not acknowledged is handed off to it (made durable
/// there, presented uncertain, then finished on the first node); work never
/// voted on follows the range too (its router drives it to the standby from
/// its first message, and the client sees its normal outcome); new work
/// goes to the standby.
#[test]
fn the_last_server_leaving_a_live_node_hands_its_range_to_the_standby() {
    use crate::journal::RecordKind;
    use crate::protocol::admin::PartitionState as P;
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    assert_eq!(c.partition_states(BE2), vec![P::Standby]);
    // t1 commits on be; its server never acknowledges the commit.
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.server_accept(1, t1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    // t2 reaches be's server, which never votes.
    let t2 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t2, flags: 0, data: msg(6, "two") });
    let got = c.take(BE, SERVER);
    assert!(got.iter().any(|x| x.1 == MsgType::Msg1 && x.2 == Some(t2)), "{got:?}");
    // be's only server closes.
    c.req(BE, SERVER, Request::Close { chan: 1 });
    assert_eq!(c.take(FE, CLIENT), vec![], "t2 is not rejected: it follows its key range");
    assert_eq!(c.partition_states(BE2), vec![P::Active], "the standby claimed the released grant");
    // be2's server gets t2 from its start (a plain msg1: nobody voted on
    // it), then t1 once made durable there: uncertain, then its commit.
    c.sync();
    let s = c.take(BE2, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(), vec![(MsgType::Msg1, Some(t2))]);
    c.req(FE, CLIENT, Request::Accept { chan: 1, tid: t2, reason: 0, flags: 0, implicit: false });
    let s = c.take(BE2, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(), vec![(MsgType::Prepare, Some(t2))]);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t2, reason: 0, flags: 0, implicit: false });
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t2), Some(Status::Ok))]);
    let s = c.take(BE2, SERVER);
    let kinds: Vec<_> = s.iter().map(|x| (x.1, x.2)).collect();
    assert_eq!(
        kinds,
        vec![(MsgType::Accepted, Some(t2)), (MsgType::Msg1Uncertain, Some(t1)), (MsgType::Accepted, Some(t1))]
    );
    let be2_has = |c: &Cluster, kind| c.journals[BE2].iter().any(|r| r.tid == t1 && r.kind == kind);
    assert!(be2_has(&c, RecordKind::Msg) && be2_has(&c, RecordKind::Commit));
    // be finished t1 (its Done record) once be2 had it, and let its
    // partition go; t2 was never decided there.
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Done));
    assert!(!c.journals[BE].iter().any(|r| r.tid == t2 && r.kind == RecordKind::Commit));
    assert!(c.partition_states(BE).is_empty(), "{:?}", c.partition_states(BE));
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t1 });
    assert!(c.journals[BE2].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Done));
    // New work goes to be2.
    let t3 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t3, flags: flags::sen::ACCEPT, data: msg(7, "three") });
    let s = c.take(BE2, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![(MsgType::Msg1, Some(t3)), (MsgType::Prepare, Some(t3))]
    );
}

/// Work never voted on that a partition gave back when its last server
/// left (it follows the key range) can come back to the same node: a
/// server opened there again and the node took the range's next grant.
/// The given-back branch's journaled messages are closed when it is given
/// back, so the work that comes back is a new attempt in the journal: a
/// restart after the commit presents the message once. Left open, the
/// restart replayed the given-back message with the re-driven one, and the
/// range applied the credit twice (simulator seed 40680, two routers: the
/// books off by its amount).
#[test]
fn work_given_back_and_driven_back_to_the_same_node_is_journaled_once() {
    use crate::journal::RecordKind;
    let mut c = ready();
    // t0 commits on be; its server never acknowledges the commit (so be's
    // partition stays, as a standby, while t0 is handed off).
    let t0 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t0, flags: flags::sen::ACCEPT, data: msg(6, "zero") });
    c.server_accept(1, t0);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t0), Some(Status::Ok))]);
    // t's message reaches be (journaled there), waiting for the server.
    let t = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: 0, data: msg(5, "credit") });
    assert!(c.journals[BE].iter().any(|r| r.tid == t && r.kind == RecordKind::Msg));
    c.take(BE, SERVER);
    // be's only server closes before t was voted on: the range's grant is
    // released (be2 is defined for the facility), t0 is handed off and t's
    // work follows the range; no partition is active for it meanwhile.
    c.req(BE, SERVER, Request::Close { chan: 1 });
    assert_eq!(c.take(FE, CLIENT), vec![], "t is not rejected: it follows its key range");
    // A server opens on be again: be takes the range's next grant, and the
    // router drives t's work there again, from its first message.
    c.open_server(2, flags::ope::EXPLICIT_ACCEPT);
    c.advance(BE, backend::roles::START_DEFER);
    c.sync();
    let got = c.take(BE, SERVER);
    assert!(got.iter().any(|x| x.0 == 2 && x.1 == MsgType::Msg1 && x.2 == Some(t)), "{got:?}");
    c.req(FE, CLIENT, Request::Accept { chan: 1, tid: t, reason: 0, flags: 0, implicit: false });
    c.server_accept(2, t);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t), Some(Status::Ok))]);
    let got = c.take(BE, SERVER);
    assert!(got.iter().any(|x| x.1 == MsgType::Accepted && x.2 == Some(t)), "{got:?}");
    // Committed, not yet acknowledged by the server: the journal's current
    // attempt at t holds its one message.
    assert!(c.journals[BE].iter().any(|r| r.tid == t && r.kind == RecordKind::Commit));
    let scan = crate::txrecord::classify(c.journals[BE].iter());
    let summary = scan.txs.iter().find(|x| x.tid == t).expect("t in be's journal");
    assert_eq!(summary.msgs, vec![msg(5, "credit")], "t's work, once: {summary:?}");
    // be dies before its server acknowledged; started again, it presents
    // t's message once (uncertain), then the commit.
    c.kill(BE);
    c.restart(BE);
    c.open_server(3, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    let got: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t)).map(|x| x.1).collect();
    assert_eq!(got, vec![MsgType::Msg1Uncertain, MsgType::Accepted], "t presented once after the restart");
    let _ = t0;
}

/// With no other backend node in the facility, a partition whose servers
/// all left keeps its range and its work for a server that comes back
/// (RTR's restarted-server recovery): nothing is handed off or rejected.
#[test]
fn with_no_other_backend_node_the_range_waits_for_a_server_to_return() {
    use crate::authority::Claim;
    let one = vec!["be".to_string()];
    let mut n = Node::new(false);
    let mut t = FacilityTable::new("be");
    t.insert(FacilityDef::new("G", &one, &one, &one).unwrap());
    n.set_facilities(t);
    let now = Instant::now();
    let run = |n: &mut Node, req: Option<(ConnId, Request)>| -> Vec<Output> {
        if let Some((conn, r)) = req {
            n.handle_request(now, conn, r);
        }
        let mut all = Vec::new();
        loop {
            let out = n.take_output();
            if out.is_empty() {
                return all;
            }
            for o in out {
                if let Output::Claim { range, .. } = &o {
                    n.claimed(now, range, Ok(Claim::Granted { epoch: 1, previous: None }));
                }
                all.push(o);
            }
        }
    };
    let server = |chan| Request::Open {
        chan,
        role: Role::Server,
        facility: "G".into(),
        flags: flags::ope::SERVER,
        range: range(0, 1000),
    };
    run(&mut n, Some((SERVER, server(1))));
    let client = Request::Open {
        chan: 1,
        role: Role::Client,
        facility: "G".into(),
        flags: flags::ope::CLIENT,
        range: KeyRange::default(),
    };
    run(&mut n, Some((CLIENT, client)));
    let tid = Tid { node: 1, incarnation: 1, conn: CLIENT, seq: 1 };
    let out = run(&mut n, Some((CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "one") })));
    let msg1 = |out: &[Output], kind| {
        out.iter().any(|o| matches!(o, Output::Deliver { conn: SERVER, delivery } if delivery.msgtype == kind && delivery.tid == Some(tid)))
    };
    assert!(msg1(&out, MsgType::Msg1), "{out:?}");
    let out = run(&mut n, Some((SERVER, Request::Close { chan: 1 })));
    assert!(!out.iter().any(|o| matches!(o, Output::ReleaseRole { .. })), "{out:?}");
    assert!(
        !out.iter().any(|o| matches!(o, Output::Deliver { conn: CLIENT, .. })),
        "the client is told nothing: {out:?}"
    );
    // A server comes back and gets the transaction again.
    let out = run(&mut n, Some((SERVER, server(2))));
    assert!(msg1(&out, MsgType::Msg1), "{out:?}");
}

/// The priority list orders the standbys: a standby claims its range's
/// grant at once when a router reports the holder lost only if it comes
/// first in the list (the holder left out); the next one waits one claim
/// period per place. A node low in the list does not claim a range first at
/// start-up either: it waits for the nodes before it, or for word of a
/// holder (then it claims at once, as a standby).
#[test]
fn the_priority_list_orders_the_standbys_claims() {
    use crate::authority::{Claim, Grant};
    use crate::facility::Roles;
    use crate::protocol::admin::PartitionChange;
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let def = FacilityDef::new("F", &s(&["fe"]), &s(&["tr1"]), &s(&["be1", "be2", "be3"])).unwrap();
    let mut n = Node::new(false);
    let mut t = FacilityTable::new("be3");
    t.insert(def);
    n.set_facilities(t);
    let mut now = Instant::now();
    let tr: NodeRef = 1;
    let mut facilities = std::collections::BTreeMap::new();
    facilities.insert("F".to_string(), Roles { frontend: false, router: true, backend: false });
    n.link_up(now, tr, PeerInfo { name: "tr1".into(), facilities });
    let claims = |n: &mut Node| -> Vec<(String, Option<u64>)> {
        n.take_output()
            .into_iter()
            .filter_map(|o| if let Output::Claim { range, force_over } = o { Some((range, force_over)) } else { None })
            .collect()
    };
    let open = Request::Open {
        chan: 1,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER,
        range: range(0, 1000),
    };
    n.handle_request(now, SERVER, open);
    assert!(claims(&mut n).is_empty(), "third in the facility's order: no claim at once");
    // The router says be1 holds the range: be3 claims now, as its standby.
    let holder = |epoch, linked| Internal::Be(ToBackend::Holder { part: 1, epoch, linked });
    n.peer_input(now, tr, holder(1, true));
    let c = claims(&mut n);
    assert_eq!(c.len(), 1, "{c:?}");
    let rid = c[0].0.clone();
    let held = Grant { epoch: 1, holder: "be1".into(), released: false, forced: false };
    n.claimed(now, &rid, Ok(Claim::Held(held)));
    claims(&mut n);
    // be1 is lost: be2 comes before be3, so be3 waits one claim period.
    n.peer_input(now, tr, holder(1, false));
    assert!(claims(&mut n).is_empty(), "be2 claims first");
    now += CLAIM_RETRY / 2;
    n.tick(now);
    assert!(claims(&mut n).is_empty(), "not yet");
    now += CLAIM_RETRY / 2;
    n.tick(now);
    // The one router of the facility (a majority) lost be1: forced over 1.
    assert_eq!(claims(&mut n), vec![(rid.clone(), Some(1))]);
    // With be3 first in the partition's list, it claims at once.
    let held = Grant { epoch: 2, holder: "be2".into(), released: false, forced: false };
    n.claimed(now, &rid, Ok(Claim::Held(held)));
    claims(&mut n);
    n.set_partition(now, "F", 1, PartitionChange::PriorityList(s(&["be3", "be2", "be1"]))).unwrap();
    n.peer_input(now, tr, holder(2, false));
    assert_eq!(claims(&mut n), vec![(rid, Some(2))]);
}

/// Recognized recovery: a lost holder's journal that cannot be taken over
/// is tried again every second, for `RecoveryPolicy::wait`, then the
/// partition waits for an operator. Unrecognized: active at once without it.
#[test]
fn recovery_policies_retry_the_lost_journal_or_go_active_without_it() {
    use crate::node::backend::roles::RECOVERY_RETRY;
    use crate::protocol::admin::PartitionState as P;
    let wait = RECOVERY_RETRY * 2;
    // be2 is be's standby; be is lost and its journal cannot be reached.
    let lost_unreachable = |unrecognized| {
        let mut c = ready();
        c.node(BE2).set_recovery_policy(RecoveryPolicy { unrecognized, wait });
        c.open_standby(0, false);
        c.take(BE2, SERVER);
        c.defer_takeovers = Some(Vec::new());
        c.kill(BE);
        c.finish_takeovers(Some("no such directory"));
        c
    };
    let mut c = lost_unreachable(false);
    assert_eq!(c.partition_states(BE2), vec![P::NoJournal]);
    // A second later it tries again (and fails again)...
    c.advance(BE2, RECOVERY_RETRY);
    assert_eq!(c.partition_states(BE2), vec![P::Recovering], "tried again");
    c.finish_takeovers(Some("no such directory"));
    // ...and once `wait` has gone by, it stops and waits for an operator.
    c.advance(BE2, RECOVERY_RETRY);
    assert_eq!(c.partition_states(BE2), vec![P::Recovering], "the last try");
    c.finish_takeovers(Some("no such directory"));
    c.advance(BE2, RECOVERY_RETRY * 10);
    assert_eq!(c.partition_states(BE2), vec![P::NoJournal], "waits for an operator");
    assert!(c.node(BE2).next_deadline().is_none(), "nothing more to try");

    // Unrecognized: active at once, without the journal.
    let mut c = lost_unreachable(true);
    assert_eq!(c.partition_states(BE2), vec![P::Active]);
}

/// A transaction committed and finished on a node whose journal a standby
/// took over, driven again by a router (its first router was lost before
/// it heard): the standby answers with the commit its journal holds and
/// presents nothing (ARCHITECTURE §7.1 rule 3). Before, it was presented to
/// the standby's server as a new transaction and applied twice.
#[test]
fn a_committed_transaction_driven_again_after_a_takeover_gets_its_outcome_not_a_new_msg1() {
    let (mut c, t1) = Cluster::t1_committed_at_be_with_be2_standby();
    c.ack(1, t1);
    // Applied, kept answerable: the client's acknowledgement has not
    // reached the router yet.
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == crate::journal::RecordKind::Applied));
    c.kill(BE);
    c.take(BE2, SERVER);
    // A router drives t1 again at be2 (now active for the range).
    let part = c.node(BE2).show_partitions().0[0].id;
    let now = c.now;
    let again = ToBackend::Msg {
        tid: t1,
        part,
        index: 0,
        data: msg(5, "one"),
        first: true,
        flags: flags::sen::ACCEPT,
        drive: 0,
    };
    c.node(BE2).peer_input(now, peer_ref(TR2), Internal::Be(again));
    c.collect();
    assert!(c.take(BE2, SERVER).is_empty(), "presented again");
    let answers = c.take_wire(BE2, TR2);
    assert!(
        answers.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Decided { tid, committed: true, .. }) if *tid == t1)),
        "{answers:?}"
    );
}

/// The active backend node dies with work in progress: a transaction its
/// server holds (not voted on yet) and one still queued behind it. The
/// standby takes the range over and the router drives both to it from
/// their first message; the clients see their normal outcomes, no error.
#[test]
fn killing_the_active_backend_node_moves_its_undecided_work_to_the_standby() {
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "one") });
    let t2 = c.tid();
    c.open_client(2);
    c.take(FE, CLIENT);
    c.req(FE, CLIENT, Request::Send { chan: 2, tid: t2, flags: flags::sen::ACCEPT, data: msg(6, "two") });
    let got = c.take(BE, SERVER);
    assert_eq!(got.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(), vec![(MsgType::Msg1, Some(t1))]);
    c.kill(BE);
    assert_eq!(c.take(FE, CLIENT), vec![], "nothing is rejected because of the failover");
    let s = c.take(BE2, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(), vec![(MsgType::Msg1, Some(t1))]);
    c.req(FE, CLIENT, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    let s = c.take(BE2, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![
            (MsgType::Prepare, Some(t1)),
            (MsgType::Accepted, Some(t1)),
            (MsgType::Msg1, Some(t2)),
            (MsgType::Prepare, Some(t2))
        ]
    );
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t2, reason: 0, flags: 0, implicit: false });
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(2, MsgType::Accepted, Some(t2), Some(Status::Ok))]);
}

impl Cluster {
    /// t1 (one message of be's range, with the client's accept) is voted
    /// yes by be's server (not durably: one participant); tr1 commits, and
    /// its outcome to be is lost. Returns t1.
    fn commit_lost_on_its_way_to_be(&mut self) -> Tid {
        let t1 = self.tid();
        self.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
        let got = self.take(BE, SERVER);
        assert!(got.iter().any(|x| x.1 == MsgType::Prepare && x.2 == Some(t1)), "{got:?}");
        let now = self.now;
        let vote = Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false };
        self.node(BE).handle_request(now, SERVER, vote);
        self.pump_only(BE, TR1);
        assert!(!self.take_wire(TR1, BE).is_empty(), "the outcome was on its way");
        t1
    }
}

/// The router decided a commit, and the backend node died before its
/// commit record was durable: the standby that takes its journal over
/// finds no commit (the transaction is undecided there), and the router,
/// which decided it, places the committed work on the standby: made
/// durable there, presented uncertain, then committed. The client hears
/// "accepted", not SRVDIED.
#[test]
fn a_commit_lost_with_its_backend_before_it_was_durable_is_finished_by_the_standby() {
    use crate::journal::RecordKind;
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    // be's server votes; tr1 decides, but its outcome never reaches be.
    let t1 = c.commit_lost_on_its_way_to_be();
    c.kill(BE);
    assert!(!c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Commit));
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    let s = c.take(BE2, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![(MsgType::Msg1Uncertain, Some(t1)), (MsgType::Accepted, Some(t1))]
    );
    assert!(c.journals[BE2].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Commit));
}

/// The router decided a commit that never reached be (its vote was not
/// durable), and be died. A reader of be's journal presumed the branch
/// aborted (`PresumedAbort`, `Done`); later the router handed its commit
/// to be, started again (`Adopt`: the message and the commit, written
/// after that abort); be died again before its server acknowledged. The
/// next start must present the commit again, with only the handed-off
/// message, not take the old abort for its fate (simulator seed 118 of the
/// disk faults: a reader wrote `Done` over such a commit, which no server
/// ever applied). The harness keeps neither a reader's writes nor this
/// path's hand-off to the restarted node (a full journal elsewhere), so
/// those records are written here as the reader and `write_adopting`
/// write them.
#[test]
fn a_commit_handed_to_a_node_after_its_branch_was_presumed_aborted_survives_the_next_restart() {
    use crate::journal::{Record, RecordKind};
    use crate::txrecord::TxRecord;
    let mut c = ready();
    // be's server votes; tr1 decides, but its outcome never reaches be.
    let t1 = c.commit_lost_on_its_way_to_be();
    c.kill(BE);
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Vote));
    let later = [
        TxRecord::PresumedAbort,
        TxRecord::Done,
        TxRecord::Msg { facility: "F".into(), data: msg(5, "one") },
        TxRecord::Commit { reason: 0 },
    ];
    for rec in later {
        let (kind, payload) = rec.encode();
        c.journals[BE].push(Record { epoch: 1, tid: t1, kind, payload });
    }
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(
        s.iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect::<Vec<_>>(),
        vec![MsgType::Msg1Uncertain, MsgType::Accepted],
        "the commit is presented again with its one message (no Msgn of the old attempt), not taken for \
         aborted: {s:?}"
    );
    let last_commit = c.journals[BE].iter().rposition(|r| r.tid == t1 && r.kind == RecordKind::Commit);
    let done_after = c.journals[BE].iter().skip(last_commit.expect("the commit") + 1).any(|r| r.tid == t1);
    assert!(!done_after, "nothing written over the commit before the server acknowledged");
    c.ack(1, t1);
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Applied));
}

/// A transaction committed and finished on be (its server acknowledged
/// it), whose outcome to the client was lost with its router; meanwhile be
/// handed its key range to be2 (its last server left). The frontend drives
/// it again through tr2, which asks the facility's backends first: be
/// remembers the commit, so the client hears "accepted" and be2's server
/// never sees the transaction (it would have been a second commit).
#[test]
fn a_finished_transaction_driven_again_after_a_hand_off_is_not_presented_again() {
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.take(BE, SERVER);
    c.server_accept(1, t1);
    c.sync_unpumped();
    c.pump_only(BE, TR1);
    assert_eq!(c.take_wire(TR1, FE).len(), 1, "the outcome to the client is lost");
    c.pump();
    c.ack(1, t1);
    // The client never had the outcome: be keeps the commit answerable.
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == crate::journal::RecordKind::Applied));
    c.flush_batches();
    assert!(!c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == crate::journal::RecordKind::Done));
    c.req(BE, SERVER, Request::Close { chan: 1 });
    c.kill(TR1);
    // be2 answers tr2's probe once its promise to that drive is durable.
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    assert!(c.take(BE2, SERVER).iter().all(|x| x.2 != Some(t1)), "be2 never sees t1");
}

/// A transaction with an `rtr_start_tx` timeout, driven again through tr2
/// after tr1 was lost, keeps a timeout: once tr2 owns its branches (every
/// backend answered), the timeout runs there, and ends it.
#[test]
fn a_transaction_driven_again_keeps_its_timeout() {
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::StartTx { chan: 1, tid: t1, timeout_ms: Some(1000) });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "one") });
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1]);
    c.kill(TR1);
    // The probe ends once be's promise to tr2's drive is durable.
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![]);
    assert_eq!(c.node(TR2).stats().active_tx, 1);
    c.advance(TR2, Duration::from_millis(1001));
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(t1), Some(Status::Timout))]);
    // The server hears once the rejection's kept record is synced.
    c.sync();
    assert_eq!(
        c.take(BE, SERVER).iter().map(|x| (x.1, x.3)).collect::<Vec<_>>(),
        vec![(MsgType::Rejected, Some(Status::Timout))]
    );
}

impl Cluster {
    /// The connection between `a` and `b` breaks (both live): what was on
    /// the wire between them is lost and each end sees the link go down.
    fn cut(&mut self, a: usize, b: usize) {
        self.wire.retain(|(f, t, _)| !((*f == a && *t == b) || (*f == b && *t == a)));
        let now = self.now;
        self.node(a).link_down(now, peer_ref(b));
        self.node(b).link_down(now, peer_ref(a));
        self.pump();
    }

    /// The connection between `a` and `b` is made again.
    fn relink(&mut self, a: usize, b: usize) {
        self.link_all(|x, y| (x == a && y == b) || (x == b && y == a));
    }
}

/// Simulator seed 4 (one router, connection resets): the frontend's only
/// router committed a transaction the client had accepted, and the
/// connection broke before the outcome reached the frontend. The frontend
/// rejected it (`ROUTERUNAVAILTMO`) while the server applied it. Now it
/// waits for a router and drives it again there, which brings the commit.
#[test]
fn a_frontend_that_loses_its_last_router_after_the_accept_waits_and_gets_the_real_outcome() {
    let mut c = ready();
    c.kill(TR2);
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    c.server_accept(1, tid);
    // tr1 decided commit; the backend is making it durable when the
    // connection between the frontend and tr1 breaks.
    assert_eq!(c.syncs.len(), 1);
    c.cut(FE, TR1);
    assert_eq!(c.take(FE, CLIENT), vec![], "the frontend gives no outcome it does not know");
    c.sync();
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Accepted]);
    c.ack(1, tid);
    assert!(c.take(FE, CLIENT).is_empty(), "no router: the client still waits");
    // The router is back: the transaction is driven again there, and the
    // backend answers with the commit it holds.
    c.relink(FE, TR1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
    assert!(c.take(BE, SERVER).is_empty(), "the server is not told twice");
    assert_eq!(c.node(TR1).stats().active_tx, 0);
}

/// A transaction waiting for a router: a peer that routes another facility
/// only changes nothing; a router that links drives it again; a second loss
/// makes it wait again; the client closing its channel meanwhile is
/// forgotten without a word to the lost router; the commit still happens
/// once at the backend.
#[test]
fn a_transaction_waiting_for_a_router_survives_a_second_loss_and_its_client_closing() {
    let mut c = ready();
    c.kill(TR2);
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Prepare]);
    c.cut(FE, TR1);
    assert!(c.take(FE, CLIENT).is_empty(), "accepted: it waits for a router");
    // A node that routes only facility G links: nothing is driven to it.
    let mut only_g = std::collections::BTreeMap::new();
    only_g.insert("G".to_string(), crate::facility::Roles { frontend: false, router: true, backend: false });
    let now = c.now;
    c.node(FE).link_up(now, peer_ref(TR2), PeerInfo { name: "tr2".into(), facilities: only_g });
    let out = c.node(FE).take_output();
    assert!(!out.iter().any(|o| matches!(o, Output::Peer { .. })), "{out:?}");
    assert!(c.take(FE, CLIENT).is_empty());
    // tr1 is back: the transaction is there again (the server is not
    // presented it twice).
    c.relink(FE, TR1);
    assert_eq!(c.node(TR1).stats().active_tx, 1);
    assert!(c.take(BE, SERVER).iter().all(|x| x.1 == MsgType::Prepare));
    // Lost again before any outcome: it waits again.
    c.cut(FE, TR1);
    assert!(c.take(FE, CLIENT).is_empty());
    // The client goes away while it waits: forgotten here, nothing sent.
    let now = c.now;
    c.node(FE).handle_request(now, CLIENT, Request::Close { chan: 1 });
    let out = c.node(FE).take_output();
    assert!(!out.iter().any(|o| matches!(o, Output::Peer { .. })), "{out:?}");
    c.relink(FE, TR1);
    let out = c.take_wire(FE, TR1);
    assert!(!out.iter().any(|m| matches!(m, Internal::Tr(_))), "nothing to drive: {out:?}");
    // The accepted transaction still commits (its client is gone), once.
    c.server_accept(1, tid);
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().filter(|x| x.1 == MsgType::Accepted).count(), 1, "{s:?}");
    assert!(c.take(FE, CLIENT).is_empty());
}

/// Prepared but not accepted, the transaction waits for a router too; the
/// client may still reject it then, at once (no router could commit it
/// without its accept).
#[test]
fn a_prepared_transaction_waiting_for_a_router_can_be_rejected_by_its_client() {
    let mut c = ready();
    c.kill(TR2);
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "pay") });
    c.req(FE, CLIENT, Request::Prepare { chan: 1, tid, reason: 4 });
    c.cut(FE, TR1);
    assert!(c.take(FE, CLIENT).is_empty(), "prepared: it waits for a router");
    c.req(FE, CLIENT, Request::Reject { chan: 1, tid, flags: 0, reason: 0 });
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(tid), Some(Status::Rejected))]);
    c.relink(FE, TR1);
    assert!(c.take_wire(FE, TR1).iter().all(|m| !matches!(m, Internal::Tr(_))));
}

impl Cluster {
    /// A second server (chan 2) on be, and a retry limit of 1 for its
    /// partition: one lost server sets a transaction aside.
    fn two_servers_retry_limit_one(&mut self) -> PartId {
        self.open_server(2, flags::ope::EXPLICIT_ACCEPT);
        self.take(BE, SERVER);
        let now = self.now;
        let part = self.node(BE).show_partitions().0[0].id;
        let change = crate::protocol::admin::PartitionChange::RetryLimit(1);
        self.node(BE).set_partition(now, "F", part, change).expect("retry limit set");
        part
    }

    /// The journal's Exception records of `tid` on node `k`: whether each
    /// says committed.
    fn exception_records(&self, k: usize, tid: Tid) -> Vec<bool> {
        self.journals[k]
            .iter()
            .filter(|r| r.tid == tid && r.kind == crate::journal::RecordKind::Exception)
            .map(|r| r.payload.last() == Some(&1))
            .collect()
    }
}

/// Simulator seed 316: a server is lost after voting yes, with the retry
/// limit reached, while the router's commit (decided on that vote) is on
/// its way. The backend used to reject the branch on its own and then
/// ignore the commit: committed elsewhere, never applied here. Now the
/// branch waits for the router's outcome and becomes a committed exception.
#[test]
fn a_branch_set_aside_after_its_vote_follows_the_routers_commit() {
    use crate::protocol::admin::{BeState, TxChange};
    let mut c = ready();
    c.two_servers_retry_limit_one();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Prepare]);
    let chan = s[0].0;
    // The vote reaches tr1, which commits; its outcome is still on the wire
    // when the server dies.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan, tid, reason: 0, flags: 0, implicit: false });
    c.pump_only(BE, TR1);
    assert!(c.wire.iter().any(|(f, t, m)| *f == TR1
        && *t == BE
        && matches!(m, Internal::Be(ToBackend::Outcome { accepted: true, .. }))));
    c.node(BE).handle_request(now, SERVER, Request::Close { chan });
    c.collect();
    // Set aside, undecided: no operator action yet.
    let e = c.node(BE).be.exceptions.clone();
    assert_eq!((e.len(), e[0].committed, e[0].undecided), (1, false, true));
    assert!(c.node(BE).exception_tids().is_empty());
    let refused = c.node(BE).set_transaction(now, tid, TxChange::Forget).unwrap_err();
    assert_eq!(refused.code(), "TXUNDECIDED");
    assert!(c.exception_records(BE, tid).is_empty(), "no exception record before the outcome");
    let (rows, _) = c.node(BE).show_transactions(now);
    assert_eq!(rows.iter().find(|r| r.tid == tid).unwrap().branches[0].state, BeState::Exception);
    // The commit arrives and is made durable: a committed exception.
    c.pump();
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
    assert!(c.take(BE, SERVER).is_empty(), "presented no more");
    let e = c.node(BE).be.exceptions.clone();
    assert_eq!((e.len(), e[0].committed, e[0].undecided), (1, true, false));
    assert_eq!(c.exception_records(BE, tid), vec![true]);
    assert_eq!(c.node(BE).exception_tids(), vec![tid]);
    // An operator presents it again: the other server applies it.
    let now = c.now;
    c.node(BE).set_transaction(now, tid, TxChange::Retry).expect("retried");
    c.pump();
    let s = c.take(BE, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![(MsgType::Msg1Uncertain, Some(tid)), (MsgType::Accepted, Some(tid))]
    );
}

/// The same loss before the router decided: the router rejects on the
/// backend's request, and the branch is dropped as a rejected exception.
#[test]
fn a_branch_set_aside_after_its_vote_is_dropped_when_the_router_rejects() {
    let mut c = ready();
    c.two_servers_retry_limit_one();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "pay") });
    let chan = c.take(BE, SERVER)[0].0;
    // An early vote (before the client's accept), then the server dies.
    c.req(BE, SERVER, Request::Accept { chan, tid, reason: 0, flags: 0, implicit: false });
    c.req(BE, SERVER, Request::Close { chan });
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(tid), Some(Status::Retrylimit))]);
    // Decided once the rejection's kept record is synced.
    c.sync();
    let e = c.node(BE).be.exceptions.clone();
    assert_eq!((e.len(), e[0].committed, e[0].undecided), (1, false, false));
    assert_eq!(c.exception_records(BE, tid), vec![false]);
    let now = c.now;
    let (rows, _) = c.node(BE).show_transactions(now);
    let row = rows.iter().find(|r| r.tid == tid).expect("listed");
    assert_eq!(row.branches.len(), 1);
    assert_eq!(row.branches[0].state, crate::protocol::admin::BeState::Exception);
    assert!(c.take(BE, SERVER).is_empty());
    // Nothing of it waits on be any more but the exception.
    assert!(c.node(BE).be.branches.keys().all(|(t, _)| *t != tid));
}

/// The router still holds the accepted transaction when its frontend's link
/// comes back (it took the client for gone when the link broke): the
/// frontend's re-drive makes the client its own again, and the client hears
/// the commit.
#[test]
fn a_transaction_driven_again_through_the_same_router_reaches_its_client() {
    let mut c = ready();
    c.kill(TR2);
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    c.cut(FE, TR1);
    c.relink(FE, TR1);
    assert_eq!(c.node(TR1).stats().active_tx, 1);
    c.server_accept(1, tid);
    c.sync();
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Accepted]);
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
}

/// be dies while a commit's record is written but not yet reported
/// durable; its journal cannot be taken over and an operator makes be2
/// active without it. The client is not told "rejected" (that journal may
/// hold the commit): it waits, and hears "accepted" when be starts again
/// on its journal and reports the commit.
#[test]
fn after_ignore_recovery_a_commit_in_the_unread_journal_is_not_reported_failed() {
    use crate::protocol::admin::PartitionChange;
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.server_accept(1, t1);
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == crate::journal::RecordKind::Commit));
    c.defer_takeovers = Some(Vec::new());
    c.kill(BE);
    c.finish_takeovers(Some("no such directory"));
    let now = c.now;
    let part = c.node(BE2).show_partitions().0[0].id;
    c.node(BE2).set_partition(now, "F", part, PartitionChange::IgnoreRecovery).expect("ignored");
    c.pump();
    assert_eq!(c.take(FE, CLIENT), vec![], "no false outcome while that journal is unread");
    c.defer_takeovers = None;
    c.restart(BE);
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
}

/// A transaction over be and be2 commits (tr1 decides; be2 makes it
/// durable), but tr1's outcome to be is lost with tr1, and tr2 has lost its
/// link to be2. Whoever resolves be's voted branch through tr2 must not
/// conclude "nobody committed it" from be's answer alone: it waits until be2
/// links again and says it committed, and be commits too. `frontend_first`:
/// the frontend dies before tr1, so nobody drives the transaction again and
/// be's orphaned branch asks tr2 itself; otherwise the frontend re-drives it
/// through tr2 (a probe).
fn in_doubt_while_be2_is_unreachable(frontend_first: bool) {
    let mut c = ready();
    c.open_upper_be2();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.server_accept(1, tid);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    let got = c.take(BE, SERVER);
    assert_eq!(got.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Prepare], "{got:?}");
    c.sync_unpumped();
    c.pump_only(BE, TR1);
    c.pump_only(BE2, TR1);
    assert!(!c.take_wire(TR1, BE).is_empty(), "tr1's outcome to be is lost");
    c.pump_only(TR1, BE2);
    c.sync();
    assert!(c.journals[BE2].iter().any(|r| r.tid == tid && r.kind == crate::journal::RecordKind::Commit));
    c.cut(TR2, BE2);
    if frontend_first {
        c.kill(FE);
        c.kill(TR1);
    } else {
        c.kill(TR1);
        c.kill(FE);
    }
    // be's branch waits out its grace, then asks tr2.
    c.advance(BE, backend::ORPHAN_GRACE + Duration::from_millis(1));
    c.advance(BE, backend::ORPHAN_GRACE + Duration::from_millis(1));
    let s = c.take(BE, SERVER);
    assert!(s.iter().all(|x| x.1 != MsgType::Rejected), "not rolled back while be2 is unreachable: {s:?}");
    // be2 links again (and announces its partition on its own).
    c.relink(TR2, BE2);
    // Two rounds of syncs: with the re-drive, be answers tr2's probe once
    // its promise to drive 1 is durable; then the commit is written.
    c.sync();
    c.sync();
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.1 == MsgType::Accepted && x.2 == Some(tid)), "{s:?}");
}

#[test]
fn an_in_doubt_branch_is_not_rolled_back_while_a_backend_that_may_hold_the_commit_is_unreachable() {
    in_doubt_while_be2_is_unreachable(false);
}

#[test]
fn an_orphan_in_doubt_branch_waits_for_every_backend_before_a_router_resolves_it() {
    in_doubt_while_be2_is_unreachable(true);
}

impl Cluster {
    /// Report synced journal writes durable and carry the messages that
    /// follow until no write waits (a write's answer may lead to another).
    fn settle(&mut self) {
        while !self.syncs.is_empty() {
            self.sync();
        }
    }

    /// Report every pending synced journal write durable without carrying
    /// the messages that follow (a test then chooses what arrives).
    fn sync_unpumped(&mut self) {
        let now = self.now;
        for (i, t) in std::mem::take(&mut self.syncs) {
            if let Some(n) = self.nodes[i].as_mut() {
                n.journal_done(now, t, Ok(()));
            }
        }
    }
}

/// The client rejected, and its reject was lost with its router: the
/// frontend drives the transaction again through tr2 with the reject, so
/// the client hears "rejected" (it waited for ever).
/// With peers, a router's rejection reaches the server only once the
/// node's kept record of it (`KeptAbort`) is durable; a journal that
/// refuses the record as full does not hold the branch (it rolls back, as
/// before records were synced). Told first, a power loss took the
/// unsynced record after the server had rolled back; the client had not
/// heard, and its frontend's re-drive, finding nobody who knew the tid,
/// committed it (simulator seed 15336, one router: a disagreement).
#[test]
fn a_rejection_reaches_the_server_only_once_its_kept_record_is_durable() {
    use crate::txrecord::TxRecord;
    let mut c = ready();
    let t = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: 0, data: msg(5, "x") });
    c.take(BE, SERVER);
    c.req(FE, CLIENT, Request::Reject { chan: 1, tid: t, reason: 9, flags: 0 });
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(t), Some(Status::Rejected))]);
    assert_eq!(c.take(BE, SERVER), vec![], "not before the record is durable");
    let recs: Vec<TxRecord> =
        c.journals[BE].iter().filter(|r| r.tid == t).map(|r| TxRecord::decode(r.kind, &r.payload).unwrap()).collect();
    assert_eq!(recs.last(), Some(&TxRecord::KeptAbort));
    // A late vote of the server meanwhile is ignored: written, it came
    // after the `Done` of the router's forget, a transaction live for ever
    // in the journal (disk-fault seeds 90 and 114).
    c.req(BE, SERVER, Request::Accept { chan: 1, tid: t, reason: 0, flags: 0, implicit: false });
    let n = c.journals[BE].iter().filter(|r| r.tid == t).count();
    assert_eq!(n, recs.len(), "no record of the late vote");
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(), vec![(MsgType::Rejected, Some(t))]);
    // A second transaction, its record refused by a full journal: rolled
    // back all the same, its server told rescheduled rather than rejected
    // (with no record, a restart forgets the rejection, and a re-drive may
    // commit the transaction afresh: simulator seed 15466).
    let t2 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t2, flags: 0, data: msg(5, "y") });
    c.take(BE, SERVER);
    c.req(FE, CLIENT, Request::Reject { chan: 1, tid: t2, reason: 9, flags: 0 });
    assert_eq!(c.take(BE, SERVER), vec![], "not before the record is durable");
    let tokens: Vec<u64> = c.syncs.iter().filter(|(n, _)| *n == BE).map(|(_, t)| *t).collect();
    assert_eq!(tokens.len(), 1);
    c.syncs.retain(|(n, _)| *n != BE);
    let now = c.now;
    c.node(BE).journal_done(now, tokens[0], Err(Status::Jnlfull));
    c.pump();
    let s = c.take(BE, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2, x.3)).collect::<Vec<_>>(),
        vec![(MsgType::Rejected, Some(t2), Some(Status::Dlktxres))]
    );
}

#[test]
fn a_client_reject_lost_with_its_router_is_driven_again() {
    let mut c = ready();
    let t = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: 0, data: msg(5, "x") });
    c.take(BE, SERVER);
    let now = c.now;
    c.node(FE).handle_request(now, CLIENT, Request::Reject { chan: 1, tid: t, reason: 9, flags: 0 });
    c.collect();
    assert!(!c.take_wire(FE, TR1).is_empty(), "the reject is lost");
    c.kill(TR1);
    // tr2's probe is answered once be's promise to its drive is durable.
    c.sync_unpumped();
    c.pump();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(t), Some(Status::Rejected))]);
    // The server hears once the rejection's kept record is synced.
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Rejected], "{s:?}");
}

/// The link between tr1 and be breaks while be makes a commit durable
/// (be's `Durable` is lost with it); be does not restart, so nobody
/// reports its journal. When the link comes back, tr1 sends the outcome
/// again, be answers that it is durable, and the client hears the commit.
#[test]
fn a_commit_whose_answer_was_lost_with_a_link_is_asked_again_when_it_returns() {
    let mut c = ready();
    c.kill(TR2);
    let t = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: flags::sen::ACCEPT, data: msg(5, "x") });
    c.server_accept(1, t);
    assert!(c.journals[BE].iter().any(|r| r.tid == t && r.kind == crate::journal::RecordKind::Commit));
    c.cut(TR1, BE);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![], "the answer is lost with the link");
    c.relink(TR1, BE);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t), Some(Status::Ok))]);
}

/// be dies with a commit tr1 decided but be never made durable; be2 takes
/// over be's journal before tr1 notices be's link is gone (its TookOver
/// arrives first). tr1 settles the commit then (be2 makes it durable and
/// presents it): the client hears "accepted". Before, tr1 took the report
/// for nothing to do, then lost be and waited for ever.
#[test]
fn a_journal_read_before_the_router_notices_its_node_is_gone_still_settles_its_commits() {
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.take(BE, SERVER);
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.pump_only(BE, TR1);
    assert!(!c.take_wire(TR1, BE).is_empty(), "the outcome never reaches be");
    // be's process ends; only the authority knows yet.
    c.nodes[BE] = None;
    c.auth[BE] = None;
    c.authority.process_ended(NAMES[BE]);
    c.wire.retain(|(f, t, _)| *f != BE && *t != BE);
    c.syncs.retain(|(i, _)| *i != BE);
    for _ in 0..5 {
        c.advance(BE2, backend::CLAIM_RETRY);
    }
    c.sync();
    assert_eq!(c.partition_states(BE2), vec![crate::protocol::admin::PartitionState::Active]);
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    // The links to be go now: nothing more happens.
    let now = c.now;
    for i in [FE, TR1, TR2, BE2] {
        c.node(i).link_down(now, peer_ref(BE));
    }
    c.pump();
    assert_eq!(c.take(FE, CLIENT), vec![]);
}

/// A transaction over be and be2 asks for durable votes. be's server votes
/// and is lost while its vote record is being made durable: the vote goes
/// with it (withdrawn). When the write completes, the vote must not be
/// given after all: tr1 would commit on a vote no live server stands by.
#[test]
fn a_durable_vote_withdrawn_with_its_server_is_not_given_when_its_write_completes() {
    let mut c = ready();
    c.open_upper_be2();
    c.open_server(2, flags::ope::EXPLICIT_ACCEPT);
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    let chan = c.take(BE, SERVER).iter().find(|x| x.1 == MsgType::Msg1).map(|x| x.0).expect("presented");
    c.server_accept(chan, tid);
    // be's vote record is on its way to disk; its server goes.
    let be_syncs: Vec<_> = c.syncs.iter().filter(|(i, _)| *i == BE).copied().collect();
    assert!(!be_syncs.is_empty());
    c.req(BE, SERVER, Request::Close { chan });
    c.sync(); // the withdrawn vote's record
    c.sync(); // and any commit record that would follow it
    assert_eq!(c.take(FE, CLIENT), vec![], "no commit on a withdrawn vote");
    // The other server has it now (uncertain) and votes: then it commits.
    let other = 3 - chan;
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.0 == other && x.1 == MsgType::Msg1Uncertain), "{s:?}");
    c.server_accept(other, tid);
    c.sync(); // its vote record
    c.sync(); // the commit records
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
}

/// Bank kill test (`links`, one run in a dozen): be's server process died
/// while be's commit record (written with the votes: be was the
/// transaction's only backend node) was on its way to disk, and a new
/// server process opened on be (a standby now: it had released the range)
/// before the write completed. The committed branch stayed in the standby
/// partition, never presented and never handed off, while the client heard
/// "accepted". A partition that does not hold its range's grant hands a
/// commit off, servers or not.
#[test]
fn a_commit_reaching_a_standby_partition_whose_server_came_back_is_handed_off() {
    use crate::journal::RecordKind;
    use crate::protocol::admin::PartitionState as P;
    let mut c = ready();
    let upper = Request::Open {
        chan: 3,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(1001, 2000),
    };
    c.req(BE, SERVER, upper);
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    c.take(BE, SERVER);
    // t1 has a branch in each of be's partitions; both servers vote, and
    // tr1 commits at once (be is its only backend node): be's votes and
    // its commit record share one write.
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.server_accept(1, t1);
    c.server_accept(3, t1);
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Commit));
    assert!(c.syncs.iter().any(|(i, _)| *i == BE), "not durable yet");
    // Before that write completes, the lower range's server goes at be
    // (be2 takes that range over) and another opens there, a standby now.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Close { chan: 1 });
    c.pump();
    assert_eq!(c.partition_states(BE2), vec![P::Active]);
    c.open_server(2, flags::ope::EXPLICIT_ACCEPT);
    assert!(c.partition_states(BE).contains(&P::Standby), "{:?}", c.partition_states(BE));
    c.sync();
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    let s = c.take(BE2, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![(MsgType::Msg1Uncertain, Some(t1)), (MsgType::Accepted, Some(t1))],
        "the range's active partition applies the commit"
    );
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t1 });
    c.ack(3, t1);
    c.flush_batches();
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Done), "be finished its part");
    assert!(c.journals[BE2].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Done));
}

/// Bank kill test: a new transaction the router routed to be just as be's
/// last server left (be's announcement that it gave the range up crossed
/// the message) was rejected `RTR_STS_NODSTFND`. Now be answers `Moved`
/// and the router drives the work to the range's next active partition.
#[test]
fn a_message_reaching_a_partition_that_just_gave_its_range_up_follows_the_range() {
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    let now = c.now;
    let send = Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") };
    c.node(FE).handle_request(now, CLIENT, send);
    c.pump_only(FE, TR1);
    // tr1 routed t1 to be; before it arrives, be's only server goes.
    c.node(BE).handle_request(now, SERVER, Request::Close { chan: 1 });
    c.pump();
    assert_eq!(c.take(FE, CLIENT), vec![], "not rejected");
    let s = c.take(BE2, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![(MsgType::Msg1, Some(t1)), (MsgType::Prepare, Some(t1))]
    );
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
}

/// Simulator `--shadow --faults server --seed 6405` (two routers): the key
/// range moved between two messages of one transaction. The first went to
/// be, whose last server left before it arrived; the second to be2, the
/// range's new active partition, whose server then voted yes. be's `Moved`
/// came after that vote, and tr1 drove the first message to be2's branch,
/// which had voted: the server got a message after its prepare, and tr1
/// still counted the yes given before it, with no vote left to ask. The
/// client waited for ever (committed, the server would have applied work it
/// never voted on). Now the transaction is rejected (`RTR_STS_SRVDIED`: the
/// server that had the work exited, and it cannot be presented again), and
/// the voting server never sees a message after its vote.
#[test]
fn work_that_follows_its_range_to_a_branch_that_voted_rejects_the_transaction() {
    use crate::protocol::admin::PartitionState as P;
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    let t = c.tid();
    let now = c.now;
    let send = |key, body| Request::Send { chan: 1, tid: t, flags: 0, data: msg(key, body) };
    c.node(FE).handle_request(now, CLIENT, send(5, "debit"));
    c.pump_only(FE, TR1);
    // tr1 routed the first message to be; it is slow on its way.
    let slow = c.take_wire(TR1, BE);
    assert!(slow.iter().any(|m| matches!(m, Internal::Be(ToBackend::Msg { tid, .. }) if *tid == t)), "{slow:?}");
    // be's only server goes: be2 takes the range, and the second message
    // (same range) goes there.
    c.req(BE, SERVER, Request::Close { chan: 1 });
    assert!(!c.partition_states(BE).contains(&P::Active));
    assert_eq!(c.partition_states(BE2), vec![P::Active]);
    c.req(FE, CLIENT, send(6, "credit"));
    let s = c.take(BE2, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(), vec![(MsgType::Msg1, Some(t))]);
    // The client accepts; be2's server votes yes, durably.
    c.node(FE).handle_request(now, CLIENT, Request::Accept { chan: 1, tid: t, reason: 0, flags: 0, implicit: false });
    c.pump_only(FE, TR1);
    let mut slow_too = c.take_wire(TR1, BE);
    c.pump();
    let s = c.take(BE2, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(), vec![(MsgType::Prepare, Some(t))]);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t, reason: 0, flags: 0, implicit: false });
    c.settle();
    assert_eq!(c.take(FE, CLIENT), vec![], "be's branch has not voted");
    // Now the first message (and the vote request behind it) reaches be,
    // which answers `Moved`: the message follows the range to be2.
    let mut late = slow;
    late.append(&mut slow_too);
    for m in late {
        c.node(BE).peer_input(now, peer_ref(TR1), m);
    }
    c.pump();
    c.settle();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(t), Some(Status::Srvdied))]);
    let s = c.take(BE2, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2, x.3)).collect::<Vec<_>>(),
        vec![(MsgType::Rejected, Some(t), Some(Status::Srvdied))],
        "be2's server hears the rejection, and no message after its vote"
    );
    assert_eq!(c.node(TR1).stats().active_tx, 0);
}

/// Simulator seed 5043 (one router): be voted (not durably: its only
/// backend node, so the router commits on the vote) and the router's commit
/// was lost with the link. Another node took be's journal over, which did
/// not hold the commit, so the router handed the branch, committed, to the
/// range's active partition: be itself, which still held the branch
/// undecided. It answered `Adopted` at once with nothing written, the
/// client heard "accepted", and be's next write failed (fenced): the commit
/// was nowhere. Now the undecided branch is committed (its commit record
/// durable) before `Adopted` goes back, and its server hears the commit.
#[test]
fn an_adopted_commit_of_a_branch_held_undecided_is_made_durable_first() {
    use crate::journal::RecordKind;
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "one") });
    c.req(FE, CLIENT, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.take(BE, SERVER);
    // The vote reaches tr1, whose commit is lost on the way back.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.pump_only(BE, TR1);
    let lost = c.take_wire(TR1, BE);
    assert!(lost.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { accepted: true, .. }))), "{lost:?}");
    assert!(!c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Commit));
    // tr1 hands the committed branch to the range's active partition.
    let part = c.node(BE).show_partitions().0[0].id;
    let adopt = ToBackend::Adopt { part, tid: t1, msgs: vec![msg(5, "one")], reason: 0, drive: crate::node::NO_DRIVE };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(adopt));
    c.collect();
    let answers = c.take_wire(BE, TR1);
    assert!(!answers.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Adopted { .. }))), "not before it is durable");
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Commit), "a commit record");
    c.sync_unpumped();
    c.collect();
    let answers = c.take_wire(BE, TR1);
    assert!(
        answers.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Adopted { tid, .. }) if *tid == t1)),
        "{answers:?}"
    );
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(), vec![(MsgType::Accepted, Some(t1))]);
}

/// A router's `Forget` that comes while work of a transaction is applied
/// here again (a hand-off adopted after this node had applied its branch
/// and kept it answerable: with two routers, each brings the hand-off)
/// waits for that work's servers: the transaction's `Done` follows them,
/// and nothing of it is written after. Written at once, the `Done` came
/// before the new attempt's `Applied`, which then pinned its segment for
/// good (recovery reads the tid as finished and writes nothing more): the
/// journal filled and stayed full (simulator `--faults disk --seed 117`,
/// two routers).
#[test]
fn a_forget_that_comes_while_a_transaction_is_applied_here_again_waits_for_its_servers() {
    use crate::journal::RecordKind;
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.take(BE, SERVER);
    c.server_accept(1, t1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    c.take(BE, SERVER);
    c.ack(1, t1);
    let last = |c: &Cluster| c.journals[BE].iter().rev().find(|r| r.tid == t1).map(|r| r.kind);
    assert_eq!(last(&c), Some(RecordKind::Applied), "applied, kept answerable");
    // tr2 brings the same work handed off: written again, presented again.
    let part = c.node(BE).show_partitions().0[0].id;
    let adopt = ToBackend::Adopt { part, tid: t1, msgs: vec![msg(5, "one")], reason: 0, drive: crate::node::NO_DRIVE };
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR2), Internal::Be(adopt));
    c.collect();
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![(MsgType::Msg1Uncertain, Some(t1)), (MsgType::Accepted, Some(t1))]
    );
    // tr1 forgets t1 before the server acknowledged it again.
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(ToBackend::Forget { tids: vec![t1] }));
    c.collect();
    assert_eq!(last(&c), Some(RecordKind::Commit), "no Done while its servers apply it");
    c.ack(1, t1);
    c.sync();
    assert_eq!(last(&c), Some(RecordKind::Done), "ended once applied, nothing after: {:?}", c.journals[BE]);
}

/// Simulator seed 5009: be2 read a lost node's journal holding t1 in
/// doubt and asked tr1, which was driving t1 again (live there, no branch
/// at be2). tr1 ignored the question ("it will end on its own"), and when
/// t1 committed only its branches heard: be2's copy stayed in doubt for
/// ever and its range never applied t1. Now the asker hears the outcome.
#[test]
fn a_node_in_doubt_that_asks_about_a_live_transaction_hears_its_outcome() {
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "one") });
    c.take(BE, SERVER);
    let now = c.now;
    let ask = ToRouter::Inquire { tid: t1, facility: "F".into(), drive: 0 };
    c.node(TR1).peer_input(now, peer_ref(BE2), Internal::Tr(ask));
    c.collect();
    assert!(c.take_wire(TR1, BE2).is_empty(), "nothing to say yet");
    c.req(FE, CLIENT, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.pump_only(BE, TR1);
    let told = c.take_wire(TR1, BE2);
    assert!(
        told.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { tid, parts, accepted: true, .. })
            if *tid == t1 && parts.is_empty())),
        "{told:?}"
    );
}

/// Simulator seeds 5449, 5394, 5715: a transaction over two backend nodes
/// (durable votes) whose commit record a full journal refused at be. be
/// rolled its branch back and told its server "rejected" while be2
/// committed. A durable yes vote obliges: the commit record is written
/// again until it fits, the branch waits, and both servers commit.
#[test]
fn a_commit_record_refused_by_a_full_journal_after_a_durable_vote_is_written_again() {
    use crate::journal::RecordKind;
    let mut c = ready();
    c.open_upper_be2();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.server_accept(1, tid);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.sync(); // the durable votes; tr1 commits
              // be's commit record is refused: its journal is full.
    let now = c.now;
    let refused: Vec<u64> = c.syncs.iter().filter(|(i, _)| *i == BE).map(|(_, t)| *t).collect();
    assert_eq!(refused.len(), 1, "be's commit record");
    c.syncs.retain(|(i, _)| *i != BE);
    c.node(BE).journal_done(now, refused[0], Err(Status::Jnlfull));
    c.pump();
    c.sync(); // be2's commit
    let s = c.take(BE, SERVER);
    assert!(!s.iter().any(|x| x.1 == MsgType::Rejected), "not rolled back: {s:?}");
    assert_eq!(c.take(FE, CLIENT), vec![], "the client waits for be");
    // Space again: the record is written, be's server commits, the client hears.
    c.advance(BE, super::backend::COMMIT_RETRY);
    assert_eq!(c.journals[BE].iter().filter(|r| r.tid == tid && r.kind == RecordKind::Commit).count(), 2);
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(), vec![(MsgType::Accepted, Some(tid))]);
    assert!(c.take(BE2, SERVER).iter().any(|x| x.1 == MsgType::Accepted));
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
}

/// Simulator seed 5098: be's server voted yes (durably) and tr1 committed,
/// its outcome still on the way; that server died (its vote withdrawn),
/// and the servers that got the branch next died too, until the retry
/// limit. be then rolled the branch back alone, as if no vote had ever
/// been given, and ignored tr1's commit when it came: committed at be2,
/// rolled back at be. A branch that ever voted yes is set aside undecided
/// instead, and the commit settles it.
#[test]
fn a_branch_whose_yes_vote_was_withdrawn_is_not_rolled_back_alone_at_the_retry_limit() {
    use crate::journal::RecordKind;
    let mut c = ready();
    c.open_upper_be2();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.server_accept(1, tid);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.sync_unpumped();
    c.pump_only(BE, TR1);
    c.pump_only(BE2, TR1);
    let held = c.take_wire(TR1, BE);
    assert!(held.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { accepted: true, .. }))));
    // be's servers die one after the other, up to the retry limit (a
    // fresh one is always open, so the range stays at be).
    for chan in 1..=3 {
        c.open_server(chan + 1, flags::ope::EXPLICIT_ACCEPT);
        c.req(BE, SERVER, Request::Close { chan });
    }
    assert!(!c.journals[BE].iter().any(|r| r.tid == tid && r.kind == RecordKind::Abort), "not rolled back");
    // tr1's commit arrives: be commits its branch (an exception for the operator).
    c.wire.extend(held.into_iter().map(|m| (TR1, BE, m)));
    c.pump();
    c.sync();
    assert!(c.journals[BE].iter().any(|r| r.tid == tid && r.kind == RecordKind::Commit), "committed at be");
}

/// Simulator seed 5325: be's last server left while its commit was being
/// written; be gave the range up (be2 is a backend of the facility, with
/// no partition for it) and handed the commit off, which the router held:
/// no partition was active for the range. A server opened again on be,
/// whose standby partition never claimed the range again, so the commit
/// was never applied. Now a server coming back claims, and gets its work.
#[test]
fn a_server_back_on_a_partition_that_gave_its_range_up_claims_it_again() {
    use crate::protocol::admin::PartitionState as P;
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.server_accept(1, t1);
    assert!(c.syncs.iter().any(|(i, _)| *i == BE), "the commit is on its way to disk");
    c.req(BE, SERVER, Request::Close { chan: 1 });
    c.sync();
    assert_eq!(c.partition_states(BE), vec![P::Standby], "the range was given up");
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    c.open_server(2, flags::ope::EXPLICIT_ACCEPT);
    // It lets a standby of the range claim first (there is none here).
    assert_eq!(c.partition_states(BE), vec![P::Standby]);
    c.advance(BE, backend::roles::START_DEFER);
    c.sync();
    assert_eq!(c.partition_states(BE), vec![P::Active]);
    let s = c.take(BE, SERVER);
    assert!(
        s.iter().any(|x| x.0 == 2 && x.1 == MsgType::Msg1Uncertain && x.2 == Some(t1))
            && s.iter().any(|x| x.0 == 2 && x.1 == MsgType::Accepted && x.2 == Some(t1)),
        "{s:?}"
    );
}

/// Simulator seeds 5844, 5231 (and 38 more): be made a commit durable but
/// its `Durable` was lost with the link, and be stayed up. When be linked
/// again (a new link: a new peer id), tr1 sent nothing again, because the
/// commits waiting for be were keyed by the old link; the client waited
/// for ever. Now they move to the new link and their outcome goes again.
#[test]
fn commits_waiting_for_a_backend_go_to_it_again_on_its_new_link() {
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.server_accept(1, t1);
    c.sync_unpumped();
    c.collect();
    let lost = c.take_wire(BE, TR1);
    assert!(lost.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Durable { .. }))), "{lost:?}");
    c.cut(BE, TR1);
    assert_eq!(c.take(FE, CLIENT), vec![], "the client waits");
    // be links to tr1 again, as a new peer.
    let now = c.now;
    let info = c.peer_info(TR1, BE);
    let new_link: NodeRef = 77;
    c.node(TR1).link_up(now, new_link, info);
    let out = c.node(TR1).take_output();
    assert!(
        out.iter().any(
            |o| matches!(o, Output::Peer { peer, msg: Internal::Be(ToBackend::Outcome { tid, accepted: true, .. }) }
            if *peer == new_link && *tid == t1)
        ),
        "{out:?}"
    );
}

/// Simulator seeds 5172, 5578: a router that was not linked to be2 when
/// be2 took over be's journal never learned who answers for be, and its
/// probes, inquiries and commits waited for be for ever. be2 now tells
/// every router that links while it holds that journal.
#[test]
fn a_router_linking_later_learns_who_holds_a_lost_nodes_journal() {
    // t1 committed at be; its server has not acknowledged it.
    let (mut c, t1) = Cluster::t1_committed_at_be_with_be2_standby();
    c.cut(TR1, BE2);
    c.kill(BE);
    c.sync();
    // be2 holds be's journal until its server acknowledges t1.
    let s = c.take(BE2, SERVER);
    assert!(s.iter().any(|x| x.1 == MsgType::Msg1Uncertain && x.2 == Some(t1)), "{s:?}");
    // be2 links to tr1 again: tr1 hears that be2 read be's journal.
    let now = c.now;
    let info = c.peer_info(BE2, TR1);
    c.node(BE2).link_up(now, peer_ref(TR1), info);
    let out = c.node(BE2).take_output();
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Peer { peer, msg: Internal::Tr(ToRouter::TookOver { node, read: true, .. }) }
            if *peer == peer_ref(TR1) && node == "be")),
        "{out:?}"
    );
}

/// Simulator seed 165 (disk faults): tr1 committed t1 and, once it
/// settled, forgot it; a backend in doubt of t1 asked tr1, which asked the
/// backends, none of which remembered it any more, and concluded "nobody
/// committed it": the asker rolled back a committed branch. A router now
/// remembers how its transactions ended and answers from that at once.
#[test]
fn a_router_answers_a_question_about_a_transaction_it_ended_from_its_memory() {
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.server_accept(1, t1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    let now = c.now;
    let ask = ToRouter::Inquire { tid: t1, facility: "F".into(), drive: 0 };
    c.node(TR1).peer_input(now, peer_ref(BE2), Internal::Tr(ask));
    let out = c.node(TR1).take_output();
    assert!(
        out.iter().any(
            |o| matches!(o, Output::Peer { peer, msg: Internal::Be(ToBackend::Outcome { tid, accepted: true, .. }) }
            if *peer == peer_ref(BE2) && *tid == t1)
        ),
        "{out:?}"
    );
}

/// Simulator seed 5900: be2 held be's journal, taken over, when another
/// node took it over in turn (fencing be2): be2's in-doubt commit there
/// failed again and again, and it kept the journal for ever. A taken-over
/// journal that can no longer be written is given up: released, its
/// in-doubt work dropped here (its new owner has it).
#[test]
fn a_taken_over_journal_that_can_no_longer_be_written_is_given_up() {
    let (mut c, t1) = Cluster::t1_committed_at_be_with_be2_standby();
    c.kill(BE);
    c.sync();
    // be2 holds be's journal (its server has not acknowledged t1).
    let s = c.take(BE2, SERVER);
    assert!(s.iter().any(|x| x.1 == MsgType::Msg1Uncertain && x.2 == Some(t1)), "{s:?}");
    let now = c.now;
    c.node(BE2).taken_over_lost(now, 1);
    let out = c.node(BE2).take_output();
    assert!(out.iter().any(|o| matches!(o, Output::Release { jid: 1 })), "{out:?}");
    // Routers that link now are not told be2 holds it.
    let info = c.peer_info(BE2, TR1);
    c.node(BE2).link_up(now, 99, info);
    let out = c.node(BE2).take_output();
    assert!(
        !out.iter().any(|o| matches!(o, Output::Peer { msg: Internal::Tr(ToRouter::TookOver { .. }), .. })),
        "{out:?}"
    );
}

impl Cluster {
    /// What recycling does to node `k`'s journal over time: every record of
    /// a transaction with a `Done` record goes (its segment is reused).
    fn recycle(&mut self, k: usize) {
        let done: Vec<Tid> = self.journals[k].iter().filter(|r| r.kind == RecordKind::Done).map(|r| r.tid).collect();
        self.journals[k].retain(|r| !done.contains(&r.tid));
    }
}

impl Cluster {
    /// be's server applies t1 (committed, acknowledged); tr1's outcome to
    /// the client is lost, so nobody lets be forget it. Returns t1.
    fn applied_commit_whose_outcome_was_lost(&mut self) -> Tid {
        let t1 = self.tid();
        self.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
        self.take(BE, SERVER);
        self.server_accept(1, t1);
        self.sync_unpumped();
        self.pump_only(BE, TR1);
        assert_eq!(self.take_wire(TR1, FE).len(), 1, "the outcome to the client is lost");
        self.pump();
        self.ack(1, t1);
        self.take(BE, SERVER);
        self.flush_batches();
        t1
    }
}

/// Issue 14 item 2: a commit stays answerable from the journal until its
/// router says every participant and the client have the outcome. be
/// applied t1 (its server acknowledged it) but the outcome to the client
/// was lost with tr1; be restarts (its memory gone, its journal recycled
/// as far as it may be); the frontend drives t1 again through tr2, which
/// asks be: its journal still says "committed", so the client hears
/// "accepted" and be's server never sees t1 again. Before, be wrote Done
/// at the acknowledgement, the record went with its segment, and the
/// re-drive presented t1 as a new transaction: applied twice.
#[test]
fn an_applied_commit_stays_answerable_from_the_journal_until_its_client_has_the_outcome() {
    let mut c = ready();
    let t1 = c.applied_commit_whose_outcome_was_lost();
    let kinds = |c: &Cluster| c.journals[BE].iter().filter(|r| r.tid == t1).map(|r| r.kind).collect::<Vec<_>>();
    assert_eq!(kinds(&c).last(), Some(&RecordKind::Applied), "{:?}", kinds(&c));
    c.recycle(BE);
    assert!(!kinds(&c).is_empty(), "an answerable commit pins its records");
    c.kill(BE);
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Opened], "not replayed");
    c.kill(TR1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    assert!(c.take(BE, SERVER).iter().all(|x| x.2 != Some(t1)), "be's server never sees t1 again");
    // The client has it now: tr2 lets be forget it.
    c.flush_batches();
    assert_eq!(kinds(&c).last(), Some(&RecordKind::Done), "{:?}", kinds(&c));
}

/// The forget's normal path: the frontend's acknowledgement rides with its
/// next message to the router, the router's forget with its next message
/// to the backend; no message of their own while traffic flows, and on
/// their own after `FLUSH_AFTER` when it does not.
#[test]
fn acknowledgements_and_forgets_ride_with_the_next_messages() {
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.take(BE, SERVER);
    c.server_accept(1, t1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    c.ack(1, t1);
    assert!(c.wire.is_empty(), "nothing sent for the acknowledgement alone");
    let kinds = |c: &Cluster, t| c.journals[BE].iter().filter(|r| r.tid == t).map(|r| r.kind).collect::<Vec<_>>();
    assert_eq!(kinds(&c, t1).last(), Some(&RecordKind::Applied));
    // The next transaction carries the acknowledgement to tr1 ...
    let t2 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t2, flags: flags::sen::ACCEPT, data: msg(6, "two") });
    // ... and tr1's message to be the forget: be writes t1's Done.
    assert_eq!(kinds(&c, t1).last(), Some(&RecordKind::Done), "{:?}", kinds(&c, t1));
    c.take(BE, SERVER);
    c.server_accept(1, t2);
    c.sync();
    c.ack(1, t2);
    assert_eq!(kinds(&c, t2).last(), Some(&RecordKind::Applied));
    // Nothing else to ride on: after FLUSH_AFTER they go alone.
    assert!(c.node(FE).next_deadline().is_some(), "the frontend's flush is due");
    c.flush_batches();
    assert_eq!(kinds(&c, t2).last(), Some(&RecordKind::Done));
    for k in [FE, TR1, BE] {
        assert_eq!(c.node(k).next_deadline(), None, "{} has nothing left to send", NAMES[k]);
    }
}

/// An answerable commit whose router will never say to forget it (lost
/// after the client's acknowledgement) is freed by an operator:
/// `rtr set transaction TID --forget`.
#[test]
fn an_operator_frees_an_answerable_commit() {
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.take(BE, SERVER);
    c.server_accept(1, t1);
    c.sync();
    c.ack(1, t1);
    let last = |c: &Cluster| c.journals[BE].iter().filter(|r| r.tid == t1).map(|r| r.kind).next_back();
    assert_eq!(last(&c), Some(RecordKind::Applied));
    let now = c.now;
    let said = c.node(BE).set_transaction(now, t1, crate::protocol::admin::TxChange::Forget);
    assert!(said.as_ref().is_ok_and(|m| m.contains("forgotten")), "{said:?}");
    c.collect();
    assert_eq!(last(&c), Some(RecordKind::Done));
    // Once only: it is not answerable any more.
    let again = c.node(BE).set_transaction(now, t1, crate::protocol::admin::TxChange::Forget);
    assert_eq!(again.map_err(|e| e.code()), Err("NOSUCHTX"));
}

/// Simulator seed 7248 of 7000..7999: a router that rolled back an in-doubt
/// transaction by asking the backends (its first router lost) did not
/// remember that outcome; the frontend, cut off meanwhile, drove the
/// transaction again through it once the backend that had rolled it back
/// had restarted with those records recycled, so nobody knew the tid and it
/// was started afresh: two outcomes for one tid. The router now remembers
/// what it resolved, and the re-drive is rejected.
#[test]
fn a_transaction_a_router_rolled_back_by_asking_is_not_started_again_by_a_re_drive() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    // The server votes; the vote dies with tr1. The frontend is cut off from
    // tr2: it keeps the accepted transaction, waiting for a router.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.node(BE).take_output();
    c.cut(FE, TR2);
    c.kill(TR1);
    assert!(c.take(FE, CLIENT).is_empty(), "the frontend waits");
    // be asks tr2, which asks every backend: nobody committed it (be2's
    // "unknown" is bound durably before it is given).
    c.now += backend::ORPHAN_GRACE + Duration::from_millis(1);
    let now = c.now;
    c.node(BE).tick(now);
    c.pump();
    c.settle();
    let s = c.take(BE, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.3)).collect::<Vec<_>>(),
        vec![(MsgType::Rejected, Some(Status::Routerunavailtmo))]
    );
    // A rollback found by asking has no frontend at tr2 to wait for: be is
    // told to forget it at once (kept, it would pin be's journal for good).
    // be restarts with the rollback's records recycled: it knows nothing of tid.
    c.flush_batches();
    c.recycle(BE);
    assert!(c.journals[BE].iter().all(|r| r.tid != tid));
    c.kill(BE);
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.take(BE, SERVER);
    // The frontend reaches tr2 again and drives the transaction there.
    c.relink(FE, TR2);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(tid), Some(Status::Routerunavailtmo))]);
    assert!(c.take(BE, SERVER).iter().all(|x| x.2 != Some(tid)), "be's server never sees it again");
}

/// Simulator seed 7138 (two routers): a router frozen past its links'
/// timeouts still holds a frontend's re-drive of a transaction that the
/// other router has since rejected to the client. Thawed, it reads the
/// re-drive and probes: the backends, told of the rejection (they had
/// never seen the tid), answer "aborted", so it is not started afresh
/// (it was: the server applied a transaction its client saw rejected).
#[test]
fn a_re_driven_transaction_rejected_through_one_router_is_refused_to_another_that_held_it() {
    let mut c = ready();
    let tid = c.tid();
    // The client sends with its accept; only the transaction's start
    // reaches tr1 before the connection breaks.
    let now = c.now;
    let send = Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") };
    c.node(FE).handle_request(now, CLIENT, send);
    c.collect();
    let to_tr1 = c.take_wire(FE, TR1);
    assert!(matches!(to_tr1[0], Internal::Tr(ToRouter::Start { .. })), "{to_tr1:?}");
    c.node(TR1).peer_input(now, peer_ref(FE), to_tr1[0].clone());
    // tr1 rejects it (its client's node gone before the accept); the
    // frontend drives it again through tr2, which is frozen: what it sends
    // waits unread, and the frontend gives tr2 up (tr2 has not noticed).
    c.node(FE).link_down(now, peer_ref(TR1));
    c.node(TR1).link_down(now, peer_ref(FE));
    c.collect();
    let stale = c.take_wire(FE, TR2);
    assert!(stale.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Start { drive: 1.., .. }))), "{stale:?}");
    c.node(FE).link_down(now, peer_ref(TR2));
    c.pump();
    // The frontend reaches tr1 again: its rejection stands.
    c.relink(FE, TR1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(tid), Some(Status::Reqdied))]);
    // tr2 thaws and reads the re-drive.
    let now = c.now;
    for m in stale {
        c.node(TR2).peer_input(now, peer_ref(FE), m);
    }
    c.pump();
    c.sync();
    c.flush_batches();
    assert!(c.take(BE, SERVER).iter().all(|x| x.2 != Some(tid)), "the server never sees it");
    assert!(c.take(FE, CLIENT).is_empty(), "the client heard its one outcome");
    assert_eq!(c.node(TR2).stats().active_tx, 0);
}

/// Simulator seed 7336: a one-backend transaction's router decided commit
/// (the vote was not durable: one backend node), and the backend node died
/// before the commit reached it. Restarted, it holds nothing of the
/// transaction: told the commit again, it answers that it did not commit
/// it, and the client hears the failure (it waited for ever).
#[test]
fn a_commit_sent_again_to_a_node_that_lost_the_branch_is_answered_and_the_client_hears_the_failure() {
    let mut c = ready();
    c.kill(TR2);
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.pump_only(BE, TR1);
    c.collect();
    let lost = c.take_wire(TR1, BE);
    assert!(lost.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { accepted: true, .. }))), "{lost:?}");
    // be dies before anything of the transaction was durable.
    c.journals[BE].retain(|r| r.tid != tid);
    c.kill(BE);
    assert!(c.take(FE, CLIENT).is_empty(), "decided, not yet durable: the client waits");
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    c.flush_batches();
    assert!(c.take(BE, SERVER).iter().all(|x| x.2 != Some(tid)), "nothing of it here to present");
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Rejected, Some(tid), Some(Status::Srvdied))]);
}

/// Simulator seed 24 (disk faults): a router handed a lost node's commit
/// to the range's active partition, whose journal was full at that moment.
/// The refused write was logged and the hand-off dropped: the router waited
/// for `Adopted` for ever and so did the client. The work is committed (it
/// may not be dropped), so it is written again with the refused commit
/// records until it fits, and only then answered and presented.
#[test]
fn a_hand_off_refused_by_a_full_journal_is_written_again_not_dropped() {
    use crate::journal::RecordKind;
    let mut c = ready();
    let t1 = c.tid();
    let now = c.now;
    let part = c.node(BE).show_partitions().0[0].id;
    let adopt = ToBackend::Adopt { part, tid: t1, msgs: vec![msg(5, "one")], reason: 0, drive: crate::node::NO_DRIVE };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(adopt));
    c.collect();
    let refused: Vec<u64> = c.syncs.iter().filter(|(i, _)| *i == BE).map(|(_, t)| *t).collect();
    assert_eq!(refused.len(), 1, "the hand-off's synced write");
    c.syncs.retain(|(i, _)| *i != BE);
    c.node(BE).journal_done(now, refused[0], Err(Status::Jnlfull));
    c.collect();
    let answers = c.take_wire(BE, TR1);
    assert!(!answers.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Adopted { .. }))), "{answers:?}");
    assert!(c.take(BE, SERVER).is_empty(), "nothing presented that is not durable");
    // Space again: written again, then answered and presented.
    c.now += super::backend::COMMIT_RETRY;
    let now = c.now;
    c.node(BE).tick(now);
    c.collect();
    let commits = c.journals[BE].iter().filter(|r| r.tid == t1 && r.kind == RecordKind::Commit).count();
    assert_eq!(commits, 2, "written again");
    c.sync_unpumped();
    c.collect();
    let answers = c.take_wire(BE, TR1);
    assert!(answers.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Adopted { tid, .. }) if *tid == t1)));
    let s = c.take(BE, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![(MsgType::Msg1Uncertain, Some(t1)), (MsgType::Accepted, Some(t1))]
    );
}

/// Simulator seed 24 again: the router's `Forget` of an applied commit was
/// on its way when the backend stopped. The restarted node kept the commit
/// answerable (its journal said so) and nobody ever told it to forget: its
/// oldest segment stayed pinned until the journal was full for good. A
/// restarted node reports its journal's commits; those the router forgot
/// already are forgotten there again.
#[test]
fn a_forget_lost_with_a_restart_is_sent_again() {
    use crate::journal::RecordKind;
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.take(BE, SERVER);
    c.server_accept(1, t1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    c.ack(1, t1);
    // The frontend's acknowledgement reaches tr1 ...
    c.now += crate::node::router::FLUSH_AFTER;
    let now = c.now;
    c.node(FE).tick(now);
    c.pump();
    // ... and tr1's forget is lost with be.
    c.now += crate::node::router::FLUSH_AFTER;
    let now = c.now;
    c.node(TR1).tick(now);
    c.collect();
    let lost = c.take_wire(TR1, BE);
    assert!(lost.iter().any(|m| matches!(m, Internal::Be(ToBackend::Forget { .. }))), "{lost:?}");
    let kinds = |c: &Cluster| c.journals[BE].iter().filter(|r| r.tid == t1).map(|r| r.kind).collect::<Vec<_>>();
    assert_eq!(kinds(&c).last(), Some(&RecordKind::Applied));
    c.kill(BE);
    c.restart(BE);
    c.flush_batches();
    assert_eq!(kinds(&c).last(), Some(&RecordKind::Done), "{:?}", kinds(&c));
}

/// Simulator seeds 21, 104, 249 (disk faults): be2 took over be's journal,
/// which held committed work of a key range be2 does not serve. be2 held
/// the journal for ever (nothing here could present that work) and be
/// could never start again on it. The journal is let go once nothing in it
/// is for this node, and be hands the work on when it starts again.
#[test]
fn a_taken_over_journal_holding_only_work_for_other_ranges_is_let_go() {
    let mut c = ready();
    // be also serves keys 2001 to 3000; be2 stands by for 0 to 1000 only.
    let open = Request::Open {
        chan: 2,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(2001, 3000),
    };
    c.req(BE, SERVER, open);
    assert_eq!(c.take(BE, SERVER)[0].1, MsgType::Opened);
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(2500, "other") });
    assert!(c.take(BE, SERVER).iter().any(|x| x.2 == Some(t1)));
    c.server_accept(2, t1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    // Committed, not acknowledged by be's server: be dies, be2 takes over
    // its journal for keys 0 to 1000 and finds t1 for 2001 to 3000.
    c.kill(BE);
    c.sync();
    assert!(c.take(BE2, SERVER).iter().all(|x| x.2 != Some(t1)), "not be2's range");
    assert!(c.released.iter().any(|(k, _)| *k == BE2), "the journal is let go: {:?}", c.released);
    // be starts again on its journal and presents t1 (uncertain) itself.
    c.restart(BE);
    let open = Request::Open {
        chan: 2,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(2001, 3000),
    };
    c.req(BE, SERVER, open);
    c.sync();
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.1 == MsgType::Msg1Uncertain && x.2 == Some(t1)), "{s:?}");
}

/// Simulator seeds 7322, 7712 (one router): tr1 rejected a transaction and
/// told be, whose server heard "rejected"; the outcome to the frontend was
/// lost with tr1. be restarted with its journal recycled: it wrote `Abort`
/// and `Done` together, so the rejection went with its segment, and the
/// frontend's re-drive through tr2 found nobody who knew the tid, started
/// it afresh and committed it. A router's rejection is now kept answerable
/// in the journal (`KeptAbort`) until the client's frontend has it.
#[test]
fn a_rejection_the_client_never_heard_stays_answerable_across_a_restart() {
    let mut c = ready();
    let tid = server_reject_unheard(&mut c);
    c.pump();
    // The server hears once the rejection's kept record is synced.
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Rejected], "{s:?}");
    let kinds = |c: &Cluster| c.journals[BE].iter().filter(|r| r.tid == tid).map(|r| r.kind).collect::<Vec<_>>();
    // be restarts, its journal recycled as far as it may be: the rejection stays.
    c.recycle(BE);
    assert_eq!(kinds(&c).last(), Some(&RecordKind::Abort), "{:?}", kinds(&c));
    c.kill(BE);
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.take(BE, SERVER);
    // tr1 dies; the frontend drives the transaction again through tr2.
    c.kill(TR1);
    c.sync();
    let out = c.take(FE, CLIENT);
    assert_eq!(out.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Rejected], "{out:?}");
    assert!(c.take(BE, SERVER).iter().all(|x| x.2 != Some(tid)), "be's server never sees it again");
    // The client has it now: be is told to forget the rejection.
    c.flush_batches();
    assert_eq!(kinds(&c).last(), Some(&RecordKind::Done), "{:?}", kinds(&c));
}

// Issue 17 item 3: every peer message is checked against the roles its
// sender plays in the facility definitions agreed at its link.

impl Cluster {
    /// Link node `a` to node `b` although the definition calls for no such
    /// link (a node that plays other roles than the message needs).
    fn link_extra(&mut self, a: usize, b: usize) {
        let info = self.peer_info(a, b);
        let now = self.now;
        self.node(a).link_up(now, peer_ref(b), info);
        self.pump();
    }

    /// Hand `m` to node `to` as if from linked peer `from`, and return the
    /// log lines that produced (the rest of its output is pumped as usual).
    fn inject(&mut self, from: usize, to: usize, m: Internal) -> Vec<String> {
        let now = self.now;
        self.node(to).peer_input(now, peer_ref(from), m);
        let mut logs = Vec::new();
        let mut rest = Vec::new();
        for o in self.node(to).take_output() {
            match o {
                Output::Log(l) | Output::Detail(l) => logs.push(l),
                Output::Peer { peer, msg } => rest.push((to, peer as usize - 1, msg)),
                o => panic!("a dropped message produced {o:?}"),
            }
        }
        self.wire.extend(rest);
        self.pump();
        logs
    }
}

#[test]
fn a_partition_announced_by_a_frontend_is_ignored() {
    let mut c = ready();
    assert_eq!(c.node(TR1).tr.partition_count("F"), 1);
    let up = |part| {
        Internal::Tr(ToRouter::PartitionUp {
            facility: "F".into(),
            part,
            range: range(2001, 3000),
            active: true,
            epoch: 1,
            priority: Vec::new(),
            nostandby: false,
            callout: Callout::No,
            shadow: None,
        })
    };
    let logs = c.inject(FE, TR1, up(7));
    assert_eq!(c.node(TR1).tr.partition_count("F"), 1, "the router's partitions are unchanged");
    assert_eq!(c.node(TR1).refused_peer_messages(), 1);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].contains("fe") && logs[0].contains("PartitionUp") && logs[0].contains("backend"), "{logs:?}");
    // Logged once per (peer, kind); every one is counted.
    assert!(c.inject(FE, TR1, up(8)).is_empty());
    assert_eq!(c.node(TR1).refused_peer_messages(), 2);
    assert_eq!(c.node(TR1).tr.partition_count("F"), 1);
    // The real backend's announcements still count.
    assert_eq!(c.node(BE).refused_peer_messages(), 0);
}

#[test]
fn an_outcome_from_a_backend_does_not_reach_the_client() {
    let mut c = ready();
    c.link_extra(FE, BE);
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "pay") });
    assert_eq!(c.take(BE, SERVER)[0].1, MsgType::Msg1);
    let forged =
        Internal::Fe(ToFrontend::Outcome { tid, client: (CLIENT, 1), accepted: true, status: Status::Ok, reason: 0 });
    let logs = c.inject(BE, FE, forged);
    assert!(c.take(FE, CLIENT).is_empty(), "the client hears nothing");
    assert_eq!(c.node(FE).refused_peer_messages(), 1);
    assert!(logs.iter().any(|l| l.contains("Outcome") && l.contains("router")), "{logs:?}");
    // The real router still finishes it.
    c.req(FE, CLIENT, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.server_accept(1, tid);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
}

#[test]
fn a_commit_outcome_from_a_peer_that_is_not_a_router_is_ignored() {
    let mut c = ready();
    c.link_extra(BE, FE);
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    // The server votes yes; its vote is lost with the links to both
    // routers, so the branch waits in doubt for whichever router decides.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.node(BE).take_output();
    c.node(BE).link_down(now, peer_ref(TR1));
    c.node(BE).link_down(now, peer_ref(TR2));
    c.node(BE).take_output();
    let part = c.node(BE).show_partitions().0[0].id;
    let forged = Internal::Be(ToBackend::Outcome {
        tid,
        parts: vec![part],
        accepted: true,
        status: Status::Ok,
        reason: 0,
        drive: 0,
    });
    let logs = c.inject(FE, BE, forged);
    c.sync();
    assert!(c.syncs.is_empty());
    let commits = c.journals[BE].iter().filter(|r| r.tid == tid && r.kind == crate::journal::RecordKind::Commit);
    assert_eq!(commits.count(), 0, "no commit record: {:?}", c.journals[BE]);
    assert!(c.take(BE, SERVER).iter().all(|x| x.1 != MsgType::Accepted), "the server hears no commit");
    assert_eq!(c.node(BE).refused_peer_messages(), 1);
    assert!(logs.iter().any(|l| l.contains("ToBackend::Outcome")), "{logs:?}");
}

#[test]
fn a_took_over_naming_a_path_or_an_unconfigured_node_is_refused() {
    let mut c = ready();
    let took = |node: &str| {
        Internal::Tr(ToRouter::TookOver {
            node: node.into(),
            committed: Vec::new(),
            read: true,
            aborted: Vec::new(),
            epoch: 1,
        })
    };
    let logs = c.inject(BE, TR1, took("../x"));
    assert!(logs.iter().any(|l| l.contains("TookOver") && l.contains("not a node name")), "{logs:?}");
    assert_eq!(c.node(TR1).refused_peer_messages(), 1);
    c.inject(BE, TR1, took("/etc"));
    c.inject(BE, TR1, took("elsewhere"));
    assert_eq!(c.node(TR1).refused_peer_messages(), 3);
    // From a frontend, even a configured backend's name is refused.
    c.inject(FE, TR1, took("be2"));
    assert_eq!(c.node(TR1).refused_peer_messages(), 4);
    // A backend reporting a configured backend's journal is heard.
    c.inject(BE, TR1, took("be2"));
    c.inject(BE, TR1, took("be"));
    assert_eq!(c.node(TR1).refused_peer_messages(), 4);
}

#[test]
fn a_grant_naming_a_path_or_an_unconfigured_node_takes_over_no_journal() {
    for holder in ["../x", "/abs", "zz"] {
        let mut c = ready();
        c.defer_takeovers = Some(Vec::new());
        let rid = crate::authority::range_id("F", &range(0, 1000));
        let previous = crate::authority::Grant { epoch: 1, holder: holder.into(), released: false, forced: false };
        let now = c.now;
        let claim = crate::authority::Claim::Granted { epoch: 9, previous: Some(previous) };
        c.node(BE).claimed(now, &rid, Ok(claim));
        c.pump();
        assert_eq!(c.defer_takeovers.as_ref().unwrap(), &Vec::new(), "{holder}: no takeover asked for");
        assert_eq!(c.partition_states(BE), vec![crate::protocol::admin::PartitionState::NoJournal], "{holder}");
    }
}

/// A server for keys 1001 to 2000 on channel `chan`.
fn upper_server(chan: ChanId) -> Request {
    Request::Open {
        chan,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(1001, 2000),
    }
}

/// be serves keys 0 to 1000 (chan 1) and 1001 to 2000 (chan 2); be2 is a
/// standby of keys 0 to 1000 only. Transaction t1 has a branch on each of
/// be's ranges; both vote, tr1 decides the commit, and be dies before its
/// outcome reaches it. be2 takes over be's journal (no commit there: the
/// votes were not durable) and tr1 gives it the whole of t1: be2 writes
/// both messages and the commit, presents its own range's and hands on
/// the other (no partition of be2 serves it). Returns t1.
fn lost_commit_on_two_ranges(c: &mut Cluster) -> Tid {
    use crate::journal::RecordKind;
    c.req(BE, SERVER, upper_server(2));
    c.open_standby(0, false);
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "low") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1500, "high") });
    c.take(BE, SERVER);
    c.server_accept(1, t1);
    // The second vote decides; the router's outcome never reaches be.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 2, tid: t1, reason: 0, flags: 0, implicit: false });
    c.pump_only(BE, TR1);
    assert!(!c.take_wire(TR1, BE).is_empty(), "the outcome was on its way");
    c.kill(BE);
    c.sync();
    // be2 keeps all of it, with the commit, in its own journal.
    let mine: Vec<RecordKind> = c.journals[BE2].iter().filter(|r| r.tid == t1).map(|r| r.kind).collect();
    assert_eq!(mine, vec![RecordKind::Msg, RecordKind::HandOn, RecordKind::Commit], "{mine:?}");
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    let s = c.take(BE2, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.0, x.1, x.2)).collect::<Vec<_>>(),
        vec![(1, MsgType::Msg1Uncertain, Some(t1)), (1, MsgType::Accepted, Some(t1))]
    );
    t1
}

impl Cluster {
    /// A server for keys 1001 to 2000 opens on be2 (chan 2), claims the
    /// range and is brought what waited for it: t1's share is presented
    /// there exactly once.
    fn upper_on_be2_gets(&mut self, t1: Tid) {
        self.req(BE2, SERVER, upper_server(2));
        self.advance(BE2, backend::roles::START_DEFER);
        self.sync();
        let s = self.take(BE2, SERVER);
        let got: Vec<_> = s.iter().filter(|x| x.0 == 2 && x.2 == Some(t1)).map(|x| x.1).collect();
        assert_eq!(got, vec![MsgType::Msg1Uncertain, MsgType::Accepted], "{s:?}");
        self.req(BE2, SERVER, Request::Ack { chan: 2, tid: t1 });
        assert!(self.take(BE2, SERVER).iter().all(|x| x.2 != Some(t1)));
    }
}

/// A commit of the router's own whose backend node was lost before making
/// it durable, with branches on two key ranges: the router hands the whole
/// of it to one keeper, which makes it durable in one write and hands on
/// the share its partitions do not serve. The router can then be lost: the
/// keeper's hand-off reaches the range's next active partition through
/// the other router. Sent branch by branch (or held until every range had
/// an active partition), the share was known to the lost router only and
/// never applied (simulator seed 8440: half a transfer).
#[test]
fn a_lost_backends_commit_on_two_ranges_is_kept_whole_by_one_node_and_survives_its_router() {
    let mut c = ready();
    let t1 = lost_commit_on_two_ranges(&mut c);
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t1 });
    // The router that decided it is lost; keys 1001 to 2000 get a server
    // again, on be2: the other router brings it the share be2 handed on.
    c.kill(TR1);
    c.upper_on_be2_gets(t1);
}

/// The keeper itself restarts before the share it hands on is durable
/// anywhere: its journal says which messages to hand on (`HandOn`), so it
/// hands them on again when a router links; they were left unclaimed for
/// ever (simulator seed 7283: the range never applied the commit).
#[test]
fn a_keeper_that_restarts_hands_its_share_on_again() {
    let mut c = ready();
    let t1 = lost_commit_on_two_ranges(&mut c);
    c.kill(TR1);
    c.kill(BE2);
    c.restart(BE2);
    // Its own range's share is presented again (uncertain) once a server
    // for it is back.
    c.open_standby(0, false);
    c.advance(BE2, backend::roles::START_DEFER);
    c.sync();
    let s = c.take(BE2, SERVER);
    let low: Vec<_> = s.iter().filter(|x| x.0 == 1 && x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(low, vec![MsgType::Msg1Uncertain, MsgType::Accepted], "{s:?}");
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t1 });
    // be comes back and serves keys 1001 to 2000 again (be2 has no
    // partition for them): be2's hand-on reaches it there.
    c.restart(BE);
    c.req(BE, SERVER, upper_server(2));
    c.sync();
    let s = c.take(BE, SERVER);
    let high: Vec<_> = s.iter().filter(|x| x.0 == 2 && x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(high, vec![MsgType::Msg1Uncertain, MsgType::Accepted], "{s:?}");
}

impl Cluster {
    /// The server accepts `tid`: the client hears the commit, once, and the
    /// server its outcome, once.
    fn accept_and_hear_one_commit(&mut self, tid: Tid) {
        self.server_accept(1, tid);
        self.sync();
        assert_eq!(self.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
        assert_eq!(self.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Accepted]);
    }
}

/// Simulator seeds 9061 and 9221 (two routers): a router that its frontend
/// left still held the client's messages and placed them where the later
/// drive's probe had been. The backend must not start them: it has seen a
/// later drive of the tid, and says so; the stale router drops its copy, and
/// the server sees only the later drive's transaction.
#[test]
fn work_of_an_earlier_drive_is_not_started_where_a_later_drive_probed() {
    let mut c = ready();
    let tid = c.tid();
    // tr1 is cut off with the whole first drive unread.
    let now = c.now;
    c.node(FE).handle_request(
        now,
        CLIENT,
        Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") },
    );
    c.collect();
    let stale = c.take_wire(FE, TR1);
    assert!(stale.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Start { drive: 0, .. }))), "{stale:?}");
    // The frontend gives tr1 up (tr1 does not notice) and drives it again
    // through tr2, whose probe reaches be (its answer waits on the wire).
    c.node(FE).link_down(now, peer_ref(TR1));
    c.pump_only(FE, TR2);
    c.pump_only(TR2, BE);
    // tr1 reads the first drive and routes it to be: not started there.
    for m in stale {
        c.node(TR1).peer_input(now, peer_ref(FE), m);
    }
    c.pump_only(TR1, BE);
    assert!(c.take(BE, SERVER).is_empty(), "the server never sees the earlier drive");
    let refused = c.take_wire(BE, TR1);
    assert!(refused.iter().any(|m| matches!(m, Internal::Tr(ToRouter::DrivenElsewhere { tid: t, .. }) if *t == tid)));
    for m in refused {
        c.node(TR1).peer_input(now, peer_ref(BE), m);
    }
    c.collect();
    assert_eq!(c.node(TR1).stats().active_tx, 0, "tr1 dropped its copy");
    assert!(
        !c.wire.iter().any(|(f, t, m)| *f == TR1 && *t == BE && matches!(m, Internal::Be(ToBackend::Outcome { .. }))),
        "and sent be no rollback, which be would keep as the transaction's outcome"
    );
    // The later drive runs to its end (be and be2 answer once their
    // promises to that drive are durable): one transaction at the server.
    c.sync();
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![(MsgType::Msg1, Some(tid)), (MsgType::Prepare, Some(tid))]
    );
    c.accept_and_hear_one_commit(tid);
}

/// Simulator seed 7049 (two routers): the router of a later drive takes a
/// branch from the router of an earlier one even while that router is still
/// linked (it waited for that router's decision, which never came: the
/// earlier router waited in turn for its own probe). The earlier router is
/// told and drops its copy; the vote goes to the later one, which commits.
#[test]
fn a_later_drive_takes_a_branch_from_the_router_of_an_earlier_one() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Prepare]);
    // The frontend gives tr1 up (tr1, still linked to be, does not notice)
    // and drives the transaction again through tr2.
    let now = c.now;
    c.node(FE).link_down(now, peer_ref(TR1));
    c.pump();
    // be takes the branch once its promise to tr2's drive is durable.
    c.sync();
    assert_eq!(c.node(TR1).stats().active_tx, 0, "tr1 was told and dropped its copy");
    // The server's vote goes to tr2, which commits: one outcome.
    c.accept_and_hear_one_commit(tid);
}

/// The frontend drives a transaction again through tr2 after it gave tr1
/// up; tr1 comes back and sends a stale outcome of its copy. The client
/// hears only the outcome of the router now driving it.
#[test]
fn a_frontend_takes_an_outcome_only_from_the_router_now_driving_the_transaction() {
    let mut c = ready();
    let tid = c.tid();
    let now = c.now;
    c.node(FE).handle_request(
        now,
        CLIENT,
        Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") },
    );
    c.collect();
    c.take_wire(FE, TR1);
    c.node(FE).link_down(now, peer_ref(TR1));
    c.node(TR1).link_down(now, peer_ref(FE));
    c.pump_only(FE, TR2);
    c.relink(FE, TR1);
    let now = c.now;
    let stale = ToFrontend::Outcome { tid, client: (CLIENT, 1), accepted: false, status: Status::Reqdied, reason: 0 };
    c.node(FE).peer_input(now, peer_ref(TR1), Internal::Fe(stale));
    c.collect();
    assert!(c.take(FE, CLIENT).is_empty(), "tr1's outcome is not the client's");
    c.pump();
    c.sync();
    c.take(BE, SERVER);
    c.accept_and_hear_one_commit(tid);
}

/// Simulator seed 7631 (two routers): the router of an earlier drive never
/// takes a branch back from the router of a later one, even when that
/// router's link is down (it took the branch back with a vote request,
/// committed, and the later drive's router rolled the other branches back).
/// Its request waits on the branch, which is an orphan resolved by asking.
#[test]
fn an_earlier_drive_never_takes_a_branch_back_from_a_later_one() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    let now = c.now;
    c.node(FE).link_down(now, peer_ref(TR1));
    c.pump();
    c.sync();
    // tr2 (drive 1) owns the branch now; its link to be goes.
    c.cut(TR2, BE);
    c.take_wire(BE, TR1);
    let now = c.now;
    let stale = ToBackend::VoteRequest { tid, part: 1, durable: false, drive: 0 };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(stale));
    c.collect();
    let to_tr1 = c.take_wire(BE, TR1);
    assert!(
        !to_tr1.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Vote { tid: t, .. }) if *t == tid)),
        "no vote for the earlier drive: {to_tr1:?}"
    );
    // The server's vote goes to nobody yet (tr2, the owner, is cut off).
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.collect();
    let to_tr1 = c.take_wire(BE, TR1);
    assert!(!to_tr1.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Vote { .. }))), "{to_tr1:?}");
}

/// Simulator seed 33216 (two routers): tr1 committed drive 0 of a
/// transaction while tr2's probe of drive 1 took its branch; the commit
/// (durable nowhere, dropped by tr1 on `DrivenElsewhere`) waited on the
/// branch at be. The frontend then drove the transaction again through tr1
/// (drive 2), whose probe took the branch back. When tr1's link to be went,
/// the waiting drive-0 outcome came back, and be took it as its owner's:
/// it committed the branch on a decision its router had dropped (drive 2
/// then heard "committed", and work it had moved to another range was never
/// presented). A request of an earlier drive than the branch's waits, from
/// the branch's owner too.
#[test]
fn an_earlier_drives_outcome_is_not_taken_after_its_router_took_the_branch_back_under_a_later_drive() {
    let mut c = ready();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    // The frontend gives tr1 up and drives the transaction again through
    // tr2 (drive 1), which takes the branch once be's promise is durable.
    let now = c.now;
    c.node(FE).link_down(now, peer_ref(TR1));
    c.pump();
    c.sync();
    let input = |c: &mut Cluster, m: ToBackend| {
        let now = c.now;
        c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(m));
        c.pump();
        c.sync();
    };
    // tr1's commit of drive 0 reaches be: the branch is tr2's (drive 1),
    // so it waits there.
    input(&mut c, ToBackend::Outcome { tid, parts: vec![1], accepted: true, status: Status::Ok, reason: 0, drive: 0 });
    // The frontend drives it again through tr1 (drive 2): its probe takes
    // the branch back, and the server votes yes, for drive 2.
    input(&mut c, ToBackend::Inquire { tid, facility: "F".into(), drive: 2, binds: 0 });
    c.server_accept(1, tid);
    c.sync();
    // tr1's link to be goes before drive 2 is decided.
    c.cut(TR1, BE);
    c.sync();
    let s = c.take(BE, SERVER);
    assert!(!s.iter().any(|x| x.1 == MsgType::Accepted), "drive 0's dropped commit was not applied: {s:?}");
    assert!(
        !c.journals[BE].iter().any(|r| r.tid == tid && r.kind == crate::journal::RecordKind::Commit),
        "no commit record at be"
    );
}

impl Cluster {
    /// be dies (kill -9); tr1 has not noticed yet (its link's inactivity
    /// timer has not run out), every other node has: be2 may take be's
    /// range and journal over while tr1 still routes to be.
    fn kill_be_unnoticed_by_tr1(&mut self) {
        self.nodes[BE] = None;
        self.auth[BE] = None;
        self.authority.process_ended(NAMES[BE]);
        self.wire.retain(|(f, t, _)| *f != BE && *t != BE);
        let now = self.now;
        for i in [FE, TR2, BE2] {
            self.node(i).link_down(now, peer_ref(BE));
        }
    }

    /// be2 serves keys 1001 to 2000 (chan 2, active) and stands by for be's
    /// keys 0 to 1000 (chan 1).
    fn be2_upper_and_standby(&mut self) {
        self.req(BE2, SERVER, upper_server(2));
        self.advance(BE2, backend::roles::START_DEFER);
        self.sync();
        self.open_standby(0, false);
        self.take(BE2, SERVER);
    }
}

/// Simulator seed 7156 (two routers): be2 read the journal of lost be, in
/// which t1 was in doubt (be had voted yes), and held a branch of t1 of its
/// own, not voted yet, that tr1 was still driving. Asked about t1 by tr2,
/// it answered "in doubt" at once, for the copy, as if its own branch were
/// not there; tr2 later took that and the other stale answers for "nobody
/// committed" and rolled the copy back, while tr1 committed t1: half a
/// transfer. A node's own undecided branch makes it wait, copy or not: its
/// answer comes when the branch is decided (here: committed).
#[test]
fn a_node_holding_a_read_journals_copy_and_a_live_branch_answers_a_question_only_when_the_branch_is_decided() {
    let mut c = ready();
    c.be2_upper_and_standby();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "low") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1500, "high") });
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    c.server_accept(1, t1);
    c.sync();
    // be dies; tr1, its router, has not noticed yet (its link's inactivity
    // timer has not run out), so be2 reads the journal and holds t1's
    // share of be in doubt, while tr1 still drives t1.
    c.kill_be_unnoticed_by_tr1();
    c.sync();
    let now = c.now;
    let ask = ToBackend::Inquire { tid: t1, facility: "F".into(), drive: 0, binds: 0 };
    c.node(BE2).peer_input(now, peer_ref(TR2), Internal::Be(ask));
    c.collect();
    let answers = c.take_wire(BE2, TR2);
    assert!(
        !answers.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Inquired { tid, .. }) if *tid == t1)),
        "answered while its own branch is undecided: {answers:?}"
    );
    // be2's server votes yes; tr1 commits t1 there: the answer follows.
    c.node(BE2).handle_request(now, SERVER, Request::Accept { chan: 2, tid: t1, reason: 0, flags: 0, implicit: false });
    c.collect();
    c.sync_unpumped();
    c.pump_only(BE2, TR1);
    c.pump_only(TR1, BE2);
    c.collect();
    c.sync_unpumped();
    c.collect();
    let answers = c.take_wire(BE2, TR2);
    assert!(
        answers.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Inquired { tid, state: TxState::Committed, .. })
            if *tid == t1)),
        "{answers:?}"
    );
}

/// Simulator seeds 7620 and 344 (two routers): be applied t1, and tr1,
/// which was to let be forget it, was lost first; nobody else knows to, so
/// t1's records pinned the oldest segment of be's journal for ever, the
/// ring filled behind them and new work was refused for good. When the
/// journal refuses a write as full, be restates t1 at the head (`Carried`),
/// so its earlier records can be recycled, and t1 stays answerable across
/// a restart that finds only the restatement: driven again, it is
/// "accepted", and be's server never sees it again.
#[test]
fn a_full_journal_carries_an_answerable_commit_forward_and_it_stays_answerable() {
    use crate::journal::RecordKind;
    let mut c = ready();
    let t1 = c.applied_commit_whose_outcome_was_lost();
    let kinds = |c: &Cluster| c.journals[BE].iter().filter(|r| r.tid == t1).map(|r| r.kind).collect::<Vec<_>>();
    assert_eq!(kinds(&c).last(), Some(&RecordKind::Applied), "{:?}", kinds(&c));
    // The journal refuses a write (another transaction's) as full.
    let now = c.now;
    let other = c.tid();
    c.node(BE).journal_failed(now, vec![other], Status::Jnlfull);
    c.pump();
    assert_eq!(kinds(&c).last(), Some(&RecordKind::Carried), "{:?}", kinds(&c));
    // Full again at once: not carried again before `CARRY_AGAIN`.
    c.node(BE).journal_failed(now, vec![other], Status::Jnlfull);
    c.pump();
    assert_eq!(kinds(&c).iter().filter(|k| **k == RecordKind::Carried).count(), 1);
    // The segment with t1's first records is recycled; be restarts on what is left.
    let carried_at = c.journals[BE].iter().position(|r| r.tid == t1 && r.kind == RecordKind::Carried).unwrap();
    c.journals[BE].drain(..carried_at);
    c.kill(BE);
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Opened], "not replayed");
    c.kill(TR1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    assert!(c.take(BE, SERVER).iter().all(|x| x.2 != Some(t1)), "be's server never sees t1 again");
}

/// Simulator `--shadow --seed 763`: a full journal refused t1's message
/// record after be's server had voted yes (not durable: t1 is on one
/// backend node). The refusal reached tr1 after tr1 had committed on the
/// vote, so the commit stood, and its record was written without the
/// message: after a restart t1 came back committed with nothing in it
/// (the shadow site applied an empty transaction). The commit's write now
/// restates every message of t1 (`Restated`, then the messages), and a
/// restart presents them.
#[test]
fn messages_a_full_journal_refused_after_the_vote_are_restated_with_the_commit() {
    use crate::journal::RecordKind;
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Prepare]);
    // The journal refused t1's message record: it never got there.
    c.journals[BE].retain(|r| !(r.tid == t1 && r.kind == RecordKind::Msg));
    // The server votes yes; the refusal is reported after the vote left.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.collect();
    c.node(BE).journal_failed(now, vec![t1], Status::Jnlfull);
    c.pump();
    let kinds = |c: &Cluster| c.journals[BE].iter().filter(|r| r.tid == t1).map(|r| r.kind).collect::<Vec<_>>();
    assert_eq!(kinds(&c), vec![RecordKind::Vote, RecordKind::Restated, RecordKind::Msg, RecordKind::Commit]);
    // be dies before its server hears the commit: its restart presents
    // the message again, then the commit.
    c.kill(BE);
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    let seen: Vec<(MsgType, Option<Tid>)> = c.take(BE, SERVER).iter().map(|x| (x.1, x.2)).collect();
    assert!(
        seen.contains(&(MsgType::Msg1Uncertain, Some(t1))) || seen.contains(&(MsgType::Msg1, Some(t1))),
        "{seen:?}"
    );
    assert!(seen.contains(&(MsgType::Accepted, Some(t1))), "{seen:?}");
}

/// As above, but the refusal is reported after the commit's write was made
/// (the refused append was ahead of it): once that write is durable, one
/// more restates the messages before the server or the router hears of
/// the commit.
#[test]
fn a_refusal_reported_after_the_commit_was_written_is_restated_before_anyone_hears() {
    use crate::journal::RecordKind;
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    c.journals[BE].retain(|r| !(r.tid == t1 && r.kind == RecordKind::Msg));
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.collect();
    c.pump_only(BE, TR1);
    c.pump_only(TR1, BE);
    let kinds = |c: &Cluster| c.journals[BE].iter().filter(|r| r.tid == t1).map(|r| r.kind).collect::<Vec<_>>();
    assert_eq!(kinds(&c), vec![RecordKind::Vote, RecordKind::Commit], "the commit's write is on its way");
    c.node(BE).journal_failed(now, vec![t1], Status::Jnlfull);
    c.pump();
    c.sync_unpumped();
    c.collect();
    use RecordKind::{Commit, Msg, Restated, Vote};
    assert_eq!(kinds(&c), vec![Vote, Commit, Restated, Msg, Commit]);
    assert!(c.take(BE, SERVER).is_empty(), "the server waits for the restatement");
    assert!(c.take(FE, CLIENT).is_empty(), "so does the client");
    c.sync();
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Accepted]);
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
}

/// Simulator seed 7194 (one router): be died with t1's first message there
/// (not voted on); tr1 had not noticed yet when be2 took the key range
/// over under a newer grant. The client's next message of the same range
/// went to be2, starting a second branch there; when tr1 noticed be's loss
/// it moved the first message behind it, after be2's server had voted: out
/// of order, and the server never voted again. Superseding a partition now
/// moves its branches not yet asked to vote to the new active partition at
/// once, so be2's server sees the messages in the client's order.
#[test]
fn work_on_a_superseded_partition_follows_its_range_before_the_clients_next_message() {
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "first") });
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1]);
    // be dies; tr1 has not noticed (its link's inactivity timer has not
    // run out), tr2 has: be2 takes the range over.
    c.kill_be_unnoticed_by_tr1();
    let now = c.now;
    c.sync();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(7, "second") });
    let s = c.take(BE2, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(),
        vec![(MsgType::Msg1, Some(t1)), (MsgType::Msgn, Some(t1)), (MsgType::Prepare, Some(t1))],
        "both messages, in order, then the vote"
    );
    // tr1 notices be's loss now: nothing more reaches be2's server.
    c.node(TR1).link_down(now, peer_ref(BE));
    c.pump();
    assert_eq!(c.take(BE2, SERVER), vec![]);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
}

/// The other side of the test above, with be alive: told that a newer
/// grant superseded its partition, it drops the branch not voted on (its
/// server hears it rescheduled, `RTR_STS_DLKTXRES`, not rejected: the
/// transaction goes on elsewhere) and tells its router the work moved.
#[test]
fn a_superseded_partition_gives_its_unvoted_work_back_rescheduled() {
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "first") });
    c.take(BE, SERVER);
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(ToBackend::Superseded { part: 1, epoch: 2 }));
    c.collect();
    let s = c.take(BE, SERVER);
    assert_eq!(
        s.iter().map(|x| (x.1, x.2, x.3)).collect::<Vec<_>>(),
        vec![(MsgType::Rejected, Some(t1), Some(Status::Dlktxres))]
    );
    let told = c.take_wire(BE, TR1);
    assert!(told.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Moved { tid, part: 1 }) if *tid == t1)), "{told:?}");
}

/// Simulator seed 9598 (two routers): be voted yes durably and tr1
/// committed, but its outcome never reached be; be's server then died, and
/// the server that got the branch next (uncertain) voted no. The client's
/// frontend, having lost tr1, drove the transaction again through tr2,
/// whose probe took be's branch: be gave tr2 its "no", and tr2 rejected at
/// once, before be2 answered that it had committed. A rejection heard
/// while probing waits, as a branch failure does, and a commit found
/// anywhere wins: both servers hear "accepted", and so does the client.
#[test]
fn a_no_vote_heard_while_probing_waits_for_every_answer_and_a_commit_wins() {
    let mut c = ready();
    c.open_upper_be2();
    c.open_server(2, flags::ope::EXPLICIT_ACCEPT);
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    let chan = c.take(BE, SERVER).iter().find(|x| x.1 == MsgType::Msg1).map(|x| x.0).expect("presented");
    // be's durable yes vote reaches tr1, which commits; its outcome to be
    // and to the client are lost with tr1's links.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan, tid, reason: 0, flags: 0, implicit: false });
    for _ in 0..4 {
        c.collect();
        c.sync_unpumped();
        c.collect();
        c.take_wire(TR1, BE);
        c.take_wire(TR1, FE);
        for (from, to) in [(BE, TR1), (TR1, BE2), (BE2, TR1)] {
            c.pump_only(from, to);
        }
    }
    c.take_wire(TR1, BE);
    c.take_wire(TR1, FE);
    assert!(c.take(BE2, SERVER).iter().any(|x| x.1 == MsgType::Accepted), "committed at be2");
    // be's server dies; the other one gets the branch and votes no.
    c.req(BE, SERVER, Request::Close { chan });
    let other = 3 - chan;
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.0 == other && x.1 == MsgType::Msg1Uncertain), "{s:?}");
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Reject { chan: other, tid, flags: 0, reason: 42 });
    c.collect();
    c.take_wire(BE, TR1);
    // tr1 is lost: the frontend drives the transaction again through tr2
    // (be answers its probe once its promise to that drive is durable).
    c.kill(TR1);
    c.sync();
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(tid), Some(Status::Ok))]);
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.0 == other && x.1 == MsgType::Accepted), "{s:?}");
}

/// Simulator seed 10283 (two routers): be2 read lost be's journal (t1 in
/// doubt there: be had voted yes durably) while tr1's link to be still
/// looked up, and told tr1 so (`TookOver`). tr1 committed t1 after that,
/// its outcome to be lost with be; when tr1's link to be went, the commit
/// waited for a report of be's journal that had come already, and t1's
/// share on be was never applied (no outcome for the client either). Now
/// the commit goes to the journal's reader at once: be2 commits its copy
/// and presents it, and the client hears "accepted".
#[test]
fn a_commit_decided_after_a_lost_nodes_journal_was_read_goes_to_its_reader_when_the_link_goes() {
    let mut c = ready();
    c.be2_upper_and_standby();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "low") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1500, "high") });
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    c.server_accept(1, t1);
    c.sync();
    // be dies; tr1 has not noticed; be2 reads its journal and tells tr1.
    c.kill_be_unnoticed_by_tr1();
    let now = c.now;
    c.collect();
    c.sync_unpumped();
    c.collect();
    // be2's own question about its copy is lost on the way to tr1.
    let ask = |m: &Internal| matches!(m, Internal::Tr(ToRouter::Inquire { .. }));
    c.wire.retain(|(f, t, m)| !(*f == BE2 && *t == TR1 && ask(m)));
    c.pump();
    c.wire.retain(|(f, t, m)| !(*f == BE2 && *t == TR1 && ask(m)));
    // be2's server votes: tr1 commits (its outcome to be goes nowhere).
    c.req(BE2, SERVER, Request::Accept { chan: 2, tid: t1, reason: 0, flags: 0, implicit: false });
    c.sync();
    c.wire.retain(|(f, t, m)| !(*f == BE2 && *t == TR1 && ask(m)));
    assert_eq!(c.take(FE, CLIENT), vec![], "waits for be's share");
    // tr1's link to be goes: be2, which read be's journal, gets the commit.
    c.node(TR1).link_down(now, peer_ref(BE));
    c.sync();
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    let s = c.take(BE2, SERVER);
    let low: Vec<_> = s.iter().filter(|x| x.0 == 1 && x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(low, vec![MsgType::Msg1Uncertain, MsgType::Accepted], "{s:?}");
}

/// Simulator seed 10283 (two routers), the second half: tr2 resolving an
/// orphan in-doubt tid by asking got be2's answer ("in doubt"), then waited
/// for be, which was not linked. When be answered, the answers were seconds
/// old: the transaction's router had committed it meanwhile, on a branch
/// that did not exist when be2 answered, and tr2 rolled the copy back beside
/// that commit. An inquiry that waited for a missing node asks every node
/// again before it concludes "nobody committed".
#[test]
fn an_inquiry_that_waited_for_a_missing_node_asks_again_before_it_rolls_back() {
    let mut c = ready();
    let t = c.tid();
    c.cut(BE, TR2);
    let now = c.now;
    let ask = ToRouter::Inquire { tid: t, facility: "F".into(), drive: 0 };
    c.node(TR2).peer_input(now, peer_ref(BE2), Internal::Tr(ask));
    c.collect();
    let is_inquire = |m: &Internal| matches!(m, Internal::Be(ToBackend::Inquire { tid, .. }) if *tid == t);
    assert!(c.take_wire(TR2, BE2).iter().any(is_inquire), "be2 is asked");
    let in_doubt = ToRouter::Inquired {
        tid: t,
        parts: vec![],
        state: TxState::InDoubt,
        applied: vec![],
        held: vec![],
        site: None,
    };
    c.node(TR2).peer_input(now, peer_ref(BE2), Internal::Tr(in_doubt));
    c.collect();
    assert!(c.take_wire(TR2, BE2).is_empty(), "be is missing: nothing decided");
    // be links again and is asked; it knows nothing of t.
    for (a, b) in [(TR2, BE), (BE, TR2)] {
        let info = c.peer_info(a, b);
        c.node(a).link_up(now, peer_ref(b), info);
    }
    c.collect();
    c.pump_only(BE, TR2);
    c.pump_only(TR2, BE);
    // be's "unknown" binds it, durably before it is given.
    c.sync_unpumped();
    c.collect();
    c.pump_only(BE, TR2);
    let to_be2 = c.take_wire(TR2, BE2);
    assert!(to_be2.iter().any(is_inquire), "asked again: {to_be2:?}");
    assert!(!to_be2.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { .. }))), "{to_be2:?}");
    // be2 committed t meanwhile: tr2 concludes the commit, and says so.
    let committed = ToRouter::Inquired {
        tid: t,
        parts: vec![],
        state: TxState::Committed,
        applied: vec![],
        held: vec![],
        site: None,
    };
    c.node(TR2).peer_input(now, peer_ref(BE2), Internal::Tr(committed));
    c.pump_only(TR2, BE);
    c.pump_only(BE, TR2);
    c.collect();
    c.take_wire(TR2, BE2);
    let again = ToRouter::Inquire { tid: t, facility: "F".into(), drive: 0 };
    c.node(TR2).peer_input(now, peer_ref(BE2), Internal::Tr(again));
    c.collect();
    let told = c.take_wire(TR2, BE2);
    assert!(
        told.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { tid, accepted: true, .. }) if *tid == t)),
        "{told:?}"
    );
}

/// Simulator seed 10278 (two routers): tr2 resolved an orphan by asking and
/// rolled it back; tr1, cut off meanwhile, had committed it on a vote of a
/// node since fenced, and handed that commit, durable nowhere, to be as a
/// lost node's work: be applied it while the branch's server had heard the
/// rollback. The rollback is now told to every node asked, even one that
/// knew nothing of the tid, and such a node refuses the hand-off: tr1's
/// commit fails instead.
#[test]
fn a_node_told_a_rollback_refuses_a_routers_later_hand_off_of_its_commit() {
    let mut c = ready();
    let t = c.tid();
    let now = c.now;
    let rollback = ToBackend::Outcome {
        tid: t,
        parts: vec![],
        accepted: false,
        status: Status::Routerunavailtmo,
        reason: 0,
        drive: NO_DRIVE,
    };
    c.node(BE).peer_input(now, peer_ref(TR2), Internal::Be(rollback));
    c.collect();
    c.wire.clear();
    let adopt = ToBackend::Adopt { part: 1, tid: t, msgs: vec![msg(5, "late")], reason: 0, drive: 0 };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(adopt));
    c.collect();
    let told = c.take_wire(BE, TR1);
    assert!(
        told.iter().any(|m| matches!(m, Internal::Tr(ToRouter::DrivenElsewhere { tid, .. }) if *tid == t)),
        "{told:?}"
    );
    c.sync();
    assert!(c.take(BE, SERVER).iter().all(|x| x.2 != Some(t)), "never presented");
}

/// A node that read a lost node's journal and then restarted holds that
/// journal no more: a router must not take its answer for the lost node's.
/// tr1 commits t1 on be's vote (not durable), the outcome is lost with be;
/// be2 reads be's journal (t1 undecided there: presumed aborted), unheard
/// by tr1, which holds its commit, durable nowhere, waiting for be. be2
/// restarts (no partition: it takes no journal again). The frontend, cut
/// from tr1, drives t1 again through tr2: tr2 must wait for be (or a new
/// reader of its journal), not conclude "nobody committed" from the
/// restarted be2's "unknown" and reject t1 while tr1 still holds its
/// commit, which it hands to be when be starts again (simulator seed 10579,
/// two routers: a disagreement).
#[test]
fn a_reader_that_restarted_no_longer_answers_for_the_journal_it_read() {
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    // be's server votes; tr1 decides, but its outcome never reaches be.
    let t1 = c.commit_lost_on_its_way_to_be();
    // tr1 hears nothing of be2 from now on (so it holds its commit).
    c.cut(TR1, BE2);
    c.kill(BE);
    c.sync();
    assert!(c.take(BE2, SERVER).iter().all(|x| x.2 != Some(t1)), "be2 presumed t1 aborted, presented nothing");
    c.kill(BE2);
    c.restart(BE2);
    c.pump();
    // The frontend loses tr1 and drives t1 again through tr2.
    c.cut(FE, TR1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![], "tr2 waits for be: nobody answered for its journal");
    // be starts again and links: tr1 hands it its commit; tr2's probe hears
    // be. Everyone agrees.
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    c.relink(FE, TR1);
    c.sync();
    let (applied, heard) = c.finish_on(BE, t1);
    assert_eq!(
        heard,
        vec![if applied { MsgType::Accepted } else { MsgType::Rejected }],
        "the client hears once what the server did"
    );
}

impl Cluster {
    /// Let `tid` end on `node`: its server votes yes to each vote request
    /// and acknowledges each outcome, for a few rounds. Returns whether the
    /// server heard it committed and what the client heard of it.
    fn finish_on(&mut self, node: usize, tid: Tid) -> (bool, Vec<MsgType>) {
        let mut applied = false;
        let mut client = Vec::new();
        for _ in 0..3 {
            for x in self.take(node, SERVER).into_iter().filter(|x| x.2 == Some(tid)) {
                applied |= x.1 == MsgType::Accepted;
                match x.1 {
                    MsgType::Prepare => {
                        self.req(node, SERVER, Request::Accept { chan: x.0, tid, reason: 0, flags: 0, implicit: false })
                    }
                    MsgType::Accepted | MsgType::Rejected => self.req(node, SERVER, Request::Ack { chan: x.0, tid }),
                    _ => {}
                }
            }
            self.sync();
            client.extend(self.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(tid)).map(|x| x.1));
        }
        (applied, client)
    }
}

/// A transaction driven again whose key range has no active partition is
/// held for one, not rejected. be serves two ranges, be2 only the upper
/// one. tr1 commits t1 (lower range) on be's vote, not durable; the outcome
/// is lost with be. be2 takes be's journal over for the upper range (t1
/// undecided there) and presents nothing of t1; tr1, cut from be2, holds
/// its commit. The frontend, cut from tr1, drives t1 again through tr2,
/// whose probe hears "unknown": the lower range has no partition, so t1
/// waits. When be starts again, tr1's commit and tr2's drive meet there,
/// and the client hears what the server did (simulator seed 11133, two
/// routers: rejected with NODSTFND, then committed by tr1's hand-off).
#[test]
fn a_transaction_driven_again_waits_for_its_ranges_partition_instead_of_being_rejected() {
    let mut c = Cluster::new();
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    let upper = |chan| Request::Open {
        chan,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(1001, 2000),
    };
    c.req(BE, SERVER, upper(2));
    c.open_client(1);
    c.req(BE2, SERVER, upper(1));
    c.advance(BE2, backend::roles::START_DEFER);
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    c.take(FE, CLIENT);
    // be's server votes; tr1 decides, but its outcome never reaches be.
    let t1 = c.commit_lost_on_its_way_to_be();
    c.cut(TR1, BE2);
    c.kill(BE);
    c.sync();
    assert!(c.take(BE2, SERVER).iter().all(|x| x.2 != Some(t1)), "be2 serves only the upper range");
    c.cut(FE, TR1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![], "t1 waits for its range's partition: nothing false is said");
    // be starts again; the links heal.
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    c.relink(TR1, BE2);
    c.relink(FE, TR1);
    c.sync();
    let mut heard: Vec<_> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    let (applied, more) = c.finish_on(BE, t1);
    heard.extend(more);
    assert_eq!(
        heard,
        vec![if applied { MsgType::Accepted } else { MsgType::Rejected }],
        "the client hears once what the server did"
    );
}

impl Cluster {
    /// Node `k` starts again (as `restart`) but links with nobody in `not`.
    fn restart_unlinked_from(&mut self, k: usize, not: &[usize]) {
        let mut n = Node::new(true);
        let mut t = FacilityTable::new(NAMES[k]);
        t.insert(self.def.clone());
        n.set_facilities(t);
        let records = self.journals[k].clone();
        self.epochs[k] += 1;
        n.recover(self.now, self.epochs[k], &records);
        self.nodes[k] = Some(n);
        self.auth[k] = Some(self.authority.handle(NAMES[k]));
        self.link_all(|a, b| (a == k && !not.contains(&b)) || (b == k && !not.contains(&a)));
    }
}

/// A router orders announcements of one journal by the owner epoch they
/// carry. be restarts on its journal (epoch 2); be2 takes that journal
/// over (epoch 3, fencing be) and tells tr2 first; be's own announcement
/// reaches tr2 later. tr2 keeps be2 as the one that answers for be: when
/// the fenced be stops, a probe asks be2, instead of waiting for ever for
/// be, which could not start again while be2 holds its journal (simulator
/// seed 9455, one router: no outcome). be2 holds it: t0's commit there is
/// not acknowledged by be's server, and be2 presents it again (a reader
/// that let the journal go would answer for it no more: `JournalLetGo`).
#[test]
fn a_late_announcement_of_a_journal_under_an_older_epoch_does_not_replace_its_reader() {
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    // A second server at be for the range: t0 commits on one of them, which
    // never acknowledges it; t1 goes to the other.
    c.open_server(3, flags::ope::EXPLICIT_ACCEPT);
    c.take(BE, SERVER);
    let t0 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t0, flags: flags::sen::ACCEPT, data: msg(6, "zero") });
    let chan = c.take(BE, SERVER).iter().find(|x| x.2 == Some(t0)).map(|x| x.0).expect("t0 presented at be");
    c.server_accept(chan, t0);
    c.sync();
    c.take(BE, SERVER);
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t0), Some(Status::Ok))]);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "one") });
    assert!(c.take(BE, SERVER).iter().any(|x| x.1 == MsgType::Msg1 && x.2 == Some(t1)));
    c.defer_takeovers = Some(Vec::new());
    c.kill(BE);
    // be starts again on its journal (epoch 2), not linked to tr2 yet;
    // then be2's takeover of that journal (epoch 3) reaches tr2.
    c.restart_unlinked_from(BE, &[TR2]);
    c.finish_takeovers(None);
    c.defer_takeovers = None;
    c.relink(BE, TR2);
    // The fenced be stops.
    c.kill(BE);
    c.take(BE2, SERVER);
    // The frontend loses tr1 (which rolls t1 back: its client left with
    // work still to place) and drives t1 again through tr2: its probe hears
    // be2 for be, and ends. Waiting for be, the client heard nothing ever.
    c.cut(FE, TR1);
    c.sync();
    assert!(c.released.is_empty(), "be2 holds be's journal");
    let heard: Vec<_> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Rejected], "the probe ended on be2's answer for be");
}

impl Cluster {
    /// be2 stands by for be's range; t1 (one message, accepted with it)
    /// commits at be, whose server has the commit and has not acknowledged
    /// it.
    fn t1_committed_at_be_with_be2_standby() -> (Cluster, Tid) {
        let mut c = ready();
        c.open_standby(0, false);
        c.take(BE2, SERVER);
        let t1 = c.tid();
        c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
        c.server_accept(1, t1);
        c.sync();
        (c, t1)
    }

    /// [`Cluster::t1_voted_on_be_and_be2_with_be_standby_upper`]; tr1
    /// commits t1, be finishes its branch, and the outcome to be2 is lost
    /// with be2. be takes be2's journal over (t1 in doubt there) and hears
    /// the commit for that copy.
    fn t1_in_doubt_at_be_from_be2s_journal() -> (Cluster, Tid) {
        let (mut c, t1) = Cluster::t1_finished_at_be_its_commit_to_be2_lost();
        c.kill(BE2);
        (c, t1)
    }

    /// [`Cluster::t1_voted_on_be_and_be2_with_be_standby_upper`]; tr1
    /// commits t1, be makes it durable and finishes its branch; the outcome
    /// to be2 is lost on its way.
    fn t1_finished_at_be_its_commit_to_be2_lost() -> (Cluster, Tid) {
        let (mut c, t1) = Cluster::t1_voted_on_be_and_be2_with_be_standby_upper();
        c.sync_unpumped();
        c.pump_only(BE, TR1);
        c.pump_only(BE2, TR1);
        assert!(!c.take_wire(TR1, BE2).is_empty(), "the outcome to be2 was on its way");
        c.pump();
        c.sync();
        c.ack(1, t1);
        (c, t1)
    }

    /// be2 serves the upper range (1001..2000), be the lower one and stands
    /// by for the upper; t1 debits the lower and credits the upper range,
    /// and both servers voted yes (durably: t1 spans two nodes).
    fn t1_voted_on_be_and_be2_with_be_standby_upper() -> (Cluster, Tid) {
        let mut c = ready();
        c.open_upper_be2();
        let standby_upper = Request::Open {
            chan: 2,
            role: Role::Server,
            facility: "F".into(),
            flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
            range: range(1001, 2000),
        };
        c.req(BE, SERVER, standby_upper);
        c.take(BE, SERVER);
        let t1 = c.tid();
        c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "debit") });
        c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
        c.server_accept(1, t1);
        c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
        (c, t1)
    }
}

/// A node that finished its own branch of a transaction and then reads a
/// lost node's journal holding another branch of it in doubt says
/// `Durable` only once that copy's commit is written into that journal.
/// t1 spans be (lower range) and be2 (upper); both vote durably, tr1
/// commits, be finishes its branch, and the outcome to be2 is lost with
/// be2. be, standby for the upper range, takes be2's journal over (t1 in
/// doubt there); tr1 tells be the commit. be answered `Durable` at once
/// from its own finished branch, before the copy's commit record was
/// durable: the client heard "accepted" and the other participants were
/// let forget a commit the copy's journal never got (simulator seed
/// 12269, two routers: accepted, never applied on the upper range).
#[test]
fn a_node_is_durable_for_a_read_journals_in_doubt_copy_only_once_its_commit_is_written() {
    // Both votes durable; tr1 commits; be makes it durable and finishes,
    // the outcome to be2 is lost with be2.
    let (mut c, t1) = Cluster::t1_finished_at_be_its_commit_to_be2_lost();
    assert!(c.take(FE, CLIENT).iter().all(|x| x.1 != MsgType::Accepted), "be2's branch is not durable yet");
    c.kill(BE2);
    // be holds be2's journal, t1 in doubt there, and hears tr1's commit.
    assert!(c.adopted_writes.iter().any(|(n, jid, _)| *n == BE && *jid != 0), "the copy's commit is on its way");
    assert_eq!(
        c.take(FE, CLIENT).iter().filter(|x| x.1 == MsgType::Accepted).count(),
        0,
        "not durable in be2's journal yet: the client waits"
    );
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
}

/// An operator's retry presents again a transaction the retry limit set
/// aside before the node restarted, from what its journal holds: its
/// messages, uncertain, with the commit; the server's acknowledgement
/// finishes it (`Applied`). It used to answer "not supported": the
/// simulator's operator retried such a commit after the faults and it
/// stayed set aside, never applied, though its client had heard it
/// committed (seed 12430, two routers).
#[test]
fn an_operator_retries_a_commit_set_aside_before_the_node_restarted() {
    use crate::journal::RecordKind;
    use crate::protocol::admin::TxChange;
    use crate::txrecord::TxRecord;
    let mut c = ready();
    let t1 = c.tid();
    let recs = [
        TxRecord::Msg { facility: "F".into(), data: msg(5, "one") },
        TxRecord::Vote { durable: true },
        TxRecord::Commit { reason: 3 },
        TxRecord::Exception { status: Status::Retrylimit.code(), strikes: 2, committed: true },
    ];
    c.kill(BE);
    for rec in recs {
        let (kind, payload) = rec.encode();
        c.journals[BE].push(Record { epoch: 1, tid: t1, kind, payload });
    }
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    assert!(c.take(BE, SERVER).iter().all(|x| x.2 != Some(t1)), "set aside: not presented by itself");
    assert_eq!(c.node(BE).exception_tids(), vec![t1]);
    let now = c.now;
    let said = c.node(BE).set_transaction(now, t1, TxChange::Retry).expect("retried");
    assert!(said.contains("presented again"), "{said}");
    c.pump();
    let s = c.take(BE, SERVER);
    assert_eq!(
        s.iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect::<Vec<_>>(),
        vec![MsgType::Msg1Uncertain, MsgType::Accepted],
        "{s:?}"
    );
    assert!(c.node(BE).exception_tids().is_empty());
    c.ack(1, t1);
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Applied));
    // Retried again, it is no longer set aside.
    let now = c.now;
    assert_eq!(c.node(BE).set_transaction(now, t1, TxChange::Retry).unwrap_err().code(), "NOSUCHTX");
}

/// A frontend that drives a transaction again through the router that
/// has it (their link broke and came back while the router probed it)
/// re-sends every message from the first: the router places none of them
/// twice (simulator seed 10146, one router: a debit presented twice to its
/// server, the books off by its amount).
#[test]
fn messages_resent_by_a_drive_again_through_the_same_router_are_placed_once() {
    let mut c = ready();
    // t1 goes through tr2; the client asks for the votes.
    c.cut(FE, TR1);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Prepare { chan: 1, tid: t1, reason: 0 });
    let s: Vec<_> = c.take(BE, SERVER).into_iter().map(|x| x.1).collect();
    assert_eq!(s, vec![MsgType::Msg1, MsgType::Prepare]);
    // tr2 is lost: the frontend drives t1 again through tr1, whose probe
    // waits for be2 (not linked to it).
    c.cut(TR1, BE2);
    c.relink(FE, TR1);
    c.kill(TR2);
    c.sync();
    // Its link to tr1 breaks and comes back: it drives t1 again there,
    // every message again from the first.
    c.cut(FE, TR1);
    c.relink(FE, TR1);
    c.sync();
    // be2 links: the probe ends, and t1 goes on at be, whose server has
    // the debit already and is not given it again.
    c.relink(TR1, BE2);
    c.sync();
    let s: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert!(!s.contains(&MsgType::Msgn), "the debit is not presented again: {s:?}");
    c.server_accept(1, t1);
    c.sync();
    let heard: Vec<_> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Prepared], "{heard:?}");
}

/// A reader whose in-doubt copy's commit cannot be written into the lost
/// node's journal (the journal was taken from it, or is full) says nothing
/// of the commit: neither `CommitFailed` for the failed write nor "nothing
/// of it here" for the router's next outcome, once it gave the journal up.
/// The router, which had no durable copy of its commit, rejected the
/// transaction on either, while the journal's next holder committed the
/// copy (simulator seed 10192, one router: a disagreement).
#[test]
fn a_reader_that_cannot_write_an_in_doubt_copys_commit_says_nothing_of_the_commit() {
    let (mut c, t1) = Cluster::t1_in_doubt_at_be_from_be2s_journal();
    // be holds be2's journal, t1 in doubt there; tr1's commit for the copy
    // is on its way into it, and fails: the journal was taken from be.
    let jid =
        c.adopted_writes.iter().find(|(n, j, _)| *n == BE && *j != 0).map(|(_, j, _)| *j).expect("a copy's commit");
    let tokens: Vec<u64> = c.syncs.iter().filter(|(n, _)| *n == BE).map(|(_, t)| *t).collect();
    c.syncs.retain(|(n, _)| *n != BE);
    let now = c.now;
    let mut said = Vec::new();
    for t in tokens {
        c.node(BE).journal_done(now, t, Err(Status::Jnlfull));
        said.extend(c.node(BE).take_output());
    }
    c.node(BE).taken_over_lost(now, jid);
    said.extend(c.node(BE).take_output());
    let again =
        ToBackend::Outcome { tid: t1, parts: Vec::new(), accepted: true, status: Status::Ok, reason: 0, drive: 0 };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(again));
    said.extend(c.node(BE).take_output());
    let failed = said
        .iter()
        .any(|o| matches!(o, Output::Peer { msg: Internal::Tr(ToRouter::CommitFailed { tid, .. }), .. } if *tid == t1));
    assert!(!failed, "be says nothing of the commit: {said:?}");
    assert!(c.take(FE, CLIENT).iter().all(|x| x.1 != MsgType::Rejected), "nobody rejects t1");
}

/// A branch taken over by a probe (its vote, no message) is lost with its
/// node after the rest of the transaction voted: the transaction goes on
/// with the rest. be votes on t1 (not durably: prepare only) through tr1;
/// tr1 is lost and the frontend drives t1 again through tr2, which lost
/// be too: be2 claims the range and reads be's journal (t1 not in doubt
/// there: the vote was never durable). be links to tr2 again before that
/// read is reported and answers the probe with its vote, so t1 had a branch
/// at be (no message) and one at be2 (the messages driven again). The
/// client accepts; the fenced be stops before it makes its vote durable.
/// The branch at be is gone with it; be2's vote is all t1 waits for. tr2
/// waited for ever (simulator seed 10332, one router: no outcome). Since
/// seed 23634 the probe gives be's branch back before the work goes to be2
/// (be's partition no longer gets it): its server hears it rescheduled,
/// and t1 is be2's alone.
#[test]
fn a_branch_taken_over_by_a_probe_and_lost_with_its_node_leaves_the_rest_to_commit() {
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "one") });
    c.req(FE, CLIENT, Request::Prepare { chan: 1, tid: t1, reason: 0 });
    assert!(c.take(BE, SERVER).iter().any(|x| x.1 == MsgType::Msg1 && x.2 == Some(t1)));
    c.server_accept(1, t1);
    c.sync();
    assert!(c.take(FE, CLIENT).iter().any(|x| x.1 == MsgType::Prepared), "t1 prepared");
    // Both routers lose be: be2 claims the range (its read of be's journal
    // is slow). tr1 is lost; the frontend drives t1 again through tr2,
    // whose probe waits for be.
    c.defer_takeovers = Some(Vec::new());
    c.cut(TR1, BE);
    c.cut(TR2, BE);
    for _ in 0..5 {
        c.advance(BE2, backend::CLAIM_RETRY);
    }
    c.kill(TR1);
    // be hears from the role authority that it holds the range no more.
    let now = c.now;
    c.node(BE).role_lost(now, &crate::authority::range_id("F", &range(0, 1000)), 1);
    c.pump();
    assert_eq!(c.partition_states(BE), vec![crate::protocol::admin::PartitionState::Standby]);
    // be links to tr2 again and answers: its vote (a branch without
    // message at tr2); t1's messages go to be2, the range's active one.
    c.relink(TR2, BE);
    c.finish_takeovers(None);
    c.defer_takeovers = None;
    c.sync();
    assert_eq!(c.partition_states(BE2), vec![crate::protocol::admin::PartitionState::Active]);
    for (chan, ty, tid, _) in c.take(BE2, SERVER) {
        if tid == Some(t1) && ty == MsgType::Prepare {
            c.req(BE2, SERVER, Request::Accept { chan, tid: t1, reason: 0, flags: 0, implicit: false });
        }
    }
    c.sync();
    let at_be: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| (x.1, x.3)).collect();
    assert_eq!(at_be, vec![(MsgType::Rejected, Some(Status::Dlktxres))], "be's branch is given back");
    // The client accepts; be, fenced, stops.
    c.req(FE, CLIENT, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.take_wire(TR2, BE);
    c.kill(BE);
    c.sync();
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Prepared, MsgType::Accepted], "t1 commits on be2");
}

/// A commit that waits for a reader of a lost node's journal (standing in
/// for the node's in-doubt branch) waits for that journal's next reader
/// once the journal moves on. t1 spans be and be2; the commit to be2 is
/// lost with be2. be takes be2's journal over (t1 in doubt there) and
/// hears the commit, but cannot write it: the journal was taken from it
/// meanwhile, so it says nothing (seed 10192). be2 starts again on its
/// journal, finds t1 in doubt, and commits it. tr1 waited for be for ever
/// and the client never heard (simulator seed 10306, one router, and 7022,
/// two routers: no outcome).
#[test]
fn a_commit_waiting_for_a_reader_that_lost_the_journal_waits_for_its_next_reader() {
    assert_eq!(reader_gives_up_then_be2_restarts(), vec![MsgType::Accepted], "the client hears the commit");
}

/// t1 spans be and be2; the commit to be2 is lost with be2. be reads be2's
/// journal (t1 in doubt there) and hears the commit, but cannot write it
/// (the journal was taken from it meanwhile): it says nothing. be2 starts
/// again on its journal, finds t1 in doubt, and commits it. What the client
/// heard of t1.
fn reader_gives_up_then_be2_restarts() -> Vec<MsgType> {
    let (mut c, t1) = Cluster::t1_in_doubt_at_be_from_be2s_journal();
    let jid =
        c.adopted_writes.iter().find(|(n, j, _)| *n == BE && *j != 0).map(|(_, j, _)| *j).expect("a copy's commit");
    let tokens: Vec<u64> = c.syncs.iter().filter(|(n, _)| *n == BE).map(|(_, t)| *t).collect();
    c.syncs.retain(|(n, _)| *n != BE);
    let now = c.now;
    for t in tokens {
        c.node(BE).journal_done(now, t, Err(Status::Jnlfull));
    }
    c.node(BE).taken_over_lost(now, jid);
    c.pump();
    assert!(c.take(FE, CLIENT).iter().all(|x| x.2 != Some(t1)), "nothing said of t1 yet");
    // be2 starts again on its journal: t1 in doubt there.
    c.restart_be2_and_apply(t1);
    c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect()
}

/// A re-drive's probe whose client's node goes before the answers are in
/// rolls the transaction back on every branch the answers named, not only
/// on those whose votes reached the router. t1 debits be's lower range
/// (voted) and credits its upper one, whose only server holds t0, so t1's
/// branch there waits for it. tr1 is lost; the frontend drives both again
/// through tr2, whose probes wait for be (cut off); the frontend's node
/// goes; be answers. t1's rollback named only the voted branch: be
/// presented the other to its server once t0 ended, and it held that
/// server for ever (simulator seed 15882, one router: no outcome). A
/// branch whose rollback is on its way to disk when a server frees up is
/// not presented.
#[test]
fn a_probe_whose_client_went_rolls_back_every_branch_the_answers_named() {
    let mut c = ready();
    c.open_upper_be();
    c.open_client(2);
    c.take(FE, CLIENT);
    let t0 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 2, tid: t0, flags: 0, data: msg(1500, "hold") });
    assert!(c.take(BE, SERVER).iter().any(|x| x.0 == 2 && x.1 == MsgType::Msg1 && x.2 == Some(t0)));
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.server_accept(1, t1);
    c.sync();
    assert!(c.take(BE, SERVER).iter().all(|x| x.0 != 2 || x.2 != Some(t1)), "the upper server holds t0");
    c.cut(TR2, BE);
    c.kill(TR1);
    c.kill(FE);
    c.relink(TR2, BE);
    c.sync();
    c.sync();
    let s: Vec<(ChanId, MsgType, Option<Tid>)> = c.take(BE, SERVER).into_iter().map(|x| (x.0, x.1, x.2)).collect();
    assert!(s.contains(&(2, MsgType::Rejected, Some(t0))), "t0 is rolled back: {s:?}");
    assert!(s.contains(&(1, MsgType::Rejected, Some(t1))), "t1 is rolled back: {s:?}");
    assert!(s.iter().all(|x| x.0 != 2 || x.2 != Some(t1)), "t1 is not presented to the upper server: {s:?}");
    let (servers, _) = c.node(BE).show_servers();
    assert!(servers.iter().all(|x| x.tid.is_none()), "be's servers are free: {servers:?}");
    assert_eq!(c.node(TR2).stats().active_tx, 0);
}

/// An unvoted orphan past its grace is given back, not rolled back as the
/// transaction's outcome: its server hears it rescheduled, and a re-drive's
/// probe that asks afterwards hears "unknown" and places the work again.
/// t1 is at be, unvoted, when tr1 is lost; tr2, cut off from be, probes the
/// frontend's re-drive and waits; be gives the orphan back as tr2 links.
/// The probe goes on as new: be's server gets t1 again, and it commits
/// once. (Rolled back as the outcome, the server heard "rejected" while a
/// router cut off from be placed the same work on the range's next holder
/// and committed it: simulator seed 13390, two routers, a disagreement.)
#[test]
fn an_unvoted_orphan_past_its_grace_is_given_back_and_driven_again() {
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "one") });
    assert!(c.take(BE, SERVER).iter().any(|x| x.1 == MsgType::Msg1 && x.2 == Some(t1)));
    c.cut(TR2, BE);
    c.kill(TR1);
    assert_eq!(c.take(FE, CLIENT), vec![], "tr2's probe waits for be");
    c.now += backend::ORPHAN_GRACE + Duration::from_millis(1);
    let now = c.now;
    c.node(BE).tick(now);
    c.pump();
    let s: Vec<(MsgType, Option<Status>)> = c.take(BE, SERVER).into_iter().map(|x| (x.1, x.3)).collect();
    assert_eq!(s, vec![(MsgType::Rejected, Some(Status::Dlktxres))], "rescheduled: no outcome");
    assert!(!c.syncs.iter().any(|(n, _)| *n == BE), "nothing decided, nothing to sync");
    c.relink(TR2, BE);
    c.sync();
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![], "no outcome yet: the client has not accepted");
    let s: Vec<(MsgType, Option<Tid>)> = c.take(BE, SERVER).into_iter().map(|x| (x.1, x.2)).collect();
    assert_eq!(s, vec![(MsgType::Msg1, Some(t1))], "placed again by the probe");
    c.req(FE, CLIENT, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Prepare]);
    c.accept_and_hear_one_commit(t1);
    assert_eq!(c.node(TR2).stats().active_tx, 0);
}

/// An orphan given back past its grace leaves the other branches of its
/// transaction at that node as they are: t1 has a branch on be's lower
/// range (unvoted) and one on its upper range (its server voted early);
/// the frontend and tr1 are lost, and tr2 is cut off from be. The unvoted
/// orphan is given back (its server hears it rescheduled); the voted one
/// beside it is in doubt, asked about once a router links, and rolled back
/// by that router's inquiry (nobody committed it): every server is free
/// in the end. (The node's one rollback for every branch here, simulator
/// seed 17298, also undid a voted branch that a router which had placed
/// the orphan's work elsewhere could still commit.)
#[test]
fn an_orphan_given_back_leaves_a_voted_branch_beside_it_to_its_router() {
    let mut c = ready();
    c.open_upper_be();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1500, "credit") });
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.0 == 2 && x.1 == MsgType::Msg1), "{s:?}");
    c.req(BE, SERVER, Request::Accept { chan: 2, tid: t1, reason: 0, flags: 0, implicit: false });
    c.sync();
    // No router to ask about the voted one (nor to probe a re-drive).
    c.cut(TR2, BE);
    c.kill(TR1);
    c.kill(FE);
    c.now += backend::ORPHAN_GRACE + Duration::from_millis(1);
    let now = c.now;
    c.node(BE).tick(now);
    c.pump();
    c.sync();
    let s: Vec<(ChanId, MsgType, Option<Status>)> = c.take(BE, SERVER).into_iter().map(|x| (x.0, x.1, x.3)).collect();
    assert_eq!(s, vec![(1, MsgType::Rejected, Some(Status::Dlktxres))], "the voted branch waits: {s:?}");
    // A router links: the voted branch is asked about, and rolled back.
    c.relink(TR2, BE);
    c.sync();
    c.sync();
    let s: Vec<(ChanId, MsgType, Option<Tid>)> = c.take(BE, SERVER).into_iter().map(|x| (x.0, x.1, x.2)).collect();
    assert_eq!(s, vec![(2, MsgType::Rejected, Some(t1))], "{s:?}");
    let (servers, _) = c.node(BE).show_servers();
    assert!(servers.iter().all(|x| x.tid.is_none()), "be's servers are free: {servers:?}");
}

/// A reader that holds a branch of its own and a lost node's in-doubt copy
/// of the same transaction says its own branch is durable when the copy's
/// journal is taken from it, naming the copy as given up (`CopyGivenUp`):
/// the router keeps waiting for the copy at the journal's next holder. t1
/// spans be and be2; tr1 commits, the outcome to be2 is lost; be2 is lost
/// while be's own commit record is on its way; be reads be2's journal (t1
/// in doubt there) and hears the commit for the copy. be's own commit is
/// written, the copy's is not (the journal was taken back); be2 starts
/// again on its journal and commits its branch. be held its `Durable` back
/// for the copy for ever, and the client waited (simulator seed 7620 once a
/// router's rejection was synced before its servers heard it). `be2_first`:
/// be2 reports its journal to tr1 before be gives the copy up.
fn reader_gives_up_a_copy_beside_its_own_branch(be2_first: bool) -> Vec<MsgType> {
    let (mut c, t1) = Cluster::t1_voted_on_be_and_be2_with_be_standby_upper();
    c.sync_unpumped();
    c.pump_only(BE, TR1);
    c.pump_only(BE2, TR1);
    assert!(!c.take_wire(TR1, BE2).is_empty(), "the outcome to be2 was on its way");
    c.pump();
    let mine = |c: &mut Cluster| {
        let tokens: Vec<u64> = c.syncs.iter().filter(|(n, _)| *n == BE).map(|(_, t)| *t).collect();
        c.syncs.retain(|(n, _)| *n != BE);
        tokens
    };
    let own = mine(&mut c);
    assert_eq!(own.len(), 1, "be's own commit record is on its way");
    c.kill(BE2);
    let jid =
        c.adopted_writes.iter().find(|(n, j, _)| *n == BE && *j != 0).map(|(_, j, _)| *j).expect("a copy's commit");
    let copy = mine(&mut c);
    assert_eq!(copy.len(), 1, "the copy's commit record is on its way");
    let now = c.now;
    c.node(BE).journal_done(now, own[0], Ok(()));
    c.pump();
    assert!(c.take(FE, CLIENT).iter().all(|x| x.2 != Some(t1)), "the copy is not durable yet");
    if be2_first {
        c.restart_be2_and_apply(t1);
    }
    let now = c.now;
    c.node(BE).journal_done(now, copy[0], Err(Status::Jnlfull));
    c.node(BE).taken_over_lost(now, jid);
    c.pump();
    if !be2_first {
        assert!(c.take(FE, CLIENT).iter().all(|x| x.2 != Some(t1)), "be2's journal has no commit yet");
        c.restart_be2_and_apply(t1);
    }
    c.sync();
    c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect()
}

#[test]
fn a_reader_that_gives_up_a_copy_beside_its_own_branch_still_says_its_own_is_durable() {
    assert_eq!(reader_gives_up_a_copy_beside_its_own_branch(false), vec![MsgType::Accepted]);
    assert_eq!(reader_gives_up_a_copy_beside_its_own_branch(true), vec![MsgType::Accepted]);
}

/// A reader whose link to the router went and came back while it wrote an
/// in-doubt copy's commit says `Durable` over the new link. t1 spans be and
/// be2; the commit to be2 is lost with be2; be reads be2's journal (t1 in
/// doubt there) and hears the commit. Its link to tr1 breaks and is made
/// again before the commit record is durable. `Durable` went over the link
/// that had gone, and tr1 waited for it for ever (simulator seed 9502, two
/// routers: no outcome).
#[test]
fn a_readers_durable_goes_over_its_new_link_to_the_router() {
    let (mut c, t1) = Cluster::t1_in_doubt_at_be_from_be2s_journal();
    assert!(c.adopted_writes.iter().any(|(n, j, _)| *n == BE && *j != 0), "the copy's commit is being written");
    // Not durable yet; the link goes and comes back.
    let pending = std::mem::take(&mut c.syncs);
    c.cut(TR1, BE);
    c.relink_anew(BE, TR1);
    c.syncs.extend(pending);
    c.sync();
    for (chan, ty, tid, _) in c.take(BE, SERVER) {
        if tid == Some(t1) && ty == MsgType::Accepted {
            c.req(BE, SERVER, Request::Ack { chan, tid: t1 });
        }
    }
    c.sync();
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Accepted], "the client hears the commit");
}

/// Every delivery of a transaction to a server carries its partition's
/// grant epoch as a fencing token (`docs/fencing.md`). t1 commits on be
/// (grant 1); its server has the commit in hand and has not acknowledged
/// it when be is lost. be2 takes the range over (a higher grant) and
/// replays t1, uncertain, under its own token: a database that keeps the
/// highest token per key range refuses be's server's late commit.
#[test]
fn a_replay_by_the_ranges_next_holder_carries_a_higher_fence() {
    let (mut c, t1) = Cluster::t1_committed_at_be_with_be2_standby();
    let fences = |c: &mut Cluster, node: usize| -> Vec<(MsgType, u64)> {
        let mut out = Vec::new();
        c.delivered.retain(|(n, conn, d)| {
            if *n == node && *conn == SERVER && d.tid == Some(t1) {
                out.push((d.msgtype, d.fence));
                false
            } else {
                true
            }
        });
        out
    };
    let at_be = fences(&mut c, BE);
    assert_eq!(at_be, vec![(MsgType::Msg1, 1), (MsgType::Prepare, 1), (MsgType::Accepted, 1)], "under be's grant 1");
    c.kill(BE);
    let at_be2 = fences(&mut c, BE2);
    assert_eq!(at_be2.iter().map(|x| x.0).collect::<Vec<_>>(), vec![MsgType::Msg1Uncertain, MsgType::Accepted]);
    assert!(at_be2.iter().all(|(_, f)| *f > 1), "be2's replay under its own, higher grant: {at_be2:?}");
}

impl Cluster {
    /// be2 serves the upper range; t1 debits the lower range (be) and
    /// credits the upper (be2), accepted by its client, and both servers
    /// voted yes, durably. tr1, frozen, has not read the votes: they are
    /// returned (be2's first, each with its sender) instead of delivered.
    fn t1_voted_durably_unheard_by_tr1() -> (Cluster, Tid, Vec<(usize, Internal)>) {
        let mut c = ready();
        c.open_upper_be2();
        let t1 = c.tid();
        c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "debit") });
        c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
        for k in [BE, BE2] {
            c.req(k, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
        }
        c.sync_unpumped();
        c.collect();
        let mut votes: Vec<(usize, Internal)> = c.take_wire(BE2, TR1).into_iter().map(|m| (BE2, m)).collect();
        votes.extend(c.take_wire(BE, TR1).into_iter().map(|m| (BE, m)));
        (c, t1, votes)
    }

    /// The frontend gives tr1 up (tr1 does not notice) and drives its
    /// transactions again through tr2, whose probe reaches `nodes` only
    /// (their answers are not carried).
    fn redrive_through_tr2_probing(&mut self, nodes: &[usize]) {
        let now = self.now;
        self.node(FE).link_down(now, peer_ref(TR1));
        self.pump_only(FE, TR2);
        for &k in nodes {
            self.pump_only(TR2, k);
        }
    }
}

/// Simulator seed 13244 (two routers): t1 spans be and be2, both voted yes
/// durably, and tr1 (frozen) never heard the votes. The frontend drives t1
/// again through tr2, whose probe reaches be: be promises the later drive,
/// in its journal, before it answers. be dies and starts again; tr1, thawed,
/// tells be that t1 committed (its drive 0, durable nowhere). be refuses it:
/// the promise outlived the restart (it took tr1's commit, while tr2 rejected
/// the transaction, before promises were written), and be asks tr2 next.
#[test]
fn a_promise_to_a_later_drive_outlives_a_restart() {
    use crate::journal::RecordKind;
    let (mut c, t1, _) = Cluster::t1_voted_durably_unheard_by_tr1();
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Vote));
    // The frontend drives t1 again through tr2, whose probe reaches be.
    c.redrive_through_tr2_probing(&[BE]);
    let answered = |c: &Cluster| {
        c.wire.iter().any(|(f, t, m)| *f == BE && *t == TR2 && matches!(m, Internal::Tr(ToRouter::Inquired { .. })))
    };
    assert!(!answered(&c), "no answer before the promise is durable");
    let promises: Vec<TxRecord> = c.journals[BE]
        .iter()
        .filter(|r| r.tid == t1 && r.kind == RecordKind::Drive)
        .map(|r| TxRecord::decode(r.kind, &r.payload).unwrap())
        .collect();
    assert_eq!(promises, vec![TxRecord::Drive { drive: 1 }]);
    c.sync_unpumped();
    c.collect();
    assert!(answered(&c), "answered once the promise is durable");
    // be dies before tr2 decides (tr1, frozen, does not notice), and starts
    // again linked to tr1 only.
    c.wire.clear();
    c.kill_be_unnoticed_by_tr1();
    c.restart_unlinked_from(BE, &[TR2]);
    let commits = |c: &Cluster| c.journals[BE].iter().filter(|r| r.tid == t1 && r.kind == RecordKind::Commit).count();
    assert_eq!(commits(&c), 0);
    // tr1's commit of drive 0, as its answer to be's question.
    let commit =
        ToBackend::Outcome { tid: t1, parts: Vec::new(), accepted: true, status: Status::Ok, reason: 0, drive: 0 };
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(commit));
    c.sync();
    assert_eq!(commits(&c), 0, "an earlier drive's commit is not taken after the restart");
    // be asks tr2, the later drive's router, next (tr1 would answer the same).
    let now = c.now;
    let info = c.peer_info(BE, TR2);
    c.node(BE).link_up(now, peer_ref(TR2), info);
    c.collect();
    let asked: Vec<usize> = c
        .wire
        .iter()
        .filter(|(f, _, m)| *f == BE && matches!(m, Internal::Tr(ToRouter::Inquire { tid, .. }) if *tid == t1))
        .map(|(_, t, _)| *t)
        .collect();
    assert_eq!(asked, vec![TR2]);
}

/// Simulator seed 12003 (two routers: no outcome): tr1 holds drive 0 of t1,
/// with a branch at be. The frontend gives tr1 up and drives t1 again
/// through tr2 (drive 1), whose probe is slow to reach be; then gives tr2
/// up and drives t1 through tr1 again (drive 2). tr1 probes afresh rather
/// than go on with its copy: be learns drive 2, so tr2's late probe of
/// drive 1 cannot take the branch from tr1 and roll it back (tr2's client
/// left it). Before, tr1 went on with its copy under drive 2 without a
/// word to be; tr2's probe took the branch, rolled it back, and tr1 (told
/// `DrivenElsewhere` for drive 0, older than its own) waited for ever.
#[test]
fn a_router_driven_again_after_another_routers_drive_probes_afresh() {
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Prepare]);
    // Drive 1 through tr2: its probe waits on the wire.
    c.redrive_through_tr2_probing(&[]);
    let late: Vec<(usize, Internal)> =
        [BE, BE2].iter().flat_map(|&k| c.take_wire(TR2, k).into_iter().map(move |m| (k, m))).collect();
    assert!(late.iter().any(|(_, m)| matches!(m, Internal::Be(ToBackend::Inquire { drive: 1, .. }))), "{late:?}");
    // Drive 2 through tr1: the frontend gives tr2 up and reaches tr1 again.
    let now = c.now;
    c.node(FE).link_down(now, peer_ref(TR2));
    c.relink_anew(FE, TR1);
    c.pump();
    assert!(c.take(BE, SERVER).iter().all(|x| x.2 != Some(t1)), "the branch is not presented again");
    // tr2's probe of drive 1 arrives, and tr2 sees its client leave.
    let now = c.now;
    for (k, m) in late {
        c.node(k).peer_input(now, peer_ref(TR2), m);
    }
    c.pump();
    c.sync();
    c.node(TR2).link_down(now, peer_ref(FE));
    c.pump();
    assert!(c.take(BE, SERVER).is_empty(), "tr2 rolled nothing back at be");
    c.server_accept(1, t1);
    c.sync();
    c.sync();
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Accepted]);
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
}

/// Simulator seed 17005 (one router: applied twice): a re-drive's probe
/// counted be2's answer for be's journal, which be2 had read. be2 restarted
/// before it answered, holding no other node's journal any more, and
/// answered "unknown" for itself alone; the probe ended on it while be's
/// journal (unread now, be down) held the commit, and the transaction was
/// started afresh. Now the restarted reader's report (`TookOver` of its own
/// journal) puts be back among the nodes the probe waits for.
#[test]
fn a_probe_waits_again_for_the_journals_a_restarted_reader_no_longer_holds() {
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    // Drive 1 through tr2; its questions are lost on the wire.
    c.redrive_through_tr2_probing(&[]);
    c.take_wire(TR2, BE);
    c.take_wire(TR2, BE2);
    assert_eq!(c.node(TR2).tr.probe_drive(t1), 1, "probing");
    // be is lost to tr2, and be2 reports that it read be's journal.
    let now = c.now;
    c.node(TR2).link_down(now, peer_ref(BE));
    let read = |node: &str, epoch| {
        Internal::Tr(ToRouter::TookOver {
            node: node.to_string(),
            committed: Vec::new(),
            read: true,
            aborted: Vec::new(),
            epoch,
        })
    };
    c.node(TR2).peer_input(now, peer_ref(BE2), read("be", 2));
    c.collect();
    assert!(
        c.take_wire(TR2, BE2).iter().any(|m| matches!(m, Internal::Be(ToBackend::Inquire { tid, .. }) if *tid == t1)),
        "be2 is asked for be's journal"
    );
    // be2 restarts before it answers: it holds its own journal only, and
    // answers for itself.
    c.node(TR2).peer_input(now, peer_ref(BE2), read("be2", 2));
    let unknown = ToRouter::Inquired {
        tid: t1,
        parts: Vec::new(),
        state: TxState::Unknown,
        applied: vec![],
        held: vec![],
        site: None,
    };
    c.node(TR2).peer_input(now, peer_ref(BE2), Internal::Tr(unknown));
    c.collect();
    assert_eq!(c.node(TR2).tr.probe_drive(t1), 1, "still probing: be's journal has not answered");
    assert!(
        !c.wire
            .iter()
            .any(|(f, _, m)| *f == TR2 && matches!(m, Internal::Be(ToBackend::Msg { tid, .. }) if *tid == t1)),
        "nothing of t1 placed: {:?}",
        c.wire
    );
}

impl Cluster {
    /// be2 stands by for be's range; t0 commits at be, whose server has not
    /// acknowledged it when be dies: be2 takes be's journal over, replays
    /// t0, and holds that journal until its server has acknowledged it.
    fn be2_holding_bes_journal() -> Cluster {
        let mut c = ready();
        c.open_standby(0, false);
        c.take(BE2, SERVER);
        let t0 = c.tid();
        c.req(FE, CLIENT, Request::Send { chan: 1, tid: t0, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
        c.take(BE, SERVER);
        c.server_accept(1, t0);
        c.sync();
        c.take(BE, SERVER);
        c.kill(BE);
        assert!(c.take(BE2, SERVER).iter().any(|x| x.2 == Some(t0)), "t0 replayed at be2");
        c
    }
}

/// Simulator seed 12674 (two routers: a disagreement): a node that holds a
/// lost node's journal answers a later drive's probe for that journal too,
/// so its promise goes into that journal as well as its own, even when
/// neither holds anything of the tid. In the run the promise was in the
/// reader's journal only; the lost node started again on its own journal
/// and adopted an earlier drive's commit of a transaction the later drive
/// had rejected.
#[test]
fn a_readers_promise_goes_into_the_journals_it_answers_for() {
    use crate::journal::RecordKind;
    let mut c = Cluster::be2_holding_bes_journal();
    let read: Vec<u32> = c.adopted_writes.iter().filter(|(n, _, _)| *n == BE2).map(|(_, j, _)| *j).collect();
    c.adopted_writes.clear();
    assert_eq!(c.partition_states(BE2), vec![crate::protocol::admin::PartitionState::Active], "be2 holds be's journal");
    let t1 = c.tid();
    let probe = Internal::Be(ToBackend::Inquire { tid: t1, facility: "F".into(), drive: 1, binds: 0 });
    let now = c.now;
    c.node(BE2).peer_input(now, peer_ref(TR2), probe);
    c.collect();
    let own = c.journals[BE2].iter().filter(|r| r.tid == t1 && r.kind == RecordKind::Drive).count();
    assert_eq!(own, 1, "promised in its own journal");
    let jids: Vec<u32> = c.adopted_writes.iter().filter(|(n, _, _)| *n == BE2).map(|(_, j, _)| *j).collect();
    assert_eq!(jids.len(), 1, "and in be's journal, which it holds: {jids:?} (earlier writes there: {read:?})");
    assert_ne!(jids[0], 0);
    let answered = |c: &Cluster| {
        c.wire.iter().any(|(f, t, m)| {
            *f == BE2 && *t == TR2 && matches!(m, Internal::Tr(ToRouter::Inquired { tid, .. }) if *tid == t1)
        })
    };
    assert!(!answered(&c), "no answer before both are durable");
    c.sync_unpumped();
    c.collect();
    assert!(answered(&c), "answered once both are durable");
}

/// The same when the reader's link goes before it answered (simulator seed
/// 17005 with promises written into read journals: the reader restarted
/// and was lost again before it linked): the probe waits for the reader and
/// for the journal it read. be2 comes back, answers for itself alone, and
/// the probe still waits for be's journal.
#[test]
fn a_probe_waits_again_for_the_journals_a_lost_reader_answered_for() {
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    c.redrive_through_tr2_probing(&[]);
    c.take_wire(TR2, BE);
    c.take_wire(TR2, BE2);
    let now = c.now;
    c.node(TR2).link_down(now, peer_ref(BE));
    let read = Internal::Tr(ToRouter::TookOver {
        node: "be".to_string(),
        committed: Vec::new(),
        read: true,
        aborted: Vec::new(),
        epoch: 2,
    });
    c.node(TR2).peer_input(now, peer_ref(BE2), read);
    c.collect();
    assert!(
        c.take_wire(TR2, BE2).iter().any(|m| matches!(m, Internal::Be(ToBackend::Inquire { tid, .. }) if *tid == t1)),
        "be2 is asked for be's journal"
    );
    // be2's link goes before it answers; it comes back and answers for
    // itself (it holds no journal of be's).
    c.node(TR2).link_down(now, peer_ref(BE2));
    c.node(BE2).link_down(now, peer_ref(TR2));
    c.relink(TR2, BE2);
    c.sync();
    c.sync();
    assert!(c.wire.is_empty() || !c.wire.iter().any(|(f, t, _)| *f == BE2 && *t == TR2), "be2's answers were carried");
    assert_eq!(c.node(TR2).tr.probe_drive(t1), 1, "still probing: be's journal has not answered");
}

/// Simulator seed 14774 (one router: applied twice): a node whose
/// facilities name other nodes keeps a commit answerable from the moment it
/// starts, not only once a link is up. be commits t1, its server has not
/// acknowledged it when be dies; be starts again on its journal, alone
/// (no link yet), and replays t1 to its server, which acknowledges. The
/// commit ends `Applied`, kept for a router to ask about (the client never
/// heard it); it ended `Done`, and once recycled a re-drive found nobody
/// who knew the tid and committed it afresh.
#[test]
fn a_node_with_peers_keeps_a_replayed_commit_answerable_before_any_link() {
    use crate::journal::RecordKind;
    let mut c = ready();
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    c.server_accept(1, t1);
    c.sync();
    assert!(c.take(BE, SERVER).iter().any(|x| x.1 == MsgType::Accepted && x.2 == Some(t1)));
    c.kill(BE);
    c.restart_unlinked_from(BE, &[FE, TR1, TR2, BE2]);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.1 == MsgType::Msg1Uncertain && x.2 == Some(t1)), "replayed: {s:?}");
    c.ack(1, t1);
    let after_commit: Vec<RecordKind> = c.journals[BE]
        .iter()
        .filter(|r| r.tid == t1)
        .map(|r| r.kind)
        .skip_while(|k| *k != RecordKind::Commit)
        .collect();
    assert_eq!(after_commit, vec![RecordKind::Commit, RecordKind::Applied], "kept answerable, not done");
}

/// Simulator seed 17272 (one router: no outcome): a reader's promise is
/// on its way into a read journal when a later taker takes that journal
/// (the write will never complete there). The promise counts as failed for
/// that journal (it holds in memory) and the probe is answered once the
/// reader's own journal has it; it waited for ever.
#[test]
fn a_promise_on_its_way_into_a_lost_read_journal_does_not_hold_the_answer() {
    let mut c = Cluster::be2_holding_bes_journal();
    c.adopted_writes.clear();
    let before: Vec<u64> = c.syncs.iter().filter(|(n, _)| *n == BE2).map(|(_, t)| *t).collect();
    let t1 = c.tid();
    let probe = Internal::Be(ToBackend::Inquire { tid: t1, facility: "F".into(), drive: 1, binds: 0 });
    let now = c.now;
    c.node(BE2).peer_input(now, peer_ref(TR2), probe);
    c.collect();
    let jid =
        c.adopted_writes.iter().find(|(n, _, _)| *n == BE2).map(|(_, j, _)| *j).expect("a write into be's journal");
    let mut mine: Vec<u64> =
        c.syncs.iter().filter(|(n, t)| *n == BE2 && !before.contains(t)).map(|(_, t)| *t).collect();
    mine.sort();
    assert_eq!(mine.len(), 2, "one promise per journal");
    c.syncs.retain(|(n, t)| !(*n == BE2 && mine.contains(t)));
    let answered = |c: &Cluster| {
        c.wire.iter().any(|(f, t, m)| {
            *f == BE2 && *t == TR2 && matches!(m, Internal::Tr(ToRouter::Inquired { tid, .. }) if *tid == t1)
        })
    };
    // Its own journal's promise is durable; the read journal's never will be.
    c.node(BE2).journal_done(now, mine[0], Ok(()));
    c.collect();
    assert!(!answered(&c), "the read journal's promise is still on its way");
    c.node(BE2).taken_over_lost(now, jid);
    c.collect();
    assert!(answered(&c), "answered once that journal is lost");
}

/// Simulator seed 12835 (two routers: applied twice): a later drive's
/// probe reaches be, which holds nothing of t1. be promises that drive in
/// its journal all the same before it answers "unknown" (the drive went on
/// to commit t1 elsewhere, and every node forgot it). be restarts; then tr1,
/// which was frozen with t1's first messages of drive 0 unread, thaws and
/// places them at be as new work. be refuses them (`DrivenElsewhere`) and
/// presents nothing to its server: before the promise was journaled, be
/// had forgotten the drive with its restart and applied t1 a second time.
/// The promise pins no segment of the journal.
#[test]
fn a_promise_from_a_node_that_held_nothing_outlives_a_restart() {
    use crate::journal::RecordKind;
    let mut c = ready();
    let t1 = c.tid();
    let probe = Internal::Be(ToBackend::Inquire { tid: t1, facility: "F".into(), drive: 1, binds: 0 });
    let answered = |c: &Cluster| {
        c.wire.iter().any(|(f, t, m)| {
            *f == BE
                && *t == TR2
                && matches!(m, Internal::Tr(ToRouter::Inquired { tid, state: TxState::Unknown, .. }) if *tid == t1)
        })
    };
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR2), probe);
    c.collect();
    assert!(!answered(&c), "no answer before the promise is durable");
    let promises: Vec<TxRecord> =
        c.journals[BE].iter().filter(|r| r.tid == t1).map(|r| TxRecord::decode(r.kind, &r.payload).unwrap()).collect();
    assert_eq!(promises, vec![TxRecord::Drive { drive: 1 }], "the promise alone: be holds nothing else of t1");
    c.sync_unpumped();
    c.collect();
    assert!(answered(&c), "answered once the promise is durable");
    c.wire.clear();
    // be dies and starts again on its journal; its server comes back.
    c.kill_be_unnoticed_by_tr1();
    c.restart(BE);
    c.sync();
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.take(BE, SERVER);
    c.wire.clear();
    // tr1's drive 0, thawed: t1's first message, as new work for be.
    let part = c.node(BE).show_partitions().0[0].id;
    let first = ToBackend::Msg {
        tid: t1,
        part,
        index: 0,
        data: msg(5, "debit"),
        first: true,
        flags: flags::sen::ACCEPT,
        drive: 0,
    };
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(first));
    c.collect();
    assert!(
        c.wire.iter().any(|(f, t, m)| *f == BE
            && *t == TR1
            && matches!(m, Internal::Tr(ToRouter::DrivenElsewhere { tid, .. }) if *tid == t1)),
        "refused for the later drive: {:?}",
        c.wire
    );
    c.sync();
    assert!(c.take(BE, SERVER).iter().all(|x| x.2 != Some(t1)), "be's server never sees t1");
    assert!(c.journals[BE].iter().all(|r| r.tid != t1 || r.kind != RecordKind::Msg), "nothing of drive 0 is journaled");
}

/// Simulator seeds 13990 and 13531 (two routers: no outcome): tr1, frozen,
/// thaws and commits t1 on votes that a later drive's router (tr2) has
/// taken over since. Both backends promised that later drive, so neither
/// takes tr1's commit: they say so (`DrivenElsewhere`), and tr1, whose
/// commit is durable nowhere, drops it with its memory of it, as a restart
/// would. Asked about t1 afterwards, it does not answer "committed" from
/// that memory (it asks every node instead), and it does not wait for ever
/// for a commit that can never settle.
#[test]
fn a_commit_durable_nowhere_that_participants_refuse_for_a_later_drive_is_dropped() {
    use crate::journal::RecordKind;
    let (mut c, t1, votes) = Cluster::t1_voted_durably_unheard_by_tr1();
    // The frontend drives t1 again through tr2, whose probe reaches both
    // backends; they promise drive 1 and answer tr2 (which waits).
    c.redrive_through_tr2_probing(&[BE, BE2]);
    c.sync_unpumped();
    c.collect();
    // What the backends told tr1 when tr2 took their branches is lost.
    c.take_wire(BE, TR1);
    c.take_wire(BE2, TR1);
    // tr1 thaws: the votes, then its commit of drive 0 to both backends.
    let now = c.now;
    for (from, m) in votes {
        c.node(TR1).peer_input(now, peer_ref(from), m);
    }
    c.collect();
    let commits_sent = c
        .wire
        .iter()
        .filter(|(f, _, m)| *f == TR1 && matches!(m, Internal::Be(ToBackend::Outcome { accepted: true, .. })))
        .count();
    assert_eq!(commits_sent, 2, "tr1 committed on the votes");
    c.pump_only(TR1, BE);
    c.pump_only(TR1, BE2);
    c.sync_unpumped();
    c.collect();
    for k in [BE, BE2] {
        assert!(!c.journals[k].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Commit), "not taken at {k}");
    }
    let refusals = c
        .wire
        .iter()
        .filter(|(_, t, m)| *t == TR1 && matches!(m, Internal::Tr(ToRouter::DrivenElsewhere { tid, .. }) if *tid == t1))
        .count();
    assert_eq!(refusals, 2, "each backend says it promised a later drive");
    c.pump_only(BE, TR1);
    c.pump_only(BE2, TR1);
    // Asked, tr1 no longer answers from its dropped commit: it asks.
    let now = c.now;
    c.node(TR1).peer_input(
        now,
        peer_ref(BE),
        Internal::Tr(ToRouter::Inquire { tid: t1, facility: "F".into(), drive: 0 }),
    );
    c.collect();
    let from_tr1: Vec<&Internal> = c.wire.iter().filter(|(f, _, _)| *f == TR1).map(|(_, _, m)| m).collect();
    assert!(
        !from_tr1.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { accepted: true, .. }))),
        "{from_tr1:?}"
    );
    assert!(from_tr1.iter().any(|m| matches!(m, Internal::Be(ToBackend::Inquire { tid, .. }) if *tid == t1)));
}

/// Simulator seed 9377 (two routers: no outcome): t1's branch on be2 was
/// taken by tr2's probe (drive 1); tr2's link to be2 broke, and be2, its
/// branch orphaned, asked tr1, whose inquiry took the branch. tr2's link
/// came back and its probe asked be2 again, while tr1's inquiry waited on
/// be's branch, which tr2 owns. Each router waited for a branch the other
/// held. A probe of the drive driving the transaction takes a branch from
/// an owner that only asked about it (as the drive's messages do): tr2
/// decides, and tr1's inquiry ends on that.
#[test]
fn a_probe_takes_a_branch_back_from_a_router_that_only_asked_about_it() {
    let (mut c, t1, _) = Cluster::t1_voted_durably_unheard_by_tr1();
    // The frontend drives t1 again through tr2; be2's answer to the probe
    // is lost with its link to tr2.
    c.redrive_through_tr2_probing(&[BE, BE2]);
    c.sync_unpumped();
    c.collect();
    c.cut(TR2, BE2);
    c.take(FE, CLIENT);
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    // be2's branch, orphaned, asks tr1 after its grace: tr1's inquiry takes
    // it, and waits on be's branch (tr2's).
    c.advance(BE2, backend::ORPHAN_GRACE + Duration::from_millis(1));
    c.sync();
    assert!(c.take(FE, CLIENT).is_empty(), "nothing decided yet");
    // tr2's link to be2 comes back.
    c.relink(TR2, BE2);
    c.sync();
    c.sync();
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Accepted], "tr2 decided");
    for k in [BE, BE2] {
        let s: Vec<MsgType> = c.take(k, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
        assert_eq!(s, vec![MsgType::Accepted], "at {k}");
    }
}

/// Simulator seed 14732 (one router): be knew t1 committed (it read the
/// lost be2's journal) while its own branch of t1 was undecided, set aside
/// by the retry limit after its vote (its server died), the outcome to it
/// lost. Asked by the probe of a re-drive, be answered "committed" naming
/// that branch, and (set aside) gave no vote: the router took the branch
/// for committed and told it nothing, and the client heard "accepted" of
/// work never applied on be's range. be now commits the branch itself when
/// it answers so: a committed exception, for an operator to present again.
#[test]
fn a_branch_undecided_where_the_commit_is_known_commits_when_a_probe_asks() {
    let (mut c, t1) = Cluster::t1_voted_on_be_and_be2_with_be_standby_upper();
    // A second server for be's range, whose retry limit is 1.
    let open = Request::Open {
        chan: 3,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(0, 1000),
    };
    c.req(BE, SERVER, open);
    let now = c.now;
    let lower = c.node(BE).show_partitions().0.into_iter().find(|p| p.servers == 2);
    let lower = lower.expect("be's own range, two servers").id;
    let change = crate::protocol::admin::PartitionChange::RetryLimit(1);
    c.node(BE).set_partition(now, "F", lower, change).expect("retry limit set");
    c.sync_unpumped();
    c.pump_only(BE, TR1);
    c.pump_only(BE2, TR1);
    assert!(!c.take_wire(TR1, BE).is_empty(), "the outcome to be is lost on its way");
    c.pump_only(TR1, BE2);
    c.sync();
    c.ack(1, t1);
    // be's server holding t1 dies: set aside, undecided.
    c.req(BE, SERVER, Request::Close { chan: 1 });
    let e = c.node(BE).be.exceptions.clone();
    assert_eq!((e.len(), e[0].committed, e[0].undecided), (1, false, true));
    // be2 dies: be, standby for its range, reads its journal (t1 committed);
    // then tr1 dies, and the frontend drives t1 again through tr2.
    c.kill(BE2);
    c.sync();
    c.kill(TR1);
    c.sync();
    c.sync();
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Accepted]);
    let e = c.node(BE).be.exceptions.clone();
    assert_eq!((e.len(), e[0].committed, e[0].undecided), (1, true, false), "a committed exception now");
    assert_eq!(c.node(BE).exception_tids(), vec![t1]);
}

/// Simulator seed 16946 (two routers: no outcome). t1 spans be and be2,
/// both voted yes, and tr2, its router, never heard the votes: it died.
/// be's orphan asked tr1 (tr2 not linked to it yet) and be2's asked tr2,
/// started again and knowing nothing (tr1 was not linked to be2). Each
/// inquiry held the asking node's branch and waited for the other's: tr2,
/// owner of be2's branch from its drive, waited on be's, which tr1's
/// inquiry had taken; tr1 waited on be2's. Now an owner that asks about
/// its own branch only asks (it forgot the transaction), and of two
/// routers that only ask, the one named first takes the branch: tr1 ends,
/// rolling t1 back, and tr2's question is answered from that.
#[test]
fn two_routers_asking_about_one_orphan_do_not_wait_for_each_other() {
    let mut c = ready();
    c.open_upper_be2();
    // The frontend sends through tr2 (its link to tr1 seen down).
    let now = c.now;
    c.node(FE).link_down(now, peer_ref(TR1));
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    for k in [BE, BE2] {
        c.req(k, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    }
    c.sync_unpumped();
    c.collect();
    assert!(!c.take_wire(BE, TR2).is_empty() && !c.take_wire(BE2, TR2).is_empty(), "the votes are lost");
    // tr2 dies, and starts again linked to be2 only (not to be, nor to
    // the frontend, which would drive t1 again); tr1's link to be2 breaks.
    c.kill(TR2);
    c.restart_unlinked_from(TR2, &[BE, FE]);
    c.cut(TR1, BE2);
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    // be's orphan asks tr1, whose inquiry takes the branch and waits for
    // be2; be2's asks tr2, which waits for be.
    c.advance(BE, backend::ORPHAN_GRACE + Duration::from_millis(1));
    c.advance(BE2, Duration::from_millis(1));
    c.sync();
    c.relink(TR2, BE);
    c.sync();
    c.relink(TR1, BE2);
    c.sync();
    c.sync();
    for k in [BE, BE2] {
        let s: Vec<MsgType> = c.take(k, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
        assert_eq!(s, vec![MsgType::Rejected], "at {k}: nobody committed, rolled back");
    }
    assert_eq!((c.node(TR1).tr.inquiring(), c.node(TR2).tr.inquiring()), (0, 0), "both inquiries ended");
}

impl Cluster {
    /// A new transaction of one message (key 5, be's range), which the
    /// client accepts with it; be's server votes yes, and the vote is on
    /// the wire to tr1, not carried yet.
    fn voted_at_be_uncarried(&mut self) -> Tid {
        let t1 = self.tid();
        self.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "debit") });
        let (now, accept) = (self.now, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
        self.node(BE).handle_request(now, SERVER, accept);
        self.collect();
        t1
    }
}

/// Simulator seed 23634 (one router: no outcome). t1's branch on be (the
/// lower range) voted, and its server died: the vote was withdrawn, the
/// branch left waiting for a server. With no server left, be gave the range
/// up and be2, its standby, took it. The frontend drove t1 again through
/// tr2, whose probe took be's branch (named in be's answer) and, finding no
/// commit, went on as if new: the work went to be2, where the range is
/// served now, and committed there, while be's branch waited for an outcome
/// nobody would send. Once be was active for the range again, its server
/// held that branch for ever, and every transaction behind it. Now the
/// probe gives back a branch it named whose partition does not get the work.
#[test]
fn a_probe_going_on_as_new_gives_back_a_branch_whose_range_moved() {
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    let t1 = c.voted_at_be_uncarried();
    assert!(!c.take_wire(BE, TR1).is_empty(), "the vote is lost");
    // tr1 dies (the frontend, cut off from tr2, waits), and be's server dies
    // holding t1: the vote is withdrawn; be gives the range up and be2
    // takes it.
    c.cut(FE, TR2);
    c.kill(TR1);
    c.req(BE, SERVER, Request::Close { chan: 1 });
    c.sync();
    c.sync();
    assert!(c.node(BE).be.branches.keys().any(|(t, _)| *t == t1), "be's branch waits for a server");
    // The frontend drives t1 again through tr2, which finds no commit and
    // places the work on be2.
    c.relink(FE, TR2);
    c.sync();
    let s: Vec<MsgType> = c.take(BE2, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(s, vec![MsgType::Msg1, MsgType::Prepare], "presented on be2");
    assert!(c.node(BE).be.branches.keys().all(|(t, _)| *t != t1), "be's branch is given back");
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.sync();
    c.sync();
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Accepted]);
}

/// Simulator seed 22813 (two routers: no outcome). A node whose own branch
/// of t1 is committing under one router holds an in-doubt copy of t1 from
/// a lost node's journal, and another router's answer commits the copy. It
/// holds its `Durable` until the copy's commit is written (seed 12269), and
/// then said it to the copy's router only: the branch's router never heard
/// it, nor did its client. Now every router it held `Durable` from hears it.
#[test]
fn a_durable_held_for_an_in_doubt_copy_reaches_every_router_that_committed() {
    let (mut c, t1) = Cluster::t1_voted_on_be_and_be2_with_be_standby_upper();
    c.sync_unpumped();
    c.pump_only(BE, TR1);
    c.pump_only(BE2, TR1);
    assert!(!c.take_wire(TR1, BE2).is_empty(), "the outcome to be2 is lost");
    // be's commit is being written; be2 dies, and be, standby for the upper
    // range, reads its journal: t1 in doubt there. tr1 does not hear of the
    // read (its `TookOver` is lost), so it asks be nothing about the copy.
    c.pump_only(TR1, BE);
    c.nodes[BE2] = None;
    c.auth[BE2] = None;
    c.authority.process_ended(NAMES[BE2]);
    c.wire.retain(|(f, t, _)| *f != BE2 && *t != BE2);
    c.syncs.retain(|(i, _)| *i != BE2);
    let now = c.now;
    for i in [FE, TR1, TR2, BE] {
        c.node(i).link_down(now, peer_ref(BE2));
    }
    // Carried as `pump` does, but without be's `TookOver` to tr1.
    loop {
        c.collect();
        c.wire.retain(|(f, t, m)| !(*f == BE && *t == TR1 && matches!(m, Internal::Tr(ToRouter::TookOver { .. }))));
        let Some((from, to, m)) = c.wire.pop_front() else { break };
        let (now, src) = (c.now, c.link_id(to, from));
        if let Some(n) = c.nodes[to].as_mut() {
            n.peer_input(now, src, m);
        }
    }
    // tr2, asked about the copy, answers with the commit.
    let commit = ToBackend::Outcome {
        tid: t1,
        parts: Vec::new(),
        accepted: true,
        status: Status::Ok,
        reason: 0,
        drive: NO_DRIVE,
    };
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR2), Internal::Be(commit));
    c.collect();
    // Both writes finish: be's own commit first, then the copy's.
    c.sync_unpumped();
    c.collect();
    let to_tr1 = c.take_wire(BE, TR1);
    assert!(
        to_tr1.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Durable { tid }) if *tid == t1)),
        "tr1 hears be's Durable: {to_tr1:?}"
    );
}

/// Simulator seed 26735 (two routers: a disagreement). tr1 committed t1's
/// drive 0, durable nowhere (its outcome to be was lost). The frontend
/// drove t1 through tr2 (drive 1) and then, tr2 lost, through tr1 again
/// (drive 2). tr1 re-attached the client to its old commit; drives between
/// went through another router, which may have decided t1 otherwise (in
/// the seed it committed it afresh, and tr1's commit, refused by a node
/// holding the later drive's promise, was told to the client as
/// "rejected"). Now tr1 drops that commit and probes afresh, as it does
/// for an undecided copy (seed 12003).
#[test]
fn a_router_driven_again_after_another_routers_drive_drops_its_unheard_commit_and_probes() {
    let mut c = ready();
    let t1 = c.voted_at_be_uncarried();
    c.pump_only(BE, TR1);
    let lost = c.take_wire(TR1, BE);
    assert!(lost.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { accepted: true, .. }))), "{lost:?}");
    // The frontend leaves tr1: drive 1 goes through tr2, whose questions
    // are lost, and tr2 dies.
    let now = c.now;
    c.node(FE).link_down(now, peer_ref(TR1));
    c.pump_only(FE, TR2);
    c.take_wire(TR2, BE);
    c.take_wire(TR2, BE2);
    c.kill(TR2);
    // Back to tr1: drive 2. tr1 asks every backend before anything else
    // (be promises drive 2, and answers once that is written).
    c.relink(FE, TR1);
    c.sync();
    c.sync();
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Accepted]);
    let s: Vec<MsgType> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(s.iter().filter(|t| **t == MsgType::Accepted).count(), 1, "{s:?}");
}

/// A branch set aside by the retry limit, undecided, that its router gives
/// back (`GiveBack`: a probe going on as new places its work elsewhere) is
/// settled as a rejected branch is: its exception is decided "not
/// committed", not left undecided for ever.
#[test]
fn a_branch_set_aside_and_given_back_settles_its_exception() {
    let mut c = ready();
    c.two_servers_retry_limit_one();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    let s = c.take(BE, SERVER);
    let chan = s[0].0;
    // The vote is lost with tr1's link; the server dies: set aside.
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan, tid, reason: 0, flags: 0, implicit: false });
    c.collect();
    c.take_wire(BE, TR1);
    c.node(BE).handle_request(now, SERVER, Request::Close { chan });
    c.collect();
    c.take_wire(BE, TR1);
    let e = c.node(BE).be.exceptions.clone();
    assert_eq!((e.len(), e[0].committed, e[0].undecided), (1, false, true));
    // Its router gives it back.
    let part = c.node(BE).show_partitions().0[0].id;
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(ToBackend::GiveBack { tid, part, drive: 0 }));
    c.collect();
    let e = c.node(BE).be.exceptions.clone();
    assert_eq!((e.len(), e[0].committed, e[0].undecided), (1, false, false));
    assert_eq!(c.exception_records(BE, tid), vec![false]);
    assert!(c.node(BE).be.branches.keys().all(|(t, _)| *t != tid));
}

/// Simulator seed 33281 (two routers): a router lost its link to a backend
/// (the backend lived on), dropped that node's branch of an accepted
/// transaction (its messages were to go to the key range's next
/// partition), found no partition left for the range and rejected it. The
/// rejection reached the other backend and the client, not the cut-off
/// node, whose branch had voted yes durably. Linked again, that node asked
/// the router; the router did not answer from its memory of its own
/// rejection and asked every backend node instead, waiting for ever for
/// one that never came back. The branch held its server, and every
/// transaction queued behind it waited too. The router now answers its own
/// rejection, naming its drive.
#[test]
fn an_in_doubt_branch_its_router_rejected_while_cut_off_hears_the_rejection_when_it_asks() {
    let mut c = ready();
    c.open_upper_be2();
    c.kill(TR2);
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.server_accept(1, tid);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    // Both votes are durable; be's is lost with its link to tr1 (be lives on).
    c.sync_unpumped();
    c.collect();
    assert!(!c.take_wire(BE, TR1).is_empty(), "be's vote");
    c.cut(TR1, BE);
    c.sync();
    // tr1 rejected (no partition left for be's range): be2 and the client heard.
    let f = c.take(FE, CLIENT);
    assert!(f.iter().any(|x| x.1 == MsgType::Rejected && x.2 == Some(tid)), "{f:?}");
    let s2 = c.take(BE2, SERVER);
    assert!(s2.iter().any(|x| x.1 == MsgType::Rejected && x.2 == Some(tid)), "{s2:?}");
    c.flush_batches();
    // be2 is lost for good (nobody reads its journal); be links to tr1 again.
    c.kill(BE2);
    c.relink(TR1, BE);
    assert!(c.take(BE, SERVER).is_empty(), "be's branch is in doubt, its server held");
    // After its grace be asks tr1, which rejected it: be rolls back.
    c.advance(BE, backend::ORPHAN_GRACE + Duration::from_millis(1));
    c.sync();
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.1 == MsgType::Rejected && x.2 == Some(tid)), "be's server hears the rejection: {s:?}");
}

/// Simulator seed 38636 (two routers: a disagreement). tr1 drove t
/// (drive 0) and was cut off; the frontend drove it again through tr2,
/// whose probe took be's branch (be told tr1, which dropped its copy). be
/// then asked tr1 about t (in the simulator: about an in-doubt copy of it
/// from a lost node's journal it read), and tr1, which knew nothing of t
/// any more, asked every backend node: be2, holding nothing of t yet,
/// answered "unknown" at once, while the question at be waited on its
/// branch, owned by tr2 and still linked. tr2 then placed the client's
/// next message at be2 and committed on both votes; its outcome to be was
/// lost with its link to be, and that link going let tr1's question take
/// be's branch. tr1 concluded "nobody committed" from be2's answer, given
/// before the commit, and rolled be's branch back: be's server heard
/// "rejected", be2's "accepted". Now an inquiry rolls back only on a
/// second round of answers, asked once every node answered the first (by
/// then it owns each branch it asked about, so none waits): be2 answers
/// "committed" to it, and be commits too.
#[test]
fn an_inquiry_that_waited_on_a_branch_asks_again_before_it_rolls_back() {
    let mut c = ready();
    c.open_upper_be2();
    let t = c.tid();
    // Drive 0 through tr1: the first message reaches be.
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: 0, data: msg(5, "debit") });
    assert_eq!(c.take(BE, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1]);
    // The frontend sees its link to tr1 go (tr1, frozen, does not yet):
    // drive 1 through tr2, whose probe takes be's branch; be tells tr1,
    // which drops its copy.
    let now = c.now;
    c.node(FE).link_down(now, peer_ref(TR1));
    c.pump();
    c.sync();
    assert_eq!(c.node(TR1).stats().active_tx, 0, "tr1 dropped its copy");
    assert_eq!(c.node(TR2).stats().active_tx, 1);
    // be asks tr1 about t: tr1 asks every backend node. be2 answers at
    // once ("unknown"); the question at be waits on its branch (tr2's).
    let now = c.now;
    let ask = ToRouter::Inquire { tid: t, facility: "F".into(), drive: 0 };
    c.node(TR1).peer_input(now, peer_ref(BE), Internal::Tr(ask));
    c.pump();
    assert_eq!(c.node(TR1).tr.inquiring(), 1, "tr1 waits for be's answer");
    // The client goes on through tr2: the credit goes to be2, and both
    // servers vote yes (durably).
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.server_accept(1, t);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t, reason: 0, flags: 0, implicit: false });
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    c.sync_unpumped();
    c.collect();
    c.pump_only(BE, TR2);
    c.pump_only(BE2, TR2);
    // tr2 committed; its outcome to be is lost with its link to be.
    let lost = c.take_wire(TR2, BE);
    assert!(lost.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { accepted: true, .. }))), "{lost:?}");
    c.pump_only(TR2, BE2);
    c.cut(TR2, BE);
    c.sync();
    c.sync();
    let s2: Vec<MsgType> = c.take(BE2, SERVER).into_iter().filter(|x| x.2 == Some(t)).map(|x| x.1).collect();
    assert_eq!(s2, vec![MsgType::Accepted], "be2 applied t");
    let s: Vec<MsgType> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t)).map(|x| x.1).collect();
    assert_eq!(s, vec![MsgType::Accepted], "be's server hears the same outcome");
    assert_eq!(c.node(TR1).tr.inquiring(), 0, "the inquiry ended");
}

/// Simulator seed 36324 (two routers): a router's rollback of a
/// transaction reached a node whose only trace of it was an in-doubt copy
/// it had just given up with a lost node's journal (the journal taken from
/// it). The node neither applied nor remembered the rollback; the
/// transaction's own router, cut off from the node meanwhile, then placed
/// a branch of it there and committed it beside the rollback: the client
/// heard "accepted" and the range of the copy never applied it. A rollback
/// reaching such a node is remembered as it is by a node that knew nothing
/// of the tid (seed 10278), and the router's later work there is refused.
///
/// t1 credits be2's upper range and debits be's lower one; tr1's message
/// to be is lost with their link, and be2's server votes yes, durably.
/// be2 is lost (tr1 does not notice yet; be2 stands by for the lower
/// range, so tr1 holds the debit for it). be reads be2's journal (t1 in
/// doubt there) and asks tr2, whose inquiry finds nobody committed t1; its
/// rollback reaches be just after be gave the journal up. be links to tr1
/// again and tr1 places the debit there.
#[test]
fn a_rollback_reaching_a_node_that_gave_its_in_doubt_copy_up_refuses_the_routers_later_branch() {
    let mut c = ready();
    c.open_upper_be2();
    let standby_upper = Request::Open {
        chan: 2,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(1001, 2000),
    };
    c.req(BE, SERVER, standby_upper);
    let standby_lower = Request::Open {
        chan: 2,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(0, 1000),
    };
    c.req(BE2, SERVER, standby_lower);
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1500, "credit") });
    assert!(c.take(BE2, SERVER).iter().any(|x| x.1 == MsgType::Msg1 && x.2 == Some(t1)));
    // The debit and the vote request after it are lost on tr1's link to be.
    let now = c.now;
    c.node(FE).handle_request(now, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "debit") });
    c.node(FE).handle_request(now, CLIENT, Request::Prepare { chan: 1, tid: t1, reason: 0 });
    c.pump_only(FE, TR1);
    assert!(!c.take_wire(TR1, BE).is_empty(), "tr1's debit to be is lost");
    c.pump();
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.sync();
    c.cut(TR1, BE);
    assert!(c.take(FE, CLIENT).iter().all(|x| x.2 != Some(t1) || x.1 == MsgType::Prepared), "t1 goes on at tr1");
    // be2 is lost; tr1 does not see its link go yet. be, standby for the
    // upper range, takes be2's journal over (slowly).
    c.defer_takeovers = Some(Vec::new());
    c.nodes[BE2] = None;
    c.auth[BE2] = None;
    c.authority.process_ended(NAMES[BE2]);
    c.wire.retain(|(f, t, _)| *f != BE2 && *t != BE2);
    c.syncs.retain(|(i, _)| *i != BE2);
    let now = c.now;
    for i in [FE, TR2, BE] {
        c.node(i).link_down(now, peer_ref(BE2));
    }
    c.pump();
    for _ in 0..5 {
        if c.defer_takeovers.as_ref().is_some_and(|d| !d.is_empty()) {
            break;
        }
        c.advance(BE, CLAIM_RETRY);
    }
    let (at, lost, jid) = c.defer_takeovers.take().unwrap().pop().expect("be takes be2's journal over");
    assert_eq!((at, lost.as_str()), (BE, "be2"));
    c.epochs[BE2] += 1;
    let read = JournalRead { jid, epoch: c.epochs[BE2], records: c.journals[BE2].clone() };
    let now = c.now;
    c.node(BE).takeover_done(now, "be2", Ok(read));
    c.node(BE).tick(now);
    // be asks tr2 of t1 (in doubt in be2's journal); tr2's inquiry asks be
    // (for be2 too) twice (a rollback by asking rests on a second round
    // of answers) and rolls t1 back: nobody committed it.
    c.pump_only(BE, TR2);
    c.pump_only(TR2, BE);
    c.pump_only(BE, TR2);
    c.pump_only(TR2, BE);
    c.pump_only(BE, TR2);
    c.collect();
    let told = c.take_wire(TR2, BE);
    assert!(
        told.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { tid, accepted: false, .. }) if *tid == t1)),
        "tr2 rolls t1 back: {told:?}"
    );
    // be gives be2's journal up (taken from it) just before the rollback
    // comes.
    c.node(BE).taken_over_lost(now, jid);
    for m in told {
        c.node(BE).peer_input(now, peer_ref(TR2), m);
    }
    c.pump();
    c.flush_batches();
    // be links to tr1 again: tr1 places the debit at be.
    c.relink(TR1, BE);
    c.sync();
    let at_be: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t1)).collect();
    assert!(at_be.is_empty(), "be's server never sees t1: {at_be:?}");
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Rejected], "the client hears the rollback");
}

/// Simulator seed 42673 (two routers: no outcome). tr1 drove t (drive 0)
/// and be's server voted yes; the frontend drove it again through tr2
/// (drive 1), whose probe took be's branch and then waited for be2 (down).
/// tr1, its client gone, rejected drive 0: be refused it (promised drive
/// 1). tr2 was lost and started again empty. be's branch, an orphan,
/// asked the facility's first router, tr1, again and again; tr1 answered
/// its drive-0 rejection, refused every time, and tr2 was never asked: the
/// branch held its server for ever. Now the router whose answer a live
/// branch refused is skipped next time, as for an in-doubt copy.
#[test]
fn an_orphaned_branch_asks_another_router_than_the_one_whose_answer_it_refused() {
    let mut c = ready();
    c.kill(BE2);
    let tid = c.tid();
    // Not accepted by the client yet: tr1 waits for it after the vote.
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "pay") });
    c.take(BE, SERVER);
    c.server_accept(1, tid);
    c.sync();
    // The frontend and tr1 lose each other: the frontend drives t again
    // through tr2 (drive 1), whose probe reaches be first; tr1, its client
    // gone, rejects drive 0, and be refuses that.
    let now = c.now;
    c.node(FE).link_down(now, peer_ref(TR1));
    c.node(TR1).link_down(now, peer_ref(FE));
    c.pump_only(FE, TR2);
    c.pump_only(TR2, BE);
    c.sync();
    let s = c.take(BE, SERVER);
    assert!(s.iter().all(|x| x.2 != Some(tid)), "be's branch waits for drive 1: {s:?}");
    // tr2 is lost and starts again empty; be2 comes back.
    c.kill(TR2);
    c.restart(TR2);
    c.restart(BE2);
    c.sync();
    for _ in 0..4 {
        c.advance(BE, backend::ORPHAN_GRACE + Duration::from_millis(1));
        c.sync();
    }
    let s: Vec<MsgType> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(tid)).map(|x| x.1).collect();
    assert_eq!(s, vec![MsgType::Rejected], "be's branch is resolved (tr2 asked every node)");
}

/// Simulator seed 43628 (two routers: accepted, never applied on one key
/// range). t spans be's two partitions and both servers voted; before the
/// commit reached be, its lower partition was demoted (a newer grant), its
/// server still holding the voted branch. The commit went to that server
/// (under the old grant: its database may refuse it) and, the partition
/// not holding the grant, was handed off to the range's next active
/// partition, be itself once it claimed the range again: presented there
/// again, uncertain. The server's acknowledgement of the first delivery
/// and the hand-off's both counted as the branch finishing: two for one,
/// so be wrote `Applied` for t while the other partition's share was
/// still unacknowledged (in the seed, still being handed off), and after
/// a restart nothing of t was presented again: that range never applied
/// it. A branch handed off is finished by the hand-off alone.
#[test]
fn a_commit_handed_off_after_its_demoted_partitions_server_got_it_is_finished_once() {
    use crate::journal::RecordKind;
    let mut c = ready();
    c.open_upper_be();
    // t spans be's two partitions; both servers vote, and tr1 commits at
    // once (be is its only backend node): the commit record is on its way.
    let t = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.server_accept(1, t);
    c.server_accept(2, t);
    assert!(c.journals[BE].iter().any(|r| r.tid == t && r.kind == RecordKind::Commit));
    assert!(c.syncs.iter().any(|(i, _)| *i == BE), "not durable yet");
    // Before it is, be hears that its lower partition holds the range no
    // more; its server keeps the voted branch.
    let now = c.now;
    c.node(BE).role_lost(now, &crate::authority::range_id("F", &range(0, 1000)), 1);
    c.pump();
    c.take(BE, SERVER);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t), Some(Status::Ok))]);
    let got: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t)).map(|x| (x.0, x.1)).collect();
    assert_eq!(got, vec![(1, MsgType::Accepted), (2, MsgType::Accepted)], "both servers hear the commit");
    // The lower server acknowledges (its database may have refused the
    // work under the old grant): the hand-off still stands.
    c.ack(1, t);
    // The lower partition claims the range again and is active: the
    // router hands the branch back to be, presented again, uncertain.
    c.advance(BE, backend::CLAIM_RETRY);
    c.sync();
    let got: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t)).map(|x| (x.0, x.1)).collect();
    assert_eq!(got, vec![(1, MsgType::Msg1Uncertain), (1, MsgType::Accepted)], "handed back to be");
    c.ack(1, t);
    c.sync();
    // The upper server has not acknowledged: t is not finished at be.
    let ended = |c: &Cluster| {
        c.journals[BE].iter().any(|r| r.tid == t && matches!(r.kind, RecordKind::Applied | RecordKind::Done))
    };
    assert!(!ended(&c), "t's upper share is not applied yet");
    // be dies before it is; started again, it presents t to both ranges'
    // servers again (uncertain), and the upper range applies it.
    c.kill(BE);
    c.restart(BE);
    c.open_server(3, flags::ope::EXPLICIT_ACCEPT);
    let upper = Request::Open {
        chan: 4,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(1001, 2000),
    };
    c.req(BE, SERVER, upper);
    c.sync();
    let got: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t)).map(|x| (x.0, x.1)).collect();
    assert!(got.contains(&(4, MsgType::Msg1Uncertain)) && got.contains(&(4, MsgType::Accepted)), "{got:?}");
    c.ack(4, t);
    c.ack(3, t);
    c.sync();
    assert!(ended(&c), "finished once every share is applied");
}

/// Simulator seed 6679 (one router, backends sharing no storage:
/// accepted, never applied). be's server was given t's commit and, before
/// it acknowledged (its machine froze), be's partition was demoted: a
/// newer grant's holder went active without be's journal (unrecognized
/// recovery) and committed under its higher fencing token. The server
/// then applied t under the old token, which its database refuses, and
/// acknowledged; the acknowledgement finished t at be, and nobody reads
/// be's journal to replay it: the range never applied t. A demotion now
/// hands committed work not acknowledged off to the range's next active
/// partition at once, and a later acknowledgement does not count.
#[test]
fn a_commit_its_server_acknowledges_after_the_partition_was_demoted_is_handed_off() {
    use crate::journal::RecordKind;
    let mut c = ready();
    let t = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: flags::sen::ACCEPT, data: msg(5, "debit") });
    c.server_accept(1, t);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t), Some(Status::Ok))]);
    let got: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t)).map(|x| (x.0, x.1)).collect();
    assert_eq!(got.last(), Some(&(1, MsgType::Accepted)), "the server holds the commit: {got:?}");
    // Before the server acknowledges, be hears that a newer grant holds
    // the range.
    let now = c.now;
    c.node(BE).role_lost(now, &crate::authority::range_id("F", &range(0, 1000)), 1);
    c.pump();
    c.sync();
    // The server acknowledges (under the old grant: its database may have
    // refused the work). That does not finish t.
    c.ack(1, t);
    c.sync();
    let ended = |c: &Cluster| {
        c.journals[BE].iter().any(|r| r.tid == t && matches!(r.kind, RecordKind::Applied | RecordKind::Done))
    };
    assert!(!ended(&c), "t was handed off, not finished by the late acknowledgement");
    // The range's next active partition (be itself, claiming again here)
    // is given t, presented uncertain.
    c.advance(BE, backend::CLAIM_RETRY);
    c.sync();
    let got: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t)).map(|x| (x.0, x.1)).collect();
    assert_eq!(got, vec![(1, MsgType::Msg1Uncertain), (1, MsgType::Accepted)], "handed back to be");
    c.ack(1, t);
    c.sync();
    assert!(ended(&c), "finished once applied under the new grant");
}

/// Simulator seed 47830 (two routers: no outcome). tr1 committed t on
/// durable votes of be and be2; be made it durable, be2 died before the
/// outcome came. be2 started again with t in doubt and, linked to tr2
/// first, asked tr2, whose inquiry found the commit at be and told be2.
/// While be2 wrote that commit into its journal, its link to tr1 came up
/// and tr1 sent its outcome again (the commit still waited for be2's
/// `Durable`). be2 held t neither as a branch nor in doubt any more, had
/// no decision remembered yet (that comes once the record is durable), and
/// dropped the outcome without a word; its `Durable` went to tr2 only, and
/// tr1 and its client waited for ever. Now a commit of t that reaches the
/// node while its in-doubt copy's commit is being written is owed the
/// `Durable` that the written copy says.
#[test]
fn a_commit_reaching_a_node_while_its_in_doubt_copy_is_being_committed_hears_durable() {
    use crate::journal::RecordKind;
    let mut c = ready();
    c.open_upper_be2();
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.server_accept(1, tid);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    // Both votes durable; tr1 commits; be makes it durable, be2 dies first.
    c.sync_unpumped();
    c.pump_only(BE, TR1);
    c.pump_only(BE2, TR1);
    assert!(!c.take_wire(TR1, BE2).is_empty(), "the outcome to be2 is lost");
    c.kill(BE2);
    c.pump();
    c.sync();
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(tid)).map(|x| x.1).collect();
    assert!(heard.is_empty(), "tr1 waits for be2: {heard:?}");
    // be2 starts again, t in doubt in its journal, linked to tr2 only: it
    // asks tr2, whose inquiry hears "committed" from be and tells be2.
    // be2's commit record of t is on its way to disk (not synced yet).
    c.restart_unlinked_from(BE2, &[TR1]);
    let commits = |c: &Cluster| c.journals[BE2].iter().filter(|r| r.tid == tid && r.kind == RecordKind::Commit).count();
    assert_eq!(commits(&c), 1, "tr2's answer reached be2: its commit record of t is written");
    assert!(!c.syncs.is_empty(), "be2's commit of t is not durable yet");
    // Its link to tr1 comes up: tr1 sends its outcome again.
    c.relink(TR1, BE2);
    // The record is durable: be2 says so to both routers, and tr1's client
    // hears the commit.
    c.sync();
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(tid)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Accepted], "tr1's client hears the outcome");
}

/// Simulator seed 46000 (two routers: a disagreement). tr1 committed t1 on
/// be's vote (drive 0); its commit never reached be (frozen), so it was
/// durable nowhere. The frontend drove t1 again through tr2 (drive 1),
/// whose probe reached be2 first: be2 promised drive 1 in its own journal
/// and answered "unknown". be was lost, and be2 took its journal over (as
/// the standby of another range of be's), where t1 was undecided: presumed
/// aborted. Nothing else there was for be2 to finish, so it let the
/// journal go at once (`hold`: unless a commit of that other range was
/// still to be presented). tr2 asked be2 again, for be's journal: be2 had
/// promised drive 1 already, wrote nothing into be's journal, and answered
/// "unknown" for it. tr2 rejected t1 (its client's link went; the client
/// drove t1 again and heard the rejection). be started again on its
/// journal, which held no promise, and adopted tr1's commit of drive 0,
/// handed to it as a lost node's commit: its server applied what the
/// client heard rejected. Now a reader carries its promises into a journal
/// it takes over, and be refuses tr1's drive 0.
fn reader_promised_before_its_takeover(hold: bool) {
    use crate::journal::RecordKind;
    let mut c = ready();
    c.open_upper_be();
    c.req(BE2, SERVER, upper_server(1));
    assert_eq!(c.partition_states(BE2), vec![crate::protocol::admin::PartitionState::Standby]);
    c.take(BE2, SERVER);
    let t0 = c.tid();
    if hold {
        // t0 commits on be's upper range; be's server has not acknowledged
        // it, so be2, reading be's journal, presents it again and holds the
        // journal until its own server has.
        c.req(FE, CLIENT, Request::Send { chan: 1, tid: t0, flags: flags::sen::ACCEPT, data: msg(1500, "t0") });
        c.take(BE, SERVER);
        c.server_accept(2, t0);
        c.sync();
        c.take(BE, SERVER);
        assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t0), Some(Status::Ok))]);
    }
    // t1 on be's lower range (no standby there): its server votes yes, tr1
    // commits, and the commit is lost on its way to be (frozen).
    let t1 = c.t1_commit_lost_on_its_way_to_be();
    // The frontend drives t1 again through tr2 (drive 1), whose probe
    // reaches be2 only: be2 promises drive 1 in its own journal, and
    // answers.
    c.redrive_through_tr2_probing(&[BE2]);
    c.take_wire(TR2, BE);
    c.sync_unpumped();
    c.pump_only(BE2, TR2);
    let promises = |recs: &mut dyn Iterator<Item = &Record>| {
        recs.filter(|r| r.tid == t1 && r.kind == RecordKind::Drive)
            .map(|r| TxRecord::decode(r.kind, &r.payload).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(promises(&mut c.journals[BE2].iter()), vec![TxRecord::Drive { drive: 1 }]);
    // be is lost. be2 takes its journal over for the upper range (t1 is
    // presumed aborted there) and tr2 asks it again, for be's journal.
    c.kill(BE);
    assert_eq!(c.released.is_empty(), hold, "be2 lets be's journal go at once unless t0 holds it");
    c.sync();
    if hold {
        let s = c.take(BE2, SERVER);
        assert!(s.iter().any(|x| x.1 == MsgType::Accepted && x.2 == Some(t0)), "t0 presented at be2: {s:?}");
    }
    // The client's link to tr2 goes (tr2 rejects t1); it drives t1 again
    // through tr2 (drive 2) and hears the rejection.
    c.cut(FE, TR2);
    c.sync();
    c.relink(FE, TR2);
    c.sync();
    c.sync();
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    if hold {
        assert_eq!(heard, vec![MsgType::Rejected], "the client hears t1 rejected");
        // be2's server acknowledges t0: be2 lets be's journal go.
        c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t0 });
        c.sync();
    } else {
        // be2 let be's journal go at once and told the routers so
        // (`JournalLetGo`): tr2 takes its answer for its own journal only,
        // and waits for be itself (simulator seed 50189).
        assert!(heard.is_empty(), "tr2 waits for be: {heard:?}");
    }
    assert_eq!(c.released.len(), 1, "be2 let be's journal go");
    // be starts again on its journal (with what be2 wrote there), and its
    // lower range is active again; tr1 (which knows it over a new link)
    // hands it t1's commit of drive 0, as a lost node's commit.
    let written: Vec<Record> =
        c.adopted_records.iter().filter(|(n, _, _)| *n == BE2).map(|(_, _, r)| r.clone()).collect();
    c.journals[BE].extend(written);
    c.restart_unlinked_from(BE, &[TR1]);
    c.sync();
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    c.relink_anew(TR1, BE);
    c.sync();
    c.sync();
    let at_be: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    if hold {
        assert!(at_be.is_empty(), "be's server never sees t1, which its client heard rejected: {at_be:?}");
    } else {
        // be answered tr2's probe itself, and tr2 drove t1 on as new there.
        assert_eq!(at_be, vec![MsgType::Msg1, MsgType::Prepare], "be's server sees t1 as tr2's new work only");
    }
    assert!(c.journals[BE].iter().all(|r| r.tid != t1 || r.kind != RecordKind::Commit), "no commit of t1 at be");
    // be refused it: be2 had carried its promise of drive 1 into be's
    // journal when it took it over.
    let written = c.adopted_records.iter().filter(|(n, _, _)| *n == BE2).map(|(_, _, r)| r);
    assert!(promises(&mut written.into_iter()).contains(&TxRecord::Drive { drive: 1 }));
}

#[test]
fn a_readers_earlier_promise_goes_into_a_journal_it_takes_over_and_lets_go_at_once() {
    reader_promised_before_its_takeover(false);
}

#[test]
fn a_readers_earlier_promise_goes_into_a_journal_it_takes_over_and_holds() {
    reader_promised_before_its_takeover(true);
}

/// Simulator seed 44894 (one router: no outcome). t1 spans be (keys 1001
/// to 2000, whose grant is be's; no other node serves them) and be2 (keys
/// 2001 to 3000); both servers vote yes, durably, and tr1 is lost before
/// it decides. The frontend drives t1 again through tr2, which is cut off
/// from be: its probe waits for be. be is lost; be2, be's standby for keys
/// 0 to 1000, takes be's journal over (t1 in doubt there) and answers the
/// probe for it. Nobody committed t1, so tr2 goes on as new: it places
/// every message of t1 again, and holds the transaction until keys 1001
/// to 2000 have an active partition, which only be can give them. be2
/// kept its copy of be's share waiting for t1's outcome, and with it be's
/// journal: be could never start again (its journal was held), and t1
/// waited for ever. The copy is of work placed again: tr2 has be2 give it
/// back (nothing decided), and be2 lets be's journal go. be starts again,
/// its own copy is given back the same way, and t1 commits once.
#[test]
fn a_probe_going_on_as_new_gives_back_in_doubt_copies_and_frees_the_lost_nodes_journal() {
    let mut c = ready();
    let server = |chan, lo, hi| Request::Open {
        chan,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(lo, hi),
    };
    c.req(BE, SERVER, server(2, 1001, 2000));
    c.open_standby(0, false);
    c.req(BE2, SERVER, server(2, 2001, 3000));
    c.advance(BE2, backend::roles::START_DEFER);
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1500, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(2500, "credit") });
    let s: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| (x.0, x.1)).collect();
    assert_eq!(s, vec![(2, MsgType::Msg1), (2, MsgType::Prepare)]);
    let s: Vec<_> = c.take(BE2, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| (x.0, x.1)).collect();
    assert_eq!(s, vec![(2, MsgType::Msg1), (2, MsgType::Prepare)]);
    // Both vote yes (durably: t1 spans two nodes); tr2 is cut off from be,
    // and tr1 is lost before any vote reaches it.
    let now = c.now;
    for k in [BE, BE2] {
        c.node(k).handle_request(
            now,
            SERVER,
            Request::Accept { chan: 2, tid: t1, reason: 0, flags: 0, implicit: false },
        );
    }
    c.collect();
    c.cut(TR2, BE);
    c.kill(TR1);
    c.sync();
    assert!(c.take(FE, CLIENT).iter().all(|x| x.2 != Some(t1)), "t1 is driven again through tr2, probed");
    // be is lost; be2's standby takes its range and its journal over.
    c.kill(BE);
    for _ in 0..5 {
        c.advance(BE2, backend::CLAIM_RETRY);
    }
    c.sync();
    assert_eq!(c.partition_states(BE2), vec![crate::protocol::admin::PartitionState::Active; 2]);
    for _ in 0..2 {
        c.advance(BE2, backend::ORPHAN_GRACE);
        c.sync();
    }
    assert!(c.take(FE, CLIENT).iter().all(|x| x.2 != Some(t1)), "t1 waits for keys 1001 to 2000");
    // be cannot open its journal while be2 holds it.
    assert!(c.released.iter().any(|(k, _)| *k == BE2), "be2 lets be's journal go: {:?}", c.released);
    // be starts again on its journal; its server of keys 1001 to 2000
    // comes back, and tr2 places t1's work there.
    c.restart(BE);
    c.req(BE, SERVER, server(2, 1001, 2000));
    c.sync();
    let (applied, heard) = c.finish_on(BE, t1);
    assert!(applied, "be's server commits t1");
    assert_eq!(heard, vec![MsgType::Accepted], "the client hears once");
    let s: Vec<_> = c.take(BE2, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| (x.0, x.1)).collect();
    assert_eq!(s, vec![(2, MsgType::Accepted)], "be2's server hears the commit of its own branch once");
}

/// The limit of the rule above: a copy that may be of a branch the
/// transaction still has is not given back. t1 spans be (keys 0 to 1000)
/// and be2 (keys 1001 to 2000); tr1 is lost before the client accepts, and
/// tr2's probe goes on as new with both branches. Both vote yes; be's vote
/// is still on its way to tr2 when be's process ends and be2, its standby,
/// takes be's journal over (t1 in doubt there, this drive's vote) and asks
/// tr2 about t1 before tr2 sees be's link go. tr2 then commits on be's
/// vote, and its commit reaches be's share through be2, the journal's
/// reader. Given back on be2's question, the copy was gone, and keys 0 to
/// 1000 never applied t1 (simulator seed 44323, one router, with the
/// first version of the rule).
#[test]
fn an_in_doubt_copy_of_a_branch_the_router_still_has_is_not_given_back() {
    let mut c = ready();
    c.open_upper_be2();
    let lower = Request::Open {
        chan: 2,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(0, 1000),
    };
    c.req(BE2, SERVER, lower);
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(1500, "credit") });
    c.kill(TR1);
    c.sync();
    c.req(FE, CLIENT, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    for (chan, ty, tid, _) in c.take(BE2, SERVER) {
        if tid == Some(t1) && ty == MsgType::Prepare {
            c.req(BE2, SERVER, Request::Accept { chan, tid: t1, reason: 0, flags: 0, implicit: false });
        }
    }
    c.sync();
    assert!(c.take(BE, SERVER).iter().any(|x| x.1 == MsgType::Prepare && x.2 == Some(t1)));
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.collect();
    c.sync_unpumped();
    c.collect();
    let vote = c.take_wire(BE, TR2);
    assert!(
        vote.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Vote { tid, durable: true, .. }) if *tid == t1)),
        "{vote:?}"
    );
    // be's process ends; tr2 does not see its link go yet. be2 takes be's
    // range and journal over, and asks tr2 about t1.
    c.nodes[BE] = None;
    c.auth[BE] = None;
    c.authority.process_ended(NAMES[BE]);
    c.wire.retain(|(f, t, _)| *f != BE && *t != BE);
    c.syncs.retain(|(i, _)| *i != BE);
    let now = c.now;
    for i in [FE, BE2] {
        c.node(i).link_down(now, peer_ref(BE));
    }
    c.pump();
    for _ in 0..5 {
        c.advance(BE2, backend::CLAIM_RETRY);
    }
    c.sync();
    c.advance(BE2, backend::ORPHAN_GRACE);
    c.sync();
    assert!(c.take(FE, CLIENT).iter().all(|x| x.2 != Some(t1)), "not decided yet");
    // be's vote reaches tr2, which commits; then tr2 sees be's link go.
    for m in vote {
        c.node(TR2).peer_input(now, peer_ref(BE), m);
    }
    c.pump();
    c.sync();
    let now = c.now;
    c.node(TR2).link_down(now, peer_ref(BE));
    c.pump();
    c.sync();
    let mut lower_got = Vec::new();
    for (chan, ty, tid, _) in c.take(BE2, SERVER) {
        if tid == Some(t1) {
            if chan == 2 {
                lower_got.push(ty);
            }
            if ty == MsgType::Accepted {
                c.req(BE2, SERVER, Request::Ack { chan, tid: t1 });
            }
        }
    }
    c.sync();
    assert_eq!(lower_got.last(), Some(&MsgType::Accepted), "be's share is applied on be2: {lower_got:?}");
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Accepted]);
}

/// Simulator seed 50189 (two routers: a disagreement). tr2 committed t1
/// (drive 1) on be1's vote, and be1's disk failed before the commit was
/// durable: the commit was durable nowhere. be3 took be1's journal over,
/// where t1 was undecided (presumed aborted), found nothing there for it
/// to finish, and let the journal go (it told nobody). The frontend drove
/// t1 again through tr1 (drive 2), whose probe asked be3 in be1's place:
/// be3 promised drive 2 in its own journal only (be1's was no longer its)
/// and answered "unknown", and tr1 rejected t1. be1 started again on its
/// journal, which held no promise of drive 2, and adopted tr2's commit of
/// drive 1, handed to it as a lost node's commit: its server heard
/// "accepted" of what the client heard rejected. Here tr1 is the earlier
/// drive's router (drive 0), tr2 the later one's, be the lost node and be2
/// its reader. Now a reader tells the routers when it lets a journal go
/// (`JournalLetGo`), and a probe waits for be itself: be, started again,
/// answers it (promising the later drive in its own journal) and refuses
/// tr1's commit.
#[test]
fn a_reader_that_let_a_journal_go_no_longer_answers_a_probe_for_it() {
    use crate::journal::RecordKind;
    let mut c = ready();
    c.open_upper_be();
    c.req(BE2, SERVER, upper_server(1));
    assert_eq!(c.partition_states(BE2), vec![crate::protocol::admin::PartitionState::Standby]);
    c.take(BE2, SERVER);
    // t1 on be's lower range (no standby there): its server votes yes, tr1
    // commits (drive 0), and the commit is lost on its way to be.
    let t1 = c.t1_commit_lost_on_its_way_to_be();
    // be is lost. be2 takes its journal over for the upper range: t1 is
    // presumed aborted there, nothing there is be2's to finish, and be2
    // lets the journal go at once.
    c.kill(BE);
    assert_eq!(c.released.len(), 1, "be2 let be's journal go");
    c.sync();
    // The frontend drives t1 again through tr2 (drive 1); be is not
    // linked, and be2 read its journal. Then the client's link to tr2 goes
    // and comes back, and it drives t1 again there (drive 2).
    c.redrive_through_tr2_probing(&[BE2]);
    c.sync();
    c.cut(FE, TR2);
    c.sync();
    c.relink(FE, TR2);
    c.sync();
    c.sync();
    let promises = |recs: &mut dyn Iterator<Item = &Record>| {
        recs.filter(|r| r.tid == t1 && r.kind == RecordKind::Drive)
            .map(|r| TxRecord::decode(r.kind, &r.payload).unwrap())
            .collect::<Vec<_>>()
    };
    let written = c.adopted_records.iter().filter(|(n, _, _)| *n == BE2).map(|(_, _, r)| r);
    assert!(promises(&mut written.into_iter()).is_empty(), "no promise of t1 reached be's journal");
    // be2's answer stands for its own journal only: tr2 waits for be.
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert!(heard.is_empty(), "t1 is not decided on be2's answer for the journal it let go: {heard:?}");
    // be starts again on its journal (with what be2 wrote there), linked to
    // tr2 only, and its lower range is active again; then tr1 (which knows
    // it over a new link) hands it t1's commit of drive 0, as a lost
    // node's commit.
    let written: Vec<Record> =
        c.adopted_records.iter().filter(|(n, _, _)| *n == BE2).map(|(_, _, r)| r.clone()).collect();
    c.journals[BE].extend(written);
    c.restart_unlinked_from(BE, &[TR1]);
    c.sync();
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    c.relink_anew(TR1, BE);
    c.sync();
    c.sync();
    // be answered tr2's probe itself, promising the later drive in its
    // journal, and refused tr1's commit of drive 0.
    assert!(promises(&mut c.journals[BE].iter()).iter().any(|p| matches!(p, TxRecord::Drive { drive } if *drive > 0)));
    assert!(c.journals[BE].iter().all(|r| r.tid != t1 || r.kind != RecordKind::Commit), "no commit of t1 at be");
    let at_be: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert!(!at_be.contains(&MsgType::Accepted), "be's server hears no commit of t1 from tr1: {at_be:?}");
    // tr2 drives t1 on as new at be: the server's vote decides it, and the
    // client and the server hear the same outcome.
    if at_be.contains(&MsgType::Msg1) {
        c.server_accept(1, t1);
        c.sync();
        let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
        assert_eq!(heard, vec![MsgType::Accepted], "the client hears t1 accepted");
        let at_be: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
        assert_eq!(at_be, vec![MsgType::Accepted], "be's server hears it accepted");
    }
}

/// Simulator seed 50514 (one router): be2 took over be's journal for the
/// range's grant 2, and still held it (in name: work of it was left
/// there) when be started again on that journal (in the simulator a third
/// node took it from be2, which hears of that only at its next write
/// there, and let it go; the harness keeps no journal locks) and won grant
/// 3 once be2 gave grant 2 up. The routers then lost be, and be2 forced a
/// claim over grant 3: it went active at once, the journal it had read
/// taken for the fence, while be, alive and unfenced, was still active
/// under grant 3: two actives for one range. A journal read before its
/// node won a grant does not fence that grant: be2 takes the journal over
/// again (giving up its old read first) before it goes active.
#[test]
fn a_journal_read_before_its_node_started_again_does_not_fence_the_nodes_newer_grant() {
    use crate::protocol::admin::PartitionState as P;
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    // t1 commits on be; its server never acknowledges the commit.
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.server_accept(1, t1);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    // be dies: be2 wins grant 2 and reads be's journal, where t1 is open.
    c.kill(BE);
    assert_eq!(c.partition_states(BE2), vec![P::Active]);
    let got = c.take(BE2, SERVER);
    assert!(got.iter().any(|x| x.1 == MsgType::Accepted && x.2 == Some(t1)), "{got:?}");
    // be2's server leaves (t1 unacknowledged): grant 2 is given up, t1
    // handed off through the routers; be2 then loses both routers.
    c.req(BE2, SERVER, Request::Close { chan: 1 });
    c.cut(BE2, TR1);
    c.cut(BE2, TR2);
    // be starts again on its journal and wins grant 3.
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    assert_eq!(c.partition_states(BE), vec![P::Active]);
    // be2's server comes back: standby of be's grant 3.
    c.open_standby(0, false);
    assert_eq!(c.partition_states(BE2), vec![P::Standby]);
    assert!(c.released.is_empty(), "be2 still holds be's journal (in name): {:?}", c.released);
    // Both routers lose be (alive, active under grant 3) and tell be2.
    c.cut(BE, TR1);
    c.cut(BE, TR2);
    c.relink(BE2, TR1);
    c.relink(BE2, TR2);
    // be2, second in the list, forces its claim after one claim period
    // (grant 4): it takes be's journal over again, which fences be, and is
    // not active before that.
    c.defer_takeovers = Some(Vec::new());
    c.advance(BE2, backend::roles::CLAIM_RETRY);
    c.pump();
    assert_eq!(c.partition_states(BE), vec![P::Active]);
    assert_eq!(c.partition_states(BE2), vec![P::Recovering], "two actives: be's grant 3 was not fenced");
    let asked: Vec<(usize, String)> =
        c.defer_takeovers.iter().flatten().map(|(i, node, _)| (*i, node.clone())).collect();
    assert_eq!(asked, vec![(BE2, "be".to_string())]);
    assert_eq!(c.released, vec![(BE2, 1)], "the old read is given up first");
    c.finish_takeovers(None);
    assert_eq!(c.partition_states(BE2), vec![P::Active]);
}

/// A reader that restarted no longer stands in for the lost node whose
/// journal it read: its answer to the copy's outcome is not the commit's.
/// t1 debits keys 0 to 1000 on be and credits keys 1001 to 2000 on be2;
/// both vote yes (durably) and tr1, the only router, commits. Neither
/// outcome arrives: be2 is lost, and be is cut off from tr1. be3, be2's
/// standby, takes be2's range and journal over (t1 in doubt there) and is
/// told the commit as the stand-in for be2's branch, but is lost before
/// the copy's commit record is durable. It starts again on its own
/// journal, which holds nothing of t1, and answers the outcome tr1 sends
/// it again "nothing of it here" (`CommitFailed`). tr1 took that for the
/// commit's failure: when be2 started again on its journal (t1 in doubt
/// there) nothing told it the commit, and its question was answered
/// "rolled back", while be, linked again, applied its share (simulator
/// seed 52403, one router: applied on one range only). Now the restarted
/// be3's stand-in is given up, and the wait moves on to be2, which
/// commits.
#[test]
fn a_reader_restarted_since_it_stood_in_for_a_lost_nodes_branch_does_not_fail_the_commit() {
    let mut c = Cluster::with_be3();
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.open_client(1);
    c.take(BE, SERVER);
    c.take(FE, CLIENT);
    c.kill(TR2);
    c.open_upper_be2();
    let standby_upper = Request::Open {
        chan: 1,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT,
        range: range(1001, 2000),
    };
    c.req(BE3, SERVER, standby_upper);
    c.advance(BE3, backend::roles::START_DEFER * 2);
    assert_eq!(c.partition_states(BE3), vec![crate::protocol::admin::PartitionState::Standby]);
    c.take(BE3, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    c.server_accept(1, t1);
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    // Both votes durable; tr1 commits; neither outcome arrives.
    c.sync_unpumped();
    c.pump_only(BE, TR1);
    c.pump_only(BE2, TR1);
    assert!(!c.take_wire(TR1, BE).is_empty(), "the outcome to be was on its way");
    assert!(!c.take_wire(TR1, BE2).is_empty(), "the outcome to be2 was on its way");
    c.cut(TR1, BE);
    c.kill(BE2);
    // be3 takes be2's range and journal over, and hears the commit for the
    // copy; it is lost before that commit record is durable.
    for _ in 0..5 {
        c.advance(BE3, backend::CLAIM_RETRY);
    }
    assert_eq!(c.partition_states(BE3), vec![crate::protocol::admin::PartitionState::Active]);
    assert!(c.adopted_writes.iter().any(|(n, j, _)| *n == BE3 && *j != 0), "be3 writes the copy's commit");
    c.kill(BE3);
    // be3 starts again on its own journal (nothing of t1 there, and no
    // server: it takes nothing over again).
    c.restart(BE3);
    c.sync();
    // be2 starts again on its journal: t1 in doubt there.
    c.restart(BE2);
    c.sync();
    let records: Vec<RecordKind> = c.journals[BE2].iter().filter(|r| r.tid == t1).map(|r| r.kind).collect();
    assert!(records.contains(&RecordKind::Commit), "be2 commits its branch of t1: {records:?}");
    assert!(!records.contains(&RecordKind::Abort), "be2 does not roll t1 back: {records:?}");
    // be links to tr1 again and commits its branch.
    c.relink(TR1, BE);
    c.sync();
    let at_be: Vec<MsgType> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(at_be.last(), Some(&MsgType::Accepted), "{at_be:?}");
}

/// Simulator seed 52777 (one router: accepted, one range never applied
/// it). t1 spans be (keys 0 to 1000) and be2 (keys 1001 to 2000); be's
/// server votes yes, durably (two nodes). be2 is lost before it votes; be,
/// its standby for keys 1001 to 2000, takes the range, and tr1 drives t1's
/// work there from its first message. Now t1 is on one node, and be's
/// server of keys 1001 to 2000 votes yes, not durably. tr1 commits; be
/// loses power before its commit record (or that branch's message) is on
/// disk. be starts again on its journal: its first branch is in doubt
/// there, nothing of the second is. tr1 sees be's new link first and sends
/// it the commit again, as to a node that only linked again; be's report
/// of its journal (its new life: the commit is not in it) came after and
/// found nothing waiting on a lost link. be committed its in-doubt copy
/// and said `Durable`, which tr1 took for both branches: the client heard
/// "accepted", and keys 1001 to 2000 never applied t1. The report of a
/// restarted node settles the commits its new link took over as for any
/// lost node's read journal: the branch whose vote was not durable goes to
/// a keeper, here be again.
#[test]
fn a_commit_sent_again_to_a_restarted_node_before_its_journal_report_still_places_its_lost_branch() {
    let mut c = ready();
    c.open_upper_be2();
    c.open_upper_be();
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "debit") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1500, "credit") });
    let s: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| (x.0, x.1)).collect();
    assert_eq!(s, vec![(1, MsgType::Msg1), (1, MsgType::Prepare)]);
    // be's vote is durable (t1 spans two nodes); be2 is lost before it votes.
    c.server_accept(1, t1);
    c.sync();
    let on_disk = c.journals[BE].len();
    c.kill(BE2);
    for _ in 0..5 {
        c.advance(BE, CLAIM_RETRY);
    }
    c.sync();
    // be took keys 1001 to 2000 over, and tr1 drove t1's work there: its
    // vote is not durable (t1 is on one node now).
    let s: Vec<_> = c.take(BE, SERVER).into_iter().filter(|x| x.2 == Some(t1)).map(|x| (x.0, x.1)).collect();
    assert_eq!(s, vec![(2, MsgType::Msg1), (2, MsgType::Prepare)]);
    let now = c.now;
    c.node(BE).handle_request(now, SERVER, Request::Accept { chan: 2, tid: t1, reason: 0, flags: 0, implicit: false });
    c.pump();
    assert!(c.take(FE, CLIENT).iter().all(|x| x.2 != Some(t1)), "the client waits for be's commit record");
    // be loses power: nothing written since the durable vote is on disk.
    c.kill(BE);
    c.journals[BE].truncate(on_disk);
    // be starts again on its journal, its servers open, and it links to
    // tr1 anew (tr1 sees the link before be's report of its journal).
    c.restart_unlinked_from(BE, &[TR1, TR2]);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.open_upper_be();
    c.take(BE, SERVER);
    for _ in 0..5 {
        c.advance(BE, CLAIM_RETRY);
    }
    c.sync();
    assert_eq!(c.partition_states(BE), vec![crate::protocol::admin::PartitionState::Active; 2]);
    c.relink_anew(TR1, BE);
    c.sync();
    let mut got: Vec<(ChanId, MsgType)> = Vec::new();
    for _ in 0..3 {
        for (chan, ty, tid, _) in c.take(BE, SERVER) {
            if tid == Some(t1) {
                got.push((chan, ty));
                if ty == MsgType::Accepted {
                    c.req(BE, SERVER, Request::Ack { chan, tid: t1 });
                }
            }
        }
        c.sync();
    }
    let on = |chan: ChanId| got.iter().filter(|x| x.0 == chan).map(|x| x.1).collect::<Vec<_>>();
    assert_eq!(on(1), vec![MsgType::Msg1Uncertain, MsgType::Accepted], "keys 0 to 1000 apply t1: {got:?}");
    assert_eq!(on(2), vec![MsgType::Msg1Uncertain, MsgType::Accepted], "keys 1001 to 2000 apply t1: {got:?}");
    let heard: Vec<MsgType> = c.take(FE, CLIENT).into_iter().filter(|x| x.2 == Some(t1)).map(|x| x.1).collect();
    assert_eq!(heard, vec![MsgType::Accepted]);
}

/// Backends sharing no storage (etcd grants, recovery unrecognized): be
/// is lost while tr1's commit of t1 is on its way (`written`: be wrote it
/// before it died, its `Durable` lost), be2 cannot read be's journal and
/// goes active without it once be's grant is gone, and be starts again on
/// its journal, then its server. The client hears an outcome.
fn lost_commit_with_no_shared_journal(written: bool) -> (Cluster, Tid) {
    let mut c = ready();
    c.node(BE2).set_recovery_policy(RecoveryPolicy { unrecognized: true, wait: Duration::from_secs(30) });
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    c.defer_takeovers = Some(Vec::new());
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "one") });
    c.take(BE, SERVER);
    let now = c.now;
    let vote = Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false };
    c.node(BE).handle_request(now, SERVER, vote);
    c.pump_only(BE, TR1);
    if written {
        // be gets the commit and writes it; its `Durable` never leaves.
        c.pump_only(TR1, BE);
        c.sync_unpumped();
        c.collect();
        c.wire.retain(|(f, _, _)| *f != BE);
    } else {
        assert!(!c.take_wire(TR1, BE).is_empty(), "the outcome was on its way");
    }
    c.kill(BE);
    c.finish_takeovers(Some("this node has no shared journal directory"));
    c.pump();
    (c, t1)
}

#[test]
fn no_shared_journal_a_commit_lost_before_it_was_written_ends_once_the_node_restarts() {
    use crate::journal::RecordKind;
    let (mut c, t1) = lost_commit_with_no_shared_journal(false);
    assert!(!c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Commit));
    c.restart(BE);
    c.sync();
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    let out = c.take(FE, CLIENT);
    assert!(out.iter().any(|x| x.2 == Some(t1) && matches!(x.1, MsgType::Accepted | MsgType::Rejected)), "{out:?}");
    assert_eq!(c.node(TR1).stats().active_tx, 0);
}

#[test]
fn no_shared_journal_a_commit_written_before_its_node_died_ends_once_the_node_restarts() {
    use crate::journal::RecordKind;
    let (mut c, t1) = lost_commit_with_no_shared_journal(true);
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Commit));
    c.restart(BE);
    c.sync();
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    let out = c.take(FE, CLIENT);
    assert_eq!(out, vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
}

impl Cluster {
    /// t1 on be's lower range: its server votes yes (the vote synced), tr1
    /// commits under drive 0, and the commit is lost on its way to be.
    fn t1_commit_lost_on_its_way_to_be(&mut self) -> Tid {
        let t1 = self.tid();
        self.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(5, "t1") });
        self.take(BE, SERVER);
        let now = self.now;
        let vote = Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false };
        self.node(BE).handle_request(now, SERVER, vote);
        self.sync_unpumped();
        self.pump_only(BE, TR1);
        let lost = self.take_wire(TR1, BE);
        assert!(
            lost.iter().any(
                |m| matches!(m, Internal::Be(ToBackend::Outcome { tid, accepted: true, drive: 0, .. }) if *tid == t1)
            ),
            "tr1's commit of t1 is lost: {lost:?}"
        );
        t1
    }
}

/// Simulator seeds 3047, 3353 and 3655 (no shared storage, recovery
/// unrecognized, one router): t1 spans be (keys 0 to 1000) and be2 (keys
/// 1001 to 2000). be votes yes durably and dies before its vote reaches
/// tr1; be2, be's standby, cannot read be's journal and goes active
/// without it, and tr1 places be's work again there. t1 commits at be2
/// alone. tr1 then starts again (what it placed again is forgotten), and
/// be starts again on its journal, in doubt of its copy of t1's work.
/// Asked, the restarted tr1 hears "committed" from be2, naming the work
/// it applied, which is the copy's: the copy is given back, not
/// committed (committed, be handed it on to be2, which applied it twice).
#[test]
fn work_placed_again_before_its_router_restarted_is_given_back_by_the_work_another_node_applied() {
    use crate::journal::RecordKind;
    let mut c = ready();
    c.kill(TR2);
    c.node(BE2).set_recovery_policy(RecoveryPolicy { unrecognized: true, wait: Duration::from_secs(30) });
    c.be2_upper_and_standby();
    c.defer_takeovers = Some(Vec::new());
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: 0, data: msg(5, "low") });
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(1500, "high") });
    c.take(BE, SERVER);
    c.take(BE2, SERVER);
    c.req(BE2, SERVER, Request::Accept { chan: 2, tid: t1, reason: 0, flags: 0, implicit: false });
    c.server_accept(1, t1);
    // be's durable vote is written; its `Vote` dies with it.
    c.sync_unpumped();
    c.collect();
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Vote));
    c.kill(BE);
    c.sync();
    c.finish_takeovers(Some("this node has no shared journal directory"));
    c.sync();
    // be's work is placed again on be2, now active for keys 0 to 1000.
    let placed = c.take(BE2, SERVER);
    assert!(placed.iter().any(|x| x.0 == 1 && x.2 == Some(t1) && x.1 == MsgType::Msg1), "{placed:?}");
    c.req(BE2, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.sync();
    let applied = c.take(BE2, SERVER);
    for chan in [1, 2] {
        let n = applied.iter().filter(|x| x.0 == chan && x.2 == Some(t1) && x.1 == MsgType::Accepted).count();
        assert_eq!(n, 1, "be2's chan {chan} applies t1: {applied:?}");
        c.req(BE2, SERVER, Request::Ack { chan, tid: t1 });
    }
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    c.flush_batches();
    // tr1 starts again, then be, in doubt of its copy of t1's work.
    c.kill(TR1);
    c.restart(TR1);
    c.restart(BE);
    c.sync();
    c.advance(BE, crate::node::backend::ORPHAN_GRACE);
    c.sync();
    assert!(
        !c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Commit),
        "be's copy of work applied at be2 is not committed"
    );
    assert!(c.journals[BE].iter().any(|r| r.tid == t1 && r.kind == RecordKind::Done), "the copy is closed");
    let again = c.take(BE2, SERVER);
    assert!(!again.iter().any(|x| x.2 == Some(t1)), "be2 applies t1 once: {again:?}");
}

/// Simulator seed 6913 (two routers, no shared storage, recovery
/// unrecognized). be's branch of t1 voted yes durably; its vote was lost
/// with its link to tr1 (be lived on), and tr1 placed the work again on
/// the range's next active partition. The orphan, past its grace, asked
/// tr2, whose inquiry took the branch over (it only asks). Linked again,
/// tr1 gave back what it had placed again (`OWN_REPLACED_WORK`), and be
/// kept the branch: it was no longer orphaned. tr1 then placed another of
/// t1's branches on be and committed it there, and be, asked again by tr2,
/// answered "committed" and committed the kept branch with it: its range
/// applied the work a second time. A branch another router only asked
/// about is given back as an orphan is.
#[test]
fn work_placed_again_is_given_back_though_another_router_asked_about_its_orphan() {
    let mut c = ready();
    let t1 = c.voted_at_be_uncarried();
    c.sync_unpumped();
    c.collect();
    assert!(!c.take_wire(BE, TR1).is_empty(), "be's vote is lost");
    // be sees tr1's link go (tr1 never hears from be again meanwhile).
    let now = c.now;
    c.node(BE).link_down(now, peer_ref(TR1));
    c.collect();
    c.take(BE, SERVER);
    // tr2 asks about the orphan: it takes the branch over, in doubt.
    c.node(BE).peer_input(
        now,
        peer_ref(TR2),
        Internal::Be(ToBackend::Inquire { tid: t1, facility: "F".into(), drive: 0, binds: 0 }),
    );
    c.collect();
    let heard = c.take_wire(BE, TR2);
    assert!(
        heard.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Inquired { tid, state: TxState::InDoubt, parts, .. })
            if *tid == t1 && !parts.is_empty())),
        "{heard:?}"
    );
    // be links to tr1 again; tr1 gives back the work it placed again.
    let info = c.peer_info(BE, TR1);
    c.node(BE).link_up(now, peer_ref(TR1), info);
    c.collect();
    c.take_wire(BE, TR1);
    let give_back = ToBackend::GiveBack { tid: t1, part: OWN_REPLACED_WORK, drive: 0 };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(give_back));
    c.collect();
    assert!(c.node(BE).be.branches.keys().all(|(t, _)| *t != t1), "be's branch of t1 is given back");
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.3)).collect::<Vec<_>>(), vec![(MsgType::Rejected, Some(Status::Dlktxres))]);
}

/// Simulator seed 9975 (two routers, backends sharing no storage): tr2
/// resolved be's orphan by asking every node; be2, the range's new active,
/// knew nothing of the tid and answered "unknown"; tr1, cut off from be,
/// then placed be's work on be2 and committed it there, while tr2's
/// rollback reached be: be's servers heard "rejected", be2's "accepted". An
/// inquiry's "unknown" now binds the node that gives it (docs/
/// inquiry-binding.md): durably before the answer, it starts no branch of
/// the drive the inquiry names, or an earlier one, and the router that
/// places such work hears the branch failed, with the rollback's status. A
/// later drive is not bound.
#[test]
fn a_node_that_answered_an_inquiry_unknown_starts_no_branch_of_that_drive_after_a_restart_too() {
    let mut c = ready();
    let t = c.tid();
    let part = c.node(BE).show_partitions().0[0].id;
    let ask = ToBackend::Inquire { tid: t, facility: "F".into(), drive: 0, binds: 0 };
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR2), Internal::Be(ask));
    c.collect();
    let unknown =
        |m: &Internal| matches!(m, Internal::Tr(ToRouter::Inquired { tid, state: TxState::Unknown, .. }) if *tid == t);
    assert!(!c.take_wire(BE, TR2).iter().any(unknown), "answered before the binding is durable");
    let bound: Vec<&Record> =
        c.journals[BE].iter().filter(|r| r.tid == t && r.kind == crate::journal::RecordKind::Bound).collect();
    assert_eq!(bound.len(), 1, "{:?}", c.journals[BE]);
    c.sync_unpumped();
    c.collect();
    assert!(c.take_wire(BE, TR2).iter().any(unknown), "answered once the binding is durable");
    // A second round's question finds the binding made: answered at once.
    let again = ToBackend::Inquire { tid: t, facility: "F".into(), drive: 0, binds: 0 };
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR2), Internal::Be(again));
    c.collect();
    assert!(c.take_wire(BE, TR2).iter().any(unknown));
    assert_eq!(c.journals[BE].iter().filter(|r| r.tid == t && r.kind == crate::journal::RecordKind::Bound).count(), 1);
    // tr1, cut off from the asker, places its work here: refused.
    let place = |part: PartId, drive: u32| ToBackend::Msg {
        tid: t,
        part,
        index: 0,
        data: msg(5, "placed again"),
        first: false,
        flags: flags::sen::ACCEPT,
        drive,
    };
    let refused = |c: &mut Cluster| {
        c.take_wire(BE, TR1).iter().any(|m| {
            matches!(m, Internal::Tr(ToRouter::BranchFailed { tid, status: Status::Routerunavailtmo, .. }) if *tid == t)
        })
    };
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(place(part, 0)));
    c.collect();
    assert!(refused(&mut c), "the branch is refused");
    assert!(c.take(BE, SERVER).is_empty(), "nothing presented");
    // be starts again on its journal: still bound.
    c.kill(BE);
    c.restart(BE);
    c.open_server(1, flags::ope::EXPLICIT_ACCEPT);
    c.sync();
    c.take(BE, SERVER);
    c.wire.clear();
    let part = c.node(BE).show_partitions().0[0].id;
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(place(part, 0)));
    c.collect();
    assert!(refused(&mut c), "refused after the restart too");
    assert!(c.take(BE, SERVER).is_empty(), "nothing presented after the restart");
    // A later drive is not bound: its probe decides.
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR2), Internal::Be(place(part, 1)));
    c.collect();
    // (Its promise to drive 1 is made durable first.)
    c.sync_unpumped();
    c.collect();
    assert!(!refused(&mut c));
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1], "{s:?}");
}

impl Cluster {
    /// A shadow server (channel 1, keys 0 to 1000, subscribed to RTR
    /// events) on node `k`, at site `site` (`None`: the node's own name).
    fn open_shadow(&mut self, k: usize, site: Option<&str>) {
        self.node(k).set_site(site).expect("a valid site");
        let sub = Request::Subscribe {
            chan: 1,
            recipient: String::new(),
            events: vec![(crate::events::RTRBASE, crate::events::RTRBASE + 100)],
        };
        let now = self.now;
        self.node(k).handle_request(now, SERVER, sub);
        let open = Request::Open {
            chan: 1,
            role: Role::Server,
            facility: "F".into(),
            flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT | flags::ope::SHADOW,
            range: range(0, 1000),
        };
        self.req(k, SERVER, open);
        let opened = |d: &(usize, ConnId, Delivery)| d.0 == k && d.2.msgtype == MsgType::Opened;
        assert!(self.delivered.iter().any(opened), "the shadow server is open");
        self.delivered.retain(|d| !opened(d));
        // Nodes after the first in the facility's order defer their first
        // claim (`START_DEFER`).
        self.advance(k, backend::roles::START_DEFER * 3);
    }

    /// A client (chan 1) at the frontend and shadow servers at be and be2,
    /// each its own site: be the primary, be2 the secondary.
    fn shadow_pair() -> Cluster {
        let mut c = Cluster::new();
        c.open_client(1);
        c.take(FE, CLIENT);
        c.open_shadow(BE, None);
        c.open_shadow(BE2, None);
        c
    }

    /// A new transaction of one message (key `key`) that be's server
    /// accepts, every write made durable; with what be2's server got
    /// since the last look (a secondary there: the transaction's `Msg1`).
    fn primary_voted(&mut self, key: u32) -> (Tid, Vec<Seen>) {
        let t = self.tid();
        self.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: flags::sen::ACCEPT, data: msg(key, "pay") });
        self.server_accept(1, t);
        self.sync();
        (t, self.take(BE2, SERVER))
    }

    /// The other site's first log entry (1.1) of range partition `part`,
    /// `tid` with message `data`, reaches node `k` through tr1 (not pumped).
    fn first_entry_at(&mut self, k: usize, part: PartId, tid: Tid, data: Bytes, resent: bool) {
        let entry = ShadowEntry { pos: (1, 1), prev: (0, 0), tid, msgs: vec![data], reason: 0, resent };
        let now = self.now;
        let log = ToBackend::ShadowLog { part, entries: vec![entry], released: (0, 0) };
        self.node(k).peer_input(now, peer_ref(TR1), Internal::Be(log));
    }

    /// tr1's `Msg` (`data`, send flags `fl`) and durable `VoteRequest` of
    /// `tid`'s branch in partition `part` reach node `k`, late (not pumped).
    fn stale_branch_at(&mut self, k: usize, part: PartId, tid: Tid, data: Bytes, fl: u32) {
        let now = self.now;
        let m = ToBackend::Msg { tid, part, index: 0, data, first: true, flags: fl, drive: 0 };
        self.node(k).peer_input(now, peer_ref(TR1), Internal::Be(m));
        let vr = ToBackend::VoteRequest { tid, part, durable: true, drive: 0 };
        self.node(k).peer_input(now, peer_ref(TR1), Internal::Be(vr));
    }

    /// A stale branch of a transaction its router forgot (simulator seed
    /// 1964's shape) at the shadow pair's secondary, be2: tr1's `Msg` and
    /// durable `VoteRequest`, presented to be2's server. Returns its
    /// partition, tid and message.
    fn stale_branch_presented(&mut self) -> (PartId, Tid, Bytes) {
        let part = self.node(BE2).show_partitions().0[0].id;
        let t = Tid { node: 9, incarnation: 1, conn: 1, seq: 1 };
        let data = msg(5, "pay");
        self.stale_branch_at(BE2, part, t, data.clone(), 0);
        self.pump();
        let s = self.take(BE2, SERVER);
        assert!(s.iter().any(|x| x.1 == MsgType::Msg1 && x.2 == Some(t)), "the live branch is presented: {s:?}");
        (part, t, data)
    }

    /// Server chan 1 at node `k` replies `text` to `tid`.
    fn reply_at(&mut self, k: usize, tid: Tid, text: &str) {
        let data = Bytes::from(text.as_bytes().to_vec());
        self.req(k, SERVER, Request::Reply { chan: 1, tid, data, flags: 0 });
    }

    /// Server chan 1 at node `k` accepts `tid`; every write is made durable.
    fn accept_at(&mut self, k: usize, tid: Tid) {
        let now = self.now;
        self.node(k).handle_request(
            now,
            SERVER,
            Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false },
        );
        self.pump();
        self.settle();
    }

    /// The RTR events node `k`'s server channels got since the last look.
    fn events_at(&mut self, k: usize) -> Vec<i32> {
        let mut evs = Vec::new();
        let (mine, rest): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.delivered).into_iter().partition(|d| d.0 == k && d.2.msgtype == MsgType::RtrEvent);
        self.delivered = rest;
        evs.extend(mine.into_iter().map(|(_, _, d)| d.evtnum));
        evs
    }
}

/// Shadow servers of one key range on two sites (docs/shadow.md, stage 1):
/// the first site active for the range is its primary, the other its
/// secondary; each hears its role (SRPRIMARY, SRSECONDARY), the primary
/// hears when its secondary is up (SRSHADOWGAIN: `pri_act`, else
/// `remember`), and the routers route the range's transactions to the
/// primary. When the primary's node is lost, the secondary takes the
/// primary grant and goes on alone, remembering.
#[test]
fn shadow_servers_on_two_sites_are_a_primary_and_a_secondary() {
    use crate::protocol::admin::PartitionState as P;
    let mut c = Cluster::new();
    c.open_client(1);
    c.take(FE, CLIENT);
    c.open_shadow(BE, None);
    assert_eq!(c.partition_states(BE), vec![P::Remember], "primary, alone");
    assert_eq!(c.events_at(BE), vec![crate::events::SRRECOVERCMPL, crate::events::SRPRIMARY]);
    c.open_shadow(BE2, None);
    assert_eq!(c.partition_states(BE2), vec![P::Secondary]);
    assert_eq!(c.partition_states(BE), vec![P::Primary], "its secondary is up");
    assert_eq!(c.events_at(BE2), vec![crate::events::SRRECOVERCMPL, crate::events::SRSECONDARY]);
    assert_eq!(c.events_at(BE), vec![crate::events::SRSHADOWGAIN]);
    // The range's transactions go to the primary, then, once it voted
    // yes, to the secondary; they commit on both.
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Prepare], "{s:?}");
    assert!(c.take(BE2, SERVER).iter().all(|x| x.2 != Some(tid)), "nothing at the secondary before the primary votes");
    c.server_accept(1, tid);
    c.sync();
    let s2 = c.take(BE2, SERVER);
    assert_eq!(s2.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Prepare], "{s2:?}");
    assert!(c.take(FE, CLIENT).is_empty(), "no outcome before the secondary voted");
    // Nor is its broadcast anyone's (the primary's is).
    let now = c.now;
    let user = vec![(crate::events::USERBASE, crate::events::USERMAX)];
    c.node(FE).handle_request(now, CLIENT, Request::Subscribe { chan: 2, recipient: "cli".into(), events: user });
    c.open_client(2);
    c.take(FE, CLIENT);
    let user_events = |c: &mut Cluster| c.take(FE, CLIENT).iter().filter(|x| x.1 == MsgType::UserEvent).count();
    let bc = || Request::Broadcast { chan: 1, evtnum: 9, rcpspc: "*".into(), data: Bytes::from(&b"s"[..]) };
    c.req(BE2, SERVER, bc());
    assert_eq!(user_events(&mut c), 0, "a secondary's broadcast is dropped");
    c.req(BE, SERVER, bc());
    assert_eq!(user_events(&mut c), 1, "the primary's goes out");
    // The secondary's reply is not the client's (the same as the
    // primary's: one that differs rejects the transaction, REPLYDIFF, in
    // `a_secondary_whose_replies_differ_from_the_primarys_rejects_with_replydiff`).
    c.req(BE2, SERVER, Request::Reply { chan: 1, tid, data: Bytes::from(&b"paid"[..]), flags: 0 });
    c.req(BE, SERVER, Request::Reply { chan: 1, tid, data: Bytes::from(&b"paid"[..]), flags: 0 });
    let now = c.now;
    c.node(BE2).handle_request(now, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.pump();
    c.settle();
    let fe = c.take(FE, CLIENT);
    assert_eq!(fe.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Reply, MsgType::Accepted], "{fe:?}");
    assert_eq!(c.take(BE, SERVER)[0].1, MsgType::Accepted);
    assert_eq!(c.take(BE2, SERVER)[0].1, MsgType::Accepted);
    c.ack(1, tid);
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid });
    // The secondary is lost mid-transaction: its branch is dropped and the
    // transaction commits at the primary.
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(7, "pay") });
    c.server_accept(1, t1);
    c.sync();
    assert!(c.take(BE2, SERVER).iter().any(|x| x.2 == Some(t1) && x.1 == MsgType::Msg1));
    c.kill(BE2);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    c.ack(1, t1);
    // The primary remembers t1 for its secondary (stage 3): a numbered
    // entry of its log, kept in its journal with the commit.
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 1, "t1 is kept for the secondary");
    let seq_of_t1 = |r: &crate::journal::Record| r.tid == t1 && r.kind == crate::journal::RecordKind::Seq;
    assert_eq!(c.journals[BE].iter().filter(|r| seq_of_t1(r)).count(), 1);
    c.restart(BE2);
    c.open_shadow(BE2, None);
    c.sync();
    assert_eq!(c.partition_states(BE2), vec![P::Secondary]);
    // Catch-up (stage 4): the secondary applies t1 first, as committed
    // work, before any live work; once its server acknowledged it, the
    // primary hears so, releases it, and is in step again. (Uncertain: the
    // primary sent it before, while the secondary was down, and cannot
    // know that no node of that site applied it then.)
    let s = c.take(BE2, SERVER);
    let got: Vec<(MsgType, Option<Tid>)> = s.iter().filter(|x| x.2.is_some()).map(|x| (x.1, x.2)).collect();
    assert_eq!(got, vec![(MsgType::Msg1Uncertain, Some(t1)), (MsgType::Accepted, Some(t1))], "{s:?}");
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t1 });
    c.settle();
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 0, "released once applied there");
    assert!(c.journals[BE2].iter().any(seq_of_t1), "the secondary knows where it stands after a restart");
    c.events_at(BE);
    c.events_at(BE2);
    // The primary's node is lost mid-transaction, the secondary's branch
    // made: it is given back there, and the primary's work follows the
    // range to its next primary, the secondary's node.
    let t3 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t3, flags: flags::sen::ACCEPT, data: msg(8, "pay") });
    c.server_accept(1, t3);
    c.sync();
    assert!(c.take(BE2, SERVER).iter().any(|x| x.2 == Some(t3) && x.1 == MsgType::Msg1));
    c.kill(BE);
    let s = c.take(BE2, SERVER);
    assert!(s.iter().any(|x| x.2 == Some(t3) && x.1 == MsgType::Rejected && x.3 == Some(Status::Dlktxres)), "{s:?}");
    // (fail_to_standby, the default: it claims `START_DEFER` after the
    // authority says be's holder is gone, no standby of be's site having
    // taken the range.)
    c.advance(BE2, backend::roles::CLAIM_RETRY * 2);
    c.advance(BE2, backend::roles::START_DEFER);
    assert_eq!(c.partition_states(BE2), vec![P::Remember], "primary now, alone");
    assert_eq!(c.events_at(BE2), vec![crate::events::SRPRIMARY]);
    let s = c.take(BE2, SERVER);
    let got: Vec<(MsgType, Option<Tid>)> = s.iter().map(|x| (x.1, x.2)).collect();
    assert_eq!(got, vec![(MsgType::Msg1, Some(t3)), (MsgType::Prepare, Some(t3))]);
    let now = c.now;
    c.node(BE2).handle_request(now, SERVER, Request::Accept { chan: 1, tid: t3, reason: 0, flags: 0, implicit: false });
    c.pump();
    c.settle();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t3), Some(Status::Ok))]);
    assert_eq!(c.take(BE2, SERVER).iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Accepted]);
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t3 });
    let t2 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t2, flags: flags::sen::ACCEPT, data: msg(6, "pay") });
    let s = c.take(BE2, SERVER);
    assert_eq!(s.iter().map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Msg1, MsgType::Prepare], "{s:?}");
}

/// RTR's reply checksum for shadow pairs (docs/shadow.md): a secondary
/// whose replies differ from its primary's (the sites' databases diverged)
/// rejects the transaction at both sites with `RTR_STS_REPLYDIFF`, before
/// anything commits; the client has the primary's reply and the
/// rejection. Replies that match commit as usual, and so does a secondary
/// that replies the same in another order (two messages).
#[test]
fn a_secondary_whose_replies_differ_from_the_primarys_rejects_with_replydiff() {
    let mut c = Cluster::shadow_pair();
    for (primary, secondary, replydiff) in [
        (&["balance 10"][..], &["balance 10"][..], false),
        (&["balance 10"][..], &["balance 12"][..], true),
        (&["a", "b"][..], &["b", "a"][..], false),
        (&["a", "b"][..], &["a"][..], true),
    ] {
        let tid = c.tid();
        c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
        for r in primary {
            c.reply_at(BE, tid, r);
        }
        c.server_accept(1, tid);
        c.sync();
        assert!(c.take(BE2, SERVER).iter().any(|x| x.2 == Some(tid) && x.1 == MsgType::Msg1), "at the secondary");
        for r in secondary {
            c.reply_at(BE2, tid, r);
        }
        c.accept_at(BE2, tid);
        let fe = c.take(FE, CLIENT);
        let replies = fe.iter().filter(|x| x.1 == MsgType::Reply).count();
        assert_eq!(replies, primary.len(), "the primary's replies only: {fe:?}");
        let (want, status) =
            if replydiff { (MsgType::Rejected, Status::Replydiff) } else { (MsgType::Accepted, Status::Ok) };
        assert_eq!(fe.last(), Some(&(1, want, Some(tid), Some(status))), "{primary:?} / {secondary:?}");
        for k in [BE, BE2] {
            let s = c.take(k, SERVER);
            assert!(s.iter().any(|x| x.2 == Some(tid) && x.1 == want), "node {k}: {s:?}");
            if !replydiff {
                c.req(k, SERVER, Request::Ack { chan: 1, tid });
            }
        }
        c.settle();
    }
}

/// The reply checksum weighs only replies of work still in place: the
/// primary's node is lost after both sites replied alike, the secondary's
/// branch is given back, and the work moves to the primary site's standby,
/// whose secondary branch goes to the same node again. That node replied
/// twice, the new primary once: not a divergence, and the transaction
/// commits (`Tx::replies_partial`).
#[test]
fn replies_of_work_given_back_are_not_weighed_for_replydiff() {
    let mut c = Cluster::with_be3();
    for k in [BE, BE2, BE3] {
        c.node(k).set_failover_policy(FailoverPolicy::Standby);
    }
    c.open_client(1);
    c.take(FE, CLIENT);
    c.open_shadow(BE, Some("east"));
    c.open_shadow(BE3, Some("east"));
    c.open_shadow(BE2, Some("west"));
    let tid = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.reply_at(BE, tid, "ok");
    c.server_accept(1, tid);
    c.sync();
    assert!(c.take(BE2, SERVER).iter().any(|x| x.2 == Some(tid) && x.1 == MsgType::Msg1), "at the secondary");
    c.reply_at(BE2, tid, "ok");
    c.kill(BE);
    for _ in 0..30 {
        c.advance(BE3, backend::roles::CLAIM_RETRY);
        c.advance(BE2, backend::roles::CLAIM_RETRY);
    }
    c.finish_takeovers(None);
    c.settle();
    let s3 = c.take(BE3, SERVER);
    assert!(s3.iter().any(|x| x.2 == Some(tid) && x.1 == MsgType::Msg1), "the work moved to east's standby: {s3:?}");
    c.reply_at(BE3, tid, "ok");
    c.accept_at(BE3, tid);
    let s2 = c.take(BE2, SERVER);
    let got: Vec<MsgType> = s2.iter().filter(|x| x.2 == Some(tid)).map(|x| x.1).collect();
    assert_eq!(got, vec![MsgType::Rejected, MsgType::Msg1, MsgType::Prepare], "given back, then placed again: {s2:?}");
    c.reply_at(BE2, tid, "ok");
    c.accept_at(BE2, tid);
    let fe = c.take(FE, CLIENT);
    assert_eq!(fe.iter().filter(|x| x.1 == MsgType::Reply).count(), 2, "both primaries' replies: {fe:?}");
    assert_eq!(fe.last(), Some(&(1, MsgType::Accepted, Some(tid), Some(Status::Ok))), "{fe:?}");
}

/// `SET TRANSACTION /STATE=PRI_DONE /NEW_STATE=DONE` (docs/shadow.md): a
/// primary running alone drops what it remembers for the other site, one
/// transaction or all of them; durably (a restart brings none back), and
/// the commits' journal space is freed. The other site, back, replays
/// none of them and takes live work at once. Refused at a secondary and at
/// a primary whose secondary is linked (catching up).
#[test]
fn pri_done_drops_what_a_lone_primary_remembers_for_the_other_site() {
    use crate::protocol::admin::{AdminError, PartitionChange, PartitionState as P};
    let pri_done = |c: &mut Cluster, k: usize, only: Option<Tid>| {
        let now = c.now;
        let said = c.node(k).set_partition(now, "F", 1, PartitionChange::PriDone(only));
        c.pump();
        said
    };
    let mut c = Cluster::shadow_pair();
    assert_eq!(c.partition_states(BE2), vec![P::Secondary]);
    assert!(matches!(pri_done(&mut c, BE2, None), Err(AdminError::InvalidStateChange(_))), "not at a secondary");
    assert!(
        matches!(pri_done(&mut c, BE, None), Err(AdminError::InvalidStateChange(_))),
        "not while the secondary is linked"
    );
    c.events_at(BE);
    c.kill(BE2);
    assert_eq!(c.partition_states(BE), vec![P::Remember], "alone once the secondary's node is lost");
    assert_eq!(c.events_at(BE), vec![crate::events::SRSHADOWLOST]);
    let said = pri_done(&mut c, BE, None);
    assert!(said.as_ref().is_ok_and(|m| m.ends_with("nothing is remembered for the other site")), "{said:?}");
    // Three commits at the primary alone: remembered.
    let mut tids = Vec::new();
    for key in [5, 6, 7] {
        let t = c.tid();
        c.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: flags::sen::ACCEPT, data: msg(key, "pay") });
        c.server_accept(1, t);
        c.sync();
        assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t), Some(Status::Ok))]);
        c.ack(1, t);
        tids.push(t);
    }
    // The frontend's acknowledgements and the routers' forgets go out:
    // only the other site holds the commits' `Done` back now.
    c.flush_batches();
    c.settle();
    c.take(BE, SERVER);
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 3);
    let done =
        |c: &Cluster, t: Tid| c.journals[BE].iter().any(|r| r.tid == t && r.kind == crate::journal::RecordKind::Done);
    assert!(!done(&c, tids[0]), "a remembered commit's Done waits for the other site");
    // One of them.
    let said = pri_done(&mut c, BE, Some(tids[0]));
    assert!(
        said.as_ref().is_ok_and(|m| m.contains("1 remembered commit set done") && m.contains("2 left")),
        "{said:?}"
    );
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 2);
    assert!(matches!(pri_done(&mut c, BE, Some(tids[0])), Err(AdminError::NoSuchTransaction(_))), "done already");
    c.sync();
    assert!(done(&c, tids[0]), "its journal space is freed once its mark is durable");
    assert!(!done(&c, tids[1]));
    // The rest (RTR's `*`).
    let said = pri_done(&mut c, BE, None);
    assert!(said.as_ref().is_ok_and(|m| m.contains("2 remembered commits set done")), "{said:?}");
    c.sync();
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 0);
    assert!(tids.iter().all(|t| done(&c, *t)));
    // A restart brings none of them back.
    c.kill(BE);
    c.restart(BE);
    c.open_shadow(BE, None);
    c.sync();
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 0, "nothing remembered after a restart");
    c.take(BE, SERVER);
    // The other site is back: it replays none of them, and live work
    // reaches it at once.
    c.restart(BE2);
    c.open_shadow(BE2, None);
    c.sync();
    assert_eq!(c.partition_states(BE2), vec![P::Secondary]);
    assert_eq!(c.partition_states(BE), vec![P::Primary]);
    let s = c.take(BE2, SERVER);
    assert!(s.iter().all(|x| x.2.is_none_or(|t| !tids.contains(&t))), "nothing replayed: {s:?}");
    let (t, s) = c.primary_voted(8);
    assert!(s.iter().any(|x| x.2 == Some(t) && x.1 == MsgType::Msg1), "live work at the secondary: {s:?}");
}

/// A secondary's live branch and the other site's log entry of the same
/// transaction and range reach the secondary together (simulator `--shadow
/// --seed 866 --routers 2`: be3 frozen with tr1's messages for a
/// transaction on their way; tr1, its link gone, committed at the primary
/// without it, and the primary's log entry arrived with the stale
/// messages). The messages that come while the entry is written wait for
/// the write: the transaction is then committed here, and the router hears
/// so; nothing starts a second branch of it. Before, the live branch went
/// to the server, the entry's branch replaced it once written, and that
/// server, never told an outcome, was held for ever: the range's next
/// transactions never reached the secondary.
#[test]
fn a_stale_live_branch_that_meets_its_log_entry_at_the_secondary_holds_no_server() {
    let mut c = Cluster::shadow_pair();
    c.events_at(BE);
    c.events_at(BE2);
    let part = c.node(BE2).show_partitions().0[0].id;
    let t = Tid { node: 9, incarnation: 1, conn: 1, seq: 1 };
    let data = msg(5, "pay");
    // The entry first: its write is on its way.
    c.first_entry_at(BE2, part, t, data.clone(), false);
    c.collect();
    assert!(!c.syncs.is_empty(), "the entry is being written");
    // Then the router's stale messages for the secondary's branch.
    c.stale_branch_at(BE2, part, t, data, flags::sen::ACCEPT);
    c.collect();
    assert!(c.take(BE2, SERVER).is_empty(), "nothing presented while the entry is written");
    c.sync_unpumped();
    c.collect();
    let s = c.take(BE2, SERVER);
    let got: Vec<(MsgType, Option<Tid>)> = s.iter().map(|x| (x.1, x.2)).collect();
    assert_eq!(got, vec![(MsgType::Msg1, Some(t)), (MsgType::Accepted, Some(t))], "the entry alone: {s:?}");
    let answers = c.take_wire(BE2, TR1);
    assert!(
        answers.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Decided { tid, committed: true, .. }) if *tid == t)),
        "the router hears the transaction committed here: {answers:?}"
    );
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t });
    c.settle();
    // The secondary's one server is free: the range's next transaction
    // reaches it once the primary voted.
    let (t2, s2) = c.primary_voted(6);
    assert!(s2.iter().any(|x| x.2 == Some(t2) && x.1 == MsgType::Msg1), "{s2:?}");
}

/// A secondary's live branch, voted yes, whose router forgot the
/// transaction, and the other site's log entry of it (simulator `--shadow
/// --routers 1 --seed 1964`: the router's `Msg` and `VoteRequest` for the
/// secondary sat on a stalled link while it committed at the primary
/// without it and forgot the transaction; the primary remembered the
/// commit, and the stale messages reached the secondary before the entry).
/// The entry is proof of the commit: the branch commits here on its
/// authority (the commit record durable first, then the server hears
/// `Accepted`, once), the entry is skipped as applied, and the sender hears
/// so. A router's late commit of it is answered `Durable` and changes
/// nothing. Before, the entry waited for the branch's outcome, which no
/// router would send, and every later entry of the range waited behind it.
#[test]
fn a_voted_live_branch_whose_router_forgot_it_commits_on_the_other_sites_log_entry() {
    use crate::journal::RecordKind;
    let mut c = Cluster::shadow_pair();
    c.events_at(BE);
    c.events_at(BE2);
    // The router's stale messages for the secondary's branch: its server
    // votes yes, durably; the router, which forgot the transaction, ignores
    // the vote.
    let (part, t, data) = c.stale_branch_presented();
    c.accept_at(BE2, t);
    let commits = |c: &Cluster| c.journals[BE2].iter().filter(|r| r.tid == t && r.kind == RecordKind::Commit).count();
    assert_eq!(commits(&c), 0);
    // The primary's entry of it (remembered as unsure: its secondary's
    // branch was dropped).
    c.first_entry_at(BE2, part, t, data, true);
    c.collect();
    assert!(c.take(BE2, SERVER).is_empty(), "nothing presented before the commit record is durable");
    assert_eq!(commits(&c), 1, "the branch's commit record is being written");
    c.sync_unpumped();
    c.collect();
    let s = c.take(BE2, SERVER);
    let got: Vec<(MsgType, Option<Tid>)> = s.iter().map(|x| (x.1, x.2)).collect();
    assert_eq!(got, vec![(MsgType::Accepted, Some(t))], "the live branch commits, its messages not presented again");
    let wire = c.take_wire(BE2, TR1);
    assert!(
        wire.iter().any(|m| matches!(m, Internal::Tr(ToRouter::ShadowApplied { pos: (1, 1), .. }))),
        "the sender hears the entry applied: {wire:?}"
    );
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t });
    c.settle();
    // Nothing of it is presented again, and its records end (no router
    // forgets it here).
    c.advance(BE2, Duration::from_secs(1));
    assert!(c.take(BE2, SERVER).is_empty(), "the entry is not presented again");
    let last = c.journals[BE2].iter().rev().find(|r| r.tid == t).map(|r| r.kind);
    assert_eq!(last, Some(RecordKind::Done), "{:?}", c.journals[BE2]);
    // A router that still had it commits it late: answered, nothing more.
    let now = c.now;
    let o = ToBackend::Outcome { tid: t, parts: vec![part], accepted: true, status: Status::Ok, reason: 0, drive: 0 };
    c.node(BE2).peer_input(now, peer_ref(TR1), Internal::Be(o));
    c.collect();
    let wire = c.take_wire(BE2, TR1);
    assert!(
        wire.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Durable { tid }) if *tid == t)),
        "the late commit is answered durable: {wire:?}"
    );
    c.pump();
    assert!(c.take(BE2, SERVER).is_empty());
    assert_eq!(commits(&c), 1, "committed once");
    // The range's next transaction reaches the secondary.
    let (t2, s2) = c.primary_voted(6);
    assert!(s2.iter().any(|x| x.2 == Some(t2) && x.1 == MsgType::Msg1), "{s2:?}");
}

/// A transaction over two shadowed ranges reaches the secondary as two
/// entries of the other site's log (one per range). The first is presented
/// and acknowledged while the second is being written: the transaction is
/// not finished then. Its `Applied` landed after the second entry's
/// records and ended them too: a node stopped before the second range's
/// server acknowledged (simulator `--shadow --seed 2273`: an operator's
/// forced journal takeover) started again on a journal that said the
/// transaction was applied, and that range's share was never applied at
/// its site.
#[test]
fn a_share_acknowledged_while_another_ranges_entry_is_written_does_not_end_the_transaction() {
    use crate::journal::RecordKind;
    let mut c = Cluster::new();
    let (low, high) = c.two_shadow_ranges_at(BE2, "west");
    let t = Tid { node: 9, incarnation: 1, conn: 1, seq: 1 };
    let entry = |key: u32| ShadowEntry {
        pos: (1, 1),
        prev: (0, 0),
        tid: t,
        msgs: vec![msg(key, "pay")],
        reason: 0,
        resent: false,
    };
    let now = c.now;
    // The low range's entry: written, presented.
    let log = ToBackend::ShadowLog { part: low, entries: vec![entry(5)], released: (0, 0) };
    c.node(BE2).peer_input(now, peer_ref(TR1), Internal::Be(log));
    c.collect();
    c.sync_unpumped();
    c.collect();
    let s = c.take(BE2, SERVER);
    assert!(s.iter().any(|x| x.0 == 1 && x.1 == MsgType::Accepted && x.2 == Some(t)), "{s:?}");
    // The high range's entry: its write is on its way when the low range's
    // server acknowledges.
    let log = ToBackend::ShadowLog { part: high, entries: vec![entry(700)], released: (0, 0) };
    c.node(BE2).peer_input(now, peer_ref(TR1), Internal::Be(log));
    c.collect();
    assert!(!c.syncs.is_empty(), "the second entry is being written");
    let now = c.now;
    c.node(BE2).handle_request(now, SERVER, Request::Ack { chan: 1, tid: t });
    c.collect();
    let ends = |c: &Cluster| {
        let recs: Vec<RecordKind> = c.journals[BE2].iter().filter(|r| r.tid == t).map(|r| r.kind).collect();
        let last_commit = recs.iter().rposition(|k| *k == RecordKind::Commit).expect("committed");
        recs[last_commit..].iter().any(|k| matches!(k, RecordKind::Applied | RecordKind::Done))
    };
    assert!(!ends(&c), "not ended while the high range's entry is written: {:?}", c.journals[BE2]);
    // Written and presented, not acknowledged yet: the node stops.
    c.sync_unpumped();
    c.collect();
    let s = c.take(BE2, SERVER);
    assert!(s.iter().any(|x| x.0 == 2 && x.1 == MsgType::Accepted && x.2 == Some(t)), "{s:?}");
    assert!(!ends(&c), "{:?}", c.journals[BE2]);
    // Once both servers acknowledged, it ends.
    let now = c.now;
    c.node(BE2).handle_request(now, SERVER, Request::Ack { chan: 2, tid: t });
    c.collect();
    assert!(ends(&c), "{:?}", c.journals[BE2]);
}

/// A shadow primary's node holds two branches of one transaction, one per
/// shadowed range, both voted yes durably. Its router's commit reaches it
/// one branch at a time (as parked outcomes are replayed, one per branch,
/// when the branches' other owner's link goes): the first starts the
/// commit record, the second joins that record on its way (seed 243's
/// rule). The joining branch's range is remembered for the other site as
/// well: before, only the first branch's range was numbered (its numbers
/// were given when the write was made), the second range's share was
/// never remembered, and the other site never applied it (simulator
/// `--shadow --seed 5606`: tr2 answered be1's inquiry and owned both
/// branches, tr1's late commit was parked for each, and tr2's death
/// replayed the two; east applied both ranges, west one).
#[test]
fn a_branch_that_joins_a_commit_on_its_way_is_remembered_for_the_other_site_too() {
    use crate::journal::RecordKind;
    let mut c = Cluster::new();
    let (low, high) = c.two_shadow_ranges_at(BE, "east");
    let roles = c.node(BE).shadow_roles();
    assert!(roles.iter().all(|r| r.primary && r.backlog == 0), "be is the primary of both ranges, alone");
    // tr1 places the two branches; both servers vote yes, durably.
    let t = Tid { node: 9, incarnation: 1, conn: 1, seq: 1 };
    let now = c.now;
    for (part, key) in [(low, 5), (high, 700)] {
        let m = ToBackend::Msg { tid: t, part, index: 0, data: msg(key, "pay"), first: true, flags: 0, drive: 0 };
        c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(m));
        let vr = ToBackend::VoteRequest { tid: t, part, durable: true, drive: 0 };
        c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(vr));
    }
    c.pump();
    c.settle();
    let s = c.take(BE, SERVER);
    for chan in [1, 2] {
        assert!(s.iter().any(|x| x.0 == chan && x.1 == MsgType::Prepare && x.2 == Some(t)), "{s:?}");
        let now = c.now;
        c.node(BE).handle_request(now, SERVER, Request::Accept { chan, tid: t, reason: 0, flags: 0, implicit: false });
    }
    c.pump();
    c.settle();
    c.take_wire(BE, TR1);
    // The commit, one branch at a time: the second comes while the first's
    // commit record is on its way.
    let outcome = |part| ToBackend::Outcome {
        tid: t,
        parts: vec![part],
        accepted: true,
        status: Status::Ok,
        reason: 0,
        drive: 0,
    };
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(outcome(low)));
    c.collect();
    assert!(!c.syncs.is_empty(), "the commit record is on its way");
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(outcome(high)));
    c.collect();
    // The record is durable; the joined range's number is written next,
    // before anyone hears of the commit.
    c.sync_unpumped();
    c.collect();
    assert!(c.take(BE, SERVER).is_empty(), "no server hears of the commit before every number is durable");
    assert!(!c.syncs.is_empty(), "the joined range's number is being written");
    c.sync_unpumped();
    c.collect();
    let s = c.take(BE, SERVER);
    for chan in [1, 2] {
        assert!(s.iter().any(|x| x.0 == chan && x.1 == MsgType::Accepted && x.2 == Some(t)), "{s:?}");
    }
    // Each range keeps it for the other site, and each has its `Seq` in
    // the journal (a restart brings both back).
    let backlog: Vec<usize> = c.node(BE).shadow_roles().iter().map(|r| r.backlog).collect();
    assert_eq!(backlog, vec![1, 1], "remembered for the other site in both ranges");
    let seqs = c.journals[BE].iter().filter(|r| r.tid == t && r.kind == RecordKind::Seq).count();
    assert_eq!(seqs, 2, "{:?}", c.journals[BE]);
    let wire = c.take_wire(BE, TR1);
    assert!(wire.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Durable { tid }) if *tid == t)), "{wire:?}");
}

/// A transaction's share handed to a node whole (`Adopt`: its branch's
/// node was lost after the commit) while that node writes the commit
/// record of the transaction's other branch: the hand-off waits for the
/// commit, and then numbers its own range. Written beside the commit, the
/// hand-off found the commit's numbers given already and wrote the low
/// range's `Seq` a second time (three `Seq` records for two ranges), while
/// the high range was numbered only later, by the recovered path: a
/// restart read the low range's hold twice.
#[test]
fn work_handed_over_while_its_commit_is_written_here_is_numbered_after_it() {
    use crate::journal::RecordKind;
    let mut c = Cluster::new();
    let (low, high) = c.two_shadow_ranges_at(BE, "east");
    assert!(c.node(BE).shadow_roles().iter().all(|r| r.primary && r.backlog == 0), "be is the primary, alone");
    // tr1 places the low range's branch here; its server votes yes, durably.
    let t = Tid { node: 9, incarnation: 1, conn: 1, seq: 1 };
    let now = c.now;
    let m = ToBackend::Msg { tid: t, part: low, index: 0, data: msg(5, "pay"), first: true, flags: 0, drive: 0 };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(m));
    let vr = ToBackend::VoteRequest { tid: t, part: low, durable: true, drive: 0 };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(vr));
    c.pump();
    c.settle();
    c.accept_at(BE, t);
    c.pump();
    c.settle();
    c.take(BE, SERVER);
    c.take_wire(BE, TR1);
    // tr1 commits the low branch; while that record is on its way, the high
    // range's share comes whole (handed on from a node that was lost).
    let now = c.now;
    let o = ToBackend::Outcome { tid: t, parts: vec![low], accepted: true, status: Status::Ok, reason: 0, drive: 0 };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(o));
    c.collect();
    assert!(!c.syncs.is_empty(), "the commit record is on its way");
    let adopt = ToBackend::Adopt { part: high, tid: t, msgs: vec![msg(700, "pay")], reason: 0, drive: 0 };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(adopt));
    c.collect();
    while !c.syncs.is_empty() {
        c.sync_unpumped();
        c.collect();
    }
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.0 == 1 && x.1 == MsgType::Accepted && x.2 == Some(t)), "{s:?}");
    // Each range keeps it for the other site once, and the journal holds
    // one `Seq` per range: a restart brings back each hold once.
    let backlog: Vec<usize> = c.node(BE).shadow_roles().iter().map(|r| r.backlog).collect();
    assert_eq!(backlog, vec![1, 1], "remembered for the other site in both ranges");
    let seqs = c.journals[BE].iter().filter(|r| r.tid == t && r.kind == RecordKind::Seq).count();
    assert_eq!(seqs, 2, "{:?}", c.journals[BE]);
    let wire = c.take_wire(BE, TR1);
    assert!(
        wire.iter().any(|m| matches!(m, Internal::Tr(ToRouter::Adopted { tid, part }) if *tid == t && *part == high)),
        "{wire:?}"
    );
}

/// The router of a transaction's first drive tells the shadow primary's
/// node that the secondary took part in its commit (`Shipped`), but its
/// outcome is refused there: the frontend drives the transaction again
/// through another router, which owns the branches now. That router gives
/// the secondary's branch back and commits at the primary alone: the
/// commit is remembered for the other site (as unsure: the first router's
/// word may be true). Taking the first router's word, the primary
/// remembered nothing, and the secondary's site never applied the
/// transaction (simulator `--shadow --seed 2417`, two routers).
#[test]
fn a_word_that_the_secondary_took_part_counts_only_from_the_router_that_commits() {
    let mut c = Cluster::shadow_pair();
    c.events_at(BE);
    c.events_at(BE2);
    let part = c.node(BE).show_partitions().0[0].id;
    let t = Tid { node: 9, incarnation: 1, conn: 1, seq: 1 };
    let now = c.now;
    // Drive 1's router (tr2) places the primary's branch; its server votes.
    let m = ToBackend::Msg { tid: t, part, index: 0, data: msg(5, "pay"), first: true, flags: 0, drive: 1 };
    c.node(BE).peer_input(now, peer_ref(TR2), Internal::Be(m));
    c.settle();
    let vr = ToBackend::VoteRequest { tid: t, part, durable: true, drive: 1 };
    c.node(BE).peer_input(now, peer_ref(TR2), Internal::Be(vr));
    c.settle();
    c.accept_at(BE, t);
    c.take(BE, SERVER);
    // Drive 0's router (tr1), late, says the secondary took part, and
    // commits: refused (an earlier drive).
    let now = c.now;
    let sh = ToBackend::Shipped { tid: t, parts: vec![part], unsure: vec![] };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(sh));
    let o = ToBackend::Outcome { tid: t, parts: vec![part], accepted: true, status: Status::Ok, reason: 0, drive: 0 };
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(o));
    c.collect();
    assert!(c.take(BE, SERVER).is_empty(), "drive 0's commit is refused");
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 0);
    // Drive 1's router commits at the primary alone.
    let o = ToBackend::Outcome { tid: t, parts: vec![part], accepted: true, status: Status::Ok, reason: 0, drive: 1 };
    c.node(BE).peer_input(now, peer_ref(TR2), Internal::Be(o));
    c.collect();
    c.sync_unpumped();
    c.collect();
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.1 == MsgType::Accepted && x.2 == Some(t)), "{s:?}");
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 1, "remembered for the other site");
}

/// A shadow primary's release of an entry the other site applied,
/// refused by a full journal, is not lost: the entry goes back into the
/// log, is sent again, acknowledged again and released again. And a
/// release that ends its transaction here (finished and forgotten) writes
/// the transaction's `Done` in place of the `Released` mark, in a write of
/// its own: a write of `Done` records only may take a full journal's
/// extra segment, so a journal full of such entries frees itself. The
/// refused marks' entries were gone from the log, never released, and
/// pinned the journal's oldest segment for good; the other site's entries
/// could not be written there, and the sites ended apart (simulator
/// `--shadow --seed 784 --routers 2`).
#[test]
fn a_release_a_full_journal_refused_is_released_again_and_ends_its_transaction() {
    use crate::journal::RecordKind;
    let mut c = Cluster::shadow_pair();
    // t1 commits at the primary once its secondary is lost: remembered.
    let t1 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t1, flags: flags::sen::ACCEPT, data: msg(7, "pay") });
    c.server_accept(1, t1);
    c.sync();
    c.kill(BE2);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t1), Some(Status::Ok))]);
    c.ack(1, t1);
    // Its router forgets it (the client has the outcome).
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR1), Internal::Be(ToBackend::Forget { tids: vec![t1] }));
    c.collect();
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 1, "t1 is kept for the secondary");
    let last = |c: &Cluster, k: usize| c.journals[k].iter().rev().find(|r| r.tid == t1).map(|r| r.kind);
    assert_eq!(last(&c, BE), Some(RecordKind::Applied), "its Done waits for the other site");
    // The secondary comes back and applies t1; its acknowledgement reaches
    // be, whose release write a full journal refuses.
    c.restart(BE2);
    c.open_shadow(BE2, None);
    c.sync();
    let s = c.take(BE2, SERVER);
    assert!(s.iter().any(|x| x.2 == Some(t1) && x.1 == MsgType::Accepted), "{s:?}");
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t1 });
    let mut refused = None;
    for _ in 0..20 {
        let (at_be, others): (Vec<_>, Vec<_>) = std::mem::take(&mut c.syncs).into_iter().partition(|(n, _)| *n == BE);
        if let Some(&(_, token)) = at_be.first() {
            refused = Some(token);
            break;
        }
        let now = c.now;
        for (i, t) in others {
            c.node(i).journal_done(now, t, Ok(()));
        }
        c.pump();
    }
    let refused = refused.expect("be writes the release");
    assert_eq!(last(&c, BE), Some(RecordKind::Done), "the release ends t1 at be: its Done, not a mark");
    let now = c.now;
    c.node(BE).journal_done(now, refused, Err(Status::Jnlfull));
    c.pump();
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 1, "back in the log");
    // Sent again, acknowledged again, released again: t1 ends at both sites.
    c.advance(BE, Duration::from_secs(1));
    c.settle();
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 0, "released");
    assert_eq!(last(&c, BE), Some(RecordKind::Done), "{:?}", c.journals[BE]);
    let dones = c.journals[BE].iter().filter(|r| r.tid == t1 && r.kind == RecordKind::Done).count();
    assert_eq!(dones, 2, "the refused Done, then the one written");
    assert_eq!(last(&c, BE2), Some(RecordKind::Done), "the secondary heard the release: {:?}", c.journals[BE2]);
}

/// The failover policies (docs/shadow.md). fail_to_standby: be (east) is
/// the primary, be3 its site's standby, be2 (west) the secondary; be is
/// lost; be3 takes east's slot and then the primary record, and be2 stays
/// the secondary (it waited `START_DEFER` after it heard be was gone).
/// fail_to_shadow (set on be2 as an operator would): with no standby at
/// east, be2 claims as soon as it hears be is gone, where under
/// fail_to_standby (set, or the default) it waits `START_DEFER` first.
#[test]
fn a_lost_primary_fails_over_to_its_sites_standby_or_to_the_shadow_as_the_policy_says() {
    use crate::protocol::admin::{PartitionChange, PartitionState as P};
    let mut c = Cluster::with_be3();
    for k in [BE, BE2, BE3] {
        c.node(k).set_failover_policy(FailoverPolicy::Standby);
    }
    c.open_shadow(BE, Some("east"));
    c.open_shadow(BE3, Some("east"));
    c.open_shadow(BE2, Some("west"));
    assert_eq!(c.partition_states(BE), vec![P::Primary]);
    assert_eq!(c.partition_states(BE3), vec![P::Standby]);
    assert_eq!(c.partition_states(BE2), vec![P::Secondary]);
    c.kill(BE);
    for _ in 0..30 {
        c.advance(BE3, backend::roles::CLAIM_RETRY);
        c.advance(BE2, backend::roles::CLAIM_RETRY);
    }
    c.finish_takeovers(None);
    assert_eq!(c.partition_states(BE3), vec![P::Primary], "east's standby took over");
    assert_eq!(c.partition_states(BE2), vec![P::Secondary]);
    // Set by an operator, or not at all (the default: fail_to_standby).
    for set in [Some(false), Some(true), None] {
        let shadow = set == Some(true);
        let mut c = Cluster::new();
        c.open_shadow(BE, Some("east"));
        c.open_shadow(BE2, Some("west"));
        let now = c.now;
        if let Some(shadow) = set {
            let said = c.node(BE2).set_partition(now, "F", 1, PartitionChange::FailToShadow(shadow));
            assert!(said.as_ref().is_ok_and(|m| m.contains(if shadow { "fail_to_shadow" } else { "fail_to_standby" })));
        }
        c.kill(BE);
        c.advance(BE2, backend::roles::CLAIM_RETRY * 2);
        c.advance(BE2, backend::roles::CLAIM_RETRY * 2);
        let want = if shadow { P::Remember } else { P::Secondary };
        assert_eq!(c.partition_states(BE2), vec![want], "fail_to_shadow: {shadow}");
        c.advance(BE2, backend::roles::START_DEFER);
        assert_eq!(c.partition_states(BE2), vec![P::Remember], "fail_to_shadow: {shadow}");
    }
}

/// Shadow servers of one range on two nodes of one site are an active
/// partition and its standby, as unshadowed ones are: one slot per site.
/// And a shadow server and a plain one of one range on one node are
/// refused as overlapping.
#[test]
fn shadow_servers_of_one_site_are_an_active_and_a_standby() {
    use crate::protocol::admin::PartitionState as P;
    let mut c = Cluster::new();
    c.open_shadow(BE, Some("east"));
    c.open_shadow(BE2, Some("east"));
    assert_eq!(c.partition_states(BE), vec![P::Remember]);
    assert_eq!(c.partition_states(BE2), vec![P::Standby]);
    assert_eq!(c.events_at(BE2), vec![crate::events::SRSTANDBY]);
    let plain = Request::Open {
        chan: 2,
        role: Role::Server,
        facility: "F".into(),
        flags: flags::ope::SERVER,
        range: range(0, 1000),
    };
    c.req(BE, SERVER, plain);
    let d = c.take(BE, SERVER);
    assert!(d.iter().any(|x| x.0 == 2 && x.1 == MsgType::Closed && x.3 == Some(Status::Keyoverlap)), "{d:?}");
    assert!(c.node(BE).set_site(Some("no/slash")).is_err(), "a site name becomes part of the authority's keys");
}

/// A node that answered an inquiry "unknown" and then took a lost node's
/// journal over writes its binding into that journal too when it answers
/// the next inquiry about the transaction (a router asks it in the lost
/// node's place): that node, started again on its journal, must refuse the
/// work as well.
#[test]
fn a_binding_made_before_a_takeover_goes_into_the_taken_over_journal_at_the_next_answer() {
    let mut c = ready();
    c.open_standby(0, false);
    c.take(BE2, SERVER);
    // t0 commits at be; its server has not acknowledged it when be dies,
    // so be2, taking be's journal over, holds it until t0 is applied.
    let t0 = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t0, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.take(BE, SERVER);
    c.server_accept(1, t0);
    c.sync();
    c.take(BE, SERVER);
    let t = c.tid();
    let ask = || Internal::Be(ToBackend::Inquire { tid: t, facility: "F".into(), drive: 0, binds: 0 });
    let now = c.now;
    c.node(BE2).peer_input(now, peer_ref(TR2), ask());
    c.collect();
    c.sync_unpumped();
    c.collect();
    c.wire.clear();
    let bound_in_own = c.journals[BE2].iter().filter(|r| r.tid == t && r.kind == crate::journal::RecordKind::Bound);
    assert_eq!(bound_in_own.count(), 1);
    // be is lost: be2 takes its journal over.
    c.kill(BE);
    assert!(c.take(BE2, SERVER).iter().any(|x| x.2 == Some(t0)), "t0 replayed at be2");
    assert!(!c.node(BE2).be.adopted.is_empty(), "be2 holds be's journal");
    assert!(!c.adopted_records.iter().any(|(i, _, r)| *i == BE2 && r.tid == t), "nothing of t written there yet");
    let now = c.now;
    c.node(BE2).peer_input(now, peer_ref(TR2), ask());
    c.collect();
    let answered = |c: &mut Cluster| {
        c.take_wire(BE2, TR2).iter().any(|m| matches!(m, Internal::Tr(ToRouter::Inquired { tid, .. }) if *tid == t))
    };
    assert!(!answered(&mut c), "answered before the binding is in be's journal");
    assert!(c
        .adopted_records
        .iter()
        .any(|(i, _, r)| *i == BE2 && r.tid == t && r.kind == crate::journal::RecordKind::Bound));
    c.sync_unpumped();
    c.collect();
    assert!(answered(&mut c));
}

impl Cluster {
    /// `rtr set partition F:1 --shadow|--noshadow` at node `k`, as the
    /// runtime does it: the node's word, the role authority's note, then
    /// the node follows it.
    fn set_shadowing(&mut self, k: usize, on: bool) -> Result<String, crate::protocol::admin::AdminError> {
        let note = self.node(k).shadowing_note("F", 1, on)?;
        if let Some((range, note)) = note {
            self.auth[k].as_mut().expect("a live node").set_note(&range, note.as_deref()).expect("noted");
        }
        let now = self.now;
        let said = self.node(k).shadowing_set(now, "F", 1, on);
        self.pump();
        said
    }

    /// Let node `k`'s partition claim or read its note `n` times over.
    fn retry_claims(&mut self, k: usize, n: usize) {
        for _ in 0..n {
            self.advance(k, backend::roles::CLAIM_RETRY);
        }
        self.settle();
    }
}

/// `SET PARTITION /NOSHADOW` and `/SHADOW` (docs/shadow.md): turned off
/// only at a primary running alone. Off, it remembers nothing for the
/// other site, whose partition, back, is neither a secondary (no live
/// work, no SRSHADOWGAIN at the primary) nor, once the primary's site is
/// lost, the primary: the role authority's note stands for every node of
/// the range, and a restarted primary finds it too. On again (here at the
/// primary), the other site is a secondary and takes live work.
#[test]
fn shadowing_turned_off_at_a_lone_primary_keeps_the_other_site_from_working_or_claiming_until_turned_on() {
    use crate::protocol::admin::{AdminError, PartitionState as P};
    let mut c = Cluster::shadow_pair();
    assert!(matches!(c.set_shadowing(BE2, false), Err(AdminError::InvalidStateChange(_))), "not at a secondary");
    assert!(
        matches!(c.set_shadowing(BE, false), Err(AdminError::InvalidStateChange(_))),
        "not while the secondary is linked"
    );
    assert_eq!(c.partition_states(BE), vec![P::Primary], "refusals change nothing");
    c.kill(BE2);
    assert_eq!(c.partition_states(BE), vec![P::Remember]);
    let said = c.set_shadowing(BE, false);
    assert!(said.as_ref().is_ok_and(|m| m.contains("shadowing off")), "{said:?}");
    assert_eq!(c.partition_states(BE), vec![P::ShadowOff]);
    // Committed alone while off: not remembered, its `Done` not held.
    let t = c.tid();
    c.req(FE, CLIENT, Request::Send { chan: 1, tid: t, flags: flags::sen::ACCEPT, data: msg(5, "pay") });
    c.server_accept(1, t);
    c.sync();
    assert_eq!(c.take(FE, CLIENT), vec![(1, MsgType::Accepted, Some(t), Some(Status::Ok))]);
    c.ack(1, t);
    c.flush_batches();
    c.settle();
    c.sync();
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 0, "nothing remembered while off");
    assert!(c.journals[BE].iter().any(|r| r.tid == t && r.kind == crate::journal::RecordKind::Done));
    c.take(BE, SERVER);
    // The other site comes back: shadowed no more.
    c.events_at(BE);
    c.restart(BE2);
    c.open_shadow(BE2, None);
    c.sync();
    c.retry_claims(BE2, 3);
    assert_eq!(c.partition_states(BE2), vec![P::ShadowOff]);
    assert_eq!(c.partition_states(BE), vec![P::ShadowOff]);
    // Until its first read of the note the other site's partition counts
    // as a secondary (its place is unknown), so the primary may hear it
    // come and go; it ends not shadowed.
    let ev = c.events_at(BE);
    assert!(ev.last().is_none_or(|e| *e == crate::events::SRSHADOWLOST), "not shadowed in the end: {ev:?}");
    assert!(c.node(BE).shadow_roles()[0].primary);
    assert!(
        matches!(c.set_shadowing(BE2, false), Err(AdminError::InvalidStateChange(_))),
        "turned off only at the primary"
    );
    let (t2, s) = c.primary_voted(6);
    assert!(s.iter().all(|x| x.2 != Some(t2)), "no live work at the other site: {s:?}");
    c.sync();
    // The primary's site is lost: the other site does not take the
    // primary, whatever the failover policy, for as long as it is off.
    let now = c.now;
    c.node(BE2).set_partition(now, "F", 1, crate::protocol::admin::PartitionChange::FailToShadow(true)).unwrap();
    c.kill(BE);
    c.retry_claims(BE2, 30);
    assert_eq!(c.partition_states(BE2), vec![P::ShadowOff]);
    assert!(c.node(BE2).shadow_roles().iter().all(|r| !r.primary), "not the primary while shadowing is off");
    // The primary's node comes back: it is the primary again, still off.
    c.restart(BE);
    c.open_shadow(BE, None);
    c.sync();
    c.retry_claims(BE, 3);
    assert_eq!(c.partition_states(BE), vec![P::ShadowOff]);
    assert!(c.node(BE).shadow_roles()[0].primary);
    // On again, at the primary: the other site reads it at its next look
    // and is the secondary; live work reaches it.
    c.events_at(BE);
    let said = c.set_shadowing(BE, true);
    assert!(said.as_ref().is_ok_and(|m| m.contains("shadowing on")), "{said:?}");
    c.retry_claims(BE2, 3);
    assert_eq!(c.partition_states(BE2), vec![P::Secondary]);
    assert_eq!(c.partition_states(BE), vec![P::Primary]);
    assert_eq!(c.events_at(BE), vec![crate::events::SRSHADOWGAIN]);
    // The restarted primary presented its journal's commits before it read
    // the note, so it kept the one made while off for the other site: sent
    // as maybe there already (uncertain), the rebuilt database's server
    // skips it. Nothing else is replayed.
    let s = c.take(BE2, SERVER);
    let replayed: Vec<(MsgType, Option<Tid>)> = s.iter().filter(|x| x.2.is_some()).map(|x| (x.1, x.2)).collect();
    assert_eq!(replayed, vec![(MsgType::Msg1Uncertain, Some(t2)), (MsgType::Accepted, Some(t2))], "{s:?}");
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid: t2 });
    c.settle();
    c.flush_batches();
    c.settle();
    let (t3, s) = c.primary_voted(7);
    assert!(s.iter().any(|x| x.2 == Some(t3) && x.1 == MsgType::Msg1), "live work at the secondary: {s:?}");
}

/// Turned off, then the primary's whole site lost: an operator turns
/// shadowing on at the other site, accepting its database as it is; that
/// site's partition then becomes the primary. Turning on a partition that
/// is not shadowed is refused; turning it off there changes nothing.
#[test]
fn shadowing_turned_on_at_the_other_site_lets_it_take_the_primary_of_a_lost_site() {
    use crate::protocol::admin::{AdminError, PartitionState as P};
    let mut c = Cluster::shadow_pair();
    c.kill(BE2);
    c.set_shadowing(BE, false).unwrap();
    c.restart(BE2);
    c.open_shadow(BE2, None);
    c.sync();
    c.retry_claims(BE2, 3);
    assert_eq!(c.partition_states(BE2), vec![P::ShadowOff]);
    c.kill(BE);
    c.retry_claims(BE2, 30);
    assert_eq!(c.partition_states(BE2), vec![P::ShadowOff]);
    let said = c.set_shadowing(BE2, true);
    assert!(said.is_ok(), "{said:?}");
    c.retry_claims(BE2, 30);
    assert!(c.node(BE2).shadow_roles()[0].primary, "the other site is the primary now");
    assert_eq!(c.partition_states(BE2), vec![P::Remember]);
    // A partition that is not shadowed.
    let mut c = Cluster::new();
    c.open_client(1);
    c.open_server(1, 0);
    c.settle();
    assert!(matches!(c.node(BE).shadowing_note("F", 1, true), Err(AdminError::Unsupported(_))));
    assert_eq!(c.node(BE).shadowing_note("F", 1, false), Ok(None));
    assert!(c.set_shadowing(BE, false).is_ok_and(|m| m.contains("not a shadow partition")));
    assert!(matches!(c.node(BE).shadowing_note("F", 9, false), Err(AdminError::NoSuchPartition(_))));
}

/// A primary that starts again while shadowing is off is the primary with
/// shadowing off, and keeps reading the note: turned on at a standby of
/// its site (here, the note removed behind its back), it shadows again.
#[test]
fn a_primary_restarted_while_shadowing_is_off_hears_it_turned_on_elsewhere() {
    use crate::protocol::admin::PartitionState as P;
    let mut c = Cluster::shadow_pair();
    c.kill(BE2);
    c.set_shadowing(BE, false).unwrap();
    c.kill(BE);
    c.restart(BE);
    c.open_shadow(BE, None);
    c.sync();
    c.retry_claims(BE, 3);
    assert_eq!(c.partition_states(BE), vec![P::ShadowOff]);
    let rid = format!("{}{}", crate::authority::range_id("F", &range(0, 1000)), super::PRIMARY_RECORD);
    c.auth[BE].as_mut().unwrap().set_note(&rid, None).unwrap();
    c.retry_claims(BE, 3);
    assert_eq!(c.partition_states(BE), vec![P::Remember], "shadowing on again: alone, remembering");
}

/// The shape of CI96's failure (`cli/tests/shadow_sites.rs`): both sites
/// voted yes durably and the router committed; the secondary made the
/// commit durable, and the primary's node died before its commit record
/// was written. Restarted, it holds its branch in doubt and learns the
/// commit, whether it is still the primary or the other site took the
/// primary meanwhile (`fail_to_shadow`); its site applies it, and the
/// client hears "accepted" once. (CI96 itself was the daemon recovering
/// before its facility definitions were loaded: `runtime::driver` tests.)
#[test]
fn a_commit_the_primary_lost_before_writing_it_reaches_its_site_after_the_restart() {
    for fail_to_shadow in [false, true] {
        commit_lost_at_the_primary(fail_to_shadow);
    }
}

fn commit_lost_at_the_primary(fail_to_shadow: bool) {
    let mut c = Cluster::shadow_pair();
    if fail_to_shadow {
        let now = c.now;
        c.node(BE2).set_partition(now, "F", 1, crate::protocol::admin::PartitionChange::FailToShadow(true)).unwrap();
    }
    let (tid, s2) = c.primary_voted(5);
    assert!(s2.iter().any(|x| x.2 == Some(tid) && x.1 == MsgType::Msg1), "{s2:?}");
    let now = c.now;
    c.node(BE2).handle_request(now, SERVER, Request::Accept { chan: 1, tid, reason: 0, flags: 0, implicit: false });
    c.collect();
    c.sync_unpumped();
    c.pump_only(BE2, TR1);
    let lost = c.take_wire(TR1, BE);
    assert!(lost.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { accepted: true, .. }))), "{lost:?}");
    c.kill(BE);
    c.pump();
    c.settle();
    assert!(c.take(BE2, SERVER).iter().any(|x| x.2 == Some(tid) && x.1 == MsgType::Accepted));
    c.req(BE2, SERVER, Request::Ack { chan: 1, tid });
    if fail_to_shadow {
        c.retry_claims(BE2, 4);
        assert!(c.node(BE2).shadow_roles()[0].primary, "the other site is the primary now");
    }
    c.take(BE, SERVER);
    c.restart(BE);
    c.open_shadow(BE, None);
    c.settle();
    c.retry_claims(BE, 3);
    c.retry_claims(BE2, 3);
    c.settle();
    let fe = c.take(FE, CLIENT);
    assert_eq!(fe.iter().filter(|x| x.2 == Some(tid)).map(|x| x.1).collect::<Vec<_>>(), vec![MsgType::Accepted]);
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.2 == Some(tid) && x.1 == MsgType::Accepted), "the primary's site applies it: {s:?}");
}

/// A re-driven transaction's first message waits at the node until its
/// promise to that drive is durable (`promise_first`); its router's link
/// goes meanwhile. The branch the message then makes belongs to a router
/// that is gone: it is an orphan from the start, given back once its grace
/// ends (unvoted) or asked about (voted), as a branch whose router goes
/// later is. Made as a live router's, it never asked, and its server held
/// it for ever with every transaction of the range queued behind it.
#[test]
fn a_branch_made_after_its_routers_link_went_is_an_orphan() {
    let mut c = ready();
    let t = c.tid();
    let part = c.node(BE).show_partitions().0[0].id;
    let m = ToBackend::Msg { tid: t, part, index: 0, data: msg(5, "driven again"), first: true, flags: 0, drive: 1 };
    let now = c.now;
    c.node(BE).peer_input(now, peer_ref(TR2), Internal::Be(m));
    c.collect();
    assert!(c.take(BE, SERVER).is_empty(), "held until the promise is durable");
    assert_eq!(c.syncs.len(), 1, "the promise is being written");
    c.kill(TR2);
    c.sync();
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>(), vec![(MsgType::Msg1, Some(t))], "{s:?}");
    c.advance(BE, backend::ORPHAN_GRACE + Duration::from_millis(1));
    c.settle();
    let s = c.take(BE, SERVER);
    assert_eq!(s.iter().map(|x| (x.1, x.3)).collect::<Vec<_>>(), vec![(MsgType::Rejected, Some(Status::Dlktxres))]);
}

/// `commit_on_entry`'s other cases: a stale live branch of the secondary
/// (its router forgot the transaction, as in seed 1964) whose server voted
/// no, or never voted, when the other site's entry of the transaction
/// comes. The entry proves the commit, and no router can commit that
/// branch (a commit needs its durable yes), so it is given back (its
/// server told rescheduled, nothing decided) and the entry is applied as
/// any entry is: at once for a no, after the entry's patience for a branch
/// whose server may still vote. Before, the entry waited for the branch's
/// outcome, which no router would send, and every later entry of the range
/// waited behind it.
#[test]
fn a_stale_live_branch_that_cannot_commit_is_given_back_for_the_other_sites_entry() {
    for voted_no in [true, false] {
        let mut c = Cluster::shadow_pair();
        let (part, t, data) = c.stale_branch_presented();
        if voted_no {
            c.req(BE2, SERVER, Request::Reject { chan: 1, tid: t, reason: 0, flags: 0 });
            c.settle();
        }
        c.first_entry_at(BE2, part, t, data, true);
        c.pump();
        c.settle();
        if !voted_no {
            assert!(c.take(BE2, SERVER).is_empty(), "a branch whose server may still vote is waited for a while");
            for _ in 0..60 {
                c.advance(BE2, Duration::from_millis(100));
            }
            c.settle();
        }
        let s = c.take(BE2, SERVER);
        let got: Vec<(MsgType, Option<Status>)> = s.iter().filter(|x| x.2 == Some(t)).map(|x| (x.1, x.3)).collect();
        // The branch's end (a server that voted no hears it too, as it
        // hears a rollback), then the entry's work as the commit's.
        let want = vec![
            (MsgType::Rejected, Some(Status::Dlktxres)),
            (MsgType::Msg1Uncertain, None),
            (MsgType::Accepted, Some(Status::Ok)),
        ];
        assert_eq!(got, want, "voted no: {voted_no}: {s:?}");
        let seq = |c: &Cluster| {
            c.journals[BE2].iter().filter(|r| r.tid == t && r.kind == crate::journal::RecordKind::Seq).count()
        };
        assert_eq!(seq(&c), 1, "applied as the entry: {:?}", c.journals[BE2]);
        let now = c.now;
        c.node(BE2).handle_request(now, SERVER, Request::Ack { chan: 1, tid: t });
        c.collect();
        let mut wire = c.take_wire(BE2, TR1);
        c.sync_unpumped();
        c.collect();
        wire.extend(c.take_wire(BE2, TR1));
        assert!(
            wire.iter().any(|m| matches!(m, Internal::Tr(ToRouter::ShadowApplied { pos: (1, 1), .. }))),
            "the sender hears the entry applied: {wire:?}"
        );
    }
}

/// Live order with two routers (docs/shadow.md, "The order of live work"):
/// two conflicting transactions of one key range, t1 through tr1 and t2
/// through tr2. The primary's server holds t1 until its outcome, so t2's
/// primary votes only after t1 committed there, which was after t1's
/// secondary branch voted yes: t2's secondary branch is placed after t1's
/// is prepared at the secondary, whichever router carries it. Even with
/// tr1's commit to the secondary late (its link slow), the secondary's
/// server, holding t1 prepared, takes t2 only after t1's outcome: both
/// sites apply t1 then t2. (With concurrent servers the application's own
/// locks keep that order, as they do at the primary.)
#[test]
fn two_routers_keep_the_order_of_conflicting_transactions_at_the_secondary() {
    let mut c = Cluster::shadow_pair();
    let (t1, s) = c.primary_voted(5);
    assert!(s.iter().any(|x| x.2 == Some(t1) && x.1 == MsgType::Msg1), "{s:?}");
    // The secondary votes; tr1 commits; its commit to the secondary is late.
    let now = c.now;
    c.node(BE2).handle_request(now, SERVER, Request::Accept { chan: 1, tid: t1, reason: 0, flags: 0, implicit: false });
    c.collect();
    c.sync_unpumped();
    c.pump_only(BE2, TR1);
    let late = c.take_wire(TR1, BE2);
    assert!(late.iter().any(|m| matches!(m, Internal::Be(ToBackend::Outcome { accepted: true, .. }))), "{late:?}");
    c.pump();
    c.settle();
    assert!(c.take(BE, SERVER).iter().any(|x| x.2 == Some(t1) && x.1 == MsgType::Accepted));
    c.ack(1, t1);
    // t2, on the same account, through tr2.
    let t2 = Tid { node: 7, incarnation: 1, conn: 9, seq: 1 };
    let now = c.now;
    for m in [
        ToRouter::Start { tid: t2, facility: "F".into(), client: (1, 9), timeout_ms: None, drive: 0 },
        ToRouter::Send {
            tid: t2,
            facility: "F".into(),
            client: (1, 9),
            data: msg(5, "pay again"),
            flags: flags::sen::ACCEPT,
        },
    ] {
        c.node(TR2).peer_input(now, peer_ref(FE), Internal::Tr(m));
    }
    c.pump();
    let s = c.take(BE, SERVER);
    assert!(s.iter().any(|x| x.2 == Some(t2) && x.1 == MsgType::Msg1), "t2 at the primary after t1: {s:?}");
    c.server_accept(1, t2);
    c.sync();
    let placed = c.node(TR2).stats().active_tx;
    assert_eq!(placed, 1, "t2 waits for its secondary's vote");
    assert!(
        c.take(BE2, SERVER).iter().all(|x| x.2 != Some(t2)),
        "the secondary's server holds t1 prepared: t2 waits behind it"
    );
    // tr1's commit arrives: t1 ends at the secondary, then t2 is presented.
    let now = c.now;
    for m in late {
        let src = c.link_id(BE2, TR1);
        c.node(BE2).peer_input(now, src, m);
    }
    c.pump();
    c.settle();
    let s = c.take(BE2, SERVER);
    let got: Vec<(MsgType, Option<Tid>)> = s.iter().filter(|x| x.2.is_some()).map(|x| (x.1, x.2)).collect();
    let want = vec![(MsgType::Accepted, Some(t1)), (MsgType::Msg1, Some(t2)), (MsgType::Prepare, Some(t2))];
    assert_eq!(got, want, "t1's outcome, then t2: {s:?}");
}

impl Cluster {
    /// Shadow servers at node `k` (site `site`) for two key ranges, keys 0
    /// to 499 (channel 1) and 500 to 1000 (channel 2): their partitions,
    /// low then high.
    fn two_shadow_ranges_at(&mut self, k: usize, site: &str) -> (PartId, PartId) {
        for (chan, lo, hi) in [(1, 0, 499), (2, 500, 1000)] {
            let open = Request::Open {
                chan,
                role: Role::Server,
                facility: "F".into(),
                flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT | flags::ope::SHADOW,
                range: range(lo, hi),
            };
            if chan == 1 {
                self.node(k).set_site(Some(site)).expect("a valid site");
            }
            self.req(k, SERVER, open);
        }
        self.advance(k, backend::roles::START_DEFER * 3);
        self.take(k, SERVER);
        let parts: Vec<(PartId, String)> = {
            let (v, _) = self.node(k).show_partitions();
            v.iter().map(|p| (p.id, format!("{:?}", p.range))).collect()
        };
        assert_eq!(parts.len(), 2, "{parts:?}");
        let low = parts.iter().find(|p| p.1.contains("499")).expect("the low range").0;
        let high = parts.iter().find(|p| !p.1.contains("499")).expect("the high range").0;
        (low, high)
    }
}

/// The order across series (docs/shadow.md): another node of the
/// primary's site that keeps entries of the range for the other site (be3
/// here: a former primary whose servers left, reporting a standby
/// partition that keeps series 1) makes the range out of step, so the
/// secondary gets no live work; and a router forwards none of the
/// primary's entries of a later series (2) until that report says series 1
/// is released. Forwarded side by side, the other site applied the two
/// series in either order (simulator `--shadow --seed 6416`: west applied
/// 2.9 before 1.1).
#[test]
fn a_later_primary_series_waits_for_a_lower_one_of_its_site() {
    let mut c = Cluster::with_be3();
    c.open_client(1);
    c.take(FE, CLIENT);
    c.open_shadow(BE, Some("east"));
    c.open_shadow(BE2, Some("west"));
    let roles = c.node(BE).shadow_roles();
    assert!(roles.len() == 1 && roles[0].primary, "be is the primary: {roles:?}");
    let part = c.node(BE).show_partitions().0[0].id;
    let report = |lowest: u64| {
        Internal::Tr(ToRouter::PartitionUp {
            facility: "F".into(),
            part: 1,
            range: range(0, 1000),
            active: false,
            epoch: 0,
            priority: Vec::new(),
            nostandby: false,
            callout: Callout::No,
            shadow: Some(ShadowUp { site: "east".into(), primary: 0, in_sync: lowest == 0, off: false, lowest }),
        })
    };
    for tr in [TR1, TR2] {
        c.inject(BE3, tr, report(1));
    }
    c.take(BE2, SERVER); // RTR events of the pair
    let t = Tid { node: 9, incarnation: 1, conn: 1, seq: 1 };
    // An entry of series 2 from be through tr1 is held back while be3
    // keeps series 1 (what tr1 sends on is looked at before it is carried).
    let entry = ShadowEntry { pos: (2, 1), prev: (0, 0), tid: t, msgs: vec![msg(5, "pay")], reason: 0, resent: false };
    let log = Internal::Tr(ToRouter::ShadowLog { facility: "F".into(), part, entries: vec![entry], released: (0, 0) });
    let forwarded = |c: &mut Cluster, m: Internal| {
        let now = c.now;
        c.node(TR1).peer_input(now, peer_ref(BE), m);
        let out = c.node(TR1).take_output();
        let mut logs = Vec::new();
        let mut sent = false;
        for o in out {
            match o {
                Output::Log(l) | Output::Detail(l) => logs.push(l),
                Output::Peer { peer, msg: Internal::Be(ToBackend::ShadowLog { entries, .. }) }
                    if peer as usize - 1 == BE2 && entries.iter().any(|e| e.pos == (2, 1)) =>
                {
                    sent = true
                }
                _ => {}
            }
        }
        (sent, logs)
    };
    let (sent, logs) = forwarded(&mut c, log.clone());
    assert!(!sent, "{logs:?}");
    assert!(logs.iter().any(|l| l.contains("held back until series 1")), "{logs:?}");
    // Series 1 released (be3's report): the same entry, sent again, goes on.
    c.inject(BE3, TR1, report(0));
    let (sent, logs) = forwarded(&mut c, log);
    assert!(sent, "{logs:?}");
    c.pump();
    c.settle();
    c.take(BE2, SERVER);
    // be3 keeps series 1 again: live work commits at the primary alone,
    // its secondary is not given it, and the primary remembers it.
    c.inject(BE3, TR1, report(1));
    c.inject(BE3, TR2, report(1));
    let (t2, at_secondary) = c.primary_voted(6);
    assert!(!at_secondary.iter().any(|x| x.2 == Some(t2)), "the secondary got live work: {at_secondary:?}");
    c.settle();
    assert_eq!(c.node(BE).shadow_roles()[0].backlog, 1, "remembered for the other site instead");
}
