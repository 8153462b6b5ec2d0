//! Concurrency: many server channels on their own threads, many client
//! threads (in one process and in several), and one thread driving many
//! client channels through `Which::Any`. Every transaction must end with
//! exactly one outcome on every side, and the counts must agree.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use rtr_core::flags::{ope, sen};
use rtr_core::protocol::ChanId;
use rtr_core::{MsgType, Rtr, RtrError, Status, Tid, Which};

#[derive(Default, Debug)]
struct ServerLog {
    /// Every tid whose Msg1 this server received.
    seen: HashSet<Tid>,
    committed: HashSet<Tid>,
    rejected: HashSet<Tid>,
}

/// Body of a client message: "client:seq".
fn body(client: usize, seq: usize) -> Vec<u8> {
    format!("{client}:{seq}").into_bytes()
}

/// Servers reject the transactions whose sequence number is 3 mod 7 (when asked to).
fn server_rejects(data: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(&data[4..]).ok()?;
    let seq: u32 = text.split(':').nth(1)?.parse().ok()?;
    (seq % 7 == 3).then_some(1000 + seq)
}

/// A server thread: echoes every message as a reply, lets the next receive
/// accept (default mode), or rejects when `rejecting` and the rule says so.
fn serve(rtr: Rtr, ch: ChanId, stop: Arc<AtomicBool>, rejecting: bool) -> ServerLog {
    let mut log = ServerLog::default();
    let mut current: Option<Tid> = None;
    loop {
        let m = match rtr.receive(&Which::List(vec![ch]), Some(Duration::from_millis(50))) {
            Ok(m) => m,
            Err(RtrError::Timeout) if stop.load(Ordering::SeqCst) => break,
            Err(RtrError::Timeout) => continue,
            Err(e) => panic!("server {ch}: {e:?}"),
        };
        let tid = m.sb.tid;
        match m.sb.msgtype {
            MsgType::Msg1 | MsgType::Msgn => {
                if m.sb.msgtype == MsgType::Msg1 {
                    assert_eq!(current, None, "server {ch}: new transaction before the outcome");
                    assert!(log.seen.insert(tid), "server {ch}: tid {tid} presented twice");
                    current = Some(tid);
                } else {
                    assert_eq!(current, Some(tid), "server {ch}: msgn of another transaction");
                }
                match server_rejects(&m.data).filter(|_| rejecting) {
                    Some(reason) => rtr.reject_tx(ch, 0, reason).unwrap(),
                    None => rtr.reply_to_client(ch, 0, &m.data).unwrap(),
                }
            }
            MsgType::Accepted => {
                assert_eq!(current.take(), Some(tid), "server {ch}: outcome of another transaction");
                assert!(log.committed.insert(tid));
            }
            MsgType::Rejected => {
                assert_eq!(current.take(), Some(tid), "server {ch}: outcome of another transaction");
                assert!(log.rejected.insert(tid));
            }
            other => panic!("server {ch}: unexpected {other:?}"),
        }
    }
    assert_eq!(current, None, "server {ch} stopped inside a transaction");
    log
}

#[derive(Default, Debug)]
struct ClientLog {
    committed: HashSet<Tid>,
    rejected: HashSet<Tid>,
}

/// A client thread on its own channel: `k` transactions, one message each
/// (or one per partition when `keys` has several), reply, accept.
///
/// With several partitions the client engages them one after the other and
/// waits for each reply before the next send, as RTR's application design
/// guide advises against the "deadly embrace": with both messages sent at
/// once, transactions reach the partitions in different orders, and with
/// fewer servers than clients four of them can each hold a server of one
/// partition and wait for one of the other; without a transaction timeout
/// nothing breaks that cycle (seen twice in CI, every client waiting 5 s).
fn run_client(rtr: Rtr, id: usize, k: usize, keys: Vec<u32>, rejecting: bool) -> ClientLog {
    let c = open_client(&rtr);
    let mut log = ClientLog::default();
    for seq in 0..k {
        let mut tid = None;
        let mut outcome = None;
        for key in &keys {
            rtr.send_to_server(c, 0, &msg(*key + (seq % 10) as u32, &body(id, seq))).unwrap();
            let t = *tid.get_or_insert(rtr.get_tid(c, 0).unwrap());
            let m = recv(&rtr, c);
            assert_eq!(m.sb.tid, t, "client {id}: message of another transaction: {m:?}");
            match m.sb.msgtype {
                MsgType::Reply => assert_eq!(&m.data[4..], &body(id, seq)[..]),
                MsgType::Rejected => {
                    outcome = Some(m);
                    break;
                }
                other => panic!("client {id}: unexpected {other:?}"),
            }
        }
        let tid = tid.expect("at least one key");
        let outcome = match outcome {
            Some(o) => o,
            None => {
                rtr.accept_tx(c, 0, 0).unwrap();
                recv(&rtr, c)
            }
        };
        assert_eq!(outcome.sb.tid, tid);
        let expect_reject = rejecting && (seq % 7 == 3);
        if expect_reject {
            assert_eq!(outcome.sb.msgtype, MsgType::Rejected, "client {id} seq {seq}");
            assert_eq!(status_of(&outcome), (Status::Rejected, 1000 + seq as u32));
            assert!(log.rejected.insert(tid));
        } else {
            assert_eq!(outcome.sb.msgtype, MsgType::Accepted, "client {id} seq {seq}: {outcome:?}");
            assert_eq!(status_of(&outcome), (Status::Ok, 0));
            assert!(log.committed.insert(tid));
        }
        assert_eq!(err_status(rtr.get_tid(c, 0)), Status::Notacttx);
    }
    // Exactly one outcome per transaction: nothing more comes.
    assert_eq!(rtr.receive(&Which::List(vec![c]), Some(Duration::from_millis(100))).unwrap_err(), RtrError::Timeout);
    rtr.close_channel(c, 0).unwrap();
    log
}

struct Setup {
    /// (low key, high key) of each partition; `servers_per_partition` each.
    partitions: Vec<(u32, u32)>,
    servers_per_partition: usize,
    /// Servers in separate processes (one `Rtr::connect` each) instead of one.
    server_processes: bool,
    clients: usize,
    /// Clients in separate processes for odd ids.
    client_processes: bool,
    per_client: usize,
    rejecting: bool,
}

fn run(setup: Setup) {
    let main = Rtr::embedded().unwrap();
    let node = main.node().expect("an embedded node");
    let stop = Arc::new(AtomicBool::new(false));

    let mut servers = Vec::new();
    for &(lo, hi) in &setup.partitions {
        for _ in 0..setup.servers_per_partition {
            let rtr = if setup.server_processes { Rtr::connect(&node).unwrap() } else { main.clone() };
            let ch = open_server(&rtr, lo, hi, 0);
            let stop = stop.clone();
            let rejecting = setup.rejecting;
            servers.push(thread::spawn(move || serve(rtr, ch, stop, rejecting)));
        }
    }

    let keys: Vec<u32> = setup.partitions.iter().map(|p| p.0).collect();
    let clients: Vec<_> = (0..setup.clients)
        .map(|id| {
            let rtr = if setup.client_processes && id % 2 == 1 { Rtr::connect(&node).unwrap() } else { main.clone() };
            let keys = keys.clone();
            let (k, rejecting) = (setup.per_client, setup.rejecting);
            thread::spawn(move || run_client(rtr, id, k, keys, rejecting))
        })
        .collect();
    let client_logs: Vec<ClientLog> = clients.into_iter().map(|h| h.join().unwrap()).collect();
    stop.store(true, Ordering::SeqCst);
    let server_logs: Vec<ServerLog> = servers.into_iter().map(|h| h.join().unwrap()).collect();

    let mut client_committed = HashSet::new();
    let mut client_rejected = HashSet::new();
    for l in &client_logs {
        for t in &l.committed {
            assert!(client_committed.insert(*t), "tid {t} used by two clients");
        }
        client_rejected.extend(l.rejected.iter().copied());
    }
    let total = setup.clients * setup.per_client;
    assert_eq!(client_committed.len() + client_rejected.len(), total);
    if setup.rejecting {
        let per = (0..setup.per_client).filter(|s| s % 7 == 3).count();
        assert_eq!(client_rejected.len(), per * setup.clients);
    } else {
        assert!(client_rejected.is_empty());
    }

    // Each partition saw each transaction exactly once, on one of its servers.
    let nparts = setup.partitions.len();
    let mut seen_count: HashMap<Tid, usize> = HashMap::new();
    let mut committed_count: HashMap<Tid, usize> = HashMap::new();
    for l in &server_logs {
        for t in &l.seen {
            *seen_count.entry(*t).or_default() += 1;
        }
        for t in &l.committed {
            *committed_count.entry(*t).or_default() += 1;
        }
        assert_eq!(l.committed.len() + l.rejected.len(), l.seen.len(), "one outcome per tid");
        assert!(l.committed.is_disjoint(&l.rejected));
    }
    for t in &client_committed {
        assert_eq!(seen_count.get(t), Some(&nparts), "committed tid {t} not seen by every partition");
        assert_eq!(committed_count.get(t), Some(&nparts), "tid {t} not committed by every partition");
    }
    let server_commits: usize = server_logs.iter().map(|l| l.committed.len()).sum();
    assert_eq!(server_commits, client_committed.len() * nparts);
    for t in seen_count.keys() {
        assert!(client_committed.contains(t) || client_rejected.contains(t), "servers saw a tid no client finished");
    }
    // The servers actually shared the work.
    if setup.servers_per_partition > 1 && !setup.rejecting {
        let busy = server_logs.iter().filter(|l| !l.seen.is_empty()).count();
        assert!(busy > 1, "only one server ever worked");
    }
}

#[test]
fn many_clients_many_servers_one_partition() {
    run(Setup {
        partitions: vec![(1, 1000)],
        servers_per_partition: 4,
        server_processes: false,
        clients: 8,
        client_processes: false,
        per_client: 50,
        rejecting: false,
    });
}

#[test]
fn many_clients_many_servers_in_separate_processes() {
    run(Setup {
        partitions: vec![(1, 1000)],
        servers_per_partition: 4,
        server_processes: true,
        clients: 8,
        client_processes: true,
        per_client: 40,
        rejecting: false,
    });
}

#[test]
fn many_clients_with_server_rejects() {
    run(Setup {
        partitions: vec![(1, 1000)],
        servers_per_partition: 3,
        server_processes: false,
        clients: 6,
        client_processes: true,
        per_client: 42,
        rejecting: true,
    });
}

#[test]
fn many_clients_two_partition_transactions() {
    run(Setup {
        partitions: vec![(1, 1000), (1001, 2000)],
        servers_per_partition: 2,
        server_processes: true,
        clients: 6,
        client_processes: false,
        per_client: 30,
        rejecting: false,
    });
}

#[test]
fn many_clients_two_partitions_with_rejects() {
    run(Setup {
        partitions: vec![(1, 1000), (1001, 2000)],
        servers_per_partition: 2,
        server_processes: false,
        clients: 4,
        client_processes: true,
        per_client: 28,
        rejecting: true,
    });
}

#[test]
fn one_thread_drives_many_client_channels_through_any() {
    let server = Rtr::embedded().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for _ in 0..3 {
        let ch = open_server(&server, 1, 100, 0);
        let (rtr, stop) = (server.clone(), stop.clone());
        handles.push(thread::spawn(move || serve(rtr, ch, stop, false)));
    }
    let client = server.connect_again().unwrap();
    const CHANNELS: usize = 16;
    const PER_CHANNEL: usize = 20;
    let chans: Vec<ChanId> = (0..CHANNELS).map(|_| open_client(&client)).collect();
    let mut done = vec![0usize; CHANNELS];
    let mut current: Vec<Option<Tid>> = vec![None; CHANNELS];
    let start = |i: usize, current: &mut Vec<Option<Tid>>, done: &[usize]| {
        client.send_to_server(chans[i], sen::ACCEPT, &msg(1 + i as u32, &body(i, done[i]))).unwrap();
        current[i] = Some(client.get_tid(chans[i], 0).unwrap());
    };
    for i in 0..CHANNELS {
        start(i, &mut current, &done);
    }
    let mut committed = HashSet::new();
    while done.iter().any(|d| *d < PER_CHANNEL) {
        let m = recv_any(&client);
        let i = chans.iter().position(|c| *c == m.sb.channel).unwrap();
        assert_eq!(Some(m.sb.tid), current[i], "channel {i}: {m:?}");
        match m.sb.msgtype {
            MsgType::Reply => {}
            MsgType::Accepted => {
                assert!(committed.insert(m.sb.tid));
                done[i] += 1;
                current[i] = None;
                if done[i] < PER_CHANNEL {
                    start(i, &mut current, &done);
                }
            }
            other => panic!("channel {i}: unexpected {other:?}"),
        }
    }
    // Nothing is left after the last outcome.
    match client.receive(&Which::Any, Some(Duration::from_millis(100))) {
        Err(RtrError::Timeout) => {}
        other => panic!("extra message after every outcome: {other:?}"),
    }
    stop.store(true, Ordering::SeqCst);
    let logs: Vec<ServerLog> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let server_committed: HashSet<Tid> = logs.iter().flat_map(|l| l.committed.iter().copied()).collect();
    assert_eq!(committed.len(), CHANNELS * PER_CHANNEL);
    assert_eq!(server_committed, committed);
    assert_eq!(logs.iter().map(|l| l.committed.len()).sum::<usize>(), CHANNELS * PER_CHANNEL);
}

#[test]
fn threads_blocked_on_their_own_channels_do_not_steal_messages() {
    // Several threads of one process wait at once, each on its own client
    // channel; every message wakes only its channel's thread.
    let rtr = Rtr::embedded().unwrap();
    let s = open_server(&rtr, 1, 100, ope::EXPLICIT_ACCEPT);
    let chans: Vec<ChanId> = (0..8).map(|_| open_client(&rtr)).collect();
    let waiters: Vec<_> = chans
        .iter()
        .map(|&c| {
            let r = rtr.clone();
            thread::spawn(move || {
                let m = r.receive(&Which::List(vec![c]), Some(WAIT)).unwrap();
                assert_eq!(m.sb.channel, c);
                m
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(50));
    for (i, &c) in chans.iter().enumerate() {
        rtr.send_to_server(c, sen::ACCEPT, &msg(1, format!("{i}").as_bytes())).unwrap();
    }
    // Serve them one by one, rejecting each with its index as the reason.
    for _ in 0..chans.len() {
        let m = expect(&rtr, s, MsgType::Msg1);
        let i: u32 = std::str::from_utf8(&m.data[4..]).unwrap().parse().unwrap();
        rtr.reject_tx(s, 0, i).unwrap();
        expect_rejected(&rtr, s, m.sb.tid, Status::Rejected, i);
    }
    for (i, w) in waiters.into_iter().enumerate() {
        let m = w.join().unwrap();
        assert_eq!(m.sb.msgtype, MsgType::Rejected);
        assert_eq!(status_of(&m), (Status::Rejected, i as u32));
    }
}

#[test]
fn receive_any_wakes_for_a_channel_opened_while_waiting() {
    let rtr = Rtr::embedded().unwrap();
    let first = open_client(&rtr);
    let r2 = rtr.clone();
    let waiter = thread::spawn(move || r2.receive(&Which::Any, Some(WAIT)).unwrap());
    thread::sleep(Duration::from_millis(50));
    let later = rtr.open_channel(client_params(FAC)).unwrap();
    let m = waiter.join().unwrap();
    assert_eq!((m.sb.channel, m.sb.msgtype), (later, MsgType::Opened));
    assert_ne!(later, first);
}
