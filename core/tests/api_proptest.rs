//! Property test: random sequences of API calls on one client channel and two
//! concurrent server channels (which may be closed and reopened). Whatever the
//! sequence, no call panics or fails with anything but a transaction-state
//! error, and every transaction ends with exactly one outcome for the client
//! and for the server that holds it at the end, both the same.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use rtr_core::flags::{ope, rep, sen};
use rtr_core::protocol::ChanId;
use rtr_core::{Message, MsgType, Rtr, RtrError, Status, Tid, Which};

#[derive(Debug, Clone)]
enum Op {
    Start { timeout_ms: Option<u32> },
    Send { key: u32, accept: bool, short: bool },
    ClientAccept { reason: u32 },
    ClientReject { reason: u32 },
    ClientRecv,
    Reply { srv: usize, accept: bool },
    ServerAccept { srv: usize },
    ServerReject { srv: usize, reason: u32 },
    ServerRecv { srv: usize },
    ReopenServer { srv: usize },
    Sleep { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => prop::option::of(20u32..200).prop_map(|timeout_ms| Op::Start { timeout_ms }),
        4 => (0u32..130, any::<bool>(), prop::bool::weighted(0.05))
            .prop_map(|(key, accept, short)| Op::Send { key, accept, short }),
        2 => (0u32..3).prop_map(|reason| Op::ClientAccept { reason }),
        1 => (0u32..3).prop_map(|reason| Op::ClientReject { reason }),
        4 => Just(Op::ClientRecv),
        2 => (0usize..2, any::<bool>()).prop_map(|(srv, accept)| Op::Reply { srv, accept }),
        2 => (0usize..2).prop_map(|srv| Op::ServerAccept { srv }),
        1 => (0usize..2, 0u32..3).prop_map(|(srv, reason)| Op::ServerReject { srv, reason }),
        5 => (0usize..2).prop_map(|srv| Op::ServerRecv { srv }),
        1 => (0usize..2).prop_map(|srv| Op::ReopenServer { srv }),
        1 => (0u64..30).prop_map(|ms| Op::Sleep { ms }),
    ]
}

type Outcome = (MsgType, Status, u32);

struct World {
    client: Rtr,
    server: Rtr,
    c: ChanId,
    mode: u32,
    servers: [ChanId; 2],
    /// Every tid the client started, in order.
    started: Vec<Tid>,
    client_outcomes: HashMap<Tid, Vec<Outcome>>,
    /// (server channel, tid) -> number of Msg1/Msg1Uncertain received.
    seen: HashMap<(ChanId, Tid), usize>,
    server_outcomes: HashMap<(ChanId, Tid), Vec<Outcome>>,
}

const RANGE_HI: u32 = 99;

/// API errors a random but well-typed call sequence may legitimately get.
fn state_error(r: Result<(), RtrError>) {
    if let Err(e) = r {
        let st = e.status();
        assert!(
            matches!(st, Status::Notacttx | Status::Txalracc | Status::Txactive),
            "unexpected error {e:?} ({st:?})"
        );
    }
}

impl World {
    fn new(mode: u32) -> World {
        let client = Rtr::embedded().unwrap();
        let server = client.connect_again().unwrap();
        let c = open_client(&client);
        let servers = [open_server(&server, 0, RANGE_HI, mode), open_server(&server, 0, RANGE_HI, mode)];
        World {
            client,
            server,
            c,
            mode,
            servers,
            started: Vec::new(),
            client_outcomes: HashMap::new(),
            seen: HashMap::new(),
            server_outcomes: HashMap::new(),
        }
    }

    fn note_started(&mut self) {
        if let Ok(t) = self.client.get_tid(self.c, 0) {
            if !self.started.contains(&t) {
                self.started.push(t);
            }
        }
    }

    fn client_got(&mut self, m: Message) {
        let cur = self.client.get_tid(self.c, 0).ok();
        match m.sb.msgtype {
            MsgType::Reply => {
                assert_eq!(Some(m.sb.tid), cur, "reply for a transaction that is not current")
            }
            MsgType::Accepted | MsgType::Rejected => {
                let (st, reason) = status_of(&m);
                assert!(self.started.contains(&m.sb.tid), "outcome of an unknown tid");
                self.client_outcomes.entry(m.sb.tid).or_default().push((m.sb.msgtype, st, reason));
            }
            other => panic!("client got {other:?}"),
        }
    }

    fn server_got(&mut self, m: Message) {
        let key = (m.sb.channel, m.sb.tid);
        match m.sb.msgtype {
            MsgType::Msg1 | MsgType::Msg1Uncertain => {
                *self.seen.entry(key).or_default() += 1;
                assert_eq!(self.seen[&key], 1, "Msg1 twice on one channel");
                assert!(self.started.contains(&m.sb.tid));
            }
            MsgType::Msgn | MsgType::Prepare => {
                assert!(self.seen.contains_key(&key), "{:?} before Msg1", m.sb.msgtype);
                if m.sb.msgtype == MsgType::Prepare {
                    assert!(self.mode & ope::EXPLICIT_PREPARE != 0, "prepare without EXPLICIT_PREPARE");
                }
            }
            MsgType::Accepted | MsgType::Rejected => {
                assert!(self.seen.contains_key(&key), "outcome for a tid the server never saw");
                let (st, reason) = status_of(&m);
                self.server_outcomes.entry(key).or_default().push((m.sb.msgtype, st, reason));
            }
            other => panic!("server got {other:?}"),
        }
    }

    fn poll_client(&mut self, wait: Duration) -> bool {
        match self.client.receive(&Which::List(vec![self.c]), Some(wait)) {
            Ok(m) => {
                self.client_got(m);
                true
            }
            Err(RtrError::Timeout) => false,
            Err(e) => panic!("client receive: {e:?}"),
        }
    }

    fn poll_server(&mut self, srv: usize, wait: Duration) -> bool {
        match self.server.receive(&Which::List(vec![self.servers[srv]]), Some(wait)) {
            Ok(m) => {
                self.server_got(m);
                true
            }
            Err(RtrError::Timeout) => false,
            Err(e) => panic!("server receive: {e:?}"),
        }
    }

    fn apply(&mut self, op: &Op) {
        let (cl, c) = (self.client.clone(), self.c);
        let sv = self.server.clone();
        match *op {
            Op::Start { timeout_ms } => {
                state_error(cl.start_tx(c, 0, timeout_ms));
                self.note_started();
            }
            Op::Send { key, accept, short } => {
                let data = if short { vec![1, 2] } else { msg(key, b"p") };
                state_error(cl.send_to_server(c, if accept { sen::ACCEPT } else { 0 }, &data));
                self.note_started();
            }
            Op::ClientAccept { reason } => state_error(cl.accept_tx(c, 0, reason)),
            Op::ClientReject { reason } => state_error(cl.reject_tx(c, 0, reason)),
            Op::ClientRecv => {
                self.poll_client(Duration::from_millis(2));
            }
            Op::Reply { srv, accept } => {
                let fl = if accept { rep::ACCEPT } else { 0 };
                state_error(sv.reply_to_client(self.servers[srv], fl, b"r"));
            }
            Op::ServerAccept { srv } => state_error(sv.accept_tx(self.servers[srv], 0, 0)),
            Op::ServerReject { srv, reason } => state_error(sv.reject_tx(self.servers[srv], 0, reason)),
            Op::ServerRecv { srv } => {
                self.poll_server(srv, Duration::from_millis(2));
            }
            Op::ReopenServer { srv } => {
                sv.close_channel(self.servers[srv], 0).unwrap();
                self.servers[srv] = open_server(&sv, 0, RANGE_HI, self.mode);
            }
            Op::Sleep { ms } => std::thread::sleep(Duration::from_millis(ms)),
        }
    }

    /// Bring every transaction to its end: the client rejects what it has not
    /// accepted, servers accept what they hold, everyone receives.
    fn drain(&mut self) {
        let quick = Duration::from_millis(10);
        let mut quiet_rounds = 0;
        for _ in 0..400 {
            let _ = self.client.reject_tx(self.c, 0, 0);
            for srv in 0..2 {
                let _ = self.server.accept_tx(self.servers[srv], 0, 0);
            }
            let mut got = self.poll_client(quick);
            for srv in 0..2 {
                got |= self.poll_server(srv, quick);
            }
            let idle = self.client.get_tid(self.c, 0).is_err()
                && self.servers.iter().all(|s| self.server.get_tid(*s, 0).is_err());
            if idle && !got {
                quiet_rounds += 1;
                if quiet_rounds >= 3 {
                    return;
                }
            } else {
                quiet_rounds = 0;
            }
        }
        panic!("transactions did not finish");
    }

    /// The transactions the node set aside for an operator (a branch in
    /// state EXCEPTION, as `rtr show transaction` shows them).
    fn set_aside(&self) -> Vec<Tid> {
        use rtr_core::protocol::admin::{AdminReply, AdminRequest, BeState};
        let node = self.server.node().expect("an embedded node");
        let AdminReply::Transactions { rows, .. } = node.admin(AdminRequest::ShowTransaction) else {
            panic!("show transaction failed")
        };
        rows.iter().filter(|r| r.branches.iter().any(|b| b.state == BeState::Exception)).map(|r| r.tid).collect()
    }

    fn check(&self) {
        for t in &self.started {
            let o = self.client_outcomes.get(t).map(Vec::as_slice).unwrap_or(&[]);
            assert_eq!(o.len(), 1, "client outcomes of {t}: {o:?}");
        }
        for (key, outs) in &self.server_outcomes {
            assert_eq!(outs.len(), 1, "server outcomes of {key:?}: {outs:?}");
            assert_eq!(
                Some(&outs[0]),
                self.client_outcomes.get(&key.1).and_then(|v| v.first()),
                "server and client disagree on {:?}",
                key.1
            );
        }
        // A server still open holds no transaction without its outcome.
        for (key, _) in self.seen.iter().filter(|(k, _)| self.servers.contains(&k.0)) {
            assert!(self.server_outcomes.contains_key(key), "open server {} saw {} but got no outcome", key.0, key.1);
        }
        // A committed transaction that reached a server was committed there.
        let set_aside = self.set_aside();
        for (t, outs) in &self.client_outcomes {
            let reached = self.seen.keys().any(|k| k.1 == *t);
            let committed_on_server =
                self.server_outcomes.iter().any(|(k, o)| k.1 == *t && o[0].0 == MsgType::Accepted);
            // Unless its servers closed while holding it as many times as
            // the retry limit (three): then it is set aside (an EXCEPTION
            // for an operator), which `rtr show transaction` lists. Only the
            // node knows: it counts a close from the moment it handed the
            // transaction to a server, which may be before the application
            // received it (the test's own count of closes was wrong both
            // ways), so the test asks it.
            if outs[0].0 == MsgType::Accepted && reached && !set_aside.contains(t) {
                assert!(committed_on_server, "committed {t} never committed by a server");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_call_sequences_end_every_transaction_once(
        mode in prop::sample::select(vec![
            0,
            ope::EXPLICIT_PREPARE,
            ope::EXPLICIT_ACCEPT,
            ope::EXPLICIT_ACCEPT | ope::EXPLICIT_PREPARE,
        ]),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let mut w = World::new(mode);
        for op in &ops {
            w.apply(op);
        }
        w.drain();
        w.check();
    }
}

/// Found by the proptest (CI, now and then): server 1 had the transaction
/// handed to it and closed before receiving it, which the node counts as
/// one of the three strikes; the test's count of closes since a server
/// first received it was one short, and it called the set-aside commit lost.
#[test]
fn a_close_before_the_server_received_the_transaction_counts_as_a_strike() {
    let ops = [
        Op::ReopenServer { srv: 0 },
        Op::Send { key: 0, accept: true, short: false },
        Op::ReopenServer { srv: 1 },
        Op::ServerRecv { srv: 0 },
        Op::ServerAccept { srv: 0 },
        Op::ReopenServer { srv: 0 },
        Op::ReopenServer { srv: 1 },
    ];
    let mut w = World::new(0);
    for op in &ops {
        w.apply(op);
    }
    w.drain();
    assert_eq!(w.set_aside(), vec![w.started[0]], "three strikes: set aside");
    w.check();
}

/// Found by the proptest (about one full run in a dozen): a committed
/// transaction whose server channels are closed three times while they hold
/// it is set aside by the retry limit, not committed by a server; the check
/// used to call that a lost commit.
#[test]
fn three_closes_holding_a_committed_transaction_set_it_aside() {
    let ops = [
        Op::Send { key: 0, accept: true, short: false },
        Op::ServerRecv { srv: 0 },
        Op::Reply { srv: 0, accept: true },
        Op::ReopenServer { srv: 0 },
        Op::ReopenServer { srv: 1 },
        Op::ReopenServer { srv: 0 },
    ];
    let mut w = World::new(0);
    for op in &ops {
        w.apply(op);
    }
    w.drain();
    w.check();
}
