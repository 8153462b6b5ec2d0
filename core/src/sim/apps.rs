//! The simulated applications: bank clients on frontend nodes and bank
//! servers on backend nodes. They speak the library protocol to their node
//! (requests in, deliveries out) as the real library does, and behave as an
//! RTR application must: a server votes when asked, applies a transaction
//! to its books only when told it committed, looks up its books before
//! applying a transaction presented as `msg1_uncertain`, and acknowledges
//! every outcome by asking for its next message.

use std::collections::{BTreeMap, VecDeque};

use super::check::Checker;
use super::rng::Rng;
use crate::flags;
use crate::keyseg::{KeyRange, KeySegment, KeyType};
use crate::msgtype::MsgType;
use crate::protocol::{Bytes, ChanId, ConnId, Delivery, Payload, Request, Role};
use crate::tid::Tid;

/// The facility every simulated application uses.
pub const FACILITY: &str = "BANK";
/// Every channel is channel 1 of its connection (one per process).
pub const CHAN: ChanId = 1;
/// Accounts per key range that transfers touch (small, so they collide).
pub const ACCOUNTS: u32 = 8;
/// A server's reason for voting no on an account another transaction
/// holds at its site (`Checker::lock`).
pub const BUSY: u32 = 43;

/// A key range of the bank: accounts `lo..=hi`.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub lo: u32,
    pub hi: u32,
}

impl Range {
    pub fn key_range(&self) -> KeyRange {
        let seg =
            KeySegment::new(0, KeyType::Unsigned, 4, 0, Some(&self.lo.to_ne_bytes()), Some(&self.hi.to_ne_bytes()))
                .expect("a valid segment");
        KeyRange::new(vec![seg]).expect("a valid range")
    }
}

/// A transfer message: the account (the key) and the amount.
pub fn encode(account: u32, amount: i64) -> Bytes {
    let mut v = account.to_ne_bytes().to_vec();
    v.extend_from_slice(&amount.to_le_bytes());
    Bytes::from(v)
}

fn decode(p: &Payload) -> Option<(u32, i64)> {
    let Payload::Data(b) = p else { return None };
    let account = u32::from_ne_bytes(b.get(..4)?.try_into().ok()?);
    let amount = i64::from_le_bytes(b.get(4..12)?.try_into().ok()?);
    Some((account, amount))
}

/// How a client ends its transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The last send carries `RTR_F_SEN_ACCEPT`.
    SendAccept,
    /// `rtr_accept_tx` after the sends.
    Accept,
    /// `rtr_prepare_tx`, then `rtr_accept_tx` once prepared.
    Prepare,
    /// `rtr_reject_tx`: the client aborts.
    Abort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Sending,
    Ending,
    Preparing,
    Waiting,
}

#[derive(Debug)]
pub struct ClientTx {
    pub tid: Tid,
    msgs: Vec<(u32, i64)>,
    sent: usize,
    end: End,
    phase: Phase,
    timeout_ms: Option<u32>,
}

/// A client process on a frontend node.
#[derive(Debug)]
pub struct Client {
    pub node: usize,
    pub conn: ConnId,
    pub name: String,
    /// Its node's id and incarnation (they make its tids unique).
    node_id: u32,
    incarnation: u32,
    seq: u64,
    /// Give every transaction a timeout (`SimConfig::always_timeout`).
    pub always_timeout: bool,
    opened: bool,
    pub closed: bool,
    pub cur: Option<ClientTx>,
    pub inbox: VecDeque<Delivery>,
    /// Start no new transaction after this (the run is settling).
    pub stop_new: bool,
    /// Start the next transaction no sooner than this (think time).
    next_tx_at: u64,
}

impl Client {
    pub fn new(node: usize, conn: ConnId, name: String, node_id: u32, incarnation: u32) -> Client {
        Client {
            node,
            conn,
            name,
            node_id,
            incarnation,
            seq: 0,
            always_timeout: false,
            opened: false,
            closed: false,
            cur: None,
            inbox: VecDeque::new(),
            stop_new: false,
            next_tx_at: 0,
        }
    }

    pub fn open_request() -> Request {
        Request::Open {
            chan: CHAN,
            role: Role::Client,
            facility: FACILITY.into(),
            flags: flags::ope::CLIENT,
            range: KeyRange::default(),
        }
    }

    /// Handle what arrived, then act. Returns the requests to make, and
    /// when it has more to do (`Some(0)`: soon, after a short pause; `None`:
    /// when something arrives).
    pub fn wake(
        &mut self,
        now: u64,
        think: u64,
        rng: &mut Rng,
        ranges: &[Range],
        chk: &mut Checker,
    ) -> (Vec<Request>, Option<u64>) {
        let mut out = Vec::new();
        while let Some(d) = self.inbox.pop_front() {
            match d.msgtype {
                MsgType::Opened => self.opened = true,
                MsgType::Closed => self.closed = true,
                MsgType::Prepared => {
                    if let Some(tx) = self.cur.as_mut().filter(|t| Some(t.tid) == d.tid && t.phase == Phase::Preparing)
                    {
                        tx.phase = Phase::Waiting;
                        out.push(Request::Accept { chan: CHAN, tid: tx.tid, flags: 0, reason: 0, implicit: false });
                    }
                }
                MsgType::Accepted | MsgType::Rejected => {
                    let accepted = d.msgtype == MsgType::Accepted;
                    let Some(tid) = d.tid else { continue };
                    chk.outcome(tid, accepted, format!("client {}", self.name));
                    if let Some(l) = chk.txs.get_mut(&tid) {
                        l.client_saw = Some(accepted);
                    }
                    if self.cur.as_ref().is_some_and(|t| t.tid == tid) {
                        self.cur = None;
                        self.next_tx_at = now + rng.range(1, think);
                    }
                }
                _ => {}
            }
        }
        if !self.opened || self.closed {
            return (out, None);
        }
        if self.cur.is_none() {
            if self.stop_new {
                return (out, None);
            }
            if now < self.next_tx_at {
                return (out, Some(self.next_tx_at));
            }
            self.start(rng, ranges, chk, &mut out);
            return (out, Some(0));
        }
        let tx = self.cur.as_mut().expect("a transaction");
        match tx.phase {
            Phase::Sending => {
                let (account, amount) = tx.msgs[tx.sent];
                tx.sent += 1;
                let last = tx.sent == tx.msgs.len();
                let fl = if last && tx.end == End::SendAccept { flags::sen::ACCEPT } else { 0 };
                out.push(Request::Send { chan: CHAN, tid: tx.tid, flags: fl, data: encode(account, amount) });
                if last {
                    tx.phase = if tx.end == End::SendAccept { Phase::Waiting } else { Phase::Ending };
                }
                (out, (tx.phase != Phase::Waiting).then_some(0))
            }
            Phase::Ending => {
                match tx.end {
                    End::Accept | End::SendAccept => {
                        out.push(Request::Accept { chan: CHAN, tid: tx.tid, flags: 0, reason: 0, implicit: false });
                        tx.phase = Phase::Waiting;
                    }
                    End::Prepare => {
                        out.push(Request::Prepare { chan: CHAN, tid: tx.tid, reason: 0 });
                        tx.phase = Phase::Preparing;
                    }
                    End::Abort => {
                        out.push(Request::Reject { chan: CHAN, tid: tx.tid, flags: 0, reason: 7 });
                        tx.phase = Phase::Waiting;
                    }
                }
                (out, None)
            }
            Phase::Preparing | Phase::Waiting => (out, None),
        }
    }

    /// Begin a new transfer: 1 to 3 messages over random key ranges whose
    /// amounts sum to zero.
    fn start(&mut self, rng: &mut Rng, ranges: &[Range], chk: &mut Checker, out: &mut Vec<Request>) {
        self.seq += 1;
        let tid = Tid { node: self.node_id, incarnation: self.incarnation, conn: self.conn, seq: self.seq };
        let n = rng.range(1, 3) as usize;
        let mut msgs = Vec::with_capacity(n);
        let mut sum = 0i64;
        let ledger = chk.txs.entry(tid).or_default();
        for i in 0..n {
            let r = rng.index(ranges.len());
            ledger.ranges.insert(r);
            let account = ranges[r].lo + rng.below(u64::from(ACCOUNTS)) as u32;
            let amount = if i + 1 == n { -sum } else { rng.range(1, 100) as i64 };
            sum += amount;
            msgs.push((account, amount));
        }
        let end = [End::SendAccept, End::Accept, End::Prepare, End::Abort][rng.weighted(&[5, 3, 2, 1])];
        let timeout_ms = (self.always_timeout || rng.chance(0.3)).then(|| rng.range(500, 8000) as u32);
        if timeout_ms.is_some() || rng.chance(0.2) {
            out.push(Request::StartTx { chan: CHAN, tid, timeout_ms });
        }
        self.cur = Some(ClientTx { tid, msgs, sent: 0, end, phase: Phase::Sending, timeout_ms });
    }

    /// The transaction it is waiting on, if any.
    pub fn waiting_on(&self) -> Option<Tid> {
        self.cur.as_ref().map(|t| t.tid)
    }

    /// Was its transaction given a timeout (so it must end by itself)?
    pub fn has_timeout(&self) -> bool {
        self.cur.as_ref().is_some_and(|t| t.timeout_ms.is_some())
    }
}

#[derive(Debug, Default)]
struct Work {
    msgs: Vec<(u32, i64)>,
    uncertain: bool,
}

/// A server process on a backend node, serving one key range.
#[derive(Debug)]
pub struct Server {
    pub node: usize,
    pub conn: ConnId,
    pub range: usize,
    pub name: String,
    /// Its node's site in a shadow run (`""` otherwise): the fencing
    /// tokens it is given are that site's (`Checker::apply_at`).
    pub site: String,
    pub opened: bool,
    pub closed: bool,
    work: BTreeMap<Tid, Work>,
    pub inbox: VecDeque<Delivery>,
}

impl Server {
    pub fn new(node: usize, conn: ConnId, range: usize, name: String, site: String) -> Server {
        Server {
            node,
            conn,
            range,
            name,
            site,
            opened: false,
            closed: false,
            work: BTreeMap::new(),
            inbox: VecDeque::new(),
        }
    }

    /// `shadow`: the run has two sites; the server opens a shadow
    /// partition (`RTR_F_OPE_SHADOW`, docs/shadow.md). The node takes the
    /// flag although the API still refuses it: the simulator drives nodes
    /// directly.
    pub fn open_request(range: &Range, shadow: bool) -> Request {
        let shadow = if shadow { flags::ope::SHADOW } else { 0 };
        Request::Open {
            chan: CHAN,
            role: Role::Server,
            facility: FACILITY.into(),
            flags: flags::ope::SERVER | flags::ope::EXPLICIT_ACCEPT | shadow,
            range: range.key_range(),
        }
    }

    /// The accounts `tid`'s messages here touch (the rows it locks).
    fn accounts(&self, tid: Tid) -> Vec<u32> {
        self.work.get(&tid).map(|w| w.msgs.iter().map(|(a, _)| *a).collect()).unwrap_or_default()
    }

    /// Its database session, as a lock holder knows it (`Checker::lock`).
    pub fn session(&self) -> (usize, ConnId) {
        (self.node, self.conn)
    }

    /// Handle what arrived; returns the requests to make, and whether the
    /// server is blocked on a lock (wake it again soon: `Checker::lock`).
    pub fn wake(&mut self, rng: &mut Rng, chk: &mut Checker) -> (Vec<Request>, bool) {
        let mut out = Vec::new();
        while let Some(d) = self.inbox.pop_front() {
            let tid = d.tid.unwrap_or_default();
            match d.msgtype {
                MsgType::Opened => self.opened = true,
                MsgType::Closed => self.closed = true,
                MsgType::Msg1 | MsgType::Msg1Uncertain => {
                    let uncertain = d.msgtype == MsgType::Msg1Uncertain;
                    let msgs = decode(&d.payload).into_iter().collect();
                    self.work.insert(tid, Work { msgs, uncertain });
                }
                MsgType::Msgn => {
                    if let (Some(w), Some(m)) = (self.work.get_mut(&tid), decode(&d.payload)) {
                        w.msgs.push(m);
                    }
                }
                MsgType::Prepare => {
                    // A server may refuse (say, insufficient funds); or an
                    // account is locked by another transaction at this
                    // site (`Checker::lock`, when locks are modelled).
                    let refuse = rng.chance(0.03);
                    let accounts = self.accounts(tid);
                    if refuse {
                        out.push(Request::Reject { chan: CHAN, tid, flags: 0, reason: 42 });
                    } else if !chk.lock(&self.site, &accounts, (tid, self.session())) {
                        out.push(Request::Reject { chan: CHAN, tid, flags: 0, reason: BUSY });
                    } else {
                        out.push(Request::Accept { chan: CHAN, tid, flags: 0, reason: 0, implicit: false });
                    }
                }
                // Rescheduled (RTR_STS_DLKTXRES): this server's branch is
                // rolled back and presented again (here or, when the key
                // range moved, on its next active partition); not the
                // transaction's outcome, and nothing to acknowledge.
                MsgType::Rejected
                    if matches!(d.payload, Payload::Status { status: crate::status::Status::Dlktxres, .. }) =>
                {
                    self.work.remove(&tid);
                    chk.unlock(&self.site, Some(tid), self.session());
                }
                MsgType::Accepted | MsgType::Rejected => {
                    let accepted = d.msgtype == MsgType::Accepted;
                    // Committed work it did not vote on here (replayed,
                    // or the other site's entry) updates its rows now, and
                    // a database makes that wait for another session's
                    // locks on them: the server is blocked until they go,
                    // and what came after waits with it.
                    let accounts = self.accounts(tid);
                    if accepted && !chk.lock(&self.site, &accounts, (tid, self.session())) {
                        self.inbox.push_front(d);
                        return (out, true);
                    }
                    chk.outcome(tid, accepted, format!("server {}", self.name));
                    let w = self.work.remove(&tid).unwrap_or_default();
                    // Applied (or rolled back) with the transaction id, in
                    // the database's commit that frees its rows.
                    chk.unlock(&self.site, Some(tid), self.session());
                    if accepted {
                        let who = format!("server {}", self.name);
                        chk.apply_at(&self.site, self.range, tid, &w.msgs, w.uncertain, who, d.fence);
                    }
                    out.push(Request::Ack { chan: CHAN, tid });
                }
                _ => {}
            }
        }
        (out, false)
    }
}
